/*
 * engine/eng.c - engine life cycle: configuration defaults, the kernel
 * feature probe, listeners, worker start and stop, counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/eng-int.h"
#include "engine/px-exchange.h"

static const char *const err_names[ENG_ERR_COUNT] = {
	[ENG_ERR_NONE] = "none",
	[ENG_ERR_BAD_REQUEST] = "bad_request",
	[ENG_ERR_HEAD_TOO_BIG] = "head_too_big",
	[ENG_ERR_HEADER_TIMEOUT] = "header_timeout",
	[ENG_ERR_DNS] = "dns",
	[ENG_ERR_CONNECT] = "connect",
	[ENG_ERR_CONNECT_TIMEOUT] = "connect_timeout",
	[ENG_ERR_UPSTREAM_TIMEOUT] = "upstream_timeout",
	[ENG_ERR_BAD_RESPONSE] = "bad_response",
	[ENG_ERR_UPSTREAM_CLOSED] = "upstream_closed",
	[ENG_ERR_CLIENT_CLOSED] = "client_closed",
	[ENG_ERR_OVERLOAD] = "overload",
	[ENG_ERR_SHUTDOWN] = "shutdown",
	[ENG_ERR_TLS_CLIENT] = "tls_client",
	[ENG_ERR_TLS_UPSTREAM] = "tls_upstream",
	[ENG_ERR_AUTH] = "auth",
	[ENG_ERR_AUTH_LIMITED] = "auth_limited",
	[ENG_ERR_FORBIDDEN] = "forbidden",
	[ENG_ERR_CLIENT_LIMIT] = "client_limit",
	[ENG_ERR_CERT_REFUSED] = "cert_refused",
};

const char *eng_err_name(enum eng_err e)
{
	return (unsigned)e < ENG_ERR_COUNT ? err_names[e] : "unknown";
}

/* Loopback, private, unique-local and link-local ranges: a proxy that
 * answers the whole internet is an open relay (RFC 1918, 4193, 3927, 4291). */
static const struct eng_cidr default_allow[] = {
	{ AF_INET, 8, { 127 } },
	{ AF_INET, 8, { 10 } },
	{ AF_INET, 12, { 172, 16 } },
	{ AF_INET, 16, { 192, 168 } },
	{ AF_INET, 16, { 169, 254 } },
	{ AF_INET6, 128, { [15] = 1 } },
	{ AF_INET6, 7, { 0xfc } },
	{ AF_INET6, 10, { 0xfe, 0x80 } },
};

/* CONNECT goes to HTTPS and plain HTTP only unless --connect-ports says
 * otherwise: a proxy that tunnels anywhere relays SMTP spam and SSH. */
static const struct eng_port_range default_connect_ports[] = { { 443, 443 }, { 80, 80 } };

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool eng_cidr_match(const struct eng_cidr *list, unsigned n, const struct sockaddr_storage *addr)
{
	uint8_t v4[4], v6[16];
	bool is4 = false, is6 = false;
	if (addr->ss_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		is4 = true;
	} else if (addr->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		memcpy(v6, a, 16);
		is6 = true;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(v4, v6 + 12, 4);
			is4 = true;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (list[i].family == AF_INET && is4 && prefix_equal(list[i].addr, v4, list[i].bits))
			return true;
		if (list[i].family == AF_INET6 && is6 && prefix_equal(list[i].addr, v6, list[i].bits))
			return true;
	}
	return false;
}

void eng_config_defaults(struct eng_config *c)
{
	memset(c, 0, sizeof(*c));
	struct sockaddr_in *in = (struct sockaddr_in *)&c->listen;
	in->sin_family = AF_INET;
	in->sin_port = htons(5559);
	in->sin_addr.s_addr = htonl(INADDR_ANY);
	c->listen_len = sizeof(*in);
	c->workers = 0;
	c->max_conns = ENG_CONNS_DEFAULT;
	c->max_request_head = ENG_REQUEST_HEAD_DEFAULT;
	c->max_request_line = ENG_REQUEST_LINE_DEFAULT;
	c->max_response_head = ENG_RESPONSE_HEAD_DEFAULT;
	c->max_headers = ENG_HEADERS_DEFAULT;
	c->header_timeout_ms = ENG_HEADER_TIMEOUT_MS;
	c->idle_timeout_ms = ENG_IDLE_TIMEOUT_MS;
	c->connect_timeout_ms = ENG_CONNECT_TIMEOUT_MS;
	c->upstream_timeout_ms = ENG_UPSTREAM_TIMEOUT_MS;
	c->upstream_idle_timeout_ms = ENG_UPSTREAM_IDLE_MS;
	c->upstream_idle_max = ENG_UPSTREAM_IDLE_MAX;
	c->grace_ms = ENG_GRACE_MS;
	c->dns_ttl_ms = ENG_DNS_TTL_MS;
	c->buf_count = ENG_BUF_COUNT_DEFAULT;
	c->buf_size = ENG_BUF_SIZE_DEFAULT;
	c->head_buffers = ENG_HEADBUF_DEFAULT;
	c->zc_threshold = ENG_ZC_THRESHOLD_DEFAULT;
	c->tls_buffers = ENG_TLS_BUFS_DEFAULT;
	c->h2_max_streams = ENG_H2_STREAMS_DEFAULT;
	c->h2_stream_window = ENG_H2_STREAM_WINDOW_DEFAULT;
	c->h2_conn_window = ENG_H2_CONN_WINDOW_DEFAULT;
	c->h2_max_header_list = ENG_H2_HEADER_LIST_DEFAULT;
	c->leaf_cache = ENG_LEAF_CACHE_DEFAULT;
	c->allow = default_allow;
	c->nallow = sizeof(default_allow) / sizeof(default_allow[0]);
	c->max_conns_per_client = ENG_CONNS_PER_CLIENT_DEFAULT;
	c->auth_fail_max = ENG_AUTH_FAIL_MAX_DEFAULT;
	c->auth_fail_window_ms = ENG_AUTH_FAIL_WINDOW_MS;
	c->connect_ports = default_connect_ports;
	c->nconnect_ports = sizeof(default_connect_ports) / sizeof(default_connect_ports[0]);
}

/* Every opcode the data plane submits; a kernel without one fails here, at
 * start-up, with its name, not later on the hot path. */
static int probe(char *err, size_t err_len)
{
	static const struct { int op; const char *name; const char *kernel; } need[] = {
		{ IORING_OP_ACCEPT, "IORING_OP_ACCEPT", "5.5" },
		{ IORING_OP_CONNECT, "IORING_OP_CONNECT", "5.5" },
		{ IORING_OP_RECV, "IORING_OP_RECV", "5.6" },
		{ IORING_OP_SENDMSG, "IORING_OP_SENDMSG", "5.3" },
		{ IORING_OP_CLOSE, "IORING_OP_CLOSE", "5.6" },
		{ IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT", "5.4" },
		{ IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL", "5.5" },
		{ IORING_OP_MSG_RING, "IORING_OP_MSG_RING", "5.18" },
		{ IORING_OP_SEND_ZC, "IORING_OP_SEND_ZC (also implies multishot recv)", "6.0" },
		{ IORING_OP_SENDMSG_ZC, "IORING_OP_SENDMSG_ZC", "6.1" },
	};
	struct io_uring_probe *p = io_uring_get_probe();
	if (p == NULL) {
		snprintf(err, err_len, "io_uring is not available (kernel too old, or "
			 "disabled by kernel.io_uring_disabled / seccomp)");
		return -ENOSYS;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!io_uring_opcode_supported(p, need[i].op)) {
			snprintf(err, err_len, "kernel lacks %s (needs Linux %s+)",
				 need[i].name, need[i].kernel);
			io_uring_free_probe(p);
			return -ENOSYS;
		}
	}
	io_uring_free_probe(p);
	return 0;
}

static void addr_str(const struct sockaddr_storage *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s:%u", ip, port);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)a;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(out, len, "[%s]:%u", ip, port);
	}
}

/* One SO_REUSEPORT listener per worker. A plain bind first, so that a port
 * some other process holds (even with SO_REUSEPORT) is an error, not a
 * silent share of its traffic. */
static int listen_one(const struct eng_config *c, bool reuseport, char *err, size_t err_len)
{
	char where[80];
	addr_str(&c->listen, where, sizeof(where));
	int fd = socket(c->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_len, "cannot listen on %s: %s", where, strerror(errno));
		return -errno;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&c->listen, c->listen_len) < 0 ||
	    listen(fd, 4096) < 0) {
		int rc = -errno;
		snprintf(err, err_len, "cannot listen on %s: %s", where, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

static int pick_cpus(int *cpus, unsigned n)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	int avail[CPU_SETSIZE], navail = 0;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			avail[navail++] = i;
	for (unsigned i = 0; i < n; i++)
		cpus[i] = navail ? avail[i % (unsigned)navail] : -1;
	return navail;
}

int eng_start(struct eng **out, const struct eng_config *c, char *err, size_t err_len)
{
	int rc = probe(err, err_len);
	if (rc < 0)
		return rc;
	int fd = listen_one(c, false, err, err_len);
	if (fd < 0)
		return fd;
	close(fd);

	struct eng *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	e->cfg = *c;
	pthread_mutex_init(&e->rej_mu, NULL);
	e->nworkers = c->workers ? c->workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (e->nworkers == 0 || e->nworkers > ENG_WORKERS_MAX)
		e->nworkers = 1;
	e->w = calloc(e->nworkers, sizeof(*e->w));
	if (e->w == NULL) {
		free(e);
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	}
	int cpus[ENG_WORKERS_MAX];
	pick_cpus(cpus, e->nworkers);
	for (unsigned i = 0; i < e->nworkers; i++) {
		e->w[i].e = e;
		e->w[i].proto = &px_proto_ops;
		e->w[i].index = i;
		e->w[i].listen_fd = -1;
	}
	rc = eng_access_start(e, err, err_len);
	if (rc < 0)
		goto out_free;
	rc = eng_resolver_start(e, err, err_len);
	if (rc < 0) {
		eng_access_stop(e);
		goto out_free;
	}
	for (unsigned i = 0; i < e->nworkers; i++) {
		rc = listen_one(c, true, err, err_len);
		if (rc < 0)
			goto out_stop;
		e->w[i].listen_fd = rc;
		rc = eng_worker_spawn(&e->w[i], cpus[i], err, err_len);
		if (rc < 0)
			goto out_stop;
	}
	*out = e;
	return 0;

out_stop:
	eng_stop(e);
	return rc;
out_free:
	free(e->w);
	free(e);
	return rc;
}

/* Wakes every worker at once (a completion posted into its ring) instead
 * of letting each notice `stopping` at its next timer tick. */
static void wake_workers(struct eng *e)
{
	struct io_uring r;
	if (io_uring_queue_init(8, &r, 0) < 0)
		return;   /* the next tick, within ENG_TICK_MS, does it */
	for (unsigned i = 0; i < e->nworkers; i++) {
		if (e->w[i].ring.uring.ring_fd <= 0)
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		if (sqe == NULL) {
			io_uring_submit(&r);
			sqe = io_uring_get_sqe(&r);
		}
		io_uring_prep_msg_ring(sqe, e->w[i].ring.uring.ring_fd, 0, udata(OP_CANCEL, 0, 0), 0);
	}
	io_uring_submit_and_wait(&r, e->nworkers);
	io_uring_queue_exit(&r);
}

void eng_stop(struct eng *e)
{
	atomic_store(&e->stopping, true);
	wake_workers(e);
	/* the resolver serves draining workers, and must stop posting to
	 * their rings before those are freed */
	for (unsigned i = 0; i < e->nworkers; i++)
		eng_worker_join(&e->w[i]);
	eng_resolver_stop(e);
	for (unsigned i = 0; i < e->nworkers; i++)
		eng_worker_free(&e->w[i]);
	eng_access_stop(e);
	free(e->w);
	free(e);
}

void eng_counters(const struct eng *e, struct eng_counters *out)
{
	memset(out, 0, sizeof(*out));
	const size_t n = sizeof(*out) / sizeof(uint64_t);
	for (unsigned i = 0; i < e->nworkers; i++) {
		const uint64_t *src = (const uint64_t *)&e->w[i].c;
		uint64_t *dst = (uint64_t *)out;
		for (size_t k = 0; k < n; k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
}

unsigned eng_tls_rejects(struct eng *e, struct eng_tls_reject *out, unsigned max)
{
	unsigned n = 0;
	pthread_mutex_lock(&e->rej_mu);
	for (unsigned i = 0; i < ENG_TLS_REJECT_NAMES && n < max; i++) {
		if (e->rej[i].n == 0)
			continue;
		memcpy(out[n].name, e->rej[i].name, sizeof(out[n].name));
		out[n].count = e->rej[i].n;
		n++;
	}
	pthread_mutex_unlock(&e->rej_mu);
	/* most first: a short insertion sort over at most 32 entries */
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && out[j].count > out[j - 1].count; j--) {
			struct eng_tls_reject t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}
