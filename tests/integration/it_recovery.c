/* Crashes, outages and partitions moving, against real processes: the
 * `ccpulse run` binary ($CCP_BIN) as children, librdkafka's mock cluster
 * in this process, private redis-servers. Each scenario runs a reference
 * instance, never disturbed, on its own Redis beside the subject on
 * another, both reading the same simulated day as it is produced; at the
 * end every key the contract names (every per-window and live field but
 * `updated_at`, totals, stats, queue set, overdue set, closed minutes)
 * must be identical in both Redis servers.
 * - kill -9 of the subject at random points, restarted each time;
 * - Redis down for 30 s mid-run;
 * - a broker down for a while mid-run;
 * - a second and a third instance joining, and one leaving, mid-run.
 * ccp-test-labels: recovery slow
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ccp_test.h"
#include "ccpulse/broker.h"
#include "ccpulse/log.h"
#include "ccpulse/sim.h"

#define TOPIC "contact-events"
#define AGENT_TOPIC "agent-events"
#define PARTITIONS 8
#define MAX_EVENTS 45000 /* contact-topic events of the simulated stretch */
#define RATE 1500        /* produced per second: the run lasts about 30 s */
#define KILLS 3
#define MAX_INST 4

/* One simulated event, ready to produce. */
struct line {
	char *text;
	char key[64];
	bool agent; /* agent topic */
};

/* A `ccpulse run` child. */
struct inst {
	pid_t pid; /* 0 when not running */
	char name[32];
	int redis; /* which world redis it writes to */
	char group[32];
	char log[512];
	bool is_static; /* group.instance.id = name: a restart takes its partitions back at once */
};

/* Everything a test owns. Test thread, except `produced`/`per_part`, which
 * the producer thread writes before `producing` goes false. */
struct world {
	struct ccp_broker *broker;
	struct ccp_test_redis redis[2]; /* 0: the subject's, 1: the reference's */
	char dir[256];
	struct line *lines;
	size_t n_lines, n_contact;
	int64_t per_part[PARTITIONS];
	int64_t dr_errors;
	pthread_t producer;
	atomic_bool producing;
	struct inst inst[MAX_INST];
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	char err[256];
	struct ccp_broker_topic topics[] = {{TOPIC, PARTITIONS}, {AGENT_TOPIC, 1}};
	w->broker = ccp_broker_start(1, topics, 2, err, sizeof(err));
	if (!w->broker)
		fail_msg("broker: %s", err);
	/* The subject's Redis persists (AOF, fsync on every write): an outage
	 * there is an outage, not a loss of what it had acknowledged. */
	struct ccp_test_redis_opts durable = {.appendfsync_always = true};
	ccp_test_redis_start(&w->redis[0], &durable);
	ccp_test_redis_start(&w->redis[1], NULL);
	ccp_test_tmpdir_make(w->dir, sizeof(w->dir), "recovery");

	/* A simulated center, ending an hour before now so nothing is ahead
	 * of the wall clock, cut to MAX_EVENTS contact events. */
	struct ccp_sim_config sc;
	ccp_sim_config_default(&sc);
	sc.seed = 424242;
	sc.duration_ms = 20 * 3600 * 1000LL;
	sc.start_ms = (ccp_log_wall_ms() / 1000) * 1000 - 21 * 3600 * 1000LL;
	struct ccp_sim *sim;
	assert_int_equal(ccp_sim_new(&sc, 20000, &sim, err, sizeof(err)), 0);
	w->lines = calloc(MAX_EVENTS * 2, sizeof(*w->lines));
	assert_non_null(w->lines);
	struct ccp_sim_event ev;
	char buf[2048];
	while (w->n_contact < MAX_EVENTS && w->n_lines < MAX_EVENTS * 2 && ccp_sim_next(sim, &ev) == 1) {
		struct line *l = &w->lines[w->n_lines++];
		size_t n = ccp_sim_format(sim, &ev, buf, sizeof(buf));
		assert_true(n > 0 && n < sizeof(buf));
		l->text = strndup(buf, buf[n - 1] == '\n' ? n - 1 : n);
		ccp_sim_key(sim, &ev, l->key, sizeof(l->key));
		l->agent = ev.type == CCP_EV_AGENT_STATE;
		w->n_contact += !l->agent;
	}
	ccp_sim_free(sim);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	for (int i = 0; i < MAX_INST; i++)
		if (w->inst[i].pid > 0)
			ccp_test_kill9_pid(w->inst[i].pid);
	ccp_test_redis_free(&w->redis[0]);
	ccp_test_redis_free(&w->redis[1]);
	ccp_broker_stop(w->broker);
	ccp_test_tmpdir_remove(w->dir);
	for (size_t i = 0; i < w->n_lines; i++)
		free(w->lines[i].text);
	free(w->lines);
	free(w);
	return 0;
}

/* ---- producing ------------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct world *w = opaque;
	if (m->err) {
		w->dr_errors++;
		return;
	}
	if (!strcmp(rd_kafka_topic_name(m->rkt), TOPIC) && m->partition >= 0 && m->partition < PARTITIONS)
		w->per_part[m->partition]++;
}

/* Produces every line at RATE a second (so the processes read while it
 * goes on), then flushes. Producer thread. */
static void *produce_main(void *arg)
{
	struct world *w = arg;
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", ccp_broker_bootstrap(w->broker), err, sizeof(err));
	rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
	/* Ride out the broker outage scenario: never give a message up. */
	rd_kafka_conf_set(conf, "message.timeout.ms", "0", err, sizeof(err));
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, w);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		w->dr_errors = -1;
		atomic_store(&w->producing, false);
		return NULL;
	}
	long long t0 = ccp_test_now_ms();
	for (size_t i = 0; i < w->n_lines; i++) {
		struct line *l = &w->lines[i];
		while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(l->agent ? AGENT_TOPIC : TOPIC),
					 RD_KAFKA_V_KEY(l->key, strlen(l->key)),
					 RD_KAFKA_V_VALUE(l->text, strlen(l->text)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		rd_kafka_poll(rk, 0);
		long long due = t0 + (long long)(i * 1000 / (RATE * w->n_lines / (w->n_contact ? w->n_contact : 1)));
		long long now = ccp_test_now_ms();
		if (due > now)
			nanosleep(&(struct timespec){0, (due - now) * 1000000L}, NULL);
	}
	while (rd_kafka_flush(rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		;
	rd_kafka_destroy(rk);
	atomic_store(&w->producing, false);
	return NULL;
}

static void start_producing(struct world *w)
{
	atomic_store(&w->producing, true);
	assert_int_equal(pthread_create(&w->producer, NULL, produce_main, w), 0);
}

static void finish_producing(struct world *w)
{
	pthread_join(w->producer, NULL);
	assert_int_equal(w->dr_errors, 0);
	int64_t sum = 0;
	for (int p = 0; p < PARTITIONS; p++)
		sum += w->per_part[p];
	assert_int_equal(sum, (int64_t)w->n_contact);
}

/* ---- the processes ---------------------------------------------------------------- */

/* Instance i as `name` in `group`, writing to world redis `redis`. */
static void inst_init(struct world *w, int i, const char *name, const char *group, int redis)
{
	struct inst *in = &w->inst[i];
	snprintf(in->name, sizeof(in->name), "%s", name);
	snprintf(in->group, sizeof(in->group), "%s", group);
	snprintf(in->log, sizeof(in->log), "%s/%s.log", w->dir, name);
	in->redis = redis;
}

static void inst_start(struct world *w, int i)
{
	struct inst *in = &w->inst[i];
	char cfg[512], name[64], text[1024];
	snprintf(name, sizeof(name), "%s.yaml", in->name);
	snprintf(cfg, sizeof(cfg), "%s/%s", w->dir, name);
	/* Event time alone (no idle advance), so two runs of the same
	 * events agree to the millisecond; checkpoints often, so kills land
	 * between them; a short session, so a killed member's partitions
	 * move on quickly. */
	snprintf(text, sizeof(text),
			    "kafka:\n"
			    "  session.timeout.ms: 6000\n"
			    "  heartbeat.interval.ms: 300\n"
			    "%s%s%s"
			    "idle_advance: 0\n"
			    "checkpoint:\n"
			    "  interval: 300ms\n"
			    "http:\n"
			    "  addr: 127.0.0.1:0\n"
			    "log:\n"
			    "  level: info\n",
		 in->is_static ? "  group.instance.id: " : "", in->is_static ? in->name : "", in->is_static ? "\n" : "");
	ccp_test_write_file(w->dir, name, text);
	const char *argv[] = {ccp_test_bin(), "run", "-c", cfg, "--brokers", ccp_broker_bootstrap(w->broker), "--redis",
			      w->redis[in->redis].url, "--group", in->group, "--publish-interval", "100ms", NULL};
	FILE *f = fopen(in->log, "a");
	if (f) {
		fprintf(f, "==== start at %lld ====\n", ccp_test_now_ms());
		fclose(f);
	}
	in->pid = ccp_test_spawn(argv, in->log);
}

static void print_log(const struct inst *in)
{
	FILE *f = fopen(in->log, "r");
	if (!f)
		return;
	char line[1024];
	print_message("---- %s log ----\n", in->name);
	while (fgets(line, sizeof(line), f))
		print_message("%s", line);
	print_message("---- end of %s log ----\n", in->name);
	fclose(f);
}

static void print_logs(const struct world *w)
{
	for (int i = 0; i < MAX_INST; i++)
		if (w->inst[i].name[0])
			print_log(&w->inst[i]);
}

/* ---- Redis content ------------------------------------------------------------------ */

/* A growing list of lines, sorted at the end. */
struct dump {
	char **lines;
	size_t n, cap;
};

static void dump_add(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dump_add(struct dump *d, const char *fmt, ...)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->lines = realloc(d->lines, d->cap * sizeof(char *));
		assert_non_null(d->lines);
	}
	va_list ap;
	va_start(ap, fmt);
	assert_true(vasprintf(&d->lines[d->n++], fmt, ap) >= 0);
	va_end(ap);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->lines[i]);
	free(d->lines);
	memset(d, 0, sizeof(*d));
}

/* Field/value pairs of a hash or stream entry, minus updated_at, as one
 * sorted string. */
static char *pairs_text(const redisReply *arr)
{
	struct dump f = {0};
	for (size_t i = 0; i + 1 < arr->elements; i += 2)
		if (strcmp(arr->element[i]->str, "updated_at"))
			dump_add(&f, "%s=%s", arr->element[i]->str, arr->element[i + 1]->str);
	qsort(f.lines, f.n, sizeof(char *), cmp_str);
	size_t len = 1;
	for (size_t i = 0; i < f.n; i++)
		len += strlen(f.lines[i]) + 1;
	char *s = calloc(1, len);
	assert_non_null(s);
	for (size_t i = 0; i < f.n; i++) {
		strcat(s, f.lines[i]);
		strcat(s, " ");
	}
	dump_free(&f);
	return s;
}

/* Everything under the contract's keys (not {p}:state:*, not the alerts
 * stream, whose entries carry the moment a render judged them). */
static void dump_redis(redisContext *c, struct dump *d)
{
	unsigned long long cursor = 0;
	struct dump keys = {0};
	do {
		redisReply *r = ccp_test_redis_cmd(c, "SCAN %llu MATCH ccpulse:* COUNT 1000", cursor);
		cursor = strtoull(r->element[0]->str, NULL, 10);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *k = r->element[1]->element[i]->str;
			if (strncmp(k, "ccpulse:state:", 14) && strcmp(k, "ccpulse:alerts"))
				dump_add(&keys, "%s", k);
		}
		freeReplyObject(r);
	} while (cursor);
	qsort(keys.lines, keys.n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < keys.n; i++) {
		const char *k = keys.lines[i];
		redisReply *t = ccp_test_redis_cmd(c, "TYPE %s", k);
		if (!strcmp(t->str, "hash")) {
			redisReply *r = ccp_test_redis_cmd(c, "HGETALL %s", k);
			char *s = pairs_text(r);
			dump_add(d, "%s: %s", k, s);
			free(s);
			freeReplyObject(r);
		} else if (!strcmp(t->str, "set")) {
			redisReply *r = ccp_test_redis_cmd(c, "SMEMBERS %s", k);
			for (size_t j = 0; j < r->elements; j++)
				dump_add(d, "%s: member %s", k, r->element[j]->str);
			freeReplyObject(r);
		} else if (!strcmp(t->str, "zset")) {
			redisReply *r = ccp_test_redis_cmd(c, "ZRANGE %s 0 -1 WITHSCORES", k);
			for (size_t j = 0; j + 1 < r->elements; j += 2)
				dump_add(d, "%s: %s %s", k, r->element[j]->str, r->element[j + 1]->str);
			freeReplyObject(r);
		} else if (!strcmp(t->str, "stream")) {
			/* Partitions interleave their entries differently from run
			 * to run: compare them as a set. */
			redisReply *r = ccp_test_redis_cmd(c, "XRANGE %s - +", k);
			for (size_t j = 0; j < r->elements; j++) {
				char *s = pairs_text(r->element[j]->element[1]);
				dump_add(d, "%s: entry %s", k, s);
				free(s);
			}
			freeReplyObject(r);
		} else {
			dump_add(d, "%s: type %s", k, t->str);
		}
		freeReplyObject(t);
	}
	dump_free(&keys);
	qsort(d->lines, d->n, sizeof(char *), cmp_str);
}

/* Both Redis servers hold the same content; on a difference, says the
 * first one into `why`. */
static bool same_content(struct world *w, char *why, size_t whylen)
{
	struct dump a = {0}, b = {0};
	redisContext *ca = ccp_test_redis_connect(&w->redis[0]), *cb = ccp_test_redis_connect(&w->redis[1]);
	dump_redis(ca, &a);
	dump_redis(cb, &b);
	redisFree(ca);
	redisFree(cb);
	bool same = a.n == b.n;
	size_t i = 0;
	for (; same && i < a.n; i++)
		same = !strcmp(a.lines[i], b.lines[i]);
	if (!same) {
		size_t at = i ? i - 1 : 0;
		snprintf(why, whylen, "%zu vs %zu lines; first difference:\n  subject:   %.500s\n  reference: %.500s", a.n,
			 b.n, at < a.n ? a.lines[at] : "(none)", at < b.n ? b.lines[at] : "(none)");
	} else {
		snprintf(why, whylen, "%zu lines identical", a.n);
	}
	dump_free(&a);
	dump_free(&b);
	return same;
}

/* Every partition's figures in Redis `r` cover everything produced. */
static bool caught_up(struct world *w, int r, char *why, size_t whylen)
{
	redisContext *c = ccp_test_redis_connect(&w->redis[r]);
	bool ok = true;
	for (int p = 0; p < PARTITIONS && ok; p++) {
		redisReply *x = ccp_test_redis_cmd(c, "HGET ccpulse:state:part:%d rendered", p);
		long long v = x->type == REDIS_REPLY_STRING ? atoll(x->str) : 0;
		freeReplyObject(x);
		if (v != w->per_part[p] && w->per_part[p]) {
			snprintf(why, whylen, "redis %d partition %d: figures cover %lld of %" PRId64, r, p, v, w->per_part[p]);
			ok = false;
		}
	}
	redisFree(c);
	return ok;
}

struct settle {
	struct world *w;
	char why[1200];
};

/* Both caught up, and identical (the agent table settles a render later
 * than the partitions). */
static bool settled(void *arg)
{
	struct settle *s = arg;
	for (int i = 0; i < MAX_INST; i++) {
		struct inst *in = &s->w->inst[i];
		int st;
		if (in->pid > 0 && waitpid(in->pid, &st, WNOHANG) == in->pid) {
			in->pid = 0;
			snprintf(s->why, sizeof(s->why), "%s exited early (wait status %d)", in->name, st);
			return true;
		}
	}
	return caught_up(s->w, 0, s->why, sizeof(s->why)) && caught_up(s->w, 1, s->why, sizeof(s->why)) &&
	       same_content(s->w, s->why, sizeof(s->why));
}

/* Every partition's checkpoint covers what its figures cover: a quiet
 * partition still checkpoints its last events. */
static bool checkpoints_current(void *arg)
{
	struct settle *s = arg;
	for (int r = 0; r < 2; r++) {
		redisContext *c = ccp_test_redis_connect(&s->w->redis[r]);
		bool ok = true;
		for (int p = 0; p < PARTITIONS && ok; p++) {
			redisReply *x = ccp_test_redis_cmd(c, "HMGET ccpulse:state:part:%d rendered ckpt_offset", p);
			const char *a = x->element[0]->str, *b = x->element[1]->str;
			ok = (!a && !b) || (a && b && !strcmp(a, b));
			if (!ok)
				snprintf(s->why, sizeof(s->why), "redis %d partition %d: figures at %s, checkpoint at %s", r, p,
					 a ? a : "-", b ? b : "-");
			freeReplyObject(x);
		}
		redisFree(c);
		if (!ok)
			return false;
	}
	return true;
}

static void expect_identical(struct world *w, const char *scenario)
{
	struct settle s = {.w = w};
	long long t0 = ccp_test_now_ms();
	bool ok = ccp_test_wait_until(settled, &s, 60000);
	for (int i = 0; i < MAX_INST; i++)
		if (w->inst[i].name[0] && w->inst[i].pid <= 0 && strstr(s.why, "exited early"))
			ok = false;
	if (!ok) {
		print_logs(w);
		fail_msg("%s: Redis content differs from the reference run: %s", scenario, s.why);
	}
	print_message("%s: %s (%zu contact events, settled %lld ms after the last was produced)\n", scenario, s.why,
		      w->n_contact, ccp_test_now_ms() - t0);
	if (!ccp_test_wait_until(checkpoints_current, &s, 5000)) {
		print_logs(w);
		fail_msg("%s: checkpoints behind the figures: %s", scenario, s.why);
	}
	for (int i = 0; i < MAX_INST; i++)
		if (w->inst[i].pid > 0) {
			ccp_test_stop_pid(w->inst[i].pid, 10000);
			w->inst[i].pid = 0;
		}
}

static int rand_ms(unsigned *seed, int lo, int hi)
{
	return lo + (int)(rand_r(seed) % (unsigned)(hi - lo + 1));
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* ---- scenarios ------------------------------------------------------------------- */

/* The usual cast: one subject (world redis 0) and the reference (redis 1),
 * both started, and the traffic flowing. */
static void start_subject_and_reference(struct world *w)
{
	inst_init(w, 0, "subject", "g-subject", 0);
	inst_init(w, 1, "reference", "g-reference", 1);
	inst_start(w, 1);
	inst_start(w, 0);
	start_producing(w);
}

static int log_count(const struct inst *in, const char *needle)
{
	return ccp_test_file_count(in->log, needle);
}

struct log_wait {
	const struct inst *in;
	const char *needle;
	int more_than;
};

static bool log_grew(void *arg)
{
	struct log_wait *lw = arg;
	return log_count(lw->in, lw->needle) > lw->more_than;
}

static void test_kill9_at_random_points(void **state)
{
	struct world *w = *state;
	start_subject_and_reference(w);
	unsigned seed = (unsigned)time(NULL);
	print_message("kill points from seed %u\n", seed);
	/* Each kill lands while the subject is at work: some time after it
	 * has its partitions, while events still flow. */
	int kills = 0;
	struct log_wait lw = {&w->inst[0], "assigned 8 partitions", 0};
	while (kills < KILLS) {
		if (!ccp_test_wait_until(log_grew, &lw, 30000)) {
			print_logs(w);
			fail_msg("the subject did not get its partitions within 30 s");
		}
		sleep_ms(rand_ms(&seed, 0, 1500));
		ccp_test_kill9_pid(w->inst[0].pid);
		kills++;
		lw.more_than = log_count(&w->inst[0], lw.needle);
		inst_start(w, 0);
	}
	finish_producing(w);
	print_message("%d kills while %s\n", kills, atomic_load(&w->producing) ? "producing" : "produced");
	expect_identical(w, "kill -9");
	int restored = log_count(&w->inst[0], "checkpoint restored");
	print_message("%d partition restores from a checkpoint\n", restored);
	assert_true(restored > 0);

	/* How soon a restarted instance is back at work. A clean stop leaves
	 * the group, so the restart gets the partitions at once; after kill -9
	 * the group waits for the dead member's session to time out (6 s
	 * here; static membership, kafka.group.instance.id, avoids that on a
	 * real broker, but the mock cluster does not implement it). */
	lw.more_than = log_count(&w->inst[0], lw.needle);
	inst_start(w, 0);
	assert_true(ccp_test_wait_until(log_grew, &lw, 20000));
	for (int crash = 0; crash < 2; crash++) {
		lw.more_than = log_count(&w->inst[0], lw.needle);
		if (crash)
			ccp_test_kill9_pid(w->inst[0].pid);
		else
			assert_int_equal(ccp_test_stop_pid(w->inst[0].pid, 10000), 0);
		long long t0 = ccp_test_now_ms();
		inst_start(w, 0);
		if (!ccp_test_wait_until(log_grew, &lw, 30000)) {
			print_log(&w->inst[0]);
			fail_msg("a restarted instance did not get its partitions back within 30 s");
		}
		long long took = ccp_test_now_ms() - t0;
		print_message("restart after %s: partitions back %lld ms after the start\n", crash ? "kill -9" : "SIGTERM",
			      took);
		assert_true(took < ccp_test_ms(crash ? 6000 + 9000 : 9000)); /* the mock adds a few seconds of its own to a join */
	}
	ccp_test_stop_pid(w->inst[0].pid, 10000);
	w->inst[0].pid = 0;
}

static void test_redis_down_30s(void **state)
{
	struct world *w = *state;
	start_subject_and_reference(w);
	/* Down while the subject is at work: after it holds its partitions
	 * and has written some figures. */
	struct log_wait lw = {&w->inst[0], "assigned 8 partitions", 0};
	if (!ccp_test_wait_until(log_grew, &lw, 30000)) {
		print_logs(w);
		fail_msg("the subject did not get its partitions within 30 s");
	}
	sleep_ms(1000);
	ccp_test_redis_stop(&w->redis[0]);
	assert_true(atomic_load(&w->producing)); /* events still flow during the outage */
	sleep_ms(30000);
	ccp_test_redis_restart(&w->redis[0]);
	finish_producing(w);
	expect_identical(w, "Redis down 30 s");
}

static void test_broker_down(void **state)
{
	struct world *w = *state;
	start_subject_and_reference(w);
	sleep_ms(1500);
	rd_kafka_mock_cluster_t *mc = ccp_broker_mock_cluster(w->broker);
	/* The cluster's one broker: everything stalls, producer included. */
	assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	sleep_ms(5000);
	assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	finish_producing(w);
	expect_identical(w, "broker down 5 s");
}

static void test_members_join_and_leave(void **state)
{
	struct world *w = *state;
	inst_init(w, 0, "member-1", "g-members", 0);
	inst_init(w, 1, "reference", "g-reference", 1);
	inst_init(w, 2, "member-2", "g-members", 0);
	inst_init(w, 3, "member-3", "g-members", 0);
	inst_start(w, 1);
	inst_start(w, 0);
	start_producing(w);
	sleep_ms(800);
	inst_start(w, 2);
	sleep_ms(800);
	inst_start(w, 3);
	sleep_ms(1200);
	/* member-2 leaves cleanly (SIGTERM): its partitions move with their
	 * checkpoints. */
	assert_true(ccp_test_stop_pid(w->inst[2].pid, 10000) == 0);
	w->inst[2].pid = 0;
	finish_producing(w);
	expect_identical(w, "members join and leave");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill9_at_random_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members_join_and_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_down_30s, setup, teardown),
	};
	const char *only = getenv("CCP_TEST_ONLY"); /* one scenario, by name pattern */
	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
