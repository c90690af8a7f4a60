/*
 * tools/control/ui.c - lookup of the web UI's embedded assets (see ui.h):
 * content negotiation (gzip when accepted), conditional requests (304 on a
 * matching ETag) and the security headers every asset carries. Pure: no
 * I/O, no allocation; the HTTP server sends what this decides.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tools/control/ui.h"

#define UI_LIST_MAX 64u    /* list members looked at in one header value (a browser
			    * sends 3-5 codings and one tag; a longer list is a peer's
			    * game, and the rest of it is ignored) */

bool rc_ui_is_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
	       strncmp(path, "/ui/", 4) == 0;
}

/* Skips optional white space (RFC 9110 5.6.3). */
static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The q value of one Accept-Encoding member's parameters (after the
 * token): 1 when absent, 0 for "q=0", "q=0.0", "q=0.000". */
static bool q_positive(const char *p, const char *end)
{
	for (const char *s = p; s < end; s++) {
		if (*s != ';')
			continue;
		const char *v = skip_ows(s + 1);
		if ((v[0] != 'q' && v[0] != 'Q') || v[1] != '=')
			continue;
		v += 2;
		if (*v != '0')
			return true;
		for (v++; v < end && (*v == '.' || *v == '0'); v++)
			;
		return v < end && *v >= '1' && *v <= '9';
	}
	return true;
}

bool rc_ui_accepts(const char *ae, const char *coding)
{
	if (ae == NULL)
		return false;
	size_t clen = strlen(coding);
	const char *p = ae;
	for (unsigned i = 0; i < UI_LIST_MAX && *p; i++) {
		p = skip_ows(p);
		const char *end = p + strcspn(p, ",");
		size_t tlen = strcspn(p, ";, \t");
		bool named = (tlen == clen && strncasecmp(p, coding, clen) == 0) ||
			     (tlen == 1 && p[0] == '*');
		if (named)
			return q_positive(p + tlen, end);
		p = *end ? end + 1 : end;
	}
	return false;
}

bool rc_ui_etag_matches(const char *inm, const char *etag)
{
	if (inm == NULL)
		return false;
	size_t elen = strlen(etag);
	const char *p = inm;
	for (unsigned i = 0; i < UI_LIST_MAX && *p; i++) {
		p = skip_ows(p);
		if (p[0] == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;   /* weak comparison, as If-None-Match asks (RFC 9110 13.1.2) */
		size_t tlen = strcspn(p, ", \t");
		if (tlen == elen && memcmp(p, etag, elen) == 0)
			return true;
		p += tlen;
		p += strspn(p, " \t");
		p += *p == ',';
	}
	return false;
}

/* The embedded file for path ("/" is the page), NULL when none. A linear
 * scan: a dozen files, compared by exact bytes (no "..", no decoding). */
static const struct rc_ui_asset *find(const char *path)
{
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		path = "/ui/index.html";
	for (unsigned i = 0; i < rc_ui_assets_n; i++)
		if (strcmp(rc_ui_assets[i].path, path) == 0)
			return &rc_ui_assets[i];
	return NULL;
}

int rc_ui_lookup(const char *path, const char *ae, const char *inm, struct rc_ui_reply *r)
{
	*r = (struct rc_ui_reply){ .status = 404, .ctype = "text/plain; charset=utf-8" };
	const struct rc_ui_asset *a = find(path);
	if (a == NULL)
		return r->status;
	r->gzip = a->gz != NULL && rc_ui_accepts(ae, "gzip");
	r->etag = r->gzip ? a->etag_gz : a->etag;
	r->ctype = a->ctype;
	if (rc_ui_etag_matches(inm, r->etag)) {
		r->status = 304;
		return r->status;
	}
	r->status = 200;
	r->body = r->gzip ? (const void *)a->gz : (const void *)a->data;
	r->len = r->gzip ? a->gz_len : a->len;
	return r->status;
}

unsigned rc_ui_header_pairs(const struct rc_ui_reply *r, const char *name[RC_UI_HEADERS_N],
			    const char *value[RC_UI_HEADERS_N])
{
	unsigned n = 0;
	name[n] = "Content-Security-Policy", value[n++] = RC_UI_CSP;
	name[n] = "X-Content-Type-Options", value[n++] = "nosniff";
	name[n] = "Referrer-Policy", value[n++] = "no-referrer";
	if (r->etag == NULL) {
		name[n] = "Cache-Control", value[n++] = "no-store";
		return n;
	}
	name[n] = "Cache-Control", value[n++] = "no-cache";
	name[n] = "Vary", value[n++] = "Accept-Encoding";
	name[n] = "ETag", value[n++] = r->etag;
	if (r->gzip && r->status == 200)
		name[n] = "Content-Encoding", value[n++] = "gzip";
	return n;
}

int rc_ui_headers(const struct rc_ui_reply *r, char *out, size_t cap)
{
	const char *name[RC_UI_HEADERS_N], *value[RC_UI_HEADERS_N];
	unsigned n = rc_ui_header_pairs(r, name, value);
	size_t len = 0;
	for (unsigned i = 0; i < n; i++) {
		int k = snprintf(out + len, cap - len, "%s: %s\r\n", name[i], value[i]);
		if (k < 0 || (size_t)k >= cap - len)
			return -ENOSPC;
		len += (size_t)k;
	}
	return (int)len;
}
