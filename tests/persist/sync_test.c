/* tests/persist/sync_test.c: group commit of the segment writer
 * (seg_writer_cfg.sync, `ringcap run --sync`).
 *
 * - without sync nothing changes: no fsync is ever queued for ended
 *   exchanges, seg_writer_busy() falls to false once the writes landed;
 * - with sync, an ended exchange is not durable until the fdatasync queued
 *   behind its frame's writes completed; that fsync is on the segment file
 *   (the first commit also fsyncs the session directory), and after it the
 *   exchange is listed from the files alone;
 * - exchanges ended while a commit is in flight are not covered by it: the
 *   next commit covers all of them with one fsync;
 * - a rotation between commits: the commit's fsync goes to the new segment,
 *   the old one is fsync'd by the rotation, and the directory is fsync'd
 *   again (its new entries);
 * - a failed write makes every mark "durable" (it never will be: the owner
 *   must not wait) and leaves nothing busy.
 */
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"

struct tally {
	unsigned writes, fsync_seg, fsync_dir, fsync_other, opens;
};

static bool is_dir_fd(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The open .seg of the writer has the highest number: fsyncs of a regular
 * file are counted as segment fsyncs when the file is a .seg. */
static bool is_seg_fd(int fd)
{
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 4)
		return false;
	path[n] = '\0';
	return strcmp(path + n - 4, ".seg") == 0;
}

/* Performs one io like the engine's ring; counts what it was. */
static int perform(const struct seg_io *io, struct tally *t)
{
	if (io->path)
		t->opens++;
	else if (io->fsync && is_dir_fd(io->fd))
		t->fsync_dir++;
	else if (io->fsync && is_seg_fd(io->fd))
		t->fsync_seg++;
	else if (io->fsync)
		t->fsync_other++;
	else
		t->writes++;
	return seg_io_sync(io);
}

static void pump(struct seg_writer *w, struct tally *t)
{
	const struct seg_io *io;
	for (int guard = 0; guard < 10000 && (io = seg_writer_next_io(w)) != NULL; guard++)
		seg_writer_io_done(w, perform(io, t));
}

static void one_exchange(struct seg_writer *w, uint64_t k)
{
	char url[64];
	int ul = snprintf(url, sizeof(url), "http://sync.example/x/%llu", (unsigned long long)k);
	struct seg_xch_begin b = { .method = "GET", .method_len = 3, .host = "sync.example",
				   .host_len = 12, .url = url, .url_len = (size_t)ul,
				   .start_ns = now_wall_ns(), .number = (uint32_t)k };
	struct seg_xch *x;
	REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
	REQUIRE_RC(seg_xch_resp_head(w, x, 200, "OK", 2, "HTTP/1.1 200 OK\r\n\r\n", 19,
				     SEG_T_TEXT));
	REQUIRE_RC(seg_xch_body(w, x, SEG_DIR_RESP, "hello", 5));
	struct seg_xch_end e = { .status = 200, .t = { .total_ns = 1000 } };
	REQUIRE_RC(seg_xch_end(w, x, &e));
}

static int count_entry(void *ctx, const struct seg_entry *e)
{
	(void)e;
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t listed(const char *dir)
{
	uint64_t n = 0;
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_index_scan(dir, count_entry, &n, &rep));
	return n;
}

static struct seg_writer *open_writer(const char *dir, bool sync, uint64_t rotate_bytes)
{
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 0, .save_responses = true,
				    .sync = sync, .rotate_bytes = rotate_bytes };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	return w;
}

static void test_default_unchanged(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "nosync");
	struct seg_writer *w = open_writer(dir, false, 0);
	struct tally t = { 0 };
	for (uint64_t k = 1; k <= 3; k++)
		one_exchange(w, k);
	pump(w, &t);
	CHECK_EQ(t.writes, 0u);   /* nothing sealed before the flush interval */
	CHECK(!seg_writer_busy(w));
	REQUIRE_RC(seg_writer_seal(w));
	pump(w, &t);
	CHECK(t.writes >= 2u);
	CHECK_EQ(t.fsync_seg + t.fsync_dir + t.fsync_other, 0u);
	CHECK(!seg_writer_busy(w));
	seg_writer_close(w);
	rm_rf(dir);
}

static void test_commit_makes_durable(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "sync");
	struct seg_writer *w = open_writer(dir, true, 0);
	struct tally t = { 0 };
	one_exchange(w, 1);
	uint64_t mark = seg_writer_ended(w);
	CHECK_EQ(mark, 1u);
	CHECK(!seg_writer_durable(w, mark));
	CHECK(seg_writer_busy(w));   /* a commit is owed */
	CHECK_EQ(listed(dir), 0u);   /* still in memory */
	/* the commit's ios, one at a time: durable only after the last */
	const struct seg_io *io = seg_writer_next_io(w);
	REQUIRE(io != NULL);
	CHECK(!io->fsync);           /* the frame first */
	for (int guard = 0; guard < 16 && io != NULL; guard++) {
		bool last_was_fsync = io->fsync && !is_dir_fd(io->fd);
		CHECK(!seg_writer_durable(w, mark));
		seg_writer_io_done(w, perform(io, &t));
		io = seg_writer_next_io(w);
		if (io == NULL)
			CHECK(last_was_fsync);   /* the commit ends with the segment's fsync */
	}
	CHECK(seg_writer_durable(w, mark));
	CHECK(!seg_writer_busy(w));
	CHECK_EQ(t.fsync_seg, 1u);
	CHECK_EQ(t.fsync_dir, 1u);   /* the first segment's directory entry */
	CHECK_EQ(t.fsync_other, 0u);
	CHECK_EQ(listed(dir), 1u);   /* on disk, before any flush interval */
	seg_writer_close(w);
	rm_rf(dir);
}

static void test_group_commit(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "group");
	struct seg_writer *w = open_writer(dir, true, 0);
	struct tally t = { 0 };
	one_exchange(w, 1);
	const struct seg_io *io = seg_writer_next_io(w);   /* commit 1 starts */
	REQUIRE(io != NULL);
	/* ended while commit 1 is in flight: not covered by it */
	for (uint64_t k = 2; k <= 9; k++)
		one_exchange(w, k);
	seg_writer_io_done(w, perform(io, &t));
	for (int guard = 0; guard < 16 && !seg_writer_durable(w, 1); guard++) {
		io = seg_writer_next_io(w);
		REQUIRE(io != NULL);
		seg_writer_io_done(w, perform(io, &t));
	}
	CHECK(seg_writer_durable(w, 1));
	CHECK(!seg_writer_durable(w, 2));
	CHECK(!seg_writer_durable(w, 9));
	CHECK_EQ(t.fsync_seg, 1u);
	pump(w, &t);   /* commit 2: all eight at once */
	CHECK(seg_writer_durable(w, 9));
	CHECK_EQ(t.fsync_seg, 2u);
	CHECK_EQ(t.fsync_dir, 1u);   /* no new segment since */
	CHECK_EQ(listed(dir), 9u);
	seg_writer_close(w);
	rm_rf(dir);
}

static void test_rotation(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "syncrot");
	/* rotate after every frame: each commit's seal starts a new segment */
	struct seg_writer *w = open_writer(dir, true, 64);
	struct tally t = { 0 };
	for (uint64_t k = 1; k <= 4; k++) {
		one_exchange(w, k);
		pump(w, &t);
		CHECK(seg_writer_durable(w, k));
	}
	struct seg_writer_stats st;
	seg_writer_get_stats(w, &st);
	CHECK(st.segments >= 4u);
	CHECK_EQ(t.fsync_seg, 4u + 4u);    /* one per commit, one per rotation */
	CHECK_EQ(t.fsync_dir, 4u);         /* a new segment before each commit's fsync */
	CHECK_EQ(t.opens, 3u * 4u);
	CHECK_EQ(listed(dir), 4u);
	seg_writer_close(w);
	rm_rf(dir);
}

static void test_failed_write(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "syncfail");
	struct seg_writer *w = open_writer(dir, true, 0);
	one_exchange(w, 1);
	const struct seg_io *io = seg_writer_next_io(w);
	REQUIRE(io != NULL);
	CHECK(!seg_writer_durable(w, 1));
	seg_writer_io_done(w, -EIO);
	CHECK(seg_writer_durable(w, 1));   /* never will be: nobody waits for it */
	CHECK(seg_writer_next_io(w) == NULL);
	CHECK(!seg_writer_busy(w));
	seg_writer_close(w);
	rm_rf(dir);
}

int main(void)
{
	test_default_unchanged();
	test_commit_makes_durable();
	test_group_commit();
	test_rotation();
	test_failed_write();
	return check_done("persist_sync");
}
