/*
 * tools/replay/sched.c - due times of replayed requests (see sched.h).
 */
#include "tools/replay/sched.h"

bool rp_sched_timed(const struct rp_sched *s)
{
	return s->rate > 0 || s->speed > 0;
}

/* One pass's length at the run's speed: the recorded span plus one mean
 * gap, so the first request of the next pass does not land on the last of
 * this one. */
static uint64_t pass_ns(const struct rp_sched *s)
{
	uint64_t gap = s->count > 1 ? s->span_ns / (s->count - 1u) : 0;
	if (gap == 0)
		gap = 1000000u;   /* a one-request (or same-instant) pass: 1 ms apart */
	return (uint64_t)((double)(s->span_ns + gap) / s->speed);
}

uint64_t rp_sched_due(const struct rp_sched *s, uint64_t pass, uint64_t i, uint64_t rec_off_ns)
{
	if (s->rate > 0)
		return (uint64_t)((double)i * 1e9 / s->rate);
	if (s->speed <= 0)
		return 0;
	return pass * pass_ns(s) + (uint64_t)((double)rec_off_ns / s->speed);
}

bool rp_sched_more(const struct rp_sched *s, uint64_t pass, uint64_t due_ns)
{
	uint64_t loops = s->loops;
	if (loops == 0 && s->duration_ns == 0)
		loops = 1;
	if (loops != 0 && pass >= loops)
		return false;
	if (s->duration_ns != 0 && rp_sched_timed(s) && due_ns >= s->duration_ns)
		return false;
	return true;
}

bool rp_sched_counted(const struct rp_sched *s, uint64_t due_ns)
{
	return due_ns >= s->warmup_ns;
}
