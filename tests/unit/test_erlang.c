/* Unit tests: Erlang C against textbook values, against the direct
 * factorial-sum formula (computed here in long double, independent of the
 * recursion in erlang.c), at large agent counts, and at the edges. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ccpulse/erlang.h"

static void near(double got, double want, double tol, const char *what)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.6f, want %.6f +- %g", what, got, want, tol);
}

/* 100 calls/h, AHT 180 s: A = 5 erlangs. With 6 agents the usual tables
 * give P(wait) 58.75%, SL(20 s) 47.4%, ASA 105.8 s; with 7 agents 32.4%,
 * 74.0%, 29.2 s; with 8 agents 16.7%, 88.0%, 10.0 s. */
static void test_textbook_5_erlangs(void **state)
{
	(void)state;
	struct ccp_erlang e;
	assert_int_equal(ccp_erlang_predict(100, 180, 6, 20, &e), 0);
	near(e.traffic_erl, 5.0, 1e-12, "traffic");
	near(e.occupancy, 5.0 / 6.0, 1e-12, "occupancy");
	assert_true(e.stable);
	near(e.p_wait, 0.5875, 5e-4, "P(wait) 6 agents");
	near(e.sl, 0.4743, 5e-4, "SL 6 agents");
	near(e.asa_s, 105.75, 0.05, "ASA 6 agents");
	assert_int_equal(ccp_erlang_predict(100, 180, 7, 20, &e), 0);
	near(e.p_wait, 0.3241, 5e-4, "P(wait) 7 agents");
	near(e.sl, 0.7404, 5e-4, "SL 7 agents");
	near(e.asa_s, 29.17, 0.05, "ASA 7 agents");
	assert_int_equal(ccp_erlang_predict(100, 180, 8, 20, &e), 0);
	near(e.p_wait, 0.1673, 5e-4, "P(wait) 8 agents");
	near(e.sl, 0.8801, 5e-4, "SL 8 agents");
	near(e.asa_s, 10.04, 0.05, "ASA 8 agents");
}

/* The classic worked example: 100 calls per half hour (200/h), AHT 3 min,
 * 14 agents: 10 erlangs, P(wait) 17.4%, SL(20 s) 88.8%, ASA 7.8 s. */
static void test_textbook_10_erlangs(void **state)
{
	(void)state;
	struct ccp_erlang e;
	assert_int_equal(ccp_erlang_predict(200, 180, 14, 20, &e), 0);
	near(e.traffic_erl, 10.0, 1e-12, "traffic");
	near(e.p_wait, 0.1741, 5e-4, "P(wait)");
	near(e.sl, 0.8884, 5e-4, "SL");
	near(e.asa_s, 7.84, 0.01, "ASA");
}

/* C(c, A) = (A^c/c! * c/(c-A)) / (sum_{k<c} A^k/k! + A^c/c! * c/(c-A)). */
static long double direct_c(long double a, int c)
{
	long double term = 1, sum = 0;
	for (int k = 0; k < c; k++) {
		sum += term;
		term *= a / (k + 1);
	}
	long double top = term * c / (c - a);
	return top / (sum + top);
}

static void test_against_direct_formula(void **state)
{
	(void)state;
	for (int c = 1; c <= 120; c += 7) {
		for (double rho = 0.05; rho < 0.99; rho += 0.07) {
			double a = rho * c;
			double got = ccp_erlang_c(a, c);
			double want = (double)direct_c(a, c);
			if (!(fabs(got - want) <= 1e-9 * want + 1e-12))
				fail_msg("C(%d, %.3f): %.12g vs direct %.12g", c, a, got, want);
		}
	}
}

/* Big centers: the factorial form overflows a double past c = 170; the
 * recursion must stay finite and monotone in c. */
static void test_large_centers(void **state)
{
	(void)state;
	double prev = 1.0;
	for (int c = 901; c <= 1000; c++) {
		double p = ccp_erlang_c(900.0, c);
		assert_true(isfinite(p));
		assert_true(p > 0 && p < 1);
		assert_true(p < prev);
		prev = p;
	}
	struct ccp_erlang e;
	assert_int_equal(ccp_erlang_predict(18000, 180, 920, 20, &e), 0); /* 900 erlangs */
	assert_true(e.sl > 0 && e.sl < 1 && isfinite(e.asa_s));
}

static void test_edges(void **state)
{
	(void)state;
	struct ccp_erlang e;
	/* Overloaded: the queue grows without bound. */
	assert_int_equal(ccp_erlang_predict(120, 180, 6, 20, &e), 0); /* A = 6 = c */
	assert_false(e.stable);
	near(e.p_wait, 1.0, 0, "P(wait) overloaded");
	near(e.sl, 0.0, 0, "SL overloaded");
	assert_true(isinf(e.asa_s));
	assert_true(ccp_erlang_c(7.0, 6) == 1.0);
	/* No traffic: nobody waits. */
	assert_int_equal(ccp_erlang_predict(0, 180, 3, 20, &e), 0);
	near(e.p_wait, 0.0, 1e-15, "P(wait) idle");
	near(e.sl, 1.0, 1e-15, "SL idle");
	/* Threshold 0: SL is the share answered at once. */
	assert_int_equal(ccp_erlang_predict(100, 180, 6, 0, &e), 0);
	near(e.sl, 1.0 - e.p_wait, 1e-12, "SL at 0 s");
	/* Out of range. */
	assert_int_equal(ccp_erlang_predict(-1, 180, 6, 20, &e), -EINVAL);
	assert_int_equal(ccp_erlang_predict(100, 0, 6, 20, &e), -EINVAL);
	assert_int_equal(ccp_erlang_predict(100, 180, 0, 20, &e), -EINVAL);
	assert_int_equal(ccp_erlang_predict(100, 180, 6, -1, &e), -EINVAL);
	assert_int_equal(ccp_erlang_predict(NAN, 180, 6, 20, &e), -EINVAL);
	assert_true(isnan(ccp_erlang_c(-1, 3)));
	assert_true(isnan(ccp_erlang_c(1, 0)));
}

/* Staffing for 80/20 at 100 calls/h, 180 s: 7 agents give 74.0%, 8 give
 * 88.0%, so 8; for 90/20, 9 (94.8%). */
static void test_agents_for_sl(void **state)
{
	(void)state;
	assert_int_equal(ccp_erlang_agents_for_sl(100, 180, 20, 0.80, 100), 8);
	assert_int_equal(ccp_erlang_agents_for_sl(100, 180, 20, 0.90, 100), 9);
	assert_int_equal(ccp_erlang_agents_for_sl(100, 180, 20, 0.70, 100), 7);
	assert_int_equal(ccp_erlang_agents_for_sl(100, 180, 20, 0.80, 7), -1);
	assert_int_equal(ccp_erlang_agents_for_sl(100, 180, 20, 1.5, 100), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_textbook_5_erlangs),   cmocka_unit_test(test_textbook_10_erlangs),
		cmocka_unit_test(test_against_direct_formula), cmocka_unit_test(test_large_centers),
		cmocka_unit_test(test_edges),                cmocka_unit_test(test_agents_for_sl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
