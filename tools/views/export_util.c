/*
 * tools/views/export_util.c - helpers the export writers share: buffered
 * output towards a sink, header lines of a raw head, URL parts, body
 * classification (text, urlencoded, multipart, binary), base64, percent
 * decoding and multipart/form-data parts. Pure: no I/O but the sink.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/lib/fmt.h"
#include "tools/views/coding.h"
#include "tools/views/export-int.h"

int rc_sink_file_write(void *ctx, const void *p, size_t n)
{
	FILE *f = ctx;
	if (n && fwrite(p, 1, n, f) != n)
		return -EIO;
	return 0;
}

void rc_xout_init(struct rc_xout *o, const struct rc_sink *sink)
{
	memset(o, 0, sizeof(*o));
	o->sink = sink;
	o->b.max = 0; /* 64 MiB: one exchange with two maximal bodies in base64 fits */
}

void rc_xout_iso_time(struct rc_xout *o, uint64_t ns)
{
	uint64_t sec = ns / 1000000000u;
	if (o->iso_sec != sec + 1) {
		char t[40];
		rc_iso_time(sec * 1000000000u, t, sizeof(t));
		char *dot = strchr(t, '.');
		size_t n = dot ? (size_t)(dot - t) : strlen(t);
		n = n < sizeof(o->iso_prefix) - 1 ? n : sizeof(o->iso_prefix) - 1;
		memcpy(o->iso_prefix, t, n);
		o->iso_prefix[n] = '\0';
		o->iso_sec = sec + 1;
	}
	unsigned ms = (unsigned)(ns / 1000000u % 1000u);
	char tail[6] = { '.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
			 (char)('0' + ms % 10), 'Z', 0 };
	rc_buf_puts(&o->b, o->iso_prefix);
	rc_buf_add(&o->b, tail, 5);
}

int rc_xout_flush(struct rc_xout *o, bool force)
{
	if (o->err)
		return o->err;
	if (o->b.oom)
		return o->err = -ENOMEM;
	if (o->b.len == 0 || (!force && o->b.len < RC_EXPORT_FLUSH))
		return 0;
	int rc = o->sink->write(o->sink->ctx, o->b.p, o->b.len);
	o->bytes += o->b.len;
	o->b.len = 0;
	if (o->b.p)
		o->b.p[0] = '\0';
	if (rc < 0)
		o->err = rc;
	return o->err;
}

void rc_xout_free(struct rc_xout *o)
{
	rc_buf_free(&o->b);
}

/* Slice of body text or bytes per flush. */
#define XOUT_SLICE (256u << 10)

void rc_xout_jstr(struct rc_xout *o, const uint8_t *p, size_t n)
{
	struct rc_buf *b = &o->b;
	RC_PUTS(b, "\"");
	for (size_t off = 0; off < n;) {
		size_t end = n - off > XOUT_SLICE ? off + XOUT_SLICE : n;
		while (end < n && end > off + 1 && (p[end] & 0xc0) == 0x80)
			end--; /* never split a UTF-8 sequence */
		size_t at = b->len;
		rc_buf_jstr(b, (const char *)p + off, end - off);
		if (!b->oom && b->len >= at + 2) { /* drop the slice's own quotes */
			memmove(b->p + at, b->p + at + 1, b->len - at - 2);
			b->len -= 2;
			b->p[b->len] = '\0';
		}
		rc_xout_flush(o, false);
		off = end;
	}
	RC_PUTS(b, "\"");
}

void rc_xout_base64(struct rc_xout *o, const uint8_t *p, size_t n)
{
	const size_t slice = XOUT_SLICE / 3 * 3; /* whole groups: no padding inside */
	RC_PUTS(&o->b, "\"");
	for (size_t off = 0; off < n; off += slice) {
		rc_buf_base64(&o->b, p + off, n - off < slice ? n - off : slice);
		rc_xout_flush(o, false);
	}
	RC_PUTS(&o->b, "\"");
}

/* ---- heads ---- */

bool rc_field_next(const uint8_t *p, size_t n, size_t *pos, struct rc_hdr *h)
{
	const char *s = (const char *)p, *end = s + n;
	for (const char *q = s + *pos; q < end;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		const char *le = nl ? nl : end;
		const char *e = le > q && le[-1] == '\r' ? le - 1 : le;
		*pos = (size_t)((nl ? nl + 1 : end) - s);
		if (e == q)
			return false; /* blank line: end of the block */
		const char *colon = memchr(q, ':', (size_t)(e - q));
		if (colon == NULL || colon == q) {
			q = nl ? nl + 1 : end;
			continue;
		}
		const char *v = colon + 1;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		const char *ve = e;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		h->name = q;
		h->name_len = (size_t)(colon - q);
		h->value = v;
		h->value_len = (size_t)(ve - v);
		return true;
	}
	return false;
}

bool rc_hdr_next(const uint8_t *head, size_t n, size_t *pos, struct rc_hdr *h)
{
	if (*pos == 0) { /* skip the start line */
		const char *nl = memchr(head, '\n', n);
		if (nl == NULL)
			return false;
		*pos = (size_t)(nl + 1 - (const char *)head);
	}
	return rc_field_next(head, n, pos, h);
}

bool rc_hdr_get(const uint8_t *head, size_t n, const char *name, struct rc_hdr *h)
{
	size_t pos = 0, nl = strlen(name);
	struct rc_hdr t;
	while (head && rc_hdr_next(head, n, &pos, &t)) {
		if (t.name_len == nl && strncasecmp(t.name, name, nl) == 0) {
			*h = t;
			return true;
		}
	}
	return false;
}

bool rc_hdr_skip(const struct rc_hdr *h)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "proxy-authorization", "proxy-authenticate", "te",
					     "trailer", "transfer-encoding", "upgrade", "host",
					     "content-length" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (h->name_len == strlen(names[i]) && strncasecmp(h->name, names[i], h->name_len) == 0)
			return true;
	return false;
}

/* ---- URLs ---- */

void rc_url_split(const char *url, size_t n, struct rc_url *u)
{
	memset(u, 0, sizeof(*u));
	const char *end = url + n, *p = url;
	const char *ss = n >= 3 ? strstr(url, "://") : NULL;
	if (ss && ss < end) {
		u->scheme = url;
		u->scheme_len = (size_t)(ss - url);
		p = ss + 3;
	}
	const char *auth = p;
	while (p < end && *p != '/' && *p != '?' && *p != '#')
		p++;
	const char *auth_end = p;
	const char *at = memchr(auth, '@', (size_t)(auth_end - auth));
	if (at)
		auth = at + 1;
	const char *colon = NULL;
	if (auth < auth_end && *auth == '[') { /* IPv6 literal */
		const char *rb = memchr(auth, ']', (size_t)(auth_end - auth));
		colon = rb && rb + 1 < auth_end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(auth, ':', (size_t)(auth_end - auth));
	}
	u->host = auth;
	u->host_len = (size_t)((colon ? colon : auth_end) - auth);
	if (colon) {
		u->port = colon + 1;
		u->port_len = (size_t)(auth_end - colon - 1);
	}
	u->origin = url;
	u->origin_len = (size_t)(auth_end - url);
	u->path = p;
	while (p < end && *p != '?' && *p != '#')
		p++;
	u->path_len = (size_t)(p - u->path);
	if (p < end && *p == '?') {
		u->query = ++p;
		while (p < end && *p != '#')
			p++;
		u->query_len = (size_t)(p - u->query);
	}
}

/* ---- bodies ---- */

static bool ctype_is(const char *ct, size_t n, const char *what)
{
	size_t w = strlen(what);
	for (size_t i = 0; i + w <= n; i++)
		if (strncasecmp(ct + i, what, w) == 0)
			return true;
	return false;
}

enum rc_body_kind rc_body_kind(const char *ctype, size_t ctype_len, const uint8_t *p, size_t n)
{
	if (n == 0)
		return RC_BODY_NONE;
	if (ctype && ctype_is(ctype, ctype_len, "application/x-www-form-urlencoded") &&
	    rc_utf8_valid(p, n))
		return RC_BODY_URLENC;
	if (ctype && ctype_is(ctype, ctype_len, "multipart/form-data"))
		return RC_BODY_MULTIPART;
	return rc_utf8_valid(p, n) ? RC_BODY_TEXT : RC_BODY_BINARY;
}

const char *rc_raw_language(const char *ctype, size_t n)
{
	if (ctype == NULL)
		return "text";
	if (ctype_is(ctype, n, "json"))
		return "json";
	if (ctype_is(ctype, n, "html"))
		return "html";
	if (ctype_is(ctype, n, "xml"))
		return "xml";
	if (ctype_is(ctype, n, "javascript") || ctype_is(ctype, n, "ecmascript"))
		return "javascript";
	return "text";
}

void rc_buf_i64(struct rc_buf *b, int64_t v)
{
	char tmp[24];
	size_t k = sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u && k > 1);
	if (v < 0)
		tmp[--k] = '-';
	rc_buf_add(b, tmp + k, sizeof(tmp) - k);
}

void rc_buf_ms(struct rc_buf *b, int64_t us)
{
	uint64_t u = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
	if (us < 0)
		RC_PUTS(b, "-");
	rc_buf_i64(b, (int64_t)(u / 1000));
	char f[4] = { '.', (char)('0' + u % 1000 / 100), (char)('0' + u % 100 / 10),
		      (char)('0' + u % 10) };
	rc_buf_add(b, f, 4);
}

void rc_buf_base64(struct rc_buf *b, const uint8_t *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4 * 1024];
	size_t k = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[k++] = tab[(v >> 18) & 63];
		out[k++] = tab[(v >> 12) & 63];
		out[k++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[k++] = i + 2 < n ? tab[v & 63] : '=';
		if (k == sizeof(out)) {
			rc_buf_add(b, out, k);
			k = 0;
		}
	}
	rc_buf_add(b, out, k);
}

void rc_buf_jstr_urldec(struct rc_buf *b, const char *s, size_t n)
{
	char tmp[1024] = "";
	char *d = n <= sizeof(tmp) ? tmp : malloc(n);
	if (d == NULL) {
		b->oom = true;
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			d[k++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && rc_hexval(s[i + 1]) >= 0 &&
			   rc_hexval(s[i + 2]) >= 0) {
			d[k++] = (char)(rc_hexval(s[i + 1]) * 16 + rc_hexval(s[i + 2]));
			i += 2;
		} else {
			d[k++] = s[i];
		}
	}
	rc_buf_jstr(b, d, k);
	if (d != tmp)
		free(d);
}

/* The boundary parameter of a multipart Content-Type. */
static bool boundary_of(const char *ct, size_t n, const char **bd, size_t *bl)
{
	for (size_t i = 0; i + 9 <= n; i++) {
		if (strncasecmp(ct + i, "boundary=", 9) != 0)
			continue;
		const char *p = ct + i + 9, *end = ct + n;
		if (p < end && *p == '"') {
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
			if (q == NULL)
				return false;
			*bd = p + 1;
			*bl = (size_t)(q - p - 1);
		} else {
			const char *q = p;
			while (q < end && *q != ';' && *q != ' ')
				q++;
			*bd = p;
			*bl = (size_t)(q - p);
		}
		return *bl > 0 && *bl <= 70;
	}
	return false;
}

static const uint8_t *find(const uint8_t *h, size_t hn, const void *nd, size_t nn)
{
	return nn <= hn ? memmem(h, hn, nd, nn) : NULL;
}

/* name="..." or filename="..." inside a Content-Disposition value. */
static void disp_param(const char *v, size_t n, const char *key, const char **out, size_t *ol)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl + 2 <= n; i++) {
		if (strncasecmp(v + i, key, kl) != 0 || v[i + kl] != '=' ||
		    (i > 0 && v[i - 1] != ' ' && v[i - 1] != ';'))
			continue;
		const char *p = v + i + kl + 1, *end = v + n;
		if (*p == '"') {
			const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
			*out = p + 1;
			*ol = q ? (size_t)(q - p - 1) : (size_t)(end - p - 1);
		} else {
			const char *q = p;
			while (q < end && *q != ';')
				q++;
			*out = p;
			*ol = (size_t)(q - p);
		}
		return;
	}
}

int rc_multipart_next(const char *ctype, size_t ctype_len, const uint8_t *p, size_t n,
		      size_t *pos, struct rc_part *part)
{
	const char *bd;
	size_t bl;
	char delim[80];
	if (!boundary_of(ctype, ctype_len, &bd, &bl))
		return 0;
	int dl = snprintf(delim, sizeof(delim), "--%.*s", (int)bl, bd);
	const uint8_t *s = find(p + *pos, n - *pos, delim, (size_t)dl);
	if (s == NULL)
		return 0;
	const uint8_t *h = s + dl, *end = p + n;
	if (end - h < 2 || (h[0] == '-' && h[1] == '-'))
		return 0; /* closing delimiter */
	const uint8_t *he = find(h, (size_t)(end - h), "\r\n\r\n", 4);
	if (he == NULL)
		return 0;
	memset(part, 0, sizeof(*part));
	struct rc_hdr hd;
	/* h starts with the CRLF after the delimiter: read it as a head whose
	 * start line is empty. */
	if (rc_hdr_get(h, (size_t)(he + 4 - h), "content-disposition", &hd)) {
		disp_param(hd.value, hd.value_len, "name", &part->name, &part->name_len);
		disp_param(hd.value, hd.value_len, "filename", &part->filename, &part->filename_len);
	}
	if (rc_hdr_get(h, (size_t)(he + 4 - h), "content-type", &hd)) {
		part->ctype = hd.value;
		part->ctype_len = hd.value_len;
	}
	const uint8_t *data = he + 4;
	char next[84];
	int nl = snprintf(next, sizeof(next), "\r\n--%.*s", (int)bl, bd);
	const uint8_t *ne = find(data, (size_t)(end - data), next, (size_t)nl);
	if (ne == NULL)
		return 0;
	part->data = data;
	part->data_len = (size_t)(ne - data);
	*pos = (size_t)(ne + 2 - p);
	return 1;
}

void rc_fields_json(struct rc_buf *b, const char *name_key, const uint8_t *p, size_t n,
		    bool start_line, bool skip)
{
	struct rc_hdr h;
	size_t pos = 0;
	bool first = true;
	size_t kl = strlen(name_key);
	RC_PUTS(b, "[");
	while (p && (start_line ? rc_hdr_next(p, n, &pos, &h) : rc_field_next(p, n, &pos, &h))) {
		if (skip && rc_hdr_skip(&h))
			continue;
		if (first)
			RC_PUTS(b, "{\"");
		else
			RC_PUTS(b, ",{\"");
		rc_buf_add(b, name_key, kl);
		RC_PUTS(b, "\":");
		rc_buf_jstr(b, h.name, h.name_len);
		RC_PUTS(b, ",\"value\":");
		rc_buf_jstr(b, h.value, h.value_len);
		RC_PUTS(b, "}");
		first = false;
	}
	RC_PUTS(b, "]");
}

void rc_headers_json(struct rc_buf *b, const char *array, const char *name_key,
		     const uint8_t *head, size_t n, bool skip)
{
	RC_PUTS(b, "\"");
	rc_buf_puts(b, array);
	RC_PUTS(b, "\":");
	rc_fields_json(b, name_key, head, n, true, skip);
}

/* The response body as HAR 1.2 and a Postman example want it, decoded
 * from its gzip or deflate Content-Encoding (export-int.h); -1 leaves it
 * as stored: no coding, one not read here, bytes that do not inflate, or
 * a bomb past RC_EXPORT_DECODED_MAX. */
long rc_resp_decoded(const struct seg_exchange *x, const uint8_t **body, size_t *n,
			uint8_t **dec)
{
	size_t cel;
	bool cut;
	const char *ce = rc_content_coding(x->resp_head, x->resp_head_len, &cel);
	*dec = NULL;
	if (ce == NULL || *n == 0)
		return -1;
	long m = rc_body_decode(ce, cel, *body, *n, RC_EXPORT_DECODED_MAX, dec, &cut);
	if (m < 0 || cut) {
		free(*dec);
		*dec = NULL;
		return -1;
	}
	*body = *dec;
	*n = (size_t)m;
	return m;
}
