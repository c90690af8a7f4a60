/*
 * engine/px-head.c - request heads: reading a head into a head-pool buffer,
 * parsing and checking it, deciding where it goes (local answer, CONNECT,
 * forward) and rewriting it for the upstream.
 *
 * Invariants: a head is forwarded only after h1_scan and h1_parse_head
 * accepted it and the access rules let it through; credentials are blanked
 * before any capture sees the head.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <string.h>
#include <strings.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/px-head.h"
#include "engine/px-answer.h"
#include "engine/px-connect.h"
#include "engine/px-exchange.h"
#include "engine/onboard.h"
#include "engine/sock.h"

/* True when host:port is this proxy's own listener: forwarding would loop. */
static bool is_self(struct eng_worker *w, const struct h1_target *t)
{
	const struct sockaddr_storage *l = &w->e->cfg.listen;
	uint16_t lport = ntohs(l->ss_family == AF_INET
		? ((const struct sockaddr_in *)l)->sin_port
		: ((const struct sockaddr_in6 *)l)->sin6_port);
	if (t->port != lport)
		return false;
	char host[ENG_HOST_MAX + 1];
	memcpy(host, t->host, t->host_len);
	host[t->host_len] = '\0';
	struct in_addr a4;
	struct in6_addr a6;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		const struct sockaddr_in *in = (const void *)l;
		return (ntohl(a4.s_addr) >> 24) == 127 ||
		       (l->ss_family == AF_INET && (in->sin_addr.s_addr == a4.s_addr ||
						    in->sin_addr.s_addr == INADDR_ANY));
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static void fill_xchg(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m)
{
	struct eng_xchg *x = c->x;
	x->method = m->base;
	x->method_len = m->start_len;
	x->url = m->base + m->url_off;
	x->url_len = m->url_len;
	x->host = c->host;
	x->host_len = c->host_len;
	x->port = c->port;
	x->http_minor = m->minor;
	x->request_head_bytes = m->head_len;
	(void)w;
}

/* Where the request goes. Inside an intercepted tunnel every request goes
 * to the CONNECT host, with the client's own Host header. */
static int request_target(struct eng_sock *c, const struct h1_msg *m,
			  struct h1_target *t, const char **why)
{
	const char *url = m->base + m->url_off;
	if (!eng_sock_in_tls(c))
		return h1_parse_target(url, m->url_len, m->method == HTTP_CONNECT, t, why);
	if (m->url_len == 0 || url[0] != '/' || m->method == HTTP_CONNECT) {
		*why = "inside a TLS tunnel the target must be a path";
		return -EBADMSG;
	}
	memset(t, 0, sizeof(*t));
	t->host = c->host;
	t->host_len = c->host_len;
	t->port = c->port;
	t->path = url;
	t->path_len = m->url_len;
	t->keep_host = true;
	return 0;
}

/* True when name (a CONNECT host or an SNI, NUL-terminated) matches a
 * --passthrough glob. */
bool px_passthrough(struct eng_worker *w, const char *name)
{
	const struct eng_config *cfg = &w->e->cfg;
	for (unsigned i = 0; i < cfg->npassthrough; i++)
		if (fnmatch(cfg->passthrough[i], name, FNM_CASEFOLD) == 0)
			return true;
	return false;
}

/* CONNECT is intercepted unless TLS is off or the host is passed through
 * (the SNI is checked too, once the ClientHello is in: px-client.c). */
static bool intercepts(struct eng_worker *w, const struct eng_sock *c)
{
	if (w->e->cfg.tls_server == NULL)
		return false;
	return !px_passthrough(w, c->host);
}

/* Keeps what the exchange needs to know of a parsed request head: its
 * flags and, in absolute form, where it goes. */
static void note_request(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m,
			 const struct h1_target *t)
{
	bool connect = m->method == HTTP_CONNECT;
	if (c->hp.done)
		c->xflags |= ENG_XCHG_F_REQ_DONE;
	if (m->conn_close || (m->minor == 0 && !m->conn_keep_alive) || w->draining)
		c->xflags |= ENG_XCHG_F_CLOSE;
	if (m->method == HTTP_HEAD)
		c->xflags |= ENG_XCHG_F_HEAD_REQ;
	if (connect)
		c->xflags |= ENG_XCHG_F_CONNECT;
	if (m->upgrade_hdr >= 0 && m->conn_upgrade && !connect)
		c->xflags |= ENG_XCHG_F_UPGRADE;
	if (!t->origin_form && !eng_sock_in_tls(c)) {
		memcpy(c->host, t->host, t->host_len);
		c->host[t->host_len] = '\0';
		c->host_len = (uint8_t)t->host_len;
		c->port = t->port;
	}
}

/* An HTTP/2 stream's "TE: trailers" (gRPC's) goes upstream although TE is
 * hop-by-hop in HTTP/1.1: appended to the written head of n bytes.
 * Returns the new length (n when there is nothing to add or no room). */
static long keep_te_trailers(struct eng_worker *w, const struct eng_sock *c,
			     const struct h1_msg *m, char *head, long n)
{
	static const char te[] = "te: trailers\r\n\r\n";
	if (!(c->flags & ENG_SOCK_F_H2S) || n < 2 || (size_t)n + sizeof(te) > w->head_size)
		return n;
	int i = h1_find(m, "te");
	if (i < 0 || m->hdr[i].value_len != 8 ||
	    strncasecmp(m->base + m->hdr[i].value_off, "trailers", 8) != 0)
		return n;
	memcpy(head + n - 2, te, sizeof(te) - 1);
	return n - 2 + (long)sizeof(te) - 1;
}

/* Writes the head the upstream gets into a fresh head buffer, which
 * replaces the client's. false: answered with an error already. */
static bool rewrite_head(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m,
			 const struct h1_target *t)
{
	uint32_t out = eng_head_get(w);
	if (out == ENG_NONE) {
		px_fail(w, c, ENG_ERR_OVERLOAD, 503, "ringcap: out of head buffers");
		return false;
	}
	long n = h1_write_request(m, t, (c->xflags & ENG_XCHG_F_UPGRADE) != 0,
				  eng_head_ptr(w, out), w->head_size);
	if (n < 0) {
		eng_head_put(w, out);
		px_fail(w, c, ENG_ERR_HEAD_TOO_BIG, 431, "ringcap: request head too large");
		return false;
	}
	n = keep_te_trailers(w, c, m, eng_head_ptr(w, out), n);
	eng_head_put(w, c->head_buf);
	c->head_buf = out;
	c->head_len = (uint32_t)n;
	return true;
}

/* The request head in c->head_buf is complete (head_len bytes). */
void px_request_head(struct eng_worker *w, struct eng_sock *c)
{
	struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
	struct h1_target t;
	const char *why = NULL;
	char *head = eng_head_ptr(w, c->head_buf);
	ENG_COUNT(w->c.requests, 1);
	eng_timer_stop(w, c);
	if (h1_parse_head(&c->hp, &m, head, c->head_len, &why) < 0) {
		px_fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request: %s", why);
		return;
	}
	if (m.minor == 1 && h1_find(&m, "host") < 0) {
		px_fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request: HTTP/1.1 without Host");
		return;
	}
	bool connect = m.method == HTTP_CONNECT;
	if (request_target(c, &m, &t, &why) < 0) {
		px_fail(w, c, ENG_ERR_BAD_REQUEST, 400, "ringcap: bad request target: %s", why);
		return;
	}
	note_request(w, c, &m, &t);
	fill_xchg(w, c, &m);
	if (eng_sock_in_tls(c))
		c->x->flags |= ENG_X_TLS;
	if (c->flags & ENG_SOCK_F_H2S)
		c->x->flags |= ENG_X_H2;
	struct eng_deny d;
	if (!eng_access_request(w, c, &m, head, &t, &d)) {
		px_deny(w, c, &d);
		return;
	}
	/* addressed to the proxy itself: its status page is not traffic to
	 * capture (issue 17) */
	if (!eng_sock_in_tls(c) && (t.origin_form || is_self(w, &t))) {
		c->x->flags |= ENG_X_LOCAL;
		px_status_page(w, c, t.path_len == 1 && t.path[0] == '/');
		return;
	}
	if (sink(w) && sink(w)->begin)
		c->sink_h = sink(w)->begin(w->sink_ctx, c->x, head, c->head_len);
	if (!eng_sock_in_tls(c) && !t.origin_form && !connect && w->e->cfg.onboard &&
	    eng_onboard_is_host(t.host, t.host_len)) {
		px_onboard(w, c, &t);
		return;
	}
	if ((m.method == HTTP_OPTIONS || m.method == HTTP_TRACE) && m.max_forwards == 0) {
		px_max_forwards_zero(w, c, &m);
		return;
	}
	if (connect && intercepts(w, c))
		c->flags |= ENG_SOCK_F_INTERCEPT;
	if (!connect && !rewrite_head(w, c, &m, &t))
		return;
	c->state = C_WAIT;
	px_upstream_get(w, c);
}

/* Starts a new request on an idle client: skips stray CRLFs between
 * requests, takes a head buffer and an exchange record. */
bool px_request_begin(struct eng_worker *w, struct eng_sock *c)
{
	const char *p;
	size_t n = eng_in_peek(w, c, &p);
	size_t skip = 0;
	while (skip < n && (p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	if (skip > 0)
		eng_in_consume(w, c, skip);
	if (skip == n)
		return false;
	c->head_buf = eng_head_get(w);
	c->x = px_xchg_get(w);
	if (c->head_buf == ENG_NONE || c->x == NULL) {
		if (c->x) {
			px_xchg_put(w, c->x);
			c->x = NULL;
		}
		ENG_COUNT(w->c.errors[ENG_ERR_OVERLOAD], 1);
		px_respond(w, c, 503, "text/plain", "ringcap: overloaded\n", 20, true);
		return false;
	}
	c->t0_ns = eng_now_ns();
	c->x->start_ns = eng_wall_ns();
	c->x->seq = ++w->seq;
	c->x->worker = w->index;
	c->x->client = c->addr;
	c->head_len = 0;
	c->scan = (struct h1_scan){ .request = 1, .line_max = w->e->cfg.max_request_line };
	c->xflags = 0;
	c->state = C_HEAD;
	eng_timer_arm(w, c, T_HEADER);
	return true;
}

/* Copies head bytes into the socket's head buffer up to the end of the
 * head. Returns 1 when complete, 0 for more, <0 after failing the client. */
int px_head_read(struct eng_worker *w, struct eng_sock *s, unsigned max, const char **why)
{
	char *head = eng_head_ptr(w, s->head_buf);
	for (unsigned iter = 0; iter < ENG_IN_BUFS_MAX * 4; iter++) {
		const char *p;
		size_t n = eng_in_peek(w, s, &p);
		if (n == 0)
			return 0;
		if (n > max - s->head_len)
			n = max - s->head_len;
		if (n == 0)
			return -E2BIG;
		memcpy(head + s->head_len, p, n);
		uint32_t before = s->head_len;
		s->head_len += (uint32_t)n;
		int rc = h1_scan(&s->scan, head, s->head_len, w->e->cfg.max_headers + 1, why);
		if (rc > 0) {
			eng_in_consume(w, s, (size_t)rc - before);
			s->head_len = (uint32_t)rc;
			return 1;
		}
		eng_in_consume(w, s, n);
		if (rc == -EBADMSG || rc == -E2BIG || rc == -EMSGSIZE)
			return rc;
		if (s->head_len == max)
			return -E2BIG;
	}
	return 0;
}
