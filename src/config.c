/* Configuration loading (see include/ccpulse/config.h).
 *
 * One table, `keys[]`, declares every scalar key once: type, where it
 * lands, default, bounds, flag, an optional check, and help. The YAML
 * reader, the CCPULSE_* environment overrides, the flags, the printer and
 * the generated docs all go through it, so they cannot drift apart.
 * Structured keys (`windows`, `queues.*`, `kafka.*` pass-through) are
 * handled beside it.
 *
 * The YAML is read with libyaml's event parser, so every error can name
 * FILE:LINE:COL of the offending key or value. Messages never echo a secret
 * (the Redis URL is shown redacted).
 */
#include "ccpulse/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ccpulse/json_out.h"
#include "ccpulse/tz.h"

#define SEC ((int64_t)1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define MAX_BUCKETS 1000000 /* per window; the engine's limit */

enum ktype {
	T_STR,  /* char[size] */
	T_ENUM, /* char[size], one of `choices` */
	T_DUR,  /* int64_t ms, min..max */
	T_INT,  /* int64_t, min..max */
	T_U32,  /* uint32_t, min..max */
	T_RATIO, /* double 0..1, written 0.8 or 80% */
};

/* Extra validation of a key's text value; may fill derived fields. */
typedef int (*check_fn)(struct ccp_config *c, const char *v, char *err, size_t errlen);

/* One scalar key. Immutable table. */
struct key {
	const char *name;
	enum ktype type;
	size_t off, size;
	int64_t min, max;
	const char *def;
	const char *choices; /* T_ENUM: "a|b|c" */
	const char *flag;    /* command-line flag, or NULL */
	const char *arg;     /* the flag's value, for --help */
	check_fn check;
	bool secret_value; /* the value may hold a secret: shown redacted */
	bool secret_query; /* a URL whose query may hold a token: shown as ?*** */
	bool secret_whole; /* all of it is secret: shown as *** */
	const char *help;
};

static int check_redis_url(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_prefix(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_addr(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_nonempty(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_timezone(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_sl_variant(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_webhook_url(struct ccp_config *c, const char *v, char *err, size_t errlen);
static int check_wallboard_window(struct ccp_config *c, const char *v, char *err, size_t errlen);

#define OFF(f) .off = offsetof(struct ccp_config, f)
#define STR(f) OFF(f), .size = sizeof(((struct ccp_config *)0)->f)
#define THRESHOLD(ch, chname, d)                                                                         \
	{.name = "service_level.thresholds." chname, .type = T_DUR, OFF(engine.sl_threshold_ms[ch]), .min = 1, \
	 .max = 30 * DAY, .def = d, .help = "answer target for " chname " (service level)"}

static const struct key keys[] = {
	{.name = "kafka.brokers", .type = T_STR, STR(brokers), .def = "localhost:9092", .flag = "--brokers", .arg = "HOST:PORT[,...]",
	 .check = check_nonempty, .help = "Kafka bootstrap servers, HOST:PORT[,...]"},
	{.name = "kafka.topic", .type = T_STR, STR(topic), .def = "contact-events", .flag = "--topic", .arg = "TOPIC",
	 .check = check_nonempty, .help = "topic of contact, promise, survey and complaint events (keyed by queue)"},
	{.name = "kafka.agent_topic", .type = T_STR, STR(agent_topic), .def = "agent-events", .flag = "--agent-topic", .arg = "TOPIC",
	 .check = check_nonempty, .help = "topic of agent.state events, read whole by every instance"},
	{.name = "kafka.group", .type = T_STR, STR(group), .def = "ccpulse", .flag = "--group", .arg = "GROUP",
	 .check = check_nonempty, .help = "consumer group id"},
	{.name = "kafka.dead_letter_topic", .type = T_STR, STR(dead_letter_topic), .def = "",
	 .help = "where rejected events are copied, with the reason in a header; empty: off"},
	{.name = "redis.url", .type = T_STR, STR(redis_url), .def = "redis://127.0.0.1:6379/0", .flag = "--redis", .arg = "URL",
	 .check = check_redis_url, .secret_value = true,
	 .help = "redis://[[user]:password@]HOST[:PORT][/DB] or unix://[[user]:password@]/PATH[?db=DB]; user and password percent-encoded; the password is never printed"},
	{.name = "prefix", .type = T_STR, STR(prefix), .def = "ccpulse", .flag = "--prefix", .arg = "PREFIX", .check = check_prefix,
	 .help = "prefix of every Redis key"},
	{.name = "http.addr", .type = T_STR, STR(http_addr), .def = "127.0.0.1:8080", .flag = "--http", .arg = "HOST:PORT",
	 .check = check_addr, .help = "HOST:PORT of the HTTP server (metrics, health, wallboard); port 0: any free"},
	{.name = "publish_interval", .type = T_DUR, OFF(publish_interval_ms), .min = 50, .max = MIN, .def = "500ms",
	 .flag = "--publish-interval", .arg = "DURATION", .help = "how often figures are written to Redis"},
	{.name = "workers", .type = T_INT, OFF(workers), .min = 0, .max = 256, .def = "0",
	 .help = "worker threads; 0: one per core"},
	{.name = "idle_advance", .type = T_DUR, OFF(idle_advance_ms), .min = 0, .max = HOUR, .def = "2s",
	 .help = "live only: a partition with no event for this long follows the wall clock, so quiet queues drain; 0: never"},
	{.name = "checkpoint.interval", .type = T_DUR, OFF(checkpoint_interval_ms), .min = 100, .max = HOUR, .def = "5s",
	 .help = "how often each partition's state is saved to Redis with the offset it covers; a restart re-reads at most this much"},
	{.name = "minutes.stream_maxlen", .type = T_INT, OFF(minutes_stream_maxlen), .min = 100, .max = 1000000000,
	 .def = "100000", .help = "approximate cap of the closed-minutes stream ({prefix}:minutes; one entry per active queue per minute)"},
	{.name = "max_future_skew", .type = T_DUR, OFF(max_future_skew_ms), .min = 0, .max = 7 * DAY, .def = "5m",
	 .help = "live only: events further ahead of the wall clock are rejected (future_ts)"},
	{.name = "timezone", .type = T_STR, STR(timezone), .def = "UTC", .check = check_timezone,
	 .help = "IANA zone whose local midnight starts `today`"},
	{.name = "short_abandon", .type = T_DUR, OFF(engine.short_abandon_ms), .min = 0, .max = HOUR, .def = "5s",
	 .help = "abandons after a shorter wait count as abandoned_short"},
	{.name = "service_level.variant", .type = T_ENUM, STR(sl_variant), .def = "answered_abandoned",
	 .choices = "answered_abandoned|answered|offered|with_short_abandons", .check = check_sl_variant,
	 .help = "service level denominator: answered+abandoned, answered, offered, or answered+abandoned+abandoned_short"},
	THRESHOLD(CCP_CH_VOICE, "voice", "20s"),
	THRESHOLD(CCP_CH_CHAT, "chat", "60s"),
	THRESHOLD(CCP_CH_EMAIL, "email", "4h"),
	THRESHOLD(CCP_CH_SMS, "sms", "5m"),
	THRESHOLD(CCP_CH_SOCIAL, "social", "1h"),
	THRESHOLD(CCP_CH_VIDEO, "video", "20s"),
	{.name = "dedup.horizon", .type = T_DUR, OFF(engine.dedup_horizon_ms), .min = SEC, .max = 30 * DAY,
	 .def = "24h", .help = "how long event ids are remembered (event time)"},
	{.name = "dedup.max_ids", .type = T_U32, OFF(engine.dedup_max_ids), .min = 1000, .max = 1000000000,
	 .def = "4000000", .help = "at most this many ids per partition; the oldest go first"},
	{.name = "open_horizon", .type = T_DUR, OFF(engine.open_horizon_ms), .min = MIN, .max = 365 * DAY,
	 .def = "7d", .help = "open contacts, promises and complaints older than this are dropped (expired)"},
	{.name = "alerts.stream_maxlen", .type = T_INT, OFF(alerts_stream_maxlen), .min = 100, .max = 100000000,
	 .def = "10000", .help = "approximate cap of the alerts stream"},
	{.name = "alerts.webhook.url", .type = T_STR, STR(webhook_url), .def = "", .check = check_webhook_url,
	 .secret_value = true, .secret_query = true,
	 .help = "http(s) URL that gets each alert transition as a JSON POST (after Redis has it), retried with backoff; empty: off; never printed"},
	{.name = "alerts.webhook.format", .type = T_ENUM, STR(webhook_format), .def = "generic",
	 .choices = "generic|alertmanager",
	 .help = "body shape: generic ({\"source\":\"ccpulse\",\"alerts\":[...]}) or the Prometheus Alertmanager webhook payload"},
	{.name = "alerts.webhook.header", .type = T_STR, STR(webhook_header), .def = "", .secret_whole = true,
	 .help = "one extra request header, \"Name: value\" (e.g. Authorization: Bearer ...); never printed or logged"},
	{.name = "alerts.webhook.timeout", .type = T_DUR, OFF(webhook_timeout_ms), .min = 100, .max = MIN, .def = "5s",
	 .help = "one webhook attempt (connect, send, answer) at most this long"},
	{.name = "wallboard.window", .type = T_STR, STR(wallboard_window), .def = "15m", .check = check_wallboard_window,
	 .help = "window the wallboard and /api/queues show when the request names none; one of `windows` or today (if the default 15m is not configured: the first window)"},
	{.name = "wallboard.service_level_target", .type = T_RATIO, OFF(wallboard_sl_target), .def = "0.8",
	 .help = "service level target of the wallboard's colours: red below it, amber within 5 points above, green otherwise"},
	{.name = "log.level", .type = T_ENUM, STR(log_level), .def = "info", .choices = "debug|info|warn|error",
	 .help = "least severe level logged"},
	{.name = "log.format", .type = T_ENUM, STR(log_format), .def = "logfmt", .choices = "logfmt|json",
	 .help = "log line format (to stderr)"},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- small helpers ------------------------------------------------------ */

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void *cfg_realloc(struct ccp_config *c, void *p, size_t n)
{
	return c->alloc.realloc_fn ? c->alloc.realloc_fn(c->alloc.ud, p, n) : realloc(p, n);
}

static void cfg_free(struct ccp_config *c, void *p)
{
	if (c->alloc.free_fn)
		c->alloc.free_fn(c->alloc.ud, p);
	else
		free(p);
}

/* Makes room for one more entry of an array of `*cap` entries. */
static int grow(struct ccp_config *c, void **arr, uint32_t n, uint32_t *cap, size_t elem, uint32_t limit)
{
	if (n < *cap)
		return 0;
	if (n >= limit)
		return -1;
	uint32_t ncap = *cap ? *cap * 2 : 8;
	if (ncap > limit)
		ncap = limit;
	void *p = cfg_realloc(c, *arr, (size_t)ncap * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

int ccp_config_parse_duration(const char *s, int64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -1; /* no sign, no space */
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno)
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

/* The shortest exact spelling: 300000 -> "5m". */
static void format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct {
		int64_t mul;
		const char *unit;
	} units[] = {{DAY, "d"}, {HOUR, "h"}, {MIN, "m"}, {SEC, "s"}};
	for (size_t i = 0; ms && i < sizeof(units) / sizeof(units[0]); i++)
		if (ms % units[i].mul == 0) {
			snprintf(buf, len, "%" PRId64 "%s", ms / units[i].mul, units[i].unit);
			return;
		}
	snprintf(buf, len, "%" PRId64 "ms", ms);
}

/* A URL with its password replaced by "***", for messages and printing. */
static void redact_url(const char *url, char *out, size_t len)
{
	const char *scheme = strstr(url, "://");
	const char *auth = scheme ? scheme + 3 : url;
	const char *at = strrchr(auth, '@');
	const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon)
		snprintf(out, len, "%.*s:***%s", (int)(colon - url), url, at);
	else
		snprintf(out, len, "%s", url);
}

/* The value as it may appear in a message or a listing. */
static const char *shown(const struct key *k, const char *v, char *buf, size_t len)
{
	if (k->secret_whole && *v)
		return "***";
	if (!k->secret_value)
		return v;
	redact_url(v, buf, len);
	char *q = k->secret_query ? strchr(buf, '?') : NULL;
	if (q && (size_t)(q - buf) + 5 <= len)
		memcpy(q, "?***", 5);
	return buf;
}

static void env_name(const char *key, char *env, size_t len)
{
	size_t n = (size_t)snprintf(env, len, "CCPULSE_");
	for (const char *p = key; *p && n + 1 < len; p++)
		env[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	env[n] = 0;
}

/* ---- checks ------------------------------------------------------------- */

static int check_nonempty(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	(void)c;
	return v[0] ? 0 : errf(err, errlen, "must not be empty");
}

static int parse_port(const char *s, size_t n, uint32_t lo, uint16_t *out)
{
	if (!n || n > 5)
		return -1;
	uint32_t p = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		p = p * 10 + (uint32_t)(s[i] - '0');
	}
	if (p < lo || p > 65535)
		return -1;
	*out = (uint16_t)p;
	return 0;
}

/* HOST[:PORT] or [V6]:PORT into host and port; host must be non-empty. */
static int split_host_port(const char *s, size_t n, char *host, size_t hostlen, uint16_t *port, bool need_port,
			   uint32_t port_min)
{
	const char *hs = s, *he, *rest;
	if (n && s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb)
			return -1;
		hs = s + 1;
		he = rb;
		rest = rb + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		he = colon ? colon : s + n;
		rest = he;
	}
	size_t rl = (size_t)(s + n - rest);
	if (he == hs || (size_t)(he - hs) >= hostlen)
		return -1;
	for (const char *p = hs; p < he; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '@' || *p == '?' || *p == '#')
			return -1;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	if (!rl) {
		if (need_port)
			return -1;
		return 0;
	}
	if (rest[0] != ':')
		return -1;
	return parse_port(rest + 1, rl - 1, port_min, port);
}

/* One parser for Redis addresses (redis_url.h), shared with the sink. */
static int check_redis_url(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	struct ccp_redis_url u;
	if (ccp_redis_url_parse(&u, v, err, errlen))
		return -1;
	c->redis = u;
	return 0;
}

static int check_prefix(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	(void)c;
	if (!v[0])
		return errf(err, errlen, "must not be empty");
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return errf(err, errlen, "must not hold spaces or control characters");
	return 0;
}

static int check_webhook_url(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	(void)c;
	if (*v && strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
		return errf(err, errlen, "an http:// or https:// URL, or empty for none");
	return 0;
}

static int check_addr(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	(void)c;
	char host[256];
	uint16_t port;
	if (split_host_port(v, strlen(v), host, sizeof(host), &port, true, 0))
		return errf(err, errlen, "expected HOST:PORT (port 0..65535; [v6]:PORT)");
	return 0;
}

static int check_timezone(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	(void)c;
	char e2[256];
	struct ccp_tz *tz = ccp_tz_load(v, e2, sizeof(e2));
	if (!tz)
		return errf(err, errlen, "%s", e2);
	ccp_tz_free(tz); /* loaded for keeps by ccp_config_finish */
	return 0;
}

/* The name's spelling only; finish checks that the window exists. */
static int check_wallboard_window(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	size_t l = strlen(v);
	bool ok = l > 0 && l < CCP_WINDOW_NAME_MAX;
	for (size_t i = 0; ok && i < l; i++)
		ok = isalnum((unsigned char)v[i]) || v[i] == '_' || v[i] == '-';
	if (!ok)
		return errf(err, errlen, "must be a window name (1..%d of [A-Za-z0-9_-])", CCP_WINDOW_NAME_MAX - 1);
	c->_wallboard_window_set = true;
	return 0;
}

/* "0.8" or "80%" into 0..1. Returns 0 or -1. Pure. */
static int parse_ratio(const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (end == v || errno || d != d || isspace((unsigned char)v[0]))
		return -1;
	if (*end == '%') {
		d /= 100;
		end++;
	}
	if (*end || d < 0 || d > 1)
		return -1;
	*out = d;
	return 0;
}

static int check_sl_variant(struct ccp_config *c, const char *v, char *err, size_t errlen)
{
	for (int i = 0; i < CCP_SL__COUNT; i++)
		if (!strcmp(ccp_sl_variant_names[i], v)) {
			c->engine.sl_variant = (enum ccp_sl_variant)i;
			return 0;
		}
	return errf(err, errlen, "unknown variant");
}

/* ---- setting keys ------------------------------------------------------- */

static int set_key(struct ccp_config *c, const struct key *k, const char *v, bool run_check, char *err,
		   size_t errlen)
{
	char red[CCP_CONFIG_STR_MAX], e2[300];
	const char *sv = shown(k, v, red, sizeof(red));
	char *dst = (char *)c + k->off;
	switch (k->type) {
	case T_STR:
	case T_ENUM: {
		size_t n = strlen(v);
		if (n >= k->size)
			return errf(err, errlen, "%s: longer than %zu bytes", k->name, k->size - 1);
		if (k->type == T_ENUM) {
			bool ok = false;
			for (const char *p = k->choices; p && !ok;) {
				const char *bar = strchr(p, '|');
				size_t l = bar ? (size_t)(bar - p) : strlen(p);
				ok = l == n && !memcmp(p, v, n);
				p = bar ? bar + 1 : NULL;
			}
			if (!ok)
				return errf(err, errlen, "%s=%s: must be one of %s", k->name, sv, k->choices);
		}
		if (run_check && k->check && k->check(c, v, e2, sizeof(e2)))
			return errf(err, errlen, "%s=%s: %s", k->name, sv, e2);
		memcpy(dst, v, n + 1);
		return 0;
	}
	case T_DUR: {
		int64_t ms;
		char lo[32], hi[32];
		format_duration(k->min, lo, sizeof(lo));
		format_duration(k->max, hi, sizeof(hi));
		if (ccp_config_parse_duration(v, &ms))
			return errf(err, errlen, "%s=%s: not a duration (like 250ms, 10s, 5m, 1h, 7d or plain ms)", k->name,
				    v);
		if (ms < k->min || ms > k->max)
			return errf(err, errlen, "%s=%s: must be %s..%s", k->name, v, lo, hi);
		memcpy(dst, &ms, sizeof(ms));
		return 0;
	}
	case T_RATIO: {
		double d;
		if (parse_ratio(v, &d))
			return errf(err, errlen, "%s=%s: must be a ratio 0..1 (0.8) or a percentage (80%%)", k->name, v);
		memcpy(dst, &d, sizeof(d));
		return 0;
	}
	case T_INT:
	case T_U32: {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (end == v || *end || errno || isspace((unsigned char)v[0]))
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

/* Levenshtein distance (capped inputs), for "did you mean". */
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

static int set_kafka(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	const char *name = key + 6;
	uint32_t i = 0;
	while (i < c->n_kafka && strcmp(c->kafka[i].key, name))
		i++;
	if (strlen(name) >= sizeof(c->kafka[0].key) || strlen(value) >= sizeof(c->kafka[0].value))
		return errf(err, errlen, "%s: key longer than %zu or value longer than %zu bytes", key,
			    sizeof(c->kafka[0].key) - 1, sizeof(c->kafka[0].value) - 1);
	if (i == c->n_kafka) {
		void *arr = c->kafka;
		if (c->n_kafka >= CCP_CONFIG_MAX_KAFKA)
			return errf(err, errlen, "%s: more than %d kafka.* settings", key, CCP_CONFIG_MAX_KAFKA);
		if (grow(c, &arr, c->n_kafka, &c->_kafka_cap, sizeof(*c->kafka), CCP_CONFIG_MAX_KAFKA))
			return errf(err, errlen, "%s: out of memory", key);
		c->kafka = arr;
		c->n_kafka++;
	}
	snprintf(c->kafka[i].key, sizeof(c->kafka[i].key), "%s", name);
	snprintf(c->kafka[i].value, sizeof(c->kafka[i].value), "%s", value);
	return 0;
}

/* queues.<queue>.service_level.<channel>; the queue id may hold dots. */
static int set_override(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	static const char mid[] = ".service_level.";
	const char *tail = strrchr(key, '.');
	int ch = tail ? channel_index(tail + 1) : -1;
	const char *m = tail && (size_t)(tail - key) >= sizeof(mid) - 2 ? tail - (sizeof(mid) - 2) : NULL;
	if (ch < 0 || !m || m <= key + 7 || strncmp(m, mid, sizeof(mid) - 1))
		return errf(err, errlen, "%s: expected queues.<queue>.service_level.<voice|chat|email|sms|social|video>",
			    key);
	size_t ql = (size_t)(m - (key + 7));
	if (ql > CCP_ID_MAX_BYTES)
		return errf(err, errlen, "%s: queue id longer than %d bytes", key, CCP_ID_MAX_BYTES);
	int64_t ms;
	if (ccp_config_parse_duration(value, &ms) || ms < 1 || ms > 30 * DAY)
		return errf(err, errlen, "%s=%s: must be a duration 1ms..30d", key, value);
	uint32_t i = 0, n = c->engine.n_sl_overrides;
	while (i < n && (strlen(c->overrides[i].queue) != ql || memcmp(c->overrides[i].queue, key + 7, ql)))
		i++;
	if (i == n) {
		void *arr = c->overrides;
		if (n >= CCP_CONFIG_MAX_OVERRIDES)
			return errf(err, errlen, "%s: more than %d queues with thresholds", key, CCP_CONFIG_MAX_OVERRIDES);
		if (grow(c, &arr, n, &c->_overrides_cap, sizeof(*c->overrides), CCP_CONFIG_MAX_OVERRIDES))
			return errf(err, errlen, "%s: out of memory", key);
		c->overrides = arr;
		c->engine.sl_overrides = arr;
		memset(&c->overrides[i], 0, sizeof(c->overrides[i]));
		memcpy(c->overrides[i].queue, key + 7, ql);
		c->engine.n_sl_overrides++;
	}
	c->overrides[i].threshold_ms[ch] = ms;
	return 0;
}

#define UNKNOWN_KEY (-2)

/* As ccp_config_set, but tells an unknown key (UNKNOWN_KEY) from a bad
 * value (-1) so the reader can point at the key or at the value. */
static int set_path(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	if (k)
		return set_key(c, k, value, true, err, errlen);
	if (!strncmp(key, "kafka.", 6) && key[6])
		return set_kafka(c, key, value, err, errlen);
	if (!strncmp(key, "queues.", 7))
		return set_override(c, key, value, err, errlen);
	const char *best = NULL;
	size_t bd = 4;
	for (size_t i = 0; i < N_KEYS; i++) {
		size_t d = distance(key, keys[i].name);
		if (d < bd) {
			bd = d;
			best = keys[i].name;
		}
	}
	if (!best && !strcmp(key, "windows"))
		errf(err, errlen, "windows: expected a list of {name, length, bucket}");
	else if (best)
		errf(err, errlen, "%s: unknown key (did you mean %s?)", key, best);
	else
		errf(err, errlen, "%s: unknown key", key);
	return UNKNOWN_KEY;
}

int ccp_config_set(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	return set_path(c, key, value, err, errlen) ? -1 : 0;
}

void ccp_config_defaults(struct ccp_config *c)
{
	memset(c, 0, sizeof(*c));
	ccp_engine_config_defaults(&c->engine);
	char err[256];
	for (size_t i = 0; i < N_KEYS; i++) {
		set_key(c, &keys[i], keys[i].def, false, err, sizeof(err));
		if (keys[i].check == check_sl_variant || keys[i].check == check_redis_url)
			keys[i].check(c, keys[i].def, err, sizeof(err)); /* derived fields; no allocation */
	}
	c->engine.sl_overrides = NULL;
	c->engine.n_sl_overrides = 0;
	c->engine.tz = NULL;
}

void ccp_config_set_alloc(struct ccp_config *c, const struct ccp_config_alloc *a)
{
	c->alloc = *a;
}

int ccp_config_apply_env(struct ccp_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		char env[128];
		env_name(keys[i].name, env, sizeof(env));
		const char *v = getenv(env);
		if (!v)
			continue;
		char e2[400];
		if (set_key(c, &keys[i], v, true, e2, sizeof(e2)))
			return errf(err, errlen, "%s: %s", env, e2);
	}
	return 0;
}

int ccp_config_apply_flag(struct ccp_config *c, const char *flag, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].flag && !strcmp(keys[i].flag, flag)) {
			char e2[400];
			if (set_key(c, &keys[i], value, true, e2, sizeof(e2)))
				return errf(err, errlen, "%s: %s", flag, e2);
			return 0;
		}
	errf(err, errlen, "%s: unknown flag", flag);
	return CCP_CONFIG_NOT_A_FLAG;
}

bool ccp_config_is_flag(const char *flag)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].flag && !strcmp(keys[i].flag, flag))
			return true;
	return false;
}

void ccp_config_flags_usage(FILE *f)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].flag) {
			char both[64];
			snprintf(both, sizeof(both), "%s %s", keys[i].flag, keys[i].arg);
			fprintf(f, "  %-35s %s (default %s)\n", both, keys[i].name, keys[i].def);
		}
}

/* ---- YAML --------------------------------------------------------------- */

/* Reader state. Owner: the load call's stack. */
struct reader {
	yaml_parser_t p;
	const char *path;
	char *err;
	size_t errlen;
};

static int at(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int at(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...)
{
	int n = snprintf(r->err, r->errlen, "%s:%zu:%zu: ", r->path, mark->line + 1, mark->column + 1);
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
		if (r->p.error == YAML_MEMORY_ERROR)
			return errf(r->err, r->errlen, "%s: out of memory", r->path);
		return at(r, &r->p.problem_mark, "YAML syntax: %s%s%s", r->p.problem ? r->p.problem : "error",
			  r->p.context ? " " : "", r->p.context ? r->p.context : "");
	}
	return 0;
}

static const char *scalar(const yaml_event_t *ev)
{
	return (const char *)ev->data.scalar.value;
}

/* One `key: value` of windows[wi]; records which keys were seen and where
 * their values are (index 0 name, 1 length, 2 bucket). */
static int window_field(struct reader *r, struct ccp_window_def *w, uint32_t wi, const yaml_event_t *k,
			const yaml_event_t *v, bool *seen, yaml_mark_t *marks)
{
	const char *kn = scalar(k), *vv = scalar(v);
	if (!strcmp(kn, "name")) {
		size_t l = strlen(vv);
		bool ok = l > 0 && l < CCP_WINDOW_NAME_MAX && strcmp(vv, "live") && strcmp(vv, "today");
		for (size_t i = 0; ok && i < l; i++)
			ok = isalnum((unsigned char)vv[i]) || vv[i] == '_' || vv[i] == '-';
		if (!ok)
			return at(r, &v->start_mark, "windows[%u].name=%s: must be 1..%d of [A-Za-z0-9_-], not live or today",
				  wi, vv, CCP_WINDOW_NAME_MAX - 1);
		memcpy(w->name, vv, l + 1);
		seen[0] = true;
		marks[0] = v->start_mark;
		return 0;
	}
	bool len = !strcmp(kn, "length");
	if (!len && strcmp(kn, "bucket"))
		return at(r, &k->start_mark, "windows[%u].%s: unknown key (name, length, bucket)", wi, kn);
	int64_t ms, lo = SEC, hi = len ? 366 * DAY : HOUR;
	if (ccp_config_parse_duration(vv, &ms) || ms < lo || ms > hi)
		return at(r, &v->start_mark, "windows[%u].%s=%s: must be %s", wi, kn, vv, len ? "1s..366d" : "1s..1h");
	if (len)
		w->length_ms = ms;
	else
		w->bucket_ms = ms;
	seen[len ? 1 : 2] = true;
	marks[len ? 1 : 2] = v->start_mark;
	return 0;
}

/* Reads windows[wi] into w[wi]; w[0..wi) are the windows read before. */
static int read_window(struct reader *r, struct ccp_window_def *ws, uint32_t wi)
{
	struct ccp_window_def *w = &ws[wi];
	bool seen[3] = {false, false, false};
	yaml_mark_t marks[3];
	memset(w, 0, sizeof(*w));
	memset(marks, 0, sizeof(marks));
	for (;;) {
		yaml_event_t k, v;
		if (next(r, &k))
			return -1;
		if (k.type == YAML_MAPPING_END_EVENT) {
			int rc = 0;
			char l[32], b[32];
			format_duration(w->length_ms, l, sizeof(l));
			format_duration(w->bucket_ms, b, sizeof(b));
			if (!seen[0] || !seen[1] || !seen[2])
				rc = at(r, &k.start_mark, "windows[%u]: needs name, length and bucket", wi);
			else if (w->length_ms % w->bucket_ms)
				rc = at(r, &marks[1], "windows[%u].length=%s: must be a multiple of bucket (%s)", wi, l, b);
			else if (w->length_ms / w->bucket_ms > MAX_BUCKETS)
				rc = at(r, &marks[1], "windows[%u].length=%s: more than %d buckets of %s", wi, l, MAX_BUCKETS, b);
			for (uint32_t j = 0; !rc && j < wi; j++)
				if (!strcmp(ws[j].name, w->name))
					rc = at(r, &marks[0], "windows[%u].name=%s: used twice", wi, w->name);
			yaml_event_delete(&k);
			return rc;
		}
		if (next(r, &v)) {
			yaml_event_delete(&k);
			return -1;
		}
		int rc;
		if (k.type != YAML_SCALAR_EVENT || v.type != YAML_SCALAR_EVENT)
			rc = at(r, &k.start_mark, "windows[%u]: expected scalar `key: value` pairs", wi);
		else
			rc = window_field(r, w, wi, &k, &v, seen, marks);
		yaml_event_delete(&k);
		yaml_event_delete(&v);
		if (rc)
			return rc;
	}
}

static int read_windows(struct reader *r, struct ccp_config *c, const yaml_event_t *start)
{
	if (start->type != YAML_SEQUENCE_START_EVENT)
		return at(r, &start->start_mark, "windows: expected a list of {name, length, bucket}");
	struct ccp_window_def tmp[CCP_MAX_WINDOWS];
	uint32_t n = 0;
	for (;;) {
		yaml_event_t ev;
		if (next(r, &ev))
			return -1;
		int rc = 0;
		bool end = ev.type == YAML_SEQUENCE_END_EVENT;
		if (end && !n)
			rc = at(r, &start->start_mark, "windows: needs at least one window (`today` is always there)");
		else if (!end && n >= CCP_MAX_WINDOWS)
			rc = at(r, &ev.start_mark, "windows: at most %d", CCP_MAX_WINDOWS);
		else if (!end && ev.type != YAML_MAPPING_START_EVENT)
			rc = at(r, &ev.start_mark, "windows[%u]: expected {name, length, bucket}", n);
		yaml_event_delete(&ev);
		if (rc)
			return rc;
		if (end)
			break;
		if (read_window(r, tmp, n))
			return -1;
		n++;
	}
	/* The list replaces the defaults as a whole, and only once complete. */
	memcpy(c->engine.windows, tmp, sizeof(tmp[0]) * n);
	c->engine.n_windows = n;
	return 0;
}

/* ---- alerts.rules ---------------------------------------------------------- */

/* A rule's threshold in its kind's unit (alerts.h): a ratio ("80%" or
 * 0.8), a time ("2m", ms), a whole number, or a CSAT score (1..5). */
static int rule_number(enum ccp_alert_kind kind, const char *v, double *out)
{
	enum ccp_alert_unit u = ccp_alert_kind_unit(kind);
	if (u == CCP_ALERT_UNIT_MS) {
		int64_t ms;
		if (ccp_config_parse_duration(v, &ms))
			return -1;
		*out = (double)ms;
		return 0;
	}
	char *end;
	errno = 0;
	if (u == CCP_ALERT_UNIT_COUNT) {
		unsigned long long n = strtoull(v, &end, 10);
		if (!isdigit((unsigned char)v[0]) || *end || errno || n > 100000000)
			return -1;
		*out = (double)n;
		return 0;
	}
	double d = strtod(v, &end);
	if (end == v || errno || d != d)
		return -1;
	bool pct = *end == '%';
	if (pct) {
		d /= 100;
		end++;
	}
	if (*end)
		return -1;
	if (u == CCP_ALERT_UNIT_SCORE)
		return pct || d < 1 || d > 5 ? -1 : (*out = d, 0);
	if (d < 0 || d > 1)
		return -1;
	*out = d;
	return 0;
}

static const char *rule_unit(enum ccp_alert_kind kind)
{
	static const char *const text[] = {
		[CCP_ALERT_UNIT_RATIO] = "a ratio (0.8 or 80%)",
		[CCP_ALERT_UNIT_MS] = "a duration (90s, 2m)",
		[CCP_ALERT_UNIT_COUNT] = "a whole number",
		[CCP_ALERT_UNIT_SCORE] = "a score 1..5",
	};
	return text[ccp_alert_kind_unit(kind)];
}

/* `queues:` of a rule: a list of queue ids, or `all`. The pointer array and
 * the strings live in one block (rule->queues), freed with the config. */
static int rule_queues(struct reader *r, struct ccp_config *c, struct ccp_alert_rule *rule, uint32_t ri,
		       const yaml_event_t *v)
{
	if (v->type == YAML_SCALAR_EVENT) {
		if (strcmp(scalar(v), "all"))
			return at(r, &v->start_mark, "alerts.rules[%u].queues: a list of queue ids, or all", ri);
		rule->queues = NULL;
		rule->n_queues = 0;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_START_EVENT)
		return at(r, &v->start_mark, "alerts.rules[%u].queues: a list of queue ids, or all", ri);
	char *block = NULL;
	size_t used = 0;
	uint32_t n = 0;
	int rc = 0;
	for (;;) {
		yaml_event_t q;
		if (next(r, &q)) {
			rc = -1;
			break;
		}
		if (q.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&q);
			break;
		}
		size_t l = q.type == YAML_SCALAR_EVENT ? q.data.scalar.length : 0;
		if (q.type != YAML_SCALAR_EVENT || l < 1 || l > CCP_ID_MAX_BYTES || memchr(scalar(&q), 0, l))
			rc = at(r, &q.start_mark, "alerts.rules[%u].queues[%u]: a queue id of 1..%d bytes", ri, n,
				CCP_ID_MAX_BYTES);
		else if (n >= CCP_CONFIG_MAX_RULE_QUEUES)
			rc = at(r, &q.start_mark, "alerts.rules[%u].queues: at most %d", ri, CCP_CONFIG_MAX_RULE_QUEUES);
		char *nb = rc ? NULL : cfg_realloc(c, block, used + l + 1);
		if (!rc && !nb)
			rc = errf(r->err, r->errlen, "%s: out of memory", r->path);
		if (!rc) {
			block = nb;
			memcpy(block + used, scalar(&q), l + 1);
			used += l + 1;
			n++;
		}
		yaml_event_delete(&q);
		if (rc)
			break;
	}
	/* Pointers in front of the strings: one allocation to free. */
	char *all = rc ? NULL : cfg_realloc(c, NULL, n * sizeof(char *) + used + 1);
	if (!rc && !all)
		rc = errf(r->err, r->errlen, "%s: out of memory", r->path);
	if (!rc) {
		char **ptrs = (char **)(void *)all;
		char *strs = all + n * sizeof(char *);
		if (used)
			memcpy(strs, block, used);
		for (uint32_t i = 0, off = 0; i < n; i++) {
			ptrs[i] = strs + off;
			off += (uint32_t)strlen(strs + off) + 1;
		}
		rule->queues = (const char *const *)ptrs;
		rule->n_queues = n;
	}
	cfg_free(c, block);
	return rc;
}

/* One `key: value` of a rule; thresholds are kept as text until the kind
 * is known (the keys may come in any order). */
static int rule_field(struct reader *r, struct ccp_config *c, struct ccp_alert_rule *rule, uint32_t ri,
		      const yaml_event_t *k, const yaml_event_t *v, char thr[2][64], yaml_mark_t thr_mark[2],
		      unsigned *seen)
{
	const char *kn = scalar(k);
	if (!strcmp(kn, "queues"))
		return rule_queues(r, c, rule, ri, v);
	if (v->type != YAML_SCALAR_EVENT)
		return at(r, &v->start_mark, "alerts.rules[%u].%s: expected a value", ri, kn);
	const char *vv = scalar(v);
	size_t l = strlen(vv);
	if (!strcmp(kn, "name")) {
		bool ok = l > 0 && l < CCP_ALERT_NAME_MAX;
		for (size_t i = 0; ok && i < l; i++)
			ok = isalnum((unsigned char)vv[i]) || vv[i] == '_' || vv[i] == '-' || vv[i] == '.';
		if (!ok)
			return at(r, &v->start_mark, "alerts.rules[%u].name=%s: 1..%d of [A-Za-z0-9_.-]", ri, vv,
				  CCP_ALERT_NAME_MAX - 1);
		memcpy(rule->name, vv, l + 1);
		*seen |= 1;
	} else if (!strcmp(kn, "kind")) {
		int kind = -1;
		for (int i = 0; i < CCP_ALERT__COUNT; i++)
			if (!strcmp(vv, ccp_alert_kind_names[i]))
				kind = i;
		if (kind < 0) {
			char list[400] = "";
			for (int i = 0; i < CCP_ALERT__COUNT; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "|" : "",
					 ccp_alert_kind_names[i]);
			return at(r, &v->start_mark, "alerts.rules[%u].kind=%s: one of %s", ri, vv, list);
		}
		rule->kind = (enum ccp_alert_kind)kind;
		*seen |= 2;
	} else if (!strcmp(kn, "window")) {
		if (l < 1 || l >= sizeof(rule->window))
			return at(r, &v->start_mark, "alerts.rules[%u].window=%s: a window name", ri, vv);
		memcpy(rule->window, vv, l + 1);
		*seen |= 4;
	} else if (!strcmp(kn, "threshold") || !strcmp(kn, "clear")) {
		int i = kn[0] == 'c';
		if (l >= sizeof(thr[i]))
			return at(r, &v->start_mark, "alerts.rules[%u].%s: too long", ri, kn);
		memcpy(thr[i], vv, l + 1);
		thr_mark[i] = v->start_mark;
		*seen |= 8u << i;
	} else if (!strcmp(kn, "min_volume")) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(vv, &end, 10);
		if (!isdigit((unsigned char)vv[0]) || *end || errno || n > 100000000)
			return at(r, &v->start_mark, "alerts.rules[%u].min_volume=%s: a whole number", ri, vv);
		rule->min_volume = n;
	} else if (!strcmp(kn, "for")) {
		int64_t ms;
		if (ccp_config_parse_duration(vv, &ms) || ms > DAY)
			return at(r, &v->start_mark, "alerts.rules[%u].for=%s: a duration up to 1d", ri, vv);
		rule->for_ms = ms;
	} else {
		return at(r, &k->start_mark,
			  "alerts.rules[%u].%s: unknown key (name, kind, window, threshold, clear, min_volume, for, queues)",
			  ri, kn);
	}
	return 0;
}

/* Reads alerts.rules[ri] (its mapping start already read). */
static int read_alert_rule(struct reader *r, struct ccp_config *c, struct ccp_alert_rule *rule, uint32_t ri,
			   const yaml_mark_t *start)
{
	memset(rule, 0, sizeof(*rule));
	char thr[2][64] = {"", ""};
	yaml_mark_t thr_mark[2];
	memset(thr_mark, 0, sizeof(thr_mark));
	unsigned seen = 0;
	for (;;) {
		yaml_event_t k, v;
		if (next(r, &k))
			return -1;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			break;
		}
		if (next(r, &v)) {
			yaml_event_delete(&k);
			return -1;
		}
		int rc = k.type != YAML_SCALAR_EVENT ? at(r, &k.start_mark, "alerts.rules[%u]: expected a key", ri)
						     : rule_field(r, c, rule, ri, &k, &v, thr, thr_mark, &seen);
		yaml_event_delete(&k);
		yaml_event_delete(&v);
		if (rc)
			return rc;
	}
	bool needs_threshold = rule->kind != CCP_ALERT_PROMISE_OVERDUE;
	if ((seen & 3) != 3 || (needs_threshold && !(seen & 8)))
		return at(r, start, "alerts.rules[%u]: needs name, kind and threshold", ri);
	rule->clear = NAN;
	for (int i = 0; i < 2; i++) {
		if (!thr[i][0])
			continue;
		double d;
		if (rule_number(rule->kind, thr[i], &d))
			return at(r, &thr_mark[i], "alerts.rules[%u].%s=%s: must be %s for %s", ri, i ? "clear" : "threshold",
				  thr[i], rule_unit(rule->kind), ccp_alert_kind_names[rule->kind]);
		if (i)
			rule->clear = d;
		else
			rule->threshold = d;
	}
	if (!(seen & 4) && ccp_alert_kind_has_window(rule->kind))
		memcpy(rule->window, "15m", 4); /* the floor's usual horizon */
	return 0;
}

static void free_rules(struct ccp_config *c)
{
	for (uint32_t i = 0; i < c->n_alert_rules; i++)
		cfg_free(c, (void *)(uintptr_t)c->alert_rules[i].queues);
	cfg_free(c, c->alert_rules);
	c->alert_rules = NULL;
	c->n_alert_rules = c->_rules_cap = 0;
}

static int read_alert_rules(struct reader *r, struct ccp_config *c, const yaml_event_t *start)
{
	if (start->type != YAML_SEQUENCE_START_EVENT)
		return at(r, &start->start_mark, "alerts.rules: expected a list of rules");
	free_rules(c); /* the list replaces earlier ones as a whole */
	for (;;) {
		yaml_event_t ev;
		if (next(r, &ev))
			return -1;
		int rc = 0;
		bool end = ev.type == YAML_SEQUENCE_END_EVENT;
		uint32_t n = c->n_alert_rules;
		if (!end && ev.type != YAML_MAPPING_START_EVENT)
			rc = at(r, &ev.start_mark, "alerts.rules[%u]: expected a mapping", n);
		else if (!end) {
			void *arr = c->alert_rules;
			if (grow(c, &arr, n, &c->_rules_cap, sizeof(*c->alert_rules), CCP_CONFIG_MAX_ALERT_RULES))
				rc = at(r, &ev.start_mark, "alerts.rules: at most %d rules (or out of memory)",
					CCP_CONFIG_MAX_ALERT_RULES);
			else
				c->alert_rules = arr;
		}
		yaml_mark_t mark = ev.start_mark;
		yaml_event_delete(&ev);
		if (rc)
			return rc;
		if (end)
			return 0;
		/* Counted first, so a rule read halfway is freed with the rest. */
		memset(&c->alert_rules[n], 0, sizeof(c->alert_rules[n]));
		c->n_alert_rules++;
		if (read_alert_rule(r, c, &c->alert_rules[n], n, &mark))
			return -1;
		for (uint32_t j = 0; j < n; j++)
			if (!strcmp(c->alert_rules[j].name, c->alert_rules[n].name))
				return at(r, &mark, "alerts.rules[%u].name=%s: used twice", n, c->alert_rules[n].name);
	}
}

/* Reads a mapping whose keys extend `path` (dotted). */
static int read_mapping(struct reader *r, struct ccp_config *c, char *path, size_t plen, int depth)
{
	if (depth > 16)
		return errf(r->err, r->errlen, "%s: %s: nested too deep", r->path, path);
	for (;;) {
		yaml_event_t k;
		if (next(r, &k))
			return -1;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return 0;
		}
		if (k.type != YAML_SCALAR_EVENT) {
			int rc = at(r, &k.start_mark, "%s: expected a key", plen ? path : "(top level)");
			yaml_event_delete(&k);
			return rc;
		}
		size_t kl = k.data.scalar.length;
		if (plen + kl + 2 > 1024 || memchr(scalar(&k), 0, kl)) {
			int rc = at(r, &k.start_mark, "key too long or holding NUL");
			yaml_event_delete(&k);
			return rc;
		}
		size_t nl = plen;
		if (plen)
			path[nl++] = '.';
		memcpy(path + nl, scalar(&k), kl + 1);
		nl += kl;
		yaml_event_t v;
		if (next(r, &v)) {
			yaml_event_delete(&k);
			return -1;
		}
		int rc = 0;
		if (!strcmp(path, "windows")) {
			rc = read_windows(r, c, &v);
		} else if (!strcmp(path, "alerts.rules")) {
			rc = read_alert_rules(r, c, &v);
		} else if (v.type == YAML_MAPPING_START_EVENT) {
			rc = read_mapping(r, c, path, nl, depth + 1);
		} else if (v.type == YAML_SCALAR_EVENT) {
			char e2[600];
			if (memchr(scalar(&v), 0, v.data.scalar.length))
				rc = at(r, &v.start_mark, "%s: value holds a NUL byte", path);
			else {
				int s = set_path(c, path, scalar(&v), e2, sizeof(e2));
				if (s)
					rc = at(r, s == UNKNOWN_KEY ? &k.start_mark : &v.start_mark, "%s", e2);
			}
		} else if (v.type == YAML_ALIAS_EVENT) {
			rc = at(r, &v.start_mark, "%s: YAML aliases (*name) are not supported", path);
		} else {
			rc = at(r, &v.start_mark, "%s: expected a value or a mapping", path);
		}
		yaml_event_delete(&k);
		yaml_event_delete(&v);
		path[plen] = 0;
		if (rc)
			return rc;
	}
}

static int read_stream(struct reader *r, struct ccp_config *c)
{
	char keypath[1024] = "";
	for (;;) {
		yaml_event_t ev;
		if (next(r, &ev))
			return -1;
		int rc = 0;
		bool done = false;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_MAPPING_START_EVENT:
			rc = read_mapping(r, c, keypath, 0, 0);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length == 0)
				break; /* an empty document */
			/* fallthrough */
		default:
			rc = at(r, &ev.start_mark, "the top level must be a mapping of keys");
			break;
		}
		yaml_event_delete(&ev);
		if (rc || done)
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
	int rc = read_stream(&r, c);
	if (!rc && ferror(f))
		rc = errf(err, errlen, "%s: read error", path);
	yaml_parser_delete(&r.p);
	fclose(f);
	return rc;
}

int ccp_config_load_buffer(struct ccp_config *c, const char *name, const char *yaml, size_t len, char *err,
			   size_t errlen)
{
	struct reader r = {.path = name, .err = err, .errlen = errlen};
	if (!yaml_parser_initialize(&r.p))
		return errf(err, errlen, "%s: out of memory", name);
	yaml_parser_set_input_string(&r.p, (const unsigned char *)yaml, len);
	int rc = read_stream(&r, c);
	yaml_parser_delete(&r.p);
	return rc;
}

/* ---- finish, free ------------------------------------------------------- */

int ccp_config_finish(struct ccp_config *c, char *err, size_t errlen)
{
	c->engine.sl_overrides = c->overrides;
	ccp_tz_free(c->tz);
	c->tz = ccp_tz_load(c->timezone, err, errlen);
	c->engine.tz = c->tz;
	if (!c->tz)
		return -1;
	char e2[256];
	struct ccp_engine *probe = ccp_engine_new(&c->engine, e2, sizeof(e2));
	if (!probe)
		return errf(err, errlen, "%s", e2);
	/* Rules name windows: check them against the engine's. */
	const char *names[CCP_MAX_WINDOWS + 1];
	for (uint32_t w = 0; w < c->engine.n_windows; w++)
		names[w] = c->engine.windows[w].name;
	names[c->engine.n_windows] = "today";
	struct ccp_alerts *a = ccp_alerts_new(c->alert_rules, c->n_alert_rules, names, c->engine.n_windows + 1, e2,
					      sizeof(e2));
	ccp_engine_free(probe);
	if (!a)
		return errf(err, errlen, "%s", e2);
	ccp_alerts_free(a);
	/* The wallboard's window must be one of them. The default (15m) gives
	 * way to the first window when a config has no 15m; a window the
	 * config names itself must exist. */
	bool found = false;
	char list[CCP_MAX_WINDOWS * (CCP_WINDOW_NAME_MAX + 2) + 8];
	size_t ll = 0;
	for (uint32_t w = 0; w <= c->engine.n_windows; w++) {
		found |= !strcmp(names[w], c->wallboard_window);
		ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s", w ? ", " : "", names[w]);
	}
	if (!found && c->_wallboard_window_set)
		return errf(err, errlen, "wallboard.window=%s: not a configured window (%s)", c->wallboard_window, list);
	if (!found)
		snprintf(c->wallboard_window, sizeof(c->wallboard_window), "%s", names[0]);
	return 0;
}

void ccp_config_free(struct ccp_config *c)
{
	ccp_tz_free(c->tz);
	c->tz = NULL;
	c->engine.tz = NULL;
	cfg_free(c, c->kafka);
	c->kafka = NULL;
	c->n_kafka = c->_kafka_cap = 0;
	cfg_free(c, c->overrides);
	c->overrides = NULL;
	c->engine.sl_overrides = NULL;
	c->engine.n_sl_overrides = c->_overrides_cap = 0;
	free_rules(c);
}

/* ---- printing ----------------------------------------------------------- */

/* kafka.* settings whose values are secrets (librdkafka's names). */
static bool secret_kafka_key(const char *k)
{
	return strstr(k, "password") || strstr(k, "secret") || strstr(k, "key.pem") || strstr(k, "ssl_key") ||
	       strstr(k, "oauthbearer.config");
}

/* A YAML double-quoted scalar (JSON string syntax is valid YAML). */
static void put_quoted(FILE *f, const char *s)
{
	char buf[4 * CCP_CONFIG_STR_MAX];
	ccp_json_escape(buf, sizeof(buf), s, strlen(s));
	fprintf(f, "\"%s\"", buf);
}

static bool plain_key(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

void ccp_config_print(const struct ccp_config *c, FILE *f)
{
	char b[CCP_CONFIG_STR_MAX];
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		const char *p = (const char *)c + k->off;
		fprintf(f, "%s: ", k->name);
		if (k->type == T_DUR) {
			int64_t v;
			memcpy(&v, p, sizeof(v));
			format_duration(v, b, sizeof(b));
			fprintf(f, "%s\n", b);
		} else if (k->type == T_INT) {
			int64_t v;
			memcpy(&v, p, sizeof(v));
			fprintf(f, "%" PRId64 "\n", v);
		} else if (k->type == T_U32) {
			uint32_t v;
			memcpy(&v, p, sizeof(v));
			fprintf(f, "%" PRIu32 "\n", v);
		} else if (k->type == T_RATIO) {
			double v;
			memcpy(&v, p, sizeof(v));
			fprintf(f, "%.10g\n", v);
		} else {
			put_quoted(f, shown(k, p, b, sizeof(b)));
			fputc('\n', f);
		}
	}
	fprintf(f, "windows:\n");
	for (uint32_t i = 0; i < c->engine.n_windows; i++) {
		char l[32], g[32];
		format_duration(c->engine.windows[i].length_ms, l, sizeof(l));
		format_duration(c->engine.windows[i].bucket_ms, g, sizeof(g));
		fprintf(f, "  - {name: \"%s\", length: %s, bucket: %s}\n", c->engine.windows[i].name, l, g);
	}
	for (uint32_t i = 0; i < c->engine.n_sl_overrides; i++)
		for (int ch = 0; ch < CCP_CH__COUNT; ch++) {
			if (!c->overrides[i].threshold_ms[ch])
				continue;
			char key[CCP_ID_MAX_BYTES + 64];
			snprintf(key, sizeof(key), "queues.%s.service_level.%s", c->overrides[i].queue, ccp_channel_names[ch]);
			format_duration(c->overrides[i].threshold_ms[ch], b, sizeof(b));
			if (plain_key(key))
				fputs(key, f);
			else
				put_quoted(f, key);
			fprintf(f, ": %s\n", b);
		}
	if (c->n_alert_rules)
		fprintf(f, "alerts.rules:\n");
	for (uint32_t i = 0; i < c->n_alert_rules; i++) {
		const struct ccp_alert_rule *r = &c->alert_rules[i];
		fprintf(f, "  - {name: ");
		put_quoted(f, r->name);
		fprintf(f, ", kind: %s", ccp_alert_kind_names[r->kind]);
		if (r->window[0]) {
			fprintf(f, ", window: ");
			put_quoted(f, r->window);
		}
		for (int k = 0; k < 2; k++) {
			double v = k ? r->clear : r->threshold;
			if (k && isnan(v))
				continue;
			char num[48];
			if (ccp_alert_kind_unit(r->kind) == CCP_ALERT_UNIT_MS)
				format_duration((int64_t)v, num, sizeof(num));
			else
				snprintf(num, sizeof(num), "%.10g", v);
			fprintf(f, ", %s: %s", k ? "clear" : "threshold", num);
		}
		format_duration(r->for_ms, b, sizeof(b));
		fprintf(f, ", min_volume: %" PRIu64 ", for: %s, queues: ", r->min_volume, b);
		if (!r->n_queues)
			fputs("all", f);
		for (uint32_t q = 0; q < r->n_queues; q++) {
			fputs(q ? ", " : "[", f);
			put_quoted(f, r->queues[q]);
		}
		fputs(r->n_queues ? "]}\n" : "}\n", f);
	}
	for (uint32_t i = 0; i < c->n_kafka; i++) {
		char key[160];
		snprintf(key, sizeof(key), "kafka.%s", c->kafka[i].key);
		if (plain_key(key))
			fputs(key, f);
		else
			put_quoted(f, key);
		fputs(": ", f);
		put_quoted(f, secret_kafka_key(c->kafka[i].key) ? "***" : c->kafka[i].value);
		fputc('\n', f);
	}
}

void ccp_config_doc_markdown(FILE *f)
{
	fprintf(f, "# Configuration keys\n\n"
		   "Generated by `ccpulse config-doc` from the key table in src/config.c; a unit test fails when\n"
		   "this file is out of date. Precedence: defaults < YAML file (`-c FILE`) < environment\n"
		   "(`CCPULSE_<KEY>`) < flags. Durations are written `250ms`, `10s`, `5m`, `1h`, `7d` or as\n"
		   "plain milliseconds. Unknown keys are errors.\n\n");
	fprintf(f, "| key | environment | flag | default | range | meaning |\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &keys[i];
		char env[128], range[96] = "", flag[40] = "";
		env_name(k->name, env, sizeof(env));
		if (k->flag)
			snprintf(flag, sizeof(flag), "`%s`", k->flag);
		if (k->type == T_DUR) {
			char lo[32], hi[32];
			format_duration(k->min, lo, sizeof(lo));
			format_duration(k->max, hi, sizeof(hi));
			snprintf(range, sizeof(range), "%s..%s", lo, hi);
		} else if (k->type == T_INT || k->type == T_U32) {
			snprintf(range, sizeof(range), "%" PRId64 "..%" PRId64, k->min, k->max);
		} else if (k->type == T_RATIO) {
			snprintf(range, sizeof(range), "0..1 (or 0%%..100%%)");
		} else if (k->type == T_ENUM) {
			size_t n = 0;
			for (const char *p = k->choices; *p && n + 3 < sizeof(range); p++) {
				if (*p == '|') {
					memcpy(range + n, ", ", 2);
					n += 2;
				} else
					range[n++] = *p;
			}
			range[n] = 0;
		}
		fprintf(f, "| `%s` | `%s` | %s | `%s` | %s | %s |\n", k->name, env, flag, k->def, range, k->help);
	}
	fprintf(f, "| `windows` | | | 5m/10s, 15m/10s, 1h/10s, 24h/5m | 1..%d windows; bucket 1s..1h; length a multiple of bucket, at most %d buckets | list of `{name, length, bucket}`; names of [A-Za-z0-9_-], unique, not `live` or `today` (`today` is always there) |\n",
		CCP_MAX_WINDOWS, MAX_BUCKETS);
	fprintf(f, "| `queues.<queue>.service_level.<channel>` | | | the channel's threshold | 1ms..30d | answer target for one queue and channel |\n");
	fprintf(f, "| `kafka.<librdkafka key>` | | | | | any other librdkafka setting, passed through unchanged in file order; values of keys naming a password or secret are never printed |\n");
}
