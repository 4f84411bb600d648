/* Engine checkpoints (see include/ccpulse/snapshot.h).
 *
 * DESIGN
 * - What is stored is the engine's primary state, the part no other part
 *   can be computed from: the clock, queue names in index order, the
 *   buckets each ring holds, `today`, the records of the three pools at
 *   their pool indices with each pool's free list in order, agents, the
 *   dedup ids in eviction order, the counters. Everything else is rebuilt
 *   by ccp__engine_rebuild (src/engine.c): rolling windows are the sums of
 *   their buckets, the heaps hold one entry per live record, and live counts
 *   come from the records. A restored engine therefore cannot disagree with
 *   itself, whatever the bytes said.
 * - Identical output, not identical memory. Pool indices and free lists are
 *   kept because they decide where later records go, and with that the
 *   order of the overdue list; the heaps order equal times by record index
 *   (engine.c, hent_before), so a rebuilt heap pops exactly like the
 *   original with its stale entries. Stale ring slots (older than the ring)
 *   are dropped: nothing reads them again.
 * - Compact: varints, zigzag where signed, times as deltas from the clock
 *   (or from the record's own start), bucket rings as the list of held
 *   buckets, sums as a bit mask of the non-zero fields and their values,
 *   histograms as runs of (bin gap, count), promise ids sharing a prefix
 *   with the previous one. Hashed keys (contacts, complaints, agents, dedup
 *   ids) are 8 raw bytes: hashes do not compress.
 * - Loading trusts nothing: every count is checked against the bytes left
 *   before anything is allocated for it, so allocations stay within a
 *   constant factor of the input (two exceptions, both bounded: a queue's
 *   rings, sized by the config, and the waits of bucket histograms, which
 *   a count expands, capped at CCP_SNAPSHOT_MAX_WAITS); every index, enum,
 *   flag and time is checked against what the engine can hold; every loop
 *   runs to a checked count or over strictly growing offsets below a ring's
 *   size. The checksum catches corruption; the checks make forged bytes that
 *   pass it harmless (tests/fuzz/fuzz_snapshot.c re-seals mutated input to
 *   reach them).
 */
#include "ccpulse/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/tz.h"
#include "engine_internal.h"
#include "hash.h"
#include "snapshot_internal.h"

#define MAGIC "CCPK"
#define HEADER_BYTES CCP__SNAPSHOT_HEADER_BYTES
#define TRAILER_BYTES CCP__SNAPSHOT_TRAILER_BYTES
#define SECTION_HEAD_BYTES 5 /* tag, u32 length */

#define SUMS_WORDS (sizeof(struct ccp_sums) / sizeof(uint64_t))
_Static_assert(SUMS_WORDS <= 64, "one 64-bit mask covers the sums");
/* Fields that are signed (time sums): zigzag-coded. */
#define SUMS_BIT(f) (1ULL << (offsetof(struct ccp_sums, f) / sizeof(uint64_t)))
#define SUMS_SIGNED (SUMS_BIT(wait_sum_ms) | SUMS_BIT(aht_sum_ms) | SUMS_BIT(complaint_res_sum_ms))
/* Every sum, read as int64, stays within +-2^62: the engine adds to sums in
 * int64, and this leaves room for any number of real events after a load. */
#define SUMS_LIMIT ((int64_t)1 << 62)

/* Times a checkpoint holds: 1970 to year 9999 (deadlines may be later).
 * Not before 1970: the engine maps bucket k to slot (uint64_t)k % n, which
 * for k < 0 can put two buckets of one ring in one slot, and then a
 * window's running sums no longer equal its buckets' (a rebuilt engine
 * would differ). Only the API gets such times in; decoders refuse them. */
#define TIME_MIN 0
#define TIME_MAX CCP_SNAPSHOT_TS_MAX

/* Record indices fit in 30 bits (the expiry heap keeps the kind above). */
#define MAX_RECORDS (1u << 30)

enum section {
	S_CONFIG = 1,
	S_CLOCK,
	S_QUEUES,
	S_BUCKETS,
	S_TODAY,
	S_CONTACTS,
	S_PROMISES,
	S_COMPLAINTS,
	S_AGENTS,
	S_DEDUP,
	S__END
};

static const char *const section_names[S__END] = {
	"header", "config", "clock", "queues", "buckets", "today",
	"contacts", "promises", "complaints", "agents", "dedup",
};

/* ---- little-endian words and the checksum ------------------------------ */

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void set_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void set_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* One multiply-rotate round per 8-byte word. Each round is a bijection of
 * its lane for a fixed word, so changing any one word always changes the
 * result; four independent lanes keep the multiplier busy (about a byte per
 * cycle is the budget: saves run every few seconds on the event thread). */
static inline uint64_t lane(uint64_t acc, uint64_t w)
{
	return rotl64(acc + w * 0xC2B2AE3D27D4EB4FULL, 31) * 0x9E3779B185EBCA87ULL;
}

uint64_t ccp__snapshot_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t n = len;
	uint64_t a = 0x243F6A8885A308D3ULL ^ (uint64_t)len, b = 0x13198A2E03707344ULL;
	uint64_t c = 0xA4093822299F31D0ULL, d = 0x082EFA98EC4E6C89ULL;
	for (; n >= 32; p += 32, n -= 32) {
		a = lane(a, get_le64(p));
		b = lane(b, get_le64(p + 8));
		c = lane(c, get_le64(p + 16));
		d = lane(d, get_le64(p + 24));
	}
	uint64_t h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
	for (; n >= 8; p += 8, n -= 8)
		h = ccp__mix64(h ^ lane(0, get_le64(p)));
	if (n) {
		uint8_t tail[8] = {0};
		memcpy(tail, p, n);
		h = ccp__mix64(h ^ lane(0, get_le64(tail)) ^ n);
	}
	return ccp__mix64(h ^ (uint64_t)len);
}

void ccp__snapshot_seal(uint8_t *data, size_t len)
{
	if (len < HEADER_BYTES + TRAILER_BYTES)
		return;
	set_le64(data + 8, (uint64_t)(len - HEADER_BYTES - TRAILER_BYTES));
	set_le64(data + len - TRAILER_BYTES, ccp__snapshot_checksum(data, len - TRAILER_BYTES));
}

/* ---- time deltas ------------------------------------------------------- */

/* Deltas wrap instead of overflowing, so any two int64 round-trip; the
 * loader then checks the time it got. */
static inline uint64_t tdelta(int64_t t, int64_t base)
{
	return (uint64_t)t - (uint64_t)base;
}

static inline int64_t tapply(int64_t base, uint64_t d)
{
	return (int64_t)((uint64_t)base + d);
}

static inline uint64_t zz_enc(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t zz_dec(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static int64_t floor_div64(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- the buffer ---------------------------------------------------------- */

void ccp_snapshot_buf_init(struct ccp_snapshot_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void ccp_snapshot_buf_reset(struct ccp_snapshot_buf *b)
{
	b->len = 0;
}

void ccp_snapshot_buf_free(struct ccp_snapshot_buf *b)
{
	free(b->data);
	ccp_snapshot_buf_init(b);
}

/* The save's cursor. Owner: one save call, on the engine's owner thread. Writes go through put_* after a
 * room() that made space for them; a failed room() makes every later one
 * fail too, so a save checks once per section. */
struct wr {
	struct ccp_snapshot_buf *b;
	int rc;          /* 0, -ENOMEM or -ERANGE: the first failure */
	const char *why; /* for -ERANGE: what was out of range */
	int64_t now;
	uint64_t waits; /* in bucket histograms so far */
};

static bool room(struct wr *w, size_t n)
{
	struct ccp_snapshot_buf *b = w->b;
	if (w->rc)
		return false;
	if (b->cap - b->len >= n)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2) {
			w->rc = -ENOMEM;
			return false;
		}
		cap *= 2;
	}
	uint8_t *d = realloc(b->data, cap);
	if (!d) {
		w->rc = -ENOMEM;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

static inline void put_u8(struct wr *w, uint8_t v)
{
	w->b->data[w->b->len++] = v;
}

static inline void put_varint(struct wr *w, uint64_t v)
{
	uint8_t *o = w->b->data + w->b->len;
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	w->b->len = (size_t)(o - w->b->data);
}

static inline void put_zz(struct wr *w, int64_t v)
{
	put_varint(w, zz_enc(v));
}

static inline void put_le64(struct wr *w, uint64_t v)
{
	set_le64(w->b->data + w->b->len, v);
	w->b->len += 8;
}

static inline void put_bytes(struct wr *w, const void *p, size_t n)
{
	memcpy(w->b->data + w->b->len, p, n);
	w->b->len += n;
}

/* A time the loader will accept: from 1970 to the clock. Only events no
 * decoder lets through can break this. */
static inline void check_time(struct wr *w, int64_t t, const char *what)
{
	if ((t < TIME_MIN || t > w->now) && !w->rc) {
		w->rc = -ERANGE;
		w->why = what;
	}
}

/* Section framing: tag and a u32 length patched in at the end. */
static size_t section_begin(struct wr *w, enum section s)
{
	if (!room(w, SECTION_HEAD_BYTES))
		return 0;
	size_t at = w->b->len;
	put_u8(w, (uint8_t)s);
	w->b->len += 4;
	return at;
}

static void section_end(struct wr *w, size_t at)
{
	if (w->rc)
		return;
	size_t n = w->b->len - at - SECTION_HEAD_BYTES;
	if (n > UINT32_MAX) {
		w->rc = -ERANGE;
		w->why = "a section over 4 GiB";
		return;
	}
	set_le32(w->b->data + at + 1, (uint32_t)n);
}

/* ---- the config fingerprint ---------------------------------------------- */

/* The zone's identity: its name, with UTC's alias folded in (tz.c reads
 * both as the same zone). */
static const char *tz_identity(const struct ccp_tz *tz)
{
	const char *n = ccp_tz_name(tz);
	return strcmp(n, "Etc/UTC") == 0 ? "UTC" : n;
}

/* Overrides in order (a later one wins for its channels). */
static uint64_t overrides_hash(const struct ccp_engine_config *c)
{
	uint64_t h = ccp__mix64(c->n_sl_overrides + 0x5851F42D4C957F2DULL);
	for (uint32_t i = 0; i < c->n_sl_overrides; i++) {
		const struct ccp_sl_override *o = &c->sl_overrides[i];
		h = ccp__mix64(h ^ ccp__hash_bytes(o->queue, strnlen(o->queue, sizeof(o->queue))));
		for (int ch = 0; ch < CCP_CH__COUNT; ch++)
			h = ccp__mix64(h ^ (uint64_t)o->threshold_ms[ch]);
	}
	return h;
}

static void save_config(struct wr *w, const struct ccp_engine *e)
{
	const struct ccp_engine_config *c = &e->cfg;
	const char *tz = tz_identity(c->tz);
	size_t tzlen = strlen(tz);
	if (!room(w, 16 + c->n_windows * (CCP_WINDOW_NAME_MAX + 24) + 12 * 10 + tzlen + 32))
		return;
	put_varint(w, e->n_win);
	for (uint32_t i = 0; i < e->n_win; i++) {
		size_t n = strnlen(e->win[i].name, CCP_WINDOW_NAME_MAX);
		put_varint(w, n);
		put_bytes(w, e->win[i].name, n);
		put_varint(w, (uint64_t)c->windows[i].length_ms);
		put_varint(w, (uint64_t)c->windows[i].bucket_ms);
	}
	put_u8(w, e->min_ring != NONE);
	put_zz(w, c->short_abandon_ms);
	for (int ch = 0; ch < CCP_CH__COUNT; ch++)
		put_zz(w, c->sl_threshold_ms[ch]);
	put_varint(w, c->n_sl_overrides);
	put_le64(w, overrides_hash(c));
	put_varint(w, (uint64_t)c->sl_variant);
	put_zz(w, c->dedup_horizon_ms);
	put_varint(w, c->dedup_max_ids);
	put_zz(w, c->open_horizon_ms);
	put_varint(w, tzlen);
	put_bytes(w, tz, tzlen);
}

/* ---- save ------------------------------------------------------------------ */

static void put_sums(struct wr *w, const struct ccp_sums *s)
{
	uint64_t v[SUMS_WORDS];
	memcpy(v, s, sizeof(v));
	uint64_t mask = 0;
	for (size_t i = 0; i < SUMS_WORDS; i++) {
		if (v[i])
			mask |= 1ULL << i;
		if ((int64_t)v[i] > SUMS_LIMIT || (int64_t)v[i] < -SUMS_LIMIT) {
			if (!w->rc) {
				w->rc = -ERANGE;
				w->why = "a sum beyond 2^62";
			}
		}
	}
	put_varint(w, mask);
	for (uint64_t m = mask; m; m &= m - 1) {
		int i = __builtin_ctzll(m);
		if (SUMS_SIGNED >> i & 1)
			put_zz(w, (int64_t)v[i]);
		else
			put_varint(w, v[i]);
	}
}

#define SUMS_MAX_BYTES (10 + SUMS_WORDS * 10)

/* Histogram bins as (gap, count) runs over the non-empty bins `bins`
 * (ascending, `nz` of them, counts in `counts`); then the exact maximum when
 * there are any. */
static void put_bins(struct wr *w, const uint16_t *bins, uint32_t nz, const uint32_t *counts, bool has_max,
		     int64_t max_wait)
{
	if (!room(w, 10 + (size_t)nz * 15 + 10))
		return;
	put_varint(w, nz);
	for (uint32_t i = 0; i < nz; i++) {
		put_varint(w, i ? (uint32_t)(bins[i] - bins[i - 1] - 1) : bins[i]);
		put_varint(w, counts[bins[i]]);
	}
	if (nz)
		put_zz(w, has_max ? max_wait : 0);
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void save_clock(struct wr *w, const struct ccp_engine *e)
{
	if (!room(w, 10 * 10))
		return;
	bool has = e->now != INT64_MIN;
	put_u8(w, has);
	if (has) {
		put_zz(w, e->now);
		put_varint(w, tdelta(e->now, e->day_start));
		put_varint(w, tdelta(e->day_end, e->now));
		if (e->min_ring != NONE)
			put_varint(w, tdelta(e->rings[e->min_ring].nb - 1, e->min_written));
	}
	put_varint(w, e->counters.late_events);
	put_varint(w, e->counters.duplicates);
	put_varint(w, e->counters.expired);
	put_varint(w, e->counters.unmatched);
}

static void save_queues(struct wr *w, const struct ccp_engine *e)
{
	if (!room(w, 10))
		return;
	put_varint(w, e->n_queues);
	for (uint32_t qi = 0; qi < e->n_queues && room(w, 10 + e->queues[qi].len); qi++) {
		put_varint(w, e->queues[qi].len);
		put_bytes(w, e->queues[qi].name, e->queues[qi].len);
	}
}

/* Scratch for one bucket's waits: counts by bin and the bins seen. Owner:
 * one save call (on its stack: saves allocate nothing but the buffer). */
struct bins_scratch {
	uint32_t counts[CCP_HIST_BINS];
	uint16_t seen[CCP_HIST_BINS];
};

/* The buckets a ring holds, newest first, each as 1 + its gap from the
 * previous (the first: from the clock's bucket), and a 0 after the last: one
 * pass over the ring, no count to find first. Slots whose bucket has left
 * the ring are not read again (engine.c: touch clears them, windows check
 * the index) and are skipped. */
static void save_buckets(struct wr *w, const struct ccp_engine *e)
{
	struct bins_scratch sc;
	memset(sc.counts, 0, sizeof(sc.counts));
	for (uint32_t qi = 0; qi < e->n_queues; qi++) {
		const struct queue *q = &e->queues[qi];
		for (uint32_t r = 0; r < e->n_rings; r++) {
			const struct ring *rg = &e->rings[r];
			uint32_t prev = 0;
			/* Slots of k = nb, nb-1, ... down to 0 (no bucket is older than
			 * 1970): stepping down the array with a wrap is engine.c's
			 * (uint64_t)k % n for k >= 0, and spares a division per slot. */
			uint32_t at = rg->nb >= 0 ? (uint32_t)((uint64_t)rg->nb % rg->n) : 0;
			for (uint32_t off = 0, i = 0; rg->nb >= 0 && off < rg->n && (int64_t)off <= rg->nb;
			     off++, at = at ? at - 1 : rg->n - 1) {
				int64_t k = rg->nb - off;
				const struct bucket *b = &q->buckets[r][at];
				/* The walk is bound by bucket memory (5 cache lines each,
				 * mostly cold): start fetching a few slots ahead so their
				 * misses overlap this one's encoding. */
				if (rg->n > 3) {
					const char *ahead = (const char *)&q->buckets[r][at >= 3 ? at - 3 : at + rg->n - 3];
					for (size_t line = 0; line < sizeof(struct bucket); line += 64)
						__builtin_prefetch(ahead + line);
				}
				if (b->k != k)
					continue;
				if (!room(w, 10 + SUMS_MAX_BYTES))
					return;
				put_varint(w, 1 + (i++ ? off - prev - 1 : off));
				prev = off;
				put_sums(w, &b->s);
				/* Waits in any order: windows only add and subtract them. */
				uint32_t nz = 0;
				for (uint32_t c = b->chunk_head; c != NONE; c = e->chunks[c].next) {
					w->waits += e->chunks[c].n;
					for (uint16_t j = 0; j < e->chunks[c].n; j++) {
						uint16_t bin = e->chunks[c].bins[j];
						if (!sc.counts[bin]++)
							sc.seen[nz++] = bin;
					}
				}
				if (w->waits > CCP_SNAPSHOT_MAX_WAITS && !w->rc) {
					w->rc = -ERANGE;
					w->why = "waits";
				}
				qsort(sc.seen, nz, sizeof(sc.seen[0]), cmp_u16);
				put_bins(w, sc.seen, nz, sc.counts, b->has_max, b->max_wait);
				for (uint32_t j = 0; j < nz; j++)
					sc.counts[sc.seen[j]] = 0;
			}
			if (!room(w, 1))
				return;
			put_u8(w, 0);
		}
	}
}

static void save_today(struct wr *w, const struct ccp_engine *e)
{
	uint16_t seen[CCP_HIST_BINS];
	for (uint32_t qi = 0; qi < e->n_queues; qi++) {
		const struct wstate *ws = &e->queues[qi].ws[e->n_win];
		if (!room(w, SUMS_MAX_BYTES))
			return;
		put_sums(w, &ws->s);
		uint32_t nz = 0;
		if (ws->hist.n)
			for (uint32_t i = 0; i < CCP_HIST_BINS; i++)
				if (ws->hist.bins[i])
					seen[nz++] = (uint16_t)i;
		put_bins(w, seen, nz, ws->hist.bins, ws->has_max, ws->max_wait);
	}
}

/* A pool's high-water mark, its live count, then the caller's records;
 * save_free_list writes the free list from its head after them. */
static void save_pool_head(struct wr *w, const struct pool *p)
{
	if (room(w, 20)) {
		put_varint(w, p->n);
		put_varint(w, p->live);
	}
}

static void save_free_list(struct wr *w, const struct pool *p, size_t next_off)
{
	uint32_t i = p->free;
	for (uint32_t k = p->n - p->live; k-- > 0 && i != NONE && room(w, 10);) {
		put_varint(w, i);
		memcpy(&i, (const char *)p->a + (size_t)i * p->size + next_off, sizeof(i));
	}
}

static void save_contacts(struct wr *w, const struct ccp_engine *e)
{
	const struct pool *p = &e->contacts;
	save_pool_head(w, p);
	uint32_t prev = 0;
	bool first = true;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct contact *c = (const struct contact *)p->a + i;
		if (!c->live)
			continue;
		if (!room(w, 10 + 8 + 10 + 1 + 30))
			return;
		put_varint(w, first ? i : i - prev - 1);
		prev = i;
		first = false;
		put_le64(w, c->key);
		put_varint(w, c->q);
		put_u8(w, (uint8_t)(c->has_offer | c->has_answer << 1 | (c->has_offer ? c->tin << 2 | c->channel << 3 : 0)));
		check_time(w, c->start, "a contact's start");
		put_varint(w, tdelta(w->now, c->start));
		if (c->has_offer) {
			check_time(w, c->offer_ts, "an offer's time");
			put_zz(w, (int64_t)tdelta(c->offer_ts, c->start));
		}
		if (c->has_answer) {
			check_time(w, c->answer_ts, "an answer's time");
			put_zz(w, (int64_t)tdelta(c->answer_ts, c->start));
		}
	}
	save_free_list(w, p, offsetof(struct contact, next_free));
}

static void save_promises(struct wr *w, const struct ccp_engine *e)
{
	const struct pool *p = &e->promises;
	save_pool_head(w, p);
	const struct promise *prev_p = NULL;
	uint32_t prev = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct promise *pr = (const struct promise *)p->a + i;
		if (!pr->live)
			continue;
		if (!room(w, 10 + 10 + 2 * 10 + CCP_ID_MAX_BYTES + 3 * 10 + 1))
			return;
		put_varint(w, prev_p ? i - prev - 1 : i);
		put_varint(w, pr->q);
		/* Ids of one source look alike ("p-1-1041", "p-1-1042"): the
		 * previous id's prefix is shared. */
		uint32_t shared = 0;
		if (prev_p)
			while (shared < prev_p->id_len && shared < pr->id_len && prev_p->id[shared] == pr->id[shared])
				shared++;
		put_varint(w, shared);
		put_varint(w, pr->id_len - shared);
		put_bytes(w, pr->id + shared, pr->id_len - shared);
		check_time(w, pr->made_ts, "a promise's time");
		put_varint(w, tdelta(w->now, pr->made_ts));
		if (pr->due < TIME_MIN && !w->rc) {
			w->rc = -ERANGE;
			w->why = "a promise's due";
		}
		put_zz(w, (int64_t)tdelta(pr->due, pr->made_ts));
		put_u8(w, (uint8_t)(pr->state | pr->came_due << 2));
		if (pr->state != P_OPEN) {
			check_time(w, pr->resolved_ts, "a promise's kept or cancelled time");
			put_varint(w, tdelta(w->now, pr->resolved_ts));
		}
		prev = i;
		prev_p = pr;
	}
	save_free_list(w, p, offsetof(struct promise, next_free));
}

static void save_complaints(struct wr *w, const struct ccp_engine *e)
{
	const struct pool *p = &e->complaints;
	save_pool_head(w, p);
	uint32_t prev = 0;
	bool first = true;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct complaint *c = (const struct complaint *)p->a + i;
		if (!c->live)
			continue;
		if (!room(w, 10 + 8 + 10 + 10))
			return;
		put_varint(w, first ? i : i - prev - 1);
		prev = i;
		first = false;
		put_le64(w, c->key);
		put_varint(w, c->q);
		check_time(w, c->opened_ts, "a complaint's time");
		put_varint(w, tdelta(w->now, c->opened_ts));
	}
	save_free_list(w, p, offsetof(struct complaint, next_free));
}

static void save_agents(struct wr *w, const struct ccp_engine *e)
{
	if (!room(w, 10))
		return;
	put_varint(w, e->n_agents);
	for (uint32_t i = 0; i < e->n_agents; i++) {
		const struct agent *a = &e->agents[i];
		if (!room(w, 8 + 1 + 10 + (size_t)a->nq * 5))
			return;
		put_le64(w, a->key);
		put_u8(w, a->state);
		put_varint(w, a->nq);
		for (uint32_t k = 0; k < a->nq; k++)
			put_varint(w, a->qs[k]);
	}
}

/* Ids oldest first (eviction order), each with the clock it was taken at,
 * as a gap from the one before (the clock never goes back). */
static void save_dedup(struct wr *w, const struct ccp_engine *e)
{
	const struct ccp_dedup *d = &e->dedup;
	if (!room(w, 10))
		return;
	put_varint(w, d->len);
	int64_t prev = w->now;
	for (uint32_t i = 0; i < d->len; i++) {
		const struct ccp_dedup_entry *en = &d->fifo[(d->head + i) & (d->cap - 1)];
		if (!room(w, 8 + 10))
			return;
		check_time(w, en->at_ms, "a dedup id's time");
		put_le64(w, en->key);
		put_varint(w, i ? tdelta(en->at_ms, prev) : tdelta(w->now, en->at_ms));
		prev = en->at_ms;
	}
}

static int save_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int ccp_snapshot_save(const struct ccp_engine *e, struct ccp_snapshot_buf *out, char *err, size_t errlen)
{
	if (e->now != INT64_MIN && (e->now < TIME_MIN || e->now > TIME_MAX))
		return save_fail(err, errlen, -ERANGE, "checkpoint: clock %lld is before 1970 or beyond year 9999",
				 (long long)e->now);
	/* Between calls every minute before the clock's is written; inside
	 * minute_cb the engine is halfway through an event. */
	if (e->now != INT64_MIN && e->min_ring != NONE && e->min_written != e->rings[e->min_ring].nb - 1)
		return save_fail(err, errlen, -EBUSY,
				 "checkpoint: the engine is inside an event (save from minute_cb?)");
	size_t start = out->len;
	struct wr w = {.b = out, .now = e->now == INT64_MIN ? 0 : e->now};
	if (room(&w, HEADER_BYTES)) {
		put_bytes(&w, MAGIC, 4);
		set_le32(out->data + out->len, CCP_SNAPSHOT_FORMAT_VERSION);
		out->len += 4;
		out->len += 8; /* body length, below */
	}
	static void (*const savers[])(struct wr *, const struct ccp_engine *) = {
		[S_CONFIG] = save_config,     [S_CLOCK] = save_clock,       [S_QUEUES] = save_queues,
		[S_BUCKETS] = save_buckets,   [S_TODAY] = save_today,       [S_CONTACTS] = save_contacts,
		[S_PROMISES] = save_promises, [S_COMPLAINTS] = save_complaints, [S_AGENTS] = save_agents,
		[S_DEDUP] = save_dedup,
	};
	for (int s = S_CONFIG; s < S__END && !w.rc; s++) {
		size_t at = section_begin(&w, (enum section)s);
		savers[s](&w, e);
		section_end(&w, at);
	}
	if (!w.rc && room(&w, TRAILER_BYTES)) {
		set_le64(out->data + start + 8, (uint64_t)(out->len - start - HEADER_BYTES));
		put_le64(&w, ccp__snapshot_checksum(out->data + start, out->len - start));
	}
	if (w.rc) {
		out->len = start;
		if (w.rc == -ENOMEM)
			return save_fail(err, errlen, w.rc, "checkpoint: out of memory");
		if (w.why && !strcmp(w.why, "waits"))
			return save_fail(err, errlen, w.rc, "checkpoint: over %u waits held in buckets",
					 CCP_SNAPSHOT_MAX_WAITS);
		return save_fail(err, errlen, w.rc, "checkpoint: %s is before 1970 or after the clock",
				 w.why ? w.why : "a value");
	}
	return 0;
}

/* ---- load ------------------------------------------------------------------ */

/* The load's cursor over one section. Owner: one load call, on the
 * engine's owner thread. The first
 * failure is kept (rc and the message); reads after it return 0 and move
 * nothing, and every loop checks rc, so a failure ends the load quickly. */
struct rd {
	const uint8_t *base; /* the checkpoint's first byte, for offsets */
	const uint8_t *p, *end;
	enum section sec;
	int rc;
	char *err;
	size_t errlen;
};

static int fail(struct rd *r, int rc, const char *fmt, ...)
{
	if (r->rc)
		return r->rc;
	r->rc = rc;
	if (r->err && r->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static size_t at_byte(const struct rd *r)
{
	return (size_t)(r->p - r->base);
}

static int truncated(struct rd *r)
{
	return fail(r, -EBADMSG, "checkpoint: truncated at byte %zu (%s)", (size_t)(r->end - r->base),
		    section_names[r->sec]);
}

/* A value the engine could never have held: names the byte and section. */
static int bad(struct rd *r, const char *fmt, ...)
{
	if (r->rc)
		return r->rc;
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(r, -EBADMSG, "checkpoint: %s at byte %zu (%s)", what, at_byte(r), section_names[r->sec]);
}

static size_t left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static uint8_t get_u8(struct rd *r)
{
	if (r->rc)
		return 0;
	if (r->p >= r->end) {
		truncated(r);
		return 0;
	}
	return *r->p++;
}

static uint64_t get_varint(struct rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; !r->rc; shift += 7) {
		if (r->p >= r->end) {
			truncated(r);
			return 0;
		}
		uint8_t byte = *r->p++;
		if (shift == 63 && byte > 1) {
			bad(r, "a number over 64 bits");
			return 0;
		}
		v |= (uint64_t)(byte & 0x7F) << shift;
		if (!(byte & 0x80))
			return v;
	}
	return 0;
}

static int64_t get_zz(struct rd *r)
{
	return zz_dec(get_varint(r));
}

static uint64_t get_le64r(struct rd *r)
{
	if (r->rc)
		return 0;
	if (left(r) < 8) {
		r->p = r->end;
		truncated(r);
		return 0;
	}
	uint64_t v = get_le64(r->p);
	r->p += 8;
	return v;
}

static const uint8_t *get_bytes(struct rd *r, size_t n)
{
	if (r->rc)
		return NULL;
	if (left(r) < n) {
		truncated(r);
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

/* A count of entries of at least `min_bytes` each, at most `max`: checked
 * against the bytes left before anything is allocated for them. */
static uint32_t get_count(struct rd *r, size_t min_bytes, uint64_t max, const char *what)
{
	uint64_t n = get_varint(r);
	if (r->rc)
		return 0;
	if (n > max) {
		bad(r, "%llu %s, at most %llu", (unsigned long long)n, what, (unsigned long long)max);
		return 0;
	}
	if (min_bytes && n > left(r) / min_bytes) {
		r->p = r->end;
		truncated(r);
		return 0;
	}
	return (uint32_t)n;
}

/* A time `d` before `base`: within [TIME_MIN, base]. */
static int64_t get_before(struct rd *r, int64_t base, const char *what)
{
	uint64_t d = get_varint(r);
	if (r->rc)
		return 0;
	if (d > (uint64_t)(base - TIME_MIN)) {
		bad(r, "%s before 1970", what);
		return 0;
	}
	return tapply(base, -d);
}

/* A time `d` after `base` (base <= upto): within [base, upto]. */
static int64_t get_after(struct rd *r, int64_t base, int64_t upto, const char *what)
{
	uint64_t d = get_varint(r);
	if (r->rc)
		return 0;
	if (d > (uint64_t)upto - (uint64_t)base) {
		bad(r, "%s after the clock", what);
		return 0;
	}
	return tapply(base, d);
}

/* A time as a signed delta from `base`, within [TIME_MIN, upto]. */
static int64_t get_around(struct rd *r, int64_t base, int64_t upto, const char *what)
{
	int64_t d = get_zz(r);
	if (r->rc)
		return 0;
	int64_t t;
	if (__builtin_add_overflow(base, d, &t) || t < TIME_MIN || t > upto) {
		bad(r, "%s out of range", what);
		return 0;
	}
	return t;
}

/* Loads the body's sections into one engine. Owner: one load call. */
struct loader {
	struct rd r;
	struct ccp_engine *e;
	const uint8_t *body, *body_end; /* sections not yet opened */
	uint64_t waits;                 /* held in bucket histograms so far */
};

static bool section_open(struct loader *L, enum section s)
{
	struct rd *r = &L->r;
	if (r->rc)
		return false;
	r->sec = s;
	r->p = L->body;
	r->end = L->body_end;
	const uint8_t *h = get_bytes(r, SECTION_HEAD_BYTES);
	if (!h)
		return false;
	if (h[0] != s) {
		r->p = h;
		bad(r, "section %u where %s was expected", h[0], section_names[s]);
		return false;
	}
	uint32_t n = get_le32(h + 1);
	if (n > left(r)) {
		truncated(r);
		return false;
	}
	r->end = r->p + n;
	return true;
}

static bool section_close(struct loader *L)
{
	struct rd *r = &L->r;
	if (r->rc)
		return false;
	if (r->p != r->end) {
		bad(r, "%zu bytes left over", left(r));
		return false;
	}
	L->body = r->end;
	return true;
}

static int mismatch(struct rd *r, const char *fmt, ...)
{
	if (r->rc)
		return r->rc;
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(r, -EINVAL, "checkpoint: written with %s", what);
}

/* "5m/15m/1h/24h" into buf. */
static void window_list(char *buf, size_t cap, char names[][CCP_WINDOW_NAME_MAX], uint32_t n)
{
	size_t at = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < n && at < cap; i++) {
		int k = snprintf(buf + at, cap - at, "%s%s", i ? "/" : "", names[i]);
		if (k < 0)
			break;
		at += (size_t)k;
	}
}

static void load_config(struct loader *L)
{
	struct rd *r = &L->r;
	const struct ccp_engine *e = L->e;
	const struct ccp_engine_config *c = &e->cfg;
	uint32_t nw = get_count(r, 3, CCP_MAX_WINDOWS, "windows");
	char names[CCP_MAX_WINDOWS][CCP_WINDOW_NAME_MAX];
	int64_t lens[CCP_MAX_WINDOWS], gs[CCP_MAX_WINDOWS];
	for (uint32_t i = 0; i < nw && !r->rc; i++) {
		uint32_t n = get_count(r, 1, CCP_WINDOW_NAME_MAX - 1, "bytes of window name");
		const uint8_t *p = get_bytes(r, n);
		if (p) {
			memcpy(names[i], p, n);
			names[i][n] = 0;
		}
		lens[i] = (int64_t)get_varint(r);
		gs[i] = (int64_t)get_varint(r);
	}
	if (r->rc)
		return;
	bool same_names = nw == e->n_win;
	for (uint32_t i = 0; same_names && i < nw; i++)
		same_names = strcmp(names[i], e->win[i].name) == 0;
	if (!same_names) {
		char had[CCP_MAX_WINDOWS * CCP_WINDOW_NAME_MAX + 1], has[sizeof(had)];
		char cur[CCP_MAX_WINDOWS][CCP_WINDOW_NAME_MAX];
		for (uint32_t i = 0; i < e->n_win; i++)
			memcpy(cur[i], e->win[i].name, CCP_WINDOW_NAME_MAX);
		window_list(had, sizeof(had), names, nw);
		window_list(has, sizeof(has), cur, e->n_win);
		mismatch(r, "windows %s, config has %s", had, has);
		return;
	}
	for (uint32_t i = 0; i < nw; i++)
		if (lens[i] != c->windows[i].length_ms || gs[i] != c->windows[i].bucket_ms) {
			mismatch(r, "window %s of %lld ms in %lld ms buckets, config has %lld ms in %lld ms buckets",
				 names[i], (long long)lens[i], (long long)gs[i], (long long)c->windows[i].length_ms,
				 (long long)c->windows[i].bucket_ms);
			return;
		}
	uint8_t minutes = get_u8(r);
	int64_t short_ab = get_zz(r);
	int64_t thr[CCP_CH__COUNT];
	for (int ch = 0; ch < CCP_CH__COUNT; ch++)
		thr[ch] = get_zz(r);
	uint64_t n_over = get_varint(r);
	uint64_t over_hash = get_le64r(r);
	uint64_t variant = get_varint(r);
	int64_t dedup_h = get_zz(r);
	uint64_t dedup_max = get_varint(r);
	int64_t open_h = get_zz(r);
	uint32_t tzlen = get_count(r, 1, 128, "bytes of time zone name");
	const uint8_t *tzp = get_bytes(r, tzlen);
	if (r->rc)
		return;
	bool has_minutes = e->min_ring != NONE;
	if (minutes != has_minutes) {
		mismatch(r, "closed minutes %s, config has them %s", minutes ? "on" : "off",
			 has_minutes ? "on" : "off");
		return;
	}
	if (short_ab != c->short_abandon_ms) {
		mismatch(r, "short abandon %lld ms, config has %lld ms", (long long)short_ab,
			 (long long)c->short_abandon_ms);
		return;
	}
	for (int ch = 0; ch < CCP_CH__COUNT; ch++)
		if (thr[ch] != c->sl_threshold_ms[ch]) {
			mismatch(r, "service-level threshold %lld ms for %s, config has %lld ms", (long long)thr[ch],
				 ccp_channel_names[ch], (long long)c->sl_threshold_ms[ch]);
			return;
		}
	if (n_over != c->n_sl_overrides || over_hash != overrides_hash(c)) {
		mismatch(r, "%llu service-level overrides, config has %u%s", (unsigned long long)n_over,
			 c->n_sl_overrides, n_over == c->n_sl_overrides ? " that differ" : "");
		return;
	}
	if (variant != (uint64_t)c->sl_variant) {
		mismatch(r, "service-level variant %s, config has %s",
			 variant < CCP_SL__COUNT ? ccp_sl_variant_names[variant] : "unknown",
			 (unsigned)c->sl_variant < CCP_SL__COUNT ? ccp_sl_variant_names[c->sl_variant] : "unknown");
		return;
	}
	if (dedup_h != c->dedup_horizon_ms || dedup_max != c->dedup_max_ids) {
		mismatch(r, "dedup horizon %lld ms and %llu ids, config has %lld ms and %u ids", (long long)dedup_h,
			 (unsigned long long)dedup_max, (long long)c->dedup_horizon_ms, c->dedup_max_ids);
		return;
	}
	if (open_h != c->open_horizon_ms) {
		mismatch(r, "open horizon %lld ms, config has %lld ms", (long long)open_h,
			 (long long)c->open_horizon_ms);
		return;
	}
	const char *tz = tz_identity(c->tz);
	if (strlen(tz) != tzlen || memcmp(tz, tzp, tzlen) != 0) {
		mismatch(r, "time zone %.*s, config has %s", (int)tzlen, (const char *)tzp, tz);
		return;
	}
}

static void load_clock(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	uint8_t has = get_u8(r);
	if (has > 1) {
		bad(r, "clock flag %u", has);
		return;
	}
	if (has) {
		int64_t now = get_zz(r);
		if (!r->rc && (now < TIME_MIN || now > TIME_MAX)) {
			bad(r, "clock %lld before 1970 or beyond year 9999", (long long)now);
			return;
		}
		uint64_t ds = get_varint(r), de = get_varint(r);
		uint64_t mw = e->min_ring != NONE ? get_varint(r) : 0;
		if (r->rc)
			return;
		/* `today` means the local day of the clock: the zone must still
		 * say so (a tzdata update could move it). */
		int64_t day_start, day_end;
		ccp_tz_day_bounds(e->cfg.tz, now, &day_start, &day_end);
		if (tapply(now, -ds) != day_start || tapply(now, de) != day_end) {
			mismatch(r, "a day of [%lld, %lld) at clock %lld, where time zone %s now has [%lld, %lld)",
				 (long long)tapply(now, -ds), (long long)tapply(now, de), (long long)now,
				 tz_identity(e->cfg.tz), (long long)day_start, (long long)day_end);
			return;
		}
		/* Between calls the engine has written every minute before the
		 * clock's (engine.c, close_minutes). */
		if (mw != 0) {
			bad(r, "minutes written up to %llu before the clock's", (unsigned long long)mw);
			return;
		}
		e->now = now;
		e->day_start = day_start;
		e->day_end = day_end;
		if (e->min_ring != NONE)
			e->min_written = floor_div64(now, CCP_MINUTE_MS) - 1;
	}
	e->counters.late_events = get_varint(r);
	e->counters.duplicates = get_varint(r);
	e->counters.expired = get_varint(r);
	e->counters.unmatched = get_varint(r);
}

static void load_queues(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	uint32_t n = get_count(r, 2, e->now == INT64_MIN ? 0 : MAX_RECORDS, "queues");
	for (uint32_t i = 0; i < n && !r->rc; i++) {
		uint32_t len = get_count(r, 1, CCP_ID_MAX_BYTES, "bytes of queue name");
		const uint8_t *p = get_bytes(r, len);
		if (r->rc)
			return;
		if (!len) {
			bad(r, "an empty queue name");
			return;
		}
		uint64_t h = ccp__hash_bytes(p, len);
		h = h ? h : 1;
		if (ccp__idmap_find(&e->queue_map, h)) {
			bad(r, "queue %.*s twice", (int)len, (const char *)p);
			return;
		}
		if (ccp__engine_queue_add(e, (struct ccp_str){(const char *)p, len}, h) == NONE) {
			fail(r, -ENOMEM, "checkpoint: out of memory (queue %u)", i);
			return;
		}
	}
}

static void get_sums(struct rd *r, struct ccp_sums *s)
{
	uint64_t v[SUMS_WORDS] = {0};
	uint64_t mask = get_varint(r);
	if (!r->rc && (SUMS_WORDS < 64 && mask >> SUMS_WORDS)) {
		bad(r, "sums mask %#llx", (unsigned long long)mask);
		return;
	}
	for (uint64_t m = mask; m && !r->rc; m &= m - 1) {
		int i = __builtin_ctzll(m);
		v[i] = SUMS_SIGNED >> i & 1 ? (uint64_t)get_zz(r) : get_varint(r);
		if ((int64_t)v[i] > SUMS_LIMIT || (int64_t)v[i] < -SUMS_LIMIT)
			bad(r, "a sum beyond 2^62");
		else if (!v[i])
			bad(r, "a zero sum marked non-zero");
	}
	memcpy(s, v, sizeof(v));
}

/* Non-empty bins as (gap, count) runs, then the maximum: calls `add` per
 * run. Checks the total against `wait_n` and the maximum against the top
 * bin (the maximum's own). */
/* What get_bins read besides the bins. Owner: its caller's stack. */
struct bins_out {
	bool has_max;
	int64_t max_wait;
};

static void get_bins(struct loader *L, uint64_t wait_n, struct bins_out *o,
		     int (*add)(void *ud, uint16_t bin, uint32_t count), void *ud)
{
	struct rd *r = &L->r;
	uint32_t nz = get_count(r, 2, CCP_HIST_BINS, "histogram bins");
	uint64_t total = 0;
	uint32_t bin = 0;
	for (uint32_t i = 0; i < nz && !r->rc; i++) {
		uint64_t gap = get_varint(r), count = get_varint(r);
		if (r->rc)
			return;
		uint64_t b = i ? (uint64_t)bin + 1 + gap : gap;
		if (gap >= CCP_HIST_BINS || b >= CCP_HIST_BINS) {
			bad(r, "histogram bin %llu of %d", (unsigned long long)b, CCP_HIST_BINS);
			return;
		}
		if (!count || count > UINT32_MAX) {
			bad(r, "histogram count %llu", (unsigned long long)count);
			return;
		}
		bin = (uint32_t)b;
		total += count;
		if (total > CCP_SNAPSHOT_MAX_WAITS) {
			bad(r, "over %u waits in one histogram", CCP_SNAPSHOT_MAX_WAITS);
			return;
		}
		int rc = add(ud, (uint16_t)bin, (uint32_t)count);
		if (rc) {
			fail(r, rc, "checkpoint: out of memory (histograms)");
			return;
		}
	}
	o->has_max = nz > 0;
	o->max_wait = nz ? get_zz(r) : 0;
	if (r->rc)
		return;
	if (total != wait_n) {
		bad(r, "%llu waits in a histogram of %llu", (unsigned long long)wait_n, (unsigned long long)total);
		return;
	}
	if (nz && ccp_hist_bin(o->max_wait) != bin)
		bad(r, "longest wait %lld outside its histogram", (long long)o->max_wait);
}

/* get_bins' target when the bins go to a bucket's chunks. Owner: the
 * caller's stack, for one bucket. */
struct bucket_add {
	struct loader *L;
	struct bucket *b;
};

static int add_to_bucket(void *ud, uint16_t bin, uint32_t count)
{
	struct bucket_add *a = ud;
	a->L->waits += count;
	if (a->L->waits > CCP_SNAPSHOT_MAX_WAITS) {
		bad(&a->L->r, "over %u waits in buckets", CCP_SNAPSHOT_MAX_WAITS);
		return a->L->r.rc;
	}
	return ccp__engine_bucket_add_bins(a->L->e, a->b, bin, count);
}

static int add_to_hist(void *ud, uint16_t bin, uint32_t count)
{
	struct ccp_hist *h = ud;
	h->bins[bin] = count;
	h->n += count;
	return 0;
}

static void load_buckets(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	for (uint32_t qi = 0; qi < e->n_queues && !r->rc; qi++) {
		struct queue *q = &e->queues[qi];
		for (uint32_t ri = 0; ri < e->n_rings && !r->rc; ri++) {
			const struct ring *rg = &e->rings[ri];
			int64_t nb = floor_div64(e->now, rg->g);
			uint64_t off = 0;
			/* Offsets strictly grow below rg->n: at most n buckets. */
			for (uint32_t i = 0; !r->rc; i++) {
				uint64_t gap1 = get_varint(r);
				if (r->rc || !gap1)
					break;
				uint64_t gap = gap1 - 1;
				off = i ? off + 1 + gap : gap;
				if (gap >= rg->n || off >= rg->n) {
					bad(r, "bucket %llu back in a ring of %u", (unsigned long long)off, rg->n);
					return;
				}
				int64_t k = nb - (int64_t)off;
				struct bucket *b = &q->buckets[ri][(uint64_t)k % rg->n];
				if (b->k != INT64_MIN) {
					bad(r, "two buckets in one slot");
					return;
				}
				b->k = k;
				get_sums(r, &b->s);
				struct bins_out o = {false, 0};
				struct bucket_add a = {L, b};
				get_bins(L, b->s.wait_n, &o, add_to_bucket, &a);
				b->has_max = o.has_max;
				b->max_wait = o.max_wait;
			}
		}
	}
}

static void load_today(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	for (uint32_t qi = 0; qi < e->n_queues && !r->rc; qi++) {
		struct wstate *ws = &e->queues[qi].ws[e->n_win];
		get_sums(r, &ws->s);
		struct bins_out o = {false, 0};
		get_bins(L, ws->s.wait_n, &o, add_to_hist, &ws->hist);
		ws->has_max = o.has_max;
		ws->max_wait = o.max_wait;
	}
}

/* A pool's high-water mark and live count; every record zeroed (not live)
 * and off the free list until read. */
#define UNLISTED (NONE - 1)

static uint32_t load_pool_head(struct loader *L, struct pool *p, size_t next_off, uint32_t *live)
{
	struct rd *r = &L->r;
	/* Each index costs a byte at least: a live record's gap or a free one. */
	uint32_t n = get_count(r, 1, L->e->now == INT64_MIN ? 0 : MAX_RECORDS, "records");
	*live = get_count(r, 0, n, "live records");
	if (r->rc)
		return 0;
	if (ccp__engine_pool_reserve(p, n)) {
		fail(r, -ENOMEM, "checkpoint: out of memory (%u records)", n);
		return 0;
	}
	if (n)
		memset(p->a, 0, (size_t)n * p->size);
	for (uint32_t i = 0; i < n; i++)
		memcpy((char *)p->a + (size_t)i * p->size + next_off, &(uint32_t){UNLISTED}, sizeof(uint32_t));
	p->n = n;
	return n;
}

/* The index of the next live record (gaps from the previous one). */
static uint32_t next_index(struct rd *r, uint32_t n, uint32_t i, uint32_t prev)
{
	uint64_t gap = get_varint(r);
	uint64_t idx = i ? (uint64_t)prev + 1 + gap : gap;
	if (!r->rc && idx >= n) {
		bad(r, "record %llu of %u", (unsigned long long)idx, n);
		return 0;
	}
	return (uint32_t)idx;
}

/* The free list, head first: exactly the records not live, each once. */
static void load_free_list(struct loader *L, struct pool *p, uint32_t live, size_t live_off, size_t next_off)
{
	struct rd *r = &L->r;
	uint32_t nfree = p->n - live, prev = NONE;
	p->free = NONE;
	if (nfree > left(r)) {
		r->p = r->end;
		truncated(r);
		return;
	}
	for (uint32_t k = 0; k < nfree && !r->rc; k++) {
		uint64_t i = get_varint(r);
		if (r->rc)
			return;
		char *rec = i < p->n ? (char *)p->a + (size_t)i * p->size : NULL;
		uint32_t next;
		if (rec)
			memcpy(&next, rec + next_off, sizeof(next));
		if (!rec || rec[live_off] || next != UNLISTED) {
			bad(r, "free record %llu is %s", (unsigned long long)i,
			    !rec ? "out of range" : rec[live_off] ? "live" : "listed twice");
			return;
		}
		memcpy(rec + next_off, &(uint32_t){NONE}, sizeof(uint32_t));
		if (prev == NONE)
			p->free = (uint32_t)i;
		else
			memcpy((char *)p->a + (size_t)prev * p->size + next_off, &(uint32_t){(uint32_t)i},
			       sizeof(uint32_t));
		prev = (uint32_t)i;
	}
	p->live = live;
}

static void load_contacts(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	struct pool *p = &e->contacts;
	uint32_t live, prev = 0;
	uint32_t n = load_pool_head(L, p, offsetof(struct contact, next_free), &live);
	for (uint32_t k = 0; k < live && !r->rc; k++) {
		uint32_t i = next_index(r, n, k, prev);
		uint64_t key = get_le64r(r);
		uint64_t q = get_varint(r);
		uint8_t f = get_u8(r);
		if (r->rc)
			return;
		struct contact *c = (struct contact *)p->a + i;
		if (k && i <= prev) {
			bad(r, "contact %u after %u", i, prev);
			return;
		}
		prev = i;
		if (!key || q >= e->n_queues) {
			bad(r, "contact key %#llx in queue %llu of %u", (unsigned long long)key, (unsigned long long)q,
			    e->n_queues);
			return;
		}
		uint8_t has_offer = f & 1, has_answer = f >> 1 & 1, tin = f >> 2 & 1, channel = f >> 3 & 7;
		if ((f >> 6) || !(has_offer | has_answer) || channel >= CCP_CH__COUNT ||
		    (!has_offer && (tin || channel))) {
			bad(r, "contact flags %#x", f);
			return;
		}
		c->start = get_before(r, e->now, "a contact's start");
		if (has_offer)
			c->offer_ts = get_around(r, c->start, e->now, "an offer's time");
		if (has_answer)
			c->answer_ts = get_around(r, c->start, e->now, "an answer's time");
		if (r->rc)
			return;
		if (ccp__idmap_find(&e->contact_map, key)) {
			bad(r, "contact key %#llx twice", (unsigned long long)key);
			return;
		}
		if (ccp__idmap_put(&e->contact_map, key, i)) {
			fail(r, -ENOMEM, "checkpoint: out of memory (contacts)");
			return;
		}
		c->key = key;
		c->q = (uint32_t)q;
		c->has_offer = has_offer;
		c->has_answer = has_answer;
		c->tin = tin;
		c->channel = channel;
		c->hpos = NONE;
		c->live = 1;
	}
	load_free_list(L, p, live, offsetof(struct contact, live), offsetof(struct contact, next_free));
}

static void load_promises(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	struct pool *p = &e->promises;
	uint32_t live, prev = 0;
	uint32_t n = load_pool_head(L, p, offsetof(struct promise, next_free), &live);
	const struct promise *prev_p = NULL;
	for (uint32_t k = 0; k < live && !r->rc; k++) {
		uint32_t i = next_index(r, n, k, prev);
		uint64_t q = get_varint(r);
		uint64_t shared = get_varint(r), rest = get_varint(r);
		if (r->rc)
			return;
		if (k && i <= prev) {
			bad(r, "promise %u after %u", i, prev);
			return;
		}
		prev = i;
		if (q >= e->n_queues) {
			bad(r, "promise in queue %llu of %u", (unsigned long long)q, e->n_queues);
			return;
		}
		if (shared > (prev_p ? prev_p->id_len : 0) || rest > CCP_ID_MAX_BYTES ||
		    shared + rest < 1 || shared + rest > CCP_ID_MAX_BYTES) {
			bad(r, "promise id of %llu shared and %llu more bytes", (unsigned long long)shared,
			    (unsigned long long)rest);
			return;
		}
		const uint8_t *tail = get_bytes(r, rest);
		if (r->rc)
			return;
		struct promise *pr = (struct promise *)p->a + i;
		if (shared)
			memcpy(pr->id, prev_p->id, shared);
		memcpy(pr->id + shared, tail, rest);
		pr->id_len = (uint8_t)(shared + rest);
		pr->made_ts = get_before(r, e->now, "a promise's time");
		int64_t dd = get_zz(r);
		uint8_t f = get_u8(r);
		if (r->rc)
			return;
		pr->due = tapply(pr->made_ts, (uint64_t)dd);
		pr->state = f & 3;
		pr->came_due = f >> 2 & 1;
		/* Between calls, a promise whose due the clock reached has come
		 * due, and one that came due and was settled is gone. */
		if ((f >> 3) || pr->state > P_CANCELLED || (pr->came_due && pr->state != P_OPEN) ||
		    pr->came_due != (pr->due <= e->now) || pr->due < TIME_MIN) {
			bad(r, "promise state %#x due %lld at clock %lld", f, (long long)pr->due, (long long)e->now);
			return;
		}
		if (pr->state != P_OPEN)
			pr->resolved_ts = get_before(r, e->now, "a promise's kept or cancelled time");
		if (r->rc)
			return;
		uint64_t key = ccp__key((uint32_t)q, ccp__hash_bytes(pr->id, pr->id_len));
		if (ccp__idmap_find(&e->promise_map, key)) {
			bad(r, "promise %.*s twice", (int)pr->id_len, pr->id);
			return;
		}
		if (ccp__idmap_put(&e->promise_map, key, i)) {
			fail(r, -ENOMEM, "checkpoint: out of memory (promises)");
			return;
		}
		pr->key = key;
		pr->q = (uint32_t)q;
		pr->live = 1;
		prev_p = pr;
	}
	load_free_list(L, p, live, offsetof(struct promise, live), offsetof(struct promise, next_free));
}

static void load_complaints(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	struct pool *p = &e->complaints;
	uint32_t live, prev = 0;
	uint32_t n = load_pool_head(L, p, offsetof(struct complaint, next_free), &live);
	for (uint32_t k = 0; k < live && !r->rc; k++) {
		uint32_t i = next_index(r, n, k, prev);
		uint64_t key = get_le64r(r);
		uint64_t q = get_varint(r);
		int64_t opened = get_before(r, e->now, "a complaint's time");
		if (r->rc)
			return;
		if (k && i <= prev) {
			bad(r, "complaint %u after %u", i, prev);
			return;
		}
		prev = i;
		if (!key || q >= e->n_queues) {
			bad(r, "complaint key %#llx in queue %llu of %u", (unsigned long long)key,
			    (unsigned long long)q, e->n_queues);
			return;
		}
		if (ccp__idmap_find(&e->complaint_map, key)) {
			bad(r, "complaint key %#llx twice", (unsigned long long)key);
			return;
		}
		if (ccp__idmap_put(&e->complaint_map, key, i)) {
			fail(r, -ENOMEM, "checkpoint: out of memory (complaints)");
			return;
		}
		struct complaint *c = (struct complaint *)p->a + i;
		c->key = key;
		c->q = (uint32_t)q;
		c->opened_ts = opened;
		c->live = 1;
	}
	load_free_list(L, p, live, offsetof(struct complaint, live), offsetof(struct complaint, next_free));
}

static void load_agents(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	uint32_t n = get_count(r, 10, e->now == INT64_MIN ? 0 : MAX_RECORDS, "agents");
	if (r->rc || !n)
		return;
	e->agents = calloc(n, sizeof(*e->agents));
	if (!e->agents) {
		fail(r, -ENOMEM, "checkpoint: out of memory (agents)");
		return;
	}
	e->cap_agents = n;
	for (uint32_t i = 0; i < n && !r->rc; i++) {
		uint64_t key = get_le64r(r);
		uint8_t state = get_u8(r);
		uint32_t nq = get_count(r, 1, CCP_AGENT_MAX_QUEUES, "queues of an agent");
		if (r->rc)
			return;
		if (!key || state >= CCP_AGENT__COUNT) {
			bad(r, "agent key %#llx state %u", (unsigned long long)key, state);
			return;
		}
		if (ccp__idmap_find(&e->agent_map, key)) {
			bad(r, "agent key %#llx twice", (unsigned long long)key);
			return;
		}
		struct agent *a = &e->agents[i];
		a->qs = malloc(sizeof(uint32_t) * (nq ? nq : 1));
		if (!a->qs || ccp__idmap_put(&e->agent_map, key, i)) {
			free(a->qs);
			a->qs = NULL;
			fail(r, -ENOMEM, "checkpoint: out of memory (agents)");
			return;
		}
		e->n_agents = i + 1; /* from here on ccp_engine_free frees its queues */
		a->cap = nq ? nq : 1;
		a->key = key;
		a->state = state;
		a->seen = 1;
		for (uint32_t k = 0; k < nq && !r->rc; k++) {
			uint64_t q = get_varint(r);
			if (!r->rc && q >= e->n_queues)
				bad(r, "agent in queue %llu of %u", (unsigned long long)q, e->n_queues);
			a->qs[k] = (uint32_t)q;
		}
		a->nq = nq;
	}
}

static void load_dedup(struct loader *L)
{
	struct rd *r = &L->r;
	struct ccp_engine *e = L->e;
	uint64_t max = e->now == INT64_MIN ? 0 : e->dedup.max_ids < MAX_RECORDS ? e->dedup.max_ids : MAX_RECORDS;
	uint32_t n = get_count(r, 9, max, "dedup ids");
	if (r->rc)
		return;
	if (ccp__dedup_reserve(&e->dedup, n)) {
		fail(r, -ENOMEM, "checkpoint: out of memory (%u dedup ids)", n);
		return;
	}
	int64_t at = e->now;
	for (uint32_t i = 0; i < n && !r->rc; i++) {
		uint64_t key = get_le64r(r);
		/* The first as a gap back from the clock, the others forward
		 * from the one before: ids are taken as the clock goes. */
		at = i ? get_after(r, at, e->now, "a dedup id's time") : get_before(r, e->now, "a dedup id's time");
		if (r->rc)
			return;
		if (!key) {
			bad(r, "dedup key 0");
			return;
		}
		if (ccp__dedup_check_add(&e->dedup, key, at)) {
			bad(r, "dedup key %#llx twice", (unsigned long long)key);
			return;
		}
	}
}

/* Rolling windows are sums of buckets: with every bucket within 2^62 a sum
 * of many may still not be. */
static void check_windows(struct loader *L)
{
	const struct ccp_engine *e = L->e;
	for (uint32_t qi = 0; qi < e->n_queues; qi++)
		for (uint32_t w = 0; w < e->n_win; w++) {
			uint64_t v[SUMS_WORDS];
			memcpy(v, &e->queues[qi].ws[w].s, sizeof(v));
			for (size_t i = 0; i < SUMS_WORDS; i++)
				if ((int64_t)v[i] > SUMS_LIMIT || (int64_t)v[i] < -SUMS_LIMIT) {
					fail(&L->r, -EBADMSG, "checkpoint: window %s of queue %u sums beyond 2^62",
					     e->win[w].name, qi);
					return;
				}
		}
}

static bool fresh(const struct ccp_engine *e)
{
	const struct ccp_engine_counters *c = &e->counters;
	return e->now == INT64_MIN && !e->n_queues && !e->n_agents && !e->contacts.n && !e->promises.n &&
	       !e->complaints.n && !ccp__dedup_count(&e->dedup) && !c->late_events && !c->duplicates &&
	       !c->expired && !c->unmatched;
}

int ccp_snapshot_load(struct ccp_engine *e, const void *data, size_t len, char *err, size_t errlen)
{
	const uint8_t *d = data;
	struct loader L = {.r = {.base = d, .p = d, .end = d + len, .err = err, .errlen = errlen}, .e = e};
	struct rd *r = &L.r;
	if (!fresh(e))
		return fail(r, -EBUSY, "checkpoint: the engine is not fresh (load only into a new engine)");
	r->sec = 0; /* "header" */
	if (len < HEADER_BYTES)
		return truncated(r);
	if (memcmp(d, MAGIC, 4) != 0)
		return fail(r, -EBADMSG, "checkpoint: not a checkpoint (no \"" MAGIC "\" at byte 0)");
	uint32_t version = get_le32(d + 4);
	if (version != CCP_SNAPSHOT_FORMAT_VERSION)
		return fail(r, -ENOTSUP, "checkpoint: format version %u, this build reads %u", version,
			    CCP_SNAPSHOT_FORMAT_VERSION);
	uint64_t body = get_le64(d + 8);
	size_t room_for = len - HEADER_BYTES < TRAILER_BYTES ? 0 : len - HEADER_BYTES - TRAILER_BYTES;
	if (body > room_for || len < HEADER_BYTES + TRAILER_BYTES)
		return fail(r, -EBADMSG, "checkpoint: truncated at byte %zu (the header says %llu bytes)", len,
			    (unsigned long long)body + HEADER_BYTES + TRAILER_BYTES);
	if (body < room_for)
		return fail(r, -EBADMSG, "checkpoint: %zu bytes after its end at byte %zu", (size_t)(room_for - body),
			    (size_t)body + HEADER_BYTES + TRAILER_BYTES);
	size_t sum_at = HEADER_BYTES + (size_t)body;
	if (get_le64(d + sum_at) != ccp__snapshot_checksum(d, sum_at))
		return fail(r, -EBADMSG, "checkpoint: bad checksum");

	L.body = d + HEADER_BYTES;
	L.body_end = d + sum_at;
	static void (*const loaders[])(struct loader *) = {
		[S_CONFIG] = load_config,     [S_CLOCK] = load_clock,       [S_QUEUES] = load_queues,
		[S_BUCKETS] = load_buckets,   [S_TODAY] = load_today,       [S_CONTACTS] = load_contacts,
		[S_PROMISES] = load_promises, [S_COMPLAINTS] = load_complaints, [S_AGENTS] = load_agents,
		[S_DEDUP] = load_dedup,
	};
	for (int s = S_CONFIG; s < S__END; s++) {
		if (!section_open(&L, (enum section)s))
			return r->rc;
		loaders[s](&L);
		if (!section_close(&L))
			return r->rc;
	}
	if (L.body != L.body_end) {
		r->p = L.body;
		r->sec = S_DEDUP;
		return bad(r, "%zu bytes after the last section", (size_t)(L.body_end - L.body));
	}
	if (ccp__engine_rebuild(e))
		return fail(r, -ENOMEM, "checkpoint: out of memory (rebuilding)");
	check_windows(&L);
	return r->rc;
}
