/* persist/reader-int.h: private to persist/: the frame iterator and record
 * view shared by reader, recovery, fsck and the query layer.
 */
#ifndef SEG_READER_INT_H
#define SEG_READER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <zstd.h>

#include "persist/seg-int.h"

/* Walks the valid frames of one .seg file. */
struct seg_fiter {
	int fd;
	uint64_t size, off, valid_end; /* valid_end: end of the last valid frame */
	uint64_t frame_off;            /* offset of the frame just returned */
	struct seg_frame_hdr h;        /* its header */
	struct seg_fhdr fhdr;          /* file header (when !bad_header) */
	bool bad_header, torn, headers_only;
	uint8_t *cbuf, *ubuf;          /* ubuf: the decompressed frame (h.ulen bytes) */
	uint32_t cbuf_cap, ubuf_cap;   /* ubuf grows to the largest frame seen */
	ZSTD_DCtx *dctx;
	struct seg_report *rep;        /* may be NULL */
	char name[40];
};

/* A parsed record pointing into a frame buffer. */
struct seg_rec_view {
	uint8_t type;
	uint32_t len;
	uint64_t id;
	const uint8_t *p; /* payload */
};

int seg_path(char *buf, size_t cap, const char *dir, uint16_t worker, uint32_t segno,
	     enum seg_kind k);
int seg_fiter_open(struct seg_fiter *it, const char *path, bool headers_only,
		   struct seg_report *rep);
/* 1: a valid frame is in it->ubuf; 0: end of file; -EIO or -ENOMEM. */
int seg_fiter_next(struct seg_fiter *it);
void seg_fiter_close(struct seg_fiter *it);
/* Parses the record at *pos of a frame of len bytes; advances *pos.
 * Returns 0 or -EBADMSG. */
/* persist/tomb.c: after an append, raises session.meta's tally to the
 * file's valid records. 0 or -errno (no metadata: 0). */
int seg_tomb_note(const char *session_dir);
int seg_rec_parse(const uint8_t *b, uint32_t len, uint32_t *pos, struct seg_rec_view *r);

/* Builds the index entry of an END record (it carries every BEGIN field
 * the index needs) found in frame frame_off of segment (worker, segno).
 * Returns 0, or -EBADMSG for fields no writer produces. */
int seg_entry_from_end(const struct seg_rec_view *r, uint16_t worker, uint32_t segno,
		       uint64_t frame_off, struct seg_entry *e);
/* Calls fn for every entry of segment (worker, segno): the valid entries of
 * its index, then those only its frames know (index missing, damaged or
 * behind the segment), read from the frames the index does not vouch for.
 * Damage goes to rep (indexes_healed, entries_recovered, first_damage). */
int seg_heal_scan(const char *dir, uint16_t worker, uint32_t segno,
		  int (*fn)(void *, const struct seg_entry *), void *ctx, struct seg_report *rep);
/* True when the session is capturing (active or paused) and the .seg was
 * modified less than SEG_LIVE_NS ago: a writer may
 * be mid-flush (frame on disk, strings and index not yet). */
bool seg_live(const char *dir, uint16_t worker, uint32_t segno);
/* An index file open for reading, with the layout its header names. */
struct seg_idx {
	int fd;
	uint16_t worker;
	uint32_t segno;
	uint8_t ver;      /* SEG_IDX_V1 or SEG_IDX_V2 */
	uint32_t stride;  /* seg_entry_size(ver) */
	uint64_t size;    /* of the file */
	uint64_t n;       /* whole entries after the header */
	bool bad_header;  /* short or damaged: ver is guessed from the first entry */
};
/* Opens the index file of (worker, segno) for reading (seg_idx_close).
 * 0, -ENOENT when it does not exist, or -errno. */
int seg_idx_open(const char *dir, uint16_t worker, uint32_t segno, struct seg_idx *ix);
void seg_idx_close(struct seg_idx *ix);
/* Layout of an index file from its first bytes (b: len of them from
 * offset 0): the header's, else a guess from the first entry, else the
 * writers' layout. *bad set when the header is short or damaged. */
uint8_t seg_idx_version(const uint8_t *b, size_t len, bool *bad);
/* Decodes the entry at b (ix->stride bytes): 0 or -EBADMSG; sets
 * worker and segno. */
int seg_idx_decode(const struct seg_idx *ix, const uint8_t *b, struct seg_entry *e);
/* Reads and decodes entry i: true when it is there and valid. */
bool seg_idx_entry(const struct seg_idx *ix, uint64_t i, struct seg_entry *e);
/* Exchanges of segment (worker, segno): the entry count of a sound index
 * (header, size, last entry) plus the ENDs in frames after its last entry;
 * a full heal scan when the index is not sound. */
int seg_count_entries(const char *dir, uint16_t worker, uint32_t segno, uint64_t *n);
/* Rebuilds the string file of a segment in memory from its BEGIN records
 * (text at the str_off each names). *out malloc'd; *len its size. */
int seg_strings_rebuild(const char *dir, uint16_t worker, uint32_t segno, char **out,
			uint64_t *len);

#endif
