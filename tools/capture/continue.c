/*
 * tools/capture/continue.c - create or continue the session of `ringcap run
 * --session NAME`. A session that was never stopped (the daemon was
 * killed) is continued: seg_recover() first completes each worker's index
 * from the frames after its last valid entry and cuts nothing that a
 * reader could use, then the writers open after the highest segment and
 * exchange id. A stopped session is final and is never written again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tools/capture/continue.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int create(const char *data_dir, const char *name, const struct ses_settings *st,
		  uint64_t now_ns, struct rc_capsession *out, char *err, size_t err_len)
{
	int rc = ses_create(data_dir, name, st, now_ns, &out->meta);
	if (rc < 0)
		snprintf(err, err_len, "--session '%s': %s", name,
			 rc == -EEXIST ? "a session with that name exists" :
			 rc == -EINVAL ? "not a valid name" : strerror(-rc));
	return rc;
}

int rc_capture_session(const char *data_dir, const char *name, const struct ses_settings *st,
		       uint64_t now_ns, struct rc_capsession *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	int rc = ses_find(data_dir, name, &out->meta);
	if (rc == -ENOENT)
		return create(data_dir, name, st, now_ns, out, err, err_len);
	if (rc < 0) {
		snprintf(err, err_len, "--session '%s': cannot read the data directory '%s': %s",
			 name, data_dir, strerror(-rc));
		return rc;
	}
	if (out->meta.state == SES_STOPPED) {
		snprintf(err, err_len, "--session '%s': session %s is stopped, and a stopped "
			 "session is final; choose a new name", name, out->meta.id);
		return -EPERM;
	}
	char dir[4096];
	ses_dir(dir, sizeof(dir), data_dir, out->meta.id);
	uint64_t t0 = mono_ns();
	rc = seg_recover(dir, &out->rep);
	out->recover_ns = mono_ns() - t0;
	if (rc < 0) {
		snprintf(err, err_len, "--session '%s': recovering %s failed: %s (try ringcap "
			 "fsck --repair)", name, dir, strerror(-rc));
		return rc;
	}
	rc = ses_set_state(data_dir, out->meta.id, SES_ACTIVE, now_ns);
	if (rc < 0) {
		snprintf(err, err_len, "--session '%s': cannot mark it active: %s", name,
			 strerror(-rc));
		return rc;
	}
	out->meta.state = SES_ACTIVE;
	out->continued = true;
	return 0;
}
