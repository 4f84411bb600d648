/* Worker threads (see include/ccpulse/worker.h for the design). */
#include "ccpulse/worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ccpulse/alerts.h"
#include "ccpulse/cmdbuf.h"
#include "ccpulse/config.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/json_out.h"
#include "ccpulse/log.h"
#include "ccpulse/partial.h"
#include "ccpulse/publish.h"
#include "ccpulse/recovery.h"
#include "ccpulse/ring.h"
#include "ccpulse/snapshot.h"
#include "ccpulse/source_kafka.h"
#include "ccpulse/webhook.h"
#include "hash.h"

#define IN_DEFAULT_SLOTS 262144u
#define OUT_SLOTS 4096u  /* renders in flight to the loop: <= 1 per partition */
#define BACK_SLOTS 8192u /* buffers coming back: <= 2 per partition */
#define DRAIN_BATCH 256u
#define CONTROL_WAIT_MS 10000
#define KEY_MAX 512
#define REPLAY_IDLE_MS 1000 /* a re-read with nothing more to read is over */

enum in_kind { IN_MSG, IN_ASSIGN, IN_REVOKE, IN_STOP };

struct assign_req;

/* One `in` slot (32 bytes). Written by the source, read by the worker. */
struct in_slot {
	uint32_t kind;
	int32_t partition;
	const rd_kafka_message_t *msg;
	union {
		struct ccp_worker_revoke *revoke; /* IN_REVOKE */
		struct assign_req *assign;        /* IN_ASSIGN */
	};
	uint64_t pad_;
};

/* An assignment with its recovery record: the source thread waits for
 * the offset to start from, which only the worker knows once it has
 * tried the checkpoint. Two references, like struct ccp_worker_revoke. */
struct assign_req {
	sem_t sem;
	atomic_int refs;
	struct ccp_recovery *rec; /* the worker takes and frees it */
	int64_t start;            /* written by the worker before the post */
};
static void assign_answer(struct assign_req *a, int64_t start);
struct part;
static bool replaying(struct ccp_worker *w, struct part *p, int64_t now_mono);

/* One `back` slot (16 bytes). Written by the loop, read by the worker. */
struct back_slot {
	struct ccp_cmdbuf *cb;
	int32_t partition;
	uint32_t pad_;
};

/* Shared by the source thread (waits), the worker (creates) and the loop
 * (signals). Two references: the waiter's and the signaller's; the one
 * that drops the last frees it. */
struct ccp_worker_revoke {
	sem_t sem;
	atomic_int refs;
	atomic_int ok;
};

/* One assigned partition. Owner: its worker thread; lives from assign to
 * revoke (or worker stop). */
struct part {
	int32_t id;
	struct ccp_engine *e;
	struct ccp_cmdbuf *cur;   /* the next render is written here */
	struct ccp_cmdbuf *spare; /* NULL while a buffer is with the loop */
	int64_t next_offset;      /* after the last applied message; -1: none yet */
	int64_t published_offset; /* next_offset of the last render */
	int64_t last_msg_mono_ms;
	bool changed;             /* since the last render */
	bool render_owed;         /* a tick found the buffer still with the loop */
	bool first_render;        /* none since assign: write the overdue set whole */
	uint64_t rejects[CCP_REJECT__COUNT];
	uint64_t *qhash;          /* per queue: fingerprint of its last render */
	uint32_t qhash_cap;
	uint64_t overdue_fp;      /* fingerprint of the overdue set last written */
	struct ccp_worker *w;     /* its worker (for the minute callback) */
	struct ccp_alerts *alerts; /* its queues' alert pairs; NULL: no rules */
	uint32_t alerts_firing;   /* as of its last render */
	int64_t minute_open;      /* start of the minute whose EVAL ends `cur`; INT64_MIN: none */
	int64_t replay_until;     /* renders wait until next_offset reaches it (the restored
				   * `rendered`), so Redis never goes back; -1: not replaying */
	int64_t replay_from_mono_ms;
	int64_t next_ckpt_mono_ms;
	bool ckpt_dirty;          /* state changed since the last checkpoint */
	struct ccp_webhook_alert *hooks; /* transitions since the last render, for webhooks */
	uint32_t n_hooks, cap_hooks;
};

/* A worker. The struct is created by main; afterwards each field belongs
 * to the thread named beside it. */
struct ccp_worker {
	struct ccp_ring in;   /* source -> worker */
	struct ccp_ring out;  /* worker -> loop */
	struct ccp_ring back; /* loop -> worker */
	void *in_mem, *out_mem, *back_mem;
	struct ccp_worker_opts o;
	uint32_t index;
	int efd;                  /* eventfd: wakes the sleeping worker */
	atomic_int sleeping;      /* set by the worker before it sleeps */
	atomic_bool source_waits; /* an offer found the ring full */
	pthread_t thread;
	bool started, stopped;

	/* Worker thread only. */
	struct part **parts;      /* by partition id */
	uint32_t max_parts;
	uint32_t n_parts;
	struct ccp_decoder dec;
	struct ccp_event ev;
	struct ccp_engine_config ecfg;
	struct ccp_log_reporter rejects;
	struct ccp_partial partial;
	char *partial_buf;
	size_t partial_cap;
	char *scratch;            /* the updates message, the overdue member */
	size_t scratch_cap;
	struct ccp_snapshot_buf snap; /* the last checkpoint taken, reused */
	struct ccp_field wf[CCP_MAX_WINDOWS + 1][CCP_WF__COUNT]; /* a queue's fields, for alerts */
	struct ccp_field lf[CCP_LF__COUNT];
	uint32_t alerts_firing;   /* its partitions' alert pairs firing */
	int64_t next_tick_mono_ms;
	bool stop;

	/* Counters: written by their thread, read anywhere (relaxed). */
	_Atomic uint64_t n_messages, n_applied, n_duplicates, n_late, n_rejected, n_publications, n_in_full;
	_Atomic uint64_t n_rejects[CCP_REJECT__COUNT];
	_Atomic uint32_t n_assigned, n_alerts_firing;
};

/* Rewrites the partition's members of `{p}:promises:overdue` from the full
 * list it holds now (ARGV: due, member, ...), using `{p}:state:overdue:{P}`,
 * the set of members this partition put there, to remove the ones that are
 * no longer overdue (kept, cancelled, expired). Runs inside the
 * partition's MULTI/EXEC, so it is absolute like every other write. */
static const char overdue_script[] =
	"local want = {}\n"
	"for i = 1, #ARGV, 2 do want[ARGV[i + 1]] = ARGV[i] end\n"
	"for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
	"  if not want[m] then redis.call('ZREM', KEYS[1], m) end\n"
	"end\n"
	"redis.call('DEL', KEYS[2])\n"
	"for m, d in pairs(want) do\n"
	"  redis.call('ZADD', KEYS[1], d, m)\n"
	"  redis.call('SADD', KEYS[2], m)\n"
	"end\n"
	"return 0\n";

/* Appends closed minutes to `{p}:minutes` (ARGV: maxlen, minute start,
 * then per queue: n, and n field/value arguments), unless this partition
 * already wrote that minute (`{p}:state:minutes:{P}` holds the last one):
 * a partition read again after a restart or a move does not write a
 * minute twice. */
static const char minutes_script[] =
	"local m = tonumber(ARGV[2])\n"
	"local last = redis.call('GET', KEYS[2])\n"
	"if last and tonumber(last) >= m then return 0 end\n"
	"redis.call('SET', KEYS[2], ARGV[2])\n"
	"local i = 3\n"
	"while i <= #ARGV do\n"
	"  local n = tonumber(ARGV[i])\n"
	"  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 1, i + n))\n"
	"  i = i + n + 1\n"
	"end\n"
	"return 1\n";

static int64_t mono_ms(void)
{
	return ccp_log_mono_ms();
}

static int64_t wall_ms(const struct ccp_worker *w)
{
	return w->o.wall_ms ? w->o.wall_ms() : ccp_log_wall_ms();
}

static bool grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	char *p = realloc(*buf, n);
	if (!p)
		return false;
	*buf = p;
	*cap = n;
	return true;
}

/* ---- waking ----------------------------------------------------------------- */

/* Wakes the worker if it sleeps. The seq_cst fence pairs with the one in
 * sleep_until(): either the worker sees our slot, or we see its flag. */
static void wake_worker(struct ccp_worker *w)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t r = write(w->efd, &one, sizeof(one));
		(void)r; /* the counter only saturates: the worker wakes anyway */
	}
}

static bool rings_empty(struct ccp_worker *w)
{
	void *s;
	return !ccp_ring_peek(&w->in, 1, &s) && !ccp_ring_peek(&w->back, 1, &s);
}

static void sleep_until(struct ccp_worker *w, int64_t deadline_mono_ms)
{
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	/* Pairs with wake_worker(): the flag is visible before we look again. */
	atomic_thread_fence(memory_order_seq_cst);
	if (rings_empty(w)) {
		int64_t wait = deadline_mono_ms - mono_ms();
		if (wait > 0) {
			struct pollfd p = {.fd = w->efd, .events = POLLIN};
			if (poll(&p, 1, wait > 1000 ? 1000 : (int)wait) > 0) {
				uint64_t v;
				ssize_t r = read(w->efd, &v, sizeof(v));
				(void)r;
			}
		}
	}
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

/* ---- partitions --------------------------------------------------------------- */

static void part_free(struct part *p)
{
	if (!p)
		return;
	ccp_engine_free(p->e);
	ccp_alerts_free(p->alerts);
	if (p->cur) {
		ccp_cmdbuf_deinit(p->cur);
		free(p->cur);
	}
	if (p->spare) {
		ccp_cmdbuf_deinit(p->spare);
		free(p->spare);
	}
	free(p->qhash);
	free(p->hooks);
	free(p);
}

static struct ccp_cmdbuf *cmdbuf_new(void)
{
	struct ccp_cmdbuf *cb = malloc(sizeof(*cb));
	if (cb)
		ccp_cmdbuf_init(cb);
	return cb;
}

static void cmdbuf_free(struct ccp_cmdbuf *cb)
{
	if (cb) {
		ccp_cmdbuf_deinit(cb);
		free(cb);
	}
}

static void field_arg(void *ud, const char *name, const char *value, size_t len)
{
	ccp_cmdbuf_arg_str(ud, name);
	ccp_cmdbuf_arg(ud, value, len);
}

/* The engine closed a minute of queue q: one entry in the minute's EVAL,
 * which goes out with the partition's next render (same MULTI/EXEC as
 * the figures and the offset it covers). */
static void on_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	struct part *p = ud;
	const struct ccp_config *cfg = p->w->o.cfg;
	if (p->minute_open != m->window_start_ms) {
		ccp_cmdbuf_begin(p->cur);
		ccp_cmdbuf_arg_str(p->cur, "EVAL");
		ccp_cmdbuf_arg(p->cur, minutes_script, sizeof(minutes_script) - 1);
		ccp_cmdbuf_arg_str(p->cur, "2");
		ccp_cmdbuf_arg_fmt(p->cur, "%s:minutes", cfg->prefix);
		ccp_cmdbuf_arg_fmt(p->cur, "%s:state:minutes:%d", cfg->prefix, p->id);
		ccp_cmdbuf_arg_i64(p->cur, cfg->minutes_stream_maxlen);
		ccp_cmdbuf_arg_i64(p->cur, m->window_start_ms);
		p->minute_open = m->window_start_ms;
	}
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(m, cfg->engine.sl_variant, wall_ms(p->w), f);
	int n = 2;
	for (int i = 0; i < CCP_WF__COUNT; i++)
		n += f[i].present ? 2 : 0;
	ccp_cmdbuf_arg_i64(p->cur, n);
	struct ccp_str name = ccp_engine_queue_name(p->e, q);
	ccp_cmdbuf_arg_str(p->cur, "queue");
	ccp_cmdbuf_arg(p->cur, name.ptr, name.len);
	ccp_fields_emit(f, ccp_wfield_names, CCP_WF__COUNT, field_arg, p->cur);
	p->changed = true;
}

/* A partition's engine, its closed minutes going into p's renders. */
static struct ccp_engine *part_engine_new(struct ccp_worker *w, struct part *p, char *err, size_t errlen)
{
	struct ccp_engine_config ec = w->ecfg;
	ec.minute_cb = on_minute;
	ec.minute_ud = p;
	return ccp_engine_new(&ec, err, errlen);
}

/* Puts the recovery record into a new partition: the checkpoint, the bad
 * input counted so far, the alerts firing, and how far the figures in
 * Redis already go. Returns the offset to read from: the checkpoint's, or
 * the start of the partition (rebuild from Kafka) when there is none or it
 * cannot be read. */
static int64_t part_restore(struct ccp_worker *w, struct part *p, struct ccp_recovery *rec)
{
	int64_t start = CCP_WORKER_OFFSET_BEGINNING;
	char err[256] = "";
	if (rec->ckpt) {
		if (!ccp_snapshot_load(p->e, rec->ckpt, rec->ckpt_len, err, sizeof(err))) {
			start = rec->ckpt_offset;
			memcpy(p->rejects, rec->rejects, sizeof(p->rejects));
		} else {
			ccp_logf(w->o.log, CCP_LOG_ERROR, "partition %d: %s; rebuilding its state from the start of the partition",
				 p->id, err);
			/* A failed load leaves the engine unusable: start afresh. */
			ccp_engine_free(p->e);
			p->e = part_engine_new(w, p, err, sizeof(err));
			if (!p->e) {
				ccp_logf(w->o.log, CCP_LOG_ERROR, "partition %d: %s", p->id, err);
				exit(70);
			}
		}
	}
	uint32_t restored = 0;
	for (uint32_t i = 0; i < rec->n_alerts && p->alerts; i++) {
		const struct ccp_recovery_alert *a = &rec->alerts[i];
		int r = ccp_alerts_restore_firing(p->alerts, a->rule, (struct ccp_str){a->queue, a->queue_len},
						  (struct ccp_str){a->promise, a->promise_len}, a->fired_ms);
		if (!r)
			restored++;
		else
			ccp_logf(w->o.log, CCP_LOG_WARN, "partition %d: firing alert of rule %s on queue %s not restored: %s",
				 p->id, a->rule, a->queue, r == -ENOENT ? "no such rule now" : "does not fit the rule");
	}
	p->alerts_firing = p->alerts ? ccp_alerts_firing(p->alerts) : 0;
	w->alerts_firing += p->alerts_firing;
	atomic_store_explicit(&w->n_alerts_firing, w->alerts_firing, memory_order_relaxed);
	if (rec->rendered_offset > (start < 0 ? 0 : start)) {
		p->replay_until = rec->rendered_offset;
		p->replay_from_mono_ms = mono_ms();
	}
	ccp_logf(w->o.log, CCP_LOG_INFO,
		 "partition %d: %s; reading from %s%lld; %u firing alert(s) restored; figures in Redis cover up to offset %lld",
		 p->id, start >= 0 ? "checkpoint restored" : rec->ckpt ? "checkpoint unusable" : "no checkpoint",
		 start >= 0 ? "offset " : "the start, ", (long long)(start >= 0 ? start : 0), restored,
		 (long long)rec->rendered_offset);
	return start;
}

static int64_t part_assign(struct ccp_worker *w, int32_t id, struct ccp_recovery *rec)
{
	if (id < 0 || (uint32_t)id >= w->max_parts || w->parts[id])
		return CCP_WORKER_OFFSET_COMMITTED; /* an assign without a revoke: keep the state we have */
	struct part *p = calloc(1, sizeof(*p));
	char err[256] = "";
	if (p) {
		p->w = w;
		p->id = id;
		p->minute_open = INT64_MIN;
		p->e = part_engine_new(w, p, err, sizeof(err));
		p->cur = cmdbuf_new();
		p->spare = cmdbuf_new();
	}
	if (p && p->e && w->o.cfg->n_alert_rules) {
		const char *names[CCP_MAX_WINDOWS + 1];
		uint32_t nw = ccp_engine_window_count(p->e);
		for (uint32_t i = 0; i < nw; i++)
			names[i] = ccp_engine_window_name(p->e, i);
		/* The rules were checked against these windows by the config. */
		p->alerts = ccp_alerts_new(w->o.cfg->alert_rules, w->o.cfg->n_alert_rules, names, nw, err, sizeof(err));
	}
	if (!p || !p->e || !p->cur || !p->spare || (w->o.cfg->n_alert_rules && !p->alerts)) {
		/* Start-up of a partition is an allocation like any other after
		 * start: exiting beats silently skipping a partition, and a
		 * restart replays it from its checkpoint. */
		ccp_logf(w->o.log, CCP_LOG_ERROR, "worker %u: partition %d: cannot allocate its state: %s", w->index, id,
			 err[0] ? err : "out of memory");
		exit(70);
	}
	p->next_offset = -1;
	p->published_offset = -1;
	p->replay_until = -1;
	p->last_msg_mono_ms = mono_ms();
	p->next_ckpt_mono_ms = mono_ms() + w->o.cfg->checkpoint_interval_ms;
	p->first_render = true;
	int64_t start = rec ? part_restore(w, p, rec) : CCP_WORKER_OFFSET_COMMITTED;
	/* A restored partition renders once it is back where its figures in
	 * Redis were (the same figures again: harmless), which stores that
	 * offset for Kafka's commit too; a new one waits for a message. */
	p->next_offset = start >= 0 ? start : -1;
	p->changed = start >= 0;
	w->parts[id] = p;
	w->n_parts++;
	atomic_store_explicit(&w->n_assigned, w->n_parts, memory_order_relaxed);
	return start;
}

/* ---- rendering ---------------------------------------------------------------- */

struct overdue_ctx {
	struct ccp_cmdbuf *cb;
	uint64_t fp;
	uint64_t n;
	struct ccp_worker *w;
	bool emit;
};

static void overdue_each(void *ud, struct ccp_str queue, struct ccp_str promise, int64_t due_ms)
{
	struct overdue_ctx *c = ud;
	if (!c->emit) {
		/* Order-free fingerprint: XOR of per-member hashes. */
		uint64_t h = ccp__hash_bytes(queue.ptr, queue.len);
		h = ccp__mix64(h ^ ccp__hash_bytes(promise.ptr, promise.len));
		c->fp ^= ccp__mix64(h ^ (uint64_t)due_ms);
		c->n++;
		return;
	}
	struct ccp_worker *w = c->w;
	if (!grow(&w->scratch, &w->scratch_cap, queue.len + promise.len + 2))
		return;
	memcpy(w->scratch, queue.ptr, queue.len);
	w->scratch[queue.len] = ':';
	memcpy(w->scratch + queue.len + 1, promise.ptr, promise.len);
	ccp_cmdbuf_arg_i64(c->cb, due_ms);
	ccp_cmdbuf_arg(c->cb, w->scratch, queue.len + 1 + promise.len);
}

/* An alert transition goes into the partition's MULTI/EXEC with the
 * figures that caused it. */
static void on_alert(void *ud, const struct ccp_alert_transition *t)
{
	struct part *p = ud;
	ccp_publish_alert(p->cur, p->w->o.cfg->prefix, p->w->o.cfg->alerts_stream_maxlen, p->id, t);
	if (!p->w->o.cfg->webhook_url[0])
		return;
	if (p->n_hooks == p->cap_hooks) {
		uint32_t cap = p->cap_hooks ? p->cap_hooks * 2 : 4;
		struct ccp_webhook_alert *h = realloc(p->hooks, cap * sizeof(*h));
		if (!h) {
			ccp_logf(p->w->o.log, CCP_LOG_ERROR, "partition %d: out of memory: alert %s not posted", p->id,
				 t->rule->name);
			return;
		}
		p->hooks = h;
		p->cap_hooks = cap;
	}
	ccp_publish_webhook_alert(&p->hooks[p->n_hooks++], t);
}

static void alert_promise_each(void *ud, struct ccp_str queue, struct ccp_str promise, int64_t due_ms)
{
	struct part *p = ud;
	ccp_alerts_promise(p->alerts, queue, promise, due_ms, ccp_engine_now(p->e), on_alert, p);
}

static void render_alerts_promises(struct part *p)
{
	if (!p->alerts)
		return;
	ccp_alerts_promises_begin(p->alerts);
	ccp_engine_overdue_foreach(p->e, alert_promise_each, p);
	ccp_alerts_promises_end(p->alerts, ccp_engine_now(p->e), on_alert, p);
}

static void render_overdue(struct ccp_worker *w, struct part *p)
{
	struct overdue_ctx c = {.cb = p->cur, .w = w};
	ccp_engine_overdue_foreach(p->e, overdue_each, &c);
	uint64_t fp = c.fp ^ c.n;
	if (!p->first_render && fp == p->overdue_fp)
		return;
	const char *prefix = w->o.cfg->prefix;
	ccp_cmdbuf_begin(p->cur);
	ccp_cmdbuf_arg_str(p->cur, "EVAL");
	ccp_cmdbuf_arg(p->cur, overdue_script, sizeof(overdue_script) - 1);
	ccp_cmdbuf_arg_str(p->cur, "2");
	ccp_cmdbuf_arg_fmt(p->cur, "%s:promises:overdue", prefix);
	ccp_cmdbuf_arg_fmt(p->cur, "%s:state:overdue:%d", prefix, p->id);
	c.emit = true;
	ccp_engine_overdue_foreach(p->e, overdue_each, &c);
	p->overdue_fp = fp;
}

static void render_partial(struct ccp_worker *w, struct part *p)
{
	ccp_partial_from_engine(&w->partial, p->e, p->rejects);
	size_t len = 0;
	if (ccp_partial_encode(&w->partial, &w->partial_buf, &w->partial_cap, &len))
		return;
	ccp_cmdbuf_begin(p->cur);
	ccp_cmdbuf_arg_str(p->cur, "HSET");
	ccp_cmdbuf_arg_fmt(p->cur, "%s:state:partials", w->o.cfg->prefix);
	ccp_cmdbuf_arg_fmt(p->cur, "%d", p->id);
	ccp_cmdbuf_arg(p->cur, w->partial_buf, len);
}

/* Renders the partition into its current buffer and hands it to the loop. */
static void render(struct ccp_worker *w, struct part *p, struct ccp_worker_revoke *final)
{
	const struct ccp_config *cfg = w->o.cfg;
	struct ccp_publish_opts po = {.prefix = cfg->prefix,
				      .sl_variant = cfg->engine.sl_variant,
				      .wall_ms = wall_ms(w),
				      .agents_elsewhere = true};
	uint32_t nq = ccp_engine_queue_count(p->e);
	if (nq > p->qhash_cap) {
		uint32_t cap = p->qhash_cap ? p->qhash_cap : 16;
		while (cap < nq)
			cap *= 2;
		uint64_t *h = realloc(p->qhash, cap * sizeof(*h));
		if (!h) {
			ccp_logf(w->o.log, CCP_LOG_ERROR, "worker %u: out of memory", w->index);
			exit(70);
		}
		memset(h + p->qhash_cap, 0, (cap - p->qhash_cap) * sizeof(*h));
		p->qhash = h;
		p->qhash_cap = cap;
	}
	/* The updates message: a JSON array of the queues that changed. */
	size_t ulen = 0;
	bool any = false;
	if (!grow(&w->scratch, &w->scratch_cap, 2))
		return;
	w->scratch[ulen++] = '[';
	for (uint32_t q = 0; q < nq; q++) {
		/* The fields come back only for the rules that judge them. */
		uint64_t h = ccp_publish_queue_fields(p->cur, p->e, q, &po, p->alerts ? w->wf : NULL,
						      p->alerts ? w->lf : NULL);
		if (p->alerts)
			ccp_alerts_eval_queue(p->alerts, ccp_engine_queue_name(p->e, q), w->wf, w->lf, ccp_engine_now(p->e),
					      on_alert, p);
		if (h == p->qhash[q] && !p->first_render)
			continue;
		p->qhash[q] = h;
		struct ccp_str name = ccp_engine_queue_name(p->e, q);
		size_t need = ccp_json_escape(NULL, 0, name.ptr, name.len);
		if (!grow(&w->scratch, &w->scratch_cap, ulen + need + 4))
			continue;
		if (any)
			w->scratch[ulen++] = ',';
		w->scratch[ulen++] = '"';
		ccp_json_escape(w->scratch + ulen, need + 1, name.ptr, name.len);
		ulen += need;
		w->scratch[ulen++] = '"';
		any = true;
	}
	w->scratch[ulen++] = ']';
	render_overdue(w, p);
	render_alerts_promises(p);
	render_partial(w, p);
	/* The recovery record: how far these figures go, and now and then
	 * (and always when the partition leaves) the whole state with it. */
	int64_t now_mono = mono_ms();
	bool ckpt = final || now_mono >= p->next_ckpt_mono_ms;
	char err[256];
	if (ckpt)
		ccp_snapshot_buf_reset(&w->snap); /* a save appends */
	if (ckpt && ccp_snapshot_save(p->e, &w->snap, err, sizeof(err))) {
		ccp_logf(w->o.log, CCP_LOG_ERROR, "partition %d: checkpoint not taken: %s", p->id, err);
		ckpt = false;
	}
	ccp_recovery_render(p->cur, cfg->prefix, p->id, p->next_offset, ckpt ? w->snap.data : NULL,
			    ckpt ? w->snap.len : 0, p->rejects);
	if (ckpt) {
		p->next_ckpt_mono_ms = now_mono + cfg->checkpoint_interval_ms;
		p->ckpt_dirty = false;
	}
	if (any) {
		ccp_cmdbuf_begin(p->cur);
		ccp_cmdbuf_arg_str(p->cur, "PUBLISH");
		ccp_cmdbuf_arg_fmt(p->cur, "%s:updates", cfg->prefix);
		ccp_cmdbuf_arg(p->cur, w->scratch, ulen);
	}
	struct ccp_worker_pub pub = {.cb = p->cur,
				     .next_offset = p->next_offset,
				     .final = final,
				     .alerts = p->hooks,
				     .n_alerts = p->n_hooks,
				     .partition = p->id};
	if (!ccp_ring_push(&w->out, &pub)) {
		/* Cannot happen: a partition has at most one buffer away and
		 * OUT_SLOTS covers every partition a worker may hold. */
		ccp_cmdbuf_reset(p->cur);
		p->minute_open = INT64_MIN;
		return;
	}
	p->cur = p->spare;
	p->spare = NULL;
	p->minute_open = INT64_MIN;
	p->hooks = NULL; /* the loop has them now */
	p->n_hooks = p->cap_hooks = 0;
	if (p->alerts) {
		uint32_t firing = ccp_alerts_firing(p->alerts);
		w->alerts_firing += firing - p->alerts_firing;
		p->alerts_firing = firing;
		atomic_store_explicit(&w->n_alerts_firing, w->alerts_firing, memory_order_relaxed);
	}
	ccp_cmdbuf_reset(p->cur);
	p->published_offset = p->next_offset;
	p->changed = false;
	p->render_owed = false;
	p->first_render = false;
	atomic_fetch_add_explicit(&w->n_publications, 1, memory_order_relaxed);
	if (w->o.notify)
		w->o.notify(w->o.notify_ud);
}

static void part_revoke(struct ccp_worker *w, int32_t id, struct ccp_worker_revoke *r)
{
	struct part *p = id >= 0 && (uint32_t)id < w->max_parts ? w->parts[id] : NULL;
	if (!p) {
		if (r)
			ccp_worker_revoke_done(r, true); /* nothing held: nothing to publish */
		return;
	}
	if (p->next_offset < 0 || replaying(w, p, mono_ms())) {
		/* Nothing read, or nothing beyond what Redis holds: the record
		 * there stays as it is, and the next owner starts from it. */
		if (r)
			ccp_worker_revoke_done(r, true);
	} else if (p->spare) {
		render(w, p, r);
	} else if (r) {
		/* A buffer is still with the loop (Redis is slow or down): the
		 * offset of that render is stored when it is acked; this last
		 * stretch is read again by the next owner. */
		ccp_worker_revoke_done(r, false);
	}
	w->alerts_firing -= p->alerts_firing; /* its pairs leave with it */
	atomic_store_explicit(&w->n_alerts_firing, w->alerts_firing, memory_order_relaxed);
	w->parts[id] = NULL;
	w->n_parts--;
	atomic_store_explicit(&w->n_assigned, w->n_parts, memory_order_relaxed);
	part_free(p);
}

/* ---- messages ----------------------------------------------------------------- */

static void reject(struct ccp_worker *w, struct part *p, enum ccp_reject r, const struct ccp_kafka_msg_view *v,
		   const struct ccp_decode_error *de)
{
	p->rejects[r]++;
	atomic_fetch_add_explicit(&w->n_rejected, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->n_rejects[r], 1, memory_order_relaxed);
	char part[16], off[24], at[24];
	snprintf(part, sizeof(part), "%d", v->partition);
	snprintf(off, sizeof(off), "%lld", (long long)v->offset);
	snprintf(at, sizeof(at), "%zu", de ? de->offset : 0);
	ccp_log_report(&w->rejects, mono_ms(), "partition", part, "offset", off, "reason", ccp_reject_names[r],
		       "field", de && de->field ? de->field : "", "byte", at, "detail",
		       de && de->detail ? de->detail : "", (char *)NULL);
	if (w->o.src && w->o.cfg->dead_letter_topic[0])
		ccp_source_kafka_dead_letter(w->o.src, ccp_reject_names[r], v->partition, v->offset, v->payload,
					     v->len);
}

static void on_message(struct ccp_worker *w, int32_t partition, const rd_kafka_message_t *m)
{
	struct ccp_kafka_msg_view v = {0};
	ccp_source_kafka_msg_view(m, &v);
	struct part *p = partition >= 0 && (uint32_t)partition < w->max_parts ? w->parts[partition] : NULL;
	atomic_fetch_add_explicit(&w->n_messages, 1, memory_order_relaxed);
	if (p) {
		struct ccp_decode_error de;
		enum ccp_reject r = ccp_decode(&w->dec, v.payload ? v.payload : "", v.len, &w->ev, &de);
		if (r == CCP_REJECT_NONE)
			r = ccp_decode_check_future(&w->ev, wall_ms(w), w->o.cfg->max_future_skew_ms);
		if (r != CCP_REJECT_NONE) {
			reject(w, p, r, &v, r == CCP_REJECT_FUTURE_TS ? NULL : &de);
		} else {
			switch (ccp_engine_apply(p->e, &w->ev)) {
			case CCP_APPLIED:
				atomic_fetch_add_explicit(&w->n_applied, 1, memory_order_relaxed);
				break;
			case CCP_DUPLICATE:
				atomic_fetch_add_explicit(&w->n_duplicates, 1, memory_order_relaxed);
				break;
			case CCP_LATE:
				atomic_fetch_add_explicit(&w->n_late, 1, memory_order_relaxed);
				break;
			}
		}
		p->next_offset = v.offset + 1;
		p->last_msg_mono_ms = mono_ms();
		p->changed = p->ckpt_dirty = true;
	}
	/* A message of a partition we do not hold (cannot happen: assign
	 * precedes messages on the same ring) is released unread. */
	if (w->o.src)
		ccp_source_kafka_release(m);
}

/* ---- the thread ------------------------------------------------------------------ */

/* While a restored partition re-reads what its figures in Redis already
 * cover, it renders nothing: a wallboard must not see them go back. The
 * re-read ends at the recorded offset, or when nothing more comes (Kafka
 * offsets have gaps: compaction, transaction markers). */
static bool replaying(struct ccp_worker *w, struct part *p, int64_t now_mono)
{
	if (p->replay_until < 0)
		return false;
	if (p->next_offset < p->replay_until && now_mono - p->last_msg_mono_ms < REPLAY_IDLE_MS)
		return true;
	ccp_logf(w->o.log, CCP_LOG_INFO, "partition %d: back at offset %lld after re-reading for %lld ms", p->id,
		 (long long)p->next_offset, (long long)(now_mono - p->replay_from_mono_ms));
	p->replay_until = -1;
	return false;
}

static void tick(struct ccp_worker *w, int64_t now_mono)
{
	int64_t wall = wall_ms(w);
	for (uint32_t i = 0; i < w->max_parts; i++) {
		struct part *p = w->parts[i];
		if (!p)
			continue;
		if (w->o.idle_advance_ms > 0 && now_mono - p->last_msg_mono_ms >= w->o.idle_advance_ms &&
		    ccp_engine_now(p->e) != INT64_MIN && ccp_engine_now(p->e) < wall) {
			ccp_engine_advance_to(p->e, wall);
			p->changed = p->ckpt_dirty = true;
		}
		/* A checkpoint comes due even when the figures stand still: the
		 * last events before a quiet spell must not be re-read for long. */
		bool ckpt_due = p->ckpt_dirty && now_mono >= p->next_ckpt_mono_ms;
		if (!(p->changed || ckpt_due) || replaying(w, p, now_mono))
			continue;
		if (p->spare)
			render(w, p, NULL);
		else
			p->render_owed = true;
	}
	ccp_log_reporter_flush(&w->rejects, now_mono, false);
}

static void drain_back(struct ccp_worker *w)
{
	void *slots;
	uint32_t n;
	while ((n = ccp_ring_peek(&w->back, DRAIN_BATCH, &slots)) > 0) {
		struct back_slot *b = slots;
		for (uint32_t i = 0; i < n; i++) {
			int32_t id = b[i].partition;
			struct part *p = id >= 0 && (uint32_t)id < w->max_parts ? w->parts[id] : NULL;
			if (p && !p->spare) {
				ccp_cmdbuf_reset(b[i].cb);
				p->spare = b[i].cb;
				/* A tick passed while Redis held the last render: go
				 * now, not a whole interval later. */
				if (p->render_owed && p->changed)
					render(w, p, NULL);
			} else {
				cmdbuf_free(b[i].cb); /* its partition is gone */
			}
		}
		ccp_ring_release(&w->back, n);
	}
}

/* Renders and advances idle clocks once per publish interval. */
static void maybe_tick(struct ccp_worker *w)
{
	int64_t now = mono_ms();
	if (now < w->next_tick_mono_ms)
		return;
	drain_back(w); /* a returned buffer lets a partition render now */
	tick(w, now);
	w->next_tick_mono_ms = now + w->o.publish_interval_ms;
}

/* Takes everything queued on `in`. Returns the slots handled. */
static uint32_t drain_in(struct ccp_worker *w)
{
	uint32_t total = 0;
	void *slots;
	uint32_t n;
	while (!w->stop && (n = ccp_ring_peek(&w->in, DRAIN_BATCH, &slots)) > 0) {
		struct in_slot *s = slots;
		for (uint32_t i = 0; i < n; i++) {
			switch (s[i].kind) {
			case IN_MSG:
				on_message(w, s[i].partition, s[i].msg);
				break;
			case IN_ASSIGN: {
				struct assign_req *a = s[i].assign;
				int64_t start = part_assign(w, s[i].partition, a ? a->rec : NULL);
				if (a) {
					ccp_recovery_free(a->rec);
					a->rec = NULL;
					assign_answer(a, start);
				}
				break;
			}
			case IN_REVOKE:
				drain_back(w); /* a returned buffer lets the last render go out */
				part_revoke(w, s[i].partition, s[i].revoke);
				break;
			default:
				w->stop = true;
				break;
			}
		}
		ccp_ring_release(&w->in, n);
		total += n;
		if (atomic_exchange_explicit(&w->source_waits, false, memory_order_relaxed) && w->o.src)
			ccp_source_kafka_wake(w->o.src);
		maybe_tick(w); /* publishing must not wait for a burst to end */
	}
	return total;
}

static void *worker_main(void *arg)
{
	struct ccp_worker *w = arg;
	w->next_tick_mono_ms = mono_ms() + w->o.publish_interval_ms;
	while (!w->stop) {
		drain_back(w);
		uint32_t n = drain_in(w);
		maybe_tick(w);
		if (n == 0 && !w->stop)
			sleep_until(w, w->next_tick_mono_ms);
	}
	ccp_log_reporter_flush(&w->rejects, mono_ms(), true);
	return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static int ring_alloc(struct ccp_ring *r, void **mem, uint32_t slot_bytes, uint32_t slots)
{
	size_t bytes = CCP_RING_STORAGE_BYTES(slot_bytes, slots);
	*mem = aligned_alloc(64, bytes);
	if (!*mem)
		return -ENOMEM;
	return ccp_ring_init(r, *mem, bytes, slot_bytes, slots);
}

struct ccp_worker *ccp_worker_new(const struct ccp_worker_opts *o, uint32_t index, char *err, size_t errlen)
{
	uint32_t in_slots = o->in_slots ? o->in_slots : IN_DEFAULT_SLOTS;
	if (!o->cfg || (in_slots & (in_slots - 1))) {
		snprintf(err, errlen, "worker: %s", !o->cfg ? "no config" : "in_slots must be a power of two");
		return NULL;
	}
	struct ccp_worker *w = aligned_alloc(64, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "worker: out of memory");
		return NULL;
	}
	memset(w, 0, sizeof(*w));
	w->o = *o;
	w->index = index;
	if (w->o.publish_interval_ms <= 0)
		w->o.publish_interval_ms = o->cfg->publish_interval_ms;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->max_parts = CCP_SOURCE_KAFKA_MAX_PARTITIONS;
	w->parts = calloc(w->max_parts, sizeof(*w->parts));
	w->ecfg = o->cfg->engine;
	if (w->efd < 0 || !w->parts || ring_alloc(&w->in, &w->in_mem, sizeof(struct in_slot), in_slots) ||
	    ring_alloc(&w->out, &w->out_mem, sizeof(struct ccp_worker_pub), OUT_SLOTS) ||
	    ring_alloc(&w->back, &w->back_mem, sizeof(struct back_slot), BACK_SLOTS)) {
		snprintf(err, errlen, "worker %u: %s", index, w->efd < 0 ? "eventfd failed" : "out of memory");
		ccp_worker_free(w);
		return NULL;
	}
	ccp_decoder_init(&w->dec);
	ccp_log_reporter_init(&w->rejects, o->log, CCP_LOG_WARN, "rejected event", 1000);
	return w;
}

int ccp_worker_start(struct ccp_worker *w)
{
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r)
		return -r;
	w->started = true;
	char name[16];
	snprintf(name, sizeof(name), "ccp-worker-%u", w->index);
	pthread_setname_np(w->thread, name);
	return 0;
}

static bool push_in_wait(struct ccp_worker *w, const struct in_slot *s, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	while (!ccp_ring_push(&w->in, s)) {
		if (mono_ms() >= deadline)
			return false;
		wake_worker(w);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	wake_worker(w);
	return true;
}

void ccp_worker_stop(struct ccp_worker *w)
{
	if (!w || !w->started || w->stopped)
		return;
	struct in_slot s = {.kind = IN_STOP};
	/* The source has stopped, so this thread may produce on `in` now. */
	while (!push_in_wait(w, &s, CONTROL_WAIT_MS))
		;
	pthread_join(w->thread, NULL);
	w->stopped = true;
}

void ccp_worker_free(struct ccp_worker *w)
{
	if (!w)
		return;
	ccp_worker_stop(w);
	if (w->parts)
		for (uint32_t i = 0; i < w->max_parts; i++)
			part_free(w->parts[i]);
	free(w->parts);
	/* Buffers still in the rings. */
	if (w->out_mem) {
		struct ccp_worker_pub pub;
		while (ccp_ring_pop(&w->out, &pub)) {
			cmdbuf_free(pub.cb);
			free(pub.alerts);
			if (pub.final)
				ccp_worker_revoke_done(pub.final, false);
		}
	}
	if (w->back_mem) {
		struct back_slot b;
		while (ccp_ring_pop(&w->back, &b))
			cmdbuf_free(b.cb);
	}
	if (w->in_mem) {
		struct in_slot s;
		while (ccp_ring_pop(&w->in, &s)) {
			if (s.kind == IN_MSG && w->o.src)
				ccp_source_kafka_release(s.msg);
			if (s.kind == IN_REVOKE && s.revoke)
				ccp_worker_revoke_done(s.revoke, false);
			if (s.kind == IN_ASSIGN && s.assign)
				assign_answer(s.assign, CCP_WORKER_OFFSET_COMMITTED);
		}
	}
	free(w->in_mem);
	free(w->out_mem);
	free(w->back_mem);
	free(w->partial_buf);
	free(w->scratch);
	ccp_snapshot_buf_free(&w->snap);
	if (w->efd >= 0)
		close(w->efd);
	free(w);
}

/* ---- source side ------------------------------------------------------------------ */

static void assign_unref(struct assign_req *a)
{
	if (atomic_fetch_sub(&a->refs, 1) == 1) {
		ccp_recovery_free(a->rec);
		sem_destroy(&a->sem);
		free(a);
	}
}

static void assign_answer(struct assign_req *a, int64_t start)
{
	a->start = start;
	sem_post(&a->sem); /* orders the write of `start` before the waiter's read */
	assign_unref(a);
}

int64_t ccp_worker_assign(struct ccp_worker *w, int32_t partition, struct ccp_recovery *rec)
{
	struct assign_req *a = rec ? malloc(sizeof(*a)) : NULL;
	if (rec && !a) {
		ccp_recovery_free(rec);
		return -ENOMEM;
	}
	if (a) {
		sem_init(&a->sem, 0, 0);
		atomic_init(&a->refs, 2);
		a->rec = rec;
		a->start = CCP_WORKER_OFFSET_COMMITTED;
	}
	struct in_slot s = {.kind = IN_ASSIGN, .partition = partition, .assign = a};
	if (!push_in_wait(w, &s, CONTROL_WAIT_MS)) {
		if (a) {
			ccp_recovery_free(a->rec);
			sem_destroy(&a->sem);
			free(a);
		}
		return -ETIMEDOUT;
	}
	if (!a)
		return CCP_WORKER_OFFSET_COMMITTED;
	/* The worker answers once it has loaded the checkpoint (a large one
	 * takes a moment); reading Kafka from anywhere else would count
	 * events twice or not at all, so there is no giving up here. */
	int64_t t0 = mono_ms();
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (sem_timedwait(&a->sem, &ts) == 0)
			break;
		if (errno != EINTR && errno != ETIMEDOUT)
			break; /* cannot happen with a valid semaphore */
		if (errno == ETIMEDOUT)
			ccp_logf(w->o.log, CCP_LOG_WARN, "partition %d: worker %u still loading its checkpoint after %lld ms",
				 partition, w->index, (long long)(mono_ms() - t0));
	}
	int64_t start = a->start;
	assign_unref(a);
	return start;
}

size_t ccp_worker_offer(struct ccp_worker *w, int32_t partition, const rd_kafka_message_t **msgs, size_t n)
{
	size_t done = 0;
	while (done < n) {
		void *slots;
		uint32_t want = n - done > UINT32_MAX ? UINT32_MAX : (uint32_t)(n - done);
		uint32_t k = ccp_ring_reserve(&w->in, want, &slots);
		if (k == 0)
			break;
		struct in_slot *s = slots;
		for (uint32_t i = 0; i < k; i++)
			s[i] = (struct in_slot){.kind = IN_MSG, .partition = partition, .msg = msgs[done + i]};
		ccp_ring_commit(&w->in, k);
		done += k;
	}
	if (done < n) {
		atomic_fetch_add_explicit(&w->n_in_full, 1, memory_order_relaxed);
		/* Relaxed is enough: the worker reads the flag after releasing
		 * slots, and a lost race only delays the wake to the source's
		 * next poll timeout. */
		atomic_store_explicit(&w->source_waits, true, memory_order_relaxed);
	}
	if (done)
		wake_worker(w);
	return done;
}

int ccp_worker_revoke(struct ccp_worker *w, int32_t partition, int timeout_ms)
{
	struct ccp_worker_revoke *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	sem_init(&r->sem, 0, 0);
	atomic_init(&r->refs, 2);
	atomic_init(&r->ok, 0);
	struct in_slot s = {.kind = IN_REVOKE, .partition = partition, .revoke = r};
	if (!push_in_wait(w, &s, timeout_ms)) {
		sem_destroy(&r->sem);
		free(r);
		return -ETIMEDOUT;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	int rc;
	while ((rc = sem_timedwait(&r->sem, &ts)) != 0 && errno == EINTR)
		;
	int result = rc != 0 ? -ETIMEDOUT : atomic_load(&r->ok) ? 0 : -EIO;
	if (atomic_fetch_sub(&r->refs, 1) == 1) {
		sem_destroy(&r->sem);
		free(r);
	}
	return result;
}

/* ---- loop side ---------------------------------------------------------------------- */

bool ccp_worker_take(struct ccp_worker *w, struct ccp_worker_pub *out)
{
	return ccp_ring_pop(&w->out, out);
}

void ccp_worker_give_back(struct ccp_worker *w, int32_t partition, struct ccp_cmdbuf *cb)
{
	struct back_slot b = {.cb = cb, .partition = partition};
	if (!ccp_ring_push(&w->back, &b)) {
		cmdbuf_free(cb); /* cannot happen (BACK_SLOTS); the worker makes another */
		return;
	}
	wake_worker(w);
}

void ccp_worker_revoke_done(struct ccp_worker_revoke *r, bool ok)
{
	atomic_store(&r->ok, ok ? 1 : 0);
	sem_post(&r->sem);
	if (atomic_fetch_sub(&r->refs, 1) == 1) {
		sem_destroy(&r->sem);
		free(r);
	}
}

void ccp_worker_stats(const struct ccp_worker *w, struct ccp_worker_stats *out)
{
	out->messages = atomic_load_explicit(&w->n_messages, memory_order_relaxed);
	out->applied = atomic_load_explicit(&w->n_applied, memory_order_relaxed);
	out->duplicates = atomic_load_explicit(&w->n_duplicates, memory_order_relaxed);
	out->late = atomic_load_explicit(&w->n_late, memory_order_relaxed);
	out->rejected = atomic_load_explicit(&w->n_rejected, memory_order_relaxed);
	out->publications = atomic_load_explicit(&w->n_publications, memory_order_relaxed);
	out->in_full = atomic_load_explicit(&w->n_in_full, memory_order_relaxed);
	out->partitions = atomic_load_explicit(&w->n_assigned, memory_order_relaxed);
	out->in_depth = ccp_ring_count(&w->in);
	out->in_capacity = ccp_ring_capacity(&w->in);
	for (int r = 0; r < CCP_REJECT__COUNT; r++)
		out->rejects[r] = atomic_load_explicit(&w->n_rejects[r], memory_order_relaxed);
	out->alerts_firing = atomic_load_explicit(&w->n_alerts_firing, memory_order_relaxed);
}
