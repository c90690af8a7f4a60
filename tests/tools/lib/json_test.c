/*
 * tests/tools/lib/json_test.c - tools/lib/json.c and the text helpers of
 * fmt.c: the one writer escapes every byte into valid JSON (into a buffer
 * and into a FILE); reading through jansson accepts well-formed bodies and
 * refuses each kind of malformed input with an error naming the place;
 * percent-decoding refuses bad escapes and %00.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lib/fmt.h"
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

/* Parses text; returns rc and keeps err. */
static char err[256];

static int parse(const char *text, json_t **out)
{
	err[0] = '\0';
	return rc_json_parse(text, strlen(text), out, err, sizeof(err));
}

static void test_read(void)
{
	const char *s = " {\"name\" : \"caf\\u00e9 \\ud83d\\ude00\", \"n\":12, \"on\":true,"
			"\"f\":{\"a\":[1,{\"b\":\"]\"}]}, \"ids\":[1, 2,3], \"z\":null} ";
	json_t *o = NULL;
	CHECK(rc_json_parse_object(s, strlen(s), &o, err, sizeof(err)) == 0);
	CHECK(strcmp(json_string_value(json_object_get(o, "name")), "caf\xc3\xa9 \xf0\x9f\x98\x80") == 0);
	uint64_t n = 0;
	CHECK(rc_json_u64(json_object_get(o, "n"), &n) == 0 && n == 12);
	CHECK(json_is_true(json_object_get(o, "on")));
	CHECK(json_array_size(json_object_get(o, "ids")) == 3);
	CHECK(strcmp(rc_json_type_name(json_object_get(o, "f")), "an object") == 0);
	CHECK(strcmp(rc_json_type_name(json_object_get(o, "z")), "null") == 0);
	static const char *const keys[] = { "name", "n", "on", "f", "ids", "z" };
	CHECK(rc_json_keys_known(o, keys, 6, err, sizeof(err)) == 0);
	CHECK(rc_json_keys_known(o, keys, 5, err, sizeof(err)) == -EINVAL);
	CHECK(strcmp(err, "unknown key 'z' (keys: name, n, on, f, ids)") == 0);
	json_decref(o);
	/* numbers rc_json_u64 refuses */
	static const char *const not_u64[] = { "[-1]", "[1.5]", "[1e3]", "[\"1\"]", "[true]" };
	for (size_t i = 0; i < sizeof(not_u64) / sizeof(not_u64[0]); i++) {
		CHECK(parse(not_u64[i], &o) == 0);
		CHECK(rc_json_u64(json_array_get(o, 0), &n) == -EINVAL);
		json_decref(o);
	}
	CHECK(rc_u64_text("18446744073709551615", &n) == 0 && n == UINT64_MAX);
	CHECK(rc_u64_text("18446744073709551616", &n) == -EINVAL);
	CHECK(rc_u64_text("", &n) == -EINVAL);
	CHECK(rc_u64_text("12a", &n) == -EINVAL);
	CHECK(rc_u64_text("-1", &n) == -EINVAL);
}

static void test_bad(void)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "", "invalid JSON:" },
		{ "{", "invalid JSON:" },
		{ "{\"a\":1} x", "bytes after the end at byte 8" },
		{ "{\"a\":1}{}", "bytes after the end" },
		{ "{\"a\":1,\"a\":2}", "given twice" },
		{ "{\"a\":\"\\u0000\"}", "invalid JSON:" },
		{ "{\"a\":\"\\ud800\"}", "invalid JSON:" },
		{ "{\"a\":\"\xff\"}", "invalid JSON:" },
		{ "{\"a\":\"\xc3\"}", "invalid JSON:" },
		{ "{\"a\":\"x\x01\"}", "invalid JSON:" },
		{ "{\"a\":01}", "invalid JSON:" },
		{ "{\"a\":[1,]}", "invalid JSON:" },
		{ "{a:1}", "invalid JSON:" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = NULL;
		int rc = parse(bad[i].text, &o);
		CHECK_MSG(rc == -EINVAL && o == NULL && strstr(err, bad[i].want) != NULL,
			  "'%s': rc %d, err '%s', want '%s'", bad[i].text, rc, err, bad[i].want);
	}
	json_t *o = NULL;
	CHECK(rc_json_parse_object("[]", 2, &o, err, sizeof(err)) == -EINVAL && o == NULL);
	CHECK(strstr(err, "expected an object") != NULL);
	/* deep nesting is an error, not a crash */
	static char deep[20001];
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	CHECK(parse(deep, &o) == -EINVAL && o == NULL);
}

static void test_pct(void)
{
	char out[16];
	CHECK(rc_pct_decode("x%20y+z", 7, true, out, sizeof(out)) == 5 && !strcmp(out, "x y z"));
	CHECK(rc_pct_decode("x%20y+z", 7, false, out, sizeof(out)) == 5 && !strcmp(out, "x y+z"));
	CHECK(rc_pct_decode("%zz", 3, true, out, sizeof(out)) == -EINVAL);
	CHECK(rc_pct_decode("%2", 2, true, out, sizeof(out)) == -EINVAL);
	CHECK(rc_pct_decode("%00", 3, true, out, sizeof(out)) == -EINVAL);
	CHECK(rc_pct_decode("0123456789abcdef", 16, true, out, sizeof(out)) == -E2BIG);
	CHECK(rc_hexval('a') == 10 && rc_hexval('F') == 15 && rc_hexval('g') == -1);
}

/* The FILE* form goes through the same escaper. */
static void test_file_writer(void)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	rc_json_str(f, "a\"b\\c\n\x01\x7f\xc3\xa9\x80", 11);
	fclose(f);
	CHECK(strcmp(mem, "\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\\u0080\"") == 0);
	free(mem);
}

int main(void)
{
	test_writer();
	test_read();
	test_bad();
	test_pct();
	test_file_writer();
	return check_done("json_test");
}
