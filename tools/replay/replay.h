/*
 * tools/replay/replay.h - `ringcap replay`: a captured session sent again
 * as load on io_uring, with a report and a diff against the recording.
 *
 * Threads: the CLI's thread runs rp_run (progress line, Ctrl-C, report);
 * one source thread reads the session (source.h); `threads` loop threads
 * each drive one ring (loop.c) over their connection slots. Loop threads
 * share nothing but the source's queues, the TLS client context (read-only
 * after set-up) and their counters, which rp_run reads relaxed for the
 * progress line and merges at the end.
 */
#ifndef RINGCAP_RP_REPLAY_H
#define RINGCAP_RP_REPLAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tools/replay/diff.h"
#include "tools/replay/hist.h"
#include "tools/replay/req.h"
#include "tools/replay/sched.h"
#include "tools/replay/source.h"

enum rp_err {
	RP_E_CONNECT = 0, /* connect refused or failed, proxy CONNECT refused */
	RP_E_TIMEOUT,     /* no connection or no whole answer within --timeout */
	RP_E_RESET,       /* the connection closed or reset before the answer ended */
	RP_E_TLS,         /* handshake or certificate verification failed */
	RP_E_DNS,         /* the destination did not resolve */
	RP_E_PROTOCOL,    /* an answer llhttp refused */
	RP_E_KINDS
};

#define RP_ERR_MSG_MAX 200u  /* the first message kept per error kind */

/* Counters of one loop thread; the atomics feed the progress line. */
struct rp_stats {
	_Atomic uint64_t sent, done, failed;     /* every request, warm-up included */
	uint64_t completed;                      /* answered, after warm-up */
	uint64_t errors[RP_E_KINDS];             /* after warm-up */
	uint64_t warmup_sent;                    /* sent during warm-up (not reported) */
	uint64_t unanswered;                     /* in flight when a second Ctrl-C cut the run */
	uint64_t unsent;                         /* queued, not sent when the run stopped */
	uint64_t retried;                        /* re-sent once: a reused connection closed */
	uint64_t status[6];                      /* by class: [1]=1xx .. [5]=5xx, [0] other */
	uint64_t bytes_sent, bytes_recv;         /* on the wire (TLS: ciphertext) */
	uint64_t connects;
	uint64_t recorded, record_dropped;       /* --record */
	uint64_t last_done_ns;                   /* monotonic, last answer */
	struct rp_hist lat;                      /* from the scheduled send time */
	struct rp_hist lag;                      /* actual minus scheduled send (timed modes) */
	struct rp_diff diff;
	char err_msg[RP_E_KINDS][RP_ERR_MSG_MAX];
};

struct tls_client;
struct seg_writer;

struct rp_cfg {
	struct rp_source_cfg src;                /* selection, rewriting, schedule */
	struct rp_diff_cfg diff;
	unsigned threads;                        /* loop threads (0: online CPUs) */
	uint64_t timeout_ms;
	bool insecure;                           /* --insecure */
	const char *ca_file;                     /* --ca */
	bool have_proxy;
	struct sockaddr_storage proxy;           /* --proxy */
	socklen_t proxy_len;
	const char *data_dir;                    /* for --record */
	const char *record;                      /* --record NAME: new session */
	bool json, progress;
};

/* Everything a finished (or interrupted) run reports. */
struct rp_result {
	struct rp_stats total;                   /* merged */
	struct rp_source_stats src;              /* copied at the end */
	uint64_t elapsed_ns;                     /* start to last answer (or stop) */
	uint64_t measured_ns;                    /* elapsed minus warm-up */
	unsigned threads, slots;
	bool interrupted;
	char record_id[16];                      /* --record: the new session's id */
};

/* One loop thread (loop.c). */
struct rp_loop_args {
	unsigned index, threads;
	struct rp_source *src;
	const struct rp_cfg *cfg;
	struct tls_client *tls;                  /* NULL when nothing goes over TLS */
	struct seg_writer *rec;                  /* --record: this thread's writer */
	uint64_t t0_ns;                          /* the run's start, CLOCK_MONOTONIC */
	atomic_int *stop;                        /* 1 = finish in flight, 2 = at once */
	struct rp_stats st;
	int rc;                                  /* 0, or -errno of a set-up failure */
	char err[256];
};

void *rp_loop_main(void *arg);

/* Runs the replay described by cfg (sets up TLS, --record, threads),
 * printing progress to stderr when cfg->progress. Returns 0 with res
 * filled, or -errno with err set (nothing ran). */
int rp_run(struct rp_cfg *cfg, struct rp_result *res, char *err, size_t errlen);
/* Asks a running rp_run to stop (signal-safe): first call finishes what
 * is in flight, the second stops at once. */
void rp_interrupt(void);

/* The report as text (stdout) or one JSON object. */
void rp_report_text(const struct rp_result *r, const struct rp_cfg *cfg);
void rp_report_json(const struct rp_result *r, const struct rp_cfg *cfg);
void rp_stats_init(struct rp_stats *s);
void rp_stats_merge(struct rp_stats *dst, const struct rp_stats *src);
const char *rp_err_name(unsigned kind);

#endif
