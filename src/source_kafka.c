/* The Kafka source: consumer group on the contact topic, a whole-topic
 * reader for the agent topic, a dead-letter producer. The design (threads,
 * ownership, backpressure, offsets, rebalance, stop) is written once, in
 * include/ccpulse/source_kafka.h. */
#include "ccpulse/source_kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "ccpulse/log.h"

#define LAG_REFRESH_MS 1000
/* Kept messages (all partitions) past which nothing new is consumed: a
 * bound on what backpressure holds, above one fetch response of a few
 * partitions. */
#define KEPT_MAX 65536

/* Source-thread state of one partition. Owner: the source; only the source
 * thread touches it, except `lag_msgs` (atomic, read by any thread). Lives
 * as long as the source (reset on every assign). */
struct part {
	_Atomic int64_t lag_msgs; /* -1: unknown or not assigned */
	_Atomic int64_t stored_next; /* last offset stored by the caller, -1 none */
	int64_t uncommitted; /* stored but refused at the last revoke's commit; -1 none */
	bool assigned;
	bool paused;
	int64_t next_offset;         /* expected next offset; -1 unknown */
	rd_kafka_message_t **kept;   /* not yet accepted, in order: kept[head..n_kept) */
	size_t head, n_kept, cap_kept;
};

/* The source. Owner: whoever called new(); the source thread runs between
 * start() and stop(). Atomics are read by any thread; the rest belongs to
 * the source thread while it runs and to the owner otherwise. */
struct ccp_source_kafka {
	const struct ccp_log *log; /* first: rdk_log_cb reads it through the opaque */
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;  /* the consumer queue (everything is forwarded to it) */
	rd_kafka_t *dlq;      /* dead-letter producer, or NULL */
	char topic[256];
	char dlq_topic[256];
	uint32_t batch_max, max_partitions;
	int poll_ms, revoke_budget_ms, close_timeout_ms;
	ccp_source_kafka_deliver_cb deliver;
	ccp_source_kafka_assigned_cb assigned;
	ccp_source_kafka_revoked_cb revoked;
	void *ud;
	struct ccp_log_reporter err_reporter;

	struct part *parts;          /* [max_partitions] */
	int32_t *assigned_ids;       /* the current assignment, n_assigned long */
	uint32_t n_assigned;
	uint32_t n_paused;
	size_t kept_total;           /* messages kept over all partitions */
	rd_kafka_message_t **batch;  /* [batch_max] */
	rd_kafka_topic_partition_list_t *restore; /* on_assign scratch: offsets to store again */
	int64_t next_lag_refresh_ms;

	pthread_t thread;
	bool started, joined;
	atomic_bool stop_req;
	atomic_bool wake_req;

	_Atomic uint64_t st_messages, st_bytes, st_batches, st_pauses, st_resumes, st_rebalances,
		st_assigned, st_stale, st_errors, st_commits, st_dl_ok, st_dl_fail;
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counter bumps: relaxed, they order nothing; readers want a recent value. */
static void bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

static uint64_t get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

static void slog(const struct ccp_log *log, enum ccp_log_level lv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void slog(const struct ccp_log *log, enum ccp_log_level lv, const char *fmt, ...)
{
	if (!log || !ccp_log_enabled(log, lv))
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ccp_log_kv(log, lv, line, NULL);
}

/* librdkafka's log lines (syslog levels) into ours. @thread any librdkafka thread */
static void rdk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* every opaque of ours starts with the logger */
	const struct ccp_log *const *logp = rd_kafka_opaque(rk);
	const struct ccp_log *log = logp ? *logp : NULL;
	enum ccp_log_level lv = level <= 3 ? CCP_LOG_ERROR : level == 4 ? CCP_LOG_WARN
					   : level <= 6 ? CCP_LOG_INFO : CCP_LOG_DEBUG;
	if (log && ccp_log_enabled(log, lv))
		ccp_log_kv(log, lv, "librdkafka", "client", rd_kafka_name(rk), "facility", fac, "text", buf, NULL);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen)
{
	char e[512];
	if (rd_kafka_conf_set(conf, key, value, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "kafka.%s=%s: %s", key, value, e);
		return -EINVAL;
	}
	return 0;
}

/* The common part of every handle's configuration, applied onto `conf`:
 * bootstrap, client id, logging, then the pass-through settings (after
 * whatever defaults `conf` holds, so they win). `opaque` must start with a
 * `const struct ccp_log *` (rdk_log_cb reads it). Returns 0 or -EINVAL
 * with `err` naming the key. */
static int conf_common(rd_kafka_conf_t *conf, const char *brokers, const char *client_id, void *opaque,
		       const struct ccp_log *log, const struct ccp_source_kafka_setting *kv, size_t n_kv, char *err,
		       size_t errlen)
{
	if (conf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
	    conf_set(conf, "client.id", client_id, err, errlen))
		return -EINVAL;
	rd_kafka_conf_set_opaque(conf, opaque);
	if (log)
		rd_kafka_conf_set_log_cb(conf, rdk_log_cb);
	for (size_t i = 0; i < n_kv; i++) {
		const char *k = kv[i].key;
		if (!k || !kv[i].value) {
			snprintf(err, errlen, "kafka setting #%zu: key and value are required", i);
			return -EINVAL;
		}
		if (strncmp(k, "kafka.", 6) == 0)
			k += 6;
		if (conf_set(conf, k, kv[i].value, err, errlen))
			return -EINVAL;
	}
	return 0;
}

static rd_kafka_topic_partition_list_t *one_partition(const char *topic, int32_t p, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
	return l;
}

/* ---- dead letters ------------------------------------------------------- */

/* Delivery report of a dead letter. @thread whoever polls the producer
 * (source thread, or the owner in free()) */
static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct ccp_source_kafka *src = opaque;
	if (m->err) {
		bump(&src->st_dl_fail, 1);
		slog(src->log, CCP_LOG_ERROR, "dead letter not delivered: %s", rd_kafka_err2str(m->err));
	} else {
		bump(&src->st_dl_ok, 1);
	}
}

int ccp_source_kafka_dead_letter(struct ccp_source_kafka *src, const char *reason, int32_t partition,
				 int64_t offset, const void *payload, size_t len)
{
	if (!src->dlq)
		return -ENOTSUP;
	char ptext[16], otext[24];
	snprintf(ptext, sizeof(ptext), "%" PRId32, partition);
	snprintf(otext, sizeof(otext), "%" PRId64, offset);
	rd_kafka_resp_err_t e = rd_kafka_producev(
		src->dlq, RD_KAFKA_V_TOPIC(src->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_VALUE((void *)payload, len),
		RD_KAFKA_V_HEADER(CCP_SOURCE_KAFKA_HDR_REASON, reason ? reason : "", -1),
		RD_KAFKA_V_HEADER(CCP_SOURCE_KAFKA_HDR_PARTITION, ptext, -1),
		RD_KAFKA_V_HEADER(CCP_SOURCE_KAFKA_HDR_OFFSET, otext, -1), RD_KAFKA_V_END);
	if (e) {
		bump(&src->st_dl_fail, 1);
		return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
	}
	return 0;
}

/* ---- per-partition bookkeeping (source thread) ---------------------------- */

static struct part *part_of(struct ccp_source_kafka *src, int32_t p)
{
	return p >= 0 && (uint32_t)p < src->max_partitions ? &src->parts[p] : NULL;
}

static void drop_kept(struct ccp_source_kafka *src, struct part *pt)
{
	for (size_t i = pt->head; i < pt->n_kept; i++)
		rd_kafka_message_destroy(pt->kept[i]);
	src->kept_total -= pt->n_kept - pt->head;
	pt->head = pt->n_kept = 0;
}

/* Appends to a partition's kept messages. Allocation happens only while a
 * partition is paused and its list grows past what it held before: the
 * exception path, not the hot one. Aborts on OOM (see the README's
 * allocation policy: replay from the committed offset is exact). */
static void keep(struct ccp_source_kafka *src, struct part *pt, rd_kafka_message_t **msgs, size_t n)
{
	src->kept_total += n;
	if (pt->head > 0 && pt->n_kept + n > pt->cap_kept) {
		memmove(pt->kept, pt->kept + pt->head, (pt->n_kept - pt->head) * sizeof(*pt->kept));
		pt->n_kept -= pt->head;
		pt->head = 0;
	}
	if (pt->n_kept + n > pt->cap_kept) {
		size_t cap = pt->cap_kept ? pt->cap_kept : 256;
		while (cap < pt->n_kept + n)
			cap *= 2;
		rd_kafka_message_t **k = realloc(pt->kept, cap * sizeof(*k));
		if (!k) {
			fprintf(stderr, "ccpulse: source_kafka: out of memory keeping %zu messages\n", n);
			abort();
		}
		pt->kept = k;
		pt->cap_kept = cap;
	}
	memcpy(pt->kept + pt->n_kept, msgs, n * sizeof(*msgs));
	pt->n_kept += n;
}

/* Lag from the high watermark librdkafka learnt in its last fetch (a local
 * read, no request). */
static void update_lag(struct ccp_source_kafka *src, int32_t p, struct part *pt)
{
	int64_t lo, hi;
	if (pt->next_offset < 0 || rd_kafka_get_watermark_offsets(src->rk, src->topic, p, &lo, &hi) || hi < 0)
		return;
	int64_t lag = hi - pt->next_offset;
	/* relaxed: a gauge, nothing depends on its ordering */
	atomic_store_explicit(&pt->lag_msgs, lag > 0 ? lag : 0, memory_order_relaxed);
}

/* Offers the kept messages of a holding partition again; it stops holding
 * when all are taken. */
static void retry_kept(struct ccp_source_kafka *src, int32_t p, struct part *pt)
{
	size_t n = pt->n_kept - pt->head;
	size_t acc = n ? src->deliver(src->ud, p, (const rd_kafka_message_t **)(pt->kept + pt->head), n) : 0;
	if (acc > n)
		acc = n; /* a caller bug must not make us hand out garbage */
	pt->head += acc;
	src->kept_total -= acc;
	if (pt->head < pt->n_kept)
		return;
	pt->head = pt->n_kept = 0;
	pt->paused = false;
	src->n_paused--;
	bump(&src->st_resumes, 1);
}

static void retry_all_kept(struct ccp_source_kafka *src)
{
	for (uint32_t i = 0; i < src->n_assigned && src->n_paused > 0; i++) {
		int32_t p = src->assigned_ids[i];
		struct part *pt = part_of(src, p);
		if (pt && pt->paused)
			retry_kept(src, p, pt);
	}
}

/* One run of consecutive messages of partition `p` from a batch. */
static void handle_run(struct ccp_source_kafka *src, int32_t p, rd_kafka_message_t **msgs, size_t n)
{
	struct part *pt = part_of(src, p);
	if (!pt || !pt->assigned) {
		/* left over from before a revoke, or beyond max_partitions */
		for (size_t i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
		bump(&src->st_stale, n);
		return;
	}
	/* Drop what we have seen already (in place), count bytes. */
	size_t k = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		rd_kafka_message_t *m = msgs[i];
		if (pt->next_offset >= 0 && m->offset < pt->next_offset) {
			rd_kafka_message_destroy(m);
			bump(&src->st_stale, 1);
			continue;
		}
		pt->next_offset = m->offset + 1;
		bytes += m->len;
		msgs[k++] = m;
	}
	if (k == 0)
		return;
	bump(&src->st_messages, k);
	bump(&src->st_bytes, bytes);
	update_lag(src, p, pt);
	if (pt->paused) {
		keep(src, pt, msgs, k); /* behind the ones already waiting */
		return;
	}
	size_t acc = src->deliver(src->ud, p, (const rd_kafka_message_t **)msgs, k);
	if (acc >= k)
		return;
	/* From here on msgs[0..acc) are the caller's: never touch them again. */
	keep(src, pt, msgs + acc, k - acc);
	pt->paused = true;
	src->n_paused++;
	bump(&src->st_pauses, 1);
}

static void handle_error_msg(struct ccp_source_kafka *src, rd_kafka_message_t *m)
{
	if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		bump(&src->st_errors, 1);
		char p[16];
		snprintf(p, sizeof(p), "%" PRId32, m->partition);
		if (src->log)
			ccp_log_report(&src->err_reporter, ccp_log_mono_ms(), "error", rd_kafka_message_errstr(m),
				       "partition", p, NULL);
	}
	rd_kafka_message_destroy(m);
}

static void handle_batch(struct ccp_source_kafka *src, rd_kafka_message_t **b, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (b[i]->err) {
			handle_error_msg(src, b[i]);
			i++;
			continue;
		}
		int32_t p = b[i]->partition;
		size_t j = i + 1;
		while (j < n && !b[j]->err && b[j]->partition == p)
			j++;
		handle_run(src, p, b + i, j - i);
		i = j;
	}
}

/* ---- rebalance (source thread, from inside consume or close) ------------- */

/* Partitions we get back after a revoke whose commit the broker refused
 * (a coordinator may answer REBALANCE_IN_PROGRESS to a commit made from
 * the revoke callback; librdkafka's mock always does): start from the
 * larger of what we had stored and what the group committed (someone
 * else may have owned it in between), and store it again so it gets
 * committed. Without this the partition would restart from an older
 * commit and deliver acknowledged messages twice. */
static void resume_uncommitted(struct ccp_source_kafka *src, rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(4);
	for (int i = 0; i < parts->cnt; i++) {
		struct part *pt = part_of(src, parts->elems[i].partition);
		if (pt && pt->uncommitted >= 0 && parts->elems[i].offset == CCP_SOURCE_KAFKA_OFFSET_COMMITTED)
			rd_kafka_topic_partition_list_add(q, parts->elems[i].topic, parts->elems[i].partition);
	}
	if (q->cnt > 0) {
		rd_kafka_resp_err_t e = rd_kafka_committed(src->rk, q, src->revoke_budget_ms);
		for (int i = 0; i < q->cnt; i++) {
			struct part *pt = part_of(src, q->elems[i].partition);
			int64_t committed = e || q->elems[i].err ? -1 : q->elems[i].offset;
			int64_t off = pt->uncommitted > committed ? pt->uncommitted : committed;
			rd_kafka_topic_partition_t *tp =
				rd_kafka_topic_partition_list_find(parts, q->elems[i].topic, q->elems[i].partition);
			tp->offset = off;
			pt->next_offset = off;
			q->elems[i].offset = off;
			pt->uncommitted = -1;
		}
		slog(src->log, CCP_LOG_INFO, "%d partitions resume after their last stored offset", q->cnt);
	}
	src->restore = q->cnt > 0 ? q : NULL;
	if (!src->restore)
		rd_kafka_topic_partition_list_destroy(q);
}

static void on_assign(struct ccp_source_kafka *src, rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		struct part *pt = part_of(src, tp->partition);
		if (!pt) {
			slog(src->log, CCP_LOG_ERROR,
			     "partition %" PRId32 " of %s >= max_partitions %" PRIu32 ": its messages are dropped", tp->partition,
			     tp->topic, src->max_partitions);
			continue;
		}
		int64_t off = src->assigned ? src->assigned(src->ud, tp->partition) : CCP_SOURCE_KAFKA_OFFSET_COMMITTED;
		tp->offset = off;
		pt->assigned = true;
		pt->paused = false;
		pt->head = pt->n_kept = 0;
		pt->next_offset = off >= 0 ? off : -1;
		atomic_store_explicit(&pt->lag_msgs, -1, memory_order_relaxed); /* relaxed: gauge */
		/* relaxed: only this thread reads it back, in on_revoke */
		atomic_store_explicit(&pt->stored_next, -1, memory_order_relaxed);
		src->assigned_ids[src->n_assigned++] = tp->partition;
	}
	resume_uncommitted(src, parts);
	rd_kafka_resp_err_t e = rd_kafka_assign(src->rk, parts);
	if (e)
		slog(src->log, CCP_LOG_ERROR, "assign: %s", rd_kafka_err2str(e));
	if (src->restore) {
		/* stored again, so the next commit carries them */
		for (int i = 0; i < src->restore->cnt; i++)
			ccp_source_kafka_store_offset(src, src->restore->elems[i].partition,
						      src->restore->elems[i].offset);
		rd_kafka_topic_partition_list_destroy(src->restore);
		src->restore = NULL;
	}
	atomic_store_explicit(&src->st_assigned, src->n_assigned, memory_order_relaxed);
	slog(src->log, CCP_LOG_INFO, "assigned %d partitions of %s", parts->cnt, src->topic);
}

static void on_revoke(struct ccp_source_kafka *src, rd_kafka_topic_partition_list_t *parts)
{
	/* Kept messages were never stored: the next owner reads them again.
	 * `held`: partitions still ours (a stop revokes them itself before the
	 * consumer's close revokes the same list again, with none held). */
	int held = 0;
	for (int i = 0; i < parts->cnt; i++) {
		struct part *pt = part_of(src, parts->elems[i].partition);
		if (!pt || !pt->assigned)
			continue;
		held++;
		drop_kept(src, pt);
		if (pt->paused) {
			pt->paused = false;
			src->n_paused--;
		}
	}
	for (int i = 0; i < parts->cnt; i++) {
		struct part *pt = part_of(src, parts->elems[i].partition);
		if (!pt || !pt->assigned || !src->revoked)
			continue;
		int64_t t0 = mono_ms();
		src->revoked(src->ud, parts->elems[i].partition);
		int64_t took_ms = mono_ms() - t0;
		if (took_ms > src->revoke_budget_ms)
			slog(src->log, CCP_LOG_WARN,
			     "revoke of partition %" PRId32 " took %" PRId64 " ms (budget %d ms): the group waited",
			     parts->elems[i].partition, took_ms, src->revoke_budget_ms);
	}
	/* Synchronous: the next owner must find what was acknowledged. */
	rd_kafka_resp_err_t e = held ? rd_kafka_commit(src->rk, NULL, 0) : RD_KAFKA_RESP_ERR__NO_OFFSET;
	if (!e)
		bump(&src->st_commits, 1);
	else if (e != RD_KAFKA_RESP_ERR__NO_OFFSET)
		slog(src->log, CCP_LOG_WARN, "commit at revoke: %s (kept for a reassignment)", rd_kafka_err2str(e));
	bool failed = e && e != RD_KAFKA_RESP_ERR__NO_OFFSET;
	for (int i = 0; i < parts->cnt; i++) {
		struct part *pt = part_of(src, parts->elems[i].partition);
		if (!pt)
			continue;
		/* relaxed: the caller's stores happen-before its revoked() return
		 * on this thread, or are late and then irrelevant */
		int64_t stored = atomic_exchange_explicit(&pt->stored_next, -1, memory_order_relaxed);
		pt->uncommitted = failed ? stored : -1;
		pt->assigned = false;
		pt->next_offset = -1;
		atomic_store_explicit(&pt->lag_msgs, -1, memory_order_relaxed); /* relaxed: gauge */
		for (uint32_t j = 0; j < src->n_assigned; j++) {
			if (src->assigned_ids[j] == parts->elems[i].partition) {
				src->assigned_ids[j] = src->assigned_ids[--src->n_assigned];
				break;
			}
		}
	}
	e = rd_kafka_assign(src->rk, NULL);
	if (e)
		slog(src->log, CCP_LOG_ERROR, "unassign: %s", rd_kafka_err2str(e));
	atomic_store_explicit(&src->st_assigned, src->n_assigned, memory_order_relaxed);
	if (held)
		slog(src->log, CCP_LOG_INFO, "revoked %d partitions of %s", held, src->topic);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct ccp_source_kafka *src = opaque;
	bump(&src->st_rebalances, 1);
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		on_assign(src, parts);
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		on_revoke(src, parts);
	} else {
		slog(src->log, CCP_LOG_ERROR, "rebalance: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
	}
}

/* Errors reported outside messages (all brokers down, ...): librdkafka
 * recovers by itself; we count and log (rate-limited). */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct ccp_source_kafka *src = opaque;
	bump(&src->st_errors, 1);
	if (src->log)
		ccp_log_report(&src->err_reporter, ccp_log_mono_ms(), "error", reason, NULL);
}

/* ---- the source thread -------------------------------------------------- */

static void *source_main(void *arg)
{
	struct ccp_source_kafka *src = arg;
	/* acquire: pairs with the release in stop(); nothing else to see */
	while (!atomic_load_explicit(&src->stop_req, memory_order_acquire)) {
		/* relaxed: the flag only says "look again"; the data the caller
		 * made room in is its own ring, synchronised by that ring */
		if (src->n_paused) {
			/* Some partition holds (its worker's ring was full): offer
			 * its kept messages again when a worker made room. Other
			 * partitions go on until the kept messages reach
			 * KEPT_MAX; then nothing new is consumed until they
			 * drop below it (without a wake, look again after 1 ms). */
			bool woken = atomic_exchange_explicit(&src->wake_req, false, memory_order_relaxed);
			if (!woken && src->kept_total >= KEPT_MAX) {
				struct timespec ts = {0, 1000000};
				nanosleep(&ts, NULL);
			}
			retry_all_kept(src);
			if (src->kept_total >= KEPT_MAX)
				continue;
		}
		/* While holding, come back soon to retry the kept messages. */
		ssize_t n = rd_kafka_consume_batch_queue(src->q, src->n_paused ? 1 : src->poll_ms, src->batch,
							 src->batch_max);
		if (n > 0) {
			bump(&src->st_batches, 1);
			handle_batch(src, src->batch, (size_t)n);
		} else if (n < 0) {
			bump(&src->st_errors, 1);
			slog(src->log, CCP_LOG_ERROR, "consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
		}
		if (src->dlq)
			rd_kafka_poll(src->dlq, 0); /* delivery reports of dead letters */
		int64_t now = mono_ms();
		if (now >= src->next_lag_refresh_ms) {
			src->next_lag_refresh_ms = now + LAG_REFRESH_MS;
			for (uint32_t i = 0; i < src->n_assigned; i++)
				update_lag(src, src->assigned_ids[i], &src->parts[src->assigned_ids[i]]);
		}
	}
	/* Stop: kept messages go back (never stored); close runs the revoke
	 * path (revoked callbacks, synchronous commit) through rebalance_cb. */
	for (uint32_t i = 0; i < src->n_assigned; i++)
		drop_kept(src, &src->parts[src->assigned_ids[i]]);
	/* Revoke (last renders, acks) and commit while still a member of the
	 * group: once close() has sent LeaveGroup, or while the leave starts
	 * a rebalance, a commit can be refused and the next owner would
	 * re-read what this instance already published. */
	if (src->n_assigned) {
		rd_kafka_topic_partition_list_t *mine = rd_kafka_topic_partition_list_new((int)src->n_assigned);
		for (uint32_t i = 0; i < src->n_assigned; i++)
			rd_kafka_topic_partition_list_add(mine, src->topic, src->assigned_ids[i]);
		on_revoke(src, mine);
		rd_kafka_topic_partition_list_destroy(mine);
	}
	rd_kafka_resp_err_t e = rd_kafka_consumer_close(src->rk);
	if (e)
		slog(src->log, CCP_LOG_ERROR, "consumer close: %s", rd_kafka_err2str(e));
	if (src->dlq && rd_kafka_flush(src->dlq, src->close_timeout_ms))
		slog(src->log, CCP_LOG_ERROR, "dead letters not flushed within %d ms: %d left", src->close_timeout_ms,
		     rd_kafka_outq_len(src->dlq));
	return NULL;
}

/* ---- public API ------------------------------------------------------- */

struct ccp_source_kafka *ccp_source_kafka_new(const struct ccp_source_kafka_opts *o, char *err, size_t errlen)
{
	char e[512];
	if (!o->brokers || !*o->brokers || !o->topic || !*o->topic || !o->group || !*o->group || !o->deliver) {
		snprintf(err, errlen, "source_kafka: %s is required",
			 !o->brokers || !*o->brokers ? "brokers" : !o->topic || !*o->topic ? "topic"
								: !o->group || !*o->group ? "group" : "deliver callback");
		return NULL;
	}
	if (strlen(o->topic) >= 256 || (o->dead_letter_topic && strlen(o->dead_letter_topic) >= 256)) {
		snprintf(err, errlen, "source_kafka: topic names are limited to 255 bytes");
		return NULL;
	}
	struct ccp_source_kafka *src = calloc(1, sizeof(*src));
	if (!src) {
		snprintf(err, errlen, "source_kafka: out of memory");
		return NULL;
	}
	snprintf(src->topic, sizeof(src->topic), "%s", o->topic);
	src->batch_max = o->batch_max && o->batch_max < CCP_SOURCE_KAFKA_BATCH_MAX ? o->batch_max : CCP_SOURCE_KAFKA_BATCH_MAX;
	src->max_partitions = o->max_partitions ? o->max_partitions : CCP_SOURCE_KAFKA_MAX_PARTITIONS;
	src->poll_ms = o->poll_ms > 0 ? o->poll_ms : 100;
	src->revoke_budget_ms = o->revoke_budget_ms > 0 ? o->revoke_budget_ms : 5000;
	src->close_timeout_ms = o->close_timeout_ms > 0 ? o->close_timeout_ms : 2000;
	src->deliver = o->deliver;
	src->assigned = o->assigned;
	src->revoked = o->revoked;
	src->ud = o->ud;
	src->log = o->log;
	if (o->log)
		ccp_log_reporter_init(&src->err_reporter, o->log, CCP_LOG_WARN, "kafka consumer error", 10000);
	src->parts = calloc(src->max_partitions, sizeof(*src->parts));
	src->assigned_ids = calloc(src->max_partitions, sizeof(*src->assigned_ids));
	src->batch = calloc(src->batch_max, sizeof(*src->batch));
	if (!src->parts || !src->assigned_ids || !src->batch) {
		snprintf(err, errlen, "source_kafka: out of memory for %" PRIu32 " partitions", src->max_partitions);
		goto fail;
	}
	for (uint32_t i = 0; i < src->max_partitions; i++) {
		atomic_init(&src->parts[i].lag_msgs, -1);
		atomic_init(&src->parts[i].stored_next, -1);
		src->parts[i].next_offset = -1;
		src->parts[i].uncommitted = -1;
	}

	/* Consumer: our defaults first, the pass-through after them (it wins),
	 * then the settings the design depends on (they win over it). */
	char qmin[16], qkb[16];
	snprintf(qmin, sizeof(qmin), "%d", CCP_SOURCE_KAFKA_QUEUED_MIN_MESSAGES);
	snprintf(qkb, sizeof(qkb), "%d", CCP_SOURCE_KAFKA_QUEUED_MAX_KBYTES);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (conf_set(conf, "queued.min.messages", qmin, err, errlen) ||
	    conf_set(conf, "queued.max.messages.kbytes", qkb, err, errlen) ||
	    conf_set(conf, "max.partition.fetch.bytes", CCP_SOURCE_KAFKA_PARTITION_FETCH_BYTES, err, errlen) ||
	    conf_set(conf, "fetch.wait.max.ms", CCP_SOURCE_KAFKA_FETCH_WAIT_MS, err, errlen) ||
	    conf_set(conf, "partition.assignment.strategy", "range,roundrobin", err, errlen) ||
	    conf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
	    conf_set(conf, "session.timeout.ms", CCP_SOURCE_KAFKA_SESSION_TIMEOUT_MS, err, errlen) ||
	    conf_set(conf, "heartbeat.interval.ms", CCP_SOURCE_KAFKA_HEARTBEAT_MS, err, errlen) ||
	    conf_common(conf, o->brokers, o->client_id ? o->client_id : "ccpulse", src, o->log, o->kafka, o->n_kafka,
			err, errlen) ||
	    conf_set(conf, "group.id", o->group, err, errlen) ||
	    conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
	    conf_set(conf, "enable.auto.commit", "true", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	char strat[256];
	size_t strat_len = sizeof(strat);
	if (rd_kafka_conf_get(conf, "partition.assignment.strategy", strat, &strat_len) == RD_KAFKA_CONF_OK &&
	    strstr(strat, "cooperative")) {
		snprintf(err, errlen,
			 "kafka.partition.assignment.strategy=%s: cooperative-sticky has known bugs in librdkafka "
			 "2.0.2; use range or roundrobin",
			 strat);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	src->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!src->rk) {
		snprintf(err, errlen, "source_kafka: consumer: %s", e);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	conf = NULL; /* now owned by rk */
	rd_kafka_poll_set_consumer(src->rk);
	src->q = rd_kafka_queue_get_consumer(src->rk);

	if (o->dead_letter_topic && *o->dead_letter_topic) {
		snprintf(src->dlq_topic, sizeof(src->dlq_topic), "%s", o->dead_letter_topic);
		char cid[300];
		snprintf(cid, sizeof(cid), "%s-dead-letter", o->client_id ? o->client_id : "ccpulse");
		rd_kafka_conf_t *pc = rd_kafka_conf_new();
		if (conf_common(pc, o->brokers, cid, src, o->log, o->kafka, o->n_kafka, err, errlen)) {
			rd_kafka_conf_destroy(pc);
			goto fail;
		}
		rd_kafka_conf_set_dr_msg_cb(pc, dlq_dr_cb);
		src->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, pc, e, sizeof(e));
		if (!src->dlq) {
			snprintf(err, errlen, "source_kafka: dead-letter producer: %s", e);
			rd_kafka_conf_destroy(pc);
			goto fail;
		}
	}
	return src;
fail:
	ccp_source_kafka_free(src);
	return NULL;
}

int ccp_source_kafka_start(struct ccp_source_kafka *src, char *err, size_t errlen)
{
	if (src->started) {
		snprintf(err, errlen, "source_kafka: already started");
		return -EALREADY;
	}
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, src->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(src->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (e) {
		snprintf(err, errlen, "source_kafka: subscribe to %s: %s", src->topic, rd_kafka_err2str(e));
		return -EINVAL;
	}
	int rc = pthread_create(&src->thread, NULL, source_main, src);
	if (rc) {
		snprintf(err, errlen, "source_kafka: pthread_create: %s", strerror(rc));
		return -rc;
	}
	src->started = true;
	return 0;
}

void ccp_source_kafka_stop(struct ccp_source_kafka *src)
{
	if (!src || !src->started || src->joined)
		return;
	/* release: pairs with the acquire in source_main */
	atomic_store_explicit(&src->stop_req, true, memory_order_release);
	rd_kafka_queue_yield(src->q);
	pthread_join(src->thread, NULL);
	src->joined = true;
}

void ccp_source_kafka_free(struct ccp_source_kafka *src)
{
	if (!src)
		return;
	ccp_source_kafka_stop(src);
	if (src->parts) {
		for (uint32_t i = 0; i < src->max_partitions; i++) {
			drop_kept(src, &src->parts[i]);
			free(src->parts[i].kept);
		}
	}
	if (src->q)
		rd_kafka_queue_destroy(src->q);
	if (src->rk) {
		if (!src->started)
			rd_kafka_consumer_close(src->rk);
		rd_kafka_destroy(src->rk);
	}
	if (src->dlq) {
		rd_kafka_flush(src->dlq, src->close_timeout_ms);
		rd_kafka_destroy(src->dlq);
	}
	free(src->parts);
	free(src->assigned_ids);
	free(src->batch);
	free(src);
}

void ccp_source_kafka_release(const rd_kafka_message_t *msg)
{
	if (msg)
		rd_kafka_message_destroy((rd_kafka_message_t *)msg); /* the handed-over reference */
}

void ccp_source_kafka_msg_view(const rd_kafka_message_t *msg, struct ccp_kafka_msg_view *out)
{
	out->payload = msg->payload;
	out->len = msg->payload ? msg->len : 0;
	out->offset = msg->offset;
	out->partition = msg->partition;
}

void ccp_source_kafka_wake(struct ccp_source_kafka *src)
{
	/* relaxed: see source_main; the yield makes a blocked consume return */
	if (!atomic_exchange_explicit(&src->wake_req, true, memory_order_relaxed))
		rd_kafka_queue_yield(src->q);
}

int ccp_source_kafka_store_offset(struct ccp_source_kafka *src, int32_t partition, int64_t next_offset)
{
	rd_kafka_topic_partition_list_t *l = one_partition(src->topic, partition, next_offset);
	rd_kafka_resp_err_t e = rd_kafka_offsets_store(src->rk, l);
	if (!e)
		e = l->elems[0].err;
	rd_kafka_topic_partition_list_destroy(l);
	struct part *pt = part_of(src, partition);
	if (!e && pt) {
		/* relaxed: read back by the source thread at revoke (see there) */
		atomic_store_explicit(&pt->stored_next, next_offset, memory_order_relaxed);
	}
	if (!e)
		return 0;
	return e == RD_KAFKA_RESP_ERR__STATE || e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ? -ENOENT : -EINVAL;
}

void ccp_source_kafka_stats(const struct ccp_source_kafka *src, struct ccp_source_kafka_stats *out)
{
	out->messages = get(&src->st_messages);
	out->bytes = get(&src->st_bytes);
	out->batches = get(&src->st_batches);
	out->pauses = get(&src->st_pauses);
	out->resumes = get(&src->st_resumes);
	out->rebalances = get(&src->st_rebalances);
	out->assigned = get(&src->st_assigned);
	out->stale = get(&src->st_stale);
	out->errors = get(&src->st_errors);
	out->commits = get(&src->st_commits);
	out->dead_letters = get(&src->st_dl_ok);
	out->dead_letter_failures = get(&src->st_dl_fail);
}

int64_t ccp_source_kafka_lag(const struct ccp_source_kafka *src, int32_t partition)
{
	if (partition < 0 || (uint32_t)partition >= src->max_partitions)
		return -1;
	/* relaxed: a gauge */
	return atomic_load_explicit((_Atomic int64_t *)&src->parts[partition].lag_msgs, memory_order_relaxed);
}

/* ---- the agent topic, read whole ---------------------------------------- */

/* The global reader. Owner: whoever called global_new(); its thread runs
 * between start and free. Atomics are read by any thread. */
struct ccp_source_kafka_global {
	const struct ccp_log *log; /* first: rdk_log_cb reads it through the opaque */
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	char topic[256];
	int poll_ms, metadata_timeout_ms;
	ccp_source_kafka_global_cb deliver;
	void *ud;
	int32_t n_parts;
	int64_t *next_offset;  /* [n_parts], reader thread only */
	int64_t *target;       /* [n_parts] high watermark at start */
	rd_kafka_message_t **batch;
	pthread_t thread;
	bool started;
	atomic_bool stop_req;
	atomic_bool caught_up;
	_Atomic uint64_t messages;
};

static bool global_check_caught_up(struct ccp_source_kafka_global *g)
{
	for (int32_t p = 0; p < g->n_parts; p++)
		if (g->next_offset[p] < g->target[p])
			return false;
	return true;
}

static void *global_main(void *arg)
{
	struct ccp_source_kafka_global *g = arg;
	/* acquire: pairs with the release in global_free */
	while (!atomic_load_explicit(&g->stop_req, memory_order_acquire)) {
		ssize_t n = rd_kafka_consume_batch_queue(g->q, g->poll_ms, g->batch, CCP_SOURCE_KAFKA_BATCH_MAX);
		size_t i = 0;
		while (n > 0 && i < (size_t)n) {
			rd_kafka_message_t *m = g->batch[i];
			if (m->err || m->partition < 0 || m->partition >= g->n_parts) {
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					slog(g->log, CCP_LOG_WARN, "agent topic %s: %s", g->topic, rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				i++;
				continue;
			}
			size_t j = i + 1;
			while (j < (size_t)n && !g->batch[j]->err && g->batch[j]->partition == m->partition)
				j++;
			g->deliver(g->ud, m->partition, (const rd_kafka_message_t **)(g->batch + i), j - i);
			g->next_offset[m->partition] = g->batch[j - 1]->offset + 1;
			atomic_fetch_add_explicit(&g->messages, j - i, memory_order_relaxed); /* relaxed: counter */
			for (size_t k = i; k < j; k++)
				rd_kafka_message_destroy(g->batch[k]); /* borrowed by deliver only */
			i = j;
		}
		/* release: whoever sees caught_up also sees the callbacks' effects
		 * that happened before it (the caller's table) */
		if (!atomic_load_explicit(&g->caught_up, memory_order_relaxed) && global_check_caught_up(g))
			atomic_store_explicit(&g->caught_up, true, memory_order_release);
	}
	return NULL;
}

struct ccp_source_kafka_global *ccp_source_kafka_global_new(const struct ccp_source_kafka_global_opts *o,
							    char *err, size_t errlen)
{
	char e[512];
	if (!o->brokers || !*o->brokers || !o->topic || !*o->topic || !o->deliver) {
		snprintf(err, errlen, "source_kafka global: %s is required",
			 !o->brokers || !*o->brokers ? "brokers" : !o->topic || !*o->topic ? "topic" : "deliver callback");
		return NULL;
	}
	if (strlen(o->topic) >= 256) {
		snprintf(err, errlen, "source_kafka global: topic names are limited to 255 bytes");
		return NULL;
	}
	struct ccp_source_kafka_global *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "source_kafka global: out of memory");
		return NULL;
	}
	g->log = o->log;
	snprintf(g->topic, sizeof(g->topic), "%s", o->topic);
	g->poll_ms = o->poll_ms > 0 ? o->poll_ms : 100;
	g->metadata_timeout_ms = o->metadata_timeout_ms > 0 ? o->metadata_timeout_ms : 10000;
	g->deliver = o->deliver;
	g->ud = o->ud;
	g->batch = calloc(CCP_SOURCE_KAFKA_BATCH_MAX, sizeof(*g->batch));
	if (!g->batch) {
		snprintf(err, errlen, "source_kafka global: out of memory");
		goto fail;
	}
	/* No group: assign() needs none, and we never commit. The pass-through
	 * comes first here so that our no-commit settings win. */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (conf_common(conf, o->brokers, o->client_id ? o->client_id : "ccpulse-agents", g, o->log, o->kafka,
			o->n_kafka, err, errlen) ||
	    conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
	    conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
	    conf_set(conf, "enable.partition.eof", "false", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	/* librdkafka 2.0.2's assign() wants a group.id, though we never join
	 * (no subscribe) nor commit: any name does, the client id is one. */
	if (conf_set(conf, "group.id", o->client_id ? o->client_id : "ccpulse-agents", err, errlen)) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
	if (!g->rk) {
		snprintf(err, errlen, "source_kafka global: consumer: %s", e);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	conf = NULL; /* now owned by rk */
	rd_kafka_poll_set_consumer(g->rk);
	g->q = rd_kafka_queue_get_consumer(g->rk);
	return g;
fail:
	ccp_source_kafka_global_free(g);
	return NULL;
}

int ccp_source_kafka_global_start(struct ccp_source_kafka_global *g, char *err, size_t errlen)
{
	if (g->started) {
		snprintf(err, errlen, "source_kafka global: already started");
		return -EALREADY;
	}
	/* Partition count: retry until the deadline, a new topic may still be
	 * without leaders for a moment. */
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(g->rk, g->topic, NULL);
	int64_t deadline = mono_ms() + g->metadata_timeout_ms;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
	int32_t n = 0;
	while (mono_ms() < deadline) {
		const struct rd_kafka_metadata *md = NULL;
		e = rd_kafka_metadata(g->rk, 0, rkt, &md, (int)(deadline - mono_ms()));
		if (!e && md->topic_cnt == 1) {
			e = md->topics[0].err;
			n = md->topics[0].partition_cnt;
		}
		if (md)
			rd_kafka_metadata_destroy(md);
		if (!e && n > 0)
			break;
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL); /* startup path, not the loop */
	}
	rd_kafka_topic_destroy(rkt);
	if (e || n <= 0) {
		snprintf(err, errlen, "source_kafka global: metadata of %s: %s", g->topic,
			 e ? rd_kafka_err2str(e) : "no partitions");
		return -EIO;
	}
	g->n_parts = n;
	g->next_offset = calloc((size_t)n, sizeof(*g->next_offset));
	g->target = calloc((size_t)n, sizeof(*g->target));
	if (!g->next_offset || !g->target) {
		snprintf(err, errlen, "source_kafka global: out of memory for %" PRId32 " partitions", n);
		return -ENOMEM;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
	for (int32_t p = 0; p < n; p++) {
		int64_t lo = 0, hi = 0;
		e = rd_kafka_query_watermark_offsets(g->rk, g->topic, p, &lo, &hi, (int)(deadline - mono_ms()) > 1000
										      ? (int)(deadline - mono_ms())
										      : 1000);
		if (e) {
			snprintf(err, errlen, "source_kafka global: watermarks of %s [%" PRId32 "]: %s", g->topic, p,
				 rd_kafka_err2str(e));
			rd_kafka_topic_partition_list_destroy(l);
			return -EIO;
		}
		g->next_offset[p] = lo;
		g->target[p] = hi;
		rd_kafka_topic_partition_list_add(l, g->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	}
	e = rd_kafka_assign(g->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		snprintf(err, errlen, "source_kafka global: assign %s: %s", g->topic, rd_kafka_err2str(e));
		return -EIO;
	}
	if (global_check_caught_up(g))
		atomic_store_explicit(&g->caught_up, true, memory_order_release); /* empty topic */
	int rc = pthread_create(&g->thread, NULL, global_main, g);
	if (rc) {
		snprintf(err, errlen, "source_kafka global: pthread_create: %s", strerror(rc));
		return -rc;
	}
	g->started = true;
	return 0;
}

bool ccp_source_kafka_global_caught_up(const struct ccp_source_kafka_global *g)
{
	/* acquire: pairs with the release in global_main */
	return atomic_load_explicit((atomic_bool *)&g->caught_up, memory_order_acquire);
}

uint64_t ccp_source_kafka_global_messages(const struct ccp_source_kafka_global *g)
{
	return get(&g->messages);
}

void ccp_source_kafka_global_free(struct ccp_source_kafka_global *g)
{
	if (!g)
		return;
	if (g->started) {
		/* release: pairs with the acquire in global_main */
		atomic_store_explicit(&g->stop_req, true, memory_order_release);
		rd_kafka_queue_yield(g->q);
		pthread_join(g->thread, NULL);
	}
	if (g->q)
		rd_kafka_queue_destroy(g->q);
	if (g->rk) {
		rd_kafka_consumer_close(g->rk);
		rd_kafka_destroy(g->rk);
	}
	free(g->next_offset);
	free(g->target);
	free(g->batch);
	free(g);
}
