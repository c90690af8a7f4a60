/*
 * tools/control/views_routes.h - the overview and cookie routes of the control API,
 * ready for tools/api.c's session router to call (it resolves the session
 * and its directory, then hands the rest over):
 *
 *   GET    /api/sessions/ID/overview?by=method|domain|type|status
 *                                   [&interval_ms=N][&search=TEXT]
 *   GET    /api/sessions/ID/cookies[?format=json|netscape]
 *   DELETE /api/sessions/ID/cookies   body {"cookies":[{"name":..,"domain":..,
 *                                     "path":..},..]} or {"all":true}
 *
 * Each returns the HTTP status; on 200 the answer is in out (and *ctype
 * says its type), otherwise err holds a sentence naming the bad part.
 */
#ifndef RINGCAP_VIEWSAPI_H
#define RINGCAP_VIEWSAPI_H

#include <stddef.h>

struct rc_buf;

int rc_views_overview(const char *session_dir, const char *query, struct rc_buf *out,
		      char *err, size_t errlen);
/* method: "GET"/"HEAD" lists, "DELETE" deletes (405 otherwise, err says
 * what is allowed); body may be NULL. *ctype: "application/json" or, for
 * format=netscape, "text/plain; charset=utf-8". */
int rc_views_cookies(const char *session_dir, const char *method, const char *query,
		     const char *body, size_t body_len, struct rc_buf *out, const char **ctype,
		     char *err, size_t errlen);

#endif
