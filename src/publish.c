/* Renders a partition's per-queue figures as Redis commands. */
#include "ccpulse/publish.h"

#include <string.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/engine.h"

/* Key names are built in a fixed buffer: prefix and window names are
 * bounded by config, queue ids by the contract (128 bytes). */
#define KEY_MAX 512

static void hset_pair(void *ud, const char *name, const char *value, size_t len)
{
	ccp_cmdbuf_arg_str(ud, name);
	ccp_cmdbuf_arg(ud, value, len);
}

static void hash_fields(struct ccp_cmdbuf *cb, const char *key, size_t keylen,
			const struct ccp_field *f, const char *const *names, size_t n)
{
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "DEL");
	ccp_cmdbuf_arg(cb, key, keylen);
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "HSET");
	ccp_cmdbuf_arg(cb, key, keylen);
	ccp_fields_emit(f, names, n, hset_pair, cb);
}

void ccp_publish_window_hash(struct ccp_cmdbuf *cb, const char *key, size_t keylen,
			     const struct ccp_field f[CCP_WF__COUNT])
{
	hash_fields(cb, key, keylen, f, ccp_wfield_names, CCP_WF__COUNT);
}

void ccp_publish_live_hash(struct ccp_cmdbuf *cb, const char *key, size_t keylen,
			   const struct ccp_field f[CCP_LF__COUNT])
{
	hash_fields(cb, key, keylen, f, ccp_lfield_names, CCP_LF__COUNT);
}

/* Builds "{prefix}:q:{queue}:{suffix}" with memcpy, since a queue id may
 * hold any byte, NUL included. Returns the length. */
static size_t queue_key(char *key, const char *prefix, struct ccp_str queue, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), n = 0;
	if (pl + queue.len + sl + 4 > KEY_MAX)
		return 0; /* cannot happen: config and contract bound all three */
	memcpy(key, prefix, pl);
	n += pl;
	memcpy(key + n, ":q:", 3);
	n += 3;
	memcpy(key + n, queue.ptr, queue.len);
	n += queue.len;
	key[n++] = ':';
	memcpy(key + n, suffix, sl);
	return n + sl;
}

size_t ccp_publish_queues(struct ccp_cmdbuf *cb, const struct ccp_engine *e,
			  const struct ccp_publish_opts *o)
{
	uint32_t nq = ccp_engine_queue_count(e);
	uint32_t nw = ccp_engine_window_count(e);
	int64_t now = ccp_engine_now(e);
	char key[KEY_MAX];
	for (uint32_t q = 0; q < nq; q++) {
		struct ccp_str name = ccp_engine_queue_name(e, q);
		for (uint32_t w = 0; w < nw; w++) {
			struct ccp_window_stats ws;
			struct ccp_field f[CCP_WF__COUNT];
			ccp_engine_window_stats(e, q, w, &ws);
			ccp_figures_window(&ws, o->sl_variant, o->wall_ms, f);
			size_t n = queue_key(key, o->prefix, name, ccp_engine_window_name(e, w));
			ccp_publish_window_hash(cb, key, n, f);
		}
		struct ccp_live_stats ls;
		struct ccp_field lf[CCP_LF__COUNT];
		ccp_engine_live_stats(e, q, &ls);
		ccp_figures_live(&ls, now, lf);
		size_t n = queue_key(key, o->prefix, name, "live");
		ccp_publish_live_hash(cb, key, n, lf);

		ccp_cmdbuf_begin(cb);
		ccp_cmdbuf_arg_str(cb, "SADD");
		ccp_cmdbuf_arg_fmt(cb, "%s:queues", o->prefix);
		ccp_cmdbuf_arg(cb, name.ptr, name.len);
	}
	return nq;
}
