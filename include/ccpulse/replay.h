/* Offline replay (contract: outputs.md "Offline replay"): NDJSON through
 * the decoder and one engine, then one JSON object with every figure. */
#ifndef CCPULSE_REPLAY_H
#define CCPULSE_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "ccpulse/event.h"

struct ccp_config;
struct ccp_engine;

/* Totals of one replay run. Owner: the caller. */
struct ccp_replay_result {
	uint64_t lines, events, applied;
	uint64_t rejects[CCP_REJECT__COUNT];
};

/* Feeds every line of `in` to `e`. Returns 0, or -1 on a read error.
 * @thread owner of `e` */
int ccp_replay_stream(struct ccp_engine *e, FILE *in, struct ccp_replay_result *res);

/* Writes the contract's JSON object for the engine's state. */
void ccp_replay_write_json(const struct ccp_engine *e, const struct ccp_config *cfg,
			   const struct ccp_replay_result *res, int64_t wall_ms, FILE *out);

/* Writes a readable summary for people. */
void ccp_replay_write_summary(const struct ccp_engine *e, const struct ccp_config *cfg,
			      const struct ccp_replay_result *res, FILE *out);

/* `ccpulse replay FILE|- [-c CONFIG] [--json OUT]`; argv[0] is "replay". */
int ccp_replay_cmd(int argc, char **argv);

#endif
