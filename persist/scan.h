/* persist/scan.h: a streaming selection over a session's index: the rows
 * of seg_table_load + seg_query_run (same filter, search, tombstones,
 * order, offset and limit) handed out one at a time, without the table.
 *
 * Pass 1 reads every index entry once (seg_index_scan, healing included),
 * applies the query's predicate and keeps 16 bytes per selected row: its
 * sort key and its place (segment, entry number; or a slot in a temporary
 * file for entries only the frames know). Keys beyond cfg.keys_mem_max/2
 * bytes are sorted into runs written to an unlinked temporary file and
 * merged back. Pass 2 (seg_scan_next) reads each row's entry and host/URL
 * text again through small windows over the index and string files.
 *
 * Memory: min(16 B a row, keys_mem_max) plus the run buffers of the merge,
 * a window per worker (SEG_SCAN_SLOTS x ~350 KiB) and the tombstoned ids
 * (8 B each), and for a host sort the distinct hosts (their text and
 * 12 B each, at most 0xffff of them); independent of the session's size
 * otherwise. Every sort: status, method, type and host keys need the
 * session's earliest start, known after pass 1, so their runs are
 * rewritten once with the final keys before the merge; the URL sort (and
 * a host sort over more than 0xffff hosts, which query.c orders by text)
 * keeps (host, URL, id, place) records in persist/tsort.h's external sort
 * instead of keys: keys_mem_max bounds those too (scan.c).
 * Thread safety: a struct seg_scan belongs to one thread.
 */
#ifndef SEG_SCAN_H
#define SEG_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/query.h"

/* Bytes of keys in memory, the radix sort's second buffer included: runs
 * of 512k rows (8 MiB of keys); a million-row session spills two runs and
 * stays far below the 64 MiB an export may use (issue 12, bench/export.sh),
 * which the collection writer's own sort shares. */
#define SEG_SCAN_KEYS_MEM_DEFAULT (16u << 20)
/* Smallest bound accepted (tests force spilling with it): 64 keys a run. */
#define SEG_SCAN_KEYS_MEM_MIN 2048u
/* Open index/string windows, one per worker modulo this: rows in time
 * order interleave the workers' files. */
#define SEG_SCAN_SLOTS 8u
/* Index entries per window read (65 or 96 KiB): one pread per 1,024 rows. */
#define SEG_SCAN_IDX_WINDOW 1024u
/* String file bytes per window read: one pread per some thousand rows. */
#define SEG_SCAN_STR_WINDOW (256u << 10)
/* Keys read per spilled run at a time during the merge. */
#define SEG_SCAN_RUN_BUF 4096u

_Static_assert(SEG_SCAN_STR_WINDOW >= 4u * (SEG_HOST_MAX + SEG_URL_MAX + 5u + SEG_CLIENT_NAME_MAX + 16u),
	       "a row's text fits a string window with room to move back");

struct seg_scan;

struct seg_scan_cfg {
	/* search, sort, reverse, offset, limit,
	 * include_deleted, match: as seg_query_run; NULL: everything by time.
	 * match sees rows whose host/url/client_name point into the scan's
	 * windows (valid for the call). */
	const struct seg_query *q;
	size_t keys_mem_max; /* bytes of keys in memory; 0: SEG_SCAN_KEYS_MEM_DEFAULT */
};

/* True when seg_scan can run q (any valid sort). */
bool seg_scan_supports(const struct seg_query *q);

/* Pass 1: selects and orders the rows of session_dir. rep (optional)
 * counts damage as seg_table_load's does (it makes pass 1 read every
 * row's text, which it otherwise reads only for a search, a match or a
 * host or URL sort). Returns 0, -ENOTSUP for a sort seg_scan_supports
 * refuses, -E2BIG above SEG_TABLE_ROWS_MAX rows, -ENOMEM
 * or -errno (the temporary file, reading). */
int seg_scan_open(const char *session_dir, const struct seg_scan_cfg *cfg,
		  struct seg_scan **out, struct seg_report *rep);
/* Rows that matched, before offset and limit (seg_result.total). */
size_t seg_scan_total(const struct seg_scan *s);
/* Rows seg_scan_next hands out (seg_result.n). */
size_t seg_scan_count(const struct seg_scan *s);
/* Runs spilled to the temporary file (0: the keys fitted in memory). */
size_t seg_scan_runs(const struct seg_scan *s);
/* The next row in order: 1 with *r set (its host, url and client_name
 * valid until the next call), 0 at the end, -errno. */
int seg_scan_next(struct seg_scan *s, struct seg_qrow *r);
void seg_scan_close(struct seg_scan *s);

#endif
