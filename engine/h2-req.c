/*
 * engine/h2-req.c - HTTP/2 requests into HTTP/1.1 (engine/h2.c has the
 * connection and the design): each stream's HEADERS, DATA and trailers are
 * checked field by field and written as HTTP/1.1 bytes into the stream
 * socket's input queue, where llhttp reads them as it reads any client.
 * Also the nghttp2 receive callbacks and the session's set-up. Runs on
 * worker threads; callbacks only note work on the stream (h2_todo), the
 * proxy runs after mem_recv returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/h2-int.h"
#include "engine/px-exchange.h"
#include "engine/sock.h"
#include "rc-assert.h"

/* ---- request: HTTP/2 fields -> HTTP/1.1 bytes in the stream's input ---- */

/* True when a field can be written into an HTTP/1.1 head as it is: a name
 * of lower-case token characters (a leading colon only on pseudo-headers)
 * and a value without CR, LF or NUL. nghttp2 checks the same; this is
 * the last line before bytes become HTTP/1.1. */
static bool field_ok(const uint8_t *name, size_t nl, const uint8_t *value, size_t vl)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	if (nl == 0)
		return false;
	for (size_t i = 0; i < nl; i++) {
		uint8_t c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (c != 0 && strchr(tchar, c) != NULL) || (c == ':' && i == 0);
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < vl; i++)
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
			return false;
	return true;
}

static bool name_is(const uint8_t *name, size_t nl, const char *s)
{
	return nl == strlen(s) && memcmp(name, s, nl) == 0;
}

/* Refuses a stream before anything of it went upstream. */
static void refuse(struct eng_h2 *h, struct h2_strm *st, enum eng_h2_bad k, uint32_t code)
{
	if (code != NGHTTP2_REFUSED_STREAM)
		h2_bad(h, k);   /* REFUSED_STREAM is counted as it goes out */
	st->flags |= H2_ST_COUNTED;
	st->flags |= H2_ST_REFUSED;
	if (st->hbuf != ENG_NONE) {
		eng_head_put(h->w, st->hbuf);
		st->hbuf = ENG_NONE;
	}
	h2_rst(h, st, code);
}

/* Keeps a pseudo-header value at the top of the head buffer. */
static bool keep_pseudo(struct eng_h2 *h, struct h2_strm *st, const uint8_t *v, size_t n,
			uint32_t *off, uint32_t *len)
{
	if (n > st->low - st->lines)
		return false;
	st->low -= (uint32_t)n;
	memcpy(eng_head_ptr(h->w, st->hbuf) + st->low, v, n);
	*off = st->low;
	*len = (uint32_t)n;
	return true;
}

static bool add_line(struct eng_h2 *h, struct h2_strm *st, const uint8_t *name, size_t nl,
		     const uint8_t *value, size_t vl)
{
	if (nl + vl + 4 > st->low - st->lines)
		return false;
	char *p = eng_head_ptr(h->w, st->hbuf) + st->lines;
	memcpy(p, name, nl);
	memcpy(p + nl, ": ", 2);
	memcpy(p + nl + 2, value, vl);
	memcpy(p + nl + 2 + vl, "\r\n", 2);
	st->lines += (uint32_t)(nl + vl + 4);
	return true;
}

/* One request field: pseudo-headers kept, the others as lines. false:
 * refuse the stream with *why. */
static bool take_field(struct eng_h2 *h, struct h2_strm *st, const uint8_t *name, size_t nl,
		       const uint8_t *value, size_t vl, enum eng_h2_bad *why)
{
	*why = ENG_H2_BAD_SMUGGLE;
	if (!field_ok(name, nl, value, vl))
		return false;
	*why = ENG_H2_BAD_HEADER;
	if (name[0] == ':') {
		if (name_is(name, nl, ":method"))
			return keep_pseudo(h, st, value, vl, &st->meth_off, &st->meth_len);
		if (name_is(name, nl, ":path"))
			return keep_pseudo(h, st, value, vl, &st->path_off, &st->path_len);
		if (name_is(name, nl, ":authority"))
			return keep_pseudo(h, st, value, vl, &st->auth_off, &st->auth_len);
		return true;   /* :scheme (https inside the tunnel), :protocol */
	}
	*why = ENG_H2_BAD_SMUGGLE;
	if (name_is(name, nl, "transfer-encoding") || name_is(name, nl, "connection") ||
	    name_is(name, nl, "keep-alive") || name_is(name, nl, "proxy-connection") ||
	    name_is(name, nl, "upgrade"))
		return false;
	if (name_is(name, nl, "te") && !(vl == 8 && memcmp(value, "trailers", 8) == 0))
		return false;
	if (name_is(name, nl, "host")) {
		if (st->auth_len == 0)
			return keep_pseudo(h, st, value, vl, &st->auth_off, &st->auth_len);
		/* RFC 9113 8.3.1: a Host naming another server than :authority */
		const char *a = eng_head_ptr(h->w, st->hbuf) + st->auth_off;
		return vl == st->auth_len && memcmp(a, value, vl) == 0;
	}
	if (name_is(name, nl, "content-length"))
		st->flags |= H2_ST_HAS_CL;
	*why = ENG_H2_BAD_HEADER;
	return add_line(h, st, name, nl, value, vl);
}

/* Writes the request's field lines into s's input, the cookie crumbs
 * (HTTP/2 sends one field per cookie) joined into one Cookie line with
 * "; " as RFC 9113 8.2.3 asks of a hop to HTTP/1.1. Each line is
 * "name: value\r\n" (add_line wrote them). 0 or -ENOBUFS. */
static int field_lines(struct eng_worker *w, struct eng_sock *s, const char *b, uint32_t len)
{
	static const char ck[] = "cookie: ";
	bool first = true;
	int rc = 0;
	for (uint32_t off = 0; off < len && rc == 0;) {
		const char *eol = memchr(b + off, '\n', len - off);
		uint32_t n = eol ? (uint32_t)(eol - (b + off)) + 1u : len - off;
		if (n > 10 && memcmp(b + off, ck, 8) == 0)
			off += n;   /* written below */
		else if ((rc = eng_in_append(w, s, b + off, n)) == 0)
			off += n;
	}
	for (uint32_t off = 0; off < len && rc == 0;) {
		const char *eol = memchr(b + off, '\n', len - off);
		uint32_t n = eol ? (uint32_t)(eol - (b + off)) + 1u : len - off;
		if (n > 10 && memcmp(b + off, ck, 8) == 0) {
			rc = eng_in_append(w, s, first ? ck : "; ", first ? 8 : 2);
			rc = rc ? rc : eng_in_append(w, s, b + off + 8, n - 10);
			first = false;
		}
		off += n;
	}
	if (!first && rc == 0)
		rc = eng_in_append(w, s, "\r\n", 2);
	return rc;
}

/* Creates the stream's socket: a client of the proxy inside the parent's
 * TLS tunnel, with the parent's address, CONNECT host and client name. */
static struct eng_sock *strm_sock(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_worker *w = h->w;
	struct eng_sock *c = h2_conn_of(h);
	struct eng_sock *s = eng_sock_new(w, -1, ROLE_CLIENT);
	if (s == NULL)
		return NULL;
	/* a stream is not a connection: conns_open counts sockets with an fd
	 * (given back in eng_h2_closed, before sock.c takes it off again) */
	ENG_COUNT_SUB(w->c.conns_open, 1);
	s->flags |= ENG_SOCK_F_H2S;
	s->state = C_IDLE;
	s->h2_parent = h->slot;
	s->h2_parent_gen = c->gen;
	s->h2_idx = (uint16_t)(st - h->st);
	s->addr = c->addr;
	memcpy(s->host, c->host, sizeof(s->host));
	s->host_len = c->host_len;
	s->port = c->port;
	memcpy(s->name, c->name, sizeof(s->name));
	s->name_len = c->name_len;
	h1_parser_init(&s->hp, false, px_on_req_body, s);
	s->hp.on_trailer = px_on_req_trailer;
	st->slot = eng_slot(w, s);
	st->gen = s->gen;
	st->flags |= H2_ST_SOCK;
	return s;
}

/* The request's header block is complete: writes its HTTP/1.1 head into
 * the new stream socket's input. */
static void request_head(struct eng_h2 *h, struct h2_strm *st, bool end_stream)
{
	struct eng_worker *w = h->w;
	if (st->meth_len == 0) {
		refuse(h, st, ENG_H2_BAD_HEADER, NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	struct eng_sock *s = strm_sock(h, st);
	if (s == NULL) {
		refuse(h, st, ENG_H2_BAD_STREAMS, NGHTTP2_REFUSED_STREAM);
		return;
	}
	const char *b = eng_head_ptr(w, st->hbuf);
	bool chunked = !end_stream && !(st->flags & H2_ST_HAS_CL);
	if (chunked)
		st->flags |= H2_ST_CHUNKED;
	if (st->meth_len == 4 && memcmp(b + st->meth_off, "HEAD", 4) == 0)
		st->flags |= H2_ST_HEAD_REQ;
	/* CONNECT has no :path: the proxy refuses its authority-form (400) */
	const char *path = st->path_len ? b + st->path_off : b + st->auth_off;
	size_t path_len = st->path_len ? st->path_len : st->auth_len;
	int rc = eng_in_append(w, s, b + st->meth_off, st->meth_len);
	rc = rc ? rc : eng_in_append(w, s, " ", 1);
	rc = rc ? rc : eng_in_append(w, s, path, path_len);
	rc = rc ? rc : eng_in_append(w, s, " HTTP/1.1\r\nhost: ", 17);
	rc = rc ? rc : eng_in_append(w, s, b + st->auth_off, st->auth_len);
	rc = rc ? rc : eng_in_append(w, s, "\r\n", 2);
	rc = rc ? rc : field_lines(w, s, b, st->lines);
	if (chunked)
		rc = rc ? rc : eng_in_append(w, s, "transfer-encoding: chunked\r\n", 28);
	rc = rc ? rc : eng_in_append(w, s, "\r\n", 2);
	eng_head_put(w, st->hbuf);
	st->hbuf = ENG_NONE;
	if (rc < 0) {
		/* out of private buffers: the stream never became an exchange */
		st->flags |= H2_ST_REFUSED;
		h2_rst(h, st, NGHTTP2_REFUSED_STREAM);
		eng_sock_close(w, s);
		return;
	}
	h2_todo(h, st, H2_ST_PUMP);
}

/* The request's last DATA or its trailers arrived: ends a chunked body. */
static void request_end(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_sock *s = h2_sock_of(h, st);
	if (s == NULL || !(st->flags & H2_ST_CHUNKED))
		return;
	int rc = eng_in_append(h->w, s, "0\r\n", 3);
	if (rc == 0 && st->hbuf != ENG_NONE)
		rc = eng_in_append(h->w, s, eng_head_ptr(h->w, st->hbuf), st->lines);
	rc = rc ? rc : eng_in_append(h->w, s, "\r\n", 2);
	if (st->hbuf != ENG_NONE) {
		eng_head_put(h->w, st->hbuf);
		st->hbuf = ENG_NONE;
	}
	if (rc < 0) {
		h2_rst(h, st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	h2_todo(h, st, H2_ST_PUMP);
}

/* ---- nghttp2 callbacks: note what happened, the proxy runs later ---- */

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct eng_h2 *h = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_strm *st = NULL;
	for (unsigned i = 0; i < h->cap && h->used < h->cap; i++) {
		if (!(h->st[i].flags & H2_ST_USED)) {
			st = &h->st[i];
			break;
		}
	}
	uint32_t hb = st ? eng_head_get(h->w) : ENG_NONE;
	if (hb == ENG_NONE) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	*st = (struct h2_strm){ .flags = H2_ST_USED, .sid = f->hd.stream_id, .hbuf = hb,
				.tbuf = ENG_NONE, .low = (uint32_t)h->w->head_size };
	h->used++;
	ENG_COUNT(h->w->c.h2_streams, 1);
	nghttp2_session_set_stream_user_data(sess, f->hd.stream_id, st);
	return 0;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	struct eng_h2 *h = ud;
	(void)flags;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (st == NULL || (st->flags & H2_ST_REFUSED) || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	st->header_bytes += nl + vl + 32;   /* RFC 9113 6.5.2's size */
	if (st->header_bytes > h->w->e->cfg.h2_max_header_list) {
		refuse(h, st, ENG_H2_BAD_HEADER, NGHTTP2_ENHANCE_YOUR_CALM);
		return 0;
	}
	if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		enum eng_h2_bad why;
		if (!take_field(h, st, name, nl, value, vl, &why))
			refuse(h, st, why, NGHTTP2_PROTOCOL_ERROR);
		return 0;
	}
	/* trailers: kept for the chunked trailer section */
	if (!field_ok(name, nl, value, vl) || name[0] == ':') {
		refuse(h, st, ENG_H2_BAD_SMUGGLE, NGHTTP2_PROTOCOL_ERROR);
		return 0;
	}
	if (st->hbuf == ENG_NONE) {
		st->hbuf = eng_head_get(h->w);
		st->lines = 0;
		st->low = (uint32_t)h->w->head_size;
		st->flags |= H2_ST_TRAILERS;
	}
	if (st->hbuf == ENG_NONE || !add_line(h, st, name, nl, value, vl))
		refuse(h, st, ENG_H2_BAD_HEADER, NGHTTP2_INTERNAL_ERROR);
	return 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct eng_h2 *h = ud;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (st == NULL || (st->flags & H2_ST_REFUSED))
		return 0;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		request_head(h, st, end);
		return 0;
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && end)
		request_end(h, st);
	return 0;
}

void h2_consume(struct eng_h2 *h, int32_t sid, size_t n)
{
	if (n == 0)
		return;
	nghttp2_session_consume_connection(h->sess, n);
	if (nghttp2_session_find_stream(h->sess, sid))
		nghttp2_session_consume_stream(h->sess, sid, n);
}

static int on_data(nghttp2_session *sess, uint8_t flags, int32_t sid, const uint8_t *data,
		   size_t len, void *ud)
{
	struct eng_h2 *h = ud;
	(void)flags;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, sid);
	struct eng_sock *s = st && !(st->flags & H2_ST_REFUSED) ? h2_sock_of(h, st) : NULL;
	if (s == NULL || (s->state != C_HEAD && s->state != C_WAIT &&
			  s->state != C_EXCHANGE && s->state != C_IDLE)) {
		h2_consume(h, sid, len);   /* nobody takes it: the window stays open */
		return 0;
	}
	int rc = 0;
	if (st->flags & H2_ST_CHUNKED) {
		char line[24];
		int n = snprintf(line, sizeof(line), "%zx\r\n", len);
		rc = eng_in_append(h->w, s, line, (size_t)n);
	}
	rc = rc ? rc : eng_in_append(h->w, s, (const char *)data, len);
	if ((st->flags & H2_ST_CHUNKED) && rc == 0)
		rc = eng_in_append(h->w, s, "\r\n", 2);
	st->unconsumed += len;
	if (rc < 0)
		h2_rst(h, st, NGHTTP2_INTERNAL_ERROR);   /* out of buffers */
	h2_todo(h, st, H2_ST_PUMP);
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	struct eng_h2 *h = ud;
	(void)code;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, sid);
	if (st != NULL)
		h2_todo(h, st, H2_ST_CLOSED);
	return 0;
}

/* Marks a stream's refusal as counted (nghttp2 resets it next). */
static void counted(nghttp2_session *sess, int32_t sid)
{
	struct h2_strm *st = sid ? nghttp2_session_get_stream_user_data(sess, sid) : NULL;
	if (st != NULL)
		st->flags |= H2_ST_COUNTED;
}

static int on_invalid_header(nghttp2_session *sess, const nghttp2_frame *f,
			     const uint8_t *name, size_t nl, const uint8_t *value, size_t vl,
			     uint8_t flags, void *ud)
{
	(void)name, (void)nl, (void)value, (void)vl, (void)flags;
	h2_bad(ud, ENG_H2_BAD_HEADER);
	counted(sess, f->hd.stream_id);
	/* not ignored (nghttp2's default for a bad name): the stream is reset */
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_invalid_frame(nghttp2_session *sess, const nghttp2_frame *f, int err, void *ud)
{
	counted(sess, f->hd.stream_id);
	if (err == NGHTTP2_ERR_HTTP_HEADER)
		h2_bad(ud, ENG_H2_BAD_HEADER);
	else if (err == NGHTTP2_ERR_HTTP_MESSAGING)
		h2_bad(ud, ENG_H2_BAD_SMUGGLE);   /* e.g. DATA against Content-Length */
	else
		h2_bad(ud, ENG_H2_BAD_PROTOCOL);
	return 0;
}

/* What a GOAWAY we send says about the peer; a REFUSED_STREAM (ours or
 * nghttp2's, over SETTINGS_MAX_CONCURRENT_STREAMS) counts a stream over
 * the limit. */
static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM)
		h2_bad(ud, ENG_H2_BAD_STREAMS);
	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR) {
		/* nghttp2's HTTP messaging checks reset some streams without a
		 * callback: DATA against Content-Length above all */
		struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
		if (st != NULL && !(st->flags & H2_ST_COUNTED)) {
			st->flags |= H2_ST_COUNTED;
			h2_bad(ud, (st->flags & H2_ST_HAS_CL) ? ENG_H2_BAD_SMUGGLE : ENG_H2_BAD_PROTOCOL);
		}
	}
	if (f->hd.type != NGHTTP2_GOAWAY || f->goaway.error_code == NGHTTP2_NO_ERROR)
		return 0;
	switch (f->goaway.error_code) {
	case NGHTTP2_COMPRESSION_ERROR:
		h2_bad(ud, ENG_H2_BAD_HPACK);
		break;
	case NGHTTP2_ENHANCE_YOUR_CALM:
	case NGHTTP2_INTERNAL_ERROR:
		/* nghttp2's RST_STREAM rate limit (CVE-2023-44487) ends the
		 * session with INTERNAL_ERROR; no callback of ours fails */
		h2_bad(ud, ENG_H2_BAD_RAPID_RESET);
		break;
	default:
		h2_bad(ud, ENG_H2_BAD_PROTOCOL);
		break;
	}
	return 0;
}

nghttp2_session *h2_session_new(struct eng_h2 *h)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_session *sess = NULL;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return NULL;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_invalid_header_callback(cb, on_invalid_header);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data);
	/* the window reopens as the upstream drains, not as frames arrive */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_stream_reset_rate_limit(opt, ENG_H2_RESET_BURST, ENG_H2_RESET_RATE);
	nghttp2_option_set_max_continuations(opt, ENG_H2_CONTINUATIONS_MAX);
	if (nghttp2_session_server_new2(&sess, cb, h, opt) != 0)
		sess = NULL;
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return sess;
}
