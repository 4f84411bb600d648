/* A decoded contact or agent event (contract: shared/contract/events.md).
 *
 * Strings are slices: they point either into the caller's input buffer or
 * into the scratch area of the decoder that produced the event, so an event
 * lives no longer than both. Copy or intern before keeping anything.
 */
#ifndef CCPULSE_EVENT_H
#define CCPULSE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* Limits named by the contract or chosen here (README "Limits"). */
#define CCP_ID_MAX_BYTES 128       /* string id: 1..128 bytes, contract */
#define CCP_EVENT_MAX_BYTES 1048576 /* Kafka's default message.max.bytes */
#define CCP_EVENT_MAX_DEPTH 64     /* JSON nesting; deeper is bad_json */
#define CCP_AGENT_MAX_QUEUES 256   /* entries in agent.state `queues` */

/* A borrowed byte slice; not NUL-terminated. */
struct ccp_str {
	const char *ptr;
	uint32_t len;
};

enum ccp_event_type {
	CCP_EV_CONTACT_OFFERED,
	CCP_EV_CONTACT_ANSWERED,
	CCP_EV_CONTACT_ABANDONED,
	CCP_EV_CONTACT_TRANSFERRED,
	CCP_EV_CONTACT_ENDED,
	CCP_EV_PROMISE_MADE,
	CCP_EV_PROMISE_KEPT,
	CCP_EV_PROMISE_CANCELLED,
	CCP_EV_SURVEY_SUBMITTED,
	CCP_EV_COMPLAINT_OPENED,
	CCP_EV_COMPLAINT_RESOLVED,
	CCP_EV_AGENT_STATE,
	CCP_EV__COUNT
};

enum ccp_channel {
	CCP_CH_VOICE, /* the contract's default */
	CCP_CH_CHAT,
	CCP_CH_EMAIL,
	CCP_CH_SMS,
	CCP_CH_SOCIAL,
	CCP_CH_VIDEO,
	CCP_CH__COUNT
};

enum ccp_agent_state {
	CCP_AGENT_AVAILABLE,
	CCP_AGENT_BUSY,
	CCP_AGENT_WRAP_UP,
	CCP_AGENT_AWAY,
	CCP_AGENT_OFFLINE,
	CCP_AGENT__COUNT
};

enum ccp_promise_kind {
	CCP_PROMISE_CALLBACK,
	CCP_PROMISE_FOLLOW_UP,
	CCP_PROMISE_RESOLUTION,
	CCP_PROMISE_OTHER, /* the contract's default */
	CCP_PROMISE__COUNT
};

/* Survey dimensions, in the contract's order. */
enum ccp_survey_dim {
	CCP_DIM_RELIABILITY,
	CCP_DIM_RESPONSIVENESS,
	CCP_DIM_ASSURANCE,
	CCP_DIM_EMPATHY,
	CCP_DIM_TANGIBLES,
	CCP_DIM__COUNT
};

/* Why an event was rejected; exactly one per rejected event. The order
 * matches the contract's table and the `errors_<reason>` names. */
enum ccp_reject {
	CCP_REJECT_NONE = 0,
	CCP_REJECT_BAD_JSON,
	CCP_REJECT_MISSING_FIELD,
	CCP_REJECT_UNKNOWN_TYPE,
	CCP_REJECT_BAD_FIELD,
	CCP_REJECT_FUTURE_TS,
	CCP_REJECT__COUNT
};

/* One event. Fields not carried by its type are zero / empty. Optional
 * fields that were absent (or null) have their default, or len 0 for
 * strings. Owner: whoever called the decoder; lives until the input buffer
 * or the decoder is reused. */
struct ccp_event {
	enum ccp_event_type type;
	int64_t ts_ms; /* event time, epoch ms */
	struct ccp_str id;
	struct ccp_str queue;   /* len 0 only for agent.state without one */
	struct ccp_str contact; /* len 0 only for agent.state without one */
	enum ccp_channel channel;
	struct ccp_str agent; /* len 0 when absent */

	/* contact.offered */
	struct ccp_str transfer_from; /* len 0 when absent */
	/* contact.transferred */
	struct ccp_str to_queue, to_agent; /* len 0 when absent */
	/* contact.ended */
	bool resolved;
	/* promise.* */
	struct ccp_str promise;
	int64_t due_ms; /* promise.made only */
	enum ccp_promise_kind kind;
	/* survey.submitted: 1..5; dims are 0 when absent */
	uint8_t csat;
	uint8_t dims[CCP_DIM__COUNT];
	/* complaint.* */
	struct ccp_str complaint;
	/* agent.state */
	enum ccp_agent_state state;
	uint32_t n_queues;
	struct ccp_str queues[CCP_AGENT_MAX_QUEUES];
};

/* Contract names, for output and logs; index by the enums above. */
extern const char *const ccp_event_type_names[CCP_EV__COUNT];
extern const char *const ccp_channel_names[CCP_CH__COUNT];
extern const char *const ccp_agent_state_names[CCP_AGENT__COUNT];
extern const char *const ccp_promise_kind_names[CCP_PROMISE__COUNT];
extern const char *const ccp_survey_dim_names[CCP_DIM__COUNT];
/* "bad_json", "missing_field", ...; index 0 is "none". */
extern const char *const ccp_reject_names[CCP_REJECT__COUNT];

#endif
