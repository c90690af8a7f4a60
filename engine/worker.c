/*
 * engine/worker.c - thread-per-core io_uring workers: ring and provided
 * buffer ring set-up, feature probe, the completion loop, sockets (input
 * queues of provided buffers, output segment queues, close), timers.
 *
 * Invariants: a socket slot is reused only after every completion of its
 * previous life arrived (ops == 0) and its close completed; a provided
 * buffer goes back to the ring only when its reference count drops to zero
 * (input queue + output segments + zero-copy notification); every loop is
 * bounded (ENG_CQE_BATCH completions per wait, timers per tick).
 */
#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/eng-int.h"

#define TIMERS_PER_TICK 4096u

/* liburing 2.3's copy of the uapi header predates this (Linux 6.2). */
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

static void *worker_main(void *arg);
static int worker_init(struct eng_worker *w, char *err, size_t err_len);
static void worker_free(struct eng_worker *w);
static void maybe_free(struct eng_worker *w, struct eng_sock *s);
static void sink_io(struct eng_worker *w);

/* ---- time ---- */

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

static uint64_t now_ms_coarse(void)
{
	return eng_clock_ms();
}

/* ---- SQEs ---- */

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

/* ---- timers ---- */

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
	px_timeout(w, &w->socks[slot]);
}

static void timers_run(struct eng_worker *w)
{
	eng_timers_expire(&w->timers, w->now_ms, TIMERS_PER_TICK, timer_fired, w);
}

static void tick_arm(struct eng_worker *w)
{
	eng_prep_tick(eng_sqe(w), &w->tick_ts, udata(OP_TICK, 0, 0));
}

/* ---- provided buffers ---- */

/* Buffer ids [0, buf_count) are the kernel's provided buffers; ids from
 * buf_count on are private buffers (plaintext and ciphertext of TLS
 * connections), never handed to the kernel's ring (engine/ring.h). */
#define buf_ptr eng_buf_ptr

static void bufs_publish(struct eng_worker *w)
{
	if (!eng_bufs_publish(&w->bufs))
		return;
	unsigned n = w->nstarved;
	bool all = w->starved_overflow;
	w->nstarved = 0;
	w->starved_overflow = false;
	for (unsigned i = 0; i < n; i++) {
		struct eng_sock *s = &w->socks[w->starved[i]];
		s->flags &= (uint32_t)~SF_STARVED;
		eng_recv_arm(w, s);
	}
	for (unsigned i = 0; all && i < w->socks_used; i++) {
		struct eng_sock *s = &w->socks[i];
		if (s->flags & SF_STARVED) {
			s->flags &= (uint32_t)~SF_STARVED;
			eng_recv_arm(w, s);
		}
	}
}

static void starve(struct eng_worker *w, struct eng_sock *s)
{
	s->flags |= SF_STARVED;
	if (w->nstarved < sizeof(w->starved) / sizeof(w->starved[0]))
		w->starved[w->nstarved++] = eng_slot(w, s);
	else
		w->starved_overflow = true;
}

/* ---- input queue ---- */

size_t eng_in_peek(struct eng_worker *w, struct eng_sock *s, const char **p)
{
	if (s->in.count == 0 && s->tls)
		eng_tls_open(w, s);
	return eng_bufq_peek(&w->bufs, &s->in, p);
}

void eng_in_consume(struct eng_worker *w, struct eng_sock *s, size_t n)
{
	if (!eng_bufq_consume(&w->bufs, &s->in, n))
		return;
	if ((s->flags & SF_PAUSED) && s->in.count + s->cin.count <= ENG_IN_BUFS_MAX / 2) {
		s->flags &= (uint32_t)~SF_PAUSED;
		eng_recv_arm(w, s);
	}
}

static void in_clear(struct eng_worker *w, struct eng_sock *s)
{
	eng_bufq_clear(&w->bufs, &s->in);
	eng_bufq_clear(&w->bufs, &s->cin);
}

/* ---- output queue ---- */

/* A TLS socket seals what is pushed at once; it is full while a pushed
 * segment still waits to be sealed or half its wire queue is taken. */
bool eng_out_full(const struct eng_sock *s)
{
	if (s->tls)
		return s->tls_pend.len > 0 || s->out.n >= ENG_OUT_SEGS / 2;
	return eng_outq_full(&s->out);
}

void eng_out_push(struct eng_worker *w, struct eng_sock *s, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len)
{
	if (s->tls) {
		eng_tls_seal(w, s, kind, id, p, len);
		return;
	}
	eng_out_push_raw(s, kind, id, p, len);
}

void eng_out_push_raw(struct eng_sock *s, uint8_t kind, uint16_t id, const char *p, uint32_t len)
{
	eng_outq_push(&s->out, kind, id, p, len);
}

/* Takes back the queued segments pushed since ordinal `from` (a value of
 * s->out.pushed), if none of their bytes has gone to the kernel yet. */
bool eng_out_unpush(struct eng_worker *w, struct eng_sock *s, uint32_t from)
{
	return eng_outq_unpush(&w->bufs, &s->out, from, s->flags & SF_SENDING);
}

void eng_out_forward(struct eng_worker *w, struct eng_sock *to, struct eng_sock *from, size_t n)
{
	const char *p;
	size_t avail = eng_in_peek(w, from, &p);
	if (n > avail)
		n = avail;
	w->bufs.ref[from->in.head]++;
	eng_out_push(w, to, SEG_BUF, from->in.head, p, (uint32_t)n);
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
	if ((s->flags & (SF_SENDING | SF_CLOSING | SF_DIRTY)) || (s->out.n == 0 && !eng_tls_has_out(s)))
		return;
	if (w->ndirty == w->nsocks) {
		flush_now(w, s);   /* a slot freed and reused within one batch */
		return;
	}
	s->flags |= SF_DIRTY;
	w->dirty[w->ndirty++] = eng_slot(w, s);
}

static void flush_now(struct eng_worker *w, struct eng_sock *s)
{
	if (s->tls && !(s->flags & SF_CLOSING))
		eng_tls_move_out(w, s);
	if ((s->flags & (SF_SENDING | SF_CLOSING)) || s->out.n == 0)
		return;
	struct io_uring_sqe *sqe = eng_sqe(w);
	if (eng_outq_prep_send(&s->out, sqe, s->fd, w->e->cfg.zc_threshold,
			       udata(OP_SEND, eng_slot(w, s), s->gen))) {
		s->flags |= SF_ZC;
		w->c.zc_sends++;
	}
	s->flags |= SF_SENDING;
	s->ops++;
}

static void send_done(struct eng_worker *w, struct eng_sock *s, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* zero-copy: the kernel let go of the buffers only now; the
		 * result came in the first CQE (SF_ZC_FAILED on error) */
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
			w->c.zc_copied++;
		res = (s->flags & SF_ZC_FAILED) ? -EPIPE : (int)s->out.send_bytes;
		s->flags &= (uint32_t)~(SF_ZC | SF_ZC_NOTIF | SF_SENDING | SF_ZC_FAILED);
		s->ops--;
		if (res > 0)
			out_advance(w, s, (size_t)res);
	} else if (cqe->flags & IORING_CQE_F_MORE) {
		s->flags |= SF_ZC_NOTIF;
		s->out.send_bytes = res > 0 ? (uint32_t)res : 0;
		if (res < 0)
			s->flags |= SF_ZC_FAILED;
		return;
	} else {
		s->flags &= (uint32_t)~(SF_SENDING | SF_ZC);
		s->ops--;
		if (res > 0)
			out_advance(w, s, (size_t)res);
	}
	if (s->flags & SF_CLOSING)
		return;
	if (res < 0) {
		out_clear(w, s);
		px_eof(w, s, res);
		return;
	}
	if (s->out.n > 0 || eng_tls_has_out(s)) {
		eng_flush(w, s);
		return;
	}
	if (s->flags & SF_FLUSHCLOSE) {
		eng_sock_linger(w, s);
		return;
	}
	px_sent(w, s);
}

/* ---- receive ---- */

void eng_recv_arm(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & (SF_RECV | SF_EOF | SF_CLOSING | SF_PAUSED | SF_STARVED))
		return;
	eng_prep_recv_multishot(eng_sqe(w), s->fd, 0, udata(OP_RECV, eng_slot(w, s), s->gen));
	s->flags |= SF_RECV;
	s->ops++;
}

void eng_recv_pause(struct eng_worker *w, struct eng_sock *s)
{
	s->flags |= SF_PAUSED;
	if (!(s->flags & SF_RECV) || (s->flags & SF_CANCELING))
		return;
	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_cancel64(sqe, udata(OP_RECV, eng_slot(w, s), s->gen), 0);
	io_uring_sqe_set_data64(sqe, udata(OP_CANCEL, 0, 0));
	s->flags |= SF_CANCELING;
}

static void recv_done(struct eng_worker *w, struct eng_sock *s, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (!more) {
		s->flags &= (uint32_t)~(SF_RECV | SF_CANCELING);
		s->ops--;
	}
	uint16_t bid;
	if (eng_cqe_bid(cqe, &bid)) {
		if (res <= 0 || (s->flags & SF_CLOSING)) {
			eng_bufs_take(&w->bufs, bid, 0);
			eng_buf_unref(w, bid);
		} else if (s->tls) {
			eng_bufq_push(&w->bufs, &s->cin, bid, (uint32_t)res);
		} else {
			eng_bufq_push(&w->bufs, &s->in, bid, (uint32_t)res);
		}
	}
	if (s->flags & SF_CLOSING)
		return;
	if (res > 0) {
		if (s->role == ROLE_CLIENT)
			w->c.bytes_from_clients += (uint64_t)res;
		else
			w->c.bytes_from_upstreams += (uint64_t)res;
		if (s->tls && !tls_conn_handshake_done(s->tls))
			eng_tls_handshake(w, s);
		else
			px_input(w, s);
	} else if (res == -ENOBUFS) {
		starve(w, s);
	} else if (res == 0 || (res < 0 && res != -ECANCELED)) {
		s->flags |= SF_EOF;
		if (s->tls)
			tls_conn_feed_eof(s->tls);
		px_eof(w, s, res);
		return;
	}
	if (s->flags & SF_CLOSING)
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

/* ---- sockets ---- */

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
	uint32_t gen = s->gen + 1;
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->fd = fd;
	s->role = (uint8_t)role;
	s->peer = ENG_NONE;
	eng_timer_clear(&s->tm);
	s->head_buf = ENG_NONE;
	s->pool_next = ENG_NONE;
	s->pool_prev = ENG_NONE;
	s->resolve_slot = ENG_NONE;
	if (role == ROLE_CLIENT) {
		w->clients++;
		w->c.conns_open++;
	} else {
		w->upstreams++;
	}
	return s;
}

/* Mechanical close: drop queues, cancel what is pending, and close the fd
 * through the ring once the last completion arrived. */
void eng_sock_close(struct eng_worker *w, struct eng_sock *s)
{
	if (s->flags & SF_CLOSING)
		return;
	s->flags |= SF_CLOSING;
	timer_unlink(w, s);
	in_clear(w, s);
	if (s->head_buf != ENG_NONE) {
		eng_head_put(w, s->head_buf);
		s->head_buf = ENG_NONE;
	}
	/* segments not in flight go now; those in flight at their CQE */
	eng_outq_drop(&w->bufs, &s->out, s->flags & SF_SENDING);
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
	if (s->flags & SF_CLOSING)
		return;
	if (s->tls && !(s->flags & SF_TLS_BYE)) {
		s->flags |= SF_TLS_BYE;   /* close_notify goes before our FIN */
		tls_conn_shutdown(s->tls);
	}
	if (s->out.n > 0 || eng_tls_has_out(s) || (s->flags & SF_SENDING)) {
		s->flags |= SF_FLUSHCLOSE;
		eng_flush(w, s);
		return;
	}
	if (s->flags & SF_EOF) {
		eng_sock_close(w, s);
		return;
	}
	if (!(s->flags & SF_SHUT_WR)) {
		shutdown(s->fd, SHUT_WR);
		s->flags |= SF_SHUT_WR;
	}
	if (w->draining) {
		/* shutting down: the answer is out and FIN sent; no time to wait */
		eng_sock_close(w, s);
		return;
	}
	s->state = C_LINGER;
	s->flags &= (uint32_t)~SF_PAUSED;
	in_clear(w, s);
	eng_timer_arm(w, s, T_LINGER);
	eng_recv_arm(w, s);
}

static void maybe_free(struct eng_worker *w, struct eng_sock *s)
{
	if (!(s->flags & SF_CLOSING) || s->ops > 0)
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
	px_closed(w, s);
	if (s->tls_pend.len > 0)
		eng_seg_release(&w->bufs, &s->tls_pend);
	if (s->tls) {
		tls_conn_free(s->tls);
		s->tls = NULL;
	}
	if (s->role == ROLE_CLIENT) {
		w->clients--;
		if (s->flags & SF_REJECTED)
			w->rejecting--;
		w->c.conns_open--;
	} else {
		w->upstreams--;
	}
	s->role = 0;
	s->state = 0;
	s->pool_next = w->sock_free;
	w->sock_free = eng_slot(w, s);
}

/* ---- head pool ---- */

/* Head buffers are reference counted: a request head is held by the
 * segment sending it and by its client until the response head arrives, so
 * a request on a pooled connection that the server closed can be resent. */
uint32_t eng_head_get(struct eng_worker *w)
{
	uint32_t i = w->head_free;
	if (i != ENG_NONE) {
		w->head_free = w->head_free_next[i];
		w->head_ref[i] = 1;
	}
	return i;
}

void eng_head_ref(struct eng_worker *w, uint32_t idx)
{
	w->head_ref[idx]++;
}

void eng_head_put(struct eng_worker *w, uint32_t idx)
{
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

/* ---- accept ---- */

static void accept_arm(struct eng_worker *w)
{
	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_multishot_accept(sqe, w->listen_fd, NULL, NULL,
				       SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, udata(OP_ACCEPT, 0, 0));
	w->accepting = true;
}

static void accept_done(struct eng_worker *w, const struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (!more)
		w->accepting = false;
	if (cqe->res >= 0) {
		int fd = cqe->res;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		w->c.conns_accepted++;
		struct eng_sock *s = eng_sock_new(w, fd, ROLE_CLIENT);
		if (s == NULL) {
			w->c.conns_rejected++;
			struct io_uring_sqe *sqe = eng_sqe(w);
			io_uring_prep_close(sqe, fd);
			io_uring_sqe_set_data64(sqe, udata(OP_CLOSE_RAW, 0, 0));
		} else {
			px_accepted(w, s);
		}
	}
	/* EMFILE/ENFILE: the next tick re-arms, so accept backs off without
	 * spinning; any other end of the multishot re-arms at once. */
	if (!more && !w->draining && cqe->res != -EMFILE && cqe->res != -ENFILE)
		accept_arm(w);
}

/* ---- dispatch: one handler per op (w->dispatch) ---- */

/* The socket a completion belongs to, or NULL when its slot is out of
 * range or its generation is not the slot's current life: such a
 * completion cannot happen while slots wait for ops == 0, and it is never
 * trusted (a buffer it carries goes straight back). */
static struct eng_sock *sock_live(struct eng_worker *w, const struct io_uring_cqe *cqe,
				  union eng_udata u)
{
	struct eng_sock *s = u.f.slot < w->nsocks ? &w->socks[u.f.slot] : NULL;
	if (s != NULL && s->gen == u.f.gen)
		return s;
	uint16_t bid;
	if (eng_cqe_bid(cqe, &bid)) {
		eng_bufs_take(&w->bufs, bid, 0);
		eng_buf_unref(w, bid);
	}
	return NULL;
}

static void on_recv(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	recv_done(w, s, cqe);
	maybe_free(w, s);
}

static void on_send(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	send_done(w, s, cqe);
	maybe_free(w, s);
}

static void on_connect(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	s->ops--;
	if (!(s->flags & SF_CLOSING))
		px_connected(w, s, cqe->res);
	maybe_free(w, s);
}

static void on_close(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	struct eng_sock *s = sock_live(w, cqe, u);
	if (s == NULL)
		return;
	s->ops--;
	maybe_free(w, s);
}

static void on_accept(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	accept_done(ctx, cqe);
}

static void on_sink_io(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	w->sink_io_busy = false;
	if (w->e->cfg.sink->io_done)
		w->e->cfg.sink->io_done(w->sink_ctx, cqe->res);
	sink_io(w);
	px_sink_wake(w);
}

static void on_tick(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	w->now_ms = now_ms_coarse();
	timers_run(w);
	if (w->e->cfg.sink && w->e->cfg.sink->tick)
		w->e->cfg.sink->tick(w->sink_ctx, eng_wall_ns());
	if (!w->accepting && !w->draining)
		accept_arm(w);
	tick_arm(w);
}

static void on_resolved(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	if (u.f.slot < ENG_RESOLVE_SLOTS)
		px_resolved(w, &w->resolves[u.f.slot]);
}

/* Cancels and raw closes: nothing waits for their result. */
static void on_ignored(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
}

static void dispatch_init(struct eng_worker *w)
{
	struct eng_dispatch *d = &w->dispatch;
	memset(d, 0, sizeof(*d));
	d->ctx = w;
	d->fn[OP_ACCEPT] = on_accept;
	d->fn[OP_RECV] = on_recv;
	d->fn[OP_SEND] = on_send;
	d->fn[OP_CONNECT] = on_connect;
	d->fn[OP_CLOSE] = on_close;
	d->fn[OP_CANCEL] = on_ignored;
	d->fn[OP_TICK] = on_tick;
	d->fn[OP_RESOLVED] = on_resolved;
	d->fn[OP_CLOSE_RAW] = on_ignored;
	d->fn[OP_SINK_IO] = on_sink_io;
}

/* Shutdown: new connections are refused from here on; the accept is
 * cancelled and the listener closed through the ring (hard link: the close
 * runs even when there was no accept left to cancel). */
static void listener_close(struct eng_worker *w)
{
	/* shutdown() stops a listening socket at once, even while the accept
	 * request still holds a reference to it */
	shutdown(w->listen_fd, SHUT_RDWR);	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_cancel64(sqe, udata(OP_ACCEPT, 0, 0), 0);
	io_uring_sqe_set_data64(sqe, udata(OP_CANCEL, 0, 0));
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = eng_sqe(w);
	io_uring_prep_close(sqe, w->listen_fd);
	io_uring_sqe_set_data64(sqe, udata(OP_CLOSE_RAW, 0, 0));
	w->listen_fd = -1;
}

/* Submits the sink's next write, if it has one and none is in flight. */
static void sink_io(struct eng_worker *w)
{
	const struct eng_sink_ops *k = w->e->cfg.sink;
	struct eng_sink_io io;
	if (!k || !k->next_io || w->sink_io_busy || !k->next_io(w->sink_ctx, &io))
		return;
	struct io_uring_sqe *sqe = eng_sqe(w);
	if (io.fsync)
		io_uring_prep_fsync(sqe, io.fd, IORING_FSYNC_DATASYNC);
	else
		io_uring_prep_write(sqe, io.fd, io.buf, io.len, io.off);
	io_uring_sqe_set_data64(sqe, udata(OP_SINK_IO, 0, 0));
	w->sink_io_busy = true;
}

static void flush_dirty(struct eng_worker *w)
{
	/* flush_now never adds to the list: it submits directly */
	for (unsigned i = 0; i < w->ndirty; i++) {
		struct eng_sock *s = &w->socks[w->dirty[i]];
		if (!(s->flags & SF_DIRTY))
			continue;
		s->flags &= (uint32_t)~SF_DIRTY;
		flush_now(w, s);
	}
	w->ndirty = 0;
}

/* Leaving the loop: the sink's write in flight must land before its
 * close() writes the rest itself (bounded: one write, 5 s). */
static void sink_io_wait(struct eng_worker *w)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
	for (int i = 0; i < 50 && w->sink_io_busy; i++) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe_timeout(&w->ring.uring, &cqe, &ts) < 0)
			continue;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&w->ring.uring, head, cqe) {
			if (eng_udata_unpack(io_uring_cqe_get_data64(cqe)).f.op == OP_SINK_IO) {
				w->sink_io_busy = false;
				if (w->e->cfg.sink->io_done)
					w->e->cfg.sink->io_done(w->sink_ctx, cqe->res);
			}
			n++;
		}
		io_uring_cq_advance(&w->ring.uring, n);
	}
}

static void worker_loop(struct eng_worker *w)
{
	struct eng *e = w->e;
	for (;;) {
		if (!w->draining && atomic_load_explicit(&e->stopping, memory_order_relaxed)) {
			w->draining = true;
			w->drain_deadline_ms = w->now_ms + e->cfg.grace_ms;
			listener_close(w);
			px_drain(w);
		}
		if (w->draining && ((w->clients == 0 && w->upstreams == 0) ||
				    w->now_ms >= w->drain_deadline_ms)) {
			io_uring_submit(&w->ring.uring);   /* the listener close, at least */
			sink_io_wait(w);
			break;
		}
		flush_dirty(w);
		sink_io(w);
		io_uring_submit_and_wait(&w->ring.uring, 1);
		w->now_ms = now_ms_coarse();
		eng_ring_drain(&w->ring, &w->dispatch, ENG_CQE_BATCH);
		bufs_publish(w);
	}
}

/* Start-up handshake: the ring must be created by the thread that submits
 * to it (SINGLE_ISSUER), yet its errors belong to eng_start's caller. */
struct spawn {
	struct eng_worker *w;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
	char err[256];
};

static void *worker_main(void *arg)
{
	struct spawn *sp = arg;
	struct eng_worker *w = sp->w;
	int rc = worker_init(w, sp->err, sizeof(sp->err));
	pthread_mutex_lock(&sp->mu);
	sp->rc = rc;
	sp->done = true;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	if (rc < 0)
		return NULL;
	worker_loop(w);
	if (w->sink_ctx && w->e->cfg.sink && w->e->cfg.sink->close)
		w->e->cfg.sink->close(w->sink_ctx);
	return NULL;
}

/* ---- set-up ---- */

/* Start-up arrays are mapped, not calloc'd: fresh zero pages are touched
 * only where connections actually are (calloc would clear them itself
 * under MALLOC_PERTURB_, costing seconds and all the memory up front). */
#define alloc_array eng_array_alloc
#define free_array eng_array_free

static void seg_user_release(void *arg, struct eng_seg *g)
{
	eng_head_put(arg, g->id);   /* SEG_HEAD: the only user kind */
}

static int buf_ring_init(struct eng_worker *w, char *err, size_t err_len)
{
	const struct eng_config *c = &w->e->cfg;
	int rc = eng_bufs_init(&w->bufs, &w->ring, c->buf_count, c->buf_size, c->tls_buffers, 0,
			       err, err_len);
	w->bufs.user_release = seg_user_release;
	w->bufs.user_arg = w;
	return rc;
}

static int pools_init(struct eng_worker *w, char *err, size_t err_len)
{
	const struct eng_config *c = &w->e->cfg;
	unsigned clients = c->max_conns + ENG_REJECT_SLOTS;
	w->nsocks = clients + c->max_conns;
	w->socks = alloc_array(w->nsocks, sizeof(*w->socks));
	w->dirty = alloc_array(w->nsocks, sizeof(*w->dirty));
	w->sink_wait = alloc_array(w->nsocks, sizeof(*w->sink_wait));
	unsigned head_max = c->max_request_head > c->max_response_head
		? c->max_request_head : c->max_response_head;
	w->head_size = head_max + 1024;   /* room for Host, Via, Upgrade */
	w->heads = alloc_array(c->head_buffers, w->head_size);
	w->head_free_next = alloc_array(c->head_buffers, sizeof(uint32_t));
	w->head_ref = alloc_array(c->head_buffers, sizeof(uint8_t));
	w->xchgs = alloc_array(clients, sizeof(*w->xchgs));
	w->xchg_free_next = alloc_array(clients, sizeof(uint32_t));
	w->dns = alloc_array(ENG_DNS_CACHE_SLOTS, sizeof(*w->dns));
	w->resolves = alloc_array(ENG_RESOLVE_SLOTS, sizeof(*w->resolves));
	w->hdrs = alloc_array(c->max_headers, sizeof(*w->hdrs));
	if (!w->socks || !w->dirty || !w->sink_wait || !w->heads || !w->head_free_next || !w->head_ref || !w->xchgs ||
	    !w->xchg_free_next || !w->dns || !w->resolves || !w->hdrs) {
		snprintf(err, err_len, "out of memory for %u connections", c->max_conns);
		return -ENOMEM;
	}
	w->sock_free = ENG_NONE;
	w->socks_used = 0;
	w->head_free = ENG_NONE;
	for (unsigned i = c->head_buffers; i-- > 0;)
		eng_head_put(w, i);
	w->xchg_free = ENG_NONE;
	for (unsigned i = clients; i-- > 0;) {
		w->xchg_free_next[i] = w->xchg_free;
		w->xchg_free = i;
	}
	w->resolve_free = ENG_NONE;
	for (unsigned i = ENG_RESOLVE_SLOTS; i-- > 0;) {
		w->resolves[i].next_free = w->resolve_free;
		w->resolve_free = i;
	}
	for (unsigned i = 0; i < ENG_POOL_BUCKETS; i++)
		w->pool[i] = ENG_NONE;
	eng_timers_init(&w->timers, w->socks, sizeof(*w->socks), offsetof(struct eng_sock, tm));
	w->timers.ms[T_HEADER] = c->header_timeout_ms;
	w->timers.ms[T_IDLE] = c->idle_timeout_ms;
	w->timers.ms[T_CONNECT] = c->connect_timeout_ms;
	w->timers.ms[T_UPSTREAM] = c->upstream_timeout_ms;
	w->timers.ms[T_UP_IDLE] = c->upstream_idle_timeout_ms;
	w->timers.ms[T_LINGER] = ENG_LINGER_MS;
	return 0;
}

static int ring_init(struct eng_worker *w, char *err, size_t err_len)
{
	dispatch_init(w);
	return eng_ring_init(&w->ring, ENG_RING_ENTRIES, ENG_RING_ENTRIES * 8, err, err_len);
}

static int worker_init(struct eng_worker *w, char *err, size_t err_len)
{
	int rc = ring_init(w, err, err_len);
	if (rc < 0)
		return rc;
	rc = buf_ring_init(w, err, err_len);
	if (rc < 0)
		return rc;
	rc = pools_init(w, err, err_len);
	if (rc < 0)
		return rc;
	w->now_ms = now_ms_coarse();
	w->tick_ts.tv_sec = 0;
	w->tick_ts.tv_nsec = ENG_TICK_MS * 1000000LL;
	if (w->e->cfg.tls_mint) {
		rc = tls_leaf_cache_new(w->e->cfg.tls_mint, w->e->cfg.leaf_cache, &w->leaf_cache);
		if (rc < 0) {
			snprintf(err, err_len, "cannot make the leaf cache: %s", strerror(-rc));
			return rc;
		}
	}
	const struct eng_sink_ops *sink = w->e->cfg.sink;
	if (sink && sink->open)
		w->sink_ctx = sink->open(w->e->cfg.sink_arg, w->index);
	accept_arm(w);
	tick_arm(w);
	io_uring_submit(&w->ring.uring);
	return 0;
}

static void worker_free(struct eng_worker *w)
{
	eng_ring_exit(&w->ring);
	eng_bufs_free(&w->bufs);
	for (unsigned i = 0; w->socks && i < w->socks_used; i++)
		if (w->socks[i].tls)
			tls_conn_free(w->socks[i].tls);
	if (w->leaf_cache)
		tls_leaf_cache_free(w->leaf_cache);
	for (unsigned i = 0; w->socks && i < w->socks_used; i++)
		if (w->socks[i].fd >= 0)
			close(w->socks[i].fd);
	free_array(w->socks);
	free_array(w->dirty);
	free_array(w->sink_wait);
	free_array(w->heads);
	free_array(w->head_free_next);
	free_array(w->head_ref);
	free_array(w->xchgs);
	free_array(w->xchg_free_next);
	free_array(w->dns);
	free_array(w->resolves);
	free_array(w->hdrs);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
}

int eng_worker_spawn(struct eng_worker *w, int cpu, char *err, size_t err_len)
{
	struct spawn sp = { .w = w };
	pthread_mutex_init(&sp.mu, NULL);
	pthread_cond_init(&sp.cv, NULL);
	int rc = pthread_create(&w->thread, NULL, worker_main, &sp);
	if (rc != 0) {
		snprintf(err, err_len, "cannot start worker %u: %s", w->index, strerror(rc));
		return -rc;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_setaffinity_np(w->thread, sizeof(set), &set);
	}
	pthread_mutex_lock(&sp.mu);
	while (!sp.done)
		pthread_cond_wait(&sp.cv, &sp.mu);
	pthread_mutex_unlock(&sp.mu);
	pthread_mutex_destroy(&sp.mu);
	pthread_cond_destroy(&sp.cv);
	if (sp.rc < 0) {
		pthread_join(w->thread, NULL);
		w->thread = 0;
		snprintf(err, err_len, "worker %u: %s", w->index, sp.err);
	}
	return sp.rc;
}

void eng_worker_join(struct eng_worker *w)
{
	if (w->thread)
		pthread_join(w->thread, NULL);
	w->thread = 0;
}

void eng_worker_free(struct eng_worker *w)
{
	worker_free(w);
}
