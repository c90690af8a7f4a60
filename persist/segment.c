/* persist/segment.c: the segment writer, and the on-disk format.
 *
 * The writer turns streamed exchange events (begin, body chunks, response
 * head, end) into records appended to an in-memory frame; a frame is sealed
 * (zstd-compressed, checksummed) on size or age and its writes are queued.
 * The owner performs the writes (io_uring in the engine, pwrite in
 * seg_writer_flush_sync), one at a time, in queue order, so an index entry
 * never reaches the disk before the frame it points to. Nothing is
 * allocated after seg_writer_open(); when every frame buffer is busy new
 * exchanges are refused and body bytes dropped (flagged truncated).
 *
 * ON-DISK FORMAT (version 1; index entries RCAPIDX1 or RCAPIDX2). All
 * integers little-endian.
 *
 * A session directory holds, per worker W (3 digits) and segment number N
 * (8 digits, from 1), three files: wWWW-NNNNNNNN.seg (frames),
 * wWWW-NNNNNNNN.idx (index entries) and wWWW-NNNNNNNN.str (host and URL
 * text), plus "session.meta" and its previous copy "session.meta.prev"
 * (persist/session.c) and "tombstones". The .idx and .str files are
 * derivable from the .seg alone (seg_index_rebuild); readers complete an
 * index that is missing, damaged or behind its segment from the frames.
 *
 * File header, 32 bytes, at offset 0 of each of the three files:
 *   0  8  magic "RCAPSEG1" | "RCAPIDX1" or "RCAPIDX2" (the entry layout,
 *         below) | "RCAPSTR1"
 *   8  2  worker
 *  10  1  .seg: the index layout its writer wrote beside it: 2 for
 *         RCAPIDX2, 0 for RCAPIDX1 (writers before issue 16 left it zero),
 *         so a rebuild from the frames writes that layout again, byte for
 *         byte; .idx and .str: zero
 *  11  1  zero
 *  12  4  segment number
 *  16  8  creation time, ns since the epoch
 *  24  4  zero
 *  28  4  crc32c of bytes 0..27
 *
 * .seg after the header: frames back to back. Frame header, 32 bytes:
 *   0  4  magic 0x52464352 ("RCFR")
 *   4  4  clen: compressed payload length, 1..SEG_FRAME_CLEN_MAX
 *   8  4  bits 0..20 ulen: uncompressed length, <= SEG_FRAME_ULEN_MAX;
 *         bit 31 SEG_FRAME_F_RAW: the payload is stored raw (issue 16);
 *         bits 21..30 zero (reserved). Frames before bit 31 existed have
 *         all of 21..31 zero, and read as before.
 *  12  4  nrec: records in the payload
 *  16  8  id_hi: highest exchange id begun by the writer when sealed
 *  24  4  crc32c of the clen payload bytes
 *  28  4  crc32c of bytes 0..27
 * followed by clen bytes: one zstd frame whose content is ulen bytes, or
 * with SEG_FRAME_F_RAW the ulen bytes themselves (clen == ulen). The
 * writer stores a frame raw when most of it is body sampled
 * incompressible, zstd's CPU budget (cfg.zstd_budget) is spent, or zstd
 * did not shrink it (seg-limits.h, SEG_SAMPLE_*, SEG_ZSTD_*). The zstd
 * level (cfg.zstd_level) is not recorded: any level decompresses alike.
 *
 * A frame is VALID iff: the magic matches, the header checksum matches,
 * clen and ulen are within limits, no reserved bit is set, a raw frame has
 * clen == ulen, the whole payload lies inside the file, the payload
 * checksum matches, zstd decompresses it to exactly ulen bytes (raw: it is
 * those bytes),
 * and those bytes parse as exactly nrec well-formed records (below) that
 * end exactly at ulen. Anything else is damage: with a valid header the
 * reader skips clen bytes; with a bad header it scans forward byte by byte
 * for the next valid frame header; a frame header whose payload runs past
 * the end of file, or trailing bytes with no valid frame, is a torn tail
 * (reported as torn_bytes, cut by fsck --repair), except fewer than
 * SEG_DIO_ALIGN_MAX zero bytes: the padding of an O_DIRECT writer (below).
 * Damaged frames are reported, never returned.
 *
 * O_DIRECT (seg_writer_cfg.direct, where statx reports an alignment A <=
 * SEG_DIO_ALIGN_MAX): every .seg write starts and ends at a multiple of A.
 * The header goes out as one block, zero-padded; each frame is written
 * with the bytes of its first block that are already in the file in front
 * of it (the writer keeps them) and zeros after it up to the next multiple
 * of A. The next write overwrites those zeros, so frames stay back to
 * back exactly as without O_DIRECT; only the end of the file may hold up
 * to A - 1 zero bytes after the last frame (its size is a multiple of A).
 * A reader racing a write sees the old bytes of that block or the new
 * ones, and the old ones it already knew are the same in both.
 *
 * Record, 16-byte header then len payload bytes:
 *   0  1  type: 1 BEGIN, 2 REQ_BODY, 3 RESP_HEAD, 4 RESP_BODY, 5 END,
 *           6 DISCARD, 7 MSG, 8 TRAILERS
 *   1  3  zero
 *   4  4  len
 *   8  8  exchange id = worker << 40 | per-worker sequence (from 1, no gaps)
 * BEGIN payload (56 fixed bytes, then the texts in this order):
 *   0  8  start ns (wall)          8  4  str_off of host+url in this .str
 *  12  4  flags (SEG_F_*)         16 16  client address (v4 in bytes 0..3)
 *  32  2  client port             34  1  client family (0, 4, 6)
 *  35  1  scheme (enum seg_scheme) 36 1  HTTP version (10, 11, 20)
 *  37  1  method (enum seg_method) 38 2  upstream port
 *  40  2  method text len         42  2  host len
 *  44  2  url len                 46  2  client name len
 *  48  4  request head len        52  4  session number (0: none)
 *  56  method text, host, url, client name, raw request head
 * REQ_BODY / RESP_BODY payload: body bytes (<= SEG_CHUNK_MAX), in order.
 * RESP_HEAD payload: 0 2 status, 2 1 type class, 3 1 zero, 4 2 reason len,
 *   6 2 zero, 8 4 head len, 12 4 zero, 16 reason, raw response head.
 * END payload: 0 2 status, 2 1 type, 3 1 error kind, 4 4 flags,
 *   8 40 timings (dns, connect, tls, first byte, total; ns from start),
 *   48 32 wire sizes (req head, req body, resp head, resp body),
 *   80 2 error message len, 82 1 server family (0 unknown, 4, 6),
 *   83 1 zero, 84 4 server IPv4 address (family 4; else zero),
 *   then a copy of what the index entry needs from BEGIN, so that an entry
 *   can be rebuilt from its END record alone (BEGIN may be many segments
 *   back): 88 8 start ns, 96 4 frame_off of BEGIN, 100 4 str_off,
 *   104 4 crc32c of host+url, 108 2 span, 110 2 host len, 112 2 url len,
 *   114 1 method, 115 1 client family, 116 16 client address,
 *   132 2 client port, 134 2 server port (zero when family is 0),
 *   136 error message, then with server family 6 the 16 bytes of the
 *   server's IPv6 address (the record is 16 bytes longer).
 *   The server is the upstream address the proxy connected to (or reused
 *   a pooled connection to); family 0 when none is known (DNS or connect
 *   failure, answered by the proxy itself). Records written before the
 *   server existed have zeros at 82..87 and 134..135 and read as family 0;
 *   an IPv4 server keeps the old record length, so older readers read
 *   those records (without the server); older readers take an END record
 *   with an IPv6 server for damaged, as with MSG.
 * DISCARD payload: none (len 0). It takes the place of END for an exchange
 *   the capture filter rejected after it began (seg_xch_discard): the
 *   exchange gets no index entry, a rebuild or recovery closes it without
 *   one and does not count it incomplete; its earlier records stay where
 *   they are (nothing is rewritten) and are never returned.
 * MSG payload: one piece of a WebSocket message of an upgraded exchange
 *   (seg_xch_msg), 32 fixed bytes then the piece's payload bytes (at most
 *   SEG_CHUNK_MAX; unmasked, inflated when it was compressed on the wire):
 *   0 1 direction (0 client to server, 1 server to client), 1 1 opcode
 *   (1 text, 2 binary, 8 close, 9 ping, 10 pong), 2 1 flags (SEG_MSG_F_*:
 *   bit 0 FIRST, 1 LAST, 2 CUT, 3 DEFLATED; others zero), 3 5 zero,
 *   8 8 start ns (wall clock at its first frame), 16 8 length: payload
 *   bytes of the message up to the end of this piece, stored or not,
 *   24 8 wire length: frame payload bytes up to here.
 *   A message is the MSG records of one exchange and direction from one
 *   with FIRST to one with LAST; control messages (opcode >= 8) are one
 *   record with both and may sit between two pieces of a data message.
 *   A record that lost its FIRST (dropped when the writer was full) starts
 *   a message of its own, flagged cut; a message without LAST before END
 *   ends there, flagged cut. Older readers, which know types 1..6, take a
 *   frame holding a MSG record for damaged.
 * TRAILERS payload: the trailer section of one direction (an HTTP/1.1
 *   chunked body's trailer fields, or an HTTP/2 stream's trailing
 *   HEADERS, e.g. gRPC's grpc-status), seg_xch_trailers; at most one per
 *   direction and exchange: 0 1 direction (0 request, 1 response),
 *   1 3 zero, 4 4 wire length: bytes of the whole block as the engine
 *   made it, >= the bytes stored (more when it was cut at
 *   SEG_TRAILERS_MAX; the exchange then has SEG_F_HEAD_TRUNC), 8 the
 *   block: "Name: value\r\n" lines, names as they came (HTTP/2: lower
 *   case), no final empty line; len - 8 <= SEG_TRAILERS_MAX. Older
 *   readers, which know types 1..7, take a frame holding a TRAILERS
 *   record for damaged.
 * Records of one exchange appear in the order begin, request body,
 * response head, response body, messages, trailers, end (or discard);
 * records of different exchanges interleave freely, possibly across
 * frames and segments.
 *
 * .idx after the header: fixed-size entries, one per ended exchange, in
 * END order, written after the frame holding the END record. Readers take
 * the layout, and so the stride, from each file's magic (a damaged header:
 * from the first entry that decodes), so sessions of either layout read.
 * RCAPIDX2 (65 bytes, written since issue 16: <= 150 B on disk per 100 B
 * exchange):
 *   0  5  per-worker sequence; the id is worker << 40 | sequence, the
 *         worker the file header's
 *   5  1  host len (<= SEG_HOST_MAX)   6  2  url len
 *   8  8  start ns
 *  16  6  duration ns, saturating at 2^48 - 1 (78 hours)
 *  22  5  request size (wire)    27  5  response size (wire): each
 *         saturating at 2^40 - 1 (1 TiB). The END record keeps the exact
 *         duration and sizes, which opening an exchange shows
 *  32  4  frame_off: frame holding BEGIN, in segment N - span
 *  36  4  last_frame_off: frame holding END, in this segment
 *  40  4  str_off in .str of segment N - span
 *  44  2  bits 0..9 status (saturating at 1023: HTTP's have 3 digits;
 *         RESP_HEAD and END keep it whole) | bits 10..13 error kind |
 *         bits 14..15 client family (0 none, 1 IPv4, 2 IPv6; 3 invalid)
 *  46  2  flags (bits 0..15, below; all that exist)
 *  48  1  method (bits 0..3) | type class << 4
 *  49  2  span: segments between BEGIN and END
 *  51  2  client port    53  4  client IPv4 address (family 1; else zero:
 *         an IPv6 client's 16 bytes are in the .str extension, below)
 *  57  4  crc32c of the .str text     61  4  crc32c of bytes 0..60
 * RCAPIDX1 (96 bytes, sessions before issue 16; still read, and written
 * again by a rebuild of such a segment):
 *   0  8  id                       8  8  start ns
 *  16  8  duration ns             24  4  frame_off: frame holding BEGIN, in
 *                                        segment N - span
 *  28  4  last_frame_off: frame holding END, in this segment
 *  32  4  str_off in .str of segment N - span   36 2 host len   38 2 url len
 *  40  8  request size (wire)     48  8  response size (wire)
 *  56 16  client address          72  2  client port    74 2 status
 *  76  4  flags                   80  1  method  81 1 type  82 1 error kind
 *  83  1  client family           84  4  crc32c of host+url text
 *  88  2  span: segments between BEGIN and END     90 2 zero
 *  92  4  crc32c of bytes 0..91
 * An entry is valid iff its checksum matches and its enums and lengths are
 * within limits; a partial entry at the end of the file is a torn tail.
 *
 * Flags (BEGIN, END and index entry; an entry's are BEGIN's ORed with
 * END's): bit 0 SEG_F_TLS, 1 SEG_F_TUNNEL (a blind tunnel; before bits
 * 11..13 existed, every CONNECT), 2 SEG_F_REQ_TRUNC, 3 SEG_F_RESP_TRUNC,
 * 4 SEG_F_MEDIA, 5 SEG_F_ERROR, 6 SEG_F_DELETED (never on disk),
 * 7 SEG_F_NO_RESP, 8 SEG_F_HEAD_TRUNC, 9 SEG_F_COOKIES, 10 SEG_F_STR_EXT
 * (entries only), 11..13 the tunnel kind of a CONNECT row (enum
 * seg_tunnel, END only: 0 none or unknown, 1 intercepted, 2 passthrough,
 * 3 not TLS, 4 refused by the client, 5 blind with interception off),
 * 14 SEG_F_H2, 15 SEG_F_HOST_IN_URL (BEGIN, END and entries: the .str
 * text has no host, below). Other bits are zero: an RCAPIDX2 entry has 16
 * bits of flags (SEG_F_ON_DISK, seg-int.h asserts every flag fits), and a
 * rebuild takes an END record with a higher bit for damage. Readers of
 * sessions older than bits 11..13 see 0 there and SEG_F_TUNNEL on every
 * CONNECT row, which reads as before.
 *
 * .str after the header: host bytes then url bytes of each BEGIN, at the
 * str_off the BEGIN record names (no separators, no NUL). With
 * SEG_F_HOST_IN_URL (set by the writer when the URL's authority, the
 * bytes after "scheme://" up to the first '/', '?', '#' or the end, is
 * byte-equal to the host, or starts with the host and a ':') the host
 * bytes are left out: the text starts with the url, the entry's host len
 * stays the host's length and readers take the host from the URL (issue
 * 16: an absolute URL repeats its host). When the entry has
 * SEG_F_STR_EXT, the extension follows the url. Beside an RCAPIDX2
 * index: 0 1 client name len (bits 0..6, <= SEG_CLIENT_NAME_MAX) | bit 7
 * SEG_STR_EXT_V6, 1 n session number (as in BEGIN) as a LEB128 varint (7
 * bits a byte, least significant first, 1..5 bytes), then the client
 * name, then with SEG_STR_EXT_V6 the 16 bytes of the client's IPv6
 * address. Beside an RCAPIDX1 index: 0 4 session number, 4 1 client name
 * len, 5 client name (no IPv6). The entry's crc32c then covers host, url
 * and extension (the bytes stored). Written when the exchange has a
 * number, a client name or (beside an RCAPIDX2 index, whose entries have
 * no room for it) an IPv6 client, so the listing and its filters read
 * them from the .str without opening frames. BEGIN's flags carry both
 * layout bits and the .seg header the index layout, so a rebuild from the
 * frames lays the text out again byte for byte; END's copy of the flags
 * carries them too, so an entry rebuilt from END alone reads it.
 * persist/strtext.c is the one encoder and decoder of this text.
 *
 * tombstones: 24-byte records: 0 8 id, 8 8 time ns, 16 4 magic "RCTB",
 * 20 4 crc32c of bytes 0..19. Appended, never rewritten.
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

#include <zstd.h>

#include "persist/writer-int.h"
#include "rc-assert.h"

static uint8_t *frame_alloc(uint32_t raw_cap);
static void raw_place(struct seg_writer *w);
static int seal(struct seg_writer *w);
static int rotate(struct seg_writer *w);
static int open_segment(struct seg_writer *w);
static uint64_t clock_ns(clockid_t id);

/* Fills the defaults of c; false when a setting is out of its bounds. */
static bool cfg_settle(struct seg_writer_cfg *c)
{
	if (!c->frame_bytes)
		c->frame_bytes = SEG_FRAME_BYTES_DEFAULT;
	if (c->frame_bytes < SEG_FRAME_BYTES_MIN || c->frame_bytes > SEG_FRAME_BYTES_MAX)
		return false;
	c->flush_ns = c->flush_ns ? c->flush_ns : SEG_FLUSH_NS_DEFAULT;
	c->rotate_bytes = c->rotate_bytes ? c->rotate_bytes : SEG_ROTATE_BYTES_DEFAULT;
	c->rotate_ns = c->rotate_ns ? c->rotate_ns : SEG_ROTATE_NS_DEFAULT;
	c->body_max = c->body_max ? c->body_max : SEG_BODY_MAX_DEFAULT;
	c->open_max = c->open_max ? c->open_max : SEG_OPEN_DEFAULT;
	c->zstd_level = c->zstd_level ? c->zstd_level : SEG_ZSTD_LEVEL_DEFAULT;
	if (c->zstd_level < SEG_ZSTD_LEVEL_MIN || c->zstd_level > SEG_ZSTD_LEVEL_MAX)
		return false;
	if (c->zstd_budget > SEG_ZSTD_BUDGET_MAX)
		return false;
	c->idx_version = c->idx_version ? c->idx_version : SEG_IDX_VERSION;
	if (c->idx_version != SEG_IDX_V1 && c->idx_version != SEG_IDX_V2)
		return false;
	return c->rotate_bytes <= SEG_ROTATE_BYTES_MAX && c->open_max <= SEG_OPEN_MAX;
}

/* Every buffer the writer will use, allocated now; false when one is
 * missing (seg_writer_close frees what was). */
static bool bufs_alloc(struct seg_writer *w)
{
	const struct seg_writer_cfg *c = &w->cfg;
	/* incompressible frames grow to SEG_RAW_FRAME_BYTES (seg-limits.h) */
	w->raw_cap = (c->frame_bytes > SEG_RAW_FRAME_BYTES ? c->frame_bytes : SEG_RAW_FRAME_BYTES) +
		     SEG_REC_MAX;
	w->raw_buf = frame_alloc(w->raw_cap);
	w->raw = w->raw_buf ? w->raw_buf + SEG_FRAME_HDR_SIZE : NULL;
	w->open_str = malloc(w->raw_cap);
	w->open_idx = malloc(w->raw_cap);
	w->sample_out = malloc(ZSTD_compressBound(SEG_SAMPLE_BYTES));
	w->xch = calloc(c->open_max, sizeof(*w->xch));
	w->cctx = ZSTD_createCCtx();
	bool ok = w->raw && w->open_str && w->open_idx && w->sample_out && w->xch && w->cctx;
	for (uint32_t i = 0; ok && i < SEG_WRITER_SLOTS; i++) {
		struct slot *s = &w->slots[i];
		s->frame = frame_alloc(w->raw_cap);
		s->str = malloc(w->raw_cap);
		s->idx = malloc(w->raw_cap);
		ok = s->frame && s->str && s->idx;
	}
	return ok;
}

/* Continues after whatever a previous run left: never reuse a file or an
 * id. 0 or -errno. */
static int continue_after(struct seg_writer *w)
{
	struct seg_list_item *items = NULL;
	size_t n = 0;
	int rc = seg_list_segments(w->dir, &items, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (items[i].worker == w->cfg.worker && items[i].segno > w->segno)
			w->segno = items[i].segno;
	free(items);
	uint64_t last = seg_last_id(w->dir, w->cfg.worker, w->segno);
	w->next_seq = last ? (last & ((1ull << SEG_ID_WORKER_SHIFT) - 1)) + 1 : 1;
	return 0;
}

int seg_writer_open(const struct seg_writer_cfg *cfg, uint64_t now_ns, struct seg_writer **out)
{
	if (cfg->worker >= SEG_WORKERS_MAX || strlen(cfg->session_dir) >= PATH_MAX - 32)
		return -EINVAL;
	struct seg_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cfg = *cfg;
	snprintf(w->dir, sizeof(w->dir), "%s", cfg->session_dir);
	w->cfg.session_dir = w->dir;
	if (!cfg_settle(&w->cfg)) {
		free(w);
		return -EINVAL;
	}
	w->zb_at_ns = clock_ns(CLOCK_MONOTONIC); /* cfg.zstd_budget starts with a burst */
	w->zb_credit_ns = (int64_t)SEG_ZSTD_BURST_NS;
	if (!bufs_alloc(w)) {
		seg_writer_close(w);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < w->cfg.open_max; i++)
		w->xch[i].next_free = i + 1;
	w->fd_seg = w->fd_str = w->fd_idx = w->fd_dio = -1;
	w->dir_fd = -1;
	w->now_ns = now_ns;
	int rc = 0;
	/* --sync: fsync'd after each new segment: its directory entry is part
	 * of what a commit makes durable */
	if (w->cfg.sync && (w->dir_fd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = continue_after(w);
	if (rc == 0)
		rc = open_segment(w);
	if (rc < 0) {
		seg_writer_close(w);
		return rc;
	}
	raw_place(w);
	*out = w;
	return 0;
}

void seg_writer_close(struct seg_writer *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->q_len; i++) {
		struct qio *q = &w->queue[(w->q_head + i) % QUEUE_LEN];
		if (q->close_after)
			seg_w_close_old(w, q->io.fd);
	}
	if (w->fd_seg >= 0)
		close(w->fd_seg);
	if (w->fd_dio >= 0)
		close(w->fd_dio);
	if (w->fd_str >= 0)
		close(w->fd_str);
	if (w->fd_idx >= 0)
		close(w->fd_idx);
	if (w->dir_fd >= 0)
		close(w->dir_fd);
	for (uint32_t i = 0; i < SEG_WRITER_SLOTS; i++) {
		free(w->slots[i].frame);
		free(w->slots[i].str);
		free(w->slots[i].idx);
	}
	ZSTD_freeCCtx(w->cctx);
	free(w->raw_buf);
	free(w->sample_out);
	free(w->open_str);
	free(w->open_idx);
	free(w->xch);
	free(w);
}

/* A frame buffer: room for an O_DIRECT write's leading partial block,
 * header, the compress bound of raw_cap bytes and the trailing padding,
 * in whole pages and page-aligned (what O_DIRECT asks of a buffer). NULL
 * when out of memory; free() it. */
static uint8_t *frame_alloc(uint32_t raw_cap)
{
	size_t n = 2u * SEG_DIO_ALIGN_MAX + SEG_FRAME_HDR_SIZE + ZSTD_compressBound(raw_cap);
	void *p = NULL;
	n = (n + 4095u) & ~(size_t)4095u;
	return posix_memalign(&p, 4096u, n) == 0 ? p : NULL;
}

/* Where the next frame starts in its slot buffer: at the .seg's offset
 * within its block for O_DIRECT (the block's earlier bytes go in front of
 * it), else at 0. seg_bytes changes only in seal and rotate, so it holds
 * from the first record of the open frame to its seal. */
static uint32_t frame_at(const struct seg_writer *w)
{
	return w->dio_align ? (uint32_t)(w->seg_bytes % w->dio_align) : 0u;
}

/* Points the (empty) open frame where seal will want its records. */
static void raw_place(struct seg_writer *w)
{
	ASSERT(w->raw_len == 0);
	w->raw = w->raw_buf + frame_at(w) + SEG_FRAME_HDR_SIZE;
}

/* cfg.direct, at the first segment: opens a second fd on the .seg at path
 * with O_DIRECT when the file system reports an alignment the writer
 * handles (statx; at most SEG_DIO_ALIGN_MAX); else the writer stays
 * buffered and direct_errno says why. Later segments get theirs through
 * next_io like their other opens. */
static void direct_setup(struct seg_writer *w, const char *path)
{
	struct statx sx;
	int e = 0, fd = open(path, SEG_DIO_FLAGS);
	if (fd < 0)
		e = errno;
	else if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) < 0)
		e = errno;
	else if (!(sx.stx_mask & STATX_DIOALIGN) || sx.stx_dio_offset_align == 0)
		e = EOPNOTSUPP; /* the file system reports no O_DIRECT alignment */
	else if (sx.stx_dio_offset_align > SEG_DIO_ALIGN_MAX || sx.stx_dio_mem_align > 4096u ||
		 SEG_DIO_ALIGN_MAX % sx.stx_dio_offset_align != 0)
		e = EINVAL;
	if (e && fd >= 0)
		close(fd);
	w->fd_dio = e ? -1 : fd;
	w->st.direct_errno = e;
	w->dio_align = e ? 0u : sx.stx_dio_offset_align;
	w->st.direct_align = w->dio_align;
}

/* Creates the three files of segment w->segno + 1 and writes their headers
 * synchronously: once per segment (hundreds of MiB), a few µs. */
static int open_segment(struct seg_writer *w)
{
	int fds[3] = { -1, -1, -1 };
	uint8_t hdr[SEG_FILE_HDR_SIZE];
	struct seg_fhdr h = { .worker = w->cfg.worker, .segno = w->segno + 1,
			      .created_ns = w->now_ns, .idx_version = w->cfg.idx_version };
	int rc = 0;
	if (h.segno > SEG_SEGNO_MAX)
		return -EFBIG;
	for (int k = 0; k < 3; k++) {
		char name[32], path[PATH_MAX + 40];
		seg_file_name(name, sizeof(name), w->cfg.worker, h.segno, (enum seg_kind)k);
		snprintf(path, sizeof(path), "%s/%s", w->dir, name);
		fds[k] = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fds[k] < 0) {
			rc = -errno;
			goto out_close;
		}
		seg_fhdr_encode(hdr, (enum seg_kind)k, &h);
		seg_fhdr_verify(hdr, (enum seg_kind)k, &h);
		if (k == SEG_K_SEG) {
			memcpy(w->tail, hdr, sizeof(hdr));
			if (w->cfg.direct)
				direct_setup(w, path);
		}
		if (pwrite(fds[k], hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
			rc = -EIO;
			goto out_close;
		}
	}
	w->fd_seg = fds[0];
	w->fd_idx = fds[1];
	w->fd_str = fds[2];
	w->segno = h.segno;
	w->seg_bytes = w->str_bytes = w->idx_bytes = SEG_FILE_HDR_SIZE;
	w->seg_created_ns = w->now_ns;
	w->st.segments++;
	return 0;
out_close:
	for (int k = 0; k < 3; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	return rc;
}

static int free_slot(struct seg_writer *w)
{
	for (uint32_t i = 0; i < SEG_WRITER_SLOTS; i++)
		if (!w->slots[i].busy)
			return (int)i;
	return -1;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* cfg.zstd_budget: credits the time since the last call at the budget's
 * share (up to SEG_ZSTD_BURST_NS); true when the credit is spent. */
static bool budget_spent(struct seg_writer *w)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	uint64_t earned = (now - w->zb_at_ns) / 100u * w->cfg.zstd_budget;
	w->zb_at_ns = now;
	if (earned > SEG_ZSTD_BURST_NS)
		earned = SEG_ZSTD_BURST_NS;
	w->zb_credit_ns += (int64_t)earned;
	if (w->zb_credit_ns > (int64_t)SEG_ZSTD_BURST_NS)
		w->zb_credit_ns = (int64_t)SEG_ZSTD_BURST_NS;
	return w->zb_credit_ns <= 0;
}

/* Compresses the open frame into slot s at `at` (ZSTD_compressCCtx's
 * result), charging its thread CPU time to the budget when there is one. */
static size_t compress(struct seg_writer *w, struct slot *s, uint32_t at)
{
	uint64_t t0 = w->cfg.zstd_budget ? clock_ns(CLOCK_THREAD_CPUTIME_ID) : 0;
	size_t clen = ZSTD_compressCCtx(w->cctx, s->frame + at + SEG_FRAME_HDR_SIZE,
					ZSTD_compressBound(w->raw_cap), w->raw, w->raw_len,
					w->cfg.zstd_level);
	if (w->cfg.zstd_budget)
		w->zb_credit_ns -= (int64_t)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0);
	return clen;
}

/* Puts the open frame's payload into slot s: compressed, or as it is
 * (the buffers of open frame and slot trade places: no copy) when most of
 * it is incompressible body, cfg.zstd_budget is spent or zstd did not
 * shrink it. Returns the payload length, or 0 when zstd failed; *raw says
 * which. */
static size_t frame_payload(struct seg_writer *w, struct slot *s, uint32_t at, bool *raw)
{
	*raw = seg_w_incomp_frame(w);
	size_t clen = w->raw_len;
	if (!*raw && w->cfg.zstd_budget && budget_spent(w)) {
		*raw = true;
		w->st.frames_over_budget++;
	}
	if (!*raw) {
		clen = compress(w, s, at);
		if (ZSTD_isError(clen))
			return 0;
		*raw = clen >= w->raw_len;
	}
	if (*raw) {
		uint8_t *t = s->frame;
		s->frame = w->raw_buf;
		w->raw_buf = t; /* w->raw: raw_place() once the frame is sealed */
		clen = w->raw_len;
		w->st.frames_raw++;
	}
	return clen;
}

/* Queues the write of slot s's frame (at offset `at` of its buffer) to the
 * .seg at seg_bytes. A frame of SEG_DIO_MIN_BYTES or more, when the
 * writer has an O_DIRECT fd, is written through it: from the block
 * boundary before seg_bytes, with the block's earlier bytes (w->tail) in
 * front of the frame, to the next boundary, zero-padded (the next write
 * overwrites the zeros; readers skip them at the end of the file). Other
 * frames are written through the page cache as they are. Either way
 * w->tail follows the file's last partial block. */
static void queue_frame(struct seg_writer *w, struct slot *s, uint32_t at, int8_t free_slot)
{
	uint32_t a = w->dio_align, len = s->frame_len;
	if (a == 0) {
		seg_w_queue_late(w, SEG_K_SEG, s->frame, len, w->seg_bytes, free_slot);
		return;
	}
	uint32_t end = at + len, t2 = end % a;
	bool dio = len >= SEG_DIO_MIN_BYTES;
	ASSERT(at < a);
	ASSERT(at == w->seg_bytes % a);
	if (dio)
		memcpy(s->frame, w->tail, at); /* the block's bytes before the frame */
	if (end < a) /* still in the tail's block */
		memcpy(w->tail + at, s->frame + at, len);
	else
		memcpy(w->tail, s->frame + end - t2, t2);
	if (!dio) {
		seg_w_queue_late(w, SEG_K_SEG, s->frame + at, len, w->seg_bytes, free_slot);
		return;
	}
	uint32_t dlen = (end + a - 1) / a * a;
	memset(s->frame + end, 0, dlen - end);
	w->st.frames_direct++;
	seg_w_queue_late(w, K_DIO, s->frame, dlen, w->seg_bytes - at, free_slot);
}

/* Compresses the open frame into a free slot and queues its writes:
 * frame, then strings, then index entries (the last one frees the slot).
 * Returns 0, -ENOBUFS when no slot is free, or -errno. */
static int seal(struct seg_writer *w)
{
	if (w->failed)
		return w->failed;
	if (w->raw_len == 0)
		return 0;
	int si = free_slot(w);
	if (si < 0)
		return -ENOBUFS;
	struct slot *s = &w->slots[si];
	uint32_t at = frame_at(w);
	ASSERT(w->raw == w->raw_buf + at + SEG_FRAME_HDR_SIZE); /* raw_place() held */
	bool raw;
	size_t clen = frame_payload(w, s, at, &raw);
	if (clen == 0)
		return -EIO;
	ASSERT(clen > 0);
	ASSERT(clen <= SEG_FRAME_CLEN_MAX);
	ASSERT(w->raw_len <= SEG_FRAME_ULEN_MAX);
	ASSERT(w->nrec <= SEG_FRAME_RECS_MAX);
	struct seg_frame_hdr fh = {
		.clen = (uint32_t)clen, .ulen = w->raw_len, .nrec = w->nrec, .raw = raw,
		.id_hi = ((uint64_t)w->cfg.worker << SEG_ID_WORKER_SHIFT) | (w->next_seq - 1),
		.payload_crc = raw ? seg_w_raw_crc(w)
				   : seg_crc32c(0, s->frame + at + SEG_FRAME_HDR_SIZE, clen),
	};
#ifndef NDEBUG
	ASSERT(fh.payload_crc == seg_crc32c(0, s->frame + at + SEG_FRAME_HDR_SIZE, clen));
#endif
	seg_frame_hdr_encode(s->frame + at, &fh);
	seg_frame_hdr_verify(s->frame + at, &fh);
	s->frame_len = SEG_FRAME_HDR_SIZE + (uint32_t)clen;
	memcpy(s->str, w->open_str, w->open_str_len);
	s->str_len = w->open_str_len;
	memcpy(s->idx, w->open_idx, w->open_idx_len);
	s->idx_len = w->open_idx_len;
	s->busy = true;
	bool has_str = s->str_len > 0, has_idx = s->idx_len > 0;
	queue_frame(w, s, at, (has_str || has_idx) ? -1 : (int8_t)si);
	if (has_str)
		seg_w_queue_late(w, SEG_K_STR, s->str, s->str_len, w->str_bytes, has_idx ? -1 : (int8_t)si);
	if (has_idx)
		seg_w_queue_late(w, SEG_K_IDX, s->idx, s->idx_len, w->idx_bytes, (int8_t)si);
	w->seg_bytes += s->frame_len;
	w->str_bytes += s->str_len;
	w->idx_bytes += s->idx_len;
	w->st.frames++;
	w->st.bytes_raw += w->raw_len;
	w->st.bytes_disk += s->frame_len;
	w->raw_len = w->nrec = w->open_str_len = w->open_idx_len = w->raw_incomp = 0;
	w->raw_crc = w->raw_crc_len = 0;
	w->oldest_ns = 0;
	raw_place(w);
	if (w->opening)
		return 0; /* the last rotation's files are not open yet: next seal */
	if (w->seg_bytes >= w->cfg.rotate_bytes ||
	    w->now_ns - w->seg_created_ns >= w->cfg.rotate_ns)
		return rotate(w);
	return 0;
}

/* Called with the open frame empty and no open queued: queues fsync+close
 * of the current files behind their writes, then the opens of the next
 * segment's three files and their headers. The writer opens nothing
 * itself: the owner performs the opens (on its ring) like the writes, and
 * every later write to the new files is bound to their fds in next_io. */
static int rotate(struct seg_writer *w)
{
	ASSERT(w->raw_len == 0);
	ASSERT(w->opening == 0);
	struct seg_fhdr h = { .worker = w->cfg.worker, .segno = w->segno + 1,
			      .created_ns = w->now_ns, .idx_version = w->cfg.idx_version };
	if (h.segno > SEG_SEGNO_MAX) {
		w->failed = -EFBIG;
		return w->failed;
	}
	/* The old fds stay current until the opens land: writes queued before
	 * this rotation are bound to them in next_io. */
	int nk = w->dio_align ? 4 : 3; /* K_DIO: the .seg again, with O_DIRECT */
	for (int k = 0; k < nk; k++)
		seg_w_queue_push(w, *seg_w_kind_fd(w, k), true, NULL, 0, 0, -1, true);
	for (int k = 0; k < nk; k++) {
		char name[32];
		seg_file_name(name, sizeof(name), w->cfg.worker, h.segno,
			      k == K_DIO ? SEG_K_SEG : (enum seg_kind)k);
		snprintf(w->open_path[k], sizeof(w->open_path[k]), "%s/%s", w->dir, name);
		struct qio *q = seg_w_queue_push(w, -1, false, NULL, 0, 0, -1, false);
		q->io.path = w->open_path[k];
		q->io.open_flags = k == K_DIO ? SEG_DIO_FLAGS : SEG_OPEN_FLAGS;
		q->io.open_mode = SEG_OPEN_MODE;
		q->open_k = (int8_t)k;
		w->opening++;
	}
	for (int k = 0; k < 3; k++) {
		seg_fhdr_encode(w->open_hdr[k], (enum seg_kind)k, &h);
		seg_fhdr_verify(w->open_hdr[k], (enum seg_kind)k, &h);
		seg_w_queue_late(w, k, w->open_hdr[k], SEG_FILE_HDR_SIZE, 0, -1);
	}
	memcpy(w->tail, w->open_hdr[SEG_K_SEG], SEG_FILE_HDR_SIZE);
	w->segno = h.segno;
	w->seg_bytes = w->str_bytes = w->idx_bytes = SEG_FILE_HDR_SIZE;
	w->seg_created_ns = w->now_ns;
	w->st.segments++;
	raw_place(w);
	return 0;
}

int seg_writer_seal(struct seg_writer *w) { return seal(w); }

int seg_writer_tick(struct seg_writer *w, uint64_t now_ns)
{
	if (w->failed)
		return w->failed;
	w->now_ns = now_ns;
	if (w->raw_len > 0 && now_ns - w->oldest_ns >= w->cfg.flush_ns) {
		int rc = seal(w);
		return rc == -ENOBUFS ? 0 : rc; /* retried on the next tick */
	}
	if (w->raw_len == 0 && w->opening == 0 && w->seg_bytes > SEG_FILE_HDR_SIZE &&
	    now_ns - w->seg_created_ns >= w->cfg.rotate_ns)
		return rotate(w);
	return 0;
}

/* Group commit: seals the open frame and queues, behind its writes, an
 * fsync of the directory when a segment was created since the last one,
 * then an fdatasync of the current segment whose completion makes every
 * exchange ended so far durable. Called by next_io with no commit
 * outstanding, so one commit is in flight at most and the next one covers
 * every exchange that ended meanwhile. The .idx and .str need no fsync:
 * readers complete them from the frames (seg_index_scan). */
void seg_w_commit(struct seg_writer *w)
{
	int rc = seal(w);
	if (rc < 0 || w->raw_len > 0)
		return; /* no free slot (sealed once a write lands) or failed */
	if (w->dir_fd >= 0 && w->dir_synced_segments != w->st.segments) {
		seg_w_queue_push(w, w->dir_fd, true, NULL, 0, 0, -1, false);
		w->dir_synced_segments = w->st.segments;
	}
	/* bound in next_io like the frame's write: after a rotation queued by
	 * this seal, the new segment (the old one is fsync'd by the rotation) */
	struct qio *q = seg_w_queue_push(w, -1, true, NULL, 0, 0, -1, false);
	q->late_k = SEG_K_SEG;
	q->sync_mark = w->ends;
	w->sync_queued = w->ends;
}

uint64_t seg_writer_ended(const struct seg_writer *w) { return w->ends; }

bool seg_writer_durable(const struct seg_writer *w, uint64_t mark)
{
	return w->failed != 0 || w->synced >= mark;
}

/* n more body bytes fit without a drop: in the open frame, or in a new one
 * once it is sealed into a free slot. A failed writer has room (it drops
 * everything anyway, and its owner must not wait for it). */
bool seg_writer_room(const struct seg_writer *w, size_t n)
{
	if (w->failed)
		return true;
	/* Bodies leave a reserve for the heads and ends of every other
	 * exchange: room for one more record in the open frame, or a second
	 * free slot beyond the one their own seal takes. Without it a few big
	 * bodies on a slow disk take every slot and the next small exchange
	 * is dropped while the bodies merely wait. */
	size_t need = n + (n / SEG_CHUNK_MAX + 1) * (SEG_REC_HDR + 32u) + SEG_REC_MAX;
	if (w->raw_cap - w->raw_len >= need)
		return true;
	unsigned free_slots = 0;
	for (uint32_t i = 0; i < SEG_WRITER_SLOTS; i++)
		free_slots += !w->slots[i].busy;
	return free_slots >= 2;
}

int seg_writer_flush_sync(struct seg_writer *w)
{
	int rc = seal(w);
	if (rc < 0 && rc != -ENOBUFS)
		return rc;
	/* Bound: every queued io completes or shrinks; a slot frees on the way
	 * so the open frame can be sealed after a -ENOBUFS. */
	for (uint32_t guard = 0; guard < (1u << 24); guard++) {
		const struct seg_io *io = seg_writer_next_io(w);
		if (!io) {
			if (w->raw_len == 0 || w->failed)
				break;
			rc = seal(w);
			if (rc < 0)
				return rc;
			continue;
		}
		seg_writer_io_done(w, seg_io_sync(io));
	}
	return w->failed;
}

void seg_writer_get_stats(const struct seg_writer *w, struct seg_writer_stats *st)
{
	*st = w->st;
}
