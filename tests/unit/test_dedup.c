/* Unit tests: the dedup horizon (exact expiry by acceptance clock), the
 * capacity bound (oldest first), and the set under heavy churn against a
 * plain model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dedup.h"
#include "hash.h"

static void test_horizon(void **state)
{
	(void)state;
	struct ccp_dedup d;
	assert_int_equal(ccp__dedup_init(&d, 1000, 100), 0);
	assert_false(ccp__dedup_check_add(&d, 11, 0));
	assert_false(ccp__dedup_check_add(&d, 22, 500));
	assert_true(ccp__dedup_check_add(&d, 11, 500));
	ccp__dedup_expire(&d, 1000); /* 1000 - 0 is not > 1000: held */
	assert_true(ccp__dedup_check_add(&d, 11, 1000));
	ccp__dedup_expire(&d, 1001);
	assert_int_equal(ccp__dedup_count(&d), 1);
	assert_false(ccp__dedup_check_add(&d, 11, 1001)); /* forgotten: new again */
	assert_true(ccp__dedup_check_add(&d, 22, 1001));
	ccp__dedup_expire(&d, 1501);
	assert_false(ccp__dedup_check_add(&d, 22, 1501));
	/* Key 0 is stored as 1 (0 marks empty slots): a documented collision. */
	assert_false(ccp__dedup_check_add(&d, 0, 1501));
	assert_true(ccp__dedup_check_add(&d, 1, 1501));
	ccp__dedup_deinit(&d);
}

static void test_capacity_oldest_first(void **state)
{
	(void)state;
	struct ccp_dedup d;
	assert_int_equal(ccp__dedup_init(&d, 1000000, 3), 0);
	for (uint64_t k = 1; k <= 3; k++)
		assert_false(ccp__dedup_check_add(&d, ccp__mix64(k), 0));
	assert_false(ccp__dedup_check_add(&d, ccp__mix64(4), 0)); /* drops 1 */
	assert_int_equal(ccp__dedup_count(&d), 3);
	assert_true(ccp__dedup_check_add(&d, ccp__mix64(2), 0));
	assert_true(ccp__dedup_check_add(&d, ccp__mix64(4), 0));
	assert_false(ccp__dedup_check_add(&d, ccp__mix64(1), 0)); /* drops 2 */
	assert_false(ccp__dedup_check_add(&d, ccp__mix64(2), 0)); /* drops 3 */
	assert_true(ccp__dedup_check_add(&d, ccp__mix64(4), 0));
	ccp__dedup_deinit(&d);
}

/* Many ids with clustered low bits, expiring and capped, against a model
 * that remembers every acceptance time. */
static void test_churn_matches_model(void **state)
{
	(void)state;
	enum { IDS = 5000, STEPS = 400000, CAP = 1500 };
	struct ccp_dedup d;
	assert_int_equal(ccp__dedup_init(&d, 3000, CAP), 0);
	int64_t *at = malloc(sizeof(int64_t) * IDS); /* INT64_MIN = not held */
	uint64_t *order = malloc(sizeof(uint64_t) * STEPS);
	size_t head = 0, tail = 0;
	for (int i = 0; i < IDS; i++)
		at[i] = INT64_MIN;
	srand(3);
	int64_t now = 0;
	for (int s = 0; s < STEPS; s++) {
		now += rand() % 3;
		ccp__dedup_expire(&d, now);
		while (head < tail && now - at[order[head]] > 3000) {
			at[order[head]] = INT64_MIN;
			head++;
		}
		int id = rand() % IDS;
		/* Clustered keys: many share their low 12 bits. */
		uint64_t key = ((uint64_t)(id + 1) << 12) | (uint64_t)(id % 7);
		bool want = at[id] != INT64_MIN;
		assert_int_equal(ccp__dedup_check_add(&d, key, now), want);
		if (!want) {
			if (tail - head == CAP) {
				at[order[head]] = INT64_MIN;
				head++;
			}
			at[id] = now;
			order[tail++] = (uint64_t)id;
		}
		assert_int_equal(ccp__dedup_count(&d), tail - head);
	}
	ccp__dedup_deinit(&d);
	free(at);
	free(order);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_horizon),
		cmocka_unit_test(test_capacity_oldest_first),
		cmocka_unit_test(test_churn_matches_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
