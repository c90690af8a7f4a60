/*
 * certutil.c - X.509 building blocks shared by the CA (ca.c) and leaf
 * minting (mint.c), atomic file writes and error formatting. Extensions are
 * built from their ASN.1 structures, never from config strings, so a leaf
 * costs no text parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/is_boringssl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls-int.h"

EVP_PKEY *tls_p256_new(void)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EVP_PKEY *pk = EVP_PKEY_new();

	if (ec == NULL || pk == NULL || !EC_KEY_generate_key(ec) ||
	    !EVP_PKEY_assign_EC_KEY(pk, ec)) {
		EC_KEY_free(ec);
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

int tls_x509_add_bc(X509 *x, bool ca)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok;

	if (bc == NULL)
		return -ENOMEM;
	bc->ca = ca ? 0xff : 0;
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT);
	BASIC_CONSTRAINTS_free(bc);
	return ok == 1 ? 0 : -ENOMEM;
}

int tls_x509_add_ku(X509 *x, unsigned bits)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int ok = ku != NULL;

	/* KU_* values are the DER bit string's first byte, bit 0 = 0x80. */
	for (int bit = 0; ok && bit < 8; bit++) {
		if (bits & (0x80u >> bit))
			ok = ASN1_BIT_STRING_set_bit(ku, bit, 1);
	}
	if (ok)
		ok = X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1;
	ASN1_BIT_STRING_free(ku);
	return ok ? 0 : -ENOMEM;
}

int tls_x509_add_eku_server(X509 *x)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	ASN1_OBJECT *obj = OBJ_nid2obj(NID_server_auth);
	int ok = eku != NULL && obj != NULL && sk_ASN1_OBJECT_push(eku, obj);

	if (ok)
		ok = X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;
	/* OBJ_nid2obj returns a static object: free the stack only. */
	sk_ASN1_OBJECT_free(eku);
	return ok ? 0 : -ENOMEM;
}

int tls_x509_add_ski(X509 *x)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	const ASN1_BIT_STRING *pub = X509_get0_pubkey_bitstr(x);
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	int ok = pub != NULL && ski != NULL;

	if (ok)
		ok = EVP_Digest(ASN1_STRING_get0_data(pub), (size_t)ASN1_STRING_length(pub),
				md, &md_len, EVP_sha1(), NULL);
	if (ok)
		ok = ASN1_OCTET_STRING_set(ski, md, (int)md_len);
	if (ok)
		ok = X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
				       X509V3_ADD_DEFAULT) == 1;
	ASN1_OCTET_STRING_free(ski);
	return ok ? 0 : -ENOMEM;
}

int tls_x509_add_aki(X509 *x, X509 *issuer)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
	AUTHORITY_KEYID *akid;
	int ok;

	if (ski == NULL)
		return -EINVAL;
	akid = AUTHORITY_KEYID_new();
	if (akid == NULL)
		return -ENOMEM;
	akid->keyid = ASN1_OCTET_STRING_dup(ski);
	ok = akid->keyid != NULL &&
	     X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
			       X509V3_ADD_DEFAULT) == 1;
	AUTHORITY_KEYID_free(akid);
	return ok ? 0 : -ENOMEM;
}

int tls_x509_add_san(X509 *x, const char *name)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	uint8_t ip[16];
	int ok = gens != NULL && gen != NULL;

	if (ok && inet_pton(AF_INET, name, ip) == 1) {
		gen->type = GEN_IPADD;
		gen->d.iPAddress = ASN1_OCTET_STRING_new();
		ok = gen->d.iPAddress != NULL && ASN1_OCTET_STRING_set(gen->d.iPAddress, ip, 4);
	} else if (ok && inet_pton(AF_INET6, name, ip) == 1) {
		gen->type = GEN_IPADD;
		gen->d.iPAddress = ASN1_OCTET_STRING_new();
		ok = gen->d.iPAddress != NULL && ASN1_OCTET_STRING_set(gen->d.iPAddress, ip, 16);
	} else if (ok) {
		gen->type = GEN_DNS;
		gen->d.dNSName = ASN1_IA5STRING_new();
		ok = gen->d.dNSName != NULL &&
		     ASN1_STRING_set(gen->d.dNSName, name, (int)strlen(name));
	}
	if (ok) {
		ok = sk_GENERAL_NAME_push(gens, gen) != 0;
		if (ok)
			gen = NULL; /* owned by gens now */
	}
	if (ok)
		ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -ENOMEM;
}

int tls_x509_set_serial(X509 *x)
{
	uint8_t raw[16];
	BIGNUM *bn;
	int ok;

	RAND_bytes(raw, sizeof(raw));
	raw[0] &= 0x7f; /* positive */
	raw[0] |= 0x40; /* and exactly 16 bytes long, never zero */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -ENOMEM;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fsync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL ? 1 : (size_t)(slash - path);
	int fd;

	if (n >= sizeof(dir))
		return;
	if (slash == NULL)
		memcpy(dir, ".", 1);
	else if (n == 0)
		memcpy(dir, "/", (n = 1));
	else
		memcpy(dir, path, n);
	dir[n] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int tls_write_atomic(const char *path, const void *buf, size_t len,
		     unsigned mode, bool noreplace)
{
	char tmp[4096];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	rc = fchmod(fd, (mode_t)mode) < 0 ? -errno : 0;
	if (rc == 0)
		rc = write_all(fd, buf, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && noreplace)
		rc = link(tmp, path) < 0 ? -errno : 0;
	else if (rc == 0)
		rc = rename(tmp, path) < 0 ? -errno : 0;
	if (rc < 0 || noreplace)
		unlink(tmp);
	if (rc == 0)
		fsync_parent(path);
	return rc;
}

void tls_errf(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}
