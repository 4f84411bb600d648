/* The wallboard's read of a whole center: how long one board read takes
 * (one EVALSHA round trip: SMEMBERS, HGETALL of every queue's live hash and
 * window hashes, totals, ZCARD, HVALS of the firing alerts), how much of
 * it is Redis's own time (INFO commandstats), and how long assembling one
 * /api/queues document takes on the loop.
 *
 * A private redis-server (a child on a free loopback port, stopped by PID)
 * is filled with QUEUES queues whose hashes carry every field of
 * metrics.md with realistic values; a board on a loop of its own reads it
 * every 100 ms while "watched", READS times, first for one window (15m),
 * then for all five.
 *
 * usage: bench_board [QUEUES] [READS]   (defaults 500 50)
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "ccpulse/board.h"
#include "ccpulse/config.h"
#include "ccpulse/http.h"
#include "ccpulse/log.h"
#include "ccpulse/redis_child.h"

static const char *const WINDOW_FIELDS[] = {
	"offered", "answered", "abandoned", "abandoned_short", "answered_in_sl", "service_level", "abandon_rate",
	"asa_ms", "wait_p50_ms", "wait_p90_ms", "wait_p99_ms", "max_wait_ms", "aht_ms", "transferred_out",
	"transferred_in", "ended", "resolved", "fcr_rate", "promises_made", "promises_due", "promises_kept_on_time",
	"promises_broken", "promises_kept_late", "promise_kept_rate", "csat_n", "csat_avg", "csat_satisfied_rate",
	"reliability_avg", "responsiveness_avg", "assurance_avg", "empathy_avg", "tangibles_avg",
	"complaints_opened", "complaints_resolved", "complaint_resolution_ms", "window_start", "window_end",
	"updated_at"};
static const char *const LIVE_FIELDS[] = {"waiting", "longest_wait_ms", "agents_available", "agents_busy",
					  "agents_wrap_up", "agents_away", "promises_open", "promises_overdue",
					  "complaints_open", "updated_at"};
static const char *const WINDOWS[] = {"5m", "15m", "1h", "24h", "today"};
#define NF(a) (sizeof(a) / sizeof(a[0]))

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One hash of `n` fields, values looking like the real ones (ratios with
 * six digits, ms, counts, epoch ms). */
static void fill_hash(redisContext *c, const char *key, const char *const *fields, size_t n, unsigned seed)
{
	const char *argv[2 + 2 * 64];
	size_t lens[2 + 2 * 64];
	static char vals[64][32];
	argv[0] = "HSET";
	argv[1] = key;
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i];
		unsigned r = seed * 2654435761u + (unsigned)i * 40503u;
		if (strstr(f, "rate") || !strcmp(f, "service_level"))
			snprintf(vals[i], sizeof(vals[i]), "0.%06u", r % 1000000);
		else if (strstr(f, "_avg"))
			snprintf(vals[i], sizeof(vals[i]), "%.4f", 1 + (r % 40000) / 10000.0);
		else if (strstr(f, "window_") || !strcmp(f, "updated_at"))
			snprintf(vals[i], sizeof(vals[i]), "%" PRIu64, (uint64_t)1795339800000ULL + r % 1000000);
		else if (strstr(f, "_ms"))
			snprintf(vals[i], sizeof(vals[i]), "%u", r % 600000);
		else
			snprintf(vals[i], sizeof(vals[i]), "%u", r % 5000);
		argv[2 + 2 * i] = f;
		argv[3 + 2 * i] = vals[i];
	}
	for (size_t i = 0; i < 2 + 2 * n; i++)
		lens[i] = strlen(argv[i]);
	redisAppendCommandArgv(c, (int)(2 + 2 * n), argv, lens);
}

static void fill(redisContext *c, int queues)
{
	char key[128];
	int pending = 0;
	for (int q = 0; q < queues; q++) {
		char id[32];
		snprintf(id, sizeof(id), "queue-%04d", q);
		redisAppendCommand(c, "SADD bench:queues %s", id);
		pending++;
		for (size_t w = 0; w < NF(WINDOWS); w++) {
			snprintf(key, sizeof(key), "bench:q:%s:%s", id, WINDOWS[w]);
			fill_hash(c, key, WINDOW_FIELDS, NF(WINDOW_FIELDS), (unsigned)(q * 7 + (int)w));
			pending++;
		}
		snprintf(key, sizeof(key), "bench:q:%s:live", id);
		fill_hash(c, key, LIVE_FIELDS, NF(LIVE_FIELDS), (unsigned)q);
		pending++;
	}
	for (size_t w = 0; w < NF(WINDOWS); w++) {
		snprintf(key, sizeof(key), "bench:total:%s", WINDOWS[w]);
		fill_hash(c, key, WINDOW_FIELDS, NF(WINDOW_FIELDS), 99 + (unsigned)w);
		pending++;
	}
	fill_hash(c, "bench:total:live", LIVE_FIELDS, NF(LIVE_FIELDS), 7);
	pending++;
	for (int i = 0; i < 100; i++) {
		redisAppendCommand(c, "ZADD bench:promises:overdue %d queue-%04d:p%d", i, i % queues, i);
		pending++;
	}
	for (int i = 0; i < 5; i++) {
		redisAppendCommand(c,
				   "HSET bench:state:firing r%d {\"rule\":\"sl_low\",\"kind\":\"service_level_below\","
				   "\"window\":\"15m\",\"queue\":\"queue-%04d\",\"state\":\"firing\",\"value\":0.71,"
				   "\"threshold\":0.8,\"ts\":1795339806409,\"since\":1795339800000}",
				   i, i);
		pending++;
	}
	for (int i = 0; i < pending; i++) {
		redisReply *r;
		if (redisGetReply(c, (void **)&r) != REDIS_OK || r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "bench_board: filling Redis failed\n");
			exit(1);
		}
		freeReplyObject(r);
	}
}

/* Redis's own microseconds per EVALSHA so far (INFO commandstats). */
static double evalsha_usec_per_call(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO commandstats");
	double v = -1;
	const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_evalsha:") : NULL;
	if (p && (p = strstr(p, "usec_per_call=")))
		v = strtod(p + 14, NULL);
	freeReplyObject(r);
	return v;
}

/* One measuring run of the loop. Owner: measure()'s frame; main thread (the loop's). */
struct run {
	uv_loop_t *loop;
	struct ccp_board *board;
	uint64_t want;
	int nwin;
	uv_timer_t t;
};

static void on_check(uv_timer_t *t)
{
	struct run *r = t->data;
	for (int w = 0; w < r->nwin; w++) /* someone keeps looking */
		ccp_board_watch(r->board, WINDOWS[r->nwin == 1 ? 1 : w]);
	struct ccp_board_stats st;
	ccp_board_stats(r->board, &st);
	if (st.reads_ok + st.reads_failed >= r->want)
		uv_stop(r->loop);
}

static void measure(uv_loop_t *loop, struct ccp_board *b, redisContext *c, int nwin, uint64_t reads)
{
	struct ccp_board_stats before, after;
	redisReply *rr = redisCommand(c, "CONFIG RESETSTAT");
	freeReplyObject(rr);
	ccp_board_stats(b, &before);
	for (int w = 0; w < nwin; w++)
		ccp_board_watch(b, WINDOWS[nwin == 1 ? 1 : w]);
	struct run r = {.loop = loop, .board = b, .want = before.reads_ok + before.reads_failed + reads, .nwin = nwin};
	uv_timer_init(loop, &r.t);
	r.t.data = &r;
	uv_timer_start(&r.t, on_check, 10, 10);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_timer_stop(&r.t);
	uv_close((uv_handle_t *)&r.t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	ccp_board_stats(b, &after);
	uint64_t ok = after.reads_ok - before.reads_ok;
	double mean_ms = ok ? (double)(after.read_us_sum - before.read_us_sum) / (double)ok / 1000.0 : 0;
	/* Assembling the document a client gets, on the loop. */
	char *doc = NULL;
	size_t len = 0;
	int n = 200;
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		free(doc);
		doc = NULL;
		if (ccp_board_json(b, "15m", NULL, &doc, &len)) {
			fprintf(stderr, "bench_board: no document\n");
			exit(1);
		}
	}
	double build_us = (now_s() - t0) / n * 1e6;
	size_t build_len = len;
	free(doc);
	doc = NULL;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		free(doc);
		doc = NULL;
		if (ccp_board_json(b, "15m", "queue-0001,queue-0002,queue-0003", &doc, &len)) {
			fprintf(stderr, "bench_board: no document\n");
			exit(1);
		}
	}
	double team_us = (now_s() - t0) / n * 1e6;
	size_t team_len = len;
	free(doc);
	len = build_len;
	printf("%d window%s: %" PRIu64 " reads ok, %" PRIu64 " failed; read (submit to answer) mean %.2f ms, max %.2f ms; "
	       "Redis's EVALSHA %.2f ms per call; answer %zu bytes for %u queues\n"
	       "  /api/queues document: %zu bytes, built in %.0f us (whole center), %.0f us (3 queues, %zu bytes)\n",
	       nwin, nwin == 1 ? "" : "s", ok, after.reads_failed - before.reads_failed, mean_ms,
	       (double)after.read_us_max / 1000.0, evalsha_usec_per_call(c) / 1000.0, after.reply_bytes_last,
	       after.queues_last, len ? len : (size_t)0, build_us, team_us, team_len);
}

static void on_http_closed(void *ud)
{
	(void)ud;
}

int main(int argc, char **argv)
{
	int queues = argc > 1 ? atoi(argv[1]) : 500;
	uint64_t reads = argc > 2 ? strtoull(argv[2], NULL, 10) : 50;
	if (queues < 1 || reads < 1) {
		fprintf(stderr, "usage: bench_board [QUEUES] [READS]\n");
		return 2;
	}
	char err[512];
	int port = ccp_redis_child_free_port();
	pid_t pid = ccp_redis_child_start(port, err, sizeof(err));
	if (pid < 0) {
		fprintf(stderr, "bench_board: %s\n", err);
		return 1;
	}
	redisContext *c = redisConnect("127.0.0.1", port);
	if (!c || c->err) {
		fprintf(stderr, "bench_board: cannot connect to redis\n");
		ccp_redis_child_stop(pid);
		return 1;
	}
	double t0 = now_s();
	fill(c, queues);
	printf("bench_board: %d queues x (5 windows of %zu fields + live of %zu) written in %.1f s\n", queues,
	       NF(WINDOW_FIELDS), NF(LIVE_FIELDS), now_s() - t0);

	struct ccp_config cfg;
	ccp_config_defaults(&cfg);
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
	if (ccp_config_set(&cfg, "redis.url", url, err, sizeof(err)) ||
	    ccp_config_set(&cfg, "prefix", "bench", err, sizeof(err)) ||
	    ccp_config_set(&cfg, "publish_interval", "100ms", err, sizeof(err)) ||
	    ccp_config_finish(&cfg, err, sizeof(err))) {
		fprintf(stderr, "bench_board: %s\n", err);
		return 1;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct ccp_http_opts ho;
	ccp_http_opts_defaults(&ho);
	ho.addr = "127.0.0.1:0";
	struct ccp_http *http = ccp_http_new(&loop, &ho, err, sizeof(err));
	struct ccp_board_opts bo;
	ccp_board_opts_defaults(&bo);
	bo.cfg = &cfg;
	struct ccp_board *b = http ? ccp_board_new(&loop, http, &bo, err, sizeof(err)) : NULL;
	if (!b) {
		fprintf(stderr, "bench_board: %s\n", err);
		return 1;
	}
	measure(&loop, b, c, 1, reads);
	measure(&loop, b, c, 5, reads);

	ccp_http_close(http, on_http_closed, NULL);
	ccp_board_close(b, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	redisFree(c);
	ccp_config_free(&cfg);
	ccp_redis_child_stop(pid);
	return 0;
}
