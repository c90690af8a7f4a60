/*
 * tools/capture.c - the capture sink over persist/'s I/O-agnostic writer:
 * the engine offers each exchange (heads once, bodies as they stream) and
 * submits the writer's writes through the worker's ring (next_io/io_done),
 * so the data plane never blocks on the disk. A full writer drops the
 * exchange (counted) and traffic flows on; a failed write stops capture for
 * that worker with one line on stderr, and traffic flows on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "persist/seg.h"
#include "tools/capture.h"

#define URL_MAX 8192u   /* absolute URL rebuilt for https exchanges */

struct cap {
	struct seg_writer *w;
	unsigned worker;
	uint64_t drops;
	bool failed;
	char url[URL_MAX];
};

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *cap_open(void *arg, unsigned worker)
{
	const struct rc_capture_cfg *cfg = arg;
	struct cap *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->worker = worker;
	struct seg_writer_cfg wc = {
		.session_dir = cfg->session_dir,
		.worker = (uint16_t)worker,
		.body_max = cfg->body_max,
		.save_responses = cfg->save_responses,
	};
	int rc = seg_writer_open(&wc, wall_ns(), &c->w);
	if (rc < 0) {
		fprintf(stderr, "ringcap: worker %u: capture off, cannot open a writer in %s: %s\n",
			worker, cfg->session_dir, strerror(-rc));
		c->w = NULL;
	}
	return c;
}

static void stop(struct cap *c, const char *what, int rc)
{
	if (!c->failed)
		fprintf(stderr, "ringcap: worker %u: capture stopped, %s: %s; traffic still "
			"flows\n", c->worker, what, strerror(-rc));
	c->failed = true;
}

static void addr_of(const struct sockaddr_storage *ss, struct seg_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		a->family = 4;
		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		a->family = 6;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
	}
}

/* The absolute URL users see: as sent for plain proxying, rebuilt from
 * the CONNECT host for requests inside an intercepted tunnel. */
static const char *full_url(struct cap *c, const struct eng_xchg *x, size_t *len)
{
	if (!(x->flags & ENG_X_TLS) || x->url_len == 0 || x->url[0] != '/') {
		*len = x->url_len;
		return x->url;
	}
	char port[8] = "";
	if (x->port != 443)
		snprintf(port, sizeof(port), ":%u", x->port);
	int n = snprintf(c->url, sizeof(c->url), "https://%.*s%s%.*s", (int)x->host_len, x->host,
			 port, (int)x->url_len, x->url);
	*len = n < 0 ? 0 : (size_t)n < sizeof(c->url) ? (size_t)n : sizeof(c->url) - 1;
	return c->url;
}

static void *cap_begin(void *ctx, const struct eng_xchg *x, const char *head, size_t head_len)
{
	struct cap *c = ctx;
	if (c == NULL || c->w == NULL || c->failed)
		return NULL;
	struct seg_xch_begin b = {
		.start_ns = x->start_ns,
		.scheme = (x->flags & ENG_X_TLS) ? SEG_SCHEME_HTTPS : SEG_SCHEME_HTTP,
		.http_version = (uint8_t)(10 + x->http_minor),
		.port = x->port,
		.method = x->method, .method_len = x->method_len,
		.host = x->host, .host_len = x->host_len,
		.req_head = head, .req_head_len = head_len,
		.client_name = x->client_name, .client_name_len = x->client_name_len,
	};
	if (x->method_len == 7 && memcmp(x->method, "CONNECT", 7) == 0) {
		b.scheme = SEG_SCHEME_TUNNEL;
		b.flags |= SEG_F_TUNNEL;
	}
	if (x->flags & ENG_X_TLS)
		b.flags |= SEG_F_TLS;
	b.url = full_url(c, x, &b.url_len);
	addr_of(&x->client, &b.client);
	struct seg_xch *h = NULL;
	uint64_t id;
	int rc = seg_xch_begin(c->w, &b, &h, &id);
	if (rc == -ENOBUFS) {
		c->drops++;
		return NULL;
	}
	if (rc < 0) {
		stop(c, "writing failed", rc);
		return NULL;
	}
	return h;
}

static bool cap_room(void *ctx, void *h, size_t n)
{
	struct cap *c = ctx;
	(void)h;
	return c->failed || seg_writer_room(c->w, n);
}

static void cap_body(void *ctx, void *h, enum eng_dir dir, const char *p, size_t n)
{
	struct cap *c = ctx;
	seg_xch_body(c->w, h, dir == ENG_DIR_REQUEST ? SEG_DIR_REQ : SEG_DIR_RESP, p, n);
}

/* Reason phrase and Content-Type from a raw response head. */
static void resp_fields(const char *head, size_t len, const char **reason, size_t *rlen,
			const char **ct, size_t *ctlen)
{
	*reason = "";
	*rlen = 0;
	*ct = "";
	*ctlen = 0;
	const char *eol = memchr(head, '\r', len);
	if (eol && len > 13 && eol > head + 13) {
		*reason = head + 13;   /* "HTTP/1.1 200 " */
		*rlen = (size_t)(eol - *reason);
	}
	for (const char *p = eol; p && p + 14 < head + len; p = memchr(p + 1, '\n', (size_t)(head + len - p - 1))) {
		if (strncasecmp(p + 1, "content-type:", 13) != 0)
			continue;
		const char *v = p + 14, *end = head + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		const char *e = memchr(v, '\r', (size_t)(end - v));
		*ct = v;
		*ctlen = e ? (size_t)(e - v) : 0;
		return;
	}
}

static void cap_response(void *ctx, void *h, const struct eng_xchg *x, const char *head,
			 size_t head_len)
{
	struct cap *c = ctx;
	const char *reason, *ct;
	size_t rlen, ctlen;
	resp_fields(head, head_len, &reason, &rlen, &ct, &ctlen);
	seg_xch_resp_head(c->w, h, x->status, reason, rlen, head, head_len,
			  seg_type_from_mime(ct, ctlen));
}

static uint8_t error_of(enum eng_err e)
{
	switch (e) {
	case ENG_ERR_NONE: return SEG_E_NONE;
	case ENG_ERR_DNS: return SEG_E_DNS;
	case ENG_ERR_CONNECT: return SEG_E_CONNECT;
	case ENG_ERR_CONNECT_TIMEOUT:
	case ENG_ERR_UPSTREAM_TIMEOUT:
	case ENG_ERR_HEADER_TIMEOUT: return SEG_E_TIMEOUT;
	case ENG_ERR_TLS_CLIENT:
	case ENG_ERR_TLS_UPSTREAM: return SEG_E_TLS;
	case ENG_ERR_BAD_REQUEST:
	case ENG_ERR_BAD_RESPONSE:
	case ENG_ERR_HEAD_TOO_BIG: return SEG_E_PROTOCOL;
	case ENG_ERR_UPSTREAM_CLOSED: return SEG_E_UPSTREAM_CLOSED;
	case ENG_ERR_CLIENT_CLOSED: return SEG_E_CLIENT_CLOSED;
	default: return SEG_E_OTHER;
	}
}

static void cap_end(void *ctx, void *h, const struct eng_xchg *x)
{
	struct cap *c = ctx;
	const char *msg = eng_err_name(x->err);
	struct seg_xch_end e = {
		.status = x->status,
		.error = error_of(x->err),
		.flags = x->err ? SEG_F_ERROR : 0,
		.t = { .dns_ns = x->dns_ns, .connect_ns = x->connect_ns,
		       .ttfb_ns = x->first_byte_ns, .total_ns = x->end_ns },
		.wire = { x->request_head_bytes, x->request_body_bytes,
			  x->response_head_bytes, x->response_body_bytes },
		.err_msg = x->err ? msg : NULL,
		.err_msg_len = x->err ? strlen(msg) : 0,
	};
	int rc = seg_xch_end(c->w, h, &e);
	if (rc == -ENOBUFS)
		c->drops++;
	else if (rc < 0)
		stop(c, "writing failed", rc);
}

static bool cap_next_io(void *ctx, struct eng_sink_io *io)
{
	struct cap *c = ctx;
	if (c == NULL || c->w == NULL)
		return false;
	const struct seg_io *s = seg_writer_next_io(c->w);
	if (s == NULL)
		return false;
	*io = (struct eng_sink_io){ s->fd, s->fsync, s->buf, s->len, s->off };
	return true;
}

static void cap_io_done(void *ctx, int res)
{
	struct cap *c = ctx;
	seg_writer_io_done(c->w, res);
	if (res < 0)
		stop(c, "a segment write failed", res);
}

static void cap_tick(void *ctx, uint64_t now)
{
	struct cap *c = ctx;
	if (c && c->w && !c->failed)
		seg_writer_tick(c->w, now);
}

static void cap_close(void *ctx)
{
	struct cap *c = ctx;
	if (c == NULL)
		return;
	if (c->w) {
		if (!c->failed) {
			int rc = seg_writer_flush_sync(c->w);
			if (rc < 0)
				stop(c, "the final flush failed", rc);
		}
		seg_writer_close(c->w);
	}
	if (c->drops)
		fprintf(stderr, "ringcap: worker %u: %llu exchanges not captured (writer full)\n",
			c->worker, (unsigned long long)c->drops);
	free(c);
}

const struct eng_sink_ops rc_capture_ops = {
	.open = cap_open,
	.begin = cap_begin,
	.body = cap_body,
	.room = cap_room,
	.response = cap_response,
	.end = cap_end,
	.next_io = cap_next_io,
	.io_done = cap_io_done,
	.tick = cap_tick,
	.close = cap_close,
};
