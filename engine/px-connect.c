/*
 * engine/px-connect.c - connecting to upstreams: the idle pool, name look-
 * ups (through the resolver thread, with a per-worker cache), connect
 * through the ring, and the start of an exchange once an upstream is ready.
 *
 * Invariants: nothing reaches an upstream before its request head was
 * checked; an address the access rules refuse is never connected to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/px-connect.h"
#include "engine/px-answer.h"
#include "engine/px-client.h"
#include "engine/px-exchange.h"
#include "engine/h2.h"
#include "engine/sock.h"
#include "engine/tlsio.h"
#include "rc-assert.h"

static const char established[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

/* Keeps u for reuse; over --upstream-idle-max it is closed instead. */
void px_pool_put(struct eng_worker *w, struct eng_sock *u)
{
	u->peer = ENG_NONE;
	if (!eng_pool_put(w, u)) {
		u->state = U_ACTIVE;
		px_upstream_close(w, u);
	}
}

void px_upstream_close(struct eng_worker *w, struct eng_sock *u)
{
	if (u->state == U_IDLE)
		eng_pool_remove(w, u);
	u->peer = ENG_NONE;
	eng_sock_close(w, u);
}

/* Detaches the client's upstream: back to the pool when `reuse` and it is
 * clean, closed otherwise. */
void px_upstream_release(struct eng_worker *w, struct eng_sock *c, bool reuse)
{
	struct eng_sock *u = peer_of(w, c);
	c->peer = ENG_NONE;
	if (u == NULL)
		return;
	u->peer = ENG_NONE;
	bool clean = reuse && (u->flags & ENG_SOCK_F_REUSABLE) && in_empty(w, u) &&
		     !(u->flags & (ENG_SOCK_F_EOF | ENG_SOCK_F_CLOSING)) && !w->draining &&
		     u->head_buf == ENG_NONE;
	if (clean)
		px_pool_put(w, u);
	else
		px_upstream_close(w, u);
}

/* The exchange's server is u's address (c->x was zeroed at its start, so
 * addr_len bytes are enough: one small copy per exchange). */
static void note_server(struct eng_sock *c, const struct eng_sock *u)
{
	ASSERT(u->addr_len <= sizeof(c->x->server));
	memcpy(&c->x->server, &u->addr, u->addr_len);
}

void px_start_exchange(struct eng_worker *w, struct eng_sock *c, struct eng_sock *u)
{
	note_server(c, u);
	u->state = U_ACTIVE;
	u->xflags = 0;
	u->flags &= (uint32_t)~ENG_SOCK_F_REUSABLE;
	u->scan = (struct h1_scan){0};
	u->head_len = 0;
	if (c->xflags & ENG_XCHG_F_CONNECT) {
		eng_head_put(w, c->head_buf);
		c->head_buf = ENG_NONE;
		c->state = C_TUNNEL;
		u->state = U_TUNNEL;
		c->x->flags |= ENG_X_TUNNEL;
		c->x->status = 200;
		ENG_COUNT(w->c.tunnels, 1);
		eng_out_push(w, c, ENG_SEG_CONST, 0, established, sizeof(established) - 1);
		ENG_COUNT(w->c.bytes_to_clients, sizeof(established) - 1);
		if (c->flags & ENG_SOCK_F_INTERCEPT) {
			/* the first flight decides: TLS is intercepted */
			c->state = C_SNIFF;
			u->state = U_PARKED;
			eng_timer_arm(w, c, T_HEADER);
			eng_timer_stop(w, u);
			eng_flush(w, c);
			px_client_pump(w, c);
			return;
		}
		c->x->tunnel = w->e->cfg.tls_server ? ENG_TUN_PASSTHROUGH : ENG_TUN_BLIND;
		eng_timer_arm(w, c, T_IDLE);
		eng_timer_arm(w, u, T_IDLE);
		eng_flush(w, c);
		px_client_pump(w, c);
		return;
	}
	/* the client keeps its reference until the response head: a pooled
	 * upstream that turns out closed gets the request again elsewhere */
	char *head = eng_head_ptr(w, c->head_buf);
	eng_head_ref(w, c->head_buf);
	eng_out_push(w, u, ENG_SEG_HEAD, (uint16_t)c->head_buf, head, c->head_len);
	ENG_COUNT(w->c.bytes_to_upstreams, c->head_len);
	c->state = C_EXCHANGE;
	c->x->request_sent_ns = since(c);
	eng_timer_arm(w, u, T_UPSTREAM);
	if (c->xflags & ENG_XCHG_F_REQ_DONE)
		eng_timer_stop(w, c);
	else
		eng_timer_arm(w, c, T_IDLE);
	/* body bytes already here are validated before anything is sent */
	px_client_pump(w, c);
	if (!(c->flags & ENG_SOCK_F_CLOSING) && peer_of(w, c) == u)
		eng_flush(w, u);
}

static void connect_start(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_sock *c = peer_of(w, u);
	/* on the resolved address: no name can sneak past */
	const char *refused = eng_upstream_refused(w, &u->addr);
	if (refused && c && (c->xflags & ENG_XCHG_F_CONNECT))
		eng_log_refused(w, c, u->host, u->port, refused);
	if (refused) {
		px_fail(w, c, ENG_ERR_FORBIDDEN, 403, "ringcap: refused to connect to %s:%u: %s",
		     u->host, u->port, refused);
		return;
	}
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		px_fail(w, c, ENG_ERR_CONNECT, 502, "ringcap: cannot connect to %s:%u: %s",
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
	ENG_COUNT(w->c.upstream_connects, 1);
}

void px_connected(struct eng_worker *w, struct eng_sock *u, int res)
{
	px_cur_w = w;
	struct eng_sock *c = peer_of(w, u);
	if (c == NULL) {
		px_upstream_close(w, u);
		return;
	}
	if (res < 0) {
		px_fail(w, c, ENG_ERR_CONNECT, 502, "ringcap: cannot connect to %s:%u: %s",
		     u->host, u->port, strerror(-res));
		return;
	}
	c->x->connect_ns = since(c);
	note_server(c, u);   /* known even if its TLS handshake fails next */
	eng_recv_arm(w, u);
	if (u->flags & ENG_SOCK_F_UP_TLS) {
		int rc = tls_pool_client_conn_at(w->tls_pool, w->e->cfg.tls_client, u->host, u->port,
						 &u->tls);
		if (rc < 0) {
			px_fail(w, c, ENG_ERR_TLS_UPSTREAM, 502, "ringcap: cannot start TLS with %s: %s",
			     u->host, strerror(-rc));
			return;
		}
		u->state = U_HANDSHAKE;
		eng_sock_handshake(w, u);
		return;
	}
	px_start_exchange(w, c, u);
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
		px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: too many name look-ups in flight");
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
		px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: resolver queue full");
		return;
	}
	u->resolve_slot = slot;
	u->state = U_RESOLVING;
}

void px_resolved(struct eng_worker *w, struct eng_resolve *r)
{
	px_cur_w = w;
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
	if (u == NULL || u->gen != r->gen || (u->flags & ENG_SOCK_F_CLOSING) ||
	    u->state != U_RESOLVING || u->resolve_slot != slot)
		return;
	u->resolve_slot = ENG_NONE;
	struct eng_sock *c = peer_of(w, u);
	if (c == NULL) {
		px_upstream_close(w, u);
		return;
	}
	if (r->err != 0) {
		px_fail(w, c, ENG_ERR_DNS, 502, "ringcap: cannot resolve host '%s': %s",
		     u->host, gai_strerror(r->err));
		return;
	}
	u->addr = r->addr;
	u->addr_len = r->addr_len;
	set_port(&u->addr, u->port);
	connect_start(w, u);
}

/* The first request of an intercepted tunnel goes to the upstream made
 * when its CONNECT arrived (px-client.c: intercept_start), whatever became
 * of it: ready, still in its handshake (px_tls_ready starts the exchange)
 * or failed (the 502 says why; the origin is not contacted again). False
 * when there is none left to take. */
static bool take_ahead(struct eng_worker *w, struct eng_sock *c)
{
	/* an HTTP/2 stream takes its connection's (the first stream to ask) */
	struct eng_sock *t = (c->flags & ENG_SOCK_F_H2S) ? eng_h2_parent(w, c) : c;
	if (t == NULL || t->ahead == ENG_NONE)
		return false;
	struct eng_sock *u = &w->socks[t->ahead];
	ASSERT(u->role == ROLE_UPSTREAM);
	ASSERT(u->ahead == eng_slot(w, t));
	t->ahead = ENG_NONE;
	u->ahead = ENG_NONE;
	bool usable = u->state == U_AHEAD || u->state == U_AHEAD_FAILED ||
		      u->state == U_HANDSHAKE;
	if ((u->flags & ENG_SOCK_F_CLOSING) || !usable) {
		px_upstream_close(w, u);
		return false;
	}
	c->peer = eng_slot(w, u);
	u->peer = eng_slot(w, c);
	const char *why = tls_conn_error(u->tls);
	if (u->state == U_AHEAD_FAILED && why[0] == '\0')
		px_fail(w, c, ENG_ERR_TLS_UPSTREAM, 502,
			"ringcap: %s:%u closed the connection during the TLS handshake",
			u->host, u->port);
	else if (u->state == U_AHEAD_FAILED)
		px_fail(w, c, ENG_ERR_TLS_UPSTREAM, 502, "ringcap: TLS with %s:%u failed: %s",
			u->host, u->port, why);
	else if (u->state == U_AHEAD)
		px_start_exchange(w, c, u);
	return true;
}

/* Finds or makes the upstream for the client's parsed request. */
void px_upstream_get(struct eng_worker *w, struct eng_sock *c)
{
	if (take_ahead(w, c))
		return;
	struct eng_sock *u = eng_pool_take(w, c->host, c->host_len, c->port, eng_sock_in_tls(c));
	if (u) {
		ENG_COUNT(w->c.upstream_reused, 1);
		c->x->flags |= ENG_X_REUSED;
		c->peer = eng_slot(w, u);
		u->peer = eng_slot(w, c);
		px_start_exchange(w, c, u);
		return;
	}
	u = eng_sock_new(w, -1, ROLE_UPSTREAM);
	if (u == NULL) {
		px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: no upstream connection slot free");
		return;
	}
	memcpy(u->host, c->host, c->host_len + 1u);
	u->host_len = c->host_len;
	u->port = c->port;
	if (eng_sock_in_tls(c))
		u->flags |= ENG_SOCK_F_UP_TLS;
	h1_parser_init(&u->hp, true, px_on_resp_body, u);
	u->hp.on_trailer = px_on_resp_trailer;
	c->peer = eng_slot(w, u);
	u->peer = eng_slot(w, c);
	u->state = U_RESOLVING;
	eng_timer_arm(w, u, T_CONNECT);
	if (ip_literal(u))
		connect_start(w, u);
	else
		resolve_start(w, u);
}
