/* tests/tools/opts_test.c - option value parsers: sizes, durations, addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "tools/opts.h"

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)

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
	if (failures)
		return 1;
	printf("opts_test: ok\n");
	return 0;
}
