/* `ccpulse sim`: arguments -> struct ccp_sim_config, then the run loop:
 * pull events from the model in timestamp order, wait for their time when
 * paced (clock_nanosleep on CLOCK_MONOTONIC, absolute deadlines, so the
 * pace does not drift), and write NDJSON or produce to Kafka.
 *
 * Kafka: one producer, two topic handles made once; librdkafka copies each
 * value (our line buffer is reused). linger/batch settings favour
 * throughput; with idempotence on, retries keep each key's order. When the
 * local queue is full we poll (serving delivery reports, which frees
 * room) and retry, so nothing is dropped; the run ends with a flush.
 */
#include "sim_cmd.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "ccpulse/erlang.h"
#include "ccpulse/log.h"

#define CMD "ccpulse sim"
#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define POLL_EVERY 1024       /* produce calls between delivery-report polls */
#define PACE_SLICE_NS 100000000LL /* longest single sleep: stop stays responsive */
#define FLUSH_TIMEOUT_MS 30000

static const char usage[] =
	"usage: ccpulse sim [--queue NAME:CALLS_PER_HOUR:AHT_S:AGENTS:PATIENCE_S]... [--curve day|flat]\n"
	"                   [--hours H] [--start EPOCH_MS|RFC3339] [--seed N] [--out ndjson|kafka|none]\n"
	"                   [--file PATH|-] [--speed X|max] [--brokers HOST:PORT] [--topic T]\n"
	"                   [--agent-topic T] [--kafka KEY=VALUE]... [--events N] [--erlang]\n"
	"                   [--sl-threshold S]\n";

static const char help_text[] =
	"Realistic contact-center traffic (shared/contract/events.md), deterministic for a seed.\n\n"
	"  --queue Q        a queue: name, calls per hour at the curve's peak, mean handle time (s),\n"
	"                   agents at the peak, mean patience (s, or inf: never abandons); repeatable.\n"
	"                   Default: billing, tech_support, sales, retention, chat_support.\n"
	"  --curve C        day (quiet nights, peaks 10:00 and 14:00 UTC; agents follow) or flat. Default day\n"
	"  --hours H        simulated hours. Default 24\n"
	"  --start T        first instant, epoch ms or RFC 3339. Default now\n"
	"  --seed N         PRNG seed. Default 1\n"
	"  --out O          ndjson (default), kafka, or none (model only)\n"
	"  --file F         NDJSON destination, - for stdout (default)\n"
	"  --speed S        max (default): as fast as possible; X: X times real time\n"
	"  --brokers B      Kafka bootstrap servers. Default localhost:9092\n"
	"  --topic T        contact, promise, survey, complaint events (key: queue). Default contact-events\n"
	"  --agent-topic T  agent.state events (key: agent). Default agent-events\n"
	"  --kafka K=V      any librdkafka producer setting (TLS, SASL, ...); repeatable\n"
	"  --events N       stop after N events\n"
	"  --erlang         at the end, print per queue Erlang C for AGENTS and AGENTS+1 beside the\n"
	"                   simulated figures (stdout with --out none, else stderr)\n"
	"  --sl-threshold S service level threshold for --erlang, s. Default 20\n";

/* The stop flag the signal handler sets: the one mutable global allowed.
 * An atomic_int (lock-free on every target we build for) rather than a
 * volatile sig_atomic_t, so a thread that runs ccp_sim_run may share it. */
static atomic_int sim_stop;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag must be lock-free to be set in a signal handler");

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&sim_stop, 1, memory_order_relaxed); /* only a flag; nothing else is published */
}

static bool stopped(const struct ccp_sim_run_opts *o)
{
	return o->stop && atomic_load_explicit(o->stop, memory_order_relaxed);
}

/* ---- time ------------------------------------------------------------------ */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Epoch ms, or RFC 3339 YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool parse_time(const char *s, int64_t *out_ms)
{
	char *end;
	if (s[0] >= '0' && s[0] <= '9' && !strchr(s, '-')) {
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || *end)
			return false;
		*out_ms = v;
		return true;
	}
	int y, mo, d, h, mi, se;
	size_t n = strlen(s);
	if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	const char *p = s + 19;
	int64_t frac_ms = 0;
	if (*p == '.') {
		p++;
		int k = 0;
		while (*p >= '0' && *p <= '9') {
			if (k < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			k++;
			p++;
		}
		if (k == 0)
			return false;
		for (; k < 3; k++)
			frac_ms *= 10;
	}
	int64_t off_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		off_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_s;
	*out_ms = secs * 1000 + frac_ms;
	return *out_ms >= 0;
}

/* ---- arguments ------------------------------------------------------------- */

/* Parsed command line. Owner: ccp_sim_cmd. */
struct sim_args {
	struct ccp_sim_config cfg;
	struct ccp_sim_run_opts run;
	const char *file;
	bool queues_given, erlang, start_given;
	double sl_threshold_s;
};

static bool parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!(*s >= '0' && *s <= '9'))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* NAME:CALLS_PER_HOUR:AHT_S:AGENTS:PATIENCE_S */
static int parse_queue(const char *arg, struct ccp_sim_queue_spec *q)
{
	char buf[256];
	if (strlen(arg) >= sizeof(buf)) {
		fprintf(stderr, CMD ": --queue \"%.40s...\": too long\n", arg);
		return -1;
	}
	strcpy(buf, arg);
	char *parts[5];
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ":", &save); t && n < 6; t = strtok_r(NULL, ":", &save)) {
		if (n == 5) {
			n++;
			break;
		}
		parts[n++] = t;
	}
	if (n != 5) {
		fprintf(stderr, CMD ": --queue \"%s\": want NAME:CALLS_PER_HOUR:AHT_S:AGENTS:PATIENCE_S\n", arg);
		return -1;
	}
	memset(q, 0, sizeof(*q));
	if (strlen(parts[0]) > CCP_SIM_QUEUE_NAME_MAX) {
		fprintf(stderr, CMD ": --queue \"%s\": name longer than %d bytes\n", arg, CCP_SIM_QUEUE_NAME_MAX);
		return -1;
	}
	strcpy(q->name, parts[0]);
	uint64_t agents;
	if (!parse_double(parts[1], &q->calls_per_hour)) {
		fprintf(stderr, CMD ": --queue \"%s\": CALLS_PER_HOUR \"%s\" is not a number\n", arg, parts[1]);
		return -1;
	}
	if (!parse_double(parts[2], &q->aht_s)) {
		fprintf(stderr, CMD ": --queue \"%s\": AHT_S \"%s\" is not a number\n", arg, parts[2]);
		return -1;
	}
	if (!parse_u64(parts[3], &agents) || agents > CCP_SIM_MAX_AGENTS_PER_QUEUE) {
		fprintf(stderr, CMD ": --queue \"%s\": AGENTS \"%s\" is not an integer 1..%d\n", arg, parts[3],
			CCP_SIM_MAX_AGENTS_PER_QUEUE);
		return -1;
	}
	q->agents = (int)agents;
	if (!strcmp(parts[4], "inf")) {
		q->patience_s = INFINITY;
	} else if (!parse_double(parts[4], &q->patience_s)) {
		fprintf(stderr, CMD ": --queue \"%s\": PATIENCE_S \"%s\" is not a number or inf\n", arg, parts[4]);
		return -1;
	}
	ccp_sim_channel_mix_for(q->name, q->channel_share);
	return 0;
}

/* The value of "--x V" or "--x=V" at argv[*i]; advances *i. */
static const char *value(int argc, char **argv, int *i)
{
	const char *a = argv[*i], *eq = strchr(a, '=');
	if (eq) {
		(*i)++;
		return eq + 1;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, CMD ": %s needs a value\n", a);
		return NULL;
	}
	*i += 2;
	return argv[*i - 1];
}

static bool is_opt(const char *a, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(a, name, n) && (a[n] == 0 || a[n] == '=');
}

/* Returns 0, EXIT_USAGE, or -1 when help was printed. */
static int parse_args(int argc, char **argv, struct sim_args *a)
{
	memset(a, 0, sizeof(*a));
	ccp_sim_config_default(&a->cfg);
	a->cfg.duration_ms = 24 * 3600000LL;
	a->cfg.n_queues = 0;
	a->run.out = CCP_SIM_OUT_NDJSON;
	a->run.brokers = "localhost:9092";
	a->run.topic = "contact-events";
	a->run.agent_topic = "agent-events";
	a->file = "-";
	a->sl_threshold_s = 20;
	for (int i = 1; i < argc;) {
		const char *o = argv[i], *v;
		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			printf("%s\n%s", usage, help_text);
			return -1;
		}
		if (!strcmp(o, "--erlang")) {
			a->erlang = true;
			i++;
			continue;
		}
		static const char *const with_value[] = {
			"--queue", "--curve", "--hours", "--start", "--seed", "--out", "--file", "--speed",
			"--brokers", "--topic", "--agent-topic", "--kafka", "--events", "--sl-threshold",
		};
		const char *name = NULL;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (is_opt(o, with_value[k]))
				name = with_value[k];
		if (!name) {
			fprintf(stderr, CMD ": unknown argument \"%s\"\n", o);
			return EXIT_USAGE;
		}
		if (!(v = value(argc, argv, &i)))
			return EXIT_USAGE;
		double d;
		if (!strcmp(name, "--queue")) {
			if (a->cfg.n_queues == CCP_SIM_MAX_QUEUES) {
				fprintf(stderr, CMD ": more than %d --queue\n", CCP_SIM_MAX_QUEUES);
				return EXIT_USAGE;
			}
			if (parse_queue(v, &a->cfg.queues[a->cfg.n_queues]))
				return EXIT_USAGE;
			a->cfg.n_queues++;
			a->queues_given = true;
		} else if (!strcmp(name, "--curve")) {
			if (!strcmp(v, "day")) {
				a->cfg.curve = CCP_SIM_CURVE_DAY;
			} else if (!strcmp(v, "flat")) {
				a->cfg.curve = CCP_SIM_CURVE_FLAT;
			} else {
				fprintf(stderr, CMD ": --curve \"%s\": want day or flat\n", v);
				return EXIT_USAGE;
			}
		} else if (!strcmp(name, "--hours")) {
			if (!parse_double(v, &d) || !(d > 0) || d > 24 * 3660) {
				fprintf(stderr, CMD ": --hours \"%s\": want a number in (0, 87840]\n", v);
				return EXIT_USAGE;
			}
			a->cfg.duration_ms = llround(d * 3600000.0);
		} else if (!strcmp(name, "--start")) {
			if (!parse_time(v, &a->cfg.start_ms)) {
				fprintf(stderr, CMD ": --start \"%s\": want epoch ms or RFC 3339 (2026-11-22T09:00:00Z)\n", v);
				return EXIT_USAGE;
			}
			a->start_given = true;
		} else if (!strcmp(name, "--seed")) {
			if (!parse_u64(v, &a->cfg.seed)) {
				fprintf(stderr, CMD ": --seed \"%s\": want an unsigned integer\n", v);
				return EXIT_USAGE;
			}
		} else if (!strcmp(name, "--out")) {
			if (!strcmp(v, "ndjson")) {
				a->run.out = CCP_SIM_OUT_NDJSON;
			} else if (!strcmp(v, "kafka")) {
				a->run.out = CCP_SIM_OUT_KAFKA;
			} else if (!strcmp(v, "none")) {
				a->run.out = CCP_SIM_OUT_NONE;
			} else {
				fprintf(stderr, CMD ": --out \"%s\": want ndjson, kafka or none\n", v);
				return EXIT_USAGE;
			}
		} else if (!strcmp(name, "--file")) {
			a->file = v;
		} else if (!strcmp(name, "--speed")) {
			if (!strcmp(v, "max")) {
				a->run.speed = 0;
			} else if (!parse_double(v, &d) || !(d > 0) || d > 1e9) {
				fprintf(stderr, CMD ": --speed \"%s\": want max or a number > 0\n", v);
				return EXIT_USAGE;
			} else {
				a->run.speed = d;
			}
		} else if (!strcmp(name, "--brokers")) {
			a->run.brokers = v;
		} else if (!strcmp(name, "--topic")) {
			a->run.topic = v;
		} else if (!strcmp(name, "--agent-topic")) {
			a->run.agent_topic = v;
		} else if (!strcmp(name, "--kafka")) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v || a->run.n_kafka_props == CCP_SIM_MAX_KAFKA_PROPS) {
				fprintf(stderr, CMD ": --kafka \"%s\": want KEY=VALUE (at most %d)\n", v,
					CCP_SIM_MAX_KAFKA_PROPS);
				return EXIT_USAGE;
			}
			/* Split in place: argv strings are ours to modify. */
			char *kv = (char *)v;
			kv[eq - v] = 0;
			a->run.kafka_props[a->run.n_kafka_props][0] = kv;
			a->run.kafka_props[a->run.n_kafka_props][1] = eq + 1;
			a->run.n_kafka_props++;
		} else if (!strcmp(name, "--events")) {
			if (!parse_u64(v, &a->run.max_events) || a->run.max_events == 0) {
				fprintf(stderr, CMD ": --events \"%s\": want an integer > 0\n", v);
				return EXIT_USAGE;
			}
		} else if (!strcmp(name, "--sl-threshold")) {
			if (!parse_double(v, &d) || d < 0 || d > 86400) {
				fprintf(stderr, CMD ": --sl-threshold \"%s\": want seconds in [0, 86400]\n", v);
				return EXIT_USAGE;
			}
			a->sl_threshold_s = d;
		}
	}
	if (!a->queues_given) {
		struct ccp_sim_config def;
		ccp_sim_config_default(&def);
		memcpy(a->cfg.queues, def.queues, sizeof(def.queues));
		a->cfg.n_queues = def.n_queues;
	}
	if (!a->start_given)
		a->cfg.start_ms = ccp_log_wall_ms();
	return 0;
}

/* ---- Kafka ------------------------------------------------------------------ */

/* Delivery counters. Owner: the run; written by delivery callbacks, which
 * run inside rd_kafka_poll/flush on the run's own thread. */
struct kafka_out {
	rd_kafka_t *rk;
	rd_kafka_topic_t *contact_rkt, *agent_rkt;
	struct ccp_sim_run_result *r;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct kafka_out *k = opaque;
	if (m->err) {
		if (!k->r->failed)
			snprintf(k->r->first_error, sizeof(k->r->first_error), "delivery: %s",
				 rd_kafka_err2str(m->err));
		k->r->failed++;
	} else {
		k->r->delivered++;
	}
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errlen)
{
	char e[256];
	if (rd_kafka_conf_set(conf, key, val, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "kafka setting %s=%s: %s", key, val, e);
		return -EINVAL;
	}
	return 0;
}

static int kafka_open(struct kafka_out *k, const struct ccp_sim_run_opts *o, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	/* Throughput: batches of up to 10k messages, lz4, a short linger
	 * (longer when running flat out, when latency does not matter); a
	 * deep local queue so the sim rarely waits; idempotence keeps each
	 * key's order across retries. */
	const char *defaults[][2] = {
		{"bootstrap.servers", o->brokers},
		{"linger.ms", o->speed > 0 ? "5" : "50"},
		{"batch.num.messages", "10000"},
		{"queue.buffering.max.messages", "500000"},
		{"queue.buffering.max.kbytes", "1048576"},
		{"compression.codec", "lz4"},
		{"enable.idempotence", "true"},
		{"partitioner", "murmur2_random"}, /* what Java clients pick for a key */
	};
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof(defaults) / sizeof(defaults[0]); i++)
		rc = conf_set(conf, defaults[i][0], defaults[i][1], err, errlen);
	for (int i = 0; !rc && i < o->n_kafka_props; i++)
		rc = conf_set(conf, o->kafka_props[i][0], o->kafka_props[i][1], err, errlen);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, k);
	char e[512];
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!k->rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "kafka producer: %s", e);
		return -EINVAL;
	}
	/* conf is now owned, and freed, by k->rk. */
	k->contact_rkt = rd_kafka_topic_new(k->rk, o->topic, NULL);
	k->agent_rkt = rd_kafka_topic_new(k->rk, o->agent_topic, NULL);
	if (!k->contact_rkt || !k->agent_rkt) {
		snprintf(err, errlen, "kafka topics %s, %s: %s", o->topic, o->agent_topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		return -EINVAL;
	}
	return 0;
}

static void kafka_close(struct kafka_out *k, const struct ccp_sim_run_opts *o)
{
	if (!k->rk)
		return;
	/* Flush in slices so a second signal is not needed to see progress;
	 * give up after FLUSH_TIMEOUT_MS (counted as failed below). */
	int64_t deadline = mono_ns() + FLUSH_TIMEOUT_MS * 1000000LL;
	while (rd_kafka_outq_len(k->rk) > 0 && mono_ns() < deadline)
		rd_kafka_flush(k->rk, 100);
	(void)o;
	int left = rd_kafka_outq_len(k->rk);
	if (left > 0) {
		if (!k->r->failed && !k->r->first_error[0])
			snprintf(k->r->first_error, sizeof(k->r->first_error),
				 "%d messages still undelivered after %d ms flush", left, FLUSH_TIMEOUT_MS);
	}
	if (k->contact_rkt)
		rd_kafka_topic_destroy(k->contact_rkt);
	if (k->agent_rkt)
		rd_kafka_topic_destroy(k->agent_rkt);
	rd_kafka_destroy(k->rk);
	k->rk = NULL;
}

/* Produces one message, waiting out a full local queue. Returns 0, 1 when
 * stopped while waiting, or a negative code. */
static int kafka_produce(struct kafka_out *k, const struct ccp_sim_run_opts *o, bool agent, const char *key,
			 size_t klen, const char *val, size_t vlen, char *err, size_t errlen)
{
	rd_kafka_topic_t *rkt = agent ? k->agent_rkt : k->contact_rkt;
	for (;;) {
		if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)val, vlen, key, klen,
				     NULL) == 0) {
			k->r->produced++;
			return 0;
		}
		rd_kafka_resp_err_t e = rd_kafka_last_error();
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			snprintf(err, errlen, "produce to %s: %s", agent ? o->agent_topic : o->topic,
				 rd_kafka_err2str(e));
			return -EIO;
		}
		/* Full: serve delivery reports until there is room. */
		rd_kafka_poll(k->rk, 100);
		if (stopped(o))
			return 1;
	}
}

/* ---- the run ---------------------------------------------------------------- */

/* Sleeps until monotonic `deadline_ns`, in slices, polling Kafka and
 * checking the stop flag. Returns false if stopped. */
static bool pace_until(int64_t deadline_ns, const struct ccp_sim_run_opts *o, struct kafka_out *k)
{
	for (;;) {
		if (stopped(o))
			return false;
		int64_t now = mono_ns();
		if (now >= deadline_ns)
			return true;
		if (k->rk)
			rd_kafka_poll(k->rk, 0);
		int64_t until = deadline_ns - now > PACE_SLICE_NS ? now + PACE_SLICE_NS : deadline_ns;
		struct timespec ts = {until / 1000000000LL, until % 1000000000LL};
		/* EINTR (a signal) just loops back to the flag check. */
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

int ccp_sim_run(struct ccp_sim *s, const struct ccp_sim_run_opts *o, struct ccp_sim_run_result *r, char *err,
		size_t errlen)
{
	memset(r, 0, sizeof(*r));
	struct kafka_out k = {.r = r};
	int rc = 0;
	if (o->out == CCP_SIM_OUT_KAFKA && (rc = kafka_open(&k, o, err, errlen)) < 0) {
		kafka_close(&k, o);
		return rc;
	}
	char line[CCP_SIM_EVENT_MAX_BYTES], key[CCP_SIM_KEY_MAX_BYTES];
	int64_t start_ms = ccp_sim_config(s)->start_ms;
	int64_t t0 = mono_ns();
	struct ccp_sim_event ev;
	while (!stopped(o) && (!o->max_events || r->events < o->max_events)) {
		int n = ccp_sim_next(s, &ev);
		if (n < 0) {
			snprintf(err, errlen, "simulation: %s", strerror(-n));
			rc = n;
			break;
		}
		if (n == 0)
			break;
		if (o->speed > 0) {
			int64_t due_ns = t0 + (int64_t)((double)(ev.ts_ms - start_ms) * 1e6 / o->speed);
			if (mono_ns() < due_ns) {
				if (o->out == CCP_SIM_OUT_NDJSON)
					fflush(o->file); /* readers see events when they happen */
				if (!pace_until(due_ns, o, &k))
					break;
			}
		}
		bool agent = ev.type == CCP_EV_AGENT_STATE;
		r->events++;
		r->agent_events += agent;
		r->contact_events += !agent;
		if (o->out == CCP_SIM_OUT_NONE)
			continue;
		size_t len = ccp_sim_format(s, &ev, line, sizeof(line));
		if (o->out == CCP_SIM_OUT_NDJSON) {
			if (fwrite(line, 1, len, o->file) != len) {
				snprintf(err, errlen, "writing events: %s", strerror(errno));
				rc = -EIO;
				break;
			}
			continue;
		}
		size_t klen = ccp_sim_key(s, &ev, key, sizeof(key));
		/* The value without its newline: one JSON object per message. */
		int p = kafka_produce(&k, o, agent, key, klen, line, len - 1, err, errlen);
		if (p < 0) {
			rc = p;
			break;
		}
		if (p > 0)
			break;
		if (r->produced % POLL_EVERY == 0)
			rd_kafka_poll(k.rk, 0);
	}
	if (o->out == CCP_SIM_OUT_NDJSON && fflush(o->file) != 0 && rc == 0) {
		snprintf(err, errlen, "writing events: %s", strerror(errno));
		rc = -EIO;
	}
	kafka_close(&k, o);
	r->elapsed_s = (double)(mono_ns() - t0) / 1e9;
	if (rc == 0 && o->out == CCP_SIM_OUT_KAFKA && (r->failed || r->delivered != r->produced)) {
		snprintf(err, errlen, "kafka: %llu of %llu messages not delivered (%s)",
			 (unsigned long long)(r->produced - r->delivered), (unsigned long long)r->produced,
			 r->first_error[0] ? r->first_error : "flush timed out");
		rc = -EIO;
	}
	return rc;
}

/* ---- Erlang comparison -------------------------------------------------------- */

static void fmt_pct(char *b, size_t n, double v)
{
	if (isnan(v))
		snprintf(b, n, "%7s", "-");
	else
		snprintf(b, n, "%6.1f%%", 100.0 * v);
}

static void fmt_s(char *b, size_t n, double v)
{
	if (isnan(v))
		snprintf(b, n, "%8s", "-");
	else if (isinf(v))
		snprintf(b, n, "%8s", "inf");
	else
		snprintf(b, n, "%8.1f", v);
}

void ccp_sim_print_erlang(const struct ccp_sim *s, double sl_threshold_s, FILE *f)
{
	const struct ccp_sim_config *c = ccp_sim_config(s);
	fprintf(f, "Erlang C (M/M/c: flat rate CALLS_PER_HOUR, AGENTS all day, no abandonment) beside the "
		   "simulation (%s curve%s);\nSL = answered within %.0f s / answered; P(wait) = answered after "
		   "a wait / answered.\n",
		c->curve == CCP_SIM_CURVE_DAY ? "day" : "flat",
		c->curve == CCP_SIM_CURVE_DAY ? ": rates and staffing follow it, so compare with care" : "",
		sl_threshold_s);
	fprintf(f, "%-16s %7s %6s %4s %6s | %-26s | %-26s | %-32s\n", "queue", "calls/h", "aht_s", "agts", "erl",
		"     Erlang C, AGENTS", "   Erlang C, AGENTS + 1", "      simulated (abandoned)");
	fprintf(f, "%-16s %7s %6s %4s %6s | %7s %8s %9s | %7s %8s %9s | %7s %8s %9s %6s\n", "", "", "", "", "",
		"P(wait)", "SL", "ASA_s", "P(wait)", "SL", "ASA_s", "P(wait)", "SL", "ASA_s", "aband");
	for (int q = 0; q < c->n_queues; q++) {
		const struct ccp_sim_queue_spec *sp = &c->queues[q];
		struct ccp_erlang e0, e1;
		ccp_erlang_predict(sp->calls_per_hour, sp->aht_s, sp->agents, sl_threshold_s, &e0);
		ccp_erlang_predict(sp->calls_per_hour, sp->aht_s, sp->agents + 1, sl_threshold_s, &e1);
		struct ccp_sim_queue_stats st;
		ccp_sim_stats(s, q, &st);
		double ans = (double)st.answered;
		double pw = ans ? st.answered_waited / ans : NAN, sl = ans ? st.answered_in_sl / ans : NAN;
		double asa = ans ? st.wait_sum_ms / ans / 1000.0 : NAN;
		double ab = st.answered + st.abandoned ? (double)st.abandoned / (double)(st.answered + st.abandoned)
						       : NAN;
		char b[12][24];
		fmt_pct(b[0], sizeof(b[0]), e0.p_wait);
		fmt_pct(b[1], sizeof(b[1]), e0.sl);
		fmt_s(b[2], sizeof(b[2]), e0.asa_s);
		fmt_pct(b[3], sizeof(b[3]), e1.p_wait);
		fmt_pct(b[4], sizeof(b[4]), e1.sl);
		fmt_s(b[5], sizeof(b[5]), e1.asa_s);
		fmt_pct(b[6], sizeof(b[6]), pw);
		fmt_pct(b[7], sizeof(b[7]), sl);
		fmt_s(b[8], sizeof(b[8]), asa);
		fmt_pct(b[9], sizeof(b[9]), ab);
		fprintf(f, "%-16s %7.0f %6.0f %4d %6.1f | %7s %8s %9s | %7s %8s %9s | %7s %8s %9s %6s\n", sp->name,
			sp->calls_per_hour, sp->aht_s, sp->agents, e0.traffic_erl, b[0], b[1], b[2], b[3], b[4], b[5],
			b[6], b[7], b[8], b[9]);
	}
}

/* ---- command ----------------------------------------------------------------- */

int ccp_sim_cmd(int argc, char **argv)
{
	struct sim_args *a = malloc(sizeof(*a));
	if (!a) {
		fprintf(stderr, CMD ": out of memory\n");
		return EXIT_ERROR;
	}
	int rc = parse_args(argc, argv, a);
	if (rc) {
		if (rc == EXIT_USAGE)
			fputs(usage, stderr);
		free(a);
		return rc < 0 ? EXIT_OK : rc;
	}
	char err[512];
	struct ccp_sim *s = NULL;
	if (ccp_sim_new(&a->cfg, llround(a->sl_threshold_s * 1000.0), &s, err, sizeof(err)) < 0) {
		fprintf(stderr, CMD ": %s\n", err);
		free(a);
		return EXIT_USAGE;
	}
	FILE *out = NULL;
	rc = EXIT_OK;
	if (a->run.out == CCP_SIM_OUT_NDJSON) {
		out = strcmp(a->file, "-") ? fopen(a->file, "w") : stdout;
		if (!out) {
			fprintf(stderr, CMD ": %s: %s\n", a->file, strerror(errno));
			rc = EXIT_ERROR;
			goto done;
		}
		a->run.file = out;
		setvbuf(out, NULL, _IOFBF, 1 << 20);
	}
	atomic_store_explicit(&sim_stop, 0, memory_order_relaxed);
	a->run.stop = &sim_stop;
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a sleep returns at once */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	struct ccp_sim_run_result r;
	if (ccp_sim_run(s, &a->run, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, CMD ": %s\n", err);
		rc = EXIT_ERROR;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);

	fprintf(stderr, CMD ": %llu events (%llu contact, %llu agent) in %.2f s (%.0f/s)%s\n",
		(unsigned long long)r.events, (unsigned long long)r.contact_events,
		(unsigned long long)r.agent_events, r.elapsed_s, r.elapsed_s > 0 ? r.events / r.elapsed_s : 0.0,
		atomic_load_explicit(&sim_stop, memory_order_relaxed) ? ", stopped by signal" : "");
	if (a->run.out == CCP_SIM_OUT_KAFKA)
		fprintf(stderr, CMD ": kafka: produced %llu, delivered %llu, failed %llu%s%s\n",
			(unsigned long long)r.produced, (unsigned long long)r.delivered,
			(unsigned long long)r.failed, r.first_error[0] ? "; first error: " : "", r.first_error);
	if (a->erlang)
		ccp_sim_print_erlang(s, a->sl_threshold_s, a->run.out == CCP_SIM_OUT_NONE ? stdout : stderr);
done:
	if (out && out != stdout && fclose(out) != 0 && rc == EXIT_OK) {
		fprintf(stderr, CMD ": %s: %s\n", a->file, strerror(errno));
		rc = EXIT_ERROR;
	}
	ccp_sim_free(s);
	free(a);
	return rc;
}
