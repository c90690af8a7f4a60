/*
 * engine/eng-limits.h - every bound of the data plane, with its unit and why.
 *
 * User-tunable limits have a default here and a `ringcap run` option of the
 * same name (tools/opts.c); the *_MAX values bound what an option accepts.
 */
#ifndef RINGCAP_ENG_LIMITS_H
#define RINGCAP_ENG_LIMITS_H

/* A request head (request line + headers) larger than this gets 431. 32 KiB
 * holds the cookie-heavy heads of real browsers with room to spare. */
#define ENG_REQUEST_HEAD_DEFAULT   (32u * 1024)
/* A request line (method, target, version) longer than this gets 414. 8 KiB
 * as nginx (large_client_header_buffers): a URL beyond it is a probe or a
 * mistake, and a smaller cap than the whole head keeps one line from taking
 * all of it. */
#define ENG_REQUEST_LINE_DEFAULT   (8u * 1024)
/* Response heads carry big Set-Cookie and CSP headers: allow twice as much. */
#define ENG_RESPONSE_HEAD_DEFAULT  (64u * 1024)
/* Upper bound for both head options: head buffers come from a per-worker pool
 * allocated at start-up, so they stay small. */
#define ENG_HEAD_MAX               (1024u * 1024)
/* Header lines per head; more gets 431 (requests) or 502 (responses). */
#define ENG_HEADERS_DEFAULT        100u
#define ENG_HEADERS_MAX            1000u

/* Client connections a worker serves at once. Beyond it: 503 and close. */
#define ENG_CONNS_DEFAULT          16384u
#define ENG_CONNS_MAX              (1u << 20)
/* Extra slots used only to answer 503 to clients over the limit. */
#define ENG_REJECT_SLOTS           64u

/* Client connections one address may hold across all workers; beyond: 503.
 * A browser opens at most a few tens per proxy and a phone fewer; 1024
 * leaves room for several devices behind one NAT address while one runaway
 * client cannot take every slot. Load generators set 0 (off). */
#define ENG_CONNS_PER_CLIENT_DEFAULT 1024u
#define ENG_CONNS_PER_CLIENT_MAX   65535u

/* --auth. RFC 7617 credentials; a user name names a device, so 64 bytes is
 * plenty, and the padded credential stays small enough that comparing it
 * with every configured user on every request costs microseconds. */
#define ENG_AUTH_USER_MAX          64u
#define ENG_AUTH_CRED_MAX          192u     /* user ":" password */
#define ENG_AUTH_USERS_MAX         256u
/* Failed logins from one address within the window before its further
 * attempts get 429 until the window ends: 10 per minute stops guessing and
 * still forgives a few typos. */
#define ENG_AUTH_FAIL_MAX_DEFAULT  10u
#define ENG_AUTH_FAIL_WINDOW_MS    60000u
/* Addresses tracked for auth failures (direct mapped, shared by workers). */
#define ENG_AUTH_FAIL_SLOTS        4096u
/* CONNECT target ports (--connect-ports). */
#define ENG_CONNECT_PORTS_MAX      64u
/* Local interface addresses remembered at start-up for loop refusal. */
#define ENG_LOCAL_ADDRS_MAX        64u

/* Timeouts, milliseconds. */
#define ENG_HEADER_TIMEOUT_MS      10000u   /* first byte -> end of head (408) */
#define ENG_IDLE_TIMEOUT_MS        60000u   /* keep-alive / body / tunnel idle */
#define ENG_CONNECT_TIMEOUT_MS     5000u    /* upstream TCP connect (504) */
#define ENG_UPSTREAM_TIMEOUT_MS    60000u   /* upstream silent mid-exchange (504) */
#define ENG_UPSTREAM_IDLE_MS       30000u   /* pooled upstream kept this long */
#define ENG_GRACE_MS               10000u   /* in-flight exchanges at shutdown */
#define ENG_DNS_TTL_MS             60000u   /* resolver cache, positive answers */
#define ENG_DNS_NEG_TTL_MS         5000u    /* resolver cache, failures */
/* After a final error response: how long to drain the client before close,
 * so that its unread bytes do not turn our answer into an RST. */
#define ENG_LINGER_MS              2000u
#define ENG_TIMEOUT_MAX_MS         (24u * 3600 * 1000)
/* Timer resolution: one IORING_OP_TIMEOUT tick per worker. */
#define ENG_TICK_MS                100u

/* Provided-buffer ring per worker: every recv lands in one of these. Idle
 * connections hold none, so memory follows traffic, not connection count.
 * The kernel takes them round-robin, so all of them end up touched: 1024
 * x 16 KiB = 16 MiB per worker measured the same 1 MiB throughput as 4096
 * (bench/README.md) at a third of the RSS. */
#define ENG_BUF_COUNT_DEFAULT      1024u
#define ENG_BUF_COUNT_MAX          32768u   /* ring entries: a power of two */
#define ENG_BUF_SIZE_DEFAULT       (16u * 1024)
#define ENG_BUF_SIZE_MIN           1024u
#define ENG_BUF_SIZE_MAX           (1024u * 1024)

/* Zero-copy sends from this many bytes per send; 0 = never. On loopback the
 * kernel copies anyway and the extra notification costs (bench/README.md),
 * so the default is off; on a NIC with large bodies, 64 KiB pays off. */
#define ENG_ZC_THRESHOLD_DEFAULT   0u

/* Per socket flow control. A connection holds at most this many received
 * buffers before its recv is paused: memory per connection is bounded by
 * (ENG_IN_BUFS_MAX + ENG_OUT_SEGS) * buf_size, never by a body's size. */
#define ENG_IN_BUFS_MAX            8u
#define ENG_OUT_SEGS               16u
/* Buffer pressure: once more than 3/4 of a worker's receive buffers are
 * held, each connection may hold only this many more, so that stalled
 * transfers (slow upstreams, slow phones) cannot take the whole ring and
 * starve every other client of the worker. At 24 buffers per stalled
 * transfer, 43 of them emptied a 1024-buffer ring (docs/hardening.md). */
#define ENG_IN_BUFS_PRESSURE       1u
#define ENG_OUT_SEGS_PRESSURE      2u

/* Head buffer pool per worker (heads being read or sent). Exhausted: 503. */
#define ENG_HEADBUF_DEFAULT        1024u

/* Resolver: host names and in-flight look-ups. */
#define ENG_HOST_MAX               255u     /* RFC 1035 name length */
#define ENG_RESOLVE_SLOTS          1024u    /* pending per worker */
#define ENG_DNS_CACHE_SLOTS        1024u    /* per worker, direct mapped */

/* Private buffers per worker for TLS plaintext and ciphertext (same size
 * as receive buffers). Buffer ids are 16 bit: both pools share that space. */
#define ENG_TLS_BUFS_DEFAULT       2048u
/* Leaves a worker keeps minted (LRU) before asking the shared cache. */
#define ENG_LEAF_CACHE_DEFAULT     256u
/* Host names whose clients refused our certificate, shown on the status
 * page so that a user sees what to --passthrough. */
#define ENG_TLS_REJECT_NAMES       32u

/* Idle upstream connections a worker keeps for reuse. Every intercepted
 * tunnel connects ahead; without a bound a burst of tunnels would leave a
 * descriptor per tunnel open for --upstream-idle-timeout. */
#define ENG_UPSTREAM_IDLE_MAX      256u

/* Idle upstream pool hash buckets per worker. */
#define ENG_POOL_BUCKETS           1024u

/* WebSocket capture (engine/px-ws.c): upgraded connections a worker
 * observes at once (about 0.7 KiB each), and of them how many may inflate
 * permessage-deflate (2 x 48 KiB each: zlib's state and a 32 KiB window per
 * direction). Both arrays are mapped at start-up and touched only as
 * upgrades arrive. Beyond either, an upgrade is tunnelled as before, its
 * messages not captured (or, past the second, its compressed messages
 * flagged cut), and counted. A phone app holds one or two sockets, a
 * browser tab a few: 1024 per worker covers a device lab. */
#define ENG_WS_CONNS               1024u
#define ENG_WS_DEFLATE_CONNS       256u
/* HTTP/2 with clients (engine/h2.c). Streams one connection may have open
 * at once (SETTINGS_MAX_CONCURRENT_STREAMS): 100 as nginx and h2o; each
 * open stream holds a socket slot, at most a stream window of request body
 * and ENG_OUTQ_SEGS segments of response. Beyond: REFUSED_STREAM. */
#define ENG_H2_STREAMS_DEFAULT     100u
#define ENG_H2_STREAMS_MAX         1000u
/* Request body bytes a client may send on one stream before ringcap has
 * passed them upstream (SETTINGS_INITIAL_WINDOW_SIZE): the window reopens
 * only as the upstream drains (nghttp2_session_consume), so this is the
 * per-stream bound of buffered request body. 256 KiB: curl's uploads stay
 * at line rate on loopback with 4 windows in flight per connection. */
#define ENG_H2_STREAM_WINDOW_DEFAULT (256u * 1024)
/* The same over all streams of a connection (connection window): what
 * one h2 client can make a worker buffer of request bodies. */
#define ENG_H2_CONN_WINDOW_DEFAULT (1024u * 1024)
#define ENG_H2_WINDOW_MIN          65535u           /* RFC 9113 6.9.2 initial */
#define ENG_H2_WINDOW_MAX          ((1u << 31) - 1) /* RFC 9113 6.9.1 */
/* Decoded header list a stream's request head may have
 * (SETTINGS_MAX_HEADER_LIST_SIZE); the request also has to fit
 * --max-request-head once written as HTTP/1.1. */
#define ENG_H2_HEADER_LIST_DEFAULT (32u * 1024)
/* Rapid reset (CVE-2023-44487): RST_STREAMs a client may send in a burst
 * and per second afterwards before the connection is torn down (nghttp2's
 * own defaults; a browser cancels a few streams per page). */
#define ENG_H2_RESET_BURST         1000u
#define ENG_H2_RESET_RATE          33u
/* CONTINUATION frames after one HEADERS (CVE-2024-27316): nghttp2's
 * default, real header blocks need one or two. */
#define ENG_H2_CONTINUATIONS_MAX   8u

/* Completion drain batch: the loop never handles more before re-checking. */
#define ENG_CQE_BATCH              256u
#define ENG_WORKERS_MAX            256u
/* Ring size: enough SQEs for a batch of completions that each submit two. */
#define ENG_RING_ENTRIES           1024u
/* SQEs one completion's handler queues in the common case (a re-arm and
 * one more: a cancel, a close, a connect). Sends are not counted: they go
 * out once per batch. A handler that queues more is still safe (eng_sqe
 * submits a full queue first), it only costs an extra io_uring_enter. */
#define ENG_SQES_PER_CQE           2u

_Static_assert(ENG_REQUEST_HEAD_DEFAULT <= ENG_HEAD_MAX, "head default within max");
_Static_assert(ENG_REQUEST_LINE_DEFAULT <= ENG_REQUEST_HEAD_DEFAULT,
	       "a request line of the default length fits a default head");
_Static_assert(ENG_RESPONSE_HEAD_DEFAULT <= ENG_HEAD_MAX, "head default within max");
_Static_assert((ENG_BUF_COUNT_MAX & (ENG_BUF_COUNT_MAX - 1)) == 0, "ring is a power of two");
_Static_assert(ENG_BUF_COUNT_MAX <= 65536, "buffer ids are 16 bit in the CQE");
_Static_assert(ENG_OUT_SEGS <= 64, "one sendmsg takes every queued segment");
_Static_assert(ENG_TICK_MS < ENG_LINGER_MS, "linger outlives a tick");
_Static_assert(ENG_CQE_BATCH * ENG_SQES_PER_CQE <= ENG_RING_ENTRIES,
	       "the SQEs of one CQE batch fit the submission queue");
_Static_assert(ENG_CQE_BATCH <= ENG_RING_ENTRIES * 8,
	       "one CQE batch fits the completion queue (8 x the SQ)");
_Static_assert(ENG_AUTH_USER_MAX + 2 <= ENG_AUTH_CRED_MAX, "a user name and a password fit");
_Static_assert(ENG_AUTH_CRED_MAX <= 65535u, "cred_len is 16 bit");
_Static_assert(ENG_AUTH_CRED_MAX % 8 == 0, "credentials compare in 64-bit words");
_Static_assert(ENG_AUTH_USER_MAX <= 255u, "user_len is 8 bit");
_Static_assert(ENG_WS_DEFLATE_CONNS <= ENG_WS_CONNS, "an inflating observer is an observer");
_Static_assert(ENG_H2_STREAM_WINDOW_DEFAULT <= ENG_H2_CONN_WINDOW_DEFAULT,
	       "one stream can use its whole window");
_Static_assert(ENG_H2_STREAMS_MAX <= 65535u, "stream table index is 16 bit");

#endif
