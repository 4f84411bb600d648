/* Erlang C (see include/ccpulse/erlang.h for the formulas).
 *
 * The textbook form sum(A^k / k!) overflows a double near c = 170; the
 * Erlang B recursion B(k) = A B(k-1) / (k + A B(k-1)) stays in [0, 1] for
 * any c, and C = c B / (c - A (1 - B)) follows from B.
 */
#include "ccpulse/erlang.h"

#include <errno.h>
#include <math.h>

double ccp_erlang_c(double traffic_erl, int agents)
{
	if (!(traffic_erl >= 0) || agents < 1)
		return NAN;
	if ((double)agents <= traffic_erl)
		return 1.0;
	double b = 1.0; /* B(0) */
	for (int k = 1; k <= agents; k++)
		b = traffic_erl * b / (k + traffic_erl * b);
	double c = agents;
	return c * b / (c - traffic_erl * (1.0 - b));
}

int ccp_erlang_predict(double calls_per_hour, double aht_s, int agents, double threshold_s,
		       struct ccp_erlang *out)
{
	if (!(calls_per_hour >= 0) || !(aht_s > 0) || agents < 1 || !(threshold_s >= 0) ||
	    !isfinite(calls_per_hour) || !isfinite(aht_s))
		return -EINVAL;
	double a = calls_per_hour * aht_s / 3600.0;
	out->traffic_erl = a;
	out->occupancy = a / agents;
	out->stable = (double)agents > a;
	if (!out->stable) {
		out->p_wait = 1.0;
		out->sl = 0.0;
		out->asa_s = INFINITY;
		return 0;
	}
	double pw = ccp_erlang_c(a, agents);
	out->p_wait = pw;
	out->sl = 1.0 - pw * exp(-((double)agents - a) * threshold_s / aht_s);
	out->asa_s = pw * aht_s / ((double)agents - a);
	return 0;
}

int ccp_erlang_agents_for_sl(double calls_per_hour, double aht_s, double threshold_s, double target_sl,
			     int max_agents)
{
	if (!(target_sl >= 0 && target_sl <= 1))
		return -1;
	struct ccp_erlang e;
	for (int n = 1; n <= max_agents; n++) {
		if (ccp_erlang_predict(calls_per_hour, aht_s, n, threshold_s, &e) < 0)
			return -1;
		if (e.stable && e.sl >= target_sl)
			return n;
	}
	return -1;
}
