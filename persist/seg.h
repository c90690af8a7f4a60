/* persist/seg.h: capture store API: segment writer (one per worker and
 * session, I/O-agnostic so the engine submits its writes through its own
 * io_uring), segment reader with crash recovery, index rebuild, fsck,
 * tombstones and retention. On-disk format: top of persist/segment.c.
 * Session metadata lives in persist/ses.h, listing/sorting in
 * persist/query.h. Depends on zstd only.
 */
#ifndef SEG_H
#define SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg-limits.h"

/* Exchange flags (index entry, END record). */
#define SEG_F_TLS (1u << 0)        /* intercepted TLS (https) */
#define SEG_F_TUNNEL (1u << 1)     /* blind CONNECT tunnel: no heads, no bodies (every
				    * CONNECT row before SEG_F_TUN_MASK existed) */
#define SEG_F_REQ_TRUNC (1u << 2)  /* request body cut at body_max (or writer full) */
#define SEG_F_RESP_TRUNC (1u << 3) /* response body cut at body_max (or writer full) */
#define SEG_F_MEDIA (1u << 4)      /* media response: body forwarded, not stored */
#define SEG_F_ERROR (1u << 5)      /* error kind/message set */
#define SEG_F_DELETED (1u << 6)    /* tombstoned (set by the reader, never on disk) */
#define SEG_F_NO_RESP (1u << 7)    /* "save responses" off: no response head/body */
#define SEG_F_HEAD_TRUNC (1u << 8) /* a head block was cut at SEG_HEAD_MAX */
#define SEG_F_COOKIES (1u << 9)    /* captured with "capture cookies" on: its Cookie and
				    * Set-Cookie lines are stored (with NO_RESP, the
				    * response head holds only the Set-Cookie lines) */
#define SEG_F_STR_EXT (1u << 10)   /* .str text after host+url: the session number and
				    * the client name (segment.c), so listings and
				    * filters have both without opening frames; index
				    * entries only, never in seg_exchange.flags) */

/* What a CONNECT tunnel was: a 3-bit field in the flags (bits 11..13), set
 * at the END of the CONNECT row; 0 on other rows and on CONNECT rows of
 * sessions written before it existed (those carry SEG_F_TUNNEL alone).
 * Since the field exists SEG_F_TUNNEL marks blind tunnels only
 * (passthrough, not TLS, interception off): an intercepted CONNECT row
 * has no SEG_F_TUNNEL, its requests are the rows that follow. */
#define SEG_F_TUN_SHIFT 11u
/* bit 14: the exchange was an HTTP/2 stream from the client (its record's
 * http_version is 20), so listings show the version from the index alone */
#define SEG_F_H2 (1u << 14)
#define SEG_F_TUN_MASK (7u << SEG_F_TUN_SHIFT)   /* enum seg_tunnel << SEG_F_TUN_SHIFT */
/* bit 15: the .str text holds no host: the host is the URL's authority
 * or the part of it before ":port", byte for byte (persist/strtext.c); BEGIN, END and index entries, never
 * in seg_exchange.flags */
#define SEG_F_HOST_IN_URL (1u << 15)
/* Flags that say how the .str text is laid out, not what the exchange was. */
#define SEG_F_LAYOUT (SEG_F_STR_EXT | SEG_F_HOST_IN_URL)
enum seg_tunnel {
	SEG_TUN_UNKNOWN = 0,     /* not a CONNECT, or an old session's CONNECT */
	SEG_TUN_INTERCEPTED = 1, /* TLS intercepted: its requests are the rows that follow */
	SEG_TUN_PASSTHROUGH = 2, /* blind: --passthrough matched the CONNECT host or the SNI */
	SEG_TUN_NOT_TLS = 3,     /* blind: the client's first bytes were not TLS */
	SEG_TUN_REFUSED = 4,     /* the client refused our certificate or aborted the
				  * handshake (a pinned app, or the CA not installed) */
	SEG_TUN_BLIND = 5,       /* blind: interception off (no CA) */
	SEG_TUN_COUNT
};
static inline unsigned seg_tunnel_of(uint32_t flags)
{
	return (flags & SEG_F_TUN_MASK) >> SEG_F_TUN_SHIFT;
}
/* "intercepted", "passthrough", "not_tls", "refused", "blind"; "" for
 * SEG_TUN_UNKNOWN, and "tunnel" for a CONNECT row of an old session
 * (SEG_F_TUNNEL without the field). */
const char *seg_tunnel_name(uint32_t flags);

enum seg_scheme { SEG_SCHEME_HTTP = 0, SEG_SCHEME_HTTPS = 1, SEG_SCHEME_TUNNEL = 2 };

enum seg_method {
	SEG_M_OTHER = 0, SEG_M_GET, SEG_M_POST, SEG_M_PUT, SEG_M_DELETE, SEG_M_PATCH,
	SEG_M_HEAD, SEG_M_OPTIONS, SEG_M_CONNECT, SEG_M_TRACE, SEG_M_COUNT
};

/* Content-type classes, as the filter module names them. */
enum seg_type {
	SEG_T_NONE = 0, SEG_T_JSON, SEG_T_HTML, SEG_T_XML, SEG_T_JS, SEG_T_CSS, SEG_T_TEXT,
	SEG_T_IMAGE, SEG_T_MEDIA, SEG_T_FONT, SEG_T_FORM, SEG_T_BINARY, SEG_T_OTHER, SEG_T_COUNT
};

enum seg_error {
	SEG_E_NONE = 0, SEG_E_DNS, SEG_E_CONNECT, SEG_E_TLS, SEG_E_TIMEOUT, SEG_E_RESET,
	SEG_E_PROTOCOL, SEG_E_UPSTREAM_CLOSED, SEG_E_CLIENT_CLOSED, SEG_E_OTHER,
	SEG_E_CERT_REFUSED,   /* the client refused our certificate (CONNECT row) */
	SEG_E_COUNT
};

enum seg_dir { SEG_DIR_REQ = 0, SEG_DIR_RESP = 1 };

struct seg_addr {
	uint8_t family; /* 0 none, 4 IPv4 (addr[0..3]), 6 IPv6 */
	uint16_t port;
	uint8_t addr[16];
};

/* Durations from start in ns; 0 = did not happen (reused connection, no TLS). */
struct seg_timings {
	uint64_t dns_ns, connect_ns, tls_ns, ttfb_ns, total_ns;
};

/* Bytes on the wire (before any cap), each direction head and body. */
struct seg_wire {
	uint64_t req_head, req_body, resp_head, resp_body;
};

/* What the engine knows when a request head has been parsed. Pointers are
 * borrowed for the call only; long fields are cut to seg-limits.h. */
struct seg_xch_begin {
	uint64_t start_ns; /* wall clock (CLOCK_REALTIME) of the first request byte */
	uint8_t scheme;    /* enum seg_scheme */
	uint8_t http_version; /* 10, 11, 20 */
	uint16_t port;     /* upstream port */
	uint32_t flags;    /* SEG_F_TLS / SEG_F_TUNNEL known at begin */
	const char *method; size_t method_len;
	const char *host; size_t host_len;
	const char *url; size_t url_len; /* absolute URL as shown to users */
	const void *req_head; size_t req_head_len; /* raw header block incl. request line */
	struct seg_addr client;
	const char *client_name; size_t client_name_len; /* optional */
	uint32_t number;   /* per-session exchange number shown to people (from 1,
			    * in start order); 0 = none. The store's own id
			    * (worker << 40 | sequence) stays internal. */
};

struct seg_xch_end {
	uint16_t status; /* final status, 0 when no response */
	uint8_t type;    /* enum seg_type; 0 keeps what resp_head said */
	uint8_t error;   /* enum seg_error */
	uint32_t flags;  /* ORed into the exchange flags */
	struct seg_timings t;
	struct seg_wire wire;
	const char *err_msg; size_t err_msg_len;
	struct seg_addr server; /* upstream address connected to; family 0 unknown */
};

struct seg_writer_cfg {
	const char *session_dir;
	uint16_t worker;         /* < SEG_WORKERS_MAX */
	uint32_t frame_bytes;    /* 0 = SEG_FRAME_BYTES_DEFAULT */
	uint64_t flush_ns;       /* 0 = SEG_FLUSH_NS_DEFAULT */
	uint64_t rotate_bytes;   /* 0 = SEG_ROTATE_BYTES_DEFAULT */
	uint64_t rotate_ns;      /* 0 = SEG_ROTATE_NS_DEFAULT */
	uint64_t body_max;       /* per direction; 0 = SEG_BODY_MAX_DEFAULT */
	uint32_t open_max;       /* 0 = SEG_OPEN_DEFAULT */
	int zstd_level;          /* SEG_ZSTD_LEVEL_MIN..MAX, 0 = SEG_ZSTD_LEVEL_DEFAULT */
	uint32_t zstd_budget;    /* % of the thread's time zstd may take, beyond:
				  * frames raw (seg-limits.h); 0 = no budget */
	bool direct;             /* write .seg frames with O_DIRECT where the file
				  * system allows it (else buffered, and
				  * seg_writer_stats.direct_errno says why) */
	bool save_responses;     /* false: response head/body never stored */
	bool sync;               /* group commit (ringcap run --sync): next_io
				  * queues an fdatasync behind the writes of
				  * the exchanges ended so far, one commit
				  * outstanding; seg_writer_durable says when
				  * an exchange is on stable storage */
	uint8_t idx_version;     /* 0: the current layout (RCAPIDX2 beside each
				  * segment, the host not repeated in the .str);
				  * 1: the layout of sessions before issue 16
				  * (RCAPIDX1, host stored beside the URL), for
				  * tests of old sessions */
};

/* One write, fsync or open the owner must perform, at most one outstanding:
 *   path set:  openat(AT_FDCWD, path, open_flags, open_mode); the result
 *              (the new fd, or -errno) goes to seg_writer_io_done. A
 *              rotation asks for its three files this way, so the owner can
 *              put the open on its ring (IORING_OP_OPENAT) instead of the
 *              writer blocking on the file system;
 *   fsync set: fsync(fd);
 *   otherwise: pwrite(fd, buf, len, off).
 * seg_io_sync() performs one with plain system calls. */
struct seg_io {
	int fd;
	bool fsync;
	const void *buf;
	uint32_t len;
	uint64_t off;
	const char *path; /* NULL, or the file to create (valid until io_done) */
	int open_flags;
	uint32_t open_mode;
};

/* Performs io with blocking system calls (tests, offline tools, flushing at
 * shutdown); returns what io_done wants: bytes written, 0, an fd, -errno. */
int seg_io_sync(const struct seg_io *io);

struct seg_writer_stats {
	uint64_t exchanges, frames, bytes_raw, bytes_disk, refused, chunks_dropped, segments;
	uint64_t discarded; /* seg_xch_discard() calls that wrote their record */
	uint64_t frames_raw;   /* frames written without zstd (SEG_FRAME_F_RAW) */
	uint64_t frames_over_budget; /* of those: compressible, but cfg.zstd_budget was spent */
	uint64_t bodies_raw;   /* bodies sampled incompressible (seg-limits.h) */
	uint64_t frames_direct; /* frames written with O_DIRECT (SEG_DIO_MIN_BYTES) */
	uint64_t trailers_cut;  /* trailer sections stored short (seg_xch_trailers) */
	uint32_t direct_align; /* O_DIRECT .seg writes at this alignment; 0: buffered */
	int direct_errno;      /* cfg.direct asked, the file system refused: why */
};

struct seg_writer;
struct seg_xch; /* one open exchange, owned by the writer */

/* Opens the worker's writer in an existing session directory. Continues
 * after the highest segment and exchange id already there (a restarted
 * daemon captures on into the same session). Allocates all buffers now.
 * now_ns: wall clock. Returns 0 or -errno. */
int seg_writer_open(const struct seg_writer_cfg *cfg, uint64_t now_ns, struct seg_writer **out);
/* Frees the writer. Unflushed data is lost: call seg_writer_flush_sync()
 * or drain seg_writer_next_io() first. */
void seg_writer_close(struct seg_writer *w);

/* Starts an exchange; *out stays valid until seg_xch_end(). Returns 0,
 * -ENOBUFS (too many open exchanges or all frame buffers busy: count a
 * drop, forward anyway) or -EIO after a failed write. */
int seg_xch_begin(struct seg_writer *w, const struct seg_xch_begin *b, struct seg_xch **out,
		  uint64_t *id_out);
/* Appends body bytes in one direction. Bytes past body_max are dropped and
 * flag the exchange truncated; so are bytes the writer has no room for.
 * Returns 0 or -EIO. */
int seg_xch_body(struct seg_writer *w, struct seg_xch *x, enum seg_dir dir, const void *p,
		 size_t n);
/* Response head: status, reason, raw header block, content-type class.
 * SEG_T_MEDIA (or save_responses off) drops the response body. Without
 * save_responses (the writer's, or SEG_F_NO_RESP at begin) the head is not
 * stored either, unless the exchange has SEG_F_COOKIES: the caller then
 * passes the status line and Set-Cookie lines only, and they are stored. */
int seg_xch_resp_head(struct seg_writer *w, struct seg_xch *x, uint16_t status,
		      const char *reason, size_t reason_len, const void *head, size_t head_len,
		      uint8_t type);
/* WebSocket messages of an upgraded exchange, piece by piece (the MSG
 * record, segment.c). Flags of a piece: */
#define SEG_MSG_F_FIRST 0x01u    /* first piece of its message */
#define SEG_MSG_F_LAST 0x02u     /* last piece: len is the message's length */
#define SEG_MSG_F_CUT 0x04u      /* payload incomplete (--max-body, "save responses"
				  * off, the writer full, or the engine could not
				  * follow the frames) */
#define SEG_MSG_F_DEFLATED 0x08u /* permessage-deflate on the wire; stored inflated */
#define SEG_MSG_F_ALL 0x0fu
struct seg_msg_piece {
	uint8_t dir;       /* enum seg_dir: REQ = client to server */
	uint8_t opcode;    /* 1 text, 2 binary, 8 close, 9 ping, 10 pong */
	uint8_t flags;     /* SEG_MSG_F_* */
	uint64_t start_ns; /* wall clock at the message's first frame */
	uint64_t len;      /* payload bytes of the message up to the end of this
			    * piece, counting bytes not stored */
	uint64_t wire_len; /* frame payload bytes on the wire up to here */
};
/* Appends one piece (n bytes at p, split into records of SEG_CHUNK_MAX).
 * The caller caps what it stores (the writer's body_max does not apply).
 * A record the writer has no room for is dropped; of the rest of its
 * message only the end is stored (no payload, flagged cut), so that a
 * stored payload never has a gap. Returns 0 or -EIO. */
int seg_xch_msg(struct seg_writer *w, struct seg_xch *x, const struct seg_msg_piece *m,
		const void *p, size_t n);
/* The trailer section of one direction (the TRAILERS record, segment.c):
 * n bytes of "Name: value\r\n" lines at p, of a block of wire_len >= n
 * bytes (more when the caller already cut it), stored up to
 * SEG_TRAILERS_MAX. A block stored short of wire_len (or a record the
 * writer has no room for) flags the exchange SEG_F_HEAD_TRUNC and counts
 * in trailers_cut. Response trailers are not stored without "save
 * responses" (SEG_F_NO_RESP). Call at most once per direction, before
 * seg_xch_end(). Returns 0 or -EIO. */
int seg_xch_trailers(struct seg_writer *w, struct seg_xch *x, enum seg_dir dir,
		     const void *p, size_t n, size_t wire_len);
/* Finishes the exchange and queues its index entry; x is released even on
 * error. Returns 0, -ENOBUFS (exchange lost) or -EIO. */
int seg_xch_end(struct seg_writer *w, struct seg_xch *x, const struct seg_xch_end *e);
/* Drops an exchange begun but not ended (a filter that rejects it at the
 * response head): appends a DISCARD record instead of END, so nothing of it
 * is ever indexed, opened, recovered, rebuilt or counted as incomplete,
 * even when its BEGIN and body records already sit in sealed frames on
 * disk (nothing is rewritten; those bytes stay as dead weight, and its id
 * is a gap in the listing). x is released even on error. Returns 0;
 * -ENOBUFS when the record found no room (the exchange then reads as
 * begun-never-ended: still never listed, but counted incomplete); -EIO. */
int seg_xch_discard(struct seg_writer *w, struct seg_xch *x);

/* Seals the open frame when its oldest record is older than flush_ns and
 * rotates by age. Call every few tens of ms. Returns 0 or -errno. */
int seg_writer_tick(struct seg_writer *w, uint64_t now_ns);
/* The next write to submit, or NULL when idle, when one is in flight, or
 * after a failed write (the writer then drops its queue: the engine stops
 * capture, logs, and counts what follows as drops). Memory per writer:
 * about (SEG_WRITER_SLOTS * 3 + 3) * (max(frame_bytes, SEG_RAW_FRAME_BYTES)
 * + SEG_REC_MAX) + open_max * 100 B, 16.6 MiB with the defaults, all
 * allocated by seg_writer_open() (most of it untouched until used). */
const struct seg_io *seg_writer_next_io(struct seg_writer *w);
/* Result of the outstanding io (cqe->res): bytes written or -errno. A short
 * write is re-offered for the rest; an error fails the writer for good. */
void seg_writer_io_done(struct seg_writer *w, int res);
/* Seals the open frame and performs every queued io with pwrite/fsync.
 * For tests, offline tools and shutdown. Returns 0 or -errno. */
int seg_writer_flush_sync(struct seg_writer *w);
/* Seals the open frame now (the owner then drains next_io). */
int seg_writer_seal(struct seg_writer *w);
void seg_writer_get_stats(const struct seg_writer *w, struct seg_writer_stats *st);
/* true while queued or in-flight io remains, or (cfg.sync) an ended
 * exchange still waits for its commit. */
bool seg_writer_busy(const struct seg_writer *w);
/* Group commit (cfg.sync). Exchanges are counted in END order from 1:
 * seg_writer_ended() is the count so far, i.e. the mark of the exchange
 * seg_xch_end() just ended. seg_writer_durable(w, mark) is true once the
 * fdatasync of a commit covering exchange `mark` completed (its frame, and
 * every earlier one, is on stable storage; the directory too after a new
 * segment), or once the writer failed (it never will be). A commit starts
 * in next_io when none is outstanding: at the end of the completion batch
 * in which an exchange ended, or when the previous commit lands, so that
 * one fdatasync covers every exchange ended while it was in flight. */
uint64_t seg_writer_ended(const struct seg_writer *w);
bool seg_writer_durable(const struct seg_writer *w, uint64_t mark);
/* True when n more body bytes would be stored, not dropped, with room left
 * for other exchanges' heads and ends (a frame buffer or a record's worth);
 * false means wait for a write to complete (seg_writer_io_done) and ask
 * again. */
bool seg_writer_room(const struct seg_writer *w, size_t n);

/* ---- reading ---- */

/* One index entry, decoded. host/url text lives in the segment's string
 * file at (segno - span, str_off). */
struct seg_entry {
	uint64_t id, start_ns, duration_ns, req_size, resp_size;
	uint32_t frame_off, last_frame_off, str_off, flags, str_crc;
	uint16_t worker, span, host_len, url_len, status;
	uint32_t segno;
	uint8_t method, type, error;
	uint8_t idx_version; /* layout of the index beside its segment (persist's
			      * SEG_IDX_V*; 0 reads as 1): how its .str text's
			      * extension is laid out */
	struct seg_addr client;
};

/* One WebSocket message of an exchange, as seg_open_entry collects it. */
struct seg_msg {
	uint8_t dir, opcode;
	bool cut;          /* payload incomplete: stored so, or cut by the reader */
	bool deflated;     /* compressed on the wire (stored inflated) */
	bool complete;     /* its last piece was read (else cut is set too) */
	uint64_t start_ns, len, wire_len;
	uint8_t *data;     /* the stored payload, data_len bytes (owned) */
	size_t data_len;
};

/* A whole exchange. All pointers are owned by it: seg_exchange_free(). */
struct seg_exchange {
	uint64_t id, start_ns;
	uint32_t number; /* seg_xch_begin.number; 0 for older exchanges */
	uint8_t scheme, http_version, method, type, error;
	uint16_t port, status;
	uint32_t flags;
	bool complete; /* END record seen */
	struct seg_addr client;
	struct seg_addr server; /* seg_xch_end.server; family 0 unknown or older */
	struct seg_timings t;
	struct seg_wire wire;
	char *method_text, *host, *url, *client_name, *reason, *err_msg; /* NUL-terminated */
	uint8_t *req_head, *resp_head;
	size_t req_head_len, resp_head_len;
	uint8_t *body[2]; /* collected bodies (SEG_DIR_REQ/RESP) when no callback */
	size_t body_len[2];
	bool body_cut[2]; /* the reader's body_max cut the collected body */
	/* WebSocket messages in the order they began (seg_open_opts.msgs_max) */
	struct seg_msg *msgs;
	size_t nmsgs;
	bool msgs_cut;    /* more than msgs_max: the rest were not collected */
	/* trailer sections per direction (SEG_DIR_REQ/RESP): "Name: value\r\n"
	 * lines, NULL when none was stored; wire_len is the block's length
	 * before the writer cut it (> len: cut at SEG_TRAILERS_MAX) */
	uint8_t *trailers[2];
	size_t trailers_len[2];
	uint32_t trailers_wire_len[2];
};

/* Keeps the segment file and the decompressed frame the last open read,
 * so that opening many exchanges in file order (export, replay)
 * decompresses each frame once instead of once per exchange. One per
 * thread; about one frame of memory plus a zstd context. */
struct seg_open_cache;

struct seg_open_opts {
	size_t body_max[2]; /* collect at most this many bytes per direction */
	/* When set, bodies go here chunk by chunk instead (return <0 to stop). */
	int (*on_body)(void *ctx, enum seg_dir dir, const void *p, size_t n);
	void *ctx;
	struct seg_open_cache *cache; /* optional (NULL: open and read afresh) */
	/* collect up to this many WebSocket messages (0: none), each payload
	 * up to body_max of its direction */
	size_t msgs_max;
};

/* 0 or -ENOMEM. */
int seg_open_cache_new(struct seg_open_cache **out);
void seg_open_cache_free(struct seg_open_cache *c);

/* Damage report of reading, recovery and fsck. */
struct seg_report {
	uint64_t segments, frames_ok, frames_bad, records, exchanges, incomplete;
	uint64_t entries_ok, entries_bad, torn_bytes, bad_regions, strings_bad;
	uint64_t indexes_rebuilt, truncated_files;
	uint64_t discarded; /* DISCARD records seen (filtered out, not damage) */
	uint64_t indexes_healed;    /* index files missing, damaged or behind their segment:
				     * their exchanges were read from the frames instead */
	uint64_t entries_recovered; /* exchanges found in frames but not in their index */
	uint64_t strings_recovered; /* host/URL texts damaged in a .str, read from frames */
	uint64_t files_missing;     /* an .idx or .str without its .seg, or the reverse */
	uint64_t tombstones_bad;    /* damaged tombstone records (a torn tail counts one) */
	uint64_t tombstones_lost;   /* deletions session.meta counts that the tombstones
				     * file lacks (deleted, cut, replaced): those
				     * exchanges read as not deleted (persist/tomb.c) */
	uint64_t entries_lost;      /* entries whose first or last frame is damaged or gone
				     * (fsck): those exchanges cannot be opened */
	char first_damage[256]; /* "w000-00000001.seg: frame at 4096: payload checksum" */
	bool strict; /* set by the caller (fsck): a segment written in the last
		      * SEG_LIVE_NS whose index or strings lag its frames is damage
		      * too; readers otherwise take it for a flush in flight */
};

/* True when rep counts damage of any kind (frames, torn tails, file headers,
 * index entries, missing or short indexes, strings, tombstones, missing
 * files). Incomplete and discarded exchanges are not damage. */
bool seg_report_damaged(const struct seg_report *rep);

/* Finds id's index entry (tombstones not applied): binary search with a
 * window in each index file of the id's worker, then a full scan on a miss.
 * Returns 0 or -ENOENT. */
int seg_find(const char *session_dir, uint64_t id, struct seg_entry *out);
/* Finds the index entry of session number `number` (seg_xch_begin.number,
 * kept beside host+url: SEG_F_STR_EXT): a binary search with a window in
 * each index file, newest first, then every entry on a miss (persist/
 * number.c). Tombstones not applied. Returns 0 or -ENOENT. */
int seg_find_number(const char *session_dir, uint32_t number, struct seg_entry *out);
/* Reads the exchange an index entry points to, decompressing only the frames
 * from its first to its last. Returns 0, -ENOENT, -EBADMSG (its frames are
 * damaged) or -errno. */
int seg_open_entry(const char *session_dir, const struct seg_entry *e,
		   const struct seg_open_opts *o, struct seg_exchange *x);
int seg_open_id(const char *session_dir, uint64_t id, const struct seg_open_opts *o,
		struct seg_exchange *x);
void seg_exchange_free(struct seg_exchange *x);

/* Calls fn for every valid index entry of the session (all workers, each
 * worker's segments in order); damaged entries are counted in rep. fn
 * returns <0 to stop (passed through). */
int seg_index_scan(const char *session_dir, int (*fn)(void *ctx, const struct seg_entry *e),
		   void *ctx, struct seg_report *rep);

/* Walks every valid frame of one segment file (by path), counting frames,
 * records, ended exchanges and damage into rep. Used by tests and the fuzz
 * target; seg_fsck does the same for a whole session. */
int seg_segment_check(const char *path, struct seg_report *rep);

/* Rebuilds index and string files of one worker from its segments alone,
 * from segment from_segno on (0 = all). Each END record carries what its
 * entry needs, so a partial rebuild loses nothing. Atomic per file;
 * rep->incomplete counts exchanges begun in the range and never ended. */
int seg_index_rebuild(const char *session_dir, uint16_t worker, uint32_t from_segno,
		      struct seg_report *rep);
/* Recovery after a crash, before writers open: completes the index of
 * each worker's last segment from the frames after its last valid entry
 * (cost: the few frames in flight at the crash, not the session), so that
 * everything up to the last complete frame is listed. rep->exchanges
 * counts the exchanges recovered that way. */
int seg_recover(const char *session_dir, struct seg_report *rep);
/* Verifies every segment, index, string and tombstone file; an index
 * missing, damaged or behind its segment, a string whose checksum fails
 * and a file whose partner is missing are damage (seg_report_damaged).
 * repair: cut torn tails, rewrite damaged segment file headers, rebuild
 * every index and string file from the frames, rewrite the tombstones
 * keeping the valid records. Damaged frames stay (their data is lost). */
int seg_fsck(const char *session_dir, bool repair, struct seg_report *rep);

/* Appends tombstones for ids (one fsync), then raises the tally in
 * session.meta (persist/tomb.c). Returns 0 or -errno. */
int seg_tombstone(const char *session_dir, const uint64_t *ids, size_t n, uint64_t now_ns);
/* 1 when a valid tombstone names id (*when_ns: its time, may be NULL),
 * 0 when none does, or -errno. */
int seg_tombstoned(const char *session_dir, uint64_t id, uint64_t *when_ns);
/* Compares the tombstones file with the tally session.meta keeps: lost
 * deletions go to rep->tombstones_lost (and first_damage); repair sets
 * the tally to what the file holds (the lost ones cannot be rebuilt).
 * Readers call it with repair false. Returns 0 or -errno. */
int seg_tomb_check(const char *session_dir, bool repair, struct seg_report *rep);

/* ---- names ---- */
const char *seg_method_name(uint8_t m);
uint8_t seg_method_parse(const char *s, size_t n);
const char *seg_type_name(uint8_t t);
uint8_t seg_type_from_mime(const char *s, size_t n);
const char *seg_error_name(uint8_t e);

/* crc32c (Castagnoli), hardware-accelerated on x86-64 with SSE4.2. */
uint32_t seg_crc32c(uint32_t crc, const void *p, size_t n);
/* The same over n bytes at src while copying them to dst (the ranges do
 * not overlap), in one pass: src is read once, while it is in cache. */
uint32_t seg_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t n);
/* For tests: false keeps crc32c off the folding path (VPCLMULQDQ) where
 * the CPU has it, so that one machine checks both; true turns it back on
 * where the CPU has it. */
void seg_crc32c_fold(bool on);

#endif
