/* Unit tests: engine checkpoints (snapshot module).
 *
 * Equivalence by splitting. A stream is a list of operations: events (NDJSON
 * lines) and wall-clock advances (ccp_engine_advance_to). Engine A applies
 * the whole stream and is never saved. Engine B applies it too, and at a
 * split point k (B has applied ops [0, k)) it is saved; the checkpoint is
 * loaded into a fresh engine C, saved again (the bytes must be the same),
 * and C applies ops [k, ...) alongside B. At the end of its run C must show
 * exactly what B shows (and B what A shows): the dump of every output (every
 * queue's every window: sums, maximum, bounds, histogram and the computed
 * figures with percentiles; live figures; agents; counters; the overdue list
 * in order) and the minute_cb calls made after k, one for one.
 * - Full runs: C goes on to the end of the stream.
 * - Short runs: at every k of a stream, C goes on for W ops, then is
 *   compared and freed (so every split point is tried, at O(n W) cost).
 * Streams: tests/data/replay_basic.ndjson (every k, full), sample.ndjson
 * (every k short; ~60 k full), and a generated one from the simulator with
 * duplicates, late events, idle advances, agents listing a queue twice,
 * repeated promises, and gaps longer than the open and dedup horizons; also
 * under a time zone with a 45-minute offset, across its midnight; equal
 * deadlines in several queues (the overdue list's order); times near the
 * epoch, where rings reach below bucket 0.
 *
 * Corruption: every truncation and random byte flips of a small checkpoint
 * are rejected with a message; flips with the length and checksum fixed up
 * afterwards (so they reach the parsers) load or fail, never crash, and what
 * loads runs; another version, another config and a used engine are refused
 * with their own messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/figures.h"
#include "ccpulse/hist.h"
#include "ccpulse/sim.h"
#include "ccpulse/snapshot.h"
#include "ccpulse/tz.h"
#include "hash.h"
#include "snapshot_internal.h"

#define HOUR_MS 3600000LL

static struct ccp_decoder dec;

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- streams ------------------------------------------------------------- */

enum op_kind { OP_EVENT, OP_ADVANCE };

/* One operation of a stream: an event (a line of the stream's text) or an
 * advance of the clock. Owner: its stream. */
struct op {
	enum op_kind kind;
	size_t off;
	uint32_t len;
	int64_t adv_ms; /* advance: the clock to move to */
};

/* A test's operations; lines live in one text buffer. Owner: the test. */
struct stream {
	char *text;
	size_t text_len, text_cap;
	struct op *ops;
	size_t n, cap;
	int64_t max_ts; /* of the events added so far */
};

static void stream_push(struct stream *st, struct op op)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 1024;
		st->ops = realloc(st->ops, st->cap * sizeof(*st->ops));
		assert_non_null(st->ops);
	}
	st->ops[st->n++] = op;
}

static void stream_line(struct stream *st, const char *line, size_t len)
{
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (!len)
		return;
	if (st->text_len + len > st->text_cap) {
		st->text_cap = (st->text_len + len) * 2 + 4096;
		st->text = realloc(st->text, st->text_cap);
		assert_non_null(st->text);
	}
	memcpy(st->text + st->text_len, line, len);
	struct ccp_event ev;
	if (ccp_decode(&dec, st->text + st->text_len, len, &ev, NULL) == CCP_REJECT_NONE && ev.ts_ms > st->max_ts)
		st->max_ts = ev.ts_ms;
	stream_push(st, (struct op){OP_EVENT, st->text_len, (uint32_t)len, 0});
	st->text_len += len;
}

static void stream_linef(struct stream *st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	stream_line(st, buf, (size_t)n);
}

static void stream_advance(struct stream *st, int64_t to_ms)
{
	stream_push(st, (struct op){OP_ADVANCE, 0, 0, to_ms});
}

static void stream_file(struct stream *st, const char *rel)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", CCP_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0)
		stream_line(st, line, (size_t)n);
	free(line);
	fclose(f);
}

static void stream_free(struct stream *st)
{
	free(st->text);
	free(st->ops);
	memset(st, 0, sizeof(*st));
}

/* ---- minute_cb recording ---------------------------------------------- */

/* One minute_cb call, as compared. Owner: its mlog. */
struct minute_rec {
	uint32_t q;
	int64_t start, end;
	struct ccp_sums s;
	bool has_max;
	int64_t max;
	uint64_t hist_n, hist_hash;
	size_t at_op; /* the op during which it was called */
};

/* One engine's minute_cb calls. Owner: the test; the engine's minute_ud. */
struct mlog {
	struct minute_rec *a;
	size_t n, cap;
	size_t cur_op;
};

static void on_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	struct mlog *l = ud;
	if (!l)
		return; /* an engine whose minutes nobody compares */
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->a = realloc(l->a, l->cap * sizeof(*l->a));
		assert_non_null(l->a);
	}
	struct minute_rec *r = &l->a[l->n++];
	memset(r, 0, sizeof(*r));
	r->q = q;
	r->start = m->window_start_ms;
	r->end = m->window_end_ms;
	r->s = m->sums;
	r->has_max = m->has_max_wait;
	r->max = m->has_max_wait ? m->max_wait_ms : 0;
	r->hist_n = m->hist ? m->hist->n : 0;
	r->hist_hash = m->hist && m->hist->n ? ccp__hash_bytes(m->hist->bins, sizeof(m->hist->bins)) : 0;
	r->at_op = l->cur_op;
}

static void same_minutes(const struct minute_rec *a, size_t na, const struct minute_rec *b, size_t nb, size_t k)
{
	if (na != nb)
		fail_msg("split at %zu: %zu minute_cb calls after the split, the loaded engine made %zu", k, na, nb);
	for (size_t i = 0; i < na; i++) {
		const struct minute_rec *x = &a[i], *y = &b[i];
		if (x->q != y->q || x->start != y->start || x->end != y->end || memcmp(&x->s, &y->s, sizeof(x->s)) ||
		    x->has_max != y->has_max || x->max != y->max || x->hist_n != y->hist_n ||
		    x->hist_hash != y->hist_hash || x->at_op != y->at_op)
			fail_msg("split at %zu: minute call %zu differs: queue %u [%lld, %lld) at op %zu vs queue %u [%lld, %lld) at op %zu",
				 k, i, x->q, (long long)x->start, (long long)x->end, x->at_op, y->q, (long long)y->start,
				 (long long)y->end, y->at_op);
	}
}

/* ---- engines ----------------------------------------------------------- */

static struct ccp_engine *mk(const struct ccp_engine_config *base, struct mlog *log)
{
	struct ccp_engine_config cfg = *base;
	if (cfg.minute_cb)
		cfg.minute_ud = log;
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	if (!e)
		fail_msg("ccp_engine_new: %s", err);
	return e;
}

static void apply_op(struct ccp_engine *e, const struct stream *st, size_t i)
{
	const struct op *op = &st->ops[i];
	if (op->kind == OP_ADVANCE) {
		ccp_engine_advance_to(e, op->adv_ms);
		return;
	}
	struct ccp_event ev;
	if (ccp_decode(&dec, st->text + op->off, op->len, &ev, NULL) != CCP_REJECT_NONE)
		return; /* bad input never reaches the engine */
	ccp_engine_apply(e, &ev);
}

/* ---- every output as text ---------------------------------------------- */

/* An engine's every output as text, for comparing two engines and saying
 * where they differ. Owner: the test. */
struct dump {
	char *s;
	size_t n, cap;
};

static void dput(struct dump *d, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(d->s + d->n, d->cap - d->n, fmt, ap);
		va_end(ap);
		assert_true(k >= 0);
		if ((size_t)k < d->cap - d->n) {
			d->n += (size_t)k;
			return;
		}
		d->cap = d->cap * 2 + (size_t)k + 4096;
		d->s = realloc(d->s, d->cap);
		assert_non_null(d->s);
	}
}

static void emit_field(void *ud, const char *name, const char *value, size_t len)
{
	dput(ud, " %s=%.*s", name, (int)len, value);
}

static void dump_overdue(void *ud, struct ccp_str queue, struct ccp_str promise, int64_t due_ms)
{
	dput(ud, "overdue %.*s %.*s %lld\n", (int)queue.len, queue.ptr, (int)promise.len, promise.ptr,
	     (long long)due_ms);
}

static void dump_engine(const struct ccp_engine *e, struct dump *d)
{
	d->n = 0;
	if (!d->cap) {
		d->cap = 1 << 16;
		d->s = malloc(d->cap);
		assert_non_null(d->s);
	}
	d->s[0] = 0;
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	dput(d, "now %lld late %llu dup %llu expired %llu unmatched %llu\n", (long long)ccp_engine_now(e),
	     (unsigned long long)c.late_events, (unsigned long long)c.duplicates, (unsigned long long)c.expired,
	     (unsigned long long)c.unmatched);
	uint64_t ag[CCP_AGENT__COUNT];
	ccp_engine_agents_total(e, ag);
	dput(d, "agents %llu %llu %llu %llu\n", (unsigned long long)ag[0], (unsigned long long)ag[1],
	     (unsigned long long)ag[2], (unsigned long long)ag[3]);
	for (uint32_t q = 0; q < ccp_engine_queue_count(e); q++) {
		struct ccp_str name = ccp_engine_queue_name(e, q);
		struct ccp_live_stats ls;
		ccp_engine_live_stats(e, q, &ls);
		dput(d, "queue %u %.*s live waiting=%llu oldest=%d/%lld open=%llu overdue=%llu complaints=%llu agents=%llu/%llu/%llu/%llu\n",
		     q, (int)name.len, name.ptr, (unsigned long long)ls.waiting, ls.has_oldest_wait,
		     (long long)ls.oldest_wait_start_ms, (unsigned long long)ls.promises_open,
		     (unsigned long long)ls.promises_overdue, (unsigned long long)ls.complaints_open,
		     (unsigned long long)ls.agents[0], (unsigned long long)ls.agents[1], (unsigned long long)ls.agents[2],
		     (unsigned long long)ls.agents[3]);
		if (ccp_engine_now(e) != INT64_MIN) {
			struct ccp_field lf[CCP_LF__COUNT];
			ccp_figures_live(&ls, ccp_engine_now(e), lf);
			dput(d, "  live:");
			ccp_fields_emit(lf, ccp_lfield_names, CCP_LF__COUNT, emit_field, d);
			dput(d, "\n");
		}
		for (uint32_t w = 0; w < ccp_engine_window_count(e); w++) {
			struct ccp_window_stats ws;
			ccp_engine_window_stats(e, q, w, &ws);
			dput(d, "  %s [%lld, %lld) max=%d/%lld hist=%llu/%016llx sums", ccp_engine_window_name(e, w),
			     (long long)ws.window_start_ms, (long long)ws.window_end_ms, ws.has_max_wait,
			     (long long)(ws.has_max_wait ? ws.max_wait_ms : 0),
			     (unsigned long long)(ws.hist ? ws.hist->n : 0),
			     (unsigned long long)(ws.hist && ws.hist->n ? ccp__hash_bytes(ws.hist->bins, sizeof(ws.hist->bins)) : 0));
			const uint64_t *v = (const uint64_t *)&ws.sums;
			for (size_t i = 0; i < sizeof(ws.sums) / 8; i++)
				dput(d, " %llu", (unsigned long long)v[i]);
			dput(d, "\n   ");
			struct ccp_field f[CCP_WF__COUNT];
			ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
			ccp_fields_emit(f, ccp_wfield_names, CCP_WF__COUNT, emit_field, d);
			dput(d, "\n");
		}
	}
	ccp_engine_overdue_foreach(e, dump_overdue, d);
}

static void same_dump(const struct dump *a, const struct dump *b, const char *what, size_t k)
{
	if (a->n == b->n && memcmp(a->s, b->s, a->n) == 0)
		return;
	size_t i = 0;
	while (i < a->n && i < b->n && a->s[i] == b->s[i])
		i++;
	size_t ls = i;
	while (ls && a->s[ls - 1] != '\n')
		ls--;
	const char *ea = memchr(a->s + ls, '\n', a->n - ls), *eb = memchr(b->s + ls, '\n', b->n - ls);
	int la = ea ? (int)(ea - a->s - ls) : (int)(a->n - ls), lb = eb ? (int)(eb - b->s - ls) : (int)(b->n - ls);
	fail_msg("%s (split at %zu) differs:\n  original: %.*s\n  loaded:   %.*s", what, k, la, a->s + ls, lb,
		 b->s + ls);
}

/* ---- save, load, save again --------------------------------------------- */

/* A fresh engine loaded from `from`'s checkpoint (which must save to the
 * same bytes again); `blob` keeps the bytes. */
static struct ccp_engine *roundtrip(const struct ccp_engine *from, const struct ccp_engine_config *cfg,
				    struct mlog *log, struct ccp_snapshot_buf *blob, struct ccp_snapshot_buf *again)
{
	char err[256] = "";
	ccp_snapshot_buf_reset(blob);
	int rc = ccp_snapshot_save(from, blob, err, sizeof(err));
	if (rc)
		fail_msg("save: %d %s", rc, err);
	struct ccp_engine *c = mk(cfg, log);
	rc = ccp_snapshot_load(c, blob->data, blob->len, err, sizeof(err));
	if (rc)
		fail_msg("load: %d %s", rc, err);
	ccp_snapshot_buf_reset(again);
	rc = ccp_snapshot_save(c, again, err, sizeof(err));
	if (rc)
		fail_msg("save after load: %d %s", rc, err);
	if (again->len != blob->len || memcmp(again->data, blob->data, blob->len) != 0)
		fail_msg("save -> load -> save: %zu bytes then %zu, not the same", blob->len, again->len);
	return c;
}

/* One loaded engine in flight. Owner: run_splits. */
struct flight {
	struct ccp_engine *e;
	struct mlog *log; /* the engine's minute_ud: stays put when flights move */
	size_t k, until; /* loaded at k, compared after op until-1 */
};

/* What run_splits did, for the test's own checks. Owner: the test. */
struct split_stats {
	size_t splits, max_bytes;
	uint64_t minutes_after;
};

/* `full` (sorted, may repeat) are split points run to the end; with
 * `horizon` > 0 every `stride`-th other point is run for that many ops. */
static void run_splits(const struct stream *st, const struct ccp_engine_config *cfg, const size_t *full, size_t nfull,
		       size_t horizon, size_t stride, struct split_stats *out)
{
	struct mlog la = {0}, lb = {0};
	struct ccp_engine *a = mk(cfg, &la), *b = mk(cfg, &lb);
	for (size_t i = 0; i < st->n; i++) {
		la.cur_op = i;
		apply_op(a, st, i);
	}
	size_t *first_rec = calloc(st->n + 1, sizeof(size_t)); /* b's log length when op i began */
	size_t cap_fl = horizon + nfull + 2, n_fl = 0, fi = 0;
	struct flight *fl = calloc(cap_fl, sizeof(*fl));
	assert_non_null(first_rec);
	assert_non_null(fl);
	struct ccp_snapshot_buf blob, again;
	ccp_snapshot_buf_init(&blob);
	ccp_snapshot_buf_init(&again);
	struct dump db = {0}, dc = {0};
	for (size_t i = 0;; i++) {
		bool is_full = fi < nfull && full[fi] == i;
		while (fi < nfull && full[fi] == i)
			fi++;
		if (is_full || (horizon && i < st->n && i % stride == 0)) {
			assert_true(n_fl < cap_fl);
			struct flight *f = &fl[n_fl++];
			memset(f, 0, sizeof(*f));
			f->log = calloc(1, sizeof(*f->log));
			assert_non_null(f->log);
			f->e = roundtrip(b, cfg, f->log, &blob, &again);
			f->k = i;
			f->until = is_full ? st->n : i + horizon < st->n ? i + horizon : st->n;
			if (blob.len > out->max_bytes)
				out->max_bytes = blob.len;
			out->splits++;
			if (is_full) {
				/* Right after the load: the same outputs. */
				dump_engine(b, &db);
				dump_engine(f->e, &dc);
				same_dump(&db, &dc, "right after load", i);
			}
		}
		first_rec[i] = lb.n;
		/* Compare and retire the flights whose run ends here. */
		bool have_db = false;
		for (size_t j = 0; j < n_fl;) {
			struct flight *f = &fl[j];
			if (f->until != i) {
				j++;
				continue;
			}
			if (!have_db) {
				dump_engine(b, &db);
				have_db = true;
			}
			dump_engine(f->e, &dc);
			same_dump(&db, &dc, "outputs", f->k);
			same_minutes(lb.a ? lb.a + first_rec[f->k] : NULL, lb.n - first_rec[f->k], f->log->a, f->log->n,
				     f->k);
			out->minutes_after += f->log->n;
			ccp_engine_free(f->e);
			free(f->log->a);
			free(f->log);
			*f = fl[--n_fl];
		}
		if (i == st->n)
			break;
		lb.cur_op = i;
		apply_op(b, st, i);
		for (size_t j = 0; j < n_fl; j++) {
			fl[j].log->cur_op = i;
			apply_op(fl[j].e, st, i);
		}
	}
	assert_int_equal(n_fl, 0);
	/* B was saved many times; it must still be A. */
	struct dump da = {0};
	dump_engine(a, &da);
	dump_engine(b, &db);
	same_dump(&da, &db, "the saved engine vs one never saved", st->n);
	same_minutes(la.a, la.n, lb.a, lb.n, 0);
	free(da.s);
	free(db.s);
	free(dc.s);
	free(first_rec);
	free(fl);
	free(la.a);
	free(lb.a);
	ccp_snapshot_buf_free(&blob);
	ccp_snapshot_buf_free(&again);
	ccp_engine_free(a);
	ccp_engine_free(b);
}

static void config_minutes(struct ccp_engine_config *cfg)
{
	ccp_engine_config_defaults(cfg);
	cfg->minute_cb = on_minute;
}

/* ---- the streams ------------------------------------------------------- */

static void test_replay_basic_every_split(void **state)
{
	(void)state;
	struct stream st = {0};
	stream_file(&st, "tests/data/replay_basic.ndjson");
	assert_true(st.n > 20);
	/* Idle advances between the events, some across minutes. */
	struct stream adv = {0};
	for (size_t i = 0; i < st.n; i++) {
		stream_line(&adv, st.text + st.ops[i].off, st.ops[i].len);
		if (i % 3 == 1)
			stream_advance(&adv, adv.max_ts + (int64_t)(i * 7919 % 90000));
	}
	size_t *all = calloc(adv.n + 1, sizeof(size_t));
	for (size_t i = 0; i <= adv.n; i++)
		all[i] = i;
	struct ccp_engine_config cfg;
	config_minutes(&cfg);
	struct split_stats s1 = {0}, s2 = {0};
	run_splits(&st, &cfg, all, st.n + 1, 0, 1, &s1);
	run_splits(&adv, &cfg, all, adv.n + 1, 0, 1, &s2);
	assert_int_equal(s2.splits, adv.n + 1);
	assert_true(s2.minutes_after > 0);
	free(all);
	stream_free(&st);
	stream_free(&adv);
}

static void test_sample_splits(void **state)
{
	(void)state;
	struct stream st = {0};
	stream_file(&st, "tests/data/sample.ndjson");
	assert_true(st.n > 4000);
	size_t full[64];
	size_t nf = 0;
	uint64_t seed = 11;
	full[nf++] = 0;
	while (nf < 60)
		full[nf++] = rng_next(&seed) % (st.n + 1);
	full[nf++] = st.n;
	for (size_t i = 1; i < nf; i++) /* sort */
		for (size_t j = i; j && full[j - 1] > full[j]; j--) {
			size_t t = full[j];
			full[j] = full[j - 1];
			full[j - 1] = t;
		}
	struct ccp_engine_config cfg;
	config_minutes(&cfg);
	struct split_stats s = {0};
	run_splits(&st, &cfg, full, nf, 16, 1, &s);
	assert_true(s.splits >= st.n);
	assert_true(s.minutes_after > 0);
	stream_free(&st);
}

/* A day of simulated traffic in two runs with a long gap between them,
 * with duplicates, late events, idle advances and odd agents mixed in. */
static void build_sim_stream(struct stream *st, int64_t start_ms)
{
	uint64_t seed = 42;
	char line[CCP_SIM_EVENT_MAX_BYTES];
	size_t n_dup = 0, n_late = 0;
	for (int run = 0; run < 2; run++) {
		struct ccp_sim_config c;
		ccp_sim_config_default(&c);
		c.n_queues = 4;
		c.start_ms = run == 0 ? start_ms : st->max_ts + 5 * HOUR_MS;
		c.duration_ms = run == 0 ? 5 * HOUR_MS : 2 * HOUR_MS;
		c.seed = 7 + (uint64_t)run;
		c.curve = CCP_SIM_CURVE_FLAT;
		for (int q = 0; q < c.n_queues; q++)
			c.queues[q].calls_per_hour /= 2;
		if (run == 1) {
			/* Idle across the gap: windows drain, pairing state and
			 * dedup ids pass their horizons. */
			for (int h = 1; h <= 4; h++)
				stream_advance(st, st->max_ts + h * HOUR_MS);
		}
		struct ccp_sim *s;
		char err[256];
		if (ccp_sim_new(&c, 20000, &s, err, sizeof(err)) < 0)
			fail_msg("ccp_sim_new: %s", err);
		struct ccp_sim_event ev;
		size_t first = st->n;
		while (ccp_sim_next(s, &ev)) {
			size_t len = ccp_sim_format(s, &ev, line, sizeof(line));
			assert_true(len > 0);
			stream_line(st, line, len);
			uint64_t r = rng_next(&seed);
			size_t n = st->n;
			if (r % 89 == 0 && n - first > 50) {
				/* A duplicate of a recent event. */
				const struct op *o = &st->ops[n - 1 - (r >> 8) % 40];
				if (o->kind == OP_EVENT) {
					char copy[CCP_SIM_EVENT_MAX_BYTES];
					memcpy(copy, st->text + o->off, o->len);
					stream_line(st, copy, o->len);
					n_dup++;
				}
			}
			if (r % 211 == 3) {
				stream_linef(st, "{\"id\":\"late-%zu\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"billing\",\"contact\":\"late-c%zu\"}",
					     n_late, (long long)(st->max_ts - 25 * HOUR_MS), n_late);
				n_late++;
			}
			if (r % 61 == 5)
				stream_advance(st, st->max_ts + (int64_t)((r >> 20) % 20000));
			if (r % 997 == 7) {
				/* An agent listing a queue twice, then one going offline. */
				stream_linef(st, "{\"id\":\"ag-%llu\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"x-%llu\",\"state\":\"busy\",\"queues\":[\"billing\",\"sales\",\"billing\"]}",
					     (unsigned long long)r, (long long)st->max_ts, (unsigned long long)(r % 5));
				stream_linef(st, "{\"id\":\"ag2-%llu\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"x-%llu\",\"state\":\"offline\",\"queues\":[\"sales\"]}",
					     (unsigned long long)r, (long long)st->max_ts, (unsigned long long)((r >> 9) % 5));
			}
			if (r % 503 == 11) {
				/* A promise made twice, kept with no promise, and two due
				 * at the same instant in two queues. */
				long long ts = (long long)st->max_ts, due = ts + 600000 - ts % 1000;
				stream_linef(st, "{\"id\":\"pm-%llu\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"sales\",\"contact\":\"c\",\"promise\":\"tie-%llu\",\"due\":%lld}",
					     (unsigned long long)r, ts, (unsigned long long)r, due);
				stream_linef(st, "{\"id\":\"pn-%llu\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"billing\",\"contact\":\"c\",\"promise\":\"tie-%llu\",\"due\":%lld}",
					     (unsigned long long)r, ts, (unsigned long long)r, due);
				stream_linef(st, "{\"id\":\"po-%llu\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"sales\",\"contact\":\"c\",\"promise\":\"tie-%llu\",\"due\":%lld}",
					     (unsigned long long)r, ts, (unsigned long long)r, due);
				stream_linef(st, "{\"id\":\"pk-%llu\",\"type\":\"promise.kept\",\"ts\":%lld,\"queue\":\"sales\",\"contact\":\"c\",\"promise\":\"none-%llu\"}",
					     (unsigned long long)r, ts, (unsigned long long)r);
			}
		}
		ccp_sim_free(s);
	}
	assert_true(n_dup > 10 && n_late > 10);
}

static void sim_splits(const struct ccp_engine_config *cfg, int64_t start_ms, size_t horizon, size_t stride,
		       size_t nfull)
{
	struct stream st = {0};
	build_sim_stream(&st, start_ms);
	assert_true(st.n > 10000);
	size_t full[128];
	size_t nf = 0;
	uint64_t seed = 5;
	full[nf++] = 0;
	while (nf < nfull)
		full[nf++] = rng_next(&seed) % (st.n + 1);
	/* Around the gap: the advances over it and the first events after. */
	for (size_t i = 1; i < st.n && nf < sizeof(full) / sizeof(full[0]) - 1; i++)
		if (st.ops[i].kind == OP_ADVANCE && st.ops[i - 1].kind == OP_ADVANCE)
			full[nf++] = i;
	full[nf++] = st.n;
	for (size_t i = 1; i < nf; i++)
		for (size_t j = i; j && full[j - 1] > full[j]; j--) {
			size_t t = full[j];
			full[j] = full[j - 1];
			full[j - 1] = t;
		}
	struct split_stats s = {0};
	run_splits(&st, cfg, full, nf, horizon, stride, &s);
	assert_true(s.minutes_after > 0);

	/* The stream did what it is for. */
	struct mlog l = {0};
	struct ccp_engine *e = mk(cfg, &l);
	for (size_t i = 0; i < st.n; i++)
		apply_op(e, &st, i);
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	assert_true(c.duplicates > 10);
	assert_true(c.late_events > 10);
	assert_true(c.expired > 0);
	assert_true(c.unmatched > 0);
	print_message("sim stream: %zu ops, %zu splits, largest checkpoint %zu bytes; dup %llu late %llu expired %llu unmatched %llu\n",
		      st.n, s.splits, s.max_bytes, (unsigned long long)c.duplicates, (unsigned long long)c.late_events,
		      (unsigned long long)c.expired, (unsigned long long)c.unmatched);
	ccp_engine_free(e);
	free(l.a);
	stream_free(&st);
}

static const struct ccp_sl_override overrides[] = {
	{"billing", {30000, 0, 0, 0, 0, 0}},
	{"sales", {10000, 90000, 0, 0, 0, 0}},
};

/* Horizons short enough for the stream's gap to pass them, a dedup set
 * small enough to evict by capacity, and per-queue thresholds. */
static void config_sim(struct ccp_engine_config *cfg)
{
	config_minutes(cfg);
	cfg->open_horizon_ms = 3 * HOUR_MS;
	cfg->dedup_horizon_ms = 2 * HOUR_MS;
	cfg->dedup_max_ids = 3000;
	cfg->sl_overrides = overrides;
	cfg->n_sl_overrides = 2;
}

static void test_sim_splits(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	config_sim(&cfg);
	sim_splits(&cfg, 1795305600000LL /* 2026-11-22T00:00Z */, 8, 9, 50);
}

/* Asia/Kathmandu (+05:45): local midnight at 18:15 UTC, inside the run. */
static void test_sim_splits_in_a_zone(void **state)
{
	(void)state;
	char err[256];
	struct ccp_tz *tz = ccp_tz_load("Asia/Kathmandu", err, sizeof(err));
	if (!tz)
		fail_msg("%s", err);
	struct ccp_engine_config cfg;
	config_sim(&cfg);
	cfg.tz = tz;
	sim_splits(&cfg, 1795305600000LL + 15 * HOUR_MS, 0, 1, 30);
	ccp_tz_free(tz);
}

/* Promises due at one instant in several queues, settled in every way,
 * their slots reused: the overdue list keeps its order after a load, and
 * so do the slots later promises take. */
static void test_ties_keep_their_order(void **state)
{
	(void)state;
	struct stream st = {0};
	const long long t0 = 1795339800000LL, due = t0 + 60000;
	const char *qs[] = {"a", "b", "c"};
	int id = 0;
	for (int round = 0; round < 4; round++) {
		long long ts = t0 + round * 120000LL, d = due + round * 120000LL;
		for (int i = 0; i < 30; i++)
			stream_linef(&st, "{\"id\":\"m%d\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"%s\",\"contact\":\"c\",\"promise\":\"p%d\",\"due\":%lld}",
				     id++, ts, qs[i % 3], (i * 7 + round) % 30, d);
		for (int i = 0; i < 30; i += 4)
			stream_linef(&st, "{\"id\":\"k%d\",\"type\":\"promise.%s\",\"ts\":%lld,\"queue\":\"%s\",\"contact\":\"c\",\"promise\":\"p%d\"}",
				     id++, i % 8 ? "kept" : "cancelled", ts + 1000, qs[i % 3], (i * 7 + round) % 30);
		stream_advance(&st, d); /* all come due at once */
		for (int i = 1; i < 30; i += 5)
			stream_linef(&st, "{\"id\":\"l%d\",\"type\":\"promise.kept\",\"ts\":%lld,\"queue\":\"%s\",\"contact\":\"c\",\"promise\":\"p%d\"}",
				     id++, d + 500, qs[i % 3], (i * 7 + round) % 30);
	}
	/* Then they all expire together. */
	stream_advance(&st, t0 + 8 * 86400000LL);
	for (int i = 0; i < 12; i++)
		stream_linef(&st, "{\"id\":\"n%d\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"%s\",\"contact\":\"c\",\"promise\":\"q%d\",\"due\":%lld}",
			     id++, t0 + 8 * 86400000LL, qs[i % 3], i, t0 + 8 * 86400000LL + 1000);
	stream_advance(&st, t0 + 8 * 86400000LL + 5000);
	size_t *all = calloc(st.n + 1, sizeof(size_t));
	for (size_t i = 0; i <= st.n; i++)
		all[i] = i;
	struct ccp_engine_config cfg;
	config_minutes(&cfg);
	struct split_stats s = {0};
	run_splits(&st, &cfg, all, st.n + 1, 0, 1, &s);
	free(all);
	stream_free(&st);
}

/* Times just after the epoch: the rings reach below bucket 0, where no
 * bucket can be (the save walks each ring down to bucket 0 only). */
static void test_near_the_epoch(void **state)
{
	(void)state;
	struct stream st = {0};
	for (int i = 0; i < 40; i++) {
		long long ts = 1000 + i * 9000LL;
		stream_linef(&st, "{\"id\":\"o%d\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q%d\",\"contact\":\"c%d\"}",
			     i, ts, i % 3, i);
		if (i % 4)
			stream_linef(&st, "{\"id\":\"a%d\",\"type\":\"contact.answered\",\"ts\":%lld,\"queue\":\"q%d\",\"contact\":\"c%d\"}",
				     i, ts + 7000 * (i % 5), i % 3, i);
		if (i % 7 == 3)
			stream_advance(&st, ts + 61000);
	}
	size_t *all = calloc(st.n + 1, sizeof(size_t));
	for (size_t i = 0; i <= st.n; i++)
		all[i] = i;
	struct ccp_engine_config cfg;
	config_minutes(&cfg);
	struct split_stats s = {0};
	run_splits(&st, &cfg, all, st.n + 1, 0, 1, &s);
	assert_true(s.minutes_after > 0);
	free(all);
	stream_free(&st);
}

/* ---- the API around it ---------------------------------------------------- */

static struct ccp_engine *engine_from(const char *rel, const struct ccp_engine_config *cfg, size_t max_ops)
{
	struct stream st = {0};
	stream_file(&st, rel);
	struct ccp_engine *e = mk(cfg, NULL);
	for (size_t i = 0; i < st.n && i < max_ops; i++)
		apply_op(e, &st, i);
	stream_free(&st);
	return e;
}

static int load_into_new(const struct ccp_engine_config *cfg, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct ccp_engine *e = mk(cfg, NULL);
	err[0] = 0;
	int rc = ccp_snapshot_load(e, p, n, err, errlen);
	ccp_engine_free(e);
	return rc;
}

static void test_errors_name_the_problem(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	struct ccp_engine *e = engine_from("tests/data/replay_basic.ndjson", &cfg, SIZE_MAX);
	struct ccp_snapshot_buf b = {0};
	char err[256];
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
	uint8_t *p = malloc(b.len);
	memcpy(p, b.data, b.len);

	/* Another version. */
	p[4] = 3;
	assert_int_equal(load_into_new(&cfg, p, b.len, err, sizeof(err)), -ENOTSUP);
	assert_string_equal(err, "checkpoint: format version 3, this build reads 1");
	p[4] = 1;
	/* Not a checkpoint. */
	assert_int_equal(load_into_new(&cfg, (const uint8_t *)"{\"hello\":1}, some json", 22, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a checkpoint"));
	/* Corrupt. */
	p[b.len / 2] ^= 0x10;
	assert_int_equal(load_into_new(&cfg, p, b.len, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "checkpoint: bad checksum");
	p[b.len / 2] ^= 0x10;
	/* Cut short, and too long. */
	assert_int_equal(load_into_new(&cfg, p, 9, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "checkpoint: truncated at byte 9 (header)");
	assert_int_equal(load_into_new(&cfg, p, b.len - 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checkpoint: truncated at byte"));
	uint8_t *longer = calloc(1, b.len + 3);
	memcpy(longer, p, b.len);
	assert_int_equal(load_into_new(&cfg, longer, b.len + 3, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "3 bytes after its end"));
	free(longer);
	/* A section that ends early inside a record (sealed, so the parser
	 * sees it): the message names the byte and the section. */
	{
		/* Find the contacts section by walking the section heads. */
		size_t at = CCP__SNAPSHOT_HEADER_BYTES, contacts = 0;
		while (at + 5 <= b.len - CCP__SNAPSHOT_TRAILER_BYTES) {
			uint32_t n = (uint32_t)p[at + 1] | (uint32_t)p[at + 2] << 8 | (uint32_t)p[at + 3] << 16 |
				     (uint32_t)p[at + 4] << 24;
			if (p[at] == 6)
				contacts = at;
			at += 5 + n;
		}
		assert_true(contacts > 0);
		uint8_t *q = malloc(b.len);
		memcpy(q, p, b.len);
		/* Claim one more live contact than the section holds. */
		size_t hdr = contacts + 5;
		assert_true(q[hdr] < 0x7f && q[hdr + 1] < 0x7f);
		q[hdr + 1]++;
		q[hdr]++;
		ccp__snapshot_seal(q, b.len);
		int rc = load_into_new(&cfg, q, b.len, err, sizeof(err));
		assert_int_equal(rc, -EBADMSG);
		assert_non_null(strstr(err, "(contacts)"));
		free(q);
	}

	/* Other configs. */
	struct ccp_engine_config other = cfg;
	other.n_windows = 2;
	other.windows[1] = cfg.windows[2]; /* 5m, 1h */
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with windows 5m/15m/1h/24h, config has 5m/1h");
	other = cfg;
	other.windows[0].bucket_ms = 60000;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with window 5m of 300000 ms in 10000 ms buckets, config has 300000 ms in 60000 ms buckets");
	other = cfg;
	other.minute_cb = on_minute;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with closed minutes off, config has them on");
	other = cfg;
	other.sl_threshold_ms[CCP_CH_CHAT] = 30000;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with service-level threshold 60000 ms for chat, config has 30000 ms");
	other = cfg;
	other.sl_overrides = overrides;
	other.n_sl_overrides = 1;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with 0 service-level overrides, config has 1");
	other = cfg;
	other.dedup_max_ids = 10;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "dedup horizon 86400000 ms and 4000000 ids, config has 86400000 ms and 10 ids"));
	other = cfg;
	other.open_horizon_ms = 1000;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	other = cfg;
	other.short_abandon_ms = 1000;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	other = cfg;
	other.sl_variant = CCP_SL_OFFERED;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with service-level variant answered_abandoned, config has offered");
	char e2[256];
	struct ccp_tz *tz = ccp_tz_load("Europe/Berlin", e2, sizeof(e2));
	assert_non_null(tz);
	other = cfg;
	other.tz = tz;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "checkpoint: written with time zone UTC, config has Europe/Berlin");
	ccp_tz_free(tz);
	/* UTC by name is UTC. */
	tz = ccp_tz_load("Etc/UTC", e2, sizeof(e2));
	other = cfg;
	other.tz = tz;
	assert_int_equal(load_into_new(&other, p, b.len, err, sizeof(err)), 0);
	ccp_tz_free(tz);

	/* Only into a fresh engine. */
	assert_int_equal(ccp_snapshot_load(e, p, b.len, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "not fresh"));
	free(p);
	ccp_snapshot_buf_free(&b);
	ccp_engine_free(e);
}

/* Every prefix of a small checkpoint and random flips are refused, each
 * with a message; nothing crashes (the sanitizer builds run this). */
static void test_truncations_and_flips_are_refused(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	config_minutes(&cfg);
	struct ccp_engine *e = engine_from("tests/data/replay_basic.ndjson", &cfg, SIZE_MAX);
	struct ccp_snapshot_buf b = {0};
	char err[256];
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *p = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
		memcpy(p, b.data, n);
		int rc = load_into_new(&cfg, p, n, err, sizeof(err));
		if (rc != -EBADMSG || strncmp(err, "checkpoint: truncated at byte", 29) != 0)
			fail_msg("prefix of %zu of %zu bytes: %d %s", n, b.len, rc, err);
		free(p);
	}
	uint64_t seed = 3;
	uint8_t *p = malloc(b.len);
	for (int t = 0; t < 3000; t++) {
		memcpy(p, b.data, b.len);
		int flips = 1 + (int)(rng_next(&seed) % 3);
		for (int f = 0; f < flips; f++) {
			uint64_t r = rng_next(&seed);
			p[r % b.len] ^= (uint8_t)(1u << (r >> 32) % 8);
		}
		if (!memcmp(p, b.data, b.len))
			continue; /* two flips undid each other */
		int rc = load_into_new(&cfg, p, b.len, err, sizeof(err));
		if (rc >= 0 || strncmp(err, "checkpoint: ", 12) != 0)
			fail_msg("flip %d: %d %s", t, rc, err);
	}
	free(p);
	ccp_snapshot_buf_free(&b);
	ccp_engine_free(e);
}

/* Flips and cuts past the checksum (length and checksum rewritten): the
 * loader either refuses with a message or gives an engine that runs. */
static void test_forged_checkpoints_are_harmless(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	config_minutes(&cfg);
	struct ccp_engine *e = engine_from("tests/data/sample.ndjson", &cfg, 600);
	struct ccp_snapshot_buf b = {0};
	char err[256];
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
	struct stream st = {0};
	stream_file(&st, "tests/data/sample.ndjson");
	uint64_t seed = 9;
	size_t loaded = 0, refused = 0;
	uint8_t *p = malloc(b.len + 64);
	struct dump d = {0};
	for (int t = 0; t < 1500; t++) {
		size_t n = b.len;
		memcpy(p, b.data, n);
		uint64_t r = rng_next(&seed);
		if (r % 4 == 0) {
			/* Cut or grow a section's middle. */
			size_t at = CCP__SNAPSHOT_HEADER_BYTES + (r >> 8) % (n - 24);
			size_t k = 1 + (r >> 40) % 16;
			if (r & 1 && at + k < n - 8) {
				memmove(p + at, p + at + k, n - at - k);
				n -= k;
			} else {
				memmove(p + at + k, p + at, n - at);
				memset(p + at, (int)(r >> 24), k);
				n += k;
			}
		} else {
			int flips = 1 + (int)(r % 4);
			for (int f = 0; f < flips; f++) {
				uint64_t q = rng_next(&seed);
				p[CCP__SNAPSHOT_HEADER_BYTES + q % (n - 24)] ^= (uint8_t)(1u << (q >> 32) % 8);
			}
		}
		ccp__snapshot_seal(p, n);
		struct ccp_engine *c = mk(&cfg, NULL);
		err[0] = 0;
		int rc = ccp_snapshot_load(c, p, n, err, sizeof(err));
		if (rc) {
			if (strncmp(err, "checkpoint: ", 12) != 0)
				fail_msg("forged %d: %d without a message", t, rc);
			refused++;
		} else {
			/* Loaded: it must run and report like any engine. */
			loaded++;
			for (size_t i = 600; i < 900; i++)
				apply_op(c, &st, i);
			ccp_engine_advance_to(c, ccp_engine_now(c) + 2 * HOUR_MS);
			dump_engine(c, &d);
		}
		ccp_engine_free(c);
	}
	print_message("forged checkpoints: %zu loaded, %zu refused\n", loaded, refused);
	assert_true(refused > 0);
	free(d.s);
	free(p);
	stream_free(&st);
	ccp_snapshot_buf_free(&b);
	ccp_engine_free(e);
}

/* Saves reuse the buffer; a failed save leaves it as it was. */
static void test_buffer_reuse_and_range(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	struct ccp_engine *e = engine_from("tests/data/sample.ndjson", &cfg, SIZE_MAX);
	struct ccp_snapshot_buf b;
	ccp_snapshot_buf_init(&b);
	char err[256];
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
	size_t len = b.len;
	uint8_t *data = b.data;
	size_t cap = b.cap;
	for (int i = 0; i < 5; i++) {
		ccp_snapshot_buf_reset(&b);
		assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
		assert_int_equal(b.len, len);
		assert_ptr_equal(b.data, data); /* no allocation once grown */
		assert_int_equal(b.cap, cap);
	}
	/* Appends after what the buffer holds. */
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
	assert_int_equal(b.len, 2 * len);
	assert_memory_equal(b.data, b.data + len, len);
	ccp_engine_free(e);

	/* An event time no live decoder lets through (year 36000). */
	e = mk(&cfg, NULL);
	struct ccp_event ev;
	const char *line = "{\"id\":\"x\",\"type\":\"contact.offered\",\"ts\":1073741824000000,\"queue\":\"q\",\"contact\":\"c\"}";
	assert_int_equal(ccp_decode(&dec, line, strlen(line), &ev, NULL), CCP_REJECT_NONE);
	ccp_engine_apply(e, &ev);
	size_t before = b.len;
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "beyond year 9999"));
	assert_int_equal(b.len, before);
	ccp_engine_free(e);

	/* Before 1970 (the API takes it, no decoder gives it): the engine's
	 * rings cannot keep such buckets apart, so no checkpoint holds them. */
	e = mk(&cfg, NULL);
	line = "{\"id\":\"y\",\"type\":\"contact.offered\",\"ts\":5000,\"queue\":\"q\",\"contact\":\"c\"}";
	assert_int_equal(ccp_decode(&dec, line, strlen(line), &ev, NULL), CCP_REJECT_NONE);
	ccp_engine_apply(e, &ev);
	ev.id = (struct ccp_str){"z", 1};
	ev.ts_ms = -5000;
	ccp_engine_apply(e, &ev);
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "before 1970"));
	assert_int_equal(b.len, before);
	ccp_engine_free(e);

	/* An engine with nothing applied round-trips, and then runs. */
	e = mk(&cfg, NULL);
	ccp_snapshot_buf_reset(&b);
	assert_int_equal(ccp_snapshot_save(e, &b, err, sizeof(err)), 0);
	struct ccp_engine *c = mk(&cfg, NULL);
	assert_int_equal(ccp_snapshot_load(c, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(ccp_engine_now(c), INT64_MIN);
	assert_int_equal(ccp_engine_queue_count(c), 0);
	ccp_engine_free(c);
	ccp_engine_free(e);
	ccp_snapshot_buf_free(&b);
	assert_null(b.data);
}

/* An engine that tries to save itself from its minute_cb. Owner: the
 * test; the engine's minute_ud. */
struct in_cb {
	struct ccp_engine *e;
	int rc;
	int calls;
};

static void save_in_cb(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	(void)q;
	(void)m;
	struct in_cb *x = ud;
	struct ccp_snapshot_buf b = {0};
	char err[256];
	x->rc = ccp_snapshot_save(x->e, &b, err, sizeof(err));
	x->calls++;
	ccp_snapshot_buf_free(&b);
}

static void test_saving_from_minute_cb_is_refused(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	struct in_cb x = {0};
	cfg.minute_cb = save_in_cb;
	cfg.minute_ud = &x;
	char err[256];
	x.e = ccp_engine_new(&cfg, err, sizeof(err));
	struct stream st = {0};
	stream_file(&st, "tests/data/replay_basic.ndjson");
	for (size_t i = 0; i < st.n; i++)
		apply_op(x.e, &st, i);
	ccp_engine_advance_to(x.e, ccp_engine_now(x.e) + 120000);
	assert_true(x.calls > 0);
	assert_int_equal(x.rc, -EBUSY);
	stream_free(&st);
	ccp_engine_free(x.e);
}

int main(void)
{
	ccp_decoder_init(&dec);
	/* CCP_TEST_FILTER=test_sim* runs only those (cmocka's pattern). */
	if (getenv("CCP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CCP_TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_basic_every_split),
		cmocka_unit_test(test_sample_splits),
		cmocka_unit_test(test_sim_splits),
		cmocka_unit_test(test_sim_splits_in_a_zone),
		cmocka_unit_test(test_ties_keep_their_order),
		cmocka_unit_test(test_near_the_epoch),
		cmocka_unit_test(test_errors_name_the_problem),
		cmocka_unit_test(test_truncations_and_flips_are_refused),
		cmocka_unit_test(test_forged_checkpoints_are_harmless),
		cmocka_unit_test(test_buffer_reuse_and_range),
		cmocka_unit_test(test_saving_from_minute_cb_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
