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

struct flt_db;

/* filter: NULL captures everything. Otherwise each worker decides with it
 * (filter/flt.h) on the URL the index stores (absolute form, rebuilt for
 * intercepted https), the method and the client address:
 *   REJECT   at the request head: never buffered, never written;
 *   PENDING  the exchange is written as it streams and decided at the
 *            response head (status + Content-Type): a rejection discards
 *            it (seg_xch_discard: never listed, recovered or rebuilt);
 *            one that ends with no response head is decided on the status
 *            the proxy itself answered (502, 504, ...) with no
 *            Content-Type (type "none"), and discarded when there was no
 *            answer at all (status 0: the client left first).
 * Client names are not known to the engine: name criteria match nothing.
 * The caller keeps its reference on the db for as long as the engine
 * runs; each PENDING exchange holds its own until it is decided. */
struct rc_capture_cfg {
	const char *session_dir;   /* an existing session directory */
	uint64_t body_max;         /* bytes stored per body and direction */
	bool save_responses;       /* false: status, type, sizes, timings only */
	struct flt_db *filter;     /* NULL = everything (see above) */
};

/* Pass with a struct rc_capture_cfg (alive while the engine runs) as
 * eng_config.sink_arg. */
extern const struct eng_sink_ops rc_capture_ops;

#endif
