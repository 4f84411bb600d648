/* The traffic simulator: a discrete-event simulation of a contact center
 * that emits the events of shared/contract/events.md in timestamp order.
 *
 * Model, per queue:
 * - Arrivals are a Poisson process at calls_per_hour times the curve (the
 *   curve's peak is 1.0, so calls_per_hour is the peak-hour rate), drawn by
 *   thinning; each contact gets a channel from the queue's mix.
 * - `agents` agents have the queue as home; a share of them also serve a
 *   second queue. Staffing follows the curve: every 15 minutes each queue
 *   rosters ceil(agents * curve) of its agents (at least 1); agents log on
 *   (available) and off (offline, after finishing their work) to match.
 * - A free agent (longest idle first) answers at once; otherwise the contact
 *   waits FIFO. Handle time is exponential with mean aht_s (talk, then a
 *   fixed share of it as wrap-up: busy -> wrap_up -> available), so the
 *   queue is M/M/c as long as patience is infinite and nothing else mixes
 *   in. Patience is exponential with mean patience_s (INFINITY: never
 *   abandons); a contact still waiting when it runs out abandons.
 * - After talking, a share is transferred to another queue (transferred +
 *   offered with transfer_from, once per contact); the rest end, resolved
 *   or not. Some ends bring a promise (due minutes to hours later; later
 *   kept on time, kept late, never kept or cancelled), a survey (csat
 *   falling with the wait and when unresolved, sometimes with the five
 *   dimensions), or a complaint (opened, mostly resolved hours later).
 *   Agents sometimes take a short break (away) after wrap-up.
 *
 * Time is integer epoch ms; ties keep the order of scheduling, so a run is
 * a pure function of the config and the seed (own PRNG, xoshiro256**).
 * Nothing at or after start_ms + duration_ms is emitted. Memory comes from
 * pools that grow geometrically, so the steady state allocates nothing.
 */
#ifndef CCPULSE_SIM_H
#define CCPULSE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpulse/event.h"

#define CCP_SIM_MAX_QUEUES 64
#define CCP_SIM_QUEUE_NAME_MAX 64     /* bytes; [A-Za-z0-9_.-] only */
#define CCP_SIM_MAX_AGENTS_PER_QUEUE 10000
#define CCP_SIM_EVENT_MAX_BYTES 1024  /* one formatted event, with its newline */
#define CCP_SIM_KEY_MAX_BYTES 80      /* a Kafka key: queue name or agent id */

enum ccp_sim_curve {
	CCP_SIM_CURVE_FLAT, /* 1.0 all day */
	CCP_SIM_CURVE_DAY,  /* low at night, peaks mid-morning and early afternoon (UTC hours) */
};

/* One queue of the model. Owner: the caller (copied by ccp_sim_new). */
struct ccp_sim_queue_spec {
	char name[CCP_SIM_QUEUE_NAME_MAX + 1];
	double calls_per_hour; /* at the curve's peak */
	double aht_s;          /* mean handle time, talk + wrap-up */
	int agents;            /* at the curve's peak */
	double patience_s;     /* mean; INFINITY: never abandons */
	double channel_share[CCP_CH__COUNT]; /* weights; all 0 means voice */
};

/* Everything that shapes a run. Owner: the caller (copied by
 * ccp_sim_new). Shares are probabilities in [0, 1]. */
struct ccp_sim_config {
	struct ccp_sim_queue_spec queues[CCP_SIM_MAX_QUEUES];
	int n_queues;
	enum ccp_sim_curve curve;
	int64_t start_ms;    /* epoch ms of the first instant */
	int64_t duration_ms; /* horizon; nothing at or after start + duration */
	uint64_t seed;

	double shared_agent_share; /* agents who also serve a second queue */
	double wrap_share;         /* of the handle time spent in wrap-up */
	double transfer_share;     /* of answered contacts, handed to another queue */
	double resolved_share;     /* of ended contacts (less after long waits) */
	double break_share;        /* of wrap-ups followed by a break (away) */
	double break_mean_s;
	double promise_share_resolved;   /* of resolved ends, a promise */
	double promise_share_unresolved; /* of unresolved ends */
	/* Promise outcomes; the rest of 1 is "never kept". */
	double promise_on_time_share, promise_late_share, promise_cancel_share;
	double survey_share;      /* of ends, a survey */
	double survey_dims_share; /* of surveys, with the five dimensions */
	double complaint_share;   /* of ends (more when unresolved or after long waits) */
	double complaint_resolve_share;
};

/* Fills `c` with the default center (several queues on the day curve,
 * start 0, 8 hours, seed 1) and the default shares. Pure. */
void ccp_sim_config_default(struct ccp_sim_config *c);

/* A channel mix guessed from a queue name ("chat..." mostly chat, "email"
 * mostly email, else mostly voice) into `share`. Pure. */
void ccp_sim_channel_mix_for(const char *queue_name, double share[CCP_CH__COUNT]);

/* One emitted event, before formatting. Owner: the caller; valid until
 * the next ccp_sim_next on the same sim (it indexes the sim's tables). */
struct ccp_sim_event {
	enum ccp_event_type type;
	int64_t ts_ms;
	uint64_t n;          /* event number; the id is e-<seed>-<n> */
	int queue;           /* index into config queues; -1 for agent.state */
	int other_queue;     /* to_queue (transferred) / transfer_from (offered); -1 none */
	uint64_t contact;    /* contact number; id c-<seed>-<n> */
	enum ccp_channel channel;
	int agent;           /* agent index; -1 none; id a-<1001 + index> */
	bool resolved;       /* contact.ended */
	uint64_t promise;    /* promise number; id p-<seed>-<n> */
	int64_t due_ms;
	enum ccp_promise_kind kind;
	uint8_t csat;
	uint8_t dims[CCP_DIM__COUNT]; /* 0 when absent */
	uint64_t complaint;  /* complaint number; id k-<seed>-<n> */
	enum ccp_agent_state state;
	int64_t wait_ms;     /* answered/abandoned: the wait (not emitted) */
};

/* Counts over the emitted events of one queue, for the Erlang comparison.
 * Owner: the caller. */
struct ccp_sim_queue_stats {
	uint64_t offered, transferred_in, answered, answered_waited, abandoned, ended;
	uint64_t answered_in_sl; /* wait <= the threshold given to ccp_sim_new */
	double wait_sum_ms;      /* over answered */
};

struct ccp_sim;

/* Checks `cfg` and builds a run. `sl_threshold_ms` is the service level
 * threshold for the stats. Returns 0, or -EINVAL (message in `err` naming
 * the queue and field) or -ENOMEM. @thread any (the sim is then owned by
 * that thread) */
int ccp_sim_new(const struct ccp_sim_config *cfg, int64_t sl_threshold_ms, struct ccp_sim **out,
		char *err, size_t errlen);
void ccp_sim_free(struct ccp_sim *s);

/* The next event in timestamp order into `ev`: 1, or 0 at the horizon.
 * @thread owner */
int ccp_sim_next(struct ccp_sim *s, struct ccp_sim_event *ev);

/* Formats `ev` as one JSON line (with '\n') into `buf` of `cap` >=
 * CCP_SIM_EVENT_MAX_BYTES bytes; returns the length (0 if cap is too
 * small). @thread owner */
size_t ccp_sim_format(const struct ccp_sim *s, const struct ccp_sim_event *ev, char *buf, size_t cap);

/* The Kafka key of `ev` (queue name; agent id for agent.state) into `buf`
 * of CCP_SIM_KEY_MAX_BYTES; returns its length. @thread owner */
size_t ccp_sim_key(const struct ccp_sim *s, const struct ccp_sim_event *ev, char *buf, size_t cap);

/* The config the run was built from (after ccp_sim_new's checks). */
const struct ccp_sim_config *ccp_sim_config(const struct ccp_sim *s);
/* Stats of queue `q` over the events emitted so far. */
void ccp_sim_stats(const struct ccp_sim *s, int q, struct ccp_sim_queue_stats *out);
/* The curve's multiplier (0..1] at `t_ms`. Pure. */
double ccp_sim_curve_at(enum ccp_sim_curve curve, int64_t t_ms);

#endif
