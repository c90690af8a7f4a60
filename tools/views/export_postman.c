/*
 * tools/views/export_postman.c - a Postman Collection v2.1.0
 * (https://schema.getpostman.com/json/collection/v2.1.0/collection.json)
 * from a selection of exchanges, as Postman's "Save requests" makes it.
 *
 * Render pass, in selection order (the order exchanges lie in the
 * segment files, so the per-worker open caches decompress each frame
 * once): every row gets its domain (host[:port]) and endpoint (templated
 * path, within its domain when both groupings are on) numbered in order
 * of first appearance (maps of the few distinct folders), and its item
 * (method + full URL) hashed; its item name, request and saved response
 * are rendered into an unlinked temporary file (the spill), and a 72 B
 * record (folder numbers, item hash, body hash, status, the fragment's
 * place) goes to an external sort (export_sort.c: bounded memory, runs
 * spilled beyond RC_EXPORT_SORT_MEM).
 *
 * Order: a stable sort by item hash puts each item's rows together in
 * selection order, so the first is where the item first appears; within
 * an item, identical requests (same method, URL and request body hash)
 * are grouped by their body's first position, in memory for up to
 * PM_RUN_HOLD rows of one item, through one more external sort by body
 * hash beyond. A last sort by (folder rank, the item's first position,
 * the body's first position, position) gives folder order, items in the
 * order the user saw them, examples in selection order. No per-row table
 * stays in memory.
 *
 * Write pass, streamed: the sorted records copy their fragments out (one
 * pread each). A change of the first key is a new method + URL (and maybe
 * new folders), a change of the body's first position a new item: each
 * distinct body is an item of its own, its saved responses its examples.
 * The request of an item is its first exchange's; its test
 * (--with-tests) accepts every status its exchanges recorded.
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

#include "tools/lib/rc-limits.h"
#include "tools/views/postman-int.h"
#include "tools/views/listing.h"

uint64_t pm_hash64(uint64_t h, const void *p, size_t n)
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
uint32_t pm_map_get(struct pm_map *m, uint64_t h, bool *fresh)
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

/* Number of name p[0..n) in map m (hash h), its text kept in names when
 * new. -ENOMEM, or 0 with *out set. */
static int pm_number(struct pm_ctx *c, struct pm_map *m, struct pm_names *nm, uint64_t h,
		     const char *p, size_t n, uint32_t dom, uint32_t *out)
{
	bool fresh;
	*out = pm_map_get(m, h, &fresh);
	if (fresh) {
		if (nm->n == nm->cap) {
			size_t cap = nm->cap ? 2 * nm->cap : 64;
			struct pm_name *v = realloc(nm->v, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			nm->v = v;
			nm->cap = cap;
		}
		nm->v[nm->n++] = (struct pm_name){ (uint32_t)c->names.len, (uint32_t)n, dom };
		rc_buf_add(&c->names, p, n);
		if (c->names.oom || c->names.len > UINT32_MAX)
			return -ENOMEM;
	}
	return map_grow(m);
}

/* Folder numbers and item hash of row r (index text: no frame read). */
static int pm_classify(struct pm_ctx *c, const struct seg_qrow *r, struct pm_rec *x)
{
	struct rc_url u;
	rc_url_split(r->url, r->e.url_len, &u);
	const char *auth = u.host;
	size_t al = (size_t)(u.path - u.host);
	unsigned g = c->opt->group;
	uint64_t hd = pm_hash64(0xcbf29ce484222325ull, auth, al);
	int rc = 0;
	x->dom = x->ep = 0;
	if (g & RC_GROUP_DOMAIN)
		rc = pm_number(c, &c->doms, &c->dom_names, hd, auth, al, 0, &x->dom);
	if (rc == 0 && (g & RC_GROUP_ENDPOINT)) {
		char tpl[SEG_URL_MAX + 1];
		size_t tl = rc_path_template(u.path, u.path_len, tpl, sizeof(tpl));
		uint64_t he = pm_hash64((g & RC_GROUP_DOMAIN) ? hd : 7, tpl, tl);
		rc = pm_number(c, &c->eps, &c->ep_names, he, tpl, tl, x->dom, &x->ep);
	}
	uint32_t on;
	if (rc == 0)
		rc = pm_number(c, &c->origins, &c->origin_names,
			       pm_hash64(0xcbf29ce484222325ull, u.origin, u.origin_len), u.origin,
			       u.origin_len, 0, &on);
	x->key = pm_hash64(pm_hash64(0xcbf29ce484222325ull, &r->e.method, 1), r->url, r->e.url_len);
	return rc;
}

/* Time span and clients for the description. */
static void pm_note(struct pm_ctx *c, const struct seg_qrow *r)
{
	c->t0 = r->e.start_ns < c->t0 ? r->e.start_ns : c->t0;
	c->t1 = r->e.start_ns > c->t1 ? r->e.start_ns : c->t1;
	char a[RC_ADDR_TEXT_MAX];
	rc_addr_text(&r->e.client, a, sizeof(a));
	size_t i = 0;
	while (i < c->nclients && strcmp(c->clients[i], a) != 0)
		i++;
	if (i == c->nclients && a[0] && c->nclients < RC_EXPORT_CLIENTS_MAX)
		memcpy(c->clients[c->nclients++], a, sizeof(a));
	else if (i == c->nclients && a[0])
		c->more_clients = true;
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
		RC_PUTS(b, "\"pm.test(\\\"status is ");
		rc_buf_i64(b, s->v[0]);
		RC_PUTS(b, "\\\", function () {\",\"    pm.response.to.have.status(");
		rc_buf_i64(b, s->v[0]);
		RC_PUTS(b, ");\",");
	} else {
		rc_buf_puts(b, "\"pm.test(\\\"status is one of those recorded\\\", function () {\","
			    "\"    pm.expect(pm.response.code).to.be.oneOf([");
		for (size_t i = 0; i < s->n; i++) {
			if (i)
				RC_PUTS(b, ", ");
			rc_buf_i64(b, s->v[i]);
		}
		RC_PUTS(b, "]);\",");
	}
	RC_PUTS(b, "\"});\"]}}]");
}

/* Renders row r (position k) into the spill: its item name, request and
 * example; fills x's fragment fields. */
static int pm_render_row(struct pm_ctx *c, const struct seg_qrow *r, struct pm_rec *x)
{
	struct rc_buf *b = &c->scratch;
	struct seg_exchange ex;
	int rc = rc_export_open(c->dir, r, c->cache, &ex);
	x->status = r->e.status;
	if (rc == -EBADMSG || rc == -ENOENT) {
		x->unreadable = 1;
		c->st->unreadable++;
		return 0;
	}
	if (rc < 0)
		return rc;
	b->len = 0;
	rc_buf_jstr(b, r->url, r->e.url_len);
	x->name_len = (uint32_t)b->len;
	pm_request(c, b, &ex);
	x->req_len = (uint32_t)(b->len - x->name_len);
	size_t head = 0;
	pm_example(b, &ex, &head);
	x->exh_len = (uint32_t)head;
	x->ext_len = (uint32_t)(b->len - x->name_len - x->req_len - head);
	/* the method text too: the index calls every unusual method "other" */
	x->hash = pm_hash64(pm_hash64(0xcbf29ce484222325ull, ex.method_text, strlen(ex.method_text)),
			 ex.body[SEG_DIR_REQ], ex.body_len[SEG_DIR_REQ]);
	x->off = c->spill_len;
	seg_exchange_free(&ex);
	if (b->oom)
		return -ENOMEM;
	if (b->len > UINT32_MAX / 2 || fwrite(b->p, 1, b->len, c->spill) != b->len)
		return -EIO;
	c->spill_len += b->len;
	return 0;
}

/* Render pass: every selected row in selection order (see the top). */
static int pm_render(struct pm_ctx *c)
{
	size_t total = rc_sel_count(c->sel);
	const struct seg_qrow *r;
	int rc;
	while ((rc = rc_sel_next(c->sel, &r)) == 1) {
		struct pm_rec x = { .k = (uint32_t)c->n };
		rc = c->n < UINT32_MAX ? pm_classify(c, r, &x) : -E2BIG;
		if (rc == 0)
			rc = pm_render_row(c, r, &x);
		if (rc == 0)
			rc = rc_xsort_add(c->by_item, &x);
		if (rc < 0)
			return rc;
		pm_note(c, r);
		c->n++;
		if (c->opt->progress && (c->n % 1000) == 0)
			c->opt->progress(c->opt->progress_ctx, c->n, total);
	}
	if (rc < 0)
		return rc;
	return fflush(c->spill) == 0 ? 0 : -EIO;
}

static const struct pm_names *pm_folders(const struct pm_ctx *c)
{
	return (c->opt->group & RC_GROUP_ENDPOINT) ? &c->ep_names : &c->dom_names;
}

static int folder_cmp(const void *a, const void *b, void *ctx)
{
	const struct pm_names *f = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (f->v[x].dom != f->v[y].dom)
		return f->v[x].dom < f->v[y].dom ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Folder ranks: endpoints within their domain when both groupings are
 * on, else the folders' own first-appearance order. */
static int pm_ranks(struct pm_ctx *c)
{
	const struct pm_names *f = pm_folders(c);
	size_t n = f->n ? f->n : 1;
	uint32_t *order = malloc(n * sizeof(*order));
	c->rank = malloc(n * sizeof(*c->rank));
	if (order == NULL || c->rank == NULL) {
		free(order);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, f->n, sizeof(*order), folder_cmp, (void *)f);
	for (size_t i = 0; i < f->n; i++)
		c->rank[order[i]] = (uint32_t)i;
	free(order);
	return 0;
}

/* The folder sort's keys of x, given the first position of its body. */
static int pm_to_folder(struct pm_ctx *c, struct pm_rec *x, uint32_t fbody)
{
	unsigned g = c->opt->group;
	uint32_t fo = (g & RC_GROUP_ENDPOINT) ? x->ep : (g & RC_GROUP_DOMAIN) ? x->dom : 0;
	x->key = (uint64_t)(g ? c->rank[fo] : 0) << 32 | x->first;
	x->key2 = (uint64_t)fbody << 32 | x->k;
	return rc_xsort_add(c->by_folder, x);
}

struct pm_hk {
	uint64_t h;
	uint32_t j, first;
};

static int hk_by_hash(const void *a, const void *b)
{
	const struct pm_hk *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->j < y->j ? -1 : x->j > y->j;
}

/* The held rows of one item (selection order): each distinct request
 * body's first position, then on to the folder sort. */
static int pm_flush_held(struct pm_ctx *c)
{
	size_t m = c->nheld;
	struct pm_hk v[PM_RUN_HOLD];
	uint32_t fb[PM_RUN_HOLD];
	bool same = true;
	for (size_t j = 1; j < m && same; j++)
		same = c->held[j].hash == c->held[0].hash;
	if (!same) {
		for (size_t j = 0; j < m; j++)
			v[j] = (struct pm_hk){ .h = c->held[j].hash, .j = (uint32_t)j };
		qsort(v, m, sizeof(*v), hk_by_hash);
		for (size_t j = 0; j < m; j++) {
			v[j].first = j > 0 && v[j].h == v[j - 1].h ? v[j - 1].first : v[j].j;
			fb[v[j].j] = c->held[v[j].first].k;
		}
	}
	int rc = 0;
	for (size_t j = 0; j < m && rc == 0; j++)
		rc = pm_to_folder(c, &c->held[j], same ? c->held[0].k : fb[j]);
	c->nheld = 0;
	return rc;
}

/* A row of an item too frequent to hold: to the body sort. */
static int pm_to_body(struct pm_ctx *c, struct pm_rec *x)
{
	if (c->by_body == NULL) {
		int rc = rc_xsort_new(sizeof(struct pm_rec), RC_EXPORT_SORT_MEM, &c->by_body);
		if (rc < 0)
			return rc;
	}
	struct pm_rec y = *x;
	y.key = pm_hash64(x->key, &x->hash, sizeof(x->hash));
	y.key2 = x->k;
	return rc_xsort_add(c->by_body, &y);
}

/* The body sort's output in runs of one method + URL + body: each gets
 * the position of the first, then on to the folder sort. */
static int pm_bodies(struct pm_ctx *c)
{
	if (c->by_body == NULL)
		return 0;
	int rc = rc_xsort_finish(c->by_body);
	struct pm_rec x;
	uint64_t h = 0;
	uint32_t fbody = 0;
	bool any = false;
	while (rc == 0 && (rc = rc_xsort_next(c->by_body, &x)) == 1) {
		if (!any || x.key != h) {
			h = x.key;
			fbody = x.k;
			any = true;
		}
		rc = pm_to_folder(c, &x, fbody);
	}
	return rc;
}

/* First sort's output in item hash runs (selection order within): each
 * record gets the position of its item's first row, and its body's. */
static int pm_first_seen(struct pm_ctx *c)
{
	struct pm_rec x;
	uint64_t h = 0;
	uint32_t first = 0;
	bool any = false;
	int rc;
	c->held = malloc(PM_RUN_HOLD * sizeof(*c->held));
	if (c->held == NULL)
		return -ENOMEM;
	while ((rc = rc_xsort_next(c->by_item, &x)) == 1) {
		if (!any || x.key != h) {
			rc = pm_flush_held(c);
			if (rc < 0)
				return rc;
			h = x.key;
			first = x.k;
			any = true;
			c->run_spilled = false;
		}
		x.first = first;
		if (!c->run_spilled && c->nheld == PM_RUN_HOLD) {
			for (size_t j = 0; j < c->nheld && rc >= 0; j++)
				rc = pm_to_body(c, &c->held[j]);
			c->nheld = 0;
			c->run_spilled = true;
		}
		if (c->run_spilled)
			rc = pm_to_body(c, &x);
		else
			c->held[c->nheld++] = x;
		if (rc < 0)
			return rc;
	}
	if (rc == 0)
		rc = pm_flush_held(c);
	return rc == 0 ? pm_bodies(c) : rc;
}

/* Reads record x's fragment into c->frag. */
static int pm_fetch(struct pm_ctx *c, const struct pm_rec *x)
{
	size_t len = (size_t)x->name_len + x->req_len + x->exh_len + x->ext_len;
	if (len > c->frag_cap) {
		size_t cap = len > 2 * c->frag_cap ? len : 2 * c->frag_cap;
		char *p = realloc(c->frag, cap);
		if (p == NULL)
			return -ENOMEM;
		c->frag = p;
		c->frag_cap = cap;
	}
	if (len && pread(fileno(c->spill), c->frag, len, (off_t)x->off) != (ssize_t)len)
		return -EIO;
	return 0;
}

/* The item being written: rows of one method + URL + request body. */
struct pm_item_st {
	struct pm_status s;
	bool opened, first_ex;
};

/* Adds row x to the current item (its first readable row opens it with
 * its request; each saved response becomes an example). */
static int pm_item_add(struct pm_ctx *c, struct pm_item_st *it, const struct pm_rec *x,
		       bool *first_item)
{
	struct rc_buf *b = &c->o->b;
	if (x->unreadable)
		return 0;
	int rc = pm_fetch(c, x);
	if (rc < 0)
		return rc;
	const char *f = c->frag, *req = f + x->name_len;
	if (!it->opened) {
		rc_buf_puts(b, *first_item ? "{\"name\":" : ",{\"name\":");
		rc_buf_add(b, f, x->name_len);
		RC_PUTS(b, ",\"request\":");
		rc_buf_add(b, req, x->req_len);
		RC_PUTS(b, ",\"response\":[");
		it->opened = true;
		it->first_ex = true;
		*first_item = false;
		c->st->items++;
	}
	status_add(&it->s, x->status);
	if (x->ext_len) {
		const char *ex = req + x->req_len;
		rc_buf_puts(b, it->first_ex ? "" : ",");
		rc_buf_add(b, ex, x->exh_len);
		RC_PUTS(b, ",\"originalRequest\":");
		rc_buf_add(b, req, x->req_len);
		rc_buf_add(b, ex + x->exh_len, x->ext_len);
		it->first_ex = false;
	}
	c->st->exchanges++;
	return rc_xout_flush(c->o, false);
}

/* Closes the current item (its test, with --with-tests). */
static int pm_item_close(struct pm_ctx *c, struct pm_item_st *it)
{
	struct rc_buf *b = &c->o->b;
	if (!it->opened)
		return 0;
	RC_PUTS(b, "]");
	if (c->opt->with_tests)
		pm_test(b, &it->s);
	RC_PUTS(b, "}");
	memset(it, 0, sizeof(*it));
	return rc_xout_flush(c->o, false);
}

/* Opens a folder named name[0..n) at the current level. */
static void pm_folder_open(struct rc_buf *b, const char *name, size_t n, bool *first)
{
	rc_buf_puts(b, *first ? "{\"name\":" : ",{\"name\":");
	rc_buf_jstr(b, name, n);
	RC_PUTS(b, ",\"item\":[");
	*first = false;
}

/* Opens the folders a record at i enters (prev: the record before). */
static void pm_enter(struct pm_ctx *c, const struct pm_rec *r, const struct pm_rec *prev,
		     bool first[3], bool *in_dom, bool *in_ep)
{
	struct rc_buf *b = &c->o->b;
	unsigned g = c->opt->group;
	bool new_dom = (g & RC_GROUP_DOMAIN) && (prev == NULL || r->dom != prev->dom);
	bool new_ep = (g & RC_GROUP_ENDPOINT) && (prev == NULL || new_dom || r->ep != prev->ep);
	if ((new_ep || new_dom) && *in_ep) {
		RC_PUTS(b, "]}");
		*in_ep = false;
	}
	if (new_dom && *in_dom)
		RC_PUTS(b, "]}");
	if (new_dom) {
		const struct pm_name *n = &c->dom_names.v[r->dom];
		pm_folder_open(b, c->names.p + n->off, n->len, &first[0]);
		*in_dom = true;
		first[1] = true;
		c->st->folders++;
	}
	if (new_ep) {
		const struct pm_name *n = &c->ep_names.v[r->ep];
		pm_folder_open(b, c->names.p + n->off, n->len, &first[*in_dom ? 1 : 0]);
		*in_ep = true;
		first[2] = true;
		c->st->folders++;
	}
}

/* Write pass: the folders and items of the sorted selection, streamed:
 * a new key is a new method + URL (and maybe folders), a new first
 * position of the body within it a new item. */
static int pm_items(struct pm_ctx *c)
{
	struct rc_buf *b = &c->o->b;
	bool first[3] = { true, true, true }; /* items at top, in domain, in endpoint */
	bool in_dom = false, in_ep = false, have_prev = false;
	struct pm_rec x, prev;
	struct pm_item_st it = {0};
	int rc;
	while ((rc = rc_xsort_next(c->by_folder, &x)) == 1) {
		bool new_key = !have_prev || x.key != prev.key;
		if (new_key || x.key2 >> 32 != prev.key2 >> 32) {
			rc = pm_item_close(c, &it);
			if (rc < 0)
				break;
		}
		if (new_key)
			pm_enter(c, &x, have_prev ? &prev : NULL, first, &in_dom, &in_ep);
		rc = pm_item_add(c, &it, &x, &first[in_ep ? 2 : in_dom ? 1 : 0]);
		if (rc < 0)
			break;
		prev = x;
		have_prev = true;
	}
	if (rc == 0)
		rc = pm_item_close(c, &it);
	if (rc < 0)
		return rc;
	if (in_ep)
		RC_PUTS(b, "]}");
	if (in_dom)
		RC_PUTS(b, "]}");
	return 0;
}

/* info: name, a description with the session, time span and clients. */
static void pm_info(struct pm_ctx *c, const struct ses_meta *m)
{
	struct rc_buf *b = &c->o->b;
	uint64_t h = pm_hash64(0xcbf29ce484222325ull, m->id, strlen(m->id));
	uint64_t h2 = pm_hash64(h, m->name, strlen(m->name));
	rc_buf_printf(b, "{\"info\":{\"_postman_id\":\"%08x-%04x-4%03x-8%03x-%012llx\",\"name\":",
		      (unsigned)(h >> 32), (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xfff,
		      (unsigned)(h2 >> 52) & 0xfff,
		      (unsigned long long)(h2 & 0xffffffffffffull));
	const char *name = c->opt->name ? c->opt->name : m->name;
	rc_buf_jstr(b, name, strlen(name));
	char d[1024 + RC_EXPORT_CLIENTS_MAX * RC_ADDR_TEXT_MAX], a[40] = "", z[40] = "";
	if (c->n) {
		rc_iso_time(c->t0, a, sizeof(a));
		rc_iso_time(c->t1, z, sizeof(z));
	}
	int n = snprintf(d, sizeof(d), "Captured by ringcap in session %s (%s): %zu requests "
			 "from %s to %s; clients:", m->name, m->id, c->n, a, z);
	for (size_t i = 0; i < c->nclients && n > 0 && (size_t)n < sizeof(d); i++)
		n += snprintf(d + n, sizeof(d) - (size_t)n, "%s %s", i ? "," : "", c->clients[i]);
	if (c->more_clients && n > 0 && (size_t)n < sizeof(d))
		n += snprintf(d + n, sizeof(d) - (size_t)n, " and others");
	RC_PUTS(b, ",\"description\":");
	rc_buf_jstr(b, d, n > 0 && (size_t)n < sizeof(d) ? (size_t)n : strlen(d));
	rc_buf_puts(b, ",\"schema\":\"" PM_SCHEMA "\"},\"item\":[");
}

static void pm_variables(struct pm_ctx *c)
{
	struct rc_buf *b = &c->o->b;
	if (!c->opt->base_url_variables)
		return;
	RC_PUTS(b, ",\"variable\":[");
	for (size_t i = 0; i < c->origin_names.n; i++) {
		const struct pm_name *o = &c->origin_names.v[i];
		rc_buf_printf(b, "%s{\"key\":\"host_%zu\",\"value\":", i ? "," : "", i + 1);
		rc_buf_jstr(b, c->names.p + o->off, o->len);
		RC_PUTS(b, ",\"type\":\"string\"}");
	}
	RC_PUTS(b, "]");
}

static void pm_free(struct pm_ctx *c)
{
	if (c->spill)
		fclose(c->spill);
	free(c->spill_buf);   /* after fclose: the stream's buffer */
	rc_xsort_free(c->by_item);
	rc_xsort_free(c->by_body);
	rc_xsort_free(c->by_folder);
	free(c->held);
	rc_buf_free(&c->scratch);
	free(c->frag);
	rc_buf_free(&c->names);
	map_free(&c->doms);
	map_free(&c->eps);
	map_free(&c->origins);
	free(c->dom_names.v);
	free(c->ep_names.v);
	free(c->origin_names.v);
	free(c->rank);
}

int rc_postman_write(const char *session_dir, const struct ses_meta *m, struct rc_sel *sel,
		     struct rc_caches *cache, const struct rc_export_opts *opt,
		     struct rc_xout *o, struct rc_export_stats *st)
{
	struct pm_ctx c = { .dir = session_dir, .sel = sel, .opt = opt, .o = o, .st = st,
			    .cache = cache, .t0 = UINT64_MAX };
	int rc = map_init(&c.doms, 64) | map_init(&c.eps, 64) | map_init(&c.origins, 64);
	rc = rc < 0 ? -ENOMEM : 0;
	if (rc == 0)
		rc = rc_xsort_new(sizeof(struct pm_rec), RC_EXPORT_SORT_MEM, &c.by_item);
	c.spill = rc == 0 ? tmpfile() : NULL;
	if (rc == 0 && c.spill == NULL)
		rc = -EIO;
	/* stdio's 4 KiB default made a write(2) per few rows (and glibc
	 * ignores the size without a buffer) */
	c.spill_buf = rc == 0 ? malloc(RC_EXPORT_FLUSH) : NULL;
	if (rc == 0 && (c.spill_buf == NULL ||
			setvbuf(c.spill, c.spill_buf, _IOFBF, RC_EXPORT_FLUSH) != 0))
		rc = -ENOMEM;
	/* one row's rendering: a maximal body, JSON-escaped, twice (request and
	 * originalRequest) and a response body */
	c.scratch.max = (size_t)1 << 31;
	if (rc == 0)
		rc = pm_render(&c);
	rc_sel_close(sel); /* the selection's memory goes before the sorts */
	if (rc == 0)
		rc = rc_xsort_finish(c.by_item);
	if (rc == 0)
		rc = pm_ranks(&c);
	if (rc == 0)
		rc = rc_xsort_new(sizeof(struct pm_rec), RC_EXPORT_SORT_MEM, &c.by_folder);
	if (rc == 0)
		rc = pm_first_seen(&c);
	rc_xsort_free(c.by_item);
	rc_xsort_free(c.by_body);
	c.by_item = c.by_body = NULL;
	if (rc == 0)
		rc = rc_xsort_finish(c.by_folder);
	if (rc == 0) {
		pm_info(&c, m);
		rc = pm_items(&c);
	}
	if (rc == 0) {
		RC_PUTS(&o->b, "]");
		pm_variables(&c);
		RC_PUTS(&o->b, "}\n");
		rc = rc_xout_flush(o, true);
	}
	pm_free(&c);
	return rc;
}
