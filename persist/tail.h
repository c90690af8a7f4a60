/* persist/tail.h: an incremental reader of a session's index, for live
 * views (event streams, a session's client list): it remembers where it
 * stopped in each worker's index and hands out only the entries written
 * since, as listing rows with their host, URL, number and client name.
 *
 * Cost of a poll when nothing changed: one stat of the session directory
 * and, per worker, one fstat of its current index and one failed open of
 * the next segment's index. New entries cost a pread per batch and, for
 * their text, a pread per window of the string file.
 *
 * Rules it relies on (persist/segment.c): a worker writes frame, strings,
 * then index entries, one write at a time in queue order, and opens a new
 * segment's files only after the old ones' writes are done; so once the
 * next segment's index exists, the current one has all it will ever have
 * (read to its end once more, then switch). Entries are whole 96-byte
 * records; one that does not decode yet, or whose text is not written
 * yet, is waited for (wait_ms) and then skipped (entries_bad) or given
 * empty text (strings_bad). Tombstones are not applied: callers that care
 * read them with seg_tombstones_read().
 *
 * Not thread-safe: one tail per thread at a time (the caller locks).
 */
#ifndef SEG_TAIL_H
#define SEG_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/query.h"

#define SEG_TAIL_WAIT_MS_DEFAULT 2000u /* = SEG_LIVE_NS: a writer mid-flush is done by then */
#define SEG_TAIL_BATCH 4096u            /* entries read per pread (260 KiB; RCAPIDX1: 384) */

struct seg_tail_opts {
	bool from_end;    /* skip what is stored now: only later entries come out */
	uint32_t wait_ms; /* 0 = SEG_TAIL_WAIT_MS_DEFAULT */
};

struct seg_tail_stats {
	uint64_t rows;        /* entries handed out */
	uint64_t entries_bad; /* entries skipped: damaged (after wait_ms) */
	uint64_t strings_bad; /* rows handed out with empty text (text damaged or missing) */
	uint64_t lists;       /* directory listings (new workers) */
	uint64_t switches;    /* moves to a worker's next segment */
};

struct seg_tail;

/* Opens a tail on a session directory (o NULL: from the start, default
 * wait). Returns 0, -ENOENT (no such directory), -ENOMEM or -errno. */
int seg_tail_open(const char *session_dir, const struct seg_tail_opts *o, struct seg_tail **out);
void seg_tail_close(struct seg_tail *t);
/* Calls fn for each entry written since the last poll, each worker's in
 * index order, at most max rows (0: no bound). r and its text are valid
 * during the call only (r->host_rank is 0). fn returns <0 to stop (passed
 * through; that row counts as taken). *n (optional) gets the rows handed
 * out; *n == max means more may wait. Returns 0 or -errno. */
int seg_tail_poll(struct seg_tail *t, size_t max, int (*fn)(void *ctx, const struct seg_qrow *r),
		  void *ctx, size_t *n);
void seg_tail_get_stats(const struct seg_tail *t, struct seg_tail_stats *st);

/* The ids in the session's tombstone file, sorted, duplicates kept;
 * damaged records skipped. *ids malloc'd (NULL when none). *size (optional)
 * gets the file's size, to tell later whether it changed. 0 or -errno. */
int seg_tombstones_read(const char *session_dir, uint64_t **ids, size_t *n, uint64_t *size);

#endif
