/*
 * engine/tlsio.c - TLS on a socket's queues: BoringSSL (tls/) only
 * transforms bytes, the ring does all socket I/O.
 *
 * Received ciphertext waits in the socket's cin queue (provided buffers)
 * and is fed to the TLS connection on demand: eng_in_peek decrypts into
 * private buffers pushed onto the ordinary input queue, so the HTTP layer
 * reads plaintext exactly as on a plain socket. Pushed plaintext is sealed
 * at once, in full-size records, and its ciphertext moved onto the wire
 * queue packed into whole buffers, so one send carries up to ENG_OUT_SEGS
 * buffers of records. Memory per connection stays bounded: the TLS
 * connection's own buffers (tls-limits.h), at most ENG_IN_BUFS_MAX input
 * buffers, half a wire queue of output, and one pushed segment waiting to
 * be sealed.
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

/* Feeds queued ciphertext while the TLS connection takes it. */
static bool feed(struct eng_worker *w, struct eng_sock *s)
{
	bool fed = false;
	for (unsigned i = 0; i < TLS_STEPS && s->cin.count > 0; i++) {
		uint16_t bid = s->cin.head;
		const char *p = eng_buf_ptr(w, bid) + s->cin.off;
		size_t avail = w->bufs.len[bid] - s->cin.off;
		/* A TLS 1.3 client that refuses our certificate alerts before it
		 * has keys: in plaintext, which the server reads as a bad record.
		 * Remember the alert so that a pinned app is still recognised. */
		if (avail >= 7 && p[0] == 21 && p[3] == 0 && p[4] == 2)
			s->plain_alert = (uint8_t)p[6];
		size_t n = tls_conn_feed(s->tls, p, avail);
		if (n == 0)
			break;
		ASSERT(n <= avail);
		fed = true;
		s->cin.off += (uint32_t)n;
		if (s->cin.off < w->bufs.len[bid])
			break;
		s->cin.head = w->bufs.next[bid];
		s->cin.off = 0;
		s->cin.count--;
		eng_buf_unref(w, bid);
	}
	/* The peer's FIN goes to TLS after the last byte it sent, never
	 * before: ciphertext still queued here (input held back while the
	 * other side drains) is the end of a close-delimited body. */
	if ((s->flags & ENG_SOCK_F_EOF) && s->cin.count == 0)
		tls_conn_feed_eof(s->tls);
	return fed;
}

/* Decrypts into the input queue (called when it ran empty). */
void eng_tls_open(struct eng_worker *w, struct eng_sock *s)
{
	if (!tls_conn_handshake_done(s->tls) || (s->flags & ENG_SOCK_F_TLS_ERR))
		return;
	for (unsigned i = 0; i < TLS_STEPS && s->in.count < ENG_IN_BUFS_MAX; i++) {
		bool fed = feed(w, s);
		/* the HTTP layer peeks several times per event: an SSL_read
		 * that can only want more input is skipped (and its buffer) */
		if (!fed && !tls_conn_read_ready(s->tls))
			return;
		uint16_t pb = eng_pbuf_get(w);
		if (pb == UINT16_MAX)
			return;   /* retried on the next peek, once buffers return */
		ssize_t r = tls_conn_read(s->tls, eng_buf_ptr(w, pb), w->e->cfg.buf_size);
		if (r > 0) {
			eng_bufq_push(&w->bufs, &s->in, pb, (uint32_t)r);
			continue;
		}
		eng_buf_unref(w, pb);
		if (r == -EAGAIN && fed)
			continue;
		if (r == -EPROTO)
			s->flags |= ENG_SOCK_F_TLS_ERR;
		return;   /* -EAGAIN, close_notify (0) or a cut-off stream (-EPIPE) */
	}
}

/* Appends sealed bytes to the newest wire segment while its buffer has
 * room and no send holds it, so records go out packed in full buffers (a
 * full 16,406-byte record used to take one buffer and 22 bytes of the
 * next, two iovecs per record and half as many records per send). */
static bool take_into_tail(struct eng_worker *w, struct eng_sock *s)
{
	if (s->out.n == 0)
		return false;
	unsigned i = s->out.n - 1u;
	if ((s->flags & ENG_SOCK_F_SENDING) && i < s->out.send_n)
		return false;   /* the kernel's until the send completes */
	struct eng_seg *g = eng_outq_at(&s->out, i);
	/* only a private buffer that take_out filled and holds alone */
	if (g->kind != ENG_SEG_BUF || g->id < w->bufs.count || w->bufs.ref[g->id] != 1)
		return false;
	char *base = eng_buf_ptr(w, g->id);
	ASSERT(g->p >= base);
	size_t used = (size_t)(g->p - base) + g->len;
	ASSERT(used <= w->e->cfg.buf_size);
	if (used == w->e->cfg.buf_size)
		return false;
	size_t n = tls_conn_take(s->tls, base + used, w->e->cfg.buf_size - used);
	g->len += (uint32_t)n;
	return n > 0;
}

ssize_t eng_tls_read_plain(struct eng_worker *w, struct eng_sock *s, char *buf, size_t cap)
{
	if (!tls_conn_handshake_done(s->tls) || (s->flags & ENG_SOCK_F_TLS_ERR))
		return -EPROTO;
	ssize_t r = -EAGAIN;
	for (unsigned i = 0; i < TLS_STEPS; i++) {
		bool fed = feed(w, s);
		if (!fed && !tls_conn_read_ready(s->tls))
			break;   /* r stays -EAGAIN: nothing to decrypt */
		r = tls_conn_read(s->tls, buf, cap);
		if (r != -EAGAIN || !fed)
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

/* Seals as much of p as the wire queue can take; returns bytes sealed. */
static size_t seal_some(struct eng_worker *w, struct eng_sock *s, const char *p, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < TLS_STEPS && done < len; i++) {
		ssize_t k = tls_conn_write(s->tls, p + done, len - done);
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
		bool fed = feed(w, s);
		rc = tls_conn_handshake(s->tls);
		if (rc != -EAGAIN || !fed)
			break;
	}
	take_out(w, s);
	return rc;
}
