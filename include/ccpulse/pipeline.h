/* The live pipeline: Kafka -> workers -> Redis, run by `ccpulse run` and
 * `ccpulse demo` (design: shared/design.md "Shape").
 *
 * DESIGN
 * - Threads: the source thread (source_kafka: consumer group, batch
 *   consume, rebalance), the agent reader (the agent topic, read whole),
 *   N workers (worker.h: decode, engines per partition, renders), and the
 *   loop thread, which is the caller of ccp_pipeline_run(). They share
 *   nothing but SPSC rings and a few counters.
 * - The loop (libuv) owns the Redis sink, the agent table, the pending
 *   list of submitted batches and every timer. It never blocks: Redis is
 *   asynchronous, offsets are stored with a non-blocking call (librdkafka
 *   commits them on its own thread), and the blocking part of shutdown
 *   (stopping the source, whose revoke path waits for acks from this
 *   very loop) runs in libuv's thread pool.
 * - Offsets: a worker's render carries the offset after the last message
 *   it covers; the loop stores it only in the sink's ack of that render's
 *   MULTI/EXEC, so a committed offset never passes what Redis holds.
 * - `total` and `stats` (several instances share the partitions): each
 *   render also writes the partition's partial (partial.h) into the hash
 *   `{p}:state:partials`; every publish interval the loop reads that hash
 *   whole (all partitions, whichever instance owns them), merges, and
 *   writes `{p}:total:*` and `{p}:stats`. Every instance computes the same
 *   from the same partials, so concurrent writers converge.
 * - Agents: every instance reads the whole agent topic into one engine on
 *   the loop and writes the agents_* fields of each queue's live hash and
 *   the agent counts of `{p}:total:live`.
 * - Shutdown (first SIGINT/SIGTERM, or ccp_pipeline_stop): stop the source
 *   (its revoke path has each worker render a partition's last state and
 *   waits for Redis's ack; the source then commits the stored offsets),
 *   stop the agent reader and the workers, publish agents and totals once
 *   more, flush the sink, close every handle, and return. A second signal
 *   exits the process at once (status 128 + signal).
 */
#ifndef CCPULSE_PIPELINE_H
#define CCPULSE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"

struct ccp_config;
struct ccp_log;
struct ccp_pipeline;

/* Options. Owner: the caller; `cfg` and `log` must outlive the pipeline. */
struct ccp_pipeline_opts {
	const struct ccp_config *cfg;
	const struct ccp_log *log;
	uint32_t workers;       /* 0: cfg->workers, and if that is 0, one per core */
	bool handle_signals;    /* SIGINT/SIGTERM handled on the loop (the `run` command) */
	const char *client_id;  /* librdkafka client.id; default "ccpulse" */
};

/* Counters, readable from any thread. */
struct ccp_pipeline_stats {
	uint64_t messages, applied, duplicates, late, rejected;
	uint64_t publications;     /* worker renders submitted */
	uint64_t acked;            /* of those, acknowledged by Redis */
	uint64_t failed;           /* rejected by Redis or dropped */
	uint64_t offsets_stored;
	uint64_t totals_written;
	uint64_t agent_events;
	uint64_t backpressure;     /* offers that found a worker ring full */
	uint64_t rejects[CCP_REJECT__COUNT]; /* bad input by reason */
	uint64_t ring_depth, ring_capacity;  /* worker `in` rings, summed */
	uint64_t alerts_firing;
	uint64_t partitions;       /* assigned now, over all workers */
	uint64_t redis_connects, redis_disconnects, redis_errors, redis_command_timeouts; /* as of the last tick */
	uint64_t webhook_delivered, webhook_failed_attempts, webhook_dropped, webhook_queued; /* as of the last tick */
	bool redis_ready;
	bool running;              /* between start and the end of shutdown */
};

/* Builds every part (nothing runs yet). NULL with a message in `err`.
 * @thread main */
struct ccp_pipeline *ccp_pipeline_new(const struct ccp_pipeline_opts *o, char *err, size_t errlen);
/* Starts the threads and runs the loop on the calling thread until a stop,
 * then shuts down in order. Returns 0 after a clean stop, or -1 with a
 * message in `err` if a part could not start. @thread the loop's (caller's) */
int ccp_pipeline_run(struct ccp_pipeline *p, char *err, size_t errlen);
/* Runs ccp_pipeline_run() on a thread of its own (for programs that embed
 * the pipeline: tests, benches). Returns 0, or a negative errno if the
 * thread could not start. @thread main */
int ccp_pipeline_start(struct ccp_pipeline *p);
/* Waits for the thread of ccp_pipeline_start() (after ccp_pipeline_stop(),
 * or after the run ended by itself) and returns what the run returned,
 * with its message in `err`. @thread main */
int ccp_pipeline_join(struct ccp_pipeline *p, char *err, size_t errlen);
/* Asks a running pipeline to stop (clean shutdown). @thread any */
void ccp_pipeline_stop(struct ccp_pipeline *p);
void ccp_pipeline_stats(const struct ccp_pipeline *p, struct ccp_pipeline_stats *out);
/* The HTTP port (`http.addr`, port 0: the one picked) once the run has
 * started serving; 0 before, or when `http.addr` is empty. @thread any */
int ccp_pipeline_http_port(const struct ccp_pipeline *p);
/* Frees a pipeline that is not running. NULL: no-op. @thread main */
void ccp_pipeline_free(struct ccp_pipeline *p);

#endif
