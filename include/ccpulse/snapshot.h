/* Checkpoints of an engine: one partition's whole state as a compact byte
 * string, and back.
 *
 * A worker saves its engine every few seconds with the Kafka offset the
 * state covers; after a crash it loads the checkpoint into a new engine and
 * replays Kafka from that offset. The loaded engine is indistinguishable from
 * the one saved in everything it outputs from then on: window and live
 * figures, agents, counters, the overdue list (same order), and the closed
 * minutes it will write. Only ccp_engine_memory_bytes() may differ (tables
 * are sized for what is held, not for what was once held).
 *
 * Config: the engine that loads must be built with the same settings for
 * everything that gives the state its meaning (windows and their buckets,
 * short abandon, service-level thresholds, overrides and variant, dedup
 * horizon and capacity, open horizon, time zone, closed minutes on or off).
 * The checkpoint records them and a load under other settings fails with a
 * message naming the first difference. minute_cb and its user data are not
 * recorded: they are the loading engine's.
 *
 * Closed minutes: minutes written before the save are not written again by
 * the loaded engine; the minute the clock was in is written when the clock
 * passes it, as the saved engine would have. Loading itself calls nothing.
 * A replay after a crash re-applies what followed the checkpoint, so the
 * minutes that closed between the checkpoint and the crash are written a
 * second time: the sink must keep writing a minute idempotent.
 *
 * Format (version 1; all integers little-endian):
 *   "CCPK" | u32 version | u64 body length | body | u64 checksum
 * The checksum is a 64-bit hash of everything before it. The body is a
 * fixed sequence of sections, each a tag byte, a varint length and its
 * bytes: config, clock, queues, buckets, today, contacts, promises,
 * complaints, agents, dedup. Numbers are varints (zigzag where signed),
 * times are deltas from the clock, bucket rings list only the buckets they
 * hold, histograms only their non-empty bins, promise ids share prefixes.
 * What the engine can rebuild (rolling window sums and histograms, heaps,
 * hash tables, live counts) is rebuilt on load, not stored.
 *
 * Thread: the engine's owner thread calls these; a buffer belongs to one
 * thread at a time.
 */
#ifndef CCPULSE_SNAPSHOT_H
#define CCPULSE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct ccp_engine;

#define CCP_SNAPSHOT_FORMAT_VERSION 1

/* Event times a checkpoint holds: from 1970 (a decoder's ts is >= 0) to
 * 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write (live
 * input is bounded by the wall clock, so only offline data gets near it).
 * Deadlines (`due`) may be later, not earlier. */
#define CCP_SNAPSHOT_TS_MAX 253402300799999LL

/* Waits held in bucket histograms (the answers of the longest ring's span)
 * that a checkpoint carries: 16.7 M, four times the day the engine's
 * default dedup capacity is sized for. Each becomes 2.5 bytes of the loaded
 * engine, so a forged checkpoint cannot make a load allocate without bound;
 * an engine holding more fails to save (-ERANGE), not to load. */
#define CCP_SNAPSHOT_MAX_WAITS (1u << 24)

/* A growable output buffer. Owner: the caller, who may read data[0, len)
 * after a save and reuse the buffer for the next one (reset, then save:
 * once grown, saves allocate nothing). Zero-initialise it, or call
 * ccp_snapshot_buf_init. */
struct ccp_snapshot_buf {
	uint8_t *data;
	size_t len, cap;
};

void ccp_snapshot_buf_init(struct ccp_snapshot_buf *b);
/* Forgets the contents, keeps the memory. */
void ccp_snapshot_buf_reset(struct ccp_snapshot_buf *b);
/* Frees the memory; the buffer is then as after init. */
void ccp_snapshot_buf_free(struct ccp_snapshot_buf *b);

/* Appends a checkpoint of `e` to `out` (at out->len). Returns 0, or a
 * negative errno with a message in `err`, `out` then holding what it held
 * before: -ENOMEM; -ERANGE when a time is before 1970 or after
 * CCP_SNAPSHOT_TS_MAX (only events no live decoder accepts get there; the
 * engine's rings do not keep times before 1970 apart) or more than
 * CCP_SNAPSHOT_MAX_WAITS waits are held; -EBUSY when called from inside
 * the engine (minute_cb). `e` is not changed. @thread owner of e */
int ccp_snapshot_save(const struct ccp_engine *e, struct ccp_snapshot_buf *out, char *err,
		      size_t errlen);

/* Loads the checkpoint data[0, len) into `e`, which must come fresh from
 * ccp_engine_new() (nothing applied yet) with the config the checkpoint was
 * saved under. The bytes are checked whole: magic, version, length,
 * checksum, then every count, index and time against what the engine can
 * hold. Returns 0, or a negative errno with a message in `err`:
 *   -EBADMSG  not a checkpoint, truncated, bad checksum, or a value the
 *             engine could never hold ("checkpoint: truncated at byte 123
 *             (contacts)", "checkpoint: bad checksum")
 *   -ENOTSUP  another format version ("checkpoint: format version 3, this
 *             build reads 1")
 *   -EINVAL   saved under another config ("checkpoint: written with
 *             windows 5m/15m/1h/24h, config has 5m/1h")
 *   -EBUSY    `e` is not fresh
 *   -ENOMEM   out of memory
 * The first three mean this checkpoint can never load here: replay from an
 * older offset (or from the start) instead.
 * On failure `e` is half-loaded: free it (ccp_engine_free) and make a new
 * one; use it for nothing else. Never reads outside data[0, len), never
 * calls minute_cb, and runs in time linear in len and in what it loads.
 * @thread owner of e */
int ccp_snapshot_load(struct ccp_engine *e, const void *data, size_t len, char *err, size_t errlen);

#endif
