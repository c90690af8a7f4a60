/*
 * tools/control/events.c - the Server-Sent Events feeds (events.h).
 *
 * One tail per session (persist/tail.h), shared by every stream of that
 * session: the ticker polls it once a tick (a stat per worker when nothing
 * changed) and each new row is rendered once and queued on every stream.
 * The tail reads each worker's index where it stopped, so exchanges of
 * different workers that reach the disk out of order are all sent exactly
 * once. New rows wait in a stream's pending list for RC_API_SSE_ORDER_MS;
 * then the ready ones, and every held row that started before one of them,
 * go out merged: the earliest start first.
 *
 * A stream joins its session's tail when the server attaches it: the tail
 * is polled then (rows stored before go to the streams already there), so
 * the new stream gets exactly the rows stored after it subscribed.
 *
 * Threads: a session tail's lock guards the tail, its list of streams and
 * their pending rows (the ticker, and attach on a server thread); a
 * feed's own lock guards its output buffer, shared with the server thread
 * that reads it. Lock order: the hub's, then a tail's, then a feed's; the
 * stream's lock (server.c) before a feed's; the ticker never holds a
 * feed's lock when it wakes the stream. A feed is freed when both the
 * hub and the stream let go (refs); a session tail by the ticker when its
 * last stream is gone.
 *
 * The session's client list (rc_events_clients) is kept the same way: a
 * tail per session from its first exchange, in a small cache.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "persist/tail.h"
#include "tools/capture/sessions.h"
#include "tools/control/api.h"
#include "tools/control/clients.h"
#include "tools/control/events.h"
#include "tools/control/router.h"
#include "tools/lib/json.h"
#include "tools/lib/rc-limits.h"
#include "tools/views/listing.h"

#define FEED_PENDING_MAX 100000u   /* rows held for ordering; beyond, sent at once */
#define FEED_OUT_MAX (64u << 20)   /* unsent bytes of a client that does not read */
#define FEED_TICKS_MAX (7u * 24u * 3600u * 5u) /* a week of ticks: then the client
						* reconnects */
#define STAIL_ROWS_MAX 50000u      /* rows taken from a tail per tick (a 10,000/s capture
				    * brings 2,000 a tick); the rest next tick */
#define FEED_RATE_MAX 100000u      /* largest rows_per_s */

struct row {
	uint64_t start_ns, seen_ms;
	uint64_t seq;              /* arrival order: ties keep it */
	uint16_t worker;
	char *text;                /* the whole event, malloc'd */
};

struct stail;

struct feed {
	struct rc_events *hub;
	char data_dir[4096], dir[4096], id[SES_ID_LEN + 1];
	atomic_int refs;           /* the hub's and the stream's */
	struct rc_stream *stream;
	struct feed *next;         /* the hub's list */
	struct stail *st;          /* its session's tail (set at attach) */
	struct feed *snext;        /* the tail's list */
	/* under st->mu */
	struct row *pending;
	size_t npending;
	uint64_t seq;              /* rows queued so far (row.seq) */
	unsigned ticks, since_ping_ms;
	uint32_t cap_poll;         /* rows_per_s as rows per poll; 0: every row */
	uint32_t sent_poll;        /* rows queued in this poll */
	uint64_t skipped;          /* rows left out, not yet told ("skipped" event) */
	bool ended;                /* "end" sent */
	atomic_bool wake;          /* the last tick added bytes (ticker only) */
	/* shared, under mu */
	pthread_mutex_t mu;
	struct rc_buf out;         /* bytes not yet read by the server */
	size_t taken;              /* of out, already read */
	bool finished;             /* nothing more will be added */
	bool closed;               /* the server is done with the stream */
	bool gone;                 /* the client hung up */
};

/* One session's tail and the streams that follow it. */
struct stail {
	char data_dir[4096], dir[4096], id[SES_ID_LEN + 1];
	struct stail *next;        /* the hub's list */
	pthread_mutex_t mu;        /* tail, feeds, the feeds' pending rows */
	struct seg_tail *tail;
	struct feed *feeds;
	uint64_t poll_rows, prev_rows; /* rows of this poll, of the one before */
	bool ended;                /* the session stopped: the feeds got "end" */
};

struct rc_events {
	struct rc_sessions *m;
	pthread_mutex_t mu;        /* guards feeds, n, tails */
	struct feed *feeds;
	unsigned n;
	struct stail *tails;
	struct rc_clients_cache *clients;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void feed_unref(struct feed *f)
{
	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	for (size_t i = 0; i < f->npending; i++)
		free(f->pending[i].text);
	free(f->pending);
	rc_buf_free(&f->out);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* Adds bytes for the reader; true when something was added. */
static bool feed_say(struct feed *f, const char *s, size_t n, bool finish)
{
	pthread_mutex_lock(&f->mu);
	if (f->taken == f->out.len) {
		f->out.len = 0;
		f->taken = 0;
	}
	rc_buf_add(&f->out, s, n);
	if (f->out.oom)
		finish = true;   /* a client this far behind is let go */
	f->finished |= finish;
	pthread_mutex_unlock(&f->mu);
	return n > 0 || finish;
}

/* ---- ordering ---- */

/* Queues one rendered event (text: malloc'd, taken over). */
static int pending_add(struct feed *f, uint64_t start_ns, uint16_t worker, char *text,
		       uint64_t now)
{
	if (f->npending == FEED_PENDING_MAX) {
		free(text);
		return -ENOSPC;
	}
	if (f->pending == NULL) {
		f->pending = calloc(FEED_PENDING_MAX, sizeof(*f->pending));
		if (f->pending == NULL) {
			free(text);
			return -ENOMEM;
		}
	}
	f->pending[f->npending] = (struct row){ start_ns, now, f->seq++, worker, text };
	f->npending++;
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Moves the rows that waited long enough (all with flush) into buf, and
 * with them every held row that started before one of those: the earliest
 * start first. A worker stores in END order, so rows of one worker are
 * reordered too (an exchange that started first but ended last still comes
 * out first), and a row another worker stored up to RC_API_SSE_ORDER_MS
 * later still comes out before it: held back, it could only come after. */
static void pending_flush(struct feed *f, uint64_t now, bool flush, struct rc_buf *buf)
{
	bool any = false;
	uint64_t upto = 0;   /* the latest start among the rows that waited enough */
	for (size_t i = 0; i < f->npending; i++)
		if (flush || f->pending[i].seen_ms + RC_API_SSE_ORDER_MS <= now) {
			any = true;
			upto = f->pending[i].start_ns > upto ? f->pending[i].start_ns : upto;
		}
	if (!any)
		return;   /* pending may be NULL: no sort or memmove of nothing */
	if (f->npending > 1)
		qsort(f->pending, f->npending, sizeof(*f->pending), row_cmp);
	size_t ready = 0;
	while (ready < f->npending && f->pending[ready].start_ns <= upto) {
		rc_buf_puts(buf, f->pending[ready].text);
		free(f->pending[ready].text);
		f->pending[ready].text = NULL;
		ready++;
	}
	memmove(f->pending, f->pending + ready, (f->npending - ready) * sizeof(*f->pending));
	f->npending -= ready;
}

/* One event to a feed; when its pending list is full, the rows waiting
 * go out at once in stored order (no room to wait). */
static void feed_queue(struct feed *f, uint64_t start_ns, uint16_t worker, char *text,
		       uint64_t now)
{
	if (f->npending == FEED_PENDING_MAX) {
		struct rc_buf b = {0};
		pending_flush(f, now, true, &b);
		feed_say(f, b.p ? b.p : "", b.len, false);
		rc_buf_free(&b);
	}
	pending_add(f, start_ns, worker, text, now);
}

/* ---- a session's tail ---- */

struct dist {
	struct stail *st;
	uint64_t now;
};

/* Whether a feed with a rate (rows_per_s) takes row i of this poll: every
 * stride-th row, the stride from the last poll's count, and at most twice
 * its share per poll (a burst after a quiet poll); the rest is counted and
 * told as "skipped". Rows are sampled across the whole poll, so every
 * worker's rows show, not only the first worker's. */
static bool feed_takes(struct feed *f, uint64_t i, uint64_t prev)
{
	if (f->cap_poll == 0)
		return true;
	uint64_t stride = prev > f->cap_poll ? (prev + f->cap_poll - 1) / f->cap_poll : 1;
	if (i % stride == 0 && f->sent_poll < 2u * f->cap_poll) {
		f->sent_poll++;
		return true;
	}
	f->skipped++;
	return false;
}

/* A new row of the session: rendered once (when some feed takes it),
 * queued on every feed that takes it. */
static int dist_row(void *ctx, const struct seg_qrow *r)
{
	struct dist *d = ctx;
	struct stail *st = d->st;
	uint64_t i = st->poll_rows++;
	struct feed *take[RC_API_SSE_MAX + RC_CTL_THREADS];
	unsigned n = 0;
	for (struct feed *f = st->feeds; f && n < sizeof(take) / sizeof(take[0]); f = f->snext)
		if (!f->ended && feed_takes(f, i, st->prev_rows))
			take[n++] = f;
	if (n == 0)
		return 0;
	struct rc_buf b = {0};
	rc_buf_printf(&b, "id: %llu\nevent: exchange\ndata: ", (unsigned long long)rc_row_id(r));
	rc_row_json(&b, r);
	rc_buf_puts(&b, "\n\n");
	if (b.oom) {
		rc_buf_free(&b);
		return 0;   /* this row is lost to the streams; the next may fit */
	}
	for (unsigned k = 0; k < n; k++) {
		char *text = k + 1 == n ? b.p : strdup(b.p);
		if (text != NULL)
			feed_queue(take[k], r->e.start_ns, r->e.worker, text, d->now);
	}
	return 0;
}

/* Takes the session's new rows to its feeds. Under st->mu. */
static void stail_poll(struct stail *st, uint64_t now)
{
	struct dist d = { st, now };
	st->prev_rows = st->poll_rows;
	st->poll_rows = 0;
	for (struct feed *f = st->feeds; f; f = f->snext)
		f->sent_poll = 0;
	if (st->tail)
		seg_tail_poll(st->tail, STAIL_ROWS_MAX, dist_row, &d, NULL);
}

static void stail_free(struct stail *st)
{
	seg_tail_close(st->tail);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* The hub's tail of f's session, made (positioned after what is stored
 * now) when there is none. Under the hub's lock. */
static struct stail *stail_get(struct rc_events *ev, const struct feed *f)
{
	for (struct stail *st = ev->tails; st; st = st->next)
		if (strcmp(st->dir, f->dir) == 0)
			return st;
	struct stail *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	struct seg_tail_opts o = { .from_end = true };
	if (seg_tail_open(f->dir, &o, &st->tail) < 0) {
		free(st);
		return NULL;
	}
	snprintf(st->data_dir, sizeof(st->data_dir), "%s", f->data_dir);
	snprintf(st->dir, sizeof(st->dir), "%s", f->dir);
	snprintf(st->id, sizeof(st->id), "%s", f->id);
	pthread_mutex_init(&st->mu, NULL);
	st->next = ev->tails;
	ev->tails = st;
	return st;
}

/* Takes f off its tail's list; frees the tail when it was the last.
 * Under the hub's lock. */
static void stail_leave(struct rc_events *ev, struct feed *f)
{
	struct stail *st = f->st;
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	for (struct feed **pp = &st->feeds; *pp; pp = &(*pp)->snext)
		if (*pp == f) {
			*pp = f->snext;
			break;
		}
	bool empty = st->feeds == NULL;
	pthread_mutex_unlock(&st->mu);
	f->st = NULL;
	if (!empty)
		return;
	for (struct stail **pp = &ev->tails; *pp; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	stail_free(st);
}

/* One tick of one feed (under its tail's lock); true when the stream
 * should be woken. */
static bool feed_tick(struct feed *f, uint64_t now, bool ended)
{
	ended = ended || ++f->ticks >= FEED_TICKS_MAX;
	struct rc_buf b = {0};
	if (f->skipped) {
		rc_buf_printf(&b, "event: skipped\ndata: {\"count\":%llu}\n\n",
			      (unsigned long long)f->skipped);
		f->skipped = 0;
	}
	pending_flush(f, now, ended, &b);
	f->since_ping_ms += RC_CTL_TICK_MS;
	if (f->since_ping_ms >= RC_API_SSE_PING_MS) {
		f->since_ping_ms = 0;
		rc_buf_puts(&b, ": ping\n\n");
	}
	if (ended)
		rc_buf_puts(&b, "event: end\ndata: {}\n\n");
	f->ended = ended;
	bool wake = b.len > 0 && feed_say(f, b.p, b.len, ended);
	rc_buf_free(&b);
	return wake;
}

/* One tick of a session: whether it ended, its new rows, each feed's
 * ready rows. Sets f->wake on the feeds to wake. */
static void stail_tick(struct stail *st, uint64_t now)
{
	struct ses_meta m;
	bool ended = ses_load(st->data_dir, st->id, &m) < 0 ||
		     (m.state != SES_ACTIVE && m.state != SES_PAUSED);
	pthread_mutex_lock(&st->mu);
	stail_poll(st, now);
	st->ended = ended;
	for (struct feed *f = st->feeds; f; f = f->snext)
		if (!f->ended)
			f->wake = feed_tick(f, now, ended);
	pthread_mutex_unlock(&st->mu);
}

/* Drops the feeds the server is done with, and those that ended, from
 * the hub (and their tails). Under the hub's lock. */
static void hub_prune(struct rc_events *ev)
{
	for (struct feed **pp = &ev->feeds; *pp;) {
		struct feed *f = *pp;
		pthread_mutex_lock(&f->mu);
		bool closed = f->closed;
		pthread_mutex_unlock(&f->mu);
		if (f->st)
			pthread_mutex_lock(&f->st->mu);
		bool ended = f->ended;
		if (f->st)
			pthread_mutex_unlock(&f->st->mu);
		if (!closed && !ended) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;   /* the hub lets go */
		ev->n--;
		stail_leave(ev, f);
		rc_stream_release(f->stream);
		feed_unref(f);
	}
}

void rc_events_tick(struct rc_events *ev)
{
	struct feed *live[RC_API_SSE_MAX + RC_CTL_THREADS]; /* a race of starts may pass
							     * the check by a few */
	struct stail *tails[RC_API_SSE_MAX + RC_CTL_THREADS];
	unsigned n = 0, nt = 0;
	uint64_t now = mono_ms();
	pthread_mutex_lock(&ev->mu);
	hub_prune(ev);
	/* The hub's lock is held through the tails' ticks: only the ticker
	 * frees a tail, and attach (a server thread) waits at most a tick. */
	for (struct stail *st = ev->tails; st && nt < sizeof(tails) / sizeof(tails[0]); st = st->next)
		tails[nt++] = st;
	for (struct feed *f = ev->feeds; f && n < sizeof(live) / sizeof(live[0]); f = f->next) {
		atomic_fetch_add(&f->refs, 1);
		live[n++] = f;
	}
	for (unsigned i = 0; i < nt; i++)
		stail_tick(tails[i], now);
	pthread_mutex_unlock(&ev->mu);
	for (unsigned i = 0; i < n; i++) {
		struct feed *f = live[i];
		bool wake = atomic_exchange(&f->wake, false);
		if (rc_stream_peer_gone(f->stream)) {
			pthread_mutex_lock(&f->mu);
			f->gone = wake = true;
			pthread_mutex_unlock(&f->mu);
		}
		if (wake)
			rc_stream_wake(f->stream);
		feed_unref(f);
	}
}

/* ---- the stream ---- */

static ssize_t feed_read(void *ctx, char *buf, size_t cap)
{
	struct feed *f = ctx;
	ssize_t n = 0;
	pthread_mutex_lock(&f->mu);
	if (f->taken < f->out.len) {
		size_t k = f->out.len - f->taken < cap ? f->out.len - f->taken : cap;
		memcpy(buf, f->out.p + f->taken, k);
		f->taken += k;
		n = (ssize_t)k;
	} else if (f->finished) {
		n = RC_STREAM_END;
	}
	if (f->gone)
		n = RC_STREAM_ERROR;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void feed_done(void *ctx)
{
	struct feed *f = ctx;
	pthread_mutex_lock(&f->mu);
	f->closed = true;
	pthread_mutex_unlock(&f->mu);
	feed_unref(f);
}

/* The stream exists: the feed joins the hub and its session's tail,
 * which is polled first so that rows stored before now go only to the
 * streams already there. Without a tail (out of memory, the session's
 * directory gone) the stream ends at once. */
static void feed_attach(void *ctx, struct rc_stream *s)
{
	struct feed *f = ctx;
	struct rc_events *ev = f->hub;
	f->stream = s;
	pthread_mutex_lock(&ev->mu);
	f->next = ev->feeds;
	ev->feeds = f;
	ev->n++;
	struct stail *st = stail_get(ev, f);
	if (st != NULL) {
		pthread_mutex_lock(&st->mu);
		stail_poll(st, mono_ms());
		f->st = st;
		f->snext = st->feeds;
		st->feeds = f;
		pthread_mutex_unlock(&st->mu);
	} else {
		f->ended = true;   /* pruned at the next tick */
		feed_say(f, "event: end\ndata: {}\n\n", 21, true);
	}
	pthread_mutex_unlock(&ev->mu);
}

static const struct rc_stream_ops feed_ops = { feed_read, feed_done, feed_attach };

/* ?rows_per_s=N (1 to FEED_RATE_MAX) into f->cap_poll. 0 or -EINVAL. */
static int rate_param(struct rc_req *rq, struct rc_resp *rs, struct feed *f)
{
	char v[16], *end;
	int n = rc_query_get(rq->query, "rows_per_s", v, sizeof(v));
	if (n == -ENOENT)
		return 0;
	errno = 0;
	unsigned long r = n > 0 ? strtoul(v, &end, 10) : 0;
	if (n <= 0 || v[0] == '-' || *end != '\0' || errno || r < 1 || r > FEED_RATE_MAX)
		return rc_fail(rs, -EINVAL, "rows_per_s must be an integer from 1 to %u",
			       FEED_RATE_MAX);
	uint64_t per_poll = (uint64_t)r * RC_CTL_TICK_MS / 1000u;
	f->cap_poll = per_poll ? (uint32_t)per_poll : 1u;
	return 0;
}

static int h_events(struct rc_req *rq, struct rc_resp *rs)
{
	struct rc_events *ev = rc_api_events(rq);
	struct ses_meta m;
	struct feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return rc_fail(rs, -ENOMEM, "out of memory");
	int rc = rc_api_session(rq, rs, &m, f->dir, sizeof(f->dir));
	if (rc == 0)
		rc = rate_param(rq, rs, f);
	pthread_mutex_lock(&ev->mu);
	if (rc == 0 && ev->n >= RC_API_SSE_MAX)
		rc = rc_fail(rs, -EAGAIN, "too many event streams");
	pthread_mutex_unlock(&ev->mu);
	if (rc < 0) {
		free(f);
		return rc;
	}
	f->hub = ev;
	pthread_mutex_init(&f->mu, NULL);
	atomic_init(&f->refs, 2);
	atomic_init(&f->wake, false);
	snprintf(f->data_dir, sizeof(f->data_dir), "%s", rc_sessions_data_dir(ev->m));
	snprintf(f->id, sizeof(f->id), "%s", m.id);
	feed_say(f, ": ringcap events\n\n", 18, false);
	rs->ctype = "text/event-stream";
	rs->close = true;
	rs->stream_close_delimited = true;
	rc_resp_stream(rs, &feed_ops, f);
	return 0;
}

int rc_events_create(struct rc_events **out, struct rc_sessions *m)
{
	struct rc_events *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;
	ev->m = m;
	int rc = rc_clients_cache_create(&ev->clients);
	if (rc < 0) {
		free(ev);
		return rc;
	}
	pthread_mutex_init(&ev->mu, NULL);
	*out = ev;
	return 0;
}

void rc_events_free(struct rc_events *ev)
{
	if (ev == NULL)
		return;
	while (ev->feeds) {
		struct feed *f = ev->feeds;
		ev->feeds = f->next;
		rc_stream_release(f->stream);
		feed_unref(f);
	}
	while (ev->tails) {
		struct stail *st = ev->tails;
		ev->tails = st->next;
		stail_free(st);
	}
	rc_clients_cache_free(ev->clients);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

int rc_events_clients(struct rc_events *ev, const char *session_dir, struct rc_clients *out)
{
	return rc_clients_cache_get(ev->clients, session_dir, out);
}

unsigned rc_events_open(struct rc_events *ev)
{
	pthread_mutex_lock(&ev->mu);
	unsigned n = ev->n;
	pthread_mutex_unlock(&ev->mu);
	return n;
}

static const struct rc_route_param events_q[] = {
	{ "rows_per_s", "{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000}",
	  "send about this many rows a second at most; the others are counted in "
	  "\"skipped\" events (a page that shows the newest rows needs no more)" },
	{ NULL, NULL, NULL },
};

static const struct rc_route routes[] = {
	{ "GET", "/api/sessions/:id/events", h_events, RC_ROUTE_API, "Server-Sent Events: an "
	  "\"exchange\" event (data: a listing row) for each exchange stored after subscribing "
	  "(with rows_per_s, a sample of them and \"skipped\" events, data {\"count\": n}, for "
	  "the rest), \"end\" when the session stops", events_q, NULL, "text/event-stream", NULL,
	  0, "400 404 503" },
};

const struct rc_route_table rc_events_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
