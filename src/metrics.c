/* Prometheus metrics registry and text renderer (see
 * include/ccpulse/metrics.h).
 *
 * Memory: each series is one 64-byte-aligned block whose first line holds
 * its hot value; a histogram's bucket counts are a second aligned block.
 * Families and series are never moved or freed before ccp_metrics_free(),
 * which is what lets callers keep raw pointers. The arrays that list them
 * may be reallocated, but only under the mutex, and only render and
 * registration (both under it) read those arrays.
 */
#include "ccpulse/metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE 64

/* Owner: its registry. Hot values are updated by any thread; everything
 * else is written at registration and read by render, both under the
 * registry mutex. */
struct ccp_histogram {
	_Alignas(LINE) _Atomic uint64_t sum_bits; /* a double's bits; CAS-added */
	const double *bounds;                     /* the family's, immutable */
	size_t nbounds;
	_Atomic uint64_t counts[];                /* nbounds + 1: the last is +Inf only */
};

/* One series. Owner: its family. `hot` is the only field written after
 * registration without the mutex. */
struct series {
	_Alignas(LINE) union {
		struct ccp_counter c;
		struct ccp_gauge g;
	} hot;
	struct ccp_histogram *h;   /* histogram families */
	ccp_metrics_read_fn fn;    /* callback families; NULL: hidden (mutex) */
	void *ud;
	char *key;                 /* the label values, each NUL-terminated, back to back */
	size_t keylen;
	char *labels;              /* `a="x",b="y"` escaped, no braces; "" without labels */
	size_t labels_len;
};

/* Owner: its registry; all fields under the registry mutex, immutable
 * after registration except the series list. */
struct ccp_metric_family {
	struct ccp_metrics *m;
	enum ccp_metric_type type;
	bool callback;
	char *name;
	size_t name_len;
	char *help;                /* escaped */
	size_t nlabels;
	char *label_names[CCP_METRICS_MAX_LABELS];
	double *bounds;
	size_t nbounds;
	char (*le)[CCP_METRICS_NUM_MAX]; /* bounds formatted once for `le` */
	struct series **series;
	size_t nseries, series_cap;
};

/* Owner: whoever called ccp_metrics_new(); shared by every thread that
 * registers or renders, through the mutex. */
struct ccp_metrics {
	pthread_mutex_t mu;
	struct ccp_metric_family **fam;
	size_t nfam, fam_cap;
};

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- names and text ---- */

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool metric_name_ok(const char *s)
{
	if (!is_alpha_(s[0]) && s[0] != ':')
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!is_alpha_(*p) && !is_digit(*p) && *p != ':')
			return false;
	return true;
}

static bool label_name_ok(const char *s)
{
	if (!is_alpha_(s[0]))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!is_alpha_(*p) && !is_digit(*p))
			return false;
	return true;
}

/* Well-formed UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF, which a scraper would reject along with the whole page. */
static bool utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned c = *s;
		if (c < 0x80) {
			s++;
			continue;
		}
		size_t len;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		for (size_t k = 1; k < len; k++) {
			/* A NUL here is not a continuation byte, so this never reads
			 * past the terminator. */
			if ((s[k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += len;
	}
	return true;
}

/* Escapes `s` for HELP (`quote` false: \\ and \n) or a label value
 * (`quote` true: also \"). Writes to `dst` if not NULL; returns the
 * length either way. */
static size_t escape(char *dst, const char *s, bool quote)
{
	size_t n = 0;
	for (; *s; s++) {
		const char *rep = NULL;
		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (quote && *s == '"')
			rep = "\\\"";
		if (rep) {
			if (dst) {
				dst[n] = rep[0];
				dst[n + 1] = rep[1];
			}
			n += 2;
		} else {
			if (dst)
				dst[n] = *s;
			n++;
		}
	}
	return n;
}

static char *escape_dup(const char *s, bool quote, size_t *len)
{
	size_t n = escape(NULL, s, quote);
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	escape(d, s, quote);
	d[n] = '\0';
	if (len)
		*len = n;
	return d;
}

size_t ccp_metrics_format_double(char *buf, double v)
{
	int n;
	if (isnan(v)) {
		n = snprintf(buf, CCP_METRICS_NUM_MAX, "NaN");
	} else if (isinf(v)) {
		n = snprintf(buf, CCP_METRICS_NUM_MAX, "%s", v > 0 ? "+Inf" : "-Inf");
	} else if (v == trunc(v) && fabs(v) <= 0x1p53) {
		/* Integers up to 2^53 are exact doubles: all their digits,
		 * no exponent. */
		n = snprintf(buf, CCP_METRICS_NUM_MAX, "%.0f", v);
	} else {
		/* The fewest significant digits that read back as the same
		 * double; 17 always do. At most 24 bytes ("-1.2345678901234567e-308"). */
		n = 0;
		for (int p = 1; p <= 17; p++) {
			n = snprintf(buf, CCP_METRICS_NUM_MAX, "%.*g", p, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	return (size_t)n;
}

/* ---- registry ---- */

struct ccp_metrics *ccp_metrics_new(void)
{
	struct ccp_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

static void series_free(struct series *s)
{
	free(s->h);
	free(s->key);
	free(s->labels);
	free(s);
}

static void family_free(struct ccp_metric_family *f)
{
	for (size_t i = 0; i < f->nseries; i++)
		series_free(f->series[i]);
	free(f->series);
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->label_names[i]);
	free(f->name);
	free(f->help);
	free(f->bounds);
	free(f->le);
	free(f);
}

void ccp_metrics_free(struct ccp_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfam; i++)
		family_free(m->fam[i]);
	free(m->fam);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* Grows an array of pointers to hold one more; doubling keeps it
 * amortized O(1). */
static int grow(void ***arr, size_t *cap, size_t len)
{
	if (len < *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 8;
	void **p = realloc(*arr, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/* The sample names a family writes: its name, or for a histogram the
 * name with _bucket, _sum and _count. Returns how many (<= 4); each is
 * `base` followed by `suffix[i]`. */
static size_t sample_suffixes(enum ccp_metric_type t, const char *suffix[4])
{
	if (t == CCP_METRIC_HISTOGRAM) {
		/* The bare name too: "foo" would be a second family "foo". */
		suffix[0] = "", suffix[1] = "_bucket", suffix[2] = "_sum", suffix[3] = "_count";
		return 4;
	}
	suffix[0] = "";
	return 1;
}

static bool name_eq(const char *a, const char *asuf, const char *b, const char *bsuf)
{
	size_t al = strlen(a), bl = strlen(b);
	size_t asl = strlen(asuf), bsl = strlen(bsuf);
	if (al + asl != bl + bsl)
		return false;
	/* Compare the concatenations a+asuf and b+bsuf byte by byte. */
	for (size_t i = 0; i < al + asl; i++) {
		char ca = i < al ? a[i] : asuf[i - al];
		char cb = i < bl ? b[i] : bsuf[i - bl];
		if (ca != cb)
			return false;
	}
	return true;
}

/* A family already registered whose sample names meet the new one's, or
 * NULL. Mutex held. */
static const struct ccp_metric_family *collision(const struct ccp_metrics *m, const char *name,
						 enum ccp_metric_type t, const char **mine, const char **theirs)
{
	const char *ns[4], *os[4];
	size_t nn = sample_suffixes(t, ns);
	for (size_t i = 0; i < m->nfam; i++) {
		const struct ccp_metric_family *o = m->fam[i];
		size_t on = sample_suffixes(o->type, os);
		for (size_t a = 0; a < nn; a++)
			for (size_t b = 0; b < on; b++)
				if (name_eq(name, ns[a], o->name, os[b])) {
					*mine = ns[a];
					*theirs = os[b];
					return o;
				}
	}
	return NULL;
}

/* Checks everything that needs no registry. Returns 0 or -EINVAL with
 * `err` set. */
static int desc_check(const struct ccp_metric_desc *d, size_t *nlabels, char *err, size_t errlen)
{
	if (!d || !d->name) {
		seterr(err, errlen, "metric without a name");
		return -EINVAL;
	}
	const char *nm = d->name;
	if (!metric_name_ok(nm)) {
		seterr(err, errlen, "metric name \"%s\" is invalid: it must match [a-zA-Z_:][a-zA-Z0-9_:]*", nm);
		return -EINVAL;
	}
	if ((unsigned)d->type > CCP_METRIC_HISTOGRAM) {
		seterr(err, errlen, "metric \"%s\": unknown type %d", nm, (int)d->type);
		return -EINVAL;
	}
	if (!d->help || !d->help[0]) {
		seterr(err, errlen, "metric \"%s\": HELP text is missing", nm);
		return -EINVAL;
	}
	if (!utf8_ok(d->help)) {
		seterr(err, errlen, "metric \"%s\": HELP text is not valid UTF-8", nm);
		return -EINVAL;
	}
	size_t n = 0;
	for (; d->labels && d->labels[n]; n++) {
		const char *l = d->labels[n];
		if (n == CCP_METRICS_MAX_LABELS) {
			seterr(err, errlen, "metric \"%s\": more than %d label names", nm, CCP_METRICS_MAX_LABELS);
			return -EINVAL;
		}
		if (!label_name_ok(l)) {
			seterr(err, errlen,
			       "metric \"%s\": label name \"%s\" is invalid: it must match [a-zA-Z_][a-zA-Z0-9_]*", nm,
			       l);
			return -EINVAL;
		}
		if (l[0] == '_' && l[1] == '_') {
			seterr(err, errlen, "metric \"%s\": label name \"%s\" is reserved (starts with \"__\")", nm, l);
			return -EINVAL;
		}
		if (d->type == CCP_METRIC_HISTOGRAM && strcmp(l, "le") == 0) {
			seterr(err, errlen, "metric \"%s\": label name \"le\" is reserved for histogram buckets", nm);
			return -EINVAL;
		}
		for (size_t k = 0; k < n; k++)
			if (strcmp(d->labels[k], l) == 0) {
				seterr(err, errlen, "metric \"%s\": label name \"%s\" given twice", nm, l);
				return -EINVAL;
			}
	}
	if (d->type == CCP_METRIC_HISTOGRAM) {
		if (d->callback) {
			seterr(err, errlen, "histogram \"%s\": callbacks are for counters and gauges", nm);
			return -EINVAL;
		}
		if (d->nbuckets > CCP_METRICS_MAX_BUCKETS) {
			seterr(err, errlen, "histogram \"%s\": %zu buckets (0 to %d, +Inf implied)", nm, d->nbuckets,
			       CCP_METRICS_MAX_BUCKETS);
			return -EINVAL;
		}
		if (d->nbuckets && !d->buckets) {
			seterr(err, errlen, "histogram \"%s\": nbuckets is %zu but buckets is NULL", nm, d->nbuckets);
			return -EINVAL;
		}
		for (size_t i = 0; i < d->nbuckets; i++) {
			if (!isfinite(d->buckets[i])) {
				seterr(err, errlen, "histogram \"%s\": bucket %zu is not finite (+Inf is implied)", nm,
				       i);
				return -EINVAL;
			}
			if (i > 0 && !(d->buckets[i] > d->buckets[i - 1])) {
				seterr(err, errlen, "histogram \"%s\": buckets must increase (bucket %zu: %g after %g)",
				       nm, i, d->buckets[i], d->buckets[i - 1]);
				return -EINVAL;
			}
		}
	} else if (d->nbuckets || d->buckets) {
		seterr(err, errlen, "metric \"%s\": buckets are for histograms", nm);
		return -EINVAL;
	}
	*nlabels = n;
	return 0;
}

struct ccp_metric_family *ccp_metrics_family(struct ccp_metrics *m, const struct ccp_metric_desc *d, char *err,
					     size_t errlen)
{
	size_t nlabels;
	if (desc_check(d, &nlabels, err, errlen) != 0)
		return NULL;

	/* Build outside the mutex; only the collision check and the append
	 * need it. */
	struct ccp_metric_family *f = calloc(1, sizeof(*f));
	if (!f)
		goto oom;
	f->m = m;
	f->type = d->type;
	f->callback = d->callback;
	f->name_len = strlen(d->name);
	f->name = strdup(d->name);
	f->help = escape_dup(d->help, false, NULL);
	if (!f->name || !f->help)
		goto oom;
	for (; f->nlabels < nlabels; f->nlabels++) {
		f->label_names[f->nlabels] = strdup(d->labels[f->nlabels]);
		if (!f->label_names[f->nlabels])
			goto oom;
	}
	if (d->nbuckets) {
		f->nbounds = d->nbuckets;
		f->bounds = malloc(d->nbuckets * sizeof(*f->bounds));
		f->le = malloc(d->nbuckets * sizeof(*f->le));
		if (!f->bounds || !f->le)
			goto oom;
		memcpy(f->bounds, d->buckets, d->nbuckets * sizeof(*f->bounds));
		for (size_t i = 0; i < d->nbuckets; i++)
			ccp_metrics_format_double(f->le[i], d->buckets[i]);
	}

	pthread_mutex_lock(&m->mu);
	const char *mine, *theirs;
	const struct ccp_metric_family *o = collision(m, d->name, d->type, &mine, &theirs);
	if (o) {
		if (!mine[0] && !theirs[0])
			seterr(err, errlen, "metric \"%s\" is already registered", d->name);
		else
			seterr(err, errlen, "metric \"%s\" (%s) would write \"%s%s\", as %s \"%s\" does", d->name,
			       type_names[d->type], d->name, mine, type_names[o->type], o->name);
		pthread_mutex_unlock(&m->mu);
		family_free(f);
		return NULL;
	}
	if (grow((void ***)&m->fam, &m->fam_cap, m->nfam) != 0) {
		pthread_mutex_unlock(&m->mu);
		goto oom;
	}
	m->fam[m->nfam++] = f;
	pthread_mutex_unlock(&m->mu);
	return f;

oom:
	if (f)
		family_free(f);
	seterr(err, errlen, "metric \"%s\": out of memory", d->name);
	return NULL;
}

/* ---- series ---- */

enum want { WANT_COUNTER, WANT_GAUGE, WANT_HISTOGRAM, WANT_CALLBACK };

static const char *const want_names[] = {"counter", "gauge", "histogram", "callback"};

static bool kind_ok(const struct ccp_metric_family *f, enum want w)
{
	switch (w) {
	case WANT_COUNTER:
		return f->type == CCP_METRIC_COUNTER && !f->callback;
	case WANT_GAUGE:
		return f->type == CCP_METRIC_GAUGE && !f->callback;
	case WANT_HISTOGRAM:
		return f->type == CCP_METRIC_HISTOGRAM;
	case WANT_CALLBACK:
		return f->callback;
	}
	return false;
}

/* Checks the label values and builds the lookup key. Returns 0 or
 * -EINVAL / -ENOMEM with `err` set. */
static int make_key(const struct ccp_metric_family *f, const char *const *values, char **key, size_t *keylen,
		    char *err, size_t errlen)
{
	size_t len = 0;
	for (size_t i = 0; i < f->nlabels; i++) {
		if (!values || !values[i]) {
			seterr(err, errlen, "metric \"%s\": no value for label \"%s\"", f->name, f->label_names[i]);
			return -EINVAL;
		}
		if (!utf8_ok(values[i])) {
			seterr(err, errlen, "metric \"%s\": value of label \"%s\" is not valid UTF-8", f->name,
			       f->label_names[i]);
			return -EINVAL;
		}
		len += strlen(values[i]) + 1;
	}
	char *k = malloc(len ? len : 1);
	if (!k) {
		seterr(err, errlen, "metric \"%s\": out of memory", f->name);
		return -ENOMEM;
	}
	size_t off = 0;
	for (size_t i = 0; i < f->nlabels; i++) {
		size_t n = strlen(values[i]) + 1;
		memcpy(k + off, values[i], n);
		off += n;
	}
	*key = k;
	*keylen = len;
	return 0;
}

/* `a="x",b="y"` for the family's label names and these values. */
static char *make_labels(const struct ccp_metric_family *f, const char *const *values, size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < f->nlabels; i++)
		n += (i ? 1 : 0) + strlen(f->label_names[i]) + 2 + escape(NULL, values[i], true) + 1;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	size_t off = 0;
	for (size_t i = 0; i < f->nlabels; i++) {
		if (i)
			s[off++] = ',';
		size_t ln = strlen(f->label_names[i]);
		memcpy(s + off, f->label_names[i], ln);
		off += ln;
		s[off++] = '=';
		s[off++] = '"';
		off += escape(s + off, values[i], true);
		s[off++] = '"';
	}
	s[off] = '\0';
	*len = off;
	return s;
}

/* Finds or creates the series with these values. Returns 0 with *out
 * set, or -EINVAL / -ENOMEM with `err` set. */
static int series_get(struct ccp_metric_family *f, enum want w, const char *const *values, struct series **out,
		      char *err, size_t errlen)
{
	if (!f) {
		seterr(err, errlen, "no metric family");
		return -EINVAL;
	}
	if (!kind_ok(f, w)) {
		seterr(err, errlen, "metric \"%s\" is a %s%s family, not one of %s series", f->name,
		       f->callback ? "callback " : "", type_names[f->type], want_names[w]);
		return -EINVAL;
	}
	char *key;
	size_t keylen;
	int rc = make_key(f, values, &key, &keylen, err, errlen);
	if (rc != 0)
		return rc;

	struct ccp_metrics *m = f->m;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < f->nseries; i++) {
		struct series *s = f->series[i];
		if (s->keylen == keylen && memcmp(s->key, key, keylen) == 0) {
			pthread_mutex_unlock(&m->mu);
			free(key);
			*out = s;
			return 0;
		}
	}
	/* Allocation under the mutex keeps the lookup and the insert one step,
	 * so two threads asking for the same new values get the same series.
	 * Registration is rare; the cost is a few mallocs. */
	struct series *s = aligned_alloc(LINE, sizeof(*s));
	if (!s)
		goto oom;
	memset(s, 0, sizeof(*s));
	s->key = key;
	s->keylen = keylen;
	key = NULL;
	s->labels = make_labels(f, values, &s->labels_len);
	if (!s->labels)
		goto oom;
	if (f->type == CCP_METRIC_HISTOGRAM) {
		size_t bytes = sizeof(struct ccp_histogram) + (f->nbounds + 1) * sizeof(_Atomic uint64_t);
		bytes = (bytes + LINE - 1) / LINE * LINE; /* aligned_alloc wants a multiple */
		s->h = aligned_alloc(LINE, bytes);
		if (!s->h)
			goto oom;
		memset(s->h, 0, bytes);
		atomic_init(&s->h->sum_bits, 0); /* the bits of +0.0 */
		for (size_t i = 0; i <= f->nbounds; i++)
			atomic_init(&s->h->counts[i], 0);
		s->h->bounds = f->bounds;
		s->h->nbounds = f->nbounds;
	} else if (f->type == CCP_METRIC_GAUGE) {
		atomic_init(&s->hot.g._v, 0);
	} else {
		atomic_init(&s->hot.c._v, 0);
	}
	if (grow((void ***)&f->series, &f->series_cap, f->nseries) != 0)
		goto oom;
	f->series[f->nseries++] = s;
	pthread_mutex_unlock(&m->mu);
	*out = s;
	return 0;

oom:
	pthread_mutex_unlock(&m->mu);
	free(key);
	if (s)
		series_free(s);
	seterr(err, errlen, "metric \"%s\": out of memory", f->name);
	return -ENOMEM;
}

struct ccp_counter *ccp_metrics_counter(struct ccp_metric_family *f, const char *const *values, char *err,
					size_t errlen)
{
	struct series *s;
	return series_get(f, WANT_COUNTER, values, &s, err, errlen) == 0 ? &s->hot.c : NULL;
}

struct ccp_gauge *ccp_metrics_gauge(struct ccp_metric_family *f, const char *const *values, char *err,
				    size_t errlen)
{
	struct series *s;
	return series_get(f, WANT_GAUGE, values, &s, err, errlen) == 0 ? &s->hot.g : NULL;
}

struct ccp_histogram *ccp_metrics_histogram(struct ccp_metric_family *f, const char *const *values, char *err,
					    size_t errlen)
{
	struct series *s;
	return series_get(f, WANT_HISTOGRAM, values, &s, err, errlen) == 0 ? s->h : NULL;
}

int ccp_metrics_callback(struct ccp_metric_family *f, const char *const *values, ccp_metrics_read_fn fn, void *ud,
			 char *err, size_t errlen)
{
	struct series *s;
	int rc = series_get(f, WANT_CALLBACK, values, &s, err, errlen);
	if (rc != 0)
		return rc;
	/* Render reads fn and ud under the mutex, so the pair changes as one. */
	pthread_mutex_lock(&f->m->mu);
	s->fn = fn;
	s->ud = ud;
	pthread_mutex_unlock(&f->m->mu);
	return 0;
}

void ccp_histogram_observe(struct ccp_histogram *h, double v)
{
	if (isnan(v))
		return;
	/* First bound >= v; nbounds when none (the +Inf bucket). */
	size_t lo = 0, hi = h->nbounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v <= h->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
	uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed), next;
	do {
		double sum;
		memcpy(&sum, &old, sizeof(sum));
		sum += v;
		memcpy(&next, &sum, sizeof(next));
	} while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, next, memory_order_relaxed,
							memory_order_relaxed));
}

/* ---- rendering ---- */

void ccp_metrics_buf_init(struct ccp_metrics_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void ccp_metrics_buf_free(struct ccp_metrics_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* The buffer and a sticky failure, so the writers below need no checks. */
struct out {
	struct ccp_metrics_buf *b;
	bool oom;
};

static void put(struct out *o, const char *s, size_t n)
{
	struct ccp_metrics_buf *b = o->b;
	if (o->oom)
		return;
	if (b->cap - b->len < n + 1) { /* + 1: room for the final NUL */
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	put(o, buf, (size_t)n);
}

static void put_i64(struct out *o, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
	put(o, buf, (size_t)n);
}

static void put_double(struct out *o, double v)
{
	char buf[CCP_METRICS_NUM_MAX];
	put(o, buf, ccp_metrics_format_double(buf, v));
}

/* `name<suffix>{labels[,le="<le>"]} ` up to the value. */
static void sample_head(struct out *o, const struct ccp_metric_family *f, const char *suffix,
			const struct series *s, const char *le)
{
	put(o, f->name, f->name_len);
	puts_(o, suffix);
	if (s->labels_len || le) {
		put(o, "{", 1);
		put(o, s->labels, s->labels_len);
		if (le) {
			if (s->labels_len)
				put(o, ",", 1);
			puts_(o, "le=\"");
			puts_(o, le);
			put(o, "\"", 1);
		}
		put(o, "}", 1);
	}
	put(o, " ", 1);
}

static void render_histogram(struct out *o, const struct ccp_metric_family *f, const struct series *s)
{
	const struct ccp_histogram *h = s->h;
	uint64_t cum = 0;
	for (size_t i = 0; i <= f->nbounds; i++) {
		/* Each bucket read once: the running sum is monotonic whatever
		 * the observers do meanwhile, and +Inf is the count below. */
		cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		sample_head(o, f, "_bucket", s, i < f->nbounds ? f->le[i] : "+Inf");
		put_u64(o, cum);
		put(o, "\n", 1);
	}
	uint64_t bits = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
	double sum;
	memcpy(&sum, &bits, sizeof(sum));
	sample_head(o, f, "_sum", s, NULL);
	put_double(o, sum);
	put(o, "\n", 1);
	sample_head(o, f, "_count", s, NULL);
	put_u64(o, cum);
	put(o, "\n", 1);
}

static void render_family(struct out *o, const struct ccp_metric_family *f)
{
	size_t visible = 0;
	for (size_t i = 0; i < f->nseries; i++)
		if (!f->callback || f->series[i]->fn)
			visible++;
	if (!visible)
		return;
	puts_(o, "# HELP ");
	put(o, f->name, f->name_len);
	put(o, " ", 1);
	puts_(o, f->help);
	puts_(o, "\n# TYPE ");
	put(o, f->name, f->name_len);
	put(o, " ", 1);
	puts_(o, type_names[f->type]);
	put(o, "\n", 1);
	for (size_t i = 0; i < f->nseries; i++) {
		const struct series *s = f->series[i];
		if (f->type == CCP_METRIC_HISTOGRAM) {
			render_histogram(o, f, s);
			continue;
		}
		if (f->callback && !s->fn)
			continue;
		sample_head(o, f, "", s, NULL);
		if (f->callback)
			put_double(o, s->fn(s->ud));
		else if (f->type == CCP_METRIC_GAUGE)
			put_i64(o, ccp_gauge_get(&s->hot.g));
		else
			put_u64(o, ccp_counter_get(&s->hot.c));
		put(o, "\n", 1);
	}
}

int ccp_metrics_render(struct ccp_metrics *m, struct ccp_metrics_buf *out)
{
	struct out o = {.b = out, .oom = false};
	out->len = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->nfam; i++)
		render_family(&o, m->fam[i]);
	pthread_mutex_unlock(&m->mu);
	put(&o, "", 0); /* makes room for the NUL even on an empty page */
	if (o.oom) {
		out->len = 0;
		if (out->data)
			out->data[0] = '\0';
		return -ENOMEM;
	}
	out->data[out->len] = '\0';
	return 0;
}
