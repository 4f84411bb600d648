/* Webhook delivery (design notes in include/ccpulse/webhook.h).
 *
 * Reading guide. A post makes one entry, shared by every endpoint (refs
 * counts those still holding it; next[i] links it into endpoint i's
 * FIFO). An endpoint's FIFO starts with its batch, the nbatch entries of
 * the request in flight or waiting out a backoff; the rest wait. Entries
 * are appended in post order, so the ones past max_age_ms always form a
 * prefix and pruning pops from the head.
 *
 * Endpoint states: IDLE (nothing scheduled) -> KICKED (timer at 0: build
 * and send on the next loop turn, so the posts of one turn share a POST)
 * -> INFLIGHT (with curl) -> IDLE on a 2xx, or BACKOFF (timer) -> the same
 * batch again. One timer per endpoint serves both KICKED and BACKOFF.
 *
 * libcurl rules this file keeps (7.88):
 * - curl_multi_socket_action and curl_multi_add/remove_handle are never
 *   called from inside curl's socket or timer callbacks; the timer
 *   callback only arms a uv timer.
 * - CURL_POLL_REMOVE comes before curl closes the socket, so the uv_poll_t
 *   is stopped (uv_close stops it at once) while its fd is still valid.
 * - A finished transfer is removed from the multi handle before its easy
 *   handle is added again; the body stays allocated and untouched while
 *   the transfer runs (CURLOPT_POSTFIELDS does not copy).
 * - Teardown never runs inside a curl call: close defers it to a timer.
 */
#include "ccpulse/webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "ccpulse/json_out.h"
#include "ccpulse/log.h"
#include "hash.h"
#include "check.h"
#include "fail.h"

#define MAX_ENDPOINTS 64
/* 9999-12-31T23:59:59.999Z: RFC 3339 has four year digits. */
#define MAX_EPOCH_MS INT64_C(253402300799999)
#define ENDS_AT_NEVER "0001-01-01T00:00:00Z"
#define USER_AGENT "ccpulse/" CCP_VERSION

/* An alert queued at every endpoint. Owner: the endpoints' FIFOs (refs
 * counts those still holding it); loop thread; lives from post until the
 * last endpoint delivers or drops it. One allocation per post. */
struct entry {
	uint64_t posted_ms; /* uv_now() at post: the age clock */
	uint32_t refs;
	struct ccp_webhook_alert a;
	struct entry *next[]; /* per endpoint: the next in its FIFO */
};

/* A growable request body. Owner: its endpoint; reused by every attempt. */
struct body {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed: the body is unusable */
};

enum ep_state {
	EP_IDLE,     /* no request, no timer */
	EP_KICKED,   /* timer at 0: sends on the next loop turn */
	EP_INFLIGHT, /* a request is with curl */
	EP_BACKOFF,  /* timer: resends the failed batch when it fires */
};

/* One receiver. Owner: its webhook (an array there); loop thread; lives
 * as long as the webhook. */
struct endpoint {
	struct ccp_webhook *wh;
	size_t idx;
	enum ccp_webhook_format format;
	char *url_log;             /* no password, no query: the only form logged */
	struct curl_slist *headers;
	CURL *easy;                /* reused by every attempt: keeps the connection */
	uv_timer_t timer;          /* KICKED or BACKOFF */
	enum ep_state state;
	struct entry *head, *tail; /* FIFO: the batch first, then waiting alerts */
	struct entry *batch_last;  /* last entry of the batch; NULL when nbatch == 0 */
	size_t count, nbatch;
	struct body body;
	bool body_valid;           /* body holds the current batch: resend it as is */
	uint32_t failures;         /* consecutive failed attempts: the backoff step */
	uint32_t batch_attempts;   /* attempts of the current batch */
	char errbuf[CURL_ERROR_SIZE];
	struct ccp_webhook_stats st;
	struct ccp_log_reporter rep_fail, rep_full, rep_age;
};

/* A socket curl asked us to watch. Owner: the webhook's list from curl's
 * first interest in the fd until the poll's close callback frees it. */
struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct ccp_webhook *wh;
	struct sock *prev, *next;
};

/* The webhook. Owner: whoever created it; only its loop's thread touches
 * it. Lives from ccp_webhook_new() until the close callbacks of all its
 * handles have run after ccp_webhook_close(). */
struct ccp_webhook {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t curl_timer;  /* curl's timeout (CURLMOPT_TIMERFUNCTION) */
	uv_timer_t close_timer; /* flush deadline, or the deferred teardown */
	struct sock *socks;     /* sockets watched now */
	int handles_open;       /* uv handles not yet closed */
	bool closing;           /* close() called: no posts */
	bool finishing;         /* teardown started: no sends */
	ccp_webhook_close_cb close_cb;
	void *close_ud;
	uint64_t rng;           /* xorshift64 state for jitter */
	int timeout_ms, backoff_min_ms, backoff_max_ms;
	size_t max_queue, max_batch;
	int64_t max_age_ms;
	const struct ccp_log *log;
	size_t n_ep;
	struct endpoint *ep;
};

static const char *const format_names[CCP_WEBHOOK__FORMAT_COUNT] = {"generic", "alertmanager"};

const char *ccp_webhook_format_name(enum ccp_webhook_format f)
{
	return (unsigned)f < CCP_WEBHOOK__FORMAT_COUNT ? format_names[f] : "?";
}

int ccp_webhook_format_parse(const char *s, enum ccp_webhook_format *out)
{
	for (int i = 0; i < CCP_WEBHOOK__FORMAT_COUNT; i++)
		if (s && !strcmp(s, format_names[i])) {
			*out = (enum ccp_webhook_format)i;
			return 0;
		}
	return -EINVAL;
}

void ccp_webhook_opts_defaults(struct ccp_webhook_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 5000;
	o->backoff_min_ms = 500;
	o->backoff_max_ms = 30000;
	o->max_queue = 10000;
	o->max_batch = 100;
	o->max_age_ms = INT64_C(24) * 3600 * 1000;
	o->log_interval_ms = 10000;
}

/* ---- body building ------------------------------------------------------- */

static bool body_reserve(struct body *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->len + n <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void put(struct body *b, const char *s, size_t n)
{
	if (!body_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_lit(struct body *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A JSON string: quoted, escaped (an escape is at most 6 bytes per input
 * byte, and ccp_json_escape wants room for its NUL). */
static void put_str(struct body *b, const char *s, size_t n)
{
	if (!body_reserve(b, 6 * n + 3))
		return;
	b->p[b->len++] = '"';
	b->len += ccp_json_escape(b->p + b->len, b->cap - b->len, s, n);
	b->p[b->len++] = '"';
}

static void put_cstr(struct body *b, const char *s)
{
	put_str(b, s, strlen(s));
}

/* `"key":` */
static void put_key(struct body *b, const char *key)
{
	put_cstr(b, key);
	put(b, ":", 1);
}

static void put_i64(struct body *b, int64_t v)
{
	char n[24];
	int k = snprintf(n, sizeof(n), "%" PRId64, v);
	put(b, n, (size_t)k);
}

/* RFC 3339, UTC, milliseconds, quoted. `ms` was checked at post
 * (0..MAX_EPOCH_MS). */
static void put_time(struct body *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char s[64];
	int k = snprintf(s, sizeof(s), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	put(b, s, (size_t)k);
}

static void generic_alert(struct body *b, const struct ccp_webhook_alert *a)
{
	put_lit(b, "{");
	put_key(b, "rule");
	put_cstr(b, a->rule);
	put_lit(b, ",");
	put_key(b, "kind");
	put_cstr(b, a->kind);
	put_lit(b, ",");
	put_key(b, "window");
	put_cstr(b, a->window);
	put_lit(b, ",");
	put_key(b, "queue");
	put_cstr(b, a->queue);
	if (a->promise[0]) {
		put_lit(b, ",");
		put_key(b, "promise");
		put_cstr(b, a->promise);
	}
	put_lit(b, ",");
	put_key(b, "state");
	put_cstr(b, a->firing ? "firing" : "resolved");
	put_lit(b, ",");
	put_key(b, "value");
	put_lit(b, a->value[0] ? a->value : "null"); /* number text checked at post */
	put_lit(b, ",");
	put_key(b, "threshold");
	put_lit(b, a->threshold);
	put_lit(b, ",");
	put_key(b, "ts");
	put_i64(b, a->ts_ms);
	put_lit(b, ",");
	put_key(b, "started_at");
	put_i64(b, a->started_ms);
	put_lit(b, "}");
}

/* A label or annotation: the value is borrowed from the alert or from a
 * caller's buffer. */
struct pair {
	const char *k;
	const char *v;
};

#define AM_LABELS_MAX 6
#define AM_ANNOTATIONS_MAX 3
#define SUMMARY_MAX 512

/* The labels of an alert, in name order (the fingerprint hashes them in
 * this order). Returns their number. */
static size_t am_labels(const struct ccp_webhook_alert *a, struct pair out[AM_LABELS_MAX])
{
	size_t n = 0;
	out[n++] = (struct pair){"alertname", a->rule};
	out[n++] = (struct pair){"kind", a->kind};
	if (a->promise[0])
		out[n++] = (struct pair){"promise", a->promise};
	out[n++] = (struct pair){"queue", a->queue};
	out[n++] = (struct pair){"severity", "warning"};
	if (a->window[0])
		out[n++] = (struct pair){"window", a->window};
	return n;
}

/* A human sentence: "service level 0.62 below 0.80 on billing (15m)".
 * Kinds named <subject>_below / <subject>_above read as such; others as
 * "<subject> <value> (threshold <t>)". */
static void summary(const struct ccp_webhook_alert *a, char out[SUMMARY_MAX])
{
	size_t kl = strlen(a->kind);
	const char *rel = NULL;
	if (kl > 6 && !strcmp(a->kind + kl - 6, "_below"))
		rel = "below";
	else if (kl > 6 && !strcmp(a->kind + kl - 6, "_above"))
		rel = "above";
	if (rel)
		kl -= 6;
	char subject[CCP_WEBHOOK_KIND_MAX];
	for (size_t i = 0; i < kl; i++)
		subject[i] = a->kind[i] == '_' ? ' ' : a->kind[i];
	subject[kl] = 0;
	const char *v = a->value[0] ? a->value : "unknown";
	int n;
	if (!a->firing)
		n = snprintf(out, SUMMARY_MAX, "resolved: %s %s (threshold %s) on %s", subject, v, a->threshold,
			     a->queue);
	else if (rel && a->value[0])
		n = snprintf(out, SUMMARY_MAX, "%s %s %s %s on %s", subject, v, rel, a->threshold, a->queue);
	else if (rel)
		n = snprintf(out, SUMMARY_MAX, "%s %s %s on %s", subject, rel, a->threshold, a->queue);
	else
		n = snprintf(out, SUMMARY_MAX, "%s %s (threshold %s) on %s", subject, v, a->threshold, a->queue);
	/* The parts are bounded by their arrays: 512 bytes always hold them. */
	size_t len = (size_t)n;
	if (a->promise[0])
		len += (size_t)snprintf(out + len, SUMMARY_MAX - len, ", promise %s", a->promise);
	if (a->window[0])
		snprintf(out + len, SUMMARY_MAX - len, " (%s)", a->window);
}

/* The annotations of an alert, in name order; `sum` holds the summary. */
static size_t am_annotations(const struct ccp_webhook_alert *a, char sum[SUMMARY_MAX],
			     struct pair out[AM_ANNOTATIONS_MAX])
{
	size_t n = 0;
	summary(a, sum);
	out[n++] = (struct pair){"summary", sum};
	out[n++] = (struct pair){"threshold", a->threshold};
	if (a->value[0])
		out[n++] = (struct pair){"value", a->value};
	return n;
}

/* FNV-1a 64 over name, 0xff, value, 0xff of each label in name order:
 * stable across runs and builds, and documented so receivers can
 * recompute it. */
static uint64_t fingerprint(const struct pair *l, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++)
		for (int part = 0; part < 2; part++) {
			const unsigned char *s = (const unsigned char *)(part ? l[i].v : l[i].k);
			for (; *s; s++) {
				h ^= *s;
				h *= UINT64_C(0x100000001b3);
			}
			h ^= 0xff;
			h *= UINT64_C(0x100000001b3);
		}
	return h;
}

static void put_pairs(struct body *b, const struct pair *p, size_t n)
{
	put_lit(b, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put_lit(b, ",");
		put_key(b, p[i].k);
		put_cstr(b, p[i].v);
	}
	put_lit(b, "}");
}

static const char *pair_get(const struct pair *p, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].k, k))
			return p[i].v;
	return NULL;
}

/* The pairs of the first alert that every alert of the batch has with the
 * same value (Alertmanager's commonLabels / commonAnnotations). */
static size_t am_common(const struct endpoint *ep, bool labels, struct pair out[AM_LABELS_MAX],
			char first_sum[SUMMARY_MAX])
{
	size_t idx = ep->idx, n;
	const struct entry *e = ep->head;
	if (labels)
		n = am_labels(&e->a, out);
	else
		n = am_annotations(&e->a, first_sum, out);
	bool keep[AM_LABELS_MAX];
	for (size_t i = 0; i < n; i++)
		keep[i] = true;
	e = e->next[idx];
	for (size_t j = 1; j < ep->nbatch; j++, e = e->next[idx]) {
		struct pair other[AM_LABELS_MAX];
		char sum[SUMMARY_MAX];
		size_t m = labels ? am_labels(&e->a, other) : am_annotations(&e->a, sum, other);
		for (size_t i = 0; i < n; i++) {
			const char *v = pair_get(other, m, out[i].k);
			if (!v || strcmp(v, out[i].v))
				keep[i] = false;
		}
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (keep[i])
			out[k++] = out[i];
	return k;
}

static void am_alert(struct body *b, const struct ccp_webhook_alert *a)
{
	struct pair labels[AM_LABELS_MAX], ann[AM_ANNOTATIONS_MAX];
	char sum[SUMMARY_MAX];
	size_t nl = am_labels(a, labels);
	size_t na = am_annotations(a, sum, ann);
	char fp[24];
	snprintf(fp, sizeof(fp), "%016" PRIx64, fingerprint(labels, nl));
	put_lit(b, "{");
	put_key(b, "status");
	put_cstr(b, a->firing ? "firing" : "resolved");
	put_lit(b, ",");
	put_key(b, "labels");
	put_pairs(b, labels, nl);
	put_lit(b, ",");
	put_key(b, "annotations");
	put_pairs(b, ann, na);
	put_lit(b, ",");
	put_key(b, "startsAt");
	put_time(b, a->started_ms);
	put_lit(b, ",");
	put_key(b, "endsAt");
	if (a->firing)
		put_cstr(b, ENDS_AT_NEVER);
	else
		put_time(b, a->ts_ms);
	put_lit(b, ",");
	put_key(b, "generatorURL");
	put_cstr(b, "");
	put_lit(b, ",");
	put_key(b, "fingerprint");
	put_cstr(b, fp);
	put_lit(b, "}");
}

static void am_body(struct endpoint *ep)
{
	struct body *b = &ep->body;
	size_t idx = ep->idx;
	bool any_firing = false, one_rule = true;
	const struct entry *e = ep->head;
	for (size_t j = 0; j < ep->nbatch; j++, e = e->next[idx]) {
		any_firing |= e->a.firing;
		one_rule &= !strcmp(e->a.rule, ep->head->a.rule);
	}
	put_lit(b, "{");
	put_key(b, "receiver");
	put_cstr(b, "ccpulse");
	put_lit(b, ",");
	put_key(b, "status");
	put_cstr(b, any_firing ? "firing" : "resolved");
	put_lit(b, ",");
	put_key(b, "alerts");
	put_lit(b, "[");
	e = ep->head;
	for (size_t j = 0; j < ep->nbatch; j++, e = e->next[idx]) {
		if (j)
			put_lit(b, ",");
		am_alert(b, &e->a);
	}
	put_lit(b, "]");
	/* Grouping is by rule when the batch holds one rule, else none; the
	 * group key spells the group labels as Alertmanager does. */
	struct pair group = {"alertname", ep->head->a.rule};
	put_lit(b, ",");
	put_key(b, "groupLabels");
	put_pairs(b, &group, one_rule ? 1 : 0);
	struct pair common[AM_LABELS_MAX];
	char sum[SUMMARY_MAX];
	put_lit(b, ",");
	put_key(b, "commonLabels");
	put_pairs(b, common, am_common(ep, true, common, sum));
	put_lit(b, ",");
	put_key(b, "commonAnnotations");
	put_pairs(b, common, am_common(ep, false, common, sum));
	put_lit(b, ",");
	put_key(b, "externalURL");
	put_cstr(b, "");
	put_lit(b, ",");
	put_key(b, "version");
	put_cstr(b, "4");
	put_lit(b, ",");
	put_key(b, "groupKey");
	char gk[8 + 2 * CCP_WEBHOOK_RULE_MAX + 16] = "{}:{}";
	if (one_rule) {
		size_t n = (size_t)snprintf(gk, sizeof(gk), "{}:{alertname=\"");
		for (const char *r = ep->head->a.rule; *r; r++) {
			if (*r == '"' || *r == '\\')
				gk[n++] = '\\';
			gk[n++] = *r;
		}
		memcpy(gk + n, "\"}", 3);
	}
	put_cstr(b, gk);
	put_lit(b, ",");
	put_key(b, "truncatedAlerts");
	put_lit(b, "0");
	put_lit(b, "}");
}

/* Builds the body of the current batch. Returns false if out of memory. */
static bool build_body(struct endpoint *ep)
{
	struct body *b = &ep->body;
	b->len = 0;
	b->oom = false;
	if (ep->format == CCP_WEBHOOK_ALERTMANAGER) {
		am_body(ep);
	} else {
		put_lit(b, "{\"source\":\"ccpulse\",\"alerts\":[");
		const struct entry *e = ep->head;
		for (size_t j = 0; j < ep->nbatch; j++, e = e->next[ep->idx]) {
			if (j)
				put_lit(b, ",");
			generic_alert(b, &e->a);
		}
		put_lit(b, "]}");
	}
	ep->body_valid = !b->oom;
	return !b->oom;
}

/* ---- queues -------------------------------------------------------------- */

static void entry_unref(struct entry *e)
{
	if (--e->refs == 0)
		free(e);
}

/* Unlinks the head (the oldest, part of the batch if there is one). */
static struct entry *pop_head(struct endpoint *ep)
{
	struct entry *e = ep->head;
	ep->head = e->next[ep->idx];
	if (!ep->head)
		ep->tail = NULL;
	ep->count--;
	if (ep->nbatch) {
		ep->body_valid = false; /* the batch changed */
		if (--ep->nbatch == 0)
			ep->batch_last = NULL;
	}
	return e;
}

/* Drops the oldest alert that waits behind the batch (a full queue). */
static void drop_oldest_waiting(struct endpoint *ep)
{
	size_t i = ep->idx;
	struct entry *prev = ep->batch_last;
	struct entry *e = prev ? prev->next[i] : ep->head;
	CCP__CHECK(e);
	if (prev)
		prev->next[i] = e->next[i];
	else
		ep->head = e->next[i];
	if (ep->tail == e)
		ep->tail = prev;
	ep->count--;
	ep->st.dropped_full++;
	if (ep->wh->log) {
		char q[24];
		snprintf(q, sizeof(q), "%zu", ep->wh->max_queue);
		ccp_log_report(&ep->rep_full, (int64_t)uv_now(ep->wh->loop), "endpoint", ep->url_log, "max_queue", q,
			       "rule", e->a.rule, "queue", e->a.queue, (char *)NULL);
	}
	entry_unref(e);
}

static void append(struct endpoint *ep, struct entry *e)
{
	size_t i = ep->idx;
	e->next[i] = NULL;
	if (ep->tail)
		ep->tail->next[i] = e;
	else
		ep->head = e;
	ep->tail = e;
	ep->count++;
}

/* Drops alerts past max_age_ms: a prefix of the FIFO, batch first. */
static void prune_aged(struct endpoint *ep, uint64_t now)
{
	struct ccp_webhook *wh = ep->wh;
	while (ep->head && now - ep->head->posted_ms >= (uint64_t)wh->max_age_ms) {
		struct entry *e = pop_head(ep);
		ep->st.dropped_age++;
		if (wh->log) {
			char age[24];
			snprintf(age, sizeof(age), "%" PRIu64, now - e->posted_ms);
			ccp_log_report(&ep->rep_age, (int64_t)now, "endpoint", ep->url_log, "age_ms", age, "rule",
				       e->a.rule, "queue", e->a.queue, (char *)NULL);
		}
		entry_unref(e);
	}
}

/* ---- sending --------------------------------------------------------------- */

static void send_cb(uv_timer_t *t);
static void finish_cb(uv_timer_t *t);

static bool any_queued(const struct ccp_webhook *wh)
{
	for (size_t i = 0; i < wh->n_ep; i++)
		if (wh->ep[i].count)
			return true;
	return false;
}

/* During a flushing close: once every queue is empty, tear down (from a
 * timer, never under a curl call). */
static void check_flushed(struct ccp_webhook *wh)
{
	if (wh->closing && !wh->finishing && !any_queued(wh))
		uv_timer_start(&wh->close_timer, finish_cb, 0, 0);
}

/* Schedules a send on the next loop turn, unless one is under way or a
 * backoff holds the endpoint. */
static void kick(struct endpoint *ep)
{
	if (ep->state != EP_IDLE || ep->wh->finishing)
		return;
	ep->state = EP_KICKED;
	uv_timer_start(&ep->timer, send_cb, 0, 0);
}

/* backoff_min_ms doubled per consecutive failure, capped at backoff_max_ms,
 * then drawn from its upper quarter: instances spread out, yet the delay
 * stays within [backoff_min_ms, backoff_max_ms]. */
static uint64_t backoff_delay(struct endpoint *ep)
{
	struct ccp_webhook *wh = ep->wh;
	uint64_t min = (uint64_t)wh->backoff_min_ms, max = (uint64_t)wh->backoff_max_ms, d = min;
	for (uint32_t i = 1; i < ep->failures && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	uint64_t lo = d - d / 4;
	uint64_t delay = lo + ccp__xorshift64(&wh->rng) % (d - lo + 1);
	return delay < min ? min : delay;
}

/* A failed attempt (or one that could not start): log, back off, resend. */
static void attempt_failed(struct endpoint *ep, long status, const char *error)
{
	struct ccp_webhook *wh = ep->wh;
	ep->st.failed_attempts++;
	ep->failures++;
	uint64_t delay = backoff_delay(ep);
	ep->state = EP_BACKOFF;
	uv_timer_start(&ep->timer, send_cb, delay, 0);
	if (wh->log) {
		char st[16], att[16], retry[24];
		snprintf(st, sizeof(st), "%ld", status);
		snprintf(att, sizeof(att), "%" PRIu32, ep->batch_attempts);
		snprintf(retry, sizeof(retry), "%" PRIu64, delay);
		if (error)
			ccp_log_report(&ep->rep_fail, (int64_t)uv_now(wh->loop), "endpoint", ep->url_log, "error", error,
				       "attempt", att, "retry_ms", retry, (char *)NULL);
		else
			ccp_log_report(&ep->rep_fail, (int64_t)uv_now(wh->loop), "endpoint", ep->url_log, "status", st,
				       "attempt", att, "retry_ms", retry, (char *)NULL);
	}
}

/* Builds (or reuses, for a retry) the batch's request and hands it to
 * curl. */
static void send_batch(struct endpoint *ep)
{
	struct ccp_webhook *wh = ep->wh;
	size_t idx = ep->idx;
	prune_aged(ep, uv_now(wh->loop));
	if (ep->nbatch == 0) {
		/* A fresh batch: the oldest alerts, up to max_batch. */
		ep->batch_attempts = 0;
		ep->body_valid = false;
		struct entry *e = ep->head;
		for (; e && ep->nbatch < wh->max_batch; e = e->next[idx]) {
			ep->batch_last = e;
			ep->nbatch++;
		}
	}
	if (ep->nbatch == 0) {
		ep->state = EP_IDLE;
		check_flushed(wh);
		return;
	}
	bool retry = ep->batch_attempts > 0;
	ep->batch_attempts++;
	ep->st.attempts++;
	if (retry)
		ep->st.retries++;
	if (!ep->body_valid && !build_body(ep)) {
		attempt_failed(ep, 0, "out of memory building the body");
		return;
	}
	ep->errbuf[0] = 0;
	/* The body may have moved (realloc): point curl at it again. */
	curl_easy_setopt(ep->easy, CURLOPT_POSTFIELDS, ep->body.p);
	curl_easy_setopt(ep->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ep->body.len);
	CURLMcode mc = curl_multi_add_handle(wh->multi, ep->easy);
	if (mc != CURLM_OK) {
		attempt_failed(ep, 0, curl_multi_strerror(mc));
		return;
	}
	ep->state = EP_INFLIGHT;
}

static void send_cb(uv_timer_t *t)
{
	struct endpoint *ep = t->data;
	if (!ep->wh->finishing)
		send_batch(ep);
}

/* The answer (or the failure) of the request in flight. */
static void attempt_done(struct endpoint *ep, CURLcode rc, long status)
{
	struct ccp_webhook *wh = ep->wh;
	if (status > 0)
		ep->st.last_status = (int)status;
	if (rc != CURLE_OK) {
		attempt_failed(ep, status, ep->errbuf[0] ? ep->errbuf : curl_easy_strerror(rc));
		return;
	}
	if (status < 200 || status > 299) {
		attempt_failed(ep, status, NULL);
		return;
	}
	if (ep->failures && wh->log) {
		char att[16];
		snprintf(att, sizeof(att), "%" PRIu32, ep->batch_attempts);
		ccp_log_kv(wh->log, CCP_LOG_INFO, "webhook delivered after failed attempts", "endpoint", ep->url_log,
			   "attempt", att, (char *)NULL);
	}
	ep->st.delivered += ep->nbatch;
	while (ep->nbatch)
		entry_unref(pop_head(ep));
	ep->failures = 0;
	ep->batch_attempts = 0;
	ep->state = EP_IDLE;
	if (ep->count)
		kick(ep);
	else
		check_flushed(wh);
}

/* Collects finished transfers. Called after every curl_multi_socket_action. */
static void drain_done(struct ccp_webhook *wh)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(wh->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		/* Copy out first: m dies with remove_handle. */
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		char *priv = NULL; /* our endpoint, set as CURLOPT_PRIVATE */
		long status = 0;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(wh->multi, easy);
		attempt_done((struct endpoint *)(void *)priv, rc, status);
	}
}

/* ---- curl on libuv ----------------------------------------------------------- */

static void sock_closed_cb(uv_handle_t *h);

static void sock_close(struct ccp_webhook *wh, struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		wh->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_close((uv_handle_t *)&s->poll, sock_closed_cb);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct sock *s = h->data;
	struct ccp_webhook *wh = s->wh;
	int flags = 0;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	int running;
	/* `s` may be closed inside (CURL_POLL_REMOVE); its memory stays
	 * until the close callback, and nothing reads it after. */
	curl_multi_socket_action(wh->multi, s->fd, flags, &running);
	drain_done(wh);
}

/* CURLMOPT_SOCKETFUNCTION: watch `fd` for what curl wants, or stop. */
static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ccp_webhook *wh = userp;
	struct sock *s = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(wh->multi, fd, NULL);
			sock_close(wh, s);
		}
		return 0;
	}
	if (!s) {
		if (wh->finishing)
			return -1;
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		if (uv_poll_init_socket(wh->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		s->fd = fd;
		s->wh = wh;
		s->next = wh->socks;
		if (s->next)
			s->next->prev = s;
		wh->socks = s;
		wh->handles_open++;
		curl_multi_assign(wh->multi, fd, s);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	return uv_poll_start(&s->poll, ev, poll_cb) == 0 ? 0 : -1;
}

static void curl_timeout_cb(uv_timer_t *t)
{
	struct ccp_webhook *wh = t->data;
	int running;
	curl_multi_socket_action(wh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain_done(wh);
}

/* CURLMOPT_TIMERFUNCTION: only arms our timer; curl must not be re-entered
 * from here. -1 means no timeout wanted. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct ccp_webhook *wh = userp;
	(void)multi;
	if (wh->finishing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&wh->curl_timer);
	else
		uv_timer_start(&wh->curl_timer, curl_timeout_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t discard_cb(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n; /* the answer's body means nothing to us */
}

/* ---- setup ------------------------------------------------------------------ */


/* The URL as logs may show it: no password, and "?***" for a query (tokens
 * ride there). NULL if libcurl cannot parse it or memory ran out; *why
 * says which. */
static char *url_for_log(const char *url, const char **why)
{
	CURLU *u = curl_url();
	char *out = NULL, *scheme = NULL, *host = NULL, *res = NULL;
	bool had_query = false;
	*why = "out of memory";
	if (!u)
		return NULL;
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		*why = curl_url_strerror(uc);
		goto done;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
		*why = "scheme must be http or https";
		goto done;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		*why = "no host";
		goto done;
	}
	char *q = NULL;
	if (curl_url_get(u, CURLUPART_QUERY, &q, 0) == CURLUE_OK) {
		had_query = true;
		curl_free(q);
	}
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(u, CURLUPART_QUERY, NULL, 0);
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		goto done;
	size_t n = strlen(out);
	res = malloc(n + 5);
	if (res) {
		memcpy(res, out, n);
		memcpy(res + n, had_query ? "?***" : "", had_query ? 5 : 1);
	}
done:
	curl_free(out);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return res;
}

/* A header line "Name: value": a token name, no CR/LF anywhere. Headers
 * the request itself must carry are refused. */
static const char *bad_header(const char *h)
{
	if (!h)
		return "NULL";
	if (strpbrk(h, "\r\n"))
		return "CR or LF in it";
	const char *colon = strchr(h, ':');
	if (!colon || colon == h)
		return "not \"Name: value\"";
	for (const char *p = h; p < colon; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("\"(),/;<=>?@[\\]{}", *p))
			return "bad character in the name";
	size_t n = (size_t)(colon - h);
	if ((n == 14 && !strncasecmp(h, "Content-Length", n)) || (n == 17 && !strncasecmp(h, "Transfer-Encoding", n)))
		return "set by the request itself";
	return NULL;
}

static int check_opts(const struct ccp_webhook_opts *o, char *err, size_t errlen)
{
	const struct {
		const char *name;
		int64_t v, lo, hi;
	} b[] = {
		{"n_endpoints", (int64_t)o->n_endpoints, 1, MAX_ENDPOINTS},
		{"timeout_ms", o->timeout_ms, 10, 600000},
		{"backoff_min_ms", o->backoff_min_ms, 1, 600000},
		{"backoff_max_ms", o->backoff_max_ms, o->backoff_min_ms, 3600000},
		{"max_queue", (int64_t)o->max_queue, 1, 10000000},
		{"max_batch", (int64_t)o->max_batch, 1, 10000},
		{"max_age_ms", o->max_age_ms, 1, INT64_C(30) * 24 * 3600 * 1000},
		{"log_interval_ms", o->log_interval_ms, 0, INT64_C(3600000)},
	};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		if (b[i].v < b[i].lo || b[i].v > b[i].hi)
			return ccp__fail(err, errlen, "webhook: %s=%" PRId64 ": must be %" PRId64 "..%" PRId64, b[i].name,
				    b[i].v, b[i].lo, b[i].hi);
	if (!o->endpoints)
		return ccp__fail(err, errlen, "webhook: endpoints is NULL");
	for (size_t i = 0; i < o->n_endpoints; i++) {
		const struct ccp_webhook_endpoint *e = &o->endpoints[i];
		if ((unsigned)e->format >= CCP_WEBHOOK__FORMAT_COUNT)
			return ccp__fail(err, errlen, "webhook: endpoint %zu: unknown format %d", i, (int)e->format);
		if (e->n_headers && !e->headers)
			return ccp__fail(err, errlen, "webhook: endpoint %zu: headers is NULL", i);
		for (size_t k = 0; k < e->n_headers; k++) {
			const char *why = bad_header(e->headers[k]);
			/* The line itself is never shown: it may be a secret. */
			if (why)
				return ccp__fail(err, errlen, "webhook: endpoint %zu: header %zu: %s", i, k, why);
		}
	}
	return 0;
}

static int endpoint_init(struct ccp_webhook *wh, struct endpoint *ep, size_t idx,
			 const struct ccp_webhook_endpoint *src, const char *proxy, char *err, size_t errlen)
{
	ep->wh = wh;
	ep->idx = idx;
	ep->format = src->format;
	const char *why;
	if (!src->url)
		return ccp__fail(err, errlen, "webhook: endpoint %zu: url is NULL", idx);
	ep->url_log = url_for_log(src->url, &why);
	if (!ep->url_log)
		/* The bad URL is not echoed: it may hold a password. */
		return ccp__fail(err, errlen, "webhook: endpoint %zu: url: %s", idx, why);
	bool own_type = true;
	for (size_t k = 0; k < src->n_headers; k++)
		if (!strncasecmp(src->headers[k], "Content-Type:", 13))
			own_type = false; /* the caller's replaces ours */
	const char *fixed[] = {"Content-Type: application/json", "Expect:"};
	for (size_t k = own_type ? 0 : 1; k < 2; k++) {
		struct curl_slist *l = curl_slist_append(ep->headers, fixed[k]);
		if (!l)
			return ccp__fail(err, errlen, "webhook: out of memory");
		ep->headers = l;
	}
	for (size_t k = 0; k < src->n_headers; k++) {
		struct curl_slist *l = curl_slist_append(ep->headers, src->headers[k]);
		if (!l)
			return ccp__fail(err, errlen, "webhook: out of memory");
		ep->headers = l;
	}
	ep->easy = curl_easy_init();
	if (!ep->easy)
		return ccp__fail(err, errlen, "webhook: curl_easy_init failed");
	CURL *c = ep->easy;
	bool bad = false;
	bad |= curl_easy_setopt(c, CURLOPT_URL, src->url) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)ep) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, ep->headers) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)wh->timeout_ms) != CURLE_OK;
	/* No signals: curl runs on a loop thread among others. */
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ep->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	if (proxy)
		bad |= curl_easy_setopt(c, CURLOPT_PROXY, proxy) != CURLE_OK;
	if (bad)
		return ccp__fail(err, errlen, "webhook: endpoint %zu (%s): curl_easy_setopt refused an option", idx,
			    ep->url_log);
	return 0;
}

static void endpoint_free_curl(struct endpoint *ep)
{
	if (ep->easy)
		curl_easy_cleanup(ep->easy);
	ep->easy = NULL;
	curl_slist_free_all(ep->headers);
	ep->headers = NULL;
}

/* Frees what ccp_webhook_new allocated before any uv handle existed. */
static void free_unstarted(struct ccp_webhook *wh)
{
	for (size_t i = 0; i < wh->n_ep; i++) {
		endpoint_free_curl(&wh->ep[i]);
		free(wh->ep[i].url_log);
	}
	if (wh->multi)
		curl_multi_cleanup(wh->multi);
	free(wh->ep);
	free(wh);
	curl_global_cleanup();
}

struct ccp_webhook *ccp_webhook_new(uv_loop_t *loop, const struct ccp_webhook_opts *o, char *err, size_t errlen)
{
	if (check_opts(o, err, errlen) != 0)
		return NULL;
	/* Counted by libcurl: the last free's cleanup balances it. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ccp__fail(err, errlen, "webhook: curl_global_init failed");
		return NULL;
	}
	struct ccp_webhook *wh = calloc(1, sizeof(*wh));
	if (!wh) {
		curl_global_cleanup();
		ccp__fail(err, errlen, "webhook: out of memory");
		return NULL;
	}
	wh->loop = loop;
	wh->timeout_ms = o->timeout_ms;
	wh->backoff_min_ms = o->backoff_min_ms;
	wh->backoff_max_ms = o->backoff_max_ms;
	wh->max_queue = o->max_queue;
	wh->max_batch = o->max_batch;
	wh->max_age_ms = o->max_age_ms;
	wh->log = o->log;
	wh->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)wh) | 1;
	wh->ep = calloc(o->n_endpoints, sizeof(*wh->ep));
	if (!wh->ep) {
		ccp__fail(err, errlen, "webhook: out of memory");
		free_unstarted(wh);
		return NULL;
	}
	wh->n_ep = o->n_endpoints;
	for (size_t i = 0; i < wh->n_ep; i++) {
		if (endpoint_init(wh, &wh->ep[i], i, &o->endpoints[i], o->proxy, err, errlen) != 0) {
			free_unstarted(wh);
			return NULL;
		}
	}
	wh->multi = curl_multi_init();
	bool bad = !wh->multi;
	if (!bad) {
		bad |= curl_multi_setopt(wh->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) != CURLM_OK;
		bad |= curl_multi_setopt(wh->multi, CURLMOPT_SOCKETDATA, wh) != CURLM_OK;
		bad |= curl_multi_setopt(wh->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK;
		bad |= curl_multi_setopt(wh->multi, CURLMOPT_TIMERDATA, wh) != CURLM_OK;
	}
	if (bad) {
		ccp__fail(err, errlen, "webhook: curl_multi_init/setopt failed");
		free_unstarted(wh);
		return NULL;
	}
	/* uv_timer_init cannot fail on a live loop: nothing to unwind after. */
	for (size_t i = 0; i < wh->n_ep; i++) {
		struct endpoint *ep = &wh->ep[i];
		uv_timer_init(loop, &ep->timer);
		ep->timer.data = ep;
		if (o->log) {
			ccp_log_reporter_init(&ep->rep_fail, o->log, CCP_LOG_WARN, "webhook attempt failed",
					      o->log_interval_ms);
			ccp_log_reporter_init(&ep->rep_full, o->log, CCP_LOG_WARN,
					      "webhook queue full, oldest alert dropped", o->log_interval_ms);
			ccp_log_reporter_init(&ep->rep_age, o->log, CCP_LOG_WARN,
					      "webhook alert dropped undelivered after max_age_ms", o->log_interval_ms);
		}
	}
	uv_timer_init(loop, &wh->curl_timer);
	uv_timer_init(loop, &wh->close_timer);
	wh->curl_timer.data = wh;
	wh->close_timer.data = wh;
	wh->handles_open = (int)wh->n_ep + 2;
	return wh;
}

/* ---- posting and stats ------------------------------------------------------ */

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, 0, cap) != NULL;
}

/* JSON's number grammar (RFC 8259 section 6): no NaN, no inf, no hex. */
static bool json_number(const char *s)
{
#define DIGIT(c) ((c) >= '0' && (c) <= '9')
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (DIGIT(*s))
			s++;
	else
		return false;
	if (*s == '.') {
		if (!DIGIT(s[1]))
			return false;
		for (s++; DIGIT(*s); s++)
			;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!DIGIT(*s))
			return false;
		while (DIGIT(*s))
			s++;
	}
	return *s == 0;
#undef DIGIT
}

static bool alert_valid(const struct ccp_webhook_alert *a)
{
	if (!terminated(a->rule, sizeof(a->rule)) || !terminated(a->kind, sizeof(a->kind)) ||
	    !terminated(a->window, sizeof(a->window)) || !terminated(a->queue, sizeof(a->queue)) ||
	    !terminated(a->promise, sizeof(a->promise)) || !terminated(a->value, sizeof(a->value)) ||
	    !terminated(a->threshold, sizeof(a->threshold)))
		return false;
	if (!a->rule[0] || !a->kind[0] || !a->queue[0])
		return false;
	if ((a->value[0] && !json_number(a->value)) || !json_number(a->threshold))
		return false;
	return a->ts_ms >= 0 && a->ts_ms <= MAX_EPOCH_MS && a->started_ms >= 0 && a->started_ms <= MAX_EPOCH_MS;
}

int ccp_webhook_post(struct ccp_webhook *wh, const struct ccp_webhook_alert *a)
{
	if (wh->closing)
		return -ESHUTDOWN;
	if (!a || !alert_valid(a))
		return -EINVAL;
	struct entry *e = malloc(sizeof(*e) + wh->n_ep * sizeof(e->next[0]));
	if (!e)
		return -ENOMEM;
	e->a = *a;
	if (!e->a.started_ms)
		e->a.started_ms = e->a.ts_ms;
	e->posted_ms = uv_now(wh->loop);
	e->refs = (uint32_t)wh->n_ep;
	for (size_t i = 0; i < wh->n_ep; i++) {
		struct endpoint *ep = &wh->ep[i];
		if (ep->count - ep->nbatch >= wh->max_queue)
			drop_oldest_waiting(ep);
		append(ep, e);
		ep->st.posted++;
		kick(ep);
	}
	return 0;
}

int ccp_webhook_stats(const struct ccp_webhook *wh, int endpoint, struct ccp_webhook_stats *out)
{
	if (endpoint >= 0) {
		if ((size_t)endpoint >= wh->n_ep)
			return -EINVAL;
		*out = wh->ep[endpoint].st;
		out->queued = wh->ep[endpoint].count;
		return 0;
	}
	if (endpoint != -1)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < wh->n_ep; i++) {
		const struct endpoint *ep = &wh->ep[i];
		out->posted += ep->st.posted;
		out->delivered += ep->st.delivered;
		out->attempts += ep->st.attempts;
		out->failed_attempts += ep->st.failed_attempts;
		out->retries += ep->st.retries;
		out->dropped_full += ep->st.dropped_full;
		out->dropped_age += ep->st.dropped_age;
		out->dropped_close += ep->st.dropped_close;
		out->queued += ep->count;
		if (ep->st.last_status > out->last_status)
			out->last_status = ep->st.last_status;
	}
	return 0;
}

/* ---- close ------------------------------------------------------------------ */

static void maybe_free(struct ccp_webhook *wh)
{
	if (!wh->finishing || wh->handles_open > 0)
		return;
	ccp_webhook_close_cb cb = wh->close_cb;
	void *ud = wh->close_ud;
	for (size_t i = 0; i < wh->n_ep; i++) {
		free(wh->ep[i].body.p);
		free(wh->ep[i].url_log);
	}
	free(wh->ep);
	free(wh);
	curl_global_cleanup();
	if (cb)
		cb(ud);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct ccp_webhook *wh = h->data;
	wh->handles_open--;
	maybe_free(wh);
}

static void sock_closed_cb(uv_handle_t *h)
{
	struct sock *s = h->data;
	struct ccp_webhook *wh = s->wh;
	free(s);
	wh->handles_open--;
	maybe_free(wh);
}

/* Aborts what is in flight, drops what is queued, releases curl, then
 * closes every uv handle; the last close callback frees the webhook. */
static void finish(struct ccp_webhook *wh)
{
	wh->finishing = true;
	/* Stop watching while curl's fds are still open; curl closes them
	 * below, possibly without telling us. */
	for (struct sock *s = wh->socks; s; s = s->next)
		uv_poll_stop(&s->poll);
	int64_t now = (int64_t)uv_now(wh->loop);
	for (size_t i = 0; i < wh->n_ep; i++) {
		struct endpoint *ep = &wh->ep[i];
		uv_timer_stop(&ep->timer);
		if (ep->state == EP_INFLIGHT)
			curl_multi_remove_handle(wh->multi, ep->easy);
		ep->state = EP_IDLE;
		size_t left = ep->count;
		while (ep->head)
			entry_unref(pop_head(ep));
		ep->st.dropped_close += left;
		if (wh->log) {
			ccp_log_reporter_flush(&ep->rep_fail, now, true);
			ccp_log_reporter_flush(&ep->rep_full, now, true);
			ccp_log_reporter_flush(&ep->rep_age, now, true);
			if (left) {
				char n[24];
				snprintf(n, sizeof(n), "%zu", left);
				ccp_log_kv(wh->log, CCP_LOG_WARN, "webhook closed with alerts undelivered", "endpoint",
					   ep->url_log, "dropped", n, (char *)NULL);
			}
		}
		endpoint_free_curl(ep);
	}
	curl_multi_cleanup(wh->multi);
	wh->multi = NULL;
	while (wh->socks)
		sock_close(wh, wh->socks);
	for (size_t i = 0; i < wh->n_ep; i++) {
		/* Its data was the endpoint; the close callback wants the webhook. */
		wh->ep[i].timer.data = wh;
		uv_close((uv_handle_t *)&wh->ep[i].timer, handle_closed_cb);
	}
	uv_close((uv_handle_t *)&wh->curl_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&wh->close_timer, handle_closed_cb);
}

static void finish_cb(uv_timer_t *t)
{
	struct ccp_webhook *wh = t->data;
	if (!wh->finishing)
		finish(wh);
}

int ccp_webhook_close(struct ccp_webhook *wh, int flush_timeout_ms, ccp_webhook_close_cb cb, void *ud)
{
	if (wh->closing)
		return -EALREADY;
	wh->closing = true;
	wh->close_cb = cb;
	wh->close_ud = ud;
	if (flush_timeout_ms <= 0 || !any_queued(wh)) {
		uv_timer_start(&wh->close_timer, finish_cb, 0, 0);
		return 0;
	}
	/* One more try at once for endpoints waiting out a backoff: a flush
	 * deadline is usually shorter than the backoff. */
	for (size_t i = 0; i < wh->n_ep; i++)
		if (wh->ep[i].state == EP_BACKOFF)
			uv_timer_start(&wh->ep[i].timer, send_cb, 0, 0);
	uv_timer_start(&wh->close_timer, finish_cb, (uint64_t)flush_timeout_ms, 0);
	return 0;
}
