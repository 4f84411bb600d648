/* `ccpulse run`: the live service, and the logger set-up it shares with
 * `ccpulse demo`. */
#ifndef CCPULSE_RUN_CMD_H
#define CCPULSE_RUN_CMD_H

struct ccp_config;
struct ccp_log;

/* A logger with the config's level and format, to stderr. 0, or -1. */
int ccp_log_from_config(struct ccp_log *log, const struct ccp_config *c);

/* argv[0] = "run". Runs until SIGINT/SIGTERM; exit code 0 after a clean
 * stop, 1 on a start-up or config error, 2 usage. @thread main */
int ccp_run_cmd(int argc, char **argv);

#endif
