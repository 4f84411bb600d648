/* Unit tests: config file, env overrides, flags-as-keys, errors with
 * file:line, redaction, and the shipped example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccpulse/config.h"

static struct ccp_config *cfg;
static char err[512];

static const char *write_tmp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/ccp_cfg_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load(const char *text)
{
	ccp_config_release(cfg);
	ccp_config_defaults(cfg);
	const char *p = write_tmp(text);
	int rc = ccp_config_load_file(cfg, p, err, sizeof(err));
	if (!rc)
		rc = ccp_config_finish(cfg, err, sizeof(err));
	unlink(p);
	return rc;
}

static void test_example_and_defaults(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof(path), "%s/config/ccpulse.yaml", CCP_SOURCE_DIR);
	ccp_config_defaults(cfg);
	assert_int_equal(ccp_config_load_file(cfg, path, err, sizeof(err)), 0);
	assert_int_equal(ccp_config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->topic, "contact-events");
	assert_int_equal(cfg->engine.n_windows, 4);
	assert_int_equal(cfg->engine.windows[3].bucket_ms, 300000);
	assert_int_equal(cfg->engine.n_sl_overrides, 1);
	assert_string_equal(cfg->overrides[0].queue, "billing");
	assert_int_equal(cfg->overrides[0].threshold_ms[0], 30000);
	assert_int_equal(cfg->publish_interval_ms, 500);
	assert_int_equal(cfg->engine.open_horizon_ms, 7 * 86400000LL);
}

static void test_values(void **state)
{
	(void)state;
	assert_int_equal(load("timezone: Europe/Berlin\nshort_abandon: 10s\nservice_level:\n  variant: offered\n"
			      "  thresholds: {chat: 2m}\nwindows:\n  - {name: 30m, length: 30m, bucket: 1m}\n"
			      "kafka:\n  security.protocol: SASL_SSL\n  sasl.password: hunter2\n"
			      "queues:\n  a.b:\n    service_level: {email: 1h}\n"),
			 0);
	assert_int_equal(cfg->engine.short_abandon_ms, 10000);
	assert_int_equal(cfg->engine.sl_variant, CCP_SL_OFFERED);
	assert_int_equal(cfg->engine.sl_threshold_ms[1], 120000);
	assert_int_equal(cfg->engine.n_windows, 1);
	assert_string_equal(cfg->engine.windows[0].name, "30m");
	assert_int_equal(cfg->n_kafka, 2);
	assert_string_equal(cfg->kafka[0].key, "security.protocol");
	assert_string_equal(cfg->overrides[0].queue, "a.b");
	assert_non_null(cfg->tz);
	/* Secrets never printed. */
	assert_int_equal(ccp_config_set(cfg, "redis.url", "redis://u:s3cret@127.0.0.1:6390/2", err, sizeof(err)), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ccp_config_print(cfg, f);
	fclose(f);
	assert_null(strstr(buf, "hunter2"));
	assert_null(strstr(buf, "s3cret"));
	assert_non_null(strstr(buf, "redis://u:***@127.0.0.1:6390/2"));
	free(buf);
}

static void test_errors_name_file_line_key(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{"prefix: x\nwindows:\n  - {name: 5m, length: 5m, bucket: 0}\n", ":3:"},
		{"publish_interval: 5ms\n", "publish_interval=5ms: must be 50ms"},
		{"publish_intervl: 1s\n", "did you mean publish_interval"},
		{"service_level:\n  variant: best\n", "service_level.variant=best"},
		{"timezone: Mars/Base\n", "Mars/Base"},
		{"windows:\n  - {name: today, length: 1h, bucket: 1m}\n", "not live or today"},
		{"windows:\n  - {name: a, length: 7m, bucket: 2m}\n", "multiple of bucket"},
		{"windows:\n  - {name: a, length: 1h, bucket: 1m}\n  - {name: a, length: 2h, bucket: 1m}\n", "used twice"},
		{"workers: many\n", "workers=many: not an integer"},
		{"queues:\n  q:\n    service_level: {fax: 1s}\n", "queues.q.service_level.fax"},
		{"redis:\n  url: http://x\n", "must start with redis://"},
		{"- a\n- b\n", "top level must be a mapping"},
		{"\"prefix: x\n", "YAML syntax"},
		{"a: [1]\n", "a: expected a value or a mapping"},
		{"log:\n  level: loud\n", "debug|info|warn|error"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load(cases[i].yaml) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].yaml);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
	}
	assert_int_equal(load("\"prefix: x\n"), -1);
	assert_non_null(strstr(err, "/tmp/ccp_cfg_"));
}

static void test_env_overrides(void **state)
{
	(void)state;
	ccp_config_defaults(cfg);
	setenv("CCPULSE_REDIS_URL", "redis://127.0.0.1:7000/1", 1);
	setenv("CCPULSE_PUBLISH_INTERVAL", "2s", 1);
	assert_int_equal(ccp_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->redis_url, "redis://127.0.0.1:7000/1");
	assert_int_equal(cfg->publish_interval_ms, 2000);
	setenv("CCPULSE_DEDUP_MAX_IDS", "5", 1);
	assert_int_equal(ccp_config_apply_env(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CCPULSE_DEDUP_MAX_IDS"));
	unsetenv("CCPULSE_DEDUP_MAX_IDS");
	unsetenv("CCPULSE_REDIS_URL");
	unsetenv("CCPULSE_PUBLISH_INTERVAL");
}

static void test_doc_lists_every_key(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ccp_config_doc_markdown(f);
	fclose(f);
	assert_non_null(strstr(buf, "`CCPULSE_KAFKA_BROKERS`"));
	assert_non_null(strstr(buf, "`open_horizon`"));
	/* The README's table is this output, byte for byte. */
	char path[1024];
	snprintf(path, sizeof(path), "%s/docs/config.md", CCP_SOURCE_DIR);
	FILE *doc = fopen(path, "r");
	assert_non_null(doc);
	char *text = calloc(1, 1 << 16);
	size_t n = fread(text, 1, (1 << 16) - 1, doc);
	fclose(doc);
	text[n] = 0;
	if (!strstr(text, buf))
		fail_msg("docs/config.md is out of date: regenerate it with `ccpulse config-doc`");
	free(text);
	free(buf);
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
	ccp_config_release(cfg);
	free(cfg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_and_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors_name_file_line_key),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_doc_lists_every_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
