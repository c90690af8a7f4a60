/*
 * tools/replay/loop.c - one replay loop thread: its own ring (engine/ring.h:
 * provided buffers, multishot recv, batched submissions, bounded CQE
 * drains), its connection slots, llhttp for the answers, TLS over memory
 * through tls/.
 *
 * A slot runs one request at a time, in the order the source queued them
 * (the requests of one recorded connection, in order, on one connection):
 *   IDLE -connect-> CONNECTING -> [PROXY: CONNECT via --proxy] -> [TLS]
 *        -> READY -send-> BUSY -answer-> READY (keep-alive) or IDLE.
 * A request is popped from the thread's queue when it is due (timed modes)
 * or at once (closed loop); its latency counts from the due time, so a
 * slow target cannot hide the waiting it caused (no coordinated omission).
 *
 * Lifetimes: a slot's socket life is its gen (ring.h user_data); teardown
 * bumps it, shuts the socket down and closes it through the ring, and
 * completions of an old life only give their buffers back. A send in
 * flight pins the slot's send queue: the slot reconnects only after that
 * send's completion came back.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "engine/ring.h"
#include "persist/seg.h"
#include "tls/tls.h"
#include "tools/lib/rc-limits.h"
#include "tools/replay/replay.h"

#define REC_HEAD_MAX 8192u     /* a recorded answer's head is cut here (flagged) */
#define TLS_CHUNK 16384u       /* plaintext read from TLS per call */

enum { OP_NONE = 0, OP_CONNECT, OP_RECV, OP_SEND, OP_CLOSE, OP_WRITE, OP_COUNT };
enum { C_IDLE = 0, C_CONNECTING, C_PROXY, C_TLS, C_READY, C_BUSY };
enum { CB_NONE = 0, CB_FIELD, CB_VALUE };

struct worker;

struct conn {
	struct worker *w;
	uint32_t slot;               /* local index */
	int fd;
	uint32_t gen;
	uint8_t state;
	bool send_busy, recv_armed, reused, has_cur, dirty;
	struct rp_dest dest;         /* what the socket is connected to */
	struct rp_item q[RC_RP_SLOT_QUEUE];
	uint32_t qh, qn;
	struct rp_item cur;
	struct rp_req *parked;       /* ended while a send of its bytes was in flight:
				      * freed when that send comes back */
	uint8_t tries;
	uint64_t due_abs, sent_abs, wall_start;
	size_t off;                  /* bytes of cur handed to the socket or TLS */
	struct eng_outq oq;
	struct eng_timer tm;
	llhttp_t p;
	struct tls_conn *tls;
	char ph[1024];               /* proxy CONNECT answer head */
	size_t phn;
	/* the answer */
	uint16_t status;
	bool done, keep;
	uint64_t body, wire_in;
	uint32_t hash;
	/* --record */
	struct seg_xch *x;
	char *rh;                    /* answer head as llhttp saw it */
	size_t rhn;
	uint8_t last_cb;
	bool rh_cut;
	uint64_t ttfb_ns;
};

struct worker {
	struct rp_loop_args *a;
	const struct rp_cfg *cfg;
	struct eng_ring ring;
	struct eng_bufs bufs;
	struct eng_dispatch d;
	struct eng_timers timers;
	struct conn *c;
	unsigned nconn;
	uint32_t *dirty;             /* slots to move on this turn */
	unsigned ndirty;
	struct rp_queue *q;
	bool timed, owned, io_busy;
	uint64_t now;                /* monotonic ns, once per turn */
	uint64_t tick_ms;
	char tbuf[TLS_CHUNK];
};

static int on_status_cb(llhttp_t *p, const char *at, size_t n);
static int on_field_cb(llhttp_t *p, const char *at, size_t n);
static int on_value_cb(llhttp_t *p, const char *at, size_t n);
static int on_headers_cb(llhttp_t *p);
static int on_body_cb(llhttp_t *p, const char *at, size_t n);
static int on_done_cb(llhttp_t *p);
static void conn_kick(struct conn *c);
static void mark(struct conn *c);
static void tx_pump(struct conn *c);

static const llhttp_settings_t resp_settings = {
	.on_status = on_status_cb,
	.on_header_field = on_field_cb,
	.on_header_value = on_value_cb,
	.on_headers_complete = on_headers_cb,
	.on_body = on_body_cb,
	.on_message_complete = on_done_cb,
};

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

static struct io_uring_sqe *sqe_of(struct worker *w)
{
	struct io_uring_sqe *s = eng_ring_sqe(&w->ring);
	if (s == NULL) {
		fprintf(stderr, "ringcap replay: the ring took no submission\n");
		abort();
	}
	return s;
}

/* ---- the request's end ---- */

static bool counted(const struct conn *c)
{
	const struct rp_sched *s = &c->w->cfg->src.sched;
	uint64_t t0 = c->w->a->t0_ns;
	uint64_t rel = c->w->timed ? c->cur.due_ns : (c->due_abs > t0 ? c->due_abs - t0 : 0);
	return rp_sched_counted(s, rel);
}

/* Frees a request parked until its bytes left (see release_cur). */
static void unpark(struct conn *c)
{
	rp_req_free(c->parked);
	c->parked = NULL;
}

static void release_cur(struct conn *c)
{
	struct worker *w = c->w;
	assert(c->has_cur);
	assert(c->cur.req != NULL);
	rp_source_release(w->a->src, c->cur.req->len);
	if (w->owned) {
		/* the source frees it at the end */
	} else if (c->send_busy || c->oq.n > 0) {
		assert(c->parked == NULL);   /* no request starts while a send is out */
		c->parked = c->cur.req;      /* the kernel may still read its bytes */
	} else {
		rp_req_free(c->cur.req);
	}
	c->cur.req = NULL;
	c->has_cur = false;
	c->tries = 0;
}

static void record_end(struct conn *c, uint8_t err, const char *msg)
{
	struct worker *w = c->w;
	if (c->x == NULL)
		return;
	uint64_t now = mono_ns();
	struct seg_xch_end e = {
		.status = err ? 0 : c->status, .error = err,
		.flags = c->rh_cut ? SEG_F_HEAD_TRUNC : 0u,
		.t = { .ttfb_ns = c->ttfb_ns, .total_ns = now - c->sent_abs },
		.wire = { .req_head = c->cur.req->head_len,
			  .req_body = c->cur.req->len - c->cur.req->head_len,
			  .resp_body = c->body, .resp_head = c->wire_in > c->body ? c->wire_in - c->body : 0 },
		.err_msg = msg, .err_msg_len = msg ? strlen(msg) : 0,
	};
	if (err)
		e.flags |= SEG_F_ERROR;
	if (seg_xch_end(w->a->rec, c->x, &e) == 0)
		w->a->st.recorded++;
	else
		w->a->st.record_dropped++;
	c->x = NULL;
}

static void err_note(struct worker *w, unsigned kind, const char *msg)
{
	if (w->a->st.err_msg[kind][0] == '\0')
		snprintf(w->a->st.err_msg[kind], RP_ERR_MSG_MAX, "%s", msg);
}

static void teardown(struct conn *c)
{
	struct worker *w = c->w;
	eng_timers_stop(&w->timers, c->slot);
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
		struct io_uring_sqe *s = sqe_of(w);
		io_uring_prep_close(s, c->fd);
		io_uring_sqe_set_data64(s, eng_udata_pack(OP_CLOSE, c->slot, c->gen));
		c->fd = -1;
	}
	c->gen++;
	if (!c->send_busy) {
		eng_outq_drop(&w->bufs, &c->oq, false);
		unpark(c);
	}
	if (c->tls) {
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	c->state = C_IDLE;
	c->recv_armed = false;
	c->reused = false;
	c->phn = 0;
}

/* The current request failed with error kind `kind`. */
static void fail(struct conn *c, unsigned kind, const char *msg)
{
	struct worker *w = c->w;
	if (c->has_cur) {
		if (counted(c))
			w->a->st.errors[kind]++;
		atomic_fetch_add_explicit(&w->a->st.failed, 1, memory_order_relaxed);
		err_note(w, kind, msg);
		w->a->st.last_done_ns = mono_ns();
		static const uint8_t seg_kind[RP_E_KINDS] = {
			SEG_E_CONNECT, SEG_E_TIMEOUT, SEG_E_RESET, SEG_E_TLS, SEG_E_DNS, SEG_E_PROTOCOL };
		record_end(c, seg_kind[kind], msg);
		release_cur(c);
	}
	teardown(c);
	mark(c);   /* on to the slot's next request */
}

static void complete(struct conn *c)
{
	struct worker *w = c->w;
	assert(c->has_cur);
	assert(c->state == C_BUSY);
	assert(c->done);
	struct rp_stats *st = &w->a->st;
	uint64_t now = mono_ns();
	eng_timers_stop(&w->timers, c->slot);
	if (counted(c)) {
		st->completed++;
		/* sent up to RC_RP_EARLY_NS early: an answer before the due time is 0 */
		rp_hist_add(&st->lat, now > c->due_abs ? now - c->due_abs : 0);
		if (w->timed)
			rp_hist_add(&st->lag, c->sent_abs > c->due_abs ? c->sent_abs - c->due_abs : 0);
		st->status[c->status / 100u < 6u ? c->status / 100u : 0]++;
		struct rp_got g = { c->status, c->body, c->hash };
		const struct rp_req *r = c->cur.req;
		rp_diff_add(&st->diff, &w->cfg->diff, &r->expect, &g, r->id, r->url, r->url_len);
	}
	st->last_done_ns = now;
	atomic_fetch_add_explicit(&st->done, 1, memory_order_relaxed);
	record_end(c, 0, NULL);
	/* answered before all of the request went out (an early 413): the rest
	 * would be read as the next request, so this connection ends here */
	if (c->send_busy || c->oq.n > 0 || c->off < c->cur.req->len)
		c->keep = false;
	release_cur(c);
	if (c->keep) {
		c->state = C_READY;
		c->reused = true;
	} else {
		teardown(c);
	}
}

/* ---- sending ---- */

static void start_request(struct conn *c)
{
	struct worker *w = c->w;
	struct rp_req *r = c->cur.req;
	assert(c->has_cur);
	assert(c->fd >= 0);
	c->sent_abs = mono_ns();
	c->state = C_BUSY;
	c->off = 0;
	c->status = 0;
	c->done = false;
	c->keep = false;
	c->body = c->wire_in = 0;
	c->hash = 0;
	c->rhn = 0;
	c->rh_cut = false;
	c->last_cb = CB_NONE;
	c->ttfb_ns = 0;
	llhttp_init(&c->p, HTTP_RESPONSE, &resp_settings);
	c->p.data = c;
	eng_timers_arm(&w->timers, c->slot, 1, eng_clock_ms());
	if (w->a->rec && c->x == NULL) {
		struct seg_xch_begin b = {
			.start_ns = wall_ns(), .scheme = r->dest.tls ? SEG_SCHEME_HTTPS : SEG_SCHEME_HTTP,
			.http_version = 11, .port = r->dest.port,
			.flags = r->dest.tls ? SEG_F_TLS : 0u,
			.method = r->method, .method_len = strlen(r->method),
			.host = r->dest.host, .host_len = strlen(r->dest.host),
			.url = r->url, .url_len = r->url_len,
			.req_head = r->data, .req_head_len = r->head_len,
		};
		if (seg_xch_begin(w->a->rec, &b, &c->x, NULL) < 0) {
			c->x = NULL;
			w->a->st.record_dropped++;
		} else if (r->len > r->head_len) {
			seg_xch_body(w->a->rec, c->x, SEG_DIR_REQ, r->data + r->head_len,
				     r->len - r->head_len);
		}
	}
	tx_pump(c);
}

static void submit_send(struct conn *c)
{
	struct worker *w = c->w;
	if (c->send_busy || c->oq.n == 0 || c->fd < 0)
		return;
	struct io_uring_sqe *s = sqe_of(w);
	eng_outq_prep_send(&c->oq, s, c->fd, 0, eng_udata_pack(OP_SEND, c->slot, c->gen));
	c->send_busy = true;
}

/* TLS ciphertext waiting in the connection into private buffers. */
static int take_tls(struct conn *c)
{
	struct worker *w = c->w;
	while (tls_conn_pending_out(c->tls) > 0 && !eng_outq_full(&c->oq)) {
		uint16_t bid = eng_bufs_get(&w->bufs);
		if (bid == ENG_BUF_NONE)
			return -ENOBUFS;
		char *p = eng_bufs_ptr(&w->bufs, bid);
		size_t n = tls_conn_take(c->tls, p, w->bufs.size);
		eng_outq_push(&c->oq, ENG_SEG_BUF, bid, p, (uint32_t)n);
	}
	return 0;
}

static void tx_pump(struct conn *c)
{
	if (c->send_busy || c->fd < 0)
		return;
	const struct rp_req *r = c->has_cur ? c->cur.req : NULL;
	bool sending = c->state == C_BUSY && r != NULL;
	if (c->tls == NULL) {
		if (sending && c->off < r->len && !eng_outq_full(&c->oq)) {
			eng_outq_push(&c->oq, ENG_SEG_CONST, 0, (const char *)r->data + c->off,
				      (uint32_t)(r->len - c->off));
			c->off = r->len;
		}
		submit_send(c);
		return;
	}
	while (sending && c->off < r->len) {
		ssize_t n = tls_conn_write(c->tls, r->data + c->off, r->len - c->off);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			fail(c, RP_E_TLS, tls_conn_error(c->tls));
			return;
		}
		c->off += (size_t)n;
		if (take_tls(c) < 0 || eng_outq_full(&c->oq))
			break;
	}
	take_tls(c);
	submit_send(c);
}

/* ---- connecting ---- */

static void start_tls(struct conn *c)
{
	struct worker *w = c->w;
	if (w->a->tls == NULL || tls_conn_new_client(w->a->tls, c->dest.host, &c->tls) < 0) {
		fail(c, RP_E_TLS, "cannot start TLS (bad host name?)");
		return;
	}
	c->state = C_TLS;
	int rc = tls_conn_handshake(c->tls);
	if (rc == -EPROTO) {
		fail(c, RP_E_TLS, tls_conn_error(c->tls));
		return;
	}
	tx_pump(c);
}

static void ready(struct conn *c)
{
	c->state = C_READY;
	if (c->has_cur)
		start_request(c);
}

static void on_connected(struct conn *c)
{
	struct worker *w = c->w;
	struct io_uring_sqe *s = sqe_of(w);
	eng_prep_recv_multishot(s, c->fd, w->bufs.bgid, eng_udata_pack(OP_RECV, c->slot, c->gen));
	c->recv_armed = true;
	w->a->st.connects++;
	if (w->cfg->have_proxy && c->dest.tls) {
		static char line[RP_HOST_MAX * 2 + 96];
		int n = snprintf(line, sizeof(line), "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
				 c->dest.host, c->dest.port, c->dest.host, c->dest.port);
		c->state = C_PROXY;
		/* copied into a private buffer: the static line is reused by the next slot */
		uint16_t bid = eng_bufs_get(&w->bufs);
		if (bid == ENG_BUF_NONE) {
			fail(c, RP_E_CONNECT, "no send buffer for CONNECT");
			return;
		}
		char *p = eng_bufs_ptr(&w->bufs, bid);
		memcpy(p, line, (size_t)n);
		eng_outq_push(&c->oq, ENG_SEG_BUF, bid, p, (uint32_t)n);
		submit_send(c);
		return;
	}
	if (c->dest.tls)
		start_tls(c);
	else
		ready(c);
}

static void start_connect(struct conn *c)
{
	struct worker *w = c->w;
	const struct rp_req *r = c->cur.req;
	if (r->addr_len == 0) {
		char m[RP_HOST_MAX + 40];
		snprintf(m, sizeof(m), "cannot resolve %s", r->dest.host);
		fail(c, RP_E_DNS, m);
		return;
	}
	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(c, RP_E_CONNECT, strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->dest = r->dest;
	c->state = C_CONNECTING;
	eng_timers_arm(&w->timers, c->slot, 1, eng_clock_ms());
	struct io_uring_sqe *s = sqe_of(w);
	io_uring_prep_connect(s, c->fd, (const struct sockaddr *)&r->addr, r->addr_len);
	io_uring_sqe_set_data64(s, eng_udata_pack(OP_CONNECT, c->slot, c->gen));
}

static bool same_dest(const struct rp_dest *a, const struct rp_dest *b)
{
	return a->tls == b->tls && a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Moves the slot on: next request, connection as needed. */
static void conn_kick(struct conn *c)
{
	if (c->send_busy)
		return;   /* a torn-down life still owns the send queue */
	if (!c->has_cur && c->qn > 0 && (c->state == C_IDLE || c->state == C_READY)) {
		c->cur = c->q[c->qh];
		c->qh = (c->qh + 1u) % RC_RP_SLOT_QUEUE;
		c->qn--;
		c->has_cur = true;
		/* sent = taken to go out now: a request whose connect fails counts */
		struct worker *w = c->w;
		c->sent_abs = mono_ns();
		c->due_abs = w->timed ? w->a->t0_ns + c->cur.due_ns : c->sent_abs;
		atomic_fetch_add_explicit(&w->a->st.sent, 1, memory_order_relaxed);
		if (!counted(c))
			w->a->st.warmup_sent++;
	}
	if (!c->has_cur)
		return;
	if (c->state == C_READY && !same_dest(&c->dest, &c->cur.req->dest))
		teardown(c);
	if (c->state == C_IDLE)
		start_connect(c);
	else if (c->state == C_READY)
		start_request(c);
}

static void mark(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->w->dirty[c->w->ndirty++] = c->slot;
}

/* ---- the answer (llhttp callbacks; p->data is the conn) ---- */

static void rh_add(struct conn *c, const char *p, size_t n)
{
	if (c->rh == NULL)
		return;
	if (c->rhn + n > REC_HEAD_MAX - 4u) {
		c->rh_cut = true;
		n = c->rhn < REC_HEAD_MAX - 4u ? REC_HEAD_MAX - 4u - c->rhn : 0;
	}
	memcpy(c->rh + c->rhn, p, n);
	c->rhn += n;
}

static int on_status_cb(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (c->rhn == 0 && c->rh)
		c->rhn = (size_t)snprintf(c->rh, REC_HEAD_MAX, "HTTP/1.1 %03u ",
					  (unsigned)llhttp_get_status_code(p) % 1000u);
	rh_add(c, at, n);
	return 0;
}

static int on_field_cb(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (c->last_cb != CB_FIELD)
		rh_add(c, "\r\n", 2);
	rh_add(c, at, n);
	c->last_cb = CB_FIELD;
	return 0;
}

static int on_value_cb(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (c->last_cb != CB_VALUE)
		rh_add(c, ": ", 2);
	rh_add(c, at, n);
	c->last_cb = CB_VALUE;
	return 0;
}

/* The content-type class of the head being recorded. */
static uint8_t rh_type(const struct conn *c)
{
	const char *h = c->rh, *end = c->rh + c->rhn;
	for (const char *l = h; l && l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *e = nl ? nl : end;
		if ((size_t)(e - l) > 14 && strncasecmp(l, "content-type: ", 14) == 0) {
			size_t n = (size_t)(e - l) - 14u;
			if (n && l[14 + n - 1] == '\r')
				n--;
			return seg_type_from_mime(l + 14, n);
		}
		l = nl ? nl + 1 : NULL;
	}
	return SEG_T_NONE;
}

static int on_headers_cb(llhttp_t *p)
{
	struct conn *c = p->data;
	struct worker *w = c->w;
	uint16_t st = (uint16_t)llhttp_get_status_code(p);
	if (st >= 100 && st < 200 && st != 101)
		return 0;   /* interim: its message ends, the final answer follows */
	c->status = st;
	c->ttfb_ns = mono_ns() - c->sent_abs;
	if (c->x && c->rh) {
		rh_add(c, "\r\n\r\n", 4);
		const char *sp = memchr(c->rh + 9, ' ', c->rhn > 9 ? c->rhn - 9 : 0);
		const char *reason = sp ? sp + 1 : "";
		const char *eol = memchr(c->rh, '\r', c->rhn);
		size_t rlen = sp && eol && eol > reason ? (size_t)(eol - reason) : 0;
		seg_xch_resp_head(w->a->rec, c->x, st, reason, rlen, c->rh, c->rhn, rh_type(c));
	}
	return c->cur.req && c->cur.req->head ? 1 : 0;
}

static int on_body_cb(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	c->body += n;
	if (c->w->cfg->diff.body)
		c->hash = seg_crc32c(c->hash, at, n);
	if (c->x)
		seg_xch_body(c->w->a->rec, c->x, SEG_DIR_RESP, at, n);
	return 0;
}

static int on_done_cb(llhttp_t *p)
{
	struct conn *c = p->data;
	if (c->status == 0) {
		c->rhn = 0;       /* an interim answer ended: start the head again */
		c->last_cb = CB_NONE;
		return 0;
	}
	c->done = true;
	c->keep = llhttp_should_keep_alive(p) != 0;
	return HPE_PAUSED;
}

/* Plaintext of the answer. Returns false when the conn failed. */
static bool parse(struct conn *c, const char *p, size_t n)
{
	if (n == 0)
		return true;
	if (c->state != C_BUSY || c->done) {
		fail(c, RP_E_PROTOCOL, "bytes from the server with no request outstanding");
		return false;
	}
	llhttp_errno_t e = llhttp_execute(&c->p, p, n);
	if (e == HPE_PAUSED) {
		const char *at = llhttp_get_error_pos(&c->p);
		if (at != NULL && at < p + n && c->tls == NULL) {
			fail(c, RP_E_PROTOCOL, "bytes after the answer");
			return false;
		}
		complete(c);
		return true;
	}
	if (e != HPE_OK) {
		char m[160];
		snprintf(m, sizeof(m), "bad answer: %s", llhttp_get_error_reason(&c->p));
		fail(c, RP_E_PROTOCOL, m);
		return false;
	}
	return true;
}

/* The server closed: an answer read until close ends here; anything else
 * is a reset (retried once when a reused connection closed unanswered). */
static void on_eof(struct conn *c, int err)
{
	if (c->state == C_BUSY && !c->done && err == 0 && c->status != 0) {
		llhttp_finish(&c->p);   /* a body read until close ends here */
		if (c->done) {
			c->keep = false;
			complete(c);
			return;
		}
	}
	if (c->state == C_READY || c->state == C_IDLE || !c->has_cur) {
		teardown(c);
		return;
	}
	if (c->state == C_BUSY && c->reused && c->wire_in == 0 && c->tries == 0) {
		c->tries = 1;
		c->w->a->st.retried++;
		teardown(c);
		return;
	}
	const char *m = err ? strerror(-err) : "connection closed before the answer";
	if (c->state == C_TLS && c->tls) {
		fail(c, RP_E_TLS, tls_conn_error(c->tls)[0] ? tls_conn_error(c->tls) : m);
		return;
	}
	if (c->state == C_PROXY) {
		fail(c, RP_E_CONNECT, "proxy closed during CONNECT");
		return;
	}
	fail(c, err == -ETIMEDOUT ? RP_E_TIMEOUT : RP_E_RESET, m);
}

static void proxy_answer(struct conn *c, const char *p, size_t n)
{
	size_t room = sizeof(c->ph) - 1u - c->phn;
	if (n > room)
		n = room;
	memcpy(c->ph + c->phn, p, n);
	c->phn += n;
	c->ph[c->phn] = '\0';
	if (strstr(c->ph, "\r\n\r\n") == NULL) {
		if (c->phn == sizeof(c->ph) - 1u)
			fail(c, RP_E_CONNECT, "proxy CONNECT answer too long");
		return;
	}
	if (strncmp(c->ph, "HTTP/1.1 200", 12) != 0 && strncmp(c->ph, "HTTP/1.0 200", 12) != 0) {
		char m[80];
		snprintf(m, sizeof(m), "proxy refused CONNECT: %.12s", c->ph);
		fail(c, RP_E_CONNECT, m);
		return;
	}
	start_tls(c);
}

/* Ciphertext in: feed, handshake, plaintext to the parser. */
static void tls_in(struct conn *c, const char *p, size_t n)
{
	struct worker *w = c->w;
	for (unsigned guard = 0; guard < 1024u && c->tls; guard++) {
		size_t k = n ? tls_conn_feed(c->tls, p, n) : 0;
		p += k;
		n -= k;
		if (c->state == C_TLS) {
			int rc = tls_conn_handshake(c->tls);
			if (rc == -EPROTO) {
				fail(c, RP_E_TLS, tls_conn_error(c->tls));
				return;
			}
			if (rc == 0)
				ready(c);
		}
		ssize_t r = c->state == C_BUSY ? tls_conn_read(c->tls, w->tbuf, sizeof(w->tbuf)) : -EAGAIN;
		if (r > 0 && !parse(c, w->tbuf, (size_t)r))
			return;
		if (r == 0 || r == -EPIPE) {
			on_eof(c, 0);
			return;
		}
		if (r == -EPROTO) {
			fail(c, RP_E_TLS, tls_conn_error(c->tls));
			return;
		}
		if (r < 0 && n == 0)
			break;
		if (r < 0 && k == 0) {
			fail(c, RP_E_TLS, "TLS input stuck");
			return;
		}
	}
	tx_pump(c);
}

/* ---- completions ---- */

static struct conn *live(struct worker *w, union eng_udata u)
{
	if (u.f.slot >= w->nconn)
		return NULL;
	struct conn *c = &w->c[u.f.slot];
	return c->gen == u.f.gen ? c : NULL;
}

static void cqe_connect(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct worker *w = ctx;
	struct conn *c = live(w, u);
	if (c == NULL || c->state != C_CONNECTING)
		return;
	if (cqe->res < 0) {
		char m[RP_HOST_MAX + 160];
		snprintf(m, sizeof(m), "connect to %s:%u: %s", c->dest.host, c->dest.port,
			 strerror(-cqe->res));
		fail(c, RP_E_CONNECT, m);
	} else {
		on_connected(c);
	}
	mark(c);
}

static void cqe_recv(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct worker *w = ctx;
	uint16_t bid = ENG_BUF_NONE;
	bool has_buf = eng_cqe_bid(cqe, &bid);
	if (has_buf)
		eng_bufs_take(&w->bufs, bid, cqe->res > 0 ? (uint32_t)cqe->res : 0);
	struct conn *c = live(w, u);
	if (c != NULL) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			c->recv_armed = false;
		if (cqe->res > 0) {
			const char *p = eng_bufs_ptr(&w->bufs, bid);
			size_t n = (size_t)cqe->res;
			w->a->st.bytes_recv += n;
			c->wire_in += n;
			if (c->state == C_PROXY)
				proxy_answer(c, p, n);
			else if (c->tls)
				tls_in(c, p, n);
			else
				parse(c, p, n);
		} else if (cqe->res == 0) {
			if (c->tls)
				tls_conn_feed_eof(c->tls);
			on_eof(c, 0);
		} else if (cqe->res != -ENOBUFS) {
			on_eof(c, cqe->res);
		}
		if (c->fd >= 0 && !c->recv_armed && c->gen == u.f.gen) {
			struct io_uring_sqe *s = sqe_of(w);
			eng_prep_recv_multishot(s, c->fd, w->bufs.bgid,
						eng_udata_pack(OP_RECV, c->slot, c->gen));
			c->recv_armed = true;
		}
		mark(c);
	}
	if (has_buf)
		eng_bufs_unref(&w->bufs, bid);
}

static void cqe_send(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct worker *w = ctx;
	if (u.f.slot >= w->nconn)
		return;
	struct conn *c = &w->c[u.f.slot];
	c->send_busy = false;
	if (c->gen != u.f.gen) {
		eng_outq_drop(&w->bufs, &c->oq, false);   /* the life it belonged to is gone */
		unpark(c);
		mark(c);
		return;
	}
	if (cqe->res < 0) {
		eng_outq_drop(&w->bufs, &c->oq, false);
		unpark(c);
		if (c->state == C_BUSY && c->reused && c->tries == 0) {
			c->tries = 1;
			w->a->st.retried++;
			teardown(c);
		} else {
			fail(c, RP_E_RESET, strerror(-cqe->res));
		}
		mark(c);
		return;
	}
	w->a->st.bytes_sent += (uint64_t)cqe->res;
	eng_outq_advance(&w->bufs, &c->oq, (size_t)cqe->res);
	if (c->oq.n == 0)
		unpark(c);
	tx_pump(c);
}

static void cqe_close(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
}

static void cqe_write(void *ctx, const struct io_uring_cqe *cqe, union eng_udata u)
{
	struct worker *w = ctx;
	w->io_busy = false;
	seg_writer_io_done(w->a->rec, cqe->res);
}

static void on_timeout(void *ctx, uint32_t i)
{
	struct worker *w = ctx;
	struct conn *c = &w->c[i];
	if (c->state == C_IDLE || c->state == C_READY)
		return;
	char m[96];
	snprintf(m, sizeof(m), "no %s within %llu ms", c->state == C_BUSY ? "answer" : "connection",
		 (unsigned long long)w->cfg->timeout_ms);
	fail(c, RP_E_TIMEOUT, m);
	mark(c);
}

/* ---- the loop ---- */

/* Moves due requests from the source's queue to their slots. A slot whose
 * own queue is full holds the rest back (its requests must keep order).
 * Stopping, it drops them (counted unsent when the run was interrupted).
 * Returns ns until the next request is due (UINT64_MAX: none known). */
static uint64_t pull(struct worker *w, bool stopping, bool count_unsent)
{
	const struct rp_item *it;
	while ((it = rp_queue_peek(w->q)) != NULL) {
		if (w->timed && w->a->t0_ns + it->due_ns > w->now + RC_RP_EARLY_NS)
			return w->a->t0_ns + it->due_ns - w->now - RC_RP_EARLY_NS;
		struct conn *c = &w->c[it->slot / w->a->threads];
		if (c->qn == RC_RP_SLOT_QUEUE && !stopping)
			return UINT64_MAX;
		struct rp_item x;
		rp_queue_pop(w->q, &x);
		if (stopping) {
			if (count_unsent)
				w->a->st.unsent++;   /* interrupted; read ahead past --duration is not */
			rp_source_release(w->a->src, x.req->len);
			if (!w->owned)
				rp_req_free(x.req);
			continue;
		}
		c->q[(c->qh + c->qn) % RC_RP_SLOT_QUEUE] = x;
		c->qn++;
		mark(c);
	}
	return UINT64_MAX;
}

static bool busy(const struct worker *w)
{
	for (unsigned i = 0; i < w->nconn; i++) {
		const struct conn *c = &w->c[i];
		if (c->has_cur || c->qn > 0)
			return true;
	}
	return false;
}

static void record_io(struct worker *w)
{
	if (w->a->rec == NULL || w->io_busy)
		return;
	uint64_t ms = eng_clock_ms();
	if (ms - w->tick_ms >= 50u) {
		w->tick_ms = ms;
		seg_writer_tick(w->a->rec, wall_ns());
	}
	const struct seg_io *io = seg_writer_next_io(w->a->rec);
	if (io == NULL)
		return;
	struct io_uring_sqe *s = sqe_of(w);
	if (io->fsync)
		io_uring_prep_fsync(s, io->fd, 0);
	else
		io_uring_prep_write(s, io->fd, io->buf, io->len, io->off);
	io_uring_sqe_set_data64(s, eng_udata_pack(OP_WRITE, 0, 0));
	w->io_busy = true;
}

/* Drops what the slots still hold when the run is cut (second Ctrl-C). */
static void abandon(struct worker *w)
{
	for (unsigned i = 0; i < w->nconn; i++) {
		struct conn *c = &w->c[i];
		if (c->has_cur) {
			w->a->st.unanswered++;
			if (c->x) {
				record_end(c, SEG_E_CLIENT_CLOSED, "replay interrupted");
			}
			release_cur(c);
		}
		while (c->qn > 0) {
			struct rp_item *x = &c->q[c->qh];
			rp_source_release(w->a->src, x->req->len);
			if (!w->owned)
				rp_req_free(x->req);
			c->qh = (c->qh + 1u) % RC_RP_SLOT_QUEUE;
			c->qn--;
			w->a->st.unsent++;
		}
		teardown(c);
	}
}

static void turn(struct worker *w, uint64_t wait_ns)
{
	eng_bufs_publish(&w->bufs);
	struct __kernel_timespec ts = { (long long)(wait_ns / 1000000000u),
					(long long)(wait_ns % 1000000000u) };
	struct io_uring_cqe *cqe = NULL;
	int rc = io_uring_submit_and_wait_timeout(&w->ring.uring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
		fprintf(stderr, "ringcap replay: io_uring wait: %s\n", strerror(-rc));
		abort();
	}
	/* bounded: a flood of completions still leaves room for timers and kicks */
	for (unsigned b = 0; b < 4u; b++)
		if (eng_ring_drain(&w->ring, &w->d, RC_RP_CQE_BATCH) < RC_RP_CQE_BATCH)
			break;
	w->now = mono_ns();
	eng_timers_expire(&w->timers, eng_clock_ms(), 1024u, on_timeout, w);
	/* A stack: a slot is on it at most once, so it never outgrows nconn. A
	 * kick that fails at once (no name, no socket) marks its slot again to
	 * move to the next request: bounded by the requests the slots hold. */
	size_t guard = (size_t)w->nconn * (RC_RP_SLOT_QUEUE + 2u);
	while (w->ndirty > 0 && guard-- > 0) {
		struct conn *c = &w->c[w->dirty[--w->ndirty]];
		c->dirty = false;
		conn_kick(c);
	}
	record_io(w);
}

static void run(struct worker *w)
{
	const struct rp_sched *sc = &w->cfg->src.sched;
	bool ended = false;   /* closed loop: --duration passed (not an interruption) */
	for (;;) {
		int stop = atomic_load(w->a->stop);
		if (stop >= 2)
			break;
		w->now = mono_ns();
		if (!w->timed && sc->duration_ns && w->now - w->a->t0_ns >= sc->duration_ns) {
			if (!ended)
				rp_source_stop(w->a->src);
			ended = true;
		}
		if (ended && stop == 0)
			stop = 1;
		uint64_t next = pull(w, stop != 0, !ended);
		if (stop && !busy(w))
			break;
		if (!stop && rp_source_done(w->a->src) && rp_queue_peek(w->q) == NULL && !busy(w))
			break;
		uint64_t wait = next < 2000000u ? next : 2000000u;   /* 2 ms: timers, stop, source */
		if (w->ndirty)
			wait = 0;
		turn(w, wait);
	}
	if (atomic_load(w->a->stop) >= 2)
		abandon(w);
}

static int setup(struct worker *w)
{
	struct rp_loop_args *a = w->a;
	unsigned slots = rp_source_slots(a->src);
	w->nconn = slots > a->index ? (slots - a->index + a->threads - 1u) / a->threads : 0;
	int rc = eng_ring_init(&w->ring, RC_RP_RING_ENTRIES, 0, a->err, sizeof(a->err));
	if (rc < 0)
		return rc;
	rc = eng_bufs_init(&w->bufs, &w->ring, RC_RP_RECV_BUFS, RC_RP_RECV_BUF,
			   w->nconn * 4u + 64u < 60000u ? w->nconn * 4u + 64u : 60000u, 1,
			   a->err, sizeof(a->err));
	if (rc < 0)
		return rc;
	w->c = eng_array_alloc(w->nconn ? w->nconn : 1u, sizeof(*w->c));
	w->dirty = calloc(w->nconn + 1u, sizeof(*w->dirty));
	if (w->c == NULL || w->dirty == NULL) {
		snprintf(a->err, sizeof(a->err), "no memory for %u connections", w->nconn);
		return -ENOMEM;
	}
	eng_timers_init(&w->timers, w->c, sizeof(*w->c), offsetof(struct conn, tm));
	w->timers.ms[1] = w->cfg->timeout_ms;
	for (unsigned i = 0; i < w->nconn; i++) {
		struct conn *c = &w->c[i];
		c->w = w;
		c->slot = i;
		c->fd = -1;
		eng_timer_clear(&c->tm);
		if (a->rec && (c->rh = malloc(REC_HEAD_MAX)) == NULL)
			return -ENOMEM;
	}
	w->d.ctx = w;
	w->d.fn[OP_CONNECT] = cqe_connect;
	w->d.fn[OP_RECV] = cqe_recv;
	w->d.fn[OP_SEND] = cqe_send;
	w->d.fn[OP_CLOSE] = cqe_close;
	w->d.fn[OP_WRITE] = cqe_write;
	return 0;
}

static void cleanup(struct worker *w)
{
	for (unsigned i = 0; w->c && i < w->nconn; i++) {
		teardown(&w->c[i]);
		free(w->c[i].rh);
	}
	/* the last sends, closes and the store's writes come back before the ring goes */
	for (unsigned k = 0; k < 200u && w->ring.up; k++) {
		bool pending = w->io_busy;
		for (unsigned i = 0; !pending && w->c && i < w->nconn; i++)
			pending = w->c[i].send_busy;
		if (!pending)
			break;
		turn(w, 10000000u);
	}
	if (w->a->rec && !w->io_busy)
		seg_writer_flush_sync(w->a->rec);
	for (unsigned i = 0; w->c && i < w->nconn; i++)
		if (!w->c[i].send_busy)
			unpark(&w->c[i]);   /* a send still out after the wait: leaked, not freed early */
	if (w->c)
		eng_array_free(w->c);
	free(w->dirty);
	eng_bufs_free(&w->bufs);
	eng_ring_exit(&w->ring);
}

void *rp_loop_main(void *arg)
{
	struct rp_loop_args *a = arg;
	struct worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		a->rc = -ENOMEM;
		return NULL;
	}
	w->a = a;
	w->cfg = a->cfg;
	w->q = rp_source_queue(a->src, a->index);
	w->timed = rp_sched_timed(&a->cfg->src.sched);
	w->owned = rp_source_owns(a->src);
	a->rc = setup(w);
	for (uint64_t now = mono_ns(); a->rc == 0 && now < a->t0_ns; now = mono_ns()) {
		struct timespec ts = { 0, (long)(a->t0_ns - now) };
		nanosleep(&ts, NULL);   /* every thread starts the schedule at t0 */
	}
	if (a->rc == 0)
		run(w);
	else
		atomic_store(a->stop, 2);
	cleanup(w);
	free(w);
	return NULL;
}
