/* verify_test.c - upstream verification through real in-memory handshakes
 * against servers with certificates made here: trusted (passes), expired,
 * unknown issuer, self-signed, DNS and IP name mismatch (each fails with
 * its readable reason, and the server sees the client's alert); insecure
 * mode for all hosts, exact hosts and "*." suffixes; a bad CA file named
 * in the error; reasons for codes without a certificate. */
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tests/tls/tls-test.h"

struct keycert {
	EVP_PKEY *key;
	X509 *cert;
};

/* A certificate for CN/SAN NAME valid from now+NB_S to now+NA_S, signed
 * by ISSUER (NULL: self-signed). */
static struct keycert make_cert(const char *name, const struct keycert *issuer,
				long nb_s, long na_s, bool ca)
{
	struct keycert kc = {tls_p256_new(), X509_new()};
	X509_NAME *subj = X509_get_subject_name(kc.cert);
	int ok = kc.key != NULL && kc.cert != NULL;

	ok = ok && X509_set_version(kc.cert, X509_VERSION_3);
	ok = ok && tls_x509_set_serial(kc.cert) == 0;
	ok = ok && X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
					      (const uint8_t *)name, -1, -1, 0);
	ok = ok && X509_set_issuer_name(kc.cert, issuer != NULL ?
					X509_get_subject_name(issuer->cert) : subj);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(kc.cert), nb_s) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(kc.cert), na_s) != NULL;
	ok = ok && X509_set_pubkey(kc.cert, kc.key);
	ok = ok && tls_x509_add_bc(kc.cert, ca) == 0;
	ok = ok && tls_x509_add_ski(kc.cert) == 0;
	if (ca)
		ok = ok && tls_x509_add_ku(kc.cert, KU_KEY_CERT_SIGN) == 0;
	else
		ok = ok && tls_x509_add_san(kc.cert, name) == 0 &&
		     tls_x509_add_eku_server(kc.cert) == 0;
	ok = ok && X509_sign(kc.cert, issuer != NULL ? issuer->key : kc.key, EVP_sha256()) > 0;
	if (!ok) {
		fprintf(stderr, "make_cert %s failed\n", name);
		exit(1);
	}
	return kc;
}

static void keycert_free(struct keycert *kc)
{
	EVP_PKEY_free(kc->key);
	X509_free(kc->cert);
}

/* A server-role tls_conn around a plain SSL_CTX serving KC (+ CHAIN). */
static struct tls_conn *raw_server(const struct keycert *kc, X509 *chain)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (ctx == NULL || c == NULL || !SSL_CTX_use_certificate(ctx, kc->cert) ||
	    !SSL_CTX_use_PrivateKey(ctx, kc->key) ||
	    (chain != NULL && !SSL_CTX_add1_chain_cert(ctx, chain))) {
		fprintf(stderr, "raw_server setup failed\n");
		exit(1);
	}
	SSL_CTX_set_info_callback(ctx, tls_conn_info_cb);
	c->server = true;
	c->peer_alert = -1;
	if (tls_conn_init_ssl(c, ctx) < 0) {
		fprintf(stderr, "raw_server SSL failed\n");
		exit(1);
	}
	SSL_CTX_free(ctx); /* the SSL keeps its reference */
	SSL_set_accept_state(c->ssl);
	return c;
}

/* Handshakes CLIENT (for HOST) with a server for KC. WANT_PREFIX NULL:
 * must succeed; otherwise must fail with a reason starting so. */
static void expect(struct tls_client *client, const char *host, const struct keycert *kc,
		   X509 *chain, const char *want_prefix)
{
	struct tls_conn *sv = raw_server(kc, chain), *cl = NULL;
	int rc;

	CHECK_EQ(tls_conn_new_client(client, host, &cl), 0);
	if (cl == NULL) {
		tls_conn_free(sv);
		return;
	}
	rc = test_handshake(cl, sv);
	if (want_prefix == NULL) {
		CHECK_EQ(rc, 0);
		CHECK(!tls_conn_verify_failed(cl));
		if (rc != 0)
			fprintf(stderr, "%s: %s\n", host, tls_conn_error(cl));
	} else {
		CHECK_EQ(rc, -EPROTO);
		CHECK(tls_conn_verify_failed(cl));
		CHECK_PREFIX(tls_conn_error(cl), want_prefix);
		/* The client told the server why; pinned-app detection uses
		 * the same signal on our own server side. */
		test_pump(cl, sv);
		CHECK_EQ(tls_conn_handshake(sv), -EPROTO);
		CHECK_PREFIX(tls_conn_error(sv), "peer sent alert: ");
		CHECK(tls_conn_peer_alert(sv) >= 0);
		if (!tls_conn_cert_rejected(sv))
			fprintf(stderr, "%s: alert %d (%s)\n", host, tls_conn_peer_alert(sv), tls_conn_error(sv));
		CHECK(tls_conn_cert_rejected(sv));
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
}

static struct tls_client *client_new(const char *ca_file, bool all, const char *const *hosts,
				     size_t n)
{
	struct tls_client_opts o = {.trust_file = ca_file, .insecure_all = all,
				    .insecure_hosts = hosts, .insecure_count = n};
	struct tls_client *c = NULL;
	char err[TLS_ERR_MAX] = "";

	if (tls_client_new(&o, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tls_client_new: %s\n", err);
		exit(1);
	}
	return c;
}

static void write_pem(const char *path, X509 *x)
{
	BIO *bio = BIO_new_file(path, "w");

	if (bio == NULL || !PEM_write_bio_X509(bio, x)) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	BIO_free(bio);
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	char dir[256], root_pem[300], bad_pem[300], err[TLS_ERR_MAX] = "";
	const long day = 86400;
	struct keycert root = make_cert("Test Root", NULL, -day, 30 * day, true);
	struct keycert other = make_cert("Untrusted Root", NULL, -day, 30 * day, true);
	struct keycert good = make_cert("good.test", &root, -day, 30 * day, false);
	struct keycert expired = make_cert("expired.test", &root, -30 * day, -day, false);
	struct keycert future = make_cert("future.test", &root, 10 * day, 30 * day, false);
	struct keycert stranger = make_cert("stranger.test", &other, -day, 30 * day, false);
	struct keycert selfsigned = make_cert("self.test", NULL, -day, 30 * day, false);
	struct keycert ip = make_cert("10.0.0.1", &root, -day, 30 * day, false);
	static const char *const insecure[] = {"good.test", "*.lab.test"};
	struct tls_client *strict, *some, *all;
	struct tls_client_opts o = {0};
	struct tls_client *none = NULL;

	test_tmpdir(dir, sizeof(dir));
	snprintf(root_pem, sizeof(root_pem), "%s/root.pem", dir);
	snprintf(bad_pem, sizeof(bad_pem), "%s/missing.pem", dir);
	write_pem(root_pem, root.cert);
	strict = client_new(root_pem, false, NULL, 0);
	some = client_new(root_pem, false, insecure, 2);
	all = client_new(root_pem, true, NULL, 0);

	expect(strict, "good.test", &good, NULL, NULL);
	expect(strict, "good.test", &good, root.cert, NULL);
	expect(strict, "expired.test", &expired, NULL, "certificate expired (notAfter ");
	expect(strict, "future.test", &future, NULL, "certificate not yet valid");
	expect(strict, "stranger.test", &stranger, NULL, "unknown issuer: /CN=Untrusted Root");
	expect(strict, "stranger.test", &stranger, other.cert, "unknown issuer: /CN=Untrusted Root");
	expect(strict, "self.test", &selfsigned, NULL, "unknown issuer: /CN=self.test");
	expect(strict, "other.test", &good, NULL,
	       "name mismatch: cert for good.test, wanted other.test");
	expect(strict, "127.0.0.1", &ip, NULL, "name mismatch: cert for 10.0.0.1, wanted 127.0.0.1");
	expect(strict, "10.0.0.1", &ip, NULL, NULL);

	/* Insecure for named hosts only. */
	expect(some, "good.test", &stranger, NULL, NULL);
	expect(some, "a.lab.test", &expired, NULL, NULL);
	expect(some, "expired.test", &expired, NULL, "certificate expired");
	expect(some, "other.test", &stranger, NULL, "unknown issuer");
	CHECK(tls_client_insecure_for(some, "x.y.lab.test"));
	CHECK(!tls_client_insecure_for(some, "xlab.test"));
	CHECK(!tls_client_insecure_for(strict, "good.test"));
	/* Insecure for all. */
	expect(all, "anything.test", &selfsigned, NULL, NULL);
	CHECK(tls_client_insecure_for(all, "x.test"));

	/* Readable reasons without a certificate, and for other codes. */
	tls_verify_reason(X509_V_ERR_CERT_HAS_EXPIRED, NULL, "a.test", err, sizeof(err));
	CHECK_STR(err, "certificate expired");
	tls_verify_reason(X509_V_ERR_CERT_REVOKED, NULL, "a.test", err, sizeof(err));
	CHECK_PREFIX(err, "certificate verify failed: ");

	/* A CA file that does not exist is named in the error. */
	o.trust_file = root_pem;
	o.extra_ca_file = bad_pem;
	CHECK(tls_client_new(&o, &none, err, sizeof(err)) < 0);
	CHECK(strstr(err, "missing.pem") != NULL);
	CHECK(none == NULL);
	o.extra_ca_file = NULL;
	o.insecure_hosts = (const char *const[]){"bad host"};
	o.insecure_count = 1;
	CHECK_EQ(tls_client_new(&o, &none, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "bad host") != NULL);

	tls_client_free(strict);
	tls_client_free(some);
	tls_client_free(all);
	keycert_free(&root);
	keycert_free(&other);
	keycert_free(&good);
	keycert_free(&expired);
	keycert_free(&future);
	keycert_free(&stranger);
	keycert_free(&selfsigned);
	keycert_free(&ip);
	test_rmdir(dir);
	return check_done("verify");
}
