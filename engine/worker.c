/*
 * engine/worker.c - thread-per-core io_uring workers: start-up (ring,
 * buffer ring, pools, all sized here and never grown), the completion loop
 * and its op -> handler table, accept, the tick, the capture sink's writes,
 * shutdown. Sockets live in engine/sock.c; the protocol is reached only
 * through w->proto (struct eng_proto_ops), so this file calls no px_*.
 *
 * Invariants: every loop is bounded (ENG_CQE_BATCH completions per wait,
 * 50 waits at shutdown); one sink write is in flight at most; a worker's
 * ring is created and used by its own thread only (SINGLE_ISSUER).
 */
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
#include "engine/sock.h"
#include "rc-assert.h"

static void *worker_main(void *arg);
static int worker_init(struct eng_worker *w, char *err, size_t err_len);
static void worker_free(struct eng_worker *w);
static void sink_io(struct eng_worker *w);

static uint64_t now_ms_coarse(void)
{
	return eng_clock_ms();
}

static void tick_arm(struct eng_worker *w)
{
	eng_prep_tick(eng_sqe(w), &w->tick_ts, udata(OP_TICK, 0, 0));
}

/* Buffer ids [0, buf_count) are the kernel's provided buffers; ids from
 * buf_count on are private buffers (plaintext and ciphertext of TLS
 * connections), never handed to the kernel's ring (engine/ring.h). */
#define buf_ptr eng_buf_ptr

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
		ENG_COUNT(w->c.conns_accepted, 1);
		struct eng_sock *s = eng_sock_new(w, fd, ROLE_CLIENT);
		if (s == NULL) {
			ENG_COUNT(w->c.conns_rejected, 1);
			struct io_uring_sqe *sqe = eng_sqe(w);
			io_uring_prep_close(sqe, fd);
			io_uring_sqe_set_data64(sqe, udata(OP_CLOSE_RAW, 0, 0));
		} else {
			w->proto->accepted(w, s);
		}
	}
	/* EMFILE/ENFILE: the next tick re-arms, so accept backs off without
	 * spinning; any other end of the multishot re-arms at once. */
	if (!more && !w->draining && cqe->res != -EMFILE && cqe->res != -ENFILE)
		accept_arm(w);
}

/* The check at the top of the worker's own completion handlers: their
 * user_data names no socket (slot 0, generation 0). Anything else is our
 * bug; release builds drop the completion. */
static bool worker_udata(union eng_udata u)
{
	if (NEVER(u.f.slot != 0))
		return false;
	return !NEVER(u.f.gen != 0);
}

static void on_accept(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	if (!worker_udata(u))
		return;
	accept_done(ctx, cqe);
}

static void on_sink_io(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	if (!worker_udata(u))
		return;
	ASSERT(w->sink_io_busy);
	w->sink_io_busy = false;
	if (w->e->cfg.sink->io_done)
		w->e->cfg.sink->io_done(w->sink_ctx, cqe->res);
	sink_io(w);
	w->proto->sink_wake(w);
}

static void on_tick(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	if (!worker_udata(u))
		return;
	w->now_ms = now_ms_coarse();
	eng_timers_run(w);
	if (w->e->cfg.sink && w->e->cfg.sink->tick)
		w->e->cfg.sink->tick(w->sink_ctx, eng_wall_ns());
	if (!w->accepting && !w->draining)
		accept_arm(w);
	tick_arm(w);
}

static void on_resolved(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct eng_worker *w = ctx;
	/* the slot is the look-up's; its socket's generation is checked by
	 * proto->resolved against the one the look-up was made for */
	if (NEVER(u.f.slot >= ENG_RESOLVE_SLOTS))
		return;
	if (NEVER(u.f.gen != 0))
		return;
	w->proto->resolved(w, &w->resolves[u.f.slot]);
}

/* Cancels and raw closes: nothing waits for their result. */
static void on_ignored(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	(void)worker_udata(u);
}

static void dispatch_init(struct eng_worker *w)
{
	struct eng_dispatch *d = &w->dispatch;
	memset(d, 0, sizeof(*d));
	d->ctx = w;
	d->fn[OP_ACCEPT] = on_accept;
	d->fn[OP_RECV] = eng_sock_on_recv;
	d->fn[OP_SEND] = eng_sock_on_send;
	d->fn[OP_CONNECT] = eng_sock_on_connect;
	d->fn[OP_CLOSE] = eng_sock_on_close;
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
	if (io.path)
		io_uring_prep_openat(sqe, AT_FDCWD, io.path, io.open_flags, (mode_t)io.open_mode);
	else if (io.fsync)
		io_uring_prep_fsync(sqe, io.fd, IORING_FSYNC_DATASYNC);
	else
		io_uring_prep_write(sqe, io.fd, io.buf, io.len, io.off);
	io_uring_sqe_set_data64(sqe, udata(OP_SINK_IO, 0, 0));
	w->sink_io_busy = true;
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
			w->proto->drain(w);
		}
		if (w->draining && ((w->clients == 0 && w->upstreams == 0) ||
				    w->now_ms >= w->drain_deadline_ms)) {
			io_uring_submit(&w->ring.uring);   /* the listener close, at least */
			sink_io_wait(w);
			break;
		}
		eng_flush_dirty(w);
		sink_io(w);
		io_uring_submit_and_wait(&w->ring.uring, 1);
		w->now_ms = now_ms_coarse();
		eng_ring_drain(&w->ring, &w->dispatch, ENG_CQE_BATCH);
		eng_sock_bufs_publish(w);
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

/* Start-up arrays are mapped, not calloc'd: fresh zero pages are touched
 * only where connections actually are (calloc would clear them itself
 * under MALLOC_PERTURB_, costing seconds and all the memory up front). */
#define alloc_array eng_array_alloc
#define free_array eng_array_free

static void seg_user_release(void *arg, struct eng_seg *g)
{
	eng_head_put(arg, g->id);   /* ENG_SEG_HEAD: the only user kind */
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
	w->sync_wait = alloc_array(w->nsocks, sizeof(*w->sync_wait));
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
	if (!w->socks || !w->dirty || !w->sink_wait || !w->sync_wait || !w->heads || !w->head_free_next || !w->head_ref || !w->xchgs ||
	    !w->xchg_free_next || !w->dns || !w->resolves || !w->hdrs) {
		snprintf(err, err_len, "out of memory for %u connections", c->max_conns);
		return -ENOMEM;
	}
	w->sock_free = ENG_NONE;
	w->socks_used = 0;
	w->head_free = ENG_NONE;
	for (unsigned i = c->head_buffers; i-- > 0;) {
		w->head_free_next[i] = w->head_free;
		w->head_free = i;
	}
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

/* TLS connection states and ciphertext buffers, allocated here once: a
 * state for every socket slot (each socket has at most one TLS side), and
 * as many buffers each way as the worker has private TLS buffers, the
 * plaintext side's bound (--tls-buffers). An exhausted pool sheds the
 * connection it could not serve (counted in its stats). */
static int tls_pool_init(struct eng_worker *w, char *err, size_t err_len)
{
	const struct eng_config *c = &w->e->cfg;
	if (c->tls_server == NULL && c->tls_client == NULL)
		return 0;
	int rc = tls_pool_new(w->nsocks, c->tls_buffers, c->tls_buffers, &w->tls_pool);
	if (rc < 0)
		snprintf(err, err_len, "cannot map the TLS pools for %u sockets: %s", w->nsocks,
			 strerror(-rc));
	return rc;
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
	rc = tls_pool_init(w, err, err_len);
	if (rc < 0)
		return rc;
	rc = w->proto->start(w, err, err_len);
	if (rc < 0)
		return rc;
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
	tls_pool_free(w->tls_pool);   /* after the connections made from it */
	w->tls_pool = NULL;
	if (w->leaf_cache)
		tls_leaf_cache_free(w->leaf_cache);
	for (unsigned i = 0; w->socks && i < w->socks_used; i++)
		if (w->socks[i].fd >= 0)
			close(w->socks[i].fd);
	free_array(w->socks);
	free_array(w->dirty);
	free_array(w->sink_wait);
	free_array(w->sync_wait);
	free_array(w->heads);
	free_array(w->head_free_next);
	free_array(w->head_ref);
	free_array(w->xchgs);
	free_array(w->xchg_free_next);
	free_array(w->dns);
	free_array(w->resolves);
	free_array(w->hdrs);
	if (w->proto)
		w->proto->stop(w);
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
