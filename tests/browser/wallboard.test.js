#!/usr/bin/env node
/* The wallboard in a real headless Chromium (ctest: browser_wallboard).
 *
 * Starts, on loopback only, a private redis-server on a free port, the
 * mock Kafka cluster (`ccpulse broker`) and the processor (`ccpulse run
 * --http 127.0.0.1:0`), writes known figures into Redis, and checks what
 * the page shows: each tile's numbers (formatted), the service level
 * colours, the total row, the alert banner, a change arriving within 2 s,
 * ?queues= and ?window=, the stale state while Redis is stopped and the
 * recovery after it restarts on the same port, and the offline state while
 * the processor is frozen. Writes a 1920x1080 screenshot to
 * $CCP_ARTIFACTS/wallboard.png. Every process it starts it stops by PID.
 *
 * A missing chromium, node module or binary fails the test and says what
 * to install; nothing is skipped.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const T0 = Date.now();
const CHROMIUM = process.env.CCP_CHROMIUM || '/usr/bin/chromium';
const BIN = process.env.CCP_BIN;
const ARTIFACTS = process.env.CCP_ARTIFACTS || path.join(process.cwd(), 'artifacts');
const PREFIX = 'wbt';
const MULT = Math.max(1, Number(process.env.CCP_TEST_TIMEOUT_MULTIPLIER) || 1);

let failed = 0, passed = 0;
function log(msg) { console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`); }
function die(msg) { failed++; console.error(`browser_wallboard: FAIL: ${msg}`); process.exitCode = 1; throw new Error(msg); }
function check(cond, what) {
  if (!cond) die(what);
  passed++;
  log(`ok   ${what}`);
}

/* ---- what must be there --------------------------------------------------- */
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.error('browser_wallboard: FAIL: playwright-core is not installed: run `npm ci` in tests/browser ' +
    '(scripts/setup.sh does it)');
  process.exit(1);
}
if (!fs.existsSync(CHROMIUM)) {
  console.error(`browser_wallboard: FAIL: no chromium at ${CHROMIUM}: install Debian's chromium ` +
    '(scripts/setup.sh does it) or set CCP_CHROMIUM');
  process.exit(1);
}
if (!BIN || !fs.existsSync(BIN)) {
  console.error(`browser_wallboard: FAIL: CCP_BIN (${BIN}) is not the ccpulse binary; run it through ctest`);
  process.exit(1);
}

/* ---- processes ------------------------------------------------------------- */
const children = new Set();

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

/* Starts `cmd`; resolves with the child once `re` matches a line of its
 * stdout or stderr (the match is child.match), or rejects on exit/timeout. */
function start(name, cmd, args, re, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.name = name;
    child.out = '';
    children.add(child);
    let done = false;
    const timer = setTimeout(() => {
      if (!done) { done = true; reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${child.out}`)); }
    }, timeoutMs * MULT);
    const onData = (buf) => {
      child.out += buf.toString();
      if (child.out.length > 200000) child.out = child.out.slice(-100000);
      const m = re && child.out.match(re);
      if (m && !done) { done = true; clearTimeout(timer); child.match = m; resolve(child); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(new Error(`${name}: ${e.message}`)); } });
    child.on('exit', (code, sig) => {
      child.exited = { code, sig };
      children.delete(child);
      if (!done) { done = true; clearTimeout(timer); reject(new Error(`${name} exited (${code ?? sig}):\n${child.out}`)); }
    });
    if (!re) { done = true; clearTimeout(timer); resolve(child); }
  });
}

/* SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
function stop(child, graceMs = 5000) {
  if (!child || child.exited) return Promise.resolve(child && child.exited);
  return new Promise((resolve) => {
    const t = setTimeout(() => { if (!child.exited) child.kill('SIGKILL'); }, graceMs * MULT);
    child.once('exit', (code, sig) => { clearTimeout(t); resolve({ code, sig }); });
    child.kill('SIGTERM');
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- Redis ------------------------------------------------------------------- */
let redisPort, redisDir, redis;

function cli(...args) {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(redisPort), ...args], { encoding: 'utf8' }).trim();
}

async function startRedis() {
  redis = await start('redis-server', 'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', redisDir, '--dbfilename', 'dump.rdb'], /Ready to accept connections/, 10000);
  for (let i = 0; i < 100; i++) {
    try { if (cli('PING') === 'PONG') return; } catch (e) { /* still loading */ }
    await sleep(50);
  }
  die('redis-server does not answer PING');
}

function writeCenter() {
  const k = (s) => `${PREFIX}:${s}`;
  cli('SADD', k('queues'), 'sales', 'billing', 'support');
  cli('HSET', k('q:billing:15m'), 'offered', '120', 'answered', '110', 'service_level', '0.7512', 'asa_ms', '42000',
    'abandon_rate', '0.0833', 'promise_kept_rate', '0.95', 'csat_avg', '4.27');
  cli('HSET', k('q:billing:live'), 'waiting', '5', 'longest_wait_ms', '135000', 'promises_overdue', '2',
    'agents_available', '3');
  cli('HSET', k('q:billing:1h'), 'service_level', '0.9', 'asa_ms', '61000');
  cli('HSET', k('q:sales:15m'), 'offered', '64', 'service_level', '0.83', 'asa_ms', '8000', 'abandon_rate', '0.02',
    'csat_avg', '4.6');
  cli('HSET', k('q:sales:live'), 'waiting', '0', 'longest_wait_ms', '0', 'promises_overdue', '0', 'agents_available', '7');
  cli('HSET', k('q:support:15m'), 'offered', '80', 'service_level', '0.91', 'asa_ms', '12500', 'abandon_rate', '0.01',
    'promise_kept_rate', '1', 'csat_avg', '3.95');
  cli('HSET', k('q:support:live'), 'waiting', '1', 'longest_wait_ms', '61499', 'promises_overdue', '0');
  cli('HSET', k('total:15m'), 'service_level', '0.82', 'asa_ms', '25000', 'abandon_rate', '0.05',
    'promise_kept_rate', '0.93', 'csat_avg', '4.4');
  cli('HSET', k('total:live'), 'waiting', '6', 'longest_wait_ms', '135000');
  cli('ZADD', k('promises:overdue'), '1', 'billing:p1', '2', 'billing:p2');
  cli('HSET', k('state:firing'), 'sl_low:billing', JSON.stringify({
    rule: 'sl_low', kind: 'service_level_below', window: '15m', queue: 'billing', state: 'firing',
    value: 0.7512, threshold: 0.8, ts: Date.now(), since: Date.now() - 120000 }));
}

/* ---- the page ------------------------------------------------------------------ */
const field = (q, f) => q === 'total'
  ? `section[data-role="total"] [data-field="${f}"]`
  : `[data-role="queue"][data-queue="${q}"] [data-field="${f}"]`;

async function text(page, sel) { return (await page.locator(sel).first().textContent()).trim(); }

/* Waits until every selector shows its text; returns the time it took. */
async function until(page, want, timeoutMs, what) {
  const t = Date.now();
  try {
    await page.waitForFunction((w) => w.every(([sel, txt]) => {
      const n = document.querySelector(sel);
      return n && n.textContent.trim() === txt;
    }), want, { timeout: timeoutMs * MULT, polling: 50 });
  } catch (e) {
    const got = [];
    for (const [sel] of want) got.push(`${sel} = ${await page.locator(sel).count() ? await text(page, sel) : '(none)'}`);
    die(`${what}: not shown within ${timeoutMs} ms; the page has ${got.join('; ')}`);
  }
  return Date.now() - t;
}

async function statusIs(page, state, timeoutMs, what) {
  const t = Date.now();
  try {
    await page.waitForFunction((s) => document.querySelector('[data-role="status"]').dataset.state === s, state,
      { timeout: timeoutMs * MULT, polling: 100 });
  } catch (e) {
    die(`${what}: status not "${state}" within ${timeoutMs} ms (it is "${
      await page.locator('[data-role="status"]').getAttribute('data-state')}": ${await text(page, '[data-role="status"]')})`);
  }
  return Date.now() - t;
}

async function main() {
  redisPort = await freePort();
  redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccp-browser-'));
  await startRedis();
  log(`redis-server on 127.0.0.1:${redisPort}`);
  const broker = await start('ccpulse broker', BIN, ['broker', '--partitions', '1'], /bootstrap\.servers=(\S+)/, 15000);
  const brokers = broker.match[1];
  const proc = await start('ccpulse run', BIN, ['run', '--brokers', brokers, '--redis',
    `redis://127.0.0.1:${redisPort}/0`, '--http', '127.0.0.1:0', '--prefix', PREFIX, '--publish-interval', '250ms'],
  /listening on port (\d+)/, 15000);
  const base = `http://127.0.0.1:${proc.match[1]}`;
  let procExit = null;
  log(`ccpulse run serving ${base}`);
  writeCenter();

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/?window=15m`);

    /* Each tile shows exactly the figures in Redis, formatted. */
    await until(page, [[field('billing', 'waiting'), '5']], 5000, 'first figures');
    const ids = await page.$$eval('[data-role="queue"]', (ts) => ts.map((t) => t.dataset.queue));
    check(JSON.stringify(ids) === '["billing","sales","support"]', `tiles sorted by id: ${ids}`);
    const expect = {
      billing: { waiting: '5', longest_wait_ms: '2:15', service_level: '75.1%', asa_ms: '0:42', abandon_rate: '8.3%',
        promise_kept_rate: '95.0%', promises_overdue: '2', csat_avg: '4.3', agents_available: '3 agents free' },
      sales: { waiting: '0', longest_wait_ms: '0:00', service_level: '83.0%', asa_ms: '0:08', abandon_rate: '2.0%',
        promise_kept_rate: '–', promises_overdue: '0', csat_avg: '4.6' },
      support: { waiting: '1', longest_wait_ms: '1:01', service_level: '91.0%', asa_ms: '0:13', abandon_rate: '1.0%',
        promise_kept_rate: '100.0%', promises_overdue: '0', csat_avg: '4.0' },
      total: { waiting: '6', longest_wait_ms: '2:15', service_level: '82.0%', asa_ms: '0:25', abandon_rate: '5.0%',
        promise_kept_rate: '93.0%', promises_overdue: '2', csat_avg: '4.4' },
    };
    for (const [q, figs] of Object.entries(expect)) {
      const got = {};
      for (const f of Object.keys(figs)) got[f] = await text(page, field(q, f));
      check(JSON.stringify(got) === JSON.stringify(figs), `${q}: ${JSON.stringify(got)}`);
    }
    const colour = async (q) => page.locator(field(q, 'service_level')).getAttribute('data-state');
    check(await colour('billing') === 'red', 'billing 75.1% against 80%: red');
    check(await colour('sales') === 'amber', 'sales 83.0%, within 5 points above 80%: amber');
    check(await colour('support') === 'green', 'support 91.0%: green');
    check(await colour('total') === 'amber', 'total 82.0%: amber');
    check(await page.locator('[data-role="status"]').getAttribute('data-state') === 'live', 'status live');

    /* The alert banner. */
    const banner = page.locator('[data-role="alerts"]');
    check(await banner.isVisible(), 'alert banner shown');
    const alert = page.locator('[data-role="alerts"] .alert[data-rule="sl_low"][data-queue="billing"]');
    check(await alert.count() === 1, 'one sl_low alert on billing');
    check(await text(page, '[data-role="alerts"] .alert [data-field="value"]') === '75.1%', 'alert value 75.1%');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'wallboard.png');
    await page.screenshot({ path: shot });
    log(`screenshot: ${shot}`);

    /* A change in Redis shows within 2 s. */
    cli('HSET', `${PREFIX}:q:billing:live`, 'waiting', '9', 'longest_wait_ms', '200000');
    cli('HSET', `${PREFIX}:q:billing:15m`, 'service_level', '0.86');
    const took = await until(page, [[field('billing', 'waiting'), '9'], [field('billing', 'longest_wait_ms'), '3:20'],
      [field('billing', 'service_level'), '86.0%']], 2000, 'a change in Redis');
    check(took <= 2000 * MULT, `change shown after ${took} ms`);
    check(await colour('billing') === 'green', 'billing 86.0%: green now');

    /* A team board: ?queues= shows those queues only, and their alerts. */
    const team = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    await team.goto(`${base}/?queues=sales,support`);
    await until(team, [[field('sales', 'service_level'), '83.0%']], 5000, 'team board');
    const tids = await team.$$eval('[data-role="queue"]', (ts) => ts.map((t) => t.dataset.queue));
    check(JSON.stringify(tids) === '["sales","support"]', `?queues=sales,support shows ${tids}`);
    check(!(await team.locator('[data-role="alerts"]').isVisible()), 'the billing alert is not on the team board');
    await team.goto(`${base}/?window=1h&queues=billing`);
    await until(team, [[field('billing', 'service_level'), '90.0%'], [field('billing', 'asa_ms'), '1:01']], 5000,
      '?window=1h');
    check(/last 1h/.test(await text(team, '#scope')), 'window 1h named in the header');
    await team.close();

    /* Redis stops: stale; back on the same port: live again, figures kept. */
    cli('SAVE');
    await stop(redis);
    log('redis-server stopped');
    const ts = await statusIs(page, 'stale', 6000, 'Redis stopped');
    check(true, `stale after ${ts} ms with Redis stopped`);
    check(/Redis unavailable/.test(await text(page, '[data-role="status"]')), 'status says Redis is unavailable');
    check(await page.evaluate(() => document.body.classList.contains('stale')), 'tiles dimmed');
    check(await text(page, field('billing', 'waiting')) === '9', 'the last figures stay on the board');
    await startRedis();
    log('redis-server restarted on the same port');
    const tl = await statusIs(page, 'live', 10000, 'Redis back');
    check(true, `live again ${tl} ms after the restart`);
    cli('HSET', `${PREFIX}:q:billing:live`, 'waiting', '11');
    await until(page, [[field('billing', 'waiting'), '11']], 2000, 'a change after the restart');
    check(true, 'changes flow again after the restart');

    /* The processor frozen (SIGSTOP): nothing arrives, the page says offline;
     * thawed: live again, by itself. */
    process.kill(proc.pid, 'SIGSTOP');
    const to = await statusIs(page, 'offline', 9000, 'processor frozen');
    check(true, `offline ${to} ms after the processor froze`);
    process.kill(proc.pid, 'SIGCONT');
    const tb = await statusIs(page, 'live', 10000, 'processor thawed');
    check(true, `live again ${tb} ms after it thawed`);
    check(errors.length === 0, `no page errors ${errors.join('; ')}`);
  } finally {
    await browser.close();
    procExit = await stop(proc, 10000);
    await stop(broker);
    await stop(redis);
  }
  /* A clean shutdown (and, in a sanitizer build, no leak report). */
  check(procExit && procExit.code === 0,
    `ccpulse run exits 0 on SIGTERM (${procExit && (procExit.code ?? procExit.sig)})${
      procExit && procExit.code === 0 ? '' : ':\n' + proc.out.slice(-3000)}`);
}

async function cleanup() {
  for (const c of [...children]) {
    try { process.kill(c.pid, 'SIGCONT'); } catch (e) { /* gone */ }
    await stop(c, 3000);
  }
  if (redisDir) fs.rmSync(redisDir, { recursive: true, force: true });
}

main().then(async () => {
  await cleanup();
  console.log(`browser_wallboard: ${passed} passed, ${failed} failed (${((Date.now() - T0) / 1000).toFixed(1)} s)`);
}, async (e) => {
  await cleanup();
  if (!process.exitCode) console.error(`browser_wallboard: FAIL: ${e && e.stack || e}`);
  console.log(`browser_wallboard: ${passed} passed, ${Math.max(failed, 1)} failed`);
  process.exit(1);
});
