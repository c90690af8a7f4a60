/* persist/query.c: the session table (index entries of all workers with
 * their host/URL text and tombstones applied) and the queries over it.
 * Sorting works on (key, row) pairs so the hot loop of qsort touches 16
 * bytes per element; text keys compare through the row pointers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/spill.h"
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

struct kp {
	uint64_t key;
	uint32_t row;
	uint32_t pad;
};

static const char *const sort_names[SEG_SORT_COUNT] = {
	"time", "status", "method", "url", "host", "type", "size", "duration"
};

int seg_sort_parse(const char *s)
{
	for (int i = 0; i < SEG_SORT_COUNT; i++)
		if (!strcmp(s, sort_names[i]))
			return i;
	return -EINVAL;
}

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

/* Length of the .str extension after host+url (segment.c), 0 without
 * SEG_F_STR_EXT; a length past the file is left to the caller's check. */
static uint64_t str_ext_len(const struct str_file *f, const struct seg_entry *e, uint64_t at)
{
	if (!(e->flags & SEG_F_STR_EXT) || at + 5 > f->len)
		return 0;
	uint8_t cl = (uint8_t)f->buf[at + 4];
	return cl <= SEG_CLIENT_NAME_MAX ? 5u + cl : 0;
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
	uint64_t need = (uint64_t)e->str_off + e->host_len + e->url_len;
	uint64_t ext = f && f->buf ? str_ext_len(f, e, need) : 0;
	if (f && f->buf && need + ext <= f->len &&
	    seg_crc32c(0, f->buf + e->str_off, (size_t)(need + ext - e->str_off)) == e->str_crc) {
		r->host = f->buf + e->str_off;
		r->url = r->host + e->host_len;
		if (ext) {
			const uint8_t *x = (const uint8_t *)f->buf + need;
			r->number = seg_get32(x);
			r->client_name_len = x[4];
			r->client_name = (const char *)x + 5;
		}
	} else {
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
		uint64_t need = (uint64_t)r->e.str_off + r->e.host_len + r->e.url_len;
		struct str_file sf = { .buf = (char *)b, .len = b ? t->own_lens[k] : 0 };
		uint64_t ext = b ? str_ext_len(&sf, &r->e, need) : 0;
		if (b && need + ext <= t->own_lens[k] &&
		    seg_crc32c(0, b + r->e.str_off, (size_t)(need + ext - r->e.str_off)) ==
		    r->e.str_crc) {
			r->host = b + r->e.str_off;
			r->url = r->host + r->e.host_len;
			if (ext) {
				const uint8_t *x = (const uint8_t *)b + need;
				r->number = seg_get32(x);
				r->client_name_len = x[4];
				r->client_name = (const char *)x + 5;
			}
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
		char path[PATH_MAX];
		struct stat sb;
		if (seg_path(path, sizeof(path), session_dir, items[i].worker, items[i].segno,
			     SEG_K_IDX) == 0 && stat(path, &sb) == 0 && sb.st_size > SEG_FILE_HDR_SIZE)
			want += ((uint64_t)sb.st_size - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE;
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

/* Case-insensitive substring; needle already lower case. */
static bool contains_ci(const char *h, size_t hn, const char *nd, size_t nn)
{
	if (nn == 0)
		return true;
	if (nn > hn)
		return false;
	char c0 = nd[0];
	for (size_t i = 0; i + nn <= hn; i++) {
		if ((char)tolower((unsigned char)h[i]) != c0)
			continue;
		size_t k = 1;
		while (k < nn && (char)tolower((unsigned char)h[i + k]) == nd[k])
			k++;
		if (k == nn)
			return true;
	}
	return false;
}

static bool search_match(const char *lower, size_t ln, const struct seg_qrow *r)
{
	if (contains_ci(r->url, r->e.url_len, lower, ln) || contains_ci(r->host, r->e.host_len, lower, ln))
		return true;
	if (strcasecmp(lower, seg_method_name(r->e.method)) == 0)
		return true;
	char st[8];
	snprintf(st, sizeof(st), "%u", (unsigned)r->e.status);
	return strcmp(lower, st) == 0;
}

static void lower_copy(char *dst, const char *src, size_t *n)
{
	size_t i = 0;
	for (; src && src[i] && i < SEG_SEARCH_MAX; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
	*n = i;
}

bool seg_query_match(const struct seg_query *q, const struct seg_qrow *r)
{
	char low[SEG_SEARCH_MAX + 1];
	size_t ln;
	lower_copy(low, q->search, &ln);
	if (!q->include_deleted && (r->e.flags & SEG_F_DELETED))
		return false;
	if (ln && !search_match(low, ln, r))
		return false;
	return !q->match || q->match(q->match_ctx, r);
}

/* Rank of a name in alphabetical order, so sorting by method/type sorts
 * by the name users see. */
static uint8_t name_rank(const char *(*name)(uint8_t), uint8_t v, uint8_t count)
{
	uint8_t r = 0;
	for (uint8_t i = 0; i < count; i++)
		r += strcmp(name(i), name(v)) < 0;
	return r;
}

/* Small keys (status, method, type) go in the top 16 bits with the start
 * time in µs below, so equal keys come out in time order. */
static uint64_t with_time(uint64_t key, const struct seg_qrow *r, uint64_t t_min)
{
	uint64_t us = (r->e.start_ns - (r->e.start_ns >= t_min ? t_min : r->e.start_ns)) / 1000u;
	return key << 48 | (us & ((1ull << 48) - 1));
}

static uint64_t sort_key(const struct seg_qrow *r, uint8_t sort, uint64_t t_min)
{
	switch (sort) {
	case SEG_SORT_STATUS: return with_time(r->e.status, r, t_min);
	case SEG_SORT_METHOD:
		return with_time(name_rank(seg_method_name, r->e.method, SEG_M_COUNT), r, t_min);
	case SEG_SORT_TYPE:
		return with_time(name_rank(seg_type_name, r->e.type, SEG_T_COUNT), r, t_min);
	case SEG_SORT_SIZE: return r->e.resp_size;
	case SEG_SORT_DURATION: return r->e.duration_ns;
	case SEG_SORT_HOST: return with_time(r->host_rank, r, t_min);
	default: return r->e.start_ns;
	}
}

static int text_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int kp_cmp_host(const void *a, const void *b, void *ctx)
{
	const struct seg_table *t = ctx;
	const struct seg_qrow *x = &t->rows[((const struct kp *)a)->row];
	const struct seg_qrow *y = &t->rows[((const struct kp *)b)->row];
	int c = text_cmp(x->host, x->e.host_len, y->host, y->e.host_len);
	if (c == 0)
		c = text_cmp(x->url, x->e.url_len, y->url, y->e.url_len);
	return c ? c : (x->e.id > y->e.id) - (x->e.id < y->e.id);
}

/* Stable radix sort of (key, row) pairs by key (persist/spill.h). */
_Static_assert(sizeof(struct kp) == 16, "pairs sort with seg_radix_sort16");
static int radix_sort(struct kp *v, size_t n)
{
	return seg_radix_sort16(v, n);
}

struct url_ctx {
	const struct seg_table *t;
	uint32_t depth; /* bytes every string of the run shares */
};

static int kp_cmp_url_from(const void *a, const void *b, void *ctx)
{
	const struct url_ctx *c = ctx;
	const struct seg_qrow *x = &c->t->rows[((const struct kp *)a)->row];
	const struct seg_qrow *y = &c->t->rows[((const struct kp *)b)->row];
	uint32_t d = c->depth, xl = x->e.url_len, yl = y->e.url_len;
	int r = text_cmp(x->url + (d < xl ? d : xl), d < xl ? xl - d : 0,
			 y->url + (d < yl ? d : yl), d < yl ? yl - d : 0);
	return r ? r : (x->e.id > y->e.id) - (x->e.id < y->e.id);
}

/* Bytes depth..depth+7 of a URL, big-endian, zero-padded: comparing these
 * keys compares the strings there (URLs hold no NUL). */
static uint64_t url_chunk(const struct seg_qrow *r, uint32_t depth)
{
	uint64_t k = 0;
	for (uint32_t i = 0; i < 8; i++) {
		uint32_t o = depth + i;
		k = k << 8 | (o < r->e.url_len ? (uint8_t)r->url[o] : 0);
	}
	return k;
}

/* MSD sort by URL: large runs are radix-sorted on the next 8 bytes and
 * split into runs of equal bytes; small runs and runs of equal URLs are
 * finished by comparison from their common depth (ties by id). Bounded:
 * every run either shrinks or goes 8 bytes deeper, up to SEG_URL_MAX. */
#define URL_RADIX_MIN 4096u
static int sort_urls(const struct seg_table *t, struct kp *v, size_t m)
{
	struct run { uint32_t start, len, depth; };
	size_t cap = 64, top = 0;
	struct run *st = malloc(cap * sizeof(*st));
	if (!st)
		return -ENOMEM;
	st[top++] = (struct run){ 0, (uint32_t)m, 0 };
	int rc = 0;
	while (top > 0 && rc == 0) {
		struct run r = st[--top];
		struct url_ctx c = { t, r.depth };
		if (r.len < URL_RADIX_MIN || r.depth >= SEG_URL_MAX) {
			qsort_r(v + r.start, r.len, sizeof(*v), kp_cmp_url_from, &c);
			continue;
		}
		for (uint32_t i = r.start; i < r.start + r.len; i++)
			v[i].key = url_chunk(&t->rows[v[i].row], r.depth);
		rc = radix_sort(v + r.start, r.len);
		for (uint32_t a = r.start, b; rc == 0 && a < r.start + r.len; a = b) {
			for (b = a + 1; b < r.start + r.len && v[b].key == v[a].key; b++)
				;
			if (b - a < 2)
				continue;
			if (top == cap) {
				struct run *ns = realloc(st, 2 * cap * sizeof(*st));
				if (!ns) {
					rc = -ENOMEM;
					break;
				}
				st = ns;
				cap *= 2;
			}
			/* A zero low byte means every string of the run ended here. */
			bool ended = (v[a].key & 0xff) == 0;
			st[top++] = (struct run){ a, b - a, ended ? SEG_URL_MAX : r.depth + 8 };
		}
	}
	free(st);
	return rc;
}

/* Collects matching rows as (key, row) pairs. */
static int collect_matches(const struct seg_table *t, const struct seg_query *q, struct kp **out,
			   size_t *n)
{
	static const struct seg_query all;
	q = q ? q : &all;
	struct kp *v = malloc((t->n ? t->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	char low[SEG_SEARCH_MAX + 1];
	size_t ln, m = 0;
	lower_copy(low, q->search, &ln);
	for (size_t i = 0; i < t->n; i++) {
		const struct seg_qrow *r = &t->rows[i];
		if (!q->include_deleted && (r->e.flags & SEG_F_DELETED))
			continue;
		if (ln && !search_match(low, ln, r))
			continue;
		if (q->match && !q->match(q->match_ctx, r))
			continue;
		v[m].key = sort_key(r, q->sort, t->t_min);
		v[m].row = (uint32_t)i;
		v[m].pad = 0;
		m++;
	}
	*out = v;
	*n = m;
	return 0;
}

static bool kp_less(const struct kp *a, const struct kp *b)
{
	return a->key < b->key || (a->key == b->key && a->row < b->row);
}

static int kp_qcmp(const void *a, const void *b)
{
	return kp_less(a, b) ? -1 : kp_less(b, a);
}

/* The first k of v[0..m) in the order a stable sort by key gives (key,
 * then row: v is in row order), or the last k with rev, into v[0..k) in
 * that order (rev: from the last): a bounded heap, O(m log k) and in
 * practice one comparison per row, instead of sorting a million rows for
 * a page of 200. */
static void top_k(struct kp *v, size_t m, size_t k, bool rev)
{
	/* heap of v[0..k): its root is the entry a better one replaces (the
	 * largest kept, or with rev the smallest) */
	size_t n = 0;
	for (size_t i = 0; i < m; i++) {
		struct kp x = v[i];
		size_t j;
		if (n < k) {
			for (j = n++; j > 0; j = (j - 1) / 2) {   /* sift up */
				struct kp *p = &v[(j - 1) / 2];
				if (rev ? !kp_less(&x, p) : !kp_less(p, &x))
					break;
				v[j] = *p;
			}
			v[j] = x;
			continue;
		}
		if (rev ? !kp_less(&v[0], &x) : !kp_less(&x, &v[0]))
			continue;
		for (j = 0; 2 * j + 1 < k;) {   /* sift down from the root */
			size_t c = 2 * j + 1;
			if (c + 1 < k && (rev ? kp_less(&v[c + 1], &v[c]) : kp_less(&v[c], &v[c + 1])))
				c++;
			if (rev ? !kp_less(&v[c], &x) : !kp_less(&x, &v[c]))
				break;
			v[j] = v[c];
			j = c;
		}
		v[j] = x;
	}
	qsort(v, n, sizeof(*v), kp_qcmp);
	for (size_t i = 0; rev && i < n / 2; i++) {
		struct kp sw = v[i];
		v[i] = v[n - 1 - i];
		v[n - 1 - i] = sw;
	}
}

int seg_query_run(const struct seg_table *t, const struct seg_query *q, struct seg_result *res)
{
	static const struct seg_query all;
	memset(res, 0, sizeof(*res));
	q = q ? q : &all;
	if (q->sort >= SEG_SORT_COUNT)
		return -EINVAL;
	struct kp *v;
	size_t m;
	int rc = collect_matches(t, q, &v, &m);
	if (rc < 0)
		return rc;
	/* A small page of a big result: keep the page's rows, sort nothing else */
	size_t want = q->limit ? q->offset + q->limit : 0;
	bool few = want && want >= q->limit && want <= m / 16 && q->sort != SEG_SORT_URL &&
		   !(q->sort == SEG_SORT_HOST && t->hosts > 0xffff);
	if (few) {
		top_k(v, m, want, q->reverse);
		res->total = m;
		res->idx = malloc(q->limit * sizeof(*res->idx));
		for (size_t i = 0; res->idx && i < q->limit; i++)
			res->idx[i] = v[q->offset + i].row;
		res->n = res->idx ? q->limit : 0;
		free(v);
		return res->idx ? 0 : -ENOMEM;
	}
	if (q->sort == SEG_SORT_URL)
		rc = sort_urls(t, v, m);
	else if (q->sort == SEG_SORT_HOST && t->hosts > 0xffff)
		qsort_r(v, m, sizeof(*v), kp_cmp_host, (void *)t);
	else
		rc = radix_sort(v, m);
	if (rc < 0) {
		free(v);
		return rc;
	}
	res->total = m;
	size_t off = q->offset < m ? q->offset : m;
	size_t cnt = m - off;
	if (q->limit && cnt > q->limit)
		cnt = q->limit;
	res->idx = malloc((cnt ? cnt : 1) * sizeof(*res->idx));
	if (!res->idx) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cnt; i++) {
		/* Reverse pages from the other end of the same order. */
		size_t k = q->reverse ? m - 1 - (off + i) : off + i;
		res->idx[i] = v[k].row;
	}
	res->n = cnt;
	free(v);
	return 0;
}

void seg_result_free(struct seg_result *res)
{
	free(res->idx);
	res->idx = NULL;
	res->n = res->total = 0;
}

static int grp_cmp(const void *a, const void *b)
{
	const struct seg_group_row *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Counts per host rank; the key text comes from any row of that rank. */
static int group_hosts(const struct seg_table *t, struct kp *v, size_t m,
		       struct seg_group_row **out, size_t *ng)
{
	uint64_t *cnt = calloc(t->hosts ? t->hosts : 1, sizeof(*cnt));
	uint32_t *any = malloc((t->hosts ? t->hosts : 1) * sizeof(*any));
	struct seg_group_row *g = malloc((t->hosts ? t->hosts : 1) * sizeof(*g));
	if (!cnt || !any || !g) {
		free(cnt);
		free(any);
		free(g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m; i++) {
		uint32_t h = t->rows[v[i].row].host_rank;
		cnt[h]++;
		any[h] = v[i].row;
	}
	size_t n = 0;
	for (size_t h = 0; h < t->hosts; h++) {
		if (!cnt[h])
			continue;
		const struct seg_qrow *r = &t->rows[any[h]];
		snprintf(g[n].key, sizeof(g[n].key), "%.*s", (int)r->e.host_len, r->host);
		g[n++].count = cnt[h];
	}
	free(cnt);
	free(any);
	*out = g;
	*ng = n;
	return 0;
}

static int group_small(const struct seg_table *t, const struct kp *v, size_t m,
		       enum seg_group by, struct seg_group_row **out, size_t *ng)
{
	enum { SLOTS = 1000 }; /* status codes 0..999; methods and types fit */
	uint64_t *cnt = calloc(SLOTS, sizeof(*cnt));
	struct seg_group_row *g = malloc(SLOTS * sizeof(*g));
	if (!cnt || !g) {
		free(cnt);
		free(g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m; i++) {
		const struct seg_entry *e = &t->rows[v[i].row].e;
		unsigned k = by == SEG_G_METHOD ? e->method : by == SEG_G_TYPE ? e->type : e->status;
		cnt[k < SLOTS ? k : SLOTS - 1]++;
	}
	size_t n = 0;
	for (unsigned k = 0; k < SLOTS; k++) {
		if (!cnt[k])
			continue;
		if (by == SEG_G_METHOD)
			snprintf(g[n].key, sizeof(g[n].key), "%s", seg_method_name((uint8_t)k));
		else if (by == SEG_G_TYPE)
			snprintf(g[n].key, sizeof(g[n].key), "%s", seg_type_name((uint8_t)k));
		else
			snprintf(g[n].key, sizeof(g[n].key), "%u", k);
		g[n++].count = cnt[k];
	}
	free(cnt);
	*out = g;
	*ng = n;
	return 0;
}

int seg_group_count(const struct seg_table *t, const struct seg_query *q, enum seg_group by,
		    struct seg_group_row *out, size_t cap, size_t *n)
{
	*n = 0;
	if (by >= SEG_G_COUNT || cap == 0)
		return -EINVAL;
	struct kp *v;
	size_t m, ng = 0;
	int rc = collect_matches(t, q, &v, &m);
	if (rc < 0)
		return rc;
	struct seg_group_row *g = NULL;
	rc = by == SEG_G_DOMAIN ? group_hosts(t, v, m, &g, &ng) : group_small(t, v, m, by, &g, &ng);
	free(v);
	if (rc < 0)
		return rc;
	qsort(g, ng, sizeof(*g), grp_cmp);
	size_t k = ng <= cap ? ng : cap - 1;
	memcpy(out, g, k * sizeof(*g));
	if (ng > cap) {
		snprintf(out[k].key, sizeof(out[k].key), "(other)");
		out[k].count = 0;
		for (size_t i = k; i < ng; i++)
			out[k].count += g[i].count;
		k++;
	}
	*n = k;
	free(g);
	return 0;
}

int seg_timeseries(const struct seg_table *t, const struct seg_query *q,
		   uint64_t *interval_ns, uint64_t *counts, size_t cap, size_t *n, uint64_t *t0)
{
	static const uint64_t nice[] = { 1000000000ull, 10000000000ull, 60000000000ull,
					 600000000000ull, 3600000000000ull, 86400000000000ull };
	*n = 0;
	*t0 = 0;
	if (cap == 0)
		return -EINVAL;
	if (t->n == 0)
		return 0;
	uint64_t span = t->t_max - t->t_min;
	if (*interval_ns == 0) {
		*interval_ns = nice[5];
		for (size_t i = 0; i < sizeof(nice) / sizeof(nice[0]); i++)
			if (span / nice[i] + 2 <= cap) {
				*interval_ns = nice[i];
				break;
			}
	}
	uint64_t iv = *interval_ns;
	*t0 = t->t_min / iv * iv;
	size_t nb = (size_t)((t->t_max - *t0) / iv + 1);
	if (nb > cap)
		return -ERANGE;
	memset(counts, 0, nb * sizeof(*counts));
	char low[SEG_SEARCH_MAX + 1];
	size_t ln;
	lower_copy(low, q ? q->search : NULL, &ln);
	for (size_t i = 0; i < t->n; i++) {
		const struct seg_qrow *r = &t->rows[i];
		if (q && !q->include_deleted && (r->e.flags & SEG_F_DELETED))
			continue;
		if (ln && !search_match(low, ln, r))
			continue;
		if (q && q->match && !q->match(q->match_ctx, r))
			continue;
		counts[(r->e.start_ns - *t0) / iv]++;
	}
	*n = nb;
	return 0;
}
