/* Unit tests: local day bounds from TZif files and POSIX footer rules.
 *
 * Hand-computed bounds pin the DST days; a cross-check then compares
 * offsets and day bounds with glibc's localtime_r (TZ set in this test
 * process only; the module itself never reads TZ). The test includes tz.c to
 * reach the footer parser and the offset lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "tz.c"

#define H 3600
#define MS 1000LL

static struct ccp_tz *load(const char *zone)
{
	char err[256];
	struct ccp_tz *tz = ccp_tz_load(zone, err, sizeof(err));
	if (!tz)
		fail_msg("%s", err);
	return tz;
}

static void check(const struct ccp_tz *tz, const char *what, int64_t t_s, int64_t want_start_s,
		  int64_t want_end_s)
{
	int64_t s, e;
	ccp_tz_day_bounds(tz, t_s * MS + 123, &s, &e);
	if (s != want_start_s * MS || e != want_end_s * MS)
		fail_msg("%s at %lld: got [%lld, %lld) want [%lld, %lld) (%+.2f h, %+.2f h)", what,
			 (long long)t_s, (long long)s / MS, (long long)e / MS, (long long)want_start_s,
			 (long long)want_end_s, (double)(s / MS - want_start_s) / H,
			 (double)(e / MS - want_end_s) / H);
}

/* Every instant of the day [start, end) maps to it; the instants just
 * outside map to the neighbours. */
static void day(const char *zone, int64_t start_s, int64_t end_s)
{
	struct ccp_tz *tz = load(zone);
	check(tz, zone, start_s, start_s, end_s);
	check(tz, zone, start_s + (end_s - start_s) / 2, start_s, end_s);
	check(tz, zone, end_s - 1, start_s, end_s);
	int64_t s, e;
	ccp_tz_day_bounds(tz, end_s * MS, &s, &e);
	assert_int_equal(s, end_s * MS);
	ccp_tz_day_bounds(tz, start_s * MS - 1, &s, &e);
	assert_int_equal(e, start_s * MS);
	ccp_tz_free(tz);
}

static void test_utc(void **state)
{
	(void)state;
	int64_t s, e;
	/* 2026-11-22T13:30:06.409Z */
	ccp_tz_day_bounds(NULL, 1795339806409LL, &s, &e);
	assert_int_equal(s, 1795305600000LL);
	assert_int_equal(e, 1795392000000LL);
	day("UTC", 1795305600, 1795392000);
	day("Etc/UTC", 1795305600, 1795392000);
	/* Before 1970: floor, not truncation. 1969-12-31. */
	ccp_tz_day_bounds(NULL, -1, &s, &e);
	assert_int_equal(s, -86400 * MS);
	assert_int_equal(e, 0);
}

static void test_berlin_2026(void **state)
{
	(void)state;
	/* Ordinary day: 2026-01-15 at CET (+1): 2026-01-14T23:00Z. */
	day("Europe/Berlin", 1768431600, 1768431600 + 24 * H);
	/* 2026-03-29 (last Sunday of March), 02:00 CET -> 03:00 CEST: 23 h,
	 * from 2026-03-28T23:00Z to 2026-03-29T22:00Z. */
	day("Europe/Berlin", 1774738800, 1774821600);
	assert_int_equal(1774821600 - 1774738800, 23 * H);
	/* 2026-10-25 (last Sunday of October), 03:00 CEST -> 02:00 CET: 25 h,
	 * from 2026-10-24T22:00Z to 2026-10-25T23:00Z. */
	day("Europe/Berlin", 1792879200, 1792969200);
	assert_int_equal(1792969200 - 1792879200, 25 * H);
	/* Summer offset +2 in mid-2026: 2026-07-01 starts 2026-06-30T22:00Z. */
	day("Europe/Berlin", 1782856800, 1782856800 + 24 * H);
}

static void test_new_york_2026(void **state)
{
	(void)state;
	/* 2026-03-08 (second Sunday of March) 02:00 EST -> 03:00 EDT: 23 h,
	 * midnight EST = 05:00Z, next midnight EDT = 04:00Z. */
	day("America/New_York", 1772946000, 1773028800);
	assert_int_equal(1773028800 - 1772946000, 23 * H);
	/* 2026-11-01 (first Sunday of November): 25 h, 04:00Z to 05:00Z next. */
	day("America/New_York", 1793505600, 1793595600);
	assert_int_equal(1793595600 - 1793505600, 25 * H);
}

static void test_sao_paulo_midnight_gap(void **state)
{
	(void)state;
	/* 2018-11-04: clocks went 00:00 -03 -> 01:00 -02, so midnight did not
	 * exist; the day starts at the change, 03:00Z, and ends at midnight -02
	 * (2018-11-05T02:00Z): 23 h. */
	day("America/Sao_Paulo", 1541300400, 1541383200);
	/* The day before ends at that same change. */
	day("America/Sao_Paulo", 1541300400 - 24 * H, 1541300400);
	/* 2019-02-17 00:00 -02 -> 2019-02-16 23:00 -03: Feb 16 lasts 25 h, from
	 * 02:00Z to 2019-02-17T03:00Z. */
	day("America/Sao_Paulo", 1550282400, 1550372400);
	/* Today (no DST since 2019; the footer is "<-03>3"): 2026-06-15 starts
	 * at 03:00Z. */
	day("America/Sao_Paulo", 1781492400, 1781492400 + 24 * H);
}

static void test_kathmandu(void **state)
{
	(void)state;
	/* +05:45: 2026-11-22 local starts 2026-11-21T18:15Z. */
	day("Asia/Kathmandu", 1795284900, 1795371300);
	/* Before 1986 it was +05:30: 1980-06-15 starts 1980-06-14T18:30Z. */
	day("Asia/Kathmandu", 329855400, 329855400 + 24 * H);
}

static void test_lord_howe(void **state)
{
	(void)state;
	/* +10:30 standard, +11 summer; changes at 02:00 local.
	 * 2026-04-05 (first Sunday of April) 02:00 +11 -> 01:30 +10:30: 24.5 h
	 * from 2026-04-04T13:00Z to 2026-04-05T13:30Z. */
	day("Australia/Lord_Howe", 1775307600, 1775395800);
	assert_int_equal(1775395800 - 1775307600, 24 * H + 1800);
	/* 2026-10-04 (first Sunday of October) 02:00 +10:30 -> 02:30 +11:
	 * 23.5 h from 2026-10-03T13:30Z to 2026-10-04T13:00Z. */
	day("Australia/Lord_Howe", 1791034200, 1791118800);
	assert_int_equal(1791118800 - 1791034200, 23 * H + 1800);
}

static void test_skipped_day(void **state)
{
	(void)state;
	/* Apia skipped 2011-12-30: 2011-12-29 24:00 -10 was 2011-12-31 00:00
	 * +14 (2011-12-30T10:00Z). Dec 29 runs to the change and Dec 31 starts
	 * there; Dec 31 (+14) ends 2011-12-31T10:00Z. */
	day("Pacific/Apia", 1325152800, 1325239200);
	day("Pacific/Apia", 1325239200, 1325325600);
}

static void test_bad_names(void **state)
{
	(void)state;
	char err[256];
	static const char *const bad[] = {
		"../etc/passwd", "Europe/../../etc/passwd", "/etc/localtime", "", "Europe/Berlin ",
		"Europe\\Berlin", "Europe/Berlin;rm", "-x", "Europe/", "Europe//Berlin",
		"Mars/Olympus_Mons", "Europe" /* a directory */, "zone.tab" /* not TZif */,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct ccp_tz *tz = ccp_tz_load(bad[i], err, sizeof(err));
		if (tz)
			fail_msg("\"%s\" loaded", bad[i]);
		if (!strstr(err, "timezone \""))
			fail_msg("\"%s\": error does not name the zone: %s", bad[i], err);
	}
	assert_null(ccp_tz_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "empty"));
	ccp_tz_load("../x", err, sizeof(err));
	assert_non_null(strstr(err, ".."));
	ccp_tz_load("Mars/Olympus_Mons", err, sizeof(err));
	assert_non_null(strstr(err, "/usr/share/zoneinfo/Mars/Olympus_Mons"));
	ccp_tz_free(NULL);
}

/* ---- the footer rule alone (what a slim TZif file leaves us) ---- */

static struct ccp_tz posix(const char *s)
{
	struct ccp_tz tz = { 0 };
	if (!parse_posix(s, &tz))
		fail_msg("footer \"%s\" rejected", s);
	return tz;
}

static int32_t off(const struct ccp_tz *tz, int64_t t_s)
{
	int64_t until;
	return offset_span(tz, t_s, &until);
}

static void test_footer_rules(void **state)
{
	(void)state;
	/* Berlin's rule with no table gives the same 2026 days as the file. */
	struct ccp_tz z = posix("CET-1CEST,M3.5.0,M10.5.0/3");
	assert_int_equal(z.std_off_s, H);
	assert_int_equal(z.dst_off_s, 2 * H);
	check(&z, "footer Berlin", 1774771200, 1774738800, 1774821600);
	check(&z, "footer Berlin", 1792900000, 1792879200, 1792969200);
	assert_int_equal(off(&z, 1774746000 - 1), H); /* 2026-03-29T00:59:59Z */
	assert_int_equal(off(&z, 1774746000), 2 * H);
	assert_int_equal(off(&z, 1792890000 - 1), 2 * H); /* 2026-10-25T00:59:59Z */
	assert_int_equal(off(&z, 1792890000), H);

	/* Quoted names, no DST. */
	z = posix("<+03>-3");
	assert_false(z.has_dst);
	assert_int_equal(off(&z, 0), 3 * H);
	z = posix("<+0545>-5:45");
	assert_int_equal(off(&z, 1795339806), 5 * H + 45 * 60);
	z = posix("<-03>3");
	assert_int_equal(off(&z, 1795339806), -3 * H);

	/* Negative rule times (Greenland): DST from Sat 23:00 -02 before the
	 * last Sunday of March, 2026-03-29T01:00Z; back at Sun 00:00 -01 on
	 * the last Sunday of October, 2026-10-25T01:00Z. */
	z = posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
	assert_int_equal(off(&z, 1774746000 - 1), -2 * H);
	assert_int_equal(off(&z, 1774746000), -H);
	assert_int_equal(off(&z, 1792890000 - 1), -H);
	assert_int_equal(off(&z, 1792890000), -2 * H);

	/* 24:00 (Santiago): DST from 2026-09-05 24:00 -04 = 09-06T04:00Z, so
	 * Sep 6 has no midnight and starts at the change, lasting 23 h. */
	z = posix("<-04>4<-03>,M9.1.6/24,M4.1.6/24");
	check(&z, "footer Santiago", 1788688800, 1788667200, 1788750000);
	/* Back on 2026-04-04 24:00 -03 = 04-05T03:00Z: Apr 4 lasts 25 h. */
	check(&z, "footer Santiago", 1775300000, 1775271600, 1775361600);

	/* All-year DST written as a rule (tzcode's idiom): always -4. */
	z = posix("EST5EDT,0/0,J365/25");
	for (int64_t t = 1704067200 - 3 * 86400; t < 1704067200 + 3 * 86400; t += 1800)
		assert_int_equal(off(&z, t), -4 * H); /* around 2024-01-01 */
	assert_int_equal(off(&z, 1735603200), -4 * H); /* 2024-12-31, leap year */

	/* Jn skips Feb 29, n counts it: J60 is always Mar 1; 59 is Feb 29 in
	 * 2024 but Mar 1 in 2025. Offsets 0 and +1, changes at 00:00 UTC. */
	z = posix("AAA0BBB-1,J60/0,J300/0");
	assert_int_equal(off(&z, 1709251200 - 1), 0); /* 2024-03-01T00:00Z */
	assert_int_equal(off(&z, 1709251200), H);
	z = posix("AAA0BBB-1,59/0,J300/0");
	assert_int_equal(off(&z, 1709164800 - 1), 0); /* 2024-02-29T00:00Z */
	assert_int_equal(off(&z, 1709164800), H);
	assert_int_equal(off(&z, 1740787200 - 1), 0); /* 2025-03-01T00:00Z */
	assert_int_equal(off(&z, 1740787200), H);

	/* Explicit DST offset, and DST "negative" (Dublin: GMT is the DST part). */
	z = posix("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
	assert_int_equal(z.std_off_s, 10 * H + 1800);
	assert_int_equal(z.dst_off_s, 11 * H);
	z = posix("IST-1GMT0,M10.5.0,M3.5.0/1");
	assert_int_equal(off(&z, 1782856800), H);    /* 2026-07-01: +1 */
	assert_int_equal(off(&z, 1768431600), 0);    /* 2026-01-15: +0 */

	/* A fall-back across midnight (00:30 +1 -> 23:30 +0 on 2026-10-25)
	 * repeats half an hour of Oct 24. Oct 25 began on the first pass, at
	 * 2026-10-24T23:00Z, so the repeat belongs to it: Oct 25 lasts 25 h and
	 * Oct 24 ends at the first midnight. */
	z = posix("AAA0BBB-1,M3.5.0/2,M10.5.0/0:30");
	check(&z, "repeated midnight", 1792885500 /* 23:45Z, local 23:45 again */, 1792882800,
	      1792972800);
	check(&z, "repeated midnight", 1792882800 - 1, 1792882800 - 24 * H, 1792882800);
	check(&z, "repeated midnight", 1792972800 - 1, 1792882800, 1792972800);

	/* Malformed rules are refused. */
	static const char *const bad[] = {
		"", "C-1", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
		"CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J300",
		"CET-1CEST,J366,J300", "CET-1CEST,366,J300", "<+03-3", "<+0_3>-3", "CET-26",
		"CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0x", "CET-1:60",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ccp_tz b = { 0 };
		if (parse_posix(bad[i], &b))
			fail_msg("footer \"%s\" accepted", bad[i]);
	}
}

/* ---- cross-check against glibc ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static long glibc_off(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm))
		fail_msg("localtime_r(%lld) failed", (long long)t);
	return tm.tm_gmtoff;
}

static int64_t glibc_date(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	return (int64_t)tm.tm_year * 10000 + tm.tm_mon * 100 + tm.tm_mday;
}

/* Naive reference: walk in 10-minute steps until glibc's local date
 * changes, then bisect to the second. dir is -1 (start) or +1 (end). */
static int64_t glibc_edge(int64_t t, int dir)
{
	int64_t date = glibc_date(t), in = t, out = t;
	for (;;) {
		out = in + dir * 600;
		if (glibc_date(out) != date)
			break;
		in = out;
	}
	while (llabs(out - in) > 1) {
		int64_t mid = in + (out - in) / 2;
		if (glibc_date(mid) == date)
			in = mid;
		else
			out = mid;
	}
	return dir < 0 ? in : out;
}

static void cross_check(const char *tzenv, const struct ccp_tz *tz, int64_t from, int64_t to, int n)
{
	setenv("TZ", tzenv, 1);
	tzset();
	for (int i = 0; i < n; i++) {
		int64_t t = from + (int64_t)(rnd() % (uint64_t)(to - from));
		long want = glibc_off(t);
		if (off(tz, t) != want)
			fail_msg("%s at %lld: offset %d, glibc %ld", tzenv, (long long)t, off(tz, t), want);
		if (i % 4)
			continue; /* day bounds are slower to check; a quarter will do */
		int64_t s, e;
		ccp_tz_day_bounds(tz, t * MS, &s, &e);
		int64_t ws = glibc_edge(t, -1), we = glibc_edge(t, +1);
		if (s != ws * MS || e != we * MS)
			fail_msg("%s at %lld: day [%lld, %lld), glibc [%lld, %lld)", tzenv, (long long)t,
				 (long long)s / MS, (long long)e / MS, (long long)ws, (long long)we);
	}
}

static void test_against_glibc(void **state)
{
	(void)state;
	/* Zones with DST, odd offsets, midnight changes, skipped days, negative
	 * DST and Ramadan breaks. 1971..2099 covers table and footer. */
	static const char *const zones[] = {
		"Europe/Berlin",    "America/New_York",    "America/Sao_Paulo", "Asia/Kathmandu",
		"Australia/Lord_Howe", "America/Santiago", "America/Nuuk",      "Europe/Dublin",
		"Africa/Casablanca", "Pacific/Apia",       "Asia/Tehran",       "Australia/Adelaide",
		"Pacific/Chatham",  "America/St_Johns",    "Asia/Gaza",         "Europe/London",
	};
	const int64_t from = 31536000, to = 4102444800; /* 1971 .. 2100 */
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct ccp_tz *tz = load(zones[i]);
		cross_check(zones[i], tz, from, to, 800);
		/* Local mean time before the first transition (type 0). */
		cross_check(zones[i], tz, -5000000000LL, -2500000000LL, 100); /* 1811 .. 1890 */
		/* Densely around now, where Debian's files may rely on the footer. */
		cross_check(zones[i], tz, 1767225600, 1893456000, 400); /* 2026..2030 */
		ccp_tz_free(tz);
	}
	/* Footer strings on their own, against glibc's POSIX TZ parser. */
	static const char *const rules[] = {
		"CET-1CEST,M3.5.0,M10.5.0/3", "EST5EDT,M3.2.0,M11.1.0", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
		"<-04>4<-03>,M9.1.6/24,M4.1.6/24", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
		"IST-1GMT0,M10.5.0,M3.5.0/1", "AAA3BBB,J60/1:30,300/22:15:10", "<+0545>-5:45",
		"NZST-12NZDT,M9.5.0,M4.1.0/3",
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct ccp_tz z = posix(rules[i]);
		cross_check(rules[i], &z, from, to, 600);
	}
	unsetenv("TZ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc),
		cmocka_unit_test(test_berlin_2026),
		cmocka_unit_test(test_new_york_2026),
		cmocka_unit_test(test_sao_paulo_midnight_gap),
		cmocka_unit_test(test_kathmandu),
		cmocka_unit_test(test_lord_howe),
		cmocka_unit_test(test_skipped_day),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_footer_rules),
		cmocka_unit_test(test_against_glibc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
