/*
 * tools/control/sessions_routes.c - the sessions resource of the API:
 *
 *   GET    /api/status                  {"active": session | null}
 *   GET    /api/sessions                history (array of sessions, with clients)
 *   POST   /api/sessions                create + start {name, save_responses,
 *                                       capture_cookies, max_body, filter}
 *   GET    /api/sessions/:id            one session (with its clients)
 *   PATCH  /api/sessions/:id            rename, change settings (same keys)
 *   DELETE /api/sessions/:id            not while active or paused (409)
 *   POST   /api/sessions/:id/pause|resume|stop
 *
 * Life-cycle rules are the session manager's (tools/capture/sessions.c);
 * this file reads bodies (jansson) and writes sessions as JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/flt.h"
#include "persist/ses.h"
#include "tools/capture/sessions.h"
#include "tools/control/api.h"
#include "tools/control/events.h"
#include "tools/control/router.h"
#include "tools/lib/json.h"
#include "tools/views/listing.h"

#define NAME_MAX_BYTES 256u /* a decoded name; ses_name_valid bounds it further */

static void session_out(struct rc_req *rq, struct rc_resp *rs, const struct ses_meta *m,
			bool clients)
{
	struct rc_sessions *s = rc_api_sessions(rq);
	struct ses_stats st = {0};
	char dir[4096];
	ses_stats(rc_sessions_data_dir(s), m->id, &st);
	struct rc_clients *cl = clients ? calloc(1, sizeof(*cl)) : NULL;
	if (cl && ses_dir(dir, sizeof(dir), rc_sessions_data_dir(s), m->id) == 0)
		rc_events_clients(rc_api_events(rq), dir, cl);   /* incremental: clients.h */
	rc_session_json(&rs->body, m, &st, cl);
	free(cl);
}

static int h_status(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	rc_buf_puts(&rs->body, "{\"active\":");
	if (rc_sessions_find(rc_api_sessions(rq), "active", &m, rs->err, sizeof(rs->err)) == 0)
		session_out(rq, rs, &m, false);
	else
		rc_buf_puts(&rs->body, "null");
	rc_buf_puts(&rs->body, "}");
	return 0;
}

static int h_list(struct rc_req *rq, struct rc_resp *rs)
{
	struct rc_sessions *m = rc_api_sessions(rq);
	struct ses_meta *s = calloc(SES_LIST_MAX, sizeof(*s));
	size_t n = 0;
	int rc = s ? ses_list(rc_sessions_data_dir(m), s, SES_LIST_MAX, &n) : -ENOMEM;
	if (rc < 0) {
		free(s);
		return rc_fail(rs, -EIO, "cannot list sessions: %s", strerror(-rc));
	}
	rc_buf_puts(&rs->body, "[");
	for (size_t i = 0; i < n; i++) {
		struct ses_meta live;
		/* the manager's copy of the active one is the current truth */
		if (rc_sessions_find(m, s[i].id, &live, rs->err, sizeof(rs->err)) == 0)
			s[i] = live;
		rc_buf_puts(&rs->body, i ? "," : "");
		session_out(rq, rs, &s[i], true);
	}
	rc_buf_puts(&rs->body, "]");
	free(s);
	return 0;
}

/* One member of a session body into ch; -EINVAL with rs->err set. */
static int change_member(struct rc_resp *rs, const char *key, json_t *v,
			 struct rc_session_change *ch, char *name, struct flt_spec *spec)
{
	if (strcmp(key, "name") == 0) {
		const char *s = json_string_value(v);
		if (s == NULL || strlen(s) >= NAME_MAX_BYTES || !ses_name_valid(s))
			return rc_fail(rs, -EINVAL, "'name' must be a string of 1 to %u bytes without "
				       "'/' or control characters", SES_NAME_MAX);
		snprintf(name, NAME_MAX_BYTES, "%s", s);
		ch->name = name;
	} else if (strcmp(key, "save_responses") == 0 || strcmp(key, "capture_cookies") == 0) {
		if (!json_is_boolean(v))
			return rc_fail(rs, -EINVAL, "'%s' must be true or false, not %s", key,
				       rc_json_type_name(v));
		*(key[0] == 's' ? &ch->save_responses : &ch->capture_cookies) = json_is_true(v);
	} else if (strcmp(key, "max_body") == 0) {
		uint64_t n;
		if (rc_json_u64(v, &n) < 0 || n < 1 || n > RC_SES_BODY_MAX)
			return rc_fail(rs, -EINVAL, "'max_body' must be an integer from 1 to %u (bytes)",
				       RC_SES_BODY_MAX);
		ch->max_body = (int64_t)n;
	} else if (json_is_null(v)) {
		ch->filter = spec;   /* filter: null, no filter */
	} else if (!json_is_object(v)) {
		return rc_fail(rs, -EINVAL, "'filter' must be an object or null, not %s",
			       rc_json_type_name(v));
	} else {
		char ferr[256];
		if (flt_spec_from_json(spec, v, ferr, sizeof(ferr)) < 0)
			return rc_fail(rs, -EINVAL, "filter: %s", ferr);
		ch->filter = spec;
	}
	return 0;
}

/* Reads a session body into ch (name points into name[NAME_MAX_BYTES];
 * spec, initialised, receives a filter). 0 or -EINVAL. */
static int parse_change(struct rc_req *rq, struct rc_resp *rs, struct rc_session_change *ch,
			char *name, struct flt_spec *spec)
{
	static const char *const keys[] = { "name", "save_responses", "capture_cookies",
					    "max_body", "filter" };
	json_t *o, *v;
	const char *key;
	int rc = rc_api_body(rq, rs, &o);
	if (rc == 0)
		rc = rc_json_keys_known(o, keys, sizeof(keys) / sizeof(keys[0]), rs->err,
					sizeof(rs->err));
	if (rc == 0)
		json_object_foreach(o, key, v)
			if ((rc = change_member(rs, key, v, ch, name, spec)) < 0)
				break;
	json_decref(o);
	return rc;
}

static int h_start(struct rc_req *rq, struct rc_resp *rs)
{
	struct rc_session_change ch = RC_SESSION_KEEP;
	struct flt_spec spec;
	struct ses_meta m;
	char name[NAME_MAX_BYTES];
	flt_spec_init(&spec);
	int rc = 0;
	if (rq->body_len > 0)
		rc = parse_change(rq, rs, &ch, name, &spec);
	if (rc == 0)
		rc = rc_sessions_start(rc_api_sessions(rq), &ch, &m, rs->err, sizeof(rs->err));
	flt_spec_free(&spec);
	if (rc < 0)
		return rc;
	session_out(rq, rs, &m, false);
	return 0;
}

static int h_get(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	if (rc == 0)
		session_out(rq, rs, &m, true);
	return rc;
}

static int h_patch(struct rc_req *rq, struct rc_resp *rs)
{
	struct rc_session_change ch = RC_SESSION_KEEP;
	struct flt_spec spec;
	struct ses_meta m;
	char dir[4096], name[NAME_MAX_BYTES];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	flt_spec_init(&spec);
	rc = parse_change(rq, rs, &ch, name, &spec);
	if (rc == 0)
		rc = rc_sessions_update(rc_api_sessions(rq), m.id, &ch, &m, rs->err,
					sizeof(rs->err));
	flt_spec_free(&spec);
	if (rc == 0)
		session_out(rq, rs, &m, false);
	return rc;
}

static int h_delete(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	if (rc == 0)
		rc = rc_sessions_delete(rc_api_sessions(rq), m.id, rs->err, sizeof(rs->err));
	if (rc == 0) {
		rc_buf_puts(&rs->body, "{\"deleted\":");
		rc_buf_jstr(&rs->body, m.id, strlen(m.id));
		rc_buf_puts(&rs->body, "}");
	}
	return rc;
}

typedef int (*action_fn)(struct rc_sessions *, const char *, struct ses_meta *, char *, size_t);

static int action(struct rc_req *rq, struct rc_resp *rs, action_fn fn)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	if (rc == 0)
		rc = fn(rc_api_sessions(rq), m.id, &m, rs->err, sizeof(rs->err));
	if (rc == 0)
		session_out(rq, rs, &m, false);
	return rc;
}

static int h_pause(struct rc_req *rq, struct rc_resp *rs)
{
	return action(rq, rs, rc_sessions_pause);
}

static int h_resume(struct rc_req *rq, struct rc_resp *rs)
{
	return action(rq, rs, rc_sessions_resume);
}

static int h_stop(struct rc_req *rq, struct rc_resp *rs)
{
	return action(rq, rs, rc_sessions_stop);
}

#define API RC_ROUTE_API
static const struct rc_route routes[] = {
	{ "GET", "/api/status", h_status, API, "The active session, or null", NULL, NULL, NULL,
	  RC_SCHEMA("Status"), 0, "" },
	{ "GET", "/api/sessions", h_list, API, "Every session, oldest first", NULL, NULL, NULL,
	  RC_SCHEMA("SessionList"), 0, "500" },
	{ "POST", "/api/sessions", h_start, API, "Create a session and capture into it", NULL,
	  RC_SCHEMA("SessionChange"), NULL, RC_SCHEMA("Session"), 201, "400 409" },
	{ "GET", "/api/sessions/:id", h_get, API, "One session, with the clients seen", NULL, NULL,
	  NULL, RC_SCHEMA("Session"), 0, "404" },
	{ "PATCH", "/api/sessions/:id", h_patch, API, "Rename, or change the running session's "
	  "settings", NULL, RC_SCHEMA("SessionChange"), NULL, RC_SCHEMA("Session"), 0,
	  "400 404 409" },
	{ "DELETE", "/api/sessions/:id", h_delete, API, "Delete a stopped session", NULL, NULL,
	  NULL, RC_SCHEMA("DeletedSession"), 0, "404 409" },
	{ "POST", "/api/sessions/:id/pause", h_pause, API, "Pause the session", NULL, NULL, NULL,
	  RC_SCHEMA("Session"), 0, "404 409" },
	{ "POST", "/api/sessions/:id/resume", h_resume, API, "Resume the session", NULL, NULL,
	  NULL, RC_SCHEMA("Session"), 0, "404 409" },
	{ "POST", "/api/sessions/:id/stop", h_stop, API, "Stop the session (final)", NULL, NULL,
	  NULL, RC_SCHEMA("Session"), 0, "404 409" },
};

const struct rc_route_table rc_sessions_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
