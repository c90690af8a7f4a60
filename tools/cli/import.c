/*
 * tools/cli/import.c - `ringcap import FILE.har --session NAME`: a HAR file
 * (a browser's, mitmproxy's or ringcap's) becomes a stopped session that
 * every offline command reads.
 *
 * Two passes over the file with the streaming reader (views/import.h):
 * the first only checks it, so a malformed file is refused with the JSON
 * path that is wrong before any session exists; the second writes each
 * entry through persist's segment writer (worker 0, writes performed here
 * with pwrite/fsync). A failure in the second pass (disk full) deletes
 * the session again: no half session is left. The session's start and
 * stop are its first and last exchange's times.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/views/import.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"

struct import_opts {
	const char *session;
};

struct import_ctx {
	struct seg_writer *w;
	uint64_t t_min, t_max, n;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Performs the writer's queued writes, as the engine's ring would. */
static int pump(struct seg_writer *w)
{
	const struct seg_io *io;
	while ((io = seg_writer_next_io(w)) != NULL) {
		int r = seg_io_sync(io);
		seg_writer_io_done(w, r);
		if (r < 0)
			return (int)r;
	}
	return 0;
}

/* Body bytes in pieces the writer has room for. */
static int put_body(struct seg_writer *w, struct seg_xch *x, enum seg_dir dir, const uint8_t *p,
		    size_t n)
{
	for (size_t off = 0; off < n;) {
		size_t k = n - off < SEG_CHUNK_MAX ? n - off : SEG_CHUNK_MAX;
		if (!seg_writer_room(w, k)) {
			int rc = pump(w);
			if (rc < 0)
				return rc;
		}
		int rc = seg_xch_body(w, x, dir, p + off, k);
		if (rc < 0)
			return rc;
		off += k;
	}
	return 0;
}

/* A WebSocket message, once the writer has room for it (seg_xch_msg
 * splits it into records). */
static int put_msg(struct seg_writer *w, struct seg_xch *x, const struct seg_msg_piece *m,
		   const uint8_t *p)
{
	if (!seg_writer_room(w, m->len)) {
		int rc = pump(w);
		if (rc < 0)
			return rc;
	}
	return seg_xch_msg(w, x, m, p, m->len);
}

/* A trailer section, once the writer has room for it. */
static int put_trailers(struct seg_writer *w, struct seg_xch *x, enum seg_dir dir,
			const uint8_t *p, size_t n)
{
	if (!seg_writer_room(w, n)) {
		int rc = pump(w);
		if (rc < 0)
			return rc;
	}
	return seg_xch_trailers(w, x, dir, p, n, n);
}

static int put_entry(void *ctx, const struct rc_har_xch *h)
{
	struct import_ctx *c = ctx;
	struct seg_xch_begin b = {
		.start_ns = h->start_ns, .scheme = h->scheme, .http_version = h->http_version,
		.port = h->port, .flags = h->flags & (SEG_F_TLS | SEG_F_TUNNEL | SEG_F_NO_RESP |
						      SEG_F_COOKIES | SEG_F_TUN_MASK),
		.method = h->method, .method_len = h->method_len, .host = h->host,
		.host_len = h->host_len, .url = h->url, .url_len = h->url_len,
		.req_head = h->req_head, .req_head_len = h->req_head_len, .client = h->client,
		.client_name = h->client_name, .client_name_len = h->client_name_len,
	};
	struct seg_xch *x;
	int rc = pump(c->w);
	if (rc == 0)
		rc = seg_xch_begin(c->w, &b, &x, NULL);
	if (rc < 0)
		return rc;
	rc = put_body(c->w, x, SEG_DIR_REQ, h->body[SEG_DIR_REQ], h->body_len[SEG_DIR_REQ]);
	if (rc == 0 && h->status)
		rc = seg_xch_resp_head(c->w, x, h->status, h->reason, h->reason_len, h->resp_head,
				       h->resp_head_len, h->type);
	if (rc == 0 && h->status)
		rc = put_body(c->w, x, SEG_DIR_RESP, h->body[SEG_DIR_RESP], h->body_len[SEG_DIR_RESP]);
	for (size_t i = 0, off = 0; i < h->nmsgs && rc == 0; off += h->msgs[i++].len)
		rc = put_msg(c->w, x, &h->msgs[i], h->msg_data + off);
	for (int d = 0; d < 2 && rc == 0; d++)
		if (h->trailers[d] && (d == SEG_DIR_REQ || h->status))
			rc = put_trailers(c->w, x, (enum seg_dir)d, h->trailers[d], h->trailers_len[d]);
	struct seg_xch_end e = { .status = h->status, .type = h->type, .error = h->error,
				 .flags = h->flags & (SEG_F_REQ_TRUNC | SEG_F_RESP_TRUNC | SEG_F_MEDIA |
						      SEG_F_HEAD_TRUNC | (h->error ? SEG_F_ERROR : 0)),
				 .t = h->t, .wire = h->wire, .err_msg = h->err_msg,
				 .err_msg_len = h->err_msg_len, .server = h->server };
	int erc = seg_xch_end(c->w, x, &e); /* releases x even after a failed body */
	if (rc == 0)
		rc = erc;
	if (h->start_ns && (c->n == 0 || h->start_ns < c->t_min))
		c->t_min = h->start_ns;
	if (h->start_ns + h->t.total_ns > c->t_max)
		c->t_max = h->start_ns + h->t.total_ns;
	c->n++;
	return rc;
}

/* The second pass: the session, its exchanges, its final metadata. */
static int import_write(int fd, const char *data, const char *name, char *err, size_t errlen)
{
	struct ses_settings st = { .save_responses = true, .capture_cookies = true,
				   .max_body = RC_BODY_MAX_DEFAULT };
	struct ses_meta m;
	char dir[4096];
	mkdir(data, 0700);
	int rc = ses_create(data, name, &st, now_ns(), &m);
	if (rc < 0)
		return snprintf(err, errlen, "cannot create session '%s' in %s: %s", name, data,
				rc == -EEXIST ? "a session has that name" : strerror(-rc)), rc;
	ses_dir(dir, sizeof(dir), data, m.id);
	struct seg_writer_cfg cfg = { .session_dir = dir, .worker = 0, .save_responses = true,
				      .body_max = RC_BODY_MAX_DEFAULT };
	struct import_ctx c = {0};
	rc = seg_writer_open(&cfg, now_ns(), &c.w);
	long n = rc < 0 ? rc : rc_har_read(fd, put_entry, &c, err, errlen);
	rc = n < 0 ? (int)n : 0;
	if (c.w) {
		int frc = rc == 0 ? pump(c.w) : 0;
		if (frc == 0 && rc == 0)
			frc = seg_writer_flush_sync(c.w);
		rc = rc ? rc : frc;
		seg_writer_close(c.w);
	}
	struct ses_meta now;
	if (rc == 0)
		rc = ses_load(data, m.id, &now);
	if (rc == 0) {
		now.state = SES_STOPPED;
		now.start_ns = c.n ? c.t_min : now.created_ns;
		now.stop_ns = c.n && c.t_max > now.start_ns ? c.t_max : now.start_ns + 1;
		rc = ses_save(data, &now);
	}
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "writing session '%s': %s", name, strerror(-rc));
		ses_delete(data, m.id);
		return rc;
	}
	printf("%s %llu\n", m.id, (unsigned long long)c.n);
	return 0;
}

static int set_session(void *ctx, const char *v)
{
	((struct import_opts *)ctx)->session = v;
	return 0;
}

int rc_cmd_import(int argc, char **argv)
{
	static const char usage[] =
		"usage: ringcap import FILE.har --session NAME [--data DIR]\n"
		"       prints the new session's id and its number of exchanges\n" RC_USAGE_DATA;
	static const struct rc_opt opts[] = { { "session", true, set_session },
					      { NULL, false, NULL } };
	struct rc_cli_common c = {0};
	struct import_opts o = {0};
	int i = rc_cli_opts(argc, argv, &c, usage, opts, &o);
	if (i < 0)
		return i == -2 ? 0 : 2;
	if (i != argc - 1 || o.session == NULL) {
		fprintf(stderr, "ringcap import: name one HAR file and --session NAME\n%s", usage);
		return 2;
	}
	if (!ses_name_valid(o.session)) {
		fprintf(stderr, "ringcap import: --session '%s': 1 to %u printable bytes, no '/'\n",
			o.session, SES_NAME_MAX);
		return 2;
	}
	int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ringcap import: cannot open '%s': %s\n", argv[i], strerror(errno));
		return 1;
	}
	char err[512] = "";
	struct ses_meta m;
	long n = rc_har_read(fd, NULL, NULL, err, sizeof(err));
	int rc = n < 0 ? (int)n : 0;
	if (rc == 0 && ses_find(c.data, o.session, &m) == 0) {
		snprintf(err, sizeof(err), "a session named '%s' exists in %s", o.session, c.data);
		rc = -EEXIST;
	}
	if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
		rc = -errno;
	if (rc == 0)
		rc = import_write(fd, c.data, o.session, err, sizeof(err));
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "ringcap import: %s: %s\n", argv[i], err[0] ? err : strerror(-rc));
		return 1;
	}
	return 0;
}
