/*
 * tests/tools/views/show_test.c - the text view of one exchange: JSON
 * indentation (nesting, empty containers, strings holding brackets and
 * escaped quotes; unbalanced, mismatched, unterminated, trailing garbage
 * and too deep refused), bodies as text with control bytes cleaned, as a
 * hexdump, or "not stored" with the reason, and errors in words; bodies
 * with a Content-Encoding: gzip and deflate (zlib-wrapped and raw) shown
 * decoded, one stored short decoded as far as it goes, a decompression
 * bomb cut at RC_SHOW_DECODED_MAX, bytes that do not inflate and other
 * codings shown as stored with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tools/views/show.h"
#include "tests/check.h"


static bool pretty_is(const char *in, const char *want)
{
	struct rc_buf b = {0};
	int rc = rc_json_pretty(&b, in, strlen(in));
	bool ok = rc == 0 && b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
	if (!ok)
		fprintf(stderr, "pretty(%s) = %d '%.*s'\n", in, rc, (int)b.len, b.p ? b.p : "");
	rc_buf_free(&b);
	return ok;
}

static bool pretty_refused(const char *in)
{
	struct rc_buf b = {0};
	int rc = rc_json_pretty(&b, in, strlen(in));
	bool ok = rc < 0 && b.len == 0;
	rc_buf_free(&b);
	return ok;
}

static void check_pretty(void)
{
	CHECK(pretty_is("{\"a\":[1,2],\"b\":{}}", "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}"));
	CHECK(pretty_is(" [ ] ", "[]"));
	CHECK(pretty_is("[\"x]\\\"{\",true]", "[\n  \"x]\\\"{\",\n  true\n]"));
	CHECK(pretty_is("{ \"k\" : null }\n", "{\n  \"k\": null\n}"));
	CHECK(pretty_refused("{\"a\":1"));
	CHECK(pretty_refused("[1}"));
	CHECK(pretty_refused("[\"open]"));
	CHECK(pretty_refused("{} x"));
	CHECK(pretty_refused("42"));
	CHECK(pretty_refused(""));
	char deep[2 * RC_SHOW_JSON_DEPTH + 8];
	size_t n = 0;
	for (size_t i = 0; i <= RC_SHOW_JSON_DEPTH; i++)
		deep[n++] = '[';
	for (size_t i = 0; i <= RC_SHOW_JSON_DEPTH; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	CHECK(pretty_refused(deep));
}

static char *text_of(struct seg_exchange *x, bool heads_only)
{
	struct rc_buf b = {0};
	rc_exchange_text(&b, x, 7, heads_only);
	rc_buf_add(&b, "", 1);
	return b.p;
}

static void check_exchange(void)
{
	static uint8_t req[] = "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n";
	static uint8_t resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
	static uint8_t body[] = "hello\x1b[2Jworld, and a longer line of plain text\n";
	uint8_t bin[300];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)i;
	struct seg_exchange x = {
		.complete = true, .req_head = req, .req_head_len = sizeof(req) - 1,
		.resp_head = resp, .resp_head_len = sizeof(resp) - 1, .status = 200,
		.client = { .family = 4, .port = 5000, .addr = { 10, 0, 0, 2 } },
		.client_name = "pixel7", .err_msg = "",
	};
	x.body[SEG_DIR_RESP] = body;
	x.body_len[SEG_DIR_RESP] = sizeof(body) - 1;
	char *t = text_of(&x, false);
	CHECK(strstr(t, "GET http://h/ HTTP/1.1\nHost: h\n\nHTTP/1.1 200 OK\n") != NULL);
	CHECK(strstr(t, "hello?[2Jworld, and") != NULL);   /* ESC cannot reach the terminal */
	CHECK(strstr(t, "exchange 7, ") != NULL);
	CHECK(strstr(t, "client pixel7 (10.0.0.2:5000)") != NULL);
	CHECK(strchr(t, '\r') == NULL);
	free(t);
	t = text_of(&x, true);
	CHECK(strstr(t, "hello") == NULL && strstr(t, "timings") != NULL);
	free(t);

	x.body[SEG_DIR_RESP] = bin;
	x.body_len[SEG_DIR_RESP] = sizeof(bin);
	t = text_of(&x, false);
	CHECK(strstr(t, "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  |") != NULL);
	CHECK(strstr(t, "... 44 more bytes") != NULL);
	free(t);

	x.flags = SEG_F_MEDIA;
	x.body_len[SEG_DIR_RESP] = 0;
	t = text_of(&x, false);
	CHECK(strstr(t, "not stored: text/plain (media)") != NULL);
	free(t);
	x.flags = SEG_F_NO_RESP;
	x.resp_head_len = 0;
	x.error = SEG_E_TIMEOUT;
	x.err_msg = "upstream: 30 s";
	t = text_of(&x, false);
	CHECK(strstr(t, "status 200 (response head not stored: save-responses was off)") != NULL);
	CHECK(strstr(t, "error    no answer in time: upstream: 30 s") != NULL);
	free(t);
	CHECK(strcmp(rc_error_words(200), rc_error_words(SEG_E_OTHER)) == 0);
}

/* src[0..n) deflated with window bits wbits (31: gzip, 15: zlib, -15:
 * raw) into a malloc'd buffer; *out_n its length. */
static uint8_t *deflated(const uint8_t *src, size_t n, int wbits, size_t *out_n)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	CHECK(deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	size_t cap = deflateBound(&z, (uLong)n);
	uint8_t *out = malloc(cap);
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	*out_n = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* The text of a response with Content-Encoding ce and body p[0..n). */
static char *coded_text(const char *ce, const uint8_t *p, size_t n)
{
	static char resp[256];
	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Encoding: %s\r\n\r\n", ce);
	static uint8_t req[] = "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n";
	struct seg_exchange x = {
		.complete = true, .req_head = req, .req_head_len = sizeof(req) - 1,
		.resp_head = (uint8_t *)resp, .resp_head_len = strlen(resp), .status = 200,
		.err_msg = "",
	};
	x.body[SEG_DIR_RESP] = (uint8_t *)(uintptr_t)p;   /* read only */
	x.body_len[SEG_DIR_RESP] = n;
	return text_of(&x, false);
}

static void check_coded(void)
{
	static const uint8_t doc[] = "{\"a\":[1,2],\"b\":\"plain words plain words plain\"}";
	static const char want[] = "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"plain";
	static const struct { const char *ce; int wbits; } ok[] = {
		{ "gzip", 31 }, { "GZIP", 31 }, { "x-gzip", 31 }, { "deflate", 15 },
		{ "deflate", -15 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n;
		uint8_t *z = deflated(doc, sizeof(doc) - 1, ok[i].wbits, &n);
		char *t = coded_text(ok[i].ce, z, n);
		CHECK_MSG(strstr(t, want) != NULL, "%s/%d: %s", ok[i].ce, ok[i].wbits, t);
		CHECK(strstr(t, "(decoded from ") != NULL);
		free(t);
		/* stored short: decoded as far as it goes */
		t = coded_text(ok[i].ce, z, n - 6);
		CHECK_MSG(strstr(t, "plain words") != NULL, "%s short: %s", ok[i].ce, t);
		free(t);
		free(z);
	}
	/* bytes that do not inflate, and a coding this does not read: as stored */
	char *t = coded_text("gzip", doc, sizeof(doc) - 1);
	CHECK(strstr(t, "(Content-Encoding gzip: not decoded: the bytes do not inflate)") != NULL);
	CHECK(strstr(t, "{\n  \"a\"") != NULL);
	free(t);
	t = coded_text("br", (const uint8_t *)"\x01\x02\x03", 3);
	CHECK(strstr(t, "00000000  01 02 03") != NULL);
	CHECK(strstr(t, "(Content-Encoding br: not decoded)") != NULL);
	free(t);
	t = coded_text("x\x1b[2J", (const uint8_t *)"ab", 2);   /* the peer's words, cleaned */
	CHECK(strstr(t, "(Content-Encoding x?[2J: not decoded)") != NULL && !strchr(t, 0x1b));
	free(t);
	t = coded_text("identity", doc, sizeof(doc) - 1);
	CHECK(strstr(t, want) != NULL && strstr(t, "decoded") == NULL);
	free(t);
	/* a bomb: 80 MiB of zeros in ~80 KiB; decoded up to the bound */
	size_t big = 80u << 20, n;
	uint8_t *zeros = calloc(1, big);
	uint8_t *z = deflated(zeros, big, 31, &n);
	free(zeros);
	CHECK(n < (1u << 20));
	t = coded_text("gzip", z, n);
	CHECK_MSG(strstr(t, "; decoded only the first 64.0 MiB)") != NULL, "%s", t);
	free(t);
	free(z);
}

int main(void)
{
	check_pretty();
	check_exchange();
	check_coded();
	return check_done("show_test");
}
