/* A partition's recovery record in Redis: what a new owner needs to go on
 * exactly where the last one stopped.
 *
 * DESIGN
 * - Written by the partition's worker inside the partition's MULTI/EXEC
 *   (so always consistent with the figures beside it), in the hash
 *   `{p}:state:part:{P}`:
 *     rendered     the Kafka offset after the last event the figures in
 *                  Redis cover (every render)
 *     ckpt_offset  the offset after the last event the checkpoint covers
 *     ckpt         the engine's snapshot (src/snapshot.c) at ckpt_offset
 *     rejects      bad input counted by reason, at ckpt_offset
 *   The checkpoint goes out every `checkpoint.interval` and with the last
 *   render of a revoked partition; `rendered` with every render. The
 *   firing alerts of every partition are in `{p}:state:firing`
 *   (ccp_publish_alert).
 * - Read on the source thread inside the rebalance callback, with plain
 *   blocking hiredis: the assignment cannot go on before the record is
 *   known, and this thread has nothing else to do meanwhile (the loop
 *   thread never blocks). A failing read is retried with backoff until it
 *   succeeds or the caller's stop flag is set: starting without the record
 *   would bend the figures.
 * - A new owner loads the checkpoint and reads Kafka from ckpt_offset; it
 *   renders nothing until it is back at `rendered` (so a wallboard never
 *   sees older figures), and alerts that were firing stay firing without
 *   being said again.
 *
 * Thread: a reader belongs to one thread (the source thread); a record is
 * handed over whole to the worker that takes the partition.
 */
#ifndef CCPULSE_RECOVERY_H
#define CCPULSE_RECOVERY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"
#include "ccpulse/redis_url.h"

struct ccp_log;
struct ccp_cmdbuf;

/* One alert firing when the record was read. */
struct ccp_recovery_alert {
	char *rule, *queue, *promise; /* NUL-terminated copies; promise "" if none */
	size_t queue_len, promise_len;
	int64_t fired_ms;
};

/* A partition's record. Owner: the source thread until handed to the
 * worker with the assignment; freed by ccp_recovery_free(). */
struct ccp_recovery {
	int32_t partition;
	int64_t rendered_offset; /* -1: never rendered */
	int64_t ckpt_offset;     /* -1: no checkpoint */
	char *ckpt;              /* the snapshot; NULL when none */
	size_t ckpt_len;
	uint64_t rejects[CCP_REJECT__COUNT];
	struct ccp_recovery_alert *alerts;
	uint32_t n_alerts;
};

void ccp_recovery_free(struct ccp_recovery *r); /* NULL: no-op */

struct ccp_recovery_reader;

/* Settings are copied; nothing connects yet. NULL if out of memory. */
struct ccp_recovery_reader *ccp_recovery_reader_new(const struct ccp_redis_url *url, const char *prefix,
						    const struct ccp_log *log);
void ccp_recovery_reader_free(struct ccp_recovery_reader *rd); /* NULL: no-op */

/* Reads partition P's record, blocking; retries (logging each failure)
 * until it succeeds or *stop becomes true. Returns 0 with a new record in
 * *out, or -ECANCELED (stopped) / -ENOMEM. @thread the reader's */
int ccp_recovery_read(struct ccp_recovery_reader *rd, int32_t partition, const atomic_bool *stop,
		      struct ccp_recovery **out);

/* Appends the writes of a render (HSET `rendered`) and, with `ckpt`, of a
 * checkpoint, to a partition's MULTI/EXEC. @thread any */
void ccp_recovery_render(struct ccp_cmdbuf *cb, const char *prefix, int32_t partition, int64_t rendered_offset,
			 const void *ckpt, size_t ckpt_len, const uint64_t rejects[CCP_REJECT__COUNT]);

#endif
