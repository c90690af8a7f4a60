/* tests/persist/heal_test.c: damage never hides data, and is always
 * reported (issue 18). A session of N exchanges over several segments
 * (exchanges spanning segments included) is written once; each case damages
 * one index or string file, then checks that the table lists every
 * exchange with its pristine host and URL, that each opens by id, that
 * ses_stats counts them all, that the load and fsck report the damage, and
 * that fsck --repair gives back byte-identical files and a clean check.
 * The sound session raises no alarm.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/reader-int.h"
#include "persist/ses.h"

#define SEED 18
#define N 300

static char data[64], dir[160], sid[SES_ID_LEN + 1];

struct row {
	uint64_t id;
	char text[600]; /* host + url */
};
static struct row pristine[N];
static size_t npristine;

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The table's rows sorted by id; damage counts in rep. */
static size_t table_rows(struct row *out, struct seg_report *rep)
{
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, rep));
	REQUIRE(t.n <= N);
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_qrow *r = &t.rows[i];
		out[i].id = r->e.id;
		snprintf(out[i].text, sizeof(out[i].text), "%.*s|%.*s", (int)r->e.host_len, r->host,
			 (int)r->e.url_len, r->url);
	}
	size_t n = t.n;
	seg_table_free(&t);
	qsort(out, n, sizeof(*out), row_cmp);
	return n;
}

static void path_of(char *buf, size_t cap, uint32_t segno, enum seg_kind k)
{
	REQUIRE_RC(seg_path(buf, cap, dir, 0, segno, k));
}



/* Everything a reader must still see, whatever was damaged. */
static void check_all_visible(uint64_t want_recovered, uint64_t want_strings)
{
	static struct row got[N];
	struct seg_report rep = { 0 };
	size_t n = table_rows(got, &rep);
	CHECK(n == npristine);
	for (size_t i = 0; i < n; i++) {
		CHECK(got[i].id == pristine[i].id);
		CHECK(!strcmp(got[i].text, pristine[i].text));
	}
	CHECK(seg_report_damaged(&rep));
	CHECK(rep.entries_recovered == want_recovered);
	CHECK(rep.strings_recovered == want_strings && rep.strings_bad == 0);
	CHECK(rep.first_damage[0]);
	struct seg_open_opts o = { .body_max = { 1u << 20, 1u << 20 } };
	for (size_t i = 0; i < n; i++) {
		struct seg_exchange x;
		REQUIRE_RC(seg_open_id(dir, got[i].id, &o, &x));
		CHECK(x.complete && x.id == got[i].id);
		seg_exchange_free(&x);
	}
	struct ses_stats st;
	REQUIRE_RC(ses_stats(data, sid, &st));
	CHECK(st.exchanges == N);
}

/* fsck sees the damage; --repair restores the pristine files exactly. */
static void check_fsck_repairs(uint8_t **files, const size_t *lens, uint32_t nseg)
{
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_fsck(dir, false, &rep));
	CHECK(seg_report_damaged(&rep));
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_fsck(dir, true, &rep));
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_fsck(dir, false, &rep));
	CHECK(!seg_report_damaged(&rep));
	for (uint32_t s = 1; s <= nseg; s++) {
		for (int k = SEG_K_IDX; k <= SEG_K_STR; k++) {
			char p[256];
			size_t len;
			path_of(p, sizeof(p), s, (enum seg_kind)k);
			uint8_t *b = gen_slurp(p, &len);
			size_t i = (s - 1) * 2 + (size_t)(k - SEG_K_IDX);
			CHECK(len == lens[i] && !memcmp(b, files[i], len));
			free(b);
		}
	}
}

/* Counts the entries of one pristine index. */
static uint64_t entries_in(const uint8_t *idx, size_t len)
{
	return (len - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE;
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	make_tmpdir(data, sizeof(data), "heal");
	struct ses_settings ss = { .save_responses = true };
	struct ses_meta m;
	REQUIRE_RC(ses_create(data, "heal", &ss, now_wall_ns(), &m));
	memcpy(sid, m.id, sizeof(sid));
	REQUIRE_RC(ses_dir(dir, sizeof(dir), data, sid));
	struct seg_writer *w;
	struct drive d;
	struct seg_writer_cfg c = { .session_dir = dir, .save_responses = true,
				    .frame_bytes = SEG_FRAME_BYTES_MIN, .rotate_bytes = 256 * 1024 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	drive_init(&d, SEED, N, 40, 8, 9000);
	drive_run(&d, w, N);
	REQUIRE_RC(seg_writer_flush_sync(w));
	struct seg_writer_stats wst;
	seg_writer_get_stats(w, &wst);
	seg_writer_close(w);
	uint32_t nseg = (uint32_t)wst.segments;
	REQUIRE(nseg >= 3 && nseg <= 16);

	/* A just-written last segment whose index lags its frames is a flush in
	 * flight for a reader: everything listed, nothing reported. */
	{
		char ip[256];
		size_t l;
		path_of(ip, sizeof(ip), nseg, SEG_K_IDX);
		uint8_t *keep = gen_slurp(ip, &l);
		REQUIRE(l > SEG_FILE_HDR_SIZE);
		CHECK(truncate(ip, (off_t)(l - SEG_ENTRY_SIZE / 2)) == 0); /* half an entry gone */
		static struct row got[N];
		struct seg_report lr = { 0 };
		CHECK(table_rows(got, &lr) == N);
		CHECK(!seg_report_damaged(&lr));
		memset(&lr, 0, sizeof(lr));
		REQUIRE_RC(seg_fsck(dir, false, &lr)); /* fsck: files at rest, damage */
		CHECK(seg_report_damaged(&lr));
		CHECK(lr.torn_bytes == SEG_ENTRY_SIZE - SEG_ENTRY_SIZE / 2); /* what is left of it */
		gen_spit(ip, keep, l);
		free(keep);
	}
	/* From here on the segments are at rest (written an hour ago). */
	for (uint32_t s = 1; s <= nseg; s++) {
		char sp[256];
		struct timespec ts[2];
		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= 3600;
		ts[1] = ts[0];
		path_of(sp, sizeof(sp), s, SEG_K_SEG);
		CHECK(utimensat(AT_FDCWD, sp, ts, 0) == 0);
	}

	/* The sound session: no alarm anywhere. */
	struct seg_report rep = { 0 };
	npristine = table_rows(pristine, &rep);
	CHECK(npristine == N && !seg_report_damaged(&rep));
	memset(&rep, 0, sizeof(rep));
	REQUIRE_RC(seg_fsck(dir, false, &rep));
	CHECK(!seg_report_damaged(&rep) && rep.exchanges == N);

	uint8_t *files[32];
	size_t lens[32];
	for (uint32_t s = 1; s <= nseg; s++)
		for (int k = SEG_K_IDX; k <= SEG_K_STR; k++) {
			char p[256];
			path_of(p, sizeof(p), s, (enum seg_kind)k);
			files[(s - 1) * 2 + (size_t)(k - SEG_K_IDX)] =
				gen_slurp(p, &lens[(s - 1) * 2 + (size_t)(k - SEG_K_IDX)]);
		}
	char p[256];
	uint32_t mid = nseg / 2;
	const uint8_t *idx = files[(mid - 1) * 2];
	size_t idx_len = lens[(mid - 1) * 2];
	uint64_t in_mid = entries_in(idx, idx_len);
	REQUIRE(in_mid > 20);

	/* A deleted index: all its exchanges come from the frames. */
	path_of(p, sizeof(p), mid, SEG_K_IDX);
	CHECK(unlink(p) == 0);
	check_all_visible(in_mid, 0);
	check_fsck_repairs(files, lens, nseg);

	/* Cut at an entry boundary (nothing torn): the short index is noticed
	 * by the frames after its last entry. The same in the last segment. */
	uint32_t which[2] = { mid, nseg };
	for (int i = 0; i < 2; i++) {
		size_t l = lens[(which[i] - 1) * 2];
		uint64_t cnt = entries_in(files[(which[i] - 1) * 2], l);
		uint64_t cut = cnt < 10 ? cnt : 10; /* all of a short last index */
		REQUIRE(cut >= 1);
		path_of(p, sizeof(p), which[i], SEG_K_IDX);
		CHECK(truncate(p, (off_t)(l - cut * SEG_ENTRY_SIZE)) == 0);
		check_all_visible(cut, 0);
		check_fsck_repairs(files, lens, nseg);
	}

	/* 4 KiB of zeros in the middle of an index. */
	uint8_t *b = malloc(idx_len);
	REQUIRE(b);
	memcpy(b, idx, idx_len);
	size_t z = SEG_FILE_HDR_SIZE + 3 * SEG_ENTRY_SIZE + 11;
	REQUIRE(z + 4096 < idx_len);
	memset(b + z, 0, 4096);
	path_of(p, sizeof(p), mid, SEG_K_IDX);
	gen_spit(p, b, idx_len);
	uint64_t zeroed = (z + 4096 - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE -
			  (z - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE + 1;
	check_all_visible(zeroed, 0);
	check_fsck_repairs(files, lens, nseg);
	free(b);

	/* A deleted string file: host and URL come from the BEGIN records. */
	path_of(p, sizeof(p), mid, SEG_K_STR);
	CHECK(unlink(p) == 0);
	{
		static struct row got[N];
		struct seg_report r2 = { 0 };
		CHECK(table_rows(got, &r2) == N);
		REQUIRE(r2.strings_recovered > 0 && r2.strings_bad == 0 && r2.entries_recovered == 0);
		for (size_t i = 0; i < N; i++)
			CHECK(got[i].id == pristine[i].id && !strcmp(got[i].text, pristine[i].text));
	}
	check_fsck_repairs(files, lens, nseg);

	/* A flipped byte in a string file's text. */
	const uint8_t *str = files[(mid - 1) * 2 + 1];
	size_t str_len = lens[(mid - 1) * 2 + 1];
	b = malloc(str_len);
	REQUIRE(b);
	memcpy(b, str, str_len);
	b[str_len / 2] ^= 0x20;
	path_of(p, sizeof(p), mid, SEG_K_STR);
	gen_spit(p, b, str_len);
	check_all_visible(0, 1);
	check_fsck_repairs(files, lens, nseg);
	free(b);

	for (uint32_t i = 0; i < nseg * 2; i++)
		free(files[i]);
	drive_free(&d);
	rm_rf(data);
	printf("heal: %u segments, %d exchanges; deleted, cut, zeroed indexes and damaged "
	       "strings all healed\n", nseg, N);
	return check_done("persist_heal");
}
