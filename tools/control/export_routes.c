/*
 * tools/control/export_routes.c - GET /api/sessions/:id/export: a session as
 * a Postman collection, a HAR or a curl script (tools/views/export.h),
 * streamed, with a Content-Disposition file name made from the session
 * name. Query: format (required), ids, filter (the filter's JSON form),
 * group, name, base_url_variables, with_tests, and ls's sort, reverse,
 * search, limit, offset; the same meanings as `ringcap export`.
 *
 * The export writes (views push to a sink) while MHD pulls: an export
 * thread of its own writes into a bounded buffer (RC_EXPORT_PIPE_BYTES);
 * read() takes from it, or returns 0 when it is empty so that the
 * connection sleeps holding no pool thread until the export thread wakes
 * it; a full buffer makes the export thread wait for the client (a slow
 * client holds one thread and the buffer, never the whole export). A
 * client that hangs up ends the export at its next write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/flt.h"
#include "persist/query.h"
#include "persist/ses.h"
#include "tools/control/api.h"
#include "tools/control/router.h"
#include "tools/lib/rc-limits.h"
#include "tools/views/export.h"
#include "tools/views/filter.h"

/* Bytes between the export thread and the socket: a few output flushes
 * (RC_EXPORT_FLUSH), so the thread rarely waits on a client that reads. */
#define RC_EXPORT_PIPE_BYTES (1u << 20)
/* Exports running at once: each holds a thread, its buffer and the
 * session's index table (about 128 B an exchange: ~230 MiB for a million);
 * a few cover a UI and a script, more are refused with 503. */
#define RC_EXPORT_API_MAX 4u
/* Query parameters of the route and the longest decoded value. */
#define XQ_MAX RC_HTTP_QUERY_MAX

static const char *const keys[] = { "format", "ids", "filter", "group", "name",
				     "base_url_variables", "with_tests", "sort", "reverse",
				     "search", "limit", "offset" };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static atomic_uint running; /* exports started and not yet done */

struct xst {
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* room in the buffer, or cancelled */
	char *buf;                /* ring of RC_EXPORT_PIPE_BYTES */
	size_t head, len;
	bool done, failed, cancelled, started;
	bool counted;             /* holds one of RC_EXPORT_API_MAX */
	struct rc_stream *s;      /* from attach; released in done */
	pthread_t th;
	/* the export's inputs, owned here */
	char dir[4096];
	struct ses_meta m;
	struct seg_query q;
	struct rc_ids ids;
	bool have_ids;
	struct rc_export_opts o;
	struct rc_filter f;
	char vals[NKEYS][XQ_MAX];
};

/* The sink of the export thread: into the ring, waiting while it is full. */
static int x_write(void *ctx, const void *p, size_t n)
{
	struct xst *x = ctx;
	const char *s = p;
	pthread_mutex_lock(&x->mu);
	while (n > 0 && !x->cancelled) {
		while (x->len == RC_EXPORT_PIPE_BYTES && !x->cancelled)
			pthread_cond_wait(&x->cv, &x->mu);
		size_t tail = (x->head + x->len) % RC_EXPORT_PIPE_BYTES;
		size_t k = RC_EXPORT_PIPE_BYTES - x->len;
		k = k < RC_EXPORT_PIPE_BYTES - tail ? k : RC_EXPORT_PIPE_BYTES - tail;
		k = k < n ? k : n;
		memcpy(x->buf + tail, s, k);
		x->len += k;
		s += k;
		n -= k;
		struct rc_stream *st = x->s;
		if (st) { /* valid while this thread runs: done joins it first */
			pthread_mutex_unlock(&x->mu);
			rc_stream_wake(st);
			pthread_mutex_lock(&x->mu);
		}
	}
	int rc = x->cancelled ? -ECANCELED : 0;
	pthread_mutex_unlock(&x->mu);
	return rc;
}

static void *x_thread(void *arg)
{
	struct xst *x = arg;
	struct rc_sink sink = { x_write, x };
	int rc = rc_export_session(x->dir, &x->m, &x->q, x->have_ids ? &x->ids : NULL, &x->o,
				   &sink, NULL);
	pthread_mutex_lock(&x->mu);
	x->done = true;
	x->failed = rc < 0;
	struct rc_stream *st = x->s;
	pthread_mutex_unlock(&x->mu);
	if (st)
		rc_stream_wake(st);
	return NULL;
}

static ssize_t x_read(void *ctx, char *buf, size_t cap)
{
	struct xst *x = ctx;
	ssize_t r = 0;
	pthread_mutex_lock(&x->mu);
	if (x->len > 0) {
		size_t k = x->len < cap ? x->len : cap;
		size_t first = RC_EXPORT_PIPE_BYTES - x->head;
		first = first < k ? first : k;
		memcpy(buf, x->buf + x->head, first);
		memcpy(buf + first, x->buf, k - first);
		x->head = (x->head + k) % RC_EXPORT_PIPE_BYTES;
		x->len -= k;
		pthread_cond_signal(&x->cv);
		r = (ssize_t)k;
	} else if (x->done) {
		r = x->failed ? RC_STREAM_ERROR : RC_STREAM_END;
	}
	pthread_mutex_unlock(&x->mu);
	return r;
}

static void x_free(struct xst *x)
{
	if (x->counted)
		atomic_fetch_sub(&running, 1);
	rc_filter_free(&x->f);
	rc_ids_free(&x->ids);
	free(x->buf);
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->mu);
	free(x);
}

static void x_attach(void *ctx, struct rc_stream *s)
{
	struct xst *x = ctx;
	pthread_mutex_lock(&x->mu);
	x->s = s;
	pthread_mutex_unlock(&x->mu);
	rc_stream_wake(s); /* data may have come before the handle */
}

/* After the last read (or a hang-up): stop the export, wait for it. */
static void x_done(void *ctx)
{
	struct xst *x = ctx;
	pthread_mutex_lock(&x->mu);
	x->cancelled = true;
	pthread_cond_broadcast(&x->cv);
	struct rc_stream *s = x->s;
	x->s = NULL;
	pthread_mutex_unlock(&x->mu);
	if (x->started)
		pthread_join(x->th, NULL);
	if (s)
		rc_stream_release(s);
	x_free(x);
}

static const struct rc_stream_ops x_ops = { x_read, x_done, x_attach };

/* Every parameter must be one we know. */
static int known(struct rc_req *rq, struct rc_resp *rs)
{
	for (const char *p = rq->query; *p;) {
		size_t n = strcspn(p, "=&");
		bool ok = false;
		for (size_t k = 0; k < NKEYS; k++)
			ok |= strlen(keys[k]) == n && strncmp(p, keys[k], n) == 0;
		if (!ok)
			return rc_fail(rs, -EINVAL, "unknown parameter '%.*s' (format, ids, filter, "
				       "group, name, base_url_variables, with_tests, sort, reverse, "
				       "search, limit, offset)", (int)(n < 64 ? n : 64), p);
		p += strcspn(p, "&");
		p += *p == '&';
	}
	return 0;
}

/* The query into x: 0 or -EINVAL with rs->err set. */
static int params(struct rc_req *rq, struct rc_resp *rs, struct xst *x)
{
	bool format = false;
	int rc = known(rq, rs);
	for (size_t k = 0; rc == 0 && k < NKEYS; k++) {
		int n = rc_query_get(rq->query, keys[k], x->vals[k], XQ_MAX);
		if (n == -ENOENT)
			continue;
		if (n < 0)
			return rc_fail(rs, -EINVAL, "parameter '%s': %s", keys[k],
				       n == -E2BIG ? "too long" : "bad percent-encoding");
		format |= k == 0;
		if (strcmp(keys[k], "filter") == 0) {
			char ferr[FLT_ERR_LEN + 64];
			rc = flt_spec_parse_json(&x->f.spec, x->vals[k], (size_t)n, ferr, sizeof(ferr));
			if (rc == 0)
				rc = rc_filter_compile(&x->f, ferr, sizeof(ferr));
			if (rc < 0)
				return rc_fail(rs, -EINVAL, "filter: %s", ferr);
			continue;
		}
		x->have_ids |= strcmp(keys[k], "ids") == 0;
		rc = rc_export_param(&x->o, &x->ids, &x->q, keys[k], x->vals[k], rs->err,
				     sizeof(rs->err));
		if (rc < 0)
			return rc == -ENOMEM ? rc : -EINVAL;
	}
	if (rc == 0 && !format)
		return rc_fail(rs, -EINVAL, "format is required: postman, har or curl");
	return rc;
}

static int h_export(struct rc_req *rq, struct rc_resp *rs)
{
	struct xst *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return rc_fail(rs, -ENOMEM, "out of memory");
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	rc_filter_init(&x->f);
	x->o.group = RC_GROUP_DOMAIN;
	x->counted = true;
	if (atomic_fetch_add(&running, 1) >= RC_EXPORT_API_MAX) {
		x_free(x);
		return rc_fail(rs, -EAGAIN, "%u exports are running: try again when one is done",
			       RC_EXPORT_API_MAX);
	}
	int rc = rc_api_session(rq, rs, &x->m, x->dir, sizeof(x->dir));
	if (rc == 0)
		rc = params(rq, rs, x);
	if (rc == 0)
		rc_filter_query(&x->f, x->dir, &x->q);
	x->buf = rc == 0 ? malloc(RC_EXPORT_PIPE_BYTES) : NULL;
	if (rc == 0 && x->buf == NULL)
		rc = rc_fail(rs, -ENOMEM, "out of memory");
	if (rc == 0 && pthread_create(&x->th, NULL, x_thread, x) != 0)
		rc = rc_fail(rs, -EAGAIN, "cannot start the export");
	if (rc < 0) {
		x_free(x);
		return rc;
	}
	x->started = true;
	char fn[SES_NAME_MAX + 40], cd[SES_NAME_MAX + 80];
	rc_export_filename(x->m.name, x->o.format, fn, sizeof(fn));
	snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", fn);
	rc_resp_header(rs, "Content-Disposition", cd);
	rs->ctype = x->o.format == RC_FMT_CURL ? "text/x-shellscript; charset=utf-8" :
		    "application/json";
	rc_resp_stream(rs, &x_ops, x);
	return 0;
}

static const struct rc_route_param export_q[] = {
	{ "format", "{\"type\":\"string\",\"enum\":[\"postman\",\"har\",\"curl\"]}",
	  "Postman Collection v2.1.0, HAR 1.2 or a curl script (required)" },
	{ "ids", "{\"type\":\"string\"}", "exchange ids and ranges, \"3,7,10-20\"" },
	{ "filter", "{\"type\":\"string\"}", "the filter's JSON form (see Filter)" },
	{ "group", "{\"type\":\"string\",\"enum\":[\"domain\",\"endpoint\",\"domain,endpoint\","
		   "\"none\"]}", "collection folders (default domain)" },
	{ "name", "{\"type\":\"string\"}", "collection name (default: the session's)" },
	{ "base_url_variables", "{\"type\":\"boolean\"}", "each origin as {{host_N}}" },
	{ "with_tests", "{\"type\":\"boolean\"}", "a test per request asserting its status" },
	{ "sort", "{\"type\":\"string\"}", "as the exchanges listing" },
	{ "reverse", "{\"type\":\"boolean\"}", "as the exchanges listing" },
	{ "search", "{\"type\":\"string\"}", "as the exchanges listing" },
	{ "limit", "{\"type\":\"integer\"}", "at most this many exchanges (0: all)" },
	{ "offset", "{\"type\":\"integer\"}", "skip this many" },
	{ NULL, NULL, NULL },
};

static const struct rc_route routes[] = {
	{ "GET", "/api/sessions/:id/export", h_export, RC_ROUTE_API,
	  "The session's exchanges as a Postman collection, a HAR or a curl script (streamed, "
	  "with a Content-Disposition file name)", export_q, NULL, "application/json",
	  "{\"type\":\"object\"}", 0, "400 404 503" },
};

const struct rc_route_table rc_export_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
