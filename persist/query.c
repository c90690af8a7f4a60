/* persist/query.c: the queries over the session table (persist/table.c
 * loads it: index entries of all workers with their host/URL text and
 * tombstones applied).
 * Sorting works on (key, row) pairs so the hot loop of qsort touches 16
 * bytes per element; text keys compare through the row pointers.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "persist/query.h"
#include "persist/spill.h"
#include "persist/reader-int.h"


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
