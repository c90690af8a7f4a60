/*
 * tests/engine/rc_assert_test.c - the assertion vocabulary of /rc-assert.h,
 * built twice: as is (debug: NDEBUG undefined) and with -DNDEBUG (release).
 * ASSERT aborts in both; ALWAYS/NEVER abort in debug and hand back the
 * condition in release; every macro evaluates its argument exactly once.
 * A failing assertion is run in a child, whose SIGABRT and message are
 * checked. Exit codes: 0 pass, 1 fail.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rc-assert.h"
#include "tests/check.h"


#ifdef NDEBUG
#define DEBUG_BUILD 0
#else
#define DEBUG_BUILD 1
#endif

static int evals;

static int count(int v)
{
	evals++;
	return v;
}

/* Runs fn in a child with stderr on a pipe: true when the child died of
 * SIGABRT; its message goes to msg. */
static bool aborts(void (*fn)(void), char *msg, size_t cap)
{
	int p[2];
	if (pipe(p) < 0)
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		fn();
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], msg, cap - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void assert_false(void) { ASSERT(count(0) == 1); }
static void always_false(void) { if (!ALWAYS(count(0))) _exit(3); }
static void never_true(void) { if (NEVER(count(1))) _exit(3); }

int main(void)
{
	char msg[256];

	evals = 0;
	ASSERT(count(1));
	CHECK(ALWAYS(count(7)) == 1);
	CHECK(NEVER(count(0)) == 0);
	CHECK(evals == 3);

	CHECK(aborts(assert_false, msg, sizeof(msg)));
	CHECK(strstr(msg, "count(0) == 1") != NULL);
	CHECK(strstr(msg, "rc_assert_test.c:") != NULL);

	if (DEBUG_BUILD) {
		CHECK(aborts(always_false, msg, sizeof(msg)));
		CHECK(strstr(msg, "ALWAYS(count(0))") != NULL);
		CHECK(aborts(never_true, msg, sizeof(msg)));
		CHECK(strstr(msg, "NEVER(count(1))") != NULL);
	} else {
		evals = 0;
		CHECK(ALWAYS(count(0)) == 0);   /* the safe path is taken */
		CHECK(NEVER(count(5)) == 1);
		CHECK(evals == 2);
		CHECK(!aborts(always_false, msg, sizeof(msg)));
	}
	return check_done(DEBUG_BUILD ? "rc_assert_test (debug)" : "rc_assert_test (release)");
}
