/* persist/scan.c: the streaming selection of persist/scan.h.
 *
 * A row's place (pos, 64 bits): segment list index << 32 | entry number
 * in its index file; with bit 31 set instead: the n-th entry of that
 * segment that seg_heal_scan found in frames only (a damaged, missing or
 * lagging index), kept in the extra file. Keys are (sort key, pos) and
 * pos grows in load order,
 * so a stable sort by key alone gives seg_query_run's order: ties in load
 * order, as its stable radix sort leaves them.
 *
 * Pass 1 learns each entry's number in its index file by walking the file
 * beside seg_heal_scan: the heal scan hands out the valid entries of the
 * index in file order first, so the next entry of the walk that decodes
 * to the same id is the one; entries the walk cannot place come from the
 * frames and go to the extra file.
 *
 * Files: this one has the files, the text, the two passes and open/close;
 * persist/scan_keys.c the sort keys (runs, timed keys, host ranks);
 * persist/scan-int.h the state both use.
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
#include "persist/scan-int.h"
#include "persist/spill.h"
#include "persist/tsort.h"
#include "rc-assert.h"

/* ---- files ---- */

static void win_close(struct win *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->len = 0;
}

/* Points w at file (worker, segno, kind); 0, -ENOENT or -errno. */
static int win_open(struct seg_scan *s, struct win *w, uint16_t worker, uint32_t segno,
		    enum seg_kind k)
{
	if (w->fd >= 0 && w->worker == worker && w->segno == segno)
		return 0;
	win_close(w);
	if (w->buf == NULL && (w->buf = malloc(w->cap)) == NULL)
		return -ENOMEM;
	char path[PATH_MAX];
	int rc = seg_path(path, sizeof(path), s->dir, worker, segno, k);
	if (rc < 0)
		return rc;
	w->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(w->fd, &sb) < 0) {
		rc = -errno;
		win_close(w);
		return rc;
	}
	w->size = (uint64_t)sb.st_size;
	w->worker = worker;
	w->segno = segno;
	w->off = 0;
	w->len = 0;
	w->ver = 0;
	if (k == SEG_K_IDX) {
		uint8_t b[SEG_FILE_HDR_SIZE + SEG_ENTRY_SIZE_MAX];
		ssize_t got = pread(w->fd, b, sizeof(b), 0);
		bool bad;
		w->ver = seg_idx_version(b, got > 0 ? (size_t)got : 0, &bad);
	}
	return 0;
}

/* n bytes of w's file at off (n <= w->cap, off + n <= w->size), or NULL.
 * A miss reads a window starting an eighth of it before off: rows in
 * time order step back a little now and then; a small one when the last
 * served few reads (WIN_SMALL). */
static const uint8_t *win_get(struct win *w, uint64_t off, size_t n)
{
	if (off >= w->off && off + n <= w->off + w->len) {
		w->hits++;
		return w->buf + (off - w->off);
	}
	if (n > w->cap || off + n > w->size)
		return NULL;
	size_t span = w->hits >= WIN_HITS_FULL ? w->cap : (n > WIN_SMALL ? n : WIN_SMALL);
	span = span < w->cap ? span : w->cap;
	w->hits = 0;
	uint64_t back = span / 8;
	uint64_t start = off > back ? off - back : 0;
	if (start + span < off + n)
		start = off + n - span;
	size_t want = (size_t)(w->size - start < span ? w->size - start : span);
	ssize_t got = pread(w->fd, w->buf, want, (off_t)start);
	if (got < 0 || (uint64_t)got < off + n - start) {
		w->len = 0;
		return NULL;
	}
	w->off = start;
	w->len = (size_t)got;
	return w->buf + (off - start);
}

/* ---- tombstones ---- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Reads the valid tombstone records' ids, sorted (as seg_table_load). */
static int load_tombs(struct seg_scan *s)
{
	char path[PATH_MAX + 16];
	if (snprintf(path, sizeof(path), "%s/%s", s->dir, SEG_TOMB_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat sb;
	int rc = fstat(fd, &sb) < 0 ? -errno : 0;
	uint64_t len = rc == 0 ? (uint64_t)sb.st_size : 0;
	uint8_t buf[SEG_TOMB_SIZE * 256];
	s->tombs = malloc((len / SEG_TOMB_SIZE + 1) * sizeof(*s->tombs));
	if (rc == 0 && s->tombs == NULL)
		rc = -ENOMEM;
	for (uint64_t o = 0; rc == 0 && o + SEG_TOMB_SIZE <= len; o += sizeof(buf)) {
		uint64_t want = len - o < sizeof(buf) ? len - o : sizeof(buf);
		want -= want % SEG_TOMB_SIZE;
		if (pread(fd, buf, want, (off_t)o) != (ssize_t)want) {
			rc = -EIO;
			break;
		}
		for (uint64_t i = 0; i < want; i += SEG_TOMB_SIZE)
			if (seg_get32(buf + i + 16) == SEG_TOMB_MAGIC &&
			    seg_get32(buf + i + 20) == seg_crc32c(0, buf + i, 20))
				s->tombs[s->ntombs++] = seg_get64(buf + i);
	}
	close(fd);
	if (rc == 0 && s->ntombs > 1)   /* none: tombs may be NULL */
		qsort(s->tombs, s->ntombs, sizeof(*s->tombs), u64_cmp);
	return rc;
}

static bool tombstoned(const struct seg_scan *s, uint64_t id)
{
	return s->ntombs && bsearch(&id, s->tombs, s->ntombs, sizeof(id), u64_cmp);
}

/* ---- host/URL text ---- */

/* The text of e from b[0..len) (a string file, b[0] its byte base): true
 * when its checksum holds; sets r's text fields (persist/strtext.c). */
static bool text_from(const uint8_t *b, uint64_t len, uint64_t base,
		      const struct seg_entry *e, struct seg_qrow *r)
{
	if (e->str_off < base || e->str_off - base > len)
		return false;
	return seg_qrow_text(r, b + (e->str_off - base), len - (e->str_off - base)) == 0;
}

/* The text read back from the frames of segment (worker, segno). */
static const struct own_str *own_get(struct seg_scan *s, uint16_t worker, uint32_t segno)
{
	for (size_t i = 0; i < s->nown; i++)
		if (s->own[i].worker == worker && s->own[i].segno == segno)
			return &s->own[i];
	if (s->nown == s->own_cap) {
		size_t nc = s->own_cap ? 2 * s->own_cap : 4;
		struct own_str *v = realloc(s->own, nc * sizeof(*v));
		if (v == NULL)
			return NULL;
		s->own = v;
		s->own_cap = nc;
	}
	struct own_str *o = &s->own[s->nown];
	if (seg_strings_rebuild(s->dir, worker, segno, &o->buf, &o->len) < 0)
		o->buf = NULL, o->len = 0;
	o->worker = worker;
	o->segno = segno;
	s->nown++;
	return o;
}

/* Sets r's text from the string file, else from the frames; empty when
 * both fail (counted in pass 1). */
static void resolve_text(struct seg_scan *s, const struct seg_entry *e, struct seg_qrow *r,
			 bool count)
{
	r->host = r->url = r->client_name = "";
	r->client_name_len = 0;
	r->number = 0;
	uint32_t segno = e->span <= e->segno ? e->segno - e->span : 0;
	struct win *w = &s->str[e->worker % SEG_SCAN_SLOTS];
	size_t n = seg_str_max(e);
	if (segno >= 1 && win_open(s, w, e->worker, segno, SEG_K_STR) == 0 && e->str_off < w->size) {
		uint64_t have = w->size - e->str_off < n ? w->size - e->str_off : n;
		const uint8_t *p = win_get(w, e->str_off, (size_t)have);
		if (p && text_from(p, have, e->str_off, e, r))
			return;
	}
	const struct own_str *o = segno >= 1 ? own_get(s, e->worker, segno) : NULL;
	if (o && o->buf && text_from((const uint8_t *)o->buf, o->len, 0, e, r)) {
		if (count && s->rep && !(!s->rep->strict && seg_live(s->dir, e->worker, segno)))
			s->rep->strings_recovered++;
		return;
	}
	r->host = r->url = "";
	r->e.host_len = r->e.url_len = 0;
	if (count && s->rep)
		s->rep->strings_bad++;
}

static void fill_row(struct seg_scan *s, const struct seg_entry *e, struct seg_qrow *r,
		     bool text, bool count)
{
	r->e = *e;
	r->host_rank = 0;
	if (tombstoned(s, e->id))
		r->e.flags |= SEG_F_DELETED;
	if (text) {
		resolve_text(s, &r->e, r, count);
	} else {
		r->host = r->url = r->client_name = "";
		r->client_name_len = 0;
		r->number = 0;
	}
}

/* ---- pass 1 ---- */

/* The number of e in its index file (see the file comment), or -1. */
static int64_t walk_index(struct seg_scan *s, const struct seg_entry *e)
{
	struct win *w = &s->idx[e->worker % SEG_SCAN_SLOTS];
	if (win_open(s, w, e->worker, e->segno, SEG_K_IDX) < 0)
		return -1;
	if (s->cur_n == UINT64_MAX)
		s->cur_n = w->size >= SEG_FILE_HDR_SIZE ?
				   (w->size - SEG_FILE_HDR_SIZE) / seg_entry_size(w->ver) : 0;
	uint32_t st = seg_entry_size(w->ver);
	while (s->cur_j < s->cur_n) {
		uint64_t j = s->cur_j++;
		const uint8_t *p = win_get(w, SEG_FILE_HDR_SIZE + j * st, st);
		struct seg_entry d;
		if (p && seg_entry_decode(p, w->ver, e->worker, &d) == 0 && d.id == e->id)
			return (int64_t)j;
	}
	return -1;
}

static int place_of(struct seg_scan *s, const struct seg_entry *e, uint64_t *pos)
{
	int64_t j = walk_index(s, e);
	if (j >= 0 && (uint64_t)j <= POS_ENTRY_MASK) {
		*pos = (uint64_t)s->cur_item << 32 | (uint64_t)j;
		return 0;
	}
	uint64_t n = s->nextra - s->extra_base[s->cur_item];
	if (n > POS_ENTRY_MASK)
		return -E2BIG;
	if (s->extra == NULL && (s->extra = seg_spill_tmp_file()) == NULL)
		return -EIO;
	if (fwrite(e, sizeof(*e), 1, s->extra) != 1)
		return -EIO;
	s->nextra++;
	*pos = (uint64_t)s->cur_item << 32 | POS_EXTRA | n;
	return 0;
}

/* A text sort's record for the selected row r. */
static int add_text(struct seg_scan *s, const struct seg_qrow *r, uint64_t pos)
{
	const char *h = s->host_text ? r->host : "";
	uint32_t hl = s->host_text ? r->e.host_len : 0;
	int rc = seg_tsort_add(s->ts, h, hl, r->url, r->e.url_len, r->e.id, pos);
	if (rc < 0)
		return rc;
	s->total++;
	return s->total > SEG_TABLE_ROWS_MAX ? -E2BIG : 0;
}

static int pass1_entry(void *ctx, const struct seg_entry *e)
{
	struct seg_scan *s = ctx;
	struct seg_qrow r;
	fill_row(s, e, &r, s->need_text, true);
	s->t_min = (s->nseen++ == 0 || e->start_ns < s->t_min) ? e->start_ns : s->t_min;
	uint32_t hid = 0;
	int rc = s->timed && s->q.sort == SEG_SORT_HOST ? scan_host_id(s, r.host, r.e.host_len, &hid) : 0;
	if (rc < 0)
		return rc;
	if (!seg_query_match(&s->q, &r))
		return 0;
	uint64_t pos;
	rc = place_of(s, e, &pos);
	if (rc < 0)
		return rc;
	ASSERT(pos <= POS_MASK);
	if (s->ts)
		return add_text(s, &r, pos);
	if (s->timed)
		pos |= (s->q.sort == SEG_SORT_HOST ? hid : scan_small_key(e, s->q.sort)) << 48;
	return scan_add_key(s, scan_sort_key(e, s->q.sort), pos);
}

static int pass1(struct seg_scan *s)
{
	int rc = 0;
	for (size_t i = 0; i < s->nitems && rc == 0; i++) {
		s->cur_item = i;
		s->cur_j = 0;
		s->cur_n = UINT64_MAX;
		s->extra_base[i] = s->nextra;
		rc = seg_heal_scan(s->dir, s->items[i].worker, s->items[i].segno, pass1_entry, s,
				   s->rep);
	}
	if (rc == 0 && s->rep && s->rep->strings_recovered)
		seg_report_damage(s->rep, "strings", 0, "host/URL text damaged: read from the segment");
	return rc;
}

/* ---- pass 2 ---- */

/* The merge's order (spill.h's before; s->q.reverse reads the runs from
 * their end). */
static bool key_before(const uint8_t *pa, const uint8_t *pb, void *ctx)
{
	const struct seg_scan *s = ctx;
	struct skey a, b;
	memcpy(&a, pa, sizeof(a));
	memcpy(&b, pb, sizeof(b));
	if (a.k != b.k)
		return s->q.reverse ? a.k > b.k : a.k < b.k;
	return s->q.reverse ? a.pos > b.pos : a.pos < b.pos;
}

/* The next key in order; false at the end (or on error, s->err). */
static bool next_key(struct seg_scan *s, struct skey *out)
{
	bool rev = s->q.reverse;
	if (s->sp.nruns == 0) {
		if (s->mem_pos >= s->nkeys)
			return false;
		size_t i = (size_t)s->mem_pos++;
		*out = s->keys[rev ? s->nkeys - 1 - i : i];
		return true;
	}
	const uint8_t *p;
	size_t len;
	int rc = seg_spill_next(&s->sp, &p, &len);
	if (rc < 0)
		s->err = rc;
	if (rc <= 0)
		return false;
	memcpy(out, p, sizeof(*out));
	return true;
}

static int entry_at(struct seg_scan *s, uint64_t pos, struct seg_entry *e)
{
	size_t i = (size_t)(pos >> 32);
	ASSERT(i < s->nitems);
	if (pos & POS_EXTRA) {
		uint64_t k = s->extra_base[i] + (pos & POS_ENTRY_MASK);
		ssize_t got = pread(fileno(s->extra), e, sizeof(*e), (off_t)(k * sizeof(*e)));
		return got == (ssize_t)sizeof(*e) ? 0 : -EIO;
	}
	const struct seg_list_item *it = &s->items[i];
	struct win *w = &s->idx[it->worker % SEG_SCAN_SLOTS];
	int rc = win_open(s, w, it->worker, it->segno, SEG_K_IDX);
	if (rc < 0)
		return rc;
	uint32_t st = seg_entry_size(w->ver);
	const uint8_t *p = win_get(w, SEG_FILE_HDR_SIZE + (pos & POS_ENTRY_MASK) * st, st);
	/* pass 1 decoded these bytes: a failure now means the file changed */
	if (p == NULL || seg_entry_decode(p, w->ver, it->worker, e) < 0)
		return -EIO;
	e->worker = it->worker;
	e->segno = it->segno;
	return 0;
}

int seg_scan_next(struct seg_scan *s, struct seg_qrow *r)
{
	while (s->handed < s->count) {
		struct skey k;
		if (s->ts) {
			int rc = seg_tsort_next(s->ts, &k.pos);
			if (rc <= 0)
				return rc < 0 ? rc : -EIO;
		} else if (!next_key(s, &k)) {
			return s->err ? s->err : -EIO;
		}
		if (s->skipped < s->q.offset) {
			s->skipped++;
			continue;
		}
		struct seg_entry e;
		int rc = entry_at(s, k.pos, &e);
		if (rc < 0)
			return rc;
		fill_row(s, &e, r, true, false);
		s->handed++;
		return 1;
	}
	return 0;
}

/* ---- open / close ---- */

bool seg_scan_supports(const struct seg_query *q)
{
	return q == NULL || q->sort < SEG_SORT_COUNT;
}

/* Window sizes; their buffers come with the first file they open. */
static int alloc_windows(struct seg_scan *s)
{
	for (size_t i = 0; i < SEG_SCAN_SLOTS; i++) {
		s->idx[i] = (struct win){ .fd = -1, .cap = SEG_SCAN_IDX_WINDOW * SEG_ENTRY_SIZE_MAX };
		s->str[i] = (struct win){ .fd = -1, .cap = SEG_SCAN_STR_WINDOW };
	}
	return 0;
}

/* Turns n raw timed keys into query.c's keys (file comment); map gives
 * a host's rank by its number (host sort only). */
static int scan_build(const char *session_dir, const struct seg_scan_cfg *cfg,
		      const struct seg_query *q, bool host_text, struct seg_scan **out,
		      struct seg_report *rep)
{
	struct seg_scan *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < SEG_SCAN_SLOTS; i++)
		s->idx[i].fd = s->str[i].fd = -1;
	size_t mem = cfg && cfg->keys_mem_max ? cfg->keys_mem_max : SEG_SCAN_KEYS_MEM_DEFAULT;
	mem = mem < SEG_SCAN_KEYS_MEM_MIN ? SEG_SCAN_KEYS_MEM_MIN : mem;
	s->chunk = mem / 2 / sizeof(struct skey);
	s->q = *q;
	s->rep = rep;
	s->sp = (struct seg_spill){ .rec_size = sizeof(struct skey), .before = key_before,
				    .ctx = s, .reverse = q->reverse };
	/* a report counts damaged text, so it needs the text read */
	s->need_text = (q->search && q->search[0]) || q->match || rep ||
		       q->sort == SEG_SORT_HOST || q->sort == SEG_SORT_URL;
	s->host_text = host_text;
	s->timed = scan_is_timed(q->sort) && !host_text;
	int rc = snprintf(s->dir, sizeof(s->dir), "%s", session_dir) >= (int)sizeof(s->dir) ?
		 -ENAMETOOLONG : 0;
	if (rc == 0 && (q->sort == SEG_SORT_URL || host_text))
		rc = seg_tsort_new(mem, q->reverse, &s->ts);
	if (rc == 0)
		rc = alloc_windows(s);
	if (rc == 0)
		rc = seg_list_segments(session_dir, &s->items, &s->nitems);
	if (rc == 0)
		rc = s->nitems <= SEG_FILES_MAX ? load_tombs(s) : -E2BIG;
	if (rc == 0 && (s->extra_base = calloc(s->nitems + 1, sizeof(*s->extra_base))) == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		rc = pass1(s);
	if (rc == 0 && s->extra && fflush(s->extra) != 0)
		rc = -EIO;
	if (rc == 0)
		rc = scan_finish_keys(s);
	if (rc < 0) {
		seg_scan_close(s);
		return rc;
	}
	size_t off = q->offset < s->total ? q->offset : s->total;
	s->count = s->total - off;
	if (q->limit && s->count > q->limit)
		s->count = q->limit;
	s->rep = NULL;
	*out = s;
	return 0;
}

int seg_scan_open(const char *session_dir, const struct seg_scan_cfg *cfg,
		  struct seg_scan **out, struct seg_report *rep)
{
	static const struct seg_query all;
	const struct seg_query *q = cfg && cfg->q ? cfg->q : &all;
	*out = NULL;
	if (!seg_scan_supports(q))
		return -ENOTSUP;
	struct seg_report saved;
	if (rep)
		saved = *rep;
	int rc = scan_build(session_dir, cfg, q, false, out, rep);
	if (rc != -ENOTSUP || q->sort != SEG_SORT_HOST)
		return rc;
	/* more hosts than 16 bits rank: again, ordered by text; the report
	 * counts the session once */
	if (rep)
		*rep = saved;
	return scan_build(session_dir, cfg, q, true, out, rep);
}

size_t seg_scan_total(const struct seg_scan *s) { return s->total; }
size_t seg_scan_count(const struct seg_scan *s) { return s->count; }
size_t seg_scan_runs(const struct seg_scan *s)
{
	return s->ts ? seg_tsort_runs(s->ts) : s->sp.nruns;
}

void seg_scan_close(struct seg_scan *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < SEG_SCAN_SLOTS; i++) {
		win_close(&s->idx[i]);
		win_close(&s->str[i]);
		free(s->idx[i].buf);
		free(s->str[i].buf);
	}
	for (size_t i = 0; i < s->nown; i++)
		free(s->own[i].buf);
	free(s->own);
	free(s->items);
	free(s->extra_base);
	free(s->tombs);
	free(s->keys);
	free(s->hs);
	free(s->arena);
	seg_tsort_free(s->ts);
	seg_spill_free(&s->sp);
	if (s->extra)
		fclose(s->extra);
	free(s);
}
