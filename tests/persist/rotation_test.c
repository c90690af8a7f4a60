/* tests/persist/rotation_test.c: rotation by size (two workers in one
 * session, an exchange open across several rotations) and by age; index
 * rebuild and tail recovery over many segments equal the written files;
 * retention by total size removes the oldest segments of stopped and
 * interrupted sessions only, and says so in its log lines.
 */
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/ses.h"

#define LONG_K 999999u

/* Compares every .idx and .str of worker w with the saved copies. */
static void snapshot(const char *dir, uint16_t w, uint32_t nseg, uint8_t **bufs, size_t *lens,
		     bool compare)
{
	for (uint32_t s = 1; s <= nseg; s++) {
		for (int k = 0; k < 2; k++) {
			char p[160];
			snprintf(p, sizeof(p), "%s/w%03u-%08u.%s", dir, w, s, k ? "str" : "idx");
			size_t len;
			uint8_t *b = gen_slurp(p, &len);
			size_t i = (s - 1) * 2 + (size_t)k;
			if (!compare) {
				bufs[i] = b;
				lens[i] = len;
				continue;
			}
			if (len != lens[i] || memcmp(b, bufs[i], len)) {
				size_t o = 0;
				while (o < len && o < lens[i] && b[o] == bufs[i][o])
					o++;
				fprintf(stderr, "%s differs: len %zu vs %zu, first at %zu\n", p, len, lens[i], o);
				exit(1);
			}
			free(b);
		}
	}
}

static void long_exchange(struct seg_writer *w, struct seg_xch **x, uint64_t *id, int phase)
{
	static uint8_t buf[20000];
	if (phase == 0) {
		struct seg_xch_begin b = { .method = "POST", .method_len = 4, .host = "up.example",
					   .host_len = 10, .url = "https://up.example/upload",
					   .url_len = 25, .start_ns = 5 };
		REQUIRE_RC(seg_xch_begin(w, &b, x, id));
		return;
	}
	for (int i = 0; i < 3; i++) {
		gen_body(7, LONG_K, 0, (uint64_t)(phase - 1) * 60000 + (uint64_t)i * 20000, buf, sizeof(buf));
		REQUIRE_RC(seg_xch_body(w, *x, SEG_DIR_REQ, buf, sizeof(buf)));
	}
	if (phase == 3) {
		struct seg_xch_end e = { .status = 201, .t = { .total_ns = 99 } };
		REQUIRE_RC(seg_xch_resp_head(w, *x, 201, "Created", 7, "HTTP/1.1 201 Created\r\n\r\n", 24,
					   SEG_T_NONE));
		REQUIRE_RC(seg_xch_end(w, *x, &e));
	}
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
static void test_size_rotation(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "rot");
	struct seg_writer *w[2];
	struct drive d[2];
	for (int i = 0; i < 2; i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)(i * 5),
					    .save_responses = true, .frame_bytes = SEG_FRAME_BYTES_MIN,
					    .rotate_bytes = 64 * 1024 };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w[i]));
		drive_init(&d[i], 100 + (uint64_t)i, 400, 30, 12, 9000);
	}
	struct seg_xch *lx;
	uint64_t lid;
	long_exchange(w[0], &lx, &lid, 0);
	for (int phase = 1; phase <= 3; phase++) {
		for (int i = 0; i < 2; i++) {
			drive_run(&d[i], w[i], 400u * (unsigned)phase / 3);
			if (i == 0)
				long_exchange(w[0], &lx, &lid, phase);
			writer_pump(w[i], false);
		}
	}
	struct seg_writer_stats st[2];
	for (int i = 0; i < 2; i++) {
		REQUIRE_RC(seg_writer_flush_sync(w[i]));
		seg_writer_get_stats(w[i], &st[i]);
		seg_writer_close(w[i]);
		REQUIRE(st[i].segments >= 5);
		for (uint64_t k = 0; k < 400; k++)
			verify_exchange(dir, d[i].ids[k], d[i].seed, k, 30, SEG_BODY_MAX_DEFAULT, true);
	}
	REQUIRE(d[1].ids[0] == (5ull << SEG_ID_WORKER_SHIFT | 1));
	struct seg_entry e;
	REQUIRE_RC(seg_find(dir, lid, &e));
	REQUIRE(e.span >= 2);
	struct seg_exchange x;
	struct seg_open_opts o = { .body_max = { 1 << 20, 1 << 20 } };
	REQUIRE_RC(seg_open_entry(dir, &e, &o, &x));
	CHECK(x.body_len[0] == 180000 && x.status == 201 && !strcmp(x.reason, "Created"));
	uint8_t *exp = malloc(180000);
	REQUIRE(exp);
	gen_body(7, LONG_K, 0, 0, exp, 180000);
	CHECK(!memcmp(exp, x.body[0], 180000));
	free(exp);
	seg_exchange_free(&x);
	fprintf(stderr, "  %llu + %llu segments; exchange %llu spans %u segments\n",
		(unsigned long long)st[0].segments, (unsigned long long)st[1].segments,
		(unsigned long long)lid, (unsigned)e.span + 1);

	uint32_t nseg = (uint32_t)st[0].segments;
	uint8_t **bufs = calloc(2 * nseg, sizeof(*bufs));
	size_t *lens = calloc(2 * nseg, sizeof(*lens));
	REQUIRE(bufs && lens);
	snapshot(dir, 0, nseg, bufs, lens, false);
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_index_rebuild(dir, 0, 0, &rep));
	CHECK(rep.indexes_rebuilt == nseg && rep.incomplete == 0);
	snapshot(dir, 0, nseg, bufs, lens, true);
	REQUIRE_RC(seg_recover(dir, &rep));
	snapshot(dir, 0, nseg, bufs, lens, true);
	for (size_t i = 0; i < 2 * nseg; i++)
		free(bufs[i]);
	free(bufs);
	free(lens);
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK(t.n == 801);
	seg_table_free(&t);
	for (int i = 0; i < 2; i++)
		drive_free(&d[i]);
	rm_rf(dir);
}

static void test_age_rotation(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "age");
	struct seg_writer *w;
	uint64_t t0 = 2000000000000000000ull, sec = 1000000000ull;
	struct seg_writer_cfg c = { .session_dir = dir, .rotate_ns = 10 * sec };
	REQUIRE_RC(seg_writer_open(&c, t0, &w));
	struct seg_xch *x;
	uint64_t id;
	struct seg_xch_begin b = { .method = "GET", .method_len = 3, .host = "a", .host_len = 1,
				   .url = "http://a/", .url_len = 9 };
	struct seg_xch_end e = { .status = 200 };
	REQUIRE_RC(seg_writer_tick(w, t0 + 11 * sec)); /* empty segment: no rotation */
	for (int i = 0; i < 3; i++) {
		REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
		REQUIRE_RC(seg_xch_end(w, x, &e));
		REQUIRE_RC(seg_writer_tick(w, t0 + (uint64_t)(12 + 20 * i) * sec)); /* flush */
		REQUIRE_RC(seg_writer_tick(w, t0 + (uint64_t)(13 + 20 * i) * sec)); /* rotate */
		writer_pump(w, false);
	}
	struct seg_writer_stats st;
	seg_writer_get_stats(w, &st);
	seg_writer_close(w);
	CHECK(st.segments == 4); /* one per exchange, plus the empty current one */
	struct seg_entry en;
	REQUIRE_RC(seg_find(dir, 3, &en));
	CHECK(en.segno == 3);
	rm_rf(dir);
}

/* A rotation opens nothing itself: it hands its three opens to the owner
 * (the worker's ring, here this pump) as seg_io with a path, after the old
 * files' fsyncs; writes to the new files are queued behind the opens and
 * bound to the fds the opens returned. A failed open fails the writer. */
static void test_rotation_open_by_owner(void)
{
	char dir[64], path[128];
	make_tmpdir(dir, sizeof(dir), "ropen");
	struct seg_writer *w;
	uint64_t t0 = 2000000000000000000ull, sec = 1000000000ull;
	struct seg_writer_cfg c = { .session_dir = dir, .rotate_ns = 10 * sec };
	REQUIRE_RC(seg_writer_open(&c, t0, &w));
	struct seg_xch *x;
	uint64_t id;
	struct seg_xch_begin b = { .method = "GET", .method_len = 3, .host = "a", .host_len = 1,
				   .url = "http://a/", .url_len = 9 };
	struct seg_xch_end e = { .status = 200 };
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	REQUIRE_RC(seg_xch_end(w, x, &e));
	REQUIRE_RC(seg_writer_tick(w, t0 + 5 * sec)); /* flush, segment 1 young */
	writer_pump(w, false);
	REQUIRE_RC(seg_writer_tick(w, t0 + 13 * sec)); /* rotate by age */
	snprintf(path, sizeof(path), "%s/w000-00000002.seg", dir);
	CHECK(access(path, F_OK) < 0); /* not opened by the writer */
	/* An exchange ended while the opens are queued goes to the new files. */
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	REQUIRE_RC(seg_xch_end(w, x, &e));
	REQUIRE_RC(seg_writer_seal(w));
	unsigned fsyncs = 0, opens = 0, before_open = 0;
	const struct seg_io *io;
	for (int guard = 0; guard < 100 && (io = seg_writer_next_io(w)) != NULL; guard++) {
		if (io->path) {
			CHECK(fsyncs == 3); /* the old files are synced first */
			CHECK(strstr(io->path, "w000-00000002.") != NULL);
			opens++;
		} else if (io->fsync) {
			fsyncs++;
		} else if (opens < 3) {
			before_open++;
		}
		seg_writer_io_done(w, seg_io_sync(io));
	}
	CHECK(opens == 3);
	CHECK(before_open == 0);
	CHECK(access(path, F_OK) == 0);
	struct seg_entry en;
	REQUIRE_RC(seg_find(dir, id, &en));
	CHECK(en.segno == 2);
	struct seg_exchange ex;
	REQUIRE_RC(seg_open_id(dir, id, NULL, &ex));
	seg_exchange_free(&ex);
	/* The next rotation's open fails (its file is in the way): the writer
	 * fails for good and reports it, nothing is written past it. */
	REQUIRE_RC(seg_writer_tick(w, t0 + 30 * sec)); /* rotate to segment 3 */
	int rc = 0;
	for (int guard = 0; guard < 100 && (io = seg_writer_next_io(w)) != NULL; guard++) {
		int r = io->path ? -EACCES : seg_io_sync(io);
		if (io->path && rc == 0)
			rc = r;
		seg_writer_io_done(w, r);
	}
	CHECK(rc == -EACCES);
	CHECK(seg_xch_begin(w, &b, &x, &id) == -EIO);
	CHECK(seg_writer_flush_sync(w) == -EACCES);
	seg_writer_close(w);
	rm_rf(dir);
}

static void log_line(void *ctx, const char *line)
{
	int *n = ctx;
	(*n)++;
	fprintf(stderr, "  log: %s\n", line);
}

static void fill_session(const char *data, const char *name, enum ses_state s, char *id_out)
{
	struct ses_settings set = { .save_responses = true };
	struct ses_meta m;
	REQUIRE_RC(ses_create(data, name, &set, now_wall_ns(), &m));
	char dir[256];
	REQUIRE_RC(ses_dir(dir, sizeof(dir), data, m.id));
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .save_responses = true,
				    .rotate_bytes = 16 * 1024, .frame_bytes = SEG_FRAME_BYTES_MIN };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct drive d;
	drive_init(&d, 5, 100, 0, 4, 4000);
	drive_run(&d, w, 100);
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	drive_free(&d);
	REQUIRE_RC(ses_set_state(data, m.id, s, now_wall_ns()));
	strcpy(id_out, m.id);
	struct timespec ts = { 0, 3000000 }; /* distinct ids by millisecond */
	nanosleep(&ts, NULL);
}

static void test_retention(void)
{
	char data[64], ids[3][16];
	make_tmpdir(data, sizeof(data), "ret");
	fill_session(data, "old-stopped", SES_STOPPED, ids[0]);
	fill_session(data, "interrupted", SES_INTERRUPTED, ids[1]);
	fill_session(data, "live", SES_ACTIVE, ids[2]);
	struct ses_stats st[3];
	uint64_t seg_total = 0;
	for (int i = 0; i < 3; i++) {
		REQUIRE_RC(ses_stats(data, ids[i], &st[i]));
		REQUIRE(st[i].segments >= 3 && st[i].exchanges == 100);
		seg_total += st[i].bytes;
		/* Retention weighs segment files only: not the two metadata copies. */
		const char *meta[2] = { SES_META_FILE, SES_META_PREV_FILE };
		for (int k = 0; k < 2; k++) {
			char mp[256];
			struct stat sb;
			snprintf(mp, sizeof(mp), "%s/%s/%s", data, ids[i], meta[k]);
			if (stat(mp, &sb) == 0)
				seg_total -= (uint64_t)sb.st_size;
		}
	}
	int lines = 0;
	/* Below the limit: nothing happens. */
	CHECK(seg_retention(data, seg_total, log_line, &lines) == 0 && lines == 0);
	/* Just under: the first segment of the oldest stopped session goes. */
	int64_t freed = seg_retention(data, seg_total - 1000, log_line, &lines);
	REQUIRE(freed > 0 && lines == 1);
	struct ses_stats a;
	REQUIRE_RC(ses_stats(data, ids[0], &a));
	CHECK(a.segments == st[0].segments - 1);
	char p[256];
	snprintf(p, sizeof(p), "%s/%s/w000-00000001.seg", data, ids[0]);
	CHECK(access(p, F_OK) != 0);
	/* Limit 0: every stopped/interrupted segment goes, the live one stays. */
	lines = 0;
	freed = seg_retention(data, 0, log_line, &lines);
	REQUIRE(freed > 0);
	CHECK((uint32_t)lines == a.segments + st[1].segments + 1);
	struct ses_stats b, c;
	REQUIRE_RC(ses_stats(data, ids[1], &b));
	REQUIRE_RC(ses_stats(data, ids[2], &c));
	CHECK(b.segments == 0 && c.segments == st[2].segments && c.exchanges == 100);
	rm_rf(data);
}

int main(void)
{
	fprintf(stderr, "size rotation:\n");
	test_size_rotation();
	fprintf(stderr, "age rotation\n");
	test_age_rotation();
	fprintf(stderr, "rotation's open by the owner\n");
	test_rotation_open_by_owner();
	fprintf(stderr, "retention:\n");
	test_retention();
	return check_done("persist_rotation");
}
