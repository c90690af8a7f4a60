/* tests/tools/replay/sched_test.c: due times. At --speed 1 a request is due
 * at its recorded offset, at 10 at a tenth of it, at 0 at once (closed
 * loop, untimed); --rate R spaces requests 1/R apart across passes;
 * passes follow each other one span plus one mean gap apart; --loop and
 * --duration end the run where they should; warm-up excludes early ones. */
#include <stdint.h>

#include "tests/tools/replay/rp-test.h"
#include "tools/replay/sched.h"

#define MS 1000000ull

int main(void)
{
	struct rp_sched s = { .speed = 1, .span_ns = 900 * MS, .count = 10 };
	CHECK(rp_sched_timed(&s));
	CHECK(rp_sched_due(&s, 0, 0, 0) == 0);
	CHECK(rp_sched_due(&s, 0, 3, 300 * MS) == 300 * MS);
	/* one pass only by default */
	CHECK(rp_sched_more(&s, 0, 900 * MS));
	CHECK(!rp_sched_more(&s, 1, 0));

	s.speed = 10;
	CHECK(rp_sched_due(&s, 0, 3, 300 * MS) == 30 * MS);
	/* pass 1 starts one span + one mean gap (100 ms) later, scaled */
	CHECK(rp_sched_due(&s, 1, 10, 0) == 100 * MS);
	CHECK(rp_sched_due(&s, 1, 13, 300 * MS) == 130 * MS);

	s.speed = 0.5;  /* slower than recorded */
	CHECK(rp_sched_due(&s, 0, 1, 100 * MS) == 200 * MS);

	s.speed = 0;
	CHECK(!rp_sched_timed(&s));
	CHECK(rp_sched_due(&s, 0, 5, 500 * MS) == 0);
	CHECK(rp_sched_due(&s, 7, 75, 500 * MS) == 0);

	struct rp_sched r = { .speed = 1, .rate = 200, .span_ns = 900 * MS, .count = 10 };
	CHECK(rp_sched_timed(&r));
	CHECK(rp_sched_due(&r, 0, 0, 900 * MS) == 0);
	CHECK(rp_sched_due(&r, 0, 1, 0) == 5 * MS);
	CHECK(rp_sched_due(&r, 3, 200, 0) == 1000 * MS);

	/* --loop 3: passes 0..2 */
	r.loops = 3;
	CHECK(rp_sched_more(&r, 2, 0));
	CHECK(!rp_sched_more(&r, 3, 0));
	/* --duration 2s with --loop 0: until the due time passes 2 s */
	r.loops = 0;
	r.duration_ns = 2000 * MS;
	CHECK(rp_sched_more(&r, 50, 1999 * MS));
	CHECK(!rp_sched_more(&r, 50, 2000 * MS));
	/* closed loop with --duration: the clock ends it, not the schedule */
	s.speed = 0;
	s.loops = 0;
	s.duration_ns = 2000 * MS;
	CHECK(rp_sched_more(&s, 1000, 0));

	/* a one-request pass repeats 1 ms apart at speed 1 */
	struct rp_sched one = { .speed = 1, .count = 1, .loops = 5 };
	CHECK(rp_sched_due(&one, 4, 4, 0) == 4 * MS);

	/* warm-up */
	r.warmup_ns = 500 * MS;
	CHECK(!rp_sched_counted(&r, 499 * MS));
	CHECK(rp_sched_counted(&r, 500 * MS));
	return RP_TEST_END();
}
