/* tests/fuzz/spec-fuzz.h: the properties every filter fuzz target
 * checks on a spec that one of the parsers accepted:
 *   - text form: parse(format(s)) succeeds and equals s, and formatting
 *     that again gives the same bytes;
 *   - JSON form: same, when every byte is ASCII (the JSON writer is lossy
 *     only for invalid UTF-8, see flt.h);
 *   - small specs compile and match the input itself as a URL without
 *     crashing (compile of big fuzzed regex sets is too slow to do each run).
 * A broken property aborts, which libFuzzer reports as a crash. */
#ifndef FLT_FUZZ_COMMON_H
#define FLT_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/flt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what)
{
	fprintf(stderr, "property broken: %s\n", what);
	abort();
}

static bool fuzz_ascii(const struct flt_spec *s)
{
	for (uint32_t i = 0; i < s->n_urls; i++)
		for (uint16_t j = 0; j < s->urls[i].len; j++)
			if ((unsigned char)s->urls[i].text[j] >= 0x80)
				return false;
	return true;
}

static void fuzz_check_spec(const struct flt_spec *s, const uint8_t *data,
			    size_t size)
{
	char err[FLT_ERR_LEN];
	size_t need = flt_spec_format_text(s, NULL, 0);
	char *a = malloc(need + 1), *b;
	struct flt_spec t;

	flt_spec_format_text(s, a, need + 1);
	flt_spec_init(&t);
	if (flt_spec_parse_text(&t, a, need, err, sizeof(err)) < 0)
		fuzz_fail(err);
	if (!flt_spec_equal(s, &t))
		fuzz_fail("text round trip changed the spec");
	b = malloc(need + 1);
	if (flt_spec_format_text(&t, b, need + 1) != need || memcmp(a, b, need))
		fuzz_fail("text form not stable");
	free(a);
	free(b);
	flt_spec_free(&t);

	need = flt_spec_format_json(s, NULL, 0);
	a = malloc(need + 1);
	flt_spec_format_json(s, a, need + 1);
	if (fuzz_ascii(s)) {
		if (flt_spec_parse_json(&t, a, need, err, sizeof(err)) < 0)
			fuzz_fail(err);
		if (!flt_spec_equal(s, &t))
			fuzz_fail("JSON round trip changed the spec");
		flt_spec_free(&t);
	}
	free(a);

	if (s->n_urls <= 4) {
		struct flt_db *db = NULL;
		struct flt_scratch *sc = NULL;
		if (flt_compile(s, &db, err, sizeof(err)) == 0) {
			if (flt_scratch_reserve(&sc, db) < 0)
				fuzz_fail("scratch");
			enum flt_verdict v = flt_match_request(db, sc, "GET",
				(const char *)data, size, NULL, NULL);
			if (v == FLT_PENDING)
				(void)flt_match_response(db, 200,
					(const char *)data, size);
			flt_scratch_free(sc);
			flt_db_unref(db);
		}
	}
}

#endif
