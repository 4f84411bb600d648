/* ccp-test-labels: threaded */
/* The operations endpoints of a running pipeline (mock Kafka cluster,
 * private Redis): /healthz answers, /readyz turns ready once partitions
 * are assigned and Redis is connected and flips to 503 when Redis goes
 * away, /metrics is Prometheus text whose counters move as events flow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "ccp_test.h"
#include "ccpulse/broker.h"
#include "ccpulse/config.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"

#define TOPIC "contact-events"

/* GET `path` over HTTP/1.0; the status, and the body in `body`. */
static int http_get(int port, const char *path, char *body, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	static char resp[1 << 20];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(resp) - 1 && (r = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	resp[len] = 0;
	int status = 0;
	assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", &status), 1);
	const char *b = strstr(resp, "\r\n\r\n");
	snprintf(body, cap, "%s", b ? b + 4 : "");
	return status;
}

/* The value of the sample line starting with `series ` in a metrics page. */
static double sample(const char *page, const char *series)
{
	size_t l = strlen(series);
	for (const char *p = page; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, series, l) && p[l] == ' ')
			return strtod(p + l + 1, NULL);
	fail_msg("no sample %s in:\n%s", series, page);
	return -1;
}

/* Every line a comment (# HELP/# TYPE) or `name[{labels}] value`. */
static void check_exposition(const char *page)
{
	for (const char *p = page; *p;) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		if (*p == '#') {
			assert_true(!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7));
		} else {
			const char *sp = memchr(p, ' ', (size_t)(nl - p));
			assert_non_null(sp);
			char *end;
			strtod(sp + 1, &end);
			assert_ptr_equal(end, nl);
			assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
		}
		p = nl + 1;
	}
}

struct world {
	struct ccp_broker *broker;
	struct ccp_test_redis redis;
	struct ccp_config cfg;
	struct ccp_log log;
	struct ccp_pipeline *p;
};

static bool assigned(void *arg)
{
	struct ccp_pipeline_stats st;
	ccp_pipeline_stats(arg, &st);
	return st.partitions == 2;
}

struct page_wait {
	int port;
	const char *path;
	int want;
	char body[1 << 16];
};

static bool status_is(void *arg)
{
	struct page_wait *w = arg;
	return http_get(w->port, w->path, w->body, sizeof(w->body)) == w->want;
}

static void test_health_ready_metrics(void **state)
{
	(void)state;
	struct world w;
	memset(&w, 0, sizeof(w));
	char err[512];
	struct ccp_broker_topic topics[] = {{TOPIC, 2}, {"agent-events", 1}};
	w.broker = ccp_broker_start(1, topics, 2, err, sizeof(err));
	assert_non_null(w.broker);
	ccp_test_redis_start(&w.redis, NULL);
	ccp_config_defaults(&w.cfg);
	const char *kv[][2] = {{"kafka.brokers", ccp_broker_bootstrap(w.broker)},
			       {"redis.url", w.redis.url},
			       {"publish_interval", "100ms"},
			       {"kafka.auto.offset.reset", "earliest"},
			       {"kafka.session.timeout.ms", "6000"},
			       {"workers", "1"},
			       {"http.addr", "127.0.0.1:0"}};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		assert_int_equal(ccp_config_set(&w.cfg, kv[i][0], kv[i][1], err, sizeof(err)), 0);
	assert_int_equal(ccp_config_finish(&w.cfg, err, sizeof(err)), 0);
	ccp_log_init(&w.log);
	w.log.level = CCP_LOG_WARN;
	struct ccp_pipeline_opts o = {.cfg = &w.cfg, .log = &w.log, .client_id = "ops"};
	w.p = ccp_pipeline_new(&o, err, sizeof(err));
	assert_non_null(w.p);
	assert_int_equal(ccp_pipeline_start(w.p), 0);
	struct page_wait pw = {0};
	long long until = ccp_test_now_ms() + ccp_test_ms(10000);
	while (!(pw.port = ccp_pipeline_http_port(w.p)) && ccp_test_now_ms() < until)
		usleep(10000);
	assert_true(pw.port > 0);

	assert_int_equal(http_get(pw.port, "/healthz", pw.body, sizeof(pw.body)), 200);
	pw.path = "/readyz";
	pw.want = 200;
	assert_true(ccp_test_wait_until(status_is, &pw, ccp_test_ms(30000)));
	assert_true(ccp_test_wait_until(assigned, w.p, ccp_test_ms(10000))); /* both, one by one */

	/* 50 events and 2 bad lines flow: the counters show them. */
	rd_kafka_conf_t *pc = rd_kafka_conf_new();
	rd_kafka_conf_set(pc, "bootstrap.servers", ccp_broker_bootstrap(w.broker), err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
	assert_non_null(rk);
	char line[256];
	for (int i = 0; i < 52; i++) {
		int n = i < 50 ? snprintf(line, sizeof(line),
					  "{\"id\":\"m%d\",\"type\":\"contact.offered\",\"ts\":1795339800000,"
					  "\"queue\":\"q%d\",\"contact\":\"c%d\"}",
					  i, i % 3, i)
			       : snprintf(line, sizeof(line), "{\"id\":\"bad%d\"", i);
		assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY("k", 1),
						   RD_KAFKA_V_VALUE(line, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						   RD_KAFKA_V_END),
				 RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	assert_int_equal(rd_kafka_flush(rk, ccp_test_ms(10000)), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
	double consumed = 0;
	until = ccp_test_now_ms() + ccp_test_ms(30000);
	double acked = 0;
	while ((consumed < 52 || acked < 1) && ccp_test_now_ms() < until) {
		assert_int_equal(http_get(pw.port, "/metrics", pw.body, sizeof(pw.body)), 200);
		consumed = sample(pw.body, "ccpulse_events_consumed_total");
		acked = sample(pw.body, "ccpulse_render_ack_seconds_count");
		usleep(20000);
	}
	check_exposition(pw.body);
	assert_true(consumed == 52);
	assert_true(sample(pw.body, "ccpulse_events_applied_total") == 50);
	assert_true(sample(pw.body, "ccpulse_events_rejected_total{reason=\"bad_json\"}") == 2);
	assert_true(sample(pw.body, "ccpulse_partitions_assigned") == 2);
	assert_true(sample(pw.body, "ccpulse_redis_connected") == 1);
	assert_non_null(strstr(pw.body, "# TYPE ccpulse_events_consumed_total counter\n"));
	assert_non_null(strstr(pw.body, "ccpulse_build_info{version=\""));
	/* Every message had one key, so one partition read them all: its lag
	 * is known and, caught up, 0 (the other has read nothing: unknown). */
	const char *lag = strstr(pw.body, "\nccpulse_consumer_lag{partition=\"");
	assert_non_null(lag);
	assert_true(strtod(strchr(lag + 1, ' ') + 1, NULL) == 0);
	assert_true(sample(pw.body, "ccpulse_render_ack_seconds_count") > 0);
	assert_true(sample(pw.body, "ccpulse_render_ack_seconds_bucket{le=\"+Inf\"}") ==
		    sample(pw.body, "ccpulse_render_ack_seconds_count"));

	/* Redis goes away: not ready, with the reason; back: ready again. */
	ccp_test_redis_stop(&w.redis);
	pw.want = 503;
	assert_true(ccp_test_wait_until(status_is, &pw, ccp_test_ms(30000)));
	assert_non_null(strstr(pw.body, "Redis"));
	assert_int_equal(http_get(pw.port, "/healthz", pw.body, sizeof(pw.body)), 200); /* alive all along */
	ccp_test_redis_restart(&w.redis);
	pw.want = 200;
	assert_true(ccp_test_wait_until(status_is, &pw, ccp_test_ms(30000)));
	/* The outage is on record. */
	struct page_wait mw = {.port = pw.port, .path = "/metrics", .want = 200};
	double disconnects = 0, connects = 0;
	until = ccp_test_now_ms() + ccp_test_ms(10000);
	while ((disconnects < 1 || connects < 2) && ccp_test_now_ms() < until) {
		assert_int_equal(http_get(mw.port, "/metrics", mw.body, sizeof(mw.body)), 200);
		disconnects = sample(mw.body, "ccpulse_redis_disconnects_total");
		connects = sample(mw.body, "ccpulse_redis_connects_total");
		usleep(50000);
	}
	assert_true(disconnects >= 1);
	assert_true(connects >= 2); /* the first connection and the reconnect */

	ccp_pipeline_stop(w.p);
	assert_int_equal(ccp_pipeline_join(w.p, err, sizeof(err)), 0);
	ccp_pipeline_free(w.p);
	ccp_config_free(&w.cfg);
	ccp_test_redis_free(&w.redis);
	ccp_broker_stop(w.broker);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_ready_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
