/*
 * tools/cli/fsck.c - `ringcap fsck SESSION|DATA_DIR [--repair]`: checks (and repairs) the
 * segments and indexes of a session or of every session in a data directory.
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

static int fsck_one(const char *dir, bool repair, bool json);

static int set_repair(void *ctx, const char *v)
{
	(void)v;
	*(bool *)ctx = true;
	return 0;
}

int rc_cmd_fsck(int argc, char **argv)
{
	static const char usage[] = "usage: ringcap fsck SESSION|DATA_DIR [--data DIR] [--repair] [--json]\n";
	static const struct rc_opt opts[] = { { "repair", false, set_repair },
					      { NULL, false, NULL } };
	struct rc_cli_common c = {0};
	bool repair = false;
	int i = rc_cli_opts(argc, argv, &c, usage, opts, &repair);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap fsck: name one session\n%s", usage);
		return 2;
	}
	struct ses_meta m;
	char dir[4096];
	if (ses_find(c.data, argv[i], &m) < 0) {
		/* not a session: a data directory, every session in it */
		struct ses_meta *all = calloc(RC_SESSIONS_MAX, sizeof(*all));
		size_t n = 0;
		if (all == NULL || ses_list(argv[i], all, RC_SESSIONS_MAX, &n) < 0 || n == 0) {
			fprintf(stderr, "ringcap fsck: '%s' is neither a session in %s nor a data "
				"directory with sessions\n", argv[i], c.data);
			free(all);
			return 1;
		}
		int worst = 0;
		for (size_t k = 0; k < n; k++) {
			ses_dir(dir, sizeof(dir), argv[i], all[k].id);
			printf("%s (%s): ", all[k].id, all[k].name);
			fflush(stdout);
			int rc = fsck_one(dir, repair, c.json);
			worst = rc > worst ? rc : worst;
		}
		free(all);
		return worst;
	}
	ses_dir(dir, sizeof(dir), c.data, m.id);
	return fsck_one(dir, repair, c.json);
}

static int fsck_one(const char *dir, bool repair, bool json)
{
	struct seg_report r = {0};
	int rc = seg_fsck(dir, repair, &r);
	if (rc < 0) {
		fprintf(stderr, "ringcap fsck: %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	printf(json ? "{\"segments\":%llu,\"frames_ok\":%llu,\"frames_bad\":%llu,"
		        "\"exchanges\":%llu,\"incomplete\":%llu,\"torn_bytes\":%llu,"
		        "\"indexes_rebuilt\":%llu}\n"
		      : "segments %llu, frames ok %llu, damaged %llu, exchanges %llu, "
		        "incomplete %llu, torn bytes %llu, indexes rebuilt %llu\n",
	       (unsigned long long)r.segments, (unsigned long long)r.frames_ok,
	       (unsigned long long)r.frames_bad, (unsigned long long)r.exchanges,
	       (unsigned long long)r.incomplete, (unsigned long long)r.torn_bytes,
	       (unsigned long long)r.indexes_rebuilt);
	if (r.first_damage[0] && !json)
		printf("first damage: %s\n", r.first_damage);
	return r.frames_bad && !repair ? 1 : 0;
}

