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

#endif
