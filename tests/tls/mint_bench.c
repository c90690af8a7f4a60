/* mint_bench.c - rates that bound HTTPS interception cost on one core:
 * cold mints (one ECDSA signature plus encoding each), shared-cache hits
 * (mutex + SipHash + up_ref), worker-cache hits (no lock, no malloc), and
 * in-memory TLS 1.3 / 1.2 handshakes (client + server role, both in this
 * thread): resumed, and full with a warm leaf cache and with a cold one. Prints a table;
 * exits 0. Usage: tls_mint_bench [seconds-per-row] (default 1). */
#include <malloc.h>
#include <time.h>

#include <openssl/pool.h>
#include <openssl/ssl.h>

#include "tests/tls/tls-test.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void row(const char *what, uint64_t n, double secs)
{
	printf("%-40s %10.0f /s  (%llu in %.2f s, %.1f us each)\n", what, (double)n / secs,
	       (unsigned long long)n, secs, secs * 1e6 / (double)n);
}

static void bench_mint(struct test_fixture *f, double dur)
{
	double t0 = now_s(), t;
	uint64_t n = 0;
	char name[64];

	do {
		CRYPTO_BUFFER *b = NULL;

		snprintf(name, sizeof(name), "host%llu.bench.test", (unsigned long long)n);
		if (tls_mint_leaf(f->mint, name, &b) < 0)
			exit(1);
		CRYPTO_BUFFER_free(b);
		n++;
	} while ((t = now_s()) - t0 < dur);
	row("cold mint (sign + encode)", n, t - t0);
}

static void bench_hits(struct test_fixture *f, double dur)
{
	double t0, t;
	uint64_t n = 0;
	char names[16][32];

	for (int i = 0; i < 16; i++) {
		CRYPTO_BUFFER *b = NULL;

		snprintf(names[i], sizeof(names[i]), "hit%d.bench.test", i);
		tls_leaf_cache_get(f->cache, names[i], &b);
		tls_mint_get(f->mint, names[i], &b);
		CRYPTO_BUFFER_free(b);
	}
	t0 = now_s();
	do {
		for (int i = 0; i < 1000; i++) {
			CRYPTO_BUFFER *b = NULL;

			tls_mint_get(f->mint, names[i & 15], &b);
			CRYPTO_BUFFER_free(b);
		}
		n += 1000;
	} while ((t = now_s()) - t0 < dur);
	row("shared cache hit (mutex)", n, t - t0);
	n = 0;
	t0 = now_s();
	do {
		for (int i = 0; i < 1000; i++) {
			CRYPTO_BUFFER *b = NULL;

			tls_leaf_cache_get(f->cache, names[i & 15], &b);
		}
		n += 1000;
	} while ((t = now_s()) - t0 < dur);
	row("worker cache hit", n, t - t0);
}

/* Replaces the fixture's upstream context, with or without resumption. */
static void swap_client(struct test_fixture *f, bool no_resumption)
{
	struct tls_client_opts o = {.trust_file = tls_ca_cert_path(f->ca),
				    .no_resumption = no_resumption};
	char err[TLS_ERR_MAX];

	tls_client_free(f->client);
	if (tls_client_new(&o, &f->client, err, sizeof(err)) < 0)
		exit(1);
}

static void bench_handshakes(struct test_fixture *f, int version, bool cold,
			     const char *kind, double dur)
{
	double t0 = now_s(), t;
	uint64_t n = 0, resumed = 0;
	char name[64], label[80];

	do {
		struct tls_conn *cl = NULL, *sv = NULL;

		snprintf(name, sizeof(name), cold ? "hs%llu.cold.test" : "warm.test",
			 (unsigned long long)n);
		if (tls_conn_new_client(f->client, name, &cl) < 0 ||
		    tls_conn_new_server(f->server, f->cache, NULL, &sv) < 0)
			exit(1);
		SSL_set_max_proto_version(cl->ssl, (uint16_t)version);
		if (test_handshake(cl, sv) != 0) {
			fprintf(stderr, "handshake: %s %s\n", tls_conn_error(cl), tls_conn_error(sv));
			exit(1);
		}
		/* One byte of response: BoringSSL sends TLS 1.3 tickets with the
		 * server's first write, and the client takes them on its read. */
		if (tls_conn_write(sv, "x", 1) != 1 || test_pump(cl, sv) == 0 ||
		    tls_conn_read(cl, name, 1) != 1)
			exit(1);
		resumed += tls_conn_resumed(cl);
		tls_conn_free(cl);
		tls_conn_free(sv);
		n++;
	} while ((t = now_s()) - t0 < dur);
	snprintf(label, sizeof(label), "%s handshake pair %s, %s leaf cache", kind,
		 version == TLS1_3_VERSION ? "TLS1.3" : "TLS1.2", cold ? "cold" : "warm");
	row(label, n, t - t0);
	if (strcmp(kind, "resumed") == 0)
		printf("  (%llu of %llu resumed)\n", (unsigned long long)resumed,
		       (unsigned long long)n);
}

/* Heap bytes held per established, idle connection (server and client
 * role measured together, then halved as a rough per-side figure). */
static void bench_memory(struct test_fixture *f)
{
	enum { N = 200 };
	static struct tls_conn *cl[N], *sv[N];
	struct mallinfo2 before = mallinfo2(), after;

	for (int i = 0; i < N; i++) {
		if (tls_conn_new_client(f->client, "mem.test", &cl[i]) < 0 ||
		    tls_conn_new_server(f->server, f->cache, NULL, &sv[i]) < 0 ||
		    test_handshake(cl[i], sv[i]) != 0)
			exit(1);
	}
	after = mallinfo2();
	printf("%-40s %10zu bytes per side\n", "heap per idle established conn",
	       (after.uordblks - before.uordblks) / N / 2);
	for (int i = 0; i < N; i++) {
		tls_conn_free(cl[i]);
		tls_conn_free(sv[i]);
	}
}

int main(int argc, char **argv)
{
	double dur = argc > 1 ? atof(argv[1]) : 1.0;
	struct test_fixture f;

	if (dur <= 0)
		dur = 1.0;
	test_fixture_init(&f, NULL);
	bench_mint(&f, dur);
	bench_hits(&f, dur);
	bench_handshakes(&f, TLS1_3_VERSION, false, "resumed", dur);
	swap_client(&f, true);
	bench_handshakes(&f, TLS1_3_VERSION, false, "full", dur);
	bench_handshakes(&f, TLS1_3_VERSION, true, "full", dur);
	bench_handshakes(&f, TLS1_2_VERSION, false, "full", dur);
	bench_memory(&f);
	test_fixture_fini(&f);
	return 0;
}
