/*
 * tools/cli/cookies.c - `ringcap cookies SESSION`: the cookie records of tools/views/cookies.c as
 * a table, JSON (--json) or a Netscape cookie jar for curl (--jar FILE).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/views/cookie.h"
#include "tools/views/cookies.h"
#include "tools/lib/fmt.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"

static int set_jar(void *ctx, const char *v)
{
	*(const char **)ctx = v;
	return 0;
}

static const struct rc_opt ck_opts[] = { { "jar", true, set_jar }, { NULL, false, NULL } };

/* One column: cleaned of control bytes, cut to w columns, padded. */
static void col(const char *s, size_t w)
{
	char buf[4 * 64 + 4];
	size_t used = rc_clean(buf, sizeof(buf), s, strlen(s), w);
	fputs(buf, stdout);
	for (size_t i = used; i <= w; i++)
		putchar(' ');
}

static void ck_table(const struct rc_cookie_list *l)
{
	bool foreign = false;
	printf("%-4s %-24s %-28s %-12s %5s %-19s %s\n", "DIR", "DOMAIN", "NAME", "PATH", "COUNT",
	       "LAST SEEN", "VALUE");
	for (size_t i = 0; i < l->n; i++) {
		const struct rc_cookie *c = &l->c[i];
		char last[40];
		rc_iso_time(c->last_seen_ns, last, sizeof(last));
		last[19] = '\0'; /* to the second */
		col(c->dir == RC_COOKIE_REQUEST ? "req" : c->foreign ? "set!" : "set", 4);
		foreign |= c->foreign;
		col(c->domain, 24);
		col(c->name, 28);
		col(c->path, 12);
		printf("%5llu %s ", (unsigned long long)c->count, last);
		char v[4 * 64 + 4];
		rc_clean(v, sizeof(v), c->value, strlen(c->value), 60);
		puts(v); /* the last column: no padding */
	}
	if (foreign)
		printf("set!: its Domain does not match the host that set it (a browser rejects it)\n");
}

int rc_cmd_cookies(int argc, char **argv)
{
	static const char usage[] =
		"usage: ringcap cookies SESSION [--data DIR] [--json] [--jar FILE]\n"
		"  cookies from the exchanges captured with cookies on; --jar writes a\n"
		"  Netscape cookies.txt (curl -b FILE), '-' for standard output\n" RC_USAGE_DATA;
	struct rc_cli_common o = {0};
	const char *jar = NULL;
	int i = rc_cli_opts(argc, argv, &o, usage, ck_opts, &jar);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap cookies: name one session\n%s", usage);
		return 2;
	}
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("cookies", o.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	struct rc_cookie_list l;
	int rc = rc_cookies_load(dir, &l);
	if (rc < 0) {
		fprintf(stderr, "ringcap cookies: cannot read session '%s': %s\n", argv[i],
			strerror(-rc));
		return 1;
	}
	int code = 0;
	if (jar) {
		bool out = strcmp(jar, "-") == 0;
		FILE *f = out ? stdout : fopen(jar, "w");
		if (f == NULL) {
			fprintf(stderr, "ringcap cookies: --jar %s: %s\n", jar, strerror(errno));
			code = 1;
		} else {
			size_t n = rc_cookies_jar(&l, (int64_t)time(NULL), f);
			if ((!out && fclose(f) != 0) || (out && fflush(f) != 0)) {
				fprintf(stderr, "ringcap cookies: --jar %s: %s\n", jar, strerror(errno));
				code = 1;
			} else if (!out) {
				fprintf(stderr, "ringcap cookies: %zu cookies written to %s\n", n, jar);
			}
		}
	} else if (o.json) {
		rc_cookies_json(&l, stdout);
	} else {
		ck_table(&l);
	}
	if (l.unreadable || l.over_limit)
		fprintf(stderr, "ringcap cookies: %llu exchanges unreadable (ringcap fsck), %llu "
			"sightings past %u records left out\n", (unsigned long long)l.unreadable,
			(unsigned long long)l.over_limit, RC_COOKIES_MAX);
	rc_cookies_free(&l);
	return code;
}
