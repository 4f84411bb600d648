/* Bench-only: a realistic contact-center event mix as NDJSON in memory, and
 * a timer. Shared by the decoder and engine benches so both measure the
 * same bytes. */
#ifndef CCPULSE_BENCH_EVENTS_H
#define CCPULSE_BENCH_EVENTS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Generated events. Owner: the bench's main. */
struct bench_events {
	char *buf;
	size_t len, n;
};

static inline double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t bench_rand(uint64_t *s)
{
	/* splitmix64: deterministic, no libc state */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void bench_ts(char *out, size_t cap, int64_t ms, int rfc)
{
	if (!rfc) {
		snprintf(out, cap, "%lld", (long long)ms);
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, cap, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* About `want` events of a center with `queues` queues over a few hours:
 * offered, answered and ended dominate; abandons, transfers, promises,
 * surveys, complaints and agent states as a real center has them. */
static inline int bench_events_make(struct bench_events *b, size_t want, int queues)
{
	size_t cap = want * 200 + 4096;
	b->buf = malloc(cap);
	if (!b->buf)
		return -1;
	b->len = b->n = 0;
	uint64_t s = 42;
	int64_t t = 1795300000000LL;
	char ts[64], ts2[64];
	static const char *ch[] = {"voice", "voice", "voice", "chat", "email", "sms"};
#define EMIT(...)                                                                          \
	do {                                                                               \
		b->len += (size_t)snprintf(b->buf + b->len, cap - b->len, __VA_ARGS__);    \
		b->buf[b->len++] = '\n';                                                   \
		b->n++;                                                                    \
	} while (0)
	uint64_t id = 0, c = 0;
	while (b->n < want && b->len + 4096 < cap) {
		t += (int64_t)(bench_rand(&s) % 40); /* ~50 contacts/s over the center */
		int q = (int)(bench_rand(&s) % (uint64_t)queues);
		int rfc = bench_rand(&s) % 5 == 0;
		c++;
		bench_ts(ts, sizeof(ts), t, rfc);
		EMIT("{\"id\":\"e-%llu\",\"type\":\"contact.offered\",\"ts\":%s,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"channel\":\"%s\"}",
		     (unsigned long long)++id, ts, q, (unsigned long long)c, ch[bench_rand(&s) % 6]);
		int64_t wait = (int64_t)(bench_rand(&s) % 60000);
		if (bench_rand(&s) % 100 < 4) {
			bench_ts(ts, sizeof(ts), t + wait, rfc);
			EMIT("{\"id\":\"e-%llu\",\"type\":\"contact.abandoned\",\"ts\":%s,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\"}",
			     (unsigned long long)++id, ts, q, (unsigned long long)c);
			continue;
		}
		bench_ts(ts, sizeof(ts), t + wait, rfc);
		EMIT("{\"id\":\"e-%llu\",\"type\":\"contact.answered\",\"ts\":%s,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"agent\":\"agent-%llu\"}",
		     (unsigned long long)++id, ts, q, (unsigned long long)c, (unsigned long long)(bench_rand(&s) % 500));
		int64_t end = t + wait + (int64_t)(bench_rand(&s) % 600000);
		bench_ts(ts, sizeof(ts), end, rfc);
		if (bench_rand(&s) % 100 < 3)
			EMIT("{\"id\":\"e-%llu\",\"type\":\"contact.transferred\",\"ts\":%s,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"to_queue\":\"queue-%d\"}",
			     (unsigned long long)++id, ts, q, (unsigned long long)c, (q + 1) % queues);
		else
			EMIT("{\"id\":\"e-%llu\",\"type\":\"contact.ended\",\"ts\":%s,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"resolved\":%s}",
			     (unsigned long long)++id, ts, q, (unsigned long long)c, bench_rand(&s) % 3 ? "true" : "false");
		uint64_t r = bench_rand(&s) % 100;
		if (r < 30)
			EMIT("{\"id\":\"e-%llu\",\"type\":\"survey.submitted\",\"ts\":%lld,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"csat\":%d,\"empathy\":%d,\"reliability\":%d}",
			     (unsigned long long)++id, (long long)end + 1000, q, (unsigned long long)c,
			     (int)(bench_rand(&s) % 5) + 1, (int)(bench_rand(&s) % 5) + 1, (int)(bench_rand(&s) % 5) + 1);
		if (r >= 30 && r < 45) {
			bench_ts(ts2, sizeof(ts2), end + 3600000, 0);
			EMIT("{\"id\":\"e-%llu\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"promise\":\"p-%llu\",\"due\":%s,\"kind\":\"callback\"}",
			     (unsigned long long)++id, (long long)end, q, (unsigned long long)c, (unsigned long long)c, ts2);
			if (r < 42)
				EMIT("{\"id\":\"e-%llu\",\"type\":\"promise.kept\",\"ts\":%lld,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"promise\":\"p-%llu\"}",
				     (unsigned long long)++id, (long long)end + (int64_t)(bench_rand(&s) % 4000000), q,
				     (unsigned long long)c, (unsigned long long)c);
		}
		if (r == 50) {
			EMIT("{\"id\":\"e-%llu\",\"type\":\"complaint.opened\",\"ts\":%lld,\"queue\":\"queue-%d\",\"contact\":\"c-%llu\",\"complaint\":\"k-%llu\"}",
			     (unsigned long long)++id, (long long)end, q, (unsigned long long)c, (unsigned long long)c);
		}
		if (r >= 60) {
			int a = (int)(bench_rand(&s) % 500);
			EMIT("{\"id\":\"e-%llu\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"agent-%d\",\"state\":\"%s\",\"queues\":[\"queue-%d\",\"queue-%d\"]}",
			     (unsigned long long)++id, (long long)(t + wait), a, bench_rand(&s) % 2 ? "busy" : "wrap_up",
			     a % queues, (a + 7) % queues);
		}
	}
#undef EMIT
	return 0;
}

#endif
