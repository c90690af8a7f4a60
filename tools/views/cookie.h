/*
 * tools/views/cookie.h - parsers for cookie header lines, RFC 6265 section 5:
 * a response `Set-Cookie` value (name, value and every attribute), the
 * pairs of a request `Cookie` value, the cookie-date of Expires, and the
 * default-path of a request URL. Pure functions over caller memory: no
 * allocation, every loop bounded by the input length, hostile input is
 * ignored the way a browser ignores it, never trusted.
 */
#ifndef RINGCAP_COOKIE_H
#define RINGCAP_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 6265bis (draft 13) section 5.6/5.7: a cookie whose name plus value
 * exceed 4096 octets is ignored, and so is an attribute value above 1024
 * octets; browsers enforce both, so a capture records what they keep. */
#define RC_COOKIE_NAME_VALUE_MAX 4096u
#define RC_COOKIE_ATTR_MAX 1024u
/* Max-Age beyond this many seconds (about 31,700 years) is saturated: the
 * value only has to stay far from int64 overflow when added to a time. */
#define RC_COOKIE_MAX_AGE_MAX 1000000000000ll

enum rc_same_site {
	RC_SS_UNSET = 0, /* no SameSite attribute, or a value no browser knows */
	RC_SS_STRICT,
	RC_SS_LAX,
	RC_SS_NONE,
};

/* A byte range of the parsed input (not NUL-terminated). */
struct rc_span {
	const char *p;
	size_t n;
};

/* One Set-Cookie line. Spans point into the parsed line. */
struct rc_setcookie {
	struct rc_span name, value;
	struct rc_span domain; /* Domain attribute, leading '.' removed (case kept) */
	struct rc_span path;   /* Path attribute when it starts with '/' */
	bool has_domain, has_path, has_expires, has_max_age;
	int64_t expires_s;     /* Expires as seconds since the epoch (may be < 0) */
	int64_t max_age_s;     /* Max-Age in seconds, <= 0 means "expire now" */
	bool http_only, secure;
	uint8_t same_site;     /* enum rc_same_site */
};

/* Parses a Set-Cookie field value (the text after "Set-Cookie:"), RFC 6265
 * 5.2: the last of each attribute wins, unknown or malformed attributes
 * are ignored. Returns 0, or -EBADMSG when a browser would ignore the
 * whole line (no '=' in the first pair, empty name, name + value above
 * RC_COOKIE_NAME_VALUE_MAX). */
int rc_setcookie_parse(const char *s, size_t n, struct rc_setcookie *out);

/* Iterates the "name=value" pairs of a Cookie field value: *pos starts at
 * 0. Returns 1 with a pair, 0 at the end. Pairs without '=' or with an
 * empty name are skipped (as in rc_setcookie_parse). */
int rc_cookie_pair_next(const char *s, size_t n, size_t *pos, struct rc_span *name,
			struct rc_span *value);

/* RFC 6265 5.1.1 cookie-date (what Expires holds: any HTTP-date form and
 * the common sloppy variants). Returns 0 with seconds since the epoch, or
 * -EBADMSG. */
int rc_cookie_date(const char *s, size_t n, int64_t *out);

/* RFC 6265 5.1.4 default-path of a request target: an absolute URL
 * ("http://h/a/b?q"), origin form ("/a/b") or anything else ("/"). The
 * result points into url, or at a static "/". */
struct rc_span rc_cookie_default_path(const char *url, size_t n);

/* Iterates the header lines of a raw head block (the first line, request
 * or status line, is skipped) whose name equals `name` (case-insensitive):
 * *pos starts at 0. Returns 1 with the value (optional whitespace
 * trimmed), 0 at the end. */
int rc_head_field_next(const char *head, size_t n, const char *name, size_t *pos,
		       struct rc_span *value);

#endif
