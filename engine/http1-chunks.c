/*
 * engine/http1-chunks.c - the chunked framing check of engine/http1.h
 * (h1_chunks_scan): chunk sizes in hex (at most H1_CHUNK_DIGITS_MAX
 * digits), extensions, the data's CRLF, and a trailer section without NUL,
 * bare LF, obs-fold, whitespace before a colon or framing fields, within
 * H1_TRAILER_MAX. A chunked body reaches llhttp only after this scan
 * accepted its framing (engine/http1.c's invariants). A byte at a time, so
 * a body may arrive in any pieces.
 */
#include <errno.h>
#include <string.h>

#include "engine/http1.h"

/* h1_chunks states. */
enum {
	CK_SIZE = 0,   /* hex digits of a chunk size */
	CK_EXT,        /* after ';' up to CR */
	CK_SIZE_LF,    /* CR of the size line seen */
	CK_DATA,       /* ck->size data bytes left */
	CK_DATA_CR,    /* CRLF after the data */
	CK_DATA_LF,
	CK_TR_START,   /* start of a trailer line (or the final CRLF) */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,      /* CR of a trailer line seen */
	CK_END_LF,     /* CR of the final empty line seen */
	CK_DONE,
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int ck_fail(const char **why, const char *msg)
{
	*why = msg;
	return -EBADMSG;
}

/* Size line bytes: 1..H1_CHUNK_DIGITS_MAX hex digits, then ';' or CR. */
static int ck_size(struct h1_chunks *ck, char c, const char **why)
{
	int v = hexval(c);
	if (v >= 0) {
		if (++ck->digits > H1_CHUNK_DIGITS_MAX)
			return ck_fail(why, "chunk size over 16 hex digits");
		ck->size = ck->size << 4 | (uint64_t)v;
		return 0;
	}
	if (ck->digits == 0 || (c != ';' && c != '\r'))
		return ck_fail(why, "invalid character in chunk size");
	if (ck->size > (uint64_t)INT64_MAX)
		return ck_fail(why, "chunk size overflows");
	if (c == ';') {
		ck->state = CK_EXT;
		ck->ext_bytes++;
	} else {
		ck->state = CK_SIZE_LF;
	}
	return 0;
}

/* A trailer field name is complete (':' seen): framing and routing fields
 * have no place in a trailer (RFC 9110 6.5.1). */
static int ck_trailer_name(struct h1_chunks *ck, const char **why)
{
	static const char *const banned[] = { "content-length", "transfer-encoding", "host" };
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		if (strlen(banned[i]) == ck->name_len &&
		    memcmp(ck->name, banned[i], ck->name_len) == 0)
			return ck_fail(why, "framing field in trailer");
	ck->state = CK_TR_VALUE;
	return 0;
}

/* One byte of the trailer section. */
static int ck_trailer(struct h1_chunks *ck, char c, const char **why)
{
	if (++ck->trailer_bytes > H1_TRAILER_MAX)
		return ck_fail(why, "trailer section too large");
	if (c == '\0')
		return ck_fail(why, "NUL byte in trailer");
	switch (ck->state) {
	case CK_TR_START:
		if (c == '\r') {
			ck->state = CK_END_LF;
			return 0;
		}
		if (c == ' ' || c == '\t')
			return ck_fail(why, "obs-fold (line folding) in trailer");
		if (c == ':' || c == '\n')
			return ck_fail(why, c == ':' ? "empty trailer name" : "bare LF in trailer");
		ck->state = CK_TR_NAME;
		ck->name_len = 0;
		/* c is the name's first byte */
		__attribute__((fallthrough));
	case CK_TR_NAME:
		if (c == ':')
			return ck_trailer_name(ck, why);
		if (c == ' ' || c == '\t')
			return ck_fail(why, "whitespace before colon in trailer");
		if (c == '\r' || c == '\n')
			return ck_fail(why, "trailer line without colon");
		if (ck->name_len < sizeof(ck->name))
			ck->name[ck->name_len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		if (ck->name_len < UINT8_MAX)
			ck->name_len++;
		return 0;
	case CK_TR_VALUE:
		if (c == '\n')
			return ck_fail(why, "bare LF in trailer");
		if (c == '\r')
			ck->state = CK_TR_LF;
		return 0;
	case CK_TR_LF:
		if (c != '\n')
			return ck_fail(why, "bare CR in trailer");
		ck->state = CK_TR_START;
		return 0;
	default:   /* CK_END_LF */
		if (c != '\n')
			return ck_fail(why, "bare CR after the last chunk");
		ck->state = CK_DONE;
		return 0;
	}
}

/* One byte of the chunk framing (everything but data bytes). */
static int ck_byte(struct h1_chunks *ck, char c, const char **why)
{
	switch (ck->state) {
	case CK_SIZE:
		return ck_size(ck, c, why);
	case CK_EXT:
		if (c == '\r') {
			ck->state = CK_SIZE_LF;
			return 0;
		}
		if (c == '\n')
			return ck_fail(why, "bare LF in chunk extension");
		if (++ck->ext_bytes > H1_CHUNK_EXT_MAX)
			return ck_fail(why, "chunk extensions over 16 KiB");
		return 0;
	case CK_SIZE_LF:
		if (c != '\n')
			return ck_fail(why, "bare CR in chunk size line");
		ck->state = ck->size == 0 ? CK_TR_START : CK_DATA;
		return 0;
	case CK_DATA_CR:
		if (c != '\r')
			return ck_fail(why, "chunk data not followed by CRLF");
		ck->state = CK_DATA_LF;
		return 0;
	case CK_DATA_LF:
		if (c != '\n')
			return ck_fail(why, "chunk data not followed by CRLF");
		ck->state = CK_SIZE;
		ck->size = 0;
		ck->digits = 0;
		return 0;
	default:
		return ck_trailer(ck, c, why);
	}
}

long h1_chunks_scan(struct h1_chunks *ck, const char *p, size_t n, const char **why)
{
	size_t i = 0;
	while (i < n && ck->state != CK_DONE) {
		if (ck->state == CK_DATA) {
			size_t take = n - i < ck->size ? n - i : (size_t)ck->size;
			i += take;
			ck->size -= take;
			if (ck->size == 0)
				ck->state = CK_DATA_CR;
			continue;
		}
		if (ck_byte(ck, p[i], why) < 0)
			return -EBADMSG;
		i++;
	}
	return (long)i;
}
