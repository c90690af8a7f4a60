/*
 * tests/engine/access_test.c - engine/access.c alone: credential parsing,
 * Basic authentication (blanking, lockout, naming), CONNECT ports, the
 * per-client connection table and upstream address refusal, on a fake
 * worker (no rings, no threads).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng-int.h"
#include "tests/check.h"


static struct eng e;
static struct eng_worker w;
static struct eng_user users[3];
static struct h1_hdr hdrs[32];

static void setup(unsigned max_per_client)
{
	char err[256];
	eng_config_defaults(&e.cfg);
	e.nworkers = 2;
	e.cfg.max_conns = 64;
	e.cfg.max_conns_per_client = max_per_client;
	struct sockaddr_in *l = (struct sockaddr_in *)&e.cfg.listen;
	l->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct sockaddr_in *ctl = (struct sockaddr_in *)&e.cfg.control;
	ctl->sin_family = AF_INET;
	ctl->sin_port = htons(5560);
	ctl->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (eng_access_start(&e, err, sizeof(err)) < 0) {
		fprintf(stderr, "eng_access_start: %s\n", err);
		exit(1);
	}
	w.e = &e;
	w.now_ms = 1000;
}

static void set_addr(struct sockaddr_storage *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	struct sockaddr_in *in = (struct sockaddr_in *)a;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	} else {
		fprintf(stderr, "bad test address %s\n", ip);
		exit(1);
	}
}

static void test_user_parse(void)
{
	struct eng_user u;
	char err[256];
	CHECK(eng_user_parse("alice:pw", 8, &u, err, sizeof(err)) == 0);
	CHECK(u.user_len == 5 && u.cred_len == 8 && u.cred[8] == 0);
	CHECK(eng_user_parse("a:b:c", 5, &u, err, sizeof(err)) == 0 && u.user_len == 1);
	CHECK(eng_user_parse("nocolon", 7, &u, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "'nocolon'") != NULL);
	CHECK(eng_user_parse(":pw", 3, &u, err, sizeof(err)) == -EINVAL);
	CHECK(eng_user_parse("u:", 2, &u, err, sizeof(err)) == -EINVAL);
	CHECK(eng_user_parse("sp ace:pw", 9, &u, err, sizeof(err)) == -EINVAL);
	CHECK(eng_user_parse("u:p\nw", 5, &u, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "p\nw") == NULL);   /* never quotes a password */
	char big[ENG_AUTH_CRED_MAX + 8];
	memset(big, 'x', sizeof(big));
	big[3] = ':';
	CHECK(eng_user_parse(big, ENG_AUTH_CRED_MAX, &u, err, sizeof(err)) == 0);
	CHECK(eng_user_parse(big, ENG_AUTH_CRED_MAX + 1, &u, err, sizeof(err)) == -EINVAL);
}

/* Parses head into m (the caller's buffer is modified by blanking). */
static void parse(struct h1_parser *hp, struct h1_msg *m, char *head, struct h1_target *t)
{
	const char *why = NULL;
	m->hdr = hdrs;
	m->hdr_cap = 32;
	h1_parser_init(hp, false, NULL, NULL);
	if (h1_parse_head(hp, m, head, strlen(head), &why) < 0 ||
	    h1_parse_target(head + m->url_off, m->url_len, m->method == HTTP_CONNECT, t, &why) < 0) {
		fprintf(stderr, "test head does not parse: %s\n", why);
		exit(1);
	}
}

/* One request through eng_access_request; returns 0 (allowed) or the
 * refusal status. */
static int ask(struct eng_sock *c, const char *fmt, const char *cred)
{
	static char head[1024];
	struct h1_parser hp;
	struct h1_msg m;
	struct h1_target t;
	struct eng_deny d;
	snprintf(head, sizeof(head), fmt, cred);
	parse(&hp, &m, head, &t);
	return eng_access_request(&w, c, &m, head, &t, &d) ? 0 : d.status;
}

#define GET "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n%s\r\n"
#define CONNECT "CONNECT example.com:%s HTTP/1.1\r\nHost: example.com\r\n\r\n"
/* "alice:s3cret", "alice:wrong", "bob:pw", "phone:x" */
#define ALICE "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"
#define WRONG "Proxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n"
#define BOB "Proxy-Authorization: basic   Ym9iOnB3\r\n"
#define PHONE "Proxy-Authorization: Basic cGhvbmU6eA==\r\n"

static void test_auth(void)
{
	char err[256];
	CHECK(eng_user_parse("alice:s3cret", 12, &users[0], err, sizeof(err)) == 0);
	CHECK(eng_user_parse("bob:pw", 6, &users[1], err, sizeof(err)) == 0);
	e.cfg.users = users;
	e.cfg.nusers = 2;
	e.cfg.auth_fail_max = 3;
	e.cfg.auth_fail_window_ms = 1000;
	struct eng_sock c = {0};
	set_addr(&c.addr, "10.0.0.7", 40000);
	CHECK(ask(&c, GET, "") == 407);
	CHECK(ask(&c, GET, ALICE) == 0);
	CHECK(c.name_len == 0);                 /* --identify-by address */
	CHECK(ask(&c, GET, BOB) == 0);          /* scheme case, extra spaces */
	CHECK(ask(&c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n%s" ALICE "\r\n",
		  ALICE) == 407);                 /* two credentials */
	CHECK(ask(&c, GET, "Proxy-Authorization: Basic YWxpY2U6czNjcmV0=\r\n") == 407);
	CHECK(ask(&c, GET, "Proxy-Authorization: Basic\r\n") == 407);
	/* that made 3 failures (a missing header is none): locked out, even
	 * with the right credentials, until the window ends */
	CHECK(ask(&c, GET, ALICE) == 429);
	CHECK(ask(&c, GET, WRONG) == 429);
	struct eng_sock other = {0};
	set_addr(&other.addr, "10.0.0.8", 40000);
	CHECK(ask(&other, GET, ALICE) == 0);    /* other addresses unaffected */
	w.now_ms += 1001;
	CHECK(ask(&c, GET, ALICE) == 0);        /* the window ended */
	/* blanking: the token is gone from the head, the scheme stays */
	static char head[256];
	struct h1_parser hp;
	struct h1_msg m;
	struct h1_target t;
	struct eng_deny d;
	snprintf(head, sizeof(head), GET, ALICE);
	parse(&hp, &m, head, &t);
	CHECK(eng_access_request(&w, &c, &m, head, &t, &d));
	CHECK(strstr(head, "YWxp") == NULL);
	CHECK(strstr(head, "Proxy-Authorization: Basic ****************\r\n") != NULL);
	/* naming, password-checked */
	e.cfg.identify_by = ENG_ID_AUTH;
	CHECK(ask(&c, GET, BOB) == 0);
	CHECK(c.name_len == 3 && memcmp(c.name, "bob", 3) == 0);
	/* the onboarding host needs no credentials */
	CHECK(ask(&c, "GET http://ringcap.cert/ HTTP/1.1\r\nHost: ringcap.cert\r\n%s\r\n", "") ==
	      (e.cfg.onboard ? 0 : 407));
	/* no --auth: any user names the client, no password check */
	e.cfg.nusers = 0;
	CHECK(ask(&c, GET, PHONE) == 0);
	CHECK(c.name_len == 5 && memcmp(c.name, "phone", 5) == 0);
	CHECK(ask(&c, GET, "") == 0 && c.name_len == 0);
	e.cfg.identify_by = ENG_ID_ADDRESS;
}

static void test_connect_ports(void)
{
	struct eng_sock c = {0};
	set_addr(&c.addr, "10.0.0.9", 1);
	CHECK(ask(&c, CONNECT, "443") == 0);
	CHECK(ask(&c, CONNECT, "80") == 0);
	CHECK(ask(&c, CONNECT, "22") == 403);
	static const struct eng_port_range r[] = { { 8000, 8999 } };
	e.cfg.connect_ports = r;
	e.cfg.nconnect_ports = 1;
	CHECK(ask(&c, CONNECT, "8000") == 0 && ask(&c, CONNECT, "8999") == 0);
	CHECK(ask(&c, CONNECT, "443") == 403 && ask(&c, CONNECT, "9000") == 403);
	e.cfg.nconnect_ports = 0;
	CHECK(ask(&c, CONNECT, "25") == 0);
}

static void test_per_client(void)
{
	static struct eng_sock socks[40];
	/* 4 addresses x 5 connections with a cap of 5: all in, the 6th out */
	for (int i = 0; i < 20; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.1.0.%d", i % 4);
		set_addr(&socks[i].addr, ip, (uint16_t)(1000 + i));
		CHECK(eng_access_conn_get(&w, &socks[i]));
		CHECK(socks[i].flags & ENG_SOCK_F_COUNTED);
	}
	set_addr(&socks[20].addr, "10.1.0.2", 999);
	CHECK(!eng_access_conn_get(&w, &socks[20]));
	CHECK(!(socks[20].flags & ENG_SOCK_F_COUNTED));
	set_addr(&socks[21].addr, "::ffff:10.1.0.2", 999);   /* same client, mapped */
	CHECK(!eng_access_conn_get(&w, &socks[21]));
	eng_access_conn_put(&w, &socks[2]);                  /* 10.1.0.2 */
	CHECK(eng_access_conn_get(&w, &socks[20]));
	/* everything released: every address takes 5 again */
	for (int i = 0; i < 21; i++)
		eng_access_conn_put(&w, &socks[i]);
	for (int i = 0; i < 5; i++)
		CHECK(eng_access_conn_get(&w, &socks[i + 20]));
	for (int i = 20; i < 25; i++)
		eng_access_conn_put(&w, &socks[i]);
}

static void test_upstreams(void)
{
	static const struct { const char *ip; uint16_t port; bool refused; } cases[] = {
		{ "127.0.0.1", 5559, true },        /* the proxy */
		{ "127.0.0.2", 5559, true },
		{ "0.0.0.0", 5559, true },
		{ "::1", 5559, true },
		{ "::ffff:127.0.0.1", 5559, true },
		{ "127.0.0.1", 5560, true },        /* the control port */
		{ "127.0.0.1", 8080, false },       /* other local services */
		{ "169.254.169.254", 80, true },
		{ "169.254.1.1", 443, true },
		{ "::ffff:169.254.169.254", 80, true },
		{ "fd00:ec2::254", 80, true },
		{ "fe80::1", 80, true },
		{ "64:ff9b::a9fe:a9fe", 80, true },
		{ "93.184.216.34", 5559, false },   /* not local */
		{ "10.0.0.1", 80, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage a;
		set_addr(&a, cases[i].ip, cases[i].port);
		bool refused = eng_upstream_refused(&w, &a) != NULL;
		if (refused != cases[i].refused)
			fprintf(stderr, "%s:%u: refused=%d\n", cases[i].ip, cases[i].port, refused);
		CHECK(refused == cases[i].refused);
	}
	struct eng_cidr allow;
	memset(&allow, 0, sizeof(allow));
	allow.family = AF_INET;
	allow.bits = 16;
	allow.addr[0] = 169;
	allow.addr[1] = 254;
	e.cfg.allow_upstream = &allow;
	e.cfg.nallow_upstream = 1;
	struct sockaddr_storage a;
	set_addr(&a, "169.254.169.254", 80);
	CHECK(eng_upstream_refused(&w, &a) == NULL);
	set_addr(&a, "127.0.0.1", 5560);   /* never the control port */
	CHECK(eng_upstream_refused(&w, &a) != NULL);
}

int main(void)
{
	setup(5);
	test_user_parse();
	test_auth();
	test_connect_ports();
	test_per_client();
	test_upstreams();
	eng_access_stop(&e);
	return check_done("access");
}
