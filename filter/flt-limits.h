/* filter/flt-limits.h: every bound of the filter module, with its unit and
 * the reason for its value. A spec that would exceed one is rejected by the
 * parsers with an error naming the limit; nothing here grows at run time. */
#ifndef FLT_LIMITS_H
#define FLT_LIMITS_H

/* Distinct methods in one spec. HTTP defines 9 common ones; 16 leaves room
 * for WebDAV-style extension methods without making the list a scan. */
#define FLT_METHODS_MAX 16
/* Longest method token, bytes. The longest registered method
 * (UPDATEREDIRECTREF) is 17 bytes; 31 keeps a slot at 32 bytes. */
#define FLT_METHOD_LEN_MAX 31

/* Status criteria (codes and classes) in one spec; matched by a linear scan
 * at the response head, so kept small. */
#define FLT_STATUS_MAX 32

/* Mime-substring criteria (e.g. "application/pdf"); linear scan of the
 * Content-Type value at the response head. */
#define FLT_MIMES_MAX 16
/* Longest mime substring, bytes. Registered media types are <= 127 bytes
 * (RFC 6838 4.2); 127 fits that. */
#define FLT_MIME_LEN_MAX 127

/* Client criteria (CIDRs and names); linear scan at the request head. A
 * device lab larger than this should name groups, not devices. */
#define FLT_CLIENTS_MAX 64
/* Longest client name, bytes (a DNS label is at most 63). */
#define FLT_CLIENT_NAME_LEN_MAX 63

/* URL patterns (contains + excludes + regex) in one spec. All of them go
 * into one Hyperscan database whose scan cost does not grow with the count;
 * the bound only caps compile time (about 1 s at 10,000 regexes) and the
 * size of the text form. */
#define FLT_URL_PATTERNS_MAX 10000
/* Longest single URL pattern, bytes. Longer than any sane URL fragment; an
 * escaped literal takes 4 bytes per input byte in the Hyperscan source. */
#define FLT_URL_PATTERN_LEN_MAX 1024

/* Longest value the parsers accept for one item (method, status, type,
 * client or pattern), bytes: the largest of the lengths above. */
#define FLT_VALUE_LEN_MAX FLT_URL_PATTERN_LEN_MAX

/* Largest JSON body and text form the parsers read, bytes. 10,000 patterns
 * of typical length (~40 bytes) fit; a bigger body is refused before any
 * parsing. */
#define FLT_JSON_LEN_MAX (1u << 20)
#define FLT_TEXT_LEN_MAX (1u << 20)

/* Room for a user-facing error message, bytes, including the quoted bad
 * part (truncated to FLT_ERR_QUOTE_MAX bytes so the message stays short). */
#define FLT_ERR_LEN 256
#define FLT_ERR_QUOTE_MAX 96

_Static_assert(FLT_VALUE_LEN_MAX >= FLT_MIME_LEN_MAX, "value buffer too small");
_Static_assert(FLT_VALUE_LEN_MAX >= FLT_CLIENT_NAME_LEN_MAX, "value buffer too small");
_Static_assert(FLT_VALUE_LEN_MAX >= FLT_METHOD_LEN_MAX, "value buffer too small");
_Static_assert(FLT_ERR_QUOTE_MAX + 96 <= FLT_ERR_LEN, "error text would not fit");
_Static_assert(FLT_URL_PATTERNS_MAX < (1u << 24), "pattern ids must fit in a u32");

#endif
