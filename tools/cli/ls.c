/*
 * tools/cli/ls.c - `ringcap ls SESSION`: the exchanges of a session from its index and URL
 * strings only (sort, search, filter flags, paging, --json).
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

struct ls_opts {
	struct seg_query q;
};

static int ls_opt(void *ctx, int ch, const char *v)
{
	struct ls_opts *o = ctx;
	static const struct { int ch; const char *key; } keys[] = {
		{ 's', "sort" }, { 'r', "reverse" }, { 'q', "search" }, { 'l', "limit" },
		{ 'o', "offset" },
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].ch != ch)
			continue;
		char err[256];
		if (rc_query_param(&o->q, keys[i].key, v, err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "ringcap ls: --%s\n", err);
		return -1;
	}
	return -1;
}

static void ls_row(const struct seg_qrow *r)
{
	const struct seg_entry *e = &r->e;
	char t[40], client[RC_ADDR_TEXT_MAX];
	rc_iso_time(e->start_ns, t, sizeof(t));
	rc_addr_text(&e->client, client, sizeof(client));
	printf("%-6llu %3u %-7s %-6s %9llu %8.1f %s %-15s %.*s\n", (unsigned long long)rc_row_id(r),
	       e->status, seg_method_name(e->method), seg_type_name(e->type),
	       (unsigned long long)e->resp_size, (double)e->duration_ns / 1e6, t, client,
	       (int)e->url_len, r->url);
}

static int ls_main(int argc, char **argv, struct rc_filter *f);

int rc_cmd_ls(int argc, char **argv)
{
	struct rc_filter f;
	int rc = rc_filter_cli("ls", &f, &argc, argv) < 0 ? 2 : ls_main(argc, argv, &f);
	rc_filter_free(&f);
	return rc;
}

static int ls_main(int argc, char **argv, struct rc_filter *f)
{
	static const char usage[] =
		"usage: ringcap ls SESSION [--data DIR] [--json] [--sort time|status|method|url|"
		"host|type|size|duration]\n       [--reverse] [--search TEXT] [--limit N] [--offset N]"
		" [filters]\n";
	static const struct option extra[] = {
		{ "sort", required_argument, NULL, 's' }, { "reverse", no_argument, NULL, 'r' },
		{ "search", required_argument, NULL, 'q' }, { "limit", required_argument, NULL, 'l' },
		{ "offset", required_argument, NULL, 'o' }, { 0 },
	};
	struct rc_cli_common c = {0};
	struct ls_opts o = {0};
	int i = rc_cli_parse(argc, argv, &c, usage, extra, ls_opt, &o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap ls: name one session\n%s", usage);
		return 2;
	}
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("ls", c.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	rc_filter_query(f, dir, &o.q);
	if (c.json) {
		struct rc_buf b = {0};
		size_t total;
		uint64_t damaged = 0;
		int rc = rc_list_session(dir, &o.q, &b, &total, &damaged);
		if (rc < 0) {
			fprintf(stderr, "ringcap ls: cannot read session '%s': %s\n", argv[i],
				strerror(-rc));
			rc_buf_free(&b);
			return 1;
		}
		if (damaged)
			fprintf(stderr, "ringcap ls: session '%s' is damaged (%llu problems); what its "
				"index lacks was read from its segments (ringcap fsck --repair)\n",
				argv[i], (unsigned long long)damaged);
		return rc_put_json(&b, "ls") ? 0 : 1;
	}
	struct seg_table t = {0};
	struct seg_report rep = {0};
	struct seg_result res = {0};
	if (seg_table_load(dir, &t, &rep) < 0 || seg_query_run(&t, &o.q, &res) < 0) {
		fprintf(stderr, "ringcap ls: cannot read session '%s'\n", argv[i]);
		seg_table_free(&t);
		return 1;
	}
	printf("%-6s %3s %-7s %-6s %9s %8s %-24s %-15s %s\n", "ID", "ST", "METHOD", "TYPE",
	       "SIZE", "MS", "TIME", "CLIENT", "URL");
	for (size_t k = 0; k < res.n; k++)
		ls_row(&t.rows[res.idx[k]]);
	if (seg_report_damaged(&rep))
		fprintf(stderr, "ringcap ls: session '%s' is damaged (%s); %llu exchanges read from "
			"its segments (ringcap fsck --repair)\n", argv[i], rep.first_damage,
			(unsigned long long)(rep.entries_recovered + rep.strings_recovered));
	seg_result_free(&res);
	seg_table_free(&t);
	return 0;
}

