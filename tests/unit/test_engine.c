/* Unit tests: the engine's windows, histograms, pairing, promises, expiry,
 * dedup and `today`, driven through decoded events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/hist.h"
#include "ccpulse/tz.h"

#define T0 1795339800000LL /* 2026-11-22T07:30:00Z, a bucket edge */

static struct ccp_decoder dec;

static enum ccp_apply_result put(struct ccp_engine *e, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	struct ccp_event ev;
	enum ccp_reject r = ccp_decode(&dec, buf, strlen(buf), &ev, NULL);
	if (r != CCP_REJECT_NONE)
		fail_msg("test event rejected (%s): %s", ccp_reject_names[r], buf);
	return ccp_engine_apply(e, &ev);
}

static int n_id;
#define EV(e, type, ts, extra)                                                                      \
	put(e, "{\"id\":\"i%d\",\"type\":\"" type "\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"" extra "}", \
	    ++n_id, (long long)(ts))
#define EVC(e, type, ts, contact, extra)                                                                  \
	put(e, "{\"id\":\"i%d\",\"type\":\"" type "\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"%s\"" extra "}", \
	    ++n_id, (long long)(ts), contact)

static struct ccp_engine *mk(void)
{
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	return e;
}

static uint32_t win(const struct ccp_engine *e, const char *name)
{
	for (uint32_t w = 0; w < ccp_engine_window_count(e); w++)
		if (!strcmp(ccp_engine_window_name(e, w), name))
			return w;
	fail_msg("no window %s", name);
	return 0;
}

static struct ccp_window_stats stats(const struct ccp_engine *e, const char *w)
{
	struct ccp_window_stats ws;
	ccp_engine_window_stats(e, 0, win(e, w), &ws);
	return ws;
}

static void test_window_slides_and_expires(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	EVC(e, "contact.offered", T0, "a", "");
	EVC(e, "contact.offered", T0 + 60000, "b", "");
	assert_int_equal(stats(e, "5m").sums.offered, 2);
	/* 5 minutes after the first bucket, it has left the 5m window. */
	EVC(e, "contact.offered", T0 + 300000, "c", "");
	assert_int_equal(stats(e, "5m").sums.offered, 2);
	assert_int_equal(stats(e, "15m").sums.offered, 3);
	struct ccp_window_stats ws = stats(e, "5m");
	assert_int_equal(ws.window_end_ms, T0 + 310000);
	assert_int_equal(ws.window_start_ms, T0 + 10000);
	/* Out of order, still inside 15m but not 5m. */
	EVC(e, "contact.offered", T0 + 5000, "d", "");
	assert_int_equal(stats(e, "5m").sums.offered, 2);
	assert_int_equal(stats(e, "15m").sums.offered, 4);
	/* A jump longer than every 10 s ring empties them; 24h keeps all. */
	ccp_engine_advance_to(e, T0 + 2 * 3600000);
	assert_int_equal(stats(e, "1h").sums.offered, 0);
	assert_int_equal(stats(e, "24h").sums.offered, 4);
	/* The ring slots are reused cleanly after the jump. */
	EVC(e, "contact.offered", T0 + 2 * 3600000 + 1, "e", "");
	assert_int_equal(stats(e, "5m").sums.offered, 1);
	assert_int_equal(stats(e, "1h").sums.offered, 1);
	ccp_engine_free(e);
}

static void test_waits_sl_and_percentiles(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	char c[16];
	for (int i = 0; i < 100; i++) {
		snprintf(c, sizeof(c), "c%d", i);
		EVC(e, "contact.offered", T0, c, ",\"channel\":\"chat\"");
	}
	for (int i = 0; i < 100; i++) {
		snprintf(c, sizeof(c), "c%d", i);
		EVC(e, "contact.answered", T0 + 1000 * (i + 1), c, "");
	}
	struct ccp_window_stats ws = stats(e, "5m");
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	assert_int_equal(f[CCP_WF_ANSWERED_IN_SL].i, 60); /* chat: 60 s */
	assert_int_equal(f[CCP_WF_ASA_MS].i, 50500);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 100000);
	/* Nearest rank: p50 = 50th smallest = 50 s, p90 = 90 s (within 1 %). */
	assert_true(llabs(f[CCP_WF_WAIT_P50_MS].i - 50000) <= 500);
	assert_true(llabs(f[CCP_WF_WAIT_P90_MS].i - 90000) <= 900);
	assert_true(llabs(f[CCP_WF_WAIT_P99_MS].i - 99000) <= 990);
	assert_true(f[CCP_WF_SERVICE_LEVEL].present);
	assert_true(f[CCP_WF_SERVICE_LEVEL].d > 0.5999 && f[CCP_WF_SERVICE_LEVEL].d < 0.6001);
	/* The waits leave the histogram with their buckets. */
	ccp_engine_advance_to(e, T0 + 100000 + 300000);
	ws = stats(e, "5m");
	assert_true(ws.hist->n < 100);
	assert_int_equal(ws.hist->n, ws.sums.wait_n);
	ccp_engine_advance_to(e, T0 + 100000 + 600000);
	ws = stats(e, "5m");
	assert_int_equal(ws.hist->n, 0);
	assert_false(ws.has_max_wait);
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	assert_false(f[CCP_WF_SERVICE_LEVEL].present);
	assert_false(f[CCP_WF_ASA_MS].present);
	assert_true(f[CCP_WF_OFFERED].present);
	ccp_engine_free(e);
}

static void test_contacts(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	EVC(e, "contact.offered", T0, "a", "");
	EVC(e, "contact.abandoned", T0 + 4999, "a", "");
	EVC(e, "contact.offered", T0, "b", "");
	EVC(e, "contact.abandoned", T0 + 5000, "b", "");
	EVC(e, "contact.abandoned", T0 + 5000, "ghost", "");
	EVC(e, "contact.answered", T0 + 5000, "ghost2", "");
	EVC(e, "contact.offered", T0 + 6000, "t", ",\"transfer_from\":\"x\"");
	EVC(e, "contact.answered", T0 + 7000, "t", "");
	EVC(e, "contact.ended", T0 + 9000, "t", ",\"resolved\":true");
	EVC(e, "contact.offered", T0 + 6000, "f", "");
	EVC(e, "contact.answered", T0 + 8000, "f", "");
	EVC(e, "contact.ended", T0 + 10000, "f", ",\"resolved\":true");
	EVC(e, "contact.offered", T0 + 6000, "w", "");
	EVC(e, "contact.transferred", T0 + 6500, "w", "");
	EVC(e, "contact.offered", T0 + 7000, "still", "");
	struct ccp_window_stats ws = stats(e, "5m");
	assert_int_equal(ws.sums.abandoned_short, 1);
	assert_int_equal(ws.sums.abandoned, 2);
	assert_int_equal(ws.sums.transferred_in, 1);
	assert_int_equal(ws.sums.transferred_out, 1);
	assert_int_equal(ws.sums.ended, 2);
	assert_int_equal(ws.sums.fcr, 1);
	assert_int_equal(ws.sums.aht_n, 2);
	assert_int_equal(ws.sums.aht_sum_ms, 4000);
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	assert_int_equal(c.unmatched, 2);
	struct ccp_live_stats ls;
	ccp_engine_live_stats(e, 0, &ls);
	assert_int_equal(ls.waiting, 1);
	assert_int_equal(ls.oldest_wait_start_ms, T0 + 7000);
	ccp_engine_free(e);
}

static void test_promises(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	long long due = T0 + 60000;
	EV(e, "promise.made", T0, ",\"promise\":\"ontime\",\"due\":1795339860000");
	EV(e, "promise.made", T0, ",\"promise\":\"atdue\",\"due\":1795339860000");
	EV(e, "promise.made", T0, ",\"promise\":\"late\",\"due\":1795339860000");
	EV(e, "promise.made", T0, ",\"promise\":\"never\",\"due\":1795339860000");
	EV(e, "promise.made", T0, ",\"promise\":\"cxl\",\"due\":1795339860000");
	EV(e, "promise.made", T0, ",\"promise\":\"cxl\",\"due\":1795339860000"); /* unmatched */
	EV(e, "promise.kept", T0 + 1000, ",\"promise\":\"ontime\"");
	EV(e, "promise.cancelled", T0 + 2000, ",\"promise\":\"cxl\"");
	struct ccp_live_stats ls;
	ccp_engine_live_stats(e, 0, &ls);
	assert_int_equal(ls.promises_open, 3);
	EV(e, "promise.kept", due, ",\"promise\":\"atdue\"");
	struct ccp_window_stats ws = stats(e, "5m");
	assert_int_equal(ws.sums.promises_made, 5);
	assert_int_equal(ws.sums.promises_due, 4);
	assert_int_equal(ws.sums.promises_kept_on_time, 2);
	assert_int_equal(ws.sums.promises_broken, 2);
	ccp_engine_live_stats(e, 0, &ls);
	assert_int_equal(ls.promises_open, 0);
	assert_int_equal(ls.promises_overdue, 2);
	EV(e, "promise.kept", due + 5000, ",\"promise\":\"late\"");
	EV(e, "promise.kept", due + 6000, ",\"promise\":\"late\""); /* released: unmatched */
	ws = stats(e, "5m");
	assert_int_equal(ws.sums.promises_kept_late, 1);
	ccp_engine_live_stats(e, 0, &ls);
	assert_int_equal(ls.promises_overdue, 1);
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	assert_int_equal(c.unmatched, 2);
	ccp_engine_free(e);
}

static void count_overdue(void *ud, struct ccp_str q, struct ccp_str p, int64_t due)
{
	(void)q;
	(void)due;
	if (p.len == 5 && !memcmp(p.ptr, "never", 5))
		(*(int *)ud)++;
}

static void test_overdue_on_wall_clock_and_expiry(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	EV(e, "promise.made", T0, ",\"promise\":\"never\",\"due\":1795339860000");
	EVC(e, "contact.offered", T0, "old", "");
	EV(e, "complaint.opened", T0, ",\"complaint\":\"k\"");
	int n = 0;
	ccp_engine_overdue_foreach(e, count_overdue, &n);
	assert_int_equal(n, 0);
	ccp_engine_advance_to(e, T0 + 60000); /* the deadline passes with no event */
	ccp_engine_overdue_foreach(e, count_overdue, &n);
	assert_int_equal(n, 1);
	assert_int_equal(stats(e, "5m").sums.promises_broken, 1);
	ccp_engine_advance_to(e, T0 + 7 * 86400000LL);
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	assert_int_equal(c.expired, 0); /* held exactly the horizon: kept */
	ccp_engine_advance_to(e, T0 + 7 * 86400000LL + 1);
	ccp_engine_counters(e, &c);
	assert_int_equal(c.expired, 3);
	struct ccp_live_stats ls;
	ccp_engine_live_stats(e, 0, &ls);
	assert_int_equal(ls.waiting + ls.promises_overdue + ls.complaints_open, 0);
	ccp_engine_free(e);
}

static void test_dedup_late_agents(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	assert_int_equal(put(e, "{\"id\":\"x\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"}", T0), CCP_APPLIED);
	assert_int_equal(put(e, "{\"id\":\"x\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"}", T0), CCP_DUPLICATE);
	assert_int_equal(put(e, "{\"id\":\"y\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"}", T0 - 86400001), CCP_LATE);
	/* A late event's id is remembered too. */
	assert_int_equal(put(e, "{\"id\":\"y\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"}", T0), CCP_DUPLICATE);
	put(e, "{\"id\":\"a1\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"a\",\"state\":\"busy\",\"queues\":[\"q\",\"r\"]}", T0);
	put(e, "{\"id\":\"a2\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"b\",\"state\":\"busy\",\"queues\":[\"r\"]}", T0);
	put(e, "{\"id\":\"a3\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"c\",\"state\":\"offline\",\"queues\":[\"r\"]}", T0);
	assert_int_equal(ccp_engine_queue_count(e), 2);
	uint64_t tot[CCP_AGENT__COUNT];
	ccp_engine_agents_total(e, tot);
	assert_int_equal(tot[CCP_AGENT_BUSY], 2);
	struct ccp_live_stats ls;
	ccp_engine_live_stats(e, 1, &ls);
	assert_int_equal(ls.agents[CCP_AGENT_BUSY], 2);
	put(e, "{\"id\":\"a4\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"a\",\"state\":\"away\",\"queues\":[]}", T0);
	ccp_engine_agents_total(e, tot);
	assert_int_equal(tot[CCP_AGENT_BUSY], 1);
	assert_int_equal(tot[CCP_AGENT_AWAY], 0); /* no queue listed: not counted */
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	assert_int_equal(c.duplicates, 2);
	assert_int_equal(c.late_events, 1);
	ccp_engine_free(e);
}

static void test_today_in_a_zone(void **state)
{
	(void)state;
	char err[256];
	struct ccp_tz *tz = ccp_tz_load("America/New_York", err, sizeof(err));
	assert_non_null(tz);
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	cfg.tz = tz;
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	/* 2026-11-22T04:59:59Z is 23:59:59 in New York (EST, UTC-5). */
	long long before = 1795323599000LL;
	EVC(e, "contact.offered", before, "a", "");
	struct ccp_window_stats ws = stats(e, "today");
	assert_int_equal(ws.sums.offered, 1);
	assert_int_equal(ws.window_end_ms, before + 1000);
	EVC(e, "contact.offered", before + 1000, "b", "");
	ws = stats(e, "today");
	assert_int_equal(ws.sums.offered, 1);
	assert_int_equal(ws.window_start_ms, before + 1000);
	assert_int_equal(ws.window_end_ms, before + 1000 + 86400000LL);
	ccp_engine_free(e);
	ccp_tz_free(tz);
}

static void test_memory_per_open_contact(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	char c[32];
	EVC(e, "contact.offered", T0, "warm", "");
	size_t before = ccp_engine_memory_bytes(e);
	const int n = 200000;
	for (int i = 0; i < n; i++) {
		snprintf(c, sizeof(c), "c%d", i);
		put(e, "{\"id\":\"m%d\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"%s\"}", i, T0, c);
	}
	size_t per = (ccp_engine_memory_bytes(e) - before) / (size_t)n;
	print_message("bytes per open contact, incl. its dedup entry: %zu\n", per);
	assert_true(per <= 256);
	ccp_engine_free(e);
}

int main(void)
{
	ccp_decoder_init(&dec);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_slides_and_expires),
		cmocka_unit_test(test_waits_sl_and_percentiles),
		cmocka_unit_test(test_contacts),
		cmocka_unit_test(test_promises),
		cmocka_unit_test(test_overdue_on_wall_clock_and_expiry),
		cmocka_unit_test(test_dedup_late_agents),
		cmocka_unit_test(test_today_in_a_zone),
		cmocka_unit_test(test_memory_per_open_contact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
