/*
 * engine/h2-resp.c - HTTP/1.1 answers back into HTTP/2 (engine/h2.c has the
 * connection and the design): the response the proxy queues on a stream
 * socket is parsed (head, chunked framing, trailers) and handed to nghttp2
 * as HEADERS, DATA and trailing HEADERS, moving only as the client's window
 * asks for it. Hop-by-hop fields are dropped. Runs on worker threads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "tls/tls.h"
#include "engine/px.h"
#include "engine/h2-int.h"
#include "engine/px-exchange.h"
#include "engine/sock.h"
#include "rc-assert.h"

/* ---- response: the stream's HTTP/1.1 answer -> HEADERS and DATA ---- */

/* A piece of a response trailer field (h1_parser.on_trailer). */
static void trailer_piece(void *arg, int value, const char *at, size_t n)
{
	struct h2_strm *st = arg;
	struct eng_worker *w = px_cur_w;
	if (st->tbad)
		return;
	if (st->tbuf == ENG_NONE && (st->tbuf = eng_head_get(w)) == ENG_NONE) {
		st->tbad = 1;
		return;
	}
	char *b = eng_head_ptr(w, st->tbuf);
	uint8_t kind = value ? 2 : 1;
	bool fresh = st->tlast != kind;
	if (fresh && st->tlast != 0)
		st->tlen++;   /* ends the previous part with its NUL */
	if (st->tlen + n + 2 > w->head_size) {
		st->tbad = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		b[st->tlen + i] = (!value && at[i] >= 'A' && at[i] <= 'Z') ? (char)(at[i] + 32) : at[i];
	st->tlen += (uint32_t)n;
	b[st->tlen] = '\0';
	st->tlast = kind;
}

/* Submits the collected response trailers; true when there were any. */
static bool submit_trailers(struct eng_h2 *h, struct h2_strm *st)
{
	if (st->tbuf == ENG_NONE)
		return false;
	char *b = eng_head_ptr(h->w, st->tbuf);
	uint32_t end = st->tlen + (st->tlast ? 1u : 0u);
	size_t n = 0;
	for (uint32_t off = 0; off < end && n < h->w->e->cfg.max_headers;) {
		const char *name = b + off;
		size_t nl = strlen(name);
		if (off + nl + 1 >= end)
			break;
		const char *value = name + nl + 1;
		size_t vl = strlen(value);
		while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
			vl--;
		if (!st->tbad && !h2_conn_specific(name, nl))
			h->nv[n++] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, nl, vl,
						   NGHTTP2_NV_FLAG_NONE };
		off += (uint32_t)(nl + 1 + strlen(value) + 1);
	}
	int rv = n ? nghttp2_submit_trailer(h->sess, st->sid, h->nv, n) : -1;
	eng_head_put(h->w, st->tbuf);
	st->tbuf = ENG_NONE;
	return rv == 0;
}

/* h1_parser.on_body during read_body: copies into nghttp2's buffer, or
 * only counts when the frame goes out NO_COPY (st->dst NULL). */
static void copy_body(void *arg, const char *at, size_t n)
{
	struct h2_strm *st = arg;
	if (st->dst != NULL)
		memcpy(st->dst + st->dst_len, at, n);
	st->dst_len += n;
}

/* True when the stream's exchange is over and its queue holds nothing
 * more: what was queued was the whole answer. */
static bool answer_over(const struct h2_strm *st, const struct eng_sock *s)
{
	return s->out.n == 0 && s->x == NULL &&
	       ((st->flags & H2_ST_LINGER) || s->state == C_IDLE || s->state == C_LINGER);
}

/* Parses up to length body bytes off the front of the stream socket's
 * queue. Chunked: the body is copied into buf and the queue advanced.
 * Otherwise body bytes are the queue's bytes: they are only counted, left
 * queued for h2_send_data, and *nocopy is set. Returns the body bytes,
 * or -1 when the answer is malformed. */
static long take_body(struct eng_h2 *h, struct h2_strm *st, struct eng_sock *s, uint8_t *buf,
		      size_t length, bool *nocopy)
{
	bool nc = !st->rp.chunked;
	size_t queued = 0;   /* bytes parsed and left queued (nocopy) */
	st->dst = nc ? NULL : buf;
	st->dst_len = 0;
	for (unsigned i = 0; i < 2 * ENG_OUTQ_SEGS && !st->rp.done; i++) {
		if (nc ? i >= s->out.n : s->out.n == 0)
			break;
		struct eng_seg *g = eng_outq_at(&s->out, nc ? i : 0);
		size_t take = g->len < length - st->dst_len ? g->len : length - st->dst_len;
		if (take == 0 && g->len > 0)
			break;
		const char *why = NULL;
		long n = h1_parse_body(&st->rp, g->p, take, &why);
		if (n < 0)
			return -1;
		if (nc) {
			queued += (size_t)n;
			if ((size_t)n < g->len)
				break;   /* the frame or the message is full */
			continue;
		}
		eng_outq_advance(&h->w->bufs, &s->out, (size_t)n);
		st->flags |= H2_ST_DRAINED;
		if (n == 0 && !st->rp.done)
			break;
	}
	st->dst = NULL;
	/* a plain body is the bytes as queued: anything else is our bug, and
	 * the stream is reset rather than sent wrong */
	if (nc && queued != st->dst_len)
		return -1;
	*nocopy = nc && st->dst_len > 0;
	return (long)st->dst_len;
}

static ssize_t read_body(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *src, void *ud)
{
	struct eng_h2 *h = ud;
	struct h2_strm *st = src->ptr;
	struct eng_sock *s = h2_sock_of(h, st);
	(void)sess, (void)sid;
	if (s == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* reset */
	bool nocopy = false;
	if (take_body(h, st, s, buf, length, &nocopy) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (nocopy)
		*data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	bool eof = st->rp.done;
	if (!eof && answer_over(st, s)) {
		const char *why = NULL;
		if (h1_parse_eof(&st->rp, &why) < 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* cut short */
		eof = true;
	}
	if (eof) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		if (submit_trailers(h, st))
			*data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;   /* trailers end it */
		st->flags |= H2_ST_EOF;
		return (ssize_t)st->dst_len;
	}
	if (st->dst_len == 0) {
		st->flags |= H2_ST_DEFERRED;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)st->dst_len;
}

int h2_send_data(nghttp2_session *sess, nghttp2_frame *frame, const uint8_t *framehd,
		 size_t length, nghttp2_data_source *src, void *ud)
{
	struct eng_h2 *h = ud;
	struct h2_strm *st = src->ptr;
	(void)sess;
	ASSERT(frame->data.padlen == 0);   /* no padding callback is set */
	if (eng_out_full(h2_conn_of(h)))
		return NGHTTP2_ERR_WOULDBLOCK;   /* mem_send offers it again */
	/* after a WOULDBLOCK the client may have reset the stream and its
	 * entry gone to another one: never send that one's bytes */
	if (!(st->flags & H2_ST_USED) || st->sid != frame->hd.stream_id)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	struct eng_sock *s = h2_sock_of(h, st);
	if (s == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* its bytes are gone: reset */
	size_t queued = 0;
	for (unsigned i = 0; i < s->out.n && queued < length; i++)
		queued += eng_outq_at(&s->out, i)->len;
	if (queued < length)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* the queue was cut meanwhile */
	if (!h2_out_append(h, framehd, 9))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	size_t left = length;
	for (unsigned i = 0; i < ENG_OUTQ_SEGS && left > 0 && s->out.n > 0; i++) {
		struct eng_seg *g = eng_outq_at(&s->out, 0);
		size_t take = g->len < left ? g->len : left;
		if (!h2_out_append(h, g->p, take))
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		eng_outq_advance(&h->w->bufs, &s->out, take);
		left -= take;
	}
	ASSERT(left == 0);   /* checked above */
	st->flags |= H2_ST_DRAINED;
	return 0;
}

/* Hop-by-hop in HTTP/1.1, forbidden in HTTP/2 (RFC 9113 8.2.2). */
bool h2_conn_specific(const char *n, size_t len)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "transfer-encoding", "upgrade", "te" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len == strlen(names[i]) && strncasecmp(n, names[i], len) == 0)
			return true;
	return false;
}

/* Builds the nv list of a parsed HTTP/1.1 response head; names are
 * lower-cased into lc (a head buffer). Returns the count. */
static size_t response_nv(struct eng_h2 *h, struct h2_strm *st, const struct h1_msg *m,
			  char *lc)
{
	snprintf(st->status, sizeof(st->status), "%03u", m->status % 1000u);
	h->nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st->status, 7, 3,
				 NGHTTP2_NV_FLAG_NO_COPY_NAME };
	size_t n = 1, used = 0;
	for (unsigned i = 0; i < m->nhdr && n < h->w->e->cfg.max_headers + 1u; i++) {
		const struct h1_hdr *f = &m->hdr[i];
		const char *name = m->base + f->name_off;
		if (h2_conn_specific(name, f->name_len))
			continue;
		for (uint32_t k = 0; k < f->name_len; k++) {
			char c = name[k];
			lc[used + k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		h->nv[n++] = (nghttp2_nv){ (uint8_t *)lc + used, (uint8_t *)m->base + f->value_off,
					   f->name_len, f->value_len, NGHTTP2_NV_FLAG_NONE };
		used += f->name_len;
	}
	return n;
}

/* Submits the response heads queued on the stream socket (1xx ones as
 * informational HEADERS). false: the stream was reset. */
static bool submit_heads(struct eng_h2 *h, struct h2_strm *st, struct eng_sock *s)
{
	struct eng_worker *w = h->w;
	for (unsigned i = 0; i < 4 && s->out.n > 0 && !(st->flags & H2_ST_RESP); i++) {
		struct eng_seg *g = eng_outq_at(&s->out, 0);
		struct h1_scan sc = {0};
		const char *why = NULL;
		int hl = h1_scan(&sc, g->p, g->len, w->e->cfg.max_headers + 1, &why);
		struct h1_msg m = { .hdr = w->hdrs, .hdr_cap = w->e->cfg.max_headers };
		h1_parser_init(&st->rp, true, copy_body, st);
		st->rp.on_trailer = trailer_piece;
		st->rp.skip_body = (st->flags & H2_ST_HEAD_REQ) != 0;
		uint32_t lc = eng_head_get(w);
		if (hl <= 0 || lc == ENG_NONE ||
		    h1_parse_head(&st->rp, &m, g->p, (size_t)hl, &why) < 0) {
			if (lc != ENG_NONE)
				eng_head_put(w, lc);
			h2_rst(h, st, NGHTTP2_INTERNAL_ERROR);
			return false;
		}
		size_t n = response_nv(h, st, &m, eng_head_ptr(w, lc));
		bool interim = m.status >= 100 && m.status < 200;
		int rv;
		if (interim) {
			rv = nghttp2_submit_headers(h->sess, NGHTTP2_FLAG_NONE, st->sid, NULL,
						    h->nv, n, NULL);
		} else {
			nghttp2_data_provider dp = { .source.ptr = st, .read_callback = read_body };
			bool body = !st->rp.done || (size_t)hl < g->len || s->out.n > 1 ||
				    !answer_over(st, s);
			rv = nghttp2_submit_response(h->sess, st->sid, h->nv, n, body ? &dp : NULL);
			st->flags |= H2_ST_RESP | (body ? 0 : H2_ST_EOF);
		}
		eng_head_put(w, lc);   /* nghttp2 copied the fields */
		eng_outq_advance(&w->bufs, &s->out, (size_t)hl);
		st->flags |= H2_ST_DRAINED;
		if (rv != 0) {
			h2_rst(h, st, NGHTTP2_INTERNAL_ERROR);
			return false;
		}
	}
	return true;
}

/* Response bytes arrived on the stream socket. */
void h2_stream_out(struct eng_h2 *h, struct h2_strm *st)
{
	struct eng_sock *s = h2_sock_of(h, st);
	if (s == NULL || (st->flags & H2_ST_EOF))
		return;
	if (!(st->flags & H2_ST_RESP) && !submit_heads(h, st, s))
		return;
	/* eng_flush reaches a stream socket far more often than bytes arrive
	 * (every pump of its exchange): resuming a stream with nothing to read
	 * costs a resume, a mem_send and a deferred read_body each time, ~20
	 * per 64 KiB answer. Resume only when read_body has something to do. */
	if (st->flags & H2_ST_DEFERRED && (s->out.n > 0 || st->rp.done || answer_over(st, s))) {
		st->flags &= ~H2_ST_DEFERRED;
		nghttp2_session_resume_data(h->sess, st->sid);
	}
}
