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

/* fsck exit codes (also in its --help and the README). */
enum {
	FSCK_CLEAN = 0,    /* no damage found */
	FSCK_DAMAGED = 1,  /* damage found and left (no --repair), or damage --repair cannot
			    * undo remains (damaged frames, a missing segment: data lost) */
	FSCK_USAGE = 2,    /* bad command line */
	FSCK_REPAIRED = 3, /* damage found and repaired: checking again finds none */
	FSCK_ERROR = 4,    /* could not check: not a session, unreadable files */
};

static int fsck_one(const char *data, const char *id, bool repair, bool json);

static int set_repair(void *ctx, const char *v)
{
	(void)v;
	*(bool *)ctx = true;
	return 0;
}

/* Which of two fsck results is worse (for a whole data directory). */
static int fsck_worse(int a, int b)
{
	static const int rank[5] = { 0, 2, 4, 1, 3 };
	return rank[b] > rank[a] ? b : a;
}

/* A session directory given by path: "DATA/ID". Sets data (in buf) and id. */
static bool fsck_path(const char *arg, char *buf, size_t cap, const char **id)
{
	size_t n = strlen(arg);
	while (n > 1 && arg[n - 1] == '/')
		n--;
	if (n >= cap)
		return false;
	memcpy(buf, arg, n);
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash == NULL || slash == buf || strlen(slash + 1) != SES_ID_LEN)
		return false;
	*slash = '\0';
	*id = slash + 1;
	char dir[4096];
	struct ses_meta m;
	return ses_dir(dir, sizeof(dir), buf, *id) == 0 && ses_find(buf, *id, &m) == 0;
}

int rc_cmd_fsck(int argc, char **argv)
{
	static const char usage[] =
		"usage: ringcap fsck SESSION|SESSION_DIR|DATA_DIR [--data DIR] [--repair] [--json]\n"
		"  Checks every file of a session (segments, indexes, strings, tombstones,\n"
		"  session.meta); --repair rebuilds what can be derived: indexes and strings\n"
		"  from the segments, torn tails cut, session.meta from its previous copy or\n"
		"  from the segments, tombstones without their damaged records (deletions\n"
		"  session.meta counts that the tombstones file lacks cannot be rebuilt:\n"
		"  --repair makes the count match the file and says how many came back).\n"
		"exit status:\n"
		"  0  no damage found\n"
		"  1  damage found (nothing changed: run with --repair), or damage that\n"
		"     --repair cannot undo remains (damaged frames, a missing segment file)\n"
		"  2  usage error\n"
		"  3  damage found and repaired: checking again finds none (lost\n"
		"     deletions: their exchanges are listed again, the output says so)\n"
		"  4  could not check (not a session, unreadable files)\n"
		"  A data directory gives the worst status of its sessions.\n" RC_USAGE_DATA;
	static const struct rc_opt opts[] = { { "repair", false, set_repair },
					      { NULL, false, NULL } };
	struct rc_cli_common c = {0};
	bool repair = false;
	int i = rc_cli_opts(argc, argv, &c, usage, opts, &repair);
	if (i < 0)
		return i == -2 ? 0 : FSCK_USAGE;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap fsck: name one session\n%s", usage);
		return FSCK_USAGE;
	}
	struct ses_meta m;
	char pbuf[4096];
	const char *pid;
	if (ses_find(c.data, argv[i], &m) == 0)
		return fsck_one(c.data, m.id, repair, c.json);
	if (fsck_path(argv[i], pbuf, sizeof(pbuf), &pid))
		return fsck_one(pbuf, pid, repair, c.json);
	/* not a session: a data directory, every session in it */
	struct ses_meta *all = calloc(RC_SESSIONS_MAX, sizeof(*all));
	size_t n = 0;
	if (all == NULL || ses_list(argv[i], all, RC_SESSIONS_MAX, &n) < 0 || n == 0) {
		fprintf(stderr, "ringcap fsck: '%s' is neither a session in %s nor a data "
			"directory with sessions\n", argv[i], c.data);
		free(all);
		return FSCK_ERROR;
	}
	int worst = FSCK_CLEAN;
	for (size_t k = 0; k < n; k++) {
		printf("%s (%s): ", all[k].id, all[k].name);
		fflush(stdout);
		worst = fsck_worse(worst, fsck_one(argv[i], all[k].id, repair, c.json));
	}
	free(all);
	return worst;
}

/* The metadata's part of a check: 0 sound, 1 read from session.meta.prev,
 * 2 lost (listed from the segments). */
static int fsck_meta(const char *data, const char *id)
{
	struct ses_meta *m = malloc(sizeof(*m));
	int rc = m ? ses_load(data, id, m) : -ENOMEM;
	int what = rc < 0 ? 2 : m->origin == SES_META_PREV ? 1 : 0;
	free(m);
	return what;
}

static void fsck_print(const struct seg_report *r, int meta, bool json)
{
	static const char *const meta_text[3] = { "ok", "read from session.meta.prev", "lost" };
	printf(json ? "{\"segments\":%llu,\"frames_ok\":%llu,\"frames_bad\":%llu,"
		        "\"exchanges\":%llu,\"incomplete\":%llu,\"torn_bytes\":%llu,"
		        "\"indexes_rebuilt\":%llu,"
		      : "segments %llu, frames ok %llu, damaged %llu, exchanges %llu, "
		        "incomplete %llu, torn bytes %llu, indexes rebuilt %llu\n",
	       (unsigned long long)r->segments, (unsigned long long)r->frames_ok,
	       (unsigned long long)r->frames_bad, (unsigned long long)r->exchanges,
	       (unsigned long long)r->incomplete, (unsigned long long)r->torn_bytes,
	       (unsigned long long)r->indexes_rebuilt);
	printf(json ? "\"bad_regions\":%llu,\"entries_bad\":%llu,\"indexes_healed\":%llu,"
		        "\"entries_recovered\":%llu,\"strings_bad\":%llu,\"files_missing\":%llu,"
		        "\"tombstones_bad\":%llu,\"tombstones_lost\":%llu,\"metadata\":\"%s\","
		        "\"damaged\":%s}\n"
		      : "bad regions %llu, bad index entries %llu, indexes missing/damaged/short "
		        "%llu (exchanges only in frames %llu), bad strings %llu, files missing "
		        "%llu, bad tombstones %llu, lost deletions %llu, metadata %s%s\n",
	       (unsigned long long)r->bad_regions, (unsigned long long)r->entries_bad,
	       (unsigned long long)r->indexes_healed, (unsigned long long)r->entries_recovered,
	       (unsigned long long)r->strings_bad, (unsigned long long)r->files_missing,
	       (unsigned long long)r->tombstones_bad, (unsigned long long)r->tombstones_lost,
	       meta_text[meta],
	       json ? (seg_report_damaged(r) || meta ? "true" : "false") : "");
	if (r->first_damage[0] && !json)
		printf("first damage: %s\n", r->first_damage);
}

static int fsck_one(const char *data, const char *id, bool repair, bool json)
{
	char dir[4096];
	struct seg_report r = {0};
	int rc = ses_dir(dir, sizeof(dir), data, id);
	if (rc == 0)
		rc = seg_fsck(dir, repair, &r);
	if (rc < 0) {
		fprintf(stderr, "ringcap fsck: %s/%s: %s\n", data, id, strerror(-rc));
		return FSCK_ERROR;
	}
	int meta = fsck_meta(data, id);
	bool fixed = false;
	if (repair && meta && (rc = ses_repair(data, id, &fixed)) < 0)
		fprintf(stderr, "ringcap fsck: %s: rewriting session.meta: %s\n", dir, strerror(-rc));
	fsck_print(&r, meta, json);
	bool damaged = seg_report_damaged(&r) || meta;
	if (!damaged)
		return FSCK_CLEAN;
	if (!repair)
		return FSCK_DAMAGED;
	/* What --repair could not undo shows in a second check. */
	struct seg_report again = {0};
	if (seg_fsck(dir, false, &again) < 0)
		return FSCK_ERROR;
	if (seg_report_damaged(&again) || fsck_meta(data, id)) {
		if (!json)
			printf("damage remains after repair: %s\n",
			       again.first_damage[0] ? again.first_damage : "session.meta");
		return FSCK_DAMAGED;
	}
	if (!json && r.tombstones_lost)
		printf("%llu deletions are lost for good (their tombstones): those exchanges are "
		       "listed again; the metadata now counts what the file holds\n",
		       (unsigned long long)r.tombstones_lost);
	if (!json)
		printf("repaired\n");
	return FSCK_REPAIRED;
}
