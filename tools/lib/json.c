/*
 * tools/lib/json.c - output buffer, string escaping and the flat JSON reader of
 * tools/json.h. The reader validates strings (escapes, no raw control
 * characters, valid UTF-8 on decode), numbers (RFC 8259 grammar) and
 * literals; a nested value is skipped by a loop that keeps a small stack of
 * open brackets, so mismatched brackets are caught there and the inner
 * grammar is checked by whoever reads the span.
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

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
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
		size_t k = u[i] >= 0x80 ? utf8_len(u + i, n - i) : 0;
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

/* ---- reader ---- */

static void skip_ws(struct rc_jreader *r)
{
	while (r->pos < r->len && (r->p[r->pos] == ' ' || r->p[r->pos] == '\t' ||
				   r->p[r->pos] == '\n' || r->p[r->pos] == '\r'))
		r->pos++;
}

static int fail(char *err, size_t errlen, const char *what, size_t pos)
{
	snprintf(err, errlen, "invalid JSON: %s at byte %zu", what, pos);
	return -EINVAL;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Moves past the string starting at r->pos ('"'); checks escapes. */
static int scan_string(struct rc_jreader *r, char *err, size_t errlen)
{
	size_t start = r->pos++;
	while (r->pos < r->len) {
		unsigned char c = (unsigned char)r->p[r->pos];
		if (c == '"') {
			r->pos++;
			return 0;
		}
		if (c < 0x20)
			return fail(err, errlen, "control character in a string", r->pos);
		if (c != '\\') {
			r->pos++;
			continue;
		}
		if (r->pos + 1 >= r->len)
			break;
		char e = r->p[r->pos + 1];
		if (e == 'u') {
			if (r->pos + 6 > r->len || !is_hex(r->p[r->pos + 2]) || !is_hex(r->p[r->pos + 3]) ||
			    !is_hex(r->p[r->pos + 4]) || !is_hex(r->p[r->pos + 5]))
				return fail(err, errlen, "bad \\u escape", r->pos);
			r->pos += 6;
		} else if (strchr("\"\\/bfnrt", e) && e != '\0') {
			r->pos += 2;
		} else {
			return fail(err, errlen, "bad escape", r->pos);
		}
	}
	return fail(err, errlen, "unterminated string", start);
}

static int scan_number(struct rc_jreader *r, char *err, size_t errlen)
{
	size_t s = r->pos;
	const char *p = r->p;
	size_t n = r->len, i = s;
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return fail(err, errlen, "bad number", s);
	if (i < n && p[i] == '.') {
		size_t d = ++i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return fail(err, errlen, "bad number", s);
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return fail(err, errlen, "bad number", s);
	}
	r->pos = i;
	return 0;
}

/* Skips a nested object/array with a bracket stack (no recursion). */
static int scan_nested(struct rc_jreader *r, char *err, size_t errlen)
{
	char stack[RC_JSON_DEPTH_MAX];
	unsigned depth = 0;
	size_t start = r->pos;
	while (r->pos < r->len) {
		char c = r->p[r->pos];
		if (c == '"') {
			int rc = scan_string(r, err, errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == RC_JSON_DEPTH_MAX)
				return fail(err, errlen, "nested too deep", r->pos);
			stack[depth++] = c == '{' ? '}' : ']';
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != c)
				return fail(err, errlen, "mismatched bracket", r->pos);
			if (--depth == 0) {
				r->pos++;
				return 0;
			}
		}
		r->pos++;
	}
	return fail(err, errlen, "unterminated value", start);
}

static int read_value(struct rc_jreader *r, struct rc_jval *v, char *err, size_t errlen)
{
	static const struct { const char *lit; enum rc_jtype t; } lits[] = {
		{ "true", RC_J_TRUE }, { "false", RC_J_FALSE }, { "null", RC_J_NULL },
	};
	skip_ws(r);
	if (r->pos >= r->len)
		return fail(err, errlen, "value expected", r->pos);
	size_t s = r->pos;
	char c = r->p[s];
	int rc = 0;
	if (c == '"') {
		v->type = RC_J_STRING;
		rc = scan_string(r, err, errlen);
	} else if (c == '{' || c == '[') {
		v->type = c == '{' ? RC_J_OBJECT : RC_J_ARRAY;
		rc = scan_nested(r, err, errlen);
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		v->type = RC_J_NUMBER;
		rc = scan_number(r, err, errlen);
	} else {
		rc = -EINVAL;
		for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
			size_t n = strlen(lits[i].lit);
			if (r->len - s >= n && memcmp(r->p + s, lits[i].lit, n) == 0) {
				v->type = lits[i].t;
				r->pos += n;
				rc = 0;
				break;
			}
		}
		if (rc < 0)
			return fail(err, errlen, "unexpected character", s);
	}
	if (rc < 0)
		return rc;
	v->p = r->p + s;
	v->len = r->pos - s;
	return 0;
}

static int begin(struct rc_jreader *r, const char *p, size_t len, char open, char *err,
		 size_t errlen)
{
	*r = (struct rc_jreader){ .p = p, .len = len, .close = open == '{' ? '}' : ']' };
	skip_ws(r);
	if (r->pos >= len || p[r->pos] != open) {
		snprintf(err, errlen, "invalid JSON: expected %s at byte %zu",
			 open == '{' ? "an object" : "an array", r->pos);
		return -EINVAL;
	}
	r->pos++;
	return 0;
}

int rc_json_object_begin(struct rc_jreader *r, const char *p, size_t len, char *err,
			 size_t errlen)
{
	return begin(r, p, len, '{', err, errlen);
}

int rc_json_array_begin(struct rc_jreader *r, const char *p, size_t len, char *err,
			size_t errlen)
{
	return begin(r, p, len, '[', err, errlen);
}

/* Separator or end: 1 when another item follows, 0 at the end (which
 * must be the end of the text too). */
static int next_item(struct rc_jreader *r, char *err, size_t errlen)
{
	skip_ws(r);
	if (r->pos < r->len && r->p[r->pos] == r->close) {
		r->pos++;
		skip_ws(r);
		if (r->pos != r->len)
			return fail(err, errlen, "bytes after the end", r->pos);
		return 0;
	}
	if (r->n > 0) {
		if (r->pos >= r->len || r->p[r->pos] != ',')
			return fail(err, errlen, "expected ',' or end", r->pos);
		r->pos++;
	}
	return 1;
}

int rc_json_object_next(struct rc_jreader *r, char *key, size_t keycap, struct rc_jval *v,
			char *err, size_t errlen)
{
	int rc = next_item(r, err, errlen);
	if (rc <= 0)
		return rc;
	struct rc_jval k;
	skip_ws(r);
	if (r->pos >= r->len || r->p[r->pos] != '"')
		return fail(err, errlen, "expected a key", r->pos);
	size_t at = r->pos;
	if ((rc = read_value(r, &k, err, errlen)) < 0)
		return rc;
	if (rc_json_string(&k, key, keycap) < 0)
		return fail(err, errlen, "unknown or bad key", at);
	skip_ws(r);
	if (r->pos >= r->len || r->p[r->pos] != ':')
		return fail(err, errlen, "expected ':'", r->pos);
	r->pos++;
	if ((rc = read_value(r, v, err, errlen)) < 0)
		return rc;
	r->n++;
	return 1;
}

int rc_json_array_next(struct rc_jreader *r, struct rc_jval *v, char *err, size_t errlen)
{
	int rc = next_item(r, err, errlen);
	if (rc <= 0)
		return rc;
	if ((rc = read_value(r, v, err, errlen)) < 0)
		return rc;
	r->n++;
	return 1;
}

static unsigned hex4(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* One escape at p (after the backslash, end bounds it) into out; returns
 * bytes of input used, or 0 when invalid (lone surrogate, \u0000). */
static size_t unescape(const char *p, const char *end, char *out, size_t *outn)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *f = strchr(from, *p);
	if (*p != 'u') {
		if (f == NULL || *p == '\0')
			return 0;
		out[0] = to[f - from];
		*outn = 1;
		return 1;
	}
	unsigned cp = hex4(p + 1);
	size_t used = 5;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - p < 11 || p[5] != '\\' || p[6] != 'u')
			return 0;
		unsigned lo = hex4(p + 7);
		if (lo < 0xdc00 || lo > 0xdfff)
			return 0;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		used = 11;
	} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
		return 0;
	}
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp; *outn = 1;
	} else if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		*outn = 2;
	} else if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f)); *outn = 3;
	} else {
		o[0] = (unsigned char)(0xf0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (unsigned char)(0x80 | (cp & 0x3f));
		*outn = 4;
	}
	return used;
}

int rc_json_string(const struct rc_jval *v, char *out, size_t cap)
{
	if (v->type != RC_J_STRING || v->len < 2 || cap == 0)
		return -EINVAL;
	const char *p = v->p + 1, *end = v->p + v->len - 1;
	size_t n = 0;
	while (p < end) {
		char tmp[4];
		size_t k;
		if (*p == '\\') {
			size_t used = unescape(p + 1, end, tmp, &k);
			if (used == 0)
				return -EINVAL;
			p += 1 + used;
		} else {
			k = utf8_len((const unsigned char *)p, (size_t)(end - p));
			if (k == 0)
				return -EINVAL;
			memcpy(tmp, p, k);
			p += k;
		}
		if (n + k >= cap)
			return -E2BIG;
		memcpy(out + n, tmp, k);
		n += k;
	}
	out[n] = '\0';
	return (int)n;
}

int rc_json_u64(const struct rc_jval *v, uint64_t *out)
{
	if (v->type != RC_J_NUMBER || v->len == 0 || v->len > 20)
		return -EINVAL;
	uint64_t x = 0;
	for (size_t i = 0; i < v->len; i++) {
		char c = v->p[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*out = x;
	return 0;
}

int rc_json_bool(const struct rc_jval *v, bool *out)
{
	if (v->type != RC_J_TRUE && v->type != RC_J_FALSE)
		return -EINVAL;
	*out = v->type == RC_J_TRUE;
	return 0;
}

const char *rc_json_type_name(enum rc_jtype t)
{
	static const char *const names[] = { "a string", "a number", "true", "false", "null",
					     "an object", "an array" };
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}
