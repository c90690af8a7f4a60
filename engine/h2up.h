/*
 * engine/h2up.h - private to the engine: HTTP/2 to an upstream that
 * selected h2 in ALPN (engine/h2up.c), as a codec under the proxy's
 * HTTP/1.1: what the proxy pushes waits in a side queue and goes out as
 * HEADERS/DATA; the origin's frames come back as HTTP/1.1 in the socket's
 * input queue. One stream at a time per connection.
 */
#ifndef RINGCAP_ENG_H2UP_H
#define RINGCAP_ENG_H2UP_H

#include "engine/eng-int.h"

/* True when the upstream's TLS handshake selected h2. */
bool eng_h2u_selected(const struct eng_sock *u);
/* Starts the client session: 0 or -ENOMEM. */
int eng_h2u_start(struct eng_worker *w, struct eng_sock *u);
void eng_h2u_free(struct eng_worker *w, struct eng_sock *u);
/* engine/sock.c's eng_out_full / eng_out_push on such a socket */
bool eng_h2u_full(const struct eng_sock *u);
void eng_h2u_push(struct eng_worker *w, struct eng_sock *u, uint8_t kind, uint16_t id,
		  const char *p, uint32_t len);
/* True when a request waits or nghttp2 has frames (eng_flush). */
bool eng_h2u_want_write(const struct eng_sock *u);
/* Feeds the TLS plaintext to nghttp2, which writes the response into the
 * input queue. 0, or -EPROTO when the stream or session failed. */
int eng_h2u_input(struct eng_worker *w, struct eng_sock *u);
/* Response bytes left the input queue: reopens the origin's window once
 * it is short (flow control as back-pressure, as on the client side). */
void eng_h2u_in_consumed(struct eng_worker *w, struct eng_sock *u);
/* Starts the waiting request and moves frames onto the wire queue. */
void eng_h2u_output(struct eng_worker *w, struct eng_sock *u);

#endif
