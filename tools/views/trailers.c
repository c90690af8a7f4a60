/*
 * tools/views/trailers.c - trailer sections as JSON (trailers.h).
 */
#include <string.h>

#include "tools/views/trailers.h"

bool rc_has_trailers(const struct seg_exchange *x, unsigned d)
{
	return d <= SEG_DIR_RESP && x->trailers[d] != NULL;
}

/* The next "name: value" line of p[0..n) from *pos: spans into p, the
 * value without its surrounding blanks. Lines without a colon (a cut
 * block's last piece) are skipped. */
static bool next_field(const uint8_t *p, size_t n, size_t *pos, const char **name,
		       size_t *nl, const char **value, size_t *vl)
{
	const char *s = (const char *)p, *end = s + n;
	for (const char *q = s + *pos; q < end;) {
		const char *lf = memchr(q, '\n', (size_t)(end - q));
		const char *le = lf ? lf : end;
		const char *e = le > q && le[-1] == '\r' ? le - 1 : le;
		*pos = (size_t)((lf ? lf + 1 : end) - s);
		const char *colon = memchr(q, ':', (size_t)(e - q));
		if (colon == NULL || colon == q) {
			q = lf ? lf + 1 : end;
			continue;
		}
		const char *v = colon + 1;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		const char *ve = e;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		*name = q;
		*nl = (size_t)(colon - q);
		*value = v;
		*vl = (size_t)(ve - v);
		return true;
	}
	return false;
}

void rc_trailer_fields_json(struct rc_buf *b, const char *name_key, const uint8_t *p,
			    size_t n)
{
	const char *name, *value;
	size_t nl, vl, pos = 0;
	bool first = true;
	rc_buf_puts(b, "[");
	while (p && next_field(p, n, &pos, &name, &nl, &value, &vl)) {
		rc_buf_puts(b, first ? "{\"" : ",{\"");
		rc_buf_puts(b, name_key);
		rc_buf_puts(b, "\":");
		rc_buf_jstr(b, name, nl);
		rc_buf_puts(b, ",\"value\":");
		rc_buf_jstr(b, value, vl);
		rc_buf_puts(b, "}");
		first = false;
	}
	rc_buf_puts(b, "]");
}

void rc_trailers_json(struct rc_buf *b, const struct seg_exchange *x)
{
	if (!rc_has_trailers(x, SEG_DIR_REQ) && !rc_has_trailers(x, SEG_DIR_RESP))
		return;
	bool cut = false;
	rc_buf_puts(b, ",\"trailers\":{\"request\":");
	rc_trailer_fields_json(b, "name", x->trailers[SEG_DIR_REQ], x->trailers_len[SEG_DIR_REQ]);
	rc_buf_puts(b, ",\"response\":");
	rc_trailer_fields_json(b, "name", x->trailers[SEG_DIR_RESP],
			       x->trailers_len[SEG_DIR_RESP]);
	for (unsigned d = 0; d < 2; d++)
		cut |= x->trailers[d] && x->trailers_wire_len[d] > x->trailers_len[d];
	rc_buf_printf(b, "},\"trailers_cut\":%s", cut ? "true" : "false");
}
