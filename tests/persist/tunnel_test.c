/* tests/persist/tunnel_test.c: the tunnel kind of a CONNECT row (flags
 * bits 11..13, enum seg_tunnel). Writes one CONNECT row of each kind the
 * way the capture sink does (kind and SEG_F_TUNNEL at END), one as an old
 * session did (SEG_F_TUNNEL at BEGIN, no kind) and one GET, then checks
 * that the index rows and the opened exchanges carry the kinds, that
 * seg_tunnel_name reads each (the old row as "tunnel", as before) and
 * that a refused row keeps its error kind.
 */
#include "tests/persist/gen.h"
#include "persist/query.h"

struct row {
	const char *method, *url;
	uint32_t begin_flags, end_flags;
	uint8_t error;
	const char *name;
};

#define K(k) ((uint32_t)(k) << SEG_F_TUN_SHIFT)

static const struct row rows[] = {
	{ "CONNECT", "a.example:443", 0, K(SEG_TUN_INTERCEPTED), 0, "intercepted" },
	{ "CONNECT", "b.example:443", 0, K(SEG_TUN_PASSTHROUGH) | SEG_F_TUNNEL, 0, "passthrough" },
	{ "CONNECT", "c.example:22", 0, K(SEG_TUN_NOT_TLS) | SEG_F_TUNNEL, 0, "not_tls" },
	{ "CONNECT", "d.example:443", 0, K(SEG_TUN_REFUSED), SEG_E_CERT_REFUSED, "refused" },
	{ "CONNECT", "e.example:443", 0, K(SEG_TUN_BLIND) | SEG_F_TUNNEL, 0, "blind" },
	{ "CONNECT", "old.example:443", SEG_F_TUNNEL, 0, 0, "tunnel" },   /* an old session */
	{ "GET", "http://f.example/", 0, 0, 0, "" },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const struct row *row_of(const char *url, size_t n)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strlen(rows[i].url) == n && memcmp(rows[i].url, url, n) == 0)
			return &rows[i];
	return NULL;
}

int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "tun");
	struct seg_writer *w;
	struct seg_writer_cfg c = { .session_dir = dir, .worker = 0 };
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		char head[128];
		int hl = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n\r\n", r->method, r->url);
		struct seg_xch_begin b = {
			.start_ns = now_wall_ns(), .http_version = 11, .port = 443,
			.scheme = r->method[0] == 'C' ? SEG_SCHEME_TUNNEL : SEG_SCHEME_HTTP,
			.flags = r->begin_flags, .method = r->method, .method_len = strlen(r->method),
			.host = "h", .host_len = 1, .url = r->url, .url_len = strlen(r->url),
			.req_head = head, .req_head_len = (size_t)hl,
		};
		struct seg_xch *x;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
		struct seg_xch_end e = { .status = 200, .error = r->error, .flags = r->end_flags };
		REQUIRE_RC(seg_xch_end(w, x, &e));
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);

	struct seg_table t = {0};
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	REQUIRE(t.n == NROWS);
	for (size_t i = 0; i < t.n; i++) {
		const struct row *r = row_of(t.rows[i].url, t.rows[i].e.url_len);
		REQUIRE(r != NULL);
		CHECK_STR(seg_tunnel_name(t.rows[i].e.flags), r->name);
		CHECK(t.rows[i].e.error == r->error);
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &t.rows[i].e, NULL, &x));
		CHECK_STR(seg_tunnel_name(x.flags), r->name);
		CHECK(seg_tunnel_of(x.flags) == seg_tunnel_of(t.rows[i].e.flags));
		seg_exchange_free(&x);
	}
	seg_table_free(&t);
	CHECK_STR(seg_error_name(SEG_E_CERT_REFUSED), "cert_refused");
	/* the flag bits stay clear of each other */
	CHECK((SEG_F_TUN_MASK & (SEG_F_TLS | SEG_F_TUNNEL | SEG_F_REQ_TRUNC | SEG_F_RESP_TRUNC |
				 SEG_F_MEDIA | SEG_F_ERROR | SEG_F_DELETED | SEG_F_NO_RESP |
				 SEG_F_HEAD_TRUNC | SEG_F_COOKIES | SEG_F_STR_EXT)) == 0);
	rm_rf(dir);
	return check_done("tunnel_test");
}
