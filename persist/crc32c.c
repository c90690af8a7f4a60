/* persist/crc32c.c: crc32c (Castagnoli, reflected polynomial 0x82F63B78),
 * the checksum of every frame, entry, header and tombstone on disk.
 *
 * On x86-64 with SSE4.2 the crc32 instruction does 8 bytes at a time; one
 * chain of them is bound by its latency (3 cycles), so long buffers run
 * three independent chains over three consecutive lanes of L bytes and
 * join them: the register after lane A then lane B is the register after
 * A moved over L zero bytes, xor the register of B alone from 0 (the
 * update is linear). Moving over L zero bytes is a fixed linear map of the
 * 32-bit register, tabulated by byte (lane_op, built once from the
 * one-byte table) for a few lane lengths, longest first, so that pieces
 * of a few KiB (a received buffer's body chunk) take the three chains too.
 * Measured with 1 MiB random bodies captured: crc32c was 10 % of the
 * proxy's CPU with one chain.
 *
 * Where the CPU has VPCLMULQDQ (carry-less multiply on 256-bit registers),
 * buffers of FOLD_MIN bytes or more are folded instead: eight 32-byte
 * accumulators, each 16-byte half moved 256 bytes on per step by two
 * carry-less multiplies with x^(2048+32) and x^(2048-32) mod P (Intel,
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", the
 * reflected case), then joined 32 bytes at a time and the last 32 bytes run
 * through the crc32 instruction from 0, which reduces them. Twice the rate
 * of the three chains (16 against 8 bytes a cycle).
 *
 * seg_crc32c_copy does the same while copying the bytes: the segment
 * writer's body chunks are checksummed as they go into the open frame,
 * from the received buffer that is still in cache, instead of reading the
 * frame again when it is sealed.
 * Elsewhere: the byte table.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "persist/seg.h"

#define CRC_POLY 0x82F63B78u
/* Lane lengths of the three-chain loop, longest first: the longest makes
 * joining the chains (8 table lookups per join) noise on big buffers, the
 * shortest lets a 1 KiB piece use three chains. 4 KiB of table each. */
#define CRC_SIZES 4
static const uint32_t lane_bytes[CRC_SIZES] = { 8192, 2048, 512, 128 };

static uint32_t crc_table[256];
static uint32_t lane_op[CRC_SIZES][4][256]; /* the register moved over a lane of zeros */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Folding (VPCLMULQDQ): from FOLD_MIN bytes, 256 bytes a step. */
#define FOLD_MIN 512u
static bool use_fold;
static uint64_t fold_256[2], fold_32[2]; /* the constants to move 16 bytes on by 256, 32 */

static uint32_t zero_bytes(uint32_t crc, size_t n)
{
	while (n--)
		crc = crc_table[crc & 0xff] ^ (crc >> 8);
	return crc;
}

/* x^n mod P, in the normal (not reflected) bit order. */
static uint32_t xpow_mod(uint32_t n)
{
	uint64_t r = 1;
	while (n--) {
		r <<= 1;
		if (r >> 32)
			r ^= 0x11EDC6F41ull; /* P with its x^32 term */
	}
	return (uint32_t)r;
}

/* A fold constant: x^n mod P bit-reflected, shifted left by one (the
 * carry-less product of two reflected values lands one bit low). */
static uint64_t fold_const(uint32_t n)
{
	uint32_t c = xpow_mod(n), r = 0;
	for (int i = 0; i < 32; i++)
		r |= (c >> i & 1u) << (31 - i);
	return (uint64_t)r << 1;
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC_POLY : c >> 1;
		crc_table[i] = c;
	}
	for (int s = 0; s < CRC_SIZES; s++) {
		uint32_t bit[32];
		for (int j = 0; j < 32; j++)
			bit[j] = zero_bytes(1u << j, lane_bytes[s]);
		for (int k = 0; k < 4; k++)
			for (uint32_t b = 0; b < 256; b++) {
				uint32_t v = 0;
				for (int j = 0; j < 8; j++)
					if (b >> j & 1)
						v ^= bit[8 * k + j];
				lane_op[s][k][b] = v;
			}
	}
	/* a 16-byte half's first 8 bytes are the higher powers: x^(F+32) */
	fold_256[0] = fold_const(2048 + 32), fold_256[1] = fold_const(2048 - 32);
	fold_32[0] = fold_const(256 + 32), fold_32[1] = fold_const(256 - 32);
#if defined(__x86_64__)
	use_fold = __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("avx2") &&
		   __builtin_cpu_supports("sse4.2");
#endif
}

/* The register moved over a lane of zeros of lane_bytes[s]. */
static uint32_t lane_shift(int s, uint32_t c)
{
	return lane_op[s][0][c & 0xff] ^ lane_op[s][1][c >> 8 & 0xff] ^
	       lane_op[s][2][c >> 16 & 0xff] ^ lane_op[s][3][c >> 24];
}

#if defined(__x86_64__)
/* Three chains over the three lanes of l bytes at p, each 8-byte word
 * also stored at d unless d is NULL. */
__attribute__((target("sse4.2"), always_inline)) static inline uint64_t
lanes3(uint64_t c, const uint8_t *p, uint8_t *d, int s)
{
	const size_t l = lane_bytes[s];
	uint64_t c1 = 0, c2 = 0;
	for (size_t i = 0; i < l; i += 8) {
		uint64_t v0, v1, v2;
		memcpy(&v0, p + i, 8);
		memcpy(&v1, p + l + i, 8);
		memcpy(&v2, p + 2 * l + i, 8);
		c = __builtin_ia32_crc32di(c, v0);
		c1 = __builtin_ia32_crc32di(c1, v1);
		c2 = __builtin_ia32_crc32di(c2, v2);
		if (d) {
			memcpy(d + i, &v0, 8);
			memcpy(d + l + i, &v1, 8);
			memcpy(d + 2 * l + i, &v2, 8);
		}
	}
	return lane_shift(s, lane_shift(s, (uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
}

#define FOLD_TARGET __attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2")))

/* Both 16-byte halves of x moved on by the distance of k, xor y. */
FOLD_TARGET static inline __m256i fold(__m256i x, __m256i k, __m256i y)
{
	__m256i lo = _mm256_clmulepi64_epi128(x, k, 0x00);
	__m256i hi = _mm256_clmulepi64_epi128(x, k, 0x11);
	return _mm256_xor_si256(_mm256_xor_si256(lo, hi), y);
}

/* A 32-byte load from p, also stored at d unless d is NULL. */
FOLD_TARGET static inline __m256i take(const uint8_t *p, uint8_t *d)
{
	__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
	if (d)
		_mm256_storeu_si256((__m256i *)(void *)d, v);
	return v;
}

/* The register (not inverted) over the first n / 32 * 32 bytes at p
 * (n >= FOLD_MIN), copied to d unless d is NULL; *done says how many. */
FOLD_TARGET static inline uint32_t fold_run(uint32_t crc, const uint8_t *p, size_t n,
					    uint8_t *d, size_t *done)
{
	const __m256i k256 = _mm256_set_epi64x((long long)fold_256[1], (long long)fold_256[0],
					       (long long)fold_256[1], (long long)fold_256[0]);
	const __m256i k32 = _mm256_set_epi64x((long long)fold_32[1], (long long)fold_32[0],
					      (long long)fold_32[1], (long long)fold_32[0]);
	__m256i a[8];
	size_t at = 0;
	for (int i = 0; i < 8; i++)
		a[i] = take(p + 32 * i, d ? d + 32 * i : NULL);
	/* the register enters as the first four bytes xored into the message */
	a[0] = _mm256_xor_si256(a[0], _mm256_set_epi64x(0, 0, 0, (long long)crc));
	for (at = 256; n - at >= 256; at += 256)
		for (int i = 0; i < 8; i++)
			a[i] = fold(a[i], k256, take(p + at + 32 * i, d ? d + at + 32 * i : NULL));
	for (int i = 1; i < 8; i++)
		a[i] = fold(a[i - 1], k32, a[i]);
	__m256i x = a[7];
	for (; n - at >= 32; at += 32)
		x = fold(x, k32, take(p + at, d ? d + at : NULL));
	uint64_t q[4];
	_mm256_storeu_si256((__m256i *)(void *)q, x);
	uint64_t c = 0;
	for (int i = 0; i < 4; i++)
		c = __builtin_ia32_crc32di(c, q[i]);
	*done = at;
	return (uint32_t)c;
}

/* The register (not inverted) over n bytes at p, copied to d unless d is
 * NULL. */
__attribute__((target("sse4.2"), always_inline)) static inline uint32_t
crc_run(uint32_t crc, const uint8_t *p, size_t n, uint8_t *d)
{
	uint64_t c = crc;
	for (int s = 0; s < CRC_SIZES; s++)
		while (n >= 3 * (size_t)lane_bytes[s]) {
			c = lanes3(c, p, d, s);
			p += 3 * (size_t)lane_bytes[s];
			d = d ? d + 3 * (size_t)lane_bytes[s] : NULL;
			n -= 3 * (size_t)lane_bytes[s];
		}
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		if (d) {
			memcpy(d, &v, 8);
			d += 8;
		}
		p += 8;
		n -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	for (size_t i = 0; i < n; i++) {
		c32 = __builtin_ia32_crc32qi(c32, p[i]);
		if (d)
			d[i] = p[i];
	}
	return c32;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
							     size_t n, uint8_t *d)
{
	return d ? crc_run(crc, p, n, d) : crc_run(crc, p, n, NULL);
}

/* The same from FOLD_MIN bytes on a CPU with VPCLMULQDQ. */
FOLD_TARGET static uint32_t crc_fold(uint32_t crc, const uint8_t *p, size_t n, uint8_t *d)
{
	size_t done;
	crc = fold_run(crc, p, n, d, &done);
	if (d)
		return crc_run(crc, p + done, n - done, d + done);
	return crc_run(crc, p + done, n - done, NULL);
}

/* Which of the two: the register (not inverted) over n bytes at p,
 * copied to d unless d is NULL. */
static uint32_t crc_x86(uint32_t crc, const uint8_t *p, size_t n, uint8_t *d)
{
	if (use_fold && n >= FOLD_MIN)
		return crc_fold(crc, p, n, d);
	return crc_hw(crc, p, n, d);
}
#endif

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t seg_crc32c(uint32_t crc, const void *buf, size_t n)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_x86(~crc, buf, n, NULL);
#endif
	return ~crc_sw(~crc, buf, n);
}

uint32_t seg_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *p = src;
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_x86(~crc, p, n, d);
#endif
	memcpy(d, p, n);
	return ~crc_sw(~crc, p, n);
}

void seg_crc32c_fold(bool on)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	use_fold = on && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("avx2");
#else
	(void)on;
#endif
}
