/*
 * tools/replay/loop.c - one replay loop thread: its own ring (engine/ring.h:
 * provided buffers, multishot recv, batched submissions, bounded CQE
 * drains), its connection slots, llhttp for the answers, TLS over memory
 * through tls/.
 *
 * A slot runs one request at a time, in the order the source queued them
 * (the requests of one recorded connection, in order, on one connection):
 *   IDLE -connect-> CONNECTING -> [PROXY: CONNECT via --proxy] -> [TLS]
 *        -> READY -send-> BUSY -answer-> READY (keep-alive) or IDLE.
 * A request is popped from the thread's queue when it is due (timed modes)
 * or at once (closed loop); its latency counts from the due time, so a
 * slow target cannot hide the waiting it caused (no coordinated omission).
 *
 * Lifetimes: a slot's socket life is its gen (ring.h user_data); teardown
 * bumps it, shuts the socket down and closes it through the ring, and
 * completions of an old life only give their buffers back. A send in
 * flight pins the slot's send queue: the slot reconnects only after that
 * send's completion came back.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/seg.h"
#include "tls/tls.h"
#include "tools/replay/loop-int.h"

/* ---- completions ---- */

static struct rp_conn *live(struct rp_worker *w, union eng_udata u)
{
	if (u.f.slot >= w->nconn)
		return NULL;
	struct rp_conn *c = &w->c[u.f.slot];
	return c->gen == u.f.gen ? c : NULL;
}

static void cqe_connect(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct rp_worker *w = ctx;
	struct rp_conn *c = live(w, u);
	if (c == NULL || c->state != RP_C_CONNECTING)
		return;
	if (cqe->res < 0) {
		char m[RP_HOST_MAX + 160];
		snprintf(m, sizeof(m), "connect to %s:%u: %s", c->dest.host, c->dest.port,
			 strerror(-cqe->res));
		rp_conn_fail(c, RP_E_CONNECT, m);
	} else {
		rp_conn_connected(c);
	}
	rp_conn_mark(c);
}

static void cqe_recv(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct rp_worker *w = ctx;
	uint16_t bid = ENG_BUF_NONE;
	bool has_buf = eng_cqe_bid(cqe, &bid);
	if (has_buf)
		eng_bufs_take(&w->bufs, bid, cqe->res > 0 ? (uint32_t)cqe->res : 0);
	struct rp_conn *c = live(w, u);
	if (c != NULL) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			c->recv_armed = false;
		if (cqe->res > 0) {
			const char *p = eng_bufs_ptr(&w->bufs, bid);
			size_t n = (size_t)cqe->res;
			w->a->st.bytes_recv += n;
			c->wire_in += n;
			if (c->state == RP_C_PROXY)
				rp_answer_proxy(c, p, n);
			else if (c->tls)
				rp_answer_tls(c, p, n);
			else
				rp_answer_parse(c, p, n);
		} else if (cqe->res == 0) {
			if (c->tls)
				tls_conn_feed_eof(c->tls);
			rp_answer_eof(c, 0);
		} else if (cqe->res != -ENOBUFS) {
			rp_answer_eof(c, cqe->res);
		}
		if (c->fd >= 0 && !c->recv_armed && c->gen == u.f.gen) {
			struct io_uring_sqe *s = rp_sqe(w);
			eng_prep_recv_multishot(s, c->fd, w->bufs.bgid,
						eng_udata_pack(RP_OP_RECV, c->slot, c->gen));
			c->recv_armed = true;
		}
		rp_conn_mark(c);
	}
	if (has_buf)
		eng_bufs_unref(&w->bufs, bid);
}

static void cqe_send(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct rp_worker *w = ctx;
	if (u.f.slot >= w->nconn)
		return;
	struct rp_conn *c = &w->c[u.f.slot];
	c->send_busy = false;
	if (c->gen != u.f.gen) {
		eng_outq_drop(&w->bufs, &c->oq, false);   /* the life it belonged to is gone */
		rp_conn_unpark(c);
		rp_conn_mark(c);
		return;
	}
	if (cqe->res < 0) {
		eng_outq_drop(&w->bufs, &c->oq, false);
		rp_conn_unpark(c);
		if (c->state == RP_C_BUSY && c->reused && c->tries == 0) {
			c->tries = 1;
			w->a->st.retried++;
			rp_conn_teardown(c);
		} else {
			rp_conn_fail(c, RP_E_RESET, strerror(-cqe->res));
		}
		rp_conn_mark(c);
		return;
	}
	w->a->st.bytes_sent += (uint64_t)cqe->res;
	eng_outq_advance(&w->bufs, &c->oq, (size_t)cqe->res);
	if (c->oq.n == 0)
		rp_conn_unpark(c);
	rp_conn_tx(c);
}

static void cqe_close(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
}

static void cqe_write(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct rp_worker *w = ctx;
	w->io_busy = false;
	seg_writer_io_done(w->a->rec, cqe->res);
}

static void on_timeout(void *ctx, uint32_t i)
{
	struct rp_worker *w = ctx;
	struct rp_conn *c = &w->c[i];
	if (c->state == RP_C_IDLE || c->state == RP_C_READY)
		return;
	char m[96];
	snprintf(m, sizeof(m), "no %s within %llu ms", c->state == RP_C_BUSY ? "answer" : "connection",
		 (unsigned long long)w->cfg->timeout_ms);
	rp_conn_fail(c, RP_E_TIMEOUT, m);
	rp_conn_mark(c);
}

/* ---- the loop ---- */

/* Moves due requests from the source's queue to their slots. A slot whose
 * own queue is full holds the rest back (its requests must keep order).
 * Stopping, it drops them (counted unsent when the run was interrupted).
 * Returns ns until the next request is due (UINT64_MAX: none known). */
static uint64_t pull(struct rp_worker *w, bool stopping, bool count_unsent)
{
	const struct rp_item *it;
	while ((it = rp_queue_peek(w->q)) != NULL) {
		if (w->timed && w->a->t0_ns + it->due_ns > w->now + RC_RP_EARLY_NS)
			return w->a->t0_ns + it->due_ns - w->now - RC_RP_EARLY_NS;
		struct rp_conn *c = &w->c[it->slot / w->a->threads];
		if (c->qn == RC_RP_SLOT_QUEUE && !stopping)
			return UINT64_MAX;
		struct rp_item x;
		rp_queue_pop(w->q, &x);
		if (stopping) {
			if (count_unsent)
				w->a->st.unsent++;   /* interrupted; read ahead past --duration is not */
			rp_source_release(w->a->src, x.req->len);
			if (!w->owned)
				rp_req_free(x.req);
			continue;
		}
		c->q[(c->qh + c->qn) % RC_RP_SLOT_QUEUE] = x;
		c->qn++;
		rp_conn_mark(c);
	}
	return UINT64_MAX;
}

static bool busy(const struct rp_worker *w)
{
	for (unsigned i = 0; i < w->nconn; i++) {
		const struct rp_conn *c = &w->c[i];
		if (c->has_cur || c->qn > 0)
			return true;
	}
	return false;
}

static void record_io(struct rp_worker *w)
{
	if (w->a->rec == NULL || w->io_busy)
		return;
	uint64_t ms = eng_clock_ms();
	if (ms - w->tick_ms >= 50u) {
		w->tick_ms = ms;
		seg_writer_tick(w->a->rec, rp_wall_ns());
	}
	const struct seg_io *io = seg_writer_next_io(w->a->rec);
	if (io == NULL)
		return;
	struct io_uring_sqe *s = rp_sqe(w);
	if (io->path)
		io_uring_prep_openat(s, AT_FDCWD, io->path, io->open_flags, (mode_t)io->open_mode);
	else if (io->fsync)
		io_uring_prep_fsync(s, io->fd, 0);
	else
		io_uring_prep_write(s, io->fd, io->buf, io->len, io->off);
	io_uring_sqe_set_data64(s, eng_udata_pack(RP_OP_WRITE, 0, 0));
	w->io_busy = true;
}

/* Drops what the slots still hold when the run is cut (second Ctrl-C). */
static void abandon(struct rp_worker *w)
{
	for (unsigned i = 0; i < w->nconn; i++) {
		struct rp_conn *c = &w->c[i];
		if (c->has_cur) {
			w->a->st.unanswered++;
			if (c->x) {
				rp_conn_record_end(c, SEG_E_CLIENT_CLOSED, "replay interrupted");
			}
			rp_conn_release(c);
		}
		while (c->qn > 0) {
			struct rp_item *x = &c->q[c->qh];
			rp_source_release(w->a->src, x->req->len);
			if (!w->owned)
				rp_req_free(x->req);
			c->qh = (c->qh + 1u) % RC_RP_SLOT_QUEUE;
			c->qn--;
			w->a->st.unsent++;
		}
		rp_conn_teardown(c);
	}
}

static void turn(struct rp_worker *w, uint64_t wait_ns)
{
	eng_bufs_publish(&w->bufs);
	struct __kernel_timespec ts = { (long long)(wait_ns / 1000000000u),
					(long long)(wait_ns % 1000000000u) };
	struct io_uring_cqe *cqe = NULL;
	int rc = io_uring_submit_and_wait_timeout(&w->ring.uring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
		fprintf(stderr, "ringcap replay: io_uring wait: %s\n", strerror(-rc));
		abort();
	}
	/* bounded: a flood of completions still leaves room for timers and kicks */
	for (unsigned b = 0; b < 4u; b++)
		if (eng_ring_drain(&w->ring, &w->d, RC_RP_CQE_BATCH) < RC_RP_CQE_BATCH)
			break;
	w->now = rp_mono_ns();
	eng_timers_expire(&w->timers, eng_clock_ms(), 1024u, on_timeout, w);
	/* A stack: a slot is on it at most once, so it never outgrows nconn. A
	 * kick that fails at once (no name, no socket) marks its slot again to
	 * move to the next request: bounded by the requests the slots hold. */
	size_t guard = (size_t)w->nconn * (RC_RP_SLOT_QUEUE + 2u);
	while (w->ndirty > 0 && guard-- > 0) {
		struct rp_conn *c = &w->c[w->dirty[--w->ndirty]];
		c->dirty = false;
		rp_conn_kick(c);
	}
	record_io(w);
}

static void run(struct rp_worker *w)
{
	const struct rp_sched *sc = &w->cfg->src.sched;
	bool ended = false;   /* closed loop: --duration passed (not an interruption) */
	for (;;) {
		int stop = atomic_load(w->a->stop);
		if (stop >= 2)
			break;
		w->now = rp_mono_ns();
		if (!w->timed && sc->duration_ns && w->now - w->a->t0_ns >= sc->duration_ns) {
			if (!ended)
				rp_source_stop(w->a->src);
			ended = true;
		}
		if (ended && stop == 0)
			stop = 1;
		uint64_t next = pull(w, stop != 0, !ended);
		if (stop && !busy(w))
			break;
		if (!stop && rp_source_done(w->a->src) && rp_queue_peek(w->q) == NULL && !busy(w))
			break;
		uint64_t wait = next < 2000000u ? next : 2000000u;   /* 2 ms: timers, stop, source */
		if (w->ndirty)
			wait = 0;
		turn(w, wait);
	}
	if (atomic_load(w->a->stop) >= 2)
		abandon(w);
}

static int setup(struct rp_worker *w)
{
	struct rp_loop_args *a = w->a;
	unsigned slots = rp_source_slots(a->src);
	w->nconn = slots > a->index ? (slots - a->index + a->threads - 1u) / a->threads : 0;
	int rc = eng_ring_init(&w->ring, RC_RP_RING_ENTRIES, 0, a->err, sizeof(a->err));
	if (rc < 0)
		return rc;
	rc = eng_bufs_init(&w->bufs, &w->ring, RC_RP_RECV_BUFS, RC_RP_RECV_BUF,
			   w->nconn * 4u + 64u < 60000u ? w->nconn * 4u + 64u : 60000u, 1,
			   a->err, sizeof(a->err));
	if (rc < 0)
		return rc;
	w->c = eng_array_alloc(w->nconn ? w->nconn : 1u, sizeof(*w->c));
	w->dirty = calloc(w->nconn + 1u, sizeof(*w->dirty));
	if (w->c == NULL || w->dirty == NULL) {
		snprintf(a->err, sizeof(a->err), "no memory for %u connections", w->nconn);
		return -ENOMEM;
	}
	eng_timers_init(&w->timers, w->c, sizeof(*w->c), offsetof(struct rp_conn, tm));
	w->timers.ms[1] = w->cfg->timeout_ms;
	for (unsigned i = 0; i < w->nconn; i++) {
		struct rp_conn *c = &w->c[i];
		c->w = w;
		c->slot = i;
		c->fd = -1;
		eng_timer_clear(&c->tm);
		if (a->rec && (c->rh = malloc(RP_REC_HEAD_MAX)) == NULL)
			return -ENOMEM;
	}
	w->d.ctx = w;
	w->d.fn[RP_OP_CONNECT] = cqe_connect;
	w->d.fn[RP_OP_RECV] = cqe_recv;
	w->d.fn[RP_OP_SEND] = cqe_send;
	w->d.fn[RP_OP_CLOSE] = cqe_close;
	w->d.fn[RP_OP_WRITE] = cqe_write;
	return 0;
}

static void cleanup(struct rp_worker *w)
{
	for (unsigned i = 0; w->c && i < w->nconn; i++) {
		rp_conn_teardown(&w->c[i]);
		free(w->c[i].rh);
	}
	/* the last sends, closes and the store's writes come back before the ring goes */
	for (unsigned k = 0; k < 200u && w->ring.up; k++) {
		bool pending = w->io_busy;
		for (unsigned i = 0; !pending && w->c && i < w->nconn; i++)
			pending = w->c[i].send_busy;
		if (!pending)
			break;
		turn(w, 10000000u);
	}
	if (w->a->rec && !w->io_busy)
		seg_writer_flush_sync(w->a->rec);
	for (unsigned i = 0; w->c && i < w->nconn; i++)
		if (!w->c[i].send_busy)
			rp_conn_unpark(&w->c[i]);   /* a send still out after the wait: leaked, not freed early */
	if (w->c)
		eng_array_free(w->c);
	free(w->dirty);
	eng_bufs_free(&w->bufs);
	eng_ring_exit(&w->ring);
}

void *rp_loop_main(void *arg)
{
	struct rp_loop_args *a = arg;
	struct rp_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		a->rc = -ENOMEM;
		return NULL;
	}
	w->a = a;
	w->cfg = a->cfg;
	w->q = rp_source_queue(a->src, a->index);
	w->timed = rp_sched_timed(&a->cfg->src.sched);
	w->owned = rp_source_owns(a->src);
	a->rc = setup(w);
	for (uint64_t now = rp_mono_ns(); a->rc == 0 && now < a->t0_ns; now = rp_mono_ns()) {
		struct timespec ts = { 0, (long)(a->t0_ns - now) };
		nanosleep(&ts, NULL);   /* every thread starts the schedule at t0 */
	}
	if (a->rc == 0)
		run(w);
	else
		atomic_store(a->stop, 2);
	cleanup(w);
	free(w);
	return NULL;
}
