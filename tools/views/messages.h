/*
 * tools/views/messages.h - the WebSocket messages of an upgraded exchange
 * (persist/seg.h: struct seg_msg) as JSON for `show --json` and the API,
 * and as text for `show`. Pure: the exchange in, bytes out.
 *
 * JSON, one object per message in the order they began:
 *   {"direction":"send"|"receive", "time":"<ISO 8601 UTC, ms>",
 *    "time_ns":<wall clock ns>, "opcode":1, "type":"text"|"binary"|"close"|
 *    "ping"|"pong", "length":<payload bytes>, "wire_length":<on the wire>,
 *    "deflated":bool, "cut":bool, "encoding":"text"|"base64",
 *    "data":"<the stored payload>", and for a close with a code:
 *    "close_code":1000, "close_reason":"..."}
 * "data" is byte-exact: the payload itself as a JSON string when it is
 * valid UTF-8 (without NUL) and the message is text, else base64.
 * "send" is client to server, as Chrome names it.
 */
#ifndef RINGCAP_VIEWS_MESSAGES_H
#define RINGCAP_VIEWS_MESSAGES_H

#include <stddef.h>

#include "persist/seg.h"
#include "tools/lib/json.h"

/* Messages collected per exchange when one is opened for show and the API
 * (seg_open_opts.msgs_max); more are left out and said to be. A chat app
 * left open for an hour sends a few thousand. */
#define RC_MSGS_MAX 100000u
/* Payload bytes of a message shown as text by `show` before "... N more". */
#define RC_MSG_TEXT_MAX 4096u

/* One message as a JSON object. */
void rc_msg_json(struct rc_buf *b, const struct seg_msg *m);
/* "[...]" of every collected message of x. */
void rc_msgs_json(struct rc_buf *b, const struct seg_exchange *x);
/* A text listing: one line per message (direction, time, type, length,
 * flags), then its payload as text (control bytes as '?') or a hex
 * excerpt. Nothing when x has no messages. */
void rc_msgs_text(struct rc_buf *b, const struct seg_exchange *x);
/* "text", "binary", "close", "ping", "pong", or "opcode N" in buf. */
const char *rc_msg_type(unsigned opcode, char *buf, size_t len);

#endif
