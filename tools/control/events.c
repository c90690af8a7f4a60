/*
 * tools/control/events.c - the Server-Sent Events feeds (events.h).
 *
 * A per-worker cursor (how many of that worker's rows were seen; the
 * store appends, so a worker's rows keep their places across loads)
 * decides what is new, so exchanges of different workers that reach the
 * disk out of order are all sent exactly once. New rows wait in a pending
 * list for RC_API_SSE_ORDER_MS; then the ready ones are merged: each
 * worker's in stored order, across workers the earliest start first.
 *
 * Threads: the ticker alone touches a feed's cursor and pending rows; the
 * output buffer is shared with the server thread that reads it (feed mu).
 * Lock order: the stream's lock (server.c) before a feed's; the ticker
 * never holds a feed's lock when it wakes the stream. A feed is freed when
 * both the hub and the stream let go (refs).
 *
 * Cost: each time the index grew, the whole index is loaded again
 * (seg_table_load): fine for the sessions a person watches live; an
 * incremental tail belongs in persist/ once it exposes one.
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
#include "tools/capture/sessions.h"
#include "tools/control/api.h"
#include "tools/control/events.h"
#include "tools/control/router.h"
#include "tools/lib/json.h"
#include "tools/lib/rc-limits.h"
#include "tools/views/listing.h"

#define FEED_PENDING_MAX 100000u   /* rows held for ordering; beyond, sent at once */
#define FEED_OUT_MAX (64u << 20)   /* unsent bytes of a client that does not read */
#define FEED_TICKS_MAX (7u * 24u * 3600u * 5u) /* a week of ticks: then the client
						* reconnects */

struct row {
	uint64_t start_ns, seen_ms;
	uint64_t seq;              /* arrival order: ties keep it */
	uint16_t worker;
	char *text;                /* the whole event, malloc'd */
};

struct feed {
	struct rc_events *hub;
	char data_dir[4096], dir[4096], id[SES_ID_LEN + 1];
	atomic_int refs;           /* the hub's and the stream's */
	struct rc_stream *stream;
	struct feed *next;
	/* ticker only */
	uint64_t seen[SEG_WORKERS_MAX]; /* rows of each worker seen */
	struct ses_stats last;
	struct row *pending;
	size_t npending;
	uint64_t seq;              /* rows queued so far (row.seq) */
	unsigned ticks, since_ping_ms;
	bool ended;
	/* shared, under mu */
	pthread_mutex_t mu;
	struct rc_buf out;         /* bytes not yet read by the server */
	size_t taken;              /* of out, already read */
	bool finished;             /* nothing more will be added */
	bool closed;               /* the server is done with the stream */
	bool gone;                 /* the client hung up */
};

struct rc_events {
	struct rc_sessions *m;
	pthread_mutex_t mu;        /* guards feeds, n */
	struct feed *feeds;
	unsigned n;
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

static int pending_add(struct feed *f, const struct seg_qrow *r, uint64_t now)
{
	if (f->npending == FEED_PENDING_MAX)
		return -ENOSPC;
	if (f->pending == NULL) {
		f->pending = calloc(FEED_PENDING_MAX, sizeof(*f->pending));
		if (f->pending == NULL)
			return -ENOMEM;
	}
	struct rc_buf b = {0};
	rc_buf_printf(&b, "id: %llu\nevent: exchange\ndata: ", (unsigned long long)r->e.id);
	rc_row_json(&b, r);
	rc_buf_puts(&b, "\n\n");
	if (b.oom) {
		rc_buf_free(&b);
		return -ENOMEM;
	}
	f->pending[f->npending] = (struct row){ r->e.start_ns, now, f->seq++, r->e.worker, b.p };
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

/* Moves the rows that waited long enough (all with flush) into buf, the
 * earliest start first: a worker stores in END order, so rows of one
 * worker are reordered too (an exchange that started first but ended last
 * still comes out first), and a live table never jumps within the wait. */
static void pending_flush(struct feed *f, uint64_t now, bool flush, struct rc_buf *buf)
{
	size_t ready = 0;
	while (ready < f->npending && (flush || f->pending[ready].seen_ms + RC_API_SSE_ORDER_MS <= now))
		ready++;
	if (ready > 1)
		qsort(f->pending, ready, sizeof(*f->pending), row_cmp);
	for (size_t i = 0; i < ready; i++) {
		rc_buf_puts(buf, f->pending[i].text);
		free(f->pending[i].text);
		f->pending[i].text = NULL;
	}
	if (ready == 0)
		return;   /* pending may be NULL: no memmove of nothing */
	memmove(f->pending, f->pending + ready, (f->npending - ready) * sizeof(*f->pending));
	f->npending -= ready;
}

/* Reads the table; rows past the cursor go pending (with queue) or are
 * only counted (the first scan). */
static void scan(struct feed *f, bool queue, uint64_t now)
{
	struct seg_table t = {0};
	if (seg_table_load(f->dir, &t, NULL) < 0)
		return;   /* a torn read of a growing file: next tick */
	uint64_t *count = calloc(SEG_WORKERS_MAX, sizeof(*count));
	for (size_t i = 0; count && i < t.n; i++) {
		const struct seg_qrow *r = &t.rows[i];
		uint16_t w = r->e.worker;
		if (w >= SEG_WORKERS_MAX || ++count[w] <= f->seen[w])
			continue;
		f->seen[w] = count[w];
		if (queue && !(r->e.flags & SEG_F_DELETED) && pending_add(f, r, now) < 0) {
			struct rc_buf b = {0};   /* no room to wait: out in stored order */
			pending_flush(f, now, true, &b);
			feed_say(f, b.p ? b.p : "", b.len, false);
			rc_buf_free(&b);
			pending_add(f, r, now);
		}
	}
	free(count);
	seg_table_free(&t);
}

/* One tick of one feed; true when the stream should be woken. */
static bool feed_tick(struct feed *f, uint64_t now)
{
	struct ses_meta m;
	struct ses_stats st = {0};
	bool ended = ses_load(f->data_dir, f->id, &m) < 0 ||
		     (m.state != SES_ACTIVE && m.state != SES_PAUSED) ||
		     ++f->ticks >= FEED_TICKS_MAX;
	ses_stats(f->data_dir, f->id, &st);
	if (st.exchanges != f->last.exchanges || st.bytes != f->last.bytes || ended) {
		f->last = st;
		scan(f, true, now);
	}
	struct rc_buf b = {0};
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

void rc_events_tick(struct rc_events *ev)
{
	struct feed *live[RC_API_SSE_MAX + RC_CTL_THREADS]; /* a race of starts may pass
							     * the check by a few */
	unsigned n = 0;
	uint64_t now = mono_ms();
	pthread_mutex_lock(&ev->mu);
	for (struct feed **pp = &ev->feeds; *pp;) {
		struct feed *f = *pp;
		pthread_mutex_lock(&f->mu);
		bool closed = f->closed;
		pthread_mutex_unlock(&f->mu);
		if (closed || f->ended) {
			*pp = f->next;   /* the hub lets go */
			ev->n--;
			rc_stream_release(f->stream);
			feed_unref(f);
			continue;
		}
		pp = &f->next;
		if (n == sizeof(live) / sizeof(live[0]))
			continue;
		atomic_fetch_add(&f->refs, 1);
		live[n++] = f;
	}
	pthread_mutex_unlock(&ev->mu);
	for (unsigned i = 0; i < n; i++) {
		struct feed *f = live[i];
		bool wake = feed_tick(f, now);
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

static void feed_attach(void *ctx, struct rc_stream *s)
{
	struct feed *f = ctx;
	struct rc_events *ev = f->hub;
	f->stream = s;
	pthread_mutex_lock(&ev->mu);
	f->next = ev->feeds;
	ev->feeds = f;
	ev->n++;
	pthread_mutex_unlock(&ev->mu);
}

static const struct rc_stream_ops feed_ops = { feed_read, feed_done, feed_attach };

static int h_events(struct rc_req *rq, struct rc_resp *rs)
{
	struct rc_events *ev = rc_api_events(rq);
	struct ses_meta m;
	struct feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return rc_fail(rs, -ENOMEM, "out of memory");
	int rc = rc_api_session(rq, rs, &m, f->dir, sizeof(f->dir));
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
	snprintf(f->data_dir, sizeof(f->data_dir), "%s", rc_sessions_data_dir(ev->m));
	snprintf(f->id, sizeof(f->id), "%s", m.id);
	ses_stats(f->data_dir, f->id, &f->last);
	scan(f, false, mono_ms());
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
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

unsigned rc_events_open(struct rc_events *ev)
{
	pthread_mutex_lock(&ev->mu);
	unsigned n = ev->n;
	pthread_mutex_unlock(&ev->mu);
	return n;
}

static const struct rc_route routes[] = {
	{ "GET", "/api/sessions/:id/events", h_events, RC_ROUTE_API, "Server-Sent Events: an "
	  "\"exchange\" event (data: a listing row) for each exchange stored after subscribing, "
	  "\"end\" when the session stops", NULL, NULL, "text/event-stream", NULL, 0, "404 503" },
};

const struct rc_route_table rc_events_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
