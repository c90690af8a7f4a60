/*
 * tools/replay/diff.c - comparison of a replayed answer with the recording.
 */
#include <string.h>

#include "tools/replay/diff.h"

static const char *const kind_names[RP_DIFF_KINDS] = { "status", "size", "body" };

const char *rp_diff_kind_name(unsigned kind)
{
	return kind < RP_DIFF_KINDS ? kind_names[kind] : "?";
}

static bool size_differs(const struct rp_diff_cfg *c, uint64_t want, uint64_t got)
{
	uint64_t d = want > got ? want - got : got - want;
	if (c->size_tol_pct > 0)
		return (double)d > (double)want * c->size_tol_pct / 100.0;
	return d > c->size_tol;
}

unsigned rp_diff_check(const struct rp_diff_cfg *c, const struct rp_expect *want,
		       const struct rp_got *got)
{
	if (want->status == 0)
		return 0;
	unsigned f = 0;
	if (want->status != got->status)
		f |= 1u << RP_DIFF_STATUS;
	if (size_differs(c, want->size, got->size))
		f |= 1u << RP_DIFF_SIZE;
	if (c->body && want->body_known && (want->hash != got->hash || want->size != got->size))
		f |= 1u << RP_DIFF_BODY;
	return f;
}

static void keep(struct rp_diff *d, unsigned k, uint64_t id, uint64_t want, uint64_t got,
		 const char *url, size_t url_len)
{
	if (d->nex[k] >= RP_DIFF_EXAMPLES)
		return;
	struct rp_diff_example *e = &d->ex[k][d->nex[k]++];
	e->id = id;
	e->want = want;
	e->got = got;
	if (url_len > RP_DIFF_URL_MAX)
		url_len = RP_DIFF_URL_MAX;
	memcpy(e->url, url, url_len);
	e->url[url_len] = '\0';
}

unsigned rp_diff_add(struct rp_diff *d, const struct rp_diff_cfg *c, const struct rp_expect *want,
		     const struct rp_got *got, uint64_t id, const char *url, size_t url_len)
{
	if (want->status == 0)
		return 0;
	unsigned f = rp_diff_check(c, want, got);
	d->compared++;
	if (f == 0) {
		d->same++;
		return 0;
	}
	const uint64_t w[RP_DIFF_KINDS] = { want->status, want->size, want->hash };
	const uint64_t g[RP_DIFF_KINDS] = { got->status, got->size, got->hash };
	for (unsigned k = 0; k < RP_DIFF_KINDS; k++) {
		if (!(f & (1u << k)))
			continue;
		d->count[k]++;
		keep(d, k, id, w[k], g[k], url, url_len);
	}
	return f;
}

void rp_diff_merge(struct rp_diff *dst, const struct rp_diff *src)
{
	dst->compared += src->compared;
	dst->same += src->same;
	for (unsigned k = 0; k < RP_DIFF_KINDS; k++) {
		dst->count[k] += src->count[k];
		for (uint32_t i = 0; i < src->nex[k] && dst->nex[k] < RP_DIFF_EXAMPLES; i++)
			dst->ex[k][dst->nex[k]++] = src->ex[k][i];
	}
}
