/* tests/tools/views/ship_row_test.c: one exchange as a ClickHouse row
 * (tools/views/ship_row.c): heads split into name/value arrays in wire
 * order, a text body as a JSON string, a binary body as base64 and
 * flagged, bodies cut at body_max and flagged, an exchange whose frames
 * are damaged still gives its index fields, identifiers checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/views/ship_row.h"
#include "tests/check.h"

#define HAS(b, s) CHECK(strstr((b).p, (s)) != NULL)

int main(void)
{
	struct ses_meta m = { .id = "1m8zfayfhbgw", .name = "lab \"a\"" };
	struct seg_entry e = { .id = 42, .start_ns = 1764816000123456789ull, .duration_ns = 2500000,
			       .status = 201, .method = SEG_M_POST, .type = SEG_T_JSON,
			       .req_size = 10, .resp_size = 20,
			       .client = { .family = 4, .port = 5555, .addr = { 10, 0, 0, 7 } } };
	char req[] = "POST /u?x=1 HTTP/1.1\r\nHost: api.example\r\nX-A:  b c\r\nbad line\r\n\r\n";
	uint8_t bin[] = { 0xff, 0x00, 0x10 };
	char text[] = "{\"k\":\"v\"}";
	struct seg_exchange x = { .id = 42, .number = 3, .method_text = "POST", .host = "api.example",
				  .url = "http://api.example/u?x=1", .client_name = "pixel7",
				  .port = 80, .http_version = 11,
				  .req_head = (uint8_t *)req, .req_head_len = strlen(req),
				  .body = { (uint8_t *)text, bin }, .body_len = { strlen(text), 3 } };
	struct rc_ship_row_cfg c = { .box = "rack-1", .bodies = true, .body_max = 1 << 20,
				     .version = 7 };
	struct rc_buf b = { 0 };
	rc_ship_row(&b, &c, &m, &e, &x);
	CHECK(!b.oom);
	HAS(b, "{\"box\":\"rack-1\",\"session\":\"1m8zfayfhbgw\",\"session_name\":\"lab \\\"a\\\"\"");
	HAS(b, "\"id\":42,\"number\":3,\"date\":\"2025-12-04\",\"time\":1764816000,\"start_ns\":1764816000123456789");
	HAS(b, "\"duration_ms\":2.500");
	HAS(b, "\"client\":\"10.0.0.7\",\"client_port\":5555,\"client_name\":\"pixel7\"");
	HAS(b, "\"req_header_names\":[\"Host\",\"X-A\"],\"req_header_values\":[\"api.example\",\"b c\"]");
	HAS(b, "\"resp_header_names\":[],\"resp_header_values\":[]");
	HAS(b, "\"req_body\":\"{\\\"k\\\":\\\"v\\\"}\",\"req_body_base64\":0,\"req_body_cut\":0");
	HAS(b, "\"resp_body\":\"/wAQ\",\"resp_body_base64\":1,\"resp_body_cut\":0");
	HAS(b, "\"version\":7}\n");
	CHECK(b.p[b.len - 1] == '\n' && memchr(b.p, '\n', b.len - 1) == NULL);

	b.len = 0;
	c.body_max = 4;
	rc_ship_row(&b, &c, &m, &e, &x);
	HAS(b, "\"req_body\":\"{\\\"k\\\"\",\"req_body_base64\":0,\"req_body_cut\":1");
	b.len = 0;
	c.bodies = false;
	rc_ship_row(&b, &c, &m, &e, &x);
	HAS(b, "\"req_body\":\"\",\"req_body_base64\":0,\"req_body_cut\":0");

	b.len = 0;
	rc_ship_row(&b, &c, &m, &e, NULL);
	HAS(b, "\"method\":\"POST\",\"scheme\":\"http\",\"http_version\":0,\"host\":\"\"");
	HAS(b, "\"error_msg\":\"frames damaged: index fields only\"");
	rc_buf_free(&b);

	CHECK(rc_ship_ident_ok("exchanges_2"));
	CHECK(rc_ship_ident_ok("_x"));
	CHECK(!rc_ship_ident_ok("2x"));
	CHECK(!rc_ship_ident_ok("a.b"));
	CHECK(!rc_ship_ident_ok("a;drop"));
	CHECK(!rc_ship_ident_ok(""));
	struct rc_buf s = { 0 };
	rc_ship_schema(&s, "d", "t", true);
	CHECK(strstr(s.p, "CREATE DATABASE IF NOT EXISTS d;") == s.p);
	CHECK(strstr(s.p, "ENGINE = ReplacingMergeTree(version)") != NULL);
	rc_buf_free(&s);
	return check_done("ship_row_test");
}
