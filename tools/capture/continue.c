/*
 * tools/capture/continue.c - create or continue the session of `ringcap run
 * --session NAME`. A session that was never stopped (the daemon was
 * killed) is continued: seg_recover() first completes each worker's index
 * from the frames after its last valid entry and cuts nothing that a
 * reader could use, then the writers open after the highest segment and
 * exchange id. A stopped session is final and is never written again.
 * At daemon start, sessions a killed daemon left active are marked
 * interrupted and end (stop_ns) at their last stored exchange.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
	out->meta.stop_ns = 0;   /* an interrupted session's end is open again */
	out->continued = true;
	return 0;
}

static int last_end(void *ctx, const struct seg_entry *e)
{
	uint64_t *last = ctx;
	uint64_t end = e->start_ns + e->duration_ns;
	if (end > *last)
		*last = end;
	return 0;
}

/* An interrupted session ends at its last stored exchange (its start when
 * none): its duration no longer grows while nothing runs. */
static void settle(const char *data_dir, struct ses_meta *m)
{
	char dir[4096];
	uint64_t last = 0;
	if (ses_dir(dir, sizeof(dir), data_dir, m->id) < 0)
		return;
	seg_index_scan(dir, last_end, &last, NULL);
	m->stop_ns = last > m->start_ns ? last : m->start_ns;
	ses_save(data_dir, m);
}

int rc_capture_mark_interrupted(const char *data_dir)
{
	int rc = ses_mark_interrupted(data_dir);
	struct ses_meta *v = calloc(SES_LIST_MAX, sizeof(*v));
	size_t n = 0;
	if (v == NULL || ses_list(data_dir, v, SES_LIST_MAX, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].state == SES_INTERRUPTED && v[i].stop_ns == 0)
			settle(data_dir, &v[i]);
	free(v);
	return rc;
}
