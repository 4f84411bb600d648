/* Event decoder: one JSON message -> struct ccp_event, or a reject reason.
 *
 * One pass validates the whole message as JSON (RFC 8259 grammar, UTF-8,
 * escapes, depth and size limits) and records where the last occurrence of
 * each known top-level key sits (duplicate keys: the last wins). A second,
 * short step then checks the known fields in the contract's order, so the
 * first failing check names the reason. Strings without escapes are sliced
 * from the input; escaped ones are unescaped into the decoder's scratch
 * (during the checks, so repeated keys cost no scratch). Nothing allocates.
 *
 * Speed (bench/README.md, "Decoder"): about 185 ns per event on one core;
 * plain ASCII inside strings is skipped 16 bytes at a time (SSE2), key
 * slots are not zeroed per event (a bit mask says which were seen), and
 * names are compared by length first.
 */
#include "ccpulse/decode.h"

#include <stdbool.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>

#include "hex.h"
#endif

enum vkind { V_NONE = 0, V_STRING, V_NUMBER, V_TRUE, V_FALSE, V_NULL, V_ARRAY, V_OBJECT };

/* Known top-level keys, in the order the checks read them. */
enum key {
	K_ID, K_TYPE, K_TS, K_QUEUE, K_CONTACT, K_CHANNEL, K_AGENT,
	K_TRANSFER_FROM, K_TO_QUEUE, K_TO_AGENT, K_RESOLVED, K_PROMISE, K_DUE, K_KIND,
	K_CSAT, K_RELIABILITY, K_RESPONSIVENESS, K_ASSURANCE, K_EMPATHY, K_TANGIBLES,
	K_COMPLAINT, K_STATE, K_QUEUES, K__COUNT
};

static const char *const key_names[K__COUNT] = {
	"id", "type", "ts", "queue", "contact", "channel", "agent",
	"transfer_from", "to_queue", "to_agent", "resolved", "promise", "due", "kind",
	"csat", "reliability", "responsiveness", "assurance", "empathy", "tangibles",
	"complaint", "state", "queues",
};

/* Key lookup by length first: most keys differ in length, so one memcmp
 * at most per key (profiling showed strlen in a linear scan at 8 %). */
static int key_index(const char *k, size_t n)
{
	switch (n) {
	case 2:
		return !memcmp(k, "id", 2) ? K_ID : !memcmp(k, "ts", 2) ? K_TS : -1;
	case 3:
		return !memcmp(k, "due", 3) ? K_DUE : -1;
	case 4:
		return !memcmp(k, "type", 4) ? K_TYPE : !memcmp(k, "csat", 4) ? K_CSAT : !memcmp(k, "kind", 4) ? K_KIND : -1;
	case 5:
		return !memcmp(k, "queue", 5) ? K_QUEUE : !memcmp(k, "agent", 5) ? K_AGENT : !memcmp(k, "state", 5) ? K_STATE : -1;
	case 6:
		return !memcmp(k, "queues", 6) ? K_QUEUES : -1;
	case 7:
		return !memcmp(k, "contact", 7) ? K_CONTACT : !memcmp(k, "channel", 7) ? K_CHANNEL
		       : !memcmp(k, "promise", 7) ? K_PROMISE : !memcmp(k, "empathy", 7) ? K_EMPATHY : -1;
	case 8:
		return !memcmp(k, "to_queue", 8) ? K_TO_QUEUE : !memcmp(k, "to_agent", 8) ? K_TO_AGENT
		       : !memcmp(k, "resolved", 8) ? K_RESOLVED : -1;
	case 9:
		return !memcmp(k, "assurance", 9) ? K_ASSURANCE : !memcmp(k, "complaint", 9) ? K_COMPLAINT
		       : !memcmp(k, "tangibles", 9) ? K_TANGIBLES : -1;
	case 11:
		return !memcmp(k, "reliability", 11) ? K_RELIABILITY : -1;
	case 13:
		return !memcmp(k, "transfer_from", 13) ? K_TRANSFER_FROM : -1;
	case 14:
		return !memcmp(k, "responsiveness", 14) ? K_RESPONSIVENESS : -1;
	default:
		return -1;
	}
}

/* Where a value sits in the input. For strings, [start, end) excludes the
 * quotes. Owner: the parser that filled it (ccp_decode's stack); points
 * into the caller's buffer, so it lives as long as one ccp_decode call. */
struct slot {
	enum vkind kind;
	bool escaped;
	const char *start, *end;
};

/* Parser state for one call. Owner: ccp_decode's stack. */
struct parser {
	struct ccp_decoder *dec; /* scratch for escaped keys */
	const char *p, *end, *base;
	const char *err_detail;
	const char *err_at;
	/* Bit k set: slots[k] holds the last occurrence of key k. Unset slots
	 * are never read, so they need no zeroing per event (that memset was
	 * 3 % of the decoder's instructions). */
	uint32_t seen;
	struct slot slots[K__COUNT];
};

static bool fail(struct parser *ps, const char *at, const char *detail)
{
	if (!ps->err_detail) {
		ps->err_detail = detail;
		ps->err_at = at;
	}
	return false;
}

static inline void skip_ws(struct parser *ps)
{
	/* Fast path: producers rarely put spaces between tokens. */
	if (ps->p < ps->end && (unsigned char)*ps->p > ' ')
		return;
	while (ps->p < ps->end) {
		char c = *ps->p;
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		ps->p++;
	}
}

static bool read_hex4(const char *s, const char *end, unsigned *out)
{
	if (end - s < 4)
		return false;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = ccp__hexval(s[i]);
		if (h < 0)
			return false;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return true;
}

/* Validates one UTF-8 sequence at s (first byte >= 0x80); returns its
 * length or 0 if invalid (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)(end - s) < n)
		return 0;
	unsigned cp = c & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* Returns the first byte at or after p that is not plain printable ASCII
 * (a quote, a backslash, a control byte or a UTF-8 byte), or end. `base`
 * is the start of the buffer: bytes in [base, end) may be read. */
static const char *skip_plain(const char *base, const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* Signed compare: bytes >= 0x80 are negative, so below 0x20 too. */
		__m128i special = _mm_or_si128(_mm_cmplt_epi8(x, space),
					       _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));
		unsigned mask = (unsigned)_mm_movemask_epi8(special);
		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
	/* Fewer than 16 bytes left (every message ends so): load the buffer's
	 * last 16 bytes and drop the ones before p, rather than go byte by
	 * byte (that loop was 4 % of the decoder). */
	if (p < end && end - base >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(end - 16));
		__m128i special = _mm_or_si128(_mm_cmplt_epi8(x, space),
					       _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)));
		unsigned mask = (unsigned)_mm_movemask_epi8(special) >> (16 - (end - p));
		return mask ? p + __builtin_ctz(mask) : end;
	}
#endif
	while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* Scans a string whose opening quote is at ps->p. */
static bool scan_string(struct parser *ps, struct slot *out)
{
	const char *s = ++ps->p;
	bool escaped = false;
	while (ps->p < ps->end) {
		/* Plain printable ASCII is the common case: skip it 16 bytes at a
		 * time (scan_string was a third of all instructions, callgrind). */
		const char *q = skip_plain(ps->base, ps->p, ps->end);
		ps->p = q;
		if (q >= ps->end)
			break;
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			if (out) {
				out->kind = V_STRING;
				out->escaped = escaped;
				out->start = s;
				out->end = ps->p;
			}
			ps->p++;
			return true;
		}
		if (c < 0x20)
			return fail(ps, ps->p, "control character in string");
		if (c == '\\') {
			escaped = true;
			if (ps->end - ps->p < 2)
				return fail(ps, ps->p, "truncated escape");
			char e = ps->p[1];
			if (e == 'u') {
				unsigned u;
				if (!read_hex4(ps->p + 2, ps->end, &u))
					return fail(ps, ps->p, "bad \\u escape");
				ps->p += 6;
				if (u >= 0xDC00 && u <= 0xDFFF)
					return fail(ps, ps->p - 6, "lone low surrogate");
				if (u >= 0xD800 && u <= 0xDBFF) {
					unsigned lo;
					if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
					    !read_hex4(ps->p + 2, ps->end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
						return fail(ps, ps->p - 6, "lone high surrogate");
					ps->p += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == 0)
				return fail(ps, ps->p, "bad escape");
			ps->p += 2;
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_seq((const unsigned char *)ps->p, (const unsigned char *)ps->end);
			if (!n)
				return fail(ps, ps->p, "invalid UTF-8");
			ps->p += n;
			continue;
		}
		ps->p++;
	}
	return fail(ps, ps->p, "unterminated string");
}

static bool scan_number(struct parser *ps, struct slot *out)
{
	const char *s = ps->p, *p = ps->p, *e = ps->end;
	if (p < e && *p == '-')
		p++;
	if (p >= e)
		return fail(ps, s, "bad number");
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	} else {
		return fail(ps, s, "bad number");
	}
	if (p < e && *p == '.') {
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return fail(ps, s, "bad number fraction");
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return fail(ps, s, "bad number exponent");
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (out) {
		out->kind = V_NUMBER;
		out->start = s;
		out->end = p;
	}
	ps->p = p;
	return true;
}

static bool scan_literal(struct parser *ps, const char *lit, size_t n, enum vkind k,
			 struct slot *out)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
		return fail(ps, ps->p, "invalid literal");
	if (out) {
		out->kind = k;
		out->start = ps->p;
		out->end = ps->p + n;
	}
	ps->p += n;
	return true;
}

static bool scan_value(struct parser *ps, int depth, struct slot *out);
static bool string_value(struct ccp_decoder *d, const struct slot *s, struct ccp_str *out);

static bool scan_container(struct parser *ps, int depth, struct slot *out, bool top)
{
	char open = *ps->p, close = open == '{' ? '}' : ']';
	const char *start = ps->p;
	if (depth > CCP_EVENT_MAX_DEPTH)
		return fail(ps, ps->p, "nesting deeper than 64");
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		goto done;
	}
	for (;;) {
		struct slot *target = NULL;
		if (open == '{') {
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, ps->p, "expected object key");
			struct slot key;
			if (!scan_string(ps, &key))
				return false;
			if (top && !key.escaped) {
				int k = key_index(key.start, (size_t)(key.end - key.start));
				if (k >= 0) {
					target = &ps->slots[k];
					ps->seen |= 1u << k;
				}
			} else if (top) {
				/* An escaped key may still spell a known name ("\u0069d"). */
				struct ccp_str k;
				uint32_t mark = ps->dec->scratch_used;
				if (key.end - key.start <= 96 && string_value(ps->dec, &key, &k)) {
					int ki = key_index(k.ptr, k.len);
					if (ki >= 0) {
						target = &ps->slots[ki];
						ps->seen |= 1u << ki;
					}
				}
				ps->dec->scratch_used = mark; /* the key needs no storage */
			}
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, ps->p, "expected ':'");
			ps->p++;
		}
		skip_ws(ps);
		if (!scan_value(ps, depth + 1, target))
			return false;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, ps->p, "unterminated container");
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			break;
		}
		return fail(ps, ps->p, "expected ',' or end of container");
	}
done:
	if (out) {
		out->kind = open == '{' ? V_OBJECT : V_ARRAY;
		out->start = start;
		out->end = ps->p;
	}
	return true;
}

static bool scan_value(struct parser *ps, int depth, struct slot *out)
{
	if (ps->p >= ps->end)
		return fail(ps, ps->p, "expected a value");
	switch (*ps->p) {
	case '"':
		return scan_string(ps, out);
	case '{':
	case '[':
		return scan_container(ps, depth, out, false);
	case 't':
		return scan_literal(ps, "true", 4, V_TRUE, out);
	case 'f':
		return scan_literal(ps, "false", 5, V_FALSE, out);
	case 'n':
		return scan_literal(ps, "null", 4, V_NULL, out);
	default:
		return scan_number(ps, out);
	}
}

/* ---- field checks ---------------------------------------------------- */

/* Outcome of one field check. */
enum fres { F_OK, F_ABSENT, F_BAD };

static bool present(const struct slot *s)
{
	return s->kind != V_NONE && s->kind != V_NULL;
}

/* Unescapes a validated string into scratch (or slices it). Returns false
 * if the scratch is full, which the limits make impossible for valid
 * events; such a string is reported as bad_field by the caller. */
static bool string_value(struct ccp_decoder *d, const struct slot *s, struct ccp_str *out)
{
	if (!s->escaped) {
		out->ptr = s->start;
		out->len = (uint32_t)(s->end - s->start);
		return true;
	}
	char *dst = d->scratch + d->scratch_used;
	size_t room = sizeof(d->scratch) - d->scratch_used, n = 0;
	const char *q = s->start;
	while (q < s->end) {
		unsigned char buf[4];
		size_t bl;
		if (*q != '\\') {
			buf[0] = (unsigned char)*q++;
			bl = 1;
		} else if (q[1] != 'u') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			buf[0] = (unsigned char)to[strchr(from, q[1]) - from];
			bl = 1;
			q += 2;
		} else {
			unsigned u = 0; /* validated by scan_string */
			read_hex4(q + 2, s->end, &u);
			q += 6;
			if (u >= 0xD800 && u <= 0xDBFF) {
				unsigned lo = 0xDC00;
				read_hex4(q + 2, s->end, &lo);
				q += 6;
				u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (u < 0x80) {
				buf[0] = (unsigned char)u;
				bl = 1;
			} else if (u < 0x800) {
				buf[0] = (unsigned char)(0xC0 | u >> 6);
				buf[1] = (unsigned char)(0x80 | (u & 0x3F));
				bl = 2;
			} else if (u < 0x10000) {
				buf[0] = (unsigned char)(0xE0 | u >> 12);
				buf[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
				buf[2] = (unsigned char)(0x80 | (u & 0x3F));
				bl = 3;
			} else {
				buf[0] = (unsigned char)(0xF0 | u >> 18);
				buf[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
				buf[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
				buf[3] = (unsigned char)(0x80 | (u & 0x3F));
				bl = 4;
			}
		}
		if (n + bl > room)
			return false;
		memcpy(dst + n, buf, bl);
		n += bl;
	}
	d->scratch_used += (uint32_t)n;
	out->ptr = dst;
	out->len = (uint32_t)n;
	return true;
}

/* A string id: 1..128 bytes after unescaping. */
static enum fres check_id(struct ccp_decoder *d, const struct slot *s, struct ccp_str *out)
{
	if (!present(s))
		return F_ABSENT;
	if (s->kind != V_STRING)
		return F_BAD;
	/* An escaped string is never shorter than 1/6 of its source. */
	if (s->end - s->start > CCP_ID_MAX_BYTES * 6)
		return F_BAD;
	if (!string_value(d, s, out))
		return F_BAD;
	if (out->len < 1 || out->len > CCP_ID_MAX_BYTES)
		return F_BAD;
	return F_OK;
}

/* The contract's names with their lengths (immutable tables, any thread),
 * so a lookup costs no strlen
 * (strlen was 3 % of the decoder). Same order and spelling as the tables
 * in event.c; test_decode checks that every name there decodes to its
 * index here. */
struct name {
	const char *s;
	uint8_t len;
};
#define NAME(x) {x, sizeof(x) - 1}
static const struct name type_names[CCP_EV__COUNT] = {
	NAME("contact.offered"),  NAME("contact.answered"), NAME("contact.abandoned"),
	NAME("contact.transferred"), NAME("contact.ended"), NAME("promise.made"),
	NAME("promise.kept"),     NAME("promise.cancelled"), NAME("survey.submitted"),
	NAME("complaint.opened"), NAME("complaint.resolved"), NAME("agent.state"),
};
static const struct name channel_names[CCP_CH__COUNT] = {
	NAME("voice"), NAME("chat"), NAME("email"), NAME("sms"), NAME("social"), NAME("video"),
};
static const struct name state_names[CCP_AGENT__COUNT] = {
	NAME("available"), NAME("busy"), NAME("wrap_up"), NAME("away"), NAME("offline"),
};
static const struct name kind_names[CCP_PROMISE__COUNT] = {
	NAME("callback"), NAME("follow_up"), NAME("resolution"), NAME("other"),
};
#undef NAME

/* A string from a fixed set (compared after unescaping). Returns the index
 * in `names` via *idx. */
static enum fres check_enum(struct ccp_decoder *d, const struct slot *s, const struct name *names,
			    int n, int *idx)
{
	if (!present(s))
		return F_ABSENT;
	if (s->kind != V_STRING)
		return F_BAD;
	/* No cap on the raw length: a name written as \u escapes is 6x longer.
	 * A value too long for the scratch can name nothing anyway. */
	struct ccp_str v;
	uint32_t mark = d->scratch_used;
	if (!string_value(d, s, &v))
		return F_BAD;
	d->scratch_used = mark; /* the enum value needs no storage */
	for (int i = 0; i < n; i++) {
		if (names[i].len == v.len && memcmp(names[i].s, v.ptr, v.len) == 0) {
			*idx = i;
			return F_OK;
		}
	}
	return F_BAD;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned dd)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" -> epoch ms. */
static bool parse_rfc3339(const char *s, size_t len, int64_t *out)
{
	static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h, mi, se;
	if (len < 20)
		return false;
	if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
	    !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
		return false;
	if (M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || se > 60)
		return false;
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	int maxd = mdays[M - 1] + (M == 2 && leap);
	if (D > maxd)
		return false;
	size_t i = 19;
	int ms = 0;
	if (i < len && s[i] == '.') {
		i++;
		size_t fs = i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (i - fs < 3)
				ms = ms * 10 + (s[i] - '0');
			i++;
		}
		size_t nd = i - fs;
		if (nd == 0)
			return false;
		for (size_t k = nd; k < 3; k++)
			ms *= 10;
	}
	int64_t off_s = 0;
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int oh, om;
		if (len - i != 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		off_s = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
		i += 6;
	} else {
		return false;
	}
	if (i != len)
		return false;
	int64_t secs = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + se - off_s;
	int64_t t = secs * 1000 + ms;
	if (t < 0)
		return false;
	*out = t;
	return true;
}

/* A time: non-negative JSON integer of epoch ms, or RFC 3339. */
static enum fres check_time(struct ccp_decoder *d, const struct slot *s, int64_t *out)
{
	if (!present(s))
		return F_ABSENT;
	if (s->kind == V_NUMBER) {
		const char *p = s->start;
		bool neg = *p == '-';
		if (neg)
			p++;
		int64_t v = 0;
		/* Up to 18 digits cannot overflow: no bound check per digit. */
		const char *fast_end = s->end - p > 18 ? p + 18 : s->end;
		for (; p < fast_end; p++) {
			if (*p < '0' || *p > '9')
				return F_BAD; /* fraction or exponent */
			v = v * 10 + (*p - '0');
		}
		for (; p < s->end; p++) {
			if (*p < '0' || *p > '9')
				return F_BAD;
			int dgt = *p - '0';
			if (v > (INT64_MAX - dgt) / 10)
				return F_BAD; /* does not fit int64 */
			v = v * 10 + dgt;
		}
		if (neg && v != 0)
			return F_BAD;
		*out = v;
		return F_OK;
	}
	if (s->kind != V_STRING)
		return F_BAD;
	/* Any fraction length is allowed; an escaped time longer than the
	 * scratch (34 KiB) is bad_field. */
	struct ccp_str v;
	uint32_t mark = d->scratch_used;
	if (!string_value(d, s, &v))
		return F_BAD;
	d->scratch_used = mark;
	return parse_rfc3339(v.ptr, v.len, out) ? F_OK : F_BAD;
}

/* A score: JSON integer 1..5. */
static enum fres check_score(const struct slot *s, uint8_t *out)
{
	if (!present(s))
		return F_ABSENT;
	if (s->kind != V_NUMBER || s->end - s->start != 1 || *s->start < '1' || *s->start > '5')
		return F_BAD;
	*out = (uint8_t)(*s->start - '0');
	return F_OK;
}

static enum fres check_bool(const struct slot *s, bool *out)
{
	if (!present(s))
		return F_ABSENT;
	if (s->kind != V_TRUE && s->kind != V_FALSE)
		return F_BAD;
	*out = s->kind == V_TRUE;
	return F_OK;
}

/* agent.state `queues`: an array of string ids; a repeated id counts once
 * (semantics.md), and the 256 limit applies to distinct ids. Repeats are
 * found through a small open-addressing set of entry indexes, so a 1 MiB
 * list of repeats costs one probe per entry, not a scan of 256. */
#define QSET_SLOTS (2 * CCP_AGENT_MAX_QUEUES) /* load factor <= 1/2 */
static enum fres check_queues(struct ccp_decoder *d, const struct slot *s, struct ccp_event *ev)
{
	if (!present(s))
		return F_ABSENT;
	if (s->kind != V_ARRAY)
		return F_BAD;
	struct parser ps;
	ps.dec = d;
	ps.p = s->start + 1;
	ps.end = s->end;
	ps.base = s->start;
	ps.err_detail = NULL;
	ps.err_at = NULL;
	ps.seen = 0;
	skip_ws(&ps);
	if (*ps.p == ']')
		return F_OK;
	uint16_t set[QSET_SLOTS]; /* 0: empty, else entry index + 1 */
	memset(set, 0, sizeof(set));
	for (;;) {
		skip_ws(&ps);
		struct slot el = {0};
		if (!scan_value(&ps, 1, &el))
			return F_BAD; /* cannot happen: validated already */
		struct ccp_str q;
		uint32_t mark = d->scratch_used;
		if (check_id(d, &el, &q) != F_OK)
			return F_BAD;
		uint32_t h = 2166136261u; /* FNV-1a */
		for (uint32_t i = 0; i < q.len; i++)
			h = (h ^ (unsigned char)q.ptr[i]) * 16777619u;
		uint32_t at = h % QSET_SLOTS;
		bool dup = false;
		while (set[at]) {
			const struct ccp_str *o = &ev->queues[set[at] - 1];
			if (o->len == q.len && memcmp(o->ptr, q.ptr, q.len) == 0) {
				dup = true;
				break;
			}
			at = (at + 1) % QSET_SLOTS;
		}
		if (dup) {
			d->scratch_used = mark; /* an escaped repeat needs no storage */
		} else {
			if (ev->n_queues >= CCP_AGENT_MAX_QUEUES)
				return F_BAD;
			ev->queues[ev->n_queues++] = q;
			set[at] = (uint16_t)ev->n_queues;
		}
		skip_ws(&ps);
		if (*ps.p == ',') {
			ps.p++;
			continue;
		}
		return F_OK;
	}
}

void ccp_decoder_init(struct ccp_decoder *d)
{
	d->scratch_used = 0;
}

static enum ccp_reject reject(struct ccp_decode_error *err, enum ccp_reject r, const char *field,
			      size_t offset, const char *detail)
{
	if (err) {
		err->reason = r;
		err->field = field;
		err->offset = offset;
		err->detail = detail;
	}
	return r;
}

/* Applies one field's outcome; returns a reason to stop with, or NONE. */
static enum ccp_reject verdict(enum fres r, bool required)
{
	if (r == F_BAD)
		return CCP_REJECT_BAD_FIELD;
	if (r == F_ABSENT && required)
		return CCP_REJECT_MISSING_FIELD;
	return CCP_REJECT_NONE;
}

enum ccp_reject ccp_decode(struct ccp_decoder *d, const char *buf, size_t len,
			   struct ccp_event *ev, struct ccp_decode_error *err)
{
	d->scratch_used = 0;
	if (len > CCP_EVENT_MAX_BYTES)
		return reject(err, CCP_REJECT_BAD_JSON, NULL, CCP_EVENT_MAX_BYTES, "event over 1 MiB");
	if (len == 0) /* buf may be NULL then (an empty Kafka value) */
		return reject(err, CCP_REJECT_BAD_JSON, NULL, 0, "empty message");
	struct parser ps; /* not zeroed as a whole: see `seen` */
	ps.dec = d;
	ps.p = buf;
	ps.end = buf + len;
	ps.base = buf;
	ps.err_detail = NULL;
	ps.err_at = NULL;
	ps.seen = 0;
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{')
		return reject(err, CCP_REJECT_BAD_JSON, NULL, (size_t)(ps.p - buf), "not a JSON object");
	if (!scan_container(&ps, 1, NULL, true))
		return reject(err, CCP_REJECT_BAD_JSON, NULL, (size_t)(ps.err_at - buf), ps.err_detail);
	skip_ws(&ps);
	if (ps.p != ps.end)
		return reject(err, CCP_REJECT_BAD_JSON, NULL, (size_t)(ps.p - buf), "data after the object");

	/* Absent keys read as this empty slot (looked up per use: building a
	 * table of all 23 cost more than the checks). */
	static const struct slot none = {V_NONE, false, NULL, NULL};
#define sl(k) ((ps.seen >> (k) & 1) ? &ps.slots[(k)] : &none)
	memset(ev, 0, offsetof(struct ccp_event, queues));
	ev->channel = CCP_CH_VOICE;
	ev->kind = CCP_PROMISE_OTHER;
	enum ccp_reject r;
#define CHECK(k, expr, required)                                                               \
	do {                                                                                   \
		r = verdict((expr), (required));                                               \
		if (r != CCP_REJECT_NONE)                                                      \
			return reject(err, r, key_names[k],                                    \
				      sl(k)->start ? (size_t)(sl(k)->start - buf) : 0,           \
				      r == CCP_REJECT_MISSING_FIELD ? "required field absent"  \
								    : "wrong form");           \
	} while (0)

	CHECK(K_ID, check_id(d, sl(K_ID), &ev->id), true);
	if (!present(sl(K_TYPE)))
		return reject(err, CCP_REJECT_MISSING_FIELD, "type", 0, "required field absent");
	int t;
	enum fres tr = check_enum(d, sl(K_TYPE), type_names, CCP_EV__COUNT, &t);
	if (tr != F_OK)
		return reject(err, sl(K_TYPE)->kind == V_STRING ? CCP_REJECT_UNKNOWN_TYPE : CCP_REJECT_BAD_FIELD,
			      "type", (size_t)(sl(K_TYPE)->start - buf), "not an event type");
	ev->type = (enum ccp_event_type)t;
	bool agent_ev = ev->type == CCP_EV_AGENT_STATE;
	CHECK(K_TS, check_time(d, sl(K_TS), &ev->ts_ms), true);
	CHECK(K_QUEUE, check_id(d, sl(K_QUEUE), &ev->queue), !agent_ev);
	CHECK(K_CONTACT, check_id(d, sl(K_CONTACT), &ev->contact), !agent_ev);
	int ch;
	CHECK(K_CHANNEL, check_enum(d, sl(K_CHANNEL), channel_names, CCP_CH__COUNT, &ch), false);
	if (present(sl(K_CHANNEL)))
		ev->channel = (enum ccp_channel)ch;
	CHECK(K_AGENT, check_id(d, sl(K_AGENT), &ev->agent), agent_ev);

	switch (ev->type) {
	case CCP_EV_CONTACT_OFFERED:
		CHECK(K_TRANSFER_FROM, check_id(d, sl(K_TRANSFER_FROM), &ev->transfer_from), false);
		break;
	case CCP_EV_CONTACT_TRANSFERRED:
		CHECK(K_TO_QUEUE, check_id(d, sl(K_TO_QUEUE), &ev->to_queue), false);
		CHECK(K_TO_AGENT, check_id(d, sl(K_TO_AGENT), &ev->to_agent), false);
		break;
	case CCP_EV_CONTACT_ENDED:
		CHECK(K_RESOLVED, check_bool(sl(K_RESOLVED), &ev->resolved), false);
		break;
	case CCP_EV_PROMISE_MADE: {
		CHECK(K_PROMISE, check_id(d, sl(K_PROMISE), &ev->promise), true);
		CHECK(K_DUE, check_time(d, sl(K_DUE), &ev->due_ms), true);
		int k;
		CHECK(K_KIND, check_enum(d, sl(K_KIND), kind_names, CCP_PROMISE__COUNT, &k), false);
		if (present(sl(K_KIND)))
			ev->kind = (enum ccp_promise_kind)k;
		break;
	}
	case CCP_EV_PROMISE_KEPT:
	case CCP_EV_PROMISE_CANCELLED:
		CHECK(K_PROMISE, check_id(d, sl(K_PROMISE), &ev->promise), true);
		break;
	case CCP_EV_SURVEY_SUBMITTED:
		CHECK(K_CSAT, check_score(sl(K_CSAT), &ev->csat), true);
		for (int i = 0; i < CCP_DIM__COUNT; i++)
			CHECK(K_RELIABILITY + i, check_score(sl(K_RELIABILITY + i), &ev->dims[i]), false);
		break;
	case CCP_EV_COMPLAINT_OPENED:
	case CCP_EV_COMPLAINT_RESOLVED:
		CHECK(K_COMPLAINT, check_id(d, sl(K_COMPLAINT), &ev->complaint), true);
		break;
	case CCP_EV_AGENT_STATE: {
		int st;
		CHECK(K_STATE, check_enum(d, sl(K_STATE), state_names, CCP_AGENT__COUNT, &st), true);
		ev->state = (enum ccp_agent_state)st;
		ev->n_queues = 0;
		CHECK(K_QUEUES, check_queues(d, sl(K_QUEUES), ev), false);
		break;
	}
	default:
		break;
	}
#undef CHECK
#undef sl
	if (err)
		err->reason = CCP_REJECT_NONE;
	return CCP_REJECT_NONE;
}

enum ccp_reject ccp_decode_check_future(const struct ccp_event *ev, int64_t wall_ms, int64_t skew_ms)
{
	/* ts - wall > skew, without overflowing int64 for any clock: where the
	 * difference does not fit, its sign decides. */
	int64_t ts = ev->ts_ms;
	if (wall_ms < 0 && ts > INT64_MAX + wall_ms)
		return CCP_REJECT_FUTURE_TS;
	if (wall_ms > 0 && ts < INT64_MIN + wall_ms)
		return CCP_REJECT_NONE;
	return ts - wall_ms > skew_ms ? CCP_REJECT_FUTURE_TS : CCP_REJECT_NONE;
}
