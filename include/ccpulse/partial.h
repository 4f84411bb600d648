/* A partition's share of the `total` view and of the `stats` counters,
 * as a compact versioned blob that any instance can merge.
 *
 * Several instances share a topic's partitions, and `{p}:total:*` and
 * `{p}:stats` must cover all of them (contract/outputs.md). Each
 * partition's render writes its partial to `{p}:state:partials` (field =
 * partition); each instance's loop reads them all, merges, and renders
 * the totals. Sums, histograms and counters add; the largest wait is the
 * largest; the oldest waiting offer is the oldest; window bounds and the
 * clock come from the partial with the latest clock (partitions caught up
 * share the wall clock, so they agree).
 *
 * Format v1: "CCP" 0x01, then LEB128 varints (signed values zigzag): now,
 * window count, per window its name, bounds, max wait, the sums' fields
 * in struct order and the histogram as (bin delta, count) pairs of its
 * non-empty bins; then the live counts, the engine counters and the
 * rejects per reason. A few hundred bytes for a typical partition.
 * Pure: no I/O, no threads; the decoder never trusts its input.
 */
#ifndef CCPULSE_PARTIAL_H
#define CCPULSE_PARTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccpulse/engine.h"
#include "ccpulse/event.h"
#include "ccpulse/figures.h"
#include "ccpulse/hist.h"

struct ccp_cmdbuf;

#define CCP_PARTIAL_VERSION 1

/* One window of a partial. */
struct ccp_partial_window {
	char name[CCP_WINDOW_NAME_MAX];
	struct ccp_window_stats ws; /* ws.hist points at `hist` after build/decode/merge */
	struct ccp_hist hist;
};

/* A partition's contribution. Owner: whoever embeds it (a worker renders
 * one, the loop decodes and merges them); large (a histogram per window),
 * so keep one and reuse it. */
struct ccp_partial {
	int64_t now_ms; /* the partition's clock; INT64_MIN: no event yet */
	uint32_t n_windows;
	struct ccp_partial_window w[CCP_MAX_WINDOWS + 1];
	struct ccp_live_stats live; /* agents left 0: the agent table is elsewhere */
	struct ccp_engine_counters counters;
	uint64_t rejects[CCP_REJECT__COUNT];
};

/* Fills `p` from every queue of `e`, plus the decoder's rejects of that
 * partition. @thread owner of `e` */
void ccp_partial_from_engine(struct ccp_partial *p, const struct ccp_engine *e,
			     const uint64_t rejects[CCP_REJECT__COUNT]);

/* Encodes into *buf (grown with realloc as needed; *cap its size), the
 * length in *len. Returns 0 or -ENOMEM. */
int ccp_partial_encode(const struct ccp_partial *p, char **buf, size_t *cap, size_t *len);

/* Decodes a blob; 0, or -EINVAL with what is wrong in `err` (bad magic,
 * version, truncation, a value out of range, trailing bytes). */
int ccp_partial_decode(struct ccp_partial *p, const void *buf, size_t len, char *err, size_t errlen);

/* Adds `from` into `into`. Returns 0, or -EINVAL (message in `err`) if
 * their window lists differ (instances with different configs). */
int ccp_partial_merge(struct ccp_partial *into, const struct ccp_partial *from, char *err, size_t errlen);

/* Appends DEL+HSET of `{p}:total:{window}` per window and of
 * `{p}:total:live` (with `agents`, each agent counted once). */
void ccp_partial_render_total(struct ccp_cmdbuf *cb, const struct ccp_partial *p, const char *prefix,
			      enum ccp_sl_variant variant, int64_t wall_ms, const uint64_t agents[CCP_AGENT__COUNT]);

/* Appends DEL+HSET of `{p}:stats`: late_events, duplicates, expired,
 * unmatched and errors_<reason> for every reason. */
void ccp_partial_render_stats(struct ccp_cmdbuf *cb, const struct ccp_partial *p, const char *prefix);

#endif
