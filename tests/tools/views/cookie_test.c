/* tests/tools/views/cookie_test.c: the cookie line parsers (tools/cookie.c)
 * against RFC 6265's rules, case by case: every Set-Cookie attribute,
 * the last-one-wins and ignore rules, the cookie-date forms (RFC 1123,
 * RFC 850, asctime, sloppy) and impossible dates, Max-Age edge cases,
 * size limits, Cookie pairs, default-path, header-line iteration. Every
 * input is also parsed from the very end of a page whose successor is
 * unmapped, and every prefix of it, so a read past the input faults.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tools/views/cookie.h"
#include "tests/check.h"

static char *guard_page;
static size_t page;

/* s copied so that its last byte is the last readable byte. */
static const char *at_guard(const char *s, size_t n)
{
	REQUIRE(n <= page);
	char *p = guard_page + page - n;
	memcpy(p, s, n);
	return p;
}

static bool span_eq(struct rc_span s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static int parse(const char *s, struct rc_setcookie *c)
{
	size_t n = strlen(s);
	struct rc_setcookie tmp;
	for (size_t k = 0; k < n; k++) /* every prefix: must not crash or over-read */
		(void)rc_setcookie_parse(at_guard(s, k), k, &tmp);
	return rc_setcookie_parse(at_guard(s, n), n, c);
}

static void set_cookie_cases(void)
{
	struct rc_setcookie c;
	CHECK(parse("SID=31d4d96e407aad42; Path=/; Secure; HttpOnly", &c) == 0);
	CHECK(span_eq(c.name, "SID") && span_eq(c.value, "31d4d96e407aad42"));
	CHECK(c.has_path && span_eq(c.path, "/") && c.secure && c.http_only);
	CHECK(!c.has_domain && !c.has_expires && !c.has_max_age && c.same_site == RC_SS_UNSET);

	CHECK(parse(" lang = en-US ;Expires=Wed, 09 Jun 2021 10:18:14 GMT", &c) == 0);
	CHECK(span_eq(c.name, "lang") && span_eq(c.value, "en-US"));
	CHECK(c.has_expires && c.expires_s == 1623233894);

	CHECK(parse("a=b; Max-Age=3600; Domain=.Example.COM; SameSite=Lax", &c) == 0);
	CHECK(c.has_max_age && c.max_age_s == 3600 && c.has_domain && span_eq(c.domain, "Example.COM"));
	CHECK(c.same_site == RC_SS_LAX);
	CHECK(parse("a=b; samesite=STRICT; HTTPONLY; sEcUrE", &c) == 0);
	CHECK(c.same_site == RC_SS_STRICT && c.http_only && c.secure);
	CHECK(parse("a=b; SameSite=None; SameSite=bogus", &c) == 0 && c.same_site == RC_SS_UNSET);
	CHECK(parse("a=b; SameSite=none", &c) == 0 && c.same_site == RC_SS_NONE);

	/* Max-Age: '-' or digit first, digits only; saturated */
	CHECK(parse("a=b; max-age=-5", &c) == 0 && c.has_max_age && c.max_age_s == -5);
	CHECK(parse("a=b; Max-Age=12x", &c) == 0 && !c.has_max_age);
	CHECK(parse("a=b; Max-Age=", &c) == 0 && !c.has_max_age);
	CHECK(parse("a=b; Max-Age=-", &c) == 0 && !c.has_max_age);
	CHECK(parse("a=b; Max-Age=+5", &c) == 0 && !c.has_max_age);
	CHECK(parse("a=b; Max-Age=10; Max-Age=junk", &c) == 0 && c.max_age_s == 10);
	CHECK(parse("a=b; Max-Age=99999999999999999999999999", &c) == 0);
	CHECK(c.max_age_s == RC_COOKIE_MAX_AGE_MAX);

	/* the whole line is ignored without '=' or with an empty name */
	CHECK(parse("noequals", &c) == -EBADMSG);
	CHECK(parse("noequals; a=b", &c) == -EBADMSG);
	CHECK(parse("=value", &c) == -EBADMSG);
	CHECK(parse(" \t=v; Path=/", &c) == -EBADMSG);
	CHECK(parse("", &c) == -EBADMSG);
	CHECK(parse("a=", &c) == 0 && span_eq(c.value, ""));
	CHECK(parse("a==b=", &c) == 0 && span_eq(c.name, "a") && span_eq(c.value, "=b="));
	CHECK(parse("q=\"quoted value\"", &c) == 0 && span_eq(c.value, "\"quoted value\""));

	/* Path: last wins; not starting with '/' means the default-path */
	CHECK(parse("a=b; Path=/x; Path=/y", &c) == 0 && span_eq(c.path, "/y"));
	CHECK(parse("a=b; Path=/x; Path=relative", &c) == 0 && !c.has_path);
	CHECK(parse("a=b; Path=", &c) == 0 && !c.has_path);
	/* Domain: an empty value is ignored, the earlier one stays */
	CHECK(parse("a=b; Domain=x.com; Domain=", &c) == 0 && span_eq(c.domain, "x.com"));
	CHECK(parse("a=b; Domain=.", &c) == 0 && !c.has_domain);
	CHECK(parse("a=b;;; ;Secure;=x;Unknown=1;HttpOnly=yes", &c) == 0 && c.secure && c.http_only);

	/* RFC 6265bis size limits */
	static char big[6000];
	memset(big, 'v', sizeof(big) - 1);
	memcpy(big, "n=", 2);
	big[4096 + 1] = '\0'; /* name 1 + value 4095 = 4096: kept */
	CHECK(parse(big, &c) == 0 && c.value.n == 4095);
	big[4096 + 1] = 'v';
	big[4096 + 2] = '\0';
	CHECK(parse(big, &c) == -EBADMSG);
	snprintf(big, sizeof(big), "a=b; Path=/%01100d", 0);
	CHECK(parse(big, &c) == 0 && !c.has_path);
	snprintf(big, sizeof(big), "a=b; Path=/%01022d", 0); /* value 1023 bytes */
	CHECK(parse(big, &c) == 0 && c.has_path && c.path.n == 1023);
}

static int64_t date(const char *s)
{
	int64_t t = -1;
	size_t n = strlen(s);
	for (size_t k = 0; k < n; k++)
		(void)rc_cookie_date(at_guard(s, k), k, &t);
	t = -1;
	return rc_cookie_date(at_guard(s, n), n, &t) == 0 ? t : -999;
}

static void date_cases(void)
{
	CHECK(date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);   /* RFC 1123 */
	CHECK(date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);  /* RFC 850 */
	CHECK(date("Sun Nov  6 08:49:37 1994") == 784111777);        /* asctime */
	CHECK(date("06 nov 1994 8:49:37") == 784111777);
	CHECK(date("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
	CHECK(date("Sat, 01 Jan 2000 00:00:00") == 946684800);
	CHECK(date("Tue, 29 Feb 2000 12:00:00 GMT") == 951825600);   /* leap year */
	CHECK(date("Fri, 31 Dec 9999 23:59:59 GMT") == 253402300799);
	CHECK(date("Mon, 01 Jan 1601 00:00:00 GMT") == -11644473600);
	CHECK(date("Thu, 01 Jan 69 00:00:00 GMT") == 3124224000);    /* 69 -> 2069 */
	CHECK(date("Wed, 31 Feb 2021 10:00:00 GMT") == -999);
	CHECK(date("Mon, 29 Feb 2100 10:00:00 GMT") == -999);        /* not a leap year */
	CHECK(date("Wed, 09 Jun 2021 24:00:00 GMT") == -999);
	CHECK(date("Wed, 09 Jun 2021 10:60:00 GMT") == -999);
	CHECK(date("Wed, 00 Jun 2021 10:00:00 GMT") == -999);
	CHECK(date("Wed, 09 Jun 1600 10:00:00 GMT") == -999);
	CHECK(date("Wed, 09 Jun 10:00:00 GMT") == -999);             /* no year */
	CHECK(date("Wed, 09 2021 10:00:00 GMT") == -999);            /* no month */
	CHECK(date("Wed, 09 Jun 2021 GMT") == -999);                 /* no time */
	CHECK(date("Wed, 009 Jun 2021 10:00:00") == -999);
	CHECK(date("junk") == -999 && date("") == -999);
	CHECK(date("99999999999 Jun 2021 10:00:00") == -999);
}

static void pairs_and_paths(void)
{
	const char *s = "a=1; b=2;c=3 ; noeq; =x; d=;  e = 5 ";
	size_t n = strlen(s), pos = 0;
	const char *g = at_guard(s, n);
	struct rc_span name, value;
	const char *want[][2] = { { "a", "1" }, { "b", "2" }, { "c", "3" }, { "d", "" }, { "e", "5" } };
	for (size_t i = 0; i < 5; i++) {
		CHECK(rc_cookie_pair_next(g, n, &pos, &name, &value) == 1);
		CHECK(span_eq(name, want[i][0]) && span_eq(value, want[i][1]));
	}
	CHECK(rc_cookie_pair_next(g, n, &pos, &name, &value) == 0);
	CHECK(rc_cookie_pair_next(g, n, &pos, &name, &value) == 0);

	const char *paths[][2] = {
		{ "http://h/a/b?q=/x/y", "/a" }, { "http://h/a/?x", "/a" }, { "http://h", "/" },
		{ "http://h?x/y", "/" }, { "/only", "/" }, { "/a/b/c", "/a/b" }, { "", "/" },
		{ "host:443", "/" }, { "http://h/a#frag/x", "/" }, { "https://h:8443/x/y/z.html", "/x/y" },
		{ "relative/path", "/" }, { "http://", "/" }, { "//", "/" },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		size_t len = strlen(paths[i][0]);
		struct rc_span p = rc_cookie_default_path(at_guard(paths[i][0], len), len);
		if (!span_eq(p, paths[i][1]))
			fprintf(stderr, "default path of '%s': '%.*s'\n", paths[i][0], (int)p.n, p.p);
		CHECK(span_eq(p, paths[i][1]));
	}
}

static void head_fields(void)
{
	const char *h = "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\ncookie:b=2 \r\nX-Cookie: no\r\n"
			"Cookie2: no\r\nCOOKIE:\r\n\nCookie: after-end\r\n";
	size_t n = strlen(h), pos = 0;
	const char *g = at_guard(h, n);
	struct rc_span v;
	CHECK(rc_head_field_next(g, n, "cookie", &pos, &v) == 1 && span_eq(v, "a=1"));
	CHECK(rc_head_field_next(g, n, "cookie", &pos, &v) == 1 && span_eq(v, "b=2"));
	CHECK(rc_head_field_next(g, n, "cookie", &pos, &v) == 1 && span_eq(v, ""));
	CHECK(rc_head_field_next(g, n, "cookie", &pos, &v) == 0); /* blank line ends the head */
	/* the first line is never a field, even when it looks like one */
	const char *s = "Set-Cookie: x=1\nSet-Cookie: y=2";
	n = strlen(s);
	pos = 0;
	g = at_guard(s, n);
	CHECK(rc_head_field_next(g, n, "set-cookie", &pos, &v) == 1 && span_eq(v, "y=2"));
	CHECK(rc_head_field_next(g, n, "set-cookie", &pos, &v) == 0);
	for (size_t k = 0; k <= strlen(h); k++) { /* every prefix */
		pos = 0;
		g = at_guard(h, k);
		for (int i = 0; i < 10 && rc_head_field_next(g, k, "cookie", &pos, &v); i++)
			REQUIRE(v.p >= g && v.p + v.n <= g + k);
	}
	pos = 0;
	CHECK(rc_head_field_next(at_guard("", 0), 0, "cookie", &pos, &v) == 0);
}

int main(void)
{
	/* 16 KiB readable (the size cases need 6000 bytes), then a guard page */
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	page = (16384 + pg - 1) / pg * pg;
	char *m = mmap(NULL, page + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK(mprotect(m + page, pg, PROT_NONE) == 0);
	guard_page = m;
	set_cookie_cases();
	date_cases();
	pairs_and_paths();
	head_fields();
	munmap(m, page + pg);
	return check_done("cookie");
}
