/*
 * tools/control/ui_http.c - the web UI's routes on the control port (see
 * ui_http.h): the glue between the server's request and ui.c's lookup,
 * the QR code and the /ui/info JSON. The only file of the UI that knows
 * the HTTP server; a new server needs only this file rewritten.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include "tools/control/http.h"
#include "tools/control/ui.h"
#include "tools/control/ui_http.h"
#include "tools/lib/json.h"

#define INFO_MAX 4096u   /* /ui/info: 16 addresses of 48 bytes and a fingerprint */

void rc_ui_site_init(struct rc_ui_site *s, const struct sockaddr_storage *proxy,
		     const char *fingerprint, bool token_needed)
{
	memset(&s->proxy, 0, sizeof(s->proxy));
	if (proxy)
		s->proxy = *proxy;
	s->fingerprint = fingerprint;
	s->token_needed = token_needed;
	s->qr_len = rc_qr_svg(RC_UI_ONBOARD_URL, s->qr, sizeof(s->qr));
}

/* Writes r as a whole answer (status line, type, length, ui.c's headers,
 * the body unless HEAD or 304). 0, or -1 when the peer is gone. */
static int send_answer(struct rc_http_conn *h, const struct rc_http_req *rq, int status,
		       const struct rc_ui_reply *r)
{
	char extra[RC_UI_HEADERS_MAX], head[RC_UI_HEADERS_MAX + 256];
	if (rc_ui_headers(r, extra, sizeof(extra)) < 0)
		return -1;
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\n%s%s\r\n", status, rc_http_reason(status), r->ctype,
			 r->len, rq->keep_alive ? "" : "Connection: close\r\n", extra);
	if (n < 0 || (size_t)n >= sizeof(head) || rc_http_send(h, head, (size_t)n) < 0)
		return -1;
	if (rq->head_only || r->len == 0 || status == 304)
		return 0;
	return rc_http_send(h, r->body, r->len);
}

/* The port of an IPv4 or IPv6 address; false for another family. */
static bool port_of(const struct sockaddr_storage *ss, unsigned *port)
{
	if (ss->ss_family == AF_INET)
		*port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		*port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else
		return false;
	return true;
}

/* True for 0.0.0.0 and ::, where the proxy takes every interface. */
static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* One "ADDR:PORT" (IPv6 in brackets) as a JSON string. */
static void addr_out(struct rc_buf *b, const struct sockaddr *sa, unsigned port, bool first)
{
	char a[INET6_ADDRSTRLEN], t[INET6_ADDRSTRLEN + 16];
	const void *src = sa->sa_family == AF_INET
		? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (inet_ntop(sa->sa_family, src, a, sizeof(a)) == NULL)
		return;
	snprintf(t, sizeof(t), sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
	rc_buf_puts(b, first ? "" : ",");
	rc_buf_jstr(b, t, strlen(t));
}

/* Every non-loopback, non-link-local address of the box that the proxy
 * listens on (the bound one when it is not a wildcard). */
static void proxy_addrs(const struct rc_ui_site *s, struct rc_buf *b)
{
	unsigned port, n = 0;
	if (!port_of(&s->proxy, &port))
		return;
	struct ifaddrs *ifs = NULL;
	if (is_wildcard(&s->proxy) && getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i && n < RC_UI_ADDRS_MAX; i = i->ifa_next) {
			const struct sockaddr *sa = i->ifa_addr;
			if (sa == NULL || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
				continue;
			if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(
				    &((const struct sockaddr_in6 *)sa)->sin6_addr))
				continue;
			if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
				continue;
			if (s->proxy.ss_family == AF_INET && sa->sa_family != AF_INET)
				continue;   /* an IPv4 wildcard does not take IPv6 */
			addr_out(b, sa, port, n++ == 0);
		}
		freeifaddrs(ifs);
	}
	if (n == 0)   /* bound to one address, or a box with loopback only */
		addr_out(b, (const struct sockaddr *)&s->proxy, port, true);
}

/* GET /ui/info: the header's facts (ui_http.h). */
static int send_info(const struct rc_ui_site *s, struct rc_http_conn *h,
		     const struct rc_http_req *rq)
{
	struct rc_buf b = { .max = INFO_MAX };
	rc_buf_puts(&b, "{\"proxy\":[");
	proxy_addrs(s, &b);
	rc_buf_puts(&b, "],\"onboard_url\":\"" RC_UI_ONBOARD_URL "\",\"ca_sha256\":");
	if (s->fingerprint)
		rc_buf_jstr(&b, s->fingerprint, strlen(s->fingerprint));
	else
		rc_buf_puts(&b, "null");
	rc_buf_printf(&b, ",\"token_needed\":%s}\n", s->token_needed ? "true" : "false");
	struct rc_ui_reply r = { .status = 200, .ctype = "application/json", .body = b.p,
				 .len = b.len };
	int rc = b.oom ? -1 : send_answer(h, rq, 200, &r);
	rc_buf_free(&b);
	return rc;
}

int rc_ui_http(const struct rc_ui_site *s, struct rc_http_conn *h, const struct rc_http_req *rq,
	       bool authorised)
{
	if (!rc_ui_is_path(rq->path))
		return -1;
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
		rc_http_error(h, 405, "GET only", rq->keep_alive);
		return rq->keep_alive;
	}
	int rc;
	if (strcmp(rq->path, "/ui/info") == 0) {
		if (!authorised) {
			rc_http_error(h, 401, rq->auth[0] ? "wrong bearer token" :
				      "this control port needs Authorization: Bearer TOKEN",
				      rq->keep_alive);
			return rq->keep_alive;
		}
		rc = send_info(s, h, rq);
	} else if (strcmp(rq->path, "/ui/qr.svg") == 0) {
		struct rc_ui_reply r = { .status = 200, .ctype = "image/svg+xml", .body = s->qr,
					 .len = s->qr_len > 0 ? (size_t)s->qr_len : 0 };
		if (s->qr_len <= 0) {
			rc_http_error(h, 500, "cannot draw the QR code", rq->keep_alive);
			return rq->keep_alive;
		}
		rc = send_answer(h, rq, 200, &r);
	} else {
		struct rc_ui_reply r;
		int st = rc_ui_lookup(rq->path, rq->accept_encoding, rq->if_none_match, &r);
		if (st == 404)
			r = (struct rc_ui_reply){ .status = 404, .ctype = "text/plain; charset=utf-8",
						  .body = "not found\n", .len = 10 };
		rc = send_answer(h, rq, st, &r);
	}
	return rc == 0 && rq->keep_alive;
}
