/* Worker threads: decode and aggregate the partitions routed to them.
 *
 * DESIGN
 * - Threads and rings. A worker is one thread with three SPSC rings
 *   (include/ccpulse/ring.h): `in` from the source thread (messages of its
 *   partitions in offset order, and assign/revoke controls in between),
 *   `out` to the loop thread (rendered publications), and `back` from the
 *   loop (command buffers returned for reuse). Nothing else is shared.
 * - Partitions. Each assigned partition owns an engine, a decoder's
 *   reject counts and two command buffers. Only this worker touches them,
 *   from assign to revoke (style.md: Kafka Streams tasks).
 * - Per message: decode, the live-only future_ts check, apply, release the
 *   message to librdkafka. Rejects are counted per reason, reported at most
 *   once a second, and copied to the dead-letter topic when configured.
 *   Nothing allocates per message.
 * - Publishing. Every publish interval, each partition that changed (an
 *   event applied, the clock moved) is rendered into its current buffer:
 *   per queue window and live hashes (the agents fields belong to the loop),
 *   its promises overdue, its partial for the `total` view and `stats`,
 *   and a PUBLISH of the queues that changed on `{p}:updates`. The buffer goes to the loop with
 *   the offset it covers; the loop submits it as one MULTI/EXEC and stores
 *   that offset once Redis acknowledged it. A partition renders again only
 *   when the loop has given a buffer back, so a slow Redis holds at most
 *   one render per partition in the pipeline while events keep applying.
 * - Clock. A partition with no message for `idle_advance_ms` follows the
 *   wall clock (metrics.md: a quiet queue drains on a live wallboard).
 * - Backpressure: the source offers messages with ccp_worker_offer(); a
 *   full `in` ring takes fewer, the source pauses the partition, and the
 *   worker wakes the source once it has made room.
 * - Waiting: an idle worker sleeps on an eventfd until a producer that
 *   sees it asleep writes to it, or until its next publish tick.
 */
#ifndef CCPULSE_WORKER_H
#define CCPULSE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"

struct ccp_config;
struct ccp_log;
struct ccp_cmdbuf;
struct ccp_source_kafka;
struct ccp_worker;
struct ccp_webhook_alert;
typedef struct rd_kafka_message_s rd_kafka_message_t;

/* A revoked partition's last publication, awaited by the source thread.
 * Shared by the source (waits) and the loop (signals); freed by whichever
 * lets go last. Opaque. */
struct ccp_worker_revoke;

/* One publication, worker -> loop. Owner: the loop once taken. */
struct ccp_worker_pub {
	struct ccp_cmdbuf *cb;           /* give it back with ccp_worker_give_back() */
	int64_t next_offset;             /* store after the ack; -1: nothing new */
	struct ccp_worker_revoke *final; /* set on a revoked partition's last one */
	struct ccp_webhook_alert *alerts; /* its transitions, for webhooks after the ack (malloc'd; free) */
	uint32_t n_alerts;
	int32_t partition;
	uint64_t pad_[3]; /* a ring slot is a power of two bytes: 64 */
};

/* Options. Owner: the caller; `cfg`, `src`, `log` must outlive the worker. */
struct ccp_worker_opts {
	const struct ccp_config *cfg;  /* engine settings, prefix, skew, intervals */
	struct ccp_source_kafka *src;  /* release, wake, dead letters; NULL in tests that feed by hand */
	const struct ccp_log *log;
	uint32_t in_slots;             /* `in` ring capacity (power of two); default 65536 */
	int64_t publish_interval_ms;   /* default cfg->publish_interval_ms */
	int64_t idle_advance_ms;       /* 0: never follow the wall clock */
	void (*notify)(void *ud);      /* a publication is ready (uv_async_send); any thread */
	void *notify_ud;
	/* For tests: the wall clock (epoch ms); NULL: CLOCK_REALTIME. */
	int64_t (*wall_ms)(void);
};

/* Creates a worker (not running). NULL with a message in `err`. @thread main */
struct ccp_worker *ccp_worker_new(const struct ccp_worker_opts *o, uint32_t index, char *err, size_t errlen);
/* Spawns the thread. 0 or a negative errno. @thread main */
int ccp_worker_start(struct ccp_worker *w);
/* Asks the thread to finish (after what is queued), joins it. Partitions
 * still assigned are dropped without a final render. @thread main/loop */
void ccp_worker_stop(struct ccp_worker *w);
/* Stops if needed and frees (buffers given back or not). NULL: no-op. */
void ccp_worker_free(struct ccp_worker *w);

/* ---- source side (@thread source: one producer) ---- */
struct ccp_recovery;
/* Offsets ccp_worker_assign() may answer besides a real one (the values
 * of the source's "committed" and librdkafka's "beginning"). */
#define CCP_WORKER_OFFSET_COMMITTED (-1000)
#define CCP_WORKER_OFFSET_BEGINNING (-2)
/* Queues `partition`'s start before any of its messages (waits, bounded,
 * for ring room). With a recovery record (taken over; freed by the
 * worker), waits until the worker has restored it and returns the offset
 * to read from: the checkpoint's, or CCP_WORKER_OFFSET_BEGINNING to
 * rebuild the state from the start of the partition. Without one, returns
 * CCP_WORKER_OFFSET_COMMITTED at once. Or -ETIMEDOUT / -ENOMEM. */
int64_t ccp_worker_assign(struct ccp_worker *w, int32_t partition, struct ccp_recovery *rec);
/* Offers messages of one partition; returns how many it took (the rest
 * stay with the caller, which pauses the partition). */
size_t ccp_worker_offer(struct ccp_worker *w, int32_t partition, const rd_kafka_message_t **msgs, size_t n);
/* Queues the partition's end: the worker renders a last publication and
 * drops the partition's state. Waits until the loop reports Redis's ack of
 * that publication (its offset stored) or `timeout_ms`. Returns 0 (acked),
 * -ETIMEDOUT, or -EIO (the write failed or was dropped). */
int ccp_worker_revoke(struct ccp_worker *w, int32_t partition, int timeout_ms);

/* ---- loop side (@thread loop: one consumer of `out`, one producer of `back`) ---- */
/* Takes the next publication; false when none. */
bool ccp_worker_take(struct ccp_worker *w, struct ccp_worker_pub *out);
/* Returns a publication's buffer once submitted (the sink copied it). */
void ccp_worker_give_back(struct ccp_worker *w, int32_t partition, struct ccp_cmdbuf *cb);
/* The final publication of a revoked partition was acknowledged (ok) or
 * failed; wakes the waiting source thread and lets go of `r`. @thread loop */
void ccp_worker_revoke_done(struct ccp_worker_revoke *r, bool ok);

/* Counters, any thread (relaxed atomics: gauges, not synchronisation). */
struct ccp_worker_stats {
	uint64_t messages;       /* messages taken */
	uint64_t applied, duplicates, late; /* engine outcomes */
	uint64_t rejected;       /* all reasons */
	uint64_t rejects[CCP_REJECT__COUNT]; /* by reason */
	uint64_t publications;   /* renders handed to the loop */
	uint64_t in_full;        /* offers that found the ring full (source paused) */
	uint32_t partitions;     /* assigned now */
	uint32_t in_depth;       /* `in` ring occupancy */
	uint32_t in_capacity;    /* `in` ring slots */
	uint32_t alerts_firing;  /* alert pairs firing in its partitions, as of its last render */
};
void ccp_worker_stats(const struct ccp_worker *w, struct ccp_worker_stats *out);

#endif
