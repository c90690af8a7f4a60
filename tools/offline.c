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
#include "tools/offline.h"

#define SESSIONS_MAX 4096u

struct common {
	const char *data;
	bool json;
};

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void iso_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
}

static void addr_text(const struct seg_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "";
	if (a->family == 4)
		inet_ntop(AF_INET, a->addr, ip, sizeof(ip));
	else if (a->family == 6)
		inet_ntop(AF_INET6, a->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s", ip);
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

static int find_session(const struct common *c, const char *name, struct ses_meta *m,
			char *dir, size_t dir_len, const char *cmd)
{
	int rc = ses_find(c->data, name, m);
	if (rc < 0) {
		fprintf(stderr, "ringcap %s: no session '%s' in %s\n", cmd, name, c->data);
		return rc;
	}
	ses_dir(dir, dir_len, c->data, m->id);
	return 0;
}

/* Seconds from start to stop, or to now while the session runs. */
static double duration_s(const struct ses_meta *m)
{
	uint64_t end = m->stop_ns;
	if (end == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		end = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	return end > m->start_ns ? (double)(end - m->start_ns) / 1e9 : 0.0;
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
	if (c.json)
		printf("[");
	else
		printf("%-13s %-20s %-11s %-24s %10s %10s %12s\n", "ID", "NAME", "STATE", "START",
		       "DURATION", "EXCHANGES", "BYTES");
	for (size_t k = 0; k < n; k++) {
		struct ses_stats st = {0};
		ses_stats(c.data, s[k].id, &st);
		char start[40], stop[40] = "";
		iso_time(s[k].start_ns, start, sizeof(start));
		if (s[k].stop_ns)
			iso_time(s[k].stop_ns, stop, sizeof(stop));
		if (c.json) {
			printf("%s{\"id\":\"%s\",\"name\":", k ? "," : "", s[k].id);
			json_str(stdout, s[k].name, strlen(s[k].name));
			printf(",\"state\":\"%s\",\"start\":\"%s\",\"stop\":%s%s%s,"
			       "\"duration_s\":%.3f,\"exchanges\":%llu,\"bytes\":%llu}",
			       ses_state_name(s[k].state), start, stop[0] ? "\"" : "",
			       stop[0] ? stop : "null", stop[0] ? "\"" : "", duration_s(&s[k]),
			       (unsigned long long)st.exchanges, (unsigned long long)st.bytes);
		} else {
			printf("%-13s %-20s %-11s %-24s %9.0fs %10llu %12llu\n", s[k].id, s[k].name,
			       ses_state_name(s[k].state), start, duration_s(&s[k]),
			       (unsigned long long)st.exchanges, (unsigned long long)st.bytes);
		}
	}
	if (c.json)
		printf("]\n");
	free(s);
	return 0;
}

struct ls_opts {
	struct seg_query q;
};

static int ls_opt(void *ctx, int ch, const char *v)
{
	struct ls_opts *o = ctx;
	char *end;
	switch (ch) {
	case 's': {
		int s = seg_sort_parse(v);
		if (s < 0) {
			fprintf(stderr, "ringcap ls: --sort '%s': one of time, status, method, url, "
				"host, type, size, duration\n", v);
			return -1;
		}
		o->q.sort = (uint8_t)s;
		return 0;
	}
	case 'r': o->q.reverse = true; return 0;
	case 'q': o->q.search = v; return 0;
	case 'l':
	case 'o': {
		unsigned long long n = strtoull(v, &end, 10);
		if (*v == '\0' || *end != '\0') {
			fprintf(stderr, "ringcap ls: '%s' is not a number\n", v);
			return -1;
		}
		if (ch == 'l')
			o->q.limit = (size_t)n;
		else
			o->q.offset = (size_t)n;
		return 0;
	}
	default: return -1;
	}
}

static void ls_row(const struct seg_qrow *r, bool json, bool first)
{
	const struct seg_entry *e = &r->e;
	char t[40], client[INET6_ADDRSTRLEN];
	iso_time(e->start_ns, t, sizeof(t));
	addr_text(&e->client, client, sizeof(client));
	double ms = (double)e->duration_ns / 1e6;
	if (!json) {
		printf("%-6llu %3u %-7s %-6s %9llu %8.1f %s %-15s %.*s\n", (unsigned long long)e->id,
		       e->status, seg_method_name(e->method), seg_type_name(e->type),
		       (unsigned long long)e->resp_size, ms, t, client, (int)e->url_len, r->url);
		return;
	}
	printf("%s{\"id\":%llu,\"time\":\"%s\",\"method\":\"%s\",\"url\":", first ? "" : ",",
	       (unsigned long long)e->id, t, seg_method_name(e->method));
	json_str(stdout, r->url, e->url_len);
	printf(",\"host\":");
	json_str(stdout, r->host, e->host_len);
	printf(",\"status\":%u,\"type\":\"%s\",\"request_size\":%llu,\"response_size\":%llu,"
	       "\"duration_ms\":%.3f,\"client\":\"%s\",\"error\":\"%s\",\"truncated\":%s}",
	       e->status, seg_type_name(e->type), (unsigned long long)e->req_size,
	       (unsigned long long)e->resp_size, ms, client, seg_error_name(e->error),
	       (e->flags & (SEG_F_REQ_TRUNC | SEG_F_RESP_TRUNC)) ? "true" : "false");
}

int rc_cmd_ls(int argc, char **argv)
{
	static const char usage[] =
		"usage: ringcap ls SESSION [--data DIR] [--json] [--sort time|status|method|url|"
		"host|type|size|duration]\n       [--reverse] [--search TEXT] [--limit N] [--offset N]\n";
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
	if (find_session(&c, argv[i], &m, dir, sizeof(dir), "ls") < 0)
		return 1;
	struct seg_table t = {0};
	struct seg_report rep = {0};
	struct seg_result res = {0};
	if (seg_table_load(dir, &t, &rep) < 0 || seg_query_run(&t, &o.q, &res) < 0) {
		fprintf(stderr, "ringcap ls: cannot read session '%s'\n", argv[i]);
		seg_table_free(&t);
		return 1;
	}
	if (c.json)
		printf("[");
	else
		printf("%-6s %3s %-7s %-6s %9s %8s %-24s %-15s %s\n", "ID", "ST", "METHOD", "TYPE",
		       "SIZE", "MS", "TIME", "CLIENT", "URL");
	for (size_t k = 0; k < res.n; k++)
		ls_row(&t.rows[res.idx[k]], c.json, k == 0);
	if (c.json)
		printf("]\n");
	if (rep.entries_bad || rep.frames_bad)
		fprintf(stderr, "ringcap ls: %llu damaged index entries skipped (ringcap fsck)\n",
			(unsigned long long)(rep.entries_bad + rep.frames_bad));
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
	char t[40], client[INET6_ADDRSTRLEN];
	iso_time(x->start_ns, t, sizeof(t));
	addr_text(&x->client, client, sizeof(client));
	printf("{\"id\":%llu,\"time\":\"%s\",\"method\":", (unsigned long long)x->id, t);
	json_str(stdout, x->method_text, strlen(x->method_text));
	printf(",\"url\":");
	json_str(stdout, x->url, strlen(x->url));
	printf(",\"host\":");
	json_str(stdout, x->host, strlen(x->host));
	printf(",\"client_name\":");   /* --identify-by auth; "" when none */
	json_str(stdout, x->client_name ? x->client_name : "",
		 x->client_name ? strlen(x->client_name) : 0);
	printf(",\"status\":%u,\"type\":\"%s\",\"client\":\"%s\",\"error\":\"%s\","
	       "\"request_head\":", x->status, seg_type_name(x->type), client,
	       seg_error_name(x->error));
	json_str(stdout, (const char *)x->req_head, x->req_head_len);
	printf(",\"response_head\":");
	json_str(stdout, (const char *)x->resp_head, x->resp_head_len);
	printf(",\"request_body_bytes\":%zu,\"response_body_bytes\":%zu,"
	       "\"timings_ms\":{\"dns\":%.3f,\"connect\":%.3f,\"first_byte\":%.3f,\"total\":%.3f}}\n",
	       x->body_len[0], x->body_len[1], x->t.dns_ns / 1e6, x->t.connect_ns / 1e6,
	       x->t.ttfb_ns / 1e6, x->t.total_ns / 1e6);
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
	if (find_session(&c, argv[i], &m, dir, sizeof(dir), "show") < 0)
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

static int fsck_one(const char *dir, bool repair, bool json);

static int fsck_opt(void *ctx, int ch, const char *v)
{
	(void)v;
	if (ch != 'R')
		return -1;
	*(bool *)ctx = true;
	return 0;
}

int rc_cmd_fsck(int argc, char **argv)
{
	static const char usage[] = "usage: ringcap fsck SESSION|DATA_DIR [--data DIR] [--repair] [--json]\n";
	static const struct option extra[] = { { "repair", no_argument, NULL, 'R' }, { 0 } };
	struct common c = {0};
	bool repair = false;
	int i = parse(argc, argv, &c, usage, extra, fsck_opt, &repair);
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
		struct ses_meta *all = calloc(SESSIONS_MAX, sizeof(*all));
		size_t n = 0;
		if (all == NULL || ses_list(argv[i], all, SESSIONS_MAX, &n) < 0 || n == 0) {
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
