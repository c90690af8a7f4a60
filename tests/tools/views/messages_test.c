/*
 * tests/tools/views/messages_test.c - WebSocket messages as JSON and text
 * (tools/views/messages.c): text payloads as JSON strings, binary, invalid
 * UTF-8, NUL bytes and cut text in base64 (each decoded back byte-exact by
 * jansson and a base64 decoder here), close code and reason, directions,
 * flags; the text listing cleans control bytes and says what was cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tools/views/messages.h"
#include "tests/check.h"

static struct seg_msg msg(uint8_t dir, uint8_t op, const void *p, size_t n, uint64_t len)
{
	struct seg_msg m = { .dir = dir, .opcode = op, .start_ns = 1700000000123456789ull,
			     .len = len, .wire_len = len, .data_len = n };
	m.data = malloc(n ? n : 1);
	memcpy(m.data, p, n);
	return m;
}

static int b64val(int c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *q = c ? strchr(a, c) : NULL;
	return q ? (int)(q - a) : -1;
}

/* Decodes standard base64 with padding; returns the length, or -1. */
static long unb64(const char *s, uint8_t *out)
{
	size_t n = strlen(s), o = 0;
	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++)
			v[k] = s[i + k] == '=' ? 0 : b64val(s[i + k]);
		if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
			return -1;
		uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		out[o++] = (uint8_t)(w >> 16);
		if (s[i + 2] != '=')
			out[o++] = (uint8_t)(w >> 8);
		if (s[i + 3] != '=')
			out[o++] = (uint8_t)w;
	}
	return (long)o;
}

/* The stored bytes of one JSON message, whatever its encoding. */
static bool data_is(json_t *m, const void *want, size_t n)
{
	const char *enc = json_string_value(json_object_get(m, "encoding"));
	json_t *d = json_object_get(m, "data");
	static uint8_t buf[4096];
	if (enc && strcmp(enc, "text") == 0)
		return json_string_length(d) == n && memcmp(json_string_value(d), want, n) == 0;
	long k = unb64(json_string_value(d), buf);
	return k == (long)n && memcmp(buf, want, n) == 0;
}

/* Long on purpose: a list of independent cases, read top to bottom. */
static void test_json(void)
{
	static const uint8_t bin[] = { 0, 1, 2, 0xff, 0xfe, '"', '\\' };
	static const char text[] = "h\xc3\xa9llo \"q\" \\ \n";
	static const uint8_t bad_utf8[] = { 'a', 0xc3 };   /* cut inside a character */
	static const uint8_t with_nul[] = { 'a', 0, 'b' };
	struct seg_msg ms[] = {
		msg(SEG_DIR_REQ, 1, text, strlen(text), strlen(text)),
		msg(SEG_DIR_RESP, 2, bin, sizeof(bin), sizeof(bin)),
		msg(SEG_DIR_REQ, 1, bad_utf8, sizeof(bad_utf8), 100),
		msg(SEG_DIR_RESP, 1, with_nul, sizeof(with_nul), 3),
		msg(SEG_DIR_REQ, 8, "\x0f\xa0" "caf\xc3\xa9", 7, 7),
		msg(SEG_DIR_RESP, 9, "", 0, 0),
	};
	ms[2].cut = true;
	ms[1].deflated = true;
	struct seg_exchange x = { .msgs = ms, .nmsgs = sizeof(ms) / sizeof(ms[0]) };
	struct rc_buf b = {0};
	rc_msgs_json(&b, &x);
	REQUIRE(!b.oom);
	json_error_t err;
	json_t *a = json_loadb(b.p, b.len, JSON_ALLOW_NUL, &err);
	REQUIRE(a != NULL);
	REQUIRE(json_array_size(a) == x.nmsgs);
	const char *enc[] = { "text", "base64", "base64", "base64", "base64", "base64" };
	const char *type[] = { "text", "binary", "text", "text", "close", "ping" };
	for (size_t i = 0; i < x.nmsgs; i++) {
		json_t *m = json_array_get(a, i);
		CHECK_MSG(data_is(m, ms[i].data, ms[i].data_len), "message %zu data", i);
		CHECK_STR(json_string_value(json_object_get(m, "encoding")), enc[i]);
		CHECK_STR(json_string_value(json_object_get(m, "type")), type[i]);
		CHECK_STR(json_string_value(json_object_get(m, "direction")),
			  ms[i].dir == SEG_DIR_REQ ? "send" : "receive");
		CHECK_EQ(json_integer_value(json_object_get(m, "opcode")), ms[i].opcode);
		CHECK_EQ(json_integer_value(json_object_get(m, "length")), ms[i].len);
		CHECK(json_is_true(json_object_get(m, "cut")) == ms[i].cut);
		CHECK(json_is_true(json_object_get(m, "deflated")) == ms[i].deflated);
		CHECK_STR(json_string_value(json_object_get(m, "time")), "2023-11-14T22:13:20.123Z");
	}
	json_t *close = json_array_get(a, 4);
	CHECK_EQ(json_integer_value(json_object_get(close, "close_code")), 4000);
	CHECK_STR(json_string_value(json_object_get(close, "close_reason")), "caf\xc3\xa9");
	CHECK(json_object_get(json_array_get(a, 0), "close_code") == NULL);
	json_decref(a);
	rc_buf_free(&b);

	/* the text listing */
	rc_msgs_text(&b, &x);
	REQUIRE(!b.oom);
	rc_buf_add(&b, "", 1);
	CHECK(strstr(b.p, "WebSocket messages (6)") != NULL);
	CHECK(strstr(b.p, "-> 2023-11-14T22:13:20.123Z text") != NULL);
	CHECK(strstr(b.p, "h\xc3\xa9llo \"q\" \\ ?") != NULL);   /* the newline cleaned */
	CHECK(strstr(b.p, "<- 2023-11-14T22:13:20.123Z binary 7 bytes, deflated") != NULL);
	CHECK(strstr(b.p, "0001 02ff fe22 5c") != NULL);
	CHECK(strstr(b.p, "100 bytes, cut (2 stored)") != NULL);
	CHECK(strstr(b.p, "close  7 bytes, code 4000") != NULL);
	rc_buf_free(&b);
	for (size_t i = 0; i < x.nmsgs; i++)
		free(ms[i].data);

	/* an empty message as the reader leaves it: no data buffer at all */
	struct seg_msg empty[2] = { { .opcode = 1 }, { .opcode = 2, .dir = SEG_DIR_RESP } };
	struct seg_exchange ex = { .msgs = empty, .nmsgs = 2 };
	rc_msgs_json(&b, &ex);
	rc_buf_add(&b, "", 1);
	CHECK(strstr(b.p, "\"encoding\":\"text\",\"data\":\"\"") != NULL);
	CHECK(strstr(b.p, "\"encoding\":\"base64\",\"data\":\"\"") != NULL);
	rc_buf_free(&b);
	rc_msgs_text(&b, &ex);
	CHECK(b.len > 0);
	rc_buf_free(&b);

	/* no messages: no text at all, an empty JSON list */
	struct seg_exchange none = {0};
	rc_msgs_text(&b, &none);
	CHECK_EQ(b.len, 0);
	rc_msgs_json(&b, &none);
	CHECK(b.len == 2 && memcmp(b.p, "[]", 2) == 0);
	rc_buf_free(&b);
	char buf[16];
	CHECK_STR(rc_msg_type(10, buf, sizeof(buf)), "pong");
	CHECK_STR(rc_msg_type(3, buf, sizeof(buf)), "opcode 3");
}

int main(void)
{
	test_json();
	return check_done("messages");
}
