/* tests/persist/query_test.c: the query layer over a two-worker session:
 * every sort key in both directions (checked pairwise), paging equal to
 * slices of the full order, search against a brute-force count, a caller
 * predicate, tombstones (appended, applied on load, excluded by default),
 * group counts and the time series summing to the matched total.
 */
#include <strings.h>

#include "tests/persist/gen.h"
#include "persist/query.h"

#define N 3000

static int cmp_rows(const struct seg_qrow *a, const struct seg_qrow *b, int sort)
{
	uint64_t x = 0, y = 0;
	switch (sort) {
	case SEG_SORT_TIME: x = a->e.start_ns; y = b->e.start_ns; break;
	case SEG_SORT_STATUS: x = a->e.status; y = b->e.status; break;
	case SEG_SORT_SIZE: x = a->e.resp_size; y = b->e.resp_size; break;
	case SEG_SORT_DURATION: x = a->e.duration_ns; y = b->e.duration_ns; break;
	case SEG_SORT_METHOD: {
		int c = strcmp(seg_method_name(a->e.method), seg_method_name(b->e.method));
		if (c)
			return c;
		break;
	}
	case SEG_SORT_TYPE: {
		int c = strcmp(seg_type_name(a->e.type), seg_type_name(b->e.type));
		if (c)
			return c;
		break;
	}
	case SEG_SORT_URL: {
		int c = memcmp(a->url, b->url, a->e.url_len < b->e.url_len ? a->e.url_len : b->e.url_len);
		if (!c)
			c = (a->e.url_len > b->e.url_len) - (a->e.url_len < b->e.url_len);
		if (c)
			return c;
		break;
	}
	case SEG_SORT_HOST: {
		int c = memcmp(a->host, b->host, a->e.host_len < b->e.host_len ? a->e.host_len : b->e.host_len);
		if (!c)
			c = (a->e.host_len > b->e.host_len) - (a->e.host_len < b->e.host_len);
		if (c)
			return c;
		return 0; /* host order then url: not checked further */
	}
	}
	if (x != y)
		return x < y ? -1 : 1;
	return 0;
}

static bool only_https(void *ctx, const struct seg_qrow *r)
{
	(void)ctx;
	return (r->e.flags & SEG_F_TLS) != 0;
}

static bool has_ci(const char *h, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (!strncasecmp(h + i, s, k))
			return true;
	return false;
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "qry");
	for (int i = 0; i < 2; i++) {
		struct seg_writer *w;
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
		struct drive d;
		drive_init(&d, 40 + (uint64_t)i, N, 0, 16, 8000);
		drive_run(&d, w, N);
		REQUIRE_RC(seg_writer_flush_sync(w));
		seg_writer_close(w);
		drive_free(&d);
	}
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK(t.n == 2 * N && t.deleted == 0);

	for (int sort = 0; sort < SEG_SORT_COUNT; sort++) {
		for (int rev = 0; rev < 2; rev++) {
			struct seg_query q = { .sort = (uint8_t)sort, .reverse = rev };
			struct seg_result r;
			REQUIRE_RC(seg_query_run(&t, &q, &r));
			CHECK(r.total == 2 * N && r.n == 2 * N);
			for (size_t i = 1; i < r.n; i++) {
				int c = cmp_rows(&t.rows[r.idx[i - 1]], &t.rows[r.idx[i]], sort);
				REQUIRE(rev ? c >= 0 : c <= 0);
			}
			/* Pages are slices of the full order. */
			struct seg_query pq = q;
			pq.offset = 777;
			pq.limit = 50;
			struct seg_result pr;
			REQUIRE_RC(seg_query_run(&t, &pq, &pr));
			CHECK(pr.n == 50 && pr.total == 2 * N);
			CHECK(!memcmp(pr.idx, r.idx + 777, 50 * sizeof(*pr.idx)));
			seg_result_free(&pr);
			pq.offset = 2 * N - 3;
			REQUIRE_RC(seg_query_run(&t, &pq, &pr));
			CHECK(pr.n == 3);
			seg_result_free(&pr);
			seg_result_free(&r);
		}
	}
	CHECK(seg_sort_parse("duration") == SEG_SORT_DURATION && seg_sort_parse("x") == -EINVAL);

	/* Search: URL/host contain (any case), method or status equal. */
	const char *needles[] = { "USERS/12", "cdn.example", "post", "404", "orders?page=7&" };
	for (size_t k = 0; k < 5; k++) {
		size_t want = 0;
		for (size_t i = 0; i < t.n; i++) {
			const struct seg_qrow *r = &t.rows[i];
			char st[8];
			snprintf(st, sizeof(st), "%u", r->e.status);
			want += has_ci(r->url, r->e.url_len, needles[k]) ||
				has_ci(r->host, r->e.host_len, needles[k]) ||
				!strcasecmp(needles[k], seg_method_name(r->e.method)) || !strcmp(needles[k], st);
		}
		struct seg_query q = { .search = needles[k], .limit = 10 };
		struct seg_result r;
		REQUIRE_RC(seg_query_run(&t, &q, &r));
		REQUIRE(r.total == want && want > 0);
		seg_result_free(&r);
	}
	struct seg_query hq = { .match = only_https };
	struct seg_result hr;
	REQUIRE_RC(seg_query_run(&t, &hq, &hr));
	REQUIRE(hr.total > 0 && hr.total < 2 * N);
	for (size_t i = 0; i < hr.n; i++)
		CHECK(t.rows[hr.idx[i]].e.flags & SEG_F_TLS);
	seg_result_free(&hr);

	/* Groups and series sum to the total. */
	for (int g = 0; g < SEG_G_COUNT; g++) {
		struct seg_group_row rows[8];
		size_t n;
		struct seg_query q = { 0 };
		REQUIRE_RC(seg_group_count(&t, &q, (enum seg_group)g, rows, 8, &n));
		uint64_t sum = 0;
		for (size_t i = 0; i < n; i++) {
			sum += rows[i].count;
			REQUIRE(i == 0 || rows[i].count <= rows[i - 1].count || !strcmp(rows[i].key, "(other)"));
		}
		REQUIRE(sum == 2 * N && n > 1);
		fprintf(stderr, "  group %d: %s=%llu ... (%zu groups)\n", g, rows[0].key,
			(unsigned long long)rows[0].count, n);
	}
	uint64_t counts[4096], iv = 0, t0;
	size_t nb;
	REQUIRE_RC(seg_timeseries(&t, NULL, &iv, counts, 4096, &nb, &t0));
	uint64_t sum = 0;
	for (size_t i = 0; i < nb; i++)
		sum += counts[i];
	REQUIRE(sum == 2 * N && iv == 1000000000ull && t0 <= t.t_min);
	uint64_t small = 1000000; /* 1 ms over ~3 s: too many buckets */
	CHECK(seg_timeseries(&t, NULL, &small, counts, 100, &nb, &t0) == -ERANGE);

	/* Tombstones. */
	uint64_t dead[3] = { t.rows[0].e.id, t.rows[10].e.id, t.rows[2 * N - 1].e.id };
	seg_table_free(&t);
	REQUIRE_RC(seg_tombstone(dir, dead, 3, now_wall_ns()));
	REQUIRE_RC(seg_tombstone(dir, dead, 1, now_wall_ns())); /* twice is harmless */
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK(t.n == 2 * N && t.deleted == 3);
	struct seg_query q = { 0 };
	struct seg_result r;
	REQUIRE_RC(seg_query_run(&t, &q, &r));
	CHECK(r.total == 2 * N - 3);
	for (size_t i = 0; i < r.n; i++)
		CHECK(t.rows[r.idx[i]].e.id != dead[0] && t.rows[r.idx[i]].e.id != dead[2]);
	seg_result_free(&r);
	q.include_deleted = true;
	REQUIRE_RC(seg_query_run(&t, &q, &r));
	CHECK(r.total == 2 * N);
	seg_result_free(&r);
	/* The frames are untouched: the exchange still opens (for undelete/fsck). */
	struct seg_exchange x;
	REQUIRE_RC(seg_open_id(dir, dead[1], NULL, &x));
	seg_exchange_free(&x);
	seg_table_free(&t);
	rm_rf(dir);
	return check_done("persist_query");
}
