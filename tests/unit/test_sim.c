/* Unit tests: the traffic simulator.
 *
 * - Every emitted line decodes as a valid event (ccp_decode), ids are
 *   sequential, timestamps never go back, and the events tell a consistent
 *   story: a contact is offered before it is answered, abandoned or
 *   transferred, answered before it ends; an agent goes busy right after
 *   answering; promises and complaints are made before they are settled.
 * - Same seed -> byte-identical output; another seed -> different output.
 * - Flat curve, infinite patience, one queue: the service level and ASA
 *   computed here from the events (offered/answered pairs, not the sim's own
 *   counters) agree with Erlang C within sampling error (batch means, see
 *   test_matches_erlang_c), and more agents give a higher service level.
 * - The day curve shapes arrivals and staffing; patience makes abandons.
 * - The command: arguments, output equal to the library's, pacing, SIGINT.
 */
/* ccp-test-labels: threaded */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <malloc.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccp_test.h"
#include "ccpulse/decode.h"
#include "ccpulse/erlang.h"
#include "ccpulse/sim.h"
#include "sim_cmd.h"

#define START_MS 1795305600000LL /* 2026-11-22T00:00:00Z */
#define HOUR_MS 3600000LL

static struct ccp_sim *make(const struct ccp_sim_config *c)
{
	char err[256];
	struct ccp_sim *s;
	if (ccp_sim_new(c, 20000, &s, err, sizeof(err)) < 0)
		fail_msg("ccp_sim_new: %s", err);
	return s;
}

static void default_cfg(struct ccp_sim_config *c, uint64_t seed, double hours)
{
	ccp_sim_config_default(c);
	c->start_ms = START_MS;
	c->duration_ms = (int64_t)(hours * HOUR_MS);
	c->seed = seed;
}

/* One queue that is exactly M/M/c: flat rate, infinite patience, voice
 * only, no transfers, breaks or shared agents. */
static void mmc_cfg(struct ccp_sim_config *c, int agents, double hours, uint64_t seed)
{
	default_cfg(c, seed, hours);
	c->n_queues = 1;
	struct ccp_sim_queue_spec *q = &c->queues[0];
	memset(q, 0, sizeof(*q));
	strcpy(q->name, "billing");
	q->calls_per_hour = 100;
	q->aht_s = 180;
	q->agents = agents;
	q->patience_s = INFINITY;
	q->channel_share[CCP_CH_VOICE] = 1;
	c->curve = CCP_SIM_CURVE_FLAT;
	c->transfer_share = 0;
	c->shared_agent_share = 0;
	c->break_share = 0;
}

/* All output of a run as one string. Caller frees. */
static char *run_text(const struct ccp_sim_config *c, size_t *len_out, uint64_t max_events)
{
	struct ccp_sim *s = make(c);
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	struct ccp_sim_event ev;
	uint64_t n = 0;
	while ((!max_events || n < max_events) && ccp_sim_next(s, &ev) == 1) {
		if (cap - len < CCP_SIM_EVENT_MAX_BYTES) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t k = ccp_sim_format(s, &ev, buf + len, cap - len);
		assert_true(k > 0);
		len += k;
		n++;
	}
	ccp_sim_free(s);
	*len_out = len;
	return buf;
}

/* ---- a checker of the whole story, from the decoded events -------------- */

enum { C_NONE, C_WAITING, C_ANSWERED, C_TRANSFERRED, C_DONE };

/* Per-contact, per-promise and per-complaint facts, indexed by the number
 * in the id. Owner: one test. */
struct item {
	uint8_t state;
	int8_t queue;
	int agent;
	int64_t ts;
	uint64_t contact;
	int64_t first_wait_ms; /* of its first answer, -1 before */
};

struct story {
	const struct ccp_sim_config *cfg;
	struct ccp_decoder dec;
	struct ccp_event ev;
	uint64_t line;
	int64_t last_ts;
	struct item *contacts, *promises, *complaints;
	size_t cap;
	uint64_t max_contact;
	uint64_t types[CCP_EV__COUNT];
	uint64_t channels[CCP_CH__COUNT];
	int agent_state[20000];
	int expect_busy_agent; /* after an answer, the next event makes this agent busy */
	uint64_t shared_agents_seen;
	/* csat after short (<= 20 s) and long (>= 120 s) first waits */
	double csat_short_sum, csat_long_sum;
	uint64_t csat_short_n, csat_long_n;
	/* M/M/c figures, batched by offer time */
	int nbatch;
	int64_t batch_ms;
	uint64_t b_answered[64], b_in_sl[64], b_waited[64];
	double b_wait_sum_ms[64];
};

static int queue_index(const struct story *st, struct ccp_str s)
{
	for (int i = 0; i < st->cfg->n_queues; i++)
		if (strlen(st->cfg->queues[i].name) == s.len && !memcmp(st->cfg->queues[i].name, s.ptr, s.len))
			return i;
	fail_msg("line %llu: unknown queue %.*s", (unsigned long long)st->line, (int)s.len, s.ptr);
	return -1;
}

/* "<prefix><seed>-<n>" -> n. */
static uint64_t id_num(const struct story *st, struct ccp_str s, const char *prefix)
{
	char want[64], got[160];
	snprintf(want, sizeof(want), "%s%llu-", prefix, (unsigned long long)st->cfg->seed);
	snprintf(got, sizeof(got), "%.*s", (int)s.len, s.ptr);
	size_t n = strlen(want);
	if (strncmp(got, want, n))
		fail_msg("line %llu: id %s does not start with %s", (unsigned long long)st->line, got, want);
	char *end;
	unsigned long long v = strtoull(got + n, &end, 10);
	if (*end || v == 0)
		fail_msg("line %llu: id %s has no number", (unsigned long long)st->line, got);
	return v;
}

static int agent_num(const struct story *st, struct ccp_str s)
{
	char got[160];
	snprintf(got, sizeof(got), "%.*s", (int)s.len, s.ptr);
	if (strncmp(got, "a-", 2))
		fail_msg("line %llu: agent id %s", (unsigned long long)st->line, got);
	int n = atoi(got + 2) - 1001;
	assert_true(n >= 0 && n < 20000);
	return n;
}

static struct item *slot(struct story *st, struct item **arr, uint64_t n)
{
	if (n >= st->cap) {
		size_t ncap = st->cap;
		while (n >= ncap)
			ncap *= 2;
		struct item **all[] = {&st->contacts, &st->promises, &st->complaints};
		for (int i = 0; i < 3; i++) {
			*all[i] = realloc(*all[i], ncap * sizeof(struct item));
			assert_non_null(*all[i]);
			memset(*all[i] + st->cap, 0, (ncap - st->cap) * sizeof(struct item));
		}
		st->cap = ncap;
	}
	return &(*arr)[n];
}

static void story_init(struct story *st, const struct ccp_sim_config *cfg, int nbatch)
{
	memset(st, 0, sizeof(*st));
	st->cfg = cfg;
	ccp_decoder_init(&st->dec);
	st->last_ts = cfg->start_ms;
	st->cap = 1024;
	st->contacts = calloc(st->cap, sizeof(struct item));
	st->promises = calloc(st->cap, sizeof(struct item));
	st->complaints = calloc(st->cap, sizeof(struct item));
	for (int i = 0; i < 20000; i++)
		st->agent_state[i] = CCP_AGENT_OFFLINE;
	st->expect_busy_agent = -1;
	st->nbatch = nbatch;
	st->batch_ms = nbatch ? cfg->duration_ms / nbatch : 0;
}

static void story_free(struct story *st)
{
	free(st->contacts);
	free(st->promises);
	free(st->complaints);
}

#define CHECK(cond, ...)                                                                                   \
	do {                                                                                               \
		if (!(cond))                                                                               \
			fail_msg("line %llu: %s", (unsigned long long)st->line, #cond);                    \
	} while (0)

static void story_line(struct story *st, const char *line, size_t len)
{
	struct ccp_decode_error de;
	st->line++;
	enum ccp_reject r = ccp_decode(&st->dec, line, len, &st->ev, &de);
	if (r != CCP_REJECT_NONE)
		fail_msg("line %llu rejected (%s, field %s, %s): %.*s", (unsigned long long)st->line,
			 ccp_reject_names[r], de.field ? de.field : "-", de.detail ? de.detail : "-", (int)len, line);
	const struct ccp_event *e = &st->ev;
	CHECK(id_num(st, e->id, "e-") == st->line);
	CHECK(e->ts_ms >= st->last_ts);
	CHECK(e->ts_ms < st->cfg->start_ms + st->cfg->duration_ms);
	st->last_ts = e->ts_ms;
	st->types[e->type]++;
	if (st->expect_busy_agent >= 0) {
		CHECK(e->type == CCP_EV_AGENT_STATE && e->state == CCP_AGENT_BUSY);
		CHECK(agent_num(st, e->agent) == st->expect_busy_agent);
		st->expect_busy_agent = -1;
	}
	if (e->type == CCP_EV_AGENT_STATE) {
		int a = agent_num(st, e->agent);
		CHECK(e->n_queues >= 1 && e->n_queues <= 2);
		st->shared_agents_seen += e->n_queues == 2;
		for (uint32_t i = 0; i < e->n_queues; i++)
			queue_index(st, e->queues[i]);
		int prev = st->agent_state[a];
		CHECK(prev != (int)e->state);
		/* wrap_up only after busy; busy never straight from busy. */
		if (e->state == CCP_AGENT_WRAP_UP)
			CHECK(prev == CCP_AGENT_BUSY);
		if (prev == CCP_AGENT_BUSY)
			CHECK(e->state == CCP_AGENT_WRAP_UP);
		st->agent_state[a] = (int)e->state;
		return;
	}
	int q = queue_index(st, e->queue);
	st->channels[e->channel]++;
	uint64_t cn = id_num(st, e->contact, "c-");
	struct item *c = slot(st, &st->contacts, cn);
	switch (e->type) {
	case CCP_EV_CONTACT_OFFERED:
		if (e->transfer_from.len) {
			CHECK(c->state == C_TRANSFERRED);
			CHECK(queue_index(st, e->transfer_from) == c->queue);
			CHECK(q != c->queue);
		} else {
			CHECK(c->state == C_NONE);
			CHECK(cn == st->max_contact + 1); /* numbered in offer order */
			st->max_contact = cn;
			c->first_wait_ms = -1;
		}
		c->state = C_WAITING;
		c->queue = (int8_t)q;
		c->ts = e->ts_ms;
		break;
	case CCP_EV_CONTACT_ANSWERED: {
		CHECK(c->state == C_WAITING && c->queue == q);
		CHECK(e->agent.len > 0);
		int a = agent_num(st, e->agent);
		CHECK(st->agent_state[a] == CCP_AGENT_AVAILABLE || st->agent_state[a] == CCP_AGENT_WRAP_UP);
		c->state = C_ANSWERED;
		c->agent = a;
		st->expect_busy_agent = a;
		int64_t wait = e->ts_ms - c->ts;
		if (c->first_wait_ms < 0)
			c->first_wait_ms = wait;
		if (st->nbatch) {
			int b = (int)((c->ts - st->cfg->start_ms) / st->batch_ms);
			if (b < st->nbatch) {
				st->b_answered[b]++;
				st->b_in_sl[b] += wait <= 20000;
				st->b_waited[b] += wait > 0;
				st->b_wait_sum_ms[b] += (double)wait;
			}
		}
		break;
	}
	case CCP_EV_CONTACT_ABANDONED:
		CHECK(c->state == C_WAITING && c->queue == q);
		c->state = C_DONE;
		break;
	case CCP_EV_CONTACT_TRANSFERRED:
		CHECK(c->state == C_ANSWERED && c->queue == q);
		CHECK(e->to_queue.len && queue_index(st, e->to_queue) != q);
		CHECK(agent_num(st, e->agent) == c->agent);
		c->state = C_TRANSFERRED;
		break;
	case CCP_EV_CONTACT_ENDED:
		CHECK(c->state == C_ANSWERED && c->queue == q);
		CHECK(agent_num(st, e->agent) == c->agent);
		c->state = C_DONE;
		break;
	case CCP_EV_PROMISE_MADE: {
		CHECK(c->state == C_DONE);
		struct item *p = slot(st, &st->promises, id_num(st, e->promise, "p-"));
		CHECK(p->state == C_NONE);
		CHECK(e->due_ms > e->ts_ms && e->due_ms - e->ts_ms <= 24 * HOUR_MS);
		p->state = C_WAITING;
		p->queue = (int8_t)q;
		p->contact = cn;
		break;
	}
	case CCP_EV_PROMISE_KEPT:
	case CCP_EV_PROMISE_CANCELLED: {
		struct item *p = slot(st, &st->promises, id_num(st, e->promise, "p-"));
		CHECK(p->state == C_WAITING && p->queue == q && p->contact == cn);
		p->state = C_DONE;
		break;
	}
	case CCP_EV_SURVEY_SUBMITTED:
		CHECK(c->state == C_DONE);
		CHECK(e->csat >= 1 && e->csat <= 5);
		if (c->first_wait_ms <= 20000) {
			st->csat_short_sum += e->csat;
			st->csat_short_n++;
		} else if (c->first_wait_ms >= 120000) {
			st->csat_long_sum += e->csat;
			st->csat_long_n++;
		}
		for (int d = 1; d < CCP_DIM__COUNT; d++)
			CHECK((e->dims[d] == 0) == (e->dims[0] == 0));
		break;
	case CCP_EV_COMPLAINT_OPENED: {
		CHECK(c->state == C_DONE);
		struct item *k = slot(st, &st->complaints, id_num(st, e->complaint, "k-"));
		CHECK(k->state == C_NONE);
		k->state = C_WAITING;
		k->queue = (int8_t)q;
		break;
	}
	case CCP_EV_COMPLAINT_RESOLVED: {
		struct item *k = slot(st, &st->complaints, id_num(st, e->complaint, "k-"));
		CHECK(k->state == C_WAITING && k->queue == q);
		k->state = C_DONE;
		break;
	}
	default:
		fail_msg("unexpected type");
	}
}

/* Runs `c` and feeds every formatted line to the checker. */
static void run_story(const struct ccp_sim_config *c, struct story *st)
{
	struct ccp_sim *s = make(c);
	struct ccp_sim_event ev;
	char line[CCP_SIM_EVENT_MAX_BYTES];
	int n;
	while ((n = ccp_sim_next(s, &ev)) == 1) {
		size_t len = ccp_sim_format(s, &ev, line, sizeof(line));
		assert_true(len > 1 && line[len - 1] == '\n');
		story_line(st, line, len - 1);
		/* The key is the queue, or the agent for agent.state. */
		char key[CCP_SIM_KEY_MAX_BYTES];
		size_t kl = ccp_sim_key(s, &ev, key, sizeof(key));
		const struct ccp_str want = ev.type == CCP_EV_AGENT_STATE ? st->ev.agent : st->ev.queue;
		assert_true(kl == want.len && !memcmp(key, want.ptr, kl));
	}
	assert_int_equal(n, 0);
	ccp_sim_free(s);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_every_event_valid_and_consistent(void **state)
{
	(void)state;
	struct ccp_sim_config c;
	default_cfg(&c, 7, 72); /* three days of the default center */
	struct story *st = malloc(sizeof(*st));
	story_init(st, &c, 0);
	run_story(&c, st);
	/* Every type shows up, and the mix is plausible. */
	for (int t = 0; t < CCP_EV__COUNT; t++)
		if (!st->types[t])
			fail_msg("no %s in 72 h", ccp_event_type_names[t]);
	uint64_t offered = st->types[CCP_EV_CONTACT_OFFERED], ans = st->types[CCP_EV_CONTACT_ANSWERED];
	uint64_t tr = st->types[CCP_EV_CONTACT_TRANSFERRED];
	assert_true(offered > 20000);
	assert_true(tr > offered / 100 && tr < offered / 10);                   /* ~4% of answered */
	assert_true(st->types[CCP_EV_CONTACT_ABANDONED] < offered / 5);
	assert_true(st->types[CCP_EV_SURVEY_SUBMITTED] > ans / 5);              /* ~30% of ends */
	assert_true(st->types[CCP_EV_PROMISE_MADE] > st->types[CCP_EV_PROMISE_KEPT] / 2);
	assert_true(st->types[CCP_EV_PROMISE_KEPT] > st->types[CCP_EV_PROMISE_CANCELLED]);
	assert_true(st->channels[CCP_CH_VOICE] > st->channels[CCP_CH_EMAIL]);
	assert_true(st->channels[CCP_CH_CHAT] > 0);
	assert_true(st->shared_agents_seen > 0);
	/* Satisfaction falls with the wait. */
	assert_true(st->csat_short_n > 1000 && st->csat_long_n > 50);
	double short_avg = st->csat_short_sum / (double)st->csat_short_n;
	double long_avg = st->csat_long_sum / (double)st->csat_long_n;
	print_message("csat after <= 20 s: %.2f (n %llu); after >= 120 s: %.2f (n %llu)\n", short_avg,
		      (unsigned long long)st->csat_short_n, long_avg, (unsigned long long)st->csat_long_n);
	assert_true(short_avg > long_avg + 0.4);
	story_free(st);
	free(st);
}

static void test_deterministic(void **state)
{
	(void)state;
	struct ccp_sim_config c;
	default_cfg(&c, 42, 12);
	size_t la, lb, lc;
	char *a = run_text(&c, &la, 0), *b = run_text(&c, &lb, 0);
	c.seed = 43;
	char *d = run_text(&c, &lc, 0);
	assert_true(la > 100000);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	/* Another seed: different traffic (not just different ids). */
	assert_true(lc != la || memcmp(a, d, la));
	assert_null(strstr(d, "\"e-42-"));
	assert_true(strstr(a, "\"contact\":\"c-42-1\"") != NULL);
	free(a);
	free(b);
	free(d);
}

/* Mean and standard error over batches. */
static void batch_stats(const double *x, int n, double *mean, double *se)
{
	double s = 0, ss = 0;
	for (int i = 0; i < n; i++)
		s += x[i];
	*mean = s / n;
	for (int i = 0; i < n; i++)
		ss += (x[i] - *mean) * (x[i] - *mean);
	*se = sqrt(ss / (n - 1) / n);
}

/* Flat curve, infinite patience, 100 calls/h, AHT 180 s, 6 agents (5
 * erlangs, 83% occupancy): Erlang C says SL(20 s) 47.4%, ASA 105.8 s,
 * P(wait) 58.8%. Waits are correlated from one call to the next, so the
 * sampling error comes from batch means: 20 batches of 150 h each (about
 * 15,000 calls), far longer than the queue's relaxation time (about an
 * hour at this load), so batch figures are close to independent and their
 * spread gives the standard error of the mean. We accept the simulation
 * when it is within 4 standard errors of Erlang C (a random seed would fail
 * about 1 time in 15,000), and require that error to be small (SL within
 * +-1 point, ASA within +-4 s per SE) so the check means something. The
 * seed is fixed, so the outcome is reproducible. */
static void test_matches_erlang_c(void **state)
{
	(void)state;
	enum { NB = 20 };
	struct ccp_sim_config c;
	mmc_cfg(&c, 6, 3000, 11);
	struct story *st = malloc(sizeof(*st));
	story_init(st, &c, NB);
	run_story(&c, st);
	assert_int_equal(st->types[CCP_EV_CONTACT_ABANDONED], 0);
	assert_int_equal(st->types[CCP_EV_CONTACT_TRANSFERRED], 0);
	double sl[NB], asa[NB], pw[NB];
	for (int b = 0; b < NB; b++) {
		assert_true(st->b_answered[b] > 10000);
		sl[b] = (double)st->b_in_sl[b] / (double)st->b_answered[b];
		pw[b] = (double)st->b_waited[b] / (double)st->b_answered[b];
		asa[b] = st->b_wait_sum_ms[b] / (double)st->b_answered[b] / 1000.0;
	}
	struct ccp_erlang e;
	assert_int_equal(ccp_erlang_predict(100, 180, 6, 20, &e), 0);
	double m, se;
	batch_stats(sl, NB, &m, &se);
	print_message("SL(20 s): sim %.4f +- %.4f (SE), Erlang C %.4f\n", m, se, e.sl);
	assert_true(se < 0.01);
	assert_true(fabs(m - e.sl) <= 4 * se);
	batch_stats(pw, NB, &m, &se);
	print_message("P(wait):  sim %.4f +- %.4f (SE), Erlang C %.4f\n", m, se, e.p_wait);
	assert_true(se < 0.01);
	assert_true(fabs(m - e.p_wait) <= 4 * se);
	batch_stats(asa, NB, &m, &se);
	print_message("ASA:      sim %.2f s +- %.2f (SE), Erlang C %.2f s\n", m, se, e.asa_s);
	assert_true(se < 4.0);
	assert_true(fabs(m - e.asa_s) <= 4 * se);
	story_free(st);
	free(st);
}

/* One more agent, a better service level, in the simulation as in theory;
 * the sim's own counters agree with what the events say. */
static void test_more_agents_better_sl(void **state)
{
	(void)state;
	double prev_sl = -1;
	for (int agents = 6; agents <= 9; agents++) {
		struct ccp_sim_config c;
		mmc_cfg(&c, agents, 400, 5);
		struct ccp_sim *s = make(&c);
		struct ccp_sim_event ev;
		while (ccp_sim_next(s, &ev) == 1)
			;
		struct ccp_sim_queue_stats q;
		ccp_sim_stats(s, 0, &q);
		ccp_sim_free(s);
		assert_true(q.answered > 38000);
		double sl = (double)q.answered_in_sl / (double)q.answered;
		struct ccp_erlang e;
		ccp_erlang_predict(100, 180, agents, 20, &e);
		print_message("%d agents: SL sim %.3f, Erlang C %.3f\n", agents, sl, e.sl);
		assert_true(sl > prev_sl + 0.04);
		assert_true(fabs(sl - e.sl) < 0.06); /* 400 h: a looser, single-run check */
		prev_sl = sl;
	}
}

/* The day curve: many more calls at 10:00 than at 03:00, a lunch dip
 * between the two peaks, and staffing that follows (agents log off in the
 * evening and on in the morning; at least one per queue at night). The
 * default queues have finite patience, so some customers abandon. */
static void test_day_curve_and_patience(void **state)
{
	(void)state;
	struct ccp_sim_config c;
	default_cfg(&c, 3, 48);
	struct ccp_sim *s = make(&c);
	struct ccp_sim_event ev;
	uint64_t offered_by_hour[24] = {0}, logons = 0, logoffs = 0, abandoned = 0;
	int *agent = malloc(20000 * sizeof(int));
	for (int i = 0; i < 20000; i++)
		agent[i] = CCP_AGENT_OFFLINE;
	/* Agents logged on, sampled as the clock passes 03:30 and 10:30 of
	 * the second day. */
	const int64_t t330 = c.start_ms + 27 * HOUR_MS + HOUR_MS / 2, t1030 = t330 + 7 * HOUR_MS;
	int on_shift = 0, on_at_3 = -1, on_at_10 = -1;
	while (ccp_sim_next(s, &ev) == 1) {
		if (on_at_3 < 0 && ev.ts_ms >= t330)
			on_at_3 = on_shift;
		if (on_at_10 < 0 && ev.ts_ms >= t1030)
			on_at_10 = on_shift;
		if (ev.type == CCP_EV_CONTACT_OFFERED && ev.other_queue < 0)
			offered_by_hour[(ev.ts_ms / HOUR_MS) % 24]++;
		abandoned += ev.type == CCP_EV_CONTACT_ABANDONED;
		if (ev.type != CCP_EV_AGENT_STATE)
			continue;
		if (agent[ev.agent] == CCP_AGENT_OFFLINE) {
			on_shift++;
			logons++;
		}
		if (ev.state == CCP_AGENT_OFFLINE) {
			on_shift--;
			logoffs++;
		}
		agent[ev.agent] = (int)ev.state;
	}
	ccp_sim_free(s);
	free(agent);
	print_message("offered 03h %llu, 10h %llu, 12h %llu, 14h %llu; logged on 03:30 %d, 10:30 %d\n",
		      (unsigned long long)offered_by_hour[3], (unsigned long long)offered_by_hour[10],
		      (unsigned long long)offered_by_hour[12], (unsigned long long)offered_by_hour[14], on_at_3,
		      on_at_10);
	assert_true(offered_by_hour[10] > 8 * offered_by_hour[3]);
	assert_true(offered_by_hour[14] > offered_by_hour[12]); /* two peaks, a lunch dip */
	assert_true(offered_by_hour[10] > offered_by_hour[12]);
	assert_true(on_at_10 > 3 * on_at_3);
	assert_true(on_at_3 >= 5); /* at least one per queue */
	assert_true(logoffs > 50 && logons > logoffs);
	assert_true(abandoned > 0);
}

/* Pools: once warmed up, a long run allocates nothing more. The whole
 * default center (flat, so the load stays at its peak) runs 100 h to reach
 * its high-water marks (a day of pending promises, the longest queue),
 * then 400 h more with the heap's in-use bytes unchanged. (This sees
 * growth and leaks, not a malloc freed within the same event; sim.c has
 * no allocation outside its three doubling arrays.) */
static void test_no_allocation_in_steady_state(void **state)
{
	(void)state;
	struct ccp_sim_config c;
	default_cfg(&c, 8, 500);
	c.curve = CCP_SIM_CURVE_FLAT;
	struct ccp_sim *s = make(&c);
	struct ccp_sim_event ev;
	char line[CCP_SIM_EVENT_MAX_BYTES];
	while (ccp_sim_next(s, &ev) == 1 && ev.ts_ms < c.start_ms + 100 * HOUR_MS)
		ccp_sim_format(s, &ev, line, sizeof(line));
	size_t before = mallinfo2().uordblks;
	uint64_t n = 0;
	while (ccp_sim_next(s, &ev) == 1) {
		ccp_sim_format(s, &ev, line, sizeof(line));
		n++;
	}
	size_t after = mallinfo2().uordblks;
	ccp_sim_free(s);
	print_message("%llu events after warm-up; in-use heap %zu -> %zu bytes\n", (unsigned long long)n, before,
		      after);
	assert_true(n > 1000000);
	assert_int_equal(after, before);
}

static void test_config_checks(void **state)
{
	(void)state;
	struct ccp_sim_config c;
	struct ccp_sim *s;
	char err[256];
	default_cfg(&c, 1, 1);
	strcpy(c.queues[1].name, "bad name");
	assert_int_equal(ccp_sim_new(&c, 20000, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad name"));
	default_cfg(&c, 1, 1);
	strcpy(c.queues[1].name, "billing");
	assert_int_equal(ccp_sim_new(&c, 20000, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	default_cfg(&c, 1, 1);
	c.queues[0].agents = 0;
	assert_int_equal(ccp_sim_new(&c, 20000, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "agents"));
	default_cfg(&c, 1, 1);
	c.transfer_share = 1.5;
	assert_int_equal(ccp_sim_new(&c, 20000, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "transfer_share"));
	default_cfg(&c, 1, 1);
	c.promise_on_time_share = 0.9;
	assert_int_equal(ccp_sim_new(&c, 20000, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
}

/* ---- the command ------------------------------------------------------------ */

static int cmd(const char *first, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = strdup(a);
	va_end(ap);
	argv[argc] = NULL;
	int rc = ccp_sim_cmd(argc, argv);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void test_cmd_output_and_usage(void **state)
{
	(void)state;
	char dir[256], path[512];
	ccp_test_tmpdir_make(dir, sizeof(dir), "sim");
	snprintf(path, sizeof(path), "%s/out.ndjson", dir);
	assert_int_equal(cmd("sim", "--seed", "5", "--start", "2026-11-22T00:00:00Z", "--events", "3000",
			     "--file", path, NULL),
			 0);
	size_t len, want_len;
	char *got = slurp(path, &len);
	struct ccp_sim_config c;
	default_cfg(&c, 5, 24);
	char *want = run_text(&c, &want_len, 3000);
	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, len);
	free(got);
	free(want);

	/* Own queues, flat, epoch-ms start, --out=... form. */
	assert_int_equal(cmd("sim", "--queue", "q1:600:60:12:inf", "--queue=q2:300:200:20:90", "--curve", "flat",
			     "--hours", "2", "--start", "1795305600000", "--seed=9", "--file", path, "--erlang",
			     NULL),
			 0);
	got = slurp(path, &len);
	assert_non_null(strstr(got, "\"queue\":\"q2\""));
	assert_null(strstr(got, "billing"));
	/* q1 has infinite patience: no abandons there. */
	assert_null(strstr(got, "\"contact.abandoned\",\"ts\":1795305600000,\"queue\":\"q1\""));
	free(got);

	assert_int_equal(cmd("sim", "--queue", "q1:600:120:12", NULL), 2);
	assert_int_equal(cmd("sim", "--queue", "q1:600:x:12:inf", NULL), 2);
	assert_int_equal(cmd("sim", "--queue", "bad name:600:120:12:inf", "--out", "none", NULL), 2);
	assert_int_equal(cmd("sim", "--curve", "weekly", NULL), 2);
	assert_int_equal(cmd("sim", "--speed", "0", NULL), 2);
	assert_int_equal(cmd("sim", "--start", "2026-13-01T00:00:00Z", NULL), 2);
	assert_int_equal(cmd("sim", "--bogus", NULL), 2);
	assert_int_equal(cmd("sim", "--seed", NULL), 2);
	assert_int_equal(cmd("sim", "--file", "/nonexistent-dir/x", "--events", "1", NULL), 1);
	assert_int_equal(cmd("sim", "--help", NULL), 0);
	ccp_test_tmpdir_remove(dir);
}

/* --speed X: an event at sim time t is written no earlier than t / X after
 * the start. 36 s of dense traffic at 100x: at least the last event's
 * offset / 100 of wall time. */
static void test_pacing(void **state)
{
	(void)state;
	struct ccp_sim_config c;
	mmc_cfg(&c, 30, 0.01, 2);
	c.queues[0].calls_per_hour = 36000;
	/* Last event time from an unpaced run of the same sim. */
	struct ccp_sim *s = make(&c);
	struct ccp_sim_event ev;
	int64_t last = 0;
	while (ccp_sim_next(s, &ev) == 1)
		last = ev.ts_ms;
	ccp_sim_free(s);
	assert_true(last - c.start_ms > 30000);
	s = make(&c);
	struct ccp_sim_run_opts o = {.out = CCP_SIM_OUT_NONE, .speed = 100};
	struct ccp_sim_run_result r;
	char err[256];
	assert_int_equal(ccp_sim_run(s, &o, &r, err, sizeof(err)), 0);
	ccp_sim_free(s);
	double want_s = (double)(last - c.start_ms) / 1000.0 / 100.0;
	print_message("paced: %.3f s for %.3f s of sim time at 100x\n", r.elapsed_s, want_s * 100);
	assert_true(r.elapsed_s >= want_s - 0.002);
	assert_true(r.elapsed_s < want_s + ccp_test_ms(2000) / 1000.0);
}

/* SIGINT during a real-time run: the command stops promptly, exit 0, with
 * what it wrote so far flushed. */
struct sigint_arg {
	const char *path;
};

static bool file_has_data(void *arg)
{
	struct stat sb;
	return stat(((struct sigint_arg *)arg)->path, &sb) == 0 && sb.st_size > 0;
}

static void *send_sigint(void *arg)
{
	if (ccp_test_wait_until(file_has_data, arg, 10000))
		kill(getpid(), SIGINT);
	return NULL;
}

static void test_sigint_stops(void **state)
{
	(void)state;
	char dir[256], path[512];
	ccp_test_tmpdir_make(dir, sizeof(dir), "simsig");
	snprintf(path, sizeof(path), "%s/rt.ndjson", dir);
	struct sigint_arg a = {path};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, send_sigint, &a), 0);
	long long t0 = ccp_test_now_ms();
	int rc = cmd("sim", "--speed", "1", "--hours", "1", "--file", path, NULL);
	long long took = ccp_test_now_ms() - t0;
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_true(took < ccp_test_ms(12000));
	size_t len;
	char *got = slurp(path, &len);
	assert_true(len > 0 && got[len - 1] == '\n');
	free(got);
	ccp_test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_event_valid_and_consistent),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_matches_erlang_c),
		cmocka_unit_test(test_more_agents_better_sl),
		cmocka_unit_test(test_day_curve_and_patience),
		cmocka_unit_test(test_no_allocation_in_steady_state),
		cmocka_unit_test(test_config_checks),
		cmocka_unit_test(test_cmd_output_and_usage),
		cmocka_unit_test(test_pacing),
		cmocka_unit_test(test_sigint_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
