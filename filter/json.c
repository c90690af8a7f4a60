/* filter/json.c: the JSON form of a spec (control API body), read with
 * jansson (the project's one JSON parser; filter/ links it and includes no
 * other module of ours):
 *
 *   { "method": [..], "status": [..], "type": [..], "client": [..],
 *     "url_contains": [..], "url_excludes": [..], "url_regex": [..] }
 *
 * The keys are the CLI flags' names; the plural forms of earlier versions
 * ("methods", "types", "clients") keep working, one of the two per kind.
 * Every key optional, at most once; every value an array of strings,
 * except that "status" also takes integers (404). Anything else — another
 * type, nesting, an unknown key (the error lists the valid ones), invalid
 * UTF-8, a lone surrogate, \u0000, a raw control character, bytes after
 * the object — is an error that names the byte offset or quotes the bad
 * part. jansson checks the grammar and UTF-8; this file checks the shape
 * and grows the spec through flt_spec_add only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "filter/flt.h"
#include "filter/flt-int.h"

/* The key each kind is written with (the CLI flag's name). */
static const char *const json_keys[FLT_KIND_COUNT] = {
	[FLT_KIND_METHOD] = "method",
	[FLT_KIND_STATUS] = "status",
	[FLT_KIND_TYPE] = "type",
	[FLT_KIND_CLIENT] = "client",
	[FLT_KIND_URL_CONTAINS] = "url_contains",
	[FLT_KIND_URL_EXCLUDES] = "url_excludes",
	[FLT_KIND_URL_REGEX] = "url_regex",
};

/* The plural forms read as well; NULL where there is none. */
static const char *const json_plurals[FLT_KIND_COUNT] = {
	[FLT_KIND_METHOD] = "methods",
	[FLT_KIND_TYPE] = "types",
	[FLT_KIND_CLIENT] = "clients",
};

static int key_kind(const char *key)
{
	for (int k = 0; k < FLT_KIND_COUNT; k++)
		if (strcmp(key, json_keys[k]) == 0 ||
		    (json_plurals[k] && strcmp(key, json_plurals[k]) == 0))
			return k;
	return -1;
}

static int unknown_key(const char *key, char *err, size_t errlen)
{
	char tail[160];
	int n = snprintf(tail, sizeof(tail), " (keys:");
	for (int k = 0; k < FLT_KIND_COUNT && n > 0 && (size_t)n < sizeof(tail); k++)
		n += snprintf(tail + n, sizeof(tail) - (size_t)n, "%s %s", k ? "," : "",
			      json_keys[k]);
	if (n > 0 && (size_t)n < sizeof(tail))
		snprintf(tail + n, sizeof(tail) - (size_t)n, ")");
	flt_err_quote(err, errlen, "JSON: unknown key", key, strlen(key), tail);
	return -EINVAL;
}

/* A status given as a JSON number: an integer 100..599 only. */
static int add_status_number(struct flt_spec *s, json_t *v, char *err, size_t errlen)
{
	char buf[24];
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
	int len = json_is_integer(v) ? snprintf(buf, sizeof(buf), "%lld", (long long)n)
				     : snprintf(buf, sizeof(buf), "%g", json_real_value(v));
	if (!json_is_integer(v) || n < 100 || n > 599) {
		flt_err_quote(err, errlen, "bad status", buf, (size_t)len,
			      " (want 100..599 or \"1xx\"..\"5xx\")");
		return -EINVAL;
	}
	return flt_spec_add(s, FLT_KIND_STATUS, buf, (size_t)len, err, errlen);
}

static int add_array(struct flt_spec *s, int kind, const char *key, json_t *arr, char *err,
		     size_t errlen)
{
	size_t i;
	json_t *v;
	int rc = 0;
	if (!json_is_array(arr)) {
		flt_err_fmt(err, errlen, "JSON: \"%s\" must be an array", key);
		return -EINVAL;
	}
	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && json_string_length(v) > FLT_VALUE_LEN_MAX) {
			flt_err_quote(err, errlen, "value too long", json_string_value(v),
				      FLT_VALUE_LEN_MAX, NULL);
			rc = -EINVAL;
		} else if (json_is_string(v)) {
			rc = flt_spec_add(s, (enum flt_kind)kind, json_string_value(v),
					  json_string_length(v), err, errlen);
		} else if (kind == FLT_KIND_STATUS && json_is_number(v)) {
			rc = add_status_number(s, v, err, errlen);
		} else {
			flt_err_fmt(err, errlen, "JSON: expected a string in \"%s\" at index %zu",
				    key, i);
			rc = -EINVAL;
		}
		if (rc < 0)
			break;
	}
	return rc;
}

int flt_spec_from_json(struct flt_spec *s, const struct json_t *obj, char *err, size_t errlen)
{
	const char *key, *given[FLT_KIND_COUNT] = { NULL };
	json_t *v;
	int rc = 0;
	if (!json_is_object(obj)) {
		flt_err_fmt(err, errlen, "JSON: expected an object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, key, v) {
		int kind = key_kind(key);
		if (kind < 0) {
			rc = unknown_key(key, err, errlen);
			break;
		}
		if (given[kind]) {
			flt_err_fmt(err, errlen, "JSON: repeated key '%s' (also given as '%s')", key,
				    given[kind]);
			rc = -EINVAL;
			break;
		}
		given[kind] = key;
		if ((rc = add_array(s, kind, key, v, err, errlen)) < 0)
			break;
	}
	if (rc < 0)
		flt_spec_free(s);
	return rc;
}

int flt_spec_parse_json(struct flt_spec *s, const char *json, size_t len,
			char *err, size_t errlen)
{
	json_error_t e;
	if (len > FLT_JSON_LEN_MAX) {
		flt_err_fmt(err, errlen, "JSON: body longer than %u bytes", FLT_JSON_LEN_MAX);
		return -E2BIG;
	}
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
	if (o == NULL) {
		if (json_error_code(&e) == json_error_out_of_memory) {
			flt_err_fmt(err, errlen, "JSON: out of memory");
			return -ENOMEM;
		}
		flt_err_fmt(err, errlen, "JSON: %s at byte %d", e.text, e.position);
		return -EINVAL;
	}
	int rc = flt_spec_from_json(s, o, err, errlen);
	json_decref(o);
	return rc;
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
