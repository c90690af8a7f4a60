/*
 * tools/lib/rc-limits.h - every default and bound of tools/ in one place,
 * each with its unit and the reason for its value. Bounds that only restate
 * a store limit are defined from persist/'s own, never as a second number.
 * A bound a user may tune is also a `ringcap run` option of the same name.
 */
#ifndef RINGCAP_RC_LIMITS_H
#define RINGCAP_RC_LIMITS_H

#include "persist/seg-limits.h"
#include "persist/ses.h"

/* Defaults every command shares (DESIGN.md, interface contract). */
#define RC_DATA_DIR_DEFAULT "./ringcap-data"   /* --data; RINGCAP_DATA overrides */
#define RC_CONTROL_DEFAULT "127.0.0.1:5560"    /* --control; loopback: no token needed */

/* Capture. */
#define RC_BODY_MAX_DEFAULT SEG_BODY_MAX_DEFAULT /* --max-body: bytes per direction */
#define RC_URL_MAX SEG_URL_MAX                   /* absolute URL rebuilt for https */

/* Offline commands. */
#define RC_SESSIONS_MAX SES_LIST_MAX /* sessions listed from one data directory */

/* Control port (tools/control/). The peer is a CLI, a browser or a script
 * on a trusted network: small heads, small JSON bodies, a few people. */
#define RC_HTTP_HEAD_MAX 8192u        /* request line + headers */
#define RC_HTTP_BODY_MAX (256u << 10) /* a JSON body: settings, a filter (SES_FILTER_MAX
				       * bytes as text), or some thousand ids to delete */
#define RC_HTTP_IO_TIMEOUT_MS 5000    /* silence within a request, and idle keep-alive */
#define RC_HTTP_PATH_MAX 1024u
#define RC_HTTP_QUERY_MAX 2048u
#define RC_HTTP_AUTH_MAX 256u
#define RC_CTL_CONNS_MAX 32u          /* connections open at once (MHD closes more at
				       * accept); a suspended event stream counts */
#define RC_CTL_THREADS 4u             /* MHD's epoll thread pool: a slow listing of a
				       * big session holds one; SSE streams hold none */
#define RC_CTL_TICK_MS 200            /* housekeeping and event feeds look this often */
#define RC_CTL_REQUESTS_MAX 10000u    /* requests on one keep-alive connection */
#define RC_CTL_STOP_WAIT_MS 10000     /* rc_control_stop waits this long for threads */

/* `ringcap session` (tools/cli/session.c), the control port's client. */
#define RC_CLIENT_ANSWER_MAX (64u << 20) /* a listing of RC_SESSIONS_MAX sessions fits */
#define RC_CLIENT_TIMEOUT_MS 30000       /* a stop waits for writers (2 s); listing is slower */
#define RC_CLIENT_FILTER_JSON_MAX 65536u

_Static_assert(RC_HTTP_PATH_MAX + RC_HTTP_QUERY_MAX < RC_HTTP_HEAD_MAX, "a target fits a head");
_Static_assert(RC_HTTP_BODY_MAX >= SES_FILTER_MAX, "a stored filter fits a request body");

#endif
