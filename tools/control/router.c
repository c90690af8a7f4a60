/*
 * tools/control/router.c - matching a request against the route tables
 * (router.h), the token rule, and the one place where a handler's -errno
 * becomes an HTTP status and a {"error": "..."} body.
 *
 * Matching walks every route of every table (about fifty rows, each a few
 * string compares): no index is needed at a person's request rate.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/control/router.h"
#include "tools/control/token.h"
#include "tools/lib/fmt.h"
#include "tools/lib/rc-limits.h"

#define ALLOW_MAX 64u /* "GET, POST, PUT, PATCH, DELETE" */

struct match {
	const struct rc_route *route;
	int literals;                 /* literal segments: the most specific wins */
};

int rc_fail(struct rc_resp *rs, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->err, sizeof(rs->err), fmt, ap);
	va_end(ap);
	return err;
}

int rc_resp_header(struct rc_resp *rs, const char *name, const char *value)
{
	size_t n = strlen(rs->headers);
	int k = snprintf(rs->headers + n, sizeof(rs->headers) - n, "%s: %s\n", name, value);
	if (k < 0 || (size_t)k >= sizeof(rs->headers) - n) {
		rs->headers[n] = '\0';
		return -E2BIG;
	}
	return 0;
}

void rc_resp_stream(struct rc_resp *rs, const struct rc_stream_ops *ops, void *ctx)
{
	rs->stream = ops;
	rs->stream_ctx = ctx;
}

int rc_errno_status(int err)
{
	switch (err) {
	case -EINVAL: case -E2BIG: case -ERANGE: case -EDOM: return 400;
	case -EACCES: return 401;
	case -ENOENT: return 404;
	case -EOPNOTSUPP: return 405;
	case -EBUSY: case -EEXIST: case -EPERM: return 409;
	case -EMSGSIZE: return 413;
	case -EAGAIN: return 503;
	default: return 500;
	}
}

void rc_resp_error_body(struct rc_resp *rs)
{
	rc_buf_free(&rs->body);
	rs->body = (struct rc_buf){0};
	rc_buf_puts(&rs->body, "{\"error\":");
	rc_buf_jstr(&rs->body, rs->err, strlen(rs->err));
	rc_buf_puts(&rs->body, "}");
	rs->ctype = NULL;
	rs->fixed = NULL;
	rs->stream = NULL;
}

int rc_query_get(const char *query, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kend = eq ? eq : end;
		if ((size_t)(kend - p) == klen && memcmp(p, key, klen) == 0) {
			const char *v = eq ? eq + 1 : end;
			return rc_pct_decode(v, (size_t)(end - v), true, out, cap);
		}
		p = amp ? amp + 1 : NULL;
	}
	return -ENOENT;
}

/* Splits a raw path into segments (no empty ones but a trailing "/" of
 * "/ca/", which is dropped). Returns the count, -1 when too deep. */
static int split(const char *path, const char **seg, size_t *len)
{
	int n = 0;
	const char *p = path;
	while (*p == '/' && p[1] != '\0') {
		p++;
		if (n == (int)RC_ROUTE_SEGS_MAX)
			return -1;
		seg[n] = p;
		len[n] = strcspn(p, "/");
		p += len[n];
		if (len[n] == 0)
			return -1;
		n++;
	}
	return n;
}

/* Does route r's pattern match the segments? Decodes params into parts. */
static bool pattern_match(const char *pattern, const char **seg, const size_t *len, int n,
			  char (*parts)[RC_ROUTE_PART_MAX], int *literals)
{
	const char *pseg[RC_ROUTE_SEGS_MAX];
	size_t plen[RC_ROUTE_SEGS_MAX];
	int pn = split(pattern, pseg, plen), np = 0;
	*literals = 0;
	if (pn < 0)
		return false;
	bool rest = pn > 0 && plen[pn - 1] == 1 && pseg[pn - 1][0] == '*';
	if (rest ? n < pn : n != pn)
		return false;
	for (int i = 0; i < pn; i++) {
		if (rest && i == pn - 1) {
			/* the rest, raw, from this segment on */
			if ((size_t)np == RC_ROUTE_PARAMS_MAX)
				return false;
			snprintf(parts[np], RC_ROUTE_PART_MAX, "%s", seg[i]);
			return strlen(seg[i]) < RC_ROUTE_PART_MAX;
		}
		if (pseg[i][0] == ':') {
			if ((size_t)np == RC_ROUTE_PARAMS_MAX ||
			    rc_pct_decode(seg[i], len[i], false, parts[np], RC_ROUTE_PART_MAX) <= 0)
				return false;
			np++;
			continue;
		}
		if (plen[i] != len[i] || memcmp(pseg[i], seg[i], len[i]) != 0)
			return false;
		(*literals)++;
	}
	return true;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
	if (strstr(allow, method))
		return;
	size_t n = strlen(allow);
	snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", method);
}

int rc_route_find(const char *method, const char *path, const struct rc_route **route,
		  char (*parts)[RC_ROUTE_PART_MAX], char *allow, size_t allow_cap)
{
	return rc_route_find_in(rc_route_tables, rc_route_tables_n, method, path, route, parts,
				allow, allow_cap);
}

int rc_route_find_in(const struct rc_route_table *const *tables, size_t ntables,
		     const char *method, const char *path, const struct rc_route **route,
		     char (*parts)[RC_ROUTE_PART_MAX], char *allow, size_t allow_cap)
{
	const char *seg[RC_ROUTE_SEGS_MAX];
	size_t len[RC_ROUTE_SEGS_MAX];
	char tmp[RC_ROUTE_PARAMS_MAX][RC_ROUTE_PART_MAX];
	int n = split(path, seg, len), best = -1, lit;
	*route = NULL;
	allow[0] = '\0';
	if (n < 0)
		return -ENOENT;
	for (size_t t = 0; t < ntables; t++) {
		for (size_t i = 0; i < tables[t]->n; i++) {
			const struct rc_route *r = &tables[t]->routes[i];
			if (!pattern_match(r->pattern, seg, len, n, tmp, &lit) || lit < best)
				continue;
			if (lit > best) {
				best = lit;
				*route = NULL;
				allow[0] = '\0';
			}
			allow_add(allow, allow_cap, r->method);
			if (*route == NULL && strcmp(r->method, method) == 0) {
				*route = r;
				memcpy(parts, tmp, sizeof(tmp));
			}
		}
	}
	if (best < 0)
		return -ENOENT;
	return *route ? 0 : -EOPNOTSUPP;
}

void rc_route_dispatch(struct rc_req *rq, struct rc_resp *rs, const char *token,
		       const char *auth)
{
	char parts[RC_ROUTE_PARAMS_MAX][RC_ROUTE_PART_MAX];
	char allow[ALLOW_MAX];
	const struct rc_route *r;
	int rc = rc_route_find(rq->method, rq->path, &r, parts, allow, sizeof(allow));
	bool public = r && (r->flags & RC_ROUTE_PUBLIC);
	if (token[0] && !public && !rc_token_check(auth ? auth : "", token)) {
		rc = rc_fail(rs, -EACCES, "%s", auth && auth[0] ? "wrong bearer token" :
			     "this control port needs Authorization: Bearer TOKEN (the token is in "
			     "the data directory, file " RC_TOKEN_FILE ")");
		rc_resp_header(rs, "WWW-Authenticate", "Bearer");
	} else if (rc == -ENOENT) {
		rc_fail(rs, rc, "no route %.200s", rq->path);
	} else if (rc == -EOPNOTSUPP) {
		rc_fail(rs, rc, "%s is not allowed here (allowed: %s)", rq->head_only ? "HEAD" :
			rq->method, allow);
		rc_resp_header(rs, "Allow", allow);
	} else if ((r->flags & RC_ROUTE_API) && rq->env->api == NULL) {
		rc = rc_fail(rs, -ENOENT, "no API on this port");
	} else {
		for (unsigned i = 0; i < RC_ROUTE_PARAMS_MAX; i++)
			rq->param[i] = parts[i];
		rs->close = (r->flags & RC_ROUTE_CLOSE) != 0;
		rs->status = r->ok_status;
		rc = r->fn(rq, rs);
		if (rc == 0 && rs->body.oom)
			rc = rc_fail(rs, -ENOMEM, "answer too large");
	}
	if (rc < 0) {
		rs->status = rc_errno_status(rc);
		rc_resp_error_body(rs);
	}
	if (rs->status == 0)
		rs->status = 200;
}
