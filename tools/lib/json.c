/*
 * tools/lib/json.c - the output buffer and the one JSON string escaper of
 * tools/ (json.h), and reading through jansson with our rules: duplicate
 * keys refused, the whole text one value, errors naming the byte.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lib/json.h"

#define BUF_MAX_DEFAULT (64u << 20)

void rc_buf_free(struct rc_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static bool reserve(struct rc_buf *b, size_t n)
{
	size_t max = b->max ? b->max : BUF_MAX_DEFAULT;
	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	if (b->len + n + 1 > max) {
		b->oom = true;
		return false;
	}
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > max)
		cap = max;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void rc_buf_add(struct rc_buf *b, const void *p, size_t n)
{
	if (!reserve(b, n))
		return;
	if (n > 0) /* p may be NULL for an empty piece */
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void rc_buf_puts(struct rc_buf *b, const char *s)
{
	rc_buf_add(b, s, strlen(s));
}

void rc_buf_printf(struct rc_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

size_t rc_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], cp, min;
	size_t need;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2; min = 0x80; cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3; min = 0x800; cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4; min = 0x10000; cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

bool rc_utf8_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = p[i] ? rc_utf8_len(p + i, n - i) : 0;
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

void rc_buf_jstr(struct rc_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	rc_buf_add(b, "\"", 1);
	size_t i = 0;
	while (i < n && !b->oom) {
		size_t run = i;
		/* copy runs of plain printable ASCII in one go */
		while (run < n && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '"' && u[run] != '\\')
			run++;
		if (run > i) {
			rc_buf_add(b, s + i, run - i);
			i = run;
			continue;
		}
		size_t k = u[i] >= 0x80 ? rc_utf8_len(u + i, n - i) : 0;
		if (k > 0) {
			rc_buf_add(b, s + i, k);
			i += k;
		} else if (u[i] == '"' || u[i] == '\\' || u[i] == '\n' || u[i] == '\r' ||
			   u[i] == '\t') {
			char esc[2] = { '\\', u[i] == '\n' ? 'n' : u[i] == '\r' ? 'r' :
					       u[i] == '\t' ? 't' : (char)u[i] };
			rc_buf_add(b, esc, 2);
			i++;
		} else {
			rc_buf_printf(b, "\\u%04x", u[i]);
			i++;
		}
	}
	rc_buf_add(b, "\"", 1);
}

/* ---- reader (jansson) ---- */

int rc_json_parse(const char *p, size_t len, json_t **out, char *err, size_t errlen)
{
	json_error_t e;
	*out = json_loadb(p ? p : "", len, JSON_REJECT_DUPLICATES, &e);
	if (*out)
		return 0;
	switch (json_error_code(&e)) {
	case json_error_end_of_input_expected:
		snprintf(err, errlen, "invalid JSON: bytes after the end at byte %d", e.position - 1);
		break;
	case json_error_duplicate_key:
		snprintf(err, errlen, "invalid JSON: a key given twice (%s)", e.text);
		break;
	default:
		snprintf(err, errlen, "invalid JSON: %s at byte %d", e.text, e.position);
		break;
	}
	return -EINVAL;
}

int rc_json_parse_object(const char *p, size_t len, json_t **out, char *err, size_t errlen)
{
	int rc = rc_json_parse(p, len, out, err, errlen);
	if (rc == 0 && !json_is_object(*out)) {
		snprintf(err, errlen, "invalid JSON: expected an object, not %s",
			 rc_json_type_name(*out));
		json_decref(*out);
		*out = NULL;
		rc = -EINVAL;
	}
	return rc;
}

int rc_json_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int rc_u64_text(const char *s, uint64_t *out)
{
	uint64_t x = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*out = x;
	return 0;
}

const char *rc_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: case JSON_REAL: return "a number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	default: return "null";
	}
}

int rc_json_keys_known(const json_t *obj, const char *const *keys, size_t n, char *err,
		       size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t k = 0;
		while (k < n && strcmp(key, keys[k]) != 0)
			k++;
		if (k < n)
			continue;
		int at = snprintf(err, errlen, "unknown key '%.64s' (keys:", key);
		for (k = 0; k < n && at > 0 && (size_t)at < errlen; k++)
			at += snprintf(err + at, errlen - (size_t)at, "%s %s", k ? "," : "", keys[k]);
		if (at > 0 && (size_t)at < errlen)
			snprintf(err + at, errlen - (size_t)at, ")");
		return -EINVAL;
	}
	return 0;
}
