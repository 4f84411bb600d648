/* A partition's recovery record (see include/ccpulse/recovery.h). */
#include "ccpulse/recovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/log.h"
#include "ccpulse/publish.h"

#define CONNECT_TIMEOUT_MS 2000
/* A checkpoint may be tens of MB: give its transfer room. */
#define COMMAND_TIMEOUT_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define KEY_MAX 512

/* Owner: the source thread. */
struct ccp_recovery_reader {
	struct ccp_redis_url url;
	char prefix[256];
	const struct ccp_log *log;
	redisContext *c; /* NULL until connected, and after a failure */
};

void ccp_recovery_free(struct ccp_recovery *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->n_alerts; i++) {
		free(r->alerts[i].rule);
		free(r->alerts[i].queue);
		free(r->alerts[i].promise);
	}
	free(r->alerts);
	free(r->ckpt);
	free(r);
}

struct ccp_recovery_reader *ccp_recovery_reader_new(const struct ccp_redis_url *url, const char *prefix,
						    const struct ccp_log *log)
{
	struct ccp_recovery_reader *rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	rd->url = *url;
	snprintf(rd->prefix, sizeof(rd->prefix), "%s", prefix);
	rd->log = log;
	return rd;
}

void ccp_recovery_reader_free(struct ccp_recovery_reader *rd)
{
	if (!rd)
		return;
	if (rd->c)
		redisFree(rd->c);
	free(rd);
}

static struct timeval tv_ms(int ms)
{
	return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* A reply that is an error, or none: the text for the log. */
static const char *reply_error(const redisContext *c, const redisReply *r)
{
	if (!r)
		return c->errstr[0] ? c->errstr : "no reply";
	return r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

static int connect_redis(struct ccp_recovery_reader *rd, char *err, size_t errlen)
{
	const struct ccp_redis_url *u = &rd->url;
	redisContext *c = u->kind == CCP_REDIS_URL_UNIX ? redisConnectUnixWithTimeout(u->path, tv_ms(CONNECT_TIMEOUT_MS))
							  : redisConnectWithTimeout(u->host, u->port, tv_ms(CONNECT_TIMEOUT_MS));
	if (!c || c->err) {
		snprintf(err, errlen, "connect: %s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return -1;
	}
	redisSetTimeout(c, tv_ms(COMMAND_TIMEOUT_MS));
	redisReply *r = NULL;
	if (u->has_password) {
		if (u->user[0])
			r = redisCommandArgv(c, 3, (const char *[]){"AUTH", u->user, u->password}, NULL);
		else
			r = redisCommandArgv(c, 2, (const char *[]){"AUTH", u->password}, NULL);
		const char *e = reply_error(c, r);
		if (e) {
			snprintf(err, errlen, "AUTH failed: %s", e); /* Redis's text never holds the password */
			freeReplyObject(r);
			redisFree(c);
			return -1;
		}
		freeReplyObject(r);
	}
	if (u->db) {
		r = redisCommand(c, "SELECT %d", u->db);
		const char *e = reply_error(c, r);
		if (e) {
			snprintf(err, errlen, "SELECT %d failed: %s", u->db, e);
			freeReplyObject(r);
			redisFree(c);
			return -1;
		}
		freeReplyObject(r);
	}
	rd->c = c;
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* A decimal offset field; -1 when absent or malformed. */
static int64_t parse_offset(const redisReply *v)
{
	if (!v || v->type != REDIS_REPLY_STRING || !v->len || v->len > 19)
		return -1;
	int64_t x = 0;
	for (size_t i = 0; i < v->len; i++) {
		if (v->str[i] < '0' || v->str[i] > '9')
			return -1;
		x = x * 10 + (v->str[i] - '0');
	}
	return x;
}

static void parse_rejects(const redisReply *v, uint64_t out[CCP_REJECT__COUNT])
{
	if (!v || v->type != REDIS_REPLY_STRING)
		return;
	char buf[CCP_REJECT__COUNT * 21 + 1];
	size_t n = v->len < sizeof(buf) - 1 ? v->len : sizeof(buf) - 1;
	memcpy(buf, v->str, n);
	buf[n] = 0;
	char *p = buf;
	for (int i = 0; i < CCP_REJECT__COUNT && *p; i++)
		out[i] = strtoull(p, &p, 10);
}

/* The firing time in a record's JSON: its last `"since":` member (the
 * writer puts it last). 0 when missing. */
static int64_t parse_since(const char *json, size_t len)
{
	static const char key[] = "\"since\":";
	const char *hit = NULL;
	for (const char *p = json; (size_t)(p - json) + sizeof(key) - 1 <= len; p++)
		if (!memcmp(p, key, sizeof(key) - 1))
			hit = p + sizeof(key) - 1;
	return hit ? strtoll(hit, NULL, 10) : 0;
}

static int take_alerts(struct ccp_recovery *r, const redisReply *h)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const redisReply *f = h->element[i], *v = h->element[i + 1];
		int32_t part;
		struct ccp_str rule, queue, promise;
		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    !ccp_publish_firing_parse(f->str, f->len, &part, &rule, &queue, &promise) || part != r->partition)
			continue;
		struct ccp_recovery_alert *na = realloc(r->alerts, (r->n_alerts + 1) * sizeof(*na));
		if (!na)
			return -ENOMEM;
		r->alerts = na;
		struct ccp_recovery_alert *a = &r->alerts[r->n_alerts];
		a->rule = dup_n(rule.ptr, rule.len);
		a->queue = dup_n(queue.ptr, queue.len);
		a->promise = dup_n(promise.ptr, promise.len);
		a->queue_len = queue.len;
		a->promise_len = promise.len;
		a->fired_ms = parse_since(v->str, v->len);
		r->n_alerts++;
		if (!a->rule || !a->queue || !a->promise)
			return -ENOMEM;
	}
	return 0;
}

/* One attempt. 0, -EAGAIN (connection trouble: retry) or -ENOMEM. */
static int read_once(struct ccp_recovery_reader *rd, int32_t partition, struct ccp_recovery *r, char *err,
		     size_t errlen)
{
	if (!rd->c && connect_redis(rd, err, errlen))
		return -EAGAIN;
	char key[KEY_MAX], fkey[KEY_MAX];
	snprintf(key, sizeof(key), "%s:state:part:%d", rd->prefix, partition);
	snprintf(fkey, sizeof(fkey), "%s:state:firing", rd->prefix);
	redisAppendCommandArgv(rd->c, 2, (const char *[]){"HGETALL", key}, NULL);
	redisAppendCommandArgv(rd->c, 2, (const char *[]){"HGETALL", fkey}, NULL);
	redisReply *part = NULL, *firing = NULL;
	int rc = 0;
	if (redisGetReply(rd->c, (void **)&part) != REDIS_OK || redisGetReply(rd->c, (void **)&firing) != REDIS_OK) {
		snprintf(err, errlen, "read: %s", rd->c->errstr);
		rc = -EAGAIN;
	} else if (part->type != REDIS_REPLY_ARRAY || firing->type != REDIS_REPLY_ARRAY) {
		const char *e = reply_error(rd->c, part->type != REDIS_REPLY_ARRAY ? part : firing);
		snprintf(err, errlen, "HGETALL: %s", e ? e : "not a hash");
		rc = -EAGAIN; /* LOADING and the like pass; a wrong type is logged each time */
	}
	if (!rc) {
		const redisReply *ckpt = NULL, *ckpt_off = NULL, *rendered = NULL, *rejects = NULL;
		for (size_t i = 0; i + 1 < part->elements; i += 2) {
			const redisReply *f = part->element[i], *v = part->element[i + 1];
			if (f->type != REDIS_REPLY_STRING)
				continue;
			if (!strcmp(f->str, "ckpt"))
				ckpt = v;
			else if (!strcmp(f->str, "ckpt_offset"))
				ckpt_off = v;
			else if (!strcmp(f->str, "rendered"))
				rendered = v;
			else if (!strcmp(f->str, "rejects"))
				rejects = v;
		}
		r->rendered_offset = parse_offset(rendered);
		r->ckpt_offset = parse_offset(ckpt_off);
		if (r->ckpt_offset >= 0 && ckpt && ckpt->type == REDIS_REPLY_STRING && ckpt->len) {
			r->ckpt = malloc(ckpt->len);
			if (!r->ckpt)
				rc = -ENOMEM;
			else
				memcpy(r->ckpt, ckpt->str, ckpt->len);
			r->ckpt_len = ckpt->len;
			parse_rejects(rejects, r->rejects);
		} else {
			r->ckpt_offset = -1;
		}
		if (!rc)
			rc = take_alerts(r, firing);
	}
	freeReplyObject(part);
	freeReplyObject(firing);
	if (rc == -EAGAIN) {
		redisFree(rd->c);
		rd->c = NULL;
	}
	return rc;
}

int ccp_recovery_read(struct ccp_recovery_reader *rd, int32_t partition, const atomic_bool *stop,
		      struct ccp_recovery **out)
{
	int backoff = BACKOFF_MIN_MS;
	for (int attempt = 1;; attempt++) {
		struct ccp_recovery *r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->partition = partition;
		char err[256] = "";
		int rc = read_once(rd, partition, r, err, sizeof(err));
		if (!rc) {
			*out = r;
			return 0;
		}
		ccp_recovery_free(r);
		if (rc != -EAGAIN)
			return rc;
		ccp_logf(rd->log, CCP_LOG_WARN,
			 "partition %d: cannot read its checkpoint from Redis (attempt %d): %s; retrying in %d ms", partition,
			 attempt, err, backoff);
		for (int waited = 0; waited < backoff; waited += 50) {
			if (stop && atomic_load_explicit(stop, memory_order_relaxed))
				return -ECANCELED;
			nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

void ccp_recovery_render(struct ccp_cmdbuf *cb, const char *prefix, int32_t partition, int64_t rendered_offset,
			 const void *ckpt, size_t ckpt_len, const uint64_t rejects[CCP_REJECT__COUNT])
{
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "HSET");
	ccp_cmdbuf_arg_fmt(cb, "%s:state:part:%d", prefix, partition);
	ccp_cmdbuf_arg_str(cb, "rendered");
	ccp_cmdbuf_arg_i64(cb, rendered_offset);
	if (!ckpt)
		return;
	char rj[CCP_REJECT__COUNT * 21 + 1];
	size_t n = 0;
	for (int i = 0; i < CCP_REJECT__COUNT; i++)
		n += (size_t)snprintf(rj + n, sizeof(rj) - n, i ? " %llu" : "%llu", (unsigned long long)rejects[i]);
	ccp_cmdbuf_arg_str(cb, "ckpt_offset");
	ccp_cmdbuf_arg_i64(cb, rendered_offset);
	ccp_cmdbuf_arg_str(cb, "ckpt");
	ccp_cmdbuf_arg(cb, ckpt, ckpt_len);
	ccp_cmdbuf_arg_str(cb, "rejects");
	ccp_cmdbuf_arg(cb, rj, n);
}
