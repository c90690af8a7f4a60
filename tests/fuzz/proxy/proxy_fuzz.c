/*
 * tests/fuzz/proxy/proxy_fuzz.c - libFuzzer target for the whole proxy, in
 * process: the engine (one worker, small buffers, short timeouts, every
 * source instrumented) runs on loopback; each input is one client
 * connection whose bytes go in TCP segments of fuzzer-chosen sizes, and a
 * scripted upstream that answers every request head it reads with the
 * input's upstream bytes, also segmented, then FIN.
 *
 * Input: byte 0 = client segment sizes, byte 1 = upstream segment sizes
 * (low nibble + 1 and high nibble * 8 + 1 bytes, alternating); then the
 * client bytes; then, after the marker "|UP|", the upstream bytes (none:
 * a small 200). "@@" in the client bytes becomes the upstream's
 * 127.0.0.1:PORT. Inputs naming any other host by name are skipped: name
 * resolution is not what this fuzzes, and a look-up could leave loopback.
 *
 * Checked beyond ASan/UBSan in the engine: after every input the proxy
 * closes the client connection within a bound (no wedged state), every
 * exchange the capture sink saw begin ends exactly once, WebSocket message
 * pieces (after a 101 to websocket) come only for an exchange begun and
 * not ended, with sane opcodes, flags and lengths, and every 128 inputs a
 * plain request through the proxy still gets its 200.
 *
 * Slow by nature (real sockets, a few thousand runs per second at best);
 * it finds state-machine bugs the pure parser targets cannot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/eng.h"
#include "tests/fuzz/eng-fuzz.h"

#define IN_MAX 16384
#define DRAIN_MS 5000   /* a connection must be closed by then */

/* the upstream's script, replaced per input (under script_mu) */
static pthread_mutex_t script_mu = PTHREAD_MUTEX_INITIALIZER;
static char script[IN_MAX];
static size_t script_len;
static uint8_t script_seg;

/* a piece of a WebSocket message: only inside an exchange, well formed */
static void s_ws_msg(void *ctx, void *h, const struct eng_ws_msg *m, const char *p, size_t n)
{
	(void)ctx;
	bool op_ok = m->opcode == 1 || m->opcode == 2 || (m->opcode >= 8 && m->opcode <= 10);
	if (h != &begins || atomic_load(&begins) <= atomic_load(&ends) || !op_ok) {
		fprintf(stderr, "proxy_fuzz: WebSocket piece outside an exchange (opcode %u)\n",
			m->opcode);
		abort();
	}
	if ((m->flags & ~0x0fu) || m->len < n || (n > 0 && p == NULL)) {
		fprintf(stderr, "proxy_fuzz: malformed WebSocket piece\n");
		abort();
	}
}
static const struct eng_sink_ops sink_ops = { .open = s_open, .begin = s_begin, .end = s_end,
					      .ws_msg = s_ws_msg };

static size_t seg_len(uint8_t sel, unsigned i)
{
	return i % 2 ? 1u + (sel >> 4) * 8u : 1u + (sel & 15u);
}

static void send_segments(int fd, const char *p, size_t n, uint8_t sel)
{
	for (unsigned i = 0; n > 0 && i < IN_MAX; i++) {
		size_t k = seg_len(sel, i) < n ? seg_len(sel, i) : n;
		if (send(fd, p, k, MSG_NOSIGNAL) != (ssize_t)k)
			return;
		p += k;
		n -= k;
	}
}

/* One upstream connection: each request head read gets the script. */
static void *upstream_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[IN_MAX];
	size_t got = 0;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 64; i++) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") == NULL && got < sizeof(buf) - 1)
			continue;
		pthread_mutex_lock(&script_mu);
		static char copy[IN_MAX];
		size_t n = script_len;
		uint8_t sel = script_seg;
		memcpy(copy, script, n);
		pthread_mutex_unlock(&script_mu);
		send_segments(fd, copy, n, sel);
		break;
	}
	shutdown(fd, SHUT_WR);
	/* drain what the proxy still sends, so our close is no RST */
	for (int i = 0; i < 64 && recv(fd, buf, sizeof(buf), 0) > 0; i++)
		;
	close(fd);
	return NULL;
}

static void stop_engine(void)
{
	if (E)
		eng_stop(E);
	E = NULL;
}

/* Small buffers: heads and bodies span them. */
static void size(struct eng_config *c)
{
	c->max_conns = 64;
	c->buf_count = 64;
	c->buf_size = 1024;
	c->head_buffers = 32;
	c->max_request_head = 4096;
	c->max_response_head = 4096;
}

static void setup(void)
{
	eng_fuzz_start("proxy_fuzz", &sink_ops, upstream_conn, size);
	atexit(stop_engine);
}

/* Sends the client bytes, half-closes, reads until the proxy closes.
 * Returns the bytes read (into out) or -1 when the proxy never closed. */
static long client(const char *p, size_t n, uint8_t sel, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(proxy_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		abort();   /* the proxy stopped accepting */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	send_segments(fd, p, n, sel);
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	long rc = -1;
	uint64_t end = now_ms() + DRAIN_MS;
	for (unsigned i = 0; i < 1u << 20; i++) {
		uint64_t t = now_ms();
		if (t >= end)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(end - t)) <= 0)
			continue;
		char tmp[4096];
		ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = (long)got;
			break;
		}
		size_t k = got + (size_t)r <= cap ? (size_t)r : cap - got;
		memcpy(out + got, tmp, k);
		got += k;
	}
	close(fd);
	return rc;
}

/* Every name after "://" or CONNECT must be "@@" or an IP literal. */
static bool only_loopback_targets(const char *p, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++) {
		size_t at;
		if (memcmp(p + i, "://", 3) == 0)
			at = i + 3;
		else if (i + 8 < n && memcmp(p + i, "CONNECT ", 8) == 0)
			at = i + 8;
		else
			continue;
		if (at < n && p[at] != '@' && p[at] != '[' && !(p[at] >= '0' && p[at] <= '9') &&
		    p[at] != '/')
			return false;
	}
	return true;
}

/* The proxy still serves a plain GET. The connections of the last inputs
 * may still be counted against --max-conns (64 here) for a moment while
 * their closes go through the ring, so that the check's own connection is
 * turned away (a 503, or closed unanswered when every answer slot is
 * busy): it gets SANITY_TRIES tries 100 ms apart. A proxy that stopped
 * serving fails them all. */
#define SANITY_TRIES 20
static void sanity(void)
{
	char req[256], out[4096];
	int n = snprintf(req, sizeof(req), "GET http://127.0.0.1:%u/ok HTTP/1.1\r\nHost: x\r\n\r\n",
			 up_port);
	pthread_mutex_lock(&script_mu);
	script_len = (size_t)sprintf(script, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	script_seg = 0xff;
	pthread_mutex_unlock(&script_mu);
	long got = -1;
	for (int i = 0; i < SANITY_TRIES; i++) {
		if (i > 0)
			usleep(100000);
		got = client(req, (size_t)n, 0xff, out, sizeof(out) - 1);
		if (got >= 12 && memcmp(out, "HTTP/1.1 200", 12) == 0)
			return;
	}
	fprintf(stderr, "proxy_fuzz: the proxy stopped serving (%ld bytes, %d tries)\n", got,
		SANITY_TRIES);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char cli[IN_MAX * 2], out[1 << 16];
	static unsigned runs;
	if (E == NULL)
		setup();
	if (size < 2 || size > IN_MAX)
		return 0;
	const char *p = (const char *)data + 2;
	size_t n = size - 2;
	const char *mark = memmem(p, n, "|UP|", 4);
	size_t cn = mark ? (size_t)(mark - p) : n;
	char port[24];
	int pl = snprintf(port, sizeof(port), "127.0.0.1:%u", up_port);
	size_t len = 0;
	for (size_t i = 0; i < cn; i++) {
		if (i + 1 < cn && p[i] == '@' && p[i + 1] == '@') {
			memcpy(cli + len, port, (size_t)pl);
			len += (size_t)pl;
			i++;
		} else {
			cli[len++] = p[i];
		}
	}
	if (!only_loopback_targets(cli, len))
		return 0;
	pthread_mutex_lock(&script_mu);
	if (mark) {
		script_len = n - cn - 4;
		memcpy(script, mark + 4, script_len);
	} else {
		script_len = (size_t)sprintf(script, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	}
	script_seg = data[1];
	pthread_mutex_unlock(&script_mu);
	long b0 = atomic_load(&begins);
	if (client(cli, len, data[0], out, sizeof(out)) < 0) {
		fprintf(stderr, "proxy_fuzz: client connection not closed within %d ms\n", DRAIN_MS);
		abort();
	}
	eng_fuzz_check_ends("proxy_fuzz", b0, 500);
	if (++runs % 128 == 0)
		sanity();
	return 0;
}
