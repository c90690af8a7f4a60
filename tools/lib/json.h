/*
 * tools/lib/json.h - JSON in tools/: the one writer (a growable output
 * buffer with the one string escaper: API answers, `ls --json`; output
 * streams, a million-row listing never builds a tree) and reading through
 * jansson with the strictness every reader of ours shares (request bodies,
 * the session CLI's answers). Errors name the byte offset or the bad part.
 */
#ifndef RINGCAP_JSON_H
#define RINGCAP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- output ---- */

/* A growable buffer. max bounds it (0 = 64 MiB): past it, or when malloc
 * fails, oom is set and further appends are dropped (callers answer 500). */
struct rc_buf {
	char *p;     /* NUL-terminated while len < cap */
	size_t len, cap, max;
	bool oom;
};

void rc_buf_free(struct rc_buf *b);
void rc_buf_add(struct rc_buf *b, const void *p, size_t n);
void rc_buf_puts(struct rc_buf *b, const char *s);
__attribute__((format(printf, 2, 3)))
void rc_buf_printf(struct rc_buf *b, const char *fmt, ...);
/* n bytes as a JSON string (quotes included). Bytes that are not valid
 * UTF-8 are written as \u00XX (Latin-1), so the output is always valid. */
void rc_buf_jstr(struct rc_buf *b, const char *s, size_t n);

/* The one UTF-8 check of tools/: the length of the valid sequence at p (n
 * bytes left; no overlong forms, no surrogates, nothing above U+10FFFF),
 * 0 when invalid. */
size_t rc_utf8_len(const unsigned char *p, size_t n);
/* True when p[0..n) is valid UTF-8 without NUL bytes: text a person can
 * read (a body with NULs is binary even when it decodes). */
bool rc_utf8_valid(const uint8_t *p, size_t n);

/* ---- input: jansson, with the rules every reader of ours applies ---- */

/* Parses the whole of p[0..len) (white space around the value allowed)
 * strictly: duplicate keys, "\u0000" and bytes after the value are
 * errors. Returns 0 with *out (json_decref it) or -EINVAL with err set:
 * "invalid JSON: <what> at byte N", "bytes after the end at byte N",
 * "a key given twice (...)". */
int rc_json_parse(const char *p, size_t len, json_t **out, char *err, size_t errlen);
/* The same, and the value must be an object ("expected an object"). */
int rc_json_parse_object(const char *p, size_t len, json_t **out, char *err, size_t errlen);
/* A non-negative integer (no fraction, no exponent); -EINVAL else. */
int rc_json_u64(const json_t *v, uint64_t *out);
/* A decimal text "123" as rc_json_u64 reads it: 0 or -EINVAL. */
int rc_u64_text(const char *s, uint64_t *out);
/* "a string", "a number", ... for error messages. */
const char *rc_json_type_name(const json_t *v);
/* Every key of obj must be one of keys[0..n): 0, or -EINVAL with err
 * "unknown key 'K' (keys: a, b, c)". */
int rc_json_keys_known(const json_t *obj, const char *const *keys, size_t n, char *err,
		       size_t errlen);

#endif
