/* ccp-test-labels: threaded */
/* Alerts through the live pipeline (mock Kafka cluster, private Redis):
 * a service level that drops fires once into `{p}:alerts` (stream and
 * channel), resolves once when it recovers past the clear line, and says
 * nothing more while the state holds; a promise whose deadline passes with
 * no further events fires on the wall clock and resolves when kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "ccp_test.h"
#include "ccp_test_rx.h"
#include "ccpulse/broker.h"
#include "ccpulse/config.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"

#define TOPIC "contact-events"

struct world {
	struct ccp_broker *broker;
	struct ccp_test_redis redis;
	struct ccp_config cfg;
	struct ccp_log log;
	struct ccp_pipeline *p;
	rd_kafka_t *producer;
	int n_id;
	struct rx rx; /* the webhook receiver */
};

static void send_event(struct world *w, const char *queue, const char *fmt, ...)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "{\"id\":\"e%d\",\"queue\":\"%s\",", ++w->n_id, queue);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(line + n, sizeof(line) - (size_t)n, "}");
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(queue, strlen(queue)),
				      RD_KAFKA_V_VALUE(line, strlen(line)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(w->producer, 10);
	assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void flush(struct world *w)
{
	assert_int_equal(rd_kafka_flush(w->producer, ccp_test_ms(30000)), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static bool ready(void *arg)
{
	struct ccp_pipeline_stats st;
	ccp_pipeline_stats(arg, &st);
	return st.partitions == 4 && st.redis_ready;
}

static void pipeline_start(struct world *w)
{
	char err[512];
	struct ccp_pipeline_opts o = {.cfg = &w->cfg, .log = &w->log, .client_id = "alerts"};
	w->p = ccp_pipeline_new(&o, err, sizeof(err));
	if (!w->p)
		fail_msg("pipeline: %s", err);
	assert_int_equal(ccp_pipeline_start(w->p), 0);
	/* Joined the group first: deadlines below are measured from here. */
	assert_true(ccp_test_wait_until(ready, w->p, ccp_test_ms(30000)));
}

static void pipeline_stop(struct world *w)
{
	char err[512];
	ccp_pipeline_stop(w->p);
	if (ccp_pipeline_join(w->p, err, sizeof(err)))
		fail_msg("pipeline run: %s", err);
	ccp_pipeline_free(w->p);
	w->p = NULL;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[512];
	struct ccp_broker_topic topics[] = {{TOPIC, 4}, {"agent-events", 1}};
	w->broker = ccp_broker_start(1, topics, 2, err, sizeof(err));
	if (!w->broker)
		fail_msg("broker: %s", err);
	ccp_test_redis_start(&w->redis, NULL);
	rd_kafka_conf_t *pc = rd_kafka_conf_new();
	rd_kafka_conf_set(pc, "bootstrap.servers", ccp_broker_bootstrap(w->broker), err, sizeof(err));
	rd_kafka_conf_set(pc, "linger.ms", "1", err, sizeof(err));
	w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
	assert_non_null(w->producer);

	ccp_config_defaults(&w->cfg);
	static const char rules[] =
		"alerts:\n"
		"  rules:\n"
		"    - {name: sl, kind: service_level_below, window: 5m, threshold: 80%, clear: 90%, min_volume: 10, queues: [billing]}\n"
		"    - {name: late, kind: promise_overdue, queues: [sales]}\n"
		/* One queue per kind for the test that walks them all. */
		"    - {name: ab, kind: abandon_rate_above, window: 5m, threshold: 50%, clear: 30%, min_volume: 4, queues: [ab]}\n"
		"    - {name: lw, kind: longest_wait_above, threshold: 60s, clear: 30s, queues: [lw]}\n"
		"    - {name: wt, kind: waiting_above, threshold: 3, clear: 1, queues: [wt]}\n"
		"    - {name: asa, kind: asa_above, window: 5m, threshold: 30s, clear: 20s, min_volume: 2, queues: [asa]}\n"
		"    - {name: pk, kind: kept_rate_below, window: 5m, threshold: 80%, clear: 90%, min_volume: 2, queues: [pk]}\n"
		"    - {name: od, kind: overdue_above, threshold: 2, clear: 0, queues: [od]}\n"
		"    - {name: cs, kind: csat_below, window: 5m, threshold: 3, clear: 4, min_volume: 2, queues: [cs]}\n"
		"    - {name: co, kind: complaints_open_above, threshold: 1, clear: 0, queues: [co]}\n";
	if (ccp_config_load_buffer(&w->cfg, "alerts.yaml", rules, sizeof(rules) - 1, err, sizeof(err)))
		fail_msg("config: %s", err);
	ccp_test_rx_start(&w->rx);
	char hook[128];
	pthread_mutex_lock(&w->rx.mu);
	snprintf(hook, sizeof(hook), "http://127.0.0.1:%d/hook", w->rx.port);
	pthread_mutex_unlock(&w->rx.mu);
	const char *kv[][2] = {{"kafka.brokers", ccp_broker_bootstrap(w->broker)},
			       {"alerts.webhook.url", hook},
			       {"alerts.webhook.header", "Authorization: Bearer s3cret"},
			       {"redis.url", w->redis.url},
			       {"publish_interval", "100ms"},
			       {"idle_advance", "200ms"},
			       {"kafka.auto.offset.reset", "earliest"},
			       {"kafka.session.timeout.ms", "6000"},
			       {"workers", "2"},
			       {"http.addr", "127.0.0.1:0"}};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (ccp_config_set(&w->cfg, kv[i][0], kv[i][1], err, sizeof(err)))
			fail_msg("config %s: %s", kv[i][0], err);
	if (ccp_config_finish(&w->cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	ccp_log_init(&w->log);
	w->log.level = CCP_LOG_WARN;
	pipeline_start(w);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	pipeline_stop(w);
	ccp_test_rx_stop(&w->rx);
	ccp_config_free(&w->cfg);
	rd_kafka_destroy(w->producer);
	ccp_test_redis_free(&w->redis);
	ccp_broker_stop(w->broker);
	free(w);
	return 0;
}

/* The alerts stream as "rule queue[/promise] state value" lines. */
struct seen {
	struct world *w;
	size_t want;
	size_t n;
	char line[32][160];
};

static bool stream_has(void *arg)
{
	struct seen *s = arg;
	redisContext *c = ccp_test_redis_connect(&s->w->redis);
	redisReply *x = redisCommand(c, "XRANGE ccpulse:alerts - +");
	s->n = 0;
	for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements && i < 32; i++) {
		const redisReply *f = x->element[i]->element[1];
		const char *rule = "", *queue = "", *promise = NULL, *st = "", *value = "";
		for (size_t k = 0; k + 1 < f->elements; k += 2) {
			const char *name = f->element[k]->str, *v = f->element[k + 1]->str;
			if (!strcmp(name, "rule"))
				rule = v;
			else if (!strcmp(name, "queue"))
				queue = v;
			else if (!strcmp(name, "promise"))
				promise = v;
			else if (!strcmp(name, "state"))
				st = v;
			else if (!strcmp(name, "value"))
				value = v;
		}
		snprintf(s->line[s->n++], sizeof(s->line[0]), "%s %s%s%s %s %s", rule, queue, promise ? "/" : "",
			 promise ? promise : "", st, value);
	}
	freeReplyObject(x);
	redisFree(c);
	return s->n >= s->want;
}

static void wait_entries(struct world *w, struct seen *s, size_t want)
{
	s->w = w;
	s->want = want;
	if (!ccp_test_wait_until(stream_has, s, ccp_test_ms(30000))) {
		for (size_t i = 0; i < s->n; i++)
			print_message("alert %zu: %s\n", i, s->line[i]);
		fail_msg("%zu alert entries, want %zu", s->n, want);
	}
}

/* Alerts of `rule` in `state` among the posts the receiver answered 200. */
static int hook_count(struct world *w, const char *rule, const char *state)
{
	int n = 0;
	pthread_mutex_lock(&w->rx.mu);
	for (int i = 0; i < w->rx.n_reqs; i++) {
		const struct rx_req *q = &w->rx.reqs[i];
		if (q->status != 200 || !q->body)
			continue;
		/* A post may carry several alerts: count objects that hold both. */
		for (const char *a = strstr(q->body, "{\"rule\""); a; a = strstr(a + 1, "{\"rule\"")) {
			const char *end = strchr(a, '}');
			size_t len = end ? (size_t)(end - a) : strlen(a);
			char obj[1024];
			snprintf(obj, sizeof(obj), "%.*s", (int)(len < sizeof(obj) - 1 ? len : sizeof(obj) - 1), a);
			n += strstr(obj, rule) && strstr(obj, state);
		}
	}
	pthread_mutex_unlock(&w->rx.mu);
	return n;
}

struct hook_wait {
	struct world *w;
	const char *rule, *state;
	int want;
};

static bool hook_has(void *arg)
{
	struct hook_wait *h = arg;
	return hook_count(h->w, h->rule, h->state) >= h->want;
}

/* n billing calls "<tag><i>": offered at offer0 + i*step, answered at
 * answer0 + i*step. */
static void send_calls(struct world *w, const char *tag, int n, int64_t offer0, int64_t answer0, int64_t step)
{
	for (int i = 0; i < n; i++) {
		send_event(w, "billing", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"%s%d\"",
			   offer0 + i * step, tag, i);
		send_event(w, "billing", "\"type\":\"contact.answered\",\"ts\":%" PRId64 ",\"contact\":\"%s%d\"",
			   answer0 + i * step, tag, i);
	}
}

static bool webhook_counted(void *arg)
{
	struct ccp_pipeline_stats st;
	ccp_pipeline_stats(arg, &st);
	return st.webhook_delivered >= 2 && st.webhook_queued == 0;
}

/* 20 billing calls answered after a minute from t0: service level 0 over
 * 20, so rule sl fires; waits for its one entry. */
static void fire_sl(struct world *w, int64_t t0, struct seen *s)
{
	send_calls(w, "a", 20, t0, t0 + 60000, 100);
	flush(w);
	wait_entries(w, s, 1);
	assert_string_equal(s->line[0], "sl billing firing 0");
}

static void test_service_level_fires_and_resolves_once(void **state)
{
	struct world *w = *state;
	int64_t t0 = ccp_log_wall_ms() - 150000;
	struct seen s;
	fire_sl(w, t0, &s);
	/* 85 %: between the lines, still firing, nothing said. */
	send_calls(w, "b", 114, t0 + 61000, t0 + 62000, 10);
	flush(w);
	ccp_test_wait_until(stream_has, &s, ccp_test_ms(1500)); /* give a wrong transition time to show */
	assert_int_equal(s.n, 1);
	/* 86 more in time: 200/220 = 91 %, past the clear line: resolved once
	 * (at whatever share the render that crossed 90 % saw). */
	send_calls(w, "c", 86, t0 + 63000, t0 + 64000, 10);
	/* The webhook receiver goes down before the resolve: the post waits
	 * for it and arrives once it is back. */
	struct hook_wait hw = {w, "\"rule\":\"sl\"", "\"state\":\"firing\"", 1};
	assert_true(ccp_test_wait_until(hook_has, &hw, ccp_test_ms(10000)));
	ccp_test_rx_set_down(&w->rx, true);
	flush(w);
	wait_entries(w, &s, 2);
	if (strncmp(s.line[1], "sl billing resolved 0.9", 23))
		fail_msg("second alert: %s", s.line[1]);
	s.want = 3;
	assert_false(ccp_test_wait_until(stream_has, &s, ccp_test_ms(1500)));
	assert_int_equal(s.n, 2);
	hw.state = "\"state\":\"resolved\"";
	assert_int_equal(hook_count(w, hw.rule, hw.state), 0); /* still down */
	ccp_test_rx_set_down(&w->rx, false);
	assert_true(ccp_test_wait_until(hook_has, &hw, ccp_test_ms(15000)));
	/* Exactly once each, with the configured header. */
	assert_int_equal(hook_count(w, hw.rule, "\"state\":\"firing\""), 1);
	assert_int_equal(hook_count(w, hw.rule, "\"state\":\"resolved\""), 1);
	pthread_mutex_lock(&w->rx.mu);
	assert_non_null(strstr(w->rx.reqs[0].headers, "Authorization: Bearer s3cret"));
	assert_string_equal(w->rx.reqs[0].target, "/hook");
	pthread_mutex_unlock(&w->rx.mu);
	/* The counters /metrics shows: both delivered, the attempts while
	 * the receiver was down failed. */
	assert_true(ccp_test_wait_until(webhook_counted, w->p, ccp_test_ms(5000)));
	struct ccp_pipeline_stats st;
	ccp_pipeline_stats(w->p, &st);
	assert_int_equal(st.webhook_delivered, 2);
	assert_true(st.webhook_failed_attempts >= 1);
	assert_int_equal(st.webhook_dropped, 0);
	assert_int_equal(st.webhook_queued, 0);
}

/* A restart while an alert fires: the new process knows it fires (the
 * record of firing alerts in Redis), says nothing while it still holds,
 * and says `resolved` once when it clears. */
static void test_restart_mid_alert(void **state)
{
	struct world *w = *state;
	int64_t t0 = ccp_log_wall_ms() - 150000;
	struct seen s;
	fire_sl(w, t0, &s);
	pipeline_stop(w);
	pipeline_start(w);
	/* Still breaching after the restart: 10 more slow answers. */
	send_calls(w, "d", 10, t0 + 61000, t0 + 120000, 10);
	flush(w);
	s.want = 2;
	assert_false(ccp_test_wait_until(stream_has, &s, ccp_test_ms(2000)));
	assert_int_equal(s.n, 1); /* no second `firing` */
	/* 300 answered at once: 300/330 = 91 %, past the clear line. */
	send_calls(w, "e", 300, t0 + 121000, t0 + 122000, 10);
	flush(w);
	wait_entries(w, &s, 2);
	if (strncmp(s.line[1], "sl billing resolved", 19))
		fail_msg("second alert: %s", s.line[1]);
	s.want = 3;
	assert_false(ccp_test_wait_until(stream_has, &s, ccp_test_ms(1500)));
	assert_int_equal(s.n, 2);
	/* The record of firing alerts is empty again. */
	redisContext *c = ccp_test_redis_connect(&w->redis);
	assert_int_equal(ccp_test_redis_int(c, "HLEN ccpulse:state:firing"), 0);
	redisFree(c);
}

static void test_promise_deadline_fires_on_the_wall_clock(void **state)
{
	struct world *w = *state;
	redisContext *c = ccp_test_redis_connect(&w->redis);
	struct timeval tv = {ccp_test_ms(10000) / 1000, 0};
	redisSetTimeout(c, tv); /* a missing alert fails, not hangs */
	redisReply *sub = redisCommand(c, "SUBSCRIBE ccpulse:alerts");
	freeReplyObject(sub);
	int64_t now = ccp_log_wall_ms();
	int64_t due = now + 2000;
	send_event(w, "sales", "\"type\":\"promise.made\",\"ts\":%" PRId64 ",\"contact\":\"p\",\"promise\":\"cb-1\",\"due\":%" PRId64,
	     now, due);
	flush(w);
	/* No further event: the partition's clock follows the wall clock. */
	redisReply *m = NULL;
	assert_int_equal(redisGetReply(c, (void **)&m), REDIS_OK);
	int64_t late = ccp_log_wall_ms() - due;
	assert_int_equal(m->type, REDIS_REPLY_ARRAY);
	const char *json = m->element[2]->str;
	print_message("promise alert %lld ms after its deadline: %s\n", (long long)late, json);
	assert_non_null(strstr(json, "\"rule\":\"late\",\"kind\":\"promise_overdue\",\"window\":\"\",\"queue\":\"sales\","
				     "\"promise\":\"cb-1\",\"state\":\"firing\""));
	assert_true(late >= 0 && late < ccp_test_ms(1500)); /* idle_advance + a publish interval, with room */
	freeReplyObject(m);
	send_event(w, "sales", "\"type\":\"promise.kept\",\"ts\":%" PRId64 ",\"contact\":\"p\",\"promise\":\"cb-1\"",
	     ccp_log_wall_ms());
	flush(w);
	assert_int_equal(redisGetReply(c, (void **)&m), REDIS_OK);
	assert_non_null(strstr(m->element[2]->str, "\"promise\":\"cb-1\",\"state\":\"resolved\""));
	freeReplyObject(m);
	redisFree(c);
}

/* Every other rule kind, each on its own queue: traffic that breaches it,
 * then traffic that clears it; each says `firing` once, then `resolved`
 * once, and nothing more. */
static void test_each_kind_fires_and_resolves_once(void **state)
{
	struct world *w = *state;
	int64_t now = ccp_log_wall_ms();
#define EV(q, fmt, ...) send_event(w, q, fmt, __VA_ARGS__)
	for (int i = 0; i < 4; i++) { /* abandon rate 100 % over 4 */
		EV("ab", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"a%d\"", now - 60000, i);
		EV("ab", "\"type\":\"contact.abandoned\",\"ts\":%" PRId64 ",\"contact\":\"a%d\"", now - 30000, i);
	}
	EV("lw", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"l%d\"", now - 90000, 0); /* waiting 90 s */
	for (int i = 0; i < 5; i++) /* 5 waiting */
		EV("wt", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"w%d\"", now, i);
	for (int i = 0; i < 2; i++) { /* ASA 60 s over 2 */
		EV("asa", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"s%d\"", now - 120000, i);
		EV("asa", "\"type\":\"contact.answered\",\"ts\":%" PRId64 ",\"contact\":\"s%d\"", now - 60000, i);
	}
	for (int i = 0; i < 2; i++) /* 2 promises due 10 s ago, not kept: kept rate 0 */
		EV("pk", "\"type\":\"promise.made\",\"ts\":%" PRId64 ",\"contact\":\"k\",\"promise\":\"b%d\",\"due\":%" PRId64,
		   now - 60000, i, now - 10000);
	for (int i = 0; i < 3; i++) /* 3 overdue */
		EV("od", "\"type\":\"promise.made\",\"ts\":%" PRId64 ",\"contact\":\"o\",\"promise\":\"o%d\",\"due\":%" PRId64,
		   now - 60000, i, now - 10000);
	for (int i = 0; i < 2; i++) /* CSAT 1 over 2 */
		EV("cs", "\"type\":\"survey.submitted\",\"ts\":%" PRId64 ",\"contact\":\"c%d\",\"csat\":1", now - 1000, i);
	for (int i = 0; i < 2; i++) /* 2 complaints open */
		EV("co", "\"type\":\"complaint.opened\",\"ts\":%" PRId64 ",\"contact\":\"x\",\"complaint\":\"x%d\"", now - 1000, i);
	flush(w);
	struct seen s;
	wait_entries(w, &s, 8);

	for (int i = 0; i < 12; i++) { /* abandon rate 4/16 */
		EV("ab", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"A%d\"", now - 20000, i);
		EV("ab", "\"type\":\"contact.answered\",\"ts\":%" PRId64 ",\"contact\":\"A%d\"", now - 19000, i);
	}
	EV("lw", "\"type\":\"contact.answered\",\"ts\":%" PRId64 ",\"contact\":\"l%d\"", now, 0);
	for (int i = 0; i < 5; i++)
		EV("wt", "\"type\":\"contact.answered\",\"ts\":%" PRId64 ",\"contact\":\"w%d\"", now + 100, i);
	for (int i = 0; i < 10; i++) { /* ASA (120 + 10) / 12 s */
		EV("asa", "\"type\":\"contact.offered\",\"ts\":%" PRId64 ",\"contact\":\"S%d\"", now - 5000, i);
		EV("asa", "\"type\":\"contact.answered\",\"ts\":%" PRId64 ",\"contact\":\"S%d\"", now - 4000, i);
	}
	/* 18 kept before a deadline 2 s ahead, which then passes on the wall
	 * clock: 18 on time of 20 due. (Kept events that arrive after the
	 * clock passed the deadline would find it already broken.) */
	int64_t later = ccp_log_wall_ms();
	for (int i = 0; i < 18; i++) {
		EV("pk", "\"type\":\"promise.made\",\"ts\":%" PRId64 ",\"contact\":\"k\",\"promise\":\"g%d\",\"due\":%" PRId64,
		   later, i, later + 2000);
		EV("pk", "\"type\":\"promise.kept\",\"ts\":%" PRId64 ",\"contact\":\"k\",\"promise\":\"g%d\"", later + 1000, i);
	}
	for (int i = 0; i < 3; i++)
		EV("od", "\"type\":\"promise.kept\",\"ts\":%" PRId64 ",\"contact\":\"o\",\"promise\":\"o%d\"", now, i);
	for (int i = 0; i < 8; i++) /* CSAT (2 + 40) / 10 */
		EV("cs", "\"type\":\"survey.submitted\",\"ts\":%" PRId64 ",\"contact\":\"C%d\",\"csat\":5", now, i);
	for (int i = 0; i < 2; i++)
		EV("co", "\"type\":\"complaint.resolved\",\"ts\":%" PRId64 ",\"contact\":\"x\",\"complaint\":\"x%d\"", now, i);
#undef EV
	flush(w);
	wait_entries(w, &s, 16);
	s.want = 17;
	assert_false(ccp_test_wait_until(stream_has, &s, ccp_test_ms(1500)));
	static const char *const kinds[] = {"ab", "lw", "wt", "asa", "pk", "od", "cs", "co"};
	for (size_t k = 0; k < 8; k++) {
		int firing = -1, resolved = -1, n = 0;
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "%s %s ", kinds[k], kinds[k]);
		for (size_t i = 0; i < s.n; i++) {
			if (strncmp(s.line[i], prefix, strlen(prefix)))
				continue;
			n++;
			if (strstr(s.line[i], " firing "))
				firing = (int)i;
			else if (strstr(s.line[i], " resolved "))
				resolved = (int)i;
		}
		if (n != 2 || firing < 0 || resolved < firing) {
			for (size_t i = 0; i < s.n; i++)
				print_message("alert %zu: %s\n", i, s.line[i]);
			fail_msg("rule %s: want one firing then one resolved", kinds[k]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_service_level_fires_and_resolves_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promise_deadline_fires_on_the_wall_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_mid_alert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_kind_fires_and_resolves_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
