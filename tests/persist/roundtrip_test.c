/* tests/persist/roundtrip_test.c: many interleaved exchanges written
 * through the I/O-agnostic writer (also with short writes), read back and
 * compared field by field and byte by byte; bodies across many frames;
 * body cap and truncation flags; "save responses" off; media bodies; flush
 * by tick; a reopened writer continuing ids in a new segment.
 */
#include "tests/persist/gen.h"
#include "persist/query.h"

static void write_session(const char *dir, uint64_t seed, uint64_t n, struct seg_writer_cfg *cfg,
			  uint32_t max_open, bool short_writes, struct drive *d)
{
	struct seg_writer *w;
	cfg->session_dir = dir;
	REQUIRE_RC(seg_writer_open(cfg, now_wall_ns(), &w));
	drive_init(d, seed, n, 50, max_open, 70000);
	d->short_writes = short_writes;
	drive_run(d, w, n);
	REQUIRE_RC(seg_writer_flush_sync(w));
	struct seg_writer_stats st;
	seg_writer_get_stats(w, &st);
	CHECK(st.exchanges == n && st.refused == 0);
	fprintf(stderr, "  %llu exchanges, %llu frames, raw %llu B, disk %llu B (ratio %.2f)\n",
		(unsigned long long)st.exchanges, (unsigned long long)st.frames,
		(unsigned long long)st.bytes_raw, (unsigned long long)st.bytes_disk,
		(double)st.bytes_raw / (double)(st.bytes_disk ? st.bytes_disk : 1));
	seg_writer_close(w);
}

static void verify_all(const char *dir, struct drive *d, uint64_t n, uint64_t body_max, bool save)
{
	for (uint64_t k = 0; k < n; k++) {
		CHECK(d->ids[k] != 0);
		verify_exchange(dir, d->ids[k], d->seed, k, d->big_every, body_max, save);
	}
	struct seg_table t;
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_table_load(dir, &t, &rep));
	CHECK(t.n == n && rep.entries_bad == 0 && rep.strings_bad == 0);
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_qrow *r = &t.rows[i];
		uint64_t seq = r->e.id & ((1ull << SEG_ID_WORKER_SHIFT) - 1);
		struct gen_x g;
		gen_exchange(d->seed, seq - 1, d->big_every, &g); /* worker 0: id = k + 1 */
		CHECK(r->e.id == d->ids[seq - 1]);
		CHECK(r->e.url_len == strlen(g.url) && !memcmp(r->url, g.url, r->e.url_len));
		CHECK(r->e.host_len == strlen(g.host) && !memcmp(r->host, g.host, r->e.host_len));
		CHECK(r->e.status == g.status && r->e.start_ns == g.start_ns);
		CHECK(r->e.duration_ns == g.t.total_ns);
		CHECK(r->e.resp_size == g.resp_head_len + g.body_len[1]);
		CHECK(r->e.req_size == g.req_head_len + g.body_len[0]);
	}
	seg_table_free(&t);
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	char dir[64];
	struct drive d;

	fprintf(stderr, "interleaved, default frames, big bodies:\n");
	make_tmpdir(dir, sizeof(dir), "rt1");
	struct seg_writer_cfg c1 = { .save_responses = true };
	write_session(dir, 11, 2000, &c1, 64, false, &d);
	verify_all(dir, &d, 2000, SEG_BODY_MAX_DEFAULT, true);
	drive_free(&d);
	rm_rf(dir);

	fprintf(stderr, "small frames, short writes, body cap 10000:\n");
	make_tmpdir(dir, sizeof(dir), "rt2");
	struct seg_writer_cfg c2 = { .save_responses = true, .frame_bytes = SEG_FRAME_BYTES_MIN,
				     .body_max = 10000 };
	write_session(dir, 12, 600, &c2, 200, true, &d);
	verify_all(dir, &d, 600, 10000, true);
	drive_free(&d);

	/* A reopened writer continues after the last id, in a new segment. */
	struct seg_writer *w;
	c2.session_dir = dir;
	REQUIRE_RC(seg_writer_open(&c2, now_wall_ns(), &w));
	struct seg_xch *x;
	uint64_t id;
	struct seg_xch_begin b = { .method = "GET", .method_len = 3, .host = "h", .host_len = 1,
				   .url = "http://h/", .url_len = 9 };
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	CHECK(id == 601);
	struct seg_xch_end e = { .status = 204 };
	REQUIRE_RC(seg_xch_end(w, x, &e));
	REQUIRE_RC(seg_writer_flush_sync(w));
	struct seg_writer_stats st;
	seg_writer_get_stats(w, &st);
	seg_writer_close(w);
	struct seg_exchange ex;
	REQUIRE_RC(seg_open_id(dir, 601, NULL, &ex));
	CHECK(ex.status == 204 && !strcmp(ex.url, "http://h/") && ex.complete);
	seg_exchange_free(&ex);
	struct seg_entry en;
	REQUIRE_RC(seg_find(dir, 601, &en));
	REQUIRE(en.segno >= 2);
	CHECK(seg_find(dir, 602, &en) == -ENOENT);
	rm_rf(dir);

	/* An exchange that outlives thousands of others sits far from its id's
	 * place in the index: seg_find's window misses it and the full scan
	 * must still find it. */
	fprintf(stderr, "long-lived exchange found by id:\n");
	make_tmpdir(dir, sizeof(dir), "rt5");
	struct seg_writer_cfg c5 = { .session_dir = dir };
	REQUIRE_RC(seg_writer_open(&c5, now_wall_ns(), &w));
	struct seg_xch *lx;
	uint64_t lid;
	REQUIRE_RC(seg_xch_begin(w, &b, &lx, &lid));
	for (int i = 0; i < 3000; i++) {
		REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
		REQUIRE_RC(seg_xch_end(w, x, &e));
		writer_pump(w, false);
	}
	struct seg_xch_end le = { .status = 299 };
	REQUIRE_RC(seg_xch_end(w, lx, &le));
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	REQUIRE_RC(seg_find(dir, lid, &en));
	CHECK(en.status == 299 && en.id == 1);
	REQUIRE_RC(seg_find(dir, 1500, &en));
	CHECK(en.id == 1500 && en.status == 204);
	rm_rf(dir);

	fprintf(stderr, "save responses off:\n");
	make_tmpdir(dir, sizeof(dir), "rt3");
	struct seg_writer_cfg c3 = { .save_responses = false };
	write_session(dir, 13, 300, &c3, 16, false, &d);
	verify_all(dir, &d, 300, SEG_BODY_MAX_DEFAULT, false);
	drive_free(&d);
	rm_rf(dir);

	fprintf(stderr, "flush by tick:\n");
	make_tmpdir(dir, sizeof(dir), "rt4");
	struct seg_writer_cfg c4 = { .session_dir = dir, .flush_ns = 250000000ull };
	uint64_t t0 = 1000000000000ull;
	REQUIRE_RC(seg_writer_open(&c4, t0, &w));
	REQUIRE_RC(seg_writer_tick(w, t0));
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	REQUIRE_RC(seg_xch_end(w, x, &e));
	CHECK(seg_writer_next_io(w) == NULL); /* not flushed yet */
	REQUIRE_RC(seg_writer_tick(w, t0 + 100000000ull));
	CHECK(seg_writer_next_io(w) == NULL);
	REQUIRE_RC(seg_writer_tick(w, t0 + 250000000ull));
	const struct seg_io *io = seg_writer_next_io(w);
	REQUIRE(io != NULL && !io->fsync && io->off == SEG_FILE_HDR_SIZE);
	CHECK(seg_writer_next_io(w) == NULL); /* one at a time */
	seg_writer_io_done(w, (int)pwrite(io->fd, io->buf, io->len, (off_t)io->off));
	writer_pump(w, false);
	CHECK(!seg_writer_busy(w));
	REQUIRE_RC(seg_open_id(dir, 1, NULL, &ex));
	seg_exchange_free(&ex);
	/* A failed write fails the writer for good and is reported. */
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	REQUIRE_RC(seg_writer_seal(w));
	io = seg_writer_next_io(w);
	REQUIRE(io != NULL);
	seg_writer_io_done(w, -ENOSPC);
	writer_pump(w, false);
	CHECK(seg_xch_end(w, x, &e) == -EIO);
	CHECK(seg_xch_begin(w, &b, &x, &id) == -EIO);
	CHECK(seg_writer_flush_sync(w) == -ENOSPC);
	seg_writer_close(w);
	rm_rf(dir);
	return check_done("persist_roundtrip");
}
