/* Unit tests: logfmt and JSON lines (exact text), escaping, level filter,
 * truncation keeping JSON valid, the rate-limited reporter's counts, and
 * whole lines under concurrent writers.
 * ccp-test-labels: threaded */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccpulse/log.h"

/* 2026-11-22T12:00:00.042Z */
static int64_t fixed_clock(void)
{
	return 1795348800042LL;
}

/* A logger writing to a fresh temporary file. Owner: the test. */
struct sink {
	struct ccp_log log;
	char path[64];
};

static void sink_open(struct sink *s, enum ccp_log_format fmt, enum ccp_log_level lv)
{
	strcpy(s->path, "/tmp/ccp_log_XXXXXX");
	int fd = mkstemp(s->path);
	assert_true(fd >= 0);
	close(fd);
	fd = open(s->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	ccp_log_init(&s->log);
	s->log.fd = fd;
	s->log.format = fmt;
	s->log.level = lv;
	s->log.clock_ms = fixed_clock;
}

/* Returns what was written (caller frees) and closes the sink. */
static char *sink_close(struct sink *s)
{
	close(s->log.fd);
	FILE *f = fopen(s->path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(s->path);
	return buf;
}

static void test_logfmt_line(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, CCP_LOG_LOGFMT, CCP_LOG_INFO);
	ccp_log_kv(&s.log, CCP_LOG_WARN, "bad input", "reason", "bad_json", "detail", "a b\"c\\\n", "empty", "",
		   NULL);
	ccp_logf(&s.log, CCP_LOG_ERROR, "redis %s:%d down", "127.0.0.1", 6379);
	ccp_log_kv(&s.log, CCP_LOG_DEBUG, "dropped", NULL); /* below the level */
	char *out = sink_close(&s);
	assert_string_equal(out, "ts=2026-11-22T12:00:00.042Z level=warn msg=\"bad input\" reason=bad_json "
				 "detail=\"a b\\\"c\\\\\\n\" empty=\"\"\n"
				 "ts=2026-11-22T12:00:00.042Z level=error msg=\"redis 127.0.0.1:6379 down\"\n");
	free(out);
}

static void test_json_line(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, CCP_LOG_JSON, CCP_LOG_DEBUG);
	ccp_log_kv(&s.log, CCP_LOG_DEBUG, "x", "k", "tab\there \x01 caf\xc3\xa9 bad\xff", NULL);
	char *out = sink_close(&s);
	assert_string_equal(out, "{\"ts\":\"2026-11-22T12:00:00.042Z\",\"level\":\"debug\",\"msg\":\"x\","
				 "\"k\":\"tab\\there \\u0001 caf\xc3\xa9 bad\\ufffd\"}\n");
	free(out);
}

static void test_truncation(void **state)
{
	(void)state;
	static char big[3 * CCP_LOG_LINE_MAX];
	memset(big, '"', sizeof(big) - 1); /* each escapes to 2 bytes */
	for (int f = 0; f < 2; f++) {
		struct sink s;
		sink_open(&s, f ? CCP_LOG_JSON : CCP_LOG_LOGFMT, CCP_LOG_INFO);
		ccp_log_kv(&s.log, CCP_LOG_INFO, "m", "small", "1", "big", big, "after", "2", NULL);
		char *out = sink_close(&s);
		size_t n = strlen(out);
		assert_true(n <= CCP_LOG_LINE_MAX);
		const char *tail = f ? ",\"small\":\"1\",\"truncated\":true}\n" : " small=1 truncated=true\n";
		assert_true(n > strlen(tail));
		assert_string_equal(out + n - strlen(tail), tail);
		free(out);
	}
}

static void test_parse(void **state)
{
	(void)state;
	enum ccp_log_level lv;
	enum ccp_log_format fmt;
	assert_int_equal(ccp_log_level_parse("warn", &lv), 0);
	assert_int_equal(lv, CCP_LOG_WARN);
	assert_int_equal(ccp_log_level_parse("WARN", &lv), -1);
	assert_int_equal(ccp_log_format_parse("json", &fmt), 0);
	assert_int_equal(fmt, CCP_LOG_JSON);
	assert_int_equal(ccp_log_format_parse("text", &fmt), -1);
}

static void test_reporter_counts(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, CCP_LOG_LOGFMT, CCP_LOG_INFO);
	struct ccp_log_reporter r;
	ccp_log_reporter_init(&r, &s.log, CCP_LOG_WARN, "rejected event", 1000);
	assert_true(ccp_log_report(&r, 0, "reason", "bad_json", NULL));   /* first: at once */
	assert_false(ccp_log_report(&r, 10, "reason", "bad_field", NULL)); /* within the interval */
	assert_false(ccp_log_report(&r, 500, NULL));
	assert_false(ccp_log_report(&r, 999, NULL));
	assert_true(ccp_log_report(&r, 1000, "reason", "unknown_type", NULL)); /* 4 since the last line */
	assert_false(ccp_log_reporter_flush(&r, 5000, false)); /* nothing pending */
	assert_false(ccp_log_report(&r, 1500, NULL));
	assert_false(ccp_log_reporter_flush(&r, 1999, false));
	assert_true(ccp_log_reporter_flush(&r, 2000, false));
	assert_false(ccp_log_report(&r, 2100, NULL));
	assert_true(ccp_log_reporter_flush(&r, 2101, true)); /* forced, at exit */
	assert_int_equal(ccp_log_reporter_total(&r), 7);
	char *out = sink_close(&s);
	const char *want = "ts=2026-11-22T12:00:00.042Z level=warn msg=\"rejected event\" count=1 total=1 reason=bad_json\n"
			   "ts=2026-11-22T12:00:00.042Z level=warn msg=\"rejected event\" count=4 total=5 reason=unknown_type\n"
			   "ts=2026-11-22T12:00:00.042Z level=warn msg=\"rejected event\" count=1 total=6\n"
			   "ts=2026-11-22T12:00:00.042Z level=warn msg=\"rejected event\" count=1 total=7\n";
	assert_string_equal(out, want);
	free(out);
}

#define THREADS 4
#define PER_THREAD 2000

/* Shared by the writer threads. Owner: the test; threads only log. */
struct race {
	struct ccp_log *log;
	struct ccp_log_reporter *rep;
};

static void *writer(void *arg)
{
	struct race *rc = arg;
	char pad[300];
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;
	for (int i = 0; i < PER_THREAD; i++) {
		ccp_log_kv(rc->log, CCP_LOG_INFO, "line", "pad", pad, NULL);
		ccp_log_report(rc->rep, 0, NULL); /* all at one instant: one line */
	}
	return NULL;
}

static void test_threads_whole_lines(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, CCP_LOG_LOGFMT, CCP_LOG_INFO);
	struct ccp_log_reporter r;
	ccp_log_reporter_init(&r, &s.log, CCP_LOG_WARN, "burst", 60000);
	struct race rc = {&s.log, &r};
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, &rc), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_true(ccp_log_reporter_flush(&r, 1, true));
	char *out = sink_close(&s);
	int lines = 0, bursts = 0;
	uint64_t burst_sum = 0;
	for (char *p = out, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = 0;
		unsigned long long c;
		if (strstr(p, "msg=burst")) {
			const char *cp = strstr(p, " count=");
			assert_non_null(cp);
			assert_int_equal(sscanf(cp, " count=%llu", &c), 1);
			burst_sum += c;
			bursts++;
			continue;
		}
		/* Every other line is exactly one whole `line` record. */
		assert_int_equal(strlen(p), strlen("ts=2026-11-22T12:00:00.042Z level=info msg=line pad=") + 299);
		lines++;
	}
	assert_int_equal(lines, THREADS * PER_THREAD);
	assert_int_equal(bursts, 2); /* the first report, then the forced flush */
	assert_int_equal(burst_sum, THREADS * PER_THREAD);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logfmt_line),      cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_truncation),       cmocka_unit_test(test_parse),
		cmocka_unit_test(test_reporter_counts),  cmocka_unit_test(test_threads_whole_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
