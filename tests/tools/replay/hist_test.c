/* tests/tools/replay/hist_test.c: the log-bucketed histogram. Every value
 * lands in a bucket whose top is within 1/64 above it (checked at every
 * power of two and around it, and on 100,000 random values); buckets are
 * contiguous and increasing; quantiles of a known distribution (1..100,000
 * ns once each) are within the resolution; the maximum is exact; a merge
 * equals recording everything in one histogram; huge values clamp. */
#include <stdint.h>
#include <string.h>

#include "tests/tools/replay/rp-test.h"
#include "tools/replay/hist.h"

static void check_value(uint64_t v)
{
	unsigned b = rp_hist_bucket(v);
	uint64_t top = rp_hist_bucket_top(b);
	CHECK(b < RP_HIST_BUCKETS);
	CHECK(top >= v);
	CHECK((double)(top - v) <= (double)v / 64.0 + 1.0);
	if (b > 0)
		CHECK(rp_hist_bucket_top(b - 1u) < v);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(void)
{
	for (uint64_t v = 0; v < 5000; v++)
		check_value(v);
	for (unsigned e = 7; e < RP_HIST_MAX_BITS; e++) {
		uint64_t p = 1ull << e;
		check_value(p - 1u);
		check_value(p);
		check_value(p + 1u);
	}
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (int i = 0; i < 100000; i++)
		check_value(rnd(&seed) >> (22 + rnd(&seed) % 40));
	for (unsigned b = 1; b < RP_HIST_BUCKETS; b++)
		CHECK(rp_hist_bucket_top(b) > rp_hist_bucket_top(b - 1u));

	static struct rp_hist h, a, c;
	rp_hist_init(&h);
	rp_hist_init(&a);
	rp_hist_init(&c);
	CHECK(rp_hist_quantile(&h, 0.5) == 0);
	for (uint64_t v = 1; v <= 100000; v++) {
		rp_hist_add(&h, v);
		rp_hist_add(v % 2 ? &a : &c, v);
	}
	CHECK(h.n == 100000);
	CHECK(h.max == 100000);
	CHECK(h.min == 1);
	const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
	for (unsigned i = 0; i < 4; i++) {
		double want = qs[i] * 100000.0;
		double got = (double)rp_hist_quantile(&h, qs[i]);
		CHECK(got >= want);
		CHECK(got <= want * (1.0 + 1.0 / 64.0) + 2.0);
	}
	CHECK(rp_hist_quantile(&h, 1.0) == 100000);
	rp_hist_merge(&a, &c);
	CHECK(memcmp(a.counts, h.counts, sizeof(h.counts)) == 0);
	CHECK(a.n == h.n && a.sum == h.sum);
	CHECK(a.max == h.max);
	CHECK(a.min == h.min);

	/* a single slow value: p99.9 of 999 fast ones and one slow one */
	static struct rp_hist s;
	rp_hist_init(&s);
	for (int i = 0; i < 999; i++)
		rp_hist_add(&s, 1000000);
	rp_hist_add(&s, 5000000000ull);
	CHECK(rp_hist_quantile(&s, 0.99) < 1020000);
	CHECK(rp_hist_quantile(&s, 0.999) == 5000000000ull);
	/* clamped: 2^50 ns lands in the last bucket, max stays exact */
	rp_hist_add(&s, 1ull << 50);
	CHECK(rp_hist_bucket(1ull << 50) == RP_HIST_BUCKETS - 1u);
	CHECK(s.max == 1ull << 50);
	return RP_TEST_END();
}
