/*
 * tools/capture/policy.c - the publisher side of the capture sink: creating
 * it, opening a session's store (one writer per worker), swapping the
 * capture policy (rc_capture_set) and freeing what workers have left behind
 * once a grace period shows no worker can still see it. Runs on the control
 * port's and the main thread, under c->mu; it never touches a worker's
 * state except through the atomics in tools/capture/capture-int.h.
 * tools/capture/sink.c's file comment has the three lifetimes involved.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filter/flt.h"
#include "persist/query.h"
#include "persist/seg.h"
#include "tools/capture/capture-int.h"
#include "tools/lib/rc-limits.h"
#include "rc-assert.h"

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- publisher side ---- */

int rc_capture_create(unsigned workers, struct rc_capture **out)
{
	struct rc_capture *c = calloc(1, sizeof(*c));
	if (c == NULL || workers == 0)
		goto fail;
	c->nworkers = workers;
	c->ws = aligned_alloc(64, sizeof(*c->ws) * workers);
	if (c->ws == NULL)
		goto fail;
	memset(c->ws, 0, sizeof(*c->ws) * workers);
	for (unsigned i = 0; i < workers; i++)
		atomic_store(&c->ws[i].epoch, OFFLINE);
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
fail:
	free(c);
	return workers == 0 ? -EINVAL : -ENOMEM;
}

static void store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->w[i])
			seg_writer_close(s->w[i]);
	free(s->w);
	free(s->adopted);
	free(s->done);
	free(s);
}

/* The number a continued session goes on from: past every number it holds
 * and past the ids its older, unnumbered exchanges show (ids of worker 0
 * are small too), so that one typed id names one exchange. */
static uint64_t first_number(const char *dir)
{
	struct seg_table t = {0};
	uint64_t next = 1;
	if (seg_table_load(dir, &t, NULL) < 0)
		return next;
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_qrow *r = &t.rows[i];
		uint64_t shown = r->number ? r->number : r->e.id;
		if (shown <= UINT32_MAX && shown >= next)
			next = shown + 1;
	}
	seg_table_free(&t);
	return next;
}

void rc_capture_flush_interval(struct rc_capture *c, uint64_t flush_ns)
{
	c->flush_ns = flush_ns;
}

void rc_capture_sync(struct rc_capture *c, bool sync)
{
	c->sync = sync;
}

void rc_capture_zstd_level(struct rc_capture *c, int level, unsigned budget)
{
	c->zstd_level = level;
	c->zstd_budget = budget;
}

static int store_open(struct rc_capture *c, const char *dir, struct store **out,
		      char *err, size_t errlen)
{
	/* aligned for next_number's cache line (sizeof is a multiple of 64) */
	struct store *s = aligned_alloc(_Alignof(struct store), sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	s->nworkers = c->nworkers;
	s->w = calloc(c->nworkers, sizeof(*s->w));
	s->adopted = calloc(c->nworkers, sizeof(*s->adopted));
	s->done = calloc(c->nworkers, sizeof(*s->done));
	int rc = -ENOMEM;
	if (!s->w || !s->adopted || !s->done || strlen(dir) >= sizeof(s->dir))
		goto fail;
	strcpy(s->dir, dir);
	struct seg_report rep = { 0 };
	rc = seg_recover(dir, &rep);   /* a restart continues after the last good frame */
	if (rc < 0) {
		snprintf(err, errlen, "cannot recover session files in %s: %s", dir, strerror(-rc));
		goto fail;
	}
	atomic_store(&s->next_number, first_number(dir));
	for (unsigned i = 0; i < c->nworkers; i++) {
		struct seg_writer_cfg wc = { .session_dir = dir, .worker = (uint16_t)i,
					     .body_max = UINT64_MAX, .save_responses = true,
					     .flush_ns = c->flush_ns, .sync = c->sync,
					     .zstd_level = c->zstd_level,
					     .zstd_budget = c->zstd_budget,
					     .direct = true };
		rc = seg_writer_open(&wc, wall_ns(), &s->w[i]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot open the segment writer of worker %u in %s: %s",
				 i, dir, strerror(-rc));
			goto fail;
		}
		struct seg_writer_stats st;
		seg_writer_get_stats(s->w[i], &st);
		if (i == 0 && st.direct_errno) /* the same file system for every worker */
			fprintf(stderr, "ringcap: %s: O_DIRECT refused (%s): segments are written "
				"through the page cache\n", dir, strerror(st.direct_errno));
	}
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

static bool grace_seen(struct rc_capture *c, uint64_t epoch)
{
	for (unsigned i = 0; i < c->nworkers; i++) {
		uint64_t e = atomic_load(&c->ws[i].epoch);
		if (e != OFFLINE && e < epoch)
			return false;
	}
	return true;
}

/* A retiring store is closed once no worker holds its writer: it was never
 * adopted, or it was handed back. Only asked after a grace period, so no
 * worker can adopt it any more. */
static bool store_free_of_workers(const struct store *s)
{
	for (unsigned i = 0; i < s->nworkers; i++)
		if (atomic_load(&s->adopted[i]) && !atomic_load(&s->done[i]))
			return false;
	return true;
}

/* A policy in limbo may still lead a worker to its store. */
static bool in_limbo(const struct rc_capture *c, const struct store *s)
{
	for (const struct pol *p = c->limbo; p; p = p->next)
		if (p->store == s)
			return true;
	return false;
}

/* Frees the policies in limbo and closes drained stores; with mu held. */
static void reap_locked(struct rc_capture *c)
{
	for (struct pol **pp = &c->limbo; *pp;) {
		struct pol *p = *pp;
		if (!grace_seen(c, p->epoch)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->p.filter)
			flt_db_unref(p->p.filter);
		free(p);
	}
	for (struct store **pp = &c->retiring; *pp;) {
		struct store *s = *pp;
		if (!in_limbo(c, s) && store_free_of_workers(s)) {
			*pp = s->next;
			store_close(s);
		} else {
			pp = &s->next;
		}
	}
}

void rc_capture_reap(struct rc_capture *c)
{
	pthread_mutex_lock(&c->mu);
	reap_locked(c);
	pthread_mutex_unlock(&c->mu);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000L };
	nanosleep(&ts, NULL);
}

static struct pol *pol_new(const struct rc_capture_policy *p, struct store *s)
{
	struct pol *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->p = *p;
	n->p.session_dir = s ? s->dir : NULL;
	n->store = s;
	if (n->p.filter)
		flt_db_ref(n->p.filter);
	return n;
}

int rc_capture_set(struct rc_capture *c, const struct rc_capture_policy *p, unsigned wait_ms,
		   char *err, size_t errlen)
{
	pthread_mutex_lock(&c->mu);
	struct pol *old = atomic_load(&c->cur);
	struct store *s = old ? old->store : NULL, *opened = NULL;
	int rc = 0;
	if (p->session_dir == NULL) {
		s = NULL;
	} else if (s == NULL || strcmp(s->dir, p->session_dir) != 0) {
		rc = store_open(c, p->session_dir, &opened, err, errlen);
		if (rc < 0)
			goto out;
		s = opened;
	}
	struct pol *n = pol_new(p, s);
	if (n == NULL) {
		store_close(opened);
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	atomic_store(&c->cur, n);
	uint64_t epoch = atomic_fetch_add(&c->epoch, 1) + 1;
	if (old) {
		old->epoch = epoch;
		old->next = c->limbo;
		c->limbo = old;
		if (old->store && old->store != s) {
			old->store->next = c->retiring;
			c->retiring = old->store;
		}
	}
	for (unsigned t = 0;; t += 10) {
		reap_locked(c);
		if ((c->limbo == NULL && c->retiring == NULL) || t >= wait_ms)
			break;
		sleep_ms(10);
	}
	rc = c->retiring ? -EINPROGRESS : 0;
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void rc_capture_stats(struct rc_capture *c, struct rc_capture_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < c->nworkers; i++) {
		struct wstat *w = &c->ws[i];
		out->written += atomic_load_explicit(&w->written, memory_order_relaxed);
		out->dropped += atomic_load_explicit(&w->dropped, memory_order_relaxed);
		out->filtered += atomic_load_explicit(&w->filtered, memory_order_relaxed);
		out->bytes += atomic_load_explicit(&w->bytes, memory_order_relaxed);
		out->over_budget += atomic_load_explicit(&w->over_budget, memory_order_relaxed);
		out->failed |= atomic_load_explicit(&w->failed, memory_order_relaxed);
	}
}

/* After eng_stop: every worker has flushed and handed back what it held. */
void rc_capture_destroy(struct rc_capture *c)
{
	if (c == NULL)
		return;
	struct pol *cur = atomic_load(&c->cur);
	if (cur) {
		if (cur->store) {
			cur->store->next = c->retiring;
			c->retiring = cur->store;
		}
		cur->next = c->limbo;
		c->limbo = cur;
		atomic_store(&c->cur, NULL);
	}
	for (unsigned i = 0; i < c->nworkers; i++)
		atomic_store(&c->ws[i].epoch, OFFLINE);
	reap_locked(c);
	for (struct store *s = c->retiring, *n; s; s = n) {
		n = s->next;
		store_close(s);   /* a worker that never started left it untouched */
	}
	pthread_mutex_destroy(&c->mu);
	free(c->ws);
	free(c);
}
