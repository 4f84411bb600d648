/* A reusable buffer of Redis commands in argv form.
 *
 * A publish cycle renders hundreds of commands; they are appended here into
 * one flat byte area plus an index, so a cycle costs a few amortized
 * reallocations instead of one allocation per argument, and reset() keeps
 * the capacity for the next cycle.
 */
#ifndef CCPULSE_CMDBUF_H
#define CCPULSE_CMDBUF_H

#include <stddef.h>
#include <stdint.h>

/* Owner: one thread at a time (a worker renders, then hands the whole
 * buffer to the loop thread through a ring; the receiver owns it after).
 * `_`-fields are private. */
struct ccp_cmdbuf {
	char *_bytes;           /* all arguments, back to back */
	size_t _bytes_len, _bytes_cap;
	size_t *_arg_off;       /* per argument: offset in _bytes */
	size_t *_arg_len;       /* per argument: length */
	size_t _args_len, _args_cap;
	uint32_t *_cmd_first;   /* per command: index of its first argument */
	size_t _cmds_len, _cmds_cap;
	const char **_argv;     /* scratch for ccp_cmdbuf_argv() */
	size_t _argv_cap;
	int _oom;               /* sticky: an append failed */
};

void ccp_cmdbuf_init(struct ccp_cmdbuf *cb);
void ccp_cmdbuf_deinit(struct ccp_cmdbuf *cb);
/* Empties the buffer, keeping its memory. */
void ccp_cmdbuf_reset(struct ccp_cmdbuf *cb);

/* Starts a command; every following arg() belongs to it until the next
 * begin(). */
void ccp_cmdbuf_begin(struct ccp_cmdbuf *cb);
void ccp_cmdbuf_arg(struct ccp_cmdbuf *cb, const void *p, size_t len);
void ccp_cmdbuf_arg_str(struct ccp_cmdbuf *cb, const char *s);
void ccp_cmdbuf_arg_i64(struct ccp_cmdbuf *cb, int64_t v);
/* printf-style argument. */
void ccp_cmdbuf_arg_fmt(struct ccp_cmdbuf *cb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Number of commands. */
size_t ccp_cmdbuf_count(const struct ccp_cmdbuf *cb);
/* The i-th command's arguments; pointers valid until the next append or
 * reset. Returns argc. */
int ccp_cmdbuf_argv(struct ccp_cmdbuf *cb, size_t i, const char ***argv, const size_t **argvlen);
/* Total bytes of argument data (for backlog accounting). */
size_t ccp_cmdbuf_bytes(const struct ccp_cmdbuf *cb);
/* 0, or -ENOMEM if any append failed since the last reset. */
int ccp_cmdbuf_error(const struct ccp_cmdbuf *cb);

#endif
