/*
 * engine/px-exchange.h - private to the proxy files (engine/px-*.c): what
 * engine/px-exchange.c offers the others.
 */
#ifndef RINGCAP_PX_EXCHANGE_H
#define RINGCAP_PX_EXCHANGE_H

#include "engine/eng-int.h"

void px_eof(struct eng_worker *w, struct eng_sock *s, int err);
void px_timeout(struct eng_worker *w, struct eng_sock *s);
void px_closed(struct eng_worker *w, struct eng_sock *s);
void px_drain(struct eng_worker *w);
void px_tls_ready(struct eng_worker *w, struct eng_sock *s);
void px_tls_failed(struct eng_worker *w, struct eng_sock *s);
/* The proxy as the socket layer sees it (engine/sock.h): set on every
 * worker by eng_start. */
extern const struct eng_proto_ops px_proto_ops;
struct eng_xchg *px_xchg_get(struct eng_worker *w);
void px_xchg_put(struct eng_worker *w, struct eng_xchg *x);
void px_on_req_body(void *arg, const char *at, size_t n);
void px_on_resp_body(void *arg, const char *at, size_t n);
/* h1_parser.on_trailer of the client's request parser (arg: the client)
 * and of the upstream's response parser (arg: the upstream): pieces of
 * trailer fields, collected for the sink's trailers op. */
void px_on_req_trailer(void *arg, int value, const char *at, size_t n);
void px_on_resp_trailer(void *arg, int value, const char *at, size_t n);
void px_exchange_end(struct eng_worker *w, struct eng_sock *c);
void px_client_abort(struct eng_worker *w, struct eng_sock *c, enum eng_err err);
void px_upstream_eof(struct eng_worker *w, struct eng_sock *u, struct eng_sock *c, int err);
void px_sent(struct eng_worker *w, struct eng_sock *s);

#endif
