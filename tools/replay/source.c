/*
 * tools/replay/source.c - selection, connection groups and the source
 * thread that streams prepared requests to the loop threads (source.h).
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "tools/lib/json.h"
#include "tools/lib/rc-limits.h"
#include "tools/replay/source.h"
#include "tools/views/filter.h"
#include "tools/views/listing.h"

#define DNS_CACHE 64u   /* distinct destinations resolved once each (a replay names few) */

struct dns_ent {
	struct rp_dest d;
	struct sockaddr_storage a;
	socklen_t len;          /* 0: did not resolve */
};

/* Open caches per reader thread (persist's seg_open_cache), by worker. */
#define RP_OPEN_CACHES 4u

struct rp_source {
	struct rp_source_cfg cfg;
	struct seg_table t;
	uint32_t *rows;         /* selected table rows in start order */
	uint32_t *group;        /* [n] recorded connection of each */
	size_t n;
	unsigned slots;
	struct rp_queue *q;     /* [threads] */
	pthread_t th;
	bool started;
	atomic_bool stop, done;
	atomic_bool rstop;      /* readers of the pass stop (the pass ended early) */
	_Atomic uint64_t inflight_bytes;
	bool cache;             /* pass 0 kept in reqs[] for the next passes */
	struct rp_req **reqs;   /* [n] when cache */
	unsigned nreaders;      /* reader threads of a pass */
	_Atomic size_t taken;   /* rows of the pass the dispatcher took */
	struct win {
		struct rp_req *req;
		atomic_bool ready;
	} win[RC_RP_READ_WINDOW];
	struct dns_ent dns[DNS_CACHE];
	unsigned ndns;
	struct rp_source_stats st;
};

/* ---- queue ---- */

bool rp_queue_push(struct rp_queue *q, const struct rp_item *it)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	if (t - h >= q->cap)
		return false;
	q->items[t & (q->cap - 1u)] = *it;
	atomic_store_explicit(&q->tail, t + 1u, memory_order_release);
	return true;
}

const struct rp_item *rp_queue_peek(struct rp_queue *q)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
	return h == t ? NULL : &q->items[h & (q->cap - 1u)];
}

bool rp_queue_pop(struct rp_queue *q, struct rp_item *it)
{
	const struct rp_item *p = rp_queue_peek(q);
	if (p == NULL)
		return false;
	*it = *p;
	atomic_store_explicit(&q->head, atomic_load_explicit(&q->head, memory_order_relaxed) + 1u,
			      memory_order_release);
	return true;
}

/* ---- selection ---- */

static bool select_row(void *ctx, const struct seg_qrow *r)
{
	struct rp_source *s = ctx;
	if (r->e.flags & SEG_F_TUNNEL) {
		atomic_fetch_add(&s->st.skipped_tunnel, 1);
		return false;
	}
	if (s->cfg.ids && s->cfg.ids->n && !rc_ids_has(s->cfg.ids, rc_row_id(r)))
		return false;
	if (s->cfg.filter && rc_filter_active(s->cfg.filter))
		return rc_filter_row(s->cfg.filter, r);
	return true;
}

/* Recorded connection of each selected row: (client address, port,
 * worker) -> dense group number, through an open-addressing table. */
static int group_rows(struct rp_source *s)
{
	size_t cap = 16;
	while (cap < s->n * 2u)
		cap <<= 1;
	struct gk { uint64_t h; uint32_t row, g; } *tab = calloc(cap, sizeof(*tab));
	s->group = malloc(s->n * sizeof(*s->group) + 1u);
	if (tab == NULL || s->group == NULL) {
		free(tab);
		return -ENOMEM;
	}
	uint32_t groups = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct seg_entry *e = &s->t.rows[s->rows[i]].e;
		uint64_t h = seg_crc32c(0, e->client.addr, sizeof(e->client.addr));
		h = h << 32 | ((uint64_t)e->client.port << 16 | e->worker);
		h |= 1u;   /* never 0: 0 marks a free place */
		size_t k = (size_t)(h * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1u);
		while (tab[k].h != 0 && tab[k].h != h)
			k = (k + 1u) & (cap - 1u);
		if (tab[k].h == 0)
			tab[k] = (struct gk){ h, (uint32_t)i, groups++ };
		s->group[i] = tab[k].g;
	}
	free(tab);
	s->st.groups = groups;
	return 0;
}

static int select_all(struct rp_source *s)
{
	struct seg_report rep = { 0 };
	int rc = seg_table_load(s->cfg.session_dir, &s->t, &rep);
	if (rc < 0)
		return rc;
	s->st.index_damaged = rep.entries_bad + rep.strings_bad;
	snprintf(s->st.first_damage, sizeof(s->st.first_damage), "%s", rep.first_damage);
	struct seg_query q = { .search = s->cfg.search, .sort = SEG_SORT_TIME,
			       .match = select_row, .match_ctx = s };
	struct seg_result res = { 0 };
	rc = seg_query_run(&s->t, &q, &res);
	if (rc < 0)
		return rc;
	s->rows = res.idx;   /* taken over: freed with the source */
	s->n = res.n;
	s->st.selected = res.n;
	if (s->n == 0)
		return -ENOENT;
	return group_rows(s);
}

int rp_source_open(struct rp_source_cfg *cfg, struct rp_source **out)
{
	struct rp_source *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->nreaders = cfg->readers ? cfg->readers : 1u;
	if (s->nreaders > RC_RP_READERS_MAX)
		s->nreaders = RC_RP_READERS_MAX;
	int rc = select_all(s);
	if (rc < 0)
		goto fail;
	uint64_t t0 = s->t.rows[s->rows[0]].e.start_ns;
	uint64_t bytes = 0;
	for (size_t i = 0; i < s->n; i++)
		bytes += s->t.rows[s->rows[i]].e.req_size + 1024u;  /* + a rewritten head */
	s->cfg.sched.count = s->n;
	s->cfg.sched.span_ns = s->t.rows[s->rows[s->n - 1u]].e.start_ns - t0;
	cfg->sched = s->cfg.sched;
	bool passes = s->cfg.sched.loops != 1 && !(s->cfg.sched.loops == 0 && s->cfg.sched.duration_ns == 0);
	s->cache = passes && bytes <= RC_RP_LOOP_CACHE_BYTES;
	if (s->cache && (s->reqs = calloc(s->n, sizeof(*s->reqs))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	uint64_t groups = s->st.groups;
	s->slots = cfg->slots ? cfg->slots : (unsigned)(groups < RC_RP_CONNS_MAX ? groups : RC_RP_CONNS_MAX);
	s->q = calloc(cfg->threads, sizeof(*s->q));
	rc = -ENOMEM;
	if (s->q == NULL)
		goto fail;
	for (unsigned i = 0; i < cfg->threads; i++) {
		s->q[i].cap = RC_RP_QUEUE_DEPTH;
		s->q[i].items = calloc(RC_RP_QUEUE_DEPTH, sizeof(struct rp_item));
		if (s->q[i].items == NULL)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	*cfg = s->cfg;
	rp_source_close(s);
	return rc;
}

/* ---- the source thread ---- */

struct bodies_ctx {
	struct rc_buf req;
	uint64_t resp_len;
	uint32_t resp_hash;
	bool hash;
};

static int on_body(void *ctx, enum seg_dir dir, const void *p, size_t n)
{
	struct bodies_ctx *c = ctx;
	if (dir == SEG_DIR_REQ) {
		rc_buf_add(&c->req, p, n);
		return c->req.oom ? -ENOMEM : 0;
	}
	c->resp_len += n;
	if (c->hash)
		c->resp_hash = seg_crc32c(c->resp_hash, p, n);
	return 0;
}

static void resolve(struct rp_source *s, struct rp_req *r)
{
	if (s->cfg.proxy) {
		memcpy(&r->addr, s->cfg.proxy, s->cfg.proxy_len);
		r->addr_len = s->cfg.proxy_len;
		return;
	}
	for (unsigned i = 0; i < s->ndns; i++) {
		const struct dns_ent *d = &s->dns[i];
		if (d->d.port == r->dest.port && strcmp(d->d.host, r->dest.host) == 0) {
			r->addr = d->a;
			r->addr_len = d->len;
			return;
		}
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", r->dest.port);
	r->addr_len = 0;
	if (getaddrinfo(r->dest.host, port, &hints, &ai) == 0 && ai) {
		memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
		r->addr_len = ai->ai_addrlen;
	}
	if (ai)
		freeaddrinfo(ai);
	if (s->ndns < DNS_CACHE)
		s->dns[s->ndns++] = (struct dns_ent){ r->dest, r->addr, r->addr_len };
}

/* Reads and prepares row k of the selection; NULL when it is skipped. */
static struct rp_req *prepare(struct rp_source *s, size_t k, uint64_t t0,
			      struct seg_open_cache *const *cache)
{
	const struct seg_entry *e = &s->t.rows[s->rows[k]].e;
	struct bodies_ctx bc = { .req = { .max = SEG_BODY_MAX_DEFAULT * 4u },
				 .hash = s->cfg.rw->diff_body };
	struct seg_open_opts o = { .on_body = on_body, .ctx = &bc,
				   .cache = cache[e->worker % RP_OPEN_CACHES] };
	struct seg_exchange x;
	memset(&x, 0, sizeof(x));
	struct rp_req *r = NULL;
	int rc = seg_open_entry(s->cfg.session_dir, e, &o, &x);
	if (rc == 0) {
		struct rp_bodies b = { (const uint8_t *)bc.req.p, bc.req.len, bc.resp_len,
				       bc.resp_hash };
		rc = rp_req_build(s->cfg.rw, &x, &b, &r);
	}
	if (rc == -EPROTONOSUPPORT)
		atomic_fetch_add(&s->st.skipped_tunnel, 1);
	else if (rc == -EFBIG)
		atomic_fetch_add(&s->st.skipped_cut, 1);
	else if (rc < 0 && atomic_fetch_add(&s->st.unreadable, 1) == 0 &&
		 s->st.first_damage[0] == '\0')
		snprintf(s->st.first_damage, sizeof(s->st.first_damage),
			 "exchange %llu: %s", (unsigned long long)e->id, strerror(-rc));
	seg_exchange_free(&x);
	rc_buf_free(&bc.req);
	if (r == NULL)
		return NULL;
	r->rec_off_ns = e->start_ns - t0;
	r->group = s->group[k];
	return r;
}

static void sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000L };
	nanosleep(&ts, NULL);
}

/* Pushes one item, waiting while its queue or the prefetch window is full.
 * Returns false when the run stops. */
static bool hand_over(struct rp_source *s, const struct rp_item *it)
{
	unsigned th = it->slot % s->cfg.threads;
	for (;;) {
		if (atomic_load(&s->stop))
			return false;
		uint64_t fl = atomic_load_explicit(&s->inflight_bytes, memory_order_relaxed);
		if ((fl < RC_RP_PREFETCH_BYTES || s->cache) && rp_queue_push(&s->q[th], it))
			break;
		sleep_us(200);
	}
	if (!s->cache)
		atomic_fetch_add_explicit(&s->inflight_bytes, it->req->len, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->st.read, 1, memory_order_relaxed);
	return true;
}

/* A reader thread: prepares rows r, r + R, r + 2R, ... of one pass into
 * the window, at most RC_RP_READ_WINDOW rows ahead of the dispatcher. */
struct reader {
	struct rp_source *s;
	unsigned r;
	pthread_t th;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct rp_source *s = rd->s;
	uint64_t t0 = s->t.rows[s->rows[0]].e.start_ns;
	/* one open cache per worker (modulo): rows come in start order, which
	 * alternates workers, and each worker's exchanges share frames; without
	 * one (out of memory) every open reads afresh */
	struct seg_open_cache *cache[RP_OPEN_CACHES] = { NULL };
	for (unsigned i = 0; i < RP_OPEN_CACHES; i++)
		if (seg_open_cache_new(&cache[i]) < 0)
			cache[i] = NULL;
	for (size_t k = rd->r; k < s->n; k += s->nreaders) {
		bool quit = false;
		while (!quit && k >= atomic_load_explicit(&s->taken, memory_order_acquire) +
				     RC_RP_READ_WINDOW) {
			quit = atomic_load(&s->stop) || atomic_load(&s->rstop);
			if (!quit)
				sleep_us(100);
		}
		if (quit)
			break;
		if (atomic_load(&s->stop) || atomic_load(&s->rstop))
			break;
		struct win *w = &s->win[k % RC_RP_READ_WINDOW];
		w->req = prepare(s, k, t0, cache);
		atomic_store_explicit(&w->ready, true, memory_order_release);
	}
	for (unsigned i = 0; i < RP_OPEN_CACHES; i++)
		seg_open_cache_free(cache[i]);
	return NULL;
}

/* Row k of the pass being read (NULL: skipped, or the run stops). */
static struct rp_req *next_read(struct rp_source *s, size_t k)
{
	struct win *w = &s->win[k % RC_RP_READ_WINDOW];
	while (!atomic_load_explicit(&w->ready, memory_order_acquire)) {
		if (atomic_load(&s->stop))
			return NULL;
		sleep_us(50);
	}
	struct rp_req *r = w->req;
	w->req = NULL;
	atomic_store_explicit(&w->ready, false, memory_order_relaxed);
	atomic_store_explicit(&s->taken, k + 1u, memory_order_release);
	if (r)
		resolve(s, r);
	return r;
}

static void readers_join(struct rp_source *s, struct reader *rd);

/* Starts the readers of one pass (rows from 0). When a thread cannot be
 * created, the pass starts again with as many readers as could be (rows
 * are dealt by reader count). Returns 0, or -errno when none could. */
static int readers_start(struct rp_source *s, struct reader *rd)
{
	for (;;) {
		atomic_store(&s->taken, 0);
		unsigned i;
		int rc = 0;
		for (i = 0; i < s->nreaders && rc == 0; i++) {
			rd[i] = (struct reader){ s, i, 0 };
			rc = pthread_create(&rd[i].th, NULL, reader_main, &rd[i]);
		}
		if (rc == 0)
			return 0;
		s->nreaders = i - 1u;   /* the ones that started */
		readers_join(s, rd);
		if (s->nreaders == 0)
			return -rc;
	}
}

static void readers_join(struct rp_source *s, struct reader *rd)
{
	atomic_store(&s->rstop, true);
	for (unsigned i = 0; i < s->nreaders; i++)
		pthread_join(rd[i].th, NULL);
	atomic_store(&s->rstop, false);
	for (unsigned i = 0; i < RC_RP_READ_WINDOW; i++) {
		if (atomic_load(&s->win[i].ready) && s->win[i].req)
			rp_req_free(s->win[i].req);
		s->win[i].req = NULL;
		atomic_store(&s->win[i].ready, false);
	}
}

static void *source_main(void *arg)
{
	struct rp_source *s = arg;
	const struct rp_sched *sc = &s->cfg.sched;
	uint64_t i = 0;
	struct reader rd[RC_RP_READERS_MAX];
	bool reading = false;
	for (uint64_t pass = 0; !atomic_load(&s->stop); pass++) {
		if (!rp_sched_more(sc, pass, rp_sched_due(sc, pass, i, 0)))
			break;
		reading = !(s->cache && pass > 0);
		if (reading && readers_start(s, rd) < 0) {
			reading = false;
			break;
		}
		for (size_t k = 0; k < s->n && !atomic_load(&s->stop); k++) {
			struct rp_req *r = reading ? next_read(s, k) : s->reqs[k];
			if (s->cache && pass == 0)
				s->reqs[k] = r;
			if (r == NULL)
				continue;
			struct rp_item it = { r, rp_sched_due(sc, pass, i, r->rec_off_ns),
					      r->group % s->slots, (uint32_t)pass };
			if (!rp_sched_more(sc, pass, it.due_ns)) {
				if (!s->cache)
					rp_req_free(r);
				goto out;
			}
			i++;
			if (!hand_over(s, &it)) {
				if (!s->cache)
					rp_req_free(r);
				goto out;
			}
		}
		if (reading)
			readers_join(s, rd);
		reading = false;
		if (i == 0)
			break;   /* nothing of the selection could be read */
	}
out:
	if (reading)
		readers_join(s, rd);
	atomic_store(&s->done, true);
	return NULL;
}

int rp_source_start(struct rp_source *s)
{
	int rc = pthread_create(&s->th, NULL, source_main, s);
	if (rc != 0)
		return -rc;
	s->started = true;
	return 0;
}

/* ---- accessors ---- */

unsigned rp_source_slots(const struct rp_source *s) { return s->slots; }
struct rp_queue *rp_source_queue(struct rp_source *s, unsigned t) { return &s->q[t]; }
bool rp_source_done(const struct rp_source *s) { return atomic_load(&s->done); }
void rp_source_stop(struct rp_source *s) { atomic_store(&s->stop, true); }
bool rp_source_owns(const struct rp_source *s) { return s->cache; }
const struct rp_source_stats *rp_source_stats(const struct rp_source *s) { return &s->st; }

void rp_source_release(struct rp_source *s, size_t n)
{
	if (!s->cache)
		atomic_fetch_sub_explicit(&s->inflight_bytes, n, memory_order_relaxed);
}

void rp_source_join(struct rp_source *s)
{
	atomic_store(&s->stop, true);
	if (s->started)
		pthread_join(s->th, NULL);
	s->started = false;
}

void rp_source_close(struct rp_source *s)
{
	if (s == NULL)
		return;
	rp_source_join(s);
	for (unsigned t = 0; s->q && t < s->cfg.threads; t++) {
		struct rp_item it;
		while (s->q[t].items && rp_queue_pop(&s->q[t], &it))
			if (!s->cache)
				rp_req_free(it.req);
		free(s->q[t].items);
	}
	free(s->q);
	for (size_t k = 0; s->reqs && k < s->n; k++)
		rp_req_free(s->reqs[k]);
	free(s->reqs);
	free(s->rows);
	free(s->group);
	seg_table_free(&s->t);
	free(s);
}
