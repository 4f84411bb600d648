/* Time zones from the system's TZif files (see include/ccpulse/tz.h).
 *
 * A zone is the 64-bit transition table of a TZif v2+ file (RFC 8536) plus
 * the POSIX TZ rule from its footer. The table answers instants up to its
 * last transition; the footer rule answers everything later. The footer is
 * not optional: "slim" tzdata builds stop the table at the last rule change
 * (for Europe/Berlin, 1996), so without it every current date would be wrong
 * half of the year.
 *
 * Day bounds work in local seconds (UTC seconds + offset). The local day D
 * starts at the first instant whose local time reaches D * 86400: on a day
 * whose midnight falls in a DST gap that is the transition itself, and if a
 * fall-back repeats midnight the first pass counts. Days then tile the time
 * line: each instant lies in exactly one [start, end).
 *
 * No process globals are read or written (no TZ, tzset or localtime), and
 * nothing is cached in struct ccp_tz after load, so threads share it freely.
 */
#include "ccpulse/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX_BYTES 128
#define TZ_FILE_MAX_BYTES (1 << 20) /* real files are < 4 KiB */
#define TZ_OFFSET_MAX_S (25 * 3600) /* keeps every offset inside the +-2 day search window */
#define TZ_RULE_TIME_MAX_S (167 * 3600) /* RFC 8536 section 3.3.1 extension */
#define DAY_S 86400

enum rule_kind { RULE_JULIAN_NO_LEAP, RULE_ZERO_BASED, RULE_MONTH_WEEK_DAY };

/* One end of a DST period from a POSIX TZ string; part of struct ccp_tz. */
struct tz_rule {
	enum rule_kind kind;
	int day;    /* Jn: 1..365; n: 0..365; Mm.w.d: d, 0 = Sunday */
	int month;  /* Mm.w.d only: 1..12 */
	int week;   /* Mm.w.d only: 1..5, 5 = last */
	int32_t time_s; /* local wall time of the change, may be < 0 or > 24 h */
};

/* Immutable after ccp_tz_load returns; any thread may read it; freed by
 * ccp_tz_free once no thread uses it. */
struct ccp_tz {
	char name[TZ_NAME_MAX_BYTES + 1]; /* as loaded: the zone's identity */
	uint32_t n;        /* transitions in the table */
	int64_t *at_s;     /* transition instants, strictly ascending */
	int32_t *off_s;    /* UTC offset (east positive) from at_s[i] on */
	int32_t first_off_s; /* before at_s[0]: time type 0 (RFC 8536 3.2) */
	bool has_footer;   /* a POSIX rule answers instants after at_s[n-1] */
	bool has_dst;      /* footer has a DST part */
	int32_t std_off_s; /* footer offsets, east positive */
	int32_t dst_off_s;
	struct tz_rule dst_start, dst_end;
};

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d; counts whole 400-year eras from March. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Calendar year holding day `z` (days since the epoch). */
static int64_t year_of_days(int64_t z)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	return yoe + era * 400 + (m <= 2);
}

static int month_days(int64_t y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Epoch day on which `r` falls in year y. */
static int64_t rule_day(const struct tz_rule *r, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1);
	switch (r->kind) {
	case RULE_JULIAN_NO_LEAP: /* Feb 29 is never counted: day 60 is Mar 1 */
		return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
	case RULE_ZERO_BASED:
		return jan1 + r->day;
	case RULE_MONTH_WEEK_DAY:
	default: {
		int64_t first = days_from_civil(y, r->month, 1);
		int wd_first = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
		int mday = 1 + (r->day - wd_first + 7) % 7 + (r->week - 1) * 7;
		while (mday > month_days(y, r->month))
			mday -= 7; /* week 5 means the last one */
		return first + mday - 1;
	}
	}
}

/* ---- offsets ---- */

/* Offset in force at t_s under the footer rule, and the next instant after
 * t_s at which it changes (INT64_MAX if never). */
static int32_t footer_span(const struct ccp_tz *tz, int64_t t_s, int64_t *until_s)
{
	*until_s = INT64_MAX;
	if (!tz->has_dst)
		return tz->std_off_s;
	/* Changes of years y-1..y+2 surround t_s: rule times stay within a week
	 * of their day and offsets within a day of UTC. */
	int64_t y = year_of_days(floor_div(t_s, DAY_S));
	int64_t at[8];
	bool to_dst[8];
	int k = 0;
	for (int64_t yy = y - 1; yy <= y + 2; yy++) {
		/* End first: on a tie (all-year DST, "0/0,J365/25") DST wins. */
		at[k] = rule_day(&tz->dst_end, yy) * DAY_S + tz->dst_end.time_s - tz->dst_off_s;
		to_dst[k++] = false;
		at[k] = rule_day(&tz->dst_start, yy) * DAY_S + tz->dst_start.time_s - tz->std_off_s;
		to_dst[k++] = true;
	}
	/* Insertion sort, stable, so the tie order above survives. */
	for (int i = 1; i < k; i++) {
		for (int j = i; j > 0 && at[j - 1] > at[j]; j--) {
			int64_t ta = at[j];
			at[j] = at[j - 1];
			at[j - 1] = ta;
			bool tb = to_dst[j];
			to_dst[j] = to_dst[j - 1];
			to_dst[j - 1] = tb;
		}
	}
	bool dst = !to_dst[0]; /* before the first change: the state it leaves */
	for (int i = 0; i < k; i++) {
		if (at[i] > t_s) {
			*until_s = at[i];
			break;
		}
		dst = to_dst[i];
	}
	return dst ? tz->dst_off_s : tz->std_off_s;
}

/* Offset in force at t_s, and the next instant after t_s at which the
 * offset may change (INT64_MAX if never). A NULL zone is UTC. */
static int32_t offset_span(const struct ccp_tz *tz, int64_t t_s, int64_t *until_s)
{
	*until_s = INT64_MAX;
	if (!tz)
		return 0;
	if (tz->n == 0)
		return tz->has_footer ? footer_span(tz, t_s, until_s) : tz->first_off_s;
	if (t_s < tz->at_s[0]) {
		*until_s = tz->at_s[0];
		return tz->first_off_s;
	}
	if (t_s > tz->at_s[tz->n - 1] && tz->has_footer)
		return footer_span(tz, t_s, until_s);
	uint32_t lo = 0, hi = tz->n; /* last i with at_s[i] <= t_s */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (tz->at_s[mid] <= t_s)
			lo = mid;
		else
			hi = mid;
	}
	if (lo + 1 < tz->n)
		*until_s = tz->at_s[lo + 1];
	else if (tz->has_footer)
		*until_s = t_s + 1; /* the footer takes over right after */
	return tz->off_s[lo];
}

/* First instant in [local_s - 2 days, local_s + 2 days) whose local time
 * reaches local_s. Walks the spans of constant offset in order: in a span
 * [a, b) with offset o local time reaches local_s at max(a, local_s - o). */
static int64_t first_reaching(const struct ccp_tz *tz, int64_t local_s)
{
	int64_t a = local_s - 2 * DAY_S, stop = local_s + 2 * DAY_S;
	while (a < stop) {
		int64_t b;
		int32_t o = offset_span(tz, a, &b);
		int64_t at = local_s - o > a ? local_s - o : a;
		if (at < b)
			return at;
		a = b;
	}
	return local_s; /* unreachable: offsets are bounded by TZ_OFFSET_MAX_S */
}

void ccp_tz_day_bounds(const struct ccp_tz *tz, int64_t t_ms, int64_t *start_ms, int64_t *end_ms)
{
	/* Beyond +-2^62 ms (146 million years) the ms results would overflow. */
	const int64_t lim = (int64_t)1 << 62;
	if (t_ms > lim)
		t_ms = lim;
	if (t_ms < -lim)
		t_ms = -lim;
	int64_t t_s = floor_div(t_ms, 1000), until;
	int64_t day = floor_div(t_s + offset_span(tz, t_s, &until), DAY_S);
	int64_t start = first_reaching(tz, day * DAY_S);
	int64_t end = first_reaching(tz, (day + 1) * DAY_S);
	/* After a fall-back that repeats midnight, the repeated stretch of the
	 * old date already belongs to the next day (which began on the first
	 * pass). Twice covers any offset history. */
	for (int i = 0; i < 2 && t_s >= end; i++) {
		day++;
		start = end;
		end = first_reaching(tz, (day + 1) * DAY_S);
	}
	*start_ms = start * 1000;
	*end_ms = end * 1000;
}

/* ---- POSIX TZ string (footer) ---- */

/* Abbreviation: 3+ letters, or <...> holding letters, digits, + and -. */
static bool parse_name(const char **pp)
{
	const char *p = *pp;
	size_t n = 0;
	if (*p == '<') {
		for (p++; *p && *p != '>'; p++, n++) {
			char c = *p;
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '+' || c == '-'))
				return false;
		}
		if (*p != '>')
			return false;
		p++;
	} else {
		for (; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'); p++)
			n++;
	}
	*pp = p;
	return n >= 3;
}

/* [+-]h[h[h]][:mm[:ss]] -> seconds, hours at most max_h. */
static bool parse_hms(const char **pp, int max_h, int32_t *out_s)
{
	const char *p = *pp;
	int sign = 1;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (*p < '0' || *p > '9')
		return false;
	int32_t h = 0;
	for (int i = 0; *p >= '0' && *p <= '9'; p++, i++) {
		if (i == 3)
			return false;
		h = h * 10 + (*p - '0');
	}
	int32_t m = 0, s = 0;
	if (*p == ':') {
		p++;
		if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
			return false;
		m = (p[0] - '0') * 10 + (p[1] - '0');
		p += 2;
		if (*p == ':') {
			p++;
			if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
				return false;
			s = (p[0] - '0') * 10 + (p[1] - '0');
			p += 2;
		}
	}
	if (h > max_h)
		return false;
	*out_s = sign * (h * 3600 + m * 60 + s);
	*pp = p;
	return true;
}

static bool parse_int(const char **pp, int lo, int hi, int *out)
{
	const char *p = *pp;
	int v = 0, digits = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (++digits > 3)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (!digits || v < lo || v > hi)
		return false;
	*out = v;
	*pp = p;
	return true;
}

/* Jn | n | Mm.w.d, then an optional /time (default 02:00). */
static bool parse_rule(const char **pp, struct tz_rule *r)
{
	const char *p = *pp;
	if (*p == 'J') {
		p++;
		r->kind = RULE_JULIAN_NO_LEAP;
		if (!parse_int(&p, 1, 365, &r->day))
			return false;
	} else if (*p == 'M') {
		p++;
		r->kind = RULE_MONTH_WEEK_DAY;
		if (!parse_int(&p, 1, 12, &r->month) || *p++ != '.' || !parse_int(&p, 1, 5, &r->week) ||
		    *p++ != '.' || !parse_int(&p, 0, 6, &r->day))
			return false;
	} else {
		r->kind = RULE_ZERO_BASED;
		if (!parse_int(&p, 0, 365, &r->day))
			return false;
	}
	r->time_s = 2 * 3600;
	if (*p == '/') {
		p++;
		if (!parse_hms(&p, TZ_RULE_TIME_MAX_S / 3600, &r->time_s))
			return false;
	}
	*pp = p;
	return true;
}

/* "std offset [dst [offset] [,start[/time],end[/time]]]". POSIX offsets
 * are west positive; ours are east positive. */
static bool parse_posix(const char *s, struct ccp_tz *tz)
{
	const char *p = s;
	int32_t off;
	if (!parse_name(&p) || !parse_hms(&p, TZ_OFFSET_MAX_S / 3600, &off))
		return false;
	tz->std_off_s = -off;
	tz->has_footer = true;
	if (!*p)
		return true;
	if (!parse_name(&p))
		return false;
	tz->has_dst = true;
	tz->dst_off_s = tz->std_off_s + 3600; /* default: one hour ahead */
	if (*p && *p != ',') {
		if (!parse_hms(&p, TZ_OFFSET_MAX_S / 3600, &off))
			return false;
		tz->dst_off_s = -off;
	}
	if (!*p) {
		/* No rule: POSIX leaves it to the implementation; US rules, as glibc. */
		tz->dst_start = (struct tz_rule){ RULE_MONTH_WEEK_DAY, 0, 3, 2, 7200 };
		tz->dst_end = (struct tz_rule){ RULE_MONTH_WEEK_DAY, 0, 11, 1, 7200 };
		return true;
	}
	if (*p++ != ',' || !parse_rule(&p, &tz->dst_start) || *p++ != ',' ||
	    !parse_rule(&p, &tz->dst_end))
		return false;
	return *p == '\0';
}

/* ---- loading ---- */

static int64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

/* IANA names are letters, digits and "/_-+"; ".." and a leading "/" would
 * leave the zoneinfo directory. */
static const char *name_problem(const char *name)
{
	size_t len = strlen(name);
	if (len == 0)
		return "empty name";
	if (len > TZ_NAME_MAX_BYTES)
		return "name longer than 128 bytes";
	if (name[0] == '/')
		return "absolute paths are not zone names";
	if (strstr(name, ".."))
		return "\"..\" is not allowed in a zone name";
	for (const char *p = name; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return "only letters, digits and /_-+ are allowed in a zone name";
	}
	if (name[0] == '-' || name[len - 1] == '/' || strstr(name, "//"))
		return "malformed zone name";
	return NULL;
}

/* Parses the TZif image buf[0, len) into tz; NULL or the reason. */
static const char *parse_tzif(const unsigned char *buf, size_t len, struct ccp_tz *tz)
{
	/* Header: "TZif", version, 15 reserved, six 32-bit counts. */
	if (len < 44 || memcmp(buf, "TZif", 4) != 0)
		return "not a TZif file";
	if (buf[4] < '2')
		return "TZif version 1 (no 64-bit data); need v2 or later";
	uint32_t c[6]; /* isut, isstd, leap, time, type, char */
	for (int i = 0; i < 6; i++)
		c[i] = (uint32_t)be(buf + 20 + 4 * i, 4);
	/* Skip the v1 block (32-bit times) to the v2 header. */
	uint64_t v1 = (uint64_t)c[3] * 5 + (uint64_t)c[4] * 6 + c[5] + (uint64_t)c[2] * 8 + c[1] + c[0];
	if (v1 > len - 44 || len - 44 - v1 < 44)
		return "truncated TZif file";
	const unsigned char *h = buf + 44 + v1;
	if (memcmp(h, "TZif", 4) != 0)
		return "no v2 header after the v1 block";
	for (int i = 0; i < 6; i++)
		c[i] = (uint32_t)be(h + 20 + 4 * i, 4);
	uint32_t timecnt = c[3], typecnt = c[4];
	uint64_t body = (uint64_t)timecnt * 9 + (uint64_t)typecnt * 6 + c[5] + (uint64_t)c[2] * 12 +
			c[1] + c[0];
	size_t rest = len - (size_t)(h + 44 - buf);
	if (typecnt < 1 || typecnt > 256 || body > rest)
		return "truncated or invalid TZif v2 data";
	const unsigned char *times = h + 44, *idx = times + (size_t)timecnt * 8;
	const unsigned char *types = idx + timecnt;
	tz->n = timecnt;
	tz->at_s = malloc(sizeof(int64_t) * (timecnt ? timecnt : 1));
	tz->off_s = malloc(sizeof(int32_t) * (timecnt ? timecnt : 1));
	if (!tz->at_s || !tz->off_s)
		return "out of memory";
	for (uint32_t i = 0; i < typecnt; i++) {
		int32_t o = (int32_t)be(types + 6 * i, 4);
		if (o < -TZ_OFFSET_MAX_S || o > TZ_OFFSET_MAX_S)
			return "UTC offset beyond 25 hours";
	}
	for (uint32_t i = 0; i < timecnt; i++) {
		if (idx[i] >= typecnt)
			return "transition names a missing time type";
		tz->at_s[i] = be(times + 8 * i, 8);
		if (i && tz->at_s[i] <= tz->at_s[i - 1])
			return "transitions out of order";
		tz->off_s[i] = (int32_t)be(types + 6 * idx[i], 4);
	}
	tz->first_off_s = (int32_t)be(types, 4);
	/* Footer: "\n" TZ-string "\n" right after the v2 data. */
	const unsigned char *f = h + 44 + body, *end = buf + len;
	if (f >= end || *f != '\n')
		return "missing footer";
	const unsigned char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
	if (!nl || nl - f - 1 > 128)
		return "unterminated footer";
	char posix[130];
	memcpy(posix, f + 1, (size_t)(nl - f - 1));
	posix[nl - f - 1] = '\0';
	if (posix[0] && !parse_posix(posix, tz))
		return "unsupported footer TZ string";
	return NULL;
}

struct ccp_tz *ccp_tz_load(const char *name, char *err, size_t errlen)
{
	if (!name)
		name = "";
	const char *why = name_problem(name);
	if (why) {
		snprintf(err, errlen, "timezone \"%.140s\": %s", name, why);
		return NULL;
	}
	struct ccp_tz *tz = calloc(1, sizeof(*tz));
	unsigned char *buf = NULL;
	FILE *f = NULL;
	if (!tz) {
		snprintf(err, errlen, "timezone \"%s\": out of memory", name);
		return NULL;
	}
	snprintf(tz->name, sizeof(tz->name), "%s", name);
	if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC"))
		return tz; /* no transitions, no footer: offset 0 forever */
	char path[sizeof(ZONEINFO_DIR) + TZ_NAME_MAX_BYTES + 1];
	snprintf(path, sizeof(path), ZONEINFO_DIR "/%s", name);
	f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "timezone \"%s\": %s: %s (unknown zone, or tzdata missing)", name,
			 path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX_BYTES) {
		snprintf(err, errlen, "timezone \"%s\": %s: not a zone file", name, path);
		goto fail;
	}
	size_t len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		snprintf(err, errlen, "timezone \"%s\": out of memory", name);
		goto fail;
	}
	if (fread(buf, 1, len, f) != len) {
		snprintf(err, errlen, "timezone \"%s\": %s: short read", name, path);
		goto fail;
	}
	why = parse_tzif(buf, len, tz);
	if (why) {
		snprintf(err, errlen, "timezone \"%s\": %s: %s", name, path, why);
		goto fail;
	}
	fclose(f);
	free(buf);
	return tz;
fail:
	if (f)
		fclose(f);
	free(buf);
	ccp_tz_free(tz);
	return NULL;
}

const char *ccp_tz_name(const struct ccp_tz *tz)
{
	return tz ? tz->name : "UTC";
}

void ccp_tz_free(struct ccp_tz *tz)
{
	if (!tz)
		return;
	free(tz->at_s);
	free(tz->off_s);
	free(tz);
}
