/*
 * engine/px-answer.c - local answers: the 503 to a connection over the
 * limits, error responses (fail, deny), the status page and the onboarding
 * pages that ringcap answers itself, and Max-Forwards: 0.
 *
 * Invariants: a final answer replaces any response head already queued but
 * not yet sent (unpush); an answer that cannot be queued closes the
 * connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/px-answer.h"
#include "engine/px-connect.h"
#include "engine/px-exchange.h"
#include "engine/onboard.h"
#include "engine/sock.h"
#include "engine/tlsio.h"

static const char rejected_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	"Content-Length: 38\r\nConnection: close\r\n\r\n"
	"ringcap: too many connections, retry\r\n";
static const char client_limit_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	"Content-Length: 74\r\nConnection: close\r\n\r\n"
	"ringcap: too many connections from your address (--max-conns-per-client)\r\n";

static void respond_ex(struct eng_worker *w, struct eng_sock *c, int status,
		       const char *ctype, const char *body, size_t body_len, bool close,
		       const char *extra);

/* Answers a new connection with a canned 503 and closes it. */
static void reject(struct eng_worker *w, struct eng_sock *c, enum eng_err why,
		   const char *answer, size_t len)
{
	ENG_COUNT(w->c.conns_rejected, 1);
	ENG_COUNT(w->c.errors[why], 1);
	if (w->rejecting >= ENG_REJECT_SLOTS) {
		ENG_COUNT(w->c.conns_unanswered, 1);
		eng_sock_close(w, c);   /* a flood: no answer, just close */
		return;
	}
	/* answered and lingering, it no longer counts against max-conns */
	w->rejecting++;
	c->flags |= ENG_SOCK_F_REJECTED;
	eng_out_push(w, c, ENG_SEG_CONST, 0, answer, (uint32_t)len);
	c->flags |= ENG_SOCK_F_FLUSHCLOSE;
	c->state = C_LINGER;
	eng_flush(w, c);
}

void px_accepted(struct eng_worker *w, struct eng_sock *c)
{
	px_cur_w = w;
	c->state = C_IDLE;
	h1_parser_init(&c->hp, false, px_on_req_body, c);
	c->hp.on_trailer = px_on_req_trailer;
	if (w->clients - w->rejecting > w->e->cfg.max_conns || w->draining) {
		reject(w, c, ENG_ERR_OVERLOAD, rejected_503, sizeof(rejected_503) - 1);
		return;
	}
	socklen_t len = sizeof(c->addr);
	getpeername(c->fd, (struct sockaddr *)&c->addr, &len);
	if (w->e->cfg.allow && !eng_cidr_match(w->e->cfg.allow, w->e->cfg.nallow, &c->addr)) {
		ENG_COUNT(w->c.conns_denied, 1);   /* not in --allow: no answer at all */
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
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/* Queues a complete response made by the proxy. The body is text. */
void px_respond(struct eng_worker *w, struct eng_sock *c, int status,
		const char *ctype, const char *body, size_t body_len, bool close)
{
	respond_ex(w, c, status, ctype, body, body_len, close, "");
}

/* px_respond() with extra header lines (each ending in CRLF). */
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
	bool head_only = c->xflags & ENG_XCHG_F_HEAD_REQ;
	int n = snprintf(p, w->head_size, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nVia: 1.1 ringcap\r\n%s%s\r\n",
			 status, reason_of(status), ctype, body_len, extra,
			 close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n + body_len > w->head_size)
		body_len = 0;
	if (!head_only && body_len)
		memcpy(p + n, body, body_len);
	size_t total = (size_t)n + (head_only ? 0 : body_len);
	eng_out_push(w, c, ENG_SEG_HEAD, (uint16_t)hb, p, (uint32_t)total);
	ENG_COUNT(w->c.bytes_to_clients, total);
	if (c->x) {
		c->x->status = (uint16_t)status;
		c->x->response_head_bytes = (uint64_t)n;
		c->x->response_body_bytes = head_only ? 0 : body_len;
	}
	c->xflags |= ENG_XCHG_F_RESP_HEAD;
	if (close) {
		c->xflags |= ENG_XCHG_F_CLOSE;
		c->flags |= ENG_SOCK_F_FLUSHCLOSE;
	}
	eng_flush(w, c);
}

void px_fail(struct eng_worker *w, struct eng_sock *c, enum eng_err err,
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
	ENG_COUNT(w->c.errors[err], 1);
	if (c->x)
		c->x->err = err;
	c->err = (uint8_t)err;
	px_upstream_release(w, c, false);
	/* a response still wholly in our queue can yet become an error page */
	if ((c->xflags & ENG_XCHG_F_RESP_HEAD) && status != 0 && eng_out_unpush(w, c, c->resp_seg)) {
		c->xflags &= (uint8_t)~ENG_XCHG_F_RESP_HEAD;
		if (c->x)
			c->x->response_body_bytes = 0;
	}
	if ((c->xflags & ENG_XCHG_F_RESP_HEAD) || status == 0) {
		/* the client already has part of an answer: only a close is honest */
		px_exchange_end(w, c);
		eng_sock_close(w, c);
		return;
	}
	px_respond(w, c, status, "text/plain; charset=utf-8", msg, (size_t)n, true);
	px_exchange_end(w, c);
}

/* An access refusal decided by engine/access.c (407, 429, 403), answered
 * here; the connection stays open when the request has no body left. */
void px_deny(struct eng_worker *w, struct eng_sock *c, const struct eng_deny *d)
{
	if (!c->hp.done || d->close)
		c->xflags |= ENG_XCHG_F_CLOSE;
	ENG_COUNT(w->c.errors[d->err], 1);
	c->x->err = d->err;
	c->x->flags |= ENG_X_LOCAL;
	respond_ex(w, c, d->status, "text/plain; charset=utf-8", d->msg, strlen(d->msg),
		   (c->xflags & ENG_XCHG_F_CLOSE) != 0, d->extra);
	c->xflags |= ENG_XCHG_F_REQ_DONE | ENG_XCHG_F_RESP_DONE;
	px_exchange_end(w, c);
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

void px_status_page(struct eng_worker *w, struct eng_sock *c, bool found)
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
		c->xflags |= ENG_XCHG_F_CLOSE;   /* a body we will not read follows */
	if (c->x)
		c->x->flags |= ENG_X_LOCAL;
	px_respond(w, c, found ? 200 : 404, "text/html; charset=utf-8", body, (size_t)n,
		(c->xflags & ENG_XCHG_F_CLOSE) != 0);
	c->xflags |= ENG_XCHG_F_REQ_DONE | ENG_XCHG_F_RESP_DONE;
	px_exchange_end(w, c);
}

/* http://ringcap.cert/: the CA install page and files. The bodies live as
 * long as the process, so they go out without a copy. */
void px_onboard(struct eng_worker *w, struct eng_sock *c, const struct h1_target *t)
{
	struct eng_onboard_reply r;
	if (!c->hp.done)
		c->xflags |= ENG_XCHG_F_CLOSE;
	c->x->flags |= ENG_X_LOCAL;
	bool room = c->tls ? !eng_out_full(c) : (unsigned)c->out.n + 3u <= ENG_OUT_SEGS;
	uint32_t hb = room ? eng_head_get(w) : ENG_NONE;
	if (hb == ENG_NONE ||
	    eng_onboard_answer(t->path, t->path_len, w->e->cfg.onboard, NULL, 0, &r) < 0) {
		if (hb != ENG_NONE)
			eng_head_put(w, hb);
		px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: cannot answer ringcap.cert now");
		return;
	}
	bool close = (c->xflags & ENG_XCHG_F_CLOSE) != 0;
	char *p = eng_head_ptr(w, hb);
	long n = eng_onboard_write_head(&r, close, p, w->head_size);
	eng_out_push(w, c, ENG_SEG_HEAD, (uint16_t)hb, p, (uint32_t)n);
	size_t body = 0;
	for (int i = 0; i < 2 && !(c->xflags & ENG_XCHG_F_HEAD_REQ); i++) {
		if (r.piece[i].len == 0)
			continue;
		eng_out_push(w, c, ENG_SEG_CONST, 0, r.piece[i].p, (uint32_t)r.piece[i].len);
		body += r.piece[i].len;
	}
	ENG_COUNT(w->c.bytes_to_clients, (size_t)n + body);
	c->x->status = (uint16_t)r.status;
	c->x->response_head_bytes = (uint64_t)n;
	c->x->response_body_bytes = body;
	c->xflags |= ENG_XCHG_F_RESP_HEAD | ENG_XCHG_F_REQ_DONE | ENG_XCHG_F_RESP_DONE;
	if (close)
		c->flags |= ENG_SOCK_F_FLUSHCLOSE;
	eng_flush(w, c);
	px_exchange_end(w, c);
}

/* TRACE and OPTIONS with Max-Forwards: 0 are answered here (RFC 9110 7.6.2). */
void px_max_forwards_zero(struct eng_worker *w, struct eng_sock *c,
			  const struct h1_msg *m)
{
	if (!c->hp.done)
		c->xflags |= ENG_XCHG_F_CLOSE;
	if (c->x)
		c->x->flags |= ENG_X_LOCAL;
	if (m->method == HTTP_TRACE) {
		/* the echo leaves credentials out: built in a spare head buffer */
		uint32_t hb = eng_head_get(w);
		if (hb == ENG_NONE) {
			px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: out of head buffers");
			return;
		}
		long n = h1_write_trace_echo(m, eng_head_ptr(w, hb), w->head_size);
		px_respond(w, c, 200, "message/http", eng_head_ptr(w, hb), n > 0 ? (size_t)n : 0,
			   (c->xflags & ENG_XCHG_F_CLOSE) != 0);
		eng_head_put(w, hb);
	} else
		px_respond(w, c, 200, "text/plain", "", 0, (c->xflags & ENG_XCHG_F_CLOSE) != 0);
	c->xflags |= ENG_XCHG_F_REQ_DONE | ENG_XCHG_F_RESP_DONE;
	px_exchange_end(w, c);
}
