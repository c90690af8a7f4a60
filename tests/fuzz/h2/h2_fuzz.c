/*
 * tests/fuzz/h2/h2_fuzz.c - libFuzzer target for the HTTP/2 server session
 * (engine/h2.c) as clients reach it: the whole engine in process (1
 * worker, small buffers, short timeouts, every source instrumented) with
 * TLS interception on and h2 in ALPN. Each input is one client
 * connection: CONNECT, a TLS handshake that selects h2, the client
 * connection preface, then the input's bytes as HTTP/2 frames in TLS
 * records of fuzzer-chosen sizes.
 *
 * The upstream is a loopback listener that closes each connection when
 * the proxy's TLS ClientHello arrives: every stream that becomes an exchange gets the proxy's own
 * 502 answer, so the fuzzer reaches stream start, request writing,
 * response reading back (heads, bodies, errors), resets and the
 * connection's end, without a TLS origin.
 *
 * Input: byte 0 = record sizes (low nibble + 1 and high nibble * 64 + 1
 * bytes, alternating), then the frames. Checked beyond ASan/UBSan in the
 * engine: the proxy closes the client connection within a bound, every
 * exchange the capture sink saw begin ends exactly once, and every 64
 * inputs a well-formed h2 GET still gets its answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "engine/eng.h"
#include "tls/tls.h"
#include "tests/fuzz/eng-fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define IN_MAX 16384
#define DRAIN_MS 5000   /* a connection must be closed by then */

static SSL_CTX *cctx;
/* TLS objects the engine borrows: kept here, freed after eng_stop */
static struct tls_ca *ca;
static struct tls_mint *mint;
static struct tls_server *srv;
static struct tls_client *cli;

static const struct eng_sink_ops sink_ops = { .open = s_open, .begin = s_begin, .end = s_end };

/* One upstream connection: closed once the proxy's TLS ClientHello (or
 * anything) arrives. Closing at once would end the CONNECT itself (a
 * parked upstream that hangs up fails its tunnel). */
static void *upstream_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 4 && recv(fd, buf, sizeof(buf), 0) < 0 && errno == EINTR; i++)
		;
	close(fd);
	return NULL;
}

static void stop_engine(void)
{
	if (E)
		eng_stop(E);
	E = NULL;
	tls_server_free(srv);
	tls_client_free(cli);
	tls_mint_free(mint);
	tls_ca_free(ca);
	SSL_CTX_free(cctx);
}

/* TLS interception with a CA made in a fresh directory, h2 on. */
static void tls_setup(struct eng_config *c)
{
	char dir[] = "/tmp/h2-fuzz-XXXXXX", err[256];
	struct tls_client_opts co = { .insecure_all = true };
	if (mkdtemp(dir) == NULL || tls_ca_open(dir, NULL, &ca, err, sizeof(err)) < 0 ||
	    tls_mint_new(ca, 0, &mint) < 0 || tls_server_new(mint, NULL, &srv) < 0 ||
	    tls_client_new(&co, &cli, err, sizeof(err)) < 0) {
		fprintf(stderr, "h2_fuzz: TLS set-up failed\n");
		abort();
	}
	tls_server_set_h2(srv, true);
	c->tls_server = srv;
	c->tls_client = cli;
	c->tls_mint = mint;
	cctx = SSL_CTX_new(TLS_method());
	static const uint8_t alpn[] = { 2, 'h', '2' };
	if (cctx == NULL || SSL_CTX_set_alpn_protos(cctx, alpn, sizeof(alpn)) != 0)
		abort();
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
}

static void size(struct eng_config *c)
{
	c->max_conns = 256;
	c->buf_count = 256;
	c->buf_size = 4096;
	c->tls_buffers = 512;
	c->head_buffers = 64;
	c->h2_max_streams = 16;
	c->nconnect_ports = 0;
	tls_setup(c);
}

static void setup(void)
{
	eng_fuzz_start("h2_fuzz", &sink_ops, upstream_conn, size);
	atexit(stop_engine);
}

/* What the proxy counted, for a refusal that must not happen. */
static void dump_counters(void)
{
	struct eng_counters k;
	eng_counters(E, &k);
	fprintf(stderr, "h2_fuzz: proxy: %llu handshakes, %llu failed\n",
		(unsigned long long)k.tls_handshakes, (unsigned long long)k.tls_failures);
	for (int i = 0; i < ENG_ERR_COUNT; i++)
		if (k.errors[i])
			fprintf(stderr, "h2_fuzz:   %s: %llu\n", eng_err_name((enum eng_err)i),
				(unsigned long long)k.errors[i]);
}

/* CONNECT to the upstream and a TLS handshake selecting h2; NULL when the
 * proxy refused (it must not: abort). */
static SSL *open_h2(int *fdp)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(proxy_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		abort();   /* the proxy stopped accepting */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = { .tv_sec = 10 };   /* a cold leaf is minted under ASan */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char req[128], head[256];
	int n = snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: x\r\n\r\n",
			 up_port);
	size_t got = 0;
	send(fd, req, (size_t)n, MSG_NOSIGNAL);
	/* a signal (libFuzzer's timer) interrupts a recv with a timeout
	 * (EINTR, not restarted): go on until the deadline */
	uint64_t until = now_ms() + 20000u;
	int err = 0;
	while (got < sizeof(head) - 1 && !memmem(head, got, "\r\n\r\n", 4)) {
		ssize_t r = recv(fd, head + got, 1, 0);
		if (r < 0 && errno == EINTR && now_ms() < until)
			continue;
		if (r <= 0) {
			err = r < 0 ? errno : 0;
			break;
		}
		got += (size_t)r;
	}
	SSL *ssl = SSL_new(cctx);
	if (got < 12 || memcmp(head, "HTTP/1.1 200", 12) != 0 || ssl == NULL) {
		fprintf(stderr, "h2_fuzz: CONNECT refused (%s): %.*s\n",
			err ? strerror(err) : "closed", (int)got, head);
		dump_counters();
		abort();
	}
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	const uint8_t *proto = NULL;
	unsigned plen = 0;
	/* a blocking handshake may still come back wanting to read: a signal
	 * (libFuzzer's timer) interrupts a recv; go on until the deadline */
	int rc;
	until = now_ms() + 20000u;
	while ((rc = SSL_connect(ssl)) != 1 && now_ms() < until) {
		int e = SSL_get_error(ssl, rc);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;
	}
	if (rc == 1)
		SSL_get0_alpn_selected(ssl, &proto, &plen);
	if (rc != 1 || plen != 2) {
		fprintf(stderr, "h2_fuzz: no h2 handshake (%d, error %d, alpn %u)\n", rc,
			SSL_get_error(ssl, rc), plen);
		dump_counters();
		abort();
	}
	*fdp = fd;
	return ssl;
}

/* Sends the preface and the frames in records of chosen sizes, then reads
 * until the proxy closes. false: it never closed. */
static bool client(const uint8_t *p, size_t n, uint8_t sel)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	int fd;
	SSL *ssl = open_h2(&fd);
	SSL_write(ssl, preface, sizeof(preface) - 1);
	for (unsigned i = 0; n > 0 && i < IN_MAX; i++) {
		size_t k = i % 2 ? 1u + (sel >> 4) * 64u : 1u + (sel & 15u);
		k = k < n ? k : n;
		if (SSL_write(ssl, p, (int)k) <= 0)
			break;
		p += k;
		n -= k;
	}
	SSL_write(ssl, "\0\0\x08\x07\0\0\0\0\0\0\0\0\0\0\0\0\0", 17);   /* GOAWAY */
	bool closed = false;
	uint64_t end = now_ms() + DRAIN_MS;
	char buf[4096];
	for (unsigned i = 0; i < 1u << 20 && now_ms() < end; i++) {
		int r = SSL_read(ssl, buf, sizeof(buf));
		if (r > 0)
			continue;
		int e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EINTR))
			continue;
		closed = true;
		break;
	}
	SSL_free(ssl);
	close(fd);
	return closed;
}

/* A well-formed GET on stream 1 (HPACK: :method GET, :scheme https,
 * :path /, :authority x as static-table and literal fields). */
static void sanity(void)
{
	static const uint8_t get[] = {
		0, 0, 6, 1, 5, 0, 0, 0, 1,      /* HEADERS, END_STREAM|END_HEADERS */
		0x82, 0x87, 0x84, 0x41, 0x01, 'x',
	};
	long b0 = atomic_load(&begins);
	if (!client(get, sizeof(get), 0xff) || atomic_load(&begins) == b0) {
		fprintf(stderr, "h2_fuzz: the proxy stopped serving h2\n");
		abort();
	}
}

/* No leak checks between inputs: the engine keeps per-connection pointers
 * (TLS states, HTTP/2 sessions) in mmap'd arrays (eng_array_alloc,
 * tls/pool.c) that LeakSanitizer does not scan, so a connection alive
 * across inputs (a pooled upstream) reads as a leak. The check at exit,
 * after eng_stop freed everything, still runs. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *args[64];
	static char no_leaks[] = "-detect_leaks=0";
	int n = *argc < 62 ? *argc : 62;
	memcpy(args, *argv, (size_t)n * sizeof(args[0]));
	args[n] = no_leaks;
	args[n + 1] = NULL;
	*argc = n + 1;
	*argv = args;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned runs;
	if (E == NULL)
		setup();
	if (size < 1 || size > IN_MAX)
		return 0;
	long b0 = atomic_load(&begins);
	if (!client(data + 1, size - 1, data[0])) {
		fprintf(stderr, "h2_fuzz: client connection not closed within %d ms\n", DRAIN_MS);
		abort();
	}
	eng_fuzz_check_ends("h2_fuzz", b0, 1000);
	if (++runs % 64 == 0)
		sanity();
	return 0;
}
