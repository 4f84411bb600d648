/* A development Kafka cluster in process: librdkafka's mock cluster (an
 * experimental librdkafka API with no stability promise) on a dedicated
 * rd_kafka_t that exists only to own it. Its brokers listen on loopback
 * (127.0.0.1, ephemeral ports) and speak enough of the protocol for
 * producers, consumer groups, offset commits and metadata: what
 * `ccpulse demo`, `ccpulse broker` and the integration tests need. Data is
 * kept in memory and gone at stop. Topics not created here are created on
 * first use with librdkafka's mock default partition count.
 */
#ifndef CCPULSE_BROKER_H
#define CCPULSE_BROKER_H

#include <stddef.h>

struct ccp_broker;
struct rd_kafka_mock_cluster_s;

#define CCP_BROKER_MAX_BROKERS 16
#define CCP_BROKER_MAX_PARTITIONS 10000

/* A topic to create at start. */
struct ccp_broker_topic {
	const char *name;
	int partitions; /* 1..CCP_BROKER_MAX_PARTITIONS */
};

/* Starts `n_brokers` (1..CCP_BROKER_MAX_BROKERS) mock brokers and creates
 * the topics (replication factor min(n_brokers, 3)). Returns the broker or
 * NULL with a message naming the topic or the limit in `err`.
 * @thread any; the broker's own threads run until ccp_broker_stop() */
struct ccp_broker *ccp_broker_start(int n_brokers, const struct ccp_broker_topic *topics, size_t n_topics,
				    char *err, size_t errlen);
/* "127.0.0.1:PORT[,127.0.0.1:PORT...]": bootstrap.servers for clients.
 * Valid until stop. @thread any */
const char *ccp_broker_bootstrap(const struct ccp_broker *b);
/* The mock cluster, for fault injection in tests (rdkafka_mock.h). */
struct rd_kafka_mock_cluster_s *ccp_broker_mock_cluster(const struct ccp_broker *b);
/* Stops the brokers and frees everything; clients still connected see the
 * connection drop. NULL is a no-op. @thread owner */
void ccp_broker_stop(struct ccp_broker *b);

#endif
