/*
 * tools/views/import_har.c - HAR 1.2 in, one entry at a time (see import.h).
 *
 * The scanner reads the file in RC_HAR_READ_CHUNK pieces and follows the
 * JSON outside entries with a stack of open containers (strings and
 * escapes tracked, brackets matched), remembering only the member key of
 * the root and of $.log. Inside $.log.entries each element's extent is
 * found by counting brackets outside strings; its bytes (kept in the
 * buffer across reads, moved to the front as the file goes on) are parsed
 * by jansson alone, mapped onto a struct rc_har_xch, handed over and
 * freed. Memory: the read buffer, grown to the largest entry (at most
 * RC_HAR_ENTRY_MAX), plus one entry's tree and decoded bodies.
 *
 * Timings go back from HAR durations to the store's times from start:
 * dns ends at blocked + dns, connect (with TLS) after it, TLS starts at
 * connect - ssl, the first byte comes after send + wait, and the end is
 * "time". Millisecond values are rounded to whole microseconds, so a HAR
 * that ringcap wrote comes back with the same figures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tools/views/coding.h"
#include "tools/views/export-int.h"
#include "tools/views/import.h"

_Static_assert(RC_HAR_READ_CHUNK < RC_HAR_ENTRY_MAX, "a read fits an entry's buffer");

struct scan {
	int fd;
	char *buf;
	size_t cap, len, pos;
	uint64_t base;             /* file offset of buf[0] */
	unsigned depth;
	char open[RC_HAR_DEPTH_MAX]; /* '{' or '[' per open container */
	bool in_str, esc, value_next, eof;
	char str[16];              /* the last string outside entries (cut) */
	size_t str_len;
	char key1[16], key2[16];   /* member keys of the root and of $.log */
	bool root_seen, in_log, log_seen, entries_seen;
	unsigned entries_depth;    /* depth inside $.log.entries (0: not in it) */
	bool capturing;
	size_t ent_start;
	unsigned cap_depth;
	size_t index;
};

/* One entry's decoded parts (reused from entry to entry). */
struct dec {
	struct rc_buf req_head, resp_head, body[2], trailers[2];
	struct rc_buf msgs, msg_data; /* struct seg_msg_piece[], their payloads */
	char host[SEG_HOST_MAX + 1];
	char *err;
	size_t errlen;
	size_t index;
	int rc;
};

static int fail(struct dec *d, const char *where, const char *what)
{
	if (d->rc == 0)
		snprintf(d->err, d->errlen, "$.log.entries[%zu]%s%s: %s", d->index,
			 where[0] ? "." : "", where, what);
	d->rc = -EBADMSG;
	return d->rc;
}

/* fail() for member key of the object at where. */
static void fail_key(struct dec *d, const char *where, const char *key, const char *what)
{
	char w[128];
	snprintf(w, sizeof(w), "%s%s%s", where, where[0] ? "." : "", key);
	fail(d, w, what);
}

/* ---- typed getters: missing is empty, a wrong type is an error ---- */

static json_t *member(struct dec *d, json_t *o, const char *where, const char *key, json_type type,
		      const char *tname)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_typeof(v) == type || (type == JSON_REAL && json_is_number(v)))
		return v;
	char msg[64];
	snprintf(msg, sizeof(msg), "expected %s", tname);
	fail_key(d, where, key, msg);
	return NULL;
}

static const char *str_of(struct dec *d, json_t *o, const char *where, const char *key,
			  size_t *len)
{
	json_t *v = member(d, o, where, key, JSON_STRING, "a string");
	*len = v ? json_string_length(v) : 0;
	return v ? json_string_value(v) : "";
}

static double num_of(struct dec *d, json_t *o, const char *where, const char *key, double def)
{
	json_t *v = member(d, o, where, key, JSON_REAL, "a number");
	if (!v)
		return def;
	double n = json_number_value(v);
	if (n >= -RC_HAR_NUM_MAX && n <= RC_HAR_NUM_MAX)
		return n;
	fail_key(d, where, key, "out of range");
	return def;
}

static json_t *obj_of(struct dec *d, json_t *o, const char *where, const char *key)
{
	return member(d, o, where, key, JSON_OBJECT, "an object");
}

static json_t *arr_of(struct dec *d, json_t *o, const char *where, const char *key)
{
	return member(d, o, where, key, JSON_ARRAY, "an array");
}

/* ---- pieces ---- */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' || c == '-' ? 62 : c == '/' || c == '_' ? 63 : -1;
}

/* Decodes base64 (white space skipped); false when it is not base64. */
static bool b64_decode(struct rc_buf *b, const char *s, size_t n)
{
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		int v = b64val(c);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			uint8_t o = (uint8_t)(acc >> bits);
			rc_buf_add(b, &o, 1);
		}
	}
	return !b->oom;
}

/* ISO 8601 with fraction and Z or +hh:mm; 0 when missing or unreadable. */
static uint64_t iso_ns(const char *s)
{
	struct tm tm = {0};
	int y, mo, da, h, mi, se, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &da, &h, &mi, &se, &n) != 6)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = da;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	int64_t t = (int64_t)timegm(&tm);
	const char *p = s + n;
	uint64_t frac = 0, scale = 1000000000ull;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
	}
	int oh = 0, om = 0;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) >= 1)
		t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
	return t < 0 ? 0 : (uint64_t)t * 1000000000ull + frac;
}

static uint64_t ms_ns(double ms)
{
	return ms > 0 ? (uint64_t)(ms * 1000.0 + 0.5) * 1000ull : 0;
}

/* "Name: value\r\n" for each element of a HAR headers array. */
static void head_lines(struct dec *d, json_t *arr, const char *where, struct rc_buf *b,
		       bool *has_host)
{
	size_t i;
	json_t *h;
	char w[96];
	json_array_foreach(arr, i, h) {
		if (i >= RC_HAR_HEADERS_MAX)
			break;
		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!json_is_object(h)) {
			fail(d, w, "expected an object");
			return;
		}
		size_t nl, vl;
		const char *n = str_of(d, h, w, "name", &nl), *v = str_of(d, h, w, "value", &vl);
		if (nl == 0 || n[0] == ':' || memchr(n, '\n', nl) || memchr(v, '\n', vl))
			continue; /* HTTP/2 pseudo-headers, and nothing that breaks a head */
		*has_host |= nl == 4 && strncasecmp(n, "host", 4) == 0;
		rc_buf_add(b, n, nl);
		rc_buf_puts(b, ": ");
		rc_buf_add(b, v, vl);
		rc_buf_puts(b, "\r\n");
	}
}

static uint8_t version_of(const char *v)
{
	if (strcasecmp(v, "HTTP/1.0") == 0)
		return 10;
	if (strncasecmp(v, "HTTP/2", 6) == 0 || strcasecmp(v, "h2") == 0 ||
	    strncasecmp(v, "HTTP/3", 6) == 0 || strcasecmp(v, "h3") == 0)
		return 20;
	return 11;
}

static void urlenc(struct rc_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			rc_buf_add(b, s + i, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc_buf_add(b, e, 3);
		}
	}
}

/* A body from postData.params when there is no text (chrome-har writes a
 * JSON body as params, values of any type): a JSON object for a JSON
 * mime type, name=value pairs percent-encoded otherwise. */
static void post_params(struct dec *d, json_t *pd, struct rc_buf *b)
{
	json_t *ps = arr_of(d, pd, "request.postData", "params"), *p;
	size_t ml, i;
	const char *mime = str_of(d, pd, "request.postData", "mimeType", &ml);
	bool js = ml && strstr(mime, "json") != NULL;
	json_t *obj = js ? json_object() : NULL;
	json_array_foreach(ps, i, p) {
		json_t *n = json_is_object(p) ? json_object_get(p, "name") : NULL;
		json_t *v = json_is_object(p) ? json_object_get(p, "value") : NULL;
		if (!json_is_string(n))
			continue;
		if (obj) {
			json_object_set(obj, json_string_value(n), v ? v : json_null());
			continue;
		}
		char *vs = v && !json_is_string(v) ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
		const char *val = json_is_string(v) ? json_string_value(v) : vs ? vs : "";
		if (b->len)
			rc_buf_puts(b, "&");
		urlenc(b, json_string_value(n), json_string_length(n));
		rc_buf_puts(b, "=");
		urlenc(b, val, strlen(val));
		free(vs);
	}
	if (obj) {
		char *t = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (t)
			rc_buf_puts(b, t);
		free(t);
		json_decref(obj);
	}
}

/* request.postData: the body as text, base64 (_encoding) or params. */
static void dec_post_data(struct dec *d, json_t *rq)
{
	json_t *pd = obj_of(d, rq, "request", "postData");
	size_t tl, el;
	const char *text = str_of(d, pd, "request.postData", "text", &tl);
	const char *enc = str_of(d, pd, "request.postData", "_encoding", &el);
	if (el == 6 && strcmp(enc, "base64") == 0) {
		if (!b64_decode(&d->body[SEG_DIR_REQ], text, tl))
			fail(d, "request.postData.text", "not base64");
	} else if (tl == 0 && pd) {
		post_params(d, pd, &d->body[SEG_DIR_REQ]);
	} else {
		rc_buf_add(&d->body[SEG_DIR_REQ], text, tl);
	}
}

/* request: method, URL and its parts, head, body. */
static void dec_request(struct dec *d, json_t *e, struct rc_har_xch *x)
{
	json_t *rq = obj_of(d, e, "", "request");
	size_t vl;
	x->method = str_of(d, rq, "request", "method", &x->method_len);
	x->url = str_of(d, rq, "request", "url", &x->url_len);
	/* what HAR requires and an exchange cannot do without */
	if (rq == NULL)
		fail(d, "request", "missing");
	else if (x->method_len == 0)
		fail(d, "request.method", "missing or empty");
	else if (x->url_len == 0)
		fail(d, "request.url", "missing or empty");
	const char *ver = str_of(d, rq, "request", "httpVersion", &vl);
	x->http_version = version_of(ver);
	struct rc_url u;
	rc_url_split(x->url, x->url_len, &u);
	bool https = u.scheme_len == 5 && strncasecmp(u.scheme, "https", 5) == 0;
	x->scheme = https ? SEG_SCHEME_HTTPS : SEG_SCHEME_HTTP;
	x->flags |= https ? SEG_F_TLS : 0;
	if (x->method_len == 7 && memcmp(x->method, "CONNECT", 7) == 0) {
		/* a tunnel: its target is host:port again (export_har.c har_url
		 * wrote it as a URI; a HAR may also hold the authority itself) */
		x->scheme = SEG_SCHEME_TUNNEL;
		x->flags &= ~SEG_F_TLS;
		https = false;
		if (u.scheme_len > 0 && u.host_len > 0) {
			x->url = u.host;
			x->url_len = (size_t)((u.port_len ? u.port + u.port_len : u.host + u.host_len) -
					      u.host);
		}
	}
	x->port = https ? 443 : 80;
	if (u.port_len > 0 && u.port_len < 6)
		x->port = (uint16_t)atoi(u.port);
	x->host_len = u.host_len < SEG_HOST_MAX ? u.host_len : SEG_HOST_MAX;
	memcpy(d->host, u.host ? u.host : "", x->host_len);
	d->host[x->host_len] = '\0';
	x->host = d->host;
	struct rc_buf *b = &d->req_head;
	rc_buf_add(b, x->method, x->method_len);
	rc_buf_puts(b, " ");
	if (https && u.path_len + u.query_len > 0) /* origin-form inside TLS, as captured */
		rc_buf_add(b, u.path, (size_t)(x->url + x->url_len - u.path));
	else
		rc_buf_add(b, x->url, x->url_len);
	rc_buf_puts(b, x->http_version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	bool has_host = false;
	json_t *hs = arr_of(d, rq, "request", "headers");
	if (hs)
		head_lines(d, hs, "request.headers", b, &has_host);
	if (!has_host && u.host_len) {
		rc_buf_puts(b, "Host: ");
		rc_buf_add(b, u.host, (size_t)(u.path - u.host));
		rc_buf_puts(b, "\r\n");
	}
	rc_buf_puts(b, "\r\n");
	dec_post_data(d, rq);
	double bs = num_of(d, rq, "request", "bodySize", -1);
	x->wire.req_body = bs >= 0 ? (uint64_t)bs : d->body[SEG_DIR_REQ].len;
	double hsz = num_of(d, rq, "request", "headersSize", -1);
	x->wire.req_head = hsz >= 0 ? (uint64_t)hsz : d->req_head.len;
}

/* HAR's content.text is decoded (HAR 1.2; Chrome and our export write it
 * so), the store keeps a body as it crossed the wire: a response whose
 * head says gzip or deflate gets its text encoded again, unless it already
 * is one whole stream of that coding (as an older export or another tool
 * may have written it). Another coding (br, zstd) is kept as given. */
static void recode_response(struct dec *d, const struct rc_buf *head)
{
	struct rc_buf *body = &d->body[SEG_DIR_RESP];
	size_t cel;
	const char *ce = rc_content_coding((const uint8_t *)head->p, head->len, &cel);
	if (ce == NULL || body->len == 0 || rc_body_coded(ce, cel, (const uint8_t *)body->p, body->len))
		return;
	uint8_t *enc;
	long m = rc_body_encode(ce, cel, (const uint8_t *)body->p, body->len, &enc);
	if (m == -ENOTSUP)
		return;
	if (m < 0) {
		fail(d, "response.content.text", "out of memory encoding it again");
		return;
	}
	body->len = 0;
	rc_buf_add(body, enc, (size_t)m);
	free(enc);
}

/* response: status, reason, head, content (text or base64). */
static void dec_response(struct dec *d, json_t *e, struct rc_har_xch *x)
{
	json_t *rs = obj_of(d, e, "", "response");
	double st = num_of(d, rs, "response", "status", 0);
	x->status = st > 0 && st < 1000 ? (uint16_t)st : 0;
	x->reason = str_of(d, rs, "response", "statusText", &x->reason_len);
	if (x->reason_len > SEG_REASON_MAX)
		x->reason_len = SEG_REASON_MAX;
	size_t vl;
	const char *ver = str_of(d, rs, "response", "httpVersion", &vl);
	json_t *ct = obj_of(d, rs, "response", "content");
	size_t ml, tl, el;
	const char *mime = str_of(d, ct, "response.content", "mimeType", &ml);
	const char *text = str_of(d, ct, "response.content", "text", &tl);
	const char *enc = str_of(d, ct, "response.content", "encoding", &el);
	x->type = seg_type_from_mime(mime, ml);
	if (el == 6 && strcmp(enc, "base64") == 0) {
		if (!b64_decode(&d->body[SEG_DIR_RESP], text, tl))
			fail(d, "response.content.text", "not base64");
	} else {
		rc_buf_add(&d->body[SEG_DIR_RESP], text, tl);
	}
	double bs = num_of(d, rs, "response", "bodySize", -1);
	double cs = num_of(d, ct, "response.content", "size", -1);
	x->wire.resp_body = bs >= 0 ? (uint64_t)bs : cs >= 0 ? (uint64_t)cs :
			    d->body[SEG_DIR_RESP].len;
	if (x->status == 0)
		return;
	struct rc_buf *b = &d->resp_head;
	rc_buf_printf(b, "%s %u ", vl && strncasecmp(ver, "HTTP/1.", 7) == 0 ? ver : "HTTP/1.1",
		      x->status);
	rc_buf_add(b, x->reason, x->reason_len);
	rc_buf_puts(b, "\r\n");
	bool has_host = false;
	json_t *hs = arr_of(d, rs, "response", "headers");
	if (hs)
		head_lines(d, hs, "response.headers", b, &has_host);
	rc_buf_puts(b, "\r\n");
	double hsz = num_of(d, rs, "response", "headersSize", -1);
	x->wire.resp_head = hsz >= 0 ? (uint64_t)hsz : b->len;
	recode_response(d, b);
}

/* HAR durations back to times from start (see the file comment). */
static void dec_timings(struct dec *d, json_t *e, struct rc_har_xch *x)
{
	json_t *tm = obj_of(d, e, "", "timings");
	double bl = num_of(d, tm, "timings", "blocked", -1), dn = num_of(d, tm, "timings", "dns", -1);
	double cn = num_of(d, tm, "timings", "connect", -1), ss = num_of(d, tm, "timings", "ssl", -1);
	double sd = num_of(d, tm, "timings", "send", 0), wt = num_of(d, tm, "timings", "wait", 0);
	double total = num_of(d, e, "", "time", 0);
	uint64_t p = ms_ns(bl);
	if (dn >= 0) {
		p += ms_ns(dn);
		x->t.dns_ns = p ? p : 1; /* 0 means "did not happen" in the store */
	}
	if (cn >= 0) {
		uint64_t end = p + ms_ns(cn);
		if (ss >= 0) {
			x->t.tls_ns = end ? end : 1;
			x->t.connect_ns = end - (ms_ns(ss) < ms_ns(cn) ? ms_ns(ss) : ms_ns(cn));
			x->t.connect_ns = x->t.connect_ns ? x->t.connect_ns : 1;
		} else {
			x->t.connect_ns = end ? end : 1;
		}
		p = end;
	}
	p += ms_ns(sd) + ms_ns(wt);
	if (x->status != 0)
		x->t.ttfb_ns = p ? p : 1;
	x->t.total_ns = ms_ns(total);
}

/* An address as HAR text ("10.0.0.1", "::1", "[::1]") into a; false when
 * it is none (a host name, empty, malformed). */
static bool ip_of(const char *s, size_t n, struct seg_addr *a)
{
	char ip[64];
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, a->addr) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, ip, a->addr) == 1)
		a->family = 6;
	return a->family != 0;
}

/* serverIPAddress (HAR 1.2, optional) and ringcap's _server_port. */
static void dec_server(struct dec *d, json_t *e, struct rc_har_xch *x)
{
	size_t n;
	const char *ip = str_of(d, e, "", "serverIPAddress", &n);
	double port = num_of(d, e, "", "_server_port", 0);
	if (!ip_of(ip, n, &x->server))
		return;
	if (port > 0 && port <= 65535)
		x->server.port = (uint16_t)port;
}

/* ringcap's own extras, ignored when absent. */
static void dec_extras(struct dec *d, json_t *e, struct rc_har_xch *x)
{
	static const struct { uint32_t f; const char *name; } flags[] = {
		{ SEG_F_TLS, "tls" }, { SEG_F_TUNNEL, "tunnel" }, { SEG_F_REQ_TRUNC, "request_truncated" },
		{ SEG_F_RESP_TRUNC, "response_truncated" }, { SEG_F_MEDIA, "media" },
		{ SEG_F_NO_RESP, "no_response" }, { SEG_F_HEAD_TRUNC, "head_truncated" },
		{ SEG_F_COOKIES, "cookies" },
	};
	size_t n;
	const char *ip = str_of(d, e, "", "_client", &n);
	uint8_t a[16];
	if (n && inet_pton(AF_INET, ip, a) == 1) {
		x->client.family = 4;
		memcpy(x->client.addr, a, 4);
	} else if (n && inet_pton(AF_INET6, ip, a) == 1) {
		x->client.family = 6;
		memcpy(x->client.addr, a, 16);
	}
	double port = num_of(d, e, "", "_client_port", 0);
	if (port > 0 && port <= 65535)
		x->client.port = (uint16_t)port;
	x->client_name = str_of(d, e, "", "_client_name", &x->client_name_len);
	if (x->client_name_len > SEG_CLIENT_NAME_MAX)
		x->client_name_len = SEG_CLIENT_NAME_MAX;
	json_t *fl = arr_of(d, e, "", "_flags"), *f;
	size_t i;
	json_array_foreach(fl, i, f) {
		for (size_t k = 0; json_is_string(f) && k < sizeof(flags) / sizeof(flags[0]); k++)
			if (strcmp(json_string_value(f), flags[k].name) == 0)
				x->flags |= flags[k].f;
	}
	/* what a CONNECT's tunnel was (export_har.c); "tunnel" (an old
	 * session's) has no kind: its _flags say "tunnel" */
	const char *tun = str_of(d, e, "", "_tunnel", &n);
	for (uint32_t k = 1; n && k < SEG_TUN_COUNT; k++)
		if (strcmp(tun, seg_tunnel_name(k << SEG_F_TUN_SHIFT)) == 0)
			x->flags |= k << SEG_F_TUN_SHIFT;
	const char *er = str_of(d, e, "", "_error", &n);
	for (uint8_t k = 1; n && k < SEG_E_COUNT; k++)
		if (strcmp(er, seg_error_name(k)) == 0)
			x->error = k;
	x->err_msg = str_of(d, e, "", "_error_message", &x->err_msg_len);
	if (x->err_msg_len > SEG_ERRMSG_MAX)
		x->err_msg_len = SEG_ERRMSG_MAX;
}

/* The request's and the response's "_trailers" (ringcap's export writes
 * them: HAR has no field for a trailer section, gRPC's status lives in
 * one) as the "Name: value" lines the store keeps. */
static void dec_trailers(struct dec *d, json_t *e)
{
	static const char *const part[2] = { "request", "response" };
	for (int i = 0; i < 2; i++) {
		char w[32];
		bool has_host = false;
		d->trailers[i].len = 0;
		snprintf(w, sizeof(w), "%s._trailers", part[i]);
		json_t *t = arr_of(d, obj_of(d, e, "", part[i]), part[i], "_trailers");
		if (t)
			head_lines(d, t, w, &d->trailers[i], &has_host);
	}
}

/* One of _webSocketMessages: {"type": "send"|"receive", "time": s since
 * the epoch, "opcode", "data": text for a text message, else base64}. */
static void dec_ws_message(struct dec *d, json_t *m, const char *w)
{
	size_t tl, dl;
	const char *type = str_of(d, m, w, "type", &tl);
	const char *data = str_of(d, m, w, "data", &dl);
	double op = num_of(d, m, w, "opcode", 1), t = num_of(d, m, w, "time", 0);
	if (op < 0 || op > 15 || op != (double)(unsigned)op) {
		fail(d, w, "opcode is not 0-15");
		return;
	}
	size_t before = d->msg_data.len;
	if (op == 1 || op == 0)
		rc_buf_add(&d->msg_data, data, dl);
	else if (!b64_decode(&d->msg_data, data, dl)) {
		fail(d, w, "data is not base64");
		return;
	}
	struct seg_msg_piece pc = {
		.dir = tl == 4 && strcmp(type, "send") == 0 ? SEG_DIR_REQ : SEG_DIR_RESP,
		.opcode = (uint8_t)op,
		.start_ns = t > 0 && t < 1e10 ? (uint64_t)(t * 1e9) : 0,
		.len = d->msg_data.len - before,
	};
	pc.wire_len = pc.len;
	rc_buf_add(&d->msgs, &pc, sizeof(pc));
}

static void dec_ws_messages(struct dec *d, json_t *e)
{
	d->msgs.len = d->msg_data.len = 0;
	json_t *arr = arr_of(d, e, "", "_webSocketMessages"), *m;
	size_t i;
	json_array_foreach(arr, i, m) {
		char w[64];
		if (i >= RC_HAR_MSGS_MAX)
			break;
		snprintf(w, sizeof(w), "_webSocketMessages[%zu]", i);
		if (!json_is_object(m)) {
			fail(d, w, "expected an object");
			return;
		}
		dec_ws_message(d, m, w);
	}
}

/* Parses entry text p[0..n) and hands it over. */
static int dec_entry(struct dec *d, const char *p, size_t n,
		     int (*on_entry)(void *ctx, const struct rc_har_xch *x), void *ctx)
{
	json_error_t je;
	json_t *e = json_loadb(p, n, 0, &je);
	if (e == NULL) {
		char msg[256];
		snprintf(msg, sizeof(msg), "invalid JSON at line %d, column %d: %s", je.line,
			 je.column, je.text);
		return fail(d, "", msg);
	}
	struct rc_har_xch x = { .index = d->index };
	for (int i = 0; i < 2; i++) {
		d->body[i].len = 0;
	}
	d->req_head.len = d->resp_head.len = 0;
	size_t sl;
	const char *started = str_of(d, e, "", "startedDateTime", &sl);
	x.start_ns = sl ? iso_ns(started) : 0;
	if (sl && x.start_ns == 0)
		fail(d, "startedDateTime", "not an ISO 8601 date");
	dec_request(d, e, &x);
	dec_response(d, e, &x);
	dec_timings(d, e, &x);
	dec_extras(d, e, &x);
	dec_server(d, e, &x);
	dec_trailers(d, e);
	dec_ws_messages(d, e);
	bool oom = d->req_head.oom || d->resp_head.oom || d->body[0].oom || d->body[1].oom ||
		   d->trailers[0].oom || d->trailers[1].oom || d->msgs.oom || d->msg_data.oom;
	int rc = d->rc ? d->rc : oom ? -ENOMEM : 0;
	if (rc == 0) {
		x.req_head = (const uint8_t *)d->req_head.p;
		x.req_head_len = d->req_head.len;
		x.resp_head = (const uint8_t *)d->resp_head.p;
		x.resp_head_len = d->resp_head.len;
		for (int i = 0; i < 2; i++) {
			x.body[i] = (const uint8_t *)d->body[i].p;
			x.body_len[i] = d->body[i].len;
			x.trailers[i] = d->trailers[i].len ? (const uint8_t *)d->trailers[i].p : NULL;
			x.trailers_len[i] = d->trailers[i].len;
		}
		x.msgs = (const struct seg_msg_piece *)(const void *)d->msgs.p;
		x.nmsgs = d->msgs.len / sizeof(struct seg_msg_piece);
		x.msg_data = (const uint8_t *)d->msg_data.p;
		rc = on_entry ? on_entry(ctx, &x) : 0;
	}
	json_decref(e);
	return rc;
}

/* ---- the scanner ---- */

static int scan_err(struct scan *s, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s (byte %llu)", what, (unsigned long long)(s->base + s->pos));
	return -EBADMSG;
}

/* Makes room and reads more; keeps the entry being captured. 1 read,
 * 0 end of file, <0 error. */
static int scan_fill(struct scan *s)
{
	size_t keep = s->capturing ? s->ent_start : s->pos;
	if (s->len > keep)
		memmove(s->buf, s->buf + keep, s->len - keep);
	s->len -= keep;
	s->pos -= keep;
	s->base += keep;
	s->ent_start = 0;
	if (s->cap - s->len < RC_HAR_READ_CHUNK) {
		size_t nc = s->cap ? s->cap * 2 : 2 * RC_HAR_READ_CHUNK;
		if (s->len > RC_HAR_ENTRY_MAX)
			return -E2BIG;
		char *p = realloc(s->buf, nc);
		if (p == NULL)
			return -ENOMEM;
		s->buf = p;
		s->cap = nc;
	}
	ssize_t r;
	do {
		r = read(s->fd, s->buf + s->len, RC_HAR_READ_CHUNK);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	s->len += (size_t)r;
	return r > 0;
}

/* A container opens at the current byte: checks the HAR shape. */
static int scan_open(struct scan *s, char c, char *err, size_t errlen)
{
	if (s->depth == 0 && (s->root_seen || c != '{'))
		return scan_err(s, err, errlen, s->root_seen ? "$: bytes after the document" :
				"$: expected an object");
	if (s->depth == 1 && strcmp(s->key1, "log") == 0) {
		if (c != '{')
			return scan_err(s, err, errlen, "$.log: expected an object");
		s->in_log = s->log_seen = true;
	}
	if (s->depth == 2 && s->in_log && strcmp(s->key2, "entries") == 0) {
		if (c != '[')
			return scan_err(s, err, errlen, "$.log.entries: expected an array");
		s->entries_seen = true;
		s->entries_depth = 3;
	}
	if (s->depth == RC_HAR_DEPTH_MAX)
		return scan_err(s, err, errlen, "nested too deep");
	s->root_seen = true;
	s->open[s->depth++] = c;
	return 0;
}

static int scan_close(struct scan *s, char c, char *err, size_t errlen)
{
	if (s->depth == 0 || s->open[s->depth - 1] != (c == '}' ? '{' : '['))
		return scan_err(s, err, errlen, "unbalanced brackets");
	s->depth--;
	if (s->depth == 2 && s->entries_depth)
		s->entries_depth = 0;
	if (s->depth == 1 && s->in_log)
		s->in_log = false;
	return 0;
}

/* One byte outside strings and outside entries. */
static int scan_byte(struct scan *s, char c, char *err, size_t errlen)
{
	if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
		return 0;
	if (s->depth == 0 && (s->root_seen || c != '{'))
		return scan_err(s, err, errlen, s->root_seen ? "$: bytes after the document" :
				"$: expected an object");
	bool value = s->value_next;
	s->value_next = false;
	if (s->entries_depth && s->depth == s->entries_depth && c != ',' && c != ']') {
		if (c != '{') {
			char w[96];
			snprintf(w, sizeof(w), "$.log.entries[%zu]: expected an object", s->index);
			return scan_err(s, err, errlen, w);
		}
		s->capturing = true;
		s->ent_start = s->pos;
		s->cap_depth = 1;
		return 0;
	}
	if (value && c != '{' && c != '[' && s->depth == 1 && strcmp(s->key1, "log") == 0)
		return scan_err(s, err, errlen, "$.log: expected an object");
	if (value && c != '{' && c != '[' && s->depth == 2 && s->in_log &&
	    strcmp(s->key2, "entries") == 0)
		return scan_err(s, err, errlen, "$.log.entries: expected an array");
	if (c == '"') {
		s->in_str = true;
		s->str_len = 0;
		return 0;
	}
	if (c == ':') {
		char *k = s->depth == 1 ? s->key1 : s->depth == 2 ? s->key2 : NULL;
		if (k)
			snprintf(k, sizeof(s->key1), "%.*s", (int)s->str_len, s->str);
		s->value_next = true;
		return 0;
	}
	if (c == '{' || c == '[')
		return scan_open(s, c, err, errlen);
	if (c == '}' || c == ']')
		return scan_close(s, c, err, errlen);
	if (s->depth == 0)
		return scan_err(s, err, errlen, "$: expected an object");
	return 0;
}

/* One byte of a string (inside or outside an entry). */
static void scan_str(struct scan *s, char c)
{
	if (s->esc) {
		s->esc = false;
	} else if (c == '\\') {
		s->esc = true;
	} else if (c == '"') {
		s->in_str = false;
		return;
	}
	if (!s->capturing && s->str_len + 1 < sizeof(s->str))
		s->str[s->str_len++] = c;
}

/* One byte inside an entry: 1 when the entry just ended. */
static int scan_entry_byte(struct scan *s, char c)
{
	if (c == '"')
		s->in_str = true;
	else if (c == '{' || c == '[')
		s->cap_depth++;
	else if (c == '}' || c == ']')
		s->cap_depth--;
	return s->cap_depth == 0;
}

long rc_har_read(int fd, int (*on_entry)(void *ctx, const struct rc_har_xch *x), void *ctx,
		 char *err, size_t errlen)
{
	struct scan s = { .fd = fd };
	struct dec d = { .err = err, .errlen = errlen };
	int rc = 0;
	err[0] = '\0';
	for (;;) {
		if (s.pos == s.len) {
			rc = scan_fill(&s);
			if (rc <= 0)
				break;
		}
		char c = s.buf[s.pos];
		if (s.in_str)
			scan_str(&s, c);
		else if (s.capturing && scan_entry_byte(&s, c) == 1) {
			d.index = s.index;
			rc = dec_entry(&d, s.buf + s.ent_start, s.pos + 1 - s.ent_start, on_entry, ctx);
			s.capturing = false;
			s.index++;
		} else if (!s.capturing) {
			rc = scan_byte(&s, c, err, errlen);
		}
		if (rc < 0)
			break;
		s.pos++;
	}
	if (rc == -E2BIG)
		snprintf(err, errlen, "$.log.entries[%zu]: larger than %u MiB", s.index,
			 RC_HAR_ENTRY_MAX >> 20);
	else if (rc == 0 && (s.depth != 0 || s.in_str || s.capturing))
		rc = scan_err(&s, err, errlen, "unexpected end of file");
	else if (rc == 0 && !s.root_seen)
		rc = scan_err(&s, err, errlen, "$: expected an object");
	else if (rc == 0 && !s.log_seen)
		rc = (snprintf(err, errlen, "$.log: missing"), -EBADMSG);
	else if (rc == 0 && !s.entries_seen)
		rc = (snprintf(err, errlen, "$.log.entries: missing"), -EBADMSG);
	free(s.buf);
	rc_buf_free(&d.req_head);
	rc_buf_free(&d.resp_head);
	rc_buf_free(&d.body[0]);
	rc_buf_free(&d.body[1]);
	rc_buf_free(&d.trailers[0]);
	rc_buf_free(&d.trailers[1]);
	rc_buf_free(&d.msgs);
	rc_buf_free(&d.msg_data);
	return rc < 0 ? rc : (long)s.index;
}
