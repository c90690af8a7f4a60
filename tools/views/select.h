/*
 * tools/views/select.h - which rows of a session a listing shows, beyond
 * the index-only query of persist/query.h:
 *   - the CONNECT rows of intercepted tunnels (their requests are listed
 *     one by one as https rows) are hidden unless asked for;
 *   - --search-bodies: the search text is also looked for in the request
 *     and response heads and bodies, which reads each row's frames (one
 *     decompression per row the index search did not already match:
 *     slower, proportional to the session's stored bytes);
 *   - the query-time filter (filter.h) still applies.
 * rc_select_query() points a struct seg_query at one struct rc_select.
 * Thread safety: a struct rc_select belongs to one thread.
 */
#ifndef RINGCAP_VIEWS_SELECT_H
#define RINGCAP_VIEWS_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/query.h"

struct rc_filter;

struct rc_select {
	const struct seg_table *t;
	const char *session_dir;  /* where frames are read (bodies) */
	struct rc_filter *filter; /* NULL or inactive: none */
	const char *search;       /* NULL: none */
	bool bodies;              /* search heads and bodies too */
	uint8_t *hide;            /* [t->n]: 1 = a hidden tunnel row; NULL: none */
	size_t hidden;            /* rows hide marks */
	size_t frames_read;       /* exchanges opened for the body search */
};

/* Marks in s->hide (allocated here, freed by rc_select_free) the CONNECT
 * rows of intercepted tunnels: a tunnel whose client connection (address
 * and port) carried https rows that started while it was open. A CONNECT
 * with no such row (a blind tunnel, a client that refused the
 * certificate) stays listed. Returns 0 or -ENOMEM. */
int rc_select_hide_tunnels(struct rc_select *s);

/* Sets q's match callback to s (q->search is taken over by s when bodies
 * are searched). */
void rc_select_query(struct rc_select *s, struct seg_query *q);

/* struct seg_query match callback; ctx is a struct rc_select. */
bool rc_select_row(void *ctx, const struct seg_qrow *r);

/* True when the exchange's heads or bodies contain needle (ASCII case
 * insensitive). Reads its frames. */
bool rc_exchange_contains(const char *session_dir, const struct seg_qrow *r,
			  const char *needle);

void rc_select_free(struct rc_select *s);

#endif
