/*
 * tools/main.c - the ringcap binary: subcommand dispatch and `ringcap run`.
 *
 * `run` parses its options into an eng_config (every engine limit is an
 * option of the same name), starts the engine, and waits for SIGINT or
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
#include "tools/opts.h"
#include "tools/ca.h"
#include "tools/client.h"
#include "tools/api.h"
#include "tools/control.h"
#include "tools/sessions.h"
#include "tools/token.h"
#include "tools/capture.h"
#include "tools/filterargs.h"
#include "tools/offline.h"
#include "tools/overview.h"
#include "tools/cookies.h"
#include "persist/seg-limits.h"
#include "persist/ses.h"
#include "engine/onboard.h"

#define RINGCAP_VERSION "0.1.0"

enum opt_kind { K_ADDR, K_UINT, K_SIZE, K_DUR, K_DIR, K_STR, K_LIST, K_FLAG, K_CIDR, K_CTL,
		K_AUTH, K_PORTS, K_IDENT };

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
	bool no_save_responses;
	bool cookies;
};

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off;               /* unsigned field in struct eng_config */
	uint64_t min, max;
	const char *arg, *help;
};

#define CFG(f) offsetof(struct eng_config, f)
static const struct opt run_table[] = {
	{ "listen", K_ADDR, 0, 0, 0, "ADDR:PORT", "proxy listener" },
	{ "control", K_CTL, 0, 0, 0, "ADDR:PORT", "control port: CA files, /metrics" },
	{ "data", K_DIR, 0, 0, 0, "DIR", "data directory (created if missing)" },
	{ "session", K_STR, 0, 0, 0, "NAME",
	  "capture every exchange into session NAME from start-up (new, or "
	  "continued when not stopped)" },
	{ "max-body", K_SIZE, 0, 0, 1u << 30, "SIZE",
	  "body bytes stored per direction (more: truncated, flagged)" },
	{ "flush-interval", K_DUR, 0, SEG_FLUSH_MS_MIN, SEG_FLUSH_MS_MAX, "DUR",
	  "captured exchanges are written within this (checked every 100ms): what a "
	  "kill -9 or power loss can lose" },
	{ "no-save-responses", K_FLAG, 0, 0, 0, "",
	  "store status, type, sizes and timings, not response heads/bodies" },
	{ "cookies", K_FLAG, 0, 0, 0, "",
	  "capture cookies: keep Cookie/Set-Cookie lines for `ringcap cookies`" },
	{ "allow", K_CIDR, 0, 0, 0, "CIDR",
	  "clients allowed to connect (repeatable; replaces the default)" },
	{ "allow-upstream", K_CIDR, 0, 0, 0, "CIDR",
	  "link-local/metadata upstreams allowed after all (repeatable)" },
	{ "auth", K_AUTH, 0, 0, 0, "USER:PASS",
	  "require Proxy-Authorization Basic (repeatable)" },
	{ "auth-file", K_AUTH, 0, 0, 0, "FILE", "users for --auth, one user:pass a line" },
	{ "auth-fail-max", K_UINT, CFG(auth_fail_max), 0, 1000000, "N",
	  "failed logins per address and window; then 429 (0 = off)" },
	{ "auth-fail-window", K_DUR, CFG(auth_fail_window_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "window of --auth-fail-max, also how long 429 lasts" },
	{ "identify-by", K_IDENT, 0, 0, 0, "auth|address",
	  "name clients by Proxy-Authorization user (no --auth: any user, no password)" },
	{ "connect-ports", K_PORTS, 0, 0, 0, "LIST",
	  "ports CONNECT may reach, like 443,80,8000-8999; * = any" },
	{ "max-conns-per-client", K_UINT, CFG(max_conns_per_client), 0, ENG_CONNS_PER_CLIENT_MAX,
	  "N", "connections one client address may hold; beyond: 503 (0 = off)" },
	{ "workers", K_UINT, CFG(workers), 0, ENG_WORKERS_MAX, "N",
	  "worker threads, one per core (0 = online CPUs)" },
	{ "max-conns", K_UINT, CFG(max_conns), 1, ENG_CONNS_MAX, "N",
	  "client connections per worker; beyond: 503" },
	{ "max-request-head", K_SIZE, CFG(max_request_head), 1024, ENG_HEAD_MAX, "SIZE",
	  "request line + headers; beyond: 431" },
	{ "max-response-head", K_SIZE, CFG(max_response_head), 1024, ENG_HEAD_MAX, "SIZE",
	  "status line + headers from upstream; beyond: 502" },
	{ "max-headers", K_UINT, CFG(max_headers), 1, ENG_HEADERS_MAX, "N",
	  "header lines per head; beyond: 431 / 502" },
	{ "header-timeout", K_DUR, CFG(header_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "first byte to end of a request head; beyond: 408" },
	{ "idle-timeout", K_DUR, CFG(idle_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "idle keep-alive client, stalled body or tunnel: closed" },
	{ "connect-timeout", K_DUR, CFG(connect_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "name look-up + upstream connect; beyond: 504" },
	{ "upstream-timeout", K_DUR, CFG(upstream_timeout_ms), 1, ENG_TIMEOUT_MAX_MS, "DUR",
	  "upstream silent mid-exchange; beyond: 504" },
	{ "upstream-idle-timeout", K_DUR, CFG(upstream_idle_timeout_ms), 1,
	  ENG_TIMEOUT_MAX_MS, "DUR", "idle pooled upstream connection kept" },
	{ "upstream-idle-max", K_UINT, CFG(upstream_idle_max), 0, ENG_CONNS_MAX, "N",
	  "idle upstream connections kept per worker" },
	{ "grace", K_DUR, CFG(grace_ms), 0, ENG_TIMEOUT_MAX_MS, "DUR",
	  "on SIGINT/SIGTERM, time for in-flight exchanges" },
	{ "dns-ttl", K_DUR, CFG(dns_ttl_ms), 0, ENG_TIMEOUT_MAX_MS, "DUR",
	  "name look-up cache lifetime" },
	{ "buf-count", K_UINT, CFG(buf_count), 16, ENG_BUF_COUNT_MAX, "N",
	  "receive buffers per worker (power of two)" },
	{ "buf-size", K_SIZE, CFG(buf_size), ENG_BUF_SIZE_MIN, ENG_BUF_SIZE_MAX, "SIZE",
	  "bytes per receive buffer" },
	{ "head-buffers", K_UINT, CFG(head_buffers), 16, 65535, "N",
	  "heads in flight per worker; beyond: 503" },
	{ "zc-threshold", K_SIZE, CFG(zc_threshold), 0, UINT32_MAX, "SIZE",
	  "zero-copy sends from this size (0 = never)" },
	{ "passthrough", K_LIST, 0, 0, 0, "GLOB",
	  "CONNECT hosts tunnelled blind, not intercepted (repeatable)" },
	{ "no-intercept", K_FLAG, 0, 0, 0, "",
	  "tunnel every CONNECT blind (no TLS interception)" },
	{ "upstream-ca", K_STR, 0, 0, 0, "FILE",
	  "extra trust anchors (PEM) for upstream servers" },
	{ "upstream-insecure", K_LIST, 0, 0, 0, "HOST",
	  "do not verify this upstream (name or *.suffix, '*' = all; repeatable)" },
	{ "keylog", K_STR, 0, 0, 0, "FILE",
	  "append NSS key log lines (Wireshark) for both TLS sides" },
	{ "tls-buffers", K_UINT, CFG(tls_buffers), 16, 32768, "N",
	  "TLS plaintext/ciphertext buffers per worker" },
	{ "leaf-cache", K_UINT, CFG(leaf_cache), 1, 1000000, "N",
	  "minted certificates kept per worker" },
};
#define NOPTS (sizeof(run_table) / sizeof(run_table[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"ringcap %s - capture proxy appliance\n\n"
		"usage: ringcap COMMAND [options]\n\n"
		"commands:\n"
		"  run         run the proxy (ringcap run --help for its options)\n"
		"  ca          show or export the HTTPS interception CA (ringcap ca --help)\n"
		"  session     start, pause, resume, stop, change, rename, delete sessions\n"
		"              of a running daemon (ringcap session --help)\n"
		"  sessions    list capture sessions (offline, on --data)\n"
		"  ls          list a session's exchanges: sort, search, page\n"
		"  show        one exchange: heads, bodies, timings\n"
		"  overview    counts and bytes by method, domain, type or status; traffic graph\n"
		"  cookies     a session's cookies; --jar writes a cookies.txt for curl -b\n"
		"  fsck        check a session's files; --repair rebuilds indexes\n"
		"  version     print the version\n"
		"  help        this text\n", RINGCAP_VERSION);
}

static void format_default(const struct opt *o, const struct run_opts *d, char *buf, size_t n)
{
	unsigned v = o->off || o->kind == K_UINT ? *(const unsigned *)((const char *)&d->eng + o->off) : 0;
	switch (o->kind) {
	case K_ADDR: snprintf(buf, n, "0.0.0.0:5559"); break;
	case K_CTL: snprintf(buf, n, "127.0.0.1:5560"); break;
	case K_DIR: snprintf(buf, n, "%s", d->data_dir); break;
	case K_STR: case K_LIST: snprintf(buf, n, "none"); break;
	case K_FLAG: snprintf(buf, n, "off"); break;
	case K_CIDR:
		snprintf(buf, n, "%s", strcmp(o->name, "allow") == 0 ? "loopback and private ranges"
								       : "none");
		break;
	case K_AUTH: snprintf(buf, n, "none"); break;
	case K_PORTS: snprintf(buf, n, "443,80"); break;
	case K_IDENT: snprintf(buf, n, "address"); break;
	case K_UINT:
		if (strcmp(o->name, "workers") == 0)
			snprintf(buf, n, "%ld (online CPUs)", sysconf(_SC_NPROCESSORS_ONLN));
		else
			snprintf(buf, n, "%u", v);
		break;
	case K_SIZE:
		if (strcmp(o->name, "max-body") == 0)
			v = d->max_body;
		if (v && v % (1024 * 1024) == 0)
			snprintf(buf, n, "%uM", v / (1024 * 1024));
		else if (v && v % 1024 == 0)
			snprintf(buf, n, "%uk", v / 1024);
		else
			snprintf(buf, n, "%u", v);
		break;
	case K_DUR:
		if (strcmp(o->name, "flush-interval") == 0)
			v = d->flush_interval_ms;
		if (v && v % 60000 == 0)
			snprintf(buf, n, "%um", v / 60000);
		else if (v && v % 1000 == 0)
			snprintf(buf, n, "%us", v / 1000);
		else
			snprintf(buf, n, "%ums", v);
		break;
	}
}

static void run_usage(FILE *f, const struct run_opts *d)
{
	fprintf(f, "usage: ringcap run [options]\n\n"
		"Forwards HTTP/1.1 (absolute-form requests, CONNECT tunnels, WebSocket\n"
		"upgrades) at line rate. SIZE: 4096, 32k, 16M. DUR: 500ms, 10s, 2m.\n\n"
		"options (default in brackets):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char def[64], flag[64];
		format_default(&run_table[i], d, def, sizeof(def));
		snprintf(flag, sizeof(flag), "--%s%s%s", run_table[i].name,
			 run_table[i].arg[0] ? " " : "", run_table[i].arg);
		fprintf(f, "  %-34s %s [%s]\n", flag, run_table[i].help, def);
	}
	fprintf(f, "  %-34s %s\n", "-h, --help", "this text");
	fprintf(f, "\ncapture %s", rc_filter_usage);
}

/* --auth USER:PASS and --auth-file FILE add to one list of users. */
static int set_auth(const struct opt *o, const char *val, struct run_opts *r,
		    char *err, size_t err_len)
{
	if (r->users == NULL) {
		r->users = calloc(ENG_AUTH_USERS_MAX, sizeof(*r->users));
		if (r->users == NULL)
			return snprintf(err, err_len, "out of memory"), -ENOMEM;
	}
	if (strcmp(o->name, "auth-file") == 0)
		return rc_load_auth_file(val, r->users, ENG_AUTH_USERS_MAX, &r->nusers, err, err_len);
	return rc_add_user(r->users, ENG_AUTH_USERS_MAX, &r->nusers, val, err, err_len);
}

static int set_opt(const struct opt *o, const char *val, struct run_opts *r)
{
	char err[256];
	uint64_t v = 0;
	int rc = 0;
	switch (o->kind) {
	case K_ADDR:
		rc = rc_parse_addr(val, &r->eng.listen, &r->eng.listen_len, err, sizeof(err));
		break;
	case K_CTL:
		rc = rc_parse_addr(val, &r->control, &r->control_len, err, sizeof(err));
		break;
	case K_DIR:
		r->data_dir = val;
		return 0;
	case K_FLAG:
		if (strcmp(o->name, "no-intercept") == 0)
			r->no_intercept = true;
		else if (strcmp(o->name, "cookies") == 0)
			r->cookies = true;
		else
			r->no_save_responses = true;
		return 0;
	case K_CIDR: {
		bool up = strcmp(o->name, "allow-upstream") == 0;
		unsigned *n = up ? &r->nallow_upstream : &r->nallow;
		if (*n == LIST_MAX) {
			fprintf(stderr, "ringcap run: --%s: given too many times\n", o->name);
			return -EINVAL;
		}
		rc = rc_parse_cidr(val, &(up ? r->allow_upstream : r->allow)[*n], err, sizeof(err));
		if (rc == 0) {
			(*n)++;
			return 0;
		}
		break;
	}
	case K_AUTH:
		rc = set_auth(o, val, r, err, sizeof(err));
		break;
	case K_PORTS:
		rc = rc_parse_ports(val, r->connect_ports, ENG_CONNECT_PORTS_MAX,
				    &r->eng.nconnect_ports, err, sizeof(err));
		r->eng.connect_ports = r->connect_ports;
		break;
	case K_IDENT:
		if (strcmp(val, "auth") == 0 || strcmp(val, "address") == 0) {
			r->eng.identify_by = val[1] == 'u' ? ENG_ID_AUTH : ENG_ID_ADDRESS;
			return 0;
		}
		snprintf(err, sizeof(err), "'%s' is neither auth nor address", val);
		rc = -EINVAL;
		break;
	case K_STR:
		if (strcmp(o->name, "keylog") == 0)
			r->keylog = val;
		else if (strcmp(o->name, "session") == 0)
			r->session = val;
		else
			r->upstream_ca = val;
		return 0;
	case K_LIST: {
		bool pt = strcmp(o->name, "passthrough") == 0;
		unsigned *n = pt ? &r->npassthrough : &r->ninsecure;
		if (*n == LIST_MAX || val[0] == '\0') {
			fprintf(stderr, "ringcap run: --%s: %s\n", o->name,
				val[0] ? "given too many times" : "empty value");
			return -EINVAL;
		}
		(pt ? r->passthrough : r->insecure)[(*n)++] = val;
		return 0;
	}
	case K_UINT: rc = rc_parse_uint(val, &v, err, sizeof(err)); break;
	case K_SIZE: rc = rc_parse_size(val, &v, err, sizeof(err)); break;
	case K_DUR: rc = rc_parse_duration_ms(val, &v, err, sizeof(err)); break;
	}
	if (rc == 0 && (o->kind == K_UINT || o->kind == K_SIZE || o->kind == K_DUR) &&
	    (v < o->min || v > o->max)) {
		snprintf(err, sizeof(err), "%s is out of range (%llu to %llu)", val,
			 (unsigned long long)o->min, (unsigned long long)o->max);
		rc = -EINVAL;
	}
	if (rc < 0) {
		fprintf(stderr, "ringcap run: --%s: %s\n", o->name, err);
		return rc;
	}
	if (strcmp(o->name, "max-body") == 0)
		r->max_body = (unsigned)v;
	else if (strcmp(o->name, "flush-interval") == 0)
		r->flush_interval_ms = (unsigned)v;
	else if (o->kind == K_UINT || o->kind == K_SIZE || o->kind == K_DUR)
		*(unsigned *)((char *)&r->eng + o->off) = (unsigned)v;
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
					 run_table[i].kind == K_FLAG ? no_argument : required_argument,
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
		if (set_opt(&run_table[c], optarg, r) < 0)
			return -EINVAL;
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
	bool all = false;
	for (unsigned i = 0; i < r->ninsecure; i++)
		all |= strcmp(r->insecure[i], "*") == 0;
	struct tls_client_opts co = {
		.extra_ca_file = r->upstream_ca,
		.insecure_all = all,
		.insecure_hosts = r->insecure,
		.insecure_count = r->ninsecure,
		.keylog = t->keylog,
	};
	if ((rc = tls_client_new(&co, &t->client, err, sizeof(err))) < 0) {
		fprintf(stderr, "ringcap run: %s\n", err);
		return rc;
	}
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

/* The capture filter flags, compiled now: a bad spec stops start-up. */
static int run_filter(struct rc_filter *f, int *argc, char **argv)
{
	char err[FLT_ERR_LEN + 64];
	rc_filter_init(f);
	int rc = rc_filter_args(f, argc, argv, err, sizeof(err));
	if (rc == 0)
		rc = rc_filter_compile(f, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "ringcap run: %s\n", err);
	return rc;
}

/* The control plane of `ringcap run`: capture state, session manager,
 * API and control port, torn down in the reverse order. */
struct plane {
	struct rc_capture *cap;
	struct rc_sessions *ses;
	struct rc_api *api;
	struct rc_control *ctl;
	char token[RC_TOKEN_HEX + 1];
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
		fprintf(stderr, "ringcap: capturing into session '%s' (%s)\n", m.name, m.id);
	}
	bool created = false;
	if (!rc_addr_is_loopback(&r->control)) {
		if (rc_token_load_or_create(r->data_dir, p->token, &created, err, sizeof(err)) < 0) {
			fprintf(stderr, "ringcap run: control token: %s\n", err);
			return -EPERM;
		}
		fprintf(stderr, "ringcap: the control port is not on loopback: requests need "
			"\"Authorization: Bearer %s\" (%s %s/%s)\n", p->token,
			created ? "new, saved in" : "from", r->data_dir, RC_TOKEN_FILE);
	}
	struct rc_control_cfg cc = { .addr = &r->control, .addr_len = r->control_len,
				     .ca = t->ca ? &t->onboard : NULL, .api = p->api,
				     .capture = p->cap, .token = p->token };
	if (rc_control_start(&p->ctl, &cc, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap run: %s\n", err);
		return -EIO;
	}
	return 0;
}

static int run_daemon(struct run_opts *rp, const struct rc_filter *filter);

static int run_main(int argc, char **argv, const struct rc_filter *filter)
{
	struct run_opts r = { .data_dir = "./ringcap-data", .max_body = 16u << 20,
			      .flush_interval_ms = SEG_FLUSH_NS_DEFAULT / 1000000u };
	eng_config_defaults(&r.eng);
	char cerr[128];
	rc_parse_addr("127.0.0.1:5560", &r.control, &r.control_len, cerr, sizeof(cerr));
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
	ses_mark_interrupted(r.data_dir);
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
	if (t.ca)
		fprintf(stderr, "ringcap: %s CA %s (SHA-256 %s); devices install it from "
			"http://ringcap.cert/ through the proxy\n",
			tls_ca_created(t.ca) ? "created" : "using", tls_ca_cert_path(t.ca),
			tls_ca_fingerprint(t.ca));
	fprintf(stderr, "ringcap: proxy listening, %u workers\n", workers);
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

static int cmd_run(int argc, char **argv)
{
	struct rc_filter filter;
	int rc = run_filter(&filter, &argc, argv) < 0 ? 2 : run_main(argc, argv, &filter);
	rc_filter_free(&filter); /* the engine has stopped: no worker holds it */
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "ca") == 0)
		return rc_cmd_ca(argc - 1, argv + 1);
	if (strcmp(cmd, "sessions") == 0)
		return rc_cmd_sessions(argc - 1, argv + 1);
	if (strcmp(cmd, "session") == 0)
		return rc_cmd_session(argc - 1, argv + 1);
	if (strcmp(cmd, "ls") == 0)
		return rc_cmd_ls(argc - 1, argv + 1);
	if (strcmp(cmd, "show") == 0)
		return rc_cmd_show(argc - 1, argv + 1);
	if (strcmp(cmd, "fsck") == 0)
		return rc_cmd_fsck(argc - 1, argv + 1);
	if (strcmp(cmd, "overview") == 0)
		return rc_cmd_overview(argc - 1, argv + 1);
	if (strcmp(cmd, "cookies") == 0)
		return rc_cmd_cookies(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("ringcap %s\n", RINGCAP_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ringcap: unknown command '%s' (see ringcap --help)\n", cmd);
	return 2;
}
