/*
 * tools/replay/diff.h - what a replayed answer is compared with: the
 * recorded status, body size and (with --diff-body) body hash. Pure: one
 * comparison in, flags out; the counts and first examples are kept in a
 * struct rp_diff per loop thread and merged for the report.
 */
#ifndef RINGCAP_RP_DIFF_H
#define RINGCAP_RP_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RP_DIFF_EXAMPLES 5u     /* first examples kept per kind */
#define RP_DIFF_URL_MAX 160u    /* an example's URL is cut to this (report line) */

enum rp_diff_kind { RP_DIFF_STATUS = 0, RP_DIFF_SIZE, RP_DIFF_BODY, RP_DIFF_KINDS };

/* What was recorded. body_known: the whole response body was stored, so
 * its size and hash are exact (not cut at the body cap, not a media type,
 * "save responses" on); otherwise size is the wire size and no hash. */
struct rp_expect {
	uint16_t status;       /* 0: no recorded response (nothing compared) */
	bool body_known;
	uint64_t size;         /* response body bytes */
	uint32_t hash;         /* crc32c of the body when body_known */
};

struct rp_got {
	uint16_t status;
	uint64_t size;         /* decoded body bytes received */
	uint32_t hash;         /* crc32c of them */
};

struct rp_diff_cfg {
	uint64_t size_tol;     /* --size-tolerance: bytes, or */
	double size_tol_pct;   /* ... percent of the recorded size (> 0 wins) */
	bool body;             /* --diff-body */
};

struct rp_diff_example {
	uint64_t id;
	uint64_t want, got;    /* status, size, or hash */
	char url[RP_DIFF_URL_MAX + 1];
};

struct rp_diff {
	uint64_t compared;                 /* answers that had a recording to compare */
	uint64_t same;                     /* ... and matched on every compared point */
	uint64_t count[RP_DIFF_KINDS];
	uint32_t nex[RP_DIFF_KINDS];
	struct rp_diff_example ex[RP_DIFF_KINDS][RP_DIFF_EXAMPLES];
};

/* Bit (1 << kind) for each difference of got against want; 0 = same. */
unsigned rp_diff_check(const struct rp_diff_cfg *c, const struct rp_expect *want,
		       const struct rp_got *got);
/* Checks and counts into d, keeping the first examples (id, url). */
unsigned rp_diff_add(struct rp_diff *d, const struct rp_diff_cfg *c, const struct rp_expect *want,
		     const struct rp_got *got, uint64_t id, const char *url, size_t url_len);
/* Adds src's counts into dst; examples fill dst's free places in order. */
void rp_diff_merge(struct rp_diff *dst, const struct rp_diff *src);
const char *rp_diff_kind_name(unsigned kind);

#endif
