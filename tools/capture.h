/*
 * tools/capture.h - the capture sink: exchanges the engine hands off are
 * written into a session's segment files (persist/) through each worker's
 * ring. One writer per worker, opened when the worker starts.
 */
#ifndef RINGCAP_CAPTURE_H
#define RINGCAP_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/eng.h"

struct rc_capture_cfg {
	const char *session_dir;   /* an existing session directory */
	uint64_t body_max;         /* bytes stored per body and direction */
	bool save_responses;       /* false: status, type, sizes, timings only */
};

/* Capture counters, summed over workers (since start-up). */
struct rc_capture_stats {
	uint64_t written;  /* exchanges handed whole to the writer (queued for disk) */
	uint64_t dropped;  /* exchanges not stored: writer full, capture stopped,
			    * or a write failed while they were open */
	uint64_t bytes;    /* segment/index/string bytes written to disk */
	bool failed;       /* some worker's capture stopped on a write error */
};

/* Reads the counters; any thread, any time (relaxed: a snapshot). */
void rc_capture_stats(struct rc_capture_stats *out);

/* Pass with a struct rc_capture_cfg (alive while the engine runs) as
 * eng_config.sink_arg. */
extern const struct eng_sink_ops rc_capture_ops;

#endif
