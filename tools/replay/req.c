/*
 * tools/replay/req.c - a stored exchange rewritten into the bytes a replay
 * sends (rules at the top of req.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "persist/seg.h"
#include "tools/lib/json.h"
#include "tools/views/listing.h"
#include "tools/replay/req.h"

static const char *const hop_by_hop[] = {
	"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
	"transfer-encoding", "upgrade", "content-length", "host",
};

static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool rp_header_valid(const char *s)
{
	const char *c = strchr(s, ':');
	if (c == NULL || c == s)
		return false;
	for (const char *p = s; p < c; p++)
		if (!tchar(*p))
			return false;
	for (const char *p = c + 1; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\0')
			return false;
	return true;
}

/* "host", "host:port", "[v6]:port" -> host (brackets removed) and port
 * (0 when absent). */
static int authority_parse(const char *s, size_t n, char *host, uint16_t *port)
{
	const char *colon = NULL;
	size_t hs = 0, hn = n;
	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (rb == NULL)
			return -EINVAL;
		hs = 1;
		hn = (size_t)(rb - s) - 1u;
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return -EINVAL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(s, ':', n);
		if (colon)
			hn = (size_t)(colon - s);
	}
	if (hn == 0 || hn > RP_HOST_MAX)
		return -EINVAL;
	memcpy(host, s + hs, hn);
	host[hn] = '\0';
	*port = 0;
	if (colon) {
		unsigned long v = 0;
		const char *p = colon + 1;
		if (p == s + n)
			return -EINVAL;
		for (; p < s + n; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			v = v * 10u + (unsigned long)(*p - '0');
			if (v > 65535u)
				return -EINVAL;
		}
		if (v == 0)
			return -EINVAL;
		*port = (uint16_t)v;
	}
	return 0;
}

int rp_dest_parse(const char *url, struct rp_dest *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	const char *a = url;
	if (strncasecmp(url, "http://", 7) == 0) {
		a = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		a = url + 8;
		d->tls = true;
	} else {
		snprintf(err, errlen, "'%s': not an http:// or https:// URL", url);
		return -EINVAL;
	}
	size_t n = strcspn(a, "/");
	if (a[n] == '/' && a[n + 1] != '\0') {
		snprintf(err, errlen, "'%s': a target has no path (scheme, host and port only)", url);
		return -EINVAL;
	}
	if (authority_parse(a, n, d->host, &d->port) < 0) {
		snprintf(err, errlen, "'%s': bad host or port", url);
		return -EINVAL;
	}
	if (d->port == 0)
		d->port = d->tls ? 443 : 80;
	return 0;
}

int rp_host_map_parse(const char *s, struct rp_host_map *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	const char *eq = strchr(s, '=');
	if (eq == NULL || authority_parse(s, (size_t)(eq - s), m->from, &m->from_port) < 0) {
		snprintf(err, errlen, "'%s': want FROM=TO, FROM host[:port]", s);
		return -EINVAL;
	}
	const char *to = eq + 1;
	if (strstr(to, "://"))
		return rp_dest_parse(to, &m->to, err, errlen);
	if (authority_parse(to, strlen(to), m->to.host, &m->to.port) < 0) {
		snprintf(err, errlen, "'%s': bad TO host[:port]", s);
		return -EINVAL;
	}
	m->keep_scheme = true;
	return 0;
}

/* The path part of an absolute URL ("/" when it has none). */
static const char *url_path(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	p += strcspn(p, "/?");
	return *p == '\0' ? "/" : p;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* True when the recorded header `name` (n bytes) is not sent again. */
static bool dropped(const struct rp_rewrite *rw, const char *name, size_t n,
		    const char *conn_tokens)
{
	for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
		if (name_is(name, n, hop_by_hop[i]))
			return true;
	for (unsigned i = 0; i < rw->ndrop; i++)
		if (name_is(name, n, rw->drop[i]))
			return true;
	for (unsigned i = 0; i < rw->nadd; i++) {
		size_t an = strcspn(rw->add[i], ":");
		if (an == n && strncasecmp(rw->add[i], name, n) == 0)
			return true;
	}
	/* names listed in Connection are hop-by-hop too (RFC 9110 7.6.1) */
	for (const char *t = conn_tokens; t && *t;) {
		t += strspn(t, " \t\r,");
		size_t tn = strcspn(t, " \t\r,");
		if (tn == n && tn > 0 && strncasecmp(t, name, n) == 0)
			return true;
		t += tn;
	}
	return false;
}

/* Value of the first header `want` in the head's lines, copied to out. */
static void header_value(const uint8_t *head, size_t len, const char *want, char *out,
			 size_t cap)
{
	out[0] = '\0';
	const char *p = (const char *)head, *end = p + len;
	const char *nl = memchr(p, '\n', len);
	for (p = nl ? nl + 1 : end; p < end;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (e == NULL)
			e = end;
		const char *c = memchr(p, ':', (size_t)(e - p));
		if (c && name_is(p, (size_t)(c - p), want)) {
			size_t vn = (size_t)(e - c - 1);
			if (vn >= cap)
				vn = cap - 1u;
			memcpy(out, c + 1, vn);
			out[vn] = '\0';
			return;
		}
		p = e + 1;
	}
}

/* Copies the recorded header lines that are sent again into b. */
static int copy_headers(const struct rp_rewrite *rw, const struct seg_exchange *x,
			struct rc_buf *b)
{
	char conn[1024];
	header_value(x->req_head, x->req_head_len, "connection", conn, sizeof(conn));
	const char *p = (const char *)x->req_head, *end = p + x->req_head_len;
	const char *nl = memchr(p, '\n', x->req_head_len);
	if (nl == NULL)
		return -EBADMSG;
	for (p = nl + 1; p < end;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (e == NULL)
			e = end;
		size_t ln = (size_t)(e - p);
		if (ln > 0 && p[ln - 1] == '\r')
			ln--;
		if (ln == 0)
			break;   /* the blank line ending the head */
		const char *c = memchr(p, ':', ln);
		if (c && !dropped(rw, p, (size_t)(c - p), conn)) {
			rc_buf_add(b, p, ln);
			rc_buf_add(b, "\r\n", 2);
		}
		p = e + 1;
	}
	return 0;
}

/* Where x goes: --target, else the first matching --host-map, else where
 * it went. Returns true when the destination changed (Host follows). */
static bool route(const struct rp_rewrite *rw, const struct seg_exchange *x, struct rp_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->tls = x->scheme == SEG_SCHEME_HTTPS;
	d->port = x->port ? x->port : (d->tls ? 443 : 80);
	snprintf(d->host, sizeof(d->host), "%s", x->host ? x->host : "");
	if (rw->has_target) {
		*d = rw->target;
		return true;
	}
	for (unsigned i = 0; i < rw->nmaps; i++) {
		const struct rp_host_map *m = &rw->maps[i];
		if (strcasecmp(m->from, d->host) != 0)
			continue;
		if (m->from_port != 0 && m->from_port != d->port)
			continue;
		bool tls = m->keep_scheme ? d->tls : m->to.tls;
		uint16_t port = m->to.port ? m->to.port : d->port;
		*d = m->to;
		d->tls = tls;
		d->port = port;
		return true;
	}
	return false;
}

static void authority(const struct rp_dest *d, char *out, size_t cap)
{
	bool v6 = strchr(d->host, ':') != NULL;
	bool dflt = d->port == (d->tls ? 443 : 80);
	if (dflt)
		snprintf(out, cap, v6 ? "[%s]" : "%s", d->host);
	else
		snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", d->host, d->port);
}

static void expect_of(const struct rp_rewrite *rw, const struct seg_exchange *x,
		      const struct rp_bodies *bd, struct rp_expect *e)
{
	memset(e, 0, sizeof(*e));
	if (!x->complete || (x->flags & SEG_F_NO_RESP) || x->error != SEG_E_NONE)
		return;
	e->status = x->status;
	e->body_known = !(x->flags & (SEG_F_RESP_TRUNC | SEG_F_MEDIA)) &&
			(bd != NULL || !x->body_cut[SEG_DIR_RESP]);
	e->size = e->body_known ? (bd ? bd->resp_len : x->body_len[SEG_DIR_RESP])
				: x->wire.resp_body;
	if (e->body_known && rw->diff_body)
		e->hash = bd ? bd->resp_hash
			     : seg_crc32c(0, x->body[SEG_DIR_RESP], x->body_len[SEG_DIR_RESP]);
}

int rp_req_build(const struct rp_rewrite *rw, const struct seg_exchange *x,
		 const struct rp_bodies *bd, struct rp_req **out)
{
	*out = NULL;
	if ((x->flags & SEG_F_TUNNEL) || x->scheme == SEG_SCHEME_TUNNEL)
		return -EPROTONOSUPPORT;
	if ((x->flags & SEG_F_REQ_TRUNC) || (x->flags & SEG_F_HEAD_TRUNC) ||
	    (bd == NULL && x->body_cut[SEG_DIR_REQ]))
		return -EFBIG;
	if (x->req_head == NULL || x->url == NULL || x->method_text == NULL || x->method_text[0] == '\0')
		return -EBADMSG;
	struct rp_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->id = rc_exchange_id(x); /* the id ls shows */
	bool moved = route(rw, x, &r->dest);
	char auth[RP_HOST_MAX + 16];
	authority(&r->dest, auth, sizeof(auth));
	const char *path = url_path(x->url);
	struct rc_buf u = { .max = 16384 }, b = { 0 };
	rc_buf_printf(&u, "%s://%s%s", r->dest.tls ? "https" : "http", auth, path);
	const uint8_t *body = bd ? bd->req : x->body[SEG_DIR_REQ];
	size_t blen = bd ? bd->req_len : x->body_len[SEG_DIR_REQ];
	bool absolute = rw->via_proxy && !r->dest.tls;
	rc_buf_printf(&b, "%s %s HTTP/1.1\r\n", x->method_text, absolute ? u.p : path);
	if (moved) {
		rc_buf_printf(&b, "Host: %s\r\n", auth);
	} else {
		char host[RP_HOST_MAX + 16];
		header_value(x->req_head, x->req_head_len, "host", host, sizeof(host));
		const char *h = host + strspn(host, " \t");
		size_t hn = strcspn(h, " \t\r");
		rc_buf_printf(&b, "Host: %.*s\r\n", (int)(hn ? hn : strlen(auth)), hn ? h : auth);
	}
	int rc = copy_headers(rw, x, &b);
	for (unsigned i = 0; i < rw->nadd; i++)
		rc_buf_printf(&b, "%s\r\n", rw->add[i]);
	bool want_len = blen > 0 || strcmp(x->method_text, "POST") == 0 ||
			strcmp(x->method_text, "PUT") == 0 || strcmp(x->method_text, "PATCH") == 0;
	if (want_len)
		rc_buf_printf(&b, "Content-Length: %zu\r\n", blen);
	rc_buf_add(&b, "\r\n", 2);
	r->head_len = b.len;
	if (blen)
		rc_buf_add(&b, body, blen);
	r->method = strdup(x->method_text);
	if (rc == 0 && (b.oom || u.oom || r->method == NULL))
		rc = -ENOMEM;
	if (rc < 0) {
		rc_buf_free(&u);
		rc_buf_free(&b);
		rp_req_free(r);
		return rc;
	}
	r->data = (uint8_t *)b.p;
	r->len = b.len;
	r->url = u.p;
	r->url_len = u.len;
	r->head = strcmp(x->method_text, "HEAD") == 0;
	expect_of(rw, x, bd, &r->expect);
	*out = r;
	return 0;
}

void rp_req_free(struct rp_req *r)
{
	if (r == NULL)
		return;
	free(r->data);
	free(r->url);
	free(r->method);
	free(r);
}
