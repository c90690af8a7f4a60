/*
 * ca.c - the install CA: generated once into the data directory, reloaded
 * on every later start, exported for client devices.
 *
 * Files in DIR:
 *   ca-key.pem   PKCS#8 PEM ECDSA P-256 private key, mode 0600. Written
 *                first, with link() so two starts racing cannot both win.
 *   ca-cert.pem  PEM certificate, mode 0644, written second.
 * A key without a certificate (a start interrupted between the two
 * writes) gets a new certificate for that key; a certificate without its
 * key is an error, because devices may already trust it.
 *
 * The CA: version 3, random 128-bit serial, subject O=ringcap,
 * OU=<host>, CN="ringcap CA <host> <8 random hex>" (unique per install, so two
 * installs on one network never collide in a device's trust store),
 * TLS_CA_VALIDITY_DAYS, basicConstraints CA:TRUE critical, keyUsage
 * keyCertSign|cRLSign critical, subjectKeyIdentifier, ecdsa-with-SHA256.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/is_boringssl.h>
#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/pkcs8.h>
#include <openssl/pool.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls-int.h"

#define CA_KEY_FILE "ca-key.pem"
#define CA_CERT_FILE "ca-cert.pem"
#define CA_PATH_MAX 4096
#define CA_P12_NAME "ringcap CA"

struct tls_ca {
	X509 *cert;
	EVP_PKEY *key;
	CRYPTO_BUFFER *buf;       /* DER, for SSL_set_chain_and_key */
	uint8_t *pem;             /* malloc'd */
	size_t pem_len;
	uint8_t *p12;             /* OPENSSL_malloc'd, empty password */
	size_t p12_len;
	bool created;
	char fingerprint[TLS_FINGERPRINT_LEN];
	char cert_path[CA_PATH_MAX];
	char key_path[CA_PATH_MAX];
};

static int ca_load_files(struct tls_ca *ca, bool have_key, bool have_cert,
			 const char *host, char *err, size_t err_len);
static int ca_finish(struct tls_ca *ca, char *err, size_t err_len);
static X509 *ca_build_cert(EVP_PKEY *key, const char *host);
static int ca_bio_bytes(BIO *bio, uint8_t **out, size_t *out_len);
static int p12_encode(const struct tls_ca *ca, const char *password,
		      uint8_t **out, size_t *out_len);

int tls_ca_open(const char *dir, const char *host, struct tls_ca **out,
		char *err, size_t err_len)
{
	struct tls_ca *ca;
	struct stat st;
	int rc = 0;

	*out = NULL;
	ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		return -ENOMEM;
	if (snprintf(ca->cert_path, sizeof(ca->cert_path), "%s/%s", dir, CA_CERT_FILE) >=
		    (int)sizeof(ca->cert_path) ||
	    snprintf(ca->key_path, sizeof(ca->key_path), "%s/%s", dir, CA_KEY_FILE) >=
		    (int)sizeof(ca->key_path)) {
		tls_errf(err, err_len, "data directory path too long: %s", dir);
		rc = -ENAMETOOLONG;
		goto out_free;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		tls_errf(err, err_len, "cannot create data directory %s: %s", dir, strerror(errno));
		goto out_free;
	}
	/* A concurrent first start may create a file between our stat and
	 * our link (-EEXIST); then we look again and load what it wrote.
	 * Files only ever appear (key, then certificate), so three passes
	 * always end: lose the key race, lose the certificate race, load. */
	for (int attempt = 0; attempt < 3; attempt++) {
		bool have_key = stat(ca->key_path, &st) == 0;
		bool have_cert = stat(ca->cert_path, &st) == 0;

		rc = ca_load_files(ca, have_key, have_cert, host, err, err_len);
		if (rc != -EEXIST)
			break;
	}
	if (rc == -EEXIST)
		tls_errf(err, err_len, "%s keeps changing under us: another ringcap "
			 "is creating its CA", dir);
	if (rc == 0)
		rc = ca_finish(ca, err, err_len);
	if (rc < 0)
		goto out_free;
	*out = ca;
	return 0;

out_free:
	tls_ca_free(ca);
	return rc;
}

void tls_ca_free(struct tls_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	CRYPTO_BUFFER_free(ca->buf);
	free(ca->pem);
	OPENSSL_free(ca->p12);
	free(ca);
}

bool tls_ca_created(const struct tls_ca *ca) { return ca->created; }
const char *tls_ca_fingerprint(const struct tls_ca *ca) { return ca->fingerprint; }
const char *tls_ca_cert_path(const struct tls_ca *ca) { return ca->cert_path; }
const char *tls_ca_key_path(const struct tls_ca *ca) { return ca->key_path; }
struct x509_st *tls_ca_x509(const struct tls_ca *ca) { return ca->cert; }
EVP_PKEY *tls_ca_pkey(const struct tls_ca *ca) { return ca->key; }
CRYPTO_BUFFER *tls_ca_buffer(const struct tls_ca *ca) { return ca->buf; }

const uint8_t *tls_ca_pem(const struct tls_ca *ca, size_t *len)
{
	*len = ca->pem_len;
	return ca->pem;
}

const uint8_t *tls_ca_der(const struct tls_ca *ca, size_t *len)
{
	*len = CRYPTO_BUFFER_len(ca->buf);
	return CRYPTO_BUFFER_data(ca->buf);
}

const uint8_t *tls_ca_p12(const struct tls_ca *ca, size_t *len)
{
	*len = ca->p12_len;
	return ca->p12;
}

int tls_ca_export(const struct tls_ca *ca, enum tls_ca_format fmt,
		  const char *password, uint8_t **out, size_t *out_len)
{
	const uint8_t *src;
	uint8_t *p12 = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	switch (fmt) {
	case TLS_CA_PEM:
		src = tls_ca_pem(ca, &len);
		break;
	case TLS_CA_DER:
		src = tls_ca_der(ca, &len);
		break;
	case TLS_CA_P12:
		rc = p12_encode(ca, password, &p12, &len);
		if (rc < 0)
			return rc;
		src = p12;
		break;
	default:
		return -EINVAL;
	}
	*out = malloc(len);
	if (*out != NULL) {
		memcpy(*out, src, len);
		*out_len = len;
	}
	OPENSSL_free(p12);
	return *out != NULL ? 0 : -ENOMEM;
}

int tls_ca_export_file(const struct tls_ca *ca, enum tls_ca_format fmt,
		       const char *password, const char *path)
{
	uint8_t *buf;
	size_t len;
	int rc = tls_ca_export(ca, fmt, password, &buf, &len);

	if (rc < 0)
		return rc;
	rc = tls_write_atomic(path, buf, len, 0644, false);
	free(buf);
	return rc;
}

int tls_ca_format_parse(const char *name, enum tls_ca_format *out)
{
	static const struct {
		const char *name;
		enum tls_ca_format fmt;
	} names[] = {
		{"pem", TLS_CA_PEM}, {"der", TLS_CA_DER}, {"crt", TLS_CA_DER},
		{"cer", TLS_CA_DER}, {"p12", TLS_CA_P12}, {"pfx", TLS_CA_P12},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].fmt;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- helpers --------------------------------------------------------------- */

static int key_read(struct tls_ca *ca, char *err, size_t err_len)
{
	struct stat st;
	BIO *bio;

	if (stat(ca->key_path, &st) < 0) {
		tls_errf(err, err_len, "cannot stat %s: %s", ca->key_path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & 077) {
		tls_errf(err, err_len, "%s is readable by others (mode %03o): chmod 600 it",
			 ca->key_path, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	bio = BIO_new_file(ca->key_path, "r");
	if (bio != NULL)
		ca->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (ca->key == NULL || EVP_PKEY_id(ca->key) != EVP_PKEY_EC) {
		tls_errf(err, err_len, "%s: not a PEM EC private key", ca->key_path);
		return -EINVAL;
	}
	return 0;
}

static int cert_read(struct tls_ca *ca, char *err, size_t err_len)
{
	BIO *bio = BIO_new_file(ca->cert_path, "r");

	if (bio != NULL)
		ca->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (ca->cert == NULL) {
		tls_errf(err, err_len, "%s: not a PEM certificate", ca->cert_path);
		return -EINVAL;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		tls_errf(err, err_len, "%s does not match the key in %s", ca->cert_path,
			 ca->key_path);
		return -EINVAL;
	}
	return 0;
}

static int key_create(struct tls_ca *ca, char *err, size_t err_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc = -ENOMEM;

	ca->key = tls_p256_new();
	if (bio == NULL || ca->key == NULL)
		goto out;
	if (!PEM_write_bio_PrivateKey(bio, ca->key, NULL, NULL, 0, NULL, NULL))
		goto out;
	rc = ca_bio_bytes(bio, &pem, &len);
	if (rc == 0)
		rc = tls_write_atomic(ca->key_path, pem, len, 0600, true);
	if (rc < 0 && rc != -EEXIST)
		tls_errf(err, err_len, "cannot write %s: %s", ca->key_path, strerror(-rc));
out:
	if (pem != NULL)
		OPENSSL_cleanse(pem, len);
	free(pem);
	BIO_free(bio);
	return rc;
}

static int cert_create(struct tls_ca *ca, const char *host, char *err, size_t err_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc = -ENOMEM;

	ca->cert = ca_build_cert(ca->key, host);
	if (bio == NULL || ca->cert == NULL || !PEM_write_bio_X509(bio, ca->cert))
		goto out;
	rc = ca_bio_bytes(bio, &pem, &len);
	if (rc == 0)
		rc = tls_write_atomic(ca->cert_path, pem, len, 0644, true);
	if (rc < 0 && rc != -EEXIST)
		tls_errf(err, err_len, "cannot write %s: %s", ca->cert_path, strerror(-rc));
	if (rc == 0)
		ca->created = true;
out:
	free(pem);
	BIO_free(bio);
	return rc;
}

/* Loads or creates key and certificate. -EEXIST: lost a creation race,
 * state reset, caller retries. */
static int ca_load_files(struct tls_ca *ca, bool have_key, bool have_cert,
			 const char *host, char *err, size_t err_len)
{
	int rc;

	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	ca->key = NULL;
	ca->cert = NULL;
	if (have_cert && !have_key) {
		tls_errf(err, err_len, "%s exists but its key %s is missing; "
			 "remove the certificate to generate a new CA", ca->cert_path,
			 ca->key_path);
		return -ENOENT;
	}
	rc = have_key ? key_read(ca, err, err_len) : key_create(ca, err, err_len);
	if (rc < 0)
		return rc;
	if (have_cert)
		return cert_read(ca, err, err_len);
	return cert_create(ca, host, err, err_len);
}

/* Builds the in-memory encodings and the fingerprint. */
static int ca_finish(struct tls_ca *ca, char *err, size_t err_len)
{
	uint8_t *der = NULL, md[32];
	unsigned md_len = 0;
	int der_len = i2d_X509(ca->cert, &der);
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -ENOMEM;

	if (der_len <= 0 || bio == NULL)
		goto out;
	ca->buf = CRYPTO_BUFFER_new(der, (size_t)der_len, NULL);
	if (ca->buf == NULL || !PEM_write_bio_X509(bio, ca->cert))
		goto out;
	rc = ca_bio_bytes(bio, &ca->pem, &ca->pem_len);
	if (rc == 0)
		rc = p12_encode(ca, NULL, &ca->p12, &ca->p12_len);
	if (rc == 0 && !X509_digest(ca->cert, EVP_sha256(), md, &md_len))
		rc = -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < md_len; i++)
		snprintf(ca->fingerprint + 3 * i, 4, i + 1 < md_len ? "%02X:" : "%02X", md[i]);
out:
	if (rc < 0)
		tls_errf(err, err_len, "cannot encode the CA certificate");
	OPENSSL_free(der);
	BIO_free(bio);
	return rc;
}

static int ca_set_name(X509 *x, const char *host)
{
	X509_NAME *name = X509_get_subject_name(x);
	char hostbuf[65] = "";
	char cn[64];
	uint8_t rnd[4];

	if (host == NULL) {
		if (gethostname(hostbuf, sizeof(hostbuf) - 1) < 0 || hostbuf[0] == '\0')
			snprintf(hostbuf, sizeof(hostbuf), "localhost");
		host = hostbuf;
	}
	RAND_bytes(rnd, sizeof(rnd));
	/* Trust store lists show the CN: name the box as well as the install. */
	snprintf(cn, sizeof(cn), "ringcap CA %.32s %02x%02x%02x%02x", host, rnd[0], rnd[1],
		 rnd[2], rnd[3]);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const uint8_t *)"ringcap", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const uint8_t *)host,
					(int)strnlen(host, 64), -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const uint8_t *)cn,
					-1, -1, 0))
		return -ENOMEM;
	return X509_set_issuer_name(x, name) ? 0 : -ENOMEM;
}

static X509 *ca_build_cert(EVP_PKEY *key, const char *host)
{
	X509 *x = X509_new();
	int ok = x != NULL && X509_set_version(x, X509_VERSION_3);

	ok = ok && tls_x509_set_serial(x) == 0;
	ok = ok && ca_set_name(x, host) == 0;
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -TLS_LEAF_BACKDATE_S) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(x),
				   (long)TLS_CA_VALIDITY_DAYS * 24 * 60 * 60) != NULL;
	ok = ok && X509_set_pubkey(x, key);
	ok = ok && tls_x509_add_bc(x, true) == 0;
	ok = ok && tls_x509_add_ku(x, KU_KEY_CERT_SIGN | KU_CRL_SIGN) == 0;
	ok = ok && tls_x509_add_ski(x) == 0;
	ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Copies a memory BIO's contents into a malloc'd buffer. */
static int ca_bio_bytes(BIO *bio, uint8_t **out, size_t *out_len)
{
	const uint8_t *data;
	size_t len;

	if (!BIO_mem_contents(bio, &data, &len))
		return -EIO;
	*out = malloc(len ? len : 1);
	if (*out == NULL)
		return -ENOMEM;
	memcpy(*out, data, len);
	*out_len = len;
	return 0;
}

/* PKCS#12 holding the certificate only: a device installs it as a trust
 * anchor, and the CA key never leaves the data directory. Certificates
 * are encrypted with 3DES (not the RC2 default) so OpenSSL 3 reads the
 * file without its legacy provider. *OUT is freed with OPENSSL_free. */
static int p12_encode(const struct tls_ca *ca, const char *password,
		      uint8_t **out, size_t *out_len)
{
	PKCS12 *p12 = PKCS12_create(password != NULL ? password : "", CA_P12_NAME, NULL,
				    ca->cert, NULL, 0,
				    NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
				    PKCS12_DEFAULT_ITER, PKCS12_DEFAULT_ITER, 0);
	uint8_t *der = NULL;
	int len;

	if (p12 == NULL)
		return -ENOMEM;
	len = i2d_PKCS12(p12, &der);
	PKCS12_free(p12);
	if (len <= 0)
		return -ENOMEM;
	*out = der;
	*out_len = (size_t)len;
	return 0;
}
