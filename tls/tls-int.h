/*
 * tls-int.h - declarations shared between the files of tls/ only (never
 * included outside the module): the LRU used by both leaf caches, CA
 * accessors for the minter, certificate helpers and atomic file writes.
 */
#ifndef RINGCAP_TLS_INT_H
#define RINGCAP_TLS_INT_H

#include <openssl/is_boringssl.h> /* a build against OpenSSL headers stops here */
#include <openssl/base.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tls/tls.h"

/* ---- LRU of leaves keyed by host name (lru.c) ------------------------- */

#define TLS_LRU_NONE UINT32_MAX /* "no entry" in every index link */

struct tls_lru_entry {
	uint32_t prev;        /* towards the most recently used end */
	uint32_t next;        /* towards the least recently used end; freelist */
	uint32_t chain;       /* next entry in the same hash bucket */
	uint8_t name_len;     /* bytes of name, <= TLS_NAME_MAX */
	bool used;            /* holds a leaf */
	uint64_t hash;        /* SipHash of name */
	int64_t expires_s;    /* unix time after which the leaf is not served */
	CRYPTO_BUFFER *leaf;  /* one reference owned by the entry */
	char name[TLS_NAME_MAX + 1];
};

struct tls_lru {
	struct tls_lru_entry *e; /* cap entries, allocated at init */
	uint32_t *bucket;        /* bucket_mask + 1 chain heads */
	uint32_t bucket_mask;
	uint32_t cap;
	uint32_t count;
	uint32_t head;           /* most recently used */
	uint32_t tail;           /* least recently used */
	uint32_t free_head;      /* unused entries, linked by next */
	uint64_t key[2];         /* random SipHash key: SNI is peer input */
	struct tls_cache_stats stats;
};

_Static_assert(TLS_NAME_MAX <= UINT8_MAX, "name_len fits in a byte");

int tls_lru_init(struct tls_lru *l, uint32_t cap);
void tls_lru_fini(struct tls_lru *l);
/* Borrowed leaf for NAME, or NULL (expired entries are dropped); its
 * expiry goes to *EXPIRES_S when that is not NULL. */
CRYPTO_BUFFER *tls_lru_get(struct tls_lru *l, const char *name, size_t len,
			   int64_t now_s, int64_t *expires_s);
/* Stores a new reference to LEAF under NAME, evicting the least recently
 * used entry when full and replacing an older leaf for the same name.
 * Returns LEAF (borrowed, held by the entry) or NULL when NAME is too long. */
CRYPTO_BUFFER *tls_lru_put(struct tls_lru *l, const char *name, size_t len,
			   CRYPTO_BUFFER *leaf, int64_t expires_s);

/* ---- Shared minter internals (mint.c) ---------------------------------- */

/* tls_mint_get that also reports when the leaf stops being served. */
int tls_mint_get_exp(struct tls_mint *m, const char *name, CRYPTO_BUFFER **out,
		     int64_t *expires_s);

/* ---- CA internals (ca.c) ------------------------------------------------ */

EVP_PKEY *tls_ca_pkey(const struct tls_ca *ca);
/* The CA certificate as a CRYPTO_BUFFER (borrowed). */
CRYPTO_BUFFER *tls_ca_buffer(const struct tls_ca *ca);

/* ---- Contexts and connections (server.c, client.c, conn.c) ------------- */

/* Session ticket keys of the client-facing side (ticket.c). */
struct tls_ticket_key {
	uint8_t name[16];            /* public: names the key in a ticket */
	uint8_t aes[32];             /* AES-256-CBC */
	uint8_t hmac[32];            /* HMAC-SHA256 */
};

struct tls_tickets {
	pthread_mutex_t lock;        /* guards everything below */
	uint32_t rotate_s;           /* interval between rotations */
	int64_t next_s;              /* CLOCK_MONOTONIC second of the next one */
	struct tls_ticket_key cur;   /* seals and opens */
	struct tls_ticket_key prev;  /* opens only (tickets are then renewed) */
	bool have_prev;
	uint64_t rotations;
};

struct tls_server {
	SSL_CTX *ctx;
	struct tls_mint *mint;
	struct tls_tickets tickets;  /* ticket.c */
	bool h2;                         /* ALPN may select h2 (tls_server_set_h2) */
};

struct tls_client {
	SSL_CTX *ctx;
	bool resume;                     /* sessions below are in use */
	bool h2;                         /* offer h2 in ALPN (tls_client_set_h2) */
	pthread_mutex_t lock;            /* guards sessions */
	struct tls_lru sessions;         /* host -> serialized SSL_SESSION */
	bool insecure_all;
	size_t insecure_count;
	char (*insecure)[TLS_NAME_MAX + 1]; /* normalized; "*.x" = any under x */
};

/* Ciphertext bytes [off, len) of a buffer of cap bytes, allocated on the
 * first byte in and freed when drained, so idle connections hold none. */
struct tls_buf {
	uint8_t *p;
	uint32_t off;
	uint32_t len;
	uint32_t cap;
};

struct tls_conn {
	SSL *ssl;                     /* app data points back here */
	struct tls_pool *pool;        /* state and buffers from here; NULL: heap */
	struct tls_buf in;            /* fed by the socket, read by BoringSSL */
	struct tls_buf out;           /* written by BoringSSL, taken by the socket */
	/* the caller's buffers lent for one call (tls_conn_lend_in/_out):
	 * BoringSSL reads ciphertext from, and writes it to, them in place */
	const uint8_t *lend_in;
	uint32_t lend_in_len, lend_in_used;
	uint8_t *lend_out;
	uint32_t lend_out_cap, lend_out_used;
	struct tls_leaf_cache *cache; /* server role: the worker's leaves */
	struct tls_server *srv;       /* server role */
	struct tls_client *cl;        /* client role */
	bool server;
	bool hs_done;
	bool failed;                  /* err holds why */
	bool verify_failed;           /* client role: certificate refused */
	bool eof;                     /* TCP EOF fed */
	int peer_alert;               /* last alert received, -1 none */
	char name[TLS_NAME_MAX + 1];  /* leaf name (server) or host (client) */
	uint16_t port;                /* client role: origin port, 0 unknown */
	char err[TLS_ERR_MAX];
};

/* Pool internals (pool.c): a zeroed state or NULL (counted as shed); a
 * ciphertext buffer (outbound: TLS_CONN_OUT_BYTES, else TLS_CONN_IN_BYTES)
 * or NULL (counted). */
struct tls_conn *tls_pool_conn_get(struct tls_pool *p);
void tls_pool_conn_put(struct tls_pool *p, struct tls_conn *c);
uint8_t *tls_pool_buf_get(struct tls_pool *p, bool outbound);
void tls_pool_buf_put(struct tls_pool *p, bool outbound, uint8_t *b);

/* Ticket keys (ticket.c): init with ROTATE_S in range (-EINVAL) or
 * -ENOMEM; the callback for SSL_CTX_set_tlsext_ticket_key_cb expects a
 * tls_conn with srv set as the SSL's app data. */
int tls_tickets_init(struct tls_tickets *t, uint32_t rotate_s);
void tls_tickets_fini(struct tls_tickets *t);
int tls_ticket_key_cb(SSL *ssl, uint8_t *name, uint8_t *iv, EVP_CIPHER_CTX *ectx,
		      HMAC_CTX *hctx, int encrypt);

/* Key exchange groups of both contexts, in order of preference: X25519
 * first (the cheapest, and what browsers send a key share for), then
 * P-256 and P-384 for peers without it. 0 or -ENOMEM. */
int tls_ctx_set_groups(SSL_CTX *ctx);

/* Creates C's SSL from CTX on C's buffers (app data = C). 0 or -ENOMEM. */
int tls_conn_init_ssl(struct tls_conn *c, SSL_CTX *ctx);
/* Records alerts the peer sends (SSL_CTX_set_info_callback). */
void tls_conn_info_cb(const SSL *ssl, int type, int value);
/* Client role: SNI, ALPN, host check and verify mode on C's SSL. */
int tls_client_setup(struct tls_client *cl, struct tls_conn *c);

/* ---- Key log (keylog.c) ------------------------------------------------- */

/* Makes CTX log keys to KL (may be NULL: nothing). Uses CTX's app data. */
void tls_keylog_attach(struct tls_keylog *kl, SSL_CTX *ctx);

/* ---- Certificate helpers (certutil.c) ---------------------------------- */

EVP_PKEY *tls_p256_new(void);
/* Adds critical basicConstraints with CA:TRUE or CA:FALSE. */
int tls_x509_add_bc(X509 *x, bool ca);
/* Adds critical keyUsage with the given KU_* bits. */
int tls_x509_add_ku(X509 *x, unsigned bits);
int tls_x509_add_eku_server(X509 *x);
/* subjectKeyIdentifier: SHA-1 of the subject public key (RFC 5280 4.2.1.2). */
int tls_x509_add_ski(X509 *x);
/* authorityKeyIdentifier with the keyid of ISSUER. */
int tls_x509_add_aki(X509 *x, X509 *issuer);
/* subjectAltName with one dNSName or iPAddress for normalized NAME. */
int tls_x509_add_san(X509 *x, const char *name);
/* 128-bit random positive serial. */
int tls_x509_set_serial(X509 *x);

/* Writes LEN bytes to PATH through a temporary file in the same directory
 * (fsync, then rename; with NOREPLACE a link that fails with -EEXIST when
 * PATH exists). MODE is applied with fchmod, ignoring the umask. */
int tls_write_atomic(const char *path, const void *buf, size_t len,
		     unsigned mode, bool noreplace);

/* Copies a formatted message into ERR when ERR is not NULL. */
void tls_errf(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
