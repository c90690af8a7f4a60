/*
 * tests/fuzz/http1/http1_fuzz.c - libFuzzer target for HTTP head handling:
 * scanner, llhttp head parse (request and response), target parse, head
 * rewrite, then the rest of the input as a body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h1_hdr hdr[100];
	static char out[70000];
	if (size < 1 || size > 65536)
		return 0;
	bool response = data[0] & 1;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct h1_scan s = {0};
	const char *why = NULL;
	int end = h1_scan(&s, p, n, 100, &why);
	if (end <= 0)
		return 0;
	struct h1_parser hp;
	struct h1_msg m = { .hdr = hdr, .hdr_cap = 100 };
	h1_parser_init(&hp, response, NULL, NULL);
	if (h1_parse_head(&hp, &m, p, (size_t)end, &why) < 0)
		return 0;
	if (response) {
		if (h1_write_response(&m, data[0] & 2, out, sizeof(out)) < 0)
			abort();
	} else {
		struct h1_target t;
		if (h1_parse_target(p + m.url_off, m.url_len, m.method == HTTP_CONNECT, &t, &why) == 0 &&
		    !t.origin_form && m.method != HTTP_CONNECT &&
		    h1_write_request(&m, &t, data[0] & 2, out, sizeof(out)) < 0)
			abort();   /* output fits: head <= 64 KiB, buffer has slack */
	}
	size_t off = (size_t)end;
	for (int i = 0; i < 64 && off < n && !hp.done; i++) {
		long used = h1_parse_body(&hp, p + off, n - off, &why);
		if (used <= 0)
			break;
		off += (size_t)used;
	}
	return 0;
}
