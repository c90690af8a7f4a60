/*
 * engine/px.h - private to the proxy files (engine/px-*.c): small helpers
 * every one of them uses, and the thread's current worker.
 *
 * The proxy is split by what happens to an exchange: px-answer.c (local
 * answers), px-connect.c (connecting), px-head.c (request heads),
 * px-client.c (client input), px-upstream.c (upstream input),
 * px-exchange.c (the end of an exchange, socket events). The socket layer
 * (engine/sock.c) reaches it only through px_proto_ops.
 */
#ifndef RINGCAP_PX_H
#define RINGCAP_PX_H

#include "engine/eng-int.h"
#include "engine/sock.h"

/* Upstream flags (struct eng_sock.xflags of an upstream socket). */
#define ENG_UP_F_BODY 0x01u   /* final response head done, body flows */

/* The worker whose loop runs on this thread: llhttp body callbacks need it
 * (set by every entry point before it parses). */
extern _Thread_local struct eng_worker *px_cur_w;

static inline struct eng_sock *peer_of(struct eng_worker *w, struct eng_sock *s)
{
	return s->peer == ENG_NONE ? NULL : &w->socks[s->peer];
}

/* No input left, ciphertext included (peeking decrypts). */
static inline bool in_empty(struct eng_worker *w, struct eng_sock *s)
{
	const char *p;
	return eng_in_peek(w, s, &p) == 0;
}

static inline const struct eng_sink_ops *sink(struct eng_worker *w)
{
	return w->e->cfg.sink;
}

/* No room for more body bytes toward s; under buffer pressure a plain
 * socket gets only a small share (ENG_OUT_SEGS_PRESSURE). */
static inline bool body_full(struct eng_worker *w, const struct eng_sock *s)
{
	return eng_out_full(s) ||
	       (s->tls == NULL && s->out.n >= ENG_OUT_SEGS_PRESSURE && eng_buf_pressure(w));
}

static inline uint64_t since(const struct eng_sock *c)
{
	return eng_now_ns() - c->t0_ns;
}

#endif
