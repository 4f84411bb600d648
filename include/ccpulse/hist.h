/* Log-linear histogram of waits in ms: exact below 128 ms, then 64 linear
 * sub-bins per power of two, so the midpoint of a bin is within 1/128 of any
 * value in it (the contract allows 1 %). Counts add and subtract, so a
 * window's histogram is a running sum like its counts. Pure.
 */
#ifndef CCPULSE_HIST_H
#define CCPULSE_HIST_H

#include <stdint.h>

#define CCP_HIST_EXACT 128
#define CCP_HIST_SUB 64
#define CCP_HIST_MAX_EXP 40 /* values >= 2^41 ms (70 years) share the top bin */
#define CCP_HIST_BINS (CCP_HIST_EXACT + (CCP_HIST_MAX_EXP - 6) * CCP_HIST_SUB)

/* Owner: whoever embeds it (a window of one engine, or a merge buffer). */
struct ccp_hist {
	uint64_t n;
	uint32_t bins[CCP_HIST_BINS];
};

/* Bin of a value; negatives count as 0. */
uint16_t ccp_hist_bin(int64_t v_ms);
/* The value reported for a bin (its midpoint; exact below 128). */
int64_t ccp_hist_bin_value(uint16_t bin);

void ccp_hist_clear(struct ccp_hist *h);
void ccp_hist_add_bin(struct ccp_hist *h, uint16_t bin);
void ccp_hist_sub_bin(struct ccp_hist *h, uint16_t bin);
void ccp_hist_merge(struct ccp_hist *into, const struct ccp_hist *from);

/* Nearest-rank percentile (0 < pct <= 100): the value of the bin holding
 * the ceil(pct*n/100)-th smallest; 0 when empty. */
int64_t ccp_hist_percentile(const struct ccp_hist *h, unsigned pct);

#endif
