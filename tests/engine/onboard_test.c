/*
 * tests/engine/onboard_test.c - the ringcap.cert answers over a real CA from
 * tls_ca_open: every path and its content type, the download bytes equal
 * tls_ca_pem / tls_ca_der / tls_ca_p12 exactly and parse back, the page
 * names the fingerprint and holds no external resource, the page never
 * writes past a short buffer (every capacity below its length is -ENOSPC),
 * HTML escaping, 404s, the magic host test and the response head.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs8.h>
#include <openssl/x509.h>

#include "engine/onboard.h"
#include "tls/tls.h"
#include "tests/check.h"


static char page[ENG_ONBOARD_PAGE_MAX];

static int answer(const char *path, const struct eng_onboard_ca *ca,
		  struct eng_onboard_reply *r)
{
	return eng_onboard_answer(path, strlen(path), ca, page, sizeof(page), r);
}

/* The body as one NUL-terminated string (pieces joined), in a static buffer. */
static const char *body_str(const struct eng_onboard_reply *r)
{
	static char buf[ENG_ONBOARD_PAGE_MAX + 64];

	if (r->body_len >= sizeof(buf))
		return "";
	memcpy(buf, r->piece[0].p, r->piece[0].len);
	if (r->piece[1].len)
		memcpy(buf + r->piece[0].len, r->piece[1].p, r->piece[1].len);
	buf[r->body_len] = '\0';
	return buf;
}

static void check_is_host(void)
{
	CHECK(eng_onboard_is_host("ringcap.cert", 12));
	CHECK(eng_onboard_is_host("RingCap.CERT", 12));
	CHECK(eng_onboard_is_host("ringcap.cert.", 13));
	CHECK(eng_onboard_is_host("ringcap.certificate", 12)); /* LEN bounds it */
	CHECK(!eng_onboard_is_host("ringcap.cer", 11));
	CHECK(!eng_onboard_is_host("ringcap.certs", 13));
	CHECK(!eng_onboard_is_host("xringcap.cert", 13));
	CHECK(!eng_onboard_is_host("ringcap.cert..", 14));
	CHECK(!eng_onboard_is_host("", 0));
}

static void check_files(const struct eng_onboard_ca *ca, struct tls_ca *tca)
{
	struct eng_onboard_reply r;
	size_t len;
	const uint8_t *want;
	const uint8_t *p;
	X509 *x;

	CHECK(answer("/ca.pem", ca, &r) == 0 && r.status == 200);
	CHECK(strcmp(r.content_type, "application/x-pem-file") == 0);
	CHECK(r.filename != NULL && strcmp(r.filename, "ringcap-ca.pem") == 0);
	want = tls_ca_pem(tca, &len);
	CHECK(r.body_len == len && r.piece[0].len == len && r.piece[1].len == 0);
	CHECK(r.piece[0].p == want && memcmp(r.piece[0].p, want, len) == 0);
	BIO *bio = BIO_new_mem_buf(r.piece[0].p, (int)r.piece[0].len);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	CHECK(x != NULL && X509_cmp(x, tls_ca_x509(tca)) == 0);
	X509_free(x);
	BIO_free(bio);

	want = tls_ca_der(tca, &len);
	for (int i = 0; i < 2; i++) {
		CHECK(answer(i == 0 ? "/ca.crt" : "/ca.cer", ca, &r) == 0 && r.status == 200);
		CHECK(strcmp(r.content_type, "application/x-x509-ca-cert") == 0);
		CHECK(strcmp(r.filename, i == 0 ? "ringcap-ca.crt" : "ringcap-ca.cer") == 0);
		CHECK(r.body_len == len && memcmp(r.piece[0].p, want, len) == 0);
		p = r.piece[0].p;
		x = d2i_X509(NULL, &p, (long)r.body_len);
		CHECK(x != NULL && X509_cmp(x, tls_ca_x509(tca)) == 0);
		CHECK(p == (const uint8_t *)r.piece[0].p + len);
		X509_free(x);
	}

	CHECK(answer("/ca.p12", ca, &r) == 0 && r.status == 200);
	CHECK(strcmp(r.content_type, "application/x-pkcs12") == 0);
	CHECK(strcmp(r.filename, "ringcap-ca.p12") == 0);
	want = tls_ca_p12(tca, &len);
	CHECK(r.body_len == len && memcmp(r.piece[0].p, want, len) == 0);
	CBS cbs;
	STACK_OF(X509) *certs = sk_X509_new_null();
	EVP_PKEY *key = NULL;
	CBS_init(&cbs, r.piece[0].p, r.body_len);
	CHECK(PKCS12_get_key_and_certs(&key, certs, &cbs, ""));
	CHECK(key == NULL && sk_X509_num(certs) == 1);
	if (sk_X509_num(certs) == 1)
		CHECK(X509_cmp(sk_X509_value(certs, 0), tls_ca_x509(tca)) == 0);
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();

	CHECK(answer("/ca.sha256", ca, &r) == 0 && r.status == 200);
	CHECK(strncmp(r.content_type, "text/plain", 10) == 0 && r.filename == NULL);
	CHECK(r.body_len == strlen(ca->fingerprint) + 1 && r.piece[1].len == 1);
	CHECK(strncmp(body_str(&r), ca->fingerprint, strlen(ca->fingerprint)) == 0);
	CHECK(body_str(&r)[r.body_len - 1] == '\n');

	/* A query string is ignored. */
	CHECK(answer("/ca.crt?dl=1", ca, &r) == 0 && r.status == 200 &&
	      r.body_len == ca->der_len);
}

static void check_404(const struct eng_onboard_ca *ca)
{
	static const char *const paths[] = {
		"", "//", "/ca.PEM", "/CA.pem", "/ca.pem/", "/ca.pem.bak", "/ca", "/ca.der",
		"/index.htm", "/index.html/", "/favicon.ico", "/../ca.pem", "ca.pem",
		"/ca.p12x", "/%63a.pem", "?/ca.pem",
	};
	struct eng_onboard_reply r;
	struct eng_onboard_ca no_p12 = *ca;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int rc = answer(paths[i], ca, &r);

		if (rc != 0 || r.status != 404)
			fprintf(stderr, "path '%s': rc %d status %d\n", paths[i], rc, r.status);
		CHECK(rc == 0 && r.status == 404);
		CHECK(strncmp(r.content_type, "text/plain", 10) == 0 && r.filename == NULL);
		CHECK(r.body_len > 0 && strstr(body_str(&r), "ringcap.cert") != NULL);
	}
	/* The path length bounds the match, not a NUL. */
	CHECK(eng_onboard_answer("/ca.pemXX", 7, ca, page, sizeof(page), &r) == 0 &&
	      r.status == 200);
	CHECK(eng_onboard_answer("/ca.pem", 6, ca, page, sizeof(page), &r) == 0 &&
	      r.status == 404);
	no_p12.p12 = NULL;
	no_p12.p12_len = 0;
	CHECK(answer("/ca.p12", &no_p12, &r) == 0 && r.status == 404);
}

static void check_page_text(const char *s, const struct eng_onboard_ca *ca)
{
	static const char *const must[] = {
		"<!doctype html>", "name=\"viewport\"", "href=\"ca.pem\"", "href=\"ca.crt\"",
		"href=\"ca.cer\"", "href=\"ca.p12\"", "href=\"ca.sha256\"",
		"<h2>iOS", "VPN &amp; Device Management",
		"General &gt; About &gt; Certificate Trust Settings",
		"<h2>Android",
		("Encryption &amp; credentials &gt; Install a certificate &gt; CA certificate"), "<b>user</b> store", "<b>system</b> store",
		"Android 7", "network_security_config", "src=&quot;user&quot;",
		"<h2>macOS", "Keychain Access", "Always Trust",
		"<h2>Windows", "certutil -addstore Root",
		"Trusted Root Certification Authorities",
		"<h2>Linux", "/usr/local/share/ca-certificates", "update-ca-certificates",
		"curl --cacert", "<h2>Firefox", "Privacy &amp; Security",
		"Trust this CA to identify websites", "</html>\n",
	};
	static const char *const never[] = {
		"<script", "src=\"", "href=\"http", "href=\"/", "@import", "url(", "<link",
		"<img", "<iframe",
	};

	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		if (strstr(s, must[i]) == NULL)
			fprintf(stderr, "page lacks '%s'\n", must[i]);
		CHECK(strstr(s, must[i]) != NULL);
	}
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		if (strstr(s, never[i]) != NULL)
			fprintf(stderr, "page holds '%s'\n", never[i]);
		CHECK(strstr(s, never[i]) == NULL);
	}
	CHECK(strstr(s, ca->fingerprint) != NULL);
	CHECK(strstr(s, ca->subject) != NULL);
	CHECK(strlen(s) == strspn(s, "\t\n !\"#$%&'()*+,-./0123456789:;<=>?@"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"));
}

static void check_page(const struct eng_onboard_ca *ca)
{
	struct eng_onboard_reply r, r2;
	static char small[ENG_ONBOARD_PAGE_MAX + 16];
	size_t len;

	CHECK(answer("/", ca, &r) == 0 && r.status == 200);
	CHECK(strcmp(r.content_type, "text/html; charset=utf-8") == 0 && r.filename == NULL);
	CHECK(r.piece[0].p == page && r.piece[1].len == 0);
	len = r.body_len;
	printf("page: %zu bytes\n", len);
	CHECK(len > 1000 && len < ENG_ONBOARD_PAGE_MAX);
	check_page_text(body_str(&r), ca);
	CHECK(answer("/index.html", ca, &r2) == 0 && r2.status == 200 && r2.body_len == len);
	CHECK(answer("/?from=android", ca, &r2) == 0 && r2.status == 200 && r2.body_len == len);

	/* Every capacity short of the page is refused and nothing is written
	 * past it; the exact length fits. */
	for (size_t cap = 0; cap < len; cap++) {
		memset(small, 0x5a, sizeof(small));
		int rc = eng_onboard_answer("/", 1, ca, cap ? small : NULL, cap, &r2);

		CHECK(rc == -ENOSPC);
		CHECK(small[cap] == 0x5a);
		if (rc != -ENOSPC || small[cap] != 0x5a) {
			fprintf(stderr, "cap %zu: rc %d\n", cap, rc);
			break;
		}
	}
	CHECK(eng_onboard_answer("/", 1, ca, small, len, &r2) == 0 && r2.body_len == len);
	CHECK(memcmp(small, page, len) == 0);
	CHECK(eng_onboard_page(ca, small, len - 1) == -ENOSPC);
	CHECK(eng_onboard_page(ca, small, len) == (long)len);
}

/* A page built once at start-up is what "/" answers, without a buffer. */
static void check_prebuilt(const struct eng_onboard_ca *ca)
{
	static char built[ENG_ONBOARD_PAGE_MAX];
	struct eng_onboard_ca pre = *ca;
	struct eng_onboard_reply r;
	long len = eng_onboard_page(ca, built, sizeof(built));

	CHECK(len > 0);
	pre.page = built;
	pre.page_len = (size_t)len;
	CHECK(eng_onboard_answer("/", 1, &pre, NULL, 0, &r) == 0 && r.status == 200);
	CHECK(r.piece[0].p == built && r.body_len == (size_t)len);
	CHECK(eng_onboard_answer("/index.html?x", 13, &pre, NULL, 0, &r) == 0 &&
	      r.piece[0].p == built);
	check_page_text(body_str(&r), ca);
	CHECK(eng_onboard_answer("/ca.crt", 7, &pre, NULL, 0, &r) == 0 &&
	      r.piece[0].p == (const void *)ca->der);
}

/* Hostile-looking subject and fingerprint are escaped; the longest subject
 * (64 characters, each escaped to 5) still fits the page limit. */
static void check_escaping(const struct eng_onboard_ca *ca)
{
	struct eng_onboard_ca e = *ca;
	struct eng_onboard_reply r;
	char subj[65];

	e.subject = "<script>alert('x')</script> & \"q\"";
	CHECK(answer("/", &e, &r) == 0 && r.status == 200);
	CHECK(strstr(body_str(&r), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
			 "&quot;q&quot;") != NULL);
	CHECK(strstr(body_str(&r), "<script") == NULL);
	e.fingerprint = "<b>";
	CHECK(answer("/", &e, &r) == 0 && strstr(body_str(&r), "&lt;b&gt;") != NULL);
	memset(subj, '&', 64);
	subj[64] = '\0';
	e = *ca;
	e.subject = subj;
	CHECK(answer("/", &e, &r) == 0 && r.status == 200);
	CHECK(r.body_len + 2048 < ENG_ONBOARD_PAGE_MAX);
	e.subject = NULL;
	CHECK(answer("/", &e, &r) == 0 && r.status == 200);
}

static void check_head(const struct eng_onboard_ca *ca)
{
	struct eng_onboard_reply r;
	char head[ENG_ONBOARD_HEAD_MAX];
	char want[64];
	long n;

	CHECK(answer("/ca.crt", ca, &r) == 0);
	n = eng_onboard_write_head(&r, false, head, sizeof(head));
	CHECK(n > 0 && (size_t)n == strlen(head));
	CHECK(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", ca->der_len);
	CHECK(strstr(head, want) != NULL);
	CHECK(strstr(head, "\r\nContent-Type: application/x-x509-ca-cert\r\n") != NULL);
	CHECK(strstr(head, "\r\nContent-Disposition: attachment; "
			 "filename=\"ringcap-ca.crt\"\r\n") != NULL);
	CHECK(strstr(head, "\r\nCache-Control: no-store\r\n") != NULL);
	CHECK(strstr(head, "Connection: close") == NULL);
	CHECK(n >= 4 && strcmp(head + n - 4, "\r\n\r\n") == 0);
	CHECK(eng_onboard_write_head(&r, false, head, (size_t)n) == -ENOSPC);
	CHECK(eng_onboard_write_head(&r, false, head, (size_t)n + 1) == n);

	CHECK(answer("/", ca, &r) == 0);
	n = eng_onboard_write_head(&r, true, head, sizeof(head));
	CHECK(n > 0 && strstr(head, "Content-Disposition") == NULL);
	CHECK(strstr(head, "\r\nConnection: close\r\n\r\n") != NULL);
	CHECK(strstr(head, "\r\nContent-Type: text/html; charset=utf-8\r\n") != NULL);

	CHECK(answer("/nope", ca, &r) == 0);
	n = eng_onboard_write_head(&r, false, head, sizeof(head));
	CHECK(n > 0 && strncmp(head, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", r.body_len);
	CHECK(strstr(head, want) != NULL);
}

int main(void)
{
	char dir[256], err[256] = "", cn[128] = "";
	const char *base = getenv("TMPDIR");
	struct tls_ca *tca = NULL;
	struct eng_onboard_ca ca;

	snprintf(dir, sizeof(dir), "%s/ringcap-onboard-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (tls_ca_open(dir, "testhost", &tca, err, sizeof(err)) < 0) {
		fprintf(stderr, "tls_ca_open: %s\n", err);
		return 1;
	}
	X509_NAME_get_text_by_NID(X509_get_subject_name(tls_ca_x509(tca)), NID_commonName,
				  cn, sizeof(cn));
	ca = (struct eng_onboard_ca){ .fingerprint = tls_ca_fingerprint(tca), .subject = cn };
	ca.pem = tls_ca_pem(tca, &ca.pem_len);
	ca.der = tls_ca_der(tca, &ca.der_len);
	ca.p12 = tls_ca_p12(tca, &ca.p12_len);
	CHECK(strncmp(cn, "ringcap CA testhost ", 20) == 0);

	check_is_host();
	check_files(&ca, tca);
	check_404(&ca);
	check_page(&ca);
	check_prebuilt(&ca);
	check_escaping(&ca);
	check_head(&ca);

	tls_ca_free(tca);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
	return check_done("onboard_test");
}
