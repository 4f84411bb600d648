/* The wallboard's data: the whole center read from Redis once per publish
 * interval while someone looks, kept per window, served as JSON
 * (/api/queues), pushed as Server-Sent Events (/api/stream), and the
 * page itself (/).
 *
 * DESIGN
 * - One board per HTTP server, on the server's loop; every function here
 *   runs on that loop's thread (@thread loop). Handlers answer at once
 *   from memory; Redis is read asynchronously. Nothing blocks.
 * - Reads go through a Redis connection of the board's own (a second
 *   ccp_sink_redis, not the pipeline's writer, so a slow read never
 *   queues in front of a render). One read is one round trip: a Lua
 *   script (EVALSHA) that takes SMEMBERS {p}:queues, HGETALL of each
 *   queue's live hash and of its hash for every window being watched,
 *   the total hashes, ZCARD {p}:promises:overdue and HVALS
 *   {p}:state:firing, and returns each hash already as a JSON object
 *   whose values are numbers (hash values that are not numbers are left
 *   out). The board sorts and assembles; it never parses JSON. Any
 *   instance shows the whole center: everything comes from Redis.
 * - Only while someone looks: a read starts on a publish-interval timer
 *   when a request named a window within the last idle_after_ms, or an
 *   event stream is open. At most one read is in flight; the windows of
 *   a read are those being watched.
 * - Each window keeps its last snapshot (the read result it came from,
 *   shared by reference among the windows of that read). Redis down, or
 *   a read refused or overdue: the last snapshot is served on, with its
 *   age (data_age_ms) and redis_ok false, and event streams get that
 *   document every interval so a page sees the outage.
 * - Event streams are tagged with their window and queue filter; after
 *   each read (or each interval while Redis is out) every distinct tag
 *   with open streams gets its document.
 *
 * The JSON document (README, "Operations"): {"generated_at", "data_age_ms",
 * "redis_ok", "window", "windows", "stale_after_ms", "queues": [{"id",
 * "window", "live"}] sorted by id, "total": {"window", "live"}, "alerts",
 * "overdue_promises", "targets": {"service_level"}}; "redis_error" while
 * redis_ok is false.
 */
#ifndef CCPULSE_BOARD_H
#define CCPULSE_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct ccp_config;
struct ccp_http;
struct ccp_log;
struct ccp_board;

/* Options. Owner: the caller; copied by ccp_board_new(). `cfg` (prefix,
 * windows, publish interval, Redis URL, wallboard.*) must outlive the
 * board. */
struct ccp_board_opts {
	const struct ccp_config *cfg;
	const struct ccp_log *log;  /* NULL: no log lines */
	int idle_after_ms;          /* reads stop this long after the last request when no stream is open; 10000 */
	int stale_after_ms;         /* data older than this is stale (told to the page); 3000 */
};

/* Counters since ccp_board_new(). Plain copy; loop thread. */
struct ccp_board_stats {
	uint64_t reads;          /* reads sent */
	uint64_t reads_ok;
	uint64_t reads_failed;   /* refused by Redis, malformed, or not sent */
	uint64_t read_us_last;   /* submit to answer, microseconds */
	uint64_t read_us_max;
	uint64_t read_us_sum;    /* over reads_ok */
	size_t reply_bytes_last; /* bytes of the last answer */
	uint32_t queues_last;    /* queues in the last answer */
	uint64_t pushes;         /* documents broadcast to stream tags */
	uint32_t watches;        /* distinct stream tags with open streams */
	bool redis_connected;
};

/* Options with the defaults above (cfg and log NULL). */
void ccp_board_opts_defaults(struct ccp_board_opts *o);

/* Creates the board on `loop`, routes GET /, /api/queues and /api/stream
 * on `http` (which must outlive it: close the board in the server's close
 * callback, after which no request reaches it) and starts its Redis
 * connection. NULL with a message in `err`. @thread loop */
struct ccp_board *ccp_board_new(struct uv_loop_s *loop, struct ccp_http *http, const struct ccp_board_opts *o,
				char *err, size_t errlen);

/* Marks `window` (NULL: the default one) as looked at now, as a request
 * does: reads run for idle_after_ms from now. Returns 0 or -EINVAL (not a
 * window). For benches and tests. @thread loop */
int ccp_board_watch(struct ccp_board *b, const char *window);

/* The document GET /api/queues?window=W&queues=Q would answer (NULL: no
 * parameter), in a malloc'd buffer the caller frees. Returns 0; -EINVAL
 * (a bad window or queue list); -ENOENT (no snapshot of that window yet);
 * -ENOMEM. @thread loop */
int ccp_board_json(struct ccp_board *b, const char *window, const char *queues, char **out, size_t *len);

/* Copies the counters. @thread loop */
void ccp_board_stats(const struct ccp_board *b, struct ccp_board_stats *out);

/* Stops reading, closes the Redis connection and the timer, frees the
 * board, then calls cb(ud) (may be NULL). Keep running the loop. Call it
 * once the HTTP server has closed (its routes point at the board).
 * @thread loop */
void ccp_board_close(struct ccp_board *b, void (*cb)(void *ud), void *ud);

#endif
