/* Partials of the `total` view (see include/ccpulse/partial.h). */
#include "ccpulse/partial.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/publish.h"
#include "ccpulse/total.h"

#define MAGIC "CCP"
#define SUMS_FIELDS (sizeof(struct ccp_sums) / sizeof(int64_t))
#define KEY_MAX 256

/* struct ccp_sums is 64-bit integers only (figures.h), so it is encoded
 * field by field as an array. */
_Static_assert(sizeof(struct ccp_sums) % sizeof(int64_t) == 0, "ccp_sums holds 64-bit fields only");

void ccp_partial_from_engine(struct ccp_partial *p, const struct ccp_engine *e,
			     const uint64_t rejects[CCP_REJECT__COUNT])
{
	p->now_ms = ccp_engine_now(e);
	p->n_windows = ccp_engine_window_count(e);
	for (uint32_t w = 0; w < p->n_windows; w++) {
		struct ccp_partial_window *pw = &p->w[w];
		snprintf(pw->name, sizeof(pw->name), "%s", ccp_engine_window_name(e, w));
		ccp_total_window(e, w, &pw->hist, &pw->ws);
		pw->ws.hist = &pw->hist;
	}
	ccp_total_live_stats(e, &p->live);
	ccp_engine_counters(e, &p->counters);
	memcpy(p->rejects, rejects, sizeof(p->rejects));
}

/* ---- encoding ------------------------------------------------------------------ */

/* Output buffer. */
struct out {
	char **buf;
	size_t *cap, len;
	bool oom;
};

static void put_u(struct out *o, uint64_t v)
{
	if (*o->cap - o->len < 10) {
		size_t n = *o->cap ? *o->cap * 2 : 1024;
		char *b = realloc(*o->buf, n);
		if (!b) {
			o->oom = true;
			return;
		}
		*o->buf = b;
		*o->cap = n;
	}
	do {
		unsigned char byte = v & 0x7F;
		v >>= 7;
		(*o->buf)[o->len++] = (char)(byte | (v ? 0x80 : 0));
	} while (v);
}

static void put_s(struct out *o, int64_t v)
{
	put_u(o, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

int ccp_partial_encode(const struct ccp_partial *p, char **buf, size_t *cap, size_t *len)
{
	struct out o = {.buf = buf, .cap = cap};
	for (size_t i = 0; i < 3; i++)
		put_u(&o, (unsigned char)MAGIC[i]);
	put_u(&o, CCP_PARTIAL_VERSION);
	put_s(&o, p->now_ms);
	put_u(&o, p->n_windows);
	for (uint32_t w = 0; w < p->n_windows && !o.oom; w++) {
		const struct ccp_partial_window *pw = &p->w[w];
		size_t nl = strnlen(pw->name, sizeof(pw->name));
		put_u(&o, nl);
		for (size_t i = 0; i < nl; i++)
			put_u(&o, (unsigned char)pw->name[i]);
		put_s(&o, pw->ws.window_start_ms);
		put_s(&o, pw->ws.window_end_ms);
		put_u(&o, pw->ws.has_max_wait);
		put_s(&o, pw->ws.max_wait_ms);
		int64_t f[SUMS_FIELDS];
		memcpy(f, &pw->ws.sums, sizeof(f));
		for (size_t i = 0; i < SUMS_FIELDS; i++)
			put_s(&o, f[i]);
		uint32_t nz = 0;
		for (uint32_t b = 0; b < CCP_HIST_BINS; b++)
			nz += pw->hist.bins[b] != 0;
		put_u(&o, nz);
		uint32_t prev = 0;
		for (uint32_t b = 0; b < CCP_HIST_BINS; b++) {
			if (!pw->hist.bins[b])
				continue;
			put_u(&o, b - prev);
			put_u(&o, pw->hist.bins[b]);
			prev = b;
		}
	}
	put_u(&o, p->live.waiting);
	put_u(&o, p->live.has_oldest_wait);
	put_s(&o, p->live.oldest_wait_start_ms);
	put_u(&o, p->live.promises_open);
	put_u(&o, p->live.promises_overdue);
	put_u(&o, p->live.complaints_open);
	put_u(&o, p->counters.late_events);
	put_u(&o, p->counters.duplicates);
	put_u(&o, p->counters.expired);
	put_u(&o, p->counters.unmatched);
	put_u(&o, CCP_REJECT__COUNT);
	for (int r = 0; r < CCP_REJECT__COUNT; r++)
		put_u(&o, p->rejects[r]);
	if (o.oom)
		return -ENOMEM;
	*len = o.len;
	return 0;
}

/* ---- decoding ------------------------------------------------------------------ */

/* Input cursor; `bad` holds the first problem. */
struct in {
	const unsigned char *p, *end;
	const unsigned char *start;
	const char *bad;
};

static uint64_t get_u(struct in *in)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (in->p == in->end) {
			in->bad = in->bad ? in->bad : "truncated";
			return 0;
		}
		unsigned char b = *in->p++;
		if (shift == 63 && b > 1) {
			in->bad = in->bad ? in->bad : "varint overflows 64 bits";
			return 0;
		}
		v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			return v;
	}
	in->bad = in->bad ? in->bad : "varint longer than 10 bytes";
	return 0;
}

static int64_t get_s(struct in *in)
{
	uint64_t u = get_u(in);
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static uint64_t get_max(struct in *in, uint64_t max, const char *what)
{
	uint64_t v = get_u(in);
	if (v > max && !in->bad)
		in->bad = what;
	return v > max ? 0 : v;
}

int ccp_partial_decode(struct ccp_partial *p, const void *buf, size_t len, char *err, size_t errlen)
{
	struct in in = {.p = buf, .end = (const unsigned char *)buf + len, .start = buf};
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < 3; i++)
		if (get_u(&in) != (unsigned char)MAGIC[i] && !in.bad)
			in.bad = "not a ccpulse partial (magic)";
	uint64_t version = get_u(&in);
	if (!in.bad && version != CCP_PARTIAL_VERSION)
		in.bad = "unknown version (written by another ccpulse release)";
	p->now_ms = get_s(&in);
	p->n_windows = (uint32_t)get_max(&in, CCP_MAX_WINDOWS + 1, "too many windows");
	for (uint32_t w = 0; w < p->n_windows && !in.bad; w++) {
		struct ccp_partial_window *pw = &p->w[w];
		size_t nl = get_max(&in, CCP_WINDOW_NAME_MAX - 1, "window name too long");
		for (size_t i = 0; i < nl; i++)
			pw->name[i] = (char)get_max(&in, 255, "window name byte out of range");
		pw->ws.window_start_ms = get_s(&in);
		pw->ws.window_end_ms = get_s(&in);
		pw->ws.has_max_wait = get_max(&in, 1, "bad flag") != 0;
		pw->ws.max_wait_ms = get_s(&in);
		int64_t f[SUMS_FIELDS];
		for (size_t i = 0; i < SUMS_FIELDS; i++)
			f[i] = get_s(&in);
		memcpy(&pw->ws.sums, f, sizeof(f));
		uint64_t nz = get_max(&in, CCP_HIST_BINS, "too many histogram bins");
		uint64_t bin = 0;
		for (uint64_t i = 0; i < nz && !in.bad; i++) {
			uint64_t d = get_u(&in);
			bin += d;
			if ((i > 0 && d == 0) || bin >= CCP_HIST_BINS) {
				in.bad = in.bad ? in.bad : "histogram bin out of order or range";
				break;
			}
			uint64_t c = get_max(&in, UINT32_MAX, "histogram count out of range");
			pw->hist.bins[bin] = (uint32_t)c;
			pw->hist.n += c;
		}
		pw->ws.hist = &pw->hist;
	}
	p->live.waiting = get_u(&in);
	p->live.has_oldest_wait = get_max(&in, 1, "bad flag") != 0;
	p->live.oldest_wait_start_ms = get_s(&in);
	p->live.promises_open = get_u(&in);
	p->live.promises_overdue = get_u(&in);
	p->live.complaints_open = get_u(&in);
	p->counters.late_events = get_u(&in);
	p->counters.duplicates = get_u(&in);
	p->counters.expired = get_u(&in);
	p->counters.unmatched = get_u(&in);
	uint64_t nr = get_u(&in);
	if (!in.bad && nr != CCP_REJECT__COUNT)
		in.bad = "reject reasons differ from this release";
	for (int r = 0; r < CCP_REJECT__COUNT && !in.bad; r++)
		p->rejects[r] = get_u(&in);
	if (!in.bad && in.p != in.end)
		in.bad = "trailing bytes";
	if (in.bad) {
		snprintf(err, errlen, "partial: %s at byte %zu of %zu", in.bad, (size_t)(in.p - in.start), len);
		memset(p, 0, sizeof(*p));
		return -EINVAL;
	}
	return 0;
}

/* ---- merging and rendering ---------------------------------------------------------- */

int ccp_partial_merge(struct ccp_partial *into, const struct ccp_partial *from, char *err, size_t errlen)
{
	if (into->n_windows != from->n_windows) {
		snprintf(err, errlen, "partial: %u windows here, %u there (instances configured differently?)",
			 into->n_windows, from->n_windows);
		return -EINVAL;
	}
	for (uint32_t w = 0; w < into->n_windows; w++)
		if (strncmp(into->w[w].name, from->w[w].name, CCP_WINDOW_NAME_MAX)) {
			snprintf(err, errlen, "partial: window %u is %.16s here, %.16s there", w, into->w[w].name,
				 from->w[w].name);
			return -EINVAL;
		}
	bool later = from->now_ms > into->now_ms;
	for (uint32_t w = 0; w < into->n_windows; w++) {
		struct ccp_window_stats *a = &into->w[w].ws;
		const struct ccp_window_stats *b = &from->w[w].ws;
		ccp_sums_add(&a->sums, &b->sums);
		ccp_hist_merge(&into->w[w].hist, &from->w[w].hist);
		a->hist = &into->w[w].hist;
		if (b->has_max_wait && (!a->has_max_wait || b->max_wait_ms > a->max_wait_ms)) {
			a->has_max_wait = true;
			a->max_wait_ms = b->max_wait_ms;
		}
		if (later) {
			a->window_start_ms = b->window_start_ms;
			a->window_end_ms = b->window_end_ms;
		}
	}
	if (later)
		into->now_ms = from->now_ms;
	into->live.waiting += from->live.waiting;
	into->live.promises_open += from->live.promises_open;
	into->live.promises_overdue += from->live.promises_overdue;
	into->live.complaints_open += from->live.complaints_open;
	if (from->live.has_oldest_wait &&
	    (!into->live.has_oldest_wait || from->live.oldest_wait_start_ms < into->live.oldest_wait_start_ms)) {
		into->live.has_oldest_wait = true;
		into->live.oldest_wait_start_ms = from->live.oldest_wait_start_ms;
	}
	into->counters.late_events += from->counters.late_events;
	into->counters.duplicates += from->counters.duplicates;
	into->counters.expired += from->counters.expired;
	into->counters.unmatched += from->counters.unmatched;
	for (int r = 0; r < CCP_REJECT__COUNT; r++)
		into->rejects[r] += from->rejects[r];
	return 0;
}

void ccp_partial_render_total(struct ccp_cmdbuf *cb, const struct ccp_partial *p, const char *prefix,
			      enum ccp_sl_variant variant, int64_t wall_ms, const uint64_t agents[CCP_AGENT__COUNT])
{
	char key[KEY_MAX];
	for (uint32_t w = 0; w < p->n_windows; w++) {
		struct ccp_field f[CCP_WF__COUNT];
		struct ccp_window_stats ws = p->w[w].ws;
		ws.hist = &p->w[w].hist;
		ccp_figures_window(&ws, variant, wall_ms, f);
		int n = snprintf(key, sizeof(key), "%s:total:%s", prefix, p->w[w].name);
		ccp_publish_window_hash(cb, key, (size_t)n, f);
	}
	struct ccp_live_stats ls = p->live;
	memcpy(ls.agents, agents, sizeof(ls.agents));
	ls.agents[CCP_AGENT_OFFLINE] = 0;
	struct ccp_field lf[CCP_LF__COUNT];
	ccp_figures_live(&ls, p->now_ms, lf);
	int n = snprintf(key, sizeof(key), "%s:total:live", prefix);
	ccp_publish_live_hash(cb, key, (size_t)n, lf);
}

void ccp_partial_render_stats(struct ccp_cmdbuf *cb, const struct ccp_partial *p, const char *prefix)
{
	char key[KEY_MAX];
	int n = snprintf(key, sizeof(key), "%s:stats", prefix);
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "DEL");
	ccp_cmdbuf_arg(cb, key, (size_t)n);
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "HSET");
	ccp_cmdbuf_arg(cb, key, (size_t)n);
	const struct {
		const char *name;
		uint64_t v;
	} c[] = {{"late_events", p->counters.late_events},
		 {"duplicates", p->counters.duplicates},
		 {"expired", p->counters.expired},
		 {"unmatched", p->counters.unmatched}};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ccp_cmdbuf_arg_str(cb, c[i].name);
		ccp_cmdbuf_arg_i64(cb, (int64_t)c[i].v);
	}
	for (int r = 1; r < CCP_REJECT__COUNT; r++) {
		ccp_cmdbuf_arg_fmt(cb, "errors_%s", ccp_reject_names[r]);
		ccp_cmdbuf_arg_i64(cb, (int64_t)p->rejects[r]);
	}
}
