/*
 * tests/tools/views/export_sort_test.c - the collection writer's external
 * sort (tools/views/export_sort.c): records come back in the order of a
 * stable sort by their first eight bytes, whole, whether they fit in
 * memory or were spilled in many runs; a sorter left unread frees cleanly.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "tools/views/export-int.h"

struct rec {
	uint64_t key, key2;
	uint32_t seq;
	uint8_t fill[20];
};

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->key2 != y->key2)
		return x->key2 < y->key2 ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 29);
}

/* n records with keys in [0, keys) (ties when keys < n), key2 in
 * [0, keys2), mem bytes. */
static void one(size_t n, uint64_t keys, uint64_t keys2, size_t mem)
{
	struct rc_xsort *s;
	struct rec *want = malloc((n ? n : 1) * sizeof(*want));
	REQUIRE(want != NULL);
	REQUIRE_RC(rc_xsort_new(sizeof(struct rec), mem, &s));
	for (size_t i = 0; i < n; i++) {
		struct rec r = { .key = mix(i + 1) % keys, .key2 = mix(i + 7) % keys2,
				 .seq = (uint32_t)i };
		memset(r.fill, (int)(i & 0xff), sizeof(r.fill));
		want[i] = r;
		REQUIRE_RC(rc_xsort_add(s, &r));
	}
	REQUIRE_RC(rc_xsort_finish(s));
	qsort(want, n, sizeof(*want), rec_cmp);
	size_t k = 0, bad = 0;
	struct rec r;
	int rc;
	while ((rc = rc_xsort_next(s, &r)) == 1) {
		REQUIRE(k < n);
		bad += memcmp(&r, &want[k], sizeof(r)) != 0;
		k++;
	}
	CHECK_MSG(rc == 0 && k == n && bad == 0, "n %zu keys %llu/%llu mem %zu: %zu back, %zu wrong",
		  n, (unsigned long long)keys, (unsigned long long)keys2, mem, k, bad);
	rc_xsort_free(s);
	free(want);
}

int main(void)
{
	one(0, 1, 1, 1 << 20);
	one(1, 1, 1, 1 << 20);
	one(5000, 1u << 30, 1, 1 << 20);        /* in memory */
	one(5000, 7, 1, 1 << 20);               /* ties: stable */
	one(5000, 7, 5, 1 << 20);               /* key2 orders ties of key */
	one(5000, 3, 1ull << 63, 1 << 20);
	one(20000, 1ull << 62, 1, 4096);        /* spilled: ~300 runs of 64 */
	one(20000, 13, 1, 4096);                /* ties across runs */
	one(20000, 13, 11, 4096);               /* both keys across runs */
	one(100000, 1000, 1, 1 << 20);          /* a few runs */
	struct rc_xsort *s;                  /* added, never read */
	REQUIRE_RC(rc_xsort_new(sizeof(struct rec), 4096, &s));
	for (uint32_t i = 0; i < 1000; i++)
		REQUIRE_RC(rc_xsort_add(s, &(struct rec){ .key = i }));
	rc_xsort_free(s);
	return check_done("export_sort");
}
