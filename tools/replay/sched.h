/*
 * tools/replay/sched.h - when each replayed request is due, as a pure
 * function of the run's timing options, so it can be tested without a
 * socket. Offsets are nanoseconds from the run's start.
 *
 *   --speed N > 0   request k of a pass is due at (start_k - start_0) / N:
 *                   the recorded inter-arrival times, N times faster;
 *   --speed 0       every request is due at once: each connection sends its
 *                   next request as soon as its previous one is answered
 *                   (closed loop, like wrk);
 *   --rate R        request number i (counted across passes) is due at
 *                   i / R seconds (open loop, like wrk2 -R).
 * Passes (--loop N, or until --duration with --loop 0) follow each other:
 * with --speed, pass p starts one recorded span (plus one mean gap) after
 * pass p-1, so a session replayed in a loop keeps its shape.
 */
#ifndef RINGCAP_RP_SCHED_H
#define RINGCAP_RP_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct rp_sched {
	double speed;          /* --speed; 0 = as fast as possible */
	double rate;           /* --rate; 0 = off (then speed rules) */
	uint64_t span_ns;      /* recorded start of the last selected minus the first */
	uint64_t count;        /* requests in one pass (> 0) */
	uint64_t duration_ns;  /* --duration; 0 = none */
	uint64_t warmup_ns;    /* --warmup: due before this, sent but not counted */
	uint64_t loops;        /* --loop; 0 = until duration (1 when no duration) */
};

/* Due time of request seq (0-based within its pass) of pass `pass` whose
 * recorded start is rec_off_ns after the first selected one; i is the
 * running number across passes. */
uint64_t rp_sched_due(const struct rp_sched *s, uint64_t pass, uint64_t i, uint64_t rec_off_ns);
/* False once no request due at due_ns (of pass `pass`) may be sent: past
 * --duration or past the last pass. */
bool rp_sched_more(const struct rp_sched *s, uint64_t pass, uint64_t due_ns);
/* True when a request due at due_ns counts in the report (after warm-up). */
bool rp_sched_counted(const struct rp_sched *s, uint64_t due_ns);
/* True when due times come from the clock (speed > 0 or rate); false in
 * the closed loop, where a request is due when its connection is free. */
bool rp_sched_timed(const struct rp_sched *s);

#endif
