/* Renders one partition's figures as Redis commands (contract:
 * shared/contract/outputs.md). Writes are absolute: each hash is deleted
 * and rewritten inside the caller's MULTI/EXEC, so a figure that has no
 * data any more disappears, readers never see a half-written hash, and
 * writing the same state twice is harmless.
 */
#ifndef CCPULSE_PUBLISH_H
#define CCPULSE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/figures.h"

struct ccp_cmdbuf;
struct ccp_engine;

/* Options of one render. Owner: the caller; borrowed for the call. */
struct ccp_publish_opts {
	const char *prefix;   /* `{p}` */
	enum ccp_sl_variant sl_variant;
	int64_t wall_ms;      /* `updated_at` */
	/* Live pipeline: the agents_* live fields are written by the holder of
	 * the agent table (ccp_publish_agents), so the live hash is HSET
	 * without DEL and without them. Replay: false (one writer). */
	bool agents_elsewhere;
};

/* Appends, for every queue of `e`: DEL+HSET of `{p}:q:{queue}:{window}` for
 * each window and of `{p}:q:{queue}:live`, and SADD `{p}:queues`. Returns
 * the number of queues rendered. @thread owner of `e` */
size_t ccp_publish_queues(struct ccp_cmdbuf *cb, const struct ccp_engine *e,
			  const struct ccp_publish_opts *o);

/* Appends the commands of one queue (as above) and returns a fingerprint
 * of its figures, `updated_at` excluded, so the caller can tell which
 * queues changed since its previous render. @thread owner of `e` */
uint64_t ccp_publish_queue(struct ccp_cmdbuf *cb, const struct ccp_engine *e, uint32_t q,
			   const struct ccp_publish_opts *o);
/* The same, also handing back the fields it wrote: `wf[w]` for each of the
 * engine's windows (CCP_MAX_WINDOWS + 1 rows at least) and `lf`, for the
 * alert rules that judge them. */
uint64_t ccp_publish_queue_fields(struct ccp_cmdbuf *cb, const struct ccp_engine *e, uint32_t q,
				  const struct ccp_publish_opts *o, struct ccp_field (*wf)[CCP_WF__COUNT],
				  struct ccp_field lf[CCP_LF__COUNT]);

struct ccp_alert_transition;
/* Appends one alert transition of `partition`: XADD `{p}:alerts` MAXLEN ~
 * `maxlen` with rule, queue, (promise,) state, value, threshold, ts;
 * PUBLISH of the same as a JSON object on channel `{p}:alerts` (plus kind,
 * window and `since`, when the firing began); and the record of firing
 * alerts, hash `{p}:state:firing`: HSET of field
 * ccp_publish_firing_field() to that JSON on firing, HDEL on resolved. */
void ccp_publish_alert(struct ccp_cmdbuf *cb, const char *prefix, int64_t maxlen, int32_t partition,
		       const struct ccp_alert_transition *t);

struct ccp_webhook_alert;
/* The same transition as a webhook's alert (numbers formatted as in the
 * stream). */
void ccp_publish_webhook_alert(struct ccp_webhook_alert *out, const struct ccp_alert_transition *t);

/* A firing record's field: "P|LEN:rule|LEN:queue|LEN:promise", so any
 * bytes in ids round-trip. Returns its length, 0 if it does not fit. */
#define CCP_PUBLISH_FIRING_FIELD_MAX 512
size_t ccp_publish_firing_field(char *buf, size_t cap, int32_t partition, const char *rule, struct ccp_str queue,
				struct ccp_str promise);
/* Reads one back (the strings point into `field`); false if malformed. */
bool ccp_publish_firing_parse(const char *field, size_t len, int32_t *partition, struct ccp_str *rule,
			      struct ccp_str *queue, struct ccp_str *promise);

/* Appends HSET of the agents_* fields of queue q's live hash (and SADD to
 * `{p}:queues`) from an engine that holds the agent table; returns a
 * fingerprint of those counts. @thread owner of `e` */
uint64_t ccp_publish_agents(struct ccp_cmdbuf *cb, const struct ccp_engine *e, uint32_t q, const char *prefix);

/* Appends DEL+HSET of `key` with the present fields of a window. */
void ccp_publish_window_hash(struct ccp_cmdbuf *cb, const char *key, size_t keylen,
			     const struct ccp_field f[CCP_WF__COUNT]);
/* Appends DEL+HSET of `key` with the live fields. */
void ccp_publish_live_hash(struct ccp_cmdbuf *cb, const char *key, size_t keylen,
			   const struct ccp_field f[CCP_LF__COUNT]);

#endif
