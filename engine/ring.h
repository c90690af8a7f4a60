/*
 * engine/ring.h - one thread's io_uring plumbing, usable on its own: the
 * ring set-up with its feature probes, the completion user_data layout, a
 * bounded CQE drain through an op -> handler table, the provided-buffer
 * ring (plus private buffers of the same size), intrusive timers with a
 * tick, and a socket's receive and send queues.
 *
 * The engine's workers are built on it (engine/worker.c), and so can a
 * second program that drives its own ring (the replay load client): this
 * header includes nothing else of ringcap, and nothing here allocates after
 * set-up or blocks. Everything is single-threaded: one ring, its buffers,
 * timers and queues belong to the thread that created the ring
 * (IORING_SETUP_SINGLE_ISSUER).
 *
 * Errors are negative errno values; set-up functions also write a sentence
 * for the user into err (what failed and which kernel it needs).
 */
#ifndef RINGCAP_ENG_RING_H
#define RINGCAP_ENG_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <liburing.h>

#include "rc-assert.h"

/* ---- completion user_data ------------------------------------------------
 * Every SQE carries one 64-bit user_data: which operation it was (op), on
 * which object (slot, an index into the caller's array) and in which life
 * of that object (gen, bumped each time a slot is reused). A completion
 * whose gen differs from the slot's current one belongs to a previous life
 * and is ignored, never trusted. op 0 means "no op" and has no handler. */
#define ENG_UDATA_OP_BITS    8u   /* 255 ops: the engine uses about ten */
#define ENG_UDATA_SLOT_BITS  24u  /* 16 M slots: 2 x 1 M connections fit */
#define ENG_UDATA_GEN_BITS   32u  /* wraps after 4 G reuses of one slot */
#define ENG_UDATA_OPS        (1u << ENG_UDATA_OP_BITS)          /* table size */
#define ENG_UDATA_SLOT_MAX   ((1u << ENG_UDATA_SLOT_BITS) - 1u) /* largest slot */

/* The fields, read through the union; the layout of the bit-fields in u64
 * is the compiler's business: pack and unpack only through this union. */
union eng_udata {
	uint64_t u64;                 /* what io_uring carries */
	struct {
		uint32_t gen;         /* life of the slot (ENG_UDATA_GEN_BITS) */
		unsigned slot : 24;   /* index of the object (ENG_UDATA_SLOT_BITS) */
		unsigned op : 8;      /* which operation (ENG_UDATA_OP_BITS) */
	} f;
};
_Static_assert(ENG_UDATA_OP_BITS + ENG_UDATA_SLOT_BITS + ENG_UDATA_GEN_BITS <= 64,
	       "op, slot and generation fit in user_data");
_Static_assert(sizeof(union eng_udata) == sizeof(uint64_t),
	       "union eng_udata is exactly one user_data");

/* Packs op (< ENG_UDATA_OPS), slot (<= ENG_UDATA_SLOT_MAX) and gen; larger
 * values are our bug (debug builds abort), cut to their field width in
 * release builds. */
static inline uint64_t eng_udata_pack(unsigned op, uint32_t slot, uint32_t gen)
{
	union eng_udata u = { .u64 = 0 };
	(void)ALWAYS(op < ENG_UDATA_OPS);
	(void)ALWAYS(slot <= ENG_UDATA_SLOT_MAX);
	u.f.op = op & (ENG_UDATA_OPS - 1u);
	u.f.slot = slot & ENG_UDATA_SLOT_MAX;
	u.f.gen = gen;
	return u.u64;
}

static inline union eng_udata eng_udata_unpack(uint64_t v)
{
	union eng_udata u = { .u64 = v };
	return u;
}

/* ---- the ring ------------------------------------------------------------ */

/* What the kernel offered at set-up (probed once, never again). */
struct eng_ring {
	struct io_uring uring;   /* liburing's ring: prep SQEs on it freely */
	unsigned features;       /* IORING_FEAT_* reported by io_uring_setup */
	bool has_send_zc;        /* IORING_OP_SENDMSG_ZC (Linux 6.1) */
	bool has_openat;         /* IORING_OP_OPENAT (Linux 5.6) */
	bool has_recv;           /* IORING_OP_RECV (multishot needs Linux 6.0) */
	bool up;                 /* set-up succeeded; eng_ring_exit undoes it */
};

/* Creates a ring of `entries` SQEs and `cq_entries` CQEs (0: twice the
 * SQEs) with IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL: the
 * creating thread must be the only one to submit and to reap. Requires
 * Linux 6.1 and IORING_FEAT_NODROP; fails with a precise err otherwise. */
int eng_ring_init(struct eng_ring *r, unsigned entries, unsigned cq_entries,
		  char *err, size_t err_len);
void eng_ring_exit(struct eng_ring *r);

/* The next free SQE; when the submission queue is full it is submitted
 * first (up to 16 times). NULL only if the kernel takes nothing: the
 * caller's bug or a dead ring, which the caller reports and aborts on. */
struct io_uring_sqe *eng_ring_sqe(struct eng_ring *r);

/* One completion handler: ctx is eng_dispatch.ctx, u the unpacked
 * user_data. The CQE is valid only during the call. */
typedef void eng_cqe_fn(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u);

/* The op -> handler table of one ring. */
struct eng_dispatch {
	eng_cqe_fn *fn[ENG_UDATA_OPS];  /* NULL: op unknown, completion dropped */
	void *ctx;                      /* first argument of every handler */
	uint64_t unknown;               /* completions dropped for a NULL entry */
};

/* Handles at most `max` ready completions (never waits), each through its
 * op's handler, and marks them seen. Returns how many were handled: the
 * bound keeps a loop's other duties (flushing sends, timers) from starving
 * under a flood of completions. */
unsigned eng_ring_drain(struct eng_ring *r, struct eng_dispatch *d, unsigned max);

/* Coarse monotonic milliseconds (CLOCK_MONOTONIC_COARSE, jiffy accuracy):
 * what timers compare against. */
uint64_t eng_clock_ms(void);

/* ---- provided buffers ------------------------------------------------------
 * One pool of equal-sized buffers with 16-bit ids. Ids [0, count) are given
 * to the kernel through a provided-buffer ring (buffer group `bgid`): a
 * multishot recv with IOSQE_BUFFER_SELECT takes one per completion. Ids
 * [count, count + priv) are private: never given to the kernel, taken with
 * eng_bufs_get (e.g. for TLS plaintext). Each buffer has a reference count;
 * at zero a kernel buffer goes back on the ring (visible to the kernel at
 * the next eng_bufs_publish) and a private one back on its free list. */
#define ENG_BUF_NONE UINT16_MAX  /* no buffer (end of a chain, empty list) */

/* A segment kind that eng_seg_release hands to the owner (see below). */
struct eng_seg;
typedef void eng_seg_release_fn(void *arg, struct eng_seg *g);

struct eng_bufs {
	struct io_uring_buf_ring *br;  /* the ring shared with the kernel */
	size_t br_len;                 /* its mapping's length */
	char *kbufs;                   /* count x size bytes, kernel ids */
	char *pbufs;                   /* priv x size bytes, private ids */
	uint16_t *next;                /* per id: next in a queue or free list */
	uint16_t *ref;                 /* per id: references held */
	uint32_t *len;                 /* per id: bytes of data in it */
	unsigned count;                /* kernel buffers: a power of two */
	unsigned priv;                 /* private buffers */
	unsigned size;                 /* bytes per buffer */
	unsigned mask;                 /* io_uring_buf_ring_mask(count) */
	unsigned returned;             /* added to the ring, not yet published */
	unsigned out;                  /* kernel buffers held by us */
	uint16_t bgid;                 /* buffer group id of the ring */
	uint16_t pfree;                /* free list of private ids */
	eng_seg_release_fn *user_release; /* releases kinds >= ENG_SEG_USER */
	void *user_arg;                /* its first argument */
};

/* Maps the buffers and registers the ring by hand (IORING_REGISTER_PBUF_RING,
 * Linux 5.19; liburing 2.3 has no io_uring_setup_buf_ring). count must be a
 * power of two <= 32768 and count + priv <= 65535 (ids are 16 bit). On
 * failure the caller still calls eng_bufs_free. */
int eng_bufs_init(struct eng_bufs *b, struct eng_ring *r, unsigned count, unsigned size,
		  unsigned priv, uint16_t bgid, char *err, size_t err_len);
/* Unmaps everything; the ring itself may already be gone. */
void eng_bufs_free(struct eng_bufs *b);

static inline char *eng_bufs_ptr(const struct eng_bufs *b, uint16_t bid)
{
	if (bid < b->count)
		return b->kbufs + (size_t)bid * b->size;
	return b->pbufs + (size_t)(bid - b->count) * b->size;
}

/* A private buffer with one reference, or ENG_BUF_NONE when none is free. */
uint16_t eng_bufs_get(struct eng_bufs *b);
/* A completion handed kernel buffer bid to us holding len bytes: one
 * reference, counted in b->out. */
void eng_bufs_take(struct eng_bufs *b, uint16_t bid, uint32_t len);
/* Drops one reference; at zero the buffer is free again. */
void eng_bufs_unref(struct eng_bufs *b, uint16_t bid);
/* Makes buffers returned since the last call visible to the kernel (once
 * per loop turn: one store instead of one per buffer); true if there were. */
bool eng_bufs_publish(struct eng_bufs *b);

/* The buffer id a completion carries, if any. */
static inline bool eng_cqe_bid(const struct io_uring_cqe *cqe, uint16_t *bid)
{
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return false;
	*bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	return true;
}

/* Multishot recv on fd into buffer group bgid (Linux 6.0). */
void eng_prep_recv_multishot(struct io_uring_sqe *sqe, int fd, uint16_t bgid, uint64_t udata);

/* ---- receive queue: buffers of one socket, oldest first ----------------- */
struct eng_bufq {
	uint16_t head;   /* oldest buffer (valid when count > 0) */
	uint16_t tail;   /* newest buffer */
	uint16_t count;  /* buffers queued */
	uint32_t off;    /* bytes of head already consumed */
};

/* Queues bid (len bytes) with one reference; a kernel id is counted in
 * b->out as taken. */
void eng_bufq_push(struct eng_bufs *b, struct eng_bufq *q, uint16_t bid, uint32_t len);
/* Contiguous unread bytes at the head: returns their count, 0 if empty. */
size_t eng_bufq_peek(const struct eng_bufs *b, const struct eng_bufq *q, const char **p);
/* Consumes n <= peek's count; true if the head buffer was used up and
 * released (the queue got shorter). */
bool eng_bufq_consume(struct eng_bufs *b, struct eng_bufq *q, size_t n);
/* Releases every queued buffer. */
void eng_bufq_clear(struct eng_bufs *b, struct eng_bufq *q);

/* ---- send queue: segments sent with one sendmsg -------------------------- */
/* 16 segments: a response head, a few body buffers and a chunk trailer per
 * sendmsg; a power of two keeps the ring index cheap. */
#define ENG_OUTQ_SEGS 16u
_Static_assert(ENG_OUTQ_SEGS <= 64, "one sendmsg takes every queued segment");
_Static_assert((ENG_OUTQ_SEGS & (ENG_OUTQ_SEGS - 1u)) == 0, "a power of two");

#define ENG_SEG_BUF   0  /* a buffer of struct eng_bufs: id = buffer id, holds a reference */
#define ENG_SEG_CONST 1  /* bytes that outlive the queue (static): nothing to release */
#define ENG_SEG_USER  2  /* first of the owner's kinds: b->user_release frees them */

/* What one send references: p/len advance as bytes go out. */
struct eng_seg {
	const char *p;   /* first unsent byte */
	uint32_t len;    /* unsent bytes */
	uint16_t id;     /* buffer id (ENG_SEG_BUF) or the owner's id */
	uint8_t kind;    /* ENG_SEG_* */
};

struct eng_outq {
	struct eng_seg seg[ENG_OUTQ_SEGS];  /* ring of segments */
	struct iovec iov[ENG_OUTQ_SEGS];    /* the send in flight (kernel reads it) */
	struct msghdr msg;                  /* the send in flight */
	uint32_t pushed;    /* segments ever pushed: ordinals for unpush */
	uint32_t send_bytes; /* bytes in the send in flight (its result for ZC) */
	uint8_t head;       /* index of the oldest segment */
	uint8_t n;          /* segments queued */
	uint8_t send_n;     /* of which in the send in flight */
	uint8_t partial;    /* seg[head] was partly sent */
};

static inline bool eng_outq_full(const struct eng_outq *q)
{
	return q->n == ENG_OUTQ_SEGS;
}
/* The i-th queued segment, 0 the oldest. */
static inline struct eng_seg *eng_outq_at(struct eng_outq *q, unsigned i)
{
	return &q->seg[(q->head + i) % ENG_OUTQ_SEGS];
}
/* Appends a segment; the queue takes over its reference. Callers check
 * eng_outq_full first: a full queue here is the caller's bug. */
void eng_outq_push(struct eng_outq *q, uint8_t kind, uint16_t id, const char *p, uint32_t len);
/* Takes back the segments pushed since ordinal `from` (a past value of
 * q->pushed) if none of their bytes reached the kernel; in_flight says a
 * send is outstanding (its send_n segments are the kernel's). */
bool eng_outq_unpush(struct eng_bufs *b, struct eng_outq *q, uint32_t from, bool in_flight);
/* The first n bytes went out: releases what was fully sent. */
void eng_outq_advance(struct eng_bufs *b, struct eng_outq *q, size_t n);
/* Releases every segment not in flight (all of them if !in_flight). */
void eng_outq_drop(struct eng_bufs *b, struct eng_outq *q, bool in_flight);
/* Fills iov/msg with every queued segment and preps sendmsg (MSG_NOSIGNAL)
 * on sqe, zero-copy (SENDMSG_ZC, reporting copies) when the bytes reach
 * zc_threshold (0: never). Returns true if zero-copy: its buffers stay the
 * kernel's until the notification CQE. */
bool eng_outq_prep_send(struct eng_outq *q, struct io_uring_sqe *sqe, int fd,
			unsigned zc_threshold, uint64_t udata);
/* Releases one segment's hold and empties it. */
void eng_seg_release(struct eng_bufs *b, struct eng_seg *g);

/* ---- timers ----------------------------------------------------------------
 * Intrusive timers on the caller's array of objects (e.g. sockets): each
 * object embeds a struct eng_timer, found at base + i * stride + off. One
 * list per duration class keeps every list in deadline order, so arming,
 * stopping and expiring are O(1). A class's duration is fixed at set-up;
 * class 0 means "not armed". The caller arms an IORING_OP_TIMEOUT tick
 * (eng_prep_tick) and calls eng_timers_expire on each tick. */
#define ENG_TIMER_CLASSES 8u        /* classes 1..7 usable */
#define ENG_TIMER_NONE UINT32_MAX   /* end of a list */

struct eng_timer {
	uint32_t prev, next;     /* neighbours in the class list, or ENG_TIMER_NONE */
	uint64_t deadline_ms;    /* eng_clock_ms() at which it fires */
	uint8_t cls;             /* its class, 0 when not armed */
};

struct eng_timers {
	char *base;              /* the object array */
	size_t stride;           /* bytes per object */
	size_t off;              /* offset of struct eng_timer in an object */
	uint32_t head[ENG_TIMER_CLASSES];  /* earliest deadline per class */
	uint32_t tail[ENG_TIMER_CLASSES];  /* latest deadline per class */
	uint64_t ms[ENG_TIMER_CLASSES];    /* duration of each class */
};

/* Empty lists over base[]; durations start at 0 (set t->ms[c]). */
void eng_timers_init(struct eng_timers *t, void *base, size_t stride, size_t off);
/* A timer that is not armed (call on every new object). */
static inline void eng_timer_clear(struct eng_timer *n)
{
	n->prev = n->next = ENG_TIMER_NONE;
	n->cls = 0;
}
/* (Re)arms object i in class cls (1..7) to fire at now_ms + ms[cls]. */
void eng_timers_arm(struct eng_timers *t, uint32_t i, unsigned cls, uint64_t now_ms);
/* Disarms object i (no-op when not armed). */
void eng_timers_stop(struct eng_timers *t, uint32_t i);
/* Expired timers' objects: disarmed, then fn(ctx, i), at most `max` per
 * class per call (the rest wait for the next tick). Returns how many. */
unsigned eng_timers_expire(struct eng_timers *t, uint64_t now_ms, unsigned max,
			   void (*fn)(void *ctx, uint32_t i), void *ctx);
/* A one-shot IORING_OP_TIMEOUT: completes with -ETIME after *ts (which must
 * live until then). */
void eng_prep_tick(struct io_uring_sqe *sqe, struct __kernel_timespec *ts, uint64_t udata);

/* ---- start-up arrays -------------------------------------------------------
 * Zeroed arrays mapped (not calloc'd) at start-up: pages are touched only
 * where objects are used, so memory follows load. NULL when out of memory. */
void *eng_array_alloc(size_t n, size_t size);
void eng_array_free(void *a);

#endif
