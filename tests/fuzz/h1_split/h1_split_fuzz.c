/*
 * tests/fuzz/h1_split/h1_split_fuzz.c - libFuzzer target: a connection's byte
 * stream (pipelined requests, or responses) cut into TCP segments at
 * fuzzer-chosen points, fed the way engine/px-*.c feed it: head bytes
 * copied into a head buffer and rescanned from where the scanner stopped,
 * then body bytes of each segment through h1_parse_body until the message
 * ends, then the next message from the rest.
 *
 * The oracle is differential: the same stream fed in one segment must give
 * the same story — per message: head accepted or refused, and for a
 * complete message the same decoded body (length and hash) and the same
 * number of bytes consumed. Splitting may only move where an error is
 * seen, never whether there is one. A "chunked framing disagreement"
 * (h1_chunks_scan and llhttp ending a body at different bytes) aborts.
 *
 * Input: byte 0 bit 0 = responses, bit 1 = the request was HEAD (responses
 * have no body); bytes 1..4 = segment lengths 1..256, used cyclically; the
 * rest is the stream.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD_MAX 8192u     /* a small --max-request-head, so 431 is reached */
#define HDRS_MAX 32u
#define MSGS_MAX 8u

enum { R_NONE = 0, R_HEAD_BAD, R_HEAD_BIG, R_BODY_BAD, R_EOF_BAD, R_DONE, R_OPEN };

struct story {
	unsigned n;
	struct { uint8_t result; uint64_t body_len, body_hash; size_t consumed; } m[MSGS_MAX];
};

struct feeder {
	const char *p;
	size_t len, pos;            /* stream and how far segments reached */
	const uint8_t *cuts;        /* 4 segment lengths, or NULL: one segment */
	unsigned cut_i;
	size_t seg_end;             /* end of the segment being consumed */
	uint64_t body_len, body_hash;
};

static void on_body(void *arg, const char *at, size_t n)
{
	struct feeder *f = arg;
	for (size_t i = 0; i < n; i++)
		f->body_hash = (f->body_hash ^ (uint8_t)at[i]) * 1099511628211u;
	f->body_len += n;
}

/* The next segment arrives: returns false at the end of the stream. */
static bool next_segment(struct feeder *f)
{
	if (f->seg_end >= f->len)
		return false;
	size_t step = f->cuts ? 1u + f->cuts[f->cut_i++ % 4] : f->len;
	f->seg_end = f->len - f->seg_end < step ? f->len : f->seg_end + step;
	return true;
}

static bool disagreement(const char *why)
{
	return why && strcmp(why, "chunked framing disagreement") == 0;
}

/* One message from f->pos. Returns its result; f->pos moves past it. */
static uint8_t one_message(struct feeder *f, bool response, bool head_req)
{
	static char head[HEAD_MAX];
	static struct h1_hdr hdr[HDRS_MAX];
	struct h1_scan s = { .request = !response };
	struct h1_parser hp;
	struct h1_msg m = { .hdr = hdr, .hdr_cap = HDRS_MAX };
	const char *why = NULL;
	size_t hl = 0;
	int rc = -EAGAIN;

	/* head: copy what the segments brought, rescan (px-head.c px_head_read) */
	for (unsigned i = 0; rc == -EAGAIN && i < 1u << 20; i++) {
		if (f->pos == f->seg_end && !next_segment(f))
			return R_OPEN;
		size_t n = f->seg_end - f->pos;
		if (n > HEAD_MAX - hl)
			n = HEAD_MAX - hl;
		if (n == 0)
			return R_HEAD_BIG;
		memcpy(head + hl, f->p + f->pos, n);
		size_t before = hl;
		hl += n;
		rc = h1_scan(&s, head, hl, HDRS_MAX, &why);
		f->pos += rc > 0 ? (size_t)rc - before : n;
	}
	if (rc == -E2BIG)
		return R_HEAD_BIG;
	if (rc < 0)
		return R_HEAD_BAD;
	h1_parser_init(&hp, response, on_body, f);
	hp.skip_body = head_req;
	if (h1_parse_head(&hp, &m, head, (size_t)rc, &why) < 0)
		return R_HEAD_BAD;
	for (unsigned i = 0; !hp.done && i < 1u << 20; i++) {
		if (f->pos == f->seg_end && !next_segment(f)) {
			if (!response || h1_parse_eof(&hp, &why) < 0)
				return R_EOF_BAD;
			return R_DONE;
		}
		long used = h1_parse_body(&hp, f->p + f->pos, f->seg_end - f->pos, &why);
		if (disagreement(why))
			abort();
		if (used < 0)
			return R_BODY_BAD;
		if ((size_t)used > f->seg_end - f->pos)
			abort();
		f->pos += (size_t)used;
	}
	return R_DONE;
}

static void tell(const char *p, size_t len, const uint8_t *cuts, uint8_t flags,
		 struct story *st)
{
	struct feeder f = { .p = p, .len = len, .cuts = cuts };
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < MSGS_MAX; i++) {
		f.body_len = 0;
		f.body_hash = 14695981039346656037u;
		uint8_t r = one_message(&f, flags & 1, flags & 2);
		st->m[i].result = r;
		st->m[i].body_len = f.body_len;
		st->m[i].body_hash = f.body_hash;
		st->m[i].consumed = f.pos;
		st->n = i + 1;
		if (r != R_DONE || f.pos == len)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct story whole, split;
	if (size < 5 || size > 65536)
		return 0;
	uint8_t flags = data[0];
	const char *p = (const char *)data + 5;
	size_t len = size - 5;
	tell(p, len, NULL, flags, &whole);
	tell(p, len, data + 1, flags, &split);
	if (whole.n != split.n)
		abort();
	for (unsigned i = 0; i < whole.n; i++) {
		bool failed_w = whole.m[i].result != R_DONE && whole.m[i].result != R_OPEN;
		bool failed_s = split.m[i].result != R_DONE && split.m[i].result != R_OPEN;
		if (failed_w != failed_s || whole.m[i].result != split.m[i].result) {
			fprintf(stderr, "message %u: whole %u, split %u\n", i,
				whole.m[i].result, split.m[i].result);
			abort();
		}
		if (whole.m[i].result == R_DONE &&
		    (whole.m[i].body_len != split.m[i].body_len ||
		     whole.m[i].body_hash != split.m[i].body_hash ||
		     whole.m[i].consumed != split.m[i].consumed)) {
			fprintf(stderr, "message %u: bodies differ\n", i);
			abort();
		}
	}
	return 0;
}
