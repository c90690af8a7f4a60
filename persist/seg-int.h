/* persist/seg-int.h: private to persist/: byte layouts of the on-disk
 * format (documented in persist/segment.c), little-endian helpers and the
 * helpers shared by writer, reader and query layer. Not for other modules.
 */
#ifndef SEG_INT_H
#define SEG_INT_H

#include <stdint.h>
#include <string.h>

#include "persist/seg.h"

#define SEG_MAGIC_SEG "RCAPSEG1"
#define SEG_MAGIC_IDX "RCAPIDX1"
#define SEG_MAGIC_STR "RCAPSTR1"
#define SEG_FRAME_MAGIC 0x52464352u /* "RCFR" little-endian */
#define SEG_TOMB_MAGIC 0x42544352u  /* "RCTB" little-endian */
#define SEG_TOMB_FILE "tombstones"

enum seg_kind { SEG_K_SEG = 0, SEG_K_IDX = 1, SEG_K_STR = 2 };

/* Record types inside a frame. */
enum seg_rec {
	SEG_R_BEGIN = 1, SEG_R_REQ_BODY = 2, SEG_R_RESP_HEAD = 3, SEG_R_RESP_BODY = 4,
	SEG_R_END = 5, SEG_R_DISCARD = 6,
	SEG_R_MSG = 7,  /* a piece of a WebSocket message (segment.c) */
	SEG_R_TRAILERS = 8   /* a trailer section of one direction (segment.c) */
};
#define SEG_R_LAST SEG_R_TRAILERS   /* highest record type a reader accepts */
#define SEG_REC_HDR 16u
#define SEG_BEGIN_FIXED 56u
#define SEG_RESP_FIXED 16u
#define SEG_END_FIXED 136u
#define SEG_END_V6 16u    /* an IPv6 server's address, after the error message */
#define SEG_MSG_FIXED 32u
#define SEG_TRAILERS_FIXED 8u

static inline void seg_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void seg_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void seg_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t seg_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t seg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t seg_get64(const uint8_t *p)
{
	return (uint64_t)seg_get32(p) | (uint64_t)seg_get32(p + 4) << 32;
}

/* Decoded file header (all three file kinds). */
struct seg_fhdr {
	uint16_t worker;
	uint32_t segno;
	uint64_t created_ns;
};
/* Frame header flags: the high bits of its ulen field (ulen itself needs
 * 21 bits, SEG_FRAME_ULEN_MAX). Bits 21..30 are reserved: zero, and a
 * header with one set is damage. */
#define SEG_FRAME_F_RAW (1u << 31)   /* payload is the records as they are
				      * (clen == ulen), not a zstd frame */
#define SEG_FRAME_F_MASK 0xFFE00000u /* every flag and reserved bit */
_Static_assert(SEG_FRAME_ULEN_MAX < (1u << 21), "ulen overlaps the frame flags");

/* Decoded frame header. */
struct seg_frame_hdr {
	uint32_t clen, ulen, nrec, payload_crc;
	uint64_t id_hi;
	bool raw; /* SEG_FRAME_F_RAW */
};

void seg_fhdr_encode(uint8_t out[SEG_FILE_HDR_SIZE], enum seg_kind k, const struct seg_fhdr *h);
/* 0, or -EBADMSG when magic, kind or checksum do not match. */
int seg_fhdr_decode(const uint8_t in[SEG_FILE_HDR_SIZE], enum seg_kind k, struct seg_fhdr *h);
void seg_frame_hdr_encode(uint8_t out[SEG_FRAME_HDR_SIZE], const struct seg_frame_hdr *h);
/* 0, or -EBADMSG (magic, checksum or a length above its limit). */
int seg_frame_hdr_decode(const uint8_t in[SEG_FRAME_HDR_SIZE], struct seg_frame_hdr *h);
void seg_entry_encode(uint8_t out[SEG_ENTRY_SIZE], const struct seg_entry *e);
/* 0, or -EBADMSG; worker/segno are not stored in an entry: caller sets them. */
int seg_entry_decode(const uint8_t in[SEG_ENTRY_SIZE], struct seg_entry *e);

/* Debug builds: decode what the writer just encoded and assert every field
 * came back (abort on our bug). Release builds: nothing. Never for bytes
 * read from disk. */
#ifndef NDEBUG
void seg_fhdr_verify(const uint8_t in[SEG_FILE_HDR_SIZE], enum seg_kind k,
		     const struct seg_fhdr *h);
void seg_frame_hdr_verify(const uint8_t in[SEG_FRAME_HDR_SIZE], const struct seg_frame_hdr *h);
void seg_entry_verify(const uint8_t in[SEG_ENTRY_SIZE], const struct seg_entry *e);
#else
#define seg_fhdr_verify(in, k, h) ((void)0)
#define seg_frame_hdr_verify(in, h) ((void)0)
#define seg_entry_verify(in, e) ((void)0)
#endif

/* File names: "w003-00000012.seg" (buf of at least 32 bytes). */
void seg_file_name(char *buf, size_t cap, uint16_t worker, uint32_t segno, enum seg_kind k);
/* Parses a file name; returns true for "wNNN-NNNNNNNN.<kind>". */
bool seg_file_parse(const char *name, uint16_t *worker, uint32_t *segno, enum seg_kind *k);

/* Segments of a session: sorted by (worker, segno). */
struct seg_list_item {
	uint16_t worker;
	uint32_t segno;
};
/* Lists .seg files; *out malloc'd (free()), *n set. Returns 0 or -errno. */
int seg_list_segments(const char *session_dir, struct seg_list_item **out, size_t *n);

/* Highest exchange id recorded in frame headers of worker's segments with
 * segno <= max_segno (0 when none). */
uint64_t seg_last_id(const char *session_dir, uint16_t worker, uint32_t max_segno);

void seg_report_damage(struct seg_report *rep, const char *file, uint64_t off, const char *what);

/* ---- the .str text of one exchange (persist/strtext.c) ---- */

/* Most bytes one exchange's .str text takes (host, url, extension). */
#define SEG_STR_TEXT_MAX (SEG_HOST_MAX + SEG_URL_MAX + 5u + SEG_CLIENT_NAME_MAX)

/* What the text is made of; lengths already cut to their limits. */
struct seg_str_text {
	const char *host, *url, *client_name;
	uint32_t host_len, url_len, client_name_len;
	uint32_t number; /* seg_xch_begin.number, 0 none */
};
/* Where the parts of a stored text are (pointers into the caller's bytes). */
struct seg_str_view {
	const char *host, *url;  /* entry's host_len / url_len bytes */
	const char *client_name; /* client_name_len bytes (extension) */
	uint8_t client_name_len;
	uint32_t number;         /* 0 without the extension */
	uint32_t len;            /* bytes stored at str_off (known so far on -EAGAIN) */
};
struct seg_qrow;
/* The authority of url (n bytes): after "scheme://" up to the first '/',
 * '?', '#' or the end. False when url has no "scheme://". */
bool seg_url_authority(const char *url, size_t n, size_t *off, size_t *len);
/* The layout flags the writer sets for t: SEG_F_HOST_IN_URL when the
 * host is the URL's authority byte for byte, SEG_F_STR_EXT when there is
 * a number or a client name. */
uint32_t seg_str_flags(const struct seg_str_text *t);
/* Writes t's text as flags (seg_str_flags, or a BEGIN record's) lay it
 * out; returns its length, at most host + url + 5 + client name. */
uint32_t seg_str_encode(uint8_t *out, const struct seg_str_text *t, uint32_t flags);
/* Most bytes e's text can take at its str_off: what a reader fetches. */
uint32_t seg_str_max(const struct seg_entry *e);
/* Decodes e's text from p (avail bytes stored at e->str_off): 0 when it is
 * whole and matches e->str_crc; -EAGAIN when avail is short of v->len;
 * -EBADMSG when damaged (checksum, extension, host not in the URL). With
 * avail 0 (p may be NULL) it says the fewest bytes e's text takes. */
int seg_str_view(const struct seg_entry *e, const uint8_t *p, uint64_t avail,
		 struct seg_str_view *v);
/* seg_str_view into a listing row's host, url, number and client name;
 * the row's other fields are left as they are. Same returns. */
int seg_qrow_text(struct seg_qrow *r, const uint8_t *p, uint64_t avail);

#endif
