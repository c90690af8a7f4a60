/* persist/writer-int.h: private to the segment writer (persist/segment.c,
 * the frames, io queue and rotation; persist/xch.c, the exchange records):
 * the writer's state and the helpers the two share. The on-disk format is
 * documented at the top of persist/segment.c.
 */
#ifndef SEG_WRITER_INT_H
#define SEG_WRITER_INT_H

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <zstd.h>

#include "persist/reader-int.h"

/* Per slot at most 3 writes; a rotation queues 4 fsyncs, 4 opens (the .seg
 * twice with O_DIRECT) and 3 header writes, and the next one waits for its
 * opens (so at most the 3 header writes of one rotation sit behind the 11
 * ios of the next). */
#define QUEUE_LEN 64u
/* A group commit (cfg.sync) adds at most two: fsync of the directory after
 * a rotation and fdatasync of the segment, one commit outstanding. */
_Static_assert(QUEUE_LEN >= SEG_WRITER_SLOTS * 3u + 14u + 2u, "io queue too short");
/* The .seg's O_DIRECT fd, a fourth "kind" for late binding and opens. */
#define K_DIO 3
/* Open flags of that second fd on the .seg (created by the first). */
#define SEG_DIO_FLAGS (O_WRONLY | O_CLOEXEC | O_DIRECT)
#define SEG_OPEN_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
#define SEG_OPEN_MODE 0640u

struct slot {
	uint8_t *frame, *str, *idx; /* frame = header + compressed payload */
	uint32_t frame_len, str_len, idx_len;
	bool busy;
};

struct qio {
	struct seg_io io;
	int8_t free_slot;   /* slot released when this io completes, or -1 */
	bool close_after;   /* close(io.fd) when this io completes */
	int8_t late_k;      /* >= 0: io.fd is the current file of this kind,
			     * bound by next_io (its open may still be queued) */
	int8_t open_k;      /* >= 0: this io opens the file of this kind */
	uint64_t sync_mark; /* > 0: a group commit's fsync; once it lands, the
			     * first sync_mark ended exchanges are durable */
};

/* What sampling found of a body (seg-limits.h, SEG_SAMPLE_*). */
enum { SAMPLE_NONE = 0, SAMPLE_TEXT = 1, SAMPLE_RAW = 2 };

struct seg_xch {
	uint64_t id, start_ns, stored[2];
	uint32_t flags, frame_off, begin_segno, str_off, str_crc, next_free;
	uint16_t host_len, url_len, status;
	uint8_t method, type, sample[2]; /* sample: SAMPLE_* by direction */
	bool in_use, skip_resp;
	bool msg_lost[2]; /* a piece of the data message in progress found no room */
	struct seg_addr client;
};

struct seg_writer {
	struct seg_writer_cfg cfg;
	char dir[PATH_MAX];
	ZSTD_CCtx *cctx;
	uint8_t *raw, *open_str, *open_idx; /* the frame being filled */
	uint8_t *raw_buf;   /* raw - SEG_FRAME_HDR_SIZE; as big as a slot's frame, so a
			     * raw frame swaps buffers with its slot instead of a copy */
	uint32_t raw_cap, raw_len, nrec, open_str_len, open_idx_len;
	uint32_t raw_incomp;  /* bytes of incompressible body records in the open frame */
	bool rec_incomp;      /* the next append_rec adds an incompressible body chunk */
	uint32_t raw_crc;     /* crc32c of the open frame's first raw_crc_len bytes: */
	uint32_t raw_crc_len; /* incompressible chunks are summed as they are copied in */
	uint8_t *sample_out;  /* compressed sample (ZSTD_compressBound(SEG_SAMPLE_BYTES)) */
	int64_t zb_credit_ns; /* cfg.zstd_budget: CPU zstd may still take (<= 0: spent) */
	uint64_t zb_at_ns;    /* monotonic time of the last credit */
	uint32_t dio_align;   /* big frames go to fd_dio at this alignment; 0: never */
	uint8_t tail[SEG_DIO_ALIGN_MAX]; /* the .seg's bytes from its last block
					  * boundary to seg_bytes: an O_DIRECT
					  * write puts them in front of its frame */
	uint64_t oldest_ns, now_ns;
	struct slot slots[SEG_WRITER_SLOTS];
	struct qio queue[QUEUE_LEN];
	uint32_t q_head, q_len;
	bool in_flight;
	int failed; /* first -errno of a write; sticky */
	int fd_seg, fd_str, fd_idx; /* current files; a rotation's open replaces them */
	int fd_dio;                 /* the current .seg opened with O_DIRECT, or -1 */
	uint32_t opening;           /* queued opens: no rotation until they land */
	char open_path[4][PATH_MAX + 40];       /* by enum seg_kind, then K_DIO */
	uint8_t open_hdr[3][SEG_FILE_HDR_SIZE]; /* the rotation's file headers */
	uint32_t segno;
	uint64_t seg_bytes, str_bytes, idx_bytes, seg_created_ns;
	uint64_t next_seq;
	struct seg_xch *xch;
	uint32_t free_head, open_cnt;
	struct seg_writer_stats st;
	/* group commit (cfg.sync): exchanges ended, covered by a queued
	 * commit, and durable (their commit's fsync landed); dir_fd is the
	 * session directory, fsync'd once per new segment */
	uint64_t ends, sync_queued, synced;
	uint64_t dir_synced_segments;
	int dir_fd;
};

/* ioq.c, the io queue: the fd of the current file of kind k (enum
 * seg_kind, or K_DIO); an io at its tail; a write to the current file of
 * kind k, its fd bound when next_io hands it out (after every io queued
 * before it, a rotation's open among them, has completed); closing a
 * finished segment's fd (a current-file slot still naming it forgets it,
 * so nothing closes the number twice). */
int *seg_w_kind_fd(struct seg_writer *w, int k);
struct qio *seg_w_queue_push(struct seg_writer *w, int fd, bool fsync, const void *buf,
			     uint32_t len, uint64_t off, int8_t free_slot, bool close_after);
void seg_w_queue_late(struct seg_writer *w, int k, const void *buf, uint32_t len,
		      uint64_t off, int8_t free_slot);
void seg_w_close_old(struct seg_writer *w, int fd);
/* segment.c: the group commit next_io queues (cfg.sync). */
void seg_w_commit(struct seg_writer *w);

/* The open frame is mostly body sampled incompressible: written raw. */
static inline bool seg_w_incomp_frame(const struct seg_writer *w)
{
	return (uint64_t)w->raw_incomp * SEG_RAW_SHARE_DEN >=
	       (uint64_t)w->raw_len * SEG_RAW_SHARE_NUM;
}

/* xch.c: the crc32c of the open frame's records so far (for a frame
 * written raw: its payload crc). */
uint32_t seg_w_raw_crc(struct seg_writer *w);
/* xch.c: makes room for a record of need bytes in the open frame (seals it when
 * it is too full): 0 or -errno. */
int seg_w_room(struct seg_writer *w, uint32_t need);
/* xch.c: appends one record to the open frame (sealing it when full): header,
 * fixed part, then parts. 0 or -errno (-ENOBUFS: no frame buffer free). */
int seg_w_append_rec(struct seg_writer *w, uint8_t type, uint64_t id, const void *fixed,
		     uint32_t fixed_len, const void *const *parts, const uint32_t *lens,
		     uint32_t nparts);

#endif
