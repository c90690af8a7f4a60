/*
 * engine/tlsio.h - private to the engine: TLS on a socket's queues
 * (engine/tlsio.c). Depends on engine/ring.h and tls/ only; the socket
 * layer (engine/sock.c) calls it, never the other way round.
 */
#ifndef RINGCAP_ENG_TLSIO_H
#define RINGCAP_ENG_TLSIO_H

#include "engine/eng-int.h"

/* Decrypts queued ciphertext into s->in (called when it ran empty). */
void eng_tls_open(struct eng_worker *w, struct eng_sock *s);
/* Seals plaintext onto the wire queue (what cannot be sealed yet waits in
 * s->tls_pend); pieces up to 4 KiB are copied into s->tls_stage and sealed
 * as one record by eng_tls_move_out. The segment's hold is released once
 * sealed or copied. */
void eng_tls_seal(struct eng_worker *w, struct eng_sock *s, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len);
/* Seals what waits (tls_pend, then the staged small pieces) and moves
 * ciphertext onto the wire queue. Called before every send and before
 * close_notify. */
void eng_tls_move_out(struct eng_worker *w, struct eng_sock *s);
/* Releases the plaintext still held (socket being freed). */
void eng_tls_drop(struct eng_worker *w, struct eng_sock *s);
/* Decrypts into buf (fed from the ciphertext queue) without touching the
 * input queue: bytes, 0 at close_notify, -EAGAIN, or -EPROTO/-EPIPE. */
ssize_t eng_tls_read_plain(struct eng_worker *w, struct eng_sock *s, char *buf, size_t cap);
/* True when ciphertext or pending plaintext waits to go out. */
bool eng_tls_has_out(const struct eng_sock *s);
/* One handshake step with what has arrived: 0 done, -EAGAIN more input
 * needed, -EPROTO failed. Ciphertext produced is on the wire queue; the
 * caller flushes (engine/sock.c: eng_sock_handshake). */
int eng_tls_handshake(struct eng_worker *w, struct eng_sock *s);

#endif
