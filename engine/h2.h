/*
 * engine/h2.h - private to the engine: HTTP/2 with clients on intercepted
 * TLS (engine/h2.c). nghttp2 is the frame layer; it gets no socket: the
 * connection's decrypted input goes to nghttp2_session_mem_recv and what
 * nghttp2_session_mem_send produces goes onto the socket's send queue.
 *
 * Every stream becomes a socket of its own (ENG_SOCK_F_H2S, no fd) that the
 * proxy drives as an HTTP/1.1 client: its input queue gets the request
 * written as HTTP/1.1, its send queue collects the HTTP/1.1 response the
 * proxy would send, which h2.c turns back into HEADERS and DATA. So each
 * stream is an exchange through the same capture sink, forwarded upstream
 * over HTTP/1.1.
 */
#ifndef RINGCAP_ENG_H2_H
#define RINGCAP_ENG_H2_H

#include "engine/eng-int.h"

/* True when the client's TLS handshake selected h2 in ALPN. */
bool eng_h2_selected(const struct eng_sock *c);
/* Starts the server session on a client whose handshake selected h2:
 * 0, or -ENOMEM (the caller closes the client). */
int eng_h2_start(struct eng_worker *w, struct eng_sock *c);
/* Feeds the connection's queued plaintext to nghttp2 and runs the streams
 * it started or fed. */
void eng_h2_input(struct eng_worker *w, struct eng_sock *c);
/* True when nghttp2 has frames to send (engine/sock.c: eng_flush). */
bool eng_h2_want_write(const struct eng_sock *c);
/* Moves frames onto the connection's send queue while it has room
 * (engine/sock.c, when the batch's sends are made). */
void eng_h2_output(struct eng_worker *w, struct eng_sock *c);
/* A stream socket's send queue got bytes (eng_flush on a stream). */
void eng_h2_stream_flush(struct eng_worker *w, struct eng_sock *s);
/* The connection a stream socket belongs to, or NULL once it is gone. */
struct eng_sock *eng_h2_parent(struct eng_worker *w, const struct eng_sock *s);
/* A stream's exchange is over and its answer complete once its queue
 * drains (eng_sock_linger on a stream). */
void eng_h2_stream_linger(struct eng_worker *w, struct eng_sock *s);
/* Request bytes left a stream's input queue: reopens the client's window
 * once the queue is short (flow control as back-pressure). */
void eng_h2_in_consumed(struct eng_worker *w, struct eng_sock *s);
/* A stream socket or an h2 connection's slot is about to be freed. */
void eng_h2_closed(struct eng_worker *w, struct eng_sock *s);
/* True while streams of the connection are open (its idle timer waits). */
bool eng_h2_busy(const struct eng_sock *c);
/* Shutdown began: GOAWAY, streams in flight finish. */
void eng_h2_drain(struct eng_worker *w, struct eng_sock *c);

#endif
