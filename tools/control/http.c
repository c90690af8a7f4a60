/*
 * tools/control/http.c - request reading and answer writing for the control port
 * (see http.h). Strict where it is cheap: CRLF line ends, no obs-fold, one
 * Content-Length, origin-form targets; the peer is a CLI, a browser or a
 * script on a trusted network, but a bad request still gets a 4xx, never
 * a crash or a stuck thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/control/http.h"
#include "tools/lib/json.h"

#define POLL_SLICE_MS 200   /* how often a waiting thread looks at the stop flag */

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for ev; false on timeout, stop or error. */
static bool wait_fd(struct rc_http_conn *c, short ev)
{
	long long end = mono_ms() + RC_HTTP_IO_TIMEOUT_MS;
	for (;;) {
		if (c->stop && atomic_load(c->stop))
			return false;
		long long left = end - mono_ms();
		if (left <= 0)
			return false;
		struct pollfd p = { .fd = c->fd, .events = ev };
		int n = poll(&p, 1, left < POLL_SLICE_MS ? (int)left : POLL_SLICE_MS);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

/* Reads what is available into p[cap]: bytes read, or -1 at EOF/timeout. */
static ssize_t read_some(struct rc_http_conn *c, char *p, size_t cap)
{
	if (!wait_fd(c, POLLIN))
		return -1;
	ssize_t k = recv(c->fd, p, cap, 0);
	return k > 0 ? k : -1;
}

int rc_http_send(struct rc_http_conn *c, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		if (!wait_fd(c, POLLOUT))
			return -1;
		ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int parse_request_line(const char *line, size_t len, struct rc_http_req *rq)
{
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || sp1 == line || (size_t)(sp1 - line) >= sizeof(rq->method))
		return 400;
	const char *t = sp1 + 1, *end = line + len;
	const char *sp2 = memchr(t, ' ', (size_t)(end - t));
	if (sp2 == NULL || t[0] != '/')
		return 400;
	if (end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return sp2 + 6 <= end && memcmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	memcpy(rq->method, line, (size_t)(sp1 - line));
	rq->method[sp1 - line] = '\0';
	const char *q = memchr(t, '?', (size_t)(sp2 - t));
	const char *pend = q ? q : sp2;
	if ((size_t)(pend - t) >= sizeof(rq->path) || (q && (size_t)(sp2 - q - 1) >= sizeof(rq->query)))
		return 414;
	memcpy(rq->path, t, (size_t)(pend - t));
	rq->path[pend - t] = '\0';
	if (q) {
		memcpy(rq->query, q + 1, (size_t)(sp2 - q - 1));
		rq->query[sp2 - q - 1] = '\0';
	}
	rq->keep_alive = sp2[8] == '1';
	rq->head_only = strcmp(rq->method, "HEAD") == 0;
	return 0;
}

/* Applies one header line; content_length -1 until seen. */
static int parse_header(const char *line, size_t len, struct rc_http_req *rq,
			long long *content_length)
{
	const char *colon = memchr(line, ':', len);
	if (line[0] == ' ' || line[0] == '\t' || colon == NULL || colon == line)
		return 400;
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vlen = (size_t)(end - v);
	if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		long long n = 0;
		if (vlen == 0 || vlen > 12)
			return 400;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return 400;
			n = n * 10 + (v[i] - '0');
		}
		if (*content_length >= 0 && *content_length != n)
			return 400;
		*content_length = n;
	} else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
		return 411;
	} else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
		if (vlen == 5 && strncasecmp(v, "close", 5) == 0)
			rq->keep_alive = false;
		else if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0)
			rq->keep_alive = true;
	} else if (nlen == 13 && strncasecmp(line, "authorization", 13) == 0) {
		if (vlen >= sizeof(rq->auth))
			return 400;
		memcpy(rq->auth, v, vlen);
		rq->auth[vlen] = '\0';
	} else if (nlen == 15 && strncasecmp(line, "accept-encoding", 15) == 0) {
		/* the web UI's assets (ui.c); a longer value is cut, never refused */
		snprintf(rq->accept_encoding, sizeof(rq->accept_encoding), "%.*s", (int)vlen, v);
	} else if (nlen == 13 && strncasecmp(line, "if-none-match", 13) == 0) {
		snprintf(rq->if_none_match, sizeof(rq->if_none_match), "%.*s", (int)vlen, v);
	}
	return 0;
}

static int parse_head(const char *h, size_t len, struct rc_http_req *rq, long long *cl)
{
	const char *end = h + len, *p = h;
	for (unsigned i = 0; p < end; i++) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL || eol + 1 >= end || eol[1] != '\n' || memchr(p, '\n', (size_t)(eol - p)))
			return 400;
		if (eol == p)
			return 0;   /* the empty line */
		int rc = i == 0 ? parse_request_line(p, (size_t)(eol - p), rq)
				: parse_header(p, (size_t)(eol - p), rq, cl);
		if (rc)
			return rc;
		p = eol + 2;
	}
	return 400;
}

static int read_body(struct rc_http_conn *c, struct rc_http_req *rq, size_t cl)
{
	rq->body = malloc(cl + 1);
	if (rq->body == NULL)
		return 413;
	size_t got = c->have < cl ? c->have : cl;
	memcpy(rq->body, c->buf, got);
	memmove(c->buf, c->buf + got, c->have - got);
	c->have -= got;
	while (got < cl) {
		ssize_t k = read_some(c, rq->body + got, cl - got);
		if (k < 0)
			return -1;
		got += (size_t)k;
	}
	rq->body[cl] = '\0';
	rq->body_len = cl;
	return 0;
}

int rc_http_read(struct rc_http_conn *c, struct rc_http_req *rq)
{
	memset(rq, 0, sizeof(*rq));
	char *eoh = NULL;
	for (;;) {
		if (c->have >= 4)
			eoh = memmem(c->buf, c->have, "\r\n\r\n", 4);
		if (eoh)
			break;
		if (c->have == sizeof(c->buf))
			return 431;
		ssize_t k = read_some(c, c->buf + c->have, sizeof(c->buf) - c->have);
		if (k < 0)
			return -1;
		c->have += (size_t)k;
	}
	size_t hlen = (size_t)(eoh - c->buf) + 4;
	long long cl = -1;
	int rc = parse_head(c->buf, hlen, rq, &cl);
	memmove(c->buf, c->buf + hlen, c->have - hlen);
	c->have -= hlen;
	if (rc)
		return rc;
	if (cl > (long long)RC_HTTP_BODY_MAX)
		return 413;
	if (cl > 0 && (rc = read_body(c, rq, (size_t)cl)) != 0) {
		rc_http_req_free(rq);
		return rc;
	}
	return 0;
}

void rc_http_req_free(struct rc_http_req *rq)
{
	free(rq->body);
	rq->body = NULL;
	rq->body_len = 0;
}

const char *rc_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

int rc_http_reply(struct rc_http_conn *c, int status, const char *ctype, const void *body,
		  size_t len, bool keep_alive, bool head_only, const char *extra)
{
	char head[1024];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
			 status, rc_http_reason(status), ctype, len,
			 keep_alive ? "" : "Connection: close\r\n", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (rc_http_send(c, head, (size_t)n) < 0)
		return -1;
	return head_only || len == 0 ? 0 : rc_http_send(c, body, len);
}

int rc_http_error(struct rc_http_conn *c, int status, const char *msg, bool keep_alive)
{
	struct rc_buf b = { .max = 4096 };
	rc_buf_puts(&b, "{\"error\":");
	rc_buf_jstr(&b, msg, strlen(msg));
	rc_buf_puts(&b, "}\n");
	int rc = b.oom ? -1 : rc_http_reply(c, status, "application/json", b.p, b.len, keep_alive,
					    false, status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
	rc_buf_free(&b);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int rc_http_query(const char *query, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kend = eq ? eq : end;
		if ((size_t)(kend - p) == klen && memcmp(p, key, klen) == 0) {
			size_t n = 0;
			for (const char *v = eq ? eq + 1 : end; v < end; v++) {
				int ch = (unsigned char)*v;
				if (*v == '+') {
					ch = ' ';
				} else if (*v == '%') {
					int hi = end - v > 2 ? hexval(v[1]) : -1;
					int lo = hi >= 0 ? hexval(v[2]) : -1;
					if (lo < 0 || (hi == 0 && lo == 0))
						return -EINVAL;
					ch = hi * 16 + lo;
					v += 2;
				}
				if (n + 1 >= cap)
					return -E2BIG;
				out[n++] = (char)ch;
			}
			out[n] = '\0';
			return (int)n;
		}
		p = amp ? amp + 1 : NULL;
	}
	return -ENOENT;
}
