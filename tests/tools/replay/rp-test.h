/* tests/tools/replay/rp-test.h: the CHECK macro of the replay unit tests
 * (a failure names its line and the condition, and the binary exits 1). */
#ifndef RP_TEST_H
#define RP_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int rp_fails;

#define CHECK(c)                                                                 \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__,   \
				__LINE__, #c);                                   \
			rp_fails++;                                              \
		}                                                                \
	} while (0)

#define RP_TEST_END() (rp_fails ? (fprintf(stderr, "%d checks failed\n", rp_fails), 1) : 0)

#endif
