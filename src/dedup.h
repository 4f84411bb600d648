/* Event-id dedup horizon: ids (as 64-bit hashes) remembered with the clock
 * at acceptance, forgotten oldest first once older than the horizon or
 * beyond the capacity. The clock never goes back, so the acceptance FIFO is
 * also age order and expiry is exact.
 *
 * The set is its own open-addressing table of bare 64-bit keys (8 bytes a
 * slot, load <= 1/2, linear probing, backward-shift deletion): it is the
 * largest table of a partition (millions of ids over 24 h), so half the
 * bytes of a key+value map means half the cache misses and page faults.
 * Owner: its engine; one thread. */
#ifndef CCPULSE_DEDUP_H
#define CCPULSE_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ccp_dedup_entry {
	uint64_t key;
	int64_t at_ms;
};

struct ccp_dedup {
	uint64_t *set;                /* 0 = empty slot; keys are never 0 */
	uint32_t set_cap, set_n;      /* set_cap a power of two */
	struct ccp_dedup_entry *fifo; /* ring, grows by doubling up to max_ids */
	uint32_t head, len, cap, max_ids;
	int64_t horizon_ms;
};

/* 0 or -ENOMEM. `max_ids` 0 means 1. */
int ccp__dedup_init(struct ccp_dedup *d, int64_t horizon_ms, uint32_t max_ids);
void ccp__dedup_deinit(struct ccp_dedup *d);
/* True if `key` is held; else remembers it at `now_ms` and returns false
 * (when more than max_ids would be held, the oldest is forgotten first). */
bool ccp__dedup_check_add(struct ccp_dedup *d, uint64_t key, int64_t now_ms);
/* Forgets ids accepted more than the horizon before `now_ms`. */
void ccp__dedup_expire(struct ccp_dedup *d, int64_t now_ms);
/* Makes room for `n` ids in all (n <= 2^30), so that adding up to n
 * cannot fail or forget one for want of memory. 0 or -ENOMEM. */
int ccp__dedup_reserve(struct ccp_dedup *d, uint32_t n);
/* Ids held now. */
uint32_t ccp__dedup_count(const struct ccp_dedup *d);
size_t ccp__dedup_bytes(const struct ccp_dedup *d);

/* Starts loading the slot where `key` would be found. */
static inline void ccp__dedup_prefetch(const struct ccp_dedup *d, uint64_t key)
{
	__builtin_prefetch(&d->set[(uint32_t)(key ? key : 1) & (d->set_cap - 1)]);
}

#endif
