/* A small streaming JSON writer to a FILE: objects, arrays, keys, strings
 * with full escaping, integers and raw number text. No allocation.
 *
 * Strings of any bytes come out as valid JSON: '"', '\\' and control
 * characters are escaped, and bytes that are not well-formed UTF-8 (event
 * ids are validated by the decoder, but config values and log details are
 * not) become U+FFFD, so a consumer's JSON parser never fails on our output.
 */
#ifndef CCPULSE_JSON_OUT_H
#define CCPULSE_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CCP_JSON_MAX_DEPTH 16

/* Owner: the caller's thread; borrows `f`, which must outlive it. */
struct ccp_json_out {
	FILE *f;
	int depth;
	bool pending_key;               /* a key was written: its value needs no comma */
	bool first[CCP_JSON_MAX_DEPTH]; /* no member written yet at this depth */
	bool overflow;                  /* nesting beyond CCP_JSON_MAX_DEPTH was attempted */
};

void ccp_json_init(struct ccp_json_out *j, FILE *f);
/* Containers; nesting deeper than CCP_JSON_MAX_DEPTH sets `overflow` and
 * the output is then not valid JSON (a programmer error, caught by tests). */
void ccp_json_begin_object(struct ccp_json_out *j);
void ccp_json_end_object(struct ccp_json_out *j);
void ccp_json_begin_array(struct ccp_json_out *j);
void ccp_json_end_array(struct ccp_json_out *j);
/* Writes `"key":`; the next call writes its value. */
void ccp_json_key(struct ccp_json_out *j, const char *key, size_t len);
void ccp_json_string(struct ccp_json_out *j, const char *s, size_t len);
void ccp_json_int(struct ccp_json_out *j, int64_t v);
void ccp_json_uint(struct ccp_json_out *j, uint64_t v);
void ccp_json_bool(struct ccp_json_out *j, bool v);
/* Writes already formatted number text (from ccp_field_format). */
void ccp_json_raw(struct ccp_json_out *j, const char *text, size_t len);
void ccp_json_null(struct ccp_json_out *j);

/* Escapes `len` bytes of `s` for the inside of a JSON string (no quotes)
 * into `dst` (NUL-terminated when `cap` > 0). Returns the length the full
 * escaped text needs; if that is >= `cap`, the output was cut at a
 * character boundary. Pure; used by the writer and by the JSON log format. */
size_t ccp_json_escape(char *dst, size_t cap, const char *s, size_t len);

#endif
