/*
 * tools/control/events.c - the Server-Sent Events stream of new exchanges (see
 * events.h). A per-worker cursor (the highest sequence number sent; ids
 * are worker << SEG_ID_WORKER_SHIFT | sequence, sequences grow by one per
 * worker) decides what is new, so exchanges of different workers that
 * reach the disk out of order are all sent exactly once.
 *
 * Cost: each time the index grew, the whole index is loaded again
 * (seg_table_load): fine for the sessions a person watches live; an
 * incremental tail belongs in persist/ once it exposes one.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "tools/control/api.h"
#include "tools/control/events.h"
#include "tools/control/http.h"
#include "tools/lib/json.h"
#include "tools/views/listing.h"

#define EVENTS_TICKS_MAX (7u * 24u * 3600u * 4u) /* a week of 250 ms ticks: then the
						    * client reconnects */

struct cursor {
	uint64_t seq[SEG_WORKERS_MAX];  /* highest sequence seen per worker */
	struct ses_stats last;          /* file sizes at the last load */
};

static bool client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return true;
	char b[256];
	return recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0;  /* data from a client: ignored */
}

/* Loads the table; with send, writes rows past the cursor as events.
 * Moves the cursor. Returns 0, or -1 when the client is gone. */
static int scan(struct rc_http_conn *h, const char *dir, struct cursor *cur, bool send)
{
	struct seg_table t = {0};
	if (seg_table_load(dir, &t, NULL) < 0)
		return 0;   /* a torn read of a growing file: next tick */
	struct rc_buf b = {0};
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_qrow *r = &t.rows[i];
		uint64_t w = r->e.id >> SEG_ID_WORKER_SHIFT;
		uint64_t seq = r->e.id & ((1ull << SEG_ID_WORKER_SHIFT) - 1);
		if (w >= SEG_WORKERS_MAX || seq <= cur->seq[w])
			continue;
		cur->seq[w] = seq;
		if (!send || (r->e.flags & SEG_F_DELETED))
			continue;
		rc_buf_printf(&b, "id: %llu\nevent: exchange\ndata: ", (unsigned long long)r->e.id);
		rc_row_json(&b, r);
		rc_buf_puts(&b, "\n\n");
	}
	seg_table_free(&t);
	int rc = b.oom ? -1 : b.len ? rc_http_send(h, b.p, b.len) : 0;
	rc_buf_free(&b);
	return rc;
}

static int say(struct rc_http_conn *h, const char *s)
{
	return rc_http_send(h, s, strlen(s));
}

void rc_events_stream(struct rc_http_conn *h, const char *data_dir, const struct ses_meta *ses)
{
	char dir[4096];
	struct cursor *cur = calloc(1, sizeof(*cur));
	if (cur == NULL || ses_dir(dir, sizeof(dir), data_dir, ses->id) < 0) {
		free(cur);
		rc_http_error(h, 500, "out of memory", false);
		return;
	}
	ses_stats(data_dir, ses->id, &cur->last);
	scan(h, dir, cur, false);
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				   "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
				   ": ringcap events\n\n";
	if (say(h, head) < 0)
		goto out;
	unsigned since_ping_ms = 0;
	for (unsigned tick = 0; tick < EVENTS_TICKS_MAX; tick++) {
		nanosleep(&(struct timespec){ .tv_nsec = RC_API_SSE_TICK_MS * 1000000L }, NULL);
		if ((h->stop && atomic_load(h->stop)) || client_gone(h->fd))
			break;
		struct ses_meta now;
		struct ses_stats st = {0};
		bool ended = ses_load(data_dir, ses->id, &now) < 0 ||
			     (now.state != SES_ACTIVE && now.state != SES_PAUSED);
		ses_stats(data_dir, ses->id, &st);
		if (st.exchanges != cur->last.exchanges || st.bytes != cur->last.bytes || ended) {
			cur->last = st;
			if (scan(h, dir, cur, true) < 0)
				break;
		}
		if (ended) {
			say(h, "event: end\ndata: {}\n\n");
			break;
		}
		since_ping_ms += RC_API_SSE_TICK_MS;
		if (since_ping_ms >= RC_API_SSE_PING_MS) {
			since_ping_ms = 0;
			if (say(h, ": ping\n\n") < 0)
				break;
		}
	}
out:
	free(cur);
}
