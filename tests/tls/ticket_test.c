/*
 * ticket_test.c - client-facing session tickets (tls/ticket.c): a client
 * resumes on the next connection (TLS 1.3 PSK and TLS 1.2 ticket), still
 * resumes across one key rotation (the ticket is renewed), falls back to a
 * full handshake once its key is two rotations old or on a server with
 * other keys, and the ticket lifetime follows the rotation interval.
 *
 * The client side is tls/'s own upstream client, which offers the newest
 * session it holds for a host, so each round offers the last round's.
 */
#include <time.h>

#include <openssl/pool.h>

#include "tests/tls/tls-test.h"

/* The newest ticket the client holds for HOST has lifetime HINT_S. */
static void check_hint(struct test_fixture *f, int version, const char *host, uint32_t hint_s)
{
	CRYPTO_BUFFER *b;
	SSL_SESSION *s = NULL;

	pthread_mutex_lock(&f->client->lock);
	b = tls_lru_get(&f->client->sessions, host, strlen(host), (int64_t)time(NULL), NULL);
	if (b != NULL)
		s = SSL_SESSION_from_bytes(CRYPTO_BUFFER_data(b), CRYPTO_BUFFER_len(b),
					   f->client->ctx);
	pthread_mutex_unlock(&f->client->lock);
	CHECK(s != NULL);
	if (s != NULL)
		/* TLS 1.3: the ticket's lifetime becomes the session's timeout;
		 * TLS 1.2: kept as the hint (the client's timeout is its own) */
		CHECK_EQ(version == TLS1_3_VERSION ? SSL_SESSION_get_timeout(s)
						   : SSL_SESSION_get_ticket_lifetime_hint(s),
			 hint_s);
	SSL_SESSION_free(s);
}

/* One connection to HOST at VERSION through SRV; checks that the
 * handshake completes and whether it resumed. Reads the server's first
 * byte so TLS 1.3 tickets reach the client. */
static void round_trip(struct test_fixture *f, struct tls_server *srv, int version,
		       const char *host, bool want_resumed, const char *what)
{
	struct tls_conn *cl = NULL, *sv = NULL;
	uint8_t buf[16];

	CHECK_EQ(tls_conn_new_client(f->client, host, &cl), 0);
	CHECK_EQ(tls_conn_new_server(srv, f->cache, NULL, &sv), 0);
	if (cl == NULL || sv == NULL)
		goto out;
	SSL_set_min_proto_version(cl->ssl, (uint16_t)version);
	SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
	CHECK_EQ(test_handshake(cl, sv), 0);
	if (tls_conn_resumed(cl) != want_resumed)
		fprintf(stderr, "%s (%x): resumed %d, wanted %d\n", what, version,
			tls_conn_resumed(cl), want_resumed);
	CHECK_EQ(tls_conn_resumed(cl), want_resumed);
	CHECK_EQ(SSL_session_reused(sv->ssl), want_resumed);
	CHECK_STR(tls_conn_version(sv), version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
	CHECK_EQ(tls_conn_write(sv, "x", 1), 1);
	test_pump(cl, sv);
	CHECK_EQ(tls_conn_read(cl, buf, sizeof(buf)), 1);
	check_hint(f, version, host, 600);
out:
	tls_conn_free(cl);
	tls_conn_free(sv);
}

static void rotation(struct test_fixture *f, struct tls_server *other, int version,
		     const char *host)
{
	uint64_t r0 = tls_server_ticket_rotations(f->server);

	round_trip(f, f->server, version, host, false, "first");
	round_trip(f, f->server, version, host, true, "second");
	tls_server_rotate_tickets(f->server);
	round_trip(f, f->server, version, host, true, "after one rotation");
	/* the ticket of the last round, renewed under the newest key, is two
	 * rotations old after these: no key opens it */
	tls_server_rotate_tickets(f->server);
	tls_server_rotate_tickets(f->server);
	round_trip(f, f->server, version, host, false, "after two rotations");
	round_trip(f, f->server, version, host, true, "fresh ticket");
	/* another process (other keys) cannot open it */
	round_trip(f, other, version, host, false, "other server");
	CHECK_EQ(tls_server_ticket_rotations(f->server), r0 + 3);
}

static void limits(struct tls_server *s)
{
	CHECK_EQ(tls_server_set_ticket_rotate(s, 0), -EINVAL);
	CHECK_EQ(tls_server_set_ticket_rotate(s, TLS_TICKET_ROTATE_S_MAX + 1), -EINVAL);
	CHECK_EQ(tls_server_set_ticket_rotate(s, TLS_TICKET_ROTATE_S_MIN), 0);
	CHECK_EQ(tls_server_set_ticket_rotate(s, TLS_TICKET_ROTATE_S_MAX), 0);
}

/* Waits for the wall clock's next second: tickets and the client's
 * session cache count whole seconds, so a one-second ticket taken late in
 * a second is stale a moment later. */
static void second_start(void)
{
	time_t t0 = time(NULL);
	while (time(NULL) == t0) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

/* A one-second interval rotates by itself: a ticket two seconds and more
 * old no longer opens. */
static void clock_rotation(struct test_fixture *f, int version, const char *host)
{
	uint64_t r0 = tls_server_ticket_rotations(f->server);

	REQUIRE_RC(tls_server_set_ticket_rotate(f->server, 1));
	struct tls_conn *cl = NULL, *sv = NULL;
	int resumed[2] = {-1, -1};

	for (int i = 0; i < 3; i++) {
		uint8_t buf[4];

		if (i == 2)
			sleep(3);
		if (i != 1)   /* rounds 0 and 1 in one second, round 2 at a second's start */
			second_start();
		CHECK_EQ(tls_conn_new_client(f->client, host, &cl), 0);
		CHECK_EQ(tls_conn_new_server(f->server, f->cache, NULL, &sv), 0);
		if (cl == NULL || sv == NULL)
			break;
		SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
		CHECK_EQ(test_handshake(cl, sv), 0);
		if (i > 0)
			resumed[i - 1] = tls_conn_resumed(cl);
		CHECK_EQ(tls_conn_write(sv, "x", 1), 1);
		test_pump(cl, sv);
		CHECK_EQ(tls_conn_read(cl, buf, sizeof(buf)), 1);
		check_hint(f, version, host, 1);
		tls_conn_free(cl);
		tls_conn_free(sv);
		cl = sv = NULL;
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
	CHECK_EQ(resumed[0], 1);
	CHECK_EQ(resumed[1], 0);
	CHECK(tls_server_ticket_rotations(f->server) >= r0 + 2);
	REQUIRE_RC(tls_server_set_ticket_rotate(f->server, 600));
}

int main(void)
{
	struct test_fixture f;
	struct tls_server *other = NULL;

	test_fixture_init(&f, NULL);
	REQUIRE_RC(tls_server_new(f.mint, NULL, &other));
	REQUIRE_RC(tls_server_set_ticket_rotate(f.server, 600));
	REQUIRE_RC(tls_server_set_ticket_rotate(other, 600));
	rotation(&f, other, TLS1_3_VERSION, "tickets13.test");
	rotation(&f, other, TLS1_2_VERSION, "tickets12.test");
	clock_rotation(&f, TLS1_3_VERSION, "clock13.test");
	limits(other);
	tls_server_free(other);
	test_fixture_fini(&f);
	return check_done("ticket");
}
