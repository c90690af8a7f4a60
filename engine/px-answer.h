/*
 * engine/px-answer.h - private to the proxy files (engine/px-*.c): what
 * engine/px-answer.c offers the others.
 */
#ifndef RINGCAP_PX_ANSWER_H
#define RINGCAP_PX_ANSWER_H

#include "engine/eng-int.h"

void px_accepted(struct eng_worker *w, struct eng_sock *c);
void px_respond(struct eng_worker *w, struct eng_sock *c, int status,
		const char *ctype, const char *body, size_t body_len, bool close);
void px_fail(struct eng_worker *w, struct eng_sock *c, enum eng_err err,
	     int status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void px_deny(struct eng_worker *w, struct eng_sock *c, const struct eng_deny *d);
void px_status_page(struct eng_worker *w, struct eng_sock *c, bool found);
void px_onboard(struct eng_worker *w, struct eng_sock *c, const struct h1_target *t);
void px_max_forwards_zero(struct eng_worker *w, struct eng_sock *c,
			  const struct h1_msg *m);

#endif
