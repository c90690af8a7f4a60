/*
 * tools/views/export_sort.c - a stable external sort of fixed-size records
 * by the two 64-bit keys in their first sixteen bytes (see export-int.h): the
 * collection writer's folder and item order for any number of rows in
 * bounded memory.
 *
 * Records are buffered up to half of mem_max; a full buffer is sorted
 * (a stable radix sort of (keys, index) triples, then the records gathered
 * in that order) and appended to an unlinked temporary file as a run
 * (persist/spill.h, the spill and merge of every external sort of ours).
 * Reading merges the runs, ties going to the earlier run: the order is
 * that of a stable sort of everything added. When nothing was spilled
 * the buffer is read in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "persist/spill.h"
#include "tools/views/export-int.h"

/* Records read from one run at a time during the merge (bytes). */
#define XSORT_RUN_BUF (64u << 10)

/* One key of a held record and the record's index (seg_radix_sort16). */
struct xs_pair {
	uint64_t key;
	uint64_t i;
};
_Static_assert(sizeof(struct xs_pair) == 16, "pairs sort with seg_radix_sort16");

struct rc_xsort {
	size_t rec, cap, n;      /* record size, records a run holds, held */
	size_t recs_cap;         /* records allocated (grows up to cap) */
	uint8_t *recs, *out;     /* held records; their sorted copy */
	struct xs_pair *pairs;      /* during a sort */
	size_t mem_at;           /* reading in place: next record */
	struct seg_spill sp;     /* the runs */
	bool reading;
};

static uint64_t key_of(const uint8_t *p, int which)
{
	uint64_t k;
	memcpy(&k, p + 8 * which, sizeof(k));
	return k;
}

/* a before b in (key, key2) order */
static bool keys_before(const uint8_t *a, const uint8_t *b)
{
	uint64_t x = key_of(a, 0), y = key_of(b, 0);
	if (x != y)
		return x < y;
	return key_of(a, 1) < key_of(b, 1);
}

/* spill.h's before: strict, so ties go to the earlier run */
static bool rec_before(const uint8_t *a, const uint8_t *b, void *ctx)
{
	(void)ctx;
	return keys_before(a, b);
}

int rc_xsort_new(size_t rec_size, size_t mem_max, struct rc_xsort **out)
{
	struct rc_xsort *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->rec = rec_size;
	s->sp = (struct seg_spill){ .rec_size = rec_size, .before = rec_before };
	/* the records twice (held and gathered) and two pair arrays */
	s->cap = mem_max / 2 / (2 * rec_size + 2 * sizeof(struct xs_pair));
	s->cap = s->cap < 64 ? 64 : s->cap;
	*out = s;
	return 0;
}

/* Stable sort of the held records by (key, key2): the pairs sorted by
 * key2, then, stably, by key (persist/spill.h's radix sort each time), then
 * the records gathered into s->out. */
static int sort_held(struct rc_xsort *s)
{
	size_t n = s->n ? s->n : 1;
	free(s->out);
	s->out = malloc(n * s->rec);
	s->pairs = malloc(n * sizeof(*s->pairs));
	if (!s->out || !s->pairs)
		return -ENOMEM;
	struct xs_pair *v = s->pairs;
	for (size_t i = 0; i < s->n; i++)
		v[i] = (struct xs_pair){ key_of(s->recs + i * s->rec, 1), i };
	int rc = seg_radix_sort16(v, s->n);
	for (size_t i = 0; i < s->n && rc == 0; i++)
		v[i].key = key_of(s->recs + v[i].i * s->rec, 0);
	rc = rc ? rc : seg_radix_sort16(v, s->n);
	for (size_t i = 0; i < s->n && rc == 0; i++)
		memcpy(s->out + i * s->rec, s->recs + v[i].i * s->rec, s->rec);
	free(s->pairs);
	s->pairs = NULL;
	return rc;
}

static int spill(struct rc_xsort *s)
{
	int rc = sort_held(s);
	if (rc == 0)
		rc = seg_spill_put(&s->sp, s->out, s->n * s->rec);
	free(s->out);
	s->out = NULL;
	s->n = 0;
	return rc < 0 ? rc : seg_spill_end_run(&s->sp);
}

int rc_xsort_add(struct rc_xsort *s, const void *rec)
{
	if (s->n == s->recs_cap && s->recs_cap < s->cap) {
		size_t nc = s->recs_cap ? 2 * s->recs_cap : 256;
		nc = nc < s->cap ? nc : s->cap;
		uint8_t *v = realloc(s->recs, nc * s->rec);
		if (v == NULL)
			return -ENOMEM;
		s->recs = v;
		s->recs_cap = nc;
	}
	if (s->n == s->recs_cap) {
		int rc = spill(s);
		if (rc < 0)
			return rc;
	}
	memcpy(s->recs + s->n++ * s->rec, rec, s->rec);
	return 0;
}

int rc_xsort_finish(struct rc_xsort *s)
{
	s->reading = true;
	if (s->sp.nruns == 0) {
		int rc = sort_held(s);
		free(s->recs);   /* read from s->out from now on */
		s->recs = NULL;
		return rc;
	}
	int rc = s->n ? spill(s) : 0;
	size_t per = XSORT_RUN_BUF / s->rec ? XSORT_RUN_BUF / s->rec : 1;
	if (rc == 0)
		rc = seg_spill_merge(&s->sp, per * s->rec);
	/* everything is on disk: the buffers go back before the merge */
	free(s->recs);
	free(s->out);
	free(s->pairs);
	s->recs = s->out = NULL;
	s->pairs = NULL;
	return rc;
}

int rc_xsort_next(struct rc_xsort *s, void *rec)
{
	if (s->sp.nruns == 0) {
		if (s->mem_at >= s->n)
			return 0;
		memcpy(rec, s->out + s->mem_at++ * s->rec, s->rec);
		return 1;
	}
	const uint8_t *p;
	size_t len;
	int rc = seg_spill_next(&s->sp, &p, &len);
	if (rc == 1)
		memcpy(rec, p, s->rec);
	return rc;
}

void rc_xsort_free(struct rc_xsort *s)
{
	if (s == NULL)
		return;
	seg_spill_free(&s->sp);
	free(s->recs);
	free(s->out);
	free(s->pairs);
	free(s);
}
