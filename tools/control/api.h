/*
 * tools/control/api.h - the JSON API of the control port, under /api/. Its
 * routes are rows of the tables in sessions_routes.c, exchanges_routes.c,
 * views_routes.c and events.c; GET /api (or /api/openapi.json) describes
 * them all (openapi.c). ID is a session id, a name, or "active". Errors
 * are {"error": "..."} naming the problem: 400 bad JSON or value, 401 no
 * or wrong token, 404 unknown route or id, 405 wrong method (with Allow),
 * 409 a state conflict (a second start names the active session), 413 a
 * body too large, 503 too many event streams.
 *
 * struct rc_api holds what the API's handlers share: the session manager
 * and the open event feeds (events.c), advanced by rc_api_tick.
 */
#ifndef RINGCAP_API_H
#define RINGCAP_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define RC_API_SSE_MAX 24u           /* event streams at once: they hold no thread now,
				      * but each counts against RC_CTL_CONNS_MAX */
#define RC_API_SSE_PING_MS 10000     /* a comment line so dead clients are noticed */
#define RC_API_SSE_ORDER_MS 500      /* rows wait this long so that rows of other
				      * workers stored a little later sort before them */
#define RC_API_LIST_DEFAULT 1000u    /* exchanges per page when no limit is given */
#define RC_API_LIST_MAX 100000u      /* largest page */
#define RC_API_IDS_MAX 10000u        /* exchanges deleted by one request */
#define RC_API_BODY_OUT_MAX (64u << 20) /* a raw body served by the API */
#define RC_API_OUT_MAX (256u << 20)  /* any answer built in memory (a page of
				      * RC_API_LIST_MAX rows fits) */

struct rc_api;
struct rc_req;
struct rc_resp;
struct rc_sessions;
struct ses_meta;

int rc_api_create(struct rc_api **out, struct rc_sessions *m);
/* After rc_control_stop: no feed is open any more. */
void rc_api_free(struct rc_api *a);
/* Housekeeping from the control port's ticker, a few times a second:
 * session upkeep and the event feeds. */
void rc_api_tick(struct rc_api *a);

/* ---- for the API's handlers ---- */
struct rc_sessions *rc_api_sessions(const struct rc_req *rq);
/* The session named by rq->param[0] into *m and its directory into
 * dir[cap]: 0 or -ENOENT with rs->err set. */
int rc_api_session(struct rc_req *rq, struct rc_resp *rs, struct ses_meta *m, char *dir,
		   size_t cap);
/* The request body as a JSON object (*out, json_decref it): 0 or -EINVAL
 * with rs->err set ("invalid JSON: ... at byte N"). */
int rc_api_body(struct rc_req *rq, struct rc_resp *rs, json_t **out);
/* Wall-clock ns, for tombstones. */
unsigned long long rc_api_now_ns(void);

#endif
