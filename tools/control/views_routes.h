/*
 * tools/control/views_routes.h - the overview and cookie routes of the API
 * (rows of rc_views_routes, registered in routes.c):
 *
 *   GET    /api/sessions/:id/overview?by=method|domain|type|status
 *                                   [&interval_ms=N][&search=TEXT]
 *   GET    /api/sessions/:id/cookies[?format=json|netscape]
 *   DELETE /api/sessions/:id/cookies   body {"cookies":[{"name":..,"domain":..,
 *                                      "path":..},..]} or {"all":true}
 *
 * The work behind them, callable without HTTP (unit tests): each returns 0
 * with the answer appended to out, or -errno (-EINVAL for a bad part) with
 * err holding a sentence naming it.
 */
#ifndef RINGCAP_VIEWSAPI_H
#define RINGCAP_VIEWSAPI_H

#include <stddef.h>

struct rc_buf;

int rc_views_overview(const char *session_dir, const char *query, struct rc_buf *out,
		      char *err, size_t errlen);
/* *ctype: "application/json" or, for format=netscape, "text/plain; charset=utf-8". */
int rc_views_cookies_get(const char *session_dir, const char *query, struct rc_buf *out,
			 const char **ctype, char *err, size_t errlen);
int rc_views_cookies_delete(const char *session_dir, const char *body, size_t body_len,
			    struct rc_buf *out, char *err, size_t errlen);

#endif
