/* The Kafka source: a librdkafka consumer in a consumer group on the
 * contact topic, run on its own thread (the source thread), plus a
 * whole-topic reader for the agent topic and a dead-letter producer.
 * No parsing happens here: messages are routed by partition.
 *
 * DESIGN
 * - Threads. ccp_source_kafka_start() spawns the source thread; it alone
 *   calls rd_kafka_consume_batch_queue(), runs the rebalance callback and
 *   commits synchronously (librdkafka 2.0.2 wants pause/resume/seek on the
 *   consuming thread while batch consuming, so it never pauses at all).
 *   Other threads only store offsets, wake the source, produce dead
 *   letters and read stats: all thread-safe.
 * - Batches. A consumed batch is cut into runs of consecutive messages of
 *   one partition (librdkafka queues a fetch response contiguously, so
 *   runs are long) and each run goes to deliver(ud, partition, msgs, n).
 *   deliver returns how many messages, from the front, it accepted.
 * - Ownership: messages are HANDED OVER, never copied. Each accepted
 *   message belongs to the caller, which must give it back with
 *   ccp_source_kafka_release() (any thread) once it no longer reads the
 *   payload (payload and key slices die there). Messages not accepted stay
 *   with the source. Every message must be released before
 *   ccp_source_kafka_free(), which destroys the librdkafka handle.
 * - Backpressure. If deliver accepts fewer than n, the source keeps the
 *   rest of that partition in order (counted in `pauses`) and offers it
 *   again whenever ccp_source_kafka_wake() is called (or every
 *   millisecond) until all is taken (`resumes`). Other partitions go on;
 *   later messages of a holding partition join its kept ones, and any
 *   message at an offset below the next expected one is dropped (counted
 *   in `stale`), so a partition is delivered in order without gaps or
 *   repeats. Once 65536 messages are kept in all, nothing new is consumed
 *   until they drain: memory stays bounded. Partitions are NOT paused in
 *   librdkafka: a pause drops the partition's prefetched messages and
 *   fetches them again, which cost half the throughput in bench_e2e. While
 *   the source holds everything, librdkafka's local queue fills to
 *   queued.min.messages per partition and its fetcher stops by itself;
 *   the rings drain in milliseconds, so rebalance callbacks (served by the
 *   consume call) wait at most that long.
 * - Offsets. enable.auto.offset.store=false; the caller stores an offset
 *   with ccp_source_kafka_store_offset() only after the sink acknowledged
 *   the write that covers it. enable.auto.commit=true commits the STORED
 *   offsets every auto.commit.interval.ms on librdkafka's own thread, so
 *   no commit call ever runs on the loop; on revoke and on stop the source
 *   thread also commits synchronously, so the next owner of a partition
 *   starts exactly after the last acknowledged event.
 * - Rebalance (eager: range or roundrobin; cooperative-sticky is refused
 *   because of known bugs in librdkafka 2.0.2). On assign, assigned(ud, p)
 *   returns the offset to start from (or CCP_SOURCE_KAFKA_OFFSET_COMMITTED)
 *   and the source assigns with those offsets (no separate seek). On
 *   revoke, kept messages of the partition are dropped (they were never
 *   stored, so they will be read again by the next owner), revoked(ud, p)
 *   runs for each partition BEFORE it is released, then stored offsets are
 *   committed synchronously and the partitions are unassigned. Budget:
 *   revoked() should return within revoke_budget_ms (default 5000; a
 *   slower one is logged). The group coordinator waits for the rebalance
 *   at most max.poll.interval.ms (librdkafka default 300 s), and the whole
 *   group stalls while it waits, so keep it short: publish and checkpoint,
 *   nothing else.
 * - Local queue. librdkafka prefetches per partition up to
 *   queued.min.messages messages or queued.max.messages.kbytes; past that
 *   its fetcher backs off for up to a second. The defaults here
 *   (CCP_SOURCE_KAFKA_QUEUED_MIN_MESSAGES per partition, 16 MB) hold well
 *   over a second of a partition's traffic at the rates ccpulse targets,
 *   so the backoff never starves the workers, while memory stays bounded
 *   (partitions x 16 MB at worst). Fetches: up to
 *   CCP_SOURCE_KAFKA_PARTITION_FETCH_BYTES per partition (librdkafka's 1 MB
 *   default halves the catch-up rate in bench_e2e), and a broker holds an
 *   empty fetch at most CCP_SOURCE_KAFKA_FETCH_WAIT_MS (librdkafka's 500 ms
 *   is added to freshness by a broker that does not answer early, like the
 *   mock cluster: bench_e2e's Kafka share of freshness drops from p99
 *   100 ms at 100 ms to 23 ms at 20 ms; a real broker answers as soon as
 *   data arrives, so the cost is at most 50 small requests a second per
 *   broker while idle). Any kafka.* setting overrides them.
 * - Stop: ccp_source_kafka_stop() asks the thread to stop and joins it.
 *   The thread drops kept messages, closes the consumer (which runs the
 *   revoke path above: revoked callbacks, synchronous commit), flushes the
 *   dead-letter producer (bounded) and exits. It completes within a few
 *   seconds against a live broker.
 */
#ifndef CCPULSE_SOURCE_KAFKA_H
#define CCPULSE_SOURCE_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* librdkafka's message type, without pulling rdkafka.h into every user
 * (C11 allows repeating an identical typedef). */
typedef struct rd_kafka_message_s rd_kafka_message_t;

struct ccp_log;
struct ccp_source_kafka;
struct ccp_source_kafka_global;

/* assigned(): start from the group's committed offset (or
 * auto.offset.reset if none). Equal to RD_KAFKA_OFFSET_STORED. */
#define CCP_SOURCE_KAFKA_OFFSET_COMMITTED (-1000)
/* assigned(): start from the beginning / the end of the partition. */
#define CCP_SOURCE_KAFKA_OFFSET_BEGINNING (-2)
#define CCP_SOURCE_KAFKA_OFFSET_END (-1)

#define CCP_SOURCE_KAFKA_BATCH_MAX 1024         /* messages per consume call */
#define CCP_SOURCE_KAFKA_MAX_PARTITIONS 4096    /* partition ids 0..max-1 */
#define CCP_SOURCE_KAFKA_QUEUED_MIN_MESSAGES 20000
#define CCP_SOURCE_KAFKA_QUEUED_MAX_KBYTES 16384
#define CCP_SOURCE_KAFKA_PARTITION_FETCH_BYTES "8388608"
#define CCP_SOURCE_KAFKA_FETCH_WAIT_MS "20"
/* A crashed instance's partitions wait this long for a new owner
 * (librdkafka's default is 45 s); 10 s stays above the brokers' usual
 * group.min.session.timeout.ms (6 s) with room for a busy network. A
 * clean stop leaves the group at once, and static membership
 * (kafka.group.instance.id, one per instance) lets a restart take its
 * partitions straight back. */
#define CCP_SOURCE_KAFKA_SESSION_TIMEOUT_MS "10000"
#define CCP_SOURCE_KAFKA_HEARTBEAT_MS "1000"

/* Dead-letter headers (contract/events.md: "the reason in a header"). */
#define CCP_SOURCE_KAFKA_HDR_REASON "ccpulse-reason"
#define CCP_SOURCE_KAFKA_HDR_PARTITION "ccpulse-partition"
#define CCP_SOURCE_KAFKA_HDR_OFFSET "ccpulse-offset"

/* Takes the first messages of `msgs[0..n)` (all of `partition`, in offset
 * order) and returns how many it accepted (0..n). Accepted messages are
 * the caller's until ccp_source_kafka_release(). @thread source */
typedef size_t (*ccp_source_kafka_deliver_cb)(void *ud, int32_t partition, const rd_kafka_message_t **msgs,
					      size_t n);
/* A partition was assigned: return the offset to start from (a checkpoint
 * restore) or CCP_SOURCE_KAFKA_OFFSET_COMMITTED. @thread source */
typedef int64_t (*ccp_source_kafka_assigned_cb)(void *ud, int32_t partition);
/* A partition is about to be released: publish and checkpoint it now
 * (store its offset with ccp_source_kafka_store_offset() before returning:
 * it is committed right after). @thread source */
typedef void (*ccp_source_kafka_revoked_cb)(void *ud, int32_t partition);

/* A librdkafka setting passed through unchanged. A leading "kafka." on
 * the key is removed (so config keys can be passed as they are). */
struct ccp_source_kafka_setting {
	const char *key;
	const char *value;
};

/* Options of ccp_source_kafka_new(). Owner: the caller; everything is
 * copied or applied during new(), except `log` and `ud`, which must
 * outlive the source. Zero means the default where one is given. */
struct ccp_source_kafka_opts {
	const char *brokers;   /* bootstrap.servers; required */
	const char *topic;     /* contact topic; required */
	const char *group;     /* group.id; required */
	const char *client_id; /* client.id; default "ccpulse" */
	const struct ccp_source_kafka_setting *kafka; /* pass-through, applied in order */
	size_t n_kafka;
	const char *dead_letter_topic; /* NULL or "": no dead-letter producer */
	uint32_t batch_max;          /* default and maximum CCP_SOURCE_KAFKA_BATCH_MAX */
	uint32_t max_partitions;     /* default CCP_SOURCE_KAFKA_MAX_PARTITIONS */
	int poll_ms;                 /* consume timeout; default 100 */
	int revoke_budget_ms;        /* default 5000 (logged when exceeded) */
	int close_timeout_ms;        /* dead-letter flush at stop; default 2000 */
	ccp_source_kafka_deliver_cb deliver; /* required */
	ccp_source_kafka_assigned_cb assigned; /* NULL: committed offsets */
	ccp_source_kafka_revoked_cb revoked;   /* NULL: nothing to do */
	void *ud;
	const struct ccp_log *log; /* NULL: librdkafka logs to stderr, ours are dropped */
};

/* Counters, read with ccp_source_kafka_stats() from any thread. */
struct ccp_source_kafka_stats {
	uint64_t messages;      /* received from librdkafka (stale ones not counted) */
	uint64_t bytes;         /* payload bytes of those */
	uint64_t batches;       /* non-empty consume calls */
	uint64_t pauses;        /* backpressure holds (deliver took fewer than offered) */
	uint64_t resumes;       /* partitions resumed after all kept messages were taken */
	uint64_t rebalances;    /* assign + revoke events */
	uint64_t assigned;      /* partitions currently assigned */
	uint64_t stale;         /* messages dropped as below the expected offset */
	uint64_t errors;        /* consumer error events (logged, rate-limited) */
	uint64_t commits;       /* synchronous commits that succeeded */
	uint64_t dead_letters;  /* dead letters acknowledged by the broker */
	uint64_t dead_letter_failures; /* refused at produce or failed in delivery */
};

/* Creates the consumer (and the dead-letter producer), subscribes nothing
 * yet. Returns NULL and a message naming the key, or the missing option,
 * in `err`. @thread any (before start) */
struct ccp_source_kafka *ccp_source_kafka_new(const struct ccp_source_kafka_opts *opts, char *err,
					      size_t errlen);
/* Subscribes to the topic and spawns the source thread. Returns 0 or a
 * negative errno. @thread owner */
int ccp_source_kafka_start(struct ccp_source_kafka *src, char *err, size_t errlen);
/* Stops consuming, runs revoke callbacks, commits stored offsets
 * synchronously, closes the consumer, flushes dead letters, joins the
 * thread. Idempotent. @thread owner (never the source thread) */
void ccp_source_kafka_stop(struct ccp_source_kafka *src);
/* Stops if needed and destroys everything. Every message handed out must
 * have been released before (librdkafka waits for them). NULL is a no-op.
 * @thread owner */
void ccp_source_kafka_free(struct ccp_source_kafka *src);

/* Gives a message handed out by deliver() back to librdkafka; its slices
 * are gone after this. @thread any */
void ccp_source_kafka_release(const rd_kafka_message_t *msg);

/* What a consumer of handed-over messages reads, without rdkafka.h. The
 * payload slice dies with ccp_source_kafka_release(). */
struct ccp_kafka_msg_view {
	const char *payload; /* NULL with len 0 for a null value */
	size_t len;
	int64_t offset;
	int32_t partition;
};
/* Fills `out` from a handed-over message. @thread any holder */
void ccp_source_kafka_msg_view(const rd_kafka_message_t *msg, struct ccp_kafka_msg_view *out);

/* Downstream has room again: the source thread retries kept messages now
 * instead of at its next poll timeout. Cheap; calls coalesce.
 * @thread any */
void ccp_source_kafka_wake(struct ccp_source_kafka *src);

/* Stores `next_offset` (the offset of the last acknowledged message + 1)
 * for the next commit. Only for currently assigned partitions: returns
 * -ENOENT otherwise (the partition was revoked in between; nothing to do).
 * @thread any */
int ccp_source_kafka_store_offset(struct ccp_source_kafka *src, int32_t partition, int64_t next_offset);

/* Produces `payload` to the dead-letter topic with headers
 * ccpulse-reason, ccpulse-partition, ccpulse-offset (decimal text). The
 * payload is copied. Returns 0, -ENOTSUP without a dead-letter topic, or
 * -ENOBUFS if the producer queue is full (counted). @thread any */
int ccp_source_kafka_dead_letter(struct ccp_source_kafka *src, const char *reason, int32_t partition,
				 int64_t offset, const void *payload, size_t len);

void ccp_source_kafka_stats(const struct ccp_source_kafka *src, struct ccp_source_kafka_stats *out);
/* Consumer lag of `partition` (high watermark - next offset to deliver),
 * or -1 when unknown or not assigned. Refreshed per batch and once a
 * second. @thread any */
int64_t ccp_source_kafka_lag(const struct ccp_source_kafka *src, int32_t partition);

/* ---- the agent topic, read whole -------------------------------------- */

/* Borrowed messages: valid only during the call (copy what you keep).
 * There is no backpressure: the table is small and must be read whole.
 * @thread the global reader's thread */
typedef void (*ccp_source_kafka_global_cb)(void *ud, int32_t partition, const rd_kafka_message_t **msgs,
					   size_t n);

/* Options of ccp_source_kafka_global_new(). Owner: the caller; copied
 * during new(), except `log` and `ud`. */
struct ccp_source_kafka_global_opts {
	const char *brokers; /* required */
	const char *topic;   /* agent topic; required */
	const char *client_id; /* default "ccpulse-agents" */
	const struct ccp_source_kafka_setting *kafka; /* pass-through (same list as the source) */
	size_t n_kafka;
	int poll_ms;           /* default 100 */
	int metadata_timeout_ms; /* partition discovery at start; default 10000 */
	ccp_source_kafka_global_cb deliver; /* required */
	void *ud;
	const struct ccp_log *log;
};

/* A consumer without a group: it assigns every partition of the topic
 * from the beginning on every instance and never commits. */
struct ccp_source_kafka_global *ccp_source_kafka_global_new(const struct ccp_source_kafka_global_opts *opts,
							    char *err, size_t errlen);
/* Reads the partitions (blocking, up to metadata_timeout_ms), the high
 * watermarks at this moment, and spawns the reader thread. @thread owner */
int ccp_source_kafka_global_start(struct ccp_source_kafka_global *g, char *err, size_t errlen);
/* True once every partition has been read up to the high watermark seen
 * at start (the table is complete as of start). @thread any */
bool ccp_source_kafka_global_caught_up(const struct ccp_source_kafka_global *g);
/* Messages delivered so far. @thread any */
uint64_t ccp_source_kafka_global_messages(const struct ccp_source_kafka_global *g);
/* Stops and joins the thread, closes and destroys. NULL is a no-op.
 * @thread owner */
void ccp_source_kafka_global_free(struct ccp_source_kafka_global *g);

#endif
