/*
 * tools/control/server.c - the control port: a small HTTP/1.1 server away from the
 * data plane. One thread accepts; each connection gets a thread of its own
 * (at most CTL_CONNS_MAX at once, beyond: 503), so a long answer or a
 * Server-Sent Events stream never holds up another request. Keep-alive and
 * pipelining per connection; bounds and timeouts in tools/http.h.
 *
 *   GET /ca.pem /ca.crt /ca.cer /ca.p12 /ca.sha256   the interception CA
 *   GET /ca  (and /ca/)                               the install page
 *   GET /metrics                                      Prometheus text
 *   /api/...                                          JSON API (tools/api.c)
 *
 * Security: when a token is configured (the port is bound off loopback),
 * every request but the CA ones needs "Authorization: Bearer TOKEN" (401
 * otherwise). The CA files stay public: a certificate is public by nature
 * and a phone must fetch it before it can hold any secret.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "engine/eng.h"
#include "engine/onboard.h"
#include "tools/control/api.h"
#include "tools/capture/sink.h"
#include "tools/control/server.h"
#include "tools/control/http.h"
#include "tools/control/metrics.h"
#include "tools/control/token.h"
#include "tools/control/ui_http.h"

#define CTL_METRICS_MAX RC_METRICS_MAX /* the /metrics text */
#define CTL_CONNS_MAX RC_CTL_CONNS_MAX       /* a thread each */
#define CTL_REQUESTS_MAX RC_CTL_REQUESTS_MAX
#define CTL_STOP_WAIT_MS RC_CTL_STOP_WAIT_MS

struct rc_control {
	int fd;
	pthread_t thread;
	atomic_bool stop;
	const struct eng_onboard_ca *ca;
	struct rc_api *api;
	struct rc_capture *capture;
	char token[RC_TOKEN_HEX + 1]; /* "" = no token needed */
	_Atomic(struct eng *) eng;
	atomic_uint live;             /* connection threads running */
	struct rc_ui_site *ui;        /* the web UI (ui_http.h) */
};

struct ctl_conn {
	struct rc_control *c;
	struct rc_http_conn h;
};

static size_t metrics(struct rc_control *c, struct eng *e, char *out, size_t cap)
{
	struct eng_counters k;
	struct rc_capture_stats cs;
	eng_counters(e, &k);
	if (c->capture)
		rc_capture_stats(c->capture, &cs);
	long n = rc_metrics_text(&k, c->capture ? &cs : NULL, out, cap);
	return n < 0 ? 0 : (size_t)n;
}

/* GET /metrics and the CA files. Returns keep-alive. */
static bool serve_static(struct rc_control *c, struct rc_http_conn *h, const struct rc_http_req *rq)
{
	/* /metrics and the CA files close after the answer, as they always
	 * did: scripts read them to EOF (keep-alive is for /api/) */
	bool keep = false;
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
		rc_http_reply(h, 405, "text/plain", "GET only\n", 9, keep, false, "Allow: GET, HEAD\r\n");
		return keep;
	}
	if (strcmp(rq->path, "/metrics") == 0) {
		char *text = malloc(CTL_METRICS_MAX);
		struct eng *e = atomic_load(&c->eng);
		if (text == NULL || e == NULL) {
			free(text);
			rc_http_reply(h, 503, "text/plain", "starting\n", 9, keep, rq->head_only, NULL);
			return keep;
		}
		size_t n = metrics(c, e, text, CTL_METRICS_MAX);
		int rc = rc_http_reply(h, 200, "text/plain; version=0.0.4", text, n, keep,
				       rq->head_only, NULL);
		free(text);
		return keep && rc == 0;
	}
	struct eng_onboard_reply r;
	const char *p = rq->path;
	if (strcmp(p, "/ca") == 0 || strcmp(p, "/ca/") == 0)
		p = "/";
	if (c->ca && (strncmp(p, "/ca.", 4) == 0 || strcmp(p, "/") == 0) &&
	    eng_onboard_answer(p, strlen(p), c->ca, NULL, 0, &r) == 0 && r.status == 200) {
		char head[ENG_ONBOARD_HEAD_MAX];
		long n = eng_onboard_write_head(&r, true, head, sizeof(head));
		if (n > 0) {
			/* the onboarding head says Connection: close */
			if (rc_http_send(h, head, (size_t)n) == 0)
				for (int i = 0; i < 2 && !rq->head_only; i++)
					if (rc_http_send(h, r.piece[i].p, r.piece[i].len) < 0)
						break;
			return false;
		}
	}
	rc_http_reply(h, 404, "text/plain", "not found\n", 10, keep, rq->head_only, NULL);
	return keep;
}

static bool is_ca_path(const char *p)
{
	return strcmp(p, "/ca") == 0 || strcmp(p, "/ca/") == 0 || strncmp(p, "/ca.", 4) == 0;
}

/* One request: authorisation, then the route. Returns keep-alive. */
static bool route(struct rc_control *c, struct rc_http_conn *h, struct rc_http_req *rq)
{
	bool authorised = !c->token[0] || rc_token_check(rq->auth, c->token);
	int ui = rc_ui_http(c->ui, h, rq, authorised);   /* its assets are public */
	if (ui >= 0)
		return ui;
	if (!authorised && !is_ca_path(rq->path)) {
		rc_http_error(h, 401, rq->auth[0] ? "wrong bearer token" :
			      "this control port needs Authorization: Bearer TOKEN (the token is in "
			      "the data directory, file " RC_TOKEN_FILE ")", rq->keep_alive);
		return rq->keep_alive;
	}
	if (strncmp(rq->path, "/api/", 5) == 0 || strcmp(rq->path, "/api") == 0) {
		if (c->api == NULL) {
			rc_http_error(h, 404, "no API on this port", rq->keep_alive);
			return rq->keep_alive;
		}
		return rc_api_handle(c->api, h, rq);
	}
	return serve_static(c, h, rq);
}

static void *conn_main(void *arg)
{
	struct ctl_conn *cc = arg;
	struct rc_control *c = cc->c;
	for (unsigned n = 0; n < CTL_REQUESTS_MAX; n++) {
		struct rc_http_req rq;
		int rc = rc_http_read(&cc->h, &rq);
		if (rc < 0)
			break;
		if (rc > 0) {
			rc_http_error(&cc->h, rc, rc_http_reason(rc), false);
			break;
		}
		bool keep = route(c, &cc->h, &rq);
		rc_http_req_free(&rq);
		if (!keep || atomic_load(&c->stop))
			break;
	}
	close(cc->h.fd);
	free(cc);
	atomic_fetch_sub(&c->live, 1);
	return NULL;
}

/* Hands fd to a thread of its own, or answers 503 when too many run. */
static void dispatch(struct rc_control *c, int fd)
{
	struct ctl_conn *cc = NULL;
	pthread_attr_t attr;
	pthread_t t;
	if (atomic_fetch_add(&c->live, 1) >= CTL_CONNS_MAX || (cc = malloc(sizeof(*cc))) == NULL)
		goto out_busy;
	cc->c = c;
	cc->h = (struct rc_http_conn){ .fd = fd, .stop = &c->stop };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256u << 10);
	int rc = pthread_create(&t, &attr, conn_main, cc);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return;
	free(cc);
out_busy:
	{
		struct rc_http_conn h = { .fd = fd, .stop = &c->stop };
		rc_http_error(&h, 503, "too many control connections", false);
	}
	close(fd);
	atomic_fetch_sub(&c->live, 1);
}

static void *control_main(void *arg)
{
	struct rc_control *c = arg;
	while (!atomic_load(&c->stop)) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int n = poll(&p, 1, 200);
		if (c->api)
			rc_api_tick(c->api);
		if (n <= 0)
			continue;
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		dispatch(c, fd);
	}
	return NULL;
}

int rc_control_start(struct rc_control **out, const struct rc_control_cfg *cfg,
		     char *err, size_t err_len)
{
	struct rc_control *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	c->ca = cfg->ca;
	c->api = cfg->api;
	c->capture = cfg->capture;
	if (cfg->token)
		snprintf(c->token, sizeof(c->token), "%s", cfg->token);
	c->ui = malloc(sizeof(*c->ui));
	if (c->ui == NULL)
		return free(c), snprintf(err, err_len, "out of memory"), -ENOMEM;
	rc_ui_site_init(c->ui, cfg->proxy, cfg->ca ? cfg->ca->fingerprint : NULL, c->token[0]);
	c->fd = socket(cfg->addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (c->fd >= 0)
		setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (c->fd < 0 || bind(c->fd, (const struct sockaddr *)cfg->addr, cfg->addr_len) < 0 ||
	    listen(c->fd, 64) < 0) {
		int rc = -errno;
		snprintf(err, err_len, "cannot listen on the control port: %s", strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		free(c->ui);
		free(c);
		return rc;
	}
	int rc = pthread_create(&c->thread, NULL, control_main, c);
	if (rc != 0) {
		snprintf(err, err_len, "cannot start the control thread: %s", strerror(rc));
		close(c->fd);
		free(c->ui);
		free(c);
		return -rc;
	}
	*out = c;
	return 0;
}

void rc_control_set_engine(struct rc_control *c, struct eng *e)
{
	atomic_store(&c->eng, e);
}

void rc_control_stop(struct rc_control *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	close(c->fd);
	/* connection threads see the flag within a poll slice (200 ms) */
	for (int i = 0; i < CTL_STOP_WAIT_MS / 10 && atomic_load(&c->live) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	if (atomic_load(&c->live) > 0) {
		fprintf(stderr, "ringcap: control connections still busy at exit\n");
		return;   /* leak c rather than free it under a running thread */
	}
	free(c->ui);
	free(c);
}
