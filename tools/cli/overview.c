/*
 * tools/cli/overview.c - `ringcap overview SESSION`: the views' overview printed as a table
 * whose bars (Unicode eighth blocks) fill the terminal's width, and the
 * series as a wrapped sparkline; --json prints the API's JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "persist/ses.h"
#include "tools/views/filter.h"
#include "tools/lib/fmt.h"
#include "tools/views/overview.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"

/* Terminal width bounds: below 60 columns the summary line and a table
 * with a bar no longer fit (narrower terminals are treated as 60); wider
 * than 400 is unreadable. Columns of a table row besides key and bar: */
#define OV_COLS_MIN 60u
#define OV_FIXED_COLS 39u
#define OV_BAR_MIN 8u
#define OV_COLS_MAX 400u
#define OV_KEY_COLS_MAX 40u
_Static_assert(OV_COLS_MIN >= OV_FIXED_COLS + OV_BAR_MIN + 6, "a key column of 6 at least");

static unsigned term_cols(void)
{
	struct winsize ws;
	unsigned long c = 80;
	const char *env = getenv("COLUMNS");
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		c = ws.ws_col;
	else if (env && *env)
		c = strtoul(env, NULL, 10);
	return c < OV_COLS_MIN ? OV_COLS_MIN : c > OV_COLS_MAX ? OV_COLS_MAX : (unsigned)c;
}

/* A bar of count/max of w columns, in eighths of a block. */
static void bar(uint64_t count, uint64_t max, unsigned w)
{
	static const char *const part[8] = { "", "\u258f", "\u258e", "\u258d",
					     "\u258c", "\u258b", "\u258a", "\u2589" };
	uint64_t eighths = max ? (uint64_t)((double)count / (double)max * w * 8.0 + 0.5) : 0;
	if (eighths == 0 && count > 0)
		eighths = 1;
	for (uint64_t i = 0; i < eighths / 8; i++)
		fputs("\u2588", stdout);
	fputs(part[eighths % 8], stdout);
}

static void print_groups(const struct rc_overview *o, unsigned cols)
{
	static const char *const head[SEG_G_COUNT] = { "METHOD", "DOMAIN", "TYPE", "STATUS" };
	/* the key column takes what the keys need, up to what leaves a bar */
	size_t kmax = cols - OV_FIXED_COLS - OV_BAR_MIN;
	kmax = kmax < OV_KEY_COLS_MAX ? kmax : OV_KEY_COLS_MAX;
	size_t kw = strlen(head[o->by]);
	char key[4 * OV_KEY_COLS_MAX + 4], rq[24], rs[24];
	uint64_t max = 0;
	for (size_t i = 0; i < o->n; i++) {
		size_t w = rc_clean(key, sizeof(key), o->g[i].key, strlen(o->g[i].key), kmax);
		kw = w > kw ? w : kw;
		max = o->g[i].count > max ? o->g[i].count : max;
	}
	unsigned bw = cols - (unsigned)kw - OV_FIXED_COLS;
	printf("%-*s %8s %6s %10s %10s\n", (int)kw, head[o->by], "COUNT", "SHARE", "REQUEST",
	       "RESPONSE");
	for (size_t i = 0; i < o->n; i++) {
		const struct rc_overview_group *g = &o->g[i];
		size_t w = rc_clean(key, sizeof(key), g->key[0] ? g->key : "(none)",
				    strlen(g->key[0] ? g->key : "(none)"), kw);
		rc_human_bytes(g->request_bytes, rq, sizeof(rq));
		rc_human_bytes(g->response_bytes, rs, sizeof(rs));
		printf("%s%*s %8llu %5.1f%% %10s %10s ", key, (int)(kw - w), "",
		       (unsigned long long)g->count, 100.0 * (double)g->count / (double)o->total, rq,
		       rs);
		bar(g->count, max, bw);
		putchar('\n');
	}
}

static void interval_text(uint64_t ns, char *buf, size_t n)
{
	uint64_t ms = ns / 1000000u;
	if (ms % 86400000u == 0)
		snprintf(buf, n, "%llu d", (unsigned long long)(ms / 86400000u));
	else if (ms % 3600000u == 0)
		snprintf(buf, n, "%llu h", (unsigned long long)(ms / 3600000u));
	else if (ms % 60000u == 0)
		snprintf(buf, n, "%llu min", (unsigned long long)(ms / 60000u));
	else if (ms % 1000u == 0)
		snprintf(buf, n, "%llu s", (unsigned long long)(ms / 1000u));
	else
		snprintf(buf, n, "%llu ms", (unsigned long long)ms);
}

/* The series as sparkline rows, each led by the UTC time of its first point. */
static void print_series(const struct rc_overview *o, unsigned cols)
{
	static const char *const lvl[9] = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
					    "\u2585", "\u2586", "\u2587", "\u2588" };
	uint64_t max = 0;
	for (size_t i = 0; i < o->npoints; i++)
		max = o->points[i] > max ? o->points[i] : max;
	char iv[32];
	interval_text(o->interval_ns, iv, sizeof(iv));
	printf("\nrequests per %s (peak %llu), UTC:\n", iv, (unsigned long long)max);
	size_t per_row = cols - 20;
	for (size_t i = 0; i < o->npoints; i += per_row) {
		char t[40];
		rc_iso_time(o->t0_ns + i * o->interval_ns, t, sizeof(t));
		t[19] = '\0';
		printf("%s ", t);
		for (size_t k = i; k < o->npoints && k < i + per_row; k++) {
			uint64_t c = o->points[k];
			size_t l = c == 0 || max == 0 ? 0 : (size_t)((c * 8 + max - 1) / max);
			fputs(lvl[l > 8 ? 8 : l], stdout);
		}
		putchar('\n');
	}
}

struct ov_opts {
	const char *by, *search;
	uint64_t interval_ms;
};

static int set_by(void *ctx, const char *v)
{
	struct ov_opts *o = ctx;
	if (rc_overview_by(v) < 0) {
		fprintf(stderr, "ringcap overview: --by '%s': method, domain, type or status\n", v);
		return -1;
	}
	o->by = v;
	return 0;
}

static int set_search(void *ctx, const char *v)
{
	((struct ov_opts *)ctx)->search = v;
	return 0;
}

static int set_interval(void *ctx, const char *v)
{
	char *end;
	double s = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || !(s >= 0.001) || s > 1e9) {
		fprintf(stderr, "ringcap overview: --interval '%s': seconds, at least 0.001\n", v);
		return -1;
	}
	((struct ov_opts *)ctx)->interval_ms = (uint64_t)(s * 1000.0 + 0.5);
	return 0;
}

static const struct rc_opt ov_table[] = {
	{ "by", true, set_by }, { "interval", true, set_interval },
	{ "search", true, set_search }, { NULL, false, NULL },
};

static int overview_main(int argc, char **argv, struct rc_filter *f);

int rc_cmd_overview(int argc, char **argv)
{
	struct rc_filter f;
	int rc = rc_filter_cli("overview", &f, &argc, argv) < 0 ? 2 : overview_main(argc, argv, &f);
	rc_filter_free(&f);
	return rc;
}

static int overview_main(int argc, char **argv, struct rc_filter *f)
{
	static const char usage[] =
		"usage: ringcap overview SESSION [--by method|domain|type|status] [--json]\n"
		"       [--interval SECONDS] [--search TEXT] [--data DIR] [filter flags]\n"
		RC_USAGE_DATA;
	struct ov_opts o = { .by = "method" };
	struct rc_cli_common c = {0};
	int i = rc_cli_opts(argc, argv, &c, usage, ov_table, &o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap overview: name one session\n%s", usage);
		return 2;
	}
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("overview", c.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	struct seg_table t;
	struct seg_query q = { .search = o.search };
	rc_filter_query(f, dir, &q);
	struct rc_overview ov;
	int rc = seg_table_load(dir, &t, NULL);
	if (rc == 0) {
		rc = rc_overview_compute(&t, &q, (uint8_t)rc_overview_by(o.by),
					 o.interval_ms * 1000000u, &ov);
		seg_table_free(&t);
	}
	if (rc < 0) {
		fprintf(stderr, "ringcap overview: session '%s': %s\n", argv[i],
			rc == -ERANGE ? "--interval is too small for the session's span"
				      : strerror(-rc));
		return 1;
	}
	if (c.json) {
		rc_overview_write_json(&ov, stdout);
	} else {
		char rq[24], rs[24];
		unsigned cols = term_cols();
		rc_human_bytes(ov.request_bytes, rq, sizeof(rq));
		rc_human_bytes(ov.response_bytes, rs, sizeof(rs));
		printf("session %s (%s)\n%llu exchanges, %s requests, %s responses\n\n", m.name,
		       m.id, (unsigned long long)ov.total, rq, rs);
		if (ov.total > 0) {
			print_groups(&ov, cols);
			print_series(&ov, cols);
		}
	}
	rc_overview_free(&ov);
	return 0;
}
