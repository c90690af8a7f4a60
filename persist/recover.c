/* persist/recover.c: index rebuild from segments alone, crash recovery of
 * the tail segments, fsck, and tombstones. A rebuild replays records the
 * way the writer produced them and writes each index and string file to a
 * temporary name, fsyncs it and renames it over the old one, so a crash
 * during a rebuild leaves the previous file intact.
 */
#include <dirent.h>
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
	bool full;          /* from the worker's first segment: every intact BEGIN is seen */
	uint8_t ver;        /* index layout of the segment being replayed (SEG_IDX_V*) */
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

/* The .str text of a BEGIN payload q (lengths checked by seg_rec_parse)
 * into out (SEG_STR_TEXT_MAX bytes), laid out as the writer did: by the
 * record's own layout flags (seg_str_encode), and for a segment beside an
 * RCAPIDX2 index (ver) with its extension's layout and an IPv6 client's
 * address. Returns its length. */
static uint32_t begin_text(const uint8_t *q, uint8_t ver, uint8_t *out)
{
	uint32_t flags = seg_get32(q + 12);
	const char *host = (const char *)q + SEG_BEGIN_FIXED + seg_get16(q + 40);
	struct seg_str_text t = {
		.host = host, .host_len = seg_get16(q + 42),
		.url = host + seg_get16(q + 42), .url_len = seg_get16(q + 44),
		.client_name = host + seg_get16(q + 42) + seg_get16(q + 44),
		.client_name_len = seg_get16(q + 46), .number = seg_get32(q + 52),
		.client_v6 = ver == SEG_IDX_V2 && q[34] == 6 ? q + 16 : NULL,
		.ver = ver,
	};
	if (t.client_v6 && !(flags & SEG_F_STR_EXT))
		t.client_v6 = NULL; /* a checksummed lie: no writer leaves it out */
	return seg_str_encode(out, &t, flags);
}

/* Tracks the exchange (for the incomplete count) and puts its host+url
 * text back where the writer put it (the offset is in the record). */
static int rec_begin(struct rebuild *rb, const struct seg_rec_view *r)
{
	if (!tab_add(rb, r->id))
		return 0; /* more open than a writer allows: cannot come from a writer */
	if (rb->fd_str < 0)
		return 0;
	uint8_t text[SEG_STR_TEXT_MAX];
	uint32_t len = begin_text(r->p, rb->ver, text);
	ssize_t w = len ? pwrite(rb->fd_str, text, len, seg_get32(r->p + 8)) : 0;
	return w == (ssize_t)len ? 0 : -EIO;
}

/* Indexes an ended exchange (seg_entry_from_end) into the temp index. */
static int rec_end(struct rebuild *rb, const struct seg_rec_view *r, uint32_t segno,
		   uint64_t frame_off)
{
	struct open_x *o = tab_find(rb, r->id);
	if (o)
		tab_del(rb, o);
	struct seg_entry e;
	if (seg_entry_from_end(r, rb->worker, segno, frame_off, &e) < 0)
		return 0; /* impossible for a writer: a checksummed lie, skip it */
	e.idx_version = rb->ver;
	if (!o && rb->full) {
		/* Its BEGIN sits in a damaged frame: its host/URL text was not
		 * rebuilt. Still listed (time, status, sizes), with no text, and
		 * it cannot be opened: fsck keeps reporting the lost frame. */
		e.host_len = e.url_len = 0;
		e.flags &= ~SEG_F_LAYOUT; /* an empty text has no extension */
		e.str_off = 0; /* its text may have ended past the rebuilt file */
		e.str_crc = seg_crc32c(0, "", 0);
	}
	rb->rep->exchanges++;
	if (rb->fd_idx < 0)
		return 0;
	seg_entry_encode(rb->idx_buf + rb->idx_len, rb->ver, &e);
	rb->idx_len += seg_entry_size(rb->ver);
	return rb->idx_len == IDX_BUF_ENTRIES * seg_entry_size(rb->ver) ? flush_idx(rb) : 0;
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
		    uint64_t created_ns, uint8_t ver, int *fd)
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
	struct seg_fhdr fh = { .worker = worker, .segno = segno, .created_ns = created_ns,
			       .idx_version = ver };
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

/* The .seg header of (worker, segno): its creation time (0 when the header
 * is damaged) and the index layout its writer wrote (from the .idx header
 * when the .seg's is damaged, else the writers' layout). */
static uint64_t seg_created(const char *dir, uint16_t worker, uint32_t segno, uint8_t *ver)
{
	char path[PATH_MAX];
	uint8_t h[SEG_FILE_HDR_SIZE];
	struct seg_fhdr fh = { 0 };
	*ver = SEG_IDX_VERSION;
	for (int k = SEG_K_SEG; k <= SEG_K_IDX; k++) {
		if (seg_path(path, sizeof(path), dir, worker, segno, (enum seg_kind)k) < 0)
			return 0;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		bool ok = pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			  seg_fhdr_decode(h, (enum seg_kind)k, &fh) == 0;
		close(fd);
		if (ok) {
			*ver = fh.idx_version;
			return k == SEG_K_SEG ? fh.created_ns : 0;
		}
	}
	return 0;
}

/* Rebuilds the index and strings of one segment into temp files. */
static int rebuild_one(struct rebuild *rb, uint32_t segno)
{
	uint64_t created = seg_created(rb->dir, rb->worker, segno, &rb->ver);
	int rc = open_tmp(rb->dir, rb->worker, segno, SEG_K_IDX, created, rb->ver, &rb->fd_idx);
	if (rc == 0)
		rc = open_tmp(rb->dir, rb->worker, segno, SEG_K_STR, created, rb->ver, &rb->fd_str);
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
	rb.idx_buf = malloc(IDX_BUF_ENTRIES * SEG_ENTRY_SIZE_MAX);
	if (!rb.tab || !rb.idx_buf)
		rc = -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (items[i].worker != worker)
			continue;
		if (!rb.full && items[i].segno >= from_segno)
			rb.full = i == 0 || items[i - 1].worker != worker;
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
static int tail_cut(const struct seg_idx *ix, uint64_t *keep, uint64_t *from)
{
	if (ix->bad_header)
		return -EBADMSG;
	*keep = 0;
	*from = 0;
	struct seg_entry e;
	uint64_t i = ix->n, last = UINT64_MAX;
	for (uint64_t k = 0; i > 0 && k < TAIL_SCAN; k++, i--) {
		if (seg_idx_entry(ix, i - 1, &e)) {
			last = i - 1;
			break;
		}
	}
	if (last == UINT64_MAX)
		return i == 0 ? 0 : -EBADMSG; /* empty index, or no valid entry in reach */
	*from = e.last_frame_off;
	/* Drop the run of entries of frame F: the replay writes them again. */
	for (i = last + 1; i > 0; i--) {
		if (!seg_idx_entry(ix, i - 1, &e) || e.last_frame_off < *from)
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
	/* the index is read through ix, written through fd_idx */
	struct seg_idx ix;
	rc = seg_idx_open(dir, worker, segno, &ix);
	rb.ver = ix.ver;
	rb.fd_idx = rc == 0 ? open(ipath, O_RDWR | O_CLOEXEC) : -1;
	rb.fd_str = open(spath, O_RDWR | O_CLOEXEC);
	rc = rc == 0 ? tail_cut(&ix, &keep, &from) : rc;
	seg_idx_close(&ix);
	if (rb.fd_idx < 0 || rb.fd_str < 0 || rc < 0) {
		if (rb.fd_idx >= 0)
			close(rb.fd_idx);
		if (rb.fd_str >= 0)
			close(rb.fd_str);
		return seg_index_rebuild(dir, worker, segno, rep);
	}
	rb.tab = calloc(OPEN_SLOTS, sizeof(*rb.tab));
	rb.idx_buf = malloc(IDX_BUF_ENTRIES * SEG_ENTRY_SIZE_MAX);
	rb.idx_off = SEG_FILE_HDR_SIZE + keep * seg_entry_size(rb.ver);
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

/* Offsets of the valid frames of one segment (fsck_segment fills it). */
struct frame_set {
	uint32_t *offs;
	size_t n, cap;
};

/* The string file an entry's text lives in, read whole (cached: entries
 * come segment by segment), and the valid frames of every segment. */
struct str_check {
	const struct seg_list_item *items;
	struct frame_set *frames; /* parallel to items */
	size_t nitems, last_item;
	const char *dir;
	uint16_t worker;
	uint32_t segno;
	uint8_t *buf;
	uint64_t len;
	bool loaded;
	struct seg_report *rep;
};

static void str_load(struct str_check *c, uint16_t worker, uint32_t segno)
{
	char path[PATH_MAX];
	struct stat sb;
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
	c->worker = worker;
	c->segno = segno;
	c->loaded = true;
	if (seg_path(path, sizeof(path), c->dir, worker, segno, SEG_K_STR) < 0)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <= SEG_ROTATE_BYTES_MAX) {
		c->buf = malloc((size_t)sb.st_size);
		if (c->buf && pread(fd, c->buf, (size_t)sb.st_size, 0) == sb.st_size)
			c->len = (uint64_t)sb.st_size;
	}
	close(fd);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* True when segment (worker, segno) has a valid frame at off. */
static bool frame_ok(struct str_check *c, uint16_t worker, uint32_t segno, uint32_t off)
{
	/* Entries come segment by segment: the last segment found is tried first. */
	for (size_t k = 0; k <= c->nitems; k++) {
		size_t i = k == 0 ? c->last_item : k - 1;
		if (i >= c->nitems || c->items[i].worker != worker || c->items[i].segno != segno)
			continue;
		c->last_item = i;
		return c->frames[i].n &&
		       bsearch(&off, c->frames[i].offs, c->frames[i].n, sizeof(off), u32_cmp);
	}
	return false;
}

/* Checks an entry's host/URL text against its checksum, and that its first
 * and last frames are valid frames of their segments. */
static int check_entry(void *ctx, const struct seg_entry *e)
{
	struct str_check *c = ctx;
	if (!frame_ok(c, e->worker, e->segno, e->last_frame_off) ||
	    e->span > e->segno || !frame_ok(c, e->worker, e->segno - e->span, e->frame_off)) {
		char name[32];
		seg_file_name(name, sizeof(name), e->worker, e->segno, SEG_K_SEG);
		c->rep->entries_lost++;
		seg_report_damage(c->rep, name, e->last_frame_off,
				  "an indexed exchange's frames are damaged or gone");
	}
	uint32_t s = e->span <= e->segno ? e->segno - e->span : 0;
	if (!c->loaded || c->worker != e->worker || c->segno != s)
		str_load(c, e->worker, s);
	/* the text, extension included, as persist/strtext.c reads it */
	struct seg_str_view v;
	if (c->buf && e->str_off <= c->len &&
	    seg_str_view(e, (const uint8_t *)c->buf + e->str_off, c->len - e->str_off, &v) == 0)
		return 0;
	char name[32];
	seg_file_name(name, sizeof(name), e->worker, s, SEG_K_STR);
	c->rep->strings_bad++;
	seg_report_damage(c->rep, name, e->str_off, "host/URL text fails its checksum");
	return 0;
}

/* Writes a segment file header from its name (creation time from its
 * index or string file header when one is sound, else 0). */
static int fix_seg_header(const char *dir, uint16_t worker, uint32_t segno)
{
	char path[PATH_MAX];
	uint8_t h[SEG_FILE_HDR_SIZE];
	struct seg_fhdr fh = { .worker = worker, .segno = segno, .idx_version = SEG_IDX_VERSION };
	for (int k = SEG_K_IDX; k <= SEG_K_STR; k++) {
		struct seg_fhdr o;
		if (seg_path(path, sizeof(path), dir, worker, segno, (enum seg_kind)k) < 0)
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    seg_fhdr_decode(h, (enum seg_kind)k, &o) == 0) {
			fh.created_ns = fh.created_ns ? fh.created_ns : o.created_ns;
			if (k == SEG_K_IDX)
				fh.idx_version = o.idx_version; /* what its writer wrote */
		}
		close(fd);
	}
	int rc = seg_path(path, sizeof(path), dir, worker, segno, SEG_K_SEG);
	if (rc < 0)
		return rc;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	seg_fhdr_encode(h, SEG_K_SEG, &fh);
	rc = pwrite(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	return rc;
}

/* Walks one segment's frames, counting records and ended exchanges;
 * repair cuts a torn tail and rewrites a damaged file header. */
static int fsck_segment(const char *dir, const struct seg_list_item *item, bool repair,
			struct seg_report *rep, struct frame_set *fs)
{
	char path[PATH_MAX];
	struct seg_fiter it;
	int rc = seg_path(path, sizeof(path), dir, item->worker, item->segno, SEG_K_SEG);
	if (rc == 0)
		rc = seg_fiter_open(&it, path, false, rep);
	if (rc < 0)
		return rc;
	while ((rc = seg_fiter_next(&it)) == 1) {
		uint32_t pos = 0;
		rc = 0;
		if (fs->n == fs->cap) {
			size_t nc = fs->cap ? 2 * fs->cap : 256;
			uint32_t *v = realloc(fs->offs, nc * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			fs->offs = v;
			fs->cap = nc;
		}
		fs->offs[fs->n++] = (uint32_t)it.frame_off; /* increasing: sorted */
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
	bool bad_header = it.bad_header;
	seg_fiter_close(&it);
	if (rc == 0 && repair && bad_header)
		rc = fix_seg_header(dir, item->worker, item->segno);
	return rc;
}

static bool has_item(const struct seg_list_item *v, size_t n, uint16_t w, uint32_t s)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].worker == w && v[i].segno == s)
			return true;
	return false;
}

/* Counts the files whose partner is missing: an .idx or .str without its
 * .seg (those exchanges are lost), a .seg without its .idx or .str (a
 * repair rebuilds them). */
static int check_partners(const char *dir, const struct seg_list_item *v, size_t n,
			  struct seg_report *rep)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	size_t seen = 0;
	uint64_t orphans = 0;
	while ((de = readdir(d)) != NULL && seen++ < 3u * SEG_FILES_MAX) {
		uint16_t w;
		uint32_t s;
		enum seg_kind k;
		if (!seg_file_parse(de->d_name, &w, &s, &k) || k == SEG_K_SEG)
			continue;
		if (!has_item(v, n, w, s)) {
			orphans++;
			seg_report_damage(rep, de->d_name, 0, "its segment file is missing");
		}
	}
	closedir(d);
	rep->files_missing += orphans;
	for (size_t i = 0; i < n; i++) {
		for (int k = SEG_K_IDX; k <= SEG_K_STR; k++) {
			char path[PATH_MAX];
			if (seg_path(path, sizeof(path), dir, v[i].worker, v[i].segno,
				     (enum seg_kind)k) < 0)
				continue;
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				rep->files_missing++;
				seg_report_damage(rep, strrchr(path, '/') + 1, 0, "file missing");
				continue;
			}
			uint8_t h[SEG_FILE_HDR_SIZE];
			struct seg_fhdr fh;
			/* The index scan checks its own header; the string file's is
			 * checked here (its text is checked entry by entry). */
			if (k == SEG_K_STR && (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
					       seg_fhdr_decode(h, SEG_K_STR, &fh) < 0)) {
				rep->bad_regions++;
				seg_report_damage(rep, strrchr(path, '/') + 1, 0,
						  "bad string file header");
			}
			close(fd);
		}
	}
	return 0;
}

/* Checks the tombstone records; repair rewrites the file with the valid
 * ones only (temp file, fsync, rename). */
static int fsck_tombstones(const char *dir, bool repair, struct seg_report *rep)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct stat sb;
	if (snprintf(path, sizeof(path), "%s/%s", dir, SEG_TOMB_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	uint8_t *b = NULL;
	int rc = fstat(fd, &sb) < 0 ? -errno : 0;
	uint64_t len = rc == 0 ? (uint64_t)sb.st_size : 0, good = 0;
	if (rc == 0 && len > (uint64_t)SEG_TOMB_SIZE * SEG_TABLE_ROWS_MAX)
		rc = -EFBIG;
	if (rc == 0 && len > 0 && !(b = malloc(len)))
		rc = -ENOMEM;
	if (rc == 0 && len > 0 && pread(fd, b, len, 0) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	for (uint64_t o = 0; rc == 0 && o + SEG_TOMB_SIZE <= len; o += SEG_TOMB_SIZE) {
		if (seg_get32(b + o + 16) == SEG_TOMB_MAGIC &&
		    seg_get32(b + o + 20) == seg_crc32c(0, b + o, 20)) {
			memmove(b + good, b + o, SEG_TOMB_SIZE);
			good += SEG_TOMB_SIZE;
			continue;
		}
		rep->tombstones_bad++;
		seg_report_damage(rep, SEG_TOMB_FILE, o, "bad tombstone record");
	}
	if (rc == 0 && len % SEG_TOMB_SIZE) {
		rep->tombstones_bad++;
		seg_report_damage(rep, SEG_TOMB_FILE, len - len % SEG_TOMB_SIZE, "torn tombstone");
	}
	if (rc == 0 && repair && good != len) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0)
			rc = -errno;
		else {
			if ((good && write(fd, b, good) != (ssize_t)good) || fsync(fd) < 0)
				rc = -EIO;
			close(fd);
			if (rc == 0 && rename(tmp, path) < 0)
				rc = -errno;
		}
	}
	free(b);
	return rc;
}

int seg_fsck(const char *session_dir, bool repair, struct seg_report *rep)
{
	rep->strict = true; /* files at rest: a lagging index is damage however recent */
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	struct frame_set *fs = calloc(n ? n : 1, sizeof(*fs));
	if (!fs)
		rc = -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fsck_segment(session_dir, &items[i], repair, rep, &fs[i]);
	if (rc == 0)
		rc = check_partners(session_dir, items, n, rep);
	struct str_check sc = { .items = items, .frames = fs, .nitems = n, .dir = session_dir,
				.rep = rep };
	if (rc == 0)
		rc = seg_index_scan(session_dir, check_entry, &sc, rep);
	free(sc.buf);
	for (size_t i = 0; fs && i < n; i++)
		free(fs[i].offs);
	free(fs);
	if (rc == 0)
		rc = fsck_tombstones(session_dir, repair, rep);
	if (rc == 0)
		rc = seg_tomb_check(session_dir, repair, rep);
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
	return rc == 0 ? seg_tomb_note(session_dir) : rc;
}

int seg_entry_from_end(const struct seg_rec_view *r, uint16_t worker, uint32_t segno,
		       uint64_t frame_off, struct seg_entry *e)
{
	const uint8_t *q = r->p;
	*e = (struct seg_entry){
		.id = r->id, .start_ns = seg_get64(q + 88), .duration_ns = seg_get64(q + 8 + 32),
		.frame_off = seg_get32(q + 96), .last_frame_off = (uint32_t)frame_off,
		.str_off = seg_get32(q + 100), .str_crc = seg_get32(q + 104),
		.span = seg_get16(q + 108), .host_len = seg_get16(q + 110),
		.url_len = seg_get16(q + 112), .method = q[114],
		.req_size = seg_get64(q + 48) + seg_get64(q + 56),
		.resp_size = seg_get64(q + 64) + seg_get64(q + 72),
		.status = seg_get16(q), .type = q[2], .error = q[3], .flags = seg_get32(q + 4),
		.worker = worker, .segno = segno,
	};
	e->client.family = q[115];
	memcpy(e->client.addr, q + 116, 16);
	e->client.port = seg_get16(q + 132);
	if (e->span > segno - 1 || (e->span == 0 && e->frame_off > frame_off))
		return -EBADMSG;
	if (e->frame_off < SEG_FILE_HDR_SIZE || (uint64_t)(r->id >> SEG_ID_WORKER_SHIFT) != worker)
		return -EBADMSG;
	if (e->client.family != 0 && e->client.family != 4 && e->client.family != 6)
		return -EBADMSG;
	if (e->flags & ~SEG_F_ON_DISK)
		return -EBADMSG; /* a bit no writer sets: it would not fit RCAPIDX2 */
	return 0;
}

/* Grows *buf to hold need bytes (zero-filled); false when out of memory. */
static bool str_grow(char **buf, uint64_t *cap, uint64_t need)
{
	if (need <= *cap)
		return true;
	uint64_t nc = *cap ? *cap : 4096;
	while (nc < need)
		nc *= 2;
	char *nb = realloc(*buf, nc);
	if (!nb)
		return false;
	memset(nb + *cap, 0, nc - *cap);
	*buf = nb;
	*cap = nc;
	return true;
}

int seg_strings_rebuild(const char *dir, uint16_t worker, uint32_t segno, char **out,
			uint64_t *len)
{
	char path[PATH_MAX];
	struct seg_fiter it;
	char *buf = NULL;
	uint64_t cap = 0, used = SEG_FILE_HDR_SIZE;
	uint8_t ver;
	*out = NULL;
	*len = 0;
	(void)seg_created(dir, worker, segno, &ver); /* the text layout of its writer */
	int rc = seg_path(path, sizeof(path), dir, worker, segno, SEG_K_SEG);
	if (rc == 0)
		rc = seg_fiter_open(&it, path, false, NULL);
	if (rc < 0)
		return rc;
	while ((rc = seg_fiter_next(&it)) == 1) {
		uint32_t pos = 0;
		rc = 0;
		for (uint32_t i = 0; i < it.h.nrec && rc == 0; i++) {
			struct seg_rec_view r;
			if (seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r) < 0)
				break;
			if (r.type != SEG_R_BEGIN)
				continue;
			uint64_t off = seg_get32(r.p + 8);
			if (off < SEG_FILE_HDR_SIZE || off + SEG_STR_TEXT_MAX > SEG_ROTATE_BYTES_MAX)
				continue; /* no writer puts text there */
			if (!str_grow(&buf, &cap, off + SEG_STR_TEXT_MAX)) {
				rc = -ENOMEM;
				break;
			}
			uint32_t n = begin_text(r.p, ver, (uint8_t *)buf + off);
			used = off + n > used ? off + n : used;
		}
		if (rc < 0)
			break;
	}
	seg_fiter_close(&it);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = buf ? used : 0;
	return 0;
}
