/* persist/scan_keys.c: the sort keys of a streaming selection
 * (persist/scan.c has the design): kept in memory up to a run, then sorted
 * and spilled (persist/spill.h); the raw keys of a timed sort (status,
 * method, type, host) made final once pass 1 has seen every row, the host
 * sort's distinct hosts ranked in text order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/scan-int.h"
#include "rc-assert.h"

/* ---- keys and runs ---- */

_Static_assert(sizeof(struct skey) == 16, "keys sort with seg_radix_sort16");

static int sort_keys(struct seg_scan *s)
{
	bool sorted = true;
	for (size_t i = 1; i < s->nkeys && sorted; i++)
		sorted = s->keys[i - 1].k <= s->keys[i].k;
	if (sorted)
		return 0;
	return seg_radix_sort16(s->keys, s->nkeys);
}

/* Sorts the keys held and appends them to the spill file as one run. */
static int spill_run(struct seg_scan *s)
{
	int rc = s->timed ? 0 : sort_keys(s);
	if (rc == 0)
		rc = seg_spill_put(&s->sp, s->keys, s->nkeys * sizeof(*s->keys));
	if (rc == 0)
		rc = seg_spill_end_run(&s->sp);
	s->nkeys = 0;
	return rc;
}

/* Keys grow by doubling up to a run (memory follows the selection, not
 * the bound), then spill. */
int scan_add_key(struct seg_scan *s, uint64_t k, uint64_t pos)
{
	if (s->nkeys == s->keys_cap && s->keys_cap < s->chunk) {
		size_t nc = s->keys_cap ? 2 * s->keys_cap : 1024;
		nc = nc < s->chunk ? nc : s->chunk;
		struct skey *v = realloc(s->keys, nc * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->keys = v;
		s->keys_cap = nc;
	}
	if (s->nkeys == s->keys_cap) {
		int rc = spill_run(s);
		if (rc < 0)
			return rc;
	}
	s->keys[s->nkeys++] = (struct skey){ k, pos };
	s->total++;
	return s->total > SEG_TABLE_ROWS_MAX ? -E2BIG : 0;
}

uint64_t scan_sort_key(const struct seg_entry *e, uint8_t sort)
{
	switch (sort) {
	case SEG_SORT_SIZE: return e->resp_size;
	case SEG_SORT_DURATION: return e->duration_ns;
	default: return e->start_ns;
	}
}

bool scan_is_timed(uint8_t sort)
{
	return sort == SEG_SORT_STATUS || sort == SEG_SORT_METHOD || sort == SEG_SORT_TYPE ||
	       sort == SEG_SORT_HOST;
}

/* Rank of a name in alphabetical order (query.c's name_rank). */
static uint8_t name_rank(const char *(*name)(uint8_t), uint8_t v, uint8_t count)
{
	uint8_t r = 0;
	for (uint8_t i = 0; i < count; i++)
		r += strcmp(name(i), name(v)) < 0;
	return r;
}

/* The small value of a timed sort's raw key (host: set by the caller). */
uint64_t scan_small_key(const struct seg_entry *e, uint8_t sort)
{
	switch (sort) {
	case SEG_SORT_STATUS: return e->status;
	case SEG_SORT_METHOD: return name_rank(seg_method_name, e->method, SEG_M_COUNT);
	case SEG_SORT_TYPE: return name_rank(seg_type_name, e->type, SEG_T_COUNT);
	default: return 0;
	}
}

/* ---- distinct hosts (host sort) ---- */

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

/* Doubles the host table (rehashing every slot); 0 or -ENOMEM. */
static int hosts_grow(struct seg_scan *s)
{
	size_t nc = s->hs_cap ? 2 * s->hs_cap : 1024;
	struct hslot *nt = malloc(nc * sizeof(*nt));
	if (nt == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < nc; k++)
		nt[k].len = UINT32_MAX;
	for (size_t k = 0; k < s->hs_cap; k++) {
		if (s->hs[k].len == UINT32_MAX)
			continue;
		size_t j = fnv(s->arena + s->hs[k].off, s->hs[k].len) & (nc - 1);
		while (nt[j].len != UINT32_MAX)
			j = (j + 1) & (nc - 1);
		nt[j] = s->hs[k];
	}
	free(s->hs);
	s->hs = nt;
	s->hs_cap = nc;
	return 0;
}

/* The number of host h[0..n) in order of first appearance; -ENOTSUP past
 * HOSTS_RANKED_MAX distinct hosts, -ENOMEM. */
int scan_host_id(struct seg_scan *s, const char *h, uint32_t n, uint32_t *id)
{
	if (2 * (s->hs_used + 1) > s->hs_cap && hosts_grow(s) < 0)
		return -ENOMEM;
	size_t j = fnv(h, n) & (s->hs_cap - 1);
	for (; s->hs[j].len != UINT32_MAX; j = (j + 1) & (s->hs_cap - 1)) {
		if (s->hs[j].len == n && memcmp(s->arena + s->hs[j].off, h, n) == 0) {
			*id = s->hs[j].id;
			return 0;
		}
	}
	if (s->hs_used >= HOSTS_RANKED_MAX)
		return -ENOTSUP;
	if (s->arena == NULL || s->arena_len + n > s->arena_cap) {   /* never NULL for memcmp */
		size_t nc = s->arena_cap ? 2 * s->arena_cap : 16384;
		while (nc < s->arena_len + n)
			nc *= 2;
		char *v = realloc(s->arena, nc);
		if (v == NULL)
			return -ENOMEM;
		s->arena = v;
		s->arena_cap = nc;
	}
	memcpy(s->arena + s->arena_len, h, n);
	s->hs[j] = (struct hslot){ (uint32_t)s->arena_len, n, (uint32_t)s->hs_used++ };
	s->arena_len += n;
	*id = s->hs[j].id;
	return 0;
}

static int hslot_cmp(const void *a, const void *b, void *ctx)
{
	const struct hslot *x = a, *y = b;
	const char *arena = ctx;
	int c = memcmp(arena + x->off, arena + y->off, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* map[id] = rank of host id among the distinct hosts (caller frees). */
static int host_ranks(struct seg_scan *s, uint16_t **map)
{
	size_t n = s->hs_used ? s->hs_used : 1, m = 0;
	struct hslot *d = malloc(n * sizeof(*d));
	*map = malloc(n * sizeof(**map));
	if (d == NULL || *map == NULL) {
		free(d);
		return -ENOMEM;
	}
	for (size_t k = 0; k < s->hs_cap; k++)
		if (s->hs[k].len != UINT32_MAX)
			d[m++] = s->hs[k];
	ASSERT(m == s->hs_used);
	qsort_r(d, m, sizeof(*d), hslot_cmp, s->arena);
	for (size_t k = 0; k < m; k++)
		(*map)[d[k].id] = (uint16_t)k;
	free(d);
	return 0;
}

static void rekey(const struct seg_scan *s, struct skey *v, size_t n, const uint16_t *map)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t small = v[i].pos >> 48;
		if (map)
			small = map[small];
		ASSERT(v[i].k >= s->t_min);
		uint64_t us = (v[i].k - s->t_min) / 1000u;
		v[i].k = small << 48 | (us & POS_MASK);
		v[i].pos &= POS_MASK;
	}
}

/* Rewrites every spilled run of raw keys in place: read back into the
 * key buffer (a run is at most its size), rekeyed, sorted, written. */
static int rekey_runs(struct seg_scan *s, const uint16_t *map)
{
	int fd = seg_spill_fd(&s->sp);
	for (size_t i = 0; i < s->sp.nruns; i++) {
		const struct seg_spill_run *r = &s->sp.runs[i];
		size_t bytes = (size_t)(r->end - r->start), n = bytes / sizeof(struct skey);
		ASSERT(n <= s->keys_cap);
		off_t at = (off_t)r->start;
		if (pread(fd, s->keys, bytes, at) != (ssize_t)bytes)
			return -EIO;
		rekey(s, s->keys, n, map);
		s->nkeys = n;
		int rc = sort_keys(s);
		if (rc < 0)
			return rc;
		if (pwrite(fd, s->keys, bytes, at) != (ssize_t)bytes)
			return -EIO;
	}
	s->nkeys = 0;
	return 0;
}

/* A timed sort's keys made final: in memory, or run by run on disk. */
static int finish_timed(struct seg_scan *s)
{
	uint16_t *map = NULL;
	int rc = s->q.sort == SEG_SORT_HOST ? host_ranks(s, &map) : 0;
	if (rc == 0 && s->sp.nruns == 0)
		rekey(s, s->keys, s->nkeys, map);
	else if (rc == 0)
		rc = rekey_runs(s, map);
	free(map);
	return rc;
}

/* After pass 1: the last run spilled (when others were) and the merge's
 * buffers, or the in-memory keys sorted. */
int scan_finish_keys(struct seg_scan *s)
{
	if (s->ts)
		return seg_tsort_finish(s->ts);
	int rc = 0;
	if (s->sp.nruns && s->nkeys)
		rc = spill_run(s);
	else if (s->sp.nruns == 0) {
		rc = s->timed ? finish_timed(s) : 0;
		return rc < 0 ? rc : sort_keys(s);
	}
	/* flushed before a timed sort rewrites its runs in place */
	if (rc == 0 && fflush(s->sp.f) != 0)
		rc = -EIO;
	if (rc == 0 && s->timed)
		rc = finish_timed(s);
	if (rc == 0)
		rc = seg_spill_merge(&s->sp, SEG_SCAN_RUN_BUF * sizeof(struct skey));
	/* the keys are on disk now: give their memory back for the merge */
	free(s->keys);
	s->keys = NULL;
	s->keys_cap = 0;
	/* and the host table, whose ranks are in the keys */
	free(s->hs);
	free(s->arena);
	s->hs = NULL;
	s->arena = NULL;
	return rc;
}

/* One attempt at seg_scan_open (host_text: a host sort by text). */
