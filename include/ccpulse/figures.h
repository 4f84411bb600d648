/* The figures of shared/contract/metrics.md: additive sums per window, and
 * the output fields computed from them (names verbatim from the contract).
 *
 * Sums add and subtract like counts, so a window is a running sum of its
 * buckets, a `total` is the sum of its queues, and several partitions or
 * instances merge by addition. Ratios, means and percentiles are computed
 * only at output time, from merged sums. Pure: no I/O, no threads.
 */
#ifndef CCPULSE_FIGURES_H
#define CCPULSE_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"

struct ccp_hist; /* hist.h: log-linear wait histogram */

/* Additive figures of one queue (or total) over one window or bucket.
 * Owner: whoever embeds it; no locking, one thread at a time. */
struct ccp_sums {
	uint64_t offered, answered, abandoned, abandoned_short, answered_in_sl;
	uint64_t wait_n;     /* answered with known wait */
	int64_t wait_sum_ms; /* sum of those waits */
	uint64_t aht_n;      /* ended with held answer */
	int64_t aht_sum_ms;
	uint64_t transferred_out, transferred_in, ended, resolved, fcr;
	uint64_t promises_made, promises_due, promises_kept_on_time;
	uint64_t promises_broken, promises_kept_late;
	uint64_t csat_n, csat_sum, csat_satisfied;
	uint64_t dim_n[CCP_DIM__COUNT], dim_sum[CCP_DIM__COUNT];
	uint64_t complaints_opened, complaints_resolved;
	uint64_t complaint_res_n; /* resolved whose opening was seen */
	int64_t complaint_res_sum_ms;
};

void ccp_sums_add(struct ccp_sums *into, const struct ccp_sums *from);
void ccp_sums_sub(struct ccp_sums *from, const struct ccp_sums *what);

/* One window's state as read for output: sums, the exact largest known
 * wait, and the wait histogram (borrowed; may be NULL when wait_n is 0). */
struct ccp_window_stats {
	struct ccp_sums sums;
	bool has_max_wait;
	int64_t max_wait_ms;
	const struct ccp_hist *hist;
	int64_t window_start_ms, window_end_ms;
};

/* Live figures of one queue (or total). Counts are plain; the longest wait
 * is carried as the oldest waiting offer's timestamp so totals can merge. */
struct ccp_live_stats {
	uint64_t waiting;
	bool has_oldest_wait;
	int64_t oldest_wait_start_ms; /* ts of the oldest waiting offer */
	uint64_t agents[CCP_AGENT__COUNT]; /* offline stays 0 */
	uint64_t promises_open, promises_overdue, complaints_open;
};

/* Service level variants (config `service_level.variant`). */
enum ccp_sl_variant {
	CCP_SL_ANSWERED_ABANDONED, /* in_sl / (answered + abandoned): contract default */
	CCP_SL_ANSWERED,           /* in_sl / answered */
	CCP_SL_OFFERED,            /* in_sl / offered */
	CCP_SL_WITH_SHORT,         /* in_sl / (answered + abandoned + abandoned_short) */
	CCP_SL__COUNT
};
extern const char *const ccp_sl_variant_names[CCP_SL__COUNT];

/* Output fields of a window hash, in the contract's order. */
enum ccp_wfield {
	CCP_WF_OFFERED,
	CCP_WF_ANSWERED,
	CCP_WF_ABANDONED,
	CCP_WF_ABANDONED_SHORT,
	CCP_WF_ANSWERED_IN_SL,
	CCP_WF_SERVICE_LEVEL,
	CCP_WF_ABANDON_RATE,
	CCP_WF_ASA_MS,
	CCP_WF_WAIT_P50_MS,
	CCP_WF_WAIT_P90_MS,
	CCP_WF_WAIT_P99_MS,
	CCP_WF_MAX_WAIT_MS,
	CCP_WF_AHT_MS,
	CCP_WF_TRANSFERRED_OUT,
	CCP_WF_TRANSFERRED_IN,
	CCP_WF_ENDED,
	CCP_WF_RESOLVED,
	CCP_WF_FCR_RATE,
	CCP_WF_PROMISES_MADE,
	CCP_WF_PROMISES_DUE,
	CCP_WF_PROMISES_KEPT_ON_TIME,
	CCP_WF_PROMISES_BROKEN,
	CCP_WF_PROMISES_KEPT_LATE,
	CCP_WF_PROMISE_KEPT_RATE,
	CCP_WF_CSAT_N,
	CCP_WF_CSAT_AVG,
	CCP_WF_CSAT_SATISFIED_RATE,
	CCP_WF_RELIABILITY_AVG,
	CCP_WF_RESPONSIVENESS_AVG,
	CCP_WF_ASSURANCE_AVG,
	CCP_WF_EMPATHY_AVG,
	CCP_WF_TANGIBLES_AVG,
	CCP_WF_COMPLAINTS_OPENED,
	CCP_WF_COMPLAINTS_RESOLVED,
	CCP_WF_COMPLAINT_RESOLUTION_MS,
	CCP_WF_WINDOW_START,
	CCP_WF_WINDOW_END,
	CCP_WF_UPDATED_AT,
	CCP_WF__COUNT
};
extern const char *const ccp_wfield_names[CCP_WF__COUNT];

/* Output fields of a live hash, in the contract's order. */
enum ccp_lfield {
	CCP_LF_WAITING,
	CCP_LF_LONGEST_WAIT_MS,
	CCP_LF_AGENTS_AVAILABLE,
	CCP_LF_AGENTS_BUSY,
	CCP_LF_AGENTS_WRAP_UP,
	CCP_LF_AGENTS_AWAY,
	CCP_LF_PROMISES_OPEN,
	CCP_LF_PROMISES_OVERDUE,
	CCP_LF_COMPLAINTS_OPEN,
	CCP_LF__COUNT
};
extern const char *const ccp_lfield_names[CCP_LF__COUNT];

/* One output value. Absent figures (no data) are left out of the output. */
struct ccp_field {
	bool present;
	bool is_ratio; /* double `d` (ratio or score mean), else integer `i` */
	int64_t i;
	double d;
};

/* Computes every window field. `updated_at_ms` is the wall clock. */
void ccp_figures_window(const struct ccp_window_stats *ws, enum ccp_sl_variant variant,
			int64_t updated_at_ms, struct ccp_field out[CCP_WF__COUNT]);

/* Computes every live field at clock `now_ms`. */
void ccp_figures_live(const struct ccp_live_stats *ls, int64_t now_ms,
		      struct ccp_field out[CCP_LF__COUNT]);

/* Writes the value as text ("%lld", or a decimal with at least 4
 * significant digits for ratios); returns its length, or -1 if it did not
 * fit. Absent fields must not be formatted. */
int ccp_field_format(const struct ccp_field *f, char *buf, size_t buflen);

/* Calls `emit` with the name and formatted value of every present field,
 * in order: the one place output code turns fields into text. */
typedef void (*ccp_field_emit_cb)(void *ud, const char *name, const char *value, size_t len);
void ccp_fields_emit(const struct ccp_field *f, const char *const *names, size_t n,
		     ccp_field_emit_cb emit, void *ud);

#endif
