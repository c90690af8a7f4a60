/*
 * tests/engine/http1_test.c - the head scanner, llhttp wiring, target
 * parsing and head rewriting of engine/http1.c, alone.
 *
 * Every head is placed right before a PROT_NONE guard page, so a read past
 * its end faults, and is also fed to the scanner one byte at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/http1.h"
#include "tests/check.h"


/* Room before the guard page: the largest test input is 40000 bytes. */
#define GUARD_PAGES 16
static char *guard_base;
static size_t page;

/* Copies s so that its last byte sits right before the guard page. */
static const char *guarded(const char *s, size_t n)
{
	char *end = guard_base + GUARD_PAGES * page;
	memcpy(end - n, s, n);
	return end - n;
}

/* Scans all at once and byte by byte; both must agree. */
static int scan(const char *s, const char **why)
{
	size_t n = strlen(s);
	const char *p = guarded(s, n);
	struct h1_scan a = {0}, b = {0};
	int whole = h1_scan(&a, p, n, 100, why);
	int step = -EAGAIN;
	const char *why2 = NULL;
	for (size_t i = 1; i <= n && step == -EAGAIN; i++)
		step = h1_scan(&b, guarded(s, i), i, 100, &why2);
	CHECK(whole == step);
	return whole;
}

/* Request mode: the request line is checked as it arrives. */
static int scan_req(const char *s, const char **why)
{
	struct h1_scan sc = { .request = 1 };
	size_t n = strlen(s);
	return h1_scan(&sc, guarded(s, n), n, 100, why);
}

static void test_request_line(void)
{
	const char *why = NULL;
	CHECK(scan_req("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", &why) > 0);
	CHECK(scan_req("GET http://a/ HTTP/1.0\r\n\r\n", &why) > 0);
	CHECK(scan_req("\x16\x03\x01\x02", &why) == -EBADMSG);   /* TLS to the plain port */
	CHECK(strstr(why, "method") != NULL);
	CHECK(scan_req("GET http://a/", &why) == -EAGAIN);
	CHECK(scan_req("GET  http://a/ HTTP/1.1\r\n", &why) == -EBADMSG);
	CHECK(scan_req("GET http://a/ HTTP/1.x\r\n", &why) == -EBADMSG);
	CHECK(scan_req("GET http://a/ HTTP/2.0\r\n", &why) == -EBADMSG);
	CHECK(scan_req("GET http://a/\r\n", &why) == -EBADMSG);
	CHECK(scan_req("GET http://a/\x01 HTTP/1.1\r\n", &why) == -EBADMSG);
	CHECK(scan_req("GET http://a/ b HTTP/1.1\r\n", &why) == -EBADMSG);
	CHECK(scan_req(" GET / HTTP/1.1\r\n", &why) == -EBADMSG);
}

/* --max-request-line: a request line longer than line_max is -EMSGSIZE as
 * soon as its byte max+1 arrives, not at the end of the head. */
static void test_request_line_max(void)
{
	const char *why = NULL;
	char line[128];
	/* "GET /" + 'a' x 20 + " HTTP/1.1" = 34 bytes */
	snprintf(line, sizeof(line), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaaaa");
	size_t n = strlen(line);
	struct h1_scan s = { .request = 1, .line_max = 34 };
	CHECK(h1_scan(&s, guarded(line, n), n, 100, &why) == (int)n);
	s = (struct h1_scan){ .request = 1, .line_max = 33 };
	CHECK(h1_scan(&s, guarded(line, n), n, 100, &why) == -EMSGSIZE);
	CHECK(why != NULL && strstr(why, "request line") != NULL);
	/* unfinished: refused once the line is over, without its CRLF */
	s = (struct h1_scan){ .request = 1, .line_max = 10 };
	CHECK(h1_scan(&s, guarded(line, 11), 11, 100, &why) == -EMSGSIZE);
	s = (struct h1_scan){ .request = 1, .line_max = 10 };
	CHECK(h1_scan(&s, guarded(line, 10), 10, 100, &why) == -EAGAIN);
	/* header lines are not request lines */
	char hdr[200];
	snprintf(hdr, sizeof(hdr), "GET / HTTP/1.1\r\nX: %0100d\r\n\r\n", 0);
	n = strlen(hdr);
	s = (struct h1_scan){ .request = 1, .line_max = 20 };
	CHECK(h1_scan(&s, guarded(hdr, n), n, 100, &why) == (int)n);
}

static void test_scan(void)
{
	const char *why = NULL;
	CHECK(scan("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &why) == 27);
	CHECK(scan("GET / HTTP/1.1\r\nHost: a\r\n", &why) == -EAGAIN);
	CHECK(scan("GET / HTTP/1.1\r\nHost: a\r\n\r", &why) == -EAGAIN);
	CHECK(scan("GET / HTTP/1.1\nHost: a\r\n\r\n", &why) == -EBADMSG);
	CHECK(strstr(why, "bare LF") != NULL);
	CHECK(scan("GET / HTTP/1.1\r\nHost: a\n\r\n", &why) == -EBADMSG);
	CHECK(scan("GET / HTTP/1.1\r\nHost: a\rX\r\n\r\n", &why) == -EBADMSG);
	CHECK(strstr(why, "bare CR") != NULL);
	CHECK(scan("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &why) == -EBADMSG);
	CHECK(strstr(why, "obs-fold") != NULL);
	CHECK(scan("GET / HTTP/1.1\r\nA : b\r\n\r\n", &why) == -EBADMSG);
	CHECK(strstr(why, "before colon") != NULL);
	CHECK(scan("GET / HTTP/1.1\r\nAb\r\n\r\n", &why) == -EBADMSG);
	CHECK(scan("\r\n\r\n", &why) == -EBADMSG);
	/* NUL is refused; spaces after the colon are fine */
	const char nul[] = "GET / HTTP/1.1\r\nA: \0\r\n\r\n";
	struct h1_scan s = {0};
	CHECK(h1_scan(&s, guarded(nul, sizeof(nul) - 1), sizeof(nul) - 1, 100, &why) == -EBADMSG);
	CHECK(scan("GET / HTTP/1.1\r\nA:   b c \r\n\r\n", &why) > 0);
	/* too many lines */
	char big[4096] = "GET / HTTP/1.1\r\n";
	for (int i = 0; i < 120; i++)
		strcat(big, "X: y\r\n");
	strcat(big, "\r\n");
	memset(&s, 0, sizeof(s));
	CHECK(h1_scan(&s, big, strlen(big), 100, &why) == -E2BIG);
}

struct parsed {
	struct h1_parser hp;
	struct h1_msg m;
	struct h1_hdr hdr[64];
	char body[256];
	size_t body_len;
};

static void collect(void *arg, const char *at, size_t n)
{
	struct parsed *p = arg;
	if (p->body_len + n <= sizeof(p->body)) {
		memcpy(p->body + p->body_len, at, n);
		p->body_len += n;
	}
}

static int parse(struct parsed *p, const char *head, bool response, const char **why)
{
	memset(p, 0, sizeof(*p));
	h1_parser_init(&p->hp, response, collect, p);
	p->m.hdr = p->hdr;
	p->m.hdr_cap = 64;
	size_t n = strlen(head);
	return h1_parse_head(&p->hp, &p->m, guarded(head, n), n, why);
}

/* Long on purpose: a list of independent cases, read top to bottom. */
static void test_parse(void)
{
	static struct parsed p;
	const char *why = NULL;
	CHECK(parse(&p, "POST http://a.example:8080/x?y=1 HTTP/1.1\r\nHost: a\r\n"
		    "Content-Length: 5\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n",
		    false, &why) == 0);
	CHECK(p.m.content_length == 5);
	CHECK(p.m.conn_keep_alive);
	CHECK(p.m.nconn_tok == 2);
	CHECK(!p.hp.done);
	CHECK(p.m.start_len == 4);
	CHECK(h1_find(&p.m, "x-secret") == 3);
	CHECK(h1_is_hop_by_hop(&p.m, &p.m.hdr[3]));
	CHECK(!h1_is_hop_by_hop(&p.m, &p.m.hdr[1]));
	const char body[] = "helloGET";
	CHECK(h1_parse_body(&p.hp, body, 8, &why) == 5);
	CHECK(p.hp.done);
	CHECK(p.body_len == 5 && memcmp(p.body, "hello", 5) == 0);

	/* chunked, decoded for the sink, consumed exactly */
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false, &why) == 0);
	CHECK(p.m.chunked);
	const char ch[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT";
	long used = 0;
	for (size_t i = 0; i < sizeof(ch) - 1 && !p.hp.done; i++) /* byte at a time */
		used += h1_parse_body(&p.hp, ch + i, 1, &why);
	CHECK(used == (long)strlen(ch) - 4);
	CHECK(p.body_len == 5 && memcmp(p.body, "abcde", 5) == 0);

	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false, &why) == 0);
	CHECK(h1_parse_body(&p.hp, "zz\r\n", 4, &why) < 0);
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", false, &why) == 0);
	CHECK(h1_parse_body(&p.hp, "ffffffffffffffffff\r\n", 20, &why) < 0);

	/* ambiguous framing */
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "GET http://a/ HTTP/1.1\r\nConnection: Transfer-Encoding\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "GET http://a/ HTTP/2.0\r\n\r\n", false, &why) < 0);

	/* responses: same scrutiny, 204/304/HEAD bodiless */
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", true, &why) < 0);
	CHECK(parse(&p, "HTTP/1.1 204 No Content\r\n\r\n", true, &why) == 0);
	CHECK(p.hp.done && p.m.status == 204);
	CHECK(parse(&p, "HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n", true, &why) == 0);
	CHECK(p.hp.done && p.m.status == 304);
	CHECK(parse(&p, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", true, &why) == 0);
	CHECK(p.hp.done);
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, &why) == 0);
	CHECK(!p.hp.done);
	memset(&p, 0, sizeof(p));
	h1_parser_init(&p.hp, true, collect, &p);
	p.hp.skip_body = 1;
	p.m.hdr = p.hdr;
	p.m.hdr_cap = 64;
	const char *hh = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	CHECK(h1_parse_head(&p.hp, &p.m, hh, strlen(hh), &why) == 0);
	CHECK(p.hp.done);
	/* close-delimited body ends at EOF */
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\n\r\n", true, &why) == 0);
	CHECK(h1_parse_body(&p.hp, "abc", 3, &why) == 3);
	CHECK(h1_parse_eof(&p.hp, &why) == 0);
	/* a declared length cut short is an error at EOF */
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, &why) == 0);
	CHECK(h1_parse_body(&p.hp, "abc", 3, &why) == 3);
	CHECK(h1_parse_eof(&p.hp, &why) < 0);
}

/* Parses a chunked request head, then feeds body whole; returns what
 * h1_parse_body returned. */
static long chunked_body(struct parsed *p, const char *body, size_t n, const char **why);
#define CHUNKED(p, s, why) chunked_body(p, s, strlen(s), why)
#define CHUNKED_ALL(p, s, why) (CHUNKED(p, s, why) == (long)strlen(s))
static long chunked_body(struct parsed *p, const char *body, size_t n, const char **why)
{
	CHECK(parse(p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		    false, why) == 0);
	return h1_parse_body(&p->hp, guarded(body, n), n, why);
}

/* Findings of the smuggling corpus (tests/integration/smuggling_corpus.py),
 * each refused here at the unit level. */
static void test_strict_findings(void)
{
	static struct parsed p;
	static char big[40000];
	const char *why = NULL;
	/* an empty header name was kept and forwarded as ": value" */
	CHECK(scan("GET / HTTP/1.1\r\nHost: a\r\n: 100\r\n\r\n", &why) == -EBADMSG);
	CHECK(strstr(why, "empty header name") != NULL);
	/* raw non-ASCII in the request target */
	CHECK(scan_req("GET http://a/\xc3\xa9 HTTP/1.1\r\n", &why) == -EBADMSG);
	/* control bytes in a status line */
	CHECK(scan("HTTP/1.1 200 O\x01K\r\n\r\n", &why) == -EBADMSG);
	CHECK(scan("HTTP/1.1 200 O\tK\r\n\r\n", &why) > 0);
	/* status codes outside 100-599 */
	CHECK(parse(&p, "HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n", true, &why) < 0);
	CHECK(parse(&p, "HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n", true, &why) < 0);
	/* h1_split fuzzing: "chunked<TAB>" was chunked to us and an unknown
	 * coding to llhttp, which then read the body up to the close */
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n", true, &why) < 0);
	CHECK(strstr(why, "llhttp") != NULL);
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \r\n\r\n", true, &why) == 0);
	CHECK(parse(&p, "HTTP/1.1 200 OK\r\nContent-Length: 7 \r\n\r\n", true, &why) == 0);
	CHECK(p.m.content_length == 7);
	/* Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 6.1) */
	CHECK(parse(&p, "POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", false, &why) < 0);
	CHECK(parse(&p, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, &why) < 0);
	/* chunk sizes: 16 hex digits at most, int64 range */
	CHECK(CHUNKED_ALL(&p, "0000000000000005\r\nhello\r\n0\r\n\r\n", &why));
	CHECK(p.hp.done);
	CHECK(CHUNKED(&p, "00000000000000005\r\nhello\r\n", &why) < 0);
	CHECK(CHUNKED(&p, "8000000000000000\r\n", &why) < 0);
	CHECK(CHUNKED_ALL(&p, "7fffffffffffffff\r\nab", &why));
	/* trailers: the head rules, and no framing fields */
	CHECK(CHUNKED_ALL(&p, "0\r\nX: y\r\n\r\n", &why));
	CHECK(p.hp.done);
	CHECK(CHUNKED(&p, "0\r\nX: y\r\n z\r\n\r\n", &why) < 0);
	CHECK(CHUNKED(&p, "0\r\nX : y\r\n\r\n", &why) < 0);
	CHECK(CHUNKED(&p, "0\r\nContent-Length: 5\r\n\r\n", &why) < 0);
	CHECK(CHUNKED(&p, "0\r\nHOST: x\r\n\r\n", &why) < 0);
	CHECK(CHUNKED(&p, "0\r\n: y\r\n\r\n", &why) < 0);
	/* chunk extensions: 16 KiB in total pass, one byte more does not;
	 * each case also goes in byte by byte */
	for (int over = 0; over <= 1; over++) {
		size_t ext = H1_CHUNK_EXT_MAX + (size_t)over, n = 0;
		for (int c = 0; c < 2; c++) {   /* split over two chunks */
			size_t part = c == 0 ? ext / 2 : ext - ext / 2;
			n += (size_t)sprintf(big + n, "1;");
			memset(big + n, 'e', part - 1);
			n += part - 1;
			n += (size_t)sprintf(big + n, "\r\nx\r\n");
		}
		n += (size_t)sprintf(big + n, "0\r\n\r\n");
		long whole = chunked_body(&p, big, n, &why);
		CHECK(over ? whole < 0 : whole == (long)n);
		CHECK(parse(&p, "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
			    false, &why) == 0);
		long got = 0;
		for (size_t i = 0; i < n && got >= 0 && !p.hp.done; i++) {
			long r = h1_parse_body(&p.hp, big + i, 1, &why);
			got = r < 0 ? r : got + r;
		}
		CHECK(over ? got < 0 : got == (long)n);
	}
}

static void test_target(void)
{
	struct h1_target t;
	const char *why = NULL;
	const char *u = "http://Example.com:8080/a/b?c#frag";
	CHECK(h1_parse_target(u, strlen(u), false, &t, &why) == 0);
	CHECK(t.host_len == 11 && memcmp(t.host, "Example.com", 11) == 0);
	CHECK(t.port == 8080);
	CHECK(t.path_len == 6 && memcmp(t.path, "/a/b?c", 6) == 0);
	u = "http://h";
	CHECK(h1_parse_target(u, strlen(u), false, &t, &why) == 0);
	CHECK(t.port == 80 && t.path_len == 1 && t.path[0] == '/');
	u = "http://[::1]:81/";
	CHECK(h1_parse_target(u, strlen(u), false, &t, &why) == 0);
	CHECK(t.bracketed && t.host_len == 3 && t.port == 81);
	u = "/index.html";
	CHECK(h1_parse_target(u, strlen(u), false, &t, &why) == 0 && t.origin_form);
	u = "example.com:443";
	CHECK(h1_parse_target(u, strlen(u), true, &t, &why) == 0 && t.port == 443);
	u = "example.com";
	CHECK(h1_parse_target(u, strlen(u), true, &t, &why) < 0);
	const char *bad[] = { "http://user@h/", "http://h:0/", "http://h:65536/", "http://h:8x/",
			      "https://h/", "ftp://h/", "http://", "http://[::1/", "http://h h/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(h1_parse_target(bad[i], strlen(bad[i]), false, &t, &why) < 0);
}

static void test_rewrite(void)
{
	static struct parsed p;
	const char *why = NULL;
	struct h1_target t;
	char out[1024];
	const char *req = "OPTIONS http://a.example:8080/p HTTP/1.1\r\nHost: wrong\r\n"
		"Connection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\n"
		"Proxy-Authorization: Basic eA==\r\nTE: trailers\r\nTrailer: X\r\n"
		"Upgrade: websocket\r\nMax-Forwards: 3\r\nX-Keep: yes\r\n\r\n";
	CHECK(parse(&p, req, false, &why) == 0);
	const char *url = p.m.base + p.m.url_off;
	CHECK(h1_parse_target(url, p.m.url_len, false, &t, &why) == 0);
	long n = h1_write_request(&p.m, &t, false, out, sizeof(out));
	CHECK(n > 0);
	out[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(out, "OPTIONS /p HTTP/1.1\r\n", 21) == 0);
	CHECK(strstr(out, "Host: a.example:8080\r\n") != NULL);
	CHECK(strstr(out, "Via: 1.1 ringcap\r\n") != NULL);
	CHECK(strstr(out, "Max-Forwards: 2\r\n") != NULL);
	CHECK(strstr(out, "X-Keep: yes\r\n") != NULL);
	const char *gone[] = { "wrong", "X-Hop", "Keep-Alive", "Proxy-", "TE:", "Trailer", "Upgrade", "Connection" };
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		CHECK(strstr(out, gone[i]) == NULL);
	CHECK(h1_write_request(&p.m, &t, false, out, 20) == -ENOSPC);

	const char *ws = "GET http://h/chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
	CHECK(parse(&p, ws, false, &why) == 0);
	CHECK(h1_parse_target(p.m.base + p.m.url_off, p.m.url_len, false, &t, &why) == 0);
	n = h1_write_request(&p.m, &t, true, out, sizeof(out));
	out[n > 0 ? n : 0] = '\0';
	CHECK(strstr(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n") != NULL);
	CHECK(strstr(out, "Host: h\r\n") != NULL);

	const char *resp = "HTTP/1.1 200 Fine\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
		"Content-Length: 0\r\nSet-Cookie: a=b\r\n\r\n";
	CHECK(parse(&p, resp, true, &why) == 0);
	n = h1_write_response(&p.m, true, out, sizeof(out));
	out[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(out, "HTTP/1.1 200 Fine\r\n", 19) == 0);
	CHECK(strstr(out, "X-Hop") == NULL);
	CHECK(strstr(out, "Set-Cookie: a=b\r\n") != NULL);
	CHECK(strstr(out, "Connection: close\r\n") != NULL);
	CHECK(strstr(out, "keep-alive") == NULL);
}

/* Issue 18: the wire's smaller rules (RFC 9110 7.6.2, 9.3.6, 9.3.8; RFC 9112 3.2.4). */
static void test_wire_rules(void)
{
	struct parsed p;
	struct h1_target t;
	const char *why = NULL;
	char out[1024];

	CHECK(parse(&p, "OPTIONS http://h:81 HTTP/1.1\r\nHost: h:81\r\n\r\n", false, &why) == 0);
	CHECK(h1_parse_target(p.m.base + p.m.url_off, p.m.url_len, false, &t, &why) == 0);
	CHECK(t.no_path);
	long n = h1_write_request(&p.m, &t, false, out, sizeof(out));
	out[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(out, "OPTIONS * HTTP/1.1\r\n", 20) == 0);
	/* a GET without a path still asks for "/" */
	CHECK(parse(&p, "GET http://h:81 HTTP/1.1\r\nHost: h:81\r\n\r\n", false, &why) == 0);
	CHECK(h1_parse_target(p.m.base + p.m.url_off, p.m.url_len, false, &t, &why) == 0);
	n = h1_write_request(&p.m, &t, false, out, sizeof(out));
	out[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(out, "GET / HTTP/1.1\r\n", 16) == 0);
	/* OPTIONS with a path keeps it */
	CHECK(parse(&p, "OPTIONS http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", false, &why) == 0);
	CHECK(h1_parse_target(p.m.base + p.m.url_off, p.m.url_len, false, &t, &why) == 0);
	CHECK(!t.no_path);

	CHECK(parse(&p, "TRACE http://h/ HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n"
		    "Max-Forwards: 5\r\n\r\n", false, &why) == -EBADMSG);
	CHECK(why != NULL && strstr(why, "Max-Forwards") != NULL);

	CHECK(parse(&p, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 5\r\n\r\n",
		    false, &why) == -EBADMSG);
	CHECK(why != NULL && strstr(why, "CONNECT with a body") != NULL);
	CHECK(parse(&p, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nTransfer-Encoding: chunked\r\n\r\n",
		    false, &why) == -EBADMSG);
	CHECK(parse(&p, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 0\r\n\r\n",
		    false, &why) == 0);

	CHECK(parse(&p, "TRACE http://h/ HTTP/1.1\r\nHost: h\r\nCookie: s=1\r\n"
		    "Authorization: Basic eDp5\r\nX-Keep: 1\r\nMax-Forwards: 0\r\n\r\n",
		    false, &why) == 0);
	n = h1_write_trace_echo(&p.m, out, sizeof(out));
	CHECK(n > 0);
	out[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(out, "TRACE http://h/ HTTP/1.1\r\n", 26) == 0);
	CHECK(strstr(out, "X-Keep: 1\r\n") != NULL);
	CHECK(strstr(out, "Cookie") == NULL);
	CHECK(strstr(out, "Authorization") == NULL);
	CHECK(n > 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
	CHECK(h1_write_trace_echo(&p.m, out, 10) == -ENOSPC);
}

int main(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, (GUARD_PAGES + 1) * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED)
		return 77;
	mprotect(guard_base + GUARD_PAGES * page, page, PROT_NONE);
	test_scan();
	test_request_line();
	test_parse();
	test_strict_findings();
	test_target();
	test_rewrite();
	test_wire_rules();
	test_request_line_max();
	return check_done("http1_test");
}
