/*
 * engine/proxy.c - the HTTP/1.1 forward proxy state machine.
 *
 * A client connection carries one exchange at a time: pipelined requests
 * wait in its input queue until the previous response is complete, so
 * responses go back in order. An exchange pairs the client with one
 * upstream socket, taken from the worker's idle pool or connected anew.
 * Request and response bodies stream through as provided-buffer segments
 * (no copy); heads are copied into head-pool buffers, checked, rewritten.
 *
 * Invariants: nothing reaches an upstream before its request head passed
 * h1_scan and h1_parse_head; body bytes are forwarded only after llhttp
 * accepted them; a connection whose peer is slow stops reading (output
 * queue full -> stop consuming -> input queue full -> recv paused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/eng-int.h"
#include "engine/onboard.h"

/* The worker whose loop runs on this thread: llhttp body callbacks need it. */
static _Thread_local struct eng_worker *cur_w;

static void client_pump(struct eng_worker *w, struct eng_sock *c);
static void upstream_pump(struct eng_worker *w, struct eng_sock *u);
static void exchange_end(struct eng_worker *w, struct eng_sock *c);
static void fail(struct eng_worker *w, struct eng_sock *c, enum eng_err err,
		 int status, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void upstream_release(struct eng_worker *w, struct eng_sock *c, bool reuse);
static void upstream_close(struct eng_worker *w, struct eng_sock *u);
static void client_abort(struct eng_worker *w, struct eng_sock *c, enum eng_err err);

static const char established[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
static const char rejected_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	"Content-Length: 38\r\nConnection: close\r\n\r\n"
	"ringcap: too many connections, retry\r\n";
static const char client_limit_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	"Content-Length: 74\r\nConnection: close\r\n\r\n"
	"ringcap: too many connections from your address (--max-conns-per-client)\r\n";

static struct eng_sock *peer_of(struct eng_worker *w, struct eng_sock *s)
{
	return s->peer == ENG_NONE ? NULL : &w->socks[s->peer];
}

/* No input left, ciphertext included (peeking decrypts). */
static bool in_empty(struct eng_worker *w, struct eng_sock *s)
{
	const char *p;
	return eng_in_peek(w, s, &p) == 0;
}

static const struct eng_sink_ops *sink(struct eng_worker *w)
{
	return w->e->cfg.sink;
}

/* No room for more body bytes toward s; under buffer pressure a plain
 * socket gets only a small share (ENG_OUT_SEGS_PRESSURE). */
static bool body_full(struct eng_worker *w, const struct eng_sock *s)
{
	return eng_out_full(s) ||
	       (s->tls == NULL && s->out.n >= ENG_OUT_SEGS_PRESSURE && eng_buf_pressure(w));
}

static uint64_t since(const struct eng_sock *c)
{
	return eng_now_ns() - c->t0_ns;
}

/* ---- exchange records ---- */

static struct eng_xchg *xchg_get(struct eng_worker *w)
{
	uint32_t i = w->xchg_free;
	if (i == ENG_NONE)
		return NULL;
	w->xchg_free = w->xchg_free_next[i];
	memset(&w->xchgs[i], 0, sizeof(w->xchgs[i]));
	return &w->xchgs[i];
}

static void xchg_put(struct eng_worker *w, struct eng_xchg *x)
{
	uint32_t i = (uint32_t)(x - w->xchgs);
	w->xchg_free_next[i] = w->xchg_free;
	w->xchg_free = i;
}

static void on_req_body(void *arg, const char *at, size_t n)
{
	struct eng_sock *c = arg;
	struct eng_worker *w = cur_w;
	if (c->sink_h && sink(w)->body)
		sink(w)->body(w->sink_ctx, c->sink_h, ENG_DIR_REQUEST, at, n);
}

static void on_resp_body(void *arg, const char *at, size_t n)
{
	struct eng_sock *u = arg;
	struct eng_worker *w = cur_w;
	struct eng_sock *c = peer_of(w, u);
	if (c && c->sink_h && sink(w)->body)
		sink(w)->body(w->sink_ctx, c->sink_h, ENG_DIR_RESPONSE, at, n);
}

/* ---- accept, local answers ---- */

/* Answers a new connection with a canned 503 and closes it. */
static void reject(struct eng_worker *w, struct eng_sock *c, enum eng_err why,
		   const char *answer, size_t len)
{
	w->c.conns_rejected++;
	w->c.errors[why]++;
	if (w->rejecting >= ENG_REJECT_SLOTS) {
		eng_sock_close(w, c);   /* a flood: no answer, just close */
		return;
	}
	/* answered and lingering, it no longer counts against max-conns */
	w->rejecting++;
	c->flags |= SF_REJECTED;
	eng_out_push(w, c, SEG_CONST, 0, answer, (uint32_t)len);
	c->flags |= SF_FLUSHCLOSE;
	c->state = C_LINGER;
	eng_flush(w, c);
}

void px_accepted(struct eng_worker *w, struct eng_sock *c)
{
	cur_w = w;
	c->state = C_IDLE;
	h1_parser_init(&c->hp, false, on_req_body, c);
	if (w->clients - w->rejecting > w->e->cfg.max_conns || w->draining) {
		reject(w, c, ENG_ERR_OVERLOAD, rejected_503, sizeof(rejected_503) - 1);
		return;
	}
	socklen_t len = sizeof(c->addr);
	getpeername(c->fd, (struct sockaddr *)&c->addr, &len);
	if (w->e->cfg.allow && !eng_cidr_match(w->e->cfg.allow, w->e->cfg.nallow, &c->addr)) {
		w->c.conns_denied++;   /* not in --allow: no answer at all */
		eng_sock_close(w, c);
		return;
	}
	if (!eng_access_conn_get(w, c)) {
		reject(w, c, ENG_ERR_CLIENT_LIMIT, client_limit_503, sizeof(client_limit_503) - 1);
		return;
	}
	eng_timer_arm(w, c, T_HEADER);
	eng_recv_arm(w, c);
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

static void respond_ex(struct eng_worker *w, struct eng_sock *c, int status,
		       const char *ctype, const char *body, size_t body_len, bool close,
		       const char *extra);

/* Queues a complete response made by the proxy. The body is text. */
static void respond(struct eng_worker *w, struct eng_sock *c, int status,
		    const char *ctype, const char *body, size_t body_len, bool close)
{
	respond_ex(w, c, status, ctype, body, body_len, close, "");
}

/* respond() with extra header lines (each ending in CRLF). */
static void respond_ex(struct eng_worker *w, struct eng_sock *c, int status,
		       const char *ctype, const char *body, size_t body_len, bool close,
		       const char *extra)
{
	uint32_t hb = eng_out_full(c) ? ENG_NONE : eng_head_get(w);
	if (hb == ENG_NONE) {
		eng_sock_close(w, c);
		return;
	}
	char *p = eng_head_ptr(w, hb);
	bool head_only = c->xflags & XF_HEAD_REQ;
	int n = snprintf(p, w->head_size, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nVia: 1.1 ringcap\r\n%s%s\r\n",
			 status, reason_of(status), ctype, body_len, extra,
			 close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n + body_len > w->head_size)
		body_len = 0;
	if (!head_only && body_len)
		memcpy(p + n, body, body_len);
	size_t total = (size_t)n + (head_only ? 0 : body_len);
	eng_out_push(w, c, SEG_HEAD, (uint16_t)hb, p, (uint32_t)total);
	w->c.bytes_to_clients += total;
	if (c->x) {
		c->x->status = (uint16_t)status;
		c->x->response_head_bytes = (uint64_t)n;
		c->x->response_body_bytes = head_only ? 0 : body_len;
	}
	c->xflags |= XF_RESP_HEAD;
	if (close) {
		c->xflags |= XF_CLOSE;
		c->flags |= SF_FLUSHCLOSE;
	}
	eng_flush(w, c);
}

static void fail(struct eng_worker *w, struct eng_sock *c, enum eng_err err,
		 int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 3)
		n = (int)sizeof(msg) - 3;
	msg[n++] = '\n';
	msg[n] = '\0';
	w->c.errors[err]++;
	if (c->x)
		c->x->err = err;
	c->err = (uint8_t)err;
	upstream_release(w, c, false);
	/* a response still wholly in our queue can yet become an error page */
	if ((c->xflags & XF_RESP_HEAD) && status != 0 && eng_out_unpush(w, c, c->resp_seg)) {
		c->xflags &= (uint8_t)~XF_RESP_HEAD;
		if (c->x)
			c->x->response_body_bytes = 0;
	}
	if ((c->xflags & XF_RESP_HEAD) || status == 0) {
		/* the client already has part of an answer: only a close is honest */
		exchange_end(w, c);
		eng_sock_close(w, c);
		return;
	}
	respond(w, c, status, "text/plain; charset=utf-8", msg, (size_t)n, true);
	exchange_end(w, c);
}

/* An access refusal decided by engine/access.c (407, 429, 403), answered
 * here; the connection stays open when the request has no body left. */
static void deny(struct eng_worker *w, struct eng_sock *c, const struct eng_deny *d)
{
	if (!c->hp.done || d->close)
		c->xflags |= XF_CLOSE;
	w->c.errors[d->err]++;
	c->x->err = d->err;
	c->x->flags |= ENG_X_LOCAL;
	respond_ex(w, c, d->status, "text/plain; charset=utf-8", d->msg, strlen(d->msg),
		   (c->xflags & XF_CLOSE) != 0, d->extra);
	c->xflags |= XF_REQ_DONE | XF_RESP_DONE;
	exchange_end(w, c);
}

/* Host names never contain HTML specials (h1_parse_target and the TLS
 * name rules refuse them), so they are printed as they are. */
static int status_rejects(struct eng_worker *w, char *out, size_t cap)
{
	struct eng_tls_reject r[ENG_TLS_REJECT_NAMES];
	unsigned n = eng_tls_rejects(w->e, r, ENG_TLS_REJECT_NAMES);
	if (n == 0 || cap == 0)
		return 0;
	int len = snprintf(out, cap, "<h2>Clients that refused the ringcap certificate</h2>"
			   "<p>Pinned apps; pass them through with --passthrough:</p><ul>");
	for (unsigned i = 0; i < n && len > 0 && (size_t)len < cap; i++)
		len += snprintf(out + len, cap - (size_t)len, "<li>%s: %llu</li>", r[i].name,
				(unsigned long long)r[i].count);
	if (len > 0 && (size_t)len < cap)
		len += snprintf(out + len, cap - (size_t)len, "</ul>");
	return len > 0 && (size_t)len < cap ? len : 0;
}

static void status_page(struct eng_worker *w, struct eng_sock *c, bool found)
{
	char body[4096];
	struct eng_counters k;
	eng_counters(w->e, &k);
	int n = snprintf(body, sizeof(body),
		"<!doctype html><title>ringcap</title><h1>ringcap</h1>"
		"<p>This is the ringcap capture proxy. Set it as your HTTP/HTTPS proxy; "
		"requests addressed to it directly are not forwarded. Devices install "
		"its CA from <a href=\"http://ringcap.cert/\">http://ringcap.cert/</a> "
		"through the proxy.</p>"
		"<ul><li>workers: %u</li><li>open connections: %llu</li>"
		"<li>requests: %llu</li><li>TLS handshakes: %llu, failed: %llu</li></ul>%s\n",
		w->e->nworkers, (unsigned long long)k.conns_open,
		(unsigned long long)k.requests, (unsigned long long)k.tls_handshakes,
		(unsigned long long)k.tls_failures, found ? "" : "<p>Not found.</p>");
	if (n > 0 && (size_t)n < sizeof(body))
		n += status_rejects(w, body + n, sizeof(body) - (size_t)n);
	if (!c->hp.done)
		c->xflags |= XF_CLOSE;   /* a body we will not read follows */
	if (c->x)
		c->x->flags |= ENG_X_LOCAL;
	respond(w, c, found ? 200 : 404, "text/html; charset=utf-8", body, (size_t)n,
		(c->xflags & XF_CLOSE) != 0);
	c->xflags |= XF_REQ_DONE | XF_RESP_DONE;
	exchange_end(w, c);
}

/* http://ringcap.cert/: the CA install page and files. The bodies live as
 * long as the process, so they go out without a copy. */
static void onboard(struct eng_worker *w, struct eng_sock *c, const struct h1_target *t)
{
	struct eng_onboard_reply r;
	if (!c->hp.done)
		c->xflags |= XF_CLOSE;
	c->x->flags |= ENG_X_LOCAL;
	bool room = c->tls ? !eng_out_full(c) : (unsigned)c->out.n + 3u <= ENG_OUT_SEGS;
	uint32_t hb = room ? eng_head_get(w) : ENG_NONE;
	if (hb == ENG_NONE ||
	    eng_onboard_answer(t->path, t->path_len, w->e->cfg.onboard, NULL, 0, &r) < 0) {
		if (hb != ENG_NONE)
			eng_head_put(w, hb);
		fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: cannot answer ringcap.cert now");
		return;
	}
	bool close = (c->xflags & XF_CLOSE) != 0;
	char *p = eng_head_ptr(w, hb);
	long n = eng_onboard_write_head(&r, close, p, w->head_size);
	eng_out_push(w, c, SEG_HEAD, (uint16_t)hb, p, (uint32_t)n);
	size_t body = 0;
	for (int i = 0; i < 2 && !(c->xflags & XF_HEAD_REQ); i++) {
		if (r.piece[i].len == 0)
			continue;
		eng_out_push(w, c, SEG_CONST, 0, r.piece[i].p, (uint32_t)r.piece[i].len);
		body += r.piece[i].len;
	}
	w->c.bytes_to_clients += (size_t)n + body;
	c->x->status = (uint16_t)r.status;
	c->x->response_head_bytes = (uint64_t)n;
	c->x->response_body_bytes = body;
	c->xflags |= XF_RESP_HEAD | XF_REQ_DONE | XF_RESP_DONE;
	if (close)
		c->flags |= SF_FLUSHCLOSE;
	eng_flush(w, c);
	exchange_end(w, c);
}

/* TRACE and OPTIONS with Max-Forwards: 0 are answered here (RFC 9110 7.6.2). */
static void max_forwards_zero(struct eng_worker *w, struct eng_sock *c,
			      const struct h1_msg *m)
{
	if (!c->hp.done)
		c->xflags |= XF_CLOSE;
	if (c->x)
		c->x->flags |= ENG_X_LOCAL;
	if (m->method == HTTP_TRACE)
		respond(w, c, 200, "message/http", m->base, m->head_len,
			(c->xflags & XF_CLOSE) != 0);
	else
		respond(w, c, 200, "text/plain", "", 0, (c->xflags & XF_CLOSE) != 0);
	c->xflags |= XF_REQ_DONE | XF_RESP_DONE;
	exchange_end(w, c);
}

/* ---- upstream pool (engine/pool.c) ---- */

/* Keeps u for reuse; over --upstream-idle-max it is closed instead. */
static void pool_put(struct eng_worker *w, struct eng_sock *u)
{
	u->peer = ENG_NONE;
	if (!eng_pool_put(w, u)) {
		u->state = U_ACTIVE;
		upstream_close(w, u);
	}
}

static void upstream_close(struct eng_worker *w, struct eng_sock *u)
{
	if (u->state == U_IDLE)
		eng_pool_remove(w, u);
	u->peer = ENG_NONE;
	eng_sock_close(w, u);
}

/* Detaches the client's upstream: back to the pool when `reuse` and it is
 * clean, closed otherwise. */
static void upstream_release(struct eng_worker *w, struct eng_sock *c, bool reuse)
{
	struct eng_sock *u = peer_of(w, c);
	c->peer = ENG_NONE;
	if (u == NULL)
		return;
	u->peer = ENG_NONE;
	bool clean = reuse && (u->flags & SF_REUSABLE) && in_empty(w, u) &&
		     !(u->flags & (SF_EOF | SF_CLOSING)) && !w->draining &&
		     u->head_buf == ENG_NONE;
	if (clean)
		pool_put(w, u);
	else
		upstream_close(w, u);
}

/* ---- connecting ---- */

static void start_exchange(struct eng_worker *w, struct eng_sock *c, struct eng_sock *u)
{
	u->state = U_ACTIVE;
	u->xflags = 0;
	u->flags &= (uint32_t)~SF_REUSABLE;
	u->scan = (struct h1_scan){0};
	u->head_len = 0;
	if (c->xflags & XF_CONNECT) {
		eng_head_put(w, c->head_buf);
		c->head_buf = ENG_NONE;
		c->state = C_TUNNEL;
		u->state = U_TUNNEL;
		c->x->flags |= ENG_X_TUNNEL;
		c->x->status = 200;
		w->c.tunnels++;
		eng_out_push(w, c, SEG_CONST, 0, established, sizeof(established) - 1);
		w->c.bytes_to_clients += sizeof(established) - 1;
		if (c->flags & SF_INTERCEPT) {
			/* the first flight decides: TLS is intercepted */
			c->state = C_SNIFF;
			u->state = U_PARKED;
			eng_timer_arm(w, c, T_HEADER);
			eng_timer_stop(w, u);
			eng_flush(w, c);
			client_pump(w, c);
			return;
		}
		eng_timer_arm(w, c, T_IDLE);
		eng_timer_arm(w, u, T_IDLE);
		eng_flush(w, c);
		client_pump(w, c);
		return;
	}
	/* the client keeps its reference until the response head: a pooled
	 * upstream that turns out closed gets the request again elsewhere */
	char *head = eng_head_ptr(w, c->head_buf);
	eng_head_ref(w, c->head_buf);
	eng_out_push(w, u, SEG_HEAD, (uint16_t)c->head_buf, head, c->head_len);
	w->c.bytes_to_upstreams += c->head_len;
	c->state = C_EXCHANGE;
	c->x->request_sent_ns = since(c);
	eng_timer_arm(w, u, T_UPSTREAM);
	if (c->xflags & XF_REQ_DONE)
		eng_timer_stop(w, c);
	else
		eng_timer_arm(w, c, T_IDLE);
	/* body bytes already here are validated before anything is sent */
	client_pump(w, c);
	if (!(c->flags & SF_CLOSING) && peer_of(w, c) == u)
		eng_flush(w, u);
}

static void connect_start(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_sock *c = peer_of(w, u);
	/* on the resolved address: no name can sneak past */
	const char *refused = eng_upstream_refused(w, &u->addr);
	if (refused) {
		fail(w, c, ENG_ERR_FORBIDDEN, 403, "ringcap: refused to connect to %s:%u: %s",
		     u->host, u->port, refused);
		return;
	}
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(w, c, ENG_ERR_CONNECT, 502, "ringcap: cannot connect to %s:%u: %s",
		     u->host, u->port, strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	u->fd = fd;
	u->state = U_CONNECTING;
	if (c && c->x)
		c->x->dns_ns = since(c);
	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&u->addr, u->addr_len);
	io_uring_sqe_set_data64(sqe, udata(OP_CONNECT, eng_slot(w, u), u->gen));
	u->ops++;
	w->c.upstream_connects++;
}

void px_connected(struct eng_worker *w, struct eng_sock *u, int res)
{
	cur_w = w;
	struct eng_sock *c = peer_of(w, u);
	if (c == NULL) {
		upstream_close(w, u);
		return;
	}
	if (res < 0) {
		fail(w, c, ENG_ERR_CONNECT, 502, "ringcap: cannot connect to %s:%u: %s",
		     u->host, u->port, strerror(-res));
		return;
	}
	c->x->connect_ns = since(c);
	eng_recv_arm(w, u);
	if (u->flags & SF_UP_TLS) {
		int rc = tls_conn_new_client(w->e->cfg.tls_client, u->host, &u->tls);
		if (rc < 0) {
			fail(w, c, ENG_ERR_TLS_UPSTREAM, 502, "ringcap: cannot start TLS with %s: %s",
			     u->host, strerror(-rc));
			return;
		}
		u->state = U_HANDSHAKE;
		eng_tls_handshake(w, u);
		return;
	}
	start_exchange(w, c, u);
}

static bool ip_literal(struct eng_sock *u)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&u->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&u->addr;
	memset(&u->addr, 0, sizeof(u->addr));
	if (inet_pton(AF_INET, u->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(u->port);
		u->addr_len = sizeof(*in);
		return true;
	}
	if (inet_pton(AF_INET6, u->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(u->port);
		u->addr_len = sizeof(*in6);
		return true;
	}
	return false;
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

static struct eng_dns_entry *dns_slot(struct eng_worker *w, const char *h, size_t n)
{
	return &w->dns[eng_key_hash(h, n, 0) % ENG_DNS_CACHE_SLOTS];
}

static void resolve_start(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_sock *c = peer_of(w, u);
	struct eng_dns_entry *d = dns_slot(w, u->host, u->host_len);
	if (d->expires_ms > w->now_ms && d->host_len == u->host_len &&
	    memcmp(d->host, u->host, u->host_len) == 0 && d->err == 0) {
		u->addr = d->addr;
		u->addr_len = d->addr_len;
		set_port(&u->addr, u->port);
		connect_start(w, u);
		return;
	}
	uint32_t slot = w->resolve_free;
	if (slot == ENG_NONE) {
		fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: too many name look-ups in flight");
		return;
	}
	struct eng_resolve *r = &w->resolves[slot];
	w->resolve_free = r->next_free;
	r->sock = eng_slot(w, u);
	r->gen = u->gen;
	r->port = u->port;
	r->host_len = u->host_len;
	memcpy(r->host, u->host, u->host_len + 1u);
	if (eng_resolver_submit(w, slot) < 0) {
		r->next_free = w->resolve_free;
		w->resolve_free = slot;
		fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: resolver queue full");
		return;
	}
	u->resolve_slot = slot;
	u->state = U_RESOLVING;
}

void px_resolved(struct eng_worker *w, struct eng_resolve *r)
{
	cur_w = w;
	uint32_t slot = (uint32_t)(r - w->resolves);
	struct eng_sock *u = r->sock < w->nsocks ? &w->socks[r->sock] : NULL;
	r->next_free = w->resolve_free;
	w->resolve_free = slot;
	if (r->err == 0) {
		struct eng_dns_entry *d = dns_slot(w, r->host, r->host_len);
		d->expires_ms = w->now_ms + w->e->cfg.dns_ttl_ms;
		d->host_len = r->host_len;
		memcpy(d->host, r->host, r->host_len + 1u);
		d->addr = r->addr;
		d->addr_len = r->addr_len;
		d->err = 0;
	}
	if (u == NULL || u->gen != r->gen || (u->flags & SF_CLOSING) ||
	    u->state != U_RESOLVING || u->resolve_slot != slot)
		return;
	u->resolve_slot = ENG_NONE;
	struct eng_sock *c = peer_of(w, u);
	if (c == NULL) {
		upstream_close(w, u);
		return;
	}
	if (r->err != 0) {
		fail(w, c, ENG_ERR_DNS, 502, "ringcap: cannot resolve host '%s': %s",
		     u->host, gai_strerror(r->err));
		return;
	}
	u->addr = r->addr;
	u->addr_len = r->addr_len;
	set_port(&u->addr, u->port);
	connect_start(w, u);
}

/* Finds or makes the upstream for the client's parsed request. */
static void upstream_get(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_sock *u = eng_pool_take(w, c->host, c->host_len, c->port, c->tls != NULL);
	if (u) {
		w->c.upstream_reused++;
		c->x->flags |= ENG_X_REUSED;
		c->peer = eng_slot(w, u);
		u->peer = eng_slot(w, c);
		start_exchange(w, c, u);
		return;
	}
	u = eng_sock_new(w, -1, ROLE_UPSTREAM);
	if (u == NULL) {
		fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: no upstream connection slot free");
		return;
	}
	memcpy(u->host, c->host, c->host_len + 1u);
	u->host_len = c->host_len;
	u->port = c->port;
	if (c->tls)
		u->flags |= SF_UP_TLS;
	h1_parser_init(&u->hp, true, on_resp_body, u);
	c->peer = eng_slot(w, u);
	u->peer = eng_slot(w, c);
	u->state = U_RESOLVING;
	eng_timer_arm(w, u, T_CONNECT);
	if (ip_literal(u))
		connect_start(w, u);
	else
		resolve_start(w, u);
}

/* ---- request heads ---- */

/* True when host:port is this proxy's own listener: forwarding would loop. */
static bool is_self(struct eng_worker *w, const struct h1_target *t)
{
	const struct sockaddr_storage *l = &w->e->cfg.listen;
	uint16_t lport = ntohs(l->ss_family == AF_INET
		? ((const struct sockaddr_in *)l)->sin_port
		: ((const struct sockaddr_in6 *)l)->sin6_port);
	if (t->port != lport)
		return false;
	char host[ENG_HOST_MAX + 1];
	memcpy(host, t->host, t->host_len);
	host[t->host_len] = '\0';
	struct in_addr a4;
	struct in6_addr a6;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		const struct sockaddr_in *in = (const void *)l;
		return (ntohl(a4.s_addr) >> 24) == 127 ||
		       (l->ss_family == AF_INET && (in->sin_addr.s_addr == a4.s_addr ||
						    in->sin_addr.s_addr == INADDR_ANY));
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static void fill_xchg(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m)
{
	struct eng_xchg *x = c->x;
	x->method = m->base;
	x->method_len = m->start_len;
	x->url = m->base + m->url_off;
	x->url_len = m->url_len;
	x->host = c->host;
	x->host_len = c->host_len;
	x->port = c->port;
	x->http_minor = m->minor;
	x->request_head_bytes = m->head_len;
	(void)w;
}

/* Where the request goes. Inside an intercepted tunnel every request goes
 * to the CONNECT host, with the client's own Host header. */
static int request_target(struct eng_sock *c, const struct h1_msg *m,
			  struct h1_target *t, const char **why)
{
	const char *url = m->base + m->url_off;
	if (c->tls == NULL)
		return h1_parse_target(url, m->url_len, m->method == HTTP_CONNECT, t, why);
	if (m->url_len == 0 || url[0] != '/' || m->method == HTTP_CONNECT) {
		*why = "inside a TLS tunnel the target must be a path";
		return -EBADMSG;
	}
	memset(t, 0, sizeof(*t));
	t->host = c->host;
	t->host_len = c->host_len;
	t->port = c->port;
	t->path = url;
	t->path_len = m->url_len;
	t->keep_host = true;
	return 0;
}

/* CONNECT is intercepted unless TLS is off or the host is passed through. */
static bool intercepts(struct eng_worker *w, const struct eng_sock *c)
{
	const struct eng_config *cfg = &w->e->cfg;
	if (cfg->tls_server == NULL)
		return false;
	for (unsigned i = 0; i < cfg->npassthrough; i++)
		if (fnmatch(cfg->passthrough[i], c->host, FNM_CASEFOLD) == 0)
			return false;
	return true;
}

/* The request head in c->head_buf is complete (head_len bytes). */
static void request_head(struct eng_worker *w, struct eng_sock *c)
{
	struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
	struct h1_target t;
	const char *why = NULL;
	char *head = eng_head_ptr(w, c->head_buf);
	w->c.requests++;
	eng_timer_stop(w, c);
	if (h1_parse_head(&c->hp, &m, head, c->head_len, &why) < 0) {
		fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request: %s", why);
		return;
	}
	if (m.minor == 1 && h1_find(&m, "host") < 0) {
		fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request: HTTP/1.1 without Host");
		return;
	}
	bool connect = m.method == HTTP_CONNECT;
	if (request_target(c, &m, &t, &why) < 0) {
		fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request target: %s", why);
		return;
	}
	if (c->hp.done)
		c->xflags |= XF_REQ_DONE;
	if (m.conn_close || (m.minor == 0 && !m.conn_keep_alive) || w->draining)
		c->xflags |= XF_CLOSE;
	if (m.method == HTTP_HEAD)
		c->xflags |= XF_HEAD_REQ;
	if (connect)
		c->xflags |= XF_CONNECT;
	if (m.upgrade_hdr >= 0 && m.conn_upgrade && !connect)
		c->xflags |= XF_UPGRADE;
	if (!t.origin_form && !c->tls) {
		memcpy(c->host, t.host, t.host_len);
		c->host[t.host_len] = '\0';
		c->host_len = (uint8_t)t.host_len;
		c->port = t.port;
	}
	fill_xchg(w, c, &m);
	if (c->tls)
		c->x->flags |= ENG_X_TLS;
	struct eng_deny d;
	if (!eng_access_request(w, c, &m, head, &t, &d)) {
		deny(w, c, &d);
		return;
	}
	if (sink(w) && sink(w)->begin)
		c->sink_h = sink(w)->begin(w->sink_ctx, c->x, head, c->head_len);
	if (!c->tls && !t.origin_form && !connect && w->e->cfg.onboard &&
	    eng_onboard_is_host(t.host, t.host_len)) {
		onboard(w, c, &t);
		return;
	}
	if (!c->tls && (t.origin_form || is_self(w, &t))) {
		status_page(w, c, t.path_len == 1 && t.path[0] == '/');
		return;
	}
	if ((m.method == HTTP_OPTIONS || m.method == HTTP_TRACE) && m.max_forwards == 0) {
		max_forwards_zero(w, c, &m);
		return;
	}
	if (connect && intercepts(w, c))
		c->flags |= SF_INTERCEPT;
	if (!connect) {
		uint32_t out = eng_head_get(w);
		if (out == ENG_NONE) {
			fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: out of head buffers");
			return;
		}
		long n = h1_write_request(&m, &t, (c->xflags & XF_UPGRADE) != 0,
					  eng_head_ptr(w, out), w->head_size);
		if (n < 0) {
			eng_head_put(w, out);
			fail(w, c, ENG_ERR_HEAD_TOO_BIG, 431, "ringcap: request head too large");
			return;
		}
		eng_head_put(w, c->head_buf);
		c->head_buf = out;
		c->head_len = (uint32_t)n;
	}
	c->state = C_WAIT;
	upstream_get(w, c);
}

/* Starts a new request on an idle client: skips stray CRLFs between
 * requests, takes a head buffer and an exchange record. */
static bool request_begin(struct eng_worker *w, struct eng_sock *c)
{
	const char *p;
	size_t n = eng_in_peek(w, c, &p);
	size_t skip = 0;
	while (skip < n && (p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	if (skip > 0)
		eng_in_consume(w, c, skip);
	if (skip == n)
		return false;
	c->head_buf = eng_head_get(w);
	c->x = xchg_get(w);
	if (c->head_buf == ENG_NONE || c->x == NULL) {
		if (c->x) {
			xchg_put(w, c->x);
			c->x = NULL;
		}
		w->c.errors[ENG_ERR_OVERLOAD]++;
		respond(w, c, 503, "text/plain", "ringcap: overloaded\n", 20, true);
		return false;
	}
	c->t0_ns = eng_now_ns();
	c->x->start_ns = eng_wall_ns();
	c->x->seq = ++w->seq;
	c->x->worker = w->index;
	c->x->client = c->addr;
	c->head_len = 0;
	c->scan = (struct h1_scan){ .request = 1 };
	c->xflags = 0;
	c->state = C_HEAD;
	eng_timer_arm(w, c, T_HEADER);
	return true;
}

/* Copies head bytes into the socket's head buffer up to the end of the
 * head. Returns 1 when complete, 0 for more, <0 after failing the client. */
static int head_read(struct eng_worker *w, struct eng_sock *s, unsigned max, const char **why)
{
	char *head = eng_head_ptr(w, s->head_buf);
	for (unsigned iter = 0; iter < ENG_IN_BUFS_MAX * 4; iter++) {
		const char *p;
		size_t n = eng_in_peek(w, s, &p);
		if (n == 0)
			return 0;
		if (n > max - s->head_len)
			n = max - s->head_len;
		if (n == 0)
			return -E2BIG;
		memcpy(head + s->head_len, p, n);
		uint32_t before = s->head_len;
		s->head_len += (uint32_t)n;
		int rc = h1_scan(&s->scan, head, s->head_len, w->e->cfg.max_headers + 1, why);
		if (rc > 0) {
			eng_in_consume(w, s, (size_t)rc - before);
			s->head_len = (uint32_t)rc;
			return 1;
		}
		eng_in_consume(w, s, n);
		if (rc == -EBADMSG || rc == -E2BIG)
			return rc;
		if (s->head_len == max)
			return -E2BIG;
	}
	return 0;
}

/* ---- capture back-pressure ---- */

/* Asks the sink whether the exchange's next n body bytes can be stored;
 * when not, `reader` stops being read until the sink finished a write. */
bool px_sink_room(struct eng_worker *w, struct eng_sock *reader, struct eng_sock *c, size_t n)
{
	if (c->sink_h == NULL || sink(w)->room == NULL || sink(w)->room(w->sink_ctx, c->sink_h, n))
		return true;
	if (!(reader->flags & SF_SINK_WAIT) && w->nsink_wait < w->nsocks) {
		reader->flags |= SF_SINK_WAIT;
		w->sink_wait[w->nsink_wait++] = eng_slot(w, reader);
	}
	return false;
}

/* A sink write completed: every waiting socket gets another go. */
void px_sink_wake(struct eng_worker *w)
{
	unsigned n = w->nsink_wait;
	w->nsink_wait = 0;
	for (unsigned i = 0; i < n; i++) {
		struct eng_sock *s = &w->socks[w->sink_wait[i]];
		if (!(s->flags & SF_SINK_WAIT))
			continue;
		s->flags &= ~SF_SINK_WAIT;
		if (!(s->flags & SF_CLOSING) && s->role)
			px_input(w, s);
	}
}

/* ---- client input ---- */

/* Forwards validated request body bytes while the upstream has room. */
static void request_body(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_sock *u = peer_of(w, c);
	for (unsigned iter = 0; iter < ENG_OUT_SEGS && !(c->xflags & XF_REQ_DONE); iter++) {
		if (u == NULL || body_full(w, u))
			return;
		const char *p, *why = NULL;
		size_t avail = eng_in_peek(w, c, &p);
		if (avail == 0 || !px_sink_room(w, c, c, avail))
			return;
		long n = h1_parse_body(&c->hp, p, avail, &why);
		if (n < 0) {
			fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request body: %s", why);
			return;
		}
		if (n > 0) {
			eng_out_forward(w, u, c, (size_t)n);
			c->x->request_body_bytes += (uint64_t)n;
			w->c.bytes_to_upstreams += (uint64_t)n;
		}
		if (c->hp.done) {
			c->xflags |= XF_REQ_DONE;
			eng_timer_stop(w, c);
		} else {
			eng_timer_arm(w, c, T_IDLE);
		}
	}
}

static void tunnel_fin(struct eng_worker *w, struct eng_sock *a, struct eng_sock *b);

/* Bytes both ways, after CONNECT or a 101. */
static void tunnel_pump(struct eng_worker *w, struct eng_sock *from, struct eng_sock *to)
{
	for (unsigned iter = 0; iter < ENG_OUT_SEGS && !body_full(w, to); iter++) {
		const char *p;
		size_t n = eng_in_peek(w, from, &p);
		if (n == 0)
			break;
		eng_out_forward(w, to, from, n);
		if (to->role == ROLE_CLIENT)
			w->c.bytes_to_clients += n;
		else
			w->c.bytes_to_upstreams += n;
		if (to->role == ROLE_CLIENT)
			to->x->response_body_bytes += n;
		else
			from->x->request_body_bytes += n;
	}
	eng_timer_arm(w, from, T_IDLE);
	eng_timer_arm(w, to, T_IDLE);
	eng_flush(w, to);
	if ((from->flags & SF_EOF) && in_empty(w, from))
		tunnel_fin(w, from, to);
}

/* Half-close in a tunnel: once a side sent FIN and its bytes are out, pass
 * the FIN on; when both directions are done, close both. */
static void tunnel_fin(struct eng_worker *w, struct eng_sock *a, struct eng_sock *b)
{
	struct eng_sock *pair[2][2] = { { a, b }, { b, a } };
	for (int i = 0; i < 2; i++) {
		struct eng_sock *from = pair[i][0], *to = pair[i][1];
		if ((from->flags & SF_EOF) && in_empty(w, from) && to->out.n == 0 &&
		    !eng_tls_has_out(to) && !(to->flags & (SF_SHUT_WR | SF_SENDING))) {
			shutdown(to->fd, SHUT_WR);
			to->flags |= SF_SHUT_WR;
		}
	}
	if ((a->flags & SF_SHUT_WR) && (b->flags & SF_SHUT_WR)) {
		struct eng_sock *c = a->role == ROLE_CLIENT ? a : b;
		exchange_end(w, c);
		upstream_release(w, c, false);
		eng_sock_close(w, c);
	}
}

/* Moves what is still queued as plaintext to the ciphertext queue: the
 * bytes after a ClientHello belong to the TLS stream. */
static void in_to_cin(struct eng_worker *w, struct eng_sock *c)
{
	for (unsigned i = 0; i < ENG_IN_BUFS_MAX * 4 && c->in.count > 0; i++) {
		const char *p;
		size_t n = eng_in_peek(w, c, &p);
		uint16_t pb = eng_pbuf_get(w);
		if (pb == UINT16_MAX)
			return;
		memcpy(eng_buf_ptr(w, pb), p, n);
		eng_bufq_push(&w->bufs, &c->cin, pb, (uint32_t)n);
		eng_in_consume(w, c, n);
	}
}

/* Starts TLS with a client whose first flight (in the head buffer) is a
 * ClientHello. */
static void intercept_start(struct eng_worker *w, struct eng_sock *c)
{
	int rc = tls_conn_new_server(w->e->cfg.tls_server, w->leaf_cache, c->host, &c->tls);
	if (rc < 0) {
		client_abort(w, c, ENG_ERR_TLS_CLIENT);
		return;
	}
	const char *hello = eng_head_ptr(w, c->head_buf);
	size_t off = 0;
	for (unsigned i = 0; i < 8 && off < c->head_len; i++) {
		uint16_t pb = eng_pbuf_get(w);
		if (pb == UINT16_MAX)
			break;
		size_t n = c->head_len - off < w->e->cfg.buf_size ? c->head_len - off
								   : w->e->cfg.buf_size;
		memcpy(eng_buf_ptr(w, pb), hello + off, n);
		eng_bufq_push(&w->bufs, &c->cin, pb, (uint32_t)n);
		off += n;
	}
	/* order: the hello first, then whatever followed it */
	in_to_cin(w, c);
	eng_head_put(w, c->head_buf);
	c->head_buf = ENG_NONE;
	c->head_len = 0;
	/* the parked connection becomes the first pooled TLS upstream */
	struct eng_sock *u = peer_of(w, c);
	c->peer = ENG_NONE;
	if (u) {
		u->peer = ENG_NONE;
		u->flags |= SF_UP_TLS;
		if (tls_conn_new_client(w->e->cfg.tls_client, u->host, &u->tls) < 0) {
			upstream_close(w, u);
		} else {
			u->state = U_HANDSHAKE;
			eng_timer_arm(w, u, T_CONNECT);
			eng_tls_handshake(w, u);
		}
	}
	c->x->flags |= ENG_X_TLS;
	c->xflags |= XF_REQ_DONE | XF_RESP_DONE;
	c->xflags &= (uint8_t)~XF_CLOSE;
	exchange_end(w, c);          /* the CONNECT itself */
	if (c->flags & SF_CLOSING)
		return;
	c->state = C_HANDSHAKE;
	eng_timer_arm(w, c, T_HEADER);
	eng_tls_handshake(w, c);
}

/* C_SNIFF: collects the first flight; returns true when the state moved. */
static bool sniff(struct eng_worker *w, struct eng_sock *c)
{
	if (c->head_buf == ENG_NONE) {
		c->head_buf = eng_head_get(w);
		c->head_len = 0;
		if (c->head_buf == ENG_NONE) {
			client_abort(w, c, ENG_ERR_OVERLOAD);
			return false;
		}
	}
	char *buf = eng_head_ptr(w, c->head_buf);
	for (unsigned i = 0; i < ENG_IN_BUFS_MAX * 4 && c->head_len < w->head_size; i++) {
		const char *p;
		size_t n = eng_in_peek(w, c, &p);
		if (n == 0)
			break;
		if (n > w->head_size - c->head_len)
			n = w->head_size - c->head_len;
		memcpy(buf + c->head_len, p, n);
		c->head_len += (uint32_t)n;
		eng_in_consume(w, c, n);
	}
	struct tls_hello hello;
	int rc = tls_sniff_client_hello((const uint8_t *)buf, c->head_len, &hello);
	if (rc == -EAGAIN && c->head_len < w->head_size)
		return false;
	if (rc > 0) {
		intercept_start(w, c);
		return false;
	}
	if (rc == -EBADMSG) {
		w->c.tls_failures++;
		client_abort(w, c, ENG_ERR_TLS_CLIENT);
		return false;
	}
	/* not TLS: a blind tunnel to the parked upstream, what was read first */
	struct eng_sock *u = peer_of(w, c);
	if (u == NULL) {
		client_abort(w, c, ENG_ERR_UPSTREAM_CLOSED);
		return false;
	}
	c->state = C_TUNNEL;
	u->state = U_TUNNEL;
	eng_out_push(w, u, SEG_HEAD, (uint16_t)c->head_buf, eng_head_ptr(w, c->head_buf),
		     c->head_len);
	c->x->request_body_bytes += c->head_len;
	c->head_buf = ENG_NONE;
	c->head_len = 0;
	eng_timer_arm(w, c, T_IDLE);
	eng_timer_arm(w, u, T_IDLE);
	eng_flush(w, u);
	tunnel_pump(w, u, c);
	return true;
}

static void client_pump(struct eng_worker *w, struct eng_sock *c)
{
	cur_w = w;
	for (unsigned iter = 0; iter < 64 && !(c->flags & SF_CLOSING); iter++) {
		const char *why = NULL;
		struct eng_sock *u = peer_of(w, c);
		switch (c->state) {
		case C_IDLE:
			if (eng_out_full(c) || (c->flags & SF_FLUSHCLOSE) || in_empty(w, c))
				return;
			if (!request_begin(w, c))
				return;
			break;
		case C_HEAD: {
			int rc = head_read(w, c, w->e->cfg.max_request_head, &why);
			if (rc == 0)
				return;
			if (rc == -E2BIG && c->head_len >= w->e->cfg.max_request_head)
				fail(w, c, ENG_ERR_HEAD_TOO_BIG, 431,
				     "ringcap: request head over %u bytes (--max-request-head)",
				     w->e->cfg.max_request_head);
			else if (rc == -E2BIG)
				fail(w, c, ENG_ERR_HEAD_TOO_BIG, 431,
				     "ringcap: more than %u header lines (--max-headers)",
				     w->e->cfg.max_headers);
			else if (rc < 0)
				fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request: %s", why);
			else
				request_head(w, c);
			break;
		}
		case C_EXCHANGE:
			if (!(c->xflags & XF_REQ_DONE))
				request_body(w, c);
			return;
		case C_TUNNEL:
			if (u)
				tunnel_pump(w, c, u);
			return;
		case C_SNIFF:
			if (!sniff(w, c))
				return;
			break;
		case C_HANDSHAKE:
			return;   /* bytes go to the TLS layer */
		case C_LINGER:
			while (c->in.count > 0) {
				const char *p;
				eng_in_consume(w, c, eng_in_peek(w, c, &p));
			}
			return;
		default:   /* C_WAIT: input stays queued */
			return;
		}
	}
}

/* ---- upstream input ---- */

#define UX_BODY 0x01u   /* upstream: final response head done, body flows */

/* The upstream's response head is complete in u->head_buf. */
static void response_head(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
	const char *why = NULL;
	char *head = eng_head_ptr(w, u->head_buf);
	u->hp.skip_body = (c->xflags & XF_HEAD_REQ) != 0;
	if (h1_parse_head(&u->hp, &m, head, u->head_len, &why) < 0) {
		fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: bad response from %s:%u: %s",
		     u->host, u->port, why);
		return;
	}
	bool interim = m.status >= 100 && m.status < 200 && m.status != 101;
	bool upgrade = m.status == 101;
	if (upgrade && !(c->xflags & XF_UPGRADE)) {
		fail(w, c, ENG_ERR_BAD_RESPONSE, 502,
		     "ringcap: %s:%u switched protocols unasked", u->host, u->port);
		return;
	}
	/* u->hp.done right after the head: no body (HEAD, 204, 304, 1xx) */
	bool delimited = m.chunked || m.content_length >= 0 || u->hp.done;
	bool close = (c->xflags & XF_CLOSE) || !delimited;
	if (!interim && !delimited)
		c->xflags |= XF_CLOSE;
	uint32_t out = eng_head_get(w);
	long n = out == ENG_NONE ? -ENOSPC
		: h1_write_response(&m, close, eng_head_ptr(w, out), w->head_size);
	if (n < 0) {
		if (out != ENG_NONE)
			eng_head_put(w, out);
		fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: response head too large");
		return;
	}
	if (!interim) {
		if (c->head_buf != ENG_NONE) {
			eng_head_put(w, c->head_buf);
			c->head_buf = ENG_NONE;
		}
		c->x->status = m.status;
		c->x->first_byte_ns = c->x->first_byte_ns ? c->x->first_byte_ns : since(c);
		c->x->response_head_bytes = u->head_len;
		if (c->sink_h && sink(w)->response)
			sink(w)->response(w->sink_ctx, c->sink_h, c->x, head, u->head_len);
		w->c.responses++;
	}
	eng_head_put(w, u->head_buf);
	u->head_buf = ENG_NONE;
	if (!interim)
		c->resp_seg = c->out.pushed;
	eng_out_push(w, c, SEG_HEAD, (uint16_t)out, eng_head_ptr(w, out), (uint32_t)n);
	w->c.bytes_to_clients += (uint64_t)n;
	if (interim) {
		u->scan = (struct h1_scan){0};
		u->head_len = 0;
		return;
	}
	c->xflags |= XF_RESP_HEAD;
	u->xflags |= UX_BODY;
	if (!m.conn_close && m.minor == 1 && delimited)
		u->flags |= SF_REUSABLE;
	if (upgrade) {
		c->state = C_TUNNEL;
		u->state = U_TUNNEL;
		c->x->flags |= ENG_X_UPGRADE;
		w->c.upgrades++;
		return;
	}
	if (u->hp.done)
		c->xflags |= XF_RESP_DONE;
}

static void response_body(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	for (unsigned iter = 0; iter < ENG_OUT_SEGS && !(c->xflags & XF_RESP_DONE); iter++) {
		if (body_full(w, c))
			return;
		const char *p, *why = NULL;
		size_t avail = eng_in_peek(w, u, &p);
		if (avail == 0 || !px_sink_room(w, u, c, avail))
			return;
		long n = h1_parse_body(&u->hp, p, avail, &why);
		if (n < 0) {
			fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: bad response body from %s:%u: %s",
			     u->host, u->port, why);
			return;
		}
		if (n > 0) {
			eng_out_forward(w, c, u, (size_t)n);
			c->x->response_body_bytes += (uint64_t)n;
			w->c.bytes_to_clients += (uint64_t)n;
		}
		if (u->hp.done)
			c->xflags |= XF_RESP_DONE;
	}
}

static void upstream_eof(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c, int err);

static void upstream_pump(struct eng_worker *w, struct eng_sock *u)
{
	cur_w = w;
	struct eng_sock *c = peer_of(w, u);
	if (u->state == U_IDLE || c == NULL) {
		/* an idle upstream has nothing to say: bytes or FIN end it */
		upstream_close(w, u);
		return;
	}
	if (u->state == U_TUNNEL) {
		tunnel_pump(w, u, c);
		return;
	}
	if (u->state == U_PARKED)
		return;   /* the server spoke first: kept for the tunnel */
	eng_timer_arm(w, u, T_UPSTREAM);
	for (unsigned iter = 0; iter < 8 && !(c->flags & SF_CLOSING) && peer_of(w, c) == u; iter++) {
		if (u->xflags & UX_BODY) {
			response_body(w, u, c);
			break;
		}
		if (eng_out_full(c))
			break;   /* a response head waits for room: px_sent resumes */
		if (u->head_buf == ENG_NONE) {
			u->head_buf = eng_head_get(w);
			if (u->head_buf == ENG_NONE) {
				fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: out of head buffers");
				return;
			}
			u->head_len = 0;
			u->scan = (struct h1_scan){0};
		}
		const char *why = NULL;
		int rc = head_read(w, u, w->e->cfg.max_response_head, &why);
		if (rc == 0)
			break;
		if (rc < 0) {
			fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: bad response head from %s:%u: %s",
			     u->host, u->port, rc == -E2BIG ? "too large" : why);
			return;
		}
		response_head(w, u, c);
		if (u->state == U_TUNNEL) {
			tunnel_pump(w, u, c);
			client_pump(w, c);
			return;
		}
	}
	if (c->flags & SF_CLOSING)
		return;
	eng_flush(w, c);
	if ((u->flags & SF_EOF) && in_empty(w, u) && peer_of(w, c) == u &&
	    !(c->xflags & XF_RESP_DONE)) {
		upstream_eof(w, u, c, 0);
		return;
	}
	if ((c->xflags & XF_RESP_DONE) && peer_of(w, c) == u) {
		if (!in_empty(w, u))
			u->flags &= (uint32_t)~SF_REUSABLE;   /* bytes past the end */
		if (c->xflags & XF_REQ_DONE) {
			exchange_end(w, c);
			client_pump(w, c);
		}
	}
}

static void tls_broken(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_sock *p = peer_of(w, s);
	if (s->role == ROLE_CLIENT)
		client_abort(w, s, ENG_ERR_TLS_CLIENT);
	else if (p)
		client_abort(w, p, ENG_ERR_TLS_UPSTREAM);
	else
		upstream_close(w, s);
}

void px_input(struct eng_worker *w, struct eng_sock *s)
{
	if ((s->flags & SF_TLS_ERR) && !(s->flags & SF_CLOSING)) {
		tls_broken(w, s);
		return;
	}
	if (s->role == ROLE_CLIENT) {
		struct eng_sock *u = peer_of(w, s);
		client_pump(w, s);
		u = peer_of(w, s);
		if (u && !(s->flags & SF_CLOSING))
			eng_flush(w, u);
		if (u && (s->xflags & XF_REQ_DONE) && (s->xflags & XF_RESP_DONE) &&
		    s->state == C_EXCHANGE) {
			exchange_end(w, s);
			client_pump(w, s);
		}
	} else {
		upstream_pump(w, s);
	}
}

/* ---- end of an exchange ---- */

static void exchange_end(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_xchg *x = c->x;
	if (x == NULL)
		return;
	x->end_ns = since(c);
	/* method and url point into a head buffer that may be gone by now */
	x->method = x->url = NULL;
	x->method_len = x->url_len = 0;
	if (c->sink_h && sink(w)->end)
		sink(w)->end(w->sink_ctx, c->sink_h, x);
	c->sink_h = NULL;
	xchg_put(w, x);
	c->x = NULL;
	if (c->head_buf != ENG_NONE) {
		eng_head_put(w, c->head_buf);
		c->head_buf = ENG_NONE;
	}
	bool reuse = (c->xflags & XF_REQ_DONE) && (c->xflags & XF_RESP_DONE) &&
		     c->state == C_EXCHANGE;
	upstream_release(w, c, reuse);
	if (c->flags & SF_CLOSING)
		return;
	if ((c->xflags & XF_CLOSE) || w->draining) {
		c->state = C_LINGER;
		eng_sock_linger(w, c);
		return;
	}
	c->state = C_IDLE;
	c->xflags = 0;
	eng_timer_arm(w, c, T_IDLE);
}

static void client_abort(struct eng_worker *w, struct eng_sock *c, enum eng_err err)
{
	if (c->x && c->x->err == ENG_ERR_NONE) {
		c->x->err = err;
		w->c.errors[err]++;
	}
	c->xflags &= (uint8_t)~(XF_REQ_DONE | XF_RESP_DONE);
	exchange_end(w, c);
	upstream_release(w, c, false);
	eng_sock_close(w, c);
}

/* A pooled connection the server closed before answering: resend an
 * idempotent, body-less request once on another upstream (RFC 9112 9.3.1). */
static bool retry(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	uint8_t m = c->hp.p.method;
	bool idempotent = m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS ||
			  m == HTTP_TRACE || m == HTTP_PUT || m == HTTP_DELETE;
	if (!(c->x->flags & ENG_X_REUSED) || (c->xflags & XF_RETRIED) || !idempotent ||
	    c->head_buf == ENG_NONE || !(c->xflags & XF_REQ_DONE) ||
	    c->x->request_body_bytes != 0 || u->head_len != 0)
		return false;
	c->xflags |= XF_RETRIED;
	c->x->flags &= ~ENG_X_REUSED;
	upstream_release(w, c, false);
	c->state = C_WAIT;
	upstream_get(w, c);
	return true;
}

static void upstream_eof(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c, int err)
{
	const char *why = NULL;
	u->flags &= (uint32_t)~SF_REUSABLE;
	if (!(u->xflags & UX_BODY) && retry(w, u, c))
		return;
	if (!(u->xflags & UX_BODY)) {
		fail(w, c, ENG_ERR_UPSTREAM_CLOSED, 502,
		     "ringcap: %s:%u closed the connection without a response%s%s",
		     u->host, u->port, err ? ": " : "", err ? strerror(-err) : "");
		return;
	}
	if (err == 0 && h1_parse_eof(&u->hp, &why) == 0) {
		c->xflags |= XF_RESP_DONE | XF_CLOSE;
		eng_flush(w, c);
		exchange_end(w, c);
		return;
	}
	/* mid-body: never let a short body pass as complete */
	client_abort(w, c, ENG_ERR_UPSTREAM_CLOSED);
}

void px_eof(struct eng_worker *w, struct eng_sock *s, int err)
{
	cur_w = w;
	struct eng_sock *p = peer_of(w, s);
	if (s->role == ROLE_UPSTREAM) {
		if (s->state == U_IDLE || p == NULL) {
			upstream_close(w, s);
		} else if (s->state == U_PARKED) {
			client_abort(w, p, ENG_ERR_UPSTREAM_CLOSED);
		} else if (s->state == U_TUNNEL) {
			if (err < 0)
				client_abort(w, p, ENG_ERR_NONE);
			else
				tunnel_pump(w, s, p);
		} else if (s->state == U_HANDSHAKE || s->state == U_CONNECTING) {
			fail(w, p, ENG_ERR_TLS_UPSTREAM, 502,
			     "ringcap: %s:%u closed the connection during the TLS handshake",
			     s->host, s->port);
		} else if (in_empty(w, s)) {
			upstream_eof(w, s, p, err);
		}
		return;
	}
	switch (s->state) {
	case C_TUNNEL:
		if (err < 0 || p == NULL)
			client_abort(w, s, ENG_ERR_NONE);
		else
			tunnel_pump(w, s, p);
		return;
	case C_WAIT:
	case C_EXCHANGE:
		if (err == 0 && (s->xflags & XF_REQ_DONE)) {
			s->xflags |= XF_CLOSE;   /* half-close: answer, then close */
			return;
		}
		client_abort(w, s, ENG_ERR_CLIENT_CLOSED);
		return;
	default:
		client_abort(w, s, s->x ? ENG_ERR_CLIENT_CLOSED : ENG_ERR_NONE);
		return;
	}
}

void px_sent(struct eng_worker *w, struct eng_sock *s)
{
	cur_w = w;
	struct eng_sock *p = peer_of(w, s);
	if (s->role == ROLE_UPSTREAM) {
		if (p == NULL)
			return;
		if (s->state == U_TUNNEL) {
			tunnel_pump(w, p, s);
			return;
		}
		client_pump(w, p);
		if (!(p->flags & SF_CLOSING) && peer_of(w, p) == s)
			eng_flush(w, s);
		return;
	}
	if (p && (p->state == U_ACTIVE || p->state == U_TUNNEL)) {
		if (p->state == U_TUNNEL)
			tunnel_pump(w, p, s);
		else
			upstream_pump(w, p);
		return;
	}
	client_pump(w, s);
}

void px_timeout(struct eng_worker *w, struct eng_sock *s)
{
	cur_w = w;
	struct eng_sock *c = s->role == ROLE_CLIENT ? s : peer_of(w, s);
	if (s->role == ROLE_UPSTREAM) {
		unsigned ms = s->state == U_ACTIVE ? w->e->cfg.upstream_timeout_ms
						   : w->e->cfg.connect_timeout_ms;
		if (s->state == U_IDLE || c == NULL)
			upstream_close(w, s);
		else if (s->state == U_TUNNEL)
			client_abort(w, c, ENG_ERR_NONE);
		else if (s->state == U_ACTIVE)
			fail(w, c, ENG_ERR_UPSTREAM_TIMEOUT, 504,
			     "ringcap: %s:%u did not answer within %u ms", s->host, s->port, ms);
		else
			fail(w, c, ENG_ERR_CONNECT_TIMEOUT, 504,
			     "ringcap: connecting to %s:%u timed out after %u ms", s->host, s->port, ms);
		return;
	}
	switch (s->state) {
	case C_HEAD:
		fail(w, s, ENG_ERR_HEADER_TIMEOUT, 408,
		     "ringcap: request head not complete within %u ms",
		     w->e->cfg.header_timeout_ms);
		return;
	case C_EXCHANGE:
		fail(w, s, ENG_ERR_HEADER_TIMEOUT, 408,
		     "ringcap: request body stalled for %u ms", w->e->cfg.idle_timeout_ms);
		return;
	default:
		client_abort(w, s, ENG_ERR_NONE);
		return;
	}
}

/* The slot is about to be reused: nothing may still point at it. */
void px_closed(struct eng_worker *w, struct eng_sock *s)
{
	cur_w = w;
	if (s->flags & SF_COUNTED)
		eng_access_conn_put(w, s);
	if (s->x) {
		if (s->sink_h && sink(w)->end)
			sink(w)->end(w->sink_ctx, s->sink_h, s->x);
		s->sink_h = NULL;
		xchg_put(w, s->x);
		s->x = NULL;
	}
	struct eng_sock *p = peer_of(w, s);
	s->peer = ENG_NONE;
	if (p == NULL || p->peer != eng_slot(w, s))
		return;
	p->peer = ENG_NONE;
	if (p->role == ROLE_UPSTREAM)
		upstream_close(w, p);
	else
		client_abort(w, p, ENG_ERR_UPSTREAM_CLOSED);
}

/* Shutdown: idle connections go now, busy ones after their exchange. */
void px_drain(struct eng_worker *w)
{
	cur_w = w;
	for (unsigned i = 0; i < w->socks_used; i++) {
		struct eng_sock *s = &w->socks[i];
		if (s->role == 0 || (s->flags & SF_CLOSING))
			continue;
		if (s->role == ROLE_UPSTREAM && s->state == U_IDLE)
			upstream_close(w, s);
		else if (s->role == ROLE_CLIENT && s->state == C_IDLE)
			eng_sock_close(w, s);
		else if (s->role == ROLE_CLIENT)
			s->xflags |= XF_CLOSE;
	}
}

void px_tls_ready(struct eng_worker *w, struct eng_sock *s)
{
	cur_w = w;
	if (s->role == ROLE_CLIENT) {
		w->c.tls_handshakes++;
		s->state = C_IDLE;
		eng_timer_arm(w, s, T_IDLE);
		client_pump(w, s);
		return;
	}
	struct eng_sock *c = peer_of(w, s);
	w->c.tls_upstream_handshakes++;
	if (c == NULL) {
		pool_put(w, s);   /* made ahead for an intercepted tunnel */
		return;
	}
	start_exchange(w, c, s);
}

/* Remembers a name whose client refused our certificate (a pinned app):
 * the status page lists them as --passthrough candidates. */
static void note_rejected(struct eng *e, const char *name)
{
	pthread_mutex_lock(&e->rej_mu);
	unsigned slot = 0;
	uint64_t least = UINT64_MAX;
	for (unsigned i = 0; i < ENG_TLS_REJECT_NAMES; i++) {
		if (e->rej[i].n && strncmp(e->rej[i].name, name, sizeof(e->rej[i].name) - 1) == 0) {
			slot = i;
			least = 0;
			break;
		}
		if (e->rej[i].n < least) {
			least = e->rej[i].n;
			slot = i;
		}
	}
	if (least != 0 || e->rej[slot].n == 0) {
		snprintf(e->rej[slot].name, sizeof(e->rej[slot].name), "%s", name);
		e->rej[slot].n = 0;
	}
	e->rej[slot].n++;
	pthread_mutex_unlock(&e->rej_mu);
}

void px_tls_failed(struct eng_worker *w, struct eng_sock *s)
{
	cur_w = w;
	if (s->role == ROLE_CLIENT) {
		w->c.tls_failures++;
		w->c.errors[ENG_ERR_TLS_CLIENT]++;
		/* 42-46 and 48: bad, unsupported, revoked, expired, unknown
		 * certificate and unknown CA (RFC 8446 6.2) */
		uint8_t a = s->plain_alert;
		bool plain_rejects = (a >= 42 && a <= 46) || a == 48;
		if (tls_conn_cert_rejected(s->tls) || plain_rejects) {
			w->c.tls_cert_rejected++;
			note_rejected(w->e, tls_conn_name(s->tls));
		}
		eng_sock_linger(w, s);   /* the alert goes out, then FIN */
		return;
	}
	struct eng_sock *c = peer_of(w, s);
	w->c.tls_upstream_failures++;
	if (c == NULL) {
		upstream_close(w, s);
		return;
	}
	fail(w, c, ENG_ERR_TLS_UPSTREAM, 502, "ringcap: TLS with %s:%u failed: %s",
	     s->host, s->port, tls_conn_error(s->tls));
}
