/* The traffic simulator (model in include/ccpulse/sim.h).
 *
 * Design: one binary min-heap of timers ordered by (time, sequence) drives
 * the model; handling a timer changes queues and agents and appends the
 * events it causes, all stamped with the current time, to an output FIFO.
 * Because timers are handled in time order and every event carries the
 * time of the timer that caused it, the output is in timestamp order
 * without a second sort. Things that happen later (a survey, a promise's
 * outcome) are timers of their own that carry what their event needs, so
 * a contact's slot is freed when it ends.
 *
 * Cancelling a timer (an answered contact's patience) is lazy: the timer
 * names the contact slot and its generation, and does nothing if the slot
 * has moved on. Contacts, timers and pending events live in arrays that
 * double when full; slots are reused through a free list, so a long run
 * stops allocating once the arrays fit its peak.
 */
#include "ccpulse/sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_HOUR 3600000.0
#define STAFF_TICK_MS (15 * 60 * 1000)
#define LOGON_SPREAD_MS 120000.0 /* agents log on/off within 2 min of a tick */
#define NONE (-1)

/* ---- PRNG: xoshiro256**, seeded through splitmix64 -------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1), 53 bits. */
static double rng_u01(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_exp(struct rng *r, double mean)
{
	return -mean * log1p(-rng_u01(r));
}

/* Roughly standard normal: a sum of four uniforms has variance 1/3. */
static double rng_normal(struct rng *r)
{
	double s = rng_u01(r) + rng_u01(r) + rng_u01(r) + rng_u01(r);
	return (s - 2.0) * 1.7320508075688772;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_u01(r) * n);
}

/* ---- the daily curve --------------------------------------------------- */

/* Multiplier at hh:00 UTC: quiet nights, a ramp from 06:00, a peak at
 * 10:00, a lunch dip, a second peak at 14:00, a long evening tail. */
static const double day_curve[24] = {
	0.08, 0.05, 0.04, 0.04, 0.05, 0.10, 0.22, 0.45, 0.75, 0.95, 1.00, 0.92,
	0.78, 0.85, 0.93, 0.88, 0.75, 0.58, 0.42, 0.32, 0.25, 0.19, 0.14, 0.10,
};

double ccp_sim_curve_at(enum ccp_sim_curve curve, int64_t t_ms)
{
	if (curve == CCP_SIM_CURVE_FLAT)
		return 1.0;
	int64_t day_ms = t_ms % 86400000;
	if (day_ms < 0)
		day_ms += 86400000;
	double h = (double)day_ms / MS_PER_HOUR;
	int i = (int)h;
	double f = h - i;
	return day_curve[i] * (1.0 - f) + day_curve[(i + 1) % 24] * f;
}

/* ---- defaults ------------------------------------------------------------ */

void ccp_sim_channel_mix_for(const char *queue_name, double share[CCP_CH__COUNT])
{
	for (int i = 0; i < CCP_CH__COUNT; i++)
		share[i] = 0;
	if (strstr(queue_name, "chat")) {
		share[CCP_CH_CHAT] = 0.85;
		share[CCP_CH_SOCIAL] = 0.10;
		share[CCP_CH_SMS] = 0.05;
	} else if (strstr(queue_name, "email") || strstr(queue_name, "mail")) {
		share[CCP_CH_EMAIL] = 0.95;
		share[CCP_CH_SOCIAL] = 0.05;
	} else {
		share[CCP_CH_VOICE] = 0.88;
		share[CCP_CH_CHAT] = 0.06;
		share[CCP_CH_EMAIL] = 0.03;
		share[CCP_CH_SMS] = 0.01;
		share[CCP_CH_SOCIAL] = 0.01;
		share[CCP_CH_VIDEO] = 0.01;
	}
}

static void default_queue(struct ccp_sim_queue_spec *q, const char *name, double cph, double aht_s,
			  int agents, double patience_s)
{
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->calls_per_hour = cph;
	q->aht_s = aht_s;
	q->agents = agents;
	q->patience_s = patience_s;
	ccp_sim_channel_mix_for(name, q->channel_share);
}

void ccp_sim_config_default(struct ccp_sim_config *c)
{
	memset(c, 0, sizeof(*c));
	/* Peak-hour figures of a mid-sized center: each queue staffed a little
	 * above its offered load (A = cph * aht / 3600 erlangs). */
	default_queue(&c->queues[0], "billing", 240, 300, 24, 180);      /* A = 20 */
	default_queue(&c->queues[1], "tech_support", 180, 540, 30, 240); /* A = 27 */
	default_queue(&c->queues[2], "sales", 150, 360, 18, 120);        /* A = 15 */
	default_queue(&c->queues[3], "retention", 60, 600, 12, 300);     /* A = 10 */
	default_queue(&c->queues[4], "chat_support", 200, 420, 26, 600); /* A = 23.3 */
	c->n_queues = 5;
	c->curve = CCP_SIM_CURVE_DAY;
	c->start_ms = 0;
	c->duration_ms = 8 * 3600000LL;
	c->seed = 1;
	c->shared_agent_share = 0.2;
	c->wrap_share = 0.2;
	c->transfer_share = 0.04;
	c->resolved_share = 0.78;
	c->break_share = 0.03;
	c->break_mean_s = 300;
	c->promise_share_resolved = 0.06;
	c->promise_share_unresolved = 0.4;
	c->promise_on_time_share = 0.72;
	c->promise_late_share = 0.10;
	c->promise_cancel_share = 0.08;
	c->survey_share = 0.3;
	c->survey_dims_share = 0.4;
	c->complaint_share = 0.01;
	c->complaint_resolve_share = 0.9;
}

/* ---- state --------------------------------------------------------------- */

enum timer_kind {
	T_ARRIVAL,
	T_PATIENCE,
	T_TALK_END,
	T_WRAP_END,
	T_BREAK_END,
	T_STAFF,
	T_LOGON,
	T_LOGOFF,
	T_SURVEY,
	T_PROMISE_KEPT,
	T_PROMISE_CANCEL,
	T_COMPLAINT_OPEN,
	T_COMPLAINT_RESOLVE,
};

/* A pending happening. Owner: the sim's heap (by value). */
struct timer {
	int64_t t_ms;
	uint64_t seq;  /* scheduling order: breaks ties, so runs are reproducible */
	uint64_t num;  /* contact, promise or complaint number */
	uint64_t num2; /* the contact number of a promise or complaint */
	int32_t idx;   /* contact slot or agent index */
	uint32_t gen;  /* contact slot generation (patience timers) */
	int32_t agent;
	int32_t wait_s;
	int16_t queue;
	uint8_t kind;
	uint8_t channel;
	uint8_t resolved;
};

/* A contact between its offer and its end. Owner: the sim's contact pool. */
struct contact {
	uint64_t num;
	int64_t offered_ms; /* of the latest offer (transfers restart the wait) */
	int64_t first_wait_ms;
	int32_t prev, next; /* the queue's waiting list, or the free list (next) */
	uint32_t gen;       /* bumped on every state change that voids timers */
	int16_t queue;
	int16_t from_queue; /* transferred in from, or NONE */
	uint8_t channel;
	uint8_t waiting;
};

/* Owner: the sim. */
struct agent {
	int16_t q[2];
	int16_t nq;
	int16_t home;
	enum ccp_agent_state state;
	bool rostered; /* should be logged on; when false it logs off once free */
	int64_t idle_since_ms;
	int32_t contact; /* slot while busy, else NONE */
	int64_t wrap_ms;  /* wrap-up of the current contact */
};

/* Owner: the sim. */
struct squeue {
	double peak_rate_per_ms;
	double aht_ms, patience_ms;
	double ch_cum[CCP_CH__COUNT]; /* cumulative channel shares, last = 1 */
	double arrival_ms;            /* exact clock of the arrival process */
	int32_t head, tail;           /* waiting list, oldest first */
	int *agents;                  /* those serving it (into sim->serve) */
	int n_agents;
	int home_first, home_count;   /* its home agents' index range */
	struct ccp_sim_queue_stats st;
};

/* The whole run. Owner: the thread that created it; lives until
 * ccp_sim_free. */
struct ccp_sim {
	struct ccp_sim_config cfg;
	struct rng rng;
	int64_t now_ms, end_ms, sl_threshold_ms;
	uint64_t seq, n_events, n_contacts, n_promises, n_complaints;
	int error; /* sticky -ENOMEM */
	bool done;

	struct squeue q[CCP_SIM_MAX_QUEUES];
	struct agent *agents;
	int n_agents;
	int *serve; /* storage of every queue's agent list */

	struct timer *heap;
	size_t heap_len, heap_cap;

	struct contact *contacts;
	int32_t contacts_cap, free_contact;

	struct ccp_sim_event *out; /* FIFO of events made, not yet handed out */
	size_t out_head, out_len, out_cap;
};

/* ---- pools ----------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t elem, size_t min_cap)
{
	size_t n = *cap ? *cap * 2 : min_cap;
	void *np = realloc(*p, n * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = n;
	return 0;
}

static void heap_push(struct ccp_sim *s, struct timer *t)
{
	if (s->heap_len == s->heap_cap &&
	    grow((void **)&s->heap, &s->heap_cap, sizeof(*s->heap), 1024) < 0) {
		s->error = -ENOMEM;
		return;
	}
	t->seq = s->seq++;
	size_t i = s->heap_len++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct timer *pt = &s->heap[p];
		if (pt->t_ms < t->t_ms || (pt->t_ms == t->t_ms && pt->seq < t->seq))
			break;
		s->heap[i] = *pt;
		i = p;
	}
	s->heap[i] = *t;
}

static bool timer_less(const struct timer *a, const struct timer *b)
{
	return a->t_ms < b->t_ms || (a->t_ms == b->t_ms && a->seq < b->seq);
}

static void heap_pop(struct ccp_sim *s, struct timer *top)
{
	*top = s->heap[0];
	struct timer last = s->heap[--s->heap_len];
	size_t n = s->heap_len, i = 0;
	for (;;) {
		size_t l = 2 * i + 1;
		if (l >= n)
			break;
		size_t m = l + 1 < n && timer_less(&s->heap[l + 1], &s->heap[l]) ? l + 1 : l;
		if (!timer_less(&s->heap[m], &last))
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (n)
		s->heap[i] = last;
}

static struct timer *timer_at(struct timer *t, int64_t at_ms, enum timer_kind kind)
{
	memset(t, 0, sizeof(*t));
	t->t_ms = at_ms;
	t->kind = (uint8_t)kind;
	t->agent = NONE;
	t->idx = NONE;
	return t;
}

static int32_t contact_alloc(struct ccp_sim *s)
{
	if (s->free_contact == NONE) {
		size_t cap = (size_t)s->contacts_cap;
		if (grow((void **)&s->contacts, &cap, sizeof(*s->contacts), 256) < 0) {
			s->error = -ENOMEM;
			return NONE;
		}
		for (size_t i = (size_t)s->contacts_cap; i < cap; i++) {
			s->contacts[i].next = i + 1 < cap ? (int32_t)(i + 1) : NONE;
			s->contacts[i].gen = 0;
		}
		s->free_contact = s->contacts_cap;
		s->contacts_cap = (int32_t)cap;
	}
	int32_t i = s->free_contact;
	s->free_contact = s->contacts[i].next;
	return i;
}

static void contact_free(struct ccp_sim *s, int32_t i)
{
	s->contacts[i].gen++;
	s->contacts[i].waiting = 0;
	s->contacts[i].next = s->free_contact;
	s->free_contact = i;
}

/* A new event at the current time, zeroed but for the time; NULL (and the
 * sticky error) when the FIFO cannot grow. */
static struct ccp_sim_event *emit(struct ccp_sim *s, enum ccp_event_type type)
{
	if (s->out_len == s->out_cap) {
		size_t old = s->out_cap;
		if (grow((void **)&s->out, &s->out_cap, sizeof(*s->out), 256) < 0) {
			s->error = -ENOMEM;
			return NULL;
		}
		/* Unwrap: the part before out_head moves behind the old end. */
		if (s->out_head)
			memcpy(s->out + old, s->out, s->out_head * sizeof(*s->out));
	}
	struct ccp_sim_event *e = &s->out[(s->out_head + s->out_len++) % s->out_cap];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->ts_ms = s->now_ms;
	e->queue = NONE;
	e->other_queue = NONE;
	e->agent = NONE;
	return e;
}

static struct ccp_sim_event *emit_contact(struct ccp_sim *s, enum ccp_event_type type,
					   const struct contact *c, int agent)
{
	struct ccp_sim_event *e = emit(s, type);
	if (e) {
		e->queue = c->queue;
		e->contact = c->num;
		e->channel = (enum ccp_channel)c->channel;
		e->agent = agent;
	}
	return e;
}

static void agent_set(struct ccp_sim *s, int a, enum ccp_agent_state st)
{
	s->agents[a].state = st;
	struct ccp_sim_event *e = emit(s, CCP_EV_AGENT_STATE);
	if (e) {
		e->agent = a;
		e->state = st;
	}
}

/* ---- the model ----------------------------------------------------------- */

static void waiting_unlink(struct ccp_sim *s, int32_t ci)
{
	struct contact *c = &s->contacts[ci];
	struct squeue *q = &s->q[c->queue];
	if (c->prev != NONE)
		s->contacts[c->prev].next = c->next;
	else
		q->head = c->next;
	if (c->next != NONE)
		s->contacts[c->next].prev = c->prev;
	else
		q->tail = c->prev;
	c->waiting = 0;
	c->gen++; /* voids its patience timer */
}

static void answer(struct ccp_sim *s, int32_t ci, int a)
{
	struct contact *c = &s->contacts[ci];
	struct agent *ag = &s->agents[a];
	struct ccp_sim_event *e = emit_contact(s, CCP_EV_CONTACT_ANSWERED, c, a);
	if (e)
		e->wait_ms = s->now_ms - c->offered_ms;
	if (c->from_queue == NONE)
		c->first_wait_ms = s->now_ms - c->offered_ms;
	ag->contact = ci;
	agent_set(s, a, CCP_AGENT_BUSY);
	/* Talk + wrap-up is one exponential draw, so the service time the
	 * queue sees is exponential (M/M/c) whatever the split. */
	double handle_ms = rng_exp(&s->rng, s->q[c->queue].aht_ms);
	int64_t talk_ms = llround(handle_ms * (1.0 - s->cfg.wrap_share));
	ag->wrap_ms = llround(handle_ms) - talk_ms;
	struct timer t;
	timer_at(&t, s->now_ms + talk_ms, T_TALK_END)->idx = a;
	heap_push(s, &t);
}

/* The available agent serving `qi` who has been idle longest, or NONE. */
static int pick_agent(struct ccp_sim *s, int qi)
{
	struct squeue *q = &s->q[qi];
	int best = NONE;
	for (int i = 0; i < q->n_agents; i++) {
		int a = q->agents[i];
		if (s->agents[a].state == CCP_AGENT_AVAILABLE &&
		    (best == NONE || s->agents[a].idle_since_ms < s->agents[best].idle_since_ms))
			best = a;
	}
	return best;
}

static void offer(struct ccp_sim *s, int32_t ci)
{
	struct contact *c = &s->contacts[ci];
	struct squeue *q = &s->q[c->queue];
	c->offered_ms = s->now_ms;
	struct ccp_sim_event *e = emit_contact(s, CCP_EV_CONTACT_OFFERED, c, NONE);
	if (e)
		e->other_queue = c->from_queue;
	int a = pick_agent(s, c->queue);
	if (a != NONE) {
		answer(s, ci, a);
		return;
	}
	c->waiting = 1;
	c->next = NONE;
	c->prev = q->tail;
	if (q->tail != NONE)
		s->contacts[q->tail].next = ci;
	else
		q->head = ci;
	q->tail = ci;
	if (isfinite(q->patience_ms)) {
		struct timer t;
		timer_at(&t, s->now_ms + llround(rng_exp(&s->rng, q->patience_ms)), T_PATIENCE);
		t.idx = ci;
		t.gen = c->gen;
		heap_push(s, &t);
	}
}

/* Agent `a` is free: it takes the longest-waiting contact of its queues,
 * or becomes available. */
static void agent_free(struct ccp_sim *s, int a)
{
	struct agent *ag = &s->agents[a];
	ag->idle_since_ms = s->now_ms;
	ag->contact = NONE;
	/* Back from a break or logging on: ready first, even if a call is
	 * delivered the same instant (wrap-up goes straight to the next one). */
	if (ag->state == CCP_AGENT_AWAY || ag->state == CCP_AGENT_OFFLINE)
		agent_set(s, a, CCP_AGENT_AVAILABLE);
	int32_t best = NONE;
	for (int i = 0; i < ag->nq; i++) {
		int32_t h = s->q[ag->q[i]].head;
		if (h != NONE && (best == NONE || s->contacts[h].offered_ms < s->contacts[best].offered_ms))
			best = h;
	}
	if (best != NONE) {
		waiting_unlink(s, best);
		answer(s, best, a);
		return;
	}
	if (ag->state != CCP_AGENT_AVAILABLE)
		agent_set(s, a, CCP_AGENT_AVAILABLE);
}

static void on_arrival(struct ccp_sim *s, const struct timer *t)
{
	int qi = t->queue;
	struct squeue *q = &s->q[qi];
	/* Thinning: candidates come at the peak rate, each kept with
	 * probability curve(now), which makes a Poisson process of rate
	 * peak * curve(t). */
	q->arrival_ms += rng_exp(&s->rng, 1.0 / q->peak_rate_per_ms);
	struct timer nt;
	timer_at(&nt, llround(q->arrival_ms), T_ARRIVAL)->queue = (int16_t)qi;
	heap_push(s, &nt);
	if (rng_u01(&s->rng) >= ccp_sim_curve_at(s->cfg.curve, s->now_ms))
		return;
	int32_t ci = contact_alloc(s);
	if (ci == NONE)
		return;
	struct contact *c = &s->contacts[ci];
	c->num = ++s->n_contacts;
	c->queue = (int16_t)qi;
	c->from_queue = NONE;
	c->first_wait_ms = 0;
	double u = rng_u01(&s->rng);
	int ch = 0;
	while (ch < CCP_CH__COUNT - 1 && u >= q->ch_cum[ch])
		ch++;
	c->channel = (uint8_t)ch;
	offer(s, ci);
}

static void on_patience(struct ccp_sim *s, const struct timer *t)
{
	struct contact *c = &s->contacts[t->idx];
	if (c->gen != t->gen || !c->waiting)
		return; /* answered (or the slot was reused) */
	waiting_unlink(s, t->idx);
	struct ccp_sim_event *e = emit_contact(s, CCP_EV_CONTACT_ABANDONED, c, NONE);
	if (e)
		e->wait_ms = s->now_ms - c->offered_ms;
	/* A few customers who gave up complain. */
	if (rng_u01(&s->rng) < 2 * s->cfg.complaint_share) {
		struct timer nt;
		timer_at(&nt, s->now_ms + 60000 + llround(rng_exp(&s->rng, 1800000.0)), T_COMPLAINT_OPEN);
		nt.num2 = c->num;
		nt.queue = c->queue;
		nt.channel = c->channel;
		heap_push(s, &nt);
	}
	contact_free(s, t->idx);
}

static void promise_after_end(struct ccp_sim *s, const struct contact *c, int a, bool resolved)
{
	const struct ccp_sim_config *cf = &s->cfg;
	double p = resolved ? cf->promise_share_resolved : cf->promise_share_unresolved;
	if (rng_u01(&s->rng) >= p)
		return;
	/* Kind and how far out the due time is: callbacks within hours,
	 * resolutions up to a day. */
	static const double kind_cum[CCP_PROMISE__COUNT] = {0.35, 0.65, 0.90, 1.0};
	static const double due_min_s[CCP_PROMISE__COUNT] = {900, 3600, 7200, 1800};
	static const double due_max_s[CCP_PROMISE__COUNT] = {7200, 28800, 86400, 14400};
	double u = rng_u01(&s->rng);
	int k = 0;
	while (k < CCP_PROMISE__COUNT - 1 && u >= kind_cum[k])
		k++;
	double delay_ms = 1000.0 * (due_min_s[k] + rng_u01(&s->rng) * (due_max_s[k] - due_min_s[k]));
	struct ccp_sim_event *e = emit_contact(s, CCP_EV_PROMISE_MADE, c, a);
	uint64_t num = ++s->n_promises;
	int64_t due_ms = s->now_ms + llround(delay_ms);
	if (e) {
		e->promise = num;
		e->due_ms = due_ms;
		e->kind = (enum ccp_promise_kind)k;
	}
	struct timer t;
	double o = rng_u01(&s->rng);
	if (o < cf->promise_on_time_share) {
		timer_at(&t, s->now_ms + llround(rng_u01(&s->rng) * delay_ms), T_PROMISE_KEPT);
	} else if (o < cf->promise_on_time_share + cf->promise_late_share) {
		timer_at(&t, due_ms + 1 + llround(rng_exp(&s->rng, 0.3 * delay_ms)), T_PROMISE_KEPT);
	} else if (o < cf->promise_on_time_share + cf->promise_late_share + cf->promise_cancel_share) {
		timer_at(&t, s->now_ms + llround(rng_u01(&s->rng) * delay_ms), T_PROMISE_CANCEL);
	} else {
		return; /* never kept: it goes overdue */
	}
	t.num = num;
	t.num2 = c->num;
	t.queue = c->queue;
	t.channel = c->channel;
	t.agent = a;
	heap_push(s, &t);
}

static void followups_after_end(struct ccp_sim *s, const struct contact *c, int a, bool resolved)
{
	const struct ccp_sim_config *cf = &s->cfg;
	promise_after_end(s, c, a, resolved);
	int64_t wait_ms = c->first_wait_ms;
	struct timer t;
	if (rng_u01(&s->rng) < cf->survey_share) {
		timer_at(&t, s->now_ms + 60000 + llround(rng_exp(&s->rng, 300000.0)), T_SURVEY);
		t.num2 = c->num;
		t.queue = c->queue;
		t.channel = c->channel;
		t.agent = a;
		t.resolved = resolved;
		t.wait_s = (int32_t)(wait_ms / 1000);
		heap_push(s, &t);
	}
	double pc = cf->complaint_share * (1.0 + (resolved ? 0.0 : 2.0) + (wait_ms > 180000 ? 2.0 : 0.0));
	if (rng_u01(&s->rng) < pc) {
		timer_at(&t, s->now_ms + 60000 + llround(rng_exp(&s->rng, 1800000.0)), T_COMPLAINT_OPEN);
		t.num2 = c->num;
		t.queue = c->queue;
		t.channel = c->channel;
		heap_push(s, &t);
	}
}

static void on_talk_end(struct ccp_sim *s, const struct timer *t)
{
	int a = t->idx;
	struct agent *ag = &s->agents[a];
	int32_t ci = ag->contact;
	struct contact *c = &s->contacts[ci];
	ag->contact = NONE;
	const struct ccp_sim_config *cf = &s->cfg;
	if (cf->n_queues > 1 && c->from_queue == NONE && rng_u01(&s->rng) < cf->transfer_share) {
		/* Handoff: once per contact, to any other queue. */
		int to = (int)rng_below(&s->rng, (uint32_t)cf->n_queues - 1);
		if (to >= c->queue)
			to++;
		struct ccp_sim_event *e = emit_contact(s, CCP_EV_CONTACT_TRANSFERRED, c, a);
		if (e)
			e->other_queue = to;
		c->from_queue = c->queue;
		c->queue = (int16_t)to;
		offer(s, ci);
	} else {
		double pr = cf->resolved_share - (c->first_wait_ms > 300000 ? 0.15 : 0.0) -
			    (c->from_queue != NONE ? 0.1 : 0.0);
		bool resolved = rng_u01(&s->rng) < pr;
		struct ccp_sim_event *e = emit_contact(s, CCP_EV_CONTACT_ENDED, c, a);
		if (e)
			e->resolved = resolved;
		followups_after_end(s, c, a, resolved);
		contact_free(s, ci);
	}
	agent_set(s, a, CCP_AGENT_WRAP_UP);
	struct timer nt;
	timer_at(&nt, s->now_ms + ag->wrap_ms, T_WRAP_END)->idx = a;
	heap_push(s, &nt);
}

static void on_wrap_end(struct ccp_sim *s, const struct timer *t)
{
	int a = t->idx;
	if (!s->agents[a].rostered) {
		agent_set(s, a, CCP_AGENT_OFFLINE);
		return;
	}
	if (rng_u01(&s->rng) < s->cfg.break_share) {
		agent_set(s, a, CCP_AGENT_AWAY);
		struct timer nt;
		timer_at(&nt, s->now_ms + llround(rng_exp(&s->rng, 1000.0 * s->cfg.break_mean_s)), T_BREAK_END)
			->idx = a;
		heap_push(s, &nt);
		return;
	}
	agent_free(s, a);
}

static void on_break_end(struct ccp_sim *s, const struct timer *t)
{
	if (!s->agents[t->idx].rostered)
		agent_set(s, t->idx, CCP_AGENT_OFFLINE);
	else
		agent_free(s, t->idx);
}

/* Every 15 minutes each queue rosters as many home agents as the curve
 * asks for over the next interval; the first tick logs them on at once. */
static void on_staff(struct ccp_sim *s, const struct timer *t)
{
	bool first = s->now_ms == s->cfg.start_ms;
	double f = ccp_sim_curve_at(s->cfg.curve, s->now_ms + STAFF_TICK_MS / 2);
	for (int qi = 0; qi < s->cfg.n_queues; qi++) {
		struct squeue *q = &s->q[qi];
		int want = (int)ceil(s->cfg.queues[qi].agents * f - 1e-9);
		if (want < 1)
			want = 1;
		if (want > q->home_count)
			want = q->home_count;
		int have = 0;
		for (int a = q->home_first; a < q->home_first + q->home_count; a++)
			have += s->agents[a].rostered;
		/* Log on from the lowest index, off from the highest, so the same
		 * agents work the core hours. */
		for (int a = q->home_first; have < want && a < q->home_first + q->home_count; a++) {
			struct agent *ag = &s->agents[a];
			if (ag->rostered)
				continue;
			ag->rostered = true;
			have++;
			if (ag->state != CCP_AGENT_OFFLINE)
				continue; /* still finishing work: simply stays */
			struct timer nt;
			int64_t at = s->now_ms + (first ? 0 : llround(rng_u01(&s->rng) * LOGON_SPREAD_MS));
			timer_at(&nt, at, T_LOGON)->idx = a;
			heap_push(s, &nt);
		}
		for (int a = q->home_first + q->home_count - 1; have > want && a >= q->home_first; a--) {
			struct agent *ag = &s->agents[a];
			if (!ag->rostered)
				continue;
			ag->rostered = false;
			have--;
			if (ag->state == CCP_AGENT_AVAILABLE) {
				struct timer nt;
				timer_at(&nt, s->now_ms + llround(rng_u01(&s->rng) * LOGON_SPREAD_MS), T_LOGOFF)->idx = a;
				heap_push(s, &nt);
			}
		}
	}
	struct timer nt;
	timer_at(&nt, t->t_ms + STAFF_TICK_MS, T_STAFF);
	heap_push(s, &nt);
}

static void on_logon(struct ccp_sim *s, const struct timer *t)
{
	struct agent *ag = &s->agents[t->idx];
	if (ag->rostered && ag->state == CCP_AGENT_OFFLINE)
		agent_free(s, t->idx);
}

static void on_logoff(struct ccp_sim *s, const struct timer *t)
{
	struct agent *ag = &s->agents[t->idx];
	if (!ag->rostered && ag->state == CCP_AGENT_AVAILABLE)
		agent_set(s, t->idx, CCP_AGENT_OFFLINE);
}

static int score(double x)
{
	long v = lround(x);
	return v < 1 ? 1 : v > 5 ? 5 : (int)v;
}

static void on_survey(struct ccp_sim *s, const struct timer *t)
{
	struct ccp_sim_event *e = emit(s, CCP_EV_SURVEY_SUBMITTED);
	if (!e)
		return;
	e->queue = t->queue;
	e->contact = t->num2;
	e->channel = (enum ccp_channel)t->channel;
	e->agent = t->agent;
	/* Satisfaction falls with the wait (up to 1.6 points at 5 min) and
	 * when the issue stayed open. */
	double wait_f = fmin(t->wait_s / 300.0, 1.0);
	double mean = 4.4 - 1.6 * wait_f - (t->resolved ? 0.0 : 0.9);
	int csat = score(mean + 0.8 * rng_normal(&s->rng));
	e->csat = (uint8_t)csat;
	if (rng_u01(&s->rng) < s->cfg.survey_dims_share) {
		for (int d = 0; d < CCP_DIM__COUNT; d++) {
			double x = csat + 0.7 * rng_normal(&s->rng);
			if (d == CCP_DIM_RESPONSIVENESS)
				x -= wait_f;
			if (d == CCP_DIM_RELIABILITY && !t->resolved)
				x -= 0.5;
			e->dims[d] = (uint8_t)score(x);
		}
	}
}

static void on_promise(struct ccp_sim *s, const struct timer *t, enum ccp_event_type type)
{
	struct ccp_sim_event *e = emit(s, type);
	if (!e)
		return;
	e->queue = t->queue;
	e->contact = t->num2;
	e->channel = (enum ccp_channel)t->channel;
	e->agent = t->agent;
	e->promise = t->num;
}

static void on_complaint_open(struct ccp_sim *s, const struct timer *t)
{
	struct ccp_sim_event *e = emit(s, CCP_EV_COMPLAINT_OPENED);
	uint64_t num = ++s->n_complaints;
	if (e) {
		e->queue = t->queue;
		e->contact = t->num2;
		e->channel = (enum ccp_channel)t->channel;
		e->complaint = num;
	}
	if (rng_u01(&s->rng) < s->cfg.complaint_resolve_share) {
		struct timer nt = *t;
		nt.kind = T_COMPLAINT_RESOLVE;
		nt.num = num;
		nt.t_ms = s->now_ms + 600000 + llround(rng_exp(&s->rng, 6 * MS_PER_HOUR));
		heap_push(s, &nt);
	}
}

static void on_complaint_resolve(struct ccp_sim *s, const struct timer *t)
{
	struct ccp_sim_event *e = emit(s, CCP_EV_COMPLAINT_RESOLVED);
	if (e) {
		e->queue = t->queue;
		e->contact = t->num2;
		e->channel = (enum ccp_channel)t->channel;
		e->complaint = t->num;
	}
}

static void handle(struct ccp_sim *s, const struct timer *t)
{
	switch ((enum timer_kind)t->kind) {
	case T_ARRIVAL: on_arrival(s, t); break;
	case T_PATIENCE: on_patience(s, t); break;
	case T_TALK_END: on_talk_end(s, t); break;
	case T_WRAP_END: on_wrap_end(s, t); break;
	case T_BREAK_END: on_break_end(s, t); break;
	case T_STAFF: on_staff(s, t); break;
	case T_LOGON: on_logon(s, t); break;
	case T_LOGOFF: on_logoff(s, t); break;
	case T_SURVEY: on_survey(s, t); break;
	case T_PROMISE_KEPT: on_promise(s, t, CCP_EV_PROMISE_KEPT); break;
	case T_PROMISE_CANCEL: on_promise(s, t, CCP_EV_PROMISE_CANCELLED); break;
	case T_COMPLAINT_OPEN: on_complaint_open(s, t); break;
	case T_COMPLAINT_RESOLVE: on_complaint_resolve(s, t); break;
	}
}

/* ---- API ------------------------------------------------------------------ */

static bool share_ok(double x)
{
	return x >= 0 && x <= 1;
}

static int check_config(const struct ccp_sim_config *c, char *err, size_t errlen)
{
	if (c->n_queues < 1 || c->n_queues > CCP_SIM_MAX_QUEUES) {
		snprintf(err, errlen, "queues: %d given, 1..%d allowed", c->n_queues, CCP_SIM_MAX_QUEUES);
		return -EINVAL;
	}
	for (int i = 0; i < c->n_queues; i++) {
		const struct ccp_sim_queue_spec *q = &c->queues[i];
		size_t n = strnlen(q->name, sizeof(q->name));
		if (n == 0 || n > CCP_SIM_QUEUE_NAME_MAX) {
			snprintf(err, errlen, "queue %d: name must be 1..%d bytes", i + 1, CCP_SIM_QUEUE_NAME_MAX);
			return -EINVAL;
		}
		for (size_t k = 0; k < n; k++) {
			char ch = q->name[k];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			      ch == '_' || ch == '-' || ch == '.')) {
				snprintf(err, errlen, "queue \"%s\": name may hold only A-Z a-z 0-9 _ - .", q->name);
				return -EINVAL;
			}
		}
		for (int j = 0; j < i; j++) {
			if (!strcmp(c->queues[j].name, q->name)) {
				snprintf(err, errlen, "queue \"%s\": given twice", q->name);
				return -EINVAL;
			}
		}
		if (!(q->calls_per_hour > 0 && q->calls_per_hour <= 1e6)) {
			snprintf(err, errlen, "queue \"%s\": calls per hour must be in (0, 1000000]", q->name);
			return -EINVAL;
		}
		if (!(q->aht_s >= 1 && q->aht_s <= 86400)) {
			snprintf(err, errlen, "queue \"%s\": AHT must be 1..86400 s", q->name);
			return -EINVAL;
		}
		if (q->agents < 1 || q->agents > CCP_SIM_MAX_AGENTS_PER_QUEUE) {
			snprintf(err, errlen, "queue \"%s\": agents must be 1..%d", q->name,
				 CCP_SIM_MAX_AGENTS_PER_QUEUE);
			return -EINVAL;
		}
		if (!(q->patience_s >= 1)) {
			snprintf(err, errlen, "queue \"%s\": patience must be >= 1 s or inf", q->name);
			return -EINVAL;
		}
		for (int k = 0; k < CCP_CH__COUNT; k++) {
			if (!(q->channel_share[k] >= 0 && isfinite(q->channel_share[k]))) {
				snprintf(err, errlen, "queue \"%s\": channel share of %s is not a weight >= 0",
					 q->name, ccp_channel_names[k]);
				return -EINVAL;
			}
		}
	}
	if (c->duration_ms <= 0 || c->start_ms < 0 || c->start_ms > INT64_MAX / 2 ||
	    c->duration_ms > INT64_MAX / 4) {
		snprintf(err, errlen, "start must be >= 0 and the duration > 0");
		return -EINVAL;
	}
	const struct {
		const char *name;
		double v;
	} shares[] = {
		{"shared_agent_share", c->shared_agent_share},
		{"wrap_share", c->wrap_share},
		{"transfer_share", c->transfer_share},
		{"resolved_share", c->resolved_share},
		{"break_share", c->break_share},
		{"promise_share_resolved", c->promise_share_resolved},
		{"promise_share_unresolved", c->promise_share_unresolved},
		{"promise_on_time_share", c->promise_on_time_share},
		{"promise_late_share", c->promise_late_share},
		{"promise_cancel_share", c->promise_cancel_share},
		{"survey_share", c->survey_share},
		{"survey_dims_share", c->survey_dims_share},
		{"complaint_share", c->complaint_share},
		{"complaint_resolve_share", c->complaint_resolve_share},
	};
	for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
		if (!share_ok(shares[i].v)) {
			snprintf(err, errlen, "%s: %g is not in [0, 1]", shares[i].name, shares[i].v);
			return -EINVAL;
		}
	}
	if (c->promise_on_time_share + c->promise_late_share + c->promise_cancel_share > 1.0 + 1e-9) {
		snprintf(err, errlen, "promise outcome shares add up to more than 1");
		return -EINVAL;
	}
	if (!(c->break_mean_s >= 1 && c->break_mean_s <= 86400)) {
		snprintf(err, errlen, "break_mean_s: must be 1..86400");
		return -EINVAL;
	}
	return 0;
}

int ccp_sim_new(const struct ccp_sim_config *cfg, int64_t sl_threshold_ms, struct ccp_sim **out, char *err,
		size_t errlen)
{
	*out = NULL;
	int rc = check_config(cfg, err, errlen);
	if (rc < 0)
		return rc;
	struct ccp_sim *s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->cfg = *cfg;
	s->sl_threshold_ms = sl_threshold_ms;
	s->now_ms = cfg->start_ms;
	s->end_ms = cfg->start_ms + cfg->duration_ms;
	s->free_contact = NONE;
	rng_seed(&s->rng, cfg->seed);
	int n = 0;
	for (int i = 0; i < cfg->n_queues; i++)
		n += cfg->queues[i].agents;
	s->n_agents = n;
	s->agents = calloc((size_t)n, sizeof(*s->agents));
	s->serve = calloc((size_t)n * 2, sizeof(*s->serve));
	if (!s->agents || !s->serve)
		goto nomem;
	/* Home agents, then a second queue for a share of them. */
	int a = 0;
	for (int qi = 0; qi < cfg->n_queues; qi++) {
		s->q[qi].home_first = a;
		s->q[qi].home_count = cfg->queues[qi].agents;
		for (int k = 0; k < cfg->queues[qi].agents; k++, a++) {
			struct agent *ag = &s->agents[a];
			ag->home = (int16_t)qi;
			ag->q[0] = (int16_t)qi;
			ag->nq = 1;
			ag->state = CCP_AGENT_OFFLINE;
			ag->contact = NONE;
			if (cfg->n_queues > 1 && rng_u01(&s->rng) < cfg->shared_agent_share) {
				int o = (int)rng_below(&s->rng, (uint32_t)cfg->n_queues - 1);
				ag->q[1] = (int16_t)(o >= qi ? o + 1 : o);
				ag->nq = 2;
			}
		}
	}
	int *p = s->serve;
	for (int qi = 0; qi < cfg->n_queues; qi++) {
		struct squeue *q = &s->q[qi];
		const struct ccp_sim_queue_spec *sp = &cfg->queues[qi];
		q->agents = p;
		for (int k = 0; k < n; k++)
			for (int j = 0; j < s->agents[k].nq; j++)
				if (s->agents[k].q[j] == qi)
					*p++ = k;
		q->n_agents = (int)(p - q->agents);
		q->peak_rate_per_ms = sp->calls_per_hour / MS_PER_HOUR;
		q->aht_ms = sp->aht_s * 1000.0;
		q->patience_ms = sp->patience_s * 1000.0;
		q->head = q->tail = NONE;
		double sum = 0;
		for (int k = 0; k < CCP_CH__COUNT; k++)
			sum += sp->channel_share[k];
		double cum = 0;
		for (int k = 0; k < CCP_CH__COUNT; k++) {
			cum += sum > 0 ? sp->channel_share[k] / sum : (k == CCP_CH_VOICE);
			q->ch_cum[k] = cum;
		}
		q->ch_cum[CCP_CH__COUNT - 1] = 1.0;
	}
	/* First the roster (agents on before the first call), then each
	 * queue's first arrival. */
	struct timer t;
	timer_at(&t, cfg->start_ms, T_STAFF);
	heap_push(s, &t);
	for (int qi = 0; qi < cfg->n_queues; qi++) {
		struct squeue *q = &s->q[qi];
		q->arrival_ms = (double)cfg->start_ms + rng_exp(&s->rng, 1.0 / q->peak_rate_per_ms);
		timer_at(&t, llround(q->arrival_ms), T_ARRIVAL)->queue = (int16_t)qi;
		heap_push(s, &t);
	}
	if (s->error)
		goto nomem;
	*out = s;
	return 0;
nomem:
	ccp_sim_free(s);
	snprintf(err, errlen, "out of memory building the simulation");
	return -ENOMEM;
}

void ccp_sim_free(struct ccp_sim *s)
{
	if (!s)
		return;
	free(s->agents);
	free(s->serve);
	free(s->heap);
	free(s->contacts);
	free(s->out);
	free(s);
}

static void count(struct ccp_sim *s, const struct ccp_sim_event *e)
{
	if (e->queue < 0)
		return;
	struct ccp_sim_queue_stats *st = &s->q[e->queue].st;
	switch (e->type) {
	case CCP_EV_CONTACT_OFFERED:
		st->offered++;
		st->transferred_in += e->other_queue >= 0;
		break;
	case CCP_EV_CONTACT_ANSWERED:
		st->answered++;
		st->answered_waited += e->wait_ms > 0;
		st->answered_in_sl += e->wait_ms <= s->sl_threshold_ms;
		st->wait_sum_ms += (double)e->wait_ms;
		break;
	case CCP_EV_CONTACT_ABANDONED: st->abandoned++; break;
	case CCP_EV_CONTACT_ENDED: st->ended++; break;
	default: break;
	}
}

int ccp_sim_next(struct ccp_sim *s, struct ccp_sim_event *ev)
{
	while (s->out_len == 0) {
		if (s->error)
			return s->error;
		if (s->done || s->heap_len == 0 || s->heap[0].t_ms >= s->end_ms) {
			s->done = true;
			return 0;
		}
		struct timer t;
		heap_pop(s, &t);
		s->now_ms = t.t_ms;
		handle(s, &t);
	}
	*ev = s->out[s->out_head];
	s->out_head = (s->out_head + 1) % s->out_cap;
	s->out_len--;
	ev->n = ++s->n_events;
	count(s, ev);
	return 1;
}

const struct ccp_sim_config *ccp_sim_config(const struct ccp_sim *s)
{
	return &s->cfg;
}

void ccp_sim_stats(const struct ccp_sim *s, int q, struct ccp_sim_queue_stats *out)
{
	*out = s->q[q].st;
}

/* ---- formatting ------------------------------------------------------------ */

/* Appends into a fixed buffer; the caller checks `p <= end` once at the
 * end (every piece is short, and the buffer is sized for the longest
 * event, so no check per append is needed beyond the bound). */
struct wbuf {
	char *p, *end;
};

static void put(struct wbuf *w, const char *s, size_t n)
{
	if ((size_t)(w->end - w->p) < n) {
		w->p = w->end + 1; /* mark overflow */
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static void puts_(struct wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_u64(struct wbuf *w, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, tmp + i, sizeof(tmp) - (size_t)i);
}

static void put_i64(struct wbuf *w, int64_t v)
{
	if (v < 0) {
		put(w, "-", 1);
		put_u64(w, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(w, (uint64_t)v);
	}
}

/* "prefix-<seed>-<n>" as a JSON string. */
static void put_id(struct wbuf *w, const char *prefix, uint64_t seed, uint64_t n)
{
	put(w, "\"", 1);
	puts_(w, prefix);
	put_u64(w, seed);
	put(w, "-", 1);
	put_u64(w, n);
	put(w, "\"", 1);
}

static void put_str(struct wbuf *w, const char *s)
{
	put(w, "\"", 1);
	puts_(w, s);
	put(w, "\"", 1);
}

static void put_agent(struct wbuf *w, int a)
{
	put(w, "\"a-", 3);
	put_u64(w, 1001u + (unsigned)a);
	put(w, "\"", 1);
}

size_t ccp_sim_key(const struct ccp_sim *s, const struct ccp_sim_event *ev, char *buf, size_t cap)
{
	struct wbuf w = {buf, buf + cap};
	if (ev->type == CCP_EV_AGENT_STATE) {
		put(&w, "a-", 2);
		put_u64(&w, 1001u + (unsigned)ev->agent);
	} else {
		puts_(&w, s->cfg.queues[ev->queue].name);
	}
	return w.p > w.end ? 0 : (size_t)(w.p - buf);
}

size_t ccp_sim_format(const struct ccp_sim *s, const struct ccp_sim_event *ev, char *buf, size_t cap)
{
	struct wbuf w = {buf, buf + cap};
	const struct ccp_sim_config *c = &s->cfg;
	puts_(&w, "{\"id\":");
	put_id(&w, "e-", c->seed, ev->n);
	puts_(&w, ",\"type\":");
	put_str(&w, ccp_event_type_names[ev->type]);
	puts_(&w, ",\"ts\":");
	put_i64(&w, ev->ts_ms);
	if (ev->type == CCP_EV_AGENT_STATE) {
		puts_(&w, ",\"agent\":");
		put_agent(&w, ev->agent);
		puts_(&w, ",\"state\":");
		put_str(&w, ccp_agent_state_names[ev->state]);
		puts_(&w, ",\"queues\":[");
		const struct agent *ag = &s->agents[ev->agent];
		for (int i = 0; i < ag->nq; i++) {
			if (i)
				put(&w, ",", 1);
			put_str(&w, c->queues[ag->q[i]].name);
		}
		puts_(&w, "]}\n");
		return w.p > w.end ? 0 : (size_t)(w.p - buf);
	}
	puts_(&w, ",\"queue\":");
	put_str(&w, c->queues[ev->queue].name);
	puts_(&w, ",\"contact\":");
	put_id(&w, "c-", c->seed, ev->contact);
	puts_(&w, ",\"channel\":");
	put_str(&w, ccp_channel_names[ev->channel]);
	if (ev->agent >= 0) {
		puts_(&w, ",\"agent\":");
		put_agent(&w, ev->agent);
	}
	switch (ev->type) {
	case CCP_EV_CONTACT_OFFERED:
		if (ev->other_queue >= 0) {
			puts_(&w, ",\"transfer_from\":");
			put_str(&w, c->queues[ev->other_queue].name);
		}
		break;
	case CCP_EV_CONTACT_TRANSFERRED:
		puts_(&w, ",\"to_queue\":");
		put_str(&w, c->queues[ev->other_queue].name);
		break;
	case CCP_EV_CONTACT_ENDED:
		puts_(&w, ev->resolved ? ",\"resolved\":true" : ",\"resolved\":false");
		break;
	case CCP_EV_PROMISE_MADE:
		puts_(&w, ",\"promise\":");
		put_id(&w, "p-", c->seed, ev->promise);
		puts_(&w, ",\"due\":");
		put_i64(&w, ev->due_ms);
		puts_(&w, ",\"kind\":");
		put_str(&w, ccp_promise_kind_names[ev->kind]);
		break;
	case CCP_EV_PROMISE_KEPT:
	case CCP_EV_PROMISE_CANCELLED:
		puts_(&w, ",\"promise\":");
		put_id(&w, "p-", c->seed, ev->promise);
		break;
	case CCP_EV_SURVEY_SUBMITTED:
		puts_(&w, ",\"csat\":");
		put_u64(&w, ev->csat);
		if (ev->dims[0]) {
			for (int d = 0; d < CCP_DIM__COUNT; d++) {
				puts_(&w, ",\"");
				puts_(&w, ccp_survey_dim_names[d]);
				puts_(&w, "\":");
				put_u64(&w, ev->dims[d]);
			}
		}
		break;
	case CCP_EV_COMPLAINT_OPENED:
	case CCP_EV_COMPLAINT_RESOLVED:
		puts_(&w, ",\"complaint\":");
		put_id(&w, "k-", c->seed, ev->complaint);
		break;
	default:
		break;
	}
	puts_(&w, "}\n");
	return w.p > w.end ? 0 : (size_t)(w.p - buf);
}
