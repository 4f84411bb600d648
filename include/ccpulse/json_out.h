/* A small streaming JSON writer to a FILE: objects, keys, strings with full
 * escaping (any byte sequence from a validated event is written as valid
 * JSON), integers and raw number text. No allocation. */
#ifndef CCPULSE_JSON_OUT_H
#define CCPULSE_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CCP_JSON_MAX_DEPTH 16

/* Owner: the caller's thread; borrows `f`. */
struct ccp_json_out {
	FILE *f;
	int depth;
	bool pending_key; /* a key was written: its value needs no comma */
	bool first[CCP_JSON_MAX_DEPTH]; /* no member written yet at this depth */
};

void ccp_json_init(struct ccp_json_out *j, FILE *f);
void ccp_json_begin_object(struct ccp_json_out *j);
void ccp_json_end_object(struct ccp_json_out *j);
/* Writes `"key":`; the next call writes its value. */
void ccp_json_key(struct ccp_json_out *j, const char *key, size_t len);
void ccp_json_string(struct ccp_json_out *j, const char *s, size_t len);
void ccp_json_int(struct ccp_json_out *j, int64_t v);
/* Writes already formatted number text. */
void ccp_json_raw(struct ccp_json_out *j, const char *text, size_t len);
void ccp_json_null(struct ccp_json_out *j);

#endif
