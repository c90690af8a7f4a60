/* persist/number.c: finding an exchange by its session number (the .str
 * extension, SEG_F_STR_EXT, segment.c). A worker takes an exchange's
 * number (from the session-wide counter) and its id together when the
 * exchange begins, so within one index file numbers are nearly sorted the
 * way ids are: a binary search for the position, then a window either
 * side, as seg_find does for ids; a miss looks at every entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/reader-int.h"

#define NUM_WINDOW 1024u       /* entries either side of the search's position */
#define NUM_CHUNK_ENTRIES 4096u /* entries read at once */

/* One mapped .str file. */
struct str_map {
	uint16_t worker;
	uint32_t segno;
	const uint8_t *p;
	size_t len;
};

static void str_unmap(struct str_map *m)
{
	if (m->p)
		munmap((void *)m->p, m->len);
	m->p = NULL;
	m->len = 0;
}

/* Maps the .str of (worker, segno) into m unless it is there already. */
static void str_map(const char *dir, uint16_t worker, uint32_t segno, struct str_map *m)
{
	if (m->p && m->worker == worker && m->segno == segno)
		return;
	str_unmap(m);
	m->worker = worker;
	m->segno = segno;
	char path[PATH_MAX];
	struct stat sb;
	if (seg_path(path, sizeof(path), dir, worker, segno, SEG_K_STR) < 0)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			m->p = p;
			m->len = (size_t)sb.st_size;
		}
	}
	close(fd);
}

/* The number of entry e (its .str text checked against the entry's
 * checksum), 0 when it has none or its text is damaged; an IPv6 client's
 * address from the text goes into e (RCAPIDX2 entries lack it). */
static uint32_t entry_number(const char *dir, struct seg_entry *e, struct str_map *m)
{
	if (!(e->flags & SEG_F_STR_EXT) || e->span > e->segno)
		return 0;
	str_map(dir, e->worker, e->segno - e->span, m);
	struct seg_str_view v;
	if (m->p == NULL || e->str_off > m->len ||
	    seg_str_view(e, m->p + e->str_off, m->len - e->str_off, &v) < 0)
		return 0;
	if (v.client_v6 && e->client.family == 6)
		memcpy(e->client.addr, v.client_v6, 16);
	return v.number;
}

/* Entries [a, b) of an open index file: true (and *out) when one has
 * the number. */
static bool scan_range(const char *dir, const struct seg_idx *ix, uint64_t a, uint64_t b,
		       uint32_t number, struct str_map *m, struct seg_entry *out)
{
	uint8_t *buf = malloc(NUM_CHUNK_ENTRIES * ix->stride);
	bool found = false;
	for (uint64_t s = a; buf && s < b && !found; s += NUM_CHUNK_ENTRIES) {
		uint64_t k = b - s < NUM_CHUNK_ENTRIES ? b - s : NUM_CHUNK_ENTRIES;
		ssize_t got = pread(ix->fd, buf, k * ix->stride,
				    (off_t)(SEG_FILE_HDR_SIZE + s * ix->stride));
		if (got <= 0)
			break;
		for (uint64_t i = 0; i < (uint64_t)got / ix->stride && !found; i++) {
			struct seg_entry e;
			if (seg_idx_decode(ix, buf + i * ix->stride, &e) < 0)
				continue;
			if (entry_number(dir, &e, m) == number) {
				*out = e;
				found = true;
			}
		}
	}
	free(buf);
	return found;
}

/* One index file: the binary search and its window, or (full) every entry. */
static bool find_in_file(const char *dir, uint16_t worker, uint32_t segno, uint32_t number,
			 bool full, struct str_map *m, struct seg_entry *out)
{
	struct seg_idx ix;
	if (seg_idx_open(dir, worker, segno, &ix) < 0)
		return false;
	uint64_t lo = 0, hi = ix.n, n = ix.n;
	struct seg_entry e;
	for (int guard = 0; !full && guard < 64 && lo < hi; guard++) {
		uint64_t mid = lo + (hi - lo) / 2;
		uint32_t k = seg_idx_entry(&ix, mid, &e) ? entry_number(dir, &e, m) : 0;
		if (k == 0)
			break; /* no number there: the window below still helps */
		if (k < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t a = full ? 0 : lo > NUM_WINDOW ? lo - NUM_WINDOW : 0;
	uint64_t b = full ? n : lo + NUM_WINDOW < n ? lo + NUM_WINDOW : n;
	bool found = scan_range(dir, &ix, a, b, number, m, out);
	seg_idx_close(&ix);
	return found;
}

int seg_find_number(const char *session_dir, uint32_t number, struct seg_entry *out)
{
	struct seg_list_item *items;
	size_t n;
	if (number == 0)
		return -ENOENT;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	struct str_map m = { 0 };
	bool found = false;
	for (int full = 0; full < 2 && !found; full++)   /* the searches, then every entry */
		for (size_t i = n; i > 0 && !found; i--)  /* newest first */
			found = find_in_file(session_dir, items[i - 1].worker, items[i - 1].segno,
					     number, full == 1, &m, out);
	str_unmap(&m);
	free(items);
	return found ? 0 : -ENOENT;
}
