/*
 * engine/ws.h - an observer of WebSocket frames (RFC 6455, RFC 7692).
 *
 * After a 101 the engine forwards the bytes of both directions unchanged;
 * ws_feed() is shown each forwarded piece as well and turns it into message
 * pieces for the capture sink: opcode, fragments joined, payload unmasked,
 * permessage-deflate inflated, control frames (close, ping, pong) whole.
 * It never changes, holds back or refuses a byte: a frame it cannot follow
 * ends the observation of that direction (counted), the tunnel goes on.
 *
 * State is fixed-size (struct ws_conn); inflating takes an arena the caller
 * hands in (WS_ZARENA_BYTES per direction), so nothing is allocated while
 * bytes flow. Runs on the engine's worker threads; no locks, no syscalls.
 */
#ifndef RINGCAP_WS_H
#define RINGCAP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

/* ---- limits ---- */
/* Frame header: 2 bytes, 8 of extended length, 4 of mask key. */
#define WS_HDR_MAX 14u
/* Control frame payload (RFC 6455 5.5): collected whole, emitted at once. */
#define WS_CTRL_MAX 125u
/* Bytes a piece carries at most: the unmask and inflate scratch buffers the
 * caller passes to ws_feed are this big each. 16 KiB is one receive buffer
 * (ENG_BUF_SIZE_DEFAULT), so a plain piece is never split further. */
#define WS_CHUNK 16384u
#define WS_SCRATCH_BYTES (2u * WS_CHUNK)
/* Bytes inflated per message before it is cut (a decompression bomb of
 * 1 MiB inflates to ~1 GiB). Past it a direction with context takeover
 * cannot inflate its later messages either (their window is lost): they
 * are flagged cut. 64 MiB is 4 x the default --max-body. */
#define WS_INFLATE_MAX (64ull * 1024u * 1024u)
/* zlib's inflate state (7 KiB in zlib 1.2.13 / 1.3) plus its window (at
 * most 32 KiB for 15 window bits), from a bump arena per direction. */
#define WS_ZARENA_BYTES (48u * 1024u)
/* Deflate window bits a peer may negotiate (RFC 7692 7.1.2). zlib's
 * deflate cannot make 8-bit windows and uses 9, so inflating starts at 9. */
#define WS_WBITS_MIN 8u
#define WS_WBITS_MAX 15u

enum ws_opcode {
	WS_OP_CONT = 0, WS_OP_TEXT = 1, WS_OP_BINARY = 2,
	WS_OP_CLOSE = 8, WS_OP_PING = 9, WS_OP_PONG = 10,
};

/* Directions, as the engine's (enum eng_dir). */
enum { WS_C2S = 0, WS_S2C = 1 };

/* Piece flags (struct ws_piece.flags); the store keeps them as they are. */
#define WS_M_FIRST    0x01u  /* the message's first piece */
#define WS_M_LAST     0x02u  /* the message's last piece: len is its length */
#define WS_M_CUT      0x04u  /* payload incomplete (inflate bound or error, tunnel
			      * ended or frames unreadable mid-message) */
#define WS_M_DEFLATED 0x08u  /* compressed on the wire; pieces are inflated */

/* One piece of a message, in order per direction. A control message is
 * one piece (FIRST | LAST); it may come between two pieces of a data
 * message of the same direction (RFC 6455 5.4). */
struct ws_piece {
	uint8_t dir;        /* WS_C2S, WS_S2C */
	uint8_t opcode;     /* enum ws_opcode, never WS_OP_CONT */
	uint8_t flags;      /* WS_M_* */
	uint64_t start_ns;  /* now_ns of the ws_feed that saw its first frame header */
	uint64_t len;       /* payload bytes (inflated) up to the end of this piece */
	uint64_t wire_len;  /* frame payload bytes on the wire up to here */
};

/* Receives the pieces; p is valid for the call only (n may be 0). */
typedef void ws_emit_fn(void *arg, const struct ws_piece *pc, const uint8_t *p, size_t n);

/* permessage-deflate as the 101 accepted it. */
struct ws_deflate {
	bool on;
	uint8_t wbits[2];       /* per direction, WS_WBITS_MIN..WS_WBITS_MAX */
	bool no_takeover[2];    /* per direction: each message starts afresh */
};

/* Why a direction stopped being observed (struct ws_side.broken). */
enum ws_broken {
	WS_OK = 0, WS_BAD_OPCODE, WS_BAD_RSV, WS_BAD_CONTROL, WS_BAD_CONT,
	WS_BAD_LENGTH, WS_BAD_INFLATE,
};

/* One direction; opaque in use, public for its size only. */
struct ws_side {
	uint8_t hdr[WS_HDR_MAX];
	uint8_t hlen;           /* header bytes collected */
	uint8_t broken;         /* enum ws_broken */
	bool in_payload;
	uint8_t fop, mask[4], mpos;
	bool ffin, frsv1, fmasked;
	uint64_t left;          /* payload bytes of the frame still to come */
	/* the data message in progress */
	bool in_msg, mdeflated, mfirst_out;
	uint8_t mop, mflags;
	uint64_t mstart_ns, mlen, mwire;
	/* the control frame being collected */
	uint8_t ctrl[WS_CTRL_MAX];
	uint8_t clen;
	uint64_t cstart_ns;
	/* inflate */
	bool deflate;           /* permessage-deflate negotiated: RSV1 is allowed */
	bool zinit;             /* inflateInit2 succeeded in the arena */
	bool zok;               /* the stream can inflate (set up and in sync) */
	bool no_takeover;
	z_stream z;
	uint8_t *arena;         /* WS_ZARENA_BYTES, caller's; NULL: no deflate */
	size_t arena_used;
};

struct ws_conn {
	struct ws_side side[2];
	ws_emit_fn *emit;
	void *arg;
	uint64_t messages;      /* pieces with WS_M_LAST emitted */
};

/* What a 101 says: true when it switched to websocket (Upgrade header);
 * *d gets its permessage-deflate parameters (Sec-WebSocket-Extensions),
 * d->on false without one. head: the raw response head. */
bool ws_head_scan(const char *head, size_t len, struct ws_deflate *d);

/* Sets c up. arena: 2 * WS_ZARENA_BYTES (direction 0, then 1) when d->on,
 * owned by the caller, untouched after ws_finish(). Returns 0, or -ENOMEM
 * when d->on and there is no arena or zlib could not start in it: messages
 * are then observed, but compressed ones come out empty and flagged cut. */
int ws_init(struct ws_conn *c, const struct ws_deflate *d, uint8_t *arena,
	    ws_emit_fn *emit, void *arg);

/* Observes n bytes of direction dir, as forwarded. scratch:
 * WS_SCRATCH_BYTES of the caller's. Pieces go to emit before it returns.
 * Returns the direction's enum ws_broken (0 while frames are followed). */
int ws_feed(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n, uint64_t now_ns,
	    uint8_t *scratch);

/* The tunnel ended: a message in progress is emitted LAST | CUT, zlib is
 * released. c may be fed no more. */
void ws_finish(struct ws_conn *c);

/* "close code" of a close payload: 0 when it carries none. */
uint16_t ws_close_code(const uint8_t *p, size_t n);

#endif
