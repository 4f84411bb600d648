/* Unit tests: command buffer appends, argv views, reuse after reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/cmdbuf.h"

static void test_commands_and_args(void **state)
{
	(void)state;
	struct ccp_cmdbuf cb;
	ccp_cmdbuf_init(&cb);
	ccp_cmdbuf_begin(&cb);
	ccp_cmdbuf_arg_str(&cb, "HSET");
	ccp_cmdbuf_arg_str(&cb, "k");
	ccp_cmdbuf_arg_i64(&cb, -42);
	ccp_cmdbuf_arg(&cb, "a\0b", 3);
	ccp_cmdbuf_begin(&cb);
	ccp_cmdbuf_arg_fmt(&cb, "%s:%d", "q", 7);
	assert_int_equal(ccp_cmdbuf_count(&cb), 2);

	const char **argv;
	const size_t *argvlen;
	assert_int_equal(ccp_cmdbuf_argv(&cb, 0, &argv, &argvlen), 4);
	assert_memory_equal(argv[0], "HSET", 4);
	assert_int_equal(argvlen[2], 3);
	assert_memory_equal(argv[2], "-42", 3);
	assert_int_equal(argvlen[3], 3);
	assert_memory_equal(argv[3], "a\0b", 3);
	assert_int_equal(ccp_cmdbuf_argv(&cb, 1, &argv, &argvlen), 1);
	assert_int_equal(argvlen[0], 3);
	assert_memory_equal(argv[0], "q:7", 3);
	assert_int_equal(ccp_cmdbuf_error(&cb), 0);
	ccp_cmdbuf_deinit(&cb);
}

static void test_growth_and_reset(void **state)
{
	(void)state;
	struct ccp_cmdbuf cb;
	ccp_cmdbuf_init(&cb);
	for (int round = 0; round < 3; round++) {
		ccp_cmdbuf_reset(&cb);
		for (int i = 0; i < 5000; i++) {
			ccp_cmdbuf_begin(&cb);
			ccp_cmdbuf_arg_str(&cb, "SET");
			ccp_cmdbuf_arg_fmt(&cb, "key:%d", i);
			ccp_cmdbuf_arg_i64(&cb, (int64_t)i * round);
		}
		assert_int_equal(ccp_cmdbuf_count(&cb), 5000);
		const char **argv;
		const size_t *argvlen;
		assert_int_equal(ccp_cmdbuf_argv(&cb, 4999, &argv, &argvlen), 3);
		assert_int_equal(argvlen[1], strlen("key:4999"));
		assert_memory_equal(argv[1], "key:4999", argvlen[1]);
	}
	/* A long formatted argument takes the slow path. */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ccp_cmdbuf_begin(&cb);
	ccp_cmdbuf_arg_fmt(&cb, "%s!", big);
	const char **argv;
	const size_t *argvlen;
	ccp_cmdbuf_argv(&cb, ccp_cmdbuf_count(&cb) - 1, &argv, &argvlen);
	assert_int_equal(argvlen[0], sizeof(big));
	assert_int_equal(argv[0][sizeof(big) - 1], '!');
	ccp_cmdbuf_deinit(&cb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands_and_args),
		cmocka_unit_test(test_growth_and_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
