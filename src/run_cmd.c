/* `ccpulse run`: the service (include/ccpulse/pipeline.h). */
#include "run_cmd.h"

#include <stdio.h>
#include <stdlib.h>

#include "ccpulse/config.h"
#include "ccpulse/log.h"
#include "ccpulse/pipeline.h"
#include "cli.h"

#define RUN_USAGE "run [-c FILE] [--brokers B] [--topic T] [--group G] [--redis URL] [--prefix P] ..."

int ccp_log_from_config(struct ccp_log *log, const struct ccp_config *c)
{
	ccp_log_init(log);
	if (ccp_log_level_parse(c->log_level, &log->level) || ccp_log_format_parse(c->log_format, &log->format))
		return -1; /* cannot happen: the config checked both */
	return 0;
}

int ccp_run_cmd(int argc, char **argv)
{
	int rc;
	struct ccp_config *c = ccp_cli_config_new(RUN_USAGE, argc, argv, NULL, NULL, &rc);
	if (!c)
		return rc;
	struct ccp_log log;
	ccp_log_from_config(&log, c);
	char err[512];
	struct ccp_pipeline_opts o = {.cfg = c, .log = &log, .handle_signals = true};
	struct ccp_pipeline *p = ccp_pipeline_new(&o, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "ccpulse run: %s\n", err);
		rc = CCP_EXIT_ERROR;
	} else if (ccp_pipeline_run(p, err, sizeof(err))) {
		fprintf(stderr, "ccpulse run: %s\n", err);
		rc = CCP_EXIT_ERROR;
	} else {
		struct ccp_pipeline_stats st;
		ccp_pipeline_stats(p, &st);
		ccp_logf(&log, CCP_LOG_INFO,
			 "stopped: %llu messages, %llu applied, %llu rejected, %llu renders acknowledged, %llu offsets stored",
			 (unsigned long long)st.messages, (unsigned long long)st.applied, (unsigned long long)st.rejected,
			 (unsigned long long)st.acked, (unsigned long long)st.offsets_stored);
	}
	ccp_pipeline_free(p);
	ccp_cli_config_free(c);
	return rc;
}
