/*
 * engine/px-connect.h - private to the proxy files (engine/px-*.c): what
 * engine/px-connect.c offers the others.
 */
#ifndef RINGCAP_PX_CONNECT_H
#define RINGCAP_PX_CONNECT_H

#include "engine/eng-int.h"

void px_connected(struct eng_worker *w, struct eng_sock *u, int res);
void px_resolved(struct eng_worker *w, struct eng_resolve *r);
void px_pool_put(struct eng_worker *w, struct eng_sock *u);
void px_upstream_close(struct eng_worker *w, struct eng_sock *u);
void px_upstream_release(struct eng_worker *w, struct eng_sock *c, bool reuse);
void px_start_exchange(struct eng_worker *w, struct eng_sock *c, struct eng_sock *u);
void px_upstream_get(struct eng_worker *w, struct eng_sock *c);

#endif
