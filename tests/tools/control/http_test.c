/*
 * tests/tools/control/http_test.c - the control port's HTTP side on
 * libmicrohttpd (tools/control/server.c) over real loopback sockets:
 * requests whole, pipelined and trickled one byte at a time; every
 * transport refusal with its status and JSON body; keep-alive for /api/
 * and close after /metrics; the token rule; the web UI's rows (public
 * assets, gzip, ETag/304, /ui/info behind the token); the route table's matching
 * (404, 405 with Allow, the most literal pattern wins) and the query
 * decoder; and the bearer token file (tools/control/token.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tools/control/router.h"
#include "tools/control/server.h"
#include "tools/control/token.h"
#include "tools/lib/rc-limits.h"
#include "tests/check.h"


static struct sockaddr_in server_addr;

static struct rc_control *start(const char *token)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct rc_control_cfg cfg = { .addr = &ss, .addr_len = sizeof(*in), .token = token };
	struct rc_control *c = NULL;
	char err[256];
	/* port 0 is not known afterwards: pick free ones until one binds */
	for (int port = 20000 + (int)(getpid() % 20000), i = 0; i < 50; i++, port++) {
		in->sin_port = htons((uint16_t)port);
		if (rc_control_start(&c, &cfg, err, sizeof(err)) == 0) {
			server_addr = *in;
			return c;
		}
	}
	fprintf(stderr, "cannot start: %s\n", err);
	exit(1);
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&server_addr, sizeof(server_addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads until the peer closes or wait_ms of silence; *closed says which. */
static size_t read_all(int fd, char *out, size_t cap, int wait_ms, bool *closed)
{
	size_t n = 0;
	*closed = false;
	while (n + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, wait_ms) <= 0)
			break;
		ssize_t k = recv(fd, out + n, cap - 1 - n, 0);
		if (k <= 0) {
			*closed = true;
			break;
		}
		n += (size_t)k;
	}
	out[n] = '\0';
	return n;
}

/* Sends text (all at once or a byte at a time), reads the answers. */
static size_t exchange(const char *text, size_t len, bool slow, char *out, size_t cap,
		       bool *closed)
{
	int fd = dial();
	if (fd < 0)
		return 0;
	for (size_t i = 0; i < len; i += slow ? 1 : len)
		if (send(fd, text + i, slow ? 1 : len, MSG_NOSIGNAL) < 0)
			break;
	size_t n = read_all(fd, out, cap, 500, closed);
	close(fd);
	return n;
}

static int status_of(const char *p)
{
	int st = 0;
	return sscanf(p, "HTTP/1.%*c %d", &st) == 1 ? st : -1;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_requests(void)
{
	static char out[65536];
	bool closed;
	/* no API configured: /api/ answers 404 naming why, keep-alive */
	static const char get[] = "GET /api/sessions?sort=url&limit=5 HTTP/1.1\r\nHost: h\r\n\r\n";
	for (int slow = 0; slow < 2; slow++) {
		exchange(get, strlen(get), slow, out, sizeof(out), &closed);
		CHECK(status_of(out) == 404);
		CHECK(strstr(out, "{\"error\":\"no API on this port\"}") != NULL);
		CHECK(strstr(out, "Content-Type: application/json") != NULL);
		CHECK(!closed);
	}
	/* pipelined: both answered on one connection, in order */
	static const char two[] = "GET /api/status HTTP/1.1\r\n\r\nPUT /api/status HTTP/1.1\r\n"
				  "Content-Length: 3\r\n\r\nabc";
	exchange(two, strlen(two), false, out, sizeof(out), &closed);
	CHECK(count(out, "HTTP/1.1 ") == 2);
	CHECK(strstr(out, "HTTP/1.1 405") > strstr(out, "HTTP/1.1 404"));
	CHECK(strstr(out, "Allow: GET") != NULL);
	CHECK(strstr(out, "PUT is not allowed here (allowed: GET)") != NULL);
	CHECK(!closed);
	/* /metrics closes after the answer (503 until an engine runs) */
	static const char metrics[] = "GET /metrics HTTP/1.1\r\n\r\n";
	exchange(metrics, strlen(metrics), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 503 && strstr(out, "starting") != NULL);
	CHECK(closed);
	/* HEAD: the head only */
	static const char head[] = "HEAD /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n";
	exchange(head, strlen(head), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 404 && strstr(out, "{\"error\"") == NULL);
	CHECK(strstr(out, "Content-Length: ") != NULL);
	/* HTTP/1.0 without keep-alive: closed */
	static const char v10[] = "GET /api HTTP/1.0\r\n\r\n";
	exchange(v10, strlen(v10), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 200 && closed);
	CHECK(strstr(out, "\"openapi\":\"3.1.0\"") != NULL);
}

static void test_refusals(void)
{
	static const struct { const char *req; int status; } bad[] = {
		{ "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411 },
		{ "POST /x HTTP/1.1\r\nContent-Length: 262145\r\n\r\n", 413 },
		{ "GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400 },
		{ "GET /x HTTP/2.0\r\n\r\n", 505 },
		{ "GET /x\r\n\r\n", 400 },
	};
	static char out[65536];
	bool closed;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		exchange(bad[i].req, strlen(bad[i].req), false, out, sizeof(out), &closed);
		CHECK_MSG(status_of(out) == bad[i].status && closed, "%s: %d (closed %d), want %d",
			  bad[i].req, status_of(out), closed, bad[i].status);
	}
	/* ours answer with the JSON error body */
	exchange(bad[0].req, strlen(bad[0].req), false, out, sizeof(out), &closed);
	CHECK(strstr(out, "{\"error\":\"a body needs Content-Length\"}") != NULL);
	char *big = malloc(RC_HTTP_HEAD_MAX + 64);
	int n = snprintf(big, 64, "GET /x HTTP/1.1\r\nX: ");
	memset(big + n, 'a', RC_HTTP_HEAD_MAX);
	memcpy(big + n + RC_HTTP_HEAD_MAX, "\r\n\r\n", 5);
	exchange(big, strlen(big), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 431 && strstr(out, "\"error\"") != NULL);
	n = snprintf(big, 64, "GET /");
	memset(big + n, 'p', RC_HTTP_PATH_MAX);
	memcpy(big + n + RC_HTTP_PATH_MAX, " HTTP/1.1\r\n\r\n", 14);
	exchange(big, strlen(big), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 414);
	free(big);
	/* a body over the cap sent without being announced is never routed */
	static const char cut[] = "POST /api/sessions HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
	int fd = dial();
	CHECK(send(fd, cut, strlen(cut), 0) == (ssize_t)strlen(cut));
	shutdown(fd, SHUT_WR);
	read_all(fd, out, sizeof(out), 500, &closed);
	CHECK(out[0] == '\0');   /* a body cut short by EOF is no request */
	close(fd);
}

/* Past RC_CTL_CONNS_MAX open connections, the next ones are told 503. */
static void test_conn_limit(void)
{
	static char out[8192];
	bool closed;
	int fds[RC_CTL_CONNS_MAX];
	for (unsigned i = 0; i < RC_CTL_CONNS_MAX; i++)
		fds[i] = dial();
	nanosleep(&(struct timespec){ .tv_nsec = 200000000 }, NULL);
	static const char get[] = "GET /api/status HTTP/1.1\r\n\r\n";
	exchange(get, strlen(get), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 503 && closed);
	CHECK(strstr(out, "{\"error\":\"too many control connections\"}") != NULL);
	for (unsigned i = 0; i < RC_CTL_CONNS_MAX; i++)
		close(fds[i]);
	nanosleep(&(struct timespec){ .tv_nsec = 200000000 }, NULL);
	exchange(get, strlen(get), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 404);   /* served again: no API on this port */
}

/* The web UI's rows (ui_http.c) on a port with a token: the page and its
 * files are public, gzip'd when accepted, revalidated by ETag (no-cache,
 * not the API's no-store); /ui/info needs the token. */
static void test_ui(const char *token)
{
	static char out[65536];
	bool closed;
	static const char page[] = "GET / HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n";
	exchange(page, strlen(page), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 200 && strstr(out, "Content-Security-Policy: ") != NULL);
	CHECK(strstr(out, "Content-Encoding: gzip") != NULL);
	CHECK(strstr(out, "Cache-Control: no-cache") != NULL && strstr(out, "no-store") == NULL);
	char etag[64] = "", req[256];
	const char *e = strstr(out, "ETag: ");
	if (e)
		snprintf(etag, sizeof(etag), "%.*s", (int)strcspn(e + 6, "\r\n"), e + 6);
	CHECK(etag[0] == '"');
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nAccept-Encoding: gzip\r\n"
		 "If-None-Match: %s\r\n\r\n", etag);
	exchange(req, strlen(req), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 304);
	static const char js[] = "HEAD /ui/app.js HTTP/1.1\r\n\r\n";
	exchange(js, strlen(js), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 200 && strstr(out, "Content-Type: text/javascript") != NULL);
	static const char none[] = "GET /ui/no-such.js HTTP/1.1\r\n\r\n";
	exchange(none, strlen(none), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 404);
	static const char qr[] = "GET /ui/qr.svg HTTP/1.1\r\n\r\n";
	exchange(qr, strlen(qr), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 200 && strstr(out, "<svg") != NULL);
	static const char info[] = "GET /ui/info HTTP/1.1\r\n\r\n";
	exchange(info, strlen(info), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 401);
	snprintf(req, sizeof(req), "GET /ui/info HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n",
		 token);
	exchange(req, strlen(req), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 200 && strstr(out, "\"token_needed\":true") != NULL);
	CHECK(strstr(out, "\"ca_sha256\":null") != NULL);
}

static void test_token_rule(void)
{
	static char out[8192];
	bool closed;
	char token[RC_TOKEN_HEX + 1];
	memset(token, 'a', RC_TOKEN_HEX);
	token[RC_TOKEN_HEX] = '\0';
	struct rc_control *c = start(token);
	static const char noauth[] = "GET /api/status HTTP/1.1\r\n\r\n";
	exchange(noauth, strlen(noauth), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 401 && strstr(out, "WWW-Authenticate: Bearer") != NULL);
	CHECK(strstr(out, "control.token") != NULL);
	static const char wrong[] = "GET /api/status HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n";
	exchange(wrong, strlen(wrong), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 401 && strstr(out, "wrong bearer token") != NULL);
	char good[256];
	snprintf(good, sizeof(good), "GET /api/status HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n",
		 token);
	exchange(good, strlen(good), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 404);   /* past the token: no API here */
	/* the CA files are public: no 401, a 404 because interception is off */
	static const char ca[] = "GET /ca.pem HTTP/1.1\r\n\r\n";
	exchange(ca, strlen(ca), false, out, sizeof(out), &closed);
	CHECK(status_of(out) == 404 && closed);
	test_ui(token);
	rc_control_stop(c);
}

/* The route table's matching, case after case (parameters decoded, a
 * literal segment over a parameter, a known path with another method and
 * its Allow list, ...): a table of cases read top to bottom, kept in one
 * function. */
static void test_routes(void)
{
	char parts[RC_ROUTE_PARAMS_MAX][RC_ROUTE_PART_MAX], allow[64];
	const struct rc_route *r;
	CHECK(rc_route_find("GET", "/api/sessions/a%20b/exchanges/12", &r, parts, allow,
			    sizeof(allow)) == 0);
	CHECK(r && strcmp(r->pattern, "/api/sessions/:id/exchanges/:xid") == 0);
	CHECK(strcmp(parts[0], "a b") == 0 && strcmp(parts[1], "12") == 0);
	/* the literal segment beats the parameter */
	CHECK(rc_route_find("POST", "/api/sessions/s/exchanges/delete", &r, parts, allow,
			    sizeof(allow)) == 0);
	CHECK(r && strcmp(r->pattern, "/api/sessions/:id/exchanges/delete") == 0);
	CHECK(rc_route_find("GET", "/api/sessions/s/exchanges/delete", &r, parts, allow,
			    sizeof(allow)) == -EOPNOTSUPP);
	CHECK(strcmp(allow, "POST") == 0);
	CHECK(rc_route_find("POST", "/api/sessions/s/exchanges/7", &r, parts, allow,
			    sizeof(allow)) == -EOPNOTSUPP);
	CHECK(strcmp(allow, "GET, DELETE") == 0);
	CHECK(rc_route_find("PUT", "/api/sessions/s", &r, parts, allow, sizeof(allow)) ==
	      -EOPNOTSUPP);
	CHECK(strcmp(allow, "GET, PATCH, DELETE") == 0);
	CHECK(rc_route_find("GET", "/api/nosuch", &r, parts, allow, sizeof(allow)) == -ENOENT);
	CHECK(rc_route_find("GET", "/api/sessions/x/y/z/w/v/u", &r, parts, allow,
			    sizeof(allow)) == -ENOENT);
	CHECK(rc_route_find("GET", "/api/sessions/%00", &r, parts, allow, sizeof(allow)) ==
	      -ENOENT);
	CHECK(rc_route_find("GET", "/api/sessions//x", &r, parts, allow, sizeof(allow)) ==
	      -ENOENT);
	CHECK(rc_route_find("GET", "/ca/", &r, parts, allow, sizeof(allow)) == 0);
	CHECK(r && (r->flags & RC_ROUTE_PUBLIC));
	CHECK(rc_route_find("GET", "/", &r, parts, allow, sizeof(allow)) == 0);
	CHECK(r && (r->flags & RC_ROUTE_PUBLIC));   /* the web UI's page: the login form */
	CHECK(rc_route_find("GET", "/ui/qr.svg", &r, parts, allow, sizeof(allow)) == 0);
	CHECK(r && strcmp(r->pattern, "/ui/qr.svg") == 0);
	CHECK(rc_route_find("GET", "/ui/info", &r, parts, allow, sizeof(allow)) == 0);
	CHECK(r && !(r->flags & RC_ROUTE_PUBLIC));
	CHECK(rc_route_find("GET", "/ui/app.js", &r, parts, allow, sizeof(allow)) == 0);
	CHECK(r && strcmp(r->pattern, "/ui/*") == 0 && (r->flags & RC_ROUTE_PUBLIC));
	/* a last "*" takes the rest of the path, raw (static assets) */
	static const struct rc_route ui[] = {
		{ "GET", "/ui/*", NULL, RC_ROUTE_HIDDEN, "assets", NULL, NULL, NULL, NULL, 0, NULL },
		{ "GET", "/ui/status", NULL, 0, "status", NULL, NULL, NULL, NULL, 0, NULL },
		{ "GET", "/x/:a/:b/:c/:d/*", NULL, 0, "deep", NULL, NULL, NULL, NULL, 0, NULL },
	};
	static const struct rc_route_table ui_table = { ui, 3 };
	static const struct rc_route_table *const ui_tables[] = { &ui_table };
	CHECK(rc_route_find_in(ui_tables, 1, "GET", "/ui/js/app%20x.js", &r, parts, allow,
			       sizeof(allow)) == 0);
	CHECK(r == &ui[0] && strcmp(parts[0], "js/app%20x.js") == 0);
	CHECK(rc_route_find_in(ui_tables, 1, "GET", "/ui/status", &r, parts, allow,
			       sizeof(allow)) == 0 && r == &ui[1]);
	CHECK(rc_route_find_in(ui_tables, 1, "GET", "/ui", &r, parts, allow, sizeof(allow)) ==
	      -ENOENT);
	CHECK(rc_route_find_in(ui_tables, 1, "GET", "/x/1/2/3/4/5", &r, parts, allow,
			       sizeof(allow)) == -ENOENT);   /* no room for a fifth part */
	/* every pattern is well formed: at most RC_ROUTE_PARAMS_MAX params,
	 * a method the router knows, a summary for the document */
	for (size_t t = 0; t < rc_route_tables_n; t++)
		for (size_t i = 0; i < rc_route_tables[t]->n; i++) {
			const struct rc_route *x = &rc_route_tables[t]->routes[i];
			CHECK(count(x->pattern, "/:") <= RC_ROUTE_PARAMS_MAX);
			CHECK(strstr("GET POST PUT PATCH DELETE", x->method) != NULL);
			CHECK(x->summary && x->summary[0]);
		}
	/* the OpenAPI document names every visible route, with its method */
	struct rc_buf doc = {0};
	rc_openapi_json(&doc);
	json_error_t je;
	json_t *o = json_loadb(doc.p, doc.len, JSON_REJECT_DUPLICATES, &je);
	CHECK(o != NULL);
	json_t *paths = json_object_get(o, "paths");
	unsigned visible = 0;
	for (size_t t = 0; t < rc_route_tables_n; t++)
		for (size_t i = 0; i < rc_route_tables[t]->n; i++) {
			const struct rc_route *x = &rc_route_tables[t]->routes[i];
			if (x->flags & RC_ROUTE_HIDDEN)
				continue;
			char path[256], method[8];
			size_t k = 0, m = 0;
			for (const char *p = x->pattern; *p && k < sizeof(path) - 2; p++) {
				if (*p == ':') {
					size_t n = strcspn(p + 1, "/");
					k += (size_t)snprintf(path + k, sizeof(path) - k, "{%.*s}", (int)n,
							      p + 1);
					p += n;
				} else {
					path[k++] = *p;
				}
			}
			path[k] = '\0';
			for (; x->method[m] && m < sizeof(method) - 1; m++)
				method[m] = (char)(x->method[m] | 0x20);
			method[m] = '\0';
			json_t *op = json_object_get(json_object_get(paths, path), method);
			if (op == NULL)
				fprintf(stderr, "not documented: %s %s\n", x->method, x->pattern);
			CHECK(op != NULL);
			visible++;
		}
	CHECK(visible > 20);
	json_decref(o);
	rc_buf_free(&doc);
	/* the error mapping */
	CHECK(rc_errno_status(-EINVAL) == 400 && rc_errno_status(-ENOENT) == 404);
	CHECK(rc_errno_status(-EBUSY) == 409 && rc_errno_status(-EAGAIN) == 503);
	CHECK(rc_errno_status(-EIO) == 500 && rc_errno_status(-EACCES) == 401);
}

static void test_query(void)
{
	char out[16];
	CHECK(rc_query_get("a=1&search=x%20y+z&b", "search", out, sizeof(out)) == 5);
	CHECK(strcmp(out, "x y z") == 0);
	CHECK(rc_query_get("a=1&b", "b", out, sizeof(out)) == 0 && out[0] == '\0');
	CHECK(rc_query_get("a=1", "ab", out, sizeof(out)) == -ENOENT);
	CHECK(rc_query_get("", "a", out, sizeof(out)) == -ENOENT);
	CHECK(rc_query_get("a=%zz", "a", out, sizeof(out)) == -EINVAL);
	CHECK(rc_query_get("a=%2", "a", out, sizeof(out)) == -EINVAL);
	CHECK(rc_query_get("a=%00", "a", out, sizeof(out)) == -EINVAL);
	CHECK(rc_query_get("a=0123456789abcdef", "a", out, sizeof(out)) == -E2BIG);
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
	struct rc_control *c = start(NULL);
	test_requests();
	test_refusals();
	test_conn_limit();
	rc_control_stop(c);
	test_token_rule();
	test_routes();
	test_query();
	test_token();
	return check_done("http_test");
}
