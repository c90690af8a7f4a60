/*
 * tools/control/router.h - the control port's route table: method + path
 * pattern -> handler. Every route of the port (the CA files, /metrics, the
 * OpenAPI document, the JSON API, and whatever the web UI or export add)
 * is one row of a table in the file of its resource; routes.c lists the
 * tables. How to add a route or stream an answer: tools/control/README.md.
 *
 * A pattern is a path of literal segments and ":name" parameters,
 * "/api/sessions/:id/exchanges/:xid"; a last segment "*" matches one or
 * more segments (static assets: the rest is param[n], raw). Among the
 * patterns a path matches, the one with the most literal segments decides
 * (so ".../exchanges/delete" beats ".../exchanges/:xid"); if none of its
 * routes takes the method, the answer is 405 with Allow.
 *
 * A handler returns 0 (the answer is in *rs, 200 unless rs->status says
 * otherwise) or -errno with rs->err naming the problem; router.c turns
 * that into a status and {"error": "..."} in one place:
 *   -EINVAL -E2BIG -ERANGE -EDOM 400, -EACCES 401, -ENOENT 404,
 *   -EBUSY -EEXIST -EPERM 409, -EMSGSIZE 413, -EAGAIN 503, else 500.
 */
#ifndef RINGCAP_ROUTER_H
#define RINGCAP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tools/lib/json.h"

#define RC_ROUTE_PARAMS_MAX 4u   /* ":params" in one pattern (sessions/:id/exchanges/:xid) */
#define RC_ROUTE_SEGS_MAX 8u     /* segments of a routed path; deeper paths are 404 */
#define RC_ROUTE_PART_MAX 256u   /* one decoded path segment (a session name is 64) */
#define RC_ROUTE_ERR_MAX 512u    /* an error sentence */
#define RC_ROUTE_HEADERS_MAX 768u /* extra answer headers of one route */

struct rc_api;
struct rc_capture;
struct eng;
struct eng_onboard_ca;
struct rc_ui_site;

/* What handlers may reach: set once at start-up, read-only afterwards
 * (eng is set when the engine runs). */
struct rc_ctl_env {
	struct rc_api *api;                /* NULL: the /api/ routes answer 404 */
	const struct eng_onboard_ca *ca;   /* NULL: interception off, CA routes 404 */
	struct rc_capture *capture;        /* NULL: no capture families in /metrics */
	_Atomic(struct eng *) eng;         /* NULL until the engine runs */
	const struct rc_ui_site *ui;       /* the web UI's facts (ui_http.h); NULL: no UI */
};

/* One request as a handler sees it. Strings live until the handler returns. */
struct rc_req {
	const char *method;          /* "GET" for HEAD too (head_only says which) */
	const char *path;            /* raw (percent-encoded), without the query */
	const char *query;           /* raw, after '?'; "" when none */
	const char *param[RC_ROUTE_PARAMS_MAX]; /* the pattern's :names, decoded, in order */
	const char *body;            /* NUL-terminated, "" when none */
	size_t body_len;             /* at most RC_HTTP_BODY_MAX */
	bool head_only;
	struct rc_ctl_env *env;
	void *conn;                  /* the server's; for rc_req_header only */
};

/* A streamed answer (server.c pulls it as the socket drains). read
 * returns bytes put in buf (1..cap), 0 for "nothing now" (the connection
 * sleeps, holding no thread, until rc_stream_wake), RC_STREAM_END, or
 * RC_STREAM_ERROR (the connection is cut). done is called once, after the
 * last read, on a server thread. attach (optional) hands over the stream's
 * handle for rc_stream_wake; whoever gets it calls rc_stream_release once. */
#define RC_STREAM_END ((ssize_t)-1)
#define RC_STREAM_ERROR ((ssize_t)-2)
struct rc_stream;
struct rc_stream_ops {
	ssize_t (*read)(void *ctx, char *buf, size_t cap);
	void (*done)(void *ctx);
	void (*attach)(void *ctx, struct rc_stream *s);
};

/* The answer a handler builds. */
struct rc_resp {
	int status;                  /* 0: 200 */
	const char *ctype;           /* NULL: application/json (a "\n" is added) */
	struct rc_buf body;          /* the answer's bytes */
	const void *fixed;           /* or: bytes that outlive the server (assets) */
	size_t fixed_len;
	char err[RC_ROUTE_ERR_MAX];  /* the error sentence when the handler fails */
	char headers[RC_ROUTE_HEADERS_MAX]; /* extra "Name: value\n" lines */
	bool close;                  /* close the connection after the answer */
	const struct rc_stream_ops *stream; /* set by rc_resp_stream */
	void *stream_ctx;
	bool stream_close_delimited; /* no chunked framing: the end is the close (SSE) */
};

typedef int (*rc_route_fn)(struct rc_req *rq, struct rc_resp *rs);

/* Route flags. */
#define RC_ROUTE_PUBLIC 1u  /* no bearer token even off loopback (the CA files) */
#define RC_ROUTE_CLOSE 2u   /* Connection: close after the answer (scripts read to EOF) */
#define RC_ROUTE_API 4u     /* 404 "no API on this port" when env->api is NULL */
#define RC_ROUTE_HIDDEN 8u  /* not in the OpenAPI document (non-API paths) */

/* One query parameter of a route, for the OpenAPI document. */
struct rc_route_param {
	const char *name;
	const char *schema;          /* a JSON schema, e.g. "{\"type\":\"integer\"}" */
	const char *doc;
};

struct rc_route {
	const char *method;          /* GET (answers HEAD too), POST, PUT, PATCH, DELETE */
	const char *pattern;
	rc_route_fn fn;
	unsigned flags;
	/* The OpenAPI operation (tools/control/openapi.c builds the document). */
	const char *summary;
	const struct rc_route_param *query; /* NULL-name terminated, or NULL */
	const char *body_schema;     /* JSON schema of the request body, or NULL */
	const char *ok_ctype;        /* answer's type: NULL = application/json */
	const char *ok_schema;       /* JSON schema of a 2xx answer, or NULL */
	int ok_status;               /* 0: 200 */
	const char *errors;          /* documented error statuses, "400 404" */
};

/* A schema of the document's components (openapi.c), for the fields above. */
#define RC_SCHEMA(name) "{\"$ref\":\"#/components/schemas/" name "\"}"

/* A table of routes (one per resource file). */
struct rc_route_table {
	const struct rc_route *routes;
	size_t n;
};

/* The tables, listed in routes.c; each defined in the file of its resource. */
extern const struct rc_route_table *const rc_route_tables[];
extern const size_t rc_route_tables_n;
extern const struct rc_route_table rc_port_routes;      /* port_routes.c: /metrics, CA */
extern const struct rc_route_table rc_openapi_routes;   /* openapi.c: /api */
extern const struct rc_route_table rc_sessions_routes;  /* sessions_routes.c */
extern const struct rc_route_table rc_exchanges_routes; /* exchanges_routes.c */
extern const struct rc_route_table rc_views_routes;     /* views_routes.c */
extern const struct rc_route_table rc_events_routes;    /* events.c */
extern const struct rc_route_table rc_export_routes;    /* export_routes.c */
extern const struct rc_route_table rc_ui_routes;        /* ui_http.c: /, /ui/... */

/* ---- for handlers ---- */

/* Sets rs->err and returns err (a -errno): `return rc_fail(rs, -EINVAL, ...)`. */
__attribute__((format(printf, 3, 4)))
int rc_fail(struct rc_resp *rs, int err, const char *fmt, ...);
/* Appends "name: value" to the answer's headers; -E2BIG when full. */
int rc_resp_header(struct rc_resp *rs, const char *name, const char *value);
/* Answers with a stream (ops and ctx must live until ops->done). */
void rc_resp_stream(struct rc_resp *rs, const struct rc_stream_ops *ops, void *ctx);
/* Wakes a stream that returned 0; safe from any thread, after done too. */
void rc_stream_wake(struct rc_stream *s);
void rc_stream_release(struct rc_stream *s);
/* True when the client of a stream hung up (a suspended connection is not
 * watched by the server); false once the answer is done. */
bool rc_stream_peer_gone(struct rc_stream *s);
/* A request header's value, NULL when absent. */
const char *rc_req_header(const struct rc_req *rq, const char *name);
/* Percent-decodes the value of key in a raw query string into out[cap].
 * Returns the length, -ENOENT when absent, -EINVAL for a bad escape or a
 * decoded NUL, -E2BIG when it does not fit. */
int rc_query_get(const char *query, const char *key, char *out, size_t cap);

/* ---- for the server ---- */

/* A route found for (method, path): 0 with *route and the decoded params
 * in parts; -ENOENT (no pattern matches) or -EOPNOTSUPP (allow[] gets the
 * methods the path takes, "GET, POST"). */
int rc_route_find(const char *method, const char *path, const struct rc_route **route,
		  char (*parts)[RC_ROUTE_PART_MAX], char *allow, size_t allow_cap);
/* The same over other tables (tests; a sub-router). */
int rc_route_find_in(const struct rc_route_table *const *tables, size_t ntables,
		     const char *method, const char *path, const struct rc_route **route,
		     char (*parts)[RC_ROUTE_PART_MAX], char *allow, size_t allow_cap);
/* Runs a request end to end: token rule, route, handler, error mapping.
 * token: "" when none is needed; auth the Authorization header or NULL. */
void rc_route_dispatch(struct rc_req *rq, struct rc_resp *rs, const char *token,
		       const char *auth);
/* The HTTP status of a handler's -errno. */
int rc_errno_status(int err);
/* rs->body := {"error": rs->err}, ctype JSON. */
void rc_resp_error_body(struct rc_resp *rs);
/* The OpenAPI 3.1 document of every route not RC_ROUTE_HIDDEN. */
void rc_openapi_json(struct rc_buf *out);

#endif
