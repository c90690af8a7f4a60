/*
 * rc-assert.h - ringcap's one assertion vocabulary (header only).
 *
 * This is not a module: every module may include it (engine/, tls/,
 * filter/, persist/, tools/), and a leaf module that does still includes
 * no other module. It has no state and no link-time symbols.
 *
 * Assertions catch OUR bugs, never peer input: bytes from a client, an
 * upstream or a file on disk that break a rule bump a counter and close the
 * connection or report the file; they never trip one of these.
 *
 *   ASSERT(x)   always checked, in every build: a broken invariant prints
 *               file, line and the expression, then aborts. For invariants
 *               whose violation would corrupt memory or data if we went on
 *               (a buffer handed out twice, a queue over its bound).
 *   ALWAYS(x)   a condition we believe is always true, with a safe way out
 *               when it is not: debug builds (NDEBUG not defined) abort like
 *               ASSERT; release builds evaluate to x, so that
 *                   if (!ALWAYS(slot < n)) return;
 *               takes the safe path (SQLite's idiom).
 *   NEVER(x)    the same for a condition we believe is never true:
 *                   if (NEVER(p == NULL)) return -EINVAL;
 *
 * One condition per assertion: ASSERT(a); ASSERT(b); rather than
 * ASSERT(a && b), so that a failure names the part that broke. Relations
 * between constants are _Static_assert, next to the constants.
 */
#ifndef RINGCAP_RC_ASSERT_H
#define RINGCAP_RC_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

/* Reports a broken invariant and aborts (a core dump keeps the state). */
static inline _Noreturn void rc_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "ringcap: assertion failed: %s (%s:%d)\n", expr, file, line);
	fflush(stderr);
	abort();
}

#define ASSERT(x) ((x) ? (void)0 : rc_assert_fail(#x, __FILE__, __LINE__))

#ifndef NDEBUG
#define ALWAYS(x) ((x) ? 1 : (rc_assert_fail("ALWAYS(" #x ")", __FILE__, __LINE__), 0))
#define NEVER(x) ((x) ? (rc_assert_fail("NEVER(" #x ")", __FILE__, __LINE__), 1) : 0)
#else
#define ALWAYS(x) (!!(x))
#define NEVER(x) (!!(x))
#endif

#endif
