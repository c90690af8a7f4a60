/*
 * tools/cli/sessions.c - `ringcap sessions`: every session of a data directory, one line each
 * or a JSON array (read without a daemon).
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
#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"

int rc_cmd_sessions(int argc, char **argv)
{
	static const char usage[] = "usage: ringcap sessions [--data DIR] [--json]\n"
				    RC_USAGE_DATA;
	struct rc_cli_common c = {0};
	int i = rc_cli_opts(argc, argv, &c, usage, NULL, NULL);
	if (i < 0)
		return i == -2 ? 0 : 2;
	struct ses_meta *s = calloc(RC_SESSIONS_MAX, sizeof(*s));
	size_t n = 0;
	if (s == NULL || ses_list(c.data, s, RC_SESSIONS_MAX, &n) < 0) {
		fprintf(stderr, "ringcap sessions: cannot read %s\n", c.data);
		free(s);
		return 1;
	}
	struct rc_buf b = {0};
	if (c.json)
		rc_buf_puts(&b, "[");
	else
		printf("%-13s %-20s %-11s %-24s %10s %10s %12s\n", "ID", "NAME", "STATE", "START",
		       "DURATION", "EXCHANGES", "BYTES");
	for (size_t k = 0; k < n; k++) {
		struct ses_stats st = {0};
		ses_stats(c.data, s[k].id, &st);
		if (s[k].origin != SES_META_OK)
			fprintf(stderr, "ringcap sessions: %s: session.meta unreadable, %s "
				"(ringcap fsck --repair)\n", s[k].id, s[k].origin == SES_META_PREV ?
				"listed from session.meta.prev" : "listed from its segments");
		if (c.json) {
			rc_buf_puts(&b, k ? "," : "");
			rc_session_json(&b, &s[k], &st, NULL);
			continue;
		}
		char start[40];
		rc_iso_time(s[k].start_ns, start, sizeof(start));
		printf("%-13s %-20s %-11s %-24s %9.0fs %10llu %12llu\n", s[k].id, s[k].name,
		       ses_state_name(s[k].state), start, rc_session_duration_s(&s[k]),
		       (unsigned long long)st.exchanges, (unsigned long long)st.bytes);
	}
	int code = 0;
	if (c.json) {
		rc_buf_puts(&b, "]");
		code = rc_put_json(&b, "sessions") ? 0 : 1;
	}
	free(s);
	return code;
}
