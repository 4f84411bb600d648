/* Configuration loading (see include/ccpulse/config.h).
 *
 * One table, `keys[]`, declares every scalar key once: its type, where it
 * lands, its default, its bounds and its help text. The YAML reader, the
 * CCPULSE_* environment overrides, `ccp_config_set` (flags) and the
 * generated docs all go through it, so they cannot drift apart. Three keys
 * are structured and handled beside the table: `windows` (a list),
 * `queues.<queue>.service_level.<channel>` and `kafka.<librdkafka key>`
 * (passed through unchanged).
 */
#include "ccpulse/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ccpulse/tz.h"

enum ktype { T_STR, T_DUR, T_INT, T_U32, T_ENUM_SL, T_ENUM };

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	size_t size; /* T_STR: buffer size */
	int64_t min, max;
	const char *def;
	const char *choices; /* T_ENUM: "a|b|c" */
	const char *help;
};

#define OFF(f) offsetof(struct ccp_config, f)
#define STR(f) OFF(f), sizeof(((struct ccp_config *)0)->f)
#define MS(n) ((int64_t)(n))
#define SEC MS(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static const struct key keys[] = {
	{"kafka.brokers", T_STR, STR(brokers), 0, 0, "localhost:9092", NULL, "Kafka bootstrap servers, HOST:PORT[,...]"},
	{"kafka.topic", T_STR, STR(topic), 0, 0, "contact-events", NULL, "topic of contact, promise, survey and complaint events (keyed by queue)"},
	{"kafka.agent_topic", T_STR, STR(agent_topic), 0, 0, "agent-events", NULL, "topic of agent.state events, read whole by every instance"},
	{"kafka.group", T_STR, STR(group), 0, 0, "ccpulse", NULL, "consumer group id"},
	{"kafka.dead_letter_topic", T_STR, STR(dead_letter_topic), 0, 0, "", NULL, "where rejected events are copied with the reason in a header; empty: off"},
	{"redis.url", T_STR, STR(redis_url), 0, 0, "redis://127.0.0.1:6379/0", NULL, "redis://[user:password@]HOST:PORT[/db]"},
	{"prefix", T_STR, STR(prefix), 0, 0, "ccpulse", NULL, "prefix of every Redis key"},
	{"http.addr", T_STR, STR(http_addr), 0, 0, "127.0.0.1:8080", NULL, "address of the HTTP server (metrics, health, wallboard)"},
	{"publish_interval", T_DUR, OFF(publish_interval_ms), 0, 50, MIN, "500ms", NULL, "how often figures are written to Redis"},
	{"workers", T_INT, OFF(workers), 0, 0, 256, "0", NULL, "worker threads; 0: one per core"},
	{"max_future_skew", T_DUR, OFF(max_future_skew_ms), 0, 0, 7 * DAY, "5m", NULL, "live only: events further ahead of the wall clock are rejected (future_ts)"},
	{"timezone", T_STR, STR(timezone), 0, 0, "UTC", NULL, "IANA zone whose local midnight starts `today`"},
	{"short_abandon", T_DUR, OFF(engine.short_abandon_ms), 0, 0, HOUR, "5s", NULL, "abandons after a shorter wait count as abandoned_short"},
	{"service_level.variant", T_ENUM_SL, STR(sl_variant), 0, 0, "answered_abandoned", NULL,
	 "answered_abandoned: in_sl/(answered+abandoned); answered: in_sl/answered; offered: in_sl/offered; with_short_abandons: in_sl/(answered+abandoned+abandoned_short)"},
	{"service_level.thresholds.voice", T_DUR, OFF(engine.sl_threshold_ms[CCP_CH_VOICE]), 0, 1, 30 * DAY, "20s", NULL, "answer target for voice"},
	{"service_level.thresholds.chat", T_DUR, OFF(engine.sl_threshold_ms[CCP_CH_CHAT]), 0, 1, 30 * DAY, "60s", NULL, "answer target for chat"},
	{"service_level.thresholds.email", T_DUR, OFF(engine.sl_threshold_ms[CCP_CH_EMAIL]), 0, 1, 30 * DAY, "4h", NULL, "answer target for email"},
	{"service_level.thresholds.sms", T_DUR, OFF(engine.sl_threshold_ms[CCP_CH_SMS]), 0, 1, 30 * DAY, "5m", NULL, "answer target for sms"},
	{"service_level.thresholds.social", T_DUR, OFF(engine.sl_threshold_ms[CCP_CH_SOCIAL]), 0, 1, 30 * DAY, "1h", NULL, "answer target for social"},
	{"service_level.thresholds.video", T_DUR, OFF(engine.sl_threshold_ms[CCP_CH_VIDEO]), 0, 1, 30 * DAY, "20s", NULL, "answer target for video"},
	{"dedup.horizon", T_DUR, OFF(engine.dedup_horizon_ms), 0, SEC, 30 * DAY, "24h", NULL, "how long event ids are remembered (event time)"},
	{"dedup.max_ids", T_U32, OFF(engine.dedup_max_ids), 0, 1000, 1000000000, "4000000", NULL, "at most this many ids per partition; the oldest go first"},
	{"open_horizon", T_DUR, OFF(engine.open_horizon_ms), 0, MIN, 365 * DAY, "7d", NULL, "open contacts, promises and complaints are dropped (expired) after this"},
	{"alerts.stream_maxlen", T_INT, OFF(alerts_stream_maxlen), 0, 100, 100000000, "10000", NULL, "approximate cap of the alerts stream"},
	{"log.level", T_ENUM, STR(log_level), 0, 0, "info", "debug|info|warn|error", "least severe level logged"},
	{"log.format", T_ENUM, STR(log_format), 0, 0, "logfmt", "logfmt|json", "log line format"},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "250ms", "10s", "5m", "1h", "7d" or plain integer ms. */
static int parse_duration(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	int64_t mul;
	if (!*end || !strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s"))
		mul = SEC;
	else if (!strcmp(end, "m"))
		mul = MIN;
	else if (!strcmp(end, "h"))
		mul = HOUR;
	else if (!strcmp(end, "d"))
		mul = DAY;
	else
		return -1;
	if (v > INT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int set_key(struct ccp_config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char *dst = (char *)c + k->off;
	switch (k->type) {
	case T_STR:
	case T_ENUM:
	case T_ENUM_SL:
		if (strlen(v) >= k->size)
			return errf(err, errlen, "%s: longer than %zu bytes", k->name, k->size - 1);
		if (k->type == T_ENUM) {
			size_t n = strlen(v);
			const char *p = k->choices;
			bool ok = false;
			while (p && *p && !ok) {
				const char *bar = strchr(p, '|');
				size_t l = bar ? (size_t)(bar - p) : strlen(p);
				ok = l == n && !memcmp(p, v, n);
				p = bar ? bar + 1 : NULL;
			}
			if (!ok)
				return errf(err, errlen, "%s=%s: must be one of %s", k->name, v, k->choices);
		}
		if (k->type == T_ENUM_SL) {
			int i = 0;
			while (i < CCP_SL__COUNT && strcmp(ccp_sl_variant_names[i], v))
				i++;
			if (i == CCP_SL__COUNT)
				return errf(err, errlen, "%s=%s: must be answered_abandoned, answered, offered or with_short_abandons", k->name, v);
			c->engine.sl_variant = (enum ccp_sl_variant)i;
		}
		memcpy(dst, v, strlen(v) + 1);
		return 0;
	case T_DUR: {
		int64_t ms;
		if (parse_duration(v, &ms))
			return errf(err, errlen, "%s=%s: not a duration (like 250ms, 10s, 5m, 1h, 7d)", k->name, v);
		if (ms < k->min || ms > k->max)
			return errf(err, errlen, "%s=%s: must be %" PRId64 "ms..%" PRId64 "ms", k->name, v, k->min, k->max);
		memcpy(dst, &ms, sizeof(ms));
		return 0;
	}
	case T_INT:
	case T_U32: {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (end == v || *end || errno)
			return errf(err, errlen, "%s=%s: not an integer", k->name, v);
		if (n < k->min || n > k->max)
			return errf(err, errlen, "%s=%s: must be %" PRId64 "..%" PRId64, k->name, v, k->min, k->max);
		if (k->type == T_U32) {
			uint32_t u = (uint32_t)n;
			memcpy(dst, &u, sizeof(u));
		} else {
			int64_t i = n;
			memcpy(dst, &i, sizeof(i));
		}
		return 0;
	}
	}
	return -1;
}

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* Levenshtein distance, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	size_t d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	return d[la][lb];
}

static int channel_index(const char *s)
{
	for (int i = 0; i < CCP_CH__COUNT; i++)
		if (!strcmp(ccp_channel_names[i], s))
			return i;
	return -1;
}

int ccp_config_set(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	if (k)
		return set_key(c, k, value, err, errlen);
	if (!strncmp(key, "kafka.", 6) && key[6]) {
		/* Any other kafka.* key goes to librdkafka unchanged. */
		const char *name = key + 6;
		uint32_t i = 0;
		while (i < c->n_kafka && strcmp(c->kafka[i].key, name))
			i++;
		if (i == CCP_CONFIG_MAX_KAFKA)
			return errf(err, errlen, "%s: more than %d kafka.* settings", key, CCP_CONFIG_MAX_KAFKA);
		if (strlen(name) >= sizeof(c->kafka[i].key) || strlen(value) >= sizeof(c->kafka[i].value))
			return errf(err, errlen, "%s: key or value too long", key);
		snprintf(c->kafka[i].key, sizeof(c->kafka[i].key), "%s", name);
		snprintf(c->kafka[i].value, sizeof(c->kafka[i].value), "%s", value);
		if (i == c->n_kafka)
			c->n_kafka++;
		return 0;
	}
	if (!strncmp(key, "queues.", 7)) {
		/* queues.<queue>.service_level.<channel>; the queue id may hold dots. */
		const char *tail = strrchr(key, '.');
		const char *mid = tail ? tail - strlen(".service_level") : NULL;
		int ch = tail ? channel_index(tail + 1) : -1;
		if (!mid || mid <= key + 7 || strncmp(mid, ".service_level.", 15) || ch < 0)
			return errf(err, errlen, "%s: expected queues.<queue>.service_level.<voice|chat|email|sms|social|video>", key);
		size_t ql = (size_t)(mid - (key + 7));
		if (ql > CCP_ID_MAX_BYTES)
			return errf(err, errlen, "%s: queue id longer than %d bytes", key, CCP_ID_MAX_BYTES);
		int64_t ms;
		if (parse_duration(value, &ms) || ms < 1 || ms > 30 * DAY)
			return errf(err, errlen, "%s=%s: must be a duration 1ms..30d", key, value);
		uint32_t i = 0;
		while (i < c->engine.n_sl_overrides &&
		       (strlen(c->overrides[i].queue) != ql || memcmp(c->overrides[i].queue, key + 7, ql)))
			i++;
		if (i == CCP_CONFIG_MAX_OVERRIDES)
			return errf(err, errlen, "%s: more than %d queues with thresholds", key, CCP_CONFIG_MAX_OVERRIDES);
		if (i == c->engine.n_sl_overrides) {
			memset(&c->overrides[i], 0, sizeof(c->overrides[i]));
			memcpy(c->overrides[i].queue, key + 7, ql);
			c->engine.n_sl_overrides++;
		}
		c->overrides[i].threshold_ms[ch] = ms;
		return 0;
	}
	const char *best = NULL;
	size_t bd = 4;
	for (size_t i = 0; i < N_KEYS; i++) {
		size_t d = distance(key, keys[i].name);
		if (d < bd) {
			bd = d;
			best = keys[i].name;
		}
	}
	if (best)
		return errf(err, errlen, "%s: unknown key (did you mean %s?)", key, best);
	return errf(err, errlen, "%s: unknown key", key);
}

void ccp_config_defaults(struct ccp_config *c)
{
	memset(c, 0, sizeof(*c));
	ccp_engine_config_defaults(&c->engine);
	char err[256];
	for (size_t i = 0; i < N_KEYS; i++)
		set_key(c, &keys[i], keys[i].def, err, sizeof(err));
	c->engine.sl_overrides = c->overrides;
}

int ccp_config_apply_env(struct ccp_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		char env[128] = "CCPULSE_";
		size_t n = 8;
		for (const char *p = keys[i].name; *p && n < sizeof(env) - 1; p++)
			env[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
		env[n] = 0;
		const char *v = getenv(env);
		if (v && set_key(c, &keys[i], v, err, errlen)) {
			size_t l = strlen(err);
			snprintf(err + l, errlen > l ? errlen - l : 0, " (from %s)", env);
			return -1;
		}
	}
	return 0;
}

/* ---- YAML -------------------------------------------------------------- */

/* Reader state. Owner: ccp_config_load_file's stack. */
struct reader {
	yaml_parser_t p;
	const char *path;
	char *err;
	size_t errlen;
};

static int at(struct reader *r, const yaml_event_t *ev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int at(struct reader *r, const yaml_event_t *ev, const char *fmt, ...)
{
	int n = snprintf(r->err, r->errlen, "%s:%zu:%zu: ", r->path, ev->start_mark.line + 1,
			 ev->start_mark.column + 1);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < r->errlen)
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int next(struct reader *r, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&r->p, ev)) {
		snprintf(r->err, r->errlen, "%s:%zu:%zu: YAML syntax: %s", r->path, r->p.problem_mark.line + 1,
			 r->p.problem_mark.column + 1, r->p.problem ? r->p.problem : "error");
		return -1;
	}
	return 0;
}

static int read_windows(struct reader *r, struct ccp_config *c, yaml_event_t *start)
{
	if (start->type != YAML_SEQUENCE_START_EVENT)
		return at(r, start, "windows: expected a list of {name, length, bucket}");
	c->engine.n_windows = 0;
	for (;;) {
		yaml_event_t ev;
		if (next(r, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		uint32_t wi = c->engine.n_windows;
		if (ev.type != YAML_MAPPING_START_EVENT || wi >= CCP_MAX_WINDOWS) {
			int rc = at(r, &ev, wi >= CCP_MAX_WINDOWS ? "windows: at most 16" : "windows[%u]: expected {name, length, bucket}", wi);
			yaml_event_delete(&ev);
			return rc;
		}
		yaml_event_delete(&ev);
		struct ccp_window_def *w = &c->engine.windows[wi];
		memset(w, 0, sizeof(*w));
		for (;;) {
			yaml_event_t k, v;
			if (next(r, &k))
				return -1;
			if (k.type == YAML_MAPPING_END_EVENT) {
				if (!w->name[0] || !w->length_ms || !w->bucket_ms) {
					int rc = at(r, &k, "windows[%u]: needs name, length and bucket", wi);
					yaml_event_delete(&k);
					return rc;
				}
				if (w->length_ms % w->bucket_ms) {
					int rc = at(r, &k, "windows[%u] (%s): length must be a multiple of bucket", wi, w->name);
					yaml_event_delete(&k);
					return rc;
				}
				for (uint32_t j = 0; j < wi; j++)
					if (!strcmp(c->engine.windows[j].name, w->name)) {
						int rc = at(r, &k, "windows[%u]: name %s used twice", wi, w->name);
						yaml_event_delete(&k);
						return rc;
					}
				yaml_event_delete(&k);
				break;
			}
			if (next(r, &v)) {
				yaml_event_delete(&k);
				return -1;
			}
			int rc = 0;
			if (k.type != YAML_SCALAR_EVENT || v.type != YAML_SCALAR_EVENT) {
				rc = at(r, &k, "windows[%u]: expected scalar key: value", wi);
			} else {
				const char *kn = (const char *)k.data.scalar.value, *vv = (const char *)v.data.scalar.value;
				int64_t ms;
				if (!strcmp(kn, "name")) {
					size_t l = strlen(vv);
					bool ok = l > 0 && l < CCP_WINDOW_NAME_MAX && strcmp(vv, "live") && strcmp(vv, "today");
					for (size_t i = 0; ok && i < l; i++)
						ok = isalnum((unsigned char)vv[i]) || vv[i] == '_' || vv[i] == '-';
					if (!ok)
						rc = at(r, &v, "windows[%u].name=%s: 1..15 of [A-Za-z0-9_-], not live or today", wi, vv);
					else
						memcpy(w->name, vv, l + 1);
				} else if (!strcmp(kn, "length") || !strcmp(kn, "bucket")) {
					bool len = kn[0] == 'l';
					if (parse_duration(vv, &ms) || ms < SEC || ms > 366 * DAY)
						rc = at(r, &v, "windows[%u].%s=%s: must be a duration 1s..366d", wi, kn, vv);
					else if (len)
						w->length_ms = ms;
					else
						w->bucket_ms = ms;
				} else {
					rc = at(r, &k, "windows[%u].%s: unknown key (name, length, bucket)", wi, kn);
				}
			}
			yaml_event_delete(&k);
			yaml_event_delete(&v);
			if (rc)
				return rc;
		}
		c->engine.n_windows++;
	}
	if (!c->engine.n_windows)
		return errf(r->err, r->errlen, "%s: windows: at least one window", r->path);
	return 0;
}

/* Reads a mapping whose keys extend `path`. */
static int read_mapping(struct reader *r, struct ccp_config *c, char *path, size_t plen)
{
	for (;;) {
		yaml_event_t k;
		if (next(r, &k))
			return -1;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return 0;
		}
		if (k.type != YAML_SCALAR_EVENT) {
			int rc = at(r, &k, "%s: expected a key", plen ? path : "(top)");
			yaml_event_delete(&k);
			return rc;
		}
		size_t kl = strlen((const char *)k.data.scalar.value);
		if (plen + kl + 2 > 1024) {
			int rc = at(r, &k, "key path too long");
			yaml_event_delete(&k);
			return rc;
		}
		size_t nl = plen;
		if (plen)
			path[nl++] = '.';
		memcpy(path + nl, k.data.scalar.value, kl + 1);
		nl += kl;
		yaml_event_t v;
		if (next(r, &v)) {
			yaml_event_delete(&k);
			return -1;
		}
		int rc = 0;
		if (!strcmp(path, "windows")) {
			rc = read_windows(r, c, &v);
		} else if (v.type == YAML_MAPPING_START_EVENT) {
			rc = read_mapping(r, c, path, nl);
		} else if (v.type == YAML_SCALAR_EVENT) {
			char e2[400];
			if (ccp_config_set(c, path, (const char *)v.data.scalar.value, e2, sizeof(e2)))
				rc = at(r, &v, "%s", e2);
		} else {
			rc = at(r, &v, "%s: expected a value or a mapping", path);
		}
		yaml_event_delete(&k);
		yaml_event_delete(&v);
		path[plen] = 0;
		if (rc)
			return rc;
	}
}

int ccp_config_load_file(struct ccp_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	struct reader r = {.path = path, .err = err, .errlen = errlen};
	if (!yaml_parser_initialize(&r.p)) {
		fclose(f);
		return errf(err, errlen, "%s: out of memory", path);
	}
	yaml_parser_set_input_file(&r.p, f);
	int rc = 0;
	char keypath[1024] = "";
	bool done = false;
	while (!done && !rc) {
		yaml_event_t ev;
		if (next(&r, &ev)) {
			rc = -1;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_MAPPING_START_EVENT:
			rc = read_mapping(&r, c, keypath, 0);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length == 0)
				break; /* an empty file */
			/* fallthrough */
		default:
			rc = at(&r, &ev, "the top level must be a mapping of keys");
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&r.p);
	fclose(f);
	return rc;
}

int ccp_config_finish(struct ccp_config *c, char *err, size_t errlen)
{
	c->engine.sl_overrides = c->overrides;
	if (strncmp(c->redis_url, "redis://", 8))
		return errf(err, errlen, "redis.url=%s: must start with redis://", c->redis_url);
	if (!c->prefix[0] || strpbrk(c->prefix, " \t\r\n"))
		return errf(err, errlen, "prefix=\"%s\": must be non-empty, without spaces", c->prefix);
	ccp_tz_free(c->tz);
	c->tz = ccp_tz_load(c->timezone, err, errlen);
	if (!c->tz)
		return -1;
	c->engine.tz = c->tz;
	char e2[256];
	struct ccp_engine *probe = ccp_engine_new(&c->engine, e2, sizeof(e2));
	if (!probe)
		return errf(err, errlen, "%s", e2);
	ccp_engine_free(probe);
	return 0;
}

void ccp_config_release(struct ccp_config *c)
{
	ccp_tz_free(c->tz);
	c->tz = NULL;
	c->engine.tz = NULL;
}

/* Secrets: the password in a URL and any kafka.*password* / *secret*. */
static bool secret_name(const char *k)
{
	return strstr(k, "password") || strstr(k, "secret") || strstr(k, "sasl.oauthbearer.config");
}

static void print_redacted_url(FILE *f, const char *url)
{
	const char *at_ = strrchr(url, '@'), *scheme = strstr(url, "://");
	const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
	if (at_ && colon && colon < at_)
		fprintf(f, "%.*s:***%s", (int)(colon - url), url, at_);
	else
		fputs(url, f);
}

void ccp_config_print(const struct ccp_config *c, FILE *f)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		const char *p = (const char *)c + k->off;
		fprintf(f, "%s: ", k->name);
		if (k->type == T_DUR || k->type == T_INT) {
			int64_t v;
			memcpy(&v, p, sizeof(v));
			fprintf(f, k->type == T_DUR ? "%" PRId64 "ms\n" : "%" PRId64 "\n", v);
		} else if (k->type == T_U32) {
			uint32_t v;
			memcpy(&v, p, sizeof(v));
			fprintf(f, "%u\n", v);
		} else if (!strcmp(k->name, "redis.url")) {
			print_redacted_url(f, p);
			fputc('\n', f);
		} else {
			fprintf(f, "\"%s\"\n", p);
		}
	}
	fprintf(f, "windows:\n");
	for (uint32_t i = 0; i < c->engine.n_windows; i++)
		fprintf(f, "  - {name: %s, length: %" PRId64 "ms, bucket: %" PRId64 "ms}\n", c->engine.windows[i].name,
			c->engine.windows[i].length_ms, c->engine.windows[i].bucket_ms);
	for (uint32_t i = 0; i < c->engine.n_sl_overrides; i++)
		for (int ch = 0; ch < CCP_CH__COUNT; ch++)
			if (c->overrides[i].threshold_ms[ch])
				fprintf(f, "queues.%s.service_level.%s: %" PRId64 "ms\n", c->overrides[i].queue,
					ccp_channel_names[ch], c->overrides[i].threshold_ms[ch]);
	for (uint32_t i = 0; i < c->n_kafka; i++)
		fprintf(f, "kafka.%s: \"%s\"\n", c->kafka[i].key, secret_name(c->kafka[i].key) ? "***" : c->kafka[i].value);
}

void ccp_config_doc_markdown(FILE *f)
{
	fprintf(f, "| key | environment | default | range | meaning |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		char env[128] = "CCPULSE_";
		size_t n = 8;
		for (const char *p = k->name; *p && n < sizeof(env) - 1; p++)
			env[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
		env[n] = 0;
		char range[96] = "";
		if (k->type == T_DUR)
			snprintf(range, sizeof(range), "%" PRId64 "ms..%" PRId64 "ms", k->min, k->max);
		else if (k->type == T_INT || k->type == T_U32)
			snprintf(range, sizeof(range), "%" PRId64 "..%" PRId64, k->min, k->max);
		else if (k->type == T_ENUM)
			snprintf(range, sizeof(range), "%s", k->choices);
		fprintf(f, "| `%s` | `%s` | `%s` | %s | %s |\n", k->name, env, k->def, range, k->help);
	}
	fprintf(f, "| `windows` | | 5m/10s, 15m/10s, 1h/10s, 24h/5m | 1..16 | list of `{name, length, bucket}`; `today` is always there |\n");
	fprintf(f, "| `queues.<queue>.service_level.<channel>` | | the channel's threshold | 1ms..30d | answer target for one queue and channel |\n");
	fprintf(f, "| `kafka.<librdkafka key>` | | | | any other librdkafka setting, passed through unchanged |\n");
}
