/*
 * tools/cli/ship.c - `ringcap ship`: options of the ClickHouse shipper
 * (tools/ship/ship.h), one table row each; SIGINT/SIGTERM let the batch in
 * flight finish, then the report is printed.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/opts.h"
#include "tools/lib/rc-limits.h"
#include "tools/ship/chttp.h"
#include "tools/ship/ship.h"
#include "tools/views/ship_row.h"

#define SHIP_SESSIONS_MAX 64u /* --session given this often at most */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct ship_opts {
	struct rc_ship_cfg c;
	const char *sessions[SHIP_SESSIONS_MAX];
	char box[256];
	bool schema;
	size_t nice;  /* the shipper's scheduling niceness, with --no-idle */
	bool no_idle; /* compete at that niceness instead of SCHED_IDLE */
};

enum kind { K_STR, K_FLAG, K_SIZE, K_DUR, K_COUNT, K_SESSION, K_FORMAT };

struct row {
	const char *name, *arg, *help;
	enum kind kind;
	size_t off; /* into struct ship_opts */
	uint64_t min, max;
};

#define O(f) offsetof(struct ship_opts, f)
static const struct row rows[] = {
	{ "clickhouse", "URL", "ClickHouse HTTP interface, http[s]://HOST:PORT", K_STR, O(c.url), 0, 0 },
	{ "ca", "FILE", "https: trust this CA too (PEM)", K_STR, O(c.ca_file), 0, 0 },
	{ "insecure", "", "https: do not verify ClickHouse's certificate", K_FLAG, O(c.insecure), 0, 0 },
	{ "database", "D", "database [" RC_SHIP_DB_DEFAULT "], created if missing", K_STR, O(c.db), 0, 0 },
	{ "table", "T", "table [" RC_SHIP_TABLE_DEFAULT "], created if missing", K_STR, O(c.table), 0, 0 },
	{ "box", "NAME", "this appliance's name in every row [host name]", K_STR, O(c.box), 0, 0 },
	{ "session", "S", "a session (id or name) to ship; repeatable [all]", K_SESSION, 0, 0, 0 },
	{ "data", "DIR", "data directory [$RINGCAP_DATA, else " RC_DATA_DIR_DEFAULT "]", K_STR, O(c.data), 0, 0 },
	{ "follow", "", "keep shipping new exchanges and new sessions", K_FLAG, O(c.follow), 0, 0 },
	{ "bodies", "", "ship bodies too, up to --body-max", K_FLAG, O(c.bodies), 0, 0 },
	{ "format", "F", "rows as rowbinary, tsv or json (JSONEachRow) [rowbinary]", K_FORMAT, O(c.format), 0, 0 },
	{ "body-max", "SIZE", "body bytes per direction with --bodies [64KiB]", K_SIZE, O(c.body_max), 0, 1u << 30 },
	{ "batch-rows", "N", "rows per insert at most [50000]", K_COUNT, O(c.batch_rows), 1, 1000000 },
	{ "batch-bytes", "SIZE", "bytes per insert at most [16MiB]", K_SIZE, O(c.batch_bytes), 4096, 1u << 30 },
	{ "poll", "DUR", "--follow: look for new exchanges this often [1s]", K_DUR, O(c.poll_ms), 10, 3600000 },
	{ "retry-max", "DUR", "back-off ceiling while ClickHouse is away [30s]", K_DUR, O(c.retry_max_ms), 100, 3600000 },
	{ "timeout", "DUR", "connect and I/O silence towards ClickHouse [30s]", K_DUR, O(c.timeout_ms), 100, 3600000 },
	{ "no-idle", "", "compete for the CPU at --nice; by default the shipper runs on CPU time nothing else wants (SCHED_IDLE): it never slows the data plane beside it and falls behind while that saturates the cores", K_FLAG, O(no_idle), 0, 0 },
	{ "nice", "N", "with --no-idle: niceness 0..19 [10]", K_COUNT, O(nice), 0, 19 },
	{ "json", "", "the report (and, with --follow, a line per pass) as JSON", K_FLAG, O(c.json), 0, 0 },
	{ "print-schema", "", "print the CREATE statements and exit", K_FLAG, O(schema), 0, 0 },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: ringcap ship --clickhouse URL [options]\n\n");
	for (size_t i = 0; i < NROWS; i++) {
		char left[40];
		snprintf(left, sizeof(left), "--%s%s%s", rows[i].name, *rows[i].arg ? " " : "",
			 rows[i].arg);
		fprintf(f, "  %-22s %s\n", left, rows[i].help);
	}
	fprintf(f, "\nexit: 0 shipped, 1 failed, 2 usage, 3 stopped by a signal before done\n");
}

/* One setter per kind; the row says where the value goes. */
static int set(const struct row *r, const char *v, struct ship_opts *o)
{
	char err[160];
	uint64_t n = 0;
	void *dst = (char *)o + r->off;
	switch (r->kind) {
	case K_STR: *(const char **)dst = v; return 0;
	case K_FLAG: *(bool *)dst = true; return 0;
	case K_SESSION:
		if (o->c.nsessions == SHIP_SESSIONS_MAX) {
			fprintf(stderr, "ringcap ship: --session given more than %u times\n",
				SHIP_SESSIONS_MAX);
			return -1;
		}
		o->sessions[o->c.nsessions++] = v;
		return 0;
	case K_FORMAT:
		if (rc_ship_format_parse(v, &o->c.format) == 0)
			return 0;
		snprintf(err, sizeof(err), "'%s': expected rowbinary, tsv or json", v);
		goto bad;
	case K_SIZE: if (rc_parse_size(v, &n, err, sizeof(err)) < 0) goto bad; break;
	case K_DUR: if (rc_parse_duration_ms(v, &n, err, sizeof(err)) < 0) goto bad; break;
	case K_COUNT: if (rc_parse_uint(v, &n, err, sizeof(err)) < 0) goto bad; break;
	}
	if (n < r->min || n > r->max) {
		snprintf(err, sizeof(err), "'%s' out of range %llu..%llu", v,
			 (unsigned long long)r->min, (unsigned long long)r->max);
		goto bad;
	}
	if (r->kind == K_DUR && r->off == O(c.timeout_ms))
		*(int *)dst = (int)n;
	else if (r->kind == K_DUR)
		*(uint64_t *)dst = n;
	else
		*(size_t *)dst = (size_t)n;
	return 0;
bad:
	fprintf(stderr, "ringcap ship: --%s: %s\n", r->name, err);
	return -1;
}

static int parse(int argc, char **argv, struct ship_opts *o)
{
	struct option lo[NROWS + 2];
	for (size_t i = 0; i < NROWS; i++)
		lo[i] = (struct option){ rows[i].name,
					 rows[i].kind == K_FLAG ? no_argument : required_argument,
					 NULL, (int)(i + 256) };
	lo[NROWS] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[NROWS + 1] = (struct option){ 0 };
	optind = 1;
	opterr = 0;
	for (int ch; (ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1;) {
		if (ch == 'h') {
			usage(stdout);
			return 1;
		}
		if (ch == '?' || ch == ':') {
			fprintf(stderr, "ringcap ship: %s option '%s'\n", ch == ':' ?
				"missing value for" : "unknown", argv[optind - 1]);
			usage(stderr);
			return -1;
		}
		if (set(&rows[ch - 256], optarg, o) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "ringcap ship: unexpected '%s' (sessions are named with --session)\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

static int check(struct ship_opts *o)
{
	if (!rc_ship_ident_ok(o->c.db) || !rc_ship_ident_ok(o->c.table)) {
		fprintf(stderr, "ringcap ship: --database and --table take plain identifiers "
			"([A-Za-z_][A-Za-z0-9_]*), not '%s.%s'\n", o->c.db, o->c.table);
		return -1;
	}
	if (o->schema)
		return 0;
	if (o->c.url == NULL) {
		fprintf(stderr, "ringcap ship: --clickhouse URL is required\n");
		return -1;
	}
	struct rc_ch probe;
	char err[256];
	int rc = rc_ch_init(&probe, o->c.url, 1000, o->c.ca_file, o->c.insecure, err, sizeof(err));
	rc_ch_free(&probe);
	if (rc < 0) {
		fprintf(stderr, "ringcap ship: --clickhouse %s\n", err);
		return -1;
	}
	if (o->c.box == NULL) {
		if (gethostname(o->box, sizeof(o->box) - 1) < 0)
			snprintf(o->box, sizeof(o->box), "ringcap");
		o->c.box = o->box;
	}
	return 0;
}

int rc_cmd_ship(int argc, char **argv)
{
	struct ship_opts o = { .c = {
		.data = rc_env_data(), .db = RC_SHIP_DB_DEFAULT, .table = RC_SHIP_TABLE_DEFAULT,
		.format = RC_SHIP_ROWBINARY,
		.body_max = RC_SHIP_BODY_MAX_DEFAULT, .batch_rows = RC_SHIP_BATCH_ROWS_DEFAULT,
		.batch_bytes = RC_SHIP_BATCH_BYTES_DEFAULT, .poll_ms = RC_SHIP_POLL_MS_DEFAULT,
		.retry_max_ms = RC_SHIP_RETRY_MAX_MS_DEFAULT,
		.timeout_ms = RC_SHIP_TIMEOUT_MS_DEFAULT }, .nice = RC_SHIP_NICE_DEFAULT };
	int rc = parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (check(&o) < 0)
		return 2;
	if (o.schema) {
		struct rc_buf b = { 0 };
		rc_ship_schema(&b, o.c.db, o.c.table, true);
		fputs(b.p ? b.p : "", stdout);
		rc_buf_free(&b);
		return 0;
	}
	/* Before the sender thread exists: it inherits the policy and the
	 * niceness. A failure only costs the data plane some CPU: said, not
	 * fatal. (bench/ship.sh: the data plane's req/s beside a follower.) */
	struct sched_param sp = { 0 };
	if (!o.no_idle && sched_setscheduler(0, SCHED_IDLE, &sp) < 0)
		fprintf(stderr, "ringcap ship: SCHED_IDLE: %s\n", strerror(errno));
	if (setpriority(PRIO_PROCESS, 0, (int)o.nice) < 0)
		fprintf(stderr, "ringcap ship: --nice %zu: %s\n", o.nice, strerror(errno));
	o.c.sessions = o.sessions;
	o.c.progress = isatty(STDERR_FILENO) && !o.c.json;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return rc_ship_run(&o.c, &stop_flag);
}
