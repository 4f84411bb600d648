/* Unit tests: defaults, the shipped example, every kind of key, errors
 * naming file:line:column and the key, "did you mean", Redis URL parsing,
 * env and flag precedence, redaction, the printer round-trip, the
 * generated docs, and failing allocations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "ccpulse/config.h"

static struct ccp_config *cfg;
static char err[1024];

/* Loads YAML text over fresh defaults and finishes; 0 or -1 (err set). */
static int load(const char *text)
{
	ccp_config_free(cfg);
	ccp_config_defaults(cfg);
	int rc = ccp_config_load_buffer(cfg, "t.yaml", text, strlen(text), err, sizeof(err));
	if (!rc)
		rc = ccp_config_finish(cfg, err, sizeof(err));
	return rc;
}

static char *printed(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ccp_config_print(cfg, f);
	fclose(f);
	return buf;
}

static void test_defaults(void **state)
{
	(void)state;
	ccp_config_free(cfg);
	ccp_config_defaults(cfg);
	assert_int_equal(ccp_config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->brokers, "localhost:9092");
	assert_string_equal(cfg->topic, "contact-events");
	assert_string_equal(cfg->agent_topic, "agent-events");
	assert_string_equal(cfg->group, "ccpulse");
	assert_string_equal(cfg->dead_letter_topic, "");
	assert_string_equal(cfg->redis.host, "127.0.0.1");
	assert_int_equal(cfg->redis.port, 6379);
	assert_int_equal(cfg->redis.db, 0);
	assert_string_equal(cfg->prefix, "ccpulse");
	assert_string_equal(cfg->http_addr, "127.0.0.1:8080");
	assert_int_equal(cfg->publish_interval_ms, 500);
	assert_int_equal(cfg->workers, 0);
	assert_int_equal(cfg->max_future_skew_ms, 300000);
	assert_int_equal(cfg->engine.short_abandon_ms, 5000);
	assert_int_equal(cfg->engine.sl_variant, CCP_SL_ANSWERED_ABANDONED);
	assert_int_equal(cfg->engine.sl_threshold_ms[CCP_CH_VOICE], 20000);
	assert_int_equal(cfg->engine.sl_threshold_ms[CCP_CH_EMAIL], 4 * 3600000LL);
	assert_int_equal(cfg->engine.n_windows, 4);
	assert_string_equal(cfg->engine.windows[0].name, "5m");
	assert_int_equal(cfg->engine.windows[2].length_ms, 3600000);
	assert_int_equal(cfg->engine.windows[2].bucket_ms, 10000);
	assert_int_equal(cfg->engine.windows[3].bucket_ms, 300000);
	assert_int_equal(cfg->engine.dedup_horizon_ms, 86400000);
	assert_int_equal(cfg->engine.open_horizon_ms, 7 * 86400000LL);
	assert_int_equal(cfg->alerts_stream_maxlen, 10000);
	assert_string_equal(cfg->log_level, "info");
	assert_string_equal(cfg->log_format, "logfmt");
	assert_int_equal(cfg->n_kafka, 0);
	assert_non_null(cfg->tz);
}

static void test_example(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof(path), "%s/config/ccpulse.yaml", CCP_SOURCE_DIR);
	ccp_config_free(cfg);
	ccp_config_defaults(cfg);
	assert_int_equal(ccp_config_load_file(cfg, path, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->topic, "contact-events");
	assert_int_equal(cfg->engine.n_windows, 4);
	assert_int_equal(cfg->engine.n_sl_overrides, 1);
	assert_string_equal(cfg->overrides[0].queue, "billing");
	assert_int_equal(cfg->overrides[0].threshold_ms[CCP_CH_VOICE], 30000);
	assert_ptr_equal(cfg->engine.sl_overrides, cfg->overrides);
}

static void test_values(void **state)
{
	(void)state;
	assert_int_equal(load("timezone: Europe/Berlin\nshort_abandon: 10s\nservice_level:\n  variant: offered\n"
			      "  thresholds: {chat: 2m, email: 3600000}\nwindows:\n  - {name: 30m, length: 30m, bucket: 1m}\n"
			      "  - {name: week, length: 7d, bucket: 1h}\n"
			      "kafka:\n  security.protocol: SASL_SSL\n  sasl:\n    password: hunter2\n  acks: all\n"
			      "  security.protocol: SSL\n"
			      "queues:\n  a.b:\n    service_level: {email: 1h, chat: 250ms}\n  c:\n    service_level:\n      voice: 1s\n"
			      "publish_interval: 50\nworkers: 8\ndedup: {max_ids: 1000}\nlog: {level: debug, format: json}\n"),
			 0);
	assert_int_equal(cfg->engine.short_abandon_ms, 10000);
	assert_int_equal(cfg->engine.sl_variant, CCP_SL_OFFERED);
	assert_int_equal(cfg->engine.sl_threshold_ms[CCP_CH_CHAT], 120000);
	assert_int_equal(cfg->engine.sl_threshold_ms[CCP_CH_EMAIL], 3600000);
	assert_int_equal(cfg->engine.n_windows, 2);
	assert_string_equal(cfg->engine.windows[1].name, "week");
	assert_int_equal(cfg->engine.windows[1].length_ms, 7 * 86400000LL);
	/* kafka.* in file order; a repeated key keeps its place */
	assert_int_equal(cfg->n_kafka, 3);
	assert_string_equal(cfg->kafka[0].key, "security.protocol");
	assert_string_equal(cfg->kafka[0].value, "SSL");
	assert_string_equal(cfg->kafka[1].key, "sasl.password");
	assert_string_equal(cfg->kafka[2].key, "acks");
	assert_int_equal(cfg->engine.n_sl_overrides, 2);
	assert_string_equal(cfg->overrides[0].queue, "a.b");
	assert_int_equal(cfg->overrides[0].threshold_ms[CCP_CH_EMAIL], 3600000);
	assert_int_equal(cfg->overrides[0].threshold_ms[CCP_CH_CHAT], 250);
	assert_int_equal(cfg->overrides[0].threshold_ms[CCP_CH_VOICE], 0);
	assert_int_equal(cfg->overrides[1].threshold_ms[CCP_CH_VOICE], 1000);
	assert_int_equal(cfg->publish_interval_ms, 50);
	assert_int_equal(cfg->workers, 8);
	assert_int_equal(cfg->engine.dedup_max_ids, 1000);
	assert_string_equal(cfg->log_format, "json");
	assert_non_null(cfg->tz);
	assert_int_equal(load(""), 0); /* empty file: defaults */
	assert_int_equal(load("# only a comment\n"), 0);
}

static void test_errors_name_file_line_key(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{"prefix: x\nwindows:\n  - {name: 5m, length: 5m, bucket: 0}\n",
		 "t.yaml:3:36: windows[0].bucket=0: must be 1s..1h"},
		{"windows:\n  - {name: a, length: 2h, bucket: 2h}\n", "t.yaml:2:35: windows[0].bucket=2h: must be 1s..1h"},
		{"publish_interval: 5ms\n", "t.yaml:1:19: publish_interval=5ms: must be 50ms..1m"},
		{"kafka:\n  group: g\nredis:\n  ur1: redis://x\n", "t.yaml:4:3: redis.ur1: unknown key (did you mean redis.url?)"},
		{"publish_intervl: 1s\n", "t.yaml:1:1: publish_intervl: unknown key (did you mean publish_interval?)"},
		{"zzzzzz: 1\n", "t.yaml:1:1: zzzzzz: unknown key"},
		{"service_level:\n  variant: best\n", "t.yaml:2:12: service_level.variant=best: must be one of"},
		{"timezone: Mars/Base\n", "t.yaml:1:11: timezone=Mars/Base: "},
		{"windows:\n  - {name: today, length: 1h, bucket: 1m}\n", "windows[0].name=today: must be 1..15 of"},
		{"windows:\n  - {name: a b, length: 1h, bucket: 1m}\n", "windows[0].name=a b"},
		{"windows:\n  - {name: a, length: 7m, bucket: 2m}\n", "t.yaml:2:23: windows[0].length=7m: must be a multiple of bucket (2m)"},
		{"windows:\n  - {name: a, length: 1h, bucket: 1m}\n  - {name: a, length: 2h, bucket: 1m}\n",
		 "t.yaml:3:12: windows[1].name=a: used twice"},
		{"windows:\n  - {name: a, length: 366d, bucket: 1s}\n", "windows[0].length=366d: more than 1000000 buckets of 1s"},
		{"windows:\n  - {name: a, length: 1h}\n", "windows[0]: needs name, length and bucket"},
		{"windows:\n  - {name: a, length: 1h, bucket: 1m, size: 3}\n", "windows[0].size: unknown key"},
		{"windows: []\n", "t.yaml:1:10: windows: needs at least one window"},
		{"windows: 5m\n", "windows: expected a list"},
		{"workers: many\n", "t.yaml:1:10: workers=many: not an integer"},
		{"workers: 257\n", "workers=257: must be 0..256"},
		{"dedup:\n  max_ids: -1\n", "dedup.max_ids=-1: must be 1000..1000000000"},
		{"queues:\n  q:\n    service_level: {fax: 1s}\n", "queues.q.service_level.fax: expected"},
		{"queues:\n  q:\n    service_level: {chat: 0}\n", "queues.q.service_level.chat=0: must be"},
		{"redis:\n  url: http://x\n", "t.yaml:2:8: redis.url=http://x: "},
		{"redis: {url: \"redis://u:pw@h:99999/0\"}\n", "t.yaml:1:14: redis.url=redis://u:***@h:99999/0: "},
		{"http: {addr: localhost}\n", "http.addr=localhost: expected HOST:PORT"},
		{"prefix: \"a b\"\n", "prefix=a b: must not hold spaces"},
		{"kafka: {brokers: \"\"}\n", "kafka.brokers=: must not be empty"},
		{"- a\n- b\n", "t.yaml:1:1: the top level must be a mapping"},
		{"\"prefix: x\n", "t.yaml:2:1: YAML syntax"},
		{"a: [1]\n", "t.yaml:1:4: a: expected a value or a mapping"},
		{"prefix: &x p\nkafka:\n  topic: *x\n", "t.yaml:3:10: kafka.topic: YAML aliases (*name) are not supported"},
		{"log:\n  level: loud\n", "log.level=loud: must be one of debug|info|warn|error"},
		{"short_abandon: 5 s\n", "short_abandon=5 s: not a duration"},
		{"short_abandon: -5s\n", "short_abandon=-5s: not a duration"},
		{"open_horizon: 99999999999999999999d\n", "open_horizon=99999999999999999999d: not a duration"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load(cases[i].yaml) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].yaml);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
	}
	/* A real file is named by its path. */
	char path[] = "/tmp/ccp_cfg_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "prefix: x\nworkerz: 1\n", 21), 21);
	close(fd);
	ccp_config_free(cfg);
	ccp_config_defaults(cfg);
	assert_int_equal(ccp_config_load_file(cfg, path, err, sizeof(err)), -1);
	char want[128];
	snprintf(want, sizeof(want), "%s:2:1: workerz: unknown key (did you mean workers?)", path);
	assert_string_equal(err, want);
	unlink(path);
	assert_int_equal(ccp_config_load_file(cfg, "/nonexistent/x.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/x.yaml: No such file or directory");
}

static void test_redis_url(void **state)
{
	(void)state;
	static const struct {
		const char *url, *user, *password, *host;
		unsigned port, db;
	} ok[] = {
		{"redis://127.0.0.1:6379/0", "", "", "127.0.0.1", 6379, 0},
		{"redis://cache", "", "", "cache", 6379, 0},
		{"redis://cache/", "", "", "cache", 6379, 0},
		{"redis://:s3cret@cache:7000/15", "", "s3cret", "cache", 7000, 15},
		{"redis://app:p%40ss%2Fw@[::1]:6380/2", "app", "p@ss/w", "::1", 6380, 2},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ccp_config_free(cfg);
		ccp_config_defaults(cfg);
		if (ccp_config_set(cfg, "redis.url", ok[i].url, err, sizeof(err)))
			fail_msg("%s rejected: %s", ok[i].url, err);
		assert_int_equal(cfg->redis.has_password, ok[i].password[0] != 0);
		assert_string_equal(cfg->redis.user, ok[i].user);
		assert_string_equal(cfg->redis.password, ok[i].password);
		assert_string_equal(cfg->redis.host, ok[i].host);
		assert_int_equal(cfg->redis.port, ok[i].port);
		assert_int_equal(cfg->redis.db, ok[i].db);
	}
	static const char *const bad[] = {
		"redis://",        "redis://:6379",         "redis://h:0",        "redis://h:65536",
		"redis://h:12a",   "redis://h/db",          "redis://h/-1",       "rediss://h",
		"redis://[::1/0",  "redis://h x:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!ccp_config_set(cfg, "redis.url", bad[i], err, sizeof(err)))
			fail_msg("%s accepted", bad[i]);
	/* The password never shows in an error. */
	assert_int_equal(ccp_config_set(cfg, "redis.url", "redis://u:topsecret@h:0", err, sizeof(err)), -1);
	assert_null(strstr(err, "topsecret"));
	assert_non_null(strstr(err, "redis.url=redis://u:***@h:0: "));
	assert_int_equal(ccp_config_set(cfg, "redis.url", "unix://:pw@/run/redis.sock?db=3", err, sizeof(err)), 0);
	assert_int_equal(cfg->redis.kind, CCP_REDIS_URL_UNIX);
	assert_string_equal(cfg->redis.path, "/run/redis.sock");
	assert_int_equal(cfg->redis.db, 3);
}

static void test_env_and_flags(void **state)
{
	(void)state;
	ccp_config_free(cfg);
	ccp_config_defaults(cfg);
	const char *y = "prefix: file\nkafka: {topic: t1, group: g1}\n";
	assert_int_equal(ccp_config_load_buffer(cfg, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	setenv("CCPULSE_REDIS_URL", "redis://127.0.0.1:7000/1", 1);
	setenv("CCPULSE_PUBLISH_INTERVAL", "2s", 1);
	setenv("CCPULSE_KAFKA_TOPIC", "t2", 1);
	setenv("CCPULSE_SERVICE_LEVEL_THRESHOLDS_CHAT", "90s", 1);
	assert_int_equal(ccp_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->redis_url, "redis://127.0.0.1:7000/1");
	assert_int_equal(cfg->redis.port, 7000);
	assert_int_equal(cfg->publish_interval_ms, 2000);
	assert_string_equal(cfg->topic, "t2");    /* env over file */
	assert_string_equal(cfg->group, "g1");    /* file kept */
	assert_string_equal(cfg->prefix, "file"); /* file kept */
	assert_int_equal(cfg->engine.sl_threshold_ms[CCP_CH_CHAT], 90000);
	/* flags over env */
	assert_int_equal(ccp_config_apply_flag(cfg, "--topic", "t3", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--publish-interval", "750", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--redis", "redis://r:6390", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--brokers", "b1:9092,b2:9092", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--agent-topic", "ag", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--group", "g2", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--prefix", "p", err, sizeof(err)), 0);
	assert_int_equal(ccp_config_apply_flag(cfg, "--http", "[::1]:0", err, sizeof(err)), 0);
	assert_string_equal(cfg->topic, "t3");
	assert_int_equal(cfg->publish_interval_ms, 750);
	assert_string_equal(cfg->redis.host, "r");
	assert_string_equal(cfg->brokers, "b1:9092,b2:9092");
	assert_string_equal(cfg->agent_topic, "ag");
	assert_string_equal(cfg->group, "g2");
	assert_string_equal(cfg->prefix, "p");
	assert_string_equal(cfg->http_addr, "[::1]:0");
	assert_int_equal(ccp_config_apply_flag(cfg, "--publish-interval", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "--publish-interval: publish_interval=1: must be 50ms..1m");
	assert_int_equal(ccp_config_apply_flag(cfg, "--nope", "1", err, sizeof(err)), CCP_CONFIG_NOT_A_FLAG);
	assert_true(ccp_config_is_flag("--redis"));
	assert_false(ccp_config_is_flag("--json"));
	/* a bad env value names the variable */
	setenv("CCPULSE_DEDUP_MAX_IDS", "5", 1);
	assert_int_equal(ccp_config_apply_env(cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "CCPULSE_DEDUP_MAX_IDS: dedup.max_ids=5: must be 1000..1000000000");
	unsetenv("CCPULSE_DEDUP_MAX_IDS");
	unsetenv("CCPULSE_REDIS_URL");
	unsetenv("CCPULSE_PUBLISH_INTERVAL");
	unsetenv("CCPULSE_KAFKA_TOPIC");
	unsetenv("CCPULSE_SERVICE_LEVEL_THRESHOLDS_CHAT");
}

static void test_print_redacts_and_round_trips(void **state)
{
	(void)state;
	assert_int_equal(load("redis: {url: \"redis://u:s3cret@127.0.0.1:6390/2\"}\nprefix: \"p\\\"q\"\n"
			      "kafka:\n  sasl.password: hunter2\n  ssl.key.password: k3y\n  sasl.oauthbearer.client.secret: xyz\n"
			      "  client.id: \"me:1\"\nqueues:\n  \"x y:z\": {service_level: {sms: 90s}}\n"
			      "windows:\n  - {name: w-1, length: 90m, bucket: 30s}\ntimezone: Asia/Kathmandu\n"
			      "alerts:\n  webhook:\n    url: \"https://hook:pw9@127.0.0.1:9/x?token=tk7\"\n"
			      "    header: \"Authorization: Bearer b8r\"\n"),
			 0);
	char *text = printed();
	assert_null(strstr(text, "pw9"));
	assert_null(strstr(text, "tk7"));
	assert_null(strstr(text, "b8r"));
	assert_non_null(strstr(text, "alerts.webhook.url: \"https://hook:***@127.0.0.1:9/x?***\"\n"));
	assert_non_null(strstr(text, "alerts.webhook.header: \"***\"\n"));
	assert_null(strstr(text, "hunter2"));
	assert_null(strstr(text, "k3y"));
	assert_null(strstr(text, "xyz"));
	assert_null(strstr(text, "s3cret"));
	assert_non_null(strstr(text, "redis.url: \"redis://u:***@127.0.0.1:6390/2\"\n"));
	assert_non_null(strstr(text, "kafka.sasl.password: \"***\"\n"));
	assert_non_null(strstr(text, "kafka.client.id: \"me:1\"\n"));
	assert_non_null(strstr(text, "publish_interval: 500ms\n"));
	assert_non_null(strstr(text, "open_horizon: 7d\n"));
	assert_non_null(strstr(text, "\"queues.x y:z.service_level.sms\": 90s\n"));
	/* The printed config loads back to the same values (secrets aside). */
	struct ccp_config *again = calloc(1, sizeof(*again));
	ccp_config_defaults(again);
	if (ccp_config_load_buffer(again, "printed", text, strlen(text), err, sizeof(err)))
		fail_msg("printed config does not load: %s\n%s", err, text);
	assert_string_equal(again->prefix, "p\"q");
	assert_string_equal(again->timezone, "Asia/Kathmandu");
	assert_int_equal(again->engine.n_windows, 1);
	assert_int_equal(again->engine.windows[0].length_ms, 90 * 60000);
	assert_int_equal(again->engine.n_sl_overrides, 1);
	assert_string_equal(again->overrides[0].queue, "x y:z");
	assert_int_equal(again->overrides[0].threshold_ms[CCP_CH_SMS], 90000);
	assert_int_equal(again->n_kafka, 4);
	assert_string_equal(again->kafka[3].value, "me:1");
	assert_int_equal(again->redis.port, 6390);
	ccp_config_free(again);
	free(again);
	free(text);
}

static void test_doc_is_current(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ccp_config_doc_markdown(f);
	fclose(f);
	assert_non_null(strstr(buf, "| `kafka.brokers` | `CCPULSE_KAFKA_BROKERS` | `--brokers` | `localhost:9092` |"));
	assert_non_null(strstr(buf, "`open_horizon`"));
	char path[1024];
	snprintf(path, sizeof(path), "%s/docs/config.md", CCP_SOURCE_DIR);
	FILE *doc = fopen(path, "r");
	assert_non_null(doc);
	char *text = calloc(1, 1 << 16);
	size_t n = fread(text, 1, (1 << 16) - 1, doc);
	fclose(doc);
	if (n != len || memcmp(text, buf, n))
		fail_msg("docs/config.md is out of date: regenerate it with `ccpulse config-doc > docs/config.md`");
	free(text);
	free(buf);
}

/* Allocation hook that fails call number `fail_at`. */
struct failing {
	long fail_at, calls, live;
};

static void *fail_realloc(void *ud, void *p, size_t n)
{
	struct failing *f = ud;
	if (f->calls++ == f->fail_at)
		return NULL;
	if (!p)
		f->live++;
	return realloc(p, n);
}

static void fail_free(void *ud, void *p)
{
	struct failing *f = ud;
	if (p)
		f->live--;
	free(p);
}

static void test_alert_rules(void **state)
{
	(void)state;
	assert_int_equal(load("alerts:\n"
			      "  rules:\n"
			      "    - {name: sl, kind: service_level_below, threshold: 80%, clear: 85%, min_volume: 10, for: 2m}\n"
			      "    - name: long\n"
			      "      kind: longest_wait_above\n"
			      "      threshold: 2m\n"
			      "      clear: 90s\n"
			      "      queues: [billing, \"vip east\"]\n"
			      "    - {name: csat, kind: csat_below, window: today, threshold: 3.5, queues: all}\n"
			      "    - {name: late, kind: promise_overdue, for: 1m}\n"),
			 0);
	assert_int_equal(cfg->n_alert_rules, 4);
	const struct ccp_alert_rule *r = cfg->alert_rules;
	assert_string_equal(r[0].window, "15m"); /* the default window */
	assert_true(fabs(r[0].threshold - 0.8) < 1e-12 && fabs(r[0].clear - 0.85) < 1e-12);
	assert_int_equal(r[0].min_volume, 10);
	assert_int_equal(r[0].for_ms, 120000);
	assert_int_equal(r[1].kind, CCP_ALERT_LONGEST_WAIT_ABOVE);
	assert_true(r[1].threshold == 120000 && r[1].clear == 90000);
	assert_int_equal(r[1].n_queues, 2);
	assert_string_equal(r[1].queues[1], "vip east");
	assert_true(isnan(r[2].clear));
	assert_int_equal(r[2].n_queues, 0);
	assert_int_equal(r[3].kind, CCP_ALERT_PROMISE_OVERDUE);
	/* Printed and read back: the same rules. */
	char *text = printed();
	struct ccp_config *again = calloc(1, sizeof(*again));
	ccp_config_defaults(again);
	if (ccp_config_load_buffer(again, "printed", text, strlen(text), err, sizeof(err)) ||
	    ccp_config_finish(again, err, sizeof(err)))
		fail_msg("printed config does not load: %s\n%s", err, text);
	assert_int_equal(again->n_alert_rules, 4);
	for (uint32_t i = 0; i < 4; i++) {
		const struct ccp_alert_rule *x = &again->alert_rules[i];
		assert_string_equal(x->name, r[i].name);
		assert_int_equal(x->kind, r[i].kind);
		assert_string_equal(x->window, r[i].window);
		assert_true(x->threshold == r[i].threshold);
		assert_true(x->clear == r[i].clear || (isnan(x->clear) && isnan(r[i].clear)));
		assert_int_equal(x->for_ms, r[i].for_ms);
		assert_int_equal(x->n_queues, r[i].n_queues);
	}
	assert_string_equal(again->alert_rules[1].queues[1], "vip east");
	ccp_config_free(again);
	free(again);
	free(text);

	/* Each mistake named with its place. */
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{"alerts:\n  rules:\n    - {name: a, kind: sl_low, threshold: 1}\n", "t.yaml:3:23: alerts.rules[0].kind=sl_low: one of"},
		{"alerts:\n  rules:\n    - {name: a, kind: asa_above, threshold: 80%}\n",
		 "alerts.rules[0].threshold=80%: must be a duration (90s, 2m) for asa_above"},
		{"alerts:\n  rules:\n    - {name: a, kind: service_level_below, threshold: 1.5}\n",
		 "must be a ratio (0.8 or 80%)"},
		{"alerts:\n  rules:\n    - {name: a, kind: waiting_above}\n", "alerts.rules[0]: needs name, kind and threshold"},
		{"alerts:\n  rules:\n    - {name: a, kind: waiting_above, threshold: 3, colour: red}\n",
		 "alerts.rules[0].colour: unknown key"},
		{"alerts:\n  rules:\n    - {name: a, kind: waiting_above, threshold: 3}\n    - {name: a, kind: waiting_above, threshold: 4}\n",
		 "alerts.rules[1].name=a: used twice"},
		{"alerts:\n  rules:\n    - {name: a, kind: csat_below, window: 2h, threshold: 3}\n", "alert rule a: no window \"2h\""},
		{"alerts:\n  rules:\n    - {name: a, kind: waiting_above, threshold: 5, clear: 9}\n", "breaching side"},
		{"alerts:\n  rules:\n    - {name: a, kind: waiting_above, threshold: 5, queues: some}\n",
		 "alerts.rules[0].queues: a list of queue ids, or all"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(bad[i].yaml), -1);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: error \"%s\" does not say \"%s\"", i, err, bad[i].want);
	}
}

/* wallboard.*: the default window gives way to the first configured one
 * when there is no 15m, a named one must exist, and the target takes a
 * ratio or a percentage within 0..1. */
static void test_wallboard(void **state)
{
	(void)state;
	assert_int_equal(load(""), 0);
	assert_string_equal(cfg->wallboard_window, "15m");
	assert_true(cfg->wallboard_sl_target == 0.8);
	assert_int_equal(load("wallboard: {window: today, service_level_target: 85%}\n"), 0);
	assert_string_equal(cfg->wallboard_window, "today");
	assert_true(fabs(cfg->wallboard_sl_target - 0.85) < 1e-12);
	assert_int_equal(load("wallboard: {service_level_target: 0.9}\nwindows:\n  - {name: 30m, length: 30m, bucket: 1m}\n"),
			 0);
	assert_string_equal(cfg->wallboard_window, "30m");
	assert_true(cfg->wallboard_sl_target == 0.9);
	char *text = printed();
	assert_non_null(strstr(text, "wallboard.service_level_target: 0.9\n"));
	free(text);
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{"wallboard: {window: 2h}\n", "wallboard.window=2h: not a configured window (5m, 15m, 1h, 24h, today)"},
		{"wallboard: {window: \"a b\"}\n", "t.yaml:1:21: wallboard.window=a b: must be a window name"},
		{"wallboard: {service_level_target: 1.5}\n", "wallboard.service_level_target=1.5: must be a ratio 0..1"},
		{"wallboard: {service_level_target: 80}\n", "must be a ratio 0..1 (0.8) or a percentage (80%)"},
		{"wallboard: {service_level_target: -1%}\n", "must be a ratio"},
		{"wallboard: {service_level_target: x}\n", "must be a ratio"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(bad[i].yaml), -1);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].want);
	}
}

static void test_failing_allocations(void **state)
{
	(void)state;
	/* 20 kafka keys and 20 queues: several growths of each list. */
	char yaml[8192];
	size_t n = (size_t)snprintf(yaml, sizeof(yaml), "kafka:\n");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  k%d: v\n", i);
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "queues:\n");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  q%d: {service_level: {voice: 1s}}\n", i);
	/* and 12 alert rules, each with queues: the rule list and the blocks. */
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "alerts:\n  rules:\n");
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
				      "    - {name: r%d, kind: waiting_above, threshold: 3, queues: [a%d, b, c]}\n", i, i);
	long total = -1;
	for (long k = -1; k < 128; k++) {
		struct failing f = {k, 0, 0};
		struct ccp_config_alloc a = {fail_realloc, fail_free, &f};
		ccp_config_free(cfg);
		ccp_config_defaults(cfg);
		ccp_config_set_alloc(cfg, &a);
		int rc = ccp_config_load_buffer(cfg, "t.yaml", yaml, n, err, sizeof(err));
		if (k < 0) {
			assert_int_equal(rc, 0);
			assert_int_equal(cfg->n_kafka, 20);
			assert_int_equal(cfg->engine.n_sl_overrides, 20);
			assert_int_equal(cfg->n_alert_rules, 12);
			total = f.calls;
		} else if (k < total) {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, "out of memory"));
		} else {
			assert_int_equal(rc, 0);
		}
		ccp_config_free(cfg);
		assert_int_equal(f.live, 0);
	}
	assert_true(total >= 4);
}

static int setup(void **state)
{
	(void)state;
	cfg = calloc(1, sizeof(*cfg));
	return cfg ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ccp_config_free(cfg);
	free(cfg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors_name_file_line_key),
		cmocka_unit_test(test_redis_url),
		cmocka_unit_test(test_env_and_flags),
		cmocka_unit_test(test_print_redacts_and_round_trips),
		cmocka_unit_test(test_doc_is_current),
		cmocka_unit_test(test_alert_rules),
		cmocka_unit_test(test_wallboard),
		cmocka_unit_test(test_failing_allocations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
