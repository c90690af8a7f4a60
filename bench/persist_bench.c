/* bench/persist_bench.c: measurements behind the persist defaults and the
 * capture-store targets of issue 4:
 *   1. compression ratio and writer speed per frame size and zstd level on
 *      realistic HTTP records (JSON/HTML text bodies, already-compressed
 *      bodies, 0.6-0.9 KB header blocks), and the cost of opening one
 *      exchange (decompressing its frame);
 *   2. a synthetic session of N exchanges (default 1,000,000) written
 *      straight through persist/, then: table load, sort+page by duration
 *      and by URL, search, group counts, opening random exchanges, tail
 *      recovery, full index rebuild.
 * usage: persist_bench [N [DIR [--quick]]]  (DIR default /tmp; files removed
 * after unless --quick, which also skips part 1)
 * The exchanges come from bench/realistic.h, shared with bench/gen_session.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "bench/realistic.h"
#include "tests/persist/gen.h"

static double secs(uint64_t a, uint64_t b) { return (double)(b - a) / 1e9; }

static void bench_compression(const char *base)
{
	static const uint32_t sizes[] = { 16384, 32768, 65536, 131072, 262144, 524288 };
	static const int levels[] = { 1, 3 };
	const uint64_t n = 20000;
	printf("\n1. compression on realistic records (%llu exchanges, ~50%% JSON, 15%% HTML,"
	       " 25%% already-compressed, 10%% empty bodies)\n", (unsigned long long)n);
	printf("%-8s %-5s %8s %10s %12s %14s\n", "frame", "level", "ratio", "B/exch", "write MB/s",
	       "open 1 exch us");
	for (size_t li = 0; li < 2; li++) {
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			char dir[128];
			snprintf(dir, sizeof(dir), "%s/rc-bench-XXXXXX", base);
			REQUIRE(mkdtemp(dir));
			struct seg_writer *w;
			struct seg_writer_cfg c = { .session_dir = dir, .frame_bytes = sizes[si],
						    .zstd_level = levels[li], .save_responses = true };
			REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
			writer_ns = 0;
			for (uint64_t k = 0; k < n; k++)
				put_exchange(w, 77, k, false, false);
			uint64_t t0 = mono_ns();
			REQUIRE_RC(seg_writer_flush_sync(w));
			uint64_t t1 = mono_ns() + writer_ns;
			struct seg_writer_stats st;
			seg_writer_get_stats(w, &st);
			seg_writer_close(w);
			uint64_t o0 = mono_ns();
			for (uint64_t i = 0; i < 200; i++) {
				struct seg_exchange x;
				struct seg_open_opts o = { .body_max = { 1 << 20, 1 << 20 } };
				REQUIRE_RC(seg_open_id(dir, 1 + gen_mix(i) % n, &o, &x));
				seg_exchange_free(&x);
			}
			uint64_t o1 = mono_ns();
			printf("%-8u %-5d %8.2f %10.0f %12.0f %14.0f\n", sizes[si], levels[li],
			       (double)st.bytes_raw / (double)st.bytes_disk,
			       (double)st.bytes_disk / (double)n,
			       (double)st.bytes_raw / 1e6 / secs(t0, t1), (double)(o1 - o0) / 200 / 1e3);
			rm_rf(dir);
		}
	}
}

/* A synthetic session of n small exchanges over two workers. */
static void gen_session(const char *dir, uint64_t n)
{
	struct seg_writer *w[2];
	for (int i = 0; i < 2; i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i,
					    .save_responses = true };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w[i]));
	}
	for (uint64_t k = 0; k < n; k++)
		put_exchange(w[k & 1], 99, k, true, false);
	for (int i = 0; i < 2; i++) {
		REQUIRE_RC(seg_writer_flush_sync(w[i]));
		seg_writer_close(w[i]);
	}
}

static void timed_query(const struct seg_table *t, const char *what, struct seg_query *q)
{
	struct seg_result r;
	uint64_t a = mono_ns();
	REQUIRE_RC(seg_query_run(t, q, &r));
	uint64_t b = mono_ns();
	printf("  %-40s %8.1f ms  (%zu matched)\n", what, secs(a, b) * 1e3, r.total);
	seg_result_free(&r);
}

/* Long on purpose: the benchmark's steps in the order they are timed. */
int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	const char *base = argc > 2 ? argv[2] : "/tmp";
	bool quick = argc > 3 && !strcmp(argv[3], "--quick"); /* skip part 1, keep the session */
	if (!quick)
		bench_compression(base);

	char dir[128];
	snprintf(dir, sizeof(dir), "%s/rc-bench-XXXXXX", base);
	REQUIRE(mkdtemp(dir));
	printf("\n2. synthetic session of %llu exchanges (2 workers) in %s\n",
	       (unsigned long long)n, dir);
	writer_ns = 0;
	gen_session(dir, n);
	uint64_t a = 0, b = writer_ns;
	struct seg_report rep = { 0 };
	printf("  write: %.2f s in persist calls (%.0f exchanges/s, one thread, page cache)\n",
	       secs(a, b), (double)n / secs(a, b));
	struct seg_table t;
	a = mono_ns();
	REQUIRE_RC(seg_table_load(dir, &t, &rep));
	b = mono_ns();
	printf("  %-40s %8.1f ms  (%zu rows)\n", "table load (index + strings)", secs(a, b) * 1e3, t.n);
	struct seg_query q = { .sort = SEG_SORT_DURATION, .limit = 50 };
	timed_query(&t, "sort by duration, first page of 50", &q);
	q.reverse = true;
	q.offset = 500000;
	timed_query(&t, "sort by duration reversed, offset 500000", &q);
	q = (struct seg_query){ .sort = SEG_SORT_URL, .limit = 50 };
	timed_query(&t, "sort by url, first page", &q);
	q = (struct seg_query){ .sort = SEG_SORT_TIME, .limit = 50, .search = "orders?page=4" };
	timed_query(&t, "search 'orders?page=4', by time", &q);
	struct seg_group_row g[16];
	size_t ng;
	struct seg_query all = { 0 };
	a = mono_ns();
	for (int k = 0; k < SEG_G_COUNT; k++)
		REQUIRE_RC(seg_group_count(&t, &all, (enum seg_group)k, g, 16, &ng));
	b = mono_ns();
	printf("  %-40s %8.1f ms\n", "overview: 4 group counts", secs(a, b) * 1e3);
	double worst = 0, sum = 0;
	for (int i = 0; i < 100; i++) {
		const struct seg_qrow *r = &t.rows[gen_mix((uint64_t)i) % t.n];
		a = mono_ns();
		struct seg_exchange x;
		REQUIRE_RC(seg_open_id(dir, r->e.id, NULL, &x));
		seg_exchange_free(&x);
		b = mono_ns();
		sum += secs(a, b);
		worst = secs(a, b) > worst ? secs(a, b) : worst;
	}
	printf("  %-40s %8.2f ms avg, %.2f ms worst (find by id + open)\n", "open random exchange (100x)",
	       sum / 100 * 1e3, worst * 1e3);
	double sum2 = 0;
	for (int i = 0; i < 100; i++) {
		const struct seg_qrow *r = &t.rows[gen_mix((uint64_t)i + 7) % t.n];
		a = mono_ns();
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &r->e, NULL, &x));
		seg_exchange_free(&x);
		b = mono_ns();
		sum2 += secs(a, b);
	}
	printf("  %-40s %8.2f ms avg\n", "open from a listed row (100x)", sum2 / 100 * 1e3);
	seg_table_free(&t);
	memset(&rep, 0, sizeof(rep));
	a = mono_ns();
	REQUIRE_RC(seg_recover(dir, &rep));
	b = mono_ns();
	printf("  %-40s %8.1f ms\n", "crash recovery (tail segments)", secs(a, b) * 1e3);
	memset(&rep, 0, sizeof(rep));
	a = mono_ns();
	REQUIRE_RC(seg_fsck(dir, true, &rep));
	b = mono_ns();
	printf("  %-40s %8.1f ms  (%llu frames, %llu exchanges, %llu segments)\n",
	       "fsck --repair (verify + full rebuild)", secs(a, b) * 1e3,
	       (unsigned long long)rep.frames_ok, (unsigned long long)rep.exchanges,
	       (unsigned long long)rep.segments);
	if (!quick)
		rm_rf(dir);
	return 0;
}
