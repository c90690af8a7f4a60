/*
 * tools/cli/replay.c - `ringcap replay SESSION`: options into a struct
 * rp_cfg, then tools/replay/ runs it. Exit status: 0 when every request
 * sent was answered (any status), 1 when some were not (errors by kind in
 * the report) or the run could not start, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/ses.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/fmt.h"
#include "tools/lib/opts.h"
#include "tools/lib/rc-limits.h"
#include "tools/replay/replay.h"
#include "tools/views/filter.h"

struct rp_opts {
	struct rp_cfg cfg;
	struct rp_rewrite rw;
	struct rc_ids ids; /* --ids, owned here (rc_ids_free at exit) */
	const char *cmd;
};

static const char usage[] =
	"usage: ringcap replay SESSION [--data DIR] [--json]\n"
	"  selection: [--ids 3,7,10-20] [--search TEXT] [filters as in ringcap ls --help]\n"
	"  target:    [--target URL] [--host-map FROM=TO]... [--proxy ADDR:PORT]\n"
	"             [--insecure] [--ca FILE]\n"
	"  headers:   [--header 'Name: value']... [--drop-header Name]...\n"
	"  timing:    [--speed N (1 = as recorded, 0 = as fast as possible)] [--rate R]\n"
	"             [--connections C] [--duration D] [--loop N] [--warmup D]\n"
	"             [--threads N] [--timeout D]\n"
	"  diff:      [--size-tolerance N|N%] [--diff-body]\n"
	"  record:    [--record NAME] (the replay becomes a new session)\n"
	"exit status: 0 every request sent was answered, 1 not (see the report), 2 usage\n"
	RC_USAGE_DATA;

static int bad(struct rp_opts *o, const char *opt, const char *why)
{
	fprintf(stderr, "ringcap replay: --%s: %s\n", opt, why);
	return -1;
}

static int num(struct rp_opts *o, const char *opt, const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || d < 0 || d > 1e9)
		return bad(o, opt, "want a number >= 0");
	*out = d;
	return 0;
}

static int dur(struct rp_opts *o, const char *opt, const char *v, uint64_t *ns)
{
	char err[160];
	uint64_t ms;
	if (rc_parse_duration_ms(v, &ms, err, sizeof(err)) < 0)
		return bad(o, opt, err);
	*ns = ms * 1000000u;
	return 0;
}

static int opt_target(struct rp_opts *o, int ch, const char *v)
{
	char err[320];
	struct rp_rewrite *rw = &o->rw;
	switch (ch) {
	case 'T':
		if (rp_dest_parse(v, &rw->target, err, sizeof(err)) < 0)
			return bad(o, "target", err);
		rw->has_target = true;
		return 0;
	case 'M':
		if (rw->nmaps == RP_HOST_MAPS_MAX)
			return bad(o, "host-map", "too many");
		if (rp_host_map_parse(v, &rw->maps[rw->nmaps], err, sizeof(err)) < 0)
			return bad(o, "host-map", err);
		rw->nmaps++;
		return 0;
	case 'H':
		if (rw->nadd == RP_HEADERS_MAX || !rp_header_valid(v))
			return bad(o, "header", "want 'Name: value' (at most 32)");
		rw->add[rw->nadd++] = v;
		return 0;
	case 'D':
		if (rw->ndrop == RP_HEADERS_MAX || strchr(v, ':'))
			return bad(o, "drop-header", "want a header name (at most 32)");
		rw->drop[rw->ndrop++] = v;
		return 0;
	case 'P':
		if (rc_parse_addr(v, &o->cfg.proxy, &o->cfg.proxy_len, err, sizeof(err)) < 0)
			return bad(o, "proxy", err);
		o->cfg.have_proxy = true;
		rw->via_proxy = true;
		return 0;
	}
	return 1;
}

static int opt_timing(struct rp_opts *o, int ch, const char *v)
{
	struct rp_sched *s = &o->cfg.src.sched;
	double d;
	switch (ch) {
	case 's':
		return num(o, "speed", v, &s->speed);
	case 'r':
		if (num(o, "rate", v, &s->rate) < 0 || s->rate <= 0)
			return bad(o, "rate", "want requests per second > 0");
		return 0;
	case 'c':
		if (num(o, "connections", v, &d) < 0 || d < 1 || d > RC_RP_CONNS_MAX)
			return bad(o, "connections", "want 1..4096");
		o->cfg.src.slots = (unsigned)d;
		return 0;
	case 'u':
		return dur(o, "duration", v, &s->duration_ns);
	case 'w':
		return dur(o, "warmup", v, &s->warmup_ns);
	case 'L':
		if (num(o, "loop", v, &d) < 0)
			return -1;
		s->loops = (uint64_t)d;
		return 0;
	case 'n':
		if (num(o, "threads", v, &d) < 0 || d < 1 || d > RC_RP_THREADS_MAX)
			return bad(o, "threads", "want 1..64");
		o->cfg.src.threads = (unsigned)d;
		return 0;
	case 't': {
		uint64_t ns;
		if (dur(o, "timeout", v, &ns) < 0 || ns == 0)
			return -1;
		o->cfg.timeout_ms = ns / 1000000u;
		return 0;
	}
	}
	return 1;
}

static int on_opt(void *ctx, int ch, const char *v)
{
	struct rp_opts *o = ctx;
	int rc = opt_target(o, ch, v);
	if (rc <= 0)
		return rc;
	rc = opt_timing(o, ch, v);
	if (rc <= 0)
		return rc;
	char err[200];
	switch (ch) {
	case 'i': {
		rc_ids_free(&o->ids); /* the last --ids wins */
		o->cfg.src.ids = NULL;
		if (rc_ids_parse(v, &o->ids, err, sizeof(err)) < 0)
			return bad(o, "ids", err);
		o->cfg.src.ids = &o->ids;
		return 0;
	}
	case 'q':
		o->cfg.src.search = v;
		return 0;
	case 'k':
		o->cfg.insecure = true;
		return 0;
	case 'C':
		o->cfg.ca_file = v;
		return 0;
	case 'z': {
		size_t n = strlen(v);
		double d;
		if (n > 1 && v[n - 1] == '%') {
			char tmp[32];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(n - 1), v);
			if (num(o, "size-tolerance", tmp, &d) < 0)
				return -1;
			o->cfg.diff.size_tol_pct = d;
			return 0;
		}
		uint64_t b;
		if (rc_parse_size(v, &b, err, sizeof(err)) < 0)
			return bad(o, "size-tolerance", err);
		o->cfg.diff.size_tol = b;
		return 0;
	}
	case 'B':
		o->cfg.diff.body = true;
		o->rw.diff_body = true;
		return 0;
	case 'R':
		if (!ses_name_valid(v))
			return bad(o, "record", "not a valid session name");
		o->cfg.record = v;
		return 0;
	}
	return -1;
}

/* One setter per option row (tools/cli/args.h), each naming its case of
 * on_opt by the short code it had in getopt. */
static int o_ids(void *c, const char *v) { return on_opt(c, 'i', v); }
static int o_search(void *c, const char *v) { return on_opt(c, 'q', v); }
static int o_target(void *c, const char *v) { return on_opt(c, 'T', v); }
static int o_host_map(void *c, const char *v) { return on_opt(c, 'M', v); }
static int o_header(void *c, const char *v) { return on_opt(c, 'H', v); }
static int o_drop_header(void *c, const char *v) { return on_opt(c, 'D', v); }
static int o_proxy(void *c, const char *v) { return on_opt(c, 'P', v); }
static int o_insecure(void *c, const char *v) { return on_opt(c, 'k', v); }
static int o_ca(void *c, const char *v) { return on_opt(c, 'C', v); }
static int o_speed(void *c, const char *v) { return on_opt(c, 's', v); }
static int o_rate(void *c, const char *v) { return on_opt(c, 'r', v); }
static int o_connections(void *c, const char *v) { return on_opt(c, 'c', v); }
static int o_duration(void *c, const char *v) { return on_opt(c, 'u', v); }
static int o_loop(void *c, const char *v) { return on_opt(c, 'L', v); }
static int o_warmup(void *c, const char *v) { return on_opt(c, 'w', v); }
static int o_threads(void *c, const char *v) { return on_opt(c, 'n', v); }
static int o_timeout(void *c, const char *v) { return on_opt(c, 't', v); }
static int o_size_tolerance(void *c, const char *v) { return on_opt(c, 'z', v); }
static int o_diff_body(void *c, const char *v) { return on_opt(c, 'B', v); }
static int o_record(void *c, const char *v) { return on_opt(c, 'R', v); }

static const struct rc_opt opts[] = {
	{ "ids", true, o_ids },
	{ "search", true, o_search },
	{ "target", true, o_target },
	{ "host-map", true, o_host_map },
	{ "header", true, o_header },
	{ "drop-header", true, o_drop_header },
	{ "proxy", true, o_proxy },
	{ "insecure", false, o_insecure },
	{ "ca", true, o_ca },
	{ "speed", true, o_speed },
	{ "rate", true, o_rate },
	{ "connections", true, o_connections },
	{ "duration", true, o_duration },
	{ "loop", true, o_loop },
	{ "warmup", true, o_warmup },
	{ "threads", true, o_threads },
	{ "timeout", true, o_timeout },
	{ "size-tolerance", true, o_size_tolerance },
	{ "diff-body", false, o_diff_body },
	{ "record", true, o_record },
	{ NULL, false, NULL },
};

static int replay_main(int argc, char **argv, struct rc_filter *f, struct rp_opts *o);

int rc_cmd_replay(int argc, char **argv)
{
	struct rc_filter f;
	struct rp_opts *o = calloc(1, sizeof(*o));
	int rc = 1;
	if (o == NULL) {
		fprintf(stderr, "ringcap replay: out of memory\n");
		return 1;
	}
	rc = rc_filter_cli("replay", &f, &argc, argv) < 0 ? 2 : replay_main(argc, argv, &f, o);
	rc_filter_free(&f);
	rc_ids_free(&o->ids);
	free(o);
	return rc;
}

static void defaults(struct rp_opts *o)
{
	o->cfg.src.sched.speed = 1.0;
	o->cfg.src.rw = &o->rw;
	o->cfg.timeout_ms = RC_RP_TIMEOUT_MS_DEFAULT;
	o->cmd = "replay";
}

static int replay_main(int argc, char **argv, struct rc_filter *f, struct rp_opts *o)
{
	struct rc_cli_common c = { 0 };
	defaults(o);
	int i = rc_cli_opts(argc, argv, &c, usage, opts, o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1) {
		fprintf(stderr, "ringcap replay: name one session\n%s", usage);
		return 2;
	}
	struct ses_meta m;
	char dir[4096];
	if (rc_session_dir("replay", c.data, argv[i], &m, dir, sizeof(dir)) < 0)
		return 1;
	struct rp_cfg *cfg = &o->cfg;
	cfg->src.session_dir = dir;
	cfg->src.filter = f;
	if (rc_filter_active(f))
		f->session_dir = dir;
	if (cfg->src.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->src.threads = n > 0 ? (unsigned)(n < RC_RP_THREADS_MAX ? n : RC_RP_THREADS_MAX) : 1u;
	}
	if (cfg->src.slots && cfg->src.threads > cfg->src.slots)
		cfg->src.threads = cfg->src.slots;
	/* a first pass opens exchanges at some 260,000 a second per reader
	 * (tools/replay/README.md): one per loop thread keeps up with them */
	cfg->src.readers = cfg->src.threads;
	cfg->data_dir = c.data;
	cfg->json = c.json;
	cfg->progress = !c.json && isatty(STDERR_FILENO);
	struct rp_result *res = calloc(1, sizeof(*res));
	if (res == NULL)
		return 1;
	char err[512];
	int rc = rp_run(cfg, res, err, sizeof(err));
	if (rc < 0 && atomic_load(&res->total.sent) == 0) {
		fprintf(stderr, "ringcap replay: %s\n", err);
		free(res);
		return 1;
	}
	if (rc < 0)
		fprintf(stderr, "ringcap replay: %s\n", err);
	if (c.json)
		rp_report_json(res, cfg);
	else
		rp_report_text(res, cfg);
	const struct rp_stats *s = &res->total;
	bool all = atomic_load(&s->failed) == 0 && s->unanswered == 0 &&
		   atomic_load(&s->done) == atomic_load(&s->sent) && atomic_load(&s->sent) > 0;
	free(res);
	return all && rc == 0 ? 0 : 1;
}
