/* tests/persist/msg_test.c: WebSocket message records (MSG, type 7) of an
 * upgraded exchange. Writes one exchange with a text message, a binary one
 * larger than a record (split), a fragmented one with a ping between its
 * pieces, a cut one, a close and a message whose LAST never came, then
 * reads them back byte-exact. Then crash safety: a second exchange's
 * messages are written into a frame that is torn off the end of the file;
 * recovery, the index and fsck must keep everything before it, and
 * seg_segment_check must count no damage but the torn tail.
 */
#include "tests/persist/gen.h"
#include "persist/query.h"

static struct seg_xch *begin(struct seg_writer *w, const char *url)
{
	static const char head[] = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
	struct seg_xch_begin b = {
		.start_ns = now_wall_ns(), .http_version = 11, .port = 80,
		.method = "GET", .method_len = 3, .host = "h", .host_len = 1,
		.url = url, .url_len = strlen(url), .req_head = head, .req_head_len = sizeof(head) - 1,
	};
	struct seg_xch *x;
	REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
	REQUIRE_RC(seg_xch_resp_head(w, x, 101, "Switching Protocols", 19,
				     "HTTP/1.1 101 Switching Protocols\r\n\r\n", 36, SEG_T_NONE));
	return x;
}

static void piece(struct seg_writer *w, struct seg_xch *x, uint8_t dir, uint8_t op,
		  uint8_t flags, uint64_t len, const void *p, size_t n)
{
	struct seg_msg_piece m = { .dir = dir, .opcode = op, .flags = flags, .start_ns = 42,
				   .len = len, .wire_len = len };
	REQUIRE_RC(seg_xch_msg(w, x, &m, p, n));
}

#define F SEG_MSG_F_FIRST
#define L SEG_MSG_F_LAST
#define BIG (SEG_CHUNK_MAX * 2u + 100u)

static void write_first(struct seg_writer *w, uint8_t *big)
{
	struct seg_xch *x = begin(w, "http://h/ws");
	piece(w, x, 0, 1, F | L, 5, "hello", 5);
	piece(w, x, 1, 2, F | L | SEG_MSG_F_DEFLATED, BIG, big, BIG);
	piece(w, x, 0, 1, F, 4, "frag", 4);
	piece(w, x, 0, 9, F | L, 2, "p1", 2);
	piece(w, x, 0, 1, L, 10, "mented", 6);
	piece(w, x, 1, 1, F | L | SEG_MSG_F_CUT, 1000, "only-this", 9);
	piece(w, x, 1, 8, F | L, 5, "\x03\xe8" "bye", 5);
	piece(w, x, 1, 2, F, 3, "abc", 3);   /* the tunnel ends before its LAST */
	struct seg_xch_end e = { .status = 101 };
	REQUIRE_RC(seg_xch_end(w, x, &e));
}

static void check_first(const char *dir, const struct seg_entry *en, const uint8_t *big)
{
	struct seg_exchange x;
	struct seg_open_opts o = { .body_max = { 1 << 20, 1 << 20 }, .msgs_max = 100 };
	REQUIRE_RC(seg_open_entry(dir, en, &o, &x));
	REQUIRE(x.nmsgs == 7);
	CHECK(!x.msgs_cut);
	const struct { uint8_t dir, op; bool cut; const char *data; size_t n; uint64_t len; } want[] = {
		{ 0, 1, false, "hello", 5, 5 },
		{ 1, 2, false, NULL, BIG, BIG },
		{ 0, 1, false, "fragmented", 10, 10 },
		{ 0, 9, false, "p1", 2, 2 },
		{ 1, 1, true, "only-this", 9, 1000 },
		{ 1, 8, false, "\x03\xe8" "bye", 5, 5 },
		{ 1, 2, true, "abc", 3, 3 },
	};
	for (size_t i = 0; i < 7; i++) {
		const struct seg_msg *m = &x.msgs[i];
		CHECK_MSG(m->dir == want[i].dir, "msg %zu dir %u", i, m->dir);
		CHECK_MSG(m->opcode == want[i].op, "msg %zu opcode %u", i, m->opcode);
		CHECK_MSG(m->cut == want[i].cut, "msg %zu cut %d", i, m->cut);
		CHECK_MSG(m->data_len == want[i].n, "msg %zu: %zu bytes", i, m->data_len);
		CHECK_MSG(m->len == want[i].len, "msg %zu len %llu", i, (unsigned long long)m->len);
		const void *d = want[i].data ? (const void *)want[i].data : (const void *)big;
		CHECK_MSG(m->data_len == want[i].n && memcmp(m->data, d, want[i].n) == 0,
			  "msg %zu payload", i);
		CHECK_EQ(m->start_ns, 42);
	}
	CHECK(x.msgs[1].deflated);
	CHECK(!x.msgs[0].deflated);
	seg_exchange_free(&x);
	/* a reader cap: bodies cut, messages beyond msgs_max counted */
	struct seg_open_opts small = { .body_max = { 3, 3 }, .msgs_max = 2 };
	REQUIRE_RC(seg_open_entry(dir, en, &small, &x));
	CHECK_EQ(x.nmsgs, 2);
	CHECK(x.msgs_cut);
	CHECK_EQ(x.msgs[0].data_len, 3);
	CHECK(x.msgs[0].cut);
	seg_exchange_free(&x);
	/* callers that ask for no messages get none */
	REQUIRE_RC(seg_open_entry(dir, en, NULL, &x));
	CHECK_EQ(x.nmsgs, 0);
	CHECK(x.msgs == NULL);
	seg_exchange_free(&x);
}

static int first_entry(void *ctx, const struct seg_entry *e)
{
	struct seg_entry *out = ctx;
	if (out->id == 0)
		*out = *e;
	return 0;
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "msg");
	uint8_t *big = malloc(BIG);
	REQUIRE(big != NULL);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 0 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	write_first(w, big);
	REQUIRE_RC(seg_writer_flush_sync(w));
	/* a second exchange whose frame will be torn */
	struct seg_xch *x = begin(w, "http://h/torn");
	piece(w, x, 0, 1, F | L, 4, "lost", 4);
	struct seg_xch_end e = { .status = 101 };
	REQUIRE_RC(seg_xch_end(w, x, &e));
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);

	char path[128];
	snprintf(path, sizeof(path), "%s/w000-00000001.seg", dir);
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_segment_check(path, &rep));
	CHECK_EQ(rep.frames_bad, 0);
	CHECK_EQ(rep.exchanges, 2);
	struct seg_entry en = { 0 };
	REQUIRE_RC(seg_index_scan(dir, first_entry, &en, NULL));
	REQUIRE(en.id != 0);
	check_first(dir, &en, big);

	/* tear the last frame: cut 10 bytes off the .seg and drop the index */
	struct stat sb;
	REQUIRE(stat(path, &sb) == 0);
	REQUIRE(truncate(path, sb.st_size - 10) == 0);
	snprintf(path, sizeof(path), "%s/w000-00000001.idx", dir);
	REQUIRE(unlink(path) == 0);
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_recover(dir, &rep));
	struct seg_table t = {0};
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK_EQ(t.n, 1);   /* the torn exchange is gone, the first one is whole */
	if (t.n == 1)
		check_first(dir, &t.rows[0].e, big);
	seg_table_free(&t);
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_fsck(dir, true, &rep));
	CHECK(rep.torn_bytes > 0);
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_fsck(dir, false, &rep));
	CHECK_MSG(!seg_report_damaged(&rep), "after repair: %s", rep.first_damage);
	memset(&en, 0, sizeof(en));
	REQUIRE_RC(seg_index_scan(dir, first_entry, &en, NULL));
	check_first(dir, &en, big);
	free(big);
	rm_rf(dir);
	return check_done("persist_msg");
}
