/*
 * engine/tlsio.c - TLS on a socket's queues: BoringSSL (tls/) only
 * transforms bytes, the ring does all socket I/O.
 *
 * Received ciphertext waits in the socket's cin queue (provided buffers)
 * and is lent to the TLS connection on demand, one buffer per call
 * (the BIO copies it once, into BoringSSL's record buffer; no stop in tls/):
 * eng_in_peek decrypts into private buffers pushed onto the ordinary input
 * queue, so the HTTP layer reads plaintext exactly as on a plain socket.
 * Pushed plaintext is sealed in full-size records, small pieces (a head,
 * a short body, an h2 frame) first gathered in the socket's stage and
 * sealed as one record at the flush; records are sealed straight into the
 * wire queue's buffers when a whole one fits (else through tls/'s
 * outbound buffer), packed into whole buffers, so one send carries up to
 * ENG_OUT_SEGS buffers of records. Memory per connection stays bounded:
 * the TLS connection's own buffers (tls-limits.h), at most
 * ENG_IN_BUFS_MAX input buffers, half a wire queue of output, one stage
 * buffer until the flush and one pushed segment waiting to be sealed.
 */
#include <errno.h>
#include <string.h>

#include "tls/tls.h"
#include "engine/eng-int.h"
#include "engine/tlsio.h"
#include "rc-assert.h"

#define TLS_STEPS 64u   /* bound on feed/read/seal rounds per call */
/* Pushed pieces up to this size are copied into the socket's stage and
 * sealed together at the flush (a 100 B response went out as two records,
 * head and body); larger ones are sealed from where they are, as full
 * records, after the stage. A copy of 4 KiB costs less than a record's
 * seal and open in the portable-C AES-GCM of Debian's BoringSSL. */
#define ENG_TLS_STAGE_PIECE_MAX 4096u

/* Lends the oldest queued ciphertext buffer to the TLS connection for
 * one call: the BIO copies from it into BoringSSL's record buffer (it
 * used to be copied into the connection's inbound buffer first). False when nothing is queued; the
 * peer's FIN then goes to TLS, after the last byte it sent, never before:
 * ciphertext still queued here (input held back while the other side
 * drains) is the end of a close-delimited body. */
static bool lend_in(struct eng_worker *w, struct eng_sock *s)
{
	if (s->cin.count == 0) {
		if (s->flags & ENG_SOCK_F_EOF)
			tls_conn_feed_eof(s->tls);
		return false;
	}
	uint16_t bid = s->cin.head;
	const char *p = eng_buf_ptr(w, bid) + s->cin.off;
	size_t avail = w->bufs.len[bid] - s->cin.off;
	ASSERT(avail > 0);
	/* A TLS 1.3 client that refuses our certificate alerts before it
	 * has keys: in plaintext, which the server reads as a bad record.
	 * Remember the alert so that a pinned app is still recognised. */
	if (avail >= 7 && p[0] == 21 && p[3] == 0 && p[4] == 2)
		s->plain_alert = (uint8_t)p[6];
	tls_conn_lend_in(s->tls, p, avail);
	return true;
}

/* Ends the loan of lend_in: the queue lets go of what TLS took (a
 * drained buffer goes back to the ring); true when it took anything. */
static bool settle_in(struct eng_worker *w, struct eng_sock *s)
{
	size_t n = tls_conn_return_in(s->tls);
	if (n == 0)
		return false;
	ASSERT(s->cin.count > 0);
	uint16_t bid = s->cin.head;
	ASSERT(n <= w->bufs.len[bid] - s->cin.off);
	s->cin.off += (uint32_t)n;
	if (s->cin.off == w->bufs.len[bid]) {
		s->cin.head = w->bufs.next[bid];
		s->cin.off = 0;
		s->cin.count--;
		eng_buf_unref(w, bid);
	}
	if ((s->flags & ENG_SOCK_F_EOF) && s->cin.count == 0)
		tls_conn_feed_eof(s->tls);
	return true;
}

/* True when a read may decrypt something: ciphertext is queued, or the
 * TLS connection holds some (or EOF news). The HTTP layer peeks several
 * times per event: an SSL_read that can only want more input is skipped
 * (it was 8 SSL_read per 100 B keep-alive exchange, 2 needed). */
static bool in_ready(struct eng_sock *s)
{
	if (s->cin.count > 0)
		return true;
	if (s->flags & ENG_SOCK_F_EOF)
		tls_conn_feed_eof(s->tls);
	return tls_conn_read_ready(s->tls);
}

/* Decrypts into the input queue (called when it ran empty). */
void eng_tls_open(struct eng_worker *w, struct eng_sock *s)
{
	if (!tls_conn_handshake_done(s->tls) || (s->flags & ENG_SOCK_F_TLS_ERR))
		return;
	for (unsigned i = 0; i < TLS_STEPS && s->in.count < ENG_IN_BUFS_MAX; i++) {
		if (!in_ready(s))
			return;
		uint16_t pb = eng_pbuf_get(w);
		if (pb == UINT16_MAX)
			return;   /* retried on the next peek, once buffers return */
		lend_in(w, s);
		ssize_t r = tls_conn_read(s->tls, eng_buf_ptr(w, pb), w->e->cfg.buf_size);
		bool took = settle_in(w, s);
		if (r > 0) {
			eng_bufq_push(&w->bufs, &s->in, pb, (uint32_t)r);
			continue;
		}
		eng_buf_unref(w, pb);
		if (r == -EAGAIN && took)
			continue;   /* a record's first part: the next buffer has more */
		if (r == -EPROTO)
			s->flags |= ENG_SOCK_F_TLS_ERR;
		return;   /* -EAGAIN, close_notify (0) or a cut-off stream (-EPIPE) */
	}
}

/* The newest wire segment when sealed bytes may be appended to it: a
 * private buffer that take_out or seal_lent filled and holds alone, not
 * in a send (the kernel's until it completes); sets *room. Appending
 * packs records into full buffers (a full 16,406-byte record used to take
 * one buffer and 22 bytes of the next: two iovecs per record and half as
 * many records per send). */
static struct eng_seg *tail_seg(struct eng_worker *w, struct eng_sock *s, size_t *room)
{
	*room = 0;
	if (s->out.n == 0)
		return NULL;
	unsigned i = s->out.n - 1u;
	if ((s->flags & ENG_SOCK_F_SENDING) && i < s->out.send_n)
		return NULL;
	struct eng_seg *g = eng_outq_at(&s->out, i);
	if (g->kind != ENG_SEG_BUF || g->id < w->bufs.count || w->bufs.ref[g->id] != 1)
		return NULL;
	char *base = eng_buf_ptr(w, g->id);
	ASSERT(g->p >= base);
	size_t used = (size_t)(g->p - base) + g->len;
	ASSERT(used <= w->e->cfg.buf_size);
	*room = w->e->cfg.buf_size - used;
	return g;
}

/* Appends sealed bytes to the newest wire segment while it has room. */
static bool take_into_tail(struct eng_worker *w, struct eng_sock *s)
{
	size_t room;
	struct eng_seg *g = tail_seg(w, s, &room);
	if (g == NULL || room == 0)
		return false;
	size_t n = tls_conn_take(s->tls, (char *)g->p + g->len, room);
	g->len += (uint32_t)n;
	return n > 0;
}

ssize_t eng_tls_read_plain(struct eng_worker *w, struct eng_sock *s, char *buf, size_t cap)
{
	if (!tls_conn_handshake_done(s->tls) || (s->flags & ENG_SOCK_F_TLS_ERR))
		return -EPROTO;
	ssize_t r = -EAGAIN;
	for (unsigned i = 0; i < TLS_STEPS; i++) {
		if (!in_ready(s))
			break;   /* r stays -EAGAIN: nothing to decrypt */
		lend_in(w, s);
		r = tls_conn_read(s->tls, buf, cap);
		bool took = settle_in(w, s);
		if (r != -EAGAIN || !took)
			break;
	}
	if (r == -EPROTO)
		s->flags |= ENG_SOCK_F_TLS_ERR;
	return r;
}

/* Moves sealed bytes onto the wire queue; false when nothing could move. */
static bool take_out(struct eng_worker *w, struct eng_sock *s)
{
	bool moved = tls_conn_pending_out(s->tls) > 0 && take_into_tail(w, s);
	while (tls_conn_pending_out(s->tls) > 0 && s->out.n < ENG_OUT_SEGS) {
		uint16_t pb = eng_pbuf_get(w);
		if (pb == UINT16_MAX)
			break;
		char *p = eng_buf_ptr(w, pb);
		size_t n = tls_conn_take(s->tls, p, w->e->cfg.buf_size);
		ASSERT(n <= w->e->cfg.buf_size);
		eng_outq_push(&s->out, ENG_SEG_BUF, pb, p, (uint32_t)n);
		moved = true;
	}
	return moved;
}

/* Seals one record of P (CHUNK bytes) straight into a wire buffer,
 * lent to the TLS connection (the record used to be copied through its
 * outbound buffer), when no sealed bytes wait ahead and the newest wire
 * segment or a fresh buffer has room for the whole record. False when it
 * could not lend (*k untouched: seal through the outbound buffer). */
static bool seal_lent(struct eng_worker *w, struct eng_sock *s, const char *p, size_t chunk,
		      ssize_t *k)
{
	size_t need = chunk + TLS_RECORD_OVERHEAD_MAX, room;
	if (tls_conn_pending_out(s->tls) > 0)
		return false;
	struct eng_seg *g = tail_seg(w, s, &room);
	uint16_t pb = UINT16_MAX;
	char *dst = g != NULL ? (char *)g->p + g->len : NULL;
	if (g == NULL || room < need) {
		if (need > w->e->cfg.buf_size || s->out.n >= ENG_OUT_SEGS)
			return false;
		pb = eng_pbuf_get(w);
		if (pb == UINT16_MAX)
			return false;
		g = NULL;
		dst = eng_buf_ptr(w, pb);
		room = w->e->cfg.buf_size;
	}
	tls_conn_lend_out(s->tls, dst, room);
	*k = tls_conn_write(s->tls, p, chunk);
	size_t n = tls_conn_return_out(s->tls);
	ASSERT(n <= room);
	if (g != NULL)
		g->len += (uint32_t)n;
	else if (n > 0)
		eng_outq_push(&s->out, ENG_SEG_BUF, pb, dst, (uint32_t)n);
	else
		eng_buf_unref(w, pb);
	return true;
}

/* Seals as much of p as the wire queue can take; returns bytes sealed. */
static size_t seal_some(struct eng_worker *w, struct eng_sock *s, const char *p, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < TLS_STEPS && done < len; i++) {
		size_t chunk = len - done < TLS_RECORD_PLAIN_MAX ? len - done : TLS_RECORD_PLAIN_MAX;
		ssize_t k;
		if (!seal_lent(w, s, p + done, chunk, &k))
			k = tls_conn_write(s->tls, p + done, len - done);
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k == -EAGAIN && take_out(w, s))
			continue;
		if (k != -EAGAIN) {
			s->flags |= ENG_SOCK_F_TLS_ERR;
			return len;   /* nothing more will go out on this socket */
		}
		break;
	}
	return done;
}

/* Seals what waits in s->tls_pend, as far as the wire queue takes it. */
static void pend_seal(struct eng_worker *w, struct eng_sock *s)
{
	if (s->tls_pend.len == 0)
		return;
	size_t done = seal_some(w, s, s->tls_pend.p, s->tls_pend.len);
	s->tls_pend.p += done;
	s->tls_pend.len -= (uint32_t)done;
	if (s->tls_pend.len == 0)
		eng_seg_release(&w->bufs, &s->tls_pend);
}

/* Seals segment g after what waits; what does not fit waits in tls_pend
 * holding g's buffer. Takes g's hold either way. */
static void seal_seg(struct eng_worker *w, struct eng_sock *s, struct eng_seg g)
{
	pend_seal(w, s);
	if (s->tls_pend.len > 0) {
		/* the caller ignored eng_out_full (or the buffers ran out while
		 * a staged record went out): sealing g now would reorder the
		 * stream, so the connection is failed instead */
		s->flags |= ENG_SOCK_F_TLS_ERR;
		eng_seg_release(&w->bufs, &g);
		return;
	}
	size_t done = seal_some(w, s, g.p, g.len);
	if (done == g.len) {
		eng_seg_release(&w->bufs, &g);
		return;
	}
	g.p += done;
	g.len -= (uint32_t)done;
	s->tls_pend = g;
}

/* Seals the staged pieces as one record. */
static void stage_seal(struct eng_worker *w, struct eng_sock *s)
{
	if (s->tls_stage.len == 0)
		return;
	struct eng_seg g = s->tls_stage;
	s->tls_stage.len = 0;   /* its buffer goes with g */
	seal_seg(w, s, g);
}

/* Copies a small piece behind the staged ones; false when it does not
 * fit the record or no buffer is left (the caller seals it directly). */
static bool stage_put(struct eng_worker *w, struct eng_sock *s, const char *p, uint32_t len)
{
	uint32_t cap = w->e->cfg.buf_size < TLS_RECORD_PLAIN_MAX ? w->e->cfg.buf_size
								 : TLS_RECORD_PLAIN_MAX;
	if (s->tls_stage.len + len > cap)
		return false;
	if (s->tls_stage.len == 0) {
		uint16_t b = eng_pbuf_get(w);
		if (b == UINT16_MAX)
			return false;
		s->tls_stage = (struct eng_seg){ .p = eng_buf_ptr(w, b), .id = b,
						 .kind = ENG_SEG_BUF };
	}
	memcpy(eng_buf_ptr(w, s->tls_stage.id) + s->tls_stage.len, p, len);
	s->tls_stage.len += len;
	return true;
}

void eng_tls_seal(struct eng_worker *w, struct eng_sock *s, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len)
{
	struct eng_seg g = { .p = p, .len = len, .id = id, .kind = kind };
	ASSERT(s->tls != NULL);
	/* a small piece (a head, a short body, an h2 frame) waits for the
	 * flush in the stage, so that a response's head and body leave as
	 * one record: one seal here and one open at the peer, not two */
	if (len <= ENG_TLS_STAGE_PIECE_MAX && s->tls_pend.len == 0) {
		if (!stage_put(w, s, p, len)) {
			stage_seal(w, s);
			if (s->tls_pend.len > 0 || !stage_put(w, s, p, len)) {
				seal_seg(w, s, g);
				return;
			}
		}
		eng_seg_release(&w->bufs, &g);
		return;
	}
	stage_seal(w, s);
	seal_seg(w, s, g);
}

void eng_tls_move_out(struct eng_worker *w, struct eng_sock *s)
{
	pend_seal(w, s);
	if (s->tls_pend.len == 0)
		stage_seal(w, s);
	take_out(w, s);
}

void eng_tls_drop(struct eng_worker *w, struct eng_sock *s)
{
	if (s->tls_pend.len > 0)
		eng_seg_release(&w->bufs, &s->tls_pend);
	if (s->tls_stage.len > 0)
		eng_seg_release(&w->bufs, &s->tls_stage);
}

bool eng_tls_has_out(const struct eng_sock *s)
{
	return s->tls && (s->tls_pend.len > 0 || s->tls_stage.len > 0 ||
			  tls_conn_pending_out(s->tls) > 0);
}

/* Drives a handshake with what has arrived; returns 0 when done, -EPROTO
 * when it failed, -EAGAIN while it needs more. */
int eng_tls_handshake(struct eng_worker *w, struct eng_sock *s)
{
	int rc = -EAGAIN;
	for (unsigned i = 0; i < TLS_STEPS; i++) {
		lend_in(w, s);
		rc = tls_conn_handshake(s->tls);
		bool took = settle_in(w, s);
		if (rc != -EAGAIN || !took)
			break;
	}
	take_out(w, s);
	return rc;
}
