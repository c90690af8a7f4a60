/* persist/open.c: index scans, finding an exchange by id and opening it
 * (decompressing only the frames from its BEGIN to its END). Scans heal:
 * an index missing, damaged or behind its segment is completed from the
 * segment's frames, so no exchange whose frames are intact is hidden. An exchange
 * whose frame range holds a damaged frame is refused (-EBADMSG): a missing
 * body chunk would otherwise come back as silently wrong bytes.
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
	char path[PATH_MAX];
	int rc = seg_path(path, sizeof(path), dir, worker, segno, SEG_K_IDX);
	if (rc < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		if (sc)
			sc->missing = true; /* the heal scan reads the frames */
		return 0;
	}
	struct stat sb;
	uint8_t *buf = malloc(IDX_CHUNK_ENTRIES * SEG_ENTRY_SIZE);
	if (!buf || fstat(fd, &sb) < 0) {
		rc = buf ? -errno : -ENOMEM;
		goto out;
	}
	uint64_t size = (uint64_t)sb.st_size, off = SEG_FILE_HDR_SIZE;
	if (size >= SEG_FILE_HDR_SIZE && pread(fd, buf, SEG_FILE_HDR_SIZE, 0) == SEG_FILE_HDR_SIZE) {
		struct seg_fhdr h;
		if (seg_fhdr_decode(buf, SEG_K_IDX, &h) < 0) {
			if (rep) {
				rep->bad_regions++;
				seg_report_damage(rep, path, 0, "bad index file header");
			}
			if (sc)
				sc->bad_header = true;
		}
	} else if (size > 0 && sc) {
		sc->bad_header = true; /* shorter than its header */
	}
	while (rc == 0 && off + SEG_ENTRY_SIZE <= size) {
		uint64_t n = (size - off) / SEG_ENTRY_SIZE;
		n = n > IDX_CHUNK_ENTRIES ? IDX_CHUNK_ENTRIES : n;
		ssize_t got = pread(fd, buf, n * SEG_ENTRY_SIZE, (off_t)off);
		if (got != (ssize_t)(n * SEG_ENTRY_SIZE)) {
			rc = -EIO;
			break;
		}
		for (uint64_t i = 0; i < n && rc == 0; i++) {
			struct seg_entry e;
			if (seg_entry_decode(buf + i * SEG_ENTRY_SIZE, &e) < 0) {
				if (rep) {
					rep->entries_bad++;
					seg_report_damage(rep, path, off + i * SEG_ENTRY_SIZE,
							  "bad index entry");
				}
				if (sc)
					sc->bad++;
				continue;
			}
			e.worker = worker;
			e.segno = segno;
			if (rep)
				rep->entries_ok++;
			scan_note(sc, &e);
			rc = fn(ctx, &e);
		}
		off += n * SEG_ENTRY_SIZE;
	}
	if (rc == 0 && off < size && size > SEG_FILE_HDR_SIZE) {
		if (sc)
			sc->torn += size - off; /* seg_heal_scan reports it, or not (live) */
		else if (rep)
			rep->torn_bytes += size - off; /* a partly written last entry */
	}
out:
	free(buf);
	close(fd);
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
	char path[PATH_MAX];
	uint8_t h[SEG_FILE_HDR_SIZE], b[SEG_ENTRY_SIZE];
	struct seg_fhdr fh;
	struct seg_entry e;
	struct stat sb;
	*n = 0;
	int rc = seg_path(path, sizeof(path), dir, worker, segno, SEG_K_IDX);
	if (rc < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool sound = fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size >= SEG_FILE_HDR_SIZE &&
		     ((uint64_t)sb.st_size - SEG_FILE_HDR_SIZE) % SEG_ENTRY_SIZE == 0 &&
		     pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		     seg_fhdr_decode(h, SEG_K_IDX, &fh) == 0;
	uint64_t cnt = sound ? ((uint64_t)sb.st_size - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE : 0;
	if (sound && cnt > 0)
		sound = pread(fd, b, sizeof(b), sb.st_size - (off_t)SEG_ENTRY_SIZE) ==
				(ssize_t)sizeof(b) && seg_entry_decode(b, &e) == 0;
	if (fd >= 0)
		close(fd);
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

/* Reads entry i of an index file; false when unreadable or invalid. */
static bool entry_at(int fd, uint64_t i, struct seg_entry *e)
{
	uint8_t b[SEG_ENTRY_SIZE];
	return pread(fd, b, sizeof(b), (off_t)(SEG_FILE_HDR_SIZE + i * SEG_ENTRY_SIZE)) ==
		       (ssize_t)sizeof(b) && seg_entry_decode(b, e) == 0;
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
	char path[PATH_MAX];
	struct stat sb;
	if (seg_path(path, sizeof(path), dir, worker, segno, SEG_K_IDX) < 0)
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool found = false;
	uint64_t n = fstat(fd, &sb) == 0 && sb.st_size > SEG_FILE_HDR_SIZE ?
			     ((uint64_t)sb.st_size - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE : 0;
	uint64_t lo = 0, hi = n;
	struct seg_entry e;
	for (int guard = 0; guard < 64 && lo < hi; guard++) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (!entry_at(fd, mid, &e))
			break; /* damaged probe: the window below still helps */
		if (e.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t a = lo > FIND_WINDOW ? lo - FIND_WINDOW : 0;
	uint64_t b = lo + FIND_WINDOW < n ? lo + FIND_WINDOW : n;
	uint8_t *buf = a < b ? malloc((b - a) * SEG_ENTRY_SIZE) : NULL;
	if (buf && pread(fd, buf, (b - a) * SEG_ENTRY_SIZE,
			 (off_t)(SEG_FILE_HDR_SIZE + a * SEG_ENTRY_SIZE)) ==
			   (ssize_t)((b - a) * SEG_ENTRY_SIZE)) {
		for (uint64_t i = 0; i < b - a && !found; i++)
			if (seg_get64(buf + i * SEG_ENTRY_SIZE) == id &&
			    seg_entry_decode(buf + i * SEG_ENTRY_SIZE, out) == 0)
				found = true;
	}
	free(buf);
	close(fd);
	if (found) {
		out->worker = worker;
		out->segno = segno;
	}
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

static char *dupn(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static int on_begin(struct seg_exchange *x, const uint8_t *q)
{
	x->start_ns = seg_get64(q);
	x->flags |= seg_get32(q + 12) & ~SEG_F_STR_EXT; /* a layout fact, not the exchange's */
	memcpy(x->client.addr, q + 16, 16);
	x->client.port = seg_get16(q + 32);
	x->client.family = q[34];
	x->scheme = q[35];
	x->http_version = q[36];
	x->method = q[37];
	x->port = seg_get16(q + 38);
	x->number = seg_get32(q + 52);
	size_t l[5] = { seg_get16(q + 40), seg_get16(q + 42), seg_get16(q + 44),
			seg_get16(q + 46), seg_get32(q + 48) };
	const uint8_t *p = q + SEG_BEGIN_FIXED;
	char **dst[4] = { &x->method_text, &x->host, &x->url, &x->client_name };
	for (int i = 0; i < 4; i++) {
		free(*dst[i]);
		*dst[i] = dupn(p, l[i]);
		if (!*dst[i])
			return -ENOMEM;
		p += l[i];
	}
	free(x->req_head);
	x->req_head = (uint8_t *)dupn(p, l[4]);
	x->req_head_len = l[4];
	return x->req_head ? 0 : -ENOMEM;
}

static int on_resp_head(struct seg_exchange *x, const uint8_t *q)
{
	x->status = seg_get16(q);
	x->type = q[2];
	size_t rl = seg_get16(q + 4), hl = seg_get32(q + 8);
	free(x->reason);
	free(x->resp_head);
	x->reason = dupn(q + SEG_RESP_FIXED, rl);
	x->resp_head = (uint8_t *)dupn(q + SEG_RESP_FIXED + rl, hl);
	x->resp_head_len = hl;
	return (x->reason && x->resp_head) ? 0 : -ENOMEM;
}

/* The server address of an END payload that seg_rec_parse accepted (its
 * family is 0, 4 or 6, and an IPv6 address follows the error message). */
static void end_server(struct seg_exchange *x, const uint8_t *q)
{
	memset(&x->server, 0, sizeof(x->server));
	x->server.family = q[82];
	if (q[82] == 4)
		memcpy(x->server.addr, q + 84, 4);
	else if (q[82] == 6)
		memcpy(x->server.addr, q + SEG_END_FIXED + seg_get16(q + 80), 16);
	if (q[82])
		x->server.port = seg_get16(q + 134);
}

static int on_end(struct seg_exchange *x, const uint8_t *q)
{
	x->status = seg_get16(q);
	x->type = q[2];
	x->error = q[3];
	x->flags |= seg_get32(q + 4) & ~SEG_F_STR_EXT;
	uint64_t *tv[9] = { &x->t.dns_ns, &x->t.connect_ns, &x->t.tls_ns, &x->t.ttfb_ns,
			    &x->t.total_ns, &x->wire.req_head, &x->wire.req_body,
			    &x->wire.resp_head, &x->wire.resp_body };
	for (int i = 0; i < 9; i++)
		*tv[i] = seg_get64(q + 8 + 8 * i);
	free(x->err_msg);
	x->err_msg = dupn(q + SEG_END_FIXED, seg_get16(q + 80));
	end_server(x, q);
	x->complete = true;
	for (size_t i = 0; i < x->nmsgs; i++)
		if (!x->msgs[i].complete)
			x->msgs[i].cut = true;   /* the tunnel ended before its LAST */
	return x->err_msg ? 0 : -ENOMEM;
}

/* A TRAILERS record (segment.c): the direction's trailer block. */
static int on_trailers(struct seg_exchange *x, const uint8_t *q, size_t len)
{
	uint8_t d = q[0];
	size_t n = len - SEG_TRAILERS_FIXED;
	free(x->trailers[d]);
	x->trailers[d] = (uint8_t *)dupn(q + SEG_TRAILERS_FIXED, n);
	x->trailers_len[d] = n;
	x->trailers_wire_len[d] = seg_get32(q + 4);
	return x->trailers[d] ? 0 : -ENOMEM;
}

static int on_body(struct seg_exchange *x, const struct seg_open_opts *o, enum seg_dir d,
		   const uint8_t *p, size_t n)
{
	if (o && o->on_body)
		return o->on_body(o->ctx, d, p, n);
	size_t max = o ? o->body_max[d] : 0;
	size_t k = n;
	if (x->body_len[d] + k > max) {
		k = max - x->body_len[d];
		x->body_cut[d] = true;
	}
	if (k == 0)
		return 0;
	uint8_t *nb = realloc(x->body[d], x->body_len[d] + k);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + x->body_len[d], p, k);
	x->body[d] = nb;
	x->body_len[d] += k;
	return 0;
}

/* The data message of direction d still waiting for its LAST, or NULL. */
static struct seg_msg *open_msg(struct seg_exchange *x, uint8_t d)
{
	for (size_t i = x->nmsgs; i > 0; i--) {
		struct seg_msg *m = &x->msgs[i - 1];
		if (m->dir == d && m->opcode < 8)
			return m->complete ? NULL : m;
	}
	return NULL;
}

static struct seg_msg *new_msg(struct seg_exchange *x, const struct seg_open_opts *o)
{
	if (x->nmsgs >= o->msgs_max) {
		x->msgs_cut = true;
		return NULL;
	}
	if ((x->nmsgs & (x->nmsgs - 1)) == 0) {   /* 0, 1, 2, 4...: grow to double */
		size_t cap = x->nmsgs < 4 ? 4 : 2 * x->nmsgs;
		struct seg_msg *nm = realloc(x->msgs, cap * sizeof(*nm));
		if (nm == NULL)
			return NULL;
		x->msgs = nm;
	}
	struct seg_msg *m = &x->msgs[x->nmsgs++];
	memset(m, 0, sizeof(*m));
	return m;
}

/* A MSG record (segment.c): joins pieces into x->msgs. */
static int on_msg(struct seg_exchange *x, const struct seg_open_opts *o, const uint8_t *q,
		  size_t len)
{
	if (o == NULL || o->msgs_max == 0)
		return 0;
	uint8_t d = q[0], op = q[1], fl = q[2];
	struct seg_msg *m = op < 8 ? open_msg(x, d) : NULL;
	if (m && ((fl & SEG_MSG_F_FIRST) || m->opcode != op)) {
		m->cut = m->complete = true;   /* its LAST was lost */
		m = NULL;
	}
	if (m == NULL) {
		m = new_msg(x, o);
		if (m == NULL)
			return x->msgs_cut ? 0 : -ENOMEM;
		m->dir = d;
		m->opcode = op;
		m->start_ns = seg_get64(q + 8);
		m->deflated = (fl & SEG_MSG_F_DEFLATED) != 0;
		m->cut = !(fl & SEG_MSG_F_FIRST);   /* its first piece was lost */
	}
	m->cut |= (fl & SEG_MSG_F_CUT) != 0;
	m->len = seg_get64(q + 16);
	m->wire_len = seg_get64(q + 24);
	m->complete = (fl & SEG_MSG_F_LAST) != 0;
	size_t n = len - SEG_MSG_FIXED, max = o->body_max[d];
	if (m->data_len + n > max) {
		n = max > m->data_len ? max - m->data_len : 0;
		m->cut = true;
	}
	if (n == 0)
		return 0;
	uint8_t *nb = realloc(m->data, m->data_len + n);
	if (nb == NULL)
		return -ENOMEM;
	memcpy(nb + m->data_len, q + SEG_MSG_FIXED, n);
	m->data = nb;
	m->data_len += n;
	return 0;
}

/* Where the BEGIN of an exchange was found in a frame. A frame holds one
 * worker's records in the order they were written and ids are given at
 * BEGIN, so the BEGIN of a greater id lies further on: opening exchanges
 * one after the other starts there instead of at the frame's first record
 * (reading each frame from its start made opening an exchange cost the
 * records before it: a third of the CPU of `ringcap ship`). */
struct begin_hint {
	uint64_t frame_off, id;
	uint32_t pos, i;
	bool set;
};

/* Applies the records of one valid frame that belong to x->id, from
 * record i at pos on; a BEGIN found is noted in h (may be NULL). */
static int scan_frame(struct seg_exchange *x, const struct seg_open_opts *o,
		      const struct seg_fiter *it, bool *began, uint32_t pos, uint32_t i,
		      struct begin_hint *h)
{
	int rc = 0;
	for (; i < it->h.nrec && rc == 0 && !x->complete; i++) {
		/* Another exchange's record is stepped over by its header: the
		 * frame's records were all checked when it was decompressed. */
		if (it->h.ulen - pos < SEG_REC_HDR)
			return -EBADMSG; /* validated by the iterator: our bug */
		if (seg_get64(it->ubuf + pos + 8) != x->id) {
			uint32_t len = seg_get32(it->ubuf + pos + 4);
			if (len > it->h.ulen - pos - SEG_REC_HDR)
				return -EBADMSG;
			pos += SEG_REC_HDR + len;
			continue;
		}
		uint32_t at = pos;
		struct seg_rec_view r;
		if (seg_rec_parse(it->ubuf, it->h.ulen, &pos, &r) < 0)
			return -EBADMSG; /* validated by the iterator: our bug */
		if (r.id != x->id || (!*began && r.type != SEG_R_BEGIN))
			continue;
		if (r.type == SEG_R_BEGIN && h)
			*h = (struct begin_hint){ it->frame_off, x->id, at, i, true };
		switch (r.type) {
		case SEG_R_BEGIN: rc = on_begin(x, r.p); *began = true; break;
		case SEG_R_REQ_BODY: rc = on_body(x, o, SEG_DIR_REQ, r.p, r.len); break;
		case SEG_R_RESP_HEAD: rc = on_resp_head(x, r.p); break;
		case SEG_R_RESP_BODY: rc = on_body(x, o, SEG_DIR_RESP, r.p, r.len); break;
		case SEG_R_END: rc = on_end(x, r.p); break;
		case SEG_R_MSG: rc = on_msg(x, o, r.p, r.len); break;
		case SEG_R_TRAILERS: rc = on_trailers(x, r.p, r.len); break;
		default: break;
		}
	}
	return rc;
}

/* Applies the records of one valid frame that belong to x->id, starting
 * after the hint's BEGIN when x's BEGIN must lie beyond it; if it is not
 * there after all (ids out of order), from the start again. */
static int apply_frame(struct seg_exchange *x, const struct seg_open_opts *o,
		       const struct seg_fiter *it, bool *began, struct begin_hint *h)
{
	bool skip = h && !*began && h->set && h->frame_off == it->frame_off && x->id > h->id;
	int rc = scan_frame(x, o, it, began, skip ? h->pos : 0, skip ? h->i : 0,
			    *began ? NULL : h);
	if (rc == 0 && skip && !*began)
		rc = scan_frame(x, o, it, began, 0, 0, h);
	return rc;
}

struct seg_open_cache {
	char path[PATH_MAX];
	struct seg_fiter it;
	struct seg_report rep;
	bool open, have; /* have: it->ubuf holds the valid frame at it->frame_off */
	uint64_t cur_next; /* the offset after it->frame_off's frame */
	/* The valid frame the iterator held before its current one (buffer
	 * swapped, not copied). Exchanges in flight at a flush begin in one
	 * frame and end in the next; in END order they alternate with ones
	 * wholly in the next, so a one-frame cache decompressed the earlier
	 * frame again for each (a live capture's follower: 39% in zstd). */
	uint8_t *prev;
	uint32_t prev_cap;
	struct seg_frame_hdr prev_h;
	uint64_t prev_off, prev_next;
	bool have_prev;
	struct begin_hint hint[2]; /* for the current and the previous frame */
	unsigned hint_next;        /* the slot a third frame takes */
};

/* The cache's BEGIN hint for the frame at frame_off (a reset slot when it
 * has none); NULL without a cache. */
static struct begin_hint *hint_of(struct seg_open_cache *c, uint64_t frame_off)
{
	if (c == NULL)
		return NULL;
	for (int k = 0; k < 2; k++)
		if (c->hint[k].set && c->hint[k].frame_off == frame_off)
			return &c->hint[k];
	struct begin_hint *h = &c->hint[c->hint_next];
	c->hint_next ^= 1;
	*h = (struct begin_hint){ .frame_off = frame_off };
	return h;
}

int seg_open_cache_new(struct seg_open_cache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void seg_open_cache_free(struct seg_open_cache *c)
{
	if (c && c->open)
		seg_fiter_close(&c->it);
	if (c)
		free(c->prev);
	free(c);
}

/* The iterator for path: the cache's when it already holds that file (its
 * size refreshed: a live segment grows), else a newly opened one. */
static int span_iter(struct seg_open_cache *c, const char *path, struct seg_fiter *local,
		     struct seg_report *rep, struct seg_fiter **it)
{
	struct stat sb;
	if (c && c->open && strcmp(c->path, path) == 0 && fstat(c->it.fd, &sb) == 0) {
		c->it.size = (uint64_t)sb.st_size;
		*it = &c->it;
		return 0;
	}
	if (c && c->open)
		seg_fiter_close(&c->it);
	if (c) {
		c->open = c->have = c->have_prev = false;
		memset(&c->rep, 0, sizeof(c->rep));
		memset(c->hint, 0, sizeof(c->hint));
	}
	*it = c ? &c->it : local;
	int rc = seg_fiter_open(*it, path, false, c ? &c->rep : rep);
	if (rc == 0 && c) {
		c->open = true;
		snprintf(c->path, sizeof(c->path), "%s", path);
	}
	return rc;
}

/* The iterator's next frame (seg_fiter_next). With a cache, the valid
 * frame it held becomes the previous one. */
static int advance(struct seg_open_cache *c, struct seg_fiter *it)
{
	if (c && c->have) {
		uint8_t *b = c->prev;
		uint32_t cap = c->prev_cap;
		c->prev = it->ubuf;
		c->prev_cap = it->ubuf_cap;
		it->ubuf = b;
		it->ubuf_cap = cap;
		c->prev_h = it->h;
		c->prev_off = it->frame_off;
		c->prev_next = c->cur_next;
		c->have_prev = true;
		c->have = false;
	}
	int rc = seg_fiter_next(it);
	if (c && rc == 1)
		c->cur_next = it->off;
	return rc;
}

/* Applies the cache's previous frame (at off) to x, and points the
 * iterator at the frame after it: 0 or apply_frame's error. */
static int apply_prev(struct seg_open_cache *c, struct seg_fiter *it,
		      const struct seg_open_opts *o, struct seg_exchange *x, bool *began,
		      bool *cached)
{
	struct seg_fiter pv = *it; /* a view: apply_frame reads ubuf and h only */
	pv.ubuf = c->prev;
	pv.h = c->prev_h;
	pv.frame_off = c->prev_off;
	int rc = apply_frame(x, o, &pv, began, *began ? NULL : hint_of(c, c->prev_off));
	*cached = c->have && it->frame_off == c->prev_next;
	if (!*cached)
		it->off = c->prev_next;
	return rc;
}

/* Reads frames of one segment from off until x is complete or, in the
 * END segment, past last_off. With a cache, the frame already decompressed
 * at off (the current one or the one before it) is used as it is. */
static int read_span(const char *dir, const struct seg_entry *e, uint32_t segno, uint64_t off,
		     bool last_seg, const struct seg_open_opts *o, struct seg_exchange *x,
		     bool *began)
{
	char path[PATH_MAX];
	struct seg_fiter local, *it = NULL;
	struct seg_report rep = { 0 };
	struct seg_open_cache *c = o ? o->cache : NULL;
	int rc = seg_path(path, sizeof(path), dir, e->worker, segno, SEG_K_SEG);
	if (rc == 0)
		rc = span_iter(c, path, &local, &rep, &it);
	if (rc < 0)
		return rc == -ENOENT ? -EBADMSG : rc;
	struct seg_report *rp = c ? &c->rep : &rep;
	uint64_t bad0 = rp->frames_bad;
	bool cached = c && c->have && it->frame_off == off;
	if (!cached && c && c->have_prev && c->prev_off == off)
		rc = apply_prev(c, it, o, x, began, &cached);
	else if (!cached)
		it->off = off;
	while (rc == 0 && !x->complete && (cached || (rc = advance(c, it)) == 1)) {
		cached = false;
		if (c)
			c->have = rp->frames_bad == bad0;
		if (rp->frames_bad != bad0)
			break;
		if (last_seg && it->frame_off > e->last_frame_off)
			break;
		rc = apply_frame(x, o, it, began, *began ? NULL : hint_of(c, it->frame_off));
		if (rc < 0)
			break;
	}
	if (c && rc <= 0 && !x->complete)
		c->have = false;
	if (rc >= 0 && rp->frames_bad != bad0)
		rc = -EBADMSG; /* a frame of the range is damaged */
	if (c == NULL)
		seg_fiter_close(it);
	return rc < 0 ? rc : 0;
}

int seg_open_entry(const char *session_dir, const struct seg_entry *e,
		   const struct seg_open_opts *o, struct seg_exchange *x)
{
	memset(x, 0, sizeof(*x));
	x->id = e->id;
	if (e->span > e->segno)
		return -EBADMSG;
	bool began = false;
	int rc = 0;
	uint32_t first = e->segno - e->span;
	for (uint32_t s = first; s <= e->segno && rc == 0 && !x->complete; s++)
		rc = read_span(session_dir, e, s, s == first ? e->frame_off : SEG_FILE_HDR_SIZE,
			       s == e->segno, o, x, &began);
	if (rc == 0 && (!began || !x->complete))
		rc = -EBADMSG;
	if (rc < 0) {
		seg_exchange_free(x);
		return rc;
	}
	return 0;
}

int seg_open_id(const char *session_dir, uint64_t id, const struct seg_open_opts *o,
		struct seg_exchange *x)
{
	struct seg_entry e;
	int rc = seg_find(session_dir, id, &e);
	if (rc < 0)
		return rc;
	return seg_open_entry(session_dir, &e, o, x);
}

void seg_exchange_free(struct seg_exchange *x)
{
	char **s[6] = { &x->method_text, &x->host, &x->url, &x->client_name, &x->reason,
			&x->err_msg };
	for (int i = 0; i < 6; i++) {
		free(*s[i]);
		*s[i] = NULL;
	}
	free(x->req_head);
	free(x->resp_head);
	free(x->body[0]);
	free(x->body[1]);
	x->req_head = x->resp_head = x->body[0] = x->body[1] = NULL;
	free(x->trailers[0]);
	free(x->trailers[1]);
	x->trailers[0] = x->trailers[1] = NULL;
	for (size_t i = 0; i < x->nmsgs; i++)
		free(x->msgs[i].data);
	free(x->msgs);
	x->msgs = NULL;
	x->nmsgs = 0;
}
