/*
 * engine/px-upstream.c - upstream input: the response head, response bodies,
 * and the upstream pump; px_input routes a socket's new input to the right
 * pump.
 *
 * Invariants: a response head is checked and rewritten before any of it
 * reaches the client; body bytes go out only after llhttp accepted them.
 */
#include <errno.h>
#include <string.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/px-upstream.h"
#include "engine/px-answer.h"
#include "engine/px-client.h"
#include "engine/px-connect.h"
#include "engine/px-exchange.h"
#include "engine/px-head.h"
#include "engine/px-ws.h"
#include "engine/h2up.h"
#include "engine/sock.h"

/* The upstream's response head is complete in u->head_buf. */
static void response_head(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
	const char *why = NULL;
	char *head = eng_head_ptr(w, u->head_buf);
	u->hp.skip_body = (c->xflags & ENG_XCHG_F_HEAD_REQ) != 0;
	if (h1_parse_head(&u->hp, &m, head, u->head_len, &why) < 0) {
		px_fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: bad response from %s:%u: %s",
		     u->host, u->port, why);
		return;
	}
	bool interim = m.status >= 100 && m.status < 200 && m.status != 101;
	bool upgrade = m.status == 101;
	if (upgrade && !(c->xflags & ENG_XCHG_F_UPGRADE)) {
		px_fail(w, c, ENG_ERR_BAD_RESPONSE, 502,
		     "ringcap: %s:%u switched protocols unasked", u->host, u->port);
		return;
	}
	/* u->hp.done right after the head: no body (HEAD, 204, 304, 1xx) */
	bool delimited = m.chunked || m.content_length >= 0 || u->hp.done;
	bool close = (c->xflags & ENG_XCHG_F_CLOSE) || !delimited;
	if (!interim && !delimited)
		c->xflags |= ENG_XCHG_F_CLOSE;
	uint32_t out = eng_head_get(w);
	long n = out == ENG_NONE ? -ENOSPC
		: h1_write_response(&m, close, eng_head_ptr(w, out), w->head_size);
	if (n < 0) {
		if (out != ENG_NONE)
			eng_head_put(w, out);
		px_fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: response head too large");
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
		if (upgrade)
			px_ws_start(w, c, head, u->head_len);
		ENG_COUNT(w->c.responses, 1);
	}
	eng_head_put(w, u->head_buf);
	u->head_buf = ENG_NONE;
	if (!interim)
		c->resp_seg = c->out.pushed;
	eng_out_push(w, c, ENG_SEG_HEAD, (uint16_t)out, eng_head_ptr(w, out), (uint32_t)n);
	ENG_COUNT(w->c.bytes_to_clients, (uint64_t)n);
	if (interim) {
		u->scan = (struct h1_scan){0};
		u->head_len = 0;
		return;
	}
	c->xflags |= ENG_XCHG_F_RESP_HEAD;
	u->xflags |= ENG_UP_F_BODY;
	if (!m.conn_close && m.minor == 1 && delimited)
		u->flags |= ENG_SOCK_F_REUSABLE;
	if (upgrade) {
		c->state = C_TUNNEL;
		u->state = U_TUNNEL;
		c->x->flags |= ENG_X_UPGRADE;
		ENG_COUNT(w->c.upgrades, 1);
		return;
	}
	if (u->hp.done)
		c->xflags |= ENG_XCHG_F_RESP_DONE;
}

static void response_body(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	for (unsigned iter = 0; iter < ENG_OUT_SEGS && !(c->xflags & ENG_XCHG_F_RESP_DONE); iter++) {
		if (body_full(w, c))
			return;
		const char *p, *why = NULL;
		size_t avail = eng_in_peek(w, u, &p);
		if (avail == 0 || !px_sink_room(w, u, c, avail))
			return;
		long n = h1_parse_body(&u->hp, p, avail, &why);
		if (n < 0) {
			px_fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: bad response body from %s:%u: %s",
			     u->host, u->port, why);
			return;
		}
		if (n > 0) {
			eng_out_forward(w, c, u, (size_t)n);
			c->x->response_body_bytes += (uint64_t)n;
			ENG_COUNT(w->c.bytes_to_clients, (uint64_t)n);
		}
		if (u->hp.done)
			c->xflags |= ENG_XCHG_F_RESP_DONE;
	}
}

/* Input on an upstream with no exchange: an idle upstream has nothing to
 * say, bytes or FIN end it; a TLS session ticket is no plaintext (peeking
 * reads it), and TLS 1.3 servers send theirs after the handshake. */
static void idle_input(struct eng_worker *w, struct eng_sock *u)
{
	bool waits = u->state == U_IDLE || u->state == U_AHEAD;
	if (waits && u->tls && in_empty(w, u) &&
	    !(u->flags & (ENG_SOCK_F_EOF | ENG_SOCK_F_TLS_ERR)))
		return;
	px_upstream_close(w, u);
}

/* A head buffer for the response head of u; false when none is left
 * (the client got its 503). */
static bool head_buf_ready(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	if (u->head_buf != ENG_NONE)
		return true;
	u->head_buf = eng_head_get(w);
	if (u->head_buf == ENG_NONE) {
		px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: out of head buffers");
		return false;
	}
	u->head_len = 0;
	u->scan = (struct h1_scan){0};
	return true;
}

void px_upstream_pump(struct eng_worker *w, struct eng_sock *u)
{
	px_cur_w = w;
	struct eng_sock *c = peer_of(w, u);
	if (u->state == U_AHEAD_FAILED)
		return;   /* kept for its reason only (px-connect.c: take_ahead) */
	if (u->state == U_IDLE || c == NULL) {
		idle_input(w, u);
		return;
	}
	if (u->state == U_TUNNEL) {
		px_tunnel_pump(w, u, c);
		return;
	}
	if (u->state == U_PARKED)
		return;   /* the server spoke first: kept for the tunnel */
	eng_timer_arm(w, u, T_UPSTREAM);
	for (unsigned iter = 0; iter < 8 && !(c->flags & ENG_SOCK_F_CLOSING) && peer_of(w, c) == u; iter++) {
		if (u->xflags & ENG_UP_F_BODY) {
			response_body(w, u, c);
			break;
		}
		if (eng_out_full(c))
			break;   /* a response head waits for room: px_sent resumes */
		if (!head_buf_ready(w, u, c))
			return;
		const char *why = NULL;
		int rc = px_head_read(w, u, w->e->cfg.max_response_head, &why);
		if (rc == 0)
			break;
		if (rc < 0) {
			px_fail(w, c, ENG_ERR_BAD_RESPONSE, 502, "ringcap: bad response head from %s:%u: %s",
			     u->host, u->port, rc == -E2BIG ? "too large" : why);
			return;
		}
		response_head(w, u, c);
		if (u->state == U_TUNNEL) {
			px_tunnel_pump(w, u, c);
			px_client_pump(w, c);
			return;
		}
	}
	if (c->flags & ENG_SOCK_F_CLOSING)
		return;
	eng_flush(w, c);
	if ((u->flags & ENG_SOCK_F_EOF) && in_empty(w, u) && peer_of(w, c) == u &&
	    !(c->xflags & ENG_XCHG_F_RESP_DONE)) {
		px_upstream_eof(w, u, c, 0);
		return;
	}
	if ((c->xflags & ENG_XCHG_F_RESP_DONE) && peer_of(w, c) == u) {
		if (!in_empty(w, u))
			u->flags &= (uint32_t)~ENG_SOCK_F_REUSABLE;   /* bytes past the end */
		if (c->xflags & ENG_XCHG_F_REQ_DONE) {
			px_exchange_end(w, c);
			px_client_pump(w, c);
		}
	}
}

static void tls_broken(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_sock *p = peer_of(w, s);
	if (s->role == ROLE_CLIENT)
		px_client_abort(w, s, ENG_ERR_TLS_CLIENT);
	else if (p)
		px_client_abort(w, p, ENG_ERR_TLS_UPSTREAM);
	else
		px_upstream_close(w, s);
}

void px_input(struct eng_worker *w, struct eng_sock *s)
{
	if ((s->flags & ENG_SOCK_F_TLS_ERR) && !(s->flags & ENG_SOCK_F_CLOSING)) {
		tls_broken(w, s);
		return;
	}
	if (s->role == ROLE_CLIENT) {
		struct eng_sock *u = peer_of(w, s);
		px_client_pump(w, s);
		u = peer_of(w, s);
		if (u && !(s->flags & ENG_SOCK_F_CLOSING))
			eng_flush(w, u);
		if (u && (s->xflags & ENG_XCHG_F_REQ_DONE) && (s->xflags & ENG_XCHG_F_RESP_DONE) &&
		    s->state == C_EXCHANGE) {
			px_exchange_end(w, s);
			px_client_pump(w, s);
		}
	} else {
		if (s->h2u && eng_h2u_input(w, s) < 0) {
			/* reset or cut short by an h2 origin: a cut-off upstream */
			struct eng_sock *c = peer_of(w, s);
			s->flags |= ENG_SOCK_F_EOF;
			if (c && in_empty(w, s))
				px_upstream_eof(w, s, c, -EPROTO);
			else if (c == NULL)
				px_upstream_close(w, s);
			else
				px_upstream_pump(w, s);
			return;
		}
		px_upstream_pump(w, s);
	}
}
