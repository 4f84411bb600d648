/* Integration tests of source_kafka against librdkafka's mock cluster (in
 * process, loopback, no external Kafka): keyed messages over 8 partitions
 * delivered exactly once in per-partition order; backpressure (a deliver
 * callback that refuses, then accepts) without loss or reorder; stored
 * offsets committed at stop and read back by a fresh consumer; restart
 * from committed and from checkpoint offsets; two sources in one group
 * splitting the partitions and taking over on stop; the agent topic read
 * whole by two readers; dead-letter headers; configuration errors. */
/* ccp-test-labels: threaded */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "ccp_test.h"
#include "ccpulse/broker.h"
#include "ccpulse/log.h"
#include "ccpulse/source_kafka.h"

/* Under TSan, tests/support/ccp_test_tsan_rdkafka.c (linked into every test)
 * makes librdkafka's C11 threads and locks visible. */

#define NP 8      /* partitions of the contact topic */
#define NKEYS 64  /* queues (message keys) */
#define TOPIC "contact-events"
#define AGENTS "agent-events"
#define DLQ "ccpulse-dead-letters"

/* Settings every test source gets: fast group protocol on the mock. */
static const struct ccp_source_kafka_setting fast_group[] = {
	{"kafka.heartbeat.interval.ms", "300"},
	{"session.timeout.ms", "6000"},
	{"kafka.topic.metadata.refresh.interval.ms", "1000"},
	{"log_level", "3"},
};

/* What the deliver callbacks saw, shared by the sources of one test.
 * Owner: the test; source threads write under `mu`. */
struct coll {
	pthread_mutex_t mu;
	uint64_t total;
	int64_t last_off[NP];     /* -1: none yet */
	int64_t first_off[NP];    /* -1: none yet */
	uint32_t key_next[NKEYS]; /* next sequence expected per key */
	int owner[NP];            /* member id that delivered partition p, -1 none */
	int split_violations;     /* a partition delivered by two members */
	int order_errors;
	char first_error[256];
	int assigned_calls[NP], revoked_calls[NP];
	int64_t assign_offset;      /* what assigned() returns */
	_Atomic int64_t tokens;     /* messages deliver may still accept; <0 unlimited */
	_Atomic uint64_t refusals;  /* deliver calls that took fewer than offered */
};

/* One source's view: the ud of its callbacks. Owner: the test. */
struct member {
	struct coll *c;
	int id;
	bool store;     /* store offsets right away (immediate "ack") */
	struct ccp_source_kafka *src;
	uint64_t delivered;
};

static void coll_init(struct coll *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	for (int p = 0; p < NP; p++) {
		c->last_off[p] = c->first_off[p] = -1;
		c->owner[p] = -1;
	}
	c->assign_offset = CCP_SOURCE_KAFKA_OFFSET_COMMITTED;
	atomic_store(&c->tokens, -1);
}

/* Forget what was seen, keep the per-key sequence (a continuing stream). */
static void coll_reset_offsets(struct coll *c)
{
	pthread_mutex_lock(&c->mu);
	for (int p = 0; p < NP; p++) {
		c->last_off[p] = c->first_off[p] = -1;
		c->owner[p] = -1;
	}
	pthread_mutex_unlock(&c->mu);
}

static size_t take_tokens(struct coll *c, size_t n)
{
	for (;;) {
		int64_t t = atomic_load(&c->tokens);
		if (t < 0)
			return n;
		size_t k = (size_t)t < n ? (size_t)t : n;
		if (atomic_compare_exchange_weak(&c->tokens, &t, t - (int64_t)k))
			return k;
	}
}

static void order_error(struct coll *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void order_error(struct coll *c, const char *fmt, ...)
{
	if (c->order_errors++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
		va_end(ap);
	}
}

static size_t deliver_cb(void *ud, int32_t partition, const rd_kafka_message_t **msgs, size_t n)
{
	struct member *m = ud;
	struct coll *c = m->c;
	size_t k = take_tokens(c, n);
	if (k < n)
		atomic_fetch_add(&c->refusals, 1);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < k; i++) {
		const rd_kafka_message_t *msg = msgs[i];
		int p = msg->partition;
		if (p != partition || p < 0 || p >= NP) {
			order_error(c, "message of partition %d delivered as %d", p, (int)partition);
			continue;
		}
		if (c->last_off[p] >= 0 && msg->offset != c->last_off[p] + 1)
			order_error(c, "partition %d: offset %" PRId64 " after %" PRId64, p, msg->offset, c->last_off[p]);
		if (c->first_off[p] < 0)
			c->first_off[p] = msg->offset;
		c->last_off[p] = msg->offset;
		if (c->owner[p] >= 0 && c->owner[p] != m->id)
			c->split_violations++;
		c->owner[p] = m->id;
		unsigned key, seq;
		char text[64];
		size_t len = msg->len < sizeof(text) - 1 ? msg->len : sizeof(text) - 1;
		memcpy(text, msg->payload, len);
		text[len] = '\0';
		if (sscanf(text, "k=%u s=%u", &key, &seq) != 2 || key >= NKEYS) {
			order_error(c, "bad payload %s", text);
			continue;
		}
		if (seq != c->key_next[key])
			order_error(c, "key %u: seq %u, expected %u (partition %d offset %" PRId64 ")", key, seq,
				    c->key_next[key], p, msg->offset);
		c->key_next[key] = seq + 1;
		c->total++;
	}
	m->delivered += k;
	pthread_mutex_unlock(&c->mu);
	if (k > 0 && m->store) {
		int rc = ccp_source_kafka_store_offset(m->src, partition, msgs[k - 1]->offset + 1);
		if (rc)
			fprintf(stderr, "store_offset(%d): %d\n", (int)partition, rc);
	}
	for (size_t i = 0; i < k; i++)
		ccp_source_kafka_release(msgs[i]); /* handed over: ours to give back */
	return k;
}

static int64_t assigned_cb(void *ud, int32_t partition)
{
	struct member *m = ud;
	pthread_mutex_lock(&m->c->mu);
	if (partition >= 0 && partition < NP)
		m->c->assigned_calls[partition]++;
	int64_t off = m->c->assign_offset;
	pthread_mutex_unlock(&m->c->mu);
	return off;
}

static void revoked_cb(void *ud, int32_t partition)
{
	struct member *m = ud;
	pthread_mutex_lock(&m->c->mu);
	if (partition >= 0 && partition < NP)
		m->c->revoked_calls[partition]++;
	pthread_mutex_unlock(&m->c->mu);
}

static struct ccp_broker *broker_up(void)
{
	char err[512];
	const struct ccp_broker_topic topics[] = {{TOPIC, NP}, {AGENTS, 4}, {DLQ, 1}};
	struct ccp_broker *b = ccp_broker_start(1, topics, 3, err, sizeof(err));
	if (!b)
		fail_msg("%s", err);
	return b;
}

/* Produces n messages "k=K s=S" keyed "q-K" round-robin over the keys,
 * S counting per key from `seq` (updated). Waits for all acks. */
static void produce(const char *bootstrap, const char *topic, int n, uint32_t seq[NKEYS])
{
	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof(e));
	rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof(e));
	rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e));
	rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	assert_non_null(p);
	for (int i = 0; i < n; i++) {
		unsigned k = (unsigned)i % NKEYS;
		char key[16], val[64];
		int kl = snprintf(key, sizeof(key), "q-%02u", k);
		int vl = snprintf(val, sizeof(val), "k=%u s=%u", k, seq[k]++);
		rd_kafka_resp_err_t err;
		while ((err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_VALUE(val, (size_t)vl),
						RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(p, 10);
		assert_int_equal(err, 0);
	}
	assert_int_equal(rd_kafka_flush(p, ccp_test_ms(20000)), 0);
	rd_kafka_destroy(p);
}

static struct ccp_log test_log;

static struct ccp_source_kafka *source_new(const char *bootstrap, const char *group, struct member *m,
					   const char *dlq)
{
	ccp_log_init(&test_log);
	test_log.level = getenv("IT_KAFKA_DEBUG") ? CCP_LOG_DEBUG : CCP_LOG_WARN;
	struct ccp_source_kafka_opts o = {
		.brokers = bootstrap,
		.topic = TOPIC,
		.group = group,
		.client_id = "it-source",
		.kafka = fast_group,
		.n_kafka = sizeof(fast_group) / sizeof(fast_group[0]),
		.dead_letter_topic = dlq,
		.batch_max = 256,
		.poll_ms = 50,
		.deliver = deliver_cb,
		.assigned = assigned_cb,
		.revoked = revoked_cb,
		.ud = m,
		.log = &test_log,
	};
	char err[512];
	struct ccp_source_kafka *src = ccp_source_kafka_new(&o, err, sizeof(err));
	if (!src)
		fail_msg("%s", err);
	m->src = src;
	if (ccp_source_kafka_start(src, err, sizeof(err)))
		fail_msg("%s", err);
	return src;
}

/* ---- conditions ---------------------------------------------------------- */

struct total_at_least {
	struct coll *c;
	uint64_t n;
};

static bool total_reached(void *arg)
{
	struct total_at_least *t = arg;
	pthread_mutex_lock(&t->c->mu);
	bool ok = t->c->total >= t->n;
	pthread_mutex_unlock(&t->c->mu);
	return ok;
}

static void wait_total(struct coll *c, uint64_t n, int timeout_ms)
{
	struct total_at_least t = {c, n};
	if (!ccp_test_wait_until(total_reached, &t, timeout_ms)) {
		pthread_mutex_lock(&c->mu);
		uint64_t got = c->total;
		pthread_mutex_unlock(&c->mu);
		fail_msg("delivered %" PRIu64 " of %" PRIu64 " within %d ms", got, n, ccp_test_ms(timeout_ms));
	}
}

static bool lag_zero(void *arg)
{
	struct ccp_source_kafka *src = arg;
	for (int p = 0; p < NP; p++)
		if (ccp_source_kafka_lag(src, p) != 0)
			return false;
	return true;
}

static void check_clean(struct coll *c, uint64_t total)
{
	pthread_mutex_lock(&c->mu);
	if (c->order_errors)
		fail_msg("%d order errors; first: %s", c->order_errors, c->first_error);
	assert_int_equal(c->total, total);
	pthread_mutex_unlock(&c->mu);
}

/* ---- tests ------------------------------------------------------------- */

/* N keyed messages over 8 partitions: all delivered once, in order per
 * partition and per key; stats agree; stop is quick. */
static void test_deliver_all_once(void **state)
{
	struct ccp_broker *b = broker_up();
	struct coll c;
	coll_init(&c);
	uint32_t seq[NKEYS] = {0};
	const int n = 20000;
	produce(ccp_broker_bootstrap(b), TOPIC, n, seq);
	struct member m = {.c = &c, .id = 0, .store = true};
	long long t_start = ccp_test_now_ms();
	struct ccp_source_kafka *src = source_new(ccp_broker_bootstrap(b), "g-once", &m, NULL);
	wait_total(&c, n, 30000);
	long long took_ms = ccp_test_now_ms() - t_start;
	assert_true(ccp_test_wait_until(lag_zero, src, 5000));
	struct ccp_source_kafka_stats st;
	ccp_source_kafka_stats(src, &st);
	assert_int_equal(st.messages, n);
	assert_true(st.batches > 0 && st.batches <= (uint64_t)n);
	assert_int_equal(st.assigned, NP);
	assert_int_equal(st.pauses, 0);
	assert_int_equal(st.stale, 0);
	for (int p = 0; p < NP; p++) {
		assert_int_equal(c.first_off[p], 0); /* every partition got some */
		assert_int_equal(c.assigned_calls[p], 1);
	}
	long long t0 = ccp_test_now_ms();
	ccp_source_kafka_stop(src);
	long long stop_ms = ccp_test_now_ms() - t0;
	print_message("deliver_all_once: %d messages in %" PRIu64 " batches, %lld ms from start (group join "
		      "included); stop took %lld ms\n",
		      n, st.batches, took_ms, stop_ms);
	assert_true(stop_ms < ccp_test_ms(5000));
	for (int p = 0; p < NP; p++)
		assert_int_equal(c.revoked_calls[p], 1); /* close ran the revoke path */
	ccp_source_kafka_free(src);
	check_clean(&c, n);
	ccp_broker_stop(b);
}

/* A deliver callback that accepts only what the test grants: the source
 * pauses, keeps, retries on wake, resumes; nothing lost or reordered. */
static void test_backpressure(void **state)
{
	struct ccp_broker *b = broker_up();
	struct coll c;
	coll_init(&c);
	atomic_store(&c.tokens, 0); /* refuse everything at first */
	uint32_t seq[NKEYS] = {0};
	const int n = 6000;
	produce(ccp_broker_bootstrap(b), TOPIC, n, seq);
	struct member m = {.c = &c, .id = 0, .store = true};
	struct ccp_source_kafka *src = source_new(ccp_broker_bootstrap(b), "g-bp", &m, NULL);
	/* Grant 700 at a time, waking the source, until all arrived. */
	long long deadline = ccp_test_now_ms() + ccp_test_ms(60000);
	uint64_t got = 0;
	while (got < (uint64_t)n && ccp_test_now_ms() < deadline) {
		if (atomic_load(&c.tokens) == 0) {
			atomic_store(&c.tokens, 700);
			ccp_source_kafka_wake(src);
		}
		struct timespec ts = {0, 2 * 1000000};
		nanosleep(&ts, NULL); /* polling interval of a condition wait */
		pthread_mutex_lock(&c.mu);
		got = c.total;
		pthread_mutex_unlock(&c.mu);
	}
	assert_int_equal(got, n);
	struct ccp_source_kafka_stats st;
	ccp_source_kafka_stats(src, &st);
	print_message("backpressure: %" PRIu64 " pauses, %" PRIu64 " resumes, %" PRIu64 " refusals, %" PRIu64
		      " stale\n",
		      st.pauses, st.resumes, atomic_load(&c.refusals), st.stale);
	assert_true(st.pauses > 0);
	assert_true(st.resumes > 0);
	assert_true(st.resumes <= st.pauses);
	/* librdkafka fetches again from after the last message it handed out,
	 * so the source never sees a message twice */
	assert_int_equal(st.messages, n);
	ccp_source_kafka_free(src);
	check_clean(&c, n);
	ccp_broker_stop(b);
}

/* Offsets of a rd_kafka_committed() query by a fresh consumer in `group`. */
static void committed_offsets(const char *bootstrap, const char *group, int64_t out[NP])
{
	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof(e));
	rd_kafka_conf_set(conf, "group.id", group, e, sizeof(e));
	rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	assert_non_null(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NP);
	for (int p = 0; p < NP; p++)
		rd_kafka_topic_partition_list_add(l, TOPIC, p);
	assert_int_equal(rd_kafka_committed(rk, l, ccp_test_ms(10000)), 0);
	for (int p = 0; p < NP; p++)
		out[p] = l->elems[p].offset;
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* Store only a prefix, stop: the group's committed offsets are exactly
 * the stored ones; a new source in the group starts there; a source whose
 * assigned() names an offset starts there. */
static void test_stored_offsets(void **state)
{
	struct ccp_broker *b = broker_up();
	const char *bs = ccp_broker_bootstrap(b);
	struct coll c;
	coll_init(&c);
	uint32_t seq[NKEYS] = {0};
	const int n = 4000;
	produce(bs, TOPIC, n, seq);
	struct member m = {.c = &c, .id = 0, .store = false};
	struct ccp_source_kafka *src = source_new(bs, "g-store", &m, NULL);
	wait_total(&c, n, 30000);
	int64_t stored[NP];
	int64_t count[NP];
	uint64_t rest = 0;
	for (int p = 0; p < NP; p++) {
		count[p] = c.last_off[p] + 1;
		stored[p] = count[p] / 3;
		rest += (uint64_t)(count[p] - stored[p]);
		assert_int_equal(ccp_source_kafka_store_offset(src, p, stored[p]), 0);
	}
	assert_int_equal(ccp_source_kafka_store_offset(src, NP + 3, 1), -ENOENT);
	ccp_source_kafka_stop(src);
	/* after stop nothing is assigned: storing is refused, not lost silently */
	assert_int_equal(ccp_source_kafka_store_offset(src, 0, stored[0] + 1), -ENOENT);
	ccp_source_kafka_free(src);

	int64_t committed[NP];
	committed_offsets(bs, "g-store", committed);
	for (int p = 0; p < NP; p++)
		assert_int_equal(committed[p], stored[p]);

	/* A fresh source in the group resumes at the committed offsets. The
	 * per-key sequence restarts where the stored prefix ended. */
	struct coll c2;
	coll_init(&c2);
	struct member m2 = {.c = &c2, .id = 1, .store = false};
	/* keys restart at their first unacknowledged seq: accept any start */
	src = source_new(bs, "g-store", &m2, NULL);
	struct total_at_least t = {&c2, rest};
	assert_true(ccp_test_wait_until(total_reached, &t, 30000));
	for (int p = 0; p < NP; p++) {
		assert_int_equal(c2.first_off[p], stored[p]);
		assert_int_equal(c2.last_off[p], count[p] - 1);
	}
	ccp_source_kafka_free(src);
	assert_int_equal(c2.total, rest);

	/* assigned() returning an offset (checkpoint restore) wins over the
	 * committed one. */
	struct coll c3;
	coll_init(&c3);
	c3.assign_offset = 5;
	struct member m3 = {.c = &c3, .id = 2, .store = false};
	src = source_new(bs, "g-store", &m3, NULL);
	uint64_t from5 = 0;
	for (int p = 0; p < NP; p++)
		from5 += (uint64_t)(count[p] - 5);
	struct total_at_least t3 = {&c3, from5};
	assert_true(ccp_test_wait_until(total_reached, &t3, 30000));
	for (int p = 0; p < NP; p++)
		assert_int_equal(c3.first_off[p], 5);
	ccp_source_kafka_free(src);
	assert_int_equal(c3.total, from5);
	ccp_broker_stop(b);
}

struct assigned_count {
	struct ccp_source_kafka *a, *b;
	uint64_t want_a, want_b;
};

static bool assigned_is(void *arg)
{
	struct assigned_count *x = arg;
	struct ccp_source_kafka_stats sa, sb;
	ccp_source_kafka_stats(x->a, &sa);
	if (x->b)
		ccp_source_kafka_stats(x->b, &sb);
	return sa.assigned == x->want_a && (!x->b || sb.assigned == x->want_b);
}

/* Two sources in one group split the partitions and deliver everything
 * once; when one stops, the other takes its partitions over from the
 * offsets it committed. */
static void test_two_sources_one_group(void **state)
{
	struct ccp_broker *b = broker_up();
	const char *bs = ccp_broker_bootstrap(b);
	struct coll c;
	coll_init(&c);
	struct member ma = {.c = &c, .id = 0, .store = true}, mb = {.c = &c, .id = 1, .store = true};
	struct ccp_source_kafka *a = source_new(bs, "g-two", &ma, NULL);
	struct ccp_source_kafka *bsrc = source_new(bs, "g-two", &mb, NULL);
	struct assigned_count half = {a, bsrc, NP / 2, NP / 2};
	assert_true(ccp_test_wait_until(assigned_is, &half, 30000));

	uint32_t seq[NKEYS] = {0};
	const int n = 8000;
	produce(bs, TOPIC, n, seq);
	wait_total(&c, n, 30000);
	assert_int_equal(c.split_violations, 0);
	assert_true(ma.delivered > 0 && mb.delivered > 0);
	int owned_b[NP], nb = 0;
	for (int p = 0; p < NP; p++) {
		owned_b[p] = c.owner[p] == 1;
		nb += owned_b[p];
	}
	assert_int_equal(nb, NP / 2);
	int revoked_before[NP], assigned_before[NP];
	memcpy(revoked_before, c.revoked_calls, sizeof(revoked_before));
	memcpy(assigned_before, c.assigned_calls, sizeof(assigned_before));

	/* B leaves: its revoke runs before close returns; A gets everything. */
	ccp_source_kafka_free(bsrc);
	for (int p = 0; p < NP; p++)
		if (owned_b[p])
			assert_true(c.revoked_calls[p] > revoked_before[p]);
	struct assigned_count all = {a, NULL, NP, 0};
	assert_true(ccp_test_wait_until(assigned_is, &all, 30000));
	for (int p = 0; p < NP; p++)
		assert_true(c.assigned_calls[p] > assigned_before[p]);

	coll_reset_offsets(&c);
	produce(bs, TOPIC, n, seq);
	wait_total(&c, 2 * (uint64_t)n, 30000);
	pthread_mutex_lock(&c.mu);
	for (int p = 0; p < NP; p++)
		assert_int_equal(c.owner[p], 0);
	pthread_mutex_unlock(&c.mu);
	struct ccp_source_kafka_stats st;
	ccp_source_kafka_stats(a, &st);
	assert_true(st.rebalances >= 3); /* assign, revoke, assign */
	ccp_source_kafka_free(a);
	check_clean(&c, 2 * (uint64_t)n); /* per-key sequences: each once, in order */
	ccp_broker_stop(b);
}

/* The agent-topic table of one reader. Owner: the test; written by the
 * reader's thread under mu. */
struct table {
	pthread_mutex_t mu;
	uint64_t count;
	uint32_t key_next[NKEYS];
	int errors;
};

static void global_cb(void *ud, int32_t partition, const rd_kafka_message_t **msgs, size_t n)
{
	struct table *t = ud;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < n; i++) {
		unsigned key, seq;
		char text[64];
		size_t len = msgs[i]->len < sizeof(text) - 1 ? msgs[i]->len : sizeof(text) - 1;
		memcpy(text, msgs[i]->payload, len);
		text[len] = '\0';
		if (msgs[i]->partition != partition || sscanf(text, "k=%u s=%u", &key, &seq) != 2 || key >= NKEYS ||
		    seq != t->key_next[key])
			t->errors++;
		else
			t->key_next[key] = seq + 1;
		t->count++;
	}
	pthread_mutex_unlock(&t->mu);
}

struct global_at_least {
	struct ccp_source_kafka_global *g;
	uint64_t n;
};

static bool global_reached(void *arg)
{
	struct global_at_least *x = arg;
	return ccp_source_kafka_global_messages(x->g) >= x->n;
}

static bool global_caught_up(void *arg)
{
	return ccp_source_kafka_global_caught_up(arg);
}

/* Two instances each read the whole agent topic, from the beginning, and
 * keep following it; neither commits. */
static void test_agent_topic_whole(void **state)
{
	struct ccp_broker *b = broker_up();
	const char *bs = ccp_broker_bootstrap(b);
	uint32_t seq[NKEYS] = {0};
	produce(bs, AGENTS, 500, seq);
	struct table t[2];
	struct ccp_source_kafka_global *g[2];
	for (int i = 0; i < 2; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		pthread_mutex_init(&t[i].mu, NULL);
		struct ccp_source_kafka_global_opts o = {
			.brokers = bs,
			.topic = AGENTS,
			.kafka = fast_group,
			.n_kafka = sizeof(fast_group) / sizeof(fast_group[0]),
			.poll_ms = 50,
			.deliver = global_cb,
			.ud = &t[i],
		};
		char err[512];
		g[i] = ccp_source_kafka_global_new(&o, err, sizeof(err));
		if (!g[i])
			fail_msg("%s", err);
		if (ccp_source_kafka_global_start(g[i], err, sizeof(err)))
			fail_msg("%s", err);
	}
	for (int i = 0; i < 2; i++) {
		assert_true(ccp_test_wait_until(global_caught_up, g[i], 30000));
		assert_true(ccp_source_kafka_global_messages(g[i]) >= 500);
	}
	produce(bs, AGENTS, 300, seq); /* later updates reach every instance */
	for (int i = 0; i < 2; i++) {
		struct global_at_least x = {g[i], 800};
		assert_true(ccp_test_wait_until(global_reached, &x, 30000));
	}
	for (int i = 0; i < 2; i++) {
		ccp_source_kafka_global_free(g[i]);
		assert_int_equal(t[i].count, 800);
		assert_int_equal(t[i].errors, 0);
		for (int k = 0; k < NKEYS; k++)
			assert_int_equal(t[i].key_next[k], seq[k]);
	}
	ccp_broker_stop(b);
}

static bool dead_letter_acked(void *arg)
{
	struct ccp_source_kafka_stats st;
	ccp_source_kafka_stats(arg, &st);
	return st.dead_letters >= 2;
}

static const char *header(rd_kafka_message_t *msg, const char *name, char *buf, size_t buflen)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t len;
	if (rd_kafka_message_headers(msg, &h) || rd_kafka_header_get_last(h, name, &v, &len) || len >= buflen)
		return NULL;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return buf;
}

/* Dead letters carry the payload and the three headers. */
static void test_dead_letter(void **state)
{
	struct ccp_broker *b = broker_up();
	const char *bs = ccp_broker_bootstrap(b);
	struct coll c;
	coll_init(&c);
	struct member m = {.c = &c, .id = 0};
	struct ccp_source_kafka *src = source_new(bs, "g-dlq", &m, DLQ);
	const char bad[] = "{\"id\":";
	assert_int_equal(ccp_source_kafka_dead_letter(src, "bad_json", 3, 42, bad, sizeof(bad) - 1), 0);
	assert_int_equal(ccp_source_kafka_dead_letter(src, "missing_field", 7, 1234567890123LL, "{}", 2), 0);
	assert_true(ccp_test_wait_until(dead_letter_acked, src, 20000));

	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", bs, e, sizeof(e));
	rd_kafka_conf_set(conf, "group.id", "dlq-reader", e, sizeof(e));
	rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	assert_non_null(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, DLQ, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	int got = 0;
	long long deadline = ccp_test_now_ms() + ccp_test_ms(20000);
	while (got < 2 && ccp_test_now_ms() < deadline) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
		if (!msg)
			continue;
		if (!msg->err) {
			char r[64], p[32], o[32];
			assert_non_null(header(msg, "ccpulse-reason", r, sizeof(r)));
			assert_non_null(header(msg, "ccpulse-partition", p, sizeof(p)));
			assert_non_null(header(msg, "ccpulse-offset", o, sizeof(o)));
			if (got == 0) {
				assert_string_equal(r, "bad_json");
				assert_string_equal(p, "3");
				assert_string_equal(o, "42");
				assert_int_equal(msg->len, sizeof(bad) - 1);
				assert_memory_equal(msg->payload, bad, sizeof(bad) - 1);
			} else {
				assert_string_equal(r, "missing_field");
				assert_string_equal(p, "7");
				assert_string_equal(o, "1234567890123");
			}
			got++;
		}
		rd_kafka_message_destroy(msg);
	}
	assert_int_equal(got, 2);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	ccp_source_kafka_free(src);

	/* Without a dead-letter topic the call says so. */
	struct coll c2;
	coll_init(&c2);
	struct member m2 = {.c = &c2, .id = 0};
	src = source_new(bs, "g-dlq2", &m2, NULL);
	assert_int_equal(ccp_source_kafka_dead_letter(src, "bad_json", 0, 0, "x", 1), -ENOTSUP);
	ccp_source_kafka_free(src);
	ccp_broker_stop(b);
}

/* Setup errors name the key or the missing option. */
static void test_config_errors(void **state)
{
	char err[512];
	struct member m = {0};
	struct ccp_source_kafka_opts o = {
		.brokers = "127.0.0.1:1", .topic = TOPIC, .group = "g", .deliver = deliver_cb, .ud = &m};
	struct ccp_source_kafka_setting bad_key[] = {{"kafka.no.such.setting", "1"}};
	o.kafka = bad_key;
	o.n_kafka = 1;
	assert_null(ccp_source_kafka_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "kafka.no.such.setting"));

	struct ccp_source_kafka_setting bad_value[] = {{"session.timeout.ms", "abc"}};
	o.kafka = bad_value;
	assert_null(ccp_source_kafka_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "session.timeout.ms=abc"));

	struct ccp_source_kafka_setting coop[] = {{"kafka.partition.assignment.strategy", "cooperative-sticky"}};
	o.kafka = coop;
	assert_null(ccp_source_kafka_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "cooperative-sticky"));

	o.kafka = NULL;
	o.n_kafka = 0;
	o.group = NULL;
	assert_null(ccp_source_kafka_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "group"));

	/* A good one is created and freed without ever starting. */
	o.group = "g";
	struct ccp_source_kafka *src = ccp_source_kafka_new(&o, err, sizeof(err));
	assert_non_null(src);
	ccp_source_kafka_free(src);
	ccp_source_kafka_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_deliver_all_once),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_stored_offsets),
		cmocka_unit_test(test_two_sources_one_group),
		cmocka_unit_test(test_agent_topic_whole),
		cmocka_unit_test(test_dead_letter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
