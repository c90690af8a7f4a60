/*
 * tools/control.c - the control port: a small HTTP/1.1 server on its own
 * thread, away from the data plane. One request per connection (answers
 * carry Connection: close), heads bounded by CTL_HEAD_MAX, every socket
 * with a receive/send timeout so a slow client cannot hold the thread.
 *
 *   GET /ca.pem /ca.crt /ca.cer /ca.p12 /ca.sha256   the interception CA
 *   GET /ca  (and /ca/)                               the install page
 *   GET /metrics                                      Prometheus text
 *                          (engine counters, then the capture store's)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "engine/eng.h"
#include "engine/onboard.h"
#include "tools/capture.h"
#include "tools/control.h"

#define CTL_HEAD_MAX 8192u      /* a request head; larger gets 431 */
#define CTL_IO_TIMEOUT_S 5      /* per read/write on a control connection */
#define CTL_METRICS_MAX 16384u  /* the /metrics text */

struct rc_control {
	int fd;
	pthread_t thread;
	atomic_bool stop;
	const struct eng_onboard_ca *ca;
	_Atomic(struct eng *) eng;
	_Atomic(struct rc_capture *) cap;
};

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k <= 0)
			return;
		c += k;
		n -= (size_t)k;
	}
}

static void reply(int fd, int status, const char *reason, const char *ctype,
		  const void *body, size_t len)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, reason, ctype, len);
	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
}

/* The capture sink's counters (tools/capture.c), zero without one. */
static size_t capture_metrics(struct rc_capture *c, char *out, size_t cap)
{
	struct rc_capture_stats st = { 0 };
	if (c)
		rc_capture_stats(c, &st);
	const struct { const char *name, *type, *help; uint64_t v; } m[] = {
		{ "ringcap_capture_exchanges_written_total", "counter",
		  "exchanges handed whole to the capture store", st.written },
		{ "ringcap_capture_exchanges_dropped_total", "counter",
		  "exchanges not stored (writer full, capture stopped, write failed)", st.dropped },
		{ "ringcap_capture_exchanges_filtered_total", "counter",
		  "exchanges the capture filter left out", st.filtered },
		{ "ringcap_capture_failed", "gauge",
		  "1 when capture stopped on a failed write (disk full, EIO)", st.failed },
		{ "ringcap_capture_segment_bytes_total", "counter",
		  "bytes of segment, index and string files written to disk", st.bytes },
	};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		int w = snprintf(out + n, cap - n, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
				 m[i].name, m[i].help, m[i].name, m[i].type, m[i].name,
				 (unsigned long long)m[i].v);
		if (w < 0 || (size_t)w >= cap - n)
			return n;
		n += (size_t)w;
	}
	return n;
}

static size_t metrics(struct eng *e, struct rc_capture *c, char *out, size_t cap)
{
	struct eng_counters k;
	eng_counters(e, &k);
	static const struct { const char *name, *help; size_t off; } m[] = {
#define M(f, h) { "ringcap_" #f, h, offsetof(struct eng_counters, f) }
		M(conns_accepted, "client connections accepted"),
		M(conns_open, "client connections open"),
		M(conns_rejected, "client connections answered 503 (over --max-conns)"),
		M(conns_denied, "client connections outside --allow"),
		M(requests, "request heads parsed"),
		M(responses, "response heads forwarded"),
		M(tunnels, "CONNECT tunnels"),
		M(upgrades, "protocol upgrades (WebSocket)"),
		M(bytes_from_clients, "bytes received from clients"),
		M(bytes_to_clients, "bytes queued to clients"),
		M(bytes_from_upstreams, "bytes received from upstreams"),
		M(bytes_to_upstreams, "bytes queued to upstreams"),
		M(upstream_connects, "upstream connections made"),
		M(upstream_reused, "requests on a pooled upstream connection"),
		M(zc_sends, "zero-copy sends"),
		M(zc_copied, "zero-copy sends the kernel copied anyway"),
		M(tls_handshakes, "TLS handshakes with clients"),
		M(tls_failures, "failed TLS handshakes with clients"),
		M(tls_cert_rejected, "clients that refused the minted certificate"),
		M(tls_upstream_handshakes, "TLS handshakes with upstreams"),
		M(tls_upstream_failures, "failed TLS handshakes with upstreams"),
#undef M
	};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]) && n < cap; i++) {
		uint64_t v = *(const uint64_t *)((const char *)&k + m[i].off);
		const char *type = strcmp(m[i].name, "ringcap_conns_open") == 0 ? "gauge" : "counter";
		int w = snprintf(out + n, cap - n, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
				 m[i].name, m[i].help, m[i].name, type, m[i].name,
				 (unsigned long long)v);
		if (w < 0 || (size_t)w >= cap - n)
			return n;
		n += (size_t)w;
	}
	int w = snprintf(out + n, cap - n, "# HELP ringcap_errors exchanges that ended in an error\n"
			 "# TYPE ringcap_errors counter\n");
	if (w > 0 && (size_t)w < cap - n)
		n += (size_t)w;
	for (int i = 1; i < ENG_ERR_COUNT && n < cap; i++) {
		w = snprintf(out + n, cap - n, "ringcap_errors{kind=\"%s\"} %llu\n",
			     eng_err_name((enum eng_err)i), (unsigned long long)k.errors[i]);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	return n + capture_metrics(c, out + n, cap - n);
}

/* Serves one connection: reads a head, answers, closes. */
static void serve(struct rc_control *c, int fd)
{
	char req[CTL_HEAD_MAX + 1];
	size_t got = 0;
	while (got < CTL_HEAD_MAX) {
		ssize_t k = read(fd, req + got, CTL_HEAD_MAX - got);
		if (k <= 0)
			return;
		got += (size_t)k;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (!strstr(req, "\r\n\r\n")) {
		reply(fd, 431, "Request Header Fields Too Large", "text/plain", "head too large\n", 15);
		return;
	}
	char method[8], path[256];
	if (sscanf(req, "%7s %255s", method, path) != 2 ||
	    (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
		reply(fd, 405, "Method Not Allowed", "text/plain", "GET only\n", 9);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		char *text = malloc(CTL_METRICS_MAX);
		struct eng *e = atomic_load(&c->eng);
		if (text == NULL || e == NULL) {
			free(text);
			reply(fd, 503, "Service Unavailable", "text/plain", "starting\n", 9);
			return;
		}
		size_t n = metrics(e, atomic_load(&c->cap), text, CTL_METRICS_MAX);
		reply(fd, 200, "OK", "text/plain; version=0.0.4", text, n);
		free(text);
		return;
	}
	struct eng_onboard_reply r;
	const char *p = path;
	if (strcmp(p, "/ca") == 0 || strcmp(p, "/ca/") == 0)
		p = "/";
	if (c->ca && (strncmp(p, "/ca.", 4) == 0 || strcmp(p, "/") == 0) &&
	    eng_onboard_answer(p, strlen(p), c->ca, NULL, 0, &r) == 0 && r.status == 200) {
		char head[ENG_ONBOARD_HEAD_MAX];
		long n = eng_onboard_write_head(&r, true, head, sizeof(head));
		if (n > 0) {
			send_all(fd, head, (size_t)n);
			for (int i = 0; i < 2 && strcmp(method, "GET") == 0; i++)
				send_all(fd, r.piece[i].p, r.piece[i].len);
			return;
		}
	}
	reply(fd, 404, "Not Found", "text/plain", "not found\n", 10);
}

static void *control_main(void *arg)
{
	struct rc_control *c = arg;
	while (!atomic_load(&c->stop)) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			continue;
		int fd = accept(c->fd, NULL, NULL);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = CTL_IO_TIMEOUT_S };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		serve(c, fd);
		close(fd);
	}
	return NULL;
}

int rc_control_start(struct rc_control **out, const struct sockaddr_storage *addr,
		     socklen_t addr_len, const struct eng_onboard_ca *ca,
		     char *err, size_t err_len)
{
	struct rc_control *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	c->ca = ca;
	c->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (c->fd >= 0)
		setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (c->fd < 0 || bind(c->fd, (const struct sockaddr *)addr, addr_len) < 0 ||
	    listen(c->fd, 64) < 0) {
		int rc = -errno;
		snprintf(err, err_len, "cannot listen on the control port: %s", strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return rc;
	}
	int rc = pthread_create(&c->thread, NULL, control_main, c);
	if (rc != 0) {
		snprintf(err, err_len, "cannot start the control thread: %s", strerror(rc));
		close(c->fd);
		free(c);
		return -rc;
	}
	*out = c;
	return 0;
}

void rc_control_set_engine(struct rc_control *c, struct eng *e)
{
	atomic_store(&c->eng, e);
}

void rc_control_set_capture(struct rc_control *c, struct rc_capture *cap)
{
	atomic_store(&c->cap, cap);
}

void rc_control_stop(struct rc_control *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	close(c->fd);
	free(c);
}
