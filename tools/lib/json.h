/*
 * tools/lib/json.h - the small JSON the control plane needs: a growable output
 * buffer with a string escaper (API answers, `ls --json`), and a strict,
 * flat reader for request bodies (an object of members whose values are
 * scalars or nested objects/arrays handed back as raw spans).
 *
 * The reader never recurses: a nested value is skipped with a depth
 * counter (bounded by RC_JSON_DEPTH_MAX) and returned as its raw text, so
 * the caller parses it with a reader of its own (the filter's JSON form
 * goes to flt_spec_parse_json; an "ids" array to rc_json_array_next).
 * Errors name the byte offset or the bad part ("expected ':' at byte 12").
 */
#ifndef RINGCAP_JSON_H
#define RINGCAP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_JSON_DEPTH_MAX 32u  /* nesting accepted inside a skipped value */

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

/* ---- input ---- */

enum rc_jtype { RC_J_STRING = 0, RC_J_NUMBER, RC_J_TRUE, RC_J_FALSE, RC_J_NULL,
		RC_J_OBJECT, RC_J_ARRAY };

/* One value: p/len is its raw text (a string with its quotes). */
struct rc_jval {
	enum rc_jtype type;
	const char *p;
	size_t len;
};

struct rc_jreader {
	const char *p;
	size_t len, pos;
	unsigned n;    /* members or elements read so far */
	char close;    /* '}' or ']' */
};

/* Starts reading the object (or array) that is the whole of p[0..len)
 * (white space around it allowed). 0 or -EINVAL with err set. */
int rc_json_object_begin(struct rc_jreader *r, const char *p, size_t len, char *err,
			 size_t errlen);
int rc_json_array_begin(struct rc_jreader *r, const char *p, size_t len, char *err,
			size_t errlen);
/* Next member: key decoded into key[keycap] (longer keys are an error).
 * Returns 1 with a member, 0 at the end of the object (trailing bytes
 * after it are an error), -EINVAL with err set. */
int rc_json_object_next(struct rc_jreader *r, char *key, size_t keycap, struct rc_jval *v,
			char *err, size_t errlen);
/* Next element of an array; same returns. */
int rc_json_array_next(struct rc_jreader *r, struct rc_jval *v, char *err, size_t errlen);

/* Decodes a string value into out[cap] (NUL-terminated, no NUL inside:
 * "\u0000" is refused). Returns the length or -EINVAL/-E2BIG. */
int rc_json_string(const struct rc_jval *v, char *out, size_t cap);
/* A non-negative integer without fraction or exponent; -EINVAL else. */
int rc_json_u64(const struct rc_jval *v, uint64_t *out);
/* true/false; -EINVAL for anything else. */
int rc_json_bool(const struct rc_jval *v, bool *out);
/* "string", "number", ... for error messages. */
const char *rc_json_type_name(enum rc_jtype t);

#endif
