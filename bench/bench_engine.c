/* Engine throughput on one core: decode + aggregate over a realistic mix,
 * beside decode alone and a byte-scan ceiling, in one run.
 *
 * usage: bench_engine [EVENTS (default 2000000)] [QUEUES (default 50)]
 *
 * Stages, each best of 3 over the same bytes: a memchr line scan (the
 * ceiling), decode alone, decode + apply one event at a time, decode +
 * apply in batches of 8 with the table slots prefetched, and the batched
 * run again with the dedup set capped at 64 Ki ids (to show what the 24 h
 * id set's cache misses cost). Then bytes per open record and per queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_events.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"

static double scan_lines(const struct bench_events *b, size_t *lines)
{
	double t0 = bench_now_s();
	size_t n = 0;
	const char *p = b->buf, *end = b->buf + b->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		n++;
		p = nl + 1;
	}
	*lines = n;
	return bench_now_s() - t0;
}

/* Decodes BATCH events ahead and prefetches their table slots (dedup,
 * contact) before applying them, so the cache misses of a batch overlap
 * instead of queueing one behind another. Each slot has its own decoder:
 * an event may point into its decoder's scratch. */
#define BATCH 8
static double run_batched(const struct bench_events *b, struct ccp_engine *e, size_t *ok)
{
	static struct ccp_decoder dec[BATCH];
	static struct ccp_event ev[BATCH];
	for (int i = 0; i < BATCH; i++)
		ccp_decoder_init(&dec[i]);
	size_t good = 0;
	double t0 = bench_now_s();
	const char *p = b->buf, *end = b->buf + b->len;
	while (p < end) {
		int n = 0;
		while (n < BATCH && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (ccp_decode(&dec[n], p, (size_t)(nl - p), &ev[n], NULL) == CCP_REJECT_NONE)
				ccp_engine_prefetch(e, &ev[n++]);
			p = nl + 1;
		}
		for (int i = 0; i < n; i++)
			ccp_engine_apply(e, &ev[i]);
		good += (size_t)n;
	}
	*ok = good;
	return bench_now_s() - t0;
}

static double run(const struct bench_events *b, struct ccp_engine *e, size_t *ok)
{
	static struct ccp_decoder dec;
	static struct ccp_event ev;
	ccp_decoder_init(&dec);
	size_t good = 0;
	double t0 = bench_now_s();
	const char *p = b->buf, *end = b->buf + b->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (ccp_decode(&dec, p, (size_t)(nl - p), &ev, NULL) == CCP_REJECT_NONE) {
			good++;
			if (e)
				ccp_engine_apply(e, &ev);
		}
		p = nl + 1;
	}
	*ok = good;
	return bench_now_s() - t0;
}

static struct ccp_engine *engine(uint32_t dedup_max_ids)
{
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	if (dedup_max_ids)
		cfg.dedup_max_ids = dedup_max_ids;
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "bench_engine: %s\n", err);
		exit(1);
	}
	return e;
}

static void put(struct ccp_engine *e, struct ccp_decoder *d, const char *line)
{
	struct ccp_event ev;
	if (ccp_decode(d, line, strlen(line), &ev, NULL) != CCP_REJECT_NONE) {
		fprintf(stderr, "bench_engine: rejected %s\n", line);
		exit(1);
	}
	ccp_engine_apply(e, &ev);
}

/* Bytes held per open contact, per open promise and per queue (all its
 * rings and histograms), each measured as the growth of
 * ccp_engine_memory_bytes() over many records, minus the dedup entries
 * their events leave (reported apart). */
static void memory_report(void)
{
	static struct ccp_decoder d;
	ccp_decoder_init(&d);
	char line[512];
	const long long t = 1795300000000LL;
	const int n = 200000;
	for (int kind = 0; kind < 3; kind++) {
		struct ccp_engine *e = engine(0);
		put(e, &d, "{\"id\":\"w\",\"type\":\"contact.offered\",\"ts\":1795300000000,\"queue\":\"q0\",\"contact\":\"w\"}");
		size_t before = ccp_engine_memory_bytes(e);
		int count = kind == 2 ? 200 : n;
		for (int i = 0; i < count; i++) {
			if (kind == 0)
				snprintf(line, sizeof(line), "{\"id\":\"e%d\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q0\",\"contact\":\"c%d\"}", i, t, i);
			else if (kind == 1)
				snprintf(line, sizeof(line), "{\"id\":\"e%d\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"q0\",\"contact\":\"c\",\"promise\":\"p%d\",\"due\":%lld}", i, t, i, t + 3600000);
			else
				snprintf(line, sizeof(line), "{\"id\":\"e%d\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"queue-%d\",\"contact\":\"c\"}", i, t, i);
			put(e, &d, line);
		}
		size_t grown = ccp_engine_memory_bytes(e) - before;
		static const char *what[] = {"open contact", "open promise", "queue (rings, windows, histograms)"};
		printf("memory per %-36s %8zu bytes (incl. ~%d bytes of its event's dedup entry)\n", what[kind],
		       grown / (size_t)count, kind == 2 ? 0 : 32);
		ccp_engine_free(e);
	}
}

int main(int argc, char **argv)
{
	size_t want = argc > 1 ? (size_t)atol(argv[1]) : 2000000;
	int queues = argc > 2 ? atoi(argv[2]) : 50;
	struct bench_events b;
	if (bench_events_make(&b, want, queues))
		return 1;
	double mb = (double)b.len / 1e6;
	printf("events: %zu, %.1f MB, %d queues\n", b.n, mb, queues);

	enum { SCAN, DECODE, APPLY, BATCHED, SMALL_DEDUP, N_STAGES };
	static const char *names[N_STAGES] = {
		"ceiling: memchr line scan", "decode only", "decode + engine apply",
		"decode + apply, batched 8", "same, dedup capped at 64 Ki",
	};
	double best[N_STAGES];
	for (int i = 0; i < N_STAGES; i++)
		best[i] = 1e9;
	size_t lines, ok = 0, mem = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t[N_STAGES];
		size_t okb, oks;
		t[SCAN] = scan_lines(&b, &lines);
		t[DECODE] = run(&b, NULL, &ok);
		struct ccp_engine *e = engine(0);
		t[APPLY] = run(&b, e, &ok);
		mem = ccp_engine_memory_bytes(e);
		ccp_engine_free(e);
		e = engine(0);
		t[BATCHED] = run_batched(&b, e, &okb);
		ccp_engine_free(e);
		e = engine(65536);
		t[SMALL_DEDUP] = run_batched(&b, e, &oks);
		ccp_engine_free(e);
		if (okb != ok || oks != ok) {
			fprintf(stderr, "bench_engine: runs applied %zu / %zu / %zu events\n", ok, okb, oks);
			return 1;
		}
		for (int i = 0; i < N_STAGES; i++)
			best[i] = t[i] < best[i] ? t[i] : best[i];
	}
	if (ok != b.n) {
		fprintf(stderr, "bench_engine: %zu of %zu events rejected\n", b.n - ok, b.n);
		return 1;
	}
	double n = (double)b.n;
	printf("%-30s %12s %8s %10s %8s\n", "stage (one core, best of 3)", "events/s", "ns/ev", "MB/s", "ratio");
	for (int i = 0; i < N_STAGES; i++)
		printf("%-30s %12.0f %8.1f %10.0f %8.3f\n", names[i], n / best[i], best[i] / n * 1e9,
		       mb / best[i], best[SCAN] / best[i]);
	printf("engine apply alone (decode+apply minus decode): %.1f ns/event\n",
	       (best[APPLY] - best[DECODE]) / n * 1e9);
	printf("engine memory at end: %.1f MB (%d queues, %zu events, all ids within the dedup horizon)\n",
	       (double)mem / 1e6, queues, b.n);
	memory_report();
	free(b.buf);
	return 0;
}
