/* persist/xch.c: the exchange records of the segment writer (begin, body
 * chunks, response head, WebSocket message pieces, trailers, end, discard),
 * each appended to the open frame by seg_w_append_rec (here too) as the
 * record layout at the top of persist/segment.c describes. segment.c has
 * the writer itself: frames, sealing, the io queue and rotation
 * (persist/writer-int.h, shared). Runs on the caller's thread (a worker);
 * nothing is allocated here: the exchange table was sized at
 * seg_writer_open.
 */
#include <errno.h>
#include <string.h>

#include <zstd.h>

#include "persist/writer-int.h"
#include "rc-assert.h"

/* Makes room for a record of need bytes in the open frame. */
int seg_w_room(struct seg_writer *w, uint32_t need)
{
	ASSERT(need <= SEG_REC_MAX);
	/* A frame grown past frame_bytes on incompressible body is sealed (raw)
	 * before a compressible body chunk, or any record that would take its
	 * share under SEG_RAW_SHARE: the record starts the next frame, so the
	 * random bytes are not handed to zstd with it and text is not stored
	 * raw with them (a worker's traffic mixes both kinds). No free slot:
	 * appended all the same, as before this rule. Callers ask before they
	 * take offsets in the open frame, and again when appending: the same
	 * answer both times. */
	if (!w->rec_incomp && w->raw_len >= w->cfg.frame_bytes && seg_w_incomp_frame(w) &&
	    (need >= SEG_SAMPLE_BYTES ||
	     (uint64_t)w->raw_incomp * SEG_RAW_SHARE_DEN <
		     (uint64_t)(w->raw_len + need) * SEG_RAW_SHARE_NUM)) {
		int rc = seg_writer_seal(w);
		if (rc < 0 && rc != -ENOBUFS)
			return rc;
	}
	if (w->raw_len + need <= w->raw_cap)
		return 0;
	return seg_writer_seal(w);
}

uint32_t seg_w_raw_crc(struct seg_writer *w)
{
	ASSERT(w->raw_crc_len <= w->raw_len);
	w->raw_crc = seg_crc32c(w->raw_crc, w->raw + w->raw_crc_len, w->raw_len - w->raw_crc_len);
	w->raw_crc_len = w->raw_len;
	return w->raw_crc;
}

/* Copies a record's parts to p in the open frame. The chunk of a body
 * sampled incompressible (incomp) is summed as it is copied, while the
 * received buffer is still in cache: its frame is most likely written raw,
 * with the crc of these bytes as its payload crc (seg_w_raw_crc). */
static void copy_parts(struct seg_writer *w, uint8_t *p, const void *const *parts,
		       const uint32_t *lens, uint32_t nparts, bool incomp)
{
	if (!incomp) {
		for (uint32_t i = 0; i < nparts; i++) {
			if (lens[i])
				memcpy(p, parts[i], lens[i]);
			p += lens[i];
		}
		return;
	}
	uint32_t at = (uint32_t)(p - w->raw), crc = w->raw_crc;
	ASSERT(w->raw_crc_len <= at);
	crc = seg_crc32c(crc, w->raw + w->raw_crc_len, at - w->raw_crc_len);
	for (uint32_t i = 0; i < nparts; i++) {
		crc = seg_crc32c_copy(crc, p, parts[i], lens[i]);
		p += lens[i];
	}
	w->raw_crc = crc;
	w->raw_crc_len = (uint32_t)(p - w->raw);
}

/* Appends one record: header, fixed part, then parts. The caller made room. */
int seg_w_append_rec(struct seg_writer *w, uint8_t type, uint64_t id, const void *fixed,
		      uint32_t fixed_len, const void *const *parts, const uint32_t *lens,
		      uint32_t nparts)
{
	uint32_t len = fixed_len;
	for (uint32_t i = 0; i < nparts; i++)
		len += lens[i];
	int rc = seg_w_room(w, SEG_REC_HDR + len); /* reads rec_incomp */
	bool incomp = w->rec_incomp;
	w->rec_incomp = false;
	if (rc < 0)
		return rc;
	/* Before the record is written: what seg_rec_parse will demand of it. */
	ASSERT(type >= SEG_R_BEGIN);
	ASSERT(type <= SEG_R_LAST);
	ASSERT(len <= SEG_REC_MAX - SEG_REC_HDR);
	ASSERT(w->raw_len + SEG_REC_HDR + len <= w->raw_cap);
	uint8_t *p = w->raw + w->raw_len;
	memset(p, 0, SEG_REC_HDR);
	p[0] = type;
	seg_put32(p + 4, len);
	seg_put64(p + 8, id);
	p += SEG_REC_HDR;
	if (fixed_len)
		memcpy(p, fixed, fixed_len);
	p += fixed_len;
	copy_parts(w, p, parts, lens, nparts, incomp);
	if (w->raw_len == 0)
		w->oldest_ns = w->now_ns;
	w->raw_len += SEG_REC_HDR + len;
	w->nrec++;
	if (incomp)
		w->raw_incomp += SEG_REC_HDR + len;
	uint32_t full = seg_w_incomp_frame(w) ? w->raw_cap - SEG_REC_MAX : w->cfg.frame_bytes;
	if (w->raw_len >= full) {
		rc = seg_writer_seal(w);
		if (rc == -ENOBUFS)
			rc = 0; /* keep filling up to raw_cap; sealed when a slot frees */
	}
	return rc;
}

static uint32_t cut(size_t n, uint32_t max) { return n > max ? max : (uint32_t)n; }

/* Appends x's .str text (persist/strtext.c) to the open batch, adding its
 * layout flags to x->flags: at most hl + ul + 5 + cl + 16 bytes, less than
 * the BEGIN record itself (56 fixed bytes), so open_str (raw_cap bytes)
 * cannot overflow before raw does. */
static void begin_text(struct seg_writer *w, struct seg_xch *x, const struct seg_xch_begin *b,
		       uint32_t cl)
{
	struct seg_str_text st = {
		.host = b->host, .host_len = x->host_len, .url = b->url, .url_len = x->url_len,
		.client_name = b->client_name, .client_name_len = cl, .number = b->number,
		.client_v6 = b->client.family == 6 ? b->client.addr : NULL,
		.ver = w->cfg.idx_version,
	};
	uint32_t layout;
	if (w->cfg.idx_version == SEG_IDX_V1) {
		/* the layout before issue 16: host stored, no IPv6 in the extension */
		st.client_v6 = NULL;
		layout = seg_str_flags(&st) & ~SEG_F_HOST_IN_URL;
	} else {
		layout = seg_str_flags(&st);
	}
	x->flags |= layout;
	uint32_t sl = seg_str_encode(w->open_str + w->open_str_len, &st, x->flags);
	x->str_crc = seg_crc32c(0, w->open_str + w->open_str_len, sl);
	w->open_str_len += sl;
}

int seg_xch_begin(struct seg_writer *w, const struct seg_xch_begin *b, struct seg_xch **out,
		  uint64_t *id_out)
{
	if (w->failed)
		return -EIO;
	if (w->free_head >= w->cfg.open_max) {
		w->st.refused++;
		return -ENOBUFS;
	}
	uint32_t ml = cut(b->method_len, SEG_METHOD_MAX), hl = cut(b->host_len, SEG_HOST_MAX);
	uint32_t ul = cut(b->url_len, SEG_URL_MAX), cl = cut(b->client_name_len, SEG_CLIENT_NAME_MAX);
	uint32_t rl = cut(b->req_head_len, SEG_HEAD_MAX);
	uint32_t len = SEG_REC_HDR + SEG_BEGIN_FIXED + ml + hl + ul + cl + rl;
	if (seg_w_room(w, len) < 0 || w->raw_len + len > w->raw_cap) {
		w->st.refused++;
		return -ENOBUFS;
	}
	uint64_t id = ((uint64_t)w->cfg.worker << SEG_ID_WORKER_SHIFT) | w->next_seq;
	uint32_t xi = w->free_head;
	struct seg_xch *x = &w->xch[xi];
	w->free_head = x->next_free;
	memset(x, 0, sizeof(*x));
	x->in_use = true;
	x->id = id;
	x->start_ns = b->start_ns;
	x->flags = (b->flags & ~SEG_F_LAYOUT) | (rl < b->req_head_len ? SEG_F_HEAD_TRUNC : 0);
	x->frame_off = (uint32_t)w->seg_bytes;
	x->begin_segno = w->segno;
	x->str_off = (uint32_t)(w->str_bytes + w->open_str_len);
	x->host_len = (uint16_t)hl;
	x->url_len = (uint16_t)ul;
	x->method = seg_method_parse(b->method ? b->method : "", ml);
	x->client = b->client;
	x->skip_resp = !w->cfg.save_responses || (b->flags & SEG_F_NO_RESP);
	begin_text(w, x, b, cl);
	uint8_t f[SEG_BEGIN_FIXED] = { 0 };
	seg_put64(f + 0, b->start_ns);
	seg_put32(f + 8, x->str_off);
	seg_put32(f + 12, x->flags);
	memcpy(f + 16, b->client.addr, 16);
	seg_put16(f + 32, b->client.port);
	f[34] = b->client.family;
	f[35] = b->scheme;
	f[36] = b->http_version;
	f[37] = x->method;
	seg_put16(f + 38, b->port);
	seg_put16(f + 40, (uint16_t)ml);
	seg_put16(f + 42, (uint16_t)hl);
	seg_put16(f + 44, (uint16_t)ul);
	seg_put16(f + 46, (uint16_t)cl);
	seg_put32(f + 48, rl);
	seg_put32(f + 52, b->number);
	const void *parts[5] = { b->method, b->host, b->url, b->client_name, b->req_head };
	uint32_t lens[5] = { ml, hl, ul, cl, rl };
	int rc = seg_w_append_rec(w, SEG_R_BEGIN, id, f, sizeof(f), parts, lens, 5);
	if (rc < 0)
		ASSERT(w->failed != 0); /* room() was made above: an error only once failed */
	w->next_seq++;
	w->open_cnt++;
	*out = x;
	if (id_out)
		*id_out = id;
	return rc < 0 ? -EIO : 0;
}

/* Whether a body compresses, from its first SEG_SAMPLE_BYTES (of n >=
 * SEG_SAMPLE_MIN bytes): SAMPLE_RAW when zstd at the writer's level keeps
 * at least SEG_SAMPLE_KEEP_NUM/DEN of them. */
static uint8_t sample(struct seg_writer *w, const void *p, size_t n)
{
	size_t k = n < SEG_SAMPLE_BYTES ? n : SEG_SAMPLE_BYTES;
	size_t c = ZSTD_compressCCtx(w->cctx, w->sample_out, ZSTD_compressBound(SEG_SAMPLE_BYTES),
				     p, k, w->cfg.zstd_level);
	if (ZSTD_isError(c) || c * SEG_SAMPLE_KEEP_DEN < k * SEG_SAMPLE_KEEP_NUM)
		return SAMPLE_TEXT;
	w->st.bodies_raw++;
	return SAMPLE_RAW;
}

int seg_xch_body(struct seg_writer *w, struct seg_xch *x, enum seg_dir dir, const void *p,
		 size_t n)
{
	ASSERT(x != NULL);
	ASSERT(x->in_use);
	ASSERT((unsigned)dir <= SEG_DIR_RESP);
	if (w->failed)
		return -EIO;
	uint32_t trunc = dir == SEG_DIR_REQ ? SEG_F_REQ_TRUNC : SEG_F_RESP_TRUNC;
	if (dir == SEG_DIR_RESP && x->skip_resp)
		return 0;
	const uint8_t *b = p;
	uint8_t type = dir == SEG_DIR_REQ ? SEG_R_REQ_BODY : SEG_R_RESP_BODY;
	if (x->sample[dir] == SAMPLE_NONE && n >= SEG_SAMPLE_MIN && !(x->flags & trunc))
		x->sample[dir] = sample(w, p, n);
	for (size_t done = 0; done < n;) {
		if (x->stored[dir] >= w->cfg.body_max || (x->flags & trunc)) {
			x->flags |= trunc; /* a chunk once dropped: never store a gap */
			return 0;
		}
		uint64_t left = w->cfg.body_max - x->stored[dir];
		uint32_t k = cut(n - done, SEG_CHUNK_MAX);
		if (k > left)
			k = (uint32_t)left;
		const void *parts[1] = { b + done };
		w->rec_incomp = x->sample[dir] == SAMPLE_RAW;
		int rc = seg_w_append_rec(w, type, x->id, NULL, 0, parts, &k, 1);
		if (rc == -ENOBUFS) {
			w->st.chunks_dropped++;
			x->flags |= trunc;
			return 0;
		}
		if (rc < 0)
			return -EIO;
		x->stored[dir] += k;
		done += k;
	}
	return 0;
}

int seg_xch_resp_head(struct seg_writer *w, struct seg_xch *x, uint16_t status,
		      const char *reason, size_t reason_len, const void *head, size_t head_len,
		      uint8_t type)
{
	ASSERT(x != NULL);
	ASSERT(x->in_use);
	if (w->failed)
		return -EIO;
	x->status = status;
	x->type = type < SEG_T_COUNT ? type : SEG_T_OTHER;
	if (x->type == SEG_T_MEDIA || x->type == SEG_T_IMAGE) {
		x->flags |= SEG_F_MEDIA;
		x->skip_resp = true; /* media bodies are forwarded, never stored */
	}
	if (!w->cfg.save_responses || (x->flags & SEG_F_NO_RESP)) {
		x->flags |= SEG_F_NO_RESP;
		x->skip_resp = true;
		if (!(x->flags & SEG_F_COOKIES) || head_len == 0)
			return 0;   /* with cookies on, the caller passes the Set-Cookie lines */
	}
	uint32_t rl = cut(reason_len, SEG_REASON_MAX), hl = cut(head_len, SEG_HEAD_MAX);
	if (hl < head_len)
		x->flags |= SEG_F_HEAD_TRUNC;
	uint8_t f[SEG_RESP_FIXED] = { 0 };
	seg_put16(f, status);
	f[2] = x->type;
	seg_put16(f + 4, (uint16_t)rl);
	seg_put32(f + 8, hl);
	const void *parts[2] = { reason, head };
	uint32_t lens[2] = { rl, hl };
	int rc = seg_w_append_rec(w, SEG_R_RESP_HEAD, x->id, f, sizeof(f), parts, lens, 2);
	if (rc == -ENOBUFS) {
		w->st.chunks_dropped++;
		x->flags |= SEG_F_RESP_TRUNC | SEG_F_HEAD_TRUNC;
		x->skip_resp = true;
		return 0;
	}
	return rc < 0 ? -EIO : 0;
}

int seg_xch_msg(struct seg_writer *w, struct seg_xch *x, const struct seg_msg_piece *m,
		const void *p, size_t n)
{
	ASSERT(x != NULL);
	ASSERT(x->in_use);
	ASSERT(m->dir <= SEG_DIR_RESP);
	ASSERT((m->flags & ~SEG_MSG_F_ALL) == 0);
	if (w->failed)
		return -EIO;
	if (m->flags & SEG_MSG_F_FIRST)
		x->msg_lost[m->dir] = false;
	if (x->msg_lost[m->dir] && m->opcode < 8) {
		if (!(m->flags & SEG_MSG_F_LAST))
			return 0;   /* never a gap: nothing more of it is stored */
		n = 0;          /* its end, flagged cut */
	}
	const uint8_t *b = p;
	size_t done = 0;
	/* one record per SEG_CHUNK_MAX bytes; an empty piece is one record */
	for (unsigned guard = 0; guard == 0 || done < n; guard++) {
		uint32_t k = cut(n - done, SEG_CHUNK_MAX);
		bool first = done == 0, last = done + k == n;
		uint8_t fl = (uint8_t)(m->flags & ~(SEG_MSG_F_FIRST | SEG_MSG_F_LAST));
		fl |= (uint8_t)(first ? m->flags & SEG_MSG_F_FIRST : 0);
		fl |= (uint8_t)(last ? m->flags & SEG_MSG_F_LAST : 0);
		if (x->msg_lost[m->dir] && m->opcode < 8)
			fl |= SEG_MSG_F_CUT;   /* an earlier piece found no room */
		uint8_t f[SEG_MSG_FIXED] = { 0 };
		f[0] = m->dir;
		f[1] = m->opcode;
		f[2] = fl;
		seg_put64(f + 8, m->start_ns);
		seg_put64(f + 16, m->len - (n - done - k));
		seg_put64(f + 24, m->wire_len);
		const void *parts[1] = { b + done };
		int rc = seg_w_append_rec(w, SEG_R_MSG, x->id, f, sizeof(f), parts, &k, 1);
		if (rc == -ENOBUFS) {
			w->st.chunks_dropped++;
			if (m->opcode < 8)
				x->msg_lost[m->dir] = true;
		} else if (rc < 0) {
			return -EIO;
		}
		done += k;
	}
	return 0;
}

int seg_xch_trailers(struct seg_writer *w, struct seg_xch *x, enum seg_dir dir,
		     const void *p, size_t n, size_t wire_len)
{
	ASSERT(x != NULL);
	ASSERT(x->in_use);
	ASSERT(dir <= SEG_DIR_RESP);
	ASSERT(wire_len >= n);
	if (w->failed)
		return -EIO;
	if (dir == SEG_DIR_RESP && (x->flags & SEG_F_NO_RESP))
		return 0;   /* "save responses" off: nothing of the response */
	uint32_t k = cut(n, SEG_TRAILERS_MAX);
	if (k < wire_len) {
		x->flags |= SEG_F_HEAD_TRUNC;
		w->st.trailers_cut++;
	}
	uint8_t f[SEG_TRAILERS_FIXED] = { 0 };
	f[0] = (uint8_t)dir;
	seg_put32(f + 4, wire_len > UINT32_MAX ? UINT32_MAX : (uint32_t)wire_len);
	const void *parts[1] = { p };
	int rc = seg_w_append_rec(w, SEG_R_TRAILERS, x->id, f, sizeof(f), parts, &k, 1);
	if (rc == -ENOBUFS) {
		w->st.chunks_dropped++;
		if (k == wire_len)
			w->st.trailers_cut++;
		x->flags |= SEG_F_HEAD_TRUNC;
		return 0;
	}
	return rc < 0 ? -EIO : 0;
}

static void release(struct seg_writer *w, struct seg_xch *x)
{
	x->in_use = false;
	x->next_free = w->free_head;
	w->free_head = (uint32_t)(x - w->xch);
	w->open_cnt--;
}

/* The server address into an END payload's fixed part (format above):
 * a family other than 4 or 6 is written as unknown. */
static void end_put_server(uint8_t *f, const struct seg_addr *s)
{
	if (s->family != 4 && s->family != 6)
		return;
	f[82] = s->family;
	if (s->family == 4)
		memcpy(f + 84, s->addr, 4);
	seg_put16(f + 134, s->port);
}

int seg_xch_end(struct seg_writer *w, struct seg_xch *x, const struct seg_xch_end *e)
{
	ASSERT(x != NULL);
	ASSERT(x->in_use);
	if (w->failed) {
		release(w, x);
		return -EIO;
	}
	uint32_t ml = cut(e->err_msg_len, SEG_ERRMSG_MAX);
	uint32_t v6 = e->server.family == 6 ? SEG_END_V6 : 0;
	uint32_t len = SEG_REC_HDR + SEG_END_FIXED + ml + v6;
	if (seg_w_room(w, len) < 0 || w->raw_len + len > w->raw_cap) {
		w->st.refused++;
		release(w, x);
		return -ENOBUFS;
	}
	struct seg_entry en = {
		.id = x->id, .start_ns = x->start_ns, .duration_ns = e->t.total_ns,
		.frame_off = x->frame_off, .last_frame_off = (uint32_t)w->seg_bytes,
		.str_off = x->str_off, .host_len = x->host_len, .url_len = x->url_len,
		.req_size = e->wire.req_head + e->wire.req_body,
		.resp_size = e->wire.resp_head + e->wire.resp_body,
		.client = x->client, .status = e->status ? e->status : x->status,
		.flags = x->flags | (e->flags & ~SEG_F_LAYOUT) | (e->error ? SEG_F_ERROR : 0),
		.method = x->method, .type = e->type ? e->type : x->type,
		.error = e->error < SEG_E_COUNT ? e->error : SEG_E_OTHER, .str_crc = x->str_crc,
		.span = (uint16_t)(w->segno - x->begin_segno),
	};
	if (en.type >= SEG_T_COUNT)
		en.type = SEG_T_OTHER;
	ASSERT(w->segno - x->begin_segno <= SEG_SPAN_MAX);
	uint8_t f[SEG_END_FIXED] = { 0 };
	seg_put16(f, en.status);
	f[2] = en.type;
	f[3] = en.error;
	seg_put32(f + 4, en.flags);
	const uint64_t tv[9] = { e->t.dns_ns, e->t.connect_ns, e->t.tls_ns, e->t.ttfb_ns,
				 e->t.total_ns, e->wire.req_head, e->wire.req_body,
				 e->wire.resp_head, e->wire.resp_body };
	for (int i = 0; i < 9; i++)
		seg_put64(f + 8 + 8 * i, tv[i]);
	seg_put16(f + 80, (uint16_t)ml);
	seg_put64(f + 88, en.start_ns);
	seg_put32(f + 96, en.frame_off);
	seg_put32(f + 100, en.str_off);
	seg_put32(f + 104, en.str_crc);
	seg_put16(f + 108, en.span);
	seg_put16(f + 110, en.host_len);
	seg_put16(f + 112, en.url_len);
	f[114] = en.method;
	f[115] = en.client.family;
	memcpy(f + 116, en.client.addr, 16);
	seg_put16(f + 132, en.client.port);
	end_put_server(f, &e->server);
	/* The entry joins the open frame's batch before append_rec may seal it. */
	seg_entry_encode(w->open_idx + w->open_idx_len, w->cfg.idx_version, &en);
	seg_entry_verify(w->open_idx + w->open_idx_len, w->cfg.idx_version, &en);
	w->open_idx_len += seg_entry_size(w->cfg.idx_version);
	ASSERT(w->open_idx_len <= w->raw_cap);
	const void *parts[2] = { e->err_msg, e->server.addr };
	const uint32_t lens[2] = { ml, v6 };
	int rc = seg_w_append_rec(w, SEG_R_END, x->id, f, sizeof(f), parts, lens, 2);
	release(w, x);
	w->st.exchanges++;
	w->ends++;
	return rc < 0 ? -EIO : 0;
}

int seg_xch_discard(struct seg_writer *w, struct seg_xch *x)
{
	ASSERT(x != NULL);
	ASSERT(x->in_use);
	if (w->failed) {
		release(w, x);
		return -EIO;
	}
	if (seg_w_room(w, SEG_REC_HDR) < 0 || w->raw_len + SEG_REC_HDR > w->raw_cap) {
		w->st.refused++;
		release(w, x);
		return -ENOBUFS;
	}
	int rc = seg_w_append_rec(w, SEG_R_DISCARD, x->id, NULL, 0, NULL, NULL, 0);
	release(w, x);
	if (rc == 0)
		w->st.discarded++;
	return rc < 0 ? -EIO : 0;
}
