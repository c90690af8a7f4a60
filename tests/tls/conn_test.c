/* conn_test.c - in-memory handshakes between a client-role and a server-
 * role tls_conn (client trusts the CA) at TLS 1.2 and 1.3: SNI picks the
 * leaf, ALPN http/1.1 on both sides, data both ways by checksum in odd
 * chunk sizes, backpressure when the peer does not drain, close_notify;
 * IP literal hosts (no SNI, leaf from the CONNECT host); no SNI and no
 * fallback fails with a reason; tls_conn_read_ready agrees with
 * tls_conn_read; lent buffers in and out keep the stream in order. */
#include <string.h>

#include <openssl/ssl.h>

#include "tests/tls/tls-test.h"

#define XFER_BYTES (1u << 20)

static uint8_t pattern(size_t i) { return (uint8_t)(i * 131 + (i >> 9)); }

/* Writes XFER_BYTES from FROM to TO in CHUNK-sized writes and checks every
 * byte read on the other side. */
static void transfer(struct tls_conn *from, struct tls_conn *to, size_t chunk,
		     size_t total)
{
	static uint8_t out[XFER_BYTES], in[20000];
	size_t sent = 0, got = 0;
	int idle = 0;

	for (size_t i = 0; i < XFER_BYTES; i++)
		out[i] = pattern(i);
	for (int round = 0; round < 200000 && got < total && idle < 50; round++) {
		size_t want = total - sent < chunk ? total - sent : chunk;
		ssize_t n = sent < total ? tls_conn_write(from, out + sent, want) : -EAGAIN;
		size_t moved;

		CHECK(n > 0 || n == -EAGAIN);
		if (n > 0)
			sent += (size_t)n;
		moved = test_pump(from, to);
		for (int k = 0; k < 64; k++) {
			ssize_t r = tls_conn_read(to, in, sizeof(in));

			if (r == -EAGAIN)
				break;
			CHECK(r > 0);
			if (r <= 0)
				return;
			for (ssize_t j = 0; j < r; j++) {
				if (in[j] != pattern(got + (size_t)j)) {
					CHECK(!"byte mismatch");
					return;
				}
			}
			got += (size_t)r;
			moved += (size_t)r;
		}
		idle = moved == 0 && n <= 0 ? idle + 1 : 0;
	}
	CHECK_EQ(sent, total);
	CHECK_EQ(got, total);
}

/* The sender stops being able to write once the receiver's inbound buffer
 * and its own outbound buffer are full: memory stays bounded. */
static void backpressure(struct tls_conn *from, struct tls_conn *to)
{
	static uint8_t buf[65536];
	size_t total = 0;
	ssize_t n = 0;

	for (int i = 0; i < 100; i++) {
		n = tls_conn_write(from, buf, sizeof(buf));
		if (n < 0)
			break;
		total += (size_t)n;
		test_pump(from, to);
	}
	CHECK_EQ(n, -EAGAIN);
	CHECK(total <= TLS_CONN_IN_BYTES + TLS_CONN_OUT_BYTES);
	CHECK(tls_conn_pending_out(from) <= TLS_CONN_OUT_BYTES);
	/* Drain everything so the connection is usable again. */
	for (int i = 0; i < 100; i++) {
		ssize_t r = tls_conn_read(to, buf, sizeof(buf));

		if (r == -EAGAIN && test_pump(from, to) == 0)
			break;
		CHECK(r > 0 || r == -EAGAIN);
	}
}

/* tls_conn_read_ready is false only where tls_conn_read would return
 * -EAGAIN: nothing fed; true with fed bytes, with decrypted bytes a short read
 * left behind, and at EOF. */
static void read_ready(struct tls_conn *cl, struct tls_conn *sv)
{
	uint8_t plain[100], wire[400], got[100];
	size_t n;

	memset(plain, 'r', sizeof(plain));
	CHECK(!tls_conn_read_ready(sv));
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), -EAGAIN);
	CHECK_EQ(tls_conn_write(cl, plain, sizeof(plain)), (ssize_t)sizeof(plain));
	n = tls_conn_take(cl, wire, sizeof(wire));
	CHECK(n > sizeof(plain));
	CHECK(n < sizeof(wire));
	/* half a record: fed, so worth a read, which takes it and wants
	 * more (BoringSSL's SSL_has_pending then counts the half it holds:
	 * ready stays true, a wasted call only when a record is split) */
	CHECK_EQ(tls_conn_feed(sv, wire, n / 2), n / 2);
	CHECK(tls_conn_read_ready(sv));
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), -EAGAIN);
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), -EAGAIN);
	CHECK_EQ(tls_conn_feed(sv, wire + n / 2, n - n / 2), n - n / 2);
	CHECK(tls_conn_read_ready(sv));
	/* a short read leaves decrypted bytes inside BoringSSL */
	CHECK_EQ(tls_conn_read(sv, got, 10), 10);
	CHECK(tls_conn_read_ready(sv));
	CHECK_EQ(tls_conn_read(sv, got + 10, sizeof(got) - 10), (ssize_t)sizeof(got) - 10);
	CHECK(memcmp(got, plain, sizeof(plain)) == 0);
	CHECK(!tls_conn_read_ready(sv));
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), -EAGAIN);
}

/* Loans (issue 16): records sealed straight into the caller's room and
 * read straight from the caller's bytes, one record per read, the rest
 * left with the caller; what does not fit the room waits in the outbound
 * buffer, and while it does new records go behind it, not into a loan. */
static void loans(struct tls_conn *cl, struct tls_conn *sv)
{
	uint8_t plain[100], wire[1000], rest[400], got[100];
	size_t n1, n2, k;

	memset(plain, 'L', sizeof(plain));
	/* two records into one loan, nothing left in the outbound buffer */
	tls_conn_lend_out(cl, wire, sizeof(wire));
	CHECK_EQ(tls_conn_write(cl, plain, sizeof(plain)), (ssize_t)sizeof(plain));
	n1 = tls_conn_return_out(cl);
	tls_conn_lend_out(cl, wire + n1, sizeof(wire) - n1);
	CHECK_EQ(tls_conn_write(cl, plain, 50), 50);
	n2 = tls_conn_return_out(cl);
	CHECK(n1 > sizeof(plain));
	CHECK(n2 > 50);
	CHECK_EQ(tls_conn_pending_out(cl), 0);
	/* read from the loan: the first record only */
	tls_conn_lend_in(sv, wire, n1 + n2);
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), (ssize_t)sizeof(plain));
	CHECK_EQ(tls_conn_return_in(sv), n1);
	CHECK(memcmp(got, plain, sizeof(plain)) == 0);
	/* the second, split over two loans */
	tls_conn_lend_in(sv, wire + n1, 3);
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), -EAGAIN);
	CHECK_EQ(tls_conn_return_in(sv), 3);
	tls_conn_lend_in(sv, wire + n1 + 3, n2 - 3);
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), 50);
	CHECK_EQ(tls_conn_return_in(sv), n2 - 3);
	CHECK(!tls_conn_read_ready(sv));
	/* a loan too small: its bytes first, the rest waits, and the next
	 * record goes behind the rest even with a new loan */
	tls_conn_lend_out(cl, wire, 10);
	CHECK_EQ(tls_conn_write(cl, plain, sizeof(plain)), (ssize_t)sizeof(plain));
	CHECK_EQ(tls_conn_return_out(cl), 10);
	n1 = 10 + tls_conn_pending_out(cl);
	tls_conn_lend_out(cl, rest, sizeof(rest));
	CHECK_EQ(tls_conn_write(cl, plain, 20), 20);
	CHECK_EQ(tls_conn_return_out(cl), 0);
	k = tls_conn_take(cl, wire + 10, sizeof(wire) - 10);
	CHECK(k > n1 - 10 + 20);
	tls_conn_lend_in(sv, wire, 10 + k);
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), (ssize_t)sizeof(plain));
	CHECK_EQ(tls_conn_read(sv, got, sizeof(got)), 20);
	CHECK_EQ(tls_conn_return_in(sv), 10 + k);
	CHECK(memcmp(got, plain, 20) == 0);
}

static void session(struct test_fixture *f, int version, const char *host,
		    const char *fallback, const char *want_name)
{
	struct tls_conn *cl = NULL, *sv = NULL;
	uint8_t buf[64];

	CHECK_EQ(tls_conn_new_client(f->client, host, &cl), 0);
	CHECK_EQ(tls_conn_new_server(f->server, f->cache, fallback, &sv), 0);
	if (cl == NULL || sv == NULL)
		goto out;
	SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
	CHECK(!tls_conn_handshake_done(cl));
	CHECK_EQ(test_handshake(cl, sv), 0);
	if (!tls_conn_handshake_done(cl)) {
		fprintf(stderr, "client: %s / server: %s\n", tls_conn_error(cl), tls_conn_error(sv));
		goto out;
	}
	CHECK_STR(tls_conn_name(sv), want_name);
	CHECK_STR(tls_conn_alpn(cl), "http/1.1");
	CHECK_STR(tls_conn_alpn(sv), "http/1.1");
	CHECK_STR(tls_conn_version(cl), version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
	CHECK_STR(tls_conn_version(sv), tls_conn_version(cl));
	/* X25519 first in both contexts' group order (issue 16) */
	CHECK_EQ(SSL_get_curve_id(cl->ssl), SSL_CURVE_X25519);
	CHECK_EQ(SSL_get_curve_id(sv->ssl), SSL_CURVE_X25519);
	CHECK(!tls_conn_verify_failed(cl));
	CHECK_STR(tls_conn_error(cl), "");
	CHECK_EQ(tls_conn_read(sv, buf, sizeof(buf)), -EAGAIN);
	read_ready(cl, sv);
	loans(cl, sv);

	transfer(cl, sv, 1000, XFER_BYTES);
	transfer(sv, cl, 70000, XFER_BYTES);
	transfer(cl, sv, 1, 5000);
	backpressure(sv, cl);
	transfer(sv, cl, 4096, XFER_BYTES);

	CHECK_EQ(tls_conn_shutdown(cl), 0);
	test_pump(cl, sv);
	CHECK(tls_conn_read_ready(sv));
	CHECK_EQ(tls_conn_read(sv, buf, sizeof(buf)), 0);
	tls_conn_feed_eof(sv);
	CHECK(tls_conn_read_ready(sv));   /* EOF is news for a read */
out:
	tls_conn_free(cl);
	tls_conn_free(sv);
}

/* The upstream side keeps the session of a first handshake and resumes
 * it on a second to the same host (tickets: the server keeps no
 * session-ID cache); the server still picks the leaf by SNI. */
static void resumption(struct test_fixture *f, int version, const char *host)
{
	struct tls_conn *cl = NULL, *sv = NULL;
	uint8_t buf[16];

	for (int round = 0; round < 2; round++) {
		CHECK_EQ(tls_conn_new_client(f->client, host, &cl), 0);
		CHECK_EQ(tls_conn_new_server(f->server, f->cache, NULL, &sv), 0);
		if (cl == NULL || sv == NULL)
			break;
		SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
		CHECK_EQ(test_handshake(cl, sv), 0);
		if (SSL_session_reused(sv->ssl) != (round == 1))
			fprintf(stderr, "resumption %x round %d\n", version, round);
		CHECK_EQ(SSL_session_reused(sv->ssl), round == 1);
		CHECK_EQ(tls_conn_resumed(cl), round == 1);
		CHECK_STR(tls_conn_name(sv), host);
		/* TLS 1.3 tickets arrive after the handshake: read them. */
		CHECK_EQ(tls_conn_write(sv, "x", 1), 1);
		test_pump(cl, sv);
		CHECK_EQ(tls_conn_read(cl, buf, sizeof(buf)), 1);
		tls_conn_free(cl);
		tls_conn_free(sv);
		cl = sv = NULL;
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
}

/* A large write goes out in full-size records (issue 16: every other
 * record used to fill only what room the outbound buffer had left), and
 * the peer reads back every byte. */
static void full_records(struct test_fixture *f, int version)
{
	enum { TOTAL = 5 * TLS_RECORD_PLAIN_MAX + 100, WIRE = TOTAL + 64 * 1024 };
	static uint8_t plain[TOTAL], wire[WIRE], back[TOTAL];
	struct tls_conn *cl = NULL, *sv = NULL;
	size_t done = 0, wl = 0, off = 0, got = 0, records = 0, small = 0;
	uint8_t b1[4];

	for (size_t i = 0; i < TOTAL; i++)
		plain[i] = pattern(i);
	REQUIRE(tls_conn_new_client(f->client, "records.test", &cl) == 0);
	REQUIRE(tls_conn_new_server(f->server, f->cache, NULL, &sv) == 0);
	SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
	REQUIRE(test_handshake(cl, sv) == 0);
	/* TLS 1.3 tickets go with the first write: out of the way first */
	CHECK_EQ(tls_conn_write(sv, "x", 1), 1);
	test_pump(cl, sv);
	CHECK_EQ(tls_conn_read(cl, b1, sizeof(b1)), 1);
	for (int i = 0; i < 100 && (done < TOTAL || tls_conn_pending_out(sv) > 0); i++) {
		ssize_t k = done < TOTAL ? tls_conn_write(sv, plain + done, TOTAL - done) : 0;

		CHECK(k >= 0 || k == -EAGAIN);
		done += k > 0 ? (size_t)k : 0;
		wl += tls_conn_take(sv, wire + wl, WIRE - wl);
	}
	CHECK_EQ(done, (size_t)TOTAL);
	while (off + 5 <= wl) {
		size_t len = (size_t)wire[off + 3] << 8 | wire[off + 4];

		records++;
		/* a full record: 16 KiB of data plus at least type and tag */
		small += len < TLS_RECORD_PLAIN_MAX + 17;
		off += 5 + len;
	}
	CHECK_EQ(off, wl);
	CHECK_EQ(records, 6u);
	CHECK_EQ(small, 1u);   /* the last 100 bytes only */
	for (size_t fed = 0, i = 0; i < 1000 && got < TOTAL; i++) {
		ssize_t r;

		fed += tls_conn_feed(cl, wire + fed, wl - fed);
		r = tls_conn_read(cl, back + got, TOTAL - got);
		if (r > 0)
			got += (size_t)r;
		else
			CHECK_EQ(r, -EAGAIN);
	}
	CHECK_EQ(got, (size_t)TOTAL);
	CHECK(memcmp(back, plain, TOTAL) == 0);
	tls_conn_free(cl);
	tls_conn_free(sv);
}

static void no_name(struct test_fixture *f)
{
	struct tls_conn *cl = NULL, *sv = NULL;

	/* An IP literal host sends no SNI; without a fallback there is no
	 * name to mint for. */
	CHECK_EQ(tls_conn_new_client(f->client, "127.0.0.1", &cl), 0);
	CHECK_EQ(tls_conn_new_server(f->server, f->cache, NULL, &sv), 0);
	if (cl != NULL && sv != NULL) {
		CHECK_EQ(test_handshake(cl, sv), -EPROTO);
		CHECK_STR(tls_conn_error(sv), "no SNI and no CONNECT host to mint for");
		CHECK(tls_conn_handshake(cl) == -EPROTO);
		CHECK(tls_conn_error(cl)[0] != '\0');
		CHECK_EQ(tls_conn_read(cl, (uint8_t[4]){0}, 4), -EPROTO);
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
}

static void eof_midway(struct test_fixture *f)
{
	struct tls_conn *cl = NULL, *sv = NULL;

	CHECK_EQ(tls_conn_new_client(f->client, "eof.test", &cl), 0);
	CHECK_EQ(tls_conn_new_server(f->server, f->cache, NULL, &sv), 0);
	if (cl != NULL && sv != NULL) {
		CHECK_EQ(tls_conn_handshake(cl), -EAGAIN);
		test_pump(cl, sv);
		tls_conn_feed_eof(sv);
		/* Hello read, flight written, then EOF where Finished should be. */
		CHECK_EQ(tls_conn_handshake(sv), -EPROTO);
		CHECK_STR(tls_conn_error(sv), "connection closed during TLS handshake");
		CHECK(tls_conn_pending_out(sv) > 0);
		test_pump(cl, sv);
		tls_conn_feed_eof(cl);
		/* TLS 1.3: the client is done once it sent Finished; the
		 * missing close_notify shows on the first read. */
		CHECK_EQ(tls_conn_handshake(cl), 0);
		CHECK_EQ(tls_conn_read(cl, (uint8_t[4]){0}, 4), -EPIPE);
		CHECK_EQ(tls_conn_feed(cl, "x", 1), 0);
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
}

/* Garbage and mutated ClientHellos into server-role connections: each
 * ends in -EAGAIN or -EPROTO with a reason, never anything else, and the
 * shared objects keep working (a good handshake follows). */
static void garbage_in(struct test_fixture *f)
{
	uint8_t hello[4096], buf[4096];
	size_t len = 0;
	struct tls_conn *cl = NULL, *sv = NULL;

	CHECK_EQ(tls_conn_new_client(f->client, "garbage.test", &cl), 0);
	if (cl == NULL)
		return;
	CHECK_EQ(tls_conn_handshake(cl), -EAGAIN);
	len = tls_conn_take(cl, hello, sizeof(hello));
	tls_conn_free(cl);
	for (int i = 0; i < 3000; i++) {
		int rc;

		memcpy(buf, hello, len);
		buf[(size_t)(i * 7919) % len] ^= (uint8_t)(i | 1);
		if (i % 3 == 0)
			buf[(size_t)(i * 104729) % len] = (uint8_t)i;
		CHECK_EQ(tls_conn_new_server(f->server, f->cache, i % 2 ? "fallback.test" : NULL,
					     &sv), 0);
		if (sv == NULL)
			return;
		CHECK_EQ(tls_conn_feed(sv, buf, len), len);
		rc = tls_conn_handshake(sv);
		CHECK(rc == -EAGAIN || rc == -EPROTO);
		if (rc == -EPROTO)
			CHECK(tls_conn_error(sv)[0] != '\0');
		tls_conn_free(sv);
		sv = NULL;
	}
	session(f, TLS1_3_VERSION, "after-garbage.test", NULL, "after-garbage.test");
}

int main(void)
{
	struct test_fixture f;

	test_fixture_init(&f, NULL);
	session(&f, TLS1_3_VERSION, "www.example.test", "ignored.test", "www.example.test");
	session(&f, TLS1_2_VERSION, "WWW.Example.Test", NULL, "www.example.test");
	session(&f, TLS1_3_VERSION, "127.0.0.1", "127.0.0.1", "127.0.0.1");
	session(&f, TLS1_2_VERSION, "[::1]", "[::1]", "::1");
	resumption(&f, TLS1_3_VERSION, "resume13.test");
	resumption(&f, TLS1_2_VERSION, "resume12.test");
	full_records(&f, TLS1_3_VERSION);
	full_records(&f, TLS1_2_VERSION);
	no_name(&f);
	eof_midway(&f);
	garbage_in(&f);
	test_fixture_fini(&f);
	return check_done("conn");
}
