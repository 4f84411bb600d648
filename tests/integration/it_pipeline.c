/* End-to-end tests of the live pipeline (ccpulse run's machinery) against
 * librdkafka's mock cluster and a private redis-server: simulated traffic
 * (plus bad lines, duplicates and agent states on the agent topic)
 * produced to an 8-partition topic lands in Redis exactly as one engine
 * over the same events in file order computes it (the replay path), for
 * one instance and for two instances sharing the group; offsets are
 * committed only up to what Redis acknowledged (checked by a fresh
 * consumer across a Redis outage); a clean stop leaves the committed
 * offsets at the end of what was published. */
/* ccp-test-labels: threaded */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "ccp_test.h"
#include "ccpulse/broker.h"
#include "ccpulse/config.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/figures.h"
#include "ccpulse/hist.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"
#include "ccpulse/sim.h"
#include "ccpulse/total.h"

#define PARTITIONS 8
#define TOPIC "contact-events"
#define AGENT_TOPIC "agent-events"

/* One produced event. */
struct msg {
	bool agent; /* agent topic */
	char key[96];
	char *line; /* without newline */
	size_t len;
	int32_t partition; /* where the broker put it (delivery report) */
};

/* The traffic of a test, in file order. Owner: the test. */
struct traffic {
	struct msg *m;
	size_t n, cap;
	size_t n_contact; /* messages on the contact topic */
};

static void add(struct traffic *t, bool agent, const char *key, const char *line, size_t len)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 4096;
		t->m = realloc(t->m, t->cap * sizeof(*t->m));
		assert_non_null(t->m);
	}
	struct msg *m = &t->m[t->n++];
	m->agent = agent;
	snprintf(m->key, sizeof(m->key), "%s", key);
	m->line = malloc(len + 1);
	assert_non_null(m->line);
	memcpy(m->line, line, len);
	m->line[len] = 0;
	m->len = len;
	if (!agent)
		t->n_contact++;
}

static void traffic_free(struct traffic *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->m[i].line);
	free(t->m);
	memset(t, 0, sizeof(*t));
}

/* Simulated hours of a small center from `start_ms`, with a duplicate of
 * every 97th contact event, a bad line every 500, and a closing
 * unmatched promise.kept per queue at the last timestamp, so every
 * partition's clock ends where the whole file's does. */
static void make_traffic(struct traffic *t, uint64_t seed, int64_t start_ms, double hours)
{
	struct ccp_sim_config sc;
	ccp_sim_config_default(&sc);
	sc.seed = seed;
	sc.start_ms = start_ms;
	sc.duration_ms = (int64_t)(hours * 3600000.0);
	sc.curve = CCP_SIM_CURVE_FLAT;
	struct ccp_sim *s;
	char err[256];
	assert_int_equal(ccp_sim_new(&sc, 20000, &s, err, sizeof(err)), 0);
	struct ccp_sim_event ev;
	char buf[CCP_SIM_EVENT_MAX_BYTES], key[CCP_SIM_KEY_MAX_BYTES];
	int64_t last = start_ms;
	size_t k = 0;
	while (ccp_sim_next(s, &ev) == 1) {
		size_t len = ccp_sim_format(s, &ev, buf, sizeof(buf));
		size_t kl = ccp_sim_key(s, &ev, key, sizeof(key));
		key[kl] = 0;
		bool agent = ev.type == CCP_EV_AGENT_STATE;
		add(t, agent, key, buf, len - 1);
		last = ev.ts_ms > last ? ev.ts_ms : last;
		if (!agent && ++k % 97 == 0)
			add(t, false, key, buf, len - 1);
		if (k % 500 == 0) {
			static const char *const bad[] = {"{\"id\":\"x\"", "{\"id\":\"b\",\"type\":\"contact.nope\",\"ts\":1}",
							  "[1,2]", "{\"id\":\"c\",\"type\":\"contact.offered\",\"ts\":1}"};
			const char *b = bad[(k / 500) % 4];
			add(t, false, key, b, strlen(b));
		}
	}
	for (int q = 0; q < ccp_sim_config(s)->n_queues; q++) {
		const char *name = ccp_sim_config(s)->queues[q].name;
		snprintf(buf, sizeof(buf),
			 "{\"id\":\"close-%s\",\"type\":\"promise.kept\",\"ts\":%" PRId64
			 ",\"queue\":\"%s\",\"contact\":\"end\",\"promise\":\"none\"}",
			 name, last, name);
		add(t, false, name, buf, strlen(buf));
	}
	ccp_sim_free(s);
}

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->_private)
		((struct msg *)m->_private)->partition = m->partition;
}

static void produce(const char *brokers, const struct traffic *t, size_t from, size_t to)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)), RD_KAFKA_CONF_OK);
	rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(rk);
	for (size_t i = from; i < to; i++) {
		const struct msg *m = &t->m[i];
		rd_kafka_resp_err_t e;
		while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(m->agent ? AGENT_TOPIC : TOPIC),
					      RD_KAFKA_V_KEY(m->key, strlen(m->key)),
					      RD_KAFKA_V_VALUE(m->line, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_OPAQUE((void *)m),
					      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
		rd_kafka_poll(rk, 0);
	}
	assert_int_equal(rd_kafka_flush(rk, ccp_test_ms(30000)), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
}

/* ---- the reference: one engine over the events in file order ---------------- */

struct reference {
	struct ccp_engine *e;
	uint64_t rejects[CCP_REJECT__COUNT];
};

static void reference_build(struct reference *r, const struct ccp_config *cfg, const struct traffic *t, size_t n)
{
	char err[256];
	memset(r, 0, sizeof(*r));
	r->e = ccp_engine_new(&cfg->engine, err, sizeof(err));
	assert_non_null(r->e);
	static struct ccp_decoder dec;
	ccp_decoder_init(&dec);
	for (size_t i = 0; i < n; i++) {
		struct ccp_event ev;
		enum ccp_reject rj = ccp_decode(&dec, t->m[i].line, t->m[i].len, &ev, NULL);
		if (rj != CCP_REJECT_NONE) {
			r->rejects[rj]++;
			continue;
		}
		ccp_engine_apply(r->e, &ev);
	}
}

/* The closed minutes one instance writes: one engine per partition, fed
 * that partition's messages in order (a partition's clock closes its
 * minutes), each entry flattened to "queue=..;field=value;..." without
 * updated_at, as XRANGE returns it. */
struct minutes_ref {
	char **entry;
	size_t n, cap;
	struct ccp_engine *e; /* the engine whose minute is being written */
};

static void flat_add(char *buf, size_t cap, const char *name, const char *value, size_t len)
{
	if (!strcmp(name, "updated_at"))
		return;
	size_t at = strlen(buf);
	snprintf(buf + at, cap - at, "%s=%.*s;", name, (int)len, value);
}

static void flat_field(void *ud, const char *name, const char *value, size_t len)
{
	flat_add(ud, 2048, name, value, len);
}

static void on_ref_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	struct minutes_ref *r = ud;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->entry = realloc(r->entry, r->cap * sizeof(char *));
		assert_non_null(r->entry);
	}
	char *buf = calloc(1, 2048);
	assert_non_null(buf);
	struct ccp_str name = ccp_engine_queue_name(r->e, q);
	flat_add(buf, 2048, "queue", name.ptr, name.len);
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(m, CCP_SL_ANSWERED_ABANDONED, 0, f);
	ccp_fields_emit(f, ccp_wfield_names, CCP_WF__COUNT, flat_field, buf);
	r->entry[r->n++] = buf;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void minutes_ref_build(struct minutes_ref *r, const struct ccp_config *cfg, const struct traffic *t)
{
	memset(r, 0, sizeof(*r));
	struct ccp_engine_config ec = cfg->engine;
	ec.minute_cb = on_ref_minute;
	ec.minute_ud = r;
	static struct ccp_decoder dec;
	ccp_decoder_init(&dec);
	char err[256];
	for (int32_t part = 0; part < PARTITIONS; part++) {
		r->e = ccp_engine_new(&ec, err, sizeof(err));
		assert_non_null(r->e);
		for (size_t i = 0; i < t->n; i++) {
			struct ccp_event ev;
			if (t->m[i].agent || t->m[i].partition != part ||
			    ccp_decode(&dec, t->m[i].line, t->m[i].len, &ev, NULL) != CCP_REJECT_NONE)
				continue;
			ccp_engine_apply(r->e, &ev);
		}
		ccp_engine_free(r->e);
	}
	qsort(r->entry, r->n, sizeof(char *), cmp_str);
}

static void minutes_ref_free(struct minutes_ref *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->entry[i]);
	free(r->entry);
}

/* `{p}:minutes` holds exactly the reference's entries (in any order). */
static void expect_minutes(redisContext *c, const struct minutes_ref *r)
{
	redisReply *x = redisCommand(c, "XRANGE ccpulse:minutes - +");
	assert_non_null(x);
	assert_int_equal(x->type, REDIS_REPLY_ARRAY);
	char **got = calloc(x->elements + 1, sizeof(char *));
	assert_non_null(got);
	for (size_t i = 0; i < x->elements; i++) {
		const redisReply *fv = x->element[i]->element[1];
		got[i] = calloc(1, 2048);
		assert_non_null(got[i]);
		for (size_t k = 0; k + 1 < fv->elements; k += 2)
			flat_add(got[i], 2048, fv->element[k]->str, fv->element[k + 1]->str, fv->element[k + 1]->len);
	}
	qsort(got, x->elements, sizeof(char *), cmp_str);
	if (x->elements != r->n)
		fail_msg("%s:minutes has %zu entries, reference %zu", "ccpulse", x->elements, r->n);
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(got[i], r->entry[i]))
			fail_msg("minute entry %zu: redis %s, reference %s", i, got[i], r->entry[i]);
	for (size_t i = 0; i < x->elements; i++)
		free(got[i]);
	free(got);
	freeReplyObject(x);
}

/* ---- comparing Redis with the reference --------------------------------------- */

struct cmp {
	redisContext *c;
	const char *prefix;
	char why[512];
	const char *key;
	redisReply *h; /* HGETALL of `key` */
	size_t fields;
};

static const char *hget(const struct cmp *c, const char *name)
{
	for (size_t i = 0; i + 1 < c->h->elements; i += 2)
		if (!strcmp(c->h->element[i]->str, name))
			return c->h->element[i + 1]->str;
	return NULL;
}

static void expect_field(void *ud, const char *name, const char *value, size_t len)
{
	struct cmp *c = ud;
	c->fields++;
	if (c->why[0] || !strcmp(name, "updated_at"))
		return;
	const char *got = hget(c, name);
	if (!got || strlen(got) != len || memcmp(got, value, len))
		snprintf(c->why, sizeof(c->why), "%s %s: redis %s, reference %.*s", c->key, name, got ? got : "(absent)",
			 (int)len, value);
}

/* Compares hash `key` with the fields: every present field equal, no extra
 * field but updated_at. */
static bool cmp_hash(struct cmp *c, const char *key, const struct ccp_field *f, const char *const *names, size_t n)
{
	c->key = key;
	c->h = redisCommand(c->c, "HGETALL %s", key);
	assert_non_null(c->h);
	c->fields = 0;
	ccp_fields_emit(f, names, n, expect_field, c);
	size_t have = c->h->elements / 2;
	if (!c->why[0] && have != c->fields)
		snprintf(c->why, sizeof(c->why), "%s: redis has %zu fields, reference %zu", key, have, c->fields);
	freeReplyObject(c->h);
	return !c->why[0];
}

static bool compare(redisContext *rc, const char *prefix, const struct reference *r, char *why, size_t whylen)
{
	struct cmp c = {.c = rc, .prefix = prefix};
	const struct ccp_engine *e = r->e;
	char key[512];
	for (uint32_t q = 0; q < ccp_engine_queue_count(e) && !c.why[0]; q++) {
		struct ccp_str name = ccp_engine_queue_name(e, q);
		for (uint32_t w = 0; w < ccp_engine_window_count(e) && !c.why[0]; w++) {
			struct ccp_window_stats ws;
			struct ccp_field f[CCP_WF__COUNT];
			ccp_engine_window_stats(e, q, w, &ws);
			ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
			snprintf(key, sizeof(key), "%s:q:%.*s:%s", prefix, (int)name.len, name.ptr,
				 ccp_engine_window_name(e, w));
			cmp_hash(&c, key, f, ccp_wfield_names, CCP_WF__COUNT);
		}
		if (c.why[0])
			break;
		struct ccp_live_stats ls;
		struct ccp_field lf[CCP_LF__COUNT];
		ccp_engine_live_stats(e, q, &ls);
		ccp_figures_live(&ls, ccp_engine_now(e), lf);
		snprintf(key, sizeof(key), "%s:q:%.*s:live", prefix, (int)name.len, name.ptr);
		cmp_hash(&c, key, lf, ccp_lfield_names, CCP_LF__COUNT);
	}
	static struct ccp_hist hist;
	for (uint32_t w = 0; w < ccp_engine_window_count(e) && !c.why[0]; w++) {
		struct ccp_window_stats ws;
		struct ccp_field f[CCP_WF__COUNT];
		ccp_total_window(e, w, &hist, &ws);
		ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
		snprintf(key, sizeof(key), "%s:total:%s", prefix, ccp_engine_window_name(e, w));
		cmp_hash(&c, key, f, ccp_wfield_names, CCP_WF__COUNT);
	}
	if (!c.why[0]) {
		struct ccp_field lf[CCP_LF__COUNT];
		ccp_total_live(e, lf);
		snprintf(key, sizeof(key), "%s:total:live", prefix);
		cmp_hash(&c, key, lf, ccp_lfield_names, CCP_LF__COUNT);
	}
	if (!c.why[0]) {
		struct ccp_engine_counters k;
		ccp_engine_counters(e, &k);
		const struct {
			const char *name;
			uint64_t v;
		} want[] = {{"late_events", k.late_events}, {"duplicates", k.duplicates}, {"expired", k.expired},
			    {"unmatched", k.unmatched}};
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]) && !c.why[0]; i++) {
			long long got = -1;
			redisReply *rp = redisCommand(rc, "HGET %s:stats %s", prefix, want[i].name);
			if (rp && rp->type == REDIS_REPLY_STRING)
				got = atoll(rp->str);
			freeReplyObject(rp);
			if (got != (long long)want[i].v)
				snprintf(c.why, sizeof(c.why), "stats %s: redis %lld, reference %" PRIu64, want[i].name, got,
					 want[i].v);
		}
		for (int rj = 1; rj < CCP_REJECT__COUNT && !c.why[0]; rj++) {
			long long got = -1;
			redisReply *rp = redisCommand(rc, "HGET %s:stats errors_%s", prefix, ccp_reject_names[rj]);
			if (rp && rp->type == REDIS_REPLY_STRING)
				got = atoll(rp->str);
			freeReplyObject(rp);
			if (got != (long long)r->rejects[rj])
				snprintf(c.why, sizeof(c.why), "stats errors_%s: redis %lld, reference %" PRIu64,
					 ccp_reject_names[rj], got, r->rejects[rj]);
		}
	}
	if (!c.why[0]) {
		long long nq = ccp_test_redis_int(rc, "SCARD %s:queues", prefix);
		if (nq != (long long)ccp_engine_queue_count(e))
			snprintf(c.why, sizeof(c.why), "%s:queues has %lld, reference %u", prefix, nq,
				 ccp_engine_queue_count(e));
	}
	snprintf(why, whylen, "%s", c.why);
	return !c.why[0];
}

/* ---- running pipelines on their own threads ------------------------------------ */

/* A pipeline on its own thread and what it reads. Owner: the test. */
struct runner {
	struct ccp_config cfg;
	struct ccp_log log;
	struct ccp_pipeline *p;
};

static void runner_start(struct runner *r, const char *brokers, const char *redis_url, const char *group,
			 const char *client)
{
	char err[512];
	ccp_config_defaults(&r->cfg);
	assert_int_equal(ccp_config_set(&r->cfg, "kafka.brokers", brokers, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "kafka.group", group, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "redis.url", redis_url, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "publish_interval", "100ms", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "idle_advance", "0", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "kafka.auto.offset.reset", "earliest", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "kafka.session.timeout.ms", "6000", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "workers", "2", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_set(&r->cfg, "http.addr", "127.0.0.1:0", err, sizeof(err)), 0);
	int fr = ccp_config_finish(&r->cfg, err, sizeof(err));
	if (fr)
		fail_msg("config: %s", err);
	ccp_log_init(&r->log);
	r->log.level = CCP_LOG_WARN;
	struct ccp_pipeline_opts o = {.cfg = &r->cfg, .log = &r->log, .client_id = client};
	r->p = ccp_pipeline_new(&o, err, sizeof(err));
	if (!r->p)
		fail_msg("pipeline: %s", err);
	assert_int_equal(ccp_pipeline_start(r->p), 0);
}

static void runner_stop(struct runner *r)
{
	char err[512];
	ccp_pipeline_stop(r->p);
	if (ccp_pipeline_join(r->p, err, sizeof(err)))
		fail_msg("pipeline run: %s", err);
	ccp_pipeline_free(r->p);
	ccp_config_free(&r->cfg);
}

struct until_equal {
	struct ccp_test_redis *redis;
	const struct reference *ref;
	char why[512];
};

static bool equal_now(void *arg)
{
	struct until_equal *u = arg;
	redisContext *c = ccp_test_redis_connect(u->redis);
	bool ok = compare(c, "ccpulse", u->ref, u->why, sizeof(u->why));
	redisFree(c);
	return ok;
}

static void wait_equal(struct ccp_test_redis *redis, const struct reference *ref)
{
	struct until_equal u = {.redis = redis, .ref = ref};
	if (!ccp_test_wait_until(equal_now, &u, ccp_test_ms(60000)))
		fail_msg("redis never matched the reference: %s", u.why);
}

/* Committed offsets of the group, by a fresh consumer; sums them. */
static int64_t committed_total(const char *brokers, const char *group, int64_t per[PARTITIONS])
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(rk);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
	for (int i = 0; i < PARTITIONS; i++)
		rd_kafka_topic_partition_list_add(l, TOPIC, i);
	assert_int_equal(rd_kafka_committed(rk, l, ccp_test_ms(10000)), RD_KAFKA_RESP_ERR_NO_ERROR);
	int64_t sum = 0;
	for (int i = 0; i < l->cnt; i++) {
		int64_t o = l->elems[i].offset < 0 ? 0 : l->elems[i].offset;
		per[l->elems[i].partition] = o;
		sum += o;
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return sum;
}

/* ---- fixtures ------------------------------------------------------------------- */

struct world {
	struct ccp_broker *broker;
	struct ccp_test_redis redis;
	struct traffic t;
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[256];
	struct ccp_broker_topic topics[] = {{TOPIC, PARTITIONS}, {AGENT_TOPIC, 2}};
	w->broker = ccp_broker_start(1, topics, 2, err, sizeof(err));
	if (!w->broker)
		fail_msg("broker: %s", err);
	ccp_test_redis_start(&w->redis, NULL);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	ccp_test_redis_free(&w->redis);
	ccp_broker_stop(w->broker);
	traffic_free(&w->t);
	free(w);
	return 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_one_instance_equals_replay(void **state)
{
	struct world *w = *state;
	make_traffic(&w->t, 11, 1795330800000LL, 1.5);
	const char *brokers = ccp_broker_bootstrap(w->broker);
	produce(brokers, &w->t, 0, w->t.n);
	struct runner r;
	runner_start(&r, brokers, w->redis.url, "g-one", "one");
	struct reference ref;
	reference_build(&ref, &r.cfg, &w->t, w->t.n);
	struct minutes_ref mref;
	minutes_ref_build(&mref, &r.cfg, &w->t);
	wait_equal(&w->redis, &ref);
	runner_stop(&r);
	/* A clean stop commits exactly what was published: everything. */
	int64_t per[PARTITIONS];
	assert_int_equal(committed_total(brokers, "g-one", per), (int64_t)w->t.n_contact);
	/* The overdue set holds exactly the reference's overdue promises. */
	redisContext *c = ccp_test_redis_connect(&w->redis);
	struct ccp_live_stats ls;
	uint64_t overdue = 0;
	for (uint32_t q = 0; q < ccp_engine_queue_count(ref.e); q++) {
		ccp_engine_live_stats(ref.e, q, &ls);
		overdue += ls.promises_overdue;
	}
	assert_int_equal(ccp_test_redis_int(c, "ZCARD ccpulse:promises:overdue"), (long long)overdue);
	/* Each partition wrote the minutes its own clock closed, once. */
	assert_true(mref.n > 100);
	expect_minutes(c, &mref);
	minutes_ref_free(&mref);
	redisFree(c);
	ccp_engine_free(ref.e);
}

struct owns {
	struct runner *r;
	uint32_t partitions;
};

static bool owns_all(void *arg)
{
	struct owns *o = arg;
	struct ccp_pipeline_stats st;
	ccp_pipeline_stats(o->r->p, &st);
	return st.partitions == o->partitions;
}

static void test_two_instances_equal_one(void **state)
{
	struct world *w = *state;
	make_traffic(&w->t, 12, 1795330800000LL, 1.0);
	const char *brokers = ccp_broker_bootstrap(w->broker);
	produce(brokers, &w->t, 0, w->t.n);
	struct runner a, b;
	runner_start(&a, brokers, w->redis.url, "g-two", "a");
	runner_start(&b, brokers, w->redis.url, "g-two", "b");
	struct reference ref;
	reference_build(&ref, &a.cfg, &w->t, w->t.n);
	wait_equal(&w->redis, &ref);
	struct ccp_pipeline_stats sa, sb;
	ccp_pipeline_stats(a.p, &sa);
	ccp_pipeline_stats(b.p, &sb);
	runner_stop(&a);
	/* b takes a's partitions over (reading from what a committed) before
	 * it stops in turn: then everything is committed. */
	struct owns all = {&b, PARTITIONS};
	assert_true(ccp_test_wait_until(owns_all, &all, ccp_test_ms(30000)));
	wait_equal(&w->redis, &ref);
	runner_stop(&b);
	assert_true(sa.messages + sb.messages >= w->t.n_contact);
	int64_t per[PARTITIONS];
	assert_int_equal(committed_total(brokers, "g-two", per), (int64_t)w->t.n_contact);
	ccp_engine_free(ref.e);
}

struct consumed {
	struct runner *r;
	uint64_t want;
};

static bool consumed_all(void *arg)
{
	struct consumed *c = arg;
	struct ccp_pipeline_stats st;
	ccp_pipeline_stats(c->r->p, &st);
	return st.messages >= c->want;
}

static void test_offsets_not_past_redis_ack(void **state)
{
	struct world *w = *state;
	make_traffic(&w->t, 13, 1795330800000LL, 1.0);
	const char *brokers = ccp_broker_bootstrap(w->broker);
	size_t half = w->t.n / 2;
	size_t contact_half = 0;
	for (size_t i = 0; i < half; i++)
		contact_half += !w->t.m[i].agent;
	produce(brokers, &w->t, 0, half);
	struct runner r;
	runner_start(&r, brokers, w->redis.url, "g-ack", "ack");
	int64_t per[PARTITIONS];
	struct consumed cc = {&r, contact_half};
	assert_true(ccp_test_wait_until(consumed_all, &cc, ccp_test_ms(60000)));
	/* Redis stops answering; the rest of the traffic arrives and is
	 * consumed (the engines keep it). */
	ccp_test_pause_pid(w->redis.pid);
	produce(brokers, &w->t, half, w->t.n);
	cc.want = w->t.n_contact;
	assert_true(ccp_test_wait_until(consumed_all, &cc, ccp_test_ms(60000)));
	/* Stop while Redis cannot answer: nothing consumed after the outage
	 * was acknowledged, so nothing after it may be committed. */
	char err[512];
	ccp_pipeline_stop(r.p);
	(void)ccp_pipeline_join(r.p, err, sizeof(err)); /* its last flush timed out: expected */
	ccp_test_resume_pid(w->redis.pid);
	int64_t committed = committed_total(brokers, "g-ack", per);
	assert_true(committed <= (int64_t)contact_half);
	assert_true(committed > 0);
	ccp_pipeline_free(r.p);
	ccp_config_free(&r.cfg);
	/* A new instance resumes from the committed offsets, reads the rest
	 * again and, once Redis has it, commits up to the end. */
	struct runner r2;
	runner_start(&r2, brokers, w->redis.url, "g-ack", "ack2");
	struct consumed c2 = {&r2, w->t.n_contact - (uint64_t)committed};
	assert_true(ccp_test_wait_until(consumed_all, &c2, ccp_test_ms(60000)));
	runner_stop(&r2);
	assert_int_equal(committed_total(brokers, "g-ack", per), (int64_t)w->t.n_contact);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_instance_equals_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_instances_equal_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_not_past_redis_ack, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
