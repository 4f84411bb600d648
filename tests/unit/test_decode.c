/* Unit tests: the event decoder against events.md (types, forms, reasons,
 * order of checks, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ccpulse/decode.h"

static struct ccp_decoder dec;
static struct ccp_event ev;

static enum ccp_reject dec_str(const char *s)
{
	return ccp_decode(&dec, s, strlen(s), &ev, NULL);
}

static int str_eq(struct ccp_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

#define BASE "\"id\":\"e1\",\"ts\":1795339806409,\"queue\":\"billing\",\"contact\":\"c1\""

static void test_every_type(void **state)
{
	(void)state;
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"channel\":\"chat\",\"transfer_from\":\"sales\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_CONTACT_OFFERED);
	assert_int_equal(ev.channel, CCP_CH_CHAT);
	assert_true(str_eq(ev.transfer_from, "sales"));
	assert_true(str_eq(ev.queue, "billing"));
	assert_int_equal(ev.ts_ms, 1795339806409LL);

	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.answered\",\"agent\":\"a-17\"}"), CCP_REJECT_NONE);
	assert_true(str_eq(ev.agent, "a-17"));
	assert_int_equal(ev.channel, CCP_CH_VOICE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.abandoned\"}"), CCP_REJECT_NONE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.transferred\",\"to_queue\":\"x\",\"to_agent\":\"y\"}"), CCP_REJECT_NONE);
	assert_true(str_eq(ev.to_queue, "x"));
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.ended\",\"resolved\":true}"), CCP_REJECT_NONE);
	assert_true(ev.resolved);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.ended\"}"), CCP_REJECT_NONE);
	assert_false(ev.resolved);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.made\",\"promise\":\"p9\",\"due\":\"2026-11-22T13:30:30Z\",\"kind\":\"callback\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.due_ms, 1795354230000LL);
	assert_int_equal(ev.kind, CCP_PROMISE_CALLBACK);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.made\",\"promise\":\"p9\",\"due\":5}"), CCP_REJECT_NONE);
	assert_int_equal(ev.kind, CCP_PROMISE_OTHER);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.kept\",\"promise\":\"p9\"}"), CCP_REJECT_NONE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.cancelled\",\"promise\":\"p9\"}"), CCP_REJECT_NONE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"survey.submitted\",\"csat\":5,\"empathy\":2,\"tangibles\":1}"), CCP_REJECT_NONE);
	assert_int_equal(ev.csat, 5);
	assert_int_equal(ev.dims[CCP_DIM_EMPATHY], 2);
	assert_int_equal(ev.dims[CCP_DIM_RELIABILITY], 0);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"complaint.opened\",\"complaint\":\"k1\"}"), CCP_REJECT_NONE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"complaint.resolved\",\"complaint\":\"k1\"}"), CCP_REJECT_NONE);
	assert_int_equal(dec_str("{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"wrap_up\",\"queues\":[\"x\",\"y\",\"x\"]}"), CCP_REJECT_NONE);
	assert_int_equal(ev.state, CCP_AGENT_WRAP_UP);
	assert_int_equal(ev.n_queues, 2);
	assert_true(str_eq(ev.queues[1], "y"));
	assert_int_equal(ev.queue.len, 0);
}

static void test_reasons(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		enum ccp_reject want;
	} cases[] = {
		{"", CCP_REJECT_BAD_JSON},
		{"[1]", CCP_REJECT_BAD_JSON},
		{"{\"id\":\"e\"", CCP_REJECT_BAD_JSON},
		{"{\"id\":\"e\"} {}", CCP_REJECT_BAD_JSON},
		{"{\"id\":\"\\ud800\"}", CCP_REJECT_BAD_JSON},
		{"{\"id\":\"\xff\"}", CCP_REJECT_BAD_JSON},
		{"{\"id\":\"\xc0\xaf\"}", CCP_REJECT_BAD_JSON},       /* overlong */
		{"{\"id\":\"\xed\xa0\x80\"}", CCP_REJECT_BAD_JSON},   /* UTF-8 surrogate */
		{"\xef\xbb\xbf{}", CCP_REJECT_BAD_JSON},              /* BOM */
		{"{\"x\":01}", CCP_REJECT_BAD_JSON},
		{"{\"x\":1.}", CCP_REJECT_BAD_JSON},
		{"{\"x\":tru}", CCP_REJECT_BAD_JSON},
		{"{\"x\":\"a\tb\"}", CCP_REJECT_BAD_JSON},
		{"{}", CCP_REJECT_MISSING_FIELD},
		{"{\"id\":null,\"type\":\"nope\"}", CCP_REJECT_MISSING_FIELD},  /* id first */
		{"{\"id\":\"e\",\"type\":\"nope\"}", CCP_REJECT_UNKNOWN_TYPE},   /* before ts */
		{"{\"id\":\"e\",\"type\":7,\"ts\":1}", CCP_REJECT_BAD_FIELD},
		{"{\"id\":\"e\",\"type\":\"Contact.Offered\",\"ts\":1}", CCP_REJECT_UNKNOWN_TYPE},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":\"x\"}", CCP_REJECT_BAD_FIELD}, /* ts before queue */
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1}", CCP_REJECT_MISSING_FIELD},
		{"{\"id\":\"\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\"}", CCP_REJECT_BAD_FIELD},
		{"{\"id\":5,\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\"}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.offered\",\"channel\":\"fax\"}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.offered\",\"ts\":-1}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.offered\",\"ts\":1.5}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.offered\",\"ts\":1e3}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.offered\",\"ts\":99999999999999999999}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.offered\",\"ts\":true}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"contact.ended\",\"resolved\":1}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\"}", CCP_REJECT_MISSING_FIELD},
		{"{" BASE ",\"type\":\"promise.made\",\"due\":1}", CCP_REJECT_MISSING_FIELD},
		{"{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":1,\"kind\":\"maybe\"}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":6}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":5.0}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":0}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"empathy\":\"5\"}", CCP_REJECT_BAD_FIELD},
		{"{" BASE ",\"type\":\"survey.submitted\"}", CCP_REJECT_MISSING_FIELD},
		{"{" BASE ",\"type\":\"complaint.opened\"}", CCP_REJECT_MISSING_FIELD},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"state\":\"busy\"}", CCP_REJECT_MISSING_FIELD},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\"}", CCP_REJECT_MISSING_FIELD},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"asleep\"}", CCP_REJECT_BAD_FIELD},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queues\":\"q\"}", CCP_REJECT_BAD_FIELD},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queues\":[1]}", CCP_REJECT_BAD_FIELD},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queue\":\"\"}", CCP_REJECT_BAD_FIELD},
		/* Another type's field is ignored like an unknown one. */
		{"{" BASE ",\"type\":\"contact.offered\",\"csat\":\"x\",\"due\":[]}", CCP_REJECT_NONE},
		/* Nulls are absent; the last duplicate key wins. */
		{"{" BASE ",\"type\":\"contact.offered\",\"channel\":null,\"agent\":null}", CCP_REJECT_NONE},
		{"{" BASE ",\"type\":\"contact.offered\",\"ts\":\"bad\",\"ts\":7}", CCP_REJECT_NONE},
		{" {" BASE ",\"type\":\"contact.offered\",\"x\":{\"y\":[1,2,{\"z\":null}]}} \r", CCP_REJECT_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ccp_reject got = dec_str(cases[i].json);
		if (got != cases[i].want)
			fail_msg("case %zu %s: got %s, want %s", i, cases[i].json, ccp_reject_names[got],
				 ccp_reject_names[cases[i].want]);
	}
}

static void test_times(void **state)
{
	(void)state;
	static const struct {
		const char *ts;
		long long want; /* -1: bad_field */
	} cases[] = {
		{"\"2026-11-22T09:15:21.000Z\"", 1795338921000LL},
		{"\"2026-11-22t09:15:21z\"", 1795338921000LL},
		{"\"2026-11-22T10:15:21.1239+01:00\"", 1795338921123LL},
		{"\"2026-11-22T04:45:21.5-04:30\"", 1795338921500LL},
		{"\"2024-02-29T00:00:00Z\"", 1709164800000LL},
		{"\"1970-01-01T00:00:00Z\"", 0},
		{"\"2016-12-31T23:59:60Z\"", 1483228800000LL},
		{"\"2023-02-29T00:00:00Z\"", -1},
		{"\"2026-13-01T00:00:00Z\"", -1},
		{"\"2026-11-22T24:00:00Z\"", -1},
		{"\"2026-11-22T09:15:21\"", -1},
		{"\"2026-11-22T09:15:21.Z\"", -1},
		{"\"2026-11-22 09:15:21Z\"", -1},
		{"\"2026-11-22T09:15:21+24:00\"", -1},
		{"\"1970-01-01T00:00:00+01:00\"", -1},
		{"0", 0},
		{"-0", 0},
		{"9223372036854775807", 9223372036854775807LL},
	};
	char buf[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":%s,\"queue\":\"q\",\"contact\":\"c\"}",
			 cases[i].ts);
		enum ccp_reject got = dec_str(buf);
		if (cases[i].want < 0) {
			if (got != CCP_REJECT_BAD_FIELD)
				fail_msg("%s: want bad_field, got %s", cases[i].ts, ccp_reject_names[got]);
		} else if (got != CCP_REJECT_NONE || ev.ts_ms != cases[i].want) {
			fail_msg("%s: got %s %lld, want %lld", cases[i].ts, ccp_reject_names[got], (long long)ev.ts_ms,
				 cases[i].want);
		}
	}
}

static void test_escapes_and_limits(void **state)
{
	(void)state;
	assert_int_equal(dec_str("{\"\\u0069d\":\"\\u0065-\\u00e9\\ud83d\\ude00\\n\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\"}"),
			 CCP_REJECT_NONE);
	assert_true(str_eq(ev.id, "e-\xc3\xa9\xf0\x9f\x98\x80\n"));

	char big[2048];
	memset(big, 'a', 128);
	big[128] = 0;
	char buf[4096];
	snprintf(buf, sizeof(buf), "{\"id\":\"%s\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\"}", big);
	assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
	assert_int_equal(ev.id.len, 128);
	big[128] = 'a';
	big[129] = 0;
	snprintf(buf, sizeof(buf), "{\"id\":\"%s\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\"}", big);
	assert_int_equal(dec_str(buf), CCP_REJECT_BAD_FIELD);
	/* 64 escapes of 2 bytes each make 128 bytes: still an id. */
	buf[0] = 0;
	strcat(buf, "{\"id\":\"");
	for (int i = 0; i < 64; i++)
		strcat(buf, "\\u00e9");
	strcat(buf, "\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\"}");
	assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
	assert_int_equal(ev.id.len, 128);

	/* Depth 64 is fine, 65 is bad_json. */
	char *deep = malloc(1000);
	for (int depth = 63; depth <= 64; depth++) {
		size_t n = 0;
		n += (size_t)sprintf(deep + n, "{" BASE ",\"type\":\"contact.offered\",\"x\":");
		for (int i = 0; i < depth; i++)
			deep[n++] = '[';
		for (int i = 0; i < depth; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		deep[n] = 0;
		assert_int_equal(dec_str(deep), depth == 63 ? CCP_REJECT_NONE : CCP_REJECT_BAD_JSON);
	}
	free(deep);

	/* 256 distinct queues are fine, 257 are bad_field. */
	char *qs = malloc(20000);
	for (int nq = 256; nq <= 257; nq++) {
		size_t n = (size_t)sprintf(qs, "{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queues\":[");
		for (int i = 0; i < nq; i++)
			n += (size_t)sprintf(qs + n, "%s\"q%d\"", i ? "," : "", i);
		strcpy(qs + n, "]}");
		assert_int_equal(dec_str(qs), nq == 256 ? CCP_REJECT_NONE : CCP_REJECT_BAD_FIELD);
	}
	free(qs);

	/* Over 1 MiB is bad_json before anything is read. */
	size_t huge = CCP_EVENT_MAX_BYTES + 1;
	char *h = malloc(huge);
	memset(h, ' ', huge);
	h[0] = '{';
	h[huge - 1] = '}';
	struct ccp_decode_error err;
	assert_int_equal(ccp_decode(&dec, h, huge, &ev, &err), CCP_REJECT_BAD_JSON);
	assert_non_null(err.detail);
	free(h);
}

static void test_error_detail_and_future(void **state)
{
	(void)state;
	struct ccp_decode_error err;
	const char *s = "{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"channel\":9}";
	assert_int_equal(ccp_decode(&dec, s, strlen(s), &ev, &err), CCP_REJECT_BAD_FIELD);
	assert_string_equal(err.field, "channel");
	assert_int_equal(err.offset, strlen(s) - 2);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\"}"), CCP_REJECT_NONE);
	assert_int_equal(ccp_decode_check_future(&ev, 1795339806409LL - 300000, 300000), CCP_REJECT_NONE);
	assert_int_equal(ccp_decode_check_future(&ev, 1795339806409LL - 300001, 300000), CCP_REJECT_FUTURE_TS);
}

int main(void)
{
	ccp_decoder_init(&dec);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_escapes_and_limits),
		cmocka_unit_test(test_error_detail_and_future),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
