/* tests/filter/flt-test.h: tiny check macros shared by the filter tests.
 * CHECK records a failure and goes on, so one run shows every broken row
 * of a truth table; main returns fails ? 1 : 0. */
#ifndef FLT_TEST_H
#define FLT_TEST_H

#include <stdio.h>
#include <string.h>

static int fails;
static int checks;

#define CHECK(cond)                                                        \
	do {                                                               \
		checks++;                                                  \
		if (!(cond)) {                                             \
			fails++;                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
		}                                                          \
	} while (0)

#define CHECK_STR(got, want)                                               \
	do {                                                               \
		checks++;                                                  \
		if (strcmp((got), (want))) {                               \
			fails++;                                           \
			fprintf(stderr, "%s:%d: got '%s', want '%s'\n",    \
				__FILE__, __LINE__, (got), (want));        \
		}                                                          \
	} while (0)

static inline int test_result(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, checks, fails);
	return fails ? 1 : 0;
}

#endif
