/* The `total` view: every queue of an engine merged (metrics.md: counts are
 * sums, ratios and means are recomputed from the sums, percentiles come
 * from the merged histograms, the longest wait is the largest of the
 * queues', agents count once each). Pure reads of one engine. */
#ifndef CCPULSE_TOTAL_H
#define CCPULSE_TOTAL_H

#include <stdint.h>

#include "ccpulse/figures.h"
#include "ccpulse/hist.h"

struct ccp_engine;

/* Window w over all queues; `hist` is caller-owned storage that out->hist
 * will point to. @thread owner of `e` */
void ccp_total_window(const struct ccp_engine *e, uint32_t w, struct ccp_hist *hist,
		      struct ccp_window_stats *out);

/* Live counts over all queues, and the oldest waiting offer; agents are
 * left 0 (they count once each: ccp_engine_agents_total). @thread owner of `e` */
void ccp_total_live_stats(const struct ccp_engine *e, struct ccp_live_stats *out);

/* Live figures over all queues, written as fields at the engine's clock. */
void ccp_total_live(const struct ccp_engine *e, struct ccp_field out[CCP_LF__COUNT]);

#endif
