/* Streaming JSON writer (see include/ccpulse/json_out.h). */
#include "ccpulse/json_out.h"

#include <inttypes.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s[0..len), or 0 if the bytes
 * there are not one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* > U+10FFFF */
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

size_t ccp_json_escape(char *dst, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t out = 0;
	bool cut = false;
	for (size_t i = 0; i < len;) {
		char tmp[8];
		const char *piece = tmp;
		size_t plen, adv = 1;
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			plen = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			tmp[0] = '\\';
			tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			plen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[c >> 4];
			tmp[5] = hex[c & 15];
			plen = 6;
		} else if (c < 0x80) {
			tmp[0] = (char)c;
			plen = 1;
		} else {
			adv = utf8_seq(u + i, len - i);
			if (adv) {
				piece = s + i;
				plen = adv;
			} else {
				piece = "\\ufffd"; /* not UTF-8: the replacement character */
				plen = 6;
				adv = 1;
			}
		}
		if (!cut) {
			if (out + plen < cap) {
				memcpy(dst + out, piece, plen);
			} else {
				cut = true; /* stop at a character boundary */
				if (cap)
					dst[out] = 0;
			}
		}
		out += plen;
		i += adv;
	}
	if (!cut && cap)
		dst[out] = 0;
	return out;
}

void ccp_json_init(struct ccp_json_out *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* Writes the comma before a member or element unless it is the first. */
static void value_prefix(struct ccp_json_out *j)
{
	if (j->pending_key) {
		j->pending_key = false;
		return;
	}
	if (j->depth > 0 && !j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

static void put_string(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	char buf[512];
	/* Chunks of at most 64 bytes escape to at most 6*64 < 512 bytes. */
	while (len) {
		size_t n = len < 64 ? len : 64;
		/* Do not split a UTF-8 sequence across chunks. */
		while (n < len && n > 60 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		size_t w = ccp_json_escape(buf, sizeof(buf), s, n);
		fwrite(buf, 1, w, f);
		s += n;
		len -= n;
	}
	fputc('"', f);
}

static void open_container(struct ccp_json_out *j, char c)
{
	value_prefix(j);
	fputc(c, j->f);
	if (j->depth + 1 >= CCP_JSON_MAX_DEPTH) {
		j->overflow = true;
		return;
	}
	j->depth++;
	j->first[j->depth] = true;
}

static void close_container(struct ccp_json_out *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void ccp_json_begin_object(struct ccp_json_out *j)
{
	open_container(j, '{');
}

void ccp_json_end_object(struct ccp_json_out *j)
{
	close_container(j, '}');
}

void ccp_json_begin_array(struct ccp_json_out *j)
{
	open_container(j, '[');
}

void ccp_json_end_array(struct ccp_json_out *j)
{
	close_container(j, ']');
}

void ccp_json_key(struct ccp_json_out *j, const char *key, size_t len)
{
	value_prefix(j);
	put_string(j->f, key, len);
	fputc(':', j->f);
	j->pending_key = true;
}

void ccp_json_string(struct ccp_json_out *j, const char *s, size_t len)
{
	value_prefix(j);
	put_string(j->f, s, len);
}

void ccp_json_int(struct ccp_json_out *j, int64_t v)
{
	value_prefix(j);
	fprintf(j->f, "%" PRId64, v);
}

void ccp_json_uint(struct ccp_json_out *j, uint64_t v)
{
	value_prefix(j);
	fprintf(j->f, "%" PRIu64, v);
}

void ccp_json_bool(struct ccp_json_out *j, bool v)
{
	value_prefix(j);
	fputs(v ? "true" : "false", j->f);
}

void ccp_json_raw(struct ccp_json_out *j, const char *text, size_t len)
{
	value_prefix(j);
	fwrite(text, 1, len, j->f);
}

void ccp_json_null(struct ccp_json_out *j)
{
	value_prefix(j);
	fputs("null", j->f);
}
