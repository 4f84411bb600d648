/* libFuzzer target: the event decoder, then the engine. Checks the
 * decoder's promises on every accepted event. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/decode.h"
#include "ccpulse/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_slice(struct ccp_str s, const char *in, size_t n, const struct ccp_decoder *d)
{
	if (!s.len)
		return;
	int in_input = s.ptr >= in && s.ptr + s.len <= in + n;
	int in_scratch = s.ptr >= d->scratch && s.ptr + s.len <= d->scratch + sizeof(d->scratch);
	if (!in_input && !in_scratch)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ccp_decoder dec;
	static struct ccp_event ev;
	const char *in = (const char *)data;
	if (ccp_decode(&dec, in, size, &ev, NULL) != CCP_REJECT_NONE)
		return 0;
	if (ev.ts_ms < 0 || ev.id.len < 1 || ev.id.len > CCP_ID_MAX_BYTES || ev.type >= CCP_EV__COUNT ||
	    ev.n_queues > CCP_AGENT_MAX_QUEUES)
		abort();
	if (ev.type != CCP_EV_AGENT_STATE && (ev.queue.len < 1 || ev.contact.len < 1))
		abort();
	if (ev.type == CCP_EV_SURVEY_SUBMITTED && (ev.csat < 1 || ev.csat > 5))
		abort();
	check_slice(ev.id, in, size, &dec);
	check_slice(ev.queue, in, size, &dec);
	check_slice(ev.contact, in, size, &dec);
	for (uint32_t i = 0; i < ev.n_queues; i++)
		check_slice(ev.queues[i], in, size, &dec);
	/* Whatever decodes must apply without harm. */
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	char err[128];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	if (!e)
		abort();
	ccp_engine_apply(e, &ev);
	ccp_engine_apply(e, &ev);
	ccp_engine_advance_to(e, ev.ts_ms + 8 * 86400000LL);
	ccp_engine_free(e);
	return 0;
}
