/* sniff_test.c - ClientHello sniffing on real first flights captured from
 * client-role connections (TLS 1.3 and 1.2, DNS and IP hosts), the same
 * hello split across records, every truncation (input placed against a
 * guard page, so a read past the end faults), plain HTTP and other
 * garbage, malformed lengths, and thousands of random mutations. */
#include <sys/mman.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tests/tls/tls-test.h"

#define HELLO_MAX 4096

static uint8_t *guard_base;
static size_t page;

/* Copies BUF to the end of a page followed by an inaccessible page. */
static const uint8_t *guarded(const uint8_t *buf, size_t len)
{
	uint8_t *dst = guard_base + page - len;

	memcpy(dst, buf, len);
	return dst;
}

static int sniff(const uint8_t *buf, size_t len, struct tls_hello *h)
{
	return tls_sniff_client_hello(guarded(buf, len), len, h);
}

/* With RINGCAP_SEED_DIR set, each captured hello is also written there as
 * a seed for tls_clienthello_fuzz. */
static void save_seed(const char *host, const uint8_t *buf, size_t len)
{
	const char *dir = getenv("RINGCAP_SEED_DIR");
	char path[512];
	FILE *fp;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/hello-%s-%zu", dir, host, len);
	fp = fopen(path, "wb");
	if (fp != NULL) {
		fwrite(buf, 1, len, fp);
		fclose(fp);
	}
}

static size_t capture(struct tls_client *cl, const char *host, int version, uint8_t *out)
{
	struct tls_conn *c = NULL;
	size_t n = 0;

	CHECK_EQ(tls_conn_new_client(cl, host, &c), 0);
	if (c == NULL)
		return 0;
	SSL_set_max_proto_version(c->ssl, (uint16_t)version);
	CHECK_EQ(tls_conn_handshake(c), -EAGAIN);
	n = tls_conn_take(c, out, HELLO_MAX);
	CHECK(n > 0 && tls_conn_pending_out(c) == 0);
	save_seed(host, out, n);
	tls_conn_free(c);
	return n;
}

/* Every strict prefix needs more; the whole is recognised. */
static void prefixes(const uint8_t *buf, size_t len, const char *sni)
{
	struct tls_hello h;

	for (size_t i = 0; i < len; i++) {
		int rc = sniff(buf, i, &h);

		if (rc != -EAGAIN) {
			fprintf(stderr, "prefix %zu of %zu: %d\n", i, len, rc);
			CHECK_EQ(rc, -EAGAIN);
			return;
		}
	}
	CHECK_EQ(sniff(buf, len, &h), (int)len);
	CHECK_EQ(h.hello_len, len);
	CHECK_STR(h.sni, sni);
	CHECK_EQ(h.sni_len, strlen(sni));
	CHECK(h.alpn_http11);
	CHECK(!h.alpn_h2);
}

/* Re-frames a single-record hello as two records split at handshake
 * offset AT. */
static size_t split(const uint8_t *in, size_t len, size_t at, uint8_t *out)
{
	size_t body = len - 5, second = body - at;

	memcpy(out, in, 3);
	out[3] = (uint8_t)(at >> 8);
	out[4] = (uint8_t)at;
	memcpy(out + 5, in + 5, at);
	memcpy(out + 5 + at, in, 3);
	out[5 + at + 3] = (uint8_t)(second >> 8);
	out[5 + at + 4] = (uint8_t)second;
	memcpy(out + 10 + at, in + 5 + at, second);
	return len + 5;
}

static void garbage(const uint8_t *hello, size_t len)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
	static const uint8_t zero_rec[] = {0x16, 0x03, 0x01, 0x00, 0x00};
	static const uint8_t huge_rec[] = {0x16, 0x03, 0x01, 0x48, 0x01, 0x01};
	static const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0, 0, 0};
	static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
	uint8_t buf[HELLO_MAX];
	struct tls_hello h;

	CHECK_EQ(sniff((const uint8_t *)http, sizeof(http) - 1, &h), -EPROTONOSUPPORT);
	CHECK_EQ(sniff((const uint8_t *)http, 1, &h), -EPROTONOSUPPORT);
	CHECK_EQ(sniff(sslv2, sizeof(sslv2), &h), -EPROTONOSUPPORT);
	CHECK_EQ(sniff(alert, sizeof(alert), &h), -EPROTONOSUPPORT);
	CHECK_EQ(sniff((const uint8_t *)"\x16\x04", 2, &h), -EPROTONOSUPPORT);
	CHECK_EQ(sniff((const uint8_t *)"\x16\x03\x09", 3, &h), -EPROTONOSUPPORT);
	CHECK_EQ(sniff(zero_rec, sizeof(zero_rec), &h), -EBADMSG);
	CHECK_EQ(sniff(huge_rec, sizeof(huge_rec), &h), -EBADMSG);
	CHECK_EQ(sniff(server_hello, sizeof(server_hello), &h), -EBADMSG);
	CHECK_EQ(sniff((const uint8_t *)"", 0, &h), -EAGAIN);

	/* Handshake length past the record and past our bound. */
	memcpy(buf, hello, len);
	buf[6] = 0x7f;
	CHECK_EQ(sniff(buf, len, &h), -EBADMSG);
	/* A second record that is not a handshake record. */
	split(hello, len, 100, buf);
	buf[5 + 100] = 0x17;
	CHECK_EQ(sniff(buf, len + 5, &h), -EBADMSG);
	/* Record length shorter than the message with nothing after it. */
	memcpy(buf, hello, len);
	CHECK_EQ(sniff(buf, len - 1, &h), -EAGAIN);
	/* Trailing bytes after the hello are not part of it. */
	memcpy(buf, hello, len);
	memcpy(buf + len, "\x17\x03\x03", 3);
	CHECK_EQ(sniff(buf, len + 3, &h), (int)len);
}

static void mutations(const uint8_t *hello, size_t len)
{
	uint8_t buf[HELLO_MAX], rnd[4];
	struct tls_hello h;

	for (int i = 0; i < 20000; i++) {
		size_t pos, cut;
		int rc;

		memcpy(buf, hello, len);
		RAND_bytes(rnd, sizeof(rnd));
		pos = ((size_t)rnd[0] << 8 | rnd[1]) % len;
		buf[pos] ^= (uint8_t)(rnd[2] | 1);
		cut = i % 4 == 0 ? len - rnd[3] % 16 : len;
		rc = sniff(buf, cut, &h);
		CHECK(rc > 0 || rc == -EAGAIN || rc == -EBADMSG || rc == -EPROTONOSUPPORT);
		if (rc > 0) {
			CHECK((size_t)rc <= cut);
			CHECK(h.sni_len <= TLS_NAME_MAX);
			CHECK_EQ(strlen(h.sni), h.sni_len);
		}
	}
}

static void invalid_sni(const uint8_t *hello, size_t len)
{
	uint8_t buf[HELLO_MAX];
	struct tls_hello h;
	uint8_t *p;

	memcpy(buf, hello, len);
	p = memmem(buf, len, "www.example.com", 15);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	p[3] = '/';
	CHECK_EQ(sniff(buf, len, &h), (int)len);
	CHECK_EQ(h.sni_len, 0);
	CHECK_STR(h.sni, "");
}

int main(void)
{
	struct test_fixture f;
	uint8_t hello[HELLO_MAX], two[HELLO_MAX + 5];
	struct tls_hello h;
	size_t len;

	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED || mprotect(guard_base + page, page, PROT_NONE) < 0)
		return 1;
	test_fixture_init(&f, NULL);

	len = capture(f.client, "www.example.com", TLS1_3_VERSION, hello);
	CHECK(len > 100 && len < HELLO_MAX / 2);
	prefixes(hello, len, "www.example.com");
	for (size_t at = 1; at < len - 5; at += 37) {
		size_t n = split(hello, len, at, two);

		CHECK_EQ(sniff(two, n, &h), (int)n);
		CHECK_STR(h.sni, "www.example.com");
	}
	prefixes(two, split(hello, len, 2, two), "www.example.com");
	garbage(hello, len);
	mutations(hello, len);
	invalid_sni(hello, len);

	len = capture(f.client, "Legacy.Example.ORG", TLS1_2_VERSION, hello);
	prefixes(hello, len, "legacy.example.org");

	len = capture(f.client, "192.0.2.7", TLS1_3_VERSION, hello);
	CHECK_EQ(sniff(hello, len, &h), (int)len);
	CHECK_EQ(h.sni_len, 0); /* no SNI for IP literals */

	test_fixture_fini(&f);
	munmap(guard_base, 2 * page);
	return check_done("sniff");
}
