/*
 * engine/px-ws.c - WebSocket capture: after a 101 that switched an exchange
 * to websocket, each piece of the tunnel's bytes is shown to a frame
 * observer (engine/ws.c) on its way through, and the messages it finds go
 * to the capture sink's ws_msg with the exchange's handle.
 *
 * Runs on the worker threads. Observers come from a per-worker pool
 * (ENG_WS_CONNS, of which ENG_WS_DEFLATE_CONNS with inflate arenas), mapped
 * at start-up: nothing is allocated while bytes flow. Observing never
 * holds a byte back: the tunnel forwards what it would have forwarded, and
 * a full pool or a broken frame only means fewer messages captured
 * (counted in ws_unobserved, ws_broken).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/px.h"
#include "engine/px-ws.h"
#include "engine/ws.h"
#include "rc-assert.h"

_Static_assert(ENG_WS_FIRST == WS_M_FIRST, "piece flags pass through");
_Static_assert(ENG_WS_LAST == WS_M_LAST, "piece flags pass through");
_Static_assert(ENG_WS_CUT == WS_M_CUT, "piece flags pass through");
_Static_assert(ENG_WS_DEFLATED == WS_M_DEFLATED, "piece flags pass through");
_Static_assert((int)ENG_DIR_REQUEST == (int)WS_C2S, "directions agree");
_Static_assert((int)ENG_DIR_RESPONSE == (int)WS_S2C, "directions agree");

#define ARENA_BYTES (2u * WS_ZARENA_BYTES)   /* both directions */

/* One observed connection. */
struct eng_ws {
	struct ws_conn conn;
	struct eng_worker *w;
	uint32_t client;        /* slot of the client socket */
	uint32_t arena;         /* index into pool->arenas, or ENG_NONE */
	uint32_t next_free;
};

struct px_ws_pool {
	struct eng_ws *ws;      /* [ENG_WS_CONNS] */
	uint8_t *arenas;        /* [ENG_WS_DEFLATE_CONNS][ARENA_BYTES] */
	uint32_t *arena_next;   /* free list of arenas */
	uint32_t free, arena_free;
	uint8_t *scratch;       /* WS_SCRATCH_BYTES, one feed at a time */
};

static void on_piece(void *arg, const struct ws_piece *pc, const uint8_t *p, size_t n);

int px_ws_pool_init(struct eng_worker *w, char *err, size_t err_len)
{
	struct px_ws_pool *pl = eng_array_alloc(1, sizeof(*pl));
	if (pl == NULL)
		goto out_nomem;
	w->ws_pool = pl;
	pl->ws = eng_array_alloc(ENG_WS_CONNS, sizeof(*pl->ws));
	pl->arenas = eng_array_alloc(ENG_WS_DEFLATE_CONNS, ARENA_BYTES);
	pl->arena_next = eng_array_alloc(ENG_WS_DEFLATE_CONNS, sizeof(uint32_t));
	pl->scratch = eng_array_alloc(1, WS_SCRATCH_BYTES);
	if (!pl->ws || !pl->arenas || !pl->arena_next || !pl->scratch)
		goto out_nomem;
	pl->free = ENG_NONE;
	for (uint32_t i = ENG_WS_CONNS; i-- > 0;) {
		pl->ws[i].next_free = pl->free;
		pl->free = i;
	}
	pl->arena_free = ENG_NONE;
	for (uint32_t i = ENG_WS_DEFLATE_CONNS; i-- > 0;) {
		pl->arena_next[i] = pl->arena_free;
		pl->arena_free = i;
	}
	return 0;
out_nomem:
	snprintf(err, err_len, "out of memory for %u WebSocket observers", ENG_WS_CONNS);
	return -ENOMEM;
}

void px_ws_pool_free(struct eng_worker *w)
{
	struct px_ws_pool *pl = w->ws_pool;
	if (pl == NULL)
		return;
	eng_array_free(pl->ws);
	eng_array_free(pl->arenas);
	eng_array_free(pl->arena_next);
	eng_array_free(pl->scratch);
	eng_array_free(pl);
	w->ws_pool = NULL;
}

void px_ws_start(struct eng_worker *w, struct eng_sock *c, const char *head, size_t len)
{
	struct px_ws_pool *pl = w->ws_pool;
	struct ws_deflate d;
	if (c->sink_h == NULL || sink(w)->ws_msg == NULL || pl == NULL || c->ws != NULL)
		return;
	if (!ws_head_scan(head, len, &d))
		return;   /* another protocol: bytes only */
	if (pl->free == ENG_NONE) {
		ENG_COUNT(w->c.ws_unobserved, 1);
		return;
	}
	uint32_t i = pl->free;
	struct eng_ws *ws = &pl->ws[i];
	pl->free = ws->next_free;
	ws->w = w;
	ws->client = eng_slot(w, c);
	ws->arena = ENG_NONE;
	uint8_t *arena = NULL;
	if (d.on && pl->arena_free != ENG_NONE) {
		ws->arena = pl->arena_free;
		pl->arena_free = pl->arena_next[ws->arena];
		arena = pl->arenas + (size_t)ws->arena * ARENA_BYTES;
	} else if (d.on) {
		ENG_COUNT(w->c.ws_unobserved, 1);   /* observed, but compressed messages come out cut */
	}
	/* no arena: compressed messages come out empty and flagged cut */
	ws_init(&ws->conn, &d, arena, on_piece, ws);
	c->ws = ws;
}

void px_ws_feed(struct eng_worker *w, struct eng_sock *c, enum eng_dir dir, const char *p,
		size_t n)
{
	struct eng_ws *ws = c->ws;
	if (!ALWAYS(ws != NULL) || !ALWAYS(ws->client == eng_slot(w, c)))
		return;
	unsigned d = dir == ENG_DIR_REQUEST ? WS_C2S : WS_S2C;
	if (ws->conn.side[d].broken != WS_OK)
		return;
	uint64_t now = c->x ? c->x->start_ns + since(c) : 0;
	if (ws_feed(&ws->conn, d, (const uint8_t *)p, n, now, w->ws_pool->scratch) != WS_OK)
		ENG_COUNT(w->c.ws_broken, 1);
}

void px_ws_end(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_ws *ws = c->ws;
	if (ws == NULL)
		return;
	struct px_ws_pool *pl = w->ws_pool;
	ws_finish(&ws->conn);   /* may hand the sink a last, cut piece */
	if (ws->arena != ENG_NONE) {
		pl->arena_next[ws->arena] = pl->arena_free;
		pl->arena_free = ws->arena;
	}
	uint32_t i = (uint32_t)(ws - pl->ws);
	ASSERT(i < ENG_WS_CONNS);
	ws->client = ENG_NONE;
	ws->next_free = pl->free;
	pl->free = i;
	c->ws = NULL;
}

/* A piece from the observer: to the sink, with the exchange's handle. */
static void on_piece(void *arg, const struct ws_piece *pc, const uint8_t *p, size_t n)
{
	struct eng_ws *ws = arg;
	struct eng_worker *w = ws->w;
	struct eng_sock *c = &w->socks[ws->client];
	if (pc->flags & WS_M_LAST)
		ENG_COUNT(w->c.ws_messages, 1);
	if (c->sink_h == NULL)
		return;
	struct eng_ws_msg m = {
		.dir = pc->dir == WS_C2S ? ENG_DIR_REQUEST : ENG_DIR_RESPONSE,
		.opcode = pc->opcode, .flags = pc->flags, .start_ns = pc->start_ns,
		.len = pc->len, .wire_len = pc->wire_len,
	};
	sink(w)->ws_msg(w->sink_ctx, c->sink_h, &m, (const char *)p, n);
}
