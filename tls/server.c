/*
 * server.c - the client-facing SSL_CTX shared by all workers: TLS 1.2 and
 * 1.3, ALPN http/1.1, and a certificate picked per connection in the
 * select-certificate callback (before resumption is decided) from the
 * worker's leaf cache: SNI when it is a valid host name, otherwise the
 * CONNECT host the connection was created with. Session tickets with keys
 * of our own, rotated on an interval (ticket.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/is_boringssl.h>
#include <openssl/ssl.h>

#include "tls/tls-int.h"

static const uint8_t alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
/* Our preference first: h2, then http/1.1 (SSL_select_next_proto walks
 * this list and takes the first protocol the client also offers). */
static const uint8_t alpn_h2_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

/* Picks h2 when the client offers it and h2 is on (the engine then speaks
 * HTTP/2, engine/h2.c), else http/1.1; neither offered: no ALPN at all. */
static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *out_len,
		       const uint8_t *in, unsigned in_len, void *arg)
{
	const struct tls_server *s = arg;
	const uint8_t *ours = s->h2 ? alpn_h2_http11 : alpn_http11;
	unsigned ours_len = s->h2 ? sizeof(alpn_h2_http11) : sizeof(alpn_http11);
	uint8_t *sel = NULL;
	uint8_t sel_len = 0;

	if (SSL_select_next_proto(&sel, &sel_len, ours, ours_len, in,
				  in_len) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	*out_len = sel_len;
	return SSL_TLSEXT_ERR_OK;
}

static enum ssl_select_cert_result_t select_cert(const SSL_CLIENT_HELLO *hello)
{
	SSL *ssl = hello->ssl;
	struct tls_conn *c = SSL_get_app_data(ssl);
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char norm[TLS_NAME_MAX + 1];
	CRYPTO_BUFFER *leaf = NULL;
	int rc;

	if (sni != NULL && tls_name_normalize(sni, strlen(sni), norm) > 0)
		memcpy(c->name, norm, strlen(norm) + 1);
	if (c->name[0] == '\0') {
		tls_errf(c->err, sizeof(c->err), "no SNI and no CONNECT host to mint for");
		return ssl_select_cert_error;
	}
	rc = tls_leaf_cache_get(c->cache, c->name, &leaf);
	if (rc == 0)
		rc = tls_mint_apply(c->srv->mint, ssl, leaf);
	if (rc < 0) {
		tls_errf(c->err, sizeof(c->err), "cannot mint a leaf for %s: %s", c->name,
			 strerror(-rc));
		return ssl_select_cert_error;
	}
	return ssl_select_cert_success;
}

int tls_server_new(struct tls_mint *m, struct tls_keylog *keylog,
		   struct tls_server **out)
{
	struct tls_server *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->mint = m;
	s->ctx = SSL_CTX_new(TLS_method());
	if (s->ctx == NULL || !SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(s->ctx, TLS1_3_VERSION) ||
	    tls_ctx_set_groups(s->ctx) < 0) {
		tls_server_free(s);
		return -ENOMEM;
	}
	/* Resumption through tickets only: a session-ID cache would be one
	 * more lock and up to 20,000 sessions shared by all workers. The
	 * ticket keys are ours (ticket.c), rotated on --tls-ticket-rotate. */
	SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
	if (tls_tickets_init(&s->tickets, TLS_TICKET_ROTATE_S_DEFAULT) < 0) {
		tls_server_free(s);
		return -ENOMEM;
	}
	SSL_CTX_set_tlsext_ticket_key_cb(s->ctx, tls_ticket_key_cb);
	tls_server_set_ticket_rotate(s, TLS_TICKET_ROTATE_S_DEFAULT);
	SSL_CTX_set_select_certificate_cb(s->ctx, select_cert);
	SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, s);
	SSL_CTX_set_info_callback(s->ctx, tls_conn_info_cb);
	tls_keylog_attach(keylog, s->ctx);
	*out = s;
	return 0;
}

void tls_server_set_h2(struct tls_server *s, bool on)
{
	s->h2 = on;
}

void tls_server_free(struct tls_server *s)
{
	if (s == NULL)
		return;
	SSL_CTX_free(s->ctx);
	if (s->tickets.rotate_s != 0)   /* tls_tickets_init succeeded */
		tls_tickets_fini(&s->tickets);
	free(s);
}
