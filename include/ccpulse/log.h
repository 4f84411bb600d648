/* Logging: one line per message to a file descriptor (stderr), as logfmt
 * (default) or JSON, with a level filter; and a rate-limited reporter for
 * things that can repeat at event rate (bad input): at most one line per
 * interval, carrying the count since its previous line.
 *
 * Thread safety: a line is formatted on the caller's stack and written with
 * one write(2), so lines from several threads never interleave (pipes and
 * terminals keep writes of up to PIPE_BUF = 4096 bytes whole, and lines are
 * cut to CCP_LOG_LINE_MAX). No process globals: the logger is a struct that
 * main sets up and passes on.
 */
#ifndef CCPULSE_LOG_H
#define CCPULSE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define CCP_LOG_LINE_MAX 4096 /* bytes per line, newline included */

enum ccp_log_level {
	CCP_LOG_DEBUG,
	CCP_LOG_INFO,
	CCP_LOG_WARN,
	CCP_LOG_ERROR,
	CCP_LOG__COUNT
};
/* "debug", "info", "warn", "error": config `log.level` and the `level` field. */
extern const char *const ccp_log_level_names[CCP_LOG__COUNT];

enum ccp_log_format {
	CCP_LOG_LOGFMT, /* ts=... level=info msg="..." key=value */
	CCP_LOG_JSON,   /* {"ts":"...","level":"info","msg":"...","key":"value"} */
};

/* A logger. Owner: main; set up before threads start and read-only after,
 * so any thread may log through it. Lives as long as its users. */
struct ccp_log {
	enum ccp_log_level level; /* lines below it are dropped */
	enum ccp_log_format format;
	int fd;
	int64_t (*clock_ms)(void); /* epoch ms for `ts`; NULL: the wall clock */
};

/* Info, logfmt, stderr, wall clock. */
void ccp_log_init(struct ccp_log *l);
/* Parse config text ("info", "json"); 0 or -1 if unknown. Pure. */
int ccp_log_level_parse(const char *s, enum ccp_log_level *out);
int ccp_log_format_parse(const char *s, enum ccp_log_format *out);

static inline bool ccp_log_enabled(const struct ccp_log *l, enum ccp_log_level lv)
{
	return lv >= l->level;
}

/* Writes one line: `msg`, then key/value string pairs ending with NULL:
 * ccp_log_kv(l, CCP_LOG_WARN, "redis down", "addr", a, "retry_ms", r, NULL).
 * Values may hold any bytes; they are quoted and escaped as the format
 * needs. @thread any */
void ccp_log_kv(const struct ccp_log *l, enum ccp_log_level lv, const char *msg, ...)
	__attribute__((sentinel));

/* Writes one line whose msg is printf-formatted. @thread any */
void ccp_logf(const struct ccp_log *l, enum ccp_log_level lv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A rate-limited reporter (h2o's error reporter is the model). Owner: the
 * module that reports (one per kind of trouble); any thread may report
 * through it. Fields with a leading `_` are private. */
struct ccp_log_reporter {
	const struct ccp_log *log;
	enum ccp_log_level level;
	const char *msg; /* static text, e.g. "rejected event" */
	int64_t interval_ms;
	_Atomic uint64_t _pending; /* occurrences not yet in a line */
	_Atomic uint64_t _total;   /* occurrences ever */
	_Atomic int64_t _next_ms;  /* monotonic ms before which no line is written */
};

void ccp_log_reporter_init(struct ccp_log_reporter *r, const struct ccp_log *log, enum ccp_log_level lv,
			   const char *msg, int64_t interval_ms);

/* Counts one occurrence at monotonic time `now_ms`. If no line was written
 * in the last interval, writes one now: `count` (occurrences since the
 * previous line, this one included), `total`, then this occurrence's
 * key/value pairs (NULL-terminated, as ccp_log_kv). Returns true if it
 * wrote a line. @thread any */
bool ccp_log_report(struct ccp_log_reporter *r, int64_t now_ms, ...) __attribute__((sentinel));

/* Writes a line for occurrences not yet reported (without details), if any
 * and if the interval has passed or `force` (at exit). Call it from a
 * periodic timer so a burst's count is not held back until the next
 * occurrence. Returns true if it wrote a line. @thread any */
bool ccp_log_reporter_flush(struct ccp_log_reporter *r, int64_t now_ms, bool force);

uint64_t ccp_log_reporter_total(const struct ccp_log_reporter *r);

/* Monotonic clock in ms (CLOCK_MONOTONIC), for reporters. @thread any */
int64_t ccp_log_mono_ms(void);
/* Wall clock in epoch ms (CLOCK_REALTIME), for `updated_at` and the
 * future_ts check. @thread any */
int64_t ccp_log_wall_ms(void);

#endif
