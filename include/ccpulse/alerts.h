/* Alert rules on the published figures: transitions only.
 *
 * DESIGN
 * - A rule watches one figure of each queue in its scope (one queue, a
 *   list, or all): a window field (service level, abandon rate, ASA,
 *   promise kept rate, CSAT) or a live field (longest wait, waiting,
 *   promises overdue, complaints open), or each overdue promise on its
 *   own. It breaches when the figure is past `threshold` (below or above,
 *   by kind) with at least `min_volume` behind it (answered + abandoned,
 *   answered, promises due, surveys: whatever the figure is a ratio or
 *   mean of), so two calls cannot page anyone.
 * - States per (rule, queue[, promise]): ok -> pending when it breaches;
 *   pending -> firing once it has breached for `for_ms` (a `firing`
 *   transition); firing -> ok when the figure is back past `clear` (the
 *   hysteresis threshold, default `threshold`) or nothing is left to judge
 *   (value absent or volume under the minimum: a queue gone quiet is not
 *   breaching) (a `resolved` transition). A pending breach that ends
 *   before `for_ms` says nothing. Nothing is said while the state holds.
 * - A single overdue promise fires `for_ms` after its deadline and is
 *   resolved when it leaves the overdue list (kept, cancelled, expired).
 * - Only pending and firing pairs are stored (a small open-addressing map),
 *   so thousands of quiet queues cost nothing. Evaluation allocates only
 *   when a pair starts pending (rare: it is an alert).
 *
 * Thread: a `struct ccp_alerts` belongs to one thread (the worker that owns
 * the partition whose queues it judges); no call is thread-safe.
 */
#ifndef CCPULSE_ALERTS_H
#define CCPULSE_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"
#include "ccpulse/figures.h"

enum ccp_alert_kind {
	CCP_ALERT_SERVICE_LEVEL_BELOW,
	CCP_ALERT_ABANDON_RATE_ABOVE,
	CCP_ALERT_LONGEST_WAIT_ABOVE,  /* ms */
	CCP_ALERT_WAITING_ABOVE,
	CCP_ALERT_ASA_ABOVE,           /* ms */
	CCP_ALERT_KEPT_RATE_BELOW,
	CCP_ALERT_OVERDUE_ABOVE,       /* promises overdue, a count */
	CCP_ALERT_PROMISE_OVERDUE,     /* each overdue promise on its own */
	CCP_ALERT_CSAT_BELOW,
	CCP_ALERT_COMPLAINTS_OPEN_ABOVE,
	CCP_ALERT__COUNT
};
/* Config names: "service_level_below", "abandon_rate_above", ... */
extern const char *const ccp_alert_kind_names[CCP_ALERT__COUNT];

/* What a kind's threshold and value are measured in. */
enum ccp_alert_unit {
	CCP_ALERT_UNIT_RATIO, /* 0..1 */
	CCP_ALERT_UNIT_MS,    /* a time */
	CCP_ALERT_UNIT_COUNT, /* a whole number */
	CCP_ALERT_UNIT_SCORE, /* a CSAT score, 1..5 */
};
enum ccp_alert_unit ccp_alert_kind_unit(enum ccp_alert_kind kind);
/* True when the kind judges a window field (the rule names a window). */
bool ccp_alert_kind_has_window(enum ccp_alert_kind kind);

#define CCP_ALERT_NAME_MAX 64

/* One rule. Owner: the caller (config); `queues` must outlive the
 * `struct ccp_alerts` built from it. */
struct ccp_alert_rule {
	char name[CCP_ALERT_NAME_MAX];
	enum ccp_alert_kind kind;
	char window[16];          /* window kinds: its name ("15m", "today", ...) */
	double threshold;
	double clear;             /* hysteresis; NAN: same as threshold */
	uint64_t min_volume;
	int64_t for_ms;
	const char *const *queues; /* scope; NULL or none: every queue */
	uint32_t n_queues;
};

/* A transition. Strings are borrowed for the callback only. */
struct ccp_alert_transition {
	const struct ccp_alert_rule *rule;
	struct ccp_str queue;
	struct ccp_str promise; /* PROMISE_OVERDUE only; else empty */
	bool firing;            /* false: resolved */
	bool has_value;         /* false when resolved for want of data */
	double value;           /* the figure (ms overdue for a promise) */
	int64_t ts_ms;
	int64_t started_ms;     /* when the pair went firing (== ts_ms on a firing) */
};
typedef void (*ccp_alert_cb)(void *ud, const struct ccp_alert_transition *t);

struct ccp_alerts;

/* Builds the evaluator for `rules` (copied, but see `queues`), whose
 * windows must be among `windows` (the engine's names, in its order).
 * NULL with a message naming the rule in `err`. @thread any */
struct ccp_alerts *ccp_alerts_new(const struct ccp_alert_rule *rules, uint32_t n_rules, const char *const *windows,
				  uint32_t n_windows, char *err, size_t errlen);
void ccp_alerts_free(struct ccp_alerts *a); /* NULL: no-op */

/* Judges one queue at `now_ms`: `wf[w]` are its fields for window w (the
 * order of `windows` above), `lf` its live fields. @thread owner */
void ccp_alerts_eval_queue(struct ccp_alerts *a, struct ccp_str queue, const struct ccp_field (*wf)[CCP_WF__COUNT],
			   const struct ccp_field lf[CCP_LF__COUNT], int64_t now_ms, ccp_alert_cb cb, void *ud);

/* Single overdue promises: begin, one call per promise overdue now (every
 * queue), end; end resolves those that were not reported again.
 * @thread owner */
void ccp_alerts_promises_begin(struct ccp_alerts *a);
void ccp_alerts_promise(struct ccp_alerts *a, struct ccp_str queue, struct ccp_str promise, int64_t due_ms,
			int64_t now_ms, ccp_alert_cb cb, void *ud);
void ccp_alerts_promises_end(struct ccp_alerts *a, int64_t now_ms, ccp_alert_cb cb, void *ud);

/* Puts a pair that was firing before a restart back in the firing state
 * (from the record of firing alerts in Redis), so it is not said again
 * while it holds and its `resolved` is said when it clears. A rule that is
 * no longer configured gives -ENOENT (the caller drops the record); a
 * promise on a rule of another kind, or the reverse, -EINVAL.
 * @thread owner */
int ccp_alerts_restore_firing(struct ccp_alerts *a, const char *rule_name, struct ccp_str queue,
			      struct ccp_str promise, int64_t fired_ms);

/* Pairs firing now (for status pages and checks). */
uint32_t ccp_alerts_firing(const struct ccp_alerts *a);

#endif
