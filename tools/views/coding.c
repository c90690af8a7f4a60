/*
 * tools/views/coding.c - Content-Encoding undone for reading (coding.h).
 * The output grows by doubling from 1 KiB, so a small body costs little
 * and a bomb stops at max_out after at most RC_INFLATE_STEPS rounds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "tools/views/coding.h"

_Static_assert((1024ull << RC_INFLATE_STEPS) > (1ull << 32),
	       "the doublings reach past any max_out a size_t of 32 bits holds");

const char *rc_content_coding(const uint8_t *head, size_t head_len, size_t *len)
{
	static const char name[] = "content-encoding:";
	const size_t nl = sizeof(name) - 1;
	const char *h = (const char *)head, *end = h + head_len;
	*len = 0;
	for (const char *p = h ? memchr(h, '\n', head_len) : NULL; p && p + 1 + nl < end;
	     p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		if (strncasecmp(p + 1, name, nl) != 0)
			continue;
		const char *v = p + 1 + nl, *e;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		for (e = v; e < end && *e != '\r' && *e != '\n'; e++)
			;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == v || ((size_t)(e - v) == 8 && strncasecmp(v, "identity", 8) == 0))
			return NULL;
		*len = (size_t)(e - v);
		return v;
	}
	return NULL;
}

/* p[0..n) inflated with zlib's window bits wbits (15+32: gzip or zlib
 * wrapped; -15: raw deflate); see rc_body_decode. */
static long inflate_body(const uint8_t *p, size_t n, int wbits, size_t max_out, uint8_t **out,
			 bool *cut)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	size_t cap = 1024, len = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL || n > UINT32_MAX || inflateInit2(&z, wbits) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	int zr = Z_OK;
	*cut = false;
	for (unsigned step = 0; step < RC_INFLATE_STEPS; step++) {
		z.next_out = buf + len;
		z.avail_out = (uInt)(cap - len);
		zr = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			break;                  /* the end, or bytes that are not deflate */
		if (z.avail_out > 0)
			break;                  /* the input is used up: a body stored short */
		if (cap >= max_out || cap > UINT32_MAX / 2) {
			*cut = true;
			break;
		}
		uint8_t *bigger = realloc(buf, cap * 2);
		if (bigger == NULL) {
			zr = Z_MEM_ERROR;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	inflateEnd(&z);
	if (zr != Z_OK && zr != Z_BUF_ERROR && zr != Z_STREAM_END) {
		free(buf);
		return zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
	}
	*out = buf;
	return (long)len;
}

/* 31: gzip, 15: deflate (zlib-wrapped, as RFC 9110 means it), 0: a coding
 * zlib does not speak. */
static int coding_wbits(const char *ce, size_t cel)
{
	if ((cel == 4 && !strncasecmp(ce, "gzip", 4)) || (cel == 6 && !strncasecmp(ce, "x-gzip", 6)))
		return 31;
	return cel == 7 && !strncasecmp(ce, "deflate", 7) ? 15 : 0;
}

long rc_body_encode(const char *ce, size_t cel, const uint8_t *p, size_t n, uint8_t **out)
{
	int wbits = coding_wbits(ce, cel);
	*out = NULL;
	if (wbits == 0)
		return -ENOTSUP;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (n > UINT32_MAX / 2 || deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8,
					       Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	size_t cap = deflateBound(&z, (uLong)n);
	uint8_t *buf = malloc(cap);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	/* deflateBound is enough for one Z_FINISH call */
	int zr = buf ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
	deflateEnd(&z);
	if (zr != Z_STREAM_END) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return (long)(cap - z.avail_out);
}

bool rc_body_coded(const char *ce, size_t cel, const uint8_t *p, size_t n)
{
	int wbits = coding_wbits(ce, cel);
	if (wbits == 31)
		return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
	if (wbits != 15 || n < 2 || n > UINT32_MAX || (p[0] & 0x0f) != 8 ||
	    ((p[0] << 8) | p[1]) % 31 != 0)
		return false;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return false;
	uint8_t sink[16384];
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	int zr;
	size_t rounds = 0;
	do {   /* the output is dropped: only the stream's end matters */
		z.next_out = sink;
		z.avail_out = sizeof(sink);
		zr = inflate(&z, Z_NO_FLUSH);
	} while (zr == Z_OK && z.avail_out == 0 && ++rounds < RC_EXPORT_DECODED_MAX / sizeof(sink));
	inflateEnd(&z);
	/* inflating on past RC_EXPORT_DECODED_MAX: deflate, whatever its end */
	return zr == Z_STREAM_END || (zr == Z_OK && z.avail_out == 0);
}

long rc_body_decode(const char *ce, size_t cel, const uint8_t *p, size_t n, size_t max_out,
		    uint8_t **out, bool *cut)
{
	int wbits = coding_wbits(ce, cel);
	bool deflate = wbits == 15;
	*out = NULL;
	*cut = false;
	if (wbits == 0)
		return -ENOTSUP;
	long m = inflate_body(p, n, 15 + 32, max_out, out, cut);
	if (m == -EBADMSG && deflate)   /* raw deflate, as some servers send it */
		m = inflate_body(p, n, -15, max_out, out, cut);
	return m;
}
