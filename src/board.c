/* The wallboard's data and routes (design notes in include/ccpulse/board.h).
 *
 * Reading guide. A read is one EVALSHA of READ_SCRIPT below on the board's
 * own Redis connection. Its answer is a flat array of bulk strings (the
 * sink hands arrays over element by element, and Redis turns a Lua number
 * into an integer reply, so everything is a string):
 *
 *   [0] "2" (layout version)   [1] ZCARD of the overdue set
 *   [2] alerts A               [3] windows W (as asked, in order)
 *   then A pairs: alert queue ("" if none), alert object (JSON)
 *   then the total's live hash and its W window hashes
 *   then per queue (SMEMBERS order): id, its live hash, its W window hashes
 *
 * where a hash is its field count N, then N field, value pairs: HGETALL's
 * answer as it is. The script only gathers; the board turns each hash into
 * a JSON object once per read (values that are numbers become JSON
 * numbers, the rest is left out), sorts, and assembles documents from
 * those objects. Doing the conversion in Lua cost ~4 us a field in Redis's
 * single thread (470 ms a read for 500 queues and five windows); here it
 * is a fraction of that and off Redis. Sorting is here too, by bytes: Lua
 * compares strings with strcoll, which follows the server's locale.
 *
 * Ownership: the board owns its results; a result is shared by the window
 * slots that point at it (refs) and freed when the last one moves on.
 */
#include "ccpulse/board.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "board_page.h"
#include "ccpulse/config.h"
#include "ccpulse/event.h"
#include "ccpulse/http.h"
#include "ccpulse/json_out.h"
#include "ccpulse/log.h"
#include "ccpulse/sink_redis.h"

#define PATH_PAGE "/"
#define PATH_QUEUES "/api/queues"
#define PATH_STREAM "/api/stream"
#define N_WIN_MAX (CCP_MAX_WINDOWS + 1) /* configured windows and today */
#define MAX_FILTER_IDS 256              /* queue ids in one ?queues= */
#define MAX_QUERY_BYTES (MAX_FILTER_IDS * (CCP_ID_MAX_BYTES + 1))
#define MAX_WATCHES 64                  /* distinct stream tags (window + filter) */
#define LAYOUT_VERSION "2"

/* Gathers the center in one call. pcall keeps a wrong-typed key from
 * failing the whole read (it reads as an empty hash). The alert values
 * are JSON written by the alerting code: decoded and encoded again, so
 * only valid JSON reaches a client and the queue is known. */
static const char READ_SCRIPT[] =
	"local p = ARGV[1]\n"
	"local out = {'" LAYOUT_VERSION "', '0', '0', tostring(#ARGV - 1)}\n"
	"local function hash(key)\n"
	"  local h = redis.pcall('HGETALL', key)\n"
	"  if type(h) ~= 'table' or h.err then h = {} end\n"
	"  local n = #out\n"
	"  out[n + 1] = tostring(#h / 2)\n"
	"  for i = 1, #h do out[n + 1 + i] = h[i] end\n"
	"end\n"
	"local z = redis.pcall('ZCARD', p .. ':promises:overdue')\n"
	"if type(z) == 'number' then out[2] = tostring(z) end\n"
	"local hv = redis.pcall('HVALS', p .. ':state:firing')\n"
	"local na = 0\n"
	"if type(hv) == 'table' and not hv.err then\n"
	"  for _, v in ipairs(hv) do\n"
	"    local ok, a = pcall(cjson.decode, v)\n"
	"    if ok and type(a) == 'table' then\n"
	"      out[#out + 1] = type(a.queue) == 'string' and a.queue or ''\n"
	"      out[#out + 1] = cjson.encode(a)\n"
	"      na = na + 1\n"
	"    end\n"
	"  end\n"
	"end\n"
	"out[3] = tostring(na)\n"
	"hash(p .. ':total:live')\n"
	"for i = 2, #ARGV do hash(p .. ':total:' .. ARGV[i]) end\n"
	"local qs = redis.pcall('SMEMBERS', p .. ':queues')\n"
	"if type(qs) ~= 'table' or qs.err then qs = {} end\n"
	"for _, q in ipairs(qs) do\n"
	"  out[#out + 1] = q\n"
	"  hash(p .. ':q:' .. q .. ':live')\n"
	"  for i = 2, #ARGV do hash(p .. ':q:' .. q .. ':' .. ARGV[i]) end\n"
	"end\n"
	"return out\n";

/* A growable byte buffer (malloc). Owner: whoever embeds it; loop thread. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* A slice of a result's arena (borrowed: lives as long as the result).
 * Loop thread. */
struct slice {
	const char *p;
	size_t len;
};

/* A queue of a result: its id and where its objects are in `el` (the
 * live object, then one per window of the read). Owner: its result; loop
 * thread. */
struct qref {
	struct slice id;
	size_t base; /* index in `el` of its live object */
};

/* A firing alert: its queue ("" when center-wide) and its object.
 * Owner: its result; loop thread. */
struct aref {
	struct slice queue, json;
};

/* One read's answer as JSON pieces. `el` holds the objects: [0] the
 * total's live one, [1 + w] its window w, then each queue's (qref.base).
 * Owner: the board; shared by the window slots pointing at it (refs),
 * freed when the last one lets go. Loop thread. */
struct result {
	int refs;
	char *arena; /* all the text; slices point into it */
	struct slice *el;
	size_t n_el;
	uint32_t nwin;
	int64_t overdue;
	struct aref *alerts;
	uint32_t n_alerts;
	struct qref *queues; /* sorted by id, bytewise */
	uint32_t n_queues;
	uint64_t done_ms; /* uv_now when it arrived */
};

/* A window's last snapshot: the result it came from (one reference) and
 * its place there. Owner: the board; loop thread. */
struct slot {
	struct result *r;
	uint32_t widx;
};

/* A queue filter (?queues=a,b): ids sorted and unique, slices into
 * `text`. Owner: whoever embeds it (a request's frame, or a watch); loop
 * thread. */
struct filter {
	char *text;
	struct slice *ids;
	uint32_t n;
};

/* The tag of one or more open event streams: a window and a filter.
 * Owner: the board; loop thread; dropped when its streams are gone. */
struct watch {
	char *tag;
	uint32_t win;
	struct filter f;
};

/* The board. Owner: whoever made it (ops); every field is touched on the
 * loop thread only; lives from ccp_board_new() to the close callback. */
struct ccp_board {
	uv_loop_t *loop;
	struct ccp_board_opts o;
	const struct ccp_config *cfg;
	struct ccp_http *http;
	struct ccp_sink_redis *sink;
	int script;
	uv_timer_t tick;
	uint64_t interval_ms;
	char names[N_WIN_MAX][CCP_WINDOW_NAME_MAX];
	uint32_t n_names;
	uint32_t def_win;
	struct buf windows_json; /* ["5m","15m",...] */
	char target_text[32];    /* the service level target as JSON */
	struct slot slots[N_WIN_MAX];
	uint64_t looked_ms[N_WIN_MAX]; /* uv_now of the last request naming it; 0: never */
	struct watch watches[MAX_WATCHES];
	uint32_t n_watches;
	bool reading;
	uint64_t read_started_ms, read_started_us;
	uint32_t read_wins[N_WIN_MAX];
	uint32_t read_nwin;
	bool read_failed;  /* the last read was refused or malformed */
	bool connected;
	char error[400];   /* why redis_ok is false, for the document */
	char *qtext;       /* decoded ?queues=, MAX_QUERY_BYTES + 1 */
	struct buf doc;    /* documents are built here */
	struct ccp_board_stats st;
	bool closing;
	int closes_pending;
	void (*close_cb)(void *ud);
	void *close_ud;
};

/* ---- buffers ---------------------------------------------------------------- */

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->oom || !n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string of any bytes (escaped; invalid UTF-8 becomes U+FFFD). */
static void buf_json_str(struct buf *b, const char *s, size_t len)
{
	buf_add(b, "\"", 1);
	char stack[512];
	size_t need = ccp_json_escape(stack, sizeof(stack), s, len);
	if (need < sizeof(stack)) {
		buf_add(b, stack, need);
	} else {
		char *heap = malloc(need + 1);
		if (!heap) {
			b->oom = true;
			return;
		}
		ccp_json_escape(heap, need + 1, s, len);
		buf_add(b, heap, need);
		free(heap);
	}
	buf_add(b, "\"", 1);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

/* ---- results ------------------------------------------------------------------ */

static void result_unref(struct result *r)
{
	if (!r || --r->refs > 0)
		return;
	free(r->arena);
	free(r->el);
	free(r->alerts);
	free(r->queues);
	free(r);
}

static int slice_cmp(const struct slice *a, const struct slice *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int qref_cmp(const void *a, const void *b)
{
	return slice_cmp(&((const struct qref *)a)->id, &((const struct qref *)b)->id);
}

static int aref_cmp(const void *a, const void *b)
{
	const struct aref *x = a, *y = b;
	int c = slice_cmp(&x->queue, &y->queue);
	return c ? c : slice_cmp(&x->json, &y->json);
}

static int scmp(const void *a, const void *b)
{
	return slice_cmp(a, b);
}

/* A decimal count of the reply. -1 if it is not one. */
static int64_t reply_count(const char *p, size_t len)
{
	if (!p || !len || len > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* True if `p` is a JSON number exactly (RFC 8259's grammar). */
static bool json_number(const char *p, size_t n)
{
	size_t i = 0;
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return false;
	if (i < n && p[i] == '.') {
		size_t d = ++i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* A hash value as a JSON number: its own text when that is one, else
 * what strtod reads from the whole of it when finite ("+5", "007"),
 * else nothing (the field is left out). Returns the length written to
 * `out` (cap 32), 0 for nothing. */
static size_t number_text(const char *p, size_t n, char *out)
{
	if (n && n < 32 && json_number(p, n)) {
		memcpy(out, p, n);
		return n;
	}
	char tmp[64];
	if (!n || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, p, n);
	tmp[n] = 0;
	char *end;
	double d = strtod(tmp, &end);
	if (*end || end == tmp || d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
		return 0;
	int w = snprintf(out, 32, "%.17g", d);
	return w > 0 && w < 32 ? (size_t)w : 0;
}

/* A field name as a JSON string: copied when it needs no escape (the
 * contract's names never do), escaped otherwise. */
static void buf_key(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			buf_json_str(b, s, len);
			return;
		}
	}
	buf_add(b, "\"", 1);
	buf_add(b, s, len);
	buf_add(b, "\"", 1);
}

/* Where a piece of the arena is while it still grows (offsets survive
 * its reallocs). Owner: result_parse's frame. */
struct span {
	size_t off, len;
};

/* The hash at vals[*i] (count, then pairs) as a JSON object appended to
 * `a`; its place in *out. False if the reply is shorter than it says. */
static bool hash_object(struct buf *a, size_t n, const char *const *vals, const size_t *lens, size_t *i,
			struct span *out)
{
	if (*i >= n)
		return false;
	int64_t nf = reply_count(vals[*i], lens[*i]);
	if (nf < 0 || (size_t)nf > (n - *i - 1) / 2)
		return false;
	size_t at = a->len;
	buf_add(a, "{", 1);
	bool first = true;
	for (size_t f = 0, k = *i + 1; f < (size_t)nf; f++, k += 2) {
		char num[32];
		size_t nl = number_text(vals[k + 1], lens[k + 1], num);
		if (!nl)
			continue;
		if (!first)
			buf_add(a, ",", 1);
		first = false;
		buf_key(a, vals[k], lens[k]);
		buf_add(a, ":", 1);
		buf_add(a, num, nl);
	}
	buf_add(a, "}", 1);
	*out = (struct span){at, a->len - at};
	*i += 1 + 2 * (size_t)nf;
	return true;
}

/* Converts and indexes a reply. NULL with `err` set if its layout is not
 * the one READ_SCRIPT makes (or out of memory). */
static struct result *result_parse(uint32_t nwin, size_t n, const char *const *vals, const size_t *lens, char *err,
				   size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (!vals[i]) {
			snprintf(err, errlen, "board read: value %zu is not a string", i);
			return NULL;
		}
	int64_t overdue = n > 3 ? reply_count(vals[1], lens[1]) : -1, na = n > 3 ? reply_count(vals[2], lens[2]) : -1,
		nw = n > 3 ? reply_count(vals[3], lens[3]) : -1;
	if (n < 4 || lens[0] != 1 || vals[0][0] != LAYOUT_VERSION[0] || overdue < 0 || na < 0 ||
	    nw != (int64_t)nwin || 4 + 2 * (size_t)na > n) {
		snprintf(err, errlen, "board read: unexpected reply layout (%zu values)", n);
		return NULL;
	}
	struct result *r = calloc(1, sizeof(*r));
	struct buf a = {0};
	struct span *sp = NULL, *qid = NULL, *al = NULL;
	size_t nsp = 0, cap = 1 + nwin, nq = 0, qcap = 0;
	bool ok = r && (sp = malloc(cap * sizeof(*sp))) && (al = malloc(2 * ((size_t)na + 1) * sizeof(*al)));
	size_t i = 4;
	/* Alerts: copied as they are (the script made them). */
	for (int64_t k = 0; ok && k < na; k++, i += 2) {
		al[2 * k] = (struct span){a.len, lens[i]};
		buf_add(&a, vals[i], lens[i]);
		al[2 * k + 1] = (struct span){a.len, lens[i + 1]};
		buf_add(&a, vals[i + 1], lens[i + 1]);
	}
	for (uint32_t w = 0; ok && w <= nwin; w++)
		ok = hash_object(&a, n, vals, lens, &i, &sp[nsp++]);
	while (ok && i < n) {
		if (nsp + 1 + nwin > cap) {
			cap = 2 * cap + 1 + nwin;
			struct span *g = realloc(sp, cap * sizeof(*sp));
			ok = g != NULL;
			if (!ok)
				break;
			sp = g;
		}
		if (nq == qcap) {
			qcap = qcap ? 2 * qcap : 64;
			struct span *g = realloc(qid, qcap * sizeof(*qid));
			ok = g != NULL;
			if (!ok)
				break;
			qid = g;
		}
		qid[nq++] = (struct span){a.len, lens[i]};
		buf_add(&a, vals[i], lens[i]);
		i++;
		for (uint32_t w = 0; ok && w <= nwin; w++)
			ok = hash_object(&a, n, vals, lens, &i, &sp[nsp++]);
	}
	bool layout = ok;
	ok = ok && !a.oom && (r->el = malloc(nsp * sizeof(*r->el))) &&
	     (r->alerts = malloc(((size_t)na + 1) * sizeof(*r->alerts))) &&
	     (r->queues = malloc((nq + 1) * sizeof(*r->queues)));
	if (!ok) {
		if (r) {
			free(r->el);
			free(r->alerts);
			free(r);
		}
		buf_free(&a);
		free(sp);
		free(qid);
		free(al);
		snprintf(err, errlen, layout ? "board read: out of memory" : "board read: unexpected reply layout (%zu values)",
			 n);
		return NULL;
	}
	r->refs = 1; /* the caller's */
	r->arena = a.p;
	r->n_el = nsp;
	for (size_t k = 0; k < nsp; k++)
		r->el[k] = (struct slice){a.p + sp[k].off, sp[k].len};
	r->nwin = nwin;
	r->overdue = overdue;
	r->n_alerts = (uint32_t)na;
	for (uint32_t k = 0; k < r->n_alerts; k++)
		r->alerts[k] = (struct aref){{a.p + al[2 * k].off, al[2 * k].len},
					     {a.p + al[2 * k + 1].off, al[2 * k + 1].len}};
	qsort(r->alerts, r->n_alerts, sizeof(*r->alerts), aref_cmp);
	r->n_queues = (uint32_t)nq;
	for (size_t q = 0; q < nq; q++)
		r->queues[q] = (struct qref){{a.p + qid[q].off, qid[q].len}, 1 + nwin + q * (1 + nwin)};
	qsort(r->queues, nq, sizeof(*r->queues), qref_cmp);
	free(sp);
	free(qid);
	free(al);
	return r;
}

/* ---- filters and windows ------------------------------------------------------- */

static void filter_free(struct filter *f)
{
	free(f->text);
	free(f->ids);
	*f = (struct filter){0};
}

/* Parses a decoded "a,b,c" (empty items skipped) into `f`. Returns 0, or
 * -1 with a message for the client in `err`. */
static int filter_parse(struct filter *f, const char *text, size_t len, char *err, size_t errlen)
{
	*f = (struct filter){0};
	if (!len)
		return 0;
	f->text = malloc(len + 1);
	f->ids = malloc(MAX_FILTER_IDS * sizeof(*f->ids));
	if (!f->text || !f->ids) {
		filter_free(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(f->text, text, len);
	f->text[len] = 0;
	for (size_t i = 0; i <= len;) {
		const char *c = memchr(f->text + i, ',', len - i);
		size_t e = c ? (size_t)(c - f->text) : len;
		size_t l = e - i;
		if (l > CCP_ID_MAX_BYTES) {
			snprintf(err, errlen, "queues: an id longer than %d bytes", CCP_ID_MAX_BYTES);
			filter_free(f);
			return -1;
		}
		if (l) {
			if (f->n == MAX_FILTER_IDS) {
				snprintf(err, errlen, "queues: more than %d ids", MAX_FILTER_IDS);
				filter_free(f);
				return -1;
			}
			f->ids[f->n++] = (struct slice){f->text + i, l};
		}
		i = e + 1;
	}
	qsort(f->ids, f->n, sizeof(*f->ids), scmp);
	uint32_t u = 0;
	for (uint32_t i = 0; i < f->n; i++)
		if (!u || slice_cmp(&f->ids[u - 1], &f->ids[i]))
			f->ids[u++] = f->ids[i];
	f->n = u;
	return 0;
}

static bool filter_has(const struct filter *f, const struct slice *id)
{
	return !f->n || bsearch(id, f->ids, f->n, sizeof(*f->ids), scmp) != NULL;
}

static int find_window(const struct ccp_board *b, const char *name)
{
	for (uint32_t w = 0; w < b->n_names; w++)
		if (!strcmp(b->names[w], name))
			return (int)w;
	return -1;
}

/* ---- documents ------------------------------------------------------------------- */

static uint64_t stale_limit_ms(const struct ccp_board *b)
{
	uint64_t l = 2 * b->interval_ms;
	return l < 1000 ? 1000 : l;
}

/* False while the connection is down, the last read failed, or a read is
 * overdue; `error` then says why. */
static bool redis_ok(struct ccp_board *b, uint64_t now)
{
	if (!b->connected) {
		struct ccp_sink_redis_stats ss;
		ccp_sink_redis_stats(b->sink, &ss);
		snprintf(b->error, sizeof(b->error), "Redis not connected%s%.300s", ss.last_error[0] ? ": " : "",
			 ss.last_error);
		return false;
	}
	if (b->read_failed)
		return false;
	if (b->reading && now - b->read_started_ms > stale_limit_ms(b)) {
		snprintf(b->error, sizeof(b->error), "Redis has not answered for %" PRIu64 " ms",
			 now - b->read_started_ms);
		return false;
	}
	return true;
}

/* The document of window `win` through filter `f`, into b->doc. With no
 * snapshot yet, empty lists and a null age. */
static void build_doc(struct ccp_board *b, uint32_t win, const struct filter *f)
{
	struct buf *d = &b->doc;
	d->len = 0;
	d->oom = false;
	uint64_t now = uv_now(b->loop);
	const struct slot *s = &b->slots[win];
	const struct result *r = s->r;
	bool ok = redis_ok(b, now);
	buf_fmt(d, "{\"generated_at\":%" PRId64 ",\"data_age_ms\":", ccp_log_wall_ms());
	if (r)
		buf_fmt(d, "%" PRIu64, now - r->done_ms);
	else
		buf_str(d, "null");
	buf_fmt(d, ",\"redis_ok\":%s", ok ? "true" : "false");
	if (!ok) {
		buf_str(d, ",\"redis_error\":");
		buf_json_str(d, b->error, strlen(b->error));
	}
	buf_str(d, ",\"window\":");
	buf_json_str(d, b->names[win], strlen(b->names[win]));
	buf_str(d, ",\"windows\":");
	buf_add(d, b->windows_json.p, b->windows_json.len);
	buf_fmt(d, ",\"stale_after_ms\":%d,\"queues\":[", b->o.stale_after_ms);
	bool first = true;
	for (uint32_t q = 0; r && q < r->n_queues; q++) {
		const struct qref *qr = &r->queues[q];
		if (!filter_has(f, &qr->id))
			continue;
		buf_str(d, first ? "{\"id\":" : ",{\"id\":");
		first = false;
		buf_json_str(d, qr->id.p, qr->id.len);
		const struct slice *live = &r->el[qr->base], *w = &r->el[qr->base + 1 + s->widx];
		buf_str(d, ",\"window\":");
		buf_add(d, w->p, w->len);
		buf_str(d, ",\"live\":");
		buf_add(d, live->p, live->len);
		buf_str(d, "}");
	}
	buf_str(d, "],\"total\":{\"window\":");
	if (r) {
		buf_add(d, r->el[1 + s->widx].p, r->el[1 + s->widx].len);
		buf_str(d, ",\"live\":");
		buf_add(d, r->el[0].p, r->el[0].len);
	} else {
		buf_str(d, "{},\"live\":{}");
	}
	buf_str(d, "},\"alerts\":[");
	first = true;
	for (uint32_t a = 0; r && a < r->n_alerts; a++) {
		const struct aref *ar = &r->alerts[a];
		/* Center-wide alerts show on every board. */
		if (ar->queue.len && !filter_has(f, &ar->queue))
			continue;
		if (!first)
			buf_str(d, ",");
		first = false;
		buf_add(d, ar->json.p, ar->json.len);
	}
	buf_str(d, "],\"overdue_promises\":");
	if (r)
		buf_fmt(d, "%" PRId64, r->overdue);
	else
		buf_str(d, "null");
	buf_fmt(d, ",\"targets\":{\"service_level\":%s}}", b->target_text);
}

/* Pushes every watched tag its document; a window with no snapshot yet
 * only when there is an outage to tell. */
static void push_all(struct ccp_board *b)
{
	bool ok = redis_ok(b, uv_now(b->loop));
	for (uint32_t i = 0; i < b->n_watches; i++) {
		struct watch *w = &b->watches[i];
		if (!b->slots[w->win].r && ok)
			continue;
		build_doc(b, w->win, &w->f);
		if (b->doc.oom) {
			ccp_logf(b->o.log, CCP_LOG_ERROR, "board: out of memory building a document");
			continue;
		}
		if (ccp_http_sse_broadcast_tag(b->http, PATH_STREAM, w->tag, "snapshot", b->doc.p, b->doc.len) > 0)
			b->st.pushes++;
	}
}

/* ---- reading ------------------------------------------------------------------------ */

static void read_failed(struct ccp_board *b, const char *why)
{
	b->st.reads_failed++;
	if (!b->read_failed)
		ccp_log_kv(b->o.log, CCP_LOG_WARN, "board: Redis read failed; serving the last snapshot", "error", why,
			   (char *)NULL);
	b->read_failed = true;
	snprintf(b->error, sizeof(b->error), "%s", why);
}

static void on_read(void *ud, uint64_t token, int code, size_t n, const char *const *vals, const size_t *lens)
{
	struct ccp_board *b = ud;
	(void)token;
	b->reading = false;
	if (b->closing)
		return; /* -ECANCELED at close */
	if (code) {
		struct ccp_sink_redis_stats ss;
		ccp_sink_redis_stats(b->sink, &ss);
		char why[300];
		snprintf(why, sizeof(why), "board read: %s", code == -EPROTO ? ss.last_error : strerror(-code));
		read_failed(b, why);
		push_all(b);
		return;
	}
	char err[256];
	struct result *r = result_parse(b->read_nwin, n, vals, lens, err, sizeof(err));
	if (!r) {
		read_failed(b, err);
		push_all(b);
		return;
	}
	uint64_t us = uv_hrtime() / 1000 - b->read_started_us;
	r->done_ms = uv_now(b->loop);
	for (uint32_t i = 0; i < b->read_nwin; i++) {
		struct slot *s = &b->slots[b->read_wins[i]];
		result_unref(s->r);
		*s = (struct slot){r, i};
		r->refs++;
	}
	if (b->read_failed)
		ccp_log_kv(b->o.log, CCP_LOG_INFO, "board: Redis reads are back", (char *)NULL);
	b->read_failed = false;
	b->st.reads_ok++;
	b->st.read_us_last = us;
	b->st.read_us_sum += us;
	if (us > b->st.read_us_max)
		b->st.read_us_max = us;
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += lens[i];
	b->st.reply_bytes_last = bytes;
	b->st.queues_last = r->n_queues;
	push_all(b);
	result_unref(r);
}

/* Drops tags whose streams are all gone. */
static void prune_watches(struct ccp_board *b)
{
	for (uint32_t i = 0; i < b->n_watches;) {
		struct watch *w = &b->watches[i];
		if (ccp_http_sse_count_tag(b->http, PATH_STREAM, w->tag)) {
			i++;
			continue;
		}
		free(w->tag);
		filter_free(&w->f);
		b->watches[i] = b->watches[--b->n_watches];
	}
}

/* The windows someone looks at now, into `wins`; their number. */
static uint32_t wanted(struct ccp_board *b, uint64_t now, uint32_t *wins)
{
	bool want[N_WIN_MAX] = {false};
	for (uint32_t w = 0; w < b->n_names; w++)
		want[w] = b->looked_ms[w] && now - b->looked_ms[w] < (uint64_t)b->o.idle_after_ms;
	for (uint32_t i = 0; i < b->n_watches; i++)
		want[b->watches[i].win] = true;
	uint32_t n = 0;
	for (uint32_t w = 0; w < b->n_names; w++)
		if (want[w])
			wins[n++] = w;
	return n;
}

/* Starts a read of the watched windows if none is in flight; while one
 * is overdue (Redis away), pushes the last snapshots with the flag. */
static void maybe_read(struct ccp_board *b)
{
	uint64_t now = uv_now(b->loop);
	uint32_t wins[N_WIN_MAX];
	uint32_t n = wanted(b, now, wins);
	if (!n)
		return; /* nobody looks */
	if (b->reading) {
		if (!redis_ok(b, now))
			push_all(b);
		return;
	}
	const char *argv[2 + N_WIN_MAX + 1];
	size_t lens[2 + N_WIN_MAX + 1];
	int argc = 0;
	argv[argc] = "0"; /* NUMKEYS: the script builds its key names from the prefix */
	lens[argc++] = 1;
	argv[argc] = b->cfg->prefix;
	lens[argc++] = strlen(b->cfg->prefix);
	for (uint32_t i = 0; i < n; i++) {
		argv[argc] = b->names[wins[i]];
		lens[argc++] = strlen(b->names[wins[i]]);
		b->read_wins[i] = wins[i];
	}
	b->read_nwin = n;
	struct ccp_sink_redis_cmd c = {.argc = argc, .argv = argv, .argvlen = lens, .script = b->script};
	int rc = ccp_sink_redis_read(b->sink, &c, 1, 0, on_read, b);
	b->st.reads++;
	if (rc) {
		char why[128];
		snprintf(why, sizeof(why), "board read not sent: %s", strerror(-rc));
		read_failed(b, why);
		push_all(b);
		return;
	}
	b->reading = true;
	b->read_started_ms = now;
	b->read_started_us = uv_hrtime() / 1000;
}

static void on_tick(uv_timer_t *t)
{
	struct ccp_board *b = t->data;
	prune_watches(b);
	maybe_read(b);
}

static void on_state(void *ud, enum ccp_sink_redis_state st, const char *why)
{
	struct ccp_board *b = ud;
	(void)why;
	b->connected = st == CCP_SINK_REDIS_CONNECTED;
}

/* A request named window `w`: reads run from now on; after an idle
 * spell one starts at once instead of on the next tick. */
static void look(struct ccp_board *b, uint32_t w)
{
	uint64_t now = uv_now(b->loop);
	bool idle = !b->looked_ms[w] || now - b->looked_ms[w] >= (uint64_t)b->o.idle_after_ms;
	b->looked_ms[w] = now ? now : 1;
	if (idle && !b->reading)
		maybe_read(b);
}

/* ---- requests ------------------------------------------------------------------------- */

static void answer(struct ccp_http_response *res, int status, bool json, const char *text)
{
	ccp_http_response_status(res, status);
	ccp_http_response_header(res, "Cache-Control", "no-store");
	if (!json) {
		ccp_http_response_content_type(res, "text/plain; charset=utf-8");
		ccp_http_response_body(res, text, strlen(text));
		ccp_http_response_append(res, "\n", 1);
		return;
	}
	ccp_http_response_content_type(res, "application/json");
	struct buf e = {0};
	buf_str(&e, "{\"error\":");
	buf_json_str(&e, text, strlen(text));
	buf_str(&e, "}\n");
	if (!e.oom)
		ccp_http_response_body(res, e.p, e.len);
	buf_free(&e);
}

/* Reads ?window= and ?queues=. Returns 0, or -1 with the client's error
 * in `err` (a bad window, a bad escape, a filter over its limits). */
static int read_params(struct ccp_board *b, const char *query, size_t qlen, uint32_t *win, struct filter *f,
		       char *err, size_t errlen)
{
	*f = (struct filter){0};
	char name[64];
	int rc = ccp_http_query_get(query, qlen, "window", name, sizeof(name), NULL);
	*win = b->def_win;
	if (rc == -EINVAL) {
		snprintf(err, errlen, "window: bad percent-escape");
		return -1;
	}
	if (rc == 1 || rc == -ENOSPC) {
		int w = rc == 1 ? find_window(b, name) : -1;
		if (w < 0) {
			int n = snprintf(err, errlen, "window \"%s\" is not one of ", rc == 1 ? name : "(too long)");
			for (uint32_t i = 0; n > 0 && (size_t)n < errlen && i < b->n_names; i++)
				n += snprintf(err + n, errlen - (size_t)n, "%s%s", i ? ", " : "", b->names[i]);
			return -1;
		}
		*win = (uint32_t)w;
	}
	size_t len = 0;
	rc = ccp_http_query_get(query, qlen, "queues", b->qtext, MAX_QUERY_BYTES + 1, &len);
	if (rc == -EINVAL) {
		snprintf(err, errlen, "queues: bad percent-escape");
		return -1;
	}
	if (rc == -ENOSPC) {
		snprintf(err, errlen, "queues: longer than %d bytes", MAX_QUERY_BYTES);
		return -1;
	}
	return rc == 1 ? filter_parse(f, b->qtext, len, err, errlen) : 0;
}

static void on_queues(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct ccp_board *b = ud;
	uint32_t win;
	struct filter f;
	char err[512];
	if (read_params(b, req->query, req->query_len, &win, &f, err, sizeof(err))) {
		answer(res, 400, true, err);
		return;
	}
	look(b, win);
	if (!b->slots[win].r) {
		snprintf(err, sizeof(err), "no snapshot of window %s yet%s; retry in a moment", b->names[win],
			 b->connected ? "" : " (Redis not connected)");
		ccp_http_response_header(res, "Retry-After", "1");
		answer(res, 503, true, err);
	} else {
		build_doc(b, win, &f);
		if (b->doc.oom) {
			answer(res, 500, true, "out of memory");
		} else {
			ccp_http_response_header(res, "Cache-Control", "no-store");
			ccp_http_response_content_type(res, "application/json");
			ccp_http_response_body(res, b->doc.p, b->doc.len);
		}
	}
	filter_free(&f);
}

/* The tag of a window and a (sorted, unique) filter: "15m\na,b". */
static char *make_tag(const struct ccp_board *b, uint32_t win, const struct filter *f)
{
	struct buf t = {0};
	buf_str(&t, b->names[win]);
	buf_add(&t, "\n", 1);
	for (uint32_t i = 0; i < f->n; i++) {
		if (i)
			buf_add(&t, ",", 1);
		buf_add(&t, f->ids[i].p, f->ids[i].len);
	}
	buf_add(&t, "", 1);
	if (t.oom) {
		buf_free(&t);
		return NULL;
	}
	return t.p;
}

static void on_stream(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct ccp_board *b = ud;
	uint32_t win;
	struct filter f;
	char err[512];
	if (read_params(b, req->query, req->query_len, &win, &f, err, sizeof(err))) {
		answer(res, 400, true, err);
		return;
	}
	char *tag = make_tag(b, win, &f);
	if (!tag || strlen(tag) > CCP_HTTP_SSE_TAG_MAX) {
		answer(res, tag ? 400 : 500, true, tag ? "queues: too long a filter for a stream" : "out of memory");
		free(tag);
		filter_free(&f);
		return;
	}
	uint32_t i = 0;
	while (i < b->n_watches && strcmp(b->watches[i].tag, tag))
		i++;
	if (i == b->n_watches) {
		prune_watches(b);
		i = b->n_watches;
	}
	if (i == b->n_watches && b->n_watches == MAX_WATCHES) {
		snprintf(err, sizeof(err), "more than %d different stream filters open; retry later", MAX_WATCHES);
		ccp_http_response_header(res, "Retry-After", "5");
		answer(res, 503, true, err);
		free(tag);
		filter_free(&f);
		return;
	}
	if (ccp_http_response_sse_tag(res, tag)) {
		answer(res, 500, true, "out of memory");
		free(tag);
		filter_free(&f);
		return;
	}
	if (i == b->n_watches) {
		b->watches[b->n_watches++] = (struct watch){tag, win, f}; /* tag and filter now the watch's */
	} else {
		free(tag);
		filter_free(&f);
	}
	look(b, win);
}

static void on_page(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct ccp_board *b = ud;
	uint32_t win;
	struct filter f;
	char err[512];
	if (read_params(b, req->query, req->query_len, &win, &f, err, sizeof(err))) {
		answer(res, 400, false, err);
		return;
	}
	filter_free(&f);
	look(b, win); /* the page's stream follows in a moment: read now */
	ccp_http_response_content_type(res, "text/html; charset=utf-8");
	ccp_http_response_header(res, "Cache-Control", "no-cache");
	ccp_http_response_body(res, ccp__wallboard_html, ccp__wallboard_html_len);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

void ccp_board_opts_defaults(struct ccp_board_opts *o)
{
	*o = (struct ccp_board_opts){.idle_after_ms = 10000, .stale_after_ms = 3000};
}

static void board_free(struct ccp_board *b)
{
	for (uint32_t w = 0; w < N_WIN_MAX; w++)
		result_unref(b->slots[w].r);
	for (uint32_t i = 0; i < b->n_watches; i++) {
		free(b->watches[i].tag);
		filter_free(&b->watches[i].f);
	}
	buf_free(&b->windows_json);
	buf_free(&b->doc);
	free(b->qtext);
	free(b);
}

struct ccp_board *ccp_board_new(struct uv_loop_s *loop, struct ccp_http *http, const struct ccp_board_opts *o,
				char *err, size_t errlen)
{
	if (!o->cfg || o->idle_after_ms < 1 || o->stale_after_ms < 1) {
		snprintf(err, errlen, "board: needs a config, idle_after_ms >= 1 and stale_after_ms >= 1");
		return NULL;
	}
	struct ccp_board *b = calloc(1, sizeof(*b));
	if (!b || !(b->qtext = malloc(MAX_QUERY_BYTES + 1))) {
		free(b);
		snprintf(err, errlen, "board: out of memory");
		return NULL;
	}
	b->loop = loop;
	b->o = *o;
	b->cfg = o->cfg;
	b->http = http;
	b->interval_ms = (uint64_t)o->cfg->publish_interval_ms;
	const struct ccp_engine_config *ec = &o->cfg->engine;
	for (uint32_t w = 0; w < ec->n_windows && w < CCP_MAX_WINDOWS; w++)
		snprintf(b->names[b->n_names++], CCP_WINDOW_NAME_MAX, "%s", ec->windows[w].name);
	snprintf(b->names[b->n_names++], CCP_WINDOW_NAME_MAX, "today");
	int dw = find_window(b, o->cfg->wallboard_window);
	b->def_win = dw < 0 ? 0 : (uint32_t)dw;
	buf_str(&b->windows_json, "[");
	for (uint32_t w = 0; w < b->n_names; w++) {
		if (w)
			buf_str(&b->windows_json, ",");
		buf_json_str(&b->windows_json, b->names[w], strlen(b->names[w]));
	}
	buf_str(&b->windows_json, "]");
	snprintf(b->target_text, sizeof(b->target_text), "%.6g", o->cfg->wallboard_sl_target);
	if (b->windows_json.oom) {
		snprintf(err, errlen, "board: out of memory");
		board_free(b);
		return NULL;
	}

	struct ccp_sink_redis_opts so;
	ccp_sink_redis_opts_defaults(&so);
	so.url = o->cfg->redis;
	/* A read connection: notice an outage within a couple of seconds and
	 * come back within one, so the page says so and recovers soon. */
	so.connect_timeout_ms = 2000;
	so.command_timeout_ms = 2000;
	so.ping_interval_ms = 1000;
	so.backoff_max_ms = 1000;
	so.max_backlog_bytes = 1 << 20;
	so.max_inflight_batches = 2;
	so.state_cb = on_state;
	so.ud = b;
	so.log = o->log;
	b->sink = ccp_sink_redis_new(loop, &so, err, errlen);
	if (!b->sink) {
		board_free(b);
		return NULL;
	}
	b->script = ccp_sink_redis_script_add(b->sink, READ_SCRIPT, sizeof(READ_SCRIPT) - 1);
	int rc = b->script < 0 ? b->script : 0;
	if (!rc)
		rc = ccp_http_route(http, PATH_PAGE, on_page, b);
	if (!rc)
		rc = ccp_http_route(http, PATH_QUEUES, on_queues, b);
	if (!rc)
		rc = ccp_http_route(http, PATH_STREAM, on_stream, b);
	if (rc) {
		snprintf(err, errlen, "board: cannot set up: %s", strerror(-rc));
		ccp_sink_redis_close(b->sink, CCP_SINK_REDIS_DROP, 0, NULL, NULL);
		board_free(b); /* the sink finishes closing on the loop by itself */
		return NULL;
	}
	ccp_sink_redis_start(b->sink);
	uv_timer_init(loop, &b->tick);
	b->tick.data = b;
	uv_timer_start(&b->tick, on_tick, b->interval_ms, b->interval_ms);
	return b;
}

int ccp_board_watch(struct ccp_board *b, const char *window)
{
	int w = window ? find_window(b, window) : (int)b->def_win;
	if (w < 0)
		return -EINVAL;
	look(b, (uint32_t)w);
	return 0;
}

int ccp_board_json(struct ccp_board *b, const char *window, const char *queues, char **out, size_t *len)
{
	struct buf q = {0};
	if (window) {
		buf_str(&q, "window=");
		buf_str(&q, window);
	}
	if (queues) {
		buf_str(&q, window ? "&queues=" : "queues=");
		buf_str(&q, queues);
	}
	if (q.oom)
		return -ENOMEM;
	uint32_t win;
	struct filter f;
	char err[512];
	int rc = read_params(b, q.p, q.len, &win, &f, err, sizeof(err));
	buf_free(&q);
	if (rc)
		return -EINVAL;
	if (!b->slots[win].r) {
		filter_free(&f);
		return -ENOENT;
	}
	build_doc(b, win, &f);
	filter_free(&f);
	if (b->doc.oom || !(*out = malloc(b->doc.len + 1)))
		return -ENOMEM;
	memcpy(*out, b->doc.p, b->doc.len);
	(*out)[b->doc.len] = 0;
	*len = b->doc.len;
	return 0;
}

void ccp_board_stats(const struct ccp_board *b, struct ccp_board_stats *out)
{
	*out = b->st;
	out->watches = b->n_watches;
	out->redis_connected = b->connected;
}

static void close_step(struct ccp_board *b)
{
	if (--b->closes_pending)
		return;
	void (*cb)(void *) = b->close_cb;
	void *ud = b->close_ud;
	board_free(b);
	if (cb)
		cb(ud);
}

static void on_sink_closed(void *ud)
{
	close_step(ud);
}

static void on_tick_closed(uv_handle_t *h)
{
	close_step(h->data);
}

void ccp_board_close(struct ccp_board *b, void (*cb)(void *ud), void *ud)
{
	b->closing = true;
	b->close_cb = cb;
	b->close_ud = ud;
	b->closes_pending = 2;
	uv_timer_stop(&b->tick);
	uv_close((uv_handle_t *)&b->tick, on_tick_closed);
	ccp_sink_redis_close(b->sink, CCP_SINK_REDIS_DROP, 0, on_sink_closed, b);
}
