/* persist/spill.h: the parts of our sorts that are shared. First, a stable
 * in-memory radix sort of 16-byte items by the 64-bit key at their start
 * (persist/query.c's table, persist/scan.c's runs). Then the spill and
 * merge half of an external sort, shared by
 * persist/scan.c (keys of a streaming selection), persist/tsort.c (host
 * and URL records) and tools/views/export_sort.c (Postman collection
 * order). Each caller sorts what it holds in memory its own way and hands
 * the sorted bytes here as one run; reading merges the runs.
 *
 * The runs live back to back in one unlinked temporary file ($TMPDIR or
 * /tmp, O_TMPFILE; tmpfile() where that is refused). During the merge each
 * run has a read buffer of buf_bytes; the caller's before() picks the
 * record that comes next, ties going to the earlier run, so merging runs of
 * a stable sort gives a stable sort of everything spilled. Records are of
 * a fixed size (rec_size), or, with rec_len set, of a length read from
 * their first rec_size bytes. Reverse reading (runs from their end) needs
 * fixed-size records and runs written in ascending order.
 * Thread safety: a struct seg_spill belongs to one thread.
 */
#ifndef SEG_SPILL_H
#define SEG_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One run: bytes [start, end) of the file. */
struct seg_spill_run {
	uint64_t start, end;
	uint64_t next;   /* forward: next byte to read; reverse: one past the last unread */
	uint8_t *buf;    /* buf_bytes, during the merge */
	size_t len, at;  /* bytes in buf; forward: the next record's offset,
			  * reverse: bytes already taken from buf's end */
};

struct seg_spill {
	/* set by the caller before the first seg_spill_put */
	size_t rec_size;                          /* a record, or its header with rec_len */
	size_t (*rec_len)(const uint8_t *rec);    /* NULL: every record is rec_size */
	bool (*before)(const uint8_t *a, const uint8_t *b, void *ctx); /* a goes first */
	void *ctx;
	bool reverse;
	/* kept by spill.c */
	FILE *f;
	uint64_t size;                            /* bytes in the file */
	uint64_t run_start;                       /* where the run being written began */
	struct seg_spill_run *runs;
	size_t nruns, runs_cap;
	size_t buf_bytes;
};

/* Stable LSD radix sort of n items of 16 bytes by the uint64_t in their
 * first 8 bytes, 16 bits a pass; a pass whose digit is the same for every
 * item is skipped. Equal keys keep their order. 0 or -ENOMEM. */
int seg_radix_sort16(void *v, size_t n);

/* An unlinked temporary file ($TMPDIR or /tmp), or NULL. */
FILE *seg_spill_tmp_file(void);
/* Appends n bytes to the run being written (the file is made on first
 * use). 0 or -EIO. */
int seg_spill_put(struct seg_spill *sp, const void *p, size_t n);
/* Ends the run being written. 0 or -ENOMEM. */
int seg_spill_end_run(struct seg_spill *sp);
/* After the last run: flushes the file and gives each run a read buffer
 * of buf_bytes (a whole number of records, and at least the largest one).
 * 0, -EIO or -ENOMEM. */
int seg_spill_merge(struct seg_spill *sp, size_t buf_bytes);
/* The next record in order: 1 with *rec (valid until the next call) and
 * *len, 0 at the end, -EIO when the file does not read back as written. */
int seg_spill_next(struct seg_spill *sp, const uint8_t **rec, size_t *len);
/* The file's descriptor (persist/scan.c rewrites its runs in place). */
int seg_spill_fd(const struct seg_spill *sp);
/* Frees the buffers and closes the file; sp itself is the caller's. */
void seg_spill_free(struct seg_spill *sp);

#endif
