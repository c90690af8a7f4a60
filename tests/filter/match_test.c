/* tests/filter/match_test.c: truth tables for compiled filters — one per
 * kind and for combinations — case-insensitivity, percent-encoded and
 * non-ASCII URLs, regex anchors, the empty spec, compile errors, a scratch
 * shared across databases, refcounting, and 1,000 patterns checked against
 * a naive strcasestr/regexec loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter/flt.h"
#include "flt-test.h"

static char err[FLT_ERR_LEN];
static struct flt_scratch *scratch;

/* Compiles the NULL-terminated list of flag, value pairs. */
static struct flt_db *build(const char *const *fv)
{
	struct flt_spec s;
	struct flt_db *db = NULL;

	flt_spec_init(&s);
	for (; fv[0]; fv += 2) {
		int rc = flt_spec_add_flag(&s, fv[0], fv[1], err, sizeof(err));

		CHECK_MSG(rc >= 0, "add %s %s: %s", fv[0], fv[1], err);
	}
	int rc = flt_compile(&s, &db, err, sizeof(err));

	CHECK_MSG(rc >= 0, "compile: %s", err);
	flt_spec_free(&s);
	if (rc < 0)
		return NULL;
	CHECK(flt_scratch_reserve(&scratch, db) >= 0);
	return db;
}

static enum flt_verdict req(const struct flt_db *db, const char *method,
			    const char *url)
{
	return flt_match_request(db, scratch, method, url, strlen(url), NULL,
				 NULL);
}

struct url_row {
	const char *url;
	enum flt_verdict want;
};

static void url_table(const char *const *fv, const struct url_row *rows,
		      size_t n, int line)
{
	struct flt_db *db = build(fv);

	if (!db)
		return;
	for (size_t i = 0; i < n; i++) {
		enum flt_verdict got = req(db, "GET", rows[i].url);
		CHECK_MSG(got == rows[i].want, "line %d: url '%s' -> %d, want %d",
			  line, rows[i].url, got, rows[i].want);
	}
	flt_db_unref(db);
}

#define URL_TABLE(fv, rows) \
	url_table(fv, rows, sizeof(rows) / sizeof(rows[0]), __LINE__)

static void test_empty(void)
{
	static const char *const fv[] = { NULL };
	struct flt_db *db = build(fv);

	CHECK(db && flt_db_accepts_all(db));
	CHECK(db && !flt_db_needs_response(db));
	CHECK(req(db, "GET", "/") == FLT_ACCEPT);
	CHECK(req(db, "BREW", "") == FLT_ACCEPT);
	CHECK(flt_match_request(db, NULL, NULL, NULL, 0, NULL, NULL) ==
	      FLT_ACCEPT);
	CHECK(flt_match_response(db, 500, NULL, 0));
	CHECK(flt_match_response(db, 0, "image/png", 9));
	flt_db_unref(db);
}

static void test_methods(void)
{
	static const char *const fv[] = { "--method", "get,DELETE", NULL };
	struct flt_db *db = build(fv);

	CHECK(req(db, "GET", "/") == FLT_ACCEPT);
	CHECK(req(db, "DELETE", "/") == FLT_ACCEPT);
	CHECK(req(db, "POST", "/") == FLT_REJECT);
	CHECK(req(db, "get", "/") == FLT_REJECT); /* methods are case-sensitive */
	CHECK(req(db, "GETX", "/") == FLT_REJECT);
	CHECK(req(db, NULL, "/") == FLT_REJECT);
	CHECK(!flt_db_needs_response(db));
	flt_db_unref(db);
}

static void test_status_and_type(void)
{
	static const char *const st[] = { "--status", "2xx,404", NULL };
	static const char *const ty[] = { "--type", "json,media",
		"--type", "application/pdf", NULL };
	struct flt_db *db = build(st);

	CHECK(flt_db_needs_response(db));
	CHECK(req(db, "GET", "/") == FLT_PENDING);
	CHECK(flt_match_response(db, 200, NULL, 0));
	CHECK(flt_match_response(db, 299, NULL, 0));
	CHECK(flt_match_response(db, 404, NULL, 0));
	CHECK(!flt_match_response(db, 300, NULL, 0));
	CHECK(!flt_match_response(db, 403, NULL, 0));
	CHECK(!flt_match_response(db, 199, NULL, 0));
	CHECK(!flt_match_response(db, 0, NULL, 0));
	CHECK(!flt_db_needs_content_type(db));
	CHECK(flt_match_response_type(db, 201, FLT_TYPE_NONE));
	CHECK(!flt_match_response_type(db, 500, FLT_TYPE_JSON));
	flt_db_unref(db);

	db = build(ty);
	CHECK(req(db, "GET", "/") == FLT_PENDING);
#define RESP(ct) flt_match_response(db, 200, ct, strlen(ct))
	CHECK(RESP("application/json"));
	CHECK(RESP("application/vnd.api+json; charset=utf-8"));
	CHECK(RESP("image/webp"));
	CHECK(RESP("video/mp4"));
	CHECK(RESP("Application/PDF"));       /* mime substring, caseless */
	CHECK(RESP("application/pdf;q=1"));
	CHECK(!RESP("text/html"));
	CHECK(!RESP("application/octet-stream"));
	CHECK(!flt_match_response(db, 200, NULL, 0));
#undef RESP
	CHECK(flt_db_needs_content_type(db));
	CHECK(flt_match_response_type(db, 200, FLT_TYPE_JSON));
	CHECK(flt_match_response_type(db, 200, FLT_TYPE_AUDIO));
	CHECK(!flt_match_response_type(db, 200, FLT_TYPE_BINARY));
	CHECK(!flt_match_response_type(db, 200, FLT_TYPE_COUNT));
	flt_db_unref(db);

	static const char *const none[] = { "--type", "none", NULL };
	db = build(none);
	CHECK(flt_match_response(db, 200, NULL, 0));
	CHECK(flt_match_response(db, 200, " ", 1));
	CHECK(!flt_match_response(db, 200, "text/plain", 10));
	flt_db_unref(db);
}

static void test_clients(void)
{
	static const char *const fv[] = { "--client",
		"10.0.0.0/8,192.168.1.7,2001:db8::/32,tablet", NULL };
	struct flt_db *db = build(fv);
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	static const struct { const char *addr; const char *name; int want; } rows[] = {
		{ "10.1.2.3", NULL, 1 },
		{ "10.255.255.255", NULL, 1 },
		{ "11.0.0.1", NULL, 0 },
		{ "192.168.1.7", NULL, 1 },
		{ "192.168.1.8", NULL, 0 },
		{ "::ffff:10.9.8.7", NULL, 1 },   /* v4-mapped counts as v4 */
		{ "::ffff:11.9.8.7", NULL, 0 },
		{ "2001:db8:1::5", NULL, 1 },
		{ "2001:db9::5", NULL, 0 },
		{ "::1", "Tablet", 1 },            /* names are caseless */
		{ "::1", "tablet2", 0 },
		{ NULL, "tablet", 1 },
		{ NULL, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct sockaddr *sa = NULL;
		if (rows[i].addr && strchr(rows[i].addr, ':')) {
			CHECK(inet_pton(AF_INET6, rows[i].addr, &v6.sin6_addr) == 1);
			sa = (const struct sockaddr *)&v6;
		} else if (rows[i].addr) {
			CHECK(inet_pton(AF_INET, rows[i].addr, &v4.sin_addr) == 1);
			sa = (const struct sockaddr *)&v4;
		}
		enum flt_verdict got = flt_match_request(db, scratch, "GET", "/",
							 1, sa, rows[i].name);
		CHECK_MSG(got == (rows[i].want ? FLT_ACCEPT : FLT_REJECT),
			  "client %s/%s -> %d", rows[i].addr ? rows[i].addr : "-",
			  rows[i].name ? rows[i].name : "-", got);
	}
	flt_db_unref(db);

	static const char *const zero[] = { "--client", "0.0.0.0/0", NULL };
	db = build(zero);
	inet_pton(AF_INET, "203.0.113.9", &v4.sin_addr);
	CHECK(flt_match_request(db, scratch, "GET", "/", 1,
				(const struct sockaddr *)&v4, NULL) == FLT_ACCEPT);
	inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
	CHECK(flt_match_request(db, scratch, "GET", "/", 1,
				(const struct sockaddr *)&v6, NULL) == FLT_REJECT);
	flt_db_unref(db);
}

static void test_contains(void)
{
	static const char *const fv[] = { "--url-contains", "/API/",
		"--url-contains", "%2F", "--url-contains", "caf\xc3\xa9",
		"--url-contains", "a.b(c)*", NULL };
	static const struct url_row rows[] = {
		{ "/api/users", FLT_ACCEPT },
		{ "http://h/Api/x", FLT_ACCEPT },        /* caseless */
		{ "/apix", FLT_REJECT },
		{ "/a%2fb", FLT_ACCEPT },                /* hex case folds */
		{ "/a%2Fb", FLT_ACCEPT },
		{ "/a/b", FLT_REJECT },                  /* no decoding */
		{ "/menu/caf\xc3\xa9", FLT_ACCEPT },     /* UTF-8 bytes */
		{ "/menu/CAF\xc3\xa9", FLT_ACCEPT },     /* ASCII part folds */
		{ "/menu/caf\xc3\x89", FLT_REJECT },     /* non-ASCII does not */
		{ "/menu/cafe", FLT_REJECT },
		{ "/x/a.b(c)*", FLT_ACCEPT },            /* literal, not regex */
		{ "/x/aXb(c)*", FLT_REJECT },
		{ "/x/a.b(c)", FLT_REJECT },
		{ "", FLT_REJECT },
		{ "\xff\xfe/api/", FLT_ACCEPT },         /* invalid UTF-8 is fine */
	};
	URL_TABLE(fv, rows);
}

static void test_excludes(void)
{
	static const char *const fv[] = { "--url-excludes", ".PNG",
		"--url-excludes", "/health", NULL };
	static const struct url_row rows[] = {
		{ "/", FLT_ACCEPT },
		{ "", FLT_ACCEPT },
		{ "/logo.png", FLT_REJECT },
		{ "/logo.Png?x=1", FLT_REJECT },
		{ "/logoXpng", FLT_ACCEPT },             /* '.' is literal */
		{ "/HEALTH", FLT_REJECT },
		{ "/healt", FLT_ACCEPT },
	};
	URL_TABLE(fv, rows);
}

static void test_regex(void)
{
	static const char *const fv[] = { "--url-regex", "^/v[0-9]+/users$",
		"--url-regex", "\\.json$", "--url-regex", "(?i)^/ADMIN",
		"--url-regex", "id=%[0-9A-F]{2}", NULL };
	static const struct url_row rows[] = {
		{ "/v1/users", FLT_ACCEPT },
		{ "/v12/users", FLT_ACCEPT },
		{ "/v1/users/", FLT_REJECT },            /* $ anchors */
		{ "x/v1/users", FLT_REJECT },            /* ^ anchors */
		{ "/V1/users", FLT_REJECT },             /* case-sensitive */
		{ "/a/b.json", FLT_ACCEPT },
		{ "/a/b.json?x", FLT_REJECT },
		{ "/a/bxjson", FLT_REJECT },
		{ "/admin/x", FLT_ACCEPT },              /* (?i) */
		{ "/x/admin", FLT_REJECT },
		{ "/q?id=%C3%A9", FLT_ACCEPT },
		{ "/q?id=%c3", FLT_REJECT },
	};
	URL_TABLE(fv, rows);

	static const char *const empty_re[] = { "--url-regex", "^", NULL };
	static const struct url_row all[] = {
		{ "", FLT_ACCEPT }, { "/x", FLT_ACCEPT } };
	URL_TABLE(empty_re, all);
}

static void test_combinations(void)
{
	/* contains AND regex AND NOT excludes; any-of within each. */
	static const char *const fv[] = { "--url-contains", "/api/",
		"--url-contains", "/rpc/", "--url-regex", "[0-9]{3}$",
		"--url-excludes", "debug", NULL };
	static const struct url_row rows[] = {
		{ "/api/x/123", FLT_ACCEPT },
		{ "/rpc/123", FLT_ACCEPT },
		{ "/api/x/12", FLT_REJECT },             /* regex missing */
		{ "/web/x/123", FLT_REJECT },            /* contains missing */
		{ "/api/debug/123", FLT_REJECT },        /* excluded */
		{ "/api/DEBUG/123", FLT_REJECT },
		{ "/debug/api/123", FLT_REJECT },        /* exclude before */
	};
	URL_TABLE(fv, rows);

	static const char *const all[] = { "--method", "POST",
		"--url-contains", "/api/", "--status", "5xx", "--type", "json",
		NULL };
	struct flt_db *db = build(all);
	CHECK(req(db, "POST", "/api/x") == FLT_PENDING);
	CHECK(req(db, "GET", "/api/x") == FLT_REJECT);
	CHECK(req(db, "POST", "/web/x") == FLT_REJECT);
	CHECK(flt_match_response(db, 503, "application/json", 16));
	CHECK(!flt_match_response(db, 200, "application/json", 16));
	CHECK(!flt_match_response(db, 503, "text/html", 9));
	flt_db_unref(db);
}

static void test_compile_error(void)
{
	/* A spec built by hand bypasses flt_spec_add's validation: the
	 * compiler must still name the bad pattern. */
	struct flt_url_pattern p[2] = {
		{ FLT_URL_CONTAINS, 1, (char *)"x" },
		{ FLT_URL_REGEX, 2, (char *)"([" },
	};
	struct flt_spec s;
	struct flt_db *db = (struct flt_db *)&s;

	flt_spec_init(&s);
	s.urls = p;
	s.n_urls = 2;
	CHECK(flt_compile(&s, &db, err, sizeof(err)) == -EINVAL);
	CHECK(db == NULL);
	CHECK(strncmp(err, "invalid regex '([': ", 20) == 0);
}

static void test_scratch_and_refs(void)
{
	static const char *const a[] = { "--url-contains", "aaa", NULL };
	static const char *const b[] = { "--url-regex",
		"^/(x|y|z)+[0-9]{2,5}q", "--url-contains", "bbb", NULL };
	struct flt_db *da = build(a), *db = build(b);
	struct flt_scratch *own = NULL;

	/* One scratch reserved for both, used alternately. */
	CHECK(flt_scratch_reserve(&own, da) == 0);
	CHECK(flt_scratch_reserve(&own, db) == 0);
	for (int i = 0; i < 4; i++) {
		CHECK(flt_match_request(da, own, "GET", "/aaa", 4, NULL, NULL) ==
		      FLT_ACCEPT);
		CHECK(flt_match_request(db, own, "GET", "/xy12qbbb", 9, NULL,
					NULL) == FLT_ACCEPT);
		CHECK(flt_match_request(db, own, "GET", "/xy1qbbb", 8, NULL,
					NULL) == FLT_REJECT);
		CHECK(flt_match_request(db, own, "GET", "/aaa", 4, NULL, NULL) ==
		      FLT_REJECT);
	}
	flt_scratch_free(own);
	/* A fresh scratch never reserved is reserved lazily by the match. */
	own = NULL;
	struct flt_db *de = build((const char *const[]){ NULL });
	CHECK(flt_scratch_reserve(&own, de) == 0);
	flt_db_unref(de);
	CHECK(flt_match_request(db, own, "GET", "/z99qbbb", 8, NULL, NULL) ==
	      FLT_ACCEPT);
	/* No scratch at all: rejected, not crashed. */
	CHECK(flt_match_request(db, NULL, "GET", "/z99qbbb", 8, NULL, NULL) ==
	      FLT_REJECT);
	flt_scratch_free(own);

	CHECK(flt_db_ref(da) == da);
	flt_db_unref(da);
	CHECK(flt_match_request(da, scratch, "GET", "aaa", 3, NULL, NULL) ==
	      FLT_ACCEPT); /* still alive: one reference left */
	flt_db_unref(da);
	flt_db_unref(db);
	flt_db_unref(NULL);
}

/* 1,000 mixed patterns against the naive loop on 2,000 generated URLs. */
static void test_many_vs_naive(void)
{
	enum { NP = 1000, NU = 2000 };
	static char pat[NP][48];
	static regex_t re[NP];
	static int role[NP];
	struct flt_spec s;
	struct flt_db *db = NULL;
	char url[160];
	int mismatches = 0, accepted = 0;

	flt_spec_init(&s);
	srand(7);
	for (int i = 0; i < NP; i++) {
		role[i] = i % 10 < 5 ? FLT_KIND_URL_CONTAINS :
			  i % 10 < 7 ? FLT_KIND_URL_EXCLUDES : FLT_KIND_URL_REGEX;
		if (role[i] == FLT_KIND_URL_REGEX)
			snprintf(pat[i], sizeof(pat[i]), "^/s%d/[a-z]+/%d$",
				 i % 37, i);
		else if (role[i] == FLT_KIND_URL_EXCLUDES)
			snprintf(pat[i], sizeof(pat[i]), "/Skip%d/", i);
		else
			snprintf(pat[i], sizeof(pat[i]), "/S%d/", i % 97);
		CHECK(flt_spec_add(&s, (enum flt_kind)role[i], pat[i],
				   strlen(pat[i]), err, sizeof(err)) == 0);
		CHECK(regcomp(&re[i], pat[i], REG_EXTENDED | REG_NOSUB) == 0);
	}
	CHECK(flt_compile(&s, &db, err, sizeof(err)) == 0);
	CHECK(flt_scratch_reserve(&scratch, db) == 0);
	for (int u = 0; u < NU; u++) {
		int r = rand();
		snprintf(url, sizeof(url), "/s%d/%s/%d%s", r % 120,
			 (r >> 8) % 3 ? "abc" : "skip5", (r >> 12) % 1200,
			 (r >> 20) % 7 ? "" : "/skip17/");
		bool inc = false, reg = false, exc = false;
		for (int i = 0; i < NP; i++) {
			if (role[i] == FLT_KIND_URL_REGEX)
				reg |= !regexec(&re[i], url, 0, NULL, 0);
			else if (strcasestr(url, pat[i]))
				*(role[i] == FLT_KIND_URL_EXCLUDES ? &exc : &inc) = true;
		}
		bool want = inc && reg && !exc;
		enum flt_verdict got = flt_match_request(db, scratch, "GET", url,
							 strlen(url), NULL, NULL);
		mismatches += (got == FLT_ACCEPT) != want;
		accepted += want;
	}
	CHECK(mismatches == 0);
	CHECK(accepted > 0 && accepted < NU); /* the table is not one-sided */
	for (int i = 0; i < NP; i++)
		regfree(&re[i]);
	flt_db_unref(db);
	flt_spec_free(&s);
}

int main(void)
{
	test_empty();
	test_methods();
	test_status_and_type();
	test_clients();
	test_contains();
	test_excludes();
	test_regex();
	test_combinations();
	test_compile_error();
	test_scratch_and_refs();
	test_many_vs_naive();
	flt_scratch_free(scratch);
	return check_done("match_test");
}
