/*
 * tools/views/export-int.h - private to the export and import views: the
 * buffered output towards a sink, header and URL helpers over a stored
 * exchange, body classification and the per-format writers.
 */
#ifndef RINGCAP_EXPORT_INT_H
#define RINGCAP_EXPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/scan.h"
#include "persist/seg.h"
#include "tools/views/export.h"

/* rc_buf_puts of a string literal without its strlen (the writers put
 * some dozens per exchange). */
#define RC_PUTS(b, lit) rc_buf_add((b), "" lit, sizeof(lit) - 1)

/* JSON built in b and handed to the sink whenever it passes
 * RC_EXPORT_FLUSH; err keeps the first failure (then nothing more goes). */
struct rc_xout {
	struct rc_buf b;
	const struct rc_sink *sink;
	int err;
	uint64_t bytes;
	uint64_t iso_sec;  /* the second iso_prefix formats (+1: none yet) */
	char iso_prefix[32]; /* "YYYY-MM-DDTHH:MM:SS" */
};

void rc_xout_init(struct rc_xout *o, const struct rc_sink *sink);
/* Flushes when the buffer is past RC_EXPORT_FLUSH (force: always). */
int rc_xout_flush(struct rc_xout *o, bool force);
void rc_xout_free(struct rc_xout *o);

/* One header line of a raw head block. */
struct rc_hdr {
	const char *name, *value;
	size_t name_len, value_len;
};

/* Iterates the header lines after the start line of head[0..n): *pos
 * starts at 0. Returns true with a line, false at the end. */
bool rc_hdr_next(const uint8_t *head, size_t n, size_t *pos, struct rc_hdr *h);
/* The next "name: value" line of p[0..n) from *pos (a block of field
 * lines without a start line: trailers), the value without its
 * surrounding blanks; lines without a colon (a cut block's last piece) are
 * skipped. False at the end or at a blank line. */
bool rc_field_next(const uint8_t *p, size_t n, size_t *pos, struct rc_hdr *h);
/* The first value of header name (case-insensitive), or false. */
bool rc_hdr_get(const uint8_t *head, size_t n, const char *name, struct rc_hdr *h);
/* Hop-by-hop, proxy and framing headers a replayed request must not
 * carry (Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
 * Upgrade, Host, Content-Length). */
bool rc_hdr_skip(const struct rc_hdr *h);
/* [{"NAME_KEY":name,"value":value},...] of the field lines of p[0..n): a
 * head after its start line (start_line) or a trailer block; skip drops
 * what rc_hdr_skip names. */
void rc_fields_json(struct rc_buf *b, const char *name_key, const uint8_t *p, size_t n,
		    bool start_line, bool skip);
/* "ARRAY":[{"NAME_KEY":name,"value":value},...] of a head's header lines
 * (HAR says "name", Postman "key"); skip drops rc_hdr_skip's lines. */
void rc_headers_json(struct rc_buf *b, const char *array, const char *name_key,
		     const uint8_t *head, size_t n, bool skip);

/* The parts of an absolute URL (spans into it). */
struct rc_url {
	const char *scheme, *host, *port, *path, *query;
	size_t scheme_len, host_len, port_len, path_len, query_len;
	const char *origin;   /* scheme://host[:port] */
	size_t origin_len;
};
void rc_url_split(const char *url, size_t n, struct rc_url *u);

/* How a body is carried. */
enum rc_body_kind { RC_BODY_NONE = 0, RC_BODY_TEXT, RC_BODY_URLENC, RC_BODY_MULTIPART,
		    RC_BODY_BINARY };
/* From the Content-Type value and the bytes: text when valid UTF-8
 * without NUL, urlencoded/multipart by type, binary otherwise. */
enum rc_body_kind rc_body_kind(const char *ctype, size_t ctype_len, const uint8_t *p, size_t n);
/* Postman's raw language for a Content-Type: json, xml, html, javascript
 * or text. */
const char *rc_raw_language(const char *ctype, size_t ctype_len);
/* x's response body decoded from its gzip or deflate Content-Encoding
 * (export_util.c): the length, *body and *n pointing at *dec (the caller frees
 * it); -1 with them unchanged when it has no such coding or does not
 * inflate whole within RC_EXPORT_DECODED_MAX. */
long rc_resp_decoded(const struct seg_exchange *x, const uint8_t **body, size_t *n,
		     uint8_t **dec);
/* Appends rc_iso_time(ns) (UTC, milliseconds), formatting the date only
 * when the second changes (exchanges in time order share it). */
void rc_xout_iso_time(struct rc_xout *o, uint64_t ns);
/* Fast number output (the export writes some dozens per exchange). */
void rc_buf_i64(struct rc_buf *b, int64_t v);
/* v microseconds as milliseconds with three decimals ("12.345", "-1.000"). */
void rc_buf_ms(struct rc_buf *b, int64_t us);
/* A body as a JSON string (quotes included), or its base64 in quotes, in
 * slices with a flush after each: a body of some MiB (6 bytes out per
 * control byte in JSON) never sits in the buffer whole. */
void rc_xout_jstr(struct rc_xout *o, const uint8_t *p, size_t n);
void rc_xout_base64(struct rc_xout *o, const uint8_t *p, size_t n);
/* Appends the base64 of p[0..n) (no quotes). */
void rc_buf_base64(struct rc_buf *b, const uint8_t *p, size_t n);
/* Appends s[0..n) percent-decoded ('+' as space) as a JSON string. */
void rc_buf_jstr_urldec(struct rc_buf *b, const char *s, size_t n);

/* One part of a multipart/form-data body (spans into the body). */
struct rc_part {
	const char *name, *filename, *ctype;
	size_t name_len, filename_len, ctype_len;
	const uint8_t *data;
	size_t data_len;
};
/* Iterates the parts of a multipart body with the boundary of ctype:
 * *pos starts at 0. Returns 1 with a part, 0 at the end or on a body it
 * cannot split. */
int rc_multipart_next(const char *ctype, size_t ctype_len, const uint8_t *p, size_t n,
		      size_t *pos, struct rc_part *part);

/* One persist open cache per worker (workers beyond share by modulo): a
 * selection in time order interleaves the workers' files, and a cache
 * holds one file. Each costs about a frame buffer, a read buffer and a
 * zstd context (under 2 MiB) once used. */
#define RC_EXPORT_CACHES 8u
struct rc_caches {
	struct seg_open_cache *w[RC_EXPORT_CACHES];
};
void rc_caches_free(struct rc_caches *cs);

/* Opens row r's exchange with bodies (RC_EXPORT_BODY_MAX) through the
 * cache of its worker (rows in file order decompress each frame once).
 * 0 or -errno. */
int rc_export_open(const char *session_dir, const struct seg_qrow *r, struct rc_caches *cs,
		   struct seg_exchange *x);

/* Per-format writers over an opened exchange (export.c drives them). */
int rc_har_begin(struct rc_xout *o, const struct ses_meta *m);
void rc_har_entry(struct rc_xout *o, const struct seg_exchange *x, bool first);
int rc_har_end(struct rc_xout *o);
void rc_curl_entry(struct rc_xout *o, const struct seg_exchange *x);

/* The selection in its order: persist's streaming scan (persist/scan.h)
 * when it can run the query (sort by time, size or duration), else the
 * whole index table as ls loads it (sort by status, method, type, host or
 * URL). */
struct rc_sel {
	struct seg_scan *scan;
	struct seg_table t;
	struct seg_result res;
	size_t k;              /* rows handed out */
	struct seg_qrow row;   /* the scan's current row */
};
/* 0 or -errno (the session cannot be read, -ENOMEM). */
int rc_sel_open(struct rc_sel *s, const char *session_dir, const struct seg_query *q);
/* Rows the selection hands out. */
size_t rc_sel_count(const struct rc_sel *s);
/* 1 with *r (valid until the next call), 0 at the end, -errno. */
int rc_sel_next(struct rc_sel *s, const struct seg_qrow **r);
void rc_sel_close(struct rc_sel *s);

/* A stable sort of fixed-size records by the two uint64_t keys in their
 * first sixteen bytes (key, then key2; rec_size >= 16), in at most about
 * mem_max bytes: runs beyond it go to an
 * unlinked temporary file ($TMPDIR or /tmp) and are merged back
 * (export_sort.c). Add everything, finish, then read in order. */
struct rc_xsort;
int rc_xsort_new(size_t rec_size, size_t mem_max, struct rc_xsort **out);
int rc_xsort_add(struct rc_xsort *s, const void *rec);
int rc_xsort_finish(struct rc_xsort *s);
/* 1 with rec filled, 0 at the end, -errno. */
int rc_xsort_next(struct rc_xsort *s, void *rec);
void rc_xsort_free(struct rc_xsort *s);

/* The collection writer runs its own ordering pass (export_postman.c);
 * it consumes (and closes) the selection. */
int rc_postman_write(const char *session_dir, const struct ses_meta *m, struct rc_sel *sel,
		     struct rc_caches *cache,
		     const struct rc_export_opts *opt, struct rc_xout *o,
		     struct rc_export_stats *st);

#endif
