/*
 * tools/views/coding.h - a stored body's Content-Encoding undone for
 * reading: `ringcap show` prints it decoded (as HTTPie does) and
 * `ls --search-bodies` searches the decoded text. gzip (and x-gzip) and
 * deflate (zlib-wrapped, or raw as some servers send it) with zlib; other
 * codings (br, zstd, compress) are left as stored. The store keeps the
 * bytes as they crossed the wire; nothing here changes them. Pure.
 */
#ifndef RINGCAP_VIEWS_CODING_H
#define RINGCAP_VIEWS_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_INFLATE_STEPS 40u   /* output doublings from 1 KiB: past any max_out */
/* Bytes a body decoded for export may grow to: past any --max-body (16 MiB
 * by default) a real response inflates to; more is a decompression bomb,
 * exported as stored. */
#define RC_EXPORT_DECODED_MAX (64u << 20)

/* The Content-Encoding value of a stored head (start line, then
 * "Name: value" lines), NULL when it has none or it is "identity";
 * *len its length. */
const char *rc_content_coding(const uint8_t *head, size_t head_len, size_t *len);

/* p[0..n), sent with Content-Encoding ce[0..cel), decoded into *out
 * (malloc'd, the caller frees). Returns the decoded length; -ENOTSUP for
 * a coding this does not read, -EBADMSG when the bytes do not inflate,
 * -ENOMEM. A body stored short decodes as far as it goes; output past
 * max_out (a decompression bomb) is left out and *cut set. */
long rc_body_decode(const char *ce, size_t cel, const uint8_t *p, size_t n, size_t max_out,
		    uint8_t **out, bool *cut);

/* The other way, for HAR import (whose text is decoded, HAR 1.2): p[0..n)
 * encoded for Content-Encoding ce[0..cel) (gzip, x-gzip, deflate) into
 * *out (malloc'd). Returns its length; -ENOTSUP for another coding,
 * -ENOMEM. */
long rc_body_encode(const char *ce, size_t cel, const uint8_t *p, size_t n, uint8_t **out);

/* Whether p[0..n) is already one whole stream of coding ce (gzip: its
 * magic; deflate: a zlib stream that inflates to its end), so an import
 * keeps it as it is rather than encoding it again. */
bool rc_body_coded(const char *ce, size_t cel, const uint8_t *p, size_t n);

#endif
