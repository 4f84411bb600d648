/* The event decoder: one JSON message -> struct ccp_event, or the reason it
 * was rejected (shared/contract/events.md, "Bad input"). Pure: no I/O, no
 * allocation, no globals; fuzzed (tests/fuzz/fuzz_decode.c).
 */
#ifndef CCPULSE_DECODE_H
#define CCPULSE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"

/* Scratch for unescaped strings of one event. Owner: one thread (a worker,
 * or main in replay); reused by every call, so an event's strings die at the
 * next call. */
struct ccp_decoder {
	char scratch[CCP_ID_MAX_BYTES * (CCP_AGENT_MAX_QUEUES + 16)];
	uint32_t scratch_used;
};

/* Why a rejection happened, for logs: the reason, the field if any, and the
 * byte offset in the input. */
struct ccp_decode_error {
	enum ccp_reject reason;
	const char *field; /* static string, or NULL */
	size_t offset;
	const char *detail; /* static string */
};

void ccp_decoder_init(struct ccp_decoder *d);

/* Decodes `len` bytes at `buf` (not NUL-terminated). Returns
 * CCP_REJECT_NONE and fills `ev`, or a reason and fills `err` (may be NULL).
 * The future_ts check is not done here (it needs a wall clock): see
 * ccp_decode_check_future(). @thread owner of `d` */
enum ccp_reject ccp_decode(struct ccp_decoder *d, const char *buf, size_t len,
			   struct ccp_event *ev, struct ccp_decode_error *err);

/* Live only: CCP_REJECT_FUTURE_TS if `ev->ts_ms` is more than `skew_ms`
 * ahead of `wall_ms`, else CCP_REJECT_NONE. */
enum ccp_reject ccp_decode_check_future(const struct ccp_event *ev, int64_t wall_ms, int64_t skew_ms);

#endif
