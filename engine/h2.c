/*
 * engine/h2.c - HTTP/2 with clients on intercepted TLS. Runs on worker
 * threads, inside the worker's loop: no blocking call, and no allocation
 * after a connection's start (its stream table, sized by --h2-max-streams,
 * is allocated once when ALPN selects h2; nghttp2 keeps its own bounded
 * per-stream state).
 *
 * nghttp2 is the frame layer and gets no socket: the connection's plaintext
 * input goes to nghttp2_session_mem_recv, and nghttp2_session_mem_send's
 * output is copied into private buffers pushed onto the connection's send
 * queue (TLS seals it there) when the worker makes its batch of sends.
 *
 * Each request stream is a socket of its own (ENG_SOCK_F_H2S, fd -1) that
 * the proxy drives exactly like an HTTP/1.1 client inside a TLS tunnel:
 *   request:  HEADERS -> "METHOD path HTTP/1.1", Host from :authority, the
 *             fields as sent, Transfer-Encoding: chunked when the body has
 *             no Content-Length; DATA -> body (chunked framing added);
 *             trailers -> the chunked trailer section. Written into the
 *             stream socket's input queue, which llhttp then checks as it
 *             checks any client.
 *   response: the HTTP/1.1 response the proxy queues on the stream socket
 *             is read back (head parsed, chunked framing removed) into
 *             HEADERS and DATA frames; hop-by-hop fields are dropped.
 * So every stream is an exchange through the same capture sink, with the
 * same filters, toggles and upstream pool as HTTP/1.1.
 *
 * Invariants:
 *  - flow control is back-pressure: nghttp2's automatic WINDOW_UPDATE is
 *    off; DATA bytes reopen the window (nghttp2_session_consume) only once
 *    the stream's input queue is down to one buffer, so a connection holds
 *    at most its connection window (--h2-conn-window) of request bodies,
 *    a stream at most its window plus one buffer;
 *  - a stream's response moves only as nghttp2 asks for it (the client's
 *    window): the stream socket's send queue fills, the proxy stops reading
 *    the upstream (body_full), and resumes when DATA frames drain it;
 *  - nothing reaches HTTP/1.1 that could be read differently there: field
 *    names and values with CR, LF, NUL or a colon, Transfer-Encoding,
 *    connection-specific fields, a Host that differs from :authority are
 *    refused (nghttp2 refuses most first; both are counted per kind);
 *  - nghttp2 callbacks never run the proxy: they queue work on the stream
 *    (ST_PUMP, ST_OUT, ST_CLOSED), done after mem_recv / mem_send return.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/h2.h"
#include "engine/px-exchange.h"
#include "engine/px-upstream.h"
#include "engine/sock.h"
#include "rc-assert.h"

/* mem_send calls per output round: each returns up to a DATA frame. */
#define H2_SEND_STEPS 64u
/* Output rounds per flush: frames out, drained streams woken, again. */
#define H2_ROUNDS 4u
/* mem_recv rounds per input call (one input buffer each). */
#define H2_RECV_STEPS (ENG_IN_BUFS_MAX * 4u)

/* Stream table entry flags (struct h2_strm.flags). */
#define ST_USED      0x0001u  /* the entry is in use */
#define ST_SOCK      0x0002u  /* it has a stream socket (slot, gen) */
#define ST_CHUNKED   0x0004u  /* the request body goes upstream chunked */
#define ST_HEAD_REQ  0x0008u  /* HEAD: the response has no body */
#define ST_REFUSED   0x0010u  /* reset by us before it became an exchange */
#define ST_RESP      0x0020u  /* final response submitted */
#define ST_DEFERRED  0x0040u  /* the data provider waits for bytes */
#define ST_CLOSED    0x0080u  /* nghttp2 closed the stream */
#define ST_PUMP      0x0100u  /* request bytes arrived: run the stream */
#define ST_OUT       0x0200u  /* response bytes arrived: submit or resume */
#define ST_DRAINED   0x0400u  /* its send queue got room: wake the upstream */
#define ST_TODO      0x0800u  /* on the connection's todo list */
#define ST_LINGER    0x1000u  /* exchange over: the stream ends once drained */
#define ST_EOF       0x2000u  /* END_STREAM sent */
#define ST_HAS_CL    0x4000u  /* the request has Content-Length */
#define ST_TRAILERS  0x8000u  /* request trailers: lines go to hbuf */
#define ST_COUNTED   0x10000u /* a refusal of it was counted already */

/* One stream of a connection. */
struct h2_strm {
	uint32_t flags;
	int32_t sid;
	uint32_t slot, gen;     /* the stream socket (ST_SOCK) */
	/* while headers arrive: a head buffer with field lines from offset 0
	 * up and pseudo-header values from its end down */
	uint32_t hbuf;          /* ENG_NONE when none */
	uint32_t lines;         /* bytes of field lines */
	uint32_t low;           /* lowest byte taken by pseudo values */
	uint32_t meth_off, meth_len, path_off, path_len, auth_off, auth_len;
	uint64_t header_bytes;  /* decoded header list so far */
	uint64_t unconsumed;    /* DATA bytes queued, window not reopened yet */
	struct h1_parser rp;    /* the stream's HTTP/1.1 response, read back */
	/* response trailers: "name\0value\0" pairs in a head buffer */
	uint32_t tbuf;          /* ENG_NONE when none */
	uint32_t tlen;
	uint8_t tlast;          /* 0 none yet, 1 name piece, 2 value piece */
	uint8_t tbad;           /* over the buffer: dropped */
	uint8_t *dst;           /* during a data read: nghttp2's buffer */
	size_t dst_len;
	char status[4];
};

struct eng_h2 {
	nghttp2_session *sess;
	struct eng_worker *w;
	uint32_t slot;          /* the connection's socket */
	bool dead;              /* the session failed: no more frames */
	bool draining;          /* GOAWAY sent for shutdown */
	bool in_output;         /* eng_h2_output runs */
	unsigned cap;           /* entries in st[] */
	unsigned used;
	unsigned ntodo;
	uint16_t *todo;         /* cap entries */
	nghttp2_nv *nv;         /* max_headers + 1 */
	struct h2_strm st[];
};

static const char *const bad_names[ENG_H2_BAD_COUNT] = {
	[ENG_H2_BAD_PREFACE] = "preface",
	[ENG_H2_BAD_PROTOCOL] = "protocol",
	[ENG_H2_BAD_HPACK] = "hpack",
	[ENG_H2_BAD_FLOOD] = "flood",
	[ENG_H2_BAD_RAPID_RESET] = "rapid_reset",
	[ENG_H2_BAD_CONTINUATION] = "continuation",
	[ENG_H2_BAD_HEADER] = "header",
	[ENG_H2_BAD_SMUGGLE] = "smuggle",
	[ENG_H2_BAD_STREAMS] = "streams",
};

static void strm_free(struct eng_h2 *h, struct h2_strm *st);
static void conn_fail(struct eng_h2 *h, int rv);
static bool conn_specific(const char *n, size_t len);

const char *eng_h2_bad_name(enum eng_h2_bad k)
{
	return (unsigned)k < ENG_H2_BAD_COUNT ? bad_names[k] : "?";
}

static struct eng_sock *conn_of(struct eng_h2 *h)
{
	return &h->w->socks[h->slot];
}

/* The stream's socket, or NULL when it has none (any more). */
static struct eng_sock *sock_of(struct eng_h2 *h, const struct h2_strm *st)
{
	if (!(st->flags & ST_SOCK))
		return NULL;
	struct eng_sock *s = &h->w->socks[st->slot];
	if (s->gen != st->gen || (s->flags & ENG_SOCK_F_CLOSING))
		return NULL;
	return s;
}

struct eng_sock *eng_h2_parent(struct eng_worker *w, const struct eng_sock *s)
{
	if (!(s->flags & ENG_SOCK_F_H2S) || s->h2_parent >= w->nsocks)
		return NULL;
	struct eng_sock *p = &w->socks[s->h2_parent];
	if (p->gen != s->h2_parent_gen || p->h2 == NULL || p->h2->dead)
		return NULL;
	return p;
}

/* The parent connection's session of a stream socket, or NULL. */
static struct eng_h2 *parent_of(struct eng_worker *w, const struct eng_sock *s)
{
	struct eng_sock *p = eng_h2_parent(w, s);
	return p ? p->h2 : NULL;
}

static struct h2_strm *strm_of(struct eng_h2 *h, const struct eng_sock *s)
{
	if (s->h2_idx >= h->cap)
		return NULL;
	struct h2_strm *st = &h->st[s->h2_idx];
	if (!(st->flags & ST_SOCK) || st->slot != eng_slot(h->w, s))
		return NULL;
	return st;
}

static void todo(struct eng_h2 *h, struct h2_strm *st, uint32_t what)
{
	st->flags |= what;
	if (st->flags & ST_TODO)
		return;
	ASSERT(h->ntodo < h->cap);
	st->flags |= ST_TODO;
	h->todo[h->ntodo++] = (uint16_t)(st - h->st);
}

static void bad(struct eng_h2 *h, enum eng_h2_bad k)
{
	h->w->c.h2_bad[k]++;
}

static void rst(struct eng_h2 *h, struct h2_strm *st, uint32_t code)
{
	nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, st->sid, code);
}

/* ---- request: HTTP/2 fields -> HTTP/1.1 bytes in the stream's input ---- */

/* Appends n bytes to the stream socket's input queue, filling its last
 * private buffer first. 0, or -ENOBUFS when the private pool is empty. */
static int in_append(struct eng_worker *w, struct eng_sock *s, const char *p, size_t n)
{
	uint32_t size = w->e->cfg.buf_size;
	for (unsigned i = 0; i < 64 && n > 0; i++) {
		uint16_t t = s->in.tail;
		if (s->in.count > 0 && w->bufs.len[t] < size) {
			size_t k = size - w->bufs.len[t] < n ? size - w->bufs.len[t] : n;
			memcpy(eng_buf_ptr(w, t) + w->bufs.len[t], p, k);
			w->bufs.len[t] += (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		uint16_t b = eng_pbuf_get(w);
		if (b == UINT16_MAX)
			return -ENOBUFS;
		size_t k = n < size ? n : size;
		memcpy(eng_buf_ptr(w, b), p, k);
		eng_bufq_push(&w->bufs, &s->in, b, (uint32_t)k);
		p += k;
		n -= k;
	}
	return n == 0 ? 0 : -ENOBUFS;
}

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
		bad(h, k);   /* REFUSED_STREAM is counted as it goes out */
	st->flags |= ST_COUNTED;
	st->flags |= ST_REFUSED;
	if (st->hbuf != ENG_NONE) {
		eng_head_put(h->w, st->hbuf);
		st->hbuf = ENG_NONE;
	}
	rst(h, st, code);
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
		st->flags |= ST_HAS_CL;
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
		else if ((rc = in_append(w, s, b + off, n)) == 0)
			off += n;
	}
	for (uint32_t off = 0; off < len && rc == 0;) {
		const char *eol = memchr(b + off, '\n', len - off);
		uint32_t n = eol ? (uint32_t)(eol - (b + off)) + 1u : len - off;
		if (n > 10 && memcmp(b + off, ck, 8) == 0) {
			rc = in_append(w, s, first ? ck : "; ", first ? 8 : 2);
			rc = rc ? rc : in_append(w, s, b + off + 8, n - 10);
			first = false;
		}
		off += n;
	}
	if (!first && rc == 0)
		rc = in_append(w, s, "\r\n", 2);
	return rc;
}

/* Creates the stream's socket: a client of the proxy inside the parent's
 * TLS tunnel, with the parent's address, CONNECT host and client name. */
static struct eng_sock *strm_sock(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_worker *w = h->w;
	struct eng_sock *c = conn_of(h);
	struct eng_sock *s = eng_sock_new(w, -1, ROLE_CLIENT);
	if (s == NULL)
		return NULL;
	/* a stream is not a connection: conns_open counts sockets with an fd
	 * (given back in eng_h2_closed, before sock.c takes it off again) */
	w->c.conns_open--;
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
	st->flags |= ST_SOCK;
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
	bool chunked = !end_stream && !(st->flags & ST_HAS_CL);
	if (chunked)
		st->flags |= ST_CHUNKED;
	if (st->meth_len == 4 && memcmp(b + st->meth_off, "HEAD", 4) == 0)
		st->flags |= ST_HEAD_REQ;
	/* CONNECT has no :path: the proxy refuses its authority-form (400) */
	const char *path = st->path_len ? b + st->path_off : b + st->auth_off;
	size_t path_len = st->path_len ? st->path_len : st->auth_len;
	int rc = in_append(w, s, b + st->meth_off, st->meth_len);
	rc = rc ? rc : in_append(w, s, " ", 1);
	rc = rc ? rc : in_append(w, s, path, path_len);
	rc = rc ? rc : in_append(w, s, " HTTP/1.1\r\nhost: ", 17);
	rc = rc ? rc : in_append(w, s, b + st->auth_off, st->auth_len);
	rc = rc ? rc : in_append(w, s, "\r\n", 2);
	rc = rc ? rc : field_lines(w, s, b, st->lines);
	if (chunked)
		rc = rc ? rc : in_append(w, s, "transfer-encoding: chunked\r\n", 28);
	rc = rc ? rc : in_append(w, s, "\r\n", 2);
	eng_head_put(w, st->hbuf);
	st->hbuf = ENG_NONE;
	if (rc < 0) {
		/* out of private buffers: the stream never became an exchange */
		st->flags |= ST_REFUSED;
		rst(h, st, NGHTTP2_REFUSED_STREAM);
		eng_sock_close(w, s);
		return;
	}
	todo(h, st, ST_PUMP);
}

/* The request's last DATA or its trailers arrived: ends a chunked body. */
static void request_end(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_sock *s = sock_of(h, st);
	if (s == NULL || !(st->flags & ST_CHUNKED))
		return;
	int rc = in_append(h->w, s, "0\r\n", 3);
	if (rc == 0 && st->hbuf != ENG_NONE)
		rc = in_append(h->w, s, eng_head_ptr(h->w, st->hbuf), st->lines);
	rc = rc ? rc : in_append(h->w, s, "\r\n", 2);
	if (st->hbuf != ENG_NONE) {
		eng_head_put(h->w, st->hbuf);
		st->hbuf = ENG_NONE;
	}
	if (rc < 0) {
		rst(h, st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	todo(h, st, ST_PUMP);
}

/* ---- nghttp2 callbacks: note what happened, the proxy runs later ---- */

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct eng_h2 *h = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_strm *st = NULL;
	for (unsigned i = 0; i < h->cap && h->used < h->cap; i++) {
		if (!(h->st[i].flags & ST_USED)) {
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
	*st = (struct h2_strm){ .flags = ST_USED, .sid = f->hd.stream_id, .hbuf = hb,
				.tbuf = ENG_NONE, .low = (uint32_t)h->w->head_size };
	h->used++;
	h->w->c.h2_streams++;
	nghttp2_session_set_stream_user_data(sess, f->hd.stream_id, st);
	return 0;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	struct eng_h2 *h = ud;
	(void)flags;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (st == NULL || (st->flags & ST_REFUSED) || f->hd.type != NGHTTP2_HEADERS)
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
		st->flags |= ST_TRAILERS;
	}
	if (st->hbuf == ENG_NONE || !add_line(h, st, name, nl, value, vl))
		refuse(h, st, ENG_H2_BAD_HEADER, NGHTTP2_INTERNAL_ERROR);
	return 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct eng_h2 *h = ud;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (st == NULL || (st->flags & ST_REFUSED))
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

static void consume(struct eng_h2 *h, int32_t sid, size_t n)
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
	struct eng_sock *s = st && !(st->flags & ST_REFUSED) ? sock_of(h, st) : NULL;
	if (s == NULL || (s->state != C_HEAD && s->state != C_WAIT &&
			  s->state != C_EXCHANGE && s->state != C_IDLE)) {
		consume(h, sid, len);   /* nobody takes it: the window stays open */
		return 0;
	}
	int rc = 0;
	if (st->flags & ST_CHUNKED) {
		char line[24];
		int n = snprintf(line, sizeof(line), "%zx\r\n", len);
		rc = in_append(h->w, s, line, (size_t)n);
	}
	rc = rc ? rc : in_append(h->w, s, (const char *)data, len);
	if ((st->flags & ST_CHUNKED) && rc == 0)
		rc = in_append(h->w, s, "\r\n", 2);
	st->unconsumed += len;
	if (rc < 0)
		rst(h, st, NGHTTP2_INTERNAL_ERROR);   /* out of buffers */
	todo(h, st, ST_PUMP);
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	struct eng_h2 *h = ud;
	(void)code;
	struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, sid);
	if (st != NULL)
		todo(h, st, ST_CLOSED);
	return 0;
}

/* Marks a stream's refusal as counted (nghttp2 resets it next). */
static void counted(nghttp2_session *sess, int32_t sid)
{
	struct h2_strm *st = sid ? nghttp2_session_get_stream_user_data(sess, sid) : NULL;
	if (st != NULL)
		st->flags |= ST_COUNTED;
}

static int on_invalid_header(nghttp2_session *sess, const nghttp2_frame *f,
			     const uint8_t *name, size_t nl, const uint8_t *value, size_t vl,
			     uint8_t flags, void *ud)
{
	(void)name, (void)nl, (void)value, (void)vl, (void)flags;
	bad(ud, ENG_H2_BAD_HEADER);
	counted(sess, f->hd.stream_id);
	/* not ignored (nghttp2's default for a bad name): the stream is reset */
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_invalid_frame(nghttp2_session *sess, const nghttp2_frame *f, int err, void *ud)
{
	counted(sess, f->hd.stream_id);
	if (err == NGHTTP2_ERR_HTTP_HEADER)
		bad(ud, ENG_H2_BAD_HEADER);
	else if (err == NGHTTP2_ERR_HTTP_MESSAGING)
		bad(ud, ENG_H2_BAD_SMUGGLE);   /* e.g. DATA against Content-Length */
	else
		bad(ud, ENG_H2_BAD_PROTOCOL);
	return 0;
}

/* What a GOAWAY we send says about the peer; a REFUSED_STREAM (ours or
 * nghttp2's, over SETTINGS_MAX_CONCURRENT_STREAMS) counts a stream over
 * the limit. */
static int on_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_REFUSED_STREAM)
		bad(ud, ENG_H2_BAD_STREAMS);
	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR) {
		/* nghttp2's HTTP messaging checks reset some streams without a
		 * callback: DATA against Content-Length above all */
		struct h2_strm *st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
		if (st != NULL && !(st->flags & ST_COUNTED)) {
			st->flags |= ST_COUNTED;
			bad(ud, (st->flags & ST_HAS_CL) ? ENG_H2_BAD_SMUGGLE : ENG_H2_BAD_PROTOCOL);
		}
	}
	if (f->hd.type != NGHTTP2_GOAWAY || f->goaway.error_code == NGHTTP2_NO_ERROR)
		return 0;
	switch (f->goaway.error_code) {
	case NGHTTP2_COMPRESSION_ERROR:
		bad(ud, ENG_H2_BAD_HPACK);
		break;
	case NGHTTP2_ENHANCE_YOUR_CALM:
	case NGHTTP2_INTERNAL_ERROR:
		/* nghttp2's RST_STREAM rate limit (CVE-2023-44487) ends the
		 * session with INTERNAL_ERROR; no callback of ours fails */
		bad(ud, ENG_H2_BAD_RAPID_RESET);
		break;
	default:
		bad(ud, ENG_H2_BAD_PROTOCOL);
		break;
	}
	return 0;
}

/* ---- response: the stream's HTTP/1.1 answer -> HEADERS and DATA ---- */

/* A piece of a response trailer field (h1_parser.on_trailer). */
static void trailer_piece(void *arg, int value, const char *at, size_t n)
{
	struct h2_strm *st = arg;
	struct eng_worker *w = px_cur_w;
	if (st->tbad)
		return;
	if (st->tbuf == ENG_NONE && (st->tbuf = eng_head_get(w)) == ENG_NONE) {
		st->tbad = 1;
		return;
	}
	char *b = eng_head_ptr(w, st->tbuf);
	uint8_t kind = value ? 2 : 1;
	bool fresh = st->tlast != kind;
	if (fresh && st->tlast != 0)
		st->tlen++;   /* ends the previous part with its NUL */
	if (st->tlen + n + 2 > w->head_size) {
		st->tbad = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		b[st->tlen + i] = (!value && at[i] >= 'A' && at[i] <= 'Z') ? (char)(at[i] + 32) : at[i];
	st->tlen += (uint32_t)n;
	b[st->tlen] = '\0';
	st->tlast = kind;
}

/* Submits the collected response trailers; true when there were any. */
static bool submit_trailers(struct eng_h2 *h, struct h2_strm *st)
{
	if (st->tbuf == ENG_NONE)
		return false;
	char *b = eng_head_ptr(h->w, st->tbuf);
	uint32_t end = st->tlen + (st->tlast ? 1u : 0u);
	size_t n = 0;
	for (uint32_t off = 0; off < end && n < h->w->e->cfg.max_headers;) {
		const char *name = b + off;
		size_t nl = strlen(name);
		if (off + nl + 1 >= end)
			break;
		const char *value = name + nl + 1;
		size_t vl = strlen(value);
		while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
			vl--;
		if (!st->tbad && !conn_specific(name, nl))
			h->nv[n++] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, nl, vl,
						   NGHTTP2_NV_FLAG_NONE };
		off += (uint32_t)(nl + 1 + strlen(value) + 1);
	}
	int rv = n ? nghttp2_submit_trailer(h->sess, st->sid, h->nv, n) : -1;
	eng_head_put(h->w, st->tbuf);
	st->tbuf = ENG_NONE;
	return rv == 0;
}

static void copy_body(void *arg, const char *at, size_t n)
{
	struct h2_strm *st = arg;
	memcpy(st->dst + st->dst_len, at, n);
	st->dst_len += n;
}

/* True when the stream's exchange is over and its queue holds nothing
 * more: what was queued was the whole answer. */
static bool answer_over(const struct h2_strm *st, const struct eng_sock *s)
{
	return s->out.n == 0 && s->x == NULL &&
	       ((st->flags & ST_LINGER) || s->state == C_IDLE || s->state == C_LINGER);
}

static ssize_t read_body(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
	struct eng_h2 *h = ud;
	struct h2_strm *st = src->ptr;
	struct eng_sock *s = sock_of(h, st);
	(void)sess, (void)sid;
	if (s == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* reset */
	st->dst = buf;
	st->dst_len = 0;
	for (unsigned i = 0; i < 2 * ENG_OUTQ_SEGS && s->out.n > 0 && !st->rp.done; i++) {
		struct eng_seg *g = eng_outq_at(&s->out, 0);
		size_t take = g->len < length - st->dst_len ? g->len : length - st->dst_len;
		if (take == 0 && g->len > 0)
			break;
		const char *why = NULL;
		long n = h1_parse_body(&st->rp, g->p, take, &why);
		if (n < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		eng_outq_advance(&h->w->bufs, &s->out, (size_t)n);
		st->flags |= ST_DRAINED;
		if (n == 0 && !st->rp.done)
			break;
	}
	st->dst = NULL;
	bool eof = st->rp.done;
	if (!eof && answer_over(st, s)) {
		const char *why = NULL;
		if (h1_parse_eof(&st->rp, &why) < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* cut short */
		eof = true;
	}
	if (eof) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		if (submit_trailers(h, st))
			*data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;   /* trailers end it */
		st->flags |= ST_EOF;
		return (ssize_t)st->dst_len;
	}
	if (st->dst_len == 0) {
		st->flags |= ST_DEFERRED;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)st->dst_len;
}

/* Hop-by-hop in HTTP/1.1, forbidden in HTTP/2 (RFC 9113 8.2.2). */
static bool conn_specific(const char *n, size_t len)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "transfer-encoding", "upgrade", "te" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len == strlen(names[i]) && strncasecmp(n, names[i], len) == 0)
			return true;
	return false;
}

/* Builds the nv list of a parsed HTTP/1.1 response head; names are
 * lower-cased into lc (a head buffer). Returns the count. */
static size_t response_nv(struct eng_h2 *h, struct h2_strm *st, const struct h1_msg *m,
			  char *lc)
{
	snprintf(st->status, sizeof(st->status), "%03u", m->status % 1000u);
	h->nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st->status, 7, 3,
				 NGHTTP2_NV_FLAG_NO_COPY_NAME };
	size_t n = 1, used = 0;
	for (unsigned i = 0; i < m->nhdr && n < h->w->e->cfg.max_headers + 1u; i++) {
		const struct h1_hdr *f = &m->hdr[i];
		const char *name = m->base + f->name_off;
		if (conn_specific(name, f->name_len))
			continue;
		for (uint32_t k = 0; k < f->name_len; k++) {
			char c = name[k];
			lc[used + k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		h->nv[n++] = (nghttp2_nv){ (uint8_t *)lc + used, (uint8_t *)m->base + f->value_off,
					   f->name_len, f->value_len, NGHTTP2_NV_FLAG_NONE };
		used += f->name_len;
	}
	return n;
}

/* Submits the response heads queued on the stream socket (1xx ones as
 * informational HEADERS). false: the stream was reset. */
static bool submit_heads(struct eng_h2 *h, struct h2_strm *st, struct eng_sock *s)
{
	struct eng_worker *w = h->w;
	for (unsigned i = 0; i < 4 && s->out.n > 0 && !(st->flags & ST_RESP); i++) {
		struct eng_seg *g = eng_outq_at(&s->out, 0);
		struct h1_scan sc = {0};
		const char *why = NULL;
		int hl = h1_scan(&sc, g->p, g->len, w->e->cfg.max_headers + 1, &why);
		struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
		h1_parser_init(&st->rp, true, copy_body, st);
		st->rp.on_trailer = trailer_piece;
		st->rp.skip_body = (st->flags & ST_HEAD_REQ) != 0;
		uint32_t lc = eng_head_get(w);
		if (hl <= 0 || lc == ENG_NONE ||
		    h1_parse_head(&st->rp, &m, g->p, (size_t)hl, &why) < 0) {
			if (lc != ENG_NONE)
				eng_head_put(w, lc);
			rst(h, st, NGHTTP2_INTERNAL_ERROR);
			return false;
		}
		size_t n = response_nv(h, st, &m, eng_head_ptr(w, lc));
		bool interim = m.status >= 100 && m.status < 200;
		int rv;
		if (interim) {
			rv = nghttp2_submit_headers(h->sess, NGHTTP2_FLAG_NONE, st->sid, NULL,
						    h->nv, n, NULL);
		} else {
			nghttp2_data_provider dp = { .source.ptr = st, .read_callback = read_body };
			bool body = !st->rp.done || (size_t)hl < g->len || s->out.n > 1 ||
				    !answer_over(st, s);
			rv = nghttp2_submit_response(h->sess, st->sid, h->nv, n, body ? &dp : NULL);
			st->flags |= ST_RESP | (body ? 0 : ST_EOF);
		}
		eng_head_put(w, lc);   /* nghttp2 copied the fields */
		eng_outq_advance(&w->bufs, &s->out, (size_t)hl);
		st->flags |= ST_DRAINED;
		if (rv != 0) {
			rst(h, st, NGHTTP2_INTERNAL_ERROR);
			return false;
		}
	}
	return true;
}

/* Response bytes arrived on the stream socket. */
static void stream_out(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_sock *s = sock_of(h, st);
	if (s == NULL || (st->flags & ST_EOF))
		return;
	if (!(st->flags & ST_RESP) && !submit_heads(h, st, s))
		return;
	if (st->flags & ST_DEFERRED) {
		st->flags &= ~ST_DEFERRED;
		nghttp2_session_resume_data(h->sess, st->sid);
	}
}

/* ---- the work callbacks queued, and the stream table ---- */

/* nghttp2 closed the stream: its exchange ends (as an error when the
 * client reset it before the answer was complete). */
static void stream_closed(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_sock *s = sock_of(h, st);
	if (s == NULL) {
		if (!(st->flags & ST_SOCK))
			strm_free(h, st);
		return;
	}
	if (s->x != NULL)
		px_client_abort(h->w, s, ENG_ERR_CLIENT_CLOSED);
	else
		eng_sock_close(h->w, s);
	/* px_closed -> eng_h2_closed detached and freed the entry */
}

/* Runs one pass over what callbacks queued. An entry is on the list at
 * most once (ST_TODO stays set during the pass: work queued meanwhile only
 * sets its bit), so the list never outgrows the table; entries with work
 * left stay for the next pass. */
static void run_pass(struct eng_h2 *h)
{
	unsigned n = h->ntodo;
	for (unsigned i = 0; i < n; i++) {
		struct h2_strm *st = &h->st[h->todo[i]];
		uint32_t f = st->flags;
		st->flags &= ~(ST_PUMP | ST_OUT);
		if (!(f & ST_USED))
			continue;
		struct eng_sock *s = sock_of(h, st);
		/* a stream reset before it was run never starts an exchange: a
		 * rapid-reset burst costs no upstream work */
		if ((f & ST_PUMP) && s && !(st->flags & ST_CLOSED))
			px_input(h->w, s);
		if ((f & ST_OUT) && (st->flags & ST_USED))
			stream_out(h, st);
		if (st->flags & ST_CLOSED)
			stream_closed(h, st);
	}
	unsigned j = 0;
	for (unsigned i = 0; i < h->ntodo; i++) {
		struct h2_strm *st = &h->st[h->todo[i]];
		if (i >= n || (st->flags & (ST_PUMP | ST_OUT)))
			h->todo[j++] = h->todo[i];
		else
			st->flags &= ~ST_TODO;
	}
	h->ntodo = j;
}

static void run_todo(struct eng_h2 *h)
{
	for (unsigned r = 0; r < H2_ROUNDS && h->ntodo > 0 && !h->dead; r++)
		run_pass(h);
}

static void strm_free(struct eng_h2 *h, struct h2_strm *st)
{
	if (!(st->flags & ST_USED))
		return;
	if (st->hbuf != ENG_NONE)
		eng_head_put(h->w, st->hbuf);
	if (st->tbuf != ENG_NONE)
		eng_head_put(h->w, st->tbuf);
	st->tbuf = ENG_NONE;
	if (nghttp2_session_find_stream(h->sess, st->sid))
		nghttp2_session_set_stream_user_data(h->sess, st->sid, NULL);
	st->hbuf = ENG_NONE;
	st->flags = 0;
	ASSERT(h->used > 0);
	h->used--;
}

/* Streams whose queues drained get their upstream going again. */
static void wake_drained(struct eng_h2 *h)
{
	for (unsigned i = 0; i < h->cap; i++) {
		struct h2_strm *st = &h->st[i];
		if (!(st->flags & ST_DRAINED))
			continue;
		st->flags &= ~ST_DRAINED;
		struct eng_sock *s = sock_of(h, st);
		if (s != NULL)
			px_sent(h->w, s);
	}
}

/* ---- the connection ---- */

bool eng_h2_selected(const struct eng_sock *c)
{
	return c->tls != NULL && strcmp(tls_conn_alpn(c->tls), "h2") == 0;
}

static nghttp2_session *session_new(struct eng_h2 *h)
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

int eng_h2_start(struct eng_worker *w, struct eng_sock *c)
{
	const struct eng_config *cfg = &w->e->cfg;
	unsigned cap = cfg->h2_max_streams;
	struct eng_h2 *h = calloc(1, sizeof(*h) + cap * sizeof(h->st[0]));
	if (h == NULL)
		return -ENOMEM;
	h->w = w;
	h->slot = eng_slot(w, c);
	h->cap = cap;
	h->todo = calloc(cap, sizeof(h->todo[0]));
	h->nv = calloc(cfg->max_headers + 1u, sizeof(h->nv[0]));
	h->sess = h->todo && h->nv ? session_new(h) : NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cap },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->h2_stream_window },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->h2_max_header_list },
	};
	if (h->sess == NULL ||
	    nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
	    nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)cfg->h2_conn_window)) {
		if (h->sess)
			nghttp2_session_del(h->sess);
		free(h->todo);
		free(h->nv);
		free(h);
		return -ENOMEM;
	}
	c->h2 = h;
	c->state = C_H2;
	w->c.h2_conns++;
	eng_h2_input(w, c);
	return 0;
}

/* The session failed: counted, then the connection ends (GOAWAY if
 * nghttp2 queued one, close_notify, FIN). */
static void conn_fail(struct eng_h2 *h, int rv)
{
	if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
		bad(h, ENG_H2_BAD_PREFACE);
	else if (rv == NGHTTP2_ERR_FLOODED)
		bad(h, ENG_H2_BAD_FLOOD);
	else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
		bad(h, ENG_H2_BAD_CONTINUATION);
	h->dead = true;
	eng_sock_linger(h->w, conn_of(h));
}

/* Ends the connection once nghttp2 has nothing more to do (GOAWAY sent
 * and streams done, or the client's GOAWAY). */
static void maybe_done(struct eng_h2 *h)
{
	struct eng_sock *c = conn_of(h);
	if (h->dead || (c->flags & ENG_SOCK_F_CLOSING))
		return;
	if (nghttp2_session_want_read(h->sess) || nghttp2_session_want_write(h->sess))
		return;
	h->dead = true;
	eng_sock_linger(h->w, c);
}

void eng_h2_input(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_h2 *h = c->h2;
	px_cur_w = w;
	for (unsigned i = 0; i < H2_RECV_STEPS && !(c->flags & ENG_SOCK_F_CLOSING); i++) {
		const char *p;
		size_t n = eng_in_peek(w, c, &p);
		if (n == 0)
			break;
		if (h->dead) {
			eng_in_consume(w, c, n);
			continue;
		}
		ssize_t r = nghttp2_session_mem_recv(h->sess, (const uint8_t *)p, n);
		if (r < 0) {
			eng_in_consume(w, c, n);
			run_todo(h);
			conn_fail(h, (int)r);
			return;
		}
		eng_in_consume(w, c, (size_t)r);
	}
	if (h->dead)
		return;
	run_todo(h);
	eng_timer_arm(w, c, T_IDLE);
	maybe_done(h);
	eng_flush(w, c);
}

bool eng_h2_want_write(const struct eng_sock *c)
{
	return c->h2 && !c->h2->dead &&
	       (c->h2->ntodo > 0 || nghttp2_session_want_write(c->h2->sess));
}

/* Copies frames into private buffers on the connection's send queue
 * while it has room. false: the session or the buffer pool failed. */
static bool frames_out(struct eng_h2 *h, struct eng_sock *c)
{
	struct eng_worker *w = h->w;
	uint32_t size = w->e->cfg.buf_size;
	uint16_t b = UINT16_MAX;
	uint32_t used = 0;
	bool ok = true;
	for (unsigned i = 0; i < H2_SEND_STEPS && !eng_out_full(c); i++) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(h->sess, &d);
		if (n <= 0) {
			ok = n == 0;
			break;
		}
		for (unsigned k = 0; k < 64 && n > 0; k++) {
			if (b == UINT16_MAX && (b = eng_pbuf_get(w)) == UINT16_MAX)
				break;
			size_t take = (size_t)n < size - used ? (size_t)n : size - used;
			memcpy(eng_buf_ptr(w, b) + used, d, take);
			used += (uint32_t)take;
			d += take;
			n -= (ssize_t)take;
			if (used == size) {
				eng_out_push(w, c, ENG_SEG_BUF, b, eng_buf_ptr(w, b), used);
				b = UINT16_MAX;
				used = 0;
			}
		}
		if (n > 0) {
			ok = false;   /* no private buffer: the frame is lost */
			break;
		}
	}
	if (b != UINT16_MAX && used > 0)
		eng_out_push(w, c, ENG_SEG_BUF, b, eng_buf_ptr(w, b), used);
	else if (b != UINT16_MAX)
		eng_buf_unref(w, b);
	return ok;
}

void eng_h2_output(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_h2 *h = c->h2;
	if (h->dead || h->in_output)
		return;
	px_cur_w = w;   /* trailer_piece runs inside the data reads */
	h->in_output = true;   /* a full dirty list flushes at once: no re-entry */
	for (unsigned r = 0; r < H2_ROUNDS && !h->dead; r++) {
		run_todo(h);
		if (!frames_out(h, c)) {
			h->in_output = false;
			conn_fail(h, NGHTTP2_ERR_NOMEM);
			return;
		}
		run_todo(h);   /* streams closed by what went out */
		wake_drained(h);
		if (h->ntodo == 0)
			break;
	}
	h->in_output = false;
	if (h->dead)
		return;
	eng_timer_arm(w, c, T_IDLE);
	maybe_done(h);
}

/* Streams whose exchange still runs have timers of their own (request
 * body, upstream); a stream whose answer only waits for the client to
 * read does not keep an idle connection open. */
bool eng_h2_busy(const struct eng_sock *c)
{
	const struct eng_h2 *h = c->h2;
	if (h == NULL || h->dead)
		return false;
	for (unsigned i = 0; i < h->cap; i++) {
		const struct eng_sock *s = sock_of((struct eng_h2 *)h, &h->st[i]);
		if (s != NULL && s->state != C_LINGER)
			return true;
	}
	return false;
}

void eng_h2_stream_flush(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_h2 *h = parent_of(w, s);
	struct h2_strm *st = h ? strm_of(h, s) : NULL;
	if (st == NULL)
		return;
	todo(h, st, ST_OUT);
	eng_flush(w, conn_of(h));
}

void eng_h2_stream_linger(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_h2 *h = parent_of(w, s);
	struct h2_strm *st = h ? strm_of(h, s) : NULL;
	if (st == NULL) {
		eng_sock_close(w, s);
		return;
	}
	s->state = C_LINGER;
	todo(h, st, ST_LINGER | ST_OUT);
	eng_flush(w, conn_of(h));
}

void eng_h2_in_consumed(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_h2 *h = parent_of(w, s);
	struct h2_strm *st = h ? strm_of(h, s) : NULL;
	if (st == NULL || st->unconsumed == 0 || s->in.count > 1)
		return;
	nghttp2_session_consume(h->sess, st->sid, st->unconsumed);
	st->unconsumed = 0;
	eng_flush(w, conn_of(h));
}

/* A stream socket goes: the stream is reset unless its answer was
 * complete, its window given back, its entry freed once nghttp2 closed it. */
static void stream_gone(struct eng_worker *w, struct eng_sock *s)
{
	w->c.conns_open++;   /* strm_sock took it off; sock.c takes it again */
	struct eng_h2 *h = parent_of(w, s);
	struct h2_strm *st = h ? strm_of(h, s) : NULL;
	if (st == NULL)
		return;
	if (!(st->flags & ST_CLOSED)) {
		rst(h, st, (st->flags & ST_EOF) ? NGHTTP2_NO_ERROR : NGHTTP2_INTERNAL_ERROR);
		consume(h, st->sid, st->unconsumed);
	} else {
		nghttp2_session_consume_connection(h->sess, st->unconsumed);
	}
	st->unconsumed = 0;
	st->flags &= ~ST_SOCK;
	if (st->flags & ST_CLOSED)
		strm_free(h, st);
	eng_flush(w, conn_of(h));
}

void eng_h2_closed(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & ENG_SOCK_F_H2S) {
		stream_gone(w, s);
		return;
	}
	struct eng_h2 *h = s->h2;
	h->dead = true;   /* nothing more goes to the session */
	for (unsigned i = 0; i < h->cap; i++) {
		struct h2_strm *st = &h->st[i];
		struct eng_sock *ss = sock_of(h, st);
		st->flags |= ST_CLOSED;
		if (ss && ss->x)
			px_client_abort(w, ss, ENG_ERR_CLIENT_CLOSED);
		else if (ss)
			eng_sock_close(w, ss);
		if (st->hbuf != ENG_NONE && (st->flags & ST_USED))
			eng_head_put(w, st->hbuf);
		if (st->tbuf != ENG_NONE && (st->flags & ST_USED))
			eng_head_put(w, st->tbuf);
		st->hbuf = ENG_NONE;
		st->tbuf = ENG_NONE;
	}
	nghttp2_session_del(h->sess);
	free(h->todo);
	free(h->nv);
	free(h);
	s->h2 = NULL;
}

void eng_h2_drain(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_h2 *h = c->h2;
	if (h->dead || h->draining)
		return;
	h->draining = true;
	nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(h->sess), NGHTTP2_NO_ERROR,
			      NULL, 0);
	eng_flush(w, c);
}
