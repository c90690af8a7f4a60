/*
 * tools/views/export_har.c - HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/)
 * from stored exchanges, one entry at a time.
 *
 * What the store knows maps onto HAR as follows:
 *   - startedDateTime: the first request byte (UTC, milliseconds);
 *   - timings: the store keeps times from start (dns, connect, tls, first
 *     byte, end; 0 = did not happen). HAR wants durations: dns, connect
 *     (TCP and TLS, as HAR says), ssl (TLS alone), wait (end of connect, or
 *     start on a reused connection, to first byte), receive (first byte to
 *     end); blocked and send are not measured (-1 / 0), and time is the
 *     store's total, which equals the sum of the non-negative phases;
 *   - headers, cookies (Cookie and Set-Cookie lines parsed), queryString
 *     (percent-decoded), postData (text, or base64 with "_encoding" for a
 *     body that is not UTF-8; params for urlencoded and multipart forms);
 *   - content: decoded first when the response has a gzip or deflate
 *     Content-Encoding (HAR 1.2: "decoded (decompressed & unchunked)"),
 *     with size the decoded length and compression the bytes it saved; a
 *     coding not read here (br, zstd) stays as stored and a comment says
 *     so; then text when UTF-8, else base64 with "encoding"; a response
 *     not saved or a media body has no text;
 *   - sizes: bytes on the wire before any cap (headersSize, bodySize);
 *   - request.url: as captured; a CONNECT's host:port (not a URI, which
 *     HAR wants) as https://host:port, or http:// for a tunnel whose bytes
 *     were not TLS (import turns it back: import_har.c);
 *   - serverIPAddress: the upstream address the proxy connected to (IPv6
 *     without brackets, as har-validator's ipv6 format wants), with its
 *     port in _server_port; both left out when the store does not know it
 *     (a failed look-up or connect, sessions older than the field);
 *   - extras HAR has no field for: _id, _client, _client_name, _flags
 *     (tls, tunnel, truncated, media, no_response, cookies), _tunnel (what a
 *     CONNECT row's tunnel was: intercepted, passthrough, not_tls, refused,
 *     blind; "tunnel" in old sessions, "" on other rows), _error,
 *     _error_message;
 *   - trailer sections (a chunked body's trailer fields, an HTTP/2
 *     stream's trailing HEADERS such as gRPC's grpc-status): "_trailers",
 *     [{"name","value"}], in the request and response objects that have
 *     some (HAR has no field for them);
 *   - WebSocket messages of an upgraded exchange: _webSocketMessages as
 *     Chrome writes it (type send/receive, time in s since the epoch,
 *     opcode, data: a text message as text, anything else base64).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/views/coding.h"
#include "tools/views/cookie.h"
#include "tools/views/export-int.h"
#include "tools/views/listing.h"
#include "tools/views/trailers.h"

static const char *har_version(uint8_t v)
{
	return v == 10 ? "HTTP/1.0" : v == 20 ? "HTTP/2.0" : "HTTP/1.1";
}

int rc_har_begin(struct rc_xout *o, const struct ses_meta *m)
{
	rc_buf_puts(&o->b, "{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"ringcap\","
		    "\"version\":\"0.1.0\"},\"comment\":");
	char c[SES_NAME_MAX + 64];
	snprintf(c, sizeof(c), "session %s (%s)", m->name, m->id);
	rc_buf_jstr(&o->b, c, strlen(c));
	RC_PUTS(&o->b, ",\"pages\":[],\"entries\":[");
	return rc_xout_flush(o, false);
}

int rc_har_end(struct rc_xout *o)
{
	RC_PUTS(&o->b, "]}}\n");
	return rc_xout_flush(o, true);
}

static void har_req_cookies(struct rc_buf *b, const uint8_t *head, size_t n)
{
	struct rc_hdr h;
	size_t hp = 0;
	bool first = true;
	RC_PUTS(b, "\"cookies\":[");
	while (head && rc_hdr_next(head, n, &hp, &h)) {
		if (h.name_len != 6 || strncasecmp(h.name, "cookie", 6) != 0)
			continue;
		size_t pos = 0;
		struct rc_span nm, v;
		while (rc_cookie_pair_next(h.value, h.value_len, &pos, &nm, &v) == 1) {
			rc_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
			rc_buf_jstr(b, nm.p, nm.n);
			RC_PUTS(b, ",\"value\":");
			rc_buf_jstr(b, v.p, v.n);
			RC_PUTS(b, "}");
			first = false;
		}
	}
	RC_PUTS(b, "]");
}

static void har_set_cookie(struct rc_buf *b, const struct rc_setcookie *c)
{
	RC_PUTS(b, "{\"name\":");
	rc_buf_jstr(b, c->name.p, c->name.n);
	RC_PUTS(b, ",\"value\":");
	rc_buf_jstr(b, c->value.p, c->value.n);
	if (c->has_path) {
		RC_PUTS(b, ",\"path\":");
		rc_buf_jstr(b, c->path.p, c->path.n);
	}
	if (c->has_domain) {
		RC_PUTS(b, ",\"domain\":");
		rc_buf_jstr(b, c->domain.p, c->domain.n);
	}
	if (c->has_expires && c->expires_s > 0) {
		char t[40];
		rc_iso_time((uint64_t)c->expires_s * 1000000000ull, t, sizeof(t));
		rc_buf_printf(b, ",\"expires\":\"%s\"", t);
	}
	rc_buf_printf(b, ",\"httpOnly\":%s,\"secure\":%s}", c->http_only ? "true" : "false",
		      c->secure ? "true" : "false");
}

static void har_resp_cookies(struct rc_buf *b, const uint8_t *head, size_t n)
{
	struct rc_hdr h;
	size_t hp = 0;
	bool first = true;
	RC_PUTS(b, "\"cookies\":[");
	while (head && rc_hdr_next(head, n, &hp, &h)) {
		struct rc_setcookie c;
		if (h.name_len != 10 || strncasecmp(h.name, "set-cookie", 10) != 0 ||
		    rc_setcookie_parse(h.value, h.value_len, &c) < 0)
			continue;
		if (!first)
			RC_PUTS(b, ",");
		har_set_cookie(b, &c);
		first = false;
	}
	RC_PUTS(b, "]");
}

static void har_query(struct rc_buf *b, const struct rc_url *u)
{
	RC_PUTS(b, "\"queryString\":[");
	const char *p = u->query, *end = u->query + u->query_len;
	bool first = true;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if (e > p) {
			const char *eq = memchr(p, '=', (size_t)(e - p));
			rc_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
			rc_buf_jstr_urldec(b, p, (size_t)((eq ? eq : e) - p));
			RC_PUTS(b, ",\"value\":");
			rc_buf_jstr_urldec(b, eq ? eq + 1 : e, eq ? (size_t)(e - eq - 1) : 0);
			RC_PUTS(b, "}");
			first = false;
		}
		p = e + 1;
	}
	RC_PUTS(b, "]");
}

/* params of an urlencoded or multipart body (HAR postData.params). */
static void har_params(struct rc_buf *b, enum rc_body_kind k, const struct rc_hdr *ct,
		       const uint8_t *body, size_t n)
{
	RC_PUTS(b, ",\"params\":[");
	bool first = true;
	if (k == RC_BODY_URLENC) {
		struct rc_url u = { .query = (const char *)body, .query_len = n };
		struct rc_buf tmp = {0};
		har_query(&tmp, &u); /* "queryString":[...] */
		const char *arr = tmp.p ? strchr(tmp.p, '[') : NULL;
		if (arr && tmp.len > 0)
			rc_buf_add(b, arr + 1, tmp.len - (size_t)(arr + 1 - tmp.p) - 1);
		b->oom |= tmp.oom;
		rc_buf_free(&tmp);
	} else {
		size_t pos = 0;
		struct rc_part pt;
		while (rc_multipart_next(ct->value, ct->value_len, body, n, &pos, &pt) == 1) {
			rc_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
			rc_buf_jstr(b, pt.name ? pt.name : "", pt.name_len);
			if (pt.filename) {
				RC_PUTS(b, ",\"fileName\":");
				rc_buf_jstr(b, pt.filename, pt.filename_len);
				RC_PUTS(b, ",\"contentType\":");
				rc_buf_jstr(b, pt.ctype ? pt.ctype : "", pt.ctype_len);
			}
			if (rc_utf8_valid(pt.data, pt.data_len)) {
				RC_PUTS(b, ",\"value\":");
				rc_buf_jstr(b, (const char *)pt.data, pt.data_len);
			}
			RC_PUTS(b, "}");
			first = false;
		}
	}
	RC_PUTS(b, "]");
}

static void har_post_data(struct rc_xout *o, const struct seg_exchange *x)
{
	struct rc_buf *b = &o->b;
	const uint8_t *body = x->body[SEG_DIR_REQ];
	size_t n = x->body_len[SEG_DIR_REQ];
	if (n == 0)
		return;
	struct rc_hdr ct = { .value = "", .value_len = 0 };
	rc_hdr_get(x->req_head, x->req_head_len, "content-type", &ct);
	enum rc_body_kind k = rc_body_kind(ct.value, ct.value_len, body, n);
	RC_PUTS(b, ",\"postData\":{\"mimeType\":");
	rc_buf_jstr(b, ct.value, ct.value_len);
	RC_PUTS(b, ",\"text\":");
	if (rc_utf8_valid(body, n)) {
		rc_xout_jstr(o, body, n);
	} else {
		rc_xout_base64(o, body, n);
		RC_PUTS(b, ",\"_encoding\":\"base64\"");
	}
	if (k == RC_BODY_URLENC || k == RC_BODY_MULTIPART)
		har_params(b, k, &ct, body, n);
	RC_PUTS(b, "}");
}

/* A CONNECT's target is authority-form (host:port), which is not the
 * absolute URI HAR's request.url must be: it goes out as http:// (the
 * tunnel's bytes were not TLS) or https:// plus the authority, and
 * rc_har_decode turns that back into host:port. */
static void har_url(struct rc_buf *b, const struct seg_exchange *x)
{
	size_t n = strlen(x->url);
	char t[sizeof("https://") + SEG_HOST_MAX + sizeof(":65535")];
	if (strcmp(x->method_text, "CONNECT") != 0 || memchr(x->url, '/', n) != NULL ||
	    n > SEG_HOST_MAX + sizeof(":65535") - 1) {
		rc_buf_jstr(b, x->url, n);
		return;
	}
	bool plain = seg_tunnel_of(x->flags) == SEG_TUN_NOT_TLS;
	int k = snprintf(t, sizeof(t), "%s%s", plain ? "http://" : "https://", x->url);
	rc_buf_jstr(b, t, (size_t)k);
}

/* ,"_trailers":[{"name","value"}] of direction d when it has a trailer
 * section (HAR has no field for them; gRPC's status lives there). */
static void har_trailers(struct rc_buf *b, const struct seg_exchange *x, enum seg_dir d)
{
	if (!rc_has_trailers(x, d))
		return;
	RC_PUTS(b, ",\"_trailers\":");
	rc_trailer_fields_json(b, "name", x->trailers[d], x->trailers_len[d]);
}

static void har_request(struct rc_xout *o, const struct seg_exchange *x)
{
	struct rc_buf *b = &o->b;
	struct rc_url u;
	rc_url_split(x->url, strlen(x->url), &u);
	RC_PUTS(b, "\"request\":{\"method\":");
	rc_buf_jstr(b, x->method_text, strlen(x->method_text));
	RC_PUTS(b, ",\"url\":");
	har_url(b, x);
	RC_PUTS(b, ",\"httpVersion\":\"");
	rc_buf_puts(b, har_version(x->http_version));
	RC_PUTS(b, "\",");
	har_req_cookies(b, x->req_head, x->req_head_len);
	RC_PUTS(b, ",");
	rc_headers_json(b, "headers", "name", x->req_head, x->req_head_len, false);
	RC_PUTS(b, ",");
	har_query(b, &u);
	har_post_data(o, x);
	RC_PUTS(b, ",\"headersSize\":");
	rc_buf_i64(b, x->req_head_len ? (int64_t)x->wire.req_head : -1);
	RC_PUTS(b, ",\"bodySize\":");
	rc_buf_i64(b, (int64_t)x->wire.req_body);
	har_trailers(b, x, SEG_DIR_REQ);
	RC_PUTS(b, "}");
}

static void har_content(struct rc_xout *o, const struct seg_exchange *x, const struct rc_hdr *ct)
{
	struct rc_buf *b = &o->b;
	const uint8_t *body = x->body[SEG_DIR_RESP];
	size_t n = x->body_len[SEG_DIR_RESP], cel;
	uint8_t *dec;
	long m = rc_resp_decoded(x, &body, &n, &dec);
	RC_PUTS(b, "\"content\":{\"size\":");
	rc_buf_i64(b, m >= 0 ? m : (int64_t)x->wire.resp_body);
	if (m >= 0 && !(x->flags & SEG_F_RESP_TRUNC) && (uint64_t)m >= x->wire.resp_body) {
		RC_PUTS(b, ",\"compression\":");
		rc_buf_i64(b, m - (int64_t)x->wire.resp_body);
	}
	RC_PUTS(b, ",\"mimeType\":");
	rc_buf_jstr(b, ct->value, ct->value_len);
	if (n > 0 && rc_utf8_valid(body, n)) {
		RC_PUTS(b, ",\"text\":");
		rc_xout_jstr(o, body, n);
	} else if (n > 0) {
		RC_PUTS(b, ",\"text\":");
		rc_xout_base64(o, body, n);
		RC_PUTS(b, ",\"encoding\":\"base64\"");
	} else if (x->flags & SEG_F_MEDIA) {
		RC_PUTS(b, ",\"comment\":\"media body forwarded, not stored\"");
	} else if (x->flags & SEG_F_NO_RESP) {
		RC_PUTS(b, ",\"comment\":\"responses not saved in this session\"");
	}
	const char *ce = rc_content_coding(x->resp_head, x->resp_head_len, &cel);
	if (m < 0 && n > 0 && ce) {
		char note[128];
		int nl = snprintf(note, sizeof(note), "as stored: Content-Encoding %.*s not decoded",
				  (int)(cel < 64 ? cel : 64), ce);
		RC_PUTS(b, ",\"comment\":");
		rc_buf_jstr(b, note, (size_t)nl);
	}
	free(dec);
	RC_PUTS(b, "}");
}

static void har_response(struct rc_xout *o, const struct seg_exchange *x)
{
	struct rc_buf *b = &o->b;
	char ver[16] = "HTTP/1.1";
	if (x->resp_head_len > 5 && memcmp(x->resp_head, "HTTP/", 5) == 0) {
		const uint8_t *sp = memchr(x->resp_head, ' ', x->resp_head_len);
		size_t l = sp ? (size_t)(sp - x->resp_head) : 0;
		if (l > 0 && l < sizeof(ver))
			snprintf(ver, sizeof(ver), "%.*s", (int)l, (const char *)x->resp_head);
	}
	struct rc_hdr ct = { .value = "", .value_len = 0 }, loc = { .value = "", .value_len = 0 };
	rc_hdr_get(x->resp_head, x->resp_head_len, "content-type", &ct);
	rc_hdr_get(x->resp_head, x->resp_head_len, "location", &loc);
	RC_PUTS(b, "\"response\":{\"status\":");
	rc_buf_i64(b, x->status);
	RC_PUTS(b, ",\"statusText\":");
	rc_buf_jstr(b, x->reason ? x->reason : "", x->reason ? strlen(x->reason) : 0);
	RC_PUTS(b, ",\"httpVersion\":\"");
	rc_buf_puts(b, ver);
	RC_PUTS(b, "\",");
	har_resp_cookies(b, x->resp_head, x->resp_head_len);
	RC_PUTS(b, ",");
	rc_headers_json(b, "headers", "name", x->resp_head, x->resp_head_len, false);
	RC_PUTS(b, ",");
	har_content(o, x, &ct);
	RC_PUTS(b, ",\"redirectURL\":");
	rc_buf_jstr(b, loc.value, loc.value_len);
	RC_PUTS(b, ",\"headersSize\":");
	rc_buf_i64(b, x->resp_head_len ? (int64_t)x->wire.resp_head : -1);
	RC_PUTS(b, ",\"bodySize\":");
	rc_buf_i64(b, x->status ? (int64_t)x->wire.resp_body : -1);
	har_trailers(b, x, SEG_DIR_RESP);
	RC_PUTS(b, "}");
}

/* Store times in whole microseconds: every phase below is a difference of
 * two of them, so the phases add up to "time" exactly and a HAR read back
 * (import_har.c) gives the same figures. */
static int64_t us(uint64_t ns)
{
	return (int64_t)((ns + 500u) / 1000u);
}

/* us between two store times, -1000 (-1 ms) when the later did not happen. */
static int64_t phase(int64_t from, int64_t to, bool happened)
{
	return !happened ? -1000 : to > from ? to - from : 0;
}

static void har_timings(struct rc_buf *b, const struct seg_timings *t)
{
	int64_t dns = us(t->dns_ns), conn = us(t->connect_ns), tls = us(t->tls_ns);
	int64_t ttfb = us(t->ttfb_ns), total = us(t->total_ns);
	int64_t ready = t->tls_ns ? tls : t->connect_ns ? conn : dns;
	int64_t first = t->ttfb_ns ? ttfb : total;
	RC_PUTS(b, "\"timings\":{\"blocked\":-1,\"dns\":");
	rc_buf_ms(b, phase(0, dns, t->dns_ns != 0));
	RC_PUTS(b, ",\"connect\":");
	rc_buf_ms(b, phase(dns, ready, t->connect_ns != 0 || t->tls_ns != 0));
	RC_PUTS(b, ",\"ssl\":");
	rc_buf_ms(b, phase(conn, tls, t->tls_ns != 0));
	RC_PUTS(b, ",\"send\":0,\"wait\":");
	rc_buf_ms(b, phase(ready, first, true));
	RC_PUTS(b, ",\"receive\":");
	rc_buf_ms(b, phase(first, total, t->ttfb_ns != 0));
	RC_PUTS(b, "}");
}

/* serverIPAddress and _server_port, when the server is known. */
static void har_server(struct rc_buf *b, const struct seg_exchange *x)
{
	if (x->server.family != 4 && x->server.family != 6)
		return;
	char ip[RC_ADDR_TEXT_MAX];
	rc_addr_text(&x->server, ip, sizeof(ip));
	RC_PUTS(b, ",\"serverIPAddress\":\"");
	rc_buf_puts(b, ip);
	RC_PUTS(b, "\",\"_server_port\":");
	rc_buf_i64(b, x->server.port);
}

static void har_extras(struct rc_buf *b, const struct seg_exchange *x)
{
	static const struct { uint32_t f; const char *name; } flags[] = {
		{ SEG_F_TLS, "tls" }, { SEG_F_TUNNEL, "tunnel" }, { SEG_F_REQ_TRUNC, "request_truncated" },
		{ SEG_F_RESP_TRUNC, "response_truncated" }, { SEG_F_MEDIA, "media" },
		{ SEG_F_NO_RESP, "no_response" }, { SEG_F_HEAD_TRUNC, "head_truncated" },
		{ SEG_F_COOKIES, "cookies" },
	};
	char client[RC_ADDR_TEXT_MAX];
	rc_addr_text(&x->client, client, sizeof(client));
	RC_PUTS(b, ",\"_id\":");
	rc_buf_i64(b, (int64_t)rc_exchange_id(x));
	RC_PUTS(b, ",\"_client\":\"");
	rc_buf_puts(b, client);
	RC_PUTS(b, "\",\"_client_port\":");
	rc_buf_i64(b, x->client.port);
	RC_PUTS(b, ",\"_client_name\":");
	rc_buf_jstr(b, x->client_name ? x->client_name : "",
		    x->client_name ? strlen(x->client_name) : 0);
	RC_PUTS(b, ",\"_flags\":[");
	bool first = true;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (!(x->flags & flags[i].f))
			continue;
		rc_buf_puts(b, first ? "\"" : ",\"");
		rc_buf_puts(b, flags[i].name);
		RC_PUTS(b, "\"");
		first = false;
	}
	/* what a CONNECT row's tunnel was ("" for other rows): persist/seg.h */
	RC_PUTS(b, "],\"_tunnel\":\"");
	rc_buf_puts(b, seg_tunnel_name(x->flags));
	RC_PUTS(b, "\",\"_error\":\"");
	rc_buf_puts(b, x->error ? seg_error_name(x->error) : "");
	RC_PUTS(b, "\",\"_error_message\":");
	rc_buf_jstr(b, x->err_msg ? x->err_msg : "", x->err_msg ? strlen(x->err_msg) : 0);
}

/* Chrome's _webSocketMessages (DevTools' HAR export). */
static void har_ws_messages(struct rc_xout *o, const struct seg_exchange *x)
{
	rc_buf_puts(&o->b, ",\"_webSocketMessages\":[");
	for (size_t i = 0; i < x->nmsgs; i++) {
		const struct seg_msg *m = &x->msgs[i];
		rc_buf_printf(&o->b, "%s{\"type\":\"%s\",\"time\":%.6f,\"opcode\":%u,\"data\":",
			      i ? "," : "", m->dir == SEG_DIR_REQ ? "send" : "receive",
			      (double)m->start_ns / 1e9, m->opcode);
		if (m->opcode == 1 && rc_utf8_valid(m->data, m->data_len))
			rc_xout_jstr(o, m->data, m->data_len);
		else
			rc_xout_base64(o, m->data, m->data_len);
		RC_PUTS(&o->b, "}");
	}
	RC_PUTS(&o->b, "]");
}

void rc_har_entry(struct rc_xout *o, const struct seg_exchange *x, bool first)
{
	struct rc_buf *b = &o->b;
	rc_buf_puts(b, first ? "{\"startedDateTime\":\"" : ",{\"startedDateTime\":\"");
	rc_xout_iso_time(o, x->start_ns);
	RC_PUTS(b, "\",\"time\":");
	rc_buf_ms(b, us(x->t.total_ns));
	RC_PUTS(b, ",");
	har_request(o, x);
	RC_PUTS(b, ",");
	har_response(o, x);
	RC_PUTS(b, ",\"cache\":{},");
	har_timings(b, &x->t);
	har_server(b, x);
	har_extras(b, x);
	if (x->nmsgs)
		har_ws_messages(o, x);
	RC_PUTS(b, "}");
}
