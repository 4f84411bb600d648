/* Offline replay (see include/ccpulse/replay.h). */
#include "ccpulse/replay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccpulse/config.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/json_out.h"
#include "ccpulse/total.h"

#define READ_CHUNK (1u << 20)

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* Replay state. Owner: ccp_replay_stream's stack. */
struct feeder {
	struct ccp_engine *e;
	struct ccp_decoder dec;
	struct ccp_event ev;
	struct ccp_replay_result *res;
};

static void feed_line(struct feeder *f, const char *s, size_t n)
{
	f->res->lines++;
	if (blank(s, n))
		return; /* contract: blank lines are skipped silently */
	f->res->events++;
	enum ccp_reject r = ccp_decode(&f->dec, s, n, &f->ev, NULL);
	if (r != CCP_REJECT_NONE) {
		f->res->rejects[r]++;
		return;
	}
	if (ccp_engine_apply(f->e, &f->ev) == CCP_APPLIED)
		f->res->applied++;
}

int ccp_replay_stream(struct ccp_engine *e, FILE *in, struct ccp_replay_result *res)
{
	/* One buffer holds a line of up to the event limit plus a read chunk;
	 * a longer line is one bad_json event, skipped to its newline. */
	size_t cap = CCP_EVENT_MAX_BYTES + READ_CHUNK + 1;
	char *buf = malloc(cap);
	struct feeder *f = malloc(sizeof(*f));
	if (!buf || !f) {
		free(buf);
		free(f);
		errno = ENOMEM;
		return -1;
	}
	f->e = e;
	f->res = res;
	ccp_decoder_init(&f->dec);
	size_t len = 0;
	bool skipping = false; /* inside an over-long line */
	int rc = 0;
	for (;;) {
		size_t got = fread(buf + len, 1, cap - 1 - len, in);
		if (got == 0) {
			if (ferror(in))
				rc = -1;
			break;
		}
		len += got;
		size_t start = 0;
		for (;;) {
			char *nl = memchr(buf + start, '\n', len - start);
			if (!nl)
				break;
			size_t n = (size_t)(nl - (buf + start));
			if (skipping)
				skipping = false;
			else
				feed_line(f, buf + start, n);
			start += n + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len > CCP_EVENT_MAX_BYTES) {
			if (!skipping) {
				res->lines++;
				res->events++;
				res->rejects[CCP_REJECT_BAD_JSON]++;
			}
			skipping = true;
			len = 0;
		}
	}
	if (len && !skipping)
		feed_line(f, buf, len); /* a last line without newline counts */
	free(buf);
	free(f);
	return rc;
}

static void json_pair(void *ud, const char *name, const char *value, size_t len)
{
	ccp_json_key(ud, name, strlen(name));
	ccp_json_raw(ud, value, len);
}

static void write_fields(struct ccp_json_out *j, const struct ccp_field *f, const char *const *names, int n)
{
	ccp_json_begin_object(j);
	ccp_fields_emit(f, names, (size_t)n, json_pair, j);
	ccp_json_end_object(j);
}

static int cmp_queue(const void *a, const void *b, void *ctx)
{
	const struct ccp_engine *e = ctx;
	struct ccp_str x = ccp_engine_queue_name(e, *(const uint32_t *)a);
	struct ccp_str y = ccp_engine_queue_name(e, *(const uint32_t *)b);
	size_t n = x.len < y.len ? x.len : y.len;
	int c = memcmp(x.ptr, y.ptr, n);
	return c ? c : (x.len > y.len) - (x.len < y.len);
}

/* Queue indices sorted bytewise by name; caller frees. */
static uint32_t *sorted_queues(const struct ccp_engine *e)
{
	uint32_t n = ccp_engine_queue_count(e);
	uint32_t *idx = malloc(sizeof(uint32_t) * (n ? n : 1));
	if (!idx)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(uint32_t), cmp_queue, (void *)e);
	return idx;
}

void ccp_replay_write_json(const struct ccp_engine *e, const struct ccp_config *cfg,
			   const struct ccp_replay_result *res, int64_t wall_ms, FILE *out)
{
	struct ccp_json_out j;
	ccp_json_init(&j, out);
	ccp_json_begin_object(&j);
	ccp_json_key(&j, "now", 3);
	if (ccp_engine_now(e) == INT64_MIN)
		ccp_json_null(&j);
	else
		ccp_json_int(&j, ccp_engine_now(e));
	uint32_t nw = ccp_engine_window_count(e), nq = ccp_engine_queue_count(e);
	uint32_t *order = sorted_queues(e);
	ccp_json_key(&j, "queues", 6);
	ccp_json_begin_object(&j);
	for (uint32_t i = 0; order && i < nq; i++) {
		uint32_t q = order[i];
		struct ccp_str name = ccp_engine_queue_name(e, q);
		ccp_json_key(&j, name.ptr, name.len);
		ccp_json_begin_object(&j);
		for (uint32_t w = 0; w < nw; w++) {
			struct ccp_window_stats ws;
			struct ccp_field f[CCP_WF__COUNT];
			ccp_engine_window_stats(e, q, w, &ws);
			ccp_figures_window(&ws, cfg->engine.sl_variant, wall_ms, f);
			const char *wn = ccp_engine_window_name(e, w);
			ccp_json_key(&j, wn, strlen(wn));
			write_fields(&j, f, ccp_wfield_names, CCP_WF__COUNT);
		}
		struct ccp_live_stats ls;
		struct ccp_field lf[CCP_LF__COUNT];
		ccp_engine_live_stats(e, q, &ls);
		ccp_figures_live(&ls, ccp_engine_now(e), lf);
		ccp_json_key(&j, "live", 4);
		write_fields(&j, lf, ccp_lfield_names, CCP_LF__COUNT);
		ccp_json_end_object(&j);
	}
	ccp_json_end_object(&j);
	free(order);

	ccp_json_key(&j, "total", 5);
	ccp_json_begin_object(&j);
	struct ccp_hist *hist = malloc(sizeof(*hist));
	for (uint32_t w = 0; hist && w < nw; w++) {
		struct ccp_window_stats ws;
		struct ccp_field f[CCP_WF__COUNT];
		ccp_total_window(e, w, hist, &ws);
		ccp_figures_window(&ws, cfg->engine.sl_variant, wall_ms, f);
		if (!nq) /* no queue: no window to take bounds from */
			f[CCP_WF_WINDOW_START].present = f[CCP_WF_WINDOW_END].present = false;
		const char *wn = ccp_engine_window_name(e, w);
		ccp_json_key(&j, wn, strlen(wn));
		write_fields(&j, f, ccp_wfield_names, CCP_WF__COUNT);
	}
	free(hist);
	struct ccp_field lf[CCP_LF__COUNT];
	ccp_total_live(e, lf);
	ccp_json_key(&j, "live", 4);
	write_fields(&j, lf, ccp_lfield_names, CCP_LF__COUNT);
	ccp_json_end_object(&j);

	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	ccp_json_key(&j, "late_events", 11);
	ccp_json_int(&j, (int64_t)c.late_events);
	ccp_json_key(&j, "duplicates", 10);
	ccp_json_int(&j, (int64_t)c.duplicates);
	ccp_json_key(&j, "expired", 7);
	ccp_json_int(&j, (int64_t)c.expired);
	ccp_json_key(&j, "unmatched", 9);
	ccp_json_int(&j, (int64_t)c.unmatched);
	ccp_json_key(&j, "errors", 6);
	ccp_json_begin_object(&j);
	for (int r = 1; r < CCP_REJECT__COUNT; r++) {
		ccp_json_key(&j, ccp_reject_names[r], strlen(ccp_reject_names[r]));
		ccp_json_int(&j, (int64_t)res->rejects[r]);
	}
	ccp_json_end_object(&j);
	ccp_json_end_object(&j);
	fputc('\n', out);
}

static void pct(FILE *out, const struct ccp_field *f)
{
	if (f->present)
		fprintf(out, " %6.1f%%", f->d * 100);
	else
		fprintf(out, " %7s", "-");
}

static void secs(FILE *out, const struct ccp_field *f)
{
	if (f->present)
		fprintf(out, " %7.1fs", (double)f->i / 1000.0);
	else
		fprintf(out, " %8s", "-");
}

static void summary_row(FILE *out, const char *name, size_t nlen, const struct ccp_field *f,
			const struct ccp_field *lf)
{
	fprintf(out, "%-16.*s %8" PRId64 " %8" PRId64, (int)(nlen > 16 ? 16 : nlen), name,
		f[CCP_WF_OFFERED].i, f[CCP_WF_ANSWERED].i);
	pct(out, &f[CCP_WF_SERVICE_LEVEL]);
	secs(out, &f[CCP_WF_ASA_MS]);
	pct(out, &f[CCP_WF_ABANDON_RATE]);
	fprintf(out, " %7" PRId64, lf[CCP_LF_WAITING].i);
	pct(out, &f[CCP_WF_PROMISE_KEPT_RATE]);
	if (f[CCP_WF_CSAT_AVG].present)
		fprintf(out, " %5.2f\n", f[CCP_WF_CSAT_AVG].d);
	else
		fprintf(out, " %5s\n", "-");
}

void ccp_replay_write_summary(const struct ccp_engine *e, const struct ccp_config *cfg,
			      const struct ccp_replay_result *res, FILE *out)
{
	uint32_t nq = ccp_engine_queue_count(e), nw = ccp_engine_window_count(e);
	int64_t now = ccp_engine_now(e);
	fprintf(out, "ccpulse replay: %" PRIu64 " lines, %" PRIu64 " events, %" PRIu64 " applied, %u queues\n",
		res->lines, res->events, res->applied, nq);
	if (now != INT64_MIN) {
		time_t t = (time_t)(now / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, "clock (latest event): %s\n", when);
	}
	uint32_t *order = sorted_queues(e);
	struct ccp_hist *hist = malloc(sizeof(*hist));
	/* The people's windows: the last hour and today. */
	for (uint32_t w = 0; order && hist && w < nw; w++) {
		const char *wn = ccp_engine_window_name(e, w);
		if (strcmp(wn, "1h") && strcmp(wn, "today"))
			continue;
		fprintf(out, "\n[%s]\n%-16s %8s %8s %8s %8s %8s %7s %8s %5s\n", wn, "queue", "offered", "answered",
			"SL", "ASA", "abandon", "waiting", "kept", "CSAT");
		for (uint32_t i = 0; i < nq; i++) {
			uint32_t q = order[i];
			struct ccp_window_stats ws;
			struct ccp_live_stats ls;
			struct ccp_field f[CCP_WF__COUNT], lf[CCP_LF__COUNT];
			ccp_engine_window_stats(e, q, w, &ws);
			ccp_figures_window(&ws, cfg->engine.sl_variant, 0, f);
			ccp_engine_live_stats(e, q, &ls);
			ccp_figures_live(&ls, now, lf);
			struct ccp_str name = ccp_engine_queue_name(e, q);
			summary_row(out, name.ptr, name.len, f, lf);
		}
		struct ccp_window_stats ws;
		struct ccp_field f[CCP_WF__COUNT], lf[CCP_LF__COUNT];
		ccp_total_window(e, w, hist, &ws);
		ccp_figures_window(&ws, cfg->engine.sl_variant, 0, f);
		ccp_total_live(e, lf);
		summary_row(out, "TOTAL", 5, f, lf);
	}
	free(hist);
	free(order);
	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	fprintf(out, "\nlate %" PRIu64 ", duplicates %" PRIu64 ", expired %" PRIu64 ", unmatched %" PRIu64 "; rejected:",
		c.late_events, c.duplicates, c.expired, c.unmatched);
	for (int r = 1; r < CCP_REJECT__COUNT; r++)
		fprintf(out, " %s %" PRIu64, ccp_reject_names[r], res->rejects[r]);
	fputc('\n', out);
}

static int usage(void)
{
	fprintf(stderr, "usage: ccpulse replay FILE|- [-c CONFIG] [--json OUT]\n");
	return 2;
}

int ccp_replay_cmd(int argc, char **argv)
{
	const char *file = NULL, *conf = NULL, *json = NULL;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			conf = argv[++i];
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "ccpulse replay: unknown option %s\n", argv[i]);
			return usage();
		} else if (!file)
			file = argv[i];
		else
			return usage();
	}
	if (!file)
		return usage();
	char err[512];
	struct ccp_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return 1;
	ccp_config_defaults(cfg);
	if ((conf && ccp_config_load_file(cfg, conf, err, sizeof(err))) ||
	    ccp_config_apply_env(cfg, err, sizeof(err)) || ccp_config_finish(cfg, err, sizeof(err))) {
		fprintf(stderr, "ccpulse replay: %s\n", err);
		ccp_config_release(cfg);
		free(cfg);
		return 1;
	}
	int rc = 1;
	FILE *in = strcmp(file, "-") ? fopen(file, "rb") : stdin;
	FILE *out = NULL;
	struct ccp_engine *e = NULL;
	if (!in) {
		fprintf(stderr, "ccpulse replay: %s: %s\n", file, strerror(errno));
		goto done;
	}
	e = ccp_engine_new(&cfg->engine, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "ccpulse replay: %s\n", err);
		goto done;
	}
	struct ccp_replay_result res;
	memset(&res, 0, sizeof(res));
	if (ccp_replay_stream(e, in, &res)) {
		fprintf(stderr, "ccpulse replay: reading %s: %s\n", file, strerror(errno));
		goto done;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (json) {
		out = fopen(json, "w");
		if (!out) {
			fprintf(stderr, "ccpulse replay: %s: %s\n", json, strerror(errno));
			goto done;
		}
		ccp_replay_write_json(e, cfg, &res, wall, out);
		if (fclose(out)) {
			out = NULL;
			fprintf(stderr, "ccpulse replay: writing %s: %s\n", json, strerror(errno));
			goto done;
		}
		out = NULL;
		ccp_replay_write_summary(e, cfg, &res, stdout);
	} else {
		ccp_replay_write_json(e, cfg, &res, wall, stdout);
		ccp_replay_write_summary(e, cfg, &res, stderr);
	}
	rc = 0;
done:
	if (in && in != stdin)
		fclose(in);
	ccp_engine_free(e);
	ccp_config_release(cfg);
	free(cfg);
	return rc;
}
