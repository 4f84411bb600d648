/* Configuration: a YAML file, then CCPULSE_* environment overrides, then
 * command-line flags, into one immutable struct. Every scalar key is one row
 * of a table (type, default, bounds, help) that drives parsing, validation,
 * environment names and the generated docs (docs/config.md).
 */
#ifndef CCPULSE_CONFIG_H
#define CCPULSE_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "ccpulse/engine.h"

#define CCP_CONFIG_STR_MAX 512
#define CCP_CONFIG_MAX_KAFKA 64
#define CCP_CONFIG_MAX_OVERRIDES 1024

/* A librdkafka setting passed through unchanged (`kafka.<name>`). */
struct ccp_kafka_kv {
	char key[128];
	char value[CCP_CONFIG_STR_MAX];
};

/* The whole configuration. Owner: main; built before any thread starts and
 * read-only afterwards, so every thread may read it. */
struct ccp_config {
	struct ccp_engine_config engine; /* windows, thresholds, horizons, tz */
	struct ccp_sl_override overrides[CCP_CONFIG_MAX_OVERRIDES];
	char timezone[64];
	struct ccp_tz *tz; /* loaded from `timezone`; engine.tz points here */
	char sl_variant[32];
	char brokers[CCP_CONFIG_STR_MAX], topic[256], agent_topic[256], group[256];
	char dead_letter_topic[256];
	struct ccp_kafka_kv kafka[CCP_CONFIG_MAX_KAFKA];
	uint32_t n_kafka;
	char redis_url[CCP_CONFIG_STR_MAX];
	char prefix[64];
	char http_addr[128];
	int64_t publish_interval_ms;
	int64_t workers;
	int64_t max_future_skew_ms;
	int64_t alerts_stream_maxlen;
	char log_level[16], log_format[16];
};

/* Fills every default. */
void ccp_config_defaults(struct ccp_config *c);
/* Loads a YAML file over the current values. Returns 0, or -1 with
 * "FILE:LINE:COL: key: problem" in err. @thread main */
int ccp_config_load_file(struct ccp_config *c, const char *path, char *err, size_t errlen);
/* Applies CCPULSE_<KEY> environment overrides. */
int ccp_config_apply_env(struct ccp_config *c, char *err, size_t errlen);
/* Sets one scalar key from text ("redis.url", "redis://..."). */
int ccp_config_set(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen);
/* Checks cross-key rules and loads the time zone; call once at the end. */
int ccp_config_finish(struct ccp_config *c, char *err, size_t errlen);
void ccp_config_release(struct ccp_config *c); /* frees the loaded zone */
/* Prints the effective configuration as YAML, secrets redacted. */
void ccp_config_print(const struct ccp_config *c, FILE *f);
/* Prints the key table as a Markdown table (docs/config.md). */
void ccp_config_doc_markdown(FILE *f);

#endif
