/*
 * tools/views/export_postman.c - a Postman Collection v2.1.0
 * (https://schema.getpostman.com/json/collection/v2.1.0/collection.json)
 * from a selection of exchanges, as Postman's "Save requests" makes it.
 *
 * Order pass (index only, no frame read): every selected row gets three
 * numbers in order of first appearance in the selection: its domain
 * (host[:port]), its endpoint (templated path, within its domain when both
 * groupings are on) and its item (method + full URL). Rows sorted by those
 * numbers, then by selection position, put each folder's items together and
 * keep folders, items and examples in the order the user saw them.
 *
 * Render pass: folder order is not the order exchanges lie in the segment
 * files (each folder's rows are spread over the whole session), so rows
 * are opened once, in selection order (frame after frame, each frame
 * decompressed once through the per-worker open caches), and each row's
 * request and saved response are rendered into an unlinked temporary file
 * (tmpfile(3): $TMPDIR or /tmp), with the hash of its request body.
 * Memory: 40 B a row for the order and the fragments' places.
 *
 * Write pass: the sorted rows copy their fragments out. A run of rows with
 * one item number is one method + URL; identical requests (same method,
 * URL and request body hash) collapse into one item whose saved responses
 * become its examples, and each distinct body becomes an item of its own.
 * The request of an item is its first exchange's; its test (--with-tests)
 * accepts every status its exchanges recorded.
 *
 * Requests keep their real URL: templating names endpoint folders only.
 * Headers drop hop-by-hop, proxy and framing lines. Bodies: raw with a
 * language for text, urlencoded (decoded pairs), formdata for multipart
 * (file parts by their file name), binary as mode "file" with a note.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tools/views/export-int.h"
#include "tools/views/listing.h"

#define PM_SCHEMA "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

/* One selected row: its folder numbers, item number and position. */
struct pm_rec {
	uint32_t dom, ep, item, k;
};

/* Where a row's rendered request and example sit in the spill file. */
struct pm_frag {
	uint64_t off, hash;      /* hash: of the request body */
	uint32_t req_len;         /* the request object */
	uint32_t exh_len, ext_len; /* an example's parts before and after its
				    * originalRequest (the request again); 0: none */
	bool unreadable;
};

/* Open addressing map from a 64-bit hash to a first-appearance number. */
struct pm_map {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap, n;
};

struct pm_ctx {
	const char *dir;
	const struct seg_table *t;
	const struct seg_result *res;
	const struct rc_export_opts *opt;
	struct rc_xout *o;
	struct rc_export_stats *st;
	struct rc_caches *cache;
	struct pm_rec *recs;
	struct pm_frag *frags;  /* per selected row, in selection order */
	FILE *spill;            /* rendered requests and examples */
	struct rc_buf scratch;  /* one row's rendering, then one copy */
	struct pm_map origins;  /* for --base-url-variables */
	uint32_t *origin_row;   /* first row of each origin number */
	size_t origin_cap;
};

static uint64_t hash64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

static int map_init(struct pm_map *m, size_t want)
{
	size_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	m->keys = calloc(cap, sizeof(*m->keys));
	m->vals = calloc(cap, sizeof(*m->vals));
	m->cap = cap;
	m->n = 0;
	return m->keys && m->vals ? 0 : -ENOMEM;
}

static void map_free(struct pm_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static void map_slot(struct pm_map *m, uint64_t h, uint32_t v)
{
	size_t i = (size_t)(h ^ (h >> 29)) & (m->cap - 1);
	while (m->keys[i] != 0)
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = h;
	m->vals[i] = v;
}

/* Doubles the map when half full (the caller checks the result). */
static int map_grow(struct pm_map *m)
{
	if (m->n * 2 < m->cap)
		return 0;
	struct pm_map g = { .n = m->n };
	g.cap = m->cap * 2;
	g.keys = calloc(g.cap, sizeof(*g.keys));
	g.vals = calloc(g.cap, sizeof(*g.vals));
	if (!g.keys || !g.vals) {
		map_free(&g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			map_slot(&g, m->keys[i], m->vals[i]);
	map_free(m);
	*m = g;
	return 0;
}

/* The number of key h, a new one (m->n before) when unseen; the map has
 * room (map_grow before each call). */
static uint32_t map_get(struct pm_map *m, uint64_t h, bool *fresh)
{
	h = h ? h : 1;
	size_t i = (size_t)(h ^ (h >> 29)) & (m->cap - 1);
	for (;;) {
		if (m->keys[i] == h) {
			*fresh = false;
			return m->vals[i];
		}
		if (m->keys[i] == 0)
			break;
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = h;
	m->vals[i] = (uint32_t)m->n++;
	*fresh = true;
	return m->vals[i];
}

static const struct seg_qrow *pm_row(const struct pm_ctx *c, size_t k)
{
	return &c->t->rows[c->res->idx[k]];
}

static int rec_cmp(const void *a, const void *b)
{
	const struct pm_rec *x = a, *y = b;
	if (x->dom != y->dom)
		return x->dom < y->dom ? -1 : 1;
	if (x->ep != y->ep)
		return x->ep < y->ep ? -1 : 1;
	if (x->item != y->item)
		return x->item < y->item ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/* Numbers every selected row, then sorts them into folder order. */
static int pm_order(struct pm_ctx *c)
{
	size_t n = c->res->n;
	struct pm_map dom = {0}, ep = {0}, item = {0};
	int rc = map_init(&dom, 64) | map_init(&ep, 64) | map_init(&item, 64) |
		 map_init(&c->origins, 64);
	c->recs = malloc((n ? n : 1) * sizeof(*c->recs));
	if (rc < 0 || c->recs == NULL) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (size_t k = 0; k < n; k++) {
		const struct seg_qrow *r = pm_row(c, k);
		struct rc_url u;
		rc_url_split(r->url, r->e.url_len, &u);
		const char *auth = u.host;
		size_t al = (size_t)(u.path - u.host);
		char tpl[SEG_URL_MAX + 1];
		size_t tl = rc_path_template(u.path, u.path_len, tpl, sizeof(tpl));
		bool fresh;
		uint64_t hd = hash64(0xcbf29ce484222325ull, auth, al);
		uint64_t he = hash64((c->opt->group & RC_GROUP_DOMAIN) ? hd : 7, tpl, tl);
		uint64_t hi = hash64(hash64(0xcbf29ce484222325ull, &r->e.method, 1), r->url,
				     r->e.url_len);
		struct pm_rec *x = &c->recs[k];
		x->dom = (c->opt->group & RC_GROUP_DOMAIN) ? map_get(&dom, hd, &fresh) : 0;
		x->ep = (c->opt->group & RC_GROUP_ENDPOINT) ? map_get(&ep, he, &fresh) : 0;
		x->item = map_get(&item, hi, &fresh);
		x->k = (uint32_t)k;
		uint32_t on = map_get(&c->origins, hash64(0xcbf29ce484222325ull, u.origin,
							  u.origin_len), &fresh);
		if (fresh && on >= c->origin_cap) {
			size_t nc = c->origin_cap ? c->origin_cap * 2 : 64;
			uint32_t *p = realloc(c->origin_row, nc * sizeof(*p));
			if (p == NULL) {
				rc = -ENOMEM;
				goto out_free;
			}
			c->origin_row = p;
			c->origin_cap = nc;
		}
		if (fresh)
			c->origin_row[on] = (uint32_t)k;
		if (map_grow(&dom) < 0 || map_grow(&ep) < 0 || map_grow(&item) < 0 ||
		    map_grow(&c->origins) < 0) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	qsort(c->recs, n, sizeof(*c->recs), rec_cmp);
	rc = 0;
out_free:
	map_free(&dom);
	map_free(&ep);
	map_free(&item);
	return rc;
}

/* ---- request parts ---- */

/* url.query: the pairs as they stand in the URL (Postman keeps them so). */
static void pm_query(struct rc_buf *b, const struct rc_url *u)
{
	rc_buf_puts(b, ",\"query\":[");
	const char *p = u->query, *end = u->query + u->query_len;
	for (bool first = true; p <= end; first = false) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		rc_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
		rc_buf_jstr(b, p, (size_t)((eq ? eq : e) - p));
		rc_buf_puts(b, ",\"value\":");
		if (eq)
			rc_buf_jstr(b, eq + 1, (size_t)(e - eq - 1));
		else
			rc_buf_puts(b, "null");
		rc_buf_puts(b, "}");
		p = e + 1;
	}
	rc_buf_puts(b, "]");
}

static void pm_url(struct pm_ctx *c, struct rc_buf *b, const struct seg_exchange *x)
{
	struct rc_url u;
	size_t ul = strlen(x->url);
	rc_url_split(x->url, ul, &u);
	const char *rest = u.path;
	size_t rl = ul - (size_t)(u.path - x->url);
	if (c->opt->base_url_variables) {
		bool fresh;
		uint32_t on = map_get(&c->origins, hash64(0xcbf29ce484222325ull, u.origin,
							  u.origin_len), &fresh);
		rc_buf_printf(b, "\"url\":{\"raw\":\"{{host_%u}}", on + 1);
		struct rc_buf tmp = {0};
		rc_buf_jstr(&tmp, rest, rl);
		if (tmp.len >= 2)
			rc_buf_add(b, tmp.p + 1, tmp.len - 2);
		b->oom |= tmp.oom;
		rc_buf_free(&tmp);
		rc_buf_printf(b, "\",\"host\":[\"{{host_%u}}\"]", on + 1);
	} else {
		rc_buf_puts(b, "\"url\":{\"raw\":");
		rc_buf_jstr(b, x->url, ul);
		rc_buf_puts(b, ",\"protocol\":");
		rc_buf_jstr(b, u.scheme ? u.scheme : "http", u.scheme ? u.scheme_len : 4);
		rc_buf_puts(b, ",\"host\":[");
		for (size_t i = 0, s = 0; i <= u.host_len; i++) {
			if (i < u.host_len && u.host[i] != '.')
				continue;
			rc_buf_puts(b, s ? "," : "");
			rc_buf_jstr(b, u.host + s, i - s);
			s = i + 1;
		}
		rc_buf_puts(b, "]");
		if (u.port_len) {
			rc_buf_puts(b, ",\"port\":");
			rc_buf_jstr(b, u.port, u.port_len);
		}
	}
	rc_buf_puts(b, ",\"path\":[");
	for (size_t i = 1, s = 1, first = 1; u.path_len > 0 && i <= u.path_len; i++) {
		if (i < u.path_len && u.path[i] != '/')
			continue;
		rc_buf_puts(b, first ? "" : ",");
		rc_buf_jstr(b, u.path + s, i - s);
		s = i + 1;
		first = 0;
	}
	rc_buf_puts(b, "]");
	if (u.query)
		pm_query(b, &u);
	rc_buf_puts(b, "}");
}

static void pm_urlencoded(struct rc_buf *b, const uint8_t *body, size_t n)
{
	const char *p = (const char *)body, *end = p + n;
	rc_buf_puts(b, "\"mode\":\"urlencoded\",\"urlencoded\":[");
	for (bool first = true; p < end; first = false) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		rc_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
		rc_buf_jstr_urldec(b, p, (size_t)((eq ? eq : e) - p));
		rc_buf_puts(b, ",\"value\":");
		rc_buf_jstr_urldec(b, eq ? eq + 1 : e, eq ? (size_t)(e - eq - 1) : 0);
		rc_buf_puts(b, ",\"type\":\"text\"}");
		p = e + 1;
	}
	rc_buf_puts(b, "]");
}

static void pm_formdata(struct rc_buf *b, const struct rc_hdr *ct, const uint8_t *body, size_t n)
{
	size_t pos = 0;
	struct rc_part pt;
	rc_buf_puts(b, "\"mode\":\"formdata\",\"formdata\":[");
	for (bool first = true; rc_multipart_next(ct->value, ct->value_len, body, n, &pos, &pt) == 1;
	     first = false) {
		rc_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
		rc_buf_jstr(b, pt.name ? pt.name : "", pt.name_len);
		if (pt.filename) {
			rc_buf_puts(b, ",\"type\":\"file\",\"src\":");
			rc_buf_jstr(b, pt.filename, pt.filename_len);
		} else {
			rc_buf_puts(b, ",\"type\":\"text\",\"value\":");
			rc_buf_jstr(b, (const char *)pt.data, pt.data_len);
		}
		if (pt.ctype) {
			rc_buf_puts(b, ",\"contentType\":");
			rc_buf_jstr(b, pt.ctype, pt.ctype_len);
		}
		rc_buf_puts(b, "}");
	}
	rc_buf_puts(b, "]");
}

static void pm_body(struct rc_buf *b, const struct seg_exchange *x)
{
	const uint8_t *body = x->body[SEG_DIR_REQ];
	size_t n = x->body_len[SEG_DIR_REQ];
	struct rc_hdr ct = { .value = "", .value_len = 0 };
	rc_hdr_get(x->req_head, x->req_head_len, "content-type", &ct);
	enum rc_body_kind k = rc_body_kind(ct.value, ct.value_len, body, n);
	if (k == RC_BODY_NONE)
		return;
	rc_buf_puts(b, ",\"body\":{");
	if (k == RC_BODY_URLENC) {
		pm_urlencoded(b, body, n);
	} else if (k == RC_BODY_MULTIPART) {
		pm_formdata(b, &ct, body, n);
	} else if (k == RC_BODY_TEXT) {
		rc_buf_puts(b, "\"mode\":\"raw\",\"raw\":");
		rc_buf_jstr(b, (const char *)body, n);
		rc_buf_printf(b, ",\"options\":{\"raw\":{\"language\":\"%s\"}}",
			      rc_raw_language(ct.value, ct.value_len));
	} else {
		rc_buf_puts(b, "\"mode\":\"file\",\"file\":{}");
	}
	rc_buf_puts(b, "}");
}

/* The request object of x (an item's request, its examples' originalRequest). */
static void pm_request(struct pm_ctx *c, struct rc_buf *b, const struct seg_exchange *x)
{
	rc_buf_puts(b, "{\"method\":");
	rc_buf_jstr(b, x->method_text, strlen(x->method_text));
	rc_buf_puts(b, ",");
	rc_headers_json(b, "header", "key", x->req_head, x->req_head_len, true);
	pm_body(b, x);
	size_t n = x->body_len[SEG_DIR_REQ];
	struct rc_hdr ct = { .value = "", .value_len = 0 };
	rc_hdr_get(x->req_head, x->req_head_len, "content-type", &ct);
	if (rc_body_kind(ct.value, ct.value_len, x->body[SEG_DIR_REQ], n) == RC_BODY_BINARY)
		rc_buf_printf(b, ",\"description\":\"binary request body of %zu bytes, not "
			      "included: ringcap show SESSION %llu --body request\"", n,
			      (unsigned long long)rc_exchange_id(x));
	rc_buf_puts(b, ",");
	pm_url(c, b, x);
	rc_buf_puts(b, "}");
}

/* A saved response as an example, in two parts around its originalRequest
 * (*head set to the first part's length); nothing when none was saved. */
static void pm_example(struct rc_buf *b, const struct seg_exchange *x, size_t *head)
{
	if ((x->flags & SEG_F_NO_RESP) || x->status == 0)
		return;
	size_t at = b->len;
	struct rc_hdr ct = { .value = "", .value_len = 0 };
	rc_hdr_get(x->resp_head, x->resp_head_len, "content-type", &ct);
	const char *reason = x->reason ? x->reason : "";
	char name[SEG_REASON_MAX + 16];
	int nl = snprintf(name, sizeof(name), "%u %s", x->status, reason);
	rc_buf_puts(b, "{\"name\":");
	rc_buf_jstr(b, name, (size_t)nl < sizeof(name) ? (size_t)nl : sizeof(name) - 1);
	*head = b->len - at;
	rc_buf_puts(b, ",\"status\":");
	rc_buf_jstr(b, reason, strlen(reason));
	rc_buf_printf(b, ",\"code\":%u,\"_postman_previewlanguage\":\"%s\",", x->status,
		      rc_raw_language(ct.value, ct.value_len));
	rc_headers_json(b, "header", "key", x->resp_head, x->resp_head_len, false);
	rc_buf_puts(b, ",\"cookie\":[],\"body\":");
	size_t n = x->body_len[SEG_DIR_RESP];
	if (n > 0 && rc_utf8_valid(x->body[SEG_DIR_RESP], n))
		rc_buf_jstr(b, (const char *)x->body[SEG_DIR_RESP], n);
	else
		rc_buf_puts(b, "\"\"");
	rc_buf_puts(b, "}");
}

/* ---- items and folders ---- */

struct pm_status {
	uint16_t v[RC_EXPORT_STATUSES_MAX];
	size_t n;
};

static void status_add(struct pm_status *s, uint16_t v)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == v)
			return;
	if (v != 0 && s->n < RC_EXPORT_STATUSES_MAX)
		s->v[s->n++] = v;
}

/* A test script asserting the recorded status (one of them when several). */
static void pm_test(struct rc_buf *b, const struct pm_status *s)
{
	if (s->n == 0)
		return;
	rc_buf_puts(b, ",\"event\":[{\"listen\":\"test\",\"script\":{\"type\":\"text/javascript\","
		    "\"exec\":[");
	if (s->n == 1) {
		rc_buf_printf(b, "\"pm.test(\\\"status is %u\\\", function () {\","
			      "\"    pm.response.to.have.status(%u);\",", s->v[0], s->v[0]);
	} else {
		rc_buf_puts(b, "\"pm.test(\\\"status is one of those recorded\\\", function () {\","
			    "\"    pm.expect(pm.response.code).to.be.oneOf([");
		for (size_t i = 0; i < s->n; i++)
			rc_buf_printf(b, "%s%u", i ? ", " : "", s->v[i]);
		rc_buf_puts(b, "]);\",");
	}
	rc_buf_puts(b, "\"});\"]}}]");
}

/* Renders every selected row, in selection order (the order the frames
 * lie in, so the open caches decompress each frame once), into the spill
 * file: its request and its example, and the hash of its request body. */
static int pm_render(struct pm_ctx *c)
{
	struct rc_buf *b = &c->scratch;
	uint64_t off = 0;
	for (size_t k = 0; k < c->res->n; k++) {
		struct pm_frag *f = &c->frags[k];
		struct seg_exchange x;
		int rc = rc_export_open(c->dir, pm_row(c, k), c->cache, &x);
		memset(f, 0, sizeof(*f));
		if (rc == -EBADMSG || rc == -ENOENT) {
			f->unreadable = true;
			c->st->unreadable++;
			continue;
		}
		if (rc < 0)
			return rc;
		b->len = 0;
		pm_request(c, b, &x);
		f->req_len = (uint32_t)b->len;
		size_t head = 0;
		pm_example(b, &x, &head);
		f->exh_len = (uint32_t)head;
		f->ext_len = (uint32_t)(b->len - f->req_len - head);
		/* the method text too: the index calls every unusual method "other" */
		f->hash = hash64(hash64(0xcbf29ce484222325ull, x.method_text, strlen(x.method_text)),
				 x.body[SEG_DIR_REQ], x.body_len[SEG_DIR_REQ]);
		f->off = off;
		seg_exchange_free(&x);
		if (b->oom)
			return -ENOMEM;
		if (b->len > UINT32_MAX / 2 || fwrite(b->p, 1, b->len, c->spill) != b->len)
			return -EIO;
		off += b->len;
		if (c->opt->progress && (k % 1000) == 999)
			c->opt->progress(c->opt->progress_ctx, k + 1, c->res->n);
	}
	return fflush(c->spill) == 0 ? 0 : -EIO;
}

/* Appends len bytes of the spill file at off to the output. */
static int pm_copy(struct pm_ctx *c, uint64_t off, uint32_t len)
{
	char tmp[64 << 10];
	int fd = fileno(c->spill);
	for (uint32_t done = 0; done < len;) {
		size_t k = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		ssize_t r = pread(fd, tmp, k, (off_t)(off + done));
		if (r <= 0)
			return -EIO;
		rc_buf_add(&c->o->b, tmp, (size_t)r);
		done += (uint32_t)r;
		int rc = rc_xout_flush(c->o, false);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One item: the first readable row's request, every saved response as an
 * example. ks: positions in the selection. */
static int pm_item(struct pm_ctx *c, const uint32_t *ks, size_t m, bool *first_item)
{
	struct rc_buf *b = &c->o->b;
	struct pm_status s = {0};
	bool opened = false, first_ex = true;
	int rc = 0;
	for (size_t j = 0; j < m && rc == 0; j++) {
		const struct seg_qrow *r = pm_row(c, ks[j]);
		const struct pm_frag *f = &c->frags[ks[j]];
		if (f->unreadable)
			continue;
		if (!opened) {
			rc_buf_puts(b, *first_item ? "{\"name\":" : ",{\"name\":");
			rc_buf_jstr(b, r->url, r->e.url_len);
			rc_buf_puts(b, ",");
			rc_buf_puts(b, "\"request\":");
			rc = pm_copy(c, f->off, f->req_len);
			rc_buf_puts(b, ",\"response\":[");
			opened = true;
			*first_item = false;
			c->st->items++;
		}
		status_add(&s, r->e.status);
		if (f->ext_len && rc == 0) {
			rc_buf_puts(b, first_ex ? "" : ",");
			rc = pm_copy(c, f->off + f->req_len, f->exh_len);
			rc_buf_puts(b, ",\"originalRequest\":");
			if (rc == 0)
				rc = pm_copy(c, f->off, f->req_len);
			if (rc == 0)
				rc = pm_copy(c, f->off + f->req_len + f->exh_len, f->ext_len);
			first_ex = false;
		}
		c->st->exchanges++;
	}
	if (!opened)
		return rc;
	rc_buf_puts(b, "]");
	if (c->opt->with_tests)
		pm_test(b, &s);
	rc_buf_puts(b, "}");
	return rc == 0 ? rc_xout_flush(c->o, false) : rc;
}

struct pm_hk {
	uint64_t h;
	uint32_t k, first;
};

static int hk_by_hash(const void *a, const void *b)
{
	const struct pm_hk *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static int hk_by_first(const void *a, const void *b)
{
	const struct pm_hk *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/* Rows recs[i0..i1) share method and URL: one item per distinct request
 * body (hashed by pm_render), in order of first appearance. */
static int pm_run(struct pm_ctx *c, size_t i0, size_t i1, bool *first_item)
{
	size_t m = i1 - i0;
	if (m == 1)
		return pm_item(c, &c->recs[i0].k, 1, first_item);
	struct pm_hk *v = malloc(m * sizeof(*v));
	uint32_t *ks = malloc(m * sizeof(*ks));
	int rc = v && ks ? 0 : -ENOMEM;
	for (size_t j = 0; j < m && rc == 0; j++) {
		v[j].k = c->recs[i0 + j].k;
		v[j].h = c->frags[v[j].k].hash;
	}
	if (rc == 0) {
		qsort(v, m, sizeof(*v), hk_by_hash);
		for (size_t j = 0; j < m; j++)
			v[j].first = j > 0 && v[j].h == v[j - 1].h ? v[j - 1].first : v[j].k;
		qsort(v, m, sizeof(*v), hk_by_first);
	}
	for (size_t j = 0; j < m && rc == 0;) {
		size_t e = j;
		while (e < m && v[e].first == v[j].first) {
			ks[e - j] = v[e].k;
			e++;
		}
		rc = pm_item(c, ks, e - j, first_item);
		j = e;
	}
	free(v);
	free(ks);
	return rc;
}

/* Opens a folder named name[0..n) at the current level. */
static void pm_folder_open(struct rc_buf *b, const char *name, size_t n, bool *first)
{
	rc_buf_puts(b, *first ? "{\"name\":" : ",{\"name\":");
	rc_buf_jstr(b, name, n);
	rc_buf_puts(b, ",\"item\":[");
	*first = false;
}

/* Folder names of row k: its host[:port] and its templated path. */
static void pm_folder_names(const struct pm_ctx *c, uint32_t k, const char **dom, size_t *dl,
			    char *tpl, size_t cap, size_t *tl)
{
	const struct seg_qrow *r = pm_row(c, k);
	struct rc_url u;
	rc_url_split(r->url, r->e.url_len, &u);
	*dom = u.host;
	*dl = (size_t)(u.path - u.host);
	*tl = rc_path_template(u.path, u.path_len, tpl, cap);
}

/* The folders and items of the sorted selection. */
static int pm_items(struct pm_ctx *c)
{
	struct rc_buf *b = &c->o->b;
	unsigned g = c->opt->group;
	bool first[3] = { true, true, true }; /* items at top, in domain, in endpoint */
	bool in_dom = false, in_ep = false;
	int rc = 0;
	for (size_t i = 0; i < c->res->n && rc == 0;) {
		const struct pm_rec *r = &c->recs[i];
		bool new_dom = (g & RC_GROUP_DOMAIN) && (i == 0 || r->dom != r[-1].dom);
		bool new_ep = (g & RC_GROUP_ENDPOINT) && (i == 0 || new_dom || r->ep != r[-1].ep);
		const char *dn;
		size_t dl, tl;
		char tpl[SEG_URL_MAX + 1];
		pm_folder_names(c, r->k, &dn, &dl, tpl, sizeof(tpl), &tl);
		if ((new_ep || new_dom) && in_ep) {
			rc_buf_puts(b, "]}");
			in_ep = false;
		}
		if (new_dom && in_dom)
			rc_buf_puts(b, "]}");
		if (new_dom) {
			pm_folder_open(b, dn, dl, &first[0]);
			in_dom = true;
			first[1] = true;
			c->st->folders++;
		}
		if (new_ep) {
			pm_folder_open(b, tpl, tl, &first[in_dom ? 1 : 0]);
			in_ep = true;
			first[2] = true;
			c->st->folders++;
		}
		size_t j = i + 1;
		while (j < c->res->n && c->recs[j].item == r->item)
			j++;
		rc = pm_run(c, i, j, &first[in_ep ? 2 : in_dom ? 1 : 0]);
		i = j;
	}
	if (in_ep)
		rc_buf_puts(b, "]}");
	if (in_dom)
		rc_buf_puts(b, "]}");
	return rc;
}

/* info: name, a description with the session, time span and clients. */
static void pm_info(struct pm_ctx *c, const struct ses_meta *m)
{
	struct rc_buf *b = &c->o->b;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	char clients[RC_EXPORT_CLIENTS_MAX][RC_ADDR_TEXT_MAX];
	size_t nc = 0;
	bool more = false;
	for (size_t k = 0; k < c->res->n; k++) {
		const struct seg_qrow *r = pm_row(c, k);
		t0 = r->e.start_ns < t0 ? r->e.start_ns : t0;
		t1 = r->e.start_ns > t1 ? r->e.start_ns : t1;
		char a[RC_ADDR_TEXT_MAX];
		rc_addr_text(&r->e.client, a, sizeof(a));
		size_t i = 0;
		while (i < nc && strcmp(clients[i], a) != 0)
			i++;
		if (i == nc && a[0] && nc < RC_EXPORT_CLIENTS_MAX)
			memcpy(clients[nc++], a, sizeof(a));
		else if (i == nc && a[0])
			more = true;
	}
	uint64_t h = hash64(0xcbf29ce484222325ull, m->id, strlen(m->id));
	uint64_t h2 = hash64(h, m->name, strlen(m->name));
	rc_buf_printf(b, "{\"info\":{\"_postman_id\":\"%08x-%04x-4%03x-8%03x-%012llx\",\"name\":",
		      (unsigned)(h >> 32), (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xfff,
		      (unsigned)(h2 >> 52) & 0xfff,
		      (unsigned long long)(h2 & 0xffffffffffffull));
	const char *name = c->opt->name ? c->opt->name : m->name;
	rc_buf_jstr(b, name, strlen(name));
	char d[1024 + RC_EXPORT_CLIENTS_MAX * RC_ADDR_TEXT_MAX], a[40] = "", z[40] = "";
	if (c->res->n) {
		rc_iso_time(t0, a, sizeof(a));
		rc_iso_time(t1, z, sizeof(z));
	}
	int n = snprintf(d, sizeof(d), "Captured by ringcap in session %s (%s): %zu requests "
			 "from %s to %s; clients:", m->name, m->id, c->res->n, a, z);
	for (size_t i = 0; i < nc && n > 0 && (size_t)n < sizeof(d); i++)
		n += snprintf(d + n, sizeof(d) - (size_t)n, "%s %s", i ? "," : "", clients[i]);
	if (more && n > 0 && (size_t)n < sizeof(d))
		n += snprintf(d + n, sizeof(d) - (size_t)n, " and others");
	rc_buf_puts(b, ",\"description\":");
	rc_buf_jstr(b, d, n > 0 && (size_t)n < sizeof(d) ? (size_t)n : strlen(d));
	rc_buf_puts(b, ",\"schema\":\"" PM_SCHEMA "\"},\"item\":[");
}

static void pm_variables(struct pm_ctx *c)
{
	struct rc_buf *b = &c->o->b;
	if (!c->opt->base_url_variables)
		return;
	rc_buf_puts(b, ",\"variable\":[");
	for (size_t i = 0; i < c->origins.n; i++) {
		const struct seg_qrow *r = pm_row(c, c->origin_row[i]);
		struct rc_url u;
		rc_url_split(r->url, r->e.url_len, &u);
		rc_buf_printf(b, "%s{\"key\":\"host_%zu\",\"value\":", i ? "," : "", i + 1);
		rc_buf_jstr(b, u.origin, u.origin_len);
		rc_buf_puts(b, ",\"type\":\"string\"}");
	}
	rc_buf_puts(b, "]");
}

int rc_postman_write(const char *session_dir, const struct ses_meta *m,
		     const struct seg_table *t, const struct seg_result *res,
		     struct rc_caches *cache, const struct rc_export_opts *opt,
		     struct rc_xout *o, struct rc_export_stats *st)
{
	struct pm_ctx c = { .dir = session_dir, .t = t, .res = res, .opt = opt, .o = o, .st = st,
			    .cache = cache };
	int rc = pm_order(&c);
	c.frags = malloc((res->n ? res->n : 1) * sizeof(*c.frags));
	c.spill = tmpfile();
	if (rc == 0 && (c.frags == NULL || c.spill == NULL))
		rc = c.frags ? -errno : -ENOMEM;
	/* one row's rendering: a maximal body, JSON-escaped, twice (request and
	 * originalRequest) and a response body */
	c.scratch.max = (size_t)1 << 31;
	if (rc == 0)
		rc = pm_render(&c);
	if (rc == 0) {
		pm_info(&c, m);
		rc = pm_items(&c);
	}
	if (rc == 0) {
		rc_buf_puts(&o->b, "]");
		pm_variables(&c);
		rc_buf_puts(&o->b, "}\n");
		rc = rc_xout_flush(o, true);
	}
	if (c.spill)
		fclose(c.spill);
	free(c.frags);
	rc_buf_free(&c.scratch);
	free(c.recs);
	free(c.origin_row);
	map_free(&c.origins);
	return rc;
}
