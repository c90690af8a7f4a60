/*
 * tls-test.h - helpers shared by the tls/ unit tests (header-only): the
 * checks of tests/check.h, a scratch data directory, a CA + minter + server
 * fixture and a pump that moves ciphertext between two in-memory connections.
 */
#ifndef RINGCAP_TLS_TEST_H
#define RINGCAP_TLS_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls-int.h"

#include "tests/check.h"

/* mkdtemp under $TMPDIR (or /tmp); caller removes with test_rmdir. */
static inline void test_tmpdir(char *buf, size_t len)
{
	const char *base = getenv("TMPDIR");

	snprintf(buf, len, "%s/ringcap-tls-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(buf) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static inline void test_rmdir(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Moves pending ciphertext from A to B and from B to A. Returns bytes
 * moved (0: nothing moved, the pair is idle or blocked). */
static inline size_t test_pump(struct tls_conn *a, struct tls_conn *b)
{
	uint8_t buf[4096];
	size_t moved = 0;

	for (int dir = 0; dir < 2; dir++) {
		struct tls_conn *from = dir == 0 ? a : b, *to = dir == 0 ? b : a;

		for (int i = 0; i < 64; i++) {
			size_t room, n, fed;

			if (tls_conn_pending_out(from) == 0)
				break;
			room = tls_conn_feed_room(to);
			if (room == 0)
				break;
			n = tls_conn_take(from, buf, room < sizeof(buf) ? room : sizeof(buf));
			fed = tls_conn_feed(to, buf, n);
			if (fed != n) {
				fprintf(stderr, "pump: fed %zu of %zu\n", fed, n);
				exit(1);
			}
			moved += n;
		}
	}
	return moved;
}

/* Runs both handshakes to completion or failure. Returns 0 when both are
 * done, else the first failing side's code. */
static inline int test_handshake(struct tls_conn *client, struct tls_conn *server)
{
	for (int round = 0; round < 100; round++) {
		int rc = tls_conn_handshake(client);
		int rs = tls_conn_handshake(server);

		test_pump(client, server);
		if (rc == 0 && rs == 0)
			return 0;
		if (rc != 0 && rc != -EAGAIN)
			return rc;
		if (rs != 0 && rs != -EAGAIN) {
			/* Let the alert reach the client, then report. */
			test_pump(client, server);
			tls_conn_handshake(client);
			return rs;
		}
	}
	return -ETIMEDOUT;
}

struct test_fixture {
	char dir[256];
	struct tls_ca *ca;
	struct tls_mint *mint;
	struct tls_server *server;
	struct tls_leaf_cache *cache;
	struct tls_client *client;
};

static inline void test_fixture_init(struct test_fixture *f, struct tls_keylog *kl)
{
	char err[TLS_ERR_MAX] = "";
	struct tls_client_opts o = {0};

	memset(f, 0, sizeof(*f));
	test_tmpdir(f->dir, sizeof(f->dir));
	if (tls_ca_open(f->dir, "testhost", &f->ca, err, sizeof(err)) < 0 ||
	    tls_mint_new(f->ca, 64, &f->mint) < 0 ||
	    tls_server_new(f->mint, kl, &f->server) < 0 ||
	    tls_leaf_cache_new(f->mint, 16, &f->cache) < 0) {
		fprintf(stderr, "fixture: %s\n", err);
		exit(1);
	}
	o.trust_file = tls_ca_cert_path(f->ca);
	o.keylog = kl;
	if (tls_client_new(&o, &f->client, err, sizeof(err)) < 0) {
		fprintf(stderr, "fixture client: %s\n", err);
		exit(1);
	}
}

static inline void test_fixture_fini(struct test_fixture *f)
{
	tls_client_free(f->client);
	tls_leaf_cache_free(f->cache);
	tls_server_free(f->server);
	tls_mint_free(f->mint);
	tls_ca_free(f->ca);
	test_rmdir(f->dir);
}

#endif
