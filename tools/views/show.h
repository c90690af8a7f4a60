/*
 * tools/views/show.h - one exchange as text, the way curl -v and HTTPie
 * show it: request head, request body, response head, response body, then
 * what happened (client, timings, sizes, error in words). Bodies: JSON
 * pretty-printed, text as is (control bytes shown as '?', so a captured
 * body cannot drive the terminal), anything else as a hexdump excerpt;
 * a body that was not stored says why ("not stored: image/png (media)",
 * "not stored: save-responses was off"). A body sent with Content-Encoding
 * gzip or deflate is shown decoded (as HTTPie does; --body keeps the bytes
 * as stored), other codings say they were not decoded. Pure: the exchange
 * in, bytes out.
 */
#ifndef RINGCAP_VIEWS_SHOW_H
#define RINGCAP_VIEWS_SHOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg.h"
#include "tools/lib/json.h"

#define RC_SHOW_TEXT_MAX (256u << 10) /* text body bytes shown before "... N more" */
#define RC_SHOW_HEX_MAX 256u          /* binary body bytes shown as a hexdump */
#define RC_SHOW_JSON_DEPTH 64u        /* deeper JSON is shown as text, not indented */
/* A decoded (gzip, deflate) body is shown up to this many bytes: four
 * times the default max_body, and a bound on what a small compressed body
 * (a "zip bomb" captured from a hostile origin) can make show allocate. */
#define RC_SHOW_DECODED_MAX (64u << 20)
#define RC_SHOW_CODING_MAX 64u        /* bytes of an unknown Content-Encoding named */

/* Writes x as text into b. heads_only: heads and the summary, no bodies
 * (--headers). shown_id: the id people use for it (the session number). */
void rc_exchange_text(struct rc_buf *b, const struct seg_exchange *x, uint64_t shown_id,
		      bool heads_only);

/* p[0..n) re-indented with two spaces per level when it is one JSON value
 * whose brackets and strings balance. 0, or -EINVAL (b untouched). */
int rc_json_pretty(struct rc_buf *b, const char *p, size_t n);

/* What an error kind means, in words ("the server did not answer in time"). */
const char *rc_error_words(uint8_t kind);
/* What a CONNECT row's tunnel was, in words ("" for other rows). */
const char *rc_tunnel_words(uint32_t flags);

#endif
