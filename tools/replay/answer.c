/*
 * tools/replay/answer.c - the answer to a slot's request: llhttp 8.1 as a
 * response parser with no lenient flag (as engine/http1.c), interim 1xx
 * answers skipped, HEAD without a body, a body read until close ended by
 * EOF; the answer's head rebuilt from the callbacks for --record; the
 * proxy's answer to CONNECT; TLS input fed, handshaken and read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "persist/seg.h"
#include "tls/tls.h"
#include "tools/replay/loop-int.h"

static int on_status_cb(llhttp_t *p, const char *at, size_t n);
static int on_field_cb(llhttp_t *p, const char *at, size_t n);
static int on_value_cb(llhttp_t *p, const char *at, size_t n);
static int on_headers_cb(llhttp_t *p);
static int on_body_cb(llhttp_t *p, const char *at, size_t n);
static int on_done_cb(llhttp_t *p);

static const llhttp_settings_t resp_settings = {
	.on_status = on_status_cb,
	.on_header_field = on_field_cb,
	.on_header_value = on_value_cb,
	.on_headers_complete = on_headers_cb,
	.on_body = on_body_cb,
	.on_message_complete = on_done_cb,
};

void rp_answer_reset(struct rp_conn *c)
{
	llhttp_init(&c->p, HTTP_RESPONSE, &resp_settings);
	c->p.data = c;
}

/* ---- the answer (llhttp callbacks; p->data is the conn) ---- */

static void rh_add(struct rp_conn *c, const char *p, size_t n)
{
	if (c->rh == NULL)
		return;
	if (c->rhn + n > RP_REC_HEAD_MAX - 4u) {
		c->rh_cut = true;
		n = c->rhn < RP_REC_HEAD_MAX - 4u ? RP_REC_HEAD_MAX - 4u - c->rhn : 0;
	}
	memcpy(c->rh + c->rhn, p, n);
	c->rhn += n;
}

static int on_status_cb(llhttp_t *p, const char *at, size_t n)
{
	struct rp_conn *c = p->data;
	if (c->rhn == 0 && c->rh)
		c->rhn = (size_t)snprintf(c->rh, RP_REC_HEAD_MAX, "HTTP/1.1 %03u ",
					  (unsigned)llhttp_get_status_code(p) % 1000u);
	rh_add(c, at, n);
	return 0;
}

/* A piece of a header name or value (llhttp may split either): sep first
 * when it starts a new one. */
static int rh_piece(llhttp_t *p, const char *at, size_t n, int kind, const char *sep)
{
	struct rp_conn *c = p->data;
	if (c->last_cb != kind)
		rh_add(c, sep, 2);
	rh_add(c, at, n);
	c->last_cb = kind;
	return 0;
}

static int on_field_cb(llhttp_t *p, const char *at, size_t n)
{
	return rh_piece(p, at, n, RP_CB_FIELD, "\r\n");
}

static int on_value_cb(llhttp_t *p, const char *at, size_t n)
{
	return rh_piece(p, at, n, RP_CB_VALUE, ": ");
}

/* The content-type class of the head being recorded. */
static uint8_t rh_type(const struct rp_conn *c)
{
	const char *h = c->rh, *end = c->rh + c->rhn;
	for (const char *l = h; l && l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *e = nl ? nl : end;
		if ((size_t)(e - l) > 14 && strncasecmp(l, "content-type: ", 14) == 0) {
			size_t n = (size_t)(e - l) - 14u;
			if (n && l[14 + n - 1] == '\r')
				n--;
			return seg_type_from_mime(l + 14, n);
		}
		l = nl ? nl + 1 : NULL;
	}
	return SEG_T_NONE;
}

static int on_headers_cb(llhttp_t *p)
{
	struct rp_conn *c = p->data;
	struct rp_worker *w = c->w;
	uint16_t st = (uint16_t)llhttp_get_status_code(p);
	if (st >= 100 && st < 200 && st != 101)
		return 0;   /* interim: its message ends, the final answer follows */
	c->status = st;
	c->ttfb_ns = rp_mono_ns() - c->sent_abs;
	if (c->x && c->rh) {
		rh_add(c, "\r\n\r\n", 4);
		const char *sp = memchr(c->rh + 9, ' ', c->rhn > 9 ? c->rhn - 9 : 0);
		const char *reason = sp ? sp + 1 : "";
		const char *eol = memchr(c->rh, '\r', c->rhn);
		size_t rlen = sp && eol && eol > reason ? (size_t)(eol - reason) : 0;
		seg_xch_resp_head(w->a->rec, c->x, st, reason, rlen, c->rh, c->rhn, rh_type(c));
	}
	return c->cur.req && c->cur.req->head ? 1 : 0;
}

static int on_body_cb(llhttp_t *p, const char *at, size_t n)
{
	struct rp_conn *c = p->data;
	c->body += n;
	if (c->w->cfg->diff.body)
		c->hash = seg_crc32c(c->hash, at, n);
	if (c->x)
		seg_xch_body(c->w->a->rec, c->x, SEG_DIR_RESP, at, n);
	return 0;
}

static int on_done_cb(llhttp_t *p)
{
	struct rp_conn *c = p->data;
	if (c->status == 0) {
		c->rhn = 0;       /* an interim answer ended: start the head again */
		c->last_cb = RP_CB_NONE;
		return 0;
	}
	c->done = true;
	c->keep = llhttp_should_keep_alive(p) != 0;
	return HPE_PAUSED;
}

/* Plaintext of the answer. Returns false when the conn failed. */
bool rp_answer_parse(struct rp_conn *c, const char *p, size_t n)
{
	if (n == 0)
		return true;
	if (c->state != RP_C_BUSY || c->done) {
		rp_conn_fail(c, RP_E_PROTOCOL, "bytes from the server with no request outstanding");
		return false;
	}
	llhttp_errno_t e = llhttp_execute(&c->p, p, n);
	if (e == HPE_PAUSED) {
		const char *at = llhttp_get_error_pos(&c->p);
		if (at != NULL && at < p + n && c->tls == NULL) {
			rp_conn_fail(c, RP_E_PROTOCOL, "bytes after the answer");
			return false;
		}
		rp_conn_complete(c);
		return true;
	}
	if (e != HPE_OK) {
		char m[160];
		snprintf(m, sizeof(m), "bad answer: %s", llhttp_get_error_reason(&c->p));
		rp_conn_fail(c, RP_E_PROTOCOL, m);
		return false;
	}
	return true;
}

/* The server closed: an answer read until close ends here; anything else
 * is a reset (retried once when a reused connection closed unanswered). */
void rp_answer_eof(struct rp_conn *c, int err)
{
	if (c->state == RP_C_BUSY && !c->done && err == 0 && c->status != 0) {
		llhttp_finish(&c->p);   /* a body read until close ends here */
		if (c->done) {
			c->keep = false;
			rp_conn_complete(c);
			return;
		}
	}
	if (c->state == RP_C_READY || c->state == RP_C_IDLE || !c->has_cur) {
		rp_conn_teardown(c);
		return;
	}
	if (c->state == RP_C_BUSY && c->reused && c->wire_in == 0 && c->tries == 0) {
		c->tries = 1;
		c->w->a->st.retried++;
		rp_conn_teardown(c);
		return;
	}
	const char *m = err ? strerror(-err) : "connection closed before the answer";
	if (c->state == RP_C_TLS && c->tls) {
		rp_conn_fail(c, RP_E_TLS, tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) : m);
		return;
	}
	if (c->state == RP_C_PROXY) {
		rp_conn_fail(c, RP_E_CONNECT, "proxy closed during CONNECT");
		return;
	}
	rp_conn_fail(c, err == -ETIMEDOUT ? RP_E_TIMEOUT : RP_E_RESET, m);
}

void rp_answer_proxy(struct rp_conn *c, const char *p, size_t n)
{
	size_t room = sizeof(c->ph) - 1u - c->phn;
	if (n > room)
		n = room;
	memcpy(c->ph + c->phn, p, n);
	c->phn += n;
	c->ph[c->phn] = '\0';
	if (strstr(c->ph, "\r\n\r\n") == NULL) {
		if (c->phn == sizeof(c->ph) - 1u)
			rp_conn_fail(c, RP_E_CONNECT, "proxy CONNECT answer too long");
		return;
	}
	if (strncmp(c->ph, "HTTP/1.1 200", 12) != 0 && strncmp(c->ph, "HTTP/1.0 200", 12) != 0) {
		char m[80];
		snprintf(m, sizeof(m), "proxy refused CONNECT: %.12s", c->ph);
		rp_conn_fail(c, RP_E_CONNECT, m);
		return;
	}
	rp_conn_start_tls(c);
}

/* Ciphertext in: feed, handshake, plaintext to the parser. */
void rp_answer_tls(struct rp_conn *c, const char *p, size_t n)
{
	struct rp_worker *w = c->w;
	for (unsigned guard = 0; guard < 1024u && c->tls; guard++) {
		size_t k = n ? tls_conn_feed(c->tls, p, n) : 0;
		p += k;
		n -= k;
		if (c->state == RP_C_TLS) {
			int rc = tls_conn_handshake(c->tls);
			if (rc == -EPROTO) {
				rp_conn_fail(c, RP_E_TLS, tls_conn_error(c->tls));
				return;
			}
			if (rc == 0)
				rp_conn_ready(c);
		}
		ssize_t r = c->state == RP_C_BUSY ? tls_conn_read(c->tls, w->tbuf, sizeof(w->tbuf)) : -EAGAIN;
		if (r > 0 && !rp_answer_parse(c, w->tbuf, (size_t)r))
			return;
		if (r == 0 || r == -EPIPE) {
			rp_answer_eof(c, 0);
			return;
		}
		if (r == -EPROTO) {
			rp_conn_fail(c, RP_E_TLS, tls_conn_error(c->tls));
			return;
		}
		if (r < 0 && n == 0)
			break;
		if (r < 0 && k == 0) {
			rp_conn_fail(c, RP_E_TLS, "TLS input stuck");
			return;
		}
	}
	rp_conn_tx(c);
}
