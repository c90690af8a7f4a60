/* tests/check.h: the one assertion vocabulary of the C unit tests.
 *
 * CHECK-style macros count every check and every failure and go on, so one
 * run shows every broken row of a table; REQUIRE-style macros stop the test
 * (exit 1) on failure, for set-up steps and for checks that later lines
 * depend on (a NULL pointer, a file that must exist). Every failure prints
 * "file:line:" and the failed expression, or both values for the _EQ/_STR
 * forms, to stderr.
 *
 * main() ends with `return check_done("name");`: it prints
 * "name: N checks, M failed" and returns the exit code meson reads, as
 * liburing's tests do: 0 pass, 1 fail, CHECK_SKIP_CODE (77) skip.
 *
 * A safety net: a process whose checks failed exits 1 however it ends
 * (main returning 0 without check_done(), a forked child's exit(0)), so a
 * counting CHECK can never turn a failure into a pass.
 *
 * Header-only (every test is one translation unit); the counters are
 * static, so helpers of the same file may bump them through CHECK_MSG.
 */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_SKIP_CODE 77 /* meson's and automake's "skipped" exit code */

static int check_count;  /* checks run (CHECK* and REQUIRE*) */
static int check_failed; /* checks that failed */
static int check_told;   /* check_done() has reported the failures */

/* At exit: a failed check forces exit status 1 (see the file comment). */
static void check_at_exit_(void)
{
	if (check_failed == 0)
		return;
	if (!check_told)
		fprintf(stderr, "%d of %d checks failed: exit status 1\n",
			check_failed, check_count);
	fflush(NULL);
	_exit(1);
}

__attribute__((constructor)) static void check_init_(void)
{
	atexit(check_at_exit_);
}

/* Records the outcome of one check; prints nothing. */
#define CHECK_TALLY_(ok) ((void)(check_count++), (ok) ? 1 : (check_failed++, 0))

/* cond must hold; goes on either way. */
#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!CHECK_TALLY_(cond))                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
	} while (0)

/* cond must hold; on failure prints file:line and a printf-style message
 * (for table rows, where the expression alone does not say which row). */
#define CHECK_MSG(cond, ...)                                                     \
	do {                                                                     \
		if (!CHECK_TALLY_(cond)) {                                       \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);          \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
		}                                                                \
	} while (0)

/* Two integers (compared as long long) are equal; prints both. */
#define CHECK_EQ(a, b)                                                           \
	do {                                                                     \
		long long ca_ = (long long)(a), cb_ = (long long)(b);            \
		if (!CHECK_TALLY_(ca_ == cb_))                                   \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n", \
				__FILE__, __LINE__, #a, ca_, #b, cb_);           \
	} while (0)

/* Two NUL-terminated strings are equal; prints both. */
#define CHECK_STR(a, b)                                                          \
	do {                                                                     \
		const char *ca_ = (a), *cb_ = (b);                               \
		if (!CHECK_TALLY_(strcmp(ca_, cb_) == 0))                        \
			fprintf(stderr, "%s:%d: CHECK_STR failed: '%s' != '%s'\n", \
				__FILE__, __LINE__, ca_, cb_);                   \
	} while (0)

/* s starts with prefix; prints both. */
#define CHECK_PREFIX(s, prefix)                                                  \
	do {                                                                     \
		const char *cs_ = (s), *cp_ = (prefix);                          \
		if (!CHECK_TALLY_(strncmp(cs_, cp_, strlen(cp_)) == 0))          \
			fprintf(stderr, "%s:%d: '%s' does not start with '%s'\n", \
				__FILE__, __LINE__, cs_, cp_);                   \
	} while (0)

/* An action returning 0 or -errno succeeded; prints the errno's text. */
#define CHECK_RC(e)                                                              \
	do {                                                                     \
		long cr_ = (long)(e);                                            \
		if (!CHECK_TALLY_(cr_ >= 0))                                     \
			fprintf(stderr, "%s:%d: %s = %ld (%s)\n", __FILE__,      \
				__LINE__, #e, cr_, strerror((int)-cr_));         \
	} while (0)

/* Like CHECK, but a failure ends the test at once (exit 1). */
#define REQUIRE(cond)                                                            \
	do {                                                                     \
		if (!CHECK_TALLY_(cond)) {                                       \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, \
				__LINE__, #cond);                                \
			exit(1);                                                 \
		}                                                                \
	} while (0)

/* Like CHECK_RC, but a failure ends the test at once (exit 1). */
#define REQUIRE_RC(e)                                                            \
	do {                                                                     \
		long cr_ = (long)(e);                                            \
		if (!CHECK_TALLY_(cr_ >= 0)) {                                   \
			fprintf(stderr, "%s:%d: %s = %ld (%s)\n", __FILE__,      \
				__LINE__, #e, cr_, strerror((int)-cr_));         \
			exit(1);                                                 \
		}                                                                \
	} while (0)

/* Ends the test as skipped (77) with a reason, e.g. a missing tool. */
#define CHECK_SKIP(...)                                                          \
	do {                                                                     \
		fprintf(stderr, "skip: ");                                       \
		fprintf(stderr, __VA_ARGS__);                                    \
		fputc('\n', stderr);                                             \
		exit(CHECK_SKIP_CODE);                                           \
	} while (0)

/* The closing line and exit code: 0 when every check passed, 1 otherwise
 * (also when no check ran at all: a test that checked nothing proved
 * nothing). */
static inline int check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failed);
	fflush(stdout);
	check_told = 1;
	if (check_count == 0)
		fprintf(stderr, "%s: no check ran\n", name);
	return check_failed != 0 || check_count == 0 ? 1 : 0;
}

#endif /* TESTS_CHECK_H */
