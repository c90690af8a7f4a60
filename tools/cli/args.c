/*
 * tools/cli/args.c - the flags every offline command shares (--data, --json, --help) and
 * their JSON output; the filter flags are views/filter.h's rc_filter_cli.
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

/* Parses --data/--json and the command's own options; returns optind or -1. */
int rc_cli_parse(int argc, char **argv, struct rc_cli_common *c, const char *usage,
		 const struct option *extra, int (*on)(void *, int, const char *), void *ctx)
{
	struct option lo[24];
	size_t n = 0;
	lo[n++] = (struct option){ "data", required_argument, NULL, 'd' };
	lo[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (size_t i = 0; extra && extra[i].name && n < 23; i++)
		lo[n++] = extra[i];
	lo[n] = (struct option){ 0 };
	c->data = rc_env_data();
	optind = 1;
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, ":h", lo, NULL);
		if (ch == -1)
			break;
		if (ch == 'd')
			c->data = optarg;
		else if (ch == 'j')
			c->json = true;
		else if (ch == 'h') {
			printf("%s", usage);
			if (strcmp(argv[0], "ls") == 0)
				printf("\n%s", rc_filter_usage);
			return -2;
		} else if (ch == '?' || ch == ':') {
			fprintf(stderr, "ringcap %s: %s option '%s'\n%s", argv[0],
				ch == ':' ? "missing value for" : "unknown", argv[optind - 1], usage);
			return -1;
		} else if (on == NULL || on(ctx, ch, optarg) < 0) {
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
