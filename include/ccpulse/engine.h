/* The metrics engine: one partition's state (in replay, the whole file's).
 *
 * It applies decoded events in arrival order and keeps every figure of
 * shared/contract/metrics.md per queue: rolling windows as rings of time
 * buckets with running sums, `today`, open contacts, promises in deadline
 * order, complaints, agents, a dedup horizon. Event time only: the clock is
 * the largest `ts` applied, or a later time given by ccp_engine_advance_to().
 *
 * Thread: an engine is owned by exactly one thread (a worker, or main in
 * replay); no call is thread-safe. Nothing allocates per event: records
 * come from pools that grow in slabs, and rings are sized at creation.
 */
#ifndef CCPULSE_ENGINE_H
#define CCPULSE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"
#include "ccpulse/figures.h"

struct ccp_tz;

#define CCP_MAX_WINDOWS 16
#define CCP_WINDOW_NAME_MAX 16

/* A rolling window: `length_ms` a multiple of `bucket_ms`. */
struct ccp_window_def {
	char name[CCP_WINDOW_NAME_MAX]; /* "5m", "15m", ... */
	int64_t length_ms;
	int64_t bucket_ms;
};

/* Per-queue service-level thresholds; a channel's 0 means "use default". */
struct ccp_sl_override {
	char queue[CCP_ID_MAX_BYTES + 1];
	int64_t threshold_ms[CCP_CH__COUNT];
};

/* Engine settings. Owner: the caller; the engine copies what it needs at
 * ccp_engine_new() except `tz` and `sl_overrides`, which must outlive it. */
struct ccp_engine_config {
	struct ccp_window_def windows[CCP_MAX_WINDOWS]; /* `today` is implicit */
	uint32_t n_windows;
	int64_t short_abandon_ms;                   /* default 5 s */
	int64_t sl_threshold_ms[CCP_CH__COUNT];     /* per channel defaults */
	const struct ccp_sl_override *sl_overrides; /* per queue */
	uint32_t n_sl_overrides;
	enum ccp_sl_variant sl_variant;
	int64_t dedup_horizon_ms; /* ids remembered this long (event time) */
	uint32_t dedup_max_ids;   /* and at most this many; oldest go first */
	int64_t open_horizon_ms;  /* pairing state held at most this long */
	const struct ccp_tz *tz;  /* for `today`; NULL means UTC */
	/* Closed minutes (outputs.md `{p}:minutes`): when set, called once per
	 * queue for each minute that had any figure, as soon as the clock has
	 * passed the minute's end and the promises due in it have come due.
	 * `minute->hist` is borrowed for the call. NULL: no minute bookkeeping. */
	void (*minute_cb)(void *ud, uint32_t queue, const struct ccp_window_stats *minute);
	void *minute_ud;
};

/* A closed minute's length; a minute is written once, when it closes, and
 * events that arrive later for it count in the windows only. */
#define CCP_MINUTE_MS 60000

/* Fills the contract's defaults: 5m/15m/1h at 10 s, 24h at 5 min, voice 20 s,
 * chat 60 s, sms 300 s, social 3600 s, email 14400 s, video 20 s, 5 s short
 * abandon, 24 h dedup, 7 d open horizon, UTC. */
void ccp_engine_config_defaults(struct ccp_engine_config *cfg);

struct ccp_engine;

/* Returns a new engine, or NULL with a message in `err`. @thread any */
struct ccp_engine *ccp_engine_new(const struct ccp_engine_config *cfg, char *err, size_t errlen);
void ccp_engine_free(struct ccp_engine *e); /* NULL is a no-op */

enum ccp_apply_result {
	CCP_APPLIED,
	CCP_DUPLICATE, /* id already accepted within the dedup horizon */
	CCP_LATE,      /* ts < now - longest window; id remembered, nothing else */
};

/* Applies one validated event (contract "Bad input" order: dedup, then
 * late, then the figures). @thread owner */
enum ccp_apply_result ccp_engine_apply(struct ccp_engine *e, const struct ccp_event *ev);

/* Hints that `ev` will be applied soon: starts loading the table slots it
 * will touch (dedup, contact), so a caller that decodes one event ahead
 * overlaps those cache misses with the current event's work. Optional;
 * changes nothing. @thread owner */
void ccp_engine_prefetch(const struct ccp_engine *e, const struct ccp_event *ev);

/* Moves the clock forward to `now_ms` (wall clock, when the partition is
 * caught up and idle); no-op if the clock is already there. @thread owner */
void ccp_engine_advance_to(struct ccp_engine *e, int64_t now_ms);

/* The clock; INT64_MIN before anything was applied. */
int64_t ccp_engine_now(const struct ccp_engine *e);

struct ccp_engine_counters {
	uint64_t late_events, duplicates, expired, unmatched;
};
void ccp_engine_counters(const struct ccp_engine *e, struct ccp_engine_counters *out);

/* Queues seen, in first-seen order; indices are stable for the engine's
 * life. A queue is seen when any event names it (including agent.state's
 * `queues`). */
uint32_t ccp_engine_queue_count(const struct ccp_engine *e);
struct ccp_str ccp_engine_queue_name(const struct ccp_engine *e, uint32_t q);

/* Windows: the configured ones, then `today` last. */
uint32_t ccp_engine_window_count(const struct ccp_engine *e);
const char *ccp_engine_window_name(const struct ccp_engine *e, uint32_t w);

/* One queue's window at the current clock. `out->hist` is borrowed from the
 * engine and valid until its next call. */
void ccp_engine_window_stats(const struct ccp_engine *e, uint32_t q, uint32_t w,
			     struct ccp_window_stats *out);

/* One queue's live figures at the current clock. */
void ccp_engine_live_stats(const struct ccp_engine *e, uint32_t q, struct ccp_live_stats *out);

/* Agents counted once each across queues (for `total`), by state. */
void ccp_engine_agents_total(const struct ccp_engine *e, uint64_t out[CCP_AGENT__COUNT]);

/* Calls `cb` for every held promise that is overdue (not kept, not
 * cancelled, due <= now). */
typedef void (*ccp_engine_overdue_cb)(void *ud, struct ccp_str queue, struct ccp_str promise,
				      int64_t due_ms);
void ccp_engine_overdue_foreach(const struct ccp_engine *e, ccp_engine_overdue_cb cb, void *ud);

/* Bytes held now (rings, pools, tables), for memory reports. */
size_t ccp_engine_memory_bytes(const struct ccp_engine *e);

#endif
