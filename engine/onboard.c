/*
 * engine/onboard.c - the ringcap.cert page and CA downloads (see onboard.h).
 *
 * The page is one self-contained HTML document: inline CSS, no scripts, no
 * external resources, so it renders on a phone that trusts nothing yet and
 * has no other network. Links are relative ("ca.crt"), so the same page
 * works at http://ringcap.cert/ and at the control port's root.
 *
 * Invariants: nothing here allocates or performs I/O; every write into the
 * caller's page buffer is bounds-checked by struct page_out, which turns
 * an overflow into -ENOSPC instead of a truncated page.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/onboard.h"

_Static_assert(ENG_ONBOARD_PAGE_MAX >= 8u * 1024, "room for the page text");
_Static_assert(ENG_ONBOARD_HEAD_MAX >= 256u, "room for the response head");

/* Bounded appender over the caller's page buffer. */
struct page_out {
	char *p;
	size_t cap;
	size_t len;
	bool overflow;   /* a write did not fit: the page is unusable */
};

/* A download: path, media type, Content-Disposition name. */
struct onboard_file {
	const char *path;
	const char *ctype;
	const char *filename;
};

enum { F_PEM, F_CRT, F_CER, F_P12, F_SHA256, F_COUNT };

static void put(struct page_out *o, const char *s);
static void put_escaped(struct page_out *o, const char *s);
static void build_page(struct page_out *o, const struct eng_onboard_ca *ca);
static void set_body(struct eng_onboard_reply *r, const void *p, size_t len);

static const struct onboard_file files[F_COUNT] = {
	[F_PEM] = { "/ca.pem", "application/x-pem-file", "ringcap-ca.pem" },
	[F_CRT] = { "/ca.crt", "application/x-x509-ca-cert", "ringcap-ca.crt" },
	[F_CER] = { "/ca.cer", "application/x-x509-ca-cert", "ringcap-ca.cer" },
	[F_P12] = { "/ca.p12", "application/x-pkcs12", "ringcap-ca.p12" },
	[F_SHA256] = { "/ca.sha256", "text/plain; charset=utf-8", NULL },
};

static const char not_found[] =
	"ringcap: no such file here; the CA is at http://ringcap.cert/\n";

/* The page around the dynamic parts: PAGE_HEAD, subject, PAGE_FP,
 * fingerprint, PAGE_BODY. Kept short enough to read on a phone: one
 * section per platform, the menu path in bold, commands in <code>. */
static const char page_head[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
	"<title>ringcap CA</title>\n<style>\n"
	"body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;padding:1em;"
	"max-width:42em;color:#222;background:#fff}\n"
	"h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;"
	"border-bottom:1px solid #ddd}\n"
	"code{font-family:ui-monospace,monospace;background:#f3f3f3;padding:0 .2em;"
	"word-break:break-all}\n"
	".dl a{display:inline-block;margin:.2em .4em .2em 0;padding:.5em .9em;"
	"border:1px solid #36c;border-radius:.4em;text-decoration:none;color:#36c}\n"
	".fp{font-family:ui-monospace,monospace;word-break:break-all;"
	"background:#f3f3f3;padding:.5em}\n"
	".warn{background:#fff4e5;padding:.5em;border-left:4px solid #f90}\n"
	"li{margin:.3em 0}\n</style></head><body>\n"
	"<h1>Trust the ringcap CA</h1>\n"
	"<p>This device's traffic goes through the ringcap capture proxy. To let it "
	"record HTTPS, install and trust this certificate authority";
static const char page_fp[] =
	".</p>\n<p class=\"dl\"><a href=\"ca.crt\">ca.crt</a><a href=\"ca.cer\">ca.cer</a>"
	"<a href=\"ca.pem\">ca.pem</a><a href=\"ca.p12\">ca.p12</a>"
	"<a href=\"ca.sha256\">fingerprint</a></p>\n"
	"<p>Same certificate in each file: <b>.crt</b> / <b>.cer</b> are DER "
	"(iOS, Android, Windows), <b>.pem</b> is text (macOS, Linux, Firefox), "
	"<b>.p12</b> is PKCS#12 without a password (Android versions that ask for "
	"one).</p>\n"
	"<p>Before trusting it, check that the SHA-256 fingerprint your device shows "
	"is exactly:</p>\n<p class=\"fp\">";
static const char page_body[] =
	"</p>\n<p class=\"warn\">Whoever holds this CA's key can read this device's "
	"HTTPS traffic. Remove the certificate when you are done.</p>\n"

	"<h2>iOS / iPadOS</h2><ol>\n"
	"<li>Open this page in <b>Safari</b> and tap <b>ca.crt</b>; allow the "
	"configuration profile download.</li>\n"
	"<li><b>Settings &gt; General &gt; VPN &amp; Device Management</b>: tap the "
	"ringcap profile, then <b>Install</b>.</li>\n"
	"<li><b>Settings &gt; General &gt; About &gt; Certificate Trust Settings</b>: "
	"switch the ringcap CA <b>ON</b>. Without this step Safari and apps still "
	"refuse it.</li></ol>\n"

	"<h2>Android</h2><ol>\n"
	"<li>Tap <b>ca.crt</b> to download it (use <b>ca.p12</b> if your version asks "
	"for that).</li>\n"
	"<li><b>Settings &gt; Security &gt; Encryption &amp; credentials &gt; Install "
	"a certificate &gt; CA certificate</b> (the menu may sit under <b>More "
	"security settings</b>), and pick the file.</li></ol>\n"
	"<p>This puts the CA in the <b>user</b> store. Chrome trusts it; apps "
	"targeting Android 7 or later ignore user CAs unless they opt in with a "
	"<code>network_security_config</code> listing "
	"<code>&lt;certificates src=&quot;user&quot;/&gt;</code>. Trusting it in every app "
	"needs the <b>system</b> store, which takes a rooted device or an emulator "
	"image you control.</p>\n"

	"<h2>macOS</h2><ol>\n"
	"<li>Download <b>ca.pem</b> and open it: Keychain Access adds it.</li>\n"
	"<li>In Keychain Access double-click the ringcap CA, open <b>Trust</b>, set "
	"<b>When using this certificate: Always Trust</b>, close and confirm with your "
	"password.</li></ol>\n"
	"<p>Or: <code>sudo security add-trusted-cert -d -r trustRoot -k "
	"/Library/Keychains/System.keychain ringcap-ca.pem</code></p>\n"

	"<h2>Windows</h2>\n"
	"<p>In an administrator prompt: <code>certutil -addstore Root "
	"ringcap-ca.cer</code>. Or open <b>ca.cer</b>, <b>Install Certificate</b>, "
	"<b>Local Machine</b>, <b>Place all certificates in the following store</b>: "
	"<b>Trusted Root Certification Authorities</b>.</p>\n"

	"<h2>Linux</h2>\n"
	"<p>Debian, Ubuntu: <code>sudo cp ringcap-ca.pem "
	"/usr/local/share/ca-certificates/ringcap-ca.crt &amp;&amp; sudo "
	"update-ca-certificates</code> (the name must end in .crt). Fedora: copy it to "
	"<code>/etc/pki/ca-trust/source/anchors/</code> and run "
	"<code>sudo update-ca-trust</code>. For one command only: "
	"<code>curl --cacert ringcap-ca.pem https://...</code>; Python "
	"<code>REQUESTS_CA_BUNDLE</code>, Node <code>NODE_EXTRA_CA_CERTS</code>.</p>\n"

	"<h2>Firefox</h2>\n"
	"<p>Firefox keeps its own store: <b>Settings &gt; Privacy &amp; Security &gt; "
	"Certificates &gt; View Certificates &gt; Authorities &gt; Import</b>, pick "
	"<b>ca.pem</b> and tick <b>Trust this CA to identify websites</b>.</p>\n"
	"</body></html>\n";

/* ---- public functions ---- */

bool eng_onboard_is_host(const char *host, size_t len)
{
	size_t n = sizeof(ENG_ONBOARD_HOST) - 1;

	if (len == n + 1 && host[n] == '.')
		len = n;
	return len == n && strncasecmp(host, ENG_ONBOARD_HOST, n) == 0;
}

int eng_onboard_answer(const char *path, size_t path_len,
		       const struct eng_onboard_ca *ca, char *page, size_t page_cap,
		       struct eng_onboard_reply *out)
{
	const char *q = memchr(path, '?', path_len);
	size_t n = q != NULL ? (size_t)(q - path) : path_len;
	const void *bytes[F_COUNT] = { ca->pem, ca->der, ca->der, ca->p12, ca->fingerprint };
	size_t lens[F_COUNT] = { ca->pem_len, ca->der_len, ca->der_len, ca->p12_len,
				 ca->fingerprint != NULL ? strlen(ca->fingerprint) : 0 };

	memset(out, 0, sizeof(*out));
	out->status = 404;
	out->content_type = "text/plain; charset=utf-8";
	set_body(out, not_found, sizeof(not_found) - 1);
	if ((n == 1 && path[0] == '/') || (n == 11 && memcmp(path, "/index.html", 11) == 0)) {
		long len = (long)ca->page_len;

		if (ca->page == NULL)
			len = eng_onboard_page(ca, page, page_cap);
		if (len < 0) {
			memset(out, 0, sizeof(*out));
			return -ENOSPC;
		}
		out->status = 200;
		out->content_type = "text/html; charset=utf-8";
		set_body(out, ca->page != NULL ? ca->page : page, (size_t)len);
		return 0;
	}
	for (size_t i = 0; i < F_COUNT; i++) {
		if (strlen(files[i].path) != n || memcmp(files[i].path, path, n) != 0)
			continue;
		if (bytes[i] == NULL || lens[i] == 0)
			return 0;   /* not available: the 404 already set */
		out->status = 200;
		out->content_type = files[i].ctype;
		out->filename = files[i].filename;
		set_body(out, bytes[i], lens[i]);
		if (i == F_SHA256) {
			out->piece[1] = (struct eng_onboard_piece){ "\n", 1 };
			out->body_len++;
		}
		return 0;
	}
	return 0;
}

long eng_onboard_page(const struct eng_onboard_ca *ca, char *buf, size_t cap)
{
	struct page_out o = { .p = buf, .cap = cap };

	build_page(&o, ca);
	return o.overflow ? -ENOSPC : (long)o.len;
}

long eng_onboard_write_head(const struct eng_onboard_reply *r, bool close,
			    char *out, size_t cap)
{
	char disp[96] = "";
	int n;

	if (r->filename != NULL)
		snprintf(disp, sizeof(disp), "Content-Disposition: attachment; "
			 "filename=\"%s\"\r\n", r->filename);
	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\n%sCache-Control: no-store\r\n"
		     "X-Content-Type-Options: nosniff\r\nVia: 1.1 ringcap\r\n%s\r\n",
		     r->status, r->status == 200 ? "OK" : "Not Found", r->content_type,
		     r->body_len, disp, close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

/* ---- helpers ---- */

static void set_body(struct eng_onboard_reply *r, const void *p, size_t len)
{
	r->piece[0] = (struct eng_onboard_piece){ p, len };
	r->piece[1] = (struct eng_onboard_piece){ NULL, 0 };
	r->body_len = len;
}

static void put_bytes(struct page_out *o, const char *s, size_t len)
{
	if (o->overflow || len > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, len);
	o->len += len;
}

static void put(struct page_out *o, const char *s)
{
	put_bytes(o, s, strlen(s));
}

/* Appends S with &, <, >, " and ' replaced by entities. Bounded by S's
 * length (NUL-terminated, from tls_ca: a fingerprint or a subject). */
static void put_escaped(struct page_out *o, const char *s)
{
	for (; *s != '\0' && !o->overflow; s++) {
		switch (*s) {
		case '&': put(o, "&amp;"); break;
		case '<': put(o, "&lt;"); break;
		case '>': put(o, "&gt;"); break;
		case '"': put(o, "&quot;"); break;
		case '\'': put(o, "&#39;"); break;
		default: put_bytes(o, s, 1); break;
		}
	}
}

static void build_page(struct page_out *o, const struct eng_onboard_ca *ca)
{
	put(o, page_head);
	if (ca->subject != NULL && ca->subject[0] != '\0') {
		put(o, ", <b>");
		put_escaped(o, ca->subject);
		put(o, "</b>");
	}
	put(o, page_fp);
	put_escaped(o, ca->fingerprint != NULL ? ca->fingerprint : "(unknown)");
	put(o, page_body);
}
