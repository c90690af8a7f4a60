/*
 * tools/control/port_routes.c - what the control port serves besides the
 * API: the interception CA and its install page, and Prometheus metrics
 * ("/" is the web UI's: ui_http.c).
 *
 *   GET /ca.pem /ca.crt /ca.cer /ca.p12 /ca.sha256   the CA (public: no token)
 *   GET /ca  (and /ca/)                               the install page (public)
 *   GET /metrics                                      Prometheus text 0.0.4
 *
 * All close the connection after the answer, as they always did: scripts
 * read them to EOF (keep-alive is for /api/). The CA files stay public: a
 * certificate is public by nature and a phone must fetch it before it can
 * hold any secret.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng.h"
#include "engine/onboard.h"
#include "tools/capture/sink.h"
#include "tools/control/metrics.h"
#include "tools/control/router.h"

static int h_metrics(struct rc_req *rq, struct rc_resp *rs)
{
	struct eng *e = atomic_load(&rq->env->eng);
	struct eng_counters k;
	struct rc_capture_stats cs;
	if (e == NULL)
		return rc_fail(rs, -EAGAIN, "starting");
	char *text = malloc(RC_METRICS_MAX);
	if (text == NULL)
		return rc_fail(rs, -ENOMEM, "out of memory");
	eng_counters(e, &k);
	if (rq->env->capture)
		rc_capture_stats(rq->env->capture, &cs);
	long n = rc_metrics_text(&k, rq->env->capture ? &cs : NULL, text, RC_METRICS_MAX);
	if (n > 0)
		rc_buf_add(&rs->body, text, (size_t)n);
	free(text);
	rs->ctype = "text/plain; version=0.0.4";
	return n > 0 ? 0 : rc_fail(rs, -EIO, "metrics text too long");
}

/* The onboarding answer for path ("/" is the page). */
static int onboard(struct rc_req *rq, struct rc_resp *rs, const char *path)
{
	const struct eng_onboard_ca *ca = rq->env->ca;
	struct eng_onboard_reply r;
	char *page = malloc(ENG_ONBOARD_PAGE_MAX);
	int rc = page && ca ? eng_onboard_answer(path, strlen(path), ca, page, ENG_ONBOARD_PAGE_MAX,
						 &r) : -ENOENT;
	if (rc == 0 && r.status == 200) {
		for (int i = 0; i < 2; i++)
			rc_buf_add(&rs->body, r.piece[i].p, r.piece[i].len);
		rs->ctype = r.content_type;
		rc_resp_header(rs, "X-Content-Type-Options", "nosniff");
		if (r.filename) {
			char disp[128];
			snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", r.filename);
			rc_resp_header(rs, "Content-Disposition", disp);
		}
	} else {
		rc = rc_fail(rs, -ENOENT, ca ? "not found" : "interception is off: no CA here");
	}
	free(page);
	return rc;
}

static int h_page(struct rc_req *rq, struct rc_resp *rs)
{
	return onboard(rq, rs, "/");
}

static int h_file(struct rc_req *rq, struct rc_resp *rs)
{
	return onboard(rq, rs, rq->path);
}

#define CA (RC_ROUTE_PUBLIC | RC_ROUTE_CLOSE | RC_ROUTE_HIDDEN)
static const struct rc_route routes[] = {
	{ "GET", "/metrics", h_metrics, RC_ROUTE_CLOSE | RC_ROUTE_HIDDEN, "Prometheus metrics",
	  NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ca", h_page, CA, "CA install page", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ca.pem", h_file, CA, "CA, PEM", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ca.crt", h_file, CA, "CA, DER", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ca.cer", h_file, CA, "CA, DER", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ca.p12", h_file, CA, "CA, PKCS#12", NULL, NULL, NULL, NULL, 0, NULL },
	{ "GET", "/ca.sha256", h_file, CA, "CA fingerprint", NULL, NULL, NULL, NULL, 0, NULL },
};

const struct rc_route_table rc_port_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
