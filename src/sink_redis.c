/* The Redis writer (design notes in include/ccpulse/sink_redis.h).
 *
 * Reading guide. The backlog is one FIFO of entries (batches and
 * publishes) in submission order: [head .. next_send) is in flight on the
 * current connection, [next_send .. tail] waits. Replies arrive in the
 * order commands were sent, so the entry whose final reply (EXEC, or the
 * PUBLISH reply) arrives is always the head. Losing the connection moves
 * next_send back to head, which resends in order.
 *
 * hiredis rules this file keeps (hiredis 0.14.1, async.c):
 * - redisAsyncFree() may be called from a reply callback (hiredis defers
 *   the free until the callback returns) and from our timers, but never
 *   from onConnect/onDisconnect: hiredis frees the context itself after
 *   those return.
 * - Freeing a context runs every pending reply callback with a NULL
 *   reply. Teardown sets s->ac = NULL first, and every callback ignores a
 *   context that is not s->ac, so stale replies never touch the backlog.
 * - A reply callback gets reply == NULL also when hiredis itself is
 *   tearing down after an I/O error; onDisconnect follows and does the
 *   bookkeeping.
 */
#include "ccpulse/sink_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libuv.h>
#include <uv.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/log.h"
#include "hash.h"
#include "check.h"

#define SHA_HEX_LEN 40
/* Watchdog tick bounds: it checks timeouts and idle PINGs. */
#define TICK_MIN_MS 10
#define TICK_MAX_MS 250


enum entry_kind { ENTRY_TX, ENTRY_PUBLISH };

/* A batch or a publish, copied at submit. Owner: the sink's backlog; loop
 * thread; lives from submit until its final reply, a rejection, or
 * close. One allocation: this header, then the arrays, then the bytes. */
struct entry {
	struct entry *next;
	uint64_t token;
	size_t bytes;           /* allocation size, counted in the backlog */
	enum entry_kind kind;
	uint32_t ncmds;
	bool sent;              /* on the current connection */
	uint32_t *argc;         /* per command */
	int32_t *script;        /* per command: -1 or a script index */
	const char **argv;      /* every argument of every command */
	size_t *argvlen;
	char *qerr;             /* first error while queuing (MULTI/command), heap; or NULL */
	ccp_sink_redis_values_cb values_cb; /* a read: gets the last command's reply instead of ack_cb */
	void *values_ud;
};

/* A registered Lua script. Owner: the sink; loop thread; lives as long. */
struct script {
	char *text;
	size_t len;
	char sha[SHA_HEX_LEN + 1];
	uint64_t loaded_gen;    /* connection generation whose SCRIPT LOAD answered */
	uint64_t eval_gen;      /* connection generation that must use EVAL */
	bool broken;            /* SCRIPT LOAD refused it (syntax, ACL): always EVAL */
};

/* A pending name lookup. Owner: the libuv thread pool until its callback,
 * which frees it. Carries the generation so a stale answer is ignored. */
struct resolve {
	uv_getaddrinfo_t req;
	struct ccp_sink_redis *s;
	uint64_t gen;
};

/* The sink. Owner: whoever created it; only its loop's thread touches it.
 * Lives from ccp_sink_redis_new() until the close callbacks of its timers
 * have run after ccp_sink_redis_close(). */
struct ccp_sink_redis {
	uv_loop_t *loop;
	struct ccp_sink_redis_opts o;
	enum ccp_sink_redis_state state;
	bool started;
	bool closing;           /* close() called: no submits, no reconnects */
	bool finishing;         /* handles closing */
	enum ccp_sink_redis_close_mode close_mode;
	uint64_t flush_deadline_ms;
	ccp_sink_redis_close_cb close_cb;
	void *close_ud;
	int handles_open;       /* timers not yet closed */
	int resolves_pending;
	struct resolve *resolving; /* the newest lookup, while pending */

	redisAsyncContext *ac;  /* current connection, or NULL */
	uint64_t gen;           /* connection generation, +1 per attempt */
	int handshake_pending;  /* handshake replies still owed */
	int backoff_attempts;   /* consecutive failed attempts */
	uint64_t rng;           /* xorshift64 state for jitter */

	uv_timer_t conn_timer;  /* connect timeout, or reconnect delay */
	uv_timer_t tick;        /* watchdog: command timeout, PING, flush deadline */
	int tick_ms;

	/* Replies owed on this connection, and when the last one came (or
	 * when the first owed command went out). */
	size_t replies_owed;
	uint64_t last_progress_ms;

	struct entry *head, *tail, *next_send;
	size_t inflight;

	struct script *scripts;
	int nscripts;

	const char **scratch_argv; /* EVALSHA/EVAL argument lists */
	size_t *scratch_len;
	size_t scratch_cap;

	struct ccp_sink_redis_stats st;
	char addr[CCP_REDIS_URL_HOST_MAX + CCP_REDIS_URL_PATH_MAX + 64]; /* redacted URL, for logs */
};

static const char *const state_names[CCP_SINK_REDIS__STATE_COUNT] = {
	"closed", "resolving", "connecting", "handshake", "connected", "shutdown",
};

const char *ccp_sink_redis_state_name(enum ccp_sink_redis_state st)
{
	return (unsigned)st < CCP_SINK_REDIS__STATE_COUNT ? state_names[st] : "?";
}

/* Errors after which the same commands may well succeed on a later try:
 * the server is starting, busy, not (yet) a master, or out of memory. */
static bool transient_error(const char *msg)
{
	static const char *const prefixes[] = {
		"LOADING", "BUSY", "MASTERDOWN", "READONLY", "NOAUTH", "OOM", "TRYAGAIN", "CLUSTERDOWN",
		"NOREPLICAS", "ERR EXEC without MULTI",
	};
	if (!msg)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(msg, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

static uint64_t now_ms(const struct ccp_sink_redis *s)
{
	return uv_now(s->loop);
}

static void set_error(struct ccp_sink_redis *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct ccp_sink_redis *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
	va_end(ap);
}

static void set_state(struct ccp_sink_redis *s, enum ccp_sink_redis_state st, const char *why)
{
	if (s->state == st)
		return;
	s->state = st;
	if (s->o.state_cb)
		s->o.state_cb(s->o.ud, st, why ? why : "");
}

static void log_kv(struct ccp_sink_redis *s, enum ccp_log_level lv, const char *msg, const char *k1,
		   const char *v1)
{
	if (!s->o.log || !ccp_log_enabled(s->o.log, lv))
		return;
	ccp_log_kv(s->o.log, lv, msg, "redis", s->addr, k1 ? k1 : "state", k1 ? v1 : state_names[s->state],
		   (char *)NULL);
}

/* ---- backlog ---------------------------------------------------------- */

static void entry_free(struct entry *e)
{
	free(e->qerr);
	free(e);
}

static void backlog_append(struct ccp_sink_redis *s, struct entry *e)
{
	e->next = NULL;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	if (!s->next_send)
		s->next_send = e;
	s->st.backlog_bytes += e->bytes;
	s->st.backlog_batches++;
}

/* Unlinks the head, which must have been sent. */
static struct entry *backlog_pop(struct ccp_sink_redis *s)
{
	struct entry *e = s->head;
	CCP__CHECK(e && e->sent && s->inflight > 0);
	s->head = e->next;
	if (!s->head)
		s->tail = NULL;
	s->inflight--;
	s->st.backlog_bytes -= e->bytes;
	s->st.backlog_batches--;
	return e;
}

/* After a connection is gone: in-flight batches wait again, in order;
 * in-flight publishes are lost (at most once). */
static void backlog_rewind(struct ccp_sink_redis *s)
{
	struct entry **pp = &s->head;
	while (*pp && (*pp)->sent) {
		struct entry *e = *pp;
		if (e->kind == ENTRY_PUBLISH) {
			*pp = e->next;
			s->st.backlog_bytes -= e->bytes;
			s->st.backlog_batches--;
			s->st.publishes_failed++;
			entry_free(e);
			continue;
		}
		e->sent = false;
		free(e->qerr);
		e->qerr = NULL;
		s->st.batches_resent++;
		pp = &e->next;
	}
	s->tail = NULL;
	for (struct entry *e = s->head; e; e = e->next)
		s->tail = e;
	s->next_send = s->head;
	s->inflight = 0;
}

/* ---- connection teardown and reconnect --------------------------------- */

static void start_connect(struct ccp_sink_redis *s);
static void maybe_finish_close(struct ccp_sink_redis *s);
static void finish_close(struct ccp_sink_redis *s, const char *why);

static void reconnect_cb(uv_timer_t *t)
{
	struct ccp_sink_redis *s = t->data;
	if (!s->finishing)
		start_connect(s);
}

/* Half the doubled delay plus a random part of the other half ("equal
 * jitter"): retries of several instances spread out, yet never come
 * sooner than half the nominal delay. */
static void schedule_reconnect(struct ccp_sink_redis *s)
{
	uint64_t d = (uint64_t)s->o.backoff_min_ms;
	for (int i = 0; i < s->backoff_attempts && d < (uint64_t)s->o.backoff_max_ms; i++)
		d *= 2;
	if (d > (uint64_t)s->o.backoff_max_ms)
		d = (uint64_t)s->o.backoff_max_ms;
	uint64_t delay = d / 2 + ccp__xorshift64(&s->rng) % (d / 2 + 1);
	s->backoff_attempts++;
	uv_timer_start(&s->conn_timer, reconnect_cb, delay, 0);
}

/* The one way a connection ends, whoever noticed. `free_ac`: we must free
 * the hiredis context (false when hiredis is freeing it already). */
static void conn_down(struct ccp_sink_redis *s, bool free_ac, const char *why)
{
	redisAsyncContext *ac = s->ac;
	enum ccp_sink_redis_state was = s->state;
	s->ac = NULL; /* before the free: its NULL-reply callbacks are ignored */
	if (ac && free_ac)
		redisAsyncFree(ac);
	uv_timer_stop(&s->conn_timer);
	if (was == CCP_SINK_REDIS_CONNECTED)
		s->st.disconnects++;
	else if (was != CCP_SINK_REDIS_CLOSED && was != CCP_SINK_REDIS_SHUTDOWN)
		s->st.connect_failures++;
	s->replies_owed = 0;
	s->handshake_pending = 0;
	backlog_rewind(s);
	if (s->finishing)
		return;
	/* Also while a FLUSH close waits: the backlog needs a connection. */
	set_state(s, CCP_SINK_REDIS_CLOSED, why);
	log_kv(s, CCP_LOG_WARN, "redis connection down", "reason", why);
	schedule_reconnect(s);
}

/* A connection-level error noticed by us (reply, timeout). */
static void conn_fail(struct ccp_sink_redis *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(struct ccp_sink_redis *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
	va_end(ap);
	s->st.errors++;
	char why[sizeof(s->st.last_error)];
	memcpy(why, s->st.last_error, sizeof(why));
	conn_down(s, true, why);
}

/* ---- sending ---------------------------------------------------------- */

static void reply_owed(struct ccp_sink_redis *s, size_t n)
{
	if (s->replies_owed == 0)
		s->last_progress_ms = now_ms(s);
	s->replies_owed += n;
}

static void reply_came(struct ccp_sink_redis *s)
{
	if (s->replies_owed)
		s->replies_owed--;
	s->last_progress_ms = now_ms(s);
}

static void multi_cb(redisAsyncContext *ac, void *r, void *privdata);
static void queued_cb(redisAsyncContext *ac, void *r, void *privdata);
static void exec_cb(redisAsyncContext *ac, void *r, void *privdata);
static void publish_cb(redisAsyncContext *ac, void *r, void *privdata);

static bool use_evalsha(const struct ccp_sink_redis *s, const struct script *sc)
{
	return !sc->broken && sc->loaded_gen == s->gen && sc->eval_gen != s->gen;
}

/* Sends one entry's commands. Returns false if hiredis refused (the
 * context is going away). */
static bool send_entry(struct ccp_sink_redis *s, struct entry *e)
{
	redisAsyncContext *ac = s->ac;
	if (e->kind == ENTRY_PUBLISH) {
		if (redisAsyncCommandArgv(ac, publish_cb, e, 3, e->argv, e->argvlen) != REDIS_OK)
			return false;
		reply_owed(s, 1);
		e->sent = true;
		return true;
	}
	static const char *const multi[1] = {"MULTI"};
	static const char *const exec[1] = {"EXEC"};
	static const size_t len5[1] = {5}, len4[1] = {4};
	if (redisAsyncCommandArgv(ac, multi_cb, e, 1, (const char **)multi, len5) != REDIS_OK)
		return false;
	size_t a = 0;
	for (uint32_t i = 0; i < e->ncmds; i++) {
		int argc = (int)e->argc[i];
		const char **argv = &e->argv[a];
		const size_t *argvlen = &e->argvlen[a];
		a += e->argc[i];
		if (e->script[i] >= 0) {
			const struct script *sc = &s->scripts[e->script[i]];
			CCP__CHECK((size_t)argc + 2 <= s->scratch_cap);
			if (use_evalsha(s, sc)) {
				s->scratch_argv[0] = "EVALSHA";
				s->scratch_len[0] = 7;
				s->scratch_argv[1] = sc->sha;
				s->scratch_len[1] = SHA_HEX_LEN;
			} else {
				s->scratch_argv[0] = "EVAL";
				s->scratch_len[0] = 4;
				s->scratch_argv[1] = sc->text;
				s->scratch_len[1] = sc->len;
			}
			memcpy(&s->scratch_argv[2], argv, (size_t)argc * sizeof(*argv));
			memcpy(&s->scratch_len[2], argvlen, (size_t)argc * sizeof(*argvlen));
			argv = s->scratch_argv;
			argvlen = s->scratch_len;
			argc += 2;
		}
		if (redisAsyncCommandArgv(ac, queued_cb, e, argc, argv, argvlen) != REDIS_OK)
			return false;
	}
	if (redisAsyncCommandArgv(ac, exec_cb, e, 1, (const char **)exec, len4) != REDIS_OK)
		return false;
	reply_owed(s, e->ncmds + 2);
	e->sent = true;
	return true;
}

/* Sends waiting entries while the connection is ready and the in-flight
 * window has room. hiredis buffers them; the adapter writes them out in
 * one go when the socket turns writable, so a burst of submits in one
 * loop turn becomes one write. */
static void pump(struct ccp_sink_redis *s)
{
	while (s->state == CCP_SINK_REDIS_CONNECTED && s->ac && s->next_send &&
	       s->inflight < (size_t)s->o.max_inflight_batches) {
		struct entry *e = s->next_send;
		if (!send_entry(s, e)) {
			conn_fail(s, "hiredis refused a command: %s", s->ac && s->ac->errstr ? s->ac->errstr : "context closing");
			return;
		}
		s->next_send = e->next;
		s->inflight++;
		s->st.inflight_batches = s->inflight;
		if (e->kind == ENTRY_PUBLISH)
			s->st.publishes_sent++;
	}
}

/* ---- replies ---------------------------------------------------------- */

/* The sink of a callback, or NULL if the reply belongs to a context we
 * already gave up, or is the NULL of a teardown. */
static struct ccp_sink_redis *live_sink(redisAsyncContext *ac, void *r)
{
	struct ccp_sink_redis *s = ac->data;
	if (!s || s->ac != ac || !r)
		return NULL;
	reply_came(s);
	return s;
}

static void record_qerr(struct entry *e, const char *what, const redisReply *rep)
{
	if (e->qerr || rep->type != REDIS_REPLY_ERROR)
		return;
	size_t n = strlen(what) + rep->len + 1;
	e->qerr = malloc(n);
	if (e->qerr)
		snprintf(e->qerr, n, "%s%.*s", what, (int)rep->len, rep->str);
}

static void multi_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	if (live_sink(ac, r))
		record_qerr(privdata, "MULTI: ", r);
}

static void queued_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	if (live_sink(ac, r))
		record_qerr(privdata, "", r);
}

/* Reports a rejected batch and drops it. */
static void batch_rejected(struct ccp_sink_redis *s, struct entry *e, const char *msg)
{
	backlog_pop(s);
	s->st.batches_failed++;
	s->st.inflight_batches = s->inflight;
	set_error(s, "batch %llu rejected: %s", (unsigned long long)e->token, msg);
	if (s->o.log && ccp_log_enabled(s->o.log, CCP_LOG_ERROR)) {
		char tok[24];
		snprintf(tok, sizeof(tok), "%llu", (unsigned long long)e->token);
		ccp_log_kv(s->o.log, CCP_LOG_ERROR, "redis rejected a batch; dropped, not retried", "redis", s->addr,
			   "token", tok, "error", msg, (char *)NULL);
	}
	uint64_t token = e->token;
	/* The callback may submit or close: the entry is unlinked already,
	 * and its text is copied out before it is freed. */
	char text[sizeof(s->st.last_error)];
	snprintf(text, sizeof(text), "%s", msg);
	ccp_sink_redis_values_cb vcb = e->values_cb;
	void *vud = e->values_ud;
	entry_free(e);
	if (vcb)
		vcb(vud, token, -EPROTO, 0, NULL, NULL);
	else if (s->o.error_cb)
		s->o.error_cb(s->o.ud, token, -EPROTO, text);
}

static void maybe_flushed(struct ccp_sink_redis *s)
{
	if (s->closing && !s->finishing && !s->head)
		finish_close(s, "close: backlog flushed");
}

/* Hands a read's reply to its callback: an array of bulk strings and
 * nils (MGET, HGETALL), or one bulk string, as slices valid during the
 * call; any other reply type is an empty answer. */
static void deliver_values(struct entry *e, const redisReply *rep)
{
	enum { STACK_VALUES = 64 };
	const char *vs[STACK_VALUES];
	size_t ls[STACK_VALUES];
	const char **vals = vs;
	size_t *lens = ls;
	size_t n = 0;
	if (rep->type == REDIS_REPLY_ARRAY) {
		n = rep->elements;
		if (n > STACK_VALUES) {
			vals = malloc(n * sizeof(*vals));
			lens = malloc(n * sizeof(*lens));
			if (!vals || !lens) {
				free(vals == vs ? NULL : vals);
				free(lens == ls ? NULL : lens);
				e->values_cb(e->values_ud, e->token, -ENOMEM, 0, NULL, NULL);
				return;
			}
		}
		for (size_t i = 0; i < n; i++) {
			const redisReply *el = rep->element[i];
			bool str = el->type == REDIS_REPLY_STRING || el->type == REDIS_REPLY_STATUS;
			vals[i] = str ? el->str : NULL;
			lens[i] = str ? el->len : 0;
		}
	} else if (rep->type == REDIS_REPLY_STRING) {
		n = 1;
		vals[0] = rep->str;
		lens[0] = rep->len;
	}
	e->values_cb(e->values_ud, e->token, 0, n, vals, lens);
	if (vals != vs)
		free(vals);
	if (lens != ls)
		free(lens);
}

static void exec_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct ccp_sink_redis *s = live_sink(ac, r);
	if (!s)
		return;
	struct entry *e = privdata;
	const redisReply *rep = r;
	CCP__CHECK(e == s->head);
	if (rep->type == REDIS_REPLY_ERROR || rep->type == REDIS_REPLY_NIL) {
		const char *msg = e->qerr ? e->qerr : rep->type == REDIS_REPLY_NIL ? "EXEC aborted" : rep->str;
		if (transient_error(msg) || transient_error(rep->type == REDIS_REPLY_ERROR ? rep->str : NULL)) {
			conn_fail(s, "transient Redis error, batch kept for resend: %s", msg);
			return;
		}
		batch_rejected(s, e, msg);
	} else if (rep->type == REDIS_REPLY_ARRAY) {
		const redisReply *bad = NULL;
		bool noscript = false;
		for (size_t i = 0; i < rep->elements && i < e->ncmds; i++) {
			const redisReply *el = rep->element[i];
			if (el->type != REDIS_REPLY_ERROR)
				continue;
			if (e->script[i] >= 0 && !strncmp(el->str, "NOSCRIPT", 8)) {
				/* The next connection sends this script as EVAL. */
				s->scripts[e->script[i]].eval_gen = s->gen + 1;
				noscript = true;
			} else if (!bad) {
				bad = el;
			}
		}
		if (noscript && !bad) {
			s->st.noscript++;
			conn_fail(s, "NOSCRIPT inside EXEC: resending from batch %llu with EVAL",
				  (unsigned long long)e->token);
			return;
		}
		if (bad) {
			char msg[sizeof(s->st.last_error)];
			snprintf(msg, sizeof(msg), "%.*s", (int)bad->len, bad->str);
			batch_rejected(s, e, msg);
		} else {
			backlog_pop(s);
			s->st.batches_acked++;
			s->st.inflight_batches = s->inflight;
			uint64_t token = e->token;
			if (e->values_cb && rep->elements >= e->ncmds)
				deliver_values(e, rep->element[e->ncmds - 1]);
			else if (s->o.ack_cb)
				s->o.ack_cb(s->o.ud, token);
			entry_free(e);
		}
	} else {
		char msg[64];
		snprintf(msg, sizeof(msg), "EXEC answered with reply type %d", rep->type);
		batch_rejected(s, e, msg);
	}
	maybe_flushed(s);
	pump(s);
}

static void publish_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct ccp_sink_redis *s = live_sink(ac, r);
	if (!s)
		return;
	const redisReply *rep = r;
	struct entry *e = privdata;
	CCP__CHECK(e == s->head);
	backlog_pop(s);
	s->st.inflight_batches = s->inflight;
	if (rep->type == REDIS_REPLY_ERROR) {
		s->st.publishes_failed++;
		set_error(s, "PUBLISH: %.*s", (int)rep->len, rep->str);
	}
	entry_free(e);
	maybe_flushed(s);
	pump(s);
}

static void ping_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	(void)privdata;
	live_sink(ac, r); /* progress is all a PING is for */
}

/* ---- handshake ---------------------------------------------------------- */

static void handshake_step(struct ccp_sink_redis *s)
{
	if (--s->handshake_pending > 0)
		return;
	uv_timer_stop(&s->conn_timer);
	s->backoff_attempts = 0;
	s->st.connects++;
	set_state(s, CCP_SINK_REDIS_CONNECTED, "handshake done");
	log_kv(s, CCP_LOG_INFO, "redis connected", NULL, NULL);
	pump(s);
}

static void auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct ccp_sink_redis *s = live_sink(ac, r);
	if (!s)
		return;
	const redisReply *rep = r;
	const char *what = privdata;
	if (rep->type == REDIS_REPLY_ERROR) {
		if (transient_error(rep->str) && strncmp(rep->str, "NOAUTH", 6)) {
			conn_fail(s, "%s: %.*s", what, (int)rep->len, rep->str);
			return;
		}
		s->st.auth_errors++;
		conn_fail(s, "%s failed: %.*s", what, (int)rep->len, rep->str);
		return;
	}
	handshake_step(s);
}

static void script_load_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	struct ccp_sink_redis *s = live_sink(ac, r);
	if (!s)
		return;
	const redisReply *rep = r;
	struct script *sc = &s->scripts[(intptr_t)privdata];
	if (rep->type == REDIS_REPLY_STRING && rep->len == SHA_HEX_LEN) {
		memcpy(sc->sha, rep->str, SHA_HEX_LEN);
		sc->loaded_gen = s->gen;
		sc->broken = false;
	} else if (rep->type == REDIS_REPLY_ERROR && transient_error(rep->str)) {
		conn_fail(s, "SCRIPT LOAD: %.*s", (int)rep->len, rep->str);
		return;
	} else {
		/* A script Redis will not compile (or ACL forbids): batches
		 * using it go out as EVAL and are rejected one by one with the
		 * reason, instead of the sink reconnecting forever. */
		sc->broken = true;
		set_error(s, "SCRIPT LOAD of script %d refused: %.*s", (int)(intptr_t)privdata,
			  rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 0, rep->type == REDIS_REPLY_ERROR ? rep->str : "");
		log_kv(s, CCP_LOG_ERROR, "redis refused a script", "error", s->st.last_error);
	}
	if (s->state == CCP_SINK_REDIS_HANDSHAKE)
		handshake_step(s);
}

static bool send_script_load(struct ccp_sink_redis *s, int i)
{
	const char *argv[3] = {"SCRIPT", "LOAD", s->scripts[i].text};
	size_t argvlen[3] = {6, 4, s->scripts[i].len};
	if (redisAsyncCommandArgv(s->ac, script_load_cb, (void *)(intptr_t)i, 3, argv, argvlen) != REDIS_OK)
		return false;
	reply_owed(s, 1);
	return true;
}

static void handshake_start(struct ccp_sink_redis *s)
{
	const struct ccp_redis_url *u = &s->o.url;
	set_state(s, CCP_SINK_REDIS_HANDSHAKE, "connected, authenticating");
	s->handshake_pending = 1; /* released at the end, so an early reply cannot finish it */
	bool ok = true;
	if (u->has_password) {
		const char *argv[3] = {"AUTH", u->user, u->password};
		size_t argvlen[3] = {4, strlen(u->user), strlen(u->password)};
		if (u->user[0])
			ok = redisAsyncCommandArgv(s->ac, auth_cb, "AUTH", 3, argv, argvlen) == REDIS_OK;
		else
			ok = redisAsyncCommandArgv(s->ac, auth_cb, "AUTH", 2, (const char *[]){"AUTH", u->password},
						   (size_t[]){4, argvlen[2]}) == REDIS_OK;
		s->handshake_pending++;
		reply_owed(s, 1);
	}
	if (ok && u->db != 0) {
		char db[16];
		int n = snprintf(db, sizeof(db), "%d", u->db);
		ok = redisAsyncCommandArgv(s->ac, auth_cb, "SELECT", 2, (const char *[]){"SELECT", db},
					   (size_t[]){6, (size_t)n}) == REDIS_OK;
		s->handshake_pending++;
		reply_owed(s, 1);
	}
	for (int i = 0; ok && i < s->nscripts; i++) {
		ok = send_script_load(s, i);
		s->handshake_pending++;
	}
	/* Always one round trip: CONNECTED means the server answered, not
	 * merely that the kernel accepted the socket (a stopped server's
	 * listen backlog still does). */
	if (ok) {
		ok = redisAsyncCommandArgv(s->ac, auth_cb, "PING", 1, (const char *[]){"PING"}, (size_t[]){4}) ==
		     REDIS_OK;
		s->handshake_pending++;
		reply_owed(s, 1);
	}
	if (!ok) {
		conn_fail(s, "hiredis refused a handshake command");
		return;
	}
	handshake_step(s);
}

/* ---- connecting --------------------------------------------------------- */

static void on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct ccp_sink_redis *s = ac->data;
	if (!s || s->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns. */
		set_error(s, "connect %s: %s", s->addr, ac->errstr ? ac->errstr : "failed");
		s->st.errors++;
		char why[sizeof(s->st.last_error)];
		memcpy(why, s->st.last_error, sizeof(why));
		conn_down(s, false, why);
		return;
	}
	handshake_start(s);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct ccp_sink_redis *s = ac->data;
	if (!s || s->ac != ac)
		return;
	set_error(s, "connection to %s lost: %s", s->addr,
		  status == REDIS_OK ? "closed" : ac->errstr ? ac->errstr : "error");
	s->st.errors++;
	char why[sizeof(s->st.last_error)];
	memcpy(why, s->st.last_error, sizeof(why));
	conn_down(s, false, why);
}

static void connect_timeout_cb(uv_timer_t *t)
{
	struct ccp_sink_redis *s = t->data;
	s->st.connect_timeouts++;
	conn_fail(s, "connect timeout: no %s within %d ms", state_names[s->state], s->o.connect_timeout_ms);
}

/* Starts the hiredis connection to a numeric address (or the socket). */
static void connect_numeric(struct ccp_sink_redis *s, const char *ip)
{
	set_state(s, CCP_SINK_REDIS_CONNECTING, "connecting");
	redisAsyncContext *ac = s->o.url.kind == CCP_REDIS_URL_UNIX ? redisAsyncConnectUnix(s->o.url.path)
								    : redisAsyncConnect(ip, s->o.url.port);
	if (!ac) {
		conn_fail(s, "connect %s: out of memory", s->addr);
		return;
	}
	if (ac->err) {
		set_error(s, "connect %s: %s", s->addr, ac->errstr);
		redisAsyncFree(ac);
		s->st.errors++;
		char why[sizeof(s->st.last_error)];
		memcpy(why, s->st.last_error, sizeof(why));
		conn_down(s, false, why);
		return;
	}
	if (redisLibuvAttach(ac, s->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		conn_fail(s, "connect %s: cannot attach to the libuv loop", s->addr);
		return;
	}
	ac->data = s;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	s->ac = ac;
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolve *rv = req->data;
	struct ccp_sink_redis *s = rv->s;
	uint64_t gen = rv->gen;
	if (s->resolving == rv)
		s->resolving = NULL;
	free(rv);
	s->resolves_pending--;
	if (s->closing || gen != s->gen || s->state != CCP_SINK_REDIS_RESOLVING) {
		uv_freeaddrinfo(res);
		maybe_finish_close(s);
		return;
	}
	/* Consecutive failures rotate through the addresses, so a name with
	 * an unreachable first address ("localhost" as ::1 while Redis binds
	 * 127.0.0.1) still connects on a later attempt. */
	char ip[INET6_ADDRSTRLEN] = "";
	if (status == 0 && res) {
		int n = 0;
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
			n += ai->ai_family == AF_INET || ai->ai_family == AF_INET6;
		int pick = n ? s->backoff_attempts % n : 0;
		for (struct addrinfo *ai = res; ai && !ip[0]; ai = ai->ai_next) {
			if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
				continue;
			if (pick-- > 0)
				continue;
			const void *a = ai->ai_family == AF_INET6
						? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
						: (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
			inet_ntop(ai->ai_family, a, ip, sizeof(ip));
		}
	}
	uv_freeaddrinfo(res);
	if (!ip[0]) {
		conn_fail(s, "resolve %s: %s", s->o.url.host, status ? uv_strerror(status) : "no address");
		return;
	}
	connect_numeric(s, ip);
}

static void start_connect(struct ccp_sink_redis *s)
{
	CCP__CHECK(!s->ac);
	s->gen++;
	s->st.connect_attempts++;
	uv_timer_start(&s->conn_timer, connect_timeout_cb, (uint64_t)s->o.connect_timeout_ms, 0);
	if (s->o.url.kind != CCP_REDIS_URL_NAME) {
		connect_numeric(s, s->o.url.host);
		return;
	}
	struct resolve *rv = malloc(sizeof(*rv));
	if (!rv) {
		conn_fail(s, "resolve %s: out of memory", s->o.url.host);
		return;
	}
	rv->s = s;
	rv->gen = s->gen;
	rv->req.data = rv;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	set_state(s, CCP_SINK_REDIS_RESOLVING, "resolving host name");
	int r = uv_getaddrinfo(s->loop, &rv->req, resolved_cb, s->o.url.host, NULL, &hints);
	if (r != 0) {
		free(rv);
		conn_fail(s, "resolve %s: %s", s->o.url.host, uv_strerror(r));
		return;
	}
	s->resolves_pending++;
	s->resolving = rv;
}

/* ---- watchdog ----------------------------------------------------------- */

static void ping(struct ccp_sink_redis *s)
{
	static const char *const argv[1] = {"PING"};
	static const size_t len[1] = {4};
	if (redisAsyncCommandArgv(s->ac, ping_cb, NULL, 1, (const char **)argv, len) != REDIS_OK) {
		conn_fail(s, "hiredis refused PING");
		return;
	}
	s->st.pings++;
	reply_owed(s, 1);
}

static void tick_cb(uv_timer_t *t)
{
	struct ccp_sink_redis *s = t->data;
	uint64_t now = now_ms(s);
	if (s->closing && !s->finishing && now >= s->flush_deadline_ms) {
		finish_close(s, "close: flush deadline passed");
		return;
	}
	if (!s->ac || (s->state != CCP_SINK_REDIS_CONNECTED && s->state != CCP_SINK_REDIS_HANDSHAKE))
		return;
	if (s->replies_owed > 0) {
		if (now - s->last_progress_ms >= (uint64_t)s->o.command_timeout_ms) {
			s->st.command_timeouts++;
			conn_fail(s, "command timeout: %zu replies owed, none for %d ms", s->replies_owed,
				  s->o.command_timeout_ms);
		}
	} else if (s->state == CCP_SINK_REDIS_CONNECTED &&
		   now - s->last_progress_ms >= (uint64_t)s->o.ping_interval_ms) {
		ping(s);
	}
}

/* ---- public API --------------------------------------------------------- */

void ccp_sink_redis_opts_defaults(struct ccp_sink_redis_opts *o)
{
	memset(o, 0, sizeof(*o));
	ccp_redis_url_parse(&o->url, "redis://127.0.0.1:6379", NULL, 0);
	o->connect_timeout_ms = 2000;
	o->command_timeout_ms = 5000;
	o->ping_interval_ms = 1000;
	o->backoff_min_ms = 100;
	o->backoff_max_ms = 5000;
	o->max_backlog_bytes = (size_t)64 << 20;
	o->max_inflight_batches = 32;
}

static int bad_opt(char *err, size_t errlen, const char *name, long v, long lo, long hi)
{
	if (err && errlen)
		snprintf(err, errlen, "sink_redis: %s=%ld: must be %ld..%ld", name, v, lo, hi);
	return -EINVAL;
}

static int check_opts(const struct ccp_sink_redis_opts *o, char *err, size_t errlen)
{
	const struct {
		const char *name;
		long v, lo, hi;
	} b[] = {
		{"connect_timeout_ms", o->connect_timeout_ms, 10, 600000},
		{"command_timeout_ms", o->command_timeout_ms, 10, 600000},
		{"ping_interval_ms", o->ping_interval_ms, 10, 600000},
		{"backoff_min_ms", o->backoff_min_ms, 1, 600000},
		{"backoff_max_ms", o->backoff_max_ms, o->backoff_min_ms, 600000},
		{"max_inflight_batches", o->max_inflight_batches, 1, 100000},
	};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		if (b[i].v < b[i].lo || b[i].v > b[i].hi)
			return bad_opt(err, errlen, b[i].name, b[i].v, b[i].lo, b[i].hi);
	if (o->max_backlog_bytes < 1024) {
		if (err && errlen)
			snprintf(err, errlen, "sink_redis: max_backlog_bytes=%zu: must be >= 1024", o->max_backlog_bytes);
		return -EINVAL;
	}
	if (o->url.kind == CCP_REDIS_URL_UNIX ? !o->url.path[0] : (!o->url.host[0] || o->url.port < 1)) {
		if (err && errlen)
			snprintf(err, errlen, "sink_redis: url has no address (parse it with ccp_redis_url_parse)");
		return -EINVAL;
	}
	return 0;
}

struct ccp_sink_redis *ccp_sink_redis_new(uv_loop_t *loop, const struct ccp_sink_redis_opts *o, char *err,
					  size_t errlen)
{
	if (check_opts(o, err, errlen) != 0)
		return NULL;
	struct ccp_sink_redis *s = calloc(1, sizeof(*s));
	if (!s) {
		if (err && errlen)
			snprintf(err, errlen, "sink_redis: out of memory");
		return NULL;
	}
	s->loop = loop;
	s->o = *o;
	s->state = CCP_SINK_REDIS_CLOSED;
	s->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)s) | 1;
	ccp_redis_url_redacted(&o->url, s->addr, sizeof(s->addr));
	int m = o->command_timeout_ms < o->ping_interval_ms ? o->command_timeout_ms : o->ping_interval_ms;
	s->tick_ms = m / 4 < TICK_MIN_MS ? TICK_MIN_MS : m / 4 > TICK_MAX_MS ? TICK_MAX_MS : m / 4;
	/* uv_timer_init cannot fail on a live loop; nothing to unwind after. */
	uv_timer_init(loop, &s->conn_timer);
	uv_timer_init(loop, &s->tick);
	s->conn_timer.data = s;
	s->tick.data = s;
	s->handles_open = 2;
	return s;
}

static bool scratch_reserve(struct ccp_sink_redis *s, size_t n)
{
	if (n <= s->scratch_cap)
		return true;
	size_t cap = s->scratch_cap ? s->scratch_cap : 16;
	while (cap < n)
		cap *= 2;
	const char **a = realloc(s->scratch_argv, cap * sizeof(*a));
	if (!a)
		return false;
	s->scratch_argv = a;
	size_t *l = realloc(s->scratch_len, cap * sizeof(*l));
	if (!l)
		return false;
	s->scratch_len = l;
	s->scratch_cap = cap;
	return true;
}

int ccp_sink_redis_script_add(struct ccp_sink_redis *s, const char *text, size_t len)
{
	if (s->closing)
		return -ESHUTDOWN;
	if (!text || len == 0 || s->nscripts >= INT32_MAX)
		return -EINVAL;
	struct script *a = realloc(s->scripts, (size_t)(s->nscripts + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	s->scripts = a;
	struct script *sc = &a[s->nscripts];
	memset(sc, 0, sizeof(*sc));
	sc->text = malloc(len + 1);
	if (!sc->text)
		return -ENOMEM;
	memcpy(sc->text, text, len);
	sc->text[len] = '\0';
	sc->len = len;
	int idx = s->nscripts++;
	if (s->state == CCP_SINK_REDIS_CONNECTED && !send_script_load(s, idx))
		conn_fail(s, "hiredis refused SCRIPT LOAD");
	return idx;
}

int ccp_sink_redis_start(struct ccp_sink_redis *s)
{
	if (s->closing)
		return -ESHUTDOWN;
	if (s->started)
		return -EALREADY;
	s->started = true;
	uv_timer_start(&s->tick, tick_cb, (uint64_t)s->tick_ms, (uint64_t)s->tick_ms);
	start_connect(s);
	return 0;
}

/* Where the commands of a submit come from: an array, or a cmdbuf. */
struct cmd_source {
	const struct ccp_sink_redis_cmd *cmds;
	struct ccp_cmdbuf *cb;
};

static void source_get(const struct cmd_source *src, size_t i, struct ccp_sink_redis_cmd *out)
{
	if (src->cmds) {
		*out = src->cmds[i];
		return;
	}
	const char **argv;
	const size_t *argvlen;
	out->argc = ccp_cmdbuf_argv(src->cb, i, &argv, &argvlen);
	out->argv = argv;
	out->argvlen = argvlen;
	out->script = -1;
}

static int submit(struct ccp_sink_redis *s, const struct cmd_source *src, size_t n, uint64_t token,
		  enum entry_kind kind, ccp_sink_redis_values_cb values_cb, void *values_ud)
{
	if (s->closing)
		return -ESHUTDOWN;
	if (n == 0 || n > UINT32_MAX)
		return -EINVAL;
	/* Pass 1: sizes and checks. */
	size_t nargs = 0, nbytes = 0, max_argc = 0;
	bool scripted = false;
	for (size_t i = 0; i < n; i++) {
		struct ccp_sink_redis_cmd c;
		source_get(src, i, &c);
		if (c.argc < 1 || c.script < -1 || c.script >= s->nscripts)
			return -EINVAL;
		scripted |= c.script >= 0;
		if ((size_t)c.argc > max_argc)
			max_argc = (size_t)c.argc;
		nargs += (size_t)c.argc;
		for (int a = 0; a < c.argc; a++)
			nbytes += c.argvlen[a];
	}
	size_t size = sizeof(struct entry) + nargs * (sizeof(char *) + sizeof(size_t)) +
		      n * (sizeof(uint32_t) + sizeof(int32_t)) + nbytes;
	if (size > s->o.max_backlog_bytes)
		return -E2BIG;
	if (s->st.backlog_bytes + size > s->o.max_backlog_bytes) {
		s->st.backlog_rejections++;
		return -ENOBUFS;
	}
	if (scripted && !scratch_reserve(s, max_argc + 2))
		return -ENOMEM;
	struct entry *e = malloc(size);
	if (!e)
		return -ENOMEM;
	/* Layout: header, argv[], argvlen[], argc[], script[], bytes; each
	 * array is aligned for its type by this order. */
	memset(e, 0, sizeof(*e));
	e->token = token;
	e->bytes = size;
	e->kind = kind;
	e->ncmds = (uint32_t)n;
	e->values_cb = values_cb;
	e->values_ud = values_ud;
	e->argv = (const char **)(e + 1);
	e->argvlen = (size_t *)(e->argv + nargs);
	e->argc = (uint32_t *)(e->argvlen + nargs);
	e->script = (int32_t *)(e->argc + n);
	char *bytes = (char *)(e->script + n);
	/* Pass 2: copy. */
	size_t a = 0;
	for (size_t i = 0; i < n; i++) {
		struct ccp_sink_redis_cmd c;
		source_get(src, i, &c);
		e->argc[i] = (uint32_t)c.argc;
		e->script[i] = c.script;
		for (int k = 0; k < c.argc; k++, a++) {
			memcpy(bytes, c.argv[k], c.argvlen[k]);
			e->argv[a] = bytes;
			e->argvlen[a] = c.argvlen[k];
			bytes += c.argvlen[k];
		}
	}
	backlog_append(s, e);
	if (kind == ENTRY_TX)
		s->st.batches_submitted++;
	pump(s);
	return 0;
}

int ccp_sink_redis_submit(struct ccp_sink_redis *s, const struct ccp_sink_redis_cmd *cmds, size_t n,
			  uint64_t token)
{
	if (!cmds)
		return -EINVAL;
	struct cmd_source src = {.cmds = cmds};
	return submit(s, &src, n, token, ENTRY_TX, NULL, NULL);
}

int ccp_sink_redis_submit_cmdbuf(struct ccp_sink_redis *s, struct ccp_cmdbuf *cb, uint64_t token)
{
	if (ccp_cmdbuf_error(cb))
		return -ENOMEM;
	struct cmd_source src = {.cb = cb};
	return submit(s, &src, ccp_cmdbuf_count(cb), token, ENTRY_TX, NULL, NULL);
}

int ccp_sink_redis_read(struct ccp_sink_redis *s, const struct ccp_sink_redis_cmd *cmds, size_t n, uint64_t token,
			ccp_sink_redis_values_cb cb, void *ud)
{
	if (!cmds || !cb)
		return -EINVAL;
	struct cmd_source src = {.cmds = cmds};
	return submit(s, &src, n, token, ENTRY_TX, cb, ud);
}

int ccp_sink_redis_publish(struct ccp_sink_redis *s, const char *channel, size_t channel_len, const char *msg,
			   size_t msg_len)
{
	const char *argv[3] = {"PUBLISH", channel, msg};
	size_t argvlen[3] = {7, channel_len, msg_len};
	struct ccp_sink_redis_cmd c = {.argc = 3, .argv = argv, .argvlen = argvlen, .script = -1};
	struct cmd_source src = {.cmds = &c};
	int r = submit(s, &src, 1, 0, ENTRY_PUBLISH, NULL, NULL);
	if (r != 0)
		s->st.publishes_failed++;
	return r;
}

size_t ccp_sink_redis_backlog_bytes(const struct ccp_sink_redis *s)
{
	return s->st.backlog_bytes;
}

bool ccp_sink_redis_ready(const struct ccp_sink_redis *s)
{
	return s->state == CCP_SINK_REDIS_CONNECTED;
}

void ccp_sink_redis_stats(const struct ccp_sink_redis *s, struct ccp_sink_redis_stats *out)
{
	*out = s->st;
	out->state = s->state;
	out->inflight_batches = s->inflight;
}

/* ---- close -------------------------------------------------------------- */

static void handle_closed_cb(uv_handle_t *h)
{
	struct ccp_sink_redis *s = h->data;
	s->handles_open--;
	maybe_finish_close(s);
}

/* Frees the sink once its timers are closed and no lookup is pending
 * (a getaddrinfo callback still points at it). */
static void maybe_finish_close(struct ccp_sink_redis *s)
{
	if (!s->finishing || s->handles_open > 0 || s->resolves_pending > 0)
		return;
	ccp_sink_redis_close_cb cb = s->close_cb;
	void *ud = s->close_ud;
	for (int i = 0; i < s->nscripts; i++)
		free(s->scripts[i].text);
	free(s->scripts);
	free(s->scratch_argv);
	free(s->scratch_len);
	free(s);
	if (cb)
		cb(ud);
}

/* Drops the connection and every pending entry, then closes the timers. */
static void finish_close(struct ccp_sink_redis *s, const char *why)
{
	s->finishing = true;
	redisAsyncContext *ac = s->ac;
	s->ac = NULL;
	if (ac)
		redisAsyncFree(ac);
	if (s->state == CCP_SINK_REDIS_CONNECTED)
		s->st.disconnects++;
	set_state(s, CCP_SINK_REDIS_SHUTDOWN, why);
	log_kv(s, CCP_LOG_INFO, "redis sink closing", "reason", why);
	/* Every entry still here gets its one callback (batches) or is
	 * counted (publishes). Unlink first: callbacks may look at stats. */
	struct entry *e = s->head;
	s->head = s->tail = s->next_send = NULL;
	s->inflight = 0;
	s->replies_owed = 0;
	while (e) {
		struct entry *next = e->next;
		s->st.backlog_bytes -= e->bytes;
		s->st.backlog_batches--;
		uint64_t token = e->token;
		bool tx = e->kind == ENTRY_TX;
		ccp_sink_redis_values_cb vcb = e->values_cb;
		void *vud = e->values_ud;
		entry_free(e);
		if (tx) {
			s->st.batches_dropped++;
			if (vcb)
				vcb(vud, token, -ECANCELED, 0, NULL, NULL);
			else if (s->o.error_cb)
				s->o.error_cb(s->o.ud, token, -ECANCELED, "dropped at close");
		} else {
			s->st.publishes_failed++;
		}
		e = next;
	}
	/* A lookup not yet started in the pool ends at once (UV_ECANCELED);
	 * one under way finishes first, and the sink waits for it. */
	if (s->resolving)
		uv_cancel((uv_req_t *)&s->resolving->req);
	uv_close((uv_handle_t *)&s->conn_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&s->tick, handle_closed_cb);
}

int ccp_sink_redis_close(struct ccp_sink_redis *s, enum ccp_sink_redis_close_mode mode, int flush_timeout_ms,
			 ccp_sink_redis_close_cb cb, void *ud)
{
	if (s->closing)
		return -EALREADY;
	s->closing = true;
	s->close_mode = mode;
	s->close_cb = cb;
	s->close_ud = ud;
	if (mode == CCP_SINK_REDIS_DROP || !s->head || !s->started) {
		finish_close(s, mode == CCP_SINK_REDIS_DROP ? "close: drop" : "close: nothing to flush");
		return 0;
	}
	/* FLUSH: keep (re)connecting and sending; the tick enforces the
	 * deadline and the last reply finishes the close. */
	s->flush_deadline_ms = now_ms(s) + (uint64_t)(flush_timeout_ms > 0 ? flush_timeout_ms : 0);
	return 0;
}
