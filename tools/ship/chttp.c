/*
 * tools/ship/chttp.c - HTTP client for ClickHouse (chttp.h).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <llhttp.h>

#include "tls/tls.h"
#include "tools/ship/chttp.h"

#define REQ_HEAD_MAX 8192u /* request line with the URL-encoded query, and headers */

struct answer {
	struct rc_buf *body;
	int done;
};

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct answer *a = p->data;
	if (a->body->len + n <= RC_CH_ANSWER_MAX)
		rc_buf_add(a->body, at, n);
	return 0;
}

static int on_done(llhttp_t *p)
{
	((struct answer *)p->data)->done = 1;
	return HPE_PAUSED;
}

int rc_ch_init(struct rc_ch *c, const char *url, int timeout_ms, const char *ca_file,
	       bool insecure, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	bool https = strncmp(url, "https://", 8) == 0;
	if (strncmp(url, "http://", 7) != 0 && !https) {
		snprintf(err, errlen, "'%s': expected http://HOST:PORT or https://HOST:PORT", url);
		return -EINVAL;
	}
	const char *h = url + (https ? 8 : 7), *end = h + strcspn(h, "/?#");
	const char *at = memchr(h, '@', (size_t)(end - h));
	if (at) {
		const char *colon = memchr(h, ':', (size_t)(at - h));
		size_t ul = (size_t)((colon ? colon : at) - h);
		size_t pl = colon ? (size_t)(at - colon - 1) : 0;
		if (ul == 0 || ul >= sizeof(c->user) || pl >= sizeof(c->password)) {
			snprintf(err, errlen, "'%s': bad user:password", url);
			return -EINVAL;
		}
		memcpy(c->user, h, ul);
		if (colon)
			memcpy(c->password, colon + 1, pl);
		h = at + 1;
	}
	const char *colon = memchr(h, ':', (size_t)(end - h));
	size_t hl = (size_t)((colon ? colon : end) - h);
	size_t pl = colon ? (size_t)(end - colon - 1) : 0;
	if (hl == 0 || hl > RC_CH_HOST_MAX || (colon && (pl == 0 || pl >= sizeof(c->port)))) {
		snprintf(err, errlen, "'%s': expected http://HOST:PORT", url);
		return -EINVAL;
	}
	memcpy(c->host, h, hl);
	if (colon)
		memcpy(c->port, colon + 1, pl);
	else
		strcpy(c->port, https ? "8443" : "8123");
	if (strspn(c->port, "0123456789") != strlen(c->port) || (*end && strcmp(end, "/") != 0)) {
		snprintf(err, errlen, "'%s': expected http[s]://HOST:PORT (no path)", url);
		return -EINVAL;
	}
	if (!https)
		return 0;
	struct tls_client_opts o = { .extra_ca_file = ca_file, .insecure_all = insecure };
	return tls_client_new(&o, &c->tls, err, errlen);
}

void rc_ch_free(struct rc_ch *c)
{
	rc_ch_close(c);
	if (c->tls)
		tls_client_free(c->tls);
	c->tls = NULL;
}

void rc_ch_close(struct rc_ch *c)
{
	if (c->conn)
		tls_conn_free(c->conn);
	c->conn = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int rc;
	do /* a signal (Ctrl-C) lets the request in flight finish */
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : rc == 0 ? -ETIMEDOUT : 0;
}

static int dial(struct rc_ch *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(c->host, c->port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	int rc = -ECONNREFUSED;
	for (struct addrinfo *p = ai; p && c->fd < 0; p = p->ai_next) {
		int fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, p->ai_addr, p->ai_addrlen) < 0 && errno != EINPROGRESS) {
			rc = -errno;
			close(fd);
			continue;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		rc = wait_fd(fd, POLLOUT, c->timeout_ms);
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
			rc = -soerr;
		if (rc < 0) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
	}
	freeaddrinfo(ai);
	return c->fd >= 0 ? 0 : rc;
}

static int raw_send(struct rc_ch *c, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			int rc = wait_fd(c->fd, POLLOUT, c->timeout_ms);
			if (rc < 0)
				return rc;
			continue;
		}
		if (w < 0)
			return errno == EINTR ? -EINTR : -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Head and body in one sendmsg where the socket takes them (plain http: a
 * batch is one request, so the head does not go out as a packet of its
 * own); whatever is left goes by raw_send. */
static int raw_send2(struct rc_ch *c, const void *h, size_t hn, const void *b, size_t bn)
{
	struct iovec iov[2] = { { (void *)h, hn }, { (void *)b, bn } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = bn ? 2 : 1 };
	ssize_t w;
	do
		w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != EAGAIN)
		return -errno;
	size_t done = w > 0 ? (size_t)w : 0;
	int rc = 0;
	if (done < hn)
		rc = raw_send(c, (const char *)h + done, hn - done);
	size_t bdone = done > hn ? done - hn : 0;
	if (rc == 0 && bdone < bn)
		rc = raw_send(c, (const char *)b + bdone, bn - bdone);
	return rc;
}

/* One recv of at most cap bytes: > 0, 0 at EOF, or -errno. */
static ssize_t raw_recv(struct rc_ch *c, void *buf, size_t cap)
{
	for (;;) {
		ssize_t r = recv(c->fd, buf, cap, 0);
		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int rc = wait_fd(c->fd, POLLIN, c->timeout_ms);
		if (rc < 0)
			return rc;
	}
}

/* Sends the ciphertext TLS has queued. */
static int tls_flush(struct rc_ch *c)
{
	char buf[16384];
	while (tls_conn_pending_out(c->conn) > 0) {
		size_t n = tls_conn_take(c->conn, buf, sizeof(buf));
		int rc = raw_send(c, buf, n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Feeds the next ciphertext the server sends; -ECONNRESET at EOF. */
static int tls_pull(struct rc_ch *c)
{
	char buf[16384];
	size_t room = tls_conn_feed_room(c->conn);
	ssize_t r = raw_recv(c, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (r < 0)
		return (int)r;
	if (r == 0) {
		tls_conn_feed_eof(c->conn);
		return -ECONNRESET;
	}
	tls_conn_feed(c->conn, buf, (size_t)r);
	return 0;
}

/* The client handshake over the connected socket (bounded by the
 * timeout of each read). 0, or -EPROTO with c->tls_err saying why. */
static int tls_start(struct rc_ch *c)
{
	int rc = tls_conn_new_client(c->tls, c->host, &c->conn);
	while (rc == 0) {
		int hs = tls_conn_handshake(c->conn);
		rc = tls_flush(c);
		if (rc < 0 || hs == 0)
			break;
		if (hs != -EAGAIN) {
			snprintf(c->tls_err, sizeof(c->tls_err), "%s", tls_conn_error(c->conn));
			return -EPROTO;
		}
		rc = tls_pull(c);
	}
	return rc;
}

static int send_all(struct rc_ch *c, const void *p, size_t n)
{
	if (c->conn == NULL)
		return raw_send(c, p, n);
	const char *s = p;
	while (n > 0) {
		ssize_t w = tls_conn_write(c->conn, s, n);
		if (w < 0 && w != -EAGAIN)
			return -EPROTO;
		int rc = tls_flush(c);
		if (rc < 0)
			return rc;
		if (w > 0) {
			s += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

/* Plaintext of the answer: > 0 bytes, 0 when the server closed, -errno. */
static ssize_t recv_some(struct rc_ch *c, void *buf, size_t cap)
{
	if (c->conn == NULL)
		return raw_recv(c, buf, cap);
	for (;;) {
		ssize_t r = tls_conn_read(c->conn, buf, cap);
		if (r >= 0)
			return r;
		if (r == -EPIPE)
			return 0;
		if (r != -EAGAIN)
			return -EPROTO;
		int rc = tls_pull(c);
		if (rc == -ECONNRESET)
			continue; /* tls_conn_read now says -EPIPE */
		if (rc < 0)
			return rc;
	}
}

static size_t url_encode(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_.~", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return *s ? 0 : o;
}

/* Reads one answer; 0 with the status in *status, or -errno. */
static int read_answer(struct rc_ch *c, struct rc_buf *ans, int *status)
{
	llhttp_settings_t s;
	llhttp_settings_init(&s);
	s.on_body = on_body;
	s.on_message_complete = on_done;
	llhttp_t p;
	llhttp_init(&p, HTTP_RESPONSE, &s);
	struct answer a = { .body = ans };
	p.data = &a;
	char buf[16384];
	while (!a.done) {
		ssize_t r = recv_some(c, buf, sizeof(buf));
		if (r < 0)
			return (int)r;
		llhttp_errno_t e = r == 0 ? llhttp_finish(&p) : llhttp_execute(&p, buf, (size_t)r);
		if (e != HPE_OK && e != HPE_PAUSED)
			return -EBADMSG;
		if (r == 0 && !a.done)
			return -ECONNRESET;
	}
	*status = p.status_code;
	if (!llhttp_should_keep_alive(&p))
		rc_ch_close(c);
	return 0;
}

int rc_ch_post(struct rc_ch *c, const char *query, const void *body, size_t len,
	       struct rc_buf *ans)
{
	char q[REQ_HEAD_MAX / 2], head[REQ_HEAD_MAX];
	if (url_encode(q, sizeof(q), query) == 0)
		return -E2BIG;
	int hl = snprintf(head, sizeof(head),
			  "POST /?query=%s HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: %zu\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n%s%s%s%s%s%s\r\n",
			  q, c->host, c->port, len, c->user[0] ? "X-ClickHouse-User: " : "",
			  c->user, c->user[0] ? "\r\n" : "", c->user[0] ? "X-ClickHouse-Key: " : "",
			  c->user[0] ? c->password : "", c->user[0] ? "\r\n" : "");
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return -E2BIG;
	int status = 0;
	/* A kept-alive connection the server closed meanwhile fails on first
	 * use: one fresh connection is tried before reporting the error. */
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = c->fd >= 0;
		int rc = reused ? 0 : dial(c);
		if (rc == 0 && !reused && c->tls)
			rc = tls_start(c);
		if (rc == 0 && c->conn == NULL)
			rc = raw_send2(c, head, (size_t)hl, body, len);
		else if (rc == 0)
			rc = send_all(c, head, (size_t)hl);
		if (rc == 0 && c->conn != NULL)
			rc = send_all(c, body, len);
		if (rc == 0) {
			ans->len = 0;
			rc = read_answer(c, ans, &status);
		}
		if (rc == 0)
			return status;
		rc_ch_close(c);
		if (!reused)
			return rc;
	}
	return -ECONNRESET;
}
