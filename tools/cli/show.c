/*
 * tools/cli/show.c - `ringcap show SESSION ID`: one exchange, decompressed
 * from its frames: the whole exchange as curl -v / HTTPie show it
 * (views/show.h), --headers for the heads only, --body for one raw body,
 * --curl for a command that repeats it, --json.
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
#include "tools/views/messages.h"
#include "tools/views/show.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"

struct show_opts {
	int body;   /* -1 none, SEG_DIR_REQ or SEG_DIR_RESP */
	bool curl, headers;
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

static int set_curl(void *ctx, const char *v)
{
	(void)v;
	((struct show_opts *)ctx)->curl = true;
	return 0;
}

static int set_headers(void *ctx, const char *v)
{
	(void)v;
	((struct show_opts *)ctx)->headers = true;
	return 0;
}

static int set_body(void *ctx, const char *v)
{
	struct show_opts *o = ctx;
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

static void show_text(const struct seg_exchange *x, bool heads_only)
{
	struct rc_buf b = {0};
	rc_exchange_text(&b, x, x->number ? x->number : x->id, heads_only);
	if (b.oom)
		fprintf(stderr, "ringcap show: out of memory\n");
	else
		fwrite(b.p, 1, b.len, stdout);
	rc_buf_free(&b);
}

static void show_json(const struct seg_exchange *x)
{
	struct rc_buf b = {0};
	rc_exchange_json(&b, x);
	rc_put_json(&b, "show");
}

/* Opens the exchange people call id (rc_exchange_find: no table load, so
 * one exchange of a big session opens in milliseconds). A deleted one is
 * not shown: -ESTALE, *deleted_ns its tombstone's time. */
static int open_shown(const char *dir, uint64_t id, const struct seg_open_opts *oo,
		      struct seg_exchange *x, uint64_t *deleted_ns)
{
	struct seg_entry e;
	int rc = rc_exchange_find(dir, id, &e);
	if (rc == 0)
		rc = seg_tombstoned(dir, e.id, deleted_ns);
	if (rc != 0)
		return rc < 0 ? rc : -ESTALE;
	return seg_open_entry(dir, &e, oo, x);
}

/* Lost deletions (persist/tomb.c): the exchange shown may be one of them. */
static void warn_tombstones(const char *dir, const char *sid)
{
	struct seg_report rep = {0};
	if (seg_tomb_check(dir, false, &rep) == 0 && rep.tombstones_lost)
		fprintf(stderr, "ringcap show: session '%s' lost %llu deletions (%s): a deleted "
			"exchange may show (ringcap fsck)\n", sid,
			(unsigned long long)rep.tombstones_lost, rep.first_damage);
}

/* No body is a NULL pointer: nothing to write (fwrite must not see it). */
static void write_body(const uint8_t *p, size_t n)
{
	if (n > 0)
		fwrite(p, 1, n, stdout);
}

int rc_cmd_show(int argc, char **argv)
{
	static const char usage[] =
		"usage: ringcap show SESSION ID [options]\n\n"
		"The whole exchange: request head and body, response head and body (JSON\n"
		"indented, binary as a hexdump excerpt), client, timings, sizes, error.\n\n"
		"  --data DIR                 data directory [$RINGCAP_DATA, else "
		RC_DATA_DIR_DEFAULT "]\n"
		"  --headers                  heads and summary only\n"
		"  --body request|response    that body, raw, to stdout\n"
		"  --curl                     a curl command that repeats the request\n"
		"  --json                     heads, sizes and timings as JSON\n";
	static const struct rc_opt opts[] = {
		{ "body", true, set_body }, { "curl", false, set_curl },
		{ "headers", false, set_headers }, { NULL, false, NULL },
	};
	struct rc_cli_common c = {0};
	struct show_opts o = { .body = -1 };
	int i = rc_cli_opts(argc, argv, &c, usage, opts, &o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	char *end;
	if (i != argc - 2) {
		fprintf(stderr, "ringcap show: name a session and an exchange id\n%s", usage);
		return 2;
	}
	if (argv[i + 1][0] < '0' || argv[i + 1][0] > '9' ||
	    (strtoull(argv[i + 1], &end, 10), *end != '\0')) {
		fprintf(stderr, "ringcap show: '%s' is not an exchange id (a number: the ID column "
			"of ringcap ls %s)\n", argv[i + 1], argv[i]);
		return 2;
	}
	uint64_t id = strtoull(argv[i + 1], NULL, 10);
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("show", c.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	struct seg_open_opts oo = { .body_max = { 64u << 20, 64u << 20 }, .msgs_max = RC_MSGS_MAX };
	struct seg_exchange x;
	uint64_t deleted_ns = 0;
	int rc = open_shown(dir, id, &oo, &x, &deleted_ns);
	if (rc == -ESTALE) {
		char when[40];
		rc_iso_time(deleted_ns, when, sizeof(when));
		fprintf(stderr, "ringcap show: exchange %llu was deleted (%s)\n",
			(unsigned long long)id, when);
		return 1;
	}
	warn_tombstones(dir, m.id);
	if (rc < 0) {
		fprintf(stderr, "ringcap show: exchange %llu: %s\n", (unsigned long long)id,
			rc == -ENOENT ? "not in the session (ringcap ls lists its ids)" :
			rc == -EBADMSG ? "its frames are damaged (ringcap fsck)" : strerror(-rc));
		return 1;
	}
	if (o.curl)
		show_curl(&x);
	else if (o.body >= 0)
		write_body(x.body[o.body], x.body_len[o.body]);
	else if (c.json)
		show_json(&x);
	else
		show_text(&x, o.headers);
	seg_exchange_free(&x);
	return 0;
}
