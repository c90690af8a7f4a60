/*
 * mint.c - per-host leaf certificates signed by the install CA, and the
 * shared (cross-worker) leaf cache.
 *
 * A leaf: version 3, random 128-bit serial, issuer = CA subject, subject
 * O=ringcap plus CN=<name> when the name fits the 64-character CN bound,
 * notBefore = now - TLS_LEAF_BACKDATE_S, notAfter = notBefore +
 * TLS_LEAF_VALIDITY_DAYS (never past the CA's notAfter), the one process-
 * wide leaf key (ECDSA P-256), basicConstraints CA:FALSE critical, keyUsage
 * digitalSignature critical, EKU serverAuth, SAN dNSName or iPAddress,
 * authorityKeyIdentifier. Minting costs one ECDSA signature plus encoding.
 *
 * Locking: the shared cache mutex is held for lookups and inserts only,
 * never across a signature, so one worker minting never blocks another
 * worker's hits. Two workers missing the same name at once may both mint;
 * the second insert replaces the first, which is harmless.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/is_boringssl.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pool.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls-int.h"

#define CN_MAX 64 /* ub-common-name, RFC 5280 appendix A */

struct tls_mint {
	const struct tls_ca *ca;
	EVP_PKEY *leaf_key;          /* shared by every leaf of this process */
	int64_t ca_not_after_s;
	pthread_mutex_t lock;        /* guards shared and mints */
	struct tls_lru shared;
	uint64_t mints;
};

static X509 *leaf_build(struct tls_mint *m, const char *name, int64_t now_s,
			int64_t *not_after_s);
static int64_t asn1_time_unix(const ASN1_TIME *t);

int tls_mint_new(const struct tls_ca *ca, size_t shared_capacity,
		 struct tls_mint **out)
{
	struct tls_mint *m;
	int rc;

	*out = NULL;
	if (shared_capacity == 0)
		shared_capacity = TLS_CACHE_SHARED_DEFAULT;
	if (shared_capacity > TLS_CACHE_MAX)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->ca = ca;
	m->ca_not_after_s = asn1_time_unix(X509_get0_notAfter(tls_ca_x509(ca)));
	m->leaf_key = tls_p256_new();
	rc = m->leaf_key != NULL ? 0 : -ENOMEM;
	if (rc == 0)
		rc = tls_lru_init(&m->shared, (uint32_t)shared_capacity);
	if (rc == 0 && pthread_mutex_init(&m->lock, NULL) != 0) {
		tls_lru_fini(&m->shared);
		rc = -ENOMEM;
	}
	if (rc < 0) {
		EVP_PKEY_free(m->leaf_key);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void tls_mint_free(struct tls_mint *m)
{
	if (m == NULL)
		return;
	tls_lru_fini(&m->shared);
	pthread_mutex_destroy(&m->lock);
	EVP_PKEY_free(m->leaf_key);
	free(m);
}

/* Mints NAME; *EXPIRES_S is when caches must stop serving it. */
static int mint_leaf(struct tls_mint *m, const char *name, CRYPTO_BUFFER **out,
		     int64_t *expires_s)
{
	int64_t now_s = (int64_t)time(NULL), not_after_s = 0;
	X509 *x = leaf_build(m, name, now_s, &not_after_s);
	uint8_t *der = NULL;
	int len;

	*out = NULL;
	if (x == NULL)
		return -ENOMEM;
	len = i2d_X509(x, &der);
	X509_free(x);
	if (len <= 0)
		return -ENOMEM;
	*out = CRYPTO_BUFFER_new(der, (size_t)len, NULL);
	OPENSSL_free(der);
	if (*out == NULL)
		return -ENOMEM;
	*expires_s = not_after_s - TLS_LEAF_REFRESH_MARGIN_S;
	if (*expires_s <= now_s) /* CA about to expire: serve, but never cache */
		*expires_s = now_s;
	return 0;
}

int tls_mint_leaf(struct tls_mint *m, const char *name, CRYPTO_BUFFER **out)
{
	char norm[TLS_NAME_MAX + 1];
	int64_t expires_s;
	int rc;

	*out = NULL;
	if (tls_name_normalize(name, strlen(name), norm) < 0)
		return -EINVAL;
	rc = mint_leaf(m, norm, out, &expires_s);
	if (rc == 0) {
		pthread_mutex_lock(&m->lock);
		m->mints++;
		pthread_mutex_unlock(&m->lock);
	}
	return rc;
}

int tls_mint_get_exp(struct tls_mint *m, const char *name, CRYPTO_BUFFER **out,
		     int64_t *expires_s)
{
	size_t len = strlen(name);
	int64_t now_s = (int64_t)time(NULL);
	CRYPTO_BUFFER *leaf;
	int rc;

	*out = NULL;
	if (len == 0 || len > TLS_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	/* The worker cache keeps a leaf no longer than the shared one does. */
	leaf = tls_lru_get(&m->shared, name, len, now_s, expires_s);
	if (leaf != NULL)
		CRYPTO_BUFFER_up_ref(leaf);
	pthread_mutex_unlock(&m->lock);
	if (leaf != NULL) {
		*out = leaf;
		return 0;
	}
	rc = mint_leaf(m, name, &leaf, expires_s);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&m->lock);
	m->mints++;
	if (*expires_s > now_s)
		tls_lru_put(&m->shared, name, len, leaf, *expires_s);
	pthread_mutex_unlock(&m->lock);
	*out = leaf;
	return 0;
}

int tls_mint_get(struct tls_mint *m, const char *name, CRYPTO_BUFFER **out)
{
	int64_t expires_s;

	return tls_mint_get_exp(m, name, out, &expires_s);
}

void tls_mint_stats(struct tls_mint *m, struct tls_cache_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->shared.stats;
	out->mints = m->mints;
	pthread_mutex_unlock(&m->lock);
}

int tls_mint_apply(const struct tls_mint *m, SSL *ssl, CRYPTO_BUFFER *leaf)
{
	CRYPTO_BUFFER *chain[2] = {leaf, tls_ca_buffer(m->ca)};

	return SSL_set_chain_and_key(ssl, chain, 2, m->leaf_key, NULL) ? 0 : -ENOMEM;
}

/* ---- helpers --------------------------------------------------------------- */

static int leaf_set_names(X509 *x, X509 *ca, const char *name)
{
	X509_NAME *subj = X509_get_subject_name(x);
	size_t len = strlen(name);

	if (!X509_set_issuer_name(x, X509_get_subject_name(ca)))
		return -ENOMEM;
	if (!X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_UTF8,
					(const uint8_t *)"ringcap", -1, -1, 0))
		return -ENOMEM;
	/* Clients match on the SAN; CN is only for people reading the cert. */
	if (len <= CN_MAX &&
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
					(const uint8_t *)name, (int)len, -1, 0))
		return -ENOMEM;
	return 0;
}

static int leaf_set_validity(X509 *x, int64_t ca_not_after_s, int64_t now_s,
			     int64_t *not_after_s)
{
	int64_t nb = now_s - TLS_LEAF_BACKDATE_S;
	int64_t na = nb + (int64_t)TLS_LEAF_VALIDITY_DAYS * 24 * 60 * 60;

	if (na > ca_not_after_s)
		na = ca_not_after_s;
	*not_after_s = na;
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL)
		return -ENOMEM;
	return ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) != NULL ? 0 : -ENOMEM;
}

static X509 *leaf_build(struct tls_mint *m, const char *name, int64_t now_s,
			int64_t *not_after_s)
{
	X509 *ca = tls_ca_x509(m->ca);
	X509 *x = X509_new();
	int ok = x != NULL && X509_set_version(x, X509_VERSION_3);

	ok = ok && tls_x509_set_serial(x) == 0;
	ok = ok && leaf_set_names(x, ca, name) == 0;
	ok = ok && leaf_set_validity(x, m->ca_not_after_s, now_s, not_after_s) == 0;
	ok = ok && X509_set_pubkey(x, m->leaf_key);
	ok = ok && tls_x509_add_bc(x, false) == 0;
	ok = ok && tls_x509_add_ku(x, KU_DIGITAL_SIGNATURE) == 0;
	ok = ok && tls_x509_add_eku_server(x) == 0;
	ok = ok && tls_x509_add_san(x, name) == 0;
	ok = ok && tls_x509_add_aki(x, ca) == 0;
	ok = ok && X509_sign(x, tls_ca_pkey(m->ca), EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* ASN1_TIME to unix seconds; 0 when it cannot be read (then every leaf
 * gets clamped to it and is never cached, which is loud but safe). */
static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	int days = 0, secs = 0;
	int ok = epoch != NULL && ASN1_TIME_diff(&days, &secs, epoch, t);

	ASN1_TIME_free(epoch);
	return ok ? (int64_t)days * 86400 + secs : 0;
}
