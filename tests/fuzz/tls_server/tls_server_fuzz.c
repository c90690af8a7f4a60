/* tests/fuzz/tls_server/tls_server_fuzz.c - libFuzzer driver for the
 * client-facing side: arbitrary bytes fed to a server-role tls_conn (ClientHello parsing in BoringSSL,
 * our select-certificate callback, SNI normalization, leaf minting and the
 * connection buffers). Every input must end in -EAGAIN, -EPROTO or a
 * finished handshake, without leaks or out-of-bounds accesses. The CA
 * lives in a temporary directory created on the first input, under
 * $RINGCAP_FUZZ_TMP (tests/fuzz/run.sh removes it) or /tmp (left behind:
 * remove /tmp/ringcap-fuzz-* after a run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_server *srv;
static struct tls_leaf_cache *cache;

static void setup(void)
{
	static char dir[256];
	struct tls_ca *ca = NULL;
	struct tls_mint *m = NULL;
	char err[TLS_ERR_MAX];

	/* tests/fuzz/run.sh gives each run its own directory */
	const char *own = getenv("RINGCAP_FUZZ_TMP");
	snprintf(dir, sizeof(dir), "%s/ringcap-fuzz-XXXXXX", own ? own : "/tmp");
	if (mkdtemp(dir) == NULL || tls_ca_open(dir, "fuzz", &ca, err, sizeof(err)) < 0 ||
	    tls_mint_new(ca, 256, &m) < 0 || tls_server_new(m, NULL, &srv) < 0 ||
	    tls_leaf_cache_new(m, 64, &cache) < 0) {
		fprintf(stderr, "fuzz setup failed\n");
		abort();
	}
	/* ca, m, srv and cache live for the whole run. */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_conn *c = NULL;
	uint8_t out[4096];
	int rc;

	if (srv == NULL)
		setup();
	if (tls_conn_new_server(srv, cache, size % 2 ? "fallback.test" : NULL, &c) < 0)
		abort();
	/* Feed in slices, as a socket would deliver it. */
	for (size_t off = 0; off < size;) {
		size_t n = tls_conn_feed(c, data + off, size - off);

		rc = tls_conn_handshake(c);
		if (rc != 0 && rc != -EAGAIN && rc != -EPROTO)
			abort();
		while (tls_conn_take(c, out, sizeof(out)) > 0)
			;
		if (rc == -EPROTO || n == 0)
			break;
		off += n;
	}
	tls_conn_free(c);
	return 0;
}
