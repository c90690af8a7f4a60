/*
 * engine/eng-int.h - the engine's private types, shared by its .c files only.
 *
 * Ownership: every struct here belongs to one worker thread, except
 * struct eng (read-only after start, plus the `stopping` flag) and the
 * resolver's queue (engine/resolve.c, mutex-protected).
 */
#ifndef RINGCAP_ENG_INT_H
#define RINGCAP_ENG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#include "engine/eng.h"
#include "engine/http1.h"
#include "engine/ring.h"

#define ENG_NONE UINT32_MAX

/* ---- completion user_data: op, slot, generation (engine/ring.h) ---- */
enum eng_op {
	OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CONNECT, OP_CLOSE, OP_CANCEL,
	OP_TICK, OP_RESOLVED, OP_CLOSE_RAW, OP_SINK_IO,
	OP_COUNT
};
_Static_assert(OP_COUNT <= ENG_UDATA_OPS, "every op fits user_data's op field");
/* socket slots: clients (max-conns + reject slots) and as many upstreams */
_Static_assert(2ull * ENG_CONNS_MAX + ENG_REJECT_SLOTS - 1u <= ENG_UDATA_SLOT_MAX,
	       "every socket slot fits user_data's slot field");
_Static_assert(ENG_RESOLVE_SLOTS - 1u <= ENG_UDATA_SLOT_MAX,
	       "every look-up slot fits user_data's slot field");

static inline uint64_t udata(enum eng_op op, uint32_t slot, uint32_t gen)
{
	return eng_udata_pack((unsigned)op, slot, gen);
}

/* ---- timers: one intrusive list per duration class, so each list is in
 * deadline order and arming or expiring is O(1). ---- */
enum eng_tclass {
	T_NONE = 0, T_HEADER, T_IDLE, T_CONNECT, T_UPSTREAM, T_UP_IDLE, T_LINGER, T_COUNT
};
_Static_assert(T_COUNT <= ENG_TIMER_CLASSES, "every timer class has a list");

/* ---- output segments: what a send references (engine/ring.h) ---- */
/* ENG_SEG_BUF (a provided or private buffer, id = buffer id) and
 * ENG_SEG_CONST (static bytes) come from ring.h; the engine adds: */
#define ENG_SEG_HEAD  ENG_SEG_USER   /* a head-pool buffer: id = pool index */
_Static_assert(ENG_OUT_SEGS == ENG_OUTQ_SEGS, "a socket's send queue is ring.h's");

/* Socket roles and states. */
enum sock_role { ROLE_CLIENT = 1, ROLE_UPSTREAM };

enum client_state {
	C_IDLE = 1,     /* between requests */
	C_HEAD,         /* reading a request head */
	C_WAIT,         /* head done, waiting for an upstream */
	C_EXCHANGE,     /* request body and/or response flowing */
	C_TUNNEL,       /* CONNECT or upgraded: bytes both ways */
	C_LINGER,       /* final answer sent, draining before close */
	C_SNIFF,        /* CONNECT answered: is the first flight TLS? */
	C_HANDSHAKE,    /* TLS handshake with the client */
	C_H2,           /* speaks HTTP/2: its streams are sockets of their own */
};

enum up_state {
	U_RESOLVING = 1, U_CONNECTING, U_HANDSHAKE, U_ACTIVE, U_IDLE, U_TUNNEL,
	U_PARKED,       /* connected for a CONNECT whose first flight is awaited */
	U_AHEAD,        /* TLS up ahead of its tunnel's first request (ahead) */
	U_AHEAD_FAILED, /* TLS failed ahead of it: kept for the 502's reason */
};

/* Socket flags (struct eng_sock.flags). */
#define ENG_SOCK_F_RECV           0x0001u   /* a multishot recv is armed */
#define ENG_SOCK_F_SENDING        0x0002u   /* a send is in flight */
#define ENG_SOCK_F_EOF            0x0004u   /* peer sent FIN */
#define ENG_SOCK_F_CLOSING        0x0008u   /* close requested; waits for ops == 0 */
#define ENG_SOCK_F_PAUSED         0x0010u   /* recv paused: too many buffers held */
#define ENG_SOCK_F_STARVED        0x0020u   /* recv ended with ENOBUFS, re-arm later */
#define ENG_SOCK_F_FLUSHCLOSE     0x0040u   /* close (linger) once the out queue drains */
#define ENG_SOCK_F_ZC             0x0080u   /* the send in flight is zero-copy */
#define ENG_SOCK_F_ZC_NOTIF       0x0100u   /* zero-copy sent, notification pending */
#define ENG_SOCK_F_REUSABLE       0x0200u   /* upstream may go back to the pool */
#define ENG_SOCK_F_CANCELING      0x0400u   /* a recv cancel is in flight */
#define ENG_SOCK_F_SHUT_WR        0x0800u   /* we sent FIN */
#define ENG_SOCK_F_ZC_FAILED      0x1000u   /* the zero-copy send in flight failed */
#define ENG_SOCK_F_DIRTY          0x2000u   /* on the worker's flush list */
#define ENG_SOCK_F_REJECTED       0x4000u   /* over max-conns: answered 503, closing */
#define ENG_SOCK_F_TLS_BYE        0x8000u   /* close_notify queued */
#define ENG_SOCK_F_TLS_ERR        0x10000u  /* TLS record layer failed */
#define ENG_SOCK_F_UP_TLS         0x40000u  /* upstream speaks TLS (pool key) */
#define ENG_SOCK_F_INTERCEPT      0x80000u  /* client: CONNECT to be intercepted if TLS */
#define ENG_SOCK_F_SINK_WAIT      0x100000u /* stopped reading: capture sink full */
#define ENG_SOCK_F_COUNTED        0x200000u /* client: counted per address */
#define ENG_SOCK_F_SYNC_HOLD      0x80000000u /* client (--sync): sends held until
					       * the sink's ticket is durable */
#define ENG_SOCK_F_H2S            0x400000u /* an HTTP/2 stream: no fd, its parent's
					     * session carries its bytes (engine/h2.c) */

/* Exchange flags kept on the client socket (struct eng_sock.xflags). */
#define ENG_XCHG_F_REQ_DONE       0x01u     /* request fully read from the client */
#define ENG_XCHG_F_RESP_DONE      0x02u     /* response fully read from the upstream */
#define ENG_XCHG_F_RESP_HEAD      0x04u     /* response head sent to the client */
#define ENG_XCHG_F_CLOSE          0x08u     /* close the client after this exchange */
#define ENG_XCHG_F_CONNECT        0x10u     /* CONNECT request */
#define ENG_XCHG_F_UPGRADE        0x20u     /* request asks for an Upgrade */
#define ENG_XCHG_F_HEAD_REQ       0x40u     /* HEAD request */
#define ENG_XCHG_F_RETRIED        0x80u     /* resent once on a fresh upstream */

struct eng_sock {
	int fd;
	uint32_t gen;
	uint32_t flags;
	uint8_t role;
	uint8_t state;
	uint16_t ops;           /* completions still to come */
	uint32_t peer;          /* paired socket slot or ENG_NONE */
	/* intercepted tunnel: on the client, the upstream made when its
	 * CONNECT arrived, kept for its first request; on that upstream, the
	 * client. ENG_NONE: none. Both sides are cleared in px_closed. */
	uint32_t ahead;
	/* input: buffers linked through w->buf_next; on a TLS socket `in`
	 * holds plaintext and `cin` the ciphertext not yet fed */
	struct eng_bufq in, cin;
	struct tls_conn *tls;   /* NULL: plain TCP */
	struct eng_seg tls_pend; /* pushed plaintext not sealed yet (len > 0) */
	struct eng_seg tls_stage; /* small pushed pieces copied into one private
				   * buffer, sealed as one record at the flush
				   * (len > 0; engine/tlsio.c) */
	uint8_t plain_alert;    /* description of a plaintext alert the peer sent */
	/* output queue */
	struct eng_outq out;
	uint32_t resp_seg;      /* client: ordinal (out.pushed) of the response head */
	/* timer (w->timers) */
	struct eng_timer tm;
	/* head being read */
	uint32_t head_buf;      /* head-pool index or ENG_NONE */
	uint32_t head_len;
	struct h1_scan scan;
	struct h1_parser hp;
	/* client: the exchange; upstream: its key */
	uint8_t xflags;
	uint8_t err;
	uint16_t port;
	uint8_t host_len;
	char host[ENG_HOST_MAX + 1];
	uint32_t pool_next;     /* idle pool chain (upstream); also the free list */
	uint32_t pool_prev;
	uint32_t resolve_slot;  /* pending look-up (upstream) */
	uint64_t t0_ns;         /* client: exchange start, monotonic */
	struct sockaddr_storage addr;  /* upstream: where it connects */
	socklen_t addr_len;
	struct eng_xchg *x;     /* client: exchange record (pool) */
	uint8_t name_len;       /* client: --identify-by auth name, 0 = none */
	char name[ENG_AUTH_USER_MAX];
	void *sink_h;           /* sink's handle for the exchange */
	uint64_t sync_ticket;   /* client, ENG_SOCK_F_SYNC_HOLD: what it waits for */
	struct eng_ws *ws;      /* client: WebSocket observer after a 101 (px-ws.c) */
	/* HTTP/2 (engine/h2.c): a connection's session, or a stream's parent
	 * (slot, generation) and its index in the parent's stream table */
	struct eng_h2 *h2;
	struct eng_h2u *h2u;    /* upstream: HTTP/2 codec (engine/h2up.c) or NULL */
	uint32_t h2_parent, h2_parent_gen;
	uint16_t h2_idx;
	/* client: the exchange's trailer sections being collected for the
	 * sink (px-exchange.c), in one head buffer: the request's in its
	 * first half, the response's in its second; ENG_NONE when none */
	uint32_t tr_buf;
	uint32_t tr_len[2];     /* bytes kept, per enum eng_dir */
	uint32_t tr_wire[2];    /* bytes of the block, kept or not */
	uint8_t tr_last[2];     /* 0 nothing yet, 1 a name piece, 2 a value piece */
};

struct eng_h2;
struct eng_h2u;

/* True when s's requests come from inside an intercepted TLS tunnel: a
 * TLS client socket, or an HTTP/2 stream (whose parent is one). */
static inline bool eng_sock_in_tls(const struct eng_sock *s)
{
	return s->tls != NULL || (s->flags & ENG_SOCK_F_H2S);
}

/* Per-worker DNS cache entry (direct mapped by host hash). */
struct eng_dns_entry {
	uint64_t expires_ms;
	uint32_t hash;
	uint8_t host_len;
	char host[ENG_HOST_MAX + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int err;                /* 0 or the getaddrinfo error */
};

/* A pending name look-up, handed to the resolver thread. */
struct eng_resolve {
	uint32_t sock, gen;
	uint16_t port;
	uint8_t host_len;
	char host[ENG_HOST_MAX + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int err;
	uint32_t next_free;
};

struct eng_proto_ops;

/* Adds n to a counter of a worker's struct eng_counters (w->c). Its worker
 * is its only writer and eng_counters() reads it from other threads with
 * relaxed loads, so the update is a relaxed atomic load and store, not a
 * locked add: the same plain moves on x86-64 and arm64, and no data race
 * for ThreadSanitizer (tests/tsan.supp needs no entry for the counters). */
#define ENG_COUNT(field, n)                                                              \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (uint64_t)(n), \
			 __ATOMIC_RELAXED)
/* Takes n off a gauge of w->c (conns_open), the same way. */
#define ENG_COUNT_SUB(field, n)                                                          \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) - (uint64_t)(n), \
			 __ATOMIC_RELAXED)

struct eng_worker {
	struct eng *e;
	const struct eng_proto_ops *proto;  /* the protocol above the sockets */
	unsigned index;
	pthread_t thread;
	struct eng_ring ring;
	struct eng_dispatch dispatch;  /* op -> completion handler */
	uint64_t stale_cqes;    /* socket completions of a slot's previous life, ignored */
	int listen_fd;
	bool accepting;
	/* provided buffers (ids [0, buf_count)) and private TLS buffers */
	struct eng_bufs bufs;
	struct tls_leaf_cache *leaf_cache;
	struct tls_pool *tls_pool;     /* TLS states and ciphertext buffers */
	/* sockets */
	struct eng_sock *socks;
	unsigned nsocks;        /* capacity (clients + upstreams + reject) */
	uint32_t sock_free;     /* free list of used-before slots */
	unsigned socks_used;    /* slots [0, socks_used) have been used */
	unsigned clients;       /* open client connections */
	unsigned rejecting;     /* of which answered 503 and closing */
	unsigned upstreams;
	uint32_t *dirty;        /* sockets to flush at the end of the batch */
	unsigned ndirty;
	/* head pool */
	char *heads;
	size_t head_size;
	uint32_t *head_free_next;
	uint8_t *head_ref;
	uint32_t head_free;
	/* exchange records */
	struct eng_xchg *xchgs;
	uint32_t *xchg_free_next;
	uint32_t xchg_free;
	uint64_t seq;
	/* timers, one class per enum eng_tclass, over socks[] */
	struct eng_timers timers;
	uint64_t now_ms;
	struct __kernel_timespec tick_ts;
	/* starved receivers, re-armed when buffers return */
	uint32_t starved[64];
	unsigned nstarved;
	bool starved_overflow;
	/* idle upstream pool */
	uint32_t pool[ENG_POOL_BUCKETS];
	unsigned idle;          /* connections in it */
	/* DNS */
	struct eng_dns_entry *dns;
	struct eng_resolve *resolves;
	uint32_t resolve_free;
	/* scratch for one head parse */
	struct h1_hdr *hdrs;
	/* capture sink */
	void *sink_ctx;
	bool sink_io_busy;      /* a sink write is in flight */
	uint32_t *sink_wait;    /* sockets waiting for the sink to take bodies */
	unsigned nsink_wait;
	uint32_t *sync_wait;    /* --sync: clients whose sends wait for durability */
	unsigned nsync_wait;
	struct px_ws_pool *ws_pool;  /* WebSocket observers (engine/px-ws.c) */
	/* counters: bumped only by this worker (ENG_COUNT), read by other
	 * threads with relaxed loads (eng_counters) */
	struct eng_counters c;
	bool draining;
	uint64_t drain_deadline_ms;
};

struct eng {
	struct eng_config cfg;
	/* clients that refused our certificate, by name (pinned apps) */
	pthread_mutex_t rej_mu;
	struct { char name[64]; uint64_t n; } rej[ENG_TLS_REJECT_NAMES];
	unsigned nworkers;
	struct eng_worker *w;
	atomic_bool stopping;
	struct eng_resolver *resolver;
	struct eng_access *acc;  /* engine/access.c */
	/* refused CONNECTs logged on stderr: at most one line per second
	 * (engine/access.c, eng_log_refused) */
	_Atomic uint64_t refuse_log_s;      /* monotonic second + 1 of the last line */
	_Atomic uint64_t refuse_suppressed; /* refusals not logged since */
};

/* engine/resolve.c */
int eng_resolver_start(struct eng *e, char *err, size_t err_len);
void eng_resolver_stop(struct eng *e);
int eng_resolver_submit(struct eng_worker *w, uint32_t slot);

/* engine/access.c: who may use the proxy, and where it may connect */
struct eng_deny {
	int status;             /* 403, 407, 429 */
	enum eng_err err;
	bool close;             /* answer with Connection: close */
	char extra[96];         /* header lines to add, each ending in CRLF */
	char msg[256];          /* text body, ends in a newline */
};
int eng_access_start(struct eng *e, char *err, size_t err_len);
void eng_access_stop(struct eng *e);
/* Counts a new client connection from c->addr; false: over the cap. */
bool eng_access_conn_get(struct eng_worker *w, struct eng_sock *c);
void eng_access_conn_put(struct eng_worker *w, struct eng_sock *c);
/* Checks a parsed request head (authentication, CONNECT port), names the
 * client, and blanks the credentials in `head` so that no capture keeps
 * them. true: go on; false: answer with *d. */
bool eng_access_request(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m,
			char *head, const struct h1_target *t, struct eng_deny *d);
/* Logs a refused CONNECT on stderr: client (and its --identify-by name),
 * target and the rule that refused it, since clients like curl hide a
 * 403's body. At most one line per second over all workers; the next line
 * says how many were left out. */
void eng_log_refused(struct eng_worker *w, const struct eng_sock *c, const char *host,
		     uint16_t port, const char *rule);
/* NULL when the proxy may connect to a (a resolved address, with port);
 * else why not, for a 403. */
const char *eng_upstream_refused(struct eng_worker *w, const struct sockaddr_storage *a);

/* engine/worker.c */
int eng_worker_spawn(struct eng_worker *w, int cpu, char *err, size_t err_len);
void eng_worker_join(struct eng_worker *w);
void eng_worker_free(struct eng_worker *w);

/* Buffers by id (engine/ring.h): ids [0, buf_count) are provided to the
 * kernel, ids from buf_count on are the worker's private (TLS) buffers. */
static inline char *eng_buf_ptr(struct eng_worker *w, uint16_t bid)
{
	return eng_bufs_ptr(&w->bufs, bid);
}
static inline uint16_t eng_pbuf_get(struct eng_worker *w)
{
	return eng_bufs_get(&w->bufs);
}
static inline void eng_buf_unref(struct eng_worker *w, uint16_t bid)
{
	eng_bufs_unref(&w->bufs, bid);
}
static inline uint32_t eng_slot(const struct eng_worker *w, const struct eng_sock *s)
{
	return (uint32_t)(s - w->socks);
}

/* engine/pool.c: idle upstream connections */
uint32_t eng_key_hash(const char *host, size_t n, uint16_t port);
struct eng_sock *eng_pool_take(struct eng_worker *w, const char *host, size_t n,
			       uint16_t port, bool tls);
/* false: the pool is full (--upstream-idle-max), the caller closes u */
bool eng_pool_put(struct eng_worker *w, struct eng_sock *u);
/* An idle connection to host:port (TLS or not) is in the pool. */
bool eng_pool_has(struct eng_worker *w, const char *host, size_t n, uint16_t port, bool tls);
void eng_pool_remove(struct eng_worker *w, struct eng_sock *u);

#endif
