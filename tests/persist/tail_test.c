/* tests/persist/tail_test.c: the incremental index tail (persist/tail.h).
 * Every exchange of a two-worker session written while a tail polls comes
 * out exactly once, with the text, number and client name the full table
 * load gives it, across many rotations; a tail opened at the end sees
 * only later exchanges; a poll when nothing changed hands out nothing;
 * max bounds a poll; an index entry half written or whose text is not
 * written yet is waited for and then delivered whole; a damaged entry is
 * skipped after the wait and counted; tombstones read back sorted.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/seg-int.h"
#include "persist/tail.h"

#define N_PER_WORKER 3000u
#define WAIT_MS 50u

/* What a tail handed out, by id. */
struct seen {
	uint64_t *ids;
	char **text;   /* "host url number client" of each row */
	size_t n, cap;
	bool stop_after; /* return -1 from the callback (stop) */
};

static char *row_text(const struct seg_qrow *r)
{
	char *s = NULL;
	REQUIRE(asprintf(&s, "%.*s %.*s %u %.*s", (int)r->e.host_len, r->host, (int)r->e.url_len,
			 r->url, r->number, (int)r->client_name_len, r->client_name) > 0);
	return s;
}

static int seen_cb(void *ctx, const struct seg_qrow *r)
{
	struct seen *s = ctx;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->ids = realloc(s->ids, s->cap * sizeof(*s->ids));
		s->text = realloc(s->text, s->cap * sizeof(*s->text));
		REQUIRE(s->ids && s->text);
	}
	s->ids[s->n] = r->e.id;
	s->text[s->n++] = row_text(r);
	return s->stop_after ? -1 : 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->text[i]);
	free(s->ids);
	free(s->text);
	memset(s, 0, sizeof(*s));
}

/* Every row of the session's table appears in s exactly once with the
 * same text (from = first row of s to compare). */
static void check_against_table(const char *dir, const struct seen *s)
{
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK_EQ(s->n, t.n);
	size_t matched = 0;
	for (size_t i = 0; i < t.n; i++) {
		char *want = row_text(&t.rows[i]);
		size_t hits = 0;
		for (size_t k = 0; k < s->n; k++) {
			if (s->ids[k] != t.rows[i].e.id)
				continue;
			hits++;
			CHECK_STR(s->text[k], want);
		}
		CHECK_EQ(hits, 1u);
		matched += hits == 1;
		free(want);
	}
	CHECK_EQ(matched, t.n);
	seg_table_free(&t);
}

static struct seg_writer *writer(const char *dir, uint16_t worker, uint64_t rotate_bytes)
{
	struct seg_writer_cfg c = { .session_dir = dir, .worker = worker, .frame_bytes = 16384,
				    .rotate_bytes = rotate_bytes, .save_responses = true };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	return w;
}

struct live {
	struct seg_tail *t;
	struct seen *s;
	struct seg_writer *w;
	unsigned every;
	uint64_t polls, empty_polls;
};

/* After every `every` ENDs: flush this writer and poll the tail. */
static void poll_after_end(struct drive *d, struct seg_writer *w)
{
	struct live *l = d->ctx;
	if (d->ended % l->every)
		return;
	REQUIRE_RC(seg_writer_flush_sync(w));
	size_t n;
	REQUIRE_RC(seg_tail_poll(l->t, 0, seen_cb, l->s, &n));
	l->polls++;
	l->empty_polls += n == 0;
}

/* Two workers write with rotations every few frames while a tail polls;
 * then nothing changes and polls hand out nothing. */
static void test_live_rotation(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "tail");
	struct seg_tail *t;
	struct seen s = { 0 };
	REQUIRE_RC(seg_tail_open(dir, NULL, &t));   /* before any file exists */
	for (uint16_t wk = 0; wk < 2; wk++) {
		struct seg_writer *w = writer(dir, wk, 64 * 1024);
		struct drive d;
		drive_init(&d, 11 + wk, N_PER_WORKER, 50, 8, 3000);
		struct live l = { .t = t, .s = &s, .w = w, .every = 37 };
		d.after_end = poll_after_end;
		d.ctx = &l;
		drive_run(&d, w, N_PER_WORKER);
		REQUIRE_RC(seg_writer_flush_sync(w));
		struct seg_writer_stats ws;
		seg_writer_get_stats(w, &ws);
		CHECK(ws.segments > 5);   /* the test crosses rotations */
		seg_writer_close(w);
		drive_free(&d);
		CHECK(l.polls > 50);
	}
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, NULL));
	check_against_table(dir, &s);
	CHECK_EQ(s.n, 2u * N_PER_WORKER);
	struct seg_tail_stats st;
	seg_tail_get_stats(t, &st);
	CHECK(st.switches > 10);
	CHECK_EQ(st.entries_bad, 0u);
	CHECK_EQ(st.strings_bad, 0u);
	CHECK_EQ(st.rows, 2u * N_PER_WORKER);
	size_t n = 99;
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 0u);
	/* nothing changed (the directory's mtime an hour old): no listing */
	struct timespec old[2] = { { time(NULL) - 3600, 0 }, { time(NULL) - 3600, 0 } };
	REQUIRE(utimensat(AT_FDCWD, dir, old, 0) == 0);
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	seg_tail_get_stats(t, &st);
	uint64_t lists = st.lists;
	for (int i = 0; i < 10; i++)
		REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	seg_tail_get_stats(t, &st);
	CHECK_EQ(st.lists, lists);
	CHECK_EQ(s.n, 2u * N_PER_WORKER);
	seg_tail_close(t);

	/* A second tail from the start reads the finished session whole. */
	struct seen s2 = { 0 };
	REQUIRE_RC(seg_tail_open(dir, NULL, &t));
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s2, NULL));
	check_against_table(dir, &s2);
	seg_tail_close(t);
	seen_free(&s2);
	seen_free(&s);
	rm_rf(dir);
}

/* Opened at the end: only what is written later; max bounds a poll; a
 * callback that stops keeps its row taken. */
static void test_from_end_and_max(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "tailend");
	struct seg_writer *w = writer(dir, 3, 0);
	struct drive d;
	drive_init(&d, 5, 400, 50, 4, 2000);
	drive_run(&d, w, 200);
	REQUIRE_RC(seg_writer_flush_sync(w));
	struct seg_tail *t;
	struct seg_tail_opts o = { .from_end = true };
	REQUIRE_RC(seg_tail_open(dir, &o, &t));
	struct seen s = { 0 };
	size_t n = 99;
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 0u);
	drive_run(&d, w, 400);
	REQUIRE_RC(seg_writer_flush_sync(w));
	REQUIRE_RC(seg_tail_poll(t, 50, seen_cb, &s, &n));
	CHECK_EQ(n, 50u);
	s.stop_after = true;
	CHECK_EQ(seg_tail_poll(t, 0, seen_cb, &s, &n), -1);
	CHECK_EQ(n, 1u);
	s.stop_after = false;
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(s.n, 200u);
	/* exactly the ids of exchanges 200..399 */
	size_t later = 0;
	for (size_t i = 0; i < s.n; i++)
		for (uint64_t k = 200; k < 400; k++)
			later += s.ids[i] == d.ids[k];
	CHECK_EQ(later, 200u);
	seg_tail_close(t);
	seg_writer_close(w);
	drive_free(&d);
	seen_free(&s);
	rm_rf(dir);
}

static uint8_t *slurp(const char *p, size_t *len)
{
	int fd = open(p, O_RDONLY);
	REQUIRE(fd >= 0);
	struct stat sb;
	REQUIRE(fstat(fd, &sb) == 0);
	*len = (size_t)sb.st_size;
	uint8_t *b = malloc(*len + 1);
	REQUIRE(b && pread(fd, b, *len, 0) == (ssize_t)*len);
	close(fd);
	return b;
}

static void put(const char *p, const uint8_t *b, size_t len)
{
	int fd = open(p, O_WRONLY | O_TRUNC);
	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, b, len, 0) == (ssize_t)len);
	close(fd);
}

/* A session being written, replayed by cutting its files: half of the
 * last entry, then the text of the last entry missing; each waits and
 * then comes out whole. A damaged entry is skipped after WAIT_MS. Long on
 * purpose: one session whose steps build on each other. */
static void test_torn_and_damaged(void)
{
	char dir[64], idx[128], str[128];
	make_tmpdir(dir, sizeof(dir), "tailtorn");
	struct seg_writer *w = writer(dir, 0, 0);
	struct drive d;
	drive_init(&d, 9, 100, 50, 1, 2000);
	drive_run(&d, w, 100);
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	snprintf(idx, sizeof(idx), "%s/w000-00000001.idx", dir);
	snprintf(str, sizeof(str), "%s/w000-00000001.str", dir);
	size_t ilen, slen;
	uint8_t *ib = slurp(idx, &ilen), *sb = slurp(str, &slen);
	REQUIRE(ilen == SEG_FILE_HDR_SIZE + 100u * SEG_ENTRY_SIZE);

	struct seg_tail *t;
	struct seg_tail_opts o = { .wait_ms = WAIT_MS };
	struct seen s = { 0 };
	size_t n;
	/* 98 entries and a half; the text stops 3 bytes into the 99th row's
	 * (one exchange open at a time: texts are in row order) */
	struct seg_entry e99;
	REQUIRE(seg_entry_decode(ib + SEG_FILE_HDR_SIZE + 98u * SEG_ENTRY_SIZE, SEG_IDX_VERSION, 0,
				 &e99) == 0);
	put(idx, ib, ilen - SEG_ENTRY_SIZE - SEG_ENTRY_SIZE / 2);
	put(str, sb, e99.str_off + 3);
	REQUIRE_RC(seg_tail_open(dir, &o, &t));
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 98u);
	put(idx, ib, ilen - SEG_ENTRY_SIZE);   /* the 99th whole: waits for its text */
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 0u);
	put(str, sb, slen);
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 1u);
	/* the 100th entry damaged: waited for, then skipped */
	ib[ilen - 10] ^= 0x55;
	put(idx, ib, ilen);
	ib[ilen - 10] ^= 0x55;
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 0u);
	usleep((WAIT_MS + 20) * 1000);
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 0u);
	struct seg_tail_stats st;
	seg_tail_get_stats(t, &st);
	CHECK_EQ(st.entries_bad, 1u);
	CHECK_EQ(st.strings_bad, 0u);
	CHECK_EQ(s.n, 99u);
	seg_tail_close(t);

	/* whole files again: a fresh tail agrees with the table */
	put(idx, ib, ilen);
	seen_free(&s);
	REQUIRE_RC(seg_tail_open(dir, &o, &t));
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	check_against_table(dir, &s);
	/* text that never comes: the row is listed with empty text */
	seg_tail_close(t);
	seen_free(&s);
	put(str, sb, SEG_FILE_HDR_SIZE);
	REQUIRE_RC(seg_tail_open(dir, &o, &t));
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 0u);
	usleep((WAIT_MS + 20) * 1000);
	REQUIRE_RC(seg_tail_poll(t, 0, seen_cb, &s, &n));
	CHECK_EQ(n, 100u);
	seg_tail_get_stats(t, &st);
	CHECK_EQ(st.strings_bad, 100u);
	CHECK(n > 0 && strncmp(s.text[0], "  0 ", 4) == 0);
	seg_tail_close(t);
	seen_free(&s);
	free(ib);
	free(sb);
	drive_free(&d);
	rm_rf(dir);
}

static void test_tombstones(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "tailtomb");
	uint64_t *ids;
	size_t n;
	uint64_t size;
	REQUIRE_RC(seg_tombstones_read(dir, &ids, &n, &size));
	CHECK(ids == NULL);
	CHECK_EQ(n, 0u);
	CHECK_EQ(size, 0u);
	uint64_t del[3] = { 30, 10, 20 };
	REQUIRE_RC(seg_tombstone(dir, del, 3, now_wall_ns()));
	REQUIRE_RC(seg_tombstones_read(dir, &ids, &n, &size));
	CHECK_EQ(n, 3u);
	CHECK_EQ(size, 3u * SEG_TOMB_SIZE);
	CHECK(n == 3 && ids[0] == 10 && ids[1] == 20 && ids[2] == 30);
	free(ids);
	rm_rf(dir);
}

int main(void)
{
	test_live_rotation();
	test_from_end_and_max();
	test_torn_and_damaged();
	test_tombstones();
	return check_done("persist_tail");
}
