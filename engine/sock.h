/*
 * engine/sock.h - private to the engine: a worker's sockets (engine/sock.c)
 * and the table through which they report to the protocol above them.
 */
#ifndef RINGCAP_ENG_SOCK_H
#define RINGCAP_ENG_SOCK_H

#include "engine/eng-int.h"

/* What a worker's sockets report upward. The proxy (engine/px-exchange.c,
 * px_proto_ops) implements it; the socket layer and the worker loop call
 * only these, so they depend on no protocol code. Every entry is set. */
struct eng_proto_ops {
	/* the worker's start (its pools made, before the first accept) and
	 * its end: the protocol's own per-worker state */
	int (*start)(struct eng_worker *w, char *err, size_t err_len);
	void (*stop)(struct eng_worker *w);
	void (*accepted)(struct eng_worker *w, struct eng_sock *c);   /* new client */
	void (*input)(struct eng_worker *w, struct eng_sock *s);      /* bytes queued */
	void (*eof)(struct eng_worker *w, struct eng_sock *s, int err); /* FIN or error */
	void (*sent)(struct eng_worker *w, struct eng_sock *s);       /* out queue empty */
	void (*connected)(struct eng_worker *w, struct eng_sock *u, int res);
	void (*resolved)(struct eng_worker *w, struct eng_resolve *r); /* look-up done */
	void (*timeout)(struct eng_worker *w, struct eng_sock *s);    /* its timer fired */
	void (*closed)(struct eng_worker *w, struct eng_sock *s);     /* slot about to be freed */
	void (*drain)(struct eng_worker *w);                          /* shutdown began */
	void (*sink_wake)(struct eng_worker *w);  /* the capture sink took a write */
	void (*tls_ready)(struct eng_worker *w, struct eng_sock *s);  /* handshake done */
	void (*tls_failed)(struct eng_worker *w, struct eng_sock *s); /* handshake failed */
};

/* the ring and the clocks */
struct io_uring_sqe *eng_sqe(struct eng_worker *w);   /* never NULL */
uint64_t eng_now_ns(void);    /* CLOCK_MONOTONIC */
uint64_t eng_wall_ns(void);   /* CLOCK_REALTIME */

/* completions of socket ops (w->dispatch) */
void eng_sock_on_recv(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u);
void eng_sock_on_send(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u);
void eng_sock_on_connect(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u);
void eng_sock_on_close(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u);

/* once per loop turn: buffers back to the kernel (re-arming starved
 * receivers), then every send queued during the batch */
void eng_sock_bufs_publish(struct eng_worker *w);
void eng_flush_dirty(struct eng_worker *w);
/* on each tick: the expired timers' sockets to proto->timeout */
void eng_timers_run(struct eng_worker *w);

void eng_timer_arm(struct eng_worker *w, struct eng_sock *s, enum eng_tclass c);
void eng_timer_stop(struct eng_worker *w, struct eng_sock *s);

/* NULL when every slot is taken */
struct eng_sock *eng_sock_new(struct eng_worker *w, int fd, enum sock_role role);
void eng_sock_close(struct eng_worker *w, struct eng_sock *s);
void eng_sock_linger(struct eng_worker *w, struct eng_sock *s);
void eng_sock_handshake(struct eng_worker *w, struct eng_sock *s);

void eng_recv_arm(struct eng_worker *w, struct eng_sock *s);
void eng_recv_pause(struct eng_worker *w, struct eng_sock *s);
bool eng_buf_pressure(const struct eng_worker *w);
/* Plaintext input: peek decrypts on a TLS socket; consume re-arms a
 * paused recv once half the input is gone. */
size_t eng_in_peek(struct eng_worker *w, struct eng_sock *s, const char **p);
void eng_in_consume(struct eng_worker *w, struct eng_sock *s, size_t n);
/* Appends n bytes to the socket's input queue, as if they had been
 * received (h2 streams and h2 upstreams write the HTTP/1.1 the proxy reads
 * there). 0, or -ENOBUFS when the private pool ran dry. */
#define ENG_IN_APPEND_BUFS_MAX 256u /* buffers one call may fill: a whole
				     * head or DATA frame fits many times */
int eng_in_append(struct eng_worker *w, struct eng_sock *s, const char *p, size_t n);

bool eng_out_full(const struct eng_sock *s);
void eng_out_push(struct eng_worker *w, struct eng_sock *s, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len);
bool eng_out_unpush(struct eng_worker *w, struct eng_sock *s, uint32_t from);
void eng_out_forward(struct eng_worker *w, struct eng_sock *to, struct eng_sock *from, size_t n);
void eng_flush(struct eng_worker *w, struct eng_sock *s);

/* head-pool buffers, reference counted; ENG_NONE when the pool is empty */
uint32_t eng_head_get(struct eng_worker *w);
void eng_head_put(struct eng_worker *w, uint32_t idx);
void eng_head_ref(struct eng_worker *w, uint32_t idx);
char *eng_head_ptr(struct eng_worker *w, uint32_t idx);

#endif
