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

/* Every type with every optional field it may carry, plus the common ones. */
static void test_all_optional_fields(void **state)
{
	(void)state;
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"channel\":\"video\",\"agent\":\"a1\",\"transfer_from\":\"sales\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.channel, CCP_CH_VIDEO);
	assert_true(str_eq(ev.agent, "a1"));
	assert_true(str_eq(ev.transfer_from, "sales"));
	assert_true(str_eq(ev.contact, "c1"));
	assert_true(str_eq(ev.id, "e1"));
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.answered\",\"channel\":\"email\",\"agent\":\"a-17\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.channel, CCP_CH_EMAIL);
	assert_int_equal(ev.transfer_from.len, 0);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.abandoned\",\"channel\":\"sms\",\"agent\":\"a\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_CONTACT_ABANDONED);
	assert_int_equal(ev.channel, CCP_CH_SMS);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.transferred\",\"channel\":\"social\",\"agent\":\"a\",\"to_queue\":\"tq\",\"to_agent\":\"ta\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_CONTACT_TRANSFERRED);
	assert_int_equal(ev.channel, CCP_CH_SOCIAL);
	assert_true(str_eq(ev.to_queue, "tq"));
	assert_true(str_eq(ev.to_agent, "ta"));
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.ended\",\"channel\":\"voice\",\"agent\":\"a\",\"resolved\":false}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_CONTACT_ENDED);
	assert_false(ev.resolved);
	static const char *const kinds[] = {"callback", "follow_up", "resolution", "other"};
	for (int k = 0; k < 4; k++) {
		char buf[512];
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"promise.made\",\"channel\":\"chat\",\"agent\":\"a\",\"promise\":\"p9\",\"due\":1795354230000,\"kind\":\"%s\"}", kinds[k]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.type, CCP_EV_PROMISE_MADE);
		assert_int_equal(ev.kind, k);
		assert_int_equal(ev.due_ms, 1795354230000LL);
		assert_true(str_eq(ev.promise, "p9"));
	}
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.kept\",\"channel\":\"chat\",\"agent\":\"a\",\"promise\":\"p9\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_PROMISE_KEPT);
	assert_int_equal(ev.due_ms, 0);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.cancelled\",\"channel\":\"chat\",\"agent\":\"a\",\"promise\":\"p9\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_PROMISE_CANCELLED);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"survey.submitted\",\"agent\":\"a\",\"csat\":1,\"reliability\":1,\"responsiveness\":2,\"assurance\":3,\"empathy\":4,\"tangibles\":5}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_SURVEY_SUBMITTED);
	assert_int_equal(ev.csat, 1);
	for (int i = 0; i < CCP_DIM__COUNT; i++)
		assert_int_equal(ev.dims[i], i + 1);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"complaint.opened\",\"channel\":\"email\",\"agent\":\"a\",\"complaint\":\"k1\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_COMPLAINT_OPENED);
	assert_true(str_eq(ev.complaint, "k1"));
	assert_int_equal(dec_str("{" BASE ",\"type\":\"complaint.resolved\",\"channel\":\"email\",\"agent\":\"a\",\"complaint\":\"k1\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_COMPLAINT_RESOLVED);
	static const char *const states[] = {"available", "busy", "wrap_up", "away", "offline"};
	for (int st = 0; st < 5; st++) {
		char buf[512];
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"agent.state\",\"channel\":\"chat\",\"agent\":\"a\",\"state\":\"%s\",\"queues\":[\"q1\", \"q2\"]}", states[st]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.type, CCP_EV_AGENT_STATE);
		assert_int_equal(ev.state, st);
		assert_true(str_eq(ev.queue, "billing"));
		assert_true(str_eq(ev.contact, "c1"));
		assert_int_equal(ev.n_queues, 2);
		assert_true(str_eq(ev.queues[0], "q1"));
	}
	assert_int_equal(dec_str("{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"away\",\"queues\":[]}"), CCP_REJECT_NONE);
	assert_int_equal(ev.n_queues, 0);
	assert_int_equal(dec_str("{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"away\",\"queues\":null}"), CCP_REJECT_NONE);
	assert_int_equal(ev.n_queues, 0);
}

/* The first failing check, in the contract's order, names the reason and
 * the field. */
static void test_check_order(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		enum ccp_reject want;
		const char *field;
	} cases[] = {
		/* JSON is checked before any field. */
		{"{\"id\":5,\"type\":\"nope\",\"x\":tru}", CCP_REJECT_BAD_JSON, NULL},
		{"{\"type\":\"nope\",\"x\":\"\xff\"}", CCP_REJECT_BAD_JSON, NULL},
		{"{\"ts\":-1} x", CCP_REJECT_BAD_JSON, NULL},
		/* id before type, type before ts, ts before queue ... */
		{"{\"type\":\"nope\",\"ts\":\"x\"}", CCP_REJECT_MISSING_FIELD, "id"},
		{"{\"id\":\"\",\"type\":\"nope\"}", CCP_REJECT_BAD_FIELD, "id"},
		{"{\"id\":\"e\",\"ts\":\"x\"}", CCP_REJECT_MISSING_FIELD, "type"},
		{"{\"id\":\"e\",\"type\":null,\"ts\":\"x\"}", CCP_REJECT_MISSING_FIELD, "type"},
		{"{\"id\":\"e\",\"type\":[\"contact.offered\"],\"ts\":\"x\"}", CCP_REJECT_BAD_FIELD, "type"},
		{"{\"id\":\"e\",\"type\":\"nope\",\"ts\":\"x\"}", CCP_REJECT_UNKNOWN_TYPE, "type"},
		{"{\"id\":\"e\",\"type\":\"\",\"ts\":1}", CCP_REJECT_UNKNOWN_TYPE, "type"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"queue\":5}", CCP_REJECT_MISSING_FIELD, "ts"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":\"x\"}", CCP_REJECT_BAD_FIELD, "ts"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"\"}", CCP_REJECT_BAD_FIELD, "queue"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"contact\":5}", CCP_REJECT_MISSING_FIELD, "queue"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"channel\":\"fax\"}", CCP_REJECT_MISSING_FIELD, "contact"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"channel\":\"fax\",\"agent\":5}", CCP_REJECT_BAD_FIELD, "channel"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"agent\":5,\"transfer_from\":5}", CCP_REJECT_BAD_FIELD, "agent"},
		{"{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"transfer_from\":\"\"}", CCP_REJECT_BAD_FIELD, "transfer_from"},
		{"{\"id\":\"e\",\"type\":\"contact.transferred\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"to_agent\":1,\"to_queue\":1}", CCP_REJECT_BAD_FIELD, "to_queue"},
		{"{\"id\":\"e\",\"type\":\"contact.transferred\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"to_agent\":1}", CCP_REJECT_BAD_FIELD, "to_agent"},
		/* agent.state: channel before agent, agent before state. */
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"channel\":1,\"state\":\"busy\"}", CCP_REJECT_BAD_FIELD, "channel"},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"state\":\"nope\"}", CCP_REJECT_MISSING_FIELD, "agent"},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"\"}", CCP_REJECT_BAD_FIELD, "agent"},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"queues\":[5]}", CCP_REJECT_MISSING_FIELD, "state"},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"Busy\",\"queues\":[5]}", CCP_REJECT_BAD_FIELD, "state"},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queues\":[\"q\",\"\"]}", CCP_REJECT_BAD_FIELD, "queues"},
		{"{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"contact\":1}", CCP_REJECT_BAD_FIELD, "contact"},
		/* promise.made: promise, due, kind. */
		{"{" BASE ",\"type\":\"promise.made\",\"promise\":5,\"kind\":\"x\"}", CCP_REJECT_BAD_FIELD, "promise"},
		{"{" BASE ",\"type\":\"promise.made\",\"due\":\"x\",\"kind\":\"x\"}", CCP_REJECT_MISSING_FIELD, "promise"},
		{"{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":\"x\",\"kind\":\"x\"}", CCP_REJECT_BAD_FIELD, "due"},
		{"{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":null,\"kind\":\"x\"}", CCP_REJECT_MISSING_FIELD, "due"},
		{"{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":2,\"kind\":\"CALLBACK\"}", CCP_REJECT_BAD_FIELD, "kind"},
		{"{" BASE ",\"type\":\"promise.kept\",\"due\":\"x\"}", CCP_REJECT_MISSING_FIELD, "promise"},
		{"{" BASE ",\"type\":\"promise.cancelled\",\"promise\":[]}", CCP_REJECT_BAD_FIELD, "promise"},
		/* survey: csat, then the dimensions in the contract's order. */
		{"{" BASE ",\"type\":\"survey.submitted\",\"reliability\":9}", CCP_REJECT_MISSING_FIELD, "csat"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"tangibles\":0,\"reliability\":9}", CCP_REJECT_BAD_FIELD, "reliability"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"tangibles\":0,\"responsiveness\":-1}", CCP_REJECT_BAD_FIELD, "responsiveness"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"tangibles\":0,\"assurance\":true}", CCP_REJECT_BAD_FIELD, "assurance"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"tangibles\":0,\"empathy\":1e0}", CCP_REJECT_BAD_FIELD, "empathy"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"tangibles\":0}", CCP_REJECT_BAD_FIELD, "tangibles"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"csat\":\"3\"}", CCP_REJECT_BAD_FIELD, "csat"},
		{"{" BASE ",\"type\":\"complaint.resolved\",\"complaint\":\"\"}", CCP_REJECT_BAD_FIELD, "complaint"},
		{"{" BASE ",\"type\":\"complaint.resolved\"}", CCP_REJECT_MISSING_FIELD, "complaint"},
		{"{" BASE ",\"type\":\"contact.ended\",\"resolved\":\"true\"}", CCP_REJECT_BAD_FIELD, "resolved"},
		{"{" BASE ",\"type\":\"contact.ended\",\"resolved\":null}", CCP_REJECT_NONE, NULL},
		/* `agent` is validated on every type. */
		{"{" BASE ",\"type\":\"contact.abandoned\",\"agent\":\"\"}", CCP_REJECT_BAD_FIELD, "agent"},
		{"{" BASE ",\"type\":\"survey.submitted\",\"agent\":{},\"csat\":1}", CCP_REJECT_BAD_FIELD, "agent"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ccp_decode_error err = {0};
		enum ccp_reject got = ccp_decode(&dec, cases[i].json, strlen(cases[i].json), &ev, &err);
		if (got != cases[i].want)
			fail_msg("case %zu %s: got %s, want %s", i, cases[i].json, ccp_reject_names[got],
				 ccp_reject_names[cases[i].want]);
		assert_int_equal(err.reason, got);
		if (got != CCP_REJECT_NONE)
			assert_non_null(err.detail);
		if (cases[i].field && (!err.field || strcmp(err.field, cases[i].field) != 0))
			fail_msg("case %zu %s: field %s, want %s", i, cases[i].json, err.field ? err.field : "(none)",
				 cases[i].field);
		if (got == CCP_REJECT_BAD_JSON && err.field)
			fail_msg("case %zu: bad_json names field %s", i, err.field);
		if (err.offset > strlen(cases[i].json))
			fail_msg("case %zu: offset %zu past the input", i, err.offset);
	}
}

static void test_more_times(void **state)
{
	(void)state;
	static const struct {
		const char *ts;
		long long want; /* -1: bad_field */
	} cases[] = {
		{"\"2000-02-29T00:00:00Z\"", 951782400000LL},
		{"\"1900-02-28T00:00:00Z\"", -1}, /* before the epoch */
		{"\"2100-02-29T00:00:00Z\"", -1}, /* 2100 is no leap year */
		{"\"2026-04-31T00:00:00Z\"", -1},
		{"\"2026-00-10T00:00:00Z\"", -1},
		{"\"2026-01-00T00:00:00Z\"", -1},
		{"\"2026-01-01T00:60:00Z\"", -1},
		{"\"2026-01-01T00:00:61Z\"", -1},
		{"\"2026-12-31T23:59:60.5+00:00\"", 1798761600500LL},
		{"\"2026-11-22T09:15:21.123456789Z\"", 1795338921123LL},
		{"\"2026-11-22T09:15:21.9999999999999999999999999999999999999999999999Z\"", 1795338921999LL},
		{"\"2026-11-22T09:15:21.12Z\"", 1795338921120LL},
		{"\"2026-11-22t09:15:21.5-00:00\"", 1795338921500LL},
		{"\"2026-11-23T08:59:21+23:44\"", 1795338921000LL},
		{"\"2026-11-22T09:15:21+00:60\"", -1},
		{"\"2026-11-22T09:15:21+0100\"", -1},
		{"\"2026-11-22T09:15:21+01\"", -1},
		{"\"2026-11-22T09:15:21ZZ\"", -1},
		{"\"2026-11-22T09:15Z\"", -1},
		{"\"26-11-22T09:15:21Z\"", -1},
		{"\"2026-11-22T09:15:21 Z\"", -1},
		{"\"+2026-11-22T09:15:21Z\"", -1},
		{"\"2026-1a-22T09:15:21Z\"", -1},
		{"\"\"", -1},
		{"\"1795339806409\"", -1},
		{"\"\\u0032026-11-22T09:15:21Z\"", 1795338921000LL}, /* escapes are undone first */
		{"\"9999-12-31T23:59:59.999Z\"", 253402300799999LL},
		{"1795339806409.0", -1},
		{"1795339806409e0", -1},
		{"9223372036854775808", -1},
		{"-1", -1},
		{"null", -2}, /* missing_field */
		{"{}", -1},
		{"[1]", -1},
		{"false", -1},
	};
	char buf[512];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"id\":\"e\",\"type\":\"contact.offered\",\"ts\":%s,\"queue\":\"q\",\"contact\":\"c\"}",
			 cases[i].ts);
		enum ccp_reject got = dec_str(buf);
		enum ccp_reject want = cases[i].want == -1 ? CCP_REJECT_BAD_FIELD
				       : cases[i].want == -2 ? CCP_REJECT_MISSING_FIELD : CCP_REJECT_NONE;
		if (got != want || (want == CCP_REJECT_NONE && ev.ts_ms != cases[i].want))
			fail_msg("%s: got %s %lld, want %s %lld", cases[i].ts, ccp_reject_names[got], (long long)ev.ts_ms,
				 ccp_reject_names[want], cases[i].want);
		/* `due` goes through the same parser. */
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":%s}", cases[i].ts);
		got = dec_str(buf);
		if (got != want || (want == CCP_REJECT_NONE && ev.due_ms != cases[i].want))
			fail_msg("due %s: got %s", cases[i].ts, ccp_reject_names[got]);
	}
}

/* A fresh heap copy per call, so that a read past `len` is caught by ASan;
 * it lives until the next call, as the event's slices point into it. */
static char *exact_copy;

static enum ccp_reject dec_exact(const char *s, size_t n)
{
	free(exact_copy);
	exact_copy = malloc(n ? n : 1);
	memcpy(exact_copy, s, n);
	return ccp_decode(&dec, exact_copy, n, &ev, NULL);
}

static void test_json_and_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		enum ccp_reject want;
	} cases[] = {
		/* escapes */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uFFFF\"}", CCP_REJECT_NONE},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\x\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\'\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\u12G4\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\u12\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\udc00\\ud800\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\ud800\\u0041\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\ud800\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\ud800\\\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\uDBFF\\uDFFF\"}", CCP_REJECT_NONE},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\\", CCP_REJECT_BAD_JSON},
		/* UTF-8 */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}", CCP_REJECT_NONE},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xc3\"}", CCP_REJECT_BAD_JSON},          /* truncated */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xe2\x82\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\x80\"}", CCP_REJECT_BAD_JSON},          /* lone continuation */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xc1\xbf\"}", CCP_REJECT_BAD_JSON},      /* overlong 2 */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xe0\x80\xaf\"}", CCP_REJECT_BAD_JSON},  /* overlong 3 */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xf0\x80\x80\xaf\"}", CCP_REJECT_BAD_JSON}, /* overlong 4 */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xed\xbf\xbf\"}", CCP_REJECT_BAD_JSON},  /* surrogate */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xf4\x90\x80\x80\"}", CCP_REJECT_BAD_JSON}, /* > U+10FFFF */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xf5\x80\x80\x80\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":\"\xf8\x88\x80\x80\x80\"}", CCP_REJECT_BAD_JSON},
		{"{" BASE ",\"type\":\"contact.offered\",\"\xff\":1}", CCP_REJECT_BAD_JSON},            /* in a key */
		{"{" BASE ",\"type\":\"contact.offered\",\"x\":[\"\xc3\x28\"]}", CCP_REJECT_BAD_JSON},  /* nested */
		{"{" BASE ",\"type\":\"contact.offered\"}\xff", CCP_REJECT_BAD_JSON},                   /* after */
		/* grammar */
		{"\"str\"", CCP_REJECT_BAD_JSON},
		{"null", CCP_REJECT_BAD_JSON},
		{"17", CCP_REJECT_BAD_JSON},
		{"   ", CCP_REJECT_BAD_JSON},
		{"{,}", CCP_REJECT_BAD_JSON},
		{"{\"a\":1,}", CCP_REJECT_BAD_JSON},
		{"{\"a\" 1}", CCP_REJECT_BAD_JSON},
		{"{\"a\":[1,]}", CCP_REJECT_BAD_JSON},
		{"{\"a\":[1 2]}", CCP_REJECT_BAD_JSON},
		{"{'a':1}", CCP_REJECT_BAD_JSON},
		{"{a:1}", CCP_REJECT_BAD_JSON},
		{"{\"a\":+1}", CCP_REJECT_BAD_JSON},
		{"{\"a\":.5}", CCP_REJECT_BAD_JSON},
		{"{\"a\":-}", CCP_REJECT_BAD_JSON},
		{"{\"a\":0x1}", CCP_REJECT_BAD_JSON},
		{"{\"a\":1e}", CCP_REJECT_BAD_JSON},
		{"{\"a\":NaN}", CCP_REJECT_BAD_JSON},
		{"{\"a\":Infinity}", CCP_REJECT_BAD_JSON},
		{"{\"a\":nul}", CCP_REJECT_BAD_JSON},
		{"{\"a\":True}", CCP_REJECT_BAD_JSON},
		{"{\"a\":1}}", CCP_REJECT_BAD_JSON},
		{"{\"a\":[}", CCP_REJECT_BAD_JSON},
		{"{\"a\":\"\x01\"}", CCP_REJECT_BAD_JSON},
		{"{\"a\":1}\x0b", CCP_REJECT_BAD_JSON}, /* vertical tab is no JSON space */
		{"\t\r\n {" BASE ",\"type\":\"contact.offered\",\"a\":[-0.0e+5,1E-2,0,{},[],\"\",true,false,null]} \n", CCP_REJECT_NONE},
		{"{\"\":1," BASE ",\"type\":\"contact.offered\"}", CCP_REJECT_NONE},
		/* a fully escaped type name and key still match */
		{"{\"\\u0074ype\":\"\\u0063\\u006f\\u006d\\u0070\\u006c\\u0061\\u0069\\u006e\\u0074\\u002e\\u0072\\u0065\\u0073\\u006f\\u006c\\u0076\\u0065\\u0064\"," BASE ",\"complaint\":\"k\"}", CCP_REJECT_NONE},
		{"{" BASE ",\"type\":\"contact.offered\",\"channel\":\"\\u0063hat\"}", CCP_REJECT_NONE},
		/* escapes do not hide a wrong length */
		{"{" BASE ",\"type\":\"contact.offered\",\"agent\":\"\\u0000\"}", CCP_REJECT_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ccp_reject got = dec_exact(cases[i].json, strlen(cases[i].json));
		if (got != cases[i].want)
			fail_msg("case %zu %s: got %s, want %s", i, cases[i].json, ccp_reject_names[got],
				 ccp_reject_names[cases[i].want]);
	}
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"channel\":\"\\u0063hat\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.channel, CCP_CH_CHAT);
	/* A NUL byte inside the input (not escaped) is a control character. */
	static const char nul[] = "{\"id\":\"a\0b\"}";
	assert_int_equal(dec_exact(nul, sizeof(nul) - 1), CCP_REJECT_BAD_JSON);
	/* An empty buffer with a NULL pointer is bad_json, not a crash. */
	assert_int_equal(ccp_decode(&dec, NULL, 0, &ev, NULL), CCP_REJECT_BAD_JSON);
}

static void test_duplicates_nulls_slices(void **state)
{
	(void)state;
	/* The last duplicate wins, whatever the earlier ones held. */
	const char *s = "{\"id\":\"first\"," BASE ",\"type\":\"contact.offered\",\"id\":\"last\"}";
	assert_int_equal(dec_str(s), CCP_REJECT_NONE);
	assert_true(str_eq(ev.id, "last"));
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"queue\":\"\"}"), CCP_REJECT_BAD_FIELD);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"queue\":null}"), CCP_REJECT_MISSING_FIELD);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"nope\",\"type\":\"contact.abandoned\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.type, CCP_EV_CONTACT_ABANDONED);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.abandoned\",\"type\":\"nope\"}"), CCP_REJECT_UNKNOWN_TYPE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"channel\":\"chat\",\"channel\":null}"), CCP_REJECT_NONE);
	assert_int_equal(ev.channel, CCP_CH_VOICE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"\\u0071ueue\":\"q2\"}"), CCP_REJECT_NONE);
	assert_true(str_eq(ev.queue, "q2"));
	/* Nulls: a required null is missing, an optional null is its default. */
	assert_int_equal(dec_str("{\"id\":null," BASE ",\"type\":\"contact.offered\"}"), CCP_REJECT_NONE); /* BASE's id is later */
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"ts\":null}"), CCP_REJECT_MISSING_FIELD);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"contact\":null}"), CCP_REJECT_MISSING_FIELD);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":1,\"kind\":null}"), CCP_REJECT_NONE);
	assert_int_equal(ev.kind, CCP_PROMISE_OTHER);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"survey.submitted\",\"csat\":2,\"empathy\":null}"), CCP_REJECT_NONE);
	assert_int_equal(ev.dims[CCP_DIM_EMPATHY], 0);
	assert_int_equal(dec_str("{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queue\":null,\"contact\":null}"), CCP_REJECT_NONE);
	assert_int_equal(ev.queue.len, 0);
	/* Fields of other types are ignored, whatever they hold. */
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.abandoned\",\"state\":5,\"queues\":\"x\",\"promise\":1,\"resolved\":\"y\",\"kind\":0,\"complaint\":[]}"), CCP_REJECT_NONE);
	assert_int_equal(ev.promise.len, 0);
	assert_false(ev.resolved);
	/* Fields left from the previous event are cleared. */
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\",\"agent\":\"a\",\"transfer_from\":\"t\"}"), CCP_REJECT_NONE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\"}"), CCP_REJECT_NONE);
	assert_int_equal(ev.agent.len, 0);
	assert_int_equal(ev.transfer_from.len, 0);
	/* Plain strings are slices of the input; escaped ones live in scratch. */
	const char *in = "{\"id\":\"plain\",\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\\n\",\"contact\":\"c\"}";
	assert_int_equal(dec_str(in), CCP_REJECT_NONE);
	assert_true(ev.id.ptr >= in && ev.id.ptr < in + strlen(in));
	assert_true(ev.queue.ptr >= dec.scratch && ev.queue.ptr < dec.scratch + sizeof(dec.scratch));
	assert_true(str_eq(ev.queue, "q\n"));
}

static void test_more_limits(void **state)
{
	(void)state;
	char *buf = malloc(CCP_EVENT_MAX_BYTES + 16);
	/* 128 bytes through escapes plus one more byte: 129, bad_field. */
	size_t n = (size_t)sprintf(buf, "{" BASE ",\"type\":\"contact.offered\",\"queue\":\"");
	for (int i = 0; i < 64; i++)
		n += (size_t)sprintf(buf + n, "\\u00e9");
	n += (size_t)sprintf(buf + n, "x\"}");
	assert_int_equal(dec_exact(buf, n), CCP_REJECT_BAD_FIELD);
	/* A 129-byte id of 4-byte characters plus one ASCII byte. */
	n = (size_t)sprintf(buf, "{\"type\":\"contact.offered\",\"ts\":1,\"queue\":\"q\",\"contact\":\"c\",\"id\":\"");
	for (int i = 0; i < 32; i++)
		n += (size_t)sprintf(buf + n, "\xf0\x9f\x98\x80");
	n += (size_t)sprintf(buf + n, "x\"}");
	assert_int_equal(dec_exact(buf, n), CCP_REJECT_BAD_FIELD);
	/* 256 distinct queues amid many repeats (escaped repeats too) decode. */
	n = (size_t)sprintf(buf, "{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queues\":[");
	for (int i = 0; i < 256; i++)
		n += (size_t)sprintf(buf + n, "\"q%d\",\"\\u0071%d\",", i, i);
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(buf + n, "\"\\u0071%d\",", i % 256);
	n += (size_t)sprintf(buf + n, "\"q0\"]}");
	assert_int_equal(dec_exact(buf, n), CCP_REJECT_NONE);
	assert_int_equal(ev.n_queues, 256);
	assert_true(str_eq(ev.queues[255], "q255"));
	/* 256 distinct long escaped queue ids fill most of the scratch. */
	n = (size_t)sprintf(buf, "{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"busy\",\"queues\":[");
	for (int i = 0; i < 256; i++) {
		n += (size_t)sprintf(buf + n, "%s\"\\u00e9%03d", i ? "," : "", i);
		memset(buf + n, 'q', 123);
		n += 123;
		buf[n++] = '"';
	}
	/* Repeats of escaped entries take no scratch (else 40 KiB would not fit). */
	for (int i = 0; i < 64; i++) {
		n += (size_t)sprintf(buf + n, ",\"\\u00e9%03d", i);
		memset(buf + n, 'q', 123);
		n += 123;
		buf[n++] = '"';
	}
	n += (size_t)sprintf(buf + n, "]}");
	assert_int_equal(dec_exact(buf, n), CCP_REJECT_NONE);
	assert_int_equal(ev.n_queues, 256);
	assert_int_equal(ev.queues[7].len, 128);
	/* ... and one more distinct one is bad_field. */
	n -= 2;
	n += (size_t)sprintf(buf + n, ",\"z\"]}");
	assert_int_equal(dec_exact(buf, n), CCP_REJECT_BAD_FIELD);
	/* Exactly 1 MiB decodes; the padding is an unknown string field. */
	n = (size_t)sprintf(buf, "{" BASE ",\"type\":\"contact.offered\",\"pad\":\"");
	memset(buf + n, 'p', CCP_EVENT_MAX_BYTES - n - 2);
	buf[CCP_EVENT_MAX_BYTES - 2] = '"';
	buf[CCP_EVENT_MAX_BYTES - 1] = '}';
	assert_int_equal(dec_exact(buf, CCP_EVENT_MAX_BYTES), CCP_REJECT_NONE);
	buf[CCP_EVENT_MAX_BYTES] = ' ';
	assert_int_equal(dec_exact(buf, CCP_EVENT_MAX_BYTES + 1), CCP_REJECT_BAD_JSON);
	/* Depth 64 of objects is fine, 65 is bad_json. */
	for (int depth = 64; depth <= 65; depth++) {
		n = 0;
		for (int i = 0; i < depth - 1; i++)
			n += (size_t)sprintf(buf + n, "{\"k\":");
		n += (size_t)sprintf(buf + n, "{" BASE ",\"type\":\"contact.offered\"}");
		for (int i = 0; i < depth - 1; i++)
			buf[n++] = '}';
		assert_int_equal(dec_exact(buf, n), depth == 64 ? CCP_REJECT_MISSING_FIELD : CCP_REJECT_BAD_JSON);
	}
	/* A 1 MiB run of open brackets stops at depth 65 without recursing on. */
	memset(buf, '[', CCP_EVENT_MAX_BYTES);
	buf[0] = '{';
	assert_int_equal(dec_exact(buf, CCP_EVENT_MAX_BYTES), CCP_REJECT_BAD_JSON);
	free(buf);
}

static void test_future(void **state)
{
	(void)state;
	struct ccp_event e = {.ts_ms = 1000};
	assert_int_equal(ccp_decode_check_future(&e, 0, 1000), CCP_REJECT_NONE);
	assert_int_equal(ccp_decode_check_future(&e, 0, 999), CCP_REJECT_FUTURE_TS);
	assert_int_equal(ccp_decode_check_future(&e, 5000, 0), CCP_REJECT_NONE);
	e.ts_ms = INT64_MAX;
	assert_int_equal(ccp_decode_check_future(&e, INT64_MIN, INT64_MAX), CCP_REJECT_FUTURE_TS);
	assert_int_equal(ccp_decode_check_future(&e, INT64_MAX, INT64_MAX), CCP_REJECT_NONE);
	assert_int_equal(ccp_decode_check_future(&e, -1, INT64_MAX), CCP_REJECT_FUTURE_TS);
	e.ts_ms = 0;
	assert_int_equal(ccp_decode_check_future(&e, INT64_MAX, 0), CCP_REJECT_NONE);
}

/* Every name in event.c's tables decodes to its own index (decode.c keeps
 * its own copy of the names, with lengths). */
static void test_names_match_event_tables(void **state)
{
	(void)state;
	char buf[512];
	for (int t = 0; t < CCP_EV__COUNT; t++) {
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"%s\",\"agent\":\"a\",\"state\":\"busy\",\"promise\":\"p\",\"due\":1,\"csat\":3,\"complaint\":\"k\"}",
			 ccp_event_type_names[t]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.type, t);
	}
	for (int c = 0; c < CCP_CH__COUNT; c++) {
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"contact.offered\",\"channel\":\"%s\"}", ccp_channel_names[c]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.channel, c);
	}
	for (int st = 0; st < CCP_AGENT__COUNT; st++) {
		snprintf(buf, sizeof(buf), "{\"id\":\"e\",\"type\":\"agent.state\",\"ts\":1,\"agent\":\"a\",\"state\":\"%s\"}", ccp_agent_state_names[st]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.state, st);
	}
	for (int k = 0; k < CCP_PROMISE__COUNT; k++) {
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"promise.made\",\"promise\":\"p\",\"due\":1,\"kind\":\"%s\"}", ccp_promise_kind_names[k]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.kind, k);
	}
	for (int i = 0; i < CCP_DIM__COUNT; i++) {
		snprintf(buf, sizeof(buf), "{" BASE ",\"type\":\"survey.submitted\",\"csat\":3,\"%s\":4}", ccp_survey_dim_names[i]);
		assert_int_equal(dec_str(buf), CCP_REJECT_NONE);
		assert_int_equal(ev.dims[i], 4);
	}
	/* A prefix or an extension of a name is no name. */
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offere\"}"), CCP_REJECT_UNKNOWN_TYPE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offeredx\"}"), CCP_REJECT_UNKNOWN_TYPE);
	assert_int_equal(dec_str("{" BASE ",\"type\":\"contact.offered\\u0000\"}"), CCP_REJECT_UNKNOWN_TYPE);
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
		cmocka_unit_test(test_all_optional_fields),
		cmocka_unit_test(test_check_order),
		cmocka_unit_test(test_more_times),
		cmocka_unit_test(test_json_and_utf8),
		cmocka_unit_test(test_duplicates_nulls_slices),
		cmocka_unit_test(test_more_limits),
		cmocka_unit_test(test_future),
		cmocka_unit_test(test_names_match_event_tables),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	free(exact_copy);
	return failed;
}
