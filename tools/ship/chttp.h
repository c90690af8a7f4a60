/*
 * tools/ship/chttp.h - the shipper's HTTP/1.1 client for ClickHouse's HTTP
 * interface: one keep-alive connection over a blocking socket with poll
 * timeouts (the shipper is its own process, far from the data plane), the
 * answer parsed by llhttp (no lenient flag). Not libcurl: its OpenSSL
 * symbols would clash with BoringSSL's in one binary. http:// or https://
 * (through tls/ over memory buffers, verified against the system trust
 * store plus --ca FILE unless --insecure).
 */
#ifndef RINGCAP_SHIP_CHTTP_H
#define RINGCAP_SHIP_CHTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "tools/lib/json.h"

#define RC_CH_HOST_MAX 255u
#define RC_CH_ANSWER_MAX (1u << 20) /* ClickHouse's answers to INSERT and DDL are short;
				     * an error text is cut here */

struct tls_client;
struct tls_conn;

struct rc_ch {
	char host[RC_CH_HOST_MAX + 1];
	char port[8];
	char user[64], password[128]; /* X-ClickHouse-User/-Key when user is set */
	int timeout_ms;               /* connect, and silence while sending or reading */
	int fd;                       /* -1 while not connected */
	struct tls_client *tls;       /* https: the client context; NULL for http */
	struct tls_conn *conn;        /* https: the connection's TLS, with fd */
	char tls_err[256];            /* why the last handshake failed */
};

/* Parses http[s]://HOST[:PORT][/] (user:password@ allowed; ports 8123 and
 * 8443 by default). For https, ca_file (may be NULL) adds trust anchors and
 * insecure turns verification off. 0 or -EINVAL with err naming the bad
 * part; rc_ch_close frees what it made. */
int rc_ch_init(struct rc_ch *c, const char *url, int timeout_ms, const char *ca_file,
	       bool insecure, char *err, size_t errlen);

/* POSTs body to /?query=QUERY (QUERY is URL-encoded here) and reads the
 * answer into ans (bounded by RC_CH_ANSWER_MAX). Returns the HTTP status
 * (200 = done), or -errno when the server could not be reached or the
 * connection broke (the caller retries; the connection is closed and
 * reopened on the next call). */
int rc_ch_post(struct rc_ch *c, const char *query, const void *body, size_t len,
	       struct rc_buf *ans);

/* Closes the connection (the next post opens one). */
void rc_ch_close(struct rc_ch *c);
/* Closes and frees the TLS context too. */
void rc_ch_free(struct rc_ch *c);

#endif
