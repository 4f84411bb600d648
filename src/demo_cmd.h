/* `ccpulse demo`: broker, Redis, simulator and pipeline in one command. */
#ifndef CCPULSE_DEMO_CMD_H
#define CCPULSE_DEMO_CMD_H

/* argv[0] = "demo". Runs until SIGINT/SIGTERM; returns the exit code.
 * @thread main */
int ccp_demo_cmd(int argc, char **argv);

#endif
