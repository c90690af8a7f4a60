/*
 * tools/replay/hist.h - log-bucketed latency histogram (HdrHistogram's
 * layout with 64 sub-buckets per power of two: every recorded value is
 * kept within 1/64 = 1.6 % of itself), fixed size, no allocation, one per
 * loop thread, merged at the end. Values are nanoseconds.
 */
#ifndef RINGCAP_RP_HIST_H
#define RINGCAP_RP_HIST_H

#include <stdint.h>

#define RP_HIST_SUB_BITS 6u                    /* 64 sub-buckets: 1.6 % resolution */
#define RP_HIST_SUB (1u << RP_HIST_SUB_BITS)
#define RP_HIST_MAX_BITS 42u                   /* 2^42 ns = 73 min: above, clamped */
#define RP_HIST_BUCKETS ((RP_HIST_MAX_BITS - RP_HIST_SUB_BITS + 2u) * RP_HIST_SUB)

struct rp_hist {
	uint64_t n, max, min, sum;
	uint64_t counts[RP_HIST_BUCKETS];
};

void rp_hist_init(struct rp_hist *h);
void rp_hist_add(struct rp_hist *h, uint64_t v_ns);
/* Adds every count of src into dst. */
void rp_hist_merge(struct rp_hist *dst, const struct rp_hist *src);
/* Value at quantile q (0..1): the upper edge of the bucket holding the
 * q-th value, never above the exact maximum; 0 when empty. */
uint64_t rp_hist_quantile(const struct rp_hist *h, double q);
/* Bucket index of v and the largest value that bucket holds (tests). */
unsigned rp_hist_bucket(uint64_t v);
uint64_t rp_hist_bucket_top(unsigned b);

#endif
