/*
 * tools/views/cookie.c - cookie line parsers (RFC 6265 section 5, with the size
 * limits of RFC 6265bis). Everything here reads peer bytes: no function
 * trusts a length or a delimiter, every loop is bounded by the input, and
 * whatever is malformed is skipped the way RFC 6265 tells a browser to.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "tools/views/cookie.h"

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static struct rc_span trim(const char *p, size_t n)
{
	while (n > 0 && is_wsp(p[0])) {
		p++;
		n--;
	}
	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	return (struct rc_span){ p, n };
}

static bool span_is(struct rc_span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

static size_t find(const char *s, size_t from, size_t n, char c)
{
	const char *q = from < n ? memchr(s + from, c, n - from) : NULL;
	return q ? (size_t)(q - s) : n;
}

/* RFC 6265 5.2.2: a leading '-' or DIGIT, then DIGITs only. */
static bool parse_max_age(struct rc_span v, int64_t *out)
{
	if (v.n == 0 || (!is_digit(v.p[0]) && v.p[0] != '-'))
		return false;
	bool neg = v.p[0] == '-';
	size_t i = neg ? 1 : 0;
	if (i == v.n)
		return false;
	int64_t x = 0;
	for (; i < v.n; i++) {
		if (!is_digit(v.p[i]))
			return false;
		if (x < RC_COOKIE_MAX_AGE_MAX)
			x = x * 10 + (v.p[i] - '0');
	}
	if (x > RC_COOKIE_MAX_AGE_MAX)
		x = RC_COOKIE_MAX_AGE_MAX;
	*out = neg ? -x : x;
	return true;
}

static void apply_attr(struct rc_span an, struct rc_span av, struct rc_setcookie *c)
{
	if (av.n > RC_COOKIE_ATTR_MAX)
		return; /* RFC 6265bis 5.7 step 4: ignore the attribute */
	if (span_is(an, "expires")) {
		int64_t t;
		if (rc_cookie_date(av.p, av.n, &t) == 0) {
			c->has_expires = true;
			c->expires_s = t;
		}
	} else if (span_is(an, "max-age")) {
		int64_t t;
		if (parse_max_age(av, &t)) {
			c->has_max_age = true;
			c->max_age_s = t;
		}
	} else if (span_is(an, "domain")) {
		if (av.n > 0 && av.p[0] == '.') {
			av.p++;
			av.n--;
		}
		if (av.n == 0)
			return; /* RFC 6265 5.2.3: an empty Domain is ignored entirely */
		c->has_domain = true;
		c->domain = av;
	} else if (span_is(an, "path")) {
		/* a value not starting with '/' means the default-path */
		c->has_path = av.n > 0 && av.p[0] == '/';
		c->path = c->has_path ? av : (struct rc_span){ 0 };
	} else if (span_is(an, "secure")) {
		c->secure = true;
	} else if (span_is(an, "httponly")) {
		c->http_only = true;
	} else if (span_is(an, "samesite")) {
		c->same_site = span_is(av, "strict") ? RC_SS_STRICT : span_is(av, "lax") ? RC_SS_LAX :
			       span_is(av, "none") ? RC_SS_NONE : RC_SS_UNSET;
	}
}

int rc_setcookie_parse(const char *s, size_t n, struct rc_setcookie *out)
{
	memset(out, 0, sizeof(*out));
	size_t semi = find(s, 0, n, ';');
	size_t eq = find(s, 0, semi, '=');
	if (eq == semi)
		return -EBADMSG;
	out->name = trim(s, eq);
	out->value = trim(s + eq + 1, semi - eq - 1);
	if (out->name.n == 0 || out->name.n + out->value.n > RC_COOKIE_NAME_VALUE_MAX)
		return -EBADMSG;
	size_t pos = semi;
	while (pos < n) { /* pos strictly increases: bounded by n */
		size_t start = pos + 1;
		size_t end = find(s, start, n, ';');
		size_t aeq = find(s, start, end, '=');
		struct rc_span an = trim(s + start, aeq - start);
		struct rc_span av = aeq < end ? trim(s + aeq + 1, end - aeq - 1) : (struct rc_span){ 0 };
		apply_attr(an, av, out);
		pos = end;
	}
	return 0;
}

int rc_cookie_pair_next(const char *s, size_t n, size_t *pos, struct rc_span *name,
			struct rc_span *value)
{
	while (*pos < n) {
		size_t start = *pos;
		size_t end = find(s, start, n, ';');
		*pos = end < n ? end + 1 : n;
		size_t eq = find(s, start, end, '=');
		if (eq == end)
			continue;
		*name = trim(s + start, eq - start);
		*value = trim(s + eq + 1, end - eq - 1);
		if (name->n > 0 && name->n + value->n <= RC_COOKIE_NAME_VALUE_MAX)
			return 1;
	}
	return 0;
}

/* ---- cookie-date (RFC 6265 5.1.1) ---- */

/* delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E */
static bool is_delim(unsigned char c)
{
	return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
	       (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* min..max DIGITs at t[*i], then the end or a non-digit. */
static bool digits(const char *t, size_t n, size_t *i, unsigned min, unsigned max, int *v)
{
	unsigned k = 0;
	*v = 0;
	while (*i < n && is_digit(t[*i]) && k < max) {
		*v = *v * 10 + (t[*i] - '0');
		(*i)++;
		k++;
	}
	return k >= min && (*i == n || !is_digit(t[*i]));
}

/* hms-time = 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT, then a non-digit or end. */
static bool match_time(const char *t, size_t n, int *h, int *m, int *sec)
{
	size_t i = 0;
	if (!digits(t, n, &i, 1, 2, h) || i >= n || t[i++] != ':')
		return false;
	if (!digits(t, n, &i, 1, 2, m) || i >= n || t[i++] != ':')
		return false;
	return digits(t, n, &i, 1, 2, sec);
}

static int match_month(const char *t, size_t n)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	if (n < 3)
		return 0;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(t, names + 3 * m, 3) == 0)
			return m + 1;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

struct cdate {
	bool time, mday, month, year;
	int h, mi, s, d, mo, y;
};

static void date_token(const char *t, size_t n, struct cdate *c)
{
	size_t i = 0;
	int v;
	if (!c->time && match_time(t, n, &c->h, &c->mi, &c->s))
		c->time = true;
	else if (!c->mday && digits(t, n, &i, 1, 2, &v)) {
		c->mday = true;
		c->d = v;
	} else if (!c->month && (v = match_month(t, n)) != 0) {
		c->month = true;
		c->mo = v;
	} else if (!c->year && (i = 0, digits(t, n, &i, 2, 4, &v))) {
		c->year = true;
		c->y = v;
	}
}

int rc_cookie_date(const char *s, size_t n, int64_t *out)
{
	struct cdate c = {0};
	size_t i = 0;
	while (i < n) {
		while (i < n && is_delim((unsigned char)s[i]))
			i++;
		size_t start = i;
		while (i < n && !is_delim((unsigned char)s[i]))
			i++;
		if (i > start)
			date_token(s + start, i - start, &c);
	}
	if (c.year && c.y >= 70 && c.y <= 99)
		c.y += 1900;
	else if (c.year && c.y >= 0 && c.y <= 69)
		c.y += 2000;
	if (!c.time || !c.mday || !c.month || !c.year)
		return -EBADMSG;
	if (c.d < 1 || c.d > days_in_month(c.y, c.mo) || c.y < 1601 || c.h > 23 || c.mi > 59 ||
	    c.s > 59)
		return -EBADMSG;
	*out = days_from_civil(c.y, c.mo, c.d) * 86400 + c.h * 3600 + c.mi * 60 + c.s;
	return 0;
}

struct rc_span rc_cookie_default_path(const char *url, size_t n)
{
	static const struct rc_span root = { "/", 1 };
	size_t start = 0;
	if (n == 0)
		return root;
	if (url[0] != '/') {
		const char *sep = n >= 3 ? memmem(url, n, "://", 3) : NULL;
		if (sep == NULL)
			return root;
		start = (size_t)(sep - url) + 3;
		while (start < n && url[start] != '/' && url[start] != '?' && url[start] != '#')
			start++;
		if (start == n || url[start] != '/')
			return root;
	}
	size_t end = start;
	while (end < n && url[end] != '?' && url[end] != '#')
		end++;
	size_t last = start; /* right-most '/' of the path */
	for (size_t i = start; i < end; i++)
		if (url[i] == '/')
			last = i;
	if (last == start)
		return root;
	return (struct rc_span){ url + start, last - start };
}

int rc_head_field_next(const char *head, size_t n, const char *name, size_t *pos,
		       struct rc_span *value)
{
	size_t nl = strlen(name);
	if (*pos == 0) /* the request or status line */
		*pos = find(head, 0, n, '\n') + 1;
	while (*pos < n) {
		size_t ls = *pos;
		size_t le = find(head, ls, n, '\n');
		*pos = le + 1;
		if (le > ls && head[le - 1] == '\r')
			le--;
		if (le == ls) { /* the blank line: end of the head */
			*pos = n;
			return 0;
		}
		if (le - ls > nl && head[ls + nl] == ':' && strncasecmp(head + ls, name, nl) == 0) {
			*value = trim(head + ls + nl + 1, le - ls - nl - 1);
			return 1;
		}
	}
	return 0;
}
