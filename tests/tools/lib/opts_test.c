/* tests/tools/lib/opts_test.c - option value parsers: sizes, durations, addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "engine/eng.h"
#include "tools/lib/opts.h"
#include "tests/check.h"

/* Long on purpose: a list of independent cases, read top to bottom. */
int main(void)
{
	char err[256];
	uint64_t v;
	CHECK(rc_parse_size("4096", &v, err, sizeof(err)) == 0 && v == 4096);
	CHECK(rc_parse_size("32k", &v, err, sizeof(err)) == 0 && v == 32768);
	CHECK(rc_parse_size("16M", &v, err, sizeof(err)) == 0 && v == 16u << 20);
	CHECK(rc_parse_size("1GiB", &v, err, sizeof(err)) == 0 && v == 1u << 30);
	CHECK(rc_parse_size("", &v, err, sizeof(err)) < 0);
	CHECK(rc_parse_size("12q", &v, err, sizeof(err)) < 0 && strstr(err, "'12q'"));
	CHECK(rc_parse_size("99999999999999999999", &v, err, sizeof(err)) < 0);
	CHECK(rc_parse_size("18446744073709551615k", &v, err, sizeof(err)) < 0);
	CHECK(rc_parse_duration_ms("500ms", &v, err, sizeof(err)) == 0 && v == 500);
	CHECK(rc_parse_duration_ms("10s", &v, err, sizeof(err)) == 0 && v == 10000);
	CHECK(rc_parse_duration_ms("2m", &v, err, sizeof(err)) == 0 && v == 120000);
	CHECK(rc_parse_duration_ms("10", &v, err, sizeof(err)) < 0);
	CHECK(rc_parse_duration_ms("s", &v, err, sizeof(err)) < 0);
	CHECK(rc_parse_uint("12", &v, err, sizeof(err)) == 0 && v == 12);
	CHECK(rc_parse_uint("-1", &v, err, sizeof(err)) < 0);
	CHECK(rc_parse_uint("1 ", &v, err, sizeof(err)) < 0);

	struct sockaddr_storage a;
	socklen_t len;
	CHECK(rc_parse_addr("127.0.0.1:5559", &a, &len, err, sizeof(err)) == 0);
	CHECK(a.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&a)->sin_port) == 5559);
	CHECK(rc_parse_addr(":80", &a, &len, err, sizeof(err)) == 0);
	CHECK(((struct sockaddr_in *)&a)->sin_addr.s_addr == htonl(INADDR_ANY));
	CHECK(rc_parse_addr("[::1]:443", &a, &len, err, sizeof(err)) == 0 && a.ss_family == AF_INET6);
	CHECK(rc_parse_addr("localhost:1", &a, &len, err, sizeof(err)) == 0);
	const char *bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "1.2.3.4:65536",
			      "[::1]443", "host.example:80", "1.2.3:80x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(rc_parse_addr(bad[i], &a, &len, err, sizeof(err)) < 0);
	struct eng_cidr cidr[4];
	CHECK(rc_parse_cidr("10.0.0.0/8", &cidr[0], err, sizeof(err)) == 0 && cidr[0].bits == 8);
	CHECK(rc_parse_cidr("192.168.1.7", &cidr[1], err, sizeof(err)) == 0 && cidr[1].bits == 32);
	CHECK(rc_parse_cidr("fd00::/8", &cidr[2], err, sizeof(err)) == 0 && cidr[2].family == AF_INET6);
	CHECK(rc_parse_cidr("::1", &cidr[3], err, sizeof(err)) == 0 && cidr[3].bits == 128);
	const char *badc[] = { "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "x/8", "", "::1/129", "10.0.0.0/8x" };
	for (size_t i = 0; i < sizeof(badc) / sizeof(badc[0]); i++) {
		struct eng_cidr tmp;
		CHECK(rc_parse_cidr(badc[i], &tmp, err, sizeof(err)) < 0);
	}
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	in4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.8.7", &in4->sin_addr);
	CHECK(eng_cidr_match(cidr, 4, &ss));
	inet_pton(AF_INET, "11.0.0.1", &in4->sin_addr);
	CHECK(!eng_cidr_match(cidr, 4, &ss));
	inet_pton(AF_INET, "192.168.1.7", &in4->sin_addr);
	CHECK(eng_cidr_match(cidr, 4, &ss));
	inet_pton(AF_INET, "192.168.1.8", &in4->sin_addr);
	CHECK(!eng_cidr_match(cidr, 4, &ss));
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6->sin6_addr);   /* v4-mapped */
	CHECK(eng_cidr_match(cidr, 4, &ss));
	inet_pton(AF_INET6, "fdab::1", &in6->sin6_addr);
	CHECK(eng_cidr_match(cidr, 4, &ss));
	inet_pton(AF_INET6, "2001:db8::1", &in6->sin6_addr);
	CHECK(!eng_cidr_match(cidr, 4, &ss));
	/* the defaults: loopback and private, never a public address */
	struct eng_config c;
	eng_config_defaults(&c);
	inet_pton(AF_INET6, "::1", &in6->sin6_addr);
	CHECK(eng_cidr_match(c.allow, c.nallow, &ss));
	memset(&ss, 0, sizeof(ss));
	in4->sin_family = AF_INET;
	inet_pton(AF_INET, "172.20.0.5", &in4->sin_addr);
	CHECK(eng_cidr_match(c.allow, c.nallow, &ss));
	inet_pton(AF_INET, "8.8.8.8", &in4->sin_addr);
	CHECK(!eng_cidr_match(c.allow, c.nallow, &ss));
	return check_done("opts_test");
}
