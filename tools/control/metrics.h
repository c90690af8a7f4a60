/*
 * tools/control/metrics.h - the Prometheus text exposition (format 0.0.4) of the
 * daemon's counters for GET /metrics: engine counters (connections,
 * requests, bytes per peer, errors by kind, TLS both sides, upstream
 * pool, zero-copy sends) and, when a capture runs, the store's figures.
 * Every family has HELP and TYPE lines and passes `promtool check
 * metrics`. Counters are process totals summed over workers: the engine
 * keeps no per-worker view in its API, so there is no worker label.
 */
#ifndef RINGCAP_METRICS_H
#define RINGCAP_METRICS_H

#include <stddef.h>

struct eng_counters;
struct rc_capture_stats;

/* Bytes the whole text takes at most (measured: about 6 KiB). */
#define RC_METRICS_MAX 16384u

/* Writes the exposition of k, and of cs unless it is NULL (no capture
 * object: the capture families are left out), into out[0..cap) with a
 * terminating NUL. Returns the length, or -ENOSPC when cap is too small
 * (out then holds a truncated text, never sent). */
long rc_metrics_text(const struct eng_counters *k, const struct rc_capture_stats *cs, char *out,
		     size_t cap);

#endif
