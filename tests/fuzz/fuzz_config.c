/* libFuzzer target: the config loader on arbitrary YAML. Each input is
 * loaded once with every allocation succeeding, then again with the Nth
 * allocation failing on purpose, for N = 0, 1, 2, ...: first through the
 * config module's own allocation hook (ccp_config_set_alloc), then through
 * malloc/calloc/realloc of our code (the build links this target with
 * --wrap for them: the zone loader and the engine probe allocate too).
 * Must never crash or leak (ASan's leak checker runs in fuzz builds). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

/* Failure injection state; this process runs one input at a time. */
static long wrap_fail_at = -1; /* libc allocation number that fails; -1: none */
static long wrap_allocs;

static int wrap_should_fail(void)
{
	return wrap_fail_at >= 0 && wrap_allocs++ == wrap_fail_at;
}

void *__wrap_malloc(size_t n)
{
	return wrap_should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return wrap_should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return wrap_should_fail() ? NULL : __real_realloc(p, n);
}

/* The config hook: fails call number `fail_at`, counts calls. */
struct failing {
	long fail_at, calls;
};

static void *hook_realloc(void *ud, void *p, size_t n)
{
	struct failing *f = ud;
	if (f->calls++ == f->fail_at)
		return NULL;
	return __real_realloc(p, n);
}

static void hook_free(void *ud, void *p)
{
	(void)ud;
	free(p);
}

/* One load; returns how many hook allocations it made. */
static long run_once(const uint8_t *data, size_t size, long hook_fail, long wrap_fail)
{
	static struct ccp_config cfg;
	char err[512];
	struct failing f = {hook_fail, 0};
	struct ccp_config_alloc a = {hook_realloc, hook_free, &f};
	ccp_config_defaults(&cfg);
	ccp_config_set_alloc(&cfg, &a);
	wrap_allocs = 0;
	wrap_fail_at = wrap_fail;
	if (!ccp_config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, err, sizeof(err)))
		ccp_config_finish(&cfg, err, sizeof(err));
	wrap_fail_at = -1;
	ccp_config_free(&cfg);
	return f.calls;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long hook_calls = run_once(data, size, -1, -1);
	for (long k = 0; k < hook_calls && k < 32; k++)
		run_once(data, size, k, -1);
	for (long k = 0; k < 8; k++)
		run_once(data, size, -1, k);
	return 0;
}
