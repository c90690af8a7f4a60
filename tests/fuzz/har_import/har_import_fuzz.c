/*
 * tests/fuzz/har_import/har_import_fuzz.c - libFuzzer target for the HAR reader
 * (tools/views/import_har.c): the input is a HAR file read through a pipe-
 * less memfd, so the scanner, jansson per entry and the mapping onto a
 * stored exchange all see it. Checked beyond ASan/UBSan: the result is an
 * entry count or a documented error, an error always carries a message
 * (a JSON path or a byte offset), success never does; every entry handed
 * over has heads that end with a blank line, spans within its lengths,
 * a status below 1000 and a known type, error and HTTP version.
 *
 * Built with -DRC_FUZZ_STANDALONE it is a deterministic smoke run (the
 * 'har_import_fuzz_smoke' test): HARs assembled from HAR tokens and
 * random bytes, so the normal suites exercise the target too.
 */
#include <assert.h>
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tools/views/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t accepted; /* inputs read as a HAR (the smoke run reports it) */

static int on_entry(void *ctx, const struct rc_har_xch *x)
{
	size_t *n = ctx;
	assert(x->index == (*n)++);
	assert(x->req_head_len >= 4 && memcmp(x->req_head + x->req_head_len - 4, "\r\n\r\n", 4) == 0);
	assert(x->resp_head_len == 0 ||
	       memcmp(x->resp_head + x->resp_head_len - 4, "\r\n\r\n", 4) == 0);
	assert(x->status < 1000 && x->type < SEG_T_COUNT && x->error < SEG_E_COUNT);
	assert(x->http_version == 10 || x->http_version == 11 || x->http_version == 20);
	assert(x->host_len <= SEG_HOST_MAX && strlen(x->host) == x->host_len);
	assert(x->reason_len <= SEG_REASON_MAX && x->err_msg_len <= SEG_ERRMSG_MAX);
	assert(x->client_name_len <= SEG_CLIENT_NAME_MAX);
	assert(x->status != 0 || x->resp_head_len == 0);
	for (int d = 0; d < 2; d++)
		assert(x->body_len[d] == 0 || x->body[d] != NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	int fd = memfd_create("har", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	lseek(fd, 0, SEEK_SET);
	char err[512];
	size_t n = 0;
	long r = rc_har_read(fd, on_entry, &n, err, sizeof(err));
	close(fd);
	assert(r >= 0 || r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
	assert((r < 0) == (err[0] != '\0'));
	assert(r < 0 || (size_t)r == n);
	accepted += r >= 0;
	return 0;
}

#ifdef RC_FUZZ_STANDALONE
#include <stdio.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	static const char *const tok[] = {
		"{\"log\":{\"entries\":[", "]}}", "{", "}", "[", "]", ",", ":", "\"", "\\",
		"\"request\":", "\"response\":", "\"url\":\"http://h/a?b=c\"", "\"method\":\"GET\"",
		"\"headers\":[{\"name\":\"A\",\"value\":\"b\"}]", "\"status\":200", "\"status\":-1",
		"\"content\":{\"text\":\"aGk=\",\"encoding\":\"base64\",\"mimeType\":\"text/html\"}",
		"\"postData\":{\"mimeType\":\"application/json\",\"params\":[{\"name\":\"a\",\"value\":1}]}",
		"\"timings\":{\"dns\":1.5,\"connect\":-1,\"ssl\":3,\"wait\":1e308}", "\"time\":2",
		"\"startedDateTime\":\"2023-11-14T22:13:20.123+02:00\"", "\"_client\":\"::1\"",
		"\"_flags\":[\"tls\",\"media\"]", "\"_error\":\"dns\"", "\"httpVersion\":\"h2\"",
		"null", "true", "1", "\"x\"", " ", "\n", "\"log\"", "\"entries\"",
	};
	static uint8_t buf[8192];
	static const char head[] = "{\"log\":{\"entries\":[{\"request\":{\"method\":\"GET\","
				   "\"url\":\"http://h.test/a\",";
	static const char tail[] = "\"x\":1}}]}}";
	for (int it = 0; it < 20000; it++) {
		size_t n = 0, parts = next() % 60;
		bool framed = it % 2 == 0;
		if (framed) {
			memcpy(buf, head, sizeof(head) - 1);
			n = sizeof(head) - 1;
		}
		for (size_t k = 0; k < parts && n < sizeof(buf) - 128; k++) {
			if (next() % 10 == 0) {
				buf[n++] = (uint8_t)next();
				continue;
			}
			const char *t = tok[next() % (sizeof(tok) / sizeof(tok[0]))];
			if (framed && next() % 3 == 0)
				t = next() % 2 ? "\"method\":\"POST\"," : "\"url\":\"https://a.b:8/c\",";
			memcpy(buf + n, t, strlen(t));
			n += strlen(t);
		}
		if (framed) {
			memcpy(buf + n, tail, sizeof(tail) - 1);
			n += sizeof(tail) - 1;
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("har import fuzz smoke: 20000 inputs, %zu read as a HAR\n", accepted);
	if (accepted < 100)
		return 1; /* the generator no longer reaches the entry mapping */
	return 0;
}
#endif
