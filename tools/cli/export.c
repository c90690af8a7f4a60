/*
 * tools/cli/export.c - `ringcap export SESSION --format postman|har|curl [-o FILE]`:
 * a session's exchanges (ls's selection: --ids, the filter flags, --search,
 * --sort, --reverse, --limit, --offset) as a Postman collection, a HAR
 * log or curl commands (tools/views/export.h). Output goes to stdout, or
 * to FILE through a temporary file renamed at the end (a failed export
 * leaves no half file). On a terminal, a progress line on stderr once the
 * export has run for a second.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/ses.h"
#include "tools/views/export.h"
#include "tools/views/filter.h"
#include "tools/views/listing.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"

struct export_opts {
	struct seg_query q;
	struct rc_export_opts o;
	struct rc_ids ids;
	bool have_ids, have_format;
	const char *out;
};

struct progress {
	struct timespec t0;
	bool shown, tty;
};

static const char usage[] =
	"usage: ringcap export SESSION --format postman|har|curl [-o FILE] [--data DIR]\n"
	"       [--ids 3,7,10-20] [filters] [--search TEXT] [--sort KEY] [--reverse]\n"
	"       [--limit N] [--offset N]\n"
	"       collection: [--group domain|endpoint|domain,endpoint|none] [--name NAME]\n"
	"                   [--base-url-variables] [--with-tests]\n" RC_USAGE_DATA;

static int query_opt(struct export_opts *e, const char *key, const char *v)
{
	char err[256];
	if (rc_query_param(&e->q, key, v, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "ringcap export: --%s\n", err);
	return -1;
}

static int set_sort(void *ctx, const char *v) { return query_opt(ctx, "sort", v); }
static int set_reverse(void *ctx, const char *v) { return query_opt(ctx, "reverse", v); }
static int set_search(void *ctx, const char *v) { return query_opt(ctx, "search", v); }
static int set_limit(void *ctx, const char *v) { return query_opt(ctx, "limit", v); }
static int set_offset(void *ctx, const char *v) { return query_opt(ctx, "offset", v); }

static int set_format(void *ctx, const char *v)
{
	struct export_opts *e = ctx;
	int f = rc_format_parse(v);
	if (f < 0) {
		fprintf(stderr, "ringcap export: --format '%s': postman, har or curl\n", v);
		return -1;
	}
	e->o.format = (uint8_t)f;
	e->have_format = true;
	return 0;
}

static int set_group(void *ctx, const char *v)
{
	struct export_opts *e = ctx;
	if (rc_group_parse(v, &e->o.group) == 0)
		return 0;
	fprintf(stderr, "ringcap export: --group '%s': domain, endpoint, domain,endpoint or none\n",
		v);
	return -1;
}

static int set_ids(void *ctx, const char *v)
{
	struct export_opts *e = ctx;
	char err[256];
	rc_ids_free(&e->ids);
	if (rc_ids_parse(v, &e->ids, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap export: %s\n", err);
		return -1;
	}
	e->have_ids = true;
	return 0;
}

static int set_output(void *ctx, const char *v) { ((struct export_opts *)ctx)->out = v; return 0; }
static int set_name(void *ctx, const char *v) { ((struct export_opts *)ctx)->o.name = v; return 0; }

static int set_base_vars(void *ctx, const char *v)
{
	(void)v;
	((struct export_opts *)ctx)->o.base_url_variables = true;
	return 0;
}

static int set_tests(void *ctx, const char *v)
{
	(void)v;
	((struct export_opts *)ctx)->o.with_tests = true;
	return 0;
}

static void progress(void *ctx, size_t done, size_t total)
{
	struct progress *p = ctx;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double el = (double)(now.tv_sec - p->t0.tv_sec) + (double)(now.tv_nsec - p->t0.tv_nsec) / 1e9;
	if (!p->tty || (el < 1.0 && !p->shown))
		return;
	fprintf(stderr, "\rringcap export: %zu of %zu exchanges (%.0f/s)%s", done, total,
		el > 0 ? (double)done / el : 0.0, done == total ? "\n" : "");
	p->shown = done != total;
}

static int export_run(struct export_opts *e, const char *dir, const struct ses_meta *m)
{
	char tmp[4096] = "";
	FILE *f = stdout;
	struct stat sb;
	/* Only a regular file (or a new one) goes through a temporary file and
	 * rename: a device or a pipe (-o /dev/null, -o /dev/stdout) is written
	 * in place, never replaced. */
	bool replace = e->out && (stat(e->out, &sb) < 0 ? errno == ENOENT : S_ISREG(sb.st_mode));
	if (e->out && !replace) {
		f = fopen(e->out, "wb");
		if (f == NULL) {
			fprintf(stderr, "ringcap export: cannot write '%s': %s\n", e->out,
				strerror(errno));
			return 1;
		}
	} else if (e->out) {
		snprintf(tmp, sizeof(tmp), "%s.part-%d", e->out, (int)getpid());
		f = fopen(tmp, "wb");
		if (f == NULL) {
			fprintf(stderr, "ringcap export: cannot write '%s': %s\n", tmp, strerror(errno));
			return 1;
		}
	}
	/* The export hands over RC_EXPORT_FLUSH bytes at a time: a file of
	 * ours gets a buffer that size (stdio's 4 KiB split each in 16). */
	char *fbuf = e->out ? malloc(RC_EXPORT_FLUSH) : NULL;
	if (fbuf)
		setvbuf(f, fbuf, _IOFBF, RC_EXPORT_FLUSH);
	struct progress p = { .tty = isatty(STDERR_FILENO) == 1 };
	clock_gettime(CLOCK_MONOTONIC, &p.t0);
	e->o.progress = progress;
	e->o.progress_ctx = &p;
	struct rc_sink sink = { rc_sink_file_write, f };
	struct rc_export_stats st;
	int rc = rc_export_session(dir, m, &e->q, e->have_ids ? &e->ids : NULL, &e->o, &sink, &st);
	if (fflush(f) != 0 && rc == 0)
		rc = -EIO;
	if (e->out && fclose(f) != 0 && rc == 0)
		rc = -EIO;
	free(fbuf);
	if (rc == 0 && replace && rename(tmp, e->out) < 0)
		rc = -errno;
	if (rc < 0) {
		if (replace)
			unlink(tmp);
		fprintf(stderr, "ringcap export: %s\n", rc == -EIO ? "write failed" : strerror(-rc));
		return 1;
	}
	if (st.unreadable)
		fprintf(stderr, "ringcap export: %zu exchanges skipped: their frames are damaged "
			"(ringcap fsck)\n", st.unreadable);
	return 0;
}

static int export_main(int argc, char **argv, struct rc_filter *f)
{
	static const struct rc_opt opts[] = {
		{ "format", true, set_format },     { "output", true, set_output },
		{ "ids", true, set_ids },           { "group", true, set_group },
		{ "name", true, set_name },         { "base-url-variables", false, set_base_vars },
		{ "with-tests", false, set_tests }, { "sort", true, set_sort },
		{ "reverse", false, set_reverse },  { "search", true, set_search },
		{ "limit", true, set_limit },       { "offset", true, set_offset },
		{ NULL, false, NULL },
	};
	for (int k = 1; k < argc; k++)
		if (strcmp(argv[k], "-o") == 0)
			argv[k] = (char *)"--output";
	struct rc_cli_common c = {0};
	struct export_opts e = { .o = { .group = RC_GROUP_DOMAIN } };
	int i = rc_cli_opts(argc, argv, &c, usage, opts, &e);
	int rc = 2;
	if (i == -2) {
		printf("\n%s", rc_filter_usage);
		rc = 0;
	} else if (i < 0) {
		rc = 2;
	} else if (i != argc - 1 || !e.have_format) {
		fprintf(stderr, "ringcap export: name one session and a --format\n%s", usage);
	} else {
		struct ses_meta m;
		char dir[4096];
		rc = 1;
		if (rc_session_dir("export", c.data, argv[i], &m, dir, sizeof(dir)) == 0) {
			rc_filter_query(f, dir, &e.q);
			rc = export_run(&e, dir, &m);
		}
	}
	rc_ids_free(&e.ids);
	return rc;
}

int rc_cmd_export(int argc, char **argv)
{
	struct rc_filter f;
	int rc = rc_filter_cli("export", &f, &argc, argv) < 0 ? 2 : export_main(argc, argv, &f);
	rc_filter_free(&f);
	return rc;
}
