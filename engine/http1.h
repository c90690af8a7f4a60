/*
 * engine/http1.h - HTTP/1.1 head handling: a strict incremental head scanner,
 * llhttp wiring for heads and bodies, target parsing and head rewriting.
 *
 * Pure functions over caller-provided buffers and arrays: no I/O, no
 * allocation. engine/px-*.c drive them; tests/engine/http1_test.c tests
 * them alone. Ambiguous framing is refused here, before anything is
 * forwarded: bare LF or CR, obs-fold, whitespace before a colon, NUL,
 * Content-Length with Transfer-Encoding, more than one Content-Length,
 * a Transfer-Encoding other than "chunked", Transfer-Encoding in an
 * HTTP/1.0 message. Chunked bodies pass a strict framing check of their own
 * (struct h1_chunks) before llhttp sees them.
 */
#ifndef RINGCAP_HTTP1_H
#define RINGCAP_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

/* Connection header tokens remembered per head: more is a 400/502. */
#define H1_CONN_TOKENS_MAX 16u
/* Hex digits of a chunk size, leading zeros included. 16 digits hold any
 * 64-bit size; longer lines are a parser-differential probe, not a body. */
#define H1_CHUNK_DIGITS_MAX 16u
/* Chunk extension bytes (";name=value" after the size) per message. Nothing
 * uses them, yet every byte is forwarded: a cap stops them being a channel
 * for unbounded, unframed data (issue 7: "<= 16 KiB total"). */
#define H1_CHUNK_EXT_MAX (16u * 1024)
/* Bytes of the trailer section after the last chunk: trailers are
 * forwarded unchanged, so they get a bound like a head does. */
#define H1_TRAILER_MAX (16u * 1024)

/* Incremental head scanner state; zero it to start a head. */
struct h1_scan {
	uint32_t pos;         /* next byte to look at */
	uint32_t line_start;  /* offset of the current line */
	uint32_t lines;       /* complete lines so far */
	uint8_t colon;        /* current header line has its colon */
	uint8_t request;      /* set by the caller: check the request line as
				 it arrives, so garbage is refused at once */
	uint8_t spaces;       /* spaces seen in the request line */
	uint32_t line_max;    /* set by the caller: request line bytes allowed
				 (CRLF not counted), 0 = no limit; beyond it
				 h1_scan returns -EMSGSIZE (a 414) */
};

/* One header line: offsets into the head. Value is trimmed of OWS. */
struct h1_hdr {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

/* Framing and hop-by-hop facts of a parsed head. */
struct h1_msg {
	const char *base;          /* the head */
	uint32_t head_len;
	uint32_t start_off, start_len;  /* method (request) / version (response) */
	uint32_t url_off, url_len;      /* request target */
	uint32_t reason_off, reason_len;
	uint16_t status;
	uint8_t method;            /* llhttp_method_t */
	uint8_t minor;             /* HTTP/1.x */
	unsigned nhdr, hdr_cap;
	struct h1_hdr *hdr;        /* caller's array */
	int64_t content_length;    /* -1: none */
	bool chunked;
	bool conn_close, conn_keep_alive, conn_upgrade;
	int upgrade_hdr;           /* index of Upgrade, -1 none */
	int max_forwards;          /* -1 none */
	unsigned nconn_tok;
	struct { uint32_t off, len; } conn_tok[H1_CONN_TOKENS_MAX];
};

/* Strict chunked framing, checked on the raw bytes before llhttp: a size of
 * 1..16 hex digits that fits in int64_t, extensions within
 * H1_CHUNK_EXT_MAX, CRLF after every line and chunk, and trailer lines with
 * the same rules as head lines (no obs-fold, no whitespace before the
 * colon, no NUL, no empty name) and no framing field (Content-Length,
 * Transfer-Encoding, Host). Zeroed by h1_parse_head. */
struct h1_chunks {
	uint64_t size;        /* chunk size being read / data left */
	uint32_t ext_bytes;   /* extension bytes so far in this message */
	uint32_t trailer_bytes;
	uint8_t state;        /* CK_* in http1.c */
	uint8_t digits;
	uint8_t name_len;     /* trailer field name so far (capped) */
	char name[20];        /* its first bytes, lower case */
};

/* llhttp with the callbacks ringcap needs. `on_body` gets decoded body
 * bytes (chunk framing removed); `done` is set at message end, where the
 * parser pauses so that the caller knows where the next message starts. */
struct h1_parser {
	llhttp_t p;
	struct h1_msg *msg;        /* set only while a head is parsed */
	void (*on_body)(void *arg, const char *at, size_t n);
	/* optional: pieces of trailer fields after a chunked body (value 0: a
	 * piece of a name, 1: of a value; a field may come in several pieces).
	 * engine/h2.c passes an HTTP/1.1 response's trailers on to HTTP/2. */
	void (*on_trailer)(void *arg, int value, const char *at, size_t n);
	void *arg;
	uint8_t skip_body;         /* response to HEAD: no body follows */
	uint8_t done;
	uint8_t failed;
	uint8_t chunked;           /* the body is chunked: ck checks it */
	uint16_t ll_flags;         /* llhttp's framing flags at the head's end */
	uint64_t ll_length;        /* and its Content-Length then */
	struct h1_chunks ck;
};

/* Request target. */
struct h1_target {
	const char *host; size_t host_len;  /* without brackets for IPv6 */
	const char *path; size_t path_len;  /* "/" when the URL has none */
	uint16_t port;
	bool origin_form;                   /* "/..." : addressed to us */
	bool keep_host;                     /* inside a tunnel: the client's
					       Host goes upstream as sent */
	bool bracketed;                     /* IPv6 literal */
	bool no_path;                       /* absolute form without a path
					       ("http://h:1"): an OPTIONS goes
					       out as "OPTIONS *" (RFC 9112 3.2.4) */
};

/* Scans head bytes [s->pos, len) of p. Returns the head length (through the
 * blank line) once complete, -EAGAIN for "need more", -EBADMSG with *why
 * when the head is malformed, -E2BIG when it has more than max_lines,
 * -EMSGSIZE when the request line is longer than s->line_max. */
int h1_scan(struct h1_scan *s, const char *p, size_t len, unsigned max_lines,
	    const char **why);

void h1_parser_init(struct h1_parser *hp, bool response,
		    void (*on_body)(void *, const char *, size_t), void *arg);
/* Parses one complete head (as h1_scan delimited it) into m. Resets the
 * parser first. The framing we read from the headers must be the framing
 * llhttp will apply to the body (chunked, Content-Length and its value):
 * a head the two read differently is refused. Returns 0 or -EBADMSG with
 * *why. */
int h1_parse_head(struct h1_parser *hp, struct h1_msg *m, const char *head,
		  size_t len, const char **why);
/* Feeds body bytes; returns bytes consumed (all of n, or fewer when the
 * message ended: hp->done), or -EBADMSG with *why. A chunked body passes
 * h1_chunks_scan first: nothing of a call is consumed when it fails. */
long h1_parse_body(struct h1_parser *hp, const char *p, size_t n, const char **why);
/* Checks chunked framing in [p, p+n). Returns the bytes that belong to
 * this message (n, or fewer when the message ends inside), or -EBADMSG
 * with *why. Exposed for tests and the fuzz targets. */
long h1_chunks_scan(struct h1_chunks *ck, const char *p, size_t n, const char **why);
/* The peer closed: ends a close-delimited body. 0 or -EBADMSG. */
int h1_parse_eof(struct h1_parser *hp, const char **why);
/* True when the message needs no more bytes after its head. */
bool h1_body_expected(const struct h1_parser *hp);

int h1_parse_target(const char *url, size_t len, bool connect,
		    struct h1_target *t, const char **why);

/* Index of the first header named `name` (case-insensitive), or -1. */
int h1_find(const struct h1_msg *m, const char *name);
bool h1_is_hop_by_hop(const struct h1_msg *m, const struct h1_hdr *h);

/* Writes the head to send upstream: origin-form request line, end-to-end
 * headers, Host from the target, Via, Max-Forwards decremented. Keeps
 * Upgrade when `upgrade`. Returns bytes written or -ENOSPC. */
long h1_write_request(const struct h1_msg *m, const struct h1_target *t,
		      bool upgrade, char *out, size_t cap);
/* Writes the body of a TRACE answered by the proxy (Max-Forwards: 0): the
 * request line and headers as received, without Cookie, Authorization and
 * Proxy-Authorization (RFC 9110 9.3.8: credentials are not echoed), and the
 * blank line. Returns bytes written or -ENOSPC. */
long h1_write_trace_echo(const struct h1_msg *m, char *out, size_t cap);
/* Writes the head to send to the client: status line, end-to-end headers,
 * Via, "Connection: close" when close, Upgrade kept for a 101. */
long h1_write_response(const struct h1_msg *m, bool close, char *out, size_t cap);

#endif
