/* persist/strtext.c: the .str text of one exchange (layout at the top of
 * persist/segment.c): host, url and the extension. One encoder, used by
 * the writer and by every rebuild from BEGIN records, so a rebuilt .str
 * is byte-identical to the one written; one decoder (seg_str_view), used
 * by every reader of .str files, so none does its own arithmetic.
 *
 * With SEG_F_HOST_IN_URL the host is not stored: it is the start of the
 * URL's authority (the bytes after "scheme://" up to the first '/', '?',
 * '#' or the end), which the writer found byte-equal to the host, the
 * whole authority or the part before a ':' (the engine's host has no
 * port, the URL's authority may: "127.0.0.1" in
 * "http://127.0.0.1:8080/100b"); the entry keeps host_len as the host's
 * length and readers point host into the URL. Old entries (no bit) store host then url, as before. An IPv6
 * client's address, which an RCAPIDX2 entry has no room for, rides in the
 * extension (SEG_STR_EXT_V6).
 */
#include <errno.h>
#include <string.h>

#include "persist/query.h"
#include "persist/seg-int.h"
#include "rc-assert.h"

/* A scheme longer than this is not one the proxy writes (http, https,
 * ws, wss): no authority is looked for past it. */
#define STR_SCHEME_MAX 16u

static bool scheme_char(char c, bool first)
{
	bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (first)
		return alpha;
	return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

bool seg_url_authority(const char *url, size_t n, size_t *off, size_t *len)
{
	size_t i = 0;
	while (i < n && i < STR_SCHEME_MAX && scheme_char(url[i], i == 0))
		i++;
	if (i == 0 || i + 3 > n || memcmp(url + i, "://", 3) != 0)
		return false;
	size_t a = i + 3, j = a;
	while (j < n && url[j] != '/' && url[j] != '?' && url[j] != '#')
		j++;
	*off = a;
	*len = j - a;
	return true;
}

/* Where a host of host_len bytes sits in url (n bytes): *off, when the
 * authority is that long or has a ':' right after it (a port). The one
 * rule of writer and readers. */
static bool host_at(const char *url, size_t n, size_t host_len, size_t *off)
{
	size_t len;
	if (host_len == 0 || !seg_url_authority(url, n, off, &len) || len < host_len)
		return false;
	return len == host_len || url[*off + host_len] == ':';
}

/* True when t's host is at the start of its URL's authority, byte for byte. */
static bool host_in_url(const struct seg_str_text *t)
{
	size_t off;
	return host_at(t->url, t->url_len, t->host_len, &off) &&
	       memcmp(t->url + off, t->host, t->host_len) == 0;
}

uint32_t seg_str_flags(const struct seg_str_text *t)
{
	uint32_t f = host_in_url(t) ? SEG_F_HOST_IN_URL : 0;
	if (t->number != 0 || t->client_name_len != 0 || t->client_v6 != NULL)
		f |= SEG_F_STR_EXT;
	return f;
}

/* The session number of an RCAPIDX2 extension: LEB128, 7 bits a byte,
 * least significant first, at most STR_VARINT_MAX bytes. */
#define STR_VARINT_MAX 5u
_Static_assert(7u * STR_VARINT_MAX >= 32u, "a u32 fits the varint");

static uint32_t varint_put(uint8_t *out, uint32_t v)
{
	uint32_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	ASSERT(n <= STR_VARINT_MAX);
	return n;
}

/* The varint at p (avail bytes): its length, 0 when avail ends first,
 * -EBADMSG when longer than STR_VARINT_MAX or past 32 bits. */
static int varint_get(const uint8_t *p, uint64_t avail, uint32_t *v)
{
	uint64_t x = 0;
	for (uint32_t i = 0; i < STR_VARINT_MAX; i++) {
		if (i >= avail)
			return 0;
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			if (x > UINT32_MAX)
				return -EBADMSG;
			*v = (uint32_t)x;
			return (int)i + 1;
		}
	}
	return -EBADMSG;
}

uint32_t seg_str_encode(uint8_t *out, const struct seg_str_text *t, uint32_t flags)
{
	ASSERT(t->host_len <= SEG_HOST_MAX);
	ASSERT(t->url_len <= SEG_URL_MAX);
	ASSERT(t->client_name_len <= SEG_CLIENT_NAME_MAX);
	uint32_t n = 0;
	if (!(flags & SEG_F_HOST_IN_URL) && t->host_len) {
		memcpy(out, t->host, t->host_len);
		n = t->host_len;
	}
	if (t->url_len)
		memcpy(out + n, t->url, t->url_len);
	n += t->url_len;
	if (!(flags & SEG_F_STR_EXT))
		return n;
	uint8_t lb = (uint8_t)(t->client_name_len | (t->client_v6 ? SEG_STR_EXT_V6 : 0));
	if (t->ver == SEG_IDX_V2) {
		out[n++] = lb;
		n += varint_put(out + n, t->number);
	} else {
		seg_put32(out + n, t->number);
		out[n + 4] = lb;
		n += 5;
	}
	if (t->client_name_len)
		memcpy(out + n, t->client_name, t->client_name_len);
	n += t->client_name_len;
	if (t->client_v6) {
		memcpy(out + n, t->client_v6, 16);
		n += 16;
	}
	return n;
}

uint32_t seg_str_max(const struct seg_entry *e)
{
	uint32_t n = (uint32_t)e->host_len + e->url_len;
	return (e->flags & SEG_F_STR_EXT) ? n + 5u + SEG_CLIENT_NAME_MAX + 16u : n;
}

/* The extension at p + at (p: avail bytes), RCAPIDX2's layout (v2) or
 * RCAPIDX1's: fills v's number, name and IPv6 address and sets v->len to
 * the text's end (on -EAGAIN: the bytes known to be needed so far). */
static int ext_view(const uint8_t *p, uint64_t avail, uint32_t at, bool v2,
		    struct seg_str_view *v)
{
	uint32_t name_at = at + 5;
	uint8_t lb;
	v->len = at + (v2 ? 2u : 5u); /* the length byte and the shortest number */
	if (avail < v->len)
		return -EAGAIN;
	if (v2) {
		lb = p[at];
		int n = varint_get(p + at + 1, avail - at - 1, &v->number);
		if (n == 0) {
			v->len = (uint32_t)avail + 1;
			return -EAGAIN;
		}
		if (n < 0)
			return n;
		name_at = at + 1 + (uint32_t)n;
	} else {
		lb = p[at + 4];
		v->number = seg_get32(p + at);
	}
	uint8_t cl = lb & ~SEG_STR_EXT_V6;
	bool v6 = (lb & SEG_STR_EXT_V6) != 0;
	if (cl > SEG_CLIENT_NAME_MAX)
		return -EBADMSG;
	v->len = name_at + cl + (v6 ? 16u : 0u);
	if (avail < v->len)
		return -EAGAIN;
	v->client_name_len = cl;
	v->client_name = (const char *)p + name_at;
	v->client_v6 = v6 ? p + name_at + cl : NULL;
	return 0;
}

int seg_str_view(const struct seg_entry *e, const uint8_t *p, uint64_t avail,
		 struct seg_str_view *v)
{
	bool in_url = (e->flags & SEG_F_HOST_IN_URL) != 0;
	uint32_t base = in_url ? 0 : e->host_len, fixed = base + e->url_len;
	memset(v, 0, sizeof(*v));
	v->len = fixed;
	if (avail < v->len || p == NULL)
		return -EAGAIN;
	if (e->flags & SEG_F_STR_EXT) {
		int rc = ext_view(p, avail, fixed, e->idx_version == SEG_IDX_V2, v);
		if (rc < 0)
			return rc;
	}
	if (seg_crc32c(0, p, v->len) != e->str_crc)
		return -EBADMSG;
	v->url = (const char *)p + base;
	v->host = (const char *)p;
	if (in_url) {
		size_t off;
		if (!host_at(v->url, e->url_len, e->host_len, &off))
			return -EBADMSG; /* a checksummed lie: no writer sets the bit so */
		v->host = v->url + off;
	}
	return 0;
}

int seg_qrow_text(struct seg_qrow *r, const uint8_t *p, uint64_t avail)
{
	struct seg_str_view v;
	int rc = seg_str_view(&r->e, p, avail, &v);
	if (rc < 0)
		return rc;
	r->host = v.host;
	r->url = v.url;
	r->number = v.number;
	r->client_name = v.client_name_len ? v.client_name : "";
	r->client_name_len = v.client_name_len;
	if (v.client_v6 && r->e.client.family == 6)
		memcpy(r->e.client.addr, v.client_v6, 16);
	return 0;
}
