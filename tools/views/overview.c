/*
 * tools/views/overview.c - session overview (tools/overview.h): one pass over
 * the index table accumulates count and bytes per group key (a slot per
 * method, type class, status code or host rank, so no hashing), then the
 * groups are sorted by count; the series comes from seg_timeseries.
 * Printing it for a terminal is tools/cli/overview.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "persist/ses.h"
#include "tools/views/filter.h"
#include "tools/lib/fmt.h"
#include "tools/views/overview.h"

/* Status codes get a slot each up to 999, as persist's seg_group_count
 * keys them; methods and types fit below that too. */
#define OV_SMALL_SLOTS 1000u

_Static_assert(SEG_M_COUNT < OV_SMALL_SLOTS && SEG_T_COUNT < OV_SMALL_SLOTS, "slots");

struct acc {
	uint64_t count, req, resp;
	uint32_t row; /* a row of the group: names a domain group */
};

static const struct seg_query all_rows; /* no search, no hook, live rows only */

static const char *const by_names[SEG_G_COUNT] = { "method", "domain", "type", "status" };

int rc_overview_by(const char *s)
{
	for (int i = 0; i < SEG_G_COUNT; i++)
		if (strcmp(s, by_names[i]) == 0)
			return i;
	return strcmp(s, "host") == 0 ? SEG_G_DOMAIN : -EINVAL;
}

static size_t slot_of(const struct seg_qrow *r, uint8_t by)
{
	const struct seg_entry *e = &r->e;
	switch (by) {
	case SEG_G_METHOD: return e->method < SEG_M_COUNT ? e->method : SEG_M_OTHER;
	case SEG_G_TYPE: return e->type < SEG_T_COUNT ? e->type : SEG_T_OTHER;
	case SEG_G_STATUS: return e->status < OV_SMALL_SLOTS ? e->status : OV_SMALL_SLOTS - 1;
	default: return r->host_rank;
	}
}

static void key_text(const struct seg_table *t, const struct acc *a, size_t slot, uint8_t by,
		     char *key, size_t cap)
{
	const struct seg_qrow *r = &t->rows[a->row];
	if (by == SEG_G_METHOD)
		snprintf(key, cap, "%s", seg_method_name((uint8_t)slot));
	else if (by == SEG_G_TYPE)
		snprintf(key, cap, "%s", seg_type_name((uint8_t)slot));
	else if (by == SEG_G_STATUS)
		snprintf(key, cap, "%zu", slot);
	else
		snprintf(key, cap, "%.*s", (int)r->e.host_len, r->host);
}

static int grp_cmp(const void *a, const void *b)
{
	const struct rc_overview_group *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Sorted groups from the accumulators; past the cap, one "(other)". */
static int collect(const struct seg_table *t, const struct acc *a, size_t slots,
		   struct rc_overview *o)
{
	size_t ng = 0;
	for (size_t k = 0; k < slots; k++)
		ng += a[k].count > 0;
	o->g = calloc(ng ? ng : 1, sizeof(*o->g));
	if (o->g == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < slots; k++) {
		if (a[k].count == 0)
			continue;
		struct rc_overview_group *g = &o->g[o->n++];
		key_text(t, &a[k], k, o->by, g->key, sizeof(g->key));
		g->count = a[k].count;
		g->request_bytes = a[k].req;
		g->response_bytes = a[k].resp;
	}
	qsort(o->g, o->n, sizeof(*o->g), grp_cmp);
	if (o->n > RC_OVERVIEW_GROUPS_MAX) {
		struct rc_overview_group *rest = &o->g[RC_OVERVIEW_GROUPS_MAX - 1];
		for (size_t k = RC_OVERVIEW_GROUPS_MAX; k < o->n; k++) {
			rest->count += o->g[k].count;
			rest->request_bytes += o->g[k].request_bytes;
			rest->response_bytes += o->g[k].response_bytes;
		}
		snprintf(rest->key, sizeof(rest->key), "(other)");
		o->n = RC_OVERVIEW_GROUPS_MAX;
	}
	return 0;
}

static int group(const struct seg_table *t, const struct seg_query *q, struct rc_overview *o)
{
	size_t slots = o->by == SEG_G_DOMAIN ? (t->hosts ? t->hosts : 1) : OV_SMALL_SLOTS;
	struct acc *a = calloc(slots, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct seg_qrow *r = &t->rows[i];
		if (!seg_query_match(q, r))
			continue;
		size_t k = slot_of(r, o->by);
		if (k >= slots) { /* a host rank past t->hosts: the table is inconsistent */
			free(a);
			return -EIO;
		}
		if (a[k].count++ == 0)
			a[k].row = (uint32_t)i;
		a[k].req += r->e.req_size;
		a[k].resp += r->e.resp_size;
		o->total++;
		o->request_bytes += r->e.req_size;
		o->response_bytes += r->e.resp_size;
	}
	int rc = collect(t, a, slots, o);
	free(a);
	return rc;
}

int rc_overview_compute(const struct seg_table *t, const struct seg_query *q, uint8_t by,
			uint64_t interval_ns, struct rc_overview *out)
{
	memset(out, 0, sizeof(*out));
	if (by >= SEG_G_COUNT)
		return -EINVAL;
	out->by = by;
	q = q ? q : &all_rows;
	int rc = group(t, q, out);
	size_t cap = interval_ns ? RC_OVERVIEW_POINTS_MAX : RC_OVERVIEW_POINTS_AUTO;
	out->points = rc == 0 ? calloc(cap, sizeof(*out->points)) : NULL;
	if (rc == 0 && out->points == NULL)
		rc = -ENOMEM;
	out->interval_ns = interval_ns;
	if (rc == 0)
		rc = seg_timeseries(t, q, &out->interval_ns, out->points, cap, &out->npoints,
				    &out->t0_ns);
	if (out->interval_ns == 0) /* empty session: no interval was picked */
		out->interval_ns = 1000000000u;
	if (rc < 0)
		rc_overview_free(out);
	return rc;
}

void rc_overview_free(struct rc_overview *o)
{
	free(o->g);
	free(o->points);
	memset(o, 0, sizeof(*o));
}

void rc_overview_write_json(const struct rc_overview *o, FILE *f)
{
	fprintf(f, "{\"by\":\"%s\",\"total\":%llu,\"request_bytes\":%llu,\"response_bytes\":%llu,"
		"\"groups\":[", by_names[o->by], (unsigned long long)o->total,
		(unsigned long long)o->request_bytes, (unsigned long long)o->response_bytes);
	for (size_t i = 0; i < o->n; i++) {
		const struct rc_overview_group *g = &o->g[i];
		fputs(i ? ",{\"key\":" : "{\"key\":", f);
		rc_json_str(f, g->key, strlen(g->key));
		fprintf(f, ",\"count\":%llu,\"request_bytes\":%llu,\"response_bytes\":%llu}",
			(unsigned long long)g->count, (unsigned long long)g->request_bytes,
			(unsigned long long)g->response_bytes);
	}
	fprintf(f, "],\"series\":{\"interval_ms\":%llu,\"points\":[",
		(unsigned long long)(o->interval_ns / 1000000u));
	for (size_t i = 0; i < o->npoints; i++)
		fprintf(f, "%s[%llu,%llu]", i ? "," : "",
			(unsigned long long)((o->t0_ns + i * o->interval_ns) / 1000000u),
			(unsigned long long)o->points[i]);
	fputs("]}}\n", f);
}

int rc_overview_json(const char *session_dir, const char *by, uint64_t interval_ms,
		     const struct seg_query *q, FILE *out)
{
	int b = rc_overview_by(by);
	if (b < 0 || interval_ms > UINT64_MAX / 1000000u)
		return -EINVAL;
	struct seg_table t;
	int rc = seg_table_load(session_dir, &t, NULL);
	if (rc < 0)
		return rc;
	struct rc_overview o;
	rc = rc_overview_compute(&t, q, (uint8_t)b, interval_ms * 1000000u, &o);
	if (rc == 0)
		rc_overview_write_json(&o, out);
	rc_overview_free(&o);
	seg_table_free(&t);
	return rc;
}
