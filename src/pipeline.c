/* The live pipeline's loop side (see include/ccpulse/pipeline.h). */
#include "ccpulse/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/config.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/log.h"
#include "ccpulse/ops.h"
#include "ccpulse/partial.h"
#include "ccpulse/publish.h"
#include "ccpulse/recovery.h"
#include "ccpulse/ring.h"
#include "ccpulse/sink_redis.h"
#include "ccpulse/source_kafka.h"
#include "ccpulse/webhook.h"
#include "ccpulse/worker.h"

#include <librdkafka/rdkafka.h>

#define MAX_WORKERS 256
#define AGENT_SLOTS 65536u
#define PENDING_MIN 1024u
#define REVOKE_BUDGET_MS 5000
#define FLUSH_TIMEOUT_MS 5000
#define WEBHOOK_FLUSH_MS 2000

enum pending_kind { PEND_PUB, PEND_TOTALS, PEND_AGENTS, PEND_READ };

/* A batch submitted to the sink and not yet answered. Loop thread. */
struct pending {
	enum pending_kind kind;
	int32_t partition;
	int64_t next_offset;
	struct ccp_worker_revoke *final;
	uint64_t submitted_ns; /* uv_hrtime() at submission, for the ack latency */
	struct ccp_webhook_alert *alerts; /* posted once Redis has them; freed here */
	uint32_t n_alerts;
};

/* An agent-topic message copied for the loop. Written by the agent reader
 * thread, read by the loop (ring slot, 16 bytes). */
struct agent_slot {
	char *data; /* malloc'd copy; the loop frees it */
	size_t len;
};

enum phase { PH_NEW, PH_RUNNING, PH_STOPPING, PH_FLUSHING, PH_DONE };

/* The pipeline. Created by main; during run every field belongs to the
 * loop thread except where noted. */
struct ccp_pipeline {
	struct ccp_pipeline_opts o;
	struct ccp_ops *ops;    /* HTTP: health, readiness, metrics; loop only */
	atomic_int http_port;   /* its bound port, for any thread; 0: none */
	pthread_t thread;   /* ccp_pipeline_start(): main starts and joins it */
	bool thread_started;
	int thread_rc;      /* written by that thread, read by main after the join */
	char thread_err[512];
	const struct ccp_config *cfg;
	uv_loop_t loop;
	uv_async_t wake;    /* workers, the agent reader, stop requests */
	uv_timer_t tick;    /* publish interval: agents, totals */
	uv_signal_t sigint, sigterm;
	uv_work_t stop_work;
	bool handles_init;

	struct ccp_sink_redis *sink;
	struct ccp_webhook *webhook; /* alert transitions out by HTTP; NULL: none configured */
	struct ccp_source_kafka *src;
	struct ccp_recovery_reader *recovery; /* source thread only (rebalance callbacks) */
	struct ccp_source_kafka_global *agents_src;
	struct ccp_source_kafka_setting *kafka;
	struct ccp_worker *workers[MAX_WORKERS];
	uint32_t n_workers;

	/* Submitted batches in order; acks come back in the same order. */
	struct pending *pend;
	uint64_t pend_head, pend_tail; /* free-running; token = index */
	uint32_t pend_cap;
	struct ccp_worker_pub held[MAX_WORKERS]; /* refused with -ENOBUFS, retried */
	bool has_held[MAX_WORKERS];

	/* Agent table (loop thread). */
	struct ccp_ring agent_ring; /* agent reader -> loop */
	void *agent_mem;
	struct ccp_engine *agents;
	struct ccp_decoder dec;
	struct ccp_event ev;
	bool agents_dirty;
	struct ccp_cmdbuf cb; /* loop's own renders */

	/* Totals. */
	bool totals_reading;
	struct ccp_partial merged, one;

	enum phase phase;
	atomic_bool stop_requested; /* any thread */
	int signals_seen;
	int final_ticks;
	char err[512];

	/* Counters read by other threads. */
	_Atomic uint64_t n_pubs, n_acked, n_failed, n_offsets, n_totals, n_agent_events;
	atomic_bool redis_ready, running;
	_Atomic uint64_t redis_connects, redis_disconnects, redis_errors, redis_command_timeouts;
	_Atomic uint64_t webhook_delivered, webhook_failed_attempts, webhook_dropped, webhook_queued;
};

/* ---- pending batches ------------------------------------------------------------ */

static bool pend_push(struct ccp_pipeline *p, struct pending e, uint64_t *token)
{
	if (p->pend_tail - p->pend_head == p->pend_cap) {
		uint32_t cap = p->pend_cap * 2;
		struct pending *n = malloc(cap * sizeof(*n));
		if (!n)
			return false;
		for (uint64_t i = p->pend_head; i < p->pend_tail; i++)
			n[i % cap] = p->pend[i % p->pend_cap];
		free(p->pend);
		p->pend = n;
		p->pend_cap = cap;
	}
	*token = p->pend_tail;
	p->pend[p->pend_tail % p->pend_cap] = e;
	p->pend_tail++;
	return true;
}

/* The front entry, which the sink's in-order callbacks answer. */
static struct pending pend_pop(struct ccp_pipeline *p, uint64_t token)
{
	struct pending e = {.kind = PEND_READ, .next_offset = -1};
	if (p->pend_head == p->pend_tail || token != p->pend_head) {
		ccp_logf(p->o.log, CCP_LOG_ERROR, "pipeline: answer for batch %llu out of order (expected %llu)",
			 (unsigned long long)token, (unsigned long long)p->pend_head);
		return e;
	}
	e = p->pend[p->pend_head % p->pend_cap];
	p->pend_head++;
	return e;
}

static void on_ack(void *ud, uint64_t token)
{
	struct ccp_pipeline *p = ud;
	struct pending e = pend_pop(p, token);
	if (e.kind != PEND_PUB)
		return;
	atomic_fetch_add_explicit(&p->n_acked, 1, memory_order_relaxed);
	if (p->ops)
		ccp_ops_observe_ack(p->ops, (double)(uv_hrtime() - e.submitted_ns) / 1e9);
	if (e.next_offset >= 0 && p->src &&
	    ccp_source_kafka_store_offset(p->src, e.partition, e.next_offset) == 0)
		atomic_fetch_add_explicit(&p->n_offsets, 1, memory_order_relaxed);
	if (e.final)
		ccp_worker_revoke_done(e.final, true);
	/* Alerts leave by webhook only once Redis holds them (and the state
	 * that says they were sent), so a crash cannot post one twice or
	 * post one the stream never got. */
	for (uint32_t i = 0; i < e.n_alerts && p->webhook; i++) {
		int r = ccp_webhook_post(p->webhook, &e.alerts[i]);
		if (r)
			ccp_logf(p->o.log, CCP_LOG_ERROR, "alert %s on %s not posted to the webhook: %s", e.alerts[i].rule,
				 e.alerts[i].queue, strerror(-r));
	}
	free(e.alerts);
}

static void on_error(void *ud, uint64_t token, int code, const char *msg)
{
	struct ccp_pipeline *p = ud;
	struct pending e = pend_pop(p, token);
	if (e.kind == PEND_PUB)
		atomic_fetch_add_explicit(&p->n_failed, 1, memory_order_relaxed);
	/* The offset is not stored: the partition's next render writes its
	 * whole state again and stores a later offset. */
	if (code != -ECANCELED)
		ccp_logf(p->o.log, CCP_LOG_ERROR, "redis refused a batch of partition %d: %s", e.partition, msg);
	if (e.final)
		ccp_worker_revoke_done(e.final, false);
	if (e.n_alerts && code != -ECANCELED)
		ccp_logf(p->o.log, CCP_LOG_ERROR, "partition %d: %u alert transition(s) of the refused batch not posted",
			 e.partition, e.n_alerts);
	free(e.alerts);
}

static void on_state(void *ud, enum ccp_sink_redis_state st, const char *why)
{
	struct ccp_pipeline *p = ud;
	(void)why;
	atomic_store_explicit(&p->redis_ready, st == CCP_SINK_REDIS_CONNECTED, memory_order_relaxed);
}

/* ---- worker publications ---------------------------------------------------------- */

/* Submits one render; false if the sink's backlog is full (keep it). */
static bool submit_pub(struct ccp_pipeline *p, uint32_t wi, const struct ccp_worker_pub *pub)
{
	struct pending e = {PEND_PUB, pub->partition, pub->next_offset, pub->final, uv_hrtime(), pub->alerts,
			    pub->n_alerts};
	uint64_t token;
	if (!pend_push(p, e, &token)) {
		ccp_logf(p->o.log, CCP_LOG_ERROR, "pipeline: out of memory");
		exit(70);
	}
	int r = ccp_sink_redis_submit_cmdbuf(p->sink, pub->cb, token);
	if (r == -ENOBUFS) {
		p->pend_tail--; /* not submitted: take the entry back */
		return false;
	}
	if (r != 0) {
		p->pend_tail--;
		free(pub->alerts);
		atomic_fetch_add_explicit(&p->n_failed, 1, memory_order_relaxed);
		ccp_logf(p->o.log, CCP_LOG_ERROR, "partition %d: render not written: %s", pub->partition, strerror(-r));
		if (pub->final)
			ccp_worker_revoke_done(pub->final, false);
	} else {
		atomic_fetch_add_explicit(&p->n_pubs, 1, memory_order_relaxed);
	}
	ccp_worker_give_back(p->workers[wi], pub->partition, pub->cb);
	return true;
}

static void drain_workers(struct ccp_pipeline *p)
{
	for (uint32_t i = 0; i < p->n_workers; i++) {
		if (p->has_held[i]) {
			if (!submit_pub(p, i, &p->held[i]))
				continue;
			p->has_held[i] = false;
		}
		struct ccp_worker_pub pub;
		while (ccp_worker_take(p->workers[i], &pub)) {
			if (!submit_pub(p, i, &pub)) {
				p->held[i] = pub;
				p->has_held[i] = true;
				break;
			}
		}
	}
}

/* ---- agents ------------------------------------------------------------------------- */

static void drain_agents(struct ccp_pipeline *p)
{
	struct agent_slot s;
	while (ccp_ring_pop(&p->agent_ring, &s)) {
		struct ccp_decode_error de;
		enum ccp_reject r = ccp_decode(&p->dec, s.data ? s.data : "", s.len, &p->ev, &de);
		if (r == CCP_REJECT_NONE && p->ev.type == CCP_EV_AGENT_STATE) {
			ccp_engine_apply(p->agents, &p->ev);
			p->agents_dirty = true;
		} else if (r != CCP_REJECT_NONE) {
			ccp_logf(p->o.log, CCP_LOG_WARN, "agent topic: rejected event: %s (%s)", ccp_reject_names[r],
				 de.detail ? de.detail : "");
		}
		free(s.data);
		atomic_fetch_add_explicit(&p->n_agent_events, 1, memory_order_relaxed);
	}
}

static void publish_agents(struct ccp_pipeline *p)
{
	if (!p->agents_dirty)
		return;
	ccp_cmdbuf_reset(&p->cb);
	uint32_t nq = ccp_engine_queue_count(p->agents);
	for (uint32_t q = 0; q < nq; q++)
		ccp_publish_agents(&p->cb, p->agents, q, p->cfg->prefix);
	if (ccp_cmdbuf_count(&p->cb) == 0) {
		p->agents_dirty = false;
		return;
	}
	uint64_t token;
	struct pending e = {.kind = PEND_AGENTS, .next_offset = -1};
	if (!pend_push(p, e, &token))
		return;
	if (ccp_sink_redis_submit_cmdbuf(p->sink, &p->cb, token) != 0) {
		p->pend_tail--;
		return; /* stays dirty: next tick */
	}
	p->agents_dirty = false;
}

/* Agent reader thread: copies each message for the loop. The table is
 * small and must be read whole, so a full ring waits for the loop. */
static void agents_deliver(void *ud, int32_t partition, const rd_kafka_message_t **msgs, size_t n)
{
	struct ccp_pipeline *p = ud;
	(void)partition;
	for (size_t i = 0; i < n; i++) {
		struct ccp_kafka_msg_view v;
		ccp_source_kafka_msg_view(msgs[i], &v);
		struct agent_slot s = {.data = malloc(v.len ? v.len : 1), .len = v.len};
		if (!s.data)
			continue; /* dropping one agent state beats dying; it is logged */
		if (v.len)
			memcpy(s.data, v.payload, v.len);
		while (!ccp_ring_push(&p->agent_ring, &s)) {
			uv_async_send(&p->wake);
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	uv_async_send(&p->wake);
}

/* ---- totals -------------------------------------------------------------------------- */

static void totals_read_cb(void *ud, uint64_t token, int code, size_t n, const char *const *vals,
			   const size_t *lens)
{
	struct ccp_pipeline *p = ud;
	pend_pop(p, token);
	p->totals_reading = false;
	if (code != 0 || p->phase == PH_DONE)
		return;
	bool have = false;
	for (size_t i = 1; i < n; i += 2) {
		char err[256];
		if (!vals[i] || ccp_partial_decode(&p->one, vals[i], lens[i], err, sizeof(err))) {
			ccp_logf(p->o.log, CCP_LOG_WARN, "totals: partial of partition %.*s skipped: %s",
				 vals[i - 1] ? (int)lens[i - 1] : 1, vals[i - 1] ? vals[i - 1] : "?",
				 vals[i] ? err : "missing");
			continue;
		}
		if (!have) {
			p->merged = p->one;
			have = true;
		} else if (ccp_partial_merge(&p->merged, &p->one, err, sizeof(err))) {
			ccp_logf(p->o.log, CCP_LOG_WARN, "totals: partial of partition %.*s not merged: %s",
				 (int)lens[i - 1], vals[i - 1], err);
		}
	}
	if (!have)
		return;
	uint64_t agents[CCP_AGENT__COUNT];
	ccp_engine_agents_total(p->agents, agents);
	ccp_cmdbuf_reset(&p->cb);
	ccp_partial_render_total(&p->cb, &p->merged, p->cfg->prefix, p->cfg->engine.sl_variant, ccp_log_wall_ms(),
				 agents);
	ccp_partial_render_stats(&p->cb, &p->merged, p->cfg->prefix);
	uint64_t t;
	struct pending e = {.kind = PEND_TOTALS, .next_offset = -1};
	if (!pend_push(p, e, &t))
		return;
	if (ccp_sink_redis_submit_cmdbuf(p->sink, &p->cb, t) != 0)
		p->pend_tail--;
	else
		atomic_fetch_add_explicit(&p->n_totals, 1, memory_order_relaxed);
}

static void read_totals(struct ccp_pipeline *p)
{
	if (p->totals_reading)
		return;
	char key[256];
	int kl = snprintf(key, sizeof(key), "%s:state:partials", p->cfg->prefix);
	const char *argv[2] = {"HGETALL", key};
	size_t lens[2] = {7, (size_t)kl};
	struct ccp_sink_redis_cmd c = {.argc = 2, .argv = argv, .argvlen = lens, .script = -1};
	uint64_t token;
	struct pending e = {.kind = PEND_READ, .next_offset = -1};
	if (!pend_push(p, e, &token))
		return;
	if (ccp_sink_redis_read(p->sink, &c, 1, token, totals_read_cb, p) != 0) {
		p->pend_tail--;
		return;
	}
	p->totals_reading = true;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void begin_shutdown(struct ccp_pipeline *p);

static void wake_cb(uv_async_t *h)
{
	struct ccp_pipeline *p = h->data;
	/* uv_async_send coalesces: drain everything on every wake-up. */
	drain_workers(p);
	drain_agents(p);
	if (atomic_load(&p->stop_requested) && p->phase == PH_RUNNING)
		begin_shutdown(p);
}

static void tick_cb(uv_timer_t *t)
{
	struct ccp_pipeline *p = t->data;
	/* The sink's counters are the loop's: copied for any thread's stats. */
	struct ccp_sink_redis_stats ss;
	ccp_sink_redis_stats(p->sink, &ss);
	atomic_store_explicit(&p->redis_connects, ss.connects, memory_order_relaxed);
	atomic_store_explicit(&p->redis_disconnects, ss.disconnects, memory_order_relaxed);
	atomic_store_explicit(&p->redis_errors, ss.errors, memory_order_relaxed);
	atomic_store_explicit(&p->redis_command_timeouts, ss.command_timeouts, memory_order_relaxed);
	struct ccp_webhook_stats ws;
	if (p->webhook && !ccp_webhook_stats(p->webhook, -1, &ws)) {
		atomic_store_explicit(&p->webhook_delivered, ws.delivered, memory_order_relaxed);
		atomic_store_explicit(&p->webhook_failed_attempts, ws.failed_attempts, memory_order_relaxed);
		atomic_store_explicit(&p->webhook_dropped, ws.dropped_full + ws.dropped_age + ws.dropped_close,
				      memory_order_relaxed);
		atomic_store_explicit(&p->webhook_queued, ws.queued, memory_order_relaxed);
	}
	drain_workers(p);
	drain_agents(p);
	publish_agents(p);
	read_totals(p);
}

static void webhook_closed_cb(void *ud)
{
	struct ccp_pipeline *p = ud;
	p->webhook = NULL;
}

static void sink_closed_cb(void *ud)
{
	struct ccp_pipeline *p = ud;
	p->sink = NULL;
	p->phase = PH_DONE;
	if (p->webhook) /* the last acks posted theirs: a short while to deliver them */
		ccp_webhook_close(p->webhook, WEBHOOK_FLUSH_MS, webhook_closed_cb, p);
	if (p->ops) {
		ccp_ops_close(p->ops, NULL, NULL);
		p->ops = NULL;
	}
	uv_close((uv_handle_t *)&p->wake, NULL);
	uv_close((uv_handle_t *)&p->tick, NULL);
	if (p->o.handle_signals) {
		uv_close((uv_handle_t *)&p->sigint, NULL);
		uv_close((uv_handle_t *)&p->sigterm, NULL);
	}
}

/* The last totals read answered (or failed): flush and close the sink. */
static void final_close(struct ccp_pipeline *p)
{
	if (p->phase != PH_FLUSHING)
		return;
	ccp_sink_redis_close(p->sink, CCP_SINK_REDIS_FLUSH, FLUSH_TIMEOUT_MS, sink_closed_cb, p);
}

static void stop_work_cb(uv_work_t *req)
{
	struct ccp_pipeline *p = req->data;
	/* Blocking: the source's revoke path waits for renders this loop
	 * acknowledges, which is why it runs in the thread pool. */
	ccp_source_kafka_stop(p->src);
	ccp_source_kafka_global_free(p->agents_src);
	p->agents_src = NULL;
	for (uint32_t i = 0; i < p->n_workers; i++)
		ccp_worker_stop(p->workers[i]);
}

static void final_tick(uv_timer_t *t)
{
	struct ccp_pipeline *p = t->data;
	/* The read's answer comes first, unless Redis is gone: then the
	 * sink's flush deadline ends it. */
	if (p->totals_reading && ++p->final_ticks < FLUSH_TIMEOUT_MS / 10)
		return;
	uv_timer_stop(t);
	final_close(p);
}

static void stop_after_cb(uv_work_t *req, int status)
{
	struct ccp_pipeline *p = req->data;
	(void)status;
	drain_workers(p);
	drain_agents(p);
	p->agents_dirty = true;
	publish_agents(p);
	p->phase = PH_FLUSHING;
	/* One more totals pass over the partials just written, then close. */
	if (!p->totals_reading)
		read_totals(p);
	uv_timer_stop(&p->tick);
	uv_timer_start(&p->tick, final_tick, 10, 10);
}

static void begin_shutdown(struct ccp_pipeline *p)
{
	p->phase = PH_STOPPING;
	ccp_logf(p->o.log, CCP_LOG_INFO, "stopping: last renders, commit, flush");
	p->stop_work.data = p;
	uv_queue_work(&p->loop, &p->stop_work, stop_work_cb, stop_after_cb);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct ccp_pipeline *p = h->data;
	if (++p->signals_seen > 1)
		_exit(128 + signum); /* the operator insists */
	ccp_pipeline_stop(p);
}

/* ---- source callbacks (source thread) ------------------------------------------------ */

static struct ccp_worker *route(struct ccp_pipeline *p, int32_t partition)
{
	return p->workers[(uint32_t)partition % p->n_workers];
}

static size_t src_deliver(void *ud, int32_t partition, const rd_kafka_message_t **msgs, size_t n)
{
	return ccp_worker_offer(route(ud, partition), partition, msgs, n);
}

_Static_assert(CCP_WORKER_OFFSET_COMMITTED == CCP_SOURCE_KAFKA_OFFSET_COMMITTED, "one 'committed' offset");
_Static_assert(CCP_WORKER_OFFSET_BEGINNING == RD_KAFKA_OFFSET_BEGINNING, "librdkafka's 'beginning'");

/* A partition taken: its recovery record from Redis (blocking, on the
 * source thread), then the worker restores it and says where to read. */
static int64_t src_assigned(void *ud, int32_t partition)
{
	struct ccp_pipeline *p = ud;
	struct ccp_recovery *rec = NULL;
	int r = ccp_recovery_read(p->recovery, partition, &p->stop_requested, &rec);
	if (r) {
		/* Stopping (or out of memory): nothing is consumed from here on
		 * that would be written without its state. */
		ccp_logf(p->o.log, r == -ECANCELED ? CCP_LOG_INFO : CCP_LOG_ERROR,
			 "partition %d: recovery record not read (%s)", partition, r == -ECANCELED ? "stopping" : "out of memory");
		if (r != -ECANCELED)
			exit(70);
	}
	int64_t off = ccp_worker_assign(route(p, partition), partition, rec);
	if (off == -ETIMEDOUT || off == -ENOMEM) {
		ccp_logf(p->o.log, CCP_LOG_ERROR, "partition %d: worker did not take the assignment", partition);
		exit(70); /* reading without the partition's state would bend the figures */
	}
	return off;
}

static void src_revoked(void *ud, int32_t partition)
{
	struct ccp_pipeline *p = ud;
	int r = ccp_worker_revoke(route(p, partition), partition, REVOKE_BUDGET_MS);
	if (r)
		ccp_logf(p->o.log, CCP_LOG_WARN,
			 "partition %d: last render not acknowledged (%s); the next owner re-reads from the last stored offset",
			 partition, r == -ETIMEDOUT ? "timed out" : "failed");
}

static void notify_loop(void *ud)
{
	struct ccp_pipeline *p = ud;
	uv_async_send(&p->wake);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

struct ccp_pipeline *ccp_pipeline_new(const struct ccp_pipeline_opts *o, char *err, size_t errlen)
{
	struct ccp_pipeline *p = aligned_alloc(64, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "pipeline: out of memory");
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->o = *o;
	p->cfg = o->cfg;
	const struct ccp_config *cfg = o->cfg;
	uint32_t nw = o->workers ? o->workers : (uint32_t)cfg->workers;
	if (nw == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		nw = cores > 0 ? (uint32_t)cores : 1;
	}
	if (nw > MAX_WORKERS)
		nw = MAX_WORKERS;
	p->pend_cap = PENDING_MIN;
	p->pend = malloc(p->pend_cap * sizeof(*p->pend));
	p->kafka = calloc(cfg->n_kafka + 1, sizeof(*p->kafka));
	size_t agent_bytes = CCP_RING_STORAGE_BYTES(sizeof(struct agent_slot), AGENT_SLOTS);
	p->agent_mem = aligned_alloc(64, agent_bytes);
	char eerr[256];
	p->agents = ccp_engine_new(&cfg->engine, eerr, sizeof(eerr));
	if (!p->pend || !p->kafka || !p->agent_mem || !p->agents ||
	    ccp_ring_init(&p->agent_ring, p->agent_mem, agent_bytes, sizeof(struct agent_slot), AGENT_SLOTS)) {
		snprintf(err, errlen, "pipeline: %s", p->agents ? "out of memory" : eerr);
		goto fail;
	}
	ccp_decoder_init(&p->dec);
	ccp_cmdbuf_init(&p->cb);
	for (uint32_t i = 0; i < cfg->n_kafka; i++)
		p->kafka[i] = (struct ccp_source_kafka_setting){cfg->kafka[i].key, cfg->kafka[i].value};
	if (uv_loop_init(&p->loop)) {
		snprintf(err, errlen, "pipeline: uv_loop_init failed");
		goto fail;
	}
	p->handles_init = true;
	uv_async_init(&p->loop, &p->wake, wake_cb);
	p->wake.data = p;
	uv_timer_init(&p->loop, &p->tick);
	p->tick.data = p;
	if (o->handle_signals) {
		uv_signal_init(&p->loop, &p->sigint);
		uv_signal_init(&p->loop, &p->sigterm);
		p->sigint.data = p->sigterm.data = p;
	}
	struct ccp_sink_redis_opts so;
	ccp_sink_redis_opts_defaults(&so);
	so.url = cfg->redis;
	so.ack_cb = on_ack;
	so.error_cb = on_error;
	so.state_cb = on_state;
	so.ud = p;
	so.log = o->log;
	p->sink = ccp_sink_redis_new(&p->loop, &so, err, errlen);
	if (!p->sink)
		goto fail;
	if (cfg->webhook_url[0]) {
		const char *hdr[1] = {cfg->webhook_header};
		struct ccp_webhook_endpoint ep = {.url = cfg->webhook_url, .headers = hdr,
						  .n_headers = cfg->webhook_header[0] ? 1 : 0};
		if (ccp_webhook_format_parse(cfg->webhook_format, &ep.format)) {
			snprintf(err, errlen, "alerts.webhook.format=%s: generic or alertmanager", cfg->webhook_format);
			goto fail;
		}
		struct ccp_webhook_opts wo;
		ccp_webhook_opts_defaults(&wo);
		wo.endpoints = &ep;
		wo.n_endpoints = 1;
		wo.timeout_ms = (int)cfg->webhook_timeout_ms;
		wo.log = o->log;
		p->webhook = ccp_webhook_new(&p->loop, &wo, err, errlen);
		if (!p->webhook)
			goto fail;
	}
	p->recovery = ccp_recovery_reader_new(&cfg->redis, cfg->prefix, o->log);
	if (!p->recovery) {
		snprintf(err, errlen, "pipeline: out of memory");
		goto fail;
	}
	struct ccp_source_kafka_opts ko = {.brokers = cfg->brokers,
					   .topic = cfg->topic,
					   .group = cfg->group,
					   .client_id = o->client_id,
					   .kafka = p->kafka,
					   .n_kafka = cfg->n_kafka,
					   .dead_letter_topic = cfg->dead_letter_topic,
					   .deliver = src_deliver,
					   .assigned = src_assigned,
					   .revoked = src_revoked,
					   .revoke_budget_ms = REVOKE_BUDGET_MS + 1000,
					   .ud = p,
					   .log = o->log};
	p->src = ccp_source_kafka_new(&ko, err, errlen);
	if (!p->src)
		goto fail;
	p->n_workers = nw;
	for (uint32_t i = 0; i < nw; i++) {
		struct ccp_worker_opts wo = {.cfg = cfg,
					     .log = o->log,
					     .src = p->src,
					     .publish_interval_ms = cfg->publish_interval_ms,
					     .idle_advance_ms = cfg->idle_advance_ms,
					     .notify = notify_loop,
					     .notify_ud = p};
		p->workers[i] = ccp_worker_new(&wo, i, err, errlen);
		if (!p->workers[i])
			goto fail;
	}
	struct ccp_source_kafka_global_opts go = {.brokers = cfg->brokers,
						  .topic = cfg->agent_topic,
						  .kafka = p->kafka,
						  .n_kafka = cfg->n_kafka,
						  .deliver = agents_deliver,
						  .ud = p,
						  .log = o->log};
	p->agents_src = ccp_source_kafka_global_new(&go, err, errlen);
	if (!p->agents_src)
		goto fail;
	p->phase = PH_NEW;
	return p;
fail:
	ccp_pipeline_free(p);
	return NULL;
}

static void ops_stats(void *ud, struct ccp_pipeline_stats *out)
{
	ccp_pipeline_stats(ud, out);
}

static int64_t ops_lag(void *ud, int32_t partition)
{
	const struct ccp_pipeline *p = ud;
	return p->src ? ccp_source_kafka_lag(p->src, partition) : -1;
}

int ccp_pipeline_http_port(const struct ccp_pipeline *p)
{
	return atomic_load(&p->http_port);
}

int ccp_pipeline_run(struct ccp_pipeline *p, char *err, size_t errlen)
{
	if (p->phase != PH_NEW) {
		snprintf(err, errlen, "pipeline: run called twice");
		return -1;
	}
	atomic_store(&p->running, true);
	if (p->o.handle_signals) {
		uv_signal_start(&p->sigint, signal_cb, SIGINT);
		uv_signal_start(&p->sigterm, signal_cb, SIGTERM);
	}
	ccp_sink_redis_start(p->sink);
	if (p->cfg->http_addr[0]) {
		struct ccp_ops_opts oo = {.addr = p->cfg->http_addr, .log = p->o.log, .read_stats = ops_stats,
					  .read_lag = ops_lag, .ud = p, .cfg = p->cfg};
		p->ops = ccp_ops_new(&p->loop, &oo, err, errlen);
		if (!p->ops)
			goto early_fail;
		atomic_store(&p->http_port, ccp_ops_port(p->ops));
		ccp_logf(p->o.log, CCP_LOG_INFO, "http: listening on port %d (/ wallboard, /api/queues, /api/stream, /healthz, /readyz, /metrics)",
			 ccp_ops_port(p->ops));
	}
	for (uint32_t i = 0; i < p->n_workers; i++) {
		int r = ccp_worker_start(p->workers[i]);
		if (r) {
			snprintf(err, errlen, "worker %u: %s", i, strerror(-r));
			goto early_fail;
		}
	}
	if (ccp_source_kafka_global_start(p->agents_src, err, errlen) ||
	    ccp_source_kafka_start(p->src, err, errlen))
		goto early_fail;
	p->phase = PH_RUNNING;
	uv_timer_start(&p->tick, tick_cb, (uint64_t)p->cfg->publish_interval_ms,
		       (uint64_t)p->cfg->publish_interval_ms);
	ccp_logf(p->o.log, CCP_LOG_INFO, "running: %u workers, topic %s, group %s", p->n_workers, p->cfg->topic,
		 p->cfg->group);
	if (atomic_load(&p->stop_requested))
		begin_shutdown(p);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	atomic_store(&p->running, false);
	return 0;
early_fail:
	/* Nothing consumed yet: stop what started and close without a flush. */
	p->phase = PH_FLUSHING;
	stop_work_cb(&p->stop_work);
	p->stop_work.data = p;
	ccp_sink_redis_close(p->sink, CCP_SINK_REDIS_DROP, 0, sink_closed_cb, p);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	atomic_store(&p->running, false);
	return -1;
}

void ccp_pipeline_stop(struct ccp_pipeline *p)
{
	atomic_store(&p->stop_requested, true);
	uv_async_send(&p->wake);
}

static void *pipeline_thread(void *arg)
{
	struct ccp_pipeline *p = arg;
	p->thread_rc = ccp_pipeline_run(p, p->thread_err, sizeof(p->thread_err));
	return NULL;
}

int ccp_pipeline_start(struct ccp_pipeline *p)
{
	int r = pthread_create(&p->thread, NULL, pipeline_thread, p);
	p->thread_started = r == 0;
	return -r;
}

int ccp_pipeline_join(struct ccp_pipeline *p, char *err, size_t errlen)
{
	if (!p->thread_started) {
		snprintf(err, errlen, "pipeline: no thread to join");
		return -1;
	}
	pthread_join(p->thread, NULL);
	p->thread_started = false;
	snprintf(err, errlen, "%s", p->thread_err);
	return p->thread_rc;
}

void ccp_pipeline_stats(const struct ccp_pipeline *p, struct ccp_pipeline_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < p->n_workers; i++) {
		struct ccp_worker_stats ws;
		ccp_worker_stats(p->workers[i], &ws);
		out->messages += ws.messages;
		out->applied += ws.applied;
		out->duplicates += ws.duplicates;
		out->late += ws.late;
		out->rejected += ws.rejected;
		out->backpressure += ws.in_full;
		out->partitions += ws.partitions;
		for (int r = 0; r < CCP_REJECT__COUNT; r++)
			out->rejects[r] += ws.rejects[r];
		out->ring_depth += ws.in_depth;
		out->ring_capacity += ws.in_capacity;
		out->alerts_firing += ws.alerts_firing;
	}
	out->publications = atomic_load_explicit(&p->n_pubs, memory_order_relaxed);
	out->acked = atomic_load_explicit(&p->n_acked, memory_order_relaxed);
	out->failed = atomic_load_explicit(&p->n_failed, memory_order_relaxed);
	out->offsets_stored = atomic_load_explicit(&p->n_offsets, memory_order_relaxed);
	out->totals_written = atomic_load_explicit(&p->n_totals, memory_order_relaxed);
	out->agent_events = atomic_load_explicit(&p->n_agent_events, memory_order_relaxed);
	out->redis_ready = atomic_load_explicit(&p->redis_ready, memory_order_relaxed);
	out->redis_connects = atomic_load_explicit(&p->redis_connects, memory_order_relaxed);
	out->redis_disconnects = atomic_load_explicit(&p->redis_disconnects, memory_order_relaxed);
	out->redis_errors = atomic_load_explicit(&p->redis_errors, memory_order_relaxed);
	out->redis_command_timeouts = atomic_load_explicit(&p->redis_command_timeouts, memory_order_relaxed);
	out->webhook_delivered = atomic_load_explicit(&p->webhook_delivered, memory_order_relaxed);
	out->webhook_failed_attempts = atomic_load_explicit(&p->webhook_failed_attempts, memory_order_relaxed);
	out->webhook_dropped = atomic_load_explicit(&p->webhook_dropped, memory_order_relaxed);
	out->webhook_queued = atomic_load_explicit(&p->webhook_queued, memory_order_relaxed);
	out->running = atomic_load_explicit(&p->running, memory_order_relaxed);
}

void ccp_pipeline_free(struct ccp_pipeline *p)
{
	if (!p)
		return;
	/* Order: the source first (it may still hold messages the workers
	 * must release), then workers, then the loop's parts. */
	if (p->src)
		ccp_source_kafka_stop(p->src);
	ccp_source_kafka_global_free(p->agents_src);
	for (uint32_t i = 0; i < p->n_workers; i++)
		ccp_worker_free(p->workers[i]);
	ccp_source_kafka_free(p->src);
	ccp_recovery_reader_free(p->recovery);
	/* Never ran, or run failed before the closes completed. */
	if (p->webhook)
		ccp_webhook_close(p->webhook, 0, webhook_closed_cb, p);
	if (p->sink)
		ccp_sink_redis_close(p->sink, CCP_SINK_REDIS_DROP, 0, NULL, NULL);
	if (p->webhook || p->sink)
		uv_run(&p->loop, UV_RUN_DEFAULT);
	if (p->handles_init) {
		if (!uv_is_closing((uv_handle_t *)&p->wake))
			uv_close((uv_handle_t *)&p->wake, NULL);
		if (!uv_is_closing((uv_handle_t *)&p->tick))
			uv_close((uv_handle_t *)&p->tick, NULL);
		if (p->o.handle_signals) {
			if (!uv_is_closing((uv_handle_t *)&p->sigint))
				uv_close((uv_handle_t *)&p->sigint, NULL);
			if (!uv_is_closing((uv_handle_t *)&p->sigterm))
				uv_close((uv_handle_t *)&p->sigterm, NULL);
		}
		uv_run(&p->loop, UV_RUN_DEFAULT);
		uv_loop_close(&p->loop);
	}
	struct agent_slot s;
	if (p->agent_mem)
		while (ccp_ring_pop(&p->agent_ring, &s))
			free(s.data);
	ccp_engine_free(p->agents);
	ccp_cmdbuf_deinit(&p->cb);
	free(p->agent_mem);
	free(p->pend);
	free(p->kafka);
	free(p);
}
