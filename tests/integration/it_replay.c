/* Integration tests: the real `ccpulse` binary (CCP_BIN) on small NDJSON
 * fixtures (tests/data/replay_*.ndjson), its JSON compared with figures
 * computed by hand from the contract (the derivations are in the comments
 * beside each expectation), and the command line's exit codes.
 *
 * The comparison is textual (the writer's key order is the contract's),
 * except that an expected "P<n>" accepts a percentile within 1 % of n (the
 * histogram's promise) and "U" accepts an updated_at between the wall
 * clock before and after the run. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- running the binary -------------------------------------------------- */

/* A finished run. Owner: the test; free with run_free. */
struct run {
	int status; /* exit code, or 128+signal */
	char *out, *err;
	size_t out_len;
	long long wall_before_ms, wall_after_ms;
};

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static const char *bin(void)
{
	const char *b = getenv("CCP_BIN");
	if (!b)
		fail_msg("CCP_BIN is not set: run through ctest");
	return b;
}

static char tmpdir[256];

/* Runs ccpulse with `args` (NULL-terminated), stdin from `stdin_path`
 * (or /dev/null), capturing stdout and stderr. */
static struct run run_ccpulse(const char *stdin_path, const char *const *args)
{
	char out_path[300], err_path[300];
	snprintf(out_path, sizeof(out_path), "%s/stdout", tmpdir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", tmpdir);
	const char *argv[32];
	int n = 0;
	argv[n++] = bin();
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct run r = {0};
	r.wall_before_ms = wall_ms();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (in < 0 || out < 0 || err < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r.wall_after_ms = wall_ms();
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = slurp(out_path, &r.out_len);
	r.err = slurp(err_path, NULL);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void data_path(char *buf, size_t len, const char *rel)
{
	const char *src = getenv("CCP_SOURCE_DIR");
	if (!src)
		fail_msg("CCP_SOURCE_DIR is not set: run through ctest");
	snprintf(buf, len, "%s/%s", src, rel);
}

/* ---- comparing ------------------------------------------------------------ */

/* Compares `got` with `want` as described at the top; fails with the
 * position and both texts around it. */
static void expect_json(const char *got, const char *want, long long wall_lo, long long wall_hi)
{
	const char *g = got, *w = want;
	while (*w) {
		if ((*w == 'P' && w[1] >= '0' && w[1] <= '9') || *w == 'U') {
			char *ge;
			long long gv = strtoll(g, &ge, 10);
			if (ge == g)
				goto mismatch;
			if (*w == 'U') {
				if (gv < wall_lo || gv > wall_hi)
					fail_msg("updated_at %lld outside the run [%lld, %lld]", gv, wall_lo, wall_hi);
				w++;
			} else {
				char *we;
				long long wv = strtoll(w + 1, &we, 10);
				long long d = gv > wv ? gv - wv : wv - gv;
				if (d * 100 > wv + 100)
					fail_msg("percentile %lld not within 1%% of %lld at ...%.60s", gv, wv, g);
				w = we;
			}
			g = ge;
			continue;
		}
		if (*g != *w)
			goto mismatch;
		g++;
		w++;
	}
	if (*g == '\n' && !g[1])
		return;
	if (!*g)
		return;
mismatch:
	fail_msg("JSON differs at byte %td:\n got: ...%.160s\nwant: ...%.160s", g - got, g, w);
}

/* A growing string. Owner: the test. */
struct sb {
	char buf[65536];
	size_t len;
};

static void sb_add(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sb *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->buf + s->len, sizeof(s->buf) - s->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(s->buf) - s->len);
	s->len += (size_t)n;
}

static void sb_window(struct sb *s, const char *name, const char *fields, long long start, long long end, bool comma)
{
	sb_add(s, "%s\"%s\":{%s,\"window_start\":%lld,\"window_end\":%lld,\"updated_at\":U}", comma ? "," : "", name,
	       fields, start, end);
}

/* ---- the basic fixture ----------------------------------------------------- */

#define T 1795435200000LL /* 2026-11-23T12:00:00Z; events run to T+160 s */
#define NOW (T + 160000)

/* Counts of a queue with no contact events (every count present, 0). */
static const char ZERO_FIELDS[] =
	"\"offered\":0,\"answered\":0,\"abandoned\":0,\"abandoned_short\":0,\"answered_in_sl\":0,"
	"\"transferred_out\":0,\"transferred_in\":0,\"ended\":0,\"resolved\":0,\"promises_made\":0,"
	"\"promises_due\":0,\"promises_kept_on_time\":0,\"promises_broken\":0,\"promises_kept_late\":0,"
	"\"csat_n\":0,\"complaints_opened\":0,\"complaints_resolved\":0";

/* billing, default config, any window holding T..T+160 s:
 * offered c1..c5 = 5; answered c1 (wait 15 s, voice <= 20 s: in SL),
 * c2 (wait 70 s, chat > 60 s), c9 (no offer: no wait, unmatched) = 3;
 * c3 abandoned after 3 s (< 5 s: abandoned_short), c4 after 10 s
 * (abandoned). SL = 1/(3+1), abandon rate = 1/(3+1); ASA = (15+70)/2 s;
 * p50 = 1st of 2 waits = 15 s, p90 = p99 = 2nd = 70 s; max 70 s;
 * c1 ended resolved 120 s after its answer: AHT 120 s, FCR 1/1;
 * p1 due T+100 s, kept at T+90 s: due 1, kept on time 1;
 * surveys csat 5 (empathy 4) and 3: mean 4, satisfied 1/2; one complaint
 * opened, none resolved. The duplicate e3 and the late c77 change nothing. */
static const char BILLING_ALL[] =
	"\"offered\":5,\"answered\":3,\"abandoned\":1,\"abandoned_short\":1,\"answered_in_sl\":1,"
	"\"service_level\":0.25,\"abandon_rate\":0.25,\"asa_ms\":42500,\"wait_p50_ms\":P15000,"
	"\"wait_p90_ms\":P70000,\"wait_p99_ms\":P70000,\"max_wait_ms\":70000,\"aht_ms\":120000,"
	"\"transferred_out\":0,\"transferred_in\":0,\"ended\":1,\"resolved\":1,\"fcr_rate\":1,"
	"\"promises_made\":1,\"promises_due\":1,\"promises_kept_on_time\":1,\"promises_broken\":0,"
	"\"promises_kept_late\":0,\"promise_kept_rate\":1,\"csat_n\":2,\"csat_avg\":4,"
	"\"csat_satisfied_rate\":0.5,\"empathy_avg\":4,\"complaints_opened\":1,\"complaints_resolved\":0";

/* Live at NOW: c5 waits since T+150 s; a1 available (Zed, billing), a2 busy
 * (billing), a3 offline (not counted); p1 released; k1 open. */
static const char BILLING_LIVE[] =
	"\"live\":{\"waiting\":1,\"longest_wait_ms\":10000,\"agents_available\":1,\"agents_busy\":1,"
	"\"agents_wrap_up\":0,\"agents_away\":0,\"promises_open\":0,\"promises_overdue\":0,\"complaints_open\":1}";
static const char ZED_LIVE[] =
	"\"live\":{\"waiting\":0,\"longest_wait_ms\":0,\"agents_available\":1,\"agents_busy\":0,"
	"\"agents_wrap_up\":0,\"agents_away\":0,\"promises_open\":0,\"promises_overdue\":0,\"complaints_open\":0}";

/* "late1" (25 h before NOW: late), duplicate "e3", unmatched answer of c9;
 * rejects: `{not json`, type contact.nope, offered without contact,
 * ts -5. */
static const char COUNTERS[] = ",\"late_events\":1,\"duplicates\":1,\"expired\":0,\"unmatched\":1,"
			       "\"errors\":{\"bad_json\":1,\"missing_field\":1,\"unknown_type\":1,\"bad_field\":1,"
			       "\"future_ts\":0}}";

static void expected_default(struct sb *s)
{
	/* Default windows at NOW: 10 s buckets end at T+170 s; 5 min buckets
	 * at T+300 s; today is the UTC day. */
	static const struct {
		const char *name;
		long long start, end;
	} win[] = {
		{"5m", T + 170000 - 300000, T + 170000},
		{"15m", T + 170000 - 900000, T + 170000},
		{"1h", T + 170000 - 3600000, T + 170000},
		{"24h", T + 300000 - 86400000, T + 300000},
		{"today", 1795392000000LL, 1795478400000LL},
	};
	s->len = 0;
	/* Bytewise: "Zed" < "billing". */
	sb_add(s, "{\"now\":%lld,\"queues\":{\"Zed\":{", NOW);
	for (int i = 0; i < 5; i++)
		sb_window(s, win[i].name, ZERO_FIELDS, win[i].start, win[i].end, i > 0);
	sb_add(s, ",%s},\"billing\":{", ZED_LIVE);
	for (int i = 0; i < 5; i++)
		sb_window(s, win[i].name, BILLING_ALL, win[i].start, win[i].end, i > 0);
	sb_add(s, ",%s}},\"total\":{", BILLING_LIVE);
	/* Total = billing + an empty Zed; agents once each (a1, a2). */
	for (int i = 0; i < 5; i++)
		sb_window(s, win[i].name, BILLING_ALL, win[i].start, win[i].end, i > 0);
	sb_add(s, ",%s}%s", BILLING_LIVE, COUNTERS);
}

static char basic[512];

static void test_basic_json_file(void **state)
{
	(void)state;
	char out[300];
	snprintf(out, sizeof(out), "%s/out.json", tmpdir);
	const char *args[] = {"replay", basic, "--json", out, NULL};
	struct run r = run_ccpulse(NULL, args);
	if (r.status)
		fail_msg("exit %d: %s", r.status, r.err);
	char *json = slurp(out, NULL);
	assert_non_null(json);
	static struct sb want;
	expected_default(&want);
	expect_json(json, want.buf, r.wall_before_ms, r.wall_after_ms);
	/* The summary goes to stdout with --json. */
	assert_non_null(strstr(r.out, "[1h]"));
	assert_non_null(strstr(r.out, "[today]"));
	assert_non_null(strstr(r.out, "TOTAL"));
	assert_non_null(strstr(r.out, "rejected: bad_json 1 missing_field 1 unknown_type 1 bad_field 1 future_ts 0"));
	/* 27 lines (the last without newline), 25 non-blank, 21 accepted by
	 * the decoder, 19 applied (not the duplicate, not the late one). */
	assert_non_null(strstr(r.out, "27 lines, 25 events, 19 applied, 2 queues"));
	/* Rejects are logged, rate-limited: the first at once with its line,
	 * the other three in the line flushed at the end. */
	assert_non_null(strstr(r.err, "msg=\"rejected event\" count=1 total=1 line=18 reason=bad_json"));
	assert_non_null(strstr(r.err, "msg=\"rejected event\" count=3 total=4"));
	free(json);
	run_free(&r);
}

static void test_basic_stdout_and_stdin(void **state)
{
	(void)state;
	const char *args[] = {"replay", "-", NULL};
	struct run r = run_ccpulse(basic, args);
	if (r.status)
		fail_msg("exit %d: %s", r.status, r.err);
	static struct sb want;
	expected_default(&want);
	/* Without --json: the JSON alone on stdout, the summary on stderr. */
	expect_json(r.out, want.buf, r.wall_before_ms, r.wall_after_ms);
	assert_non_null(strstr(r.err, "[today]"));
	run_free(&r);
}

/* The same events under config/replay_test.yaml: window 2m (30 s buckets),
 * SL over offered, short abandon 2 s, billing voice target 10 s,
 * America/New_York. */
static void test_basic_with_config(void **state)
{
	(void)state;
	char cfg[512], out[300];
	data_path(cfg, sizeof(cfg), "config/replay_test.yaml");
	snprintf(out, sizeof(out), "%s/out2.json", tmpdir);
	const char *args[] = {"replay", basic, "-c", cfg, "--json", out, NULL};
	struct run r = run_ccpulse(NULL, args);
	if (r.status)
		fail_msg("exit %d: %s", r.status, r.err);
	char *json = slurp(out, NULL);
	assert_non_null(json);
	/* 2m at NOW: buckets T+150..180 s back to T+60 s. In it: c2's answer
	 * (T+71 s, wait 70 s, chat: not in SL), c9's (no wait), c5's offer,
	 * c1's end (AHT 120 s), both surveys, p1's due (T+100 s, kept on time),
	 * the complaint (T+60 s, the window's first instant). SL over offered:
	 * 0/1; abandon rate 0/(2+0). */
	static const char BILLING_2M[] =
		"\"offered\":1,\"answered\":2,\"abandoned\":0,\"abandoned_short\":0,\"answered_in_sl\":0,"
		"\"service_level\":0,\"abandon_rate\":0,\"asa_ms\":70000,\"wait_p50_ms\":P70000,"
		"\"wait_p90_ms\":P70000,\"wait_p99_ms\":P70000,\"max_wait_ms\":70000,\"aht_ms\":120000,"
		"\"transferred_out\":0,\"transferred_in\":0,\"ended\":1,\"resolved\":1,\"fcr_rate\":1,"
		"\"promises_made\":0,\"promises_due\":1,\"promises_kept_on_time\":1,\"promises_broken\":0,"
		"\"promises_kept_late\":0,\"promise_kept_rate\":1,\"csat_n\":2,\"csat_avg\":4,"
		"\"csat_satisfied_rate\":0.5,\"empathy_avg\":4,\"complaints_opened\":1,\"complaints_resolved\":0";
	/* today (New York): c1's 15 s wait misses billing's 10 s voice target,
	 * so nothing is in SL: 0/5 offered; c3's 3 s abandon is >= 2 s, so two
	 * abandons count: abandon rate 2/(3+2). */
	static const char BILLING_TODAY[] =
		"\"offered\":5,\"answered\":3,\"abandoned\":2,\"abandoned_short\":0,\"answered_in_sl\":0,"
		"\"service_level\":0,\"abandon_rate\":0.4,\"asa_ms\":42500,\"wait_p50_ms\":P15000,"
		"\"wait_p90_ms\":P70000,\"wait_p99_ms\":P70000,\"max_wait_ms\":70000,\"aht_ms\":120000,"
		"\"transferred_out\":0,\"transferred_in\":0,\"ended\":1,\"resolved\":1,\"fcr_rate\":1,"
		"\"promises_made\":1,\"promises_due\":1,\"promises_kept_on_time\":1,\"promises_broken\":0,"
		"\"promises_kept_late\":0,\"promise_kept_rate\":1,\"csat_n\":2,\"csat_avg\":4,"
		"\"csat_satisfied_rate\":0.5,\"empathy_avg\":4,\"complaints_opened\":1,\"complaints_resolved\":0";
	const long long s2 = T + 60000, e2 = T + 180000;
	const long long sd = 1795410000000LL, ed = 1795496400000LL; /* 2026-11-23 00:00 EST, +24 h */
	static struct sb want;
	want.len = 0;
	sb_add(&want, "{\"now\":%lld,\"queues\":{\"Zed\":{", NOW);
	sb_window(&want, "2m", ZERO_FIELDS, s2, e2, false);
	sb_window(&want, "today", ZERO_FIELDS, sd, ed, true);
	sb_add(&want, ",%s},\"billing\":{", ZED_LIVE);
	sb_window(&want, "2m", BILLING_2M, s2, e2, false);
	sb_window(&want, "today", BILLING_TODAY, sd, ed, true);
	sb_add(&want, ",%s}},\"total\":{", BILLING_LIVE);
	sb_window(&want, "2m", BILLING_2M, s2, e2, false);
	sb_window(&want, "today", BILLING_TODAY, sd, ed, true);
	/* The late event: L is now 2 min, and it is far older. */
	sb_add(&want, ",%s}%s", BILLING_LIVE, COUNTERS);
	expect_json(json, want.buf, r.wall_before_ms, r.wall_after_ms);
	free(json);
	run_free(&r);
}

/* ---- line limits ------------------------------------------------------------ */

static void put_event(FILE *f, int n, size_t pad_to, const char *eol)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "{\"id\":\"L%d\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c%d\",\"pad\":\"",
			  n, T + n, n);
	fputs(head, f);
	size_t len = (size_t)hl + 2; /* + closing quote and brace */
	for (; len < pad_to; len++)
		fputc('x', f);
	fputs("\"}", f);
	fputs(eol, f);
}

static void test_line_limits(void **state)
{
	(void)state;
	char path[300];
	snprintf(path, sizeof(path), "%s/limits.ndjson", tmpdir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	put_event(f, 1, 1048576, "\n"); /* exactly the limit: accepted */
	for (size_t i = 0; i < 1048577; i++) /* one byte over: bad_json */
		fputc('x', f);
	fputc('\n', f);
	put_event(f, 2, 0, "\r\n");          /* CRLF */
	for (size_t i = 0; i < (3u << 20); i++) /* 3 MiB, across several reads: one bad_json */
		fputc('{', f);
	fputs("\n\r\n\n", f);   /* blank lines */
	put_event(f, 3, 0, ""); /* last line, no newline */
	fclose(f);
	const char *args[] = {"replay", "-", NULL};
	struct run r = run_ccpulse(path, args);
	if (r.status)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_non_null(strstr(r.out, "\"total\":{\"5m\":{\"offered\":3,"));
	assert_non_null(strstr(r.out, "\"errors\":{\"bad_json\":2,\"missing_field\":0,"));
	assert_non_null(strstr(r.err, "7 lines, 5 events, 3 applied, 1 queues"));
	run_free(&r);
}

/* No input at all: "now" is null, no queues, counts 0 and no window
 * bounds in `total`; a --json path that cannot be written fails (exit 1). */
static void test_empty_input(void **state)
{
	(void)state;
	const char *args[] = {"replay", "-", NULL};
	struct run r = run_ccpulse(NULL, args);
	assert_int_equal(r.status, 0);
	static const char head[] = "{\"now\":null,\"queues\":{},\"total\":{\"5m\":{\"offered\":0,";
	if (strncmp(r.out, head, sizeof(head) - 1))
		fail_msg("output starts %.80s", r.out);
	assert_null(strstr(r.out, "window_start"));
	assert_non_null(strstr(r.out, "\"live\":{\"waiting\":0,\"longest_wait_ms\":0,"));
	run_free(&r);
	const char *args2[] = {"replay", "-", "--json", "/nonexistent/dir/out.json", NULL};
	r = run_ccpulse(NULL, args2);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "/nonexistent/dir/out.json: No such file"));
	run_free(&r);
}

/* ---- command line ------------------------------------------------------------ */

static void test_cli_exit_codes(void **state)
{
	(void)state;
	static const struct {
		const char *args[8];
		int status;
		const char *out, *err;
	} cases[] = {
		{{"--version"}, 0, "ccpulse ", NULL},
		{{"--help"}, 0, "replay FILE|-", NULL},
		{{"nonsense"}, 2, NULL, "unknown command \"nonsense\""},
		{{"--frobnicate"}, 2, NULL, "unknown option \"--frobnicate\""},
		{{"replay"}, 2, NULL, "no input file"},
		{{"replay", "a", "b"}, 2, NULL, "one input only"},
		{{"replay", "x", "--frobnicate"}, 2, NULL, "unknown option \"--frobnicate\""},
		{{"replay", "x", "--json"}, 2, NULL, "--json needs a value"},
		{{"replay", "/nonexistent.ndjson"}, 1, NULL, "/nonexistent.ndjson: No such file"},
		{{"replay", "-", "--publish-interval", "1"}, 1, NULL, "--publish-interval: publish_interval=1: must be 50ms..1m"},
		{{"replay", "-", "-c", "/nonexistent.yaml"}, 1, NULL, "/nonexistent.yaml: No such file"},
		{{"replay", "--help"}, 0, "usage: ccpulse replay", NULL},
		{{"check-config", "--redis", "redis://u:pw@h:7/1"}, 0, "ok\n", NULL},
		{{"check-config", "--redis=redis://h:0"}, 1, NULL, "--redis: redis.url=redis://h:0"},
		{{"check-config", "extra"}, 2, NULL, "unexpected argument \"extra\""},
		{{"config-doc"}, 0, "| `kafka.brokers` |", NULL},
		{{"config-doc", "x"}, 2, NULL, "unexpected argument"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r = run_ccpulse(NULL, cases[i].args);
		if (r.status != cases[i].status)
			fail_msg("case %zu (%s %s): exit %d, want %d; stderr: %s", i, cases[i].args[0],
				 cases[i].args[1] ? cases[i].args[1] : "", r.status, cases[i].status, r.err);
		if (cases[i].out && !strstr(r.out, cases[i].out))
			fail_msg("case %zu: stdout lacks \"%s\": %s", i, cases[i].out, r.out);
		if (cases[i].err && !strstr(r.err, cases[i].err))
			fail_msg("case %zu: stderr lacks \"%s\": %s", i, cases[i].err, r.err);
		run_free(&r);
	}
}

static void test_check_config(void **state)
{
	(void)state;
	char cfg[300];
	snprintf(cfg, sizeof(cfg), "%s/bad.yaml", tmpdir);
	FILE *f = fopen(cfg, "w");
	fputs("kafka:\n  brokers: b:9092\n  sasl.password: hunter2\nwindows:\n  - {name: w, length: 1h, bucket: 0}\n", f);
	fclose(f);
	const char *args[] = {"check-config", "-c", cfg, NULL};
	struct run r = run_ccpulse(NULL, args);
	assert_int_equal(r.status, 1);
	char want[400];
	snprintf(want, sizeof(want), "%s:5:35: windows[0].bucket=0: must be 1s..1h", cfg);
	if (!strstr(r.err, want))
		fail_msg("stderr lacks \"%s\": %s", want, r.err);
	run_free(&r);
	/* The same file fixed: ok, the effective config, the secret hidden,
	 * env over the file, the flag over env. */
	f = fopen(cfg, "w");
	fputs("kafka:\n  brokers: b:9092\n  topic: from-file\n  sasl.password: hunter2\nprefix: file\n", f);
	fclose(f);
	setenv("CCPULSE_KAFKA_TOPIC", "from-env", 1);
	setenv("CCPULSE_PREFIX", "env", 1);
	const char *args2[] = {"check-config", "-c", cfg, "--prefix", "flag", NULL};
	r = run_ccpulse(NULL, args2);
	unsetenv("CCPULSE_KAFKA_TOPIC");
	unsetenv("CCPULSE_PREFIX");
	if (r.status)
		fail_msg("exit %d: %s", r.status, r.err);
	assert_true(!strncmp(r.out, "ok\n", 3));
	assert_non_null(strstr(r.out, "kafka.brokers: \"b:9092\"\n"));
	assert_non_null(strstr(r.out, "kafka.topic: \"from-env\"\n"));
	assert_non_null(strstr(r.out, "prefix: \"flag\"\n"));
	assert_non_null(strstr(r.out, "kafka.sasl.password: \"***\"\n"));
	assert_null(strstr(r.out, "hunter2"));
	run_free(&r);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/ccp-replay-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	data_path(basic, sizeof(basic), "tests/data/replay_basic.ndjson");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	static const char *const files[] = {"stdout", "stderr", "out.json", "out2.json", "limits.ndjson", "bad.yaml"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[400];
		snprintf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_json_file), cmocka_unit_test(test_basic_stdout_and_stdin),
		cmocka_unit_test(test_basic_with_config), cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_cli_exit_codes),  cmocka_unit_test(test_check_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
