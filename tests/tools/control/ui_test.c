/* tests/tools/control/ui_test.c: the web UI's embedded assets (tools/control/
 * ui.c) and QR code (qr.c). Accept-Encoding and If-None-Match parsing
 * case by case (q=0 refuses, "*" accepts, weak tags match); every asset
 * is served, its gzip variant inflates (zlib) to exactly the identity
 * bytes and carries its own ETag; a matching tag gives 304 without a
 * body; the headers carry a CSP without 'unsafe-inline' or another host;
 * the page has no inline script or handler; every module the page
 * imports is embedded. The QR SVG is read back into a module grid that
 * must equal libqrencode's matrix for the same text, with the three
 * finder patterns where the standard puts them; too small a buffer gives
 * -ENOSPC and bad text -EINVAL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>
#include <zlib.h>

#include "tools/control/qr.h"
#include "tools/control/ui.h"
#include "tests/check.h"

static void test_accepts(void)
{
	CHECK(rc_ui_accepts("gzip", "gzip"));
	CHECK(rc_ui_accepts("deflate, gzip;q=1.0, br", "gzip"));
	CHECK(rc_ui_accepts("GZIP", "gzip"));
	CHECK(rc_ui_accepts("br;q=1, *;q=0.1", "gzip"));
	CHECK(rc_ui_accepts("gzip ; q=0.5", "gzip"));
	CHECK(!rc_ui_accepts("gzip;q=0", "gzip"));
	CHECK(!rc_ui_accepts("gzip;q=0.000, br", "gzip"));
	CHECK(rc_ui_accepts("gzip;q=0.001", "gzip"));
	CHECK(!rc_ui_accepts("x-gzip, gzipx, br", "gzip"));
	CHECK(!rc_ui_accepts("", "gzip"));
	CHECK(!rc_ui_accepts(NULL, "gzip"));
	CHECK(!rc_ui_accepts("identity", "gzip"));
}

static void test_etags(void)
{
	CHECK(rc_ui_etag_matches("\"abc\"", "\"abc\""));
	CHECK(rc_ui_etag_matches("W/\"abc\"", "\"abc\""));
	CHECK(rc_ui_etag_matches("\"x\", \"y\" ,W/\"abc\"", "\"abc\""));
	CHECK(rc_ui_etag_matches("*", "\"abc\""));
	CHECK(!rc_ui_etag_matches("\"abcd\"", "\"abc\""));
	CHECK(!rc_ui_etag_matches("\"ab\"", "\"abc\""));
	CHECK(!rc_ui_etag_matches("abc", "\"abc\""));
	CHECK(!rc_ui_etag_matches("", "\"abc\""));
	CHECK(!rc_ui_etag_matches(NULL, "\"abc\""));
}

static void inflate_equal(const struct rc_ui_asset *a)
{
	unsigned char *out = malloc(a->len + 1);
	z_stream z = { .next_in = (Bytef *)a->gz, .avail_in = (uInt)a->gz_len,
		       .next_out = out, .avail_out = (uInt)a->len + 1 };
	REQUIRE(out != NULL);
	CHECK(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK);   /* gzip wrapper */
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
	CHECK(z.total_out == a->len);
	CHECK(memcmp(out, a->data, a->len) == 0);
	inflateEnd(&z);
	free(out);
}

static void test_assets(void)
{
	REQUIRE(rc_ui_assets_n >= 8);
	size_t gz = 0;
	for (unsigned i = 0; i < rc_ui_assets_n; i++) {
		const struct rc_ui_asset *a = &rc_ui_assets[i];
		struct rc_ui_reply r;
		CHECK(rc_ui_is_path(a->path));
		CHECK(rc_ui_lookup(a->path, "gzip", "", &r) == 200);
		REQUIRE(r.len > 0);
		REQUIRE(strcmp(r.etag, a->gz ? a->etag_gz : a->etag) == 0);
		REQUIRE(r.gzip == (a->gz != NULL));
		if (a->gz) {
			gz++;
			REQUIRE(a->gz_len < a->len);
			inflate_equal(a);
			CHECK(strcmp(a->etag, a->etag_gz) != 0);
		}
		CHECK(rc_ui_lookup(a->path, "br", NULL, &r) == 200);
		CHECK(!r.gzip);
		CHECK(r.body == a->data);
		CHECK(r.len == a->len);
		CHECK(rc_ui_lookup(a->path, "br", a->etag, &r) == 304);
		CHECK(r.body == NULL);
		CHECK(r.len == 0);
		/* the identity tag does not validate the gzip bytes */
		if (a->gz)
			CHECK(rc_ui_lookup(a->path, "gzip", a->etag, &r) == 200);
	}
	REQUIRE(gz >= 4);   /* the text files compress */
}

static const struct rc_ui_asset *asset(const char *path)
{
	for (unsigned i = 0; i < rc_ui_assets_n; i++)
		if (strcmp(rc_ui_assets[i].path, path) == 0)
			return &rc_ui_assets[i];
	return NULL;
}

/* Every "./x.js" imported by an embedded module is embedded too. */
static void test_imports(void)
{
	for (unsigned i = 0; i < rc_ui_assets_n; i++) {
		const struct rc_ui_asset *a = &rc_ui_assets[i];
		char *text = strndup((const char *)a->data, a->len);
		REQUIRE(text != NULL);
		for (char *p = text; (p = strstr(p, "from './")) != NULL; p += 8) {
			char path[128];
			size_t n = strcspn(p + 8, "'");
			REQUIRE(n < 100);
			snprintf(path, sizeof(path), "/ui/%.*s", (int)n, p + 8);
			if (asset(path) == NULL) {
				fprintf(stderr, "%s imports %s, which is not embedded\n", a->path, path);
				exit(1);
			}
		}
		free(text);
	}
}

static void test_page_and_headers(void)
{
	struct rc_ui_reply r;
	char h[RC_UI_HEADERS_MAX];
	CHECK(rc_ui_lookup("/", NULL, NULL, &r) == 200);
	CHECK(strncmp(r.ctype, "text/html", 9) == 0);
	char *page = strndup(r.body, r.len);
	REQUIRE(page != NULL);
	for (char *p = page; (p = strstr(p, "<script")) != NULL; p++) {
		char *end = strchr(p, '>');
		REQUIRE(end != NULL);
		REQUIRE(memmem(p, (size_t)(end - p), " src=", 5) != NULL);   /* no inline script */
	}
	CHECK(strstr(page, " onclick=") == NULL);
	CHECK(strstr(page, " style=") == NULL);
	free(page);
	CHECK(rc_ui_lookup("/index.html", NULL, NULL, &r) == 200);
	CHECK(rc_ui_lookup("/ui/nope.js", NULL, NULL, &r) == 404);
	CHECK(rc_ui_lookup("/ui/../ui/app.js", NULL, NULL, &r) == 404);
	CHECK(!rc_ui_is_path("/api/status"));
	CHECK(!rc_ui_is_path("/uix"));

	CHECK(rc_ui_lookup("/ui/app.js", "gzip", NULL, &r) == 200);
	int n = rc_ui_headers(&r, h, sizeof(h));
	REQUIRE(n > 0);
	REQUIRE(strstr(h, "Content-Security-Policy: default-src 'none'; script-src 'self';") != NULL);
	CHECK(strstr(h, "unsafe") == NULL);
	CHECK(strstr(h, "http") == NULL);
	REQUIRE(strstr(h, "Content-Encoding: gzip\r\n") != NULL);
	REQUIRE(strstr(h, "Vary: Accept-Encoding\r\n") != NULL);
	REQUIRE(strstr(h, "Cache-Control: no-cache\r\n") != NULL);
	REQUIRE(strstr(h, r.etag) != NULL);
	CHECK(rc_ui_headers(&r, h, (size_t)n) == -ENOSPC);
	CHECK(rc_ui_lookup("/ui/app.js", "gzip", r.etag, &r) == 304);
	REQUIRE(rc_ui_headers(&r, h, sizeof(h)) > 0);
	CHECK(strstr(h, "Content-Encoding") == NULL);   /* no body, no coding */
}

/* Reads the SVG's "Mx yh1v1h-1z" squares into grid[side*side]. */
static int svg_grid(const char *svg, unsigned char *grid, int side)
{
	int n = 0;
	const char *p = strstr(svg, "<path d=\"");
	REQUIRE(p != NULL);
	p += 9;
	while (*p == 'M') {
		int x, y, used;
		CHECK(sscanf(p, "M%d %dh1v1h-1z%n", &x, &y, &used) == 2);
		REQUIRE(x >= 0 && x < side);
		REQUIRE(y >= 0 && y < side);
		grid[y * side + x] = 1;
		p += used;
		n++;
	}
	REQUIRE(*p == '"');
	return n;
}

static void finder_at(const unsigned char *g, int side, int x0, int y0)
{
	for (int y = 0; y < 7; y++)
		for (int x = 0; x < 7; x++) {
			bool ring = x == 0 || y == 0 || x == 6 || y == 6;
			bool core = x >= 2 && x <= 4 && y >= 2 && y <= 4;
			REQUIRE(g[(y0 + y) * side + x0 + x] == (ring || core));
		}
}

static void test_qr(void)
{
	static char svg[RC_QR_SVG_MAX];
	const char *url = "http://ringcap.cert/";
	long n = rc_qr_svg(url, svg, sizeof(svg));
	REQUIRE(n > 0);
	REQUIRE((size_t)n == strlen(svg));
	int side;
	REQUIRE(sscanf(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d", &side) == 1);
	QRcode *q = QRcode_encodeString(url, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	REQUIRE(q != NULL);
	CHECK(side == q->width + 8);
	unsigned char *g = calloc((size_t)side * (size_t)side, 1);
	REQUIRE(g != NULL);
	int dark = svg_grid(svg, g, side), want = 0;
	for (int y = 0; y < side; y++)
		for (int x = 0; x < side; x++) {
			bool inside = x >= 4 && y >= 4 && x < side - 4 && y < side - 4;
			bool d = inside && (q->data[(y - 4) * q->width + (x - 4)] & 1);
			want += d;
			CHECK(g[y * side + x] == d);   /* quiet zone white, modules as encoded */
		}
	CHECK(dark == want);
	finder_at(g, side, 4, 4);
	finder_at(g, side, side - 11, 4);
	finder_at(g, side, 4, side - 11);
	QRcode_free(q);
	free(g);
	for (size_t cap = 0; cap < (size_t)n + 1; cap += 97)
		CHECK(rc_qr_svg(url, svg, cap) == -ENOSPC);
	CHECK(rc_qr_svg(url, svg, (size_t)n) == -ENOSPC);
	CHECK(rc_qr_svg(url, svg, (size_t)n + 1) == n);
	CHECK(rc_qr_svg("", svg, sizeof(svg)) == -EINVAL);
	char big[RC_QR_TEXT_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(rc_qr_svg(big, svg, sizeof(svg)) == -EINVAL);
	big[RC_QR_TEXT_MAX] = '\0';
	REQUIRE(rc_qr_svg(big, svg, sizeof(svg)) > 0);   /* the largest text still fits */
}

int main(void)
{
	test_accepts();
	test_etags();
	test_assets();
	test_imports();
	test_page_and_headers();
	test_qr();
	printf("ui: %u assets\n", rc_ui_assets_n);
	return check_done("ui");
}
