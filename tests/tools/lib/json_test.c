/*
 * tests/tools/lib/json_test.c - tools/json.c: the writer escapes every byte into
 * valid JSON; the reader accepts well-formed bodies member by member and
 * refuses each kind of malformed input with an error naming the place.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/lib/json.h"
#include "tests/check.h"


static void test_writer(void)
{
	struct rc_buf b = {0};
	rc_buf_jstr(&b, "a\"b\\c\n\x01\x7f", 8);
	CHECK(strcmp(b.p, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"") == 0);
	rc_buf_free(&b);
	/* valid UTF-8 passes, a stray continuation byte is escaped */
	rc_buf_jstr(&b, "\xc3\xa9\x80", 3);
	CHECK(strcmp(b.p, "\"\xc3\xa9\\u0080\"") == 0);
	rc_buf_free(&b);
	struct rc_buf small = { .max = 8 };
	rc_buf_puts(&small, "12345");
	CHECK(!small.oom);
	rc_buf_puts(&small, "6789");
	CHECK(small.oom);
	CHECK(small.len == 5);
	rc_buf_free(&small);
	rc_buf_printf(&b, "%d-%s", 42, "x");
	CHECK(b.len == 4 && strcmp(b.p, "42-x") == 0);
	rc_buf_free(&b);
}

static void test_object(void)
{
	const char *s = " {\"name\" : \"caf\\u00e9 \\ud83d\\ude00\", \"n\":12, \"on\":true,"
			"\"f\":{\"a\":[1,{\"b\":\"]\"}]}, \"ids\":[1, 2,3], \"z\":null} ";
	struct rc_jreader r;
	char err[128], key[32], str[64];
	struct rc_jval v;
	CHECK(rc_json_object_begin(&r, s, strlen(s), err, sizeof(err)) == 0);
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 1);
	CHECK(strcmp(key, "name") == 0);
	CHECK(rc_json_string(&v, str, sizeof(str)) == 10);
	CHECK(strcmp(str, "caf\xc3\xa9 \xf0\x9f\x98\x80") == 0);
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 1);
	uint64_t n = 0;
	CHECK(rc_json_u64(&v, &n) == 0 && n == 12);
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 1);
	bool on = false;
	CHECK(rc_json_bool(&v, &on) == 0 && on);
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 1);
	CHECK(v.type == RC_J_OBJECT && v.len == strlen("{\"a\":[1,{\"b\":\"]\"}]}"));
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 1);
	CHECK(v.type == RC_J_ARRAY);
	struct rc_jreader a;
	CHECK(rc_json_array_begin(&a, v.p, v.len, err, sizeof(err)) == 0);
	uint64_t sum = 0;
	int k;
	while ((k = rc_json_array_next(&a, &v, err, sizeof(err))) == 1) {
		CHECK(rc_json_u64(&v, &n) == 0);
		sum += n;
	}
	CHECK(k == 0 && sum == 6);
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 1);
	CHECK(v.type == RC_J_NULL && strcmp(key, "z") == 0);
	CHECK(rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err)) == 0);
}

/* Each body must fail somewhere in begin/next, with "byte" in the error. */
static void test_bad(void)
{
	static const char *const bad[] = {
		"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}",
		"{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":\"x}",
		"{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}", "{\"a\":[1,2}", "{\"a\":{]}",
		"{\"a\":1} x", "{\"a\":\"\x01\"}", "{a:1}", "{\"a\":1}}",
		"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rc_jreader r;
		char err[128] = "", key[32];
		struct rc_jval v;
		int rc = rc_json_object_begin(&r, bad[i], strlen(bad[i]), err, sizeof(err));
		for (int guard = 0; rc == 0 && guard < 10; guard++) {
			rc = rc_json_object_next(&r, key, sizeof(key), &v, err, sizeof(err));
			if (rc == 0) {
				rc = 1;   /* reached the end: this input was accepted */
				break;
			}
			rc = rc == 1 ? 0 : rc;
		}
		CHECK_MSG(rc == -EINVAL && strstr(err, "byte") != NULL,
			  "accepted or unclear: %s (%s)", bad[i], err);
	}
	/* strings that scan but do not decode */
	static const char *const bad_str[] = { "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"",
					       "\"\xff\"", "\"\xc3\"" };
	for (size_t i = 0; i < sizeof(bad_str) / sizeof(bad_str[0]); i++) {
		struct rc_jval v = { RC_J_STRING, bad_str[i], strlen(bad_str[i]) };
		char out[16];
		CHECK(rc_json_string(&v, out, sizeof(out)) == -EINVAL);
	}
	struct rc_jval longs = { RC_J_STRING, "\"abcdefgh\"", 10 };
	char out4[4];
	CHECK(rc_json_string(&longs, out4, sizeof(out4)) == -E2BIG);
	uint64_t n;
	struct rc_jval big = { RC_J_NUMBER, "18446744073709551616", 20 };
	CHECK(rc_json_u64(&big, &n) == -EINVAL);
	struct rc_jval neg = { RC_J_NUMBER, "-1", 2 };
	CHECK(rc_json_u64(&neg, &n) == -EINVAL);
	struct rc_jval frac = { RC_J_NUMBER, "1.5", 3 };
	CHECK(rc_json_u64(&frac, &n) == -EINVAL);
}

int main(void)
{
	test_writer();
	test_object();
	test_bad();
	return check_done("json_test");
}
