/* persist/tsort.c: the external text sort of persist/tsort.h.
 *
 * A record, in memory and in the spill file (host byte order, unaligned):
 *   0  u64 id      the exchange id (tie-break after the text)
 *   8  u64 pos     the row's place in persist/scan.c (last tie-break)
 *  16  u32 hlen    host bytes that follow
 *  20  u32 ulen    URL bytes after the host
 *  24  host, url
 * Runs are written already in the output order (descending for reverse),
 * so the merge always takes the first record of the best run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "persist/spill.h"
#include "persist/tsort.h"
#include "rc-assert.h"

#define REC_HDR 24u

struct seg_tsort {
	bool reverse;
	size_t bytes_max;   /* records held before a spill */
	uint8_t *buf;       /* held records */
	size_t len, cap;
	uint64_t *offs;     /* offset of each held record in buf */
	size_t n, offs_cap;
	size_t mem_at;      /* reading in memory: next of offs */
	struct seg_spill sp; /* the runs (persist/spill.h) */
};

struct thdr {
	uint64_t id, pos;
	uint32_t hlen, ulen;
};

static struct thdr hdr_of(const uint8_t *p)
{
	struct thdr h;
	memcpy(&h.id, p, 8);
	memcpy(&h.pos, p + 8, 8);
	memcpy(&h.hlen, p + 16, 4);
	memcpy(&h.ulen, p + 20, 4);
	return h;
}

static size_t rec_len(const uint8_t *p)
{
	struct thdr h = hdr_of(p);
	return REC_HDR + (size_t)h.hlen + h.ulen;
}

static int text_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

/* Record order: host, URL, id, place (query.c's, made total). */
static int rec_cmp(const uint8_t *a, const uint8_t *b)
{
	struct thdr x = hdr_of(a), y = hdr_of(b);
	int c = text_cmp(a + REC_HDR, x.hlen, b + REC_HDR, y.hlen);
	if (c == 0)
		c = text_cmp(a + REC_HDR + x.hlen, x.ulen, b + REC_HDR + y.hlen, y.ulen);
	if (c == 0)
		c = (x.id > y.id) - (x.id < y.id);
	return c ? c : (x.pos > y.pos) - (x.pos < y.pos);
}

/* The merge's order: a before b in the output (spill.h's before). */
static bool rec_before(const uint8_t *a, const uint8_t *b, void *ctx)
{
	const struct seg_tsort *t = ctx;
	int c = rec_cmp(a, b);
	return t->reverse ? c > 0 : c < 0;
}

static int offs_cmp(const void *a, const void *b, void *ctx)
{
	const struct seg_tsort *t = ctx;
	int c = rec_cmp(t->buf + *(const uint64_t *)a, t->buf + *(const uint64_t *)b);
	return t->reverse ? -c : c;
}

int seg_tsort_new(size_t mem_max, bool reverse, struct seg_tsort **out)
{
	struct seg_tsort *t = calloc(1, sizeof(*t));
	*out = t;
	if (t == NULL)
		return -ENOMEM;
	t->reverse = reverse;
	t->sp = (struct seg_spill){ .rec_size = REC_HDR, .rec_len = rec_len,
				    .before = rec_before, .ctx = t };
	/* half for the records (at least one of the largest), the rest for
	 * their offsets and the sort */
	t->bytes_max = mem_max / 2 > SEG_TSORT_RUN_BUF ? mem_max / 2 : SEG_TSORT_RUN_BUF;
	return 0;
}

/* Sorts the held records and appends them to the file as one run. */
static int spill(struct seg_tsort *t)
{
	qsort_r(t->offs, t->n, sizeof(*t->offs), offs_cmp, t);
	for (size_t i = 0; i < t->n; i++) {
		const uint8_t *p = t->buf + t->offs[i];
		int rc = seg_spill_put(&t->sp, p, rec_len(p));
		if (rc < 0)
			return rc;
	}
	t->len = t->n = 0;
	return seg_spill_end_run(&t->sp);
}

/* Room for one more record of len bytes, growing by doubling up to the
 * bound; 0 or -ENOMEM. */
static int reserve(struct seg_tsort *t, size_t len)
{
	if (t->n == t->offs_cap) {
		size_t nc = t->offs_cap ? 2 * t->offs_cap : 1024;
		uint64_t *v = realloc(t->offs, nc * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		t->offs = v;
		t->offs_cap = nc;
	}
	if (t->len + len <= t->cap)
		return 0;
	size_t nc = t->cap ? 2 * t->cap : 65536;
	while (nc < t->len + len)
		nc *= 2;
	nc = nc < t->bytes_max ? nc : t->bytes_max;
	uint8_t *v = realloc(t->buf, nc);
	if (v == NULL)
		return -ENOMEM;
	t->buf = v;
	t->cap = nc;
	return 0;
}

int seg_tsort_add(struct seg_tsort *t, const char *host, uint32_t hlen, const char *url,
		  uint32_t ulen, uint64_t id, uint64_t pos)
{
	if (hlen > SEG_HOST_MAX || ulen > SEG_URL_MAX)
		return -EINVAL;
	size_t len = REC_HDR + (size_t)hlen + ulen;
	/* offsets count against the bound too: 8 bytes a record */
	if (t->n && t->len + len + 8 * (t->n + 1) > t->bytes_max) {
		int rc = spill(t);
		if (rc < 0)
			return rc;
	}
	int rc = reserve(t, len);
	if (rc < 0)
		return rc;
	uint8_t *p = t->buf + t->len;
	memcpy(p, &id, 8);
	memcpy(p + 8, &pos, 8);
	memcpy(p + 16, &hlen, 4);
	memcpy(p + 20, &ulen, 4);
	memcpy(p + REC_HDR, host, hlen);
	memcpy(p + REC_HDR + hlen, url, ulen);
	t->offs[t->n++] = t->len;
	t->len += len;
	return 0;
}

int seg_tsort_finish(struct seg_tsort *t)
{
	if (t->sp.nruns == 0) {
		if (t->n > 1)   /* none: offs may still be NULL, which qsort_r must not see */
			qsort_r(t->offs, t->n, sizeof(*t->offs), offs_cmp, t);
		return 0;
	}
	int rc = t->n ? spill(t) : 0;
	/* everything is on disk: the buffers go back before the merge */
	free(t->buf);
	free(t->offs);
	t->buf = NULL;
	t->offs = NULL;
	t->cap = t->offs_cap = 0;
	return rc < 0 ? rc : seg_spill_merge(&t->sp, SEG_TSORT_RUN_BUF);
}

int seg_tsort_next(struct seg_tsort *t, uint64_t *pos)
{
	if (t->sp.nruns == 0) {
		if (t->mem_at >= t->n)
			return 0;
		*pos = hdr_of(t->buf + t->offs[t->mem_at++]).pos;
		return 1;
	}
	const uint8_t *p;
	size_t len;
	int rc = seg_spill_next(&t->sp, &p, &len);
	if (rc == 1)
		*pos = hdr_of(p).pos;
	return rc;
}

size_t seg_tsort_runs(const struct seg_tsort *t) { return t->sp.nruns; }

void seg_tsort_free(struct seg_tsort *t)
{
	if (t == NULL)
		return;
	seg_spill_free(&t->sp);
	free(t->buf);
	free(t->offs);
	free(t);
}
