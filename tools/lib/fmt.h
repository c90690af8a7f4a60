/*
 * tools/lib/fmt.h - small text helpers shared by the rooms: JSON strings into
 * a FILE, the one hex digit value and percent-decoding, the
 * ISO 8601 UTC time the offline listings print, and finding the session an
 * offline command names.
 */
#ifndef RINGCAP_FMT_H
#define RINGCAP_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes s[0..n) as a JSON string through the one escaper of tools/
 * (rc_buf_jstr, json.h): quotes, backslash and control bytes escaped;
 * valid UTF-8 passes through; any other byte is written as the Latin-1
 * character of the same value (\u00XX), so hostile bytes never make the
 * document invalid. */
void rc_json_str(FILE *f, const char *s, size_t n);

/* The value of hex digit c (either case), -1 when it is none. */
int rc_hexval(char c);
/* Percent-decodes s[0..n) into out[cap] (NUL-terminated); with plus, '+'
 * is a space (query strings). Returns the length, -EINVAL for a bad
 * escape or a decoded NUL, -E2BIG when it does not fit. */
int rc_pct_decode(const char *s, size_t n, bool plus, char *out, size_t cap);

/* "2026-11-29T04:40:30.123Z" from wall-clock ns (buf >= 32 bytes). */
void rc_iso_time(uint64_t ns, char *buf, size_t len);

/* v bytes as "512 B", "1.2 KiB" ... "3.0 PiB" (binary units, one decimal). */
void rc_human_bytes(uint64_t v, char *buf, size_t n);

/* Copies s[0..n) into dst for a terminal table: control bytes become
 * '?', and text longer than width display columns is cut with "...".
 * dst needs 4 * width + 4 bytes. Returns the display columns used. */
size_t rc_clean(char *dst, size_t cap, const char *s, size_t n, size_t width);

struct ses_meta;

/* The session an offline command names (id or name) in data: its metadata
 * into *m and its directory into dir. On failure says "ringcap CMD: no
 * session 'NAME' in DATA" on stderr and returns -errno. */
int rc_session_dir(const char *cmd, const char *data, const char *name, struct ses_meta *m,
		   char *dir, size_t cap);

#endif
