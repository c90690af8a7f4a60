/*
 * tests/fuzz/ws/ws_fuzz.c - libFuzzer target for engine/ws.c, the
 * WebSocket frame observer: the bytes of both directions of an upgraded
 * connection are peer input.
 *
 * Byte 0 picks the permessage-deflate parameters (on/off, context
 * takeover and window bits per direction); the rest is a sequence of
 * slices, each a header byte (direction in bit 7, length in the rest)
 * then that many bytes fed to that direction, as reads would cut them.
 * Checked beyond ASan/UBSan: pieces come in order per direction (FIRST
 * opens a data message, the others continue it with the same opcode, a
 * control message is one piece), len grows by each piece's bytes, never
 * past WS_INFLATE_MAX, and a piece is at most WS_CHUNK bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	bool open[2];
	uint8_t op[2];
	uint64_t len[2];
};

static void on_piece(void *arg, const struct ws_piece *pc, const uint8_t *p, size_t n)
{
	struct seen *s = arg;
	unsigned d = pc->dir;
	if (d > 1 || n > WS_CHUNK || pc->opcode == WS_OP_CONT)
		abort();
	if (n > 0 && p == NULL)
		abort();
	if (pc->opcode >= 8) {
		if ((pc->flags & (WS_M_FIRST | WS_M_LAST)) != (WS_M_FIRST | WS_M_LAST))
			abort();
		if (pc->len != n || n > WS_CTRL_MAX)
			abort();
		return;
	}
	if (pc->flags & WS_M_FIRST) {
		if (s->open[d])
			abort();
		s->open[d] = true;
		s->op[d] = pc->opcode;
		s->len[d] = 0;
	} else if (!s->open[d] || s->op[d] != pc->opcode) {
		abort();
	}
	s->len[d] += n;
	if (s->len[d] != pc->len || pc->len > WS_INFLATE_MAX)
		abort();
	if (pc->flags & WS_M_LAST)
		s->open[d] = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t scratch[WS_SCRATCH_BYTES];
	static uint8_t arena[2 * WS_ZARENA_BYTES] __attribute__((aligned(16)));
	if (size < 1 || size > 1 << 20)
		return 0;
	uint8_t cfg = data[0];
	struct ws_deflate d = {
		.on = (cfg & 1) != 0,
		.no_takeover = { (cfg & 2) != 0, (cfg & 4) != 0 },
		.wbits = { (uint8_t)(8 + ((cfg >> 3) & 7)), (uint8_t)(8 + ((cfg >> 5) & 7)) },
	};
	struct seen s = {0};
	struct ws_conn c;
	ws_init(&c, &d, d.on ? arena : NULL, on_piece, &s);
	size_t at = 1;
	for (uint64_t t = 1; at < size; t++) {
		uint8_t h = data[at++];
		size_t n = h & 0x7f;
		if (n == 0)
			n = size - at;   /* the rest in one read */
		if (n > size - at)
			n = size - at;
		ws_feed(&c, h >> 7, data + at, n, t, scratch);
		at += n;
	}
	ws_finish(&c);
	if (s.open[0] || s.open[1])
		abort();   /* ws_finish ends every message */
	return 0;
}
