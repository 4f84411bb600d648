/* Integration test: `ccpulse sim --out kafka` against librdkafka's mock
 * cluster, in process.
 *
 * A producer handle owns a 3-broker mock cluster with a 4-partition
 * contact topic and a 3-partition agent topic. The command runs to Kafka
 * for N events; a plain consumer then reads both topics from the start.
 * Checked: the counts per topic equal those of the same run made through
 * the library (and the watermarks say nothing else is there); every
 * message's value is exactly the library's line for its event number;
 * keys are the queue (contact topic) or the agent (agent topic) of the
 * value; each key lives in one partition, and within it its events keep
 * their order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ccp_test.h"
#include "ccpulse/decode.h"
#include "ccpulse/sim.h"
#include "sim_cmd.h"

#define N_EVENTS 20000
#define SEED 7
#define START "1795305600000" /* 2026-11-22T00:00:00Z */
#define CONTACT_TOPIC "sim-contacts"
#define AGENT_TOPIC "sim-agents"
#define MAX_KEYS 1024

/* The library's lines for the same run, indexed by event number. */
struct expected {
	char **line;
	size_t *len;
	uint64_t contact, agent;
};

static void expected_make(struct expected *x)
{
	struct ccp_sim_config c;
	ccp_sim_config_default(&c);
	c.start_ms = strtoll(START, NULL, 10);
	c.duration_ms = 24 * 3600000LL; /* the command's default */
	c.seed = SEED;
	struct ccp_sim *s;
	char err[256];
	if (ccp_sim_new(&c, 20000, &s, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	x->line = calloc(N_EVENTS + 1, sizeof(*x->line));
	x->len = calloc(N_EVENTS + 1, sizeof(*x->len));
	x->contact = x->agent = 0;
	struct ccp_sim_event ev;
	char buf[CCP_SIM_EVENT_MAX_BYTES];
	for (uint64_t n = 1; n <= N_EVENTS; n++) {
		assert_int_equal(ccp_sim_next(s, &ev), 1);
		assert_int_equal(ev.n, n);
		size_t len = ccp_sim_format(s, &ev, buf, sizeof(buf)) - 1; /* no newline in Kafka */
		x->line[n] = malloc(len);
		memcpy(x->line[n], buf, len);
		x->len[n] = len;
		if (ev.type == CCP_EV_AGENT_STATE)
			x->agent++;
		else
			x->contact++;
	}
	ccp_sim_free(s);
}

static void expected_free(struct expected *x)
{
	for (uint64_t n = 0; n <= N_EVENTS; n++)
		free(x->line[n]);
	free(x->line);
	free(x->len);
}

/* Where each key was seen and the last event number per key. */
struct keyseen {
	char key[CCP_SIM_KEY_MAX_BYTES];
	size_t len;
	int topic; /* 0 contact, 1 agent */
	int32_t partition;
	uint64_t last_n;
};

struct consumed {
	uint64_t count[2];
	uint8_t *seen; /* by event number */
	struct keyseen keys[MAX_KEYS];
	int n_keys;
	struct ccp_decoder dec;
	struct ccp_event ev;
};

static struct keyseen *key_find(struct consumed *c, int topic, const char *k, size_t len)
{
	for (int i = 0; i < c->n_keys; i++)
		if (c->keys[i].topic == topic && c->keys[i].len == len && !memcmp(c->keys[i].key, k, len))
			return &c->keys[i];
	assert_true(c->n_keys < MAX_KEYS && len < CCP_SIM_KEY_MAX_BYTES);
	struct keyseen *s = &c->keys[c->n_keys++];
	memcpy(s->key, k, len);
	s->len = len;
	s->topic = topic;
	s->partition = -1;
	return s;
}

static void check_message(struct consumed *c, const struct expected *x, const rd_kafka_message_t *m)
{
	int topic = !strcmp(rd_kafka_topic_name(m->rkt), AGENT_TOPIC);
	const char *v = m->payload;
	enum ccp_reject r = ccp_decode(&c->dec, v, m->len, &c->ev, NULL);
	if (r != CCP_REJECT_NONE)
		fail_msg("message rejected (%s): %.*s", ccp_reject_names[r], (int)m->len, v);
	/* Event number from the id "e-<seed>-<n>". */
	char id[64];
	snprintf(id, sizeof(id), "%.*s", (int)c->ev.id.len, c->ev.id.ptr);
	uint64_t n = strtoull(strrchr(id, '-') + 1, NULL, 10);
	assert_true(n >= 1 && n <= N_EVENTS);
	if (c->seen[n])
		fail_msg("event %llu consumed twice", (unsigned long long)n);
	c->seen[n] = 1;
	if (m->len != x->len[n] || memcmp(v, x->line[n], m->len))
		fail_msg("event %llu differs:\n got  %.*s\n want %.*s", (unsigned long long)n, (int)m->len, v,
			 (int)x->len[n], x->line[n]);
	bool is_agent = c->ev.type == CCP_EV_AGENT_STATE;
	assert_int_equal(is_agent, topic);
	struct ccp_str want = is_agent ? c->ev.agent : c->ev.queue;
	if (m->key_len != want.len || memcmp(m->key, want.ptr, want.len))
		fail_msg("event %llu: key %.*s, want %.*s", (unsigned long long)n, (int)m->key_len,
			 (const char *)m->key, (int)want.len, want.ptr);
	struct keyseen *k = key_find(c, topic, m->key, m->key_len);
	if (k->partition < 0)
		k->partition = m->partition;
	if (k->partition != m->partition)
		fail_msg("key %.*s in partitions %d and %d", (int)k->len, k->key, (int)k->partition,
			 (int)m->partition);
	if (n <= k->last_n)
		fail_msg("key %.*s: event %llu after %llu", (int)k->len, k->key, (unsigned long long)n,
			 (unsigned long long)k->last_n);
	k->last_n = n;
	c->count[topic]++;
}

static rd_kafka_t *consumer_new(const char *bootstraps)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char e[512];
	const char *kv[][2] = {
		{"bootstrap.servers", bootstraps}, {"group.id", "it-sim-kafka"},
		{"enable.auto.commit", "false"},   {"auto.offset.reset", "earliest"},
	};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], e, sizeof(e)) != RD_KAFKA_CONF_OK)
			fail_msg("%s: %s", kv[i][0], e);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!rk)
		fail_msg("consumer: %s", e);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(7);
	for (int p = 0; p < 4; p++)
		rd_kafka_topic_partition_list_add(parts, CONTACT_TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	for (int p = 0; p < 3; p++)
		rd_kafka_topic_partition_list_add(parts, AGENT_TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(parts);
	return rk;
}

static void test_sim_to_kafka(void **state)
{
	(void)state;
	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!owner)
		fail_msg("mock owner: %s", e);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 3);
	if (!mc)
		fail_msg("rd_kafka_mock_cluster_new failed (librdkafka built without the mock cluster?)");
	const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
	assert_int_equal(rd_kafka_mock_topic_create(mc, CONTACT_TOPIC, 4, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(rd_kafka_mock_topic_create(mc, AGENT_TOPIC, 3, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

	struct expected x;
	expected_make(&x);

	char *argv[] = {
		"sim", "--out", "kafka", "--brokers", (char *)bootstraps, "--topic", CONTACT_TOPIC, "--agent-topic",
		AGENT_TOPIC, "--events", "20000", "--seed", "7", "--start", START, NULL,
	};
	char **args = calloc(sizeof(argv) / sizeof(argv[0]), sizeof(char *));
	for (size_t i = 0; argv[i]; i++)
		args[i] = strdup(argv[i]);
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	long long t0 = ccp_test_now_ms();
	assert_int_equal(ccp_sim_cmd(argc, args), 0); /* 0 only if every message was delivered */
	print_message("produced %d events in %lld ms\n", N_EVENTS, ccp_test_now_ms() - t0);
	for (int i = 0; i < argc; i++)
		free(args[i]);
	free(args);

	struct consumed *c = calloc(1, sizeof(*c));
	c->seen = calloc(N_EVENTS + 1, 1);
	ccp_decoder_init(&c->dec);
	rd_kafka_t *rk = consumer_new(bootstraps);
	long long deadline = ccp_test_now_ms() + ccp_test_ms(60000);
	while (c->count[0] + c->count[1] < N_EVENTS && ccp_test_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				print_message("consumer: %s\n", rd_kafka_message_errstr(m));
		} else {
			check_message(c, &x, m);
		}
		rd_kafka_message_destroy(m);
	}
	assert_int_equal(c->count[0], x.contact);
	assert_int_equal(c->count[1], x.agent);
	/* Nothing more than that in the topics. */
	int64_t total = 0;
	for (int t = 0; t < 2; t++) {
		for (int p = 0; p < (t ? 3 : 4); p++) {
			int64_t lo, hi;
			assert_int_equal(rd_kafka_query_watermark_offsets(rk, t ? AGENT_TOPIC : CONTACT_TOPIC, p, &lo,
									  &hi, ccp_test_ms(10000)),
					 RD_KAFKA_RESP_ERR_NO_ERROR);
			total += hi - lo;
		}
	}
	assert_int_equal(total, N_EVENTS);
	/* Keys: the five default queues, and many agents, spread over more
	 * than one partition. */
	int queues = 0, agents = 0;
	uint32_t parts_used[2] = {0, 0};
	for (int i = 0; i < c->n_keys; i++) {
		queues += c->keys[i].topic == 0;
		agents += c->keys[i].topic == 1;
		parts_used[c->keys[i].topic] |= 1u << c->keys[i].partition;
	}
	assert_int_equal(queues, 5);
	assert_true(agents > 50);
	assert_true(__builtin_popcount(parts_used[0]) >= 2);
	assert_int_equal(__builtin_popcount(parts_used[1]), 3);

	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	free(c->seen);
	free(c);
	expected_free(&x);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(owner);
}

/* Unreachable brokers: the command reports the failure (exit 1) instead
 * of hanging or claiming success; message.timeout.ms passes through
 * --kafka. */
static void test_unreachable_brokers(void **state)
{
	(void)state;
	char port[16];
	snprintf(port, sizeof(port), "127.0.0.1:%d", ccp_test_free_port());
	char *argv[] = {"sim", "--out", "kafka", "--brokers", port, "--events", "50", "--kafka",
			"message.timeout.ms=1500", NULL};
	char **args = calloc(sizeof(argv) / sizeof(argv[0]), sizeof(char *));
	for (size_t i = 0; argv[i]; i++)
		args[i] = strdup(argv[i]);
	long long t0 = ccp_test_now_ms();
	assert_int_equal(ccp_sim_cmd(9, args), 1);
	assert_true(ccp_test_now_ms() - t0 < ccp_test_ms(20000));
	for (int i = 0; i < 9; i++)
		free(args[i]);
	free(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_to_kafka),
		cmocka_unit_test(test_unreachable_brokers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
