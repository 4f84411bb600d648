/* Open-addressing hash map from a non-zero 64-bit key to a 32-bit value,
 * linear probing with backward-shift deletion (no tombstones, so lookups
 * stay short under churn). Grows by doubling: amortized, never per event
 * in steady state. Owner: the engine that embeds it; one thread. */
#ifndef CCPULSE_IDMAP_H
#define CCPULSE_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Key and value side by side, so a probe touches one cache line. */
struct ccp_idmap_slot {
	uint64_t key; /* 0 = empty */
	uint32_t val;
};

struct ccp_idmap {
	struct ccp_idmap_slot *slots;
	uint32_t cap, n; /* cap a power of two */
};

int ccp__idmap_init(struct ccp_idmap *m, uint32_t cap);
void ccp__idmap_deinit(struct ccp_idmap *m);
/* Pointer to the value of `key`, or NULL. */
uint32_t *ccp__idmap_find(const struct ccp_idmap *m, uint64_t key);
/* Inserts or replaces; 0 or -ENOMEM. */
int ccp__idmap_put(struct ccp_idmap *m, uint64_t key, uint32_t val);
/* Finds `key`, or inserts it with `val`: one probe sequence for both.
 * Returns 1 if it was present, 0 if inserted, -ENOMEM. */
int ccp__idmap_find_or_put(struct ccp_idmap *m, uint64_t key, uint32_t val);
/* Starts loading the slot where `key` would be found. */
static inline void ccp__idmap_prefetch(const struct ccp_idmap *m, uint64_t key)
{
	__builtin_prefetch(&m->slots[(uint32_t)key & (m->cap - 1)]);
}
bool ccp__idmap_del(struct ccp_idmap *m, uint64_t key);
size_t ccp__idmap_bytes(const struct ccp_idmap *m);

#endif
