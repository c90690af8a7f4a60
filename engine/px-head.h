/*
 * engine/px-head.h - private to the proxy files (engine/px-*.c): what
 * engine/px-head.c offers the others.
 */
#ifndef RINGCAP_PX_HEAD_H
#define RINGCAP_PX_HEAD_H

#include "engine/eng-int.h"

void px_request_head(struct eng_worker *w, struct eng_sock *c);
bool px_request_begin(struct eng_worker *w, struct eng_sock *c);
bool px_passthrough(struct eng_worker *w, const char *name);
int px_head_read(struct eng_worker *w, struct eng_sock *s, unsigned max, const char **why);

#endif
