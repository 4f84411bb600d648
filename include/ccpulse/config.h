/* Configuration: defaults, then a YAML file, then CCPULSE_* environment
 * overrides, then command-line flags, into one struct that is immutable
 * once ccp_config_finish() has accepted it.
 *
 * Every scalar key is one row of a table in src/config.c (name, type,
 * default, bounds, flag, help, offset) that drives parsing, validation,
 * environment names, flags, the redacted printer and the generated docs
 * (docs/config.md). Three keys are structured and handled beside the
 * table: `windows` (a list), `queues.<queue>.service_level.<channel>`
 * (per-queue thresholds) and `kafka.<librdkafka key>` (passed through to
 * librdkafka unchanged, in file order).
 *
 * Usage (main thread, before any other thread starts):
 *   ccp_config_defaults(&c);
 *   ccp_config_load_file(&c, path, err, len);      (optional)
 *   ccp_config_apply_env(&c, err, len);
 *   ccp_config_apply_flag(&c, "--redis", url, err, len);   (per flag)
 *   ccp_config_finish(&c, err, len);
 *   ... read-only use by any thread ...
 *   ccp_config_free(&c);
 */
#ifndef CCPULSE_CONFIG_H
#define CCPULSE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ccpulse/alerts.h"
#include "ccpulse/engine.h"
#include "ccpulse/redis_url.h"

#define CCP_CONFIG_STR_MAX 512
#define CCP_CONFIG_MAX_KAFKA 256       /* kafka.* pass-through settings */
#define CCP_CONFIG_MAX_OVERRIDES 10000 /* queues with their own thresholds */
#define CCP_CONFIG_MAX_ALERT_RULES 1000
#define CCP_CONFIG_MAX_RULE_QUEUES 1000 /* queues named in one rule's scope */

/* ccp_config_apply_flag(): the flag is not a config flag. */
#define CCP_CONFIG_NOT_A_FLAG (-2)

/* A librdkafka setting passed through unchanged (`kafka.<key>`). */
struct ccp_kafka_kv {
	char key[128];
	char value[CCP_CONFIG_STR_MAX];
};

/* Where the config module gets memory. The fuzz target swaps in one that
 * fails on purpose; NULL members mean libc. */
struct ccp_config_alloc {
	void *(*realloc_fn)(void *ud, void *ptr, size_t size);
	void (*free_fn)(void *ud, void *ptr);
	void *ud;
};

/* The whole configuration. Owner: main; built before any thread starts and
 * read-only after ccp_config_finish(), so every thread may read it then.
 * Lives until ccp_config_free(). Durations are ms. */
struct ccp_config {
	/* windows, thresholds, horizons, sl variant; engine.tz and
	 * engine.sl_overrides point into this struct */
	struct ccp_engine_config engine;
	struct ccp_sl_override *overrides; /* == engine.sl_overrides; n = engine.n_sl_overrides */
	char timezone[64];
	struct ccp_tz *tz; /* loaded from `timezone` by ccp_config_finish() */
	char sl_variant[32];
	char brokers[CCP_CONFIG_STR_MAX], topic[256], agent_topic[256], group[256];
	char dead_letter_topic[256]; /* empty: off */
	struct ccp_kafka_kv *kafka;  /* kafka.* pass-through, in file order */
	uint32_t n_kafka;
	char redis_url[CCP_CONFIG_STR_MAX];
	struct ccp_redis_url redis;    /* parsed from redis_url (redis_url.h) */
	char prefix[64];
	char http_addr[128];
	char webhook_url[1024];     /* alerts.webhook.url; empty: no webhook */
	char webhook_format[16];    /* generic | alertmanager */
	char webhook_header[1024];  /* one "Name: value" line; empty: none */
	int64_t webhook_timeout_ms;
	int64_t publish_interval_ms;
	int64_t workers; /* 0: one per core (resolved by the caller) */
	int64_t max_future_skew_ms;
	int64_t checkpoint_interval_ms; /* partition state to Redis at most this often */
	int64_t idle_advance_ms;       /* 0: partitions never follow the wall clock */
	int64_t minutes_stream_maxlen;
	int64_t alerts_stream_maxlen;
	char wallboard_window[CCP_WINDOW_NAME_MAX]; /* default window of the wallboard and /api/queues */
	double wallboard_sl_target;    /* service level target of the wallboard's colours, 0..1 */
	struct ccp_alert_rule *alert_rules; /* `alerts.rules`, in file order */
	uint32_t n_alert_rules;
	char log_level[16], log_format[16];
	struct ccp_config_alloc alloc;
	uint32_t _kafka_cap, _overrides_cap, _rules_cap; /* private: allocated entries */
	bool _wallboard_window_set; /* private: wallboard.window was given (not the default) */
};

/* Fills every default (no allocation; never fails). */
void ccp_config_defaults(struct ccp_config *c);

/* Routes the module's allocations through `a` (fuzzing); call right after
 * ccp_config_defaults(). */
void ccp_config_set_alloc(struct ccp_config *c, const struct ccp_config_alloc *a);

/* Loads a YAML file over the current values. Returns 0, or -1 with
 * "FILE:LINE:COL: key=value: problem" in `err`. @thread main */
int ccp_config_load_file(struct ccp_config *c, const char *path, char *err, size_t errlen);
/* The same from memory; `name` stands for the file in messages. */
int ccp_config_load_buffer(struct ccp_config *c, const char *name, const char *yaml, size_t len, char *err,
			   size_t errlen);

/* Applies CCPULSE_<KEY> environment overrides (every scalar key; '.' ->
 * '_', upper case). The message names the variable. @thread main */
int ccp_config_apply_env(struct ccp_config *c, char *err, size_t errlen);

/* Applies one command-line flag ("--brokers", "--redis", ...; see
 * ccp_config_flags_usage) with its value. Returns 0, -1 (bad value; the
 * message names the flag), or CCP_CONFIG_NOT_A_FLAG. @thread main */
int ccp_config_apply_flag(struct ccp_config *c, const char *flag, const char *value, char *err,
			  size_t errlen);

/* True if `flag` ("--redis") is one of the config flags. Pure. */
bool ccp_config_is_flag(const char *flag);

/* Sets one key from text ("redis.url", "kafka.sasl.mechanisms",
 * "queues.billing.service_level.chat"), as the file would. */
int ccp_config_set(struct ccp_config *c, const char *key, const char *value, char *err, size_t errlen);

/* Checks the rules that span keys, loads the time zone and checks the
 * engine accepts the settings; call once after the last change. */
int ccp_config_finish(struct ccp_config *c, char *err, size_t errlen);

/* Releases what `c` holds (lists, the zone); `c` itself is the caller's.
 * Safe on a config that was only given defaults, and twice. */
void ccp_config_free(struct ccp_config *c);

/* Prints the effective configuration as YAML; secrets (the Redis password,
 * kafka.* keys naming a password or secret) are printed as "***". */
void ccp_config_print(const struct ccp_config *c, FILE *f);

/* Prints docs/config.md (the key table as Markdown). */
void ccp_config_doc_markdown(FILE *f);

/* Prints the config flags, one per line, for --help. */
void ccp_config_flags_usage(FILE *f);

/* Parses a duration: "250ms", "10s", "5m", "1h", "7d" or integer ms.
 * Returns 0, or -1. Pure. */
int ccp_config_parse_duration(const char *s, int64_t *out_ms);

#endif
