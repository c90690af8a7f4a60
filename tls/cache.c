/*
 * cache.c - the per-worker leaf cache: an LRU (lru.c) in front of the
 * minter's shared cache (mint.c). Calls into mint.c on a miss; mint.c never
 * calls back, so the two files do not form a cycle.
 *
 * Invariants: the cache allocates only at creation; a get returns a leaf
 * borrowed from the cache, valid until the next call on the same cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/is_boringssl.h>
#include <openssl/pool.h>

#include "tls/tls-int.h"

struct tls_leaf_cache {
	struct tls_mint *mint;
	struct tls_lru lru;
};

int tls_leaf_cache_new(struct tls_mint *m, size_t capacity,
		       struct tls_leaf_cache **out)
{
	struct tls_leaf_cache *c;
	int rc;

	*out = NULL;
	if (capacity == 0)
		capacity = TLS_CACHE_WORKER_DEFAULT;
	if (capacity > TLS_CACHE_MAX)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	rc = tls_lru_init(&c->lru, (uint32_t)capacity);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->mint = m;
	*out = c;
	return 0;
}

void tls_leaf_cache_free(struct tls_leaf_cache *c)
{
	if (c == NULL)
		return;
	tls_lru_fini(&c->lru);
	free(c);
}

int tls_leaf_cache_get(struct tls_leaf_cache *c, const char *name,
		       CRYPTO_BUFFER **out)
{
	size_t len = strlen(name);
	int64_t now_s = (int64_t)time(NULL);
	CRYPTO_BUFFER *leaf = tls_lru_get(&c->lru, name, len, now_s, NULL);
	int64_t expires_s;
	int rc;

	*out = NULL;
	if (leaf != NULL) {
		*out = leaf;
		return 0;
	}
	if (len == 0 || len > TLS_NAME_MAX)
		return -EINVAL;
	rc = tls_mint_get_exp(c->mint, name, &leaf, &expires_s);
	if (rc < 0)
		return rc;
	/* The entry takes its own reference and ours goes; the borrowed
	 * pointer stays valid until the next call on this cache. */
	*out = tls_lru_put(&c->lru, name, len, leaf, expires_s);
	CRYPTO_BUFFER_free(leaf);
	return *out != NULL ? 0 : -EINVAL;
}

void tls_leaf_cache_stats(const struct tls_leaf_cache *c,
			  struct tls_cache_stats *out)
{
	*out = c->lru.stats;
}
