/*
 * tools/views/cookies.c - cookie records of a session (tools/cookies.h).
 *
 * rc_cookies_load walks the session's index in start-time order, opens
 * each exchange flagged SEG_F_COOKIES (one frame decompressed each), and
 * feeds every request Cookie pair and response Set-Cookie line to one
 * record table keyed by (name, domain, path, direction): a later sighting
 * replaces value and attributes, first/last seen and count accumulate.
 * Response cookies follow RFC 6265 5.3: Domain defaults to the request
 * host (host-only), Path to the default-path of the request URL; a
 * Domain the request host does not domain-match, which a browser would
 * reject, is kept but marked foreign (what the server tried is worth
 * seeing) and never exported to a jar.
 *
 * cookies.deleted, one line per deleted key, appended and fsynced:
 *   <deleted_ns> TAB <name> TAB <domain> TAB <path> LF
 * fields percent-encoded (%XX for '%', bytes below 0x21 and 0x7f). A line
 * without its LF (torn by a crash) or that does not parse is ignored; an
 * append after a torn tail starts with an LF of its own.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/views/cookie.h"
#include "tools/views/cookies.h"
#include "tools/lib/fmt.h"

/* Hash slots: twice the records kept, so probes stay short. */
#define CK_SLOTS (2u * RC_COOKIES_MAX)
/* Distinct deleted keys honoured (more are ignored: bounded memory). */
#define CK_DELETED_MAX RC_COOKIES_MAX
#define CK_DOMAIN_MAX (RC_COOKIE_ATTR_MAX + SEG_HOST_MAX)

_Static_assert((CK_SLOTS & (CK_SLOTS - 1)) == 0, "slots: a power of two");
_Static_assert(CK_SLOTS > RC_COOKIES_MAX && CK_SLOTS > CK_DELETED_MAX, "slots must not fill");

/* One sighting, copied out of the exchange and NUL-terminated. */
struct sight {
	char name[RC_COOKIE_NAME_VALUE_MAX + 1], value[RC_COOKIE_NAME_VALUE_MAX + 1];
	char domain[CK_DOMAIN_MAX + 1], path[SEG_URL_MAX + 1];
	struct rc_setcookie a; /* attributes (response), zero for requests */
	uint8_t dir;
	bool foreign;
	uint64_t t_ns, id;
};

struct deleted {
	char *name, *domain, *path;
	uint64_t ns;
};

struct loader {
	const char *dir;
	struct rc_cookie_list *l;
	uint32_t *slot;    /* record index + 1, 0 empty */
	struct deleted *del;
	size_t ndel;
	uint32_t *dslot;   /* deleted index + 1 */
	struct sight *s;
};

static uint64_t fnv(uint64_t h, const char *s)
{
	for (size_t i = 0; s[i]; i++) /* NUL-terminated, bounded by its buffer */
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull;
}

static uint64_t key_hash(const char *name, const char *domain, const char *path, unsigned dir)
{
	return fnv(fnv(fnv(0xcbf29ce484222325ull ^ dir, name), domain), path);
}

static void copy_span(char *dst, size_t cap, struct rc_span s, bool lower)
{
	size_t n = s.n < cap - 1 ? s.n : cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = lower ? (char)tolower((unsigned char)s.p[i]) : s.p[i];
	dst[n] = '\0';
}

/* ---- deletions ---- */

static size_t pct_encode(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%' || c < 0x21 || c == 0x7f) {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		} else {
			out[k++] = (char)c;
		}
	}
	return k;
}

/* Decodes s[0..n) in place into a NUL-terminated string; false if bad. */
static bool pct_decode(char *s, size_t n)
{
	return rc_pct_decode(s, n, false, s, n + 1) >= 0;
}

static struct deleted *del_find(const struct loader *ld, const char *name, const char *domain,
				const char *path, size_t *at)
{
	size_t j = key_hash(name, domain, path, 9) & (CK_SLOTS - 1);
	for (size_t probes = 0; probes < CK_SLOTS && ld->dslot[j]; probes++) {
		struct deleted *d = &ld->del[ld->dslot[j] - 1];
		if (!strcmp(d->name, name) && !strcmp(d->domain, domain) && !strcmp(d->path, path))
			return d;
		j = (j + 1) & (CK_SLOTS - 1);
	}
	*at = j;
	return NULL;
}

/* One line "ns\tname\tdomain\tpath" (no LF, writable). */
static void del_line(struct loader *ld, char *s, size_t n)
{
	char *f[4];
	size_t len[4], k = 0, start = 0;
	for (size_t i = 0; i <= n && k < 4; i++)
		if (i == n || s[i] == '\t') {
			f[k] = s + start;
			len[k++] = i - start;
			start = i + 1;
		}
	if (k != 4 || start != n + 1 || len[0] == 0 || len[0] > 20)
		return;
	char *end;
	f[0][len[0]] = '\0';
	unsigned long long ns = strtoull(f[0], &end, 10);
	if (*end != '\0' || !pct_decode(f[1], len[1]) || !pct_decode(f[2], len[2]) ||
	    !pct_decode(f[3], len[3]))
		return;
	size_t at = 0;
	struct deleted *d = del_find(ld, f[1], f[2], f[3], &at);
	if (d != NULL) {
		d->ns = ns > d->ns ? ns : d->ns;
		return;
	}
	if (ld->ndel == CK_DELETED_MAX)
		return;
	d = &ld->del[ld->ndel];
	d->name = strdup(f[1]);
	d->domain = strdup(f[2]);
	d->path = strdup(f[3]);
	d->ns = ns;
	if (!d->name || !d->domain || !d->path) {
		free(d->name);
		free(d->domain);
		free(d->path);
		return;
	}
	ld->dslot[at] = (uint32_t)++ld->ndel;
}

static int del_load(struct loader *ld)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", ld->dir, RC_COOKIES_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && st.st_size > (off_t)RC_COOKIES_DELETED_BYTES_MAX)
		rc = -EFBIG;
	size_t size = rc == 0 ? (size_t)st.st_size : 0;
	char *buf = rc == 0 ? malloc(size + 1) : NULL;
	if (rc == 0 && buf == NULL)
		rc = -ENOMEM;
	size_t got = 0;
	while (rc == 0 && got < size) {
		ssize_t k = pread(fd, buf + got, size - got, (off_t)got);
		if (k <= 0)
			break; /* shrunk under us: parse what came */
		got += (size_t)k;
	}
	close(fd);
	size_t ls = 0;
	for (size_t i = 0; rc == 0 && i < got; i++) {
		if (buf[i] != '\n')
			continue;
		del_line(ld, buf + ls, i - ls);
		ls = i + 1;
	}
	free(buf);
	return rc;
}

int rc_cookies_delete(const char *session_dir, const struct rc_cookie_key *keys, size_t n,
		      uint64_t now_ns)
{
	if (n == 0 || n > RC_COOKIES_DELETE_MAX)
		return -EINVAL;
	size_t cap = 2;
	for (size_t i = 0; i < n; i++) {
		if (!keys[i].name || !keys[i].domain || !keys[i].path)
			return -EINVAL;
		cap += 24 + 3 * (strlen(keys[i].name) + strlen(keys[i].domain) + strlen(keys[i].path)) + 4;
	}
	char *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", session_dir, RC_COOKIES_FILE);
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600); /* read: the last byte */
	int rc = fd < 0 ? -errno : 0;
	size_t k = 0;
	struct stat st;
	char last = '\n';
	if (rc == 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
	    pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
		buf[k++] = '\n'; /* a torn tail stays one ignored line */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		k += (size_t)snprintf(buf + k, cap - k, "%llu\t", (unsigned long long)now_ns);
		k += pct_encode(buf + k, keys[i].name);
		buf[k++] = '\t';
		k += pct_encode(buf + k, keys[i].domain);
		buf[k++] = '\t';
		k += pct_encode(buf + k, keys[i].path);
		buf[k++] = '\n';
	}
	for (size_t off = 0; rc == 0 && off < k;) {
		ssize_t w = write(fd, buf + off, k - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = w < 0 ? -errno : -EIO;
		else
			off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	int dfd = rc == 0 ? open(session_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) { /* the file may be new: make its name durable too */
		fsync(dfd);
		close(dfd);
	}
	free(buf);
	return rc;
}

/* ---- records ---- */

static struct rc_cookie *rec_find(struct loader *ld, const struct sight *s, size_t *at)
{
	size_t j = key_hash(s->name, s->domain, s->path, s->dir) & (CK_SLOTS - 1);
	for (size_t probes = 0; probes < CK_SLOTS && ld->slot[j]; probes++) {
		struct rc_cookie *c = &ld->l->c[ld->slot[j] - 1];
		if (c->dir == s->dir && !strcmp(c->name, s->name) && !strcmp(c->domain, s->domain) &&
		    !strcmp(c->path, s->path))
			return c;
		j = (j + 1) & (CK_SLOTS - 1);
	}
	*at = j;
	return NULL;
}

static int rec_new(struct loader *ld, const struct sight *s, size_t at, struct rc_cookie **out)
{
	struct rc_cookie_list *l = ld->l;
	struct rc_cookie *c = &l->c[l->n];
	memset(c, 0, sizeof(*c));
	c->name = strdup(s->name);
	c->domain = strdup(s->domain);
	c->path = strdup(s->path);
	if (!c->name || !c->domain || !c->path) {
		free(c->name);
		free(c->domain);
		free(c->path);
		return -ENOMEM;
	}
	c->dir = s->dir;
	c->first_seen_ns = s->t_ns;
	ld->slot[at] = (uint32_t)++l->n;
	*out = c;
	return 0;
}

/* Records one sighting: the latest (by exchange start) sets the value. */
static int sighting(struct loader *ld, const struct sight *s)
{
	size_t at = 0;
	const struct deleted *d = del_find(ld, s->name, s->domain, s->path, &at);
	if (d != NULL && s->t_ns <= d->ns) {
		ld->l->deleted++;
		return 0;
	}
	struct rc_cookie *c = rec_find(ld, s, &at);
	if (c == NULL && ld->l->n == RC_COOKIES_MAX) {
		ld->l->over_limit++;
		return 0;
	}
	if (c == NULL) {
		int rc = rec_new(ld, s, at, &c);
		if (rc < 0)
			return rc;
	}
	c->count++;
	if (s->t_ns < c->first_seen_ns)
		c->first_seen_ns = s->t_ns;
	if (s->t_ns < c->last_seen_ns)
		return 0;
	char *v = strdup(s->value);
	if (v == NULL)
		return -ENOMEM;
	free(c->value);
	c->value = v;
	c->last_seen_ns = s->t_ns;
	c->xchg_id = s->id;
	c->host_only = !s->a.has_domain;
	c->foreign = s->foreign;
	c->has_expires = s->a.has_expires;
	c->expires_s = s->a.expires_s;
	c->has_max_age = s->a.has_max_age;
	c->max_age_s = s->a.max_age_s;
	c->http_only = s->a.http_only;
	c->secure = s->a.secure;
	c->same_site = s->a.same_site;
	return 0;
}

/* RFC 6265 5.1.3: domain equals host, or host ends in "." + domain and
 * is a name (not an IP address literal). */
static bool domain_match(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);
	if (h == d)
		return strcmp(host, domain) == 0;
	if (h < d + 1 || host[h - d - 1] != '.' || strcmp(host + h - d, domain) != 0)
		return false;
	bool ip = strchr(host, ':') != NULL; /* IPv6 */
	if (!ip) {
		ip = true;
		for (size_t i = 0; host[i] && ip; i++)
			ip = (host[i] >= '0' && host[i] <= '9') || host[i] == '.';
	}
	return !ip;
}

static int scan_request(struct loader *ld, const struct seg_exchange *x, struct sight *s)
{
	struct rc_span line, name, value;
	size_t pos = 0;
	s->dir = RC_COOKIE_REQUEST;
	s->foreign = false;
	memset(&s->a, 0, sizeof(s->a));
	copy_span(s->domain, sizeof(s->domain), (struct rc_span){ x->host, strlen(x->host) }, true);
	strcpy(s->path, "/");
	/* bounded: each call moves pos forward through the head */
	while (rc_head_field_next((const char *)x->req_head, x->req_head_len, "cookie", &pos, &line)) {
		size_t p = 0;
		while (rc_cookie_pair_next(line.p, line.n, &p, &name, &value)) {
			copy_span(s->name, sizeof(s->name), name, false);
			copy_span(s->value, sizeof(s->value), value, false);
			int rc = sighting(ld, s);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int scan_response(struct loader *ld, const struct seg_exchange *x, struct sight *s)
{
	struct rc_span line;
	char host[SEG_HOST_MAX + 1];
	size_t pos = 0;
	s->dir = RC_COOKIE_RESPONSE;
	copy_span(host, sizeof(host), (struct rc_span){ x->host, strlen(x->host) }, true);
	struct rc_span defpath = rc_cookie_default_path(x->url, strlen(x->url));
	while (rc_head_field_next((const char *)x->resp_head, x->resp_head_len, "set-cookie", &pos,
				  &line)) {
		if (rc_setcookie_parse(line.p, line.n, &s->a) < 0)
			continue;
		copy_span(s->name, sizeof(s->name), s->a.name, false);
		copy_span(s->value, sizeof(s->value), s->a.value, false);
		s->foreign = false;
		if (s->a.has_domain) {
			copy_span(s->domain, sizeof(s->domain), s->a.domain, true);
			s->foreign = !domain_match(host, s->domain);
		} else {
			strcpy(s->domain, host);
		}
		copy_span(s->path, sizeof(s->path), s->a.has_path ? s->a.path : defpath, false);
		int rc = sighting(ld, s);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int scan_rows(struct loader *ld, const struct seg_table *t, const struct seg_result *res)
{
	struct seg_open_opts oo = {0}; /* heads only: no body collected */
	for (size_t k = 0; k < res->n; k++) {
		const struct seg_qrow *r = &t->rows[res->idx[k]];
		if (!(r->e.flags & SEG_F_COOKIES))
			continue;
		struct seg_exchange x;
		if (seg_open_entry(ld->dir, &r->e, &oo, &x) < 0) {
			ld->l->unreadable++;
			continue;
		}
		ld->l->exchanges++;
		ld->s->t_ns = x.start_ns;
		ld->s->id = x.number ? x.number : x.id; /* the id ls shows */
		int rc = scan_request(ld, &x, ld->s);
		if (rc == 0)
			rc = scan_response(ld, &x, ld->s);
		seg_exchange_free(&x);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rc_cookie *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	if (c == 0)
		c = strcmp(x->path, y->path);
	if (c == 0)
		c = strcmp(x->name, y->name);
	return c ? c : (int)x->dir - (int)y->dir;
}

int rc_cookies_load(const char *session_dir, struct rc_cookie_list *out)
{
	memset(out, 0, sizeof(*out));
	struct loader ld = { .dir = session_dir, .l = out };
	struct seg_table t = {0};
	struct seg_result res = {0};
	ld.slot = calloc(CK_SLOTS, sizeof(*ld.slot));
	ld.dslot = calloc(CK_SLOTS, sizeof(*ld.dslot));
	ld.del = calloc(CK_DELETED_MAX, sizeof(*ld.del));
	ld.s = malloc(sizeof(*ld.s));
	out->c = calloc(RC_COOKIES_MAX, sizeof(*out->c));
	int rc = ld.slot && ld.dslot && ld.del && ld.s && out->c ? 0 : -ENOMEM;
	if (rc == 0)
		rc = del_load(&ld);
	if (rc == 0)
		rc = seg_table_load(session_dir, &t, NULL);
	if (rc == 0)
		rc = seg_query_run(&t, NULL, &res); /* every live row, by start time */
	if (rc == 0)
		rc = scan_rows(&ld, &t, &res);
	seg_result_free(&res);
	seg_table_free(&t);
	for (size_t i = 0; i < ld.ndel; i++) {
		free(ld.del[i].name);
		free(ld.del[i].domain);
		free(ld.del[i].path);
	}
	free(ld.del);
	free(ld.slot);
	free(ld.dslot);
	free(ld.s);
	if (rc < 0) {
		rc_cookies_free(out);
		return rc;
	}
	qsort(out->c, out->n, sizeof(*out->c), rec_cmp);
	return 0;
}

void rc_cookies_free(struct rc_cookie_list *l)
{
	for (size_t i = 0; l->c && i < l->n; i++) {
		free(l->c[i].name);
		free(l->c[i].value);
		free(l->c[i].domain);
		free(l->c[i].path);
	}
	free(l->c);
	memset(l, 0, sizeof(*l));
}

/* ---- output ---- */

static const char *same_site_name(uint8_t s)
{
	return s == RC_SS_STRICT ? "\"Strict\"" : s == RC_SS_LAX ? "\"Lax\"" :
	       s == RC_SS_NONE ? "\"None\"" : "null";
}

void rc_cookies_json(const struct rc_cookie_list *l, FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < l->n; i++) {
		const struct rc_cookie *c = &l->c[i];
		char first[40], last[40];
		rc_iso_time(c->first_seen_ns, first, sizeof(first));
		rc_iso_time(c->last_seen_ns, last, sizeof(last));
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		rc_json_str(f, c->name, strlen(c->name));
		fputs(",\"value\":", f);
		rc_json_str(f, c->value, strlen(c->value));
		fputs(",\"domain\":", f);
		rc_json_str(f, c->domain, strlen(c->domain));
		fputs(",\"path\":", f);
		rc_json_str(f, c->path, strlen(c->path));
		fprintf(f, ",\"host_only\":%s,\"foreign\":%s,\"expires\":",
			c->host_only ? "true" : "false", c->foreign ? "true" : "false");
		if (c->has_expires)
			fprintf(f, "%lld", (long long)c->expires_s);
		else
			fputs("null", f);
		fputs(",\"max_age\":", f);
		if (c->has_max_age)
			fprintf(f, "%lld", (long long)c->max_age_s);
		else
			fputs("null", f);
		fprintf(f, ",\"http_only\":%s,\"secure\":%s,\"same_site\":%s,\"direction\":\"%s\","
			"\"first_seen\":\"%s\",\"last_seen\":\"%s\",\"count\":%llu,\"exchange\":%llu}",
			c->http_only ? "true" : "false", c->secure ? "true" : "false",
			same_site_name(c->same_site),
			c->dir == RC_COOKIE_REQUEST ? "request" : "response", first, last,
			(unsigned long long)c->count, (unsigned long long)c->xchg_id);
	}
	fputs("]\n", f);
}

static bool jar_safe(const char *s)
{
	return strpbrk(s, "\t\r\n") == NULL;
}

/* Expiry for the jar: Max-Age wins over Expires (RFC 6265 5.3 step 3);
 * 0 = session cookie; -1 = already expired. */
static int64_t jar_expiry(const struct rc_cookie *c)
{
	int64_t seen = (int64_t)(c->last_seen_ns / 1000000000u);
	int64_t e = 0;
	if (c->has_max_age)
		e = c->max_age_s <= 0 ? -1 : seen + c->max_age_s;
	else if (c->has_expires)
		e = c->expires_s <= 0 ? -1 : c->expires_s;
	return e;
}

static int by_last_seen(const void *a, const void *b)
{
	const struct rc_cookie *x = *(const struct rc_cookie *const *)a;
	const struct rc_cookie *y = *(const struct rc_cookie *const *)b;
	if (x->last_seen_ns != y->last_seen_ns)
		return x->last_seen_ns < y->last_seen_ns ? -1 : 1;
	/* one exchange: its Set-Cookie came after its Cookie line */
	return (int)x->dir - (int)y->dir;
}

size_t rc_cookies_jar(const struct rc_cookie_list *l, int64_t now_s, FILE *f)
{
	fputs("# Netscape HTTP Cookie File\n# written by ringcap cookies --jar\n\n", f);
	const struct rc_cookie **o = malloc((l->n ? l->n : 1) * sizeof(*o));
	if (o == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		o[i] = &l->c[i];
	qsort(o, l->n, sizeof(*o), by_last_seen);
	size_t lines = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct rc_cookie *c = o[i];
		int64_t e = jar_expiry(c);
		if (e < 0 || (e > 0 && e <= now_s) || c->domain[0] == '\0' || c->foreign)
			continue;
		if (!jar_safe(c->name) || !jar_safe(c->value) || !jar_safe(c->domain) ||
		    !jar_safe(c->path))
			continue;
		fprintf(f, "%s%s%s\t%s\t%s\t%s\t%lld\t%s\t%s\n", c->http_only ? "#HttpOnly_" : "",
			c->host_only ? "" : ".", c->domain, c->host_only ? "FALSE" : "TRUE", c->path,
			c->secure ? "TRUE" : "FALSE", (long long)e, c->name, c->value);
		lines++;
	}
	free(o);
	return lines;
}
