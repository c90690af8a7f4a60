/*
 * tools/cli/run.c - `ringcap run`: the daemon.
 *
 * `run` parses its options into an eng_config (every engine limit is an
 * option of the same name, one row of run_table each), starts the engine,
 * the capture plane and the control port, and waits for SIGINT or
 * SIGTERM, which stop accepting and let in-flight exchanges finish within
 * --grace. Errors: one line on stderr, exit 2 for usage, 1 for start-up.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/eng.h"
#include "tls/tls.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/cli/welcome.h"
#include "tools/lib/opts.h"
#include "tools/lib/rc-limits.h"
#include "tools/cli/cmds.h"
#include "tools/cli/cmds.h"
#include "tools/control/api.h"
#include "tools/control/server.h"
#include "tools/capture/continue.h"
#include "tools/capture/sessions.h"
#include "tools/control/token.h"
#include "tools/capture/sink.h"
#include "tools/views/filter.h"
#include "tools/cli/cmds.h"
#include "tools/views/overview.h"
#include "tools/views/cookies.h"
#include "persist/seg-limits.h"
#include "persist/ses.h"
#include "engine/onboard.h"


#define LIST_MAX 64   /* repeatable option values */

struct run_opts {
	struct eng_config eng;
	const char *data_dir;
	const char *keylog, *upstream_ca;
	const char *passthrough[LIST_MAX];
	unsigned npassthrough;
	const char *insecure[LIST_MAX];
	unsigned ninsecure;
	bool no_intercept;
	bool no_h2;                       /* --no-h2 */
	bool upstream_h2;                 /* --upstream-h2 */
	struct eng_cidr allow[LIST_MAX];
	unsigned nallow;
	struct eng_cidr allow_upstream[LIST_MAX];
	unsigned nallow_upstream;
	struct eng_user *users;          /* --auth, --auth-file (heap) */
	unsigned nusers;
	struct eng_port_range connect_ports[ENG_CONNECT_PORTS_MAX];
	struct sockaddr_storage control;
	socklen_t control_len;
	const char *session;
	unsigned max_body;
	unsigned flush_interval_ms; /* --flush-interval */
	int zstd_level;             /* --zstd-level */
	unsigned zstd_budget;       /* --zstd-budget */
	unsigned tls_ticket_rotate_ms; /* --tls-ticket-rotate */
	unsigned upstream_sessions;    /* --upstream-sessions */
	bool no_save_responses;
	bool cookies;
};

struct opt;
/* Takes one value of option o into r: 0, or -errno with err set. */
typedef int (*opt_set_fn)(const struct opt *o, const char *val, struct run_opts *r, char *err,
			  size_t err_len);
/* Writes option o's default (from d) for --help. */
typedef void (*opt_fmt_fn)(const struct opt *o, const struct run_opts *d, char *buf, size_t n);

/* One option of `ringcap run`: one row, one setter. */
struct opt {
	const char *name;
	opt_set_fn set;
	size_t off;               /* the field set writes, in struct run_opts (RUN()) */
	uint64_t min, max;        /* numbers: accepted range */
	const char *arg, *help;   /* arg "": a flag without value */
	opt_fmt_fn fmt;           /* default for --help from the field ... */
	const char *def;          /* ... or this text */
};

static int set_listen(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_control(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_str(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_flag(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_allow(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_allow_upstream(const struct opt *o, const char *v, struct run_opts *r, char *e,
			      size_t n);
static int set_auth(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_auth_file(const struct opt *o, const char *v, struct run_opts *r, char *e,
			 size_t n);
static int set_ports(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_ident(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_passthrough(const struct opt *o, const char *v, struct run_opts *r, char *e,
			   size_t n);
static int set_insecure(const struct opt *o, const char *v, struct run_opts *r, char *e,
			size_t n);
static int set_uint(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_size(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_dur(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static int set_level(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n);
static void fmt_control(const struct opt *o, const struct run_opts *d, char *buf, size_t n);
static void fmt_data(const struct opt *o, const struct run_opts *d, char *buf, size_t n);
static void fmt_uint(const struct opt *o, const struct run_opts *d, char *buf, size_t n);
static void fmt_workers(const struct opt *o, const struct run_opts *d, char *buf, size_t n);
static void fmt_size(const struct opt *o, const struct run_opts *d, char *buf, size_t n);
static void fmt_dur(const struct opt *o, const struct run_opts *d, char *buf, size_t n);
static void fmt_level(const struct opt *o, const struct run_opts *d, char *buf, size_t n);

#define RUN(f) offsetof(struct run_opts, f)
#define CFG(f) offsetof(struct run_opts, eng.f)
static const struct opt run_table[] = {
	{ "listen", set_listen, 0, 0, 0, "ADDR:PORT",
	  "proxy listener", NULL, "0.0.0.0:5559" },
	{ "control", set_control, 0, 0, 0, "ADDR:PORT",
	  "control port: CA files, /metrics", fmt_control, NULL },
	{ "data", set_str, RUN(data_dir), 0, 0, "DIR",
	  "data directory (created if missing)", fmt_data, NULL },
	{ "session", set_str, RUN(session), 0, 0, "NAME",
	  "capture every exchange into session NAME from start-up (new, or "
	  "continued when not stopped)", NULL, "none" },
	{ "max-body", set_size, RUN(max_body), 0, 1u << 30, "SIZE",
	  "body bytes stored per direction (more: truncated, flagged)", fmt_size, NULL },
	{ "flush-interval", set_dur, RUN(flush_interval_ms), SEG_FLUSH_MS_MIN, SEG_FLUSH_MS_MAX,
	  "DUR", "captured exchanges are written within this (checked every 100ms): what a "
	  "kill -9 or power loss can lose", fmt_dur, NULL },
	{ "zstd-level", set_level, RUN(zstd_level), 0, 0, "N",
	  "zstd level of stored frames: negative = less CPU, more bytes on disk", fmt_level,
	  NULL },
	{ "zstd-budget", set_uint, RUN(zstd_budget), 0, SEG_ZSTD_BUDGET_MAX, "PCT",
	  "share of a worker's time zstd may take; beyond, frames are stored uncompressed "
	  "(0 = no limit)", fmt_uint, NULL },
	{ "sync", set_flag, CFG(sync), 0, 0, "",
	  "a response's last bytes go out only once its exchange is on disk (group "
	  "commit: one fdatasync per batch of exchanges)", NULL, "off" },
	{ "no-save-responses", set_flag, RUN(no_save_responses), 0, 0, "",
	  "store status, type, sizes and timings, not response heads/bodies", NULL, "off" },
	{ "cookies", set_flag, RUN(cookies), 0, 0, "",
	  "capture cookies: keep Cookie/Set-Cookie lines for `ringcap cookies`", NULL, "off" },
	{ "allow", set_allow, 0, 0, 0, "CIDR",
	  "clients allowed to connect (repeatable; replaces the default)", NULL,
	  "loopback and private ranges" },
	{ "allow-upstream", set_allow_upstream, 0, 0, 0, "CIDR",
	  "link-local/metadata upstreams allowed after all (repeatable)", NULL, "none" },
	{ "auth", set_auth, 0, 0, 0, "USER:PASS",
	  "require Proxy-Authorization Basic (repeatable)", NULL, "none" },
	{ "auth-file", set_auth_file, 0, 0, 0, "FILE",
	  "users for --auth, one user:pass a line", NULL, "none" },
	{ "auth-fail-max", set_uint, CFG(auth_fail_max), 0, 1000000, "N",
	  "failed logins per address and window; then 429 (0 = off)", fmt_uint, NULL },
	{ "auth-fail-window", set_dur, CFG(auth_fail_window_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "window of --auth-fail-max, also how long 429 lasts", fmt_dur, NULL },
	{ "identify-by", set_ident, 0, 0, 0, "auth|address",
	  "name clients by Proxy-Authorization user (no --auth: any user, no password)", NULL, "address" },
	{ "connect-ports", set_ports, 0, 0, 0, "LIST",
	  "ports CONNECT may reach, like 443,80,8000-8999; * = any", NULL, "443,80" },
	{ "max-conns-per-client", set_uint, CFG(max_conns_per_client), 0, ENG_CONNS_PER_CLIENT_MAX,
	  "N", "connections one client address may hold; beyond: 503 (0 = off)", fmt_uint,
	  NULL },
	{ "workers", set_uint, CFG(workers), 0, ENG_WORKERS_MAX, "N",
	  "worker threads, one per core (0 = online CPUs)", fmt_workers, NULL },
	{ "max-conns", set_uint, CFG(max_conns), 1, ENG_CONNS_MAX, "N",
	  "client connections per worker; beyond: 503", fmt_uint, NULL },
	{ "max-request-head", set_size, CFG(max_request_head), 1024, ENG_HEAD_MAX, "SIZE",
	  "request line + headers; beyond: 431", fmt_size, NULL },
	{ "max-request-line", set_size, CFG(max_request_line), 64, ENG_HEAD_MAX, "SIZE",
	  "method + target + version; beyond: 414", fmt_size, NULL },
	{ "max-response-head", set_size, CFG(max_response_head), 1024, ENG_HEAD_MAX, "SIZE",
	  "status line + headers from upstream; beyond: 502", fmt_size, NULL },
	{ "max-headers", set_uint, CFG(max_headers), 1, ENG_HEADERS_MAX, "N",
	  "header lines per head; beyond: 431 / 502", fmt_uint, NULL },
	{ "header-timeout", set_dur, CFG(header_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "first byte to end of a request head; beyond: 408", fmt_dur, NULL },
	{ "idle-timeout", set_dur, CFG(idle_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "idle keep-alive client, stalled body or tunnel: closed", fmt_dur, NULL },
	{ "connect-timeout", set_dur, CFG(connect_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "name look-up + upstream connect; beyond: 504", fmt_dur, NULL },
	{ "upstream-timeout", set_dur, CFG(upstream_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "upstream silent mid-exchange; beyond: 504", fmt_dur, NULL },
	{ "upstream-idle-timeout", set_dur, CFG(upstream_idle_timeout_ms), 1,
	  ENG_TIMEOUT_MAX_MS, "DUR", "idle pooled upstream connection kept", fmt_dur, NULL },
	{ "upstream-idle-max", set_uint, CFG(upstream_idle_max), 0, ENG_CONNS_MAX, "N",
	  "idle upstream connections kept per worker", fmt_uint, NULL },
	{ "grace", set_dur, CFG(grace_ms), 0, ENG_TIMEOUT_MAX_MS, "DUR",
	  "on SIGINT/SIGTERM, time for in-flight exchanges", fmt_dur, NULL },
	{ "dns-ttl", set_dur, CFG(dns_ttl_ms), 0, ENG_TIMEOUT_MAX_MS, "DUR",
	  "name look-up cache lifetime", fmt_dur, NULL },
	{ "buf-count", set_uint, CFG(buf_count), 16, ENG_BUF_COUNT_MAX, "N",
	  "receive buffers per worker (power of two)", fmt_uint, NULL },
	{ "buf-size", set_size, CFG(buf_size), ENG_BUF_SIZE_MIN, ENG_BUF_SIZE_MAX, "SIZE",
	  "bytes per receive buffer", fmt_size, NULL },
	{ "head-buffers", set_uint, CFG(head_buffers), 16, 65535, "N",
	  "heads in flight per worker; beyond: 503", fmt_uint, NULL },
	{ "zc-threshold", set_size, CFG(zc_threshold), 0, UINT32_MAX, "SIZE",
	  "zero-copy sends from this size (0 = never)", fmt_size, NULL },
	{ "passthrough", set_passthrough, 0, 0, 0, "GLOB",
	  "CONNECT hosts tunnelled blind, not intercepted (repeatable)", NULL, "none" },
	{ "no-intercept", set_flag, RUN(no_intercept), 0, 0, "",
	  "tunnel every CONNECT blind (no TLS interception)", NULL, "off" },
	{ "no-h2", set_flag, RUN(no_h2), 0, 0, "",
	  "offer only http/1.1 in ALPN to intercepted clients (no HTTP/2)", NULL, "off" },
	{ "upstream-h2", set_flag, RUN(upstream_h2), 0, 0, "",
	  "offer h2 to upstream servers too (HTTP/2 when the origin selects it)", NULL, "off" },
	{ "h2-max-streams", set_uint, CFG(h2_max_streams), 1, ENG_H2_STREAMS_MAX, "N",
	  "concurrent HTTP/2 streams per client connection; beyond: REFUSED_STREAM", fmt_uint,
	  NULL },
	{ "h2-stream-window", set_size, CFG(h2_stream_window), ENG_H2_WINDOW_MIN, ENG_H2_WINDOW_MAX,
	  "SIZE", "HTTP/2 request body buffered per stream (flow-control window)", fmt_size, NULL },
	{ "h2-conn-window", set_size, CFG(h2_conn_window), ENG_H2_WINDOW_MIN, ENG_H2_WINDOW_MAX,
	  "SIZE", "HTTP/2 request body buffered per connection (flow-control window)", fmt_size,
	  NULL },
	{ "h2-max-header-list", set_size, CFG(h2_max_header_list), 1024, ENG_HEAD_MAX, "SIZE",
	  "decoded HTTP/2 request header list; beyond: stream refused", fmt_size, NULL },
	{ "upstream-ca", set_str, RUN(upstream_ca), 0, 0, "FILE",
	  "extra trust anchors (PEM) for upstream servers", NULL, "none" },
	{ "upstream-insecure", set_insecure, 0, 0, 0, "HOST",
	  "do not verify this upstream (name or *.suffix, '*' = all; repeatable)", NULL, "none" },
	{ "keylog", set_str, RUN(keylog), 0, 0, "FILE",
	  "append NSS key log lines (Wireshark) for both TLS sides", NULL, "none" },
	{ "tls-buffers", set_uint, CFG(tls_buffers), 16, 32768, "N",
	  "TLS plaintext/ciphertext buffers per worker", fmt_uint, NULL },
	{ "leaf-cache", set_uint, CFG(leaf_cache), 1, 1000000, "N",
	  "minted certificates kept per worker", fmt_uint, NULL },
	{ "tls-ticket-rotate", set_dur, RUN(tls_ticket_rotate_ms), TLS_TICKET_ROTATE_S_MIN * 1000u,
	  TLS_TICKET_ROTATE_S_MAX * 1000u, "DUR",
	  "client session ticket key replaced this often (a ticket lives as long)", fmt_dur, NULL },
	{ "upstream-sessions", set_uint, RUN(upstream_sessions), 0, TLS_CACHE_MAX, "N",
	  "upstream TLS sessions kept for resumption, one per origin (0 = off)", fmt_uint, NULL },
};
#define NOPTS (sizeof(run_table) / sizeof(run_table[0]))


/* The unsigned field an option writes. */
static unsigned *field_u(struct run_opts *r, const struct opt *o)
{
	return (unsigned *)((char *)r + o->off);
}

static unsigned field_uc(const struct run_opts *d, const struct opt *o)
{
	return *(const unsigned *)((const char *)d + o->off);
}

static void fmt_control(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	(void)o;
	(void)d;
	snprintf(buf, n, "$RINGCAP_CONTROL, else %s", RC_CONTROL_DEFAULT);
}

static void fmt_data(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	(void)o;
	(void)d;
	snprintf(buf, n, "$RINGCAP_DATA, else %s", RC_DATA_DIR_DEFAULT);
}

static void fmt_uint(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	snprintf(buf, n, "%u", field_uc(d, o));
}

static void fmt_workers(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	(void)o;
	(void)d;
	snprintf(buf, n, "%ld (online CPUs)", sysconf(_SC_NPROCESSORS_ONLN));
}

static void fmt_size(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	unsigned v = field_uc(d, o);
	if (v && v % (1024 * 1024) == 0)
		snprintf(buf, n, "%uM", v / (1024 * 1024));
	else if (v && v % 1024 == 0)
		snprintf(buf, n, "%uk", v / 1024);
	else
		snprintf(buf, n, "%u", v);
}

static void fmt_dur(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	unsigned v = field_uc(d, o);
	if (v && v % 60000 == 0)
		snprintf(buf, n, "%um", v / 60000);
	else if (v && v % 1000 == 0)
		snprintf(buf, n, "%us", v / 1000);
	else
		snprintf(buf, n, "%ums", v);
}

static void fmt_level(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	(void)o;
	snprintf(buf, n, "%d, from %d to %d", d->zstd_level, SEG_ZSTD_LEVEL_MIN,
		 SEG_ZSTD_LEVEL_MAX);
}

static void run_usage(FILE *f, const struct run_opts *d)
{
	fprintf(f, "usage: ringcap run [options]\n\n"
		"Forwards HTTP/1.1 (absolute-form requests, CONNECT tunnels, WebSocket\n"
		"upgrades) at line rate. SIZE: 4096, 32k, 16M. DUR: 500ms, 10s, 2m.\n\n"
		"options (default in brackets):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char def[64], flag[64];
		if (run_table[i].fmt)
			run_table[i].fmt(&run_table[i], d, def, sizeof(def));
		else
			snprintf(def, sizeof(def), "%s", run_table[i].def);
		snprintf(flag, sizeof(flag), "--%s%s%s", run_table[i].name,
			 run_table[i].arg[0] ? " " : "", run_table[i].arg);
		fprintf(f, "  %-34s %s [%s]\n", flag, run_table[i].help, def);
	}
	fprintf(f, "  %-34s %s\n", "-h, --help", "this text");
	fprintf(f, "\ncapture %s", rc_filter_usage);
}

static int set_listen(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	return rc_parse_addr(v, &r->eng.listen, &r->eng.listen_len, e, n);
}

static int set_control(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	return rc_parse_addr(v, &r->control, &r->control_len, e, n);
}

static int set_str(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)e;
	(void)n;
	*(const char **)((char *)r + o->off) = v;
	return 0;
}

static int set_flag(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)v;
	(void)e;
	(void)n;
	*(bool *)((char *)r + o->off) = true;
	return 0;
}

static int add_cidr(struct eng_cidr *list, unsigned *count, const char *v, char *e, size_t n)
{
	if (*count == LIST_MAX)
		return snprintf(e, n, "given too many times"), -EINVAL;
	int rc = rc_parse_cidr(v, &list[*count], e, n);
	if (rc == 0)
		(*count)++;
	return rc;
}

static int set_allow(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	return add_cidr(r->allow, &r->nallow, v, e, n);
}

static int set_allow_upstream(const struct opt *o, const char *v, struct run_opts *r, char *e,
			      size_t n)
{
	(void)o;
	return add_cidr(r->allow_upstream, &r->nallow_upstream, v, e, n);
}

/* --auth USER:PASS and --auth-file FILE add to one list of users. */
static int users(struct run_opts *r, char *e, size_t n)
{
	if (r->users == NULL)
		r->users = calloc(ENG_AUTH_USERS_MAX, sizeof(*r->users));
	return r->users ? 0 : (snprintf(e, n, "out of memory"), -ENOMEM);
}

static int set_auth(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	int rc = users(r, e, n);
	return rc < 0 ? rc : rc_add_user(r->users, ENG_AUTH_USERS_MAX, &r->nusers, v, e, n);
}

static int set_auth_file(const struct opt *o, const char *v, struct run_opts *r, char *e,
			 size_t n)
{
	(void)o;
	int rc = users(r, e, n);
	return rc < 0 ? rc : rc_load_auth_file(v, r->users, ENG_AUTH_USERS_MAX, &r->nusers, e, n);
}

static int set_ports(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	r->eng.connect_ports = r->connect_ports;
	return rc_parse_ports(v, r->connect_ports, ENG_CONNECT_PORTS_MAX, &r->eng.nconnect_ports,
			      e, n);
}

static int set_ident(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	static const struct { const char *name; int by; } ways[] = {
		{ "auth", ENG_ID_AUTH }, { "address", ENG_ID_ADDRESS },
	};
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++)
		if (strcmp(v, ways[i].name) == 0)
			return r->eng.identify_by = ways[i].by, 0;
	return snprintf(e, n, "'%s' is neither auth nor address", v), -EINVAL;
}

static int add_item(const char **list, unsigned *count, const char *v, char *e, size_t n)
{
	if (*count == LIST_MAX || v[0] == '\0')
		return snprintf(e, n, "%s", v[0] ? "given too many times" : "empty value"), -EINVAL;
	list[(*count)++] = v;
	return 0;
}

static int set_passthrough(const struct opt *o, const char *v, struct run_opts *r, char *e,
			   size_t n)
{
	(void)o;
	return add_item(r->passthrough, &r->npassthrough, v, e, n);
}

static int set_insecure(const struct opt *o, const char *v, struct run_opts *r, char *e,
			size_t n)
{
	(void)o;
	return add_item(r->insecure, &r->ninsecure, v, e, n);
}

/* A number parsed by parse, checked against the row's range, stored. */
static int set_number(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n,
		      int (*parse)(const char *, uint64_t *, char *, size_t))
{
	uint64_t x = 0;
	int rc = parse(v, &x, e, n);
	if (rc < 0)
		return rc;
	if (x < o->min || x > o->max)
		return snprintf(e, n, "%s is out of range (%llu to %llu)", v,
				(unsigned long long)o->min, (unsigned long long)o->max), -EINVAL;
	*field_u(r, o) = (unsigned)x;
	return 0;
}

static int set_uint(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	return set_number(o, v, r, e, n, rc_parse_uint);
}

static int set_size(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	return set_number(o, v, r, e, n, rc_parse_size);
}

static int set_dur(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	return set_number(o, v, r, e, n, rc_parse_duration_ms);
}

/* --zstd-level: a signed number in SEG_ZSTD_LEVEL_MIN..MAX (the row's
 * unsigned range cannot say it). */
static int set_level(const struct opt *o, const char *v, struct run_opts *r, char *e, size_t n)
{
	(void)o;
	char *end = NULL;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (end == v || *end != '\0' || errno)
		return snprintf(e, n, "'%s' is not a number", v), -EINVAL;
	if (x < SEG_ZSTD_LEVEL_MIN || x > SEG_ZSTD_LEVEL_MAX)
		return snprintf(e, n, "%s is out of range (%d to %d)", v, SEG_ZSTD_LEVEL_MIN,
				SEG_ZSTD_LEVEL_MAX), -EINVAL;
	r->zstd_level = (int)x;
	return 0;
}

/* Relations between options that no single range expresses. */
static int check_run(const struct run_opts *r)
{
	unsigned n = r->eng.buf_count;
	if (n & (n - 1)) {
		fprintf(stderr, "ringcap run: --buf-count: %u is not a power of two\n", n);
		return -EINVAL;
	}
	if (n + r->eng.tls_buffers > 65535) {
		fprintf(stderr, "ringcap run: --buf-count + --tls-buffers must stay under 65536\n");
		return -EINVAL;
	}
	return 0;
}

static int parse_run(int argc, char **argv, struct run_opts *r)
{
	struct option lo[NOPTS + 2];
	for (size_t i = 0; i < NOPTS; i++)
		lo[i] = (struct option){ run_table[i].name,
					 run_table[i].arg[0] ? required_argument : no_argument,
					 NULL, (int)i };
	lo[NOPTS] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[NOPTS + 1] = (struct option){ 0 };
	opterr = 0;
	optind = 1;
	for (;;) {
		int idx = -1;
		int c = getopt_long(argc, argv, ":h", lo, &idx);
		if (c == -1)
			break;
		if (c == 'h') {
			run_usage(stdout, r);
			exit(0);
		}
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			fprintf(stderr, "ringcap run: %s option '%s' (see ringcap run --help)\n",
				c == ':' ? "missing value for" : "unknown", bad);
			return -EINVAL;
		}
		char err[256] = "";
		if (run_table[c].set(&run_table[c], optarg, r, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringcap run: --%s: %s\n", run_table[c].name, err);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringcap run: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (r->nallow) {
		r->eng.allow = r->allow;
		r->eng.nallow = r->nallow;
	}
	r->eng.allow_upstream = r->allow_upstream;
	r->eng.nallow_upstream = r->nallow_upstream;
	r->eng.users = r->users;
	r->eng.nusers = r->nusers;
	memcpy(&r->eng.control, &r->control, sizeof(r->control));
	return check_run(r);
}

/* What HTTPS interception needs, built once and shared by the workers. */
struct rc_tls {
	struct eng_onboard_ca onboard;
	char page[ENG_ONBOARD_PAGE_MAX];
	struct tls_ca *ca;
	struct tls_mint *mint;
	struct tls_keylog *keylog;
	struct tls_server *server;
	struct tls_client *client;
};

static void tls_teardown(struct rc_tls *t)
{
	if (t->server)
		tls_server_free(t->server);
	if (t->client)
		tls_client_free(t->client);
	if (t->mint)
		tls_mint_free(t->mint);
	if (t->keylog)
		tls_keylog_close(t->keylog);
	if (t->ca)
		tls_ca_free(t->ca);
	memset(t, 0, sizeof(*t));
}

static int tls_setup(struct run_opts *r, struct rc_tls *t)
{
	char err[512];
	int rc = tls_ca_open(r->data_dir, NULL, &t->ca, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ringcap run: %s\n", err);
		return rc;
	}
	if ((rc = tls_mint_new(t->ca, 0, &t->mint)) < 0) {
		fprintf(stderr, "ringcap run: cannot set up certificate minting: %s\n", strerror(-rc));
		return rc;
	}
	if (r->keylog && (rc = tls_keylog_open(r->keylog, &t->keylog)) < 0) {
		fprintf(stderr, "ringcap run: --keylog %s: %s\n", r->keylog, strerror(-rc));
		return rc;
	}
	if ((rc = tls_server_new(t->mint, t->keylog, &t->server)) < 0) {
		fprintf(stderr, "ringcap run: cannot set up TLS: %s\n", strerror(-rc));
		return rc;
	}
	if ((rc = tls_server_set_ticket_rotate(t->server, r->tls_ticket_rotate_ms / 1000u)) < 0) {
		fprintf(stderr, "ringcap run: --tls-ticket-rotate: whole seconds from %us to %us\n",
			TLS_TICKET_ROTATE_S_MIN, TLS_TICKET_ROTATE_S_MAX);
		return rc;
	}
	tls_server_set_h2(t->server, !r->no_h2);
	bool all = false;
	for (unsigned i = 0; i < r->ninsecure; i++)
		all |= strcmp(r->insecure[i], "*") == 0;
	struct tls_client_opts co = {
		.extra_ca_file = r->upstream_ca,
		.insecure_all = all,
		.insecure_hosts = r->insecure,
		.insecure_count = r->ninsecure,
		.keylog = t->keylog,
		.no_resumption = r->upstream_sessions == 0,
		.session_capacity = r->upstream_sessions,
	};
	if ((rc = tls_client_new(&co, &t->client, err, sizeof(err))) < 0) {
		fprintf(stderr, "ringcap run: %s\n", err);
		return rc;
	}
	tls_client_set_h2(t->client, r->upstream_h2);
	t->onboard.pem = tls_ca_pem(t->ca, &t->onboard.pem_len);
	t->onboard.der = tls_ca_der(t->ca, &t->onboard.der_len);
	t->onboard.p12 = tls_ca_p12(t->ca, &t->onboard.p12_len);
	t->onboard.fingerprint = tls_ca_fingerprint(t->ca);
	long pn = eng_onboard_page(&t->onboard, t->page, sizeof(t->page));
	if (pn < 0) {
		fprintf(stderr, "ringcap run: the CA install page does not fit its buffer\n");
		return -ENOSPC;
	}
	t->onboard.page = t->page;
	t->onboard.page_len = (size_t)pn;
	r->eng.onboard = &t->onboard;
	r->eng.tls_server = t->server;
	r->eng.tls_client = t->client;
	r->eng.tls_mint = t->mint;
	r->eng.passthrough = r->passthrough;
	r->eng.npassthrough = r->npassthrough;
	return 0;
}

/* The control plane of `ringcap run`: capture state, session manager,
 * API and control port, torn down in the reverse order. */
struct plane {
	struct rc_capture *cap;
	struct rc_sessions *ses;
	struct rc_api *api;
	struct rc_control *ctl;
	char token[RC_TOKEN_HEX + 1];
	bool token_created;
	bool capturing;             /* --session started one */
	struct ses_meta session;    /* ... this one */
};

/* clean: a normal shutdown, which marks the active session stopped; a
 * start-up that failed half-way leaves it as it was (interrupted, so that
 * `run --session NAME` can continue it), never final. */
static void plane_teardown(struct plane *p, bool clean)
{
	rc_control_stop(p->ctl);     /* first: no request may reach what follows */
	p->ctl = NULL;
	rc_api_free(p->api);
	p->api = NULL;
	rc_capture_destroy(p->cap);  /* after eng_stop: every writer flushed */
	p->cap = NULL;
	rc_sessions_close(p->ses, clean);
	p->ses = NULL;
}

/* Capture state and session manager (with --session's session started),
 * the token when the control port is off loopback, then the control port.
 * filter: run's filter flags, the filter of every new session. */
static int plane_setup(struct run_opts *r, struct rc_tls *t, unsigned workers,
		       const struct rc_filter *filter, struct plane *p)
{
	char err[512];
	/* run's options are the settings of every new session, filter included */
	struct ses_settings defaults = { .save_responses = !r->no_save_responses,
					 .capture_cookies = r->cookies, .max_body = r->max_body };
	/* the filter's text form goes into the metadata when it fits; a longer
	 * one (hundreds of patterns) is handed over compiled */
	size_t flen = flt_spec_format_text(&filter->spec, defaults.filter, sizeof(defaults.filter));
	bool long_filter = flen >= sizeof(defaults.filter);
	if (long_filter) {
		defaults.filter[0] = '\0';
		fprintf(stderr, "ringcap: the filter (%zu bytes as text) applies but is not kept in "
			"the session metadata (limit %u)\n", flen, SES_FILTER_MAX);
	}
	if (rc_capture_create(workers, &p->cap) < 0 ||
	    rc_sessions_open(&p->ses, r->data_dir, p->cap, &defaults) < 0 ||
	    rc_api_create(&p->api, p->ses) < 0) {
		fprintf(stderr, "ringcap run: out of memory\n");
		return -ENOMEM;
	}
	rc_capture_flush_interval(p->cap, (uint64_t)r->flush_interval_ms * 1000000u);
	rc_capture_sync(p->cap, r->eng.sync);
	rc_capture_zstd_level(p->cap, r->zstd_level, r->zstd_budget);
	if (long_filter)
		rc_sessions_default_filter(p->ses, filter->db);
	if (r->session) {
		struct rc_session_change ch = RC_SESSION_KEEP;
		struct ses_meta m;
		ch.name = r->session;
		ch.continue_existing = true;
		if (rc_sessions_start(p->ses, &ch, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringcap run: --session '%s': %s\n", r->session, err);
			return -EINVAL;
		}
		p->capturing = true;
		p->session = m;
	}
	if (!rc_addr_is_loopback(&r->control)) {
		if (rc_token_load_or_create(r->data_dir, p->token, &p->token_created, err,
					    sizeof(err)) < 0) {
			fprintf(stderr, "ringcap run: control token: %s\n", err);
			return -EPERM;
		}
		/* said before the control port answers: whoever connects first
		 * can already read it */
		fprintf(stderr, "ringcap: the control port is not on loopback: requests need "
			"\"Authorization: Bearer %s\" (%s %s/%s)\n", p->token,
			p->token_created ? "new, saved in" : "from", r->data_dir, RC_TOKEN_FILE);
	}
	struct rc_control_cfg cc = { .addr = &r->control, .addr_len = r->control_len,
				     .ca = t->ca ? &t->onboard : NULL, .api = p->api,
				     .capture = p->cap, .token = p->token, .proxy = &r->eng.listen };
	if (rc_control_start(&p->ctl, &cc, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap run: %s\n", err);
		return -EIO;
	}
	return 0;
}

static int run_daemon(struct run_opts *rp, const struct rc_filter *filter);

static int run_main(int argc, char **argv, const struct rc_filter *filter)
{
	struct run_opts r = { .data_dir = rc_env_data(), .max_body = RC_BODY_MAX_DEFAULT,
			      .flush_interval_ms = SEG_FLUSH_NS_DEFAULT / 1000000u,
			      .zstd_level = SEG_ZSTD_LEVEL_DEFAULT,
			      .zstd_budget = SEG_ZSTD_BUDGET_DEFAULT,
			      .tls_ticket_rotate_ms = TLS_TICKET_ROTATE_S_DEFAULT * 1000u,
			      .upstream_sessions = TLS_UPSTREAM_SESSIONS_DEFAULT };
	eng_config_defaults(&r.eng);
	char cerr[128];
	rc_parse_addr(rc_env_control(), &r.control, &r.control_len, cerr, sizeof(cerr));
	int rc = parse_run(argc, argv, &r) < 0 ? 2 : run_daemon(&r, filter);
	free(r.users);
	return rc;
}

/* Starts everything `run` asked for and waits for SIGINT or SIGTERM. */
static int run_daemon(struct run_opts *rp, const struct rc_filter *filter)
{
	struct run_opts r = *rp;
	if (mkdir(r.data_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "ringcap run: cannot create data directory '%s': %s\n",
			r.data_dir, strerror(errno));
		return 1;
	}
	/* Signals are taken by sigwait below, never by a worker. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (RLIMIT_FSIZE) fails the write with EFBIG instead:
	 * capture stops, traffic flows on */
	signal(SIGXFSZ, SIG_IGN);

	char err[512];
	struct rc_tls t = {0};
	if (!r.no_intercept && tls_setup(&r, &t) < 0) {
		tls_teardown(&t);
		return 1;
	}
	/* sessions a killed daemon left active show as interrupted, data readable */
	rc_capture_mark_interrupted(r.data_dir);
	unsigned workers = r.eng.workers ? r.eng.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	struct plane p = {0};
	if (plane_setup(&r, &t, workers, filter, &p) < 0) {
		plane_teardown(&p, false);
		tls_teardown(&t);
		return 1;
	}
	r.eng.workers = workers;
	r.eng.sink = &rc_capture_ops;
	r.eng.sink_arg = p.cap;
	struct eng *e = NULL;
	if (eng_start(&e, &r.eng, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap run: %s\n", err);
		plane_teardown(&p, false);
		tls_teardown(&t);
		return 1;
	}
	rc_control_set_engine(p.ctl, e);
	/* said once the proxy listens: a start that fails (port in use) says
	 * only what went wrong, not where to point a device */
	struct rc_welcome wel = {
		.listen = &r.eng.listen, .control = &r.control, .data_dir = r.data_dir,
		.ca_fingerprint = t.ca ? tls_ca_fingerprint(t.ca) : NULL,
		.ca_created = t.ca && tls_ca_created(t.ca),
		.session_name = p.capturing ? p.session.name : NULL,
		.session_id = p.capturing ? p.session.id : NULL,
		.token = p.token, .token_created = p.token_created, .workers = workers,
	};
	rc_welcome_print(stderr, &wel);
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "ringcap: %s, finishing in-flight exchanges\n", strsignal(sig));
	rc_control_stop(p.ctl);   /* before the engine goes: /metrics reads it */
	p.ctl = NULL;
	eng_stop(e);
	plane_teardown(&p, true);
	tls_teardown(&t);
	fprintf(stderr, "ringcap: stopped\n");
	return 0;
}

int rc_cmd_run(int argc, char **argv)
{
	struct rc_filter filter;
	/* the capture filter flags, compiled now: a bad spec stops start-up */
	int rc = rc_filter_cli("run", &filter, &argc, argv) < 0 ? 2 : run_main(argc, argv, &filter);
	rc_filter_free(&filter); /* the engine has stopped: no worker holds it */
	return rc;
}

