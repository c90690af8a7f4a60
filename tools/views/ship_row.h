/*
 * tools/views/ship_row.h - one exchange as a ClickHouse row, and the table
 * those rows go into. Pure: exchange in, bytes out; the shipper
 * (tools/ship/) sends them. Three input formats of ClickHouse 18.16 carry
 * the same row: JSONEachRow (readable, the first one), TabSeparated and
 * RowBinary (ClickHouse parses it fastest: bench/README.md). Values are
 * the same in all three; only a URL or header that is not valid UTF-8
 * differs: JSON writes its bad bytes as Latin-1 characters, the other two
 * keep the bytes.
 *
 * The key is (box, session, id), id the store's own (unique in a session
 * even across a restart); `number` is the id people see in ls and show
 * (0 for exchanges stored before numbers existed: their id is the one
 * shown). The table is a ReplacingMergeTree ordered
 * by it, so a batch sent twice after a crash leaves one row per exchange in
 * SELECT ... FINAL. Heads are two parallel arrays of names and values per
 * direction, in wire order. Bodies (only with --bodies) are cut at
 * body_max; a body that is not valid UTF-8 is sent as base64 and flagged.
 * `flags` is the store's SEG_F_* word: a CONNECT row's tunnel kind is in
 * its bits 11..13 (persist/seg.h, enum seg_tunnel), so existing tables need
 * no new column: bitAnd(bitShiftRight(flags, 11), 7) = 1 intercepted,
 * 2 passthrough, 3 not TLS, 4 refused by the client, 5 blind; 0 with bit 1
 * (SEG_F_TUNNEL) set is an older session's CONNECT.
 */
#ifndef RINGCAP_VIEWS_SHIP_ROW_H
#define RINGCAP_VIEWS_SHIP_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "tools/lib/json.h"

enum rc_ship_format {
	RC_SHIP_JSON,          /* JSONEachRow: one object a line */
	RC_SHIP_TSV,           /* TabSeparated: escaped text, arrays as ['a','b'] */
	RC_SHIP_ROWBINARY,     /* RowBinary: little-endian values, varint lengths */
};

struct rc_ship_row_cfg {
	const char *box;       /* names the appliance: rows of two boxes never collide */
	enum rc_ship_format format;
	bool bodies;           /* ship bodies */
	size_t body_max;       /* bytes per direction when bodies is set */
	uint64_t version;      /* the ReplacingMergeTree version column (ship time, ns) */
};

/* Appends one row in c->format for exchange x listed by index entry e of
 * session m (a text row ends in '\n'). x may be NULL when its frames are
 * damaged: the row then carries the index fields only and error_msg says
 * so. No allocation beyond growing b. */
void rc_ship_row(struct rc_buf *b, const struct rc_ship_row_cfg *c, const struct ses_meta *m,
		 const struct seg_entry *e, const struct seg_exchange *x);

/* CREATE DATABASE / CREATE TABLE statements for database db, table t
 * (identifiers: [A-Za-z_][A-Za-z0-9_]*, checked by rc_ship_ident_ok). */
void rc_ship_schema(struct rc_buf *b, const char *db, const char *t, bool with_db);

/* "json", "tsv", "rowbinary" -> *out: 0, or -EINVAL. */
int rc_ship_format_parse(const char *s, enum rc_ship_format *out);
/* ClickHouse's name of the format: "JSONEachRow", "TabSeparated", "RowBinary". */
const char *rc_ship_format_name(enum rc_ship_format f);
/* The column list in row order, "box,session,...,version" (an INSERT names
 * its columns: RowBinary and TabSeparated rows are positional). */
void rc_ship_columns(struct rc_buf *b);
/* Checks an existing table's columns, given as ClickHouse's TabSeparated
 * answer to SELECT name, type FROM system.columns (one "name\ttype" a
 * line), against the rows we write: every column of ours must be there
 * with our type (a positional format would misread a column of another
 * type instead of refusing it). 0, or -EINVAL with err naming the column. */
int rc_ship_columns_check(const char *listing, size_t len, char *err, size_t errlen);

/* true when s is a plain ClickHouse identifier (no quoting needed). */
bool rc_ship_ident_ok(const char *s);

#endif
