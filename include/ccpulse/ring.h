/* Bounded single-producer single-consumer ring of fixed-size slots.
 *
 * Contract: one producer thread, one consumer thread. The producer calls
 * only ccp_ring_reserve/commit/push; the consumer only ccp_ring_peek/
 * release/pop. Each of those is safe without locking alongside at most one
 * concurrent caller on the other side, and is wait-free: a bounded number of
 * steps, no loops, no locks, no system calls. Any thread may read
 * ccp_ring_count (an estimate) and ccp_ring_capacity.
 *
 * Design:
 * - Slot size and capacity are powers of two chosen at init; the caller
 *   allocates the struct and the slot storage (libuv style) and keeps both
 *   alive until both threads are done with the ring.
 * - head (next slot to read) and tail (next slot to write) are free-running
 *   64-bit counters, masked only to find a slot; they never wrap in
 *   practice (2^64 slots), so tail - head is the fill level and all
 *   `capacity` slots are usable (no empty slot is kept, unlike rings that
 *   compare masked indices).
 * - head is written only by the consumer and tail only by the producer, and
 *   each lives on its own 64-byte cache line. Each side also keeps, on its
 *   own line, the last value it saw of the other's counter and rereads the
 *   shared counter only when that cached value cannot satisfy a request, so
 *   in steady state the lines do not bounce between cores on every call.
 * - Ordering: the producer writes slots, then release-stores tail; the
 *   consumer acquire-loads tail before reading them. The consumer reads
 *   slots, then release-stores head; the producer acquire-loads head before
 *   overwriting them. The head store is the producer's licence to reuse a
 *   slot.
 * - Batches: reserve/peek hand out up to n slots that are contiguous in
 *   storage, so a batch stops at the end of the storage; ask again for the
 *   rest after the wrap. commit/release then publish k of them.
 */
#ifndef CCPULSE_RING_H
#define CCPULSE_RING_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CCP_RING_CACHELINE 64
#define CCP_RING_MAX_SLOT_BYTES (1u << 20)
#define CCP_RING_MAX_CAPACITY (1u << 30)

/* Owner: the code that created both threads; it allocates this struct (64-
 * byte aligned: embedded, static, or aligned_alloc) and the storage, and frees
 * them after both threads stopped using the ring. The consumer writes the
 * first line, the producer the second; the third is read-only after init.
 * Fields starting with `_` are private. */
struct ccp_ring {
	/* Consumer's line. */
	_Alignas(CCP_RING_CACHELINE) _Atomic uint64_t _head; /* next slot to read */
	uint64_t _tail_seen;     /* consumer's last load of _tail */
	/* Producer's line. */
	_Alignas(CCP_RING_CACHELINE) _Atomic uint64_t _tail; /* next slot to write */
	uint64_t _head_seen;     /* producer's last load of _head */
	/* Read-only after ccp_ring_init. */
	_Alignas(CCP_RING_CACHELINE) unsigned char *_slots;
	uint32_t _mask;          /* capacity - 1 */
	uint32_t _slot_shift;    /* log2(slot bytes) */
};

/* Storage ccp_ring_init needs for `capacity` slots of `slot_bytes`. */
#define CCP_RING_STORAGE_BYTES(slot_bytes, capacity) ((size_t)(slot_bytes) * (size_t)(capacity))

/* Makes `r` an empty ring over `storage` (at least
 * CCP_RING_STORAGE_BYTES(slot_bytes, capacity) bytes, aligned to
 * min(slot_bytes, 16)). slot_bytes: a power of two up to 1 MiB; capacity: a
 * power of two up to 2^30. Returns 0, or -EINVAL if a size is not a power of
 * two or out of range, storage is too small or misaligned, or `r` is not
 * 64-byte aligned. The ring borrows `storage`. @thread any, before the
 * producer and consumer start (publish `r` to them with a thread start or
 * another release/acquire handoff). */
static inline int ccp_ring_init(struct ccp_ring *r, void *storage, size_t storage_bytes,
				uint32_t slot_bytes, uint32_t capacity)
{
	if (!r || !storage || slot_bytes == 0 || (slot_bytes & (slot_bytes - 1)) ||
	    slot_bytes > CCP_RING_MAX_SLOT_BYTES || capacity == 0 || (capacity & (capacity - 1)) ||
	    capacity > CCP_RING_MAX_CAPACITY ||
	    storage_bytes < CCP_RING_STORAGE_BYTES(slot_bytes, capacity) ||
	    (uintptr_t)r % CCP_RING_CACHELINE != 0 ||
	    (uintptr_t)storage % (slot_bytes < 16 ? slot_bytes : 16) != 0)
		return -EINVAL;
	uint32_t shift = 0;
	while ((1u << shift) < slot_bytes)
		shift++;
	/* Before any other thread sees r, so relaxed is enough; the handoff of r
	 * itself orders these stores. */
	atomic_store_explicit(&r->_head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->_tail, 0, memory_order_relaxed);
	r->_tail_seen = 0;
	r->_head_seen = 0;
	r->_slots = storage;
	r->_mask = capacity - 1;
	r->_slot_shift = shift;
	return 0;
}

static inline uint32_t ccp_ring_capacity(const struct ccp_ring *r)
{
	return r->_mask + 1;
}

static inline uint32_t ccp_ring_slot_bytes(const struct ccp_ring *r)
{
	return 1u << r->_slot_shift;
}

/* Slots in use right now, as seen by the caller: exact on the producer or
 * consumer thread when the other side is idle, an estimate elsewhere (for
 * gauges). @thread any */
static inline uint32_t ccp_ring_count(const struct ccp_ring *r)
{
	/* Load head before tail, both acquire so the tail load cannot move
	 * above the head load: then tail >= head always and the difference
	 * never goes negative. */
	uint64_t head = atomic_load_explicit(&r->_head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->_tail, memory_order_acquire);
	uint64_t n = tail - head;
	return n > r->_mask + 1u ? r->_mask + 1u : (uint32_t)n;
}

/* ---- producer ---- */

/* Reserves up to `n` free slots that follow each other in storage and sets
 * *slots to the first. Returns how many (0: ring full, or n == 0). The
 * slots belong to the producer until ccp_ring_commit; a later reserve
 * without commit hands out the same slots again. @thread producer */
static inline uint32_t ccp_ring_reserve(struct ccp_ring *r, uint32_t n, void **slots)
{
	/* Only this thread writes _tail, so its own last store is what it reads. */
	uint64_t tail = atomic_load_explicit(&r->_tail, memory_order_relaxed);
	uint64_t cap = (uint64_t)r->_mask + 1;
	uint64_t free_slots = cap - (tail - r->_head_seen);
	if (free_slots < n) {
		/* Acquire pairs with the consumer's release of head: its reads of
		 * the slots we are about to overwrite are finished. */
		r->_head_seen = atomic_load_explicit(&r->_head, memory_order_acquire);
		free_slots = cap - (tail - r->_head_seen);
	}
	uint64_t idx = tail & r->_mask;
	uint64_t k = n < free_slots ? n : free_slots;
	if (k > cap - idx)
		k = cap - idx; /* stop at the end of storage */
	*slots = r->_slots + (idx << r->_slot_shift);
	return (uint32_t)k;
}

/* Publishes the first `k` slots of the last reservation to the consumer
 * (k <= what ccp_ring_reserve returned). @thread producer */
static inline void ccp_ring_commit(struct ccp_ring *r, uint32_t k)
{
	uint64_t tail = atomic_load_explicit(&r->_tail, memory_order_relaxed); /* own counter */
	/* Release: the slot contents written before become visible to a consumer
	 * that acquires this tail. */
	atomic_store_explicit(&r->_tail, tail + k, memory_order_release);
}

/* Copies one slot's worth of `item` in and commits it. Returns false when
 * the ring is full (nothing changes). @thread producer */
static inline bool ccp_ring_push(struct ccp_ring *r, const void *item)
{
	void *slot;
	if (!ccp_ring_reserve(r, 1, &slot))
		return false;
	memcpy(slot, item, (size_t)1 << r->_slot_shift);
	ccp_ring_commit(r, 1);
	return true;
}

/* ---- consumer ---- */

/* Finds up to `n` filled slots that follow each other in storage, oldest
 * first, and sets *slots to the first. Returns how many (0: ring empty, or
 * n == 0). They stay valid, and the producer leaves them alone, until
 * ccp_ring_release. @thread consumer */
static inline uint32_t ccp_ring_peek(struct ccp_ring *r, uint32_t n, void **slots)
{
	/* Only this thread writes _head. */
	uint64_t head = atomic_load_explicit(&r->_head, memory_order_relaxed);
	uint64_t avail = r->_tail_seen - head;
	if (avail < n) {
		/* Acquire pairs with the producer's release of tail: the contents
		 * of every slot below it are visible. */
		r->_tail_seen = atomic_load_explicit(&r->_tail, memory_order_acquire);
		avail = r->_tail_seen - head;
	}
	uint64_t cap = (uint64_t)r->_mask + 1;
	uint64_t idx = head & r->_mask;
	uint64_t k = n < avail ? n : avail;
	if (k > cap - idx)
		k = cap - idx; /* stop at the end of storage */
	*slots = r->_slots + (idx << r->_slot_shift);
	return (uint32_t)k;
}

/* Hands the oldest `k` peeked slots back to the producer (k <= what
 * ccp_ring_peek returned); do not touch them afterwards. @thread consumer */
static inline void ccp_ring_release(struct ccp_ring *r, uint32_t k)
{
	uint64_t head = atomic_load_explicit(&r->_head, memory_order_relaxed); /* own counter */
	/* Release: our reads of those slots complete before the producer, which
	 * acquires head, may overwrite them. */
	atomic_store_explicit(&r->_head, head + k, memory_order_release);
}

/* Copies the oldest slot to `out` and releases it. Returns false when the
 * ring is empty. @thread consumer */
static inline bool ccp_ring_pop(struct ccp_ring *r, void *out)
{
	void *slot;
	if (!ccp_ring_peek(r, 1, &slot))
		return false;
	memcpy(out, slot, (size_t)1 << r->_slot_shift);
	ccp_ring_release(r, 1);
	return true;
}

#endif
