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

/* Pass with a struct rc_capture_cfg (alive while the engine runs) as
 * eng_config.sink_arg. */
extern const struct eng_sink_ops rc_capture_ops;

#endif
