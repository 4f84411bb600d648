/* Unit tests: alert rules fire once after `for`, resolve once past the
 * clear line, never repeat while the state holds, ignore thin volume, and
 * follow single overdue promises from their deadline until they leave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ccpulse/alerts.h"

static const char *const windows[] = {"5m", "15m", "today"};

/* What the callback heard. */
struct heard {
	int n;
	char what[32][96]; /* "rule queue[/promise] firing|resolved value" */
};

static void hear(void *ud, const struct ccp_alert_transition *t)
{
	struct heard *h = ud;
	assert_true(h->n < 32);
	snprintf(h->what[h->n++], sizeof(h->what[0]), "%s %.*s%s%.*s %s %g", t->rule->name, (int)t->queue.len,
		 t->queue.ptr, t->promise.len ? "/" : "", (int)t->promise.len, t->promise.ptr,
		 t->firing ? "firing" : "resolved", t->has_value ? t->value : -1.0);
}

static struct ccp_alert_rule rule(const char *name, enum ccp_alert_kind kind, const char *window, double thr,
				  double clear, uint64_t min_volume, int64_t for_ms)
{
	struct ccp_alert_rule r;
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.kind = kind;
	snprintf(r.window, sizeof(r.window), "%s", window);
	r.threshold = thr;
	r.clear = clear;
	r.min_volume = min_volume;
	r.for_ms = for_ms;
	return r;
}

/* Figures of one queue: 15m service level `sl` over `answered` answered
 * and no abandons, `waiting` waiting. */
struct figs {
	struct ccp_field wf[3][CCP_WF__COUNT];
	struct ccp_field lf[CCP_LF__COUNT];
};

static void set_sl(struct figs *f, double sl, int64_t answered)
{
	memset(f, 0, sizeof(*f));
	f->wf[1][CCP_WF_ANSWERED] = (struct ccp_field){true, false, answered, 0};
	if (answered)
		f->wf[1][CCP_WF_SERVICE_LEVEL] = (struct ccp_field){true, true, 0, sl};
}

static void eval(struct ccp_alerts *a, const char *q, const struct figs *f, int64_t now, struct heard *h)
{
	ccp_alerts_eval_queue(a, (struct ccp_str){q, strlen(q)}, f->wf, f->lf, now, hear, h);
}

static void test_fires_once_after_for_and_resolves_once(void **state)
{
	(void)state;
	struct ccp_alert_rule r = rule("sl", CCP_ALERT_SERVICE_LEVEL_BELOW, "15m", 0.8, 0.85, 10, 60000);
	char err[256];
	struct ccp_alerts *a = ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err));
	assert_non_null(a);
	struct heard h = {0};
	struct figs f;
	set_sl(&f, 0.7, 20);
	eval(a, "billing", &f, 1000, &h); /* pending */
	eval(a, "billing", &f, 30000, &h);
	assert_int_equal(h.n, 0);
	eval(a, "billing", &f, 61000, &h); /* 60 s after the breach began */
	assert_int_equal(h.n, 1);
	assert_string_equal(h.what[0], "sl billing firing 0.7");
	for (int t = 62000; t < 200000; t += 500)
		eval(a, "billing", &f, t, &h); /* still breaching: silent */
	assert_int_equal(h.n, 1);
	assert_int_equal(ccp_alerts_firing(a), 1);
	/* Between the lines (0.82): still firing, silent. Past 0.85: resolved once. */
	set_sl(&f, 0.82, 20);
	eval(a, "billing", &f, 201000, &h);
	assert_int_equal(h.n, 1);
	set_sl(&f, 0.9, 20);
	eval(a, "billing", &f, 202000, &h);
	eval(a, "billing", &f, 203000, &h);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.what[1], "sl billing resolved 0.9");
	assert_int_equal(ccp_alerts_firing(a), 0);
	ccp_alerts_free(a);
}

static void test_flapping_under_hysteresis_fires_once(void **state)
{
	(void)state;
	struct ccp_alert_rule r = rule("sl", CCP_ALERT_SERVICE_LEVEL_BELOW, "15m", 0.8, 0.9, 1, 0);
	char err[256];
	struct ccp_alerts *a = ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err));
	assert_non_null(a);
	struct heard h = {0};
	struct figs f;
	for (int i = 0; i < 40; i++) { /* 0.78, 0.83, 0.78, ...: crosses 0.8 each time, never 0.9 */
		set_sl(&f, i % 2 ? 0.83 : 0.78, 50);
		eval(a, "sales", &f, 1000 + i * 500, &h);
	}
	assert_int_equal(h.n, 1);
	assert_string_equal(h.what[0], "sl sales firing 0.78");
	ccp_alerts_free(a);
}

static void test_short_breach_and_thin_volume_say_nothing(void **state)
{
	(void)state;
	struct ccp_alert_rule r = rule("sl", CCP_ALERT_SERVICE_LEVEL_BELOW, "15m", 0.8, NAN, 10, 60000);
	char err[256];
	struct ccp_alerts *a = ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err));
	assert_non_null(a);
	struct heard h = {0};
	struct figs f;
	set_sl(&f, 0.5, 20);
	eval(a, "q", &f, 0, &h);
	set_sl(&f, 0.95, 20);
	eval(a, "q", &f, 30000, &h); /* ended before `for` */
	set_sl(&f, 0.5, 20);
	eval(a, "q", &f, 40000, &h); /* a new breach: `for` starts again */
	eval(a, "q", &f, 90000, &h);
	assert_int_equal(h.n, 0);
	set_sl(&f, 0.0, 2); /* two calls: not enough to judge */
	for (int t = 100000; t < 400000; t += 10000)
		eval(a, "q", &f, t, &h);
	assert_int_equal(h.n, 0);
	ccp_alerts_free(a);
}

static void test_live_counts_and_scope(void **state)
{
	(void)state;
	static const char *const only[] = {"vip"};
	struct ccp_alert_rule rs[2] = {rule("long", CCP_ALERT_LONGEST_WAIT_ABOVE, "", 120000, 60000, 0, 0),
				       rule("wait", CCP_ALERT_WAITING_ABOVE, "", 5, NAN, 0, 0)};
	rs[1].queues = only;
	rs[1].n_queues = 1;
	char err[256];
	struct ccp_alerts *a = ccp_alerts_new(rs, 2, windows, 3, err, sizeof(err));
	assert_non_null(a);
	struct heard h = {0};
	struct figs f;
	memset(&f, 0, sizeof(f));
	f.lf[CCP_LF_LONGEST_WAIT_MS] = (struct ccp_field){true, false, 150000, 0};
	f.lf[CCP_LF_WAITING] = (struct ccp_field){true, false, 9, 0};
	eval(a, "billing", &f, 1000, &h); /* long fires; wait is vip only */
	eval(a, "vip", &f, 1000, &h);     /* both fire */
	assert_int_equal(h.n, 3);
	assert_string_equal(h.what[0], "long billing firing 150000");
	assert_string_equal(h.what[1], "long vip firing 150000");
	assert_string_equal(h.what[2], "wait vip firing 9");
	f.lf[CCP_LF_LONGEST_WAIT_MS].i = 0; /* everyone answered */
	eval(a, "billing", &f, 2000, &h);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.what[3], "long billing resolved 0");
	ccp_alerts_free(a);
}

static void test_single_promises(void **state)
{
	(void)state;
	struct ccp_alert_rule r = rule("late", CCP_ALERT_PROMISE_OVERDUE, "", 0, NAN, 0, 60000);
	char err[256];
	struct ccp_alerts *a = ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err));
	assert_non_null(a);
	struct heard h = {0};
	struct ccp_str q = {"billing", 7}, p1 = {"p-1", 3}, p2 = {"p-2", 3};
	/* p-1 due at 100 s, p-2 at 110 s; `for` 60 s after the deadline. */
	for (int64_t now = 100000; now <= 200000; now += 10000) {
		ccp_alerts_promises_begin(a);
		ccp_alerts_promise(a, q, p1, 100000, now, hear, &h);
		if (now < 180000) /* kept at 180 s */
			ccp_alerts_promise(a, q, p2, 110000, now, hear, &h);
		ccp_alerts_promises_end(a, now, hear, &h);
	}
	assert_int_equal(h.n, 3);
	assert_string_equal(h.what[0], "late billing/p-1 firing 60000");
	assert_string_equal(h.what[1], "late billing/p-2 firing 60000");
	assert_string_equal(h.what[2], "late billing/p-2 resolved -1");
	assert_int_equal(ccp_alerts_firing(a), 1);
	ccp_alerts_free(a);
}

static void test_bad_rules_named(void **state)
{
	(void)state;
	char err[256];
	struct ccp_alert_rule r = rule("sl", CCP_ALERT_SERVICE_LEVEL_BELOW, "2h", 0.8, NAN, 0, 0);
	assert_null(ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err)));
	assert_non_null(strstr(err, "no window \"2h\""));
	r = rule("sl", CCP_ALERT_SERVICE_LEVEL_BELOW, "5m", 0.8, 0.7, 0, 0);
	assert_null(ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err)));
	assert_non_null(strstr(err, "breaching side"));
	r = rule("w", CCP_ALERT_WAITING_ABOVE, "", 5, NAN, 0, -1);
	assert_null(ccp_alerts_new(&r, 1, windows, 3, err, sizeof(err)));
	assert_non_null(strstr(err, "alert rule w"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fires_once_after_for_and_resolves_once),
		cmocka_unit_test(test_flapping_under_hysteresis_fires_once),
		cmocka_unit_test(test_short_breach_and_thin_volume_say_nothing),
		cmocka_unit_test(test_live_counts_and_scope),
		cmocka_unit_test(test_single_promises),
		cmocka_unit_test(test_bad_rules_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
