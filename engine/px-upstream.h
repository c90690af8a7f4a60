/*
 * engine/px-upstream.h - private to the proxy files (engine/px-*.c): what
 * engine/px-upstream.c offers the others.
 */
#ifndef RINGCAP_PX_UPSTREAM_H
#define RINGCAP_PX_UPSTREAM_H

#include "engine/eng-int.h"

void px_upstream_pump(struct eng_worker *w, struct eng_sock *u);
void px_input(struct eng_worker *w, struct eng_sock *s);

#endif
