/* tests/persist/session_test.c: session directories: create, load, find by
 * id or name, unique names, rename, states and stop time, interrupted on
 * restart, delete by rename (also finishing a delete a crash cut short),
 * atomic metadata (a stale temp file changes nothing, a damaged file is
 * refused), ids short, unique and sorted by creation time.
 */
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/ses.h"

static struct ses_meta v[SES_LIST_MAX];

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	char data[64], p[256];
	make_tmpdir(data, sizeof(data), "ses");
	strcat(data, "/data"); /* ses_create makes the data directory */
	struct ses_settings st = { .save_responses = true, .capture_cookies = true,
				   .max_body = 1 << 20 };
	snprintf(st.filter, sizeof(st.filter), "{\"methods\":[\"GET\"],\"url_contains\":[\"api\"]}");
	struct ses_meta a, b, m;
	uint64_t t0 = now_wall_ns();
	REQUIRE_RC(ses_create(data, "phone run", &st, t0, &a));
	CHECK(strlen(a.id) == SES_ID_LEN && a.state == SES_ACTIVE && a.start_ns == t0);
	CHECK(ses_create(data, "phone run", &st, t0, &b) == -EEXIST);
	CHECK(ses_create(data, "bad/name", &st, t0, &b) == -EINVAL);
	CHECK(ses_create(data, "", &st, t0, &b) == -EINVAL);
	CHECK(ses_create(data, "new\nline", &st, t0, &b) == -EINVAL);
	REQUIRE_RC(ses_create(data, "second", &st, t0 + 5000000, &b));
	REQUIRE(strcmp(a.id, b.id) < 0); /* later creation sorts later */

	REQUIRE_RC(ses_load(data, a.id, &m));
	CHECK(!strcmp(m.name, "phone run") && !strcmp(m.settings.filter, st.filter));
	REQUIRE(m.settings.save_responses && m.settings.capture_cookies && m.settings.max_body == 1 << 20);
	REQUIRE_RC(ses_find(data, "second", &m));
	CHECK(!strcmp(m.id, b.id));
	REQUIRE_RC(ses_find(data, a.id, &m));
	CHECK(ses_find(data, "nope", &m) == -ENOENT);

	/* States and rename. */
	REQUIRE_RC(ses_set_state(data, a.id, SES_PAUSED, t0 + 1));
	REQUIRE_RC(ses_set_state(data, a.id, SES_STOPPED, t0 + 99));
	REQUIRE_RC(ses_load(data, a.id, &m));
	CHECK(m.state == SES_STOPPED && m.stop_ns == t0 + 99);
	CHECK(ses_rename(data, a.id, "second") == -EEXIST);
	REQUIRE_RC(ses_rename(data, a.id, "renamed"));
	REQUIRE_RC(ses_rename(data, a.id, "renamed")); /* its own name is fine */
	REQUIRE_RC(ses_find(data, "renamed", &m));
	CHECK(!strcmp(m.id, a.id) && m.state == SES_STOPPED);

	/* A leftover temp file (crash before rename) changes nothing. */
	snprintf(p, sizeof(p), "%s/%s/%s.tmp", data, a.id, SES_META_FILE);
	FILE *f = fopen(p, "w");
	REQUIRE(f && fputs("garbage", f) >= 0);
	fclose(f);
	REQUIRE_RC(ses_load(data, a.id, &m));
	CHECK(!strcmp(m.name, "renamed"));
	REQUIRE_RC(ses_rename(data, a.id, "again")); /* and is replaced by the next save */
	CHECK(access(p, F_OK) != 0);

	/* Each save keeps the copy it replaces: 50 NUL bytes in session.meta
	 * leave the session readable from session.meta.prev (one save back). */
	snprintf(p, sizeof(p), "%s/%s/%s", data, a.id, SES_META_FILE);
	f = fopen(p, "r+");
	static const char nul[50];
	CHECK(f && fseek(f, 40, SEEK_SET) == 0 && fwrite(nul, 1, sizeof(nul), f) == sizeof(nul));
	fclose(f);
	CHECK_RC(ses_load(data, a.id, &m));
	CHECK(m.origin == SES_META_PREV && !strcmp(m.name, "renamed") && m.state == SES_STOPPED);
	bool fixed = false;
	CHECK_RC(ses_repair(data, a.id, &fixed));
	CHECK(fixed);
	CHECK_RC(ses_load(data, a.id, &m));
	CHECK(m.origin == SES_META_OK && !strcmp(m.name, "renamed"));
	CHECK_RC(ses_repair(data, a.id, &fixed));
	CHECK(!fixed); /* nothing left to do */
	CHECK_RC(ses_rename(data, a.id, "again"));

	/* A damaged metadata file is refused, not half-read. */
	snprintf(p, sizeof(p), "%s/%s/%s", data, b.id, SES_META_FILE);
	f = fopen(p, "r+");
	REQUIRE(f && fseek(f, 30, SEEK_SET) == 0 && fputc('X', f) != EOF);
	fclose(f);
	CHECK(ses_load(data, b.id, &m) == -EBADMSG); /* and it has no previous copy */
	size_t n;
	CHECK_RC(ses_list(data, v, SES_LIST_MAX, &n));
	/* Still listed, as damaged (no segments: times 0), named by its id. */
	CHECK(n == 2);
	CHECK(!strcmp(v[1].id, b.id) || !strcmp(v[0].id, b.id));
	struct ses_meta *dm = !strcmp(v[0].id, b.id) ? &v[0] : &v[1];
	CHECK(dm->state == SES_DAMAGED && dm->origin == SES_META_LOST && !strcmp(dm->name, b.id));
	CHECK_RC(ses_find(data, b.id, &m));
	CHECK(m.state == SES_DAMAGED);
	CHECK_RC(ses_repair(data, b.id, &fixed));
	CHECK(fixed);
	CHECK_RC(ses_load(data, b.id, &m));
	CHECK(m.state == SES_STOPPED && m.origin == SES_META_OK);
	CHECK_RC(ses_delete(data, b.id));
	CHECK_RC(ses_list(data, v, SES_LIST_MAX, &n));
	CHECK(n == 1);

	/* Many sessions: unique ids, sorted. */
	for (int i = 0; i < 50; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%02d", i);
		REQUIRE_RC(ses_create(data, name, &st, t0 + 1000000000ull + (uint64_t)i / 10 * 1000000ull, &m));
	}
	REQUIRE_RC(ses_list(data, v, SES_LIST_MAX, &n));
	CHECK(n == 51);
	for (size_t i = 1; i < n; i++)
		REQUIRE(strcmp(v[i - 1].id, v[i].id) < 0);

	/* Restart: active/paused become interrupted. */
	REQUIRE_RC(ses_set_state(data, v[3].id, SES_PAUSED, t0));
	int changed = ses_mark_interrupted(data);
	CHECK(changed == 50);
	REQUIRE_RC(ses_load(data, v[3].id, &m));
	CHECK(m.state == SES_INTERRUPTED);
	REQUIRE_RC(ses_load(data, a.id, &m));
	CHECK(m.state == SES_STOPPED);

	/* Delete: gone at once; a half-finished delete is finished by list. */
	REQUIRE_RC(ses_delete(data, a.id));
	CHECK(ses_load(data, a.id, &m) == -ENOENT);
	snprintf(p, sizeof(p), "%s/.deleted-%s", data, v[5].id);
	char from[256];
	snprintf(from, sizeof(from), "%s/%s", data, v[5].id);
	CHECK(rename(from, p) == 0);
	REQUIRE_RC(ses_list(data, v, SES_LIST_MAX, &n));
	CHECK(n == 49 && access(p, F_OK) != 0);

	struct ses_stats ss;
	REQUIRE_RC(ses_stats(data, v[0].id, &ss));
	REQUIRE(ss.exchanges == 0 && ss.segments == 0 && ss.bytes > 0);
	data[strlen(data) - 5] = '\0';
	rm_rf(data);
	return check_done("persist_session");
}
