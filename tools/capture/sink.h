/*
 * tools/capture/sink.h - the capture sink: exchanges the engine hands off are
 * written into a session's segment files (persist/) through each worker's
 * ring, under a capture policy the control plane swaps at run time.
 *
 * The policy (which session, paused or not, the toggles, the compiled
 * filter) sits behind one atomic pointer that each worker reads when an
 * exchange begins; an exchange finishes under the policy it began with.
 * A swapped-out policy is freed once every worker has passed a quiescent
 * point (the sink's per-loop call) after the swap. Each session's writers
 * (one per worker) are opened by the caller of rc_capture_set, off the
 * data plane, and closed there once their worker has drained them.
 */
#ifndef RINGCAP_CAPTURE_H
#define RINGCAP_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/eng.h"

struct flt_db;
struct rc_capture; /* shared by the workers and the control plane */

struct rc_capture_policy {
	const char *session_dir;  /* NULL: no session, nothing captured */
	bool paused;              /* session kept, nothing new captured */
	bool save_responses;      /* false: status, type, sizes, timings only */
	bool cookies;             /* store Cookie/Set-Cookie lines (SEG_F_COOKIES) */
	uint64_t body_max;        /* bytes stored per body and direction */
	struct flt_db *filter;    /* NULL: everything; rc_capture_set takes a ref */
};

struct rc_capture_stats {
	uint64_t written;   /* exchanges handed to a writer and ended */
	uint64_t dropped;   /* exchanges the store could not take */
	uint64_t filtered;  /* exchanges a filter left out */
	uint64_t bytes;     /* bytes written to segment files */
	uint64_t over_budget; /* frames stored raw: the zstd budget was spent */
	bool failed;        /* a write failed: capture is off until the next session */
};

/* State for `workers` workers, no policy (nothing captured) yet. Pass it as
 * eng_config.sink_arg with rc_capture_ops. Returns 0 or -ENOMEM. */
int rc_capture_create(unsigned workers, struct rc_capture **out);
/* After eng_stop (the workers have flushed and closed their writers). */
void rc_capture_destroy(struct rc_capture *c);
/* Flush interval of the writers opened from now on (ringcap run
 * --flush-interval; 0 = SEG_FLUSH_NS_DEFAULT). Before the first policy. */
void rc_capture_flush_interval(struct rc_capture *c, uint64_t flush_ns);
/* ringcap run --sync: the writers opened from now on group-commit, and
 * rc_capture_ops.ticket/durable tell the engine (eng_config.sync) when an
 * ended exchange is on stable storage. Before the first policy. */
void rc_capture_sync(struct rc_capture *c, bool sync);
/* ringcap run --zstd-level, --zstd-budget: the frame level and zstd's CPU
 * budget (percent of a worker's time, 0 = none) of the writers opened from
 * now on (seg_writer_cfg; ranges checked by the caller, 0 = the store's
 * defaults). Before the first policy. */
void rc_capture_zstd_level(struct rc_capture *c, int level, unsigned budget);

/* Publishes p. A new session_dir gets its writers opened first (may block
 * briefly on file I/O: never call it from a worker); the previous session's
 * writers are sealed and flushed by their workers and closed here. Waits up
 * to wait_ms for that: 0 when the previous session is fully on disk,
 * -EINPROGRESS when exchanges begun under it are still running (they finish
 * into it, and it is closed later by rc_capture_reap). Other errors:
 * -errno with a sentence in err; the old policy then stays. Serialised by a
 * mutex; callable from any thread but a worker. */
int rc_capture_set(struct rc_capture *c, const struct rc_capture_policy *p, unsigned wait_ms,
		   char *err, size_t errlen);
/* Closes sessions whose workers have drained since (call now and then). */
void rc_capture_reap(struct rc_capture *c);
void rc_capture_stats(struct rc_capture *c, struct rc_capture_stats *out);

/* Until the policy lands: one fixed session from start-up. */
struct rc_capture_cfg {
	const char *session_dir;
	uint64_t body_max;
	bool save_responses;
};

extern const struct eng_sink_ops rc_capture_ops;

#endif
