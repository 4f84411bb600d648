/* The metrics engine (see include/ccpulse/engine.h).
 *
 * DESIGN
 * - Clock: `now` is the largest ts applied (or a later wall-clock time).
 *   Windows with the same bucket size share one ring of epoch-aligned
 *   buckets per queue, sized for the longest of them; each window keeps
 *   running sums. When the clock's bucket moves, every bucket leaving a
 *   window is subtracted from it once: O(1) per figure, plus the waits the
 *   bucket held for the histogram (amortized O(1) per event). Ring slots
 *   are recycled lazily: a slot is cleared when a newer bucket first
 *   writes to it. `today` is a running accumulator reset at local midnight.
 * - Per event, in order (notes/semantics.md): dedup, late check, clock
 *   advance (windows slide, `today` rolls over, dedup ids and records older
 *   than their horizons are dropped), the event, then every promise whose
 *   due <= now comes due. So a promise kept exactly at its deadline is on
 *   time, and one cancelled exactly at it is due and broken. Expiry runs
 *   before the event because no record may be held longer than the
 *   horizon: at that clock it is already gone.
 * - Pairing state (contacts, promises, complaints, agents) lives in
 *   record arrays indexed by u32 with free lists, found through idmaps
 *   keyed by (queue, id hash). No per-event malloc: arrays grow by doubling.
 * - Expiry and deadlines use lazy min-heaps: an entry carries the record's
 *   generation and time; a stale entry is discarded when it surfaces, and a
 *   heap is rebuilt from its live entries when stale ones dominate
 *   (amortized O(1) per event). Each queue's waiting contacts sit in an
 *   intrusive min-heap by offer ts (the contact knows its slot), so the
 *   oldest waiting offer is exact at any time and leaving costs O(log n).
 * - Closed minutes (optional): a ring of 1-minute buckets like the others
 *   (shared with a window whose bucket is 1 minute). A minute is written
 *   at the end of the event (or wall-clock advance) that takes the clock
 *   past it, after the promises due in it came due, so its `promises_due`
 *   is complete. Only the clock's minute is ever unwritten when an event
 *   starts; if a jump of a whole number of hours lands on its ring slot,
 *   it is written then (without the dues still to come from it).
 */
#include "ccpulse/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/hist.h"
#include "ccpulse/tz.h"
#include "dedup.h"
#include "engine_internal.h"
#include "hash.h"
#include "idmap.h"

static void write_minute(struct ccp_engine *e, uint32_t qi, const struct bucket *b);

/* ---- small containers -------------------------------------------------- */

static int grow_array(void **p, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	uint32_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, (size_t)n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Allocation failure after start-up is fatal by design: the README says
 * why (replay from the committed offset is exact). */
static void oom(void)
{
	fprintf(stderr, "ccpulse: out of memory in the engine; exiting (replay resumes exactly)\n");
	exit(70);
}

static void *pool_at(const struct pool *p, uint32_t i)
{
	return (char *)p->a + (size_t)i * p->size;
}

/* Takes a record (zeroed except its generation). */
static uint32_t pool_take(struct pool *p, uint32_t *gen_out, size_t gen_off, size_t next_off)
{
	uint32_t i;
	if (p->free != NONE) {
		i = p->free;
		memcpy(&p->free, (char *)pool_at(p, i) + next_off, sizeof(uint32_t));
	} else {
		if (grow_array(&p->a, &p->cap, p->n + 1, p->size))
			oom();
		i = p->n++;
		memset(pool_at(p, i), 0, p->size);
	}
	uint32_t gen;
	memcpy(&gen, (char *)pool_at(p, i) + gen_off, sizeof(gen));
	memset(pool_at(p, i), 0, p->size);
	memcpy((char *)pool_at(p, i) + gen_off, &gen, sizeof(gen));
	*gen_out = gen;
	p->live++;
	return i;
}

static void pool_give(struct pool *p, uint32_t i, size_t gen_off, size_t next_off)
{
	char *r = pool_at(p, i);
	uint32_t gen;
	memcpy(&gen, r + gen_off, sizeof(gen));
	gen++;
	memcpy(r + gen_off, &gen, sizeof(gen));
	memcpy(r + next_off, &p->free, sizeof(uint32_t));
	p->free = i;
	p->live--;
}

#define TAKE(pool, type, genp) pool_take(pool, genp, offsetof(type, gen), offsetof(type, next_free))
#define GIVE(pool, type, i) pool_give(pool, i, offsetof(type, gen), offsetof(type, next_free))

/* Heap order: by time, then by record. Equal times are frequent (promises
 * made with one deadline, records opened in one ms) and their pop order
 * decides which pool slots are freed first, so where later records go and
 * the order of the overdue list. Breaking ties by `ref` makes that order a
 * function of the records alone, not of the heap's history (stale entries,
 * compactions): a heap rebuilt from a checkpoint pops like the original. */
static inline bool hent_before(struct hent a, struct hent b)
{
	return a.t < b.t || (a.t == b.t && a.ref < b.ref);
}

static void heap_push(struct heap *h, struct hent e)
{
	if (grow_array((void **)&h->a, &h->cap, h->n + 1, sizeof(*h->a)))
		oom();
	uint32_t i = h->n++;
	while (i) {
		uint32_t p = (i - 1) / 2;
		if (!hent_before(e, h->a[p]))
			break;
		h->a[i] = h->a[p];
		i = p;
	}
	h->a[i] = e;
}

/* Moves `e` down from slot i to where the heap order holds. */
static void sift_down(struct heap *h, uint32_t i, struct hent e)
{
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && hent_before(h->a[c + 1], h->a[c]))
			c++;
		if (!hent_before(h->a[c], e))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	h->a[i] = e;
}

static void heap_pop(struct heap *h)
{
	struct hent last = h->a[--h->n];
	if (h->n)
		sift_down(h, 0, last);
}

static void heap_heapify(struct heap *h)
{
	for (uint32_t k = h->n / 2; k-- > 0;)
		sift_down(h, k, h->a[k]);
}

/* ---- queues, buckets, windows ----------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static struct bucket *slot(struct ccp_engine *e, struct queue *q, uint32_t r, int64_t k)
{
	return &q->buckets[r][(uint64_t)k % e->rings[r].n];
}

static void free_chunks(struct ccp_engine *e, struct bucket *b)
{
	if (b->chunk_head == NONE)
		return;
	e->chunks[b->chunk_tail].next = e->free_chunk;
	e->free_chunk = b->chunk_head;
	b->chunk_head = b->chunk_tail = NONE;
}

/* The bucket for index k, cleared if it still held an older bucket. */
static struct bucket *touch(struct ccp_engine *e, struct queue *q, uint32_t r, int64_t k)
{
	struct bucket *b = slot(e, q, r, k);
	if (b->k != k) {
		if (r == e->min_ring && b->k > e->min_written && b->k < k)
			write_minute(e, (uint32_t)(q - e->queues), b); /* jump of an hour or more */
		free_chunks(e, b);
		memset(&b->s, 0, sizeof(b->s));
		b->has_max = 0;
		b->max_wait = 0;
		b->k = k;
	}
	return b;
}

/* Appends an empty chunk to b's list: a freed one, else the next slot of
 * the array, which the caller made room for. */
static void chunk_append(struct ccp_engine *e, struct bucket *b)
{
	uint32_t c = e->free_chunk;
	if (c != NONE)
		e->free_chunk = e->chunks[c].next;
	else
		c = e->n_chunks++;
	e->chunks[c].n = 0;
	e->chunks[c].next = NONE;
	if (b->chunk_tail == NONE)
		b->chunk_head = c;
	else
		e->chunks[b->chunk_tail].next = c;
	b->chunk_tail = c;
}

static void bucket_add_bin(struct ccp_engine *e, struct bucket *b, uint16_t bin)
{
	if (b->chunk_tail == NONE || e->chunks[b->chunk_tail].n == CHUNK_BINS) {
		if (e->free_chunk == NONE &&
		    grow_array((void **)&e->chunks, &e->cap_chunks, e->n_chunks + 1, sizeof(struct chunk)))
			oom();
		chunk_append(e, b);
	}
	struct chunk *ch = &e->chunks[b->chunk_tail];
	ch->bins[ch->n++] = bin;
}

static void wstate_reset(struct wstate *w)
{
	memset(&w->s, 0, sizeof(w->s));
	if (w->hist.n)
		ccp_hist_clear(&w->hist);
	w->has_max = 0;
	w->max_wait = 0;
}

/* A new queue at index n_queues: the only allocations outside the pools.
 * Returns its index, or NONE (nothing kept) when out of memory. */
static uint32_t queue_add(struct ccp_engine *e, struct ccp_str name, uint64_t h)
{
	if (grow_array((void **)&e->queues, &e->cap_queues, e->n_queues + 1, sizeof(struct queue)))
		return NONE;
	struct queue *q = &e->queues[e->n_queues];
	memset(q, 0, sizeof(*q));
	q->name = malloc(name.len ? name.len : 1);
	q->ws = calloc(e->n_win + 1, sizeof(struct wstate));
	uint32_t r = 0;
	if (!q->name || !q->ws)
		goto fail;
	memcpy(q->name, name.ptr, name.len);
	q->len = name.len;
	for (; r < e->n_rings; r++) {
		q->buckets[r] = malloc(sizeof(struct bucket) * e->rings[r].n);
		if (!q->buckets[r])
			goto fail;
		for (uint32_t i = 0; i < e->rings[r].n; i++) {
			q->buckets[r][i].k = INT64_MIN;
			q->buckets[r][i].chunk_head = q->buckets[r][i].chunk_tail = NONE;
		}
	}
	memcpy(q->thr, e->cfg.sl_threshold_ms, sizeof(q->thr));
	for (uint32_t i = 0; i < e->cfg.n_sl_overrides; i++) {
		const struct ccp_sl_override *o = &e->cfg.sl_overrides[i];
		if (strlen(o->queue) == name.len && memcmp(o->queue, name.ptr, name.len) == 0)
			for (int c = 0; c < CCP_CH__COUNT; c++)
				if (o->threshold_ms[c] > 0)
					q->thr[c] = o->threshold_ms[c];
	}
	if (ccp__idmap_put(&e->queue_map, h, e->n_queues))
		goto fail;
	return e->n_queues++;
fail:
	while (r-- > 0)
		free(q->buckets[r]);
	free(q->name);
	free(q->ws);
	return NONE;
}

static uint32_t queue_get(struct ccp_engine *e, struct ccp_str name)
{
	uint64_t h = ccp__hash_bytes(name.ptr, name.len);
	h = h ? h : 1;
	uint32_t *v = ccp__idmap_find(&e->queue_map, h);
	if (v)
		return *v;
	uint32_t q = queue_add(e, name, h);
	if (q == NONE)
		oom();
	return q;
}

/* Where one event's figures go: its bucket in each ring that still holds
 * it, and the windows (bit w; `today` is bit n_win) whose running sums
 * include it. Found once per event, so each figure then costs a few adds. */
struct at {
	struct queue *q;
	struct bucket *b[MAX_RINGS]; /* NULL: ts is older than that ring */
	uint32_t wmask;
};

static int64_t bucket_of(const struct ring *rg, int64_t ts)
{
	/* Most events fall in the newest bucket: no division for those. */
	if (ts >= rg->nb_start && ts - rg->nb_start < rg->g)
		return rg->nb;
	return floor_div(ts, rg->g);
}

static void at_init(struct ccp_engine *e, struct at *a, uint32_t qi, int64_t ts)
{
	struct queue *q = &e->queues[qi];
	a->q = q;
	a->wmask = 0;
	for (uint32_t r = 0; r < e->n_rings; r++) {
		struct ring *rg = &e->rings[r];
		int64_t k = bucket_of(rg, ts);
		if (k > rg->nb || k <= rg->nb - rg->n) {
			a->b[r] = NULL;
			/* After a jump past the ring, dues still reach the minute
			 * the clock was in, which is not yet written. */
			if (r == e->min_ring && k == e->min_written + 1 && slot(e, q, r, k)->k == k)
				a->b[r] = slot(e, q, r, k);
			continue;
		}
		a->b[r] = touch(e, q, r, k);
		for (uint32_t w = 0; w < e->n_win; w++)
			if (e->win[w].ring == r && k > rg->nb - e->win[w].nbk)
				a->wmask |= 1u << w;
	}
	if (ts >= e->day_start && ts < e->day_end)
		a->wmask |= 1u << e->n_win;
}

/* Adds `amt` to one sums field (by offset) of the event's buckets and
 * windows. ccp_sums holds only 64-bit integers, so any field is an int64. */
static void at_add(const struct ccp_engine *e, const struct at *a, size_t off, int64_t amt)
{
	for (uint32_t r = 0; r < e->n_rings; r++)
		if (a->b[r])
			*(int64_t *)((char *)&a->b[r]->s + off) += amt;
	for (uint32_t m = a->wmask; m; m &= m - 1)
		*(int64_t *)((char *)&a->q->ws[__builtin_ctz(m)].s + off) += amt;
}

#define ADD(a, field, amt) at_add(e, a, offsetof(struct ccp_sums, field), (int64_t)(amt))

static void add_wait(struct ccp_engine *e, const struct at *a, int64_t wait)
{
	uint16_t bin = ccp_hist_bin(wait);
	ADD(a, wait_n, 1);
	ADD(a, wait_sum_ms, wait);
	for (uint32_t r = 0; r < e->n_rings; r++) {
		struct bucket *b = a->b[r];
		if (!b)
			continue;
		bucket_add_bin(e, b, bin);
		if (!b->has_max || wait > b->max_wait) {
			b->max_wait = wait;
			b->has_max = 1;
		}
	}
	for (uint32_t m = a->wmask; m; m &= m - 1) {
		uint32_t wi = (uint32_t)__builtin_ctz(m);
		struct wstate *w = &a->q->ws[wi];
		ccp_hist_add_bin(&w->hist, bin);
		/* Only `today` keeps a running max (it never subtracts); rolling
		 * windows take theirs from their buckets at read time. */
		if (wi == e->n_win && (!w->has_max || wait > w->max_wait)) {
			w->max_wait = wait;
			w->has_max = 1;
		}
	}
}

/* Window w of queue q slides from newest bucket `from` to `to`. */
static void slide(struct ccp_engine *e, struct queue *q, uint32_t w, int64_t from, int64_t to)
{
	struct window *wd = &e->win[w];
	struct wstate *ws = &q->ws[w];
	if (to - from >= (int64_t)wd->nbk) {
		wstate_reset(ws);
		return;
	}
	for (int64_t k = from - wd->nbk + 1; k <= to - wd->nbk; k++) {
		struct bucket *b = slot(e, q, wd->ring, k);
		if (b->k != k)
			continue;
		ccp_sums_sub(&ws->s, &b->s);
		for (uint32_t c = b->chunk_head; c != NONE; c = e->chunks[c].next)
			for (uint16_t i = 0; i < e->chunks[c].n; i++)
				ccp_hist_sub_bin(&ws->hist, e->chunks[c].bins[i]);
	}
}

/* ---- records ---------------------------------------------------------- */

/* ---- the waiting heap of a queue: contacts by offer ts ---------------- */

static struct contact *contact_at(const struct ccp_engine *e, uint32_t i)
{
	return pool_at(&e->contacts, i);
}

static void wh_place(struct ccp_engine *e, struct queue *q, uint32_t pos, uint32_t ci)
{
	q->wh[pos] = ci;
	contact_at(e, ci)->hpos = pos;
}

static void wh_sift(struct ccp_engine *e, struct queue *q, uint32_t pos)
{
	uint32_t ci = q->wh[pos];
	int64_t t = contact_at(e, ci)->offer_ts;
	while (pos) {
		uint32_t p = (pos - 1) / 2;
		if (contact_at(e, q->wh[p])->offer_ts <= t)
			break;
		wh_place(e, q, pos, q->wh[p]);
		pos = p;
	}
	for (;;) {
		uint32_t c = 2 * pos + 1;
		if (c >= q->wn)
			break;
		if (c + 1 < q->wn && contact_at(e, q->wh[c + 1])->offer_ts < contact_at(e, q->wh[c])->offer_ts)
			c++;
		if (contact_at(e, q->wh[c])->offer_ts >= t)
			break;
		wh_place(e, q, pos, q->wh[c]);
		pos = c;
	}
	wh_place(e, q, pos, ci);
}

/* Contact ci starts waiting, or waits again from a new offer ts. */
static void wh_set(struct ccp_engine *e, struct queue *q, uint32_t ci)
{
	struct contact *c = contact_at(e, ci);
	if (c->hpos == NONE) {
		if (grow_array((void **)&q->wh, &q->wcap, q->wn + 1, sizeof(uint32_t)))
			oom();
		c->hpos = q->wn++;
		q->wh[c->hpos] = ci;
	}
	wh_sift(e, q, c->hpos);
}

/* Contact ci stops waiting (answered, or its record is dropped). */
static void wh_remove(struct ccp_engine *e, struct queue *q, uint32_t ci)
{
	struct contact *c = contact_at(e, ci);
	uint32_t pos = c->hpos;
	if (pos == NONE)
		return;
	c->hpos = NONE;
	uint32_t last = q->wh[--q->wn];
	if (pos < q->wn) {
		wh_place(e, q, pos, last);
		wh_sift(e, q, pos);
	}
}

static void release_contact(struct ccp_engine *e, uint32_t i)
{
	struct contact *c = pool_at(&e->contacts, i);
	wh_remove(e, &e->queues[c->q], i);
	ccp__idmap_del(&e->contact_map, c->key);
	c->live = 0;
	GIVE(&e->contacts, struct contact, i);
}

static void release_promise(struct ccp_engine *e, uint32_t i)
{
	struct promise *p = pool_at(&e->promises, i);
	if (p->state == P_OPEN) {
		if (p->came_due)
			e->queues[p->q].promises_overdue--;
		else
			e->queues[p->q].promises_open--;
	}
	ccp__idmap_del(&e->promise_map, p->key);
	p->live = 0;
	GIVE(&e->promises, struct promise, i);
}

static void release_complaint(struct ccp_engine *e, uint32_t i)
{
	struct complaint *c = pool_at(&e->complaints, i);
	e->queues[c->q].complaints_open--;
	ccp__idmap_del(&e->complaint_map, c->key);
	c->live = 0;
	GIVE(&e->complaints, struct complaint, i);
}

static void expiry_push(struct ccp_engine *e, int kind, uint32_t i, uint32_t gen, int64_t start)
{
	heap_push(&e->expiry, (struct hent){start, (uint32_t)kind << 30 | i, gen});
}

/* Drops the stale entries of the expiry heap when they outnumber the live
 * records, so memory follows what is held, not what was ever held. */
static void expiry_fill(struct ccp_engine *e);

static void expiry_compact(struct ccp_engine *e)
{
	uint32_t live = e->contacts.live + e->promises.live + e->complaints.live;
	if (e->expiry.n < 2 * live + 4096)
		return;
	expiry_fill(e);
}

/* The expiry heap holds exactly one entry per live record (the array has
 * room for them). */
static void expiry_fill(struct ccp_engine *e)
{
	e->expiry.n = 0;
	for (uint32_t i = 0; i < e->contacts.n; i++) {
		struct contact *c = pool_at(&e->contacts, i);
		if (c->live)
			e->expiry.a[e->expiry.n++] = (struct hent){c->start, (uint32_t)R_CONTACT << 30 | i, c->gen};
	}
	for (uint32_t i = 0; i < e->promises.n; i++) {
		struct promise *p = pool_at(&e->promises, i);
		if (p->live)
			e->expiry.a[e->expiry.n++] = (struct hent){p->made_ts, (uint32_t)R_PROMISE << 30 | i, p->gen};
	}
	for (uint32_t i = 0; i < e->complaints.n; i++) {
		struct complaint *c = pool_at(&e->complaints, i);
		if (c->live)
			e->expiry.a[e->expiry.n++] = (struct hent){c->opened_ts, (uint32_t)R_COMPLAINT << 30 | i, c->gen};
	}
	heap_heapify(&e->expiry);
}

/* Drops every record held longer than open_horizon (now - start > horizon). */
static void expire(struct ccp_engine *e)
{
	while (e->expiry.n && e->now - e->expiry.a[0].t > e->cfg.open_horizon_ms) {
		struct hent h = e->expiry.a[0];
		heap_pop(&e->expiry);
		uint32_t i = h.ref & 0x3FFFFFFF;
		switch (h.ref >> 30) {
		case R_CONTACT: {
			struct contact *c = pool_at(&e->contacts, i);
			if (c->live && c->gen == h.gen && c->start == h.t) {
				release_contact(e, i);
				e->counters.expired++;
			}
			break;
		}
		case R_PROMISE: {
			struct promise *p = pool_at(&e->promises, i);
			if (p->live && p->gen == h.gen) {
				release_promise(e, i);
				e->counters.expired++;
			}
			break;
		}
		default: {
			struct complaint *c = pool_at(&e->complaints, i);
			if (c->live && c->gen == h.gen && c->opened_ts == h.t) {
				release_complaint(e, i);
				e->counters.expired++;
			}
			break;
		}
		}
	}
	expiry_compact(e);
}

/* Promises whose due <= upto come due, counted in the bucket of `due`.
 * Runs after each event (and after a wall-clock advance), never before
 * the event: a promise kept exactly at its deadline is on time. */
static void process_dues(struct ccp_engine *e, int64_t upto)
{
	while (e->dues.n && e->dues.a[0].t <= upto) {
		struct hent h = e->dues.a[0];
		heap_pop(&e->dues);
		struct promise *p = pool_at(&e->promises, h.ref);
		if (!p->live || p->gen != h.gen || p->came_due)
			continue;
		p->came_due = 1;
		bool cancelled_before = p->state == P_CANCELLED && p->resolved_ts < p->due;
		if (!cancelled_before) {
			struct at a;
			at_init(e, &a, p->q, p->due);
			ADD(&a, promises_due, 1);
			if (p->state == P_KEPT && p->resolved_ts <= p->due)
				ADD(&a, promises_kept_on_time, 1);
			else
				ADD(&a, promises_broken, 1);
		}
		if (p->state != P_OPEN) {
			release_promise(e, h.ref);
		} else {
			e->queues[p->q].promises_open--;
			e->queues[p->q].promises_overdue++;
		}
	}
	if (e->dues.n > 2 * e->promises.live + 4096) {
		e->dues.n = 0;
		for (uint32_t i = 0; i < e->promises.n; i++) {
			struct promise *p = pool_at(&e->promises, i);
			if (p->live && !p->came_due)
				e->dues.a[e->dues.n++] = (struct hent){p->due, i, p->gen};
		}
		heap_heapify(&e->dues);
	}
}

static bool sums_empty(const struct ccp_sums *s)
{
	static const struct ccp_sums zero;
	return memcmp(s, &zero, sizeof(zero)) == 0;
}

static void write_minute(struct ccp_engine *e, uint32_t qi, const struct bucket *b)
{
	if (sums_empty(&b->s))
		return;
	struct ccp_window_stats ws = {.sums = b->s, .has_max_wait = b->has_max,
				      .max_wait_ms = b->max_wait, .hist = &e->min_hist,
				      .window_start_ms = b->k * CCP_MINUTE_MS,
				      .window_end_ms = (b->k + 1) * CCP_MINUTE_MS};
	ccp_hist_clear(&e->min_hist);
	for (uint32_t c = b->chunk_head; c != NONE; c = e->chunks[c].next)
		for (uint16_t i = 0; i < e->chunks[c].n; i++)
			ccp_hist_add_bin(&e->min_hist, e->chunks[c].bins[i]);
	e->cfg.minute_cb(e->cfg.minute_ud, qi, &ws);
}

/* Writes every minute the clock has passed; runs once an event (or an
 * advance) and its dues are done. */
static void close_minutes(struct ccp_engine *e)
{
	if (e->min_ring == NONE)
		return;
	const struct ring *rg = &e->rings[e->min_ring];
	int64_t last = rg->nb - 1;
	if (last <= e->min_written)
		return;
	/* Unwritten: the minute the clock was in before (wherever it is now),
	 * and minutes inside the ring that this event's dues reached. */
	int64_t from = e->min_written + 1, oldest = rg->nb - (int64_t)rg->n + 1;
	for (int64_t m = from; m <= last; m = m == from && m < oldest ? oldest : m + 1)
		for (uint32_t qi = 0; qi < e->n_queues; qi++) {
			const struct bucket *b = slot(e, &e->queues[qi], e->min_ring, m);
			if (b->k == m)
				write_minute(e, qi, b);
		}
	e->min_written = last;
}

/* ---- clock ---------------------------------------------------------------- */

static void set_now(struct ccp_engine *e, int64_t now)
{
	if (e->now != INT64_MIN && now <= e->now)
		return;
	bool first = e->now == INT64_MIN;
	e->now = now;
	for (uint32_t r = 0; r < e->n_rings; r++) {
		struct ring *rg = &e->rings[r];
		int64_t nb = floor_div(now, rg->g);
		if (!first && nb != rg->nb)
			for (uint32_t qi = 0; qi < e->n_queues; qi++)
				for (uint32_t w = 0; w < e->n_win; w++)
					if (e->win[w].ring == r)
						slide(e, &e->queues[qi], w, rg->nb, nb);
		rg->nb = nb;
		rg->nb_start = nb * rg->g;
	}
	if (first && e->min_ring != NONE)
		e->min_written = e->rings[e->min_ring].nb - 1;
	if (now >= e->day_end || first) {
		ccp_tz_day_bounds(e->cfg.tz, now, &e->day_start, &e->day_end);
		for (uint32_t qi = 0; qi < e->n_queues; qi++)
			wstate_reset(&e->queues[qi].ws[e->n_win]);
	}
	ccp__dedup_expire(&e->dedup, now);
	expire(e);
}

void ccp_engine_advance_to(struct ccp_engine *e, int64_t now_ms)
{
	if (e->now == INT64_MIN || now_ms <= e->now)
		return;
	set_now(e, now_ms);
	process_dues(e, e->now);
	close_minutes(e);
}

/* ---- events --------------------------------------------------------------- */

static uint32_t contact_find(struct ccp_engine *e, uint64_t key)
{
	uint32_t *v = ccp__idmap_find(&e->contact_map, key);
	return v ? *v : NONE;
}

static uint32_t contact_new(struct ccp_engine *e, uint32_t q, uint64_t key)
{
	uint32_t gen;
	uint32_t i = TAKE(&e->contacts, struct contact, &gen);
	struct contact *c = pool_at(&e->contacts, i);
	c->key = key;
	c->q = q;
	c->live = 1;
	c->hpos = NONE;
	if (ccp__idmap_put(&e->contact_map, key, i))
		oom();
	return i;
}

static void on_contact(struct ccp_engine *e, const struct ccp_event *ev, uint32_t q)
{
	uint64_t key = ccp__key(q, ccp__hash_bytes(ev->contact.ptr, ev->contact.len));
	uint32_t ci = contact_find(e, key);
	struct contact *c = ci == NONE ? NULL : pool_at(&e->contacts, ci);
	int64_t ts = ev->ts_ms;
	struct at a;
	at_init(e, &a, q, ts);
	switch (ev->type) {
	case CCP_EV_CONTACT_OFFERED:
		ADD(&a, offered, 1);
		if (ev->transfer_from.len)
			ADD(&a, transferred_in, 1);
		if (!c) {
			ci = contact_new(e, q, key);
			c = pool_at(&e->contacts, ci);
		}
		c->has_offer = 1;
		c->has_answer = 0; /* a new offer starts a new wait */
		c->offer_ts = ts;
		c->channel = (uint8_t)ev->channel;
		c->tin = ev->transfer_from.len > 0;
		c->start = ts;
		wh_set(e, &e->queues[q], ci);
		expiry_push(e, R_CONTACT, ci, c->gen, ts);
		break;
	case CCP_EV_CONTACT_ANSWERED:
		ADD(&a, answered, 1);
		if (c && c->has_offer) {
			int64_t wait = ts - c->offer_ts;
			add_wait(e, &a, wait);
			if (wait <= e->queues[q].thr[c->channel])
				ADD(&a, answered_in_sl, 1);
		} else {
			e->counters.unmatched++;
		}
		if (!c) {
			ci = contact_new(e, q, key);
			c = pool_at(&e->contacts, ci);
			c->start = ts;
			expiry_push(e, R_CONTACT, ci, c->gen, ts);
		}
		wh_remove(e, &e->queues[q], ci);
		c->has_answer = 1;
		c->answer_ts = ts;
		break;
	case CCP_EV_CONTACT_ABANDONED:
		if (c && c->has_offer) {
			if (ts - c->offer_ts < e->cfg.short_abandon_ms)
				ADD(&a, abandoned_short, 1);
			else
				ADD(&a, abandoned, 1);
		} else {
			e->counters.unmatched++;
			ADD(&a, abandoned, 1);
		}
		if (c)
			release_contact(e, ci);
		break;
	case CCP_EV_CONTACT_TRANSFERRED:
		ADD(&a, transferred_out, 1);
		if (c)
			release_contact(e, ci);
		break;
	case CCP_EV_CONTACT_ENDED:
		ADD(&a, ended, 1);
		if (ev->resolved)
			ADD(&a, resolved, 1);
		if (c && c->has_answer) {
			ADD(&a, aht_n, 1);
			ADD(&a, aht_sum_ms, ts - c->answer_ts);
		}
		if (ev->resolved && !(c && c->has_offer && c->tin))
			ADD(&a, fcr, 1);
		if (c)
			release_contact(e, ci);
		break;
	default:
		break;
	}
}

static void on_promise(struct ccp_engine *e, const struct ccp_event *ev, uint32_t q)
{
	uint64_t key = ccp__key(q, ccp__hash_bytes(ev->promise.ptr, ev->promise.len));
	uint32_t *v = ccp__idmap_find(&e->promise_map, key);
	uint32_t pi = v ? *v : NONE;
	struct promise *p = pi == NONE ? NULL : pool_at(&e->promises, pi);
	int64_t ts = ev->ts_ms;
	if (ev->type == CCP_EV_PROMISE_MADE) {
		if (p) {
			e->counters.unmatched++;
			return;
		}
		struct at a;
		at_init(e, &a, q, ts);
		ADD(&a, promises_made, 1);
		uint32_t gen;
		pi = TAKE(&e->promises, struct promise, &gen);
		p = pool_at(&e->promises, pi);
		p->key = key;
		p->q = q;
		p->live = 1;
		p->made_ts = ts;
		p->due = ev->due_ms;
		p->state = P_OPEN;
		p->id_len = (uint8_t)ev->promise.len;
		memcpy(p->id, ev->promise.ptr, ev->promise.len);
		if (ccp__idmap_put(&e->promise_map, key, pi))
			oom();
		e->queues[q].promises_open++;
		heap_push(&e->dues, (struct hent){p->due, pi, gen});
		expiry_push(e, R_PROMISE, pi, gen, ts);
		return;
	}
	if (!p) {
		e->counters.unmatched++;
		return;
	}
	if (p->state != P_OPEN)
		return; /* only the first kept or cancelled counts */
	p->state = ev->type == CCP_EV_PROMISE_KEPT ? P_KEPT : P_CANCELLED;
	p->resolved_ts = ts;
	if (p->state == P_KEPT && ts > p->due) {
		struct at a;
		at_init(e, &a, q, ts);
		ADD(&a, promises_kept_late, 1);
	}
	if (p->came_due) {
		/* Kept or cancelled and due: nothing left to count, release. */
		e->queues[q].promises_overdue--;
		release_promise(e, pi);
	} else {
		e->queues[q].promises_open--;
	}
}

static void on_complaint(struct ccp_engine *e, const struct ccp_event *ev, uint32_t q)
{
	uint64_t key = ccp__key(q, ccp__hash_bytes(ev->complaint.ptr, ev->complaint.len));
	uint32_t *v = ccp__idmap_find(&e->complaint_map, key);
	uint32_t ci = v ? *v : NONE;
	int64_t ts = ev->ts_ms;
	struct at a;
	at_init(e, &a, q, ts);
	if (ev->type == CCP_EV_COMPLAINT_OPENED) {
		ADD(&a, complaints_opened, 1);
		struct complaint *c;
		if (ci == NONE) {
			uint32_t gen;
			ci = TAKE(&e->complaints, struct complaint, &gen);
			c = pool_at(&e->complaints, ci);
			c->key = key;
			c->q = q;
			c->live = 1;
			if (ccp__idmap_put(&e->complaint_map, key, ci))
				oom();
			e->queues[q].complaints_open++;
		} else {
			c = pool_at(&e->complaints, ci);
		}
		c->opened_ts = ts;
		expiry_push(e, R_COMPLAINT, ci, c->gen, ts);
		return;
	}
	ADD(&a, complaints_resolved, 1);
	if (ci != NONE) {
		struct complaint *c = pool_at(&e->complaints, ci);
		ADD(&a, complaint_res_n, 1);
		ADD(&a, complaint_res_sum_ms, ts - c->opened_ts);
		release_complaint(e, ci);
	}
}

static void on_survey(struct ccp_engine *e, const struct ccp_event *ev, uint32_t q)
{
	int64_t ts = ev->ts_ms;
	struct at a;
	at_init(e, &a, q, ts);
	ADD(&a, csat_n, 1);
	ADD(&a, csat_sum, ev->csat);
	if (ev->csat >= 4)
		ADD(&a, csat_satisfied, 1);
	for (int d = 0; d < CCP_DIM__COUNT; d++) {
		if (!ev->dims[d])
			continue;
		at_add(e, &a, offsetof(struct ccp_sums, dim_n) + (size_t)d * sizeof(uint64_t), 1);
		at_add(e, &a, offsetof(struct ccp_sums, dim_sum) + (size_t)d * sizeof(uint64_t), ev->dims[d]);
	}
}

static void agent_count(struct ccp_engine *e, struct agent *a, int64_t sign)
{
	if (!a->seen || a->state == CCP_AGENT_OFFLINE)
		return;
	for (uint32_t i = 0; i < a->nq; i++)
		e->queues[a->qs[i]].agents[a->state] += (uint64_t)sign;
	if (a->nq)
		e->agents_total[a->state] += (uint64_t)sign;
}

static void on_agent(struct ccp_engine *e, const struct ccp_event *ev)
{
	uint64_t key = ccp__hash_bytes(ev->agent.ptr, ev->agent.len);
	key = key ? key : 1;
	uint32_t *v = ccp__idmap_find(&e->agent_map, key);
	uint32_t ai;
	if (v) {
		ai = *v;
	} else {
		if (grow_array((void **)&e->agents, &e->cap_agents, e->n_agents + 1, sizeof(struct agent)))
			oom();
		ai = e->n_agents++;
		memset(&e->agents[ai], 0, sizeof(struct agent));
		e->agents[ai].key = key;
		if (ccp__idmap_put(&e->agent_map, key, ai))
			oom();
	}
	/* Resolve queues first: queue_get may move e->queues but not agents. */
	struct agent *a = &e->agents[ai];
	agent_count(e, a, -1);
	if (grow_array((void **)&a->qs, &a->cap, ev->n_queues ? ev->n_queues : 1, sizeof(uint32_t)))
		oom();
	for (uint32_t i = 0; i < ev->n_queues; i++)
		a->qs[i] = queue_get(e, ev->queues[i]);
	a->nq = ev->n_queues;
	a->state = (uint8_t)ev->state;
	a->seen = 1;
	agent_count(e, a, +1);
}

void ccp_engine_prefetch(const struct ccp_engine *e, const struct ccp_event *ev)
{
	/* The dedup slot, and for contact events the contact's map slot: the
	 * two random accesses of the common events. */
	ccp__dedup_prefetch(&e->dedup, ccp__hash_bytes(ev->id.ptr, ev->id.len));
	if (ev->type > CCP_EV_CONTACT_ENDED || !ev->queue.len)
		return;
	uint64_t h = ccp__hash_bytes(ev->queue.ptr, ev->queue.len);
	const uint32_t *q = ccp__idmap_find(&e->queue_map, h ? h : 1);
	if (q)
		ccp__idmap_prefetch(&e->contact_map,
				    ccp__key(*q, ccp__hash_bytes(ev->contact.ptr, ev->contact.len)));
}

enum ccp_apply_result ccp_engine_apply(struct ccp_engine *e, const struct ccp_event *ev)
{
	int64_t before = e->now;
	int64_t after = before == INT64_MIN || ev->ts_ms > before ? ev->ts_ms : before;
	uint64_t idh = ccp__hash_bytes(ev->id.ptr, ev->id.len);
	if (ccp__dedup_check_add(&e->dedup, idh, after)) {
		e->counters.duplicates++;
		return CCP_DUPLICATE;
	}
	if (before != INT64_MIN && ev->ts_ms < before - e->longest_ms) {
		e->counters.late_events++;
		return CCP_LATE;
	}
	set_now(e, after);
	switch (ev->type) {
	case CCP_EV_AGENT_STATE:
		on_agent(e, ev);
		break;
	case CCP_EV_PROMISE_MADE:
	case CCP_EV_PROMISE_KEPT:
	case CCP_EV_PROMISE_CANCELLED:
		on_promise(e, ev, queue_get(e, ev->queue));
		break;
	case CCP_EV_SURVEY_SUBMITTED:
		on_survey(e, ev, queue_get(e, ev->queue));
		break;
	case CCP_EV_COMPLAINT_OPENED:
	case CCP_EV_COMPLAINT_RESOLVED:
		on_complaint(e, ev, queue_get(e, ev->queue));
		break;
	default:
		on_contact(e, ev, queue_get(e, ev->queue));
		break;
	}
	process_dues(e, e->now);
	close_minutes(e);
	return CCP_APPLIED;
}

/* ---- lifecycle ------------------------------------------------------------ */

void ccp_engine_config_defaults(struct ccp_engine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	static const struct {
		const char *name;
		int64_t len, g;
	} w[] = {{"5m", 300000, 10000}, {"15m", 900000, 10000}, {"1h", 3600000, 10000}, {"24h", 86400000, 300000}};
	for (uint32_t i = 0; i < 4; i++) {
		snprintf(cfg->windows[i].name, CCP_WINDOW_NAME_MAX, "%s", w[i].name);
		cfg->windows[i].length_ms = w[i].len;
		cfg->windows[i].bucket_ms = w[i].g;
	}
	cfg->n_windows = 4;
	cfg->short_abandon_ms = 5000;
	cfg->sl_threshold_ms[CCP_CH_VOICE] = 20000;
	cfg->sl_threshold_ms[CCP_CH_CHAT] = 60000;
	cfg->sl_threshold_ms[CCP_CH_SMS] = 300000;
	cfg->sl_threshold_ms[CCP_CH_SOCIAL] = 3600000;
	cfg->sl_threshold_ms[CCP_CH_EMAIL] = 14400000;
	cfg->sl_threshold_ms[CCP_CH_VIDEO] = 20000;
	cfg->sl_variant = CCP_SL_ANSWERED_ABANDONED;
	cfg->dedup_horizon_ms = 86400000;
	cfg->dedup_max_ids = 4000000;
	cfg->open_horizon_ms = 7 * 86400000LL;
	cfg->tz = NULL;
}

struct ccp_engine *ccp_engine_new(const struct ccp_engine_config *cfg, char *err, size_t errlen)
{
	if (cfg->n_windows < 1 || cfg->n_windows > CCP_MAX_WINDOWS) {
		snprintf(err, errlen, "windows: need 1..%d, got %u", CCP_MAX_WINDOWS, cfg->n_windows);
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->n_windows; i++) {
		const struct ccp_window_def *w = &cfg->windows[i];
		if (w->bucket_ms <= 0 || w->length_ms <= 0 || w->length_ms % w->bucket_ms ||
		    w->length_ms / w->bucket_ms > 1000000) {
			snprintf(err, errlen, "window %s: length %lld ms must be a positive multiple of bucket %lld ms (at most 10^6 buckets)",
				 w->name, (long long)w->length_ms, (long long)w->bucket_ms);
			return NULL;
		}
	}
	struct ccp_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "engine: out of memory");
		return NULL;
	}
	e->cfg = *cfg;
	e->now = INT64_MIN;
	e->day_start = e->day_end = INT64_MIN;
	e->free_chunk = NONE;
	e->contacts = (struct pool){.free = NONE, .size = sizeof(struct contact)};
	e->promises = (struct pool){.free = NONE, .size = sizeof(struct promise)};
	e->complaints = (struct pool){.free = NONE, .size = sizeof(struct complaint)};
	e->n_win = cfg->n_windows;
	for (uint32_t i = 0; i < cfg->n_windows; i++) {
		const struct ccp_window_def *w = &cfg->windows[i];
		uint32_t r = 0;
		while (r < e->n_rings && e->rings[r].g != w->bucket_ms)
			r++;
		if (r == e->n_rings)
			e->rings[e->n_rings++] = (struct ring){w->bucket_ms, 0, INT64_MIN, INT64_MIN};
		uint32_t nbk = (uint32_t)(w->length_ms / w->bucket_ms);
		if (nbk > e->rings[r].n)
			e->rings[r].n = nbk;
		memcpy(e->win[i].name, w->name, CCP_WINDOW_NAME_MAX);
		e->win[i].name[CCP_WINDOW_NAME_MAX - 1] = 0;
		e->win[i].ring = r;
		e->win[i].nbk = nbk;
		if (w->length_ms > e->longest_ms)
			e->longest_ms = w->length_ms;
	}
	e->min_ring = NONE;
	e->min_written = INT64_MIN;
	if (cfg->minute_cb) {
		/* An hour of minutes: only a clock jump that long can reach the
		 * slot of a minute not yet written. */
		uint32_t r = 0;
		while (r < e->n_rings && e->rings[r].g != CCP_MINUTE_MS)
			r++;
		if (r == MAX_RINGS) {
			snprintf(err, errlen, "windows: too many bucket sizes to add closed minutes");
			free(e);
			return NULL;
		}
		if (r == e->n_rings)
			e->rings[e->n_rings++] = (struct ring){CCP_MINUTE_MS, 0, INT64_MIN, INT64_MIN};
		if (e->rings[r].n < 60)
			e->rings[r].n = 60;
		e->min_ring = r;
	}
	if (ccp__idmap_init(&e->queue_map, 64) || ccp__idmap_init(&e->contact_map, 1024) ||
	    ccp__idmap_init(&e->promise_map, 256) || ccp__idmap_init(&e->complaint_map, 64) ||
	    ccp__idmap_init(&e->agent_map, 64) ||
	    ccp__dedup_init(&e->dedup, cfg->dedup_horizon_ms, cfg->dedup_max_ids)) {
		snprintf(err, errlen, "engine: out of memory");
		ccp_engine_free(e);
		return NULL;
	}
	return e;
}

void ccp_engine_free(struct ccp_engine *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < e->n_queues; i++) {
		free(e->queues[i].name);
		free(e->queues[i].ws);
		free(e->queues[i].wh);
		for (uint32_t r = 0; r < e->n_rings; r++)
			free(e->queues[i].buckets[r]);
	}
	for (uint32_t i = 0; i < e->n_agents; i++)
		free(e->agents[i].qs);
	free(e->queues);
	free(e->agents);
	free(e->chunks);
	free(e->contacts.a);
	free(e->promises.a);
	free(e->complaints.a);
	free(e->expiry.a);
	free(e->dues.a);
	ccp__idmap_deinit(&e->queue_map);
	ccp__idmap_deinit(&e->contact_map);
	ccp__idmap_deinit(&e->promise_map);
	ccp__idmap_deinit(&e->complaint_map);
	ccp__idmap_deinit(&e->agent_map);
	ccp__dedup_deinit(&e->dedup);
	free(e);
}

/* ---- restore from a checkpoint (src/snapshot.c) ---------------------------
 * The checkpoint carries the primary state; everything here is derived from
 * it, so a restored engine cannot hold a sum or heap that disagrees with its
 * records. None of this runs on the event path. */

uint32_t ccp__engine_queue_add(struct ccp_engine *e, struct ccp_str name, uint64_t h)
{
	return queue_add(e, name, h);
}

int ccp__engine_pool_reserve(struct pool *p, uint32_t n)
{
	return grow_array(&p->a, &p->cap, n, p->size);
}

int ccp__engine_bucket_add_bins(struct ccp_engine *e, struct bucket *b, uint16_t bin, uint32_t count)
{
	/* Room for every chunk up front: one allocation, not one per chunk. */
	uint64_t need = (uint64_t)e->n_chunks + count / CHUNK_BINS + 2;
	if (need > UINT32_MAX / 2)
		return -ENOMEM;
	if (grow_array((void **)&e->chunks, &e->cap_chunks, (uint32_t)need, sizeof(struct chunk)))
		return -ENOMEM;
	while (count) {
		if (b->chunk_tail == NONE || e->chunks[b->chunk_tail].n == CHUNK_BINS)
			chunk_append(e, b);
		struct chunk *ch = &e->chunks[b->chunk_tail];
		uint32_t room = (uint32_t)(CHUNK_BINS - ch->n);
		uint32_t take = room < count ? room : count;
		for (uint32_t i = 0; i < take; i++)
			ch->bins[ch->n + i] = bin;
		ch->n = (uint16_t)(ch->n + take);
		count -= take;
	}
	return 0;
}

/* Each rolling window of each queue as the sum of the buckets it covers:
 * exactly what its running sums hold, since every figure added to a window
 * was added to its bucket, and every bucket that left was subtracted. */
static void rebuild_windows(struct ccp_engine *e)
{
	for (uint32_t qi = 0; qi < e->n_queues; qi++) {
		struct queue *q = &e->queues[qi];
		for (uint32_t w = 0; w < e->n_win; w++) {
			struct wstate *ws = &q->ws[w];
			wstate_reset(ws);
			const struct ring *rg = &e->rings[e->win[w].ring];
			if (rg->nb == INT64_MIN)
				continue;
			for (int64_t k = rg->nb - e->win[w].nbk + 1; k <= rg->nb; k++) {
				const struct bucket *b = slot(e, q, e->win[w].ring, k);
				if (b->k != k)
					continue;
				ccp_sums_add(&ws->s, &b->s);
				for (uint32_t c = b->chunk_head; c != NONE; c = e->chunks[c].next)
					for (uint16_t i = 0; i < e->chunks[c].n; i++)
						ccp_hist_add_bin(&ws->hist, e->chunks[c].bins[i]);
			}
		}
	}
}

int ccp__engine_rebuild(struct ccp_engine *e)
{
	for (uint32_t r = 0; r < e->n_rings; r++) {
		struct ring *rg = &e->rings[r];
		rg->nb = e->now == INT64_MIN ? INT64_MIN : floor_div(e->now, rg->g);
		rg->nb_start = e->now == INT64_MIN ? INT64_MIN : rg->nb * rg->g;
	}
	rebuild_windows(e);

	/* Live counts, from the records. */
	for (uint32_t qi = 0; qi < e->n_queues; qi++) {
		struct queue *q = &e->queues[qi];
		q->promises_open = q->promises_overdue = q->complaints_open = 0;
		memset(q->agents, 0, sizeof(q->agents));
		q->wn = 0;
	}
	memset(e->agents_total, 0, sizeof(e->agents_total));
	for (uint32_t i = 0; i < e->n_agents; i++)
		agent_count(e, &e->agents[i], +1);

	/* Waiting heaps: room first, so that wh_set cannot fail. */
	for (uint32_t i = 0; i < e->contacts.n; i++) {
		struct contact *c = contact_at(e, i);
		c->hpos = NONE;
		if (c->live && c->has_offer && !c->has_answer)
			e->queues[c->q].wn++;
	}
	for (uint32_t qi = 0; qi < e->n_queues; qi++) {
		struct queue *q = &e->queues[qi];
		if (grow_array((void **)&q->wh, &q->wcap, q->wn, sizeof(uint32_t)))
			return -ENOMEM;
		q->wn = 0;
	}
	uint32_t n_exp = 0, n_due = 0;
	for (uint32_t i = 0; i < e->contacts.n; i++) {
		struct contact *c = contact_at(e, i);
		if (!c->live)
			continue;
		n_exp++;
		if (c->has_offer && !c->has_answer)
			wh_set(e, &e->queues[c->q], i);
	}
	for (uint32_t i = 0; i < e->promises.n; i++) {
		struct promise *p = pool_at(&e->promises, i);
		if (!p->live)
			continue;
		n_exp++;
		if (p->state == P_OPEN) {
			if (p->came_due)
				e->queues[p->q].promises_overdue++;
			else
				e->queues[p->q].promises_open++;
		}
		if (!p->came_due)
			n_due++;
	}
	for (uint32_t i = 0; i < e->complaints.n; i++) {
		struct complaint *c = pool_at(&e->complaints, i);
		if (!c->live)
			continue;
		n_exp++;
		e->queues[c->q].complaints_open++;
	}

	/* One heap entry per live record at its current times: pops in the same
	 * order as the original's, whose extra entries were all stale. */
	if (grow_array((void **)&e->dues.a, &e->dues.cap, n_due, sizeof(struct hent)) ||
	    grow_array((void **)&e->expiry.a, &e->expiry.cap, n_exp, sizeof(struct hent)))
		return -ENOMEM;
	e->dues.n = 0;
	for (uint32_t i = 0; i < e->promises.n; i++) {
		struct promise *p = pool_at(&e->promises, i);
		if (p->live && !p->came_due)
			e->dues.a[e->dues.n++] = (struct hent){p->due, i, p->gen};
	}
	heap_heapify(&e->dues);
	expiry_fill(e);
	return 0;
}

/* ---- readers -------------------------------------------------------------- */

int64_t ccp_engine_now(const struct ccp_engine *e)
{
	return e->now;
}

void ccp_engine_counters(const struct ccp_engine *e, struct ccp_engine_counters *out)
{
	*out = e->counters;
}

uint32_t ccp_engine_queue_count(const struct ccp_engine *e)
{
	return e->n_queues;
}

struct ccp_str ccp_engine_queue_name(const struct ccp_engine *e, uint32_t q)
{
	return (struct ccp_str){e->queues[q].name, e->queues[q].len};
}

uint32_t ccp_engine_window_count(const struct ccp_engine *e)
{
	return e->n_win + 1;
}

const char *ccp_engine_window_name(const struct ccp_engine *e, uint32_t w)
{
	return w < e->n_win ? e->win[w].name : "today";
}

void ccp_engine_window_stats(const struct ccp_engine *e, uint32_t qi, uint32_t w,
			     struct ccp_window_stats *out)
{
	const struct queue *q = &e->queues[qi];
	const struct wstate *ws = &q->ws[w];
	memset(out, 0, sizeof(*out));
	out->sums = ws->s;
	out->hist = &ws->hist;
	if (e->now == INT64_MIN)
		return;
	if (w == e->n_win) {
		out->has_max_wait = ws->has_max;
		out->max_wait_ms = ws->max_wait;
		out->window_start_ms = e->day_start;
		out->window_end_ms = e->day_end;
		return;
	}
	const struct window *wd = &e->win[w];
	const struct ring *rg = &e->rings[wd->ring];
	for (int64_t k = rg->nb - wd->nbk + 1; k <= rg->nb; k++) {
		const struct bucket *b = &q->buckets[wd->ring][(uint64_t)k % rg->n];
		if (b->k == k && b->has_max && (!out->has_max_wait || b->max_wait > out->max_wait_ms)) {
			out->has_max_wait = true;
			out->max_wait_ms = b->max_wait;
		}
	}
	out->window_start_ms = (rg->nb - wd->nbk + 1) * rg->g;
	out->window_end_ms = (rg->nb + 1) * rg->g;
}

void ccp_engine_live_stats(const struct ccp_engine *ce, uint32_t qi, struct ccp_live_stats *out)
{
	const struct queue *q = &ce->queues[qi];
	memset(out, 0, sizeof(*out));
	out->waiting = q->wn;
	out->has_oldest_wait = q->wn > 0;
	out->oldest_wait_start_ms = q->wn ? contact_at(ce, q->wh[0])->offer_ts : 0;
	memcpy(out->agents, q->agents, sizeof(out->agents));
	out->agents[CCP_AGENT_OFFLINE] = 0;
	out->promises_open = q->promises_open;
	out->promises_overdue = q->promises_overdue;
	out->complaints_open = q->complaints_open;
}

void ccp_engine_agents_total(const struct ccp_engine *e, uint64_t out[CCP_AGENT__COUNT])
{
	memcpy(out, e->agents_total, sizeof(e->agents_total));
	out[CCP_AGENT_OFFLINE] = 0;
}

void ccp_engine_overdue_foreach(const struct ccp_engine *e, ccp_engine_overdue_cb cb, void *ud)
{
	for (uint32_t i = 0; i < e->promises.n; i++) {
		const struct promise *p = pool_at(&e->promises, i);
		if (p->live && p->came_due && p->state == P_OPEN)
			cb(ud, ccp_engine_queue_name(e, p->q), (struct ccp_str){p->id, p->id_len}, p->due);
	}
}

size_t ccp_engine_memory_bytes(const struct ccp_engine *e)
{
	size_t b = sizeof(*e);
	for (uint32_t i = 0; i < e->n_queues; i++) {
		b += sizeof(struct queue) + e->queues[i].len + (e->n_win + 1) * sizeof(struct wstate) +
		     (size_t)e->queues[i].wcap * sizeof(uint32_t);
		for (uint32_t r = 0; r < e->n_rings; r++)
			b += (size_t)e->rings[r].n * sizeof(struct bucket);
	}
	for (uint32_t i = 0; i < e->n_agents; i++)
		b += sizeof(struct agent) + (size_t)e->agents[i].cap * sizeof(uint32_t);
	b += (size_t)e->cap_chunks * sizeof(struct chunk);
	b += (size_t)e->contacts.cap * e->contacts.size + (size_t)e->promises.cap * e->promises.size +
	     (size_t)e->complaints.cap * e->complaints.size;
	b += ((size_t)e->expiry.cap + e->dues.cap) * sizeof(struct hent);
	b += ccp__idmap_bytes(&e->queue_map) + ccp__idmap_bytes(&e->contact_map) +
	     ccp__idmap_bytes(&e->promise_map) + ccp__idmap_bytes(&e->complaint_map) +
	     ccp__idmap_bytes(&e->agent_map) + ccp__dedup_bytes(&e->dedup);
	return b;
}
