/* Decoder choice by measurement: our hand-written decoder beside three
 * library decoders on the same bytes, one thread, one run, next to a
 * ceiling that only touches the bytes.
 *
 * The events are generated here, in memory, as NDJSON with a contact
 * center's mix (weights below: offered 25 %, answered 22 %, ended 20 %,
 * agent.state 11 %, survey 8 %, promises 7.5 %, abandoned 3 %, transferred
 * 2 %, complaints 1 %), UUID ids, ~40 queues, 30 % of times as RFC 3339
 * strings, ~1 % of events with JSON escapes. Every decoder is handed one
 * line (pointer, length) at a time, found with memchr like the ceiling.
 *
 * Fairness: each library parses the whole message and fills the same
 * struct ccp_event through the same field setter: key -> field, type /
 * channel / state / kind by name, times as integers or RFC 3339, strings
 * unescaped (jsmn does not unescape, so a small unescaper runs on strings
 * with a backslash; yajl and json-c hand out strings that die with the
 * parse, so they are copied to a scratch area, as a real user must). The
 * libraries do NOT run the contract's checks (UTF-8 validation of ids
 * beyond what the library does itself, lengths, ranges, RFC 3339 dates,
 * the order of reasons, depth/size limits): their figures are upper bounds
 * for a decoder built on them. A checksum over every decoded event shows
 * that all decoders extracted the same values.
 *
 * usage: bench_decode [EVENTS (default 1000000)] [REPEATS (default 3)] [ONLY]
 * Each figure is the best of REPEATS passes over the whole buffer. ONLY
 * runs just the decoders whose name contains it (e.g. "ccpulse", for perf);
 * the checksum comparison then uses the first one run. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

#include "ccpulse/decode.h"

#define JSMN_STATIC
#include <jsmn.h>

/* ---- timing and randomness --------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64: deterministic, no libc state */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- the event mix ------------------------------------------------------- */

/* Generated NDJSON. Owner: main; lives for the whole run. */
struct corpus {
	char *buf;
	size_t len, cap, n;
};

/* Per-mille weights of the types, in enum ccp_event_type order (sum 995;
 * complaint.opened and .resolved share the 1 %). */
static const int type_weight[CCP_EV__COUNT] = {250, 220, 30, 20, 200, 40, 30, 5, 80, 5, 5, 110};

static const char *const queue_names[] = {
	"billing",      "billing-de",   "billing-fr",    "tech-support",  "tech-support-l2", "sales",
	"sales-emea",   "sales-apac",   "retention",     "cancellations", "onboarding",      "vip",
	"claims",       "claims-auto",  "claims-home",   "fraud",         "collections",     "moves",
	"outage",       "roaming",      "devices",       "fiber-install", "business-sme",    "business-corp",
	"spanish",      "german",       "french",        "accessibility", "complaints",      "web-chat",
	"social-care",  "email-backlog","callbacks",     "loyalty",       "prepaid",         "porting",
	"tv",           "broadband",    "mobile",        "general",
};
#define N_QUEUES (sizeof(queue_names) / sizeof(queue_names[0]))

static void emit(struct corpus *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct corpus *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
	va_end(ap);
	c->len += (size_t)n;
}

/* A time as an integer (70 %) or RFC 3339, with Z or an offset. */
static void emit_time(struct corpus *c, uint64_t *s, int64_t ms)
{
	uint64_t r = rnd(s) % 10;
	if (r < 7) {
		emit(c, "%lld", (long long)ms);
		return;
	}
	int off_min = r == 9 ? 60 : 0; /* +01:00 */
	time_t t = (time_t)((ms + off_min * 60000) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	emit(c, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03d%s\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	     tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000), off_min ? "+01:00" : "Z");
}

static void emit_uuid(struct corpus *c, uint64_t *s)
{
	uint64_t a = rnd(s), b = rnd(s);
	emit(c, "%08llx-%04llx-4%03llx-%04llx-%012llx", (unsigned long long)(a >> 32),
	     (unsigned long long)(a >> 16 & 0xffff), (unsigned long long)(a & 0xfff),
	     (unsigned long long)(0x8000 | (b >> 48 & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
}

static int make_corpus(struct corpus *c, size_t want)
{
	c->cap = want * 320 + 4096;
	c->buf = malloc(c->cap);
	if (!c->buf)
		return -1;
	c->len = c->n = 0;
	uint64_t s = 42;
	int64_t t = 1795300000000LL;
	static const char *const ch[] = {"voice", "voice", "voice", "voice", "voice", "voice",
					 "chat",  "chat",  "email", "sms",   "social", "video"};
	static const char *const st[] = {"available", "busy", "busy", "wrap_up", "away", "offline"};
	static const char *const kinds[] = {"callback", "follow_up", "resolution", "other"};
	static const char *const dims[] = {"reliability", "responsiveness", "assurance", "empathy", "tangibles"};
	for (; c->n < want; c->n++) {
		t += (int64_t)(rnd(&s) % 20);
		int w = (int)(rnd(&s) % 995), type = 0;
		while (w >= type_weight[type])
			w -= type_weight[type++];
		bool esc = rnd(&s) % 100 == 0; /* ~1 %: escaped queue and contact */
		const char *q = queue_names[rnd(&s) % N_QUEUES];
		unsigned long long contact = 4100000000ULL + rnd(&s) % 90000000ULL;
		unsigned agent = (unsigned)(rnd(&s) % 800);
		emit(c, "{\"id\":\"");
		emit_uuid(c, &s);
		emit(c, "\",\"type\":\"%s\",\"ts\":", ccp_event_type_names[type]);
		emit_time(c, &s, t);
		if (type != CCP_EV_AGENT_STATE) {
			if (esc)
				emit(c, ",\"queue\":\"caf\\u00e9-%s\",\"contact\":\"c\\/%llu\"", q, contact);
			else
				emit(c, ",\"queue\":\"%s\",\"contact\":\"c-%llu\"", q, contact);
		}
		switch (type) {
		case CCP_EV_CONTACT_OFFERED:
			emit(c, ",\"channel\":\"%s\"", ch[rnd(&s) % 12]);
			if (rnd(&s) % 20 == 0)
				emit(c, ",\"transfer_from\":\"%s\"", queue_names[rnd(&s) % N_QUEUES]);
			break;
		case CCP_EV_CONTACT_ANSWERED:
			emit(c, ",\"channel\":\"%s\",\"agent\":\"agent-%04u\"", ch[rnd(&s) % 12], agent);
			break;
		case CCP_EV_CONTACT_TRANSFERRED:
			emit(c, ",\"agent\":\"agent-%04u\",\"to_queue\":\"%s\"", agent, queue_names[rnd(&s) % N_QUEUES]);
			if (rnd(&s) % 3 == 0)
				emit(c, ",\"to_agent\":\"agent-%04u\"", (unsigned)(rnd(&s) % 800));
			break;
		case CCP_EV_CONTACT_ENDED:
			emit(c, ",\"agent\":\"agent-%04u\",\"resolved\":%s", agent, rnd(&s) % 4 ? "true" : "false");
			break;
		case CCP_EV_PROMISE_MADE:
			emit(c, ",\"promise\":\"p-%llu\",\"due\":", contact);
			emit_time(c, &s, t + 3600000LL * (int64_t)(1 + rnd(&s) % 48));
			emit(c, ",\"kind\":\"%s\"", kinds[rnd(&s) % 4]);
			break;
		case CCP_EV_PROMISE_KEPT:
		case CCP_EV_PROMISE_CANCELLED:
			emit(c, ",\"promise\":\"p-%llu\"", contact);
			break;
		case CCP_EV_SURVEY_SUBMITTED: {
			emit(c, ",\"csat\":%d", (int)(rnd(&s) % 5) + 1);
			int nd = (int)(rnd(&s) % 6);
			for (int i = 0; i < nd; i++)
				emit(c, ",\"%s\":%d", dims[i], (int)(rnd(&s) % 5) + 1);
			break;
		}
		case CCP_EV_COMPLAINT_OPENED:
		case CCP_EV_COMPLAINT_RESOLVED:
			emit(c, ",\"complaint\":\"k-%llu\"", contact);
			break;
		case CCP_EV_AGENT_STATE: {
			emit(c, ",\"agent\":\"agent-%04u\",\"state\":\"%s\",\"queues\":[", agent, st[rnd(&s) % 6]);
			int nq = 1 + (int)(rnd(&s) % 4);
			for (int i = 0; i < nq; i++)
				emit(c, "%s\"%s\"", i ? "," : "", queue_names[(agent + (unsigned)i * 7) % N_QUEUES]);
			emit(c, "]");
			break;
		}
		default:
			break;
		}
		emit(c, "}\n");
	}
	return 0;
}

/* ---- the shared field setter for the library decoders -------------------- */

enum key {
	K_ID, K_TYPE, K_TS, K_QUEUE, K_CONTACT, K_CHANNEL, K_AGENT, K_TRANSFER_FROM, K_TO_QUEUE,
	K_TO_AGENT, K_RESOLVED, K_PROMISE, K_DUE, K_KIND, K_CSAT, K_DIM0, K_COMPLAINT = K_DIM0 + 5,
	K_STATE, K_QUEUES, K_OTHER
};

static const char *const key_names[K_OTHER] = {
	"id",       "type",    "ts",   "queue", "contact",     "channel",        "agent",
	"transfer_from", "to_queue", "to_agent", "resolved", "promise", "due", "kind",
	"csat",     "reliability", "responsiveness", "assurance", "empathy", "tangibles",
	"complaint", "state",  "queues",
};

static enum key key_of(const char *k, size_t n)
{
	for (int i = 0; i < K_OTHER; i++)
		if (strlen(key_names[i]) == n && memcmp(key_names[i], k, n) == 0)
			return (enum key)i;
	return K_OTHER;
}

static int name_index(const char *const *names, int count, const char *s, size_t n)
{
	for (int i = 0; i < count; i++)
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return i;
	return -1;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* RFC 3339 for the library decoders: the generator's shapes, no range or
 * calendar checks (theirs would add a little). */
static int64_t rfc3339_ms(const char *s, size_t n)
{
#define D2(p) ((p)[0] * 10 + (p)[1] - 11 * '0')
	if (n < 20)
		return -1;
	int64_t y = D2(s) * 100 + D2(s + 2);
	int64_t secs = days_from_civil(y, (unsigned)D2(s + 5), (unsigned)D2(s + 8)) * 86400 +
		       D2(s + 11) * 3600 + D2(s + 14) * 60 + D2(s + 17);
	size_t i = 19;
	int ms = 0, nd = 0;
	if (s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++)
			if (nd < 3)
				ms = ms * 10 + s[i] - '0';
	for (; nd < 3; nd++)
		ms *= 10;
	if (i < n && (s[i] == '+' || s[i] == '-') && n - i == 6)
		secs -= (s[i] == '+' ? 1 : -1) * (D2(s + i + 1) * 3600 + D2(s + i + 4) * 60);
	return secs * 1000 + ms;
#undef D2
}

/* One string value of key k into the event. */
static void set_str(struct ccp_event *ev, enum key k, const char *s, size_t n)
{
	struct ccp_str v = {s, (uint32_t)n};
	switch (k) {
	case K_ID: ev->id = v; break;
	case K_TYPE: ev->type = (enum ccp_event_type)name_index(ccp_event_type_names, CCP_EV__COUNT, s, n); break;
	case K_TS: ev->ts_ms = rfc3339_ms(s, n); break;
	case K_DUE: ev->due_ms = rfc3339_ms(s, n); break;
	case K_QUEUE: ev->queue = v; break;
	case K_CONTACT: ev->contact = v; break;
	case K_CHANNEL: ev->channel = (enum ccp_channel)name_index(ccp_channel_names, CCP_CH__COUNT, s, n); break;
	case K_AGENT: ev->agent = v; break;
	case K_TRANSFER_FROM: ev->transfer_from = v; break;
	case K_TO_QUEUE: ev->to_queue = v; break;
	case K_TO_AGENT: ev->to_agent = v; break;
	case K_PROMISE: ev->promise = v; break;
	case K_KIND: ev->kind = (enum ccp_promise_kind)name_index(ccp_promise_kind_names, CCP_PROMISE__COUNT, s, n); break;
	case K_COMPLAINT: ev->complaint = v; break;
	case K_STATE: ev->state = (enum ccp_agent_state)name_index(ccp_agent_state_names, CCP_AGENT__COUNT, s, n); break;
	case K_QUEUES:
		if (ev->n_queues < CCP_AGENT_MAX_QUEUES)
			ev->queues[ev->n_queues++] = v;
		break;
	default: break;
	}
}

static void set_int(struct ccp_event *ev, enum key k, int64_t v)
{
	if (k == K_TS)
		ev->ts_ms = v;
	else if (k == K_DUE)
		ev->due_ms = v;
	else if (k == K_CSAT)
		ev->csat = (uint8_t)v;
	else if (k >= K_DIM0 && k < K_DIM0 + CCP_DIM__COUNT)
		ev->dims[k - K_DIM0] = (uint8_t)v;
}

/* What every decoder starts from: the contract's defaults. */
static void reset_event(struct ccp_event *ev)
{
	memset(ev, 0, offsetof(struct ccp_event, queues));
	ev->channel = CCP_CH_VOICE;
	ev->kind = CCP_PROMISE_OTHER;
}

/* Copies of library strings that die with the parse. Owner: one decoder
 * call; reset per event. */
static char lib_scratch[64 * 1024];
static size_t lib_scratch_used;

static const char *keep(const char *s, size_t n)
{
	if (lib_scratch_used + n > sizeof(lib_scratch))
		return s; /* cannot happen with these events */
	char *d = lib_scratch + lib_scratch_used;
	memcpy(d, s, n);
	lib_scratch_used += n;
	return d;
}

/* ---- the decoders -------------------------------------------------------- */

typedef int (*decode_fn)(const char *line, size_t len, struct ccp_event *ev);

static struct ccp_decoder ours_dec;

static int ours(const char *line, size_t len, struct ccp_event *ev)
{
	return ccp_decode(&ours_dec, line, len, ev, NULL) == CCP_REJECT_NONE ? 0 : -1;
}

/* yajl 2.1, callback API: the cheapest way to use it (no tree). A handle
 * per message, as yajl 2 has no reset. */
struct yajl_ctx {
	struct ccp_event *ev;
	int depth;
	enum key key;
};

static int y_key(void *u, const unsigned char *k, size_t n)
{
	struct yajl_ctx *c = u;
	if (c->depth == 1)
		c->key = key_of((const char *)k, n);
	return 1;
}

static int y_str(void *u, const unsigned char *s, size_t n)
{
	struct yajl_ctx *c = u;
	if (c->depth == 1 || (c->depth == 2 && c->key == K_QUEUES)) {
		bool kept = c->key != K_TYPE && c->key != K_CHANNEL && c->key != K_KIND && c->key != K_STATE &&
			    c->key != K_TS && c->key != K_DUE;
		set_str(c->ev, c->key, kept ? keep((const char *)s, n) : (const char *)s, n);
	}
	return 1;
}

static int y_int(void *u, long long v)
{
	struct yajl_ctx *c = u;
	if (c->depth == 1)
		set_int(c->ev, c->key, v);
	return 1;
}

static int y_bool(void *u, int v)
{
	struct yajl_ctx *c = u;
	if (c->depth == 1 && c->key == K_RESOLVED)
		c->ev->resolved = v;
	return 1;
}

static int y_open(void *u)
{
	((struct yajl_ctx *)u)->depth++;
	return 1;
}

static int y_close(void *u)
{
	((struct yajl_ctx *)u)->depth--;
	return 1;
}

static const yajl_callbacks y_callbacks = {
	.yajl_boolean = y_bool, .yajl_integer = y_int, .yajl_string = y_str, .yajl_start_map = y_open,
	.yajl_map_key = y_key, .yajl_end_map = y_close, .yajl_start_array = y_open, .yajl_end_array = y_close,
};

static int yajl(const char *line, size_t len, struct ccp_event *ev)
{
	reset_event(ev);
	lib_scratch_used = 0;
	struct yajl_ctx c = {.ev = ev, .key = K_OTHER};
	yajl_handle h = yajl_alloc(&y_callbacks, NULL, &c);
	int ok = yajl_parse(h, (const unsigned char *)line, len) == yajl_status_ok &&
		 yajl_complete_parse(h) == yajl_status_ok;
	yajl_free(h);
	return ok ? 0 : -1;
}

/* json-c 0.16: one reused tokener; a tree per message, walked once. */
static struct json_tokener *tok;

static void jc_value(struct ccp_event *ev, enum key k, struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		set_str(ev, k, keep(json_object_get_string(v), (size_t)json_object_get_string_len(v)),
			(size_t)json_object_get_string_len(v));
		break;
	case json_type_int:
		set_int(ev, k, json_object_get_int64(v));
		break;
	case json_type_boolean:
		if (k == K_RESOLVED)
			ev->resolved = json_object_get_boolean(v);
		break;
	case json_type_array:
		if (k == K_QUEUES)
			for (size_t i = 0, n = json_object_array_length(v); i < n; i++)
				jc_value(ev, k, json_object_array_get_idx(v, i));
		break;
	default:
		break;
	}
}

static int jsonc(const char *line, size_t len, struct ccp_event *ev)
{
	reset_event(ev);
	lib_scratch_used = 0;
	json_tokener_reset(tok);
	struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -1;
	}
	struct json_object_iterator it = json_object_iter_begin(o), end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *k = json_object_iter_peek_name(&it);
		jc_value(ev, key_of(k, strlen(k)), json_object_iter_peek_value(&it));
	}
	json_object_put(o);
	return 0;
}

/* jsmn 1.1: tokens over the line, strings as slices; it does not unescape,
 * so strings with a backslash go through this (BMP \u and pairs). */
static const char *unescape(const char *s, size_t n, size_t *out_n)
{
	char *d = lib_scratch + lib_scratch_used, *o = d;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			*o++ = s[i];
			continue;
		}
		char e = s[++i];
		if (e != 'u') {
			*o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
			continue;
		}
		unsigned u = (unsigned)strtoul((char[5]){s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0}, NULL, 16);
		i += 4;
		if (u >= 0xD800 && u < 0xDC00 && i + 6 < n) {
			unsigned lo = (unsigned)strtoul((char[5]){s[i + 3], s[i + 4], s[i + 5], s[i + 6], 0}, NULL, 16);
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
			i += 6;
		}
		if (u < 0x80) {
			*o++ = (char)u;
		} else if (u < 0x800) {
			*o++ = (char)(0xC0 | u >> 6);
			*o++ = (char)(0x80 | (u & 0x3F));
		} else if (u < 0x10000) {
			*o++ = (char)(0xE0 | u >> 12);
			*o++ = (char)(0x80 | (u >> 6 & 0x3F));
			*o++ = (char)(0x80 | (u & 0x3F));
		} else {
			*o++ = (char)(0xF0 | u >> 18);
			*o++ = (char)(0x80 | (u >> 12 & 0x3F));
			*o++ = (char)(0x80 | (u >> 6 & 0x3F));
			*o++ = (char)(0x80 | (u & 0x3F));
		}
	}
	lib_scratch_used += (size_t)(o - d);
	*out_n = (size_t)(o - d);
	return d;
}

static void jsmn_value(const char *line, struct ccp_event *ev, enum key k, const jsmntok_t *v)
{
	const char *s = line + v->start;
	size_t n = (size_t)(v->end - v->start);
	if (v->type == JSMN_STRING) {
		if (memchr(s, '\\', n))
			s = unescape(s, n, &n);
		set_str(ev, k, s, n);
	} else if (v->type == JSMN_PRIMITIVE) {
		if (*s == 't' || *s == 'f') {
			if (k == K_RESOLVED)
				ev->resolved = *s == 't';
		} else if (*s != 'n') {
			set_int(ev, k, strtoll(s, NULL, 10));
		}
	}
}

static int jsmn(const char *line, size_t len, struct ccp_event *ev)
{
	reset_event(ev);
	lib_scratch_used = 0;
	jsmn_parser p;
	jsmntok_t t[256];
	jsmn_init(&p);
	int n = jsmn_parse(&p, line, len, t, 256);
	if (n < 1 || t[0].type != JSMN_OBJECT)
		return -1;
	/* Top-level pairs: key token, then its value and the value's children. */
	int i = 1;
	for (int pair = 0; pair < t[0].size && i + 1 < n; pair++) {
		enum key k = key_of(line + t[i].start, (size_t)(t[i].end - t[i].start));
		const jsmntok_t *v = &t[i + 1];
		i += 2;
		if (v->type == JSMN_ARRAY || v->type == JSMN_OBJECT) {
			/* Skip every token inside the value (they start before its end). */
			int first = i;
			while (i < n && t[i].start < v->end)
				i++;
			if (k == K_QUEUES && v->type == JSMN_ARRAY)
				for (int j = first; j < i; j++)
					jsmn_value(line, ev, k, &t[j]);
		} else {
			jsmn_value(line, ev, k, v);
		}
	}
	return 0;
}

/* ---- measuring ----------------------------------------------------------- */

/* Folds what a decoder extracted into a number, so that decoders that
 * disagree on any value show different checksums. */
static uint64_t fold(uint64_t h, const struct ccp_event *ev)
{
	const struct ccp_str *s[] = {&ev->id, &ev->queue, &ev->contact, &ev->agent, &ev->to_queue,
				     &ev->promise, &ev->complaint};
	h = h * 31 + (uint64_t)ev->type * 7 + (uint64_t)ev->ts_ms + (uint64_t)ev->due_ms + ev->channel +
	    ev->kind * 3u + ev->csat + ev->dims[4] + ev->resolved + ev->n_queues + ev->state;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		for (uint32_t j = 0; j < s[i]->len; j++)
			h = h * 131 + (unsigned char)s[i]->ptr[j];
	for (uint32_t i = 0; i < ev->n_queues; i++)
		h = h * 7 + ev->queues[i].len;
	return h;
}

/* One pass over all lines. With `sum`, the extracted values are folded
 * into it (an untimed verification pass: folding costs as much as a fast
 * decoder). */
static double run(const struct corpus *c, decode_fn fn, size_t *ok, uint64_t *sum)
{
	static struct ccp_event ev;
	size_t good = 0;
	uint64_t h = 0;
	double t0 = now_s();
	for (const char *p = c->buf, *end = c->buf + c->len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (fn(p, (size_t)(nl - p), &ev) == 0) {
			good++;
			if (sum)
				h = fold(h, &ev);
		}
		p = nl + 1;
	}
	double t = now_s() - t0;
	*ok = good;
	if (sum)
		*sum = h;
	return t;
}

static double scan_lines(const struct corpus *c, size_t *lines)
{
	double t0 = now_s();
	size_t n = 0;
	for (const char *p = c->buf, *end = c->buf + c->len; p < end; n++)
		p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	*lines = n;
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	size_t want = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
	int repeats = argc > 2 ? atoi(argv[2]) : 3;
	const char *only = argc > 3 ? argv[3] : NULL;
	if (want < 1 || repeats < 1) {
		fprintf(stderr, "usage: %s [EVENTS] [REPEATS]\n", argv[0]);
		return 2;
	}
	struct corpus c;
	if (make_corpus(&c, want)) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	char *copy = malloc(c.len);
	if (!copy)
		return 1;
	memset(copy, 0, c.len); /* fault the pages in before timing */
	ccp_decoder_init(&ours_dec);
	tok = json_tokener_new();

	size_t esc = 0, rfc = 0;
	for (const char *p = c.buf, *end = c.buf + c.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		esc += memchr(p, '\\', (size_t)(nl - p)) != NULL;
		rfc += memmem(p, (size_t)(nl - p), "\"ts\":\"", 6) != NULL;
		p = nl + 1;
	}
	double mb = (double)c.len / 1e6, n = (double)c.n;
	printf("events: %zu (%.1f MB, %.0f bytes/event; %.2f %% escaped, %.1f %% RFC 3339 ts), best of %d\n", c.n,
	       mb, (double)c.len / n, 100.0 * (double)esc / n, 100.0 * (double)rfc / n, repeats);

	double best_scan = 1e9, best_copy = 1e9;
	for (int r = 0; r < repeats; r++) {
		size_t lines;
		double t = scan_lines(&c, &lines);
		best_scan = t < best_scan ? t : best_scan;
		if (lines != c.n)
			return 1;
		double t0 = now_s();
		memcpy(copy, c.buf, c.len);
		/* The copy is never read: keep the compiler from dropping it. */
		__asm__ volatile("" : : "r"(copy) : "memory");
		t = now_s() - t0;
		best_copy = t < best_copy ? t : best_copy;
	}
	printf("%-40s %12s %9s %9s  %s\n", "decoder (one thread)", "events/s", "MB/s", "vs scan", "checksum");
	printf("%-40s %12.0f %9.0f %9.3f\n", "(a) ceiling: memchr line scan", n / best_scan, mb / best_scan, 1.0);
	printf("%-40s %12.0f %9.0f %9.3f\n", "(a) ceiling: memcpy of the buffer", n / best_copy, mb / best_copy,
	       best_scan / best_copy);

	static const struct {
		const char *name;
		decode_fn fn;
	} decoders[] = {
		{"(b) ccpulse decode (full contract)", ours},
		{"(c) yajl 2.1 (callbacks)", yajl},
		{"(d) json-c 0.16 (json_tokener)", jsonc},
		{"(e) jsmn 1.1 (tokens + extraction)", jsmn},
	};
	uint64_t want_sum = 0;
	bool have_sum = false;
	int rc = 0;
	for (size_t d = 0; d < sizeof(decoders) / sizeof(decoders[0]); d++) {
		if (only && !strstr(decoders[d].name, only))
			continue;
		double best = 1e9;
		size_t ok = 0;
		uint64_t sum = 0;
		run(&c, decoders[d].fn, &ok, &sum); /* verification, untimed; warms up */
		for (int r = 0; r < repeats; r++) {
			size_t ok_r;
			double t = run(&c, decoders[d].fn, &ok_r, NULL);
			best = t < best ? t : best;
		}
		if (!have_sum) {
			want_sum = sum;
			have_sum = true;
		}
		printf("%-40s %12.0f %9.0f %9.3f  %016llx%s\n", decoders[d].name, n / best, mb / best, best_scan / best,
		       (unsigned long long)sum, sum == want_sum ? "" : "  MISMATCH");
		if (ok != c.n) {
			fprintf(stderr, "%s: %zu of %zu events failed\n", decoders[d].name, c.n - ok, c.n);
			rc = 1;
		}
		if (sum != want_sum)
			rc = 1;
	}
	json_tokener_free(tok);
	free(copy);
	free(c.buf);
	return rc;
}
