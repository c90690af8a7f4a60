/* tests/fuzz/segment/segment_fuzz.c: libFuzzer target for the segment and index
 * readers. The first input byte picks what the rest becomes: a .seg file
 * (frame iteration, fsck, index rebuild, table load, opening every listed
 * exchange), an .idx file next to a small valid segment (as it is, or
 * after a valid RCAPIDX2 or RCAPIDX1 header, so that the entry decoders
 * of both layouts see it), or a tombstone file. Nothing may crash, hang or leak, and what is returned must come
 * from valid frames only.
 *
 * Built with -Dfuzz=true (clang, -fsanitize=fuzzer). With
 * -DSEG_FUZZ_STANDALONE it gets a main() that feeds mutated copies of a
 * real segment instead, run as the unit test persist_fuzz_smoke.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/seg-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir[200];

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", fz_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void clear_dir(void)
{
	const char *names[] = { "w000-00000001.seg", "w000-00000001.idx", "w000-00000001.str",
				"tombstones" };
	for (int i = 0; i < 4; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", fz_dir, names[i]);
		unlink(path);
	}
}

static void read_everything(bool rebuild)
{
	struct seg_report rep = { 0 };
	char path[256];
	snprintf(path, sizeof(path), "%s/w000-00000001.seg", fz_dir);
	seg_segment_check(path, &rep);
	if (rebuild)
		seg_index_rebuild(fz_dir, 0, 0, &rep);
	struct seg_table t;
	if (seg_table_load(fz_dir, &t, &rep) < 0)
		return;
	for (size_t i = 0; i < t.n && i < 32; i++) {
		struct seg_exchange x;
		struct seg_open_opts o = { .body_max = { 1 << 16, 1 << 16 } };
		if (seg_open_entry(fz_dir, &t.rows[i].e, &o, &x) == 0)
			seg_exchange_free(&x);
	}
	struct seg_query q = { .search = "a", .sort = SEG_SORT_URL, .limit = 5 };
	struct seg_result r;
	if (seg_query_run(&t, &q, &r) == 0)
		seg_result_free(&r);
	seg_table_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_dir[0]) {
		/* tests/fuzz/run.sh gives each run its own directory */
		const char *own = getenv("RINGCAP_FUZZ_TMP");
		snprintf(fz_dir, sizeof(fz_dir), "%s/rc-fuzz-XXXXXX", own ? own : "/dev/shm");
		if (!mkdtemp(fz_dir)) {
			snprintf(fz_dir, sizeof(fz_dir), "/tmp/rc-fuzz-XXXXXX");
			if (!mkdtemp(fz_dir))
				abort();
		}
	}
	if (size < 1)
		return 0;
	clear_dir();
	uint8_t mode = data[0] % 5;
	data++;
	size--;
	if (mode == 0) {
		put_file("w000-00000001.seg", data, size);
		read_everything(true);
	} else if (mode == 1) {
		put_file("w000-00000001.seg", NULL, 0);
		put_file("w000-00000001.idx", data, size);
		put_file("w000-00000001.str", data, size / 2);
		read_everything(false);
	} else if (mode == 2) {
		put_file("w000-00000001.seg", NULL, 0);
		put_file("tombstones", data, size);
		read_everything(false);
	} else {
		static uint8_t idx[SEG_FILE_HDR_SIZE + (1 << 20)];
		struct seg_fhdr h = { .segno = 1, .idx_version = mode == 3 ? SEG_IDX_V2 : SEG_IDX_V1 };
		size_t n = size < (1 << 20) ? size : (1 << 20);
		seg_fhdr_encode(idx, SEG_K_IDX, &h);
		memcpy(idx + SEG_FILE_HDR_SIZE, data, n);
		put_file("w000-00000001.seg", NULL, 0);
		put_file("w000-00000001.idx", idx, SEG_FILE_HDR_SIZE + n);
		put_file("w000-00000001.str", data, size / 2);
		read_everything(false);
	}
	return 0;
}

#ifdef SEG_FUZZ_STANDALONE
#include "tests/persist/gen.h"

/* Mutates a real segment (with index) many ways and reads each. */
int main(void)
{
	char src[64];
	make_tmpdir(src, sizeof(src), "fzsrc");
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = src, .save_responses = true,
				    .frame_bytes = SEG_FRAME_BYTES_MIN };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct drive d;
	drive_init(&d, 3, 40, 0, 4, 3000);
	drive_run(&d, w, 40);
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	drive_free(&d);
	char p[128];
	snprintf(p, sizeof(p), "%s/w000-00000001.seg", src);
	FILE *f = fopen(p, "rb");
	REQUIRE(f);
	static uint8_t seg[1 << 20], buf[(1 << 20) + 1];
	size_t n = fread(seg, 1, sizeof(seg), f);
	fclose(f);
	REQUIRE(n > 1000);
	uint64_t r = 1;
	for (int iter = 0; iter < 400; iter++) {
		r = gen_mix(r);
		buf[0] = (uint8_t)(iter % 5);
		memcpy(buf + 1, seg, n);
		size_t len = n;
		int flips = 1 + (int)(r % 8);
		for (int i = 0; i < flips; i++) {
			r = gen_mix(r);
			buf[1 + r % n] ^= (uint8_t)(1u << (r % 8));
		}
		if (iter % 5 == 0)
			len = 1 + (size_t)(r % n);
		LLVMFuzzerTestOneInput(buf, len + 1);
	}
	clear_dir();
	rmdir(fz_dir);
	rm_rf(src);
	fprintf(stderr, "ok: 400 mutated inputs\n");
	return 0;
}
#endif
