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
#include <math.h>

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

/* ---- contract scenarios: one per area of metrics.md ----------------------- */

#define EVQ(e, type, ts, queue, contact, extra)                                                           \
	put(e, "{\"id\":\"i%d\",\"type\":\"" type "\",\"ts\":%lld,\"queue\":\"%s\",\"contact\":\"%s\"" extra "}", \
	    ++n_id, (long long)(ts), queue, contact)

static uint32_t qidx(const struct ccp_engine *e, const char *name)
{
	for (uint32_t q = 0; q < ccp_engine_queue_count(e); q++) {
		struct ccp_str s = ccp_engine_queue_name(e, q);
		if (s.len == strlen(name) && !memcmp(s.ptr, name, s.len))
			return q;
	}
	fail_msg("no queue %s", name);
	return 0;
}

static void fields(const struct ccp_engine *e, const char *q, const char *w, struct ccp_field f[CCP_WF__COUNT])
{
	struct ccp_window_stats ws;
	ccp_engine_window_stats(e, qidx(e, q), win(e, w), &ws);
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 123, f);
}

static struct ccp_engine_counters counters(const struct ccp_engine *e)
{
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	return c;
}

static struct ccp_live_stats live(const struct ccp_engine *e, const char *q)
{
	struct ccp_live_stats ls;
	ccp_engine_live_stats(e, qidx(e, q), &ls);
	return ls;
}

#define ASSERT_RATIO(f, want) \
	do { \
		assert_true((f).present && (f).is_ratio); \
		assert_true(fabs((f).d - (want)) < 1e-9); \
	} while (0)

/* Thresholds per queue and channel, taken from the latest offer's channel. */
static void test_sl_thresholds_per_queue_and_channel(void **state)
{
	(void)state;
	struct ccp_sl_override o[1];
	memset(o, 0, sizeof(o));
	strcpy(o[0].queue, "vip");
	o[0].threshold_ms[CCP_CH_VOICE] = 10000; /* chat keeps the 60 s default */
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	cfg.sl_overrides = o;
	cfg.n_sl_overrides = 1;
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	/* vip voice: 10 s inclusive. */
	EVQ(e, "contact.offered", T0, "vip", "a", "");
	EVQ(e, "contact.answered", T0 + 10000, "vip", "a", "");
	EVQ(e, "contact.offered", T0, "vip", "b", "");
	EVQ(e, "contact.answered", T0 + 10001, "vip", "b", "");
	/* vip chat: 60 s default. */
	EVQ(e, "contact.offered", T0, "vip", "c", ",\"channel\":\"chat\"");
	EVQ(e, "contact.answered", T0 + 60000, "vip", "c", "");
	/* std voice: 20 s default; email 4 h. The latest offer's channel counts. */
	EVQ(e, "contact.offered", T0, "std", "d", ",\"channel\":\"email\"");
	EVQ(e, "contact.offered", T0 + 1000, "std", "d", "");
	EVQ(e, "contact.answered", T0 + 22000, "std", "d", ",\"channel\":\"email\"");
	EVQ(e, "contact.offered", T0, "std", "e", ",\"channel\":\"sms\"");
	EVQ(e, "contact.answered", T0 + 61000, "std", "e", "");
	EVQ(e, "contact.offered", T0, "std", "f", "");
	EVQ(e, "contact.abandoned", T0 + 6000, "std", "f", "");
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "vip", "5m", f);
	assert_int_equal(f[CCP_WF_ANSWERED].i, 3);
	assert_int_equal(f[CCP_WF_ANSWERED_IN_SL].i, 2);
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 2.0 / 3);
	ASSERT_RATIO(f[CCP_WF_ABANDON_RATE], 0.0);
	fields(e, "std", "5m", f);
	assert_int_equal(f[CCP_WF_OFFERED].i, 4);
	assert_int_equal(f[CCP_WF_ANSWERED_IN_SL].i, 1); /* e (sms 300 s) */
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 1.0 / 3);
	ASSERT_RATIO(f[CCP_WF_ABANDON_RATE], 1.0 / 3);
	assert_int_equal(f[CCP_WF_ASA_MS].i, (21000 + 61000 + 1) / 2);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 61000);
	/* The other variants, on the same sums. */
	struct ccp_window_stats ws;
	ccp_engine_window_stats(e, qidx(e, "std"), win(e, "5m"), &ws);
	ccp_figures_window(&ws, CCP_SL_ANSWERED, 0, f);
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 1.0 / 2);
	ccp_figures_window(&ws, CCP_SL_OFFERED, 0, f);
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 1.0 / 4);
	EVQ(e, "contact.offered", T0 + 62000, "std", "g", "");
	EVQ(e, "contact.abandoned", T0 + 63000, "std", "g", "");
	ccp_engine_window_stats(e, qidx(e, "std"), win(e, "5m"), &ws);
	ccp_figures_window(&ws, CCP_SL_WITH_SHORT, 0, f);
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 1.0 / 4);
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 1.0 / 3); /* short abandons left out */
	ccp_engine_free(e);
}

/* Unknown waits, short abandons, negative waits, re-offers, AHT, FCR. */
static void test_waits_abandons_transfers_fcr(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	/* Answered with no offer held: answered, unmatched, no wait. */
	EVQ(e, "contact.answered", T0 + 1000, "q", "u", "");
	/* Abandon with no offer held: abandoned (not short), unmatched. */
	EVQ(e, "contact.abandoned", T0 + 1000, "q", "v", "");
	/* Short abandon: wait < 5 s, exactly 5 s is not short. */
	EVQ(e, "contact.offered", T0, "q", "s1", "");
	EVQ(e, "contact.abandoned", T0 + 4999, "q", "s1", "");
	EVQ(e, "contact.offered", T0, "q", "s2", "");
	EVQ(e, "contact.abandoned", T0 + 5000, "q", "s2", "");
	/* Abandon after answer: the offer is still held, wait known. */
	EVQ(e, "contact.offered", T0, "q", "s3", "");
	EVQ(e, "contact.answered", T0 + 2000, "q", "s3", "");
	EVQ(e, "contact.abandoned", T0 + 3000, "q", "s3", "");
	/* Negative wait (answer before offer): kept in sum and max. */
	EVQ(e, "contact.offered", T0 + 9000, "q", "n", "");
	EVQ(e, "contact.answered", T0 + 8000, "q", "n", "");
	/* A new offer starts a new wait and drops the held answer. */
	EVQ(e, "contact.offered", T0, "q", "r", "");
	EVQ(e, "contact.answered", T0 + 1000, "q", "r", "");
	EVQ(e, "contact.offered", T0 + 2000, "q", "r", ",\"transfer_from\":\"x\"");
	EVQ(e, "contact.ended", T0 + 3000, "q", "r", ",\"resolved\":true"); /* no AHT, no FCR */
	/* Ended with answer only (no offer): AHT counts, FCR counts. */
	EVQ(e, "contact.ended", T0 + 11000, "q", "u", ",\"resolved\":true");
	/* Ended unresolved, not answered: no AHT. */
	EVQ(e, "contact.ended", T0 + 11000, "q", "z", "");
	/* Transferred out: record dropped, later answer is unmatched. */
	EVQ(e, "contact.offered", T0, "q", "t", "");
	EVQ(e, "contact.transferred", T0 + 500, "q", "t", ",\"to_queue\":\"q2\"");
	EVQ(e, "contact.answered", T0 + 600, "q", "t", "");
	/* Same contact id in another queue is another record. */
	EVQ(e, "contact.offered", T0 + 700, "q2", "t", ",\"transfer_from\":\"q\"");
	EVQ(e, "contact.answered", T0 + 900, "q2", "t", "");
	EVQ(e, "contact.ended", T0 + 1900, "q2", "t", ",\"resolved\":true");
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_OFFERED].i, 7);  /* s1 s2 s3 n r r t */
	assert_int_equal(f[CCP_WF_ANSWERED].i, 5); /* u s3 n r t */
	assert_int_equal(f[CCP_WF_ABANDONED].i, 2);       /* v (unknown wait), s2 */
	assert_int_equal(f[CCP_WF_ABANDONED_SHORT].i, 2); /* s1, s3 (3 s after its offer) */
	assert_int_equal(f[CCP_WF_ANSWERED_IN_SL].i, 3);
	ASSERT_RATIO(f[CCP_WF_SERVICE_LEVEL], 3.0 / 7);
	ASSERT_RATIO(f[CCP_WF_ABANDON_RATE], 2.0 / 7);
	struct ccp_window_stats ws;
	ccp_engine_window_stats(e, qidx(e, "q"), win(e, "5m"), &ws);
	assert_int_equal(ws.sums.wait_n, 3); /* s3 2000, n -1000, r 1000 */
	assert_int_equal(ws.sums.wait_sum_ms, 2000);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 2000);
	assert_int_equal(f[CCP_WF_ASA_MS].i, 667);
	assert_true(llabs(f[CCP_WF_WAIT_P50_MS].i - 1000) <= 10);
	assert_int_equal(f[CCP_WF_WAIT_P99_MS].i, 2000); /* bounded by the exact max */
	assert_int_equal(f[CCP_WF_AHT_MS].i, 10000);
	assert_int_equal(f[CCP_WF_TRANSFERRED_OUT].i, 1);
	assert_int_equal(f[CCP_WF_TRANSFERRED_IN].i, 1);
	assert_int_equal(f[CCP_WF_ENDED].i, 3);
	assert_int_equal(f[CCP_WF_RESOLVED].i, 2);
	ASSERT_RATIO(f[CCP_WF_FCR_RATE], 1.0 / 3);
	fields(e, "q2", "5m", f);
	assert_int_equal(f[CCP_WF_TRANSFERRED_IN].i, 1);
	assert_int_equal(f[CCP_WF_AHT_MS].i, 1000);
	ASSERT_RATIO(f[CCP_WF_FCR_RATE], 0.0);
	assert_int_equal(counters(e).unmatched, 3); /* u, v, t's answer */
	assert_int_equal(live(e, "q").waiting, 0);
	ccp_engine_free(e);
}

#define PR(e, type, ts, name) \
	put(e, "{\"id\":\"i%d\",\"type\":\"" type "\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\",\"promise\":\"%s\"}", \
	    ++n_id, (long long)(ts), name)
#define MADE(e, ts, name, due) \
	put(e, "{\"id\":\"i%d\",\"type\":\"promise.made\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\",\"promise\":\"%s\",\"due\":%lld}", \
	    ++n_id, (long long)(ts), name, (long long)(due))

/* Every promise outcome, in the order of notes/semantics.md: the event is
 * applied, then promises with due <= now come due. */
static void test_promise_outcomes(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	long long due = T0 + 60000;
	MADE(e, T0, "early", due);     /* kept before due: on time */
	MADE(e, T0, "atdue", due);     /* kept at due: on time */
	MADE(e, T0, "late", due);      /* kept after due: broken + kept_late */
	MADE(e, T0, "never", due);     /* broken, overdue */
	MADE(e, T0, "cxl", due);       /* cancelled before due: not due */
	MADE(e, T0, "cxlat", due);     /* cancelled at due: due, broken */
	MADE(e, T0, "cxlafter", due);  /* cancelled after due: broken */
	MADE(e, T0, "past", T0 - 1);   /* due already passed: comes due at once */
	MADE(e, T0, "early", due + 1); /* second made while held: unmatched */
	PR(e, "promise.kept", T0 + 100, "nosuch"); /* unmatched */
	PR(e, "promise.kept", T0 + 1000, "early");
	PR(e, "promise.kept", T0 + 1500, "early");     /* second: ignored */
	PR(e, "promise.cancelled", T0 + 2000, "cxl");
	PR(e, "promise.kept", T0 + 2500, "cxl");       /* after cancel: ignored */
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_PROMISES_MADE].i, 8);
	assert_int_equal(f[CCP_WF_PROMISES_DUE].i, 1); /* past */
	assert_int_equal(f[CCP_WF_PROMISES_BROKEN].i, 1);
	assert_int_equal(f[CCP_WF_PROMISES_KEPT_ON_TIME].i, 0);
	ASSERT_RATIO(f[CCP_WF_PROMISE_KEPT_RATE], 0.0);
	struct ccp_live_stats ls = live(e, "q");
	assert_int_equal(ls.promises_open, 5); /* atdue late never cxlat cxlafter */
	assert_int_equal(ls.promises_overdue, 1); /* past */
	assert_int_equal(counters(e).unmatched, 2);
	/* Kept but not yet due: still held, so a new made is unmatched. */
	MADE(e, T0 + 3000, "early", due);
	assert_int_equal(counters(e).unmatched, 3);
	PR(e, "promise.kept", due, "atdue");
	ls = live(e, "q");
	assert_int_equal(ls.promises_open, 0);
	assert_int_equal(ls.promises_overdue, 1 + 4); /* past late never cxlat cxlafter */
	PR(e, "promise.cancelled", due, "cxlat"); /* at due: due, broken */
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_PROMISES_DUE].i, 1 + 6); /* not cxl */
	assert_int_equal(f[CCP_WF_PROMISES_KEPT_ON_TIME].i, 2);
	assert_int_equal(f[CCP_WF_PROMISES_BROKEN].i, 1 + 4);
	ASSERT_RATIO(f[CCP_WF_PROMISE_KEPT_RATE], 2.0 / 7);
	assert_int_equal(f[CCP_WF_PROMISES_KEPT_LATE].i, 0);
	ls = live(e, "q");
	assert_int_equal(ls.promises_overdue, 4); /* cxlat released */
	/* Kept late: counted in the bucket of the kept ts, 10 minutes on. */
	PR(e, "promise.kept", due + 600000, "late");
	PR(e, "promise.kept", due + 600001, "late");      /* released: unmatched */
	PR(e, "promise.kept", due + 600002, "cxl");       /* released at due: unmatched */
	PR(e, "promise.cancelled", due + 600003, "cxlafter");
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_PROMISES_KEPT_LATE].i, 1);
	assert_int_equal(f[CCP_WF_PROMISES_DUE].i, 0);
	assert_false(f[CCP_WF_PROMISE_KEPT_RATE].present);
	fields(e, "q", "15m", f);
	assert_int_equal(f[CCP_WF_PROMISES_KEPT_LATE].i, 1);
	assert_int_equal(f[CCP_WF_PROMISES_DUE].i, 7);
	assert_int_equal(f[CCP_WF_PROMISES_BROKEN].i, 5); /* nothing moves after due */
	ls = live(e, "q");
	assert_int_equal(ls.promises_open, 0);
	assert_int_equal(ls.promises_overdue, 2); /* past never */
	assert_int_equal(counters(e).unmatched, 5);
	ccp_engine_free(e);
}

/* Waiting contacts: count, and the oldest held offer as offers, answers,
 * re-offers and drops arrive in any order. */
static void test_live_waiting_and_longest(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	EVQ(e, "contact.offered", T0 + 5000, "q", "a", "");
	EVQ(e, "contact.offered", T0 + 1000, "q", "b", ""); /* out of order */
	EVQ(e, "contact.offered", T0 + 3000, "q", "c", "");
	EVQ(e, "contact.offered", T0 + 2000, "r", "x", "");
	struct ccp_live_stats ls = live(e, "q");
	assert_int_equal(ls.waiting, 3);
	assert_int_equal(ls.oldest_wait_start_ms, T0 + 1000);
	struct ccp_field lf[CCP_LF__COUNT];
	ccp_figures_live(&ls, ccp_engine_now(e), lf);
	assert_int_equal(lf[CCP_LF_LONGEST_WAIT_MS].i, 4000);
	EVQ(e, "contact.answered", T0 + 6000, "q", "b", "");
	assert_int_equal(live(e, "q").oldest_wait_start_ms, T0 + 3000);
	EVQ(e, "contact.offered", T0 + 7000, "q", "c", ""); /* re-offer: new wait */
	assert_int_equal(live(e, "q").oldest_wait_start_ms, T0 + 5000);
	EVQ(e, "contact.offered", T0 + 7000, "q", "b", ""); /* answered one waits again */
	assert_int_equal(live(e, "q").waiting, 3);
	EVQ(e, "contact.abandoned", T0 + 8000, "q", "a", "");
	EVQ(e, "contact.transferred", T0 + 8000, "q", "c", "");
	ls = live(e, "q");
	assert_int_equal(ls.waiting, 1);
	assert_int_equal(ls.oldest_wait_start_ms, T0 + 7000);
	EVQ(e, "contact.ended", T0 + 9000, "q", "b", "");
	ls = live(e, "q");
	assert_int_equal(ls.waiting, 0);
	ccp_figures_live(&ls, ccp_engine_now(e), lf);
	assert_int_equal(lf[CCP_LF_LONGEST_WAIT_MS].i, 0);
	assert_int_equal(lf[CCP_LF_WAITING].i, 0);
	assert_int_equal(live(e, "r").waiting, 1);
	/* Many waiting, answered in random order: the heap keeps the minimum. */
	char c[16];
	for (int i = 0; i < 500; i++) {
		snprintf(c, sizeof(c), "m%d", i);
		EVQ(e, "contact.offered", T0 + 10000 + (i * 7919) % 500, "q", c, "");
	}
	for (int i = 0; i < 499; i++) {
		int k = (i * 7919) % 500; /* offered at T0 + 10000 + k... of m(i) */
		(void)k;
		snprintf(c, sizeof(c), "m%d", i);
		EVQ(e, "contact.answered", T0 + 20000, "q", c, "");
		ls = live(e, "q");
		assert_int_equal(ls.waiting, 499 - i);
		/* m(i+1..499) remain; their offer ts are (j*7919)%500 */
		int64_t want = INT64_MAX;
		for (int j = i + 1; j < 500; j++)
			if (T0 + 10000 + (j * 7919) % 500 < want)
				want = T0 + 10000 + (j * 7919) % 500;
		assert_int_equal(ls.oldest_wait_start_ms, want);
	}
	ccp_engine_free(e);
}

static void test_complaints_and_surveys(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
#define CO(type, ts, k) \
	put(e, "{\"id\":\"i%d\",\"type\":\"" type "\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\",\"complaint\":\"%s\"}", \
	    ++n_id, (long long)(ts), k)
	CO("complaint.opened", T0, "k1");
	CO("complaint.opened", T0 + 1000, "k2");
	CO("complaint.opened", T0 + 2000, "k2"); /* replaces the held opening */
	CO("complaint.resolved", T0 + 5000, "k1");
	CO("complaint.resolved", T0 + 5000, "k2");
	CO("complaint.resolved", T0 + 6000, "k3"); /* opening unseen: no time, not unmatched */
	CO("complaint.opened", T0 + 7000, "k4");
	assert_int_equal(live(e, "q").complaints_open, 1);
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_COMPLAINTS_OPENED].i, 4);
	assert_int_equal(f[CCP_WF_COMPLAINTS_RESOLVED].i, 3);
	assert_int_equal(f[CCP_WF_COMPLAINT_RESOLUTION_MS].i, 4000);
	assert_int_equal(counters(e).unmatched, 0);
	assert_false(f[CCP_WF_CSAT_AVG].present);
	assert_true(f[CCP_WF_CSAT_N].present);
	assert_int_equal(f[CCP_WF_CSAT_N].i, 0);
#define SV(ts, extra) \
	put(e, "{\"id\":\"i%d\",\"type\":\"survey.submitted\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"" extra "}", \
	    ++n_id, (long long)(ts))
	SV(T0, ",\"csat\":5,\"empathy\":4");
	SV(T0, ",\"csat\":4,\"empathy\":1,\"tangibles\":3");
	SV(T0, ",\"csat\":1");
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_CSAT_N].i, 3);
	ASSERT_RATIO(f[CCP_WF_CSAT_AVG], 10.0 / 3);
	ASSERT_RATIO(f[CCP_WF_CSAT_SATISFIED_RATE], 2.0 / 3);
	ASSERT_RATIO(f[CCP_WF_EMPATHY_AVG], 2.5);
	ASSERT_RATIO(f[CCP_WF_TANGIBLES_AVG], 3.0);
	assert_false(f[CCP_WF_RELIABILITY_AVG].present);
	assert_false(f[CCP_WF_RESPONSIVENESS_AVG].present);
	assert_false(f[CCP_WF_ASSURANCE_AVG].present);
	char buf[64];
	assert_int_equal(ccp_field_format(&f[CCP_WF_CSAT_AVG], buf, sizeof(buf)), 7);
	assert_string_equal(buf, "3.33333");
	ccp_engine_free(e);
}

/* open_horizon: each kind of record is dropped once now - start > horizon;
 * an answer that arrives after that finds no offer. */
static void test_expiry_by_open_horizon(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	const long long H = 7 * 86400000LL;
	EVQ(e, "contact.offered", T0, "q", "off", "");
	EVQ(e, "contact.answered", T0 + 1000, "q", "ans", ""); /* start = answer ts */
	MADE(e, T0 + 2000, "p", T0 + 3 * 86400000LL);
	CO("complaint.opened", T0 + 3000, "k");
	EVQ(e, "contact.offered", T0 + 86400000LL, "q", "later", "");
	/* A re-offer moves the start. */
	EVQ(e, "contact.offered", T0, "q", "moved", "");
	EVQ(e, "contact.offered", T0 + 86400000LL, "q", "moved", "");
	ccp_engine_advance_to(e, T0 + H);
	assert_int_equal(counters(e).expired, 0);
	/* The event's own clock expires the offer before it is applied. */
	EVQ(e, "contact.answered", T0 + H + 1, "q", "off", "");
	assert_int_equal(counters(e).expired, 1);
	assert_int_equal(counters(e).unmatched, 2); /* ans, and off now */
	ccp_engine_advance_to(e, T0 + H + 3001);
	assert_int_equal(counters(e).expired, 4); /* ans, p (overdue), k */
	struct ccp_live_stats ls = live(e, "q");
	assert_int_equal(ls.promises_overdue, 0);
	assert_int_equal(ls.complaints_open, 0);
	assert_int_equal(ls.waiting, 2); /* later, moved */
	ccp_engine_advance_to(e, T0 + H + 86400001LL);
	/* later, moved; off's answer-only record started at T0+H+1: kept. */
	assert_int_equal(counters(e).expired, 6);
	ls = live(e, "q");
	assert_int_equal(ls.waiting, 0);
	ccp_engine_free(e);
}

/* Duplicates within the horizon, forgotten after it and past capacity;
 * late events by the longest window. */
static void test_dedup_horizon_capacity_late(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	cfg.dedup_max_ids = 3;
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
#define ID(id, ts) \
	put(e, "{\"id\":\"%s\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"q\",\"contact\":\"c\"}", id, (long long)(ts))
	assert_int_equal(ID("a", T0), CCP_APPLIED);
	assert_int_equal(ID("a", T0 + 86400000LL), CCP_DUPLICATE); /* now was T0: held */
	assert_int_equal(ID("b", T0 + 86400000LL), CCP_APPLIED);
	assert_int_equal(ID("a", T0 + 86400000LL), CCP_DUPLICATE); /* exactly 24 h: held */
	assert_int_equal(ID("c", T0 + 86400001LL), CCP_APPLIED);   /* a forgotten here */
	assert_int_equal(ID("a", T0 + 86400001LL), CCP_APPLIED);
	/* Capacity 3: b c a held; d pushes out b. */
	assert_int_equal(ID("d", T0 + 86400001LL), CCP_APPLIED);
	assert_int_equal(ID("c", T0 + 86400001LL), CCP_DUPLICATE);
	assert_int_equal(ID("b", T0 + 86400001LL), CCP_APPLIED);
	/* Late: ts < now - 24 h. Exactly 24 h is not late. */
	assert_int_equal(ID("l1", T0 + 1), CCP_APPLIED);
	assert_int_equal(ID("l2", T0), CCP_LATE);
	assert_int_equal(ID("l2", T0 + 86400001LL), CCP_DUPLICATE); /* late ids are remembered */
	struct ccp_engine_counters c = counters(e);
	assert_int_equal(c.duplicates, 4);
	assert_int_equal(c.late_events, 1);
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "q", "24h", f);
	/* b c a d b; a and l1 sit in bucket T0, which left 24h at T0+24h. */
	assert_int_equal(f[CCP_WF_OFFERED].i, 5);
	ccp_engine_free(e);
}

/* Agents: latest state, per queue by state, total once per agent. */
static void test_agents_counted_once(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
#define AG(agent, st, qs) \
	put(e, "{\"id\":\"i%d\",\"type\":\"agent.state\",\"ts\":%lld,\"agent\":\"" agent "\",\"state\":\"" st "\",\"queues\":" qs "}", \
	    ++n_id, (long long)T0)
	AG("a", "available", "[\"q1\",\"q2\",\"q3\"]");
	AG("b", "available", "[\"q1\"]");
	AG("c", "wrap_up", "[\"q2\",\"q2\"]");
	AG("d", "offline", "[\"q1\"]");
	AG("e", "away", "[]");
	uint64_t tot[CCP_AGENT__COUNT];
	ccp_engine_agents_total(e, tot);
	assert_int_equal(tot[CCP_AGENT_AVAILABLE], 2);
	assert_int_equal(tot[CCP_AGENT_WRAP_UP], 1);
	assert_int_equal(tot[CCP_AGENT_AWAY], 0);
	assert_int_equal(tot[CCP_AGENT_OFFLINE], 0);
	assert_int_equal(live(e, "q1").agents[CCP_AGENT_AVAILABLE], 2);
	assert_int_equal(live(e, "q2").agents[CCP_AGENT_WRAP_UP], 1);
	assert_int_equal(live(e, "q3").agents[CCP_AGENT_AVAILABLE], 1);
	AG("a", "busy", "[\"q3\"]");
	ccp_engine_agents_total(e, tot);
	assert_int_equal(tot[CCP_AGENT_AVAILABLE], 1);
	assert_int_equal(tot[CCP_AGENT_BUSY], 1);
	assert_int_equal(live(e, "q1").agents[CCP_AGENT_AVAILABLE], 1);
	assert_int_equal(live(e, "q2").agents[CCP_AGENT_AVAILABLE], 0);
	assert_int_equal(live(e, "q3").agents[CCP_AGENT_BUSY], 1);
	AG("a", "offline", "[\"q3\"]");
	ccp_engine_agents_total(e, tot);
	assert_int_equal(tot[CCP_AGENT_BUSY], 0);
	/* Queues named only by agents exist, with zero figures. */
	assert_int_equal(ccp_engine_queue_count(e), 3);
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "q3", "1h", f);
	assert_int_equal(f[CCP_WF_OFFERED].i, 0);
	assert_false(f[CCP_WF_SERVICE_LEVEL].present);
	ccp_engine_free(e);
}

/* `today` in UTC: reset at midnight, yesterday's late arrivals left out,
 * its maximum wait and percentiles are today's only. */
static void test_today_across_midnight_utc(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	const long long mid = 1795392000000LL; /* 2026-11-23T00:00:00Z */
	EVQ(e, "contact.offered", mid - 60000, "q", "a", "");
	EVQ(e, "contact.answered", mid - 1000, "q", "a", "");
	struct ccp_window_stats ws;
	ccp_engine_window_stats(e, 0, win(e, "today"), &ws);
	assert_int_equal(ws.sums.answered, 1);
	assert_int_equal(ws.max_wait_ms, 59000);
	assert_int_equal(ws.window_start_ms, mid - 86400000LL);
	assert_int_equal(ws.window_end_ms, mid);
	EVQ(e, "contact.offered", mid, "q", "b", "");
	EVQ(e, "contact.answered", mid + 5000, "q", "b", "");
	EVQ(e, "contact.offered", mid - 2000, "q", "c", ""); /* yesterday: not today */
	EVQ(e, "contact.answered", mid - 1500, "q", "c", "");
	ccp_engine_window_stats(e, 0, win(e, "today"), &ws);
	assert_int_equal(ws.window_start_ms, mid);
	assert_int_equal(ws.window_end_ms, mid + 86400000LL);
	assert_int_equal(ws.sums.offered, 1);
	assert_int_equal(ws.sums.answered, 1);
	assert_int_equal(ws.max_wait_ms, 5000);
	assert_int_equal(ws.hist->n, 1);
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(&ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	assert_true(llabs(f[CCP_WF_WAIT_P99_MS].i - 5000) <= 50);
	/* The 5m window spans midnight. */
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_OFFERED].i, 3);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 59000);
	/* The wall clock rolls `today` over with no event. */
	ccp_engine_advance_to(e, mid + 86400000LL);
	ccp_engine_window_stats(e, 0, win(e, "today"), &ws);
	assert_int_equal(ws.sums.offered, 0);
	assert_false(ws.has_max_wait);
	ccp_engine_free(e);
}

/* Window bounds for every window, and max_wait_ms leaving with its bucket. */
static void test_window_bounds_and_max(void **state)
{
	(void)state;
	struct ccp_engine *e = mk();
	EVQ(e, "contact.offered", T0 + 1, "q", "a", "");
	EVQ(e, "contact.answered", T0 + 30001, "q", "a", "");
	EVQ(e, "contact.offered", T0 + 100000, "q", "b", "");
	EVQ(e, "contact.answered", T0 + 101000, "q", "b", "");
	EVQ(e, "contact.offered", T0 + 295000, "q", "c", "");
	const long long now = T0 + 295000;
	static const struct {
		const char *w;
		long long len, g;
	} w[] = {{"5m", 300000, 10000}, {"15m", 900000, 10000}, {"1h", 3600000, 10000}, {"24h", 86400000, 300000}};
	for (int i = 0; i < 4; i++) {
		struct ccp_window_stats ws;
		ccp_engine_window_stats(e, 0, win(e, w[i].w), &ws);
		long long end = (now / w[i].g + 1) * w[i].g;
		assert_int_equal(ws.window_end_ms, end);
		assert_int_equal(ws.window_start_ms, end - w[i].len);
		assert_int_equal(ws.max_wait_ms, 30000);
	}
	/* From T0+330000 on, the window starts at T0+40000: the bucket
	 * [T0+30000, T0+40000) holding the 30 s wait has left it. */
	ccp_engine_advance_to(e, T0 + 329999);
	struct ccp_field f[CCP_WF__COUNT];
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 30000);
	ccp_engine_advance_to(e, T0 + 330000);
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 1000);
	assert_int_equal(f[CCP_WF_ANSWERED].i, 1);
	assert_int_equal(f[CCP_WF_OFFERED].i, 2); /* b at T0+100000, c */
	fields(e, "q", "15m", f);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 30000);
	/* An out-of-order answer lands in its own, older bucket. */
	EVQ(e, "contact.answered", T0 + 35000, "q", "c", ""); /* negative wait */
	fields(e, "q", "5m", f);
	assert_int_equal(f[CCP_WF_ANSWERED].i, 1); /* T0+35000 is before 5m */
	fields(e, "q", "15m", f);
	assert_int_equal(f[CCP_WF_ANSWERED].i, 3);
	assert_int_equal(f[CCP_WF_MAX_WAIT_MS].i, 30000);
	assert_int_equal(f[CCP_WF_UPDATED_AT].i, 123);
	ccp_engine_free(e);
}

/* Closed minutes: written once when the clock passes them, after their dues;
 * empty minutes are not written; later events for a written minute count
 * in the windows only. */
struct minute_rec {
	uint32_t q;
	int64_t start, end;
	struct ccp_sums s;
	int64_t max_wait, p50;
};
static struct minute_rec minutes[16];
static int n_minutes;

static void on_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	(void)ud;
	assert_true(n_minutes < 16);
	minutes[n_minutes++] = (struct minute_rec){q, m->window_start_ms, m->window_end_ms, m->sums,
						   m->has_max_wait ? m->max_wait_ms : -1,
						   m->hist->n ? ccp_hist_percentile(m->hist, 50) : -1};
}

static void test_closed_minutes(void **state)
{
	(void)state;
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	cfg.minute_cb = on_minute;
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	n_minutes = 0;
	EVC(e, "contact.offered", T0 + 1000, "c1", "");
	EV(e, "promise.made", T0 + 5000, ",\"promise\":\"p\",\"due\":1795339859000");
	EVC(e, "contact.answered", T0 + 11000, "c1", "");
	EVC(e, "contact.offered", T0 + 20000, "c2", "");
	assert_int_equal(n_minutes, 0);
	EVC(e, "contact.offered", T0 + 61000, "c3", "");
	assert_int_equal(n_minutes, 1);
	assert_int_equal(minutes[0].q, 0);
	assert_int_equal(minutes[0].start, T0);
	assert_int_equal(minutes[0].end, T0 + 60000);
	assert_int_equal(minutes[0].s.offered, 2);
	assert_int_equal(minutes[0].s.answered, 1);
	assert_int_equal(minutes[0].max_wait, 10000);
	assert_true(llabs(minutes[0].p50 - 10000) <= 100); /* a bin within 1% */
	assert_int_equal(minutes[0].s.promises_made, 1);
	assert_int_equal(minutes[0].s.promises_due, 1); /* due at :59, came due before the write */
	assert_int_equal(minutes[0].s.promises_broken, 1);
	/* A late answer for minute 0: the window has it, the stream does not. */
	EVC(e, "contact.answered", T0 + 30000, "c2", "");
	assert_int_equal(stats(e, "5m").sums.answered, 2);
	assert_int_equal(n_minutes, 1);
	/* The wall clock closes minute 1; minute 2 is empty and not written. */
	ccp_engine_advance_to(e, T0 + 3 * 60000 + 1);
	assert_int_equal(n_minutes, 2);
	assert_int_equal(minutes[1].start, T0 + 60000);
	assert_int_equal(minutes[1].s.offered, 1);
	assert_int_equal(minutes[1].s.answered, 0);
	assert_int_equal(minutes[1].max_wait, -1);
	/* A jump of 90 minutes: minute 3 written whole, with the due that the
	 * jump's own event brought, and another queue's minute beside it. */
	EV(e, "promise.made", T0 + 3 * 60000 + 2000, ",\"promise\":\"p2\",\"due\":1795339990000");
	put(e, "{\"id\":\"r1\",\"type\":\"contact.offered\",\"ts\":%lld,\"queue\":\"r\",\"contact\":\"x\"}",
	    (long long)(T0 + 3 * 60000 + 3000));
	EVC(e, "contact.offered", T0 + 93 * 60000 + 1000, "c4", "");
	assert_int_equal(n_minutes, 4);
	assert_int_equal(minutes[2].start, T0 + 3 * 60000);
	assert_int_equal(minutes[2].q, 0);
	assert_int_equal(minutes[2].s.promises_made, 1);
	assert_int_equal(minutes[2].s.promises_due, 1);
	assert_int_equal(minutes[3].q, 1);
	assert_int_equal(minutes[3].s.offered, 1);
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
		cmocka_unit_test(test_sl_thresholds_per_queue_and_channel),
		cmocka_unit_test(test_waits_abandons_transfers_fcr),
		cmocka_unit_test(test_promise_outcomes),
		cmocka_unit_test(test_live_waiting_and_longest),
		cmocka_unit_test(test_complaints_and_surveys),
		cmocka_unit_test(test_expiry_by_open_horizon),
		cmocka_unit_test(test_dedup_horizon_capacity_late),
		cmocka_unit_test(test_agents_counted_once),
		cmocka_unit_test(test_today_across_midnight_utc),
		cmocka_unit_test(test_window_bounds_and_max),
		cmocka_unit_test(test_closed_minutes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
