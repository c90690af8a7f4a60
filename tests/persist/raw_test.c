/* tests/persist/raw_test.c: incompressible bodies stored raw (issue 16).
 * A session of interleaved exchanges: random bodies (both directions, in
 * chunks as the engine hands them over, several frames each), JSON-like
 * text bodies and small ones. Checks: random bodies are sampled
 * incompressible and their frames written raw (their bytes stand verbatim
 * in the .seg), text is compressed (not verbatim); every exchange reads
 * back byte-exact; fsck finds no damage; with index and strings deleted
 * (a crash before their writes) recovery lists everything again from raw
 * and compressed frames alike; a segment cut inside a raw frame loses
 * that frame's exchanges only; a flipped byte in a raw frame is damage,
 * never returned; a reserved frame-header bit or a raw frame whose two
 * lengths differ is a bad header.
 * All of it twice: buffered, and with O_DIRECT (cfg.direct: frames written
 * from aligned buffers, the last block rewritten with each frame and
 * zero-padded; where the file system refuses, the writer says why and
 * writes buffered). With O_DIRECT also across rotations (small segments),
 * and the padding rule: fewer than SEG_DIO_ALIGN_MAX zero bytes after the
 * last frame are padding, more or non-zero ones a torn tail.
 * The writer refuses a zstd level outside SEG_ZSTD_LEVEL_MIN..MAX or a
 * zstd budget above SEG_ZSTD_BUDGET_MAX (ringcap run --zstd-level,
 * --zstd-budget), and opens at both level bounds.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/reader-int.h"

#define N 24
#define CHUNK 16000u /* a recv buffer's worth, as the engine passes bodies */

static char dir[64];
static uint64_t ids[N];
static bool direct;          /* this pass writes with cfg.direct */
static uint64_t rotate_bytes; /* 0: one segment */

/* Exchange k: kind 0 random (both bodies), 1 text, 2 small. */
static int kind_of(uint64_t k) { return (int)(k % 3); }

static size_t body_len(uint64_t k, int d)
{
	switch (kind_of(k)) {
	case 0: return d ? 600000 + k * 1000 : 20000;
	case 1: return d ? 200000 + k * 500 : 3000;
	default: return d ? 100 : 0;
	}
}

/* Byte i of body (k, d): random, JSON-like text, or a short text. */
static void body_fill(uint64_t k, int d, uint8_t *p, size_t n)
{
	if (kind_of(k) == 0) {
		uint64_t r = gen_mix(k * 2 + (uint64_t)d);
		for (size_t i = 0; i < n; i++) {
			r = gen_mix(r);
			p[i] = (uint8_t)r;
		}
		return;
	}
	size_t o = 0;
	for (uint64_t i = 0; o < n; i++) {
		char rec[128];
		int m = snprintf(rec, sizeof(rec), "{\"id\":%llu,\"k\":%llu,\"name\":\"user%llu\","
				 "\"ok\":%s},\n", (unsigned long long)i, (unsigned long long)k,
				 (unsigned long long)(gen_mix(i) % 1000), i % 3 ? "true" : "false");
		size_t c = (size_t)m < n - o ? (size_t)m : n - o;
		memcpy(p + o, rec, c);
		o += c;
	}
}

static void write_body(struct seg_writer *w, struct seg_xch *x, uint64_t k, int d)
{
	size_t n = body_len(k, d);
	uint8_t *b = malloc(n ? n : 1);
	REQUIRE(b != NULL);
	body_fill(k, d, b, n);
	for (size_t o = 0; o < n; o += CHUNK)
		REQUIRE_RC(seg_xch_body(w, x, (enum seg_dir)d, b + o, n - o < CHUNK ? n - o : CHUNK));
	free(b);
}

/* Every .seg of an O_DIRECT writer ends at its last frame (written
 * through the page cache) or at the next multiple of its alignment. */
static void check_sizes(uint32_t align)
{
	for (uint32_t s = 1;; s++) {
		char p[PATH_MAX];
		struct seg_fiter it;
		seg_path(p, sizeof(p), dir, 0, s, SEG_K_SEG);
		if (access(p, F_OK) < 0)
			break;
		REQUIRE_RC(seg_fiter_open(&it, p, true, NULL));
		while (seg_fiter_next(&it) == 1) {
		}
		uint64_t pad = (align - it.valid_end % align) % align;
		CHECK_MSG(!it.torn, "%s: torn", p);
		CHECK_MSG(it.size == it.valid_end || it.size == it.valid_end + pad,
			  "%s: %llu bytes, frames end at %llu", p, (unsigned long long)it.size,
			  (unsigned long long)it.valid_end);
		seg_fiter_close(&it);
	}
}

static void write_session(void)
{
	struct seg_writer_cfg cfg = { .session_dir = dir, .save_responses = true,
				      .direct = direct, .rotate_bytes = rotate_bytes };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&cfg, now_wall_ns(), &w));
	struct seg_xch *x[2] = { NULL, NULL };
	/* two exchanges open at once, so frames mix kinds */
	for (uint64_t k = 0; k < N + 2; k++) {
		if (x[k % 2]) {
			struct seg_xch_end e = { .status = 200, .t.total_ns = 1000 };
			REQUIRE_RC(seg_xch_end(w, x[k % 2], &e));
			x[k % 2] = NULL;
			while (seg_writer_busy(w)) {
				const struct seg_io *io = seg_writer_next_io(w);
				REQUIRE(io != NULL);
				seg_writer_io_done(w, seg_io_sync(io));
			}
		}
		if (k >= N)
			continue;
		char url[64];
		snprintf(url, sizeof(url), "http://raw.test/x/%llu", (unsigned long long)k);
		struct seg_xch_begin b = { .start_ns = now_wall_ns(), .method = "POST", .method_len = 4,
					   .host = "raw.test", .host_len = 8, .url = url,
					   .url_len = strlen(url), .req_head = "POST / HTTP/1.1\r\n\r\n",
					   .req_head_len = 19, .http_version = 11 };
		REQUIRE_RC(seg_xch_begin(w, &b, &x[k % 2], &ids[k]));
		write_body(w, x[k % 2], k, 0);
		REQUIRE_RC(seg_xch_resp_head(w, x[k % 2], 200, "OK", 2, "HTTP/1.1 200 OK\r\n\r\n", 19,
					     SEG_T_BINARY));
		write_body(w, x[k % 2], k, 1);
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	struct seg_writer_stats st;
	seg_writer_get_stats(w, &st);
	fprintf(stderr, "  direct %d: align %u, errno %d (%s), %llu segments, %llu frames direct\n",
		direct, st.direct_align, st.direct_errno, strerror(st.direct_errno),
		(unsigned long long)st.segments, (unsigned long long)st.frames_direct);
	/* raw frames (>= 128 KiB) go direct when it is on, small ones never */
	CHECK(st.direct_align ? st.frames_direct >= st.frames_raw : st.frames_direct == 0);
	CHECK(st.frames_direct < st.frames);
	CHECK(direct || (st.direct_align == 0 && st.direct_errno == 0));
	CHECK(!st.direct_align || !st.direct_errno);
	if (st.direct_align) /* the file ends at a block boundary: padded */
		check_sizes(st.direct_align);
	if (direct && strncmp(dir, "/dev/shm/", 9) == 0) /* tmpfs: no DIO alignment */
		CHECK(st.direct_align == 0 && st.direct_errno != 0);
	fprintf(stderr, "  %llu frames, %llu raw, %llu bodies raw; raw %llu B, disk %llu B\n",
		(unsigned long long)st.frames, (unsigned long long)st.frames_raw,
		(unsigned long long)st.bodies_raw, (unsigned long long)st.bytes_raw,
		(unsigned long long)st.bytes_disk);
	CHECK_EQ(st.exchanges, N);
	CHECK_EQ(st.bodies_raw, 2 * ((N + 2) / 3)); /* both bodies of every random one */
	CHECK(st.frames_raw >= N / 3); /* 2 x 600 KiB each: more than one 1 MiB raw frame */
	CHECK(st.frames_raw < st.frames);
	seg_writer_close(w);
}

static void seg_file(char *p, size_t cap) { seg_path(p, cap, dir, 0, 1, SEG_K_SEG); }

static uint8_t *slurp(const char *path, size_t *n)
{
	int fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0);
	struct stat sb;
	REQUIRE(fstat(fd, &sb) == 0);
	uint8_t *b = malloc((size_t)sb.st_size + 1);
	REQUIRE(b != NULL);
	REQUIRE(pread(fd, b, (size_t)sb.st_size, 0) == sb.st_size);
	close(fd);
	*n = (size_t)sb.st_size;
	return b;
}

static bool contains(const uint8_t *h, size_t hn, const uint8_t *needle, size_t nn)
{
	for (size_t i = 0; i + nn <= hn; i++)
		if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0)
			return true;
	return false;
}

/* Random bodies stand verbatim in the file, text does not. */
static void check_verbatim(void)
{
	char p[PATH_MAX];
	size_t n;
	seg_file(p, sizeof(p));
	uint8_t *f = slurp(p, &n);
	for (uint64_t k = 0; k < 6; k++) {
		if (kind_of(k) == 2)
			continue; /* 100 B: too short to tell */
		size_t bl = body_len(k, 1);
		uint8_t *b = malloc(bl);
		REQUIRE(b != NULL);
		body_fill(k, 1, b, bl);
		bool found = contains(f, n, b + bl / 2, 256);
		CHECK_MSG(found == (kind_of(k) == 0), "k=%llu kind %d verbatim %d",
			  (unsigned long long)k, kind_of(k), found);
		free(b);
	}
	free(f);
}

/* Every exchange not in lost[] opens byte-exact; returns how many did. */
static unsigned verify_all(const bool *lost)
{
	unsigned ok = 0;
	for (uint64_t k = 0; k < N; k++) {
		struct seg_exchange x;
		struct seg_open_opts o = { .body_max = { SIZE_MAX, SIZE_MAX } };
		int rc = seg_open_id(dir, ids[k], &o, &x);
		if (lost && lost[k]) {
			CHECK_MSG(rc < 0, "k=%llu opened although lost", (unsigned long long)k);
			if (rc == 0)
				seg_exchange_free(&x);
			continue;
		}
		CHECK_MSG(rc == 0, "k=%llu: open %d", (unsigned long long)k, rc);
		if (rc < 0)
			continue;
		bool same = x.complete;
		for (int d = 0; d < 2; d++) {
			size_t bl = body_len(k, d);
			uint8_t *b = malloc(bl ? bl : 1);
			REQUIRE(b != NULL);
			body_fill(k, d, b, bl);
			same = same && x.body_len[d] == bl && (bl == 0 || !memcmp(x.body[d], b, bl));
			free(b);
		}
		CHECK_MSG(same, "k=%llu: bodies differ", (unsigned long long)k);
		ok += same;
		seg_exchange_free(&x);
	}
	return ok;
}

static uint64_t listed(void)
{
	struct seg_table t;
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_table_load(dir, &t, &rep));
	uint64_t n = t.n;
	seg_table_free(&t);
	return n;
}

static void check_fsck_clean(void)
{
	struct seg_report rep = { 0 };
	rep.strict = true;
	CHECK_RC(seg_fsck(dir, false, &rep));
	CHECK_MSG(!seg_report_damaged(&rep), "fsck: %s", rep.first_damage);
	CHECK_EQ(rep.exchanges, N);
	CHECK_EQ(rep.torn_bytes, 0);
}

/* A crash before the last segment's index and string writes: recovery
 * from its frames (every exchange, with one segment). */
static void check_recovery(void)
{
	char p[PATH_MAX];
	uint32_t last = 1;
	while (seg_path(p, sizeof(p), dir, 0, last + 1, SEG_K_SEG) == 0 && access(p, F_OK) == 0)
		last++;
	seg_path(p, sizeof(p), dir, 0, last, SEG_K_IDX);
	REQUIRE(truncate(p, SEG_FILE_HDR_SIZE) == 0);
	seg_path(p, sizeof(p), dir, 0, last, SEG_K_STR);
	REQUIRE(truncate(p, SEG_FILE_HDR_SIZE) == 0);
	struct seg_report rr = { 0 };
	REQUIRE_RC(seg_recover(dir, &rr));
	CHECK(rr.exchanges > 0);
	CHECK(last > 1 || rr.exchanges == N);
	CHECK_EQ(listed(), N);
	CHECK_EQ(verify_all(NULL), N);
	check_fsck_clean();
}

/* The offset of the last (raw) frame of the segment and its end. */
static void last_frame(uint64_t *off, uint64_t *end, bool raw)
{
	char p[PATH_MAX];
	struct seg_fiter it;
	seg_file(p, sizeof(p));
	REQUIRE_RC(seg_fiter_open(&it, p, true, NULL));
	*off = 0;
	while (seg_fiter_next(&it) == 1)
		if (it.h.raw || !raw) {
			*off = it.frame_off;
			*end = it.off;
		}
	seg_fiter_close(&it);
	REQUIRE(*off != 0);
}

/* A cut inside the last raw frame: what ended in it or after is lost, the
 * rest reads. */
static void check_torn_raw(void)
{
	uint64_t off, end;
	last_frame(&off, &end, true);
	char p[PATH_MAX];
	seg_file(p, sizeof(p));
	REQUIRE(truncate(p, (off_t)(off + (end - off) / 2)) == 0);
	seg_path(p, sizeof(p), dir, 0, 1, SEG_K_IDX);
	REQUIRE(truncate(p, SEG_FILE_HDR_SIZE) == 0);
	struct seg_report rr = { 0 };
	REQUIRE_RC(seg_recover(dir, &rr));
	uint64_t n = listed();
	CHECK(n > 0);
	CHECK(n < N);
	bool lost[N];
	for (uint64_t k = 0; k < N; k++)
		lost[k] = k >= n; /* exchanges end in id order, two open at once */
	CHECK_EQ(verify_all(lost), n);
}

/* A flipped payload byte of a raw frame: counted damage, never returned. */
static void check_flip_raw(void)
{
	uint64_t off, end;
	last_frame(&off, &end, true);
	char p[PATH_MAX];
	seg_file(p, sizeof(p));
	int fd = open(p, O_RDWR);
	REQUIRE(fd >= 0);
	uint8_t c;
	REQUIRE(pread(fd, &c, 1, (off_t)(off + SEG_FRAME_HDR_SIZE + 1000)) == 1);
	c ^= 0x40;
	REQUIRE(pwrite(fd, &c, 1, (off_t)(off + SEG_FRAME_HDR_SIZE + 1000)) == 1);
	close(fd);
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_segment_check(p, &rep));
	CHECK_EQ(rep.frames_bad, 1);
	CHECK_PREFIX(rep.first_damage, "w000-00000001.seg");
}

static void check_header_bits(void)
{
	uint8_t b[SEG_FRAME_HDR_SIZE];
	struct seg_frame_hdr h = { .clen = 100, .ulen = 100, .nrec = 1, .raw = true }, d;
	seg_frame_hdr_encode(b, &h);
	CHECK_RC(seg_frame_hdr_decode(b, &d));
	CHECK(d.raw && d.ulen == 100 && d.clen == 100);
	h.raw = false;
	seg_frame_hdr_encode(b, &h);
	CHECK_RC(seg_frame_hdr_decode(b, &d));
	CHECK(!d.raw && d.ulen == 100);
	/* a raw frame whose lengths differ */
	h = (struct seg_frame_hdr){ .clen = 99, .ulen = 100, .nrec = 1, .raw = true };
	seg_frame_hdr_encode(b, &h);
	CHECK_EQ(seg_frame_hdr_decode(b, &d), -EBADMSG);
	/* a reserved bit (21..30), checksum recomputed so only the bit is wrong */
	h = (struct seg_frame_hdr){ .clen = 100, .ulen = 100 | (1u << 25), .nrec = 1 };
	seg_frame_hdr_encode(b, &h);
	CHECK_EQ(seg_frame_hdr_decode(b, &d), -EBADMSG);
}

/* Bytes appended after the last frame: fewer than SEG_DIO_ALIGN_MAX
 * zeros are padding, anything else a torn tail. */
static void check_padding(void)
{
	char p[PATH_MAX];
	seg_file(p, sizeof(p));
	struct stat sb0;
	REQUIRE(stat(p, &sb0) == 0);
	uint64_t off, end;
	last_frame(&off, &end, false);
	REQUIRE(truncate(p, (off_t)end) == 0); /* without an O_DIRECT writer's padding */
	static const struct { uint32_t n; uint8_t byte; bool torn; } t[] = {
		{ SEG_DIO_ALIGN_MAX - 1, 0, false }, { SEG_DIO_ALIGN_MAX, 0, true },
		{ 100, 1, true }, { 7, 0, false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct stat sb;
		REQUIRE(stat(p, &sb) == 0);
		int fd = open(p, O_WRONLY);
		REQUIRE(fd >= 0);
		uint8_t b[SEG_DIO_ALIGN_MAX];
		memset(b, t[i].byte, sizeof(b));
		REQUIRE(pwrite(fd, b, t[i].n, sb.st_size) == (ssize_t)t[i].n);
		struct seg_report rep = { 0 };
		REQUIRE_RC(seg_segment_check(p, &rep));
		CHECK_MSG((rep.torn_bytes != 0) == t[i].torn, "%u bytes of %u: torn %llu", t[i].n,
			  t[i].byte, (unsigned long long)rep.torn_bytes);
		REQUIRE(ftruncate(fd, sb.st_size) == 0);
		close(fd);
	}
	REQUIRE(truncate(p, sb0.st_size) == 0); /* the padding back: zeros */
}

static void pass(bool dio, const char *base)
{
	direct = dio;
	rotate_bytes = 0;
	if (base) {
		snprintf(dir, sizeof(dir), "%s/rc-raw-XXXXXX", base);
		REQUIRE(mkdtemp(dir) != NULL);
	} else {
		make_tmpdir(dir, sizeof(dir), "raw");
	}
	write_session();
	check_verbatim();
	CHECK_EQ(listed(), N);
	CHECK_EQ(verify_all(NULL), N);
	check_fsck_clean();
	check_recovery();
	check_padding();
	check_torn_raw();
	check_flip_raw();
	rm_rf(dir);
}

/* Small segments: every rotation opens a .seg through next_io/io_done. */
static void pass_rotating(void)
{
	direct = true;
	rotate_bytes = 512 * 1024;
	make_tmpdir(dir, sizeof(dir), "rawrot");
	write_session();
	CHECK_EQ(listed(), N);
	CHECK_EQ(verify_all(NULL), N);
	check_fsck_clean();
	check_recovery();
	rm_rf(dir);
}

/* seg_writer_cfg.zstd_level / zstd_budget: out of bounds is -EINVAL. */
static void check_cfg(void)
{
	make_tmpdir(dir, sizeof(dir), "rawcfg");
	const struct { int level; uint32_t budget; int rc; } cases[] = {
		{ SEG_ZSTD_LEVEL_MIN - 1, 0, -EINVAL }, { SEG_ZSTD_LEVEL_MAX + 1, 0, -EINVAL },
		{ 1, SEG_ZSTD_BUDGET_MAX + 1, -EINVAL }, { SEG_ZSTD_LEVEL_MIN, 1, 0 },
		{ SEG_ZSTD_LEVEL_MAX, SEG_ZSTD_BUDGET_MAX, 0 }, { 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .zstd_level = cases[i].level,
					    .zstd_budget = cases[i].budget };
		struct seg_writer *w = NULL;
		int rc = seg_writer_open(&c, now_wall_ns(), &w);
		CHECK_MSG(rc == cases[i].rc, "level %d budget %u: %d", cases[i].level,
			  cases[i].budget, rc);
		if (rc == 0)
			seg_writer_close(w);
	}
	rm_rf(dir);
}

int main(void)
{
	check_cfg();
	check_header_bits();
	pass(false, NULL);
	pass(true, NULL);
	/* the fallback: tmpfs reports no O_DIRECT alignment (statx), so the
	 * writer stays buffered and says why */
	struct statfs sf;
	if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		pass(true, "/dev/shm");
	else
		fprintf(stderr, "  no tmpfs at /dev/shm: the fallback pass is skipped\n");
	pass_rotating();
	return check_done("persist_raw");
}
