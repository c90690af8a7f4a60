/*
 * engine/h2up.c - HTTP/2 to upstreams that select h2 in ALPN (opt-in:
 * --upstream-h2). Runs on worker threads, inside the worker's loop: no
 * blocking call; the codec state is allocated once per upstream connection
 * when its handshake selected h2.
 *
 * The proxy keeps speaking HTTP/1.1 to the upstream socket; this file is a
 * codec between that and nghttp2's client session, one stream at a time
 * (a pooled connection carries its exchanges one after the other):
 *   request:  what the proxy pushes (an HTTP/1.1 head, then body bytes)
 *             waits in a side queue; the head becomes HEADERS (request
 *             line and Host -> pseudo-headers, hop-by-hop fields dropped,
 *             TE: trailers kept), the body (chunked framing removed)
 *             DATA, as the origin's window allows;
 *   response: HEADERS and DATA from the origin become an HTTP/1.1
 *             response written into the socket's input queue (chunked
 *             when the origin sent no Content-Length, trailers in the
 *             chunked trailer section), which the proxy reads and checks
 *             as it reads any upstream.
 * The TLS plaintext of such a socket never enters its input queue
 * directly (engine/sock.c: eng_in_peek); it goes to nghttp2_session_mem_recv.
 *
 * Bounds: the side queue holds ENG_OUTQ_SEGS segments (the proxy stops
 * pushing when it is full, as for any socket); response bytes wait in the
 * input queue, which the proxy drains into the client; nghttp2's stream
 * window (64 KiB default) bounds what the origin can send beyond that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/h2up.h"
#include "engine/sock.h"
#include "engine/tlsio.h"
#include "rc-assert.h"

#define H2U_RECV_STEPS 64u   /* TLS reads fed to nghttp2 per input call */
#define H2U_SEND_STEPS 64u   /* mem_send calls per output */

struct eng_h2u {
	nghttp2_session *sess;
	struct eng_worker *w;
	uint32_t slot;
	int32_t sid;            /* the stream in flight, 0 none */
	bool dead;
	bool deferred;          /* the data provider waits for body bytes */
	bool chunked_resp;      /* the response is written chunked */
	bool resp_head;         /* the final response head is written */
	bool req_end;           /* the request body is complete */
	bool broken;            /* a stream or session error: the proxy sees EOF */
	bool in_input;          /* eng_h2u_input runs */
	uint64_t unconsumed;    /* DATA bytes in the input queue, window not reopened */
	struct eng_outq q;      /* HTTP/1.1 request bytes the proxy pushed */
	struct h1_parser rp;    /* that request, read back */
	uint8_t *dst;
	size_t dst_len;
	uint32_t lbuf;          /* head buffer: response field lines */
	uint32_t llen;
	uint16_t status;
	/* the response's Content-Length, kept out of the field lines: a
	 * response that announces trailers (a Trailer field) is written
	 * chunked without it, as Content-Length framing has no room for the
	 * trailers that follow (nghttp2 checks the length against DATA) */
	bool trailer_announced;
	uint8_t cl_len;         /* 0: none */
	char cl[24];
	nghttp2_nv nv[];        /* max_headers + 4 */
};

static struct eng_sock *sock_of(struct eng_h2u *h)
{
	return &h->w->socks[h->slot];
}

/* The TLS wire queue's own fullness (eng_out_full answers for the side
 * queue on such a socket). */
static bool wire_full(const struct eng_sock *u)
{
	return u->tls_pend.len > 0 || u->out.n >= ENG_OUT_SEGS / 2;
}

/* Appends to the socket's input queue (the proxy reads it as HTTP/1.1). */
static int in_put(struct eng_h2u *h, const char *p, size_t n)
{
	return eng_in_append(h->w, sock_of(h), p, n);
}

static const char *reason(unsigned st)
{
	switch (st) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* ---- response: frames -> HTTP/1.1 in the input queue ---- */

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	struct eng_h2u *h = ud;
	(void)sess, (void)flags;
	if (f->hd.stream_id != h->sid || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	for (size_t i = 0; i < vl; i++)
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (nl == 7 && memcmp(name, ":status", 7) == 0) {
		unsigned st = 0;
		for (size_t i = 0; i < vl && i < 3; i++)
			st = st * 10 + (unsigned)(value[i] - '0');
		h->status = (uint16_t)st;
		return 0;
	}
	if (nl == 0 || name[0] == ':')
		return 0;
	if (nl == 14 && memcmp(name, "content-length", 14) == 0 && !h->resp_head) {
		if (vl >= sizeof(h->cl))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* not a length */
		memcpy(h->cl, value, vl);
		h->cl_len = (uint8_t)vl;
		return 0;
	}
	if (nl == 7 && memcmp(name, "trailer", 7) == 0 && !h->resp_head)
		h->trailer_announced = true;
	if (h->lbuf == ENG_NONE && (h->lbuf = eng_head_get(h->w)) == ENG_NONE)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (h->llen + nl + vl + 4 > h->w->head_size)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	char *b = eng_head_ptr(h->w, h->lbuf) + h->llen;
	memcpy(b, name, nl);
	memcpy(b + nl, ": ", 2);
	memcpy(b + nl + 2, value, vl);
	memcpy(b + nl + 2 + vl, "\r\n", 2);
	h->llen += (uint32_t)(nl + vl + 4);
	return 0;
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct eng_h2u *h = ud;
	(void)sess;
	if (f->hd.stream_id == h->sid && !h->resp_head) {
		h->status = 0;
		h->chunked_resp = true;   /* until a Content-Length says otherwise */
		h->trailer_announced = false;
		h->cl_len = 0;
	}
	return 0;
}

/* Writes the response head (or, after the body, the trailers). */
static int head_out(struct eng_h2u *h, bool end)
{
	char line[96];
	const char *lines = h->lbuf != ENG_NONE ? eng_head_ptr(h->w, h->lbuf) : "";
	int rc = 0;
	if (!h->resp_head) {
		bool interim = h->status >= 100 && h->status < 200;
		bool nobody = h->status == 204 || h->status == 304 || interim;
		int n = snprintf(line, sizeof(line), "HTTP/1.1 %u %s\r\n", h->status,
				 reason(h->status));
		rc = in_put(h, line, (size_t)n);
		rc = rc ? rc : in_put(h, lines, h->llen);
		if (h->cl_len && (interim || end || !h->trailer_announced)) {
			h->chunked_resp = false;
			rc = rc ? rc : in_put(h, "content-length: ", 16);
			rc = rc ? rc : in_put(h, h->cl, h->cl_len);
			rc = rc ? rc : in_put(h, "\r\n", 2);
		}
		if (!nobody && h->chunked_resp)
			rc = rc ? rc : in_put(h, end ? "content-length: 0\r\n"
						     : "transfer-encoding: chunked\r\n",
					      end ? 19 : 28);
		rc = rc ? rc : in_put(h, "\r\n", 2);
		if (end || nobody)
			h->chunked_resp = false;
		h->resp_head = !interim;
	} else if (h->chunked_resp) {
		rc = in_put(h, "0\r\n", 3);
		rc = rc ? rc : in_put(h, lines, h->llen);
		rc = rc ? rc : in_put(h, "\r\n", 2);
		h->chunked_resp = false;
	}
	if (h->lbuf != ENG_NONE)
		eng_head_put(h->w, h->lbuf);
	h->lbuf = ENG_NONE;
	h->llen = 0;
	return rc;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct eng_h2u *h = ud;
	(void)sess;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		sock_of(h)->flags &= (uint32_t)~ENG_SOCK_F_REUSABLE;
		h->dead = f->goaway.last_stream_id < h->sid;
		return 0;
	}
	if (f->hd.stream_id != h->sid || h->sid == 0)
		return 0;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (f->hd.type == NGHTTP2_HEADERS && head_out(h, end) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (f->hd.type == NGHTTP2_DATA && end && h->chunked_resp) {
		h->chunked_resp = false;
		if (in_put(h, "0\r\n\r\n", 5) < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_data(nghttp2_session *sess, uint8_t flags, int32_t sid, const uint8_t *data,
		   size_t len, void *ud)
{
	struct eng_h2u *h = ud;
	(void)sess, (void)flags;
	if (sid != h->sid)
		return 0;
	int rc = 0;
	if (h->chunked_resp) {
		char line[24];
		int n = snprintf(line, sizeof(line), "%zx\r\n", len);
		rc = in_put(h, line, (size_t)n);
	}
	rc = rc ? rc : in_put(h, (const char *)data, len);
	if (h->chunked_resp)
		rc = rc ? rc : in_put(h, "\r\n", 2);
	h->unconsumed += len;
	return rc ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	struct eng_h2u *h = ud;
	(void)sess;
	if (sid != h->sid)
		return 0;
	if (code != NGHTTP2_NO_ERROR || !h->resp_head || h->chunked_resp)
		h->broken = true;   /* reset or cut short: the proxy sees EOF */
	h->sid = 0;
	return 0;
}

/* ---- request: the proxy's HTTP/1.1 -> HEADERS and DATA ---- */

static void copy_body(void *arg, const char *at, size_t n)
{
	struct eng_h2u *h = arg;
	memcpy(h->dst + h->dst_len, at, n);
	h->dst_len += n;
}

static ssize_t read_body(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
	struct eng_h2u *h = ud;
	(void)sess, (void)sid, (void)src;
	h->dst = buf;
	h->dst_len = 0;
	for (unsigned i = 0; i < 2 * ENG_OUTQ_SEGS && h->q.n > 0 && !h->rp.done; i++) {
		struct eng_seg *g = eng_outq_at(&h->q, 0);
		size_t take = g->len < length - h->dst_len ? g->len : length - h->dst_len;
		if (take == 0 && g->len > 0)
			break;
		const char *why = NULL;
		long n = h1_parse_body(&h->rp, g->p, take, &why);
		if (n < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		eng_outq_advance(&h->w->bufs, &h->q, (size_t)n);
		if (n == 0 && !h->rp.done)
			break;
	}
	h->dst = NULL;
	if (h->rp.done) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		h->req_end = true;
		return (ssize_t)h->dst_len;
	}
	if (h->dst_len == 0) {
		h->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)h->dst_len;
}

static bool hop(const char *n, size_t len)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "transfer-encoding", "upgrade", "host", "te",
					     "proxy-authorization" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len == strlen(names[i]) && strncasecmp(n, names[i], len) == 0)
			return true;
	return false;
}

/* The head at the front of the side queue becomes a stream. false: the
 * request cannot go (the proxy sees the connection fail). */
static bool submit_request(struct eng_h2u *h)
{
	struct eng_worker *w = h->w;
	struct eng_seg *g = eng_outq_at(&h->q, 0);
	struct h1_scan sc = { .request = 1 };
	const char *why = NULL;
	int hl = h1_scan(&sc, g->p, g->len, w->e->cfg.max_headers + 1, &why);
	struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
	h1_parser_init(&h->rp, false, copy_body, h);
	uint32_t lc = eng_head_get(w);
	if (hl <= 0 || lc == ENG_NONE || h1_parse_head(&h->rp, &m, g->p, (size_t)hl, &why) < 0) {
		if (lc != ENG_NONE)
			eng_head_put(w, lc);
		return false;
	}
	char *low = eng_head_ptr(w, lc);
	int hi = h1_find(&m, "host");
	const char *auth = hi >= 0 ? m.base + m.hdr[hi].value_off : sock_of(h)->host;
	size_t auth_len = hi >= 0 ? m.hdr[hi].value_len : sock_of(h)->host_len;
	size_t n = 0, used = 0;
	h->nv[n++] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)m.base + m.start_off, 7,
				   m.start_len, NGHTTP2_NV_FLAG_NONE };
	h->nv[n++] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5,
				   NGHTTP2_NV_FLAG_NONE };
	h->nv[n++] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)auth, 10, auth_len,
				   NGHTTP2_NV_FLAG_NONE };
	h->nv[n++] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)m.base + m.url_off, 5,
				   m.url_len, NGHTTP2_NV_FLAG_NONE };
	for (unsigned i = 0; i < m.nhdr && n < w->e->cfg.max_headers + 4u; i++) {
		const struct h1_hdr *f = &m.hdr[i];
		const char *name = m.base + f->name_off;
		bool te_trailers = f->name_len == 2 && strncasecmp(name, "te", 2) == 0 &&
				   f->value_len == 8 &&
				   strncasecmp(m.base + f->value_off, "trailers", 8) == 0;
		if (hop(name, f->name_len) && !te_trailers)
			continue;
		for (uint32_t k = 0; k < f->name_len; k++)
			low[used + k] = (name[k] >= 'A' && name[k] <= 'Z') ? (char)(name[k] + 32)
									   : name[k];
		h->nv[n++] = (nghttp2_nv){ (uint8_t *)low + used, (uint8_t *)m.base + f->value_off,
					   f->name_len, f->value_len, NGHTTP2_NV_FLAG_NONE };
		used += f->name_len;
	}
	nghttp2_data_provider dp = { .source.ptr = h, .read_callback = read_body };
	bool body = !h->rp.done;
	int32_t sid = nghttp2_submit_request(h->sess, NULL, h->nv, n, body ? &dp : NULL, NULL);
	eng_head_put(w, lc);
	eng_outq_advance(&w->bufs, &h->q, (size_t)hl);
	if (sid < 0)
		return false;
	h->sid = sid;
	h->resp_head = false;
	h->chunked_resp = true;
	h->req_end = !body;
	h->deferred = false;
	h->broken = false;
	return true;
}

/* ---- the connection ---- */

bool eng_h2u_selected(const struct eng_sock *u)
{
	return u->tls != NULL && strcmp(tls_conn_alpn(u->tls), "h2") == 0;
}

int eng_h2u_start(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_h2u *h = calloc(1, sizeof(*h) + (w->e->cfg.max_headers + 4u) * sizeof(h->nv[0]));
	nghttp2_session_callbacks *cb = NULL;
	if (h == NULL || nghttp2_session_callbacks_new(&cb) != 0) {
		free(h);
		return -ENOMEM;
	}
	h->w = w;
	h->slot = eng_slot(w, u);
	h->lbuf = ENG_NONE;
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_option *opt = NULL;
	int rv = nghttp2_option_new(&opt);
	if (rv == 0) {
		/* the origin's window reopens as the proxy drains the response
		 * (eng_h2u_in_consumed), not as frames arrive */
		nghttp2_option_set_no_auto_window_update(opt, 1);
		rv = nghttp2_session_client_new2(&h->sess, cb, h, opt);
		nghttp2_option_del(opt);
	}
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, w->e->cfg.h2_stream_window },
	};
	if (rv != 0 || nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
	    nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)w->e->cfg.h2_conn_window) != 0) {
		if (rv == 0)
			nghttp2_session_del(h->sess);
		free(h);
		return -ENOMEM;
	}
	u->h2u = h;
	return 0;
}

void eng_h2u_free(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_h2u *h = u->h2u;
	if (h == NULL)
		return;
	eng_outq_drop(&w->bufs, &h->q, false);
	if (h->lbuf != ENG_NONE)
		eng_head_put(w, h->lbuf);
	nghttp2_session_del(h->sess);
	free(h);
	u->h2u = NULL;
}

bool eng_h2u_full(const struct eng_sock *u)
{
	return eng_outq_full(&u->h2u->q);
}

void eng_h2u_push(struct eng_worker *w, struct eng_sock *u, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len)
{
	struct eng_h2u *h = u->h2u;
	if (eng_outq_full(&h->q)) {
		/* the caller ignored eng_out_full: drop, and fail the socket */
		struct eng_seg g = { .p = p, .len = len, .id = id, .kind = kind };
		eng_seg_release(&w->bufs, &g);
		h->broken = true;
		return;
	}
	eng_outq_push(&h->q, kind, id, p, len);
}

bool eng_h2u_want_write(const struct eng_sock *u)
{
	const struct eng_h2u *h = u->h2u;
	return !h->dead && ((h->q.n > 0 && (h->sid == 0 || h->deferred)) ||
			    nghttp2_session_want_write(h->sess));
}

/* Reads the socket's TLS plaintext into nghttp2. 0, or -EPROTO when the
 * session or the stream failed (the proxy treats it as a cut-off upstream). */
void eng_h2u_in_consumed(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_h2u *h = u->h2u;
	if (u->in.count > 1 || h->dead)
		return;
	if (h->unconsumed > 0) {
		nghttp2_session_consume_connection(h->sess, h->unconsumed);
		if (h->sid != 0 && nghttp2_session_find_stream(h->sess, h->sid))
			nghttp2_session_consume_stream(h->sess, h->sid, h->unconsumed);
		h->unconsumed = 0;
	}
	/* frames already received wait in the ciphertext queue, or already
	 * decrypted inside TLS (a record read whole while the input queue was
	 * full): read them. Not only when ciphertext waits: the origin may
	 * have sent its last DATA already, and no receive would come again
	 * (a stream stalled 144 bytes before its end, 1 run in 3). */
	if (!h->in_input)
		eng_h2u_input(w, u);
	eng_flush(w, u);
}

int eng_h2u_input(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_h2u *h = u->h2u;
	char *buf = NULL;
	uint16_t b = eng_pbuf_get(w);
	if (b == UINT16_MAX)
		return 0;   /* tried again on the next input */
	buf = eng_buf_ptr(w, b);
	h->in_input = true;
	/* stop while the proxy has not drained what came: the window then
	 * holds the origin back (and recv pauses on a long input queue) */
	for (unsigned i = 0; i < H2U_RECV_STEPS && !h->dead && u->in.count <= ENG_IN_BUFS_MAX; i++) {
		ssize_t r = eng_tls_read_plain(w, u, buf, w->e->cfg.buf_size);
		if (r <= 0)
			break;
		if (nghttp2_session_mem_recv(h->sess, (const uint8_t *)buf, (size_t)r) < 0) {
			h->dead = true;
			h->broken = true;
		}
	}
	eng_buf_unref(w, b);
	h->in_input = false;
	eng_flush(w, u);   /* acks, window updates */
	return h->broken ? -EPROTO : 0;
}

void eng_h2u_output(struct eng_worker *w, struct eng_sock *u)
{
	struct eng_h2u *h = u->h2u;
	if (h->dead)
		return;
	if (h->sid == 0 && h->q.n > 0 && !submit_request(h)) {
		h->dead = true;
		h->broken = true;
		return;
	}
	if (h->deferred && h->q.n > 0) {
		h->deferred = false;
		nghttp2_session_resume_data(h->sess, h->sid);
	}
	for (unsigned i = 0; i < H2U_SEND_STEPS && !wire_full(u); i++) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(h->sess, &d);
		if (n <= 0)
			break;
		/* copied into a private buffer: what TLS cannot seal at once
		 * must outlive nghttp2's next call */
		for (size_t off = 0; off < (size_t)n;) {
			uint16_t b = eng_pbuf_get(w);
			if (b == UINT16_MAX) {
				h->dead = true;
				h->broken = true;
				return;
			}
			size_t k = (size_t)n - off < w->e->cfg.buf_size ? (size_t)n - off
								       : w->e->cfg.buf_size;
			memcpy(eng_buf_ptr(w, b), d + off, k);
			eng_tls_seal(w, u, ENG_SEG_BUF, b, eng_buf_ptr(w, b), (uint32_t)k);
			off += k;
		}
	}
}
