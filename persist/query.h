/* persist/query.h: offline query over a session's index: load every index
 * entry of all workers (plus host/URL text and tombstones) into one table,
 * then filter, sort and page it, count groups for the overview and build a
 * requests-per-interval series. Reads no frame: bodies stay on disk.
 */
#ifndef SEG_QUERY_H
#define SEG_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg.h"

/* One exchange as listed. host/url point into the table (not
 * NUL-terminated; e.host_len / e.url_len bytes); empty when their text
 * was damaged (counted in the load report as strings_bad). */
struct seg_qrow {
	struct seg_entry e; /* e.flags has SEG_F_DELETED when tombstoned */
	const char *host, *url;
	const char *client_name; /* not NUL-terminated, client_name_len bytes */
	uint8_t client_name_len;
	uint32_t number;    /* session number (SEG_F_STR_EXT), 0 for older entries */
	uint32_t host_rank; /* position of host among the table's distinct hosts, sorted */
};

struct seg_table {
	struct seg_qrow *rows; /* mapped; seg_table_free() releases it */
	size_t n, rows_cap;
	size_t deleted;   /* rows with SEG_F_DELETED */
	uint64_t t_min, t_max; /* start_ns range of the rows */
	size_t hosts;     /* distinct hosts */
	char **strs;      /* mapped string files (owned) */
	uint64_t *str_lens;
	size_t nstrs;
	char **own;       /* string files rebuilt from frames (damaged .str; owned) */
	uint64_t *own_lens;
	uint16_t *own_worker;
	uint32_t *own_segno;
	size_t nown;
};

enum seg_sort {
	SEG_SORT_TIME = 0, SEG_SORT_STATUS, SEG_SORT_METHOD, SEG_SORT_URL, SEG_SORT_HOST,
	SEG_SORT_TYPE, SEG_SORT_SIZE, SEG_SORT_DURATION, SEG_SORT_COUNT
};

struct seg_query {
	const char *search;  /* case-insensitive: URL or host contains, method or status equals */
	uint8_t sort;        /* enum seg_sort; SIZE = response size */
	bool reverse;
	size_t offset, limit; /* limit 0 = all */
	bool include_deleted;
	/* Extra predicate (e.g. a compiled filter spec from the caller). */
	bool (*match)(void *ctx, const struct seg_qrow *r);
	void *match_ctx;
};

struct seg_result {
	uint32_t *idx; /* row indices of the page, in order (malloc'd) */
	size_t n;      /* rows in the page */
	size_t total;  /* rows matching before paging */
};

enum seg_group { SEG_G_METHOD = 0, SEG_G_DOMAIN, SEG_G_TYPE, SEG_G_STATUS, SEG_G_COUNT };

struct seg_group_row {
	char key[SEG_HOST_MAX + 1];
	uint64_t count;
};

/* Loads the table of a session directory. An index missing, damaged or
 * behind its segment and host/URL text that fails its checksum are read
 * from the segment's frames instead (rep counts indexes_healed,
 * entries_recovered, strings_recovered): every exchange whose END frame is
 * intact is listed. rep (optional) gets damage counts. Returns 0 or -errno (-E2BIG above SEG_TABLE_ROWS_MAX rows). */
int seg_table_load(const char *session_dir, struct seg_table *t, struct seg_report *rep);
void seg_table_free(struct seg_table *t);
/* Parses "time", "status", … into enum seg_sort; -EINVAL when unknown. */
int seg_sort_parse(const char *s);
/* true when row r passes q's search, deleted and match parts. */
bool seg_query_match(const struct seg_query *q, const struct seg_qrow *r);
/* Filters, sorts and pages; q NULL = everything by time. Numeric sorts
 * are a stable radix sort: status/method/type ties in start-time order,
 * host (by name) then start time; others in load order; url ties by id.
 * Free res with seg_result_free. In the query functions q may be NULL. */
int seg_query_run(const struct seg_table *t, const struct seg_query *q, struct seg_result *res);
void seg_result_free(struct seg_result *res);
/* Counts matching rows per group key, largest first, at most cap groups
 * (*n set); the rest, if any, is summed into one last row "(other)". */
int seg_group_count(const struct seg_table *t, const struct seg_query *q, enum seg_group by,
		    struct seg_group_row *out, size_t cap, size_t *n);
/* Requests per interval from *t0 (rounded down): counts[i] holds rows with
 * start in [t0 + i*interval, t0 + (i+1)*interval). *interval_ns 0 picks
 * the smallest of 1 s, 10 s, 1 min, 10 min, 1 h, 1 day giving <= cap
 * buckets (and is set). Returns 0, or -ERANGE when the span needs more. */
int seg_timeseries(const struct seg_table *t, const struct seg_query *q,
		   uint64_t *interval_ns, uint64_t *counts, size_t cap, size_t *n, uint64_t *t0);

#endif
