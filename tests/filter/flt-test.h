/* tests/filter/flt-test.h: the filter tests' checks are tests/check.h's
 * counting CHECK / CHECK_STR / CHECK_MSG, so one run shows every broken row
 * of a truth table; main returns check_done(name). */
#ifndef FLT_TEST_H
#define FLT_TEST_H

#include "tests/check.h"

#endif
