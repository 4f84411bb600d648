/* Engine throughput on one core: decode + aggregate over a realistic mix,
 * beside decode alone and a byte-scan ceiling, in one run.
 *
 * usage: bench_engine [EVENTS (default 2000000)] [QUEUES (default 50)] */
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

/* Decodes one event ahead and prefetches its table slots while the
 * current one is applied, as replay does. */
static double run_pipelined(const struct bench_events *b, struct ccp_engine *e, size_t *ok)
{
	static struct ccp_decoder dec[2];
	static struct ccp_event ev[2];
	ccp_decoder_init(&dec[0]);
	ccp_decoder_init(&dec[1]);
	size_t good = 0;
	int cur = 0, have = 0;
	double t0 = bench_now_s();
	const char *p = b->buf, *end = b->buf + b->len;
	for (;;) {
		int next_ok = 0;
		if (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			next_ok = ccp_decode(&dec[!cur], p, (size_t)(nl - p), &ev[!cur], NULL) == CCP_REJECT_NONE;
			if (next_ok)
				ccp_engine_prefetch(e, &ev[!cur]);
			p = nl + 1;
		} else if (!have) {
			break;
		}
		if (have) {
			ccp_engine_apply(e, &ev[cur]);
			good++;
		}
		have = next_ok;
		cur = !cur;
		if (!have && p >= end)
			break;
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

int main(int argc, char **argv)
{
	size_t want = argc > 1 ? (size_t)atol(argv[1]) : 2000000;
	int queues = argc > 2 ? atoi(argv[2]) : 50;
	struct bench_events b;
	if (bench_events_make(&b, want, queues))
		return 1;
	double mb = (double)b.len / 1e6;
	printf("events: %zu, %.1f MB, %d queues\n", b.n, mb, queues);

	size_t lines, ok;
	double best_scan = 1e9, best_dec = 1e9, best_all = 1e9, best_pipe = 1e9;
	size_t mem = 0;
	for (int rep = 0; rep < 3; rep++) {
		double s = scan_lines(&b, &lines);
		best_scan = s < best_scan ? s : best_scan;
		double d = run(&b, NULL, &ok);
		best_dec = d < best_dec ? d : best_dec;
		struct ccp_engine_config cfg;
		ccp_engine_config_defaults(&cfg);
		char err[256];
		struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
		double a = run(&b, e, &ok);
		best_all = a < best_all ? a : best_all;
		mem = ccp_engine_memory_bytes(e);
		ccp_engine_free(e);
		e = ccp_engine_new(&cfg, err, sizeof(err));
		size_t ok2;
		double pp = run_pipelined(&b, e, &ok2);
		best_pipe = pp < best_pipe ? pp : best_pipe;
		ccp_engine_free(e);
		if (ok2 != ok) {
			fprintf(stderr, "bench_engine: pipelined run applied %zu, plain %zu\n", ok2, ok);
			return 1;
		}
	}
	if (ok != b.n) {
		fprintf(stderr, "bench_engine: %zu of %zu events rejected\n", b.n - ok, b.n);
		return 1;
	}
	double n = (double)b.n;
	printf("%-28s %12s %10s %8s\n", "stage (one core, best of 3)", "events/s", "MB/s", "ratio");
	printf("%-28s %12.0f %10.0f %8s\n", "ceiling: memchr line scan", n / best_scan, mb / best_scan, "1.000");
	printf("%-28s %12.0f %10.0f %8.3f\n", "decode only", n / best_dec, mb / best_dec, best_scan / best_dec);
	printf("%-28s %12.0f %10.0f %8.3f\n", "decode + engine apply", n / best_all, mb / best_all, best_scan / best_all);
	printf("%-28s %12.0f %10.0f %8.3f\n", "decode + apply, pipelined", n / best_pipe, mb / best_pipe, best_scan / best_pipe);
	printf("engine memory at end: %.1f MB (%d queues, %zu events)\n", (double)mem / 1e6, queues, b.n);
	free(b.buf);
	return 0;
}
