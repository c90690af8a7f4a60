/*
 * tools/capture/sessions.h - the daemon's session manager: the one place that
 * changes which session captures and how. At most one session is active
 * (state active or paused); every change of it publishes a new capture
 * policy (tools/capture.h, rc_capture_set) and then writes the session's
 * metadata (persist/ses.h), so what runs and what is on disk agree; when
 * the metadata cannot be written the previous policy is put back.
 *
 * Rules (the API maps the errors to HTTP statuses):
 * - start while a session is active: -EBUSY, err names the active one (409)
 * - a name another session has: -EEXIST (409); a bad name or setting:
 *   -EINVAL (400); no such session: -ENOENT (404)
 * - pause/resume/stop/settings of a session that is not the active one:
 *   -EPERM (409): stopped sessions are final
 * - resume of an interrupted session (the daemon died while it ran)
 *   recovers and continues it with its stored settings, as `run --session`
 *   does; -EBUSY (409) while another session is active
 * - delete of the active session: -EBUSY (409): stop it first, so that no
 *   writer ever has its directory removed under it
 * - rename works in every state
 * All functions are serialised by one mutex; call them from control
 * threads (or main), never from a worker.
 */
#ifndef RINGCAP_SESSIONS_H
#define RINGCAP_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/ses.h"

struct flt_spec;
struct rc_capture;
struct rc_sessions;

#define RC_SES_SWAP_WAIT_MS 2000u  /* how long a stop waits for the old writers */
#define RC_SES_BODY_MAX (1u << 30) /* largest max_body a session may ask for */

/* A change of settings: fields left at their "keep" value stay. */
struct rc_session_change {
	const char *name;            /* NULL: keep */
	int save_responses;          /* -1 keep, 0 off, 1 on */
	int capture_cookies;         /* -1 keep, 0 off, 1 on */
	int64_t max_body;            /* -1 keep; 1..RC_SES_BODY_MAX bytes */
	const struct flt_spec *filter; /* NULL: keep; an empty spec: no filter */
	bool continue_existing;      /* start only: a session of that name that was
				      * never stopped (the daemon died) is recovered
				      * and continued (`run --session`) */
};
#define RC_SESSION_KEEP { NULL, -1, -1, -1, NULL, false }

/* defaults: the settings a new session starts with unless told otherwise
 * (from `ringcap run` options). cap: the engine's capture sink state. */
int rc_sessions_open(struct rc_sessions **out, const char *data_dir, struct rc_capture *cap,
		     const struct ses_settings *defaults);
/* run's compiled filter for new sessions whose defaults carry no filter
 * text (a filter too long for the session metadata, SES_FILTER_MAX): they
 * are captured with db, and their metadata says no filter. */
struct flt_db;
void rc_sessions_default_filter(struct rc_sessions *m, struct flt_db *db);

/* After the engine has stopped and rc_capture_destroy has flushed every
 * writer: with stop_active (a clean shutdown) marks the active session
 * stopped on disk; without (a start-up that failed) leaves it as it is, to
 * show as interrupted. Publishes nothing; frees. */
void rc_sessions_close(struct rc_sessions *m, bool stop_active);

/* Creates and starts a session; name NULL picks "session-<UTC time>".
 * 0 with *out the new metadata, or -errno with err set. */
int rc_sessions_start(struct rc_sessions *m, const struct rc_session_change *ch,
		      struct ses_meta *out, char *err, size_t errlen);
int rc_sessions_pause(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		      size_t errlen);
int rc_sessions_resume(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		       size_t errlen);
int rc_sessions_stop(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		     size_t errlen);
/* Rename (any state) and settings (active session only). */
int rc_sessions_update(struct rc_sessions *m, const char *id, const struct rc_session_change *ch,
		       struct ses_meta *out, char *err, size_t errlen);
int rc_sessions_delete(struct rc_sessions *m, const char *id, char *err, size_t errlen);
/* Resolves an id, a name or "active" (the active session, when there is
 * one) into the session's metadata. 0 or -ENOENT with err set. */
int rc_sessions_find(struct rc_sessions *m, const char *id_or_name, struct ses_meta *out,
		     char *err, size_t errlen);
/* Closes drained writers of earlier sessions (call now and then). */
void rc_sessions_tick(struct rc_sessions *m);
const char *rc_sessions_data_dir(const struct rc_sessions *m);

#endif
