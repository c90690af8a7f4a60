/* persist/open.c: opening an exchange (decompressing only the frames from
 * its BEGIN to its END); persist/heal.c finds it (index scans that heal,
 * seg_find). An exchange whose frame range holds a damaged frame is
 * refused (-EBADMSG): a missing body chunk would otherwise come back as
 * silently wrong bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/reader-int.h"
#include "persist/ses.h"

static char *dupn(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static int on_begin(struct seg_exchange *x, const uint8_t *q)
{
	x->start_ns = seg_get64(q);
	x->flags |= seg_get32(q + 12) & ~SEG_F_LAYOUT; /* a layout fact, not the exchange's */
	memcpy(x->client.addr, q + 16, 16);
	x->client.port = seg_get16(q + 32);
	x->client.family = q[34];
	x->scheme = q[35];
	x->http_version = q[36];
	x->method = q[37];
	x->port = seg_get16(q + 38);
	x->number = seg_get32(q + 52);
	size_t l[5] = { seg_get16(q + 40), seg_get16(q + 42), seg_get16(q + 44),
			seg_get16(q + 46), seg_get32(q + 48) };
	const uint8_t *p = q + SEG_BEGIN_FIXED;
	char **dst[4] = { &x->method_text, &x->host, &x->url, &x->client_name };
	for (int i = 0; i < 4; i++) {
		free(*dst[i]);
		*dst[i] = dupn(p, l[i]);
		if (!*dst[i])
			return -ENOMEM;
		p += l[i];
	}
	free(x->req_head);
	x->req_head = (uint8_t *)dupn(p, l[4]);
	x->req_head_len = l[4];
	return x->req_head ? 0 : -ENOMEM;
}

static int on_resp_head(struct seg_exchange *x, const uint8_t *q)
{
	x->status = seg_get16(q);
	x->type = q[2];
	size_t rl = seg_get16(q + 4), hl = seg_get32(q + 8);
	free(x->reason);
	free(x->resp_head);
	x->reason = dupn(q + SEG_RESP_FIXED, rl);
	x->resp_head = (uint8_t *)dupn(q + SEG_RESP_FIXED + rl, hl);
	x->resp_head_len = hl;
	return (x->reason && x->resp_head) ? 0 : -ENOMEM;
}

/* The server address of an END payload that seg_rec_parse accepted (its
 * family is 0, 4 or 6, and an IPv6 address follows the error message). */
static void end_server(struct seg_exchange *x, const uint8_t *q)
{
	memset(&x->server, 0, sizeof(x->server));
	x->server.family = q[82];
	if (q[82] == 4)
		memcpy(x->server.addr, q + 84, 4);
	else if (q[82] == 6)
		memcpy(x->server.addr, q + SEG_END_FIXED + seg_get16(q + 80), 16);
	if (q[82])
		x->server.port = seg_get16(q + 134);
}

static int on_end(struct seg_exchange *x, const uint8_t *q)
{
	x->status = seg_get16(q);
	x->type = q[2];
	x->error = q[3];
	x->flags |= seg_get32(q + 4) & ~SEG_F_LAYOUT;
	uint64_t *tv[9] = { &x->t.dns_ns, &x->t.connect_ns, &x->t.tls_ns, &x->t.ttfb_ns,
			    &x->t.total_ns, &x->wire.req_head, &x->wire.req_body,
			    &x->wire.resp_head, &x->wire.resp_body };
	for (int i = 0; i < 9; i++)
		*tv[i] = seg_get64(q + 8 + 8 * i);
	free(x->err_msg);
	x->err_msg = dupn(q + SEG_END_FIXED, seg_get16(q + 80));
	end_server(x, q);
	x->complete = true;
	for (size_t i = 0; i < x->nmsgs; i++)
		if (!x->msgs[i].complete)
			x->msgs[i].cut = true;   /* the tunnel ended before its LAST */
	return x->err_msg ? 0 : -ENOMEM;
}

/* A TRAILERS record (segment.c): the direction's trailer block. */
static int on_trailers(struct seg_exchange *x, const uint8_t *q, size_t len)
{
	uint8_t d = q[0];
	size_t n = len - SEG_TRAILERS_FIXED;
	free(x->trailers[d]);
	x->trailers[d] = (uint8_t *)dupn(q + SEG_TRAILERS_FIXED, n);
	x->trailers_len[d] = n;
	x->trailers_wire_len[d] = seg_get32(q + 4);
	return x->trailers[d] ? 0 : -ENOMEM;
}

static int on_body(struct seg_exchange *x, const struct seg_open_opts *o, enum seg_dir d,
		   const uint8_t *p, size_t n)
{
	if (o && o->on_body)
		return o->on_body(o->ctx, d, p, n);
	size_t max = o ? o->body_max[d] : 0;
	size_t k = n;
	if (x->body_len[d] + k > max) {
		k = max - x->body_len[d];
		x->body_cut[d] = true;
	}
	if (k == 0)
		return 0;
	uint8_t *nb = realloc(x->body[d], x->body_len[d] + k);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + x->body_len[d], p, k);
	x->body[d] = nb;
	x->body_len[d] += k;
	return 0;
}

/* The data message of direction d still waiting for its LAST, or NULL. */
static struct seg_msg *open_msg(struct seg_exchange *x, uint8_t d)
{
	for (size_t i = x->nmsgs; i > 0; i--) {
		struct seg_msg *m = &x->msgs[i - 1];
		if (m->dir == d && m->opcode < 8)
			return m->complete ? NULL : m;
	}
	return NULL;
}

static struct seg_msg *new_msg(struct seg_exchange *x, const struct seg_open_opts *o)
{
	if (x->nmsgs >= o->msgs_max) {
		x->msgs_cut = true;
		return NULL;
	}
	if ((x->nmsgs & (x->nmsgs - 1)) == 0) {   /* 0, 1, 2, 4...: grow to double */
		size_t cap = x->nmsgs < 4 ? 4 : 2 * x->nmsgs;
		struct seg_msg *nm = realloc(x->msgs, cap * sizeof(*nm));
		if (nm == NULL)
			return NULL;
		x->msgs = nm;
	}
	struct seg_msg *m = &x->msgs[x->nmsgs++];
	memset(m, 0, sizeof(*m));
	return m;
}

/* A MSG record (segment.c): joins pieces into x->msgs. */
static int on_msg(struct seg_exchange *x, const struct seg_open_opts *o, const uint8_t *q,
		  size_t len)
{
	if (o == NULL || o->msgs_max == 0)
		return 0;
	uint8_t d = q[0], op = q[1], fl = q[2];
	struct seg_msg *m = op < 8 ? open_msg(x, d) : NULL;
	if (m && ((fl & SEG_MSG_F_FIRST) || m->opcode != op)) {
		m->cut = m->complete = true;   /* its LAST was lost */
		m = NULL;
	}
	if (m == NULL) {
		m = new_msg(x, o);
		if (m == NULL)
			return x->msgs_cut ? 0 : -ENOMEM;
		m->dir = d;
		m->opcode = op;
		m->start_ns = seg_get64(q + 8);
		m->deflated = (fl & SEG_MSG_F_DEFLATED) != 0;
		m->cut = !(fl & SEG_MSG_F_FIRST);   /* its first piece was lost */
	}
	m->cut |= (fl & SEG_MSG_F_CUT) != 0;
	m->len = seg_get64(q + 16);
	m->wire_len = seg_get64(q + 24);
	m->complete = (fl & SEG_MSG_F_LAST) != 0;
	size_t n = len - SEG_MSG_FIXED, max = o->body_max[d];
	if (m->data_len + n > max) {
		n = max > m->data_len ? max - m->data_len : 0;
		m->cut = true;
	}
	if (n == 0)
		return 0;
	uint8_t *nb = realloc(m->data, m->data_len + n);
	if (nb == NULL)
		return -ENOMEM;
	memcpy(nb + m->data_len, q + SEG_MSG_FIXED, n);
	m->data = nb;
	m->data_len += n;
	return 0;
}

/* Where the BEGIN of an exchange was found in a frame. A frame holds one
 * worker's records in the order they were written and ids are given at
 * BEGIN, so the BEGIN of a greater id lies further on: opening exchanges
 * one after the other starts there instead of at the frame's first record
 * (reading each frame from its start made opening an exchange cost the
 * records before it: a third of the CPU of `ringcap ship`). */
struct begin_hint {
	uint64_t frame_off, id;
	uint32_t pos, i;
	bool set;
};

/* Applies the records of one valid frame that belong to x->id, from
 * record i at pos on; a BEGIN found is noted in h (may be NULL). */
static int scan_frame(struct seg_exchange *x, const struct seg_open_opts *o,
		      const struct seg_fiter *it, bool *began, uint32_t pos, uint32_t i,
		      struct begin_hint *h)
{
	int rc = 0;
	for (; i < it->h.nrec && rc == 0 && !x->complete; i++) {
		/* Another exchange's record is stepped over by its header: the
		 * frame's records were all checked when it was decompressed. */
		if (it->h.ulen - pos < SEG_REC_HDR)
			return -EBADMSG; /* validated by the iterator: our bug */
		if (seg_get64(it->ubuf + pos + 8) != x->id) {
			uint32_t len = seg_get32(it->ubuf + pos + 4);
			if (len > it->h.ulen - pos - SEG_REC_HDR)
				return -EBADMSG;
			pos += SEG_REC_HDR + len;
			continue;
		}
		uint32_t at = pos;
		struct seg_rec_view r;
		if (seg_rec_parse(it->ubuf, it->h.ulen, &pos, &r) < 0)
			return -EBADMSG; /* validated by the iterator: our bug */
		if (r.id != x->id || (!*began && r.type != SEG_R_BEGIN))
			continue;
		if (r.type == SEG_R_BEGIN && h)
			*h = (struct begin_hint){ it->frame_off, x->id, at, i, true };
		switch (r.type) {
		case SEG_R_BEGIN: rc = on_begin(x, r.p); *began = true; break;
		case SEG_R_REQ_BODY: rc = on_body(x, o, SEG_DIR_REQ, r.p, r.len); break;
		case SEG_R_RESP_HEAD: rc = on_resp_head(x, r.p); break;
		case SEG_R_RESP_BODY: rc = on_body(x, o, SEG_DIR_RESP, r.p, r.len); break;
		case SEG_R_END: rc = on_end(x, r.p); break;
		case SEG_R_MSG: rc = on_msg(x, o, r.p, r.len); break;
		case SEG_R_TRAILERS: rc = on_trailers(x, r.p, r.len); break;
		default: break;
		}
	}
	return rc;
}

/* Applies the records of one valid frame that belong to x->id, starting
 * after the hint's BEGIN when x's BEGIN must lie beyond it; if it is not
 * there after all (ids out of order), from the start again. */
static int apply_frame(struct seg_exchange *x, const struct seg_open_opts *o,
		       const struct seg_fiter *it, bool *began, struct begin_hint *h)
{
	bool skip = h && !*began && h->set && h->frame_off == it->frame_off && x->id > h->id;
	int rc = scan_frame(x, o, it, began, skip ? h->pos : 0, skip ? h->i : 0,
			    *began ? NULL : h);
	if (rc == 0 && skip && !*began)
		rc = scan_frame(x, o, it, began, 0, 0, h);
	return rc;
}

struct seg_open_cache {
	char path[PATH_MAX];
	struct seg_fiter it;
	struct seg_report rep;
	bool open, have; /* have: it->ubuf holds the valid frame at it->frame_off */
	uint64_t cur_next; /* the offset after it->frame_off's frame */
	/* The valid frame the iterator held before its current one (buffer
	 * swapped, not copied). Exchanges in flight at a flush begin in one
	 * frame and end in the next; in END order they alternate with ones
	 * wholly in the next, so a one-frame cache decompressed the earlier
	 * frame again for each (a live capture's follower: 39% in zstd). */
	uint8_t *prev;
	uint32_t prev_cap;
	struct seg_frame_hdr prev_h;
	uint64_t prev_off, prev_next;
	bool have_prev;
	struct begin_hint hint[2]; /* for the current and the previous frame */
	unsigned hint_next;        /* the slot a third frame takes */
};

/* The cache's BEGIN hint for the frame at frame_off (a reset slot when it
 * has none); NULL without a cache. */
static struct begin_hint *hint_of(struct seg_open_cache *c, uint64_t frame_off)
{
	if (c == NULL)
		return NULL;
	for (int k = 0; k < 2; k++)
		if (c->hint[k].set && c->hint[k].frame_off == frame_off)
			return &c->hint[k];
	struct begin_hint *h = &c->hint[c->hint_next];
	c->hint_next ^= 1;
	*h = (struct begin_hint){ .frame_off = frame_off };
	return h;
}

int seg_open_cache_new(struct seg_open_cache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void seg_open_cache_free(struct seg_open_cache *c)
{
	if (c && c->open)
		seg_fiter_close(&c->it);
	if (c)
		free(c->prev);
	free(c);
}

/* The iterator for path: the cache's when it already holds that file (its
 * size refreshed: a live segment grows), else a newly opened one. */
static int span_iter(struct seg_open_cache *c, const char *path, struct seg_fiter *local,
		     struct seg_report *rep, struct seg_fiter **it)
{
	struct stat sb;
	if (c && c->open && strcmp(c->path, path) == 0 && fstat(c->it.fd, &sb) == 0) {
		c->it.size = (uint64_t)sb.st_size;
		*it = &c->it;
		return 0;
	}
	if (c && c->open)
		seg_fiter_close(&c->it);
	if (c) {
		c->open = c->have = c->have_prev = false;
		memset(&c->rep, 0, sizeof(c->rep));
		memset(c->hint, 0, sizeof(c->hint));
	}
	*it = c ? &c->it : local;
	int rc = seg_fiter_open(*it, path, false, c ? &c->rep : rep);
	if (rc == 0 && c) {
		c->open = true;
		snprintf(c->path, sizeof(c->path), "%s", path);
	}
	return rc;
}

/* The iterator's next frame (seg_fiter_next). With a cache, the valid
 * frame it held becomes the previous one. */
static int advance(struct seg_open_cache *c, struct seg_fiter *it)
{
	if (c && c->have) {
		uint8_t *b = c->prev;
		uint32_t cap = c->prev_cap;
		c->prev = it->ubuf;
		c->prev_cap = it->ubuf_cap;
		it->ubuf = b;
		it->ubuf_cap = cap;
		c->prev_h = it->h;
		c->prev_off = it->frame_off;
		c->prev_next = c->cur_next;
		c->have_prev = true;
		c->have = false;
	}
	int rc = seg_fiter_next(it);
	if (c && rc == 1)
		c->cur_next = it->off;
	return rc;
}

/* Applies the cache's previous frame (at off) to x, and points the
 * iterator at the frame after it: 0 or apply_frame's error. */
static int apply_prev(struct seg_open_cache *c, struct seg_fiter *it,
		      const struct seg_open_opts *o, struct seg_exchange *x, bool *began,
		      bool *cached)
{
	struct seg_fiter pv = *it; /* a view: apply_frame reads ubuf and h only */
	pv.ubuf = c->prev;
	pv.h = c->prev_h;
	pv.frame_off = c->prev_off;
	int rc = apply_frame(x, o, &pv, began, *began ? NULL : hint_of(c, c->prev_off));
	*cached = c->have && it->frame_off == c->prev_next;
	if (!*cached)
		it->off = c->prev_next;
	return rc;
}

/* Reads frames of one segment from off until x is complete or, in the
 * END segment, past last_off. With a cache, the frame already decompressed
 * at off (the current one or the one before it) is used as it is. */
static int read_span(const char *dir, const struct seg_entry *e, uint32_t segno, uint64_t off,
		     bool last_seg, const struct seg_open_opts *o, struct seg_exchange *x,
		     bool *began)
{
	char path[PATH_MAX];
	struct seg_fiter local, *it = NULL;
	struct seg_report rep = { 0 };
	struct seg_open_cache *c = o ? o->cache : NULL;
	int rc = seg_path(path, sizeof(path), dir, e->worker, segno, SEG_K_SEG);
	if (rc == 0)
		rc = span_iter(c, path, &local, &rep, &it);
	if (rc < 0)
		return rc == -ENOENT ? -EBADMSG : rc;
	struct seg_report *rp = c ? &c->rep : &rep;
	uint64_t bad0 = rp->frames_bad;
	bool cached = c && c->have && it->frame_off == off;
	if (!cached && c && c->have_prev && c->prev_off == off)
		rc = apply_prev(c, it, o, x, began, &cached);
	else if (!cached)
		it->off = off;
	while (rc == 0 && !x->complete && (cached || (rc = advance(c, it)) == 1)) {
		cached = false;
		if (c)
			c->have = rp->frames_bad == bad0;
		if (rp->frames_bad != bad0)
			break;
		if (last_seg && it->frame_off > e->last_frame_off)
			break;
		rc = apply_frame(x, o, it, began, *began ? NULL : hint_of(c, it->frame_off));
		if (rc < 0)
			break;
	}
	if (c && rc <= 0 && !x->complete)
		c->have = false;
	if (rc >= 0 && rp->frames_bad != bad0)
		rc = -EBADMSG; /* a frame of the range is damaged */
	if (c == NULL)
		seg_fiter_close(it);
	return rc < 0 ? rc : 0;
}

int seg_open_entry(const char *session_dir, const struct seg_entry *e,
		   const struct seg_open_opts *o, struct seg_exchange *x)
{
	memset(x, 0, sizeof(*x));
	x->id = e->id;
	if (e->span > e->segno)
		return -EBADMSG;
	bool began = false;
	int rc = 0;
	uint32_t first = e->segno - e->span;
	for (uint32_t s = first; s <= e->segno && rc == 0 && !x->complete; s++)
		rc = read_span(session_dir, e, s, s == first ? e->frame_off : SEG_FILE_HDR_SIZE,
			       s == e->segno, o, x, &began);
	if (rc == 0 && (!began || !x->complete))
		rc = -EBADMSG;
	if (rc < 0) {
		seg_exchange_free(x);
		return rc;
	}
	return 0;
}

int seg_open_id(const char *session_dir, uint64_t id, const struct seg_open_opts *o,
		struct seg_exchange *x)
{
	struct seg_entry e;
	int rc = seg_find(session_dir, id, &e);
	if (rc < 0)
		return rc;
	return seg_open_entry(session_dir, &e, o, x);
}

void seg_exchange_free(struct seg_exchange *x)
{
	char **s[6] = { &x->method_text, &x->host, &x->url, &x->client_name, &x->reason,
			&x->err_msg };
	for (int i = 0; i < 6; i++) {
		free(*s[i]);
		*s[i] = NULL;
	}
	free(x->req_head);
	free(x->resp_head);
	free(x->body[0]);
	free(x->body[1]);
	x->req_head = x->resp_head = x->body[0] = x->body[1] = NULL;
	free(x->trailers[0]);
	free(x->trailers[1]);
	x->trailers[0] = x->trailers[1] = NULL;
	for (size_t i = 0; i < x->nmsgs; i++)
		free(x->msgs[i].data);
	free(x->msgs);
	x->msgs = NULL;
	x->nmsgs = 0;
}
