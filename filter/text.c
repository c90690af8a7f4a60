/* filter/text.c: the compact text form of a spec, for display and for the
 * session metadata file. Grammar (bytes):
 *
 *   text   = "" / group *( 1*SP group )
 *   group  = kind "=" value *( "," value )
 *   kind   = "method" / "status" / "type" / "client" / "url-contains"
 *            / "url-excludes" / "url-regex"
 *   value  = bare / quoted
 *   bare   = 1*( %x21-7E except DQUOTE "\" "," )
 *   quoted = DQUOTE *( %x20-7E except DQUOTE "\" / "\" DQUOTE / "\\"
 *            / "\x" 2HEXDIG / %x80-FF ) DQUOTE
 *
 * The formatter writes kinds in the order above, values in spec order (type
 * classes in enum order, "media" for image+audio+video, then mime
 * substrings) and quotes only when needed, escaping exactly '"', '\' and
 * bytes below 0x20 or equal to 0x7f; parse(format(s)) equals s and
 * format(parse(t)) equals t for every t the formatter wrote. Every value
 * goes through flt_spec_add, so the text form validates like the CLI. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter/flt.h"
#include "filter/flt-int.h"

/* snprintf-like writer: counts every byte, stores those that fit. */
struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

static void puts_n(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(o, s[i]);
}

static bool is_bare(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ',';
}

static void put_value(struct out *o, const char *v, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	bool bare = n > 0;

	for (size_t i = 0; i < n && bare; i++)
		bare = is_bare((unsigned char)v[i]);
	if (bare) {
		puts_n(o, v, n);
		return;
	}
	put(o, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '"' || c == '\\') {
			put(o, '\\');
			put(o, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			put(o, '\\');
			put(o, 'x');
			put(o, hex[c >> 4]);
			put(o, hex[c & 15]);
		} else {
			put(o, (char)c);
		}
	}
	put(o, '"');
}

/* Starts value number idx of a group named kind (writes "kind=" or ","). */
static void put_sep(struct out *o, enum flt_kind kind, uint32_t idx)
{
	if (idx) {
		put(o, ',');
		return;
	}
	if (o->len)
		put(o, ' ');
	puts_n(o, flt_kind_name(kind), strlen(flt_kind_name(kind)));
	put(o, '=');
}

/* Writes one client as its text value ("10.0.0.0/8", "phone-1"). */
int flt_client_format(const struct flt_client *c, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	if (c->is_name)
		return snprintf(buf, cap, "%s", c->name);
	if (!inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a,
		       sizeof(a)))
		return snprintf(buf, cap, "?");
	return snprintf(buf, cap, "%s/%u", a, c->prefix);
}

/* Writes one status range ("2xx", "404"). */
int flt_status_format(const struct flt_status_range *r, char *buf, size_t cap)
{
	if (r->lo != r->hi)
		return snprintf(buf, cap, "%cxx", '0' + r->lo / 100);
	return snprintf(buf, cap, "%u", r->lo);
}

/* Type values in display order: classes, then mime substrings. Returns the
 * count; names[i] points into static tables or into spec->mimes. */
int flt_type_values(const struct flt_spec *s, const char **names, int cap)
{
	const uint32_t media = 1u << FLT_TYPE_IMAGE | 1u << FLT_TYPE_AUDIO |
			       1u << FLT_TYPE_VIDEO;
	uint32_t mask = s->type_mask;
	int n = 0;

	for (int t = 0; t < FLT_TYPE_COUNT && n < cap; t++) {
		if (t == FLT_TYPE_IMAGE && (mask & media) == media) {
			names[n++] = "media";
			mask &= ~media;
		}
		if ((mask >> t) & 1u)
			names[n++] = flt_type_name((enum flt_type)t);
	}
	for (uint32_t i = 0; i < s->n_mimes && n < cap; i++)
		names[n++] = s->mimes[i];
	return n;
}

size_t flt_spec_format_text(const struct flt_spec *s, char *out, size_t cap)
{
	struct out o = { out, cap, 0 };
	const char *types[FLT_TYPE_COUNT + FLT_MIMES_MAX];
	char buf[64];
	int nt;

	for (uint32_t i = 0; i < s->n_methods; i++) {
		put_sep(&o, FLT_KIND_METHOD, i);
		put_value(&o, s->methods[i], strlen(s->methods[i]));
	}
	for (uint32_t i = 0; i < s->n_status; i++) {
		put_sep(&o, FLT_KIND_STATUS, i);
		int n = flt_status_format(&s->status[i], buf, sizeof(buf));
		puts_n(&o, buf, (size_t)n);
	}
	nt = flt_type_values(s, types, FLT_TYPE_COUNT + FLT_MIMES_MAX);
	for (int i = 0; i < nt; i++) {
		put_sep(&o, FLT_KIND_TYPE, (uint32_t)i);
		put_value(&o, types[i], strlen(types[i]));
	}
	for (uint32_t i = 0; i < s->n_clients; i++) {
		put_sep(&o, FLT_KIND_CLIENT, i);
		int n = flt_client_format(&s->clients[i], buf, sizeof(buf));
		put_value(&o, buf, (size_t)n);
	}
	for (int role = 0; role < FLT_URL_ROLE_COUNT; role++) {
		uint32_t idx = 0;
		for (uint32_t i = 0; i < s->n_urls; i++) {
			if (s->urls[i].role != role)
				continue;
			put_sep(&o, (enum flt_kind)(FLT_KIND_URL_CONTAINS + role),
				idx++);
			put_value(&o, s->urls[i].text, s->urls[i].len);
		}
	}
	if (cap)
		out[o.len < cap ? o.len : cap - 1] = '\0';
	return o.len;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = flt_lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Reads one value at t[*pos] into v (FLT_VALUE_LEN_MAX + 1 bytes); *vlen
 * gets its length. 0 or -EINVAL with err set. */
static int read_value(const char *t, size_t len, size_t *pos, char *v,
		      size_t *vlen, char *err, size_t errlen)
{
	size_t p = *pos, n = 0;

	if (p >= len || t[p] != '"') {
		while (p < len && is_bare((unsigned char)t[p]) &&
		       n <= FLT_VALUE_LEN_MAX)
			v[n++] = t[p++];
		goto done;
	}
	for (p++; p < len && t[p] != '"' && n <= FLT_VALUE_LEN_MAX; n++) {
		unsigned char c = (unsigned char)t[p];
		if (c < 0x20 || c == 0x7f)
			goto bad;
		if (c != '\\') {
			v[n] = (char)c;
			p++;
		} else if (p + 1 < len && (t[p + 1] == '"' || t[p + 1] == '\\')) {
			v[n] = t[p + 1];
			p += 2;
		} else if (p + 3 < len && t[p + 1] == 'x' &&
			   hexval(t[p + 2]) >= 0 && hexval(t[p + 3]) >= 0) {
			v[n] = (char)(hexval(t[p + 2]) * 16 + hexval(t[p + 3]));
			p += 4;
		} else {
			goto bad;
		}
	}
	if (n > FLT_VALUE_LEN_MAX)
		goto done;
	if (p >= len || t[p] != '"')
		goto bad;
	p++;
done:
	if (n > FLT_VALUE_LEN_MAX) {
		flt_err_quote(err, errlen, "value too long", t + *pos, p - *pos,
			      NULL);
		return -EINVAL;
	}
	if (p < len && t[p] != ',' && t[p] != ' ')
		goto bad;
	*vlen = n;
	*pos = p;
	return 0;
bad:
	flt_err_quote(err, errlen, "bad value", t + *pos, len - *pos, NULL);
	return -EINVAL;
}

/* Parses one "kind=value,..." group starting at t[*pos]. */
static int parse_group(struct flt_spec *s, const char *t, size_t len,
		       size_t *pos, char *v, char *err, size_t errlen)
{
	size_t p = *pos, name = p, vlen;
	int kind, rc;

	while (p < len && t[p] != '=' && t[p] != ' ')
		p++;
	kind = flt_kind_from_name(t + name, p - name);
	if (kind < 0 || p >= len || t[p] != '=') {
		flt_err_quote(err, errlen, "unknown filter kind", t + name,
			      p - name, NULL);
		return -EINVAL;
	}
	/* Bounded: each pass consumes at least one byte (a value or ','). */
	for (p++;;) {
		size_t start = p;
		rc = read_value(t, len, &p, v, &vlen, err, errlen);
		if (rc < 0)
			return rc;
		if (p == start) {
			flt_err_fmt(err, errlen, "empty value for %s",
				    flt_kind_name((enum flt_kind)kind));
			return -EINVAL;
		}
		rc = flt_spec_add(s, (enum flt_kind)kind, v, vlen, err, errlen);
		if (rc < 0)
			return rc;
		if (p >= len || t[p] != ',')
			break;
		p++;
	}
	*pos = p;
	return 0;
}

int flt_spec_parse_text(struct flt_spec *s, const char *t, size_t len,
			char *err, size_t errlen)
{
	char v[FLT_VALUE_LEN_MAX + 2];
	size_t pos = 0;

	if (len > FLT_TEXT_LEN_MAX) {
		flt_err_fmt(err, errlen, "filter text longer than %u bytes",
			    FLT_TEXT_LEN_MAX);
		return -E2BIG;
	}
	while (pos < len) {
		while (pos < len && t[pos] == ' ')
			pos++;
		if (pos == len)
			break;
		int rc = parse_group(s, t, len, &pos, v, err, errlen);
		if (rc < 0) {
			flt_spec_free(s);
			return rc;
		}
	}
	return 0;
}
