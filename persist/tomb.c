/* persist/tomb.c: the tombstone tally, so that losing deletions is seen.
 *
 * Deletion appends 24-byte records to the session's "tombstones" file
 * (format: top of persist/segment.c) and nothing else records it: a file
 * deleted, or cut at a record boundary, read as a session with fewer
 * deletions, and the deleted exchanges silently came back. So after each
 * append seg_tombstone() raises a tally in session.meta (persist/
 * session.c, "tombstones=" and "tombstones_sum="): how many valid records
 * the file held and the crc32c of their ids and times (bytes 0..19), in
 * file order.
 *
 * Invariant: the file's first `tally` valid records are exactly the ones
 * the tally names. A file holding fewer, or others, lost deletions:
 * seg_tomb_check() counts them in seg_report.tombstones_lost (damage:
 * fsck exits non-zero, listings warn). More records than the tally is
 * not damage (a deletion whose tally update a crash cut short). Lost
 * records cannot be rebuilt; fsck --repair sets the tally to what the
 * file holds and says how many deletions were lost. A session without
 * readable metadata has no tally to check (that damage is reported as
 * metadata damage).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/reader-int.h"
#include "persist/ses.h"

/* Bounds the file a reader loads whole: as many records as a table has
 * rows (one deletion per exchange at most, plus repeats). */
#define TOMB_FILE_MAX ((uint64_t)SEG_TOMB_SIZE * SEG_TABLE_ROWS_MAX)

static bool tomb_valid(const uint8_t *t)
{
	return seg_get32(t + 16) == SEG_TOMB_MAGIC && seg_get32(t + 20) == seg_crc32c(0, t, 20);
}

/* The tombstones file of dir, whole, into *b (NULL and 0 when absent).
 * Returns 0 or -errno. */
static int tomb_load(const char *dir, uint8_t **b, uint64_t *len)
{
	char path[PATH_MAX];
	struct stat sb;
	*b = NULL;
	*len = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, SEG_TOMB_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = fstat(fd, &sb) < 0 ? -errno : 0;
	uint64_t n = rc == 0 ? (uint64_t)sb.st_size : 0;
	if (rc == 0 && n > TOMB_FILE_MAX)
		rc = -EFBIG;
	if (rc == 0 && n > 0 && (*b = malloc(n)) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && n > 0 && pread(fd, *b, n, 0) != (ssize_t)n)
		rc = -EIO;
	close(fd);
	if (rc < 0) {
		free(*b);
		*b = NULL;
		return rc;
	}
	*len = n;
	return 0;
}

/* Valid records of b: how many, the crc32c of all of them (*crc_all) and
 * of the first `first` of them (*crc_first). */
static uint64_t tomb_count(const uint8_t *b, uint64_t len, uint64_t first, uint32_t *crc_all,
			   uint32_t *crc_first)
{
	uint64_t n = 0;
	uint32_t crc = 0;
	*crc_first = 0;
	for (uint64_t o = 0; o + SEG_TOMB_SIZE <= len; o += SEG_TOMB_SIZE) {
		if (!tomb_valid(b + o))
			continue;
		/* bytes 0..19 only: a CRC over a record including its own CRC is
		 * the same for every record (the residue), whatever its id */
		crc = seg_crc32c(crc, b + o, 20);
		if (++n == first)
			*crc_first = crc;
	}
	*crc_all = crc;
	return n;
}

int seg_tomb_note(const char *session_dir)
{
	uint8_t *b;
	uint64_t len;
	int rc = tomb_load(session_dir, &b, &len);
	if (rc < 0)
		return rc;
	uint32_t crc, unused;
	uint64_t n = tomb_count(b, len, 0, &crc, &unused);
	free(b);
	rc = ses_tally_set(session_dir, n, crc, false);
	/* no readable metadata: nothing to keep the tally in (reported as
	 * metadata damage; a bare directory in the unit tests) */
	return rc == -ENOENT || rc == -EBADMSG ? 0 : rc;
}

int seg_tomb_check(const char *session_dir, bool repair, struct seg_report *rep)
{
	uint64_t want;
	uint32_t want_crc;
	int rc = ses_tally_get(session_dir, &want, &want_crc);
	if (rc == -ENOENT || rc == -EBADMSG)
		return 0;
	if (rc < 0 || want == 0)
		return rc;
	uint8_t *b;
	uint64_t len;
	rc = tomb_load(session_dir, &b, &len);
	if (rc < 0)
		return rc;
	uint32_t crc_all, crc_first;
	uint64_t have = tomb_count(b, len, want, &crc_all, &crc_first);
	free(b);
	char what[160];
	if (have >= want && crc_first == want_crc)
		return 0;
	if (len == 0)
		snprintf(what, sizeof(what), "missing or empty; the metadata counts %llu deletions",
			 (unsigned long long)want);
	else if (have < want)
		snprintf(what, sizeof(what), "%llu records where the metadata counts %llu deletions",
			 (unsigned long long)have, (unsigned long long)want);
	else
		snprintf(what, sizeof(what), "not the %llu deletions the metadata counts",
			 (unsigned long long)want);
	uint64_t lost = have < want ? want - have : want;
	rep->tombstones_lost += lost;
	seg_report_damage(rep, SEG_TOMB_FILE, have * SEG_TOMB_SIZE, what);
	if (repair)
		rc = ses_tally_set(session_dir, have, crc_all, true);
	return rc;
}

int seg_tombstoned(const char *session_dir, uint64_t id, uint64_t *when_ns)
{
	uint8_t *b;
	uint64_t len;
	int rc = tomb_load(session_dir, &b, &len);
	if (rc < 0)
		return rc;
	int found = 0;
	for (uint64_t o = 0; o + SEG_TOMB_SIZE <= len && !found; o += SEG_TOMB_SIZE) {
		if (!tomb_valid(b + o) || seg_get64(b + o) != id)
			continue;
		found = 1;
		if (when_ns)
			*when_ns = seg_get64(b + o + 8);
	}
	free(b);
	return found;
}
