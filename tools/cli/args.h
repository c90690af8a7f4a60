/*
 * tools/cli/args.h - what the offline commands share: --data (default
 * RC_DATA_DIR_DEFAULT, or the RINGCAP_DATA environment variable), --json,
 * --help, one getopt loop that hands each command its own options, and the
 * JSON line they print.
 */
#ifndef RINGCAP_CLI_ARGS_H
#define RINGCAP_CLI_ARGS_H

#include <getopt.h>
#include <stdbool.h>

#include "tools/lib/json.h"

struct rc_cli_common {
	const char *data;  /* --data DIR */
	bool json;         /* --json */
};

/* The data directory when --data is not given: $RINGCAP_DATA, else
 * RC_DATA_DIR_DEFAULT. */
const char *rc_env_data(void);

/* The control address when --control is not given: $RINGCAP_CONTROL,
 * else RC_CONTROL_DEFAULT. */
const char *rc_env_control(void);

/* Parses --data/--json/--help and `extra` (getopt_long rows ending in a
 * zero row), calling on(ctx, ch, optarg) for each of the command's own
 * options. Returns optind (the first operand), -2 after printing --help,
 * -1 after printing a usage error; on() returns <0 to stop with -1. */
int rc_cli_parse(int argc, char **argv, struct rc_cli_common *c, const char *usage,
		 const struct option *extra, int (*on)(void *, int, const char *), void *ctx);

/* Prints b as one line and frees it; false (and a message) when it ran
 * out of memory while being built. */
bool rc_put_json(struct rc_buf *b, const char *cmd);

#endif
