/* tests/fuzz/eng-fuzz.h: the set-up the whole-engine fuzz targets share
 * (tests/fuzz/proxy/proxy_fuzz.c, tests/fuzz/h2/h2_fuzz.c): the engine
 * started in process on a loopback port with one worker and short
 * timeouts, a loopback upstream whose connections the target serves on
 * threads of their own, and a capture sink that counts begins and ends
 * (every exchange that begins must end exactly once, with the handle it
 * began with). Each target includes it once, before its own code.
 */
#ifndef ENG_FUZZ_H
#define ENG_FUZZ_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/eng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct eng *E;
static uint16_t proxy_port, up_port;
static int up_fd;
static void *(*up_conn)(void *arg);   /* the target's upstream, per connection */

/* capture sink bookkeeping: begins and ends, from the worker thread */
static atomic_long begins, ends, bad_ends;

static void *s_open(void *arg, unsigned worker) { (void)worker; return arg; }
static void *s_begin(void *ctx, const struct eng_xchg *x, const char *head, size_t n)
{
	(void)ctx; (void)x; (void)head; (void)n;
	atomic_fetch_add(&begins, 1);
	return &begins;
}
static void s_end(void *ctx, void *h, const struct eng_xchg *x)
{
	(void)ctx; (void)x;
	if (h != &begins)
		atomic_fetch_add(&bad_ends, 1);
	atomic_fetch_add(&ends, 1);
}

static void *upstream_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(up_fd, NULL, NULL);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			return NULL;
		pthread_t t;
		if (pthread_create(&t, NULL, up_conn, (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

static int listen_loopback(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Starts the upstream (conn serves each of its connections) and the
 * engine: the defaults, a loopback listener, one worker, short timeouts
 * and the counting sink with ops' extra callbacks; size() sets the
 * target's own buffers and options. Aborts with name's message when the
 * engine does not start. */
static void eng_fuzz_start(const char *name, const struct eng_sink_ops *ops,
			   void *(*conn)(void *), void (*size)(struct eng_config *c))
{
	signal(SIGPIPE, SIG_IGN);
	up_conn = conn;
	up_fd = listen_loopback(&up_port);
	int probe = listen_loopback(&proxy_port);
	if (up_fd < 0 || probe < 0)
		abort();
	close(probe);
	pthread_t t;
	pthread_create(&t, NULL, upstream_accept, NULL);
	pthread_detach(t);
	struct eng_config c;
	eng_config_defaults(&c);
	struct sockaddr_in *in = (struct sockaddr_in *)&c.listen;
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(proxy_port);
	c.listen_len = sizeof(*in);
	c.workers = 1;
	c.max_headers = 32;
	c.header_timeout_ms = 1000;
	c.idle_timeout_ms = 1000;
	c.connect_timeout_ms = 500;
	c.upstream_timeout_ms = 500;
	c.allow = NULL;
	c.nallow = 0;
	c.sink = ops;
	size(&c);
	char err[256];
	if (eng_start(&E, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		abort();
	}
}

/* After an input whose connection the proxy closed: every exchange that
 * began has ended (waiting up to settle_ms for the worker, which ends it
 * right around the close) with the handle it began with; else aborts,
 * saying how many this input began (b0: begins before it). */
static void eng_fuzz_check_ends(const char *name, long b0, int settle_ms)
{
	for (int i = 0; i < settle_ms && atomic_load(&ends) != atomic_load(&begins); i++)
		usleep(1000);
	if (atomic_load(&ends) != atomic_load(&begins) || atomic_load(&bad_ends) != 0) {
		fprintf(stderr, "%s: %ld exchanges begun, %ld ended (this input began %ld)\n", name,
			atomic_load(&begins), atomic_load(&ends), atomic_load(&begins) - b0);
		abort();
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
