/*
 * pool.c - per-worker memory for TLS connections, sized at start-up:
 * connection states (struct tls_conn) and the two kinds of ciphertext
 * buffers a connection borrows while bytes are in flight (TLS_CONN_IN_BYTES
 * in, TLS_CONN_OUT_BYTES out). Nothing is allocated after tls_pool_new: an
 * exhausted pool refuses (the caller sheds the connection) and counts it.
 *
 * Each region is one anonymous mapping; an object is handed out from the
 * free list first (most recently freed: its pages are already resident),
 * then from the never-used tail, so resident memory follows the peak of
 * connections and bursts actually seen, not the configured maximum.
 *
 * Invariants: a pool belongs to one thread (the worker's); an object is on
 * the free list, in the never-used tail or in use, exactly one of them;
 * the free list is linked through the first 4 bytes of each free object.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tls/tls-int.h"
#include "rc-assert.h"

#define POOL_NONE UINT32_MAX   /* end of a free list */

/* One region of equal objects. */
struct pool_region {
	char *base;        /* n objects of size bytes */
	size_t size;       /* bytes per object (>= 4: the free link) */
	uint32_t n;        /* objects */
	uint32_t used;     /* objects [0, used) have been handed out once */
	uint32_t free;     /* free list head, or POOL_NONE */
	uint32_t in_use;   /* handed out now */
};

struct tls_pool {
	struct pool_region conn;   /* struct tls_conn */
	struct pool_region in;     /* TLS_CONN_IN_BYTES each */
	struct pool_region out;    /* TLS_CONN_OUT_BYTES each */
	struct tls_pool_stats stats;
};

static int region_init(struct pool_region *r, uint32_t n, size_t size)
{
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->size = size;
	r->free = POOL_NONE;
	if (n == 0)
		return 0;
	void *p = mmap(NULL, (size_t)n * size, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	r->base = p;
	return 0;
}

static void region_fini(struct pool_region *r)
{
	if (r->base != NULL)
		munmap(r->base, (size_t)r->n * r->size);
	r->base = NULL;
}

/* An object, or NULL when every one is in use. */
static void *region_get(struct pool_region *r)
{
	uint32_t i;
	if (r->free != POOL_NONE) {
		i = r->free;
		memcpy(&r->free, r->base + (size_t)i * r->size, sizeof(r->free));
	} else if (r->used < r->n) {
		i = r->used++;
	} else {
		return NULL;
	}
	r->in_use++;
	ASSERT(r->in_use <= r->n);
	return r->base + (size_t)i * r->size;
}

static void region_put(struct pool_region *r, void *obj)
{
	char *p = obj;
	/* an object from another pool or region, or freed twice, is our bug */
	ASSERT(p >= r->base);
	ASSERT(p < r->base + (size_t)r->used * r->size);
	ASSERT((size_t)(p - r->base) % r->size == 0);
	ASSERT(r->in_use > 0);
	uint32_t i = (uint32_t)((size_t)(p - r->base) / r->size);
	memcpy(p, &r->free, sizeof(r->free));
	r->free = i;
	r->in_use--;
}

int tls_pool_new(size_t conns, size_t in_bufs, size_t out_bufs, struct tls_pool **out)
{
	*out = NULL;
	if (conns > UINT32_MAX / 2 || in_bufs > UINT32_MAX / 2 || out_bufs > UINT32_MAX / 2)
		return -EINVAL;
	struct tls_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	int rc = region_init(&p->conn, (uint32_t)conns, sizeof(struct tls_conn));
	if (rc == 0)
		rc = region_init(&p->in, (uint32_t)in_bufs, TLS_CONN_IN_BYTES);
	if (rc == 0)
		rc = region_init(&p->out, (uint32_t)out_bufs, TLS_CONN_OUT_BYTES);
	if (rc < 0) {
		tls_pool_free(p);
		return rc;
	}
	p->stats.conns_max = conns;
	p->stats.in_bufs_max = in_bufs;
	p->stats.out_bufs_max = out_bufs;
	*out = p;
	return 0;
}

void tls_pool_free(struct tls_pool *p)
{
	if (p == NULL)
		return;
	region_fini(&p->conn);
	region_fini(&p->in);
	region_fini(&p->out);
	free(p);
}

void tls_pool_stats(const struct tls_pool *p, struct tls_pool_stats *out)
{
	*out = p->stats;
	out->conns_in_use = p->conn.in_use;
	out->in_bufs_in_use = p->in.in_use;
	out->out_bufs_in_use = p->out.in_use;
}

struct tls_conn *tls_pool_conn_get(struct tls_pool *p)
{
	struct tls_conn *c = region_get(&p->conn);
	if (c == NULL) {
		p->stats.conns_shed++;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	return c;
}

void tls_pool_conn_put(struct tls_pool *p, struct tls_conn *c)
{
	region_put(&p->conn, c);
}

uint8_t *tls_pool_buf_get(struct tls_pool *p, bool outbound)
{
	uint8_t *b = region_get(outbound ? &p->out : &p->in);
	if (b == NULL)
		p->stats.bufs_shed++;
	return b;
}

void tls_pool_buf_put(struct tls_pool *p, bool outbound, uint8_t *b)
{
	region_put(outbound ? &p->out : &p->in, b);
}
