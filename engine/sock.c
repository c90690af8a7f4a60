/*
 * engine/sock.c - a worker's sockets: receive queues of provided buffers,
 * send queues of segments flushed once per completion batch, the recv and
 * send completions, close and linger, timers, the head-buffer pool. Built
 * on engine/ring.h; TLS sockets go through engine/tlsio.c. What a socket's
 * events mean is the protocol's business: they go up through w->proto
 * (engine/px-exchange.c's px_proto_ops), never by a direct call.
 *
 * Invariants: a socket slot is reused only after every completion of its
 * previous life arrived (ops == 0) and its close completed; a completion
 * whose generation is not its slot's current one is ignored (sock_live); a
 * provided buffer goes back to the ring only when its reference count drops
 * to zero (input queue + output segments + zero-copy notification); every
 * loop is bounded (timers per tick, segments per queue).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/eng-int.h"
#include "engine/h2.h"
#include "engine/h2up.h"
#include "engine/sock.h"
#include "engine/tlsio.h"
#include "rc-assert.h"

#define TIMERS_PER_TICK 4096u

/* liburing 2.3's copy of the uapi header predates this (Linux 6.2). */
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

static void maybe_free(struct eng_worker *w, struct eng_sock *s);

uint64_t eng_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t eng_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Never fails: a full submission queue is submitted first. */
struct io_uring_sqe *eng_sqe(struct eng_worker *w)
{
	struct io_uring_sqe *sqe = eng_ring_sqe(&w->ring);
	if (sqe == NULL) {
		fprintf(stderr, "ringcap: worker %u: submission queue stuck\n", w->index);
		abort();
	}
	return sqe;
}

static void timer_unlink(struct eng_worker *w, struct eng_sock *s)
{
	eng_timers_stop(&w->timers, eng_slot(w, s));
}

void eng_timer_arm(struct eng_worker *w, struct eng_sock *s, enum eng_tclass c)
{
	eng_timers_arm(&w->timers, eng_slot(w, s), (unsigned)c, w->now_ms);
}

void eng_timer_stop(struct eng_worker *w, struct eng_sock *s)
{
	timer_unlink(w, s);
}

static void timer_fired(void *ctx, uint32_t slot)
{
	struct eng_worker *w = ctx;
	w->proto->timeout(w, &w->socks[slot]);
}

void eng_timers_run(struct eng_worker *w)
{
	eng_timers_expire(&w->timers, w->now_ms, TIMERS_PER_TICK, timer_fired, w);
}

void eng_sock_bufs_publish(struct eng_worker *w)
{
	if (!eng_bufs_publish(&w->bufs))
		return;
	unsigned n = w->nstarved;
	bool all = w->starved_overflow;
	w->nstarved = 0;
	w->starved_overflow = false;
	for (unsigned i = 0; i < n; i++) {
		struct eng_sock *s = &w->socks[w->starved[i]];
		s->flags &= (uint32_t)~ENG_SOCK_F_STARVED;
		eng_recv_arm(w, s);
	}
	for (unsigned i = 0; all && i < w->socks_used; i++) {
		struct eng_sock *s = &w->socks[i];
		if (s->flags & ENG_SOCK_F_STARVED) {
			s->flags &= (uint32_t)~ENG_SOCK_F_STARVED;
			eng_recv_arm(w, s);
		}
	}
}

static void starve(struct eng_worker *w, struct eng_sock *s)
{
	s->flags |= ENG_SOCK_F_STARVED;
	if (w->nstarved < sizeof(w->starved) / sizeof(w->starved[0]))
		w->starved[w->nstarved++] = eng_slot(w, s);
	else
		w->starved_overflow = true;
}

size_t eng_in_peek(struct eng_worker *w, struct eng_sock *s, const char **p)
{
	if (s->in.count == 0 && s->tls && s->h2u == NULL)
		eng_tls_open(w, s);   /* an h2 upstream's plaintext goes to nghttp2 */
	return eng_bufq_peek(&w->bufs, &s->in, p);
}

void eng_in_consume(struct eng_worker *w, struct eng_sock *s, size_t n)
{
	bool popped = eng_bufq_consume(&w->bufs, &s->in, n);
	if (n > 0 && (s->flags & ENG_SOCK_F_H2S))
		eng_h2_in_consumed(w, s);   /* the window reopens as bytes leave */
	if (n > 0 && s->h2u)
		eng_h2u_in_consumed(w, s);
	if (!popped)
		return;
	if ((s->flags & ENG_SOCK_F_PAUSED) && s->in.count + s->cin.count <= ENG_IN_BUFS_MAX / 2) {
		s->flags &= (uint32_t)~ENG_SOCK_F_PAUSED;
		eng_recv_arm(w, s);
	}
}

/* Fills the socket's last private input buffer first (a kernel ring
 * buffer at the tail is never written into), then takes private buffers. */
int eng_in_append(struct eng_worker *w, struct eng_sock *s, const char *p, size_t n)
{
	uint32_t size = w->e->cfg.buf_size;
	for (unsigned i = 0; i < ENG_IN_APPEND_BUFS_MAX && n > 0; i++) {
		uint16_t t = s->in.tail;
		if (s->in.count > 0 && t >= w->bufs.count && w->bufs.len[t] < size) {
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

static void in_clear(struct eng_worker *w, struct eng_sock *s)
{
	eng_bufq_clear(&w->bufs, &s->in);
	eng_bufq_clear(&w->bufs, &s->cin);
}

/* A TLS socket seals what is pushed at once; it is full while a pushed
 * segment still waits to be sealed or half its wire queue is taken. */
bool eng_out_full(const struct eng_sock *s)
{
	if (s->h2u)
		return eng_h2u_full(s);
	if (s->tls)
		return s->tls_pend.len > 0 || s->out.n >= ENG_OUT_SEGS / 2;
	return eng_outq_full(&s->out);
}

void eng_out_push(struct eng_worker *w, struct eng_sock *s, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len)
{
	if (s->h2u) {
		eng_h2u_push(w, s, kind, id, p, len);   /* HTTP/1.1 for the codec */
		return;
	}
	if (s->tls) {
		eng_tls_seal(w, s, kind, id, p, len);
		return;
	}
	eng_outq_push(&s->out, kind, id, p, len);
}

/* Takes back the queued segments pushed since ordinal `from` (a value of
 * s->out.pushed), if none of their bytes has gone to the kernel yet. */
bool eng_out_unpush(struct eng_worker *w, struct eng_sock *s, uint32_t from)
{
	if (s->tls)
		return false;   /* sealed records cannot be taken out of the stream */
	return eng_outq_unpush(&w->bufs, &s->out, from, s->flags & ENG_SOCK_F_SENDING);
}

void eng_out_forward(struct eng_worker *w, struct eng_sock *to, struct eng_sock *from, size_t n)
{
	const char *p;
	size_t avail = eng_in_peek(w, from, &p);
	if (n > avail)
		n = avail;
	w->bufs.ref[from->in.head]++;
	eng_out_push(w, to, ENG_SEG_BUF, from->in.head, p, (uint32_t)n);
	eng_in_consume(w, from, n);
}

/* Releases the first `n` bytes of the queue (sent). */
static void out_advance(struct eng_worker *w, struct eng_sock *s, size_t n)
{
	eng_outq_advance(&w->bufs, &s->out, n);
}

static void out_clear(struct eng_worker *w, struct eng_sock *s)
{
	out_advance(w, s, SIZE_MAX);
}

static void flush_now(struct eng_worker *w, struct eng_sock *s);

/* Sends are deferred to the end of the completion batch, so that what many
 * completions queued for one socket leaves in one sendmsg. */
void eng_flush(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & ENG_SOCK_F_H2S) {
		eng_h2_stream_flush(w, s);   /* its parent's session sends it */
		return;
	}
	if (s->flags & (ENG_SOCK_F_SENDING | ENG_SOCK_F_CLOSING | ENG_SOCK_F_DIRTY |
			ENG_SOCK_F_SYNC_HOLD))
		return;
	if (s->out.n == 0 && !eng_tls_has_out(s) && !(s->h2 && eng_h2_want_write(s)) &&
	    !(s->h2u && eng_h2u_want_write(s)))
		return;
	if (w->ndirty == w->nsocks) {
		flush_now(w, s);   /* a slot freed and reused within one batch */
		return;
	}
	s->flags |= ENG_SOCK_F_DIRTY;
	w->dirty[w->ndirty++] = eng_slot(w, s);
}

static void flush_now(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & ENG_SOCK_F_SYNC_HOLD)
		return;   /* --sync: released by px_sync_release, which flushes */
	if (s->h2 && !(s->flags & (ENG_SOCK_F_CLOSING | ENG_SOCK_F_SENDING)))
		eng_h2_output(w, s);
	if (s->h2u && !(s->flags & (ENG_SOCK_F_CLOSING | ENG_SOCK_F_SENDING)))
		eng_h2u_output(w, s);
	if (s->tls && !(s->flags & ENG_SOCK_F_CLOSING))
		eng_tls_move_out(w, s);
	if ((s->flags & (ENG_SOCK_F_SENDING | ENG_SOCK_F_CLOSING)) || s->out.n == 0)
		return;
	struct io_uring_sqe *sqe = eng_sqe(w);
	if (eng_outq_prep_send(&s->out, sqe, s->fd, w->e->cfg.zc_threshold,
			       udata(OP_SEND, eng_slot(w, s), s->gen))) {
		s->flags |= ENG_SOCK_F_ZC;
		ENG_COUNT(w->c.zc_sends, 1);
	}
	s->flags |= ENG_SOCK_F_SENDING;
	s->ops++;
}

static void send_done(struct eng_worker *w, struct eng_sock *s, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* zero-copy: the kernel let go of the buffers only now; the
		 * result came in the first CQE (ENG_SOCK_F_ZC_FAILED on error) */
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
			ENG_COUNT(w->c.zc_copied, 1);
		res = (s->flags & ENG_SOCK_F_ZC_FAILED) ? -EPIPE : (int)s->out.send_bytes;
		s->flags &= (uint32_t)~(ENG_SOCK_F_ZC | ENG_SOCK_F_ZC_NOTIF | ENG_SOCK_F_SENDING |
					ENG_SOCK_F_ZC_FAILED);
		ASSERT(s->ops > 0);
		s->ops--;
		if (res > 0)
			out_advance(w, s, (size_t)res);
	} else if (cqe->flags & IORING_CQE_F_MORE) {
		s->flags |= ENG_SOCK_F_ZC_NOTIF;
		s->out.send_bytes = res > 0 ? (uint32_t)res : 0;
		if (res < 0)
			s->flags |= ENG_SOCK_F_ZC_FAILED;
		return;
	} else {
		s->flags &= (uint32_t)~(ENG_SOCK_F_SENDING | ENG_SOCK_F_ZC);
		ASSERT(s->ops > 0);
		s->ops--;
		if (res > 0)
			out_advance(w, s, (size_t)res);
	}
	if (s->flags & ENG_SOCK_F_CLOSING)
		return;
	if (res < 0) {
		out_clear(w, s);
		w->proto->eof(w, s, res);
		return;
	}
	if (s->out.n > 0 || eng_tls_has_out(s)) {
		eng_flush(w, s);
		return;
	}
	if (s->flags & ENG_SOCK_F_FLUSHCLOSE) {
		eng_sock_linger(w, s);
		return;
	}
	w->proto->sent(w, s);
}

void eng_recv_arm(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & (ENG_SOCK_F_RECV | ENG_SOCK_F_EOF | ENG_SOCK_F_CLOSING | ENG_SOCK_F_PAUSED |
			ENG_SOCK_F_STARVED | ENG_SOCK_F_H2S))
		return;
	eng_prep_recv_multishot(eng_sqe(w), s->fd, 0, udata(OP_RECV, eng_slot(w, s), s->gen));
	s->flags |= ENG_SOCK_F_RECV;
	s->ops++;
}

void eng_recv_pause(struct eng_worker *w, struct eng_sock *s)
{
	s->flags |= ENG_SOCK_F_PAUSED;
	if (!(s->flags & ENG_SOCK_F_RECV) || (s->flags & ENG_SOCK_F_CANCELING))
		return;
	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_cancel64(sqe, udata(OP_RECV, eng_slot(w, s), s->gen), 0);
	io_uring_sqe_set_data64(sqe, udata(OP_CANCEL, 0, 0));
	s->flags |= ENG_SOCK_F_CANCELING;
}

static void recv_done(struct eng_worker *w, struct eng_sock *s, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (!more) {
		s->flags &= (uint32_t)~(ENG_SOCK_F_RECV | ENG_SOCK_F_CANCELING);
		ASSERT(s->ops > 0);
		s->ops--;
	}
	uint16_t bid;
	if (eng_cqe_bid(cqe, &bid)) {
		if (res <= 0 || (s->flags & ENG_SOCK_F_CLOSING)) {
			eng_bufs_take(&w->bufs, bid, 0);
			eng_buf_unref(w, bid);
		} else if (s->tls) {
			eng_bufq_push(&w->bufs, &s->cin, bid, (uint32_t)res);
		} else {
			eng_bufq_push(&w->bufs, &s->in, bid, (uint32_t)res);
		}
	}
	if (s->flags & ENG_SOCK_F_CLOSING)
		return;
	if (res > 0) {
		if (s->role == ROLE_CLIENT)
			ENG_COUNT(w->c.bytes_from_clients, (uint64_t)res);
		else
			ENG_COUNT(w->c.bytes_from_upstreams, (uint64_t)res);
		if (s->tls && !tls_conn_handshake_done(s->tls))
			eng_sock_handshake(w, s);
		else
			w->proto->input(w, s);
	} else if (res == -ENOBUFS) {
		starve(w, s);
	} else if (res == 0 || (res < 0 && res != -ECANCELED)) {
		s->flags |= ENG_SOCK_F_EOF;
		if (s->tls && s->cin.count == 0)
			tls_conn_feed_eof(s->tls);   /* else after the queued ciphertext (tlsio.c) */
		w->proto->eof(w, s, res);
		return;
	}
	if (s->flags & ENG_SOCK_F_CLOSING)
		return;
	unsigned in_max = eng_buf_pressure(w) ? ENG_IN_BUFS_PRESSURE : ENG_IN_BUFS_MAX;
	if (s->in.count + s->cin.count > in_max)
		eng_recv_pause(w, s);
	if (!more)
		eng_recv_arm(w, s);
}

/* True when most receive buffers are held (see ENG_IN_BUFS_PRESSURE). */
bool eng_buf_pressure(const struct eng_worker *w)
{
	return (uint64_t)w->bufs.out * 4u > (uint64_t)w->e->cfg.buf_count * 3u;
}

struct eng_sock *eng_sock_new(struct eng_worker *w, int fd, enum sock_role role)
{
	uint32_t slot = w->sock_free;
	struct eng_sock *s;
	if (slot != ENG_NONE) {
		s = &w->socks[slot];
		w->sock_free = s->pool_next;
	} else if (w->socks_used < w->nsocks) {
		/* first use of a slot: the array's pages are touched only as
		 * connections arrive, so RSS follows the connection count */
		s = &w->socks[w->socks_used++];
	} else {
		return NULL;
	}
	/* a slot is reused only once its last completion arrived and closed it */
	ASSERT(s->ops == 0);
	ASSERT(s->role == 0);
	uint32_t gen = s->gen + 1;
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->fd = fd;
	s->role = (uint8_t)role;
	s->peer = ENG_NONE;
	s->ahead = ENG_NONE;
	eng_timer_clear(&s->tm);
	s->head_buf = ENG_NONE;
	s->pool_next = ENG_NONE;
	s->pool_prev = ENG_NONE;
	s->resolve_slot = ENG_NONE;
	s->tr_buf = ENG_NONE;
	if (role == ROLE_CLIENT) {
		w->clients++;
		ENG_COUNT(w->c.conns_open, 1);
	} else {
		w->upstreams++;
	}
	return s;
}

/* Mechanical close: drop queues, cancel what is pending, and close the fd
 * through the ring once the last completion arrived. */
void eng_sock_close(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & ENG_SOCK_F_CLOSING)
		return;
	s->flags |= ENG_SOCK_F_CLOSING;
	timer_unlink(w, s);
	in_clear(w, s);
	if (s->head_buf != ENG_NONE) {
		eng_head_put(w, s->head_buf);
		s->head_buf = ENG_NONE;
	}
	if (s->tr_buf != ENG_NONE) {
		eng_head_put(w, s->tr_buf);
		s->tr_buf = ENG_NONE;
	}
	/* segments not in flight go now; those in flight at their CQE */
	eng_outq_drop(&w->bufs, &s->out, s->flags & ENG_SOCK_F_SENDING);
	if (s->ops > 0 && s->fd >= 0) {
		shutdown(s->fd, SHUT_RDWR);
		struct io_uring_sqe *sqe = eng_sqe(w);
		io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, udata(OP_CANCEL, 0, 0));
	}
	maybe_free(w, s);
}

/* After a final answer: FIN, then drain the peer briefly before closing. */
void eng_sock_linger(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & ENG_SOCK_F_CLOSING)
		return;
	if (s->flags & ENG_SOCK_F_H2S) {
		eng_h2_stream_linger(w, s);   /* the stream ends, not a socket */
		return;
	}
	if (s->tls && !(s->flags & ENG_SOCK_F_TLS_BYE)) {
		/* close_notify goes after every pushed byte and before our FIN;
		 * while plaintext still waits for room, the send that drains
		 * it comes back here */
		eng_tls_move_out(w, s);
		if (s->tls_pend.len == 0) {
			s->flags |= ENG_SOCK_F_TLS_BYE;
			tls_conn_shutdown(s->tls);
		}
	}
	if (s->out.n > 0 || eng_tls_has_out(s) || (s->flags & ENG_SOCK_F_SENDING)) {
		s->flags |= ENG_SOCK_F_FLUSHCLOSE;
		eng_flush(w, s);
		return;
	}
	if (s->flags & ENG_SOCK_F_EOF) {
		eng_sock_close(w, s);
		return;
	}
	if (!(s->flags & ENG_SOCK_F_SHUT_WR)) {
		shutdown(s->fd, SHUT_WR);
		s->flags |= ENG_SOCK_F_SHUT_WR;
	}
	if (w->draining) {
		/* shutting down: the answer is out and FIN sent; no time to wait */
		eng_sock_close(w, s);
		return;
	}
	s->state = C_LINGER;
	s->flags &= (uint32_t)~ENG_SOCK_F_PAUSED;
	in_clear(w, s);
	eng_timer_arm(w, s, T_LINGER);
	eng_recv_arm(w, s);
}

static void maybe_free(struct eng_worker *w, struct eng_sock *s)
{
	if (!(s->flags & ENG_SOCK_F_CLOSING) || s->ops > 0)
		return;
	if (s->out.n > 0)
		out_clear(w, s);
	if (s->fd >= 0) {
		struct io_uring_sqe *sqe = eng_sqe(w);
		io_uring_prep_close(sqe, s->fd);
		io_uring_sqe_set_data64(sqe, udata(OP_CLOSE, eng_slot(w, s), s->gen));
		s->fd = -1;
		s->ops++;
		return;
	}
	w->proto->closed(w, s);
	eng_tls_drop(w, s);
	if (s->tls) {
		tls_conn_free(s->tls);
		s->tls = NULL;
	}
	if (s->role == ROLE_CLIENT) {
		w->clients--;
		if (s->flags & ENG_SOCK_F_REJECTED)
			w->rejecting--;
		ENG_COUNT_SUB(w->c.conns_open, 1);
	} else {
		w->upstreams--;
	}
	s->role = 0;
	s->state = 0;
	s->pool_next = w->sock_free;
	w->sock_free = eng_slot(w, s);
}

/* Head buffers are reference counted: a request head is held by the
 * segment sending it and by its client until the response head arrives, so
 * a request on a pooled connection that the server closed can be resent. */
uint32_t eng_head_get(struct eng_worker *w)
{
	uint32_t i = w->head_free;
	if (i != ENG_NONE) {
		ASSERT(w->head_ref[i] == 0);
		w->head_free = w->head_free_next[i];
		w->head_ref[i] = 1;
	}
	return i;
}

void eng_head_ref(struct eng_worker *w, uint32_t idx)
{
	ASSERT(idx < w->e->cfg.head_buffers);
	ASSERT(w->head_ref[idx] > 0);
	ASSERT(w->head_ref[idx] < UINT8_MAX);
	w->head_ref[idx]++;
}

void eng_head_put(struct eng_worker *w, uint32_t idx)
{
	/* a head put twice would be handed out twice */
	ASSERT(idx < w->e->cfg.head_buffers);
	ASSERT(w->head_ref[idx] > 0);
	if (w->head_ref[idx] > 1) {
		w->head_ref[idx]--;
		return;
	}
	w->head_ref[idx] = 0;
	w->head_free_next[idx] = w->head_free;
	w->head_free = idx;
}

char *eng_head_ptr(struct eng_worker *w, uint32_t idx)
{
	return w->heads + (size_t)idx * w->head_size;
}

/* The check at the top of every socket completion handler: the socket a
 * completion belongs to, or NULL when its generation is not the slot's
 * current life. A stale completion cannot happen while slots wait for
 * ops == 0, but it is ignored, never trusted (a buffer it carries goes
 * straight back) and counted. A slot out of range is our bug: we packed it. */
static struct eng_sock *sock_live(struct eng_worker *w, const struct io_uring_cqe *cqe,
				  union eng_udata u)
{
	struct eng_sock *s = NULL;
	if (ALWAYS(u.f.slot < w->nsocks))
		s = &w->socks[u.f.slot];
	if (s != NULL && s->gen == u.f.gen)
		return s;
	w->stale_cqes++;
	uint16_t bid;
	if (eng_cqe_bid(cqe, &bid)) {
		eng_bufs_take(&w->bufs, bid, 0);
		eng_buf_unref(w, bid);
	}
	return NULL;
}

void eng_sock_on_recv(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	recv_done(w, s, cqe);
	maybe_free(w, s);
}

void eng_sock_on_send(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	send_done(w, s, cqe);
	maybe_free(w, s);
}

void eng_sock_on_connect(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	ASSERT(s->ops > 0);
	s->ops--;
	if (!(s->flags & ENG_SOCK_F_CLOSING))
		w->proto->connected(w, s, cqe->res);
	maybe_free(w, s);
}

void eng_sock_on_close(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	ASSERT(s->ops > 0);
	s->ops--;
	maybe_free(w, s);
}

void eng_flush_dirty(struct eng_worker *w)
{
	/* flush_now never adds to the list: it submits directly */
	for (unsigned i = 0; i < w->ndirty; i++) {
		struct eng_sock *s = &w->socks[w->dirty[i]];
		if (!(s->flags & ENG_SOCK_F_DIRTY))
			continue;
		s->flags &= (uint32_t)~ENG_SOCK_F_DIRTY;
		flush_now(w, s);
	}
	w->ndirty = 0;
}

/* Drives a TLS handshake with what has arrived, sends what it produced and
 * tells the protocol when it is done or failed. */
void eng_sock_handshake(struct eng_worker *w, struct eng_sock *s)
{
	int rc = eng_tls_handshake(w, s);
	eng_flush(w, s);
	if (rc == 0)
		w->proto->tls_ready(w, s);
	else if (rc == -EPROTO)
		w->proto->tls_failed(w, s);
}
