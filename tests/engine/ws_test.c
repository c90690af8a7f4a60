/*
 * tests/engine/ws_test.c - engine/ws.c alone: frames built here (masked and
 * not, fragmented, with control frames between fragments, 16- and 64-bit
 * lengths, compressed with zlib as RFC 7692 says), fed whole and one byte
 * at a time; both must give the same messages. Also the 101 head scan,
 * protocol errors and the inflate bound.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "engine/ws.h"
#include "tests/check.h"

#define MSGS_MAX 64
#define BUF_MAX (256u * 1024u)

struct msg {
	unsigned dir, opcode, flags;
	uint64_t len, wire_len, start_ns;
	uint8_t *data;
	size_t n;
};

/* What the observer emitted, joined back into messages. */
struct got {
	struct msg m[MSGS_MAX];
	unsigned n;
	struct msg open[2];
	bool is_open[2];
	unsigned pieces;
	bool order_bad;
	bool count_only;   /* count payload bytes, keep none (64 MiB messages) */
};

static void on_piece(void *arg, const struct ws_piece *pc, const uint8_t *p, size_t n)
{
	struct got *g = arg;
	g->pieces++;
	bool control = pc->opcode >= 8;
	struct msg *m = &g->open[pc->dir];
	struct msg tmp = {0};
	if (control) {
		m = &tmp;
	} else if (pc->flags & WS_M_FIRST) {
		if (g->is_open[pc->dir])
			g->order_bad = true;
		*m = (struct msg){0};
		g->is_open[pc->dir] = true;
	} else if (!g->is_open[pc->dir] || m->opcode != pc->opcode) {
		g->order_bad = true;
	}
	if (control && (pc->flags & (WS_M_FIRST | WS_M_LAST)) != (WS_M_FIRST | WS_M_LAST))
		g->order_bad = true;
	m->dir = pc->dir;
	m->opcode = pc->opcode;
	m->flags |= pc->flags;
	m->len = pc->len;
	m->wire_len = pc->wire_len;
	m->start_ns = pc->start_ns;
	if (!g->count_only) {
		m->data = realloc(m->data, m->n + n + 1);
		if (n)
			memcpy(m->data + m->n, p, n);
	}
	m->n += n;
	if (m->n != pc->len && !(pc->flags & WS_M_CUT))
		g->order_bad = true;
	if ((pc->flags & WS_M_LAST) && g->n < MSGS_MAX) {
		g->m[g->n++] = *m;
		if (!control)
			g->is_open[pc->dir] = false;
		*m = (struct msg){0};
	}
}

static void got_free(struct got *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->m[i].data);
	for (unsigned d = 0; d < 2; d++)
		free(g->open[d].data);
	memset(g, 0, sizeof(*g));
}

/* Appends one frame to out; returns its length. */
static size_t frame(uint8_t *out, bool fin, unsigned rsv1, unsigned op, bool masked,
		    const void *payload, size_t n)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t at = 0;
	out[at++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
	uint8_t mb = masked ? 0x80 : 0;
	if (n < 126) {
		out[at++] = (uint8_t)(mb | n);
	} else if (n < 65536) {
		out[at++] = mb | 126;
		out[at++] = (uint8_t)(n >> 8);
		out[at++] = (uint8_t)n;
	} else {
		out[at++] = mb | 127;
		for (int i = 7; i >= 0; i--)
			out[at++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	if (masked) {
		memcpy(out + at, key, 4);
		at += 4;
	}
	const uint8_t *p = payload;
	for (size_t i = 0; i < n; i++)
		out[at + i] = masked ? (uint8_t)(p[i] ^ key[i & 3]) : p[i];
	return at + n;
}

static uint8_t scratch[WS_SCRATCH_BYTES];
static uint8_t arena[2 * WS_ZARENA_BYTES] __attribute__((aligned(16)));

/* Feeds buf to a fresh observer whole, and to another one byte at a time;
 * both collections must agree; returns the whole one in g. */
static void run(const struct ws_deflate *d, unsigned dir, const uint8_t *buf, size_t n,
		struct got *g, bool finish)
{
	static uint8_t arena2[2 * WS_ZARENA_BYTES] __attribute__((aligned(16)));
	struct ws_conn a, b;
	struct got g2 = {0};
	memset(g, 0, sizeof(*g));
	CHECK_RC(ws_init(&a, d, d && d->on ? arena : NULL, on_piece, g));
	CHECK_RC(ws_init(&b, d, d && d->on ? arena2 : NULL, on_piece, &g2));
	ws_feed(&a, dir, buf, n, 1000, scratch);
	for (size_t i = 0; i < n; i++)
		ws_feed(&b, dir, buf + i, 1, 1000 + i, scratch);
	if (finish) {
		ws_finish(&a);
		ws_finish(&b);
	}
	CHECK(!g->order_bad);
	CHECK(!g2.order_bad);
	CHECK_EQ(g->n, g2.n);
	for (unsigned i = 0; i < g->n && i < g2.n; i++) {
		CHECK_EQ(g->m[i].opcode, g2.m[i].opcode);
		CHECK_EQ(g->m[i].flags, g2.m[i].flags);
		CHECK_EQ(g->m[i].n, g2.m[i].n);
		CHECK(g->m[i].n == g2.m[i].n && memcmp(g->m[i].data, g2.m[i].data, g->m[i].n) == 0);
	}
	CHECK(g2.pieces >= g->pieces);
	got_free(&g2);
	if (!finish) {
		ws_finish(&a);
		ws_finish(&b);
	}
}

static void test_plain(void)
{
	static uint8_t buf[BUF_MAX], big[70000];
	size_t n = 0;
	n += frame(buf + n, true, 0, WS_OP_TEXT, true, "hello", 5);
	n += frame(buf + n, true, 0, WS_OP_BINARY, true, "\x00\x01\xff", 3);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	n += frame(buf + n, true, 0, WS_OP_BINARY, true, big, 300);     /* 16-bit length */
	n += frame(buf + n, true, 0, WS_OP_BINARY, true, big, sizeof(big)); /* 64-bit */
	n += frame(buf + n, true, 0, WS_OP_TEXT, true, "", 0);
	struct got g;
	run(NULL, WS_C2S, buf, n, &g, false);
	REQUIRE(g.n == 5);
	CHECK_EQ(g.m[0].opcode, WS_OP_TEXT);
	CHECK_EQ(g.m[0].n, 5);
	CHECK(memcmp(g.m[0].data, "hello", 5) == 0);
	CHECK_EQ(g.m[0].flags, WS_M_FIRST | WS_M_LAST);
	CHECK_EQ(g.m[0].dir, WS_C2S);
	CHECK_EQ(g.m[1].opcode, WS_OP_BINARY);
	CHECK(memcmp(g.m[1].data, "\x00\x01\xff", 3) == 0);
	CHECK_EQ(g.m[2].n, 300);
	CHECK(memcmp(g.m[2].data, big, 300) == 0);
	CHECK_EQ(g.m[3].n, sizeof(big));
	CHECK_EQ(g.m[3].len, sizeof(big));
	CHECK_EQ(g.m[3].wire_len, sizeof(big));
	CHECK(memcmp(g.m[3].data, big, sizeof(big)) == 0);
	CHECK_EQ(g.m[4].n, 0);
	CHECK_EQ(g.m[4].flags, WS_M_FIRST | WS_M_LAST);
	got_free(&g);
	/* server frames are not masked */
	n = frame(buf, true, 0, WS_OP_TEXT, false, "srv", 3);
	run(NULL, WS_S2C, buf, n, &g, false);
	REQUIRE(g.n == 1);
	CHECK_EQ(g.m[0].dir, WS_S2C);
	CHECK(memcmp(g.m[0].data, "srv", 3) == 0);
	got_free(&g);
}

/* Fragments joined; a ping between them is its own message, in order. */
static void test_fragments_and_control(void)
{
	static uint8_t buf[4096];
	size_t n = 0;
	n += frame(buf + n, false, 0, WS_OP_TEXT, true, "frag", 4);
	n += frame(buf + n, false, 0, WS_OP_CONT, true, "ment", 4);
	n += frame(buf + n, true, 0, WS_OP_PING, true, "p1", 2);
	n += frame(buf + n, true, 0, WS_OP_CONT, true, "ed", 2);
	n += frame(buf + n, true, 0, WS_OP_PONG, true, "p1", 2);
	n += frame(buf + n, true, 0, WS_OP_CLOSE, true, "\x03\xe8" "bye", 5);
	struct got g;
	run(NULL, WS_C2S, buf, n, &g, false);
	REQUIRE(g.n == 4);
	CHECK_EQ(g.m[0].opcode, WS_OP_PING);
	CHECK_EQ(g.m[1].opcode, WS_OP_TEXT);
	CHECK_EQ(g.m[1].n, 10);
	CHECK(memcmp(g.m[1].data, "fragmented", 10) == 0);
	CHECK_EQ(g.m[1].wire_len, 10);
	CHECK_EQ(g.m[1].start_ns, 1000);
	CHECK_EQ(g.m[2].opcode, WS_OP_PONG);
	CHECK_EQ(g.m[3].opcode, WS_OP_CLOSE);
	CHECK_EQ(ws_close_code(g.m[3].data, g.m[3].n), 1000);
	CHECK(memcmp(g.m[3].data + 2, "bye", 3) == 0);
	CHECK_EQ(ws_close_code(g.m[3].data, 1), 0);
	got_free(&g);
}

/* Raw deflate of each message with a shared (or reset) context, the tail
 * 00 00 ff ff removed (RFC 7692 7.2.1). */
static size_t compress_msg(z_stream *z, const void *in, size_t n, uint8_t *out, size_t cap)
{
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	REQUIRE(deflate(z, Z_SYNC_FLUSH) == Z_OK);
	size_t len = cap - z->avail_out;
	REQUIRE(len >= 4);
	REQUIRE(memcmp(out + len - 4, "\x00\x00\xff\xff", 4) == 0);
	return len - 4;
}

static void test_deflate(bool takeover, int bits)
{
	static uint8_t buf[BUF_MAX], c1[8192], c2[8192], text[4000];
	z_stream z = {0};
	REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -(bits < 9 ? 9 : bits), 8, Z_DEFAULT_STRATEGY) == Z_OK);
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)"the quick brown fox "[i % 20];
	size_t l1 = compress_msg(&z, text, sizeof(text), c1, sizeof(c1));
	if (!takeover)
		deflateReset(&z);
	size_t l2 = compress_msg(&z, text, sizeof(text), c2, sizeof(c2));
	deflateEnd(&z);
	if (takeover)
		CHECK(l2 < l1);   /* the second message refers to the first */
	size_t n = 0;
	n += frame(buf + n, true, 1, WS_OP_TEXT, false, c1, l1);
	/* the second one fragmented: RSV1 on its first frame only */
	n += frame(buf + n, false, 1, WS_OP_BINARY, false, c2, l2 / 2);
	n += frame(buf + n, true, 0, WS_OP_PING, false, "x", 1);
	n += frame(buf + n, true, 0, WS_OP_CONT, false, c2 + l2 / 2, l2 - l2 / 2);
	n += frame(buf + n, true, 0, WS_OP_TEXT, false, "plain", 5);
	struct ws_deflate d = { .on = true, .wbits = { 15, (uint8_t)bits },
				.no_takeover = { false, !takeover } };
	struct got g;
	run(&d, WS_S2C, buf, n, &g, false);
	REQUIRE(g.n == 4);
	CHECK_EQ(g.m[0].flags, WS_M_FIRST | WS_M_LAST | WS_M_DEFLATED);
	CHECK_EQ(g.m[0].n, sizeof(text));
	CHECK(g.m[0].n == sizeof(text) && memcmp(g.m[0].data, text, sizeof(text)) == 0);
	CHECK_EQ(g.m[0].wire_len, l1);
	CHECK_EQ(g.m[1].opcode, WS_OP_PING);
	CHECK_EQ(g.m[2].opcode, WS_OP_BINARY);
	CHECK_EQ(g.m[2].n, sizeof(text));
	CHECK(g.m[2].n == sizeof(text) && memcmp(g.m[2].data, text, sizeof(text)) == 0);
	CHECK_EQ(g.m[3].flags, WS_M_FIRST | WS_M_LAST);
	CHECK(memcmp(g.m[3].data, "plain", 5) == 0);
	got_free(&g);
}

/* Past WS_INFLATE_MAX a message is cut; with context takeover the next
 * compressed one cannot be inflated either and is cut too. */
static void test_inflate_bound(void)
{
	size_t zn = WS_INFLATE_MAX + 4096;
	uint8_t *zeros = calloc(1, zn);
	static uint8_t comp[256 * 1024], buf[300 * 1024];
	REQUIRE(zeros != NULL);
	z_stream z = {0};
	REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	size_t l = compress_msg(&z, zeros, zn, comp, sizeof(comp));
	deflateEnd(&z);
	free(zeros);
	size_t n = frame(buf, true, 1, WS_OP_BINARY, false, comp, l);
	n += frame(buf + n, true, 1, WS_OP_TEXT, false, comp, 10);
	struct ws_deflate d = { .on = true, .wbits = { 15, 15 } };
	struct got g = { .count_only = true };
	struct ws_conn c;
	CHECK_RC(ws_init(&c, &d, arena, on_piece, &g));
	ws_feed(&c, WS_S2C, buf, n, 1, scratch);
	ws_finish(&c);
	REQUIRE(g.n == 2);
	CHECK(g.m[0].flags & WS_M_CUT);
	CHECK_EQ(g.m[0].n, WS_INFLATE_MAX);
	CHECK(g.m[1].flags & WS_M_CUT);
	CHECK_EQ(g.m[1].n, 0);
	got_free(&g);
}

/* A broken frame ends the direction; the message in progress ends cut. */
static void test_errors(void)
{
	static uint8_t buf[1024];
	struct got g;
	size_t n = frame(buf, false, 0, WS_OP_TEXT, true, "abc", 3);
	n += frame(buf + n, true, 0, 3, true, "x", 1);   /* reserved opcode */
	n += frame(buf + n, true, 0, WS_OP_TEXT, true, "after", 5);
	run(NULL, WS_C2S, buf, n, &g, false);
	REQUIRE(g.n == 1);
	CHECK_EQ(g.m[0].flags & WS_M_CUT, WS_M_CUT);
	CHECK_EQ(g.m[0].n, 3);
	got_free(&g);
	const struct { bool fin; unsigned rsv1, op; size_t len; } bad[] = {
		{ true, 1, WS_OP_TEXT, 3 },    /* RSV1 without deflate */
		{ true, 0, WS_OP_CONT, 3 },    /* continuation of nothing */
		{ false, 0, WS_OP_PING, 3 },   /* fragmented control */
		{ true, 0, WS_OP_PING, 126 },  /* control over 125 */
		{ true, 0, 11, 1 },            /* reserved control opcode */
	};
	static uint8_t pay[200];
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = frame(buf, bad[i].fin, bad[i].rsv1, bad[i].op, true, pay, bad[i].len);
		n += frame(buf + n, true, 0, WS_OP_TEXT, true, "ok", 2);
		struct ws_conn c;
		memset(&g, 0, sizeof(g));
		CHECK_RC(ws_init(&c, NULL, NULL, on_piece, &g));
		CHECK_MSG(ws_feed(&c, WS_C2S, buf, n, 1, scratch) != WS_OK, "row %u", i);
		CHECK_MSG(g.n == 0, "row %u: %u messages", i, g.n);
		ws_finish(&c);
		got_free(&g);
	}
	/* RSV2 */
	buf[0] = 0xa1;
	buf[1] = 0;
	struct ws_conn c;
	memset(&g, 0, sizeof(g));
	CHECK_RC(ws_init(&c, NULL, NULL, on_piece, &g));
	CHECK_EQ(ws_feed(&c, WS_C2S, buf, 2, 1, scratch), WS_BAD_RSV);
	/* 64-bit length with the top bit set */
	uint8_t huge[10] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1 };
	CHECK_RC(ws_init(&c, NULL, NULL, on_piece, &g));
	CHECK_EQ(ws_feed(&c, WS_S2C, huge, sizeof(huge), 1, scratch), WS_BAD_LENGTH);
	ws_finish(&c);
	/* a corrupt deflate stream cuts its message */
	struct ws_deflate d = { .on = true, .wbits = { 15, 15 } };
	n = frame(buf, true, 1, WS_OP_TEXT, false, "\xff\xff\xff\xff", 4);
	n += frame(buf + n, true, 0, WS_OP_TEXT, false, "ok", 2);
	run(&d, WS_S2C, buf, n, &g, false);
	REQUIRE(g.n == 2);
	CHECK(g.m[0].flags & WS_M_CUT);
	CHECK_EQ(g.m[1].flags, WS_M_FIRST | WS_M_LAST);
	got_free(&g);
	/* deflate negotiated but no arena: compressed messages come out cut */
	struct ws_conn c2;
	memset(&g, 0, sizeof(g));
	CHECK_EQ(ws_init(&c2, &d, NULL, on_piece, &g), -ENOMEM);
	CHECK_EQ(ws_feed(&c2, WS_S2C, buf, n, 1, scratch), WS_OK);
	ws_finish(&c2);
	REQUIRE(g.n == 2);
	CHECK_EQ(g.m[0].flags, WS_M_FIRST | WS_M_LAST | WS_M_CUT | WS_M_DEFLATED);
	CHECK_EQ(g.m[0].n, 0);
	CHECK_EQ(g.m[1].n, 2);
	got_free(&g);
}

/* The tunnel ends mid-message: emitted LAST | CUT by ws_finish. */
static void test_finish(void)
{
	static uint8_t buf[1024];
	size_t n = frame(buf, true, 0, WS_OP_BINARY, true, "0123456789", 10);
	struct got g;
	run(NULL, WS_C2S, buf, n - 4, &g, true);
	REQUIRE(g.n == 1);
	CHECK_EQ(g.m[0].flags, WS_M_FIRST | WS_M_LAST | WS_M_CUT);
	CHECK_EQ(g.m[0].n, 6);
	got_free(&g);
	/* a header cut short emits nothing */
	run(NULL, WS_C2S, buf, 1, &g, true);
	CHECK_EQ(g.n, 0);
	got_free(&g);
}

static void test_head_scan(void)
{
	struct ws_deflate d;
	const char *h1 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
	CHECK(ws_head_scan(h1, strlen(h1), &d));
	CHECK(!d.on);
	const char *h2 = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
			 "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover;"
			 " client_max_window_bits=10; server_max_window_bits=\"12\"\r\n\r\n";
	CHECK(ws_head_scan(h2, strlen(h2), &d));
	CHECK(d.on);
	CHECK(d.no_takeover[WS_S2C]);
	CHECK(!d.no_takeover[WS_C2S]);
	CHECK_EQ(d.wbits[WS_C2S], 10);
	CHECK_EQ(d.wbits[WS_S2C], 12);
	const char *h3 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
			 "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
	CHECK(!ws_head_scan(h3, strlen(h3), &d));
	CHECK(!d.on);
	const char *h4 = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n"
			 "Sec-WebSocket-Extensions: x-other; a=1, permessage-deflate;"
			 "client_no_context_takeover; client_max_window_bits\r\n\r\n";
	CHECK(ws_head_scan(h4, strlen(h4), &d));
	CHECK(d.on);
	CHECK(d.no_takeover[WS_C2S]);
	CHECK_EQ(d.wbits[WS_C2S], 15);
	CHECK_EQ(d.wbits[WS_S2C], 15);
	CHECK(!ws_head_scan("", 0, &d));
	CHECK(!ws_head_scan("HTTP/1.1 101\r\nUpgrade", 22, &d));
}

int main(void)
{
	test_plain();
	test_fragments_and_control();
	test_deflate(true, 15);
	test_deflate(false, 15);
	test_deflate(true, 8);
	test_deflate(false, 10);
	test_errors();
	test_finish();
	test_head_scan();
	test_inflate_bound();
	return check_done("ws");
}
