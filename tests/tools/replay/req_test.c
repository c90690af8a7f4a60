/* tests/tools/replay/req_test.c: rewriting a stored exchange. The request
 * line is rebuilt in origin form (absolute form through a proxy in
 * clear); hop-by-hop headers, names listed in Connection, Content-Length
 * and --drop-header names go; --header replaces a name; Host stays as
 * recorded unless --target or --host-map moved the request; the body goes
 * out with its own Content-Length; tunnels and cut bodies are refused;
 * --target, --host-map and --ids parse and refuse bad input. */
#include <errno.h>
#include <string.h>

#include "persist/seg.h"
#include "tests/tools/replay/rp-test.h"
#include "tools/replay/req.h"
#include "tools/replay/source.h"

static const char head[] =
	"POST http://api.example:8080/v1/items?x=1 HTTP/1.1\r\n"
	"Host: api.example:8080\r\n"
	"Connection: keep-alive, X-Trace\r\n"
	"X-Trace: abc\r\n"
	"Proxy-Connection: keep-alive\r\n"
	"Authorization: Bearer old\r\n"
	"Content-Length: 5\r\n"
	"Transfer-Encoding: chunked\r\n"
	"Cookie: a=b\r\n"
	"Accept: */*\r\n"
	"\r\n";

static void exchange(struct seg_exchange *x)
{
	memset(x, 0, sizeof(*x));
	x->id = 42;
	x->scheme = SEG_SCHEME_HTTP;
	x->port = 8080;
	x->complete = true;
	x->status = 201;
	x->method_text = (char *)"POST";
	x->host = (char *)"api.example";
	x->url = (char *)"http://api.example:8080/v1/items?x=1";
	x->req_head = (uint8_t *)head;
	x->req_head_len = sizeof(head) - 1u;
	x->body[SEG_DIR_REQ] = (uint8_t *)"hello";
	x->body_len[SEG_DIR_REQ] = 5;
	x->body[SEG_DIR_RESP] = (uint8_t *)"{}";
	x->body_len[SEG_DIR_RESP] = 2;
}

static const char *text(const struct rp_req *r)
{
	static char buf[4096];
	size_t n = r->len < sizeof(buf) - 1u ? r->len : sizeof(buf) - 1u;
	memcpy(buf, r->data, n);
	buf[n] = '\0';
	return buf;
}

/* A table of recorded requests rewritten in turn (target, host map,
 * headers added and dropped, hop-by-hop removed): one case a block,
 * read top to bottom. */
int main(void)
{
	struct seg_exchange x;
	exchange(&x);
	struct rp_rewrite rw = { .diff_body = true };
	struct rp_req *r = NULL;
	CHECK(rp_req_build(&rw, &x, NULL, &r) == 0);
	const char *t = text(r);
	CHECK(strncmp(t, "POST /v1/items?x=1 HTTP/1.1\r\nHost: api.example:8080\r\n", 53) == 0);
	CHECK(strstr(t, "Connection") == NULL);
	CHECK(strstr(t, "X-Trace") == NULL);
	CHECK(strstr(t, "Transfer-Encoding") == NULL);
	CHECK(strstr(t, "Authorization: Bearer old\r\n") != NULL);
	CHECK(strstr(t, "Cookie: a=b\r\nAccept: */*\r\nContent-Length: 5\r\n\r\nhello") != NULL);
	CHECK(r->len == r->head_len + 5u);
	CHECK(strcmp(r->dest.host, "api.example") == 0);
	CHECK(r->dest.port == 8080);
	CHECK(!r->dest.tls);
	CHECK(r->expect.status == 201);
	CHECK(r->expect.size == 2);
	CHECK(r->expect.body_known);
	CHECK(r->expect.hash == seg_crc32c(0, "{}", 2));
	CHECK(strcmp(r->url, "http://api.example:8080/v1/items?x=1") == 0);
	rp_req_free(r);

	/* --target, --header replacing Authorization, --drop-header Cookie, via proxy */
	char err[256];
	CHECK(rp_dest_parse("http://127.0.0.1:9000", &rw.target, err, sizeof(err)) == 0);
	rw.has_target = true;
	rw.add[rw.nadd++] = "Authorization: Bearer new";
	rw.drop[rw.ndrop++] = "cookie";
	rw.via_proxy = true;
	CHECK(rp_req_build(&rw, &x, NULL, &r) == 0);
	t = text(r);
	CHECK(strncmp(t, "POST http://127.0.0.1:9000/v1/items?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n",
		      72) == 0);
	CHECK(strstr(t, "Bearer old") == NULL);
	CHECK(strstr(t, "Authorization: Bearer new\r\n") != NULL);
	CHECK(strstr(t, "Cookie") == NULL);
	rp_req_free(r);

	/* --host-map keeps the scheme and moves the host; https to a proxy: origin form */
	rw = (struct rp_rewrite){ .via_proxy = true };
	CHECK(rp_host_map_parse("api.example=localhost:7443", &rw.maps[0], err, sizeof(err)) == 0);
	rw.nmaps = 1;
	x.scheme = SEG_SCHEME_HTTPS;
	CHECK(rp_req_build(&rw, &x, NULL, &r) == 0);
	CHECK(r->dest.tls);
	CHECK(r->dest.port == 7443);
	CHECK(strcmp(r->dest.host, "localhost") == 0);
	t = text(r);
	CHECK(strncmp(t, "POST /v1/items?x=1 HTTP/1.1\r\nHost: localhost:7443\r\n", 51) == 0);
	rp_req_free(r);
	x.scheme = SEG_SCHEME_HTTP;

	/* refused */
	x.flags = SEG_F_REQ_TRUNC;
	CHECK(rp_req_build(&rw, &x, NULL, &r) == -EFBIG);
	x.flags = SEG_F_TUNNEL;
	CHECK(rp_req_build(&rw, &x, NULL, &r) == -EPROTONOSUPPORT);
	CHECK(r == NULL);

	CHECK(rp_dest_parse("ftp://x", &rw.target, err, sizeof(err)) == -EINVAL);
	CHECK(rp_dest_parse("http://x:99999", &rw.target, err, sizeof(err)) == -EINVAL);
	CHECK(rp_dest_parse("http://x/path", &rw.target, err, sizeof(err)) == -EINVAL);
	CHECK(rp_dest_parse("https://[::1]", &rw.target, err, sizeof(err)) == 0);
	CHECK(rw.target.port == 443);
	CHECK(strcmp(rw.target.host, "::1") == 0);
	CHECK(rp_host_map_parse("nohost", &rw.maps[0], err, sizeof(err)) == -EINVAL);
	CHECK(rp_header_valid("X-A: b"));
	CHECK(!rp_header_valid("X A: b"));
	CHECK(!rp_header_valid("novalue"));

	/* replay's --ids goes through views/ids.h (export's parser). */
	struct rc_ids ids;
	CHECK(rc_ids_parse("7,1-3,4,10-12", &ids, err, sizeof(err)) == 0);
	CHECK(ids.n == 3);
	CHECK(ids.r[0][0] == 1 && ids.r[0][1] == 4);
	CHECK(rc_ids_has(&ids, 7));
	CHECK(!rc_ids_has(&ids, 8));
	CHECK(rc_ids_has(&ids, 12));
	rc_ids_free(&ids);
	CHECK(rc_ids_parse("3-1", &ids, err, sizeof(err)) == -EINVAL);
	CHECK(rc_ids_parse("a", &ids, err, sizeof(err)) == -EINVAL);
	CHECK(rc_ids_parse("", &ids, err, sizeof(err)) == -EINVAL);
	return RP_TEST_END();
}
