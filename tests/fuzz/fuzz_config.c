/* libFuzzer target: the config loader on arbitrary YAML, with the Nth
 * allocation of our own code failing on purpose (the build wraps malloc,
 * calloc and realloc for this target), so error paths are exercised too.
 * Must never crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ccpulse/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static long fail_at = -1; /* allocation number that fails; -1: none */
static long allocs;

static int should_fail(void)
{
	return fail_at >= 0 && allocs++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("ccp_config_fuzz", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	static struct ccp_config cfg;
	char err[512];
	/* Once with every allocation succeeding, then failing each of the
	 * first few in turn. */
	for (long k = -1; k < 8; k++) {
		fail_at = k;
		allocs = 0;
		ccp_config_defaults(&cfg);
		if (!ccp_config_load_file(&cfg, path, err, sizeof(err)))
			ccp_config_finish(&cfg, err, sizeof(err));
		ccp_config_release(&cfg);
		fail_at = -1;
	}
	close(fd);
	return 0;
}
