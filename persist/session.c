/* persist/session.c: session directories and their metadata file.
 *
 * session.meta is text, one "key=value" per line, closed by a line
 * "crc=XXXXXXXX" (crc32c of all bytes before it) so a file damaged by
 * something other than our atomic rename is detected, not half-parsed:
 *   ringcap-session 1
 *   id=… name=… state=active|paused|stopped|interrupted created_ns=…
 *   start_ns=… stop_ns=… save_responses=0|1 capture_cookies=0|1
 *   max_body=… filter=…
 *   tombstones=… tombstones_sum=… (only after a deletion: persist/tomb.c)
 * Values never hold control characters (checked on save). Unknown keys
 * are ignored (a later version's), missing ones read as 0.
 *
 * A save keeps the file it replaces as session.meta.prev (when that file
 * is readable); a load falls back to it. A session whose both copies are
 * unreadable is still listed and found by id (SES_META_LOST: times and
 * counts from its segments), and ses_repair() writes its metadata again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/reader-int.h"
#include "persist/ses.h"

#define META_MAX (SES_FILTER_MAX + 1024u)
#define DELETED_PREFIX ".deleted-"

static const char *const state_names[SES_STATE_COUNT] = {
	"active", "paused", "stopped", "interrupted", "damaged"
};
static void keep_prev(const char *dir, const char *path, const char *id);

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* Every save reads the file it replaces (the tombstone tally, which only
 * deletions raise, is merged in) under this lock, so that the daemon's
 * session manager saving from its own copy and a deletion raising the
 * tally never lose each other's change. One process; offline tools that
 * write metadata (fsck --repair) run without the daemon's lock anyway. */
static pthread_mutex_t save_mu = PTHREAD_MUTEX_INITIALIZER;
static int save_locked(const char *data_dir, const struct ses_meta *m);

const char *ses_state_name(uint8_t s) { return s < SES_STATE_COUNT ? state_names[s] : "unknown"; }

bool ses_name_valid(const char *name)
{
	size_t n = strnlen(name, SES_NAME_MAX + 1);
	if (n == 0 || n > SES_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == '/')
			return false;
	return true;
}

static bool text_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool id_valid(const char *id)
{
	if (strlen(id) != SES_ID_LEN)
		return false;
	for (size_t i = 0; i < SES_ID_LEN; i++)
		if (!strchr(crockford, id[i]) || id[i] == '\0')
			return false;
	return true;
}

int ses_dir(char *buf, size_t cap, const char *data_dir, const char *id)
{
	if (!id_valid(id))
		return -EINVAL;
	int n = snprintf(buf, cap, "%s/%s", data_dir, id);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

static void make_id(char out[SES_ID_LEN + 1], uint64_t now_ns)
{
	uint64_t ms = now_ns / 1000000u;
	uint16_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint16_t)(now_ns ^ (uint64_t)getpid());
	for (int i = 8; i >= 0; i--, ms >>= 5)
		out[i] = crockford[ms & 31];
	for (int i = 11; i >= 9; i--, rnd >>= 5)
		out[i] = crockford[rnd & 31];
	out[SES_ID_LEN] = '\0';
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int ses_save(const char *data_dir, const struct ses_meta *m)
{
	struct ses_meta *cur = malloc(sizeof(*cur)), *out = malloc(sizeof(*out));
	int rc = cur && out ? 0 : -ENOMEM;
	pthread_mutex_lock(&save_mu);
	if (rc == 0) {
		*out = *m;
		if (ses_load(data_dir, m->id, cur) == 0 && cur->tombstones > out->tombstones) {
			out->tombstones = cur->tombstones;
			out->tombstones_crc = cur->tombstones_crc;
		}
		rc = save_locked(data_dir, out);
	}
	pthread_mutex_unlock(&save_mu);
	free(cur);
	free(out);
	return rc;
}

/* DATA/ID into data (buf) and id (pointing into buf); -ENOENT when the
 * last component is no session id (a bare directory of the unit tests). */
static int split_dir(const char *session_dir, char *buf, size_t cap, const char **id)
{
	size_t n = strlen(session_dir);
	while (n > 1 && session_dir[n - 1] == '/')
		n--;
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(buf, session_dir, n);
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash == NULL || slash == buf)
		return -ENOENT;
	*slash = '\0';
	*id = slash + 1;
	return id_valid(*id) ? 0 : -ENOENT;   /* not a session directory: no metadata */
}

int ses_tally_get(const char *session_dir, uint64_t *n, uint32_t *crc)
{
	char data[PATH_MAX];
	const char *id;
	int rc = split_dir(session_dir, data, sizeof(data), &id);
	struct ses_meta *m = rc == 0 ? malloc(sizeof(*m)) : NULL;
	if (rc == 0 && m == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		rc = ses_load(data, id, m);
	if (rc == 0) {
		*n = m->tombstones;
		*crc = m->tombstones_crc;
	}
	free(m);
	return rc;
}

int ses_tally_set(const char *session_dir, uint64_t n, uint32_t crc, bool exact)
{
	char data[PATH_MAX];
	const char *id;
	int rc = split_dir(session_dir, data, sizeof(data), &id);
	struct ses_meta *m = rc == 0 ? malloc(sizeof(*m)) : NULL;
	if (rc == 0 && m == NULL)
		rc = -ENOMEM;
	pthread_mutex_lock(&save_mu);
	if (rc == 0)
		rc = ses_load(data, id, m);
	if (rc == 0 && (exact || n > m->tombstones) &&
	    (n != m->tombstones || crc != m->tombstones_crc)) {
		m->tombstones = n;
		m->tombstones_crc = crc;
		rc = save_locked(data, m);
	}
	pthread_mutex_unlock(&save_mu);
	free(m);
	return rc;
}

static int save_locked(const char *data_dir, const struct ses_meta *m)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	int rc = ses_dir(dir, sizeof(dir), data_dir, m->id);
	if (rc < 0)
		return rc;
	if (!ses_name_valid(m->name) || !text_valid(m->settings.filter) || m->state >= SES_DAMAGED)
		return -EINVAL;
	char *buf = malloc(META_MAX);
	if (!buf)
		return -ENOMEM;
	int n = snprintf(buf, META_MAX,
			 "ringcap-session 1\nid=%s\nname=%s\nstate=%s\ncreated_ns=%" PRIu64
			 "\nstart_ns=%" PRIu64 "\nstop_ns=%" PRIu64 "\nsave_responses=%d\n"
			 "capture_cookies=%d\nmax_body=%" PRIu64 "\nfilter=%s\n",
			 m->id, m->name, state_names[m->state], m->created_ns, m->start_ns,
			 m->stop_ns, m->settings.save_responses, m->settings.capture_cookies,
			 m->settings.max_body, m->settings.filter);
	if (n >= 0 && m->tombstones > 0 && (size_t)n < META_MAX)
		n += snprintf(buf + n, META_MAX - (size_t)n, "tombstones=%" PRIu64
			      "\ntombstones_sum=%" PRIu32 "\n", m->tombstones, m->tombstones_crc);
	if (n < 0 || (size_t)n + 16 > META_MAX) {
		free(buf);
		return -E2BIG;
	}
	n += snprintf(buf + n, META_MAX - (size_t)n, "crc=%08x\n", seg_crc32c(0, buf, (size_t)n));
	snprintf(path, sizeof(path), "%s/%s", dir, SES_META_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, SES_META_FILE);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (write(fd, buf, (size_t)n) != n)
		rc = -EIO;
	else if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0)
		keep_prev(dir, path, m->id);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(dir);
	else
		unlink(tmp);
out_free:
	free(buf);
	return rc;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *end)
		return -EBADMSG;
	*out = x;
	return 0;
}

/* Applies one "key=value" line (NUL-terminated, no newline). */
static int parse_line(struct ses_meta *m, char *line)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return -EBADMSG;
	*eq = '\0';
	const char *k = line, *v = eq + 1;
	uint64_t x;
	if (!strcmp(k, "id"))
		return snprintf(m->id, sizeof(m->id), "%s", v) == SES_ID_LEN ? 0 : -EBADMSG;
	if (!strcmp(k, "name"))
		return (size_t)snprintf(m->name, sizeof(m->name), "%s", v) <= SES_NAME_MAX ? 0 : -EBADMSG;
	if (!strcmp(k, "filter"))
		return (size_t)snprintf(m->settings.filter, sizeof(m->settings.filter), "%s", v) <=
				       SES_FILTER_MAX ? 0 : -EBADMSG;
	if (!strcmp(k, "state")) {
		for (uint8_t s = 0; s < SES_STATE_COUNT; s++)
			if (!strcmp(v, state_names[s])) {
				m->state = s;
				return 0;
			}
		return -EBADMSG;
	}
	if (parse_u64(v, &x) < 0)
		return -EBADMSG;
	if (!strcmp(k, "created_ns")) m->created_ns = x;
	else if (!strcmp(k, "start_ns")) m->start_ns = x;
	else if (!strcmp(k, "stop_ns")) m->stop_ns = x;
	else if (!strcmp(k, "save_responses")) m->settings.save_responses = x != 0;
	else if (!strcmp(k, "capture_cookies")) m->settings.capture_cookies = x != 0;
	else if (!strcmp(k, "max_body")) m->settings.max_body = x;
	else if (!strcmp(k, "tombstones")) m->tombstones = x;
	else if (!strcmp(k, "tombstones_sum") && x <= UINT32_MAX) m->tombstones_crc = (uint32_t)x;
	return 0; /* unknown keys of a later version are ignored */
}

/* Parses one metadata file; -ENOENT when absent, -EBADMSG when damaged
 * (checksum, format, or an id other than id). */
static int load_path(const char *path, const char *id, struct ses_meta *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *buf = malloc(META_MAX + 1);
	ssize_t n = buf ? read(fd, buf, META_MAX) : -1;
	close(fd);
	if (n <= 0) {
		free(buf);
		return buf ? -EBADMSG : -ENOMEM;
	}
	buf[n] = '\0';
	/* the last "crc=" line: a filter's text may hold "crc=" too */
	char *crc = NULL;
	for (char *p = strstr(buf, "\ncrc="); p; p = strstr(p + 1, "\ncrc="))
		crc = p + 1;
	unsigned want;
	int rc = -EBADMSG;
	/* The file ends right after "crc=XXXXXXXX\n": a byte past it is damage too. */
	if (crc && strncmp(buf, "ringcap-session 1\n", 18) == 0 && sscanf(crc, "crc=%8x", &want) == 1 &&
	    n == crc - buf + 13 && crc[12] == '\n' && want == seg_crc32c(0, buf, (size_t)(crc - buf))) {
		memset(out, 0, sizeof(*out));
		*crc = '\0';
		rc = 0;
		char *save = NULL;
		for (char *l = strtok_r(buf + 18, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save))
			rc = parse_line(out, l);
		if (rc == 0 && (strcmp(out->id, id) != 0 || out->state >= SES_DAMAGED))
			rc = -EBADMSG;
	}
	free(buf);
	return rc;
}

/* Before a save replaces path: a readable current file becomes the
 * previous copy (hard link to a temp name, then rename, so a crash leaves
 * either the old or the new previous copy). A damaged one is not kept:
 * it would push out the good previous copy. */
static void keep_prev(const char *dir, const char *path, const char *id)
{
	char prev[PATH_MAX + 32], tmp[PATH_MAX + 40];
	struct ses_meta *m = malloc(sizeof(*m));
	bool ok = m && load_path(path, id, m) == 0;
	free(m);
	if (!ok)
		return;
	snprintf(prev, sizeof(prev), "%s/%s", dir, SES_META_PREV_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, SES_META_PREV_FILE);
	unlink(tmp);
	if (link(path, tmp) == 0 && rename(tmp, prev) < 0)
		unlink(tmp);
}

int ses_load(const char *data_dir, const char *id, struct ses_meta *out)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	int rc = ses_dir(dir, sizeof(dir), data_dir, id);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, SES_META_FILE);
	rc = load_path(path, id, out);
	if (rc == 0 || rc == -ENOMEM)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, SES_META_PREV_FILE);
	int rc2 = load_path(path, id, out);
	if (rc2 == 0) {
		out->origin = SES_META_PREV;
		return 0;
	}
	return rc == -ENOENT && rc2 == -ENOENT ? -ENOENT : -EBADMSG;
}

struct span_ctx {
	uint64_t first, last;
	bool any;
};

static int span_cb(void *ctx, const struct seg_entry *e)
{
	struct span_ctx *c = ctx;
	uint64_t end = e->start_ns + e->duration_ns;
	c->first = !c->any || e->start_ns < c->first ? e->start_ns : c->first;
	c->last = end > c->last ? end : c->last;
	c->any = true;
	return 0;
}

/* True when dir holds a segment or a metadata file: a session, not a
 * directory ses_create() has just made. */
static bool looks_like_session(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool yes = false;
	struct dirent *de;
	for (int n = 0; !yes && n < (int)SEG_FILES_MAX && (de = readdir(d)) != NULL; n++) {
		uint16_t w;
		uint32_t sn;
		enum seg_kind k;
		yes = !strcmp(de->d_name, SES_META_FILE) || !strcmp(de->d_name, SES_META_PREV_FILE) ||
		      (seg_file_parse(de->d_name, &w, &sn, &k) && k == SEG_K_SEG);
	}
	closedir(d);
	return yes;
}

int ses_recover_meta(const char *data_dir, const char *id, struct ses_meta *out)
{
	char dir[PATH_MAX];
	int rc = ses_dir(dir, sizeof(dir), data_dir, id);
	if (rc < 0)
		return rc;
	if (!looks_like_session(dir))
		return -ENOENT;
	struct span_ctx c = { 0 };
	rc = seg_index_scan(dir, span_cb, &c, NULL);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->name, sizeof(out->name), "%s", id);
	out->state = SES_DAMAGED;
	out->origin = SES_META_LOST;
	out->created_ns = out->start_ns = c.first;
	out->stop_ns = c.last;
	out->settings.save_responses = true;
	out->settings.max_body = SEG_BODY_MAX_DEFAULT;
	return 0;
}

int ses_repair(const char *data_dir, const char *id, bool *fixed)
{
	*fixed = false;
	struct ses_meta *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	int rc = ses_load(data_dir, id, m);
	if (rc == -EBADMSG || rc == -ENOENT) {
		rc = ses_recover_meta(data_dir, id, m);
		m->state = SES_STOPPED; /* what a session with lost settings can be: final */
	}
	if (rc == 0 && m->origin != SES_META_OK) {
		rc = ses_save(data_dir, m);
		*fixed = rc == 0;
	}
	free(m);
	return rc;
}

/* Unlinks every file of a (flat) session directory, then the directory. */
static int remove_flat_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	if (rc == 0 && rmdir(dir) < 0)
		rc = -errno;
	return rc;
}

static int meta_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ses_meta *)a)->id, ((const struct ses_meta *)b)->id);
}

int ses_list(const char *data_dir, struct ses_meta *out, size_t cap, size_t *n)
{
	*n = 0;
	DIR *d = opendir(data_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	size_t seen = 0;
	while ((de = readdir(d)) != NULL && seen < SES_LIST_MAX * 4) {
		seen++;
		if (!strncmp(de->d_name, DELETED_PREFIX, strlen(DELETED_PREFIX))) {
			char p[PATH_MAX];
			if (snprintf(p, sizeof(p), "%s/%s", data_dir, de->d_name) < (int)sizeof(p))
				remove_flat_dir(p); /* finish a delete a crash interrupted */
			continue;
		}
		if (!id_valid(de->d_name) || *n >= cap)
			continue;
		if (ses_load(data_dir, de->d_name, &out[*n]) == 0 ||
		    ses_recover_meta(data_dir, de->d_name, &out[*n]) == 0)
			(*n)++;
	}
	closedir(d);
	qsort(out, *n, sizeof(*out), meta_cmp);
	return 0;
}

/* Calls ses_list into a heap array (sessions are big: the filter text). */
static int list_all(const char *data_dir, struct ses_meta **v, size_t *n)
{
	*v = malloc(SES_LIST_MAX * sizeof(**v));
	if (!*v)
		return -ENOMEM;
	int rc = ses_list(data_dir, *v, SES_LIST_MAX, n);
	if (rc < 0) {
		free(*v);
		*v = NULL;
	}
	return rc;
}

int ses_find(const char *data_dir, const char *id_or_name, struct ses_meta *out)
{
	if (id_valid(id_or_name) && (ses_load(data_dir, id_or_name, out) == 0 ||
				     ses_recover_meta(data_dir, id_or_name, out) == 0))
		return 0;
	struct ses_meta *v;
	size_t n;
	int rc = list_all(data_dir, &v, &n);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n && rc < 0; i++)
		if (!strcmp(v[i].name, id_or_name)) {
			*out = v[i];
			rc = 0;
		}
	free(v);
	return rc;
}

static int name_taken(const char *data_dir, const char *name, const char *except_id)
{
	struct ses_meta *v;
	size_t n;
	int rc = list_all(data_dir, &v, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!strcmp(v[i].name, name) && strcmp(v[i].id, except_id))
			rc = -EEXIST;
	free(v);
	return rc;
}

int ses_create(const char *data_dir, const char *name, const struct ses_settings *st,
	       uint64_t now_ns, struct ses_meta *out)
{
	if (!ses_name_valid(name) || !text_valid(st->filter))
		return -EINVAL;
	if (mkdir(data_dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	int rc = name_taken(data_dir, name, "");
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	char dir[PATH_MAX];
	rc = -EEXIST;
	/* Two sessions in the same millisecond differ in the random part. */
	for (int tries = 0; tries < 32 && rc == -EEXIST; tries++) {
		make_id(out->id, now_ns);
		rc = ses_dir(dir, sizeof(dir), data_dir, out->id);
		if (rc == 0 && mkdir(dir, 0750) < 0)
			rc = -errno;
	}
	if (rc < 0)
		return rc;
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->state = SES_ACTIVE;
	out->created_ns = out->start_ns = now_ns;
	out->settings = *st;
	rc = ses_save(data_dir, out);
	if (rc == 0)
		rc = fsync_dir(data_dir);
	if (rc < 0)
		remove_flat_dir(dir);
	return rc;
}

int ses_set_state(const char *data_dir, const char *id, enum ses_state s, uint64_t now_ns)
{
	struct ses_meta *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	int rc = ses_load(data_dir, id, m);
	if (rc == 0) {
		m->state = (uint8_t)s;
		m->stop_ns = (s == SES_STOPPED) ? now_ns : 0;
		rc = ses_save(data_dir, m);
	}
	free(m);
	return rc;
}

int ses_rename(const char *data_dir, const char *id, const char *new_name)
{
	if (!ses_name_valid(new_name))
		return -EINVAL;
	int rc = name_taken(data_dir, new_name, id);
	if (rc < 0)
		return rc;
	struct ses_meta *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = ses_load(data_dir, id, m);
	if (rc == 0) {
		snprintf(m->name, sizeof(m->name), "%s", new_name);
		rc = ses_save(data_dir, m);
	}
	free(m);
	return rc;
}

int ses_delete(const char *data_dir, const char *id)
{
	char dir[PATH_MAX], gone[PATH_MAX + 16];
	int rc = ses_dir(dir, sizeof(dir), data_dir, id);
	if (rc < 0)
		return rc;
	snprintf(gone, sizeof(gone), "%s/%s%s", data_dir, DELETED_PREFIX, id);
	if (rename(dir, gone) < 0)
		return -errno;
	rc = fsync_dir(data_dir);
	int rc2 = remove_flat_dir(gone);
	return rc < 0 ? rc : rc2;
}

int ses_mark_interrupted(const char *data_dir)
{
	struct ses_meta *v;
	size_t n;
	int rc = list_all(data_dir, &v, &n), changed = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (v[i].state != SES_ACTIVE && v[i].state != SES_PAUSED)
			continue;
		v[i].state = SES_INTERRUPTED;
		rc = ses_save(data_dir, &v[i]);
		changed++;
	}
	free(v);
	return rc < 0 ? rc : changed;
}

int ses_stats(const char *data_dir, const char *id, struct ses_stats *st)
{
	char dir[PATH_MAX];
	int rc = ses_dir(dir, sizeof(dir), data_dir, id);
	if (rc < 0)
		return rc;
	memset(st, 0, sizeof(*st));
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	uint64_t tombs = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &sb, 0) < 0)
			continue;
		uint16_t w;
		uint32_t s;
		enum seg_kind k;
		st->bytes += (uint64_t)sb.st_size;
		if (!strcmp(de->d_name, SEG_TOMB_FILE))
			tombs = (uint64_t)sb.st_size / SEG_TOMB_SIZE;
		if (!seg_file_parse(de->d_name, &w, &s, &k) || k != SEG_K_SEG)
			continue;
		/* The index's size, checked against its last entry and the frames
		 * after it; a missing or damaged index is counted from frames. */
		uint64_t n = 0;
		st->segments++;
		if (seg_count_entries(dir, w, s, &n) == 0)
			st->exchanges += n;
	}
	closedir(d);
	/* A tombstone repeated for one id counts twice: an estimate, exact
	 * counts come from the query layer. */
	st->exchanges = st->exchanges > tombs ? st->exchanges - tombs : 0;
	return 0;
}
