/*
 * tests/tools/control/http_test.c - the control port's request reader (tools/http.c)
 * over a socketpair: requests whole, pipelined and trickled one byte at a
 * time, every refusal with its status, the query decoder; and the bearer
 * token file and checks (tools/token.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "tools/control/http.h"
#include "tools/control/token.h"
#include "tests/check.h"


struct trickle {
	int fd;
	const char *data;
	size_t len;
};

static void *trickle_main(void *arg)
{
	struct trickle *t = arg;
	for (size_t i = 0; i < t->len; i++)
		if (write(t->fd, t->data + i, 1) != 1)
			break;
	return NULL;
}

/* Reads one request from text (written at once, or byte by byte). */
static int read_one(const char *text, size_t len, bool slow, struct rc_http_req *rq)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -99;
	pthread_t th;
	struct trickle t = { sv[1], text, len };
	if (slow)
		pthread_create(&th, NULL, trickle_main, &t);
	else if (write(sv[1], text, len) != (ssize_t)len)
		return -98;
	if (!slow)
		shutdown(sv[1], SHUT_WR);
	struct rc_http_conn *c = calloc(1, sizeof(*c));
	c->fd = sv[0];
	int rc = rc_http_read(c, rq);
	if (slow)
		pthread_join(th, NULL);
	free(c);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_requests(void)
{
	static const char get[] = "GET /api/sessions/x/exchanges?sort=url&limit=5 HTTP/1.1\r\n"
				  "Host: h\r\nAuthorization: Bearer abc\r\n\r\n";
	for (int slow = 0; slow < 2; slow++) {
		struct rc_http_req rq;
		CHECK(read_one(get, strlen(get), slow, &rq) == 0);
		CHECK(strcmp(rq.method, "GET") == 0);
		CHECK(strcmp(rq.path, "/api/sessions/x/exchanges") == 0);
		CHECK(strcmp(rq.query, "sort=url&limit=5") == 0);
		CHECK(strcmp(rq.auth, "Bearer abc") == 0);
		CHECK(rq.keep_alive && rq.body == NULL);
		static const char post[] = "POST /api/sessions HTTP/1.0\r\nContent-Length: 11\r\n"
					   "\r\n{\"name\":1}x";
		CHECK(read_one(post, strlen(post), slow, &rq) == 0);
		CHECK(!rq.keep_alive);
		CHECK(rq.body_len == 11 && memcmp(rq.body, "{\"name\":1}x", 11) == 0);
		rc_http_req_free(&rq);
	}
	/* pipelined: the second request is kept for the next read */
	static const char two[] = "DELETE /a HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n"
				  "\r\nhiHEAD /b HTTP/1.1\r\n\r\n";
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(sv[1], two, strlen(two)) == (ssize_t)strlen(two));
	shutdown(sv[1], SHUT_WR);
	struct rc_http_conn *c = calloc(1, sizeof(*c));
	c->fd = sv[0];
	struct rc_http_req rq;
	CHECK(rc_http_read(c, &rq) == 0);
	CHECK(strcmp(rq.path, "/a") == 0 && rq.body_len == 2 && !rq.keep_alive);
	rc_http_req_free(&rq);
	CHECK(rc_http_read(c, &rq) == 0);
	CHECK(strcmp(rq.path, "/b") == 0 && rq.head_only && rq.keep_alive);
	CHECK(rc_http_read(c, &rq) == -1);   /* EOF */
	free(c);
	close(sv[0]);
	close(sv[1]);
}

static void test_refusals(void)
{
	static const struct { const char *req; int status; } bad[] = {
		{ "GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
		{ "POST /x HTTP/1.1\r\nContent-Length: 262145\r\n\r\n", 413 },
		{ "GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nA: b\nC: d\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nNoColon\r\n\r\n", 400 },
		{ "GET /x HTTP/2.0\r\n\r\n", 505 },
		{ "GET x HTTP/1.1\r\n\r\n", 400 },
		{ "GET /x\r\n\r\n", 400 },
		{ "GETTINGVERYLONGMETHOD /x HTTP/1.1\r\n\r\n", 400 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rc_http_req rq;
		int rc = read_one(bad[i].req, strlen(bad[i].req), false, &rq);
		CHECK_MSG(rc == bad[i].status, "%s: %d, want %d", bad[i].req, rc,
			  bad[i].status);
	}
	char *big = malloc(RC_HTTP_HEAD_MAX + 64);
	int n = snprintf(big, 64, "GET /x HTTP/1.1\r\nX: ");
	memset(big + n, 'a', RC_HTTP_HEAD_MAX);
	memcpy(big + n + RC_HTTP_HEAD_MAX, "\r\n\r\n", 4);
	struct rc_http_req rq;
	CHECK(read_one(big, (size_t)n + RC_HTTP_HEAD_MAX + 4, false, &rq) == 431);
	n = snprintf(big, 64, "GET /");
	memset(big + n, 'p', RC_HTTP_PATH_MAX);
	memcpy(big + n + RC_HTTP_PATH_MAX, " HTTP/1.1\r\n\r\n", 13);
	CHECK(read_one(big, (size_t)n + RC_HTTP_PATH_MAX + 13, false, &rq) == 414);
	free(big);
	/* a head cut short by EOF is no request */
	static const char cut1[] = "GET /x HTTP/1.1\r\n";
	static const char cut2[] = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
	CHECK(read_one(cut1, strlen(cut1), false, &rq) == -1);
	CHECK(read_one(cut2, strlen(cut2), false, &rq) == -1);
}

static void test_query(void)
{
	char out[16];
	CHECK(rc_http_query("a=1&search=x%20y+z&b", "search", out, sizeof(out)) == 5);
	CHECK(strcmp(out, "x y z") == 0);
	CHECK(rc_http_query("a=1&b", "b", out, sizeof(out)) == 0 && out[0] == '\0');
	CHECK(rc_http_query("a=1", "ab", out, sizeof(out)) == -ENOENT);
	CHECK(rc_http_query("", "a", out, sizeof(out)) == -ENOENT);
	CHECK(rc_http_query("a=%zz", "a", out, sizeof(out)) == -EINVAL);
	CHECK(rc_http_query("a=%2", "a", out, sizeof(out)) == -EINVAL);
	CHECK(rc_http_query("a=%00", "a", out, sizeof(out)) == -EINVAL);
	CHECK(rc_http_query("a=0123456789abcdef", "a", out, sizeof(out)) == -E2BIG);
}

static void test_token(void)
{
	char dir[] = "/tmp/http_test.XXXXXX", path[64], tok[RC_TOKEN_HEX + 1], again[RC_TOKEN_HEX + 1];
	char err[256];
	bool created;
	CHECK(mkdtemp(dir) != NULL);
	CHECK(rc_token_read(dir, tok) == -ENOENT);
	CHECK(rc_token_load_or_create(dir, tok, &created, err, sizeof(err)) == 0 && created);
	CHECK(strlen(tok) == RC_TOKEN_HEX);
	snprintf(path, sizeof(path), "%s/%s", dir, RC_TOKEN_FILE);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(rc_token_load_or_create(dir, again, &created, err, sizeof(err)) == 0 && !created);
	CHECK(strcmp(tok, again) == 0);
	CHECK(rc_token_read(dir, again) == 0 && strcmp(tok, again) == 0);
	char hdr[100];
	snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
	CHECK(rc_token_check(hdr, tok));
	snprintf(hdr, sizeof(hdr), "bearer  %s", tok);
	CHECK(rc_token_check(hdr, tok));
	CHECK(!rc_token_check("", tok));
	CHECK(!rc_token_check("Bearer ", tok));
	snprintf(hdr, sizeof(hdr), "Basic %s", tok);
	CHECK(!rc_token_check(hdr, tok));
	snprintf(hdr, sizeof(hdr), "Bearer %.63s", tok);
	CHECK(!rc_token_check(hdr, tok));
	snprintf(hdr, sizeof(hdr), "Bearer %.63sg", tok);
	CHECK(!rc_token_check(hdr, tok));
	CHECK(chmod(path, 0644) == 0);
	CHECK(rc_token_load_or_create(dir, again, &created, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "chmod 600") != NULL);
	CHECK(chmod(path, 0600) == 0);
	FILE *f = fopen(path, "w");
	fputs("not a token\n", f);
	fclose(f);
	CHECK(rc_token_load_or_create(dir, again, &created, err, sizeof(err)) == -EBADMSG);
	unlink(path);
	rmdir(dir);
	/* loopback: all of 127/8, ::1 and v4-mapped 127/8 */
	static const struct { const char *a; bool lo; } addrs[] = {
		{ "127.0.0.1", true }, { "127.0.0.2", true }, { "127.255.0.1", true },
		{ "0.0.0.0", false }, { "10.0.0.1", false }, { "::1", true }, { "::", false },
		{ "::ffff:127.0.0.1", true }, { "::ffff:10.0.0.1", false }, { "fe80::1", false },
	};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct sockaddr_storage ss = {0};
		if (strchr(addrs[i].a, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, addrs[i].a, &s6->sin6_addr);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			inet_pton(AF_INET, addrs[i].a, &s4->sin_addr);
		}
		CHECK_MSG(rc_addr_is_loopback(&ss) == addrs[i].lo, "loopback(%s) wrong",
			  addrs[i].a);
	}
}

int main(void)
{
	test_requests();
	test_refusals();
	test_query();
	test_token();
	return check_done("http_test");
}
