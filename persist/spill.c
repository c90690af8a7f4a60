/* persist/spill.c: the runs of an external sort in an unlinked temporary
 * file, and their merge (persist/spill.h). A run's buffer is refilled when
 * it no longer holds a whole record: forward, the unread tail moves to the
 * front and the rest is read after it; in reverse (fixed-size records) the
 * buffer takes the buf_bytes before what was read last.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/spill.h"
#include "rc-assert.h"

/* The 16-bit digit at shift of the key of item i. */
static inline uint32_t digit(const uint8_t *v, size_t i, int shift)
{
	uint64_t k;
	memcpy(&k, v + 16 * i, sizeof(k));
	return (uint32_t)(k >> shift) & 0xffffu;
}

int seg_radix_sort16(void *v, size_t n)
{
	uint8_t *tmp = malloc((n ? n : 1) * 16);
	uint32_t *cnt = malloc(65536 * sizeof(*cnt));
	if (!tmp || !cnt) {
		free(tmp);
		free(cnt);
		return -ENOMEM;
	}
	uint8_t *src = v, *dst = tmp;
	for (int shift = 0; shift < 64 && n > 0; shift += 16) {
		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[digit(src, i, shift)]++;
		if (cnt[digit(src, 0, shift)] == n)
			continue;
		uint32_t sum = 0;
		for (uint32_t d = 0; d < 65536; d++) {
			uint32_t c = cnt[d];
			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			memcpy(dst + 16 * (size_t)cnt[digit(src, i, shift)]++, src + 16 * i, 16);
		uint8_t *sw = src;
		src = dst;
		dst = sw;
	}
	if (src != (uint8_t *)v)
		memcpy(v, src, n * 16);
	free(tmp);
	free(cnt);
	return 0;
}

FILE *seg_spill_tmp_file(void)
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

int seg_spill_put(struct seg_spill *sp, const void *p, size_t n)
{
	if (sp->f == NULL && (sp->f = seg_spill_tmp_file()) == NULL)
		return -EIO;
	if (n > 0 && fwrite(p, n, 1, sp->f) != 1)
		return -EIO;
	sp->size += n;
	return 0;
}

int seg_spill_end_run(struct seg_spill *sp)
{
	if (sp->nruns == sp->runs_cap) {
		size_t nc = sp->runs_cap ? 2 * sp->runs_cap : 8;
		struct seg_spill_run *v = realloc(sp->runs, nc * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		sp->runs = v;
		sp->runs_cap = nc;
	}
	sp->runs[sp->nruns++] = (struct seg_spill_run){ .start = sp->run_start, .end = sp->size };
	sp->run_start = sp->size;
	return 0;
}

int seg_spill_merge(struct seg_spill *sp, size_t buf_bytes)
{
	ASSERT(sp->rec_size > 0);
	ASSERT(buf_bytes >= sp->rec_size);
	if (sp->f && fflush(sp->f) != 0)
		return -EIO;
	sp->buf_bytes = buf_bytes;
	for (size_t i = 0; i < sp->nruns; i++) {
		struct seg_spill_run *r = &sp->runs[i];
		r->next = sp->reverse ? r->end : r->start;
		r->len = r->at = 0;
		if ((r->buf = malloc(buf_bytes)) == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* Reads into r's buffer in the merge's direction; 0 when the run is done,
 * n bytes now held, or -EIO. */
static ssize_t fill(struct seg_spill *sp, struct seg_spill_run *r)
{
	size_t have = sp->reverse ? 0 : r->len - r->at;
	uint64_t left = sp->reverse ? r->next - r->start : r->end - r->next;
	size_t room = sp->buf_bytes - have;
	size_t n = (size_t)(left < room ? left : room);
	if (n == 0)
		return 0;
	if (have)
		memmove(r->buf, r->buf + r->at, have);
	uint64_t from = sp->reverse ? r->next - n : r->next;
	if (pread(fileno(sp->f), r->buf + have, n, (off_t)from) != (ssize_t)n)
		return -EIO;
	r->next = sp->reverse ? from : from + n;
	r->len = have + n;
	r->at = 0;
	return (ssize_t)r->len;
}

/* The length of the record at p, of which avail bytes are held; 0 when
 * its header is not all there. */
static size_t rec_len(const struct seg_spill *sp, const uint8_t *p, size_t avail)
{
	if (avail < sp->rec_size)
		return 0;
	return sp->rec_len ? sp->rec_len(p) : sp->rec_size;
}

/* Run r's next record, reading more when its buffer does not hold a whole
 * one; NULL when the run is done (or on error, *err). */
static const uint8_t *head(struct seg_spill *sp, struct seg_spill_run *r, size_t *len, int *err)
{
	for (int tries = 0; tries < 2; tries++) {
		size_t avail = r->len - r->at;
		size_t back = avail >= sp->rec_size ? r->len - r->at - sp->rec_size : 0;
		const uint8_t *p = r->buf + (sp->reverse ? back : r->at);
		size_t n = rec_len(sp, p, avail);
		if (n > 0 && n <= avail) {
			*len = n;
			return p;
		}
		if (tries == 1)
			break;
		ssize_t got = fill(sp, r);
		if (got < 0)
			*err = (int)got;
		if (got <= 0) {
			if (got == 0 && avail > 0)
				*err = -EIO;   /* whole records went in: the file changed */
			return NULL;
		}
	}
	*err = -EIO;   /* a record longer than the buffer: not one that was put */
	return NULL;
}

int seg_spill_next(struct seg_spill *sp, const uint8_t **rec, size_t *len)
{
	struct seg_spill_run *best = NULL;
	const uint8_t *bp = NULL;
	size_t blen = 0;
	int err = 0;
	for (size_t i = 0; i < sp->nruns; i++) {
		size_t n;
		const uint8_t *p = head(sp, &sp->runs[i], &n, &err);
		if (err)
			return err;
		if (p == NULL)
			continue;
		if (best == NULL || sp->before(p, bp, sp->ctx)) {
			best = &sp->runs[i];
			bp = p;
			blen = n;
		}
	}
	if (best == NULL)
		return 0;
	best->at += blen;
	*rec = bp;
	*len = blen;
	return 1;
}

int seg_spill_fd(const struct seg_spill *sp)
{
	return sp->f ? fileno(sp->f) : -1;
}

void seg_spill_free(struct seg_spill *sp)
{
	for (size_t i = 0; i < sp->nruns; i++)
		free(sp->runs[i].buf);
	free(sp->runs);
	sp->runs = NULL;
	sp->nruns = sp->runs_cap = 0;
	if (sp->f)
		fclose(sp->f);
	sp->f = NULL;
}
