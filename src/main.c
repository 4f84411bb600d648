/* ccpulse entry point: hands argv to the command-line module. */
#include "cli.h"

int main(int argc, char **argv)
{
	return ccp_cli_main(argc, argv);
}
