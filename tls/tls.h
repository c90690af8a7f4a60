/*
 * tls.h - HTTPS interception building blocks on BoringSSL: the install CA,
 * per-host leaf minting with a per-worker and a shared cache, TLS over
 * memory buffers (io_uring does all socket I/O, BoringSSL only transforms
 * bytes), upstream verification, NSS key logging and ClientHello sniffing.
 *
 * Threads: tls_ca, tls_mint, tls_server, tls_client and tls_keylog are
 * built once at start-up and then shared by all workers (tls_mint guards its
 * cache with a mutex; the others are read-only after *_new). tls_leaf_cache
 * and tls_conn belong to one worker and are never touched by another.
 *
 * Wiring (what the engine and CLI do):
 *   start-up   tls_ca_open(data_dir) -> tls_mint_new -> tls_keylog_open
 *              (--keylog) -> tls_server_new, tls_client_new(--upstream-ca,
 *              --upstream-insecure); per worker tls_leaf_cache_new.
 *   CONNECT    tls_sniff_client_hello on the first bytes: -EPROTONOSUPPORT
 *              -> blind tunnel, -EAGAIN -> read more, -EBADMSG -> close,
 *              > 0 -> tls_conn_new_server(srv, worker cache, CONNECT host)
 *              and feed it the same bytes.
 *   loop       recv -> tls_conn_feed; tls_conn_handshake until 0; then
 *              tls_conn_read / tls_conn_write on plaintext; after every
 *              call send what tls_conn_take returns. Upstream the same with
 *              tls_conn_new_client(cl, host); on -EPROTO with
 *              tls_conn_verify_failed answer 502 with tls_conn_error.
 *   control    tls_ca_pem / tls_ca_der / tls_ca_p12 serve /ca.pem, /ca.crt,
 *              /ca.p12; `ringcap ca --export` uses tls_ca_export_file.
 *
 * Errors: actions return 0 or -errno; where a user needs to know what went
 * wrong, an (err, err_len) buffer receives a sentence naming the thing
 * (file, host, reason). BoringSSL types appear only as forward-declared
 * struct pointers, so callers need not include any OpenSSL header.
 */
#ifndef RINGCAP_TLS_H
#define RINGCAP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls/tls-limits.h"

struct x509_st;          /* BoringSSL X509 */
struct crypto_buffer_st; /* BoringSSL CRYPTO_BUFFER (DER bytes, refcounted) */
struct ssl_st;           /* BoringSSL SSL */

struct tls_ca;
struct tls_mint;
struct tls_leaf_cache;
struct tls_server;
struct tls_client;
struct tls_conn;
struct tls_keylog;

/* ---- Host names (name.c) ---------------------------------------------- */

/* Copies host name IN (LEN bytes, not NUL-terminated) into OUT lower-cased,
 * without a trailing dot and without IPv6 brackets. Accepts DNS names
 * (letters, digits, '-', '_', '.', optional leading "*." ) and IPv4/IPv6
 * literals. Returns the length written (OUT is NUL-terminated) or -EINVAL. */
int tls_name_normalize(const char *in, size_t len, char out[TLS_NAME_MAX + 1]);

/* True when NAME (normalized) is an IPv4 or IPv6 literal. */
bool tls_name_is_ip(const char *name);

/* ---- CA (ca.c) ---------------------------------------------------------- */

enum tls_ca_format {
	TLS_CA_PEM, /* ca.pem: PEM certificate (Linux, Firefox, macOS) */
	TLS_CA_DER, /* ca.crt / ca.cer: DER certificate (Android, iOS, Windows) */
	TLS_CA_P12, /* ca.p12: PKCS#12 with the certificate only, never the key */
};

/* Loads the CA from DIR (files ca-cert.pem and ca-key.pem, key mode 0600),
 * or generates it there when neither file exists. HOST (NULL: gethostname)
 * goes into the subject of a new CA. A CA found on disk is checked: key
 * matches the certificate, key file not readable by group or others.
 * Returns 0 and *OUT, or -errno with ERR filled. */
int tls_ca_open(const char *dir, const char *host, struct tls_ca **out,
		char *err, size_t err_len);
void tls_ca_free(struct tls_ca *ca);

/* True when tls_ca_open generated this CA (first start). */
bool tls_ca_created(const struct tls_ca *ca);
/* SHA-256 of the DER certificate, "AB:CD:..." upper-case hex. */
const char *tls_ca_fingerprint(const struct tls_ca *ca);
const char *tls_ca_cert_path(const struct tls_ca *ca);
const char *tls_ca_key_path(const struct tls_ca *ca);
/* Borrowed certificate (valid until tls_ca_free). */
struct x509_st *tls_ca_x509(const struct tls_ca *ca);

/* Borrowed encodings kept in memory for the control port and the
 * ringcap.cert page; valid until tls_ca_free. */
const uint8_t *tls_ca_pem(const struct tls_ca *ca, size_t *len);
const uint8_t *tls_ca_der(const struct tls_ca *ca, size_t *len);
/* The PKCS#12 encoding with an empty password, built at open. */
const uint8_t *tls_ca_p12(const struct tls_ca *ca, size_t *len);

/* Encodes the CA as FMT into a malloc'd buffer (*OUT, caller frees with
 * free()). PASSWORD applies to TLS_CA_P12 only (NULL: empty password). */
int tls_ca_export(const struct tls_ca *ca, enum tls_ca_format fmt,
		  const char *password, uint8_t **out, size_t *out_len);
/* Same, written atomically to PATH with mode 0644. */
int tls_ca_export_file(const struct tls_ca *ca, enum tls_ca_format fmt,
		       const char *password, const char *path);
/* "pem", "der", "crt", "cer", "p12", "pfx" -> format; -EINVAL otherwise. */
int tls_ca_format_parse(const char *name, enum tls_ca_format *out);

/* ---- Leaf minting and caches (mint.c, cache.c) ------------------------- */

struct tls_cache_stats {
	uint64_t hits;      /* lookups answered from this cache */
	uint64_t misses;    /* lookups that went to the next level */
	uint64_t evictions; /* least recently used entries dropped */
	uint64_t mints;     /* leaves signed (shared cache only) */
	uint32_t entries;   /* entries held now */
};

/* Creates the shared minter: one ECDSA P-256 leaf key for the process and
 * a mutex-protected LRU of SHARED_CAPACITY leaves (0: default). CA must
 * outlive the minter. */
int tls_mint_new(const struct tls_ca *ca, size_t shared_capacity,
		 struct tls_mint **out);
void tls_mint_free(struct tls_mint *m);

/* Signs a new leaf for normalized NAME (DNS name or IP literal) without
 * consulting any cache. *OUT is a new reference (CRYPTO_BUFFER_free). */
int tls_mint_leaf(struct tls_mint *m, const char *name,
		  struct crypto_buffer_st **out);
/* Shared cache lookup, minting on a miss (the signature happens outside
 * the lock). *OUT is a new reference. */
int tls_mint_get(struct tls_mint *m, const char *name,
		 struct crypto_buffer_st **out);
void tls_mint_stats(struct tls_mint *m, struct tls_cache_stats *out);

/* Puts LEAF (from this minter) plus the CA certificate and the shared leaf
 * key on server SSL. Returns 0 or -ENOMEM. */
int tls_mint_apply(const struct tls_mint *m, struct ssl_st *ssl,
		   struct crypto_buffer_st *leaf);

/* Per-worker LRU of CAPACITY leaves (0: default), in front of M. All
 * memory is allocated here; a hit allocates nothing. */
int tls_leaf_cache_new(struct tls_mint *m, size_t capacity,
		       struct tls_leaf_cache **out);
void tls_leaf_cache_free(struct tls_leaf_cache *c);
/* Leaf for normalized NAME: worker cache, then shared cache, then a mint.
 * *OUT is borrowed: valid until the next call on C (apply it at once;
 * BoringSSL takes its own reference). */
int tls_leaf_cache_get(struct tls_leaf_cache *c, const char *name,
		       struct crypto_buffer_st **out);
void tls_leaf_cache_stats(const struct tls_leaf_cache *c,
			  struct tls_cache_stats *out);

/* ---- Key log (keylog.c) ------------------------------------------------- */

/* Opens PATH for appending NSS key log lines (mode 0600, created if
 * missing). One write(2) per line with O_APPEND, so lines of several
 * workers never interleave; this is the one blocking call tls/ makes on
 * the data path and it only happens when --keylog is given. */
int tls_keylog_open(const char *path, struct tls_keylog **out);
void tls_keylog_close(struct tls_keylog *kl);
/* Lines written and lines lost to write errors. */
void tls_keylog_counts(const struct tls_keylog *kl, uint64_t *written,
		       uint64_t *failed);

/* ---- Client-facing and upstream contexts (server.c, client.c) ----------- */

/* Client-facing context: TLS 1.2 and 1.3, ALPN http/1.1, leaf chosen per
 * connection from SNI (or the fallback name given to tls_conn_new_server).
 * KEYLOG may be NULL. M and KEYLOG must outlive it. */
int tls_server_new(struct tls_mint *m, struct tls_keylog *keylog,
		   struct tls_server **out);
void tls_server_free(struct tls_server *s);
/* Lets ALPN select h2 when the client offers it (off after
 * tls_server_new). Set before the server is shared with workers. */
void tls_server_set_h2(struct tls_server *s, bool on);

/* Session tickets (ticket.c): resumption for clients, TLS 1.2 tickets and
 * TLS 1.3 PSKs, sealed with a key kept in memory and shared by all
 * workers. The key is replaced every ROTATE_S seconds (default
 * TLS_TICKET_ROTATE_S_DEFAULT, --tls-ticket-rotate); a ticket lives that
 * long and opens until its key is two rotations old. Set it before any
 * connection uses S; -EINVAL when out of range. */
int tls_server_set_ticket_rotate(struct tls_server *s, uint32_t rotate_s);
/* Rotates now, as if the interval had passed (tests). */
void tls_server_rotate_tickets(struct tls_server *s);
/* Rotations so far. */
uint64_t tls_server_ticket_rotations(struct tls_server *s);

struct tls_client_opts {
	/* Trust store; NULL: /etc/ssl/certs/ca-certificates.crt. */
	const char *trust_file;
	/* Extra trust anchors (--upstream-ca FILE); NULL: none. */
	const char *extra_ca_file;
	/* Verification off for every upstream (--upstream-insecure alone). */
	bool insecure_all;
	/* Verification off for these hosts only (exact, or "*.suffix"). */
	const char *const *insecure_hosts;
	size_t insecure_count;
	/* NSS key log for upstream connections; may be NULL. */
	struct tls_keylog *keylog;
	/* Resume upstream sessions (newest ticket per origin: host name,
	 * which is the SNI, and port; shared by all workers): saves the
	 * origin's full handshake on each new upstream connection. Capacity
	 * 0: TLS_UPSTREAM_SESSIONS_DEFAULT (--upstream-sessions). */
	bool no_resumption;
	size_t session_capacity;
};

int tls_client_new(const struct tls_client_opts *opts, struct tls_client **out,
		   char *err, size_t err_len);
void tls_client_free(struct tls_client *c);
/* Offers h2 before http/1.1 in ALPN to upstreams (off after
 * tls_client_new); the engine then speaks HTTP/2 to an origin that
 * selects it (engine/h2up.c). Set before workers share c. */
void tls_client_set_h2(struct tls_client *c, bool on);
/* True when verification is off for normalized HOST. */
bool tls_client_insecure_for(const struct tls_client *c, const char *host);
/* The upstream session cache: hits and misses of offers, evictions,
 * entries held (all zero when resumption is off). */
void tls_client_session_stats(struct tls_client *c, struct tls_cache_stats *out);

/* Writes a readable reason for X509 verification error X509_ERR (an
 * X509_V_ERR_* value) on CERT (may be NULL) when WANTED (may be NULL) was
 * the host asked for: "certificate expired", "unknown issuer", "name
 * mismatch: cert for a.example, b.example, wanted c.example". */
void tls_verify_reason(long x509_err, struct x509_st *cert, const char *wanted,
		       char *buf, size_t len);

/* ---- TLS over memory (conn.c) ------------------------------------------- */

/* Server role for a client-facing connection. CACHE is the worker's leaf
 * cache; FALLBACK_NAME (the CONNECT host, normalized here; may be NULL) is
 * minted for when the ClientHello carries no valid SNI. */
int tls_conn_new_server(struct tls_server *s, struct tls_leaf_cache *cache,
			const char *fallback_name, struct tls_conn **out);
/* Client role for an upstream connection to HOST (normalized here; -EINVAL
 * when it is not a host name or IP literal): SNI (DNS names only), ALPN
 * http/1.1, verification per C's options, the host's last session offered
 * for resumption. */
int tls_conn_new_client(struct tls_client *c, const char *host,
			struct tls_conn **out);
/* The same for the origin HOST:PORT: the session offered and kept is that
 * origin's (its SNI is HOST, so the key is host name and port). PORT 0
 * keys by HOST alone, as tls_conn_new_client does. */
int tls_conn_new_client_at(struct tls_client *c, const char *host, uint16_t port,
			   struct tls_conn **out);
void tls_conn_free(struct tls_conn *c);

/* ---- Per-worker pools for connections (pool.c) -------------------------- */

/* A worker's TLS memory, sized once: CONNS connection states, IN_BUFS
 * inbound (TLS_CONN_IN_BYTES) and OUT_BUFS outbound (TLS_CONN_OUT_BYTES)
 * ciphertext buffers, borrowed by a connection only while bytes wait in
 * them. Pages are touched only as objects are first used. One thread uses
 * a pool; connections made from it are freed (tls_conn_free) on it too.
 * tls_conn_new_server/client above allocate from the heap instead: for
 * tools and tests, not for the data plane. */
struct tls_pool;
struct tls_pool_stats {
	uint64_t conns_max, conns_in_use;
	uint64_t in_bufs_max, in_bufs_in_use;
	uint64_t out_bufs_max, out_bufs_in_use;
	uint64_t conns_shed;    /* connections refused: no state left */
	uint64_t bufs_shed;     /* connections failed: no buffer left for a burst */
};
int tls_pool_new(size_t conns, size_t in_bufs, size_t out_bufs, struct tls_pool **out);
void tls_pool_free(struct tls_pool *p);
void tls_pool_stats(const struct tls_pool *p, struct tls_pool_stats *out);
/* tls_conn_new_server/client with the state and buffers from POOL. An
 * exhausted pool returns -ENOBUFS (the caller sheds the connection); a
 * burst that finds no buffer fails the connection (-EPROTO from the next
 * call, tls_conn_error says why). Both are counted in the pool's stats. */
int tls_pool_server_conn(struct tls_pool *pool, struct tls_server *s,
			 struct tls_leaf_cache *cache, const char *fallback_name,
			 struct tls_conn **out);
int tls_pool_client_conn(struct tls_pool *pool, struct tls_client *c, const char *host,
			 struct tls_conn **out);
int tls_pool_client_conn_at(struct tls_pool *pool, struct tls_client *c, const char *host,
			    uint16_t port, struct tls_conn **out);

/* Ciphertext from the socket. Returns bytes accepted (may be fewer than
 * LEN, 0 when the inbound buffer is full: read plaintext first). */
size_t tls_conn_feed(struct tls_conn *c, const void *buf, size_t len);
/* Bytes tls_conn_feed would accept now (size the next recv by it). */
size_t tls_conn_feed_room(const struct tls_conn *c);
/* The peer closed its side of the TCP connection. */
void tls_conn_feed_eof(struct tls_conn *c);

/* Drives the handshake. Returns 0 when done, -EAGAIN when it needs more
 * input or its output drained (send tls_conn_take bytes, then feed), or
 * -EPROTO when it failed (tls_conn_error says why; pending output may hold
 * an alert worth sending). */
int tls_conn_handshake(struct tls_conn *c);

/* Plaintext in. Returns bytes read, 0 on the peer's close_notify,
 * -EAGAIN (feed more), -EPIPE (TCP EOF without close_notify), -EPROTO. */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);
/* False when tls_conn_read can only return -EAGAIN: no fed ciphertext
 * left, nothing buffered inside BoringSSL (a record's first half held
 * there counts as buffered: true, a wasted call), no EOF to report. Lets the
 * caller skip a call that would fail (each SSL_read clears the thread's
 * 16-entry error queue, the largest share of a 100 B exchange's TLS
 * bookkeeping measured in bench/tls.sh's keep-alive case). */
bool tls_conn_read_ready(const struct tls_conn *c);
/* Plaintext out. Seals as much of BUF as the outbound buffer has room
 * for; returns bytes consumed, -EAGAIN when full (take output first) or
 * -EPROTO. Bytes not consumed must start the next call (SSL_write's retry
 * rule). A TLS 1.3 server sends its session tickets with its first write. */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* Queues close_notify. Returns 0 or -EPROTO. */
int tls_conn_shutdown(struct tls_conn *c);

/* Without the copies (issue 16): a caller whose ciphertext sits in its
 * own buffers lends them around one read, handshake or write call instead
 * of feeding and taking. tls_conn_lend_in lends LEN received bytes at P
 * (read after anything tls_conn_feed queued); tls_conn_return_in ends the
 * loan and returns how many BoringSSL took (it reads one record at a time,
 * so the rest, a whole record or none, is still the caller's).
 * tls_conn_lend_out lends CAP bytes of room at P for sealed records;
 * tls_conn_return_out returns how many were written there. Records that
 * did not fit wait in the outbound buffer (tls_conn_take), and while it
 * holds any, new ones go behind them, never into the loan: bytes written
 * to the loan come before those. Loans never outlive the call they were
 * made for. */
void tls_conn_lend_in(struct tls_conn *c, const void *p, size_t len);
size_t tls_conn_return_in(struct tls_conn *c);
void tls_conn_lend_out(struct tls_conn *c, void *p, size_t cap);
size_t tls_conn_return_out(struct tls_conn *c);

/* Ciphertext waiting to be sent, and taking it (copies at most LEN bytes,
 * returns the count). */
size_t tls_conn_pending_out(const struct tls_conn *c);
size_t tls_conn_take(struct tls_conn *c, void *buf, size_t len);

bool tls_conn_handshake_done(const struct tls_conn *c);
/* The handshake resumed an earlier session (no certificate exchanged). */
bool tls_conn_resumed(const struct tls_conn *c);
/* Why the connection failed; "" while it has not. */
const char *tls_conn_error(const struct tls_conn *c);
/* True when the failure is the upstream certificate failing verification
 * (the engine answers 502 with tls_conn_error as the reason). */
bool tls_conn_verify_failed(const struct tls_conn *c);
/* Last alert the peer sent (TLS AlertDescription), or -1. */
int tls_conn_peer_alert(const struct tls_conn *c);
/* Server role: the peer refused our certificate (unknown_ca,
 * bad_certificate, certificate_unknown: typical of pinned apps; also
 * unsupported, revoked and expired certificate alerts). */
bool tls_conn_cert_rejected(const struct tls_conn *c);
/* Name the leaf was minted for (server) or the upstream host (client). */
const char *tls_conn_name(const struct tls_conn *c);
/* Negotiated ALPN protocol or "" and the version, "TLSv1.3" etc. */
const char *tls_conn_alpn(const struct tls_conn *c);
const char *tls_conn_version(const struct tls_conn *c);

/* ---- ClientHello sniffing (sniff.c) ------------------------------------- */

struct tls_hello {
	char sni[TLS_NAME_MAX + 1]; /* server_name host_name, NUL-terminated */
	size_t sni_len;             /* 0: no (usable) SNI */
	size_t hello_len;           /* bytes of records holding the hello */
	bool alpn_h2;               /* offers "h2" in ALPN */
	bool alpn_http11;           /* offers "http/1.1" in ALPN */
};

/* Looks at the first LEN bytes a client sent into a CONNECT tunnel. A pure
 * function: never reads outside BUF, never allocates. Returns:
 *   > 0               a complete TLS ClientHello; OUT filled, the value is
 *                     OUT->hello_len;
 *   -EAGAIN           looks like TLS so far, need more bytes;
 *   -EPROTONOSUPPORT  not TLS (tunnel blind);
 *   -EBADMSG          a TLS handshake record that is not a valid
 *                     ClientHello (close the connection).
 * An SNI that is not a valid host name leaves sni_len 0. */
int tls_sniff_client_hello(const uint8_t *buf, size_t len, struct tls_hello *out);

#endif
