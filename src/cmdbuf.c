/* Reusable Redis command buffer (see include/ccpulse/cmdbuf.h). */
#include "ccpulse/cmdbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ccp_cmdbuf_init(struct ccp_cmdbuf *cb)
{
	memset(cb, 0, sizeof(*cb));
}

void ccp_cmdbuf_deinit(struct ccp_cmdbuf *cb)
{
	free(cb->_bytes);
	free(cb->_arg_off);
	free(cb->_arg_len);
	free(cb->_cmd_first);
	free(cb->_argv);
	memset(cb, 0, sizeof(*cb));
}

void ccp_cmdbuf_reset(struct ccp_cmdbuf *cb)
{
	cb->_bytes_len = 0;
	cb->_args_len = 0;
	cb->_cmds_len = 0;
	cb->_oom = 0;
}

/* Grows `*p` (elements of `size`) to hold at least `need`; doubling keeps
 * appends amortized O(1). */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

void ccp_cmdbuf_begin(struct ccp_cmdbuf *cb)
{
	if (cb->_oom)
		return;
	if (grow((void **)&cb->_cmd_first, &cb->_cmds_cap, cb->_cmds_len + 1, sizeof(uint32_t))) {
		cb->_oom = 1;
		return;
	}
	cb->_cmd_first[cb->_cmds_len++] = (uint32_t)cb->_args_len;
}

/* Grows the two per-argument arrays together; they share _args_cap. */
static int grow_args(struct ccp_cmdbuf *cb)
{
	if (cb->_args_len < cb->_args_cap)
		return 0;
	size_t n = cb->_args_cap ? cb->_args_cap * 2 : 256;
	size_t *off = realloc(cb->_arg_off, n * sizeof(size_t));
	if (!off)
		return -ENOMEM;
	cb->_arg_off = off;
	size_t *len = realloc(cb->_arg_len, n * sizeof(size_t));
	if (!len)
		return -ENOMEM;
	cb->_arg_len = len;
	cb->_args_cap = n;
	return 0;
}

void ccp_cmdbuf_arg(struct ccp_cmdbuf *cb, const void *p, size_t len)
{
	if (cb->_oom)
		return;
	if (grow((void **)&cb->_bytes, &cb->_bytes_cap, cb->_bytes_len + len, 1) || grow_args(cb)) {
		cb->_oom = 1;
		return;
	}
	if (len)
		memcpy(cb->_bytes + cb->_bytes_len, p, len);
	cb->_arg_off[cb->_args_len] = cb->_bytes_len;
	cb->_arg_len[cb->_args_len] = len;
	cb->_args_len++;
	cb->_bytes_len += len;
}

void ccp_cmdbuf_arg_str(struct ccp_cmdbuf *cb, const char *s)
{
	ccp_cmdbuf_arg(cb, s, strlen(s));
}

void ccp_cmdbuf_arg_i64(struct ccp_cmdbuf *cb, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
	ccp_cmdbuf_arg(cb, buf, (size_t)n);
}

void ccp_cmdbuf_arg_fmt(struct ccp_cmdbuf *cb, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0) {
		cb->_oom = 1;
		return;
	}
	if ((size_t)n < sizeof(buf)) {
		ccp_cmdbuf_arg(cb, buf, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		cb->_oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ccp_cmdbuf_arg(cb, big, (size_t)n);
	free(big);
}

size_t ccp_cmdbuf_count(const struct ccp_cmdbuf *cb)
{
	return cb->_cmds_len;
}

int ccp_cmdbuf_argv(struct ccp_cmdbuf *cb, size_t i, const char ***argv, const size_t **argvlen)
{
	size_t first = cb->_cmd_first[i];
	size_t end = i + 1 < cb->_cmds_len ? cb->_cmd_first[i + 1] : cb->_args_len;
	size_t argc = end - first;
	if (grow((void **)&cb->_argv, &cb->_argv_cap, argc ? argc : 1, sizeof(char *)))
		return -ENOMEM;
	for (size_t a = 0; a < argc; a++)
		cb->_argv[a] = cb->_bytes + cb->_arg_off[first + a];
	*argv = cb->_argv;
	*argvlen = cb->_arg_len + first;
	return (int)argc;
}

size_t ccp_cmdbuf_bytes(const struct ccp_cmdbuf *cb)
{
	return cb->_bytes_len;
}

int ccp_cmdbuf_error(const struct ccp_cmdbuf *cb)
{
	return cb->_oom ? -ENOMEM : 0;
}
