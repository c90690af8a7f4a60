/*
 * sniff.c - classifies the first bytes of a CONNECT tunnel: not TLS, need
 * more, or a TLS ClientHello (with its SNI and whether it offers h2 and
 * http/1.1). A pure function over the caller's buffer: no allocation, no
 * reads outside [buf, buf + len), every loop bounded by the input length.
 *
 * Wire format read (RFC 8446 5.1, 4.1.2; RFC 6066 3; RFC 7301 3.1):
 *   record:    type(1)=22 version(2)=03 xx length(2) <= 16384 fragment
 *   handshake: type(1)=1 length(3) body, which may span several records
 *   body:      version(2) random(32) session_id<0..32>
 *              cipher_suites<2..2^16-2> compression_methods<1..2^8-1>
 *              [extensions<0..2^16-1>]
 *   extension: type(2) data<0..2^16-1>; server_name = 0, ALPN = 16
 * The body is read through a cursor that steps over record headers, so a
 * ClientHello split across records parses like one in a single record.
 */
#include <errno.h>
#include <string.h>

#include "tls/tls.h"

#define REC_HANDSHAKE 22
#define REC_PLAIN_MAX 16384
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define SNI_HOST_NAME 0

struct cur {
	const uint8_t *buf;
	size_t len;
	size_t off;      /* next input byte */
	size_t rec_left; /* fragment bytes left in the current record */
	size_t pos;      /* handshake bytes consumed */
	int err;         /* 0, -EAGAIN or -EBADMSG; sticky */
};

static int cur_byte(struct cur *c, uint8_t *out);
static uint32_t cur_uint(struct cur *c, unsigned n);
static void cur_skip(struct cur *c, size_t n);
static void parse_sni(struct cur *c, size_t end, struct tls_hello *out);
static void parse_alpn(struct cur *c, size_t end, struct tls_hello *out);
static void parse_extensions(struct cur *c, size_t end, struct tls_hello *out);
static void parse_body(struct cur *c, size_t end, struct tls_hello *out);

int tls_sniff_client_hello(const uint8_t *buf, size_t len, struct tls_hello *out)
{
	struct cur c = {.buf = buf, .len = len};
	size_t body_end;

	memset(out, 0, sizeof(*out));
	if (len >= 1 && buf[0] != REC_HANDSHAKE)
		return -EPROTONOSUPPORT;
	if (len >= 2 && buf[1] != 3)
		return -EPROTONOSUPPORT;
	if (len >= 3 && buf[2] > 4)
		return -EPROTONOSUPPORT;
	if (cur_uint(&c, 1) != HS_CLIENT_HELLO && c.err == 0)
		return -EBADMSG;
	body_end = cur_uint(&c, 3);
	if (c.err == 0 && (body_end > TLS_SNIFF_HELLO_MAX || body_end < 38))
		return -EBADMSG;
	body_end += c.pos;
	parse_body(&c, body_end, out);
	if (c.err < 0) {
		memset(out, 0, sizeof(*out));
		return c.err;
	}
	out->hello_len = c.off;
	return (int)c.off;
}

/* ---- helpers --------------------------------------------------------------- */

/* ClientHello body after the handshake header, up to handshake byte END. */
static void parse_body(struct cur *c, size_t end, struct tls_hello *out)
{
	uint32_t n;

	cur_skip(c, 2 + 32); /* legacy_version, random */
	n = cur_uint(c, 1);  /* legacy_session_id */
	if (c->err == 0 && n > 32)
		c->err = -EBADMSG;
	cur_skip(c, n);
	n = cur_uint(c, 2);  /* cipher_suites */
	if (c->err == 0 && (n < 2 || (n & 1)))
		c->err = -EBADMSG;
	cur_skip(c, n);
	n = cur_uint(c, 1);  /* legacy_compression_methods */
	if (c->err == 0 && n < 1)
		c->err = -EBADMSG;
	cur_skip(c, n);
	if (c->err == 0 && c->pos > end)
		c->err = -EBADMSG;
	if (c->err == 0 && c->pos < end)
		parse_extensions(c, end, out);
	if (c->err == 0 && c->pos != end)
		c->err = -EBADMSG;
}

/* Next handshake byte, stepping over record headers. */
static int cur_byte(struct cur *c, uint8_t *out)
{
	if (c->err < 0)
		return c->err;
	if (c->rec_left == 0) {
		size_t rl;

		if (c->len - c->off < 5) {
			/* Still check what is there: a bad header is final. */
			if (c->len > c->off && c->buf[c->off] != REC_HANDSHAKE)
				c->err = -EBADMSG;
			else
				c->err = -EAGAIN;
			return c->err;
		}
		rl = (size_t)c->buf[c->off + 3] << 8 | c->buf[c->off + 4];
		if (c->buf[c->off] != REC_HANDSHAKE || c->buf[c->off + 1] != 3 ||
		    rl == 0 || rl > REC_PLAIN_MAX) {
			c->err = -EBADMSG;
			return c->err;
		}
		c->off += 5;
		c->rec_left = rl;
	}
	if (c->off >= c->len) {
		c->err = -EAGAIN;
		return c->err;
	}
	*out = c->buf[c->off++];
	c->rec_left--;
	c->pos++;
	return 0;
}

/* Big-endian integer of N <= 3 bytes; 0 once an error is set. */
static uint32_t cur_uint(struct cur *c, unsigned n)
{
	uint32_t v = 0;
	uint8_t b = 0;

	for (unsigned i = 0; i < n; i++) {
		if (cur_byte(c, &b) < 0)
			return 0;
		v = v << 8 | b;
	}
	return v;
}

static void cur_skip(struct cur *c, size_t n)
{
	uint8_t b;

	/* Bounded by n <= 2^16 + 34 from the callers. */
	for (size_t i = 0; i < n; i++) {
		if (cur_byte(c, &b) < 0)
			return;
	}
}

static void parse_extensions(struct cur *c, size_t end, struct tls_hello *out)
{
	size_t ext_end = cur_uint(c, 2);

	ext_end += c->pos;
	if (c->err == 0 && ext_end != end)
		c->err = -EBADMSG;
	/* Bounded: every pass consumes at least 4 bytes of at most 2^16. */
	while (c->err == 0 && c->pos < ext_end) {
		uint32_t type = cur_uint(c, 2);
		size_t e_end = cur_uint(c, 2);

		e_end += c->pos;
		if (c->err == 0 && e_end > ext_end)
			c->err = -EBADMSG;
		if (c->err < 0)
			return;
		if (type == EXT_SERVER_NAME)
			parse_sni(c, e_end, out);
		else if (type == EXT_ALPN)
			parse_alpn(c, e_end, out);
		else
			cur_skip(c, e_end - c->pos);
		if (c->err == 0 && c->pos != e_end)
			c->err = -EBADMSG;
	}
}

static void parse_sni(struct cur *c, size_t end, struct tls_hello *out)
{
	size_t list_end = cur_uint(c, 2);
	char raw[TLS_NAME_MAX + 1];

	list_end += c->pos;
	if (c->err == 0 && list_end != end)
		c->err = -EBADMSG;
	while (c->err == 0 && c->pos < list_end) {
		uint32_t type = cur_uint(c, 1);
		uint32_t n = cur_uint(c, 2);

		if (c->err == 0 && (n == 0 || c->pos + n > list_end))
			c->err = -EBADMSG;
		if (c->err < 0)
			return;
		if (type != SNI_HOST_NAME || out->sni_len != 0 || n > TLS_NAME_MAX) {
			cur_skip(c, n);
			continue;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint8_t b = 0;

			if (cur_byte(c, &b) < 0)
				return;
			raw[i] = (char)b;
		}
		{
			int r = tls_name_normalize(raw, n, out->sni);

			out->sni_len = r > 0 ? (size_t)r : 0;
			if (r <= 0)
				out->sni[0] = '\0';
		}
	}
}

static void parse_alpn(struct cur *c, size_t end, struct tls_hello *out)
{
	size_t list_end = cur_uint(c, 2);

	list_end += c->pos;
	if (c->err == 0 && list_end != end)
		c->err = -EBADMSG;
	while (c->err == 0 && c->pos < list_end) {
		uint32_t n = cur_uint(c, 1);
		uint8_t p[8] = {0};

		if (c->err == 0 && (n == 0 || c->pos + n > list_end))
			c->err = -EBADMSG;
		for (uint32_t i = 0; c->err == 0 && i < n; i++) {
			uint8_t b = 0;

			if (cur_byte(c, &b) == 0 && i < sizeof(p))
				p[i] = b;
		}
		if (c->err < 0)
			return;
		if (n == 2 && memcmp(p, "h2", 2) == 0)
			out->alpn_h2 = true;
		if (n == 8 && memcmp(p, "http/1.1", 8) == 0)
			out->alpn_http11 = true;
	}
}
