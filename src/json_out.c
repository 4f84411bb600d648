/* Streaming JSON writer (see include/ccpulse/json_out.h). */
#include "ccpulse/json_out.h"

#include <inttypes.h>

void ccp_json_init(struct ccp_json_out *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = true;
	j->pending_key = false;
}

static void sep(struct ccp_json_out *j)
{
	if (j->depth > 0 && !j->first[j->depth])
		fputc(',', j->f);
	if (j->depth > 0)
		j->first[j->depth] = false;
}

static void put_string(FILE *f, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		} else {
			fputc(c, f); /* UTF-8 was validated by the decoder */
		}
	}
	fputc('"', f);
}

void ccp_json_begin_object(struct ccp_json_out *j)
{
	if (!j->pending_key)
		sep(j);
	j->pending_key = false;
	fputc('{', j->f);
	if (j->depth + 1 < CCP_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

void ccp_json_end_object(struct ccp_json_out *j)
{
	fputc('}', j->f);
	if (j->depth > 0)
		j->depth--;
}

void ccp_json_key(struct ccp_json_out *j, const char *key, size_t len)
{
	sep(j);
	put_string(j->f, key, len);
	fputc(':', j->f);
	j->pending_key = true;
}

static void value_prefix(struct ccp_json_out *j)
{
	if (!j->pending_key)
		sep(j);
	j->pending_key = false;
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
