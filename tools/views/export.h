/*
 * tools/views/export.h - a session's exchanges out as a Postman Collection
 * v2.1.0, a HAR 1.2 log or curl command lines, and a HAR file back in as a
 * stopped session (import.h).
 *
 * Selection is ls's: a struct seg_query (sort, reverse, search, the filter
 * flags' match callback) plus an id list ("3,7,10-20"), with ls's rows in
 * ls's order. Sorted by time (the default), size or duration, the rows
 * stream from persist's scan (persist/scan.h: 16 B of keys a row, spilled
 * to a temporary file beyond RC_EXPORT_SORT_MEM); sorted by status,
 * method, type, host or URL they come from the whole index table as ls
 * loads it (about 128 B a row plus the URL strings). Each exchange is then
 * opened from its frames one at a time and written through a caller-given
 * sink, so the output never exists whole in memory: the CLI writes to a
 * FILE*, the control API to its response stream.
 *
 * Memory otherwise: one exchange's heads and bodies at a time; the output
 * buffer (RC_EXPORT_FLUSH bytes); the per-worker open caches; for a
 * collection, its rendered rows in a temporary file and an external sort
 * of 72 B a row (RC_EXPORT_SORT_MEM in memory, the rest spilled), plus the
 * names of its folders and origins. bench/export.sh: under 25 MiB peak for
 * 1M exchanges.
 */
#ifndef RINGCAP_EXPORT_H
#define RINGCAP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/query.h"
#include "persist/ses.h"
#include "tools/lib/json.h"
#include "tools/views/ids.h"

/* Output is handed to the sink in pieces of about this many bytes: large
 * enough that a write(2) per piece costs nothing, small against RSS. */
#define RC_EXPORT_FLUSH (64u << 10)
/* Body bytes read per exchange and direction (the store's --max-body
 * maximum, persist/seg-limits.h: a stored body is never longer). */
#define RC_EXPORT_BODY_MAX (1u << 30)
/* Distinct statuses a collapsed item's test accepts; more are summed up
 * as "the first RC_EXPORT_STATUSES_MAX seen". */
#define RC_EXPORT_STATUSES_MAX 16u
/* Distinct clients named in a collection's description. */
#define RC_EXPORT_CLIENTS_MAX 16u

/* Where output goes. write returns 0 or -errno (stops the export). */
struct rc_sink {
	int (*write)(void *ctx, const void *p, size_t n);
	void *ctx;
};

/* A sink for a stdio stream (ctx is the FILE*). */
int rc_sink_file_write(void *ctx, const void *p, size_t n);
/* A sink for a file descriptor (ctx is a pointer to the int): every byte
 * written (EINTR and short writes retried). The control API streams an
 * export through a pipe this way. */
int rc_sink_fd_write(void *ctx, const void *p, size_t n);

enum rc_export_format { RC_FMT_POSTMAN = 0, RC_FMT_HAR, RC_FMT_CURL };

/* Postman's two checkboxes. */
#define RC_GROUP_DOMAIN (1u << 0)   /* a folder per host[:port] */
#define RC_GROUP_ENDPOINT (1u << 1) /* a folder per templated path */

struct rc_export_opts {
	uint8_t format;          /* enum rc_export_format */
	unsigned group;          /* RC_GROUP_* (collection only) */
	const char *name;        /* collection name; NULL = the session's name */
	bool base_url_variables; /* each origin becomes {{host_N}} */
	bool with_tests;         /* a test script asserting the recorded status */
	/* Called about every 1,000 exchanges and at the end (may be NULL). */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
};

/* What one export run reports. */
struct rc_export_stats {
	size_t exchanges;   /* written */
	size_t items;       /* collection items (collapsed) */
	size_t folders;     /* collection folders */
	size_t unreadable;  /* listed but their frames are damaged: skipped */
	uint64_t bytes;     /* handed to the sink */
};

/* Parses "domain", "endpoint", "domain,endpoint" (either order), "none"
 * into RC_GROUP_* bits; -EINVAL when unknown. */
int rc_group_parse(const char *s, unsigned *out);
/* "postman", "har", "curl" into enum rc_export_format; -EINVAL else. */
int rc_format_parse(const char *s);

/* One parameter of the API's export route, as `ringcap export` takes it:
 * format, ids, group, name, base_url_variables and with_tests (val NULL,
 * "", "1" or "true" for on), and ls's sort, reverse, search, limit,
 * offset into q. The filter (its JSON form) is the caller's. 0, -ENOENT
 * for an unknown key, -EINVAL (or -E2BIG, -ENOMEM for ids) with err
 * naming the bad value. val is kept by pointer (name, search). */
int rc_export_param(struct rc_export_opts *o, struct rc_ids *ids, struct seg_query *q,
		    const char *key, const char *val, char *err, size_t errlen);

/* Writes the selection of the session in session_dir (q may be NULL: all,
 * by time; ids may be NULL: no id list) in o->format to sink. m gives the
 * session's name and times. Returns 0 or -errno (a failed sink write,
 * -ENOMEM, a session that cannot be read); st (optional) gets counts. */
int rc_export_session(const char *session_dir, const struct ses_meta *m,
		      const struct seg_query *q, const struct rc_ids *ids,
		      const struct rc_export_opts *o, const struct rc_sink *sink,
		      struct rc_export_stats *st);

/* The templated path of a URL's path part (no query): segments that are
 * ids (all digits, a UUID, 16 or more hex digits with a digit among them)
 * become ":id". Writes at most cap - 1 bytes; returns the length. */
size_t rc_path_template(const char *path, size_t n, char *out, size_t cap);

/* A file name for the export from the session name: the name's letters,
 * digits, '-', '_' and '.', others as '_', plus ".postman_collection.json",
 * ".har" or ".sh". */
void rc_export_filename(const char *session_name, uint8_t format, char *out, size_t cap);

#endif
