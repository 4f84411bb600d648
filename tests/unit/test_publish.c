/* Unit tests: a partition's figures rendered as absolute Redis writes
 * (DEL then HSET of present fields, queue set), keys per outputs.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/publish.h"

static int has_arg(const char **argv, const size_t *len, int argc, const char *want)
{
	for (int i = 0; i < argc; i++)
		if (len[i] == strlen(want) && !memcmp(argv[i], want, len[i]))
			return i;
	return -1;
}

static void test_render(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	char err[128];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	struct ccp_decoder dec;
	struct ccp_event ev;
	ccp_decoder_init(&dec);
	const char *lines[] = {
		"{\"id\":\"1\",\"type\":\"contact.offered\",\"ts\":1795339800000,\"queue\":\"bil\\u0000ling\",\"contact\":\"c\"}",
		"{\"id\":\"2\",\"type\":\"contact.answered\",\"ts\":1795339810000,\"queue\":\"bil\\u0000ling\",\"contact\":\"c\"}",
	};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ccp_decode(&dec, lines[i], strlen(lines[i]), &ev, NULL), CCP_REJECT_NONE);
		ccp_engine_apply(e, &ev);
	}
	struct ccp_cmdbuf cb;
	ccp_cmdbuf_init(&cb);
	struct ccp_publish_opts o = {.prefix = "pfx", .sl_variant = CCP_SL_ANSWERED_ABANDONED, .wall_ms = 42};
	assert_int_equal(ccp_publish_queues(&cb, e, &o), 1);
	/* 5 windows and live: DEL + HSET each; then SADD. */
	assert_int_equal(ccp_cmdbuf_count(&cb), 13);
	const char **argv;
	const size_t *len;
	int argc = ccp_cmdbuf_argv(&cb, 0, &argv, &len);
	assert_int_equal(argc, 2);
	assert_memory_equal(argv[0], "DEL", 3);
	assert_int_equal(len[1], strlen("pfx:q:bil") + 1 + strlen("ling:5m"));
	assert_memory_equal(argv[1], "pfx:q:bil\0ling:5m", len[1]); /* the NUL survives */
	argc = ccp_cmdbuf_argv(&cb, 1, &argv, &len);
	assert_memory_equal(argv[0], "HSET", 4);
	assert_int_equal(argc % 2, 0);
	int i = has_arg(argv, len, argc, "answered");
	assert_true(i > 0);
	assert_memory_equal(argv[i + 1], "1", 1);
	i = has_arg(argv, len, argc, "updated_at");
	assert_memory_equal(argv[i + 1], "42", 2);
	assert_true(has_arg(argv, len, argc, "asa_ms") > 0);
	assert_int_equal(has_arg(argv, len, argc, "csat_avg"), -1); /* no data: left out */
	argc = ccp_cmdbuf_argv(&cb, 11, &argv, &len);
	assert_true(has_arg(argv, len, argc, "longest_wait_ms") > 0);
	argc = ccp_cmdbuf_argv(&cb, 12, &argv, &len);
	assert_memory_equal(argv[0], "SADD", 4);
	assert_memory_equal(argv[1], "pfx:queues", len[1]);
	assert_int_equal(ccp_cmdbuf_error(&cb), 0);
	ccp_cmdbuf_deinit(&cb);
	ccp_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
