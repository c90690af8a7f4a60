/*
 * tests/tools/capture/sessions_test.c - the session manager (tools/sessions.c) over
 * the real capture state (no engine: nothing is captured, policies are
 * published and retired): the one-active rule, pause/resume/stop and what
 * the metadata on disk says after each, settings changes, a refused
 * request that changes nothing, delete rules, "active", and close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter/flt.h"
#include "persist/ses.h"
#include "tools/capture/sink.h"
#include "tools/capture/sessions.h"
#include "tests/check.h"


static char data[] = "/tmp/sessions_test.XXXXXX";

/* The metadata on disk for a name (state 255 when there is none). */
static struct ses_meta disk(const char *name)
{
	struct ses_meta m;
	if (ses_find(data, name, &m) < 0)
		m.state = 255;
	return m;
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
static void test_lifecycle(struct rc_sessions *m)
{
	char err[512];
	struct ses_meta a, b, x;
	struct rc_session_change ch = RC_SESSION_KEEP;
	ch.name = "a";
	CHECK(rc_sessions_start(m, &ch, &a, err, sizeof(err)) == 0);
	CHECK(a.state == SES_ACTIVE && disk("a").state == SES_ACTIVE);
	CHECK(a.settings.save_responses && a.settings.max_body == 4096);
	ch.name = "b";
	CHECK(rc_sessions_start(m, &ch, &b, err, sizeof(err)) == -EBUSY);
	CHECK(strstr(err, "session 'a'") != NULL);
	CHECK(disk("b").state == 255);
	CHECK(rc_sessions_pause(m, "active", &x, err, sizeof(err)) == 0);
	CHECK(x.state == SES_PAUSED && disk("a").state == SES_PAUSED);
	CHECK(rc_sessions_pause(m, "a", &x, err, sizeof(err)) == 0);   /* idempotent */
	CHECK(rc_sessions_start(m, &ch, &b, err, sizeof(err)) == -EBUSY);
	CHECK(rc_sessions_resume(m, a.id, &x, err, sizeof(err)) == 0);
	CHECK(x.state == SES_ACTIVE && disk("a").state == SES_ACTIVE);

	/* a refused change changes nothing, the rename included */
	struct rc_session_change bad = RC_SESSION_KEEP;
	bad.name = "renamed";
	bad.max_body = 0;
	CHECK(rc_sessions_update(m, "a", &bad, &x, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "max_body") != NULL);
	CHECK(disk("renamed").state == 255 && disk("a").settings.max_body == 4096);

	/* rename and settings together, then a filter */
	struct rc_session_change up = RC_SESSION_KEEP;
	up.name = "a2";
	up.save_responses = 0;
	up.capture_cookies = 1;
	up.max_body = 100;
	CHECK(rc_sessions_update(m, "a", &up, &x, err, sizeof(err)) == 0);
	struct ses_meta d = disk("a2");
	CHECK(strcmp(x.name, "a2") == 0 && d.state == SES_ACTIVE);
	CHECK(!d.settings.save_responses && d.settings.capture_cookies && d.settings.max_body == 100);
	struct flt_spec spec;
	flt_spec_init(&spec);
	CHECK(flt_spec_add_flag(&spec, "method", "GET,POST", err, sizeof(err)) == 0);
	struct rc_session_change fl = RC_SESSION_KEEP;
	fl.filter = &spec;
	CHECK(rc_sessions_update(m, "active", &fl, &x, err, sizeof(err)) == 0);
	CHECK(strcmp(disk("a2").settings.filter, "method=GET,POST") == 0);
	flt_spec_free(&spec);
	fl.filter = &spec;   /* empty: no filter */
	CHECK(rc_sessions_update(m, "active", &fl, &x, err, sizeof(err)) == 0);
	CHECK(disk("a2").settings.filter[0] == '\0');

	CHECK(rc_sessions_delete(m, "a2", err, sizeof(err)) == -EBUSY);
	CHECK(strstr(err, "stop it first") != NULL);
	CHECK(rc_sessions_stop(m, "a2", &x, err, sizeof(err)) == 0);
	d = disk("a2");
	CHECK(d.state == SES_STOPPED && d.stop_ns >= d.start_ns && d.stop_ns > 0);
	CHECK(rc_sessions_find(m, "active", &x, err, sizeof(err)) == -ENOENT);
	CHECK(strcmp(err, "no session is active") == 0);
	CHECK(rc_sessions_resume(m, "a2", &x, err, sizeof(err)) == -EPERM);
	CHECK(rc_sessions_stop(m, "a2", &x, err, sizeof(err)) == -EPERM);
	CHECK(rc_sessions_update(m, "a2", &up, &x, err, sizeof(err)) == -EPERM);
	struct rc_session_change rn = RC_SESSION_KEEP;
	rn.name = "old";
	CHECK(rc_sessions_update(m, "a2", &rn, &x, err, sizeof(err)) == 0);   /* any state */
	CHECK(disk("old").state == SES_STOPPED);

	/* names: taken, invalid; the next start is free again */
	ch.name = "old";
	CHECK(rc_sessions_start(m, &ch, &b, err, sizeof(err)) == -EEXIST);
	ch.name = "a/b";
	CHECK(rc_sessions_start(m, &ch, &b, err, sizeof(err)) == -EINVAL);
	ch.name = NULL;   /* a generated name */
	CHECK(rc_sessions_start(m, &ch, &b, err, sizeof(err)) == 0);
	CHECK(strncmp(b.name, "session-", 8) == 0);
	CHECK(rc_sessions_delete(m, "old", err, sizeof(err)) == 0);
	CHECK(disk("old").state == 255);
	CHECK(rc_sessions_delete(m, "nosuch", err, sizeof(err)) == -ENOENT);
}

int main(void)
{
	CHECK(mkdtemp(data) != NULL);
	struct rc_capture *cap = NULL;
	CHECK(rc_capture_create(2, &cap) == 0);
	struct ses_settings defaults = { .save_responses = true, .max_body = 4096 };
	struct rc_sessions *m = NULL;
	CHECK(rc_sessions_open(&m, data, cap, &defaults) == 0);
	test_lifecycle(m);
	struct ses_meta live;
	char err[256];
	CHECK(rc_sessions_find(m, "active", &live, err, sizeof(err)) == 0);
	rc_capture_destroy(cap);
	rc_sessions_close(m, true);   /* the running session is marked stopped */
	CHECK(disk(live.id).state == SES_STOPPED);
	struct ses_meta all[8];
	size_t n = 0;
	CHECK(ses_list(data, all, 8, &n) == 0 && n == 1);
	for (size_t i = 0; i < n; i++)
		ses_delete(data, all[i].id);
	rmdir(data);
	return check_done("sessions_test");
}
