/* Checkpoint size and speed for one partition with realistic state.
 *
 * usage: bench_snapshot [QUEUES (500)] [OPEN_CONTACTS (20000)]
 *                       [OPEN_PROMISES (10000)] [DEDUP_IDS (200000)]
 *
 * The engine (contract defaults: 5m/15m/1h at 10 s, 24h at 5 min, today,
 * 24 h dedup; closed minutes on) gets a day of traffic over QUEUES queues:
 * DEDUP_IDS accepted events spread over 24 h of event time (so every id is
 * still within the dedup horizon and every ring is in use), of which
 * OPEN_CONTACTS contacts left open in the last two hours (half waiting,
 * half answered and talking), OPEN_PROMISES promises still held (due from
 * an hour ago to two days ahead, so some are overdue), a few hundred open
 * complaints, 2000 agents on 1-3 queues each, surveys; the rest offered,
 * answered and ended contacts with waits of 0-3 minutes.
 *
 * Then, best of 20 each: ccp_snapshot_save into a reused buffer; the
 * checksum alone over the same bytes; ccp_snapshot_load into a fresh
 * engine (made outside the timing); and memcpy of as many bytes as the
 * checkpoint, the ceiling a save is compared to. Every load is checked by
 * saving it again and comparing the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_events.h"
#include "ccpulse/engine.h"
#include "ccpulse/snapshot.h"
#include "snapshot_internal.h"

#define DAY_MS 86400000LL
#define REPS 20

static void on_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	(void)q;
	(void)m;
	++*(uint64_t *)ud;
}

static struct ccp_engine *engine(uint64_t *minutes)
{
	struct ccp_engine_config cfg;
	ccp_engine_config_defaults(&cfg);
	cfg.minute_cb = on_minute;
	cfg.minute_ud = minutes;
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "bench_snapshot: %s\n", err);
		exit(1);
	}
	return e;
}

/* The state being built: its engine and counters. Owner: main (one
 * thread). Events are built in place; ids and names live in the static
 * buffers of one call to emit(). */
struct gen {
	struct ccp_engine *e;
	uint64_t n_events, seed;
	int queues;
};

static void emit(struct gen *g, enum ccp_event_type type, int64_t ts, int q, uint64_t contact,
		 uint64_t promise, int64_t due)
{
	static struct ccp_event ev;
	static char id[32], qn[32], cn[32], pn[32];
	memset(&ev, 0, offsetof(struct ccp_event, queues));
	ev.type = type;
	ev.ts_ms = ts;
	ev.id = (struct ccp_str){id, (uint32_t)snprintf(id, sizeof(id), "e-%llu", (unsigned long long)g->n_events++)};
	ev.queue = (struct ccp_str){qn, (uint32_t)snprintf(qn, sizeof(qn), "queue-%03d", q)};
	ev.contact = (struct ccp_str){cn, (uint32_t)snprintf(cn, sizeof(cn), "c-%llu", (unsigned long long)contact)};
	ev.channel = (enum ccp_channel)(contact % 7 == 0 ? CCP_CH_CHAT : contact % 11 == 0 ? CCP_CH_EMAIL : CCP_CH_VOICE);
	ev.resolved = contact % 5 != 0;
	ev.promise = (struct ccp_str){pn, (uint32_t)snprintf(pn, sizeof(pn), "p-%llu", (unsigned long long)promise)};
	ev.due_ms = due;
	ev.complaint = ev.promise;
	ev.csat = (uint8_t)(1 + contact % 5);
	ev.dims[CCP_DIM_EMPATHY] = (uint8_t)(contact % 3 ? 0 : 4);
	if (ccp_engine_apply(g->e, &ev) != CCP_APPLIED) {
		fprintf(stderr, "bench_snapshot: event %llu not applied\n", (unsigned long long)g->n_events);
		exit(1);
	}
}

static void agent(struct gen *g, int64_t ts, int a)
{
	static struct ccp_event ev;
	static char id[32], an[32], qn[3][32];
	memset(&ev, 0, offsetof(struct ccp_event, queues));
	ev.type = CCP_EV_AGENT_STATE;
	ev.ts_ms = ts;
	ev.id = (struct ccp_str){id, (uint32_t)snprintf(id, sizeof(id), "e-%llu", (unsigned long long)g->n_events++)};
	ev.agent = (struct ccp_str){an, (uint32_t)snprintf(an, sizeof(an), "a-%d", a)};
	ev.state = (enum ccp_agent_state)(bench_rand(&g->seed) % CCP_AGENT__COUNT);
	ev.n_queues = 1 + (uint32_t)(a % 3);
	for (uint32_t i = 0; i < ev.n_queues; i++)
		ev.queues[i] = (struct ccp_str){qn[i], (uint32_t)snprintf(qn[i], sizeof(qn[i]), "queue-%03d",
									   (int)((a * 7 + (int)i * 13) % g->queues))};
	ccp_engine_apply(g->e, &ev);
}

int main(int argc, char **argv)
{
	int queues = argc > 1 ? atoi(argv[1]) : 500;
	uint64_t open_contacts = argc > 2 ? (uint64_t)atoll(argv[2]) : 20000;
	uint64_t open_promises = argc > 3 ? (uint64_t)atoll(argv[3]) : 10000;
	uint64_t ids = argc > 4 ? (uint64_t)atoll(argv[4]) : 200000;
	const int agents = 2000, complaints = 400;
	uint64_t fixed = open_contacts * 3 / 2 + open_promises + (uint64_t)agents + (uint64_t)complaints;
	if (queues < 1 || ids < fixed + 3) {
		fprintf(stderr, "bench_snapshot: DEDUP_IDS must exceed the open records' events (%llu)\n",
			(unsigned long long)fixed);
		return 2;
	}
	uint64_t minutes = 0;
	struct gen g = {.e = engine(&minutes), .seed = 7, .queues = queues};
	const int64_t t0 = 1795300000000LL, end = t0 + DAY_MS;

	/* Closed contacts over the day: offered, answered, ended, and an agent
	 * state every 16th: 3 + 1/16 events each. */
	uint64_t closed = (ids - fixed) * 16 / 49, contact = 0, promise = 0;
	for (uint64_t i = 0; i < closed; i++) {
		int64_t ts = t0 + (int64_t)(i * (uint64_t)(DAY_MS - 3 * 3600000LL) / closed);
		int q = (int)(bench_rand(&g.seed) % (uint64_t)queues);
		int64_t wait = (int64_t)(bench_rand(&g.seed) % 180000), aht = 60000 + (int64_t)(bench_rand(&g.seed) % 600000);
		emit(&g, CCP_EV_CONTACT_OFFERED, ts, q, contact, 0, 0);
		emit(&g, CCP_EV_CONTACT_ANSWERED, ts + wait, q, contact, 0, 0);
		emit(&g, CCP_EV_CONTACT_ENDED, ts + wait + aht, q, contact, 0, 0);
		contact++;
		if (i % 16 == 0)
			agent(&g, ts, (int)(i / 16 % (uint64_t)agents));
	}
	/* Held promises, open complaints, surveys among them. */
	for (uint64_t i = 0; i < open_promises; i++) {
		int64_t ts = t0 + (int64_t)(i * (uint64_t)(DAY_MS - 3 * 3600000LL) / open_promises);
		int64_t due = end - 3600000 + (int64_t)(bench_rand(&g.seed) % (uint64_t)(2 * DAY_MS));
		emit(&g, CCP_EV_PROMISE_MADE, ts, (int)(i % (uint64_t)queues), i, promise++, due);
	}
	for (int i = 0; i < complaints; i++)
		emit(&g, CCP_EV_COMPLAINT_OPENED, end - 3 * 3600000LL + i * 1000, i % queues, (uint64_t)i, 1000000 + (uint64_t)i, 0);
	/* Open contacts in the last two hours: waiting, or answered and talking. */
	for (uint64_t i = 0; i < open_contacts; i++) {
		int64_t ts = end - 2 * 3600000LL + (int64_t)(i * 7080000ULL / open_contacts);
		int q = (int)(bench_rand(&g.seed) % (uint64_t)queues);
		emit(&g, CCP_EV_CONTACT_OFFERED, ts, q, contact, 0, 0);
		if (i % 2)
			emit(&g, CCP_EV_CONTACT_ANSWERED, ts + 20000, q, contact, 0, 0);
		contact++;
	}
	for (int a = 0; a < agents; a++)
		agent(&g, end - 1000, a);
	ccp_engine_advance_to(g.e, end);

	struct ccp_live_stats ls;
	uint64_t waiting = 0, open_p = 0, overdue = 0;
	for (uint32_t q = 0; q < ccp_engine_queue_count(g.e); q++) {
		ccp_engine_live_stats(g.e, q, &ls);
		waiting += ls.waiting;
		open_p += ls.promises_open;
		overdue += ls.promises_overdue;
	}
	printf("engine: %u queues, %llu events over 24 h, %llu open contacts (%llu waiting), %llu promises (%llu overdue), %d complaints, %d agents; %.1f MB held\n",
	       ccp_engine_queue_count(g.e), (unsigned long long)g.n_events,
	       (unsigned long long)open_contacts, (unsigned long long)waiting, (unsigned long long)(open_p + overdue),
	       (unsigned long long)overdue, complaints, agents, (double)ccp_engine_memory_bytes(g.e) / 1e6);

	struct ccp_snapshot_buf buf, again;
	ccp_snapshot_buf_init(&buf);
	ccp_snapshot_buf_init(&again);
	char err[256];
	double t_save = 1e9, t_load = 1e9, t_copy = 1e9, t_sum = 1e9;
	uint64_t sink = 0;
	for (int r = 0; r < REPS; r++) {
		ccp_snapshot_buf_reset(&buf);
		double t = bench_now_s();
		if (ccp_snapshot_save(g.e, &buf, err, sizeof(err))) {
			fprintf(stderr, "bench_snapshot: %s\n", err);
			return 1;
		}
		t = bench_now_s() - t;
		t_save = t < t_save ? t : t_save;
	}
	uint8_t *copy = malloc(buf.len);
	memset(copy, 1, buf.len);
	for (int r = 0; r < REPS; r++) {
		double t = bench_now_s();
		memcpy(copy, buf.data, buf.len);
		t = bench_now_s() - t;
		sink += copy[r % buf.len];
		t_copy = t < t_copy ? t : t_copy;
		t = bench_now_s();
		sink += ccp__snapshot_checksum(buf.data, buf.len);
		t = bench_now_s() - t;
		t_sum = t < t_sum ? t : t_sum;
	}
	/* The engine's own bytes, copied once: what walking its memory costs
	 * (a save reads the held buckets and records, not all of it). */
	size_t held = ccp_engine_memory_bytes(g.e);
	uint8_t *big = malloc(held), *big2 = malloc(held);
	double t_big = 1e9;
	memset(big, 2, held);
	memset(big2, 3, held);
	for (int r = 0; r < 5; r++) {
		double t = bench_now_s();
		memcpy(big2, big, held);
		t = bench_now_s() - t;
		sink += big2[(size_t)r * 4096 % held];
		t_big = t < t_big ? t : t_big;
	}
	free(big);
	free(big2);
	uint64_t m2 = 0;
	for (int r = 0; r < REPS; r++) {
		struct ccp_engine *c = engine(&m2);
		double t = bench_now_s();
		if (ccp_snapshot_load(c, buf.data, buf.len, err, sizeof(err))) {
			fprintf(stderr, "bench_snapshot: load: %s\n", err);
			return 1;
		}
		t = bench_now_s() - t;
		t_load = t < t_load ? t : t_load;
		if (r == 0) {
			ccp_snapshot_buf_reset(&again);
			if (ccp_snapshot_save(c, &again, err, sizeof(err)) || again.len != buf.len ||
			    memcmp(again.data, buf.data, buf.len)) {
				fprintf(stderr, "bench_snapshot: save after load differs\n");
				return 1;
			}
		}
		ccp_engine_free(c);
	}
	printf("checkpoint: %zu bytes (%.1f bytes per event held in dedup, %.2f MB)\n", buf.len,
	       (double)buf.len / (double)g.n_events, (double)buf.len / 1e6);
	/* Bytes by section: walk the section heads (tag, u32 length). */
	static const char *const sec[] = {"?", "config", "clock", "queues", "buckets", "today",
					  "contacts", "promises", "complaints", "agents", "dedup"};
	printf("by section:");
	for (size_t at = CCP__SNAPSHOT_HEADER_BYTES; at + 5 <= buf.len - CCP__SNAPSHOT_TRAILER_BYTES;) {
		uint32_t n = (uint32_t)buf.data[at + 1] | (uint32_t)buf.data[at + 2] << 8 |
			     (uint32_t)buf.data[at + 3] << 16 | (uint32_t)buf.data[at + 4] << 24;
		printf(" %s %u", buf.data[at] < 11 ? sec[buf.data[at]] : "?", n);
		at += 5 + n;
	}
	printf("\n");
	printf("%-34s %10s %10s\n", "best of 20", "ms", "MB/s");
	printf("%-34s %10.2f %10.0f\n", "save (reused buffer)", t_save * 1e3, (double)buf.len / 1e6 / t_save);
	printf("%-34s %10.2f %10.0f\n", "  of which checksum (alone)", t_sum * 1e3, (double)buf.len / 1e6 / t_sum);
	printf("%-34s %10.2f %10.0f\n", "load (into a fresh engine)", t_load * 1e3, (double)buf.len / 1e6 / t_load);
	printf("%-34s %10.3f %10.0f\n", "ceiling: memcpy of as many bytes", t_copy * 1e3, (double)buf.len / 1e6 / t_copy);
	printf("%-34s %10.2f %10.0f\n", "memcpy of the engine's bytes", t_big * 1e3, (double)held / 1e6 / t_big);
	printf("save / memcpy of as many bytes: %.0fx; save / memcpy of the engine: %.2fx; load / save: %.1fx\n",
	       t_save / t_copy, t_save / t_big, t_load / t_save);
	if (sink == 42)
		printf(" ");
	free(copy);
	ccp_snapshot_buf_free(&buf);
	ccp_snapshot_buf_free(&again);
	ccp_engine_free(g.e);
	return 0;
}
