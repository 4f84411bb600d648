/* Command line: argv -> subcommand (a table in cli.c), exit codes, and the
 * option parsing shared by every command that reads the configuration. */
#ifndef CCPULSE_CLI_H
#define CCPULSE_CLI_H

#include <stdio.h>

struct ccp_config;

/* Exit codes of every command. */
#define CCP_EXIT_OK 0
#define CCP_EXIT_ERROR 1 /* runtime or configuration error */
#define CCP_EXIT_USAGE 2
/* ccp_cli_config(): --help was printed; the command should exit 0. */
#define CCP_CLI_HELP_SHOWN 3

/* Runs the command named by argv[1]; returns the process exit code.
 * @thread main */
int ccp_cli_main(int argc, char **argv);

/* A command's own arguments (besides -c and the config flags): called with
 * argv[*i] not yet consumed; advances *i past what it takes and returns 0,
 * or prints a usage error naming the argument and returns -1. */
typedef int (*ccp_cli_arg_cb)(void *ud, int argc, char **argv, int *i);

/* Builds the configuration for command `cmd` from its argv (argv[0] is the
 * command name): defaults < `-c FILE` < CCPULSE_* env < config flags
 * (--brokers, --redis, ...; "--flag VALUE" or "--flag=VALUE"), then
 * ccp_config_finish(). Other arguments go to `arg` (may be NULL). Errors
 * are printed to stderr. Returns CCP_EXIT_OK (the caller then owns `c` and
 * calls ccp_config_free), CCP_EXIT_ERROR, CCP_EXIT_USAGE or
 * CCP_CLI_HELP_SHOWN (nothing to free). `usage` is the command's synopsis line, printed with usage errors.
 * @thread main */
int ccp_cli_config(struct ccp_config *c, const char *usage, int argc, char **argv, ccp_cli_arg_cb arg, void *ud);

/* ccp_cli_config() into a config on the heap. Returns it (free with
 * ccp_cli_config_free), or NULL with the exit code in *rc (0 after --help). */
struct ccp_config *ccp_cli_config_new(const char *usage, int argc, char **argv, ccp_cli_arg_cb arg, void *ud,
				      int *rc);
void ccp_cli_config_free(struct ccp_config *c); /* NULL: no-op */

/* The value of an option at argv[*i] ("--x V" or "--x=V"), advancing *i;
 * NULL (with a usage message) when it is missing. */
const char *ccp_cli_value(const char *cmd, int argc, char **argv, int *i);

#endif
