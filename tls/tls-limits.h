/*
 * tls-limits.h - every bound of the tls/ module, with its unit and reason.
 *
 * Anything the engine or the CLI may tune is a default here and a field in
 * the matching *_new() call; everything else is fixed.
 */
#ifndef RINGCAP_TLS_LIMITS_H
#define RINGCAP_TLS_LIMITS_H

/* Longest host name we mint for or look up, in bytes without the NUL: a DNS
 * name is at most 253 characters (RFC 1035 2.3.4 in text form). IP literals
 * (at most 45 characters for IPv6 with an embedded IPv4) fit easily. */
#define TLS_NAME_MAX 253

/* Total leaf validity in days, notBefore to notAfter. Apple and Chrome
 * reject server certificates valid for more than 398 days; one day less
 * leaves room for clock rounding. */
#define TLS_LEAF_VALIDITY_DAYS 397

/* How far notBefore is set in the past, in seconds: devices whose clock runs
 * behind (phones after a reboot without network time) still accept a leaf
 * that was minted a moment ago. Counts against TLS_LEAF_VALIDITY_DAYS. */
#define TLS_LEAF_BACKDATE_S (24 * 60 * 60)

/* A cached leaf is treated as missing this long before its notAfter, in
 * seconds, so no handshake ever serves a leaf that expires mid-session. */
#define TLS_LEAF_REFRESH_MARGIN_S (24 * 60 * 60)

/* CA validity in days (about ten years): users install it once per device. */
#define TLS_CA_VALIDITY_DAYS 3650

/* Leaf cache sizes, in entries. A leaf is about 600 bytes of DER plus an
 * entry of ~300 bytes, so the shared default is ~14 MiB at most. */
#define TLS_CACHE_WORKER_DEFAULT 1024
#define TLS_CACHE_SHARED_DEFAULT 16384
/* Upper bound for either cache: keeps the index arithmetic in 32 bits and
 * memory under ~1 GiB even for a misconfigured run. */
#define TLS_CACHE_MAX (1u << 20)

/* Ciphertext buffered per connection, in bytes. Inbound: what tls_conn_feed
 * accepts before the caller must read plaintext (backpressure). Outbound:
 * one maximum-size record (16 KiB + overhead) plus a handshake flight must
 * fit, so a full record can always be sealed once the buffer is drained. */
#define TLS_CONN_IN_BYTES (16 * 1024)
#define TLS_CONN_OUT_BYTES (32 * 1024)

/* Largest plaintext per TLS record (RFC 8446 5.1) and a safe upper bound on
 * the bytes a record adds around it (header, explicit IV, MAC or tag,
 * padding) for every cipher suite BoringSSL offers at TLS 1.2 and 1.3. */
#define TLS_RECORD_PLAIN_MAX 16384
#define TLS_RECORD_OVERHEAD_MAX 320

/* Largest ClientHello body tls_sniff_client_hello accepts, in bytes. Real
 * ones are < 2 KiB (about 1.8 KiB with a post-quantum key share); anything
 * past this is refused as malformed rather than buffered. */
#define TLS_SNIFF_HELLO_MAX (16 * 1024)

/* Room for a readable error or verification reason, in bytes with NUL. */
#define TLS_ERR_MAX 256

/* Client-facing session ticket key rotation, in seconds (ticket.c,
 * --tls-ticket-rotate). A ticket lives one interval and its key opens for
 * two, so within an hour a returning phone or browser resumes, and a
 * stolen key opens at most two hours of TLS 1.2 sessions (TLS 1.3
 * resumption adds an ECDHE exchange). BoringSSL's own default is 48 h. The
 * minimum exists for tests that force a rotation; the maximum is a week,
 * BoringSSL's cap on a TLS 1.3 session's lifetime. */
#define TLS_TICKET_ROTATE_S_DEFAULT 3600u
#define TLS_TICKET_ROTATE_S_MIN 1u
#define TLS_TICKET_ROTATE_S_MAX (7u * 24 * 60 * 60)

/* Upstream TLS sessions kept for resumption (--upstream-sessions), one
 * per origin (host name = SNI, and port; the newest ticket), in entries of
 * ~2-4 KiB (the session holds the server's chain): at most ~4 MiB. */
#define TLS_UPSTREAM_SESSIONS_DEFAULT 1024

/* Named hosts with verification turned off (--upstream-insecure HOST...). */
#define TLS_INSECURE_HOSTS_MAX 64

/* Fingerprint text "AB:CD:..": 32 bytes as 2 hex digits + separator. */
#define TLS_FINGERPRINT_LEN (32 * 3)

_Static_assert(TLS_LEAF_BACKDATE_S < 7 * 24 * 60 * 60, "backdate stays small");
_Static_assert(TLS_LEAF_VALIDITY_DAYS <= 398, "Apple/Chrome leaf validity cap");
_Static_assert(TLS_CACHE_WORKER_DEFAULT <= TLS_CACHE_MAX, "worker default in range");
_Static_assert(TLS_CACHE_SHARED_DEFAULT <= TLS_CACHE_MAX, "shared default in range");
_Static_assert(TLS_CONN_OUT_BYTES >= TLS_RECORD_PLAIN_MAX + TLS_RECORD_OVERHEAD_MAX,
               "a full record fits the outbound buffer");

#endif
