/* persist/recover.c: index rebuild from segments alone, crash recovery of
 * the tail segments, fsck, and tombstones. A rebuild replays records the
 * way the writer produced them and writes each index and string file to a
 * temporary name, fsyncs it and renames it over the old one, so a crash
 * during a rebuild leaves the previous file intact.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/reader-int.h"

/* Open exchanges during a rebuild: linear probing, backward-shift delete. */
#define OPEN_SLOTS (2u * SEG_OPEN_MAX)
_Static_assert((OPEN_SLOTS & (OPEN_SLOTS - 1)) == 0, "power of two");

struct open_x {
	uint64_t id;
	bool used;
};

struct rebuild {
	const char *dir;
	uint16_t worker;
	struct open_x *tab;
	uint32_t cnt;
	int fd_idx, fd_str; /* temp files of the segment being rebuilt, or -1 */
	uint8_t *idx_buf;
	uint32_t idx_len;
	uint64_t idx_off;
	struct seg_report *rep;
};

#define IDX_BUF_ENTRIES 4096u

static uint32_t slot_of(uint64_t id) { return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 40) & (OPEN_SLOTS - 1); }

static struct open_x *tab_find(struct rebuild *rb, uint64_t id)
{
	for (uint32_t i = slot_of(id), n = 0; n < OPEN_SLOTS; i = (i + 1) & (OPEN_SLOTS - 1), n++) {
		if (!rb->tab[i].used)
			return NULL;
		if (rb->tab[i].id == id)
			return &rb->tab[i];
	}
	return NULL;
}

static void tab_del(struct rebuild *rb, struct open_x *x)
{
	uint32_t i = (uint32_t)(x - rb->tab), j = i;
	rb->tab[i].used = false;
	rb->cnt--;
	for (uint32_t n = 0; n < OPEN_SLOTS; n++) {
		j = (j + 1) & (OPEN_SLOTS - 1);
		if (!rb->tab[j].used)
			return;
		uint32_t k = slot_of(rb->tab[j].id);
		/* Move j back to i when its home k is not cyclically in (i, j]. */
		bool stay = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
		if (stay)
			continue;
		rb->tab[i] = rb->tab[j];
		rb->tab[j].used = false;
		i = j;
	}
}

static struct open_x *tab_add(struct rebuild *rb, uint64_t id)
{
	struct open_x *old = tab_find(rb, id);
	if (old) {
		tab_del(rb, old); /* a BEGIN seen again: the earlier one never ended */
		rb->rep->incomplete++;
	}
	if (rb->cnt >= SEG_OPEN_MAX)
		return NULL;
	uint32_t i = slot_of(id);
	while (rb->tab[i].used)
		i = (i + 1) & (OPEN_SLOTS - 1); /* bounded: cnt < OPEN_SLOTS */
	memset(&rb->tab[i], 0, sizeof(rb->tab[i]));
	rb->tab[i].used = true;
	rb->tab[i].id = id;
	rb->cnt++;
	return &rb->tab[i];
}

static int flush_idx(struct rebuild *rb)
{
	if (rb->idx_len == 0 || rb->fd_idx < 0)
		return 0;
	ssize_t w = pwrite(rb->fd_idx, rb->idx_buf, rb->idx_len, (off_t)rb->idx_off);
	if (w != (ssize_t)rb->idx_len)
		return w < 0 ? -errno : -EIO;
	rb->idx_off += rb->idx_len;
	rb->idx_len = 0;
	return 0;
}

/* Tracks the exchange (for the incomplete count) and puts its host+url
 * text back where the writer put it (the offset is in the record). */
static int rec_begin(struct rebuild *rb, const struct seg_rec_view *r)
{
	if (!tab_add(rb, r->id))
		return 0; /* more open than a writer allows: cannot come from a writer */
	const uint8_t *q = r->p;
	uint32_t str_off = seg_get32(q + 8);
	size_t len = (size_t)seg_get16(q + 42) + seg_get16(q + 44);
	const uint8_t *host = q + SEG_BEGIN_FIXED + seg_get16(q + 40);
	if (rb->fd_str < 0)
		return 0;
	ssize_t w = len ? pwrite(rb->fd_str, host, len, str_off) : 0;
	if (w != (ssize_t)len)
		return -EIO;
	if (!(seg_get32(q + 12) & SEG_F_STR_EXT))
		return 0;
	/* the extension, as segment.c's str_text wrote it */
	uint8_t ext[5 + SEG_CLIENT_NAME_MAX];
	uint16_t cl = seg_get16(q + 46);
	if (cl > SEG_CLIENT_NAME_MAX)
		return 0;
	memcpy(ext, q + 52, 4);
	ext[4] = (uint8_t)cl;
	memcpy(ext + 5, host + len, cl);
	w = pwrite(rb->fd_str, ext, 5u + cl, (off_t)(str_off + len));
	return w == (ssize_t)(5u + cl) ? 0 : -EIO;
}

/* Builds the entry from the END record alone: it carries every BEGIN
 * field the index needs, so exchanges begun segments earlier are kept
 * even when only the tail is rebuilt. */
static int rec_end(struct rebuild *rb, const struct seg_rec_view *r, uint32_t segno,
		   uint64_t frame_off)
{
	struct open_x *o = tab_find(rb, r->id);
	if (o)
		tab_del(rb, o);
	const uint8_t *q = r->p;
	struct seg_entry e = {
		.id = r->id, .start_ns = seg_get64(q + 88), .duration_ns = seg_get64(q + 8 + 32),
		.frame_off = seg_get32(q + 96), .last_frame_off = (uint32_t)frame_off,
		.str_off = seg_get32(q + 100), .str_crc = seg_get32(q + 104),
		.span = seg_get16(q + 108), .host_len = seg_get16(q + 110),
		.url_len = seg_get16(q + 112), .method = q[114],
		.req_size = seg_get64(q + 48) + seg_get64(q + 56),
		.resp_size = seg_get64(q + 64) + seg_get64(q + 72),
		.status = seg_get16(q), .type = q[2], .error = q[3], .flags = seg_get32(q + 4),
	};
	e.client.family = q[115];
	memcpy(e.client.addr, q + 116, 16);
	e.client.port = seg_get16(q + 132);
	if (e.span > segno - 1 || (e.span == 0 && e.frame_off > frame_off))
		return 0; /* impossible for a writer: a checksummed lie, skip it */
	rb->rep->exchanges++;
	if (rb->fd_idx < 0)
		return 0;
	seg_entry_encode(rb->idx_buf + rb->idx_len, &e);
	rb->idx_len += SEG_ENTRY_SIZE;
	return rb->idx_len == IDX_BUF_ENTRIES * SEG_ENTRY_SIZE ? flush_idx(rb) : 0;
}

/* A filtered-out exchange: closed without an entry, not incomplete. */
static void rec_discard(struct rebuild *rb, const struct seg_rec_view *r)
{
	struct open_x *o = tab_find(rb, r->id);
	if (o)
		tab_del(rb, o);
	rb->rep->discarded++;
}

/* Replays one segment from byte from_off (a frame start, or 0 for the
 * first frame); writes index/strings when rb->fd_* are open. */
static int replay_segment(struct rebuild *rb, uint32_t segno, uint64_t from_off)
{
	char path[PATH_MAX];
	struct seg_fiter it;
	int rc = seg_path(path, sizeof(path), rb->dir, rb->worker, segno, SEG_K_SEG);
	if (rc == 0)
		rc = seg_fiter_open(&it, path, false, rb->rep);
	if (rc < 0)
		return rc;
	if (from_off > it.off)
		it.off = from_off;
	while (rc == 0 && (rc = seg_fiter_next(&it)) == 1) {
		uint32_t pos = 0;
		rc = 0;
		for (uint32_t i = 0; i < it.h.nrec && rc == 0; i++) {
			struct seg_rec_view r;
			if (seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r) < 0)
				break;
			rb->rep->records++;
			if (r.type == SEG_R_BEGIN)
				rc = rec_begin(rb, &r);
			else if (r.type == SEG_R_END)
				rc = rec_end(rb, &r, segno, it.frame_off);
			else if (r.type == SEG_R_DISCARD)
				rec_discard(rb, &r);
		}
	}
	seg_fiter_close(&it);
	return rc < 0 ? rc : 0;
}

static int open_tmp(const char *dir, uint16_t worker, uint32_t segno, enum seg_kind k,
		    uint64_t created_ns, int *fd)
{
	char path[PATH_MAX + 8];
	int rc = seg_path(path, sizeof(path) - 8, dir, worker, segno, k);
	if (rc < 0)
		return rc;
	strcat(path, ".tmp");
	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (*fd < 0)
		return -errno;
	uint8_t h[SEG_FILE_HDR_SIZE];
	struct seg_fhdr fh = { .worker = worker, .segno = segno, .created_ns = created_ns };
	seg_fhdr_encode(h, k, &fh);
	return pwrite(*fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) ? 0 : -EIO;
}

static int commit_tmp(const char *dir, uint16_t worker, uint32_t segno, enum seg_kind k,
		      int fd)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int rc = seg_path(path, sizeof(path), dir, worker, segno, k);
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (fsync(fd) < 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

static uint64_t seg_created(const char *dir, uint16_t worker, uint32_t segno)
{
	char path[PATH_MAX];
	uint8_t h[SEG_FILE_HDR_SIZE];
	struct seg_fhdr fh = { 0 };
	if (seg_path(path, sizeof(path), dir, worker, segno, SEG_K_SEG) < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || seg_fhdr_decode(h, SEG_K_SEG, &fh) < 0)
		fh.created_ns = 0;
	close(fd);
	return fh.created_ns;
}

/* Rebuilds the index and strings of one segment into temp files. */
static int rebuild_one(struct rebuild *rb, uint32_t segno)
{
	uint64_t created = seg_created(rb->dir, rb->worker, segno);
	int rc = open_tmp(rb->dir, rb->worker, segno, SEG_K_IDX, created, &rb->fd_idx);
	if (rc == 0)
		rc = open_tmp(rb->dir, rb->worker, segno, SEG_K_STR, created, &rb->fd_str);
	rb->idx_off = SEG_FILE_HDR_SIZE;
	rb->idx_len = 0;
	if (rc == 0)
		rc = replay_segment(rb, segno, 0);
	if (rc == 0)
		rc = flush_idx(rb);
	if (rc == 0)
		rc = commit_tmp(rb->dir, rb->worker, segno, SEG_K_STR, rb->fd_str);
	if (rc == 0)
		rc = commit_tmp(rb->dir, rb->worker, segno, SEG_K_IDX, rb->fd_idx);
	if (rc == 0)
		rb->rep->indexes_rebuilt++;
	if (rb->fd_idx >= 0)
		close(rb->fd_idx);
	if (rb->fd_str >= 0)
		close(rb->fd_str);
	rb->fd_idx = rb->fd_str = -1;
	return rc;
}

int seg_index_rebuild(const char *session_dir, uint16_t worker, uint32_t from_segno,
		      struct seg_report *rep)
{
	struct seg_report dummy;
	struct rebuild rb = { .dir = session_dir, .worker = worker, .fd_idx = -1, .fd_str = -1,
			      .rep = rep ? rep : &dummy };
	memset(&dummy, 0, sizeof(dummy));
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	rb.tab = calloc(OPEN_SLOTS, sizeof(*rb.tab));
	rb.idx_buf = malloc(IDX_BUF_ENTRIES * SEG_ENTRY_SIZE);
	if (!rb.tab || !rb.idx_buf)
		rc = -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (items[i].worker != worker)
			continue;
		if (items[i].segno >= from_segno)
			rc = rebuild_one(&rb, items[i].segno);
	}
	rb.rep->incomplete += rb.cnt;
	free(rb.tab);
	free(rb.idx_buf);
	free(items);
	return rc;
}

/* Finds where the index of a tail segment stops being trustworthy: the
 * last valid entry (searched backwards over at most TAIL_SCAN entries)
 * gives the frame F it ends in; entries of F and later are dropped and
 * the frames from F on are replayed. Entries before it were checksummed
 * when written; damage further back is fsck's business. Sets *keep (entries
 * kept) and *from (F), or returns -EBADMSG when the file is unusable. */
#define TAIL_SCAN 65536u
static int tail_cut(int fd, uint64_t *keep, uint64_t *from)
{
	struct stat sb;
	uint8_t h[SEG_FILE_HDR_SIZE], b[SEG_ENTRY_SIZE];
	struct seg_fhdr fh;
	if (fstat(fd, &sb) < 0 || sb.st_size < SEG_FILE_HDR_SIZE ||
	    pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || seg_fhdr_decode(h, SEG_K_IDX, &fh) < 0)
		return -EBADMSG;
	uint64_t n = ((uint64_t)sb.st_size - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE;
	*keep = 0;
	*from = 0;
	struct seg_entry e;
	uint64_t i = n, last = UINT64_MAX;
	for (uint64_t k = 0; i > 0 && k < TAIL_SCAN; k++, i--) {
		if (pread(fd, b, sizeof(b), (off_t)(SEG_FILE_HDR_SIZE + (i - 1) * SEG_ENTRY_SIZE)) ==
			    (ssize_t)sizeof(b) && seg_entry_decode(b, &e) == 0) {
			last = i - 1;
			break;
		}
	}
	if (last == UINT64_MAX)
		return i == 0 ? 0 : -EBADMSG; /* empty index, or no valid entry in reach */
	*from = e.last_frame_off;
	/* Drop the run of entries of frame F: the replay writes them again. */
	for (i = last + 1; i > 0; i--) {
		if (pread(fd, b, sizeof(b), (off_t)(SEG_FILE_HDR_SIZE + (i - 1) * SEG_ENTRY_SIZE)) !=
			    (ssize_t)sizeof(b) || seg_entry_decode(b, &e) < 0 || e.last_frame_off < *from)
			break;
	}
	*keep = i;
	return 0;
}

/* Completes the index of a worker's last segment from the frames it does
 * not cover yet; falls back to a full rebuild of that segment. */
static int recover_tail(const char *dir, uint16_t worker, uint32_t segno, struct seg_report *rep)
{
	char ipath[PATH_MAX], spath[PATH_MAX];
	struct seg_report dummy = { 0 };
	struct rebuild rb = { .dir = dir, .worker = worker, .fd_idx = -1, .fd_str = -1,
			      .rep = rep ? rep : &dummy };
	uint64_t keep = 0, from = 0;
	int rc = seg_path(ipath, sizeof(ipath), dir, worker, segno, SEG_K_IDX);
	if (rc == 0)
		rc = seg_path(spath, sizeof(spath), dir, worker, segno, SEG_K_STR);
	if (rc < 0)
		return rc;
	rb.fd_idx = open(ipath, O_RDWR | O_CLOEXEC);
	rb.fd_str = open(spath, O_RDWR | O_CLOEXEC);
	if (rb.fd_idx < 0 || rb.fd_str < 0 || tail_cut(rb.fd_idx, &keep, &from) < 0) {
		if (rb.fd_idx >= 0)
			close(rb.fd_idx);
		if (rb.fd_str >= 0)
			close(rb.fd_str);
		return seg_index_rebuild(dir, worker, segno, rep);
	}
	rb.tab = calloc(OPEN_SLOTS, sizeof(*rb.tab));
	rb.idx_buf = malloc(IDX_BUF_ENTRIES * SEG_ENTRY_SIZE);
	rb.idx_off = SEG_FILE_HDR_SIZE + keep * SEG_ENTRY_SIZE;
	rc = (rb.tab && rb.idx_buf) ? 0 : -ENOMEM;
	if (rc == 0 && ftruncate(rb.fd_idx, (off_t)rb.idx_off) < 0)
		rc = -errno;
	if (rc == 0)
		rc = replay_segment(&rb, segno, from);
	if (rc == 0)
		rc = flush_idx(&rb);
	if (rc == 0 && (fsync(rb.fd_str) < 0 || fsync(rb.fd_idx) < 0))
		rc = -errno;
	rb.rep->incomplete += rb.cnt;
	close(rb.fd_idx);
	close(rb.fd_str);
	free(rb.tab);
	free(rb.idx_buf);
	return rc;
}

int seg_recover(const char *session_dir, struct seg_report *rep)
{
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	/* Only each worker's last segment can hold frames without entries. */
	for (size_t i = 0; i < n && rc == 0; i++)
		if (i + 1 == n || items[i + 1].worker != items[i].worker)
			rc = recover_tail(session_dir, items[i].worker, items[i].segno, rep);
	free(items);
	return rc;
}

static int count_entry(void *ctx, const struct seg_entry *e)
{
	(void)ctx;
	(void)e;
	return 0;
}

/* Walks one segment's frames, counting records and ended exchanges. */
static int fsck_segment(const char *path, bool repair, struct seg_report *rep)
{
	struct seg_fiter it;
	int rc = seg_fiter_open(&it, path, false, rep);
	if (rc < 0)
		return rc;
	while ((rc = seg_fiter_next(&it)) == 1) {
		uint32_t pos = 0;
		for (uint32_t i = 0; i < it.h.nrec; i++) {
			struct seg_rec_view r;
			if (seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r) < 0)
				break;
			rep->records++;
			rep->exchanges += r.type == SEG_R_END;
			rep->discarded += r.type == SEG_R_DISCARD;
		}
	}
	if (rc == 0 && repair && it.torn) {
		if (truncate(path, (off_t)it.valid_end) < 0)
			rc = -errno;
		else
			rep->truncated_files++;
	}
	seg_fiter_close(&it);
	return rc;
}

int seg_fsck(const char *session_dir, bool repair, struct seg_report *rep)
{
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[PATH_MAX];
		rc = seg_path(path, sizeof(path), session_dir, items[i].worker, items[i].segno,
			      SEG_K_SEG);
		if (rc == 0)
			rc = fsck_segment(path, repair, rep);
	}
	if (rc == 0)
		rc = seg_index_scan(session_dir, count_entry, NULL, rep);
	struct seg_report rr = { 0 };
	for (size_t i = 0; i < n && rc == 0 && repair; i++)
		if (i + 1 == n || items[i + 1].worker != items[i].worker)
			rc = seg_index_rebuild(session_dir, items[i].worker, 0, &rr);
	rep->indexes_rebuilt += rr.indexes_rebuilt;
	rep->incomplete += rr.incomplete;
	free(items);
	return rc;
}

int seg_tombstone(const char *session_dir, const uint64_t *ids, size_t n, uint64_t now_ns)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", session_dir, SEG_TOMB_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t t[SEG_TOMB_SIZE];
		seg_put64(t, ids[i]);
		seg_put64(t + 8, now_ns);
		seg_put32(t + 16, SEG_TOMB_MAGIC);
		seg_put32(t + 20, seg_crc32c(0, t, 20));
		if (write(fd, t, sizeof(t)) != (ssize_t)sizeof(t))
			rc = -EIO;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}
