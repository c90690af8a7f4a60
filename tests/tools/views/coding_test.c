/*
 * tests/tools/views/coding_test.c - Content-Encoding both ways for export
 * and import (tools/views/coding.h): gzip and deflate encoded then decoded
 * back byte-exact (empty, text, binary, 1 MiB); a stream recognized as
 * already coded only when it is one (gzip magic; a zlib stream inflating to
 * its end), so plain text that starts like a zlib header ("x ...") or a
 * stream cut short is not; br and zstd not encoded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/views/coding.h"
#include "tests/check.h"

static void round_trip(const char *ce, const uint8_t *p, size_t n)
{
	uint8_t *enc = NULL, *dec = NULL;
	bool cut = true;
	long e = rc_body_encode(ce, strlen(ce), p, n, &enc);
	REQUIRE(e > 0);
	CHECK(rc_body_coded(ce, strlen(ce), enc, (size_t)e));
	long d = rc_body_decode(ce, strlen(ce), enc, (size_t)e, n + 1, &dec, &cut);
	CHECK_EQ(d, (long)n);
	CHECK(!cut);
	CHECK(n == 0 || (dec && memcmp(dec, p, n) == 0));
	if (strcmp(ce, "deflate") == 0)   /* cut short: no longer one whole stream */
		CHECK(!rc_body_coded(ce, 7, enc, (size_t)e - 3));
	free(enc);
	free(dec);
}

int main(void)
{
	static const char text[] = "{\"words\": \"plain words plain words plain words\"}";
	size_t big = 1u << 20;
	uint8_t *bin = malloc(big);
	REQUIRE(bin != NULL);
	for (size_t i = 0; i < big; i++)
		bin[i] = (uint8_t)(i * 7919u >> 3);
	for (unsigned k = 0; k < 3; k++) {
		const char *ce = (const char *[]){ "gzip", "deflate", "x-gzip" }[k];
		round_trip(ce, (const uint8_t *)"", 0);
		round_trip(ce, (const uint8_t *)text, sizeof(text) - 1);
		round_trip(ce, bin, big);
	}
	/* plain text is not taken for a coded stream */
	CHECK(!rc_body_coded("gzip", 4, (const uint8_t *)text, sizeof(text) - 1));
	CHECK(!rc_body_coded("deflate", 7, (const uint8_t *)text, sizeof(text) - 1));
	/* "x " is a valid zlib header (0x78 0x20): still not a whole stream */
	CHECK(!rc_body_coded("deflate", 7, (const uint8_t *)"x marks the spot", 16));
	CHECK(!rc_body_coded("deflate", 7, (const uint8_t *)"x", 1));
	/* codings zlib does not speak */
	uint8_t *out = (uint8_t *)"unchanged";
	CHECK_EQ(rc_body_encode("br", 2, (const uint8_t *)text, 4, &out), -ENOTSUP);
	CHECK(out == NULL);
	CHECK_EQ(rc_body_encode("zstd", 4, (const uint8_t *)text, 4, &out), -ENOTSUP);
	CHECK(!rc_body_coded("br", 2, (const uint8_t *)text, 4));
	free(bin);
	return check_done("coding");
}
