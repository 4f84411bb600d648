/* The `total` view of one engine (see include/ccpulse/total.h). */
#include "ccpulse/total.h"

#include <string.h>

#include "ccpulse/engine.h"

void ccp_total_window(const struct ccp_engine *e, uint32_t w, struct ccp_hist *hist,
		      struct ccp_window_stats *out)
{
	memset(out, 0, sizeof(*out));
	ccp_hist_clear(hist);
	out->hist = hist;
	for (uint32_t q = 0; q < ccp_engine_queue_count(e); q++) {
		struct ccp_window_stats ws;
		ccp_engine_window_stats(e, q, w, &ws);
		ccp_sums_add(&out->sums, &ws.sums);
		if (ws.hist)
			ccp_hist_merge(hist, ws.hist);
		if (ws.has_max_wait && (!out->has_max_wait || ws.max_wait_ms > out->max_wait_ms)) {
			out->has_max_wait = true;
			out->max_wait_ms = ws.max_wait_ms;
		}
		/* One engine, one clock: every queue has the same bounds. */
		out->window_start_ms = ws.window_start_ms;
		out->window_end_ms = ws.window_end_ms;
	}
}

void ccp_total_live_stats(const struct ccp_engine *e, struct ccp_live_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (uint32_t q = 0; q < ccp_engine_queue_count(e); q++) {
		struct ccp_live_stats ls;
		ccp_engine_live_stats(e, q, &ls);
		sum->waiting += ls.waiting;
		sum->promises_open += ls.promises_open;
		sum->promises_overdue += ls.promises_overdue;
		sum->complaints_open += ls.complaints_open;
		/* The oldest waiting offer of all: its wait is the largest of the
		 * queues' longest waits (one clock). */
		if (ls.waiting && ls.has_oldest_wait &&
		    (!sum->has_oldest_wait || ls.oldest_wait_start_ms < sum->oldest_wait_start_ms)) {
			sum->has_oldest_wait = true;
			sum->oldest_wait_start_ms = ls.oldest_wait_start_ms;
		}
	}
}

void ccp_total_live(const struct ccp_engine *e, struct ccp_field out[CCP_LF__COUNT])
{
	struct ccp_live_stats sum;
	ccp_total_live_stats(e, &sum);
	ccp_engine_agents_total(e, sum.agents);
	ccp_figures_live(&sum, ccp_engine_now(e), out);
}
