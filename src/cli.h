/* Command line: argv -> subcommand; returns the process exit code. */
#ifndef CCPULSE_CLI_H
#define CCPULSE_CLI_H

int ccp_cli_main(int argc, char **argv);

#endif
