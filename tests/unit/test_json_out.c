/* Unit tests: the streaming JSON writer's separators and nesting, string
 * escaping (controls, quotes, invalid UTF-8 -> U+FFFD, valid multi-byte
 * kept, long strings across the writer's chunks) and ccp_json_escape's
 * length and cutting rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/json_out.h"

/* Runs `fn` against a memory stream and returns what it wrote. */
static char *capture(void (*fn)(struct ccp_json_out *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	struct ccp_json_out j;
	ccp_json_init(&j, f);
	fn(&j);
	assert_false(j.overflow);
	fclose(f);
	return buf;
}

static void write_nested(struct ccp_json_out *j)
{
	ccp_json_begin_object(j);
	ccp_json_key(j, "a", 1);
	ccp_json_int(j, -5);
	ccp_json_key(j, "empty", 5);
	ccp_json_begin_object(j);
	ccp_json_end_object(j);
	ccp_json_key(j, "list", 4);
	ccp_json_begin_array(j);
	ccp_json_uint(j, UINT64_MAX);
	ccp_json_null(j);
	ccp_json_bool(j, true);
	ccp_json_begin_object(j);
	ccp_json_key(j, "x", 1);
	ccp_json_raw(j, "0.25", 4);
	ccp_json_end_object(j);
	ccp_json_begin_array(j);
	ccp_json_end_array(j);
	ccp_json_end_array(j);
	ccp_json_key(j, "s", 1);
	ccp_json_string(j, "q\"b\\", 4);
	ccp_json_end_object(j);
}

static void test_nesting_and_commas(void **state)
{
	(void)state;
	char *out = capture(write_nested);
	assert_string_equal(out, "{\"a\":-5,\"empty\":{},\"list\":[18446744073709551615,null,true,{\"x\":0.25},[]],"
				 "\"s\":\"q\\\"b\\\\\"}");
	free(out);
}

static void write_bytes(struct ccp_json_out *j)
{
	/* key with an embedded NUL, value with every kind of trouble */
	static const char key[] = {'k', 0, 'y'};
	static const char val[] = "\x01\x1f\x7f\t\n\r\b caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
				  "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 end\xc3";
	ccp_json_begin_object(j);
	ccp_json_key(j, key, sizeof(key));
	ccp_json_string(j, val, sizeof(val) - 1);
	ccp_json_end_object(j);
}

static void test_string_escaping(void **state)
{
	(void)state;
	char *out = capture(write_bytes);
	assert_string_equal(out, "{\"k\\u0000y\":\"\\u0001\\u001f\\u007f\\t\\n\\r\\u0008 caf\xc3\xa9 \xe2\x82\xac "
				 "\xf0\x9f\x98\x80 "
				 "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd "
				 "end\\ufffd\"}");
	free(out);
}

/* 200 copies of a 3-byte character: the writer's 64-byte chunks must not
 * split one. */
static void write_long(struct ccp_json_out *j)
{
	char s[600];
	for (int i = 0; i < 200; i++)
		memcpy(s + 3 * i, "\xe2\x82\xac", 3);
	ccp_json_string(j, s, 600);
}

static void test_long_multibyte(void **state)
{
	(void)state;
	char *out = capture(write_long);
	assert_int_equal(strlen(out), 602);
	assert_null(strstr(out, "fffd"));
	free(out);
}

static void test_escape_function(void **state)
{
	(void)state;
	char buf[8];
	/* Needed length is reported even when cut. */
	assert_int_equal(ccp_json_escape(buf, sizeof(buf), "abc", 3), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(ccp_json_escape(buf, sizeof(buf), "ab\"\"\"\"", 6), 10);
	assert_string_equal(buf, "ab\\\"\\\""); /* 7 bytes fit: cut before the 3rd escape */
	assert_int_equal(strlen(buf), 6);
	/* A 6-byte escape is never split. */
	assert_int_equal(ccp_json_escape(buf, sizeof(buf), "ab\x01", 3), 8);
	assert_string_equal(buf, "ab");
	/* cap 0 writes nothing */
	assert_int_equal(ccp_json_escape(NULL, 0, "x", 1), 1);
}

static void write_too_deep(struct ccp_json_out *j)
{
	for (int i = 0; i < CCP_JSON_MAX_DEPTH + 1; i++)
		ccp_json_begin_array(j);
}

static void test_overflow_flag(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct ccp_json_out j;
	ccp_json_init(&j, f);
	write_too_deep(&j);
	assert_true(j.overflow);
	fclose(f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas), cmocka_unit_test(test_string_escaping),
		cmocka_unit_test(test_long_multibyte),     cmocka_unit_test(test_escape_function),
		cmocka_unit_test(test_overflow_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
