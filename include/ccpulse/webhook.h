/* Webhook delivery of alert transitions: HTTP POSTs with JSON bodies
 * through libcurl's multi interface on a caller's libuv loop, queued per
 * endpoint, retried with backoff, bounded in count and in age.
 *
 * DESIGN
 * - One webhook object lives on one uv_loop and every function here is
 *   called on that loop's thread (@thread loop). Nothing blocks: curl's
 *   sockets are watched with uv_poll_t and its timeouts run on a
 *   uv_timer_t (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION, then
 *   curl_multi_socket_action). Host names go through curl's threaded
 *   resolver (Debian's libcurl has AsynchDNS); IP literals and
 *   "localhost" never reach a resolver.
 * - Each endpoint has its own FIFO and at most one request in flight, so
 *   alerts reach an endpoint in the order they were posted: a resolved
 *   never overtakes its firing. Endpoints are independent: one that is
 *   down holds back nothing of the others.
 * - Batching: ccp_webhook_post() only queues; the endpoint sends on the
 *   next loop turn, so the posts of one turn (or those that queued behind
 *   a request in flight or a backoff) go out together, up to max_batch
 *   alerts per POST, oldest first, in one body: GENERIC {"source":
 *   "ccpulse","alerts":[...]}, or one Alertmanager webhook payload whose
 *   "alerts" list holds them. max_batch 1 sends one alert per POST.
 * - A 2xx answer delivers the batch. Anything else (another status, a
 *   redirect included: set the final URL; a transport error; timeout_ms
 *   passing) is a failed attempt: the SAME batch (same body) goes again
 *   after a backoff of backoff_min_ms doubling per consecutive failure up
 *   to backoff_max_ms, each delay drawn from its upper quarter (d*3/4..d,
 *   never under backoff_min_ms) so several instances do not retry in
 *   step. Posts arriving meanwhile wait behind it. Delivery is at least
 *   once: a receiver that applied a request whose answer was lost sees it
 *   again; the Alertmanager fingerprint and ts let it deduplicate.
 * - Bounds, per endpoint: max_queue alerts may wait behind the batch in
 *   flight (which holds up to max_batch more); a post that finds the queue
 *   full drops the oldest waiting alert (dropped_full). An alert still
 *   undelivered max_age_ms after it was posted is dropped when its next
 *   attempt would be built (dropped_age). Age runs on the loop's
 *   monotonic clock from the post, never from ts_ms: a replay of old
 *   event time must not expire on arrival.
 * - Logs (when opts.log is set) go through rate-limited reporters, one
 *   per endpoint and kind: failed attempts (endpoint, HTTP status or curl
 *   error text, attempt number, next retry in ms), queue-full drops and
 *   age drops, each at most one line per log_interval_ms with the count
 *   since the previous line. The endpoint is written without the userinfo
 *   password and without the query string (tokens often ride there). The
 *   extra header lines (Authorization, API keys) are never logged.
 * - Close: no more posts; with a flush deadline, endpoints waiting out a
 *   backoff try once more at once and queues keep draining until they are
 *   empty or the deadline passes; then requests in flight are aborted,
 *   what is left is counted as dropped_close and freed, every uv handle
 *   is closed and the object is freed just before the close callback. The
 *   loop can then end with uv_loop_close() == 0.
 * - libcurl's global state: the first ccp_webhook_new() calls
 *   curl_global_init and the last free calls curl_global_cleanup (curl
 *   counts them); libcurl >= 7.84 makes that thread-safe ("threadsafe" in
 *   curl-config --features; Debian 12 ships 7.88).
 *
 * BODIES (every string is JSON-escaped; bytes that are not UTF-8 become
 * U+FFFD; value and threshold are the caller's number text, unquoted)
 *   GENERIC: {"source":"ccpulse","alerts":[{"rule":..,"kind":..,
 *     "window":.. ("" for live kinds),"queue":..,"promise":.. (only when
 *     set),"state":"firing"|"resolved","value":number|null,
 *     "threshold":number,"ts":epoch_ms,"started_at":epoch_ms}, ...]}
 *   ALERTMANAGER (its webhook payload, version "4"): {"version":"4",
 *     "groupKey":..,"truncatedAlerts":0,"status":"firing" if any alert of
 *     the batch fires else "resolved","receiver":"ccpulse",
 *     "groupLabels":{"alertname":rule} when the whole batch shares one
 *     rule, else {},"commonLabels":..,"commonAnnotations":.. (pairs equal
 *     in every alert of the batch),"externalURL":"","alerts":[{"status":..,
 *     "labels":{"alertname":rule,"kind":..,"promise":.. (if set),
 *     "queue":..,"severity":"warning","window":.. (if set)},
 *     "annotations":{"summary":"service level 0.62 below 0.80 on billing
 *     (15m)","threshold":..,"value":.. (if known)},"startsAt":RFC 3339
 *     UTC with ms of started_ms,"endsAt":ts for resolved, else
 *     "0001-01-01T00:00:00Z","generatorURL":"","fingerprint":..}]}.
 *     groupKey is "{}:{}" or "{}:{alertname=\"<rule>\"}" after
 *     groupLabels. fingerprint: 16 lower-case hex digits of FNV-1a 64
 *     over every label in name order as name, 0xff, value, 0xff; the
 *     firing and the resolved of one alert share it.
 * Requests carry Content-Type: application/json, User-Agent:
 * ccpulse/<version>, and no "Expect: 100-continue".
 */
#ifndef CCPULSE_WEBHOOK_H
#define CCPULSE_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct ccp_log;
struct ccp_webhook;

/* Sizes of the alert's strings, NUL included. */
#define CCP_WEBHOOK_RULE_MAX 64     /* = CCP_ALERT_NAME_MAX */
#define CCP_WEBHOOK_KIND_MAX 32     /* "complaints_open_above" is the longest */
#define CCP_WEBHOOK_WINDOW_MAX 16   /* = ccp_alert_rule.window */
#define CCP_WEBHOOK_ID_MAX 129      /* queue and promise ids: up to 128 bytes */
#define CCP_WEBHOOK_NUMBER_MAX 32   /* value and threshold text */

/* One alert transition, a plain value (copied by ccp_webhook_post).
 * Every string is NUL-terminated inside its array. */
struct ccp_webhook_alert {
	char rule[CCP_WEBHOOK_RULE_MAX];     /* rule name; required */
	char kind[CCP_WEBHOOK_KIND_MAX];     /* "service_level_below", ...; required */
	char window[CCP_WEBHOOK_WINDOW_MAX]; /* "15m"; empty for live kinds */
	char queue[CCP_WEBHOOK_ID_MAX];      /* required; any UTF-8 */
	char promise[CCP_WEBHOOK_ID_MAX];    /* a single-promise alert's id; else empty */
	bool firing;                         /* false: resolved */
	char value[CCP_WEBHOOK_NUMBER_MAX];  /* JSON number text; empty: unknown (null) */
	char threshold[CCP_WEBHOOK_NUMBER_MAX]; /* JSON number text; required */
	int64_t ts_ms;      /* epoch ms of the transition */
	int64_t started_ms; /* epoch ms the firing began; 0: ts_ms (a firing) */
};

enum ccp_webhook_format {
	CCP_WEBHOOK_GENERIC,      /* {"source":"ccpulse","alerts":[...]} */
	CCP_WEBHOOK_ALERTMANAGER, /* Prometheus Alertmanager webhook payload */
	CCP_WEBHOOK__FORMAT_COUNT
};

/* "generic", "alertmanager" (config text). Pure. */
const char *ccp_webhook_format_name(enum ccp_webhook_format f);
/* 0, or -EINVAL if `s` names no format. Pure. */
int ccp_webhook_format_parse(const char *s, enum ccp_webhook_format *out);

/* One receiver. Owner: the caller; copied (strings too) by
 * ccp_webhook_new(). */
struct ccp_webhook_endpoint {
	const char *url;                /* http:// or https://; userinfo allowed */
	enum ccp_webhook_format format;
	const char *const *headers;     /* extra "Name: value" lines, sent as they are
	                                 * and never logged ("Authorization: Bearer ..."); */
	size_t n_headers;               /* may be 0 */
};

/* Options. Owner: the caller; copied by ccp_webhook_new(). */
struct ccp_webhook_opts {
	const struct ccp_webhook_endpoint *endpoints;
	size_t n_endpoints;         /* 1..64 */
	int timeout_ms;             /* one whole attempt: connect, send, answer; 5000 */
	int backoff_min_ms;         /* first retry delay; 500 */
	int backoff_max_ms;         /* cap of the doubling; 30000 */
	size_t max_queue;           /* alerts waiting per endpoint; 10000 */
	size_t max_batch;           /* alerts per POST; 100 */
	int64_t max_age_ms;         /* from post to drop if undelivered; 24 h */
	const char *proxy;          /* NULL: libcurl's default (http_proxy and
	                             * friends from the environment); "": none;
	                             * else the proxy URL */
	int64_t log_interval_ms;    /* per reporter, at most one line this often; 10000 */
	const struct ccp_log *log;  /* NULL: no log lines */
};

/* Counters since ccp_webhook_new(), per endpoint or summed. Plain copy. */
struct ccp_webhook_stats {
	uint64_t posted;          /* alerts accepted by post */
	uint64_t delivered;       /* alerts in requests answered 2xx */
	uint64_t attempts;        /* requests sent, retries included */
	uint64_t failed_attempts; /* non-2xx answer, transport error or timeout */
	uint64_t retries;         /* attempts that resent a failed batch */
	uint64_t dropped_full;    /* oldest waiting alert dropped by a post to a full queue */
	uint64_t dropped_age;     /* undelivered after max_age_ms */
	uint64_t dropped_close;   /* still queued when the close ended */
	size_t queued;            /* now: waiting or in flight */
	int last_status;          /* HTTP status of the last answer; 0: none yet */
};

/* Defaults as listed in struct ccp_webhook_opts (no endpoints). */
void ccp_webhook_opts_defaults(struct ccp_webhook_opts *o);

/* Creates the webhook on `loop`: checks the options (every URL is parsed
 * by libcurl; header lines must hold a ':' and no CR/LF), copies them and
 * sets up curl. Sends nothing until a post. Returns NULL with a message
 * in `err` naming the bad option (endpoint URLs shown without password).
 * @thread loop */
struct ccp_webhook *ccp_webhook_new(struct uv_loop_s *loop, const struct ccp_webhook_opts *o, char *err,
				    size_t errlen);

/* Queues a copy of `a` on every endpoint; the caller's struct is free
 * again on return. Returns 0 (even when a full queue dropped its oldest:
 * that is counted and logged); -EINVAL (a string without its NUL, rule,
 * kind, queue or threshold empty, value or threshold not JSON number text,
 * a time before 1970 or after 9999); -ESHUTDOWN after close; -ENOMEM.
 * @thread loop */
int ccp_webhook_post(struct ccp_webhook *wh, const struct ccp_webhook_alert *a);

/* Copies the counters of endpoint `endpoint` (its index in opts), or
 * their sums if `endpoint` is -1 (last_status: the highest of them).
 * Returns 0, or -EINVAL for an index out of range. Valid until the close
 * callback has run. @thread loop */
int ccp_webhook_stats(const struct ccp_webhook *wh, int endpoint, struct ccp_webhook_stats *out);

/* After the webhook is freed (ccp_webhook_close). */
typedef void (*ccp_webhook_close_cb)(void *ud);

/* Closes the webhook as DESIGN says: posts return -ESHUTDOWN; with
 * `flush_timeout_ms` > 0 the queues keep draining up to that long (0:
 * abort now); then it closes its handles, frees itself and calls `cb(ud)`
 * (may be NULL). Keep running the loop: the close completes in handle
 * close callbacks. Returns 0, or -EALREADY if already closing.
 * @thread loop */
int ccp_webhook_close(struct ccp_webhook *wh, int flush_timeout_ms, ccp_webhook_close_cb cb, void *ud);

#endif
