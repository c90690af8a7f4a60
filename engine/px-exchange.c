/*
 * engine/px-exchange.c - the end of an exchange and the socket events that
 * end things: exchange records, capture of the exchange's end, aborts, a
 * retry on a fresh upstream, EOF, sent, timeouts, close, drain at shutdown,
 * and the TLS handshake results. Also the table (px_proto_ops) through which
 * the socket layer reaches the proxy.
 *
 * Invariants: every exchange the capture sink saw begin ends exactly once; a
 * request is retried at most once and only before any response byte.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/px-exchange.h"
#include "engine/px-answer.h"
#include "engine/px-client.h"
#include "engine/px-connect.h"
#include "engine/px-upstream.h"
#include "engine/px-ws.h"
#include "engine/h2.h"
#include "engine/h2up.h"
#include "engine/sock.h"

/* The worker whose loop runs on this thread: llhttp body callbacks need it. */
_Thread_local struct eng_worker *px_cur_w;

static void sink_events(struct eng_worker *w);

/* The proxy's per-worker state beyond the engine's: the WebSocket
 * observers, when the capture sink takes messages. */
static int px_start(struct eng_worker *w, char *err, size_t err_len)
{
	const struct eng_sink_ops *sink = w->e->cfg.sink;
	return sink && sink->ws_msg ? px_ws_pool_init(w, err, err_len) : 0;
}

const struct eng_proto_ops px_proto_ops = {
	.start = px_start,
	.stop = px_ws_pool_free,
	.accepted = px_accepted,
	.input = px_input,
	.eof = px_eof,
	.sent = px_sent,
	.connected = px_connected,
	.resolved = px_resolved,
	.timeout = px_timeout,
	.closed = px_closed,
	.drain = px_drain,
	.sink_wake = sink_events,
	.tls_ready = px_tls_ready,
	.tls_failed = px_tls_failed,
};

struct eng_xchg *px_xchg_get(struct eng_worker *w)
{
	uint32_t i = w->xchg_free;
	if (i == ENG_NONE)
		return NULL;
	w->xchg_free = w->xchg_free_next[i];
	memset(&w->xchgs[i], 0, sizeof(w->xchgs[i]));
	return &w->xchgs[i];
}

void px_xchg_put(struct eng_worker *w, struct eng_xchg *x)
{
	uint32_t i = (uint32_t)(x - w->xchgs);
	w->xchg_free_next[i] = w->xchg_free;
	w->xchg_free = i;
}

void px_on_req_body(void *arg, const char *at, size_t n)
{
	struct eng_sock *c = arg;
	struct eng_worker *w = px_cur_w;
	if (c->sink_h && sink(w)->body)
		sink(w)->body(w->sink_ctx, c->sink_h, ENG_DIR_REQUEST, at, n);
}

void px_on_resp_body(void *arg, const char *at, size_t n)
{
	struct eng_sock *u = arg;
	struct eng_worker *w = px_cur_w;
	struct eng_sock *c = peer_of(w, u);
	if (c && c->sink_h && sink(w)->body)
		sink(w)->body(w->sink_ctx, c->sink_h, ENG_DIR_RESPONSE, at, n);
}

/* Appends bytes to direction d's trailer block of c (half of c->tr_buf):
 * what does not fit, and everything after it, is counted in tr_wire only,
 * so that what is kept has no gap. */
static void tr_put(struct eng_worker *w, struct eng_sock *c, unsigned d, const char *p,
		   size_t n)
{
	uint32_t half = (uint32_t)(w->head_size / 2u);
	bool whole = c->tr_len[d] == c->tr_wire[d];
	c->tr_wire[d] += (uint32_t)n;
	if (!whole || c->tr_buf == ENG_NONE || c->tr_len[d] + n > half)
		return;
	memcpy(eng_head_ptr(w, c->tr_buf) + d * half + c->tr_len[d], p, n);
	c->tr_len[d] += (uint32_t)n;
}

/* Ends the field line in progress of direction d: trailing blanks of the
 * value dropped (as llhttp leaves them), then CRLF. */
static void tr_line_end(struct eng_worker *w, struct eng_sock *c, unsigned d)
{
	if (c->tr_last[d] == 1)
		tr_put(w, c, d, ":", 1);   /* a name without a value */
	const char *b = c->tr_buf != ENG_NONE
		? eng_head_ptr(w, c->tr_buf) + d * (w->head_size / 2u) : NULL;
	for (unsigned i = 0; b && i < ENG_HEAD_MAX && c->tr_len[d] > 0 &&
	     c->tr_len[d] == c->tr_wire[d]; i++) {
		char ch = b[c->tr_len[d] - 1];
		if (ch != ' ' && ch != '\t')
			break;
		c->tr_len[d]--;
		c->tr_wire[d]--;
	}
	tr_put(w, c, d, "\r\n", 2);
	c->tr_last[d] = 0;
}

/* A piece of a trailer field of client c's exchange in direction d. */
static void tr_piece(struct eng_worker *w, struct eng_sock *c, unsigned d, int value,
		     const char *at, size_t n)
{
	if (c == NULL || c->sink_h == NULL || sink(w)->trailers == NULL)
		return;
	if (c->tr_buf == ENG_NONE && c->tr_wire[0] == 0 && c->tr_wire[1] == 0) {
		c->tr_buf = eng_head_get(w);   /* ENG_NONE: every byte counted as cut */
		c->tr_len[0] = c->tr_len[1] = 0;
		c->tr_last[0] = c->tr_last[1] = 0;
	}
	uint8_t kind = value ? 2 : 1;
	if (kind == 1 && c->tr_last[d] != 1 && c->tr_last[d] != 0)
		tr_line_end(w, c, d);
	if (kind == 2 && c->tr_last[d] == 1)
		tr_put(w, c, d, ": ", 2);
	tr_put(w, c, d, at, n);
	c->tr_last[d] = kind;
}

void px_on_req_trailer(void *arg, int value, const char *at, size_t n)
{
	tr_piece(px_cur_w, arg, ENG_DIR_REQUEST, value, at, n);
}

void px_on_resp_trailer(void *arg, int value, const char *at, size_t n)
{
	struct eng_worker *w = px_cur_w;
	tr_piece(w, peer_of(w, arg), ENG_DIR_RESPONSE, value, at, n);
}

/* Hands the collected trailer sections to the sink and frees their buffer. */
static void trailers_end(struct eng_worker *w, struct eng_sock *c)
{
	for (unsigned d = 0; d < 2; d++) {
		if (c->tr_wire[d] == 0)
			continue;
		if (c->tr_last[d] != 0)
			tr_line_end(w, c, d);
		const char *b = c->tr_buf != ENG_NONE
			? eng_head_ptr(w, c->tr_buf) + d * (w->head_size / 2u) : "";
		/* a cut block keeps its whole lines only */
		while (c->tr_len[d] < c->tr_wire[d] && c->tr_len[d] > 0 &&
		       b[c->tr_len[d] - 1] != '\n')
			c->tr_len[d]--;
		if (c->sink_h && sink(w)->trailers)
			sink(w)->trailers(w->sink_ctx, c->sink_h, (enum eng_dir)d, b,
					  c->tr_len[d], c->tr_wire[d]);
	}
	if (c->tr_buf != ENG_NONE)
		eng_head_put(w, c->tr_buf);
	c->tr_buf = ENG_NONE;
	c->tr_len[0] = c->tr_len[1] = c->tr_wire[0] = c->tr_wire[1] = 0;
	c->tr_last[0] = c->tr_last[1] = 0;
}

/* Hands the client's exchange record to the sink's end and frees it; the
 * connection's state is the caller's. */
static void record_end(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_xchg *x = c->x;
	x->end_ns = since(c);
	/* method and url point into a head buffer that may be gone by now */
	x->method = x->url = NULL;
	x->method_len = x->url_len = 0;
	px_ws_end(w, c);
	trailers_end(w, c);
	if (c->sink_h && sink(w)->end)
		sink(w)->end(w->sink_ctx, c->sink_h, x);
	c->sink_h = NULL;
	px_xchg_put(w, x);
	c->x = NULL;
}

/* --sync: the exchange just ended is held to its response's unsent bytes
 * (the last ones at least: flushes are deferred to the end of the batch,
 * so they are still queued) until the sink says it is durable. Only a
 * response that went out whole is held; a tunnel, a handshake or an
 * aborted exchange has nothing to keep back. */
static void sync_hold(struct eng_worker *w, struct eng_sock *c, bool answered)
{
	const struct eng_sink_ops *k = sink(w);
	if (!w->e->cfg.sync || k->ticket == NULL || k->durable == NULL)
		return;
	uint64_t t = k->ticket(w->sink_ctx);
	if (t == 0 || !answered || c->state == C_TUNNEL || c->state == C_SNIFF ||
	    c->state == C_HANDSHAKE || (c->flags & ENG_SOCK_F_CLOSING))
		return;
	if (k->durable(w->sink_ctx, t))
		return;
	if (c->flags & ENG_SOCK_F_H2S) {
		/* a stream's bytes leave through its connection: that is held
		 * (its other streams wait a group commit too, as they would
		 * for their own exchanges) */
		c = eng_h2_parent(w, c);
		if (c == NULL)
			return;
	}
	/* a pipelined exchange's ticket is the later one of the same store:
	 * durable only after the earlier, so it replaces it */
	c->sync_ticket = t;
	if (c->flags & ENG_SOCK_F_SYNC_HOLD)
		return;
	if (w->nsync_wait >= w->nsocks)
		return;   /* stale entries of closed sockets filled the list: not held */
	c->flags |= ENG_SOCK_F_SYNC_HOLD;
	w->sync_wait[w->nsync_wait++] = eng_slot(w, c);
}

/* After a sink write: clients whose exchange became durable get their
 * held bytes sent; the others keep waiting (bounded: one pass over the
 * list, which holds each waiting socket once plus stale entries of
 * sockets closed since the last pass). */
static void sync_release(struct eng_worker *w)
{
	const struct eng_sink_ops *k = sink(w);
	unsigned n = w->nsync_wait, kept = 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t slot = w->sync_wait[i];
		struct eng_sock *s = &w->socks[slot];
		if (!(s->flags & ENG_SOCK_F_SYNC_HOLD))
			continue;   /* closed (and maybe reused) since */
		if (!k->durable(w->sink_ctx, s->sync_ticket)) {
			w->sync_wait[kept++] = slot;
			continue;
		}
		s->flags &= ~ENG_SOCK_F_SYNC_HOLD;
		s->sync_ticket = 0;
		eng_flush(w, s);
	}
	w->nsync_wait = kept;
}

static void sink_events(struct eng_worker *w)
{
	px_cur_w = w;
	if (w->nsync_wait > 0)
		sync_release(w);
	px_sink_wake(w);
}

void px_exchange_end(struct eng_worker *w, struct eng_sock *c)
{
	if (c->x == NULL)
		return;
	bool captured = c->sink_h != NULL;
	bool answered = (c->xflags & ENG_XCHG_F_RESP_DONE) != 0;
	record_end(w, c);
	if (captured)
		sync_hold(w, c, answered);
	if (c->head_buf != ENG_NONE) {
		eng_head_put(w, c->head_buf);
		c->head_buf = ENG_NONE;
	}
	bool reuse = (c->xflags & ENG_XCHG_F_REQ_DONE) && (c->xflags & ENG_XCHG_F_RESP_DONE) &&
		     c->state == C_EXCHANGE;
	px_upstream_release(w, c, reuse);
	if (c->flags & ENG_SOCK_F_CLOSING)
		return;
	/* an HTTP/2 stream carries one exchange: it ends with it (engine/h2.c) */
	if ((c->xflags & ENG_XCHG_F_CLOSE) || w->draining || (c->flags & ENG_SOCK_F_H2S)) {
		c->state = C_LINGER;
		eng_sock_linger(w, c);
		return;
	}
	c->state = C_IDLE;
	c->xflags = 0;
	eng_timer_arm(w, c, T_IDLE);
}

void px_client_abort(struct eng_worker *w, struct eng_sock *c, enum eng_err err)
{
	if (c->x && c->x->err == ENG_ERR_NONE) {
		c->x->err = err;
		ENG_COUNT(w->c.errors[err], 1);
	}
	c->xflags &= (uint8_t)~(ENG_XCHG_F_REQ_DONE | ENG_XCHG_F_RESP_DONE);
	px_exchange_end(w, c);
	px_upstream_release(w, c, false);
	eng_sock_close(w, c);
}

/* A pooled connection the server closed before answering: resend an
 * idempotent, body-less request once on another upstream (RFC 9112 9.3.1). */
static bool retry(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c)
{
	uint8_t m = c->hp.p.method;
	bool idempotent = m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS ||
			  m == HTTP_TRACE || m == HTTP_PUT || m == HTTP_DELETE;
	if (!(c->x->flags & ENG_X_REUSED) || (c->xflags & ENG_XCHG_F_RETRIED) || !idempotent ||
	    c->head_buf == ENG_NONE || !(c->xflags & ENG_XCHG_F_REQ_DONE) ||
	    c->x->request_body_bytes != 0 || u->head_len != 0)
		return false;
	c->xflags |= ENG_XCHG_F_RETRIED;
	c->x->flags &= ~ENG_X_REUSED;
	px_upstream_release(w, c, false);
	c->state = C_WAIT;
	px_upstream_get(w, c);
	return true;
}

void px_upstream_eof(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c, int err)
{
	const char *why = NULL;
	u->flags &= (uint32_t)~ENG_SOCK_F_REUSABLE;
	if (!(u->xflags & ENG_UP_F_BODY) && retry(w, u, c))
		return;
	if (!(u->xflags & ENG_UP_F_BODY)) {
		px_fail(w, c, ENG_ERR_UPSTREAM_CLOSED, 502,
		     "ringcap: %s:%u closed the connection without a response%s%s",
		     u->host, u->port, err ? ": " : "", err ? strerror(-err) : "");
		return;
	}
	if (err == 0 && h1_parse_eof(&u->hp, &why) == 0) {
		c->xflags |= ENG_XCHG_F_RESP_DONE | ENG_XCHG_F_CLOSE;
		eng_flush(w, c);
		px_exchange_end(w, c);
		return;
	}
	/* mid-body: never let a short body pass as complete */
	px_client_abort(w, c, ENG_ERR_UPSTREAM_CLOSED);
}

void px_eof(struct eng_worker *w, struct eng_sock *s, int err)
{
	px_cur_w = w;
	struct eng_sock *p = peer_of(w, s);
	if (s->role == ROLE_UPSTREAM) {
		if (s->state == U_AHEAD_FAILED) {
			return;   /* kept until its tunnel's request hears why */
		} else if (s->state == U_HANDSHAKE && p == NULL && s->ahead != ENG_NONE) {
			ENG_COUNT(w->c.tls_upstream_failures, 1);
			s->state = U_AHEAD_FAILED;   /* contacted once: no second try */
			eng_timer_stop(w, s);
		} else if (s->state == U_IDLE || p == NULL) {
			px_upstream_close(w, s);
		} else if (s->state == U_PARKED) {
			px_client_abort(w, p, ENG_ERR_UPSTREAM_CLOSED);
		} else if (s->state == U_TUNNEL) {
			if (err < 0)
				px_client_abort(w, p, ENG_ERR_NONE);
			else
				px_tunnel_pump(w, s, p);
		} else if (s->state == U_HANDSHAKE || s->state == U_CONNECTING) {
			px_fail(w, p, ENG_ERR_TLS_UPSTREAM, 502,
			     "ringcap: %s:%u closed the connection during the TLS handshake",
			     s->host, s->port);
		} else if (in_empty(w, s)) {
			px_upstream_eof(w, s, p, err);
		}
		return;
	}
	switch (s->state) {
	case C_TUNNEL:
		if (err < 0 || p == NULL)
			px_client_abort(w, s, ENG_ERR_NONE);
		else
			px_tunnel_pump(w, s, p);
		return;
	case C_WAIT:
	case C_EXCHANGE:
		if (err == 0 && (s->xflags & ENG_XCHG_F_REQ_DONE)) {
			s->xflags |= ENG_XCHG_F_CLOSE;   /* half-close: answer, then close */
			return;
		}
		px_client_abort(w, s, ENG_ERR_CLIENT_CLOSED);
		return;
	case C_HANDSHAKE:
		/* hung up on our certificate without an alert: pinned apps do */
		if (s->x)
			s->x->tunnel = ENG_TUN_REFUSED;
		px_client_abort(w, s, ENG_ERR_TLS_CLIENT);
		return;
	default:
		px_client_abort(w, s, s->x ? ENG_ERR_CLIENT_CLOSED : ENG_ERR_NONE);
		return;
	}
}

void px_sent(struct eng_worker *w, struct eng_sock *s)
{
	px_cur_w = w;
	struct eng_sock *p = peer_of(w, s);
	if (s->role == ROLE_UPSTREAM) {
		if (p == NULL)
			return;
		if (s->state == U_TUNNEL) {
			px_tunnel_pump(w, p, s);
			return;
		}
		px_client_pump(w, p);
		if (!(p->flags & ENG_SOCK_F_CLOSING) && peer_of(w, p) == s)
			eng_flush(w, s);
		return;
	}
	if (p && (p->state == U_ACTIVE || p->state == U_TUNNEL)) {
		if (p->state == U_TUNNEL)
			px_tunnel_pump(w, p, s);
		else
			px_upstream_pump(w, p);
		return;
	}
	px_client_pump(w, s);
}

void px_timeout(struct eng_worker *w, struct eng_sock *s)
{
	px_cur_w = w;
	struct eng_sock *c = s->role == ROLE_CLIENT ? s : peer_of(w, s);
	if (s->role == ROLE_UPSTREAM) {
		unsigned ms = s->state == U_ACTIVE ? w->e->cfg.upstream_timeout_ms
						   : w->e->cfg.connect_timeout_ms;
		if (s->state == U_IDLE || c == NULL)
			px_upstream_close(w, s);
		else if (s->state == U_TUNNEL)
			px_client_abort(w, c, ENG_ERR_NONE);
		else if (s->state == U_ACTIVE)
			px_fail(w, c, ENG_ERR_UPSTREAM_TIMEOUT, 504,
			     "ringcap: %s:%u did not answer within %u ms", s->host, s->port, ms);
		else
			px_fail(w, c, ENG_ERR_CONNECT_TIMEOUT, 504,
			     "ringcap: connecting to %s:%u timed out after %u ms", s->host, s->port, ms);
		return;
	}
	if (s->h2 && eng_h2_busy(s)) {
		eng_timer_arm(w, s, T_IDLE);   /* its streams have timers of their own */
		return;
	}
	switch (s->state) {
	case C_HEAD:
		px_fail(w, s, ENG_ERR_HEADER_TIMEOUT, 408,
		     "ringcap: request head not complete within %u ms",
		     w->e->cfg.header_timeout_ms);
		return;
	case C_EXCHANGE:
		px_fail(w, s, ENG_ERR_HEADER_TIMEOUT, 408,
		     "ringcap: request body stalled for %u ms", w->e->cfg.idle_timeout_ms);
		return;
	default:
		px_client_abort(w, s, ENG_ERR_NONE);
		return;
	}
}

/* Ends the link between a tunnel's client and the upstream made ahead for
 * it (px-connect.c: take_ahead) when either goes. An upstream whose client
 * left without a request joins the pool when it is ready; one still in its
 * handshake does so from px_tls_ready; a failed one closes. */
static void ahead_unlink(struct eng_worker *w, struct eng_sock *s)
{
	if (s->ahead == ENG_NONE)
		return;
	struct eng_sock *o = &w->socks[s->ahead];
	ASSERT(o->ahead == eng_slot(w, s));
	s->ahead = ENG_NONE;
	o->ahead = ENG_NONE;
	if (o->role != ROLE_UPSTREAM || (o->flags & ENG_SOCK_F_CLOSING))
		return;
	if (o->state == U_AHEAD && !w->draining)
		px_pool_put(w, o);
	else if (o->state == U_AHEAD || o->state == U_AHEAD_FAILED)
		px_upstream_close(w, o);
}

/* The slot is about to be reused: nothing may still point at it. */
void px_closed(struct eng_worker *w, struct eng_sock *s)
{
	px_cur_w = w;
	s->flags &= ~ENG_SOCK_F_SYNC_HOLD;   /* its sync_wait entry goes stale */
	if (s->flags & ENG_SOCK_F_COUNTED)
		eng_access_conn_put(w, s);
	px_ws_end(w, s);
	if (s->h2 || (s->flags & ENG_SOCK_F_H2S))
		eng_h2_closed(w, s);
	if (s->h2u)
		eng_h2u_free(w, s);
	if (s->tr_buf != ENG_NONE) {   /* an exchange cut short: its trailers are dropped */
		eng_head_put(w, s->tr_buf);
		s->tr_buf = ENG_NONE;
	}
	if (s->x) {
		if (s->sink_h && sink(w)->end)
			sink(w)->end(w->sink_ctx, s->sink_h, s->x);
		s->sink_h = NULL;
		px_xchg_put(w, s->x);
		s->x = NULL;
	}
	ahead_unlink(w, s);
	struct eng_sock *p = peer_of(w, s);
	s->peer = ENG_NONE;
	if (p == NULL || p->peer != eng_slot(w, s))
		return;
	p->peer = ENG_NONE;
	if (p->role == ROLE_UPSTREAM)
		px_upstream_close(w, p);
	else
		px_client_abort(w, p, ENG_ERR_UPSTREAM_CLOSED);
}

/* Shutdown: idle connections go now, busy ones after their exchange. */
void px_drain(struct eng_worker *w)
{
	px_cur_w = w;
	for (unsigned i = 0; i < w->socks_used; i++) {
		struct eng_sock *s = &w->socks[i];
		if (s->role == 0 || (s->flags & (ENG_SOCK_F_CLOSING | ENG_SOCK_F_H2S)))
			continue;   /* a stream ends with its connection's GOAWAY */
		if (s->h2) {
			eng_h2_drain(w, s);
			continue;
		}
		if (s->role == ROLE_UPSTREAM && (s->state == U_IDLE || s->state == U_AHEAD ||
						 s->state == U_AHEAD_FAILED))
			px_upstream_close(w, s);
		else if (s->role == ROLE_CLIENT && s->state == C_IDLE)
			eng_sock_close(w, s);
		else if (s->role == ROLE_CLIENT)
			s->xflags |= ENG_XCHG_F_CLOSE;
	}
}

void px_tls_ready(struct eng_worker *w, struct eng_sock *s)
{
	px_cur_w = w;
	if (s->role == ROLE_CLIENT) {
		ENG_COUNT(w->c.tls_handshakes, 1);
		if (s->x) {
			px_exchange_end(w, s);   /* the CONNECT: intercepted */
			if (s->state != C_IDLE)
				return;          /* draining: lingers, closes */
		}
		s->state = C_IDLE;
		eng_timer_arm(w, s, T_IDLE);
		if (eng_h2_selected(s)) {
			if (eng_h2_start(w, s) < 0)
				px_client_abort(w, s, ENG_ERR_OVERLOAD);
			return;
		}
		px_client_pump(w, s);
		return;
	}
	struct eng_sock *c = peer_of(w, s);
	ENG_COUNT(w->c.tls_upstream_handshakes, 1);
	if (eng_h2u_selected(s) && eng_h2u_start(w, s) < 0) {
		if (c)
			px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: no memory for HTTP/2 upstream");
		else
			px_upstream_close(w, s);
		return;
	}
	if (c == NULL && s->ahead != ENG_NONE) {
		/* made ahead: waits for its tunnel's first request */
		s->state = U_AHEAD;
		eng_timer_arm(w, s, T_UP_IDLE);
		return;
	}
	if (c == NULL) {
		px_pool_put(w, s);   /* its tunnel ended without a request */
		return;
	}
	px_start_exchange(w, c, s);
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
	px_cur_w = w;
	if (s->role == ROLE_CLIENT) {
		ENG_COUNT(w->c.tls_failures, 1);
		/* 42-46 and 48: bad, unsupported, revoked, expired, unknown
		 * certificate and unknown CA (RFC 8446 6.2) */
		uint8_t a = s->plain_alert;
		bool plain_rejects = (a >= 42 && a <= 46) || a == 48;
		bool refused = tls_conn_cert_rejected(s->tls) || plain_rejects;
		if (refused) {
			ENG_COUNT(w->c.tls_cert_rejected, 1);
			note_rejected(w->e, tls_conn_name(s->tls));
		}
		if (s->x) {
			/* the CONNECT's record says the tunnel failed, and why */
			enum eng_err err = refused ? ENG_ERR_CERT_REFUSED : ENG_ERR_TLS_CLIENT;
			s->x->tunnel = ENG_TUN_REFUSED;
			s->x->err = err;
			ENG_COUNT(w->c.errors[err], 1);
			record_end(w, s);
		} else {
			ENG_COUNT(w->c.errors[ENG_ERR_TLS_CLIENT], 1);
		}
		if (!(s->flags & ENG_SOCK_F_CLOSING))
			eng_sock_linger(w, s);   /* the alert goes out, then FIN */
		return;
	}
	struct eng_sock *c = peer_of(w, s);
	if (s->state == U_AHEAD_FAILED)
		return;   /* input after the failure: already counted */
	ENG_COUNT(w->c.tls_upstream_failures, 1);
	if (c == NULL && s->ahead != ENG_NONE) {
		/* made ahead: its tunnel's first request gets the reason */
		s->state = U_AHEAD_FAILED;
		eng_timer_stop(w, s);
		return;
	}
	if (c == NULL) {
		px_upstream_close(w, s);
		return;
	}
	px_fail(w, c, ENG_ERR_TLS_UPSTREAM, 502, "ringcap: TLS with %s:%u failed: %s",
	     s->host, s->port, tls_conn_error(s->tls));
}
