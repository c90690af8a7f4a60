/*
 * client.c - the upstream SSL_CTX shared by all workers, and readable
 * verification failures.
 *
 * Trust: the system store (/etc/ssl/certs/ca-certificates.crt) unless
 * another file is given, plus --upstream-ca. Each connection checks the
 * host name (or IP literal) against the certificate. Verification can be
 * turned off for every host or for named ones ("*.x" covers any name
 * under x). The first verification error of a connection is turned into
 * a sentence in the verify callback, while the failing certificate is at
 * hand, and the engine shows it in the 502 page.
 *
 * Resumption: the newest session ticket per origin (host name, which is
 * the SNI, and port: "host:port") is kept serialized in a bounded LRU
 * shared by the workers (mutex held for a lookup or insert only) and
 * offered on the next connection to that origin. Verification mode is
 * fixed per host for the process, so a session made without verification
 * is never offered where verification is on; a resumed session was
 * verified when it was made, and a server can only accept it holding the
 * keys of its ticket: one that lost them (restarted, say) makes a full
 * handshake, whose certificate is verified again. Names too long to carry
 * their port in the key (over 247 bytes) are not cached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/is_boringssl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pool.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls-int.h"

#define TRUST_FILE_DEFAULT "/etc/ssl/certs/ca-certificates.crt"
#define REASON_NAMES_MAX 4 /* SAN entries quoted in a mismatch reason */

static const uint8_t alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static const uint8_t alpn_h2_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

static int client_trust(struct tls_client *c, const struct tls_client_opts *o,
			char *err, size_t err_len);
static int client_insecure_hosts(struct tls_client *c, const struct tls_client_opts *o,
				 char *err, size_t err_len);
static int client_sessions_init(struct tls_client *c, size_t capacity);
static void client_session_offer(struct tls_client *cl, struct tls_conn *c);

int tls_client_new(const struct tls_client_opts *o, struct tls_client **out,
		   char *err, size_t err_len)
{
	struct tls_client *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->insecure_all = o->insecure_all;
	c->ctx = SSL_CTX_new(TLS_method());
	if (c->ctx == NULL || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) ||
	    tls_ctx_set_groups(c->ctx) < 0) {
		tls_errf(err, err_len, "cannot create the upstream TLS context");
		goto out_free;
	}
	rc = client_trust(c, o, err, err_len);
	if (rc == 0)
		rc = client_insecure_hosts(c, o, err, err_len);
	if (rc < 0)
		goto out_free;
	if (!o->no_resumption)
		rc = client_sessions_init(c, o->session_capacity);
	if (rc < 0)
		goto out_free;
	SSL_CTX_set_info_callback(c->ctx, tls_conn_info_cb);
	tls_keylog_attach(o->keylog, c->ctx);
	*out = c;
	return 0;

out_free:
	tls_client_free(c);
	return rc;
}

void tls_client_free(struct tls_client *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ctx);
	if (c->resume) {
		tls_lru_fini(&c->sessions);
		pthread_mutex_destroy(&c->lock);
	}
	free(c->insecure);
	free(c);
}

bool tls_client_insecure_for(const struct tls_client *c, const char *host)
{
	size_t hl = strlen(host);

	if (c->insecure_all)
		return true;
	for (size_t i = 0; i < c->insecure_count; i++) {
		const char *pat = c->insecure[i];
		size_t pl = strlen(pat);

		if (strcmp(pat, host) == 0)
			return true;
		/* "*.x": pat + 1 is ".x", which host must end with. */
		if (pat[0] == '*' && hl > pl - 1 &&
		    memcmp(host + hl - (pl - 1), pat + 1, pl - 1) == 0)
			return true;
	}
	return false;
}

static int verify_cb(int ok, X509_STORE_CTX *st)
{
	SSL *ssl;
	struct tls_conn *c;

	if (ok)
		return 1;
	ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	if (c != NULL && !c->verify_failed) {
		c->verify_failed = true;
		tls_verify_reason(X509_STORE_CTX_get_error(st),
				  X509_STORE_CTX_get_current_cert(st), c->name, c->err,
				  sizeof(c->err));
	}
	return 0;
}

int tls_client_setup(struct tls_client *cl, struct tls_conn *c)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
	bool ip = tls_name_is_ip(c->name);
	bool insecure = tls_client_insecure_for(cl, c->name);

	/* RFC 6066 3: no IP literals in server_name. */
	if (!ip && !SSL_set_tlsext_host_name(c->ssl, c->name))
		return -ENOMEM;
	/* SSL_set_alpn_protos returns 0 on success. */
	if (cl->h2 ? SSL_set_alpn_protos(c->ssl, alpn_h2_http11, sizeof(alpn_h2_http11)) != 0
		   : SSL_set_alpn_protos(c->ssl, alpn_http11, sizeof(alpn_http11)) != 0)
		return -ENOMEM;
	client_session_offer(cl, c);
	if (insecure) {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(param, c->name)
	       : !X509_VERIFY_PARAM_set1_host(param, c->name, strlen(c->name)))
		return -ENOMEM;
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, verify_cb);
	return 0;
}

/* ---- reasons --------------------------------------------------------------- */

static void name_oneline(X509_NAME *n, char *buf, size_t len)
{
	if (n == NULL || X509_NAME_oneline(n, buf, (int)len) == NULL)
		snprintf(buf, len, "?");
}

/* Appends the DNS and IP SANs of CERT (or its CN when it has none). */
static void cert_names(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0, shown = 0, used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && shown < REASON_NAMES_MAX && used < len; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s = g->type == GEN_DNS ? g->d.dNSName
				       : g->type == GEN_IPADD ? g->d.iPAddress : NULL;
		char ip[48];
		int w;

		if (s == NULL)
			continue;
		if (g->type == GEN_IPADD) {
			int af = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;

			if ((ASN1_STRING_length(s) != 4 && ASN1_STRING_length(s) != 16) ||
			    inet_ntop(af, ASN1_STRING_get0_data(s), ip, sizeof(ip)) == NULL)
				snprintf(ip, sizeof(ip), "(bad IP)");
			w = snprintf(buf + used, len - used, "%s%s", shown ? ", " : "", ip);
		} else {
			w = snprintf(buf + used, len - used, "%s%.*s", shown ? ", " : "",
				     ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
		}
		used += w > 0 ? (size_t)w : 0;
		shown++;
	}
	if (n > shown && used + 16 < len)
		snprintf(buf + used, len - used, " (+%zu more)", n - shown);
	if (shown == 0)
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
					  (int)len);
	if (buf[0] == '\0')
		snprintf(buf, len, "no name");
	GENERAL_NAMES_free(gens);
}

static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	const uint8_t *data;
	size_t n = 0;

	buf[0] = '\0';
	if (bio != NULL && ASN1_TIME_print(bio, t) && BIO_mem_contents(bio, &data, &n))
		snprintf(buf, len, "%.*s", (int)n, (const char *)data);
	BIO_free(bio);
}

void tls_verify_reason(long x509_err, X509 *cert, const char *wanted,
		       char *buf, size_t len)
{
	char what[160], when[40];

	switch (x509_err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (cert == NULL)
			break;
		time_text(X509_get0_notAfter(cert), when, sizeof(when));
		tls_errf(buf, len, "certificate expired (notAfter %s)", when);
		return;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (cert == NULL)
			break;
		time_text(X509_get0_notBefore(cert), when, sizeof(when));
		tls_errf(buf, len, "certificate not yet valid (notBefore %s)", when);
		return;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		if (cert == NULL)
			break;
		name_oneline(X509_get_issuer_name(cert), what, sizeof(what));
		tls_errf(buf, len, "unknown issuer: %s", what);
		return;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		if (cert == NULL)
			break;
		cert_names(cert, what, sizeof(what));
		tls_errf(buf, len, "name mismatch: cert for %s, wanted %s", what,
			 wanted != NULL ? wanted : "?");
		return;
	default:
		break;
	}
	if (x509_err == X509_V_ERR_CERT_HAS_EXPIRED)
		tls_errf(buf, len, "certificate expired");
	else if (x509_err == X509_V_ERR_HOSTNAME_MISMATCH)
		tls_errf(buf, len, "name mismatch: wanted %s", wanted != NULL ? wanted : "?");
	else
		tls_errf(buf, len, "certificate verify failed: %s",
			 X509_verify_cert_error_string(x509_err));
}

/* ---- helpers --------------------------------------------------------------- */

static int client_trust(struct tls_client *c, const struct tls_client_opts *o,
			char *err, size_t err_len)
{
	const char *trust = o->trust_file != NULL ? o->trust_file : TRUST_FILE_DEFAULT;

	if (!SSL_CTX_load_verify_locations(c->ctx, trust, NULL)) {
		ERR_clear_error();
		tls_errf(err, err_len, "cannot load trust store %s", trust);
		return -ENOENT;
	}
	if (o->extra_ca_file != NULL &&
	    !SSL_CTX_load_verify_locations(c->ctx, o->extra_ca_file, NULL)) {
		ERR_clear_error();
		tls_errf(err, err_len, "cannot load upstream CA file %s: no PEM certificate",
			 o->extra_ca_file);
		return -EINVAL;
	}
	return 0;
}

static int client_insecure_hosts(struct tls_client *c, const struct tls_client_opts *o,
				 char *err, size_t err_len)
{
	if (o->insecure_count > TLS_INSECURE_HOSTS_MAX) {
		tls_errf(err, err_len, "too many insecure hosts (%zu, at most %d)",
			 o->insecure_count, TLS_INSECURE_HOSTS_MAX);
		return -E2BIG;
	}
	if (o->insecure_count == 0)
		return 0;
	c->insecure = calloc(o->insecure_count, sizeof(*c->insecure));
	if (c->insecure == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < o->insecure_count; i++) {
		const char *h = o->insecure_hosts[i];

		if (tls_name_normalize(h, strlen(h), c->insecure[i]) < 0) {
			tls_errf(err, err_len, "invalid insecure host '%s'", h);
			return -EINVAL;
		}
	}
	c->insecure_count = o->insecure_count;
	return 0;
}

/* The session cache key of C's origin into KEY: "host:port", or "host"
 * when the port is unknown. Returns its length, 0 when it does not fit. */
static size_t session_key(const struct tls_conn *c, char key[TLS_NAME_MAX + 1])
{
	int n = c->port != 0 ? snprintf(key, TLS_NAME_MAX + 1, "%s:%u", c->name, c->port)
			     : snprintf(key, TLS_NAME_MAX + 1, "%s", c->name);

	return n > 0 && n <= TLS_NAME_MAX ? (size_t)n : 0;
}

/* New session (ticket) on an upstream connection: keep it for the origin.
 * Returns 0: BoringSSL keeps ownership of SESS. */
static int session_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_conn *c = SSL_get_app_data(ssl);
	struct tls_client *cl = c != NULL ? c->cl : NULL;
	uint8_t *der = NULL;
	size_t len = 0, key_len;
	CRYPTO_BUFFER *buf;
	int64_t expires_s = (int64_t)time(NULL) + SSL_SESSION_get_timeout(sess);
	char key[TLS_NAME_MAX + 1];

	if (cl == NULL || (key_len = session_key(c, key)) == 0 ||
	    !SSL_SESSION_to_bytes(sess, &der, &len))
		return 0;
	buf = CRYPTO_BUFFER_new(der, len, NULL);
	OPENSSL_free(der);
	if (buf == NULL)
		return 0;
	pthread_mutex_lock(&cl->lock);
	tls_lru_put(&cl->sessions, key, key_len, buf, expires_s);
	pthread_mutex_unlock(&cl->lock);
	CRYPTO_BUFFER_free(buf);
	return 0;
}

static int client_sessions_init(struct tls_client *c, size_t capacity)
{
	int rc;

	if (capacity == 0)
		capacity = TLS_UPSTREAM_SESSIONS_DEFAULT;
	if (capacity > TLS_CACHE_MAX)
		return -EINVAL;
	rc = tls_lru_init(&c->sessions, (uint32_t)capacity);
	if (rc < 0)
		return rc;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		tls_lru_fini(&c->sessions);
		return -ENOMEM;
	}
	c->resume = true;
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT |
						       SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(c->ctx, session_new_cb);
	return 0;
}

/* Offers the kept session for C's origin, if any. */
static void client_session_offer(struct tls_client *cl, struct tls_conn *c)
{
	CRYPTO_BUFFER *buf;
	SSL_SESSION *sess = NULL;
	char key[TLS_NAME_MAX + 1];
	size_t key_len = session_key(c, key);

	if (!cl->resume || key_len == 0)
		return;
	pthread_mutex_lock(&cl->lock);
	buf = tls_lru_get(&cl->sessions, key, key_len, (int64_t)time(NULL), NULL);
	if (buf != NULL)
		CRYPTO_BUFFER_up_ref(buf);
	pthread_mutex_unlock(&cl->lock);
	if (buf == NULL)
		return;
	sess = SSL_SESSION_from_bytes(CRYPTO_BUFFER_data(buf), CRYPTO_BUFFER_len(buf), cl->ctx);
	CRYPTO_BUFFER_free(buf);
	if (sess != NULL)
		SSL_set_session(c->ssl, sess);
	SSL_SESSION_free(sess);
}

void tls_client_session_stats(struct tls_client *c, struct tls_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!c->resume)
		return;
	pthread_mutex_lock(&c->lock);
	*out = c->sessions.stats;
	out->entries = c->sessions.count;
	pthread_mutex_unlock(&c->lock);
}

void tls_client_set_h2(struct tls_client *c, bool on)
{
	c->h2 = on;
}
