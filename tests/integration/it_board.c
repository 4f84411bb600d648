/* ccp-test-labels: threaded */
/* The wallboard's API on a running pipeline (mock Kafka cluster, private
 * Redis), without a browser: /api/queues answers exactly what Redis holds
 * (every numeric field as a number, others left out, queues sorted by id,
 * the filter and the window honoured, bad parameters refused with 400),
 * / serves the page, and /api/stream pushes a new snapshot within 2 s of
 * a change in Redis, says redis_ok false while Redis is away and true
 * again once it is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ccp_test.h"
#include "ccpulse/board.h"
#include "ccpulse/broker.h"
#include "ccpulse/http.h"
#include "ccpulse/config.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"

#define P "itb" /* key prefix */

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* GET `path` over HTTP/1.0: the status; the head and body into `head`
 * and `body` (either may be NULL). */
static int http_get(int port, const char *path, char *head, size_t hcap, char *body, size_t bcap)
{
	int fd = connect_to(port);
	char req[8192];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	assert_true(n > 0 && (size_t)n < sizeof(req));
	assert_int_equal(write(fd, req, (size_t)n), n);
	static char resp[1 << 20];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(resp) - 1 && (r = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	resp[len] = 0;
	int status = 0;
	assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", &status), 1);
	char *b = strstr(resp, "\r\n\r\n");
	assert_non_null(b);
	if (head)
		snprintf(head, hcap, "%.*s", (int)(b - resp), resp);
	if (body)
		snprintf(body, bcap, "%s", b + 4);
	return status;
}

/* The text of the flat JSON object that follows `key` (a "...":{ with
 * the brace) in `doc`, into `out`; fails the test if absent. */
static void object_after(const char *doc, const char *key, char *out, size_t cap)
{
	const char *k = strstr(doc, key);
	if (!k)
		fail_msg("no %s in %s", key, doc);
	const char *o = k + strlen(key) - 1, *e = strchr(o, '}');
	assert_non_null(e);
	snprintf(out, cap, "%.*s", (int)(e - o + 1), o);
}

/* Every field of the Redis hash `key` is in the JSON object `obj` as a
 * number, exactly as Redis holds it (`numeric`), or absent. */
static void check_object(redisContext *c, const char *key, const char *obj, int expect_fields)
{
	redisReply *r = ccp_test_redis_cmd(c, "HGETALL %s", key);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	int seen = 0;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
		char pair[256], name[160];
		snprintf(name, sizeof(name), "\"%s\":", f);
		char *end;
		double dv = strtod(v, &end);
		if (*end || !*v || dv - dv != 0) { /* not a number, or inf */
			if (strstr(obj, name))
				fail_msg("%s: non-numeric %s=%s is in %s", key, f, v, obj);
			continue;
		}
		/* Numbers JSON spells otherwise are reformatted. */
		const char *want = !strcmp(v, "+5") ? "5" : !strcmp(v, "007") ? "7" : v;
		snprintf(pair, sizeof(pair), "\"%s\":%s", f, want);
		const char *at = strstr(obj, pair);
		if (!at || (at[strlen(pair)] != ',' && at[strlen(pair)] != '}'))
			fail_msg("%s: %s not in %s", key, pair, obj);
		seen++;
	}
	assert_int_equal(seen, expect_fields);
	freeReplyObject(r);
}

/* One transaction, so a board read in between never sees half of it. */
static void write_center(redisContext *c)
{
	static const char *const cmds[] = {
		"MULTI",
		"SADD " P ":queues sales billing",
		"HSET " P ":q:billing:15m offered 40 answered 36 abandoned 2 service_level 0.8125 abandon_rate 0.0526316 "
		"asa_ms 14250 promise_kept_rate 0.9 csat_avg 4.25 window_start 1795339800000 note n/a weird 1e3 plus +5 "
		"octal 007 big inf",
		"HSET " P ":q:billing:live waiting 3 longest_wait_ms 102000 promises_overdue 1 agents_available 4",
		"HSET " P ":q:sales:15m offered 10 answered 10 service_level 1 asa_ms 3000",
		"HSET " P ":q:sales:1h offered 55 answered 50 service_level 0.74 asa_ms 21000",
		"HSET " P ":q:sales:live waiting 0 longest_wait_ms 0",
		"HSET " P ":total:15m offered 50 answered 46 service_level 0.85",
		"HSET " P ":total:1h offered 55",
		"HSET " P ":total:live waiting 3 longest_wait_ms 102000",
		"ZADD " P ":promises:overdue 1 billing:p1 2 sales:p2",
		"HSET " P ":state:firing sl_low:billing {\"rule\":\"sl_low\",\"kind\":\"service_level_below\",\"window\":\"15m\","
		"\"queue\":\"billing\",\"state\":\"firing\",\"value\":0.72,\"threshold\":0.8,\"ts\":1795339806409,"
		"\"since\":1795339800000} broken garbage",
		"EXEC",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		redisReply *r = redisCommand(c, cmds[i]);
		assert_non_null(r);
		assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
		freeReplyObject(r);
	}
}

/* A GET retried until it answers 200 (with `needle`). Owner: the test thread. */
struct get_wait {
	int port;
	const char *path;
	const char *needle; /* in the body; NULL: status 200 is enough */
	int status;
	char body[1 << 16];
};

static bool got(void *arg)
{
	struct get_wait *w = arg;
	w->status = http_get(w->port, w->path, NULL, 0, w->body, sizeof(w->body));
	return w->status == 200 && (!w->needle || strstr(w->body, w->needle));
}

/* ---- the event stream ---------------------------------------------------- */

/* A stream's bytes; `from` marks where the next search starts. Owner:
 * the test thread. */
struct sse {
	int fd;
	char *buf;
	size_t len, cap, from;
};

/* Reads until `needle` appears after `from` (then moves `from` past it)
 * or `timeout_ms` passes. */
static bool sse_wait(struct sse *s, const char *needle, int timeout_ms)
{
	long long until = ccp_test_now_ms() + ccp_test_ms(timeout_ms);
	for (;;) {
		s->buf[s->len] = 0;
		char *at = strstr(s->buf + s->from, needle);
		if (at) {
			s->from = (size_t)(at - s->buf) + strlen(needle);
			return true;
		}
		long long left = until - ccp_test_now_ms();
		if (left <= 0 || s->len + 1 >= s->cap)
			return false;
		struct pollfd pf = {.fd = s->fd, .events = POLLIN};
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		ssize_t r = read(s->fd, s->buf + s->len, s->cap - 1 - s->len);
		if (r <= 0)
			return false;
		s->len += (size_t)r;
	}
}

static void test_api(void **state)
{
	(void)state;
	char err[512];
	struct ccp_broker_topic topics[] = {{"contact-events", 1}, {"agent-events", 1}};
	struct ccp_broker *broker = ccp_broker_start(1, topics, 2, err, sizeof(err));
	assert_non_null(broker);
	struct ccp_test_redis redis;
	struct ccp_test_redis_opts ro = {.appendfsync_always = true}; /* the figures survive the restart below */
	ccp_test_redis_start(&redis, &ro);
	struct ccp_config cfg;
	ccp_config_defaults(&cfg);
	const char *kv[][2] = {{"kafka.brokers", ccp_broker_bootstrap(broker)}, {"redis.url", redis.url},
			       {"prefix", P}, {"publish_interval", "100ms"}, {"workers", "1"},
			       {"http.addr", "127.0.0.1:0"}};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		assert_int_equal(ccp_config_set(&cfg, kv[i][0], kv[i][1], err, sizeof(err)), 0);
	assert_int_equal(ccp_config_finish(&cfg, err, sizeof(err)), 0);
	struct ccp_log log;
	ccp_log_init(&log);
	log.level = CCP_LOG_ERROR;
	struct ccp_pipeline_opts o = {.cfg = &cfg, .log = &log, .client_id = "board"};
	struct ccp_pipeline *p = ccp_pipeline_new(&o, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(ccp_pipeline_start(p), 0);
	int port = 0;
	long long until = ccp_test_now_ms() + ccp_test_ms(10000);
	while (!(port = ccp_pipeline_http_port(p)) && ccp_test_now_ms() < until)
		usleep(10000);
	assert_true(port > 0);

	/* Before the first read: 503 with a reason and Retry-After, or
	 * already the empty center. */
	static struct get_wait w;
	char head[4096];
	w.port = port;
	int st = http_get(port, "/api/queues", head, sizeof(head), w.body, sizeof(w.body));
	assert_true(st == 503 || st == 200);
	if (st == 503) {
		assert_non_null(strstr(head, "retry-after: 1"));
		assert_non_null(strstr(w.body, "\"error\":\"no snapshot of window 15m yet"));
	}
	w.path = "/api/queues";
	w.needle = "\"queues\":[]";
	assert_true(ccp_test_wait_until(got, &w, 10000));

	redisContext *c = ccp_test_redis_connect(&redis);
	write_center(c);
	w.needle = "{\"id\":\"sales\"";
	assert_true(ccp_test_wait_until(got, &w, 5000));
	const char *d = w.body;
	assert_non_null(strstr(d, "\"redis_ok\":true"));
	assert_non_null(strstr(d, "\"window\":\"15m\",\"windows\":[\"5m\",\"15m\",\"1h\",\"24h\",\"today\"]"));
	assert_non_null(strstr(d, "\"overdue_promises\":2"));
	assert_non_null(strstr(d, "\"targets\":{\"service_level\":0.8}"));
	assert_non_null(strstr(d, "\"stale_after_ms\":3000"));
	assert_true(strstr(d, "{\"id\":\"billing\"") < strstr(d, "{\"id\":\"sales\"")); /* sorted by id */
	long long age = -1, gen = 0;
	assert_int_equal(sscanf(strstr(d, "\"data_age_ms\":"), "\"data_age_ms\":%lld", &age), 1);
	assert_int_equal(sscanf(d, "{\"generated_at\":%lld", &gen), 1);
	assert_true(age >= 0 && age < 3000);
	assert_true(gen > 1700000000000LL);
	char obj[4096];
	object_after(d, "{\"id\":\"billing\",\"window\":{", obj, sizeof(obj));
	check_object(c, P ":q:billing:15m", obj, 12);
	object_after(strstr(d, "{\"id\":\"billing\""), "\"live\":{", obj, sizeof(obj));
	check_object(c, P ":q:billing:live", obj, 4);
	object_after(d, "{\"id\":\"sales\",\"window\":{", obj, sizeof(obj));
	check_object(c, P ":q:sales:15m", obj, 4);
	object_after(d, "\"total\":{\"window\":{", obj, sizeof(obj));
	check_object(c, P ":total:15m", obj, 3);
	object_after(strstr(d, "\"total\":{"), "\"live\":{", obj, sizeof(obj));
	check_object(c, P ":total:live", obj, 2);
	/* The firing alert as written (valid JSON in, valid JSON out); the
	 * garbage value is left out. */
	const char *alerts = strstr(d, "\"alerts\":[{");
	assert_non_null(alerts);
	assert_non_null(strstr(alerts, "\"rule\":\"sl_low\""));
	assert_non_null(strstr(alerts, "\"queue\":\"billing\""));
	assert_non_null(strstr(alerts, "\"value\":0.72"));
	assert_null(strstr(d, "garbage"));
	assert_non_null(strstr(d, "}],\"overdue_promises\"")); /* one alert */

	/* ?queues= filters queues and their alerts; the total stays the center's. */
	w.path = "/api/queues?queues=sales,nope";
	w.needle = NULL;
	assert_true(ccp_test_wait_until(got, &w, 2000));
	assert_null(strstr(w.body, "\"id\":\"billing\""));
	assert_non_null(strstr(w.body, "\"queues\":[{\"id\":\"sales\""));
	assert_non_null(strstr(w.body, "\"alerts\":[]"));
	assert_non_null(strstr(w.body, "\"total\":{\"window\":{\"offered\":50"));

	/* ?window=1h: read once asked for (503 until then). */
	w.path = "/api/queues?window=1h";
	w.needle = "{\"id\":\"sales\"";
	assert_true(ccp_test_wait_until(got, &w, 5000));
	assert_non_null(strstr(w.body, "\"window\":\"1h\""));
	assert_non_null(strstr(w.body, "{\"id\":\"billing\",\"window\":{},\"live\":{\"waiting\":3"));
	object_after(w.body, "{\"id\":\"sales\",\"window\":{", obj, sizeof(obj));
	check_object(c, P ":q:sales:1h", obj, 4);

	/* Bad requests: 400 with the reason. */
	static const struct {
		const char *path, *want;
	} bad[] = {
		{"/api/queues?window=2d", "window \\\"2d\\\" is not one of 5m, 15m, 1h, 24h, today"},
		{"/api/queues?window=%zz", "window: bad percent-escape"},
		{"/api/stream?window=week", "is not one of"},
		{"/api/queues?queues=a,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "queues: an id longer than 128 bytes"},
		{"/?window=x", "window \"x\" is not one of"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(http_get(port, bad[i].path, NULL, 0, w.body, sizeof(w.body)), 400);
		if (!strstr(w.body, bad[i].want))
			fail_msg("%s: got %s, want %s", bad[i].path, w.body, bad[i].want);
	}

	/* The page. */
	assert_int_equal(http_get(port, "/?queues=billing", head, sizeof(head), w.body, sizeof(w.body)), 200);
	assert_non_null(strstr(head, "content-type: text/html; charset=utf-8"));
	assert_non_null(strstr(w.body, "<!doctype html>"));
	assert_non_null(strstr(w.body, "data-role=\"status\""));
	assert_non_null(strstr(w.body, "new EventSource('/api/stream'"));

	/* The stream: a snapshot, then the change within 2 s. */
	struct sse s = {.fd = connect_to(port), .cap = 8u << 20};
	s.buf = malloc(s.cap);
	assert_non_null(s.buf);
	const char *sreq = "GET /api/stream?queues=billing HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
	assert_int_equal(write(s.fd, sreq, strlen(sreq)), (ssize_t)strlen(sreq));
	assert_true(sse_wait(&s, "content-type: text/event-stream", 5000));
	assert_true(sse_wait(&s, "event: snapshot\ndata: {\"generated_at\":", 5000));
	assert_true(sse_wait(&s, "\"queues\":[{\"id\":\"billing\",\"window\":{\"offered\":40", 2000));
	assert_true(sse_wait(&s, "\"live\":{\"waiting\":3,", 2000));
	freeReplyObject(ccp_test_redis_cmd(c, "HSET " P ":q:billing:live waiting 7"));
	long long t0 = ccp_test_now_ms();
	assert_true(sse_wait(&s, "\"live\":{\"waiting\":7,", 2000));
	long long took = ccp_test_now_ms() - t0;
	print_message("stream: a change in Redis reached the client in %lld ms\n", took);
	assert_null(strstr(s.buf + s.from, "\"id\":\"sales\"")); /* the filter holds on the stream too */

	/* Redis away: snapshots keep coming, flagged; back: unflagged. */
	redisFree(c);
	ccp_test_redis_stop(&redis);
	assert_true(sse_wait(&s, "\"redis_ok\":false,\"redis_error\":", 8000));
	assert_true(sse_wait(&s, "\"live\":{\"waiting\":7,", 2000)); /* the last snapshot, served on */
	w.path = "/api/queues";
	w.needle = NULL;
	assert_int_equal(http_get(port, "/api/queues", NULL, 0, w.body, sizeof(w.body)), 200);
	assert_non_null(strstr(w.body, "\"redis_ok\":false"));
	ccp_test_redis_restart(&redis);
	assert_true(sse_wait(&s, "\"redis_ok\":true", 10000));
	assert_true(sse_wait(&s, "\"live\":{\"waiting\":7,", 2000));
	close(s.fd);
	free(s.buf);

	ccp_pipeline_stop(p);
	assert_int_equal(ccp_pipeline_join(p, err, sizeof(err)), 0);
	ccp_pipeline_free(p);
	ccp_config_free(&cfg);
	ccp_test_redis_free(&redis);
	ccp_broker_stop(broker);
}

/* ---- a board on a loop of the test's own ------------------------------------ */

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* Waits for `n` good reads. Owner: the test thread. */
struct reads_wait {
	struct ccp_board *b;
	uint64_t n;
};

static bool reads_done(void *arg)
{
	struct reads_wait *w = arg;
	struct ccp_board_stats st;
	ccp_board_stats(w->b, &st);
	return st.reads_ok >= w->n;
}

static uint64_t evalsha_calls(redisContext *c)
{
	redisReply *r = ccp_test_redis_cmd(c, "INFO commandstats");
	const char *p = strstr(r->str, "cmdstat_evalsha:calls=");
	uint64_t n = p ? strtoull(p + 22, NULL, 10) : 0;
	freeReplyObject(r);
	return n;
}

static void http_closed(void *ud)
{
	*(bool *)ud = true;
}

/* Reads run only while someone looks: none before a look, several during,
 * none once idle_after_ms has passed (Redis counts the EVALSHAs); the
 * last snapshot stays. */
static void test_reads_only_while_watched(void **state)
{
	(void)state;
	char err[512];
	struct ccp_test_redis redis;
	ccp_test_redis_start(&redis, NULL);
	redisContext *c = ccp_test_redis_connect(&redis);
	write_center(c);
	struct ccp_config cfg;
	ccp_config_defaults(&cfg);
	assert_int_equal(ccp_config_set(&cfg, "redis.url", redis.url, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&cfg, "prefix", P, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&cfg, "publish_interval", "50ms", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_finish(&cfg, err, sizeof(err)), 0);
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct ccp_http_opts ho;
	ccp_http_opts_defaults(&ho);
	ho.addr = "127.0.0.1:0";
	struct ccp_http *http = ccp_http_new(&loop, &ho, err, sizeof(err));
	assert_non_null(http);
	struct ccp_board_opts bo;
	ccp_board_opts_defaults(&bo);
	bo.cfg = &cfg;
	bo.idle_after_ms = 400;
	struct ccp_board *b = ccp_board_new(&loop, http, &bo, err, sizeof(err));
	assert_non_null(b);

	ccp_test_uv_run_until(&loop, never, NULL, 400);
	assert_int_equal(evalsha_calls(c), 0); /* nobody looked */
	char *doc = NULL;
	size_t len;
	assert_int_equal(ccp_board_json(b, NULL, NULL, &doc, &len), -ENOENT);

	assert_int_equal(ccp_board_watch(b, "nope"), -EINVAL);
	assert_int_equal(ccp_board_watch(b, NULL), 0);
	struct reads_wait rw = {b, 3};
	assert_true(ccp_test_uv_run_until(&loop, reads_done, &rw, 5000));
	/* idle_after_ms passes (the deadline scales, so wait past it) */
	ccp_test_uv_run_until(&loop, never, NULL, 600);
	uint64_t calls = evalsha_calls(c);
	assert_true(calls >= 3);
	ccp_test_uv_run_until(&loop, never, NULL, 500);
	assert_int_equal(evalsha_calls(c), calls);

	assert_int_equal(ccp_board_json(b, NULL, "billing", &doc, &len), 0);
	assert_non_null(strstr(doc, "\"window\":\"15m\""));
	assert_non_null(strstr(doc, "\"queues\":[{\"id\":\"billing\""));
	assert_null(strstr(doc, "\"id\":\"sales\""));
	free(doc);
	assert_int_equal(ccp_board_json(b, "1h", NULL, &doc, &len), -ENOENT); /* never watched */
	assert_int_equal(ccp_board_json(b, "bogus", NULL, &doc, &len), -EINVAL);
	struct ccp_board_stats st;
	ccp_board_stats(b, &st);
	assert_int_equal(st.reads_failed, 0);
	assert_int_equal(st.queues_last, 2);
	assert_true(st.redis_connected);

	bool closed = false;
	ccp_http_close(http, http_closed, &closed);
	ccp_board_close(b, NULL, NULL);
	ccp_test_uv_close_loop(&loop);
	assert_true(closed);
	redisFree(c);
	ccp_config_free(&cfg);
	ccp_test_redis_free(&redis);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_only_while_watched),
		cmocka_unit_test(test_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
