/*
 * tools/replay/hist.c - log-bucketed histogram: values below 2^(SUB_BITS+1)
 * have a bucket each; above, bucket = (e + 1) * SUB + (v >> e) - SUB with
 * e = floor(log2 v) - SUB_BITS, so each power of two has SUB buckets.
 */
#include <string.h>

#include "tools/replay/hist.h"

void rp_hist_init(struct rp_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned rp_hist_bucket(uint64_t v)
{
	if (v < 2u * RP_HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v) - RP_HIST_SUB_BITS;
	if (e > RP_HIST_MAX_BITS - RP_HIST_SUB_BITS)
		return RP_HIST_BUCKETS - 1u;
	return (e + 1u) * RP_HIST_SUB + (unsigned)(v >> e) - RP_HIST_SUB;
}

uint64_t rp_hist_bucket_top(unsigned b)
{
	if (b < 2u * RP_HIST_SUB)
		return b;
	unsigned e = b / RP_HIST_SUB - 1u;
	uint64_t sub = b % RP_HIST_SUB + RP_HIST_SUB;
	return ((sub + 1u) << e) - 1u;
}

void rp_hist_add(struct rp_hist *h, uint64_t v)
{
	h->counts[rp_hist_bucket(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void rp_hist_merge(struct rp_hist *dst, const struct rp_hist *src)
{
	for (unsigned i = 0; i < RP_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}

uint64_t rp_hist_quantile(const struct rp_hist *h, double q)
{
	if (h->n == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	uint64_t rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1u;
	uint64_t seen = 0;
	for (unsigned i = 0; i < RP_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen > rank) {
			uint64_t top = rp_hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
