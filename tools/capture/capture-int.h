/*
 * tools/capture/capture-int.h - private to tools/capture/sink.c (the worker
 * side of the capture sink) and tools/capture/policy.c (the publisher
 * side): the state both sides touch. What a worker reads of it is an atomic
 * or immutable once published (sink.c's file comment).
 */
#ifndef RC_CAPTURE_INT_H
#define RC_CAPTURE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "persist/seg.h"
#include "tools/capture/sink.h"

#define HELD_MAX 4u         /* stores one worker writes at once (1 + leaving) */
#define XH_MAX SEG_OPEN_DEFAULT /* exchanges captured at once per worker */
#define COOKIE_HEAD_MAX 16384u  /* status line + Set-Cookie lines kept without
				 * "save responses" */
#define OFFLINE UINT64_MAX  /* a worker's epoch before open and after close */

struct store {
	/* the session's next exchange number: one atomic add per exchange, on
	 * a cache line of its own (every worker adds to it) */
	_Alignas(64) _Atomic uint64_t next_number;
	char dir[4096];
	unsigned nworkers;
	struct seg_writer **w;      /* [nworkers] */
	atomic_bool *adopted;       /* [nworkers] the worker took its writer */
	atomic_bool *done;          /* [nworkers] ... and handed it back */
	struct store *next;         /* retiring list */
};

struct pol {
	struct rc_capture_policy p;
	struct store *store;
	struct pol *next;           /* limbo list, waiting for a grace period */
	uint64_t epoch;             /* freed once every worker has seen it */
};

/* Per-worker counters, summed by rc_capture_stats. */
struct wstat {
	_Atomic uint64_t written, dropped, filtered, bytes, over_budget;
	atomic_bool failed;
	_Atomic uint64_t epoch;     /* last quiescent point seen */
} __attribute__((aligned(64)));

struct rc_capture {
	unsigned nworkers;
	_Atomic(struct pol *) cur;
	_Atomic uint64_t epoch;
	struct wstat *ws;           /* [nworkers] */
	pthread_mutex_t mu;         /* publishers */
	struct store *retiring;     /* left by the policy, not yet closed */
	struct pol *limbo;          /* swapped out, grace period not seen yet */
	uint64_t flush_ns;          /* writers' flush interval; 0 = the store's default */
	bool sync;                  /* --sync: writers group-commit (seg_writer_cfg.sync) */
	int zstd_level;             /* --zstd-level; 0 = the store's default */
	unsigned zstd_budget;       /* --zstd-budget (percent); 0 = none */
};

#endif
