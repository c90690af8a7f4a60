/*
 * tools/views/trailers.h - the trailer sections of an exchange (persist/
 * seg.h: seg_exchange.trailers, "Name: value\r\n" lines) for `show`, its
 * JSON (and the API's) and HAR export. Pure: the exchange in, bytes out.
 *
 * JSON (show --json, the API), only when the exchange has any:
 *   "trailers":{"request":[{"name":..,"value":..},...],"response":[...]},
 *   "trailers_cut":bool   (a section was stored short: SEG_TRAILERS_MAX)
 * HAR has no trailer field: export puts "_trailers":[{"name","value"}]
 * in the request and response objects that have some.
 */
#ifndef RINGCAP_VIEWS_TRAILERS_H
#define RINGCAP_VIEWS_TRAILERS_H

#include <stdbool.h>
#include <stddef.h>

#include "persist/seg.h"
#include "tools/lib/json.h"

/* [{"NAME_KEY":name,"value":value},...] of a trailer block. */
void rc_trailer_fields_json(struct rc_buf *b, const char *name_key, const uint8_t *p,
			    size_t n);
/* ,"trailers":{...},"trailers_cut":.. when x has trailers; else nothing. */
void rc_trailers_json(struct rc_buf *b, const struct seg_exchange *x);
/* True when direction d of x (enum seg_dir) has a stored trailer block. */
bool rc_has_trailers(const struct seg_exchange *x, unsigned d);

#endif
