/*
 * engine/http1.c - strict HTTP/1.1 head handling over llhttp.
 *
 * Invariants: a head that h1_scan accepted has CRLF line ends only, no
 * obs-fold, no whitespace before a colon and no NUL; a head that
 * h1_parse_head accepted has at most one Content-Length, no Content-Length
 * next to Transfer-Encoding, and a Transfer-Encoding that is exactly
 * "chunked" in an HTTP/1.1 message; a chunked body reaches llhttp only
 * after h1_chunks_scan checked its framing. llhttp runs with none of its
 * lenient flags. The chunked framing check is engine/http1-chunks.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/http1.h"

static const char *const hop_by_hop[] = {
	"connection", "keep-alive", "proxy-connection", "proxy-authorization",
	"proxy-authenticate", "te", "trailer", "upgrade",
};

static int on_url(llhttp_t *p, const char *at, size_t n);
static int on_status(llhttp_t *p, const char *at, size_t n);
static int on_field(llhttp_t *p, const char *at, size_t n);
static int on_value(llhttp_t *p, const char *at, size_t n);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t n);
static int on_message_complete(llhttp_t *p);
static int analyze(struct h1_msg *m, const char **why);

static const llhttp_settings_t settings = {
	.on_url = on_url,
	.on_status = on_status,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* RFC 9110 tchar, the characters of a method or header name. */
static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* One byte of a request line: method tchars, SP, a target of visible
 * characters, SP, then the version, checked whole at the line's end. */
static int request_line_byte(struct h1_scan *s, const char *p, size_t i, const char **why)
{
	char c = p[i];
	if (c == ' ') {
		if (i == s->line_start || p[i - 1] == ' ' || ++s->spaces > 2) {
			*why = "malformed request line";
			return -EBADMSG;
		}
		return 0;
	}
	if (s->spaces == 0 && !tchar(c)) {
		*why = "invalid character in method";
		return -EBADMSG;
	}
	if ((unsigned char)c <= 0x20 || c == 0x7f) {
		*why = "control character in request line";
		return -EBADMSG;
	}
	if ((unsigned char)c >= 0x80) {
		/* RFC 3986: a target is ASCII; raw UTF-8 is percent-encoded */
		*why = "non-ASCII byte in request line";
		return -EBADMSG;
	}
	return 0;
}

/* One byte of a status line: the reason phrase is HTAB, SP, VCHAR and
 * obs-text (RFC 9112 4); a control byte would reach the client as is. */
static int status_line_byte(char c, const char **why)
{
	if (((unsigned char)c < 0x20 && c != '\t') || c == 0x7f) {
		*why = "control character in status line";
		return -EBADMSG;
	}
	return 0;
}

static int request_line_end(struct h1_scan *s, const char *p, size_t cr, const char **why)
{
	static const char v10[] = " HTTP/1.0", v11[] = " HTTP/1.1";
	size_t n = sizeof(v10) - 1;
	if (s->spaces != 2 || cr - s->line_start < n + 3 ||
	    (memcmp(p + cr - n, v10, n) != 0 && memcmp(p + cr - n, v11, n) != 0)) {
		*why = "request line without HTTP/1.0 or HTTP/1.1";
		return -EBADMSG;
	}
	return 0;
}

int h1_scan(struct h1_scan *s, const char *p, size_t len, unsigned max_lines,
	    const char **why)
{
	for (size_t i = s->pos; i < len; i++) {
		char c = p[i];
		bool header_line = s->lines > 0;
		if (c == '\0') {
			*why = "NUL byte in head";
			return -EBADMSG;
		}
		if (c == '\r') {
			if (i + 1 == len) {
				s->pos = (uint32_t)i;
				return -EAGAIN;
			}
			if (p[i + 1] != '\n') {
				*why = "bare CR in head";
				return -EBADMSG;
			}
			continue;
		}
		if (c == '\n') {
			if (i == 0 || p[i - 1] != '\r') {
				*why = "bare LF line ending";
				return -EBADMSG;
			}
			if (i - 1 == s->line_start) {
				if (s->lines == 0) {
					*why = "empty request line";
					return -EBADMSG;
				}
				return (int)(i + 1);
			}
			if (header_line && !s->colon) {
				*why = "header line without colon";
				return -EBADMSG;
			}
			if (!header_line && s->request && request_line_end(s, p, i - 1, why) < 0)
				return -EBADMSG;
			if (++s->lines > max_lines)
				return -E2BIG;
			s->line_start = (uint32_t)(i + 1);
			s->colon = 0;
			continue;
		}
		if (!header_line) {
			if (s->line_max && i >= s->line_max) {
				*why = "request line too long";
				return -EMSGSIZE;
			}
			if (s->request ? request_line_byte(s, p, i, why) < 0
				       : status_line_byte(c, why) < 0)
				return -EBADMSG;
			continue;
		}
		if (s->colon)
			continue;
		if (c == ' ' || c == '\t') {
			*why = i == s->line_start ? "obs-fold (line folding) in header"
						  : "whitespace before colon in header";
			return -EBADMSG;
		}
		if (c == ':' && i == s->line_start) {
			*why = "empty header name";
			return -EBADMSG;
		}
		if (c == ':')
			s->colon = 1;
	}
	s->pos = (uint32_t)len;
	return -EAGAIN;
}

void h1_parser_init(struct h1_parser *hp, bool response,
		    void (*body)(void *, const char *, size_t), void *arg)
{
	memset(hp, 0, sizeof(*hp));
	llhttp_init(&hp->p, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
	hp->p.data = hp;
	hp->on_body = body;
	hp->arg = arg;
}

int h1_parse_head(struct h1_parser *hp, struct h1_msg *m, const char *head,
		  size_t len, const char **why)
{
	struct h1_hdr *hdr = m->hdr;
	unsigned cap = m->hdr_cap;

	memset(m, 0, sizeof(*m));
	m->hdr = hdr;
	m->hdr_cap = cap;
	m->base = head;
	m->head_len = (uint32_t)len;
	m->content_length = -1;
	m->upgrade_hdr = -1;
	m->max_forwards = -1;
	llhttp_reset(&hp->p);
	hp->msg = m;
	hp->done = 0;
	hp->failed = 0;
	hp->ll_flags = 0;
	hp->ll_length = 0;

	llhttp_errno_t err = llhttp_execute(&hp->p, head, len);
	hp->msg = NULL;
	if (hp->failed) {
		*why = "too many header lines";
		return -EBADMSG;
	}
	if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
		*why = llhttp_get_error_reason(&hp->p);
		if (*why == NULL)
			*why = llhttp_errno_name(err);
		return -EBADMSG;
	}
	m->method = llhttp_get_method(&hp->p);
	m->minor = llhttp_get_http_minor(&hp->p);
	m->status = (uint16_t)llhttp_get_status_code(&hp->p);
	if (llhttp_get_http_major(&hp->p) != 1) {
		*why = "HTTP version other than 1.x";
		return -EBADMSG;
	}
	const char *sp = memchr(head, ' ', len);
	m->start_len = sp ? (uint32_t)(sp - head) : 0;
	if (analyze(m, why) < 0)
		return -EBADMSG;
	if (hp->p.type == HTTP_RESPONSE && (m->status < 100 || m->status > 599)) {
		*why = "status code outside 100-599";
		return -EBADMSG;
	}
	if (m->chunked != ((hp->ll_flags & F_CHUNKED) != 0) ||
	    (m->content_length >= 0) != ((hp->ll_flags & F_CONTENT_LENGTH) != 0) ||
	    (m->content_length >= 0 && (uint64_t)m->content_length != hp->ll_length)) {
		/* e.g. "chunked<TAB>": chunked to us, unknown coding to llhttp,
		 * which would then read the body up to the close */
		*why = "framing that llhttp reads differently";
		return -EBADMSG;
	}
	memset(&hp->ck, 0, sizeof(hp->ck));
	hp->chunked = m->chunked;
	return 0;
}

long h1_parse_body(struct h1_parser *hp, const char *p, size_t n, const char **why)
{
	if (hp->done)
		return 0;
	if (hp->chunked) {
		long k = h1_chunks_scan(&hp->ck, p, n, why);
		if (k < 0)
			return -EBADMSG;
		if (k == 0 && n > 0) {
			/* our check saw the end, llhttp did not: never guess */
			*why = "chunked framing disagreement";
			return -EBADMSG;
		}
		n = (size_t)k;
	}
	llhttp_errno_t err = llhttp_execute(&hp->p, p, n);
	if (err == HPE_OK)
		return (long)n;
	if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
		const char *at = llhttp_get_error_pos(&hp->p);
		return at ? (long)(at - p) : (long)n;
	}
	*why = llhttp_get_error_reason(&hp->p);
	if (*why == NULL)
		*why = llhttp_errno_name(err);
	return -EBADMSG;
}

int h1_parse_eof(struct h1_parser *hp, const char **why)
{
	if (hp->done)
		return 0;
	llhttp_errno_t err = llhttp_finish(&hp->p);
	if ((err == HPE_OK || err == HPE_PAUSED) && hp->done)
		return 0;
	*why = "connection closed before the end of the message";
	return -EBADMSG;
}

bool h1_body_expected(const struct h1_parser *hp)
{
	return !hp->done;
}

/* Host name or IPv4 literal characters; IPv6 literals are bracketed. */
static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int parse_authority(const char *a, size_t n, uint16_t port_default,
			   struct h1_target *t, const char **why)
{
	size_t host_end;
	if (n > 0 && a[0] == '[') {
		const char *rb = memchr(a, ']', n);
		if (rb == NULL) {
			*why = "unterminated IPv6 literal";
			return -EBADMSG;
		}
		t->host = a + 1;
		t->host_len = (size_t)(rb - a) - 1;
		t->bracketed = true;
		host_end = (size_t)(rb - a) + 1;
		for (size_t i = 0; i < t->host_len; i++) {
			char c = t->host[i];
			if (!(c == ':' || c == '.' || (c >= '0' && c <= '9') ||
			      (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
				*why = "invalid IPv6 literal";
				return -EBADMSG;
			}
		}
	} else {
		const char *colon = memchr(a, ':', n);
		host_end = colon ? (size_t)(colon - a) : n;
		t->host = a;
		t->host_len = host_end;
		for (size_t i = 0; i < host_end; i++) {
			if (!host_char(a[i])) {
				*why = a[i] == '@' ? "user info in request target"
						   : "invalid character in host";
				return -EBADMSG;
			}
		}
	}
	if (t->host_len == 0 || t->host_len > 255) {
		*why = "empty or over-long host";
		return -EBADMSG;
	}
	t->port = port_default;
	if (host_end == n)
		return port_default ? 0 : (*why = "missing port", -EBADMSG);
	if (a[host_end] != ':' || host_end + 1 == n || n - host_end - 1 > 5) {
		*why = "invalid port";
		return -EBADMSG;
	}
	unsigned port = 0;
	for (size_t i = host_end + 1; i < n; i++) {
		if (a[i] < '0' || a[i] > '9') {
			*why = "invalid port";
			return -EBADMSG;
		}
		port = port * 10 + (unsigned)(a[i] - '0');
	}
	if (port == 0 || port > 65535) {
		*why = "port out of range";
		return -EBADMSG;
	}
	t->port = (uint16_t)port;
	return 0;
}

int h1_parse_target(const char *url, size_t len, bool connect,
		    struct h1_target *t, const char **why)
{
	memset(t, 0, sizeof(*t));
	if (connect)
		return parse_authority(url, len, 0, t, why);
	if (len > 0 && url[0] == '/') {
		t->origin_form = true;
		t->path = url;
		t->path_len = len;
		return 0;
	}
	static const char http[] = "http://";
	if (len < sizeof(http) - 1 || strncasecmp(url, http, sizeof(http) - 1) != 0) {
		*why = len >= 8 && strncasecmp(url, "https://", 8) == 0
			? "https:// targets need CONNECT"
			: "request target is not absolute http://";
		return -EBADMSG;
	}
	const char *a = url + sizeof(http) - 1;
	size_t rest = len - (sizeof(http) - 1);
	size_t alen = 0;
	while (alen < rest && a[alen] != '/' && a[alen] != '?' && a[alen] != '#')
		alen++;
	int rc = parse_authority(a, alen, 80, t, why);
	if (rc < 0)
		return rc;
	t->path = a + alen;
	t->path_len = rest - alen;
	if (t->path_len == 0 || t->path[0] != '/') {
		/* "http://h" or "http://h?q": the path is "/" (RFC 9112 3.2.2). */
		if (t->path_len > 0 && t->path[0] == '#') {
			t->path_len = 0;
		}
		if (t->path_len == 0) {
			t->path = "/";
			t->path_len = 1;
			t->no_path = true;
		}
	}
	const char *hash = memchr(t->path, '#', t->path_len);
	if (hash)
		t->path_len = (size_t)(hash - t->path);
	return 0;
}

static bool name_is(const struct h1_msg *m, const struct h1_hdr *h, const char *name)
{
	size_t n = strlen(name);
	return h->name_len == n && strncasecmp(m->base + h->name_off, name, n) == 0;
}

static bool value_is(const struct h1_msg *m, uint32_t off, uint32_t len, const char *v)
{
	size_t n = strlen(v);
	return len == n && strncasecmp(m->base + off, v, n) == 0;
}

int h1_find(const struct h1_msg *m, const char *name)
{
	for (unsigned i = 0; i < m->nhdr; i++)
		if (name_is(m, &m->hdr[i], name))
			return (int)i;
	return -1;
}

bool h1_is_hop_by_hop(const struct h1_msg *m, const struct h1_hdr *h)
{
	for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
		if (name_is(m, h, hop_by_hop[i]))
			return true;
	for (unsigned i = 0; i < m->nconn_tok; i++)
		if (h->name_len == m->conn_tok[i].len &&
		    strncasecmp(m->base + h->name_off, m->base + m->conn_tok[i].off,
				h->name_len) == 0)
			return true;
	return false;
}

/* Splits a Connection value into tokens. A token naming a framing header
 * would let a peer strip it: that is refused. */
static int connection_tokens(struct h1_msg *m, const struct h1_hdr *h, const char **why)
{
	uint32_t i = h->value_off, end = h->value_off + h->value_len;
	while (i < end) {
		while (i < end && (m->base[i] == ' ' || m->base[i] == '\t' || m->base[i] == ','))
			i++;
		uint32_t s = i;
		while (i < end && m->base[i] != ',')
			i++;
		uint32_t e = i;
		while (e > s && (m->base[e - 1] == ' ' || m->base[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;
		if (value_is(m, s, e - s, "close"))
			m->conn_close = true;
		else if (value_is(m, s, e - s, "keep-alive"))
			m->conn_keep_alive = true;
		else if (value_is(m, s, e - s, "upgrade"))
			m->conn_upgrade = true;
		if (value_is(m, s, e - s, "content-length") ||
		    value_is(m, s, e - s, "transfer-encoding") || value_is(m, s, e - s, "host")) {
			*why = "Connection names a framing header";
			return -EBADMSG;
		}
		if (m->nconn_tok == H1_CONN_TOKENS_MAX) {
			*why = "too many Connection tokens";
			return -EBADMSG;
		}
		m->conn_tok[m->nconn_tok].off = s;
		m->conn_tok[m->nconn_tok].len = e - s;
		m->nconn_tok++;
	}
	return 0;
}

static int analyze_header(struct h1_msg *m, unsigned idx, unsigned *cl, unsigned *te,
			  const char **why)
{
	const struct h1_hdr *h = &m->hdr[idx];
	const char *v = m->base + h->value_off;
	if (name_is(m, h, "content-length")) {
		if (++*cl > 1) {
			*why = "duplicate Content-Length";
			return -EBADMSG;
		}
		int64_t n = 0;
		if (h->value_len == 0 || h->value_len > 18) {
			*why = "invalid Content-Length";
			return -EBADMSG;
		}
		for (uint32_t i = 0; i < h->value_len; i++) {
			if (v[i] < '0' || v[i] > '9') {
				*why = "invalid Content-Length";
				return -EBADMSG;
			}
			n = n * 10 + (v[i] - '0');
		}
		m->content_length = n;
	} else if (name_is(m, h, "transfer-encoding")) {
		if (++*te > 1 || !value_is(m, h->value_off, h->value_len, "chunked")) {
			*why = "Transfer-Encoding other than a single chunked";
			return -EBADMSG;
		}
		m->chunked = true;
	} else if (name_is(m, h, "connection")) {
		return connection_tokens(m, h, why);
	} else if (name_is(m, h, "upgrade")) {
		m->upgrade_hdr = (int)idx;
	} else if (name_is(m, h, "max-forwards")) {
		if (m->max_forwards >= 0) {
			/* which one counts down is a guess: never forward a guess */
			*why = "duplicate Max-Forwards";
			return -EBADMSG;
		}
		int n = 0;
		for (uint32_t i = 0; i < h->value_len && i < 9; i++) {
			if (v[i] < '0' || v[i] > '9') {
				*why = "invalid Max-Forwards";
				return -EBADMSG;
			}
			n = n * 10 + (v[i] - '0');
		}
		m->max_forwards = n;
	}
	return 0;
}

static int analyze(struct h1_msg *m, const char **why)
{
	unsigned cl = 0, te = 0, host = 0;
	for (unsigned i = 0; i < m->nhdr; i++) {
		if (analyze_header(m, i, &cl, &te, why) < 0)
			return -EBADMSG;
		if (name_is(m, &m->hdr[i], "host") && ++host > 1) {
			*why = "duplicate Host";
			return -EBADMSG;
		}
	}
	if (cl && te) {
		*why = "Content-Length together with Transfer-Encoding";
		return -EBADMSG;
	}
	if (m->status == 0 && m->method == HTTP_CONNECT && (te || m->content_length > 0)) {
		/* RFC 9110 9.3.6: a CONNECT body has no meaning; its bytes
		 * would reach the tunnel as if the client had sent them */
		*why = "CONNECT with a body";
		return -EBADMSG;
	}
	if (te && m->minor == 0) {
		/* RFC 9112 6.1: faulty framing; 1.0 peers may not know chunked */
		*why = "Transfer-Encoding in an HTTP/1.0 message";
		return -EBADMSG;
	}
	return 0;
}

/* ---- output ---- */

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->len < n) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_header(struct out *o, const struct h1_msg *m, const struct h1_hdr *h)
{
	put(o, m->base + h->name_off, h->name_len);
	put(o, ": ", 2);
	put(o, m->base + h->value_off, h->value_len);
	put(o, "\r\n", 2);
}

static void put_upgrade(struct out *o, const struct h1_msg *m)
{
	puts_(o, "Connection: Upgrade\r\n");
	put_header(o, m, &m->hdr[m->upgrade_hdr]);
}

long h1_write_request(const struct h1_msg *m, const struct h1_target *t,
		      bool upgrade, char *buf, size_t cap)
{
	struct out o = { .p = buf, .cap = cap };
	char num[32];
	bool trace_like = m->method == HTTP_OPTIONS || m->method == HTTP_TRACE;

	put(&o, m->base, m->start_len);
	put(&o, " ", 1);
	if (m->method == HTTP_OPTIONS && t->no_path)
		put(&o, "*", 1);
	else
		put(&o, t->path, t->path_len);
	puts_(&o, m->minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	for (unsigned i = 0; i < m->nhdr; i++) {
		const struct h1_hdr *h = &m->hdr[i];
		if (h1_is_hop_by_hop(m, h) || (name_is(m, h, "host") && !t->keep_host))
			continue;
		if (trace_like && name_is(m, h, "max-forwards")) {
			int n = snprintf(num, sizeof(num), "Max-Forwards: %d\r\n",
					 m->max_forwards > 0 ? m->max_forwards - 1 : 0);
			put(&o, num, (size_t)n);
			continue;
		}
		put_header(&o, m, h);
	}
	if (!t->keep_host || h1_find(m, "host") < 0) {
		bool v6 = memchr(t->host, ':', t->host_len) != NULL;
		puts_(&o, "Host: ");
		if (v6)
			put(&o, "[", 1);
		put(&o, t->host, t->host_len);
		if (v6)
			put(&o, "]", 1);
		if (t->port != (t->keep_host ? 443 : 80)) {
			int n = snprintf(num, sizeof(num), ":%u", t->port);
			put(&o, num, (size_t)n);
		}
		puts_(&o, "\r\n");
	}
	puts_(&o, "Via: 1.1 ringcap\r\n");
	if (upgrade && m->upgrade_hdr >= 0)
		put_upgrade(&o, m);
	put(&o, "\r\n", 2);
	return o.full ? -ENOSPC : (long)o.len;
}

long h1_write_trace_echo(const struct h1_msg *m, char *buf, size_t cap)
{
	struct out o = { .p = buf, .cap = cap };
	const char *eol = memchr(m->base, '\n', m->head_len);
	if (eol == NULL)
		return -ENOSPC;   /* a parsed head always has its request line */
	put(&o, m->base, (size_t)(eol - m->base) + 1);
	for (unsigned i = 0; i < m->nhdr; i++) {
		const struct h1_hdr *h = &m->hdr[i];
		if (name_is(m, h, "cookie") || name_is(m, h, "authorization") ||
		    name_is(m, h, "proxy-authorization"))
			continue;
		put_header(&o, m, h);
	}
	put(&o, "\r\n", 2);
	return o.full ? -ENOSPC : (long)o.len;
}

long h1_write_response(const struct h1_msg *m, bool close, char *buf, size_t cap)
{
	struct out o = { .p = buf, .cap = cap };
	char line[32];
	int n = snprintf(line, sizeof(line), "HTTP/1.1 %03u ", m->status);
	put(&o, line, (size_t)n);
	put(&o, m->base + m->reason_off, m->reason_len);
	put(&o, "\r\n", 2);
	for (unsigned i = 0; i < m->nhdr; i++)
		if (!h1_is_hop_by_hop(m, &m->hdr[i]))
			put_header(&o, m, &m->hdr[i]);
	puts_(&o, "Via: 1.1 ringcap\r\n");
	if (m->status == 101 && m->upgrade_hdr >= 0)
		put_upgrade(&o, m);
	else if (close)
		puts_(&o, "Connection: close\r\n");
	put(&o, "\r\n", 2);
	return o.full ? -ENOSPC : (long)o.len;
}

/* ---- llhttp callbacks ---- */

static struct h1_parser *hp_of(llhttp_t *p)
{
	return (struct h1_parser *)p->data;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct h1_msg *m = hp_of(p)->msg;
	if (m == NULL)
		return 0;
	if (m->url_len == 0)
		m->url_off = (uint32_t)(at - m->base);
	m->url_len += (uint32_t)n;
	return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
	struct h1_msg *m = hp_of(p)->msg;
	if (m == NULL)
		return 0;
	if (m->reason_len == 0)
		m->reason_off = (uint32_t)(at - m->base);
	m->reason_len += (uint32_t)n;
	return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
	struct h1_parser *hp = hp_of(p);
	struct h1_msg *m = hp->msg;
	if (m == NULL && hp->on_trailer)
		hp->on_trailer(hp->arg, 0, at, n);
	if (m == NULL)
		return 0;
	if (m->nhdr == m->hdr_cap) {
		hp->failed = 1;
		return -1;
	}
	struct h1_hdr *h = &m->hdr[m->nhdr++];
	h->name_off = (uint32_t)(at - m->base);
	h->name_len = (uint32_t)n;
	h->value_off = h->name_off + h->name_len;
	h->value_len = 0;
	return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
	struct h1_parser *hp = hp_of(p);
	struct h1_msg *m = hp->msg;
	if (m == NULL && hp->on_trailer)
		hp->on_trailer(hp->arg, 1, at, n);
	if (m == NULL || m->nhdr == 0)
		return 0;
	struct h1_hdr *h = &m->hdr[m->nhdr - 1];
	h->value_off = (uint32_t)(at - m->base);
	while (n > 0 && (at[n - 1] == ' ' || at[n - 1] == '\t'))
		n--;
	h->value_len = (uint32_t)n;
	return 0;
}

/* Remembers llhttp's framing for h1_parse_head to compare. 1 = no body
 * follows: llhttp would read a body after a 204 or 304 that carries
 * Content-Length; RFC 9112 6.3 says they never have one. */
static int on_headers_complete(llhttp_t *p)
{
	hp_of(p)->ll_flags = p->flags;
	hp_of(p)->ll_length = p->content_length;
	if (hp_of(p)->skip_body)
		return 1;
	if (p->type == HTTP_RESPONSE && (p->status_code == 204 || p->status_code == 304))
		return 1;
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct h1_parser *hp = hp_of(p);
	if (hp->on_body)
		hp->on_body(hp->arg, at, n);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	hp_of(p)->done = 1;
	return HPE_PAUSED;
}
