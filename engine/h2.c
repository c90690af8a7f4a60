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
 * Response DATA with a plain (not chunked) HTTP/1.1 body skips nghttp2's
 * copy: read_body only counts the bytes (NGHTTP2_DATA_FLAG_NO_COPY) and
 * h2_send_data copies them from the stream socket's queue into those
 * buffers after the frame header.
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
 *    (H2_ST_PUMP, H2_ST_OUT, H2_ST_CLOSED), done after mem_recv / mem_send return.
 *
 * Files: this one has the connection, the stream table and the work the
 * callbacks queue; engine/h2-req.c the request side and the receive
 * callbacks; engine/h2-resp.c the response side; engine/h2-int.h what
 * the three share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/h2-int.h"
#include "engine/px-exchange.h"
#include "engine/px-upstream.h"
#include "engine/sock.h"
#include "rc-assert.h"

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


const char *eng_h2_bad_name(enum eng_h2_bad k)
{
	return (unsigned)k < ENG_H2_BAD_COUNT ? bad_names[k] : "?";
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

/* ---- the work callbacks queued, and the stream table ---- */

/* nghttp2 closed the stream: its exchange ends (as an error when the
 * client reset it before the answer was complete). */
static void stream_closed(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_sock *s = h2_sock_of(h, st);
	if (s == NULL) {
		if (!(st->flags & H2_ST_SOCK))
			h2_strm_free(h, st);
		return;
	}
	if (s->x != NULL)
		px_client_abort(h->w, s, ENG_ERR_CLIENT_CLOSED);
	else
		eng_sock_close(h->w, s);
	/* px_closed -> eng_h2_closed detached and freed the entry */
}

/* Runs one pass over what callbacks queued. An entry is on the list at
 * most once (H2_ST_TODO stays set during the pass: work queued meanwhile only
 * sets its bit), so the list never outgrows the table; entries with work
 * left stay for the next pass. */
static void run_pass(struct eng_h2 *h)
{
	unsigned n = h->ntodo;
	for (unsigned i = 0; i < n; i++) {
		struct h2_strm *st = &h->st[h->todo[i]];
		uint32_t f = st->flags;
		st->flags &= ~(H2_ST_PUMP | H2_ST_OUT);
		if (!(f & H2_ST_USED))
			continue;
		struct eng_sock *s = h2_sock_of(h, st);
		/* a stream reset before it was run never starts an exchange: a
		 * rapid-reset burst costs no upstream work */
		if ((f & H2_ST_PUMP) && s && !(st->flags & H2_ST_CLOSED))
			px_input(h->w, s);
		if ((f & H2_ST_OUT) && (st->flags & H2_ST_USED))
			h2_stream_out(h, st);
		if (st->flags & H2_ST_CLOSED)
			stream_closed(h, st);
	}
	unsigned j = 0;
	for (unsigned i = 0; i < h->ntodo; i++) {
		struct h2_strm *st = &h->st[h->todo[i]];
		if (i >= n || (st->flags & (H2_ST_PUMP | H2_ST_OUT)))
			h->todo[j++] = h->todo[i];
		else
			st->flags &= ~H2_ST_TODO;
	}
	h->ntodo = j;
}

static void run_todo(struct eng_h2 *h)
{
	for (unsigned r = 0; r < H2_ROUNDS && h->ntodo > 0 && !h->dead; r++)
		run_pass(h);
}

void h2_strm_free(struct eng_h2 *h, struct h2_strm *st)
{
	if (!(st->flags & H2_ST_USED))
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
		if (!(st->flags & H2_ST_DRAINED))
			continue;
		st->flags &= ~H2_ST_DRAINED;
		struct eng_sock *s = h2_sock_of(h, st);
		if (s != NULL)
			px_sent(h->w, s);
	}
}

/* ---- the connection ---- */

bool eng_h2_selected(const struct eng_sock *c)
{
	return c->tls != NULL && strcmp(tls_conn_alpn(c->tls), "h2") == 0;
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
	h->ob = UINT16_MAX;
	h->cap = cap;
	h->todo = calloc(cap, sizeof(h->todo[0]));
	h->nv = calloc(cfg->max_headers + 1u, sizeof(h->nv[0]));
	h->sess = h->todo && h->nv ? h2_session_new(h) : NULL;
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
	ENG_COUNT(w->c.h2_conns, 1);
	eng_h2_input(w, c);
	return 0;
}

/* The session failed: counted, then the connection ends (GOAWAY if
 * nghttp2 queued one, close_notify, FIN). */
void h2_conn_fail(struct eng_h2 *h, int rv)
{
	if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
		h2_bad(h, ENG_H2_BAD_PREFACE);
	else if (rv == NGHTTP2_ERR_FLOODED)
		h2_bad(h, ENG_H2_BAD_FLOOD);
	else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
		h2_bad(h, ENG_H2_BAD_CONTINUATION);
	h->dead = true;
	eng_sock_linger(h->w, h2_conn_of(h));
}

/* Ends the connection once nghttp2 has nothing more to do (GOAWAY sent
 * and streams done, or the client's GOAWAY). */
static void maybe_done(struct eng_h2 *h)
{
	struct eng_sock *c = h2_conn_of(h);
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
			h2_conn_fail(h, (int)r);
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

bool h2_out_append(struct eng_h2 *h, const void *p, size_t n)
{
	struct eng_worker *w = h->w;
	uint32_t size = w->e->cfg.buf_size;
	const uint8_t *d = p;
	/* bounded: every round takes at least one byte (size >= ENG_BUF_SIZE_MIN
	 * and a frame is at most 9 + 16,384 bytes: a few rounds) */
	while (n > 0) {
		if (h->ob == UINT16_MAX) {
			if ((h->ob = eng_pbuf_get(w)) == UINT16_MAX)
				return false;
			h->ob_used = 0;
		}
		size_t take = n < size - h->ob_used ? n : size - h->ob_used;
		memcpy(eng_buf_ptr(w, h->ob) + h->ob_used, d, take);
		h->ob_used += (uint32_t)take;
		d += take;
		n -= take;
		if (h->ob_used == size) {
			eng_out_push(w, h2_conn_of(h), ENG_SEG_BUF, h->ob, eng_buf_ptr(w, h->ob), size);
			h->ob = UINT16_MAX;
		}
	}
	return true;
}

/* Packs frames into private buffers on the connection's send queue while
 * it has room: what mem_send returns, and NO_COPY DATA frames, which
 * h2_send_data appends from inside mem_send. So frames share buffers and
 * TLS seals full-size records. false: the session or the pool failed. */
static bool frames_out(struct eng_h2 *h, struct eng_sock *c)
{
	bool ok = true;
	h->ob = UINT16_MAX;
	for (unsigned i = 0; i < H2_SEND_STEPS && !eng_out_full(c); i++) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(h->sess, &d);
		if (n <= 0) {
			ok = n == 0;
			break;
		}
		if (!h2_out_append(h, d, (size_t)n)) {
			ok = false;   /* no private buffer: the frame is lost */
			break;
		}
	}
	if (h->ob != UINT16_MAX && h->ob_used > 0)
		eng_out_push(h->w, c, ENG_SEG_BUF, h->ob, eng_buf_ptr(h->w, h->ob), h->ob_used);
	else if (h->ob != UINT16_MAX)
		eng_buf_unref(h->w, h->ob);
	h->ob = UINT16_MAX;
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
			h2_conn_fail(h, NGHTTP2_ERR_NOMEM);
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
		const struct eng_sock *s = h2_sock_of((struct eng_h2 *)h, &h->st[i]);
		if (s != NULL && s->state != C_LINGER)
			return true;
	}
	return false;
}

void eng_h2_stream_flush(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_h2 *h = h2_parent_of(w, s);
	struct h2_strm *st = h ? h2_strm_of(h, s) : NULL;
	if (st == NULL)
		return;
	h2_todo(h, st, H2_ST_OUT);
	eng_flush(w, h2_conn_of(h));
}

void eng_h2_stream_linger(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_h2 *h = h2_parent_of(w, s);
	struct h2_strm *st = h ? h2_strm_of(h, s) : NULL;
	if (st == NULL) {
		eng_sock_close(w, s);
		return;
	}
	s->state = C_LINGER;
	h2_todo(h, st, H2_ST_LINGER | H2_ST_OUT);
	eng_flush(w, h2_conn_of(h));
}

void eng_h2_in_consumed(struct eng_worker *w, struct eng_sock *s)
{
	struct eng_h2 *h = h2_parent_of(w, s);
	struct h2_strm *st = h ? h2_strm_of(h, s) : NULL;
	if (st == NULL || st->unconsumed == 0 || s->in.count > 1)
		return;
	nghttp2_session_consume(h->sess, st->sid, st->unconsumed);
	st->unconsumed = 0;
	eng_flush(w, h2_conn_of(h));
}

/* A stream socket goes: the stream is reset unless its answer was
 * complete, its window given back, its entry freed once nghttp2 closed it. */
static void stream_gone(struct eng_worker *w, struct eng_sock *s)
{
	ENG_COUNT(w->c.conns_open, 1);   /* strm_sock took it off; sock.c takes it again */
	struct eng_h2 *h = h2_parent_of(w, s);
	struct h2_strm *st = h ? h2_strm_of(h, s) : NULL;
	if (st == NULL)
		return;
	if (!(st->flags & H2_ST_CLOSED)) {
		h2_rst(h, st, (st->flags & H2_ST_EOF) ? NGHTTP2_NO_ERROR : NGHTTP2_INTERNAL_ERROR);
		h2_consume(h, st->sid, st->unconsumed);
	} else {
		nghttp2_session_consume_connection(h->sess, st->unconsumed);
	}
	st->unconsumed = 0;
	st->flags &= ~H2_ST_SOCK;
	if (st->flags & H2_ST_CLOSED)
		h2_strm_free(h, st);
	eng_flush(w, h2_conn_of(h));
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
		struct eng_sock *ss = h2_sock_of(h, st);
		st->flags |= H2_ST_CLOSED;
		if (ss && ss->x)
			px_client_abort(w, ss, ENG_ERR_CLIENT_CLOSED);
		else if (ss)
			eng_sock_close(w, ss);
		if (st->hbuf != ENG_NONE && (st->flags & H2_ST_USED))
			eng_head_put(w, st->hbuf);
		if (st->tbuf != ENG_NONE && (st->flags & H2_ST_USED))
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
