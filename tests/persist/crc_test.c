/* tests/persist/crc_test.c: seg_crc32c against a bit-at-a-time reference
 * on the check value, every length around the three-lane loop's edges
 * (persist/crc32c.c), unaligned starts, and in pieces (a running crc
 * continued over the rest equals the crc of the whole).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persist/seg.h"
#include "tests/check.h"

static uint32_t ref(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

int main(void)
{
	CHECK_EQ(seg_crc32c(0, "123456789", 9), 0xE3069283u); /* the check value */
	CHECK_EQ(seg_crc32c(0, "", 0), 0u);
	size_t cap = (1u << 20) + 64;
	uint8_t *b = malloc(cap);
	REQUIRE(b != NULL);
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < cap; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	const size_t lane = 8192, lens[] = { 3 * lane - 1, 3 * lane, 3 * lane + 1, 3 * lane + 7,
					    6 * lane, 6 * lane + 13, 9 * lane - 8, 65536,
					    262144 + 3, 1u << 20 };
	for (size_t n = 0; n <= 200; n++)
		for (size_t o = 0; o < 8; o++)
			CHECK_EQ(seg_crc32c(0, b + o, n), ref(0, b + o, n));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t o = 0; o < 8; o += 3) {
			uint32_t whole = seg_crc32c(0, b + o, lens[i]);
			CHECK_MSG(whole == ref(0, b + o, lens[i]), "length %zu at +%zu", lens[i], o);
			size_t cut = lens[i] / 3 + o;
			CHECK_EQ(seg_crc32c(seg_crc32c(0, b + o, cut), b + o + cut, lens[i] - cut), whole);
		}
	/* a running value other than 0 goes through the lanes too */
	CHECK_EQ(seg_crc32c(0x12345678u, b, 5 * lane + 3), ref(0x12345678u, b, 5 * lane + 3));
	free(b);
	return check_done("persist_crc");
}
