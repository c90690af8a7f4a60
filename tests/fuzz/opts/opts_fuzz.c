/*
 * tests/fuzz/opts/opts_fuzz.c - libFuzzer target for the option value parsers
 * of tools/lib/opts.c: sizes, durations, integers, ADDR:PORT and the --allow
 * CIDR blocks. Byte 0 picks the parser; the rest is the value as getopt
 * passes it (NUL-terminated, cut at an embedded NUL). Checked: an error
 * always says something and names nothing past the buffer (ASan); an
 * accepted CIDR has a prefix within its family and no host bits set; an
 * accepted address has a family and a length that match.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng.h"
#include "tools/lib/opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cidr(const struct eng_cidr *c)
{
	unsigned max = c->family == AF_INET ? 32 : 128;
	if (c->family != AF_INET && c->family != AF_INET6)
		abort();
	if (c->bits > max)
		abort();
	for (unsigned i = c->bits; i < max; i++)
		if (c->addr[i / 8] & (0x80u >> (i % 8)))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	uint64_t v;
	struct eng_cidr cidr;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int rc;
	if (size < 1 || size > 4096)
		return 0;
	char *s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	err[0] = '\0';
	switch (data[0] % 5) {
	case 0:
		rc = rc_parse_size(s, &v, err, sizeof(err));
		break;
	case 1:
		rc = rc_parse_duration_ms(s, &v, err, sizeof(err));
		break;
	case 2:
		rc = rc_parse_uint(s, &v, err, sizeof(err));
		break;
	case 3:
		rc = rc_parse_addr(s, &ss, &len, err, sizeof(err));
		if (rc == 0 && !((ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
				 (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6))))
			abort();
		break;
	default:
		rc = rc_parse_cidr(s, &cidr, err, sizeof(err));
		if (rc == 0)
			check_cidr(&cidr);
		break;
	}
	if (rc != 0 && (rc != -EINVAL || err[0] == '\0'))
		abort();
	free(s);
	return 0;
}
