/* The operations surface (see include/ccpulse/ops.h). */
#include "ccpulse/ops.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ccpulse/board.h"
#include "ccpulse/http.h"
#include "ccpulse/metrics.h"

/* A stats field a callback series reads: a uint64_t at `off` in
 * struct ccp_pipeline_stats (or a bool, for `is_bool`). */
struct stat_read {
	struct ccp_ops *ops;
	size_t off;
	bool is_bool;
};

#define N_READS 40
#define MAX_LAG_PARTITIONS 4096 /* partition ids with a lag series: 0..max-1 */

/* A lag series' reader. */
struct lag_read {
	struct ccp_ops *ops;
	int32_t partition;
	bool shown;
};

/* Owner: the pipeline; loop thread only. */
struct ccp_ops {
	struct ccp_http *http;
	struct ccp_board *board; /* the wallboard; NULL without a config */
	struct ccp_metrics *metrics;
	struct ccp_metrics_buf buf;
	struct ccp_ops_opts o;
	struct stat_read reads[N_READS];
	uint32_t n_reads;
	struct ccp_pipeline_stats snap; /* taken once per scrape */
	struct ccp_histogram *ack_latency;
	struct ccp_metric_family *lag_family;
	struct lag_read *lags; /* [MAX_LAG_PARTITIONS], made on the first scrape */
	void (*close_cb)(void *ud);
	void *close_ud;
};

static double read_stat(void *ud)
{
	const struct stat_read *r = ud;
	const char *base = (const char *)&r->ops->snap;
	if (r->is_bool)
		return *(const bool *)(base + r->off) ? 1 : 0;
	return (double)*(const uint64_t *)(base + r->off);
}

/* A counter or gauge family whose one series reads a stats field; with a
 * label, one series per value, each at its own offset. */
static int add_stat(struct ccp_ops *ops, enum ccp_metric_type type, const char *name, const char *help,
		    const char *label, const char *const *values, const size_t *offs, size_t n, bool is_bool, char *err,
		    size_t errlen)
{
	const char *labels[2] = {label, NULL};
	struct ccp_metric_desc d = {.type = type, .name = name, .help = help, .labels = label ? labels : NULL,
				    .callback = true};
	struct ccp_metric_family *f = ccp_metrics_family(ops->metrics, &d, err, errlen);
	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ops->n_reads == N_READS) {
			snprintf(err, errlen, "ops: more than %d stat series", N_READS);
			return -1;
		}
		struct stat_read *r = &ops->reads[ops->n_reads++];
		*r = (struct stat_read){ops, offs[i], is_bool};
		const char *v[2] = {label ? values[i] : NULL, NULL};
		if (ccp_metrics_callback(f, label ? v : NULL, read_stat, r, err, errlen))
			return -1;
	}
	return 0;
}

#define OFF(f) offsetof(struct ccp_pipeline_stats, f)

static int build_metrics(struct ccp_ops *ops, char *err, size_t errlen)
{
	static const struct {
		enum ccp_metric_type type;
		const char *name, *help;
		size_t off;
		bool is_bool;
	} one[] = {
		{CCP_METRIC_COUNTER, "ccpulse_events_consumed_total", "Contact-topic messages taken by the workers.",
		 OFF(messages), false},
		{CCP_METRIC_COUNTER, "ccpulse_events_applied_total", "Events that changed the figures (valid, not duplicate, not late).",
		 OFF(applied), false},
		{CCP_METRIC_COUNTER, "ccpulse_events_duplicate_total", "Events whose id was already accepted within the dedup horizon.",
		 OFF(duplicates), false},
		{CCP_METRIC_COUNTER, "ccpulse_events_late_total", "Events older than the partition clock minus the longest window.",
		 OFF(late), false},
		{CCP_METRIC_COUNTER, "ccpulse_agent_events_total", "Agent-topic messages read into the agent table.",
		 OFF(agent_events), false},
		{CCP_METRIC_COUNTER, "ccpulse_backpressure_total", "Hand-offs that found a worker ring full (the source held the rest).",
		 OFF(backpressure), false},
		{CCP_METRIC_COUNTER, "ccpulse_renders_total", "Partition renders handed to the Redis sink.", OFF(publications), false},
		{CCP_METRIC_COUNTER, "ccpulse_renders_acked_total", "Renders Redis acknowledged (their offsets then stored).",
		 OFF(acked), false},
		{CCP_METRIC_COUNTER, "ccpulse_renders_failed_total", "Renders Redis refused or that were dropped.", OFF(failed), false},
		{CCP_METRIC_COUNTER, "ccpulse_totals_written_total", "Writes of the merged total and stats views.",
		 OFF(totals_written), false},
		{CCP_METRIC_GAUGE, "ccpulse_partitions_assigned", "Contact-topic partitions this instance holds.", OFF(partitions),
		 false},
		{CCP_METRIC_GAUGE, "ccpulse_ring_depth", "Messages waiting in the worker rings.", OFF(ring_depth), false},
		{CCP_METRIC_GAUGE, "ccpulse_ring_capacity", "Slots of the worker rings.", OFF(ring_capacity), false},
		{CCP_METRIC_GAUGE, "ccpulse_alerts_firing", "Alert pairs (rule, queue or promise) firing in this instance's partitions.",
		 OFF(alerts_firing), false},
		{CCP_METRIC_GAUGE, "ccpulse_redis_connected", "1 while the Redis sink is connected.", OFF(redis_ready), true},
		{CCP_METRIC_COUNTER, "ccpulse_redis_connects_total", "Redis connections established (first and reconnects).",
		 OFF(redis_connects), false},
		{CCP_METRIC_COUNTER, "ccpulse_redis_disconnects_total", "Redis connections lost or dropped.",
		 OFF(redis_disconnects), false},
		{CCP_METRIC_COUNTER, "ccpulse_redis_errors_total", "Redis connection-level errors of any kind.", OFF(redis_errors),
		 false},
		{CCP_METRIC_COUNTER, "ccpulse_redis_command_timeouts_total", "Redis commands that got no reply in time.",
		 OFF(redis_command_timeouts), false},
		{CCP_METRIC_COUNTER, "ccpulse_webhook_alerts_delivered_total",
		 "Alert transitions the webhook receiver accepted (2xx).", OFF(webhook_delivered), false},
		{CCP_METRIC_COUNTER, "ccpulse_webhook_failed_attempts_total",
		 "Webhook POSTs that failed (non-2xx, timeout, connection) and will be retried.", OFF(webhook_failed_attempts),
		 false},
		{CCP_METRIC_COUNTER, "ccpulse_webhook_alerts_dropped_total",
		 "Alert transitions given up: queue full, older than 24 h, or pending at shutdown.", OFF(webhook_dropped), false},
		{CCP_METRIC_GAUGE, "ccpulse_webhook_alerts_queued", "Alert transitions waiting for the webhook receiver.",
		 OFF(webhook_queued), false},
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		if (add_stat(ops, one[i].type, one[i].name, one[i].help, NULL, NULL, &one[i].off, 1, one[i].is_bool, err,
			     errlen))
			return -1;
	}
	const char *reasons[CCP_REJECT__COUNT];
	size_t offs[CCP_REJECT__COUNT];
	size_t n = 0;
	for (int r = 1; r < CCP_REJECT__COUNT; r++) {
		reasons[n] = ccp_reject_names[r];
		offs[n++] = OFF(rejects) + (size_t)r * sizeof(uint64_t);
	}
	if (add_stat(ops, CCP_METRIC_COUNTER, "ccpulse_events_rejected_total", "Bad input, by the contract's reason.", "reason",
		     reasons, offs, n, false, err, errlen))
		return -1;
	static const double secs[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
	struct ccp_metric_desc hd = {.type = CCP_METRIC_HISTOGRAM, .name = "ccpulse_render_ack_seconds",
				     .help = "Time from a partition render reaching the Redis sink to Redis acknowledging it.",
				     .buckets = secs, .nbuckets = sizeof(secs) / sizeof(secs[0])};
	struct ccp_metric_family *hf = ccp_metrics_family(ops->metrics, &hd, err, errlen);
	if (!hf || !(ops->ack_latency = ccp_metrics_histogram(hf, NULL, err, errlen)))
		return -1;
	if (ops->o.read_lag) {
		static const char *const part_label[] = {"partition", NULL};
		struct ccp_metric_desc ld = {.type = CCP_METRIC_GAUGE, .name = "ccpulse_consumer_lag",
					     .help = "Messages behind the partition's high watermark (as librdkafka last saw it).",
					     .labels = part_label, .callback = true};
		if (!(ops->lag_family = ccp_metrics_family(ops->metrics, &ld, err, errlen)))
			return -1;
	}
	static const char *const version_label[] = {"version", NULL};
	struct ccp_metric_desc bi = {.type = CCP_METRIC_GAUGE, .name = "ccpulse_build_info",
				     .help = "Always 1; the version in a label.", .labels = version_label};
	struct ccp_metric_family *f = ccp_metrics_family(ops->metrics, &bi, err, errlen);
	const char *v[] = {CCP_VERSION, NULL};
	struct ccp_gauge *g = f ? ccp_metrics_gauge(f, v, err, errlen) : NULL;
	if (!g)
		return -1;
	ccp_gauge_set(g, 1);
	return 0;
}

/* ---- handlers ---- */

static void text(struct ccp_http_response *res, int status, const char *body)
{
	ccp_http_response_status(res, status);
	ccp_http_response_content_type(res, "text/plain; charset=utf-8");
	ccp_http_response_body(res, body, strlen(body));
}

static void on_healthz(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	(void)ud;
	(void)req;
	text(res, 200, "ok\n");
}

static void on_readyz(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct ccp_ops *ops = ud;
	(void)req;
	struct ccp_pipeline_stats st;
	ops->o.read_stats(ops->o.ud, &st);
	if (!st.partitions)
		text(res, 503, "not ready: no partitions assigned\n");
	else if (!st.redis_ready)
		text(res, 503, "not ready: Redis not connected\n");
	else
		text(res, 200, "ready\n");
}

static double read_lag(void *ud)
{
	const struct lag_read *r = ud;
	return (double)r->ops->o.read_lag(r->ops->o.ud, r->partition);
}

/* One lag series per partition held now; series of partitions that left
 * are hidden (their callback cleared), and come back if they return. */
static void refresh_lags(struct ccp_ops *ops)
{
	if (!ops->lag_family)
		return;
	if (!ops->lags && !(ops->lags = calloc(MAX_LAG_PARTITIONS, sizeof(*ops->lags))))
		return;
	char err[128], name[16];
	for (int32_t i = 0; i < MAX_LAG_PARTITIONS; i++) {
		struct lag_read *r = &ops->lags[i];
		bool held = ops->o.read_lag(ops->o.ud, i) >= 0;
		if (held == r->shown)
			continue;
		*r = (struct lag_read){ops, i, held};
		snprintf(name, sizeof(name), "%d", (int)i);
		const char *v[] = {name, NULL};
		ccp_metrics_callback(ops->lag_family, v, held ? read_lag : NULL, r, err, sizeof(err));
	}
}

void ccp_ops_observe_ack(struct ccp_ops *ops, double seconds)
{
	ccp_histogram_observe(ops->ack_latency, seconds);
}

static void on_metrics(void *ud, const struct ccp_http_request *req, struct ccp_http_response *res)
{
	struct ccp_ops *ops = ud;
	(void)req;
	ops->o.read_stats(ops->o.ud, &ops->snap);
	refresh_lags(ops);
	if (ccp_metrics_render(ops->metrics, &ops->buf)) {
		text(res, 500, "metrics: out of memory\n");
		return;
	}
	ccp_http_response_status(res, 200);
	ccp_http_response_content_type(res, CCP_METRICS_CONTENT_TYPE);
	ccp_http_response_body(res, ops->buf.data, ops->buf.len);
}

struct ccp_ops *ccp_ops_new(struct uv_loop_s *loop, const struct ccp_ops_opts *o, char *err, size_t errlen)
{
	struct ccp_ops *ops = calloc(1, sizeof(*ops));
	if (!ops || !(ops->metrics = ccp_metrics_new())) {
		free(ops);
		snprintf(err, errlen, "ops: out of memory");
		return NULL;
	}
	ops->o = *o;
	ccp_metrics_buf_init(&ops->buf);
	if (build_metrics(ops, err, errlen))
		goto fail;
	struct ccp_http_opts ho;
	ccp_http_opts_defaults(&ho);
	ho.addr = o->addr;
	ho.log = o->log;
	/* A whole center's snapshot of a few hundred queues is several hundred
	 * KB: a wallboard one snapshot behind must not be cut. */
	ho.sse_max_pending_bytes = 8u << 20;
	ops->http = ccp_http_new(loop, &ho, err, errlen);
	if (!ops->http)
		goto fail;
	if (ccp_http_route(ops->http, "/healthz", on_healthz, ops) || ccp_http_route(ops->http, "/readyz", on_readyz, ops) ||
	    ccp_http_route(ops->http, "/metrics", on_metrics, ops)) {
		snprintf(err, errlen, "ops: cannot add routes");
		ccp_http_close(ops->http, NULL, NULL);
		ops->http = NULL;
		goto fail;
	}
	if (o->cfg) {
		struct ccp_board_opts bo;
		ccp_board_opts_defaults(&bo);
		bo.cfg = o->cfg;
		bo.log = o->log;
		ops->board = ccp_board_new(loop, ops->http, &bo, err, errlen);
		if (!ops->board) {
			ccp_http_close(ops->http, NULL, NULL);
			ops->http = NULL;
			goto fail;
		}
	}
	return ops;
fail:
	free(ops->lags);
	ccp_metrics_buf_free(&ops->buf);
	ccp_metrics_free(ops->metrics);
	free(ops);
	return NULL;
}

int ccp_ops_port(const struct ccp_ops *ops)
{
	return ccp_http_port(ops->http);
}

static void ops_free(void *ud)
{
	struct ccp_ops *ops = ud;
	void (*cb)(void *) = ops->close_cb;
	void *cud = ops->close_ud;
	free(ops->lags);
	ccp_metrics_buf_free(&ops->buf);
	ccp_metrics_free(ops->metrics);
	free(ops);
	if (cb)
		cb(cud);
}

/* The board goes after the server: until then requests may reach it. */
static void http_closed(void *ud)
{
	struct ccp_ops *ops = ud;
	if (ops->board)
		ccp_board_close(ops->board, ops_free, ops);
	else
		ops_free(ops);
}

void ccp_ops_close(struct ccp_ops *ops, void (*cb)(void *ud), void *ud)
{
	ops->close_cb = cb;
	ops->close_ud = ud;
	ccp_http_close(ops->http, http_closed, ops);
}
