/*
 * engine/px-client.c - client input: request bodies, tunnels (CONNECT and
 * Upgrade), the sniff of a CONNECT's first flight and the start of
 * interception, and the client pump that drives a client connection's
 * states.
 *
 * Invariants: body bytes are forwarded only after llhttp accepted them; a
 * slow peer stops the reading side (output full -> input kept -> recv
 * paused); the pump runs a bounded number of steps per call.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/px-client.h"
#include "engine/px-answer.h"
#include "engine/px-connect.h"
#include "engine/px-exchange.h"
#include "engine/px-head.h"
#include "engine/px-upstream.h"
#include "engine/px-ws.h"
#include "engine/h2.h"
#include "engine/sock.h"
#include "engine/tlsio.h"

static void tunnel_fin(struct eng_worker *w, struct eng_sock *a, struct eng_sock *b);
static bool blind_tunnel(struct eng_worker *w, struct eng_sock *c, enum eng_tunnel kind);

/* Asks the sink whether the exchange's next n body bytes can be stored;
 * when not, `reader` stops being read until the sink finished a write. */
bool px_sink_room(struct eng_worker *w, struct eng_sock *reader, struct eng_sock *c, size_t n)
{
	if (c->sink_h == NULL || sink(w)->room == NULL || sink(w)->room(w->sink_ctx, c->sink_h, n))
		return true;
	if (!(reader->flags & ENG_SOCK_F_SINK_WAIT) && w->nsink_wait < w->nsocks) {
		reader->flags |= ENG_SOCK_F_SINK_WAIT;
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
		if (!(s->flags & ENG_SOCK_F_SINK_WAIT))
			continue;
		s->flags &= ~ENG_SOCK_F_SINK_WAIT;
		if (!(s->flags & ENG_SOCK_F_CLOSING) && s->role)
			px_input(w, s);
	}
}

/* Forwards validated request body bytes while the upstream has room. */
static void request_body(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_sock *u = peer_of(w, c);
	for (unsigned iter = 0; iter < ENG_OUT_SEGS && !(c->xflags & ENG_XCHG_F_REQ_DONE); iter++) {
		if (u == NULL || body_full(w, u))
			return;
		const char *p, *why = NULL;
		size_t avail = eng_in_peek(w, c, &p);
		if (avail == 0 || !px_sink_room(w, c, c, avail))
			return;
		long n = h1_parse_body(&c->hp, p, avail, &why);
		if (n < 0) {
			px_fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request body: %s", why);
			return;
		}
		if (n > 0) {
			eng_out_forward(w, u, c, (size_t)n);
			c->x->request_body_bytes += (uint64_t)n;
			ENG_COUNT(w->c.bytes_to_upstreams, (uint64_t)n);
		}
		if (c->hp.done) {
			c->xflags |= ENG_XCHG_F_REQ_DONE;
			eng_timer_stop(w, c);
		} else {
			eng_timer_arm(w, c, T_IDLE);
		}
	}
}

/* Bytes both ways, after CONNECT or a 101. */
void px_tunnel_pump(struct eng_worker *w, struct eng_sock *from, struct eng_sock *to)
{
	for (unsigned iter = 0; iter < ENG_OUT_SEGS && !body_full(w, to); iter++) {
		const char *p;
		size_t n = eng_in_peek(w, from, &p);
		if (n == 0)
			break;
		struct eng_sock *cl = from->role == ROLE_CLIENT ? from : to;
		if (cl->ws)   /* WebSocket capture sees what goes through */
			px_ws_feed(w, cl, from == cl ? ENG_DIR_REQUEST : ENG_DIR_RESPONSE, p, n);
		eng_out_forward(w, to, from, n);
		if (to->role == ROLE_CLIENT)
			ENG_COUNT(w->c.bytes_to_clients, n);
		else
			ENG_COUNT(w->c.bytes_to_upstreams, n);
		if (to->role == ROLE_CLIENT)
			to->x->response_body_bytes += n;
		else
			from->x->request_body_bytes += n;
	}
	eng_timer_arm(w, from, T_IDLE);
	eng_timer_arm(w, to, T_IDLE);
	eng_flush(w, to);
	if ((from->flags & ENG_SOCK_F_EOF) && in_empty(w, from))
		tunnel_fin(w, from, to);
}

/* Half-close in a tunnel: once a side sent FIN and its bytes are out, pass
 * the FIN on; when both directions are done, close both. */
static void tunnel_fin(struct eng_worker *w, struct eng_sock *a, struct eng_sock *b)
{
	struct eng_sock *pair[2][2] = { { a, b }, { b, a } };
	for (int i = 0; i < 2; i++) {
		struct eng_sock *from = pair[i][0], *to = pair[i][1];
		if ((from->flags & ENG_SOCK_F_EOF) && in_empty(w, from) && to->out.n == 0 &&
		    !eng_tls_has_out(to) && !(to->flags & (ENG_SOCK_F_SHUT_WR | ENG_SOCK_F_SENDING))) {
			shutdown(to->fd, SHUT_WR);
			to->flags |= ENG_SOCK_F_SHUT_WR;
		}
	}
	if ((a->flags & ENG_SOCK_F_SHUT_WR) && (b->flags & ENG_SOCK_F_SHUT_WR)) {
		struct eng_sock *c = a->role == ROLE_CLIENT ? a : b;
		px_exchange_end(w, c);
		px_upstream_release(w, c, false);
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
	int rc = tls_pool_server_conn(w->tls_pool, w->e->cfg.tls_server, w->leaf_cache, c->host,
				      &c->tls);
	if (rc < 0) {
		px_client_abort(w, c, ENG_ERR_TLS_CLIENT);
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
	/* the parked connection starts its TLS handshake now, beside the
	 * client's, and is kept for the tunnel's first request (issue 16:
	 * pooled instead, a second upstream was opened for that request);
	 * unless an idle TLS connection to the origin is pooled: the first
	 * request takes that one (px_upstream_get) and no handshake is made */
	struct eng_sock *u = peer_of(w, c);
	c->peer = ENG_NONE;
	if (u && eng_pool_has(w, u->host, u->host_len, u->port, true)) {
		u->peer = ENG_NONE;
		px_upstream_close(w, u);
	} else if (u) {
		u->peer = ENG_NONE;
		u->flags |= ENG_SOCK_F_UP_TLS;
		if (tls_pool_client_conn_at(w->tls_pool, w->e->cfg.tls_client, u->host, u->port,
						 &u->tls) < 0) {
			px_upstream_close(w, u);
		} else {
			c->ahead = eng_slot(w, u);
			u->ahead = eng_slot(w, c);
			u->state = U_HANDSHAKE;
			eng_timer_arm(w, u, T_CONNECT);
			eng_sock_handshake(w, u);
		}
	}
	c->x->flags |= ENG_X_TLS;
	c->x->tunnel = ENG_TUN_INTERCEPTED;
	c->xflags |= ENG_XCHG_F_REQ_DONE | ENG_XCHG_F_RESP_DONE;
	c->xflags &= (uint8_t)~ENG_XCHG_F_CLOSE;
	/* the CONNECT itself ends with the handshake (px_tls_ready, or
	 * px_tls_failed: a client that refuses our certificate says so there) */
	c->state = C_HANDSHAKE;
	eng_timer_arm(w, c, T_HEADER);
	eng_sock_handshake(w, c);
}

/* C_SNIFF: collects the first flight; returns true when the state moved. */
static bool sniff(struct eng_worker *w, struct eng_sock *c)
{
	if (c->head_buf == ENG_NONE) {
		c->head_buf = eng_head_get(w);
		c->head_len = 0;
		if (c->head_buf == ENG_NONE) {
			px_client_abort(w, c, ENG_ERR_OVERLOAD);
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
	/* --passthrough names the server: the SNI counts as much as the
	 * CONNECT host (CONNECT 127.0.0.1:443 with SNI bank.example) */
	if (rc > 0 && hello.sni_len > 0 && px_passthrough(w, hello.sni))
		return blind_tunnel(w, c, ENG_TUN_PASSTHROUGH);
	if (rc > 0) {
		intercept_start(w, c);
		return false;
	}
	if (rc == -EBADMSG) {
		ENG_COUNT(w->c.tls_failures, 1);
		px_client_abort(w, c, ENG_ERR_TLS_CLIENT);
		return false;
	}
	return blind_tunnel(w, c, ENG_TUN_NOT_TLS);
}

/* The sniffed first flight (in the head buffer) goes to the parked
 * upstream and the CONNECT becomes a blind tunnel of the given kind. */
static bool blind_tunnel(struct eng_worker *w, struct eng_sock *c, enum eng_tunnel kind)
{
	struct eng_sock *u = peer_of(w, c);
	if (u == NULL) {
		px_client_abort(w, c, ENG_ERR_UPSTREAM_CLOSED);
		return false;
	}
	c->x->tunnel = (uint8_t)kind;
	c->state = C_TUNNEL;
	u->state = U_TUNNEL;
	eng_out_push(w, u, ENG_SEG_HEAD, (uint16_t)c->head_buf, eng_head_ptr(w, c->head_buf),
		     c->head_len);
	c->x->request_body_bytes += c->head_len;
	c->head_buf = ENG_NONE;
	c->head_len = 0;
	eng_timer_arm(w, c, T_IDLE);
	eng_timer_arm(w, u, T_IDLE);
	eng_flush(w, u);
	px_tunnel_pump(w, u, c);
	return true;
}

void px_client_pump(struct eng_worker *w, struct eng_sock *c)
{
	px_cur_w = w;
	for (unsigned iter = 0; iter < 64 && !(c->flags & ENG_SOCK_F_CLOSING); iter++) {
		const char *why = NULL;
		struct eng_sock *u = peer_of(w, c);
		switch (c->state) {
		case C_IDLE:
			if (eng_out_full(c) || (c->flags & ENG_SOCK_F_FLUSHCLOSE) || in_empty(w, c))
				return;
			if (!px_request_begin(w, c))
				return;
			break;
		case C_HEAD: {
			int rc = px_head_read(w, c, w->e->cfg.max_request_head, &why);
			if (rc == 0)
				return;
			if (rc == -E2BIG && c->head_len >= w->e->cfg.max_request_head)
				px_fail(w, c, ENG_ERR_HEAD_TOO_BIG, 431,
				     "ringcap: request head over %u bytes (--max-request-head)",
				     w->e->cfg.max_request_head);
			else if (rc == -EMSGSIZE)
				px_fail(w, c, ENG_ERR_HEAD_TOO_BIG, 414,
				     "ringcap: request line over %u bytes (--max-request-line)",
				     w->e->cfg.max_request_line);
			else if (rc == -E2BIG)
				px_fail(w, c, ENG_ERR_HEAD_TOO_BIG, 431,
				     "ringcap: more than %u header lines (--max-headers)",
				     w->e->cfg.max_headers);
			else if (rc < 0)
				px_fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request: %s", why);
			else
				px_request_head(w, c);
			break;
		}
		case C_EXCHANGE:
			if (!(c->xflags & ENG_XCHG_F_REQ_DONE))
				request_body(w, c);
			return;
		case C_TUNNEL:
			if (u)
				px_tunnel_pump(w, c, u);
			return;
		case C_SNIFF:
			if (!sniff(w, c))
				return;
			break;
		case C_HANDSHAKE:
			return;   /* bytes go to the TLS layer */
		case C_H2:
			eng_h2_input(w, c);
			return;
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
