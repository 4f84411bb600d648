/* Offline replay (see include/ccpulse/replay.h).
 *
 * Reading: one buffer of CCP_EVENT_MAX_BYTES + READ_CHUNK bytes, filled by
 * read(2) a chunk at a time; complete lines are decoded in place, straight
 * from the buffer, and the unfinished tail is moved to the front. A tail
 * that grows past the event limit without a newline is one bad_json event;
 * the rest of that line is skipped as it arrives.
 */
#include "ccpulse/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccpulse/config.h"
#include "ccpulse/decode.h"
#include "ccpulse/engine.h"
#include "ccpulse/json_out.h"
#include "ccpulse/log.h"
#include "ccpulse/total.h"
#include "cli.h"

#define READ_CHUNK ((size_t)1 << 20)

/* Replay state. Owner: ccp_replay_stream's stack; one per run. */
struct feeder {
	struct ccp_engine *e;
	struct ccp_decoder dec;
	struct ccp_event ev;
	struct ccp_replay_result *res;
	struct ccp_log_reporter *rep;
};

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void reject(struct feeder *f, enum ccp_reject r, const struct ccp_decode_error *de)
{
	f->res->rejects[r]++;
	if (!f->rep)
		return;
	char line[24], off[24];
	snprintf(line, sizeof(line), "%" PRIu64, f->res->lines);
	snprintf(off, sizeof(off), "%zu", de ? de->offset : 0);
	ccp_log_report(f->rep, ccp_log_mono_ms(), "line", line, "reason", ccp_reject_names[r], "field",
		       de && de->field ? de->field : "", "offset", off, "detail",
		       de && de->detail ? de->detail : "line longer than the event limit", NULL);
}

static void feed_line(struct feeder *f, const char *s, size_t n)
{
	f->res->lines++;
	if (n > CCP_EVENT_MAX_BYTES) {
		f->res->events++;
		reject(f, CCP_REJECT_BAD_JSON, NULL);
		return;
	}
	if (blank(s, n))
		return; /* contract: blank lines are skipped silently */
	f->res->events++;
	struct ccp_decode_error de;
	enum ccp_reject r = ccp_decode(&f->dec, s, n, &f->ev, &de);
	if (r != CCP_REJECT_NONE) {
		reject(f, r, &de);
		return;
	}
	if (ccp_engine_apply(f->e, &f->ev) == CCP_APPLIED)
		f->res->applied++;
}

int ccp_replay_stream(struct ccp_engine *e, int fd, struct ccp_replay_result *res, struct ccp_log_reporter *rep)
{
	size_t cap = CCP_EVENT_MAX_BYTES + READ_CHUNK;
	char *buf = malloc(cap);
	struct feeder *f = malloc(sizeof(*f)); /* the decoder's scratch is large */
	if (!buf || !f) {
		free(buf);
		free(f);
		errno = ENOMEM;
		return -1;
	}
	f->e = e;
	f->res = res;
	f->rep = rep;
	ccp_decoder_init(&f->dec);
	size_t len = 0;        /* bytes in buf: the start of an unfinished line */
	bool skipping = false; /* inside an over-long line, already counted */
	int rc = 0;
	for (;;) {
		ssize_t got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -1;
			break;
		}
		if (got == 0)
			break;
		res->bytes += (uint64_t)got;
		size_t end = len + (size_t)got, start = 0;
		/* Only the new bytes can hold the first newline. */
		const char *scan = buf + len;
		for (;;) {
			const char *nl = memchr(scan, '\n', (size_t)(buf + end - scan));
			if (!nl)
				break;
			size_t n = (size_t)(nl - (buf + start));
			if (skipping)
				skipping = false; /* the over-long line ends here */
			else
				feed_line(f, buf + start, n);
			start += n + 1;
			scan = buf + start;
		}
		len = end - start;
		if (skipping) {
			len = 0; /* still inside the over-long line: drop it */
		} else if (len > CCP_EVENT_MAX_BYTES) {
			feed_line(f, buf + start, len); /* counted once, as bad_json */
			skipping = true;
			len = 0;
		} else if (start) {
			memmove(buf, buf + start, len);
		}
	}
	if (len && !skipping && rc == 0)
		feed_line(f, buf, len); /* a last line without newline counts */
	int saved = errno;
	free(buf);
	free(f);
	errno = saved;
	return rc;
}

/* ---- JSON --------------------------------------------------------------- */

static void json_pair(void *ud, const char *name, const char *value, size_t len)
{
	ccp_json_key(ud, name, strlen(name));
	ccp_json_raw(ud, value, len);
}

static void write_fields(struct ccp_json_out *j, const char *key, const struct ccp_field *f,
			 const char *const *names, size_t n)
{
	ccp_json_key(j, key, strlen(key));
	ccp_json_begin_object(j);
	ccp_fields_emit(f, names, n, json_pair, j);
	ccp_json_end_object(j);
}

static int cmp_queue(const void *a, const void *b, void *ctx)
{
	const struct ccp_engine *e = ctx;
	struct ccp_str x = ccp_engine_queue_name(e, *(const uint32_t *)a);
	struct ccp_str y = ccp_engine_queue_name(e, *(const uint32_t *)b);
	size_t n = x.len < y.len ? x.len : y.len;
	int c = n ? memcmp(x.ptr, y.ptr, n) : 0;
	return c ? c : (x.len > y.len) - (x.len < y.len);
}

/* Queue indices sorted bytewise by name; caller frees; NULL if out of
 * memory. */
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

static void counter(struct ccp_json_out *j, const char *name, uint64_t v)
{
	ccp_json_key(j, name, strlen(name));
	ccp_json_uint(j, v);
}

void ccp_replay_write_json(const struct ccp_engine *e, const struct ccp_config *cfg,
			   const struct ccp_replay_result *res, int64_t wall_ms, FILE *out)
{
	struct ccp_json_out j;
	ccp_json_init(&j, out);
	ccp_json_begin_object(&j);
	int64_t now = ccp_engine_now(e);
	ccp_json_key(&j, "now", 3);
	if (now == INT64_MIN)
		ccp_json_null(&j);
	else
		ccp_json_int(&j, now);
	uint32_t nw = ccp_engine_window_count(e), nq = ccp_engine_queue_count(e);
	uint32_t *order = sorted_queues(e);
	struct ccp_hist *hist = malloc(sizeof(*hist));
	if (!order || !hist) {
		fprintf(stderr, "ccpulse replay: out of memory writing the JSON\n");
		nq = 0;
		nw = hist ? nw : 0;
	}
	ccp_json_key(&j, "queues", 6);
	ccp_json_begin_object(&j);
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t q = order[i];
		struct ccp_str name = ccp_engine_queue_name(e, q);
		ccp_json_key(&j, name.ptr, name.len);
		ccp_json_begin_object(&j);
		for (uint32_t w = 0; w < nw; w++) {
			struct ccp_window_stats ws;
			struct ccp_field f[CCP_WF__COUNT];
			ccp_engine_window_stats(e, q, w, &ws);
			ccp_figures_window(&ws, cfg->engine.sl_variant, wall_ms, f);
			write_fields(&j, ccp_engine_window_name(e, w), f, ccp_wfield_names, CCP_WF__COUNT);
		}
		struct ccp_live_stats ls;
		struct ccp_field lf[CCP_LF__COUNT];
		ccp_engine_live_stats(e, q, &ls);
		ccp_figures_live(&ls, now, lf);
		write_fields(&j, "live", lf, ccp_lfield_names, CCP_LF__COUNT);
		ccp_json_end_object(&j);
	}
	ccp_json_end_object(&j);

	ccp_json_key(&j, "total", 5);
	ccp_json_begin_object(&j);
	for (uint32_t w = 0; w < nw; w++) {
		struct ccp_window_stats ws;
		struct ccp_field f[CCP_WF__COUNT];
		ccp_total_window(e, w, hist, &ws);
		ccp_figures_window(&ws, cfg->engine.sl_variant, wall_ms, f);
		if (!ccp_engine_queue_count(e)) /* no queue to take the window's bounds from */
			f[CCP_WF_WINDOW_START].present = f[CCP_WF_WINDOW_END].present = false;
		write_fields(&j, ccp_engine_window_name(e, w), f, ccp_wfield_names, CCP_WF__COUNT);
	}
	struct ccp_field lf[CCP_LF__COUNT];
	ccp_total_live(e, lf);
	write_fields(&j, "live", lf, ccp_lfield_names, CCP_LF__COUNT);
	ccp_json_end_object(&j);
	free(hist);
	free(order);

	struct ccp_engine_counters c;
	ccp_engine_counters(e, &c);
	counter(&j, "late_events", c.late_events);
	counter(&j, "duplicates", c.duplicates);
	counter(&j, "expired", c.expired);
	counter(&j, "unmatched", c.unmatched);
	ccp_json_key(&j, "errors", 6);
	ccp_json_begin_object(&j);
	for (int r = 1; r < CCP_REJECT__COUNT; r++) /* every reason, future_ts too */
		counter(&j, ccp_reject_names[r], res->rejects[r]);
	ccp_json_end_object(&j);
	ccp_json_end_object(&j);
	fputc('\n', out);
}

/* ---- summary ------------------------------------------------------------ */

static void pct(FILE *out, const struct ccp_field *f)
{
	if (f->present)
		fprintf(out, " %7.1f%%", f->d * 100);
	else
		fprintf(out, " %8s", "-");
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
	/* Pad by characters, not bytes: ids are UTF-8. */
	size_t n = 0, chars = 0;
	while (n < nlen && chars < 20) {
		n++;
		while (n < nlen && ((unsigned char)name[n] & 0xc0) == 0x80)
			n++;
		chars++;
	}
	fprintf(out, "%.*s%*s %8" PRId64 " %8" PRId64, (int)n, name, (int)(20 - chars), "", f[CCP_WF_OFFERED].i,
		f[CCP_WF_ANSWERED].i);
	pct(out, &f[CCP_WF_SERVICE_LEVEL]);
	secs(out, &f[CCP_WF_ASA_MS]);
	pct(out, &f[CCP_WF_ABANDON_RATE]);
	fprintf(out, " %8" PRId64, lf[CCP_LF_WAITING].i);
	pct(out, &f[CCP_WF_PROMISE_KEPT_RATE]);
	if (f[CCP_WF_CSAT_AVG].present)
		fprintf(out, " %6.2f\n", f[CCP_WF_CSAT_AVG].d);
	else
		fprintf(out, " %6s\n", "-");
}

/* The windows people read: `1h` (or else the longest configured one) and
 * `today` (always last). */
static void summary_windows(const struct ccp_engine *e, uint32_t *a, uint32_t *b)
{
	uint32_t nw = ccp_engine_window_count(e);
	*a = nw >= 2 ? nw - 2 : 0;
	for (uint32_t w = 0; w + 1 < nw; w++)
		if (!strcmp(ccp_engine_window_name(e, w), "1h"))
			*a = w;
	*b = nw - 1;
}

void ccp_replay_write_summary(const struct ccp_engine *e, const struct ccp_config *cfg,
			      const struct ccp_replay_result *res, FILE *out)
{
	uint32_t nq = ccp_engine_queue_count(e);
	int64_t now = ccp_engine_now(e);
	fprintf(out, "ccpulse replay: %" PRIu64 " lines, %" PRIu64 " events, %" PRIu64 " applied, %u queues\n",
		res->lines, res->events, res->applied, nq);
	if (now != INT64_MIN) {
		time_t t = (time_t)(now / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		char when[40];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, "clock (latest event time): %s\n", when);
	}
	uint32_t *order = sorted_queues(e);
	struct ccp_hist *hist = malloc(sizeof(*hist));
	uint32_t wins[2];
	summary_windows(e, &wins[0], &wins[1]);
	for (int k = 0; k < 2 && order && hist; k++) {
		uint32_t w = wins[k];
		fprintf(out, "\n[%s]\n%-20s %8s %8s %8s %8s %8s %8s %8s %6s\n", ccp_engine_window_name(e, w), "queue",
			"offered", "answered", "SL", "ASA", "abandon", "waiting", "kept", "CSAT");
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
	fprintf(out, "\nlate %" PRIu64 ", duplicates %" PRIu64 ", expired %" PRIu64 ", unmatched %" PRIu64 "\nrejected:",
		c.late_events, c.duplicates, c.expired, c.unmatched);
	for (int r = 1; r < CCP_REJECT__COUNT; r++)
		fprintf(out, " %s %" PRIu64, ccp_reject_names[r], res->rejects[r]);
	fputc('\n', out);
}

/* ---- command ------------------------------------------------------------ */

#define USAGE "replay FILE|- [-c CONFIG] [--json OUT] [--minutes OUT] [config flags]"

/* Arguments of `replay` besides the config ones. Owner: ccp_replay_cmd. */
struct replay_args {
	const char *file, *json, *minutes;
};

/* Where closed minutes go (`--minutes`). Owner: ccp_replay_cmd. */
struct minutes_out {
	FILE *f;
	const struct ccp_engine *e; /* set once the engine exists */
	enum ccp_sl_variant variant;
};

/* One line per closed minute of a queue: the `{p}:minutes` entry as JSON. */
static void write_minute(void *ud, uint32_t q, const struct ccp_window_stats *m)
{
	struct minutes_out *mo = ud;
	struct ccp_field f[CCP_WF__COUNT];
	ccp_figures_window(m, mo->variant, ccp_log_wall_ms(), f);
	struct ccp_json_out j;
	ccp_json_init(&j, mo->f);
	ccp_json_begin_object(&j);
	struct ccp_str name = ccp_engine_queue_name(mo->e, q);
	ccp_json_key(&j, "queue", 5);
	ccp_json_string(&j, name.ptr, name.len);
	ccp_fields_emit(f, ccp_wfield_names, CCP_WF__COUNT, json_pair, &j);
	ccp_json_end_object(&j);
	fputc('\n', mo->f);
}

static int replay_arg(void *ud, int argc, char **argv, int *i)
{
	struct replay_args *a = ud;
	const char *s = argv[*i];
	if (!strcmp(s, "--json") || !strncmp(s, "--json=", 7)) {
		a->json = ccp_cli_value("replay", argc, argv, i);
		return a->json ? 0 : -1;
	}
	if (!strcmp(s, "--minutes") || !strncmp(s, "--minutes=", 10)) {
		a->minutes = ccp_cli_value("replay", argc, argv, i);
		return a->minutes ? 0 : -1;
	}
	if (s[0] == '-' && s[1]) {
		fprintf(stderr, "ccpulse replay: unknown option \"%s\"\n", s);
		return -1;
	}
	if (a->file) {
		fprintf(stderr, "ccpulse replay: one input only (got \"%s\" and \"%s\")\n", a->file, s);
		return -1;
	}
	a->file = s;
	(*i)++;
	return 0;
}

static void log_from_config(struct ccp_log *l, const struct ccp_config *c)
{
	ccp_log_init(l);
	/* Both were checked against the same names by the config table. */
	ccp_log_level_parse(c->log_level, &l->level);
	ccp_log_format_parse(c->log_format, &l->format);
}

int ccp_replay_cmd(int argc, char **argv)
{
	struct replay_args a = {NULL, NULL, NULL};
	struct minutes_out mo = {NULL, NULL, CCP_SL_ANSWERED_ABANDONED};
	struct ccp_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return CCP_EXIT_ERROR;
	int rc = ccp_cli_config(cfg, USAGE, argc, argv, replay_arg, &a);
	if (rc != CCP_EXIT_OK) {
		free(cfg);
		return rc == CCP_CLI_HELP_SHOWN ? CCP_EXIT_OK : rc;
	}
	rc = CCP_EXIT_ERROR;
	int fd = -1;
	FILE *out = NULL;
	struct ccp_engine *e = NULL;
	char err[512];
	if (!a.file) {
		fprintf(stderr, "ccpulse replay: no input file\nusage: ccpulse " USAGE "\n");
		rc = CCP_EXIT_USAGE;
		goto done;
	}
	fd = strcmp(a.file, "-") ? open(a.file, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		fprintf(stderr, "ccpulse replay: %s: %s\n", a.file, strerror(errno));
		goto done;
	}
	/* Opened before the run, so a bad path fails fast; removed again if
	 * the run fails, so no partial output is left behind. */
	if (a.json && !(out = fopen(a.json, "w"))) {
		fprintf(stderr, "ccpulse replay: %s: %s\n", a.json, strerror(errno));
		goto done;
	}
	if (a.minutes) {
		if (!(mo.f = fopen(a.minutes, "w"))) {
			fprintf(stderr, "ccpulse replay: %s: %s\n", a.minutes, strerror(errno));
			goto done;
		}
		mo.variant = cfg->engine.sl_variant;
		cfg->engine.minute_cb = write_minute;
		cfg->engine.minute_ud = &mo;
	}
	e = ccp_engine_new(&cfg->engine, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "ccpulse replay: %s\n", err);
		goto done;
	}
	mo.e = e;
	struct ccp_log log;
	log_from_config(&log, cfg);
	struct ccp_log_reporter rep;
	ccp_log_reporter_init(&rep, &log, CCP_LOG_WARN, "rejected event", 1000);
	struct ccp_replay_result res;
	memset(&res, 0, sizeof(res));
	if (ccp_replay_stream(e, fd, &res, &rep)) {
		fprintf(stderr, "ccpulse replay: reading %s: %s\n", a.file, strerror(errno));
		goto done;
	}
	ccp_log_reporter_flush(&rep, ccp_log_mono_ms(), true);
	if (mo.f) {
		int bad = ferror(mo.f);
		FILE *f = mo.f;
		mo.f = NULL;
		if (fclose(f) || bad) {
			fprintf(stderr, "ccpulse replay: writing %s: %s\n", a.minutes, strerror(errno));
			unlink(a.minutes);
			goto done;
		}
	}
	int64_t wall_ms = ccp_log_wall_ms();
	if (out) {
		ccp_replay_write_json(e, cfg, &res, wall_ms, out);
		int bad = ferror(out);
		if (fclose(out) || bad) {
			out = NULL;
			fprintf(stderr, "ccpulse replay: writing %s: %s\n", a.json, strerror(errno));
			unlink(a.json);
			goto done;
		}
		out = NULL;
		ccp_replay_write_summary(e, cfg, &res, stdout);
	} else {
		ccp_replay_write_json(e, cfg, &res, wall_ms, stdout);
		fflush(stdout);
		ccp_replay_write_summary(e, cfg, &res, stderr);
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "ccpulse replay: writing standard output: %s\n", strerror(errno));
		goto done;
	}
	rc = CCP_EXIT_OK;
done:
	if (out) {
		fclose(out);
		unlink(a.json);
	}
	if (mo.f) {
		fclose(mo.f);
		unlink(a.minutes);
	}
	if (fd > 0)
		close(fd);
	ccp_engine_free(e);
	ccp_config_free(cfg);
	free(cfg);
	return rc;
}
