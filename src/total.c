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

void ccp_total_live(const struct ccp_engine *e, struct ccp_field out[CCP_LF__COUNT])
{
	struct ccp_live_stats sum;
	memset(&sum, 0, sizeof(sum));
	int64_t now = ccp_engine_now(e);
	int64_t longest = 0;
	for (uint32_t q = 0; q < ccp_engine_queue_count(e); q++) {
		struct ccp_live_stats ls;
		struct ccp_field f[CCP_LF__COUNT];
		ccp_engine_live_stats(e, q, &ls);
		ccp_figures_live(&ls, now, f);
		if (f[CCP_LF_LONGEST_WAIT_MS].i > longest)
			longest = f[CCP_LF_LONGEST_WAIT_MS].i;
		sum.waiting += ls.waiting;
		sum.promises_open += ls.promises_open;
		sum.promises_overdue += ls.promises_overdue;
		sum.complaints_open += ls.complaints_open;
	}
	ccp_engine_agents_total(e, sum.agents);
	ccp_figures_live(&sum, now, out);
	out[CCP_LF_LONGEST_WAIT_MS].i = longest;
}
