/* ---- TSan: make librdkafka's threads and locks visible --------------------
 * Debian's librdkafka runs its threads and locks on C11 <threads.h>, and
 * glibc's thrd_create/mtx_lock/cnd_wait call pthread internally where
 * clang 14's TSan cannot intercept them: its threads would be unknown to
 * TSan (which then crashes in malloc) and its locks invisible (false
 * races). Under TSan a test executable linked with this file defines those
 * functions itself, over the intercepted pthread calls; the executable's
 * definitions take precedence for librdkafka's references (they are in the
 * executable's dynamic symbol table because librdkafka refers to them).
 * glibc's mtx_t and cnd_t have the layout of pthread_mutex_t and
 * pthread_cond_t.
 *
 * This file is not part of the ccp_testsupport archive: nothing in a test
 * refers to these symbols, so the linker would never pull the member in
 * (librdkafka's references are already satisfied by libc.so). It is
 * compiled once as an object library and linked into every test
 * executable (tests/CMakeLists.txt). Without TSan it defines nothing. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CCP_TSAN_SHIM 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(CCP_TSAN_SHIM)
#define CCP_TSAN_SHIM 1 /* gcc's spelling */
#endif

#ifdef CCP_TSAN_SHIM
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

struct shim_start {
	thrd_start_t fn;
	void *arg;
};

static void *shim_run(void *p)
{
	struct shim_start s = *(struct shim_start *)p;
	free(p);
	return (void *)(intptr_t)s.fn(s.arg);
}

static int shim_rc(int rc)
{
	return rc == 0 ? thrd_success : rc == ETIMEDOUT ? thrd_timedout : rc == ENOMEM ? thrd_nomem : thrd_error;
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	struct shim_start *s = malloc(sizeof(*s));
	if (!s)
		return thrd_nomem;
	s->fn = fn;
	s->arg = arg;
	int rc = pthread_create((pthread_t *)thr, NULL, shim_run, s);
	if (rc)
		free(s);
	return shim_rc(rc);
}

int thrd_join(thrd_t thr, int *res)
{
	void *r = NULL;
	int rc = pthread_join((pthread_t)thr, &r);
	if (!rc && res)
		*res = (int)(intptr_t)r;
	return shim_rc(rc);
}

int mtx_init(mtx_t *m, int type)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	if (type & mtx_recursive)
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
	pthread_mutexattr_destroy(&a);
	return shim_rc(rc);
}

int mtx_lock(mtx_t *m)
{
	return shim_rc(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_unlock(mtx_t *m)
{
	return shim_rc(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
	pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
	return shim_rc(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
	return shim_rc(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
	return shim_rc(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
	return shim_rc(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
	return shim_rc(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
	pthread_cond_destroy((pthread_cond_t *)c);
}

/* librdkafka (not instrumented) orders its refcounts and rwlock teardown
 * with atomics TSan cannot see, so races whose stacks run inside it are
 * reported between its own threads (seen: a header buffer freed after
 * its refcount dropped, e.g. a fetch buffer shared by messages that two
 * workers release; rwlock destroy after the last reader). The pattern
 * matches any frame of either stack, so a race in our code called from
 * inside librdkafka (a callback) would be hidden too; a run of it_pipeline
 * and it_source_kafka without it showed only librdkafka-internal reports. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:librdkafka.so.1\n";
}
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ccp_test_tsan_rdkafka_off;
#endif
