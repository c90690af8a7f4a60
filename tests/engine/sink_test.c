/*
 * tests/engine/sink_test.c - the capture hand-off: the engine, started in
 * this process with a recording sink, proxies real requests over loopback
 * to a small origin thread; the sink must see each exchange once, its
 * request head, its body bytes decoded of chunk framing, the response head
 * and body, and consistent sizes, status and timings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/eng.h"
#include "tests/check.h"

/* ---- recording sink (one worker, so no locking) ---- */
struct rec {
	int begins, ends, responses;
	char req_head[1024], resp_head[1024];
	char req_body[1 << 16], resp_body[1 << 16];
	size_t req_body_len, resp_body_len;
	struct eng_xchg last;
	char method[16], url[256];
};
static struct rec R;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *s_open(void *arg, unsigned worker) { (void)worker; return arg; }
static void *s_begin(void *ctx, const struct eng_xchg *x, const char *head, size_t n)
{
	pthread_mutex_lock(&mu);
	R.begins++;
	snprintf(R.req_head, sizeof(R.req_head), "%.*s", (int)n, head);
	snprintf(R.method, sizeof(R.method), "%.*s", (int)x->method_len, x->method);
	snprintf(R.url, sizeof(R.url), "%.*s", (int)x->url_len, x->url);
	R.req_body_len = R.resp_body_len = 0;
	pthread_mutex_unlock(&mu);
	return ctx;
}
static void s_body(void *ctx, void *h, enum eng_dir dir, const char *p, size_t n)
{
	(void)ctx; (void)h;
	pthread_mutex_lock(&mu);
	char *dst = dir == ENG_DIR_REQUEST ? R.req_body : R.resp_body;
	size_t *len = dir == ENG_DIR_REQUEST ? &R.req_body_len : &R.resp_body_len;
	if (*len + n <= sizeof(R.req_body))
		memcpy(dst + *len, p, n);
	*len += n;
	pthread_mutex_unlock(&mu);
}
static void s_response(void *ctx, void *h, const struct eng_xchg *x, const char *head, size_t n)
{
	(void)ctx; (void)h; (void)x;
	pthread_mutex_lock(&mu);
	R.responses++;
	snprintf(R.resp_head, sizeof(R.resp_head), "%.*s", (int)n, head);
	pthread_mutex_unlock(&mu);
}
static void s_end(void *ctx, void *h, const struct eng_xchg *x)
{
	(void)ctx; (void)h;
	pthread_mutex_lock(&mu);
	R.ends++;
	R.last = *x;
	pthread_mutex_unlock(&mu);
}

/* The sink's own io through the worker's ring, as the store hands a
 * segment rotation: an open (IORING_OP_OPENAT) whose fd comes back in
 * io_done, then a write to that fd. Worker thread only. */
static char io_path[64];
static int io_step;   /* 0 open wanted, 1 open in flight, 2 write wanted, 3 write in flight, 4 done */
static int io_fd = -1, io_open_res = -1, io_write_res = -1;
static const char io_text[] = "opened on the ring";
static bool s_next_io(void *ctx, struct eng_sink_io *io)
{
	(void)ctx;
	if (io_step == 0) {
		*io = (struct eng_sink_io){ .fd = -1, .path = io_path,
					    .open_flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
					    .open_mode = 0640 };
		io_step = 1;
		return true;
	}
	if (io_step == 2) {
		*io = (struct eng_sink_io){ .fd = io_fd, .buf = io_text,
					    .len = sizeof(io_text) - 1, .off = 0 };
		io_step = 3;
		return true;
	}
	return false;
}
static void s_io_done(void *ctx, int res)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	if (io_step == 1) {
		io_open_res = res;
		io_fd = res;
		io_step = res >= 0 ? 2 : 4;
	} else if (io_step == 3) {
		io_write_res = res;
		io_step = 4;
	}
	pthread_mutex_unlock(&mu);
}
static const struct eng_sink_ops ops = {
	.open = s_open, .begin = s_begin, .body = s_body,
	.response = s_response, .end = s_end, .next_io = s_next_io, .io_done = s_io_done,
};

/* ---- origin: answers every request with a chunked "hello world" ---- */
static int origin_fd;
static void *origin(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(origin_fd, NULL, NULL);
		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			return NULL;
		char buf[8192];
		size_t got = 0;
		ssize_t n;
		/* read until the end of a chunked body or a CL body of 7 */
		while ((n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0 || (n < 0 && errno == EINTR)) {
			if (n < 0)
				continue;
			got += (size_t)n;
			buf[got] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			if (end && (strstr(buf, "0\r\n\r\n") > end || strstr(end + 4, "abcdefg")))
				break;
		}
		static const char resp[] = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
			"X-Origin: yes\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
		if (write(c, resp, sizeof(resp) - 1) < 0)
			perror("write");
		sleep(1);   /* keep-alive: the proxy may pool it */
		close(c);
	}
}

static int listen_any(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

static size_t exchange(uint16_t port, const char *req, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("sink_test: connect to the proxy");
		close(fd);
		return 0;
	}
	if (write(fd, req, strlen(req)) < 0)
		return 0;
	size_t got = 0;
	ssize_t n;
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* io_uring task work in this process may interrupt a blocking read */
	for (;;) {
		if (got + 1 >= cap)
			break;
		n = read(fd, out + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = '\0';
		if (strstr(out, "0\r\n\r\n"))
			break;
	}
	close(fd);
	return got;
}

static void wait_ends(int n)
{
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&mu);
		int e = R.ends;
		pthread_mutex_unlock(&mu);
		if (e >= n)
			return;
		usleep(10000);
	}
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	uint16_t oport, pport;
	origin_fd = listen_any(&oport);
	int probe = listen_any(&pport);
	if (origin_fd < 0 || probe < 0)
		return 77;
	close(probe);
	pthread_t ot;
	pthread_create(&ot, NULL, origin, NULL);

	struct eng_config c;
	eng_config_defaults(&c);
	struct sockaddr_in *in = (struct sockaddr_in *)&c.listen;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(pport);
	c.workers = 1;
	c.max_conns = 64;
	c.buf_count = 64;
	c.head_buffers = 16;
	snprintf(io_path, sizeof(io_path), "/tmp/ringcap-sink-open-%d", (int)getpid());
	unlink(io_path);
	c.sink = &ops;
	c.sink_arg = &R;
	char err[256];
	struct eng *e;
	if (eng_start(&e, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "sink_test: %s\n", err);
		return 77;
	}
	char req[512], out[4096];
	snprintf(req, sizeof(req), "POST http://127.0.0.1:%u/up?x=1 HTTP/1.1\r\nHost: a\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", oport);
	size_t n = exchange(pport, req, out, sizeof(out));
	if (!(n > 0 && strncmp(out, "HTTP/1.1 201", 12) == 0))
		fprintf(stderr, "sink_test: got %zu bytes: %.300s\n", n, n ? out : "");
	CHECK(n > 0 && strncmp(out, "HTTP/1.1 201 Created\r\n", 22) == 0);
	CHECK(strstr(out, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") != NULL);
	wait_ends(1);
	pthread_mutex_lock(&mu);
	CHECK(R.begins == 1 && R.responses == 1 && R.ends == 1);
	CHECK(strcmp(R.method, "POST") == 0);
	CHECK(strstr(R.url, "/up?x=1") != NULL);
	CHECK(strncmp(R.req_head, "POST http://127.0.0.1:", 22) == 0);
	CHECK(strstr(R.resp_head, "X-Origin: yes") != NULL);
	CHECK(R.req_body_len == 7 && memcmp(R.req_body, "abcdefg", 7) == 0);
	CHECK(R.resp_body_len == 11 && memcmp(R.resp_body, "hello world", 11) == 0);
	CHECK(R.last.status == 201);
	CHECK(R.last.err == ENG_ERR_NONE);
	CHECK(R.last.request_body_bytes == strlen("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"));
	CHECK(R.last.response_body_bytes == strlen("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
	CHECK(R.last.start_ns > 0);
	CHECK(R.last.connect_ns > 0 && R.last.first_byte_ns >= R.last.connect_ns);
	CHECK(R.last.end_ns >= R.last.first_byte_ns);
	CHECK(R.last.client.ss_family == AF_INET);
	pthread_mutex_unlock(&mu);

	/* an error exchange reaches the sink too, with its kind */
	snprintf(req, sizeof(req), "GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: a\r\n\r\n");
	n = exchange(pport, req, out, sizeof(out));
	CHECK(n > 0 && strncmp(out, "HTTP/1.1 502", 12) == 0);
	wait_ends(2);
	pthread_mutex_lock(&mu);
	CHECK(R.ends == 2 && R.last.err == ENG_ERR_CONNECT && R.last.status == 502);
	pthread_mutex_unlock(&mu);

	/* the sink's open went through the ring and its fd took the write */
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&mu);
		int step = io_step;
		pthread_mutex_unlock(&mu);
		if (step == 4)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&mu);
	CHECK(io_open_res >= 0);
	CHECK(io_write_res == (int)sizeof(io_text) - 1);
	pthread_mutex_unlock(&mu);
	char back[64] = { 0 };
	int rfd = open(io_path, O_RDONLY | O_CLOEXEC);
	CHECK(rfd >= 0);
	if (rfd >= 0) {
		CHECK(read(rfd, back, sizeof(back) - 1) == (ssize_t)sizeof(io_text) - 1);
		CHECK(strcmp(back, io_text) == 0);
		close(rfd);
	}
	unlink(io_path);

	struct eng_counters k;
	eng_counters(e, &k);
	CHECK(k.requests == 2 && k.responses == 1);
	CHECK(k.errors[ENG_ERR_CONNECT] == 1);
	eng_stop(e);
	if (io_fd >= 0)
		close(io_fd);
	shutdown(origin_fd, SHUT_RDWR);
	close(origin_fd);
	pthread_join(ot, NULL);
	return check_done("sink_test");
}
