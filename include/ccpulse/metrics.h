/* Prometheus metrics: a registry of counters, gauges and histograms that
 * several threads update without locks, rendered on demand in the text
 * exposition format 0.0.4.
 *
 * DESIGN
 * - A registry holds families (a name, HELP text, a TYPE and up to
 *   CCP_METRICS_MAX_LABELS label names); a family holds series, one per
 *   tuple of label values. Both are registered at start-up or rarely (a
 *   new partition label), under the registry's mutex, and live until
 *   ccp_metrics_free(): a series pointer handed out stays valid, so the
 *   caller keeps it and never looks a series up on the hot path.
 * - Hot path: a counter or gauge update is one relaxed atomic add or
 *   store on the kept pointer (inline below); a histogram observation is
 *   a relaxed add to one bucket plus a compare-and-swap loop on the sum's
 *   bits. No lock, no allocation. Relaxed is enough: each value is a
 *   single atomic read at render time and nothing else is published
 *   through it. Each series' values start on a 64-byte line of their own,
 *   so series of different threads do not share cache lines.
 * - A histogram stores per-bucket counts, not cumulative ones, and no
 *   separate total: render sums the buckets, so `le="+Inf"` equals
 *   `_count` on every scrape even while observations race with it. `_sum`
 *   may lag or lead the buckets by the observations in flight.
 * - Callback series (counter or gauge families made with `callback`) have
 *   no stored value: render calls fn(ud) for each, on the rendering
 *   thread, with the registry mutex held. That suits values another module
 *   already keeps (ring occupancy, consumer lag); the callback must be
 *   safe on that thread and must not register anything (self-deadlock).
 * - Render walks families in registration order, series in registration
 *   order, into a caller-owned growable buffer (kept across scrapes, so a
 *   warm scrape allocates nothing). It holds the mutex throughout: a
 *   registration may wait for a scrape to end, an update never does (it
 *   takes no lock). Families without series are left out.
 * - Names are checked at registration (metric [a-zA-Z_:][a-zA-Z0-9_:]*,
 *   label [a-zA-Z_][a-zA-Z0-9_]* and not "__..."; "le" is refused on
 *   histograms), as are collisions between a histogram's _bucket, _sum and
 *   _count and other families; HELP and label values must be UTF-8. A
 *   refusal comes with a sentence in the caller's `err` buffer. HELP and
 *   label values are escaped once, at registration.
 * - Numbers: integer values (counters, gauges, bucket counts) print as
 *   decimal integers; doubles print integral values up to 2^53 without an
 *   exponent and the rest in the shortest %g form that parses back to the
 *   same double; NaN, +Inf and -Inf as Prometheus spells them. Formatting
 *   assumes the C locale for LC_NUMERIC (the program never calls
 *   setlocale).
 */
#ifndef CCPULSE_METRICS_H
#define CCPULSE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CCP_METRICS_MAX_LABELS 4    /* label names per family */
#define CCP_METRICS_MAX_BUCKETS 64  /* finite bucket bounds per histogram */
#define CCP_METRICS_NUM_MAX 32      /* bytes ccp_metrics_format_double needs */
/* The Content-Type of a rendered page. */
#define CCP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct ccp_metrics;
struct ccp_metric_family;
struct ccp_histogram;

enum ccp_metric_type {
	CCP_METRIC_COUNTER,
	CCP_METRIC_GAUGE,
	CCP_METRIC_HISTOGRAM,
};

/* A family to register. Owner: the caller; read during
 * ccp_metrics_family() only (the strings and arrays are copied). */
struct ccp_metric_desc {
	enum ccp_metric_type type;
	const char *name;            /* the metric name; a counter's usually ends in _total */
	const char *help;            /* non-empty UTF-8; may hold '\\' and '\n' (escaped on output) */
	const char *const *labels;   /* label names, NULL-terminated; NULL: none */
	/* Histogram only: finite upper bounds, strictly increasing; `le="+Inf"`
	 * is added, so do not list it. At most CCP_METRICS_MAX_BUCKETS. */
	const double *buckets;
	size_t nbuckets;
	/* Counter or gauge only: series get their value from a callback at
	 * render time (ccp_metrics_callback) instead of storing one. */
	bool callback;
};

/* A counter series. Owner: its registry; any thread may update it once it
 * has the pointer (handed over with a thread start or another
 * happens-before edge). `_`-fields are private. */
struct ccp_counter {
	_Atomic uint64_t _v;
};

/* A gauge series; integer-valued so updates stay single atomic adds
 * (fractional values: a callback series). Owner and threads as
 * struct ccp_counter. */
struct ccp_gauge {
	_Atomic int64_t _v;
};

/* Reads a callback series' value; NaN and infinities are rendered as
 * such. @thread the rendering thread, with the registry mutex held */
typedef double (*ccp_metrics_read_fn)(void *ud);

/* ---- registry ---- */

/* An empty registry, or NULL when out of memory. @thread any */
struct ccp_metrics *ccp_metrics_new(void);
/* Frees the registry with its families and series. Every pointer it
 * handed out dies with it: call after the threads using them stopped.
 * NULL is a no-op. @thread any, alone */
void ccp_metrics_free(struct ccp_metrics *m);

/* Registers a family. Returns it (owned by `m`), or NULL with a sentence
 * in `err` (may be NULL) naming what was refused: an invalid or taken
 * name, bad or duplicate label names, bad buckets, empty or non-UTF-8
 * HELP, out of memory. @thread any */
struct ccp_metric_family *ccp_metrics_family(struct ccp_metrics *m, const struct ccp_metric_desc *d, char *err,
					     size_t errlen);

/* The series of `f` with these label values (as many as the family has
 * label names, any UTF-8, in the order of the names; NULL when it has
 * none), created at 0 on first use; the same pointer for the same values
 * afterwards. Returns NULL with a sentence in `err` when `f` is of another
 * kind (a counter of a gauge family, any stored series of a callback
 * family), a value is NULL or not UTF-8, or memory ran out.
 * @thread any (takes the registry mutex: not for the hot path) */
struct ccp_counter *ccp_metrics_counter(struct ccp_metric_family *f, const char *const *values, char *err,
					size_t errlen);
struct ccp_gauge *ccp_metrics_gauge(struct ccp_metric_family *f, const char *const *values, char *err,
				    size_t errlen);
struct ccp_histogram *ccp_metrics_histogram(struct ccp_metric_family *f, const char *const *values, char *err,
					    size_t errlen);
/* Sets the callback of a series of a callback family, creating the series
 * on first use. Calling it again for the same values replaces fn and ud;
 * fn NULL hides the series from render (do that before `ud` goes away).
 * Returns 0, or -EINVAL / -ENOMEM with a sentence in `err`. @thread any */
int ccp_metrics_callback(struct ccp_metric_family *f, const char *const *values, ccp_metrics_read_fn fn, void *ud,
			 char *err, size_t errlen);

/* ---- hot path: lock-free, @thread any ---- */

static inline void ccp_counter_add(struct ccp_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->_v, n, memory_order_relaxed);
}

static inline void ccp_counter_inc(struct ccp_counter *c)
{
	atomic_fetch_add_explicit(&c->_v, 1, memory_order_relaxed);
}

static inline uint64_t ccp_counter_get(const struct ccp_counter *c)
{
	return atomic_load_explicit(&c->_v, memory_order_relaxed);
}

static inline void ccp_gauge_set(struct ccp_gauge *g, int64_t v)
{
	atomic_store_explicit(&g->_v, v, memory_order_relaxed);
}

/* Adds `d` (negative to subtract). */
static inline void ccp_gauge_add(struct ccp_gauge *g, int64_t d)
{
	atomic_fetch_add_explicit(&g->_v, d, memory_order_relaxed);
}

static inline int64_t ccp_gauge_get(const struct ccp_gauge *g)
{
	return atomic_load_explicit(&g->_v, memory_order_relaxed);
}

/* Counts `v` in the first bucket whose bound is >= v (le semantics) and
 * adds it to the sum. NaN is ignored: it would make the sum NaN for good. */
void ccp_histogram_observe(struct ccp_histogram *h, double v);

/* ---- rendering ---- */

/* The text of a scrape. Owner: the rendering thread; reuse it across
 * scrapes (render empties it and keeps its memory). `data` is
 * NUL-terminated after a successful render; `len` excludes the NUL. */
struct ccp_metrics_buf {
	char *data;
	size_t len;
	size_t cap;
};

void ccp_metrics_buf_init(struct ccp_metrics_buf *b);
void ccp_metrics_buf_free(struct ccp_metrics_buf *b);

/* Replaces the contents of `out` with every family of `m` in the text
 * exposition format 0.0.4. Calls the callbacks of callback series.
 * Returns 0, or -ENOMEM (then `out` holds no complete page).
 * @thread any (takes the registry mutex) */
int ccp_metrics_render(struct ccp_metrics *m, struct ccp_metrics_buf *out);

/* Writes `v` as a sample value (see DESIGN) into `buf` (at least
 * CCP_METRICS_NUM_MAX bytes), NUL-terminated; returns its length. Pure. */
size_t ccp_metrics_format_double(char *buf, double v);

#endif
