/* tests/persist/recovery_test.c: crash and damage handling. The segment is
 * cut at every byte offset of its last frame: the reader never returns a
 * frame past the cut and recovery lists exactly the exchanges that ended
 * before it, all intact. A flipped byte in a middle frame (payload, then
 * header) is reported with its offset, the exchanges touching it refuse to
 * open, every other one opens intact. A rebuilt index equals the written
 * one byte for byte. Torn and damaged index entries are skipped.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/reader-int.h"

#define SEED 21
#define N 300

static char dir[64];
static struct drive d;

static uint8_t *slurp(const char *name, size_t *len)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return gen_slurp(p, len);
}

static void spit(const char *name, const uint8_t *b, size_t len)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	gen_spit(p, b, len);
}

/* Offsets of every valid frame of the segment. */
static size_t frame_offsets(uint64_t *offs, size_t cap)
{
	char p[128];
	struct seg_fiter it;
	size_t n = 0;
	snprintf(p, sizeof(p), "%s/w000-00000001.seg", dir);
	REQUIRE_RC(seg_fiter_open(&it, p, true, NULL));
	while (seg_fiter_next(&it) == 1 && n < cap)
		offs[n++] = it.frame_off;
	seg_fiter_close(&it);
	return n;
}

static int k_of_id(uint64_t id) { return (int)(id & 0xffffffffffull) - 1; }

/* Loads the table and checks: every listed exchange opens and equals its
 * original, unless it touches the damaged offset bad (then -EBADMSG). */
static size_t check_table(uint64_t bad, size_t *refused)
{
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	*refused = 0;
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_entry *e = &t.rows[i].e;
		if (bad && e->frame_off <= bad && bad <= e->last_frame_off) {
			struct seg_exchange x;
			CHECK(seg_open_entry(dir, e, NULL, &x) == -EBADMSG);
			(*refused)++;
			continue;
		}
		verify_exchange(dir, e->id, SEED, (uint64_t)k_of_id(e->id), d.big_every,
				SEG_BODY_MAX_DEFAULT, true);
	}
	size_t n = t.n;
	seg_table_free(&t);
	return n;
}

static void test_torn_tail(const uint8_t *seg, size_t seg_len, const uint8_t *idx, size_t idx_len,
			   const uint8_t *str, size_t str_len, uint64_t last_off)
{
	/* Exchanges whose END lies before the last frame survive any cut. */
	size_t expect = 0;
	for (size_t i = SEG_FILE_HDR_SIZE; i < idx_len; i += SEG_ENTRY_SIZE) {
		struct seg_entry e;
		REQUIRE_RC(seg_entry_decode(idx + i, SEG_IDX_VERSION, 0, &e));
		expect += e.last_frame_off < last_off;
	}
	REQUIRE(expect > 0 && expect < N);
	char p[128];
	snprintf(p, sizeof(p), "%s/w000-00000001.seg", dir);
	size_t iters = 0;
	const uint64_t stride = GEN_SANITIZED ? 7 : 1;
	/* Cuts from the end down: each truncate shrinks the file, so the
	 * bytes before the cut are the frame's own (growing it back would
	 * read as zeros, which count as O_DIRECT padding, not a torn tail). */
	for (uint64_t cut = seg_len - 1, i = 0; cut >= last_off && cut < seg_len; cut -= stride, i++) {
		CHECK(truncate(p, (off_t)cut) == 0);
		/* The frames before the last one are checked by the recoveries
		 * below; here only the cut frame is looked at, at every byte. */
		struct seg_report rep = { 0 };
		struct seg_fiter it;
		REQUIRE_RC(seg_fiter_open(&it, p, false, &rep));
		it.off = last_off;
		CHECK(seg_fiter_next(&it) == 0);
		seg_fiter_close(&it);
		CHECK(rep.frames_bad == 0 && rep.frames_ok == 0 && rep.torn_bytes == cut - last_off);
		/* a full recovery about every 149 cuts, at most ~200 of them (the
		 * last frame may be a 1 MiB raw one) */
		if (i % (149 + (seg_len - last_off) / 200) == 0 || cut < last_off + stride) {
			struct seg_report rr = { 0 };
			REQUIRE_RC(seg_recover(dir, &rr));
			size_t refused;
			CHECK(check_table(0, &refused) == expect);
			spit("w000-00000001.idx", idx, idx_len);
			spit("w000-00000001.str", str, str_len);
			iters++;
		}
	}
	spit("w000-00000001.seg", seg, seg_len);
	fprintf(stderr, "  cut at %zu offsets (stride %d), %zu full recoveries, %zu exchanges "
		"survive\n", (size_t)(seg_len - last_off), GEN_SANITIZED ? 7 : 1, iters, expect);
}

static void test_damage(const uint8_t *seg, size_t seg_len, const uint8_t *idx, size_t idx_len,
			const uint8_t *str, size_t str_len, const uint64_t *offs, size_t nf)
{
	uint8_t *b = malloc(seg_len);
	REQUIRE(b);
	for (int pass = 0; pass < 2; pass++) {
		memcpy(b, seg, seg_len);
		uint64_t bad = offs[nf / 2 + (size_t)pass];
		/* pass 0: a payload byte; pass 1: a header byte (forces resync) */
		b[bad + (pass ? 9 : SEG_FRAME_HDR_SIZE + 20)] ^= 0x5a;
		spit("w000-00000001.seg", b, seg_len);
		/* the index and strings as written: the last pass's repair
		 * rebuilt them without what its damaged frame held */
		spit("w000-00000001.idx", idx, idx_len);
		spit("w000-00000001.str", str, str_len);
		struct seg_report rep = { 0 };
		REQUIRE_RC(seg_fsck(dir, false, &rep));
		CHECK(rep.frames_bad == 1 && rep.frames_ok == nf - 1 && rep.torn_bytes == 0);
		char want[64];
		snprintf(want, sizeof(want), "offset %llu:", (unsigned long long)bad);
		CHECK(strstr(rep.first_damage, "w000-00000001.seg") && strstr(rep.first_damage, want));
		size_t refused;
		size_t listed = check_table(bad, &refused);
		REQUIRE(listed == N && refused >= 1);
		fprintf(stderr, "  damage at %llu (%s): %s; %zu of %zu refused, rest intact\n",
			(unsigned long long)bad, pass ? "header" : "payload", rep.first_damage,
			refused, listed);
		/* A rebuild from the damaged segment keeps every other exchange. */
		struct seg_report rr = { 0 };
		REQUIRE_RC(seg_fsck(dir, true, &rr));
		CHECK(rr.indexes_rebuilt == 1);
		size_t after = check_table(bad, &refused);
		REQUIRE(after <= N && (after < N || refused >= 1)); /* lost or refused, never garbage */
		/* The rebuilt index and strings are sound: listing them raises no
		 * alarm (an exchange whose BEGIN frame is lost is listed without
		 * text); only fsck keeps reporting the lost frame. */
		struct seg_table t;
		struct seg_report lr = { 0 };
		CHECK_RC(seg_table_load(dir, &t, &lr));
		CHECK(!seg_report_damaged(&lr));
		seg_table_free(&t);
		memset(&rr, 0, sizeof(rr));
		CHECK_RC(seg_fsck(dir, false, &rr));
		CHECK(rr.frames_bad == 1 && seg_report_damaged(&rr));
	}
	spit("w000-00000001.seg", seg, seg_len);
	free(b);
}

static void test_index_damage(const uint8_t *idx, size_t idx_len)
{
	uint8_t *b = malloc(idx_len);
	REQUIRE(b);
	memcpy(b, idx, idx_len);
	b[SEG_FILE_HDR_SIZE + 5 * SEG_ENTRY_SIZE + 17] ^= 1;
	spit("w000-00000001.idx", b, idx_len - 40); /* and a torn last entry */
	struct seg_table t;
	struct seg_report rep = { 0 };
	CHECK_RC(seg_table_load(dir, &t, &rep));
	/* The damaged and the torn entry are counted, and their exchanges come
	 * back from the frames: nothing intact is hidden. */
	CHECK(rep.entries_bad == 1 && rep.torn_bytes == SEG_ENTRY_SIZE - 40);
	CHECK(t.n == N && rep.entries_recovered == 2 && rep.indexes_healed == 1);
	CHECK(seg_report_damaged(&rep));
	seg_table_free(&t);
	spit("w000-00000001.idx", idx, idx_len);
	free(b);
}

int main(void)
{
	make_tmpdir(dir, sizeof(dir), "rec");
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .save_responses = true,
				    .frame_bytes = SEG_FRAME_BYTES_MIN };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	drive_init(&d, SEED, N, 40, 8, 9000);
	drive_run(&d, w, N);
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);

	size_t seg_len, idx_len, str_len;
	uint8_t *seg = slurp("w000-00000001.seg", &seg_len);
	uint8_t *idx = slurp("w000-00000001.idx", &idx_len);
	uint8_t *str = slurp("w000-00000001.str", &str_len);
	CHECK((idx_len - SEG_FILE_HDR_SIZE) / SEG_ENTRY_SIZE == N);

	/* The rebuilt index and strings equal what the writer wrote. */
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_index_rebuild(dir, 0, 0, &rep));
	size_t l2, l3;
	uint8_t *idx2 = slurp("w000-00000001.idx", &l2);
	uint8_t *str2 = slurp("w000-00000001.str", &l3);
	CHECK(l2 == idx_len && !memcmp(idx, idx2, idx_len));
	CHECK(l3 == str_len && !memcmp(str, str2, str_len));
	CHECK(rep.exchanges == N && rep.incomplete == 0 && rep.frames_bad == 0);
	free(idx2);
	free(str2);
	fprintf(stderr, "rebuild equals original (%zu entries)\n", (size_t)N);

	/* Index writes lost at a crash (frames on disk, entries not, the last
	 * one torn): recovery replays only the uncovered frames and restores
	 * the index byte for byte. */
	for (size_t lost = 1; lost < 120; lost += 17) {
		spit("w000-00000001.idx", idx, idx_len - lost * SEG_ENTRY_SIZE + 50);
		struct seg_report rr = { 0 };
		REQUIRE_RC(seg_recover(dir, &rr));
		uint8_t *idx3 = slurp("w000-00000001.idx", &l2);
		CHECK(l2 == idx_len && !memcmp(idx, idx3, idx_len));
		REQUIRE(rr.exchanges >= lost && rr.exchanges < N / 2); /* a tail, not everything */
		free(idx3);
	}
	fprintf(stderr, "tail recovery restores lost index entries exactly\n");

	uint64_t offs[4096];
	size_t nf = frame_offsets(offs, 4096);
	REQUIRE(nf > 20);
	fprintf(stderr, "torn tail:\n");
	test_torn_tail(seg, seg_len, idx, idx_len, str, str_len, offs[nf - 1]);
	fprintf(stderr, "damaged middle frames:\n");
	test_damage(seg, seg_len, idx, idx_len, str, str_len, offs, nf);
	spit("w000-00000001.idx", idx, idx_len);
	spit("w000-00000001.str", str, str_len);
	test_index_damage(idx, idx_len);
	fprintf(stderr, "damaged index entries skipped\n");

	free(seg);
	free(idx);
	free(str);
	drive_free(&d);
	rm_rf(dir);
	return check_done("persist_recovery");
}
