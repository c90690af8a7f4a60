/*
 * tools/control/views_routes.c - the overview and cookie routes of the API
 * (views_routes.h): query and body parsing around tools/views/overview.c
 * and cookies.c, whose FILE* output goes through open_memstream into the
 * answer's buffer. Functions return 0 or -errno with err naming the bad
 * part; the route table (router.h) turns that into a status.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/ses.h"
#include "tools/control/api.h"
#include "tools/control/router.h"
#include "tools/control/views_routes.h"
#include "tools/lib/json.h"
#include "tools/views/cookie.h"
#include "tools/views/cookies.h"
#include "tools/views/overview.h"

#define VQ_MAX 512u /* one decoded query value */

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A query value into out; "" when absent. false (err set) when bad. */
static bool qval(const char *query, const char *key, char *out, size_t cap, char *err,
		 size_t errlen)
{
	int k = rc_query_get(query ? query : "", key, out, cap);
	if (k == -ENOENT) {
		out[0] = '\0';
		return true;
	}
	if (k < 0)
		snprintf(err, errlen, "query parameter '%s': %s", key,
			 k == -E2BIG ? "too long" : "bad percent-encoding");
	return k >= 0;
}

/* Appends what was written to a memstream to out; 0 or -ENOMEM (err set). */
static int from_stream(struct rc_buf *out, char *mem, size_t len, char *err, size_t errlen)
{
	if (mem == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc_buf_add(out, mem, len);
	free(mem);
	return out->oom ? (snprintf(err, errlen, "answer too large"), -ENOMEM) : 0;
}

int rc_views_overview(const char *session_dir, const char *query, struct rc_buf *out,
		      char *err, size_t errlen)
{
	char by[VQ_MAX], iv[VQ_MAX], search[VQ_MAX];
	if (!qval(query, "by", by, sizeof(by), err, errlen) ||
	    !qval(query, "interval_ms", iv, sizeof(iv), err, errlen) ||
	    !qval(query, "search", search, sizeof(search), err, errlen))
		return -EINVAL;
	if (by[0] == '\0')
		snprintf(by, sizeof(by), "method");
	if (rc_overview_by(by) < 0) {
		snprintf(err, errlen, "by '%.64s': one of method, domain, type, status", by);
		return -EINVAL;
	}
	char *end;
	unsigned long long ms = strtoull(iv, &end, 10);
	if (iv[0] != '\0' && (*end != '\0' || iv[0] == '-' || ms == 0 || ms > 86400000ull * 366)) {
		snprintf(err, errlen, "interval_ms '%.64s': a number of milliseconds, 1 to a year", iv);
		return -EINVAL;
	}
	struct seg_query q = { .search = search[0] ? search : NULL };
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	int rc = f ? rc_overview_json(session_dir, by, iv[0] ? ms : 0, &q, f) : -ENOMEM;
	if (f != NULL && fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(mem);
		snprintf(err, errlen, "%s", rc == -ERANGE ? "interval_ms is too small for the "
			 "session's span (at most 86400 points)" : strerror(-rc));
		return rc == -ERANGE ? -EINVAL : -EIO;
	}
	return from_stream(out, mem, len, err, errlen);
}

int rc_views_cookies_get(const char *dir, const char *query, struct rc_buf *out,
			 const char **ctype, char *err, size_t errlen)
{
	char fmt[VQ_MAX];
	*ctype = "application/json";
	if (!qval(query, "format", fmt, sizeof(fmt), err, errlen))
		return -EINVAL;
	bool jar = strcmp(fmt, "netscape") == 0;
	if (!jar && fmt[0] != '\0' && strcmp(fmt, "json") != 0) {
		snprintf(err, errlen, "format '%.64s': json or netscape", fmt);
		return -EINVAL;
	}
	struct rc_cookie_list l;
	int rc = rc_cookies_load(dir, &l);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the session's cookies: %s", strerror(-rc));
		return -EIO;
	}
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	if (f != NULL) {
		if (jar)
			rc_cookies_jar(&l, (int64_t)(wall_ns() / 1000000000u), f);
		else
			rc_cookies_json(&l, f);
		fclose(f);
	}
	rc_cookies_free(&l);
	*ctype = jar ? "text/plain; charset=utf-8" : "application/json";
	return from_stream(out, mem, len, err, errlen);
}

/* One {"name":..,"domain":..,"path":..} of the body into ks. 0, -EINVAL
 * with err set, or -ENOMEM. */
struct keys {
	struct rc_cookie_key k[RC_COOKIES_DELETE_MAX];
	size_t n;
};

static void keys_free(struct keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		free((char *)ks->k[i].name);
		free((char *)ks->k[i].domain);
		free((char *)ks->k[i].path);
	}
	ks->n = 0;
}

static int keys_add(struct keys *ks, const char *name, const char *domain, const char *path)
{
	struct rc_cookie_key *k = &ks->k[ks->n];
	k->name = strdup(name);
	k->domain = strdup(domain);
	k->path = strdup(path);
	ks->n++; /* counted even on failure: keys_free frees what was made */
	return k->name && k->domain && k->path ? 0 : -ENOMEM;
}

static int keys_add_json(struct keys *ks, json_t *c, char *err, size_t errlen)
{
	static const char *const names[3] = { "name", "domain", "path" };
	const char *v[3];
	if (!json_is_object(c)) {
		snprintf(err, errlen, "each cookie is an object");
		return -EINVAL;
	}
	int rc = rc_json_keys_known(c, names, 3, err, errlen);
	for (int i = 0; rc == 0 && i < 3; i++) {
		json_t *s = json_object_get(c, names[i]);
		v[i] = json_string_value(s);
		if (s == NULL)
			rc = (snprintf(err, errlen, "each cookie needs name, domain and path"), -EINVAL);
		else if (v[i] == NULL || json_string_length(s) > RC_COOKIE_NAME_VALUE_MAX ||
			 strlen(v[i]) != json_string_length(s))
			rc = (snprintf(err, errlen, "cookie key '%s': name, domain and path are "
				       "strings", names[i]), -EINVAL);
	}
	return rc < 0 ? rc : keys_add(ks, v[0], v[1], v[2]);
}

/* The "cookies" array of the body into ks. 0, -EINVAL or -ENOMEM. */
static int keys_from_array(json_t *arr, struct keys *ks, char *err, size_t errlen)
{
	size_t i;
	json_t *c;
	int rc = 0;
	json_array_foreach(arr, i, c) {
		if (ks->n == RC_COOKIES_DELETE_MAX) {
			snprintf(err, errlen, "more than %u cookies in one call", RC_COOKIES_DELETE_MAX);
			return -EINVAL;
		}
		if ((rc = keys_add_json(ks, c, err, errlen)) < 0)
			break;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

/* Every listed cookie: deleted in calls of RC_COOKIES_DELETE_MAX keys. */
static int delete_all(const char *dir, size_t *deleted, char *err, size_t errlen)
{
	struct rc_cookie_list l;
	struct keys *ks = calloc(1, sizeof(*ks));
	int rc = ks ? rc_cookies_load(dir, &l) : -ENOMEM;
	if (rc < 0) {
		free(ks);
		snprintf(err, errlen, "cannot read the session's cookies: %s", strerror(-rc));
		return -EIO;
	}
	uint64_t now = wall_ns();
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		rc = keys_add(ks, l.c[i].name, l.c[i].domain, l.c[i].path);
		if (rc == 0 && (ks->n == RC_COOKIES_DELETE_MAX || i + 1 == l.n))
			rc = rc_cookies_delete(dir, ks->k, ks->n, now);
		if (ks->n == RC_COOKIES_DELETE_MAX || rc < 0)
			keys_free(ks);
	}
	*deleted = l.n;
	keys_free(ks);
	free(ks);
	rc_cookies_free(&l);
	if (rc < 0)
		snprintf(err, errlen, "cannot delete: %s", strerror(-rc));
	return rc < 0 ? -EIO : 0;
}

static const char delete_shape[] =
	"the body is {\"cookies\": [{\"name\": .., \"domain\": .., \"path\": ..}]} or {\"all\": true}";

int rc_views_cookies_delete(const char *dir, const char *body, size_t body_len,
			    struct rc_buf *out, char *err, size_t errlen)
{
	json_t *o = NULL, *arr;
	int rc = rc_json_parse_object(body, body_len, &o, err, errlen);
	bool all = rc == 0 && json_object_size(o) == 1 && json_is_true(json_object_get(o, "all"));
	arr = rc == 0 && json_object_size(o) == 1 ? json_object_get(o, "cookies") : NULL;
	if (rc < 0 || (!all && !json_is_array(arr))) {
		json_decref(o);
		snprintf(err, errlen, "%s", delete_shape);
		return -EINVAL;
	}
	size_t n = 0;
	struct keys *ks = all ? NULL : calloc(1, sizeof(*ks));
	if (all)
		rc = delete_all(dir, &n, err, errlen);
	else if (ks == NULL)
		rc = (snprintf(err, errlen, "out of memory"), -ENOMEM);
	else if ((rc = keys_from_array(arr, ks, err, errlen)) == 0 && ks->n > 0 &&
		 (rc = rc_cookies_delete(dir, ks->k, ks->n, (uint64_t)rc_api_now_ns())) < 0)
		rc = (snprintf(err, errlen, "cannot delete: %s", strerror(-rc)), -EIO);
	if (ks != NULL) {
		n = ks->n;
		keys_free(ks);
		free(ks);
	}
	json_decref(o);
	if (rc == 0)
		rc_buf_printf(out, "{\"deleted\":%zu}", n);
	return rc;
}

/* ---- routes ---- */

static int h_overview(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	return rc < 0 ? rc : rc_views_overview(dir, rq->query, &rs->body, rs->err, sizeof(rs->err));
}

static int h_cookies(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	return rc < 0 ? rc : rc_views_cookies_get(dir, rq->query, &rs->body, &rs->ctype, rs->err,
						  sizeof(rs->err));
}

static int h_cookies_delete(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	return rc < 0 ? rc : rc_views_cookies_delete(dir, rq->body, rq->body_len, &rs->body,
						     rs->err, sizeof(rs->err));
}

static const struct rc_route_param overview_q[] = {
	{ "by", "{\"type\":\"string\",\"enum\":[\"method\",\"domain\",\"type\",\"status\"]}",
	  "group by" },
	{ "interval_ms", "{\"type\":\"integer\",\"minimum\":1}", "traffic series step" },
	{ "search", "{\"type\":\"string\"}", "as the exchanges listing: URL or host "
	  "contains it, or the method or status is it" },
	{ NULL, NULL, NULL },
};
static const struct rc_route_param cookies_q[] = {
	{ "format", "{\"type\":\"string\",\"enum\":[\"json\",\"netscape\"]}",
	  "netscape: a curl cookie jar" },
	{ NULL, NULL, NULL },
};

#define API RC_ROUTE_API
static const struct rc_route routes[] = {
	{ "GET", "/api/sessions/:id/overview", h_overview, API, "Counts, bytes and a traffic "
	  "series grouped by method, domain, type or status", overview_q, NULL, NULL,
	  RC_SCHEMA("Overview"), 0, "400 404" },
	{ "GET", "/api/sessions/:id/cookies", h_cookies, API, "The session's cookie records, or a "
	  "cookie jar", cookies_q, NULL, NULL, RC_SCHEMA("CookieList"), 0, "400 404" },
	{ "DELETE", "/api/sessions/:id/cookies", h_cookies_delete, API, "Delete cookies by key, or "
	  "all", NULL, RC_SCHEMA("CookieDelete"), NULL, RC_SCHEMA("Deleted"), 0, "400 404" },
};

const struct rc_route_table rc_views_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
