/* `ccpulse broker` (see broker_cmd.h). */
#include "broker_cmd.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/broker.h"
#include "cli.h"

#define BROKER_MAX_TOPICS 64
#define BROKER_USAGE \
	"broker [--partitions N] [--topic NAME[:PARTITIONS]]... [--brokers-count N]"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ccpulse " BROKER_USAGE "\n\n"
		"A development Kafka cluster in memory (librdkafka's mock cluster) on\n"
		"127.0.0.1. Prints its bootstrap.servers and runs until SIGINT/SIGTERM.\n\n"
		"  --partitions N          partitions of the default topics and of --topic\n"
		"                          without :PARTITIONS (default 8; 1..%d)\n"
		"  --topic NAME[:P]        one more topic (repeatable); contact-events and\n"
		"                          agent-events are always created\n"
		"  --brokers-count N       number of brokers (default 1; 1..%d)\n",
		CCP_BROKER_MAX_PARTITIONS, CCP_BROKER_MAX_BROKERS);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* "--name V" or "--name=V": the value, advancing *i; NULL if absent. */
static const char *opt_value(const char *name, int argc, char **argv, int *i)
{
	size_t nl = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, nl) != 0)
		return NULL;
	if (a[nl] == '=') {
		(*i)++;
		return a + nl + 1;
	}
	if (a[nl] == '\0' && *i + 1 < argc) {
		*i += 2;
		return argv[*i - 1];
	}
	return NULL;
}

/* One --topic NAME[:P] while parsing (the name copied). */
struct topic_arg {
	char name[256];
	int partitions; /* 0: --partitions */
};

int ccp_broker_cmd(int argc, char **argv)
{
	int partitions = 8, n_brokers = 1;
	struct topic_arg targs[BROKER_MAX_TOPICS];
	int n_targs = 0;
	for (int i = 1; i < argc;) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return CCP_EXIT_OK;
		}
		if ((v = opt_value("--partitions", argc, argv, &i))) {
			if (parse_int(v, 1, CCP_BROKER_MAX_PARTITIONS, &partitions)) {
				fprintf(stderr, "ccpulse broker: --partitions=%s: must be 1..%d\n", v,
					CCP_BROKER_MAX_PARTITIONS);
				return CCP_EXIT_USAGE;
			}
		} else if ((v = opt_value("--brokers-count", argc, argv, &i))) {
			if (parse_int(v, 1, CCP_BROKER_MAX_BROKERS, &n_brokers)) {
				fprintf(stderr, "ccpulse broker: --brokers-count=%s: must be 1..%d\n", v,
					CCP_BROKER_MAX_BROKERS);
				return CCP_EXIT_USAGE;
			}
		} else if ((v = opt_value("--topic", argc, argv, &i))) {
			if (n_targs == BROKER_MAX_TOPICS) {
				fprintf(stderr, "ccpulse broker: more than %d --topic\n", BROKER_MAX_TOPICS);
				return CCP_EXIT_USAGE;
			}
			struct topic_arg *t = &targs[n_targs];
			const char *colon = strrchr(v, ':');
			size_t nl = colon ? (size_t)(colon - v) : strlen(v);
			t->partitions = 0;
			if (nl == 0 || nl >= sizeof(t->name) ||
			    (colon && parse_int(colon + 1, 1, CCP_BROKER_MAX_PARTITIONS, &t->partitions))) {
				fprintf(stderr,
					"ccpulse broker: --topic=%s: want NAME[:PARTITIONS], a name of 1..249 bytes and "
					"1..%d partitions\n",
					v, CCP_BROKER_MAX_PARTITIONS);
				return CCP_EXIT_USAGE;
			}
			memcpy(t->name, v, nl);
			t->name[nl] = '\0';
			n_targs++;
		} else {
			fprintf(stderr, "ccpulse broker: unknown argument %s\nusage: ccpulse " BROKER_USAGE "\n", a);
			return CCP_EXIT_USAGE;
		}
	}
	/* Defaults first; a --topic of the same name replaces its count. */
	struct ccp_broker_topic topics[BROKER_MAX_TOPICS + 2];
	size_t n = 0;
	topics[n++] = (struct ccp_broker_topic){"contact-events", partitions};
	topics[n++] = (struct ccp_broker_topic){"agent-events", partitions};
	for (int t = 0; t < n_targs; t++) {
		int p = targs[t].partitions ? targs[t].partitions : partitions;
		size_t k = 0;
		while (k < n && strcmp(topics[k].name, targs[t].name))
			k++;
		topics[k] = (struct ccp_broker_topic){targs[t].name, p};
		if (k == n)
			n++;
	}

	/* Block the stop signals before the cluster's threads exist, so they
	 * inherit the block and the signals wait for sigwait below. */
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	char err[512];
	struct ccp_broker *b = ccp_broker_start(n_brokers, topics, n, err, sizeof(err));
	if (!b) {
		fprintf(stderr, "ccpulse %s\n", err);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return CCP_EXIT_ERROR;
	}
	printf("ccpulse broker: bootstrap.servers=%s\n", ccp_broker_bootstrap(b));
	for (size_t k = 0; k < n; k++)
		printf("ccpulse broker: topic %s partitions=%d\n", topics[k].name, topics[k].partitions);
	fflush(stdout);
	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
	fprintf(stderr, "ccpulse broker: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	ccp_broker_stop(b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return CCP_EXIT_OK;
}
