/* The operations surface of a running pipeline: HTTP on the loop with
 * /healthz, /readyz, /metrics (Prometheus text format) and, given a
 * config, the wallboard (board.h: /, /api/queues, /api/stream).
 *
 * DESIGN
 * - One `struct ccp_ops` per pipeline, created on the pipeline's loop
 *   before it runs and closed when the pipeline shuts down. Every handler
 *   answers on the loop thread from a stats snapshot the pipeline hands
 *   over through `read_stats` (atomic counters: nothing blocks).
 * - /healthz: 200 while the process runs its loop. /readyz: 200 when
 *   partitions are assigned and Redis is connected, else 503 with the
 *   reason. /metrics: the registry below, each series read at scrape
 *   time; names are documented in the README ("Operations").
 *
 * Thread: loop only, except `read_stats`, which the pipeline makes safe
 * to call there.
 */
#ifndef CCPULSE_OPS_H
#define CCPULSE_OPS_H

#include <stddef.h>

#include "ccpulse/pipeline.h"

struct uv_loop_s;
struct ccp_config;
struct ccp_log;
struct ccp_ops;

/* Options. Owner: the caller; borrowed for ccp_ops_new() except
 * `read_stats`/`ud`, which must stay valid until the close callback. */
struct ccp_ops_opts {
	const char *addr; /* "HOST:PORT" (port 0: any free one) */
	const struct ccp_log *log;
	void (*read_stats)(void *ud, struct ccp_pipeline_stats *out);
	/* Consumer lag of a partition, -1 when not held; NULL: no lag series. */
	int64_t (*read_lag)(void *ud, int32_t partition);
	void *ud;
	/* The wallboard reads Redis with this config (must outlive the ops);
	 * NULL: no wallboard routes. */
	const struct ccp_config *cfg;
};

/* Binds and starts serving on `loop`. NULL with a message in `err`.
 * @thread loop */
struct ccp_ops *ccp_ops_new(struct uv_loop_s *loop, const struct ccp_ops_opts *o, char *err, size_t errlen);
/* Counts one render's time from submission to Redis's ack. @thread loop */
void ccp_ops_observe_ack(struct ccp_ops *ops, double seconds);
/* The bound TCP port. @thread loop */
int ccp_ops_port(const struct ccp_ops *ops);
/* Stops serving; frees everything, then calls cb(ud). @thread loop */
void ccp_ops_close(struct ccp_ops *ops, void (*cb)(void *ud), void *ud);

#endif
