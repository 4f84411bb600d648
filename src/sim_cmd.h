/* `ccpulse sim`: argument parsing, pacing and outputs (NDJSON or Kafka)
 * around the model in include/ccpulse/sim.h. */
#ifndef CCPULSE_SIM_CMD_H
#define CCPULSE_SIM_CMD_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "ccpulse/sim.h"

enum ccp_sim_out {
	CCP_SIM_OUT_NDJSON,
	CCP_SIM_OUT_KAFKA,
	CCP_SIM_OUT_NONE, /* run the model only (with --erlang: the comparison) */
};

#define CCP_SIM_MAX_KAFKA_PROPS 32

/* How to run a built sim. Owner: the caller; strings are borrowed for the
 * run. */
struct ccp_sim_run_opts {
	enum ccp_sim_out out;
	FILE *file;        /* NDJSON destination */
	const char *brokers, *topic, *agent_topic;
	const char *kafka_props[CCP_SIM_MAX_KAFKA_PROPS][2]; /* extra librdkafka settings */
	int n_kafka_props;
	double speed;       /* 0: as fast as possible; else times real time */
	uint64_t max_events; /* 0: until the horizon */
	atomic_int *stop;    /* set (from a signal handler or another thread) to stop; may be NULL */
};

/* What a run did. Owner: the caller. */
struct ccp_sim_run_result {
	uint64_t events, contact_events, agent_events;
	uint64_t produced, delivered, failed; /* Kafka only */
	double elapsed_s;
	char first_error[256]; /* first delivery or produce error, "" if none */
};

/* Runs `s` to its horizon (or max_events, or *stop) into the output.
 * Kafka: contact-scope events to `topic` keyed by queue, agent.state to
 * `agent_topic` keyed by agent; a full local queue is waited out by
 * polling (nothing is dropped); everything is flushed before returning.
 * Returns 0, or a negative code with the message in `err`. @thread any
 * (the owner of `s`) */
int ccp_sim_run(struct ccp_sim *s, const struct ccp_sim_run_opts *o, struct ccp_sim_run_result *r, char *err,
		size_t errlen);

/* Prints, per queue, the Erlang C predictions for AGENTS and AGENTS + 1
 * beside the figures simulated so far. @thread owner of `s` */
void ccp_sim_print_erlang(const struct ccp_sim *s, double sl_threshold_s, FILE *f);

/* `ccpulse sim ...` (argv[0] is "sim"); returns the exit code (0, 1
 * runtime error, 2 usage). Installs a SIGINT/SIGTERM handler for the run
 * and restores the old one. @thread main */
int ccp_sim_cmd(int argc, char **argv);

#endif
