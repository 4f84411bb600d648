/* Deadlines scaled by CCP_TEST_TIMEOUT_MULTIPLIER, condition waits, and
 * loop helpers. Waits poll a condition against a deadline; there is no
 * fixed sleep whose length a test relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "ccp_test.h"

/* How often the wait helpers re-check a condition. */
#define POLL_INTERVAL_MS 2

int ccp_test_ms(int ms)
{
	const char *s = getenv("CCP_TEST_TIMEOUT_MULTIPLIER");
	double m = 1.0;
	if (s && *s) {
		char *end;
		double v = strtod(s, &end);
		if (end != s && v >= 1.0 && v <= 100.0)
			m = v;
	}
	return (int)(ms * m);
}

long long ccp_test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ccp_test_wait_until(ccp_test_cond_cb cond, void *arg, int timeout_ms)
{
	long long deadline = ccp_test_now_ms() + ccp_test_ms(timeout_ms);
	for (;;) {
		if (cond(arg))
			return true;
		if (ccp_test_now_ms() >= deadline)
			return false;
		struct timespec ts = {0, POLL_INTERVAL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void wake_cb(uv_timer_t *t)
{
	(void)t; /* only makes UV_RUN_ONCE return */
}

static void wake_close_cb(uv_handle_t *h)
{
	*(int *)h->data = 1;
}

bool ccp_test_uv_run_until(uv_loop_t *loop, ccp_test_cond_cb cond, void *arg, int timeout_ms)
{
	uv_timer_t wake;
	int closed = 0;
	assert_int_equal(uv_timer_init(loop, &wake), 0);
	wake.data = &closed;
	assert_int_equal(uv_timer_start(&wake, wake_cb, POLL_INTERVAL_MS, POLL_INTERVAL_MS), 0);
	long long deadline = ccp_test_now_ms() + ccp_test_ms(timeout_ms);
	bool ok;
	for (;;) {
		if (cond(arg)) {
			ok = true;
			break;
		}
		if (ccp_test_now_ms() >= deadline) {
			ok = false;
			break;
		}
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&wake, wake_close_cb);
	while (!closed)
		uv_run(loop, UV_RUN_ONCE);
	return ok;
}

void ccp_test_uv_close_loop(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}
