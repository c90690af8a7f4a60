/*
 * tools/control/http.h - the HTTP/1.1 server side of the control port: reads one
 * request at a time from a blocking socket (keep-alive and pipelining
 * kept per connection), bounded everywhere, and writes answers. Runs on
 * control threads only, never on the data plane.
 *
 * Limits (answers when exceeded): head RC_HTTP_HEAD_MAX (431), body
 * RC_HTTP_BODY_MAX (413), a Transfer-Encoding body (411: the API takes
 * Content-Length bodies only), a head or body slower than
 * RC_HTTP_IO_TIMEOUT_MS (the connection is closed).
 */
#ifndef RINGCAP_HTTP_H
#define RINGCAP_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/lib/rc-limits.h"

struct rc_http_conn {
	int fd;
	const atomic_bool *stop; /* the server is stopping: give up waiting */
	char buf[RC_HTTP_HEAD_MAX];
	size_t have;             /* bytes of the next request(s) already read */
};

struct rc_http_req {
	char method[16];
	char path[RC_HTTP_PATH_MAX];   /* raw, without the query */
	char query[RC_HTTP_QUERY_MAX]; /* raw, after '?' */
	char auth[RC_HTTP_AUTH_MAX];   /* Authorization value, "" when absent */
	char accept_encoding[128];     /* for the web UI's assets; cut when longer */
	char if_none_match[128];
	bool keep_alive;
	bool head_only;                /* HEAD: answer without a body */
	char *body;                    /* malloc'd, NUL-terminated; NULL when none */
	size_t body_len;
};

/* Reads the next request. Returns 0 with *rq filled (free its body with
 * rc_http_req_free), -1 when the connection ended or timed out (close it
 * silently), or an HTTP status (400, 411, 413, 431, 505) to answer before
 * closing. */
int rc_http_read(struct rc_http_conn *c, struct rc_http_req *rq);
void rc_http_req_free(struct rc_http_req *rq);

/* Writes a whole answer. extra: more header lines, each ending in "\r\n"
 * (NULL for none). Returns 0, or -1 when the peer is gone. */
int rc_http_reply(struct rc_http_conn *c, int status, const char *ctype, const void *body,
		  size_t len, bool keep_alive, bool head_only, const char *extra);
/* A JSON error: {"error":"<msg>"}; keep_alive as for rc_http_reply. */
int rc_http_error(struct rc_http_conn *c, int status, const char *msg, bool keep_alive);
/* All of n bytes, or -1 (peer gone or RC_HTTP_IO_TIMEOUT_MS without progress). */
int rc_http_send(struct rc_http_conn *c, const void *p, size_t n);
const char *rc_http_reason(int status);

/* Percent-decodes the value of key in a query string into out[cap].
 * Returns the length, -ENOENT when absent, -EINVAL for a bad escape or a
 * decoded NUL, -E2BIG when it does not fit. */
int rc_http_query(const char *query, const char *key, char *out, size_t cap);

#endif
