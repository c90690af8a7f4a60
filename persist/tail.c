/* persist/tail.c: the incremental index reader of persist/tail.h.
 *
 * Per worker a cursor: the segment it reads, the entries of its .idx
 * taken so far and that file's descriptor. A poll reads each worker's new
 * whole entries (fstat, then one pread per SEG_TAIL_BATCH), fetches their
 * text through one window of the string file, and when a worker has
 * caught up tries the next segment's .idx: it exists only after the
 * current one's last write (segment.c queues the rotation's opens behind
 * the old files' writes), so the current one is read to its end once more
 * and the cursor moves on. New workers are found by listing the directory
 * when its mtime moved (and while it moved recently: mtime is as coarse as
 * the kernel's clock tick, two changes within one tick look like one).
 *
 * Bounds: each worker's loop is bounded by its entries and segments; a
 * poll by max rows; workers by SEG_WORKERS_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/reader-int.h"
#include "persist/tail.h"
#include "rc-assert.h"

#define WIN_BYTES (64u * 1024u)   /* string window: about 600 rows of text per pread */
#define RELIST_RECENT_NS (2ull * 1000u * 1000u * 1000u) /* relist while the dir changed
							  * this recently (mtime ticks) */

_Static_assert(WIN_BYTES >= SEG_STR_TEXT_MAX, "one row's text must fit the window");
_Static_assert(SEG_TAIL_BATCH * SEG_ENTRY_SIZE_MAX <= (1u << 20), "batch buffer stays small");

struct tail_worker {
	uint16_t worker;
	uint32_t segno;    /* the segment whose .idx is read */
	uint64_t entries;  /* entries of it taken (or skipped) */
	int fd;            /* its .idx, -1 until it exists */
	uint8_t ver;       /* its layout (SEG_IDX_V*), 0 until its header is read */
	uint64_t stuck_ms; /* monotonic ms the entry at `entries` first failed; 0 none */
};

struct seg_tail {
	char dir[PATH_MAX];
	uint32_t wait_ms;
	struct tail_worker *w;
	size_t nw;
	struct timespec dir_mtime;
	bool listed;
	/* the string window: bytes [win_off, win_off + win_len) of one .str */
	int str_fd;
	uint16_t str_worker;
	uint32_t str_segno;
	uint64_t win_off;
	uint32_t win_len;
	uint8_t *win;
	uint8_t *batch;   /* SEG_TAIL_BATCH entries */
	bool impatient;   /* this poll gave up waiting once: the rest do not wait */
	struct seg_tail_stats st;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int idx_open(const struct seg_tail *t, uint16_t worker, uint32_t segno)
{
	char path[PATH_MAX];
	int rc = seg_path(path, sizeof(path), t->dir, worker, segno, SEG_K_IDX);
	if (rc < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Whole entries in w's .idx; its layout is read from its header once
 * the header is there (a guess from the first entry when it is damaged). */
static uint64_t fd_entries(struct tail_worker *w)
{
	struct stat sb;
	if (w->fd < 0 || fstat(w->fd, &sb) < 0)
		return 0;
	uint64_t size = (uint64_t)sb.st_size;
	if (w->ver == 0) {
		uint8_t b[SEG_FILE_HDR_SIZE + SEG_ENTRY_SIZE_MAX];
		ssize_t got = size >= SEG_FILE_HDR_SIZE ? pread(w->fd, b, sizeof(b), 0) : 0;
		bool bad;
		uint8_t v = seg_idx_version(b, got > 0 ? (size_t)got : 0, &bad);
		if (!bad || got == (ssize_t)sizeof(b))
			w->ver = v; /* else wait: the header may be on its way */
		if (w->ver == 0)
			return 0;
	}
	return size > SEG_FILE_HDR_SIZE ? (size - SEG_FILE_HDR_SIZE) / seg_entry_size(w->ver) : 0;
}

static struct tail_worker *worker_find(struct seg_tail *t, uint16_t worker)
{
	for (size_t i = 0; i < t->nw; i++)
		if (t->w[i].worker == worker)
			return &t->w[i];
	return NULL;
}

/* Adds a worker found in the listing at segment segno: from its start, or
 * (from_end, at open) after what its .idx holds now. */
static int worker_add(struct seg_tail *t, uint16_t worker, uint32_t segno, bool from_end)
{
	if (t->nw == SEG_WORKERS_MAX)
		return -E2BIG;
	struct tail_worker *nv = realloc(t->w, (t->nw + 1) * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	t->w = nv;
	struct tail_worker *w = &t->w[t->nw++];
	*w = (struct tail_worker){ .worker = worker, .segno = segno, .fd = -1 };
	int fd = idx_open(t, worker, segno);
	if (fd >= 0) {
		w->fd = fd;
		w->entries = from_end ? fd_entries(w) : 0;
	}
	return 0;
}

/* Lists the directory when it changed: workers not seen before are added
 * at their first segment (from_end: at their last, after its entries). */
static int relist(struct seg_tail *t, bool from_end)
{
	struct stat sb;
	if (stat(t->dir, &sb) < 0)
		return -errno;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t age = ((int64_t)now.tv_sec - (int64_t)sb.st_mtim.tv_sec) * 1000000000 +
		      ((int64_t)now.tv_nsec - (int64_t)sb.st_mtim.tv_nsec);
	bool same = t->listed && sb.st_mtim.tv_sec == t->dir_mtime.tv_sec &&
		    sb.st_mtim.tv_nsec == t->dir_mtime.tv_nsec;
	if (same && age >= (int64_t)RELIST_RECENT_NS)
		return 0;
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(t->dir, &items, &n);
	if (rc < 0)
		return rc;
	t->st.lists++;
	/* sorted by (worker, segno): a worker's first item is its lowest
	 * segment, its last the highest */
	for (size_t i = 0; i < n && rc == 0; i++) {
		bool last = i + 1 == n || items[i + 1].worker != items[i].worker;
		bool first = i == 0 || items[i - 1].worker != items[i].worker;
		if (worker_find(t, items[i].worker) != NULL)
			continue;
		if (from_end ? last : first)
			rc = worker_add(t, items[i].worker, items[i].segno, from_end);
	}
	free(items);
	t->dir_mtime = sb.st_mtim;
	t->listed = true;
	return rc;
}

int seg_tail_open(const char *session_dir, const struct seg_tail_opts *o, struct seg_tail **out)
{
	struct seg_tail *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->str_fd = -1;
	t->wait_ms = o && o->wait_ms ? o->wait_ms : SEG_TAIL_WAIT_MS_DEFAULT;
	int rc = snprintf(t->dir, sizeof(t->dir), "%s", session_dir) >= (int)sizeof(t->dir) ?
			 -ENAMETOOLONG : 0;
	t->win = rc == 0 ? malloc(WIN_BYTES) : NULL;
	t->batch = t->win ? malloc(SEG_TAIL_BATCH * SEG_ENTRY_SIZE_MAX) : NULL;
	if (rc == 0 && (t->win == NULL || t->batch == NULL))
		rc = -ENOMEM;
	if (rc == 0)
		rc = relist(t, o && o->from_end);
	if (rc < 0) {
		seg_tail_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

void seg_tail_close(struct seg_tail *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nw; i++)
		if (t->w[i].fd >= 0)
			close(t->w[i].fd);
	if (t->str_fd >= 0)
		close(t->str_fd);
	free(t->w);
	free(t->win);
	free(t->batch);
	free(t);
}

void seg_tail_get_stats(const struct seg_tail *t, struct seg_tail_stats *st)
{
	*st = t->st;
}

/* Points *p at len bytes of (worker, segno)'s .str from off, at least
 * need of them (len >= need; fewer than len when the file ends first:
 * *got says). -EAGAIN when fewer than need are there (not yet written, or
 * never), else 0 or -errno. */
static int str_get(struct seg_tail *t, uint16_t worker, uint32_t segno, uint64_t off,
		   uint32_t need, uint32_t len, const uint8_t **p, uint32_t *got)
{
	ASSERT(need <= len);
	ASSERT(len <= WIN_BYTES);
	bool same = t->str_fd >= 0 && t->str_worker == worker && t->str_segno == segno;
	if (same && off >= t->win_off && off + need <= t->win_off + t->win_len) {
		*p = t->win + (off - t->win_off);
		uint64_t have = t->win_off + t->win_len - off;
		*got = have < len ? (uint32_t)have : len;
		return 0;
	}
	if (!same) {
		char path[PATH_MAX];
		if (t->str_fd >= 0)
			close(t->str_fd);
		t->win_len = 0;
		int rc = seg_path(path, sizeof(path), t->dir, worker, segno, SEG_K_STR);
		t->str_fd = rc < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (t->str_fd < 0)
			return rc < 0 ? rc : errno == ENOENT ? -EAGAIN : -errno;
		t->str_worker = worker;
		t->str_segno = segno;
	}
	ssize_t r = pread(t->str_fd, t->win, WIN_BYTES, (off_t)off);
	if (r < 0)
		return -errno;
	t->win_off = off;
	t->win_len = (uint32_t)r;
	if (t->win_len < need)
		return -EAGAIN;
	*p = t->win;
	*got = t->win_len < len ? t->win_len : len;
	return 0;
}

/* Fills r's text from the .str (as persist/table.c reads it). -EAGAIN
 * when the file does not reach it yet, -EBADMSG when it does not match
 * its checksum. */
static int row_text(struct seg_tail *t, struct seg_qrow *r)
{
	const struct seg_entry *e = &r->e;
	if (e->span > e->segno)
		return -EBADMSG;
	struct seg_str_view v;
	(void)seg_str_view(e, NULL, 0, &v); /* v.len: the fewest bytes it can take */
	const uint8_t *p;
	uint32_t got = 0;
	int rc = str_get(t, e->worker, e->segno - e->span, e->str_off, v.len, seg_str_max(e), &p,
			 &got);
	if (rc < 0)
		return rc;
	/* -EBADMSG: the bytes are there (written before the entry): damage */
	return seg_qrow_text(r, p, got);
}

/* Decodes entry b of worker w into r with its text. 1: ready; 0: not
 * yet (wait); -EBADMSG: give up on it (waited long enough); the row is
 * handed out with empty text when only its text is missing. */
static int take_entry(struct seg_tail *t, struct tail_worker *w, const uint8_t *b,
		      struct seg_qrow *r, uint64_t now_ms)
{
	memset(r, 0, sizeof(*r));
	r->host = r->url = r->client_name = "";
	bool waited = t->impatient || (w->stuck_ms != 0 && now_ms - w->stuck_ms >= t->wait_ms);
	if (seg_entry_decode(b, w->ver, w->worker, &r->e) < 0) {
		if (waited) {
			t->impatient = true;
			return -EBADMSG;
		}
		w->stuck_ms = w->stuck_ms ? w->stuck_ms : now_ms;
		return 0;
	}
	r->e.worker = w->worker;
	r->e.segno = w->segno;
	int rc = row_text(t, r);
	if (rc == -EAGAIN && !waited) {
		w->stuck_ms = w->stuck_ms ? w->stuck_ms : now_ms;
		return 0;
	}
	t->impatient |= rc == -EAGAIN;
	if (rc < 0) {   /* listed without its text, as the table does */
		r->host = r->url = r->client_name = "";
		r->client_name_len = 0;
		r->number = 0;
		r->e.host_len = r->e.url_len = 0;
		t->st.strings_bad++;
	}
	return 1;
}

/* Hands out worker w's new entries of its current segment; *done set when
 * the worker has to wait (caught up, stuck, or max reached). */
static int worker_read(struct seg_tail *t, struct tail_worker *w, size_t max, size_t *n,
		       int (*fn)(void *, const struct seg_qrow *), void *ctx, uint64_t now_ms,
		       bool *more)
{
	uint64_t have = fd_entries(w);
	*more = false;
	if (have <= w->entries)
		return 0;
	uint32_t st = seg_entry_size(w->ver);
	uint64_t k = have - w->entries;
	k = k > SEG_TAIL_BATCH ? SEG_TAIL_BATCH : k;
	if (max)
		k = k > max - *n ? max - *n : k;
	off_t off = (off_t)(SEG_FILE_HDR_SIZE + w->entries * st);
	ssize_t got = pread(w->fd, t->batch, k * st, off);
	if (got < 0)
		return -errno;
	k = (uint64_t)got / st;
	int rc = 0;
	for (uint64_t i = 0; i < k && rc == 0; i++) {
		struct seg_qrow r;
		int ok = take_entry(t, w, t->batch + i * st, &r, now_ms);
		if (ok == 0)
			return 0;   /* wait for it: the next poll starts here */
		w->stuck_ms = 0;
		w->entries++;
		if (ok < 0) {
			t->st.entries_bad++;
			continue;
		}
		t->st.rows++;
		(*n)++;
		rc = fn(ctx, &r);
	}
	*more = rc == 0 && (max == 0 || *n < max);
	return rc;
}

/* Moves w to its next segment when that one's .idx exists and the
 * current one holds nothing more. true when it moved. */
static bool worker_next(struct seg_tail *t, struct tail_worker *w)
{
	if (w->segno >= SEG_SEGNO_MAX)
		return false;
	int fd = idx_open(t, w->worker, w->segno + 1);
	if (fd < 0)
		return false;
	/* the current file's last writes landed before this open: one more
	 * look, in case they landed after our fstat */
	if (w->fd >= 0 && fd_entries(w) > w->entries) {
		close(fd);
		return false;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->ver = 0;
	w->segno++;
	w->entries = 0;
	w->stuck_ms = 0;
	t->st.switches++;
	return true;
}

/* A worker whose current .idx is missing (never written, or removed) is
 * moved along only when a later segment exists. */
static void worker_reopen(struct seg_tail *t, struct tail_worker *w)
{
	if (w->fd >= 0)
		return;
	int fd = idx_open(t, w->worker, w->segno);
	if (fd >= 0) {
		w->fd = fd;
		w->ver = 0;
	}
}

int seg_tail_poll(struct seg_tail *t, size_t max, int (*fn)(void *ctx, const struct seg_qrow *r),
		  void *ctx, size_t *n_out)
{
	size_t n = 0;
	int rc = relist(t, false);
	if (rc == -ENOENT)
		rc = 0;   /* the session was deleted: nothing more will come */
	uint64_t now = mono_ms();
	t->impatient = false;
	for (size_t i = 0; i < t->nw && rc == 0 && (max == 0 || n < max); i++) {
		struct tail_worker *w = &t->w[i];
		worker_reopen(t, w);
		/* bounded: each pass takes a batch, or moves a segment on */
		for (uint64_t guard = 0; guard < (1ull << 32) && rc == 0; guard++) {
			bool more;
			rc = worker_read(t, w, max, &n, fn, ctx, now, &more);
			if (rc != 0 || (max && n >= max) || w->stuck_ms)
				break;
			if (more)
				continue;
			if (!worker_next(t, w))
				break;
		}
	}
	if (n_out)
		*n_out = n;
	return rc;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int seg_tombstones_read(const char *session_dir, uint64_t **ids, size_t *n, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat sb;
	*ids = NULL;
	*n = 0;
	if (size)
		*size = 0;
	if (snprintf(path, sizeof(path), "%s/%s", session_dir, SEG_TOMB_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = fstat(fd, &sb) < 0 ? -errno : 0;
	uint64_t len = rc == 0 ? (uint64_t)sb.st_size : 0;
	uint8_t *b = len ? malloc(len) : NULL;
	uint64_t *v = len ? malloc((len / SEG_TOMB_SIZE + 1) * sizeof(*v)) : NULL;
	if (rc == 0 && len && (b == NULL || v == NULL))
		rc = -ENOMEM;
	if (rc == 0 && len && pread(fd, b, len, 0) != (ssize_t)len)
		rc = -EIO;
	size_t k = 0;
	for (uint64_t o = 0; rc == 0 && o + SEG_TOMB_SIZE <= len; o += SEG_TOMB_SIZE)
		if (seg_get32(b + o + 16) == SEG_TOMB_MAGIC &&
		    seg_get32(b + o + 20) == seg_crc32c(0, b + o, 20))
			v[k++] = seg_get64(b + o);
	close(fd);
	free(b);
	if (size && rc == 0)
		*size = len;
	if (rc < 0 || k == 0) {
		free(v);
		return rc;
	}
	qsort(v, k, sizeof(*v), id_cmp);
	*ids = v;
	*n = k;
	return 0;
}
