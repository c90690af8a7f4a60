/*
 * tools/cli/args.c - the flags every offline command shares (--data, --json, --help),
 * the option-table parser (struct rc_opt rows, one setter each), the
 * environment's defaults and the JSON output; the filter flags are
 * views/filter.h's rc_filter_cli.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/views/filter.h"
#include "tools/views/listing.h"
#include "tools/cli/args.h"
#include "tools/lib/rc-limits.h"

/* Writes and frees a JSON buffer (one line); false when it overflowed. */
bool rc_put_json(struct rc_buf *b, const char *cmd)
{
	bool ok = !b->oom;
	if (ok)
		printf("%s\n", b->p);
	else
		fprintf(stderr, "ringcap %s: out of memory for the JSON output\n", cmd);
	rc_buf_free(b);
	return ok;
}

#define OPT_BASE 1000 /* getopt values of a command's own rows: OPT_BASE + row */

int rc_cli_opts(int argc, char **argv, struct rc_cli_common *c, const char *usage,
		const struct rc_opt *opts, void *ctx)
{
	struct option lo[RC_OPTS_MAX + 1];
	size_t n = 0;
	lo[n++] = (struct option){ "data", required_argument, NULL, 'd' };
	lo[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (size_t i = 0; opts && opts[i].name && n < RC_OPTS_MAX; i++)
		lo[n++] = (struct option){ opts[i].name, opts[i].arg ? required_argument : no_argument,
					   NULL, OPT_BASE + (int)i };
	lo[n] = (struct option){ 0 };
	c->data = rc_env_data();
	optind = 0;   /* glibc: 0 resets all getopt state, also between calls */
	opterr = 0;
	for (int k = 0; k < argc; k++) {   /* bound: each round consumes >= 1 arg */
		int ch = getopt_long(argc, argv, ":h", lo, NULL);
		if (ch == -1)
			break;
		if (ch == 'd') {
			c->data = optarg;
		} else if (ch == 'j') {
			c->json = true;
		} else if (ch == 'h') {
			printf("%s", usage);
			return -2;
		} else if (ch >= OPT_BASE) {
			if (opts[ch - OPT_BASE].set(ctx, optarg) < 0)
				return -1;
		} else {
			const char *cmd = c->cmd ? c->cmd : argv[0];
			fprintf(stderr, "ringcap %s: %s option '%s' (see ringcap %.*s --help)\n",
				cmd, ch == ':' ? "missing value for" : "unknown", argv[optind - 1],
				(int)strcspn(cmd, " "), cmd);
			return -1;
		}
	}
	return optind;
}

const char *rc_env_data(void)
{
	const char *d = getenv("RINGCAP_DATA");
	return d && *d ? d : RC_DATA_DIR_DEFAULT;
}

const char *rc_env_control(void)
{
	const char *c = getenv("RINGCAP_CONTROL");
	return c && *c ? c : RC_CONTROL_DEFAULT;
}
