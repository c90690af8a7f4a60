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
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"
#include "engine/eng-int.h"

#define TIMERS_PER_TICK 4096u

/* liburing 2.3's copy of the uapi header predates these (Linux 6.2). */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

static void *worker_main(void *arg);
static int worker_init(struct eng_worker *w, char *err, size_t err_len);
static void worker_free(struct eng_worker *w);
static void handle_cqe(struct eng_worker *w, struct io_uring_cqe *cqe);
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
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- SQEs ---- */

/* Never fails: a full submission queue is submitted first. */
struct io_uring_sqe *eng_sqe(struct eng_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	for (int i = 0; sqe == NULL && i < 16; i++) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	if (sqe == NULL) {
		fprintf(stderr, "ringcap: worker %u: submission queue stuck\n", w->index);
		abort();
	}
	return sqe;
}

/* ---- timers ---- */

static void timer_unlink(struct eng_worker *w, struct eng_sock *s)
{
	enum eng_tclass c = s->t_class;
	if (c == T_NONE)
		return;
	if (s->t_prev != ENG_NONE)
		w->socks[s->t_prev].t_next = s->t_next;
	else
		w->t_head[c] = s->t_next;
	if (s->t_next != ENG_NONE)
		w->socks[s->t_next].t_prev = s->t_prev;
	else
		w->t_tail[c] = s->t_prev;
	s->t_prev = s->t_next = ENG_NONE;
	s->t_class = T_NONE;
}

void eng_timer_arm(struct eng_worker *w, struct eng_sock *s, enum eng_tclass c)
{
	timer_unlink(w, s);
	uint32_t slot = eng_slot(w, s);
	s->t_class = (uint8_t)c;
	s->t_deadline_ms = w->now_ms + w->t_ms[c];
	s->t_prev = w->t_tail[c];
	s->t_next = ENG_NONE;
	if (w->t_tail[c] != ENG_NONE)
		w->socks[w->t_tail[c]].t_next = slot;
	else
		w->t_head[c] = slot;
	w->t_tail[c] = slot;
}

void eng_timer_stop(struct eng_worker *w, struct eng_sock *s)
{
	timer_unlink(w, s);
}

static void timers_run(struct eng_worker *w)
{
	for (int c = T_HEADER; c < T_COUNT; c++) {
		for (unsigned n = 0; n < TIMERS_PER_TICK; n++) {
			uint32_t slot = w->t_head[c];
			if (slot == ENG_NONE || w->socks[slot].t_deadline_ms > w->now_ms)
				break;
			struct eng_sock *s = &w->socks[slot];
			timer_unlink(w, s);
			px_timeout(w, s);
		}
	}
}

static void tick_arm(struct eng_worker *w)
{
	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_timeout(sqe, &w->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, udata(OP_TICK, 0, 0));
}

/* ---- provided buffers ---- */

/* Buffer ids [0, buf_count) are the kernel's provided buffers; ids from
 * buf_count on are private buffers (plaintext and ciphertext of TLS
 * connections), never handed to the kernel's ring. */
char *eng_buf_ptr(struct eng_worker *w, uint16_t bid)
{
	unsigned n = w->e->cfg.buf_count;
	if (bid < n)
		return w->bufs + (size_t)bid * w->e->cfg.buf_size;
	return w->pbufs + (size_t)(bid - n) * w->e->cfg.buf_size;
}
#define buf_ptr eng_buf_ptr

/* A private buffer with one reference, or UINT16_MAX when none is free. */
uint16_t eng_pbuf_get(struct eng_worker *w)
{
	uint16_t bid = w->pbuf_free;
	if (bid == UINT16_MAX)
		return bid;
	w->pbuf_free = w->buf_next[bid];
	w->buf_ref[bid] = 1;
	w->buf_next[bid] = UINT16_MAX;
	return bid;
}

void eng_buf_unref(struct eng_worker *w, uint16_t bid)
{
	if (--w->buf_ref[bid] > 0)
		return;
	if (bid >= w->e->cfg.buf_count) {
		w->buf_next[bid] = w->pbuf_free;
		w->pbuf_free = bid;
		return;
	}
	io_uring_buf_ring_add(w->br, buf_ptr(w, bid), w->e->cfg.buf_size, bid,
			      (int)w->buf_mask, (int)w->buf_returned++);
	w->bufs_out--;
}

static void bufs_publish(struct eng_worker *w)
{
	if (w->buf_returned == 0)
		return;
	io_uring_buf_ring_advance(w->br, (int)w->buf_returned);
	w->buf_returned = 0;
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

void eng_bufq_push(struct eng_worker *w, struct eng_bufq *q, uint16_t bid, uint32_t len)
{
	w->buf_len[bid] = len;
	w->buf_ref[bid] = 1;
	w->buf_next[bid] = UINT16_MAX;
	if (bid < w->e->cfg.buf_count)
		w->bufs_out++;
	if (q->count == 0) {
		q->head = bid;
		q->off = 0;
	} else {
		w->buf_next[q->tail] = bid;
	}
	q->tail = bid;
	q->count++;
}

size_t eng_in_peek(struct eng_worker *w, struct eng_sock *s, const char **p)
{
	if (s->in.count == 0 && s->tls)
		eng_tls_open(w, s);
	if (s->in.count == 0)
		return 0;
	*p = buf_ptr(w, s->in.head) + s->in.off;
	return w->buf_len[s->in.head] - s->in.off;
}

void eng_in_consume(struct eng_worker *w, struct eng_sock *s, size_t n)
{
	s->in.off += (uint32_t)n;
	if (s->in.off < w->buf_len[s->in.head])
		return;
	uint16_t bid = s->in.head;
	s->in.head = w->buf_next[bid];
	s->in.off = 0;
	s->in.count--;
	eng_buf_unref(w, bid);
	if ((s->flags & SF_PAUSED) && s->in.count + s->cin.count <= ENG_IN_BUFS_MAX / 2) {
		s->flags &= (uint32_t)~SF_PAUSED;
		eng_recv_arm(w, s);
	}
}

static void bufq_clear(struct eng_worker *w, struct eng_bufq *q)
{
	while (q->count > 0) {
		uint16_t bid = q->head;
		q->head = w->buf_next[bid];
		q->count--;
		eng_buf_unref(w, bid);
	}
	q->off = 0;
}

static void in_clear(struct eng_worker *w, struct eng_sock *s)
{
	bufq_clear(w, &s->in);
	bufq_clear(w, &s->cin);
}

/* ---- output queue ---- */

/* A TLS socket seals what is pushed at once; it is full while a pushed
 * segment still waits to be sealed or half its wire queue is taken. */
bool eng_out_full(const struct eng_sock *s)
{
	if (s->tls)
		return s->tls_pend.len > 0 || s->out_n >= ENG_OUT_SEGS / 2;
	return s->out_n == ENG_OUT_SEGS;
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
	/* every caller checks eng_out_full first: a full ring here is our bug */
	assert(s->out_n < ENG_OUT_SEGS);
	struct eng_seg *g = &s->out[(s->out_head + s->out_n) % ENG_OUT_SEGS];
	g->p = p;
	g->len = len;
	g->id = id;
	g->kind = kind;
	s->out_n++;
	s->seg_pushed++;
}

/* Takes back the queued segments pushed since ordinal `from` (a value of
 * s->seg_pushed), if none of their bytes has gone to the kernel yet. */
bool eng_out_unpush(struct eng_worker *w, struct eng_sock *s, uint32_t from)
{
	uint32_t first = s->seg_pushed - s->out_n;   /* ordinal of out[out_head] */
	if (from < first || from > s->seg_pushed)
		return false;
	unsigned idx = from - first;
	if ((s->flags & SF_SENDING) && idx < s->send_n)
		return false;
	if (idx == 0 && s->out_partial)
		return false;
	while (s->out_n > idx) {
		eng_seg_release(w, &s->out[(s->out_head + s->out_n - 1) % ENG_OUT_SEGS]);
		s->out_n--;
		s->seg_pushed--;
	}
	return true;
}

void eng_out_forward(struct eng_worker *w, struct eng_sock *to, struct eng_sock *from, size_t n)
{
	const char *p;
	size_t avail = eng_in_peek(w, from, &p);
	if (n > avail)
		n = avail;
	w->buf_ref[from->in.head]++;
	eng_out_push(w, to, SEG_BUF, from->in.head, p, (uint32_t)n);
	eng_in_consume(w, from, n);
}

void eng_seg_release(struct eng_worker *w, struct eng_seg *g)
{
	if (g->kind == SEG_BUF)
		eng_buf_unref(w, g->id);
	else if (g->kind == SEG_HEAD)
		eng_head_put(w, g->id);
	g->kind = SEG_CONST;
	g->len = 0;
}

/* Releases the first `n` bytes of the queue (sent). */
static void out_advance(struct eng_worker *w, struct eng_sock *s, size_t n)
{
	while (n > 0 && s->out_n > 0) {
		struct eng_seg *g = &s->out[s->out_head];
		if (n < g->len) {
			g->p += n;
			g->len -= (uint32_t)n;
			s->out_partial = 1;
			return;
		}
		n -= g->len;
		s->out_partial = 0;
		eng_seg_release(w, g);
		s->out_head = (uint8_t)((s->out_head + 1) % ENG_OUT_SEGS);
		s->out_n--;
	}
	while (s->out_n > 0 && s->out[s->out_head].len == 0) {
		eng_seg_release(w, &s->out[s->out_head]);
		s->out_head = (uint8_t)((s->out_head + 1) % ENG_OUT_SEGS);
		s->out_n--;
	}
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
	if ((s->flags & (SF_SENDING | SF_CLOSING | SF_DIRTY)) || (s->out_n == 0 && !eng_tls_has_out(s)))
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
	if ((s->flags & (SF_SENDING | SF_CLOSING)) || s->out_n == 0)
		return;
	uint32_t bytes = 0;
	unsigned n = 0;
	for (; n < s->out_n; n++) {
		struct eng_seg *g = &s->out[(s->out_head + n) % ENG_OUT_SEGS];
		s->iov[n].iov_base = (void *)g->p;
		s->iov[n].iov_len = g->len;
		bytes += g->len;
	}
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.msg_iov = s->iov;
	s->msg.msg_iovlen = n;
	s->send_n = (uint8_t)n;
	s->send_bytes = bytes;
	struct io_uring_sqe *sqe = eng_sqe(w);
	unsigned zc = w->e->cfg.zc_threshold;
	if (zc && bytes >= zc) {
		io_uring_prep_sendmsg_zc(sqe, s->fd, &s->msg, MSG_NOSIGNAL);
		sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
		s->flags |= SF_ZC;
		w->c.zc_sends++;
	} else {
		io_uring_prep_sendmsg(sqe, s->fd, &s->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, udata(OP_SEND, eng_slot(w, s), s->gen));
	s->flags |= SF_SENDING;
	s->ops++;
}

static void send_done(struct eng_worker *w, struct eng_sock *s, struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* zero-copy: the kernel let go of the buffers only now; the
		 * result came in the first CQE (SF_ZC_FAILED on error) */
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
			w->c.zc_copied++;
		res = (s->flags & SF_ZC_FAILED) ? -EPIPE : (int)s->send_bytes;
		s->flags &= (uint32_t)~(SF_ZC | SF_ZC_NOTIF | SF_SENDING | SF_ZC_FAILED);
		s->ops--;
		if (res > 0)
			out_advance(w, s, (size_t)res);
	} else if (cqe->flags & IORING_CQE_F_MORE) {
		s->flags |= SF_ZC_NOTIF;
		s->send_bytes = res > 0 ? (uint32_t)res : 0;
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
	if (s->out_n > 0 || eng_tls_has_out(s)) {
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
	struct io_uring_sqe *sqe = eng_sqe(w);
	io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, udata(OP_RECV, eng_slot(w, s), s->gen));
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

static void recv_done(struct eng_worker *w, struct eng_sock *s, struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (!more) {
		s->flags &= (uint32_t)~(SF_RECV | SF_CANCELING);
		s->ops--;
	}
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (res <= 0 || (s->flags & SF_CLOSING)) {
			w->buf_ref[bid] = 1;
			w->bufs_out++;
			eng_buf_unref(w, bid);
		} else if (s->tls) {
			eng_bufq_push(w, &s->cin, bid, (uint32_t)res);
		} else {
			eng_bufq_push(w, &s->in, bid, (uint32_t)res);
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
	return (uint64_t)w->bufs_out * 4u > (uint64_t)w->e->cfg.buf_count * 3u;
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
	s->t_prev = s->t_next = ENG_NONE;
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
	while (s->out_n > ((s->flags & SF_SENDING) ? s->send_n : 0)) {
		struct eng_seg *g = &s->out[(s->out_head + s->out_n - 1) % ENG_OUT_SEGS];
		eng_seg_release(w, g);
		s->out_n--;
	}
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
	if (s->out_n > 0 || eng_tls_has_out(s) || (s->flags & SF_SENDING)) {
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
	if (s->out_n > 0)
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
		eng_seg_release(w, &s->tls_pend);
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

static void accept_done(struct eng_worker *w, struct io_uring_cqe *cqe)
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

/* ---- dispatch ---- */

static void handle_cqe(struct eng_worker *w, struct io_uring_cqe *cqe)
{
	uint64_t u = io_uring_cqe_get_data64(cqe);
	enum eng_op op = udata_op(u);
	uint32_t slot = udata_slot(u);
	struct eng_sock *s = slot < w->nsocks ? &w->socks[slot] : NULL;
	bool stale = s == NULL || s->gen != udata_gen(u);

	switch (op) {
	case OP_ACCEPT:
		accept_done(w, cqe);
		return;
	case OP_SINK_IO:
		w->sink_io_busy = false;
		if (w->e->cfg.sink->io_done)
			w->e->cfg.sink->io_done(w->sink_ctx, cqe->res);
		sink_io(w);
		px_sink_wake(w);
		return;
	case OP_TICK:
		w->now_ms = now_ms_coarse();
		timers_run(w);
		if (w->e->cfg.sink && w->e->cfg.sink->tick)
			w->e->cfg.sink->tick(w->sink_ctx, eng_wall_ns());
		if (!w->accepting && !w->draining)
			accept_arm(w);
		tick_arm(w);
		return;
	case OP_RESOLVED:
		if (slot < ENG_RESOLVE_SLOTS)
			px_resolved(w, &w->resolves[slot]);
		return;
	case OP_CANCEL:
	case OP_CLOSE_RAW:
		return;
	default:
		break;
	}
	if (stale) {
		/* cannot happen while slots wait for ops == 0; never trusted */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			w->buf_ref[bid] = 1;
			w->bufs_out++;
			eng_buf_unref(w, bid);
		}
		return;
	}
	switch (op) {
	case OP_RECV:
		recv_done(w, s, cqe);
		break;
	case OP_SEND:
		send_done(w, s, cqe);
		break;
	case OP_CONNECT:
		s->ops--;
		if (!(s->flags & SF_CLOSING))
			px_connected(w, s, cqe->res);
		break;
	case OP_CLOSE:
		s->ops--;
		break;
	default:
		break;
	}
	maybe_free(w, s);
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
		if (io_uring_wait_cqe_timeout(&w->ring, &cqe, &ts) < 0)
			continue;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			if (udata_op(io_uring_cqe_get_data64(cqe)) == OP_SINK_IO) {
				w->sink_io_busy = false;
				if (w->e->cfg.sink->io_done)
					w->e->cfg.sink->io_done(w->sink_ctx, cqe->res);
			}
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
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
			io_uring_submit(&w->ring);   /* the listener close, at least */
			sink_io_wait(w);
			break;
		}
		flush_dirty(w);
		sink_io(w);
		io_uring_submit_and_wait(&w->ring, 1);
		w->now_ms = now_ms_coarse();
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			handle_cqe(w, cqe);
			if (++n == ENG_CQE_BATCH)
				break;
		}
		io_uring_cq_advance(&w->ring, n);
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
 * under MALLOC_PERTURB_, costing seconds and all the memory up front).
 * The mapping's length sits in a header in front of the array. */
#define ARRAY_HDR 64u
static void *alloc_array(size_t n, size_t size)
{
	size_t len = ARRAY_HDR + n * size;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*(size_t *)p = len;
	return p + ARRAY_HDR;
}

static void free_array(void *a)
{
	if (a == NULL)
		return;
	char *p = (char *)a - ARRAY_HDR;
	munmap(p, *(size_t *)p);
}

static int buf_ring_init(struct eng_worker *w, char *err, size_t err_len)
{
	const struct eng_config *c = &w->e->cfg;
	w->br_size = (size_t)c->buf_count * sizeof(struct io_uring_buf);
	void *ring = mmap(NULL, w->br_size, PROT_READ | PROT_WRITE,
			  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (ring == MAP_FAILED) {
		snprintf(err, err_len, "cannot map the buffer ring: %s", strerror(errno));
		return -errno;
	}
	w->br = ring;
	io_uring_buf_ring_init(w->br);
	/* liburing 2.3 has no io_uring_setup_buf_ring: register by hand */
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)ring,
		.ring_entries = c->buf_count,
		.bgid = 0,
	};
	int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0) {
		snprintf(err, err_len, "kernel refused a provided-buffer ring "
			 "(IORING_REGISTER_PBUF_RING, Linux 5.19+): %s", strerror(-rc));
		return rc;
	}
	w->bufs = mmap(NULL, (size_t)c->buf_count * c->buf_size, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (w->bufs == MAP_FAILED) {
		w->bufs = NULL;
		snprintf(err, err_len, "cannot map %u receive buffers of %u bytes",
			 c->buf_count, c->buf_size);
		return -ENOMEM;
	}
	w->buf_mask = (unsigned)io_uring_buf_ring_mask(c->buf_count);
	unsigned total = c->buf_count + c->tls_buffers;
	w->buf_next = alloc_array(total, sizeof(*w->buf_next));
	w->buf_ref = alloc_array(total, sizeof(*w->buf_ref));
	w->buf_len = alloc_array(total, sizeof(*w->buf_len));
	if (!w->buf_next || !w->buf_ref || !w->buf_len)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	w->pbuf_free = UINT16_MAX;
	if (c->tls_buffers) {
		w->pbufs = mmap(NULL, (size_t)c->tls_buffers * c->buf_size, PROT_READ | PROT_WRITE,
				MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
		if (w->pbufs == MAP_FAILED) {
			w->pbufs = NULL;
			return snprintf(err, err_len, "cannot map %u TLS buffers", c->tls_buffers),
			       -ENOMEM;
		}
		for (unsigned i = total; i-- > c->buf_count;) {
			w->buf_next[i] = w->pbuf_free;
			w->pbuf_free = (uint16_t)i;
		}
	}
	for (unsigned i = 0; i < c->buf_count; i++)
		io_uring_buf_ring_add(w->br, buf_ptr(w, (uint16_t)i), c->buf_size,
				      (unsigned short)i, (int)w->buf_mask, (int)i);
	io_uring_buf_ring_advance(w->br, (int)c->buf_count);
	return 0;
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
	for (int i = 0; i < T_COUNT; i++)
		w->t_head[i] = w->t_tail[i] = ENG_NONE;
	w->t_ms[T_HEADER] = c->header_timeout_ms;
	w->t_ms[T_IDLE] = c->idle_timeout_ms;
	w->t_ms[T_CONNECT] = c->connect_timeout_ms;
	w->t_ms[T_UPSTREAM] = c->upstream_timeout_ms;
	w->t_ms[T_UP_IDLE] = c->upstream_idle_timeout_ms;
	w->t_ms[T_LINGER] = ENG_LINGER_MS;
	return 0;
}

static int ring_init(struct eng_worker *w, char *err, size_t err_len)
{
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = ENG_RING_ENTRIES * 8;
	int rc = io_uring_queue_init_params(ENG_RING_ENTRIES, &w->ring, &p);
	if (rc < 0) {
		snprintf(err, err_len, "io_uring set-up with SINGLE_ISSUER|DEFER_TASKRUN "
			 "failed (needs Linux 6.1+): %s", strerror(-rc));
		return rc;
	}
	if (!(p.features & IORING_FEAT_NODROP)) {
		snprintf(err, err_len, "kernel lacks IORING_FEAT_NODROP (Linux 5.5+)");
		return -ENOSYS;
	}
	return 0;
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
	io_uring_submit(&w->ring);
	return 0;
}

static void worker_free(struct eng_worker *w)
{
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	if (w->br)
		munmap(w->br, w->br_size);
	if (w->bufs)
		munmap(w->bufs, (size_t)w->e->cfg.buf_count * w->e->cfg.buf_size);
	if (w->pbufs)
		munmap(w->pbufs, (size_t)w->e->cfg.tls_buffers * w->e->cfg.buf_size);
	for (unsigned i = 0; w->socks && i < w->socks_used; i++)
		if (w->socks[i].tls)
			tls_conn_free(w->socks[i].tls);
	if (w->leaf_cache)
		tls_leaf_cache_free(w->leaf_cache);
	for (unsigned i = 0; w->socks && i < w->socks_used; i++)
		if (w->socks[i].fd >= 0)
			close(w->socks[i].fd);
	free_array(w->buf_next);
	free_array(w->buf_ref);
	free_array(w->buf_len);
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
