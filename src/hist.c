/* Log-linear wait histogram (see include/ccpulse/hist.h). */
#include "ccpulse/hist.h"

#include <string.h>

uint16_t ccp_hist_bin(int64_t v)
{
	if (v < CCP_HIST_EXACT)
		return (uint16_t)(v < 0 ? 0 : v);
	int e = 63 - __builtin_clzll((unsigned long long)v); /* >= 7 */
	if (e > CCP_HIST_MAX_EXP)
		return CCP_HIST_BINS - 1;
	unsigned sub = (unsigned)((unsigned long long)v >> (e - 6)) & (CCP_HIST_SUB - 1);
	return (uint16_t)(CCP_HIST_EXACT + (e - 7) * CCP_HIST_SUB + (int)sub);
}

int64_t ccp_hist_bin_value(uint16_t bin)
{
	if (bin < CCP_HIST_EXACT)
		return bin;
	int e = 7 + (bin - CCP_HIST_EXACT) / CCP_HIST_SUB;
	int64_t sub = (bin - CCP_HIST_EXACT) % CCP_HIST_SUB;
	int64_t width = (int64_t)1 << (e - 6);
	return (CCP_HIST_SUB + sub) * width + width / 2;
}

void ccp_hist_clear(struct ccp_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void ccp_hist_add_bin(struct ccp_hist *h, uint16_t bin)
{
	h->bins[bin]++;
	h->n++;
}

void ccp_hist_sub_bin(struct ccp_hist *h, uint16_t bin)
{
	h->bins[bin]--;
	h->n--;
}

void ccp_hist_merge(struct ccp_hist *into, const struct ccp_hist *from)
{
	if (!from->n)
		return;
	for (int i = 0; i < CCP_HIST_BINS; i++)
		into->bins[i] += from->bins[i];
	into->n += from->n;
}

int64_t ccp_hist_percentile(const struct ccp_hist *h, unsigned pct)
{
	if (!h->n)
		return 0;
	uint64_t rank = (pct * h->n + 99) / 100; /* ceil(pct*n/100) */
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < CCP_HIST_BINS; i++) {
		seen += h->bins[i];
		if (seen >= rank)
			return ccp_hist_bin_value((uint16_t)i);
	}
	return ccp_hist_bin_value(CCP_HIST_BINS - 1);
}
