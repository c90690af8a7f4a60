/* ca_test.c - CA generation and reload (same fingerprint, key mode 0600),
 * CA certificate properties, exports parsed back (PEM, DER, PKCS#12 with
 * and without a password), and refusal of broken data directories. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/bytestring.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs8.h>

#include "tests/tls/tls-test.h"

static void check_ca_cert(struct tls_ca *ca)
{
	X509 *x = tls_ca_x509(ca);
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	ASN1_BIT_STRING *ku;
	char subj[256];

	CHECK(bc != NULL && bc->ca);
	CHECK_EQ(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	CHECK(ku != NULL);
	CHECK_EQ(crit, 1);
	CHECK(ASN1_BIT_STRING_get_bit(ku, 5)); /* keyCertSign */
	CHECK(ASN1_BIT_STRING_get_bit(ku, 6)); /* cRLSign */
	CHECK(!ASN1_BIT_STRING_get_bit(ku, 0));
	ASN1_BIT_STRING_free(ku);
	CHECK(X509_get0_subject_key_id(x) != NULL);
	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	CHECK(strstr(subj, "CN=ringcap CA testhost ") != NULL);
	CHECK(strstr(subj, "OU=testhost") != NULL);
	CHECK_EQ(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	CHECK_EQ(X509_check_ca(x), 1);
	CHECK_EQ(X509_check_private_key(x, tls_ca_pkey(ca)), 1);
	CHECK_EQ(strlen(tls_ca_fingerprint(ca)), TLS_FINGERPRINT_LEN - 1);
}

static void check_p12(const uint8_t *der, size_t len, const char *password, X509 *want,
		      bool expect_ok)
{
	CBS cbs;
	STACK_OF(X509) *certs = sk_X509_new_null();
	EVP_PKEY *key = NULL;
	int ok;

	CBS_init(&cbs, der, len);
	ok = PKCS12_get_key_and_certs(&key, certs, &cbs, password);
	CHECK_EQ(ok, expect_ok);
	if (expect_ok && ok) {
		CHECK(key == NULL); /* the CA key never leaves the data directory */
		CHECK_EQ(sk_X509_num(certs), 1);
		if (sk_X509_num(certs) == 1)
			CHECK_EQ(X509_cmp(sk_X509_value(certs, 0), want), 0);
	}
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
}

static void check_exports(struct tls_ca *ca, const char *dir)
{
	X509 *want = tls_ca_x509(ca), *got;
	uint8_t *buf;
	size_t len;
	const uint8_t *p;
	BIO *bio;
	char path[512];
	enum tls_ca_format fmt;

	CHECK_EQ(tls_ca_export(ca, TLS_CA_PEM, NULL, &buf, &len), 0);
	bio = BIO_new_mem_buf(buf, (int)len);
	got = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	CHECK(got != NULL && X509_cmp(got, want) == 0);
	X509_free(got);
	BIO_free(bio);
	free(buf);

	CHECK_EQ(tls_ca_export(ca, TLS_CA_DER, NULL, &buf, &len), 0);
	p = buf;
	got = d2i_X509(NULL, &p, (long)len);
	CHECK(got != NULL && X509_cmp(got, want) == 0);
	CHECK(p == buf + len);
	X509_free(got);
	free(buf);

	p = tls_ca_p12(ca, &len);
	check_p12(p, len, "", want, true);
	check_p12(p, len, "wrong", want, false);
	CHECK_EQ(tls_ca_export(ca, TLS_CA_P12, "s3cret", &buf, &len), 0);
	check_p12(buf, len, "s3cret", want, true);
	check_p12(buf, len, "", want, false);
	free(buf);

	snprintf(path, sizeof(path), "%s/export.crt", dir);
	CHECK_EQ(tls_ca_export_file(ca, TLS_CA_DER, NULL, path), 0);
	got = NULL;
	bio = BIO_new_file(path, "rb");
	if (bio != NULL)
		got = d2i_X509_bio(bio, NULL);
	CHECK(got != NULL && X509_cmp(got, want) == 0);
	X509_free(got);
	BIO_free(bio);

	CHECK(tls_ca_format_parse("PEM", &fmt) == 0 && fmt == TLS_CA_PEM);
	CHECK(tls_ca_format_parse("cer", &fmt) == 0 && fmt == TLS_CA_DER);
	CHECK(tls_ca_format_parse("p12", &fmt) == 0 && fmt == TLS_CA_P12);
	CHECK_EQ(tls_ca_format_parse("jks", &fmt), -EINVAL);
}

static void check_broken_dirs(const char *dir)
{
	char path[512], err[TLS_ERR_MAX] = "";
	struct tls_ca *ca = NULL;

	/* Key readable by others: refused, with the file named. */
	snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
	CHECK_EQ(chmod(path, 0644), 0);
	CHECK_EQ(tls_ca_open(dir, NULL, &ca, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "ca-key.pem") != NULL);
	CHECK_EQ(chmod(path, 0600), 0);

	/* Certificate without its key: refused, never silently replaced. */
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(tls_ca_open(dir, NULL, &ca, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "key") != NULL);
	CHECK(ca == NULL);
}

/* A key without a certificate (start interrupted between the writes)
 * gets a new certificate for that key. */
static void key_only(void)
{
	char dir[256], path[512], err[TLS_ERR_MAX] = "";
	struct tls_ca *ca = NULL, *again = NULL;

	test_tmpdir(dir, sizeof(dir));
	CHECK_EQ(tls_ca_open(dir, NULL, &ca, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/ca-cert.pem", dir);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(tls_ca_open(dir, NULL, &again, err, sizeof(err)), 0);
	if (ca != NULL && again != NULL) {
		CHECK(tls_ca_created(again));
		CHECK(strcmp(tls_ca_fingerprint(ca), tls_ca_fingerprint(again)) != 0);
		CHECK_EQ(EVP_PKEY_cmp(tls_ca_pkey(ca), tls_ca_pkey(again)), 1);
	}
	tls_ca_free(ca);
	tls_ca_free(again);
	test_rmdir(dir);
}

/* Several processes starting at once on an empty directory end up with
 * one CA: every one reports the same fingerprint. */
static void racing_starts(void)
{
	enum { N = 6 };
	char dir[256];
	int fds[N][2];
	pid_t pids[N];
	char fps[N][TLS_FINGERPRINT_LEN];

	test_tmpdir(dir, sizeof(dir));
	for (int i = 0; i < N; i++) {
		if (pipe(fds[i]) < 0 || (pids[i] = fork()) < 0)
			exit(1);
		if (pids[i] == 0) {
			struct tls_ca *ca = NULL;
			char err[TLS_ERR_MAX] = "";

			if (tls_ca_open(dir, NULL, &ca, err, sizeof(err)) < 0) {
				fprintf(stderr, "child: %s\n", err);
				_exit(1);
			}
			if (write(fds[i][1], tls_ca_fingerprint(ca), TLS_FINGERPRINT_LEN) < 0)
				_exit(1);
			_exit(0);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < N; i++) {
		int status = 0;

		memset(fps[i], 0, sizeof(fps[i]));
		CHECK_EQ(read(fds[i][0], fps[i], TLS_FINGERPRINT_LEN), TLS_FINGERPRINT_LEN);
		close(fds[i][0]);
		waitpid(pids[i], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(fps[i][TLS_FINGERPRINT_LEN - 1] == '\0');
		fps[i][TLS_FINGERPRINT_LEN - 1] = '\0';
		CHECK_STR(fps[i], fps[0]);
	}
	test_rmdir(dir);
}

int main(void)
{
	char dir[256], err[TLS_ERR_MAX] = "", fp[TLS_FINGERPRINT_LEN];
	struct tls_ca *ca = NULL, *again = NULL;
	struct stat st;

	test_tmpdir(dir, sizeof(dir));
	CHECK_EQ(tls_ca_open(dir, "testhost", &ca, err, sizeof(err)), 0);
	if (ca == NULL) {
		fprintf(stderr, "tls_ca_open: %s\n", err);
		return 1;
	}
	CHECK(tls_ca_created(ca));
	CHECK_EQ(stat(tls_ca_key_path(ca), &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(stat(tls_ca_cert_path(ca), &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0644);
	check_ca_cert(ca);
	check_exports(ca, dir);
	snprintf(fp, sizeof(fp), "%s", tls_ca_fingerprint(ca));

	CHECK_EQ(tls_ca_open(dir, "otherhost", &again, err, sizeof(err)), 0);
	if (again != NULL) {
		CHECK(!tls_ca_created(again));
		CHECK_STR(tls_ca_fingerprint(again), fp);
		tls_ca_free(again);
	}
	tls_ca_free(ca);

	check_broken_dirs(dir);
	test_rmdir(dir);
	key_only();
	racing_starts();
	return check_done("ca");
}
