/* persist/heal.c: index scans and finding an exchange by id. Scans heal:
 * an index missing, damaged or behind its segment is completed from the
 * segment's frames (seg_heal_scan), so no exchange whose frames are intact
 * is hidden. persist/open.c opens what these find.
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
#include "persist/ses.h"

#define IDX_CHUNK_ENTRIES 4096u

/* What one index file held: the ids of its valid entries (for the heal
 * scan to tell the exchanges only the frames know) and its damage. */
struct idx_scan {
	uint64_t *ids;
	size_t n, cap;
	uint64_t last_frame; /* last_frame_off of the last valid entry; 0 none */
	uint64_t bad, torn;
	bool missing, bad_header, oom;
};

static void scan_note(struct idx_scan *sc, const struct seg_entry *e)
{
	if (!sc)
		return;
	sc->last_frame = e->last_frame_off;
	if (sc->n == sc->cap && !sc->oom) {
		size_t nc = sc->cap ? 2 * sc->cap : 1024;
		uint64_t *v = realloc(sc->ids, nc * sizeof(*v));
		if (!v) {
			sc->oom = true;
			return;
		}
		sc->ids = v;
		sc->cap = nc;
	}
	if (!sc->oom)
		sc->ids[sc->n++] = e->id;
}

/* Calls fn for each valid entry of one index file; counts damage in rep
 * and, when sc is set, records ids and damage there. */
static int idx_file_scan(const char *dir, uint16_t worker, uint32_t segno,
			 int (*fn)(void *, const struct seg_entry *), void *ctx,
			 struct seg_report *rep, struct idx_scan *sc)
{
	struct seg_idx ix;
	int rc = seg_idx_open(dir, worker, segno, &ix);
	if (rc == -ENOENT) {
		if (sc)
			sc->missing = true; /* the heal scan reads the frames */
		return 0;
	}
	if (rc < 0)
		return rc;
	char path[PATH_MAX];
	seg_path(path, sizeof(path), dir, worker, segno, SEG_K_IDX);
	if (ix.bad_header && ix.size >= SEG_FILE_HDR_SIZE && rep) {
		rep->bad_regions++;
		seg_report_damage(rep, path, 0, "bad index file header");
	}
	if (sc)
		sc->bad_header = ix.bad_header && ix.size > 0;
	uint8_t *buf = malloc(IDX_CHUNK_ENTRIES * ix.stride);
	uint64_t off = SEG_FILE_HDR_SIZE;
	rc = buf ? 0 : -ENOMEM;
	while (rc == 0 && off + ix.stride <= ix.size) {
		uint64_t n = (ix.size - off) / ix.stride;
		n = n > IDX_CHUNK_ENTRIES ? IDX_CHUNK_ENTRIES : n;
		ssize_t got = pread(ix.fd, buf, n * ix.stride, (off_t)off);
		if (got != (ssize_t)(n * ix.stride)) {
			rc = -EIO;
			break;
		}
		for (uint64_t i = 0; i < n && rc == 0; i++) {
			struct seg_entry e;
			if (seg_idx_decode(&ix, buf + i * ix.stride, &e) < 0) {
				if (rep) {
					rep->entries_bad++;
					seg_report_damage(rep, path, off + i * ix.stride,
							  "bad index entry");
				}
				if (sc)
					sc->bad++;
				continue;
			}
			if (rep)
				rep->entries_ok++;
			scan_note(sc, &e);
			rc = fn(ctx, &e);
		}
		off += n * ix.stride;
	}
	if (rc == 0 && off < ix.size && ix.size > SEG_FILE_HDR_SIZE) {
		if (sc)
			sc->torn += ix.size - off; /* seg_heal_scan reports it, or not (live) */
		else if (rep)
			rep->torn_bytes += ix.size - off; /* a partly written last entry */
	}
	free(buf);
	seg_idx_close(&ix);
	return rc;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Replays the END records of segment (worker, segno) from frame offset
 * from; calls fn for the exchanges sc does not hold. *found counts them. */
static int frames_scan(const char *dir, uint16_t worker, uint32_t segno, uint64_t from,
		       const struct idx_scan *sc, int (*fn)(void *, const struct seg_entry *),
		       void *ctx, uint64_t *found)
{
	char path[PATH_MAX];
	struct seg_fiter it;
	int rc = seg_path(path, sizeof(path), dir, worker, segno, SEG_K_SEG);
	if (rc == 0)
		rc = seg_fiter_open(&it, path, false, NULL);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (from > it.off)
		it.off = from;
	while ((rc = seg_fiter_next(&it)) == 1) {
		uint32_t pos = 0;
		rc = 0;
		for (uint32_t i = 0; i < it.h.nrec && rc == 0; i++) {
			struct seg_rec_view r;
			struct seg_entry e;
			if (seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r) < 0)
				break; /* validated by the iterator */
			if (r.type != SEG_R_END ||
			    seg_entry_from_end(&r, worker, segno, it.frame_off, &e) < 0)
				continue;
			/* the layout of its .str extension (a damaged .seg header:
			 * the writers') */
			e.idx_version = it.bad_header ? SEG_IDX_VERSION : it.fhdr.idx_version;
			if (sc->n && bsearch(&e.id, sc->ids, sc->n, sizeof(e.id), u64_cmp))
				continue;
			(*found)++;
			rc = fn(ctx, &e);
		}
		if (rc != 0)
			break;
	}
	seg_fiter_close(&it);
	return rc;
}

/* True while the session of dir (DATA/ID) is capturing: active or paused
 * in its metadata. A stopped or interrupted session has no writer, so
 * nothing of it is "mid-flush", however recent its files. */
static bool session_running(const char *dir)
{
	char data[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir || (size_t)(slash - dir) >= sizeof(data))
		return false;
	memcpy(data, dir, (size_t)(slash - dir));
	data[slash - dir] = '\0';
	struct ses_meta *m = malloc(sizeof(*m));
	bool running = m && ses_load(data, slash + 1, m) == 0 &&
		       (m->state == SES_ACTIVE || m->state == SES_PAUSED);
	free(m);
	return running;
}

bool seg_live(const char *dir, uint16_t worker, uint32_t segno)
{
	char path[PATH_MAX];
	struct stat sb;
	struct timespec now;
	if (!session_running(dir))
		return false;
	if (seg_path(path, sizeof(path), dir, worker, segno, SEG_K_SEG) < 0 || stat(path, &sb) < 0 ||
	    clock_gettime(CLOCK_REALTIME, &now) < 0)
		return false;
	int64_t age = ((int64_t)now.tv_sec - (int64_t)sb.st_mtim.tv_sec) * 1000000000 +
		      ((int64_t)now.tv_nsec - (int64_t)sb.st_mtim.tv_nsec);
	return age < (int64_t)SEG_LIVE_NS;
}

int seg_heal_scan(const char *dir, uint16_t worker, uint32_t segno,
		  int (*fn)(void *, const struct seg_entry *), void *ctx, struct seg_report *rep)
{
	struct idx_scan sc = { 0 };
	int rc = idx_file_scan(dir, worker, segno, fn, ctx, rep, &sc);
	if (rc != 0 || sc.oom) {
		free(sc.ids);
		return rc != 0 ? rc : -ENOMEM;
	}
	/* An index whose every entry is sound is trusted up to the frame of its
	 * last entry (entries are written after their frame, in END order):
	 * only the frames from there on are read, usually one. */
	bool damaged = sc.missing || sc.bad_header || sc.bad || sc.torn;
	uint64_t from = damaged || sc.n == 0 ? SEG_FILE_HDR_SIZE : sc.last_frame;
	uint64_t found = 0;
	if (sc.n)
		qsort(sc.ids, sc.n, sizeof(*sc.ids), u64_cmp);
	rc = frames_scan(dir, worker, segno, from, &sc, fn, ctx, &found);
	free(sc.ids);
	/* A sound index behind a segment being written is a flush in flight:
	 * its exchanges are listed all the same, and it is not damage. */
	bool inflight = !sc.missing && !sc.bad_header && !sc.bad && rep && !rep->strict &&
			(found || sc.torn) && seg_live(dir, worker, segno);
	if (rep && !inflight)
		rep->torn_bytes += sc.torn;
	if (rep && !inflight && (found || (damaged && !sc.missing))) {
		char name[32];
		seg_file_name(name, sizeof(name), worker, segno, SEG_K_IDX);
		rep->indexes_healed++;
		rep->entries_recovered += found;
		seg_report_damage(rep, name, 0, sc.missing ? "index file missing" :
				  damaged ? "index damaged: exchanges read from the segment" :
					    "index behind its segment: exchanges read from it");
	}
	return rc;
}

/* ENDs in segment (worker, segno) after the END of last_id in frame from:
 * the exchanges a sound index has not reached yet. */
static uint64_t tail_ends(const char *dir, uint16_t worker, uint32_t segno, uint64_t from,
			  uint64_t last_id)
{
	char path[PATH_MAX];
	struct seg_fiter it;
	uint64_t n = 0;
	bool after = last_id == UINT64_MAX; /* no entry yet: every END is new */
	if (seg_path(path, sizeof(path), dir, worker, segno, SEG_K_SEG) < 0 ||
	    seg_fiter_open(&it, path, false, NULL) < 0)
		return 0;
	it.off = from > it.off ? from : it.off;
	while (seg_fiter_next(&it) == 1) {
		uint32_t pos = 0;
		for (uint32_t i = 0; i < it.h.nrec; i++) {
			struct seg_rec_view r;
			if (seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r) < 0)
				break;
			if (r.type != SEG_R_END)
				continue;
			n += after;
			after = after || r.id == last_id;
		}
		after = true; /* a later frame: all its ENDs are new */
	}
	seg_fiter_close(&it);
	return n;
}

static int count_cb(void *ctx, const struct seg_entry *e)
{
	(void)e;
	(*(uint64_t *)ctx)++;
	return 0;
}

int seg_count_entries(const char *dir, uint16_t worker, uint32_t segno, uint64_t *n)
{
	struct seg_idx ix;
	struct seg_entry e;
	*n = 0;
	int rc = seg_idx_open(dir, worker, segno, &ix);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	bool sound = rc == 0 && !ix.bad_header &&
		     (ix.size - SEG_FILE_HDR_SIZE) % ix.stride == 0;
	uint64_t cnt = sound ? ix.n : 0;
	if (sound && cnt > 0)
		sound = seg_idx_entry(&ix, cnt - 1, &e);
	if (rc == 0)
		seg_idx_close(&ix);
	if (sound) {
		*n = cnt + (cnt ? tail_ends(dir, worker, segno, e.last_frame_off, e.id) :
				  tail_ends(dir, worker, segno, 0, UINT64_MAX));
		return 0;
	}
	return seg_heal_scan(dir, worker, segno, count_cb, n, NULL);
}

int seg_index_scan(const char *session_dir, int (*fn)(void *ctx, const struct seg_entry *e),
		   void *ctx, struct seg_report *rep)
{
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = seg_heal_scan(session_dir, items[i].worker, items[i].segno, fn, ctx, rep);
	free(items);
	return rc;
}

struct find_ctx {
	uint64_t id;
	struct seg_entry *out;
	bool found;
};

static int find_cb(void *ctx, const struct seg_entry *e)
{
	struct find_ctx *f = ctx;
	if (e->id != f->id)
		return 0;
	*f->out = *e;
	f->found = true;
	return 1; /* stop */
}

uint8_t seg_idx_version(const uint8_t *b, size_t len, bool *bad)
{
	struct seg_fhdr h;
	struct seg_entry e;
	*bad = len < SEG_FILE_HDR_SIZE || seg_fhdr_decode(b, SEG_K_IDX, &h) < 0;
	if (!*bad)
		return h.idx_version;
	if (len >= SEG_FILE_HDR_SIZE + SEG_ENTRY2_SIZE &&
	    seg_entry_decode(b + SEG_FILE_HDR_SIZE, SEG_IDX_V2, 0, &e) == 0)
		return SEG_IDX_V2;
	if (len >= SEG_FILE_HDR_SIZE + SEG_ENTRY1_SIZE &&
	    seg_entry_decode(b + SEG_FILE_HDR_SIZE, SEG_IDX_V1, 0, &e) == 0)
		return SEG_IDX_V1;
	return SEG_IDX_VERSION;
}

int seg_idx_open(const char *dir, uint16_t worker, uint32_t segno, struct seg_idx *ix)
{
	char path[PATH_MAX];
	struct stat sb;
	uint8_t b[SEG_FILE_HDR_SIZE + SEG_ENTRY_SIZE_MAX];
	memset(ix, 0, sizeof(*ix));
	ix->fd = -1;
	int rc = seg_path(path, sizeof(path), dir, worker, segno, SEG_K_IDX);
	if (rc < 0)
		return rc;
	ix->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ix->fd < 0)
		return -errno;
	if (fstat(ix->fd, &sb) < 0) {
		rc = -errno;
		seg_idx_close(ix);
		return rc;
	}
	ix->worker = worker;
	ix->segno = segno;
	ix->size = (uint64_t)sb.st_size;
	ssize_t got = pread(ix->fd, b, sizeof(b), 0);
	ix->ver = seg_idx_version(b, got > 0 ? (size_t)got : 0, &ix->bad_header);
	ix->stride = seg_entry_size(ix->ver);
	ix->n = ix->size > SEG_FILE_HDR_SIZE ? (ix->size - SEG_FILE_HDR_SIZE) / ix->stride : 0;
	return 0;
}

void seg_idx_close(struct seg_idx *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	ix->fd = -1;
}

int seg_idx_decode(const struct seg_idx *ix, const uint8_t *b, struct seg_entry *e)
{
	int rc = seg_entry_decode(b, ix->ver, ix->worker, e);
	e->segno = ix->segno;
	return rc;
}

bool seg_idx_entry(const struct seg_idx *ix, uint64_t i, struct seg_entry *e)
{
	uint8_t b[SEG_ENTRY_SIZE_MAX];
	return i < ix->n &&
	       pread(ix->fd, b, ix->stride, (off_t)(SEG_FILE_HDR_SIZE + i * ix->stride)) ==
		       (ssize_t)ix->stride && seg_idx_decode(ix, b, e) == 0;
}

/* Fast path of seg_find in one index file. Entries are in END order and
 * ids in BEGIN order, so ids are nearly sorted: binary search for the
 * position, then look FIND_WINDOW entries either side. Misses (damaged
 * probes, an exchange that outlived thousands of others) return false and
 * the caller scans everything. */
#define FIND_WINDOW 1024u
static bool find_fast(const char *dir, uint16_t worker, uint32_t segno, uint64_t id,
		      struct seg_entry *out)
{
	struct seg_idx ix;
	if (seg_idx_open(dir, worker, segno, &ix) < 0)
		return false;
	bool found = false;
	uint64_t lo = 0, hi = ix.n, n = ix.n;
	struct seg_entry e;
	for (int guard = 0; guard < 64 && lo < hi; guard++) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (!seg_idx_entry(&ix, mid, &e))
			break; /* damaged probe: the window below still helps */
		if (e.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t a = lo > FIND_WINDOW ? lo - FIND_WINDOW : 0;
	uint64_t b = lo + FIND_WINDOW < n ? lo + FIND_WINDOW : n;
	uint32_t st = ix.stride;
	uint8_t *buf = a < b ? malloc((b - a) * st) : NULL;
	if (buf && pread(ix.fd, buf, (b - a) * st, (off_t)(SEG_FILE_HDR_SIZE + a * st)) ==
			   (ssize_t)((b - a) * st)) {
		for (uint64_t i = 0; i < b - a && !found; i++)
			if (seg_entry_id(buf + i * st, ix.ver, worker) == id &&
			    seg_idx_decode(&ix, buf + i * st, out) == 0)
				found = true;
	}
	free(buf);
	seg_idx_close(&ix);
	return found;
}

int seg_find(const char *session_dir, uint64_t id, struct seg_entry *out)
{
	uint16_t worker = (uint16_t)(id >> SEG_ID_WORKER_SHIFT);
	if (id >> SEG_ID_WORKER_SHIFT >= SEG_WORKERS_MAX)
		return -ENOENT;
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	struct find_ctx f = { .id = id, .out = out };
	for (size_t i = n; i > 0 && !f.found; i--)
		if (items[i - 1].worker == worker)
			f.found = find_fast(session_dir, worker, items[i - 1].segno, id, out);
	/* Newest first: recent exchanges are looked at most. */
	for (size_t i = n; i > 0 && !f.found; i--) {
		if (items[i - 1].worker != worker)
			continue;
		rc = seg_heal_scan(session_dir, worker, items[i - 1].segno, find_cb, &f, NULL);
		if (rc < 0)
			break;
	}
	free(items);
	if (rc < 0)
		return rc;
	return f.found ? 0 : -ENOENT;
}
