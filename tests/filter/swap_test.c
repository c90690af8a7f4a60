/* tests/filter/swap_test.c: the pattern the engine will use — one shared
 * current db, swapped by a control thread while worker threads match with
 * their own scratch — holds up: every worker verdict matches the db it
 * pinned, scratch grows across dbs of different sizes, and every db is
 * freed exactly once (ASan/LSan in the sanitizer build catch a
 * use-after-free or a leak).
 *
 * Db g accepts exactly the URLs that contain "/g<g>/" (its regexes: one that
 * every test URL matches plus 0..12 that none does, so sizes differ); a
 * worker pins the current db (ref under the
 * publisher's lock, as flt.h asks), matches a batch of URLs built for that
 * generation and for its neighbour, then unrefs it. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/flt.h"
#include "flt-test.h"

#define WORKERS 3
#define SWAPS 30
#define BATCH 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct flt_db *current; /* under lock */
static int current_gen;        /* under lock */
static atomic_bool done;
static atomic_int bad_verdicts;
static atomic_long matches;

static struct flt_db *make_db(int g)
{
	struct flt_spec s;
	struct flt_db *db = NULL;
	char v[64], err[FLT_ERR_LEN];

	flt_spec_init(&s);
	snprintf(v, sizeof(v), "/g%d/", g);
	if (flt_spec_add_flag(&s, "--url-contains", v, err, sizeof(err)) < 0)
		abort();
	if (flt_spec_add_flag(&s, "--url-regex", "^http://h/", err,
			      sizeof(err)) < 0)
		abort();
	/* More patterns in later generations: the scratch must grow. */
	for (int i = 0; i < g % 5 * 3; i++) {
		char r[64];
		snprintf(r, sizeof(r), "--pad-%d-[0-9]+-%d", g, i);
		if (flt_spec_add_flag(&s, "--url-regex", r, err, sizeof(err)) < 0)
			abort();
	}
	if (flt_compile(&s, &db, err, sizeof(err)) < 0)
		abort();
	flt_spec_free(&s);
	return db;
}

static void *worker(void *arg)
{
	struct flt_scratch *sc = NULL;
	char url[96];

	(void)arg;
	while (!atomic_load(&done)) {
		pthread_mutex_lock(&lock);
		struct flt_db *db = flt_db_ref(current);
		int g = current_gen;
		pthread_mutex_unlock(&lock);
		if (flt_scratch_reserve(&sc, db) < 0)
			abort();
		for (int i = 0; i < BATCH; i++) {
			int ug = i % 2 ? g : g + 1;
			snprintf(url, sizeof(url), "http://h/g%d/item/%d", ug, i);
			enum flt_verdict v = flt_match_request(db, sc, "GET", url,
				strlen(url), NULL, NULL);
			if (v != (ug == g ? FLT_ACCEPT : FLT_REJECT))
				atomic_fetch_add(&bad_verdicts, 1);
		}
		atomic_fetch_add(&matches, BATCH);
		flt_db_unref(db);
	}
	flt_scratch_free(sc);
	return NULL;
}

int main(void)
{
	static struct flt_db *dbs[SWAPS + 1];
	pthread_t t[WORKERS];

	/* Compiled up front: the swaps then come every millisecond, while
	 * the workers are busy, instead of every compile time. */
	for (int g = 0; g <= SWAPS; g++)
		dbs[g] = make_db(g);
	current = dbs[0];
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
	for (int g = 1; g <= SWAPS; g++) {
		struct flt_db *next = dbs[g], *old;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		pthread_mutex_lock(&lock);
		old = current;
		current = next;
		current_gen = g;
		pthread_mutex_unlock(&lock);
		flt_db_unref(old); /* freed by whoever drops the last ref */
	}
	/* Let the workers see the last db too. */
	long seen = atomic_load(&matches);
	for (int spin = 0; spin < 1000000 &&
	     atomic_load(&matches) < seen + WORKERS * BATCH; spin++)
		sched_yield();
	atomic_store(&done, true);
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	flt_db_unref(current);
	CHECK(atomic_load(&bad_verdicts) == 0);
	CHECK(atomic_load(&matches) >= WORKERS * BATCH);
	printf("swap_test: %ld matches over %d swaps\n",
	       atomic_load(&matches), SWAPS);
	return check_done("swap_test");
}
