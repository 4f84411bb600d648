/* Erlang C: the M/M/c queue (Poisson arrivals, exponential handle times,
 * `agents` identical servers, infinite patience, FIFO) that workforce
 * planners use to staff a queue. Pure functions; no allocation.
 *
 * With traffic A = calls_per_hour * aht_s / 3600 erlangs and c agents:
 *   P(wait)  = C(c, A), from the Erlang B recursion (stable for large c)
 *   SL(t)    = 1 - C * exp(-(c - A) * t / aht)     answered within t
 *   ASA      = C * aht / (c - A)                   mean wait, all calls
 * When c <= A the queue grows without bound: P(wait) = 1, SL = 0 and ASA
 * is infinite.
 */
#ifndef CCPULSE_ERLANG_H
#define CCPULSE_ERLANG_H

#include <stdbool.h>

/* One prediction. Owner: the caller; plain values. */
struct ccp_erlang {
	double traffic_erl; /* offered load A, erlangs */
	double occupancy;   /* A / c (may exceed 1 when unstable) */
	bool stable;        /* c > A */
	double p_wait;      /* probability an arriving call waits (> 0 s) */
	double sl;          /* share answered within the threshold */
	double asa_s;       /* average speed of answer, s (INFINITY if unstable) */
};

/* Erlang C probability of waiting for `traffic_erl` erlangs on `agents`
 * agents; 1.0 when agents <= traffic. Returns NaN for negative traffic or
 * agents < 1. Pure. */
double ccp_erlang_c(double traffic_erl, int agents);

/* Fills `out` for a queue of `calls_per_hour` arrivals, mean handle time
 * `aht_s` and `agents` agents, with service level threshold
 * `threshold_s`. Returns 0, or -EINVAL when an argument is out of range
 * (rates < 0, aht <= 0, agents < 1, threshold < 0). Pure. */
int ccp_erlang_predict(double calls_per_hour, double aht_s, int agents, double threshold_s,
		       struct ccp_erlang *out);

/* The fewest agents (<= max_agents) whose predicted service level at
 * `threshold_s` reaches `target_sl` (0..1); -1 if none up to max_agents
 * does or an argument is out of range. Pure. */
int ccp_erlang_agents_for_sl(double calls_per_hour, double aht_s, double threshold_s, double target_sl,
			     int max_agents);

#endif
