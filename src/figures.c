/* Output figures from additive sums (contract: metrics.md). */
#include "ccpulse/figures.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ccpulse/hist.h"

const char *const ccp_sl_variant_names[CCP_SL__COUNT] = {
	"answered_abandoned", "answered", "offered", "with_short_abandons",
};

const char *const ccp_wfield_names[CCP_WF__COUNT] = {
	"offered", "answered", "abandoned", "abandoned_short", "answered_in_sl",
	"service_level", "abandon_rate", "asa_ms", "wait_p50_ms", "wait_p90_ms", "wait_p99_ms",
	"max_wait_ms", "aht_ms", "transferred_out", "transferred_in", "ended", "resolved",
	"fcr_rate", "promises_made", "promises_due", "promises_kept_on_time", "promises_broken",
	"promises_kept_late", "promise_kept_rate", "csat_n", "csat_avg", "csat_satisfied_rate",
	"reliability_avg", "responsiveness_avg", "assurance_avg", "empathy_avg", "tangibles_avg",
	"complaints_opened", "complaints_resolved", "complaint_resolution_ms", "window_start",
	"window_end", "updated_at",
};

const char *const ccp_lfield_names[CCP_LF__COUNT] = {
	"waiting", "longest_wait_ms", "agents_available", "agents_busy", "agents_wrap_up",
	"agents_away", "promises_open", "promises_overdue", "complaints_open",
};

/* ccp_sums is all 64-bit fields: add/sub walk it as an array. */
#define SUMS_WORDS (sizeof(struct ccp_sums) / sizeof(uint64_t))
_Static_assert(sizeof(struct ccp_sums) % sizeof(uint64_t) == 0, "ccp_sums holds only 64-bit fields");

void ccp_sums_add(struct ccp_sums *into, const struct ccp_sums *from)
{
	uint64_t *a = (uint64_t *)into;
	const uint64_t *b = (const uint64_t *)from;
	for (size_t i = 0; i < SUMS_WORDS; i++)
		a[i] += b[i];
}

void ccp_sums_sub(struct ccp_sums *from, const struct ccp_sums *what)
{
	uint64_t *a = (uint64_t *)from;
	const uint64_t *b = (const uint64_t *)what;
	for (size_t i = 0; i < SUMS_WORDS; i++)
		a[i] -= b[i];
}

static void count(struct ccp_field *f, uint64_t v)
{
	f->present = true;
	f->is_ratio = false;
	f->i = (int64_t)v;
}

static void integer(struct ccp_field *f, int64_t v)
{
	f->present = true;
	f->is_ratio = false;
	f->i = v;
}

static void ratio(struct ccp_field *f, uint64_t num, uint64_t den)
{
	if (!den)
		return;
	f->present = true;
	f->is_ratio = true;
	f->d = (double)num / (double)den;
}

/* Mean of times, rounded to the nearest ms (halves away from zero). */
static void mean_ms(struct ccp_field *f, int64_t sum, uint64_t n)
{
	if (!n)
		return;
	integer(f, llround((double)sum / (double)n));
}

void ccp_figures_window(const struct ccp_window_stats *ws, enum ccp_sl_variant variant,
			int64_t updated_at_ms, struct ccp_field out[CCP_WF__COUNT])
{
	const struct ccp_sums *s = &ws->sums;
	memset(out, 0, sizeof(struct ccp_field) * CCP_WF__COUNT);
	count(&out[CCP_WF_OFFERED], s->offered);
	count(&out[CCP_WF_ANSWERED], s->answered);
	count(&out[CCP_WF_ABANDONED], s->abandoned);
	count(&out[CCP_WF_ABANDONED_SHORT], s->abandoned_short);
	count(&out[CCP_WF_ANSWERED_IN_SL], s->answered_in_sl);
	uint64_t den = s->answered + s->abandoned;
	switch (variant) {
	case CCP_SL_ANSWERED:
		ratio(&out[CCP_WF_SERVICE_LEVEL], s->answered_in_sl, s->answered);
		break;
	case CCP_SL_OFFERED:
		ratio(&out[CCP_WF_SERVICE_LEVEL], s->answered_in_sl, s->offered);
		break;
	case CCP_SL_WITH_SHORT:
		ratio(&out[CCP_WF_SERVICE_LEVEL], s->answered_in_sl, den + s->abandoned_short);
		break;
	default:
		ratio(&out[CCP_WF_SERVICE_LEVEL], s->answered_in_sl, den);
		break;
	}
	ratio(&out[CCP_WF_ABANDON_RATE], s->abandoned, den);
	mean_ms(&out[CCP_WF_ASA_MS], s->wait_sum_ms, s->wait_n);
	if (s->wait_n && ws->hist && ws->hist->n) {
		static const unsigned pct[3] = {50, 90, 99};
		for (int i = 0; i < 3; i++) {
			int64_t v = ccp_hist_percentile(ws->hist, pct[i]);
			/* The exact maximum bounds every percentile. */
			if (ws->has_max_wait && v > ws->max_wait_ms)
				v = ws->max_wait_ms;
			integer(&out[CCP_WF_WAIT_P50_MS + i], v);
		}
	}
	if (ws->has_max_wait)
		integer(&out[CCP_WF_MAX_WAIT_MS], ws->max_wait_ms);
	mean_ms(&out[CCP_WF_AHT_MS], s->aht_sum_ms, s->aht_n);
	count(&out[CCP_WF_TRANSFERRED_OUT], s->transferred_out);
	count(&out[CCP_WF_TRANSFERRED_IN], s->transferred_in);
	count(&out[CCP_WF_ENDED], s->ended);
	count(&out[CCP_WF_RESOLVED], s->resolved);
	ratio(&out[CCP_WF_FCR_RATE], s->fcr, s->ended);
	count(&out[CCP_WF_PROMISES_MADE], s->promises_made);
	count(&out[CCP_WF_PROMISES_DUE], s->promises_due);
	count(&out[CCP_WF_PROMISES_KEPT_ON_TIME], s->promises_kept_on_time);
	count(&out[CCP_WF_PROMISES_BROKEN], s->promises_broken);
	count(&out[CCP_WF_PROMISES_KEPT_LATE], s->promises_kept_late);
	ratio(&out[CCP_WF_PROMISE_KEPT_RATE], s->promises_kept_on_time, s->promises_due);
	count(&out[CCP_WF_CSAT_N], s->csat_n);
	ratio(&out[CCP_WF_CSAT_AVG], s->csat_sum, s->csat_n);
	ratio(&out[CCP_WF_CSAT_SATISFIED_RATE], s->csat_satisfied, s->csat_n);
	for (int d = 0; d < CCP_DIM__COUNT; d++)
		ratio(&out[CCP_WF_RELIABILITY_AVG + d], s->dim_sum[d], s->dim_n[d]);
	count(&out[CCP_WF_COMPLAINTS_OPENED], s->complaints_opened);
	count(&out[CCP_WF_COMPLAINTS_RESOLVED], s->complaints_resolved);
	mean_ms(&out[CCP_WF_COMPLAINT_RESOLUTION_MS], s->complaint_res_sum_ms, s->complaint_res_n);
	integer(&out[CCP_WF_WINDOW_START], ws->window_start_ms);
	integer(&out[CCP_WF_WINDOW_END], ws->window_end_ms);
	integer(&out[CCP_WF_UPDATED_AT], updated_at_ms);
}

void ccp_figures_live(const struct ccp_live_stats *ls, int64_t now_ms,
		      struct ccp_field out[CCP_LF__COUNT])
{
	memset(out, 0, sizeof(struct ccp_field) * CCP_LF__COUNT);
	count(&out[CCP_LF_WAITING], ls->waiting);
	integer(&out[CCP_LF_LONGEST_WAIT_MS],
		ls->waiting && ls->has_oldest_wait ? now_ms - ls->oldest_wait_start_ms : 0);
	count(&out[CCP_LF_AGENTS_AVAILABLE], ls->agents[CCP_AGENT_AVAILABLE]);
	count(&out[CCP_LF_AGENTS_BUSY], ls->agents[CCP_AGENT_BUSY]);
	count(&out[CCP_LF_AGENTS_WRAP_UP], ls->agents[CCP_AGENT_WRAP_UP]);
	count(&out[CCP_LF_AGENTS_AWAY], ls->agents[CCP_AGENT_AWAY]);
	count(&out[CCP_LF_PROMISES_OPEN], ls->promises_open);
	count(&out[CCP_LF_PROMISES_OVERDUE], ls->promises_overdue);
	count(&out[CCP_LF_COMPLAINTS_OPEN], ls->complaints_open);
}

int ccp_field_format(const struct ccp_field *f, char *buf, size_t buflen)
{
	int n = f->is_ratio ? snprintf(buf, buflen, "%.6g", f->d)
			    : snprintf(buf, buflen, "%" PRId64, f->i);
	return n < 0 || (size_t)n >= buflen ? -1 : n;
}

void ccp_fields_emit(const struct ccp_field *f, const char *const *names, size_t n,
		     ccp_field_emit_cb emit, void *ud)
{
	for (size_t i = 0; i < n; i++) {
		if (!f[i].present)
			continue;
		char v[64];
		int len = ccp_field_format(&f[i], v, sizeof(v));
		if (len >= 0)
			emit(ud, names[i], v, (size_t)len);
	}
}
