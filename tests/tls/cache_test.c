/* cache_test.c - the LRU under both leaf caches: least recently used entry
 * evicted first, hits move entries to the front, expired entries are not
 * served, replacing a name keeps one entry, references are balanced; the
 * worker cache falls through to the shared cache and mints only once per
 * name; a worker cache hit returns the same leaf without minting. */
#include <pthread.h>

#include <openssl/pool.h>

#include "tests/tls/tls-test.h"

static CRYPTO_BUFFER *buf_new(const char *s)
{
	return CRYPTO_BUFFER_new((const uint8_t *)s, strlen(s), NULL);
}

static void lru_eviction(void)
{
	struct tls_lru l;
	CRYPTO_BUFFER *a = buf_new("A"), *b = buf_new("B"), *c = buf_new("C"), *d = buf_new("D");

	CHECK_EQ(tls_lru_init(&l, 0), -EINVAL);
	CHECK_EQ(tls_lru_init(&l, 3), 0);
	CHECK(tls_lru_put(&l, "a", 1, a, 100) == a);
	CHECK(tls_lru_put(&l, "b", 1, b, 100) == b);
	CHECK(tls_lru_put(&l, "c", 1, c, 100) == c);
	CHECK_EQ(l.count, 3);
	CHECK(tls_lru_get(&l, "a", 1, 10, NULL) == a); /* a is now most recent */
	CHECK(tls_lru_put(&l, "d", 1, d, 100) == d);   /* evicts b */
	CHECK_EQ(l.count, 3);
	CHECK_EQ(l.stats.evictions, 1);
	CHECK(tls_lru_get(&l, "b", 1, 10, NULL) == NULL);
	CHECK(tls_lru_get(&l, "a", 1, 10, NULL) == a);
	CHECK(tls_lru_get(&l, "c", 1, 10, NULL) == c);
	CHECK(tls_lru_get(&l, "d", 1, 10, NULL) == d);
	/* Order now (recent first): d c a; two puts evict a then c. */
	CHECK(tls_lru_put(&l, "e", 1, b, 100) == b);
	CHECK(tls_lru_get(&l, "a", 1, 10, NULL) == NULL);
	CHECK(tls_lru_put(&l, "f", 1, b, 100) == b);
	CHECK(tls_lru_get(&l, "c", 1, 10, NULL) == NULL);
	CHECK(tls_lru_get(&l, "d", 1, 10, NULL) == d);
	/* Replacing a name keeps one entry. */
	CHECK(tls_lru_put(&l, "d", 1, a, 100) == a);
	CHECK_EQ(l.count, 3);
	CHECK(tls_lru_get(&l, "d", 1, 10, NULL) == a);
	/* Expired: dropped on lookup. */
	{
		int64_t exp = 0;

		CHECK(tls_lru_get(&l, "d", 1, 99, &exp) == a);
		CHECK_EQ(exp, 100);
		CHECK(tls_lru_get(&l, "d", 1, 100, NULL) == NULL);
		CHECK_EQ(l.count, 2);
	}
	/* Names differing only in length or last byte are different keys. */
	CHECK(tls_lru_get(&l, "ee", 2, 10, NULL) == NULL);
	CHECK(tls_lru_put(&l, "too-long", TLS_NAME_MAX + 1, a, 100) == NULL);
	tls_lru_fini(&l);
	/* Only our own references remain: free them; ASan flags any leak or
	 * double free of a reference the cache should have dropped. */
	CRYPTO_BUFFER_free(a);
	CRYPTO_BUFFER_free(b);
	CRYPTO_BUFFER_free(c);
	CRYPTO_BUFFER_free(d);
}

/* Many names through a small LRU: count stays bounded, every name put last
 * is found, chains stay consistent (found by walking all buckets). */
static void lru_churn(void)
{
	struct tls_lru l;
	CRYPTO_BUFFER *x = buf_new("X");
	char name[32];

	CHECK_EQ(tls_lru_init(&l, 50), 0);
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(name, sizeof(name), "host%d.test", i % 173);

		if (tls_lru_get(&l, name, (size_t)n, 1, NULL) == NULL)
			tls_lru_put(&l, name, (size_t)n, x, 100);
		CHECK(l.count <= 50);
	}
	for (int i = 4950; i < 5000; i++) {
		int n = snprintf(name, sizeof(name), "host%d.test", i % 173);

		CHECK(tls_lru_get(&l, name, (size_t)n, 1, NULL) == x);
	}
	{
		uint32_t chained = 0;

		for (uint32_t b = 0; b <= l.bucket_mask; b++)
			for (uint32_t i = l.bucket[b]; i != TLS_LRU_NONE; i = l.e[i].chain)
				chained++;
		CHECK_EQ(chained, l.count);
	}
	tls_lru_fini(&l);
	CRYPTO_BUFFER_free(x);
}

static void worker_over_shared(void)
{
	struct test_fixture f;
	struct tls_leaf_cache *w2 = NULL;
	struct tls_cache_stats st;
	CRYPTO_BUFFER *a = NULL, *a2 = NULL, *b = NULL;

	test_fixture_init(&f, NULL);
	CHECK_EQ(tls_leaf_cache_new(f.mint, 2, &w2), 0);
	CHECK_EQ(tls_leaf_cache_get(f.cache, "a.test", &a), 0);
	CHECK_EQ(tls_leaf_cache_get(f.cache, "a.test", &a2), 0);
	CHECK(a != NULL && a == a2);
	tls_leaf_cache_stats(f.cache, &st);
	CHECK_EQ(st.hits, 1);
	CHECK_EQ(st.misses, 1);
	tls_mint_stats(f.mint, &st);
	CHECK_EQ(st.mints, 1);
	/* Another worker: misses its own cache, hits the shared one. */
	CHECK_EQ(tls_leaf_cache_get(w2, "a.test", &b), 0);
	CHECK(b == a);
	tls_mint_stats(f.mint, &st);
	CHECK_EQ(st.mints, 1);
	CHECK_EQ(st.hits, 1);
	/* w2 holds 2: b.test and c.test push a.test out of it, not out of
	 * the shared cache. */
	CHECK_EQ(tls_leaf_cache_get(w2, "b.test", &b), 0);
	CHECK_EQ(tls_leaf_cache_get(w2, "c.test", &b), 0);
	tls_leaf_cache_stats(w2, &st);
	CHECK_EQ(st.evictions, 1);
	CHECK_EQ(st.entries, 2);
	CHECK_EQ(tls_leaf_cache_get(w2, "a.test", &b), 0);
	tls_mint_stats(f.mint, &st);
	CHECK_EQ(st.mints, 3);
	CHECK_EQ(st.hits, 2);
	CHECK_EQ(tls_leaf_cache_get(w2, "", &b), -EINVAL);
	CHECK(b == NULL);
	tls_leaf_cache_free(w2);
	test_fixture_fini(&f);
}

struct hammer {
	struct tls_mint *mint;
	int seed;
	int failures;
};

/* One worker: its own small cache over the shared one, names drawn from a
 * set larger than both caches so hits, misses, evictions and concurrent
 * mints of the same name all happen. */
static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	struct tls_leaf_cache *c = NULL;
	unsigned x = (unsigned)h->seed * 2654435761u + 1;
	char name[32];

	if (tls_leaf_cache_new(h->mint, 8, &c) < 0) {
		h->failures++;
		return NULL;
	}
	for (int i = 0; i < 400; i++) {
		CRYPTO_BUFFER *leaf = NULL;

		x = x * 1103515245u + 12345u;
		snprintf(name, sizeof(name), "h%u.test", (x >> 16) % 40);
		if (tls_leaf_cache_get(c, name, &leaf) < 0 || leaf == NULL ||
		    CRYPTO_BUFFER_len(leaf) < 200)
			h->failures++;
	}
	tls_leaf_cache_free(c);
	return NULL;
}

static void threads(void)
{
	enum { T = 4 };
	struct test_fixture f;
	struct hammer h[T];
	pthread_t tid[T];
	struct tls_cache_stats st;

	test_fixture_init(&f, NULL); /* shared capacity 64 > 40 names */
	for (int i = 0; i < T; i++) {
		h[i] = (struct hammer){.mint = f.mint, .seed = i};
		CHECK_EQ(pthread_create(&tid[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(tid[i], NULL);
		CHECK_EQ(h[i].failures, 0);
	}
	tls_mint_stats(f.mint, &st);
	CHECK(st.entries <= 40);
	/* Every name minted at least once; concurrent misses of one name may
	 * each mint it, but never more than once per worker. */
	CHECK(st.mints >= 40 && st.mints <= 40 * T);
	CHECK_EQ(st.entries, 40);
	test_fixture_fini(&f);
}

int main(void)
{
	lru_eviction();
	lru_churn();
	worker_over_shared();
	threads();
	return check_done("cache");
}
