/*
 * session_test.c - the upstream session cache (tls/client.c): sessions are
 * kept per origin (host name, which is the SNI, and port) and offered only
 * to that origin; the cache is bounded (least recently used evicted); a
 * server that cannot resume the offered session makes a full handshake
 * whose certificate is verified as on a first connection; resumption can
 * be turned off.
 */
#include "tests/tls/tls-test.h"

/* Connects C to HOST:PORT at SRV. Returns the handshake result; *OFFERED
 * says whether a kept session was offered, *RESUMED whether it was used. */
static int connect_at(struct tls_client *c, struct tls_server *srv, struct test_fixture *f,
		      const char *host, uint16_t port, bool *offered, bool *resumed,
		      char *err, size_t err_len)
{
	struct tls_conn *cl = NULL, *sv = NULL;
	uint8_t buf[4];
	int rc;

	REQUIRE_RC(tls_conn_new_client_at(c, host, port, &cl));
	REQUIRE_RC(tls_conn_new_server(srv, f->cache, NULL, &sv));
	*offered = SSL_get_session(cl->ssl) != NULL;
	rc = test_handshake(cl, sv);
	*resumed = rc == 0 && tls_conn_resumed(cl);
	if (rc == 0) {
		/* TLS 1.3 tickets come after the handshake, with data */
		CHECK_EQ(tls_conn_write(sv, "x", 1), 1);
		test_pump(cl, sv);
		CHECK_EQ(tls_conn_read(cl, buf, sizeof(buf)), 1);
	}
	if (err != NULL)
		snprintf(err, err_len, "%s", tls_conn_error(cl));
	if (rc != 0)
		CHECK(tls_conn_verify_failed(cl) || err == NULL);
	tls_conn_free(cl);
	tls_conn_free(sv);
	return rc;
}

static void per_origin(struct test_fixture *f)
{
	bool offered, resumed;

	CHECK_EQ(connect_at(f->client, f->server, f, "a.origin.test", 443, &offered, &resumed,
			    NULL, 0), 0);
	CHECK(!offered);
	CHECK_EQ(connect_at(f->client, f->server, f, "a.origin.test", 443, &offered, &resumed,
			    NULL, 0), 0);
	CHECK(offered);
	CHECK(resumed);
	/* same name, other port: another origin, nothing offered */
	CHECK_EQ(connect_at(f->client, f->server, f, "a.origin.test", 8443, &offered, &resumed,
			    NULL, 0), 0);
	CHECK(!offered);
	/* other name (SNI), same port */
	CHECK_EQ(connect_at(f->client, f->server, f, "b.origin.test", 443, &offered, &resumed,
			    NULL, 0), 0);
	CHECK(!offered);
}

static void bounded(struct test_fixture *f)
{
	struct tls_client_opts o = { .trust_file = tls_ca_cert_path(f->ca), .session_capacity = 2 };
	struct tls_client *c = NULL;
	struct tls_cache_stats st;
	char err[TLS_ERR_MAX];
	bool offered, resumed;

	REQUIRE_RC(tls_client_new(&o, &c, err, sizeof(err)));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(connect_at(c, f->server, f, "bound.test", (uint16_t)(1000 + i), &offered,
				    &resumed, NULL, 0), 0);
	tls_client_session_stats(c, &st);
	CHECK_EQ(st.entries, 2u);
	CHECK_EQ(st.evictions, 1u);
	/* the oldest origin went; the newest two are offered */
	CHECK_EQ(connect_at(c, f->server, f, "bound.test", 1000, &offered, &resumed, NULL, 0), 0);
	CHECK(!offered);
	CHECK_EQ(connect_at(c, f->server, f, "bound.test", 1002, &offered, &resumed, NULL, 0), 0);
	CHECK(offered);
	CHECK(resumed);
	tls_client_free(c);
}

/* The origin comes back with a certificate from a CA the client does not
 * trust (and, as a restarted server does, other ticket keys): the session
 * offered is not accepted, and the full handshake fails verification. */
static void changed_certificate(struct test_fixture *f)
{
	char dir[256], err[TLS_ERR_MAX] = "";
	struct tls_ca *ca2 = NULL;
	struct tls_mint *mint2 = NULL;
	struct tls_server *srv2 = NULL;
	struct tls_leaf_cache *cache2 = NULL;
	struct test_fixture f2;
	bool offered, resumed;

	CHECK_EQ(connect_at(f->client, f->server, f, "moved.test", 443, &offered, &resumed,
			    NULL, 0), 0);
	CHECK_EQ(connect_at(f->client, f->server, f, "moved.test", 443, &offered, &resumed,
			    NULL, 0), 0);
	CHECK(resumed);
	test_tmpdir(dir, sizeof(dir));
	REQUIRE_RC(tls_ca_open(dir, "elsewhere", &ca2, err, sizeof(err)));
	REQUIRE_RC(tls_mint_new(ca2, 16, &mint2));
	REQUIRE_RC(tls_server_new(mint2, NULL, &srv2));
	REQUIRE_RC(tls_leaf_cache_new(mint2, 16, &cache2));
	f2 = *f;
	f2.cache = cache2;
	CHECK(connect_at(f->client, srv2, &f2, "moved.test", 443, &offered, &resumed, err,
			 sizeof(err)) != 0);
	CHECK(offered);
	CHECK(!resumed);
	CHECK_PREFIX(err, "unknown issuer");
	/* and the session of the first server is still no way around it */
	CHECK(connect_at(f->client, srv2, &f2, "moved.test", 443, &offered, &resumed, err,
			 sizeof(err)) != 0);
	tls_leaf_cache_free(cache2);
	tls_server_free(srv2);
	tls_mint_free(mint2);
	tls_ca_free(ca2);
	test_rmdir(dir);
}

static void off(struct test_fixture *f)
{
	struct tls_client_opts o = { .trust_file = tls_ca_cert_path(f->ca), .no_resumption = true };
	struct tls_client *c = NULL;
	struct tls_cache_stats st;
	char err[TLS_ERR_MAX];
	bool offered, resumed;

	REQUIRE_RC(tls_client_new(&o, &c, err, sizeof(err)));
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(connect_at(c, f->server, f, "off.test", 443, &offered, &resumed, NULL, 0),
			 0);
		CHECK(!offered);
	}
	tls_client_session_stats(c, &st);
	CHECK_EQ(st.entries, 0u);
	tls_client_free(c);
}

int main(void)
{
	struct test_fixture f;

	test_fixture_init(&f, NULL);
	per_origin(&f);
	bounded(&f);
	changed_certificate(&f);
	off(&f);
	test_fixture_fini(&f);
	return check_done("session");
}
