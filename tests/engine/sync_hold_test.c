/*
 * tests/engine/sync_hold_test.c - `run --sync` in the engine
 * (eng_config.sync, eng_sink_ops.ticket/durable): the engine, started in
 * this process with a sink whose durability the test controls, proxies
 * real requests over loopback to a small keep-alive origin thread.
 *
 * - an exchange with a ticket that is not durable: the sink saw its end,
 *   yet the client does not get the whole response; once durable() says
 *   yes and a sink io completes, it does;
 * - ticket 0 (nothing stored): not held;
 * - a held client that goes away: the release later finds a stale entry,
 *   and the worker goes on serving;
 * - sync off: never held, ticket() never asked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/eng.h"
#include "tests/check.h"

/* ---- the sink: durability by the test's say-so ---- */
static _Atomic int ends, ticket_calls, ios_done, ios_wanted;
static _Atomic bool ticket_on;
static _Atomic uint64_t ticket_seq, durable_upto;
static int io_fd = -1;
static const char io_byte[1] = { 'x' };

static void *s_open(void *arg, unsigned worker) { (void)worker; return arg; }
static void *s_begin(void *ctx, const struct eng_xchg *x, const char *head, size_t n)
{
	(void)x; (void)head; (void)n;
	return ctx;
}
static void s_end(void *ctx, void *h, const struct eng_xchg *x)
{
	(void)ctx; (void)h; (void)x;
	atomic_fetch_add(&ends, 1);
}
static bool s_next_io(void *ctx, struct eng_sink_io *io)
{
	(void)ctx;
	static int handed;   /* worker thread only */
	if (handed >= atomic_load(&ios_wanted))
		return false;
	handed++;
	*io = (struct eng_sink_io){ .fd = io_fd, .buf = io_byte, .len = 1, .off = 0 };
	return true;
}
static void s_io_done(void *ctx, int res)
{
	(void)ctx;
	CHECK_EQ(res, 1);
	atomic_fetch_add(&ios_done, 1);
}
static uint64_t s_ticket(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&ticket_calls, 1);
	return atomic_load(&ticket_on) ? atomic_fetch_add(&ticket_seq, 1) + 1 : 0;
}
static bool s_durable(void *ctx, uint64_t t)
{
	(void)ctx;
	return t <= atomic_load(&durable_upto);
}
static const struct eng_sink_ops ops = {
	.open = s_open, .begin = s_begin, .end = s_end, .next_io = s_next_io,
	.io_done = s_io_done, .ticket = s_ticket, .durable = s_durable,
};

/* ---- origin: keep-alive, "hello" to every request ---- */
static int origin_fd;
static void *serve(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[4096];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		char *end;
		while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
			if (write(c, resp, sizeof(resp) - 1) < 0)
				break;
			size_t used = (size_t)(end + 4 - buf);
			memmove(buf, end + 4, got - used + 1);
			got -= used;
		}
		if (got >= sizeof(buf) - 1)
			break;
	}
	close(c);
	return NULL;
}
static void *origin(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(origin_fd, NULL, NULL);
		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			return NULL;
		pthread_t t;
		pthread_create(&t, NULL, serve, (void *)(intptr_t)c);
		pthread_detach(t);
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

static int client(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

static void send_get(int fd, uint16_t oport)
{
	char req[256];
	int n = snprintf(req, sizeof(req), "GET http://127.0.0.1:%u/x HTTP/1.1\r\nHost: a\r\n\r\n",
			 oport);
	REQUIRE(write(fd, req, (size_t)n) == n);
}

/* Reads for up to ms; true once a whole response (ending in "hello") is in. */
static bool whole_response(int fd, int ms)
{
	static char buf[4096];
	static size_t got;
	static int last_fd = -1;
	if (fd != last_fd)
		got = 0;   /* a new connection: nothing of the old one counts */
	last_fd = fd;
	for (int waited = 0; waited <= ms; waited += 10) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) > 0) {
			ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
			if (n > 0)
				got += (size_t)n;
			buf[got] = '\0';
		}
		char *h = strstr(buf, "hello");
		if (h) {
			size_t used = (size_t)(h + 5 - buf);
			memmove(buf, h + 5, got - used + 1);
			got -= used;
			return true;
		}
	}
	return false;
}

static void wait_ends(int n)
{
	for (int i = 0; i < 300 && atomic_load(&ends) < n; i++)
		usleep(10000);
	REQUIRE(atomic_load(&ends) >= n);
}

static struct eng *start(uint16_t pport, bool sync)
{
	struct eng_config c;
	eng_config_defaults(&c);
	struct sockaddr_in *in = (struct sockaddr_in *)&c.listen;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(pport);
	c.workers = 1;
	c.max_conns = 64;
	c.buf_count = 64;
	c.head_buffers = 16;
	c.sync = sync;
	c.sink = &ops;
	static int handle;   /* begin() must return non-NULL to capture */
	c.sink_arg = &handle;
	char err[256];
	struct eng *e;
	if (eng_start(&e, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "sync_hold_test: %s\n", err);
		exit(77);
	}
	return e;
}

static void test_sync_on(uint16_t pport, uint16_t oport)
{
	struct eng *e = start(pport, true);
	int fd = client(pport);
	/* 1: held until durable, then released by the next sink io */
	atomic_store(&ticket_on, true);
	send_get(fd, oport);
	wait_ends(1);
	CHECK_MSG(!whole_response(fd, 400), "the response went out before it was durable");
	atomic_store(&durable_upto, atomic_load(&ticket_seq));
	atomic_fetch_add(&ios_wanted, 1);
	CHECK_MSG(whole_response(fd, 3000), "not released once durable");
	CHECK_EQ(atomic_load(&ios_done), 1);
	/* 2: ticket 0 (the sink stored nothing): not held */
	atomic_store(&ticket_on, false);
	send_get(fd, oport);
	CHECK_MSG(whole_response(fd, 3000), "a response without a ticket was held");
	/* 3: durable already when it ends: not held either */
	atomic_store(&ticket_on, true);
	atomic_store(&durable_upto, UINT64_MAX);
	send_get(fd, oport);
	CHECK_MSG(whole_response(fd, 3000), "a durable exchange was held");
	/* 4: a held client leaves; its release finds the slot closed */
	atomic_store(&durable_upto, atomic_load(&ticket_seq));
	send_get(fd, oport);
	wait_ends(4);
	close(fd);
	usleep(200000);
	atomic_store(&durable_upto, UINT64_MAX);
	atomic_fetch_add(&ios_wanted, 1);
	for (int i = 0; i < 300 && atomic_load(&ios_done) < 2; i++)
		usleep(10000);
	CHECK_EQ(atomic_load(&ios_done), 2);
	fd = client(pport);
	send_get(fd, oport);
	CHECK_MSG(whole_response(fd, 3000), "the worker stopped serving");
	close(fd);
	eng_stop(e);
}

static void test_sync_off(uint16_t pport, uint16_t oport)
{
	atomic_store(&ticket_calls, 0);
	atomic_store(&ticket_on, true);
	atomic_store(&durable_upto, 0);
	struct eng *e = start(pport, false);
	int fd = client(pport);
	send_get(fd, oport);
	CHECK_MSG(whole_response(fd, 3000), "held without --sync");
	CHECK_EQ(atomic_load(&ticket_calls), 0);
	close(fd);
	eng_stop(e);
}

int main(void)
{
	uint16_t oport, pport, pport2;
	origin_fd = listen_any(&oport);
	int probe = listen_any(&pport), probe2 = listen_any(&pport2);
	if (origin_fd < 0 || probe < 0 || probe2 < 0)
		return 77;
	close(probe);
	close(probe2);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ringcap-sync-hold-%d", (int)getpid());
	io_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(io_fd >= 0);
	unlink(path);
	pthread_t ot;
	pthread_create(&ot, NULL, origin, NULL);
	test_sync_on(pport, oport);
	test_sync_off(pport2, oport);
	shutdown(origin_fd, SHUT_RDWR);
	close(origin_fd);
	pthread_join(ot, NULL);
	close(io_fd);
	return check_done("sync_hold_test");
}
