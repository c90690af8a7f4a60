/*
 * tools/cli/args.h - what the offline commands share: --data (default
 * RC_DATA_DIR_DEFAULT, or the RINGCAP_DATA environment variable), --json,
 * --help, one getopt loop over a command's option table (one setter per
 * row), and the JSON line they print.
 */
#ifndef RINGCAP_CLI_ARGS_H
#define RINGCAP_CLI_ARGS_H

#include <getopt.h>
#include <stdbool.h>

#include "tools/lib/json.h"
#include "tools/lib/rc-limits.h"

struct rc_cli_common {
	const char *data;  /* --data DIR */
	bool json;         /* --json */
	const char *cmd;   /* for messages ("session pause"; --help advice names its
			    * first word); NULL: argv[0] */
};

/* The --data line of an offline command's usage (the environment variable
 * is only found where --help names it). */
#define RC_USAGE_DATA \
	"  --data DIR  data directory [$RINGCAP_DATA, else " RC_DATA_DIR_DEFAULT "]\n"

/* The data directory when --data is not given: $RINGCAP_DATA, else
 * RC_DATA_DIR_DEFAULT. */
const char *rc_env_data(void);

/* The control address when --control is not given: $RINGCAP_CONTROL,
 * else RC_CONTROL_DEFAULT. */
const char *rc_env_control(void);

/* One option of a command: --name, with a value when arg; set(ctx, value)
 * runs once per occurrence (value NULL without arg) and returns 0, or <0
 * after one message on stderr. One row per option, one setter per row. */
struct rc_opt {
	const char *name;
	bool arg;
	int (*set)(void *ctx, const char *val);
};
#define RC_OPTS_MAX 24 /* options of one command, the shared three included */

/* Parses --data/--json/--help (shared) and opts (ending in a row with a
 * NULL name) with getopt_long. Returns optind (the first operand), -2
 * after printing usage for --help, -1 after a usage error on stderr. */
int rc_cli_opts(int argc, char **argv, struct rc_cli_common *c, const char *usage,
		const struct rc_opt *opts, void *ctx);

/* Prints b as one line and frees it; false (and a message) when it ran
 * out of memory while being built. */
bool rc_put_json(struct rc_buf *b, const char *cmd);

#endif
