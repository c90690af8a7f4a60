/*
 * tests/fuzz/cookie/cookie_fuzz.c - libFuzzer target for the cookie parsers
 * (tools/views/cookie.c): the same bytes go through the Set-Cookie parser, the
 * Cookie pair iterator, cookie-date, default-path and the head-field
 * iterator, copied into an exact-size heap block so that ASan catches any
 * read past them; every span returned must lie inside the input and
 * every result within its documented range.
 *
 * Built with -DRC_FUZZ_STANDALONE it is a deterministic smoke run (the
 * 'cookie_fuzz_smoke' test): inputs assembled from cookie tokens and
 * random bytes, so the normal suites exercise the target too.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/views/cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void in_input(struct rc_span s, const char *p, size_t n)
{
	assert(s.n == 0 || (s.p >= p && s.p + s.n <= p + n));
}

static void set_cookie(const char *p, size_t n)
{
	struct rc_setcookie c;
	if (rc_setcookie_parse(p, n, &c) != 0)
		return;
	in_input(c.name, p, n);
	in_input(c.value, p, n);
	assert(c.name.n > 0 && c.name.n + c.value.n <= RC_COOKIE_NAME_VALUE_MAX);
	assert(!c.has_domain || (c.domain.n > 0 && c.domain.n <= RC_COOKIE_ATTR_MAX));
	in_input(c.domain, p, n);
	assert(!c.has_path || (c.path.n > 0 && c.path.p[0] == '/' && c.path.n <= RC_COOKIE_ATTR_MAX));
	in_input(c.path, p, n);
	assert(c.same_site <= RC_SS_NONE);
	assert(!c.has_max_age || (c.max_age_s <= RC_COOKIE_MAX_AGE_MAX &&
				  c.max_age_s >= -RC_COOKIE_MAX_AGE_MAX));
	assert(!c.has_expires || (c.expires_s >= -11644473600ll && c.expires_s <= 253402300799ll));
}

static void others(const char *p, size_t n)
{
	struct rc_span name, value;
	size_t pos = 0, pairs = 0;
	while (rc_cookie_pair_next(p, n, &pos, &name, &value)) {
		in_input(name, p, n);
		in_input(value, p, n);
		assert(name.n > 0 && ++pairs <= n);
	}
	int64_t t;
	if (rc_cookie_date(p, n, &t) == 0)
		assert(t >= -11644473600ll && t <= 253402300799ll);
	struct rc_span d = rc_cookie_default_path(p, n);
	assert(d.n > 0 && d.p[0] == '/');
	assert((d.n == 1 && d.p[0] == '/') || (d.p >= p && d.p + d.n <= p + n));
	static const char *const names[] = { "cookie", "set-cookie" };
	for (int k = 0; k < 2; k++) {
		size_t lines = 0;
		pos = 0;
		while (rc_head_field_next(p, n, names[k], &pos, &value)) {
			in_input(value, p, n);
			assert(++lines <= n);
			set_cookie(value.p, value.n);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	set_cookie(p, size);
	others(p, size);
	free(p);
	return 0;
}

#ifdef RC_FUZZ_STANDALONE
#include <stdio.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	static const char *const tok[] = {
		"a", "=", ";", " ", "\t", "\r\n", "\n", "Expires=", "Max-Age=", "Domain=", "Path=",
		"Secure", "HttpOnly", "SameSite=", "Lax", "Strict", "None", ".", "/", "-", "0", "9",
		"31", "1994", "69", "Feb", "Nov", "08:49:37", "GMT", "http://", "?", "#",
		"Set-Cookie:", "Cookie:", "GET / HTTP/1.1", "99999999999999999999", "\"",
	};
	static uint8_t buf[4096];
	for (int it = 0; it < 200000; it++) {
		size_t n = 0, parts = next() % 40;
		for (size_t k = 0; k < parts && n < sizeof(buf) - 64; k++) {
			if (next() % 8 == 0) {
				buf[n++] = (uint8_t)next();
				continue;
			}
			const char *t = tok[next() % (sizeof(tok) / sizeof(tok[0]))];
			memcpy(buf + n, t, strlen(t));
			n += strlen(t);
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("cookie fuzz smoke: 200000 inputs\n");
	return 0;
}
#endif
