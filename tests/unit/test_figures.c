/* Unit tests: output figures from sums (presence, ratios, rounding,
 * percentiles bounded by the exact max), formatting and the name tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/figures.h"
#include "ccpulse/hist.h"

static const char *fmt(const struct ccp_field *f)
{
	static char buf[64];
	assert_true(f->present);
	assert_true(ccp_field_format(f, buf, sizeof(buf)) > 0);
	return buf;
}

static void test_empty_window(void **state)
{
	(void)state;
	struct ccp_window_stats ws;
	memset(&ws, 0, sizeof(ws));
	ws.window_start_ms = 10;
	ws.window_end_ms = 20;
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 30, f);
	static const int absent[] = {
		CCP_WF_SERVICE_LEVEL, CCP_WF_ABANDON_RATE, CCP_WF_ASA_MS, CCP_WF_WAIT_P50_MS,
		CCP_WF_WAIT_P90_MS, CCP_WF_WAIT_P99_MS, CCP_WF_MAX_WAIT_MS, CCP_WF_AHT_MS,
		CCP_WF_FCR_RATE, CCP_WF_PROMISE_KEPT_RATE, CCP_WF_CSAT_AVG, CCP_WF_CSAT_SATISFIED_RATE,
		CCP_WF_RELIABILITY_AVG, CCP_WF_RESPONSIVENESS_AVG, CCP_WF_ASSURANCE_AVG,
		CCP_WF_EMPATHY_AVG, CCP_WF_TANGIBLES_AVG, CCP_WF_COMPLAINT_RESOLUTION_MS,
	};
	int n_present = 0;
	for (int i = 0; i < CCP_WF__COUNT; i++)
		n_present += f[i].present;
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		assert_false(f[absent[i]].present);
	/* Every count and the three times are present. */
	assert_int_equal(n_present, CCP_WF__COUNT - (int)(sizeof(absent) / sizeof(absent[0])));
	assert_string_equal(fmt(&f[CCP_WF_OFFERED]), "0");
	assert_string_equal(fmt(&f[CCP_WF_WINDOW_START]), "10");
	assert_string_equal(fmt(&f[CCP_WF_WINDOW_END]), "20");
	assert_string_equal(fmt(&f[CCP_WF_UPDATED_AT]), "30");
}

static void test_values_and_rounding(void **state)
{
	(void)state;
	struct ccp_hist *h = calloc(1, sizeof(*h));
	struct ccp_window_stats ws;
	memset(&ws, 0, sizeof(ws));
	struct ccp_sums *s = &ws.sums;
	s->offered = 10;
	s->answered = 6;
	s->abandoned = 2;
	s->abandoned_short = 1;
	s->answered_in_sl = 5;
	s->wait_n = 2;
	s->wait_sum_ms = 3; /* mean 1.5 -> 2 */
	ccp_hist_add_bin(h, ccp_hist_bin(1));
	ccp_hist_add_bin(h, ccp_hist_bin(2));
	ws.hist = h;
	ws.has_max_wait = true;
	ws.max_wait_ms = 2;
	s->aht_n = 2;
	s->aht_sum_ms = -3; /* mean -1.5 -> -2: halves away from zero */
	s->ended = 3;
	s->fcr = 1;
	s->promises_due = 3;
	s->promises_kept_on_time = 2;
	s->csat_n = 3;
	s->csat_sum = 10;
	s->csat_satisfied = 2;
	s->dim_n[2] = 1;
	s->dim_sum[2] = 4;
	s->complaint_res_n = 3;
	s->complaint_res_sum_ms = 10; /* 3.33 -> 3 */
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	assert_string_equal(fmt(&f[CCP_WF_SERVICE_LEVEL]), "0.625");
	assert_string_equal(fmt(&f[CCP_WF_ABANDON_RATE]), "0.25");
	assert_string_equal(fmt(&f[CCP_WF_ASA_MS]), "2");
	assert_string_equal(fmt(&f[CCP_WF_AHT_MS]), "-2");
	assert_string_equal(fmt(&f[CCP_WF_WAIT_P50_MS]), "1");
	assert_string_equal(fmt(&f[CCP_WF_WAIT_P99_MS]), "2");
	assert_string_equal(fmt(&f[CCP_WF_MAX_WAIT_MS]), "2");
	assert_string_equal(fmt(&f[CCP_WF_FCR_RATE]), "0.333333");
	assert_string_equal(fmt(&f[CCP_WF_PROMISE_KEPT_RATE]), "0.666667");
	assert_string_equal(fmt(&f[CCP_WF_CSAT_AVG]), "3.33333");
	assert_string_equal(fmt(&f[CCP_WF_CSAT_SATISFIED_RATE]), "0.666667");
	assert_string_equal(fmt(&f[CCP_WF_ASSURANCE_AVG]), "4");
	assert_false(f[CCP_WF_EMPATHY_AVG].present);
	assert_string_equal(fmt(&f[CCP_WF_COMPLAINT_RESOLUTION_MS]), "3");
	ccp_figures_window(&ws, CCP_SL_ANSWERED, 0, f);
	assert_string_equal(fmt(&f[CCP_WF_SERVICE_LEVEL]), "0.833333");
	ccp_figures_window(&ws, CCP_SL_OFFERED, 0, f);
	assert_string_equal(fmt(&f[CCP_WF_SERVICE_LEVEL]), "0.5");
	ccp_figures_window(&ws, CCP_SL_WITH_SHORT, 0, f);
	assert_string_equal(fmt(&f[CCP_WF_SERVICE_LEVEL]), "0.555556");
	/* A large wait: the bin midpoint is clipped by the exact maximum. */
	ccp_hist_clear(h);
	ccp_hist_add_bin(h, ccp_hist_bin(100001));
	ws.max_wait_ms = 100001;
	s->wait_n = 1;
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	assert_true(f[CCP_WF_WAIT_P50_MS].i <= 100001 && f[CCP_WF_WAIT_P50_MS].i >= 100001 - 1000);
	/* Sums add and subtract field by field. */
	struct ccp_sums t = *s;
	ccp_sums_add(&t, s);
	assert_int_equal(t.csat_sum, 20);
	assert_int_equal(t.aht_sum_ms, -6);
	ccp_sums_sub(&t, s);
	assert_memory_equal(&t, s, sizeof(t));
	free(h);
}

static void test_live(void **state)
{
	(void)state;
	struct ccp_live_stats ls;
	memset(&ls, 0, sizeof(ls));
	struct ccp_field f[CCP_LF__COUNT];
	ccp_figures_live(&ls, 1000, f);
	for (int i = 0; i < CCP_LF__COUNT; i++)
		assert_string_equal(fmt(&f[i]), "0");
	ls.waiting = 2;
	ls.has_oldest_wait = true;
	ls.oldest_wait_start_ms = 400;
	ls.agents[CCP_AGENT_WRAP_UP] = 3;
	ccp_figures_live(&ls, 1000, f);
	assert_string_equal(fmt(&f[CCP_LF_LONGEST_WAIT_MS]), "600");
	assert_string_equal(fmt(&f[CCP_LF_AGENTS_WRAP_UP]), "3");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ccp_wfield_names[CCP_WF_OFFERED], "offered");
	assert_string_equal(ccp_wfield_names[CCP_WF_WAIT_P99_MS], "wait_p99_ms");
	assert_string_equal(ccp_wfield_names[CCP_WF_PROMISES_KEPT_LATE], "promises_kept_late");
	assert_string_equal(ccp_wfield_names[CCP_WF_TANGIBLES_AVG], "tangibles_avg");
	assert_string_equal(ccp_wfield_names[CCP_WF_COMPLAINT_RESOLUTION_MS], "complaint_resolution_ms");
	assert_string_equal(ccp_wfield_names[CCP_WF_UPDATED_AT], "updated_at");
	assert_string_equal(ccp_lfield_names[CCP_LF_LONGEST_WAIT_MS], "longest_wait_ms");
	assert_string_equal(ccp_lfield_names[CCP_LF_COMPLAINTS_OPEN], "complaints_open");
	assert_string_equal(ccp_sl_variant_names[CCP_SL_WITH_SHORT], "with_short_abandons");
	for (int i = 0; i < CCP_WF__COUNT; i++)
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ccp_wfield_names[i], ccp_wfield_names[j]);
	char small[3];
	struct ccp_field big = {.present = true, .i = 123456};
	assert_int_equal(ccp_field_format(&big, small, sizeof(small)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_window),
		cmocka_unit_test(test_values_and_rounding),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
