/* tests/tools/views/filter_test.c: the shared filter flags and the
 * query-time predicate (tools/filterargs.c).
 *   - rc_filter_args takes exactly the filter flags out of argv (both
 *     "--flag v" and "--flag=v"), keeps the rest in order, stops at "--",
 *     and names the flag and quotes the bad part on error;
 *   - rc_filter_row over a real session decides every row as the capture
 *     sink would from the true headers (flt_match_request on the method and
 *     URL, flt_match_response on status and Content-Type), including rows
 *     the index cannot decide alone: audio vs video (index: "media"),
 *     urlencoded vs multipart forms, a mime substring, a method the index
 *     calls "other";
 *   - without stored response heads it falls back as documented.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist/query.h"
#include "tests/persist/gen.h"
#include "tools/views/filter.h"

struct ex {
	const char *method, *url, *ct;
	uint16_t status;
};

static const struct ex exs[] = {
	{ "GET", "http://m.test/song.mp3", "audio/mpeg", 200 },
	{ "GET", "http://m.test/clip.mp4", "video/mp4", 206 },
	{ "POST", "http://f.test/login", "application/x-www-form-urlencoded", 302 },
	{ "POST", "http://f.test/upload", "multipart/form-data; boundary=x", 201 },
	{ "GET", "http://d.test/Report.PDF", "application/pdf", 200 },
	{ "PROPFIND", "http://dav.test/files/", "application/xml; charset=utf-8", 207 },
	{ "GET", "http://w.test/index?q=a%20b", "text/html", 404 },
	{ "DELETE", "http://api.test/v2/users/7", NULL, 204 },
	{ "GET", "http://api.test/v1/users/7", "application/problem+json", 500 },
};
#define NEX (sizeof(exs) / sizeof(exs[0]))

static void write_session(const char *dir, bool save_responses)
{
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .save_responses = save_responses };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	for (size_t i = 0; i < NEX; i++) {
		const struct ex *e = &exs[i];
		char req[256], resp[256];
		int rl = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", e->method,
				  e->url);
		int hl = snprintf(resp, sizeof(resp), "HTTP/1.1 %u X\r\n%s%s%sContent-Length: 0\r\n\r\n",
				  e->status, e->ct ? "Content-Type: " : "", e->ct ? e->ct : "",
				  e->ct ? "\r\n" : "");
		struct seg_xch_begin b = {
			.start_ns = 1700000000000000000ull + i, .method = e->method,
			.method_len = strlen(e->method), .host = "x", .host_len = 1, .url = e->url,
			.url_len = strlen(e->url), .req_head = req, .req_head_len = (size_t)rl,
			.client = { .family = 4, .port = 5000, .addr = { 10, 1, 2, (uint8_t)i } },
		};
		struct seg_xch *x;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
		const char *ct = e->ct ? e->ct : "";
		REQUIRE_RC(seg_xch_resp_head(w, x, e->status, "X", 1, resp, (size_t)hl,
					   seg_type_from_mime(ct, strlen(ct))));
		struct seg_xch_end en = { .status = e->status };
		REQUIRE_RC(seg_xch_end(w, x, &en));
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
}

/* The capture sink's decision from the true fields of exchange i. */
static bool truth(struct rc_filter *f, size_t i)
{
	const struct ex *e = &exs[i];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint8_t a[4] = { 10, 1, 2, (uint8_t)i };
	memcpy(&sa.sin_addr, a, 4);
	enum flt_verdict v = flt_match_request(f->db, f->scratch, e->method, e->url,
					       strlen(e->url), (struct sockaddr *)&sa, NULL);
	if (v != FLT_PENDING)
		return v == FLT_ACCEPT;
	return flt_match_response(f->db, e->status, e->ct, e->ct ? strlen(e->ct) : 0);
}

/* argv for a spec given as one string of space-separated words. */
static int split(char *s, char **argv, int cap)
{
	int n = 0;
	argv[n++] = "ls";
	for (char *t = strtok(s, " "); t && n < cap - 1; t = strtok(NULL, " "))
		argv[n++] = t;
	argv[n] = NULL;
	return n;
}

/* Rows of dir accepted by spec, as a bit mask over exs[] (by URL). */
static unsigned listed(const char *dir, struct rc_filter *f)
{
	struct seg_table t;
	struct seg_query q = { 0 };
	struct seg_result res;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	CHECK(t.n == NEX);
	rc_filter_query(f, dir, &q);
	REQUIRE_RC(seg_query_run(&t, &q, &res));
	unsigned m = 0;
	for (size_t k = 0; k < res.n; k++) {
		const struct seg_qrow *r = &t.rows[res.idx[k]];
		for (size_t i = 0; i < NEX; i++)
			if (strlen(exs[i].url) == r->e.url_len && !memcmp(exs[i].url, r->url, r->e.url_len))
				m |= 1u << i;
	}
	seg_result_free(&res);
	seg_table_free(&t);
	return m;
}

static void compile_spec(const char *spec, struct rc_filter *f)
{
	char buf[256], err[256];
	char *argv[32];
	snprintf(buf, sizeof(buf), "%s", spec);
	int argc = split(buf, argv, 32);
	rc_filter_init(f);
	int rc = rc_filter_args(f, &argc, argv, err, sizeof(err));
	if (rc < 0 || argc != 1)
		fprintf(stderr, "spec '%s': %d argc %d: %s\n", spec, rc, argc, rc < 0 ? err : "");
	CHECK(rc == 0 && argc == 1);
	REQUIRE_RC(rc_filter_compile(f, err, sizeof(err)));
}

static const char *const specs[] = {
	"--type audio", "--type video", "--type media", "--type text", "--type binary",
	"--type application/pdf", "--type application/PDF,json", "--type xml --status 2xx",
	"--method PROPFIND", "--method propfind,DELETE", "--method GET --status 2xx",
	"--status 5xx --type json", "--url-contains report.pdf", "--url-regex ^http://api\\.test/v[0-9]/",
	"--url-excludes .test/v", "--client 10.1.2.0/30", "--client 10.1.2.5 --type none",
	"--url-contains %20", "--type none",
};

static void test_predicate(const char *dir)
{
	size_t loads = 0;
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		struct rc_filter f;
		compile_spec(specs[s], &f);
		CHECK(rc_filter_active(&f));
		unsigned want = 0;
		for (size_t i = 0; i < NEX; i++)
			want |= truth(&f, i) ? 1u << i : 0;
		unsigned got = listed(dir, &f);
		if (got != want)
			fprintf(stderr, "spec '%s': got %#x want %#x\n", specs[s], got, want);
		CHECK(got == want);
		loads += f.loads;
		rc_filter_free(&f);
	}
	REQUIRE(loads > 0 && loads < NEX * 8); /* heads read only where needed */
	fprintf(stderr, "  %zu specs agree with the capture decision (%zu head reads)\n",
		sizeof(specs) / sizeof(specs[0]), loads);
}

/* No stored response heads: media is audio or video, mimes match nothing. */
static void test_fallback(const char *dir)
{
	static const struct { const char *spec; unsigned want; } cases[] = {
		{ "--type audio", 0x3 }, { "--type video", 0x3 }, { "--type application/pdf", 0 },
		{ "--type text", 0xc }, { "--type html", 0x40 }, { "--type binary", 0x1c },
	};
	for (size_t s = 0; s < sizeof(cases) / sizeof(cases[0]); s++) {
		struct rc_filter f;
		compile_spec(cases[s].spec, &f);
		unsigned got = listed(dir, &f);
		if (got != cases[s].want)
			fprintf(stderr, "fallback '%s': got %#x want %#x\n", cases[s].spec, got,
				cases[s].want);
		CHECK(got == cases[s].want);
		rc_filter_free(&f);
	}
}

static void test_args(void)
{
	char *argv[] = { "ls", "S", "--method", "get,post", "--json", "--url-regex=^/a",
			 "--limit", "5", "--status=2xx", "--", "--type", "json", NULL };
	int argc = 12;
	char err[256];
	struct rc_filter f;
	rc_filter_init(&f);
	REQUIRE_RC(rc_filter_args(&f, &argc, argv, err, sizeof(err)));
	const char *rest[] = { "ls", "S", "--json", "--limit", "5", "--", "--type", "json" };
	CHECK(argc == 8 && argv[8] == NULL);
	for (int i = 0; i < argc; i++)
		CHECK(strcmp(argv[i], rest[i]) == 0);
	CHECK(f.spec.n_methods == 2 && !strcmp(f.spec.methods[1], "POST"));
	CHECK(f.spec.n_urls == 1 && f.spec.n_status == 1 && f.spec.type_mask == 0);
	rc_filter_free(&f);

	static const struct { const char *args, *quote; int rc; } bad[] = {
		{ "--client 10.0.0.0/33", "'10.0.0.0/33'", -EINVAL },
		{ "--status=6xx", "'6xx'", -EINVAL },
		{ "--type jsonx", "'jsonx'", -EINVAL },
		{ "--json --method", "'--method'", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[128];
		char *av[16];
		snprintf(buf, sizeof(buf), "%s", bad[i].args);
		int ac = split(buf, av, 16);
		rc_filter_init(&f);
		err[0] = '\0';
		CHECK(rc_filter_args(&f, &ac, av, err, sizeof(err)) == bad[i].rc);
		REQUIRE(strstr(err, bad[i].quote) != NULL);
		rc_filter_free(&f);
	}
	/* A bad regex is refused (by the spec parser or the compiler), quoted. */
	char *av[] = { "run", "--url-regex", "([", NULL };
	int ac = 3;
	rc_filter_init(&f);
	int rc = rc_filter_args(&f, &ac, av, err, sizeof(err));
	if (rc == 0)
		rc = rc_filter_compile(&f, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "'(['"));
	CHECK(!rc_filter_active(&f));
	rc_filter_free(&f);
	/* An empty spec compiles to nothing: no predicate is installed. */
	char *av2[] = { "ls", NULL };
	ac = 1;
	rc_filter_init(&f);
	REQUIRE_RC(rc_filter_args(&f, &ac, av2, err, sizeof(err)));
	REQUIRE_RC(rc_filter_compile(&f, err, sizeof(err)));
	struct seg_query q = { 0 };
	rc_filter_query(&f, "/nonexistent", &q);
	CHECK(!rc_filter_active(&f) && q.match == NULL);
	rc_filter_free(&f);
}

int main(void)
{
	char dir[64], dir2[64];
	test_args();
	make_tmpdir(dir, sizeof(dir), "fargs");
	write_session(dir, true);
	test_predicate(dir);
	make_tmpdir(dir2, sizeof(dir2), "fargs-nr");
	write_session(dir2, false);
	test_fallback(dir2);
	rm_rf(dir);
	rm_rf(dir2);
	return check_done("filterargs");
}
