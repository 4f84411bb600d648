/* The `ccpulse run` binary ($CCP_BIN) as an operator runs it, against
 * librdkafka's mock cluster (in this process, loopback) and a private
 * redis-server: contact events produced to a 4-partition topic show in
 * Redis; SIGTERM makes it exit 0 within a few seconds, and a fresh
 * consumer then reads the group's committed offsets at the end of every
 * partition (a clean stop commits what Redis acknowledged: everything). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "ccp_test.h"
#include "ccpulse/broker.h"
#include "ccpulse/log.h"
#include "ccpulse/source_kafka.h"

#define TOPIC "contact-events"
#define AGENT_TOPIC "agent-events"
#define PARTITIONS 4
#define GROUP "g-run"
#define NQ 6         /* queues (message keys) */
#define CONTACTS 40  /* per queue: an offered and an answered event each */
#define N_GOOD_MSGS (NQ * CONTACTS * 2)
#define DEAD_TOPIC "ccpulse-dead"
#define N_BAD 3 /* bad lines on the contact topic: one per reason below */
#define N_CONTACT_MSGS (N_GOOD_MSGS + N_BAD)

static const char *const queues[NQ] = {"billing", "sales", "support", "retention", "tech", "claims"};

/* Everything a test owns; teardown releases what is set. */
struct world {
	struct ccp_broker *broker;
	struct ccp_test_redis redis;
	char dir[256];              /* config file and the child's log */
	pid_t pid;                  /* the ccpulse child, 0 when reaped */
	int64_t per_part[PARTITIONS]; /* delivered contact messages per partition */
	int64_t delivered, dr_errors;
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	char err[256];
	struct ccp_broker_topic topics[] = {{TOPIC, PARTITIONS}, {AGENT_TOPIC, 1}, {DEAD_TOPIC, 1}};
	w->broker = ccp_broker_start(1, topics, 3, err, sizeof(err));
	if (!w->broker)
		fail_msg("broker: %s", err);
	ccp_test_redis_start(&w->redis, NULL);
	ccp_test_tmpdir_make(w->dir, sizeof(w->dir), "run");
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	if (w->pid > 0) /* a failed test left it running */
		ccp_test_kill9_pid(w->pid);
	ccp_test_redis_free(&w->redis);
	ccp_broker_stop(w->broker);
	ccp_test_tmpdir_remove(w->dir);
	free(w);
	return 0;
}

/* ---- producing ------------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct world *w = opaque;
	/* Delivery reports run in rd_kafka_poll/flush on the test thread. */
	if (m->err || m->partition < 0 || m->partition >= PARTITIONS) {
		w->dr_errors++;
		return;
	}
	w->per_part[m->partition]++;
	w->delivered++;
}

static void send_line(rd_kafka_t *rk, const char *key, const char *line)
{
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, strlen(key)),
				      RD_KAFKA_V_VALUE((void *)line, strlen(line)),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(rk, 10);
	assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_poll(rk, 0);
}

/* Per queue CONTACTS voice contacts, each offered then answered 1.5 s
 * later, all in the last minute of wall time (live mode rejects events
 * too far ahead of the clock, and the 5m window must still hold them while
 * the test runs). Keyed by queue, as the contract says. */
static void produce_contacts(struct world *w)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", ccp_broker_bootstrap(w->broker), err,
					   sizeof(err)),
			 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)), RD_KAFKA_CONF_OK);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, w);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
		fail_msg("producer: %s", err);
	int64_t base = ccp_log_wall_ms() - 60000;
	char line[512];
	for (int q = 0; q < NQ; q++)
		for (int i = 0; i < CONTACTS; i++) {
			int64_t ts = base + (int64_t)i * 1000 + q;
			snprintf(line, sizeof(line),
				 "{\"id\":\"%s-%d-o\",\"type\":\"contact.offered\",\"ts\":%" PRId64
				 ",\"queue\":\"%s\",\"contact\":\"%s-c%d\",\"channel\":\"voice\"}",
				 queues[q], i, ts, queues[q], queues[q], i);
			send_line(rk, queues[q], line);
			snprintf(line, sizeof(line),
				 "{\"id\":\"%s-%d-a\",\"type\":\"contact.answered\",\"ts\":%" PRId64
				 ",\"queue\":\"%s\",\"contact\":\"%s-c%d\",\"agent\":\"a%d\"}",
				 queues[q], i, ts + 1500, queues[q], queues[q], i, i);
			send_line(rk, queues[q], line);
		}
	/* Bad input: counted by reason, copied to the dead-letter topic, and
	 * committed past like any other message. */
	static const char *const bad[N_BAD] = {
	    "{\"id\":\"bad-1\",", /* bad_json */
	    "{\"id\":\"bad-2\",\"type\":\"contact.offered\",\"ts\":1}", /* missing_field: queue */
	    "{\"id\":\"bad-3\",\"type\":\"contact.teleported\",\"ts\":1,\"queue\":\"sales\",\"contact\":\"c\"}"};
	for (int i = 0; i < N_BAD; i++)
		send_line(rk, "billing", bad[i]);
	assert_int_equal(rd_kafka_flush(rk, ccp_test_ms(30000)), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
	assert_int_equal(w->dr_errors, 0);
	assert_int_equal(w->delivered, N_CONTACT_MSGS);
}

/* ---- the child ---------------------------------------------------------------------- */

static void start_run(struct world *w)
{
	const char *bin = ccp_test_bin();
	/* What flags cannot say: librdkafka settings pass through the file
	 * only. earliest: the group has no committed offsets and the events
	 * are already there. A short session keeps the mock's group quick. */
	ccp_test_write_file(w->dir, "ccpulse.yaml",
			    "kafka:\n"
			    "  auto.offset.reset: earliest\n"
			    "  dead_letter_topic: " DEAD_TOPIC "\n"
			    "  session.timeout.ms: 6000\n"
			    "  heartbeat.interval.ms: 300\n"
			    "http:\n"
			    "  addr: 127.0.0.1:0\n"
			    "log:\n"
			    "  level: info\n");
	char cfg[512], logpath[512];
	snprintf(cfg, sizeof(cfg), "%s/ccpulse.yaml", w->dir);
	snprintf(logpath, sizeof(logpath), "%s/ccpulse.log", w->dir);
	const char *argv[] = {bin,
			      "run",
			      "-c",
			      cfg,
			      "--brokers",
			      ccp_broker_bootstrap(w->broker),
			      "--redis",
			      w->redis.url,
			      "--group",
			      GROUP,
			      "--publish-interval",
			      "100ms",
			      NULL};
	unlink(logpath);
	pid_t pid = ccp_test_spawn(argv, logpath);
	w->pid = pid;
}

/* Prints the child's log (on failure, or the last lines for the record). */
static void print_log(const struct world *w)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/ccpulse.log", w->dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[1024];
	print_message("---- ccpulse run log ----\n");
	while (fgets(line, sizeof(line), f))
		print_message("%s", line);
	print_message("---- end of log ----\n");
	fclose(f);
}

static bool log_has(const struct world *w, const char *needle)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/ccpulse.log", w->dir);
	return ccp_test_file_count(path, needle) > 0;
}

/* ---- conditions ------------------------------------------------------------------- */

struct figures_wait {
	struct world *w;
	redisContext *c;
	char why[256];
};

static long long hget_ll(redisContext *c, const char *key, const char *field)
{
	redisReply *r = ccp_test_redis_cmd(c, "HGET %s %s", key, field);
	long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
	freeReplyObject(r);
	return v;
}

/* Every queue's 5m window shows all its contacts offered and answered. */
static bool figures_there(void *arg)
{
	struct figures_wait *fw = arg;
	int st;
	if (waitpid(fw->w->pid, &st, WNOHANG) == fw->w->pid) {
		fw->w->pid = 0;
		snprintf(fw->why, sizeof(fw->why), "ccpulse run exited early (wait status %d)", st);
		return true; /* nothing more to wait for; the caller fails */
	}
	redisContext *c = fw->c;
	bool ok = true;
	for (int q = 0; q < NQ && ok; q++) {
		char key[128];
		snprintf(key, sizeof(key), "ccpulse:q:%s:5m", queues[q]);
		long long off = hget_ll(c, key, "offered"), ans = hget_ll(c, key, "answered");
		if (off != CONTACTS || ans != CONTACTS) {
			snprintf(fw->why, sizeof(fw->why), "%s offered %lld answered %lld, want %d each", key, off, ans,
				 CONTACTS);
			ok = false;
		}
	}
	return ok;
}

struct exit_wait {
	pid_t pid;
	int status;
	bool done;
};

static bool exited(void *arg)
{
	struct exit_wait *x = arg;
	if (!x->done && waitpid(x->pid, &x->status, WNOHANG) == x->pid)
		x->done = true;
	return x->done;
}

/* The group's committed offsets per partition, read by a fresh consumer
 * (not a member: rd_kafka_committed only asks the coordinator). No commit
 * reads as 0. */
static void committed(const char *brokers, int64_t out[PARTITIONS])
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)), RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "group.id", GROUP, err, sizeof(err)), RD_KAFKA_CONF_OK);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		fail_msg("consumer: %s", err);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
	for (int p = 0; p < PARTITIONS; p++)
		rd_kafka_topic_partition_list_add(l, TOPIC, p);
	assert_int_equal(rd_kafka_committed(rk, l, ccp_test_ms(10000)), RD_KAFKA_RESP_ERR_NO_ERROR);
	for (int i = 0; i < l->cnt; i++) {
		assert_int_equal(l->elems[i].err, RD_KAFKA_RESP_ERR_NO_ERROR);
		out[l->elems[i].partition] = l->elems[i].offset < 0 ? 0 : l->elems[i].offset;
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
}

/* ---- the test --------------------------------------------------------------------- */

/* The reason headers of the dead-letter topic's messages, in order, joined
 * by spaces; also checks each names its source partition and offset. */
static void dead_letters(const char *brokers, char *reasons, size_t cap)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", "g-dead-reader", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, DEAD_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(l);
	reasons[0] = 0;
	int n = 0;
	long long deadline = ccp_test_now_ms() + ccp_test_ms(15000);
	while (n < N_BAD && ccp_test_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (!m->err) {
			rd_kafka_headers_t *h = NULL;
			const void *v;
			size_t len;
			assert_int_equal(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
			assert_int_equal(rd_kafka_header_get_last(h, CCP_SOURCE_KAFKA_HDR_PARTITION, &v, &len), 0);
			assert_int_equal(rd_kafka_header_get_last(h, CCP_SOURCE_KAFKA_HDR_OFFSET, &v, &len), 0);
			assert_int_equal(rd_kafka_header_get_last(h, CCP_SOURCE_KAFKA_HDR_REASON, &v, &len), 0);
			size_t at = strlen(reasons);
			snprintf(reasons + at, cap - at, "%s%.*s", n ? " " : "", (int)len, (const char *)v);
			n++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

static void test_sigterm_exits_0_and_commits_all(void **state)
{
	struct world *w = *state;
	produce_contacts(w);
	int used = 0;
	for (int p = 0; p < PARTITIONS; p++)
		used += w->per_part[p] > 0;
	print_message("%d contact messages over %d of %d partitions\n", N_CONTACT_MSGS, used, PARTITIONS);
	/* More than one partition, or the commit check says little. */
	assert_true(used >= 2);

	long long t0 = ccp_test_now_ms();
	start_run(w);
	struct figures_wait fw = {.w = w, .c = ccp_test_redis_connect(&w->redis)};
	bool ok = ccp_test_wait_until(figures_there, &fw, 30000);
	redisFree(fw.c);
	if (!ok || !w->pid) {
		print_log(w);
		fail_msg("figures never complete in Redis: %s", fw.why);
	}
	print_message("figures in Redis %lld ms after start\n", ccp_test_now_ms() - t0);

	long long t1 = ccp_test_now_ms();
	assert_int_equal(kill(w->pid, SIGTERM), 0);
	struct exit_wait x = {.pid = w->pid};
	if (!ccp_test_wait_until(exited, &x, 10000)) {
		print_log(w);
		fail_msg("ccpulse run still running %d ms after SIGTERM", ccp_test_ms(10000));
	}
	w->pid = 0;
	print_message("exited %lld ms after SIGTERM\n", ccp_test_now_ms() - t1);
	if (!WIFEXITED(x.status) || WEXITSTATUS(x.status) != 0) {
		print_log(w);
		if (WIFSIGNALED(x.status))
			fail_msg("ccpulse run killed by signal %d", WTERMSIG(x.status));
		fail_msg("ccpulse run exit status %d, want 0", WEXITSTATUS(x.status));
	}
	/* It stopped as a stop, not as an error that happened to exit 0. */
	if (!log_has(w, "stopped:")) {
		print_log(w);
		fail_msg("no \"stopped:\" line in the log of ccpulse run");
	}

	/* Every partition committed up to its end: what was delivered to it. */
	int64_t got[PARTITIONS], sum = 0;
	committed(ccp_broker_bootstrap(w->broker), got);
	for (int p = 0; p < PARTITIONS; p++) {
		sum += got[p];
		if (got[p] != w->per_part[p]) {
			print_log(w);
			fail_msg("partition %d: committed %" PRId64 ", produced %" PRId64, p, got[p], w->per_part[p]);
		}
	}
	assert_int_equal(sum, N_CONTACT_MSGS);

	/* The figures outlive the process (Redis holds them), bad input is
	 * counted by reason, and each bad line went to the dead-letter topic
	 * (one partition, keyed alike: in the order read). */
	redisContext *c = ccp_test_redis_connect(&w->redis);
	assert_int_equal(hget_ll(c, "ccpulse:q:billing:5m", "offered"), CONTACTS);
	assert_int_equal(hget_ll(c, "ccpulse:stats", "errors_bad_json"), 1);
	assert_int_equal(hget_ll(c, "ccpulse:stats", "errors_missing_field"), 1);
	assert_int_equal(hget_ll(c, "ccpulse:stats", "errors_unknown_type"), 1);
	redisFree(c);
	char reasons[256];
	dead_letters(ccp_broker_bootstrap(w->broker), reasons, sizeof(reasons));
	assert_string_equal(reasons, "bad_json missing_field unknown_type");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sigterm_exits_0_and_commits_all, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
