/* `ccpulse demo`: the whole live system in one process and one command.
 *
 * Parts, started in this order and stopped in reverse:
 * 1. the in-process mock Kafka cluster (broker.h) with the contact topic
 *    (8 partitions) and the agent topic;
 * 2. a private redis-server on a free loopback port, started here and
 *    stopped by its PID at exit (unless a Redis URL was given with
 *    --redis, CCPULSE_REDIS_URL or the config file);
 * 3. the simulator (sim.h) on its own thread, producing the default
 *    center's traffic to Kafka at real-time pace from now;
 * 4. the pipeline (pipeline.h) on this thread until SIGINT/SIGTERM.
 */
#include "demo_cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccpulse/broker.h"
#include "ccpulse/config.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"
#include "ccpulse/redis_child.h"
#include "ccpulse/sim.h"
#include "cli.h"
#include "run_cmd.h"
#include "sim_cmd.h"

#define DEMO_USAGE "demo [--hours H] [--seed N] [--redis URL] [--http ADDR] [-c FILE] [FLAGS]"
#define DEMO_PARTITIONS 8

/* What the demo's own arguments set. Owner: ccp_demo_cmd's frame. */
struct demo_args {
	double hours;
	uint64_t seed;
	bool redis_given;
};

static int demo_arg(void *ud, int argc, char **argv, int *i)
{
	struct demo_args *a = ud;
	const char *o = argv[*i];
	bool hours = !strncmp(o, "--hours", 7), seed = !strncmp(o, "--seed", 6);
	if (!hours && !seed) {
		fprintf(stderr, "ccpulse demo: unknown argument \"%s\"\n", o);
		return -1;
	}
	const char *v = ccp_cli_value("demo", argc, argv, i);
	if (!v)
		return -1;
	char *end;
	if (hours) {
		a->hours = strtod(v, &end);
		if (*end || !(a->hours > 0 && a->hours <= 24 * 365)) {
			fprintf(stderr, "ccpulse demo: --hours \"%s\": want a number of hours > 0\n", v);
			return -1;
		}
	} else {
		a->seed = strtoull(v, &end, 10);
		if (*end || !*v) {
			fprintf(stderr, "ccpulse demo: --seed \"%s\": want an integer\n", v);
			return -1;
		}
	}
	return 0;
}

/* The simulator's thread. Owner: ccp_demo_cmd; `stop` is set by main. */
struct sim_thread {
	struct ccp_sim *sim;
	struct ccp_sim_run_opts run;
	struct ccp_sim_run_result result;
	atomic_int stop;
	pthread_t t;
	int rc;
	char err[256];
};

static void *sim_main(void *arg)
{
	struct sim_thread *s = arg;
	/* Signals belong to the loop thread (the pipeline's handlers). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	s->rc = ccp_sim_run(s->sim, &s->run, &s->result, s->err, sizeof(s->err));
	return NULL;
}

static void print_guide(const struct ccp_config *c, int redis_port, const struct ccp_sim_config *sc)
{
	char cli[64];
	if (redis_port > 0)
		snprintf(cli, sizeof(cli), "redis-cli -p %d", redis_port);
	else
		snprintf(cli, sizeof(cli), "redis-cli -u '%s'", "<your --redis URL>");
	size_t al = strlen(c->http_addr);
	bool port0 = al >= 2 && !strcmp(c->http_addr + al - 2, ":0");
	printf("\nccpulse demo is running: simulated calls -> Kafka (in process, %s) -> ccpulse -> Redis.\n"
	       "Figures refresh every %lld ms. Look at them with:\n\n"
	       "  %s SMEMBERS %s:queues\n"
	       "  %s HGETALL %s:q:%s:5m        # one queue, last 5 minutes\n"
	       "  %s HGETALL %s:q:%s:live      # waiting now, longest wait, agents\n"
	       "  %s HGETALL %s:total:15m      # the whole center\n"
	       "  %s ZRANGE %s:promises:overdue 0 -1 WITHSCORES\n"
	       "  %s XREVRANGE %s:minutes + - COUNT 3\n"
	       "  %s SUBSCRIBE %s:updates\n"
	       "  curl http://%s/metrics      # health: /healthz /readyz\n\n"
	       "Wallboard: http://%s/  (a TV in a browser; ?queues=a,b for a team, ?window=1h)\n"
	       "           JSON: /api/queues, live: /api/stream%s\n\n"
	       "Kafka for kcat: -b %s (topics %s, %s). Ctrl-C stops everything.\n\n",
	       c->brokers, (long long)c->publish_interval_ms, cli, c->prefix, cli, c->prefix, sc->queues[0].name, cli,
	       c->prefix, sc->queues[0].name, cli, c->prefix, cli, c->prefix, cli, c->prefix, cli, c->prefix,
	       c->http_addr, c->http_addr, port0 ? "  (port 0: the log line 'http: listening on port' has it)" : "",
	       c->brokers, c->topic, c->agent_topic);
	fflush(stdout);
}

int ccp_demo_cmd(int argc, char **argv)
{
	struct demo_args a = {.hours = 24, .seed = 1};
	/* A Redis given anywhere (flag, env, file) is used instead of a
	 * private one; the flag and env are visible before parsing. */
	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], "--redis", 7))
			a.redis_given = true;
	if (getenv("CCPULSE_REDIS_URL"))
		a.redis_given = true;
	int rc;
	struct ccp_config *c = ccp_cli_config_new(DEMO_USAGE, argc, argv, demo_arg, &a, &rc);
	if (!c)
		return rc;
	struct ccp_log log;
	ccp_log_from_config(&log, c);
	char err[512];
	struct ccp_broker *broker = NULL;
	pid_t redis_pid = -1;
	int redis_port = -1;
	struct sim_thread st = {0};
	struct ccp_pipeline *p = NULL;
	bool sim_started = false;

	struct ccp_broker_topic topics[] = {{c->topic, DEMO_PARTITIONS}, {c->agent_topic, 1}};
	broker = ccp_broker_start(1, topics, 2, err, sizeof(err));
	if (!broker)
		goto fail;
	snprintf(c->brokers, sizeof(c->brokers), "%s", ccp_broker_bootstrap(broker));
	if (!a.redis_given) {
		redis_port = ccp_redis_child_free_port();
		if (redis_port < 0) {
			snprintf(err, sizeof(err), "no free loopback port for redis-server");
			goto fail;
		}
		redis_pid = ccp_redis_child_start(redis_port, err, sizeof(err));
		if (redis_pid < 0)
			goto fail;
		char url[64];
		snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
		if (ccp_config_set(c, "redis.url", url, err, sizeof(err)))
			goto fail;
	}

	struct ccp_sim_config sc;
	ccp_sim_config_default(&sc);
	sc.seed = a.seed;
	sc.start_ms = ccp_log_wall_ms();
	sc.duration_ms = (int64_t)(a.hours * 3600000.0);
	sc.curve = CCP_SIM_CURVE_FLAT; /* a demo at night should still be busy */
	if (ccp_sim_new(&sc, c->engine.sl_threshold_ms[CCP_CH_VOICE], &st.sim, err, sizeof(err)))
		goto fail;
	st.run = (struct ccp_sim_run_opts){.out = CCP_SIM_OUT_KAFKA,
					   .brokers = c->brokers,
					   .topic = c->topic,
					   .agent_topic = c->agent_topic,
					   .speed = 1.0,
					   .stop = &st.stop};
	struct ccp_pipeline_opts po = {.cfg = c, .log = &log, .handle_signals = true};
	p = ccp_pipeline_new(&po, err, sizeof(err));
	if (!p)
		goto fail;
	if (pthread_create(&st.t, NULL, sim_main, &st)) {
		snprintf(err, sizeof(err), "cannot start the simulator thread");
		goto fail;
	}
	sim_started = true;
	print_guide(c, redis_port, &sc);
	if (ccp_pipeline_run(p, err, sizeof(err)))
		goto fail;
	rc = CCP_EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "ccpulse demo: %s\n", err);
	rc = CCP_EXIT_ERROR;
out:
	if (sim_started) {
		atomic_store(&st.stop, 1);
		pthread_join(st.t, NULL);
		if (st.rc < 0)
			fprintf(stderr, "ccpulse demo: simulator: %s\n", st.err);
	}
	ccp_pipeline_free(p);
	ccp_sim_free(st.sim);
	ccp_broker_stop(broker);
	ccp_redis_child_stop(redis_pid);
	ccp_cli_config_free(c);
	return rc;
}
