/* Kafka -> Redis end to end, beside a bare librdkafka consumer in the same
 * run (issue 3's targets: >= 1 M events/s and >= 70 % of the bare rate;
 * freshness p99 <= publish interval + 100 ms at a steady 50 k events/s).
 *
 * Phases, all in this process except redis-server (a child stopped by PID):
 * 1. Generate a large center's events (bench_events.h: hundreds of queues)
 *    and preload them into librdkafka's mock cluster: contact events keyed
 *    by queue over many partitions, agent states on the agent topic. The
 *    mock cluster keeps only ~5 MB per partition, so the partition count is
 *    chosen to stay well under it, and both consumers must count exactly
 *    what was produced.
 * 2. Ceiling: a consumer in its own group that only counts messages (the
 *    same fetch settings as ccpulse's source, and a local queue so large
 *    that its fetcher never backs off), from its first message to its
 *    last.
 * 3. ccpulse's pipeline (2 workers by default: one per core) in its own
 *    group, until Redis holds the final figures: `{p}:total:24h` equals
 *    the counts of the generated events for every event type it counts.
 * 4. Freshness, on a topic of its own (FRESH_PARTITIONS; the mock cluster
 *    answers a steady stream of small batches over 128 partitions in
 *    seconds even to a bare consumer, see below): a new pipeline (group and
 *    key prefix `fresh`), 50 k events/s with ts = now, plus a probe event
 *    on its own queue every 50 ms; a poller reads the probe queue's
 *    `offered` from Redis every 2 ms; freshness of a probe = first time
 *    Redis shows it - the time it was handed to the producer.
 * 5. The same load read by a bare consumer: the part of freshness that is
 *    the producer's, the broker's and the fetch's.
 *
 * usage: bench_e2e [EVENTS] [PARTITIONS] [QUEUES] [FRESH_SECONDS] [FRESH_PARTITIONS]
 *        (defaults 2000000 128 500 30 16); BENCH_WORKERS=N, and
 *        BENCH_CONFIG=key=value,... for experiments
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "bench_events.h"
#include "ccpulse/broker.h"
#include "ccpulse/config.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"
#include "ccpulse/redis_child.h"
#include "ccpulse/source_kafka.h"

#define TOPIC "contact-events"
#define AGENT_TOPIC "agent-events"
#define FRESH_TOPIC "fresh-events" /* the freshness phase's own topic, group and prefix */
#define FRESH_RATE 50000
#define PROBE_EVERY_MS 50
#define MAX_PROBES 20000

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_e2e: %s: %s\n", what, detail);
	exit(1);
}

/* ---- the generated center ------------------------------------------------------ */

/* What the preload holds, counted by event type as `total` counts them. */
struct expect {
	uint64_t contact_msgs, agent_msgs;
	uint64_t offered, answered, abandoned, ended, transferred, promises_made, surveys, complaints;
	uint64_t bytes;
};

/* BENCH_CONFIG="key=value,...": ccpulse config keys for the pipeline (for
 * experiments); the kafka.* ones also go to the bare consumer. */
static void extra_config(void (*apply)(void *ud, const char *k, const char *v), void *ud)
{
	const char *env = getenv("BENCH_CONFIG");
	if (!env || !*env)
		return;
	char *dup = strdup(env), *save = NULL;
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			die("BENCH_CONFIG", kv);
		*eq = 0;
		apply(ud, kv, eq + 1);
	}
	free(dup);
}

static void conf_apply(void *ud, const char *k, const char *v)
{
	char err[256];
	if (!strncmp(k, "kafka.", 6) && rd_kafka_conf_set(ud, k + 6, v, err, sizeof(err)))
		die("BENCH_CONFIG", err);
}

static bool has(const char *line, size_t len, const char *needle)
{
	return memmem(line, len, needle, strlen(needle)) != NULL;
}

/* The key of a line: its queue (contact topic) or agent (agent topic). */
static size_t key_of(const char *line, size_t len, const char *field, const char **key)
{
	const char *p = memmem(line, len, field, strlen(field));
	*key = line;
	if (!p)
		return 0;
	p += strlen(field);
	const char *end = memchr(p, '"', (size_t)(line + len - p));
	*key = p;
	return end ? (size_t)(end - p) : 0;
}

static rd_kafka_t *producer(const char *brokers, const char *linger_ms, const char *batch_msgs,
			    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *), void *opaque)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	if (dr) {
		rd_kafka_conf_set_dr_msg_cb(c, dr);
		rd_kafka_conf_set_opaque(c, opaque);
	}
	if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "linger.ms", linger_ms, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "queue.buffering.max.messages", "1000000", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "queue.buffering.max.kbytes", "1048576", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "batch.num.messages", batch_msgs, err, sizeof(err)))
		die("producer config", err);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk)
		die("producer", err);
	return rk;
}

static void produce_one(rd_kafka_t *rk, const char *topic, const char *key, size_t klen, const char *v, size_t vlen)
{
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)v, vlen),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(rk, 5);
	if (e)
		die("produce", rd_kafka_err2str(e));
}

/* Produces every line; counts what `total` will show. */
static void preload(const char *brokers, const struct bench_events *b, struct expect *x)
{
	/* Message sets near their 1 MB limit, as a topic written by many
	 * producers over time holds them: the mock cluster answers a fetch
	 * with one set per partition, so small sets would measure its round
	 * trips instead of the consumers. */
	rd_kafka_t *rk = producer(brokers, "500", "100000", NULL, NULL);
	memset(x, 0, sizeof(*x));
	const char *p = b->buf, *end = b->buf + b->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);
		const char *key;
		size_t klen;
		if (has(p, len, "\"agent.state\"")) {
			klen = key_of(p, len, "\"agent\":\"", &key);
			produce_one(rk, AGENT_TOPIC, key, klen, p, len);
			x->agent_msgs++;
		} else {
			klen = key_of(p, len, "\"queue\":\"", &key);
			produce_one(rk, TOPIC, key, klen, p, len);
			x->contact_msgs++;
			x->bytes += len;
			x->offered += has(p, len, "\"contact.offered\"");
			x->answered += has(p, len, "\"contact.answered\"");
			x->abandoned += has(p, len, "\"contact.abandoned\"");
			x->ended += has(p, len, "\"contact.ended\"");
			x->transferred += has(p, len, "\"contact.transferred\"");
			x->promises_made += has(p, len, "\"promise.made\"");
			x->surveys += has(p, len, "\"survey.submitted\"");
			x->complaints += has(p, len, "\"complaint.opened\"");
		}
		rd_kafka_poll(rk, 0);
		p = nl + 1;
	}
	if (rd_kafka_flush(rk, 120000))
		die("preload", "flush timed out");
	rd_kafka_destroy(rk);
}

/* ---- the ceiling: a consumer that only counts ------------------------------------ */

struct timing {
	double start, first, consumed, last; /* monotonic seconds */
};

/* A consumer with ccpulse's fetch settings and an unbounded local queue,
 * subscribed to `topic` in its own group; its consumer queue in `*q`. */
static rd_kafka_t *bare_new(const char *brokers, const char *topic, const char *group, const char *reset,
			    rd_kafka_queue_t **q)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "auto.offset.reset", reset, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)) ||
	    /* The best a counting consumer can do here: a local queue that
	     * never makes the fetcher back off (2.5x its rate with ccpulse's
	     * queue settings, on this broker). */
	    rd_kafka_conf_set(c, "queued.min.messages", "10000000", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "queued.max.messages.kbytes", "2097151", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "max.partition.fetch.bytes", CCP_SOURCE_KAFKA_PARTITION_FETCH_BYTES, err,
			      sizeof(err)) ||
	    rd_kafka_conf_set(c, "fetch.wait.max.ms", CCP_SOURCE_KAFKA_FETCH_WAIT_MS, err, sizeof(err)))
		die("bare consumer config", err);
	extra_config(conf_apply, c);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!rk)
		die("bare consumer", err);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(rk, t))
		die("bare consumer", "subscribe failed");
	rd_kafka_topic_partition_list_destroy(t);
	*q = rd_kafka_queue_get_consumer(rk);
	return rk;
}

static void bare_free(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	rd_kafka_queue_destroy(q);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

static struct timing bare_consumer(const char *brokers, uint64_t want)
{
	struct timing tm = {.start = bench_now_s()};
	rd_kafka_queue_t *q;
	rd_kafka_t *rk = bare_new(brokers, TOPIC, "bench-bare", "earliest", &q);
	rd_kafka_message_t *batch[1024];
	uint64_t n = 0;
	while (n < want) {
		ssize_t got = rd_kafka_consume_batch_queue(q, 1000, batch, 1024);
		for (ssize_t i = 0; i < got; i++) {
			if (!batch[i]->err)
				n++;
			rd_kafka_message_destroy(batch[i]);
		}
		if (got > 0 && !tm.first)
			tm.first = bench_now_s();
		if (bench_now_s() - tm.start > 600)
			die("bare consumer", "no end after 600 s: the mock cluster kept fewer messages than produced");
	}
	tm.last = bench_now_s();
	bare_free(rk, q);
	if (n != want) {
		fprintf(stderr, "bench_e2e: bare consumer counted %" PRIu64 ", produced %" PRIu64 "\n", n, want);
		exit(1);
	}
	return tm;
}

/* ---- ccpulse ------------------------------------------------------------------- */

/* A pipeline on its own thread and what it reads. Owner: main. */
struct runner {
	struct ccp_config cfg;
	struct ccp_log log;
	struct ccp_pipeline *p;
};

static void set(struct ccp_config *c, const char *k, const char *v)
{
	char err[512];
	if (ccp_config_set(c, k, v, err, sizeof(err)))
		die("config", err);
}


static void cfg_apply(void *ud, const char *k, const char *v)
{
	set(ud, k, v);
}

static void runner_start(struct runner *r, const char *brokers, const char *topic, const char *group,
			 const char *prefix, const char *redis_url, const char *workers)
{
	char err[512];
	ccp_config_defaults(&r->cfg);
	set(&r->cfg, "kafka.brokers", brokers);
	set(&r->cfg, "kafka.topic", topic);
	set(&r->cfg, "kafka.group", group);
	set(&r->cfg, "prefix", prefix);
	set(&r->cfg, "redis.url", redis_url);
	/* The preload's event time is days old: the wall clock must not move
	 * partition clocks, or the windows would empty before they are read. */
	set(&r->cfg, "idle_advance", "0");
	set(&r->cfg, "workers", workers);
	set(&r->cfg, "log.level", "warn");
	set(&r->cfg, "http.addr", "127.0.0.1:0");
	extra_config(cfg_apply, &r->cfg);
	if (ccp_config_finish(&r->cfg, err, sizeof(err)))
		die("config", err);
	ccp_log_init(&r->log);
	r->log.level = CCP_LOG_WARN;
	struct ccp_pipeline_opts o = {.cfg = &r->cfg, .log = &r->log, .client_id = "bench-e2e"};
	r->p = ccp_pipeline_new(&o, err, sizeof(err));
	if (!r->p)
		die("pipeline", err);
	if (ccp_pipeline_start(r->p))
		die("pipeline", "thread");
}

static void runner_stop(struct runner *r)
{
	char err[512];
	ccp_pipeline_stop(r->p);
	if (ccp_pipeline_join(r->p, err, sizeof(err)))
		die("pipeline run", err);
	ccp_pipeline_free(r->p);
	ccp_config_free(&r->cfg);
}

/* True when `{p}:total:24h` shows every generated event. */
static bool final_in_redis(redisContext *rc, const struct expect *x)
{
	redisReply *r = redisCommand(rc, "HMGET ccpulse:total:24h offered answered abandoned abandoned_short ended "
					 "transferred_out promises_made csat_n complaints_opened");
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 9) {
		if (r)
			freeReplyObject(r);
		return false;
	}
	uint64_t v[9];
	for (int i = 0; i < 9; i++)
		v[i] = r->element[i]->type == REDIS_REPLY_STRING ? strtoull(r->element[i]->str, NULL, 10) : UINT64_MAX;
	freeReplyObject(r);
	return v[0] == x->offered && v[1] == x->answered && v[2] + v[3] == x->abandoned && v[4] == x->ended &&
	       v[5] == x->transferred && v[6] == x->promises_made && v[7] == x->surveys && v[8] == x->complaints;
}

/* ---- freshness ----------------------------------------------------------------- */

/* Probe times: sent[k] is written by the load thread (in its delivery
 * report: when the broker holds probe k) before n_sent moves past k
 * (release); seen[k] by the reader (the Redis poller or the bare
 * consumer); latencies are computed after both threads are done. */
struct fresh {
	const char *brokers;
	redisContext *rc;
	int seconds, queues;
	double sent[MAX_PROBES], seen[MAX_PROBES];
	_Atomic uint32_t n_sent;
	atomic_bool done;
	uint32_t n_shown; /* reader only: probes seen so far */
};

/* CPU seconds used by this process so far (every thread). */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 50 k events/s in 1 ms steps (offered, answered, ended per contact over
 * the queues), and a probe offer on queue "probe" every PROBE_EVERY_MS. */
static void probe_acked(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct fresh *f = opaque;
	if (!m->_private || m->err)
		return;
	uint32_t k = (uint32_t)((uintptr_t)m->_private - 1);
	f->sent[k] = bench_now_s();
	if (k + 1 > atomic_load_explicit(&f->n_sent, memory_order_relaxed))
		atomic_store_explicit(&f->n_sent, k + 1, memory_order_release);
}

static void *load_main(void *arg)
{
	struct fresh *f = arg;
	/* A usual producer linger; probes are timed from the broker's ack, so
	 * what is measured is event in Kafka -> figure in Redis. */
	rd_kafka_t *rk = producer(f->brokers, "20", "10000", probe_acked, f);
	char line[512], key[32];
	uint64_t id = 0, n = 0;
	uint32_t probes = 0;
	double t0 = bench_now_s();
	for (int64_t step = 0; step < (int64_t)f->seconds * 1000; step++) {
		while (bench_now_s() < t0 + (double)step / 1000.0)
			usleep(200);
		int64_t now = wall_ms();
		for (int i = 0; i < FRESH_RATE / 1000; i++, n++) {
			static const char *const type[] = {"contact.offered", "contact.answered", "contact.ended"};
			int q = (int)((n / 3) % (uint64_t)f->queues);
			int kl = snprintf(key, sizeof(key), "queue-%d", q);
			int len = snprintf(line, sizeof(line),
					   "{\"id\":\"f-%" PRIu64 "\",\"type\":\"%s\",\"ts\":%" PRId64
					   ",\"queue\":\"queue-%d\",\"contact\":\"fc-%" PRIu64 "\"}",
					   ++id, type[n % 3], now, q, n / 3);
			produce_one(rk, FRESH_TOPIC, key, (size_t)kl, line, (size_t)len);
		}
		if (step % PROBE_EVERY_MS == 0 && probes < MAX_PROBES) {
			uint32_t k = probes++;
			int len = snprintf(line, sizeof(line),
					   "{\"id\":\"probe-%u\",\"type\":\"contact.offered\",\"ts\":%" PRId64
					   ",\"queue\":\"probe\",\"contact\":\"p-%u\"}",
					   k, wall_ms(), k);
			rd_kafka_resp_err_t e;
			while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(FRESH_TOPIC), RD_KAFKA_V_KEY("probe", 5),
						      RD_KAFKA_V_VALUE(line, (size_t)len),
						      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(k + 1)), RD_KAFKA_V_END)) ==
			       RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 1);
			if (e)
				die("probe", rd_kafka_err2str(e));
		}
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 10000);
	rd_kafka_destroy(rk);
	atomic_store_explicit(&f->done, true, memory_order_release);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *sorted, uint32_t n, double p)
{
	uint32_t rank = (uint32_t)((p * n + 99.999) / 100.0); /* nearest rank */
	return sorted[(rank ? rank : 1) - 1];
}

static void freshness(struct fresh *f)
{
	pthread_t t;
	if (pthread_create(&t, NULL, load_main, f))
		die("freshness", "thread");
	double quiet_until = 0;
	for (;;) {
		redisReply *r = redisCommand(f->rc, "HGET fresh:q:probe:5m offered");
		double now = bench_now_s();
		if (r && r->type == REDIS_REPLY_STRING) {
			uint32_t shown = (uint32_t)strtoul(r->str, NULL, 10);
			for (; f->n_shown < shown && f->n_shown < MAX_PROBES; f->n_shown++)
				f->seen[f->n_shown] = now;
		}
		if (r)
			freeReplyObject(r);
		if (atomic_load_explicit(&f->done, memory_order_acquire)) {
			if (!quiet_until)
				quiet_until = now + 5;
			if (f->n_shown >= atomic_load(&f->n_sent) || now > quiet_until)
				break;
		}
		usleep(2000);
	}
	pthread_join(t, NULL);
}

/* The same load and probes, read by a bare consumer instead of ccpulse:
 * the part of freshness that is Kafka's (producer, broker, fetch). */
static void freshness_bare(struct fresh *f)
{
	rd_kafka_queue_t *q;
	rd_kafka_t *rk = bare_new(f->brokers, FRESH_TOPIC, "bench-bare-fresh", "latest", &q);
	rd_kafka_message_t *batch[1024];
	/* Joined and positioned before any probe is sent. */
	double t0 = bench_now_s();
	for (;;) {
		ssize_t got = rd_kafka_consume_batch_queue(q, 100, batch, 1024);
		for (ssize_t i = 0; i < got; i++)
			rd_kafka_message_destroy(batch[i]);
		rd_kafka_topic_partition_list_t *a = NULL;
		bool assigned = !rd_kafka_assignment(rk, &a) && a->cnt > 0;
		if (a)
			rd_kafka_topic_partition_list_destroy(a);
		if (assigned && bench_now_s() - t0 > 1)
			break;
		if (bench_now_s() - t0 > 30)
			die("bare freshness", "no assignment within 30 s");
	}
	pthread_t t;
	if (pthread_create(&t, NULL, load_main, f))
		die("freshness", "thread");
	double quiet_until = 0;
	uint64_t n_msgs = 0, n_probe_keys = 0;
	for (;;) {
		ssize_t got = rd_kafka_consume_batch_queue(q, 2, batch, 1024);
		double now = bench_now_s();
		for (ssize_t i = 0; i < got; i++) {
			const rd_kafka_message_t *m = batch[i];
			n_msgs++;
			n_probe_keys += m->key_len == 5 && !memcmp(m->key, "probe", 5);
			unsigned k;
			if (!m->err && m->key_len == 5 && !memcmp(m->key, "probe", 5) &&
			    sscanf((const char *)m->payload, "{\"id\":\"probe-%u\"", &k) == 1 && k < MAX_PROBES) {
				f->seen[k] = now;
				f->n_shown++;
			}
			rd_kafka_message_destroy(batch[i]);
		}
		if (atomic_load_explicit(&f->done, memory_order_acquire)) {
			if (!quiet_until)
				quiet_until = now + 5;
			if (f->n_shown >= atomic_load(&f->n_sent) || now > quiet_until)
				break;
		}
	}
	pthread_join(t, NULL);
	if (getenv("BENCH_DEBUG"))
		fprintf(stderr, "bare freshness: %" PRIu64 " messages, %" PRIu64 " probe keys\n", n_msgs, n_probe_keys);
	bare_free(rk, q);
}

static void report_freshness(const char *who, struct fresh *f, double cores, int fresh_s)
{
	uint32_t sent = atomic_load(&f->n_sent), n = 0;
	static double lat[MAX_PROBES];
	for (uint32_t k = 0; k < sent; k++)
		if (f->seen[k] > 0 && f->sent[k] > 0)
			lat[n++] = f->seen[k] > f->sent[k] ? (f->seen[k] - f->sent[k]) * 1000.0 : 0;
	qsort(lat, n, sizeof(double), cmp_double);
	if (!n) {
		printf("freshness (%s): no probe arrived\n", who);
		return;
	}
	printf("freshness (%s) at %d events/s for %d s: %u/%u probes; p50 %.0f ms, p99 %.0f ms, max %.0f ms; "
	       "this process used %.2f cores (load generator and broker included)\n",
	       who, FRESH_RATE, fresh_s, n, sent, pct(lat, n, 50), pct(lat, n, 99), lat[n - 1], cores);
}

static struct fresh *fresh_new(const char *brokers, int seconds, int queues, redisContext *rc)
{
	struct fresh *f = calloc(1, sizeof(*f));
	if (!f)
		die("freshness", "out of memory");
	f->brokers = brokers;
	f->rc = rc;
	f->seconds = seconds;
	f->queues = queues;
	return f;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	uint64_t want = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	int partitions = argc > 2 ? atoi(argv[2]) : 128;
	int queues = argc > 3 ? atoi(argv[3]) : 500;
	int fresh_s = argc > 4 ? atoi(argv[4]) : 30;
	int fresh_partitions = argc > 5 ? atoi(argv[5]) : 16;
	const char *workers = getenv("BENCH_WORKERS") ? getenv("BENCH_WORKERS") : "0";
	int n_brokers = getenv("BENCH_BROKERS") ? atoi(getenv("BENCH_BROKERS")) : 3;
	if (want < 1000 || partitions < 1 || queues < 1 || fresh_s < 0 || fresh_partitions < 1)
		die("usage", "bench_e2e [EVENTS>=1000] [PARTITIONS] [QUEUES] [FRESH_SECONDS] [FRESH_PARTITIONS]");

	/* About 0.8 contact events per generated line (the rest are agent
	 * states): generate enough for `want` contact events. */
	struct bench_events b;
	if (bench_events_make(&b, want + want / 3 + 1000, queues))
		die("events", "out of memory");

	char err[512];
	struct ccp_broker_topic topics[] = {{TOPIC, partitions}, {AGENT_TOPIC, 1}, {FRESH_TOPIC, fresh_partitions}};
	struct ccp_broker *broker = ccp_broker_start(n_brokers, topics, 3, err, sizeof(err));
	if (!broker)
		die("broker", err);
	const char *brokers = ccp_broker_bootstrap(broker);

	struct expect x;
	double t = bench_now_s();
	preload(brokers, &b, &x);
	double preload_s = bench_now_s() - t;
	free(b.buf);
	printf("preload: %" PRIu64 " contact events (%.1f MB, %.1f KB per partition on average) over %d partitions and %d "
	       "queues, %" PRIu64 " agent states, in %.1f s\n",
	       x.contact_msgs, (double)x.bytes / 1e6, (double)x.bytes / 1e3 / partitions, partitions, queues, x.agent_msgs,
	       preload_s);
	if (x.contact_msgs < want)
		fprintf(stderr, "bench_e2e: note: %" PRIu64 " contact events, fewer than the %" PRIu64 " asked\n",
			x.contact_msgs, want);

	struct timing bare = bare_consumer(brokers, x.contact_msgs);
	double bare_rate = (double)x.contact_msgs / (bare.last - bare.first);
	printf("bare consumer: counted %" PRIu64 " = produced; join %.2f s, then %.0f events/s (%.2f s)\n",
	       x.contact_msgs, bare.first - bare.start, bare_rate, bare.last - bare.first);

	int port = ccp_redis_child_free_port();
	pid_t redis = ccp_redis_child_start(port, err, sizeof(err));
	if (redis < 0)
		die("redis", err);
	char url[64];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
	redisContext *rc = redisConnect("127.0.0.1", port);
	if (!rc || rc->err)
		die("redis connect", rc ? rc->errstr : "out of memory");

	struct runner r;
	struct timing e2e = {.start = bench_now_s()};
	double cpu0 = cpu_s();
	runner_start(&r, brokers, TOPIC, "bench-e2e", "ccpulse", url, workers);
	struct ccp_pipeline_stats st;
	for (;;) {
		ccp_pipeline_stats(r.p, &st);
		double now = bench_now_s();
		if (!e2e.first && st.messages > 0)
			e2e.first = now;
		if (!e2e.consumed && st.messages >= x.contact_msgs)
			e2e.consumed = now;
		if (st.messages >= x.contact_msgs && final_in_redis(rc, &x)) {
			e2e.last = now;
			break;
		}
		if (now - e2e.start > 600)
			die("pipeline", "Redis did not reach the final figures within 600 s");
		usleep(st.messages >= x.contact_msgs ? 1000 : 5000);
	}
	double e2e_rate = (double)x.contact_msgs / (e2e.last - e2e.first);
	double e2e_cores = (cpu_s() - cpu0) / (e2e.last - e2e.start);
	printf("ccpulse (%s workers): consumed %" PRIu64 " = produced; join %.2f s, then %.0f events/s until Redis held "
	       "the final figures (%.2f s); renders %" PRIu64 " acked %" PRIu64 ", backpressure pauses %" PRIu64 "\n",
	       workers[0] == '0' ? "one per core:" : workers, st.messages, e2e.first - e2e.start, e2e_rate,
	       e2e.last - e2e.first, st.publications, st.acked, st.backpressure);
	printf("ratio ccpulse / bare consumer: %.2f; this process used %.2f cores meanwhile (broker included)\n",
	       e2e_rate / bare_rate, e2e_cores);
	printf("of which: every event through the workers at %.2f s (%.0f events/s), the last render and the totals "
	       "(written every publish interval) %.2f s later\n",
	       e2e.consumed - e2e.first, (double)x.contact_msgs / (e2e.consumed - e2e.first), e2e.last - e2e.consumed);

	runner_stop(&r);
	if (fresh_s > 0) {
		struct runner rf;
		runner_start(&rf, brokers, FRESH_TOPIC, "bench-fresh", "fresh", url, workers);
		/* The group's join is not freshness: start the load once every
		 * partition is assigned. */
		for (double t0 = bench_now_s();; usleep(10000)) {
			ccp_pipeline_stats(rf.p, &st);
			if (st.partitions == (uint32_t)fresh_partitions && st.redis_ready)
				break;
			if (bench_now_s() - t0 > 60)
				die("freshness", "partitions not assigned within 60 s");
		}
		char who[96];
		snprintf(who, sizeof(who), "ccpulse, %d partitions, publish_interval %lld ms", fresh_partitions,
			 (long long)rf.cfg.publish_interval_ms);
		struct fresh *f = fresh_new(brokers, fresh_s, queues, rc);
		double c0 = cpu_s(), w0 = bench_now_s();
		freshness(f);
		report_freshness(who, f, (cpu_s() - c0) / (bench_now_s() - w0), fresh_s);
		free(f);
		runner_stop(&rf);
	}
	if (fresh_s > 0) {
		struct fresh *f = fresh_new(brokers, fresh_s, queues, NULL);
		double c0 = cpu_s(), w0 = bench_now_s();
		freshness_bare(f);
		report_freshness("bare consumer: Kafka's part", f, (cpu_s() - c0) / (bench_now_s() - w0), fresh_s);
		free(f);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS of this process (broker, both consumers, pipeline): %.0f MB\n", (double)ru.ru_maxrss / 1024.0);

	redisFree(rc);
	ccp_redis_child_stop(redis);
	ccp_broker_stop(broker);
	return 0;
}
