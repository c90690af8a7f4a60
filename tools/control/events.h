/*
 * tools/control/events.h - the live feed of a session's new exchanges for
 * the web UI and `ls --follow`-like scripts, as Server-Sent Events:
 *
 *   GET /api/sessions/:id/events
 *
 *   id: <exchange id>
 *   event: exchange
 *   data: <the exchange as a `ringcap ls --json` row>
 *
 * With ?rows_per_s=N only about N rows a second are sent (sampled evenly
 * over each tick's rows); the others are counted in
 *
 *   event: skipped
 *   data: {"count": <rows left out since the last one>}
 *
 * so a page that shows the newest rows and a total does not make the
 * control port render, nor the browser parse, rows nobody sees (a capture
 * at tens of thousands of exchanges a second, several pages open).
 *
 * Exchanges already stored when the client subscribes are not sent. Rows
 * go out merged across workers by start time: a row waits
 * RC_API_SSE_ORDER_MS, then goes out with every held row that started
 * before it, so a live table does not jump when one worker's rows reach
 * the disk a little later. When the session stops (or is deleted) an
 * "end" event closes the stream; a ": ping" comment every
 * RC_API_SSE_PING_MS finds clients that left.
 *
 * A feed holds no thread: the control port's ticker (rc_events_tick)
 * polls one tail per session with open feeds (persist/tail.h: a few stat
 * calls when nothing changed, only the new index entries otherwise),
 * queues the new rows on each of its feeds and wakes the suspended
 * connections (router.h, rc_stream_wake).
 */
#ifndef RINGCAP_EVENTS_H
#define RINGCAP_EVENTS_H

#include "tools/control/router.h"

struct rc_clients;
struct rc_events;
struct rc_sessions;

int rc_events_create(struct rc_events **out, struct rc_sessions *m);
/* After the control port stopped (every feed's stream is done). */
void rc_events_free(struct rc_events *ev);
/* Advances every open feed; from the control port's ticker. */
void rc_events_tick(struct rc_events *ev);
/* Feeds open now. */
unsigned rc_events_open(struct rc_events *ev);
/* The session's clients (tools/views/listing.h), kept up to date from a
 * tail of its index instead of a scan per request (clients.h). 0 or
 * -errno. Any thread. */
int rc_events_clients(struct rc_events *ev, const char *session_dir, struct rc_clients *out);

struct rc_events *rc_api_events(const struct rc_req *rq);

#endif
