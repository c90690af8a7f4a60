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
#define SEG_MAGIC_IDX2 "RCAPIDX2"
/* Index layouts (segment.c): a .idx says its own by its magic, a .seg the
 * one its writer wrote beside it (header byte 10), so a rebuild writes the
 * same layout again. */
#define SEG_IDX_V1 1u
#define SEG_IDX_V2 2u
#define SEG_IDX_VERSION SEG_IDX_V2 /* what writers write */
/* Every flag bit an index entry may hold on disk (SEG_F_DELETED never is):
 * an RCAPIDX2 entry has 16 bits for them. */
#define SEG_F_ON_DISK 0xFFFFu
_Static_assert(((SEG_F_TLS | SEG_F_TUNNEL | SEG_F_REQ_TRUNC | SEG_F_RESP_TRUNC | SEG_F_MEDIA |
		 SEG_F_ERROR | SEG_F_NO_RESP | SEG_F_HEAD_TRUNC | SEG_F_COOKIES | SEG_F_STR_EXT |
		 SEG_F_TUN_MASK | SEG_F_H2 | SEG_F_HOST_IN_URL) & ~SEG_F_ON_DISK) == 0,
	       "a flag does not fit an RCAPIDX2 entry's 16 bits");
/* RCAPIDX2: a sequence of 40 bits (the id's worker is the file's); the
 * duration saturates at 48 bits (78 hours), sizes at 40 (1 TiB). */
#define SEG_SEQ_MAX ((1ull << SEG_ID_WORKER_SHIFT) - 1)
#define SEG_SAT48 ((1ull << 48) - 1)
#define SEG_SAT40 ((1ull << 40) - 1)
#define SEG_STATUS2_MAX 1023u /* 10 bits: HTTP's are 3 digits (import keeps < 1000) */
_Static_assert(SEG_ID_WORKER_SHIFT == 40, "RCAPIDX2 keeps 5 bytes of sequence");
_Static_assert(SEG_HOST_MAX <= 255u, "RCAPIDX2 keeps 1 byte of host length");
_Static_assert(SEG_URL_MAX <= 65535u, "RCAPIDX2 keeps 2 bytes of URL length");
_Static_assert(SEG_M_COUNT <= 16 && SEG_T_COUNT <= 16, "method and type share a byte");
_Static_assert(SEG_E_COUNT <= 16, "error kind has 4 bits beside status and family");
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
	/* .idx: its layout (SEG_IDX_V1 or V2, from the magic); .seg: the layout
	 * its writer gave the index (byte 10; 0 there reads V1); .str: 0 */
	uint8_t idx_version;
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
/* Bytes of an entry of layout ver (SEG_IDX_V1 or V2). */
static inline uint32_t seg_entry_size(uint8_t ver)
{
	return ver == SEG_IDX_V1 ? SEG_ENTRY1_SIZE : SEG_ENTRY2_SIZE;
}
/* Encodes e in layout ver (seg_entry_size(ver) bytes). V2: e->id's worker
 * is the file's and is not stored; the duration saturates at SEG_SAT48,
 * sizes at SEG_SAT40, the status at SEG_STATUS2_MAX; an IPv6 client's address is not stored (its .str text has it,
 * persist/strtext.c). */
void seg_entry_encode(uint8_t *out, uint8_t ver, const struct seg_entry *e);
/* 0, or -EBADMSG. worker: the index file's (V2 ids are worker << 40 |
 * sequence); e->worker is set to it, e->segno is the caller's. A V2
 * entry of an IPv6 client has family 6 and a zero address until its .str
 * text fills it (seg_qrow_text). */
int seg_entry_decode(const uint8_t *in, uint8_t ver, uint16_t worker, struct seg_entry *e);
/* The id of an encoded entry, without checking it (a search probe). */
uint64_t seg_entry_id(const uint8_t *in, uint8_t ver, uint16_t worker);

/* Debug builds: decode what the writer just encoded and assert every field
 * came back (abort on our bug). Release builds: nothing. Never for bytes
 * read from disk. */
#ifndef NDEBUG
void seg_fhdr_verify(const uint8_t in[SEG_FILE_HDR_SIZE], enum seg_kind k,
		     const struct seg_fhdr *h);
void seg_frame_hdr_verify(const uint8_t in[SEG_FRAME_HDR_SIZE], const struct seg_frame_hdr *h);
void seg_entry_verify(const uint8_t *in, uint8_t ver, const struct seg_entry *e);
#else
#define seg_fhdr_verify(in, k, h) ((void)0)
#define seg_frame_hdr_verify(in, h) ((void)0)
#define seg_entry_verify(in, ver, e) ((void)0)
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
#define SEG_STR_TEXT_MAX (SEG_HOST_MAX + SEG_URL_MAX + 5u + SEG_CLIENT_NAME_MAX + 16u)
/* Bit 7 of the extension's client name length: an IPv6 client's 16-byte
 * address follows the name (RCAPIDX2 entries have no room for it). */
#define SEG_STR_EXT_V6 0x80u
_Static_assert(SEG_CLIENT_NAME_MAX < SEG_STR_EXT_V6, "the name length leaves bit 7 free");

/* What the text is made of; lengths already cut to their limits. */
struct seg_str_text {
	const char *host, *url, *client_name;
	uint32_t host_len, url_len, client_name_len;
	uint32_t number; /* seg_xch_begin.number, 0 none */
	const uint8_t *client_v6; /* an IPv6 client's address (RCAPIDX2), or NULL */
	uint8_t ver;     /* the index layout beside it (SEG_IDX_V*): the extension's */
};
/* Where the parts of a stored text are (pointers into the caller's bytes). */
struct seg_str_view {
	const char *host, *url;  /* entry's host_len / url_len bytes */
	const char *client_name; /* client_name_len bytes (extension) */
	uint8_t client_name_len;
	uint32_t number;         /* 0 without the extension */
	const uint8_t *client_v6; /* 16 bytes (SEG_STR_EXT_V6), or NULL */
	uint32_t len;            /* bytes stored at str_off (known so far on -EAGAIN) */
};
struct seg_qrow;
/* The authority of url (n bytes): after "scheme://" up to the first '/',
 * '?', '#' or the end. False when url has no "scheme://". */
bool seg_url_authority(const char *url, size_t n, size_t *off, size_t *len);
/* The layout flags the writer sets for t: SEG_F_HOST_IN_URL when the
 * host is the URL's authority (or its part before ":port") byte for byte,
 * SEG_F_STR_EXT when there is
 * a number, a client name or an IPv6 client address. */
uint32_t seg_str_flags(const struct seg_str_text *t);
/* Writes t's text as flags (seg_str_flags, or a BEGIN record's) lay it
 * out; returns its length, at most SEG_STR_TEXT_MAX. */
uint32_t seg_str_encode(uint8_t *out, const struct seg_str_text *t, uint32_t flags);
/* Most bytes e's text can take at its str_off: what a reader fetches. */
uint32_t seg_str_max(const struct seg_entry *e);
/* Decodes e's text from p (avail bytes stored at e->str_off): 0 when it is
 * whole and matches e->str_crc; -EAGAIN when avail is short of v->len;
 * -EBADMSG when damaged (checksum, extension, host not in the URL). With
 * avail 0 (p may be NULL) it says the fewest bytes e's text takes. */
int seg_str_view(const struct seg_entry *e, const uint8_t *p, uint64_t avail,
		 struct seg_str_view *v);
/* seg_str_view into a listing row's host, url, number and client name,
 * and an IPv6 client's address into r->e.client (RCAPIDX2 entries do not
 * hold it); the row's other fields are left as they are. Same returns. */
int seg_qrow_text(struct seg_qrow *r, const uint8_t *p, uint64_t avail);

#endif
