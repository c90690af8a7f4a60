/*
 * tools/control/api.h - the JSON API of the control port, under /api/:
 *
 *   GET    /api/status                          {"active": session | null}
 *   GET    /api/sessions                        history (array of sessions)
 *   POST   /api/sessions                        create + start {name, save_responses,
 *                                               capture_cookies, max_body, filter}
 *   GET    /api/sessions/ID                     one session (with its clients)
 *   PATCH  /api/sessions/ID                     rename, change settings (same keys)
 *   DELETE /api/sessions/ID                     not while active or paused (409)
 *   POST   /api/sessions/ID/pause|resume|stop
 *   GET    /api/sessions/ID/exchanges?sort=&reverse=&search=&limit=&offset=
 *                                               &filter=<the filter's JSON form>
 *   POST   /api/sessions/ID/exchanges/delete    {"ids": [..]}
 *   DELETE /api/sessions/ID/exchanges?ids=1,2   (same, ids in the query)
 *   GET    /api/sessions/ID/exchanges/XID       one exchange (`show --json`)
 *   DELETE /api/sessions/ID/exchanges/XID
 *   GET    /api/sessions/ID/exchanges/XID/request_body|response_body   raw bytes
 *   GET    /api/sessions/ID/overview?by=method|domain|type|status&interval_ms=&search=
 *                                               counts, bytes, traffic series
 *   GET    /api/sessions/ID/cookies[?format=json|netscape]   cookie records / jar
 *   DELETE /api/sessions/ID/cookies  {"cookies":[{"name","domain","path"}]} or {"all":true}
 *   GET    /api/sessions/ID/events              Server-Sent Events: "exchange"
 *                                               events (data: an `ls --json` row)
 *                                               for exchanges stored after subscribing
 *
 * ID is a session id, a name, or "active". Errors are {"error": "..."}
 * naming the problem: 400 bad JSON or value, 404 unknown route or id, 405
 * wrong method (with Allow), 409 a state conflict (a second start names
 * the active session), 503 too many event streams.
 */
#ifndef RINGCAP_API_H
#define RINGCAP_API_H

#include <stdbool.h>

#define RC_API_SSE_MAX 8u            /* event streams at once (each holds a thread) */
#define RC_API_SSE_TICK_MS 250       /* the store flushes frames within 250 ms too */
#define RC_API_SSE_PING_MS 10000     /* a comment line so dead clients are noticed */
#define RC_API_LIST_DEFAULT 1000u    /* exchanges per page when no limit is given */
#define RC_API_LIST_MAX 100000u      /* largest page */
#define RC_API_IDS_MAX 10000u        /* exchanges deleted by one request */
#define RC_API_BODY_OUT_MAX (64u << 20) /* a raw body served by the API */

struct rc_api;
struct rc_http_conn;
struct rc_http_req;
struct rc_sessions;

int rc_api_create(struct rc_api **out, struct rc_sessions *m);
void rc_api_free(struct rc_api *a);
/* Answers one request under /api/ on h (an event stream runs here until
 * the client leaves or the server stops). Returns whether the connection
 * may carry another request. */
bool rc_api_handle(struct rc_api *a, struct rc_http_conn *h, struct rc_http_req *rq);
/* Housekeeping from the control thread, a few times a second. */
void rc_api_tick(struct rc_api *a);

#endif
