/* Decoder choice by measurement: our hand-written decoder beside three
 * library decoders on the same events, one core, one run, with a memchr
 * line scan as the ceiling.
 *
 * Fairness: each library parses the whole message and pulls the same
 * fields into a struct ccp_event (type by name, ts as integer or string,
 * the string ids as slices or copies). The libraries do NOT run the
 * contract's checks (UTF-8 of ids, limits, RFC 3339, order of reasons),
 * which ours does, so their figures are upper bounds for a full decoder.
 *
 * usage: bench_decode [EVENTS (default 1000000)] */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "bench_events.h"
#include "ccpulse/decode.h"

#include <jsmn.h>

static int type_of(const char *s, size_t n)
{
	for (int t = 0; t < CCP_EV__COUNT; t++)
		if (strlen(ccp_event_type_names[t]) == n && !memcmp(ccp_event_type_names[t], s, n))
			return t;
	return -1;
}

typedef int (*decode_fn)(const char *line, size_t len, struct ccp_event *ev);

static struct ccp_decoder ours_dec;

static int ours(const char *line, size_t len, struct ccp_event *ev)
{
	return ccp_decode(&ours_dec, line, len, ev, NULL) == CCP_REJECT_NONE ? 0 : -1;
}

/* yajl's tree API needs a NUL-terminated copy of the line. */
static int yajl(const char *line, size_t len, struct ccp_event *ev)
{
	static char buf[8192];
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, line, len);
	buf[len] = 0;
	yajl_val root = yajl_tree_parse(buf, NULL, 0);
	if (!root || !YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < root->u.object.len; i++) {
		const char *k = root->u.object.keys[i];
		yajl_val v = root->u.object.values[i];
		if (!strcmp(k, "type") && YAJL_IS_STRING(v))
			ev->type = (enum ccp_event_type)type_of(v->u.string, strlen(v->u.string));
		else if (!strcmp(k, "ts"))
			ev->ts_ms = YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 1;
		else if (!strcmp(k, "id") && YAJL_IS_STRING(v))
			ev->id.len = (uint32_t)strlen(v->u.string);
		else if (!strcmp(k, "queue") && YAJL_IS_STRING(v))
			ev->queue.len = (uint32_t)strlen(v->u.string);
		else if (!strcmp(k, "contact") && YAJL_IS_STRING(v))
			ev->contact.len = (uint32_t)strlen(v->u.string);
	}
	yajl_tree_free(root);
	return rc;
}

static struct json_tokener *tok;

static int jsonc(const char *line, size_t len, struct ccp_event *ev)
{
	json_tokener_reset(tok);
	struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -1;
	}
	struct json_object *v;
	if (json_object_object_get_ex(o, "type", &v))
		ev->type = (enum ccp_event_type)type_of(json_object_get_string(v), (size_t)json_object_get_string_len(v));
	if (json_object_object_get_ex(o, "ts", &v))
		ev->ts_ms = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "id", &v))
		ev->id.len = (uint32_t)json_object_get_string_len(v);
	if (json_object_object_get_ex(o, "queue", &v))
		ev->queue.len = (uint32_t)json_object_get_string_len(v);
	if (json_object_object_get_ex(o, "contact", &v))
		ev->contact.len = (uint32_t)json_object_get_string_len(v);
	json_object_put(o);
	return 0;
}

/* jsmn tokenizes in place (no allocation); fields are then slices. */
static int jsmn(const char *line, size_t len, struct ccp_event *ev)
{
	jsmn_parser p;
	jsmntok_t t[128];
	jsmn_init(&p);
	int n = jsmn_parse(&p, line, len, t, 128);
	if (n < 1 || t[0].type != JSMN_OBJECT)
		return -1;
	for (int i = 1; i + 1 < n; i++) {
		if (t[i].type != JSMN_STRING || t[i].size != 1)
			continue;
		const char *k = line + t[i].start;
		int kl = t[i].end - t[i].start;
		jsmntok_t *v = &t[i + 1];
		if (kl == 4 && !memcmp(k, "type", 4))
			ev->type = (enum ccp_event_type)type_of(line + v->start, (size_t)(v->end - v->start));
		else if (kl == 2 && !memcmp(k, "ts", 2))
			ev->ts_ms = v->type == JSMN_PRIMITIVE ? strtoll(line + v->start, NULL, 10) : 1;
		else if (kl == 2 && !memcmp(k, "id", 2))
			ev->id = (struct ccp_str){line + v->start, (uint32_t)(v->end - v->start)};
		else if (kl == 5 && !memcmp(k, "queue", 5))
			ev->queue = (struct ccp_str){line + v->start, (uint32_t)(v->end - v->start)};
		else if (kl == 7 && !memcmp(k, "contact", 7))
			ev->contact = (struct ccp_str){line + v->start, (uint32_t)(v->end - v->start)};
	}
	return 0;
}

static double run(const struct bench_events *b, decode_fn fn, size_t *ok)
{
	static struct ccp_event ev;
	size_t good = 0;
	double t0 = bench_now_s();
	const char *p = b->buf, *end = b->buf + b->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (fn(p, (size_t)(nl - p), &ev) == 0)
			good++;
		p = nl + 1;
	}
	*ok = good;
	return bench_now_s() - t0;
}

static double scan(const struct bench_events *b, size_t *ok)
{
	double t0 = bench_now_s();
	size_t n = 0;
	for (const char *p = b->buf, *end = b->buf + b->len; p < end; n++)
		p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	*ok = n;
	return bench_now_s() - t0;
}

int main(int argc, char **argv)
{
	size_t want = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
	struct bench_events b;
	if (bench_events_make(&b, want, 50))
		return 1;
	ccp_decoder_init(&ours_dec);
	tok = json_tokener_new();
	static const struct {
		const char *name;
		decode_fn fn;
	} decoders[] = {{"ccpulse decode (full contract)", ours}, {"jsmn 1.1 (tokens, slices)", jsmn},
			{"json-c 0.16 (tokener)", jsonc}, {"yajl 2.1 (tree)", yajl}};
	double mb = (double)b.len / 1e6, n = (double)b.n, best_scan = 1e9;
	size_t ok;
	for (int r = 0; r < 3; r++) {
		double s = scan(&b, &ok);
		best_scan = s < best_scan ? s : best_scan;
	}
	printf("events: %zu, %.1f MB\n%-32s %12s %8s %8s\n", b.n, mb, "decoder (one core, best of 3)", "events/s",
	       "MB/s", "ratio");
	printf("%-32s %12.0f %8.0f %8s\n", "ceiling: memchr line scan", n / best_scan, mb / best_scan, "1.000");
	for (size_t d = 0; d < sizeof(decoders) / sizeof(decoders[0]); d++) {
		double best = 1e9;
		for (int r = 0; r < 3; r++) {
			double t = run(&b, decoders[d].fn, &ok);
			best = t < best ? t : best;
		}
		if (ok != b.n) {
			fprintf(stderr, "%s: %zu of %zu events failed\n", decoders[d].name, b.n - ok, b.n);
			return 1;
		}
		printf("%-32s %12.0f %8.0f %8.3f\n", decoders[d].name, n / best, mb / best, best_scan / best);
	}
	json_tokener_free(tok);
	free(b.buf);
	return 0;
}
