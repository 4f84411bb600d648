/* The Redis writer: hiredis async on a libuv loop, pipelined MULTI/EXEC
 * transactions with in-order acks, resent after reconnects.
 *
 * DESIGN
 * - One sink lives on one uv_loop and every function here is called on
 *   that loop's thread (@thread loop). Nothing blocks: name resolution
 *   goes through uv_getaddrinfo (the libuv thread pool), connects and
 *   commands through hiredis's async API with its libuv adapter.
 * - Connection state: CLOSED -> [RESOLVING] -> CONNECTING -> HANDSHAKE
 *   (AUTH, SELECT, SCRIPT LOAD) -> CONNECTED. A connect timeout covers
 *   everything up to CONNECTED; a command timeout fires when replies are
 *   owed and none has arrived for that long; a PING on an idle connection
 *   feeds the same timeout, because the libuv adapter of hiredis 0.14
 *   drops poll errors and may never notice a dead peer. Any failure goes
 *   back to CLOSED and reconnects after an exponential backoff with
 *   jitter (backoff_min_ms doubling to backoff_max_ms). Each transition is
 *   counted (struct ccp_sink_redis_stats).
 * - A batch is a list of commands the sink copies into one allocation and
 *   sends as MULTI ... EXEC. Several batches are in flight at once (up to
 *   max_inflight_batches). Exactly one callback fires per batch, in
 *   submission order: ack_cb when EXEC succeeded, or error_cb when Redis
 *   rejected it (an error reply inside EXEC, or EXECABORT) or when it was
 *   dropped at close. A rejected batch is counted, logged and dropped,
 *   never retried: the same commands would fail again.
 * - Connection-level trouble (lost connection, timeouts, and the
 *   transient replies LOADING, BUSY, MASTERDOWN, READONLY, NOAUTH, OOM,
 *   TRYAGAIN, CLUSTERDOWN) keeps every unacked batch and resends them
 *   all, in order, after the reconnect. A batch that had been applied but
 *   whose EXEC reply was lost is therefore applied twice, and the batches
 *   after it are re-applied after it. The sink RELIES on this being
 *   harmless: callers write absolute values (DEL+HSET of whole figures,
 *   contract/outputs.md), never increments, so a replay in the original
 *   order converges on the same content.
 * - Backpressure: batches waiting or in flight are the backlog; submit
 *   fails with -ENOBUFS when it would exceed max_backlog_bytes, and
 *   ccp_sink_redis_backlog_bytes() lets the caller pause its source
 *   before that.
 * - PUBLISH is fire-and-forget but ordered: it queues behind the batches
 *   submitted before it (so a notification never overtakes the data it
 *   announces), is never resent, and is lost if the connection drops
 *   while it is in flight (counted).
 * - Lua: scripts registered by text get an index; a command of a batch
 *   may name a script index and is then sent as EVALSHA (the script is
 *   SCRIPT LOADed during every handshake). If Redis answers NOSCRIPT (a
 *   SCRIPT FLUSH, a failover), the sink reconnects and resends from that
 *   batch on, with EVAL carrying the script text on that connection, so
 *   ordering is kept and the fallback cannot loop.
 * - Close: FLUSH waits (up to a deadline) for the backlog to drain, DROP
 *   does not; then pending batches get error_cb(-ECANCELED), handles are
 *   closed, and the sink is freed after its close callbacks have run,
 *   just before close_cb. The loop can then end with uv_loop_close()==0.
 * - Debian's hiredis 0.14 has no TLS: reach a TLS-only Redis through
 *   stunnel or a sidecar proxy on loopback.
 */
#ifndef CCPULSE_SINK_REDIS_H
#define CCPULSE_SINK_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/redis_url.h"

struct uv_loop_s;
struct ccp_log;
struct ccp_cmdbuf;
struct ccp_sink_redis;

enum ccp_sink_redis_state {
	CCP_SINK_REDIS_CLOSED,     /* not connected; a reconnect may be scheduled */
	CCP_SINK_REDIS_RESOLVING,  /* host name lookup in the thread pool */
	CCP_SINK_REDIS_CONNECTING, /* TCP/unix connect in progress */
	CCP_SINK_REDIS_HANDSHAKE,  /* AUTH, SELECT, SCRIPT LOAD sent */
	CCP_SINK_REDIS_CONNECTED,  /* ready: batches flow */
	CCP_SINK_REDIS_SHUTDOWN,   /* closing; no reconnect */
	CCP_SINK_REDIS__STATE_COUNT
};

/* "closed", "resolving", ... for logs. Pure. */
const char *ccp_sink_redis_state_name(enum ccp_sink_redis_state st);

/* Exactly one of ack/error per batch, in submission order.
 * `token` is the caller's, given at submit. */
typedef void (*ccp_sink_redis_ack_cb)(void *ud, uint64_t token);
/* `code`: -EPROTO when Redis rejected the batch (`msg` is the first Redis
 * error text, e.g. "WRONGTYPE Operation against a key ..."), -ECANCELED
 * when it was dropped at close. `msg` is valid during the call only. */
typedef void (*ccp_sink_redis_error_cb)(void *ud, uint64_t token, int code, const char *msg);
/* Every state change; `why` says what caused it (a connection error, a
 * timeout, "AUTH failed: WRONGPASS ..."), valid during the call only. */
typedef void (*ccp_sink_redis_state_cb)(void *ud, enum ccp_sink_redis_state st, const char *why);
/* The answer to a read (ccp_sink_redis_read): `code` 0 and the last
 * command's reply as `n` values (an array reply element by element, NULL
 * with length 0 for a nil; a bulk string as one value), valid during the
 * call only; or `code` -EPROTO (Redis rejected it) / -ECANCELED (dropped
 * at close) / -ENOMEM with no values. */
typedef void (*ccp_sink_redis_values_cb)(void *ud, uint64_t token, int code, size_t n, const char *const *vals,
					 const size_t *lens);
/* After the sink is freed (ccp_sink_redis_close). */
typedef void (*ccp_sink_redis_close_cb)(void *ud);

/* Options. Owner: the caller; copied by ccp_sink_redis_new(). */
struct ccp_sink_redis_opts {
	struct ccp_redis_url url;
	int connect_timeout_ms;      /* resolve+connect+handshake; 2000 */
	int command_timeout_ms;      /* no reply while replies are owed; 5000 */
	int ping_interval_ms;        /* PING after this much idle time; 1000 */
	int backoff_min_ms;          /* first reconnect delay; 100 */
	int backoff_max_ms;          /* cap of the doubling; 5000 */
	size_t max_backlog_bytes;    /* bytes of batches waiting or in flight; 64 MiB */
	int max_inflight_batches;    /* batches sent but not yet answered; 32 */
	ccp_sink_redis_ack_cb ack_cb;         /* may be NULL */
	ccp_sink_redis_error_cb error_cb;     /* may be NULL */
	ccp_sink_redis_state_cb state_cb;     /* may be NULL */
	void *ud;                             /* passed to the three above */
	const struct ccp_log *log;            /* NULL: no log lines */
};

/* Counters since ccp_sink_redis_new(). Plain copy; loop thread. */
struct ccp_sink_redis_stats {
	enum ccp_sink_redis_state state;
	uint64_t connect_attempts;  /* connections started */
	uint64_t connects;          /* handshakes completed (-> CONNECTED) */
	uint64_t disconnects;       /* CONNECTED connections lost or dropped */
	uint64_t connect_failures;  /* attempts that never reached CONNECTED */
	uint64_t connect_timeouts;
	uint64_t command_timeouts;
	uint64_t errors;            /* connection-level errors of any kind */
	uint64_t auth_errors;       /* AUTH or SELECT refused */
	uint64_t batches_submitted;
	uint64_t batches_acked;
	uint64_t batches_failed;    /* rejected by Redis, reported, dropped */
	uint64_t batches_resent;    /* sent again after a reconnect */
	uint64_t batches_dropped;   /* pending at close(DROP) or flush deadline */
	uint64_t backlog_rejections;/* submits refused with -ENOBUFS */
	uint64_t publishes_sent;
	uint64_t publishes_failed;  /* error reply, or lost with the connection */
	uint64_t pings;
	uint64_t noscript;          /* NOSCRIPT answers (EVAL fallback) */
	size_t backlog_bytes;
	size_t backlog_batches;     /* waiting or in flight, publishes included */
	size_t inflight_batches;
	char last_error[256];       /* most recent connection or batch error */
};

/* Defaults as listed in struct ccp_sink_redis_opts, url redis://127.0.0.1:6379. */
void ccp_sink_redis_opts_defaults(struct ccp_sink_redis_opts *o);

/* Creates a sink on `loop` (not connecting yet). Returns NULL with a
 * message in `err` naming the bad option and its bounds.
 * @thread loop */
struct ccp_sink_redis *ccp_sink_redis_new(struct uv_loop_s *loop, const struct ccp_sink_redis_opts *o,
					  char *err, size_t errlen);

/* Registers a Lua script (copied). Returns its index (>= 0) for
 * struct ccp_sink_redis_cmd.script, or -ENOMEM / -EINVAL. Scripts added
 * while connected are loaded at once; until their SCRIPT LOAD is answered
 * commands using them go out as EVAL. @thread loop */
int ccp_sink_redis_script_add(struct ccp_sink_redis *s, const char *text, size_t len);

/* Starts connecting (and reconnecting, until close). Returns 0, or
 * -EALREADY / -ESHUTDOWN. @thread loop */
int ccp_sink_redis_start(struct ccp_sink_redis *s);

/* One command of a batch. Borrowed for the submit call only. */
struct ccp_sink_redis_cmd {
	int argc;                /* >= 1 */
	const char *const *argv;
	const size_t *argvlen;
	/* -1: a plain command. >= 0: a script index; argv then holds
	 * NUMKEYS KEY... ARG... and the command goes out as EVALSHA sha argv
	 * (or EVAL text argv). */
	int script;
};

/* Queues a batch of `n` commands as one MULTI/EXEC, copying them; the
 * arrays are the caller's again on return. Returns 0; -EINVAL (n == 0,
 * argc < 1, unknown script); -E2BIG if the batch alone exceeds
 * max_backlog_bytes; -ENOBUFS if the backlog is full (pause and retry
 * after acks); -ESHUTDOWN after close; -ENOMEM. Works in any state: the
 * batch waits for the connection. @thread loop */
int ccp_sink_redis_submit(struct ccp_sink_redis *s, const struct ccp_sink_redis_cmd *cmds, size_t n,
			  uint64_t token);
/* The same for the commands of a struct ccp_cmdbuf (plain commands). The
 * buffer is the caller's again on return (reset or reuse it). @thread loop */
int ccp_sink_redis_submit_cmdbuf(struct ccp_sink_redis *s, struct ccp_cmdbuf *cb, uint64_t token);

/* Queues a read: a batch like submit (MULTI ... EXEC, in order with the
 * writes, resent after reconnects), whose last command's reply goes to
 * `cb(ud, ...)` instead of ack_cb/error_cb. Returns as submit.
 * @thread loop */
int ccp_sink_redis_read(struct ccp_sink_redis *s, const struct ccp_sink_redis_cmd *cmds, size_t n, uint64_t token,
			ccp_sink_redis_values_cb cb, void *ud);
/* Queues PUBLISH channel message behind the batches already submitted.
 * Fire-and-forget: no callback, never resent. Returns as submit.
 * @thread loop */
int ccp_sink_redis_publish(struct ccp_sink_redis *s, const char *channel, size_t channel_len,
			   const char *msg, size_t msg_len);

/* Bytes of batches waiting or in flight. @thread loop */
size_t ccp_sink_redis_backlog_bytes(const struct ccp_sink_redis *s);
/* True while CONNECTED (handshake done). @thread loop */
bool ccp_sink_redis_ready(const struct ccp_sink_redis *s);
/* Copies the counters. @thread loop */
void ccp_sink_redis_stats(const struct ccp_sink_redis *s, struct ccp_sink_redis_stats *out);

enum ccp_sink_redis_close_mode {
	CCP_SINK_REDIS_FLUSH, /* wait for the backlog to be answered, up to flush_timeout_ms */
	CCP_SINK_REDIS_DROP,  /* give up pending batches now */
};

/* Closes the sink: stops accepting batches (submit and publish return
 * -ESHUTDOWN), flushes or drops the backlog (dropped batches get
 * error_cb(-ECANCELED)), closes its handles and frees it, then calls
 * `cb(ud)` (may be NULL). FLUSH keeps reconnecting if it must, until the
 * backlog is answered or `flush_timeout_ms` passes. Until `cb` runs the
 * queries (stats, backlog, ready) stay valid; after it `s` is gone. Keep
 * running the loop: the close completes in handle close callbacks.
 * Returns 0, or -EALREADY if already closing. @thread loop */
int ccp_sink_redis_close(struct ccp_sink_redis *s, enum ccp_sink_redis_close_mode mode, int flush_timeout_ms,
			 ccp_sink_redis_close_cb cb, void *ud);

#endif
