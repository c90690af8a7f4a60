/* tests/persist/trailers_test.c: TRAILERS records (type 8). Writes an
 * exchange with request and response trailers (gRPC-shaped), one whose
 * response trailers exceed SEG_TRAILERS_MAX (stored cut, flagged, the
 * wire length kept), one without "save responses" (no response trailers;
 * its request trailers arrive already cut by the caller)
 * and one without trailers; reads them back byte-exact. Then the reader's
 * checks: seg_rec_parse refuses a TRAILERS record with a bad direction,
 * non-zero reserved bytes, a wire length below what is stored, a block
 * over the bound, or a payload shorter than its fixed part; and a frame
 * whose TRAILERS record is cut short (its length runs past the frame) is
 * damaged for seg_segment_check, while the same frame whole is valid.
 */
#include <fcntl.h>

#include "tests/persist/gen.h"
#include "persist/reader-int.h"

static const char req_tr[] = "x-checksum: abc\r\n";
static const char resp_tr[] = "grpc-status: 0\r\ngrpc-message: ok\r\n";

static struct seg_xch *begin(struct seg_writer *w, const char *url, uint32_t flags)
{
	static const char head[] = "POST /svc/M HTTP/1.1\r\ncontent-type: application/grpc\r\n"
				   "te: trailers\r\n\r\n";
	struct seg_xch_begin b = {
		.start_ns = now_wall_ns(), .http_version = 20, .port = 443, .flags = flags,
		.method = "POST", .method_len = 4, .host = "h", .host_len = 1,
		.url = url, .url_len = strlen(url), .req_head = head, .req_head_len = sizeof(head) - 1,
	};
	struct seg_xch *x;
	REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
	REQUIRE_RC(seg_xch_body(w, x, SEG_DIR_REQ, "\0\0\0\0\2hi", 7));
	REQUIRE_RC(seg_xch_resp_head(w, x, 200, "OK", 2,
				     "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n\r\n", 50,
				     SEG_T_BINARY));
	REQUIRE_RC(seg_xch_body(w, x, SEG_DIR_RESP, "\0\0\0\0\2yo", 7));
	return x;
}

static void end(struct seg_writer *w, struct seg_xch *x)
{
	struct seg_xch_end e = { .status = 200 };
	REQUIRE_RC(seg_xch_end(w, x, &e));
}

static uint64_t ids[4];

static int collect(void *ctx, const struct seg_entry *e)
{
	size_t *n = ctx;
	if (*n < 4)
		ids[(*n)++] = e->id;
	return 0;
}

static void write_session(const char *dir, char *big, size_t big_len)
{
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 0, .save_responses = true };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct seg_xch *x = begin(w, "https://h/grpc", SEG_F_TLS);
	REQUIRE_RC(seg_xch_trailers(w, x, SEG_DIR_REQ, req_tr, strlen(req_tr), strlen(req_tr)));
	REQUIRE_RC(seg_xch_trailers(w, x, SEG_DIR_RESP, resp_tr, strlen(resp_tr), strlen(resp_tr)));
	end(w, x);
	x = begin(w, "https://h/big", SEG_F_TLS);
	REQUIRE_RC(seg_xch_trailers(w, x, SEG_DIR_RESP, big, big_len, big_len));
	end(w, x);
	x = begin(w, "https://h/noresp", SEG_F_TLS | SEG_F_NO_RESP);
	/* the caller cut this one (10 bytes it had no room for) */
	REQUIRE_RC(seg_xch_trailers(w, x, SEG_DIR_REQ, req_tr, strlen(req_tr), strlen(req_tr) + 10));
	REQUIRE_RC(seg_xch_trailers(w, x, SEG_DIR_RESP, resp_tr, strlen(resp_tr), strlen(resp_tr)));
	end(w, x);
	x = begin(w, "https://h/none", SEG_F_TLS);
	end(w, x);
	REQUIRE_RC(seg_writer_flush_sync(w));
	struct seg_writer_stats st;
	seg_writer_get_stats(w, &st);
	CHECK_EQ(st.trailers_cut, 2);
	seg_writer_close(w);
}

static void check_read(const char *dir, const char *big, size_t big_len)
{
	size_t n = 0;
	REQUIRE_RC(seg_index_scan(dir, collect, &n, NULL));
	REQUIRE(n == 4);
	struct seg_exchange x;
	REQUIRE_RC(seg_open_id(dir, ids[0], NULL, &x));
	CHECK_EQ(x.trailers_len[SEG_DIR_REQ], strlen(req_tr));
	CHECK(x.trailers[SEG_DIR_REQ] && memcmp(x.trailers[SEG_DIR_REQ], req_tr, strlen(req_tr)) == 0);
	CHECK_EQ(x.trailers_len[SEG_DIR_RESP], strlen(resp_tr));
	CHECK(x.trailers[SEG_DIR_RESP] &&
	      memcmp(x.trailers[SEG_DIR_RESP], resp_tr, strlen(resp_tr)) == 0);
	CHECK_EQ(x.trailers_wire_len[SEG_DIR_RESP], strlen(resp_tr));
	CHECK(!(x.flags & SEG_F_HEAD_TRUNC));
	seg_exchange_free(&x);
	CHECK(x.trailers[0] == NULL);
	CHECK(x.trailers[1] == NULL);

	REQUIRE_RC(seg_open_id(dir, ids[1], NULL, &x));
	CHECK_EQ(x.trailers_len[SEG_DIR_RESP], SEG_TRAILERS_MAX);
	CHECK_EQ(x.trailers_wire_len[SEG_DIR_RESP], big_len);
	CHECK(x.trailers[SEG_DIR_RESP] && memcmp(x.trailers[SEG_DIR_RESP], big, SEG_TRAILERS_MAX) == 0);
	CHECK(x.flags & SEG_F_HEAD_TRUNC);
	CHECK(x.trailers[SEG_DIR_REQ] == NULL);
	seg_exchange_free(&x);

	REQUIRE_RC(seg_open_id(dir, ids[2], NULL, &x));
	CHECK(x.flags & SEG_F_NO_RESP);
	CHECK(x.trailers[SEG_DIR_REQ] != NULL);
	CHECK_EQ(x.trailers_len[SEG_DIR_REQ], strlen(req_tr));
	CHECK_EQ(x.trailers_wire_len[SEG_DIR_REQ], strlen(req_tr) + 10);
	CHECK(x.flags & SEG_F_HEAD_TRUNC);
	CHECK(x.trailers[SEG_DIR_RESP] == NULL);   /* "save responses" off */
	seg_exchange_free(&x);

	REQUIRE_RC(seg_open_id(dir, ids[3], NULL, &x));
	CHECK(x.trailers[SEG_DIR_REQ] == NULL);
	CHECK(x.trailers[SEG_DIR_RESP] == NULL);
	CHECK_EQ(x.status, 200);
	seg_exchange_free(&x);
}

/* One TRAILERS record (header and payload) into b; returns its size. */
static uint32_t rec(uint8_t *b, uint8_t dir, const char *block, uint32_t n, uint32_t wire)
{
	memset(b, 0, SEG_REC_HDR + SEG_TRAILERS_FIXED);
	b[0] = SEG_R_TRAILERS;
	seg_put32(b + 4, SEG_TRAILERS_FIXED + n);
	seg_put64(b + 8, 7);
	b[SEG_REC_HDR] = dir;
	seg_put32(b + SEG_REC_HDR + 4, wire);
	memcpy(b + SEG_REC_HDR + SEG_TRAILERS_FIXED, block, n);
	return SEG_REC_HDR + SEG_TRAILERS_FIXED + n;
}

static int parse(const uint8_t *b, uint32_t len)
{
	uint32_t pos = 0;
	struct seg_rec_view r;
	int rc = seg_rec_parse(b, len, &pos, &r);
	return rc == 0 && pos == len ? 0 : -EBADMSG;
}

static void check_parse(void)
{
	static uint8_t b[SEG_REC_MAX + 64];
	uint32_t n = (uint32_t)strlen(resp_tr);
	uint32_t len = rec(b, 1, resp_tr, n, n);
	CHECK_EQ(parse(b, len), 0);
	CHECK(parse(b, len - 1) < 0);                         /* cut short */
	rec(b, 2, resp_tr, n, n);
	CHECK(parse(b, len) < 0);                             /* direction */
	rec(b, 1, resp_tr, n, n - 1);
	CHECK(parse(b, len) < 0);                             /* wire < stored */
	rec(b, 1, resp_tr, n, n);
	b[SEG_REC_HDR + 2] = 1;
	CHECK(parse(b, len) < 0);                             /* reserved byte */
	rec(b, 1, "", 0, 0);
	seg_put32(b + 4, SEG_TRAILERS_FIXED - 1);
	CHECK(parse(b, SEG_REC_HDR + SEG_TRAILERS_FIXED - 1) < 0);   /* no fixed part */
	static char over[SEG_TRAILERS_MAX + 1];
	memset(over, 'a', sizeof(over));
	len = rec(b, 1, over, SEG_TRAILERS_MAX, SEG_TRAILERS_MAX);
	CHECK_EQ(parse(b, len), 0);                           /* at the bound */
	len = rec(b, 1, over, SEG_TRAILERS_MAX + 1, SEG_TRAILERS_MAX + 1);
	CHECK(parse(b, len) < 0);                             /* over it */
}

/* Appends a raw frame (SEG_FRAME_F_RAW) of nrec records p[0..n) to path. */
static void append_frame(const char *path, const uint8_t *p, uint32_t n, uint32_t nrec)
{
	uint8_t h[SEG_FRAME_HDR_SIZE] = { 0 };
	seg_put32(h, 0x52464352u);
	seg_put32(h + 4, n);
	seg_put32(h + 8, n | (1u << 31));
	seg_put32(h + 12, nrec);
	seg_put64(h + 16, 7);
	seg_put32(h + 24, seg_crc32c(0, p, n));
	seg_put32(h + 28, seg_crc32c(0, h, 28));
	int fd = open(path, O_WRONLY | O_APPEND);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, h, sizeof(h)) == (ssize_t)sizeof(h));
	REQUIRE(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void check_frames(const char *dir)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/w000-00000001.seg", dir);
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_segment_check(path, &rep));
	CHECK_EQ(rep.frames_bad, 0);
	CHECK_EQ(rep.exchanges, 4);
	uint64_t ok = rep.frames_ok;
	uint8_t b[256];
	uint32_t n = (uint32_t)strlen(resp_tr);
	uint32_t len = rec(b, 1, resp_tr, n, n);
	append_frame(path, b, len, 1);            /* whole: valid */
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_segment_check(path, &rep));
	CHECK_EQ(rep.frames_ok, ok + 1);
	CHECK_EQ(rep.frames_bad, 0);
	append_frame(path, b, len - 5, 1);        /* its record cut short: damaged */
	append_frame(path, b, len, 1);            /* and the next frame still read */
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_segment_check(path, &rep));
	CHECK_EQ(rep.frames_bad, 1);
	CHECK_EQ(rep.frames_ok, ok + 2);
	CHECK_EQ(rep.torn_bytes, 0);
	/* the exchanges before the damage still open whole */
	struct seg_exchange x;
	REQUIRE_RC(seg_open_id(dir, ids[0], NULL, &x));
	CHECK_EQ(x.trailers_len[SEG_DIR_RESP], n);
	seg_exchange_free(&x);
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "trailers");
	size_t big_len = SEG_TRAILERS_MAX + 1000;
	char *big = malloc(big_len);
	REQUIRE(big != NULL);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (i % 40 == 39) ? '\n' : (char)('a' + i % 26);
	write_session(dir, big, big_len);
	check_read(dir, big, big_len);
	check_parse();
	check_frames(dir);
	free(big);
	rm_rf(dir);
	return check_done("persist_trailers");
}
