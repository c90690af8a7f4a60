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
	seg_put32(out + n, t->number);
	out[n + 4] = (uint8_t)(t->client_name_len | (t->client_v6 ? SEG_STR_EXT_V6 : 0));
	if (t->client_name_len)
		memcpy(out + n + 5, t->client_name, t->client_name_len);
	n += 5 + t->client_name_len;
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

int seg_str_view(const struct seg_entry *e, const uint8_t *p, uint64_t avail,
		 struct seg_str_view *v)
{
	bool in_url = (e->flags & SEG_F_HOST_IN_URL) != 0;
	uint32_t base = in_url ? 0 : e->host_len, fixed = base + e->url_len;
	memset(v, 0, sizeof(*v));
	v->len = (e->flags & SEG_F_STR_EXT) ? fixed + 5 : fixed;
	if (avail < v->len || p == NULL)
		return -EAGAIN;
	if (e->flags & SEG_F_STR_EXT) {
		uint8_t cl = p[fixed + 4] & ~SEG_STR_EXT_V6;
		bool v6 = (p[fixed + 4] & SEG_STR_EXT_V6) != 0;
		if (cl > SEG_CLIENT_NAME_MAX)
			return -EBADMSG;
		v->len += cl + (v6 ? 16u : 0u);
		if (avail < v->len)
			return -EAGAIN;
		v->number = seg_get32(p + fixed);
		v->client_name_len = cl;
		v->client_name = (const char *)p + fixed + 5;
		v->client_v6 = v6 ? p + fixed + 5 + cl : NULL;
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
