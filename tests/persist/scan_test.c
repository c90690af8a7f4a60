/* tests/persist/scan_test.c: the streaming selection (persist/scan.h)
 * hands out exactly the rows of seg_table_load + seg_query_run, in the
 * same order, with the same text: every sort it supports, both
 * directions, pages, search, a match callback, tombstones, keys kept in
 * memory and spilled in many runs, and sessions whose index files are
 * missing, cut short or whose string file is damaged (healed from the
 * frames, as the table does). Two workers with 16 exchanges open at once
 * and small segments: index order is not start order, text spans
 * segments.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/scan.h"
#include "tests/persist/gen.h"

#define N 3000u

static bool only_https(void *ctx, const struct seg_qrow *r)
{
	(void)ctx;
	return (r->e.flags & SEG_F_TLS) != 0;
}

static bool same_row(const struct seg_qrow *a, const struct seg_qrow *b)
{
	return a->e.id == b->e.id && a->e.flags == b->e.flags && a->number == b->number &&
	       a->e.host_len == b->e.host_len && a->e.url_len == b->e.url_len &&
	       a->e.start_ns == b->e.start_ns && a->e.worker == b->e.worker &&
	       a->e.segno == b->e.segno && a->e.frame_off == b->e.frame_off &&
	       !memcmp(a->host, b->host, a->e.host_len) && !memcmp(a->url, b->url, a->e.url_len) &&
	       a->client_name_len == b->client_name_len &&
	       !memcmp(a->client_name, b->client_name, a->client_name_len);
}

/* Runs q both ways; returns the rows compared. */
static size_t compare(const char *dir, const struct seg_query *q, size_t mem, size_t *runs)
{
	struct seg_table t;
	struct seg_result res;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	REQUIRE_RC(seg_query_run(&t, q, &res));
	struct seg_scan *s;
	struct seg_scan_cfg cfg = { .q = q, .keys_mem_max = mem };
	REQUIRE_RC(seg_scan_open(dir, &cfg, &s, NULL));
	CHECK(seg_scan_total(s) == res.total);
	CHECK(seg_scan_count(s) == res.n);
	*runs = seg_scan_runs(s);
	size_t k = 0;
	struct seg_qrow r;
	int rc;
	while ((rc = seg_scan_next(s, &r)) == 1) {
		REQUIRE(k < res.n);
		if (!same_row(&r, &t.rows[res.idx[k]])) {
			fprintf(stderr, "row %zu: id %llu, want %llu\n", k, (unsigned long long)r.e.id,
				(unsigned long long)t.rows[res.idx[k]].e.id);
			CHECK(false);
			break;
		}
		k++;
	}
	CHECK(rc == 0 || rc == 1);
	CHECK(k == res.n);
	seg_scan_close(s);
	seg_result_free(&res);
	seg_table_free(&t);
	return k;
}

static void all_queries(const char *dir, const char *what)
{
	static const uint8_t sorts[] = { SEG_SORT_TIME, SEG_SORT_SIZE, SEG_SORT_DURATION,
					 SEG_SORT_STATUS, SEG_SORT_METHOD, SEG_SORT_TYPE,
					 SEG_SORT_HOST, SEG_SORT_URL };
	size_t rows = 0, runs_max = 0;
	for (size_t si = 0; si < sizeof(sorts); si++) {
		for (int rev = 0; rev < 2; rev++) {
			for (int mem = 0; mem < 2; mem++) {
				size_t m = mem ? SEG_SCAN_KEYS_MEM_MIN : 0, runs;
				struct seg_query q = { .sort = sorts[si], .reverse = rev };
				rows += compare(dir, &q, m, &runs);
				CHECK(mem ? runs > 10 : runs == 0);
				runs_max = runs > runs_max ? runs : runs_max;
				q.offset = 777;
				q.limit = 50;
				rows += compare(dir, &q, m, &runs);
				q.offset = 2 * N - 3;
				rows += compare(dir, &q, m, &runs);
				q = (struct seg_query){ .sort = sorts[si], .reverse = rev,
							.search = "USERS/1" };
				rows += compare(dir, &q, m, &runs);
				q = (struct seg_query){ .sort = sorts[si], .reverse = rev,
							.match = only_https, .include_deleted = true };
				rows += compare(dir, &q, m, &runs);
			}
		}
	}
	fprintf(stderr, "  %s: %zu rows compared, up to %zu runs\n", what, rows, runs_max);
}

static void damage_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	REQUIRE(fd >= 0);
	uint8_t b;
	REQUIRE(pread(fd, &b, 1, off) == 1);
	b ^= 0x5a;
	REQUIRE(pwrite(fd, &b, 1, off) == 1);
	close(fd);
}

/* A session of more distinct hosts than the host sort ranks in 16 bits
 * (query.c then orders by host, URL, id): 70,000 exchanges without
 * bodies over 66,000 hosts and 7 paths, so host and URL ties need the
 * next key and URL ties the id. */
static void many_hosts(void)
{
	char dir[64], host[32], url[64];
	make_tmpdir(dir, sizeof(dir), "scanhosts");
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .rotate_bytes = 1u << 20 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	for (uint32_t k = 0; k < 70000; k++) {
		int hl = snprintf(host, sizeof(host), "h%05u.test", (k * 7919u) % 66000u);
		int ul = snprintf(url, sizeof(url), "http://%s/p/%u", host, k % 7u);
		struct seg_xch_begin b = { .start_ns = 1700000000000000000ull + k * 1000ull,
					   .http_version = 11, .port = 80, .method = "GET",
					   .method_len = 3, .host = host, .host_len = (size_t)hl,
					   .url = url, .url_len = (size_t)ul };
		struct seg_xch *x;
		uint64_t id;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
		REQUIRE_RC(seg_xch_resp_head(w, x, 200, "OK", 2, "HTTP/1.1 200 OK\r\n\r\n", 19,
					     SEG_T_TEXT));
		struct seg_xch_end e = { .status = 200 };
		REQUIRE_RC(seg_xch_end(w, x, &e));
		writer_pump(w, false);
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	size_t rows = 0, runs;
	for (int rev = 0; rev < 2; rev++) {
		for (int mem = 0; mem < 2; mem++) {
			size_t m = mem ? SEG_SCAN_KEYS_MEM_MIN : 0;
			struct seg_query q = { .sort = SEG_SORT_HOST, .reverse = rev };
			rows += compare(dir, &q, m, &runs);
			CHECK(mem ? runs > 10 : runs == 0);
			q.sort = SEG_SORT_URL;
			q.offset = 1000;
			rows += compare(dir, &q, m, &runs);
		}
	}
	CHECK(rows > 4 * 69000);
	fprintf(stderr, "  66,000 hosts: %zu rows compared\n", rows);
	rm_rf(dir);
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "scan");
	for (int i = 0; i < 2; i++) {
		struct seg_writer *w;
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i,
					    .rotate_bytes = 256u << 10 };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
		struct drive d;
		drive_init(&d, 70 + (uint64_t)i, N, 0, 16, 8000);
		drive_run(&d, w, N);
		REQUIRE_RC(seg_writer_flush_sync(w));
		seg_writer_close(w);
		drive_free(&d);
	}
	struct seg_query bad = { .sort = SEG_SORT_COUNT };
	struct seg_scan *s;
	CHECK(!seg_scan_supports(&bad));
	CHECK(seg_scan_open(dir, &(struct seg_scan_cfg){ .q = &bad }, &s, NULL) == -ENOTSUP);
	CHECK(seg_scan_supports(NULL));

	all_queries(dir, "sound session");

	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	uint64_t dead[3] = { t.rows[0].e.id, t.rows[10].e.id, t.rows[t.n - 1].e.id };
	seg_table_free(&t);
	REQUIRE_RC(seg_tombstone(dir, dead, 3, now_wall_ns()));
	all_queries(dir, "3 tombstones");

	/* Damage: one index gone, one cut inside an entry, one string file
	 * with a flipped byte. */
	char path[128];
	snprintf(path, sizeof(path), "%s/w000-00000002.idx", dir);
	REQUIRE(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/w001-00000001.idx", dir);
	struct stat sb;
	REQUIRE(stat(path, &sb) == 0 && sb.st_size > 32 + 10 * 96);
	REQUIRE(truncate(path, 32 + 10 * 96 + 40) == 0);
	snprintf(path, sizeof(path), "%s/w001-00000002.str", dir);
	damage_byte(path, 200);
	struct seg_report rt = { 0 }, rs = { 0 };
	REQUIRE_RC(seg_table_load(dir, &t, &rt));
	seg_table_free(&t);
	REQUIRE_RC(seg_scan_open(dir, NULL, &s, &rs));
	seg_scan_close(s);
	CHECK(rs.indexes_healed == rt.indexes_healed && rs.indexes_healed >= 2);
	CHECK(rs.entries_recovered == rt.entries_recovered && rs.entries_recovered > 0);
	CHECK_MSG(rs.strings_recovered == rt.strings_recovered && rs.strings_recovered > 0, "strings %llu %llu bad %llu %llu", (unsigned long long)rs.strings_recovered, (unsigned long long)rt.strings_recovered, (unsigned long long)rs.strings_bad, (unsigned long long)rt.strings_bad);
	CHECK(rs.strings_bad == rt.strings_bad);
	all_queries(dir, "damaged session");

	rm_rf(dir);
	many_hosts();
	return check_done("persist_scan");
}
