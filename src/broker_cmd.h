/* `ccpulse broker`: the standalone dev broker for kcat and local work. */
#ifndef CCPULSE_BROKER_CMD_H
#define CCPULSE_BROKER_CMD_H

/* argv[0] = "broker". Starts the mock cluster, prints
 * "ccpulse broker: bootstrap.servers=HOST:PORT[,...]" on stdout and runs
 * until SIGINT or SIGTERM (exit 0). SIGINT and SIGTERM are blocked in the
 * calling thread while it runs (so the cluster's threads inherit the
 * block) and taken with sigwait; the old mask is restored before return.
 * Returns the process exit code (0, 1 runtime error, 2 usage).
 * @thread main */
int ccp_broker_cmd(int argc, char **argv);

#endif
