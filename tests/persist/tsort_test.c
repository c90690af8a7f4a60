/* tests/persist/tsort_test.c: persist/tsort.h hands records out in the
 * order of a comparison sort by (host, URL, id, place), ascending and
 * descending, whether they stay in memory or spill many runs: texts that
 * tie, that are prefixes of each other, that share long prefixes, that
 * are empty or of the largest size, and ids that tie.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist/tsort.h"
#include "tests/check.h"

#define N 6000u

struct ref {
	char host[SEG_HOST_MAX], *url; /* url: SEG_URL_MAX bytes, owned */
	uint32_t hlen, ulen;
	uint64_t id, pos;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int text_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = *(const struct ref *const *)a, *y = *(const struct ref *const *)b;
	int c = text_cmp(x->host, x->hlen, y->host, y->hlen);
	if (c == 0)
		c = text_cmp(x->url, x->ulen, y->url, y->ulen);
	if (c == 0)
		c = (x->id > y->id) - (x->id < y->id);
	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Record k: one of 5 hosts (one empty), a URL from a small set of shapes:
 * a long shared prefix with a short tail, prefixes of one another, empty,
 * the largest size; ids tie in pairs. */
static void make(uint64_t k, struct ref *r)
{
	static const char *hosts[] = { "", "a.test", "a.test2", "b.example.com", "a" };
	uint64_t x = mix(k);
	r->url = malloc(SEG_URL_MAX);
	REQUIRE(r->url != NULL);
	r->hlen = (uint32_t)snprintf(r->host, sizeof(r->host), "%s", hosts[x % 5]);
	switch ((x >> 8) % 5) {
	case 0:
		memset(r->url, 'p', 300);
		r->ulen = 300 + (uint32_t)snprintf(r->url + 300, 32, "%u", (unsigned)(x >> 20) % 50);
		break;
	case 1:
		r->ulen = (uint32_t)((x >> 20) % 12);
		memcpy(r->url, "/users/1234", r->ulen < 11 ? r->ulen : 11);
		r->ulen = r->ulen < 11 ? r->ulen : 11;
		break;
	case 2:
		r->ulen = 0;
		break;
	case 3:
		memset(r->url, 'z', SEG_URL_MAX);
		r->url[SEG_URL_MAX - 1] = (char)('a' + (x >> 20) % 3);
		r->ulen = SEG_URL_MAX;
		break;
	default:
		r->ulen = (uint32_t)snprintf(r->url, SEG_URL_MAX, "/q?%llx",
					     (unsigned long long)(x >> 24) % 997);
	}
	r->id = k / 2;
	r->pos = mix(k + 1) & 0xffffffffffffull;
}

static void run(struct ref **sorted, const struct ref *v, size_t mem, bool rev, bool spills)
{
	struct seg_tsort *t;
	REQUIRE_RC(seg_tsort_new(mem, rev, &t));
	for (size_t i = 0; i < N; i++)
		REQUIRE_RC(seg_tsort_add(t, v[i].host, v[i].hlen, v[i].url, v[i].ulen, v[i].id,
					 v[i].pos));
	REQUIRE_RC(seg_tsort_finish(t));
	CHECK(spills ? seg_tsort_runs(t) > 10 : seg_tsort_runs(t) == 0);
	size_t k = 0;
	uint64_t pos;
	int rc;
	while ((rc = seg_tsort_next(t, &pos)) == 1) {
		REQUIRE(k < N);
		const struct ref *want = sorted[rev ? N - 1 - k : k];
		if (pos != want->pos) {
			fprintf(stderr, "mem %zu rev %d record %zu: pos %llu, want %llu\n", mem, rev, k,
				(unsigned long long)pos, (unsigned long long)want->pos);
			CHECK(false);
			break;
		}
		k++;
	}
	CHECK(rc == 0 || rc == 1);
	CHECK(k == N);
	seg_tsort_free(t);
}

int main(void)
{
	struct ref *v = malloc(N * sizeof(*v));
	struct ref **sorted = malloc(N * sizeof(*sorted));
	REQUIRE(v != NULL);
	REQUIRE(sorted != NULL);
	for (size_t i = 0; i < N; i++) {
		make(i, &v[i]);
		sorted[i] = &v[i];
	}
	qsort(sorted, N, sizeof(*sorted), ref_cmp);
	for (int rev = 0; rev < 2; rev++) {
		run(sorted, v, 1u << 30, rev, false);  /* everything in memory */
		run(sorted, v, 1u << 20, rev, true);   /* 512 KiB runs */
		run(sorted, v, 0, rev, true);          /* the smallest runs */
	}
	struct seg_tsort *t;
	REQUIRE_RC(seg_tsort_new(0, false, &t));
	/* the lengths are refused before any byte is read */
	CHECK(seg_tsort_add(t, "", 0, "", SEG_URL_MAX + 1, 1, 1) == -EINVAL);
	CHECK(seg_tsort_add(t, "", SEG_HOST_MAX + 1, "", 0, 1, 1) == -EINVAL);
	REQUIRE_RC(seg_tsort_finish(t));
	uint64_t pos;
	CHECK(seg_tsort_next(t, &pos) == 0);
	seg_tsort_free(t);
	for (size_t i = 0; i < N; i++)
		free(v[i].url);
	free(sorted);
	free(v);
	return check_done("persist_tsort");
}
