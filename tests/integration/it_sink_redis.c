/* Integration tests of sink_redis against private redis-server processes
 * on free loopback ports: batches written and read back, ack order, AUTH
 * (ACL user, requirepass, wrong password), SELECT, kill -9 and restart on
 * the same port, SIGSTOP/SIGCONT, error replies inside EXEC, backlog
 * limits, Lua with NOSCRIPT fallback, unix sockets, name resolution, and
 * flush at close. Callbacks are counted and every loop ends with
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccp_test.h"
#include "ccpulse/cmdbuf.h"
#include "ccpulse/sink_redis.h"

#define MAX_TOKENS 20000

/* One test's loop and sink with callback counters. Owner: the test. */
struct ctx {
	uv_loop_t loop;
	struct ccp_sink_redis *s;
	int acks;
	int errors;
	int cancelled;
	int closed;
	bool order_ok;        /* every callback's token was the next expected */
	uint64_t next_token;  /* token the next ack/error callback must carry */
	uint64_t submitted;   /* tokens 0..submitted-1 were submitted */
	int last_error_code;
	uint64_t last_error_token;
	char last_error[256];
	int state_changes[CCP_SINK_REDIS__STATE_COUNT];
	/* feeder: submit up to `target` batches, keeping the backlog under
	 * `feed_backlog_bytes`; wait condition `want_acks`. */
	uint64_t target;
	size_t feed_backlog_bytes;
	int want_acks;
	int rejected;         /* -ENOBUFS seen by the feeder */
};

static void ack_cb(void *ud, uint64_t token)
{
	struct ctx *c = ud;
	if (token != c->next_token)
		c->order_ok = false;
	c->next_token = token + 1;
	c->acks++;
}

static void error_cb(void *ud, uint64_t token, int code, const char *msg)
{
	struct ctx *c = ud;
	if (token != c->next_token)
		c->order_ok = false;
	c->next_token = token + 1;
	if (code == -ECANCELED) {
		c->cancelled++;
		return;
	}
	c->errors++;
	c->last_error_code = code;
	c->last_error_token = token;
	snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
}

static void state_cb(void *ud, enum ccp_sink_redis_state st, const char *why)
{
	struct ctx *c = ud;
	(void)why;
	c->state_changes[st]++;
}

static void close_cb(void *ud)
{
	((struct ctx *)ud)->closed++;
}

/* Test-speed settings: short timeouts and backoff, scaled. */
static void ctx_open(struct ctx *c, const char *url, void (*tweak)(struct ccp_sink_redis_opts *))
{
	memset(c, 0, sizeof(*c));
	c->order_ok = true;
	assert_int_equal(uv_loop_init(&c->loop), 0);
	struct ccp_sink_redis_opts o;
	ccp_sink_redis_opts_defaults(&o);
	char err[256];
	if (ccp_redis_url_parse(&o.url, url, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	o.connect_timeout_ms = ccp_test_ms(1000);
	o.command_timeout_ms = ccp_test_ms(700);
	o.ping_interval_ms = 200;
	o.backoff_min_ms = 20;
	o.backoff_max_ms = 250;
	o.ack_cb = ack_cb;
	o.error_cb = error_cb;
	o.state_cb = state_cb;
	o.ud = c;
	if (tweak)
		tweak(&o);
	c->s = ccp_sink_redis_new(&c->loop, &o, err, sizeof(err));
	if (!c->s)
		fail_msg("ccp_sink_redis_new: %s", err);
}

static void ctx_close(struct ctx *c, enum ccp_sink_redis_close_mode mode)
{
	assert_int_equal(ccp_sink_redis_close(c->s, mode, ccp_test_ms(5000), close_cb, c), 0);
	ccp_test_uv_close_loop(&c->loop);
	assert_int_equal(c->closed, 1);
}

/* Batch `token`: DEL+HSET of it:{token} and SADD it:all, through a
 * cmdbuf (the pipeline's path). */
static int submit_batch(struct ctx *c, uint64_t token)
{
	struct ccp_cmdbuf cb;
	ccp_cmdbuf_init(&cb);
	char key[32];
	snprintf(key, sizeof(key), "it:%llu", (unsigned long long)token);
	ccp_cmdbuf_begin(&cb);
	ccp_cmdbuf_arg_str(&cb, "DEL");
	ccp_cmdbuf_arg_str(&cb, key);
	ccp_cmdbuf_begin(&cb);
	ccp_cmdbuf_arg_str(&cb, "HSET");
	ccp_cmdbuf_arg_str(&cb, key);
	ccp_cmdbuf_arg_str(&cb, "token");
	ccp_cmdbuf_arg_i64(&cb, (int64_t)token);
	ccp_cmdbuf_arg_str(&cb, "pad");
	ccp_cmdbuf_arg_str(&cb, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	ccp_cmdbuf_begin(&cb);
	ccp_cmdbuf_arg_str(&cb, "SADD");
	ccp_cmdbuf_arg_str(&cb, "it:all");
	ccp_cmdbuf_arg_i64(&cb, (int64_t)token);
	int r = ccp_sink_redis_submit_cmdbuf(c->s, &cb, token);
	ccp_cmdbuf_deinit(&cb);
	if (r == 0)
		c->submitted = token + 1;
	return r;
}

/* Wait condition that also feeds batches between loop turns. */
static bool feed_until_acks(void *arg)
{
	struct ctx *c = arg;
	while (c->submitted < c->target && ccp_sink_redis_backlog_bytes(c->s) < c->feed_backlog_bytes) {
		int r = submit_batch(c, c->submitted);
		if (r == -ENOBUFS) {
			c->rejected++;
			break;
		}
		assert_int_equal(r, 0);
	}
	return c->acks + c->errors >= c->want_acks;
}

static bool is_ready(void *arg)
{
	return ccp_sink_redis_ready(((struct ctx *)arg)->s);
}

static struct ccp_sink_redis_stats stats_of(struct ctx *c)
{
	struct ccp_sink_redis_stats st;
	ccp_sink_redis_stats(c->s, &st);
	return st;
}

/* Every batch 0..n-1 is in Redis with its own token. */
static void check_batches(redisContext *rc, uint64_t n)
{
	assert_int_equal(ccp_test_redis_int(rc, "SCARD it:all"), (long long)n);
	for (uint64_t t = 0; t < n; t++) {
		redisReply *rep = ccp_test_redis_cmd(rc, "HGET it:%llu token", (unsigned long long)t);
		if (rep->type != REDIS_REPLY_STRING || strtoull(rep->str, NULL, 10) != t)
			fail_msg("batch %llu missing or wrong in Redis", (unsigned long long)t);
		freeReplyObject(rep);
	}
}

static void run_feed(struct ctx *c, uint64_t target, int timeout_ms)
{
	c->target = target;
	c->want_acks = (int)target;
	if (!c->feed_backlog_bytes)
		c->feed_backlog_bytes = 256 * 1024;
	if (!ccp_test_uv_run_until(&c->loop, feed_until_acks, c, timeout_ms)) {
		struct ccp_sink_redis_stats st = stats_of(c);
		fail_msg("%d of %llu acks within %d ms; state %s, last error: %s", c->acks, (unsigned long long)target,
			 ccp_test_ms(timeout_ms), ccp_sink_redis_state_name(st.state), st.last_error);
	}
}

/* ---- tests -------------------------------------------------------------- */

static void test_many_batches(void **state)
{
	(void)state;
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, NULL);
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	assert_false(ccp_sink_redis_ready(c.s));
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	assert_int_equal(ccp_sink_redis_start(c.s), -EALREADY);

	long long t0 = ccp_test_now_ms();
	run_feed(&c, 5000, 20000);
	long long ms = ccp_test_now_ms() - t0;
	printf("# 5000 batches (3 commands each) acked in %lld ms\n", ms);
	assert_true(c.order_ok);
	assert_int_equal(c.acks, 5000);
	assert_int_equal(c.errors, 0);
	assert_true(ccp_sink_redis_ready(c.s));
	struct ccp_sink_redis_stats st = stats_of(&c);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.batches_acked, 5000);
	assert_int_equal(st.backlog_bytes, 0);
	assert_int_equal(st.backlog_batches, 0);
	assert_int_equal(c.state_changes[CCP_SINK_REDIS_CONNECTED], 1);

	/* A publish arrives, after the data it follows. */
	redisContext *sub = ccp_test_redis_connect(r);
	freeReplyObject(ccp_test_redis_cmd(sub, "SUBSCRIBE it:updates"));
	assert_int_equal(submit_batch(&c, 5000), 0);
	assert_int_equal(ccp_sink_redis_publish(c.s, "it:updates", 10, "hello", 5), 0);
	c.want_acks = 5001;
	c.target = 5001;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 5000));
	redisReply *msg = NULL;
	assert_int_equal(redisGetReply(sub, (void **)&msg), REDIS_OK);
	assert_int_equal(msg->type, REDIS_REPLY_ARRAY);
	assert_int_equal(msg->elements, 3);
	assert_string_equal(msg->element[2]->str, "hello");
	freeReplyObject(msg);
	redisFree(sub);

	redisContext *rc = ccp_test_redis_connect(r);
	check_batches(rc, 5001);
	redisFree(rc);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
	assert_int_equal(c.cancelled, 0);
}

static void test_auth_acl_and_select(void **state)
{
	(void)state;
	struct ccp_test_redis_opts ro = {.requirepass = "defaultpw", .acl_user = "ccpulse", .acl_pass = "p@ss:w/rd%"};
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, &ro);
	char url[700];
	snprintf(url, sizeof(url), "%s/3", r->url); /* percent-encoded user:pass, db 3 */
	struct ctx c;
	ctx_open(&c, url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	run_feed(&c, 10, 5000);
	assert_true(c.order_ok);
	redisContext *rc = ccp_test_redis_connect(r);
	assert_int_equal(ccp_test_redis_int(rc, "EXISTS it:all"), 0); /* not in db 0 */
	freeReplyObject(ccp_test_redis_cmd(rc, "SELECT 3"));
	check_batches(rc, 10);
	redisFree(rc);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

static void test_auth_requirepass(void **state)
{
	(void)state;
	struct ccp_test_redis_opts ro = {.requirepass = "s3cret"};
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, &ro);
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	run_feed(&c, 10, 5000);
	redisContext *rc = ccp_test_redis_connect(r);
	check_batches(rc, 10);
	redisFree(rc);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

static bool auth_failed_twice(void *arg)
{
	return stats_of(arg).auth_errors >= 2;
}

/* Wrong password, and no password at all: a clear error, not ready, the
 * batch kept (and cancelled at close). */
static void test_auth_wrong(void **state)
{
	(void)state;
	struct ccp_test_redis_opts ro = {.requirepass = "right"};
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, &ro);
	const char *what[] = {"redis://:wrong@127.0.0.1:%d", "redis://127.0.0.1:%d"};
	const char *want[] = {"AUTH failed: WRONGPASS", "PING failed: NOAUTH"};
	for (int i = 0; i < 2; i++) {
		char url[128];
		snprintf(url, sizeof(url), what[i], r->port);
		struct ctx c;
		ctx_open(&c, url, NULL);
		assert_int_equal(ccp_sink_redis_start(c.s), 0);
		assert_int_equal(submit_batch(&c, 0), 0);
		assert_true(ccp_test_uv_run_until(&c.loop, auth_failed_twice, &c, 5000));
		struct ccp_sink_redis_stats st = stats_of(&c);
		if (!strstr(st.last_error, want[i]))
			fail_msg("last_error '%s' lacks '%s'", st.last_error, want[i]);
		assert_false(ccp_sink_redis_ready(c.s));
		assert_int_equal(st.connects, 0);
		assert_true(st.connect_failures >= 2);
		assert_int_equal(c.acks, 0);
		assert_int_equal(st.backlog_batches, 1);
		ctx_close(&c, CCP_SINK_REDIS_DROP);
		assert_int_equal(c.cancelled, 1);
	}
}

static bool down_seen(void *arg)
{
	struct ctx *c = arg;
	feed_until_acks(c);
	struct ccp_sink_redis_stats st = stats_of(c);
	/* Down, refused at least once (the reconnect path), all submitted. */
	return st.disconnects >= 1 && st.connect_failures >= 1 && c->submitted >= c->target;
}

/* kill -9 mid-stream, keep submitting while it is down, restart on the
 * same port: every batch lands (AOF fsync always keeps acked ones), every
 * ack fires, in order. */
static void test_kill9_restart(void **state)
{
	(void)state;
	struct ccp_test_redis_opts ro = {.appendfsync_always = true};
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, &ro);
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	c.feed_backlog_bytes = 64 * 1024;
	c.target = 3000;
	c.want_acks = 1000;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 20000));
	int acked_before = c.acks;
	ccp_test_redis_kill9(r);
	/* Feed the rest while the server is gone. */
	c.feed_backlog_bytes = 8 * 1024 * 1024;
	assert_true(ccp_test_uv_run_until(&c.loop, down_seen, &c, 5000));
	assert_false(ccp_sink_redis_ready(c.s));
	int acked_down = c.acks;
	ccp_test_redis_restart(r);
	run_feed(&c, 3000, 20000);
	struct ccp_sink_redis_stats st = stats_of(&c);
	printf("# kill -9 at %d acks, %d acked when down seen; resent %llu, connect failures %llu\n", acked_before,
	       acked_down, (unsigned long long)st.batches_resent, (unsigned long long)st.connect_failures);
	assert_true(c.order_ok);
	assert_int_equal(c.acks, 3000);
	assert_int_equal(c.errors, 0);
	assert_true(st.disconnects >= 1);
	assert_true(st.connects >= 2);
	redisContext *rc = ccp_test_redis_connect(r);
	check_batches(rc, 3000);
	redisFree(rc);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

static bool command_timed_out(void *arg)
{
	return stats_of(arg).command_timeouts >= 1;
}

static void test_sigstop(void **state)
{
	(void)state;
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, NULL);
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	run_feed(&c, 1, 5000);
	ccp_test_pause_pid(r->pid);
	assert_int_equal(submit_batch(&c, 1), 0);
	assert_true(ccp_test_uv_run_until(&c.loop, command_timed_out, &c, 5000));
	assert_false(ccp_sink_redis_ready(c.s));
	assert_int_equal(c.acks, 1);
	ccp_test_resume_pid(r->pid);
	run_feed(&c, 2, 10000);
	assert_true(c.order_ok);
	assert_true(ccp_test_uv_run_until(&c.loop, is_ready, &c, 5000));
	redisContext *rc = ccp_test_redis_connect(r);
	check_batches(rc, 2);
	redisFree(rc);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

static int submit_argv(struct ctx *c, uint64_t token, int n, const char *const *const *argvs, int script)
{
	struct ccp_sink_redis_cmd cmds[4];
	size_t lens[4][8];
	for (int i = 0; i < n; i++) {
		int argc = 0;
		while (argvs[i][argc]) {
			lens[i][argc] = strlen(argvs[i][argc]);
			argc++;
		}
		cmds[i] = (struct ccp_sink_redis_cmd){.argc = argc, .argv = argvs[i], .argvlen = lens[i],
						      .script = i == 0 ? script : -1};
	}
	int rc = ccp_sink_redis_submit(c->s, cmds, (size_t)n, token);
	if (rc == 0)
		c->submitted = token + 1;
	return rc;
}

/* An error reply inside EXEC (WRONGTYPE) and an EXECABORT (unknown
 * command) are reported with the Redis text and dropped; later batches
 * land. */
static void test_exec_errors(void **state)
{
	(void)state;
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, NULL);
	redisContext *rc = ccp_test_redis_connect(r);
	freeReplyObject(ccp_test_redis_cmd(rc, "SET str x"));
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	assert_int_equal(submit_batch(&c, 0), 0);
	const char *const wrongtype0[] = {"HSET", "str", "f", "v", NULL};
	const char *const ok1[] = {"SET", "after1", "1", NULL};
	const char *const *b1[] = {ok1, wrongtype0};
	assert_int_equal(submit_argv(&c, 1, 2, b1, -1), 0);
	const char *const bogus[] = {"NOSUCHCMD", "x", NULL};
	const char *const *b2[] = {ok1, bogus};
	assert_int_equal(submit_argv(&c, 2, 2, b2, -1), 0);
	c.feed_backlog_bytes = 1 << 20;
	c.submitted = 3;
	c.target = 3;
	c.want_acks = 3;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 5000));
	assert_int_equal(c.errors, 2);
	assert_int_equal(c.last_error_code, -EPROTO);
	assert_int_equal(c.last_error_token, 2);
	if (!strstr(c.last_error, "unknown command"))
		fail_msg("EXECABORT reported as '%s'", c.last_error);
	/* Later batches flow. */
	const char *const later[] = {"SET", "later", "1", NULL};
	const char *const *b3[] = {later};
	assert_int_equal(submit_argv(&c, 3, 1, b3, -1), 0);
	c.want_acks = 4;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 5000));
	assert_int_equal(c.acks, 2);
	assert_true(c.order_ok);
	struct ccp_sink_redis_stats st = stats_of(&c);
	assert_int_equal(st.batches_failed, 2);
	assert_int_equal(st.connects, 1); /* no reconnect for a rejected batch */
	assert_int_equal(ccp_test_redis_int(rc, "EXISTS later"), 1);
	/* WRONGTYPE happened at EXEC: the batch's other command did run. */
	assert_int_equal(ccp_test_redis_int(rc, "EXISTS after1"), 1);
	redisFree(rc);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

static void small_backlog(struct ccp_sink_redis_opts *o)
{
	o->max_backlog_bytes = 16 * 1024;
}

/* Submits fail with -ENOBUFS at the limit (nothing is connected yet),
 * -E2BIG for a batch bigger than the limit; after connecting all drain. */
static void test_backlog_limit(void **state)
{
	(void)state;
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, NULL);
	struct ctx c;
	ctx_open(&c, r->url, small_backlog);
	int n = 0, rc;
	while ((rc = submit_batch(&c, (uint64_t)n)) == 0)
		n++;
	assert_int_equal(rc, -ENOBUFS);
	assert_true(n > 10);
	assert_true(ccp_sink_redis_backlog_bytes(c.s) <= 16 * 1024);
	assert_true(ccp_sink_redis_backlog_bytes(c.s) > 12 * 1024);
	static char big[20000];
	memset(big, 'b', sizeof(big));
	const char *argv[3] = {"SET", "big", big};
	size_t lens[3] = {3, 3, sizeof(big)};
	struct ccp_sink_redis_cmd cmd = {.argc = 3, .argv = argv, .argvlen = lens, .script = -1};
	assert_int_equal(ccp_sink_redis_submit(c.s, &cmd, 1, 999), -E2BIG);
	assert_int_equal(ccp_sink_redis_submit(c.s, &cmd, 0, 999), -EINVAL);
	struct ccp_sink_redis_stats st = stats_of(&c);
	assert_int_equal(st.backlog_rejections, 1);
	assert_int_equal(st.backlog_batches, (size_t)n);

	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	c.feed_backlog_bytes = 8 * 1024;
	run_feed(&c, (uint64_t)n + 100, 10000);
	assert_true(c.order_ok);
	assert_int_equal(ccp_sink_redis_backlog_bytes(c.s), 0);
	redisContext *rcx = ccp_test_redis_connect(r);
	check_batches(rcx, (uint64_t)n + 100);
	redisFree(rcx);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

/* EVALSHA of a registered script; after SCRIPT FLUSH the NOSCRIPT answer
 * leads to a resend with EVAL; nothing is lost. */
static void test_script_noscript(void **state)
{
	(void)state;
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, NULL);
	redisContext *rc = ccp_test_redis_connect(r);
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	const char *lua = "redis.call('HSET', KEYS[1], 'v', ARGV[1]) return 1";
	int idx = ccp_sink_redis_script_add(c.s, lua, strlen(lua));
	assert_int_equal(idx, 0);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	assert_true(ccp_test_uv_run_until(&c.loop, is_ready, &c, 5000));
	const char *const call1[] = {"1", "sc:1", "one", NULL};
	const char *const plain[] = {"SET", "sc:plain", "1", NULL};
	const char *const *b0[] = {call1, plain};
	assert_int_equal(submit_argv(&c, 0, 2, b0, idx), 0);
	c.submitted = 1;
	c.target = 1;
	c.want_acks = 1;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 5000));
	assert_int_equal(c.acks, 1);
	redisReply *rep = ccp_test_redis_cmd(rc, "HGET sc:1 v");
	assert_string_equal(rep->str, "one");
	freeReplyObject(rep);
	assert_int_equal(stats_of(&c).noscript, 0);

	freeReplyObject(ccp_test_redis_cmd(rc, "SCRIPT FLUSH"));
	const char *const call2[] = {"1", "sc:2", "two", NULL};
	const char *const *b1[] = {call2};
	assert_int_equal(submit_argv(&c, 1, 1, b1, idx), 0);
	const char *const call3[] = {"1", "sc:3", "three", NULL};
	const char *const *b2[] = {call3};
	assert_int_equal(submit_argv(&c, 2, 1, b2, idx), 0);
	c.target = 3;
	c.want_acks = 3;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 5000));
	assert_int_equal(c.acks, 3);
	assert_int_equal(c.errors, 0);
	assert_true(c.order_ok);
	assert_true(stats_of(&c).noscript >= 1);
	rep = ccp_test_redis_cmd(rc, "HGET sc:3 v");
	assert_string_equal(rep->str, "three");
	freeReplyObject(rep);
	rep = ccp_test_redis_cmd(rc, "HGET sc:2 v");
	assert_string_equal(rep->str, "two");
	freeReplyObject(rep);
	redisFree(rc);
	assert_int_equal(ccp_sink_redis_script_add(c.s, "", 0), -EINVAL);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);
}

/* unix:// socket and a host name (resolved through uv_getaddrinfo). */
static void test_unix_and_name(void **state)
{
	(void)state;
	struct ccp_test_redis_opts ro = {.unixsocket = true};
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, &ro);
	char url[512];
	snprintf(url, sizeof(url), "unix://%s?db=2", r->sock);
	struct ctx c;
	ctx_open(&c, url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	run_feed(&c, 5, 5000);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);

	snprintf(url, sizeof(url), "redis://localhost:%d/2", r->port);
	ctx_open(&c, url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	c.submitted = 5;
	c.next_token = 5;
	c.target = 10;
	c.want_acks = 5;
	c.feed_backlog_bytes = 1 << 20;
	assert_true(ccp_test_uv_run_until(&c.loop, feed_until_acks, &c, 5000));
	assert_true(c.order_ok);
	assert_int_equal(c.state_changes[CCP_SINK_REDIS_RESOLVING] >= 1, 1);
	ctx_close(&c, CCP_SINK_REDIS_FLUSH);

	redisContext *rc = ccp_test_redis_connect(r);
	freeReplyObject(ccp_test_redis_cmd(rc, "SELECT 2"));
	check_batches(rc, 10);
	redisFree(rc);
}

/* close(FLUSH) right after submitting: every batch is acked before the
 * close callback; a closed sink refuses nothing because it is gone, and
 * close(DROP) of a never-started sink cancels its batches. */
static void test_close(void **state)
{
	(void)state;
	struct ccp_test_redis *r = *state;
	ccp_test_redis_start(r, NULL);
	struct ctx c;
	ctx_open(&c, r->url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	for (uint64_t t = 0; t < 200; t++)
		assert_int_equal(submit_batch(&c, t), 0);
	assert_int_equal(ccp_sink_redis_close(c.s, CCP_SINK_REDIS_FLUSH, ccp_test_ms(5000), close_cb, &c), 0);
	assert_int_equal(submit_batch(&c, 200), -ESHUTDOWN);
	assert_int_equal(ccp_sink_redis_close(c.s, CCP_SINK_REDIS_DROP, 0, close_cb, &c), -EALREADY);
	ccp_test_uv_close_loop(&c.loop);
	assert_int_equal(c.closed, 1);
	assert_int_equal(c.acks, 200);
	assert_int_equal(c.cancelled, 0);
	assert_true(c.order_ok);

	ctx_open(&c, r->url, NULL);
	for (uint64_t t = 0; t < 3; t++)
		assert_int_equal(submit_batch(&c, t), 0);
	ctx_close(&c, CCP_SINK_REDIS_DROP);
	assert_int_equal(c.cancelled, 3);
	assert_true(c.order_ok);

	/* FLUSH towards a server that is gone ends at its deadline. */
	ccp_test_redis_stop(r);
	ctx_open(&c, r->url, NULL);
	assert_int_equal(ccp_sink_redis_start(c.s), 0);
	for (uint64_t t = 0; t < 2; t++)
		assert_int_equal(submit_batch(&c, t), 0);
	long long t0 = ccp_test_now_ms();
	assert_int_equal(ccp_sink_redis_close(c.s, CCP_SINK_REDIS_FLUSH, 300, close_cb, &c), 0);
	ccp_test_uv_close_loop(&c.loop);
	long long took = ccp_test_now_ms() - t0;
	assert_int_equal(c.closed, 1);
	assert_int_equal(c.cancelled, 2);
	assert_true(took >= 290 && took < ccp_test_ms(2000));
}

/* Each test's server lives in *state, so a failed test still stops it. */
static int setup(void **state)
{
	*state = calloc(1, sizeof(struct ccp_test_redis));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	ccp_test_redis_free(*state);
	free(*state);
	return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_many_batches),   T(test_auth_acl_and_select), T(test_auth_requirepass), T(test_auth_wrong),
		T(test_kill9_restart),  T(test_sigstop),             T(test_exec_errors),      T(test_backlog_limit),
		T(test_script_noscript), T(test_unix_and_name),      T(test_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
