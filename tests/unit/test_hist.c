/* Unit tests: log-linear histogram bins and nearest-rank percentiles
 * against a sorted array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/hist.h"

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_bins(void **state)
{
	(void)state;
	for (int64_t v = 0; v < 128; v++)
		assert_int_equal(ccp_hist_bin_value(ccp_hist_bin(v)), v);
	assert_int_equal(ccp_hist_bin(-5), 0);
	uint16_t last = 0;
	for (int64_t v = 1; v < ((int64_t)1 << 42); v = v * 3 / 2 + 1) {
		uint16_t b = ccp_hist_bin(v);
		assert_true(b >= last); /* monotonic */
		last = b;
		int64_t r = ccp_hist_bin_value(b);
		if (v < ((int64_t)1 << 41))
			assert_true(llabs(r - v) * 128 <= v + 128);
	}
	assert_int_equal(ccp_hist_bin(INT64_MAX), CCP_HIST_BINS - 1);
}

static void test_percentiles_match_sorted(void **state)
{
	(void)state;
	srand(7);
	struct ccp_hist *h = calloc(1, sizeof(*h));
	for (int round = 0; round < 20; round++) {
		int n = 1 + rand() % 3000;
		int64_t *v = malloc(sizeof(int64_t) * (size_t)n);
		ccp_hist_clear(h);
		for (int i = 0; i < n; i++) {
			v[i] = round % 2 ? rand() % 200000 : (int64_t)rand() * (rand() % 1000);
			ccp_hist_add_bin(h, ccp_hist_bin(v[i]));
		}
		qsort(v, (size_t)n, sizeof(int64_t), cmp);
		static const unsigned pct[] = {1, 50, 90, 99, 100};
		for (size_t p = 0; p < 5; p++) {
			int64_t want = v[(pct[p] * (uint64_t)n + 99) / 100 - 1];
			int64_t got = ccp_hist_percentile(h, pct[p]);
			if (llabs(got - want) > want / 100)
				fail_msg("n=%d p%u: got %lld want %lld", n, pct[p], (long long)got, (long long)want);
		}
		/* Subtracting what was added empties it. */
		for (int i = 0; i < n; i++)
			ccp_hist_sub_bin(h, ccp_hist_bin(v[i]));
		assert_int_equal(h->n, 0);
		assert_int_equal(ccp_hist_percentile(h, 50), 0);
		free(v);
	}
	struct ccp_hist *g = calloc(1, sizeof(*g));
	ccp_hist_add_bin(h, ccp_hist_bin(10));
	ccp_hist_add_bin(g, ccp_hist_bin(20));
	ccp_hist_merge(g, h);
	assert_int_equal(g->n, 2);
	assert_int_equal(ccp_hist_percentile(g, 50), 10);
	assert_int_equal(ccp_hist_percentile(g, 51), 20);
	free(g);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bins),
		cmocka_unit_test(test_percentiles_match_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
