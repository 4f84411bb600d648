/* Unit tests: redis:// and unix:// URLs, percent-decoding, IPv4/IPv6/name
 * hosts, defaults, and errors that name the part at fault without ever
 * echoing the password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/redis_url.h"

static void test_plain(void **state)
{
	(void)state;
	struct ccp_redis_url u;
	char err[256] = "";
	assert_int_equal(ccp_redis_url_parse(&u, "redis://127.0.0.1:6380", err, sizeof(err)), 0);
	assert_int_equal(u.kind, CCP_REDIS_URL_IPV4);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 0);
	assert_false(u.has_password);
	assert_string_equal(u.user, "");

	assert_int_equal(ccp_redis_url_parse(&u, "redis://localhost", err, sizeof(err)), 0);
	assert_int_equal(u.kind, CCP_REDIS_URL_NAME);
	assert_string_equal(u.host, "localhost");
	assert_int_equal(u.port, 6379);

	assert_int_equal(ccp_redis_url_parse(&u, "redis://redis.example-1.internal:7000/", err, sizeof(err)), 0);
	assert_int_equal(u.kind, CCP_REDIS_URL_NAME);
	assert_int_equal(u.port, 7000);
	assert_int_equal(u.db, 0);
}

static void test_db_and_auth(void **state)
{
	(void)state;
	struct ccp_redis_url u;
	char err[256] = "";
	assert_int_equal(ccp_redis_url_parse(&u, "redis://:s3cret@10.0.0.5:6379/3", err, sizeof(err)), 0);
	assert_true(u.has_password);
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "s3cret");
	assert_int_equal(u.db, 3);

	assert_int_equal(ccp_redis_url_parse(&u, "redis://ccpulse:p%40ss%3Aw%2Frd%25@127.0.0.1:1/15", err,
					     sizeof(err)), 0);
	assert_string_equal(u.user, "ccpulse");
	assert_string_equal(u.password, "p@ss:w/rd%");
	assert_int_equal(u.port, 1);
	assert_int_equal(u.db, 15);

	/* A raw '@' inside the password: the last '@' before the path wins. */
	assert_int_equal(ccp_redis_url_parse(&u, "redis://u:a@b@h:2", err, sizeof(err)), 0);
	assert_string_equal(u.password, "a@b");
	assert_string_equal(u.host, "h");

	/* Empty password is still a password (AUTH ""). */
	assert_int_equal(ccp_redis_url_parse(&u, "redis://u:@h", err, sizeof(err)), 0);
	assert_true(u.has_password);
	assert_string_equal(u.password, "");
}

static void test_ipv6(void **state)
{
	(void)state;
	struct ccp_redis_url u;
	char err[256] = "";
	assert_int_equal(ccp_redis_url_parse(&u, "redis://[::1]:6390/2", err, sizeof(err)), 0);
	assert_int_equal(u.kind, CCP_REDIS_URL_IPV6);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 6390);
	assert_int_equal(u.db, 2);
	assert_int_equal(ccp_redis_url_parse(&u, "redis://[2001:db8::7]", err, sizeof(err)), 0);
	assert_string_equal(u.host, "2001:db8::7");
	assert_int_equal(u.port, 6379);
}

static void test_unix(void **state)
{
	(void)state;
	struct ccp_redis_url u;
	char err[256] = "";
	assert_int_equal(ccp_redis_url_parse(&u, "unix:///run/redis/redis.sock", err, sizeof(err)), 0);
	assert_int_equal(u.kind, CCP_REDIS_URL_UNIX);
	assert_string_equal(u.path, "/run/redis/redis.sock");
	assert_int_equal(u.db, 0);
	assert_int_equal(ccp_redis_url_parse(&u, "unix://:pw@/tmp/r.sock?db=4", err, sizeof(err)), 0);
	assert_string_equal(u.path, "/tmp/r.sock");
	assert_string_equal(u.password, "pw");
	assert_int_equal(u.db, 4);
}

/* Parses `url`, expects failure, and checks that the message mentions
 * `want` and never the secret "hunter2". */
static void expect_error(const char *url, const char *want)
{
	struct ccp_redis_url u;
	char err[256] = "";
	int r = ccp_redis_url_parse(&u, url, err, sizeof(err));
	if (r == 0 || !strstr(err, want) || strstr(err, "hunter2"))
		fail_msg("'%s': got %d '%s', wanted an error mentioning '%s'", url, r, err, want);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("", "empty");
	expect_error("http://h:1", "must start with redis://");
	expect_error("rediss://h:1", "TLS");
	expect_error("redis://", "host is missing");
	expect_error("redis://:6379", "host is missing");
	expect_error("redis://h:0", "port '0' must be 1..65535");
	expect_error("redis://h:65536", "1..65535");
	expect_error("redis://h:12ab", "port");
	expect_error("redis://h:", "port");
	expect_error("redis://h:1/x", "db 'x'");
	expect_error("redis://h:1/-1", "db");
	expect_error("redis://h:1/1?timeout=3", "query");
	expect_error("redis://::1:6379", "brackets");
	expect_error("redis://[::1:6379", "closing ']'");
	expect_error("redis://[::g]:1", "not an IPv6 address");
	expect_error("redis://[::1]x", "':PORT'");
	expect_error("redis://u:hunter2%4@h", "password: bad percent-escape");
	expect_error("redis://u:hunter2%zz@h", "password: bad percent-escape");
	expect_error("redis://u:hunter2%00@h", "password: bad percent-escape");
	expect_error("redis://u%2@h", "user");
	expect_error("redis://bob@h", "user 'bob' has no password");
	expect_error("unix://relative.sock", "absolute");
	expect_error("unix:///s.sock?x=1", "?db=N");
	expect_error("unix:///s.sock?db=z", "db 'z'");

	char longhost[400];
	memset(longhost, 'a', sizeof(longhost));
	memcpy(longhost, "redis://", 8);
	longhost[sizeof(longhost) - 1] = '\0';
	expect_error(longhost, "host longer than 255 bytes");
}

static void test_redacted(void **state)
{
	(void)state;
	struct ccp_redis_url u;
	char err[256], buf[256];
	assert_int_equal(ccp_redis_url_parse(&u, "redis://app:hunter2@[::1]:7/9", err, sizeof(err)), 0);
	ccp_redis_url_redacted(&u, buf, sizeof(buf));
	assert_string_equal(buf, "redis://app:***@[::1]:7/9");
	assert_int_equal(ccp_redis_url_parse(&u, "redis://h", err, sizeof(err)), 0);
	ccp_redis_url_redacted(&u, buf, sizeof(buf));
	assert_string_equal(buf, "redis://h:6379/0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),   cmocka_unit_test(test_db_and_auth), cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_unix),    cmocka_unit_test(test_errors),      cmocka_unit_test(test_redacted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
