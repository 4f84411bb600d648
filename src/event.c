/* Contract names of the event enums (shared/contract/events.md). */
#include "ccpulse/event.h"

const char *const ccp_event_type_names[CCP_EV__COUNT] = {
	"contact.offered",  "contact.answered",  "contact.abandoned", "contact.transferred",
	"contact.ended",    "promise.made",      "promise.kept",      "promise.cancelled",
	"survey.submitted", "complaint.opened",  "complaint.resolved", "agent.state",
};

const char *const ccp_channel_names[CCP_CH__COUNT] = {
	"voice", "chat", "email", "sms", "social", "video",
};

const char *const ccp_agent_state_names[CCP_AGENT__COUNT] = {
	"available", "busy", "wrap_up", "away", "offline",
};

const char *const ccp_promise_kind_names[CCP_PROMISE__COUNT] = {
	"callback", "follow_up", "resolution", "other",
};

const char *const ccp_survey_dim_names[CCP_DIM__COUNT] = {
	"reliability", "responsiveness", "assurance", "empathy", "tangibles",
};

const char *const ccp_reject_names[CCP_REJECT__COUNT] = {
	"none", "bad_json", "missing_field", "unknown_type", "bad_field", "future_ts",
};
