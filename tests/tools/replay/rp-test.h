/* tests/tools/replay/rp-test.h: the replay unit tests' checks are
 * tests/check.h's counting CHECKs; RP_TEST_END() is the closing line and
 * exit code (check_done, named by the test's file). */
#ifndef RP_TEST_H
#define RP_TEST_H

#include "tests/check.h"

#define RP_TEST_END() check_done(__FILE__)

#endif
