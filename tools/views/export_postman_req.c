/*
 * tools/views/export_postman_req.c - the request parts of a Postman item
 * (tools/views/export_postman.c has the collection, its passes and order):
 * the URL object with its query pairs, headers, the body in Postman's modes
 * (raw with a language, urlencoded pairs, formdata, binary as a file), and
 * a saved response (an example). Pure: exchange in, JSON text out into the
 * caller's buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/lib/rc-limits.h"
#include "tools/views/postman-int.h"

/* ---- request parts ---- */

/* url.query: the pairs as they stand in the URL (Postman keeps them so). */
static void pm_query(struct rc_buf *b, const struct rc_url *u)
{
	RC_PUTS(b, ",\"query\":[");
	const char *p = u->query, *end = u->query + u->query_len;
	for (bool first = true; p <= end; first = false) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		rc_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
		rc_buf_jstr(b, p, (size_t)((eq ? eq : e) - p));
		RC_PUTS(b, ",\"value\":");
		if (eq)
			rc_buf_jstr(b, eq + 1, (size_t)(e - eq - 1));
		else
			RC_PUTS(b, "null");
		RC_PUTS(b, "}");
		p = e + 1;
	}
	RC_PUTS(b, "]");
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
		uint32_t on = pm_map_get(&c->origins, pm_hash64(0xcbf29ce484222325ull, u.origin,
							  u.origin_len), &fresh);
		RC_PUTS(b, "\"url\":{\"raw\":\"{{host_");
		rc_buf_i64(b, (int64_t)on + 1);
		RC_PUTS(b, "}}");
		struct rc_buf tmp = {0};
		rc_buf_jstr(&tmp, rest, rl);
		if (tmp.len >= 2)
			rc_buf_add(b, tmp.p + 1, tmp.len - 2);
		b->oom |= tmp.oom;
		rc_buf_free(&tmp);
		RC_PUTS(b, "\",\"host\":[\"{{host_");
		rc_buf_i64(b, (int64_t)on + 1);
		RC_PUTS(b, "}}\"]");
	} else {
		RC_PUTS(b, "\"url\":{\"raw\":");
		rc_buf_jstr(b, x->url, ul);
		RC_PUTS(b, ",\"protocol\":");
		rc_buf_jstr(b, u.scheme ? u.scheme : "http", u.scheme ? u.scheme_len : 4);
		RC_PUTS(b, ",\"host\":[");
		for (size_t i = 0, s = 0; i <= u.host_len; i++) {
			if (i < u.host_len && u.host[i] != '.')
				continue;
			rc_buf_puts(b, s ? "," : "");
			rc_buf_jstr(b, u.host + s, i - s);
			s = i + 1;
		}
		RC_PUTS(b, "]");
		if (u.port_len) {
			RC_PUTS(b, ",\"port\":");
			rc_buf_jstr(b, u.port, u.port_len);
		}
	}
	RC_PUTS(b, ",\"path\":[");
	for (size_t i = 1, s = 1, first = 1; u.path_len > 0 && i <= u.path_len; i++) {
		if (i < u.path_len && u.path[i] != '/')
			continue;
		rc_buf_puts(b, first ? "" : ",");
		rc_buf_jstr(b, u.path + s, i - s);
		s = i + 1;
		first = 0;
	}
	RC_PUTS(b, "]");
	if (u.query)
		pm_query(b, &u);
	RC_PUTS(b, "}");
}

static void pm_urlencoded(struct rc_buf *b, const uint8_t *body, size_t n)
{
	const char *p = (const char *)body, *end = p + n;
	RC_PUTS(b, "\"mode\":\"urlencoded\",\"urlencoded\":[");
	for (bool first = true; p < end; first = false) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		rc_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
		rc_buf_jstr_urldec(b, p, (size_t)((eq ? eq : e) - p));
		RC_PUTS(b, ",\"value\":");
		rc_buf_jstr_urldec(b, eq ? eq + 1 : e, eq ? (size_t)(e - eq - 1) : 0);
		RC_PUTS(b, ",\"type\":\"text\"}");
		p = e + 1;
	}
	RC_PUTS(b, "]");
}

static void pm_formdata(struct rc_buf *b, const struct rc_hdr *ct, const uint8_t *body, size_t n)
{
	size_t pos = 0;
	struct rc_part pt;
	RC_PUTS(b, "\"mode\":\"formdata\",\"formdata\":[");
	for (bool first = true; rc_multipart_next(ct->value, ct->value_len, body, n, &pos, &pt) == 1;
	     first = false) {
		rc_buf_puts(b, first ? "{\"key\":" : ",{\"key\":");
		rc_buf_jstr(b, pt.name ? pt.name : "", pt.name_len);
		if (pt.filename) {
			RC_PUTS(b, ",\"type\":\"file\",\"src\":");
			rc_buf_jstr(b, pt.filename, pt.filename_len);
		} else {
			RC_PUTS(b, ",\"type\":\"text\",\"value\":");
			rc_buf_jstr(b, (const char *)pt.data, pt.data_len);
		}
		if (pt.ctype) {
			RC_PUTS(b, ",\"contentType\":");
			rc_buf_jstr(b, pt.ctype, pt.ctype_len);
		}
		RC_PUTS(b, "}");
	}
	RC_PUTS(b, "]");
}

static void pm_body(struct rc_buf *b, const struct seg_exchange *x, const struct rc_hdr *ct,
		    enum rc_body_kind k)
{
	const uint8_t *body = x->body[SEG_DIR_REQ];
	size_t n = x->body_len[SEG_DIR_REQ];
	if (k == RC_BODY_NONE)
		return;
	RC_PUTS(b, ",\"body\":{");
	if (k == RC_BODY_URLENC) {
		pm_urlencoded(b, body, n);
	} else if (k == RC_BODY_MULTIPART) {
		pm_formdata(b, ct, body, n);
	} else if (k == RC_BODY_TEXT) {
		RC_PUTS(b, "\"mode\":\"raw\",\"raw\":");
		rc_buf_jstr(b, (const char *)body, n);
		RC_PUTS(b, ",\"options\":{\"raw\":{\"language\":\"");
		rc_buf_puts(b, rc_raw_language(ct->value, ct->value_len));
		RC_PUTS(b, "\"}}");
	} else {
		RC_PUTS(b, "\"mode\":\"file\",\"file\":{}");
	}
	RC_PUTS(b, "}");
}

/* The request object of x (an item's request, its examples' originalRequest). */
void pm_request(struct pm_ctx *c, struct rc_buf *b, const struct seg_exchange *x)
{
	RC_PUTS(b, "{\"method\":");
	rc_buf_jstr(b, x->method_text, strlen(x->method_text));
	RC_PUTS(b, ",");
	rc_headers_json(b, "header", "key", x->req_head, x->req_head_len, true);
	size_t n = x->body_len[SEG_DIR_REQ];
	struct rc_hdr ct = { .value = "", .value_len = 0 };
	rc_hdr_get(x->req_head, x->req_head_len, "content-type", &ct);
	enum rc_body_kind k = rc_body_kind(ct.value, ct.value_len, x->body[SEG_DIR_REQ], n);
	pm_body(b, x, &ct, k);
	if (k == RC_BODY_BINARY)
		rc_buf_printf(b, ",\"description\":\"binary request body of %zu bytes, not "
			      "included: ringcap show SESSION %llu --body request\"", n,
			      (unsigned long long)rc_exchange_id(x));
	RC_PUTS(b, ",");
	pm_url(c, b, x);
	RC_PUTS(b, "}");
}

/* A saved response as an example, in two parts around its originalRequest
 * (*head set to the first part's length); nothing when none was saved. */
void pm_example(struct rc_buf *b, const struct seg_exchange *x, size_t *head)
{
	if ((x->flags & SEG_F_NO_RESP) || x->status == 0)
		return;
	size_t at = b->len;
	struct rc_hdr ct = { .value = "", .value_len = 0 };
	rc_hdr_get(x->resp_head, x->resp_head_len, "content-type", &ct);
	const char *reason = x->reason ? x->reason : "";
	size_t rl = strlen(reason);
	char name[SEG_REASON_MAX + 16];
	int nl = snprintf(name, 8, "%u ", x->status); /* "%u %s", the reason copied */
	size_t cl = rl < sizeof(name) - 1 - (size_t)nl ? rl : sizeof(name) - 1 - (size_t)nl;
	memcpy(name + nl, reason, cl);
	RC_PUTS(b, "{\"name\":");
	rc_buf_jstr(b, name, (size_t)nl + cl);
	*head = b->len - at;
	RC_PUTS(b, ",\"status\":");
	rc_buf_jstr(b, reason, rl);
	RC_PUTS(b, ",\"code\":");
	rc_buf_i64(b, x->status);
	RC_PUTS(b, ",\"_postman_previewlanguage\":\"");
	rc_buf_puts(b, rc_raw_language(ct.value, ct.value_len));
	RC_PUTS(b, "\",");
	rc_headers_json(b, "header", "key", x->resp_head, x->resp_head_len, false);
	RC_PUTS(b, ",\"cookie\":[],\"body\":");
	const uint8_t *body = x->body[SEG_DIR_RESP];
	size_t n = x->body_len[SEG_DIR_RESP];
	uint8_t *dec;
	rc_resp_decoded(x, &body, &n, &dec);   /* gzip answers shown as their text */
	if (n > 0 && rc_utf8_valid(body, n))
		rc_buf_jstr(b, (const char *)body, n);
	else
		RC_PUTS(b, "\"\"");
	free(dec);
	RC_PUTS(b, "}");
}
