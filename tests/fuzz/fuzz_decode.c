/* libFuzzer target: the event decoder on arbitrary bytes. Beyond "no crash,
 * no sanitizer report", it checks what the decoder promises (decode.h,
 * events.md) on every input, and aborts where a promise is broken:
 * - a rejection has exactly one reason, an offset inside the input and a
 *   detail text; bad_json names no field;
 * - an accepted event has ts >= 0, an id of 1..128 bytes, every enum in
 *   range, the fields its type requires, scores 1..5 (dims 0..5), and
 *   every string is a slice of the input or of the used scratch, of
 *   1..128 bytes when present;
 * - decoding is deterministic: the same bytes again give the same verdict
 *   and the same event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			abort();                                                               \
	} while (0)

/* A present string (len > 0) must be 1..128 bytes inside the input or the
 * used part of the scratch. */
static void check_slice(struct ccp_str s, const char *in, size_t n, const struct ccp_decoder *d)
{
	if (!s.len)
		return;
	CHECK(s.ptr && s.len <= CCP_ID_MAX_BYTES);
	int in_input = s.ptr >= in && s.ptr + s.len <= in + n;
	int in_scratch = s.ptr >= d->scratch && s.ptr + s.len <= d->scratch + d->scratch_used;
	CHECK(in_input || in_scratch);
}

static int same_str(struct ccp_str a, struct ccp_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void check_event(const struct ccp_event *ev, const char *in, size_t n, const struct ccp_decoder *d)
{
	CHECK(ev->ts_ms >= 0);
	CHECK(ev->id.len >= 1);
	CHECK((unsigned)ev->type < CCP_EV__COUNT);
	CHECK((unsigned)ev->channel < CCP_CH__COUNT);
	CHECK((unsigned)ev->kind < CCP_PROMISE__COUNT);
	CHECK(d->scratch_used <= sizeof(d->scratch));
	CHECK(ev->n_queues <= CCP_AGENT_MAX_QUEUES);
	const struct ccp_str *strs[] = {&ev->id, &ev->queue, &ev->contact, &ev->agent, &ev->transfer_from,
					&ev->to_queue, &ev->to_agent, &ev->promise, &ev->complaint};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		check_slice(*strs[i], in, n, d);
	for (uint32_t i = 0; i < ev->n_queues; i++) {
		CHECK(ev->queues[i].len >= 1);
		check_slice(ev->queues[i], in, n, d);
	}
	for (int i = 0; i < CCP_DIM__COUNT; i++)
		CHECK(ev->dims[i] <= 5);
	switch (ev->type) {
	case CCP_EV_AGENT_STATE:
		CHECK(ev->agent.len >= 1 && (unsigned)ev->state < CCP_AGENT__COUNT);
		break;
	default:
		CHECK(ev->queue.len >= 1 && ev->contact.len >= 1 && ev->n_queues == 0);
		break;
	}
	if (ev->type == CCP_EV_PROMISE_MADE)
		CHECK(ev->due_ms >= 0 && ev->promise.len >= 1);
	if (ev->type == CCP_EV_PROMISE_KEPT || ev->type == CCP_EV_PROMISE_CANCELLED)
		CHECK(ev->promise.len >= 1);
	if (ev->type == CCP_EV_SURVEY_SUBMITTED)
		CHECK(ev->csat >= 1 && ev->csat <= 5);
	else
		CHECK(ev->csat == 0);
	if (ev->type == CCP_EV_COMPLAINT_OPENED || ev->type == CCP_EV_COMPLAINT_RESOLVED)
		CHECK(ev->complaint.len >= 1);
	if (ev->type != CCP_EV_CONTACT_ENDED)
		CHECK(!ev->resolved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Static: the event holds 256 queue slices, too big for a small stack;
	 * one decoder per thread is the decoder's contract. */
	static struct ccp_decoder dec;
	static struct ccp_event ev, ev2;
	const char *in = (const char *)data;
	struct ccp_decode_error err = {0};
	enum ccp_reject r = ccp_decode(&dec, in, size, &ev, &err);
	CHECK(r == CCP_REJECT_NONE || r == CCP_REJECT_BAD_JSON || r == CCP_REJECT_MISSING_FIELD ||
	      r == CCP_REJECT_UNKNOWN_TYPE || r == CCP_REJECT_BAD_FIELD);
	CHECK(err.reason == r);
	if (r != CCP_REJECT_NONE) {
		CHECK(err.detail != NULL && err.offset <= size);
		CHECK(r != CCP_REJECT_BAD_JSON || err.field == NULL);
		CHECK(r == CCP_REJECT_BAD_JSON || err.field != NULL);
	} else {
		check_event(&ev, in, size, &dec);
		CHECK(ccp_decode_check_future(&ev, ev.ts_ms, 0) == CCP_REJECT_NONE);
	}
	/* Same bytes, same verdict, same event (the scratch is reused, so
	 * compare contents, not pointers). */
	struct ccp_event first = ev; /* shallow: the queues' slices stay valid below */
	enum ccp_reject r2 = ccp_decode(&dec, in, size, &ev2, NULL);
	CHECK(r2 == r);
	if (r == CCP_REJECT_NONE) {
		CHECK(ev2.type == first.type && ev2.ts_ms == first.ts_ms && ev2.channel == first.channel &&
		      ev2.n_queues == first.n_queues && ev2.due_ms == first.due_ms && ev2.csat == first.csat);
		CHECK(same_str(ev2.id, first.id) && same_str(ev2.queue, first.queue) &&
		      same_str(ev2.contact, first.contact) && same_str(ev2.agent, first.agent));
		for (uint32_t i = 0; i < ev2.n_queues; i++)
			CHECK(same_str(ev2.queues[i], first.queues[i]));
	}
	return 0;
}
