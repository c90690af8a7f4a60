/*
 * tools/control/exchanges_routes.c - a session's exchanges in the API:
 *
 *   GET    /api/sessions/:id/exchanges?sort=&reverse=&search=&limit=&offset=
 *                                       &filter=<the filter's JSON form>
 *   POST   /api/sessions/:id/exchanges/delete    {"ids": [..]}
 *   DELETE /api/sessions/:id/exchanges?ids=1,2   (same, ids in the query)
 *   GET    /api/sessions/:id/exchanges/:xid      one exchange (`show --json`)
 *   DELETE /api/sessions/:id/exchanges/:xid
 *   GET    /api/sessions/:id/exchanges/:xid/request_body|response_body[?download=1]
 *   GET    /api/sessions/:id/exchanges/:xid/messages   its WebSocket messages
 *
 * The listing is persist/'s query layer and the JSON shared with `ringcap
 * ls --json` (tools/views/listing.c). A raw body goes out with the
 * Content-Type it was recorded with (and its Content-Encoding: the bytes
 * are stored as sent), "X-Content-Type-Options: nosniff" and
 * a sandboxing Content-Security-Policy, so a captured HTML page shown by
 * a browser cannot run script on the control port's origin; download=1
 * makes it an attachment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/flt.h"
#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/control/api.h"
#include "tools/control/router.h"
#include "tools/lib/json.h"
#include "tools/lib/rc-limits.h"
#include "tools/views/filter.h"
#include "tools/views/listing.h"
#include "tools/views/messages.h"

#define LIST_PARAMS 6u
#define CTYPE_MAX 200u   /* a recorded Content-Type served back */
#define BODY_CSP "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"

static const char *const list_keys[LIST_PARAMS] = { "sort", "reverse", "search", "limit",
						    "offset", "filter" };

/* Every parameter must be one we know. */
static int list_known(struct rc_req *rq, struct rc_resp *rs)
{
	for (const char *p = rq->query; *p;) {
		size_t n = strcspn(p, "=&");
		bool known = false;
		for (unsigned k = 0; k < LIST_PARAMS; k++)
			known |= strlen(list_keys[k]) == n && strncmp(p, list_keys[k], n) == 0;
		if (!known)
			return rc_fail(rs, -EINVAL, "unknown parameter '%.*s' (sort, reverse, search, "
				       "limit, offset, filter)", (int)(n < 64 ? n : 64), p);
		p += strcspn(p, "&");
		p += *p == '&';
	}
	return 0;
}

/* The listing parameters into q (q->search points into vals) and the
 * query-time filter into f. 0 or -EINVAL. */
static int list_params(struct rc_req *rq, struct rc_resp *rs, const char *dir,
		       struct seg_query *q, char (*vals)[RC_HTTP_QUERY_MAX], struct rc_filter *f)
{
	int rc = list_known(rq, rs);
	for (unsigned k = 0; rc == 0 && k < LIST_PARAMS; k++) {
		int n = rc_query_get(rq->query, list_keys[k], vals[k], RC_HTTP_QUERY_MAX);
		if (n == -ENOENT)
			continue;
		if (n < 0)
			return rc_fail(rs, -EINVAL, "parameter '%s': bad percent-encoding",
				       list_keys[k]);
		if (k < LIST_PARAMS - 1) {
			if (rc_query_param(q, list_keys[k], vals[k], rs->err, sizeof(rs->err)) < 0)
				return -EINVAL;
			continue;
		}
		char ferr[FLT_ERR_LEN + 64];
		rc = flt_spec_parse_json(&f->spec, vals[k], (size_t)n, ferr, sizeof(ferr));
		if (rc == 0)
			rc = rc_filter_compile(f, ferr, sizeof(ferr));
		if (rc < 0)
			return rc_fail(rs, -EINVAL, "filter: %s", ferr);
		rc_filter_query(f, dir, q);
	}
	if (rc == 0 && (q->limit == 0 || q->limit > RC_API_LIST_MAX))
		return rc_fail(rs, -EINVAL, "limit must be 1 to %u", RC_API_LIST_MAX);
	return rc;
}

static int h_list(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	struct seg_query q = { .limit = RC_API_LIST_DEFAULT };
	char (*vals)[RC_HTTP_QUERY_MAX] = calloc(LIST_PARAMS, RC_HTTP_QUERY_MAX);
	struct rc_filter f;
	struct rc_buf rows = {0};
	size_t total = 0;
	uint64_t damaged = 0;
	rc_filter_init(&f);
	rc = vals ? list_params(rq, rs, dir, &q, vals, &f) : -ENOMEM;
	if (rc == 0 && (rc = rc_list_session(dir, &q, &rows, &total, &damaged)) < 0)
		rc_fail(rs, rc, "cannot read the session's exchanges: %s", strerror(-rc));
	if (rc == 0)
		rc_buf_printf(&rs->body, "{\"total\":%zu,\"offset\":%zu,\"limit\":%zu,\"damaged\":%llu,"
			      "\"exchanges\":%s}", total, q.offset, q.limit,
			      (unsigned long long)damaged, rows.p);
	rc_buf_free(&rows);
	rc_filter_free(&f);
	free(vals);
	return rc == -ENOENT ? -EIO : rc;
}

/* Is id in the session and not deleted? 0, -EINVAL or -ENOENT (rs->err). */
static int find_exchange(struct rc_resp *rs, const struct ses_meta *m, const char *text,
			 uint64_t *id, const struct seg_table *t)
{
	if (rc_u64_text(text, id) < 0)
		return rc_fail(rs, -EINVAL, "exchange id '%.64s' is not a number", text);
	const struct seg_qrow *r = rc_row_find(t, *id);   /* a session number, or an old store id */
	if (r) {
		*id = r->e.id;   /* the store's own id from here on */
		return (r->e.flags & SEG_F_DELETED)
			? rc_fail(rs, -ENOENT, "exchange %s was deleted", text) : 0;
	}
	return rc_fail(rs, -ENOENT, "no exchange %llu in session '%s'", (unsigned long long)*id,
		       m->name);
}

static int load_table(struct rc_resp *rs, const struct ses_meta *m, const char *dir,
		      struct seg_table *t)
{
	int rc = seg_table_load(dir, t, NULL);
	if (rc < 0)
		return rc_fail(rs, -EIO, "cannot read session '%s': %s", m->name, strerror(-rc));
	return 0;
}

/* ids from a body {"ids": [..]} into ids[*n]. */
static int ids_from_body(struct rc_req *rq, struct rc_resp *rs, uint64_t *ids, size_t *n)
{
	static const char shape[] = "the body is {\"ids\": [id, ...]}";
	json_t *o, *a, *e;
	size_t i;
	int rc = rc_api_body(rq, rs, &o);
	if (rc < 0)
		return rc;
	a = json_object_get(o, "ids");
	if (!json_is_array(a) || json_object_size(o) != 1)
		rc = rc_fail(rs, -EINVAL, "%s", shape);
	json_array_foreach(rc == 0 ? a : NULL, i, e) {
		if (*n == RC_API_IDS_MAX) {
			rc = rc_fail(rs, -EINVAL, "more than %u ids", RC_API_IDS_MAX);
			break;
		}
		if (rc_json_u64(e, &ids[*n]) < 0) {
			rc = rc_fail(rs, -EINVAL, "ids are non-negative integers (at index %zu)", i);
			break;
		}
		(*n)++;
	}
	json_decref(o);
	return rc;
}

/* ids from the query "ids=1,2,3". */
static int ids_from_query(struct rc_req *rq, struct rc_resp *rs, uint64_t *ids, size_t *n)
{
	char text[RC_HTTP_QUERY_MAX];
	int k = rc_query_get(rq->query, "ids", text, sizeof(text));
	char *save = NULL, *tok;
	for (char *s = text; k > 0 && (tok = strtok_r(s, ",", &save)) != NULL; s = NULL)
		if (*n == RC_API_IDS_MAX || rc_u64_text(tok, &ids[(*n)++]) < 0)
			return rc_fail(rs, -EINVAL, "ids: '%.64s' is not an exchange id", tok);
	return 0;
}

/* Deletes ids given in a body {"ids":[..]} or a query "ids=1,2,3"; all
 * must exist, else nothing is deleted. */
static int h_delete_many(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	int rc = rc_api_session(rq, rs, &m, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	uint64_t *ids = malloc(RC_API_IDS_MAX * sizeof(*ids));
	size_t n = 0;
	struct seg_table t = {0};
	rc = ids == NULL ? -ENOMEM : rq->body_len > 0 ? ids_from_body(rq, rs, ids, &n)
						      : ids_from_query(rq, rs, ids, &n);
	if (rc == 0 && n == 0)
		rc = rc_fail(rs, -EINVAL, "no ids: send {\"ids\": [..]} or ?ids=1,2");
	if (rc == 0)
		rc = load_table(rs, &m, dir, &t);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char num[24];
		uint64_t id;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ids[i]);
		if ((rc = find_exchange(rs, &m, num, &id, &t)) == -ENOENT)
			rc_fail(rs, rc, "no exchange %s in session '%s': nothing deleted", num, m.name);
		ids[i] = id;
	}
	if (rc == 0 && (rc = seg_tombstone(dir, ids, n, rc_api_now_ns())) < 0)
		rc_fail(rs, -EIO, "cannot delete: %s", strerror(-rc));
	if (rc == 0)
		rc_buf_printf(&rs->body, "{\"deleted\":%zu}", n);
	seg_table_free(&t);
	free(ids);
	return rc;
}

/* The session and exchange of the route's :id and :xid. */
static int locate(struct rc_req *rq, struct rc_resp *rs, struct ses_meta *m, char *dir,
		  size_t cap, uint64_t *id)
{
	struct seg_table t = {0};
	int rc = rc_api_session(rq, rs, m, dir, cap);
	if (rc == 0)
		rc = load_table(rs, m, dir, &t);
	if (rc == 0)
		rc = find_exchange(rs, m, rq->param[1], id, &t);
	seg_table_free(&t);
	return rc;
}

static int count_body(void *ctx, enum seg_dir dir, const void *p, size_t n)
{
	(void)p;
	((size_t *)ctx)[dir] += n;
	return 0;
}

/* The exchange the route names, opened with o into *x (the caller frees
 * it), its session's metadata in *m: 404 when there is none, 500 naming
 * the damage when its frames do not read or a body outgrows the answer. */
static int open_one(struct rc_req *rq, struct rc_resp *rs, struct ses_meta *m,
		    const struct seg_open_opts *o, struct seg_exchange *x)
{
	char dir[4096];
	uint64_t id;
	int rc = locate(rq, rs, m, dir, sizeof(dir), &id);
	if (rc < 0)
		return rc;
	rc = seg_open_id(dir, id, o, x);
	if (rc < 0)
		return rc_fail(rs, rc == -ENOENT ? -ENOENT : -EIO, "exchange %s: %s", rq->param[1],
			       rc == -EBADMSG ? "its frames are damaged (ringcap fsck)" :
			       rc == -ENOSPC ? "body larger than the API serves" : strerror(-rc));
	return 0;
}

static int h_one(struct rc_req *rq, struct rc_resp *rs)
{
	size_t sizes[2] = { 0, 0 };
	struct seg_open_opts o = { .on_body = count_body, .ctx = sizes };
	struct ses_meta m;
	struct seg_exchange x;
	int rc = open_one(rq, rs, &m, &o, &x);
	if (rc < 0)
		return rc;
	x.body_len[0] = sizes[0];
	x.body_len[1] = sizes[1];
	rc_exchange_json(&rs->body, &x);
	seg_exchange_free(&x);
	return 0;
}

/* The WebSocket messages of an upgraded exchange, as `show --json` has
 * them (tools/views/messages.h); "more": RC_MSGS_MAX were listed and
 * there are more. An exchange without messages has an empty list. */
static int h_messages(struct rc_req *rq, struct rc_resp *rs)
{
	struct seg_open_opts o = { .body_max = { SEG_BODY_MAX_DEFAULT, SEG_BODY_MAX_DEFAULT },
				   .msgs_max = RC_MSGS_MAX };
	struct ses_meta m;
	struct seg_exchange x;
	int rc = open_one(rq, rs, &m, &o, &x);
	if (rc < 0)
		return rc;
	rc_buf_puts(&rs->body, "{\"messages\":");
	rc_msgs_json(&rs->body, &x);
	rc_buf_printf(&rs->body, ",\"more\":%s}", x.msgs_cut ? "true" : "false");
	seg_exchange_free(&x);
	return 0;
}

static int h_delete_one(struct rc_req *rq, struct rc_resp *rs)
{
	struct ses_meta m;
	char dir[4096];
	uint64_t id;
	int rc = locate(rq, rs, &m, dir, sizeof(dir), &id);
	if (rc == 0 && (rc = seg_tombstone(dir, &id, 1, rc_api_now_ns())) < 0)
		return rc_fail(rs, -EIO, "cannot delete: %s", strerror(-rc));
	if (rc == 0)
		rc_buf_puts(&rs->body, "{\"deleted\":1}");
	return rc;
}

struct body_ctx {
	struct rc_buf *buf;
	enum seg_dir dir;   /* the body kept */
};

static int keep_body(void *ctx, enum seg_dir dir, const void *p, size_t n)
{
	struct body_ctx *b = ctx;
	if (dir == b->dir)
		rc_buf_add(b->buf, p, n);
	return b->buf->oom ? -ENOSPC : 0;
}

/* The value of the header name ("content-type:") of a recorded head into
 * out, if it is plain printable ASCII; "" otherwise. */
static void recorded_header(const uint8_t *head, size_t len, const char *name, char *out,
			    size_t cap)
{
	const char *p = (const char *)head, *end = p + len;
	size_t nl = strlen(name);
	out[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((eol ? eol : end) - p);
		if (n > nl && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl;
			while (v < p + n && (*v == ' ' || *v == '\t'))
				v++;
			size_t k = (size_t)(p + n - v);
			while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == ' '))
				k--;
			for (size_t i = 0; i < k; i++)
				if (v[i] < 0x20 || v[i] > 0x7e)
					return;
			if (k > 0 && k < cap)
				snprintf(out, cap, "%.*s", (int)k, v);
			return;
		}
		p += n + 1;
	}
}

static int body(struct rc_req *rq, struct rc_resp *rs, enum seg_dir which)
{
	struct ses_meta m;
	char dl[8], ctype[CTYPE_MAX], coding[CTYPE_MAX];
	rs->body.max = RC_API_BODY_OUT_MAX;
	struct body_ctx b = { &rs->body, which };
	struct seg_open_opts o = { .on_body = keep_body, .ctx = &b };
	struct seg_exchange x;
	int rc = open_one(rq, rs, &m, &o, &x);
	if (rc < 0)
		return rc;
	const uint8_t *head = which == SEG_DIR_REQ ? x.req_head : x.resp_head;
	size_t head_len = which == SEG_DIR_REQ ? x.req_head_len : x.resp_head_len;
	recorded_header(head, head_len, "content-type:", ctype, sizeof(ctype));
	recorded_header(head, head_len, "content-encoding:", coding, sizeof(coding));
	seg_exchange_free(&x);
	/* the bytes are stored as sent (gzip stays gzip): with their coding
	 * named, a browser decodes them, and nothing is labelled JSON that is
	 * not */
	if (coding[0] && strcasecmp(coding, "identity") != 0)
		rc_resp_header(rs, "Content-Encoding", coding);
	snprintf(rs->err, sizeof(rs->err), "%s", ctype[0] ? ctype : "application/octet-stream");
	rs->ctype = rs->err;   /* err is unused on success: it holds the type */
	rc_resp_header(rs, "X-Content-Type-Options", "nosniff");
	rc_resp_header(rs, "Content-Security-Policy", BODY_CSP);
	if (rc_query_get(rq->query, "download", dl, sizeof(dl)) >= 0 && strcmp(dl, "0") != 0) {
		char disp[96];
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%s.%s\"", m.id, rq->param[1],
			 which == SEG_DIR_REQ ? "request" : "response");
		rc_resp_header(rs, "Content-Disposition", disp);
	}
	return 0;
}

static int h_request_body(struct rc_req *rq, struct rc_resp *rs)
{
	return body(rq, rs, SEG_DIR_REQ);
}

static int h_response_body(struct rc_req *rq, struct rc_resp *rs)
{
	return body(rq, rs, SEG_DIR_RESP);
}

static const struct rc_route_param list_q[] = {
	{ "sort", "{\"type\":\"string\",\"enum\":[\"time\",\"status\",\"method\",\"url\","
	  "\"host\",\"type\",\"size\",\"duration\"]}", "sort key" },
	{ "reverse", "{\"type\":\"string\",\"enum\":[\"0\",\"1\",\"true\",\"false\"]}",
	  "descending" },
	{ "search", "{\"type\":\"string\"}", "URL or host contains it (case-insensitive), or "
	  "the method or status is it (as ringcap ls --search)" },
	{ "limit", "{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000}", "page size" },
	{ "offset", "{\"type\":\"integer\",\"minimum\":0}", "rows skipped" },
	{ "filter", "{\"type\":\"string\"}", "the filter's JSON form (see Filter)" },
	{ NULL, NULL, NULL },
};
static const struct rc_route_param ids_q[] = {
	{ "ids", "{\"type\":\"string\",\"pattern\":\"^[0-9]+(,[0-9]+)*$\"}", "ids to delete" },
	{ NULL, NULL, NULL },
};
static const struct rc_route_param body_q[] = {
	{ "download", "{\"type\":\"string\",\"enum\":[\"0\",\"1\"]}", "1: as an attachment" },
	{ NULL, NULL, NULL },
};

#define API RC_ROUTE_API
#define ONE "/api/sessions/:id/exchanges/:xid"
static const struct rc_route routes[] = {
	{ "GET", "/api/sessions/:id/exchanges", h_list, API, "The session's exchanges (one page)",
	  list_q, NULL, NULL, RC_SCHEMA("ExchangeList"), 0, "400 404" },
	{ "DELETE", "/api/sessions/:id/exchanges", h_delete_many, API, "Delete exchanges by id "
	  "(all or none)", ids_q, NULL, NULL, RC_SCHEMA("Deleted"), 0, "400 404" },
	{ "POST", "/api/sessions/:id/exchanges/delete", h_delete_many, API, "Delete exchanges by "
	  "id (all or none)", NULL, RC_SCHEMA("Ids"), NULL, RC_SCHEMA("Deleted"), 0, "400 404" },
	{ "GET", ONE, h_one, API, "One exchange in full (heads, sizes, timings)", NULL, NULL, NULL,
	  RC_SCHEMA("Exchange"), 0, "400 404" },
	{ "DELETE", ONE, h_delete_one, API, "Delete one exchange", NULL, NULL, NULL,
	  RC_SCHEMA("Deleted"), 0, "400 404" },
	{ "GET", ONE "/request_body", h_request_body, API, "The request body as recorded (with its "
	  "Content-Type and Content-Encoding)", body_q,
	  NULL, "*/*", NULL, 0, "400 404" },
	{ "GET", ONE "/response_body", h_response_body, API, "The response body as recorded (with "
	  "its Content-Type and Content-Encoding)",
	  body_q, NULL, "*/*", NULL, 0, "400 404" },
	{ "GET", ONE "/messages", h_messages, API, "The WebSocket messages of an upgraded "
	  "exchange, payloads byte-exact (text, or base64)", NULL, NULL, NULL,
	  RC_SCHEMA("Messages"), 0, "400 404" },
};

const struct rc_route_table rc_exchanges_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
