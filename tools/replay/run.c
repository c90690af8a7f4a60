/*
 * tools/replay/run.c - one replay run: TLS client context, --record
 * session, the source and loop threads, the progress line, Ctrl-C, and
 * the merge of every thread's counters into the result.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "tls/tls.h"
#include "tools/lib/rc-limits.h"
#include "tools/replay/replay.h"

static atomic_int g_stop;   /* 1: finish what is in flight, 2: at once */

void rp_interrupt(void)
{
	int s = atomic_load(&g_stop);
	atomic_store(&g_stop, s >= 1 ? 2 : 1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void progress(struct rp_loop_args *la, unsigned n, uint64_t t0, uint64_t *last_done,
		     uint64_t *last_ns)
{
	uint64_t sent = 0, done = 0, failed = 0, now = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		sent += atomic_load_explicit(&la[i].st.sent, memory_order_relaxed);
		done += atomic_load_explicit(&la[i].st.done, memory_order_relaxed);
		failed += atomic_load_explicit(&la[i].st.failed, memory_order_relaxed);
	}
	double dt = (double)(now - *last_ns) / 1e9;
	double rps = dt > 0 ? (double)(done - *last_done) / dt : 0;
	fprintf(stderr, "\r%7.1fs  sent %llu  answered %llu  errors %llu  %.0f req/s   ",
		(double)(now - t0) / 1e9, (unsigned long long)sent, (unsigned long long)done,
		(unsigned long long)failed, rps);
	*last_done = done;
	*last_ns = now;
}

/* The --record session and one writer per loop thread. */
static int record_open(struct rp_cfg *cfg, unsigned n, struct seg_writer **w, char *id,
		       char *dir, size_t dircap, char *err, size_t errlen)
{
	struct ses_settings st = { .save_responses = true, .max_body = SEG_BODY_MAX_DEFAULT };
	struct ses_meta m;
	int rc = ses_create(cfg->data_dir, cfg->record, &st, wall_ns(), &m);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create session '%s' in %s: %s", cfg->record,
			 cfg->data_dir, rc == -EEXIST ? "a session has that name" : strerror(-rc));
		return rc;
	}
	snprintf(id, SES_ID_LEN + 1u, "%s", m.id);
	ses_dir(dir, dircap, cfg->data_dir, m.id);
	for (unsigned i = 0; i < n; i++) {
		struct seg_writer_cfg wc = { .session_dir = dir, .worker = (uint16_t)i,
					     .body_max = SEG_BODY_MAX_DEFAULT, .save_responses = true };
		rc = seg_writer_open(&wc, wall_ns(), &w[i]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot open a segment writer in %s: %s", dir, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int tls_open(struct rp_cfg *cfg, struct tls_client **out, char *err, size_t errlen)
{
	struct tls_client_opts o = { .extra_ca_file = cfg->ca_file, .insecure_all = cfg->insecure };
	return tls_client_new(&o, out, err, errlen);
}

static void sigint(int sig)
{
	rp_interrupt();
}

static void merge(struct rp_result *res, struct rp_loop_args *la, unsigned n, uint64_t t0,
		  const struct rp_cfg *cfg)
{
	rp_stats_init(&res->total);
	uint64_t last = t0;
	for (unsigned i = 0; i < n; i++) {
		rp_stats_merge(&res->total, &la[i].st);
		if (la[i].st.last_done_ns > last)
			last = la[i].st.last_done_ns;
	}
	res->elapsed_ns = last - t0;
	uint64_t wu = cfg->src.sched.warmup_ns;
	res->measured_ns = res->elapsed_ns > wu ? res->elapsed_ns - wu : 0;
}

/* Waits (bounded, 5 s) until the source has read its first request, so
 * the schedule's first send is not late by a decompression the others are
 * not. */
static void wait_first_read(struct rp_source *src)
{
	const struct rp_source_stats *ss = rp_source_stats(src);
	for (unsigned k = 0; k < 5000u && atomic_load(&ss->read) == 0 && !rp_source_done(src) &&
			     !atomic_load(&g_stop); k++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* Joins the started loop threads, every 20 ms: passes a stop (Ctrl-C) on
 * to the source and draws the progress line meanwhile. */
static void join_all(struct rp_cfg *cfg, struct rp_source *src, struct rp_loop_args *la,
		     pthread_t *th, bool *joined, unsigned started, uint64_t t0)
{
	uint64_t last_done = 0, last_ns = mono_ns(), next = last_ns + RC_RP_PROGRESS_MS * 1000000ull;
	for (bool all = false; !all;) {
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
		if (atomic_load(&g_stop))
			rp_source_stop(src);
		if (cfg->progress && mono_ns() >= next) {
			progress(la, started, t0, &last_done, &last_ns);
			next += RC_RP_PROGRESS_MS * 1000000ull;
		}
		all = true;
		for (unsigned i = 0; i < started; i++) {
			if (!joined[i] && pthread_tryjoin_np(th[i], NULL) == 0)
				joined[i] = true;
			if (!joined[i])
				all = false;
		}
	}
	if (cfg->progress)
		fprintf(stderr, "\n");
}

static int threads_run(struct rp_cfg *cfg, struct rp_source *src, struct tls_client *tls,
		       struct seg_writer **w, struct rp_result *res, char *err, size_t errlen)
{
	unsigned n = cfg->src.threads;
	struct rp_loop_args *la = calloc(n, sizeof(*la));
	pthread_t *th = calloc(n, sizeof(*th));
	bool *joined = calloc(n, sizeof(*joined));
	if (la == NULL || th == NULL || joined == NULL) {
		free(la);
		free(th);
		free(joined);
		return -ENOMEM;
	}
	/* The source first: the schedule starts once its first request is
	 * read (bounded wait), so the first one is not late by a decompression
	 * that the others are not. */
	int rc = rp_source_start(src);
	if (rc == 0)
		wait_first_read(src);
	uint64_t t0 = mono_ns() + 5000000u;   /* 5 ms for the threads to set up */
	unsigned started = 0;
	for (unsigned i = 0; i < n; i++) {
		la[i] = (struct rp_loop_args){ .index = i, .threads = n, .src = src, .cfg = cfg,
					       .tls = tls, .rec = w ? w[i] : NULL, .t0_ns = t0,
					       .stop = &g_stop };
		rp_stats_init(&la[i].st);
		if (pthread_create(&th[i], NULL, rp_loop_main, &la[i]) != 0)
			break;
		started++;
	}
	if (started < n) {
		/* the missing thread's slots would never be served: stop now */
		atomic_store(&g_stop, 2);
		rp_source_stop(src);
	}
	join_all(cfg, src, la, th, joined, started, t0);
	for (unsigned i = 0; i < started && rc == 0; i++)
		if (la[i].rc < 0) {
			snprintf(err, errlen, "%s", la[i].err[0] ? la[i].err : strerror(-la[i].rc));
			rc = la[i].rc;
		}
	if (started < n && rc == 0) {
		snprintf(err, errlen, "cannot start loop threads");
		rc = -EAGAIN;
	}
	res->interrupted = atomic_load(&g_stop) != 0;
	merge(res, la, started, t0, cfg);
	free(la);
	free(th);
	free(joined);
	return rc;
}

int rp_run(struct rp_cfg *cfg, struct rp_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	struct rp_source *src = NULL;
	struct tls_client *tls = NULL;
	struct seg_writer **w = NULL;
	char dir[4096];
	unsigned n = cfg->src.threads;
	if (cfg->have_proxy) {
		cfg->src.proxy = &cfg->proxy;
		cfg->src.proxy_len = cfg->proxy_len;
	}
	int rc = rp_source_open(&cfg->src, &src);
	if (rc < 0) {
		snprintf(err, errlen, rc == -ENOENT ? "no exchange selected" : "cannot read the session: %s",
			 strerror(-rc));
		goto out;
	}
	rc = tls_open(cfg, &tls, err, errlen);
	if (rc < 0)
		goto out;
	if (cfg->record) {
		w = calloc(n, sizeof(*w));
		rc = w ? record_open(cfg, n, w, res->record_id, dir, sizeof(dir), err, errlen) : -ENOMEM;
		if (rc < 0)
			goto out;
	}
	struct sigaction sa = { .sa_handler = sigint }, old_int, old_term;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	rc = threads_run(cfg, src, tls, w, res, err, errlen);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	res->threads = n;
	res->slots = rp_source_slots(src);
out:
	if (src) {
		rp_source_join(src);
		const struct rp_source_stats *ss = rp_source_stats(src);
		res->src.selected = ss->selected;
		res->src.groups = ss->groups;
		res->src.index_damaged = ss->index_damaged;
		atomic_store(&res->src.read, atomic_load(&ss->read));
		atomic_store(&res->src.skipped_tunnel, atomic_load(&ss->skipped_tunnel));
		atomic_store(&res->src.skipped_cut, atomic_load(&ss->skipped_cut));
		atomic_store(&res->src.unreadable, atomic_load(&ss->unreadable));
		memcpy(res->src.first_damage, ss->first_damage, sizeof(res->src.first_damage));
	}
	rp_source_close(src);
	if (w) {
		for (unsigned i = 0; i < n; i++)
			if (w[i]) {
				seg_writer_flush_sync(w[i]);
				seg_writer_close(w[i]);
			}
		if (res->record_id[0])
			ses_set_state(cfg->data_dir, res->record_id, SES_STOPPED, wall_ns());
		free(w);
	}
	if (tls)
		tls_client_free(tls);
	return rc;
}
