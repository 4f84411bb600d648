/* Command line dispatch. (Skeleton: subcommands are added module by module.) */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int ccp_cli_main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ccpulse %s\n", CCP_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: ccpulse COMMAND ...\n");
	return 2;
}
