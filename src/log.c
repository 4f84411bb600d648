/* Logging (see include/ccpulse/log.h).
 *
 * A line is built in a stack buffer of CCP_LOG_LINE_MAX bytes and written
 * with one write(2). Pairs that do not fit are dropped whole and the line
 * ends with `truncated=true`, so a JSON line stays valid JSON.
 */
#include "ccpulse/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccpulse/json_out.h"

const char *const ccp_log_level_names[CCP_LOG__COUNT] = {"debug", "info", "warn", "error"};

/* Bytes kept free at the end of a line for the truncation marker, the
 * closing brace and the newline. */
#define TAIL_RESERVE 24

void ccp_log_init(struct ccp_log *l)
{
	l->level = CCP_LOG_INFO;
	l->format = CCP_LOG_LOGFMT;
	l->fd = 2;
	l->clock_ms = NULL;
}

int ccp_log_level_parse(const char *s, enum ccp_log_level *out)
{
	for (int i = 0; i < CCP_LOG__COUNT; i++)
		if (!strcmp(s, ccp_log_level_names[i])) {
			*out = (enum ccp_log_level)i;
			return 0;
		}
	return -1;
}

int ccp_log_format_parse(const char *s, enum ccp_log_format *out)
{
	if (!strcmp(s, "logfmt"))
		*out = CCP_LOG_LOGFMT;
	else if (!strcmp(s, "json"))
		*out = CCP_LOG_JSON;
	else
		return -1;
	return 0;
}

int64_t ccp_log_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ccp_log_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A line under construction. Owner: the logging call's stack. */
struct line {
	const struct ccp_log *log;
	char buf[CCP_LOG_LINE_MAX];
	size_t len;
	bool truncated;
};

/* logfmt values are bare only when made of printable ASCII other than
 * space, '=', '"' and '\\'. */
static bool logfmt_bare(const char *v, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* Appends key and value, or nothing (and marks the line truncated) if the
 * pair does not fit. */
static void add_pair(struct line *ln, const char *key, const char *v, size_t vn)
{
	if (ln->truncated)
		return;
	size_t limit = sizeof(ln->buf) - TAIL_RESERVE;
	size_t klen = strlen(key), start = ln->len;
	bool json = ln->log->format == CCP_LOG_JSON;
	bool bare = !json && logfmt_bare(v, vn);
	/* separator + key + `":"` or `="`, worst case */
	if (start + klen + 6 >= limit)
		goto no_room;
	char *p = ln->buf + start;
	size_t n = 0;
	if (json) {
		p[n++] = start ? ',' : '{';
		p[n++] = '"';
	} else if (start) {
		p[n++] = ' ';
	}
	memcpy(p + n, key, klen);
	n += klen;
	if (json) {
		memcpy(p + n, "\":\"", 3);
		n += 3;
	} else {
		p[n++] = '=';
		if (!bare)
			p[n++] = '"';
	}
	size_t room = limit - start - n;
	if (bare) {
		if (vn + 1 > room)
			goto no_room;
		memcpy(p + n, v, vn);
		n += vn;
	} else {
		size_t w = ccp_json_escape(p + n, room, v, vn);
		if (w + 2 > room) /* + closing quote */
			goto no_room;
		n += w;
		p[n++] = '"';
	}
	ln->len = start + n;
	return;
no_room:
	ln->truncated = true;
}

static void line_begin(struct line *ln, const struct ccp_log *l, enum ccp_log_level lv, const char *msg,
		       size_t msglen)
{
	ln->log = l;
	ln->len = 0;
	ln->truncated = false;
	int64_t ms = l->clock_ms ? l->clock_ms() : ccp_log_wall_ms();
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char ts[40];
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(ms % 1000));
	add_pair(ln, "ts", ts, strlen(ts));
	add_pair(ln, "level", ccp_log_level_names[lv], strlen(ccp_log_level_names[lv]));
	add_pair(ln, "msg", msg, msglen);
}

static void add_pairs(struct line *ln, va_list ap)
{
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (!v)
			v = "(null)";
		add_pair(ln, k, v, strlen(v));
	}
}

static void line_end_and_write(struct line *ln)
{
	if (ln->truncated) {
		const char *m = ln->log->format == CCP_LOG_JSON ? ",\"truncated\":true" : " truncated=true";
		size_t ml = strlen(m);
		memcpy(ln->buf + ln->len, m, ml);
		ln->len += ml;
	}
	if (ln->log->format == CCP_LOG_JSON)
		ln->buf[ln->len++] = '}';
	ln->buf[ln->len++] = '\n';
	size_t off = 0;
	while (off < ln->len) {
		ssize_t w = write(ln->log->fd, ln->buf + off, ln->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere left to report a logging failure */
		off += (size_t)w;
	}
}

void ccp_log_kv(const struct ccp_log *l, enum ccp_log_level lv, const char *msg, ...)
{
	if (!ccp_log_enabled(l, lv))
		return;
	struct line ln;
	line_begin(&ln, l, lv, msg, strlen(msg));
	va_list ap;
	va_start(ap, msg);
	add_pairs(&ln, ap);
	va_end(ap);
	line_end_and_write(&ln);
}

void ccp_logf(const struct ccp_log *l, enum ccp_log_level lv, const char *fmt, ...)
{
	if (!ccp_log_enabled(l, lv))
		return;
	char msg[CCP_LOG_LINE_MAX / 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	struct line ln;
	line_begin(&ln, l, lv, msg, (size_t)n);
	line_end_and_write(&ln);
}

void ccp_log_reporter_init(struct ccp_log_reporter *r, const struct ccp_log *log, enum ccp_log_level lv,
			   const char *msg, int64_t interval_ms)
{
	r->log = log;
	r->level = lv;
	r->msg = msg;
	r->interval_ms = interval_ms;
	atomic_init(&r->_pending, 0);
	atomic_init(&r->_total, 0);
	atomic_init(&r->_next_ms, INT64_MIN);
}

/* Claims the right to write this interval's line: only the thread whose
 * compare-exchange moves `_next_ms` writes, so racing reporters write at
 * most one line per interval between them. */
static bool claim(struct ccp_log_reporter *r, int64_t now_ms, bool force)
{
	/* relaxed: `_next_ms` only orders lines among reporters, it guards no
	 * other memory. */
	int64_t next = atomic_load_explicit(&r->_next_ms, memory_order_relaxed);
	do {
		if (!force && now_ms < next)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&r->_next_ms, &next, now_ms + r->interval_ms,
							memory_order_relaxed, memory_order_relaxed));
	return true;
}

static void report_line(struct ccp_log_reporter *r, uint64_t count, va_list *ap)
{
	struct line ln;
	char cnt[24], tot[24];
	snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)count);
	snprintf(tot, sizeof(tot), "%llu",
		 (unsigned long long)atomic_load_explicit(&r->_total, memory_order_relaxed));
	line_begin(&ln, r->log, r->level, r->msg, strlen(r->msg));
	add_pair(&ln, "count", cnt, strlen(cnt));
	add_pair(&ln, "total", tot, strlen(tot));
	if (ap)
		add_pairs(&ln, *ap);
	line_end_and_write(&ln);
}

bool ccp_log_report(struct ccp_log_reporter *r, int64_t now_ms, ...)
{
	/* relaxed: plain event counters, read back only for the report text. */
	atomic_fetch_add_explicit(&r->_total, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->_pending, 1, memory_order_relaxed);
	if (!ccp_log_enabled(r->log, r->level) || !claim(r, now_ms, false))
		return false;
	uint64_t n = atomic_exchange_explicit(&r->_pending, 0, memory_order_relaxed);
	va_list ap;
	va_start(ap, now_ms);
	report_line(r, n, &ap);
	va_end(ap);
	return true;
}

bool ccp_log_reporter_flush(struct ccp_log_reporter *r, int64_t now_ms, bool force)
{
	if (!atomic_load_explicit(&r->_pending, memory_order_relaxed) || !ccp_log_enabled(r->log, r->level))
		return false;
	if (!claim(r, now_ms, force))
		return false;
	uint64_t n = atomic_exchange_explicit(&r->_pending, 0, memory_order_relaxed);
	if (!n)
		return false; /* another thread took them */
	report_line(r, n, NULL);
	return true;
}

uint64_t ccp_log_reporter_total(const struct ccp_log_reporter *r)
{
	return atomic_load_explicit((_Atomic uint64_t *)&r->_total, memory_order_relaxed);
}
