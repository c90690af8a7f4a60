/*
 * tools/replay/loop-int.h - private to the loop thread's files: a slot's
 * connection (struct rp_conn) and the thread (struct rp_worker), and the
 * calls between loop.c (ring, completions, the turn), conn.c (a request's
 * life on a slot: connect, proxy CONNECT, TLS, send, end) and answer.c
 * (llhttp on the answer, EOF, the proxy's CONNECT answer, TLS input).
 * Everything here belongs to one loop thread.
 */
#ifndef RINGCAP_RP_LOOP_INT_H
#define RINGCAP_RP_LOOP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <llhttp.h>

#include "engine/ring.h"
#include "persist/seg.h"
#include "tools/lib/rc-limits.h"
#include "tools/replay/replay.h"

struct tls_conn;

#define RP_REC_HEAD_MAX 8192u     /* a recorded answer's head is cut here (flagged) */
#define RP_TLS_CHUNK 16384u       /* plaintext read from TLS per call */

/* ring.h user_data ops of a loop thread's ring */
enum { RP_OP_NONE = 0, RP_OP_CONNECT, RP_OP_RECV, RP_OP_SEND, RP_OP_CLOSE, RP_OP_WRITE, RP_OP_COUNT };
/* a slot's connection (top of loop.c) */
enum { RP_C_IDLE = 0, RP_C_CONNECTING, RP_C_PROXY, RP_C_TLS, RP_C_READY, RP_C_BUSY };
/* the last llhttp head callback (rebuilding the answer's head) */
enum { RP_CB_NONE = 0, RP_CB_FIELD, RP_CB_VALUE };

struct rp_worker;

struct rp_conn {
	struct rp_worker *w;
	uint32_t slot;               /* local index */
	int fd;
	uint32_t gen;
	uint8_t state;
	bool send_busy, recv_armed, reused, has_cur, dirty;
	struct rp_dest dest;         /* what the socket is connected to */
	struct rp_item q[RC_RP_SLOT_QUEUE];
	uint32_t qh, qn;
	struct rp_item cur;
	struct rp_req *parked;       /* ended while a send of its bytes was in flight:
				      * freed when that send comes back */
	uint8_t tries;
	uint64_t due_abs, sent_abs;   /* monotonic: when due, when sent */
	size_t off;                  /* bytes of cur handed to the socket or TLS */
	struct eng_outq oq;
	struct eng_timer tm;
	llhttp_t p;
	struct tls_conn *tls;
	char ph[1024];               /* proxy CONNECT answer head */
	size_t phn;
	/* the answer */
	uint16_t status;
	bool done, keep;
	uint64_t body, wire_in;
	uint32_t hash;
	/* --record */
	struct seg_xch *x;
	struct seg_addr local;       /* this connection's own address (family 0:
				      * not asked yet): the recorded client, so a
				      * replay of the recording keeps its connections */
	struct seg_addr peer;        /* the address it reached: the recorded server */
	char *rh;                    /* answer head as llhttp saw it */
	size_t rhn;
	uint8_t last_cb;
	bool rh_cut;
	uint64_t ttfb_ns;
};

struct rp_worker {
	struct rp_loop_args *a;
	const struct rp_cfg *cfg;
	struct eng_ring ring;
	struct eng_bufs bufs;
	struct eng_dispatch d;
	struct eng_timers timers;
	struct rp_conn *c;
	unsigned nconn;
	uint32_t *dirty;             /* slots to move on this turn */
	unsigned ndirty;
	struct rp_queue *q;
	bool timed, owned, io_busy;
	uint64_t now;                /* monotonic ns, once per turn */
	uint64_t tick_ms;
	char tbuf[RP_TLS_CHUNK];
};

static inline uint64_t rp_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rp_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* conn.c */
/* The next SQE of the thread's ring (aborts when the ring takes none: a bug). */
struct io_uring_sqe *rp_sqe(struct rp_worker *w);
/* True when the slot's current request counts in the report (warm-up). */
bool rp_conn_counted(const struct rp_conn *c);
/* The current request is done with: back to the source, or parked while a
 * send of its bytes is out. */
void rp_conn_release(struct rp_conn *c);
void rp_conn_unpark(struct rp_conn *c);
/* --record: ends the stored exchange (err: enum seg_error, 0 = answered). */
void rp_conn_record_end(struct rp_conn *c, uint8_t err, const char *msg);
void rp_err_note(struct rp_worker *w, unsigned kind, const char *msg);
/* Closes the socket through the ring and starts a new life (gen). */
void rp_conn_teardown(struct rp_conn *c);
/* The current request failed (enum rp_err), the socket goes. */
void rp_conn_fail(struct rp_conn *c, unsigned kind, const char *msg);
/* The current request was answered whole. */
void rp_conn_complete(struct rp_conn *c);
/* Pushes what can be sent (request bytes, TLS records) and submits. */
void rp_conn_tx(struct rp_conn *c);
void rp_conn_start_tls(struct rp_conn *c);
/* Connected (and through CONNECT and TLS): the current request goes. */
void rp_conn_ready(struct rp_conn *c);
void rp_conn_connected(struct rp_conn *c);
/* Moves the slot on: next request, connection as needed. */
void rp_conn_kick(struct rp_conn *c);
/* Puts the slot on the thread's list to kick at the end of the turn. */
void rp_conn_mark(struct rp_conn *c);

/* answer.c */
/* A fresh response parser for the request about to go. */
void rp_answer_reset(struct rp_conn *c);
/* Plaintext of the answer; false when the connection failed on it. */
bool rp_answer_parse(struct rp_conn *c, const char *p, size_t n);
/* The peer closed (err 0) or the socket failed (-errno). */
void rp_answer_eof(struct rp_conn *c, int err);
/* Bytes of the proxy's answer to CONNECT. */
void rp_answer_proxy(struct rp_conn *c, const char *p, size_t n);
/* Ciphertext from the socket. */
void rp_answer_tls(struct rp_conn *c, const char *p, size_t n);

#endif
