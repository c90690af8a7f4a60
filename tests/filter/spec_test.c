/* tests/filter/spec_test.c: the CLI form (flt_spec_add_flag) and the value
 * rules every parser shares — normalisation, dedup, limits, errors that
 * quote the bad part — plus the Content-Type classifier. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter/flt.h"
#include "flt-test.h"

static char err[FLT_ERR_LEN];

/* Adds flag=value to a fresh spec, expects failure rc and error text. */
static void expect_err(const char *flag, const char *value, int rc,
		       const char *msg_prefix)
{
	struct flt_spec s;

	flt_spec_init(&s);
	err[0] = '\0';
	int got = flt_spec_add_flag(&s, flag, value, err, sizeof(err));
	CHECK(got == rc);
	CHECK_MSG(strncmp(err, msg_prefix, strlen(msg_prefix)) == 0,
		  "flag %s '%s': error '%s', want prefix '%s'", flag, value, err,
		  msg_prefix);
	flt_spec_free(&s);
}

static void test_methods(void)
{
	struct flt_spec s;

	flt_spec_init(&s);
	CHECK(flt_spec_is_empty(&s));
	CHECK(flt_spec_add_flag(&s, "--method", "get", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&s, "method", " POST , get,PUT", err,
				sizeof(err)) == 0);
	CHECK(s.n_methods == 3);
	CHECK_STR(s.methods[0], "GET");
	CHECK_STR(s.methods[1], "POST");
	CHECK_STR(s.methods[2], "PUT");
	CHECK(!flt_spec_is_empty(&s));
	flt_spec_free(&s);
	CHECK(flt_spec_is_empty(&s));

	expect_err("--method", "G ET", -EINVAL, "bad method 'G ET'");
	expect_err("--method", "GET,,POST", -EINVAL, "empty method in 'GET,,POST'");
	expect_err("--method", "", -EINVAL, "empty method in ''");
	expect_err("--method", "GET\x01", -EINVAL, "bad method 'GET\\x01'");
	expect_err("--verb", "GET", -ENOENT, "unknown filter flag '--verb'");

	flt_spec_init(&s);
	char m[8];
	int rc = 0;
	for (int i = 0; i < FLT_METHODS_MAX + 1 && rc == 0; i++) {
		snprintf(m, sizeof(m), "M%d", i);
		rc = flt_spec_add_flag(&s, "--method", m, err, sizeof(err));
	}
	CHECK(rc == -E2BIG);
	CHECK(s.n_methods == FLT_METHODS_MAX);
	flt_spec_free(&s);
}

static void test_status(void)
{
	struct flt_spec s;

	flt_spec_init(&s);
	CHECK(flt_spec_add_flag(&s, "--status", "2xx,404,5XX,2xx,404", err,
				sizeof(err)) == 0);
	CHECK(s.n_status == 3);
	CHECK(s.status[0].lo == 200 && s.status[0].hi == 299);
	CHECK(s.status[1].lo == 404 && s.status[1].hi == 404);
	CHECK(s.status[2].lo == 500 && s.status[2].hi == 599);
	flt_spec_free(&s);

	expect_err("--status", "abc", -EINVAL, "bad status 'abc'");
	expect_err("--status", "600", -EINVAL, "bad status '600'");
	expect_err("--status", "99", -EINVAL, "bad status '99'");
	expect_err("--status", "2x", -EINVAL, "bad status '2x'");
	expect_err("--status", "2x4", -EINVAL, "bad status '2x4'");
	expect_err("--status", "0xx", -EINVAL, "bad status '0xx'");
	expect_err("--status", "1000", -EINVAL, "bad status '1000'");
}

static void test_types(void)
{
	struct flt_spec s;

	flt_spec_init(&s);
	CHECK(flt_spec_add_flag(&s, "--type", "JSON,media", err,
				sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&s, "--type", "Application/PDF", err,
				sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&s, "--type", "+xml", err, sizeof(err)) == 0);
	CHECK(s.type_mask == (1u << FLT_TYPE_JSON | 1u << FLT_TYPE_IMAGE |
			      1u << FLT_TYPE_AUDIO | 1u << FLT_TYPE_VIDEO));
	CHECK(s.n_mimes == 2);
	CHECK_STR(s.mimes[0], "application/pdf");
	CHECK_STR(s.mimes[1], "+xml");
	flt_spec_free(&s);

	expect_err("--type", "jsn", -EINVAL,
		   "unknown content type class 'jsn'");
	expect_err("--type", "json,pdf", -EINVAL,
		   "unknown content type class 'pdf'");
	expect_err("--type", "text/ html", -EINVAL,
		   "bad mime substring 'text/ html'");
}

static void test_clients(void)
{
	struct flt_spec s;

	flt_spec_init(&s);
	CHECK(flt_spec_add_flag(&s, "--client",
				"10.1.2.3/8,192.168.1.7,fe80::1/10,::1,Phone-1",
				err, sizeof(err)) == 0);
	CHECK(s.n_clients == 5);
	CHECK(s.clients[0].family == 4 && s.clients[0].prefix == 8);
	CHECK(s.clients[0].addr[0] == 10 && s.clients[0].addr[1] == 0 &&
	      s.clients[0].addr[3] == 0);
	CHECK(s.clients[1].prefix == 32 && s.clients[1].addr[3] == 7);
	CHECK(s.clients[2].family == 6 && s.clients[2].prefix == 10);
	CHECK(s.clients[2].addr[0] == 0xfe && s.clients[2].addr[1] == 0x80 &&
	      s.clients[2].addr[15] == 0);
	CHECK(s.clients[3].prefix == 128 && s.clients[3].addr[15] == 1);
	CHECK(s.clients[4].is_name);
	CHECK_STR(s.clients[4].name, "phone-1");
	/* 10.9.9.9/8 masks to the same network: a duplicate. */
	CHECK(flt_spec_add_flag(&s, "--client", "10.9.9.9/8", err,
				sizeof(err)) == 0);
	CHECK(s.n_clients == 5);
	flt_spec_free(&s);

	expect_err("--client", "10.0.0.0/33", -EINVAL, "bad CIDR '10.0.0.0/33'");
	expect_err("--client", "::/129", -EINVAL, "bad CIDR '::/129'");
	expect_err("--client", "10.0.0.0/", -EINVAL, "bad CIDR '10.0.0.0/'");
	expect_err("--client", "10.0.0.0/8x", -EINVAL, "bad CIDR '10.0.0.0/8x'");
	expect_err("--client", "phone/8", -EINVAL, "bad CIDR 'phone/8'");
	expect_err("--client", "10.0.0.256", -EINVAL, "bad address '10.0.0.256'");
	expect_err("--client", "fe80:::1", -EINVAL, "bad address 'fe80:::1'");
	expect_err("--client", "my phone", -EINVAL, "bad client name 'my phone'");
}

static void test_urls(void)
{
	struct flt_spec s;

	flt_spec_init(&s);
	/* URL flags take the value whole: commas belong to the pattern. */
	CHECK(flt_spec_add_flag(&s, "--url-contains", "/a,b", err,
				sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&s, "--url-regex", "^/x{1,3}$", err,
				sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&s, "--url-excludes", ".png", err,
				sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&s, "--url-contains", "/a,b", err,
				sizeof(err)) == 0);
	CHECK(s.n_urls == 3);
	CHECK(s.urls[0].role == FLT_URL_CONTAINS && s.urls[0].len == 4);
	CHECK(s.urls[1].role == FLT_URL_REGEX);
	CHECK(s.urls[2].role == FLT_URL_EXCLUDES);
	flt_spec_free(&s);

	expect_err("--url-regex", "([", -EINVAL, "invalid regex '([': ");
	expect_err("--url-regex", "a)", -EINVAL, "invalid regex 'a)': ");
	expect_err("--url-regex", "(a)\\1", -EINVAL, "invalid regex '(a)\\1': ");
	expect_err("--url-contains", "", -EINVAL, "empty url-contains pattern");

	char big[FLT_URL_PATTERN_LEN_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_err("--url-contains", big, -EINVAL, "URL pattern too long 'aaa");
	/* The quote is cut: the message stays within FLT_ERR_LEN. */
	CHECK(strstr(err, "...'") != NULL);
}

static void test_equal_copy(void)
{
	struct flt_spec a, b, c;

	flt_spec_init(&a);
	flt_spec_init(&b);
	flt_spec_init(&c);
	CHECK(flt_spec_equal(&a, &b));
	CHECK(flt_spec_add_flag(&a, "--method", "GET", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&a, "--url-contains", "x", err, sizeof(err)) == 0);
	CHECK(!flt_spec_equal(&a, &b));
	CHECK(flt_spec_copy(&c, &a) == 0);
	CHECK(flt_spec_equal(&a, &c));
	CHECK(c.urls != a.urls && c.urls[0].text != a.urls[0].text);
	CHECK(flt_spec_add_flag(&b, "--url-contains", "x", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&b, "--method", "GET", err, sizeof(err)) == 0);
	CHECK(flt_spec_equal(&a, &b));
	CHECK(flt_spec_add_flag(&b, "--url-excludes", "x", err, sizeof(err)) == 0);
	CHECK(!flt_spec_equal(&a, &b));
	/* Interleaving across roles does not count; order within one does. */
	CHECK(flt_spec_add_flag(&a, "--url-contains", "y", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&a, "--url-excludes", "x", err, sizeof(err)) == 0);
	CHECK(!flt_spec_equal(&a, &b));
	CHECK(flt_spec_add_flag(&b, "--url-contains", "y", err, sizeof(err)) == 0);
	CHECK(flt_spec_equal(&a, &b));
	CHECK(flt_spec_add_flag(&a, "--url-contains", "z", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&a, "--url-contains", "w", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&b, "--url-contains", "w", err, sizeof(err)) == 0);
	CHECK(flt_spec_add_flag(&b, "--url-contains", "z", err, sizeof(err)) == 0);
	CHECK(!flt_spec_equal(&a, &b));
	flt_spec_free(&a);
	flt_spec_free(&b);
	flt_spec_free(&c);
}

static void test_type_of(void)
{
	static const struct { const char *ct; enum flt_type t; } rows[] = {
		{ "", FLT_TYPE_NONE },
		{ "  ", FLT_TYPE_NONE },
		{ "application/json", FLT_TYPE_JSON },
		{ "Application/JSON; charset=utf-8", FLT_TYPE_JSON },
		{ "application/problem+json", FLT_TYPE_JSON },
		{ "application/x-ndjson", FLT_TYPE_JSON },
		{ "text/html;charset=UTF-8", FLT_TYPE_HTML },
		{ "application/xhtml+xml", FLT_TYPE_HTML },
		{ "application/xml", FLT_TYPE_XML },
		{ "text/xml", FLT_TYPE_XML },
		{ "application/atom+xml", FLT_TYPE_XML },
		{ "application/javascript", FLT_TYPE_JS },
		{ "text/javascript", FLT_TYPE_JS },
		{ "text/css", FLT_TYPE_CSS },
		{ "text/plain", FLT_TYPE_TEXT },
		{ "text/csv", FLT_TYPE_TEXT },
		{ "application/x-www-form-urlencoded", FLT_TYPE_TEXT },
		{ "image/png", FLT_TYPE_IMAGE },
		{ "image/svg+xml", FLT_TYPE_IMAGE },
		{ "audio/mpeg", FLT_TYPE_AUDIO },
		{ "video/mp4", FLT_TYPE_VIDEO },
		{ "font/woff2", FLT_TYPE_FONT },
		{ "application/font-woff", FLT_TYPE_FONT },
		{ "application/vnd.ms-fontobject", FLT_TYPE_FONT },
		{ "application/octet-stream", FLT_TYPE_BINARY },
		{ "application/pdf", FLT_TYPE_BINARY },
		{ "garbage", FLT_TYPE_BINARY },
	};

	CHECK(flt_type_of(NULL, 0) == FLT_TYPE_NONE);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum flt_type t = flt_type_of(rows[i].ct, strlen(rows[i].ct));
		CHECK_MSG(t == rows[i].t, "type_of('%s') = %s, want %s",
			  rows[i].ct, flt_type_name(t),
			  flt_type_name(rows[i].t));
	}
	/* Only the first len bytes count. */
	CHECK(flt_type_of("image/pngXXXX", 4) == FLT_TYPE_BINARY);
	CHECK(flt_type_is_media(FLT_TYPE_VIDEO));
	CHECK(!flt_type_is_media(FLT_TYPE_JSON));
	CHECK_STR(flt_type_name(FLT_TYPE_JS), "js");
	CHECK(flt_kind_from_name("--url-regex", 11) == FLT_KIND_URL_REGEX);
	CHECK(flt_kind_from_name("url-regex", 9) == FLT_KIND_URL_REGEX);
	CHECK(flt_kind_from_name("url", 3) == -1);
}

int main(void)
{
	test_methods();
	test_status();
	test_types();
	test_clients();
	test_urls();
	test_equal_copy();
	test_type_of();
	return check_done("spec_test");
}
