/* tests/filter/text_test.c: the compact text form — exact output for known
 * specs, quoting of awkward bytes, parse(format(s)) == s and
 * format(parse(t)) == t, snprintf-like truncation, and parse errors that
 * quote the bad part and leave the spec empty. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/flt.h"
#include "flt-test.h"

static char err[FLT_ERR_LEN];

static int parse(struct flt_spec *s, const char *t)
{
	size_t n = strlen(t);
	char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
	int rc;

	memcpy(copy, t, n);
	flt_spec_init(s);
	err[0] = '\0';
	rc = flt_spec_parse_text(s, copy, n, err, sizeof(err));
	free(copy);
	return rc;
}

/* t must parse and format back to itself; the spec must survive a second
 * round. */
static void round_trip(const char *t)
{
	struct flt_spec a, b;
	char out[2048];

	int rc = parse(&a, t);

	CHECK_MSG(rc >= 0, "text '%s': %s", t, err);
	if (rc < 0)
		return;
	size_t n = flt_spec_format_text(&a, out, sizeof(out));
	CHECK(n == strlen(out));
	CHECK_STR(out, t);
	CHECK(parse(&b, out) == 0);
	CHECK(flt_spec_equal(&a, &b));
	flt_spec_free(&a);
	flt_spec_free(&b);
}

/* t parses into the canonical form want. */
static void canonical(const char *t, const char *want)
{
	struct flt_spec a;
	char out[2048];

	CHECK(parse(&a, t) == 0);
	flt_spec_format_text(&a, out, sizeof(out));
	CHECK_STR(out, want);
	flt_spec_free(&a);
}

static void expect_bad(const char *t, const char *msg_prefix)
{
	struct flt_spec s;
	int rc = parse(&s, t);

	CHECK_MSG(rc < 0 && strncmp(err, msg_prefix, strlen(msg_prefix)) == 0,
		  "text '%s': rc %d error '%s', want '%s'", t, rc, err, msg_prefix);
	CHECK(flt_spec_is_empty(&s));
	flt_spec_free(&s);
}

static void test_round_trips(void)
{
	round_trip("");
	round_trip("method=GET");
	round_trip("method=GET,POST status=2xx,404 type=json,media,"
		   "application/pdf client=10.0.0.0/8,2001:db8::/32,phone-1 "
		   "url-contains=/api/ url-excludes=.png,/health "
		   "url-regex=^/v[0-9]+/");
	round_trip("type=html,image,application/pdf");
	round_trip("url-contains=\"a b\",\"x,y\",\"q\\\"uote\",\"back\\\\slash\"");
	round_trip("url-contains=\"tab\\x09nl\\x0adel\\x7f\"");
	round_trip("url-contains=\"caf\xc3\xa9\",\"\xff\"");
	round_trip("url-regex=\"^/a{1,3}$\",\"(?i)x y\"");
	round_trip("status=1xx,2xx,3xx,4xx,5xx,100,599");
}

static void test_canonical(void)
{
	/* Kinds in fixed order, case and spacing normalised, duplicates gone. */
	canonical("  url-regex=^x   method=get  ", "method=GET url-regex=^x");
	canonical("status=404 status=2XX,404", "status=404,2xx");
	canonical("type=video,IMAGE,audio", "type=media");
	canonical("type=image", "type=image");
	canonical("client=10.1.2.3/8,::1", "client=10.0.0.0/8,::1/128");
	canonical("url-contains=\"plain\"", "url-contains=plain");
	canonical("url-contains=\"\\x41\"", "url-contains=A");
	canonical("url-excludes=a url-contains=b", "url-contains=b url-excludes=a");
}

static void test_truncation(void)
{
	struct flt_spec s;
	char out[8];

	CHECK(parse(&s, "method=GET,POST") == 0);
	CHECK(flt_spec_format_text(&s, out, sizeof(out)) == 15);
	CHECK_STR(out, "method=");
	CHECK(flt_spec_format_text(&s, NULL, 0) == 15);
	flt_spec_free(&s);
}

static void test_errors(void)
{
	expect_bad("methods=GET", "unknown filter kind 'methods'");
	expect_bad("method", "unknown filter kind 'method'");
	expect_bad("=GET", "unknown filter kind ''");
	expect_bad("method=", "empty value for method");
	expect_bad("method=GET,", "empty value for method");
	expect_bad("method=GET,,PUT", "empty value for method");
	expect_bad("type=jsn", "unknown content type class 'jsn'");
	expect_bad("status=2xx,600", "bad status '600'");
	expect_bad("client=10.0.0.0/33", "bad CIDR '10.0.0.0/33'");
	expect_bad("url-regex=([", "invalid regex '([': ");
	expect_bad("url-contains=\"open", "bad value '\"open'");
	expect_bad("url-contains=\"a\"b", "bad value '\"a\"b'");
	expect_bad("url-contains=\"\\q\"", "bad value");
	expect_bad("url-contains=\"\\x4\"", "bad value");
	expect_bad("url-contains=\"a\x01\"", "bad value");
	expect_bad("url-contains=a\"b", "bad value");
	expect_bad("url-contains=\"\"", "empty url-contains pattern");
	expect_bad("method=GET type=jsn", "unknown content type class 'jsn'");

	size_t n = FLT_VALUE_LEN_MAX + 1;
	char *big = malloc(n + 32);
	int k = snprintf(big, 32, "url-contains=");
	memset(big + k, 'a', n);
	big[k + n] = '\0';
	expect_bad(big, "value too long 'aaa");
	k = snprintf(big, 32, "url-contains=\"");
	memset(big + k, 'a', n);
	strcpy(big + k + n, "\"");
	expect_bad(big, "value too long '\"aaa");
	strcpy(big + k + n - 1, "\""); /* exactly at the limit: accepted */
	struct flt_spec s;
	CHECK(parse(&s, big) == 0);
	CHECK(s.n_urls == 1 && s.urls[0].len == FLT_VALUE_LEN_MAX);
	flt_spec_free(&s);
	free(big);
}

int main(void)
{
	test_round_trips();
	test_canonical();
	test_truncation();
	test_errors();
	return check_done("text_test");
}
