/*
 * tools/replay/conn.c - a request's life on a connection slot of a loop
 * thread: connect (TCP_NODELAY), CONNECT through --proxy, TLS through
 * tls/ over memory, sending from the request's bytes (plaintext: one
 * segment that points into them; TLS: records in private buffers), and
 * its end (answered, failed by kind, or cut). States at the top of loop.c.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "persist/seg.h"
#include "tls/tls.h"
#include "tools/replay/loop-int.h"

static void start_request(struct rp_conn *c);

struct io_uring_sqe *rp_sqe(struct rp_worker *w)
{
	struct io_uring_sqe *s = eng_ring_sqe(&w->ring);
	if (s == NULL) {
		fprintf(stderr, "ringcap replay: the ring took no submission\n");
		abort();
	}
	return s;
}

/* ---- the request's end ---- */

bool rp_conn_counted(const struct rp_conn *c)
{
	const struct rp_sched *s = &c->w->cfg->src.sched;
	uint64_t t0 = c->w->a->t0_ns;
	uint64_t rel = c->w->timed ? c->cur.due_ns : (c->due_abs > t0 ? c->due_abs - t0 : 0);
	return rp_sched_counted(s, rel);
}

/* Frees a request parked until its bytes left (see release_cur). */
void rp_conn_unpark(struct rp_conn *c)
{
	rp_req_free(c->parked);
	c->parked = NULL;
}

void rp_conn_release(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
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

void rp_conn_record_end(struct rp_conn *c, uint8_t err, const char *msg)
{
	struct rp_worker *w = c->w;
	if (c->x == NULL)
		return;
	uint64_t now = rp_mono_ns();
	struct seg_xch_end e = {
		.status = err ? 0 : c->status, .error = err,
		.flags = c->rh_cut ? SEG_F_HEAD_TRUNC : 0u,
		.t = { .ttfb_ns = c->ttfb_ns, .total_ns = now - c->sent_abs },
		.wire = { .req_head = c->cur.req->head_len,
			  .req_body = c->cur.req->len - c->cur.req->head_len,
			  .resp_body = c->body, .resp_head = c->wire_in > c->body ? c->wire_in - c->body : 0 },
		.err_msg = msg, .err_msg_len = msg ? strlen(msg) : 0,
		.server = c->peer,
	};
	if (err)
		e.flags |= SEG_F_ERROR;
	if (seg_xch_end(w->a->rec, c->x, &e) == 0)
		w->a->st.recorded++;
	else
		w->a->st.record_dropped++;
	c->x = NULL;
}

void rp_err_note(struct rp_worker *w, unsigned kind, const char *msg)
{
	if (w->a->st.err_msg[kind][0] == '\0')
		snprintf(w->a->st.err_msg[kind], RP_ERR_MSG_MAX, "%s", msg);
}

void rp_conn_teardown(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	eng_timers_stop(&w->timers, c->slot);
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
		struct io_uring_sqe *s = rp_sqe(w);
		io_uring_prep_close(s, c->fd);
		io_uring_sqe_set_data64(s, eng_udata_pack(RP_OP_CLOSE, c->slot, c->gen));
		c->fd = -1;
	}
	c->gen++;
	if (!c->send_busy) {
		eng_outq_drop(&w->bufs, &c->oq, false);
		rp_conn_unpark(c);
	}
	if (c->tls) {
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	c->state = RP_C_IDLE;
	c->recv_armed = false;
	c->reused = false;
	c->phn = 0;
	c->local.family = 0;
	c->peer.family = 0;
}

/* The current request failed with error kind `kind`. */
void rp_conn_fail(struct rp_conn *c, unsigned kind, const char *msg)
{
	struct rp_worker *w = c->w;
	if (c->has_cur) {
		if (rp_conn_counted(c))
			w->a->st.errors[kind]++;
		atomic_fetch_add_explicit(&w->a->st.failed, 1, memory_order_relaxed);
		rp_err_note(w, kind, msg);
		w->a->st.last_done_ns = rp_mono_ns();
		static const uint8_t seg_kind[RP_E_KINDS] = {
			SEG_E_CONNECT, SEG_E_TIMEOUT, SEG_E_RESET, SEG_E_TLS, SEG_E_DNS, SEG_E_PROTOCOL };
		rp_conn_record_end(c, seg_kind[kind], msg);
		rp_conn_release(c);
	}
	rp_conn_teardown(c);
	rp_conn_mark(c);   /* on to the slot's next request */
}

void rp_conn_complete(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	assert(c->has_cur);
	assert(c->state == RP_C_BUSY);
	assert(c->done);
	struct rp_stats *st = &w->a->st;
	uint64_t now = rp_mono_ns();
	eng_timers_stop(&w->timers, c->slot);
	if (rp_conn_counted(c)) {
		st->completed++;
		/* from the due time (a late send's wait counts: no coordinated
		 * omission), or from the send when it left up to RC_RP_EARLY_NS
		 * early: counting from the due time then took the head start
		 * off the answer's time (--rate 20000 here: p50 0.005 ms, under
		 * loopback's round trip) */
		uint64_t from = c->sent_abs < c->due_abs ? c->sent_abs : c->due_abs;
		rp_hist_add(&st->lat, now > from ? now - from : 0);
		if (w->timed)
			rp_hist_add(&st->lag, c->sent_abs > c->due_abs ? c->sent_abs - c->due_abs : 0);
		st->status[c->status / 100u < 6u ? c->status / 100u : 0]++;
		struct rp_got g = { c->status, c->body, c->hash };
		const struct rp_req *r = c->cur.req;
		rp_diff_add(&st->diff, &w->cfg->diff, &r->expect, &g, r->id, r->url, r->url_len);
	}
	st->last_done_ns = now;
	atomic_fetch_add_explicit(&st->done, 1, memory_order_relaxed);
	rp_conn_record_end(c, 0, NULL);
	/* answered before all of the request went out (an early 413): the rest
	 * would be read as the next request, so this connection ends here */
	if (c->send_busy || c->oq.n > 0 || c->off < c->cur.req->len)
		c->keep = false;
	rp_conn_release(c);
	if (c->keep) {
		c->state = RP_C_READY;
		c->reused = true;
	} else {
		rp_conn_teardown(c);
	}
}

/* ---- sending ---- */

/* --record: the connection's own address and port become the recorded
 * client (the store tells recorded connections apart by it), once per
 * connection; left unknown (family 0) when the socket will not say. */
/* ss as the store's address (family 0 when neither IPv4 nor IPv6). */
static void to_seg_addr(const struct sockaddr_storage *ss, struct seg_addr *out)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		out->family = 4;
		out->port = ntohs(a->sin_port);
		memcpy(out->addr, &a->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		out->family = 6;
		out->port = ntohs(a->sin6_port);
		memcpy(out->addr, &a->sin6_addr, 16);
	}
}

/* The connection's two ends for --record: its own address (the recorded
 * client) and the one it reached (the recorded server: the target, or the
 * --proxy it went through). */
static void conn_addrs(struct rp_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
		to_seg_addr(&ss, &c->local);
	len = sizeof(ss);
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0)
		to_seg_addr(&ss, &c->peer);
}

static void start_request(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	struct rp_req *r = c->cur.req;
	assert(c->has_cur);
	assert(c->fd >= 0);
	c->sent_abs = rp_mono_ns();
	c->state = RP_C_BUSY;
	c->off = 0;
	c->status = 0;
	c->done = false;
	c->keep = false;
	c->body = c->wire_in = 0;
	c->hash = 0;
	c->rhn = 0;
	c->rh_cut = false;
	c->last_cb = RP_CB_NONE;
	c->ttfb_ns = 0;
	rp_answer_reset(c);
	eng_timers_arm(&w->timers, c->slot, 1, eng_clock_ms());
	if (w->a->rec && c->x == NULL) {
		if (c->local.family == 0)
			conn_addrs(c);
		struct seg_xch_begin b = {
			.start_ns = rp_wall_ns(), .scheme = r->dest.tls ? SEG_SCHEME_HTTPS : SEG_SCHEME_HTTP,
			.http_version = 11, .port = r->dest.port,
			.flags = r->dest.tls ? SEG_F_TLS : 0u,
			.method = r->method, .method_len = strlen(r->method),
			.host = r->dest.host, .host_len = strlen(r->dest.host),
			.url = r->url, .url_len = r->url_len,
			.req_head = r->data, .req_head_len = r->head_len,
			.client = c->local,
		};
		if (seg_xch_begin(w->a->rec, &b, &c->x, NULL) < 0) {
			c->x = NULL;
			w->a->st.record_dropped++;
		} else if (r->len > r->head_len) {
			seg_xch_body(w->a->rec, c->x, SEG_DIR_REQ, r->data + r->head_len,
				     r->len - r->head_len);
		}
	}
	rp_conn_tx(c);
}

static void submit_send(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	if (c->send_busy || c->oq.n == 0 || c->fd < 0)
		return;
	struct io_uring_sqe *s = rp_sqe(w);
	eng_outq_prep_send(&c->oq, s, c->fd, 0, eng_udata_pack(RP_OP_SEND, c->slot, c->gen));
	c->send_busy = true;
}

/* TLS ciphertext waiting in the connection into private buffers. */
static int take_tls(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
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

void rp_conn_tx(struct rp_conn *c)
{
	if (c->send_busy || c->fd < 0)
		return;
	const struct rp_req *r = c->has_cur ? c->cur.req : NULL;
	bool sending = c->state == RP_C_BUSY && r != NULL;
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
			rp_conn_fail(c, RP_E_TLS, tls_conn_error(c->tls));
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

void rp_conn_start_tls(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	if (w->a->tls == NULL || tls_conn_new_client(w->a->tls, c->dest.host, &c->tls) < 0) {
		rp_conn_fail(c, RP_E_TLS, "cannot start TLS (bad host name?)");
		return;
	}
	c->state = RP_C_TLS;
	int rc = tls_conn_handshake(c->tls);
	if (rc == -EPROTO) {
		rp_conn_fail(c, RP_E_TLS, tls_conn_error(c->tls));
		return;
	}
	rp_conn_tx(c);
}

void rp_conn_ready(struct rp_conn *c)
{
	c->state = RP_C_READY;
	if (c->has_cur)
		start_request(c);
}

void rp_conn_connected(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	struct io_uring_sqe *s = rp_sqe(w);
	eng_prep_recv_multishot(s, c->fd, w->bufs.bgid, eng_udata_pack(RP_OP_RECV, c->slot, c->gen));
	c->recv_armed = true;
	w->a->st.connects++;
	if (w->cfg->have_proxy && c->dest.tls) {
		static char line[RP_HOST_MAX * 2 + 96];
		int n = snprintf(line, sizeof(line), "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
				 c->dest.host, c->dest.port, c->dest.host, c->dest.port);
		c->state = RP_C_PROXY;
		/* copied into a private buffer: the static line is reused by the next slot */
		uint16_t bid = eng_bufs_get(&w->bufs);
		if (bid == ENG_BUF_NONE) {
			rp_conn_fail(c, RP_E_CONNECT, "no send buffer for CONNECT");
			return;
		}
		char *p = eng_bufs_ptr(&w->bufs, bid);
		memcpy(p, line, (size_t)n);
		eng_outq_push(&c->oq, ENG_SEG_BUF, bid, p, (uint32_t)n);
		submit_send(c);
		return;
	}
	if (c->dest.tls)
		rp_conn_start_tls(c);
	else
		rp_conn_ready(c);
}

static void start_connect(struct rp_conn *c)
{
	struct rp_worker *w = c->w;
	const struct rp_req *r = c->cur.req;
	if (r->addr_len == 0) {
		char m[RP_HOST_MAX + 40];
		snprintf(m, sizeof(m), "cannot resolve %s", r->dest.host);
		rp_conn_fail(c, RP_E_DNS, m);
		return;
	}
	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rp_conn_fail(c, RP_E_CONNECT, strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->dest = r->dest;
	c->state = RP_C_CONNECTING;
	eng_timers_arm(&w->timers, c->slot, 1, eng_clock_ms());
	struct io_uring_sqe *s = rp_sqe(w);
	io_uring_prep_connect(s, c->fd, (const struct sockaddr *)&r->addr, r->addr_len);
	io_uring_sqe_set_data64(s, eng_udata_pack(RP_OP_CONNECT, c->slot, c->gen));
}

static bool same_dest(const struct rp_dest *a, const struct rp_dest *b)
{
	return a->tls == b->tls && a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Moves the slot on: next request, connection as needed. */
void rp_conn_kick(struct rp_conn *c)
{
	if (c->send_busy)
		return;   /* a torn-down life still owns the send queue */
	if (!c->has_cur && c->qn > 0 && (c->state == RP_C_IDLE || c->state == RP_C_READY)) {
		c->cur = c->q[c->qh];
		c->qh = (c->qh + 1u) % RC_RP_SLOT_QUEUE;
		c->qn--;
		c->has_cur = true;
		/* sent = taken to go out now: a request whose connect fails counts */
		struct rp_worker *w = c->w;
		c->sent_abs = rp_mono_ns();
		c->due_abs = w->timed ? w->a->t0_ns + c->cur.due_ns : c->sent_abs;
		atomic_fetch_add_explicit(&w->a->st.sent, 1, memory_order_relaxed);
		if (!rp_conn_counted(c))
			w->a->st.warmup_sent++;
	}
	if (!c->has_cur)
		return;
	if (c->state == RP_C_READY && !same_dest(&c->dest, &c->cur.req->dest))
		rp_conn_teardown(c);
	if (c->state == RP_C_IDLE)
		start_connect(c);
	else if (c->state == RP_C_READY)
		start_request(c);
}

void rp_conn_mark(struct rp_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->w->dirty[c->w->ndirty++] = c->slot;
}
