/* tests/tools/views/overview_test.c: the session overview against brute force
 * over the same index rows: for each grouping, every group's count equals
 * persist's seg_group_count and its byte sums equal a direct sum; the
 * groups and the series both add up to the live (untombstoned) rows; a
 * search and a predicate hook restrict all of it; too many groups fold
 * into "(other)"; an interval too fine for the span is -ERANGE; the JSON
 * for the API has every field.
 */
#include <strings.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "tools/views/overview.h"

#define N 2000

static bool only_https(void *ctx, const struct seg_qrow *r)
{
	(void)ctx;
	return (r->e.flags & SEG_F_TLS) != 0;
}

static void key_of(const struct seg_qrow *r, int by, char *key, size_t cap)
{
	if (by == SEG_G_METHOD)
		snprintf(key, cap, "%s", seg_method_name(r->e.method));
	else if (by == SEG_G_TYPE)
		snprintf(key, cap, "%s", seg_type_name(r->e.type));
	else if (by == SEG_G_STATUS)
		snprintf(key, cap, "%u", r->e.status);
	else
		snprintf(key, cap, "%.*s", (int)r->e.host_len, r->host);
}

/* Checks o against brute force over t's rows passing q. */
static void check_overview(const struct seg_table *t, const struct seg_query *q, int by,
			   const struct rc_overview *o)
{
	uint64_t total = 0, sum = 0, pts = 0;
	for (size_t i = 0; i < t->n; i++)
		total += seg_query_match(q, &t->rows[i]);
	REQUIRE(o->total == total && total > 0);
	for (size_t k = 0; k < o->n; k++) {
		const struct rc_overview_group *g = &o->g[k];
		uint64_t c = 0, rq = 0, rs = 0;
		char key[SEG_HOST_MAX + 1];
		for (size_t i = 0; i < t->n; i++) {
			const struct seg_qrow *r = &t->rows[i];
			key_of(r, by, key, sizeof(key));
			if (!seg_query_match(q, r) || strcmp(key, g->key) != 0)
				continue;
			c++;
			rq += r->e.req_size;
			rs += r->e.resp_size;
		}
		CHECK(g->count == c && g->request_bytes == rq && g->response_bytes == rs);
		REQUIRE(k == 0 || o->g[k - 1].count >= g->count);
		sum += g->count;
	}
	CHECK(sum == total);
	struct seg_group_row *pg = calloc(SEG_GROUP_MAX, sizeof(*pg));
	size_t pn = 0;
	REQUIRE(pg != NULL);
	REQUIRE_RC(seg_group_count(t, q, (enum seg_group)by, pg, SEG_GROUP_MAX, &pn));
	CHECK(pn == o->n);
	for (size_t k = 0; k < pn; k++) {
		size_t j = 0;
		while (j < o->n && strcmp(o->g[j].key, pg[k].key) != 0)
			j++;
		REQUIRE(j < o->n && o->g[j].count == pg[k].count);
	}
	free(pg);
	for (size_t i = 0; i < o->npoints; i++)
		pts += o->points[i];
	REQUIRE(pts == total && o->interval_ns > 0 && o->npoints <= RC_OVERVIEW_POINTS_AUTO);
}

static void write_session(const char *dir)
{
	for (int i = 0; i < 2; i++) {
		struct seg_writer *w;
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
		struct drive d;
		drive_init(&d, 70 + (uint64_t)i, N, 0, 16, 4000);
		drive_run(&d, w, N);
		REQUIRE_RC(seg_writer_flush_sync(w));
		seg_writer_close(w);
		drive_free(&d);
	}
}

/* More distinct hosts than RC_OVERVIEW_GROUPS_MAX, one exchange each. */
static void many_hosts(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "ovh");
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	const size_t hosts = RC_OVERVIEW_GROUPS_MAX + 5;
	for (size_t k = 0; k < hosts; k++) {
		char host[32], url[64];
		snprintf(host, sizeof(host), "h%05zu.test", k);
		snprintf(url, sizeof(url), "http://%s/", host);
		struct seg_xch_begin b = { .start_ns = 1700000000000000000ull + k * 1000, .method = "GET",
					   .method_len = 3, .host = host, .host_len = strlen(host),
					   .url = url, .url_len = strlen(url), .req_head = "GET / HTTP/1.1\r\n\r\n",
					   .req_head_len = 18 };
		struct seg_xch *x;
		uint64_t id;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
		struct seg_xch_end e = { .status = 200, .wire = { .req_head = 18 } };
		REQUIRE_RC(seg_xch_end(w, x, &e));
		writer_pump(w, false);
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	struct seg_table t;
	struct rc_overview o;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	REQUIRE_RC(rc_overview_compute(&t, NULL, SEG_G_DOMAIN, 0, &o));
	CHECK(o.n == RC_OVERVIEW_GROUPS_MAX && o.total == hosts);
	CHECK(!strcmp(o.g[o.n - 1].key, "(other)") && o.g[o.n - 1].count == 6);
	CHECK(o.g[o.n - 1].request_bytes == 6 * 18);
	CHECK(o.npoints == 1 && o.points[0] == hosts && o.interval_ns == 1000000000ull);
	rc_overview_free(&o);
	seg_table_free(&t);
	rm_rf(dir);
}

static void json_and_errors(const char *dir, const struct seg_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	REQUIRE(f != NULL);
	REQUIRE_RC(rc_overview_json(dir, "status", 0, NULL, f));
	fclose(f);
	CHECK(!strncmp(buf, "{\"by\":\"status\",\"total\":", 23));
	REQUIRE(strstr(buf, "\"groups\":[{\"key\":\"200\",\"count\":") != NULL);
	REQUIRE(strstr(buf, "\"series\":{\"interval_ms\":") != NULL && strstr(buf, "\"points\":[[") != NULL);
	CHECK(buf[len - 1] == '\n' && buf[len - 2] == '}');
	free(buf);
	f = open_memstream(&buf, &len);
	CHECK(rc_overview_json(dir, "colour", 0, NULL, f) == -EINVAL);
	CHECK(rc_overview_json(dir, "method", UINT64_MAX, NULL, f) == -EINVAL);
	REQUIRE(rc_overview_json("/nonexistent/session", "method", 0, NULL, f) < 0);
	fclose(f);
	CHECK(len == 0);
	free(buf);
	/* 1 us buckets over a span of seconds need more than the cap */
	struct rc_overview o;
	REQUIRE(t->t_max - t->t_min > RC_OVERVIEW_POINTS_MAX * 1000ull);
	CHECK(rc_overview_compute(t, NULL, SEG_G_METHOD, 1000u, &o) == -ERANGE);
	CHECK(o.g == NULL && o.points == NULL);
	REQUIRE_RC(rc_overview_compute(t, NULL, SEG_G_METHOD, 3600000000000ull, &o));
	CHECK(o.interval_ns == 3600000000000ull && o.t0_ns % o.interval_ns == 0);
	rc_overview_free(&o);
	CHECK(rc_overview_by("domain") == SEG_G_DOMAIN && rc_overview_by("host") == SEG_G_DOMAIN);
	CHECK(rc_overview_by("type") == SEG_G_TYPE && rc_overview_by("Method") == -EINVAL);
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "ovw");
	write_session(dir);
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK(t.n == 2 * N);
	uint64_t ids[50];
	for (size_t i = 0; i < 50; i++)
		ids[i] = t.rows[i * 17].e.id;
	seg_table_free(&t);
	REQUIRE_RC(seg_tombstone(dir, ids, 50, now_wall_ns()));
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK(t.deleted == 50);

	struct seg_query qs[3] = { { 0 }, { .search = "example" }, { .match = only_https } };
	for (int by = 0; by < SEG_G_COUNT; by++) {
		for (int k = 0; k < 3; k++) {
			struct rc_overview o;
			REQUIRE_RC(rc_overview_compute(&t, &qs[k], (uint8_t)by, 0, &o));
			REQUIRE(o.n > 1);
			check_overview(&t, &qs[k], by, &o);
			if (k == 0)
				CHECK(o.total == 2 * N - 50);
			rc_overview_free(&o);
		}
	}
	struct rc_overview o;
	REQUIRE_RC(rc_overview_compute(&t, NULL, SEG_G_STATUS, 0, &o));
	CHECK(o.total == 2 * N - 50);
	rc_overview_free(&o);
	json_and_errors(dir, &t);
	seg_table_free(&t);
	many_hosts();
	rm_rf(dir);
	return check_done("overview");
}
