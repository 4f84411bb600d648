/* ccp__fail: writes a formatted message into the caller's error buffer
 * (either may be NULL/0) and returns -EINVAL, for the parsers and option
 * checks that answer "what is wrong" in one line. Internal. */
#ifndef CCPULSE_FAIL_H
#define CCPULSE_FAIL_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int ccp__fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int ccp__fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

#endif
