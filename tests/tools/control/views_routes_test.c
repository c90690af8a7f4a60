/* tests/tools/control/views_routes_test.c: the overview and cookie routes of the API
 * (tools/control/views_routes.c) over a session written through persist's writer:
 * every query parameter and its bad forms (each 400 names the part),
 * both cookie formats, deletion by key list and of everything, and the
 * malformed bodies (each -EINVAL with a sentence).
 */
#include "tests/persist/gen.h"
#include "tools/lib/json.h"
#include "tools/control/views_routes.h"

#define T0 1790000000000000000ull
#define SEC 1000000000ull

static void xchg(struct seg_writer *w, uint64_t t, const char *req_cookie, const char *set)
{
	char req[1024], resp[1024];
	const char *url = "http://shop.example.com/a/b";
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: shop.example.com\r\nCookie: %s\r\n\r\n",
		 url, req_cookie);
	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nSet-Cookie: %s\r\n\r\n", set);
	struct seg_xch_begin b = { .start_ns = t, .method = "GET", .method_len = 3,
				   .host = "shop.example.com", .host_len = 16, .url = url,
				   .url_len = strlen(url), .req_head = req, .req_head_len = strlen(req),
				   .flags = SEG_F_COOKIES };
	struct seg_xch *x;
	uint64_t id;
	REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
	REQUIRE_RC(seg_xch_resp_head(w, x, 200, "OK", 2, resp, strlen(resp), SEG_T_JSON));
	struct seg_xch_end e = { .status = 200 };
	REQUIRE_RC(seg_xch_end(w, x, &e));
	REQUIRE_RC(seg_writer_flush_sync(w));
}

static char err[512];

static int overview(const char *dir, const char *query, struct rc_buf *b)
{
	rc_buf_free(b);
	err[0] = '\0';
	return rc_views_overview(dir, query, b, err, sizeof(err));
}

static int cookies(const char *dir, const char *method, const char *query, const char *body,
		   struct rc_buf *b, const char **ctype)
{
	rc_buf_free(b);
	err[0] = '\0';
	if (strcmp(method, "GET") == 0)
		return rc_views_cookies_get(dir, query, b, ctype, err, sizeof(err));
	return rc_views_cookies_delete(dir, body, body ? strlen(body) : 0, b, err, sizeof(err));
}

static void overview_cases(const char *dir)
{
	struct rc_buf b = {0};
	CHECK(overview(dir, "by=status", &b) == 0);
	CHECK(!strncmp(b.p, "{\"by\":\"status\",\"total\":3,", 25));
	CHECK(strstr(b.p, "{\"key\":\"200\",\"count\":3,"));
	CHECK(overview(dir, "", &b) == 0 && !strncmp(b.p, "{\"by\":\"method\"", 14));
	CHECK(overview(dir, NULL, &b) == 0);
	CHECK(overview(dir, "by=domain&interval_ms=500&search=shop", &b) == 0);
	CHECK(strstr(b.p, "\"interval_ms\":500,") && strstr(b.p, "\"key\":\"shop.example.com\""));
	CHECK(overview(dir, "by=method&search=nothing-matches", &b) == 0);
	CHECK(strstr(b.p, "\"total\":0,") && strstr(b.p, "\"groups\":[]"));
	CHECK(overview(dir, "by=colour", &b) == -EINVAL && strstr(err, "colour"));
	CHECK(overview(dir, "interval_ms=abc", &b) == -EINVAL && strstr(err, "interval_ms"));
	CHECK(overview(dir, "interval_ms=0", &b) == -EINVAL);
	CHECK(overview(dir, "interval_ms=-5", &b) == -EINVAL);
	CHECK(overview(dir, "by=%zz", &b) == -EINVAL && strstr(err, "'by'"));
	CHECK(overview(dir, "interval_ms=1", &b) == 0); /* 2 s span: 2001 points */
	CHECK(overview("/nonexistent/session", "by=type", &b) == -EIO);
	rc_buf_free(&b);
}

static void cookie_cases(const char *dir)
{
	struct rc_buf b = {0};
	const char *ct = NULL;
	CHECK(cookies(dir, "GET", NULL, NULL, &b, &ct) == 0 && !strcmp(ct, "application/json"));
	CHECK(b.p[0] == '[' && strstr(b.p, "\"name\":\"theme\",\"value\":\"light\""));
	CHECK(cookies(dir, "GET", "format=netscape", NULL, &b, &ct) == 0);
	CHECK(!strncmp(ct, "text/plain", 10) && !strncmp(b.p, "# Netscape HTTP Cookie File", 27));
	CHECK(strstr(b.p, "shop.example.com\tFALSE\t/a\tFALSE\t0\tsid\t3\n"));
	CHECK(cookies(dir, "GET", "format=xml", NULL, &b, &ct) == -EINVAL && strstr(err, "xml"));

	const char *bad[] = { NULL, "", "{}", "{\"bogus\":1}", "{\"all\":false}", "[1]",
			      "{\"cookies\":{}}", "{\"cookies\":[1]}", "{\"cookies\":[{\"name\":\"x\"}]}",
			      "{\"cookies\":[{\"name\":1,\"domain\":\"d\",\"path\":\"/\"}]}",
			      "{\"cookies\":[{\"name\":\"a\",\"domain\":\"d\",\"path\":\"/\",\"x\":\"\"}]}",
			      "{\"cookies\":[],\"all\":true}", "{\"cookies\":[" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = cookies(dir, "DELETE", NULL, bad[i], &b, &ct);
		if (st != -EINVAL)
			fprintf(stderr, "body %s: %d\n", bad[i] ? bad[i] : "(none)", st);
		CHECK(st == -EINVAL && err[0] != '\0');
	}
	CHECK(cookies(dir, "DELETE", NULL, "{\"cookies\":[]}", &b, &ct) == 0);
	CHECK(!strcmp(b.p, "{\"deleted\":0}"));
	CHECK(cookies(dir, "DELETE", NULL, "{\"cookies\":[{\"name\":\"theme\",\"domain\":"
		      "\"shop.example.com\",\"path\":\"/\"}]}", &b, &ct) == 0);
	CHECK(!strcmp(b.p, "{\"deleted\":1}"));
	CHECK(cookies(dir, "GET", NULL, NULL, &b, &ct) == 0 && !strstr(b.p, "\"theme\""));
	CHECK(strstr(b.p, "\"sid\""));
	CHECK(cookies(dir, "DELETE", NULL, " {\"all\": true} ", &b, &ct) == 0);
	CHECK(!strcmp(b.p, "{\"deleted\":3}")); /* sid both ways, pref */
	CHECK(cookies(dir, "GET", NULL, NULL, &b, &ct) == 0 && !strcmp(b.p, "[]\n"));
	rc_buf_free(&b);
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "vapi");
	struct seg_writer *w;
	struct seg_writer_cfg cfg = { .session_dir = dir, .save_responses = true };
	REQUIRE_RC(seg_writer_open(&cfg, now_wall_ns(), &w));
	xchg(w, T0, "sid=1; theme=dark", "sid=2; Path=/a");
	xchg(w, T0 + SEC, "sid=2", "sid=3");
	xchg(w, T0 + 2 * SEC, "theme=light", "pref=x; Path=/");
	seg_writer_close(w);
	overview_cases(dir);
	cookie_cases(dir);
	rm_rf(dir);
	return check_done("viewsapi");
}
