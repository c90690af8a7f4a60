/*
 * tools/views/show.c - one exchange as text (see show.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/lib/fmt.h"
#include "tools/views/coding.h"
#include "tools/views/listing.h"
#include "tools/views/messages.h"
#include "tools/views/show.h"

const char *rc_error_words(uint8_t kind)
{
	static const char *const words[SEG_E_COUNT] = {
		[SEG_E_NONE] = "none",
		[SEG_E_DNS] = "the host name did not resolve",
		[SEG_E_CONNECT] = "could not connect to the server",
		[SEG_E_TLS] = "TLS with the server failed",
		[SEG_E_TIMEOUT] = "no answer in time",
		[SEG_E_RESET] = "the connection was reset",
		[SEG_E_PROTOCOL] = "malformed HTTP",
		[SEG_E_UPSTREAM_CLOSED] = "the server closed the connection early",
		[SEG_E_CLIENT_CLOSED] = "the client went away before the end",
		[SEG_E_OTHER] = "another error",
		[SEG_E_CERT_REFUSED] = "the client refused our certificate (a pinned app, or "
				       "the CA not installed: --passthrough the host, or install "
				       "the CA)",
	};
	return kind < SEG_E_COUNT ? words[kind] : words[SEG_E_OTHER];
}

const char *rc_tunnel_words(uint32_t flags)
{
	static const char *const words[SEG_TUN_COUNT] = {
		[SEG_TUN_UNKNOWN] = "",
		[SEG_TUN_INTERCEPTED] = "intercepted (TLS): its requests are the exchanges "
					"that follow",
		[SEG_TUN_PASSTHROUGH] = "passed through blind (--passthrough matched the "
					"host or the SNI)",
		[SEG_TUN_NOT_TLS] = "passed through blind: the client's first bytes were not TLS",
		[SEG_TUN_REFUSED] = "refused by the client: it aborted the TLS handshake or "
				    "rejected our certificate",
		[SEG_TUN_BLIND] = "passed through blind: interception is off",
	};
	unsigned k = seg_tunnel_of(flags);
	if (k == SEG_TUN_UNKNOWN)
		return (flags & SEG_F_TUNNEL) ? "tunnel" : "";
	return k < SEG_TUN_COUNT ? words[k] : "tunnel";
}

static void indent(struct rc_buf *b, size_t depth)
{
	rc_buf_puts(b, "\n");
	for (size_t i = 0; i < depth; i++)
		rc_buf_puts(b, "  ");
}

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

/* Copies the string starting at p[i] (a quote) into b; returns the index
 * after its closing quote, or n when it does not close. */
static size_t copy_string(struct rc_buf *b, const char *p, size_t i, size_t n)
{
	size_t s = i++;
	while (i < n && p[i] != '"')
		i += p[i] == '\\' ? 2 : 1;
	if (i >= n)
		return n;
	rc_buf_add(b, p + s, i + 1 - s);
	return i + 1;
}

int rc_json_pretty(struct rc_buf *b, const char *p, size_t n)
{
	char stack[RC_SHOW_JSON_DEPTH];
	size_t depth = 0, i = skip_ws(p, 0, n);
	struct rc_buf o = { .max = b->max };
	if (i == n || (p[i] != '{' && p[i] != '['))
		return -EINVAL;
	while (i < n && !o.oom) {   /* bound: i grows every round */
		char c = p[i];
		if (c == '"') {
			if ((i = copy_string(&o, p, i, n)) == n && depth)
				break;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == RC_SHOW_JSON_DEPTH)
				break;
			stack[depth++] = c == '{' ? '}' : ']';
			rc_buf_add(&o, &c, 1);
			size_t j = skip_ws(p, i + 1, n);
			if (j < n && p[j] == stack[depth - 1]) {
				rc_buf_add(&o, &p[j], 1);
				depth--;
				i = j + 1;
			} else {
				indent(&o, depth);
				i++;
			}
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != c)
				break;
			indent(&o, --depth);
			rc_buf_add(&o, &c, 1);
			i++;
		} else if (c == ',') {
			rc_buf_puts(&o, ",");
			indent(&o, depth);
			i++;
		} else if (c == ':') {
			rc_buf_puts(&o, ": ");
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
		} else {
			rc_buf_add(&o, &c, 1);
			i++;
		}
		if (depth == 0)
			break;
	}
	bool ok = depth == 0 && !o.oom && skip_ws(p, i, n) == n;
	if (ok)
		rc_buf_add(b, o.p, o.len);
	rc_buf_free(&o);
	return ok ? 0 : -EINVAL;
}

/* The value of header name (with the colon, lower case) in a raw head. */
static const char *header(const uint8_t *head, size_t len, const char *name, size_t *vl)
{
	const char *h = (const char *)head, *end = h + len;
	size_t nl = strlen(name);
	*vl = 0;
	for (const char *p = h ? memchr(h, '\n', len) : NULL; p && p + 1 + nl < end;
	     p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		if (strncasecmp(p + 1, name, nl) != 0)
			continue;
		const char *v = p + 1 + nl;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		const char *e = v;
		while (e < end && *e != '\r' && *e != '\n')
			e++;
		*vl = (size_t)(e - v);
		return v;
	}
	return NULL;
}

/* Text with CRLF as LF and control bytes (ESC included) as '?'. */
static void clean_text(struct rc_buf *b, const uint8_t *p, size_t n)
{
	char chunk[512];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
			continue;
		chunk[k++] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : (char)c;
		if (k == sizeof(chunk)) {
			rc_buf_add(b, chunk, k);
			k = 0;
		}
	}
	rc_buf_add(b, chunk, k);
}

/* Text unless it has NUL bytes or more than 1 in 32 other control bytes. */
static bool looks_text(const uint8_t *p, size_t n)
{
	size_t ctl = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == 0)
			return false;
		ctl += (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f;
	}
	return ctl * 32 <= n;
}

static void hexdump(struct rc_buf *b, const uint8_t *p, size_t n)
{
	size_t m = n < RC_SHOW_HEX_MAX ? n : RC_SHOW_HEX_MAX;
	for (size_t off = 0; off < m; off += 16) {
		rc_buf_printf(b, "%08zx ", off);
		for (size_t i = off; i < off + 16; i++)
			rc_buf_printf(b, i < m ? " %02x" : "   ", i < m ? p[i] : 0);
		rc_buf_puts(b, "  |");
		for (size_t i = off; i < off + 16 && i < m; i++)
			rc_buf_printf(b, "%c", p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
		rc_buf_puts(b, "|\n");
	}
	if (n > m)
		rc_buf_printf(b, "... %zu more bytes (binary; --body request|response writes them)\n",
			      n - m);
}

static void body(struct rc_buf *b, const uint8_t *p, size_t n, const char *ct, size_t ctl)
{
	bool jsonish = ct && ctl && memmem(ct, ctl, "json", 4) != NULL;
	if ((jsonish || (n && (p[0] == '{' || p[0] == '['))) &&
	    rc_json_pretty(b, (const char *)p, n) == 0) {
		rc_buf_puts(b, "\n");
		return;
	}
	if (!looks_text(p, n < 4096 ? n : 4096)) {
		hexdump(b, p, n);
		return;
	}
	size_t m = n < RC_SHOW_TEXT_MAX ? n : RC_SHOW_TEXT_MAX;
	clean_text(b, p, m);
	if (m && p[m - 1] != '\n')
		rc_buf_puts(b, "\n");
	if (n > m)
		rc_buf_printf(b, "... %zu more bytes (--body request|response writes them)\n", n - m);
}

/* A body with a Content-Encoding other than identity: decoded when it
 * can be, with a line that says so; else as stored, and why. */
static void coded_body(struct rc_buf *b, const uint8_t *p, size_t n, const char *ct, size_t ctl,
		       const char *ce, size_t cel)
{
	uint8_t *dec = NULL;
	bool cut = false;
	char stored[24], shown[24];
	long m = rc_body_decode(ce, cel, p, n, RC_SHOW_DECODED_MAX, &dec, &cut);
	if (m < 0) {
		body(b, p, n, ct, ctl);
		rc_buf_puts(b, "(Content-Encoding ");
		/* the peer's words: no control byte reaches the terminal */
		clean_text(b, (const uint8_t *)ce, cel < RC_SHOW_CODING_MAX ? cel : RC_SHOW_CODING_MAX);
		rc_buf_printf(b, ": not decoded%s)\n", m == -ENOTSUP ? "" : ": the bytes do not inflate");
		return;
	}
	body(b, dec, (size_t)m, ct, ctl);
	free(dec);
	rc_human_bytes(n, stored, sizeof(stored));
	rc_human_bytes((uint64_t)m, shown, sizeof(shown));
	rc_buf_printf(b, "(decoded from %.*s: %s as stored%s%s)\n", (int)cel, ce, stored,
		      cut ? "; decoded only the first " : "", cut ? shown : "");
}

/* One direction's body, or why there is none; false when it wrote
 * nothing (no body on the wire). */
static bool body_part(struct rc_buf *b, const struct seg_exchange *x, enum seg_dir d)
{
	const uint8_t *head = d == SEG_DIR_REQ ? x->req_head : x->resp_head;
	size_t hl = d == SEG_DIR_REQ ? x->req_head_len : x->resp_head_len, ctl;
	const char *ct = header(head, hl, "content-type:", &ctl);
	uint64_t wire = d == SEG_DIR_REQ ? x->wire.req_body : x->wire.resp_body;
	uint32_t cut = d == SEG_DIR_REQ ? SEG_F_REQ_TRUNC : SEG_F_RESP_TRUNC;
	if (d == SEG_DIR_RESP && (x->flags & SEG_F_NO_RESP)) {
		rc_buf_puts(b, "not stored: save-responses was off\n");
		return true;
	}
	if (d == SEG_DIR_RESP && (x->flags & SEG_F_MEDIA)) {
		rc_buf_printf(b, "not stored: %.*s (media)\n", (int)(ct ? ctl : 5),
			      ct ? ct : "media");
		return true;
	}
	if (x->body_len[d] == 0) {
		if (wire)
			rc_buf_printf(b, "not stored (%llu bytes on the wire)\n",
				      (unsigned long long)wire);
		return wire != 0;
	}
	size_t cel;
	const char *ce = rc_content_coding(head, hl, &cel);
	if (ce)
		coded_body(b, x->body[d], x->body_len[d], ct, ct ? ctl : 0, ce, cel);
	else
		body(b, x->body[d], x->body_len[d], ct, ct ? ctl : 0);
	if ((x->flags & cut) || x->body_cut[d])
		rc_buf_printf(b, "(the first %zu of %llu bytes were stored: the session's "
			      "max_body)\n", x->body_len[d], (unsigned long long)wire);
	return true;
}

/* One direction's trailer section, after its body: "trailers" and the
 * lines, and how much was cut when it was stored short. */
static void trailers_part(struct rc_buf *b, const struct seg_exchange *x, enum seg_dir d)
{
	if (x->trailers[d] == NULL)
		return;
	rc_buf_puts(b, "trailers\n");
	clean_text(b, x->trailers[d], x->trailers_len[d]);
	if (x->trailers_wire_len[d] > x->trailers_len[d])
		rc_buf_printf(b, "(the first %zu of %u bytes were stored)\n", x->trailers_len[d],
			      x->trailers_wire_len[d]);
	rc_buf_puts(b, "\n");
}

static void ms(struct rc_buf *b, const char *label, uint64_t ns, bool last)
{
	if (ns)
		rc_buf_printf(b, "%s %.1f ms%s", label, (double)ns / 1e6, last ? "" : ", ");
	else
		rc_buf_printf(b, "%s -%s", label, last ? "" : ", ");
}

static void summary(struct rc_buf *b, const struct seg_exchange *x, uint64_t shown_id)
{
	char t[40], addr[RC_ADDR_TEXT_MAX], sz[4][24];
	rc_iso_time(x->start_ns, t, sizeof(t));
	rc_addr_text(&x->client, addr, sizeof(addr));
	rc_buf_printf(b, "--\nexchange %llu, %s, client ", (unsigned long long)shown_id, t);
	if (x->client_name && x->client_name[0])
		rc_buf_printf(b, "%s (%s:%u)\n", x->client_name, addr, x->client.port);
	else
		rc_buf_printf(b, "%s:%u\n", addr, x->client.port);
	char server[RC_ENDPOINT_TEXT_MAX];
	rc_endpoint_text(&x->server, server, sizeof(server));
	if (server[0])
		rc_buf_printf(b, "server   %s\n", server);
	rc_buf_puts(b, "timings  ");
	ms(b, "dns", x->t.dns_ns, false);
	ms(b, "connect", x->t.connect_ns, false);
	ms(b, "tls", x->t.tls_ns, false);
	ms(b, "first byte", x->t.ttfb_ns, false);
	ms(b, "total", x->t.total_ns, true);
	rc_human_bytes(x->wire.req_head, sz[0], sizeof(sz[0]));
	rc_human_bytes(x->wire.req_body, sz[1], sizeof(sz[1]));
	rc_human_bytes(x->wire.resp_head, sz[2], sizeof(sz[2]));
	rc_human_bytes(x->wire.resp_body, sz[3], sizeof(sz[3]));
	rc_buf_printf(b, "\nsizes    request %s head + %s body, response %s head + %s body\n",
		      sz[0], sz[1], sz[2], sz[3]);
	const char *tun = rc_tunnel_words(x->flags);
	if (tun[0])
		rc_buf_printf(b, "tunnel   %s\n", tun);
	rc_buf_printf(b, "error    %s", rc_error_words(x->error));
	if (x->err_msg && x->err_msg[0])
		rc_buf_printf(b, ": %s", x->err_msg);
	rc_buf_puts(b, "\n");
	if (!x->complete)
		rc_buf_puts(b, "(incomplete: its end was never stored)\n");
}

void rc_exchange_text(struct rc_buf *b, const struct seg_exchange *x, uint64_t shown_id,
		      bool heads_only)
{
	clean_text(b, x->req_head, x->req_head_len);
	if (!heads_only && body_part(b, x, SEG_DIR_REQ))
		rc_buf_puts(b, "\n");
	if (!heads_only)
		trailers_part(b, x, SEG_DIR_REQ);
	if (x->resp_head_len) {
		clean_text(b, x->resp_head, x->resp_head_len);
	} else if (x->flags & SEG_F_NO_RESP) {
		rc_buf_printf(b, "status %u (response head not stored: save-responses was off)\n\n",
			      x->status);
	} else if (x->status) {
		rc_buf_printf(b, "status %u\n\n", x->status);
	} else {
		rc_buf_puts(b, "no response\n\n");
	}
	if (!heads_only && !(x->flags & SEG_F_NO_RESP && !x->resp_head_len) &&
	    body_part(b, x, SEG_DIR_RESP))
		rc_buf_puts(b, "\n");
	if (!heads_only)
		trailers_part(b, x, SEG_DIR_RESP);
	summary(b, x, shown_id);
	if (!heads_only)
		rc_msgs_text(b, x);   /* WebSocket messages, when it was upgraded */
}
