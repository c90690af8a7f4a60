/* persist/seg-limits.h: every bound of the capture store in one place, with
 * its unit and the reason for its value. The reader trusts nothing on disk
 * beyond these bounds: a length field above its limit marks a frame damaged.
 */
#ifndef SEG_LIMITS_H
#define SEG_LIMITS_H

/* Default flush threshold (uncompressed bytes of records in one frame).
 * Measured with bench/persist_bench.c (20,000 exchanges: 50% JSON, 15% HTML,
 * 25% already-compressed bodies, 10% empty; 0.6-0.9 KB header blocks):
 *   frame      16K   32K   64K   128K  256K  512K
 *   ratio, l1  2.49  2.60  2.68  2.74  2.77  2.79
 *   ratio, l3  2.52  2.63  2.71  2.74  2.81  2.84
 * Past 128 KiB the ratio gains under 2% while opening one exchange
 * decompresses a bigger frame; level 3 buys ~1% over level 1 for about
 * twice the CPU in zstd's own figures, so the default is 128 KiB at
 * level 1. (Writer throughput, 130-200 MB/s of records per thread here,
 * was within noise across these settings on this shared VM.) */
#define SEG_FRAME_BYTES_DEFAULT (128u * 1024u)
/* zstd level of compressed frames (ringcap run --zstd-level; 0 = this
 * default). The level is not part of the format: every level, negative
 * ("fast") ones included, writes plain zstd frames that the reader
 * decompresses alike. Measured on one core of this box (2026-12-04, box
 * loaded): ZSTD_compressCCtx in a loop over 128 KiB frames of the 1 MiB
 * JSON-like body of bench/benchlib.py (body_bytes "text"), compression
 * ratio and thread CPU per MiB:
 *   level    3     1    -1    -3    -5   -20   -50  -100  -1000
 *   ratio   4.48  4.34  3.57  3.27  2.77  1.86  1.58  1.15  1.00
 *   ms/MiB  2.69  2.35  2.09  1.84  1.76  1.39  1.00  0.56  0.09
 * Negative levels drop the Huffman coding of literals (the ratio falls a
 * step at -1) and then search less. In the capturing proxy (bench/README.md,
 * issue 16, "zstd levels") -1 to -5 saved 0-7% of its CPU per text exchange
 * (zstd is ~2/3 of it at level 1, the rest stays) for 30-60% more bytes on
 * disk, so the default stays 1. The body sample (SEG_SAMPLE_*) compresses at
 * the same level: at -100 text no longer passes it and is stored raw. */
#define SEG_ZSTD_LEVEL_DEFAULT 1
/* Bounds: below -100 zstd stores text nearly as it is (1.15x at -100,
 * 1.00x at -1000), which the raw frame path (SEG_RAW_*) does without
 * zstd; above 19 come zstd's "ultra" levels, which differ by window sizes
 * a frame of at most SEG_FRAME_ULEN_MAX never uses (and level 19 already
 * costs ~100x level 1's CPU: a proxy has no use for it). */
#define SEG_ZSTD_LEVEL_MIN (-100)
#define SEG_ZSTD_LEVEL_MAX 19
/* zstd's CPU budget (ringcap run --zstd-budget): the share of a writer's
 * thread, in percent of wall time, that frame compression may take; a
 * frame sealed while the budget is spent is written raw (SEG_FRAME_F_RAW,
 * as incompressible ones: every reader handles it). 0 = no budget (every
 * compressible frame compressed), the default: it keeps the bytes on disk
 * of level 1; a budget trades them for CPU when traffic outruns zstd
 * (bench/README.md, issue 16: 1 MiB text bodies at 1%: 1.2 against 3.1 ms
 * of proxy CPU per exchange, 4.4x the bytes; at 50% it rarely binds, zstd
 * takes about half a capturing worker). The credit saved while idle is
 * capped at SEG_ZSTD_BURST_NS of CPU (~4 MiB of text at level 1), so a
 * burst after a quiet minute does not compress for seconds on saved-up
 * credit. */
#define SEG_ZSTD_BUDGET_DEFAULT 0u
#define SEG_ZSTD_BUDGET_MAX 100u
#define SEG_ZSTD_BURST_NS (10ull * 1000u * 1000u)

/* Largest flush threshold a user may set: bounds the writer's buffers. */
#define SEG_FRAME_BYTES_MAX (1024u * 1024u)
/* Smallest flush threshold: one record of maximal size must fit a frame
 * anyway, the buffer is frame_bytes + SEG_REC_MAX. */
#define SEG_FRAME_BYTES_MIN (4u * 1024u)

/* Field limits of one exchange record (bytes). Longer input is cut and the
 * exchange is flagged truncated (heads) or simply cut (names). */
#define SEG_METHOD_MAX 32u      /* longest method token we keep */
#define SEG_HOST_MAX 255u       /* DNS name limit */
#define SEG_URL_MAX 8192u       /* what common servers accept in a request line */
#define SEG_CLIENT_NAME_MAX 64u /* device label from the device lab */
#define SEG_REASON_MAX 128u     /* response reason phrase */
#define SEG_ERRMSG_MAX 256u     /* one readable error line */
#define SEG_HEAD_MAX (64u * 1024u)  /* raw header block, as llhttp's cap */
#define SEG_CHUNK_MAX (64u * 1024u) /* body bytes per record: larger chunks split */
/* A trailer section ("Name: value\r\n" lines) of one direction: a head's
 * bound, as trailers are a head after the body (the engine's own cap,
 * H1_TRAILER_MAX, is 16 KiB of wire bytes, well below). Longer ones are
 * cut, and flagged as a cut head (SEG_F_HEAD_TRUNC). */
#define SEG_TRAILERS_MAX SEG_HEAD_MAX

/* Largest single record: BEGIN with every field at its maximum, rounded up. */
#define SEG_REC_MAX (80u * 1024u)

/* Reader bounds: a frame header claiming more is damaged. */
#define SEG_FRAME_ULEN_MAX (SEG_FRAME_BYTES_MAX + SEG_REC_MAX)
#define SEG_FRAME_CLEN_MAX (SEG_FRAME_ULEN_MAX + SEG_FRAME_ULEN_MAX / 128u + 1024u)
#define SEG_FRAME_RECS_MAX (SEG_FRAME_ULEN_MAX / 16u) /* 16 = record header */

/* Incompressible bodies (issue 16: gzip/brotli-encoded responses,
 * downloads, random bytes) are stored raw. The first SEG_SAMPLE_BYTES of a
 * body's first chunk of at least SEG_SAMPLE_MIN bytes are compressed with
 * the writer's level; a body whose sample does not shrink below
 * SEG_SAMPLE_KEEP_NUM/SEG_SAMPLE_KEEP_DEN of its size is incompressible.
 * A frame is then written raw (no zstd, SEG_FRAME_F_RAW) when at least
 * SEG_RAW_SHARE_NUM/SEG_RAW_SHARE_DEN of its bytes are such body records;
 * any other frame is compressed and still written raw when zstd did not
 * shrink it. Profile before (bench/README.md "#16 storage"): with 1 MiB
 * random bodies zstd -1 took ~6% of the capturing proxy's CPU, and the
 * copy into the frame slot another part of libc's 9% memmove; the sample
 * costs one 4 KiB compression per body. Smaller bodies (heads of a JSON
 * API) stay compressed with their frame whatever they hold. */
#define SEG_SAMPLE_BYTES 4096u
#define SEG_SAMPLE_MIN 1024u
#define SEG_SAMPLE_KEEP_NUM 15u /* sample compressed to >= 15/16: incompressible */
#define SEG_SAMPLE_KEEP_DEN 16u
#define SEG_RAW_SHARE_NUM 7u    /* >= 7/8 of a frame incompressible: no zstd */
#define SEG_RAW_SHARE_DEN 8u
/* Such a frame is sealed at this size (or frame_bytes if larger), not at
 * frame_bytes: it costs no compression, and each frame is one O_DIRECT
 * write, which the kernel hands to an io-wq thread and the block layer
 * notifies the (virtio) disk for: a quarter of the capturing proxy's CPU
 * with 256 KiB frames (perf, 1 MiB random bodies). Measured in
 * bench/run.sh, A/B in one run (2026-12-04, bench/README.md "#16
 * storage"): 1 MiB frames against 256 KiB, proxy CPU per MiB 0.72-0.78
 * against 1.13-1.16 ms with 1 MiB random bodies, 0.86-0.88 against
 * 1.39-1.42 with 64 KiB ones; text unchanged (its frames are
 * frame_bytes). Earlier, 256 against 128 KiB: 1.13 against 1.40 ms.
 * Writer buffers are sized for it: (SEG_WRITER_SLOTS * 3 + 3) * (1024 +
 * 80) KiB = 16.2 MiB per writer allocated, most of it (the string and
 * index copies) touched only as far as a frame's strings and entries
 * reach: RSS +3.5 MiB with 2 writers in that run. 1 MiB is also
 * SEG_FRAME_BYTES_MAX, the largest frame a reader takes. */
#define SEG_RAW_FRAME_BYTES (1024u * 1024u)

/* Largest O_DIRECT alignment (file offset and length, from statx
 * STATX_DIOALIGN) the writer handles; a file system asking more gets
 * buffered writes. An O_DIRECT writer ends every .seg write at such a
 * boundary, zero-padded: readers take fewer than this many zero bytes
 * after the last frame for that padding, not for a torn tail. */
#define SEG_DIO_ALIGN_MAX 4096u
/* Frames at least this big (compressed) go to the .seg with O_DIRECT,
 * smaller ones through the page cache. Measured (bench/README.md "#16
 * storage"): with O_DIRECT for every frame, 64 KiB `x` bodies (frames of
 * ~2 KiB) ran at half the req/s and 1.7x the CPU per exchange: the writer
 * has one write in flight, and an O_DIRECT write waits for the device
 * (~100 µs here), a small buffered one only for a copy. dd on this disk:
 * 128 KiB O_DIRECT writes 850 MB/s, 256 KiB 1.4 GB/s, buffered 650 MB/s. */
#define SEG_DIO_MIN_BYTES (64u * 1024u)

/* Frame buffers a writer holds while their writes are in flight; when all
 * are busy new exchanges are refused (-ENOBUFS) instead of allocating. */
#define SEG_WRITER_SLOTS 4u
/* Exchanges open at once on one writer (default / hard maximum). */
#define SEG_OPEN_DEFAULT 4096u
#define SEG_OPEN_MAX 65536u

/* Default per-direction body cap (bytes), as ringcap run --max-body. */
#define SEG_BODY_MAX_DEFAULT (16ull * 1024u * 1024u)
/* Default flush interval (ringcap run --flush-interval): a live view sees
 * new exchanges within this, and a kill -9 or power loss loses at most the
 * exchanges completed this long (plus one tick of the caller, 100 ms in the
 * engine) before it: the kill -9 drill lost those completed up to 130 ms
 * before each kill. Shorter costs more, smaller frames (see the ratio
 * table above: 16 KiB frames compress 9% worse than 128 KiB ones). */
#define SEG_FLUSH_NS_DEFAULT (250ull * 1000u * 1000u)
/* --flush-interval bounds (ms): the writer is ticked every 100 ms, so a
 * shorter interval would promise what it cannot keep; above a minute a live
 * view looks stalled. */
#define SEG_FLUSH_MS_MIN 100u
/* A segment written to this recently may be mid-flush: its frame is on disk
 * before its string and index writes (one ring write after the other,
 * milliseconds apart; 2 s covers a loaded box). Readers list what its frames
 * hold beyond the index but do not call that damage; fsck does. */
#define SEG_LIVE_NS (2ull * 1000u * 1000u * 1000u)
#define SEG_FLUSH_MS_MAX 60000u
/* Rotation defaults: a segment is closed at this size or age. 256 MiB keeps
 * a worker's tail recovery (decompress the last segment) well under 1 s. */
#define SEG_ROTATE_BYTES_DEFAULT (256ull * 1024u * 1024u)
#define SEG_ROTATE_NS_DEFAULT (3600ull * 1000u * 1000u * 1000u)
/* Segment files are addressed with u32 offsets. */
#define SEG_ROTATE_BYTES_MAX (3ull * 1024u * 1024u * 1024u)

/* Workers (id bits) and segments per worker in one session. */
#define SEG_WORKERS_MAX 1024u
#define SEG_SEGNO_MAX 99999999u
/* Segment files per session a reader or retention pass looks at. */
#define SEG_FILES_MAX 65536u
/* Exchange id = worker << SEG_ID_WORKER_SHIFT | per-worker sequence. */
#define SEG_ID_WORKER_SHIFT 40
/* How many segments back an exchange may have begun (index field span). */
#define SEG_SPAN_MAX 65535u

/* Bytes of a segment/index/string file header and of an index entry. */
#define SEG_FILE_HDR_SIZE 32u
#define SEG_FRAME_HDR_SIZE 32u
/* Index entries: RCAPIDX1 (96 B, sessions before issue 16) and RCAPIDX2
 * (65 B, what writers write now; segment.c has both layouts). Readers
 * take the stride from each index file's header. */
#define SEG_ENTRY1_SIZE 96u
#define SEG_ENTRY2_SIZE 65u
#define SEG_ENTRY_SIZE SEG_ENTRY2_SIZE    /* what the writer writes */
#define SEG_ENTRY_SIZE_MAX SEG_ENTRY1_SIZE /* room for an entry of either layout */
#define SEG_TOMB_SIZE 24u

/* Query layer: rows of one session table (bounds memory: ~120 B a row). */
#define SEG_TABLE_ROWS_MAX (64u * 1024u * 1024u)
#define SEG_SEARCH_MAX 256u
#define SEG_GROUP_MAX 4096u

_Static_assert(SEG_FRAME_BYTES_MIN <= SEG_FRAME_BYTES_DEFAULT, "frame default below min");
_Static_assert(SEG_FRAME_BYTES_DEFAULT <= SEG_FRAME_BYTES_MAX, "frame default above max");
_Static_assert(SEG_REC_MAX >= 16u + 96u + SEG_METHOD_MAX + SEG_HOST_MAX + SEG_URL_MAX +
               SEG_CLIENT_NAME_MAX + SEG_HEAD_MAX, "BEGIN record does not fit SEG_REC_MAX");
_Static_assert(SEG_REC_MAX >= 16u + 16u + SEG_REASON_MAX + SEG_HEAD_MAX, "RESP_HEAD too big");
_Static_assert(SEG_REC_MAX >= 16u + SEG_CHUNK_MAX, "body chunk too big");
_Static_assert(SEG_REC_MAX >= 16u + 8u + SEG_TRAILERS_MAX, "TRAILERS record too big");
_Static_assert(SEG_OPEN_DEFAULT <= SEG_OPEN_MAX, "open default above max");
_Static_assert(SEG_ZSTD_LEVEL_MIN <= SEG_ZSTD_LEVEL_DEFAULT, "zstd default below min");
_Static_assert(SEG_ZSTD_LEVEL_DEFAULT <= SEG_ZSTD_LEVEL_MAX, "zstd default above max");
_Static_assert(SEG_ZSTD_LEVEL_DEFAULT != 0, "0 means the default");
_Static_assert(SEG_SAMPLE_MIN <= SEG_SAMPLE_BYTES, "sample smaller than its minimum");
_Static_assert(SEG_RAW_FRAME_BYTES <= SEG_FRAME_BYTES_MAX, "raw frames beyond the reader's bound");
_Static_assert(SEG_SAMPLE_BYTES <= SEG_CHUNK_MAX, "sample beyond one body record");
_Static_assert(SEG_FLUSH_NS_DEFAULT >= SEG_FLUSH_MS_MIN * 1000000ull, "flush default below min");
_Static_assert(SEG_FLUSH_NS_DEFAULT <= SEG_FLUSH_MS_MAX * 1000000ull, "flush default above max");
_Static_assert(SEG_ROTATE_BYTES_DEFAULT <= SEG_ROTATE_BYTES_MAX, "rotate default above max");
_Static_assert(SEG_ROTATE_BYTES_MAX < 4ull * 1024u * 1024u * 1024u, "u32 offsets");

#endif
