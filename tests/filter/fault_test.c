/* tests/filter/fault_test.c: allocation failure on a countdown (after
 * SQLite's test_malloc.c). The filter sources are compiled into this binary
 * with FLT_FAULT_INJECTION, so every allocation of filter/ — and, through
 * hs_set_allocator, every one Hyperscan makes for databases, scratch and
 * expression info — can be made to fail. jansson's allocations (reading the
 * JSON form) stay outside the walk: tried, jansson 2.14 reports many of its
 * allocation failures as syntax errors ("invalid token"), so -ENOMEM could
 * not be told apart. For N = 0, 1, 2, ... the Nth
 * allocation fails once; the scenario (parse, copy, compile, reserve scratch,
 * match, text round trip) must then fail with -ENOMEM and leave nothing
 * behind (LeakSanitizer in the sanitizer build), or succeed with correct
 * results when the failed allocation was one it could do without. The loop
 * ends at the first N that no allocation reaches. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "filter/flt.h"
#include "filter/flt-int.h"
#include "flt-test.h"

static long countdown = -1; /* allocations left before the failing one */
static bool fault_hit;

static bool fail_now(void)
{
	if (countdown < 0)
		return false;
	if (countdown-- == 0) {
		fault_hit = true;
		return true;
	}
	return false;
}

void *flt_fault_malloc(size_t n)
{
	return fail_now() ? NULL : malloc(n);
}

void *flt_fault_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : calloc(n, size);
}

void *flt_fault_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : realloc(p, n);
}

char *flt_fault_strdup(const char *s)
{
	return fail_now() ? NULL : strdup(s);
}

static void *hs_fault_alloc(size_t n)
{
	return fail_now() ? NULL : malloc(n);
}

static const char json[] =
	"{\"methods\":[\"GET\",\"POST\"],\"status\":[\"2xx\"],"
	"\"clients\":[\"10.0.0.0/8\",\"tablet\"],"
	"\"url_contains\":[\"/api/\",\"/rpc/\",\"/v2/\"],"
	"\"url_excludes\":[\".png\",\"/health\"],"
	"\"url_regex\":[\"^/(api|rpc)/[a-z]+/[0-9]+$\",\"[?&]debug=1\"]}";

/* One pass of everything that allocates. Returns 0 or the first error. */
static int scenario(char *err, size_t errlen)
{
	struct flt_spec s, copy, back;
	struct flt_db *db = NULL;
	struct flt_scratch *sc = NULL;
	char text[512];
	int rc;

	flt_spec_init(&s);
	flt_spec_init(&copy);
	flt_spec_init(&back);
	rc = flt_spec_parse_json(&s, json, sizeof(json) - 1, err, errlen);
	if (rc < 0)
		goto out;
	CHECK(s.n_urls == 7);
	if ((rc = flt_spec_copy(&copy, &s)) < 0)
		goto out;
	CHECK(flt_spec_equal(&copy, &s));
	if ((rc = flt_compile(&copy, &db, err, errlen)) < 0)
		goto out;
	if ((rc = flt_scratch_reserve(&sc, db)) < 0)
		goto out;
	CHECK(flt_match_request(db, sc, "GET", "/api/users/42", 13, NULL,
				"tablet") == FLT_PENDING);
	CHECK(flt_match_request(db, sc, "GET", "/api/x.png/42", 13, NULL,
				"tablet") == FLT_REJECT);
	size_t n = flt_spec_format_text(&s, text, sizeof(text));
	CHECK(n < sizeof(text));
	if ((rc = flt_spec_parse_text(&back, text, n, err, errlen)) < 0)
		goto out;
	CHECK(flt_spec_equal(&back, &s));
out:
	flt_scratch_free(sc);
	flt_db_unref(db);
	flt_spec_free(&back);
	flt_spec_free(&copy);
	flt_spec_free(&s);
	return rc;
}

int main(void)
{
	char err[FLT_ERR_LEN];
	long n;
	int failed_runs = 0;

	if (hs_set_allocator(hs_fault_alloc, free) != HS_SUCCESS)
		return 1;
	countdown = -1;
	CHECK(scenario(err, sizeof(err)) == 0); /* baseline: no faults */
	for (n = 0; n < 100000; n++) {
		countdown = n;
		fault_hit = false;
		err[0] = '\0';
		int rc = scenario(err, sizeof(err));
		countdown = -1;
		if (!fault_hit) {
			CHECK(rc == 0);
			break;
		}
		if (rc == 0)
			continue; /* the failed allocation had a fallback */
		failed_runs++;
		CHECK_MSG(rc == -ENOMEM, "allocation %ld failed: rc %d '%s'", n,
			  rc, err);
	}
	printf("fault_test: %ld allocations, %d runs failed cleanly\n", n,
	       failed_runs);
	CHECK(n > 10 && n < 100000);
	return check_done("fault_test");
}
