/*
 * tools/cli/ls.c - `ringcap ls SESSION`: the exchanges of a session from its
 * index and URL strings (sort, search, filter flags, paging, --json), as a
 * table sized for the terminal: human sizes, URLs cut to its width
 * (--wide: whole), a footer "N of M exchanges", and a line saying why
 * nothing matched when it can. The CONNECT rows of intercepted tunnels are
 * hidden from the table (--tunnels shows them; --json lists every row, as
 * the API does). --search-bodies also searches heads and bodies (reads
 * frames: slower). --follow prints new exchanges as they are stored, like
 * tail -f (with --json: one JSON object per line), until the session
 * stops or Ctrl-C.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"
#include "tools/views/filter.h"
#include "tools/views/listing.h"
#include "tools/views/select.h"

#define LS_URL_MIN 24u        /* URL columns kept on a narrow terminal */
#define LS_FOLLOW_MS 250u     /* --follow polls the index this often (the store
			       * flushes frames every 250 ms) */
#define LS_PREFIX_COLS 74u    /* columns before the URL (see ls_row) */

struct ls_opts {
	struct seg_query q;
	bool wide, tunnels, follow, bodies;
};

static int query_param(struct ls_opts *o, const char *key, const char *v)
{
	char err[256];
	if (rc_query_param(&o->q, key, v, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "ringcap ls: --%s\n", err);
	return -1;
}

static int set_sort(void *o, const char *v) { return query_param(o, "sort", v); }
static int set_reverse(void *o, const char *v) { return query_param(o, "reverse", v); }
static int set_search(void *o, const char *v) { return query_param(o, "search", v); }
static int set_limit(void *o, const char *v) { return query_param(o, "limit", v); }
static int set_offset(void *o, const char *v) { return query_param(o, "offset", v); }
static int set_wide(void *o, const char *v) { (void)v; return ((struct ls_opts *)o)->wide = true, 0; }
static int set_tunnels(void *o, const char *v) { (void)v; return ((struct ls_opts *)o)->tunnels = true, 0; }
static int set_follow(void *o, const char *v) { (void)v; return ((struct ls_opts *)o)->follow = true, 0; }
static int set_bodies(void *o, const char *v) { (void)v; return ((struct ls_opts *)o)->bodies = true, 0; }

static const struct rc_opt ls_opts_table[] = {
	{ "sort", true, set_sort },       { "reverse", false, set_reverse },
	{ "search", true, set_search },   { "limit", true, set_limit },
	{ "offset", true, set_offset },   { "wide", false, set_wide },
	{ "tunnels", false, set_tunnels }, { "follow", false, set_follow },
	{ "search-bodies", false, set_bodies }, { NULL, false, NULL },
};

static const char ls_usage[] =
	"usage: ringcap ls SESSION [options] [filters]\n\n"
	"  --data DIR            data directory [$RINGCAP_DATA, else " RC_DATA_DIR_DEFAULT "]\n"
	"  --json                JSON array of every matching row\n"
	"  --sort KEY            time status method url host type size duration [time]\n"
	"  --reverse             reverse the order\n"
	"  --search TEXT         URL or host contains, method or status equals\n"
	"  --search-bodies       --search also looks in heads and bodies (reads each\n"
	"                        exchange's frames: slower)\n"
	"  --limit N, --offset N a page of the matches\n"
	"  --wide                whole URLs (default: cut to the terminal's width)\n"
	"  --tunnels             also the CONNECT rows of intercepted tunnels\n"
	"  --follow              then print new exchanges as they are captured\n\n";

/* Columns of the terminal, 0 when stdout is not one (then nothing is cut). */
static size_t term_cols(void)
{
	struct winsize ws;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	return c && atoi(c) > 0 ? (size_t)atoi(c) : 0;
}

static void ls_header(void)
{
	printf("%-6s %3s %-7s %-6s %9s %8s %-12s %-15s %s\n", "ID", "ST", "METHOD", "TYPE",
	       "SIZE", "MS", "TIME (UTC)", "CLIENT", "URL");
}

/* One table row: the prefix takes LS_PREFIX_COLS columns, the URL the
 * rest of url_cols (0: whole). */
static void ls_row(const struct seg_qrow *r, size_t url_cols)
{
	const struct seg_entry *e = &r->e;
	char t[40], client[RC_CLIENT_TEXT_MAX], size[24], cl[4 * 15 + 4];
	char *url = malloc(4u * (url_cols ? url_cols : e->url_len) + 8);
	rc_iso_time(e->start_ns, t, sizeof(t));
	if (r->client_name_len)
		snprintf(client, sizeof(client), "%.*s", (int)r->client_name_len, r->client_name);
	else
		rc_addr_text(&e->client, client, sizeof(client));
	rc_clean(cl, sizeof(cl), client, strlen(client), 15);
	rc_human_bytes(e->resp_size, size, sizeof(size));
	if (url)
		rc_clean(url, 4u * (url_cols ? url_cols : e->url_len) + 8, r->url, e->url_len,
			 url_cols ? url_cols : e->url_len);
	/* a CONNECT row says what its tunnel was, after the URL */
	const char *tun = seg_tunnel_name(e->flags);
	printf("%-6llu %3u %-7s %-6s %9s %8.1f %-12.12s %-15s %s%s%s%s\n",
	       (unsigned long long)rc_row_id(r), e->status, seg_method_name(e->method),
	       seg_type_name(e->type), size, (double)e->duration_ns / 1e6, t + 11, cl,
	       url ? url : "", tun[0] ? " (" : "", tun, tun[0] ? ")" : "");
	free(url);
}

static size_t url_cols(const struct ls_opts *o)
{
	size_t cols = o->wide ? 0 : term_cols();
	if (cols == 0)
		return 0;
	return cols > LS_PREFIX_COLS + LS_URL_MIN ? cols - LS_PREFIX_COLS : LS_URL_MIN;
}

static size_t live_rows(const struct seg_table *t)
{
	return t->n - t->deleted;
}

/* When nothing matched: one line per reason it can name. */
static void why_nothing(const struct seg_table *t, const struct ses_meta *m,
			const struct ls_opts *o, struct rc_select *s, const char *search)
{
	if (live_rows(t) == 0) {
		printf("no exchanges in session '%s' yet (%s)\n", m->name,
		       ses_state_name(m->state));
		return;
	}
	struct seg_query all = { .limit = 0 };
	struct seg_result r = {0};
	bool filtered = s->filter && rc_filter_active(s->filter);
	if (filtered && search) {
		struct rc_select only = { .t = t, .session_dir = s->session_dir,
					  .filter = s->filter };
		rc_select_query(&only, &all);
		if (seg_query_run(t, &all, &r) == 0 && r.total == 0)
			printf("the filters alone match none of the %zu exchanges\n", live_rows(t));
		seg_result_free(&r);
	} else if (filtered) {
		printf("the filters match none of the %zu exchanges\n", live_rows(t));
	}
	if (search && !o->bodies)
		printf("no URL or host contains '%s' and no method or status is it; "
		       "--search-bodies also looks in heads and bodies (slower: reads frames)\n",
		       search);
	else if (search)
		printf("'%s' is in no URL, host, head or stored body\n", search);
	if (search && strcasestr(search, "cookie") && !m->settings.capture_cookies)
		printf("Cookie and Set-Cookie lines were not captured in this session "
		       "(ringcap session start --cookies)\n");
	if (search && o->bodies && !m->settings.save_responses)
		printf("response heads and bodies were not saved (save-responses was off)\n");
	if (s->hidden && !o->tunnels)
		printf("%zu CONNECT rows of intercepted tunnels are hidden (--tunnels)\n", s->hidden);
}

static void footer(const struct seg_table *t, const struct seg_result *res,
		   const struct ls_opts *o, const struct rc_select *s)
{
	printf("%zu of %zu exchanges", res->total, live_rows(t));
	if (res->n < res->total)
		printf("; rows %zu-%zu shown (--offset, --limit)", o->q.offset + (res->n ? 1 : 0),
		       o->q.offset + res->n);
	if (s->hidden && !o->tunnels)
		printf("; %zu tunnel rows hidden (--tunnels)", s->hidden);
	if (s->frames_read)
		printf("; bodies of %zu exchanges read", s->frames_read);
	printf("\n");
}

/* The rows as one JSON array on stdout, written in pieces of about
 * LS_JSON_FLUSH bytes: a session of millions of rows never sits in memory
 * as text. 0, or -EIO when stdout fails. */
#define LS_JSON_FLUSH (1u << 20)
static int put_rows_json(const struct seg_table *t, const struct seg_result *res)
{
	struct rc_buf b = {0};
	rc_buf_puts(&b, "[");
	for (size_t k = 0; k < res->n && !b.oom; k++) {
		if (k)
			rc_buf_puts(&b, ",");
		rc_row_json(&b, &t->rows[res->idx[k]]);
		if (b.len >= LS_JSON_FLUSH || k + 1 == res->n) {
			fwrite(b.p, 1, b.len, stdout);
			b.len = 0;
		}
	}
	rc_buf_puts(&b, "]\n");
	if (!b.oom)
		fwrite(b.p, 1, b.len, stdout);
	int rc = b.oom ? -ENOMEM : 0;
	rc_buf_free(&b);
	if (rc < 0)
		fprintf(stderr, "ringcap ls: out of memory for the JSON output\n");
	return fflush(stdout) != 0 && rc == 0 ? -EIO : rc;
}

static int ls_main(int argc, char **argv, struct rc_filter *f);
static int ls_follow(const char *data, const char *id, const char *dir, struct ls_opts *o,
		     struct rc_filter *f, bool json, const struct seg_table *first);

int rc_cmd_ls(int argc, char **argv)
{
	struct rc_filter f;
	int rc = rc_filter_cli("ls", &f, &argc, argv) < 0 ? 2 : ls_main(argc, argv, &f);
	rc_filter_free(&f);
	return rc;
}

/* Loads the table and points q at s (tunnels hidden in the table unless
 * --tunnels). 0 or -errno. */
static int ls_load(const char *dir, struct ls_opts *o, struct rc_filter *f, bool json,
		   struct seg_table *t, struct rc_select *s, struct seg_query *q,
		   struct seg_report *rep)
{
	int rc = seg_table_load(dir, t, rep);
	if (rc < 0)
		return rc;
	*s = (struct rc_select){ .t = t, .session_dir = dir, .filter = f, .bodies = o->bodies };
	*q = o->q;
	if (!json && !o->tunnels && (rc = rc_select_hide_tunnels(s)) < 0)
		return rc;
	rc_select_query(s, q);
	return 0;
}

static int ls_main(int argc, char **argv, struct rc_filter *f)
{
	char usage[sizeof(ls_usage) + 2048];
	snprintf(usage, sizeof(usage), "%s%s", ls_usage, rc_filter_usage);
	struct rc_cli_common c = {0};
	struct ls_opts o = {0};
	int i = rc_cli_opts(argc, argv, &c, usage, ls_opts_table, &o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap ls: name one session\n%s", ls_usage);
		return 2;
	}
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("ls", c.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	struct seg_table t = {0};
	struct seg_report rep = {0};
	struct seg_result res = {0};
	struct rc_select s = {0};
	struct seg_query q;
	const char *search = o.q.search && o.q.search[0] ? o.q.search : NULL;
	int rc = ls_load(dir, &o, f, c.json, &t, &s, &q, &rep);
	if (rc == 0)
		rc = seg_query_run(&t, &q, &res);
	if (rc < 0) {
		fprintf(stderr, "ringcap ls: cannot read session '%s': %s\n", argv[i], strerror(-rc));
		goto out;
	}
	if (seg_report_damaged(&rep))
		fprintf(stderr, "ringcap ls: session '%s' is damaged (%s); %llu exchanges read from "
			"its segments (ringcap fsck --repair)\n", m.id, rep.first_damage,
			(unsigned long long)(rep.entries_recovered + rep.strings_recovered));
	if (c.json && !o.follow) {
		rc = put_rows_json(&t, &res);
	} else if (!c.json) {
		size_t uc = url_cols(&o);
		ls_header();
		for (size_t k = 0; k < res.n; k++)
			ls_row(&t.rows[res.idx[k]], uc);
		if (res.total == 0)
			why_nothing(&t, &m, &o, &s, search);
		footer(&t, &res, &o, &s);
	} else {
		struct rc_buf b = {0};
		for (size_t k = 0; k < res.n && !b.oom; k++) {
			rc_row_json(&b, &t.rows[res.idx[k]]);
			rc_buf_puts(&b, "\n");
		}
		fwrite(b.p ? b.p : "", 1, b.len, stdout);
		rc_buf_free(&b);
	}
	fflush(stdout);
	if (rc == 0 && o.follow)
		rc = ls_follow(c.data, m.id, dir, &o, f, c.json, &t);
out:
	rc_select_free(&s);
	seg_result_free(&res);
	seg_table_free(&t);
	return rc < 0 ? 1 : 0;
}

/* Rows seen so far: each worker's index rows arrive in file order, so a
 * count per worker says which rows of a new load are new. */
struct follow_cursor {
	size_t seen[SEG_WORKERS_MAX];
};

static void cursor_count(struct follow_cursor *cur, const struct seg_table *t)
{
	memset(cur, 0, sizeof(*cur));
	for (size_t i = 0; i < t->n; i++)
		if (t->rows[i].e.worker < SEG_WORKERS_MAX)
			cur->seen[t->rows[i].e.worker]++;
}

static int by_start(const void *a, const void *b)
{
	const struct seg_qrow *x = *(const struct seg_qrow *const *)a;
	const struct seg_qrow *y = *(const struct seg_qrow *const *)b;
	return x->e.start_ns < y->e.start_ns ? -1 : x->e.start_ns > y->e.start_ns;
}

/* Prints the rows of t past the cursor that match, in start order. */
static void follow_print(struct follow_cursor *cur, const struct seg_table *t,
			 const struct seg_query *q, bool json, size_t uc)
{
	size_t per[SEG_WORKERS_MAX] = {0}, n = 0;
	const struct seg_qrow **fresh = malloc((t->n ? t->n : 1) * sizeof(*fresh));
	for (size_t i = 0; fresh && i < t->n; i++) {
		const struct seg_qrow *r = &t->rows[i];
		uint16_t w = r->e.worker;
		if (w >= SEG_WORKERS_MAX || per[w]++ < cur->seen[w])
			continue;
		if (seg_query_match(q, r))
			fresh[n++] = r;
	}
	cursor_count(cur, t);
	if (fresh)
		qsort(fresh, n, sizeof(*fresh), by_start);
	for (size_t k = 0; k < n; k++) {
		if (!json) {
			ls_row(fresh[k], uc);
			continue;
		}
		struct rc_buf b = {0};
		rc_row_json(&b, fresh[k]);
		if (!b.oom)
			printf("%s\n", b.p);
		rc_buf_free(&b);
	}
	free(fresh);
	fflush(stdout);
}

static int ls_follow(const char *data, const char *id, const char *dir, struct ls_opts *o,
		     struct rc_filter *f, bool json, const struct seg_table *first)
{
	struct follow_cursor *cur = calloc(1, sizeof(*cur));
	if (cur == NULL)
		return -ENOMEM;
	cursor_count(cur, first);
	size_t uc = url_cols(o);
	const struct timespec tick = { 0, (long)LS_FOLLOW_MS * 1000000L };
	for (;;) {   /* until the session stops (or Ctrl-C) */
		nanosleep(&tick, NULL);
		struct ses_meta m;
		bool stopped = ses_load(data, id, &m) < 0 ||
			       m.state == SES_STOPPED;
		struct seg_table t = {0};
		struct rc_select s = {0};
		struct seg_query q;
		if (ls_load(dir, o, f, json, &t, &s, &q, NULL) == 0)
			follow_print(cur, &t, &q, json, uc);
		rc_select_free(&s);
		seg_table_free(&t);
		if (stopped) {
			if (!json)
				printf("the session stopped\n");
			break;
		}
	}
	free(cur);
	return 0;
}
