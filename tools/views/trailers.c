/*
 * tools/views/trailers.c - trailer sections as JSON (trailers.h).
 */
#include <string.h>

#include "tools/views/trailers.h"
#include "tools/views/export-int.h"

bool rc_has_trailers(const struct seg_exchange *x, unsigned d)
{
	return d <= SEG_DIR_RESP && x->trailers[d] != NULL;
}

void rc_trailer_fields_json(struct rc_buf *b, const char *name_key, const uint8_t *p,
			    size_t n)
{
	rc_fields_json(b, name_key, p, n, false, false);
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
