/* tests/persist/cache_test.c: seg_open_entry with an open cache (many
 * exchanges in a row, the segment and its last frame kept) answers exactly
 * as without one, for every exchange of interleaved sessions with small and
 * default frames, bodies spanning frames and segments, and after a frame
 * is damaged (the same exchanges fail with -EBADMSG, the others open). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/scan.h"
#include "tests/persist/gen.h"

struct walk {
	const char *dir;
	struct seg_open_cache *c;
	uint64_t n, bad_both, bad_one;
};

static void same(const struct seg_exchange *a, const struct seg_exchange *b)
{
	CHECK(a->id == b->id);
	CHECK(a->start_ns == b->start_ns);
	CHECK(a->status == b->status);
	CHECK(a->flags == b->flags);
	CHECK(a->complete == b->complete);
	CHECK(strcmp(a->url, b->url) == 0);
	CHECK(strcmp(a->method_text, b->method_text) == 0);
	CHECK(a->req_head_len == b->req_head_len);
	CHECK(memcmp(a->req_head, b->req_head, a->req_head_len) == 0);
	CHECK(a->resp_head_len == b->resp_head_len);
	CHECK(a->resp_head_len == 0 || memcmp(a->resp_head, b->resp_head, a->resp_head_len) == 0);
	for (int d = 0; d < 2; d++) {
		CHECK(a->body_len[d] == b->body_len[d]);
		CHECK(a->body_len[d] == 0 || memcmp(a->body[d], b->body[d], a->body_len[d]) == 0);
	}
}

static int each(void *ctx, const struct seg_entry *e)
{
	struct walk *w = ctx;
	struct seg_open_opts o = { .body_max = { 1u << 30, 1u << 30 } };
	struct seg_open_opts oc = { .body_max = { 1u << 30, 1u << 30 }, .cache = w->c };
	struct seg_exchange a, b;
	int ra = seg_open_entry(w->dir, e, &o, &a);
	int rb = seg_open_entry(w->dir, e, &oc, &b);
	if (ra != rb)
		fprintf(stderr, "id %llu: open %d, with the cache %d\n", (unsigned long long)e->id,
			ra, rb);
	CHECK(ra == rb);
	if (ra == 0) {
		same(&a, &b);
		seg_exchange_free(&a);
		seg_exchange_free(&b);
	} else {
		w->bad_both++;
	}
	w->n++;
	return 0;
}

static void compare(const char *dir, uint64_t want, struct walk *w)
{
	memset(w, 0, sizeof(*w));
	w->dir = dir;
	REQUIRE_RC(seg_open_cache_new(&w->c));
	REQUIRE_RC(seg_index_scan(dir, each, w, NULL));
	seg_open_cache_free(w->c);
	fprintf(stderr, "  %llu exchanges compared, %llu unreadable by both\n",
		(unsigned long long)w->n, (unsigned long long)w->bad_both);
	CHECK(w->n == want);
	/* Start order too, as an export opens them: the cache then skips to
	 * the frame's last BEGIN for each larger id. */
	struct walk t = { .dir = dir };
	struct seg_scan *s;
	struct seg_qrow r;
	REQUIRE_RC(seg_open_cache_new(&t.c));
	REQUIRE_RC(seg_scan_open(dir, NULL, &s, NULL));
	while (seg_scan_next(s, &r) == 1)
		each(&t, &r.e);
	seg_scan_close(s);
	seg_open_cache_free(t.c);
	CHECK(t.n == want);
	CHECK(t.bad_both == w->bad_both);
}

static void write_session(const char *dir, uint64_t seed, uint64_t n, struct seg_writer_cfg *cfg)
{
	struct seg_writer *wr;
	struct drive d;
	cfg->session_dir = dir;
	CHECK_RC(seg_writer_open(cfg, now_wall_ns(), &wr));
	drive_init(&d, seed, n, 40, 64, 70000);
	drive_run(&d, wr, n);
	CHECK_RC(seg_writer_flush_sync(wr));
	seg_writer_close(wr);
	drive_free(&d);
}

int main(void)
{
	char dir[256];
	struct walk w;
	fprintf(stderr, "default frames, interleaved, big bodies:\n");
	make_tmpdir(dir, sizeof(dir), "rd1");
	struct seg_writer_cfg c1 = { .save_responses = true };
	write_session(dir, 21, 1500, &c1);
	compare(dir, 1500, &w);
	CHECK(w.bad_both == 0);
	rm_rf(dir);

	fprintf(stderr, "small frames, small segments (exchanges span segments):\n");
	make_tmpdir(dir, sizeof(dir), "rd2");
	struct seg_writer_cfg c2 = { .save_responses = true, .frame_bytes = SEG_FRAME_BYTES_MIN,
				     .rotate_bytes = 1u << 20 };
	write_session(dir, 22, 800, &c2);
	compare(dir, 800, &w);
	CHECK(w.bad_both == 0);

	fprintf(stderr, "a damaged frame:\n");
	char seg[512];
	snprintf(seg, sizeof(seg), "%s/w000-00000001.seg", dir);
	int fd = open(seg, O_RDWR);
	CHECK(fd >= 0);
	uint8_t byte;
	CHECK(pread(fd, &byte, 1, 20000) == 1);
	byte ^= 0x5a;
	CHECK(pwrite(fd, &byte, 1, 20000) == 1);
	close(fd);
	compare(dir, 800, &w);
	CHECK(w.bad_both > 0);
	CHECK(w.bad_both < 800);
	rm_rf(dir);
	return check_done("cache_test");
}
