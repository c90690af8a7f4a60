/*
 * tools/control/api.c - what the API's handlers share (api.h): the session
 * manager, the open event feeds, the session an :id names, and the request
 * body read through jansson. The routes themselves live with their
 * resource: sessions_routes.c, exchanges_routes.c, views_routes.c, events.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/ses.h"
#include "tools/capture/sessions.h"
#include "tools/control/api.h"
#include "tools/control/events.h"
#include "tools/control/router.h"
#include "tools/lib/json.h"

struct rc_api {
	struct rc_sessions *m;
	struct rc_events *events;
};

int rc_api_create(struct rc_api **out, struct rc_sessions *m)
{
	struct rc_api *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->m = m;
	int rc = rc_events_create(&a->events, m);
	if (rc < 0) {
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void rc_api_free(struct rc_api *a)
{
	if (a == NULL)
		return;
	rc_events_free(a->events);
	free(a);
}

void rc_api_tick(struct rc_api *a)
{
	rc_sessions_tick(a->m);
	rc_events_tick(a->events);
}

struct rc_events *rc_api_events(const struct rc_req *rq)
{
	return rq->env->api->events;
}

struct rc_sessions *rc_api_sessions(const struct rc_req *rq)
{
	return rq->env->api->m;
}

int rc_api_session(struct rc_req *rq, struct rc_resp *rs, struct ses_meta *m, char *dir,
		   size_t cap)
{
	struct rc_sessions *s = rc_api_sessions(rq);
	int rc = rc_sessions_find(s, rq->param[0], m, rs->err, sizeof(rs->err));
	if (rc < 0)
		return -ENOENT;
	if (ses_dir(dir, cap, rc_sessions_data_dir(s), m->id) < 0)
		return rc_fail(rs, -ENAMETOOLONG, "session directory name too long");
	return 0;
}

int rc_api_body(struct rc_req *rq, struct rc_resp *rs, json_t **out)
{
	return rc_json_parse_object(rq->body, rq->body_len, out, rs->err, sizeof(rs->err));
}

unsigned long long rc_api_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}
