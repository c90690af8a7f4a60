/*
 * tests/tools/capture/capture_fault_test.c - storage faults in the capture sink
 * (tools/capture.c), driven through rc_capture_ops by a fake engine loop
 * that performs the sink's writes with pwrite/fsync like the worker's ring
 * would, and injects -EIO for one write or one fsync in io_done. After the
 * fault: capture has stopped (rc_capture_stats().failed), one loud line
 * is on stderr, later exchanges are counted as dropped, and every exchange
 * written before the fault still opens intact from disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/capture/sink.h"
#include "tests/check.h"

#define GOOD 40u           /* exchanges written before the fault */
#define BODY_MAX (1u << 20)

enum fault { FAULT_WRITE, FAULT_FSYNC };

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Body byte i of exchange k, direction d: derivable, never stored here. */
static void body(unsigned k, int d, char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((k * 131u + (unsigned)d * 7u + i * (i % 13u + 1u)) & 0xff);
}

static size_t body_len(unsigned k, int d) { return d ? (k % 5u) * 3000u + 1 : (k % 3u) * 500u; }

/* One exchange k through the sink, as the engine offers it. Returns the
 * handle begin gave (NULL: skipped). */
static void *offer(void *ctx, unsigned k, bool end)
{
	static char buf[64 * 1024];
	char url[128], head[256];
	int ul = snprintf(url, sizeof(url), "http://origin.test/x/%u", k);
	int hl = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: origin.test\r\n\r\n", url);
	struct eng_xchg x = {
		.seq = k + 1, .start_ns = wall_ns(), .method = "POST", .method_len = 4,
		.url = url, .url_len = (size_t)ul, .host = "origin.test", .host_len = 11,
		.port = 80, .http_minor = 1, .status = 200, .end_ns = 1000,
	};
	x.client.ss_family = AF_INET;
	void *h = rc_capture_ops.begin(ctx, &x, head, (size_t)hl);
	if (h == NULL)
		return NULL;
	size_t n = body_len(k, 0);
	body(k, 0, buf, n);
	if (n)
		rc_capture_ops.body(ctx, h, ENG_DIR_REQUEST, buf, n);
	static const char rh[] = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";
	rc_capture_ops.response(ctx, h, &x, rh, sizeof(rh) - 1);
	n = body_len(k, 1);
	body(k, 1, buf, n);
	rc_capture_ops.body(ctx, h, ENG_DIR_RESPONSE, buf, n);
	x.request_body_bytes = body_len(k, 0);
	x.response_body_bytes = n;
	if (end)
		rc_capture_ops.end(ctx, h, &x);
	return h;
}

/* The engine's loop: submit every io the sink offers, one at a time;
 * inject -EIO for the first io of the faulted kind when armed. Returns
 * whether the fault was injected. */
static bool pump(void *ctx, enum fault f, bool armed)
{
	struct eng_sink_io io;
	bool hit = false;
	for (int guard = 0; guard < 100000 && rc_capture_ops.next_io(ctx, &io); guard++) {
		int res;
		if (armed && !hit && !io.path && io.fsync == (f == FAULT_FSYNC)) {
			res = -EIO;
			hit = true;
		} else if (io.path) { /* a rotation's open (the ring's OPENAT) */
			int fd = open(io.path, io.open_flags, (mode_t)io.open_mode);
			res = fd < 0 ? -errno : fd;
		} else if (io.fsync) {
			res = fsync(io.fd) < 0 ? -errno : 0;
		} else {
			ssize_t w = pwrite(io.fd, io.buf, io.len, (off_t)io.off);
			res = w < 0 ? -errno : (int)w;
		}
		rc_capture_ops.io_done(ctx, res);
	}
	return hit;
}

/* Runs fn with stderr captured into buf (NUL-terminated). */
static void with_stderr(char *buf, size_t cap, void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/rc-capture-fault-err-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	fputs(buf, stderr); /* still visible in the test log */
}

struct run {
	void *ctx;
	enum fault f;
	uint64_t now;
	bool hit;
	void *open_h;  /* begun before the fault, ended after */
};

static void inject(void *arg)
{
	struct run *r = arg;
	r->open_h = offer(r->ctx, GOOD, false);   /* in flight across the fault */
	offer(r->ctx, GOOD + 1, true);
	/* FAULT_WRITE: sealing by age queues the frame's write, which fails.
	 * FAULT_FSYNC: an hour later the segment rotates by age; its fsyncs
	 * are queued behind the writes, and the first fails. */
	r->now += r->f == FAULT_FSYNC ? 3700ull * 1000000000u : 1000000000u;
	rc_capture_ops.tick(r->ctx, r->now);
	r->hit = pump(r->ctx, r->f, true);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

static void verify_good(const char *dir, unsigned worker)
{
	static char want[64 * 1024];
	for (unsigned k = 0; k < GOOD; k++) {
		uint64_t id = ((uint64_t)worker << 40) | (k + 1);
		struct seg_open_opts o = { .body_max = { BODY_MAX, BODY_MAX } };
		struct seg_exchange x;
		int rc = seg_open_id(dir, id, &o, &x);
		CHECK(rc == 0);
		if (rc < 0)
			continue;
		char url[128];
		snprintf(url, sizeof(url), "http://origin.test/x/%u", k);
		CHECK(x.complete && x.status == 200 && strcmp(x.url, url) == 0);
		for (int d = 0; d < 2; d++) {
			size_t n = body_len(k, d);
			body(k, d, want, n);
			CHECK(x.body_len[d] == n);
			CHECK(n == 0 || (x.body[d] && memcmp(x.body[d], want, n) == 0));
		}
		seg_exchange_free(&x);
	}
}

static void run_fault(enum fault f, unsigned worker)
{
	char data[] = "/tmp/rc-capture-fault-XXXXXX", dir[4200], perr[256] = "";
	CHECK(mkdtemp(data) != NULL);
	struct ses_meta m;
	struct ses_settings st = { .save_responses = true };
	CHECK(ses_create(data, "fault", &st, 1, &m) == 0);
	ses_dir(dir, sizeof(dir), data, m.id);
	struct rc_capture *c = NULL;
	CHECK(rc_capture_create(worker + 1, &c) == 0);
	struct rc_capture_stats s0, s1, s2;
	rc_capture_stats(c, &s0);
	struct run r = { .ctx = rc_capture_ops.open(c, worker), .f = f, .now = wall_ns() };
	CHECK(r.ctx != NULL);
	struct rc_capture_policy p = { .session_dir = dir, .save_responses = true,
				       .body_max = BODY_MAX };
	CHECK(rc_capture_set(c, &p, 0, perr, sizeof(perr)) == 0);
	for (unsigned k = 0; k < GOOD; k++) {
		CHECK(offer(r.ctx, k, true) != NULL);
		pump(r.ctx, f, false);
	}
	r.now += 1000000000u;  /* past the flush interval: everything is written */
	rc_capture_ops.tick(r.ctx, r.now);
	pump(r.ctx, f, false);
	rc_capture_stats(c, &s1);
	CHECK(s1.written - s0.written == GOOD);
	CHECK(s1.dropped == s0.dropped);
	CHECK(s1.bytes > s0.bytes);
	CHECK(!s1.failed);

	char err[4096];
	with_stderr(err, sizeof(err), inject, &r);
	CHECK(r.hit);
	CHECK(strstr(err, "stopped") != NULL);
	CHECK(strstr(err, "traffic still flows") != NULL);
	CHECK(strstr(err, strerror(EIO)) != NULL);

	/* later exchanges: skipped and counted; the one in flight too */
	char err2[4096];
	struct run later = r;
	with_stderr(err2, sizeof(err2), inject, &later);
	CHECK(later.open_h == NULL);  /* begin refuses once capture stopped */
	CHECK(strstr(err2, "stopped") == NULL);  /* said once */
	struct eng_xchg x = { .status = 200 };
	rc_capture_ops.end(r.ctx, r.open_h, &x);
	rc_capture_stats(c, &s2);
	CHECK(s2.failed);
	CHECK(s2.written - s0.written >= GOOD && s2.written - s0.written <= GOOD + 1);
	CHECK(s2.dropped - s1.dropped == 3);  /* 2 refused later, the open one */

	struct rc_capture_policy none = { 0 };
	rc_capture_set(c, &none, 0, perr, sizeof(perr));
	for (int i = 0; i < 3; i++) {
		rc_capture_ops.tick(r.ctx, r.now);
		pump(r.ctx, f, false);
	}
	rc_capture_reap(c);
	rc_capture_ops.close(r.ctx);
	rc_capture_destroy(c);
	verify_good(dir, worker);
	nftw(data, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	run_fault(FAULT_WRITE, 0);
	run_fault(FAULT_FSYNC, 1);
	return check_done("capture_fault_test (write EIO and fsync EIO)");
}
