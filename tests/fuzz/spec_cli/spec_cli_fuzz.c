/* tests/fuzz/spec_cli/spec_cli_fuzz.c: libFuzzer target for the CLI form. The
 * input is lines "<k><value>": k % 8 picks one of the seven flags or an
 * unknown one, the rest of the line is the flag's value (as getopt would
 * pass it: NUL-terminated, cut at an embedded NUL). */
#include "tests/fuzz/spec-fuzz.h"

static const char *const flags[8] = { "--method", "--status", "--type",
	"--client", "--url-contains", "--url-excludes", "--url-regex",
	"--bogus" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[FLT_ERR_LEN];
	struct flt_spec s;
	size_t pos = 0;
	int rc = 0;

	flt_spec_init(&s);
	for (int lines = 0; pos < size && lines < 64 && rc >= 0; lines++) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - data) : size;
		char *v = malloc(end - pos + 1);
		memcpy(v, data + pos, end - pos);
		v[end - pos] = '\0';
		const char *flag = end > pos ? flags[(unsigned char)v[0] % 8] :
				   flags[0];
		rc = flt_spec_add_flag(&s, flag, end > pos ? v + 1 : v, err,
				       sizeof(err));
		if (rc < 0 && !err[0])
			fuzz_fail("error without a message");
		free(v);
		pos = end + 1;
	}
	fuzz_check_spec(&s, data, size);
	flt_spec_free(&s);
	return 0;
}
