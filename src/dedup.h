/* Event-id dedup horizon: ids (as 64-bit hashes) remembered with the clock
 * at acceptance, forgotten oldest first once older than the horizon or
 * beyond the capacity. The clock never goes back, so the acceptance FIFO is
 * also age order and expiry is exact. Owner: its engine; one thread. */
#ifndef CCPULSE_DEDUP_H
#define CCPULSE_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "idmap.h"

struct ccp_dedup_entry {
	uint64_t key;
	int64_t at_ms;
};

struct ccp_dedup {
	struct ccp_idmap set;
	struct ccp_dedup_entry *fifo; /* ring, grows by doubling up to max_ids */
	uint32_t head, len, cap, max_ids;
	int64_t horizon_ms;
};

int ccp__dedup_init(struct ccp_dedup *d, int64_t horizon_ms, uint32_t max_ids);
void ccp__dedup_deinit(struct ccp_dedup *d);
/* True if `key` is held; else remembers it at `now_ms` and returns false. */
bool ccp__dedup_check_add(struct ccp_dedup *d, uint64_t key, int64_t now_ms);
/* Forgets ids accepted more than the horizon before `now_ms`. */
void ccp__dedup_expire(struct ccp_dedup *d, int64_t now_ms);
size_t ccp__dedup_bytes(const struct ccp_dedup *d);

#endif
