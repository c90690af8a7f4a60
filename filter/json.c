/* filter/json.c: the JSON form of a spec (control API body), read by a small
 * strict reader written for exactly this shape:
 *
 *   { "methods": [..], "status": [..], "types": [..], "clients": [..],
 *     "url_contains": [..], "url_excludes": [..], "url_regex": [..] }
 *
 * Every key optional, at most once; every value an array of strings, except
 * that "status" also takes integers (404). Anything else — another type,
 * nesting, an unknown key, invalid UTF-8, a lone surrogate, \u0000, a raw
 * control character, bytes after the object — is an error that names the
 * byte offset or quotes the bad part. The reader is a flat loop (the shape
 * has a fixed depth of 2, so no recursion and no stack of states); it
 * allocates nothing itself and decodes each string into one fixed buffer of
 * FLT_VALUE_LEN_MAX bytes; the spec grows through flt_spec_add only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter/flt.h"
#include "filter/flt-int.h"

struct reader {
	const unsigned char *p;
	size_t len, pos;
	char *err;
	size_t errlen;
};

static const char *const json_keys[FLT_KIND_COUNT] = {
	[FLT_KIND_METHOD] = "methods",
	[FLT_KIND_STATUS] = "status",
	[FLT_KIND_TYPE] = "types",
	[FLT_KIND_CLIENT] = "clients",
	[FLT_KIND_URL_CONTAINS] = "url_contains",
	[FLT_KIND_URL_EXCLUDES] = "url_excludes",
	[FLT_KIND_URL_REGEX] = "url_regex",
};

static int parse_array(struct reader *r, struct flt_spec *s, int kind,
		       char *v);

static void skip_ws(struct reader *r)
{
	while (r->pos < r->len && (r->p[r->pos] == ' ' || r->p[r->pos] == '\t' ||
				   r->p[r->pos] == '\n' || r->p[r->pos] == '\r'))
		r->pos++;
}

static int expect(struct reader *r, char c)
{
	skip_ws(r);
	if (r->pos < r->len && r->p[r->pos] == (unsigned char)c) {
		r->pos++;
		return 0;
	}
	flt_err_fmt(r->err, r->errlen, "JSON: expected '%c' at byte %zu", c,
		    r->pos);
	return -EINVAL;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 if
 * invalid (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t need;
	unsigned min, cp;

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
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		unsigned d = (c >= '0' && c <= '9') ? c - (unsigned)'0' :
			     (c >= 'a' && c <= 'f') ? c - 'a' + 10u :
			     (c >= 'A' && c <= 'F') ? c - 'A' + 10u : 16u;
		if (d > 15)
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Decodes \uXXXX (and a following low surrogate) at r->pos (just after the
 * "\u") into UTF-8 at v; returns bytes written (1..4) or 0 when invalid. */
static size_t read_u_escape(struct reader *r, char *v)
{
	unsigned cp, lo;

	if (r->len - r->pos < 4 || hex4(r->p + r->pos, &cp) < 0)
		return 0;
	r->pos += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return 0;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (r->len - r->pos < 6 || r->p[r->pos] != '\\' ||
		    r->p[r->pos + 1] != 'u' || hex4(r->p + r->pos + 2, &lo) < 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return 0;
		r->pos += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return 0;
	if (cp < 0x80) {
		v[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		v[0] = (char)(0xc0 | cp >> 6);
		v[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		v[0] = (char)(0xe0 | cp >> 12);
		v[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		v[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	v[0] = (char)(0xf0 | cp >> 18);
	v[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	v[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	v[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static char simple_escape(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '/': return '/';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	default: return 0;
	}
}

/* Reads a JSON string at r->pos (after whitespace) into v, which holds
 * cap bytes; *n gets the decoded length. 0, or -EINVAL with err set. */
static int read_string(struct reader *r, char *v, size_t cap, size_t *n)
{
	size_t start = r->pos, k = 0, u;

	if (r->pos >= r->len || r->p[r->pos] != '"')
		goto bad;
	for (r->pos++; r->pos < r->len && r->p[r->pos] != '"';) {
		unsigned char c = r->p[r->pos];
		if (k + 4 > cap) {
			flt_err_quote(r->err, r->errlen, "JSON: string too long",
				      (const char *)r->p + start + 1, k, NULL);
			return -EINVAL;
		}
		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			u = utf8_len(r->p + r->pos, r->len - r->pos);
			if (!u)
				goto bad;
			memcpy(v + k, r->p + r->pos, u);
			k += u;
			r->pos += u;
			continue;
		}
		if (r->pos + 1 >= r->len)
			goto bad;
		c = r->p[r->pos + 1];
		r->pos += 2;
		if (c == 'u') {
			u = read_u_escape(r, v + k);
			if (!u)
				goto bad;
			k += u;
		} else if (simple_escape(c)) {
			v[k++] = simple_escape(c);
		} else {
			goto bad;
		}
	}
	if (r->pos >= r->len)
		goto bad;
	r->pos++;
	*n = k;
	return 0;
bad:
	flt_err_fmt(r->err, r->errlen, "JSON: bad string at byte %zu", start);
	return -EINVAL;
}

/* A status given as a JSON number: integer 100..599 only. */
static int read_status_number(struct reader *r, struct flt_spec *s)
{
	size_t start = r->pos;
	char buf[4];

	while (r->pos < r->len && ((r->p[r->pos] >= '0' && r->p[r->pos] <= '9') ||
				   r->p[r->pos] == '-' || r->p[r->pos] == '+' ||
				   r->p[r->pos] == '.' || r->p[r->pos] == 'e' ||
				   r->p[r->pos] == 'E'))
		r->pos++;
	size_t n = r->pos - start;
	if (n != 3 || !memchr("12345", r->p[start], 5)) {
		flt_err_quote(r->err, r->errlen, "bad status",
			      (const char *)r->p + start, n,
			      " (want 100..599 or \"1xx\"..\"5xx\")");
		return -EINVAL;
	}
	memcpy(buf, r->p + start, 3);
	buf[3] = '\0';
	return flt_spec_add(s, FLT_KIND_STATUS, buf, 3, r->err, r->errlen);
}

static int parse_array(struct reader *r, struct flt_spec *s, int kind,
		       char *v)
{
	size_t n;
	int rc;

	if ((rc = expect(r, '[')) < 0)
		return rc;
	skip_ws(r);
	if (r->pos < r->len && r->p[r->pos] == ']') {
		r->pos++;
		return 0;
	}
	/* Bounded: each pass consumes a value and a ',' or the ']'. */
	for (;;) {
		skip_ws(r);
		if (r->pos < r->len && r->p[r->pos] == '"') {
			rc = read_string(r, v, FLT_VALUE_LEN_MAX + 4, &n);
			if (rc == 0 && n > FLT_VALUE_LEN_MAX) {
				flt_err_quote(r->err, r->errlen,
					      "value too long", v, n, NULL);
				rc = -EINVAL;
			}
			if (rc == 0)
				rc = flt_spec_add(s, (enum flt_kind)kind, v, n,
						  r->err, r->errlen);
		} else if (kind == FLT_KIND_STATUS && r->pos < r->len &&
			   ((r->p[r->pos] >= '0' && r->p[r->pos] <= '9') ||
			    r->p[r->pos] == '-')) {
			rc = read_status_number(r, s);
		} else {
			flt_err_fmt(r->err, r->errlen,
				    "JSON: expected a string in \"%s\" at byte %zu",
				    json_keys[kind], r->pos);
			rc = -EINVAL;
		}
		if (rc < 0)
			return rc;
		skip_ws(r);
		if (r->pos < r->len && r->p[r->pos] == ']') {
			r->pos++;
			return 0;
		}
		if ((rc = expect(r, ',')) < 0)
			return rc;
	}
}

/* Reads one "key": [...] member. seen has one bit per kind already read. */
static int parse_member(struct reader *r, struct flt_spec *s, unsigned *seen,
			char *v)
{
	size_t n;
	int kind = -1, rc;

	skip_ws(r);
	if ((rc = read_string(r, v, 64, &n)) < 0)
		return rc;
	for (int k = 0; k < FLT_KIND_COUNT; k++)
		if (strlen(json_keys[k]) == n && !memcmp(json_keys[k], v, n))
			kind = k;
	if (kind < 0 || (*seen >> kind & 1u)) {
		flt_err_quote(r->err, r->errlen, kind < 0 ? "JSON: unknown key" :
			      "JSON: repeated key", v, n, NULL);
		return -EINVAL;
	}
	*seen |= 1u << kind;
	if ((rc = expect(r, ':')) < 0)
		return rc;
	return parse_array(r, s, kind, v);
}

static int parse_object(struct reader *r, struct flt_spec *s, char *v)
{
	unsigned seen = 0;
	int rc;

	if ((rc = expect(r, '{')) < 0)
		return rc;
	skip_ws(r);
	if (r->pos < r->len && r->p[r->pos] == '}') {
		r->pos++;
		return 0;
	}
	/* Bounded: at most FLT_KIND_COUNT members (a repeat is an error). */
	for (int i = 0; i < FLT_KIND_COUNT; i++) {
		if ((rc = parse_member(r, s, &seen, v)) < 0)
			return rc;
		skip_ws(r);
		if (r->pos < r->len && r->p[r->pos] == '}') {
			r->pos++;
			return 0;
		}
		if ((rc = expect(r, ',')) < 0)
			return rc;
	}
	flt_err_fmt(r->err, r->errlen, "JSON: repeated key at byte %zu", r->pos);
	return -EINVAL;
}

int flt_spec_parse_json(struct flt_spec *s, const char *json, size_t len,
			char *err, size_t errlen)
{
	struct reader r = { (const unsigned char *)json, len, 0, err, errlen };
	char v[FLT_VALUE_LEN_MAX + 4];
	int rc;

	if (len > FLT_JSON_LEN_MAX) {
		flt_err_fmt(err, errlen, "JSON: body longer than %u bytes",
			    FLT_JSON_LEN_MAX);
		return -E2BIG;
	}
	rc = parse_object(&r, s, v);
	if (rc == 0) {
		skip_ws(&r);
		if (r.pos != len) {
			flt_err_fmt(err, errlen,
				    "JSON: unexpected bytes after the object at byte %zu",
				    r.pos);
			rc = -EINVAL;
		}
	}
	if (rc < 0)
		flt_spec_free(s);
	return rc;
}

/* ---- writer ---- */

struct jout {
	char *buf;
	size_t cap, len;
};

static void jput(struct jout *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, o->len++)
		if (o->len + 1 < o->cap)
			o->buf[o->len] = s[i];
}

/* A JSON string; invalid UTF-8 bytes become \u00XX (lossy, see header). */
static void jstr(struct jout *o, const char *s, size_t n)
{
	char esc[8];

	jput(o, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t u = utf8_len((const unsigned char *)s + i, n - i);
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jput(o, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f || !u) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jput(o, esc, 6);
			i++;
		} else {
			jput(o, s + i, u);
			i += u;
		}
	}
	jput(o, "\"", 1);
}

static void jkey(struct jout *o, int kind, uint32_t idx)
{
	if (idx) {
		jput(o, ",", 1);
		return;
	}
	if (o->len > 1)
		jput(o, "],", 2);
	jstr(o, json_keys[kind], strlen(json_keys[kind]));
	jput(o, ":[", 2);
}

size_t flt_spec_format_json(const struct flt_spec *s, char *out, size_t cap)
{
	struct jout o = { out, cap, 0 };
	const char *types[FLT_TYPE_COUNT + FLT_MIMES_MAX];
	char buf[64];
	int n;

	jput(&o, "{", 1);
	for (uint32_t i = 0; i < s->n_methods; i++) {
		jkey(&o, FLT_KIND_METHOD, i);
		jstr(&o, s->methods[i], strlen(s->methods[i]));
	}
	for (uint32_t i = 0; i < s->n_status; i++) {
		jkey(&o, FLT_KIND_STATUS, i);
		n = flt_status_format(&s->status[i], buf, sizeof(buf));
		if (s->status[i].lo == s->status[i].hi)
			jput(&o, buf, (size_t)n);
		else
			jstr(&o, buf, (size_t)n);
	}
	n = flt_type_values(s, types, FLT_TYPE_COUNT + FLT_MIMES_MAX);
	for (int i = 0; i < n; i++) {
		jkey(&o, FLT_KIND_TYPE, (uint32_t)i);
		jstr(&o, types[i], strlen(types[i]));
	}
	for (uint32_t i = 0; i < s->n_clients; i++) {
		jkey(&o, FLT_KIND_CLIENT, i);
		int m = flt_client_format(&s->clients[i], buf, sizeof(buf));
		jstr(&o, buf, (size_t)m);
	}
	for (int role = 0; role < FLT_URL_ROLE_COUNT; role++) {
		uint32_t idx = 0;
		for (uint32_t i = 0; i < s->n_urls; i++) {
			if (s->urls[i].role != role)
				continue;
			jkey(&o, FLT_KIND_URL_CONTAINS + role, idx++);
			jstr(&o, s->urls[i].text, s->urls[i].len);
		}
	}
	jput(&o, o.len > 1 ? "]}" : "}", o.len > 1 ? 2 : 1);
	if (cap)
		out[o.len < cap ? o.len : cap - 1] = '\0';
	return o.len;
}
