/* mint_test.c - minted leaves verify against the CA with X509_verify_cert
 * for DNS names and IP literals, and carry the properties clients demand:
 * CA:FALSE, serverAuth EKU, digitalSignature, exact SAN, validity <= 397
 * days with a backdated notBefore, AKI = CA SKI, the shared leaf key. */
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pool.h>

#include "tests/tls/tls-test.h"

static X509 *leaf_x509(CRYPTO_BUFFER *buf)
{
	const uint8_t *p = CRYPTO_BUFFER_data(buf);

	return d2i_X509(NULL, &p, (long)CRYPTO_BUFFER_len(buf));
}

/* X509_verify_cert of LEAF against CA for NAME as a TLS server. */
static int verify(X509 *ca, X509 *leaf, const char *name)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int ok;

	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (tls_name_is_ip(name))
		X509_VERIFY_PARAM_set1_ip_asc(param, name);
	else
		X509_VERIFY_PARAM_set1_host(param, name, strlen(name));
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		fprintf(stderr, "verify %s: %s\n", name,
			X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void check_props(struct test_fixture *f, X509 *leaf, const char *name)
{
	X509 *ca = tls_ca_x509(f->ca);
	int crit = -1, days = 0, secs = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	GENERAL_NAMES *san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	time_t now = time(NULL), day_ago = now - 23 * 3600;
	EVP_PKEY *pub = X509_get_pubkey(leaf);

	CHECK(bc != NULL && !bc->ca);
	CHECK_EQ(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	CHECK((X509_get_extension_flags(leaf) & EXFLAG_CA) == 0);
	CHECK(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	CHECK(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE);
	CHECK((X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN) == 0);
	CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1);
	if (san != NULL && sk_GENERAL_NAME_num(san) == 1) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(san, 0);

		CHECK_EQ(g->type, tls_name_is_ip(name) ? GEN_IPADD : GEN_DNS);
	}
	GENERAL_NAMES_free(san);
	CHECK(tls_name_is_ip(name) ? X509_check_ip_asc(leaf, name, 0) == 1
				   : X509_check_host(leaf, name, strlen(name), 0, NULL) == 1);
	CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)));
	CHECK(days * 86400 + secs <= TLS_LEAF_VALIDITY_DAYS * 86400);
	CHECK(days >= TLS_LEAF_VALIDITY_DAYS - 1);
	CHECK(X509_cmp_time(X509_get0_notBefore(leaf), &day_ago) < 0);
	CHECK(X509_cmp_time(X509_get0_notAfter(leaf), &now) > 0);
	CHECK(X509_get0_authority_key_id(leaf) != NULL &&
	      ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
				    X509_get0_subject_key_id(ca)) == 0);
	CHECK_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)), 0);
	CHECK(pub != NULL && EVP_PKEY_cmp(pub, tls_ca_pkey(f->ca)) != 1);
	CHECK(pub != NULL && EVP_PKEY_id(pub) == EVP_PKEY_EC);
	EVP_PKEY_free(pub);
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	static const char *names[] = {"example.com", "www.ringcap.test", "127.0.0.1",
				      "2001:db8::1", "*.wild.test"};
	struct test_fixture f;
	X509 *first = NULL;

	test_fixture_init(&f, NULL);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CRYPTO_BUFFER *buf = NULL;
		X509 *leaf;

		CHECK_EQ(tls_mint_leaf(f.mint, names[i], &buf), 0);
		if (buf == NULL)
			continue;
		leaf = leaf_x509(buf);
		CHECK(leaf != NULL);
		if (leaf != NULL) {
			const char *check = names[i][0] == '*' ? "a.wild.test" : names[i];

			CHECK_EQ(verify(tls_ca_x509(f.ca), leaf, check), 1);
			check_props(&f, leaf, names[i]);
			/* A leaf does not verify for another name. */
			ERR_clear_error();
			CHECK(verify(tls_ca_x509(f.ca), leaf, "other.test") != 1);
			if (first == NULL) {
				first = leaf;
				leaf = NULL;
			} else {
				/* Random serials differ; the leaf key is shared. */
				CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(first),
						       X509_get0_serialNumber(leaf)) != 0);
				EVP_PKEY *a = X509_get_pubkey(first), *b = X509_get_pubkey(leaf);

				CHECK(a != NULL && b != NULL && EVP_PKEY_cmp(a, b) == 1);
				EVP_PKEY_free(a);
				EVP_PKEY_free(b);
			}
		}
		X509_free(leaf);
		CRYPTO_BUFFER_free(buf);
	}
	X509_free(first);
	{
		/* Longer than a CN may be: SAN only, still verifies. */
		char longname[TLS_NAME_MAX + 1];
		CRYPTO_BUFFER *buf = NULL;
		X509 *leaf = NULL;

		memset(longname, 'a', sizeof(longname));
		for (int i = 50; i < TLS_NAME_MAX; i += 51)
			longname[i] = '.';
		longname[TLS_NAME_MAX] = '\0';
		CHECK_EQ(tls_mint_leaf(f.mint, longname, &buf), 0);
		if (buf != NULL)
			leaf = leaf_x509(buf);
		CHECK(leaf != NULL);
		if (leaf != NULL) {
			CHECK_EQ(verify(tls_ca_x509(f.ca), leaf, longname), 1);
			CHECK_EQ(X509_NAME_get_index_by_NID(X509_get_subject_name(leaf),
							    NID_commonName, -1), -1);
		}
		X509_free(leaf);
		CRYPTO_BUFFER_free(buf);
	}
	{
		CRYPTO_BUFFER *buf = NULL;

		CHECK_EQ(tls_mint_leaf(f.mint, "bad name", &buf), -EINVAL);
		CHECK(buf == NULL);
	}
	test_fixture_fini(&f);
	return check_done("mint");
}
