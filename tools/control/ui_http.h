/*
 * tools/control/ui_http.h - the web UI's routes on the control port (a
 * table of router.h, rc_ui_routes): the embedded assets (ui.h), the
 * onboarding QR code (qr.h) and a small status route for the page's header:
 *
 *   GET /  /index.html  /ui/NAME    the assets (public: the login form must load)
 *   GET /ui/qr.svg                  QR code of http://ringcap.cert/ (public)
 *   GET /ui/info                    {"proxy":["ADDR:PORT",..],"onboard_url":..,
 *                                    "ca_sha256":..|null,"token_needed":bool}
 *                                   (needs the token like /api/)
 *
 * The counters come from /metrics and the capture state from /api/status:
 * the page reads those routes as they are.
 */
#ifndef RINGCAP_UI_HTTP_H
#define RINGCAP_UI_HTTP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "tools/control/qr.h"

#define RC_UI_ONBOARD_URL "http://ringcap.cert/"
#define RC_UI_ADDRS_MAX 16u   /* proxy addresses listed (interfaces of a lab box) */

struct rc_ui_site {
	struct sockaddr_storage proxy;   /* the proxy listener; family 0: unknown */
	const char *fingerprint;         /* the CA's SHA-256, NULL: interception off */
	bool token_needed;
	char qr[RC_QR_SVG_MAX];
	long qr_len;                     /* <= 0: no QR (answers 500) */
};

/* Fills s (proxy may be NULL); draws the QR code once. */
void rc_ui_site_init(struct rc_ui_site *s, const struct sockaddr_storage *proxy,
		     const char *fingerprint, bool token_needed);

#endif
