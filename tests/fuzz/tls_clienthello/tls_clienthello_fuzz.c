/* tests/fuzz/tls_clienthello/tls_clienthello_fuzz.c - libFuzzer driver for
 * tls_sniff_client_hello: any input must give one of the documented results, never read outside the
 * buffer (ASan), and a recognised hello must report sane fields. Seeds:
 *   mkdir seeds && RINGCAP_SEED_DIR=seeds build/tests/tls/tls_sniff_test
 *   build-fuzz/tests/tls/tls_clienthello_fuzz -max_total_time=60 seeds */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_hello h;
	/* A private copy sized exactly, so ASan sees any overread. */
	uint8_t *buf = malloc(size ? size : 1);
	int rc;

	if (buf == NULL)
		return 0;
	if (size)
		memcpy(buf, data, size);
	rc = tls_sniff_client_hello(buf, size, &h);
	if (rc > 0) {
		if ((size_t)rc > size || h.hello_len != (size_t)rc)
			abort();
		if (h.sni_len > TLS_NAME_MAX || strlen(h.sni) != h.sni_len)
			abort();
	} else if (rc != -EAGAIN && rc != -EBADMSG && rc != -EPROTONOSUPPORT) {
		abort();
	}
	free(buf);
	return 0;
}
