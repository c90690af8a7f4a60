/*
 * tools/control/views_routes.c - overview and cookie routes of the control API
 * (tools/viewsapi.h): query and body parsing around tools/overview.c and
 * tools/cookies.c, whose FILE* output goes through open_memstream into
 * the API's growable buffer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/ses.h"
#include "tools/views/cookie.h"
#include "tools/views/cookies.h"
#include "tools/control/http.h"
#include "tools/lib/json.h"
#include "tools/views/overview.h"
#include "tools/control/views_routes.h"

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
	int k = rc_http_query(query ? query : "", key, out, cap);
	if (k == -ENOENT) {
		out[0] = '\0';
		return true;
	}
	if (k < 0)
		snprintf(err, errlen, "query parameter '%s': %s", key,
			 k == -E2BIG ? "too long" : "bad percent-encoding");
	return k >= 0;
}

/* Appends what fn wrote to a memstream to out; 0 or 500 (err set). */
static int from_stream(struct rc_buf *out, char *mem, size_t len, char *err, size_t errlen)
{
	if (mem == NULL) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	rc_buf_add(out, mem, len);
	free(mem);
	return out->oom ? (snprintf(err, errlen, "answer too large"), 500) : 200;
}

int rc_views_overview(const char *session_dir, const char *query, struct rc_buf *out,
		      char *err, size_t errlen)
{
	char by[VQ_MAX], iv[VQ_MAX], search[VQ_MAX];
	if (!qval(query, "by", by, sizeof(by), err, errlen) ||
	    !qval(query, "interval_ms", iv, sizeof(iv), err, errlen) ||
	    !qval(query, "search", search, sizeof(search), err, errlen))
		return 400;
	if (by[0] == '\0')
		snprintf(by, sizeof(by), "method");
	if (rc_overview_by(by) < 0) {
		snprintf(err, errlen, "by '%.64s': one of method, domain, type, status", by);
		return 400;
	}
	char *end;
	unsigned long long ms = strtoull(iv, &end, 10);
	if (iv[0] != '\0' && (*end != '\0' || iv[0] == '-' || ms == 0 || ms > 86400000ull * 366)) {
		snprintf(err, errlen, "interval_ms '%.64s': a number of milliseconds, 1 to a year", iv);
		return 400;
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
		return rc == -ERANGE ? 400 : 500;
	}
	return from_stream(out, mem, len, err, errlen);
}

static int cookies_get(const char *dir, const char *query, struct rc_buf *out, const char **ctype,
		       char *err, size_t errlen)
{
	char fmt[VQ_MAX];
	if (!qval(query, "format", fmt, sizeof(fmt), err, errlen))
		return 400;
	bool jar = strcmp(fmt, "netscape") == 0;
	if (!jar && fmt[0] != '\0' && strcmp(fmt, "json") != 0) {
		snprintf(err, errlen, "format '%.64s': json or netscape", fmt);
		return 400;
	}
	struct rc_cookie_list l;
	int rc = rc_cookies_load(dir, &l);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the session's cookies: %s", strerror(-rc));
		return 500;
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

/* One {"name":..,"domain":..,"path":..} of the body. 0 or -EINVAL with
 * err set. */
struct keytext {
	char s[3][RC_COOKIE_NAME_VALUE_MAX + 1]; /* name, domain, path */
};

static int one_key(const struct rc_jval *v, struct keytext *kt, char *err, size_t errlen)
{
	static const char *const names[3] = { "name", "domain", "path" };
	struct rc_jreader r;
	struct rc_jval m;
	char key[16];
	bool got[3] = { false, false, false };
	int rc = v->type == RC_J_OBJECT ? rc_json_object_begin(&r, v->p, v->len, err, errlen)
					: (snprintf(err, errlen, "each cookie is an object"), -EINVAL);
	while (rc == 0 && (rc = rc_json_object_next(&r, key, sizeof(key), &m, err, errlen)) == 1) {
		int i = 0;
		while (i < 3 && strcmp(key, names[i]) != 0)
			i++;
		if (i == 3 || m.type != RC_J_STRING ||
		    rc_json_string(&m, kt->s[i], sizeof(kt->s[i])) < 0) {
			snprintf(err, errlen, "cookie key '%s': name, domain and path are strings", key);
			return -EINVAL;
		}
		got[i] = true;
		rc = 0;
	}
	if (rc == 0 && !(got[0] && got[1] && got[2])) {
		snprintf(err, errlen, "each cookie needs name, domain and path");
		rc = -EINVAL;
	}
	return rc < 0 ? -EINVAL : 0;
}

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

/* The "cookies" array of the body into ks. 0, or 400/500 with err set. */
static int keys_from_array(const struct rc_jval *arr, struct keys *ks, char *err, size_t errlen)
{
	struct rc_jreader a;
	struct rc_jval e;
	struct keytext *kt = malloc(sizeof(*kt));
	int rc = kt ? rc_json_array_begin(&a, arr->p, arr->len, err, errlen) : -ENOMEM;
	while (rc == 0 && (rc = rc_json_array_next(&a, &e, err, errlen)) == 1) {
		if (ks->n == RC_COOKIES_DELETE_MAX) {
			snprintf(err, errlen, "more than %u cookies in one call", RC_COOKIES_DELETE_MAX);
			rc = -EINVAL;
			break;
		}
		rc = one_key(&e, kt, err, errlen);
		if (rc == 0)
			rc = keys_add(ks, kt->s[0], kt->s[1], kt->s[2]);
	}
	free(kt);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc == 0 ? 0 : rc == -ENOMEM ? 500 : 400;
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
		return 500;
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
	return rc < 0 ? 500 : 0;
}

static const char delete_shape[] =
	"the body is {\"cookies\": [{\"name\": .., \"domain\": .., \"path\": ..}]} or {\"all\": true}";

static int cookies_delete(const char *dir, const char *body, size_t body_len, struct rc_buf *out,
			  char *err, size_t errlen)
{
	struct rc_jreader r;
	struct rc_jval v;
	char key[16];
	bool all = false;
	int rc = rc_json_object_begin(&r, body ? body : "", body_len, err, errlen);
	if (rc == 0 && (rc = rc_json_object_next(&r, key, sizeof(key), &v, err, errlen)) == 1)
		rc = (strcmp(key, "all") == 0 && rc_json_bool(&v, &all) == 0 && all) ||
		     (strcmp(key, "cookies") == 0 && v.type == RC_J_ARRAY) ? 0 : -EINVAL;
	else if (rc == 0)
		rc = -EINVAL; /* {} */
	struct rc_jval more;
	if (rc == 0 && rc_json_object_next(&r, key, sizeof(key), &more, err, errlen) != 0)
		rc = -EINVAL;
	if (rc < 0) {
		snprintf(err, errlen, "%s", delete_shape);
		return 400;
	}
	size_t n = 0;
	int status = 0;
	struct keys *ks = all ? NULL : calloc(1, sizeof(*ks));
	if (all)
		status = delete_all(dir, &n, err, errlen);
	else if (ks == NULL)
		status = (snprintf(err, errlen, "out of memory"), 500);
	else if ((status = keys_from_array(&v, ks, err, errlen)) == 0 && ks->n > 0) {
		rc = rc_cookies_delete(dir, ks->k, ks->n, wall_ns());
		if (rc < 0)
			status = (snprintf(err, errlen, "cannot delete: %s", strerror(-rc)), 500);
	}
	if (ks != NULL) {
		n = ks->n;
		keys_free(ks);
		free(ks);
	}
	if (status != 0)
		return status;
	rc_buf_printf(out, "{\"deleted\":%zu}", n);
	return 200;
}

int rc_views_cookies(const char *session_dir, const char *method, const char *query,
		     const char *body, size_t body_len, struct rc_buf *out, const char **ctype,
		     char *err, size_t errlen)
{
	*ctype = "application/json";
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return cookies_get(session_dir, query, out, ctype, err, errlen);
	if (strcmp(method, "DELETE") == 0)
		return cookies_delete(session_dir, body, body_len, out, err, errlen);
	snprintf(err, errlen, "%s: allowed are GET, DELETE", method);
	return 405;
}
