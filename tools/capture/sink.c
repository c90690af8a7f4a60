/*
 * tools/capture/sink.c - the capture sink over persist/'s I/O-agnostic writer,
 * under a capture policy swapped at run time (tools/capture.h).
 *
 * Three lifetimes meet here:
 * - a policy (struct pol) is immutable once published behind c->cur; a
 *   worker reads it only inside one sink call and keeps nothing of it but
 *   the store pointer and, for an exchange whose filter verdict waits for
 *   the response, its own reference on the filter db. A swapped-out policy
 *   is freed after a grace period: every online worker has passed a
 *   quiescent point (the top of tick and next_io) since the swap.
 * - a store (one session's writers, one per worker) is opened by
 *   rc_capture_set, adopted by each worker at its first exchange under it,
 *   and handed back by that worker once it has left it (its exchanges ended,
 *   its last frame sealed and written); then rc_capture_set or
 *   rc_capture_reap closes it.
 * - an exchange handle (struct xh) lives from begin to end in a per-worker
 *   pool.
 * A failed write stops capture into that store for that worker, with one
 * line on stderr; traffic flows on and what follows counts as dropped.
 *
 * This file is the worker side (the engine's struct eng_sink_ops);
 * tools/capture/policy.c the publisher side (create, open a store, swap,
 * reap); tools/capture/capture-int.h what the two share.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "filter/flt.h"
#include "persist/query.h"
#include "persist/seg.h"
#include "tools/capture/capture-int.h"
#include "tools/lib/rc-limits.h"
#include "rc-assert.h"

/* A store as one worker holds it. */
struct held {
	struct store *s;            /* NULL: free slot */
	struct seg_writer *w;
	uint32_t open;              /* exchanges begun and not ended */
	bool leaving, sealed, failed;
	uint64_t over_budget;       /* w's frames_over_budget already counted */
};

struct xh {
	struct held *h;
	struct seg_xch *x;          /* NULL once a filter discarded it */
	struct flt_db *db;          /* ref held while the verdict is pending */
	uint64_t cap, stored[2];    /* body_max and bytes offered per direction */
	uint32_t flags;             /* truncation the sink decided */
	bool cookies, no_resp;
	/* the WebSocket data message in progress, per direction */
	uint64_t msg_stored[2];     /* payload bytes stored of it */
	bool msg_cut[2];            /* part of it was not stored */
	bool msg_skip[2];           /* began while paused or after the session left */
	struct xh *next_free;
};

struct wk {
	struct rc_capture *c;
	unsigned worker;
	struct wstat *st;
	struct held held[HELD_MAX];
	struct held *cur;           /* where new exchanges go; NULL: none */
	struct held *io_owner;      /* whose write is in flight */
	bool io_open;               /* it is a rotation's open: res is an fd */
	struct flt_scratch *scratch;
	const struct flt_db *scratch_db; /* the last db scratch was reserved for */
	struct xh *free;
	/* --sync: the ticket of the exchange cap_end just stored (0: none),
	 * and a generation per held slot, bumped when its store is handed
	 * back, so that a ticket of a store gone reads as durable */
	uint64_t ticket;
	uint32_t held_gen[HELD_MAX];
	struct xh xh[XH_MAX];
	char url[RC_URL_MAX];
	char cookie_head[COOKIE_HEAD_MAX];
};

/* ---- worker side: stores ---- */

static void quiescent(struct wk *k)
{
	atomic_store(&k->st->epoch, atomic_load(&k->c->epoch));
}

static void held_fail(struct wk *k, struct held *h, const char *what, int rc)
{
	if (!h->failed)
		fprintf(stderr, "ringcap: worker %u: capture into %s stopped, %s: %s; traffic "
			"still flows\n", k->worker, h->s->dir, what, strerror(-rc));
	h->failed = true;
	atomic_store_explicit(&k->st->failed, true, memory_order_relaxed);
}

/* A leaving store whose exchanges have all ended gets its last frame
 * sealed and, once that is written, goes back to the publisher. */
static void held_settle(struct wk *k, struct held *h)
{
	if (h->s == NULL || !h->leaving || h->open > 0)
		return;
	if (!h->sealed && !h->failed) {
		int rc = seg_writer_seal(h->w);
		if (rc < 0)
			held_fail(k, h, "sealing the last frame failed", rc);
	}
	h->sealed = true;
	if (k->io_owner == h || (!h->failed && seg_writer_busy(h->w)))
		return;
	atomic_store(&h->s->done[k->worker], true);
	memset(h, 0, sizeof(*h));
	k->held_gen[h - k->held]++;   /* written and committed: its tickets are durable */
}

/* Follows the policy's store: the current one starts leaving when the
 * policy names another, which is adopted into a free slot. */
static void follow(struct wk *k, const struct pol *p)
{
	struct store *s = p ? p->store : NULL;
	if (k->cur && k->cur->s == s)
		return;
	if (k->cur) {
		k->cur->leaving = true;
		held_settle(k, k->cur);
		k->cur = NULL;
	}
	if (s == NULL)
		return;
	for (unsigned i = 0; i < HELD_MAX; i++) {
		if (k->held[i].s != NULL)
			continue;
		k->held[i] = (struct held){ .s = s, .w = s->w[k->worker] };
		atomic_store(&s->adopted[k->worker], true);
		atomic_store_explicit(&k->st->failed, false, memory_order_relaxed);
		k->cur = &k->held[i];
		return;
	}
	/* every slot still drains an older store: new exchanges are dropped
	 * (counted) until one is free; the next call tries again */
}

static struct pol *policy(struct wk *k)
{
	struct pol *p = atomic_load_explicit(&k->c->cur, memory_order_acquire);
	follow(k, p);
	return p;
}

/* ---- worker side: the sink ---- */

static void *cap_open(void *arg, unsigned worker)
{
	struct rc_capture *c = arg;
	struct wk *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->c = c;
	k->worker = worker;
	k->st = &c->ws[worker];
	for (unsigned i = XH_MAX; i-- > 0;) {
		k->xh[i].next_free = k->free;
		k->free = &k->xh[i];
	}
	quiescent(k);
	return k;
}

static void addr_of(const struct sockaddr_storage *ss, struct seg_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		a->family = 4;
		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		a->family = 6;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
	}
}

/* The absolute URL users see: as sent for plain proxying, rebuilt from
 * the CONNECT host for requests inside an intercepted tunnel. */
static const char *full_url(struct wk *k, const struct eng_xchg *x, size_t *len)
{
	if (!(x->flags & ENG_X_TLS) || x->url_len == 0 || x->url[0] != '/') {
		*len = x->url_len;
		return x->url;
	}
	char port[8] = "";
	if (x->port != 443)
		snprintf(port, sizeof(port), ":%u", x->port);
	int n = snprintf(k->url, sizeof(k->url), "https://%.*s%s%.*s", (int)x->host_len,
			 x->host, port, (int)x->url_len, x->url);
	*len = n < 0 ? 0 : (size_t)n < sizeof(k->url) ? (size_t)n : sizeof(k->url) - 1;
	return k->url;
}

static void count(_Atomic uint64_t *n, uint64_t v)
{
	atomic_fetch_add_explicit(n, v, memory_order_relaxed);
}

static struct xh *xh_get(struct wk *k, struct held *h, const struct pol *p)
{
	struct xh *e = k->free;
	if (e == NULL)
		return NULL;
	k->free = e->next_free;
	*e = (struct xh){ .h = h, .cap = p->p.body_max, .cookies = p->p.cookies,
			  .no_resp = !p->p.save_responses };
	return e;
}

/* A --sync ticket: held slot (2 bits), its generation (22 bits) and the
 * writer's END mark (40 bits: 10^12 exchanges per session and worker);
 * never 0, since marks start at 1. */
#define TICKET_SLOT_SHIFT 62
#define TICKET_GEN_SHIFT 40
#define TICKET_GEN_MASK ((1u << 22) - 1u)
#define TICKET_MARK_MASK ((1ull << TICKET_GEN_SHIFT) - 1u)
_Static_assert(HELD_MAX <= 4u, "a ticket's slot field has 2 bits");

static uint64_t ticket_of(const struct wk *k, const struct held *h, uint64_t mark)
{
	uint64_t i = (uint64_t)(h - k->held);
	uint64_t gen = k->held_gen[i] & TICKET_GEN_MASK;
	ASSERT(mark > 0);
	ASSERT(mark <= TICKET_MARK_MASK);
	return i << TICKET_SLOT_SHIFT | gen << TICKET_GEN_SHIFT | mark;
}

static void xh_put(struct wk *k, struct xh *e)
{
	if (e->db)
		flt_db_unref(e->db);
	e->h->open--;
	held_settle(k, e->h);
	e->next_free = k->free;
	k->free = e;
}

static void fill_begin(struct wk *k, const struct eng_xchg *x, const char *head,
		       size_t head_len, struct seg_xch_begin *b)
{
	*b = (struct seg_xch_begin){
		.start_ns = x->start_ns,
		.scheme = (x->flags & ENG_X_TLS) ? SEG_SCHEME_HTTPS : SEG_SCHEME_HTTP,
		.http_version = (x->flags & ENG_X_H2) ? 20 : (uint8_t)(10 + x->http_minor),
		.port = x->port,
		.method = x->method, .method_len = x->method_len,
		.host = x->host, .host_len = x->host_len,
		.req_head = head, .req_head_len = head_len,
		.client_name = x->client_name, .client_name_len = x->client_name_len,
	};
	/* a CONNECT's kind (and SEG_F_TUNNEL for a blind one) is known at its
	 * end only: tunnel_flags() */
	if (x->method_len == 7 && memcmp(x->method, "CONNECT", 7) == 0)
		b->scheme = SEG_SCHEME_TUNNEL;
	if (x->flags & ENG_X_TLS)
		b->flags |= SEG_F_TLS;
	if (x->flags & ENG_X_H2)
		b->flags |= SEG_F_H2;
	b->url = full_url(k, x, &b->url_len);
	addr_of(&x->client, &b->client);
}

/* Request-head verdict, on the URL the index stores. A worker reserves
 * its scratch for each db it meets (allocates only then). */
static enum flt_verdict verdict(struct wk *k, const struct flt_db *db,
				const struct eng_xchg *x, const char *url, size_t url_len)
{
	if (db == NULL || flt_db_accepts_all(db))
		return FLT_ACCEPT;
	if (k->scratch_db != db) {
		if (flt_scratch_reserve(&k->scratch, db) < 0)
			return FLT_REJECT;   /* never captured unfiltered */
		k->scratch_db = db;
	}
	char m[FLT_METHOD_LEN_MAX + 1] = "";
	if (x->method_len < sizeof(m))   /* longer: no method criterion matches */
		memcpy(m, x->method, x->method_len);
	char name[SEG_CLIENT_NAME_MAX + 1];
	size_t nl = x->client_name_len < sizeof(name) ? x->client_name_len : sizeof(name) - 1;
	if (nl)
		memcpy(name, x->client_name, nl);
	name[nl] = '\0';
	return flt_match_request(db, k->scratch, m, url, url_len,
				 (const struct sockaddr *)&x->client, nl ? name : NULL);
}

/* A pending exchange is decided; a rejected one is discarded from the
 * store (never listed, recovered or rebuilt). true = keep. */
static bool decide(struct wk *k, struct xh *e, bool keep)
{
	flt_db_unref(e->db);
	e->db = NULL;
	if (keep)
		return true;
	seg_xch_discard(e->h->w, e->x);
	e->x = NULL;
	count(&k->st->filtered, 1);
	return false;
}

static void *cap_begin(void *ctx, const struct eng_xchg *x, const char *head, size_t head_len)
{
	struct wk *k = ctx;
	if (k == NULL)
		return NULL;
	const struct pol *p = policy(k);
	if (p == NULL || p->store == NULL || p->p.paused)
		return NULL;
	struct seg_xch_begin b;
	fill_begin(k, x, head, head_len, &b);
	enum flt_verdict v = verdict(k, p->p.filter, x, b.url, b.url_len);
	if (v == FLT_REJECT) {
		count(&k->st->filtered, 1);
		return NULL;
	}
	struct held *h = k->cur;
	struct xh *e = h && !h->failed ? xh_get(k, h, p) : NULL;
	if (e == NULL) {
		count(&k->st->dropped, 1);
		return NULL;
	}
	h->open++;
	if (e->cookies)
		b.flags |= SEG_F_COOKIES;
	if (e->no_resp)
		b.flags |= SEG_F_NO_RESP;
	uint64_t no = atomic_fetch_add_explicit(&p->store->next_number, 1, memory_order_relaxed);
	b.number = no <= UINT32_MAX ? (uint32_t)no : 0;   /* past 2^32: the store's id shows */
	int rc = seg_xch_begin(h->w, &b, &e->x, NULL);
	if (rc < 0) {
		if (rc == -ENOBUFS)
			count(&k->st->dropped, 1);
		else
			held_fail(k, h, "writing failed", rc);
		xh_put(k, e);
		return NULL;
	}
	if (v == FLT_PENDING)
		e->db = flt_db_ref(p->p.filter);
	return e;
}

static bool cap_room(void *ctx, void *hp, size_t n)
{
	struct xh *e = hp;
	(void)ctx;
	return e->h->failed || e->x == NULL || seg_writer_room(e->h->w, n);
}

static void cap_body(void *ctx, void *hp, enum eng_dir dir, const char *p, size_t n)
{
	struct wk *k = ctx;
	struct xh *e = hp;
	unsigned d = dir == ENG_DIR_REQUEST ? SEG_DIR_REQ : SEG_DIR_RESP;
	uint64_t left = e->cap > e->stored[d] ? e->cap - e->stored[d] : 0;
	if (n > left) {
		e->flags |= d == SEG_DIR_REQ ? SEG_F_REQ_TRUNC : SEG_F_RESP_TRUNC;
		n = (size_t)left;
	}
	e->stored[d] += n;
	if (n == 0 || e->h->failed || e->x == NULL)
		return;
	int rc = seg_xch_body(e->h->w, e->x, d, p, n);
	if (rc < 0)
		held_fail(k, e->h, "writing failed", rc);
}

/* Reason phrase and Content-Type from a raw response head. */
static void resp_fields(const char *head, size_t len, const char **reason, size_t *rlen,
			const char **ct, size_t *ctlen)
{
	*reason = "";
	*rlen = 0;
	*ct = "";
	*ctlen = 0;
	const char *eol = memchr(head, '\r', len);
	if (eol && len > 13 && eol > head + 13) {
		*reason = head + 13;   /* "HTTP/1.1 200 " */
		*rlen = (size_t)(eol - *reason);
	}
	for (const char *p = eol; p && p + 14 < head + len;
	     p = memchr(p + 1, '\n', (size_t)(head + len - p - 1))) {
		if (strncasecmp(p + 1, "content-type:", 13) != 0)
			continue;
		const char *v = p + 14, *end = head + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		const char *e = memchr(v, '\r', (size_t)(end - v));
		*ct = v;
		*ctlen = e ? (size_t)(e - v) : 0;
		return;
	}
}

/* Without "save responses", a cookie capture keeps the status line and the
 * Set-Cookie lines of the head, nothing else. Lines that do not fit are
 * left out whole. */
static size_t cookie_head(struct wk *k, const char *head, size_t len)
{
	char *out = k->cookie_head;
	size_t n = 0;
	for (const char *p = head, *end = head + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		bool keep = p == head || (l > 11 && strncasecmp(p, "set-cookie:", 11) == 0);
		if (keep && n + l + 2 <= sizeof(k->cookie_head)) {
			memcpy(out + n, p, l);
			n += l;
		}
		p += l;
	}
	if (n + 2 <= sizeof(k->cookie_head)) {
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	return n;
}

static void cap_response(void *ctx, void *hp, const struct eng_xchg *x, const char *head,
			 size_t head_len)
{
	struct wk *k = ctx;
	struct xh *e = hp;
	if (e->h->failed || e->x == NULL)
		return;
	const char *reason, *ct;
	size_t rlen, ctlen;
	resp_fields(head, head_len, &reason, &rlen, &ct, &ctlen);
	if (e->db && !decide(k, e, flt_match_response(e->db, x->status, ctlen ? ct : NULL,
						     ctlen)))
		return;
	if (e->no_resp) {
		head_len = e->cookies ? cookie_head(k, head, head_len) : 0;
		head = k->cookie_head;
	}
	int rc = seg_xch_resp_head(e->h->w, e->x, x->status, reason, rlen, head, head_len,
				   seg_type_from_mime(ct, ctlen));
	if (rc < 0)
		held_fail(k, e->h, "writing failed", rc);
}

static uint8_t error_of(enum eng_err e)
{
	switch (e) {
	case ENG_ERR_NONE: return SEG_E_NONE;
	case ENG_ERR_DNS: return SEG_E_DNS;
	case ENG_ERR_CONNECT: return SEG_E_CONNECT;
	case ENG_ERR_CONNECT_TIMEOUT:
	case ENG_ERR_UPSTREAM_TIMEOUT:
	case ENG_ERR_HEADER_TIMEOUT: return SEG_E_TIMEOUT;
	case ENG_ERR_TLS_CLIENT:
	case ENG_ERR_TLS_UPSTREAM: return SEG_E_TLS;
	case ENG_ERR_BAD_REQUEST:
	case ENG_ERR_BAD_RESPONSE:
	case ENG_ERR_HEAD_TOO_BIG: return SEG_E_PROTOCOL;
	case ENG_ERR_UPSTREAM_CLOSED: return SEG_E_UPSTREAM_CLOSED;
	case ENG_ERR_CLIENT_CLOSED: return SEG_E_CLIENT_CLOSED;
	case ENG_ERR_CERT_REFUSED: return SEG_E_CERT_REFUSED;
	default: return SEG_E_OTHER;
	}
}

/* What a CONNECT tunnel was, in the store's flags: the kind field, and
 * SEG_F_TUNNEL for a blind one (bytes only, no heads or bodies). */
static uint32_t tunnel_flags(const struct eng_xchg *x)
{
	static const uint8_t kind[] = {
		[ENG_TUN_NONE] = SEG_TUN_UNKNOWN,
		[ENG_TUN_INTERCEPTED] = SEG_TUN_INTERCEPTED,
		[ENG_TUN_PASSTHROUGH] = SEG_TUN_PASSTHROUGH,
		[ENG_TUN_NOT_TLS] = SEG_TUN_NOT_TLS,
		[ENG_TUN_REFUSED] = SEG_TUN_REFUSED,
		[ENG_TUN_BLIND] = SEG_TUN_BLIND,
	};
	/* NONE: not a CONNECT, or one that ended before its tunnel was
	 * decided (refused, failed to connect, client gone during the sniff) */
	if (x->tunnel == ENG_TUN_NONE || x->tunnel >= sizeof(kind))
		return 0;
	uint32_t f = (uint32_t)kind[x->tunnel] << SEG_F_TUN_SHIFT;
	if (x->tunnel == ENG_TUN_PASSTHROUGH || x->tunnel == ENG_TUN_NOT_TLS ||
	    x->tunnel == ENG_TUN_BLIND)
		f |= SEG_F_TUNNEL;
	return f;
}

static void cap_end(void *ctx, void *hp, const struct eng_xchg *x)
{
	struct wk *k = ctx;
	struct xh *e = hp;
	k->ticket = 0;
	/* pending with no response head: the proxy's own answer (502, 504...)
	 * decides, with no Content-Type; no answer at all (the client left
	 * first) discards it */
	if (e->x && e->db)
		decide(k, e, x->status != 0 && flt_match_response(e->db, x->status, NULL, 0));
	if (e->x == NULL) {
		xh_put(k, e);
		return;
	}
	const char *msg = eng_err_name(x->err);
	struct seg_xch_end end = {
		.status = x->status,
		.error = error_of(x->err),
		.flags = e->flags | (x->err ? SEG_F_ERROR : 0) | tunnel_flags(x),
		.t = { .dns_ns = x->dns_ns, .connect_ns = x->connect_ns,
		       .ttfb_ns = x->first_byte_ns, .total_ns = x->end_ns },
		.wire = { x->request_head_bytes, x->request_body_bytes,
			  x->response_head_bytes, x->response_body_bytes },
		.err_msg = x->err ? msg : NULL,
		.err_msg_len = x->err ? strlen(msg) : 0,
	};
	addr_of(&x->server, &end.server);
	int rc = seg_xch_end(e->h->w, e->x, &end);
	if (rc == 0 && k->c->sync)
		k->ticket = ticket_of(k, e->h, seg_writer_ended(e->h->w));
	if (rc == 0)
		count(&k->st->written, 1);
	else if (rc == -ENOBUFS || e->h->failed)
		count(&k->st->dropped, 1);
	else
		held_fail(k, e->h, "writing failed", rc);
	xh_put(k, e);
}

_Static_assert(ENG_WS_FIRST == SEG_MSG_F_FIRST, "piece flags pass through");
_Static_assert(ENG_WS_LAST == SEG_MSG_F_LAST, "piece flags pass through");
_Static_assert(ENG_WS_CUT == SEG_MSG_F_CUT, "piece flags pass through");
_Static_assert(ENG_WS_DEFLATED == SEG_MSG_F_DEFLATED, "piece flags pass through");

/* Whether a message beginning now is captured: not while the session is
 * paused, nor once the policy names another store (or none). */
static bool msg_wanted(struct wk *k, const struct xh *e)
{
	const struct pol *p = policy(k);
	return p != NULL && !p->p.paused && p->store == e->h->s;
}

/* A piece of a WebSocket message of a captured exchange: its payload is
 * stored up to the body cap per message (--max-body), a server message's
 * not at all without "save responses" (direction, time, opcode and length
 * are), and the rest flagged cut. The exchange's filter verdict covers its
 * messages (a discarded exchange has no e->x); a message that begins while
 * the session is paused is left out whole. Pieces never wait for room (a
 * tunnel is not slowed for capture): when the writer has no room to spare
 * (seg_writer_room) the rest of the message is not stored, and it is
 * flagged cut. */
static void cap_ws_msg(void *ctx, void *hp, const struct eng_ws_msg *m, const char *p, size_t n)
{
	struct wk *k = ctx;
	struct xh *e = hp;
	if (e->h->failed || e->x == NULL)
		return;
	unsigned d = m->dir == ENG_DIR_REQUEST ? SEG_DIR_REQ : SEG_DIR_RESP;
	bool control = m->opcode >= 8;
	uint64_t ctl_stored = 0, *stored = control ? &ctl_stored : &e->msg_stored[d];
	bool ctl_cut = false, *cutp = control ? &ctl_cut : &e->msg_cut[d];
	bool ctl_skip = false, *skip = control ? &ctl_skip : &e->msg_skip[d];
	if (m->flags & ENG_WS_FIRST) {
		*stored = 0;
		*cutp = false;
		*skip = !msg_wanted(k, e);
	}
	if (*skip)
		return;
	uint64_t left = e->cap > *stored ? e->cap - *stored : 0;
	if (*cutp || (d == SEG_DIR_RESP && e->no_resp))
		left = 0;   /* once cut, nothing more: a stored payload has no gap */
	if (n > left) {
		n = (size_t)left;
		*cutp = true;
	}
	if (n > 0 && !seg_writer_room(e->h->w, n)) {
		n = 0;      /* leave the room other exchanges' heads and ends need */
		*cutp = true;
	}
	*stored += n;
	uint8_t flags = (uint8_t)(m->flags & SEG_MSG_F_ALL) | (*cutp ? SEG_MSG_F_CUT : 0u);
	if (n == 0 && !(flags & (SEG_MSG_F_FIRST | SEG_MSG_F_LAST)))
		return;   /* nothing to store; LAST carries the cut */
	struct seg_msg_piece pc = { .dir = (uint8_t)d, .opcode = m->opcode, .flags = flags,
				    .start_ns = m->start_ns, .len = m->len,
				    .wire_len = m->wire_len };
	int rc = seg_xch_msg(e->h->w, e->x, &pc, p, n);
	if (rc < 0)
		held_fail(k, e->h, "writing failed", rc);
}

/* A trailer section (gRPC's grpc-status, a chunked body's trailer
 * fields), stored with its exchange: the filter's verdict covers it as it
 * covers the heads, and "save responses" off leaves the response's out. */
static void cap_trailers(void *ctx, void *hp, enum eng_dir dir, const char *p, size_t n,
			 size_t wire_len)
{
	struct wk *k = ctx;
	struct xh *e = hp;
	unsigned d = dir == ENG_DIR_REQUEST ? SEG_DIR_REQ : SEG_DIR_RESP;
	if (e->h->failed || e->x == NULL || (d == SEG_DIR_RESP && e->no_resp))
		return;
	int rc = seg_xch_trailers(e->h->w, e->x, d, p, n, wire_len);
	if (rc < 0)
		held_fail(k, e->h, "writing failed", rc);
}

/* The next write of any held store; leaving ones first, so that they go
 * back to the publisher soon. */
static bool cap_next_io(void *ctx, struct eng_sink_io *io)
{
	struct wk *k = ctx;
	if (k == NULL)
		return false;
	quiescent(k);
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < HELD_MAX; i++) {
			struct held *h = &k->held[i];
			if (h->s == NULL || h->failed || h->leaving != (pass == 0))
				continue;
			const struct seg_io *s = seg_writer_next_io(h->w);
			if (s == NULL)
				continue;
			*io = (struct eng_sink_io){ .fd = s->fd, .fsync = s->fsync, .buf = s->buf,
						    .len = s->len, .off = s->off, .path = s->path,
						    .open_flags = s->open_flags,
						    .open_mode = s->open_mode };
			k->io_owner = h;
			k->io_open = s->path != NULL;
			return true;
		}
	}
	return false;
}

/* Frames w stored raw since the last write because the zstd budget was
 * spent (run --zstd-budget), counted once each for /metrics. */
static void count_over_budget(struct wk *k, struct held *h)
{
	struct seg_writer_stats st;
	seg_writer_get_stats(h->w, &st);
	if (st.frames_over_budget > h->over_budget) {
		count(&k->st->over_budget, st.frames_over_budget - h->over_budget);
		h->over_budget = st.frames_over_budget;
	}
}

static void cap_io_done(void *ctx, int res)
{
	struct wk *k = ctx;
	struct held *h = k->io_owner;
	k->io_owner = NULL;
	if (h == NULL || h->s == NULL)
		return;
	seg_writer_io_done(h->w, res);
	if (res > 0 && !k->io_open) { /* an open's res is an fd the writer keeps */
		count(&k->st->bytes, (uint64_t)res);
		count_over_budget(k, h);
	} else if (res < 0) {
		held_fail(k, h, "a segment write failed", res);
	}
	held_settle(k, h);
}

static void cap_tick(void *ctx, uint64_t now)
{
	struct wk *k = ctx;
	if (k == NULL)
		return;
	quiescent(k);
	policy(k);   /* an idle worker leaves a store it no longer captures into */
	for (unsigned i = 0; i < HELD_MAX; i++) {
		struct held *h = &k->held[i];
		if (h->s == NULL)
			continue;
		if (!h->failed) {
			int rc = seg_writer_tick(h->w, now);
			if (rc < 0)
				held_fail(k, h, "a timed flush failed", rc);
		}
		held_settle(k, h);
	}
}

/* Worker exit: everything still held is flushed with plain writes (the
 * ring is gone) and handed back. */
static void cap_close(void *ctx)
{
	struct wk *k = ctx;
	if (k == NULL)
		return;
	for (unsigned i = 0; i < HELD_MAX; i++) {
		struct held *h = &k->held[i];
		if (h->s == NULL)
			continue;
		if (!h->failed) {
			int rc = seg_writer_flush_sync(h->w);
			if (rc < 0)
				held_fail(k, h, "the final flush failed", rc);
		}
		atomic_store(&h->s->done[k->worker], true);
	}
	uint64_t dropped = atomic_load_explicit(&k->st->dropped, memory_order_relaxed);
	if (dropped)
		fprintf(stderr, "ringcap: worker %u: %llu exchanges not captured (store full or "
			"failed)\n", k->worker, (unsigned long long)dropped);
	atomic_store(&k->st->epoch, OFFLINE);
	flt_scratch_free(k->scratch);
	free(k);
}

static uint64_t cap_ticket(void *ctx)
{
	struct wk *k = ctx;
	if (k == NULL)
		return 0;
	uint64_t t = k->ticket;
	k->ticket = 0;
	return t;
}

static bool cap_durable(void *ctx, uint64_t t)
{
	struct wk *k = ctx;
	unsigned i = (unsigned)(t >> TICKET_SLOT_SHIFT);
	uint32_t gen = (uint32_t)(t >> TICKET_GEN_SHIFT) & TICKET_GEN_MASK;
	if (k == NULL || NEVER(i >= HELD_MAX))
		return true;
	struct held *h = &k->held[i];
	if ((k->held_gen[i] & TICKET_GEN_MASK) != gen || h->s == NULL || h->failed)
		return true;   /* handed back once committed, or failed: never will be */
	return seg_writer_durable(h->w, t & TICKET_MARK_MASK);
}

const struct eng_sink_ops rc_capture_ops = {
	.open = cap_open,
	.begin = cap_begin,
	.body = cap_body,
	.room = cap_room,
	.response = cap_response,
	.end = cap_end,
	.next_io = cap_next_io,
	.io_done = cap_io_done,
	.tick = cap_tick,
	.close = cap_close,
	.ticket = cap_ticket,
	.durable = cap_durable,
	.ws_msg = cap_ws_msg,
	.trailers = cap_trailers,
};

