/*
 * tools/replay/source.h - the requests of a replay, read from a session's
 * segments in recorded start order and handed to the loop threads ahead of
 * their schedule.
 *
 * Selection: persist's streaming scan (persist/scan.h) of the index with
 * --ids, the filter flags (tools/views/filter.h) and --search as its
 * predicate, in start order: 16 B a selected row (spilled to a temporary
 * file past SEG_SCAN_KEYS_MEM_DEFAULT), no table of the session; its
 * first pass also counts the selection, its start range and the recorded
 * connections for the schedule.
 *
 * Reading: the source thread takes the rows in order and feeds their
 * index entries into a window of RC_RP_READ_WINDOW places; `readers`
 * threads open them (row k by reader k % R, each through an open cache
 * per capturing worker: persist's seg_open_cache, so a reader decompresses
 * a frame once for all its rows in it) and rewrite them (req.h); the
 * source thread takes them back in order, numbers their recorded
 * connections, resolves their destination and pushes them into one
 * bounded queue per loop thread (RC_RP_QUEUE_DEPTH requests and
 * RC_RP_PREFETCH_BYTES bytes in flight at most): requests are read ahead
 * of their schedule by that much, and memory is bounded by it, never by
 * the session. When the selection is replayed more than once (--loop,
 * --duration) and its requests fit RC_RP_LOOP_CACHE_BYTES, the first pass
 * is kept for the others; else each pass scans the segments again.
 *
 * Connections: the store keeps no connection id; a recorded client
 * connection is told apart by its client address and port (the port of a
 * client's TCP connection is unique while it is open). Each such group
 * gets one replay connection slot (group % slots); a slot belongs to one
 * loop thread (slot % threads), which sends the slot's requests in order
 * on one connection.
 */
#ifndef RINGCAP_RP_SOURCE_H
#define RINGCAP_RP_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tools/replay/req.h"
#include "tools/replay/sched.h"
#include "tools/views/ids.h"

struct rc_filter;

/* One request as a loop thread gets it. */
struct rp_item {
	struct rp_req *req;   /* owned by the loop thread unless the source caches */
	uint64_t due_ns;      /* from the run's start; 0 in the closed loop */
	uint32_t slot;        /* connection slot (global) */
	uint32_t pass;
};

/* Bounded single-producer single-consumer queue (source -> one thread). */
struct rp_queue {
	struct rp_item *items;
	uint32_t cap;            /* power of two */
	_Atomic uint64_t head;   /* consumer */
	_Atomic uint64_t tail;   /* producer */
};

struct rp_source_cfg {
	const char *session_dir;
	const char *search;             /* --search; NULL = none */
	struct rc_filter *filter;       /* compiled, or NULL */
	const struct rc_ids *ids;       /* --ids (views/ids.h); NULL or n 0 = all */
	const struct rp_rewrite *rw;
	struct rp_sched sched;          /* span_ns and count are filled by open */
	unsigned threads;
	unsigned readers;               /* threads opening exchanges (0: 1) */
	uint64_t cache_bytes_max;       /* loop cache bound; 0: RC_RP_LOOP_CACHE_BYTES (tests) */
	unsigned slots;                 /* --connections; 0 = one per group (capped) */
	const struct sockaddr_storage *proxy; /* --proxy: every request connects there */
	socklen_t proxy_len;
};

struct rp_source_stats {
	_Atomic uint64_t read;          /* exchanges read and queued */
	_Atomic uint64_t skipped_tunnel, skipped_cut, unreadable, dns_failed;
	uint64_t selected, groups;      /* after open */
	uint64_t index_damaged;         /* damaged index entries (the selection's scan) */
	char first_damage[256];
};

struct rp_source;

/* Loads and selects; fills cfg->sched.count/span_ns. Returns 0, -ENOENT
 * (nothing selected) or -errno. */
int rp_source_open(struct rp_source_cfg *cfg, struct rp_source **out);
/* Connection slots in use (<= RP_CONNS_MAX). */
unsigned rp_source_slots(const struct rp_source *s);
/* Starts the source thread; t0_ns: the run's start (CLOCK_MONOTONIC). */
int rp_source_start(struct rp_source *s);
/* The queue of loop thread t. */
struct rp_queue *rp_source_queue(struct rp_source *s, unsigned t);
/* True once the source pushed its last request (then drain the queue). */
bool rp_source_done(const struct rp_source *s);
/* Stops the source early (Ctrl-C, --duration in the closed loop). */
void rp_source_stop(struct rp_source *s);
/* Stops the source and waits for its thread (its stats are final then). */
void rp_source_join(struct rp_source *s);
/* Joins the thread, frees what is left in the queues and the cache. */
void rp_source_close(struct rp_source *s);
/* True when requests belong to the source (loop threads must not free). */
bool rp_source_owns(const struct rp_source *s);
const struct rp_source_stats *rp_source_stats(const struct rp_source *s);
/* Bytes of the requests in flight between source and threads decrease
 * by n when a thread is done with a request it got. */
void rp_source_release(struct rp_source *s, size_t n);

/* Queue operations: push fails (false) when full; pop when empty. */
bool rp_queue_push(struct rp_queue *q, const struct rp_item *it);
bool rp_queue_pop(struct rp_queue *q, struct rp_item *it);
const struct rp_item *rp_queue_peek(struct rp_queue *q);


#endif
