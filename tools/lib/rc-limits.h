/*
 * tools/lib/rc-limits.h - every default and bound of tools/ in one place,
 * each with its unit and the reason for its value. Bounds that only restate
 * a store limit are defined from persist/'s own, never as a second number.
 * A bound a user may tune is also a `ringcap run` option of the same name.
 */
#ifndef RINGCAP_RC_LIMITS_H
#define RINGCAP_RC_LIMITS_H

#include "persist/scan.h"
#include "persist/seg-limits.h"
#include "persist/ses.h"

/* Defaults every command shares (DESIGN.md, interface contract). */
#define RC_DATA_DIR_DEFAULT "./ringcap-data"   /* --data; RINGCAP_DATA overrides */
#define RC_CONTROL_DEFAULT "127.0.0.1:5560"    /* --control; loopback: no token needed */

/* Capture. */
#define RC_BODY_MAX_DEFAULT SEG_BODY_MAX_DEFAULT /* --max-body: bytes per direction */
#define RC_URL_MAX SEG_URL_MAX                   /* absolute URL rebuilt for https */

/* Offline commands. */
#define RC_SEARCH_BODY_MAX RC_BODY_MAX_DEFAULT /* bytes of each body a search reads
						* (views/select.c): a default
						* capture is searched whole */
#define RC_SESSIONS_MAX SES_LIST_MAX /* sessions listed from one data directory */

/* Control port (tools/control/). The peer is a CLI, a browser or a script
 * on a trusted network: small heads, small JSON bodies, a few people. */
#define RC_HTTP_HEAD_MAX 8192u        /* request line + headers */
#define RC_HTTP_BODY_MAX (256u << 10) /* a JSON body: settings, a filter (SES_FILTER_MAX
				       * bytes as text), or some thousand ids to delete */
#define RC_HTTP_IO_TIMEOUT_MS 5000    /* silence within a request, and idle keep-alive */
#define RC_HTTP_PATH_MAX 1024u
#define RC_HTTP_QUERY_MAX 2048u
#define RC_CTL_CONNS_MAX 32u          /* connections open at once (MHD closes more at
				       * accept); a suspended event stream counts */
#define RC_CTL_THREADS 4u             /* MHD's epoll thread pool: a slow listing of a
				       * big session holds one; SSE streams hold none */
#define RC_CTL_TICK_MS 200            /* housekeeping and event feeds look this often */
#define RC_CTL_REQUESTS_MAX 10000u    /* requests on one keep-alive connection */
#define RC_CTL_STOP_WAIT_MS 10000     /* rc_control_stop waits this long for threads */

/* `ringcap session` (tools/cli/session.c), the control port's client. */
#define RC_CLIENT_ANSWER_MAX (64u << 20) /* a listing of RC_SESSIONS_MAX sessions fits */
#define RC_CLIENT_TIMEOUT_MS 30000       /* a stop waits for writers (2 s); listing is slower */
#define RC_CLIENT_FILTER_JSON_MAX 65536u

/* `ringcap ship` (tools/ship/): batches bounded by rows and bytes, as
 * ClickHouse prefers few large inserts (one part each) to many small ones:
 * 18.16 spent 1.0 s of CPU on 200k RowBinary rows in 10,000-row inserts,
 * 0.53 s in 50,000-row ones (no gain past that; bench/README.md). */
#define RC_SHIP_BATCH_ROWS_DEFAULT 50000u
#define RC_SHIP_BATCH_BYTES_DEFAULT (16u << 20)
#define RC_SHIP_BODY_MAX_DEFAULT (64u << 10)  /* --bodies: bytes per direction */
#define RC_SHIP_POLL_MS_DEFAULT 1000u         /* --follow: new rows within ~1 s */
#define RC_SHIP_RETRY_MAX_MS_DEFAULT 30000u   /* back-off ceiling while ClickHouse is away */
#define RC_SHIP_TIMEOUT_MS_DEFAULT 30000u     /* connect and I/O silence; a big insert
					       * of an old server takes seconds */
#define RC_SHIP_NICE_DEFAULT 10u              /* it runs beside `ringcap run`, which goes first */
#define RC_SHIP_DB_DEFAULT "ringcap"
#define RC_SHIP_TABLE_DEFAULT "exchanges"

/* `ringcap export` (tools/views/export*.c): bytes of sort keys and
 * collection records held in memory by each of the selection's scan and
 * the collection writer's sorts before they spill sorted runs to a
 * temporary file; with the open caches and buffers, a million-exchange
 * export stays under the 64 MiB issue 12 asks for (bench/export.sh). */
#define RC_EXPORT_SORT_MEM SEG_SCAN_KEYS_MEM_DEFAULT

_Static_assert(RC_HTTP_PATH_MAX + RC_HTTP_QUERY_MAX < RC_HTTP_HEAD_MAX, "a target fits a head");
_Static_assert(RC_HTTP_BODY_MAX >= SES_FILTER_MAX, "a stored filter fits a request body");


/* `ringcap replay` (tools/replay/). */
#define RC_RP_QUEUE_DEPTH 4096u        /* requests queued per loop thread ahead of their
					* time: 0.2 s at 20,000 req/s, enough to ride out
					* one slow frame decompression */
#define RC_RP_PREFETCH_BYTES (64u << 20) /* request bytes read ahead in all (a few large
					  * uploads must not pull the session in) */
#define RC_RP_LOOP_CACHE_BYTES (256u << 20) /* a selection this small is kept for the
					     * next --loop pass instead of read again */
#define RC_RP_READ_WINDOW 1024u        /* exchanges opened ahead, in order, by the readers */
#define RC_RP_READERS_MAX 16u          /* threads opening exchanges (one per loop thread):
					* ~4 us of CPU an exchange here (tools/replay/) */
#define RC_RP_CONNS_MAX 4096u          /* connection slots (--connections, or groups) */
#define RC_RP_THREADS_MAX 64u          /* loop threads (--threads; default: CPUs) */
#define RC_RP_SLOT_QUEUE 64u           /* requests waiting on one connection slot */
#define RC_RP_RECV_BUF (16u << 10)     /* provided buffer size, as the engine's (16 KiB) */
#define RC_RP_RECV_BUFS 512u           /* provided buffers per thread (power of two) */
#define RC_RP_TIMEOUT_MS_DEFAULT 10000u /* --timeout: connect or answer, like wrk's 2 s x 5 */
#define RC_RP_CQE_BATCH 256u           /* completions handled per loop turn */
#define RC_RP_RING_ENTRIES 1024u       /* submission queue per thread */
#define RC_RP_PROGRESS_MS 1000u        /* live progress line on a terminal */
#define RC_RP_EARLY_NS 100000u         /* a timed request may leave this much before its
					* due time, so one wake-up sends the requests due
					* close together (its lag then counts as 0) */

_Static_assert((RC_RP_QUEUE_DEPTH & (RC_RP_QUEUE_DEPTH - 1u)) == 0, "queue depth: power of two");
_Static_assert((RC_RP_RECV_BUFS & (RC_RP_RECV_BUFS - 1u)) == 0, "buf ring: power of two");
_Static_assert(RC_RP_CQE_BATCH <= RC_RP_RING_ENTRIES, "a CQE batch fits the ring");

#endif
