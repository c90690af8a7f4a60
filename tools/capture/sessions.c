/*
 * tools/capture/sessions.c - the daemon's session manager (see sessions.h).
 *
 * Invariant: m->has_active is true exactly while the published capture
 * policy names m->active's directory; m->db is the filter that policy
 * holds (this module keeps its own reference to it), NULL for none.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/flt.h"
#include "tools/capture/sink.h"
#include "tools/capture/continue.h"
#include "tools/capture/sessions.h"

struct rc_sessions {
	pthread_mutex_t lock;
	char data_dir[2048];
	struct rc_capture *cap;
	struct ses_settings defaults;
	bool has_active;
	struct ses_meta active;
	char active_dir[4096];   /* stable memory for the published policy */
	struct flt_db *db;
	struct flt_db *default_db; /* run's filter, when its text is too long to compile
				    * again from defaults.filter */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Publishes the policy for meta (NULL: no session) with filter db. A
 * change within one session passes wait_ms 0: its writers stay, and an
 * exchange that begins after the swap sees the new policy at once. */
static int publish(struct rc_sessions *m, const struct ses_meta *meta, struct flt_db *db,
		   unsigned wait_ms, char *err, size_t errlen)
{
	struct rc_capture_policy p = {0};
	if (meta) {
		int rc = ses_dir(m->active_dir, sizeof(m->active_dir), m->data_dir, meta->id);
		if (rc < 0)
			return snprintf(err, errlen, "session directory name too long"), rc;
		p.session_dir = m->active_dir;
		p.paused = meta->state == SES_PAUSED;
		p.save_responses = meta->settings.save_responses;
		p.cookies = meta->settings.capture_cookies;
		p.body_max = meta->settings.max_body;
		p.filter = db;
	}
	int rc = rc_capture_set(m->cap, &p, wait_ms, err, errlen);
	return rc == -EINPROGRESS ? 0 : rc;
}

int rc_sessions_open(struct rc_sessions **out, const char *data_dir, struct rc_capture *cap,
		     const struct ses_settings *defaults)
{
	struct rc_sessions *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	if ((size_t)snprintf(m->data_dir, sizeof(m->data_dir), "%s", data_dir) >= sizeof(m->data_dir)) {
		free(m);
		return -ENAMETOOLONG;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->cap = cap;
	m->defaults = *defaults;
	*out = m;
	return 0;
}

void rc_sessions_close(struct rc_sessions *m, bool stop_active)
{
	if (m == NULL)
		return;
	if (m->has_active && stop_active) {
		m->active.state = SES_STOPPED;
		m->active.stop_ns = now_ns();
		int rc = ses_save(m->data_dir, &m->active);
		fprintf(stderr, "ringcap: session '%s' (%s) %s\n", m->active.name, m->active.id,
			rc < 0 ? "could not be marked stopped (it shows as interrupted)" : "stopped");
	}
	if (m->db)
		flt_db_unref(m->db);
	if (m->default_db)
		flt_db_unref(m->default_db);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

const char *rc_sessions_data_dir(const struct rc_sessions *m)
{
	return m->data_dir;
}

void rc_sessions_tick(struct rc_sessions *m)
{
	/* the accept loop calls this: never wait behind a stop that drains */
	if (pthread_mutex_trylock(&m->lock) != 0)
		return;
	rc_capture_reap(m->cap);
	pthread_mutex_unlock(&m->lock);
}

static int find_locked(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		       size_t errlen)
{
	if (m->has_active && (strcmp(id, "active") == 0 || strcmp(id, m->active.id) == 0 ||
			      strcmp(id, m->active.name) == 0)) {
		*out = m->active;
		return 0;
	}
	int rc = ses_find(m->data_dir, id, out);
	if (rc < 0)
		snprintf(err, errlen, strcmp(id, "active") == 0 ? "no session is active" :
			 "no session '%s'", id);
	return rc < 0 ? -ENOENT : 0;
}

int rc_sessions_find(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		     size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	int rc = find_locked(m, id, out, err, errlen);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Applies ch's settings to st, compiling a new filter into *db (NULL when
 * the filter is kept or cleared: *filter_changed says which). */
static int apply_settings(const struct rc_session_change *ch, struct ses_settings *st,
			  struct flt_db **db, bool *filter_changed, char *err, size_t errlen)
{
	*db = NULL;
	*filter_changed = false;
	if (ch->save_responses >= 0)
		st->save_responses = ch->save_responses != 0;
	if (ch->capture_cookies >= 0)
		st->capture_cookies = ch->capture_cookies != 0;
	if (ch->max_body >= 0) {
		if (ch->max_body < 1 || ch->max_body > (int64_t)RC_SES_BODY_MAX)
			return snprintf(err, errlen, "max_body %lld is out of range (1 to %u)",
					(long long)ch->max_body, RC_SES_BODY_MAX), -EINVAL;
		st->max_body = (uint64_t)ch->max_body;
	}
	if (ch->filter == NULL)
		return 0;
	*filter_changed = true;
	size_t n = flt_spec_format_text(ch->filter, st->filter, sizeof(st->filter));
	if (n >= sizeof(st->filter))
		return snprintf(err, errlen, "filter too long (its text form exceeds %u bytes)",
				SES_FILTER_MAX), -EINVAL;
	if (flt_spec_is_empty(ch->filter))
		return 0;
	char ferr[256];
	int rc = flt_compile(ch->filter, db, ferr, sizeof(ferr));
	if (rc < 0)
		snprintf(err, errlen, "filter: %s", rc == -ENOMEM ? "out of memory" : ferr);
	return rc;
}

/* The filter db of a session's stored text form (NULL when empty). */
static int compile_text(const char *text, struct flt_db **db, char *err, size_t errlen)
{
	*db = NULL;
	if (text[0] == '\0')
		return 0;
	struct flt_spec spec;
	flt_spec_init(&spec);
	char ferr[256];
	int rc = flt_spec_parse_text(&spec, text, strlen(text), ferr, sizeof(ferr));
	if (rc == 0)
		rc = flt_compile(&spec, db, ferr, sizeof(ferr));
	flt_spec_free(&spec);
	if (rc < 0)
		snprintf(err, errlen, "stored filter: %s", ferr);
	return rc;
}

static void busy_msg(const struct rc_sessions *m, char *err, size_t errlen)
{
	snprintf(err, errlen, "session '%s' (%s) is %s: stop it first", m->active.name,
		 m->active.id, ses_state_name(m->active.state));
}

static void default_name(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "session-%Y%m%d-%H%M%S", &tm);
}

/* -EEXIST (err set) when name is another session's id or name: ids and
 * names share one namespace (ses_find takes either), so such a name would
 * hide that session. */
static int name_clash(struct rc_sessions *m, const char *name, const char *own_id, char *err,
		      size_t errlen)
{
	struct ses_meta other;
	if (ses_find(m->data_dir, name, &other) < 0 || strcmp(other.id, own_id) == 0)
		return 0;
	if (err)
		snprintf(err, errlen, strcmp(other.id, name) == 0 ?
			 "'%s' is the id of session '%s'" : "a session named '%s' exists",
			 name, other.name);
	return -EEXIST;
}

/* run --session NAME: a new session, or the same one continued after the
 * daemon died (recovered first, ids go on; stopped is final). */
static int start_or_continue(struct rc_sessions *m, const char *name,
			     const struct ses_settings *st, struct ses_meta *meta, bool *continued,
			     char *err, size_t errlen)
{
	struct rc_capsession cs;
	int rc = rc_capture_session(m->data_dir, name, st, now_ns(), &cs, err, errlen);
	if (rc < 0)
		return rc;
	*meta = cs.meta;
	*continued = cs.continued;
	if (cs.continued)
		fprintf(stderr, "ringcap: continuing session '%s' (%s): recovered in %.1f ms, "
			"%llu exchanges completed from the segments, %llu in flight at the crash "
			"(not stored), %llu torn bytes\n", meta->name, meta->id,
			(double)cs.recover_ns / 1e6, (unsigned long long)cs.rep.exchanges,
			(unsigned long long)cs.rep.incomplete, (unsigned long long)cs.rep.torn_bytes);
	return 0;
}

int rc_sessions_start(struct rc_sessions *m, const struct rc_session_change *ch,
		      struct ses_meta *out, char *err, size_t errlen)
{
	struct ses_settings *st = malloc(sizeof(*st));
	if (st == NULL)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	pthread_mutex_lock(&m->lock);
	struct flt_db *db = NULL;
	bool fchanged;
	struct ses_meta meta;
	char name[SES_NAME_MAX + 1];
	int rc = -EBUSY;
	if (m->has_active) {
		busy_msg(m, err, errlen);
		goto out_unlock;
	}
	*st = m->defaults;
	if ((rc = apply_settings(ch, st, &db, &fchanged, err, errlen)) < 0)
		goto out_unlock;
	if (!fchanged && m->default_db && st->filter[0] == '\0')
		db = flt_db_ref(m->default_db);
	else if (!fchanged && (rc = compile_text(st->filter, &db, err, errlen)) < 0)
		goto out_unlock;
	if (ch->name)
		snprintf(name, sizeof(name), "%s", ch->name);
	else
		default_name(name, sizeof(name));
	bool continued = false;
	if (ch->continue_existing) {
		rc = start_or_continue(m, name, st, &meta, &continued, err, errlen);
		if (rc < 0)
			goto out_db;
	} else if ((rc = name_clash(m, name, "", err, errlen)) < 0) {
		goto out_db;
	} else {
		rc = ses_create(m->data_dir, name, st, now_ns(), &meta);
	}
	if (rc < 0) {
		snprintf(err, errlen, rc == -EEXIST ? "a session named '%s' exists" :
			 rc == -EINVAL ? "'%s' is not a valid session name (1 to 64 bytes, no '/' "
			 "or control characters)" : "cannot create session '%s'", name);
		goto out_db;
	}
	if ((rc = publish(m, &meta, db, RC_SES_SWAP_WAIT_MS, err, errlen)) < 0) {
		if (!continued)
			ses_delete(m->data_dir, meta.id);
		goto out_db;
	}
	m->active = meta;
	m->has_active = true;
	m->db = db;
	db = NULL;
	if (out)
		*out = meta;
out_db:
	if (db)
		flt_db_unref(db);
out_unlock:
	pthread_mutex_unlock(&m->lock);
	free(st);
	return rc;
}

/* The active session named by id, or -ENOENT/-EPERM with err set. */
static int active_locked(struct rc_sessions *m, const char *id, char *err, size_t errlen)
{
	struct ses_meta found;
	int rc = find_locked(m, id, &found, err, errlen);
	if (rc < 0)
		return rc;
	if (!m->has_active || strcmp(found.id, m->active.id) != 0) {
		snprintf(err, errlen, "session '%s' is %s: only the active session changes "
			 "(stopped is final)", found.name, ses_state_name(found.state));
		return -EPERM;
	}
	return 0;
}

/* Publishes next (same session, other state or settings) with db, then
 * saves it; on a failed save the old policy goes back. */
static int swap_locked(struct rc_sessions *m, const struct ses_meta *next, struct flt_db *db,
		       char *err, size_t errlen)
{
	int rc = publish(m, next, db, 0, err, errlen);
	if (rc < 0)
		return rc;
	rc = ses_save(m->data_dir, next);
	if (rc < 0) {
		char e2[128];
		publish(m, &m->active, m->db, 0, e2, sizeof(e2));
		snprintf(err, errlen, "cannot write the session metadata: %s", strerror(-rc));
		return rc;
	}
	m->active = *next;
	if (db != m->db) {
		if (m->db)
			flt_db_unref(m->db);
		m->db = db;
	}
	return 0;
}

/* resume of an interrupted session (the daemon died while it ran): it is
 * recovered and continued as `run --session` would, with its own stored
 * settings, when no other session is active. */
static int continue_locked(struct rc_sessions *m, const struct ses_meta *found,
			   struct ses_meta *out, char *err, size_t errlen)
{
	if (m->has_active) {
		busy_msg(m, err, errlen);
		return -EBUSY;
	}
	struct flt_db *db = NULL;
	int rc = compile_text(found->settings.filter, &db, err, errlen);
	if (rc < 0)
		return rc;
	struct ses_meta meta;
	bool continued = false;
	rc = start_or_continue(m, found->id, &found->settings, &meta, &continued, err, errlen);
	if (rc == 0)
		rc = publish(m, &meta, db, RC_SES_SWAP_WAIT_MS, err, errlen);
	if (rc < 0) {
		ses_set_state(m->data_dir, found->id, SES_INTERRUPTED, 0);
		if (db)
			flt_db_unref(db);
		return rc;
	}
	m->active = meta;
	m->has_active = true;
	m->db = db;
	if (out)
		*out = meta;
	return 0;
}

static int set_paused(struct rc_sessions *m, const char *id, bool paused, struct ses_meta *out,
		      char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	struct ses_meta found;
	if (!paused && find_locked(m, id, &found, err, errlen) == 0 &&
	    found.state == SES_INTERRUPTED) {
		int rc = continue_locked(m, &found, out, err, errlen);
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	int rc = active_locked(m, id, err, errlen);
	if (rc == 0) {
		struct ses_meta next = m->active;
		next.state = paused ? SES_PAUSED : SES_ACTIVE;
		if (next.state != m->active.state)
			rc = swap_locked(m, &next, m->db, err, errlen);
		if (rc == 0 && out)
			*out = m->active;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int rc_sessions_pause(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		      size_t errlen)
{
	return set_paused(m, id, true, out, err, errlen);
}

int rc_sessions_resume(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		       size_t errlen)
{
	return set_paused(m, id, false, out, err, errlen);
}

int rc_sessions_stop(struct rc_sessions *m, const char *id, struct ses_meta *out, char *err,
		     size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	int rc = active_locked(m, id, err, errlen);
	if (rc == 0)
		rc = publish(m, NULL, NULL, RC_SES_SWAP_WAIT_MS, err, errlen);
	if (rc == 0) {
		m->active.state = SES_STOPPED;
		m->active.stop_ns = now_ns();
		rc = ses_save(m->data_dir, &m->active);
		if (rc < 0)   /* capture has stopped anyway; the next start marks it interrupted */
			snprintf(err, errlen, "cannot write the session metadata: %s", strerror(-rc));
		m->has_active = false;
		if (m->db)
			flt_db_unref(m->db);
		m->db = NULL;
		if (out)
			*out = m->active;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int rename_locked(struct rc_sessions *m, const struct ses_meta *found, const char *name,
			 char *err, size_t errlen)
{
	int rc = name_clash(m, name, found->id, err, errlen);
	if (rc < 0)
		return rc;
	rc = ses_rename(m->data_dir, found->id, name);
	if (rc < 0)
		snprintf(err, errlen, rc == -EEXIST ? "a session named '%s' exists" :
			 rc == -EINVAL ? "'%s' is not a valid session name (1 to 64 bytes, no '/' "
			 "or control characters)" : "cannot rename to '%s'", name);
	else if (m->has_active && strcmp(found->id, m->active.id) == 0)
		snprintf(m->active.name, sizeof(m->active.name), "%s", name);
	return rc;
}

int rc_sessions_update(struct rc_sessions *m, const char *id, const struct rc_session_change *ch,
		       struct ses_meta *out, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	struct ses_meta found, next;
	struct flt_db *db = NULL;
	bool fchanged = false, renamed = false;
	int rc = find_locked(m, id, &found, err, errlen);
	next = found;
	bool settings = ch->save_responses >= 0 || ch->capture_cookies >= 0 || ch->max_body >= 0 ||
			ch->filter != NULL;
	/* everything is checked before the first change, so a refused request
	 * changes nothing */
	if (rc == 0 && settings && (rc = active_locked(m, found.id, err, errlen)) == 0) {
		next = m->active;
		rc = apply_settings(ch, &next.settings, &db, &fchanged, err, errlen);
	}
	if (rc == 0 && ch->name && strcmp(ch->name, found.name) != 0) {
		rc = rename_locked(m, &found, ch->name, err, errlen);
		renamed = rc == 0;
	}
	if (rc == 0 && settings) {
		snprintf(next.name, sizeof(next.name), "%s", m->active.name);
		rc = swap_locked(m, &next, fchanged ? db : m->db, err, errlen);
		if (rc == 0)
			db = NULL;   /* the policy (and m->db) has it now */
		else if (renamed)
			rename_locked(m, &found, found.name, NULL, 0);
	}
	if (db)
		flt_db_unref(db);
	if (rc == 0 && out)
		rc = find_locked(m, found.id, out, err, errlen);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int rc_sessions_delete(struct rc_sessions *m, const char *id, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	struct ses_meta found;
	int rc = find_locked(m, id, &found, err, errlen);
	if (rc == 0 && m->has_active && strcmp(found.id, m->active.id) == 0) {
		busy_msg(m, err, errlen);
		rc = -EBUSY;
	}
	if (rc == 0 && (rc = ses_delete(m->data_dir, found.id)) < 0)
		snprintf(err, errlen, "cannot delete session '%s': %s", found.name, strerror(-rc));
	pthread_mutex_unlock(&m->lock);
	return rc;
}

void rc_sessions_default_filter(struct rc_sessions *m, struct flt_db *db)
{
	pthread_mutex_lock(&m->lock);
	if (m->default_db)
		flt_db_unref(m->default_db);
	m->default_db = db ? flt_db_ref(db) : NULL;
	pthread_mutex_unlock(&m->lock);
}
