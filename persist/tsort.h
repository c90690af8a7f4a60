/* persist/tsort.h: an external sort of (host, URL, id, place) records by
 * text, for persist/scan.c's URL sort and its host sort over more hosts
 * than it ranks: the order of query.c's kp_cmp_url_from / kp_cmp_host
 * (byte order, a shorter string first, then the id; the place last so the
 * order is total) in bounded memory.
 *
 * Records are variable length (a 24-byte header, then the text). They
 * are buffered up to mem_max/2 bytes (plus 8 bytes of index each), a full
 * buffer is sorted and appended to an unlinked temporary file as a run,
 * and reading merges the runs. Memory: mem_max plus SEG_TSORT_RUN_BUF per
 * run during the merge (a run holds mem_max/2 bytes of records, so a
 * million rows of 100-byte URLs spill about 16 runs: 256 KiB).
 * Thread safety: a struct seg_tsort belongs to one thread.
 */
#ifndef SEG_TSORT_H
#define SEG_TSORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg-limits.h"

/* Bytes a run reads at a time during the merge: at least one record of
 * the largest host and URL. */
#define SEG_TSORT_RUN_BUF (16u << 10)
_Static_assert(SEG_TSORT_RUN_BUF >= 24u + SEG_HOST_MAX + SEG_URL_MAX, "a record fits a run buffer");

struct seg_tsort;

/* A sorter keeping about mem_max bytes; reverse hands the records out in
 * the opposite order. 0 or -ENOMEM. */
int seg_tsort_new(size_t mem_max, bool reverse, struct seg_tsort **out);
/* Adds a record: host[0..hlen) (empty for a URL sort), url[0..ulen), id,
 * pos. 0, -EINVAL (a text over its limit), -ENOMEM or -EIO (spilling). */
int seg_tsort_add(struct seg_tsort *t, const char *host, uint32_t hlen, const char *url,
		  uint32_t ulen, uint64_t id, uint64_t pos);
/* Ends adding. 0, -ENOMEM or -EIO. */
int seg_tsort_finish(struct seg_tsort *t);
/* The next record's place: 1, 0 at the end, or -EIO. */
int seg_tsort_next(struct seg_tsort *t, uint64_t *pos);
/* Runs spilled (0: everything stayed in memory). */
size_t seg_tsort_runs(const struct seg_tsort *t);
void seg_tsort_free(struct seg_tsort *t);

#endif
