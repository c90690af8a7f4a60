/*
 * tools/views/import.h - HAR 1.2 in: a streaming scan of a HAR file that
 * hands each entry, decoded into the fields of a stored exchange, to a
 * callback. Only one entry is in memory at a time: a small scanner finds
 * $.log.entries[i] in the byte stream (strings, escapes and nesting
 * tracked; other members skipped), and jansson parses that entry alone.
 *
 * Accepted: HAR from browsers (Chrome, Firefox: HTTP/2 pseudo-headers are
 * dropped from heads, content.text with or without "encoding": "base64"),
 * mitmproxy and ringcap itself (its "_" extras: _client, _client_port,
 * _client_name, _flags, _error, _error_message, _server_port; postData
 * "_encoding"). serverIPAddress is read with or without brackets (Chrome
 * writes IPv6 in brackets); HAR has no server port: 0 unless _server_port.
 * Unknown members are ignored and missing ones stay empty, except what an
 * exchange cannot do without (request, its method and its URL); a member of
 * the wrong type, an entry that is not valid JSON, a file that is not a
 * HAR is an error naming its JSON path ("$.log.entries[3].request.url:
 * expected a string") or its byte offset.
 */
#ifndef RINGCAP_IMPORT_H
#define RINGCAP_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg.h"

/* Largest single entry (its JSON text): two bodies at the store's
 * default cap (16 MiB each) in base64 with room for heads. */
#define RC_HAR_ENTRY_MAX (48u << 20)
/* The scanner reads the file in pieces of this size. */
#define RC_HAR_READ_CHUNK (1u << 20)
/* Nesting the scanner follows outside entries (pages, creator, ...). */
#define RC_HAR_DEPTH_MAX 64u
/* Header lines kept per head (a browser sends some dozens). */
#define RC_HAR_HEADERS_MAX 512u
/* Largest magnitude of any HAR number read (sizes in bytes, times in ms,
 * status, ports, opcodes): 1e12 B is 1 TB, 1e12 ms 31 years, and the
 * seven timings of an entry, each below it, still add up in 64-bit ns. A
 * number past it is an error of its entry ("out of range"), never a value
 * cast out of range. */
#define RC_HAR_NUM_MAX 1e12
/* _webSocketMessages read per entry (the store's own per-exchange cap for
 * show and the API is the same order, RC_MSGS_MAX); more are left out. */
#define RC_HAR_MSGS_MAX 100000u

/* One entry as a stored exchange. Text fields are NUL-terminated; all
 * memory belongs to the reader and is valid during the callback only. */
struct rc_har_xch {
	size_t index;           /* position in $.log.entries */
	uint64_t start_ns;      /* startedDateTime, 0 when missing */
	uint8_t scheme;         /* enum seg_scheme, from the URL */
	uint8_t http_version;   /* 10, 11, 20 */
	uint16_t port;          /* from the URL, or 80/443 */
	uint32_t flags;         /* SEG_F_* from the URL scheme and _flags */
	const char *method, *url, *host, *client_name;
	size_t method_len, url_len, host_len, client_name_len;
	const uint8_t *req_head, *resp_head; /* raw header blocks rebuilt */
	size_t req_head_len, resp_head_len;
	const uint8_t *body[2];  /* decoded bodies (SEG_DIR_REQ/RESP) */
	size_t body_len[2];
	const uint8_t *trailers[2]; /* "Name: value\r\n" lines of _trailers (NULL: none) */
	size_t trailers_len[2];
	/* _webSocketMessages (Chrome's and ringcap's), one whole message a
	 * piece: piece i's payload is the next msgs[i].len bytes of msg_data */
	const struct seg_msg_piece *msgs;
	const uint8_t *msg_data;
	size_t nmsgs;
	uint16_t status;         /* 0: no response */
	const char *reason;
	size_t reason_len;
	uint8_t type;            /* enum seg_type from the response mime type */
	uint8_t error;           /* enum seg_error from _error */
	const char *err_msg;
	size_t err_msg_len;
	struct seg_addr client;
	struct seg_addr server;  /* serverIPAddress (family 0: none or not an address) */
	struct seg_timings t;
	struct seg_wire wire;
};

/* Reads the HAR in fd from its current offset to the end, calling
 * on_entry for each entry in order (on_entry returns <0 to stop: passed
 * through). Returns the number of entries (>= 0), or -EBADMSG with err
 * naming the JSON path or byte offset that is wrong, -E2BIG for an entry
 * above RC_HAR_ENTRY_MAX, -ENOMEM, -errno of read(2). */
long rc_har_read(int fd, int (*on_entry)(void *ctx, const struct rc_har_xch *x), void *ctx,
		 char *err, size_t errlen);

#endif
