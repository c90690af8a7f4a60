/*
 * bench/connect_fwd.c - a loopback TCP front for load tools that cannot
 * speak to an HTTP proxy (h2load): every accepted connection is relayed to
 * PROXY_PORT after "CONNECT TARGET HTTP/1.1" and its 200, or straight to
 * TARGET's port when PROXY_PORT is 0 (the same extra hop for the direct
 * row). One thread per connection, non-blocking, both directions at once
 * (64 KiB each); meant for a handful of long connections (h2load -c 10),
 * not for connection churn.
 *
 *   connect_fwd LISTEN_PORT PROXY_PORT TARGET_HOST:PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int proxy_port, target_port;
static char target[256];

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Sends the CONNECT and reads the answer's head; 0 on a 200. */
static int tunnel(int fd)
{
	char req[600], head[1024];
	int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target,
			 target);
	size_t got = 0;
	if (write(fd, req, (size_t)n) != n)
		return -1;
	while (got < sizeof(head) - 1) {
		ssize_t r = read(fd, head + got, 1);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		if (got >= 4 && memcmp(head + got - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	return got >= 12 && memcmp(head, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

/* One direction of a relay: bytes read from one socket, not yet all
 * written to the other. */
struct pipe_buf {
	char *b;
	size_t len, off;
};

/* Moves what it can from p[from] to p[1 - from] without blocking: writes
 * what q holds, then reads more only once q is empty. -1 when either side
 * closed or failed. */
static int pump(struct pollfd *p, int from, struct pipe_buf *q)
{
	int to = 1 - from;
	if (q->len > q->off && (p[to].revents & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t w = write(p[to].fd, q->b + q->off, q->len - q->off);
		if (w < 0 && errno != EAGAIN)
			return -1;
		q->off += w > 0 ? (size_t)w : 0;
	}
	if (q->len == q->off && (p[from].revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t r = read(p[from].fd, q->b, 65536);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return -1;
		q->len = r > 0 ? (size_t)r : 0;
		q->off = 0;
	}
	return 0;
}

/* Relays both directions at once: a blocking write one way while the
 * other way is full is a deadlock (h2 sends both ways at once: h2load's
 * requests and window updates against the proxy's answers). */
static void *relay(void *arg)
{
	int c = (int)(intptr_t)arg;
	int u = dial(proxy_port ? proxy_port : target_port);
	if (u < 0 || (proxy_port && tunnel(u) < 0)) {
		close(c);
		if (u >= 0)
			close(u);
		return NULL;
	}
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	fcntl(u, F_SETFL, fcntl(u, F_GETFL) | O_NONBLOCK);
	struct pipe_buf q[2] = { { .b = malloc(65536) }, { .b = malloc(65536) } }; /* c->u, u->c */
	struct pollfd p[2] = { { .fd = c }, { .fd = u } };
	while (q[0].b && q[1].b) {
		/* read from i when its way's buffer is empty, write to i when
		 * the other way's holds bytes */
		for (int i = 0; i < 2; i++)
			p[i].events = (short)((q[i].len == q[i].off ? POLLIN : 0) |
					      (q[1 - i].len > q[1 - i].off ? POLLOUT : 0));
		if (poll(p, 2, -1) < 0 || pump(p, 0, &q[0]) < 0 || pump(p, 1, &q[1]) < 0)
			break;
	}
	free(q[0].b);
	free(q[1].b);
	close(c);
	close(u);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: connect_fwd LISTEN_PORT PROXY_PORT TARGET_HOST:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	proxy_port = atoi(argv[2]);
	snprintf(target, sizeof(target), "%s", argv[3]);
	const char *colon = strrchr(target, ':');
	target_port = colon ? atoi(colon + 1) : 443;
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 256) < 0) {
		perror("connect_fwd: listen");
		return 1;
	}
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		if (pthread_create(&t, NULL, relay, (void *)(intptr_t)c) != 0) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
}
