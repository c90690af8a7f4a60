/* name_test.c - host name normalization: case, brackets, trailing dot,
 * IP literals, and refusal of anything that must not reach a certificate. */
#include "tests/tls/tls-test.h"

static void check_ok(const char *in, const char *want)
{
	char out[TLS_NAME_MAX + 1];
	int n = tls_name_normalize(in, strlen(in), out);

	CHECK_EQ(n, (int)strlen(want));
	if (n > 0)
		CHECK_STR(out, want);
}

static void check_bad(const char *in, size_t len)
{
	char out[TLS_NAME_MAX + 1];

	CHECK_EQ(tls_name_normalize(in, len, out), -EINVAL);
}

int main(void)
{
	char longname[300];

	check_ok("Example.COM", "example.com");
	check_ok("example.com.", "example.com");
	check_ok("a_b-c.example", "a_b-c.example");
	check_ok("*.example.com", "*.example.com");
	check_ok("127.0.0.1", "127.0.0.1");
	check_ok("[::1]", "::1");
	check_ok("[2001:DB8::1]", "2001:db8::1");
	check_ok("localhost", "localhost");

	check_bad("", 0);
	check_bad(".", 1);
	check_bad("a..b", 4);
	check_bad(".a", 2);
	check_bad("a b", 3);
	check_bad("a/b", 3);
	check_bad("a\0b", 3);
	check_bad("a*.b", 4);
	check_bad("*", 1);
	check_bad("[::1", 4);
	check_bad("::zz", 4);
	check_bad("exa\"mple", 8);
	memset(longname, 'a', sizeof(longname));
	check_bad(longname, 254);
	check_bad(longname, 64); /* one label longer than 63 */
	for (int i = 63; i < 254; i += 64)
		longname[i] = '.';
	check_ok("a.b", "a.b");
	{
		char out[TLS_NAME_MAX + 1];

		CHECK_EQ(tls_name_normalize(longname, 253, out), 253);
	}

	CHECK(tls_name_is_ip("10.0.0.1"));
	CHECK(tls_name_is_ip("::1"));
	CHECK(!tls_name_is_ip("example.com"));
	CHECK(!tls_name_is_ip("10.0.0"));
	return check_done("name");
}
