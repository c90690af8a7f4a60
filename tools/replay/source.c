/*
 * tools/replay/source.c - selection, connection groups and the source
 * thread that streams prepared requests to the loop threads (source.h).
 *
 * Memory: persist's streaming scan (persist/scan.h: 16 B a selected row,
 * spilled to a temporary file past its bound) instead of the session's
 * index table (~220 B a row: 220 MB of RSS at a million exchanges); the
 * recorded connections (16 B each); the prefetched requests
 * (RC_RP_QUEUE_DEPTH, RC_RP_PREFETCH_BYTES); the loop cache when it fits.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/query.h"
#include "persist/scan.h"
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

/* Open caches (persist's seg_open_cache: a segment and its last two
 * frames), one per capturing worker modulo this: rows come in start
 * order, which interleaves the workers, and each worker's exchanges
 * follow each other in its frames, so each frame is decompressed once. */
#define RP_OPEN_CACHES 8u

/* A window place: free (its row was taken), fed (the entry of its row is
 * in, for the reader of that row) or ready (the reader prepared it). One
 * atomic tag carries row and state, so a reader never takes a place for
 * its row while it still holds an earlier one. */
enum { WIN_FREE = 0, WIN_FED = 1, WIN_READY = 2 };

/* A recorded connection: (client address, port, worker) -> dense number,
 * given in order of first request (as the rows come, by start time). */
struct gk {
	uint64_t h;             /* 0: a free place */
	uint32_t g;             /* UINT32_MAX: counted, not numbered yet */
};

struct rp_source {
	struct rp_source_cfg cfg;
	struct seg_scan *scan;  /* the pass being read; the source thread's once started */
	size_t n;               /* rows selected when opened */
	uint64_t t_first, t_last; /* recorded start range of the selection */
	uint64_t bytes;         /* its request bytes, estimated (the loop cache's test) */
	bool counted;           /* pass 1 of the first scan ran: later scans only select */
	bool oom;               /* the group table could not grow */
	struct gk *gtab;        /* open addressing, power-of-two size */
	size_t gcap;
	uint32_t ngroups;       /* keys in gtab */
	uint32_t numbered;      /* numbers given so far (source thread) */
	unsigned slots;
	struct rp_queue *q;     /* [threads] */
	pthread_t th;
	bool started;
	atomic_bool stop, done;
	_Atomic uint64_t inflight_bytes;
	bool cache;             /* pass 0 kept in reqs[] for the next passes */
	struct rp_req **reqs;   /* [n] when cache */
	size_t nreqs;
	unsigned nreaders;      /* reader threads of a pass */
	atomic_bool rstop;      /* the pass's readers stop (it ended early) */
	_Atomic uint64_t fed_end; /* rows of the pass, once its scan ended (else UINT64_MAX) */
	struct win {
		struct seg_entry e;     /* the row's index entry (source thread writes) */
		struct rp_req *req;     /* prepared by its reader (NULL: skipped) */
		_Atomic uint64_t tag;   /* row << 2 | WIN_FREE, WIN_FED or WIN_READY */
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

static uint64_t group_key(const struct seg_entry *e)
{
	uint64_t h = seg_crc32c(0, e->client.addr, sizeof(e->client.addr));
	h = h << 32 | ((uint64_t)e->client.port << 16 | e->worker);
	return h | 1u;   /* never 0: 0 marks a free place */
}

static size_t group_place(const struct gk *tab, size_t cap, uint64_t h)
{
	size_t k = (size_t)(h * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1u);
	while (tab[k].h != 0 && tab[k].h != h)
		k = (k + 1u) & (cap - 1u);
	return k;
}

/* Doubles the group table (kept at most half full). Returns 0 or -ENOMEM. */
static int groups_grow(struct rp_source *s)
{
	size_t cap = s->gcap ? s->gcap * 2u : 64u;
	struct gk *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->gcap; i++)
		if (s->gtab[i].h != 0)
			t[group_place(t, cap, s->gtab[i].h)] = s->gtab[i];
	free(s->gtab);
	s->gtab = t;
	s->gcap = cap;
	return 0;
}

/* The recorded connection of e, entered the first time; *out: its
 * place (valid until the table grows). Returns 0 or -ENOMEM. */
static int group_enter(struct rp_source *s, const struct seg_entry *e, struct gk **out)
{
	if ((s->ngroups + 1u) * 2u > s->gcap && groups_grow(s) < 0)
		return -ENOMEM;
	uint64_t h = group_key(e);
	size_t k = group_place(s->gtab, s->gcap, h);
	if (s->gtab[k].h == 0) {
		s->gtab[k] = (struct gk){ h, UINT32_MAX };
		s->ngroups++;
	}
	*out = &s->gtab[k];
	return 0;
}

/* The number of e's recorded connection, given at its first request in
 * start order (a row the first scan did not see, of a live session, is
 * a new connection); a hash of it when the table cannot grow. */
static uint32_t group_number(struct rp_source *s, const struct seg_entry *e)
{
	struct gk *g;
	if (group_enter(s, e, &g) < 0)
		return (uint32_t)(group_key(e) >> 33);
	if (g->g == UINT32_MAX)
		g->g = s->numbered++;
	return g->g;
}

/* The scan's predicate (after search and tombstones): --ids, filter
 * flags, no tunnels. The first scan's pass 1 also notes what the
 * schedule needs (count, start range, bytes) and enters the recorded
 * connections (counted now, numbered as the rows come in start order). */
static bool select_row(void *ctx, const struct seg_qrow *r)
{
	struct rp_source *s = ctx;
	if (r->e.flags & SEG_F_TUNNEL) {
		if (!s->counted)
			atomic_fetch_add(&s->st.skipped_tunnel, 1);
		return false;
	}
	if (s->cfg.ids && s->cfg.ids->n && !rc_ids_has(s->cfg.ids, rc_row_id(r)))
		return false;
	if (s->cfg.filter && rc_filter_active(s->cfg.filter) && !rc_filter_row(s->cfg.filter, r))
		return false;
	if (s->counted)
		return true;
	if (s->n == 0 || r->e.start_ns < s->t_first)
		s->t_first = r->e.start_ns;
	if (s->n == 0 || r->e.start_ns > s->t_last)
		s->t_last = r->e.start_ns;
	s->n++;
	s->bytes += r->e.req_size + 1024u;   /* + a rewritten head */
	struct gk *g;
	if (group_enter(s, &r->e, &g) < 0)
		s->oom = true;
	return true;
}

/* Opens a scan of the selection in start order (pass 1 runs now). */
static int scan_open(struct rp_source *s, struct seg_report *rep)
{
	struct seg_query q = { .search = s->cfg.search, .sort = SEG_SORT_TIME,
			       .match = select_row, .match_ctx = s };
	struct seg_scan_cfg sc = { .q = &q };
	int rc = seg_scan_open(s->cfg.session_dir, &sc, &s->scan, rep);
	if (rc == 0 && s->oom)
		rc = -ENOMEM;
	s->counted = true;
	return rc;
}

static int select_all(struct rp_source *s)
{
	struct seg_report rep = { 0 };
	int rc = scan_open(s, &rep);
	s->st.index_damaged = rep.entries_bad + rep.strings_bad;
	snprintf(s->st.first_damage, sizeof(s->st.first_damage), "%s", rep.first_damage);
	if (rc < 0)
		return rc;
	s->st.selected = s->n;
	s->st.groups = s->ngroups;
	return s->n == 0 ? -ENOENT : 0;
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
	s->cfg.sched.count = s->n;
	s->cfg.sched.span_ns = s->t_last - s->t_first;
	cfg->sched = s->cfg.sched;
	bool passes = s->cfg.sched.loops != 1 && !(s->cfg.sched.loops == 0 && s->cfg.sched.duration_ns == 0);
	uint64_t cache_max = cfg->cache_bytes_max ? cfg->cache_bytes_max : RC_RP_LOOP_CACHE_BYTES;
	s->cache = passes && s->bytes <= cache_max;
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

static void note_damage(struct rp_source *s, uint64_t id, int rc)
{
	if (atomic_fetch_add(&s->st.unreadable, 1) == 0 && s->st.first_damage[0] == '\0')
		snprintf(s->st.first_damage, sizeof(s->st.first_damage), "exchange %llu: %s",
			 (unsigned long long)id, strerror(-rc));
}

/* Reads and prepares the exchange of e through the open cache of its
 * worker (a reader thread's); NULL when it is skipped. */
static struct rp_req *prepare(struct rp_source *s, const struct seg_entry *e,
			      struct seg_open_cache *const *cache)
{
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
	else if (rc < 0)
		note_damage(s, e->id, rc);
	seg_exchange_free(&x);
	rc_buf_free(&bc.req);
	if (r)
		r->rec_off_ns = e->start_ns >= s->t_first ? e->start_ns - s->t_first : 0;
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

/* ---- reading a pass: the source thread feeds the scan's rows into the
 * window, reader r prepares rows r, r + R, ... (each reader opens through
 * its own caches), the source thread takes them back in order. ---- */

struct reader {
	struct rp_source *s;
	unsigned r;
	pthread_t th;
};

static uint64_t win_tag(struct rp_source *s, uint64_t k)
{
	return atomic_load_explicit(&s->win[k % RC_RP_READ_WINDOW].tag, memory_order_acquire);
}

/* Waits until the window place of row k is fed with it: true, or false
 * when the pass has fewer rows or the readers stop. */
static bool reader_wait(struct rp_source *s, uint64_t k)
{
	for (;;) {
		if (win_tag(s, k) == (k << 2 | WIN_FED))
			return true;
		if (k >= atomic_load_explicit(&s->fed_end, memory_order_acquire))
			return false;
		if (atomic_load(&s->stop) || atomic_load(&s->rstop))
			return false;
		sleep_us(100);
	}
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct rp_source *s = rd->s;
	struct seg_open_cache *cache[RP_OPEN_CACHES] = { NULL };
	for (unsigned i = 0; i < RP_OPEN_CACHES; i++)
		if (seg_open_cache_new(&cache[i]) < 0)
			cache[i] = NULL;   /* that worker's opens read afresh */
	for (uint64_t k = rd->r; reader_wait(s, k); k += s->nreaders) {
		struct win *w = &s->win[k % RC_RP_READ_WINDOW];
		w->req = prepare(s, &w->e, cache);
		atomic_store_explicit(&w->tag, k << 2 | WIN_READY, memory_order_release);
	}
	for (unsigned i = 0; i < RP_OPEN_CACHES; i++)
		seg_open_cache_free(cache[i]);
	return NULL;
}

/* Stops and joins the readers of a pass and empties the window. */
static void readers_join(struct rp_source *s, struct reader *rd)
{
	atomic_store(&s->rstop, true);
	for (unsigned i = 0; i < s->nreaders; i++)
		pthread_join(rd[i].th, NULL);
	atomic_store(&s->rstop, false);
	for (unsigned i = 0; i < RC_RP_READ_WINDOW; i++) {
		struct win *w = &s->win[i];
		if ((atomic_load(&w->tag) & 3u) == WIN_READY)
			rp_req_free(w->req);
		w->req = NULL;
		atomic_store(&w->tag, 0);
	}
}

/* Starts the readers of a pass. When a thread cannot be created the pass
 * goes on with the ones that started (rows are dealt by reader count, so
 * they are stopped and started again). Returns 0, or -errno when none
 * could start. */
static int readers_start(struct rp_source *s, struct reader *rd)
{
	atomic_store(&s->fed_end, UINT64_MAX);
	for (;;) {
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

/* Where the source thread is in the pass it reads. */
struct feed {
	uint64_t fed, taken;
	uint64_t limit;     /* rows to read at most (the loop cache's first pass) */
	bool ended;         /* the scan gave its last row */
};

/* Feeds the scan's next rows into the free window places. */
static void feed_rows(struct rp_source *s, struct feed *f)
{
	while (!f->ended && f->fed < f->taken + RC_RP_READ_WINDOW) {
		struct seg_qrow row;
		int rc = f->fed < f->limit ? seg_scan_next(s->scan, &row) : 0;
		if (rc < 0)
			note_damage(s, 0, rc);   /* the index cannot be read on: the pass ends */
		if (rc <= 0) {
			f->ended = true;
			atomic_store_explicit(&s->fed_end, f->fed, memory_order_release);
			return;
		}
		struct win *w = &s->win[f->fed % RC_RP_READ_WINDOW];
		w->e = row.e;
		atomic_store_explicit(&w->tag, f->fed << 2 | WIN_FED, memory_order_release);
		f->fed++;
	}
}

/* The next row of the pass being read, in order: 1 with *r set (NULL:
 * skipped), 0 at the end of the pass or when the run stops. */
static int take_row(struct rp_source *s, struct feed *f, struct rp_req **r)
{
	for (;;) {
		feed_rows(s, f);
		if (f->ended && f->taken == f->fed)
			return 0;
		if (win_tag(s, f->taken) == (f->taken << 2 | WIN_READY))
			break;
		if (atomic_load(&s->stop))
			return 0;
		sleep_us(50);
	}
	struct win *w = &s->win[f->taken % RC_RP_READ_WINDOW];
	*r = w->req;
	w->req = NULL;
	if (*r) {
		(*r)->group = group_number(s, &w->e);   /* numbered in start order, here only */
		resolve(s, *r);
	}
	atomic_store_explicit(&w->tag, f->taken << 2 | WIN_FREE, memory_order_release);
	f->taken++;
	return 1;
}

/* The request of row k of pass `pass`: from the readers, or from the
 * loop cache after the first pass. 1 with *r set (NULL: skipped), 0 at
 * the end of the pass. */
static int next_req(struct rp_source *s, uint64_t pass, struct feed *f, size_t k,
		    struct rp_req **r)
{
	if (s->cache && pass > 0) {
		if (k >= s->nreqs)
			return 0;
		*r = s->reqs[k];
		return 1;
	}
	int more = take_row(s, f, r);
	if (more && s->cache)
		s->reqs[s->nreqs++] = *r;
	return more;
}

/* Before pass `pass` when it reads the segments: a fresh scan (the first
 * pass uses the one rp_source_open ran), its readers. Returns 0 or -errno. */
static int pass_open(struct rp_source *s, uint64_t pass, struct reader *rd)
{
	if (pass > 0 && s->cache)
		return 0;
	int rc = 0;
	if (pass > 0) {
		seg_scan_close(s->scan);
		s->scan = NULL;
		rc = scan_open(s, NULL);
	}
	if (rc == 0)
		rc = readers_start(s, rd);
	if (rc < 0)
		note_damage(s, 0, rc);
	return rc;
}

static void *source_main(void *arg)
{
	struct rp_source *s = arg;
	const struct rp_sched *sc = &s->cfg.sched;
	struct reader rd[RC_RP_READERS_MAX];
	uint64_t i = 0;
	for (uint64_t pass = 0; !atomic_load(&s->stop); pass++) {
		if (!rp_sched_more(sc, pass, rp_sched_due(sc, pass, i, 0)))
			break;
		if (pass_open(s, pass, rd) < 0)
			break;
		bool reading = !(s->cache && pass > 0);
		/* the loop cache's first pass: the rows of the first scan only
		 * (a live session may have more since) */
		struct feed f = { .limit = s->cache ? s->n : UINT64_MAX };
		struct rp_req *r = NULL;
		bool go = true;
		for (size_t k = 0; go && !atomic_load(&s->stop) && next_req(s, pass, &f, k, &r) == 1; k++) {
			if (r == NULL)
				continue;
			struct rp_item it = { r, rp_sched_due(sc, pass, i, r->rec_off_ns),
					      r->group % s->slots, (uint32_t)pass };
			go = rp_sched_more(sc, pass, it.due_ns) && hand_over(s, &it);
			if (!go && !s->cache)
				rp_req_free(r);
			i += go;
		}
		if (reading)
			readers_join(s, rd);
		if (!go || i == 0)
			break;   /* the run ends, or nothing of the selection could be read */
	}
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
	for (size_t k = 0; s->reqs && k < s->nreqs; k++)
		rp_req_free(s->reqs[k]);
	free(s->reqs);
	free(s->gtab);
	seg_scan_close(s->scan);
	free(s);
}
