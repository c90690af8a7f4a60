/* tests/persist/strtext_test.c: the .str text without a second copy of
 * the host (SEG_F_HOST_IN_URL, persist/strtext.c). Checks the authority
 * rule on its own (the host is the authority or its part before ":port",
 * byte for byte: not a relative URL, a CONNECT host:port, another case, a
 * longer or shorter name, userinfo), then on real files:
 * rows written with and without the bit (one begun in segment 1 and ended
 * in segment 2) list with their host, URL, number and client name, the
 * .str holds exactly the bytes expected, opening gives host and URL and
 * no layout flag, seg_find_number finds the spanning row, fsck finds no
 * damage, a partial rebuild of segment 2 (its spanning entry from its
 * END record alone) and fsck --repair of both segments give back the .idx
 * and .str files byte for byte, and a flipped URL byte is damage.
 */
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/reader-int.h"

struct row {
	const char *host, *url, *name;
	uint32_t number;
	bool in_url;
};

static const struct row rows[] = {
	{ "127.0.0.1:8080", "http://127.0.0.1:8080/100b", "", 1, true },
	{ "Example.com", "http://example.com/x", "", 2, false },   /* another case */
	{ "h.test:443", "h.test:443", "", 3, false },               /* CONNECT */
	{ "h.test", "/rel?x=1", "phone", 4, false },                /* relative */
	{ "a.test", "https://a.test?q=1", "dev-a", 5, true },
	{ "a.test", "https://a.test", "", 0, true },                /* no extension */
	{ "a.tes", "https://a.test/", "", 0, false },               /* host shorter */
	{ "127.0.0.1", "http://127.0.0.1:41219/100b", "", 0, true }, /* the engine's host */
	{ "a.test", "https://a.test:8443?q", "", 6, true },         /* before the port */
	{ "a.test", "https://a.test@b.test/", "", 0, false },       /* userinfo */
	{ "a.test", "https://a.test.b/", "", 0, false },            /* a longer name */
	{ "a.test.x", "https://a.test/y", "", 0, false },           /* host longer */
	{ "", "http:///x", "", 0, false },                          /* no host */
	{ "b.test", "http://b.test/span", "lab", 9, true },         /* spans a rotation */
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))
#define SPAN_ROW (NROWS - 1)

static char dir[64];

static void test_rule(void)
{
	size_t off = 0, len = 0;
	CHECK(seg_url_authority("http://h/x", 10, &off, &len) && off == 7 && len == 1);
	CHECK(seg_url_authority("wss://h:1?x", 11, &off, &len) && off == 6 && len == 3);
	CHECK(seg_url_authority("h://", 4, &off, &len) && off == 4 && len == 0);
	CHECK(!seg_url_authority("/x://y", 6, &off, &len));
	CHECK(!seg_url_authority("1a://y", 6, &off, &len));
	CHECK(!seg_url_authority("http:/y", 7, &off, &len));
	CHECK(!seg_url_authority("abcdefghijklmnopq://y", 21, &off, &len)); /* scheme too long */
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		struct seg_str_text t = { .host = r->host, .host_len = (uint32_t)strlen(r->host),
					  .url = r->url, .url_len = (uint32_t)strlen(r->url) };
		CHECK_EQ(!!(seg_str_flags(&t) & SEG_F_HOST_IN_URL), r->in_url);
	}
}

/* The RCAPIDX2 extension's session number (a varint) and the RCAPIDX1
 * one (4 bytes) through encode and view, at the varint's byte boundaries;
 * a text cut anywhere asks for more, an overlong varint is damage. */
static void test_ext(void)
{
	static const uint32_t nums[] = { 1, 127, 128, 16383, 16384, 2097151, 2097152,
					 268435455, 268435456, UINT32_MAX };
	static const uint32_t lens[] = { 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 };
	uint8_t buf[64], v6[16] = { 0x20, 1, [15] = 7 };
	for (uint8_t ver = SEG_IDX_V1; ver <= SEG_IDX_V2; ver++) {
		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			struct seg_str_text t = { .url = "http://h/", .url_len = 9, .host = "h",
						  .host_len = 1, .number = nums[i],
						  .client_name = "ab", .client_name_len = 2,
						  .client_v6 = i % 2 ? v6 : NULL, .ver = ver };
			uint32_t f = seg_str_flags(&t), n = seg_str_encode(buf, &t, f);
			uint32_t num_len = ver == SEG_IDX_V2 ? 1 + lens[i] : 5;
			CHECK_EQ(n, 9 + num_len + 2 + (i % 2 ? 16u : 0u));
			struct seg_entry e = { .flags = f, .host_len = 1, .url_len = 9,
					       .str_crc = seg_crc32c(0, buf, n), .idx_version = ver };
			struct seg_str_view v;
			REQUIRE_RC(seg_str_view(&e, buf, n, &v));
			CHECK_EQ(v.number, nums[i]);
			CHECK(v.client_name_len == 2 && !memcmp(v.client_name, "ab", 2));
			CHECK((v.client_v6 != NULL) == (i % 2 == 1));
			CHECK(v.host && v.host[0] == 'h' && v.len == n);
			for (uint32_t cut = 0; cut < n; cut++)
				CHECK_EQ(seg_str_view(&e, buf, cut, &v), -EAGAIN);
		}
	}
	/* six varint bytes, or one past 32 bits: damage, whatever the crc */
	uint8_t bad[] = { 'h', ':', '/', '/', 'h', 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	struct seg_entry e = { .flags = SEG_F_STR_EXT, .url_len = 5, .idx_version = SEG_IDX_V2,
			       .str_crc = seg_crc32c(0, bad, sizeof(bad)) };
	struct seg_str_view v;
	CHECK_EQ(seg_str_view(&e, bad, sizeof(bad), &v), -EBADMSG);
	uint8_t big[] = { 'h', ':', '/', '/', 'h', 0, 0xff, 0xff, 0xff, 0xff, 0x1f };
	e.str_crc = seg_crc32c(0, big, sizeof(big));
	CHECK_EQ(seg_str_view(&e, big, sizeof(big), &v), -EBADMSG);
}

static struct seg_xch_begin begin_of(size_t i)
{
	const struct row *r = &rows[i];
	return (struct seg_xch_begin){
		.start_ns = 1000 + i, .method = "GET", .method_len = 3, .host = r->host,
		.host_len = strlen(r->host), .url = r->url, .url_len = strlen(r->url),
		.req_head = "GET / HTTP/1.1\r\n\r\n", .req_head_len = 18,
		.client_name = r->name, .client_name_len = strlen(r->name), .number = r->number,
	};
}

/* Rows 0..NROWS-2 and the beginning of the last in segment 1, its end in
 * segment 2. Returns the .str bytes expected of segment 1. */
static size_t write_all(void)
{
	uint64_t t0 = 2000000000000000000ull, sec = 1000000000ull;
	struct seg_writer_cfg c = { .session_dir = dir, .rotate_ns = 10 * sec };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, t0, &w));
	struct seg_xch_end e = { .status = 200 };
	struct seg_xch *span;
	struct seg_xch_begin sb = begin_of(SPAN_ROW);
	REQUIRE_RC(seg_xch_begin(w, &sb, &span, NULL));
	size_t want = 0;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		want += (r->in_url ? 0 : strlen(r->host)) + strlen(r->url);
		if (r->number || r->name[0]) /* RCAPIDX2's extension: length, varint */
			want += 1 + (r->number < 128 ? 1 : 2) + strlen(r->name);
		if (i == SPAN_ROW)
			break;
		struct seg_xch_begin b = begin_of(i);
		struct seg_xch *x;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
		REQUIRE_RC(seg_xch_end(w, x, &e));
	}
	REQUIRE_RC(seg_writer_tick(w, t0 + 5 * sec));
	writer_pump(w, false);
	REQUIRE_RC(seg_writer_tick(w, t0 + 13 * sec)); /* rotate by age */
	writer_pump(w, false);
	REQUIRE_RC(seg_xch_end(w, span, &e));
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	return want;
}

static const struct row *row_of(const struct seg_qrow *q)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strlen(rows[i].url) == q->e.url_len && !memcmp(rows[i].url, q->url, q->e.url_len))
			return &rows[i];
	return NULL;
}

/* Every row listed with its texts; returns the rows with bad strings. */
static uint64_t check_table(void)
{
	struct seg_table t = { 0 };
	struct seg_report rep = { .strict = true };
	REQUIRE_RC(seg_table_load(dir, &t, &rep));
	CHECK_EQ(t.n, NROWS - (rep.strings_bad ? 1 : 0));
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_qrow *q = &t.rows[i];
		const struct row *r = row_of(q);
		if (r == NULL) {
			CHECK(q->e.url_len == 0); /* the damaged one */
			continue;
		}
		CHECK_EQ(q->e.host_len, strlen(r->host));
		CHECK(!memcmp(q->host, r->host, q->e.host_len));
		CHECK_EQ(!!(q->e.flags & SEG_F_HOST_IN_URL), r->in_url);
		CHECK_EQ(q->number, r->number);
		CHECK_EQ(q->client_name_len, strlen(r->name));
		CHECK(!memcmp(q->client_name, r->name, q->client_name_len));
		CHECK_EQ(q->e.span, r == &rows[SPAN_ROW] ? 1 : 0);
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &q->e, NULL, &x));
		CHECK_STR(x.host, r->host);
		CHECK_STR(x.url, r->url);
		CHECK((x.flags & SEG_F_LAYOUT) == 0);
		seg_exchange_free(&x);
	}
	uint64_t bad = rep.strings_bad;
	seg_table_free(&t);
	return bad;
}

static uint8_t *slurp(uint32_t segno, enum seg_kind k, size_t *len)
{
	char p[128];
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, segno, k));
	return gen_slurp(p, len);
}

/* The .idx and .str files of both segments equal what was kept. */
static void check_same(uint8_t *kept[2][2], size_t lens[2][2])
{
	for (uint32_t s = 1; s <= 2; s++)
		for (int k = 0; k < 2; k++) {
			size_t l;
			uint8_t *b = slurp(s, k ? SEG_K_STR : SEG_K_IDX, &l);
			CHECK_EQ(l, lens[s - 1][k]);
			CHECK(l == lens[s - 1][k] && !memcmp(b, kept[s - 1][k], l));
			free(b);
		}
}

static void test_files(void)
{
	make_tmpdir(dir, sizeof(dir), "strtext");
	size_t want = write_all();
	uint8_t *kept[2][2];
	size_t lens[2][2];
	for (uint32_t s = 1; s <= 2; s++)
		for (int k = 0; k < 2; k++)
			kept[s - 1][k] = slurp(s, k ? SEG_K_STR : SEG_K_IDX, &lens[s - 1][k]);
	CHECK_EQ(lens[0][1], SEG_FILE_HDR_SIZE + want);   /* one host less per in_url row */
	CHECK_EQ(lens[1][1], SEG_FILE_HDR_SIZE);          /* the span row's text is in 1 */
	CHECK_EQ(check_table(), 0);
	struct seg_entry e;
	REQUIRE_RC(seg_find_number(dir, rows[SPAN_ROW].number, &e));
	CHECK(e.segno == 2 && e.span == 1 && (e.flags & SEG_F_HOST_IN_URL));
	struct seg_report rep = { .strict = true };
	REQUIRE_RC(seg_fsck(dir, false, &rep));
	CHECK(!seg_report_damaged(&rep));

	/* segment 2 alone: its entry comes from the END record */
	char p[128];
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, 2, SEG_K_IDX));
	REQUIRE(unlink(p) == 0);
	struct seg_report rr = { 0 };
	REQUIRE_RC(seg_index_rebuild(dir, 0, 2, &rr));
	check_same(kept, lens);
	for (uint32_t s = 1; s <= 2; s++)
		for (int k = SEG_K_IDX; k <= SEG_K_STR; k++) {
			REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, s, (enum seg_kind)k));
			REQUIRE(truncate(p, SEG_FILE_HDR_SIZE + 3) == 0);
		}
	struct seg_report fr = { .strict = true };
	REQUIRE_RC(seg_fsck(dir, true, &fr));
	check_same(kept, lens);
	CHECK_EQ(check_table(), 0);

	/* a URL byte flipped in the .str: that row's strings are bad */
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, 1, SEG_K_STR));
	FILE *f = fopen(p, "r+b");
	REQUIRE(f);
	fseek(f, SEG_FILE_HDR_SIZE + 10, SEEK_SET); /* inside row 0's URL */
	fputc('#', f);
	fclose(f);
	CHECK_EQ(check_table(), 0); /* read back from the frames instead */
	struct seg_report dr = { .strict = true };
	REQUIRE_RC(seg_fsck(dir, false, &dr));
	CHECK_EQ(dr.strings_bad, 1);
	for (uint32_t s = 1; s <= 2; s++)
		for (int k = 0; k < 2; k++)
			free(kept[s - 1][k]);
	rm_rf(dir);
}

int main(void)
{
	test_rule();
	test_ext();
	test_files();
	return check_done("persist_strtext");
}
