/*
 * tools/views/export_sort.c - a stable external sort of fixed-size records
 * by the two 64-bit keys in their first sixteen bytes (see export-int.h): the
 * collection writer's folder and item order for any number of rows in
 * bounded memory.
 *
 * Records are buffered up to half of mem_max; a full buffer is sorted
 * (a stable radix sort of (keys, index) triples, then the records gathered
 * in that order) and appended to an unlinked temporary file as a run.
 * Reading merges the runs, ties going to the earlier run: the order is
 * that of a stable sort of everything added. When nothing was spilled
 * the buffer is read in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/views/export-int.h"

/* Records read from one run at a time during the merge (bytes). */
#define XSORT_RUN_BUF (64u << 10)

struct xs_pair {
	uint64_t key[2]; /* key, key2 */
	uint64_t i;
};

struct xs_run {
	uint64_t next, end; /* byte offsets in the file */
	uint8_t *buf;
	size_t n, at;       /* records in buf, next one */
};

struct rc_xsort {
	size_t rec, cap, n;      /* record size, records a run holds, held */
	size_t recs_cap;         /* records allocated (grows up to cap) */
	uint8_t *recs, *out;     /* held records; their sorted copy */
	struct xs_pair *pairs, *tmp;
	size_t mem_at;           /* reading in place: next record */
	FILE *f;
	struct xs_run *runs;
	size_t nruns, runs_cap;
	uint64_t size;           /* bytes in the file */
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

int rc_xsort_new(size_t rec_size, size_t mem_max, struct rc_xsort **out)
{
	struct rc_xsort *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->rec = rec_size;
	/* the records twice (held and gathered) and two pair arrays */
	s->cap = mem_max / 2 / (2 * rec_size + 2 * sizeof(struct xs_pair));
	s->cap = s->cap < 64 ? 64 : s->cap;
	*out = s;
	return 0;
}

/* Stable radix sort of the pairs by key, 16 bits a pass (constant digits
 * skipped), then the records gathered into s->out. The sort's buffers are
 * sized to what is held and freed by the caller (free_sort). */
static int sort_held(struct rc_xsort *s)
{
	size_t n = s->n ? s->n : 1;
	uint32_t *cnt = malloc(65536 * sizeof(*cnt));
	free(s->out);
	s->out = malloc(n * s->rec);
	s->pairs = malloc(n * sizeof(*s->pairs));
	s->tmp = malloc(n * sizeof(*s->tmp));
	if (cnt == NULL || !s->out || !s->pairs || !s->tmp) {
		free(cnt);
		return -ENOMEM;
	}
	struct xs_pair *src = s->pairs, *dst = s->tmp;
	for (size_t i = 0; i < s->n; i++)
		src[i] = (struct xs_pair){ { key_of(s->recs + i * s->rec, 0),
					     key_of(s->recs + i * s->rec, 1) }, i };
	/* LSD: key2's digits first, then key's */
	for (int pass = 0; pass < 8 && s->n > 0; pass++) {
		int w = pass < 4 ? 1 : 0, shift = 16 * (pass % 4);
		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < s->n; i++)
			cnt[(src[i].key[w] >> shift) & 0xffff]++;
		if (cnt[(src[0].key[w] >> shift) & 0xffff] == s->n)
			continue;
		uint32_t sum = 0;
		for (uint32_t d = 0; d < 65536; d++) {
			uint32_t c = cnt[d];
			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < s->n; i++)
			dst[cnt[(src[i].key[w] >> shift) & 0xffff]++] = src[i];
		struct xs_pair *sw = src;
		src = dst;
		dst = sw;
	}
	free(cnt);
	for (size_t i = 0; i < s->n; i++)
		memcpy(s->out + i * s->rec, s->recs + src[i].i * s->rec, s->rec);
	free(s->pairs);
	free(s->tmp);
	s->pairs = s->tmp = NULL;
	return 0;
}

static FILE *tmp_file(void)
{
	const char *d = getenv("TMPDIR");
	int fd = open(d && *d ? d : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return tmpfile();
	FILE *f = fdopen(fd, "w+b");
	if (f == NULL)
		close(fd);
	return f;
}

static int spill(struct rc_xsort *s)
{
	if (s->f == NULL && (s->f = tmp_file()) == NULL)
		return -EIO;
	int rc = sort_held(s);
	if (rc < 0)
		return rc;
	if (s->nruns == s->runs_cap) {
		size_t nc = s->runs_cap ? 2 * s->runs_cap : 8;
		struct xs_run *v = realloc(s->runs, nc * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->runs = v;
		s->runs_cap = nc;
	}
	size_t wrote = fwrite(s->out, s->rec, s->n, s->f);
	free(s->out);
	s->out = NULL;
	if (wrote != s->n)
		return -EIO;
	s->runs[s->nruns++] = (struct xs_run){ .next = s->size, .end = s->size + s->n * s->rec };
	s->size += s->n * s->rec;
	s->n = 0;
	return 0;
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
	if (s->nruns == 0) {
		int rc = sort_held(s);
		free(s->recs);   /* read from s->out from now on */
		s->recs = NULL;
		return rc;
	}
	int rc = s->n ? spill(s) : 0;
	if (rc == 0 && fflush(s->f) != 0)
		rc = -EIO;
	size_t per = XSORT_RUN_BUF / s->rec ? XSORT_RUN_BUF / s->rec : 1;
	for (size_t i = 0; i < s->nruns && rc == 0; i++) {
		s->runs[i].buf = malloc(per * s->rec);
		if (s->runs[i].buf == NULL)
			rc = -ENOMEM;
	}
	/* everything is on disk: the buffers go back before the merge */
	free(s->recs);
	free(s->out);
	free(s->pairs);
	free(s->tmp);
	s->recs = s->out = NULL;
	s->pairs = s->tmp = NULL;
	return rc;
}

static bool run_fill(struct rc_xsort *s, struct xs_run *r, int *err)
{
	size_t per = XSORT_RUN_BUF / s->rec ? XSORT_RUN_BUF / s->rec : 1;
	uint64_t left = (r->end - r->next) / s->rec;
	size_t n = (size_t)(left < per ? left : per);
	if (n == 0)
		return false;
	if (pread(fileno(s->f), r->buf, n * s->rec, (off_t)r->next) != (ssize_t)(n * s->rec)) {
		*err = -EIO;
		return false;
	}
	r->next += n * s->rec;
	r->n = n;
	r->at = 0;
	return true;
}

int rc_xsort_next(struct rc_xsort *s, void *rec)
{
	if (s->nruns == 0) {
		if (s->mem_at >= s->n)
			return 0;
		memcpy(rec, s->out + s->mem_at++ * s->rec, s->rec);
		return 1;
	}
	struct xs_run *best = NULL;
	int err = 0;
	for (size_t i = 0; i < s->nruns; i++) {
		struct xs_run *r = &s->runs[i];
		if (r->at == r->n && !run_fill(s, r, &err)) {
			if (err)
				return err;
			continue;
		}
		if (best == NULL || keys_before(r->buf + r->at * s->rec,
						 best->buf + best->at * s->rec))
			best = r;
	}
	if (best == NULL)
		return 0;
	memcpy(rec, best->buf + best->at++ * s->rec, s->rec);
	return 1;
}

void rc_xsort_free(struct rc_xsort *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nruns; i++)
		free(s->runs[i].buf);
	free(s->runs);
	free(s->recs);
	free(s->out);
	free(s->pairs);
	free(s->tmp);
	if (s->f)
		fclose(s->f);
	free(s);
}
