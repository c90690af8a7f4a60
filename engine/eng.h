/*
 * engine/eng.h - the data plane's public API.
 *
 * The engine runs one pinned worker thread per core, each with its own
 * io_uring, listener (SO_REUSEPORT), provided-buffer ring and upstream pool,
 * and proxies HTTP/1.1 (absolute-form requests, CONNECT tunnels, Upgrade).
 * It knows nothing of the CLI, JSON or the web UI: the control plane starts
 * and stops it, reads counters, and plugs a capture sink in.
 */
#ifndef RINGCAP_ENG_H
#define RINGCAP_ENG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/eng-limits.h"

struct eng;
struct tls_server;
struct tls_client;
struct tls_mint;
struct eng_onboard_ca;

/* An address block clients may come from. */
struct eng_cidr {
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t bits;          /* prefix length */
	uint8_t addr[16];      /* network order; 4 bytes used for AF_INET */
};

/* True when addr (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of the blocks. */
bool eng_cidr_match(const struct eng_cidr *list, unsigned n, const struct sockaddr_storage *addr);

/* One --auth credential, "user:password" zero padded to a fixed size so
 * that checking it takes the same time whatever its length or content. */
struct eng_user {
	char cred[ENG_AUTH_CRED_MAX];    /* user ":" password, then zeros */
	uint16_t cred_len;
	uint8_t user_len;
};

/* Fills u from "user:password". User: 1..ENG_AUTH_USER_MAX bytes of
 * visible ASCII without ':'; password: 1.. bytes without NUL, CR or LF,
 * the whole under ENG_AUTH_CRED_MAX. 0 or -EINVAL with a sentence in err
 * that never quotes the password. */
int eng_user_parse(const char *s, size_t len, struct eng_user *u, char *err, size_t err_len);

/* A range of ports, both ends included. */
struct eng_port_range { uint16_t lo, hi; };

/* How a client is named in captured exchanges (--identify-by). */
enum eng_identify { ENG_ID_ADDRESS = 0, ENG_ID_AUTH };

/* Everything `ringcap run` can tune. eng_config_defaults() fills it. */
struct eng_config {
	struct sockaddr_storage listen;  /* proxy listener */
	socklen_t listen_len;
	unsigned workers;                /* threads; 0 = online CPUs */
	unsigned max_conns;              /* client connections per worker */
	unsigned max_request_head;       /* bytes, 431 beyond */
	unsigned max_request_line;       /* bytes without CRLF, 414 beyond */
	unsigned max_response_head;      /* bytes, 502 beyond */
	unsigned max_headers;            /* header lines per head */
	unsigned header_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned connect_timeout_ms;
	unsigned upstream_timeout_ms;
	unsigned upstream_idle_timeout_ms;
	unsigned upstream_idle_max;      /* pooled upstreams per worker */
	unsigned grace_ms;
	unsigned dns_ttl_ms;
	unsigned buf_count;              /* provided buffers per worker, 2^n */
	unsigned buf_size;               /* bytes per provided buffer */
	unsigned head_buffers;           /* head pool per worker */
	unsigned zc_threshold;           /* bytes; 0 = no zero-copy sends */
	/* HTTPS interception (tls/): all NULL = CONNECT is a blind tunnel */
	struct tls_server *tls_server;   /* client-facing, mints leaves */
	struct tls_client *tls_client;   /* upstream, verifies servers */
	struct tls_mint *tls_mint;       /* per-worker leaf caches front it */
	const char *const *passthrough;  /* host globs tunnelled blind */
	unsigned npassthrough;
	unsigned tls_buffers;            /* private buffers per worker */
	unsigned leaf_cache;             /* leaves per worker */
	/* the CA install page and files at http://ringcap.cert/ (NULL: off) */
	const struct eng_onboard_ca *onboard;
	/* clients allowed to connect; others are closed at accept. NULL:
	 * everyone (eng_config_defaults sets loopback and private ranges) */
	const struct eng_cidr *allow;
	unsigned nallow;
	unsigned max_conns_per_client;   /* per client address, all workers; 0 = off */
	/* --auth: every request must carry one of these in Proxy-Authorization
	 * (NULL: no authentication). engine/access.c */
	const struct eng_user *users;
	unsigned nusers;
	enum eng_identify identify_by;
	unsigned auth_fail_max;          /* failures per address per window; 0 = off */
	unsigned auth_fail_window_ms;
	/* CONNECT is allowed to these ports only (nconnect_ports 0: any) */
	const struct eng_port_range *connect_ports;
	unsigned nconnect_ports;
	/* upstream addresses refused by default (link-local, metadata) that are
	 * allowed after all; the proxy's own ports never are */
	const struct eng_cidr *allow_upstream;
	unsigned nallow_upstream;
	/* the control API, never reachable through the proxy (family 0: none) */
	struct sockaddr_storage control;
	/* --sync: an exchange the sink captured gets its response's unsent
	 * bytes (at least the last ones) held back from the client until the
	 * sink says it is durable (eng_sink_ops.ticket / durable) */
	bool sync;
	/* HTTP/2 with clients (ALPN h2 on intercepted TLS, engine/h2.c) */
	unsigned h2_max_streams;         /* concurrent streams per connection */
	unsigned h2_stream_window;       /* bytes, request body per stream */
	unsigned h2_conn_window;         /* bytes, request body per connection */
	unsigned h2_max_header_list;     /* bytes, decoded request header list */
	const struct eng_sink_ops *sink; /* NULL: nothing is captured */
	void *sink_arg;                  /* passed to sink->open */
};

enum eng_dir { ENG_DIR_REQUEST = 0, ENG_DIR_RESPONSE = 1 };

/* Why an exchange ended badly; ENG_ERR_NONE for a normal end. */
enum eng_err {
	ENG_ERR_NONE = 0,
	ENG_ERR_BAD_REQUEST,      /* malformed or ambiguous request (400) */
	ENG_ERR_HEAD_TOO_BIG,     /* 431; 414 for a request line */
	ENG_ERR_HEADER_TIMEOUT,   /* 408 */
	ENG_ERR_DNS,              /* 502, host does not resolve */
	ENG_ERR_CONNECT,          /* 502, refused or unreachable */
	ENG_ERR_CONNECT_TIMEOUT,  /* 504 */
	ENG_ERR_UPSTREAM_TIMEOUT, /* 504 */
	ENG_ERR_BAD_RESPONSE,     /* 502, malformed upstream response */
	ENG_ERR_UPSTREAM_CLOSED,  /* upstream closed mid-response */
	ENG_ERR_CLIENT_CLOSED,    /* client went away mid-exchange */
	ENG_ERR_OVERLOAD,         /* 503, a pool was exhausted */
	ENG_ERR_SHUTDOWN,         /* grace period ran out */
	ENG_ERR_TLS_CLIENT,       /* TLS handshake with the client failed */
	ENG_ERR_TLS_UPSTREAM,     /* 502, upstream TLS or its certificate */
	ENG_ERR_AUTH,             /* 407, missing or wrong Proxy-Authorization */
	ENG_ERR_AUTH_LIMITED,     /* 429, too many auth failures from the address */
	ENG_ERR_FORBIDDEN,        /* 403, CONNECT port or upstream address refused */
	ENG_ERR_CLIENT_LIMIT,     /* 503, --max-conns-per-client */
	ENG_ERR_CERT_REFUSED,     /* the client refused our certificate (pinned,
				   * or the CA not installed): its tunnel ends */
	ENG_ERR_COUNT
};

/* Exchange flags. */
#define ENG_X_TUNNEL     0x01u  /* CONNECT: bytes only */
#define ENG_X_UPGRADE    0x02u  /* 101 Switching Protocols, then bytes */
#define ENG_X_LOCAL      0x04u  /* answered by the proxy itself */
#define ENG_X_REUSED     0x08u  /* upstream came from the idle pool */
#define ENG_X_TLS        0x10u  /* inside an intercepted TLS tunnel: https */
#define ENG_X_H2         0x20u  /* an HTTP/2 stream (forwarded upstream as HTTP/1.1) */

/* What a CONNECT tunnel was (struct eng_xchg.tunnel); 0 for other requests. */
enum eng_tunnel {
	ENG_TUN_NONE = 0,
	ENG_TUN_INTERCEPTED,  /* TLS intercepted: its requests are the exchanges that follow */
	ENG_TUN_PASSTHROUGH,  /* blind: --passthrough matched the CONNECT host or the SNI */
	ENG_TUN_NOT_TLS,      /* blind: the first flight was not a TLS ClientHello */
	ENG_TUN_REFUSED,      /* the client aborted the handshake or refused our certificate */
	ENG_TUN_BLIND,        /* blind: interception is off (no CA) */
};

/*
 * One exchange as the engine saw it. Valid during each sink call only; a
 * sink that keeps anything copies it. Times are CLOCK_REALTIME ns for
 * start_ns and CLOCK_MONOTONIC ns offsets from start for the rest (0 = did
 * not happen).
 */
struct eng_xchg {
	uint64_t seq;                     /* per worker, from 1 */
	unsigned worker;
	struct sockaddr_storage client;
	/* the upstream address connected to (or of the pooled connection
	 * reused; for a CONNECT, the tunnel's target); ss_family 0 while
	 * none is (a failed look-up or connect, an answer of the proxy's own) */
	struct sockaddr_storage server;
	uint64_t start_ns;                /* wall clock, first request byte */
	uint64_t dns_ns, connect_ns, request_sent_ns, first_byte_ns, end_ns;
	const char *method; size_t method_len;
	const char *url; size_t url_len;  /* as the client sent it */
	/* --identify-by auth: the Proxy-Authorization user name (NULL: none) */
	const char *client_name; size_t client_name_len;
	const char *host; size_t host_len;
	uint16_t port;
	uint8_t http_minor;
	uint16_t status;                  /* 0 until a response head */
	uint64_t request_head_bytes, request_body_bytes;   /* on the wire */
	uint64_t response_head_bytes, response_body_bytes; /* on the wire */
	uint32_t flags;                   /* ENG_X_* */
	uint8_t tunnel;                   /* enum eng_tunnel, set by the end of a CONNECT */
	enum eng_err err;
};

/*
 * Capture sink. open() runs once in each worker thread and returns that
 * worker's context; every other call happens in the same worker, on the hot
 * path, and must not block. begin() returns a per-exchange handle, or NULL
 * to skip the exchange (nothing more is offered for it). Body bytes are
 * offered as they stream, decoded of chunked framing, never collected: a
 * sink that keeps them writes them out or drops them.
 */
/* One write (or fsync) a sink asks the engine to do through the worker's
 * ring: pwrite(fd, buf, len, off), or fsync(fd). */
struct eng_sink_io {
	int fd;
	bool fsync;
	const void *buf;
	uint32_t len;
	uint64_t off;
	/* set: openat(AT_FDCWD, path, open_flags, open_mode) on the ring
	 * (IORING_OP_OPENAT), the new fd or -errno to io_done (segment
	 * rotation: no worker blocks on the file system) */
	const char *path;
	int open_flags;
	uint32_t open_mode;
};

/* One piece of a WebSocket message after a 101 (sink op ws_msg; engine/
 * ws.h). Pieces of one direction come in order: a piece with
 * ENG_WS_FIRST opens a data message (text, binary), the pieces after it
 * continue it until one with ENG_WS_LAST; a control message (close, ping,
 * pong) is one piece with both and may come between pieces of a data
 * message of the same direction. */
struct eng_ws_msg {
	enum eng_dir dir;       /* ENG_DIR_REQUEST: client to server */
	uint8_t opcode;         /* 1 text, 2 binary, 8 close, 9 ping, 10 pong */
	uint8_t flags;          /* ENG_WS_* */
	uint64_t start_ns;      /* wall clock when its first frame header arrived */
	uint64_t len;           /* payload bytes up to the end of this piece
				 * (inflated when ENG_WS_DEFLATED) */
	uint64_t wire_len;      /* frame payload bytes on the wire up to here */
};
#define ENG_WS_FIRST    0x01u  /* first piece of the message */
#define ENG_WS_LAST     0x02u  /* last piece: len is the message's length */
#define ENG_WS_CUT      0x04u  /* the engine could not follow all of it (inflate
				* bound or error, tunnel ended mid-message) */
#define ENG_WS_DEFLATED 0x08u  /* permessage-deflate on the wire, inflated here */

struct eng_sink_ops {
	void *(*open)(void *arg, unsigned worker);
	void *(*begin)(void *ctx, const struct eng_xchg *x,
		       const char *head, size_t head_len);
	void (*body)(void *ctx, void *h, enum eng_dir dir, const char *p, size_t n);
	/* false: the sink cannot take n more body bytes now; the engine stops
	 * reading that side (back-pressure) until the sink's next io_done */
	bool (*room)(void *ctx, void *h, size_t n);
	void (*response)(void *ctx, void *h, const struct eng_xchg *x,
			 const char *head, size_t head_len);
	void (*end)(void *ctx, void *h, const struct eng_xchg *x);
	/* I/O: after every completion batch and timer tick the engine asks
	 * next_io for a write and submits it (one at a time per worker); its
	 * result comes back in io_done. tick gets the wall clock every tick
	 * (ENG_TICK_MS), for flushing by age. All optional. */
	bool (*next_io)(void *ctx, struct eng_sink_io *io);
	void (*io_done)(void *ctx, int res);
	void (*tick)(void *ctx, uint64_t wall_ns);
	/* at worker exit; may block (flushes what is left) */
	void (*close)(void *ctx);
	/* eng_config.sync: right after end(), ticket() names the exchange
	 * just ended (0: nothing to wait for, e.g. not stored); the engine
	 * holds the client's unsent bytes until durable(ticket) is true,
	 * asking again after every io_done. durable() must become true
	 * eventually (also when the store failed). Both optional. */
	uint64_t (*ticket)(void *ctx);
	bool (*durable)(void *ctx, uint64_t ticket);
	/* a piece of a WebSocket message of the exchange (its 101 came
	 * first); p (n bytes, unmasked, inflated) valid for the call only.
	 * Optional: without it upgraded connections are tunnelled blind. */
	void (*ws_msg)(void *ctx, void *h, const struct eng_ws_msg *m, const char *p, size_t n);
	/* the trailer section of one direction (an HTTP/1.1 chunked body's
	 * trailer fields; an HTTP/2 stream's trailing HEADERS, which reach
	 * the proxy as those), right before end() of an exchange that ended
	 * normally: n bytes of "Name: value\r\n" lines at p, valid for the
	 * call only, of a block of wire_len >= n bytes (the engine keeps half
	 * a head buffer per direction and counts the rest). Optional. */
	void (*trailers)(void *ctx, void *h, enum eng_dir dir, const char *p, size_t n,
			 size_t wire_len);
};

/* What an HTTP/2 client did that ringcap refused (counted per kind). */
enum eng_h2_bad {
	ENG_H2_BAD_PREFACE = 0,   /* not the client connection preface */
	ENG_H2_BAD_PROTOCOL,      /* connection error: GOAWAY PROTOCOL_ERROR etc. */
	ENG_H2_BAD_HPACK,         /* header compression error (HPACK bomb, bad index) */
	ENG_H2_BAD_FLOOD,         /* SETTINGS/PING/WINDOW_UPDATE/... flood: our acks pile up */
	ENG_H2_BAD_RAPID_RESET,   /* RST_STREAM over the rate limit (CVE-2023-44487) */
	ENG_H2_BAD_CONTINUATION,  /* too many CONTINUATION frames (CVE-2024-27316) */
	ENG_H2_BAD_HEADER,        /* a field nghttp2 refuses (bad name/value, pseudo) */
	ENG_H2_BAD_SMUGGLE,       /* refused before HTTP/1.1: CR/LF/colon, TE, CL clash */
	ENG_H2_BAD_STREAMS,       /* stream over --h2-max-streams: REFUSED_STREAM */
	ENG_H2_BAD_COUNT
};
const char *eng_h2_bad_name(enum eng_h2_bad k);

/* Counters, summed over workers by eng_counters(). */
struct eng_counters {
	uint64_t conns_accepted, conns_open, conns_rejected, conns_denied;
	uint64_t conns_unanswered;   /* of conns_rejected: closed without a 503 (a flood) */
	uint64_t requests, responses, tunnels, upgrades;
	uint64_t bytes_from_clients, bytes_to_clients;
	uint64_t bytes_from_upstreams, bytes_to_upstreams;
	uint64_t upstream_connects, upstream_reused;
	uint64_t zc_sends, zc_copied;
	uint64_t tls_handshakes, tls_failures, tls_cert_rejected;
	uint64_t tls_upstream_handshakes, tls_upstream_failures;
	uint64_t errors[ENG_ERR_COUNT];
	/* WebSocket (engine/px-ws.c): messages seen; upgrades left unobserved
	 * because ENG_WS_CONNS were busy; directions whose frames broke the
	 * protocol and were tunnelled on unobserved */
	uint64_t ws_messages, ws_unobserved, ws_broken;
	/* HTTP/2 (engine/h2.c): connections and streams served, and what
	 * hostile or broken peers did, per kind (enum eng_h2_bad) */
	uint64_t h2_conns, h2_streams;
	uint64_t h2_bad[ENG_H2_BAD_COUNT];
};

void eng_config_defaults(struct eng_config *c);

/* Probes the kernel, binds every listener and starts the workers.
 * Returns 0, or -errno with a sentence in err (NUL-terminated). */
int eng_start(struct eng **out, const struct eng_config *c, char *err, size_t err_len);

/* Stops accepting, lets in-flight exchanges finish up to grace_ms, joins
 * the workers and frees everything. */
void eng_stop(struct eng *e);

void eng_counters(const struct eng *e, struct eng_counters *out);

const char *eng_err_name(enum eng_err e);

/* Names whose clients refused the minted certificate, most first: copies
 * up to max entries, returns how many. */
struct eng_tls_reject { char name[64]; uint64_t count; };
unsigned eng_tls_rejects(struct eng *e, struct eng_tls_reject *out, unsigned max);

#endif
