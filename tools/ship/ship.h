/*
 * tools/ship/ship.h - `ringcap ship`: sessions of a data directory into a
 * ClickHouse table, as a process of its own beside `ringcap run` (it reads
 * the segment files like the offline commands and never touches the data
 * plane).
 *
 * Delivery: at least once, made exactly once by the table. A cursor per
 * session and target (<session>/ship-<key>.cursor, written atomically
 * after each batch ClickHouse accepted) says how far each worker's index
 * has been shipped; a batch sent again after a crash carries the same
 * (box, session, id) keys, which the ReplacingMergeTree folds into one row
 * (SELECT ... FINAL). Nothing is skipped: the cursor only moves past rows
 * ClickHouse has acknowledged.
 */
#ifndef RINGCAP_SHIP_H
#define RINGCAP_SHIP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/views/ship_row.h"

struct rc_ship_cfg {
	const char *data;                /* data directory */
	const char *url;                 /* http[s]://HOST:PORT of ClickHouse */
	const char *ca_file;             /* https: extra trust anchors; may be NULL */
	bool insecure;                   /* https: no verification */
	const char *db, *table, *box;
	enum rc_ship_format format;      /* how rows travel (ship_row.h) */
	const char *const *sessions;     /* ids or names; none = every session */
	size_t nsessions;
	bool bodies, follow, json, progress;
	size_t body_max;                 /* per direction, with bodies */
	size_t batch_rows, batch_bytes;  /* a batch is sent at either bound */
	uint64_t poll_ms;                /* --follow: look for new exchanges this often */
	uint64_t retry_max_ms;           /* back-off ceiling while ClickHouse is away */
	int timeout_ms;                  /* connect and read/write silence */
};

/* Ships until done (or, with follow, until *stop). Returns the exit code:
 * 0 everything chosen was shipped, 1 a failure (printed on stderr), 3
 * stopped by a signal before done (what was acknowledged stays shipped). */
int rc_ship_run(const struct rc_ship_cfg *cfg, volatile sig_atomic_t *stop);

#endif
