/* filter/spec.c: the filter spec as plain data — adding one value of one
 * kind (the single entry point every parser goes through, so CLI, JSON and
 * text forms validate and normalise identically), the CLI flag form,
 * equality and copy, and the Content-Type classifier shared with the
 * capture store.
 *
 * Invariants kept by flt_spec_add: methods are upper-case tchar tokens;
 * status ranges lie within 100..599; mime substrings are lower-case
 * printable ASCII; CIDRs have host bits zero; client names are lower-case;
 * URL patterns are 1..FLT_URL_PATTERN_LEN_MAX bytes without NUL and regexes
 * compile. No value appears twice in one kind. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "filter/flt.h"
#include "filter/flt-int.h"

static int add_method(struct flt_spec *s, const char *v, size_t len,
		      char *err, size_t errlen);
static int add_status(struct flt_spec *s, const char *v, size_t len,
		      char *err, size_t errlen);
static int add_type(struct flt_spec *s, const char *v, size_t len,
		    char *err, size_t errlen);
static int add_client(struct flt_spec *s, const char *v, size_t len,
		      char *err, size_t errlen);
static int add_url(struct flt_spec *s, enum flt_url_role role, const char *v,
		   size_t len, char *err, size_t errlen);
static int parse_cidr(struct flt_client *c, const char *v, size_t len);
static bool urls_equal(const struct flt_spec *a, const struct flt_spec *b);

static const char *const kind_names[FLT_KIND_COUNT] = {
	[FLT_KIND_METHOD] = "method",
	[FLT_KIND_STATUS] = "status",
	[FLT_KIND_TYPE] = "type",
	[FLT_KIND_CLIENT] = "client",
	[FLT_KIND_URL_CONTAINS] = "url-contains",
	[FLT_KIND_URL_EXCLUDES] = "url-excludes",
	[FLT_KIND_URL_REGEX] = "url-regex",
};

static const char *const type_names[FLT_TYPE_COUNT] = {
	[FLT_TYPE_NONE] = "none",   [FLT_TYPE_JSON] = "json",
	[FLT_TYPE_HTML] = "html",   [FLT_TYPE_XML] = "xml",
	[FLT_TYPE_JS] = "js",       [FLT_TYPE_CSS] = "css",
	[FLT_TYPE_TEXT] = "text",   [FLT_TYPE_IMAGE] = "image",
	[FLT_TYPE_AUDIO] = "audio", [FLT_TYPE_VIDEO] = "video",
	[FLT_TYPE_FONT] = "font",   [FLT_TYPE_BINARY] = "binary",
};

/* ---- errors and byte helpers (declared in flt-int.h) ---- */

void flt_err_quote(char *err, size_t errlen, const char *what,
		   const char *part, size_t part_len, const char *tail)
{
	char q[FLT_ERR_QUOTE_MAX * 4 + 4];
	size_t n = 0;

	if (!err || !errlen)
		return;
	for (size_t i = 0; i < part_len && i < FLT_ERR_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)part[i];
		if (c >= 0x20 && c < 0x7f) {
			q[n++] = (char)c;
		} else {
			snprintf(q + n, 5, "\\x%02x", c);
			n += 4;
		}
	}
	if (part_len > FLT_ERR_QUOTE_MAX) {
		memcpy(q + n, "...", 3);
		n += 3;
	}
	q[n] = '\0';
	snprintf(err, errlen, "%s '%s'%s", what, q, tail ? tail : "");
}

void flt_err_fmt(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

bool flt_eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t i = 0;

	for (; i < alen; i++)
		if (b[i] == '\0' || flt_lower(a[i]) != flt_lower(b[i]))
			return false;
	return b[i] == '\0';
}

bool flt_contains_nocase(const char *hay, size_t hlen, const char *needle,
			 size_t nlen)
{
	if (nlen > hlen)
		return false;
	for (size_t i = 0; i + nlen <= hlen; i++) {
		size_t j = 0;
		while (j < nlen && flt_lower(hay[i + j]) == needle[j])
			j++;
		if (j == nlen)
			return true;
	}
	return false;
}

unsigned flt_hs_flags(int role)
{
	/* Literals are escaped byte-wise (\xHH), so CASELESS folds ASCII only,
	 * like strcasestr. Regexes may match the empty string ("^") and are
	 * byte-oriented (no UTF8 flag: a URL need not be valid UTF-8, and
	 * Hyperscan's UTF8 mode requires valid input). SINGLEMATCH: we only
	 * need to know that a pattern matched, never where or how often. */
	if (role == FLT_URL_REGEX)
		return HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY | HS_FLAG_DOTALL;
	return HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS;
}

bool flt_hs_nomem(const void *hs_compile_error)
{
	const hs_compile_error_t *e = hs_compile_error;

	return e && e->message && strstr(e->message, "allocate memory");
}

int flt_regex_check(const char *re, char *err, size_t errlen)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs_expression_info(re, flt_hs_flags(FLT_URL_REGEX), &info,
			       &cerr) != HS_SUCCESS) {
		char tail[160];
		if (flt_hs_nomem(cerr)) {
			flt_err_fmt(err, errlen, "out of memory checking a regex");
			hs_free_compile_error(cerr);
			return -ENOMEM;
		}
		snprintf(tail, sizeof(tail), ": %s",
			 cerr && cerr->message ? cerr->message : "rejected");
		flt_err_quote(err, errlen, "invalid regex", re, strlen(re),
			      tail);
		hs_free_compile_error(cerr);
		return -EINVAL;
	}
	free(info); /* allocated by Hyperscan's misc allocator (malloc) */
	return 0;
}

/* ---- spec lifecycle ---- */

void flt_spec_init(struct flt_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
}

void flt_spec_free(struct flt_spec *spec)
{
	for (uint32_t i = 0; i < spec->n_urls; i++) {
		free(spec->urls[i].text);
		spec->urls[i].text = NULL;
	}
	free(spec->urls);
	flt_spec_init(spec);
}

bool flt_spec_is_empty(const struct flt_spec *s)
{
	return !s->n_methods && !s->n_status && !s->type_mask &&
	       !s->n_mimes && !s->n_clients && !s->n_urls;
}

bool flt_spec_equal(const struct flt_spec *a, const struct flt_spec *b)
{
	if (a->n_methods != b->n_methods || a->n_status != b->n_status ||
	    a->type_mask != b->type_mask || a->n_mimes != b->n_mimes ||
	    a->n_clients != b->n_clients || a->n_urls != b->n_urls)
		return false;
	for (uint32_t i = 0; i < a->n_methods; i++)
		if (strcmp(a->methods[i], b->methods[i]))
			return false;
	if (a->n_status && memcmp(a->status, b->status,
				  a->n_status * sizeof(a->status[0])))
		return false;
	for (uint32_t i = 0; i < a->n_mimes; i++)
		if (strcmp(a->mimes[i], b->mimes[i]))
			return false;
	for (uint32_t i = 0; i < a->n_clients; i++) {
		const struct flt_client *x = &a->clients[i], *y = &b->clients[i];
		if (x->is_name != y->is_name || strcmp(x->name, y->name) ||
		    x->family != y->family || x->prefix != y->prefix ||
		    memcmp(x->addr, y->addr, sizeof(x->addr)))
			return false;
	}
	return urls_equal(a, b);
}

/* Same URL patterns per role, in the same order within each role; the
 * interleaving of roles does not matter (no form shows it). */
static bool urls_equal(const struct flt_spec *a, const struct flt_spec *b)
{
	for (int role = 0; role < FLT_URL_ROLE_COUNT; role++) {
		uint32_t i = 0, j = 0;
		for (;;) {
			while (i < a->n_urls && a->urls[i].role != role)
				i++;
			while (j < b->n_urls && b->urls[j].role != role)
				j++;
			if (i == a->n_urls || j == b->n_urls)
				break;
			const struct flt_url_pattern *x = &a->urls[i++];
			const struct flt_url_pattern *y = &b->urls[j++];
			if (x->len != y->len || memcmp(x->text, y->text, x->len))
				return false;
		}
		if (i != a->n_urls || j != b->n_urls)
			return false;
	}
	return true;
}

int flt_spec_copy(struct flt_spec *dst, const struct flt_spec *src)
{
	struct flt_url_pattern *urls = NULL;

	if (src->n_urls) {
		urls = flt_calloc(src->n_urls, sizeof(*urls));
		if (!urls)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < src->n_urls; i++) {
		urls[i] = src->urls[i];
		urls[i].text = flt_malloc((size_t)src->urls[i].len + 1);
		if (!urls[i].text)
			goto out_free;
		memcpy(urls[i].text, src->urls[i].text,
		       (size_t)src->urls[i].len + 1);
	}
	*dst = *src;
	dst->urls = urls;
	dst->cap_urls = src->n_urls;
	return 0;

out_free:
	for (uint32_t i = 0; i < src->n_urls; i++)
		free(urls[i].text);
	free(urls);
	return -ENOMEM;
}

/* ---- adding values ---- */

const char *flt_kind_name(enum flt_kind kind)
{
	return (unsigned)kind < FLT_KIND_COUNT ? kind_names[kind] : "?";
}

int flt_kind_from_name(const char *name, size_t len)
{
	if (len >= 2 && name[0] == '-' && name[1] == '-') {
		name += 2;
		len -= 2;
	}
	for (int k = 0; k < FLT_KIND_COUNT; k++)
		if (strlen(kind_names[k]) == len &&
		    !memcmp(kind_names[k], name, len))
			return k;
	return -1;
}

int flt_spec_add(struct flt_spec *spec, enum flt_kind kind,
		 const char *value, size_t len, char *err, size_t errlen)
{
	switch (kind) {
	case FLT_KIND_METHOD:
		return add_method(spec, value, len, err, errlen);
	case FLT_KIND_STATUS:
		return add_status(spec, value, len, err, errlen);
	case FLT_KIND_TYPE:
		return add_type(spec, value, len, err, errlen);
	case FLT_KIND_CLIENT:
		return add_client(spec, value, len, err, errlen);
	case FLT_KIND_URL_CONTAINS:
		return add_url(spec, FLT_URL_CONTAINS, value, len, err, errlen);
	case FLT_KIND_URL_EXCLUDES:
		return add_url(spec, FLT_URL_EXCLUDES, value, len, err, errlen);
	case FLT_KIND_URL_REGEX:
		return add_url(spec, FLT_URL_REGEX, value, len, err, errlen);
	case FLT_KIND_COUNT:
		break;
	}
	flt_err_fmt(err, errlen, "unknown filter kind %d", (int)kind);
	return -EINVAL;
}

static bool is_list_kind(int kind)
{
	return kind == FLT_KIND_METHOD || kind == FLT_KIND_STATUS ||
	       kind == FLT_KIND_TYPE || kind == FLT_KIND_CLIENT;
}

int flt_spec_add_flag(struct flt_spec *spec, const char *flag,
		      const char *value, char *err, size_t errlen)
{
	int kind = flt_kind_from_name(flag, strlen(flag));
	size_t len = strlen(value);

	if (kind < 0) {
		flt_err_quote(err, errlen, "unknown filter flag", flag,
			      strlen(flag), NULL);
		return -ENOENT;
	}
	if (!is_list_kind(kind))
		return flt_spec_add(spec, (enum flt_kind)kind, value, len, err,
				    errlen);
	/* Comma list: each item trimmed of spaces; "GET,,POST" is an error
	 * (flt_spec_add rejects the empty item and quotes it). */
	for (size_t pos = 0; pos <= len;) {
		const char *comma = memchr(value + pos, ',', len - pos);
		size_t end = comma ? (size_t)(comma - value) : len;
		size_t a = pos, b = end;
		while (a < b && (value[a] == ' ' || value[a] == '\t'))
			a++;
		while (b > a && (value[b - 1] == ' ' || value[b - 1] == '\t'))
			b--;
		if (a == b) {
			char what[32];
			snprintf(what, sizeof(what), "empty %s in",
				 kind_names[kind]);
			flt_err_quote(err, errlen, what, value, len, NULL);
			return -EINVAL;
		}
		int rc = flt_spec_add(spec, (enum flt_kind)kind, value + a,
				      b - a, err, errlen);
		if (rc < 0)
			return rc;
		pos = end + 1;
	}
	return 0;
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int add_method(struct flt_spec *s, const char *v, size_t len,
		      char *err, size_t errlen)
{
	char m[FLT_METHOD_LEN_MAX + 1];

	if (len == 0 || len > FLT_METHOD_LEN_MAX) {
		flt_err_quote(err, errlen, "bad method", v, len, NULL);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_tchar(v[i])) {
			flt_err_quote(err, errlen, "bad method", v, len, NULL);
			return -EINVAL;
		}
		m[i] = (v[i] >= 'a' && v[i] <= 'z') ? (char)(v[i] - 32) : v[i];
	}
	m[len] = '\0';
	for (uint32_t i = 0; i < s->n_methods; i++)
		if (!strcmp(s->methods[i], m))
			return 0;
	if (s->n_methods == FLT_METHODS_MAX) {
		flt_err_fmt(err, errlen, "too many methods (max %d)",
			    FLT_METHODS_MAX);
		return -E2BIG;
	}
	memcpy(s->methods[s->n_methods++], m, len + 1);
	return 0;
}

static int add_status(struct flt_spec *s, const char *v, size_t len,
		      char *err, size_t errlen)
{
	struct flt_status_range r;

	if (len != 3 || v[0] < '1' || v[0] > '5') {
		flt_err_quote(err, errlen, "bad status", v, len,
			      " (want 100..599 or 1xx..5xx)");
		return -EINVAL;
	}
	if ((v[1] == 'x' || v[1] == 'X') && (v[2] == 'x' || v[2] == 'X')) {
		r.lo = (uint16_t)((v[0] - '0') * 100);
		r.hi = (uint16_t)(r.lo + 99);
	} else if (v[1] >= '0' && v[1] <= '9' && v[2] >= '0' && v[2] <= '9') {
		r.lo = r.hi = (uint16_t)((v[0] - '0') * 100 +
					 (v[1] - '0') * 10 + (v[2] - '0'));
	} else {
		flt_err_quote(err, errlen, "bad status", v, len,
			      " (want 100..599 or 1xx..5xx)");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s->n_status; i++)
		if (s->status[i].lo == r.lo && s->status[i].hi == r.hi)
			return 0;
	if (s->n_status == FLT_STATUS_MAX) {
		flt_err_fmt(err, errlen, "too many status values (max %d)",
			    FLT_STATUS_MAX);
		return -E2BIG;
	}
	s->status[s->n_status++] = r;
	return 0;
}

static int add_type(struct flt_spec *s, const char *v, size_t len,
		    char *err, size_t errlen)
{
	char m[FLT_MIME_LEN_MAX + 1];

	if (!memchr(v, '/', len) && !memchr(v, '+', len)) {
		if (flt_eq_nocase(v, len, "media")) {
			s->type_mask |= 1u << FLT_TYPE_IMAGE |
					1u << FLT_TYPE_AUDIO |
					1u << FLT_TYPE_VIDEO;
			return 0;
		}
		for (int t = 0; t < FLT_TYPE_COUNT; t++) {
			if (flt_eq_nocase(v, len, type_names[t])) {
				s->type_mask |= 1u << t;
				return 0;
			}
		}
		flt_err_quote(err, errlen, "unknown content type class", v, len,
			      NULL);
		return -EINVAL;
	}
	if (len > FLT_MIME_LEN_MAX) {
		flt_err_quote(err, errlen, "mime substring too long", v, len,
			      NULL);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '"' ||
		    v[i] == '\\' || v[i] == ',') {
			flt_err_quote(err, errlen, "bad mime substring", v, len,
				      NULL);
			return -EINVAL;
		}
		m[i] = flt_lower(v[i]);
	}
	m[len] = '\0';
	for (uint32_t i = 0; i < s->n_mimes; i++)
		if (!strcmp(s->mimes[i], m))
			return 0;
	if (s->n_mimes == FLT_MIMES_MAX) {
		flt_err_fmt(err, errlen, "too many mime substrings (max %d)",
			    FLT_MIMES_MAX);
		return -E2BIG;
	}
	memcpy(s->mimes[s->n_mimes++], m, len + 1);
	return 0;
}

/* Address or CIDR into c (host bits cleared). 0 or -EINVAL. */
static int parse_cidr(struct flt_client *c, const char *v, size_t len)
{
	char buf[64];
	const char *slash = memchr(v, '/', len);
	size_t alen = slash ? (size_t)(slash - v) : len;
	unsigned prefix = 0, max;

	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, v, alen);
	buf[alen] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = 6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (!slash) {
		c->prefix = (uint8_t)max;
		return 0;
	}
	size_t plen = len - alen - 1;
	if (plen == 0 || plen > 3)
		return -EINVAL;
	for (size_t i = 0; i < plen; i++) {
		if (slash[1 + i] < '0' || slash[1 + i] > '9')
			return -EINVAL;
		prefix = prefix * 10 + (unsigned)(slash[1 + i] - '0');
	}
	if (prefix > max)
		return -EINVAL;
	c->prefix = (uint8_t)prefix;
	for (unsigned bit = prefix; bit < max; bit++)
		c->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

static bool looks_like_address(const char *v, size_t len)
{
	bool digits_dots = true;

	for (size_t i = 0; i < len; i++) {
		if (v[i] == ':' || v[i] == '/')
			return true;
		if (!(v[i] == '.' || (v[i] >= '0' && v[i] <= '9')))
			digits_dots = false;
	}
	return digits_dots;
}

static int add_client(struct flt_spec *s, const char *v, size_t len,
		      char *err, size_t errlen)
{
	struct flt_client c;

	if (looks_like_address(v, len)) {
		if (parse_cidr(&c, v, len) < 0) {
			flt_err_quote(err, errlen, memchr(v, '/', len) ?
				      "bad CIDR" : "bad address", v, len, NULL);
			return -EINVAL;
		}
	} else {
		memset(&c, 0, sizeof(c));
		if (len > FLT_CLIENT_NAME_LEN_MAX) {
			flt_err_quote(err, errlen, "client name too long", v,
				      len, NULL);
			return -EINVAL;
		}
		for (size_t i = 0; i < len; i++) {
			char ch = flt_lower(v[i]);
			if (!((ch >= 'a' && ch <= 'z') ||
			      (ch >= '0' && ch <= '9') || ch == '.' ||
			      ch == '_' || ch == '-')) {
				flt_err_quote(err, errlen, "bad client name", v,
					      len, NULL);
				return -EINVAL;
			}
			c.name[i] = ch;
		}
		c.is_name = 1;
	}
	for (uint32_t i = 0; i < s->n_clients; i++)
		if (!memcmp(&s->clients[i], &c, sizeof(c)))
			return 0;
	if (s->n_clients == FLT_CLIENTS_MAX) {
		flt_err_fmt(err, errlen, "too many clients (max %d)",
			    FLT_CLIENTS_MAX);
		return -E2BIG;
	}
	s->clients[s->n_clients++] = c;
	return 0;
}

static int add_url(struct flt_spec *s, enum flt_url_role role, const char *v,
		   size_t len, char *err, size_t errlen)
{
	static const char *const what[] = { "empty url-contains",
		"empty url-excludes", "empty url-regex" };

	if (len == 0) {
		flt_err_fmt(err, errlen, "%s pattern", what[role]);
		return -EINVAL;
	}
	if (len > FLT_URL_PATTERN_LEN_MAX || memchr(v, '\0', len)) {
		flt_err_quote(err, errlen, len > FLT_URL_PATTERN_LEN_MAX ?
			      "URL pattern too long" : "NUL byte in URL pattern",
			      v, len, NULL);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s->n_urls; i++)
		if (s->urls[i].role == role && s->urls[i].len == len &&
		    !memcmp(s->urls[i].text, v, len))
			return 0;
	if (s->n_urls == FLT_URL_PATTERNS_MAX) {
		flt_err_fmt(err, errlen, "too many URL patterns (max %d)",
			    FLT_URL_PATTERNS_MAX);
		return -E2BIG;
	}
	char *text = flt_malloc(len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, v, len);
	text[len] = '\0';
	if (role == FLT_URL_REGEX) {
		int rc = flt_regex_check(text, err, errlen);
		if (rc < 0) {
			free(text);
			return rc;
		}
	}
	if (s->n_urls == s->cap_urls) {
		uint32_t cap = s->cap_urls ? s->cap_urls * 2 : 8;
		if (cap > FLT_URL_PATTERNS_MAX)
			cap = FLT_URL_PATTERNS_MAX;
		void *p = flt_realloc(s->urls, cap * sizeof(s->urls[0]));
		if (!p) {
			free(text);
			return -ENOMEM;
		}
		s->urls = p;
		s->cap_urls = cap;
	}
	s->urls[s->n_urls++] = (struct flt_url_pattern){
		.role = (uint8_t)role, .len = (uint16_t)len, .text = text };
	return 0;
}

/* ---- content-type classes ---- */

const char *flt_type_name(enum flt_type type)
{
	return (unsigned)type < FLT_TYPE_COUNT ? type_names[type] : "?";
}

static bool ends_nocase(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && flt_eq_nocase(s + len - n, n, suffix);
}

/* Class of "major/sub" (no parameters, no spaces). */
static enum flt_type classify(const char *major, size_t mlen, const char *sub,
			      size_t slen)
{
	if (flt_eq_nocase(major, mlen, "image"))
		return FLT_TYPE_IMAGE;
	if (flt_eq_nocase(major, mlen, "audio"))
		return FLT_TYPE_AUDIO;
	if (flt_eq_nocase(major, mlen, "video"))
		return FLT_TYPE_VIDEO;
	if (flt_eq_nocase(major, mlen, "font"))
		return FLT_TYPE_FONT;
	if (flt_eq_nocase(sub, slen, "json") || ends_nocase(sub, slen, "+json") ||
	    flt_eq_nocase(sub, slen, "x-ndjson") ||
	    flt_eq_nocase(sub, slen, "ndjson"))
		return FLT_TYPE_JSON;
	if (flt_eq_nocase(sub, slen, "html") ||
	    flt_eq_nocase(sub, slen, "xhtml+xml"))
		return FLT_TYPE_HTML;
	if (flt_eq_nocase(sub, slen, "javascript") ||
	    flt_eq_nocase(sub, slen, "x-javascript") ||
	    flt_eq_nocase(sub, slen, "ecmascript") ||
	    flt_eq_nocase(sub, slen, "x-ecmascript"))
		return FLT_TYPE_JS;
	if (flt_eq_nocase(sub, slen, "css"))
		return FLT_TYPE_CSS;
	if (flt_eq_nocase(sub, slen, "xml") || ends_nocase(sub, slen, "+xml"))
		return FLT_TYPE_XML;
	if (flt_eq_nocase(major, mlen, "text") ||
	    flt_eq_nocase(sub, slen, "x-www-form-urlencoded"))
		return FLT_TYPE_TEXT;
	if (slen >= 5 && (flt_eq_nocase(sub, 5, "font-") ||
			  (slen >= 7 && flt_eq_nocase(sub, 7, "x-font-")) ||
			  flt_eq_nocase(sub, slen, "vnd.ms-fontobject")))
		return FLT_TYPE_FONT;
	return FLT_TYPE_BINARY;
}

enum flt_type flt_type_of(const char *ct, size_t ct_len)
{
	size_t a = 0, b, slash;

	if (!ct)
		return FLT_TYPE_NONE;
	while (a < ct_len && (ct[a] == ' ' || ct[a] == '\t'))
		a++;
	b = a;
	while (b < ct_len && ct[b] != ';' && ct[b] != ' ' && ct[b] != '\t')
		b++;
	if (a == b)
		return FLT_TYPE_NONE;
	for (slash = a; slash < b && ct[slash] != '/'; slash++)
		;
	if (slash == b) /* no '/': not a media type, but something was sent */
		return FLT_TYPE_BINARY;
	return classify(ct + a, slash - a, ct + slash + 1, b - slash - 1);
}
