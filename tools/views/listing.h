/*
 * tools/views/listing.h - the JSON shapes of sessions and exchanges, written once
 * and shared by the offline commands (`ringcap ls/show/sessions --json`)
 * and the control API (/api/sessions...), so both always agree.
 */
#ifndef RINGCAP_LISTING_H
#define RINGCAP_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/lib/fmt.h"

#include "persist/query.h"
#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/lib/json.h"

#define RC_CLIENTS_MAX 64u   /* distinct client addresses listed per session */
#define RC_ADDR_TEXT_MAX 48u /* an IPv6 address as text, NUL included */
#define RC_CLIENT_TEXT_MAX (SEG_CLIENT_NAME_MAX + 1u) /* a client's name or address */
_Static_assert(RC_CLIENT_TEXT_MAX >= RC_ADDR_TEXT_MAX, "an address fits a client entry");

/* Distinct clients of a session, in order of first appearance in the
 * index: a client's name (--identify-by auth) when it has one, else its
 * address (at most RC_CLIENTS_MAX; *more set when there were others). */
struct rc_clients {
	char addr[RC_CLIENTS_MAX][RC_CLIENT_TEXT_MAX];
	size_t n;
	bool more;
};

void rc_addr_text(const struct seg_addr *a, char *buf, size_t len);
/* An address with its port: "127.0.0.1:8080", "[::1]:443"; the address
 * alone when the port is 0 (a server imported from a HAR), "" when the
 * family is 0 (unknown). len >= RC_ENDPOINT_TEXT_MAX never cuts. */
#define RC_ENDPOINT_TEXT_MAX (RC_ADDR_TEXT_MAX + 8u) /* brackets, ':', 5 digits */
void rc_endpoint_text(const struct seg_addr *a, char *buf, size_t len);

/* The id people see and type: the exchange's session number (1, 2, 3 in
 * start order), or for exchanges stored before numbers existed the
 * store's own id (worker << 40 | sequence), which stays internal
 * otherwise. */
uint64_t rc_row_id(const struct seg_qrow *r);
/* The same id of an opened exchange. */
uint64_t rc_exchange_id(const struct seg_exchange *x);
/* The row a typed id names: a session number, else an unnumbered row's
 * store id (a continued session numbers past those, so no id names two
 * rows). NULL when none; deleted rows are returned (check e.flags). */
const struct seg_qrow *rc_row_find(const struct seg_table *t, uint64_t id);
/* The same without loading the table: the index entry of the exchange
 * people call id (seg_find_number, else an unnumbered row's store id),
 * tombstones not applied. 0 or -ENOENT (-errno). */
int rc_exchange_find(const char *session_dir, uint64_t id, struct seg_entry *out);

/* One `ls --json` row: id, time, method, url, host, client_name, status,
 * type, request_size, response_size, duration_ms, client, error,
 * truncated. */
void rc_row_json(struct rc_buf *b, const struct seg_qrow *r);
/* The rows of a query result as a JSON array. */
void rc_rows_json(struct rc_buf *b, const struct seg_table *t, const struct seg_result *res);
/* One whole exchange (`show --json`): the row's fields, both heads, body
 * sizes, timings; not the bodies (those are served raw). */
void rc_exchange_json(struct rc_buf *b, const struct seg_exchange *x);
/* One session: id, name, state, start, stop, duration_s, exchanges, bytes,
 * settings; clients when c is not NULL. */
void rc_session_json(struct rc_buf *b, const struct ses_meta *m, const struct ses_stats *st,
		     const struct rc_clients *c);
/* One listing parameter, shared by `ringcap ls` options and the API query
 * string: sort (time|status|method|url|host|type|size|duration), reverse
 * (val NULL, "", "1", "true", "0", "false"), search, limit, offset.
 * 0, -ENOENT for an unknown key, -EINVAL with err naming the bad value. */
int rc_query_param(struct seg_query *q, const char *key, const char *val, char *err,
		   size_t errlen);
/* Loads a session's index, runs q and writes the page as a JSON array
 * (the `ls --json` output). *total gets the matches before paging, *damaged
 * the damage the load met (damaged index entries, indexes missing, damaged
 * or short and strings damaged, whose exchanges were read from the
 * segments instead): 0 for a sound session. 0 or -errno. */
int rc_list_session(const char *session_dir, const struct seg_query *q, struct rc_buf *b,
		    size_t *total, uint64_t *damaged);
/* Adds r's client (its name, else its address) to c unless it is there. */
void rc_clients_add(struct rc_clients *c, const struct seg_qrow *r);
/* Reads the session's index for its clients (deleted exchanges left out).
 * 0 or -errno. */
int rc_session_clients(const char *session_dir, struct rc_clients *out);
/* Seconds from start to stop, or to now while the session runs. */
double rc_session_duration_s(const struct ses_meta *m);

#endif
