/* tests/persist/topk_test.c: a small page of a big result (seg_query_run
 * keeps only the page's rows instead of sorting them all) equals the same
 * slice of the fully sorted order, ties included, for every sort key the
 * shortcut takes, both directions, with a search and with a predicate.
 */
#include "tests/persist/gen.h"
#include "persist/query.h"

#define N 6000u

static bool odd_rows(void *ctx, const struct seg_qrow *r)
{
	(void)ctx;
	return (r->e.id & 1) != 0;
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "topk");
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 0, .save_responses = true };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct drive d;
	drive_init(&d, 21, N, 50, 8, 2000);
	drive_run(&d, w, N);
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	drive_free(&d);
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	REQUIRE(t.n > N / 2);
	static const uint8_t sorts[] = { SEG_SORT_TIME, SEG_SORT_STATUS, SEG_SORT_METHOD,
					 SEG_SORT_HOST, SEG_SORT_TYPE, SEG_SORT_SIZE,
					 SEG_SORT_DURATION };
	static const size_t offs[] = { 0, 1, 7, 150 }, lims[] = { 1, 10, 200 };
	unsigned pages = 0;
	for (size_t si = 0; si < sizeof(sorts); si++)
		for (int rev = 0; rev < 2; rev++)
			for (int variant = 0; variant < 3; variant++) {
				struct seg_query q = { .sort = sorts[si], .reverse = rev };
				if (variant == 1)
					q.search = "get";
				if (variant == 2)
					q.match = odd_rows;
				struct seg_result all;
				REQUIRE_RC(seg_query_run(&t, &q, &all));
				for (size_t oi = 0; oi < 4; oi++)
					for (size_t li = 0; li < 3; li++) {
						q.offset = offs[oi];
						q.limit = lims[li];
						struct seg_result pg;
						REQUIRE_RC(seg_query_run(&t, &q, &pg));
						CHECK_EQ(pg.total, all.total);
						size_t want = all.total > q.offset ? all.total - q.offset : 0;
						want = want < q.limit ? want : q.limit;
						CHECK_EQ(pg.n, want);
						for (size_t i = 0; i < pg.n && i < want; i++)
							CHECK_EQ(pg.idx[i], all.idx[q.offset + i]);
						seg_result_free(&pg);
						pages++;
					}
				seg_result_free(&all);
			}
	fprintf(stderr, "%u pages compared\n", pages);
	seg_table_free(&t);
	rm_rf(dir);
	return check_done("persist_topk");
}
