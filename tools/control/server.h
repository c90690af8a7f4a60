/*
 * tools/control/server.h - the control port (default 127.0.0.1:5560) on
 * libmicrohttpd: the CA files and install page, Prometheus metrics, the
 * OpenAPI document and the JSON API, as rows of the route tables
 * (router.h, routes.c). Served by MHD's epoll thread pool, never the data
 * plane; streamed answers hold no thread while they wait.
 */
#ifndef RINGCAP_CONTROL_H
#define RINGCAP_CONTROL_H

#include <sys/socket.h>

struct eng;
struct eng_onboard_ca;
struct rc_api;
struct rc_capture;
struct rc_control;

struct rc_control_cfg {
	const struct sockaddr_storage *addr;
	socklen_t addr_len;
	const struct eng_onboard_ca *ca; /* NULL: interception off, the CA paths are 404 */
	struct rc_api *api;              /* NULL: /api/ is 404 */
	struct rc_capture *capture;      /* NULL: no capture families in /metrics */
	const char *token;               /* NULL or "": no Authorization needed */
	const struct sockaddr_storage *proxy; /* the proxy listener, for the web UI; may be NULL */
};

/* Binds cfg->addr (one clear sentence in err on failure) and serves on
 * threads of its own. cfg's pointers must outlive the server. */
int rc_control_start(struct rc_control **out, const struct rc_control_cfg *cfg,
		     char *err, size_t err_len);
/* The engine whose counters /metrics shows (set once it runs). */
void rc_control_set_engine(struct rc_control *c, struct eng *e);
/* Streamed answers open now (event feeds, exports). */
unsigned rc_control_streams(struct rc_control *c);
/* Stops: ends every stream, lets running requests end, frees. */
void rc_control_stop(struct rc_control *c);

#endif
