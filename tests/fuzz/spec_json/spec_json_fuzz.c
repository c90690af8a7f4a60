/* tests/fuzz/spec_json/spec_json_fuzz.c: libFuzzer target for the JSON
 * form: any bytes either parse (and then keep every round-trip property) or fail with
 * a message and an empty spec. */
#include "tests/fuzz/spec-fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[FLT_ERR_LEN] = "";
	struct flt_spec s;

	flt_spec_init(&s);
	if (flt_spec_parse_json(&s, (const char *)data, size, err,
				sizeof(err)) < 0) {
		if (!err[0] || !flt_spec_is_empty(&s))
			fuzz_fail("JSON error without message or spec not empty");
		return 0;
	}
	fuzz_check_spec(&s, data, size);
	flt_spec_free(&s);
	return 0;
}
