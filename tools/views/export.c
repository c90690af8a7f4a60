/*
 * tools/views/export.c - the export driver (see export.h): selects rows as
 * ls does, opens each exchange from its frames in turn and hands it to the
 * format's writer; the group and format names, the path
 * template of endpoint folders, the export file name, and the curl
 * format (one command per exchange, like `ringcap show --curl`).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tools/lib/rc-limits.h"
#include "tools/views/export-int.h"
#include "tools/views/listing.h"
#include "tools/views/messages.h"

int rc_sink_fd_write(void *ctx, const void *p, size_t n)
{
	int fd = *(const int *)ctx;
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- names ---- */

int rc_group_parse(const char *s, unsigned *out)
{
	static const struct { const char *s; unsigned g; } t[] = {
		{ "none", 0 }, { "domain", RC_GROUP_DOMAIN }, { "endpoint", RC_GROUP_ENDPOINT },
		{ "domain,endpoint", RC_GROUP_DOMAIN | RC_GROUP_ENDPOINT },
		{ "endpoint,domain", RC_GROUP_DOMAIN | RC_GROUP_ENDPOINT },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(s, t[i].s) == 0) {
			*out = t[i].g;
			return 0;
		}
	}
	return -EINVAL;
}

int rc_format_parse(const char *s)
{
	if (strcmp(s, "postman") == 0)
		return RC_FMT_POSTMAN;
	if (strcmp(s, "har") == 0)
		return RC_FMT_HAR;
	if (strcmp(s, "curl") == 0)
		return RC_FMT_CURL;
	return -EINVAL;
}

void rc_export_filename(const char *session_name, uint8_t format, char *out, size_t cap)
{
	static const char *const ext[] = { ".postman_collection.json", ".har", ".sh" };
	size_t k = 0;
	for (const char *p = session_name; *p && k + 1 < cap && k < SES_NAME_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		out[k++] = (char)(isalnum(c) || c == '-' || c == '_' || c == '.' ? c : '_');
	}
	if (k == 0 && cap > 8)
		k = (size_t)snprintf(out, cap, "session");
	snprintf(out + k, cap - k, "%s", ext[format <= RC_FMT_CURL ? format : 0]);
}

/* An id-like path segment: digits, a UUID, or 16+ hex digits with a digit. */
static bool segment_is_id(const char *s, size_t n)
{
	size_t digits = 0, hex = 0, dashes = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		digits += isdigit(c) != 0;
		hex += isxdigit(c) != 0;
		dashes += c == '-';
	}
	if (n > 0 && digits == n)
		return true;
	if (n == 36 && dashes == 4 && hex == 32 && s[8] == '-' && s[13] == '-' && s[18] == '-' &&
	    s[23] == '-')
		return true;
	return n >= 16 && hex == n && digits > 0;
}

size_t rc_path_template(const char *path, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	if (cap == 0)
		return 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && path[j] != '/')
			j++;
		const char *seg = path + i;
		size_t sl = j - i;
		if (segment_is_id(seg, sl)) {
			seg = ":id";
			sl = 3;
		}
		for (size_t m = 0; m < sl && k + 1 < cap; m++)
			out[k++] = seg[m];
		if (j < n && k + 1 < cap)
			out[k++] = '/';
		i = j + 1;
	}
	if (k == 0 && cap > 1)
		out[k++] = '/';
	out[k] = '\0';
	return k;
}

/* ---- API parameters ---- */

static int flag_val(const char *key, const char *v, bool *out, char *err, size_t errlen)
{
	if (v == NULL || !strcmp(v, "") || !strcmp(v, "1") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false"))
		*out = false;
	else
		return snprintf(err, errlen, "%s '%.64s': true or false", key, v), -EINVAL;
	return 0;
}

int rc_export_param(struct rc_export_opts *o, struct rc_ids *ids, struct seg_query *q,
		    const char *key, const char *val, char *err, size_t errlen)
{
	if (strcmp(key, "format") == 0) {
		int f = rc_format_parse(val ? val : "");
		if (f < 0)
			return snprintf(err, errlen, "format '%.64s': postman, har or curl",
					val ? val : ""), -EINVAL;
		o->format = (uint8_t)f;
		return 0;
	}
	if (strcmp(key, "group") == 0) {
		if (rc_group_parse(val ? val : "", &o->group) < 0)
			return snprintf(err, errlen, "group '%.64s': domain, endpoint, "
					"domain,endpoint or none", val ? val : ""), -EINVAL;
		return 0;
	}
	if (strcmp(key, "ids") == 0) {
		rc_ids_free(ids);
		return rc_ids_parse(val ? val : "", ids, err, errlen);
	}
	if (strcmp(key, "name") == 0) {
		o->name = val && *val ? val : NULL;
		return 0;
	}
	if (strcmp(key, "base_url_variables") == 0)
		return flag_val(key, val, &o->base_url_variables, err, errlen);
	if (strcmp(key, "with_tests") == 0)
		return flag_val(key, val, &o->with_tests, err, errlen);
	return rc_query_param(q, key, val, err, errlen);
}

/* ---- curl ---- */

static void sh_quote(struct rc_buf *b, const char *s, size_t n)
{
	RC_PUTS(b, "'");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			RC_PUTS(b, "'\\''");
		else
			rc_buf_add(b, s + i, 1);
	}
	RC_PUTS(b, "'");
}

void rc_curl_entry(struct rc_xout *o, const struct seg_exchange *x)
{
	struct rc_buf *b = &o->b;
	rc_buf_printf(b, "# %llu\ncurl -sS -X ", (unsigned long long)rc_exchange_id(x));
	sh_quote(b, x->method_text, strlen(x->method_text));
	RC_PUTS(b, " ");
	sh_quote(b, x->url, strlen(x->url));
	struct rc_hdr h;
	size_t pos = 0;
	while (x->req_head && rc_hdr_next(x->req_head, x->req_head_len, &pos, &h)) {
		if (rc_hdr_skip(&h))
			continue;
		char line[SEG_HEAD_MAX];
		int l = snprintf(line, sizeof(line), "%.*s: %.*s", (int)h.name_len, h.name,
				 (int)h.value_len, h.value);
		RC_PUTS(b, " -H ");
		sh_quote(b, line, (size_t)l < sizeof(line) ? (size_t)l : sizeof(line) - 1);
	}
	size_t n = x->body_len[SEG_DIR_REQ];
	if (n > 0 && memchr(x->body[SEG_DIR_REQ], 0, n) == NULL) {
		RC_PUTS(b, " --data-binary ");
		sh_quote(b, (const char *)x->body[SEG_DIR_REQ], n);
	} else if (n > 0) { /* a NUL cannot travel in an argument: through printf */
		RC_PUTS(b, " --data-binary @<(printf '");
		for (size_t i = 0; i < n; i++)
			rc_buf_printf(b, "\\%03o", x->body[SEG_DIR_REQ][i]);
		RC_PUTS(b, "')");
	}
	if (x->flags & SEG_F_REQ_TRUNC)
		RC_PUTS(b, "  # the stored request body is truncated");
	RC_PUTS(b, "\n");
}

/* ---- driver ---- */

void rc_caches_free(struct rc_caches *cs)
{
	for (size_t i = 0; i < RC_EXPORT_CACHES; i++) {
		seg_open_cache_free(cs->w[i]);
		cs->w[i] = NULL;
	}
}

int rc_export_open(const char *session_dir, const struct seg_qrow *r, struct rc_caches *cs,
		   struct seg_exchange *x)
{
	struct seg_open_cache **c = &cs->w[r->e.worker % RC_EXPORT_CACHES];
	if (*c == NULL && seg_open_cache_new(c) < 0)
		return -ENOMEM;
	struct seg_open_opts oo = { .body_max = { RC_EXPORT_BODY_MAX, RC_EXPORT_BODY_MAX },
				    .cache = *c, .msgs_max = RC_MSGS_MAX };   /* HAR's */
	return seg_open_entry(session_dir, &r->e, &oo, x);
}

struct ids_match {
	const struct rc_ids *ids;
	bool (*next)(void *ctx, const struct seg_qrow *r);
	void *next_ctx;
};

static bool ids_then_filter(void *ctx, const struct seg_qrow *r)
{
	const struct ids_match *m = ctx;
	if (!rc_ids_has(m->ids, rc_row_id(r)))
		return false;
	return m->next == NULL || m->next(m->next_ctx, r);
}

int rc_sel_open(struct rc_sel *s, const char *session_dir, const struct seg_query *q)
{
	memset(s, 0, sizeof(*s));
	if (seg_scan_supports(q)) {
		struct seg_scan_cfg cfg = { .q = q, .keys_mem_max = RC_EXPORT_SORT_MEM };
		return seg_scan_open(session_dir, &cfg, &s->scan, NULL);
	}
	int rc = seg_table_load(session_dir, &s->t, NULL);
	if (rc == 0)
		rc = seg_query_run(&s->t, q, &s->res);
	if (rc < 0)
		rc_sel_close(s);
	return rc;
}

size_t rc_sel_count(const struct rc_sel *s)
{
	return s->scan ? seg_scan_count(s->scan) : s->res.n;
}

int rc_sel_next(struct rc_sel *s, const struct seg_qrow **r)
{
	if (s->scan) {
		int rc = seg_scan_next(s->scan, &s->row);
		*r = &s->row;
		s->k += rc == 1;
		return rc;
	}
	if (s->k >= s->res.n)
		return 0;
	*r = &s->t.rows[s->res.idx[s->k++]];
	return 1;
}

void rc_sel_close(struct rc_sel *s)
{
	seg_scan_close(s->scan);
	s->scan = NULL;
	seg_result_free(&s->res);
	seg_table_free(&s->t);
}

/* HAR and curl: the selection in its order, one exchange at a time. */
static int write_flat(const char *dir, const struct ses_meta *m, struct rc_sel *sel,
		      struct rc_caches *cache, const struct rc_export_opts *o,
		      struct rc_xout *out, struct rc_export_stats *st)
{
	int rc = o->format == RC_FMT_HAR ? rc_har_begin(out, m) : 0;
	if (o->format == RC_FMT_CURL)
		RC_PUTS(&out->b, "#!/bin/sh\n# ringcap export (curl)\n");
	size_t total = rc_sel_count(sel);
	const struct seg_qrow *r;
	for (size_t k = 0; rc == 0 && (rc = rc_sel_next(sel, &r)) == 1; k++) {
		struct seg_exchange x;
		rc = 0;
		int orc = rc_export_open(dir, r, cache, &x);
		if (orc == -EBADMSG || orc == -ENOENT) {
			st->unreadable++;
			continue;
		}
		if (orc < 0)
			return orc;
		if (o->format == RC_FMT_HAR)
			rc_har_entry(out, &x, st->exchanges == 0);
		else
			rc_curl_entry(out, &x);
		seg_exchange_free(&x);
		st->exchanges++;
		rc = rc_xout_flush(out, false);
		if (o->progress && (k % 1000) == 999)
			o->progress(o->progress_ctx, k + 1, total);
	}
	if (rc < 0)
		return rc;
	if (o->format == RC_FMT_HAR)
		rc = rc_har_end(out);
	return rc == 0 ? rc_xout_flush(out, true) : rc;
}

int rc_export_session(const char *session_dir, const struct ses_meta *m,
		      const struct seg_query *q, const struct rc_ids *ids,
		      const struct rc_export_opts *o, const struct rc_sink *sink,
		      struct rc_export_stats *st_out)
{
	struct rc_export_stats st = {0};
	struct seg_query qq = q ? *q : (struct seg_query){0};
	struct ids_match im = { ids, qq.match, qq.match_ctx };
	if (ids) {
		qq.match = ids_then_filter;
		qq.match_ctx = &im;
	}
	struct rc_sel sel;
	struct rc_xout out;
	rc_xout_init(&out, sink);
	struct rc_caches cache = {0};
	int rc = rc_sel_open(&sel, session_dir, &qq);
	size_t total = rc == 0 ? rc_sel_count(&sel) : 0;
	if (rc == 0 && o->format == RC_FMT_POSTMAN)
		rc = rc_postman_write(session_dir, m, &sel, &cache, o, &out, &st);
	else if (rc == 0)
		rc = write_flat(session_dir, m, &sel, &cache, o, &out, &st);
	rc_caches_free(&cache);
	if (rc == 0 && o->progress)
		o->progress(o->progress_ctx, total, total);
	st.bytes = out.bytes;
	rc_xout_free(&out);
	rc_sel_close(&sel);
	if (st_out)
		*st_out = st;
	return rc;
}
