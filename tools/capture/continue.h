/*
 * tools/capture/continue.h - the session `ringcap run --session NAME` captures
 * into: a new one, or the same one again after the daemon died (kill -9,
 * power loss, a crash), which is recovered first and then continued.
 */
#ifndef RINGCAP_CAPSESSION_H
#define RINGCAP_CAPSESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg.h"
#include "persist/ses.h"

/* What rc_capture_session() did. */
struct rc_capsession {
	struct ses_meta meta;
	bool continued;          /* an existing session was continued */
	struct seg_report rep;   /* its recovery (continued only) */
	uint64_t recover_ns;     /* time seg_recover took (continued only) */
};

/* Finds NAME in data_dir: absent → created active with st; present and
 * not stopped (active, paused, interrupted) → seg_recover() of its files,
 * then active again, so the writers continue after its highest ids;
 * stopped → -EPERM (stopped is final). On error err holds one sentence
 * naming the session. Returns 0 or -errno. */
int rc_capture_session(const char *data_dir, const char *name, const struct ses_settings *st,
		       uint64_t now_ns, struct rc_capsession *out, char *err, size_t err_len);

/* At daemon start: sessions left active or paused become interrupted
 * (ses_mark_interrupted), and every interrupted session without an end
 * gets stop_ns = the end of its last stored exchange (its start when it
 * has none), so its duration stops growing; continuing it clears stop_ns.
 * Returns what ses_mark_interrupted returned. */
int rc_capture_mark_interrupted(const char *data_dir);

#endif
