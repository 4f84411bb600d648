/* libFuzzer target: the checkpoint loader on arbitrary bytes.
 *
 * Input: one mode byte, then the checkpoint. Mode bit 0 set: the length and
 * checksum are rewritten to fit the bytes first (ccp__snapshot_seal), so the
 * fuzzer's mutations reach the section parsers instead of all dying at the
 * checksum; clear: the bytes go in as they are. Beyond "no crash, no
 * sanitizer report, no leak", it aborts where a promise of snapshot.h is
 * broken:
 * - a refusal returns one of the documented errors with a "checkpoint: "
 *   message;
 * - what loads saves again, that checkpoint loads into another engine, and
 *   saving that gives the same bytes;
 * - what loads runs: events on its queues and promises, an advance of
 *   three hours (dues, expiry, closed minutes), and every reader.
 *
 * Seeds (tests/fuzz/corpus/snapshot/) are checkpoints of small engines
 * under this file's config. To write them again:
 *   cc -std=c11 -D_GNU_SOURCE -DFUZZ_SNAPSHOT_SEEDS -Iinclude -Isrc \
 *     tests/fuzz/fuzz_snapshot.c build/<dir>/libccpulse_core.a \
 *     $(pkg-config --libs rdkafka libuv hiredis yaml-0.1 libh2o) -lpthread -lm \
 *     -o /tmp/seeds && /tmp/seeds tests/fuzz/corpus/snapshot
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/figures.h"
#include "ccpulse/hist.h"
#include "ccpulse/snapshot.h"
#include "snapshot_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			abort();                                                               \
	} while (0)

/* Small rings (a queue costs ~60 KB, not ~270 KB), minutes on, horizons
 * and a dedup cap a short seed can reach. */
static void fuzz_config(struct ccp_engine_config *cfg, void (*minute_cb)(void *, uint32_t, const struct ccp_window_stats *))
{
	ccp_engine_config_defaults(cfg);
	cfg->n_windows = 2;
	snprintf(cfg->windows[0].name, CCP_WINDOW_NAME_MAX, "5m");
	cfg->windows[0].length_ms = 300000;
	cfg->windows[0].bucket_ms = 10000;
	snprintf(cfg->windows[1].name, CCP_WINDOW_NAME_MAX, "1h");
	cfg->windows[1].length_ms = 3600000;
	cfg->windows[1].bucket_ms = 300000;
	cfg->open_horizon_ms = 2 * 3600000;
	cfg->dedup_horizon_ms = 3600000;
	cfg->dedup_max_ids = 500;
	cfg->minute_cb = minute_cb;
}

static uint64_t sink; /* keeps reads from being optimized away */

static void read_window(const struct ccp_window_stats *ws)
{
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(ws, CCP_SL_ANSWERED_ABANDONED, 0, f);
	for (int i = 0; i < CCP_WF__COUNT; i++)
		sink += (uint64_t)f[i].present + (uint64_t)f[i].i;
}

static void on_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	(void)ud;
	sink += q;
	read_window(m);
}

static void on_overdue(void *ud, struct ccp_str queue, struct ccp_str promise, int64_t due_ms)
{
	/* Remembers the first overdue promise, to keep it below. */
	struct ccp_str *first = ud;
	CHECK(queue.len >= 1 && promise.len >= 1 && promise.len <= CCP_ID_MAX_BYTES);
	if (!first[0].len) {
		first[0] = queue;
		first[1] = promise;
	}
	sink += (uint64_t)due_ms;
}

static void read_all(const struct ccp_engine *e)
{
	for (uint32_t q = 0; q < ccp_engine_queue_count(e); q++) {
		struct ccp_str name = ccp_engine_queue_name(e, q);
		CHECK(name.len >= 1 && name.len <= CCP_ID_MAX_BYTES);
		for (uint32_t w = 0; w < ccp_engine_window_count(e); w++) {
			struct ccp_window_stats ws;
			ccp_engine_window_stats(e, q, w, &ws);
			read_window(&ws);
		}
		struct ccp_live_stats ls;
		ccp_engine_live_stats(e, q, &ls);
		if (ccp_engine_now(e) != INT64_MIN) {
			struct ccp_field lf[CCP_LF__COUNT];
			ccp_figures_live(&ls, ccp_engine_now(e), lf);
			sink += (uint64_t)lf[0].i;
		}
	}
	uint64_t ag[CCP_AGENT__COUNT];
	ccp_engine_agents_total(e, ag);
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	sink += ag[0] + c.expired;
}

/* A few events of every kind on the loaded state, then three idle hours. */
static void run_some(struct ccp_engine *e)
{
	static struct ccp_event ev;
	static char qname[CCP_ID_MAX_BYTES], pq[CCP_ID_MAX_BYTES], pid[CCP_ID_MAX_BYTES];
	struct ccp_str first[2] = {{NULL, 0}, {NULL, 0}};
	ccp_engine_overdue_foreach(e, on_overdue, first);
	uint32_t pql = 0, pidl = 0;
	if (first[0].len) { /* copied: applying events may move the engine's tables */
		pql = first[0].len;
		pidl = first[1].len;
		memcpy(pq, first[0].ptr, pql);
		memcpy(pid, first[1].ptr, pidl);
	}
	uint32_t ql = 1;
	qname[0] = 'q';
	if (ccp_engine_queue_count(e)) {
		struct ccp_str n = ccp_engine_queue_name(e, 0);
		ql = n.len;
		memcpy(qname, n.ptr, ql);
	}
	int64_t now = ccp_engine_now(e) == INT64_MIN ? 1795339800000LL : ccp_engine_now(e);
	static const enum ccp_event_type types[] = {
		CCP_EV_CONTACT_OFFERED,  CCP_EV_CONTACT_ANSWERED,  CCP_EV_CONTACT_ENDED,     CCP_EV_CONTACT_OFFERED,
		CCP_EV_CONTACT_ABANDONED, CCP_EV_PROMISE_MADE,     CCP_EV_PROMISE_KEPT,      CCP_EV_SURVEY_SUBMITTED,
		CCP_EV_COMPLAINT_OPENED, CCP_EV_COMPLAINT_RESOLVED, CCP_EV_AGENT_STATE,      CCP_EV_CONTACT_TRANSFERRED,
	};
	char id[32];
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(&ev, 0, sizeof(ev));
		snprintf(id, sizeof(id), "fz-%zu", i);
		ev.type = types[i];
		ev.id = (struct ccp_str){id, (uint32_t)strlen(id)};
		ev.ts_ms = now + (int64_t)i * 7000 - 20000;
		ev.queue = (struct ccp_str){qname, ql};
		ev.contact = (struct ccp_str){i < 3 ? "c1" : "c2", 2};
		ev.channel = (enum ccp_channel)(i % CCP_CH__COUNT);
		ev.promise = (struct ccp_str){"fzp", 3};
		ev.due_ms = now + 60000;
		ev.complaint = (struct ccp_str){"fzk", 3};
		ev.csat = 4;
		ev.dims[1] = 2;
		if (types[i] == CCP_EV_PROMISE_KEPT && pql) {
			ev.queue = (struct ccp_str){pq, pql};
			ev.promise = (struct ccp_str){pid, pidl};
		}
		if (types[i] == CCP_EV_AGENT_STATE) {
			ev.queue = ev.contact = (struct ccp_str){NULL, 0};
			ev.agent = (struct ccp_str){"fza", 3};
			ev.state = CCP_AGENT_BUSY;
			ev.n_queues = 2;
			ev.queues[0] = (struct ccp_str){qname, ql};
			ev.queues[1] = (struct ccp_str){"other", 5};
		}
		ccp_engine_apply(e, &ev);
	}
	ccp_engine_advance_to(e, ccp_engine_now(e) + 3 * 3600000LL);
	read_all(e);
}

static struct ccp_engine *new_engine(void)
{
	struct ccp_engine_config cfg;
	fuzz_config(&cfg, on_minute);
	char err[256];
	struct ccp_engine *e = ccp_engine_new(&cfg, err, sizeof(err));
	CHECK(e != NULL);
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t n = size - 1;
	/* Exactly n bytes on the heap: ASan sees any read past them. */
	uint8_t *in = malloc(n ? n : 1);
	CHECK(in != NULL);
	memcpy(in, data + 1, n);
	if (data[0] & 1)
		ccp__snapshot_seal(in, n);
	struct ccp_engine *e = new_engine();
	char err[256] = "";
	int rc = ccp_snapshot_load(e, in, n, err, sizeof(err));
	if (rc) {
		CHECK(rc == -EBADMSG || rc == -ENOTSUP || rc == -EINVAL || rc == -ENOMEM);
		CHECK(strncmp(err, "checkpoint: ", 12) == 0);
		ccp_engine_free(e);
		free(in);
		return 0;
	}
	read_all(e);
	/* Loaded: saves, loads again, saves the same bytes. */
	static struct ccp_snapshot_buf a, b;
	ccp_snapshot_buf_reset(&a);
	ccp_snapshot_buf_reset(&b);
	CHECK(ccp_snapshot_save(e, &a, err, sizeof(err)) == 0);
	struct ccp_engine *f = new_engine();
	CHECK(ccp_snapshot_load(f, a.data, a.len, err, sizeof(err)) == 0);
	CHECK(ccp_snapshot_save(f, &b, err, sizeof(err)) == 0);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	ccp_engine_free(f);
	/* And runs. */
	run_some(e);
	ccp_snapshot_buf_reset(&a);
	CHECK(ccp_snapshot_save(e, &a, err, sizeof(err)) == 0);
	ccp_engine_free(e);
	free(in);
	return 0;
}

#ifdef FUZZ_SNAPSHOT_SEEDS
/* Writes the seed corpus: checkpoints of small engines fed from the
 * bundled event files, each behind a mode byte of 1. */
static void write_seed(const char *dir, const char *name, const struct ccp_engine *e)
{
	struct ccp_snapshot_buf b = {0};
	char err[256], path[1024];
	if (ccp_snapshot_save(e, &b, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", name, err);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fputc(1, f) == EOF || fwrite(b.data, 1, b.len, f) != b.len || fclose(f)) {
		perror(path);
		exit(1);
	}
	/* A seed that does not load would test only the refusals. */
	struct ccp_engine *c = new_engine();
	if (ccp_snapshot_load(c, b.data, b.len, err, sizeof(err))) {
		fprintf(stderr, "%s: does not load: %s\n", name, err);
		exit(1);
	}
	ccp_engine_free(c);
	printf("%s: %zu bytes\n", path, b.len + 1);
	ccp_snapshot_buf_free(&b);
}

static void feed(struct ccp_engine *e, const char *path, size_t from, size_t upto)
{
	static struct ccp_decoder dec;
	static struct ccp_event ev;
	ccp_decoder_init(&dec);
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	char *line = NULL;
	size_t cap = 0, i = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) >= 0 && i < upto) {
		if (i++ < from)
			continue;
		if (ccp_decode(&dec, line, (size_t)len - (len && line[len - 1] == '\n'), &ev, NULL) == CCP_REJECT_NONE)
			ccp_engine_apply(e, &ev);
	}
	free(line);
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (run from the source root)\n", argv[0]);
		return 2;
	}
	struct ccp_engine *e = new_engine();
	write_seed(argv[1], "seed_empty", e);
	feed(e, "tests/data/replay_basic.ndjson", 0, SIZE_MAX);
	write_seed(argv[1], "seed_replay_basic", e);
	ccp_engine_free(e);
	e = new_engine();
	feed(e, "tests/data/sample.ndjson", 0, 120);
	write_seed(argv[1], "seed_sample_120", e);
	feed(e, "tests/data/sample.ndjson", 120, 400);
	write_seed(argv[1], "seed_sample_400", e);
	ccp_engine_advance_to(e, ccp_engine_now(e) + 40 * 60000);
	write_seed(argv[1], "seed_sample_400_idle", e);
	ccp_engine_free(e);
	return 0;
}
#endif
