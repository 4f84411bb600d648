/* Unit tests: local day bounds from TZif files, across DST changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ccpulse/tz.h"

static void bounds(const char *zone, int64_t t, int64_t want_start, int64_t want_end)
{
	char err[256];
	struct ccp_tz *tz = ccp_tz_load(zone, err, sizeof(err));
	if (!tz)
		fail_msg("%s", err);
	int64_t s, e;
	ccp_tz_day_bounds(tz, t, &s, &e);
	if (s != want_start || e != want_end)
		fail_msg("%s at %lld: got [%lld, %lld) want [%lld, %lld)", zone, (long long)t, (long long)s,
			 (long long)e, (long long)want_start, (long long)want_end);
	ccp_tz_free(tz);
}

static void test_days(void **state)
{
	(void)state;
	/* UTC, with and without a zone object. */
	int64_t s, e;
	ccp_tz_day_bounds(NULL, 1795339806409LL, &s, &e);
	assert_int_equal(s, 1795305600000LL);
	assert_int_equal(e, 1795392000000LL);
	bounds("UTC", 1795339806409LL, 1795305600000LL, 1795392000000LL);
	/* New York, 2026-03-08 (23 h: 02:00 -> 03:00). Midnight EST = 05:00Z. */
	bounds("America/New_York", 1772960400000LL /* 09:00Z */, 1772946000000LL, 1773028800000LL);
	/* New York, 2026-11-01 (25 h). Midnight EDT = 04:00Z, next EST 05:00Z. */
	bounds("America/New_York", 1793534400000LL, 1793505600000LL, 1793595600000LL);
	/* Berlin, 2026-03-29 (23 h). Midnight CET = 23:00Z the day before. */
	bounds("Europe/Berlin", 1774771200000LL /* 08:00Z */, 1774738800000LL, 1774821600000LL);
	/* Kathmandu, +05:45. */
	bounds("Asia/Kathmandu", 1795339806409LL, 1795284900000LL, 1795371300000LL);
	/* Sao Paulo, 2018-11-04: clocks went 00:00 -> 01:00, so the day starts
	 * at 03:00Z (01:00 local, -02:00) and lasts 23 h. */
	bounds("America/Sao_Paulo", 1541340000000LL /* 14:00Z */, 1541300400000LL, 1541383200000LL);
}

static void test_bad_names(void **state)
{
	(void)state;
	char err[256];
	assert_null(ccp_tz_load("../etc/passwd", err, sizeof(err)));
	assert_null(ccp_tz_load("/etc/localtime", err, sizeof(err)));
	assert_null(ccp_tz_load("Mars/Olympus_Mons", err, sizeof(err)));
	assert_null(ccp_tz_load("", err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
