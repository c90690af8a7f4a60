/* tests/persist/tomb_test.c: the tombstone tally (persist/tomb.c).
 *
 * A session with three deletions, then its tombstones file:
 *   - intact, or with a record appended the tally does not know: no damage;
 *   - deleted, emptied, cut to one record, replaced by as many other
 *     records: seg_tomb_check counts the lost deletions, seg_fsck calls it
 *     damage (seg_report_damaged), seg_table_load reports it too (readers
 *     warn); fsck --repair sets the tally to the file and a second check is
 *     clean;
 * and the tally survives a save from a copy that never knew it (the
 * daemon's session manager), seg_tombstoned finds an id and its time.
 */
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/ses.h"
#include "persist/seg-int.h"

static char data[64], sdir[160];
static struct ses_meta meta;
static const uint64_t ids[3] = { 2, 5, 7 };

static void fresh(void)
{
	make_tmpdir(data, sizeof(data), "tomb");
	struct ses_settings st = { .save_responses = true };
	REQUIRE_RC(ses_create(data, "t", &st, now_wall_ns(), &meta));
	REQUIRE_RC(ses_dir(sdir, sizeof(sdir), data, meta.id));
	/* ten exchanges, so that listings have rows to mark */
	struct seg_writer_cfg c = { .session_dir = sdir, .save_responses = true };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	for (int k = 1; k <= 10; k++) {
		struct seg_xch_begin b = { .method = "GET", .method_len = 3, .host = "h",
					   .host_len = 1, .url = "http://h/", .url_len = 9,
					   .start_ns = now_wall_ns() };
		struct seg_xch *x;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
		struct seg_xch_end e = { .status = 200 };
		REQUIRE_RC(seg_xch_end(w, x, &e));
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	REQUIRE_RC(seg_tombstone(sdir, ids, 2, 1000));
	REQUIRE_RC(seg_tombstone(sdir, ids + 2, 1, 2000));
}

static void tomb_path(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/tombstones", sdir);
}

static uint64_t lost(void)
{
	struct seg_report r = { 0 };
	REQUIRE_RC(seg_tomb_check(sdir, false, &r));
	return r.tombstones_lost;
}

static bool fsck_damaged(void)
{
	struct seg_report r = { 0 };
	REQUIRE_RC(seg_fsck(sdir, false, &r));
	return seg_report_damaged(&r);
}

static void test_tally_recorded(void)
{
	fresh();
	uint64_t n;
	uint32_t crc;
	REQUIRE_RC(ses_tally_get(sdir, &n, &crc));
	CHECK_EQ(n, 3u);
	CHECK(crc != 0);
	CHECK_EQ(lost(), 0u);
	CHECK(!fsck_damaged());
	/* the session manager saves from a copy loaded before the deletions */
	struct ses_meta stale = meta;
	stale.state = SES_STOPPED;
	REQUIRE_RC(ses_save(data, &stale));
	struct ses_meta now;
	REQUIRE_RC(ses_load(data, meta.id, &now));
	CHECK_EQ(now.state, (uint8_t)SES_STOPPED);
	CHECK_EQ(now.tombstones, 3u);
	CHECK_EQ(now.tombstones_crc, crc);
	uint64_t when = 0;
	CHECK_EQ(seg_tombstoned(sdir, 5, &when), 1);
	CHECK_EQ(when, 1000u);
	CHECK_EQ(seg_tombstoned(sdir, 7, &when), 1);
	CHECK_EQ(when, 2000u);
	CHECK_EQ(seg_tombstoned(sdir, 3, NULL), 0);
	rm_rf(data);
}

static void test_extra_record_is_fine(void)
{
	fresh();
	/* a deletion whose tally update a crash cut short: written by hand */
	char p[200];
	tomb_path(p, sizeof(p));
	uint8_t t[SEG_TOMB_SIZE] = { 9 };
	seg_put32(t + 16, SEG_TOMB_MAGIC);
	seg_put32(t + 20, seg_crc32c(0, t, 20));
	FILE *f = fopen(p, "ab");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(t, 1, sizeof(t), f) == sizeof(t));
	fclose(f);
	CHECK_EQ(lost(), 0u);
	CHECK(!fsck_damaged());
	CHECK_EQ(seg_tombstoned(sdir, 9, NULL), 1);
	rm_rf(data);
}

/* Damages the file (how), then: detected, listed as damage, repaired. */
static void damaged_case(const char *how, uint64_t want_lost)
{
	fresh();
	char p[200];
	tomb_path(p, sizeof(p));
	if (!strcmp(how, "delete")) {
		REQUIRE(unlink(p) == 0);
	} else if (!strcmp(how, "empty")) {
		REQUIRE(truncate(p, 0) == 0);
	} else if (!strcmp(how, "cut")) {
		REQUIRE(truncate(p, SEG_TOMB_SIZE) == 0);
	} else {
		/* as many valid records, other ids: another session's file */
		REQUIRE(unlink(p) == 0);
		uint64_t other[3] = { 1, 3, 4 };
		REQUIRE_RC(seg_tombstone(sdir, other, 3, 5));
	}
	CHECK_MSG(lost() == want_lost, "%s: lost %llu, want %llu", how,
		  (unsigned long long)lost(), (unsigned long long)want_lost);
	CHECK_MSG(fsck_damaged(), "%s: fsck saw nothing", how);
	struct seg_table t = { 0 };
	struct seg_report r = { 0 };
	REQUIRE_RC(seg_table_load(sdir, &t, &r));
	CHECK_MSG(r.tombstones_lost == want_lost, "%s: the listing did not see it", how);
	CHECK(seg_report_damaged(&r));
	CHECK(strstr(r.first_damage, "tombstones") != NULL);
	seg_table_free(&t);
	struct seg_report fix = { 0 };
	REQUIRE_RC(seg_fsck(sdir, true, &fix));
	CHECK_EQ(fix.tombstones_lost, want_lost);
	CHECK_MSG(!fsck_damaged(), "%s: damaged after --repair", how);
	CHECK_EQ(lost(), 0u);
	rm_rf(data);
}

int main(void)
{
	test_tally_recorded();
	test_extra_record_is_fine();
	damaged_case("delete", 3);
	damaged_case("empty", 3);
	damaged_case("cut", 2);
	damaged_case("replaced", 3);
	return check_done("persist_tomb");
}
