/* Unit tests for the Prometheus registry: exact text of counters, gauges,
 * labels, escaping, histograms and callback gauges; names and collisions
 * refused with a message; number formatting that round-trips; exact sums
 * from 4 updating threads while a fifth renders and registers; and a
 * checker of the exposition grammar run over a larger registry (and over
 * every page rendered during the threaded test).
 *
 * CCP_METRICS_TEST_DUMP=path writes the larger registry's page to `path`,
 * for a look with another parser. CCP_METRICS_TEST_ITEMS sets the
 * threaded test's updates per thread (default 200000, 50000 under TSan).
 */
/* ccp-test-labels: threaded */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <sched.h>
#include <string.h>

#include "ccp_test.h"
#include "ccpulse/metrics.h"


#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define V(...) ((const char *const[]){__VA_ARGS__})

/* ---- a checker of the text exposition format 0.0.4 ----
 *
 * Line shapes by POSIX regular expressions; then the structure: HELP then
 * TYPE once per family, before its samples; a sample belongs to the family
 * of the last TYPE (so families are contiguous); no series twice; label
 * names unique in a line; histogram series with `le` strictly increasing,
 * cumulative counts not decreasing, a final +Inf equal to _count, a _sum;
 * counters not negative. Stricter than Prometheus where our renderer is
 * (no comments, timestamps or empty lines). */

#define RE_NAME "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define RE_LNAME "[a-zA-Z_][a-zA-Z0-9_]*"
/* In a bracket expression '\' is literal: [\"n] is one of \ " n. */
#define RE_LVAL "\"([^\"\\\n]|\\\\[\\\"n])*\""
#define RE_LABEL RE_LNAME "=" RE_LVAL
#define RE_VALUE "([-+]?(([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?|Inf)|NaN)"

struct checker {
	regex_t sample, help, type;
};

static void checker_init(struct checker *c)
{
	assert_int_equal(regcomp(&c->sample, "^" RE_NAME "([{]" RE_LABEL "(," RE_LABEL ")*[}])? " RE_VALUE "$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	assert_int_equal(regcomp(&c->help, "^# HELP " RE_NAME " ([^\\\n]|\\\\[\\n])+$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regcomp(&c->type, "^# TYPE " RE_NAME " (counter|gauge|histogram|summary|untyped)$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
}

static void checker_free(struct checker *c)
{
	regfree(&c->sample);
	regfree(&c->help);
	regfree(&c->type);
}

#define CK_MAX 512

struct ck_family {
	char name[128];
	char type[16];
	bool typed;
};

/* One histogram series: its labels without le. */
struct ck_hist {
	char fam[128];
	char key[1024];
	double last_le;
	uint64_t last_count;
	bool any, inf, sum, count;
	uint64_t inf_count, count_value;
};

struct ck_state {
	struct ck_family fam[CK_MAX];
	size_t nfam;
	char series[CK_MAX * 4][320]; /* name{labels} seen */
	size_t nseries;
	struct ck_hist hist[CK_MAX];
	size_t nhist;
	size_t samples;
};

static bool ck_fail(char *err, size_t errlen, size_t lineno, const char *line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static bool ck_fail(char *err, size_t errlen, size_t lineno, const char *line, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "line %zu: %s: %.200s", lineno, why, line);
	return false;
}

static struct ck_family *ck_find(struct ck_state *st, const char *name)
{
	for (size_t i = 0; i < st->nfam; i++)
		if (strcmp(st->fam[i].name, name) == 0)
			return &st->fam[i];
	return NULL;
}

/* Splits `labels` (the text between the braces; the regex vouched for its
 * shape) into name/value pairs with values unescaped. Returns the count. */
static size_t ck_labels(const char *labels, char names[][64], char values[][128], size_t max)
{
	size_t n = 0;
	const char *p = labels;
	while (*p && n < max) {
		const char *eq = strchr(p, '=');
		size_t nl = (size_t)(eq - p);
		snprintf(names[n], 64, "%.*s", (int)nl, p);
		p = eq + 2; /* past =" */
		size_t vl = 0;
		while (*p != '"') {
			char ch = *p++;
			if (ch == '\\') {
				ch = *p++;
				if (ch == 'n')
					ch = '\n';
			}
			if (vl < 127)
				values[n][vl++] = ch;
		}
		values[n][vl] = '\0';
		p++; /* closing quote */
		if (*p == ',')
			p++;
		n++;
	}
	return n;
}

/* Appends what fits of `s` to the string in `dst`. */
static void append(char *dst, size_t cap, const char *s)
{
	size_t k = strlen(dst), n = strlen(s);
	if (n > cap - 1 - k)
		n = cap - 1 - k;
	memcpy(dst + k, s, n);
	dst[k + n] = '\0';
}

static bool ends_with(const char *s, const char *suffix, size_t *base_len)
{
	size_t n = strlen(s), k = strlen(suffix);
	if (n < k || strcmp(s + n - k, suffix) != 0)
		return false;
	*base_len = n - k;
	return true;
}

static bool check_sample(struct ck_state *st, const struct ck_family *cur, const char *line, size_t lineno,
			 char *err, size_t errlen)
{
	/* name, then {labels}, then ' ' value: the value has no spaces. */
	const char *sp = strrchr(line, ' ');
	size_t name_len = strcspn(line, "{ ");
	char name[128], labels[1024] = "";
	snprintf(name, sizeof(name), "%.*s", (int)name_len, line);
	if (line[name_len] == '{')
		snprintf(labels, sizeof(labels), "%.*s", (int)(sp - line - name_len - 2), line + name_len + 1);
	double v = strtod(sp + 1, NULL);

	if (!cur || !cur->typed)
		return ck_fail(err, errlen, lineno, line, "sample before any TYPE");
	const char *suffix = "";
	size_t base = name_len;
	if (strcmp(cur->type, "histogram") == 0) {
		if (ends_with(name, "_bucket", &base))
			suffix = "_bucket";
		else if (ends_with(name, "_sum", &base))
			suffix = "_sum";
		else if (ends_with(name, "_count", &base))
			suffix = "_count";
		else
			return ck_fail(err, errlen, lineno, line, "histogram sample without _bucket/_sum/_count");
	}
	if (base != strlen(cur->name) || strncmp(name, cur->name, base) != 0)
		return ck_fail(err, errlen, lineno, line, "sample of another family than %s (its TYPE must come first)",
			       cur->name);

	char ln[CCP_METRICS_MAX_LABELS + 2][64], lv[CCP_METRICS_MAX_LABELS + 2][128];
	size_t nl = ck_labels(labels, ln, lv, CCP_METRICS_MAX_LABELS + 2);
	const char *le = NULL;
	for (size_t i = 0; i < nl; i++) {
		for (size_t k = 0; k < i; k++)
			if (strcmp(ln[i], ln[k]) == 0)
				return ck_fail(err, errlen, lineno, line, "label %s twice", ln[i]);
		if (strcmp(ln[i], "le") == 0)
			le = lv[i];
	}

	/* No series twice: the line up to the value is its identity (our
	 * renderer writes labels in one order). */
	if (st->nseries == CK_MAX * 4)
		return ck_fail(err, errlen, lineno, line, "checker full");
	char id[320];
	snprintf(id, sizeof(id), "%.*s", (int)(sp - line), line);
	for (size_t i = 0; i < st->nseries; i++)
		if (strcmp(st->series[i], id) == 0)
			return ck_fail(err, errlen, lineno, line, "series twice");
	strcpy(st->series[st->nseries++], id);
	st->samples++;

	if (strcmp(cur->type, "counter") == 0 && !(v >= 0))
		return ck_fail(err, errlen, lineno, line, "counter below 0 or NaN");
	if (strcmp(cur->type, "histogram") != 0) {
		if (le)
			return ck_fail(err, errlen, lineno, line, "le outside a histogram bucket");
		return true;
	}

	/* Histogram: find this series by its labels without le. */
	if (!!le != (strcmp(suffix, "_bucket") == 0))
		return ck_fail(err, errlen, lineno, line, "le on a histogram line must be on _bucket only");
	char key[1024] = "";
	for (size_t i = 0; i < nl; i++)
		if (strcmp(ln[i], "le") != 0) {
			append(key, sizeof(key), ln[i]);
			append(key, sizeof(key), "=");
			append(key, sizeof(key), lv[i]);
			append(key, sizeof(key), "\n");
		}
	struct ck_hist *h = NULL;
	for (size_t i = 0; i < st->nhist; i++)
		if (strcmp(st->hist[i].fam, cur->name) == 0 && strcmp(st->hist[i].key, key) == 0)
			h = &st->hist[i];
	if (!h) {
		if (st->nhist == CK_MAX)
			return ck_fail(err, errlen, lineno, line, "checker full");
		h = &st->hist[st->nhist++];
		memset(h, 0, sizeof(*h));
		snprintf(h->fam, sizeof(h->fam), "%s", cur->name);
		snprintf(h->key, sizeof(h->key), "%s", key);
	}
	if (strcmp(suffix, "_sum") != 0 && !(v >= 0 && v == floor(v) && v < 0x1p64))
		return ck_fail(err, errlen, lineno, line, "histogram count not a whole number >= 0");
	uint64_t cnt = strcmp(suffix, "_sum") != 0 ? (uint64_t)v : 0;
	if (strcmp(suffix, "_bucket") == 0) {
		char *end;
		double bound = strtod(le, &end);
		if (*le == '\0' || *end != '\0')
			return ck_fail(err, errlen, lineno, line, "le is not a number");
		if (h->inf || h->sum || h->count)
			return ck_fail(err, errlen, lineno, line, "bucket after +Inf, _sum or _count");
		if (h->any && !(bound > h->last_le))
			return ck_fail(err, errlen, lineno, line, "le not increasing");
		if (h->any && cnt < h->last_count)
			return ck_fail(err, errlen, lineno, line, "bucket count decreasing");
		h->any = true;
		h->last_le = bound;
		h->last_count = cnt;
		if (isinf(bound) && bound > 0) {
			h->inf = true;
			h->inf_count = cnt;
		}
	} else if (strcmp(suffix, "_sum") == 0) {
		if (h->sum)
			return ck_fail(err, errlen, lineno, line, "_sum twice");
		h->sum = true;
	} else {
		h->count = true;
		h->count_value = cnt;
	}
	return true;
}

/* Checks a whole page. Returns true, or false with the first problem in
 * `err`. */
static bool check_page(const struct checker *c, const char *page, char *err, size_t errlen)
{
	struct ck_state *st = calloc(1, sizeof(*st));
	assert_non_null(st);
	bool ok = true;
	size_t len = strlen(page);
	if (len && page[len - 1] != '\n') {
		snprintf(err, errlen, "page does not end with a newline");
		ok = false;
	}
	struct ck_family *cur = NULL;
	bool after_help = false; /* the previous line was HELP of cur */
	size_t lineno = 0;
	for (const char *p = page; ok && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, n);
		assert_non_null(line);
		p += n + (nl ? 1 : 0);
		lineno++;
		if (n == 0) {
			ok = ck_fail(err, errlen, lineno, line, "empty line");
		} else if (strncmp(line, "# HELP ", 7) == 0) {
			if (regexec(&c->help, line, 0, NULL, 0) != 0) {
				ok = ck_fail(err, errlen, lineno, line, "bad HELP line");
			} else {
				char name[128];
				snprintf(name, sizeof(name), "%.*s", (int)strcspn(line + 7, " "), line + 7);
				if (ck_find(st, name)) {
					ok = ck_fail(err, errlen, lineno, line, "second HELP for %s", name);
				} else if (st->nfam == CK_MAX) {
					ok = ck_fail(err, errlen, lineno, line, "checker full");
				} else {
					cur = &st->fam[st->nfam++];
					snprintf(cur->name, sizeof(cur->name), "%s", name);
					after_help = true;
				}
			}
			free(line);
			continue;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(line + 7, " "), line + 7);
			if (regexec(&c->type, line, 0, NULL, 0) != 0)
				ok = ck_fail(err, errlen, lineno, line, "bad TYPE line");
			else if (!after_help || strcmp(cur->name, name) != 0)
				ok = ck_fail(err, errlen, lineno, line, "TYPE not right after the HELP of %s", name);
			else {
				snprintf(cur->type, sizeof(cur->type), "%s", line + 8 + strlen(name));
				cur->typed = true;
			}
		} else if (line[0] == '#') {
			ok = ck_fail(err, errlen, lineno, line, "a comment we never write");
		} else if (regexec(&c->sample, line, 0, NULL, 0) != 0) {
			ok = ck_fail(err, errlen, lineno, line, "bad sample line");
		} else {
			ok = check_sample(st, cur, line, lineno, err, errlen);
		}
		after_help = false;
		free(line);
	}
	for (size_t i = 0; ok && i < st->nfam; i++)
		if (!st->fam[i].typed) {
			snprintf(err, errlen, "family %s has HELP but no TYPE", st->fam[i].name);
			ok = false;
		}
	for (size_t i = 0; ok && i < st->nhist; i++) {
		const struct ck_hist *h = &st->hist[i];
		if (!h->inf || !h->sum || !h->count) {
			snprintf(err, errlen, "histogram %s {%s} lacks +Inf, _sum or _count", h->fam, h->key);
			ok = false;
		} else if (h->inf_count != h->count_value) {
			snprintf(err, errlen, "histogram %s {%s}: +Inf %llu != _count %llu", h->fam, h->key,
				 (unsigned long long)h->inf_count, (unsigned long long)h->count_value);
			ok = false;
		}
	}
	free(st);
	return ok;
}

static void assert_page_ok(const char *page)
{
	struct checker c;
	checker_init(&c);
	char err[512];
	bool ok = check_page(&c, page, err, sizeof(err));
	checker_free(&c);
	if (!ok)
		fail_msg("%s\n--- page ---\n%s", err, page);
}

/* ---- helpers ---- */

static char *render(struct ccp_metrics *m)
{
	struct ccp_metrics_buf b;
	ccp_metrics_buf_init(&b);
	assert_int_equal(ccp_metrics_render(m, &b), 0);
	assert_int_equal(strlen(b.data), b.len);
	return b.data; /* the caller frees */
}

static struct ccp_metric_family *family(struct ccp_metrics *m, const struct ccp_metric_desc *d)
{
	char err[256] = "";
	struct ccp_metric_family *f = ccp_metrics_family(m, d, err, sizeof(err));
	if (!f)
		fail_msg("family %s refused: %s", d->name, err);
	return f;
}

/* Registers `d` expecting a refusal whose message holds `needle`. */
static void refused(struct ccp_metrics *m, const struct ccp_metric_desc *d, const char *needle)
{
	char err[256] = "";
	assert_null(ccp_metrics_family(m, d, err, sizeof(err)));
	if (!strstr(err, needle))
		fail_msg("refusal of \"%s\" says \"%s\", not \"%s\"", d && d->name ? d->name : "(null)", err, needle);
}

/* ---- exact text ---- */

static void test_counter_gauge_text(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	assert_non_null(m);
	struct ccp_metric_family *fc = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_COUNTER, .name = "ccp_events_total", .help = "Events decoded."});
	struct ccp_metric_family *fg = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_GAUGE, .name = "ccp_inflight", .help = "Batches in flight."});
	struct ccp_metric_family *fl = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_COUNTER,
									    .name = "ccp_bad_lines_total",
									    .help = "Bad input lines.",
									    .labels = L("reason", "partition")});
	struct ccp_counter *c = ccp_metrics_counter(fc, NULL, NULL, 0);
	struct ccp_gauge *g = ccp_metrics_gauge(fg, NULL, NULL, 0);
	struct ccp_counter *b1 = ccp_metrics_counter(fl, V("bad_json", "3"), NULL, 0);
	struct ccp_counter *b2 = ccp_metrics_counter(fl, V("too_long", "0"), NULL, 0);
	assert_non_null(c);
	assert_non_null(g);
	assert_non_null(b1);
	assert_non_null(b2);

	ccp_counter_inc(c);
	ccp_counter_add(c, 18446744073709551000ull);
	ccp_gauge_set(g, 7);
	ccp_gauge_add(g, -10);
	ccp_counter_add(b1, 2);
	assert_int_equal(ccp_counter_get(c), 18446744073709551001ull);
	assert_int_equal(ccp_gauge_get(g), -3);

	char *page = render(m);
	assert_string_equal(page, "# HELP ccp_events_total Events decoded.\n"
				  "# TYPE ccp_events_total counter\n"
				  "ccp_events_total 18446744073709551001\n"
				  "# HELP ccp_inflight Batches in flight.\n"
				  "# TYPE ccp_inflight gauge\n"
				  "ccp_inflight -3\n"
				  "# HELP ccp_bad_lines_total Bad input lines.\n"
				  "# TYPE ccp_bad_lines_total counter\n"
				  "ccp_bad_lines_total{reason=\"bad_json\",partition=\"3\"} 2\n"
				  "ccp_bad_lines_total{reason=\"too_long\",partition=\"0\"} 0\n");
	assert_page_ok(page);
	free(page);
	ccp_metrics_free(m);
}

static void test_escaping_text(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	struct ccp_metric_family *f = family(
		m, &(struct ccp_metric_desc){.type = CCP_METRIC_GAUGE,
					     .name = "ccp:queue_depth",
					     .help = "Depth \"per\" queue\\path\nsecond line.",
					     .labels = L("queue")});
	ccp_gauge_set(ccp_metrics_gauge(f, V("a\\b \"q\"\nz"), NULL, 0), 1);
	ccp_gauge_set(ccp_metrics_gauge(f, V("Zürich,{x}=y"), NULL, 0), 2);
	ccp_gauge_set(ccp_metrics_gauge(f, V(""), NULL, 0), 3);
	char *page = render(m);
	assert_string_equal(page, "# HELP ccp:queue_depth Depth \"per\" queue\\\\path\\nsecond line.\n"
				  "# TYPE ccp:queue_depth gauge\n"
				  "ccp:queue_depth{queue=\"a\\\\b \\\"q\\\"\\nz\"} 1\n"
				  "ccp:queue_depth{queue=\"Zürich,{x}=y\"} 2\n"
				  "ccp:queue_depth{queue=\"\"} 3\n");
	assert_page_ok(page);
	free(page);
	ccp_metrics_free(m);
}

static void test_histogram_text(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	static const double b[] = {0.005, 0.01, 0.1, 1, 2.5};
	struct ccp_metric_family *f = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_HISTOGRAM,
									   .name = "ccp_publish_seconds",
									   .help = "Publish cycle latency.",
									   .buckets = b,
									   .nbuckets = 5});
	struct ccp_metric_family *fl = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_HISTOGRAM,
									    .name = "ccp_batch_size",
									    .help = "Commands per batch.",
									    .labels = L("sink"),
									    .buckets = (const double[]){10, 100},
									    .nbuckets = 2});
	struct ccp_histogram *h = ccp_metrics_histogram(f, NULL, NULL, 0);
	assert_non_null(h);
	/* Powers of two, so the sum is exact: 4.57421875. */
	const double obs[] = {0.00390625, 0.0078125, 0.0625, 0.5, 1 /* on a bound: le counts it */, 3, NAN};
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		ccp_histogram_observe(h, obs[i]);
	struct ccp_histogram *hl = ccp_metrics_histogram(fl, V("redis"), NULL, 0);
	ccp_histogram_observe(hl, 10);
	ccp_histogram_observe(hl, 11);
	ccp_metrics_histogram(fl, V("dlq"), NULL, 0); /* empty: all zero */

	char *page = render(m);
	assert_string_equal(page, "# HELP ccp_publish_seconds Publish cycle latency.\n"
				  "# TYPE ccp_publish_seconds histogram\n"
				  "ccp_publish_seconds_bucket{le=\"0.005\"} 1\n"
				  "ccp_publish_seconds_bucket{le=\"0.01\"} 2\n"
				  "ccp_publish_seconds_bucket{le=\"0.1\"} 3\n"
				  "ccp_publish_seconds_bucket{le=\"1\"} 5\n"
				  "ccp_publish_seconds_bucket{le=\"2.5\"} 5\n"
				  "ccp_publish_seconds_bucket{le=\"+Inf\"} 6\n"
				  "ccp_publish_seconds_sum 4.57421875\n"
				  "ccp_publish_seconds_count 6\n"
				  "# HELP ccp_batch_size Commands per batch.\n"
				  "# TYPE ccp_batch_size histogram\n"
				  "ccp_batch_size_bucket{sink=\"redis\",le=\"10\"} 1\n"
				  "ccp_batch_size_bucket{sink=\"redis\",le=\"100\"} 2\n"
				  "ccp_batch_size_bucket{sink=\"redis\",le=\"+Inf\"} 2\n"
				  "ccp_batch_size_sum{sink=\"redis\"} 21\n"
				  "ccp_batch_size_count{sink=\"redis\"} 2\n"
				  "ccp_batch_size_bucket{sink=\"dlq\",le=\"10\"} 0\n"
				  "ccp_batch_size_bucket{sink=\"dlq\",le=\"100\"} 0\n"
				  "ccp_batch_size_bucket{sink=\"dlq\",le=\"+Inf\"} 0\n"
				  "ccp_batch_size_sum{sink=\"dlq\"} 0\n"
				  "ccp_batch_size_count{sink=\"dlq\"} 0\n");
	assert_page_ok(page);
	free(page);

	/* Only +Inf: a histogram without bounds is a count and a sum. */
	struct ccp_metric_family *f0 = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_HISTOGRAM, .name = "ccp_only_inf", .help = "No bounds."});
	struct ccp_histogram *h0 = ccp_metrics_histogram(f0, NULL, NULL, 0);
	ccp_histogram_observe(h0, -2.5);
	ccp_histogram_observe(h0, INFINITY);
	page = render(m);
	assert_non_null(strstr(page, "# TYPE ccp_only_inf histogram\n"
				     "ccp_only_inf_bucket{le=\"+Inf\"} 2\n"
				     "ccp_only_inf_sum +Inf\n"
				     "ccp_only_inf_count 2\n"));
	assert_page_ok(page);
	free(page);
	ccp_metrics_free(m);
}

/* ---- callbacks ---- */

static double read_double(void *ud)
{
	return *(const double *)ud;
}

static int callback_calls;

static double count_calls(void *ud)
{
	(void)ud;
	return ++callback_calls;
}

static void test_callback_gauge(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	struct ccp_metric_family *f = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_GAUGE,
									   .name = "ccp_ring_occupancy",
									   .help = "Slots in use.",
									   .labels = L("worker"),
									   .callback = true});
	struct ccp_metric_family *fc = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_COUNTER,
									    .name = "ccp_renders_total",
									    .help = "Renders seen.",
									    .callback = true});
	double w0 = 12, w1 = 0.25, w2 = NAN;
	char err[256];
	assert_int_equal(ccp_metrics_callback(f, V("0"), read_double, &w0, err, sizeof(err)), 0);
	assert_int_equal(ccp_metrics_callback(f, V("1"), read_double, &w1, err, sizeof(err)), 0);
	assert_int_equal(ccp_metrics_callback(f, V("2"), read_double, &w2, err, sizeof(err)), 0);
	assert_int_equal(ccp_metrics_callback(fc, NULL, count_calls, NULL, err, sizeof(err)), 0);
	/* Stored series do not exist in a callback family. */
	assert_null(ccp_metrics_gauge(f, V("3"), err, sizeof(err)));
	assert_non_null(strstr(err, "callback gauge family"));

	callback_calls = 0;
	char *page = render(m);
	assert_string_equal(page, "# HELP ccp_ring_occupancy Slots in use.\n"
				  "# TYPE ccp_ring_occupancy gauge\n"
				  "ccp_ring_occupancy{worker=\"0\"} 12\n"
				  "ccp_ring_occupancy{worker=\"1\"} 0.25\n"
				  "ccp_ring_occupancy{worker=\"2\"} NaN\n"
				  "# HELP ccp_renders_total Renders seen.\n"
				  "# TYPE ccp_renders_total counter\n"
				  "ccp_renders_total 1\n");
	assert_page_ok(page);
	free(page);

	/* Read at each render; replaced in place; hidden by fn NULL, and the
	 * family goes once none is left. */
	w0 = -1e300;
	double other = INFINITY;
	assert_int_equal(ccp_metrics_callback(f, V("1"), read_double, &other, err, sizeof(err)), 0);
	assert_int_equal(ccp_metrics_callback(f, V("2"), NULL, NULL, err, sizeof(err)), 0);
	page = render(m);
	assert_string_equal(page, "# HELP ccp_ring_occupancy Slots in use.\n"
				  "# TYPE ccp_ring_occupancy gauge\n"
				  "ccp_ring_occupancy{worker=\"0\"} -1e+300\n"
				  "ccp_ring_occupancy{worker=\"1\"} +Inf\n"
				  "# HELP ccp_renders_total Renders seen.\n"
				  "# TYPE ccp_renders_total counter\n"
				  "ccp_renders_total 2\n");
	free(page);
	assert_int_equal(ccp_metrics_callback(f, V("0"), NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ccp_metrics_callback(f, V("1"), NULL, NULL, err, sizeof(err)), 0);
	page = render(m);
	assert_string_equal(page, "# HELP ccp_renders_total Renders seen.\n"
				  "# TYPE ccp_renders_total counter\n"
				  "ccp_renders_total 3\n");
	free(page);
	ccp_metrics_free(m);
}

/* ---- refusals ---- */

static void test_invalid_names(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	const enum ccp_metric_type C = CCP_METRIC_COUNTER, H = CCP_METRIC_HISTOGRAM;
	refused(m, NULL, "without a name");
	refused(m, &(struct ccp_metric_desc){.type = C, .help = "h"}, "without a name");
	const char *bad_names[] = {"", "9lives", "a-b", "a.b", "a b", "é", "a{x}", "a\n"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		refused(m, &(struct ccp_metric_desc){.type = C, .name = bad_names[i], .help = "h"},
			"must match [a-zA-Z_:][a-zA-Z0-9_:]*");
	refused(m, &(struct ccp_metric_desc){.type = (enum ccp_metric_type)7, .name = "x", .help = "h"},
		"unknown type");
	refused(m, &(struct ccp_metric_desc){.type = C, .name = "x"}, "HELP text is missing");
	refused(m, &(struct ccp_metric_desc){.type = C, .name = "x", .help = ""}, "HELP text is missing");
	refused(m, &(struct ccp_metric_desc){.type = C, .name = "x", .help = "bad \xc3\x28"}, "not valid UTF-8");
	const char *bad_labels[] = {"", "1a", "a:b", "a-b", "é"};
	for (size_t i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++)
		refused(m, &(struct ccp_metric_desc){.type = C, .name = "x", .help = "h", .labels = L(bad_labels[i])},
			"must match [a-zA-Z_][a-zA-Z0-9_]*");
	refused(m, &(struct ccp_metric_desc){.type = C, .name = "x", .help = "h", .labels = L("__name__")},
		"reserved (starts with \"__\")");
	refused(m, &(struct ccp_metric_desc){.type = C, .name = "x", .help = "h", .labels = L("a", "b", "a")},
		"label name \"a\" given twice");
	refused(m,
		&(struct ccp_metric_desc){.type = C, .name = "x", .help = "h", .labels = L("a", "b", "c", "d", "e")},
		"more than 4 label names");
	refused(m, &(struct ccp_metric_desc){.type = H, .name = "x", .help = "h", .labels = L("le")},
		"\"le\" is reserved");
	refused(m, &(struct ccp_metric_desc){.type = H, .name = "x", .help = "h", .callback = true},
		"callbacks are for counters and gauges");
	refused(m,
		&(struct ccp_metric_desc){
			.type = H, .name = "x", .help = "h", .buckets = (const double[]){1, 0.5}, .nbuckets = 2},
		"buckets must increase (bucket 1: 0.5 after 1)");
	refused(m,
		&(struct ccp_metric_desc){
			.type = H, .name = "x", .help = "h", .buckets = (const double[]){1, 1}, .nbuckets = 2},
		"buckets must increase");
	refused(m,
		&(struct ccp_metric_desc){
			.type = H, .name = "x", .help = "h", .buckets = (const double[]){1, INFINITY}, .nbuckets = 2},
		"bucket 1 is not finite");
	refused(m,
		&(struct ccp_metric_desc){
			.type = H, .name = "x", .help = "h", .buckets = (const double[]){NAN}, .nbuckets = 1},
		"bucket 0 is not finite");
	refused(m, &(struct ccp_metric_desc){.type = H, .name = "x", .help = "h", .nbuckets = 3},
		"nbuckets is 3 but buckets is NULL");
	double many[CCP_METRICS_MAX_BUCKETS + 1];
	for (size_t i = 0; i < CCP_METRICS_MAX_BUCKETS + 1; i++)
		many[i] = (double)i;
	refused(m,
		&(struct ccp_metric_desc){
			.type = H, .name = "x", .help = "h", .buckets = many, .nbuckets = CCP_METRICS_MAX_BUCKETS + 1},
		"65 buckets (0 to 64");
	refused(m,
		&(struct ccp_metric_desc){
			.type = C, .name = "x", .help = "h", .buckets = (const double[]){1}, .nbuckets = 1},
		"buckets are for histograms");
	/* Valid edge cases pass: colons, leading underscore, a single "_". */
	family(m, &(struct ccp_metric_desc){.type = C, .name = ":a_b:c9", .help = "h", .labels = L("_x", "a9", "le")});
	family(m, &(struct ccp_metric_desc){.type = C, .name = "_", .help = "h", .labels = L("_")});
	family(m, &(struct ccp_metric_desc){
		.type = H, .name = "xh", .help = "h", .buckets = many, .nbuckets = CCP_METRICS_MAX_BUCKETS});
	/* Nothing refused was registered. */
	char *page = render(m);
	assert_string_equal(page, "");
	free(page);
	ccp_metrics_free(m);
}

static void test_collisions(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	const enum ccp_metric_type C = CCP_METRIC_COUNTER, G = CCP_METRIC_GAUGE, H = CCP_METRIC_HISTOGRAM;
	family(m, &(struct ccp_metric_desc){.type = H, .name = "lat", .help = "h"});
	family(m, &(struct ccp_metric_desc){.type = C, .name = "req_sum", .help = "h"});
	refused(m, &(struct ccp_metric_desc){.type = G, .name = "lat", .help = "h"}, "\"lat\" is already registered");
	refused(m, &(struct ccp_metric_desc){.type = C, .name = "lat_count", .help = "h"},
		"metric \"lat_count\" (counter) would write \"lat_count\", as histogram \"lat\" does");
	refused(m, &(struct ccp_metric_desc){.type = G, .name = "lat_bucket", .help = "h"}, "as histogram \"lat\"");
	refused(m, &(struct ccp_metric_desc){.type = H, .name = "req", .help = "h"},
		"metric \"req\" (histogram) would write \"req_sum\", as counter \"req_sum\" does");
	refused(m, &(struct ccp_metric_desc){.type = H, .name = "lat", .help = "h"}, "already registered");
	family(m, &(struct ccp_metric_desc){.type = C, .name = "lat_total", .help = "h"});
	family(m, &(struct ccp_metric_desc){.type = H, .name = "lat_sum_x", .help = "h"});
	ccp_metrics_free(m);
}

static void test_series_identity(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	struct ccp_metric_family *f = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_COUNTER, .name = "c_total", .help = "h", .labels = L("a", "b")});
	struct ccp_metric_family *g = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_GAUGE, .name = "g", .help = "h"});
	char err[256];
	struct ccp_counter *x = ccp_metrics_counter(f, V("1", "2"), err, sizeof(err));
	assert_ptr_equal(ccp_metrics_counter(f, V("1", "2"), err, sizeof(err)), x);
	/* Values are compared whole: "1","2" is not "12","" nor "1\0" tricks. */
	struct ccp_counter *y = ccp_metrics_counter(f, V("12", ""), err, sizeof(err));
	struct ccp_counter *z = ccp_metrics_counter(f, V("", "12"), err, sizeof(err));
	assert_non_null(y);
	assert_non_null(z);
	assert_ptr_not_equal(x, y);
	assert_ptr_not_equal(y, z);
	/* Each series' value on a cache line of its own. */
	assert_int_equal((uintptr_t)x % 64, 0);
	assert_int_equal((uintptr_t)y % 64, 0);
	assert_ptr_equal(ccp_metrics_gauge(g, NULL, err, sizeof(err)), ccp_metrics_gauge(g, NULL, err, sizeof(err)));

	assert_null(ccp_metrics_counter(f, V("1", NULL), err, sizeof(err)));
	assert_string_equal(err, "metric \"c_total\": no value for label \"b\"");
	assert_null(ccp_metrics_counter(f, NULL, err, sizeof(err)));
	assert_string_equal(err, "metric \"c_total\": no value for label \"a\"");
	assert_null(ccp_metrics_counter(f, V("ok", "\xff"), err, sizeof(err)));
	assert_string_equal(err, "metric \"c_total\": value of label \"b\" is not valid UTF-8");
	/* Overlong '/', a surrogate, past U+10FFFF, a cut sequence. */
	const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(ccp_metrics_counter(f, V("ok", bad[i]), NULL, 0));
	assert_non_null(ccp_metrics_counter(f, V("\xf4\x8f\xbf\xbf", "\xe2\x82\xac"), NULL, 0)); /* U+10FFFF, € */
	assert_null(ccp_metrics_gauge(f, V("1", "2"), err, sizeof(err)));
	assert_string_equal(err, "metric \"c_total\" is a counter family, not one of gauge series");
	assert_null(ccp_metrics_histogram(g, NULL, err, sizeof(err)));
	assert_int_equal(ccp_metrics_callback(g, NULL, read_double, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "metric \"g\" is a gauge family, not one of callback series");
	assert_null(ccp_metrics_counter(NULL, NULL, err, sizeof(err)));
	ccp_metrics_free(m);
	ccp_metrics_free(NULL);
}

/* ---- numbers ---- */

static void test_format_double(void **state)
{
	(void)state;
	static const struct {
		double v;
		const char *text;
	} cases[] = {
		{0, "0"},
		{1, "1"},
		{-42, "-42"},
		{123456789012345, "123456789012345"},
		{999999999999999, "999999999999999"},
		{1e15, "1000000000000000"},
		{-9007199254740992.0, "-9007199254740992"},
		{18014398509481984.0, "18014398509481984"},
		{1e20, "1e+20"},
		{0.1, "0.1"},
		{-1.5, "-1.5"},
		{0.005, "0.005"},
		{0.3, "0.3"},
		{0.1 + 0.2, "0.30000000000000004"},
		{1.0 / 3, "0.3333333333333333"},
		{123456.789, "123456.789"},
		{1e-7, "1e-07"},
		{2.5e-5, "2.5e-05"},
		{1e300, "1e+300"},
		{DBL_MAX, "1.7976931348623157e+308"},
		{DBL_MIN, "2.2250738585072014e-308"},
		{4.9406564584124654e-324, "5e-324"},
		{NAN, "NaN"},
		{INFINITY, "+Inf"},
		{-INFINITY, "-Inf"},
	};
	char buf[CCP_METRICS_NUM_MAX];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = ccp_metrics_format_double(buf, cases[i].v);
		if (strcmp(buf, cases[i].text) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, buf, cases[i].text);
		assert_int_equal(n, strlen(buf));
	}
	/* Random bit patterns: every finite double reads back exactly, in
	 * fewer than CCP_METRICS_NUM_MAX bytes. */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double v;
		memcpy(&v, &x, sizeof(v));
		if (!isfinite(v))
			continue;
		size_t n = ccp_metrics_format_double(buf, v);
		assert_true(n < CCP_METRICS_NUM_MAX);
		if (strtod(buf, NULL) != v)
			fail_msg("%.17g printed as %s", v, buf);
	}
}

/* ---- the checker, checked ---- */

static void test_checker_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *page;
		const char *why;
	} bad[] = {
		{"# HELP a h\n# TYPE a counter\na 1", "newline"},
		{"a 1\n", "sample before any TYPE"},
		{"# HELP a h\n# TYPE a counter\nb 1\n", "another family"},
		{"# TYPE a counter\na 1\n", "TYPE not right after"},
		{"# HELP a h\n# TYPE a counter\na 1\n# HELP a h\n", "second HELP"},
		{"# HELP a h\n# TYPE a counter\na 1\na 2\n", "series twice"},
		{"# HELP a h\n# TYPE a counter\na -1\n", "counter below 0"},
		{"# HELP a h\n# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n", "label x twice"},
		{"# HELP a h\n# TYPE a counter\na{x=\"a\"b\"} 1\n", "bad sample line"},
		{"# HELP a h\n# TYPE a counter\na{x=\"a\\tb\"} 1\n", "bad sample line"},
		{"# HELP a h\n# TYPE a counter\na{__x=1} 1\n", "bad sample line"},
		{"# HELP a h\n# TYPE a counter\na 1.2.3\n", "bad sample line"},
		{"# HELP a h\n# TYPE a counter\na 1 \n", "bad sample line"},
		{"# HELP a h\\t\n# TYPE a counter\na 1\n", "bad HELP line"},
		{"# HELP a h\n# TYPE a counterz\na 1\n", "bad TYPE line"},
		{"# HELP a h\n# TYPE a counter\n\na 1\n", "empty line"},
		{"# HELP a h\n# TYPE a counter\n# a comment\n", "a comment"},
		{"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"0.5\"} 2\n", "le not increasing"},
		{"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n", "decreasing"},
		{"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 2\n",
		 "+Inf 3 != _count 2"},
		{"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n", "lacks +Inf"},
		{"# HELP h h\n# TYPE h histogram\nh 2\n", "without _bucket"},
		{"# HELP h h\n# TYPE h histogram\nh_sum{le=\"1\"} 2\n", "on _bucket only"},
		{"# HELP a h\n# TYPE a gauge\na{le=\"1\"} 2\n", "le outside"},
	};
	struct checker c;
	checker_init(&c);
	char err[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check_page(&c, bad[i].page, err, sizeof(err)))
			fail_msg("case %zu accepted: %s", i, bad[i].page);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: \"%s\", want \"%s\"", i, err, bad[i].why);
	}
	assert_true(check_page(&c,
			       "# HELP h a \\\\ b \\n c\n# TYPE h histogram\n"
			       "h_bucket{q=\"x\\\"\\\\\\n\",le=\"0.5\"} 0\nh_bucket{q=\"x\\\"\\\\\\n\",le=\"+Inf\"} 1\n"
			       "h_sum{q=\"x\\\"\\\\\\n\"} 1e+300\nh_count{q=\"x\\\"\\\\\\n\"} 1\n"
			       "# HELP g g\n# TYPE g gauge\ng -Inf\ng{a=\"\"} NaN\ng{a=\"1\"} -1.5e-07\ng{a=\"2\"} .5\n",
			       err, sizeof(err)));
	assert_true(check_page(&c, "", err, sizeof(err)));
	checker_free(&c);
}

/* ---- rendering edge cases ---- */

static void test_empty_and_reuse(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	struct ccp_metrics_buf b;
	ccp_metrics_buf_init(&b);
	assert_int_equal(ccp_metrics_render(m, &b), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	/* Families without series are left out. */
	struct ccp_metric_family *f = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_COUNTER, .name = "x_total", .help = "h", .labels = L("p")});
	assert_int_equal(ccp_metrics_render(m, &b), 0);
	assert_string_equal(b.data, "");
	/* Growth past the first allocation, then reuse without growth. */
	char v[16];
	for (int i = 0; i < 500; i++) {
		snprintf(v, sizeof(v), "%d", i);
		ccp_counter_add(ccp_metrics_counter(f, V(v), NULL, 0), (uint64_t)i);
	}
	assert_int_equal(ccp_metrics_render(m, &b), 0);
	size_t len = b.len, cap = b.cap;
	char *data = b.data;
	assert_true(len > 4096);
	assert_non_null(strstr(b.data, "\nx_total{p=\"499\"} 499\n"));
	assert_page_ok(b.data);
	assert_int_equal(ccp_metrics_render(m, &b), 0);
	assert_int_equal(b.len, len);
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	ccp_metrics_buf_free(&b);
	assert_null(b.data);
	ccp_metrics_buf_free(&b); /* twice is harmless */
	ccp_metrics_free(m);
}

/* ---- a larger registry through the checker ---- */

static double big_values[] = {0, -0.0, 1, -1, 0.1, 1e-300, 4.9406564584124654e-324, DBL_MAX, -DBL_MAX, NAN,
			      INFINITY, -INFINITY, 12345.678, 1e21, -2.5e-9, 0x1p53, 0x1p53 + 2};

static void test_grammar_big(void **state)
{
	(void)state;
	struct ccp_metrics *m = ccp_metrics_new();
	const char *weird[] = {"plain", "", "sp ace", "q\"uote", "back\\slash", "new\nline", "\\n literal",
			       "tab\there", "ünï©ødé ✓ 🎧", "{},=\"", "\\\"\n\\"};
	const size_t nweird = sizeof(weird) / sizeof(weird[0]);
	size_t families = 0;

	/* Counters with 0..4 labels. */
	for (int nl = 0; nl <= CCP_METRICS_MAX_LABELS; nl++) {
		const char *names[] = {"partition", "queue", "reason", "worker", NULL};
		const char *labels[CCP_METRICS_MAX_LABELS + 1] = {NULL};
		for (int i = 0; i < nl; i++)
			labels[i] = names[i];
		char name[64];
		snprintf(name, sizeof(name), "ccp_big_%d_labels_total", nl);
		struct ccp_metric_family *f = family(m, &(struct ccp_metric_desc){
			.type = CCP_METRIC_COUNTER, .name = name, .help = "A counter\\with \"escapes\"\nand lines.",
			.labels = labels});
		families++;
		for (size_t s = 0; s < (nl ? 3 * nweird : 1); s++) {
			const char *vals[CCP_METRICS_MAX_LABELS];
			for (int i = 0; i < nl; i++)
				vals[i] = weird[(s + (size_t)i * 5) % nweird];
			char part[24]; /* room for any size_t: gcc -O0 checks the whole range */
			snprintf(part, sizeof(part), "%zu", s); /* keeps tuples apart */
			if (nl)
				vals[0] = part;
			ccp_counter_add(ccp_metrics_counter(f, vals, NULL, 0), s * 1000003u);
		}
	}
	/* Gauges at the int64 edges. */
	struct ccp_metric_family *g = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_GAUGE, .name = "ccp_big_gauge", .help = "g", .labels = L("edge")});
	families++;
	ccp_gauge_set(ccp_metrics_gauge(g, V("min"), NULL, 0), INT64_MIN);
	ccp_gauge_set(ccp_metrics_gauge(g, V("max"), NULL, 0), INT64_MAX);
	ccp_gauge_set(ccp_metrics_gauge(g, V("zero"), NULL, 0), 0);
	/* Callback gauges over awkward doubles. */
	struct ccp_metric_family *cb = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_GAUGE, .name = "ccp:big:callback", .help = "cb", .labels = L("i"), .callback = true});
	families++;
	for (size_t i = 0; i < sizeof(big_values) / sizeof(big_values[0]); i++) {
		char v[8];
		snprintf(v, sizeof(v), "%zu", i);
		assert_int_equal(ccp_metrics_callback(cb, V(v), read_double, &big_values[i], NULL, 0), 0);
	}
	/* Histograms: 64 bounds with labels, 1 bound, none. */
	double bounds[CCP_METRICS_MAX_BUCKETS];
	for (int i = 0; i < CCP_METRICS_MAX_BUCKETS; i++)
		bounds[i] = 1e-6 * pow(1.4, i);
	struct ccp_metric_family *h = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_HISTOGRAM,
									   .name = "ccp_big_seconds",
									   .help = "h",
									   .labels = L("queue", "stage"),
									   .buckets = bounds,
									   .nbuckets = CCP_METRICS_MAX_BUCKETS});
	families++;
	uint64_t x = 88172645463325252ull;
	for (size_t s = 0; s < nweird; s++) {
		struct ccp_histogram *hs = ccp_metrics_histogram(h, V(weird[s], s % 2 ? "publish" : "decode"), NULL, 0);
		for (int k = 0; k < 1000; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			ccp_histogram_observe(hs, (double)(x % 100000000) * 1e-6 - 1.0);
		}
	}
	struct ccp_metric_family *h1 = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_HISTOGRAM, .name = "ccp_big_one", .help = "h", .buckets = (const double[]){-1},
		.nbuckets = 1});
	families++;
	ccp_histogram_observe(ccp_metrics_histogram(h1, NULL, NULL, 0), -3);
	/* A family left empty is not written. */
	family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_GAUGE, .name = "ccp_big_unused", .help = "u"});

	char *page = render(m);
	assert_page_ok(page);
	size_t types = 0;
	for (const char *p = page; (p = strstr(p, "# TYPE ")); p++)
		types++;
	assert_int_equal(types, families);
	assert_null(strstr(page, "ccp_big_unused"));
	assert_non_null(strstr(page, "ccp_big_gauge{edge=\"min\"} -9223372036854775808\n"));
	assert_non_null(strstr(page, "ccp_big_gauge{edge=\"max\"} 9223372036854775807\n"));
	assert_non_null(strstr(page, "ccp:big:callback{i=\"16\"} 9007199254740994\n"));
	assert_non_null(strstr(page, "ccp_big_one_bucket{le=\"-1\"} 1\n"));

	/* Each callback value reads back as the double it came from. */
	for (size_t i = 0; i < sizeof(big_values) / sizeof(big_values[0]); i++) {
		char key[64];
		snprintf(key, sizeof(key), "ccp:big:callback{i=\"%zu\"} ", i);
		const char *line = strstr(page, key);
		assert_non_null(line);
		double back = strtod(line + strlen(key), NULL);
		if (isnan(big_values[i]))
			assert_true(isnan(back));
		else if (back != big_values[i])
			fail_msg("%.17g came back as %.17g", big_values[i], back);
	}

	const char *dump = getenv("CCP_METRICS_TEST_DUMP");
	if (dump && *dump) {
		FILE *fp = fopen(dump, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(page, 1, strlen(page), fp), strlen(page));
		fclose(fp);
	}
	free(page);
	ccp_metrics_free(m);
}

/* ---- threads ---- */

#define NTHREADS 4

/* Owner: the test; each worker touches its own, the render thread reads
 * none of it. */
struct worker_ctx {
	struct ccp_metric_family *fam_own, *fam_joined;
	struct ccp_counter *shared, *own, *joined;
	struct ccp_gauge *gshared, *gown;
	struct ccp_histogram *h;
	uint64_t items;
	atomic_bool *go;
	atomic_uint *renders;  /* the render thread's count */
	atomic_bool *stopped;  /* the render thread has ended (on an error) */
};

static void *worker_main(void *p)
{
	struct worker_ctx *w = p;
	static const double obs[4] = {0.125, 0.5, 0.75, 2};
	while (!atomic_load_explicit(w->go, memory_order_acquire))
		;
	for (uint64_t i = 0; i < w->items; i++) {
		ccp_counter_inc(w->shared);
		ccp_counter_add(w->own, 2);
		ccp_gauge_add(w->gshared, 1);
		ccp_gauge_add(w->gown, 1);
		ccp_histogram_observe(w->h, obs[i & 3]);
		ccp_gauge_add(w->gown, -1);
		if (i == w->items / 2) {
			/* Every worker asks for the same new series at once. */
			w->joined = ccp_metrics_counter(w->fam_joined, V("joined"), NULL, 0);
			if (w->joined)
				ccp_counter_inc(w->joined);
			/* Two scrapes while this worker is half done, so some pages
			 * are rendered mid-run however the threads are scheduled. */
			unsigned r0 = atomic_load(w->renders);
			while (atomic_load(w->renders) < r0 + 2 && !atomic_load(w->stopped))
				sched_yield();
		}
	}
	return NULL;
}

/* Owner: the test; the render thread writes it, the test reads it after
 * the join. */
struct render_ctx {
	struct ccp_metrics *m;
	struct ccp_metric_family *fam_own;
	atomic_bool *done;
	atomic_uint renders;
	atomic_bool stopped;
	unsigned mid_renders; /* pages with t_shared_total strictly between 0 and the end */
	unsigned long long total;
	char err[1024];
};

static void *render_main(void *p)
{
	struct render_ctx *r = p;
	struct checker c;
	checker_init(&c);
	struct ccp_metrics_buf b;
	ccp_metrics_buf_init(&b);
	unsigned long long last = 0;
	while (!r->err[0] && (!atomic_load_explicit(r->done, memory_order_acquire) || atomic_load(&r->renders) < 3)) {
		if (ccp_metrics_render(r->m, &b) != 0) {
			snprintf(r->err, sizeof(r->err), "render failed");
			break;
		}
		unsigned n = atomic_fetch_add(&r->renders, 1) + 1;
		if (!check_page(&c, b.data, r->err, sizeof(r->err)))
			break;
		/* A counter never goes back between scrapes. */
		const char *s = strstr(b.data, "\nt_shared_total ");
		unsigned long long v = s ? strtoull(s + 16, NULL, 10) : 0;
		if (!s || v < last) {
			snprintf(r->err, sizeof(r->err), "t_shared_total %llu after %llu", v, last);
			break;
		}
		last = v;
		if (v > 0 && v < r->total)
			r->mid_renders++;
		/* New series while the workers run. */
		if (n <= 50) {
			char lv[16];
			snprintf(lv, sizeof(lv), "late-%u", n);
			if (!ccp_metrics_counter(r->fam_own, V(lv), NULL, 0)) {
				snprintf(r->err, sizeof(r->err), "late series refused");
				break;
			}
		}
	}
	ccp_metrics_buf_free(&b);
	checker_free(&c);
	atomic_store(&r->stopped, true);
	return NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 10) : dflt;
}

static void test_threads_exact(void **state)
{
	(void)state;
	uint64_t items = env_u64("CCP_METRICS_TEST_ITEMS", CCP_TEST_UNDER_TSAN ? 50000 : 200000) / 4 * 4;
	struct ccp_metrics *m = ccp_metrics_new();
	struct ccp_metric_family *fs = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_COUNTER, .name = "t_shared_total", .help = "h"});
	struct ccp_metric_family *fo = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_COUNTER, .name = "t_own_total", .help = "h", .labels = L("worker")});
	struct ccp_metric_family *fgs = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_GAUGE, .name = "t_gshared", .help = "h"});
	struct ccp_metric_family *fgo = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_GAUGE, .name = "t_gown", .help = "h", .labels = L("worker")});
	struct ccp_metric_family *fh = family(m, &(struct ccp_metric_desc){.type = CCP_METRIC_HISTOGRAM,
									   .name = "t_lat_seconds",
									   .help = "h",
									   .buckets = (const double[]){0.25, 0.5, 1},
									   .nbuckets = 3});
	struct ccp_metric_family *fj = family(m, &(struct ccp_metric_desc){
		.type = CCP_METRIC_COUNTER, .name = "t_joined_total", .help = "h", .labels = L("who")});

	atomic_bool go = false, done = false;
	struct render_ctx r = {.m = m, .fam_own = fo, .done = &done, .total = NTHREADS * items};
	struct worker_ctx w[NTHREADS];
	pthread_t tid[NTHREADS], rtid;
	for (int i = 0; i < NTHREADS; i++) {
		char lv[8];
		snprintf(lv, sizeof(lv), "%d", i);
		w[i] = (struct worker_ctx){
			.fam_own = fo,
			.fam_joined = fj,
			.shared = ccp_metrics_counter(fs, NULL, NULL, 0),
			.own = ccp_metrics_counter(fo, V(lv), NULL, 0),
			.gshared = ccp_metrics_gauge(fgs, NULL, NULL, 0),
			.gown = ccp_metrics_gauge(fgo, V(lv), NULL, 0),
			.h = ccp_metrics_histogram(fh, NULL, NULL, 0),
			.items = items,
			.go = &go,
			.renders = &r.renders,
			.stopped = &r.stopped,
		};
		assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	assert_int_equal(pthread_create(&rtid, NULL, render_main, &r), 0);
	atomic_store_explicit(&go, true, memory_order_release);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	atomic_store_explicit(&done, true, memory_order_release);
	assert_int_equal(pthread_join(rtid, NULL), 0);
	if (r.err[0])
		fail_msg("render thread: %s", r.err);
	print_message("%u renders (%u mid-run) during %llu x %d updates\n", atomic_load(&r.renders), r.mid_renders,
		      (unsigned long long)items, NTHREADS);
	assert_true(r.mid_renders >= 2);

	assert_int_equal(ccp_counter_get(w[0].shared), NTHREADS * items);
	assert_int_equal(ccp_gauge_get(w[0].gshared), (int64_t)(NTHREADS * items));
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(ccp_counter_get(w[i].own), 2 * items);
		assert_int_equal(ccp_gauge_get(w[i].gown), 0);
		assert_ptr_equal(w[i].joined, w[0].joined);
	}
	assert_non_null(w[0].joined);
	assert_int_equal(ccp_counter_get(w[0].joined), NTHREADS);

	char *page = render(m);
	assert_page_ok(page);
	char want[512], sum[CCP_METRICS_NUM_MAX];
	ccp_metrics_format_double(sum, (double)items * 3.375); /* each thread: items/4 of each value */
	snprintf(want, sizeof(want),
		 "# TYPE t_lat_seconds histogram\n"
		 "t_lat_seconds_bucket{le=\"0.25\"} %llu\n"
		 "t_lat_seconds_bucket{le=\"0.5\"} %llu\n"
		 "t_lat_seconds_bucket{le=\"1\"} %llu\n"
		 "t_lat_seconds_bucket{le=\"+Inf\"} %llu\n"
		 "t_lat_seconds_sum %s\n"
		 "t_lat_seconds_count %llu\n",
		 (unsigned long long)items, (unsigned long long)(2 * items), (unsigned long long)(3 * items),
		 (unsigned long long)(4 * items), sum, (unsigned long long)(4 * items));
	if (!strstr(page, want))
		fail_msg("want\n%s\nin\n%s", want, page);
	snprintf(want, sizeof(want), "\nt_shared_total %llu\n", (unsigned long long)(NTHREADS * items));
	assert_non_null(strstr(page, want));
	assert_non_null(strstr(page, "\nt_own_total{worker=\"late-1\"} 0\n"));
	free(page);
	ccp_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge_text), cmocka_unit_test(test_escaping_text),
		cmocka_unit_test(test_histogram_text),     cmocka_unit_test(test_callback_gauge),
		cmocka_unit_test(test_invalid_names),      cmocka_unit_test(test_collisions),
		cmocka_unit_test(test_series_identity),    cmocka_unit_test(test_format_double),
		cmocka_unit_test(test_checker_rejects),    cmocka_unit_test(test_empty_and_reuse),
		cmocka_unit_test(test_grammar_big),        cmocka_unit_test(test_threads_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
