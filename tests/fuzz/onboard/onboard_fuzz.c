/*
 * tests/fuzz/onboard/onboard_fuzz.c - libFuzzer target for the ringcap.cert
 * answers: the request path is peer input. The first byte picks the page
 * buffer size and the subject; the rest is the path, copied to the end of
 * a heap block so a read past it trips ASan.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/onboard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t cert[] = "-----BEGIN CERTIFICATE-----\n";
	static char page[ENG_ONBOARD_PAGE_MAX];
	struct eng_onboard_ca ca = {
		.pem = cert, .pem_len = sizeof(cert) - 1,
		.der = cert, .der_len = 4,
		.p12 = (size & 1) ? cert : NULL, .p12_len = 8,
		.fingerprint = "AB:CD",
	};
	struct eng_onboard_reply r;
	size_t cap;
	char *path;
	int rc;

	if (size < 1 || size > 4096)
		return 0;
	cap = data[0] & 0x80 ? sizeof(page) : (size_t)data[0] * 64;
	ca.subject = data[0] & 0x40 ? "<&\"'>" : NULL;
	path = malloc(size - 1 ? size - 1 : 1);
	if (path == NULL)
		return 0;
	memcpy(path, data + 1, size - 1);
	rc = eng_onboard_answer(path, size - 1, &ca, cap ? page : NULL, cap, &r);
	assert(rc == 0 || rc == -ENOSPC);
	if (rc == 0) {
		char head[ENG_ONBOARD_HEAD_MAX];

		assert(r.status == 200 || r.status == 404);
		assert(r.body_len == r.piece[0].len + r.piece[1].len);
		assert(r.piece[0].p != NULL && r.body_len > 0);
		assert(eng_onboard_write_head(&r, size & 2, head, sizeof(head)) > 0);
		if (r.piece[0].p == page)
			assert(r.body_len <= cap);
	}
	free(path);
	return 0;
}
