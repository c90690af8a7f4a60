/* tests/filter/json_test.c: the JSON form — the control API example parses
 * into the same spec as the CLI flags, escapes and UTF-8 are decoded,
 * (read by jansson; the keys are the CLI flags' names, the plural ones
 * still read), every malformed shape is rejected with a message naming the
 * problem (an unknown key lists the valid ones), the
 * spec is left empty on error, and format_json round-trips. Each valid input
 * is also parsed from an exact-size heap copy (ASan catches a read past the
 * end) and each proper prefix of it must fail. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/flt.h"
#include "flt-test.h"

static char err[FLT_ERR_LEN];

/* Parses from an exact-size heap buffer (no NUL after it). */
static int parse(struct flt_spec *s, const char *json)
{
	size_t n = strlen(json);
	char *copy = malloc(n ? n : 1);
	int rc;

	memcpy(copy, json, n);
	flt_spec_init(s);
	err[0] = '\0';
	rc = flt_spec_parse_json(s, copy, n, err, sizeof(err));
	free(copy);
	return rc;
}

static void expect_bad(const char *json, const char *msg_prefix)
{
	struct flt_spec s;
	int rc = parse(&s, json);

	CHECK_MSG(rc < 0 && strncmp(err, msg_prefix, strlen(msg_prefix)) == 0,
		  "json '%s': rc %d error '%s', want prefix '%s'",
		  json, rc, err, msg_prefix);
	CHECK(flt_spec_is_empty(&s));
	flt_spec_free(&s);
}

/* Every proper prefix of a valid document is invalid. */
static void prefixes_fail(const char *json)
{
	size_t n = strlen(json);

	for (size_t k = 0; k < n; k++) {
		struct flt_spec s;
		char *copy = malloc(k ? k : 1);
		memcpy(copy, json, k);
		flt_spec_init(&s);
		int rc = flt_spec_parse_json(&s, copy, k, err, sizeof(err));
		/* Only trailing whitespace may be cut off safely. */
		bool ws_tail = true;
		for (size_t j = k; j < n; j++)
			ws_tail &= json[j] == ' ' || json[j] == '\n';
		CHECK_MSG((rc == 0) == ws_tail, "prefix %zu of '%s': rc %d", k,
			  json, rc);
		free(copy);
		flt_spec_free(&s);
	}
}

static void test_example(void)
{
	static const char *json =
		"{\"method\":[\"GET\"],\"status\":[\"2xx\",404],"
		"\"type\":[\"json\"],\"client\":[\"10.0.0.0/8\"],"
		"\"url_contains\":[\"/api/\"],\"url_excludes\":[\".png\"],"
		"\"url_regex\":[\"^/v[0-9]+/\"]}";
	/* the plural keys of earlier versions keep working */
	static const char *plural =
		"{\"methods\":[\"GET\"],\"status\":[\"2xx\",404],"
		"\"types\":[\"json\"],\"clients\":[\"10.0.0.0/8\"],"
		"\"url_contains\":[\"/api/\"],\"url_excludes\":[\".png\"],"
		"\"url_regex\":[\"^/v[0-9]+/\"]}";
	static const char *const flags[] = { "--method", "GET",
		"--status", "2xx,404", "--type", "json", "--client", "10.0.0.0/8",
		"--url-contains", "/api/", "--url-excludes", ".png",
		"--url-regex", "^/v[0-9]+/", NULL };
	struct flt_spec j, c, again;
	char out[1024];

	CHECK(parse(&j, json) == 0);
	flt_spec_init(&c);
	for (const char *const *f = flags; *f; f += 2)
		CHECK(flt_spec_add_flag(&c, f[0], f[1], err, sizeof(err)) == 0);
	CHECK(flt_spec_equal(&j, &c));

	size_t n = flt_spec_format_json(&j, out, sizeof(out));
	CHECK(n < sizeof(out) && n == strlen(out));
	CHECK_STR(out, json);
	CHECK(parse(&again, out) == 0);
	CHECK(flt_spec_equal(&again, &j));
	flt_spec_free(&again);
	CHECK(parse(&again, plural) == 0);
	CHECK(flt_spec_equal(&again, &j));
	prefixes_fail(json);

	/* Truncated output: NUL-terminated, full length still reported. */
	char small[10];
	CHECK(flt_spec_format_json(&j, small, sizeof(small)) == n);
	CHECK(strlen(small) == sizeof(small) - 1);
	flt_spec_free(&j);
	flt_spec_free(&c);
	flt_spec_free(&again);
}

static void test_valid_shapes(void)
{
	struct flt_spec s;
	char out[256];

	CHECK(parse(&s, "{}") == 0 && flt_spec_is_empty(&s));
	CHECK(flt_spec_format_json(&s, out, sizeof(out)) == 2);
	CHECK_STR(out, "{}");
	CHECK(parse(&s, " \n\t{ \r\n} \n") == 0 && flt_spec_is_empty(&s));
	CHECK(parse(&s, "{\"methods\":[]}") == 0 && flt_spec_is_empty(&s));
	prefixes_fail("{ \"status\" : [ 500 , \"4xx\" ] }\n");

	/* Escapes: \" \\ \/ \t, \u00e9 and a surrogate pair. */
	CHECK(parse(&s, "{\"url_contains\":[\"a\\\"b\\\\c\\/d\\te\","
			"\"caf\\u00e9\",\"\\ud83d\\ude00\",\"x\xc3\xa9y\"]}") == 0);
	CHECK(s.n_urls == 4);
	CHECK(s.n_urls == 4 && !strcmp(s.urls[0].text, "a\"b\\c/d\te"));
	CHECK(s.n_urls == 4 && !strcmp(s.urls[1].text, "caf\xc3\xa9"));
	CHECK(s.n_urls == 4 && !strcmp(s.urls[2].text, "\xf0\x9f\x98\x80"));
	CHECK(s.n_urls == 4 && !strcmp(s.urls[3].text, "x\xc3\xa9y"));
	flt_spec_format_json(&s, out, sizeof(out));
	CHECK_STR(out, "{\"url_contains\":[\"a\\\"b\\\\c/d\\u0009e\",\"caf\xc3\xa9\","
		  "\"\xf0\x9f\x98\x80\",\"x\xc3\xa9y\"]}");
	struct flt_spec again;
	CHECK(parse(&again, out) == 0 && flt_spec_equal(&s, &again));
	flt_spec_free(&again);
	flt_spec_free(&s);
}

static void test_errors(void)
{
	/* the grammar: jansson's message with the byte */
	expect_bad("", "JSON: ");
	expect_bad("[]", "JSON: expected an object");
	expect_bad("{\"method\":[\"GET\"]} x", "JSON: end of file expected");
	expect_bad("{\"method\":[\"GET\"]}{}", "JSON: end of file expected");
	expect_bad("{\"method\":[\"GET\",]}", "JSON: ");
	expect_bad("{\"method\":[\"GET\"],}", "JSON: ");
	expect_bad("{\"method\":[\"GET\"]", "JSON: ");
	expect_bad("{\"method\":[\"GET\" \"PUT\"]}", "JSON: ");
	expect_bad("{\"method\" [\"GET\"]}", "JSON: ");
	expect_bad("{method:[\"GET\"]}", "JSON: ");
	expect_bad("{\"method\":[\"GET]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"a\x01\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"a\\x41\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\\u0000\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\\ud83d\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\\ude00\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\\u12\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\xff\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\xc0\xaf\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\xed\xa0\x80\"]}", "JSON: ");
	expect_bad("{\"url_contains\":[\"\xe2\x82\"]}", "JSON: ");
	expect_bad("{\"method\":[\"GET\"],\"method\":[\"PUT\"]}", "JSON: duplicate object key");
	/* the shape: named */
	expect_bad("{\"colour\":[\"x\"]}", "JSON: unknown key 'colour' (keys: method, status, "
		   "type, client, url_contains, url_excludes, url_regex)");
	expect_bad("{\"method\":[\"GET\"],\"methods\":[\"PUT\"]}", "JSON: repeated key");
	expect_bad("{\"method\":\"GET\"}", "JSON: \"method\" must be an array");
	expect_bad("{\"method\":null}", "JSON: \"method\" must be an array");
	expect_bad("{\"method\":[{}]}", "JSON: expected a string in \"method\" at index 0");
	expect_bad("{\"methods\":[1]}", "JSON: expected a string in \"methods\"");
	expect_bad("{\"method\":[\"GET\",true]}", "JSON: expected a string in \"method\" at index 1");
	expect_bad("{\"url_contains\":[\"\"]}", "empty url-contains pattern");
	expect_bad("{\"status\":[404.5]}", "bad status '404.5'");
	expect_bad("{\"status\":[4e2]}", "bad status '400'");
	expect_bad("{\"status\":[-404]}", "bad status '-404'");
	expect_bad("{\"status\":[40]}", "bad status '40'");
	expect_bad("{\"status\":[600]}", "bad status '600'");
	expect_bad("{\"status\":[\"2xy\"]}", "bad status '2xy'");
	expect_bad("{\"types\":[\"jsn\"]}", "unknown content type class 'jsn'");
	expect_bad("{\"clients\":[\"10.0.0.0/33\"]}", "bad CIDR '10.0.0.0/33'");
	expect_bad("{\"url_regex\":[\"([\"]}", "invalid regex '([': ");
	/* The error after a good value still leaves the spec empty. */
	expect_bad("{\"methods\":[\"GET\"],\"types\":[\"jsn\"]}",
		   "unknown content type class 'jsn'");

	/* Too long: one value over the limit, and a body over the limit. */
	size_t n = FLT_URL_PATTERN_LEN_MAX + 1;
	char *big = malloc(n + 64);
	int k = snprintf(big, 64, "{\"url_contains\":[\"");
	memset(big + k, 'a', n);
	strcpy(big + k + n, "\"]}");
	expect_bad(big, "value too long 'aaaa");
	free(big);
	big = malloc(FLT_JSON_LEN_MAX + 2);
	memset(big, ' ', FLT_JSON_LEN_MAX + 1);
	big[0] = '{';
	big[FLT_JSON_LEN_MAX] = '}';
	big[FLT_JSON_LEN_MAX + 1] = '\0';
	expect_bad(big, "JSON: body longer than");
	free(big);
}

int main(void)
{
	test_example();
	test_valid_shapes();
	test_errors();
	return check_done("json_test");
}
