/*
 * tests/fuzz/response/response_fuzz.c - libFuzzer target for response framing as
 * engine/px-upstream.c applies it: interim 1xx heads skipped, the final head
 * parsed (HEAD request or not), rewritten for the client, the body fed in
 * slices of a fuzzer-chosen size, then EOF. Checked:
 *   - h1_parse_body never claims more bytes than it was given, and
 *     decodes no more than it consumed;
 *   - a Content-Length body that ended decoded exactly that many bytes;
 *   - a message with no body (HEAD, 204, 304) is done right after its head;
 *   - an accepted head always fits the rewrite buffer.
 *
 * Input: byte 0 bit 0 = the request was HEAD, bit 1 = close, bits 2-7 =
 * slice size - 1 (1..64); the rest is what the upstream sent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDRS_MAX 64u

static uint64_t decoded;

static void on_body(void *arg, const char *at, size_t n)
{
	(void)arg;
	(void)at;
	decoded += n;
}

/* Parses heads from p until a final one; returns its offset past the head,
 * or 0 when the input holds none. */
static size_t final_head(struct h1_parser *hp, struct h1_msg *m, const char *p, size_t n,
			 bool head_req)
{
	size_t off = 0;
	for (int i = 0; i < 8 && off < n; i++) {
		struct h1_scan s = {0};
		const char *why = NULL;
		int end = h1_scan(&s, p + off, n - off, HDRS_MAX, &why);
		if (end <= 0)
			return 0;
		hp->skip_body = head_req;
		if (h1_parse_head(hp, m, p + off, (size_t)end, &why) < 0)
			return 0;
		off += (size_t)end;
		if (m->status >= 200 || m->status == 101)
			return off;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h1_hdr hdr[HDRS_MAX];
	static char out[140000];
	if (size < 1 || size > 65536)
		return 0;
	bool head_req = data[0] & 1, close = data[0] & 2;
	size_t slice = 1u + (data[0] >> 2);
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct h1_parser hp;
	struct h1_msg m = { .hdr = hdr, .hdr_cap = HDRS_MAX };
	h1_parser_init(&hp, true, on_body, NULL);
	size_t off = final_head(&hp, &m, p, n, head_req);
	if (off == 0)
		return 0;
	if (h1_write_response(&m, close, out, sizeof(out)) < 0)
		abort();
	if ((head_req || m.status == 204 || m.status == 304) && !hp.done)
		abort();
	decoded = 0;
	size_t consumed = 0;
	const char *why = NULL;
	for (unsigned i = 0; i < 1u << 17 && off < n && !hp.done; i++) {
		size_t k = n - off < slice ? n - off : slice;
		long used = h1_parse_body(&hp, p + off, k, &why);
		if (used < 0)
			return 0;
		if ((size_t)used > k)
			abort();
		off += (size_t)used;
		consumed += (size_t)used;
		if ((size_t)used < k && !hp.done)
			abort();   /* stopped early without an end */
	}
	if (!hp.done && h1_parse_eof(&hp, &why) < 0)
		return 0;
	if (decoded > consumed)
		abort();
	if (hp.done && !m.chunked && m.content_length >= 0 && !head_req &&
	    m.status >= 200 && m.status != 204 && m.status != 304 &&
	    decoded != (uint64_t)m.content_length)
		abort();
	return 0;
}
