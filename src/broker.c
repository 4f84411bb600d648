/* The in-process dev cluster (see include/ccpulse/broker.h). */
#include "ccpulse/broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* A running mock cluster. Owner: whoever started it; librdkafka's threads
 * serve the brokers. Lives from ccp_broker_start() to ccp_broker_stop(). */
struct ccp_broker {
	rd_kafka_t *rk; /* owns the cluster and nothing else */
	rd_kafka_mock_cluster_t *mc;
	char bootstrap[1024];
};

struct ccp_broker *ccp_broker_start(int n_brokers, const struct ccp_broker_topic *topics, size_t n_topics,
				    char *err, size_t errlen)
{
	char e[512];
	if (n_brokers < 1 || n_brokers > CCP_BROKER_MAX_BROKERS) {
		snprintf(err, errlen, "broker: brokers-count=%d: must be 1..%d", n_brokers, CCP_BROKER_MAX_BROKERS);
		return NULL;
	}
	for (size_t i = 0; i < n_topics; i++) {
		if (!topics[i].name || !*topics[i].name || strlen(topics[i].name) > 249) {
			snprintf(err, errlen, "broker: topic #%zu: name must be 1..249 bytes", i + 1);
			return NULL;
		}
		if (topics[i].partitions < 1 || topics[i].partitions > CCP_BROKER_MAX_PARTITIONS) {
			snprintf(err, errlen, "broker: topic %s: partitions=%d: must be 1..%d", topics[i].name,
				 topics[i].partitions, CCP_BROKER_MAX_PARTITIONS);
			return NULL;
		}
	}
	struct ccp_broker *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "broker: out of memory");
		return NULL;
	}
	/* A producer with no bootstrap servers: it never connects anywhere.
	 * Errors only, so the "no bootstrap.servers" notice stays quiet. */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", "ccpulse-broker", e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "broker: %s", e);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!b->rk) {
		snprintf(err, errlen, "broker: rd_kafka_new: %s", e);
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	conf = NULL; /* now owned by rk */
	b->mc = rd_kafka_mock_cluster_new(b->rk, n_brokers);
	if (!b->mc) {
		snprintf(err, errlen, "broker: rd_kafka_mock_cluster_new(%d) failed", n_brokers);
		goto fail;
	}
	int rf = n_brokers < 3 ? n_brokers : 3;
	for (size_t i = 0; i < n_topics; i++) {
		rd_kafka_resp_err_t re = rd_kafka_mock_topic_create(b->mc, topics[i].name, topics[i].partitions, rf);
		if (re) {
			snprintf(err, errlen, "broker: create topic %s (%d partitions): %s", topics[i].name,
				 topics[i].partitions, rd_kafka_err2str(re));
			goto fail;
		}
	}
	snprintf(b->bootstrap, sizeof(b->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(b->mc));
	return b;
fail:
	ccp_broker_stop(b);
	return NULL;
}

const char *ccp_broker_bootstrap(const struct ccp_broker *b)
{
	return b->bootstrap;
}

struct rd_kafka_mock_cluster_s *ccp_broker_mock_cluster(const struct ccp_broker *b)
{
	return b->mc;
}

void ccp_broker_stop(struct ccp_broker *b)
{
	if (!b)
		return;
	if (b->mc)
		rd_kafka_mock_cluster_destroy(b->mc);
	if (b->rk)
		rd_kafka_destroy(b->rk);
	free(b);
}
