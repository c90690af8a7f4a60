/*
 * tools/control/ui_http.c - the web UI's routes on the control port (see
 * ui_http.h): rows of the router's table (router.h) that hand the request
 * to ui.c's lookup, the QR code and the /ui/info JSON. The only file of
 * the UI that knows the router.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include "tools/control/router.h"
#include "tools/control/ui.h"
#include "tools/control/ui_http.h"
#include "tools/lib/json.h"

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

/* Puts r into rs: status, type, ui.c's headers, the embedded bytes (no
 * copy: they are static). */
static int put_reply(struct rc_resp *rs, const struct rc_ui_reply *r)
{
	const char *name[RC_UI_HEADERS_N], *value[RC_UI_HEADERS_N];
	unsigned n = rc_ui_header_pairs(r, name, value);
	for (unsigned i = 0; i < n; i++)
		if (rc_resp_header(rs, name[i], value[i]) < 0)
			return rc_fail(rs, -E2BIG, "answer headers too long");
	rs->status = r->status;
	rs->ctype = r->ctype;
	if (r->body && r->len > 0) {
		rs->fixed = r->body;
		rs->fixed_len = r->len;
	} else {
		rc_buf_puts(&rs->body, "");   /* 304: no body */
	}
	return 0;
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
static int h_info(struct rc_req *rq, struct rc_resp *rs)
{
	const struct rc_ui_site *s = rq->env->ui;
	if (s == NULL)
		return rc_fail(rs, -ENOENT, "no web UI on this port");
	rc_buf_puts(&rs->body, "{\"proxy\":[");
	proxy_addrs(s, &rs->body);
	rc_buf_puts(&rs->body, "],\"onboard_url\":\"" RC_UI_ONBOARD_URL "\",\"ca_sha256\":");
	if (s->fingerprint)
		rc_buf_jstr(&rs->body, s->fingerprint, strlen(s->fingerprint));
	else
		rc_buf_puts(&rs->body, "null");
	rc_buf_printf(&rs->body, ",\"token_needed\":%s}", s->token_needed ? "true" : "false");
	return rs->body.oom ? rc_fail(rs, -ENOMEM, "out of memory") : 0;
}

/* GET /ui/qr.svg: the onboarding URL as a QR code. */
static int h_qr(struct rc_req *rq, struct rc_resp *rs)
{
	const struct rc_ui_site *s = rq->env->ui;
	if (s == NULL || s->qr_len <= 0)
		return rc_fail(rs, -EIO, "cannot draw the QR code");
	rs->ctype = "image/svg+xml";
	rs->fixed = s->qr;   /* lives as long as the server */
	rs->fixed_len = (size_t)s->qr_len;
	return 0;
}

/* GET /, /index.html, /ui/NAME: an embedded asset, gzip'd when accepted,
 * 304 when the browser has it. */
static int h_asset(struct rc_req *rq, struct rc_resp *rs)
{
	struct rc_ui_reply r;
	const char *ae = rc_req_header(rq, "Accept-Encoding");
	const char *inm = rc_req_header(rq, "If-None-Match");
	if (rc_ui_lookup(rq->path, ae ? ae : "", inm ? inm : "", &r) == 404)
		return rc_fail(rs, -ENOENT, "no such file of the web UI");
	return put_reply(rs, &r);
}

/* Public: the page and its files must load before the login form can ask
 * for the token; /ui/info tells where the proxy is and needs the token. */
#define ASSET (RC_ROUTE_PUBLIC | RC_ROUTE_HIDDEN)
static const struct rc_route routes[] = {
	{ "GET", "/", h_asset, ASSET, "The web UI", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/index.html", h_asset, ASSET, "The web UI", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ui/*", h_asset, ASSET, "The web UI's files", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ui/qr.svg", h_qr, ASSET, "QR code of the onboarding URL", NULL, NULL, NULL,
	  NULL, 0, NULL },
	{ "GET", "/ui/info", h_info, RC_ROUTE_HIDDEN, "Proxy addresses, CA fingerprint", NULL,
	  NULL, NULL, NULL, 0, NULL },
};

const struct rc_route_table rc_ui_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
