/* Alert rules (see include/ccpulse/alerts.h for the design). */
#include "ccpulse/alerts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "idmap.h"

const char *const ccp_alert_kind_names[CCP_ALERT__COUNT] = {
	"service_level_below", "abandon_rate_above", "longest_wait_above", "waiting_above",
	"asa_above",           "kept_rate_below",    "overdue_above",      "promise_overdue",
	"csat_below",          "complaints_open_above",
};

/* A kind's figure: where it is read, which way is bad, its unit, and what
 * volume stands behind it (-1: a count, no volume). The one table that
 * says so: config and output ask it through the functions below. */
struct kind_info {
	bool window; /* wf[rule window] or lf */
	int field;
	bool below;  /* breaches when below the threshold */
	enum ccp_alert_unit unit;
	int vol_a, vol_b; /* window fields summed as the volume; -1: none */
};

#define R CCP_ALERT_UNIT_RATIO
#define T CCP_ALERT_UNIT_MS
#define N CCP_ALERT_UNIT_COUNT
static const struct kind_info kinds[CCP_ALERT__COUNT] = {
	[CCP_ALERT_SERVICE_LEVEL_BELOW] = {true, CCP_WF_SERVICE_LEVEL, true, R, CCP_WF_ANSWERED, CCP_WF_ABANDONED},
	[CCP_ALERT_ABANDON_RATE_ABOVE] = {true, CCP_WF_ABANDON_RATE, false, R, CCP_WF_ANSWERED, CCP_WF_ABANDONED},
	[CCP_ALERT_LONGEST_WAIT_ABOVE] = {false, CCP_LF_LONGEST_WAIT_MS, false, T, -1, -1},
	[CCP_ALERT_WAITING_ABOVE] = {false, CCP_LF_WAITING, false, N, -1, -1},
	[CCP_ALERT_ASA_ABOVE] = {true, CCP_WF_ASA_MS, false, T, CCP_WF_ANSWERED, -1},
	[CCP_ALERT_KEPT_RATE_BELOW] = {true, CCP_WF_PROMISE_KEPT_RATE, true, R, CCP_WF_PROMISES_DUE, -1},
	[CCP_ALERT_OVERDUE_ABOVE] = {false, CCP_LF_PROMISES_OVERDUE, false, N, -1, -1},
	[CCP_ALERT_PROMISE_OVERDUE] = {false, -1, false, T, -1, -1},
	[CCP_ALERT_CSAT_BELOW] = {true, CCP_WF_CSAT_AVG, true, CCP_ALERT_UNIT_SCORE, CCP_WF_CSAT_N, -1},
	[CCP_ALERT_COMPLAINTS_OPEN_ABOVE] = {false, CCP_LF_COMPLAINTS_OPEN, false, N, -1, -1},
};
#undef R
#undef T
#undef N

enum ccp_alert_unit ccp_alert_kind_unit(enum ccp_alert_kind kind)
{
	return kinds[kind].unit;
}

bool ccp_alert_kind_has_window(enum ccp_alert_kind kind)
{
	return kinds[kind].window;
}

enum { S_PENDING, S_FIRING };

/* A pair that is pending or firing. Owner: its ccp_alerts. */
struct pair {
	uint64_t key;
	uint32_t rule;
	uint32_t next_free;
	uint8_t state, live, seen; /* seen: reported in this promise round */
	int64_t since_ms;          /* breach start */
	int64_t fired_ms;          /* when it went firing */
	double value;
	char *queue, *promise;
	uint32_t queue_len, promise_len;
};

/* Rules and the pairs in flight. Owner: one thread (see the header). */
struct ccp_alerts {
	struct ccp_alert_rule *rules;
	uint32_t *rule_window; /* per rule: window index, or UINT32_MAX */
	uint32_t n_rules;
	struct pair *pairs;
	uint32_t n_pairs, cap_pairs, free_pair, firing;
	struct ccp_idmap map; /* pair key -> index */
};

#define NONE UINT32_MAX

struct ccp_alerts *ccp_alerts_new(const struct ccp_alert_rule *rules, uint32_t n_rules, const char *const *windows,
				  uint32_t n_windows, char *err, size_t errlen)
{
	struct ccp_alerts *a = calloc(1, sizeof(*a));
	if (!a || ccp__idmap_init(&a->map, 64)) {
		free(a);
		snprintf(err, errlen, "alerts: out of memory");
		return NULL;
	}
	a->free_pair = NONE;
	a->rules = calloc(n_rules ? n_rules : 1, sizeof(*a->rules));
	a->rule_window = calloc(n_rules ? n_rules : 1, sizeof(*a->rule_window));
	if (!a->rules || !a->rule_window) {
		ccp_alerts_free(a);
		snprintf(err, errlen, "alerts: out of memory");
		return NULL;
	}
	for (uint32_t i = 0; i < n_rules; i++) {
		const struct ccp_alert_rule *r = &rules[i];
		if ((unsigned)r->kind >= CCP_ALERT__COUNT || !r->name[0]) {
			snprintf(err, errlen, "alert rule %u: %s", i, !r->name[0] ? "no name" : "unknown kind");
			ccp_alerts_free(a);
			return NULL;
		}
		if (r->for_ms < 0 || r->threshold != r->threshold) {
			snprintf(err, errlen, "alert rule %s: %s", r->name, r->for_ms < 0 ? "negative `for`" : "no threshold");
			ccp_alerts_free(a);
			return NULL;
		}
		a->rules[i] = *r;
		if (isnan(r->clear))
			a->rules[i].clear = r->threshold;
		bool below = kinds[r->kind].below;
		if (below ? a->rules[i].clear < r->threshold : a->rules[i].clear > r->threshold) {
			snprintf(err, errlen, "alert rule %s: clear %g is on the breaching side of threshold %g", r->name,
				 a->rules[i].clear, r->threshold);
			ccp_alerts_free(a);
			return NULL;
		}
		a->rule_window[i] = NONE;
		if (kinds[r->kind].window) {
			for (uint32_t w = 0; w < n_windows; w++)
				if (!strcmp(windows[w], r->window))
					a->rule_window[i] = w;
			if (a->rule_window[i] == NONE) {
				snprintf(err, errlen, "alert rule %s: no window \"%s\"", r->name, r->window);
				ccp_alerts_free(a);
				return NULL;
			}
		}
	}
	a->n_rules = n_rules;
	return a;
}

static void pair_release(struct ccp_alerts *a, uint32_t i)
{
	struct pair *p = &a->pairs[i];
	ccp__idmap_del(&a->map, p->key);
	if (p->state == S_FIRING)
		a->firing--;
	free(p->queue);
	free(p->promise);
	memset(p, 0, sizeof(*p));
	p->next_free = a->free_pair;
	a->free_pair = i;
}

void ccp_alerts_free(struct ccp_alerts *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->n_pairs; i++)
		if (a->pairs[i].live) {
			free(a->pairs[i].queue);
			free(a->pairs[i].promise);
		}
	free(a->pairs);
	free(a->rules);
	free(a->rule_window);
	ccp__idmap_deinit(&a->map);
	free(a);
}

uint32_t ccp_alerts_firing(const struct ccp_alerts *a)
{
	return a->firing;
}

/* 64-bit identity of (rule, queue, promise); like event ids, collisions
 * are taken as impossible (see the README on dedup). Never 0. */
static uint64_t pair_key(uint32_t rule, struct ccp_str queue, struct ccp_str promise)
{
	uint64_t h = ccp__mix64(ccp__hash_bytes(queue.ptr, queue.len) ^ ((uint64_t)rule << 40));
	if (promise.len)
		h = ccp__mix64(h ^ ccp__hash_bytes(promise.ptr, promise.len));
	return h ? h : 1;
}

static char *dup_bytes(struct ccp_str s)
{
	char *p = malloc(s.len + 1);
	if (p) {
		memcpy(p, s.ptr, s.len);
		p[s.len] = 0;
	}
	return p;
}

/* The pair's index, or NONE; with `create`, a new pending pair (NONE if
 * out of memory: the breach is judged again next time). */
static uint32_t pair_get(struct ccp_alerts *a, uint32_t rule, struct ccp_str queue, struct ccp_str promise,
			 bool create)
{
	uint64_t key = pair_key(rule, queue, promise);
	uint32_t *v = ccp__idmap_find(&a->map, key);
	if (v || !create)
		return v ? *v : NONE;
	uint32_t i = a->free_pair;
	if (i != NONE) {
		a->free_pair = a->pairs[i].next_free;
	} else {
		if (a->n_pairs == a->cap_pairs) {
			uint32_t cap = a->cap_pairs ? a->cap_pairs * 2 : 16;
			struct pair *np = realloc(a->pairs, cap * sizeof(*np));
			if (!np)
				return NONE;
			a->pairs = np;
			a->cap_pairs = cap;
		}
		i = a->n_pairs++;
	}
	struct pair *p = &a->pairs[i];
	memset(p, 0, sizeof(*p));
	p->key = key;
	p->rule = rule;
	p->live = 1;
	p->state = S_PENDING;
	p->queue = dup_bytes(queue);
	p->queue_len = (uint32_t)queue.len;
	p->promise = promise.len ? dup_bytes(promise) : NULL;
	p->promise_len = (uint32_t)promise.len;
	if (!p->queue || (promise.len && !p->promise) || ccp__idmap_put(&a->map, key, i)) {
		free(p->queue);
		free(p->promise);
		p->live = 0;
		p->next_free = a->free_pair;
		a->free_pair = i;
		return NONE;
	}
	return i;
}

static void say(const struct ccp_alerts *a, const struct pair *p, bool firing, bool has_value, double value,
		int64_t now_ms, ccp_alert_cb cb, void *ud)
{
	struct ccp_alert_transition t = {.rule = &a->rules[p->rule],
					 .queue = {p->queue, p->queue_len},
					 .promise = {p->promise ? p->promise : "", p->promise_len},
					 .firing = firing,
					 .has_value = has_value,
					 .value = value,
					 .ts_ms = now_ms,
					 .started_ms = p->fired_ms};
	cb(ud, &t);
}

/* One pair's step: `breach` now, or `clear` (back past the clear line, or
 * nothing to judge). */
static void step(struct ccp_alerts *a, uint32_t rule, struct ccp_str queue, struct ccp_str promise, bool breach,
		 bool clear, bool has_value, double value, int64_t since_ms, int64_t now_ms, ccp_alert_cb cb, void *ud)
{
	uint32_t i = pair_get(a, rule, queue, promise, breach);
	if (i == NONE)
		return;
	struct pair *p = &a->pairs[i];
	if (p->live && breach && p->since_ms == 0 && p->state == S_PENDING)
		p->since_ms = since_ms ? since_ms : now_ms;
	p->value = value;
	p->seen = 1;
	if (p->state == S_PENDING) {
		if (!breach) {
			pair_release(a, i); /* ended before `for`: nothing said */
			return;
		}
		if (now_ms - p->since_ms >= a->rules[rule].for_ms) {
			p->state = S_FIRING;
			p->fired_ms = now_ms;
			a->firing++;
			say(a, p, true, has_value, value, now_ms, cb, ud);
		}
		return;
	}
	/* Firing: hysteresis. Between the two lines it stays firing. */
	if (clear) {
		say(a, p, false, has_value, value, now_ms, cb, ud);
		pair_release(a, i);
	}
}

static struct ccp_str str0(const char *s)
{
	return (struct ccp_str){s, strlen(s)};
}

static bool in_scope(const struct ccp_alert_rule *r, struct ccp_str queue)
{
	if (!r->queues || !r->n_queues)
		return true;
	for (uint32_t i = 0; i < r->n_queues; i++)
		if (strlen(r->queues[i]) == queue.len && !memcmp(r->queues[i], queue.ptr, queue.len))
			return true;
	return false;
}

static double field_value(const struct ccp_field *f)
{
	return f->is_ratio ? f->d : (double)f->i;
}

void ccp_alerts_eval_queue(struct ccp_alerts *a, struct ccp_str queue, const struct ccp_field (*wf)[CCP_WF__COUNT],
			   const struct ccp_field lf[CCP_LF__COUNT], int64_t now_ms, ccp_alert_cb cb, void *ud)
{
	for (uint32_t r = 0; r < a->n_rules; r++) {
		const struct ccp_alert_rule *rule = &a->rules[r];
		const struct kind_info *k = &kinds[rule->kind];
		if (rule->kind == CCP_ALERT_PROMISE_OVERDUE || !in_scope(rule, queue))
			continue;
		const struct ccp_field *fs = k->window ? wf[a->rule_window[r]] : lf;
		const struct ccp_field *f = &fs[k->field];
		uint64_t volume = UINT64_MAX;
		if (k->vol_a >= 0)
			volume = (uint64_t)fs[k->vol_a].i + (k->vol_b >= 0 ? (uint64_t)fs[k->vol_b].i : 0);
		bool judged = f->present && volume >= rule->min_volume;
		double v = f->present ? field_value(f) : 0;
		bool breach = judged && (k->below ? v < rule->threshold : v > rule->threshold);
		bool clear = !judged || (k->below ? v >= rule->clear : v <= rule->clear);
		step(a, r, queue, str0(""), breach, clear, f->present, v, 0, now_ms, cb, ud);
	}
}

void ccp_alerts_promises_begin(struct ccp_alerts *a)
{
	for (uint32_t i = 0; i < a->n_pairs; i++)
		a->pairs[i].seen = 0;
}

void ccp_alerts_promise(struct ccp_alerts *a, struct ccp_str queue, struct ccp_str promise, int64_t due_ms,
			int64_t now_ms, ccp_alert_cb cb, void *ud)
{
	if (due_ms > now_ms || !promise.len)
		return;
	for (uint32_t r = 0; r < a->n_rules; r++) {
		const struct ccp_alert_rule *rule = &a->rules[r];
		if (rule->kind != CCP_ALERT_PROMISE_OVERDUE || !in_scope(rule, queue))
			continue;
		/* Pending from the deadline itself, so `for` counts from it. */
		step(a, r, queue, promise, true, false, true, (double)(now_ms - due_ms), due_ms, now_ms, cb, ud);
	}
}

void ccp_alerts_promises_end(struct ccp_alerts *a, int64_t now_ms, ccp_alert_cb cb, void *ud)
{
	for (uint32_t i = 0; i < a->n_pairs; i++) {
		struct pair *p = &a->pairs[i];
		if (!p->live || p->seen || a->rules[p->rule].kind != CCP_ALERT_PROMISE_OVERDUE)
			continue;
		/* Gone from the overdue list: kept, cancelled or expired. */
		if (p->state == S_FIRING)
			say(a, p, false, false, 0, now_ms, cb, ud);
		pair_release(a, i);
	}
}

int ccp_alerts_restore_firing(struct ccp_alerts *a, const char *rule_name, struct ccp_str queue,
			      struct ccp_str promise, int64_t fired_ms)
{
	uint32_t r = 0;
	while (r < a->n_rules && strcmp(a->rules[r].name, rule_name))
		r++;
	if (r == a->n_rules)
		return -ENOENT;
	if ((a->rules[r].kind == CCP_ALERT_PROMISE_OVERDUE) != (promise.len > 0) || !queue.len)
		return -EINVAL;
	uint32_t i = pair_get(a, r, queue, promise, true);
	if (i == NONE)
		return -ENOMEM;
	struct pair *p = &a->pairs[i];
	if (p->state != S_FIRING) {
		p->state = S_FIRING;
		a->firing++;
	}
	p->since_ms = p->fired_ms = fired_ms;
	p->seen = 1;
	return 0;
}
