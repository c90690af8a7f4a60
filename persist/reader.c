/* persist/reader.c: reading segments back: frame iteration with damage
 * detection (format and validity rules at the top of persist/segment.c),
 * record parsing, one segment's check, the highest id of a worker (index
 * scans and finding an exchange: persist/heal.c; opening it:
 * persist/open.c). A damaged frame is skipped and counted, never returned; a torn
 * tail is ignored and counted. Loops are bounded by file sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "persist/reader-int.h"
#include "rc-assert.h"

/* Every record that seg_rec_parse accepts fits the writer's bound. */
_Static_assert(SEG_REC_MAX >= SEG_REC_HDR + SEG_END_FIXED + SEG_ERRMSG_MAX + SEG_END_V6,
	       "END too big");

#define RESYNC_WINDOW (64u * 1024u)

int seg_path(char *buf, size_t cap, const char *dir, uint16_t worker, uint32_t segno,
	     enum seg_kind k)
{
	char name[32];
	seg_file_name(name, sizeof(name), worker, segno, k);
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

int seg_fiter_open(struct seg_fiter *it, const char *path, bool headers_only,
		   struct seg_report *rep)
{
	memset(it, 0, sizeof(*it));
	it->fd = -1;
	it->rep = rep;
	it->headers_only = headers_only;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t bl = strnlen(base, sizeof(it->name) - 1);
	memcpy(it->name, base, bl);
	it->name[bl] = '\0';
	it->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (it->fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(it->fd, &sb) < 0) {
		int rc = -errno;
		seg_fiter_close(it);
		return rc;
	}
	it->size = (uint64_t)sb.st_size;
	/* Nothing read from the file can be longer than the file: small files
	 * (tests, fuzzing, short sessions) get small buffers. */
	uint64_t cap = SEG_FRAME_CLEN_MAX > RESYNC_WINDOW ? SEG_FRAME_CLEN_MAX : RESYNC_WINDOW;
	it->cbuf_cap = (uint32_t)(it->size + 1 < cap ? it->size + 1 : cap);
	it->cbuf = malloc(it->cbuf_cap);
	it->dctx = ZSTD_createDCtx();
	if (!it->cbuf || !it->dctx) {
		seg_fiter_close(it);
		return -ENOMEM;
	}
	it->off = SEG_FILE_HDR_SIZE;
	it->valid_end = SEG_FILE_HDR_SIZE;
	uint8_t h[SEG_FILE_HDR_SIZE];
	if (it->size < SEG_FILE_HDR_SIZE ||
	    pread(it->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    seg_fhdr_decode(h, SEG_K_SEG, &it->fhdr) < 0) {
		it->bad_header = true; /* frames may still be intact: scan them */
		if (rep) {
			rep->bad_regions++;
			seg_report_damage(rep, it->name, 0, "bad segment file header");
		}
		if (it->size < SEG_FILE_HDR_SIZE)
			it->off = it->size;
	}
	if (rep)
		rep->segments++;
	return 0;
}

void seg_fiter_close(struct seg_fiter *it)
{
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	free(it->cbuf);
	free(it->ubuf);
	ZSTD_freeDCtx(it->dctx);
	it->cbuf = it->ubuf = NULL;
	it->dctx = NULL;
}

int seg_rec_parse(const uint8_t *b, uint32_t len, uint32_t *pos, struct seg_rec_view *r)
{
	uint32_t p = *pos;
	if (len - p < SEG_REC_HDR)
		return -EBADMSG;
	const uint8_t *h = b + p;
	r->type = h[0];
	r->len = seg_get32(h + 4);
	r->id = seg_get64(h + 8);
	if (h[1] || h[2] || h[3] || r->type < SEG_R_BEGIN || r->type > SEG_R_LAST)
		return -EBADMSG;
	if (r->len > len - p - SEG_REC_HDR || (r->id >> SEG_ID_WORKER_SHIFT) >= SEG_WORKERS_MAX)
		return -EBADMSG;
	r->p = h + SEG_REC_HDR;
	const uint8_t *q = r->p;
	uint64_t want;
	switch (r->type) {
	case SEG_R_BEGIN:
		if (r->len < SEG_BEGIN_FIXED)
			return -EBADMSG;
		if (seg_get16(q + 40) > SEG_METHOD_MAX || seg_get16(q + 42) > SEG_HOST_MAX ||
		    seg_get16(q + 44) > SEG_URL_MAX || seg_get16(q + 46) > SEG_CLIENT_NAME_MAX ||
		    seg_get32(q + 48) > SEG_HEAD_MAX || q[37] >= SEG_M_COUNT)
			return -EBADMSG;
		want = SEG_BEGIN_FIXED + (uint64_t)seg_get16(q + 40) + seg_get16(q + 42) +
		       seg_get16(q + 44) + seg_get16(q + 46) + seg_get32(q + 48);
		break;
	case SEG_R_RESP_HEAD:
		if (r->len < SEG_RESP_FIXED || seg_get16(q + 4) > SEG_REASON_MAX ||
		    seg_get32(q + 8) > SEG_HEAD_MAX || q[2] >= SEG_T_COUNT)
			return -EBADMSG;
		want = SEG_RESP_FIXED + (uint64_t)seg_get16(q + 4) + seg_get32(q + 8);
		break;
	case SEG_R_END:
		if (r->len < SEG_END_FIXED || seg_get16(q + 80) > SEG_ERRMSG_MAX ||
		    q[2] >= SEG_T_COUNT || q[3] >= SEG_E_COUNT || q[114] >= SEG_M_COUNT ||
		    seg_get16(q + 110) > SEG_HOST_MAX || seg_get16(q + 112) > SEG_URL_MAX)
			return -EBADMSG;
		if ((q[82] != 0 && q[82] != 4 && q[82] != 6) || q[83])
			return -EBADMSG; /* server family */
		want = SEG_END_FIXED + (uint64_t)seg_get16(q + 80) + (q[82] == 6 ? SEG_END_V6 : 0);
		break;
	case SEG_R_DISCARD:
		want = 0;
		break;
	case SEG_R_MSG:
		if (r->len < SEG_MSG_FIXED || q[0] > SEG_DIR_RESP || (q[2] & ~SEG_MSG_F_ALL) ||
		    q[3] || seg_get32(q + 4) || r->len - SEG_MSG_FIXED > SEG_CHUNK_MAX)
			return -EBADMSG;
		want = r->len;
		break;
	case SEG_R_TRAILERS:
		if (r->len < SEG_TRAILERS_FIXED || q[0] > SEG_DIR_RESP || q[1] || q[2] || q[3] ||
		    r->len - SEG_TRAILERS_FIXED > SEG_TRAILERS_MAX ||
		    seg_get32(q + 4) < r->len - SEG_TRAILERS_FIXED)
			return -EBADMSG;
		want = r->len;
		break;
	default:
		want = r->len <= SEG_CHUNK_MAX ? r->len : (uint64_t)r->len + 1;
		break;
	}
	if (want != r->len)
		return -EBADMSG;
	/* After it is read: the checks above bound every accepted record
	 * (the _Static_asserts of seg-limits.h and above). */
	ASSERT(r->len <= SEG_REC_MAX - SEG_REC_HDR);
	*pos = p + SEG_REC_HDR + r->len;
	ASSERT(*pos <= len);
	return 0;
}

/* Checks that a decompressed frame is exactly nrec well-formed records. */
static bool records_valid(const uint8_t *b, uint32_t ulen, uint32_t nrec)
{
	uint32_t pos = 0;
	for (uint32_t i = 0; i < nrec; i++) {
		struct seg_rec_view r;
		if (seg_rec_parse(b, ulen, &pos, &r) < 0)
			return false;
	}
	return pos == ulen;
}

/* Scans forward from it->off + 1 for the next offset holding a valid frame
 * header; returns it, or it->size when there is none. */
static uint64_t resync(struct seg_fiter *it)
{
	uint64_t o = it->off + 1, win = it->cbuf_cap < RESYNC_WINDOW ? it->cbuf_cap : RESYNC_WINDOW;
	while (o + SEG_FRAME_HDR_SIZE <= it->size) {
		uint64_t want = it->size - o < win ? it->size - o : win;
		ssize_t got = pread(it->fd, it->cbuf, want, (off_t)o);
		if (got < (ssize_t)SEG_FRAME_HDR_SIZE)
			break;
		for (uint64_t i = 0; i + SEG_FRAME_HDR_SIZE <= (uint64_t)got; i++) {
			struct seg_frame_hdr h;
			if (it->cbuf[i] == 0x52 && seg_frame_hdr_decode(it->cbuf + i, &h) == 0)
				return o + i;
		}
		o += (uint64_t)got - SEG_FRAME_HDR_SIZE + 1;
	}
	return it->size;
}

static void damage(struct seg_fiter *it, uint64_t off, const char *what)
{
	if (!it->rep)
		return;
	it->rep->frames_bad++;
	it->rep->bad_regions++;
	seg_report_damage(it->rep, it->name, off, what);
}

/* Loads and validates the frame whose valid header is at it->off: a raw
 * frame (SEG_FRAME_F_RAW) is read straight into ubuf, any other one into
 * cbuf and decompressed into ubuf. */
static int load_frame(struct seg_fiter *it, const struct seg_frame_hdr *h)
{
	if (h->ulen > it->ubuf_cap) {
		uint8_t *nb = realloc(it->ubuf, h->ulen);
		if (!nb)
			return -ENOMEM;
		it->ubuf = nb;
		it->ubuf_cap = h->ulen;
	}
	uint8_t *dst = h->raw ? it->ubuf : it->cbuf;
	if (pread(it->fd, dst, h->clen, (off_t)(it->off + SEG_FRAME_HDR_SIZE)) != (ssize_t)h->clen)
		return -EIO;
	if (seg_crc32c(0, dst, h->clen) != h->payload_crc) {
		damage(it, it->off, "frame payload checksum mismatch");
		return -EBADMSG;
	}
	/* seg_frame_hdr_decode refuses a raw frame whose lengths differ */
	size_t n = h->raw ? h->clen
			  : ZSTD_decompressDCtx(it->dctx, it->ubuf, it->ubuf_cap, it->cbuf, h->clen);
	if (ZSTD_isError(n) || n != h->ulen) {
		damage(it, it->off, "frame does not decompress to its length");
		return -EBADMSG;
	}
	if (!records_valid(it->ubuf, h->ulen, h->nrec)) {
		damage(it, it->off, "frame records malformed");
		return -EBADMSG;
	}
	return 0;
}

/* The bytes from it->off to the end of the file are the zero padding an
 * O_DIRECT writer leaves after its last frame (fewer than
 * SEG_DIO_ALIGN_MAX, all zero): not a torn tail. */
static bool dio_padding(struct seg_fiter *it)
{
	uint8_t b[SEG_DIO_ALIGN_MAX];
	uint64_t n = it->size - it->off;
	if (n >= SEG_DIO_ALIGN_MAX || pread(it->fd, b, n, (off_t)it->off) != (ssize_t)n)
		return false;
	for (uint64_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

int seg_fiter_next(struct seg_fiter *it)
{
	/* Each pass advances off by at least one byte: bounded by the size. */
	while (it->off < it->size) {
		uint8_t hb[SEG_FRAME_HDR_SIZE];
		struct seg_frame_hdr h;
		if (it->size - it->off < SEG_FRAME_HDR_SIZE ||
		    pread(it->fd, hb, sizeof(hb), (off_t)it->off) != (ssize_t)sizeof(hb) ||
		    seg_frame_hdr_decode(hb, &h) < 0) {
			uint64_t next = resync(it);
			if (next >= it->size)
				break; /* torn tail */
			damage(it, it->off, "bad frame header");
			it->off = next;
			continue;
		}
		if (h.clen > it->size - it->off - SEG_FRAME_HDR_SIZE)
			break; /* header written, payload not: torn tail */
		/* seg_frame_hdr_decode accepted it: within the frame limits. */
		ASSERT(h.clen <= SEG_FRAME_CLEN_MAX);
		ASSERT(h.ulen <= SEG_FRAME_ULEN_MAX);
		it->frame_off = it->off;
		it->h = h;
		if (!it->headers_only) {
			int rc = load_frame(it, &h);
			if (rc == -EIO || rc == -ENOMEM)
				return rc;
			if (rc < 0) {
				it->off += SEG_FRAME_HDR_SIZE + h.clen;
				continue;
			}
		}
		it->off += SEG_FRAME_HDR_SIZE + h.clen;
		it->valid_end = it->off;
		if (it->rep)
			it->rep->frames_ok++;
		return 1;
	}
	if (it->off < it->size && !dio_padding(it)) {
		it->torn = true;
		if (it->rep)
			it->rep->torn_bytes += it->size - it->off;
	}
	it->off = it->size;
	return 0;
}

uint64_t seg_last_id(const char *session_dir, uint16_t worker, uint32_t max_segno)
{
	uint64_t best = 0;
	for (uint32_t s = max_segno; s >= 1 && best == 0; s--) {
		char path[PATH_MAX];
		struct seg_fiter it;
		if (seg_path(path, sizeof(path), session_dir, worker, s, SEG_K_SEG) < 0 ||
		    seg_fiter_open(&it, path, true, NULL) < 0)
			continue;
		while (seg_fiter_next(&it) == 1)
			if (it.h.id_hi > best)
				best = it.h.id_hi;
		seg_fiter_close(&it);
	}
	return best;
}

int seg_segment_check(const char *path, struct seg_report *rep)
{
	struct seg_fiter it;
	int rc = seg_fiter_open(&it, path, false, rep);
	if (rc < 0)
		return rc;
	while ((rc = seg_fiter_next(&it)) == 1) {
		uint32_t pos = 0;
		for (uint32_t i = 0; i < it.h.nrec; i++) {
			struct seg_rec_view r;
			if (seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r) < 0)
				break; /* validated already: cannot happen */
			rep->records++;
			rep->exchanges += r.type == SEG_R_END;
			rep->discarded += r.type == SEG_R_DISCARD;
		}
	}
	seg_fiter_close(&it);
	return rc;
}
