/* persist/table.c: the session table of persist/query.h (seg_table_load):
 * the index entries of all workers with their host/URL text (the .str
 * files mapped, or healed from the frames when their checksum fails),
 * tombstones applied and hosts ranked for sorting. persist/query.c runs
 * the queries over it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/reader-int.h"

struct str_file {
	uint16_t worker;
	uint32_t segno;
	char *buf;
	uint64_t len;
};

struct loader {
	struct seg_table *t;
	struct str_file *sf;
	size_t nsf, cap;
	size_t strs_pending; /* rows whose host/URL text failed its checksum */
	struct seg_report *rep;
};
static char *read_all(const char *path, uint64_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat sb;
	char *buf = NULL;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <= SEG_ROTATE_BYTES_MAX) {
		buf = malloc((size_t)sb.st_size);
		if (buf && pread(fd, buf, (size_t)sb.st_size, 0) != sb.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = (uint64_t)sb.st_size;
	}
	close(fd);
	return buf;
}

/* String files are mapped, not copied: they are append-only and a table
 * only reads them (MAP_POPULATE: one fault pass instead of one per page). */
static char *map_all(const char *path, uint64_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat sb;
	char *p = NULL;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <= SEG_ROTATE_BYTES_MAX) {
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (p == MAP_FAILED)
			p = NULL;
		*len = (uint64_t)sb.st_size;
	}
	close(fd);
	return p;
}

/* Rows live in an anonymous mapping populated in one go: on this class of
 * VM a page fault per 4 KiB of a 120 MB table cost more than the load. */
static int rows_reserve(struct seg_table *t, size_t cap)
{
	size_t bytes = cap * sizeof(*t->rows);
	void *p;
	if (t->rows)
		p = mremap(t->rows, t->rows_cap * sizeof(*t->rows), bytes, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	t->rows = p;
	t->rows_cap = cap;
	return 0;
}

static const struct str_file *find_str(const struct loader *l, uint16_t w, uint32_t s)
{
	size_t lo = 0, hi = l->nsf;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct str_file *f = &l->sf[mid];
		if (f->worker == w && f->segno == s)
			return f;
		if (f->worker < w || (f->worker == w && f->segno < s))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int add_row(void *ctx, const struct seg_entry *e)
{
	struct loader *l = ctx;
	struct seg_table *t = l->t;
	if (t->n == l->cap) {
		if (l->cap >= SEG_TABLE_ROWS_MAX)
			return -E2BIG;
		int rc = rows_reserve(t, l->cap ? l->cap * 2 : 4096);
		if (rc < 0)
			return rc;
		l->cap = t->rows_cap;
	}
	struct seg_qrow *r = &t->rows[t->n++];
	r->e = *e;
	r->host = r->url = r->client_name = "";
	r->client_name_len = 0;
	r->number = 0;
	const struct str_file *f = e->span <= e->segno ? find_str(l, e->worker, e->segno - e->span) : NULL;
	if (f == NULL || f->buf == NULL || e->str_off > f->len ||
	    seg_qrow_text(r, (const uint8_t *)f->buf + e->str_off, f->len - e->str_off) < 0) {
		r->host = r->url = NULL; /* heal_strings() reads it from the frames */
		l->strs_pending++;
	}
	t->t_min = (t->n == 1 || e->start_ns < t->t_min) ? e->start_ns : t->t_min;
	t->t_max = e->start_ns > t->t_max ? e->start_ns : t->t_max;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Marks tombstoned rows; a damaged tombstone record is ignored. */
static int apply_tombstones(const char *dir, struct seg_table *t)
{
	char path[PATH_MAX];
	uint64_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, SEG_TOMB_FILE);
	uint8_t *b = (uint8_t *)read_all(path, &len);
	if (!b)
		return 0;
	size_t n = 0;
	uint64_t *ids = malloc((len / SEG_TOMB_SIZE + 1) * sizeof(*ids));
	if (!ids) {
		free(b);
		return -ENOMEM;
	}
	for (uint64_t o = 0; o + SEG_TOMB_SIZE <= len; o += SEG_TOMB_SIZE)
		if (seg_get32(b + o + 16) == SEG_TOMB_MAGIC &&
		    seg_get32(b + o + 20) == seg_crc32c(0, b + o, 20))
			ids[n++] = seg_get64(b + o);
	qsort(ids, n, sizeof(*ids), u64_cmp);
	for (size_t i = 0; i < t->n && n; i++)
		if (bsearch(&t->rows[i].e.id, ids, n, sizeof(*ids), u64_cmp)) {
			t->rows[i].e.flags |= SEG_F_DELETED;
			t->deleted++;
		}
	free(ids);
	free(b);
	return 0;
}

struct host_slot {
	const char *p;
	uint32_t len, id;
};

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

static int rank_cmp(const void *a, const void *b)
{
	const struct host_slot *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Gives every row the rank of its host among the distinct hosts, so host
 * sorting and grouping work on integers. Hosts are few; rows are many. */
static int rank_hosts(struct seg_table *t)
{
	size_t cap = 1024, used = 0;
	struct host_slot *tab = calloc(cap, sizeof(*tab));
	uint32_t *ids = malloc((t->n ? t->n : 1) * sizeof(*ids));
	int rc = (tab && ids) ? 0 : -ENOMEM;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		const struct seg_qrow *r = &t->rows[i];
		if (2 * (used + 1) > cap) { /* grow: rehash every slot */
			struct host_slot *nt = calloc(2 * cap, sizeof(*nt));
			if (!nt) {
				rc = -ENOMEM;
				break;
			}
			for (size_t k = 0; k < cap; k++) {
				if (!tab[k].p)
					continue;
				size_t j = fnv(tab[k].p, tab[k].len) & (2 * cap - 1);
				while (nt[j].p)
					j = (j + 1) & (2 * cap - 1);
				nt[j] = tab[k];
			}
			free(tab);
			tab = nt;
			cap *= 2;
		}
		size_t j = fnv(r->host, r->e.host_len) & (cap - 1);
		while (tab[j].p && (tab[j].len != r->e.host_len || memcmp(tab[j].p, r->host, tab[j].len)))
			j = (j + 1) & (cap - 1);
		if (!tab[j].p)
			tab[j] = (struct host_slot){ r->host, r->e.host_len, (uint32_t)used++ };
		ids[i] = tab[j].id;
	}
	struct host_slot *d = rc == 0 ? malloc((used ? used : 1) * sizeof(*d)) : NULL;
	uint32_t *rank = rc == 0 ? malloc((used ? used : 1) * sizeof(*rank)) : NULL;
	if (rc == 0 && (!d || !rank))
		rc = -ENOMEM;
	if (rc == 0) {
		size_t m = 0;
		for (size_t k = 0; k < cap; k++)
			if (tab[k].p)
				d[m++] = tab[k];
		qsort(d, m, sizeof(*d), rank_cmp);
		for (size_t k = 0; k < m; k++)
			rank[d[k].id] = (uint32_t)k;
		for (size_t i = 0; i < t->n; i++)
			t->rows[i].host_rank = rank[ids[i]];
		t->hosts = m;
	}
	free(d);
	free(rank);
	free(tab);
	free(ids);
	return rc;
}

/* Gives the rows whose text failed its checksum the text their segment's
 * BEGIN records hold (the .str rebuilt in memory, owned by the table);
 * rows still without text get empty strings and count as strings_bad. */
static int heal_strings(const char *dir, struct loader *l)
{
	struct seg_table *t = l->t;
	bool *live = calloc(l->nsf ? l->nsf : 1, sizeof(*live)); /* per t->own slot */
	int rc = live ? 0 : -ENOMEM;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		struct seg_qrow *r = &t->rows[i];
		if (r->host)
			continue;
		uint16_t w = r->e.worker;
		uint32_t s = r->e.span <= r->e.segno ? r->e.segno - r->e.span : 0;
		size_t k = 0;
		while (k < t->nown && (t->own_worker[k] != w || t->own_segno[k] != s))
			k++;
		if (k == t->nown && s >= 1 && t->nown < l->nsf) {
			rc = seg_strings_rebuild(dir, w, s, &t->own[k], &t->own_lens[k]);
			live[k] = l->rep && !l->rep->strict && seg_live(dir, w, s);
			t->own_worker[k] = w;
			t->own_segno[k] = s;
			t->nown++;
		}
		const char *b = k < t->nown ? t->own[k] : NULL;
		if (b && r->e.str_off <= t->own_lens[k] &&
		    seg_qrow_text(r, (const uint8_t *)b + r->e.str_off,
				  t->own_lens[k] - r->e.str_off) == 0) {
			/* text not yet written by a writer mid-flush is not damage */
			if (l->rep && !live[k])
				l->rep->strings_recovered++;
			continue;
		}
		r->host = r->url = "";
		r->e.host_len = r->e.url_len = 0;
		if (l->rep)
			l->rep->strings_bad++;
	}
	if (l->rep && l->rep->strings_recovered)
		seg_report_damage(l->rep, "strings", 0, "host/URL text damaged: read from the segment");
	free(live);
	return rc;
}

int seg_table_load(const char *session_dir, struct seg_table *t, struct seg_report *rep)
{
	memset(t, 0, sizeof(*t));
	struct seg_list_item *items;
	size_t n;
	int rc = seg_list_segments(session_dir, &items, &n);
	if (rc < 0)
		return rc;
	struct loader l = { .t = t, .rep = rep };
	l.sf = calloc(n ? n : 1, sizeof(*l.sf));
	t->strs = calloc(n ? n : 1, sizeof(*t->strs));
	t->str_lens = calloc(n ? n : 1, sizeof(*t->str_lens));
	if (!l.sf || !t->strs || !t->str_lens)
		rc = -ENOMEM;
	/* One allocation for all rows: growing by doubling faulted in twice
	 * the memory and dominated the load time. */
	uint64_t want = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct seg_idx ix;   /* its entries, at the stride its header names */
		if (seg_idx_open(session_dir, items[i].worker, items[i].segno, &ix) == 0) {
			want += ix.n;
			seg_idx_close(&ix);
		}
	}
	if (rc == 0 && want > 0 && want <= SEG_TABLE_ROWS_MAX && rows_reserve(t, want) == 0)
		l.cap = want;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[PATH_MAX];
		rc = seg_path(path, sizeof(path), session_dir, items[i].worker, items[i].segno, SEG_K_STR);
		struct str_file *f = &l.sf[l.nsf++];
		f->worker = items[i].worker;
		f->segno = items[i].segno;
		f->buf = rc == 0 ? map_all(path, &f->len) : NULL;
		t->strs[t->nstrs] = f->buf;
		t->str_lens[t->nstrs++] = f->buf ? f->len : 0;
	}
	t->own = calloc(n ? n : 1, sizeof(*t->own));
	t->own_lens = calloc(n ? n : 1, sizeof(*t->own_lens));
	t->own_worker = calloc(n ? n : 1, sizeof(*t->own_worker));
	t->own_segno = calloc(n ? n : 1, sizeof(*t->own_segno));
	if (!t->own || !t->own_lens || !t->own_worker || !t->own_segno)
		rc = -ENOMEM;
	if (rc == 0)
		rc = seg_index_scan(session_dir, add_row, &l, rep);
	if (rc == 0 && l.strs_pending)
		rc = heal_strings(session_dir, &l);
	if (rc == 0)
		rc = apply_tombstones(session_dir, t);
	if (rc == 0 && rep)   /* lost deletions: the listing warns (persist/tomb.c) */
		rc = seg_tomb_check(session_dir, false, rep);
	if (rc == 0)
		rc = rank_hosts(t);
	free(l.sf);
	free(items);
	if (rc < 0)
		seg_table_free(t);
	return rc;
}

void seg_table_free(struct seg_table *t)
{
	for (size_t i = 0; i < t->nstrs; i++)
		if (t->strs[i])
			munmap(t->strs[i], t->str_lens[i]);
	free(t->strs);
	free(t->str_lens);
	for (size_t i = 0; i < t->nown; i++)
		free(t->own[i]);
	free(t->own);
	free(t->own_lens);
	free(t->own_worker);
	free(t->own_segno);
	if (t->rows)
		munmap(t->rows, t->rows_cap * sizeof(*t->rows));
	memset(t, 0, sizeof(*t));
}
