/*
 * tools/control/api.c - the JSON API under /api/ (routes in api.h): path split and
 * dispatch, session lifecycle through the session manager, exchanges
 * through persist/'s query layer and the listing JSON shared with
 * `ringcap ls --json` (tools/listing.c). The event stream is in events.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/flt.h"
#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/control/api.h"
#include "tools/control/events.h"
#include "tools/views/filter.h"
#include "tools/control/http.h"
#include "tools/lib/json.h"
#include "tools/views/listing.h"
#include "tools/control/views_routes.h"
#include "tools/capture/sessions.h"

#define PARTS_MAX 6u     /* /api/sessions/ID/exchanges/XID/response_body */
#define PART_MAX 256u    /* one decoded path segment */
#define ERR_MAX 512u

struct rc_api {
	struct rc_sessions *m;
	atomic_uint streams;
};

struct call {
	struct rc_api *a;
	struct rc_http_conn *h;
	struct rc_http_req *rq;
	char part[PARTS_MAX][PART_MAX];
	unsigned nparts;
	struct ses_meta ses;     /* the session named by part[1], once resolved */
	char dir[4096];          /* its directory */
	struct rc_buf out;       /* the JSON answer */
	const char *ctype;       /* NULL: JSON (or raw bytes for a body) */
	const char *allow;       /* for 405 */
	char err[ERR_MAX];
};

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int errno_status(int rc)
{
	switch (rc) {
	case -EINVAL: case -E2BIG: return 400;
	case -ENOENT: return 404;
	case -EBUSY: case -EEXIST: case -EPERM: return 409;
	default: return 500;
	}
}

static bool is(const struct call *c, const char *method)
{
	return strcmp(c->rq->method, method) == 0;
}

/* 405 with the methods a route takes. */
static int not_allowed(struct call *c, const char *allow)
{
	c->allow = allow;
	snprintf(c->err, sizeof(c->err), "%s is not allowed here (allowed: %s)", c->rq->method,
		 allow);
	return 405;
}

/* ---- sessions ---- */

static void session_out(struct call *c, const struct ses_meta *m, bool clients)
{
	struct ses_stats st = {0};
	char dir[4096];
	ses_stats(rc_sessions_data_dir(c->a->m), m->id, &st);
	struct rc_clients *cl = clients ? calloc(1, sizeof(*cl)) : NULL;
	if (cl && ses_dir(dir, sizeof(dir), rc_sessions_data_dir(c->a->m), m->id) == 0)
		rc_session_clients(dir, cl);
	rc_session_json(&c->out, m, &st, cl);
	free(cl);
}

static int h_sessions_list(struct call *c)
{
	struct ses_meta *s = calloc(SES_LIST_MAX, sizeof(*s));
	size_t n = 0;
	int rc = s ? ses_list(rc_sessions_data_dir(c->a->m), s, SES_LIST_MAX, &n) : -ENOMEM;
	if (rc < 0) {
		free(s);
		snprintf(c->err, sizeof(c->err), "cannot list sessions: %s", strerror(-rc));
		return 500;
	}
	rc_buf_puts(&c->out, "[");
	for (size_t i = 0; i < n; i++) {
		struct ses_meta live;
		/* the manager's copy of the active one is the current truth */
		if (rc_sessions_find(c->a->m, s[i].id, &live, c->err, sizeof(c->err)) == 0)
			s[i] = live;
		rc_buf_puts(&c->out, i ? "," : "");
		session_out(c, &s[i], true);
	}
	rc_buf_puts(&c->out, "]");
	free(s);
	return 200;
}

static int h_status(struct call *c)
{
	struct ses_meta m;
	rc_buf_puts(&c->out, "{\"active\":");
	if (rc_sessions_find(c->a->m, "active", &m, c->err, sizeof(c->err)) == 0)
		session_out(c, &m, false);
	else
		rc_buf_puts(&c->out, "null");
	rc_buf_puts(&c->out, "}");
	return 200;
}

/* Reads a session body into ch; spec (initialised) receives a filter. */
static int parse_change(struct call *c, struct rc_session_change *ch, char *name, size_t namecap,
			struct flt_spec *spec)
{
	struct rc_jreader r;
	struct rc_jval v;
	char key[32];
	unsigned seen = 0;
	static const char *const keys[] = { "name", "save_responses", "capture_cookies",
					    "max_body", "filter" };
	int rc = rc_json_object_begin(&r, c->rq->body, c->rq->body_len, c->err, sizeof(c->err));
	while (rc == 0 && (rc = rc_json_object_next(&r, key, sizeof(key), &v, c->err,
						    sizeof(c->err))) == 1) {
		unsigned k = 0;
		while (k < 5 && strcmp(key, keys[k]) != 0)
			k++;
		rc = -EINVAL;
		if (k == 5) {
			snprintf(c->err, sizeof(c->err), "unknown key '%s' (keys: name, save_responses, "
				 "capture_cookies, max_body, filter)", key);
		} else if (seen & (1u << k)) {
			snprintf(c->err, sizeof(c->err), "key '%s' given twice", key);
		} else if (k == 0) {
			int n = rc_json_string(&v, name, namecap);
			if (n < 0 || !ses_name_valid(name))
				snprintf(c->err, sizeof(c->err), "'name' must be a string of 1 to %u bytes "
					 "without '/' or control characters", SES_NAME_MAX);
			else
				ch->name = name, rc = 0;
		} else if (k == 1 || k == 2) {
			bool b;
			if (rc_json_bool(&v, &b) < 0)
				snprintf(c->err, sizeof(c->err), "'%s' must be true or false, not %s", key,
					 rc_json_type_name(v.type));
			else
				*(k == 1 ? &ch->save_responses : &ch->capture_cookies) = b, rc = 0;
		} else if (k == 3) {
			uint64_t n;
			if (rc_json_u64(&v, &n) < 0 || n < 1 || n > RC_SES_BODY_MAX)
				snprintf(c->err, sizeof(c->err), "'max_body' must be an integer from 1 to "
					 "%u (bytes)", RC_SES_BODY_MAX);
			else
				ch->max_body = (int64_t)n, rc = 0;
		} else if (v.type == RC_J_NULL) {
			ch->filter = spec, rc = 0;   /* null: no filter */
		} else if (v.type != RC_J_OBJECT) {
			snprintf(c->err, sizeof(c->err), "'filter' must be an object or null, not %s",
				 rc_json_type_name(v.type));
		} else {
			char ferr[256];
			rc = flt_spec_parse_json(spec, v.p, v.len, ferr, sizeof(ferr));
			if (rc < 0)
				snprintf(c->err, sizeof(c->err), "filter: %s", ferr);
			else
				ch->filter = spec;
		}
		seen |= 1u << (k < 5 ? k : 0);
	}
	return rc < 0 ? rc : 0;
}

static int h_session_start(struct call *c)
{
	struct rc_session_change ch = RC_SESSION_KEEP;
	struct flt_spec spec;
	char name[PART_MAX];
	flt_spec_init(&spec);
	int rc = 0;
	if (c->rq->body_len > 0)
		rc = parse_change(c, &ch, name, sizeof(name), &spec);
	if (rc == 0)
		rc = rc_sessions_start(c->a->m, &ch, &c->ses, c->err, sizeof(c->err));
	flt_spec_free(&spec);
	if (rc < 0)
		return errno_status(rc);
	session_out(c, &c->ses, false);
	return 201;
}

static int h_session_patch(struct call *c)
{
	struct rc_session_change ch = RC_SESSION_KEEP;
	struct flt_spec spec;
	char name[PART_MAX];
	flt_spec_init(&spec);
	int rc = parse_change(c, &ch, name, sizeof(name), &spec);
	if (rc == 0)
		rc = rc_sessions_update(c->a->m, c->ses.id, &ch, &c->ses, c->err, sizeof(c->err));
	flt_spec_free(&spec);
	if (rc < 0)
		return errno_status(rc);
	session_out(c, &c->ses, false);
	return 200;
}

static int h_session_action(struct call *c, const char *action)
{
	int (*fn)(struct rc_sessions *, const char *, struct ses_meta *, char *, size_t) =
		strcmp(action, "pause") == 0 ? rc_sessions_pause :
		strcmp(action, "resume") == 0 ? rc_sessions_resume : rc_sessions_stop;
	if (!is(c, "POST"))
		return not_allowed(c, "POST");
	int rc = fn(c->a->m, c->ses.id, &c->ses, c->err, sizeof(c->err));
	if (rc < 0)
		return errno_status(rc);
	session_out(c, &c->ses, false);
	return 200;
}

static int h_session(struct call *c)
{
	if (is(c, "GET") || is(c, "HEAD")) {
		session_out(c, &c->ses, true);
		return 200;
	}
	if (is(c, "PATCH"))
		return h_session_patch(c);
	if (!is(c, "DELETE"))
		return not_allowed(c, "GET, PATCH, DELETE");
	int rc = rc_sessions_delete(c->a->m, c->ses.id, c->err, sizeof(c->err));
	if (rc < 0)
		return errno_status(rc);
	rc_buf_printf(&c->out, "{\"deleted\":\"%s\"}", c->ses.id);
	return 200;
}

/* ---- exchanges ---- */

#define LIST_PARAMS 6u
static const char *const list_keys[LIST_PARAMS] = { "sort", "reverse", "search", "limit",
						    "offset", "filter" };

/* Every parameter must be one we know. */
static int list_known(struct call *c)
{
	for (const char *p = c->rq->query; *p;) {
		size_t n = strcspn(p, "=&");
		bool known = false;
		for (unsigned k = 0; k < LIST_PARAMS; k++)
			known |= strlen(list_keys[k]) == n && strncmp(p, list_keys[k], n) == 0;
		if (!known) {
			snprintf(c->err, sizeof(c->err), "unknown parameter '%.*s' (sort, reverse, "
				 "search, limit, offset, filter)", (int)(n < 64 ? n : 64), p);
			return 400;
		}
		p += strcspn(p, "&");
		p += *p == '&';
	}
	return 0;
}

/* The listing parameters into q (q->search points into vals) and the
 * query-time filter (the filter's JSON form) into f. 0 or 400. */
static int list_params(struct call *c, struct seg_query *q, char (*vals)[RC_HTTP_QUERY_MAX],
		       struct rc_filter *f)
{
	if (list_known(c))
		return 400;
	for (unsigned k = 0; k < LIST_PARAMS; k++) {
		int n = rc_http_query(c->rq->query, list_keys[k], vals[k], RC_HTTP_QUERY_MAX);
		if (n == -ENOENT)
			continue;
		if (n < 0) {
			snprintf(c->err, sizeof(c->err), "parameter '%s': bad percent-encoding",
				 list_keys[k]);
			return 400;
		}
		if (k < LIST_PARAMS - 1) {
			if (rc_query_param(q, list_keys[k], vals[k], c->err, sizeof(c->err)) < 0)
				return 400;
			continue;
		}
		char ferr[FLT_ERR_LEN + 64];
		int rc = flt_spec_parse_json(&f->spec, vals[k], (size_t)n, ferr, sizeof(ferr));
		if (rc == 0)
			rc = rc_filter_compile(f, ferr, sizeof(ferr));
		if (rc < 0) {
			snprintf(c->err, sizeof(c->err), "filter: %s", ferr);
			return 400;
		}
		rc_filter_query(f, c->dir, q);
	}
	if (q->limit == 0 || q->limit > RC_API_LIST_MAX) {
		snprintf(c->err, sizeof(c->err), "limit must be 1 to %u", RC_API_LIST_MAX);
		return 400;
	}
	return 0;
}

static int h_exchanges_list(struct call *c)
{
	struct seg_query q = { .limit = RC_API_LIST_DEFAULT };
	char (*vals)[RC_HTTP_QUERY_MAX] = calloc(LIST_PARAMS, RC_HTTP_QUERY_MAX);
	struct rc_filter f;
	rc_filter_init(&f);
	int status = vals ? list_params(c, &q, vals, &f) : 500;
	struct rc_buf rows = {0};
	size_t total = 0;
	uint64_t damaged = 0;
	int rc = status ? 0 : rc_list_session(c->dir, &q, &rows, &total, &damaged);
	if (status == 0 && rc == 0)
		rc_buf_printf(&c->out, "{\"total\":%zu,\"offset\":%zu,\"limit\":%zu,\"damaged\":%llu,"
			      "\"exchanges\":%s}", total, q.offset, q.limit,
			      (unsigned long long)damaged, rows.p);
	rc_buf_free(&rows);
	rc_filter_free(&f);
	free(vals);
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "cannot read the session's exchanges: %s",
			 strerror(-rc));
		return 500;
	}
	return status ? status : 200;
}

/* Parses an exchange id and checks it is in the session and not deleted. */
static int find_exchange(struct call *c, const char *text, uint64_t *id,
			 const struct seg_table *t)
{
	struct rc_jval v = { RC_J_NUMBER, text, strlen(text) };
	if (rc_json_u64(&v, id) < 0) {
		snprintf(c->err, sizeof(c->err), "exchange id '%.64s' is not a number", text);
		return 400;
	}
	const struct seg_qrow *r = rc_row_find(t, *id);
	if (r) {
		*id = r->e.id;   /* the store's own id from here on */
		return (r->e.flags & SEG_F_DELETED) ? 404 : 0;
	}
	snprintf(c->err, sizeof(c->err), "no exchange %llu in session '%s'",
		 (unsigned long long)*id, c->ses.name);
	return 404;
}

static int load_table(struct call *c, struct seg_table *t)
{
	int rc = seg_table_load(c->dir, t, NULL);
	if (rc < 0)
		snprintf(c->err, sizeof(c->err), "cannot read session '%s': %s", c->ses.name,
			 strerror(-rc));
	return rc < 0 ? 500 : 0;
}

/* ids from a body {"ids": [..]} into ids[*n]; 0 or 400 with c->err set. */
static int ids_from_body(struct call *c, uint64_t *ids, size_t *n)
{
	static const char shape[] = "the body is {\"ids\": [id, ...]}";
	struct rc_jreader r, a;
	struct rc_jval v, e;
	char key[16];
	int rc = rc_json_object_begin(&r, c->rq->body, c->rq->body_len, c->err, sizeof(c->err));
	if (rc == 0 && (rc = rc_json_object_next(&r, key, sizeof(key), &v, c->err,
						  sizeof(c->err))) >= 0) {
		rc = rc == 1 && strcmp(key, "ids") == 0 && v.type == RC_J_ARRAY ? 0 : -EINVAL;
		if (rc < 0)
			snprintf(c->err, sizeof(c->err), "%s", shape);
	}
	if (rc == 0)
		rc = rc_json_array_begin(&a, v.p, v.len, c->err, sizeof(c->err));
	while (rc == 0 && (rc = rc_json_array_next(&a, &e, c->err, sizeof(c->err))) == 1) {
		rc = *n == RC_API_IDS_MAX || rc_json_u64(&e, &ids[*n]) < 0 ? -EINVAL : 0;
		if (rc < 0 && *n == RC_API_IDS_MAX)
			snprintf(c->err, sizeof(c->err), "more than %u ids", RC_API_IDS_MAX);
		else if (rc < 0)
			snprintf(c->err, sizeof(c->err), "ids are non-negative integers (at index %zu)",
				 *n);
		(*n)++;
	}
	if (rc == 0 && (rc = rc_json_object_next(&r, key, sizeof(key), &v, c->err,
						  sizeof(c->err))) != 0) {
		if (rc > 0)
			snprintf(c->err, sizeof(c->err), "unknown key '%s': %s", key, shape);
		rc = -EINVAL;
	}
	return rc < 0 ? 400 : 0;
}

/* ids from the query "ids=1,2,3"; 0 or 400. */
static int ids_from_query(struct call *c, uint64_t *ids, size_t *n)
{
	char text[RC_HTTP_QUERY_MAX];
	int k = rc_http_query(c->rq->query, "ids", text, sizeof(text));
	char *save = NULL, *tok;
	for (char *s = text; k > 0 && (tok = strtok_r(s, ",", &save)) != NULL; s = NULL) {
		struct rc_jval v = { RC_J_NUMBER, tok, strlen(tok) };
		if (*n == RC_API_IDS_MAX || rc_json_u64(&v, &ids[(*n)++]) < 0) {
			snprintf(c->err, sizeof(c->err), "ids: '%.64s' is not an exchange id", tok);
			return 400;
		}
	}
	return 0;
}

/* Deletes ids given as a JSON array (body {"ids":[..]}) or a query
 * "ids=1,2,3"; all must exist, else nothing is deleted. */
static int h_exchanges_delete(struct call *c)
{
	uint64_t *ids = malloc(RC_API_IDS_MAX * sizeof(*ids));
	size_t n = 0;
	struct seg_table t = {0};
	int status = ids == NULL ? 500 : c->rq->body_len > 0 ? ids_from_body(c, ids, &n)
							    : ids_from_query(c, ids, &n);
	if (status == 0 && n == 0) {
		snprintf(c->err, sizeof(c->err), "no ids: send {\"ids\": [..]} or ?ids=1,2");
		status = 400;
	}
	if (status == 0)
		status = load_table(c, &t);
	for (size_t i = 0; status == 0 && i < n; i++) {
		char num[24];
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ids[i]);
		uint64_t id;
		status = find_exchange(c, num, &id, &t);
		ids[i] = id;
		if (status == 404)
			snprintf(c->err, sizeof(c->err), "no exchange %s in session '%s': nothing deleted",
				 num, c->ses.name);
	}
	if (status == 0) {
		int rc = seg_tombstone(c->dir, ids, n, wall_ns());
		if (rc < 0) {
			snprintf(c->err, sizeof(c->err), "cannot delete: %s", strerror(-rc));
			status = 500;
		} else {
			rc_buf_printf(&c->out, "{\"deleted\":%zu}", n);
			status = 200;
		}
	}
	seg_table_free(&t);
	free(ids);
	return status;
}

static int count_body(void *ctx, enum seg_dir dir, const void *p, size_t n)
{
	(void)p;
	((size_t *)ctx)[dir] += n;
	return 0;
}

struct body_ctx {
	struct rc_buf buf;
	enum seg_dir dir;   /* the body kept */
};

static int keep_body(void *ctx, enum seg_dir dir, const void *p, size_t n)
{
	struct body_ctx *b = ctx;
	if (dir == b->dir)
		rc_buf_add(&b->buf, p, n);
	return b->buf.oom ? -ENOSPC : 0;
}

/* GET/DELETE one exchange, or one of its bodies (which = "request_body"
 * or "response_body", NULL for the exchange). */
static int h_exchange(struct call *c, const char *xid, const char *which)
{
	struct seg_table t = {0};
	uint64_t id = 0;
	int status = load_table(c, &t);
	if (status == 0)
		status = find_exchange(c, xid, &id, &t);
	seg_table_free(&t);
	if (status == 404 && c->err[0] == '\0')
		snprintf(c->err, sizeof(c->err), "exchange %s was deleted", xid);
	if (status)
		return status;
	if (which == NULL && is(c, "DELETE")) {
		int rc = seg_tombstone(c->dir, &id, 1, wall_ns());
		if (rc < 0)
			return snprintf(c->err, sizeof(c->err), "cannot delete: %s", strerror(-rc)), 500;
		rc_buf_puts(&c->out, "{\"deleted\":1}");
		return 200;
	}
	if (!is(c, "GET") && !is(c, "HEAD"))
		return not_allowed(c, which ? "GET" : "GET, DELETE");
	size_t sizes[2] = { 0, 0 };
	struct body_ctx body = {
		.buf = { .max = RC_API_BODY_OUT_MAX },
		.dir = which && strcmp(which, "response_body") == 0 ? SEG_DIR_RESP : SEG_DIR_REQ,
	};
	struct seg_open_opts o = { .on_body = which ? keep_body : count_body,
				   .ctx = which ? (void *)&body : (void *)sizes };
	struct seg_exchange x;
	int rc = seg_open_id(c->dir, id, &o, &x);
	if (rc < 0) {
		rc_buf_free(&body.buf);
		snprintf(c->err, sizeof(c->err), "exchange %s: %s", xid, rc == -EBADMSG ?
			 "its frames are damaged (ringcap fsck)" : rc == -ENOSPC ?
			 "body larger than the API serves" : strerror(-rc));
		return rc == -ENOENT ? 404 : 500;
	}
	if (which) {
		c->out = body.buf;
	} else {
		x.body_len[0] = sizes[0];
		x.body_len[1] = sizes[1];
		rc_exchange_json(&c->out, &x);
	}
	seg_exchange_free(&x);
	return 200;
}

static int h_exchanges(struct call *c)
{
	if (c->nparts == 3) {
		if (is(c, "GET") || is(c, "HEAD"))
			return h_exchanges_list(c);
		if (is(c, "DELETE"))
			return h_exchanges_delete(c);
		return not_allowed(c, "GET, DELETE");
	}
	if (c->nparts == 4 && strcmp(c->part[3], "delete") == 0)
		return is(c, "POST") ? h_exchanges_delete(c) : not_allowed(c, "POST");
	if (c->nparts == 4)
		return h_exchange(c, c->part[3], NULL);
	if (strcmp(c->part[4], "request_body") != 0 && strcmp(c->part[4], "response_body") != 0)
		return snprintf(c->err, sizeof(c->err), "no route %.200s", c->rq->path), 404;
	return h_exchange(c, c->part[3], c->part[4]);
}

/* ---- dispatch ---- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Splits the path after "/api/" into percent-decoded parts. */
static int split(struct call *c)
{
	const char *p = c->rq->path + 4;   /* "/api" */
	c->nparts = 0;
	while (*p == '/' && p[1] != '\0') {
		p++;
		if (c->nparts == PARTS_MAX)
			return -1;
		char *o = c->part[c->nparts++];
		size_t n = 0;
		for (; *p && *p != '/'; p++) {
			int ch = (unsigned char)*p;
			if (*p == '%') {
				int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;
				if (lo < 0 || (hi | lo) == 0)
					return -1;
				ch = hi * 16 + lo;
				p += 2;
			}
			if (n + 1 >= PART_MAX)
				return -1;
			o[n++] = (char)ch;
		}
		o[n] = '\0';
		if (n == 0)
			return -1;
	}
	return 0;
}

static int route_session(struct call *c)
{
	int rc = rc_sessions_find(c->a->m, c->part[1], &c->ses, c->err, sizeof(c->err));
	if (rc < 0)
		return 404;
	ses_dir(c->dir, sizeof(c->dir), rc_sessions_data_dir(c->a->m), c->ses.id);
	if (c->nparts == 2)
		return h_session(c);
	const char *sub = c->part[2];
	if (c->nparts == 3 && (!strcmp(sub, "pause") || !strcmp(sub, "resume") || !strcmp(sub, "stop")))
		return h_session_action(c, sub);
	if (c->nparts == 3 && !strcmp(sub, "events"))
		return 0;   /* the caller streams */
	if (!strcmp(sub, "exchanges") && c->nparts <= 5)
		return h_exchanges(c);
	if (c->nparts == 3 && !strcmp(sub, "overview"))
		return is(c, "GET") || is(c, "HEAD")
			? rc_views_overview(c->dir, c->rq->query, &c->out, c->err, sizeof(c->err))
			: not_allowed(c, "GET");
	if (c->nparts == 3 && !strcmp(sub, "cookies")) {
		int st = rc_views_cookies(c->dir, c->rq->head_only ? "HEAD" : c->rq->method,
					  c->rq->query, c->rq->body, c->rq->body_len, &c->out,
					  &c->ctype, c->err, sizeof(c->err));
		if (st == 405)
			c->allow = "GET, DELETE";
		return st;
	}
	snprintf(c->err, sizeof(c->err), "no route %.200s", c->rq->path);
	return 404;
}

static int route(struct call *c)
{
	if (split(c) < 0 || c->nparts == 0) {
		snprintf(c->err, sizeof(c->err), "no route %.200s", c->rq->path);
		return 404;
	}
	if (c->nparts == 1 && !strcmp(c->part[0], "status"))
		return is(c, "GET") || is(c, "HEAD") ? h_status(c) : not_allowed(c, "GET");
	if (strcmp(c->part[0], "sessions") != 0) {
		snprintf(c->err, sizeof(c->err), "no route %.200s", c->rq->path);
		return 404;
	}
	if (c->nparts == 1) {
		if (is(c, "GET") || is(c, "HEAD"))
			return h_sessions_list(c);
		return is(c, "POST") ? h_session_start(c) : not_allowed(c, "GET, POST");
	}
	return route_session(c);
}

static bool events(struct call *c)
{
	if (!is(c, "GET")) {
		rc_http_error(c->h, not_allowed(c, "GET"), c->err, c->rq->keep_alive);
		return c->rq->keep_alive;
	}
	if (atomic_fetch_add(&c->a->streams, 1) >= RC_API_SSE_MAX) {
		atomic_fetch_sub(&c->a->streams, 1);
		rc_http_error(c->h, 503, "too many event streams", false);
		return false;
	}
	rc_events_stream(c->h, rc_sessions_data_dir(c->a->m), &c->ses);
	atomic_fetch_sub(&c->a->streams, 1);
	return false;
}

bool rc_api_handle(struct rc_api *a, struct rc_http_conn *h, struct rc_http_req *rq)
{
	struct call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc_http_error(h, 500, "out of memory", false);
		return false;
	}
	*c = (struct call){ .a = a, .h = h, .rq = rq, .out = { .max = 256u << 20 } };
	bool keep = rq->keep_alive;
	int status = route(c);
	if (status == 0 && c->nparts == 3 && strcmp(c->part[2], "events") == 0) {
		keep = events(c);
	} else if (status >= 400 || c->out.oom) {
		if (status < 400)
			snprintf(c->err, sizeof(c->err), "answer too large"), status = 500;
		char extra[96] = "";
		if (c->allow)
			snprintf(extra, sizeof(extra), "Allow: %s\r\n", c->allow);
		rc_buf_free(&c->out);
		rc_buf_puts(&c->out, "{\"error\":");
		rc_buf_jstr(&c->out, c->err, strlen(c->err));
		rc_buf_puts(&c->out, "}\n");
		if (rc_http_reply(h, status, "application/json", c->out.p, c->out.len, keep,
				  rq->head_only, extra[0] ? extra : NULL) < 0)
			keep = false;
	} else {
		bool raw = c->nparts == 5;
		if (!raw && c->ctype == NULL)
			rc_buf_puts(&c->out, "\n");
		if (rc_http_reply(h, status, c->ctype ? c->ctype : raw ? "application/octet-stream"
				  : "application/json",
				  c->out.p ? c->out.p : "", c->out.len, keep, rq->head_only, NULL) < 0)
			keep = false;
	}
	rc_buf_free(&c->out);
	free(c);
	return keep;
}

int rc_api_create(struct rc_api **out, struct rc_sessions *m)
{
	struct rc_api *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->m = m;
	*out = a;
	return 0;
}

void rc_api_free(struct rc_api *a)
{
	free(a);
}

void rc_api_tick(struct rc_api *a)
{
	rc_sessions_tick(a->m);
}
