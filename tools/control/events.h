/*
 * tools/control/events.h - a Server-Sent Events stream of a session's new
 * exchanges, for the web UI: every RC_API_SSE_TICK_MS the session's files
 * are looked at (file sizes: a few stat calls); when the index grew, it is
 * read again and every exchange not sent before goes out as
 *
 *   id: <exchange id>
 *   event: exchange
 *   data: <the exchange as a `ringcap ls --json` row>
 *
 * Exchanges already stored when the client subscribes are not sent. When
 * the session stops (or is deleted) an "end" event closes the stream; a
 * ": ping" comment every RC_API_SSE_PING_MS finds clients that left.
 */
#ifndef RINGCAP_EVENTS_H
#define RINGCAP_EVENTS_H

#include "persist/ses.h"

struct rc_http_conn;

/* Runs the stream on h until the client leaves, the session ends or the
 * server stops. Writes the response head itself. */
void rc_events_stream(struct rc_http_conn *h, const char *data_dir, const struct ses_meta *ses);

#endif
