/*
 * engine/px-ws.h - private to the proxy files (engine/px-*.c): WebSocket
 * capture after a 101 (engine/px-ws.c).
 */
#ifndef RINGCAP_PX_WS_H
#define RINGCAP_PX_WS_H

#include "engine/eng-int.h"

/* Worker start-up / exit: the observer pool (maps its arrays, touches
 * nothing). 0 or -ENOMEM with a sentence in err. */
int px_ws_pool_init(struct eng_worker *w, char *err, size_t err_len);
void px_ws_pool_free(struct eng_worker *w);

/* The 101 in head (len bytes) switched client c's exchange to websocket:
 * observe its frames from now on, when the sink takes messages and the
 * exchange is captured. Does nothing otherwise. */
void px_ws_start(struct eng_worker *w, struct eng_sock *c, const char *head, size_t len);

/* n bytes at p of the tunnel of client c are being forwarded, from the
 * client (dir ENG_DIR_REQUEST) or to it. */
void px_ws_feed(struct eng_worker *w, struct eng_sock *c, enum eng_dir dir, const char *p,
		size_t n);

/* Before the exchange's end goes to the sink: a message in progress is
 * handed over cut, the observer goes back to the pool. */
void px_ws_end(struct eng_worker *w, struct eng_sock *c);

#endif
