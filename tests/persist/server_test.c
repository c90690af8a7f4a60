/* tests/persist/server_test.c: the upstream (server) address in END
 * records (segment.c: bytes 82..87, 134..135 and, for IPv6, 16 bytes
 * after the error message). Writes exchanges with an IPv4 server, an IPv6
 * one, none, and an unknown family (written as none), each with an error
 * message so the IPv6 address must be found after it; reads them back;
 * checks the records' bytes and lengths (an IPv4 or absent server keeps
 * the length older readers demand, and absent is byte for byte the old
 * record); checks that seg_rec_parse refuses a bad family, a nonzero byte
 * 83 and an IPv6 record without its address; and that an index rebuilt
 * from the END records of both lengths equals the one the writer wrote.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/reader-int.h"

#define NX 4

static const struct seg_addr servers[NX] = {
	{ .family = 4, .port = 8080, .addr = { 127, 0, 0, 1 } },
	{ .family = 6, .port = 443, .addr = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xbe, [15] = 0xef } },
	{ .family = 0 },
	{ .family = 5, .port = 9, .addr = { 1, 2, 3, 4 } }, /* not a family: stored as none */
};
static const char *const msgs[NX] = { "v4", "upstream reset", "", "odd" };

static char dir[64];

static void write_all(void)
{
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 0 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	for (int i = 0; i < NX; i++) {
		char url[32];
		snprintf(url, sizeof(url), "http://h/%d", i);
		struct seg_xch_begin b = {
			.start_ns = now_wall_ns(), .http_version = 11, .port = 80,
			.method = "GET", .method_len = 3, .host = "h", .host_len = 1,
			.url = url, .url_len = strlen(url), .req_head = "GET / HTTP/1.1\r\n\r\n",
			.req_head_len = 18,
			.client = { .family = 4, .port = 5555, .addr = { 10, 0, 0, 9 } },
		};
		struct seg_xch *x;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
		struct seg_xch_end e = { .status = 200, .err_msg = msgs[i],
					 .err_msg_len = strlen(msgs[i]), .server = servers[i] };
		REQUIRE_RC(seg_xch_end(w, x, &e));
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
}

static int collect(void *ctx, const struct seg_entry *e)
{
	struct seg_entry *out = ctx;
	int i = (int)((e->id & ((1ull << SEG_ID_WORKER_SHIFT) - 1)) - 1);
	REQUIRE(i >= 0);
	REQUIRE(i < NX);
	out[i] = *e;
	return 0;
}

static void check_read(void)
{
	struct seg_entry en[NX] = { 0 };
	REQUIRE_RC(seg_index_scan(dir, collect, en, NULL));
	for (int i = 0; i < NX; i++) {
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &en[i], NULL, &x));
		struct seg_addr want = servers[i];
		if (want.family != 4 && want.family != 6)
			want = (struct seg_addr){ 0 };
		if (want.family == 4)
			memset(want.addr + 4, 0, 12);
		CHECK_MSG(x.server.family == want.family, "x%d family %u", i, x.server.family);
		CHECK_MSG(x.server.port == want.port, "x%d port %u", i, x.server.port);
		CHECK_MSG(memcmp(x.server.addr, want.addr, 16) == 0, "x%d address", i);
		CHECK_STR(x.err_msg, msgs[i]);
		CHECK_EQ(x.client.port, 5555);
		CHECK(x.complete);
		seg_exchange_free(&x);
	}
}

/* The END record of exchange i (1-based sequence), copied into out. */
static uint32_t end_record(int i, uint8_t *out, uint32_t cap)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/w000-00000001.seg", dir);
	struct seg_fiter it;
	REQUIRE_RC(seg_fiter_open(&it, p, false, NULL));
	uint32_t n = 0;
	while (n == 0 && seg_fiter_next(&it) == 1) {
		uint32_t pos = 0;
		for (uint32_t k = 0; k < it.h.nrec; k++) {
			uint32_t at = pos;
			struct seg_rec_view r;
			REQUIRE_RC(seg_rec_parse(it.ubuf, it.h.ulen, &pos, &r));
			if (r.type != SEG_R_END || r.id != (uint64_t)i + 1)
				continue;
			n = pos - at;
			REQUIRE(n <= cap);
			memcpy(out, it.ubuf + at, n);
		}
	}
	seg_fiter_close(&it);
	REQUIRE(n > 0);
	return n;
}

static int parse_copy(const uint8_t *rec, uint32_t n)
{
	uint32_t pos = 0;
	struct seg_rec_view r;
	return seg_rec_parse(rec, n, &pos, &r);
}

static void check_records(void)
{
	uint8_t rec[1024];
	for (int i = 0; i < NX; i++) {
		uint32_t n = end_record(i, rec, sizeof(rec));
		const uint8_t *q = rec + SEG_REC_HDR;
		uint32_t ml = (uint32_t)strlen(msgs[i]);
		uint32_t old_len = SEG_REC_HDR + SEG_END_FIXED + ml;
		bool v6 = servers[i].family == 6;
		CHECK_MSG(n == old_len + (v6 ? SEG_END_V6 : 0), "x%d END is %u bytes", i, n);
		CHECK_EQ(q[83], 0);
		if (servers[i].family == 4 || v6) {
			CHECK_EQ(q[82], servers[i].family);
			CHECK_EQ(seg_get16(q + 134), servers[i].port);
		} else {
			/* exactly what a writer before the server field wrote */
			static const uint8_t zero[6];
			CHECK(memcmp(q + 82, zero, 6) == 0);
			CHECK(memcmp(q + 134, zero, 2) == 0);
		}
		if (v6)
			CHECK(memcmp(q + SEG_END_FIXED + ml, servers[i].addr, 16) == 0);
	}
	/* damage the v4 record: the reader must refuse each */
	uint32_t n = end_record(0, rec, sizeof(rec));
	uint8_t *q = rec + SEG_REC_HDR;
	CHECK_RC(parse_copy(rec, n));
	q[82] = 5;
	CHECK(parse_copy(rec, n) == -EBADMSG);
	q[82] = 6; /* an IPv6 family without its 16 bytes */
	CHECK(parse_copy(rec, n) == -EBADMSG);
	q[82] = 4;
	q[83] = 1;
	CHECK(parse_copy(rec, n) == -EBADMSG);
	/* the v6 record read as IPv4 is 16 bytes too long */
	n = end_record(1, rec, sizeof(rec));
	CHECK_RC(parse_copy(rec, n));
	q[82] = 4;
	CHECK(parse_copy(rec, n) == -EBADMSG);
}

static void read_file(const char *name, uint8_t *buf, size_t cap, size_t *n)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	ssize_t r = read(fd, buf, cap);
	close(fd);
	REQUIRE(r > 0);
	*n = (size_t)r;
}

/* Entries rebuilt from END records of both lengths equal the writer's. */
static void check_rebuild(void)
{
	static uint8_t before[8192], after[8192];
	size_t nb, na;
	read_file("w000-00000001.idx", before, sizeof(before), &nb);
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_index_rebuild(dir, 0, 0, &rep));
	CHECK_EQ(rep.exchanges, NX);
	CHECK_EQ(rep.frames_bad, 0);
	read_file("w000-00000001.idx", after, sizeof(after), &na);
	CHECK_EQ(nb, SEG_FILE_HDR_SIZE + NX * SEG_ENTRY_SIZE);
	CHECK_EQ(na, nb);
	/* the file header carries the creation time: compare the entries */
	CHECK(na == nb && memcmp(before + SEG_FILE_HDR_SIZE, after + SEG_FILE_HDR_SIZE,
				 nb - SEG_FILE_HDR_SIZE) == 0);
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_fsck(dir, false, &rep));
	CHECK_MSG(!seg_report_damaged(&rep), "fsck: %s", rep.first_damage);
}

int main(void)
{
	make_tmpdir(dir, sizeof(dir), "server");
	write_all();
	check_read();
	check_records();
	check_rebuild();
	check_read();
	rm_rf(dir);
	return check_done("persist_server");
}
