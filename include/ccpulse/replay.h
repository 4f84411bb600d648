/* Offline replay (contract: outputs.md "Offline replay"): NDJSON through
 * the decoder and ONE engine (the whole file is one partition), then one
 * JSON object with every figure, and a readable summary.
 *
 * Input rules: lines of up to CCP_EVENT_MAX_BYTES bytes (without the
 * newline); a longer line is one bad_json event, skipped to its newline;
 * blank lines (empty, or only spaces, tabs and CRs) are skipped silently;
 * a last line without a newline counts. No future_ts check (event time
 * only). Output: "now" is the engine clock, null when no event was
 * applied; queues sorted bytewise; absent figures left out.
 */
#ifndef CCPULSE_REPLAY_H
#define CCPULSE_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "ccpulse/event.h"

struct ccp_config;
struct ccp_engine;
struct ccp_log_reporter;

/* Totals of one replay run. Owner: the caller. */
struct ccp_replay_result {
	uint64_t lines;   /* newline-terminated lines, plus a last unterminated one */
	uint64_t events;  /* non-blank lines */
	uint64_t applied; /* accepted by the engine (not duplicate, not late) */
	uint64_t rejects[CCP_REJECT__COUNT];
	uint64_t bytes;
};

/* Feeds every line readable from `fd` to `e`, until end of file. Rejected
 * lines are reported through `rejects` (may be NULL) with their line
 * number, reason, field and byte offset. Returns 0, or -1 with errno on a
 * read error or if the line buffer cannot be allocated. One buffer for the
 * whole run; nothing is allocated per event. @thread owner of `e` */
int ccp_replay_stream(struct ccp_engine *e, int fd, struct ccp_replay_result *res, struct ccp_log_reporter *rejects);

/* Writes the contract's JSON object (one line) for the engine's state.
 * `wall_ms` is the `updated_at` of every window. */
void ccp_replay_write_json(const struct ccp_engine *e, const struct ccp_config *cfg,
			   const struct ccp_replay_result *res, int64_t wall_ms, FILE *out);

/* Writes a summary for people: per queue, the `1h` and `today` windows
 * (offered, answered, SL, ASA, abandon rate, waiting, promises kept, CSAT),
 * then the counters and rejects. */
void ccp_replay_write_summary(const struct ccp_engine *e, const struct ccp_config *cfg,
			      const struct ccp_replay_result *res, FILE *out);

/* `ccpulse replay FILE|- [-c CONFIG] [--json OUT] [config flags]`; argv[0]
 * is "replay". Returns the exit code. @thread main */
int ccp_replay_cmd(int argc, char **argv);

#endif
