/*
 * engine/ring.c - one thread's io_uring plumbing (see engine/ring.h): ring
 * set-up and probes, the bounded CQE drain, provided and private buffers,
 * receive and send queues, intrusive timers.
 *
 * Invariants: a buffer is free exactly when its reference count is zero; a
 * kernel buffer is on the kernel's ring or counted in b->out, never both;
 * a send queue's first send_n segments belong to the kernel while a send is
 * in flight; every loop is bounded (by a queue's length, a caller's max or
 * a fixed retry count).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "engine/ring.h"
#include "rc-assert.h"

/* liburing 2.3's copy of the uapi header predates this (Linux 6.2). */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif

#define SQE_RETRIES 16   /* submits tried while the submission queue is full */

/* ---- ring ---- */

static void probe_ops(struct eng_ring *r)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&r->uring);
	if (p == NULL)
		return;   /* no probe (Linux < 5.6): report nothing optional */
	r->has_send_zc = io_uring_opcode_supported(p, IORING_OP_SENDMSG_ZC);
	r->has_openat = io_uring_opcode_supported(p, IORING_OP_OPENAT);
	r->has_recv = io_uring_opcode_supported(p, IORING_OP_RECV);
	io_uring_free_probe(p);
}

int eng_ring_init(struct eng_ring *r, unsigned entries, unsigned cq_entries,
		  char *err, size_t err_len)
{
	struct io_uring_params p = {0};
	memset(r, 0, sizeof(*r));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = cq_entries ? cq_entries : entries * 2;
	int rc = io_uring_queue_init_params(entries, &r->uring, &p);
	if (rc < 0) {
		snprintf(err, err_len, "io_uring set-up with SINGLE_ISSUER|DEFER_TASKRUN "
			 "failed (needs Linux 6.1+): %s", strerror(-rc));
		return rc;
	}
	r->up = true;
	r->features = p.features;
	if (!(p.features & IORING_FEAT_NODROP)) {
		snprintf(err, err_len, "kernel lacks IORING_FEAT_NODROP (Linux 5.5+)");
		return -ENOSYS;
	}
	probe_ops(r);
	return 0;
}

void eng_ring_exit(struct eng_ring *r)
{
	if (r->up)
		io_uring_queue_exit(&r->uring);
	r->up = false;
}

struct io_uring_sqe *eng_ring_sqe(struct eng_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
	for (int i = 0; sqe == NULL && i < SQE_RETRIES; i++) {
		io_uring_submit(&r->uring);
		sqe = io_uring_get_sqe(&r->uring);
	}
	return sqe;
}

unsigned eng_ring_drain(struct eng_ring *r, struct eng_dispatch *d, unsigned max)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	if (max == 0)
		return 0;
	io_uring_for_each_cqe(&r->uring, head, cqe) {
		union eng_udata u = eng_udata_unpack(io_uring_cqe_get_data64(cqe));
		eng_cqe_fn *fn = d->fn[u.f.op];
		if (fn != NULL)
			fn(d->ctx, cqe, u);
		else
			d->unknown++;
		if (++n == max)
			break;
	}
	io_uring_cq_advance(&r->uring, n);
	return n;
}

uint64_t eng_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- start-up arrays ---- */

/* The mapping's length sits in a header in front of the array. */
#define ARRAY_HDR 64u

void *eng_array_alloc(size_t n, size_t size)
{
	size_t len = ARRAY_HDR + n * size;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*(size_t *)p = len;
	return p + ARRAY_HDR;
}

void eng_array_free(void *a)
{
	if (a == NULL)
		return;
	char *p = (char *)a - ARRAY_HDR;
	munmap(p, *(size_t *)p);
}

/* ---- provided buffers ---- */

static void *map_bytes(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int register_ring(struct eng_bufs *b, struct eng_ring *r, char *err, size_t err_len)
{
	b->br_len = (size_t)b->count * sizeof(struct io_uring_buf);
	b->br = map_bytes(b->br_len);
	if (b->br == NULL) {
		int rc = -errno;
		snprintf(err, err_len, "cannot map the buffer ring: %s", strerror(errno));
		return rc;
	}
	io_uring_buf_ring_init(b->br);
	/* liburing 2.3 has no io_uring_setup_buf_ring: register by hand */
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)b->br,
		.ring_entries = b->count,
		.bgid = b->bgid,
	};
	int rc = io_uring_register_buf_ring(&r->uring, &reg, 0);
	if (rc < 0) {
		snprintf(err, err_len, "kernel refused a provided-buffer ring "
			 "(IORING_REGISTER_PBUF_RING, Linux 5.19+): %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int eng_bufs_init(struct eng_bufs *b, struct eng_ring *r, unsigned count, unsigned size,
		  unsigned priv, uint16_t bgid, char *err, size_t err_len)
{
	memset(b, 0, sizeof(*b));
	b->count = count;
	b->priv = priv;
	b->size = size;
	b->bgid = bgid;
	b->pfree = ENG_BUF_NONE;
	if (count == 0 || (count & (count - 1)) != 0 || count > 32768 || count + priv > 65535) {
		snprintf(err, err_len, "bad buffer counts %u + %u", count, priv);
		return -EINVAL;
	}
	int rc = register_ring(b, r, err, err_len);
	if (rc < 0)
		return rc;
	b->kbufs = map_bytes((size_t)count * size);
	if (b->kbufs == NULL) {
		snprintf(err, err_len, "cannot map %u receive buffers of %u bytes", count, size);
		return -ENOMEM;
	}
	b->mask = (unsigned)io_uring_buf_ring_mask(count);
	unsigned total = count + priv;
	b->next = eng_array_alloc(total, sizeof(*b->next));
	b->ref = eng_array_alloc(total, sizeof(*b->ref));
	b->len = eng_array_alloc(total, sizeof(*b->len));
	if (!b->next || !b->ref || !b->len)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	if (priv) {
		b->pbufs = map_bytes((size_t)priv * size);
		if (b->pbufs == NULL)
			return snprintf(err, err_len, "cannot map %u TLS buffers", priv), -ENOMEM;
		for (unsigned i = total; i-- > count;) {
			b->next[i] = b->pfree;
			b->pfree = (uint16_t)i;
		}
	}
	for (unsigned i = 0; i < count; i++)
		io_uring_buf_ring_add(b->br, eng_bufs_ptr(b, (uint16_t)i), size,
				      (unsigned short)i, (int)b->mask, (int)i);
	io_uring_buf_ring_advance(b->br, (int)count);
	return 0;
}

void eng_bufs_free(struct eng_bufs *b)
{
	if (b->br)
		munmap(b->br, b->br_len);
	if (b->kbufs)
		munmap(b->kbufs, (size_t)b->count * b->size);
	if (b->pbufs)
		munmap(b->pbufs, (size_t)b->priv * b->size);
	eng_array_free(b->next);
	eng_array_free(b->ref);
	eng_array_free(b->len);
	memset(b, 0, sizeof(*b));
}

uint16_t eng_bufs_get(struct eng_bufs *b)
{
	uint16_t bid = b->pfree;
	if (bid == ENG_BUF_NONE)
		return bid;
	b->pfree = b->next[bid];
	b->ref[bid] = 1;
	b->next[bid] = ENG_BUF_NONE;
	return bid;
}

void eng_bufs_take(struct eng_bufs *b, uint16_t bid, uint32_t len)
{
	ASSERT(bid < b->count + b->priv);
	b->len[bid] = len;
	b->ref[bid] = 1;
	b->next[bid] = ENG_BUF_NONE;
	if (bid < b->count)
		b->out++;
}

void eng_bufs_unref(struct eng_bufs *b, uint16_t bid)
{
	/* a reference dropped twice would hand a buffer out twice */
	ASSERT(bid < b->count + b->priv);
	ASSERT(b->ref[bid] > 0);
	if (--b->ref[bid] > 0)
		return;
	if (bid >= b->count) {
		b->next[bid] = b->pfree;
		b->pfree = bid;
		return;
	}
	io_uring_buf_ring_add(b->br, eng_bufs_ptr(b, bid), b->size, bid,
			      (int)b->mask, (int)b->returned++);
	b->out--;
}

bool eng_bufs_publish(struct eng_bufs *b)
{
	if (b->returned == 0)
		return false;
	io_uring_buf_ring_advance(b->br, (int)b->returned);
	b->returned = 0;
	return true;
}

void eng_prep_recv_multishot(struct io_uring_sqe *sqe, int fd, uint16_t bgid, uint64_t udata)
{
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = bgid;
	io_uring_sqe_set_data64(sqe, udata);
}

/* ---- receive queue ---- */

void eng_bufq_push(struct eng_bufs *b, struct eng_bufq *q, uint16_t bid, uint32_t len)
{
	ASSERT(len <= b->size);
	ASSERT(q->count < UINT16_MAX);
	eng_bufs_take(b, bid, len);
	if (q->count == 0) {
		q->head = bid;
		q->off = 0;
	} else {
		b->next[q->tail] = bid;
	}
	q->tail = bid;
	q->count++;
}

size_t eng_bufq_peek(const struct eng_bufs *b, const struct eng_bufq *q, const char **p)
{
	if (q->count == 0)
		return 0;
	*p = eng_bufs_ptr(b, q->head) + q->off;
	return b->len[q->head] - q->off;
}

bool eng_bufq_consume(struct eng_bufs *b, struct eng_bufq *q, size_t n)
{
	if (n == 0)
		return false;   /* nothing consumed (also on an empty queue) */
	ASSERT(q->count > 0);
	ASSERT(n <= b->len[q->head] - q->off);
	q->off += (uint32_t)n;
	if (q->off < b->len[q->head])
		return false;
	uint16_t bid = q->head;
	q->head = b->next[bid];
	q->off = 0;
	q->count--;
	eng_bufs_unref(b, bid);
	return true;
}

void eng_bufq_clear(struct eng_bufs *b, struct eng_bufq *q)
{
	while (q->count > 0) {
		uint16_t bid = q->head;
		q->head = b->next[bid];
		q->count--;
		eng_bufs_unref(b, bid);
	}
	q->off = 0;
}

/* ---- send queue ---- */

void eng_seg_release(struct eng_bufs *b, struct eng_seg *g)
{
	if (g->kind == ENG_SEG_BUF)
		eng_bufs_unref(b, g->id);
	else if (g->kind >= ENG_SEG_USER && b->user_release != NULL)
		b->user_release(b->user_arg, g);
	g->kind = ENG_SEG_CONST;
	g->len = 0;
}

void eng_outq_push(struct eng_outq *q, uint8_t kind, uint16_t id, const char *p, uint32_t len)
{
	/* every caller checks eng_outq_full first: a full ring here is a bug */
	ASSERT(q->n < ENG_OUTQ_SEGS);
	struct eng_seg *g = eng_outq_at(q, q->n);
	g->p = p;
	g->len = len;
	g->id = id;
	g->kind = kind;
	q->n++;
	q->pushed++;
}

bool eng_outq_unpush(struct eng_bufs *b, struct eng_outq *q, uint32_t from, bool in_flight)
{
	uint32_t first = q->pushed - q->n;   /* ordinal of seg[head] */
	if (from < first || from > q->pushed)
		return false;
	unsigned idx = from - first;
	if (in_flight && idx < q->send_n)
		return false;
	ASSERT(idx <= q->n);
	if (idx == 0 && q->partial)
		return false;
	while (q->n > idx) {
		eng_seg_release(b, eng_outq_at(q, q->n - 1u));
		q->n--;
		q->pushed--;
	}
	return true;
}

static void pop_head(struct eng_bufs *b, struct eng_outq *q)
{
	eng_seg_release(b, &q->seg[q->head]);
	q->head = (uint8_t)((q->head + 1) % ENG_OUTQ_SEGS);
	q->n--;
}

void eng_outq_advance(struct eng_bufs *b, struct eng_outq *q, size_t n)
{
	while (n > 0 && q->n > 0) {
		struct eng_seg *g = &q->seg[q->head];
		if (n < g->len) {
			g->p += n;
			g->len -= (uint32_t)n;
			q->partial = 1;
			return;
		}
		n -= g->len;
		q->partial = 0;
		pop_head(b, q);
	}
	while (q->n > 0 && q->seg[q->head].len == 0)
		pop_head(b, q);
}

void eng_outq_drop(struct eng_bufs *b, struct eng_outq *q, bool in_flight)
{
	while (q->n > (in_flight ? q->send_n : 0)) {
		eng_seg_release(b, eng_outq_at(q, q->n - 1u));
		q->n--;
	}
}

bool eng_outq_prep_send(struct eng_outq *q, struct io_uring_sqe *sqe, int fd,
			unsigned zc_threshold, uint64_t udata)
{
	uint32_t bytes = 0;
	unsigned n = 0;
	for (; n < q->n; n++) {
		struct eng_seg *g = eng_outq_at(q, n);
		q->iov[n].iov_base = (void *)g->p;
		q->iov[n].iov_len = g->len;
		bytes += g->len;
	}
	memset(&q->msg, 0, sizeof(q->msg));
	q->msg.msg_iov = q->iov;
	q->msg.msg_iovlen = n;
	q->send_n = (uint8_t)n;
	q->send_bytes = bytes;
	bool zc = zc_threshold && bytes >= zc_threshold;
	if (zc) {
		io_uring_prep_sendmsg_zc(sqe, fd, &q->msg, MSG_NOSIGNAL);
		sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
	} else {
		io_uring_prep_sendmsg(sqe, fd, &q->msg, MSG_NOSIGNAL);
	}
	io_uring_sqe_set_data64(sqe, udata);
	return zc;
}

/* ---- timers ---- */

static struct eng_timer *node(const struct eng_timers *t, uint32_t i)
{
	return (struct eng_timer *)(t->base + (size_t)i * t->stride + t->off);
}

void eng_timers_init(struct eng_timers *t, void *base, size_t stride, size_t off)
{
	memset(t, 0, sizeof(*t));
	t->base = base;
	t->stride = stride;
	t->off = off;
	for (unsigned c = 0; c < ENG_TIMER_CLASSES; c++)
		t->head[c] = t->tail[c] = ENG_TIMER_NONE;
}

void eng_timers_stop(struct eng_timers *t, uint32_t i)
{
	struct eng_timer *n = node(t, i);
	unsigned c = n->cls;
	if (c == 0)
		return;
	if (n->prev != ENG_TIMER_NONE)
		node(t, n->prev)->next = n->next;
	else
		t->head[c] = n->next;
	if (n->next != ENG_TIMER_NONE)
		node(t, n->next)->prev = n->prev;
	else
		t->tail[c] = n->prev;
	eng_timer_clear(n);
}

void eng_timers_arm(struct eng_timers *t, uint32_t i, unsigned cls, uint64_t now_ms)
{
	ASSERT(cls > 0);
	ASSERT(cls < ENG_TIMER_CLASSES);
	eng_timers_stop(t, i);
	struct eng_timer *n = node(t, i);
	n->cls = (uint8_t)cls;
	n->deadline_ms = now_ms + t->ms[cls];
	n->prev = t->tail[cls];
	n->next = ENG_TIMER_NONE;
	if (t->tail[cls] != ENG_TIMER_NONE)
		node(t, t->tail[cls])->next = i;
	else
		t->head[cls] = i;
	t->tail[cls] = i;
}

unsigned eng_timers_expire(struct eng_timers *t, uint64_t now_ms, unsigned max,
			   void (*fn)(void *ctx, uint32_t i), void *ctx)
{
	unsigned fired = 0;
	for (unsigned c = 1; c < ENG_TIMER_CLASSES; c++) {
		for (unsigned k = 0; k < max; k++) {
			uint32_t i = t->head[c];
			if (i == ENG_TIMER_NONE || node(t, i)->deadline_ms > now_ms)
				break;
			eng_timers_stop(t, i);
			fn(ctx, i);
			fired++;
		}
	}
	return fired;
}

void eng_prep_tick(struct io_uring_sqe *sqe, struct __kernel_timespec *ts, uint64_t udata)
{
	io_uring_prep_timeout(sqe, ts, 0, 0);
	io_uring_sqe_set_data64(sqe, udata);
}
