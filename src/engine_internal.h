/* The engine's private state, shared by src/engine.c (which runs it) and
 * src/snapshot.c (which saves and restores it). Not part of the library
 * API: nothing outside src/ includes this, and only those two files touch
 * these structs. Every struct here belongs to one engine and is touched
 * only by the engine's owner thread. Internal.
 *
 * Checkpoints (src/snapshot.c) store what here is primary and rebuild the
 * rest; a change to what a field means, or a new field, needs the save and
 * the load changed with it and CCP_SNAPSHOT_FORMAT_VERSION raised. Between
 * calls the engine keeps these, and a load refuses state that breaks them:
 * - with minutes on, min_written is the minute before the clock's;
 * - a live promise has come due exactly when its due <= now, and one that
 *   came due and was kept or cancelled is no longer held;
 * - a contact waits exactly when it has an offer and no answer since;
 * - a bucket's wait_n is the number of bins in its chunks, and its maximum
 *   lies in the highest of them (the same for `today`);
 * - every pool slot below n is live or on the free list, once.
 */
#ifndef CCPULSE_ENGINE_INTERNAL_H
#define CCPULSE_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccpulse/engine.h"
#include "ccpulse/hist.h"
#include "dedup.h"
#include "idmap.h"

#define MAX_RINGS CCP_MAX_WINDOWS
#define NONE UINT32_MAX
#define CHUNK_BINS 13

/* Waits a bucket received, for subtracting from window histograms. */
struct chunk {
	uint16_t bins[CHUNK_BINS];
	uint16_t n;
	uint32_t next;
};

/* One time bucket of one queue. */
struct bucket {
	int64_t k; /* bucket index held, INT64_MIN if none */
	struct ccp_sums s;
	int64_t max_wait;
	uint32_t chunk_head, chunk_tail;
	uint8_t has_max;
};

/* A window's running state for one queue. */
struct wstate {
	struct ccp_sums s;
	struct ccp_hist hist;
	int64_t max_wait; /* today only: rolling windows scan buckets */
	uint8_t has_max;
};

/* Lazy heap entry: `ref` is the record index (kind in the top 2 bits for
 * the expiry heap). */
struct hent {
	int64_t t;
	uint32_t ref, gen;
};

struct heap {
	struct hent *a;
	uint32_t n, cap;
};

/* One queue. Owner: its engine. */
struct queue {
	char *name;
	uint32_t len;
	int64_t thr[CCP_CH__COUNT];
	struct bucket *buckets[MAX_RINGS];
	struct wstate *ws; /* n_windows + 1 (today last) */
	uint64_t promises_open, promises_overdue, complaints_open;
	uint64_t agents[CCP_AGENT__COUNT];
	uint32_t *wh; /* waiting contacts (indices), min-heap by offer ts */
	uint32_t wn, wcap; /* wn is the live `waiting` count */
};

struct ring {
	int64_t g;
	uint32_t n;
	int64_t nb; /* newest bucket index: now / g; INT64_MIN before any */
	int64_t nb_start; /* nb * g */
};

struct window {
	char name[CCP_WINDOW_NAME_MAX];
	uint32_t ring;
	uint32_t nbk; /* buckets in the window */
};

enum { R_CONTACT, R_PROMISE, R_COMPLAINT };

struct contact {
	uint64_t key;
	int64_t offer_ts, answer_ts, start;
	uint32_t q, gen, next_free;
	uint32_t hpos; /* slot in its queue's waiting heap, NONE if not waiting */
	uint8_t live, has_offer, has_answer, tin, channel;
};

enum { P_OPEN, P_KEPT, P_CANCELLED };

struct promise {
	uint64_t key;
	int64_t made_ts, due, resolved_ts;
	uint32_t q, gen, next_free;
	uint8_t live, state, came_due, id_len;
	char id[CCP_ID_MAX_BYTES];
};

struct complaint {
	uint64_t key;
	int64_t opened_ts;
	uint32_t q, gen, next_free;
	uint8_t live;
};

struct agent {
	uint64_t key;
	uint32_t *qs; /* queue indices */
	uint32_t nq, cap;
	uint8_t state, seen;
};

/* A record array with a free list. */
struct pool {
	void *a;
	uint32_t n, cap, free, live;
	size_t size;
};

/* Per-partition state. Owner: one thread (a worker, or main in replay);
 * lives from its partition's assignment to its revocation. */
struct ccp_engine {
	struct ccp_engine_config cfg;
	struct ring rings[MAX_RINGS];
	uint32_t n_rings;
	struct window win[CCP_MAX_WINDOWS];
	uint32_t n_win;
	int64_t longest_ms;
	int64_t now;
	int64_t day_start, day_end;

	struct queue *queues;
	uint32_t n_queues, cap_queues;
	struct ccp_idmap queue_map; /* name hash -> queue index */

	struct chunk *chunks;
	uint32_t n_chunks, cap_chunks, free_chunk;

	struct pool contacts, promises, complaints;
	struct ccp_idmap contact_map, promise_map, complaint_map;
	struct agent *agents;
	uint32_t n_agents, cap_agents;
	struct ccp_idmap agent_map;
	uint64_t agents_total[CCP_AGENT__COUNT];

	struct heap expiry, dues;
	struct ccp_dedup dedup;
	struct ccp_engine_counters counters;

	uint32_t min_ring;   /* ring of 1-minute buckets; NONE when minutes are off */
	int64_t min_written; /* minutes up to this index are written */
	struct ccp_hist min_hist; /* scratch for a minute's waits */
};

/* ---- restore (src/snapshot.c) -----------------------------------------
 * A checkpoint holds the primary state; these build the rest. None is on
 * the event path. Each returns 0 or -ENOMEM and leaves the engine free-able
 * (ccp_engine_free) on failure. @thread owner */

/* Adds a queue named `name` (hash `h`, as queue_get computes it) with its
 * thresholds from the config and empty rings; returns its index, or NONE
 * when out of memory. The caller has checked that the name is new. */
uint32_t ccp__engine_queue_add(struct ccp_engine *e, struct ccp_str name, uint64_t h);

/* Makes room for `n` records in `p` (p->n is left as is). */
int ccp__engine_pool_reserve(struct pool *p, uint32_t n);

/* Appends `count` waits of histogram bin `bin` to bucket `b`'s chunks. */
int ccp__engine_bucket_add_bins(struct ccp_engine *e, struct bucket *b, uint16_t bin, uint32_t count);

/* Rebuilds everything derived from the primary state: the rings' newest
 * buckets from the clock, each rolling window's sums and histogram from its
 * buckets, the waiting heaps, the deadline and expiry heaps, and the live
 * counts (waiting, promises open and overdue, complaints open, agents). */
int ccp__engine_rebuild(struct ccp_engine *e);

#endif
