/* Command line: a table of subcommands, each `int cmd(argc, argv)` with
 * argv[0] its own name. Exit codes: 0 ok, 1 runtime or config error,
 * 2 usage. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccpulse/config.h"
#include "ccpulse/replay.h"

static int check_config_cmd(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			path = argv[++i];
		else {
			fprintf(stderr, "usage: ccpulse check-config -c FILE\n");
			return 2;
		}
	}
	struct ccp_config *c = malloc(sizeof(*c));
	if (!c)
		return 1;
	char err[512];
	ccp_config_defaults(c);
	int rc = 0;
	if ((path && ccp_config_load_file(c, path, err, sizeof(err))) || ccp_config_apply_env(c, err, sizeof(err)) ||
	    ccp_config_finish(c, err, sizeof(err))) {
		fprintf(stderr, "ccpulse check-config: %s\n", err);
		rc = 1;
	} else {
		printf("ok\n");
		ccp_config_print(c, stdout);
	}
	ccp_config_release(c);
	free(c);
	return rc;
}

static int config_doc_cmd(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	ccp_config_doc_markdown(stdout);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"replay", ccp_replay_cmd, "replay FILE|- [-c CONFIG] [--json OUT]   offline run over NDJSON"},
	{"check-config", check_config_cmd, "check-config -c FILE                     validate a config file"},
	{"config-doc", config_doc_cmd, "config-doc                               print the config key table (Markdown)"},
};

static void help(FILE *f)
{
	fprintf(f, "ccpulse %s: call-center event stream processor\n\nusage: ccpulse COMMAND [ARGS]\n\ncommands:\n",
		CCP_VERSION);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].help);
	fprintf(f, "\n  --help, --version\n");
}

int ccp_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		help(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ccpulse %s\n", CCP_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		help(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ccpulse: unknown command \"%s\"\n\n", argv[1]);
	help(stderr);
	return 2;
}
