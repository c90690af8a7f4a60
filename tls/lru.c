/*
 * lru.c - bounded LRU of DER blobs (leaves, sessions) keyed by host name,
 * shared by the leaf caches (cache.c, mint.c) and the client's session
 * cache (client.c). A data structure only: it calls no other file of tls/.
 *
 * Invariants: all entries and buckets are allocated at init; get and put
 * never allocate (a put may free an evicted leaf's reference). Entries in
 * use are on one doubly linked LRU list (head = most recent) and on one
 * bucket chain; free entries are on the freelist only. Bucket count is a
 * power of two >= 2 * cap, and the hash is keyed SipHash, so a client
 * choosing SNI names cannot make chains long.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/is_boringssl.h>
#include <openssl/pool.h>
#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "tls/tls-int.h"
#include "rc-assert.h"

static void lru_unlink(struct tls_lru *l, uint32_t i);
static void lru_push_front(struct tls_lru *l, uint32_t i);
static void lru_drop(struct tls_lru *l, uint32_t i);
static uint32_t lru_find(struct tls_lru *l, const char *name, size_t len,
			 uint64_t h);

int tls_lru_init(struct tls_lru *l, uint32_t cap)
{
	uint32_t nb = 2;

	memset(l, 0, sizeof(*l));
	if (cap == 0 || cap > TLS_CACHE_MAX)
		return -EINVAL;
	while (nb < 2 * cap)
		nb <<= 1;
	l->e = calloc(cap, sizeof(*l->e));
	l->bucket = malloc(nb * sizeof(*l->bucket));
	if (l->e == NULL || l->bucket == NULL) {
		tls_lru_fini(l);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nb; i++)
		l->bucket[i] = TLS_LRU_NONE;
	for (uint32_t i = 0; i < cap; i++)
		l->e[i].next = i + 1 < cap ? i + 1 : TLS_LRU_NONE;
	l->bucket_mask = nb - 1;
	l->cap = cap;
	l->head = TLS_LRU_NONE;
	l->tail = TLS_LRU_NONE;
	l->free_head = 0;
	RAND_bytes((uint8_t *)l->key, sizeof(l->key));
	return 0;
}

void tls_lru_fini(struct tls_lru *l)
{
	if (l->e != NULL) {
		for (uint32_t i = 0; i < l->cap; i++)
			CRYPTO_BUFFER_free(l->e[i].leaf);
	}
	free(l->e);
	free(l->bucket);
	l->e = NULL;
	l->bucket = NULL;
	l->cap = 0;
	l->count = 0;
}

CRYPTO_BUFFER *tls_lru_get(struct tls_lru *l, const char *name, size_t len,
			   int64_t now_s, int64_t *expires_s)
{
	uint64_t h = SIPHASH_24(l->key, (const uint8_t *)name, len);
	uint32_t i = lru_find(l, name, len, h);

	if (i == TLS_LRU_NONE) {
		l->stats.misses++;
		return NULL;
	}
	if (l->e[i].expires_s <= now_s) {
		lru_drop(l, i);
		l->stats.misses++;
		return NULL;
	}
	if (l->head != i) {
		lru_unlink(l, i);
		lru_push_front(l, i);
	}
	l->stats.hits++;
	if (expires_s != NULL)
		*expires_s = l->e[i].expires_s;
	return l->e[i].leaf;
}

CRYPTO_BUFFER *tls_lru_put(struct tls_lru *l, const char *name, size_t len,
			   CRYPTO_BUFFER *leaf, int64_t expires_s)
{
	uint64_t h = SIPHASH_24(l->key, (const uint8_t *)name, len);
	uint32_t i = lru_find(l, name, len, h);
	struct tls_lru_entry *e;

	if (len > TLS_NAME_MAX)
		return NULL;
	if (i != TLS_LRU_NONE)
		lru_drop(l, i);
	if (l->free_head == TLS_LRU_NONE) {
		lru_drop(l, l->tail);
		l->stats.evictions++;
	}
	i = l->free_head;
	e = &l->e[i];
	l->free_head = e->next;
	e->used = true;
	e->hash = h;
	e->name_len = (uint8_t)len;
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->expires_s = expires_s;
	CRYPTO_BUFFER_up_ref(leaf);
	e->leaf = leaf;
	e->chain = l->bucket[h & l->bucket_mask];
	l->bucket[h & l->bucket_mask] = i;
	lru_push_front(l, i);
	l->count++;
	ASSERT(l->count <= l->cap);
	l->stats.entries = l->count;
	return leaf;
}

/* ---- helpers --------------------------------------------------------------- */

static uint32_t lru_find(struct tls_lru *l, const char *name, size_t len,
			 uint64_t h)
{
	uint32_t i = l->bucket[h & l->bucket_mask];

	/* Bounded: a chain never holds more than cap entries. */
	for (uint32_t n = 0; i != TLS_LRU_NONE && n < l->cap; n++) {
		struct tls_lru_entry *e = &l->e[i];

		if (e->hash == h && e->name_len == len &&
		    memcmp(e->name, name, len) == 0)
			return i;
		i = e->chain;
	}
	return TLS_LRU_NONE;
}

static void lru_unlink(struct tls_lru *l, uint32_t i)
{
	struct tls_lru_entry *e = &l->e[i];

	if (e->prev != TLS_LRU_NONE)
		l->e[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != TLS_LRU_NONE)
		l->e[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = TLS_LRU_NONE;
	e->next = TLS_LRU_NONE;
}

static void lru_push_front(struct tls_lru *l, uint32_t i)
{
	struct tls_lru_entry *e = &l->e[i];

	e->prev = TLS_LRU_NONE;
	e->next = l->head;
	if (l->head != TLS_LRU_NONE)
		l->e[l->head].prev = i;
	l->head = i;
	if (l->tail == TLS_LRU_NONE)
		l->tail = i;
}

/* Removes entry I from its bucket chain and the LRU list, releases its
 * leaf and puts it on the freelist. */
static void lru_drop(struct tls_lru *l, uint32_t i)
{
	struct tls_lru_entry *e = &l->e[i];
	uint32_t *link = &l->bucket[e->hash & l->bucket_mask];

	ASSERT(e->used);
	ASSERT(l->count > 0);
	for (uint32_t n = 0; *link != TLS_LRU_NONE && n < l->cap; n++) {
		if (*link == i) {
			*link = e->chain;
			break;
		}
		link = &l->e[*link].chain;
	}
	lru_unlink(l, i);
	CRYPTO_BUFFER_free(e->leaf);
	e->leaf = NULL;
	e->used = false;
	e->chain = TLS_LRU_NONE;
	e->next = l->free_head;
	l->free_head = i;
	l->count--;
	l->stats.entries = l->count;
}
