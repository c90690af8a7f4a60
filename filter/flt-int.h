/* filter/flt-int.h: helpers shared by the files of filter/ only (not part of
 * the public API): error formatting that quotes the bad part, and the
 * case-insensitive byte helpers the parsers and matchers use. */
#ifndef FLT_INT_H
#define FLT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "filter/flt.h"

/* Writes "<what> '<quoted part>'<tail>" into err (if err && errlen). The
 * quoted part is cut at FLT_ERR_QUOTE_MAX bytes ("..." appended) and
 * non-printable bytes are shown as \xHH, so a hostile value cannot smuggle
 * control characters into a log line. tail may be NULL. */
void flt_err_quote(char *err, size_t errlen, const char *what,
		   const char *part, size_t part_len, const char *tail);
/* printf-style message without a quoted part. */
void flt_err_fmt(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every allocation of the module goes through these, so that the fault
 * test (tests/filter/fault_test.c, built with FLT_FAULT_INJECTION) can fail
 * the Nth one and walk every cleanup path. */
#ifdef FLT_FAULT_INJECTION
void *flt_fault_malloc(size_t n);
void *flt_fault_calloc(size_t n, size_t size);
void *flt_fault_realloc(void *p, size_t n);
char *flt_fault_strdup(const char *s);
#define flt_malloc flt_fault_malloc
#define flt_calloc flt_fault_calloc
#define flt_realloc flt_fault_realloc
#define flt_strdup flt_fault_strdup
#else
#define flt_malloc malloc
#define flt_calloc calloc
#define flt_realloc realloc
#define flt_strdup strdup
#endif

static inline char flt_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* a[0..alen) equals NUL-terminated b, ignoring ASCII case. */
bool flt_eq_nocase(const char *a, size_t alen, const char *b);
/* Finds lower-case needle (nlen > 0) in hay, ignoring ASCII case. */
bool flt_contains_nocase(const char *hay, size_t hlen, const char *needle,
			 size_t nlen);

/* Validates a regex with Hyperscan (same flags flt_compile uses) and sets
 * err to "invalid regex '<re>': <reason>" when it does not compile. */
int flt_regex_check(const char *re, char *err, size_t errlen);
/* True when a Hyperscan compile error is an allocation failure, not a bad
 * pattern. Hyperscan reports both as HS_COMPILER_ERROR and tells them apart
 * only by message ("Unable to allocate memory.", "Could not allocate memory
 * for bytecode."), so the message is what we test. */
bool flt_hs_nomem(const void *hs_compile_error);
/* Hyperscan flags for a URL pattern of the given role. */
unsigned flt_hs_flags(int role);

/* Display values shared by the text and JSON forms (filter/text.c). */
int flt_client_format(const struct flt_client *c, char *buf, size_t cap);
int flt_status_format(const struct flt_status_range *r, char *buf,
		      size_t cap);
/* Type values in display order: classes (enum order, "media" for
 * image+audio+video), then mime substrings. Returns the count. */
int flt_type_values(const struct flt_spec *s, const char **names, int cap);

#endif
