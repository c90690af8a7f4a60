/*
 * engine/px-client.h - private to the proxy files (engine/px-*.c): what
 * engine/px-client.c offers the others.
 */
#ifndef RINGCAP_PX_CLIENT_H
#define RINGCAP_PX_CLIENT_H

#include "engine/eng-int.h"

void px_sink_wake(struct eng_worker *w);
bool px_sink_room(struct eng_worker *w, struct eng_sock *reader, struct eng_sock *c, size_t n);
void px_tunnel_pump(struct eng_worker *w, struct eng_sock *from, struct eng_sock *to);
void px_client_pump(struct eng_worker *w, struct eng_sock *c);

#endif
