/*
 * tools/control/clients.c - the per-session client lists of clients.h.
 *
 * One lock for the whole cache: a request for a session already cached
 * holds it for a poll of a tail (microseconds when nothing changed); the
 * first request for a big session holds it for one read of that index.
 * Eviction: the least recently used session.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persist/seg.h"
#include "persist/tail.h"
#include "tools/control/clients.h"
#include "tools/views/listing.h"

/* A client as the index holds it: its name, else its address. Comparing
 * these raw keys spares the text formatting (inet_ntop) of every row of a
 * million-row first read; a key maps to one text, so equal keys mean the
 * client is listed already. */
struct ckey {
	uint8_t family, name_len;
	uint8_t addr[16];
	char name[SEG_CLIENT_NAME_MAX];
};

struct centry {
	char dir[PATH_MAX];        /* "" when the slot is free */
	struct ckey keys[RC_CLIENTS_MAX]; /* the raw keys of cl, in its order */
	uint64_t fps[RC_CLIENTS_MAX];     /* their fingerprints, compared first */
	size_t nkeys, last;               /* last: the key the previous row matched */
	struct seg_tail *tail;
	uint64_t tomb_size;        /* tombstone file size the list was built with */
	uint64_t *tomb;            /* their ids, sorted */
	size_t ntomb;
	uint64_t used;             /* LRU stamp */
	struct rc_clients cl;
};

struct rc_clients_cache {
	pthread_mutex_t mu;
	uint64_t clock;
	struct centry e[RC_CLIENTS_CACHED];
};

int rc_clients_cache_create(struct rc_clients_cache **out)
{
	struct rc_clients_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

static void entry_clear(struct centry *e)
{
	seg_tail_close(e->tail);
	free(e->tomb);
	memset(e, 0, sizeof(*e));
}

void rc_clients_cache_free(struct rc_clients_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < RC_CLIENTS_CACHED; i++)
		entry_clear(&c->e[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void key_of(const struct seg_qrow *r, struct ckey *k)
{
	memset(k, 0, sizeof(*k));
	if (r->client_name_len && r->client_name_len <= SEG_CLIENT_NAME_MAX) {
		k->name_len = r->client_name_len;
		memcpy(k->name, r->client_name, r->client_name_len);
		return;
	}
	k->family = r->e.client.family;
	memcpy(k->addr, r->e.client.addr, sizeof(k->addr));
}

static uint64_t fingerprint(const struct ckey *k)
{
	const uint8_t *p = k->name_len ? (const uint8_t *)k->name : k->addr;
	size_t n = k->name_len ? k->name_len : sizeof(k->addr);
	uint64_t h = 0xcbf29ce484222325ull ^ k->family ^ (uint64_t)k->name_len << 8;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int add_row(void *ctx, const struct seg_qrow *r)
{
	struct centry *e = ctx;
	struct ckey k;
	if (e->ntomb && bsearch(&r->e.id, e->tomb, e->ntomb, sizeof(*e->tomb), id_cmp))
		return 0;   /* deleted */
	key_of(r, &k);
	uint64_t fp = fingerprint(&k);
	if (e->last < e->nkeys && e->fps[e->last] == fp && !memcmp(&e->keys[e->last], &k, sizeof(k)))
		return 0;
	for (size_t i = 0; i < e->nkeys; i++)
		if (e->fps[i] == fp && memcmp(&e->keys[i], &k, sizeof(k)) == 0) {
			e->last = i;
			return 0;
		}
	if (e->cl.more)
		return 0;   /* the list is full and this one is not in it */
	size_t before = e->cl.n;
	rc_clients_add(&e->cl, r);
	if (e->cl.n > before && e->nkeys < RC_CLIENTS_MAX) {
		e->fps[e->nkeys] = fp;
		e->keys[e->nkeys++] = k;
	}
	return 0;
}

/* (Re)starts e on dir: tombstones read, a tail from the first entry. */
static int entry_start(struct centry *e, const char *dir)
{
	entry_clear(e);
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	int rc = seg_tombstones_read(dir, &e->tomb, &e->ntomb, &e->tomb_size);
	if (rc == 0)
		rc = seg_tail_open(dir, NULL, &e->tail);
	if (rc < 0)
		entry_clear(e);
	return rc;
}

/* The slot of dir, or the least recently used one (cleared). */
static struct centry *slot_for(struct rc_clients_cache *c, const char *dir, bool *hit)
{
	struct centry *lru = &c->e[0];
	for (size_t i = 0; i < RC_CLIENTS_CACHED; i++) {
		struct centry *e = &c->e[i];
		if (e->dir[0] != '\0' && strcmp(e->dir, dir) == 0) {
			*hit = true;
			return e;
		}
		if (e->used < lru->used)
			lru = e;
	}
	*hit = false;
	return lru;
}

/* Whether the tombstone file's size moved since e was built (one stat). */
static bool tombs_changed(const struct centry *e)
{
	char path[PATH_MAX + 16];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/tombstones", e->dir);
	uint64_t size = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return size != e->tomb_size;
}

/* Drops the entries of sessions deleted since: their tails hold open
 * index files, whose space would otherwise not come back. */
static void sweep(struct rc_clients_cache *c)
{
	struct stat sb;
	for (size_t i = 0; i < RC_CLIENTS_CACHED; i++)
		if (c->e[i].dir[0] != '\0' && stat(c->e[i].dir, &sb) < 0)
			entry_clear(&c->e[i]);
}

int rc_clients_cache_get(struct rc_clients_cache *c, const char *session_dir,
			 struct rc_clients *out)
{
	bool hit;
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	sweep(c);
	struct centry *e = slot_for(c, session_dir, &hit);
	if (!hit || tombs_changed(e))
		rc = entry_start(e, session_dir);
	if (rc == 0)
		rc = seg_tail_poll(e->tail, 0, add_row, e, NULL);
	if (rc == 0) {
		e->used = ++c->clock;
		memcpy(out, &e->cl, sizeof(*out));
	} else {
		entry_clear(e);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}
