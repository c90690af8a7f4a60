/*
 * tools/views/overview.h - the overview of a capture session: exchanges counted
 * (with request and response bytes) per method, domain, content type or
 * status, largest first, and requests per interval for a traffic graph.
 * Reads only the index (persist/query.h), never a frame; used by
 * `ringcap overview` and the control API.
 */
#ifndef RINGCAP_OVERVIEW_H
#define RINGCAP_OVERVIEW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "persist/query.h"

/* Groups listed; the rest is summed into one last "(other)" group. */
#define RC_OVERVIEW_GROUPS_MAX SEG_GROUP_MAX
/* Points of the series: an automatic interval (1 s, 10 s, 1 min, 10 min,
 * 1 h, 1 day) is the smallest that gives at most RC_OVERVIEW_POINTS_AUTO
 * points (a graph a screen wide); a chosen interval may give up to
 * RC_OVERVIEW_POINTS_MAX (a day by the second). */
#define RC_OVERVIEW_POINTS_AUTO 240u
#define RC_OVERVIEW_POINTS_MAX 86400u

struct rc_overview_group {
	char key[SEG_HOST_MAX + 1]; /* "GET", "example.com", "json", "200"; "" = no host */
	uint64_t count, request_bytes, response_bytes;
};

struct rc_overview {
	uint8_t by;                    /* enum seg_group */
	struct rc_overview_group *g;   /* count descending, then key */
	size_t n;
	uint64_t total, request_bytes, response_bytes;
	uint64_t interval_ns, t0_ns;   /* series: points[i] counts [t0 + i*iv, t0 + (i+1)*iv) */
	uint64_t *points;
	size_t npoints;
};

/* "method", "domain" (or "host"), "type", "status" into enum seg_group;
 * -EINVAL when unknown. */
int rc_overview_by(const char *s);

/* Computes the overview of the rows of t matching q (NULL: every live
 * row). interval_ns 0 picks one. Returns 0, -ERANGE when interval_ns
 * needs more than RC_OVERVIEW_POINTS_MAX points, -ENOMEM. Free with
 * rc_overview_free. */
int rc_overview_compute(const struct seg_table *t, const struct seg_query *q, uint8_t by,
			uint64_t interval_ns, struct rc_overview *out);
void rc_overview_free(struct rc_overview *o);

/* {"by":"method","total":N,"request_bytes":N,"response_bytes":N,
 *  "groups":[{"key","count","request_bytes","response_bytes"}],
 *  "series":{"interval_ms":N,"points":[[t_ms,count],...]}} and a newline. */
void rc_overview_write_json(const struct rc_overview *o, FILE *out);

/* For the control API: loads session_dir's index, computes the overview
 * by `by` of the rows matching q (NULL: all; its search, include_deleted
 * and match hook apply, sort and paging do not) and writes its JSON to
 * out (an open_memstream gives a growing buffer). interval_ms 0 picks
 * the interval. Returns 0, -EINVAL (unknown by), -ERANGE (interval too
 * small for the session's span), or -errno from reading the session. */
int rc_overview_json(const char *session_dir, const char *by, uint64_t interval_ms,
		     const struct seg_query *q, FILE *out);

/* `ringcap overview SESSION [--by method|domain|type|status] [--json]
 * [--interval SECONDS] [--search TEXT] [--data DIR]`. Returns the exit
 * code. */

#endif
