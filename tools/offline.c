/*
 * tools/offline.c - offline commands over persist/: they read the data
 * directory directly (a running daemon may be writing; readers see every
 * complete frame). Listings read only the index and URL strings; `show`
 * decompresses one exchange's frames.
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
#include "tools/filterargs.h"
#include "tools/listing.h"
#include "tools/offline.h"

#define SESSIONS_MAX 4096u

struct common {
	const char *data;
	bool json;
};

/* Writes and frees a JSON buffer (one line); false when it overflowed. */
static bool put_json(struct rc_buf *b, const char *cmd)
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
static int parse(int argc, char **argv, struct common *c, const char *usage,
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
	c->data = "./ringcap-data";
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

int rc_cmd_sessions(int argc, char **argv)
{
	static const char usage[] = "usage: ringcap sessions [--data DIR] [--json]\n";
	struct common c = {0};
	int i = parse(argc, argv, &c, usage, NULL, NULL, NULL);
	if (i < 0)
		return i == -2 ? 0 : 2;
	struct ses_meta *s = calloc(SESSIONS_MAX, sizeof(*s));
	size_t n = 0;
	if (s == NULL || ses_list(c.data, s, SESSIONS_MAX, &n) < 0) {
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
		code = put_json(&b, "sessions") ? 0 : 1;
	}
	free(s);
	return code;
}

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
	printf("%-6llu %3u %-7s %-6s %9llu %8.1f %s %-15s %.*s\n", (unsigned long long)e->id,
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
	struct common c = {0};
	struct ls_opts o = {0};
	int i = parse(argc, argv, &c, usage, extra, ls_opt, &o);
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
		return put_json(&b, "ls") ? 0 : 1;
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

struct show_opts {
	int body;   /* -1 none, SEG_DIR_REQ or SEG_DIR_RESP */
	bool curl;
};

/* Single-quoted for a POSIX shell. */
static void shell_quote(const char *s, size_t n)
{
	putchar('\'');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			fputs("'\\''", stdout);
		else
			putchar(s[i]);
	}
	putchar('\'');
}

/* A curl command that repeats the request: method, URL, end-to-end
 * headers, body as data (a truncated body is said to be so). */
static void show_curl(const struct seg_exchange *x)
{
	static const char *const skip[] = { "host:", "content-length:", "proxy-connection:",
					   "connection:", "proxy-authorization:", "transfer-encoding:" };
	printf("curl -X %s ", x->method_text);
	shell_quote(x->url, strlen(x->url));
	const char *h = (const char *)x->req_head, *end = h + x->req_head_len;
	const char *line = memchr(h, '\n', x->req_head_len);
	while (line && line + 1 < end) {
		const char *s = line + 1;
		const char *e = memchr(s, '\r', (size_t)(end - s));
		if (e == NULL || e == s)
			break;
		bool drop = false;
		for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			drop |= (size_t)(e - s) >= strlen(skip[i]) &&
				strncasecmp(s, skip[i], strlen(skip[i])) == 0;
		if (!drop) {
			fputs(" -H ", stdout);
			shell_quote(s, (size_t)(e - s));
		}
		line = memchr(e, '\n', (size_t)(end - e));
	}
	if (x->body_len[SEG_DIR_REQ] > 0) {
		fputs(" --data-binary ", stdout);
		shell_quote((const char *)x->body[SEG_DIR_REQ], x->body_len[SEG_DIR_REQ]);
	}
	putchar('\n');
	if (x->flags & SEG_F_REQ_TRUNC)
		fprintf(stderr, "ringcap show: the stored request body is truncated\n");
}

static int show_opt(void *ctx, int ch, const char *v)
{
	struct show_opts *o = ctx;
	if (ch == 'c') {
		o->curl = true;
		return 0;
	}
	if (ch != 'b')
		return -1;
	if (strcmp(v, "request") == 0)
		o->body = SEG_DIR_REQ;
	else if (strcmp(v, "response") == 0)
		o->body = SEG_DIR_RESP;
	else {
		fprintf(stderr, "ringcap show: --body '%s': request or response\n", v);
		return -1;
	}
	return 0;
}

static void show_json(const struct seg_exchange *x)
{
	struct rc_buf b = {0};
	rc_exchange_json(&b, x);
	put_json(&b, "show");
}

int rc_cmd_show(int argc, char **argv)
{
	static const char usage[] =
		"usage: ringcap show SESSION ID [--data DIR] [--json] [--body request|response] [--curl]\n";
	static const struct option extra[] = { { "body", required_argument, NULL, 'b' },
					       { "curl", no_argument, NULL, 'c' }, { 0 } };
	struct common c = {0};
	struct show_opts o = { .body = -1 };
	int i = parse(argc, argv, &c, usage, extra, show_opt, &o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	char *end;
	if (i != argc - 2 || (strtoull(argv[i + 1], &end, 10), *end != '\0')) {
		fprintf(stderr, "ringcap show: name a session and an exchange id\n%s", usage);
		return 2;
	}
	uint64_t id = strtoull(argv[i + 1], NULL, 10);
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("show", c.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	struct seg_open_opts oo = { .body_max = { 64u << 20, 64u << 20 } };
	struct seg_exchange x;
	int rc = seg_open_id(dir, id, &oo, &x);
	if (rc < 0) {
		fprintf(stderr, "ringcap show: exchange %llu: %s\n", (unsigned long long)id,
			rc == -ENOENT ? "not in the session" :
			rc == -EBADMSG ? "its frames are damaged (ringcap fsck)" : strerror(-rc));
		return 1;
	}
	if (o.curl)
		show_curl(&x);
	else if (o.body >= 0)
		fwrite(x.body[o.body], 1, x.body_len[o.body], stdout);
	else if (c.json)
		show_json(&x);
	else
		printf("%.*s\n%.*s\n", (int)x.req_head_len, (const char *)x.req_head,
		       (int)x.resp_head_len, (const char *)x.resp_head);
	seg_exchange_free(&x);
	return 0;
}

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

static int fsck_opt(void *ctx, int ch, const char *v)
{
	(void)v;
	if (ch != 'R')
		return -1;
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
		"  from the segments, tombstones without their damaged records.\n"
		"exit status:\n"
		"  0  no damage found\n"
		"  1  damage found (nothing changed: run with --repair), or damage that\n"
		"     --repair cannot undo remains (damaged frames, a missing segment file)\n"
		"  2  usage error\n"
		"  3  damage found and repaired: checking again finds none\n"
		"  4  could not check (not a session, unreadable files)\n"
		"  A data directory gives the worst status of its sessions.\n";
	static const struct option extra[] = { { "repair", no_argument, NULL, 'R' }, { 0 } };
	struct common c = {0};
	bool repair = false;
	int i = parse(argc, argv, &c, usage, extra, fsck_opt, &repair);
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
	struct ses_meta *all = calloc(SESSIONS_MAX, sizeof(*all));
	size_t n = 0;
	if (all == NULL || ses_list(argv[i], all, SESSIONS_MAX, &n) < 0 || n == 0) {
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
		        "\"tombstones_bad\":%llu,\"metadata\":\"%s\",\"damaged\":%s}\n"
		      : "bad regions %llu, bad index entries %llu, indexes missing/damaged/short "
		        "%llu (exchanges only in frames %llu), bad strings %llu, files missing "
		        "%llu, bad tombstones %llu, metadata %s%s\n",
	       (unsigned long long)r->bad_regions, (unsigned long long)r->entries_bad,
	       (unsigned long long)r->indexes_healed, (unsigned long long)r->entries_recovered,
	       (unsigned long long)r->strings_bad, (unsigned long long)r->files_missing,
	       (unsigned long long)r->tombstones_bad, meta_text[meta],
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
	if (!json)
		printf("repaired\n");
	return FSCK_REPAIRED;
}
