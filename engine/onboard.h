/*
 * engine/onboard.h - answers for the magic host `ringcap.cert`: a page that
 * tells a user how to trust the ringcap CA on their device, and the CA
 * itself as PEM, DER and PKCS#12 downloads. The control port serves the
 * same files later through the same function.
 *
 * Pure functions over borrowed bytes and a caller buffer: no I/O, no
 * allocation, no dependency on tls/ (the caller fills struct
 * eng_onboard_ca from tls_ca_pem / tls_ca_der / tls_ca_p12 /
 * tls_ca_fingerprint once at start-up).
 *
 * Paths (the query string is ignored, matching is exact and case-sensitive):
 *   /, /index.html  text/html, the install page (prebuilt, or built in
 *                   the caller's buffer)
 *   /ca.pem         application/x-pem-file
 *   /ca.crt, /ca.cer application/x-x509-ca-cert (DER)
 *   /ca.p12         application/x-pkcs12 (certificate only, empty password)
 *   /ca.sha256      text/plain, the SHA-256 fingerprint and a newline
 *   anything else   404, text/plain
 */
#ifndef RINGCAP_ONBOARD_H
#define RINGCAP_ONBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The magic host a browser asks the proxy for (any port). */
#define ENG_ONBOARD_HOST "ringcap.cert"

/* Caller buffer for the page, in bytes: the page is ~4.5 KiB with the
 * longest subject and fingerprint; 16 KiB leaves room to grow the text. */
#define ENG_ONBOARD_PAGE_MAX (16u * 1024)

/* Response head written by eng_onboard_write, in bytes: the status line and
 * six short headers. */
#define ENG_ONBOARD_HEAD_MAX 512u

/* The CA as the page and the downloads need it. Every pointer is borrowed
 * and must stay valid while a reply that points into it is in use (tls_ca
 * keeps them until tls_ca_free, i.e. for the life of the process). */
struct eng_onboard_ca {
	const uint8_t *pem; size_t pem_len;  /* tls_ca_pem */
	const uint8_t *der; size_t der_len;  /* tls_ca_der */
	const uint8_t *p12; size_t p12_len;  /* tls_ca_p12; NULL: /ca.p12 is 404 */
	const char *fingerprint;             /* "AB:CD:..", tls_ca_fingerprint */
	const char *subject;                 /* CA common name shown on the page
						(HTML-escaped here); NULL: none */
	const char *page; size_t page_len;   /* the page built once by
						eng_onboard_page; NULL: build
						it per request */
};

/* One piece of a response body: borrowed, never freed by the receiver. */
struct eng_onboard_piece {
	const void *p;
	size_t len;
};

/* What to send. The body is piece[0] followed by piece[1] (len 0: unused);
 * each points into the caller's page buffer, into the CA bytes, or at
 * static text. */
struct eng_onboard_reply {
	int status;                          /* 200 or 404 */
	const char *content_type;            /* static */
	const char *filename;                /* static; Content-Disposition
						attachment name, or NULL */
	struct eng_onboard_piece piece[2];
	size_t body_len;                     /* piece[0].len + piece[1].len */
};

/* True when HOST (LEN bytes, not NUL-terminated, as in a request target or
 * CONNECT authority without the port) names ringcap.cert, in any case and
 * with or without a trailing dot. */
bool eng_onboard_is_host(const char *host, size_t len);

/* Builds the install page for CA into BUF (CAP bytes). Returns its length
 * or -ENOSPC (nothing usable in BUF). Call it once at start-up and keep
 * the result in CA->page: every later "/" is then a borrowed pointer that
 * workers share read-only, sent without a copy. */
long eng_onboard_page(const struct eng_onboard_ca *ca, char *buf, size_t cap);

/* Answers a GET or HEAD for PATH (PATH_LEN bytes, origin-form, may carry a
 * query). The page is CA->page when set; otherwise it is built into PAGE
 * (PAGE_CAP bytes; ENG_ONBOARD_PAGE_MAX is always enough; PAGE may be NULL
 * when PAGE_CAP is 0). Returns 0 with
 * *OUT filled (status 200 or 404), or -ENOSPC when the page does not fit
 * PAGE (*OUT then holds nothing to send: answer 500 or 503). */
int eng_onboard_answer(const char *path, size_t path_len,
		       const struct eng_onboard_ca *ca, char *page, size_t page_cap,
		       struct eng_onboard_reply *out);

/* Writes the response head for R into OUT: status line, Content-Type,
 * Content-Length, Content-Disposition when R names a file, Cache-Control:
 * no-store, X-Content-Type-Options: nosniff, Via, and "Connection: close"
 * when CLOSE. Returns bytes written or -ENOSPC. The body follows as
 * R->piece[0] and R->piece[1] (none for HEAD). */
long eng_onboard_write_head(const struct eng_onboard_reply *r, bool close,
			    char *out, size_t cap);

#endif
