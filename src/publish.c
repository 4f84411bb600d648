/* Renders a partition's per-queue figures as Redis commands. */
#include "ccpulse/publish.h"
#include "ccpulse/webhook.h"

#include <stdio.h>
#include <string.h>

#include "ccpulse/alerts.h"
#include "ccpulse/cmdbuf.h"
#include "ccpulse/engine.h"
#include "ccpulse/json_out.h"

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

/* FNV-1a over the bytes of `n` fields: a queue's content fingerprint. */
static uint64_t fields_hash(uint64_t h, const struct ccp_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t v[3] = {f[i].present, f[i].present ? f[i].i : 0, 0};
		if (f[i].present && f[i].is_ratio)
			memcpy(&v[2], &f[i].d, sizeof(v[2]));
		const unsigned char *b = (const unsigned char *)v;
		for (size_t k = 0; k < sizeof(v); k++)
			h = (h ^ b[k]) * 0x100000001b3ULL;
	}
	return h;
}

/* HSET of the live fields this writer owns, without DEL: every live field
 * is always present, so nothing can linger, and the agents fields, written
 * by whoever holds the agent table, are left alone. */
static void live_hset(struct ccp_cmdbuf *cb, const char *key, size_t keylen, const struct ccp_field *lf,
		      int first, int last)
{
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "HSET");
	ccp_cmdbuf_arg(cb, key, keylen);
	for (int i = first; i <= last; i++) {
		char v[64];
		int n = ccp_field_format(&lf[i], v, sizeof(v));
		ccp_cmdbuf_arg_str(cb, ccp_lfield_names[i]);
		ccp_cmdbuf_arg(cb, v, n > 0 ? (size_t)n : 0);
	}
}

uint64_t ccp_publish_queue(struct ccp_cmdbuf *cb, const struct ccp_engine *e, uint32_t q,
			   const struct ccp_publish_opts *o)
{
	return ccp_publish_queue_fields(cb, e, q, o, NULL, NULL);
}

uint64_t ccp_publish_queue_fields(struct ccp_cmdbuf *cb, const struct ccp_engine *e, uint32_t q,
				  const struct ccp_publish_opts *o, struct ccp_field (*wf)[CCP_WF__COUNT],
				  struct ccp_field lf_out[CCP_LF__COUNT])
{
	uint32_t nw = ccp_engine_window_count(e);
	int64_t now = ccp_engine_now(e);
	char key[KEY_MAX];
	uint64_t h = 0xcbf29ce484222325ULL;
	struct ccp_str name = ccp_engine_queue_name(e, q);
	for (uint32_t w = 0; w < nw; w++) {
		struct ccp_window_stats ws;
		struct ccp_field f[CCP_WF__COUNT];
		ccp_engine_window_stats(e, q, w, &ws);
		ccp_figures_window(&ws, o->sl_variant, o->wall_ms, f);
		h = fields_hash(h, f, CCP_WF_UPDATED_AT); /* updated_at moves every cycle */
		size_t n = queue_key(key, o->prefix, name, ccp_engine_window_name(e, w));
		ccp_publish_window_hash(cb, key, n, f);
		if (wf)
			memcpy(wf[w], f, sizeof(f));
	}
	struct ccp_live_stats ls;
	struct ccp_field lf[CCP_LF__COUNT];
	ccp_engine_live_stats(e, q, &ls);
	ccp_figures_live(&ls, now, lf);
	if (lf_out)
		memcpy(lf_out, lf, sizeof(lf));
	size_t n = queue_key(key, o->prefix, name, "live");
	h = fields_hash(h, lf, CCP_LF__COUNT);
	if (o->agents_elsewhere) {
		live_hset(cb, key, n, lf, CCP_LF_WAITING, CCP_LF_LONGEST_WAIT_MS);
		live_hset(cb, key, n, lf, CCP_LF_PROMISES_OPEN, CCP_LF_COMPLAINTS_OPEN);
	} else {
		ccp_publish_live_hash(cb, key, n, lf);
	}
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "SADD");
	ccp_cmdbuf_arg_fmt(cb, "%s:queues", o->prefix);
	ccp_cmdbuf_arg(cb, name.ptr, name.len);
	return h;
}

size_t ccp_publish_queues(struct ccp_cmdbuf *cb, const struct ccp_engine *e,
			  const struct ccp_publish_opts *o)
{
	uint32_t nq = ccp_engine_queue_count(e);
	for (uint32_t q = 0; q < nq; q++)
		ccp_publish_queue(cb, e, q, o);
	return nq;
}

uint64_t ccp_publish_agents(struct ccp_cmdbuf *cb, const struct ccp_engine *e, uint32_t q, const char *prefix)
{
	char key[KEY_MAX];
	struct ccp_str name = ccp_engine_queue_name(e, q);
	struct ccp_live_stats ls;
	struct ccp_field lf[CCP_LF__COUNT];
	ccp_engine_live_stats(e, q, &ls);
	ccp_figures_live(&ls, ccp_engine_now(e), lf);
	size_t n = queue_key(key, prefix, name, "live");
	live_hset(cb, key, n, lf, CCP_LF_AGENTS_AVAILABLE, CCP_LF_AGENTS_AWAY);
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "SADD");
	ccp_cmdbuf_arg_fmt(cb, "%s:queues", prefix);
	ccp_cmdbuf_arg(cb, name.ptr, name.len);
	return fields_hash(0xcbf29ce484222325ULL, &lf[CCP_LF_AGENTS_AVAILABLE],
			   CCP_LF_AGENTS_AWAY - CCP_LF_AGENTS_AVAILABLE + 1);
}

/* Alert values as the stream shows them: times in whole ms, counts whole,
 * ratios and scores with 6 significant digits. */
static int alert_number(char *buf, size_t cap, enum ccp_alert_kind kind, double v)
{
	enum ccp_alert_unit u = ccp_alert_kind_unit(kind);
	if (u == CCP_ALERT_UNIT_RATIO || u == CCP_ALERT_UNIT_SCORE)
		return snprintf(buf, cap, "%.6g", v);
	return snprintf(buf, cap, "%.0f", v);
}

/* A transition's value ("" when it has none) and the line it crossed: the
 * threshold on firing, the clear line on resolved. */
static void alert_numbers(const struct ccp_alert_transition *t, char *value, size_t vcap, char *thr, size_t tcap)
{
	value[0] = 0;
	if (t->has_value)
		alert_number(value, vcap, t->rule->kind, t->value);
	alert_number(thr, tcap, t->rule->kind, t->firing ? t->rule->threshold : t->rule->clear);
}

void ccp_publish_webhook_alert(struct ccp_webhook_alert *out, const struct ccp_alert_transition *t)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->rule, sizeof(out->rule), "%s", t->rule->name);
	snprintf(out->kind, sizeof(out->kind), "%s", ccp_alert_kind_names[t->rule->kind]);
	if (ccp_alert_kind_has_window(t->rule->kind))
		snprintf(out->window, sizeof(out->window), "%s", t->rule->window);
	snprintf(out->queue, sizeof(out->queue), "%.*s", (int)t->queue.len, t->queue.ptr);
	snprintf(out->promise, sizeof(out->promise), "%.*s", (int)t->promise.len, t->promise.ptr);
	out->firing = t->firing;
	alert_numbers(t, out->value, sizeof(out->value), out->threshold, sizeof(out->threshold));
	out->ts_ms = t->ts_ms;
	out->started_ms = t->started_ms;
}

size_t ccp_publish_firing_field(char *buf, size_t cap, int32_t partition, const char *rule, struct ccp_str queue,
				struct ccp_str promise)
{
	int n = snprintf(buf, cap, "%d|%zu:%s|%zu:", partition, strlen(rule), rule, (size_t)queue.len);
	if (n < 0 || (size_t)n + queue.len + promise.len + 24 > cap)
		return 0;
	size_t len = (size_t)n;
	memcpy(buf + len, queue.ptr, queue.len);
	len += queue.len;
	len += (size_t)snprintf(buf + len, cap - len, "|%zu:", (size_t)promise.len);
	memcpy(buf + len, promise.ptr, promise.len);
	return len + promise.len;
}

/* One "LEN:BYTES" part of a firing field; false when malformed. */
static bool take_part(const char **p, const char *end, struct ccp_str *out)
{
	size_t len = 0;
	const char *s = *p;
	if (s == end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		if (len > 4096)
			return false;
		len = len * 10 + (size_t)(*s++ - '0');
	}
	if (s == end || *s++ != ':' || (size_t)(end - s) < len)
		return false;
	*out = (struct ccp_str){s, len};
	*p = s + len;
	return true;
}

bool ccp_publish_firing_parse(const char *field, size_t len, int32_t *partition, struct ccp_str *rule,
			      struct ccp_str *queue, struct ccp_str *promise)
{
	const char *p = field, *end = field + len;
	long part = 0;
	if (p == end || *p < '0' || *p > '9')
		return false;
	while (p < end && *p >= '0' && *p <= '9' && part <= INT32_MAX)
		part = part * 10 + (*p++ - '0');
	if (part > INT32_MAX || p == end || *p++ != '|' || !take_part(&p, end, rule) || p == end || *p++ != '|' ||
	    !take_part(&p, end, queue) || p == end || *p++ != '|' || !take_part(&p, end, promise) || p != end)
		return false;
	*partition = (int32_t)part;
	return true;
}

void ccp_publish_alert(struct ccp_cmdbuf *cb, const char *prefix, int64_t maxlen, int32_t partition,
		       const struct ccp_alert_transition *t)
{
	char value[40], thr[40], ts[24];
	alert_numbers(t, value, sizeof(value), thr, sizeof(thr));
	snprintf(ts, sizeof(ts), "%lld", (long long)t->ts_ms);
	const char *state = t->firing ? "firing" : "resolved";
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "XADD");
	ccp_cmdbuf_arg_fmt(cb, "%s:alerts", prefix);
	ccp_cmdbuf_arg_str(cb, "MAXLEN");
	ccp_cmdbuf_arg_str(cb, "~");
	ccp_cmdbuf_arg_i64(cb, maxlen);
	ccp_cmdbuf_arg_str(cb, "*");
	ccp_cmdbuf_arg_str(cb, "rule");
	ccp_cmdbuf_arg_str(cb, t->rule->name);
	ccp_cmdbuf_arg_str(cb, "queue");
	ccp_cmdbuf_arg(cb, t->queue.ptr, t->queue.len);
	if (t->promise.len) {
		ccp_cmdbuf_arg_str(cb, "promise");
		ccp_cmdbuf_arg(cb, t->promise.ptr, t->promise.len);
	}
	ccp_cmdbuf_arg_str(cb, "state");
	ccp_cmdbuf_arg_str(cb, state);
	ccp_cmdbuf_arg_str(cb, "value");
	ccp_cmdbuf_arg_str(cb, value);
	ccp_cmdbuf_arg_str(cb, "threshold");
	ccp_cmdbuf_arg_str(cb, thr);
	ccp_cmdbuf_arg_str(cb, "ts");
	ccp_cmdbuf_arg_str(cb, ts);
	/* The channel carries the same as JSON, with the rule's kind and
	 * window and when the firing began. Ids are at most 128 bytes, so
	 * even escaped as \u00XX each the whole fits. */
	char json[2048];
	size_t n = (size_t)snprintf(json, sizeof(json), "{\"rule\":\"%s\",\"kind\":\"%s\",\"window\":\"%s\",\"queue\":\"",
				    t->rule->name, ccp_alert_kind_names[t->rule->kind],
				    ccp_alert_kind_has_window(t->rule->kind) ? t->rule->window : "");
	n += ccp_json_escape(json + n, sizeof(json) - n, t->queue.ptr, t->queue.len);
	if (t->promise.len) {
		n += (size_t)snprintf(json + n, sizeof(json) - n, "\",\"promise\":\"");
		n += ccp_json_escape(json + n, sizeof(json) - n, t->promise.ptr, t->promise.len);
	}
	n += (size_t)snprintf(json + n, sizeof(json) - n,
			      "\",\"state\":\"%s\",\"value\":%s,\"threshold\":%s,\"ts\":%s,\"since\":%lld}", state,
			      value[0] ? value : "null", thr, ts, (long long)t->started_ms);
	if (n >= sizeof(json))
		return;
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, "PUBLISH");
	ccp_cmdbuf_arg_fmt(cb, "%s:alerts", prefix);
	ccp_cmdbuf_arg(cb, json, n);
	/* The record of firing alerts: what a restart puts back (the field)
	 * and what the wallboard shows (the value). */
	char field[CCP_PUBLISH_FIRING_FIELD_MAX];
	size_t flen = ccp_publish_firing_field(field, sizeof(field), partition, t->rule->name, t->queue, t->promise);
	if (!flen)
		return;
	ccp_cmdbuf_begin(cb);
	ccp_cmdbuf_arg_str(cb, t->firing ? "HSET" : "HDEL");
	ccp_cmdbuf_arg_fmt(cb, "%s:state:firing", prefix);
	ccp_cmdbuf_arg(cb, field, flen);
	if (t->firing)
		ccp_cmdbuf_arg(cb, json, n);
}
