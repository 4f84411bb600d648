/* Time zones from the system's TZif files (see include/ccpulse/tz.h).
 *
 * Debian's tzdata ships "fat" files whose transitions run to 2037, so the
 * transition table alone answers every instant up to then; later instants
 * keep the last offset (the POSIX footer rule is not read). Day bounds are
 * found by bisection on "local date of instant", which is monotonic, so
 * 23 h and 25 h days and days whose midnight does not exist come out right
 * without special cases.
 */
#include "ccpulse/tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Immutable after ccp_tz_load; any thread may read it. */
struct ccp_tz {
	uint32_t n;        /* transitions */
	int64_t *at_s;     /* transition instants, ascending */
	int32_t *off_s;    /* UTC offset in force from at_s[i] */
	int32_t first_off; /* offset before the first transition */
};

static int64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

static bool name_ok(const char *name)
{
	if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 128)
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return false;
	}
	return true;
}

struct ccp_tz *ccp_tz_load(const char *name, char *err, size_t errlen)
{
	if (!name_ok(name)) {
		snprintf(err, errlen, "timezone \"%s\": not an IANA zone name", name);
		return NULL;
	}
	struct ccp_tz *tz = calloc(1, sizeof(*tz));
	unsigned char *buf = NULL;
	FILE *f = NULL;
	if (!tz)
		goto oom;
	if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC"))
		return tz;
	char path[256];
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "timezone \"%s\": %s: %s (is tzdata installed?)", name, path,
			 strerror(errno));
		goto fail;
	}
	buf = malloc(1 << 20);
	if (!buf)
		goto oom;
	size_t len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	f = NULL;
	/* Header: "TZif", version, 15 reserved, six 32-bit counts. */
	if (len < 44 || memcmp(buf, "TZif", 4) != 0 || buf[4] < '2')
		goto bad;
	int64_t c[6];
	for (int i = 0; i < 6; i++)
		c[i] = be(buf + 20 + 4 * i, 4);
	/* Skip the v1 (32-bit) block to reach the 64-bit one. */
	/* Counts: isut, isstd, leap, time, type, char. */
	size_t v1 = (size_t)(c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);
	size_t h2 = 44 + v1;
	if (len < h2 + 44 || memcmp(buf + h2, "TZif", 4) != 0)
		goto bad;
	for (int i = 0; i < 6; i++)
		c[i] = be(buf + h2 + 20 + 4 * i, 4);
	int64_t timecnt = c[3], typecnt = c[4];
	size_t p = h2 + 44;
	if (typecnt < 1 || timecnt < 0 || len < p + (size_t)(timecnt * 9 + typecnt * 6))
		goto bad;
	const unsigned char *times = buf + p, *idx = times + timecnt * 8, *types = idx + timecnt;
	tz->n = (uint32_t)timecnt;
	tz->at_s = malloc(sizeof(int64_t) * (size_t)(timecnt ? timecnt : 1));
	tz->off_s = malloc(sizeof(int32_t) * (size_t)(timecnt ? timecnt : 1));
	if (!tz->at_s || !tz->off_s)
		goto oom;
	for (int64_t i = 0; i < timecnt; i++) {
		if (idx[i] >= typecnt)
			goto bad;
		tz->at_s[i] = be(times + 8 * i, 8);
		tz->off_s[i] = (int32_t)be(types + 6 * idx[i], 4);
	}
	/* Before the first transition: the first non-DST type (RFC 8536). */
	tz->first_off = (int32_t)be(types, 4);
	for (int64_t t = 0; t < typecnt; t++) {
		if (!types[6 * t + 4]) {
			tz->first_off = (int32_t)be(types + 6 * t, 4);
			break;
		}
	}
	free(buf);
	return tz;
bad:
	snprintf(err, errlen, "timezone \"%s\": not a TZif v2+ file", name);
	goto fail;
oom:
	snprintf(err, errlen, "timezone \"%s\": out of memory", name);
fail:
	if (f)
		fclose(f);
	free(buf);
	ccp_tz_free(tz);
	return NULL;
}

void ccp_tz_free(struct ccp_tz *tz)
{
	if (!tz)
		return;
	free(tz->at_s);
	free(tz->off_s);
	free(tz);
}

static int32_t offset_at(const struct ccp_tz *tz, int64_t t_s)
{
	if (!tz || !tz->n || t_s < tz->at_s[0])
		return tz ? tz->first_off : 0;
	uint32_t lo = 0, hi = tz->n; /* last i with at_s[i] <= t_s */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (tz->at_s[mid] <= t_s)
			lo = mid;
		else
			hi = mid;
	}
	return tz->off_s[lo];
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t local_day(const struct ccp_tz *tz, int64_t t_s)
{
	return floor_div(t_s + offset_at(tz, t_s), 86400);
}

/* Smallest instant (s) in (lo, hi] whose local day is > day; lo's is <= day. */
static int64_t first_after(const struct ccp_tz *tz, int64_t lo, int64_t hi, int64_t day)
{
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (local_day(tz, mid) > day)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

void ccp_tz_day_bounds(const struct ccp_tz *tz, int64_t t_ms, int64_t *start_ms, int64_t *end_ms)
{
	int64_t t_s = floor_div(t_ms, 1000);
	int64_t day = local_day(tz, t_s);
	/* Offsets stay within +-26 h, so two days each way bracket the bounds. */
	*start_ms = first_after(tz, t_s - 2 * 86400, t_s, day - 1) * 1000;
	*end_ms = first_after(tz, t_s, t_s + 2 * 86400, day) * 1000;
}
