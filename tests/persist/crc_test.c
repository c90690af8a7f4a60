/* tests/persist/crc_test.c: seg_crc32c against a bit-at-a-time reference
 * on the check value, every length around the three-lane loops' edges
 * (persist/crc32c.c: lanes of 8192, 2048, 512 and 128 bytes), unaligned
 * starts, and in pieces (a running crc continued over the rest equals the
 * crc of the whole); seg_crc32c_copy the same, its copy byte-exact and
 * nothing written outside it, at every alignment of source and target.
 * All of it twice: on the three chains and on the folding path
 * (VPCLMULQDQ, from 512 bytes) where the CPU has it.
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

/* Everything, on the path seg_crc32c_fold chose. */
static void check_all(void)
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
	/* every lane length's edges, and the copy */
	uint8_t *d = malloc(cap + 16);
	REQUIRE(d != NULL);
	const size_t lanes[] = { 128, 512, 2048, 8192, 512 / 3, 256 / 3 + 86, 1024 / 3 };
	for (size_t l = 0; l < sizeof(lanes) / sizeof(lanes[0]); l++)
		for (size_t n = 3 * lanes[l] - 9; n <= 3 * lanes[l] + 9; n++)
			for (size_t o = 0; o < 8; o++) {
				size_t to = (o * 5 + n) % 8;
				uint32_t want = ref(0x5A5A5A5Au, b + o, n);
				CHECK_MSG(seg_crc32c(0x5A5A5A5Au, b + o, n) == want, "length %zu", n);
				memset(d, 0xEE, n + 16);
				CHECK_MSG(seg_crc32c_copy(0x5A5A5A5Au, d + to, b + o, n) == want,
					  "copy of %zu at +%zu to +%zu", n, o, to);
				CHECK_MSG(memcmp(d + to, b + o, n) == 0, "copy of %zu bytes", n);
				CHECK_EQ(d[to + n], 0xEE);
				CHECK(to == 0 || d[to - 1] == 0xEE);
			}
	for (size_t n = 0; n <= 40; n++) {
		CHECK_EQ(seg_crc32c_copy(7, d + 3, b, n), ref(7, b, n));
		CHECK(memcmp(d + 3, b, n) == 0);
	}
	CHECK_EQ(seg_crc32c_copy(seg_crc32c_copy(0, d, b, 1000), d + 1000, b + 1000, 16384 - 1000),
		 seg_crc32c(0, b, 16384));
	CHECK_EQ(seg_crc32c_copy(0, d + 1, b, 1u << 20), ref(0, b, 1u << 20));
	CHECK(memcmp(d + 1, b, 1u << 20) == 0);
	free(d);
	/* a running value other than 0 goes through the lanes too */
	CHECK_EQ(seg_crc32c(0x12345678u, b, 5 * lane + 3), ref(0x12345678u, b, 5 * lane + 3));
	free(b);
}

int main(void)
{
	seg_crc32c_fold(false); /* the three chains (and the byte table without SSE4.2) */
	check_all();
	seg_crc32c_fold(true); /* folding, where the CPU has VPCLMULQDQ */
	check_all();
	return check_done("persist_crc");
}
