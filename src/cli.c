/* Command line: a table of subcommands, each `int run(argc, argv)` with
 * argv[0] its own name, plus the configuration options every command that
 * needs a config shares (ccp_cli_config). Exit codes: 0 ok, 1 runtime or
 * config error, 2 usage. */
#include "cli.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/config.h"
#include "ccpulse/replay.h"
#include "broker_cmd.h"
#include "demo_cmd.h"
#include "run_cmd.h"
#include "sim_cmd.h"

static int check_config_cmd(int argc, char **argv);
static int config_doc_cmd(int argc, char **argv);

/* The subcommands. Adding one is one line here. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *help;
} commands[] = {
	{"run", ccp_run_cmd, "run [-c FILE] [FLAGS]", "the service: Kafka in, Redis out, until SIGTERM"},
	{"demo", ccp_demo_cmd, "demo [--hours H] [--seed N] [FLAGS]", "live demo: broker, Redis, simulator, processor"},
	{"replay", ccp_replay_cmd, "replay FILE|- [-c CONFIG] [--json OUT]", "offline run over NDJSON; JSON figures out"},
	{"check-config", check_config_cmd, "check-config -c FILE [FLAGS]", "validate a config; print it, secrets redacted"},
	{"sim", ccp_sim_cmd, "sim [--queue Q]... [--out O] [--speed S]", "simulated contact-center traffic (see `sim --help`)"},
	{"broker", ccp_broker_cmd, "broker [--partitions N] ...", "standalone dev Kafka broker (mock cluster; see `broker --help`)"},
	{"config-doc", config_doc_cmd, "config-doc", "print the config key table (docs/config.md)"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void help(FILE *f)
{
	fprintf(f, "ccpulse %s: call-center event stream processor\n\nusage: ccpulse COMMAND [ARGS]\n\ncommands:\n",
		CCP_VERSION);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-42s %s\n", commands[i].synopsis, commands[i].help);
	fprintf(f, "\nconfig options (commands that read a config; flags win over CCPULSE_* env, env over the file):\n"
		   "  %-35s YAML config (see `ccpulse config-doc`)\n", "-c, --config FILE");
	ccp_config_flags_usage(f);
	fprintf(f, "\n  --help, --version\n\nexit codes: 0 ok, 1 runtime or config error, 2 usage\n");
}

const char *ccp_cli_value(const char *cmd, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *eq = strchr(a, '=');
	if (a[0] == '-' && a[1] == '-' && eq) {
		(*i)++;
		return eq + 1;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "ccpulse %s: %s needs a value\n", cmd, a);
		return NULL;
	}
	*i += 2;
	return argv[*i - 1];
}

/* The option name without "=VALUE", in `buf`. */
static const char *opt_name(const char *a, char *buf, size_t len)
{
	const char *eq = strchr(a, '=');
	if (a[0] != '-' || a[1] != '-' || !eq)
		return a;
	snprintf(buf, len, "%.*s", (int)(eq - a), a);
	return buf;
}

int ccp_cli_config(struct ccp_config *c, const char *usage, int argc, char **argv, ccp_cli_arg_cb arg, void *ud)
{
	const char *cmd = argv[0], *path = NULL;
	/* Flags are applied after the file and env, in command-line order. */
	int *flags = calloc((size_t)argc + 1, sizeof(*flags)); /* argv index of each flag */
	const char **values = calloc((size_t)argc + 1, sizeof(*values));
	int nflags = 0, rc = CCP_EXIT_OK;
	if (!flags || !values) {
		fprintf(stderr, "ccpulse %s: out of memory\n", cmd);
		rc = CCP_EXIT_ERROR;
		goto out;
	}
	for (int i = 1; i < argc && rc == CCP_EXIT_OK;) {
		char nb[64];
		const char *name = opt_name(argv[i], nb, sizeof(nb));
		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			printf("usage: ccpulse %s\n\nconfig options (flags win over CCPULSE_* env, env over the file):\n"
			       "  %-35s YAML config\n", usage, "-c, --config FILE");
			ccp_config_flags_usage(stdout);
			rc = CCP_CLI_HELP_SHOWN;
		} else if (!strcmp(name, "-c") || !strcmp(name, "--config")) {
			path = ccp_cli_value(cmd, argc, argv, &i);
			if (!path)
				rc = CCP_EXIT_USAGE;
		} else if (ccp_config_is_flag(name)) {
			int at = i;
			const char *v = ccp_cli_value(cmd, argc, argv, &i);
			if (!v) {
				rc = CCP_EXIT_USAGE;
			} else {
				flags[nflags] = at;
				values[nflags++] = v;
			}
		} else if (!arg || arg(ud, argc, argv, &i)) {
			if (!arg)
				fprintf(stderr, "ccpulse %s: unexpected argument \"%s\"\n", cmd, argv[i]);
			rc = CCP_EXIT_USAGE;
		}
	}
	if (rc == CCP_EXIT_USAGE)
		fprintf(stderr, "usage: ccpulse %s\n", usage);
	if (rc != CCP_EXIT_OK)
		goto out;
	char err[1024];
	ccp_config_defaults(c);
	if (path && ccp_config_load_file(c, path, err, sizeof(err)))
		rc = CCP_EXIT_ERROR;
	else if (ccp_config_apply_env(c, err, sizeof(err)))
		rc = CCP_EXIT_ERROR;
	for (int f = 0; rc == CCP_EXIT_OK && f < nflags; f++) {
		char nb[64];
		if (ccp_config_apply_flag(c, opt_name(argv[flags[f]], nb, sizeof(nb)), values[f], err, sizeof(err)))
			rc = CCP_EXIT_ERROR;
	}
	if (rc == CCP_EXIT_OK && ccp_config_finish(c, err, sizeof(err)))
		rc = CCP_EXIT_ERROR;
	if (rc != CCP_EXIT_OK) {
		fprintf(stderr, "ccpulse %s: %s\n", cmd, err);
		ccp_config_free(c);
	}
out:
	free(flags);
	free(values);
	return rc;
}

struct ccp_config *ccp_cli_config_new(const char *usage, int argc, char **argv, ccp_cli_arg_cb arg, void *ud,
				      int *rc)
{
	struct ccp_config *c = malloc(sizeof(*c));
	if (!c) {
		*rc = CCP_EXIT_ERROR;
		return NULL;
	}
	*rc = ccp_cli_config(c, usage, argc, argv, arg, ud);
	if (*rc != CCP_EXIT_OK) {
		free(c);
		if (*rc == CCP_CLI_HELP_SHOWN)
			*rc = CCP_EXIT_OK;
		return NULL;
	}
	return c;
}

void ccp_cli_config_free(struct ccp_config *c)
{
	if (c) {
		ccp_config_free(c);
		free(c);
	}
}

static int check_config_cmd(int argc, char **argv)
{
	struct ccp_config *c = malloc(sizeof(*c));
	if (!c)
		return CCP_EXIT_ERROR;
	int rc = ccp_cli_config(c, "check-config -c FILE [FLAGS]", argc, argv, NULL, NULL);
	if (rc == CCP_EXIT_OK) {
		printf("ok\n");
		ccp_config_print(c, stdout);
		ccp_config_free(c);
	}
	free(c);
	return rc == CCP_CLI_HELP_SHOWN ? CCP_EXIT_OK : rc;
}

static int config_doc_cmd(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "ccpulse config-doc: unexpected argument \"%s\"\nusage: ccpulse config-doc\n", argv[1]);
		return CCP_EXIT_USAGE;
	}
	ccp_config_doc_markdown(stdout);
	return CCP_EXIT_OK;
}

int ccp_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		help(stderr);
		return CCP_EXIT_USAGE;
	}
	const char *a = argv[1];
	if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
		printf("ccpulse %s\n", CCP_VERSION);
		return CCP_EXIT_OK;
	}
	if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
		help(stdout);
		return CCP_EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(a, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ccpulse: unknown %s \"%s\" (see ccpulse --help)\n", a[0] == '-' ? "option" : "command", a);
	return CCP_EXIT_USAGE;
}
