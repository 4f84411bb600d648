/* Integration tests of webhook delivery (webhook.h) against a real HTTP
 * receiver written here: a helper thread with a listening socket on
 * 127.0.0.1 (port 0, loopback only) that records every request (method,
 * target, headers, body) and answers 200, answers 500, never answers
 * (stuck), or stops listening and drops its connections (down) for a
 * while. The webhook runs on a uv loop in the test thread.
 *
 * Checked: generic and Alertmanager bodies are valid JSON with exactly the
 * expected fields and values (python3's strict parser, duplicate keys and
 * NaN refused, compared as structures); escaping of ids with quotes,
 * control characters, non-ASCII and invalid UTF-8; headers (content type,
 * user agent, the caller's Authorization); firing then resolved in order;
 * batching; 500s retried with the same body after the backoff; a receiver
 * down then up gets every queued alert in order, none twice; a full queue
 * drops the oldest and counts; a stuck receiver hits the timeout and is
 * retried; stale alerts dropped after max_age_ms; endpoints independent;
 * secrets (header, URL password, query token) never in the log; bad
 * options and alerts refused; close with alerts queued or in flight frees
 * everything (uv_loop_close() == 0; ASan checks the rest).
 *
 * The receiver thread never calls cmocka. It shares its mode switches and
 * the records with the test thread under one mutex; a record is immutable
 * once counted, so the test may read it after seeing the count.
 */
/* ccp-test-labels: threaded */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ccp_test.h"
#include "ccp_test_rx.h"
#include "ccpulse/log.h"
#include "ccpulse/webhook.h"


/* Secrets that must reach the receiver but never the log. */
#define SECRET_HEADER "Authorization: Bearer tok-SECRET-1"
#define SECRET_PASS "pw-SECRET-2"
#define SECRET_QUERY "q-SECRET-3"

/* ---- fixture -------------------------------------------------------------- */

/* One test's loop, receiver and webhook. Owner: the test thread. */
struct fx {
	uv_loop_t loop;
	struct rx rx;
	struct ccp_webhook *wh;
	FILE *logf; /* the webhook's log lines (debug and up) */
	struct ccp_log log;
	bool closed;
	char dir[256]; /* JSON files for the python checker */
	int n_json;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->logf = tmpfile();
	assert_non_null(f->logf);
	ccp_log_init(&f->log);
	f->log.level = CCP_LOG_DEBUG;
	f->log.fd = fileno(f->logf);
	ccp_test_rx_start(&f->rx);
	ccp_test_tmpdir_make(f->dir, sizeof(f->dir), "webhook");
	*state = f;
	return 0;
}

static void on_closed(void *ud)
{
	((struct fx *)ud)->closed = true;
}

static bool is_closed(void *arg)
{
	return ((struct fx *)arg)->closed;
}

static void fx_close(struct fx *f, int flush_ms)
{
	if (!f->wh)
		return;
	assert_int_equal(ccp_webhook_close(f->wh, flush_ms, on_closed, f), 0);
	assert_true(ccp_test_uv_run_until(&f->loop, is_closed, f, 5000));
	f->wh = NULL;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fx_close(f, 0);
	ccp_test_uv_close_loop(&f->loop);
	ccp_test_rx_stop(&f->rx);
	fclose(f->logf);
	ccp_test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Test options: short delays; no proxy, whatever the environment says. */
static void test_opts(struct ccp_webhook_opts *o, struct fx *f, const struct ccp_webhook_endpoint *ep, size_t n)
{
	ccp_webhook_opts_defaults(o);
	o->endpoints = ep;
	o->n_endpoints = n;
	o->timeout_ms = 2000;
	o->backoff_min_ms = 50;
	o->backoff_max_ms = 200;
	o->proxy = "";
	o->log = &f->log;
	o->log_interval_ms = 1; /* a line per failed attempt */
}

static void fx_start(struct fx *f, const struct ccp_webhook_opts *o)
{
	char err[256] = "";
	f->wh = ccp_webhook_new(&f->loop, o, err, sizeof(err));
	if (!f->wh)
		fail_msg("ccp_webhook_new: %s", err);
}

/* The receiver's URL with a password and a token in the query. */
static void secret_url(struct fx *f, char *url, size_t n, const char *path)
{
	snprintf(url, n, "http://user:" SECRET_PASS "@127.0.0.1:%d%s?token=" SECRET_QUERY, f->rx.port, path);
}

static const char *log_text(struct fx *f)
{
	static char buf[65536];
	ssize_t n = pread(fileno(f->logf), buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static struct ccp_webhook_stats stats(struct fx *f, int ep)
{
	struct ccp_webhook_stats s;
	assert_int_equal(ccp_webhook_stats(f->wh, ep, &s), 0);
	return s;
}

/* Waits (running the loop) until the summed stats reach these. */
struct want {
	struct fx *f;
	uint64_t delivered, failed, dropped_age;
	int reqs;
};

static bool want_met(void *arg)
{
	struct want *w = arg;
	struct ccp_webhook_stats s = stats(w->f, -1);
	return s.delivered >= w->delivered && s.failed_attempts >= w->failed && s.dropped_age >= w->dropped_age &&
	       ccp_test_rx_count(&w->f->rx) >= w->reqs;
}

static void run_until(struct fx *f, struct want w, int timeout_ms)
{
	w.f = f;
	if (!ccp_test_uv_run_until(&f->loop, want_met, &w, timeout_ms)) {
		struct ccp_webhook_stats s = stats(f, -1);
		fail_msg("timed out: delivered %" PRIu64 "/%" PRIu64 " failed %" PRIu64 "/%" PRIu64 " dropped_age %" PRIu64
			 "/%" PRIu64 " requests %d/%d; log:\n%s",
			 s.delivered, w.delivered, s.failed_attempts, w.failed, s.dropped_age, w.dropped_age,
			 ccp_test_rx_count(&f->rx), w.reqs, log_text(f));
	}
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* Runs the loop for `ms` (unscaled: the time is the point). */
static void run_for(struct fx *f, int ms)
{
	long long end = ccp_test_now_ms() + ms;
	while (ccp_test_now_ms() < end)
		ccp_test_uv_run_until(&f->loop, never, NULL, 10);
}

static void alert(struct ccp_webhook_alert *a, const char *rule, const char *kind, const char *window,
		  const char *queue, const char *promise, bool firing, const char *value, const char *threshold,
		  int64_t ts_ms, int64_t started_ms)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->rule, sizeof(a->rule), "%s", rule);
	snprintf(a->kind, sizeof(a->kind), "%s", kind);
	snprintf(a->window, sizeof(a->window), "%s", window);
	snprintf(a->queue, sizeof(a->queue), "%s", queue);
	snprintf(a->promise, sizeof(a->promise), "%s", promise);
	a->firing = firing;
	snprintf(a->value, sizeof(a->value), "%s", value);
	snprintf(a->threshold, sizeof(a->threshold), "%s", threshold);
	a->ts_ms = ts_ms;
	a->started_ms = started_ms;
}

static void post(struct fx *f, const struct ccp_webhook_alert *a)
{
	assert_int_equal(ccp_webhook_post(f->wh, a), 0);
}

/* A simple live-kind alert on queue `q`. */
static void post_q(struct fx *f, const char *q, bool firing)
{
	struct ccp_webhook_alert a;
	alert(&a, "waiting", "waiting_above", "", q, "", firing, "12", "10", 1700000000000, 0);
	post(f, &a);
}

/* ---- JSON checks (python3's strict parser) ---------------------------------- */

static const char json_check_py[] =
	"import json, sys\n"
	"def pairs(ps):\n"
	"    d = {}\n"
	"    for k, v in ps:\n"
	"        if k in d: raise ValueError('duplicate key %r' % k)\n"
	"        d[k] = v\n"
	"    return d\n"
	"def const(c): raise ValueError('not JSON: ' + c)\n"
	"def load(p):\n"
	"    with open(p, 'rb') as f: raw = f.read()\n"
	"    return json.loads(raw.decode('utf-8'), object_pairs_hook=pairs, parse_constant=const)\n"
	"try:\n"
	"    a = load(sys.argv[1])\n"
	"except Exception as e:\n"
	"    print('actual is not valid JSON:', e); sys.exit(2)\n"
	"e = load(sys.argv[2])\n"
	"if a != e:\n"
	"    print('actual:  ', json.dumps(a, sort_keys=True))\n"
	"    print('expected:', json.dumps(e, sort_keys=True))\n"
	"    sys.exit(1)\n";

/* Fails unless `actual` parses as strict JSON equal to `expected` (which
 * must parse too). Numbers compare by value; key order is free. */
static void json_equal(struct fx *f, const char *actual, const char *expected)
{
	char a[32], e[32], cmd[1024], out[8192];
	snprintf(a, sizeof(a), "actual%d.json", f->n_json);
	snprintf(e, sizeof(e), "expected%d.json", f->n_json++);
	ccp_test_write_file(f->dir, "check.py", json_check_py);
	ccp_test_write_file(f->dir, a, actual);
	ccp_test_write_file(f->dir, e, expected);
	snprintf(cmd, sizeof(cmd), "python3 %s/check.py %s/%s %s/%s 2>&1", f->dir, f->dir, a, f->dir, e);
	FILE *p = popen(cmd, "r");
	if (!p)
		fail_msg("popen python3: %s", strerror(errno));
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	if (st != 0)
		fail_msg("JSON check failed (python3 status %d):\n%s\nbody: %s", st, out, actual);
}

/* The queue ids of every alert in the generic bodies of requests
 * [from, to), in order, comma-separated (plain ids only). */
static void queues_of(struct fx *f, int from, int to, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = 0;
	for (int i = from; i < to; i++) {
		const char *b = ccp_test_rx_req(&f->rx, i)->body;
		for (const char *p = strstr(b, "\"queue\":\""); p; p = strstr(p + 1, "\"queue\":\"")) {
			const char *v = p + 9, *e = strchr(v, '"');
			n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)(e - v), v);
		}
	}
}

/* The value of request header `name`, or NULL. */
static const char *header(const struct rx_req *q, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *h = q->headers; *h;) {
		const char *e = strstr(h, "\r\n");
		size_t len = e ? (size_t)(e - h) : strlen(h);
		if (len > nl && !strncasecmp(h, name, nl) && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(len - (size_t)(v - h)), v);
			return out;
		}
		if (!e)
			break;
		h = e + 2;
	}
	return NULL;
}

/* FNV-1a 64 over name, 0xff, value, 0xff per label in name order, as the
 * header documents; written here again so the test does not trust the
 * module's own. `labels` alternate name, value; NULL ends them. */
static void fingerprint_of(char out[17], const char *const *labels)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; labels[i]; i++) {
		for (const unsigned char *s = (const unsigned char *)labels[i]; *s; s++)
			h = (h ^ *s) * 0x100000001b3ULL;
		h = (h ^ 0xff) * 0x100000001b3ULL;
	}
	snprintf(out, 17, "%016" PRIx64, h);
}

/* ---- tests ------------------------------------------------------------------ */

#define T0 INT64_C(1700000000123)  /* 2023-11-14T22:13:20.123Z */
#define T1 INT64_C(1700000060456)  /* 2023-11-14T22:14:20.456Z */

/* Generic bodies, escaping, headers; firing then resolved; batching. */
static void test_generic(void **state)
{
	struct fx *f = *state;
	char url[256];
	secret_url(f, url, sizeof(url), "/hook/generic");
	const char *hdrs[] = {SECRET_HEADER, "X-Extra: yes"};
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_GENERIC, .headers = hdrs, .n_headers = 2};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	o.max_batch = 2;
	fx_start(f, &o);

	/* A quote, a backslash, a slash, a control byte, a tab, é, ☎ and a
	 * byte that is not UTF-8 (-> U+FFFD); the promise id holds 📞. */
	const char *queue = "bill\"ing\\/\x01\t\xc3\xa9\xe2\x98\x8e\xff";
	struct ccp_webhook_alert a;
	alert(&a, "sl_billing", "service_level_below", "15m", queue, "p-\xf0\x9f\x93\x9e", true, "0.62", "0.80", T0, 0);
	post(f, &a);
	run_until(f, (struct want){.delivered = 1, .reqs = 1}, 5000);
	alert(&a, "sl_billing", "service_level_below", "15m", queue, "p-\xf0\x9f\x93\x9e", false, "", "0.80", T1, T0);
	post(f, &a);
	run_until(f, (struct want){.delivered = 2, .reqs = 2}, 5000);

	const struct rx_req *q = ccp_test_rx_req(&f->rx, 0);
	assert_string_equal(q->method, "POST");
	assert_string_equal(q->target, "/hook/generic?token=" SECRET_QUERY);
	char v[256];
	assert_non_null(header(q, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	assert_non_null(header(q, "User-Agent", v, sizeof(v)));
	assert_true(!strncmp(v, "ccpulse/", 8));
	assert_non_null(header(q, "Authorization", v, sizeof(v)));
	assert_string_equal(v, "Bearer tok-SECRET-1");
	assert_non_null(header(q, "X-Extra", v, sizeof(v)));
	assert_string_equal(v, "yes");
	assert_null(header(q, "Expect", v, sizeof(v)));
	json_equal(f, q->body,
		   "{\"source\":\"ccpulse\",\"alerts\":[{\"rule\":\"sl_billing\",\"kind\":\"service_level_below\","
		   "\"window\":\"15m\",\"queue\":\"bill\\\"ing\\\\/\\u0001\\t\\u00e9\\u260e\\ufffd\","
		   "\"promise\":\"p-\\ud83d\\udcde\",\"state\":\"firing\",\"value\":0.62,\"threshold\":0.80,"
		   "\"ts\":1700000000123,\"started_at\":1700000000123}]}");
	/* Numbers go out as the caller's text, unquoted. */
	assert_non_null(strstr(q->body, "\"value\":0.62,\"threshold\":0.80,"));
	q = ccp_test_rx_req(&f->rx, 1);
	json_equal(f, q->body,
		   "{\"source\":\"ccpulse\",\"alerts\":[{\"rule\":\"sl_billing\",\"kind\":\"service_level_below\","
		   "\"window\":\"15m\",\"queue\":\"bill\\\"ing\\\\/\\u0001\\t\\u00e9\\u260e\\ufffd\","
		   "\"promise\":\"p-\\ud83d\\udcde\",\"state\":\"resolved\",\"value\":null,\"threshold\":0.80,"
		   "\"ts\":1700000060456,\"started_at\":1700000000123}]}");

	/* Three posts in one loop turn, max_batch 2: [x, y] then [z]. x is
	 * a longest id (128 bytes) of quotes, 256 bytes escaped. */
	char x[129], xesc[257];
	memset(x, '"', 128);
	x[128] = 0;
	for (int i = 0; i < 128; i++)
		memcpy(xesc + 2 * i, "\\\"", 2);
	xesc[256] = 0;
	alert(&a, "wait_long", "longest_wait_above", "", x, "", true, "95000", "60000", T0, 0);
	post(f, &a);
	post_q(f, "y", true);
	post_q(f, "z", false);
	run_until(f, (struct want){.delivered = 5, .reqs = 4}, 5000);
	char exp[2048];
	snprintf(exp, sizeof(exp),
		 "{\"source\":\"ccpulse\",\"alerts\":[{\"rule\":\"wait_long\",\"kind\":\"longest_wait_above\","
		 "\"window\":\"\",\"queue\":\"%s\",\"state\":\"firing\",\"value\":95000,\"threshold\":60000,"
		 "\"ts\":1700000000123,\"started_at\":1700000000123},"
		 "{\"rule\":\"waiting\",\"kind\":\"waiting_above\",\"window\":\"\",\"queue\":\"y\",\"state\":\"firing\","
		 "\"value\":12,\"threshold\":10,\"ts\":1700000000000,\"started_at\":1700000000000}]}",
		 xesc);
	json_equal(f, ccp_test_rx_req(&f->rx, 2)->body, exp);
	char qs[256];
	queues_of(f, 3, 4, qs, sizeof(qs));
	assert_string_equal(qs, "z");
	assert_non_null(strstr(ccp_test_rx_req(&f->rx, 3)->body, "\"state\":\"resolved\""));

	struct ccp_webhook_stats s = stats(f, 0);
	assert_int_equal(s.posted, 5);
	assert_int_equal(s.delivered, 5);
	assert_int_equal(s.attempts, 4);
	assert_int_equal(s.failed_attempts, 0);
	assert_int_equal(s.retries, 0);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.last_status, 200);
	assert_int_equal(ccp_test_rx_count(&f->rx), 4);
}

/* The Alertmanager payload: one firing, its resolved, then a mixed batch. */
static void test_alertmanager(void **state)
{
	struct fx *f = *state;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/am", f->rx.port);
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_ALERTMANAGER};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	fx_start(f, &o);

	struct ccp_webhook_alert a;
	alert(&a, "sl_billing", "service_level_below", "15m", "billing", "", true, "0.62", "0.80", T0, 0);
	post(f, &a);
	run_until(f, (struct want){.delivered = 1, .reqs = 1}, 5000);
	alert(&a, "sl_billing", "service_level_below", "15m", "billing", "", false, "0.85", "0.80", T1, T0);
	post(f, &a);
	run_until(f, (struct want){.delivered = 2, .reqs = 2}, 5000);

	char fp[17], exp[4096];
	fingerprint_of(fp, (const char *const[]){"alertname", "sl_billing", "kind", "service_level_below", "queue",
						 "billing", "severity", "warning", "window", "15m", NULL});
	const char *labels = "{\"alertname\":\"sl_billing\",\"kind\":\"service_level_below\",\"queue\":\"billing\","
			     "\"severity\":\"warning\",\"window\":\"15m\"}";
	const char *ann = "{\"summary\":\"service level 0.62 below 0.80 on billing (15m)\",\"threshold\":\"0.80\","
			  "\"value\":\"0.62\"}";
	snprintf(exp, sizeof(exp),
		 "{\"receiver\":\"ccpulse\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"labels\":%s,"
		 "\"annotations\":%s,\"startsAt\":\"2023-11-14T22:13:20.123Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
		 "\"generatorURL\":\"\",\"fingerprint\":\"%s\"}],\"groupLabels\":{\"alertname\":\"sl_billing\"},"
		 "\"commonLabels\":%s,\"commonAnnotations\":%s,\"externalURL\":\"\",\"version\":\"4\","
		 "\"groupKey\":\"{}:{alertname=\\\"sl_billing\\\"}\",\"truncatedAlerts\":0}",
		 labels, ann, fp, labels, ann);
	json_equal(f, ccp_test_rx_req(&f->rx, 0)->body, exp);
	ann = "{\"summary\":\"resolved: service level 0.85 (threshold 0.80) on billing (15m)\","
	      "\"threshold\":\"0.80\",\"value\":\"0.85\"}";
	snprintf(exp, sizeof(exp),
		 "{\"receiver\":\"ccpulse\",\"status\":\"resolved\",\"alerts\":[{\"status\":\"resolved\",\"labels\":%s,"
		 "\"annotations\":%s,\"startsAt\":\"2023-11-14T22:13:20.123Z\",\"endsAt\":\"2023-11-14T22:14:20.456Z\","
		 "\"generatorURL\":\"\",\"fingerprint\":\"%s\"}],\"groupLabels\":{\"alertname\":\"sl_billing\"},"
		 "\"commonLabels\":%s,\"commonAnnotations\":%s,\"externalURL\":\"\",\"version\":\"4\","
		 "\"groupKey\":\"{}:{alertname=\\\"sl_billing\\\"}\",\"truncatedAlerts\":0}",
		 labels, ann, fp, labels, ann);
	json_equal(f, ccp_test_rx_req(&f->rx, 1)->body, exp);

	/* One batch, two rules: a single promise with an unknown value
	 * (firing) and a live kind (resolved). Status firing; no group; the
	 * common pairs are only those equal in both. */
	alert(&a, "promise_late", "promise_overdue", "", "q\"1", "p/7", true, "", "60000", T0, 0);
	post(f, &a);
	alert(&a, "wait_long", "longest_wait_above", "", "q2", "", false, "45000", "60000", T1, T0);
	post(f, &a);
	run_until(f, (struct want){.delivered = 4, .reqs = 3}, 5000);
	char fp1[17], fp2[17];
	fingerprint_of(fp1, (const char *const[]){"alertname", "promise_late", "kind", "promise_overdue", "promise", "p/7",
						  "queue", "q\"1", "severity", "warning", NULL});
	fingerprint_of(fp2, (const char *const[]){"alertname", "wait_long", "kind", "longest_wait_above", "queue", "q2",
						  "severity", "warning", NULL});
	snprintf(exp, sizeof(exp),
		 "{\"receiver\":\"ccpulse\",\"status\":\"firing\",\"alerts\":["
		 "{\"status\":\"firing\",\"labels\":{\"alertname\":\"promise_late\",\"kind\":\"promise_overdue\","
		 "\"promise\":\"p/7\",\"queue\":\"q\\\"1\",\"severity\":\"warning\"},\"annotations\":{\"summary\":"
		 "\"promise overdue unknown (threshold 60000) on q\\\"1, promise p/7\",\"threshold\":\"60000\"},"
		 "\"startsAt\":\"2023-11-14T22:13:20.123Z\",\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"\","
		 "\"fingerprint\":\"%s\"},"
		 "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"wait_long\",\"kind\":\"longest_wait_above\","
		 "\"queue\":\"q2\",\"severity\":\"warning\"},\"annotations\":{\"summary\":"
		 "\"resolved: longest wait 45000 (threshold 60000) on q2\",\"threshold\":\"60000\",\"value\":\"45000\"},"
		 "\"startsAt\":\"2023-11-14T22:13:20.123Z\",\"endsAt\":\"2023-11-14T22:14:20.456Z\",\"generatorURL\":\"\","
		 "\"fingerprint\":\"%s\"}],"
		 "\"groupLabels\":{},\"commonLabels\":{\"severity\":\"warning\"},"
		 "\"commonAnnotations\":{\"threshold\":\"60000\"},\"externalURL\":\"\",\"version\":\"4\","
		 "\"groupKey\":\"{}:{}\",\"truncatedAlerts\":0}",
		 fp1, fp2);
	json_equal(f, ccp_test_rx_req(&f->rx, 2)->body, exp);
	/* Same labels, same fingerprint; different labels, different. */
	assert_non_null(strstr(ccp_test_rx_req(&f->rx, 1)->body, fp));
	assert_string_not_equal(fp1, fp2);
	assert_string_not_equal(fp, fp2);
}

/* 500, 500, 200: the same body three times after the backoff; the
 * resolved posted meanwhile waits behind its firing. The log says each
 * failure and never a secret. */
static void test_retry_500_then_200(void **state)
{
	struct fx *f = *state;
	char url[256];
	secret_url(f, url, sizeof(url), "/hook/generic");
	const char *hdrs[] = {SECRET_HEADER};
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_GENERIC, .headers = hdrs, .n_headers = 1};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	o.backoff_min_ms = 100;
	o.backoff_max_ms = 400;
	fx_start(f, &o);
	ccp_test_rx_mode(&f->rx, RX_OK, 2);

	post_q(f, "a", true);
	run_until(f, (struct want){.failed = 1, .reqs = 1}, 5000);
	post_q(f, "a", false); /* its resolved, while the firing waits to retry */
	run_until(f, (struct want){.delivered = 2, .reqs = 4}, 5000);

	assert_int_equal(ccp_test_rx_count(&f->rx), 4);
	const struct rx_req *r0 = ccp_test_rx_req(&f->rx, 0), *r1 = ccp_test_rx_req(&f->rx, 1), *r2 = ccp_test_rx_req(&f->rx, 2),
			    *r3 = ccp_test_rx_req(&f->rx, 3);
	assert_int_equal(r0->status, 500);
	assert_int_equal(r1->status, 500);
	assert_int_equal(r2->status, 200);
	assert_int_equal(r3->status, 200);
	assert_string_equal(r1->body, r0->body);
	assert_string_equal(r2->body, r0->body);
	assert_non_null(strstr(r0->body, "\"state\":\"firing\""));
	assert_null(strstr(r0->body, "\"state\":\"resolved\""));
	assert_non_null(strstr(r3->body, "\"state\":\"resolved\""));
	assert_null(strstr(r3->body, "\"state\":\"firing\""));
	/* Backoff: 100 ms, then 200 ms drawn from its upper quarter. */
	assert_true(r1->at_ms - r0->at_ms >= 100 - 5);
	assert_true(r2->at_ms - r1->at_ms >= 150 - 5);

	struct ccp_webhook_stats s = stats(f, -1);
	assert_int_equal(s.posted, 2);
	assert_int_equal(s.delivered, 2);
	assert_int_equal(s.attempts, 4);
	assert_int_equal(s.failed_attempts, 2);
	assert_int_equal(s.retries, 2);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.last_status, 200);

	const char *log = log_text(f);
	char want[256];
	assert_int_equal(count_of(log, "msg=\"webhook attempt failed\""), 2);
	snprintf(want, sizeof(want), "endpoint=http://user@127.0.0.1:%d/hook/generic?*** ", f->rx.port);
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "status=500 attempt=1 retry_ms="));
	assert_non_null(strstr(log, "status=500 attempt=2 retry_ms="));
	assert_non_null(strstr(log, "webhook delivered after failed attempts"));
	assert_null(strstr(log, "SECRET"));
	assert_null(strstr(log, "Bearer"));
	/* ... while the receiver did get them. */
	char v[128];
	assert_non_null(header(r0, "Authorization", v, sizeof(v)));
	assert_string_equal(v, "Bearer tok-SECRET-1");
}

/* Down for over a second, then back: every alert arrives once, in order. */
static void test_receiver_down_then_up(void **state)
{
	struct fx *f = *state;
	char url[256];
	secret_url(f, url, sizeof(url), "/hook/generic");
	const char *hdrs[] = {SECRET_HEADER};
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_GENERIC, .headers = hdrs, .n_headers = 1};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	fx_start(f, &o);
	ccp_test_rx_set_down(&f->rx, true);

	const char *qs[] = {"q0", "q1", "q2", "q3", "q4"};
	for (int i = 0; i < 5; i++) {
		post_q(f, qs[i], true);
		run_for(f, 60);
	}
	run_for(f, 900);
	struct ccp_webhook_stats s = stats(f, 0);
	assert_int_equal(s.delivered, 0);
	assert_int_equal(s.queued, 5);
	assert_true(s.failed_attempts >= 3);
	assert_int_equal(s.failed_attempts, s.attempts);
	assert_int_equal(ccp_test_rx_count(&f->rx), 0);
	const char *log = log_text(f);
	assert_non_null(strstr(log, "msg=\"webhook attempt failed\""));
	assert_non_null(strstr(log, "error=\""));
	assert_null(strstr(log, "SECRET"));

	ccp_test_rx_set_down(&f->rx, false);
	run_until(f, (struct want){.delivered = 5}, 5000);
	char got[256];
	queues_of(f, 0, ccp_test_rx_count(&f->rx), got, sizeof(got));
	assert_string_equal(got, "q0,q1,q2,q3,q4");
	/* The retried batch held q0 alone; the rest went together after. */
	assert_int_equal(ccp_test_rx_count(&f->rx), 2);
	s = stats(f, 0);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.dropped_full + s.dropped_age, 0);
}

/* A full queue drops its oldest and counts them. */
static void test_queue_full_drops_oldest(void **state)
{
	struct fx *f = *state;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/q", f->rx.port);
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_GENERIC};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	o.max_queue = 3;
	o.log_interval_ms = 10000;
	fx_start(f, &o);

	char q[8];
	for (int i = 0; i < 10; i++) {
		snprintf(q, sizeof(q), "q%d", i);
		post_q(f, q, true);
	}
	struct ccp_webhook_stats s = stats(f, 0);
	assert_int_equal(s.posted, 10);
	assert_int_equal(s.dropped_full, 7);
	assert_int_equal(s.queued, 3);
	run_until(f, (struct want){.delivered = 3, .reqs = 1}, 5000);
	char got[128];
	queues_of(f, 0, ccp_test_rx_count(&f->rx), got, sizeof(got));
	assert_string_equal(got, "q7,q8,q9");

	/* With a batch in flight (stuck receiver), the limit counts the
	 * alerts waiting behind it. */
	ccp_test_rx_mode(&f->rx, RX_STUCK, 0);
	post_q(f, "b0", true);
	run_until(f, (struct want){.reqs = 2}, 5000);
	for (int i = 1; i <= 5; i++) {
		snprintf(q, sizeof(q), "b%d", i);
		post_q(f, q, true);
	}
	s = stats(f, 0);
	assert_int_equal(s.dropped_full, 9);
	assert_int_equal(s.queued, 4); /* b0 in flight, b3..b5 waiting */

	/* Rate-limited: one line now; the rest come as a count at close. */
	const char *log = log_text(f);
	assert_int_equal(count_of(log, "webhook queue full, oldest alert dropped"), 1);
	assert_non_null(strstr(log, "count=1 total=1"));
	fx_close(f, 0);
	log = log_text(f);
	assert_int_equal(count_of(log, "webhook queue full, oldest alert dropped"), 2);
	assert_non_null(strstr(log, "count=8 total=9"));
	assert_non_null(strstr(log, "webhook closed with alerts undelivered"));
}

/* A receiver that accepts and never answers: the timeout ends each
 * attempt, the same request goes again, and gets through once it answers. */
static void test_stuck_receiver_times_out(void **state)
{
	struct fx *f = *state;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/stuck", f->rx.port);
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_GENERIC};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	o.timeout_ms = 300;
	fx_start(f, &o);
	ccp_test_rx_mode(&f->rx, RX_STUCK, 0);

	long long t0 = ccp_test_now_ms();
	post_q(f, "s", true);
	run_until(f, (struct want){.failed = 2, .reqs = 2}, 5000);
	assert_true(ccp_test_now_ms() - t0 >= 2 * 300 - 10);
	const char *log = log_text(f);
	assert_non_null(strstr(log, "timed out"));
	assert_non_null(strstr(log, "attempt=2"));

	ccp_test_rx_mode(&f->rx, RX_OK, 0);
	run_until(f, (struct want){.delivered = 1}, 5000);
	int n = ccp_test_rx_count(&f->rx);
	assert_true(n >= 3);
	for (int i = 1; i < n; i++)
		assert_string_equal(ccp_test_rx_req(&f->rx, i)->body, ccp_test_rx_req(&f->rx, 0)->body);
	assert_int_equal(ccp_test_rx_req(&f->rx, n - 1)->status, 200);
	struct ccp_webhook_stats s = stats(f, 0);
	assert_int_equal(s.attempts, (uint64_t)n);
	assert_int_equal(s.failed_attempts, (uint64_t)n - 1);
	assert_int_equal(s.retries, (uint64_t)n - 1);
}

/* Undeliverable past max_age_ms: dropped and counted; later posts go. */
static void test_max_age(void **state)
{
	struct fx *f = *state;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/age", f->rx.port);
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_GENERIC};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	o.max_age_ms = 300;
	fx_start(f, &o);
	ccp_test_rx_set_down(&f->rx, true);

	post_q(f, "old1", true);
	post_q(f, "old2", true);
	run_until(f, (struct want){.dropped_age = 2}, 5000);
	struct ccp_webhook_stats s = stats(f, 0);
	assert_int_equal(s.queued, 0);
	assert_int_equal(s.delivered, 0);
	assert_non_null(strstr(log_text(f), "webhook alert dropped undelivered after max_age_ms"));

	ccp_test_rx_set_down(&f->rx, false);
	post_q(f, "new", true);
	run_until(f, (struct want){.delivered = 1}, 5000);
	char got[64];
	queues_of(f, 0, ccp_test_rx_count(&f->rx), got, sizeof(got));
	assert_string_equal(got, "new");
}

/* One endpoint down holds back nothing of another. */
static void test_endpoints_independent(void **state)
{
	struct fx *f = *state;
	char up[128], down[128];
	snprintf(up, sizeof(up), "http://127.0.0.1:%d/up", f->rx.port);
	snprintf(down, sizeof(down), "http://127.0.0.1:%d/down", ccp_test_free_port()); /* nobody listens */
	struct ccp_webhook_endpoint ep[2] = {{.url = down, .format = CCP_WEBHOOK_ALERTMANAGER},
					     {.url = up, .format = CCP_WEBHOOK_GENERIC}};
	struct ccp_webhook_opts o;
	test_opts(&o, f, ep, 2);
	fx_start(f, &o);

	post_q(f, "a", true);
	post_q(f, "b", true);
	run_until(f, (struct want){.delivered = 2, .failed = 2}, 5000);
	struct ccp_webhook_stats s0 = stats(f, 0), s1 = stats(f, 1), sum = stats(f, -1);
	assert_int_equal(s0.delivered, 0);
	assert_int_equal(s0.queued, 2);
	assert_true(s0.failed_attempts >= 2);
	assert_int_equal(s1.delivered, 2);
	assert_int_equal(s1.queued, 0);
	assert_int_equal(sum.posted, 4);
	assert_int_equal(sum.delivered, 2);
	assert_int_equal(sum.queued, 2);
	assert_int_equal(sum.failed_attempts, s0.failed_attempts);
	struct ccp_webhook_stats bad;
	assert_int_equal(ccp_webhook_stats(f->wh, 2, &bad), -EINVAL);
	assert_int_equal(ccp_webhook_stats(f->wh, -2, &bad), -EINVAL);
	assert_int_equal(ccp_test_rx_count(&f->rx), 1);
	assert_string_equal(ccp_test_rx_req(&f->rx, 0)->target, "/up");
}

/* Close: with alerts queued and a request in flight (no flush); with a
 * flush that delivers everything; with a flush that runs out of time. */
static void test_close(void **state)
{
	struct fx *f = *state;
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/close", f->rx.port);
	struct ccp_webhook_endpoint ep = {.url = url, .format = CCP_WEBHOOK_ALERTMANAGER};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);
	fx_start(f, &o);

	/* Queued and in flight, no flush: everything is freed. */
	ccp_test_rx_mode(&f->rx, RX_STUCK, 0);
	post_q(f, "a", true);
	run_until(f, (struct want){.reqs = 1}, 5000);
	for (int i = 0; i < 20; i++)
		post_q(f, "b", true);
	assert_int_equal(ccp_webhook_close(f->wh, 0, on_closed, f), 0);
	struct ccp_webhook_alert a;
	alert(&a, "r", "waiting_above", "", "q", "", true, "1", "0", T0, 0);
	assert_int_equal(ccp_webhook_post(f->wh, &a), -ESHUTDOWN);
	assert_int_equal(ccp_webhook_close(f->wh, 0, NULL, NULL), -EALREADY);
	assert_true(ccp_test_uv_run_until(&f->loop, is_closed, f, 5000));
	f->wh = NULL;
	assert_non_null(strstr(log_text(f), "dropped=21"));

	/* Flush: posted and closed in the same turn, delivered before the end. */
	ccp_test_rx_mode(&f->rx, RX_OK, 0);
	f->closed = false;
	fx_start(f, &o);
	int before = ccp_test_rx_count(&f->rx);
	post_q(f, "c1", true);
	post_q(f, "c2", true);
	post_q(f, "c3", true);
	fx_close(f, 3000);
	assert_int_equal(ccp_test_rx_count(&f->rx), before + 1);
	const char *b = ccp_test_rx_req(&f->rx, before)->body;
	assert_non_null(strstr(b, "\"queue\":\"c1\""));
	assert_non_null(strstr(b, "\"queue\":\"c3\""));

	/* Flush against a stuck receiver: the deadline ends it. */
	ccp_test_rx_mode(&f->rx, RX_STUCK, 0);
	f->closed = false;
	fx_start(f, &o);
	post_q(f, "d", true);
	long long t0 = ccp_test_now_ms();
	fx_close(f, 300);
	long long took = ccp_test_now_ms() - t0;
	assert_true(took >= 290);
	assert_true(took < ccp_test_ms(1500));

	/* Flush while a 10 s backoff holds the endpoint: it tries again at
	 * once, so the alert gets out before the 3 s deadline. */
	ccp_test_rx_mode(&f->rx, RX_OK, 1);
	o.backoff_min_ms = o.backoff_max_ms = 10000;
	f->closed = false;
	fx_start(f, &o);
	before = ccp_test_rx_count(&f->rx);
	post_q(f, "e", true);
	run_until(f, (struct want){.failed = 1, .reqs = before + 1}, 5000);
	fx_close(f, 3000);
	assert_int_equal(ccp_test_rx_count(&f->rx), before + 2);
	assert_int_equal(ccp_test_rx_req(&f->rx, before + 1)->status, 200);
	assert_string_equal(ccp_test_rx_req(&f->rx, before + 1)->body, ccp_test_rx_req(&f->rx, before)->body);
	/* teardown runs the loop dry: uv_loop_close() == 0. */
}

/* Options and alerts that are refused, and what the errors say. */
static void test_refused(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct ccp_webhook_endpoint ep = {.url = "http://127.0.0.1:1/x", .format = CCP_WEBHOOK_GENERIC};
	struct ccp_webhook_opts o;
	test_opts(&o, f, &ep, 1);

	struct {
		const char *url;
		const char *header;
		const char *msg;
	} bad[] = {
		{"ftp://u:" SECRET_PASS "@127.0.0.1/x", NULL, "scheme must be http or https"},
		{"not a url", NULL, "url:"},
		{"http://127.0.0.1:1/x", "Bad\r\nX-Injected: 1", "CR or LF"},
		{"http://127.0.0.1:1/x", "NoColon " SECRET_PASS, "not \"Name: value\""},
		{"http://127.0.0.1:1/x", "Content-Length: 5", "set by the request itself"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ccp_webhook_endpoint e = {.url = bad[i].url, .format = CCP_WEBHOOK_GENERIC,
						 .headers = &bad[i].header, .n_headers = bad[i].header ? 1 : 0};
		o.endpoints = &e;
		err[0] = 0;
		assert_null(ccp_webhook_new(&f->loop, &o, err, sizeof(err)));
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].msg);
		assert_null(strstr(err, "SECRET"));
	}
	o.endpoints = &ep;
	o.n_endpoints = 0;
	assert_null(ccp_webhook_new(&f->loop, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "n_endpoints=0"));
	o.n_endpoints = 1;
	o.backoff_max_ms = 10; /* under backoff_min_ms */
	assert_null(ccp_webhook_new(&f->loop, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "backoff_max_ms=10"));
	o.backoff_max_ms = 200;

	enum ccp_webhook_format fmt;
	assert_int_equal(ccp_webhook_format_parse("alertmanager", &fmt), 0);
	assert_int_equal(fmt, CCP_WEBHOOK_ALERTMANAGER);
	assert_int_equal(ccp_webhook_format_parse("slack", &fmt), -EINVAL);
	assert_string_equal(ccp_webhook_format_name(CCP_WEBHOOK_GENERIC), "generic");

	fx_start(f, &o);
	struct ccp_webhook_alert a, good;
	alert(&good, "r", "waiting_above", "", "q", "", true, "-1.5e+3", "0", T0, 0);
	a = good;
	a.value[0] = 'x';
	assert_int_equal(ccp_webhook_post(f->wh, &a), -EINVAL);
	const char *numbers[] = {"nan", "inf", "1.", ".5", "01", "1e", "0x10", "+1", "1 "};
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		a = good;
		snprintf(a.threshold, sizeof(a.threshold), "%s", numbers[i]);
		assert_int_equal(ccp_webhook_post(f->wh, &a), -EINVAL);
	}
	a = good;
	a.threshold[0] = 0;
	assert_int_equal(ccp_webhook_post(f->wh, &a), -EINVAL);
	a = good;
	memset(a.queue, 'q', sizeof(a.queue)); /* no NUL */
	assert_int_equal(ccp_webhook_post(f->wh, &a), -EINVAL);
	a = good;
	a.rule[0] = 0;
	assert_int_equal(ccp_webhook_post(f->wh, &a), -EINVAL);
	a = good;
	a.ts_ms = -1;
	assert_int_equal(ccp_webhook_post(f->wh, &a), -EINVAL);
	assert_int_equal(ccp_webhook_post(f->wh, &good), 0);
	assert_int_equal(stats(f, 0).posted, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alertmanager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_500_then_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receiver_down_then_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full_drops_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_receiver_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoints_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
