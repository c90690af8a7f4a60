/*
 * tools/ship/ship.c - the shipper's loop (ship.h).
 *
 * One pass lists the chosen sessions and, for each, walks its index from
 * the cursor on (persist's seg_index_scan: each worker's index files in
 * segment order), opens each new exchange for its heads (and bodies with
 * --bodies), appends its row to the batch and hands the batch over at
 * batch_rows or batch_bytes, and at the end of the session. With --follow
 * passes repeat every poll_ms; a session whose index files have not grown
 * since its last complete pass is not walked again.
 *
 * Two threads, two batch buffers (memory: two batches at most): the main
 * thread reads and encodes the next batch while the sender thread posts
 * the previous one and, once ClickHouse acknowledged it, writes the
 * cursor that batch carries. One batch is in flight at a time, so batches
 * are acknowledged in order and the cursor only moves forward. A session
 * ends with its last batch acknowledged (the next pass reloads its cursor
 * from the file). The first failure of the sender stops the reader at its
 * next hand-over.
 *
 * Cursor file, text, one line each:
 *   ringcap-ship-cursor 1
 *   W SEGNO COUNT          every entry of worker W's segments before SEGNO
 *                          and the first COUNT valid entries of SEGNO shipped
 *   end HHHHHHHHHHHHHHHH   FNV-1a 64 of every byte before this line
 * A cursor that fails its check is reported and ignored: the session is
 * shipped again from the start and the table folds the repeats.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/lib/json.h"
#include "tools/lib/rc-limits.h"
#include "tools/ship/chttp.h"
#include "tools/ship/ship.h"
#include "tools/views/ship_row.h"

#define CURSOR_TEXT_MAX (64u + SEG_WORKERS_MAX * 40u)
#define SQL_MAX 256u
/* Open caches (persist's seg_open_cache: a segment and its last frame):
 * one per worker's index being walked, so consecutive exchanges of a
 * worker decompress their shared frame once. Workers past this share. */
#define RC_SHIP_CACHES 8u

struct cursor {
	uint32_t segno[SEG_WORKERS_MAX];
	uint64_t count[SEG_WORKERS_MAX];
};

struct seen {                    /* --follow: a session's index size at its last pass */
	char id[SES_ID_LEN + 1];
	uint64_t idx_bytes;
};

/* A batch: its rows, and the cursor of its session once it is taken. */
struct job {
	struct rc_buf buf;
	size_t n;                /* rows */
	struct cursor cur;       /* the session's cursor after these rows */
	char dir[4096];          /* the session's directory: its cursor file */
	char id[SES_ID_LEN + 1];
	uint64_t newest_ns;      /* the newest exchange of the batch (progress: lag) */
};

struct shipper {
	const struct rc_ship_cfg *cfg;
	volatile sig_atomic_t *stop;
	struct rc_ch ch;           /* the sender thread's, once it runs */
	char key[17], insert[SQL_MAX * 4];
	struct rc_ship_row_cfg row;
	/* hand-over between the reader (main thread) and the sender */
	struct job jobs[2];
	struct job *build;         /* the reader's */
	struct job *send;          /* the sender's while busy */
	pthread_t sender;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool busy, quit, started;
	int err;                   /* the sender's first failure */
	/* the session being walked (reader) */
	const struct ses_meta *m;
	char dir[4096];
	struct cursor cur, pending;
	struct seg_open_cache *cache[RC_SHIP_CACHES]; /* per worker, modulo */
	uint16_t last_w;
	uint32_t last_seg;
	uint64_t ordinal;
	bool have_last, down;
	/* figures */
	uint64_t rows, batches, retries, damaged, newest_ns, t0_ns, last_progress_ns;
	struct ses_meta *list;
	struct seen *seen;
	size_t nseen;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

/* Sleeps ms, waking early on *stop. */
static void nap(struct shipper *s, uint64_t ms)
{
	for (uint64_t t = 0; t < ms && !*s->stop; t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* ---- cursor ---- */

static void cursor_path(const struct shipper *s, const char *dir, char *buf, size_t cap,
			const char *suffix)
{
	snprintf(buf, cap, "%s/ship-%s.cursor%s", dir, s->key, suffix);
}

static void cursor_load(struct shipper *s)
{
	memset(&s->cur, 0, sizeof(s->cur));
	char path[4200], *text = malloc(CURSOR_TEXT_MAX + 1);
	cursor_path(s, s->dir, path, sizeof(path), "");
	FILE *f = fopen(path, "r");
	if (f == NULL || text == NULL) {
		if (f == NULL && errno != ENOENT)
			fprintf(stderr, "ringcap ship: %s: %s\n", path, strerror(errno));
		goto out;
	}
	size_t n = fread(text, 1, CURSOR_TEXT_MAX, f);
	text[n] = '\0';
	char *end = strstr(text, "end ");
	unsigned long long want = 0;
	if (strncmp(text, "ringcap-ship-cursor 1\n", 22) != 0 || end == NULL ||
	    sscanf(end, "end %16llx", &want) != 1 ||
	    fnv(14695981039346656037ull, text, (size_t)(end - text)) != want) {
		fprintf(stderr, "ringcap ship: %s is damaged: shipping session %s again from "
			"its start (the table folds repeated rows)\n", path, s->m->id);
		goto out;
	}
	for (char *line = strchr(text, '\n') + 1; line < end; line = strchr(line, '\n') + 1) {
		unsigned w, seg;
		unsigned long long cnt;
		if (sscanf(line, "%u %u %llu", &w, &seg, &cnt) == 3 && w < SEG_WORKERS_MAX) {
			s->cur.segno[w] = seg;
			s->cur.count[w] = cnt;
		}
	}
out:
	if (f)
		fclose(f);
	free(text);
}

/* Writes job j's cursor atomically: temp file, fsync, rename. 0 or -errno. */
static int cursor_save(struct shipper *s, const struct job *j)
{
	struct rc_buf b = { .max = CURSOR_TEXT_MAX + 64 };
	rc_buf_puts(&b, "ringcap-ship-cursor 1\n");
	for (unsigned w = 0; w < SEG_WORKERS_MAX; w++)
		if (j->cur.segno[w] || j->cur.count[w])
			rc_buf_printf(&b, "%u %u %llu\n", w, j->cur.segno[w],
				      (unsigned long long)j->cur.count[w]);
	rc_buf_printf(&b, "end %016llx\n",
		      (unsigned long long)fnv(14695981039346656037ull, b.p, b.len));
	char tmp[4200], path[4200];
	cursor_path(s, j->dir, tmp, sizeof(tmp), ".tmp");
	cursor_path(s, j->dir, path, sizeof(path), "");
	int rc = b.oom ? -ENOMEM : 0;
	int fd = rc ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (rc == 0 && fd < 0)
		rc = -errno;
	if (rc == 0 && (write(fd, b.p, b.len) != (ssize_t)b.len || fsync(fd) < 0))
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		fprintf(stderr, "ringcap ship: cannot write %s: %s\n", path, strerror(-rc));
	rc_buf_free(&b);
	return rc;
}

/* ---- sending ---- */

/* ClickHouse error codes worth waiting out: too many queries or parts,
 * memory, timeouts, network, read-only replica. Others (a bad row, an
 * unknown table) would fail again the same way. */
static bool retriable(int status, const char *text)
{
	static const int codes[] = { 159, 202, 209, 210, 241, 242, 252 };
	if (status == 503)
		return true;
	const char *c = text ? strstr(text, "Code: ") : NULL;
	int code = c ? atoi(c + 6) : -1;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (code == codes[i])
			return true;
	return false;
}

static void progress(struct shipper *s, bool force)
{
	uint64_t t = now_ns();
	if (!s->cfg->progress || (!force && t - s->last_progress_ns < 1000000000u))
		return;
	s->last_progress_ns = t;
	double secs = (double)(t - s->t0_ns) / 1e9;
	double lag = s->newest_ns && t > s->newest_ns ? (double)(t - s->newest_ns) / 1e9 : 0;
	fprintf(stderr, "\rringcap ship: %llu rows, %.0f rows/s, lag %.1f s%s   ",
		(unsigned long long)s->rows, secs > 0 ? (double)s->rows / secs : 0.0, lag,
		s->down ? ", ClickHouse away" : "");
}

/* POSTs sql with body until ClickHouse takes it; its answer in *ans. 0,
 * -EINTR when stopped while waiting, -EBADMSG when ClickHouse refused it
 * for good. */
static int post_body(struct shipper *s, const char *sql, const void *body, size_t len,
		     struct rc_buf *ans, const char *what)
{
	uint64_t backoff = 250;
	int rc;
	for (;;) {
		int st = rc_ch_post(&s->ch, sql, body, len, ans);
		const char *text = ans->p && !ans->oom ? ans->p : "";
		if (st == 200) {
			if (s->down)
				fprintf(stderr, "%sringcap ship: ClickHouse answers again\n",
					s->cfg->progress ? "\n" : "");
			s->down = false;
			rc = 0;
			break;
		}
		if (st == -EPROTO) { /* TLS: a certificate that fails now fails again */
			fprintf(stderr, "%sringcap ship: TLS with %s:%s failed: %s\n",
				s->cfg->progress ? "\n" : "", s->ch.host, s->ch.port, s->ch.tls_err);
			rc = -EBADMSG;
			break;
		}
		if (st > 0 && !retriable(st, text)) {
			fprintf(stderr, "%sringcap ship: ClickHouse refused %s (HTTP %d): %.*s\n",
				s->cfg->progress ? "\n" : "", what, st, (int)strcspn(text, "\n"), text);
			rc = -EBADMSG;
			break;
		}
		if (!s->down)
			fprintf(stderr, "%sringcap ship: ClickHouse at %s:%s %s%s; retrying with "
				"back-off up to %llu ms\n", s->cfg->progress ? "\n" : "", s->ch.host,
				s->ch.port, st > 0 ? "busy: " : "unreachable: ",
				st > 0 ? text : strerror(-st), (unsigned long long)s->cfg->retry_max_ms);
		s->down = true;
		s->retries++;
		progress(s, false);
		nap(s, backoff);
		if (*s->stop) {
			rc = -EINTR;
			break;
		}
		backoff = backoff * 2 > s->cfg->retry_max_ms ? s->cfg->retry_max_ms : backoff * 2;
	}
	return rc;
}

static int post(struct shipper *s, const char *sql, const void *body, size_t len,
		const char *what)
{
	struct rc_buf ans = { .max = RC_CH_ANSWER_MAX + 1 };
	int rc = post_body(s, sql, body, len, &ans, what);
	rc_buf_free(&ans);
	return rc;
}

/* A query whose answer is wanted (no body). */
static int post_answer(struct shipper *s, const char *sql, struct rc_buf *ans,
		       const char *what)
{
	return post_body(s, sql, "", 0, ans, what);
}

/* Sends job j and, once ClickHouse took it, moves its session's cursor.
 * 0 or -errno (post's). Runs on the sender thread. */
static int send_job(struct shipper *s, struct job *j)
{
	char what[128];
	snprintf(what, sizeof(what), "a batch of %zu rows of session %s", j->n, j->id);
	int rc = post(s, s->insert, j->buf.p, j->buf.len, what);
	if (rc == 0)
		rc = cursor_save(s, j);
	return rc;
}

static void *sender_main(void *arg)
{
	struct shipper *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->busy && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->busy)
			break;
		struct job *j = s->send;
		pthread_mutex_unlock(&s->mu);
		s->newest_ns = j->newest_ns > s->newest_ns ? j->newest_ns : s->newest_ns;
		int rc = send_job(s, j);
		pthread_mutex_lock(&s->mu);
		if (rc == 0) {
			s->rows += j->n;
			s->batches++;
		} else if (s->err == 0) {
			s->err = rc;
		}
		j->n = 0;
		j->buf.len = 0;
		s->busy = false;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		progress(s, false);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Waits until the sender is idle; its first failure, or 0. */
static int drain(struct shipper *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->busy)
		pthread_cond_wait(&s->cv, &s->mu);
	int rc = s->err;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Hands the batch being built to the sender (waiting for the one in
 * flight first) and starts the next one in the other buffer. 0, or the
 * sender's failure (the batch is then dropped: its rows were not
 * acknowledged, the cursor does not pass them). */
static int flush(struct shipper *s)
{
	struct job *j = s->build;
	if (j->n == 0)
		return drain(s);
	if (j->buf.oom) {
		fprintf(stderr, "ringcap ship: out of memory for a batch\n");
		return -ENOMEM;
	}
	j->cur = s->pending;
	snprintf(j->dir, sizeof(j->dir), "%s", s->dir);
	snprintf(j->id, sizeof(j->id), "%s", s->m->id);
	pthread_mutex_lock(&s->mu);
	while (s->busy)
		pthread_cond_wait(&s->cv, &s->mu);
	int rc = s->err;
	if (rc == 0) {
		s->send = j;
		s->build = j == &s->jobs[0] ? &s->jobs[1] : &s->jobs[0];
		s->busy = true;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- walking a session ---- */

static int on_entry(void *ctx, const struct seg_entry *e)
{
	struct shipper *s = ctx;
	if (*s->stop)
		return -EINTR;
	if (!s->have_last || e->worker != s->last_w || e->segno != s->last_seg) {
		s->have_last = true;
		s->last_w = e->worker;
		s->last_seg = e->segno;
		s->ordinal = 0;
	}
	uint64_t ord = s->ordinal++;
	uint16_t w = e->worker;
	if (e->segno < s->cur.segno[w] || (e->segno == s->cur.segno[w] && ord < s->cur.count[w]))
		return 0;
	struct seg_open_opts o = { .cache = s->cache[w % RC_SHIP_CACHES] };
	if (s->cfg->bodies)
		o.body_max[0] = o.body_max[1] = s->cfg->body_max;
	struct seg_exchange x;
	bool ok = seg_open_entry(s->dir, e, &o, &x) == 0;
	if (!ok)
		s->damaged++;
	struct job *j = s->build;
	rc_ship_row(&j->buf, &s->row, s->m, e, ok ? &x : NULL);
	if (ok)
		seg_exchange_free(&x);
	s->pending.segno[w] = e->segno;
	s->pending.count[w] = ord + 1;
	j->newest_ns = e->start_ns > j->newest_ns ? e->start_ns : j->newest_ns;
	j->n++;
	if (j->n >= s->cfg->batch_rows || j->buf.len >= s->cfg->batch_bytes)
		return flush(s);
	return 0;
}

/* Bytes of the session's index files: grows with every shipped-to-be row. */
static uint64_t idx_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	uint64_t sum = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		struct stat sb;
		if (n > 4 && strcmp(de->d_name + n - 4, ".idx") == 0 &&
		    fstatat(dirfd(d), de->d_name, &sb, 0) == 0)
			sum += (uint64_t)sb.st_size;
	}
	if (d)
		closedir(d);
	return sum;
}

static struct seen *seen_of(struct shipper *s, const char *id)
{
	for (size_t i = 0; i < s->nseen; i++)
		if (strcmp(s->seen[i].id, id) == 0)
			return &s->seen[i];
	if (s->nseen == RC_SESSIONS_MAX)
		return NULL;
	struct seen *n = &s->seen[s->nseen++];
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->idx_bytes = UINT64_MAX;
	return n;
}

static int ship_session(struct shipper *s, const struct ses_meta *m)
{
	s->m = m;
	ses_dir(s->dir, sizeof(s->dir), s->cfg->data, m->id);
	uint64_t size = idx_bytes(s->dir);
	struct seen *seen = seen_of(s, m->id);
	if (seen && seen->idx_bytes == size)
		return 0;
	cursor_load(s);
	s->pending = s->cur;
	s->have_last = false;
	struct seg_report rep = { 0 };
	int rc = 0;
	for (unsigned i = 0; i < RC_SHIP_CACHES && rc == 0; i++)
		rc = seg_open_cache_new(&s->cache[i]);
	if (rc == 0)
		rc = seg_index_scan(s->dir, on_entry, s, &rep);
	for (unsigned i = 0; i < RC_SHIP_CACHES; i++) {
		seg_open_cache_free(s->cache[i]);
		s->cache[i] = NULL;
	}
	if (rc == 0)
		rc = flush(s);
	int sent = drain(s); /* the session's last batch acknowledged, or failed */
	rc = rc == 0 ? sent : rc;
	s->build->n = 0;
	s->build->buf.len = 0;
	if (rc == 0 && seen)
		seen->idx_bytes = size;
	if (rc < 0 && rc != -EINTR && rc != -EBADMSG)
		fprintf(stderr, "ringcap ship: session %s: %s\n", m->id, strerror(-rc));
	return rc;
}

static bool chosen(const struct rc_ship_cfg *c, const struct ses_meta *m)
{
	if (c->nsessions == 0)
		return true;
	for (size_t i = 0; i < c->nsessions; i++)
		if (strcmp(c->sessions[i], m->id) == 0 || strcmp(c->sessions[i], m->name) == 0)
			return true;
	return false;
}

/* One pass over the chosen sessions. 0 or -errno. */
static int pass(struct shipper *s)
{
	size_t n = 0;
	int rc = ses_list(s->cfg->data, s->list, RC_SESSIONS_MAX, &n);
	if (rc < 0) {
		fprintf(stderr, "ringcap ship: cannot read %s: %s\n", s->cfg->data, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < s->cfg->nsessions && !s->cfg->follow; i++) {
		bool found = false;
		for (size_t k = 0; k < n && !found; k++)
			found = strcmp(s->cfg->sessions[i], s->list[k].id) == 0 ||
				strcmp(s->cfg->sessions[i], s->list[k].name) == 0;
		if (!found) {
			fprintf(stderr, "ringcap ship: no session '%s' in %s\n", s->cfg->sessions[i],
				s->cfg->data);
			return -ENOENT;
		}
	}
	for (size_t k = 0; k < n && rc == 0 && !*s->stop; k++)
		if (chosen(s->cfg, &s->list[k]))
			rc = ship_session(s, &s->list[k]);
	return rc;
}

/* Positional formats (RowBinary, TabSeparated) would misread a column of
 * another type rather than refuse it: an existing table's columns are
 * checked first, and a mismatch stops the shipper naming the column. */
static int check_columns(struct shipper *s)
{
	char sql[SQL_MAX * 2], err[256];
	snprintf(sql, sizeof(sql), "SELECT name, type FROM system.columns WHERE database = '%s' "
		 "AND table = '%s' FORMAT TabSeparated", s->cfg->db, s->cfg->table);
	struct rc_buf ans = { .max = RC_CH_ANSWER_MAX + 1 };
	int rc = post_answer(s, sql, &ans, "the table's columns");
	if (rc == 0 && ans.oom)
		rc = -ENOMEM;
	if (rc == 0 && rc_ship_columns_check(ans.p ? ans.p : "", ans.len, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap ship: %s.%s cannot take %s rows: %s\n", s->cfg->db,
			s->cfg->table, rc_ship_format_name(s->cfg->format), err);
		rc = -EBADMSG;
	}
	rc_buf_free(&ans);
	return rc;
}

static int create_table(struct shipper *s)
{
	char sql[SQL_MAX * 8];
	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", s->cfg->db);
	int rc = post(s, sql, "", 0, "CREATE DATABASE");
	struct rc_buf b = { 0 };
	rc_ship_schema(&b, s->cfg->db, s->cfg->table, false);
	if (rc == 0 && !b.oom) {
		b.p[b.len - 2] = '\0'; /* no ";\n": one statement per request */
		rc = post(s, b.p, "", 0, "CREATE TABLE");
	}
	rc_buf_free(&b);
	if (rc == 0 && s->cfg->format != RC_SHIP_JSON)
		rc = check_columns(s);
	return rc;
}

/* INSERT INTO db.t (columns) FORMAT F: rows are positional in two formats. */
static int insert_sql(struct shipper *s)
{
	struct rc_buf b = { .max = sizeof(s->insert) };
	rc_buf_printf(&b, "INSERT INTO %s.%s (", s->cfg->db, s->cfg->table);
	rc_ship_columns(&b);
	rc_buf_printf(&b, ") FORMAT %s", rc_ship_format_name(s->cfg->format));
	int rc = b.oom ? -E2BIG : 0;
	if (rc == 0)
		memcpy(s->insert, b.p, b.len + 1);
	rc_buf_free(&b);
	return rc;
}

static void report(const struct shipper *s, bool final)
{
	if (s->cfg->progress)
		fputc('\n', stderr);
	double secs = (double)(now_ns() - s->t0_ns) / 1e9;
	FILE *f = s->cfg->json ? stdout : stderr;
	fprintf(f, s->cfg->json ? "{\"rows\":%llu,\"batches\":%llu,\"retries\":%llu,"
				  "\"damaged\":%llu,\"seconds\":%.3f,\"done\":%s}\n"
				: "ringcap ship: %llu rows in %llu batches, %llu retries, %llu "
				  "damaged (index fields only), %.1f s%s\n",
		(unsigned long long)s->rows, (unsigned long long)s->batches,
		(unsigned long long)s->retries, (unsigned long long)s->damaged, secs,
		s->cfg->json ? (final ? "true" : "false") : "");
}

/* Starts the sender thread. 0 or -errno. */
static int sender_start(struct shipper *s)
{
	int rc = -pthread_create(&s->sender, NULL, sender_main, s);
	s->started = rc == 0;
	return rc;
}

static void sender_stop(struct shipper *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->sender, NULL);
	s->started = false;
}

/* Passes until done, stopped or failed (the sender started, the table
 * there). Returns the last pass's 0 or -errno. */
static int ship_all(struct shipper *s)
{
	const struct rc_ship_cfg *cfg = s->cfg;
	int rc = 0;
	while (rc == 0) {
		uint64_t before = s->rows;
		rc = pass(s);
		if (rc < 0 || !cfg->follow || *s->stop)
			break;
		if (cfg->json && s->rows > before)
			report(s, false);
		progress(s, true);
		nap(s, cfg->poll_ms);
		if (*s->stop)
			break;
	}
	return rc;
}

static int setup(struct shipper *s, const struct rc_ship_cfg *cfg)
{
	char err[256];
	s->row = (struct rc_ship_row_cfg){ .box = cfg->box, .format = cfg->format,
					   .bodies = cfg->bodies, .body_max = cfg->body_max,
					   .version = s->t0_ns };
	for (int i = 0; i < 2; i++)
		s->jobs[i].buf.max = cfg->batch_bytes + 2 * cfg->body_max + (1u << 20);
	s->build = &s->jobs[0];
	s->list = calloc(RC_SESSIONS_MAX, sizeof(*s->list));
	s->seen = calloc(RC_SESSIONS_MAX, sizeof(*s->seen));
	if (s->list == NULL || s->seen == NULL)
		return -ENOMEM;
	if (rc_ch_init(&s->ch, cfg->url, cfg->timeout_ms, cfg->ca_file, cfg->insecure, err,
		       sizeof(err)) < 0) {
		fprintf(stderr, "ringcap ship: --clickhouse %s\n", err);
		return -EINVAL;
	}
	char k[512];
	int kl = snprintf(k, sizeof(k), "%s:%s|%s|%s|%s", s->ch.host, s->ch.port, cfg->db,
			  cfg->table, cfg->box);
	snprintf(s->key, sizeof(s->key), "%016llx",
		 (unsigned long long)fnv(14695981039346656037ull, k, (size_t)kl));
	return insert_sql(s);
}

int rc_ship_run(const struct rc_ship_cfg *cfg, volatile sig_atomic_t *stop)
{
	struct shipper *s = calloc(1, sizeof(*s));
	int code = 1;
	if (s == NULL)
		return 1;
	s->cfg = cfg;
	s->stop = stop;
	s->t0_ns = now_ns();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (setup(s, cfg) < 0)
		goto out;
	int rc = create_table(s); /* before the sender runs: the connection is one */
	if (rc == 0)
		rc = sender_start(s);
	if (rc == 0)
		rc = ship_all(s);
	int sent = s->started ? drain(s) : 0;
	rc = rc == 0 ? sent : rc;
	sender_stop(s);
	code = rc == -EINTR || (rc == 0 && *stop && !cfg->follow) ? 3 : rc < 0 ? 1 : 0;
	if (cfg->follow && rc == 0)
		code = 0; /* a follower ends by a signal: that is how it is stopped */
	report(s, code == 0);
out:
	sender_stop(s);
	rc_ch_free(&s->ch);
	for (int i = 0; i < 2; i++)
		rc_buf_free(&s->jobs[i].buf);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->list);
	free(s->seen);
	free(s);
	return code;
}
