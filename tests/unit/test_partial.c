/* partial: the same simulated events through one engine, and split by
 * queue over 2, 3 and 8 engines (as Kafka keys split them), give the same
 * `total` figures once the split engines' partials are encoded, decoded
 * and merged; blobs round-trip byte for byte; every truncation and a
 * foreign version are refused with a message; mismatched windows refuse
 * to merge; the stats hash carries every counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/cmdbuf.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/partial.h"
#include "ccpulse/sim.h"
#include "ccpulse/total.h"

#define MAX_SPLIT 8

/* Engines fed with the same traffic. Owner: one test. */
struct split {
	struct ccp_engine *one;
	struct ccp_engine *part[MAX_SPLIT];
	uint64_t rejects[MAX_SPLIT][CCP_REJECT__COUNT];
	int n;
};

static uint32_t queue_hash(struct ccp_str q)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < q.len; i++)
		h = (h ^ (unsigned char)q.ptr[i]) * 16777619u;
	return h;
}

static void feed(struct split *s, int n, uint64_t seed)
{
	struct ccp_engine_config ec;
	ccp_engine_config_defaults(&ec);
	char err[256];
	s->n = n;
	s->one = ccp_engine_new(&ec, err, sizeof(err));
	assert_non_null(s->one);
	for (int i = 0; i < n; i++) {
		s->part[i] = ccp_engine_new(&ec, err, sizeof(err));
		assert_non_null(s->part[i]);
	}
	struct ccp_sim_config sc;
	ccp_sim_config_default(&sc);
	sc.seed = seed;
	sc.start_ms = 1795330800000LL;
	sc.duration_ms = 2 * 3600000LL;
	struct ccp_sim *sim;
	assert_int_equal(ccp_sim_new(&sc, 20000, &sim, err, sizeof(err)), 0);
	static struct ccp_decoder dec;
	ccp_decoder_init(&dec);
	struct ccp_sim_event sev;
	char line[CCP_SIM_EVENT_MAX_BYTES];
	int64_t last = 0;
	while (ccp_sim_next(sim, &sev) == 1) {
		if (sev.type == CCP_EV_AGENT_STATE)
			continue; /* the agent table lives outside the partitions */
		size_t len = ccp_sim_format(sim, &sev, line, sizeof(line));
		struct ccp_event ev;
		assert_int_equal(ccp_decode(&dec, line, len - 1, &ev, NULL), CCP_REJECT_NONE);
		int k = (int)(queue_hash(ev.queue) % (uint32_t)n);
		ccp_engine_apply(s->part[k], &ev);
		/* Decoded again: ev's strings live in the decoder's scratch. */
		assert_int_equal(ccp_decode(&dec, line, len - 1, &ev, NULL), CCP_REJECT_NONE);
		ccp_engine_apply(s->one, &ev);
		last = ev.ts_ms > last ? ev.ts_ms : last;
		s->rejects[k][CCP_REJECT_BAD_FIELD] += (sev.n % 50 == 0); /* some made-up rejects to sum */
	}
	ccp_sim_free(sim);
	/* Every partition caught up to the same clock, as live partitions
	 * following the wall clock are. */
	ccp_engine_advance_to(s->one, last + 1);
	for (int i = 0; i < n; i++)
		ccp_engine_advance_to(s->part[i], last + 1);
}

static void split_free(struct split *s)
{
	ccp_engine_free(s->one);
	for (int i = 0; i < s->n; i++)
		ccp_engine_free(s->part[i]);
}

static void assert_fields_equal(const struct ccp_field *a, const struct ccp_field *b, size_t n,
				const char *const *names, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		char va[64] = "-", vb[64] = "-";
		if (a[i].present)
			ccp_field_format(&a[i], va, sizeof(va));
		if (b[i].present)
			ccp_field_format(&b[i], vb, sizeof(vb));
		if (a[i].present != b[i].present || strcmp(va, vb))
			fail_msg("%s %s: merged %s, single engine %s", what, names[i], va, vb);
	}
}

static void check_split(int n)
{
	struct split s;
	memset(&s, 0, sizeof(s));
	feed(&s, n, 40 + (uint64_t)n);
	static struct ccp_partial merged, one;
	char *buf = NULL, err[256];
	size_t cap = 0, len = 0;
	for (int i = 0; i < n; i++) {
		ccp_partial_from_engine(&one, s.part[i], s.rejects[i]);
		assert_int_equal(ccp_partial_encode(&one, &buf, &cap, &len), 0);
		assert_true(len < 16384);
		if (i == 0) {
			assert_int_equal(ccp_partial_decode(&merged, buf, len, err, sizeof(err)), 0);
		} else {
			assert_int_equal(ccp_partial_decode(&one, buf, len, err, sizeof(err)), 0);
			assert_int_equal(ccp_partial_merge(&merged, &one, err, sizeof(err)), 0);
		}
	}
	static struct ccp_hist hist;
	for (uint32_t w = 0; w < ccp_engine_window_count(s.one); w++) {
		struct ccp_window_stats ws;
		struct ccp_field want[CCP_WF__COUNT], got[CCP_WF__COUNT];
		ccp_total_window(s.one, w, &hist, &ws);
		ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 7, want);
		struct ccp_window_stats mw = merged.w[w].ws;
		mw.hist = &merged.w[w].hist;
		ccp_figures_window(&mw, CCP_SL_ANSWERED_ABANDONED, 7, got);
		assert_fields_equal(got, want, CCP_WF__COUNT, ccp_wfield_names, ccp_engine_window_name(s.one, w));
	}
	struct ccp_field want[CCP_LF__COUNT], got[CCP_LF__COUNT];
	ccp_total_live(s.one, want);
	struct ccp_live_stats ls = merged.live;
	ccp_figures_live(&ls, merged.now_ms, got);
	assert_fields_equal(got, want, CCP_LF__COUNT, ccp_lfield_names, "live");
	struct ccp_engine_counters k;
	ccp_engine_counters(s.one, &k);
	assert_int_equal(merged.counters.duplicates, k.duplicates);
	assert_int_equal(merged.counters.unmatched, k.unmatched);
	assert_int_equal(merged.counters.late_events, k.late_events);
	uint64_t rj = 0;
	for (int i = 0; i < n; i++)
		rj += s.rejects[i][CCP_REJECT_BAD_FIELD];
	assert_int_equal(merged.rejects[CCP_REJECT_BAD_FIELD], rj);
	free(buf);
	split_free(&s);
}

static void test_split_2(void **state)
{
	(void)state;
	check_split(2);
}

static void test_split_3(void **state)
{
	(void)state;
	check_split(3);
}

static void test_split_8(void **state)
{
	(void)state;
	check_split(8);
}

static void test_round_trip_and_corruption(void **state)
{
	(void)state;
	struct split s;
	memset(&s, 0, sizeof(s));
	feed(&s, 1, 7);
	static struct ccp_partial a, b;
	ccp_partial_from_engine(&a, s.one, s.rejects[0]);
	char *buf = NULL, *buf2 = NULL, err[256];
	size_t cap = 0, cap2 = 0, len = 0, len2 = 0;
	assert_int_equal(ccp_partial_encode(&a, &buf, &cap, &len), 0);
	printf("partial of a 2-hour center (5 windows): %zu bytes\n", len);
	assert_int_equal(ccp_partial_decode(&b, buf, len, err, sizeof(err)), 0);
	assert_int_equal(ccp_partial_encode(&b, &buf2, &cap2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	for (size_t cut = 0; cut < len; cut++) {
		err[0] = 0;
		assert_int_not_equal(ccp_partial_decode(&b, buf, cut, err, sizeof(err)), 0);
		assert_non_null(strstr(err, "partial:"));
	}
	/* One byte more, and another version. */
	char *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_not_equal(ccp_partial_decode(&b, longer, len + 1, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "trailing"));
	longer[3] = 9;
	assert_int_not_equal(ccp_partial_decode(&b, longer, len, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "version"));
	/* Random damage never crashes (ASan watches). */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 20000; i++) {
		memcpy(longer, buf, len);
		for (int k = 0; k < 3; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			longer[x % len] = (char)(x >> 32);
		}
		(void)ccp_partial_decode(&b, longer, len, err, sizeof(err));
	}
	free(longer);
	/* Different window lists do not merge. */
	ccp_partial_from_engine(&b, s.one, s.rejects[0]);
	snprintf(b.w[1].name, sizeof(b.w[1].name), "2m");
	assert_int_not_equal(ccp_partial_merge(&a, &b, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "2m"));
	b.n_windows = 2;
	assert_int_not_equal(ccp_partial_merge(&a, &b, err, sizeof(err)), 0);
	free(buf);
	free(buf2);
	split_free(&s);
}

static void test_stats_render(void **state)
{
	(void)state;
	static struct ccp_partial p;
	memset(&p, 0, sizeof(p));
	p.counters = (struct ccp_engine_counters){.late_events = 1, .duplicates = 2, .expired = 3, .unmatched = 4};
	for (int r = 1; r < CCP_REJECT__COUNT; r++)
		p.rejects[r] = (uint64_t)(10 + r);
	struct ccp_cmdbuf cb;
	ccp_cmdbuf_init(&cb);
	ccp_partial_render_stats(&cb, &p, "pre");
	assert_int_equal(ccp_cmdbuf_count(&cb), 2);
	const char **argv;
	const size_t *lens;
	int argc = ccp_cmdbuf_argv(&cb, 1, &argv, &lens);
	assert_int_equal(argc, 2 + 2 * (4 + CCP_REJECT__COUNT - 1));
	assert_memory_equal(argv[1], "pre:stats", 9);
	bool saw_future = false;
	for (int i = 2; i < argc; i += 2) {
		char name[64], val[32];
		snprintf(name, sizeof(name), "%.*s", (int)lens[i], argv[i]);
		snprintf(val, sizeof(val), "%.*s", (int)lens[i + 1], argv[i + 1]);
		if (!strcmp(name, "unmatched"))
			assert_string_equal(val, "4");
		if (!strcmp(name, "errors_future_ts")) {
			saw_future = true;
			char want[8];
			snprintf(want, sizeof(want), "%d", 10 + CCP_REJECT_FUTURE_TS);
			assert_string_equal(val, want);
		}
	}
	assert_true(saw_future);
	ccp_cmdbuf_deinit(&cb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_2),
		cmocka_unit_test(test_split_3),
		cmocka_unit_test(test_split_8),
		cmocka_unit_test(test_round_trip_and_corruption),
		cmocka_unit_test(test_stats_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
