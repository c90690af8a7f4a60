/*
 * engine/h2-int.h - private to engine/h2.c, h2-req.c and h2-resp.c (HTTP/2
 * with clients): the stream table, its flags and the small helpers all
 * three use. engine/h2.c's file comment has the design and invariants.
 */
#ifndef RINGCAP_ENG_H2_INT_H
#define RINGCAP_ENG_H2_INT_H

#include <nghttp2/nghttp2.h>

#include "engine/h2.h"
#include "engine/sock.h"
#include "rc-assert.h"

/* mem_send calls per output round: each returns up to a DATA frame. */
#define H2_SEND_STEPS 64u
/* Output rounds per flush: frames out, drained streams woken, again. */
#define H2_ROUNDS 4u
/* mem_recv rounds per input call (one input buffer each). */
#define H2_RECV_STEPS (ENG_IN_BUFS_MAX * 4u)

/* Stream table entry flags (struct h2_strm.flags). */
#define H2_ST_USED      0x0001u  /* the entry is in use */
#define H2_ST_SOCK      0x0002u  /* it has a stream socket (slot, gen) */
#define H2_ST_CHUNKED   0x0004u  /* the request body goes upstream chunked */
#define H2_ST_HEAD_REQ  0x0008u  /* HEAD: the response has no body */
#define H2_ST_REFUSED   0x0010u  /* reset by us before it became an exchange */
#define H2_ST_RESP      0x0020u  /* final response submitted */
#define H2_ST_DEFERRED  0x0040u  /* the data provider waits for bytes */
#define H2_ST_CLOSED    0x0080u  /* nghttp2 closed the stream */
#define H2_ST_PUMP      0x0100u  /* request bytes arrived: run the stream */
#define H2_ST_OUT       0x0200u  /* response bytes arrived: submit or resume */
#define H2_ST_DRAINED   0x0400u  /* its send queue got room: wake the upstream */
#define H2_ST_TODO      0x0800u  /* on the connection's todo list */
#define H2_ST_LINGER    0x1000u  /* exchange over: the stream ends once drained */
#define H2_ST_EOF       0x2000u  /* END_STREAM sent */
#define H2_ST_HAS_CL    0x4000u  /* the request has Content-Length */
#define H2_ST_TRAILERS  0x8000u  /* request trailers: lines go to hbuf */
#define H2_ST_COUNTED   0x10000u /* a refusal of it was counted already */

/* One stream of a connection. */
struct h2_strm {
	uint32_t flags;
	int32_t sid;
	uint32_t slot, gen;     /* the stream socket (H2_ST_SOCK) */
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
	/* during frames_out: the private buffer being filled with frames
	 * (UINT16_MAX when none) and its bytes so far */
	uint16_t ob;
	uint32_t ob_used;
	unsigned cap;           /* entries in st[] */
	unsigned used;
	unsigned ntodo;
	uint16_t *todo;         /* cap entries */
	nghttp2_nv *nv;         /* max_headers + 1 */
	struct h2_strm st[];
};

static inline struct eng_sock *h2_conn_of(struct eng_h2 *h)
{
	return &h->w->socks[h->slot];
}

/* The stream's socket, or NULL when it has none (any more). */
static inline struct eng_sock *h2_sock_of(struct eng_h2 *h, const struct h2_strm *st)
{
	if (!(st->flags & H2_ST_SOCK))
		return NULL;
	struct eng_sock *s = &h->w->socks[st->slot];
	if (s->gen != st->gen || (s->flags & ENG_SOCK_F_CLOSING))
		return NULL;
	return s;
}

/* The parent connection's session of a stream socket, or NULL. */
static inline struct eng_h2 *h2_parent_of(struct eng_worker *w, const struct eng_sock *s)
{
	struct eng_sock *p = eng_h2_parent(w, s);
	return p ? p->h2 : NULL;
}

static inline struct h2_strm *h2_strm_of(struct eng_h2 *h, const struct eng_sock *s)
{
	if (s->h2_idx >= h->cap)
		return NULL;
	struct h2_strm *st = &h->st[s->h2_idx];
	if (!(st->flags & H2_ST_SOCK) || st->slot != eng_slot(h->w, s))
		return NULL;
	return st;
}

static inline void h2_todo(struct eng_h2 *h, struct h2_strm *st, uint32_t what)
{
	st->flags |= what;
	if (st->flags & H2_ST_TODO)
		return;
	ASSERT(h->ntodo < h->cap);
	st->flags |= H2_ST_TODO;
	h->todo[h->ntodo++] = (uint16_t)(st - h->st);
}

static inline void h2_bad(struct eng_h2 *h, enum eng_h2_bad k)
{
	ENG_COUNT(h->w->c.h2_bad[k], 1);
}

static inline void h2_rst(struct eng_h2 *h, struct h2_strm *st, uint32_t code)
{
	nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, st->sid, code);
}

/* h2-req.c: a server session with the receive callbacks set; NULL when
 * nghttp2 is out of memory. */
nghttp2_session *h2_session_new(struct eng_h2 *h);
/* h2-req.c: reopens the window for n DATA bytes of stream sid. */
void h2_consume(struct eng_h2 *h, int32_t sid, size_t n);
/* h2.c: appends n bytes of frames to the connection's send queue (through
 * h->ob, pushed as it fills); only inside frames_out. false: no buffer. */
bool h2_out_append(struct eng_h2 *h, const void *p, size_t n);
/* h2-resp.c: nghttp2_send_data_callback for NO_COPY DATA frames: the
 * frame header and then the payload straight from the stream socket's
 * queue (see read_body). */
int h2_send_data(nghttp2_session *sess, nghttp2_frame *frame, const uint8_t *framehd,
		 size_t length, nghttp2_data_source *src, void *ud);
/* h2-resp.c: response bytes arrived on the stream socket. */
void h2_stream_out(struct eng_h2 *h, struct h2_strm *st);
/* h2-resp.c: a hop-by-hop field name (RFC 9113 8.2.2). */
bool h2_conn_specific(const char *n, size_t len);
/* h2.c: frees a stream table entry (its head buffers too). */
void h2_strm_free(struct eng_h2 *h, struct h2_strm *st);
/* h2.c: the session failed: counted, then the connection ends. */
void h2_conn_fail(struct eng_h2 *h, int rv);

#endif
