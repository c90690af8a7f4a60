/*
 * tests/fuzz/access/access_fuzz.c - libFuzzer target for engine/access.c: the
 * input's first byte picks the mode (credential line for eng_user_parse, or
 * a request head through authentication and CONNECT ports, with and without
 * --auth and --identify-by auth); the rest is the data. Checks that the
 * token of every Proxy-Authorization is blanked and that a client name is
 * visible ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct eng e;
static struct eng_worker w;
static struct eng_user users[2];

static void setup(void)
{
	char err[128];
	eng_config_defaults(&e.cfg);
	e.nworkers = 1;
	e.cfg.max_conns = 16;
	if (eng_access_start(&e, err, sizeof(err)) < 0)
		abort();
	if (eng_user_parse("alice:s3cret", 12, &users[0], err, sizeof(err)) < 0 ||
	    eng_user_parse("bob:pw", 6, &users[1], err, sizeof(err)) < 0)
		abort();
	w.e = &e;
}

static void head(uint8_t mode, const char *p, size_t n)
{
	static struct h1_hdr hdr[100];
	static char buf[65536];
	struct h1_scan s = { .request = 1 };
	const char *why = NULL;
	memcpy(buf, p, n);
	int end = h1_scan(&s, buf, n, 100, &why);
	if (end <= 0)
		return;
	struct h1_parser hp;
	struct h1_msg m = { .hdr = hdr, .hdr_cap = 100 };
	struct h1_target t;
	h1_parser_init(&hp, false, NULL, NULL);
	if (h1_parse_head(&hp, &m, buf, (size_t)end, &why) < 0 ||
	    h1_parse_target(buf + m.url_off, m.url_len, m.method == HTTP_CONNECT, &t, &why) < 0)
		return;
	e.cfg.users = (mode & 2) ? users : NULL;
	e.cfg.nusers = (mode & 2) ? 2 : 0;
	e.cfg.identify_by = (mode & 4) ? ENG_ID_AUTH : ENG_ID_ADDRESS;
	w.now_ms += 7;
	struct eng_sock c = {0};
	struct eng_xchg x = {0};
	struct eng_deny d;
	c.x = &x;
	c.addr.ss_family = AF_INET;
	((struct sockaddr_in *)&c.addr)->sin_addr.s_addr = (uint32_t)(mode >> 3);
	(void)eng_access_request(&w, &c, &m, buf, &t, &d);
	for (unsigned i = 0; i < c.name_len; i++)
		if (c.name[i] <= ' ' || c.name[i] > '~')
			abort();
	for (unsigned i = 0; i < m.nhdr; i++) {
		const struct h1_hdr *h = &m.hdr[i];
		if (h->name_len == 19 && strncasecmp(buf + h->name_off, "proxy-authorization", 19) == 0 &&
		    h->value_len > 6 && strncasecmp(buf + h->value_off, "basic ", 6) == 0 &&
		    buf[h->value_off + h->value_len - 1] != '*')
			abort();   /* a Basic token left in the head */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1 || size > 65536)
		return 0;
	const char *p = (const char *)data + 1;
	if (data[0] & 1) {
		struct eng_user u;
		char err[256];
		if (eng_user_parse(p, size - 1, &u, err, sizeof(err)) == 0 &&
		    (u.user_len == 0 || u.cred_len > ENG_AUTH_CRED_MAX || u.cred[u.user_len] != ':'))
			abort();
		return 0;
	}
	head(data[0], p, size - 1);
	return 0;
}
