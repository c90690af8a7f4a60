/*
 * tools/control/server.c - the control port on libmicrohttpd: MHD's
 * internal epoll threads (RC_CTL_THREADS of them, a pool) serve every
 * connection; the routes are in the tables of router.h. A streamed answer
 * (Server-Sent Events, an export) is pulled through a callback response:
 * when its source has nothing to say the connection is suspended and
 * holds no thread until rc_stream_wake resumes it. One more thread of
 * ours ticks (RC_CTL_TICK_MS): session housekeeping and the event feeds.
 *
 * What MHD does not do for us, done before a request reaches a route:
 * a head over RC_HTTP_HEAD_MAX is 431, a target over the path or query
 * bound 414, a body announced over RC_HTTP_BODY_MAX 413, a
 * Transfer-Encoding body 411 (the API takes Content-Length bodies),
 * differing Content-Length lines 400, HTTP other than 1.x 505; all with
 * the JSON error body, then the connection is closed. Idle connections go
 * after RC_HTTP_IO_TIMEOUT_MS, at most RC_CTL_CONNS_MAX are served at once
 * (the next CONNS_SPARE are answered 503, more are closed at accept by
 * MHD), at most RC_CTL_REQUESTS_MAX requests
 * ride one connection. The raw target comes from MHD's URI log callback,
 * so that path segments and query values are decoded by our rules
 * (%00 refused, "%2F" kept inside a segment).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "engine/onboard.h"
#include "tools/control/api.h"
#include "tools/control/router.h"
#include "tools/control/server.h"
#include "tools/control/token.h"
#include "tools/control/ui_http.h"
#include "tools/lib/rc-limits.h"

#define MHD_POOL_BYTES (64u << 10) /* per connection: a head of RC_HTTP_HEAD_MAX
				    * with room, so that we, not MHD, answer 431 */
#define STREAM_BLOCK 16384u        /* bytes asked of a stream's read at once */
#define CONNS_SPARE 4u             /* connections past RC_CTL_CONNS_MAX that MHD still
				    * accepts, to answer them 503 (then it closes more) */
_Static_assert(MHD_POOL_BYTES > 2 * RC_HTTP_HEAD_MAX, "our 431 comes before MHD's");

struct rc_control {
	struct MHD_Daemon *mhd;
	int fd;
	struct rc_ctl_env env;
	char token[RC_TOKEN_HEX + 1]; /* "" = no token needed */
	pthread_t ticker;
	atomic_bool stop;
	pthread_mutex_t mu;           /* guards streams */
	struct rc_stream *streams;    /* every open streamed answer */
	unsigned nstreams;
	atomic_uint conns;            /* connections open now */
	struct rc_ui_site *ui;        /* the web UI (ui_http.h) */
};

struct rc_stream {
	pthread_mutex_t mu;           /* guards conn, suspended, woken */
	struct MHD_Connection *conn;  /* NULL once MHD is done with the answer */
	bool suspended, woken;
	atomic_int refs;              /* the answer, and attach's holder */
	struct rc_control *c;
	const struct rc_stream_ops *ops;
	void *ctx;
	struct rc_stream *next, *prev;
};

/* Per request: MHD's req_cls, made by the URI log callback. */
struct ctl_req {
	char *uri;                    /* raw target as sent */
	bool started;
	bool refused;                 /* answered before the body (413, 411 ...) */
	struct rc_buf body;
};

/* Per connection: MHD's socket_context. */
struct ctl_conn {
	unsigned requests;
	bool over;                    /* opened past RC_CTL_CONNS_MAX: answered 503 */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- streams ---- */

static void stream_unref(struct rc_stream *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void rc_stream_release(struct rc_stream *s)
{
	if (s)
		stream_unref(s);
}

void rc_stream_wake(struct rc_stream *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->conn && s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	} else {
		s->woken = true;
	}
	pthread_mutex_unlock(&s->mu);
}

bool rc_stream_peer_gone(struct rc_stream *s)
{
	bool gone = false;
	pthread_mutex_lock(&s->mu);
	const union MHD_ConnectionInfo *ci = s->conn && s->suspended
		? MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
	if (ci) {
		struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
		gone = poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
	}
	pthread_mutex_unlock(&s->mu);
	return gone;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct rc_stream *s = cls;
	(void)pos;
	if (atomic_load(&s->c->stop))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	pthread_mutex_lock(&s->mu);
	ssize_t n = s->ops->read(s->ctx, buf, max);
	if (n == 0 && s->woken) {
		s->woken = false;      /* news came while reading: ask again at once */
	} else if (n == 0) {
		s->suspended = true;   /* no thread is held until rc_stream_wake */
		MHD_suspend_connection(s->conn);
	}
	pthread_mutex_unlock(&s->mu);
	if (n == RC_STREAM_END)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void stream_done(void *cls)
{
	struct rc_stream *s = cls;
	struct rc_control *c = s->c;
	pthread_mutex_lock(&s->mu);
	s->conn = NULL;
	pthread_mutex_unlock(&s->mu);
	s->ops->done(s->ctx);
	pthread_mutex_lock(&c->mu);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->nstreams--;
	pthread_mutex_unlock(&c->mu);
	stream_unref(s);
}

static struct MHD_Response *stream_response(struct rc_control *c, struct MHD_Connection *conn,
					    struct rc_resp *rs)
{
	struct rc_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->conn = conn;
	s->c = c;
	s->ops = rs->stream;
	s->ctx = rs->stream_ctx;
	atomic_init(&s->refs, rs->stream->attach ? 2 : 1);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
								   stream_read, s, stream_done);
	if (r == NULL) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	if (rs->stream_close_delimited)
		MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
	pthread_mutex_lock(&c->mu);
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->nstreams++;
	pthread_mutex_unlock(&c->mu);
	if (rs->stream->attach)
		rs->stream->attach(rs->stream_ctx, s);
	return r;
}

/* ---- answers ---- */

static void free_buf(void *p)
{
	free(p);
}

static int add_headers(struct MHD_Response *r, char *lines)
{
	char *save = NULL;
	for (char *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(l, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		if (MHD_add_response_header(r, l, colon + 1 + (colon[1] == ' ')) == MHD_NO)
			return -ENOMEM;
	}
	return 0;
}

/* Whether the "Name: value\n" lines have a header called name. */
static bool has_header(const char *lines, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = lines; *l != '\0';) {
		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			return true;
		const char *nl = strchr(l, '\n');
		if (nl == NULL)
			break;
		l = nl + 1;
	}
	return false;
}

/* Queues rs on conn; takes rs->body (or the stream) over. */
static enum MHD_Result answer(struct rc_control *c, struct MHD_Connection *conn,
			      struct rc_resp *rs)
{
	struct MHD_Response *r;
	if (rs->stream) {
		r = stream_response(c, conn, rs);
		if (r == NULL) {
			rs->stream->done(rs->stream_ctx);
			return MHD_NO;
		}
	} else if (rs->fixed) {
		r = MHD_create_response_from_buffer(rs->fixed_len, (void *)rs->fixed,
						    MHD_RESPMEM_PERSISTENT);
	} else {
		if (rs->ctype == NULL)
			rc_buf_puts(&rs->body, "\n");
		if (rs->body.p == NULL)
			rc_buf_puts(&rs->body, "");
		r = MHD_create_response_from_buffer_with_free_callback(rs->body.len, rs->body.p,
								       free_buf);
		if (r != NULL)
			rs->body = (struct rc_buf){0};
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", rs->ctype ? rs->ctype : "application/json");
	if (!has_header(rs->headers, "Cache-Control"))   /* the UI's assets revalidate */
		MHD_add_response_header(r, "Cache-Control", "no-store");
	add_headers(r, rs->headers);
	if (rs->close)
		MHD_add_response_header(r, "Connection", "close");
	enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* An answer before routing (transport-level refusals): JSON, then close. */
static enum MHD_Result refuse(struct rc_control *c, struct MHD_Connection *conn, int status,
			      const char *msg)
{
	struct rc_resp rs = { .status = status, .close = true };
	snprintf(rs.err, sizeof(rs.err), "%s", msg);
	rc_resp_error_body(&rs);
	enum MHD_Result ok = answer(c, conn, &rs);
	rc_buf_free(&rs.body);
	return ok;
}

/* ---- requests ---- */

struct head_scan {
	size_t bytes;
	unsigned content_lengths;
	const char *content_length;
	bool differ, chunked;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct head_scan *h = cls;
	(void)kind;
	h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	if (strcasecmp(key, "Transfer-Encoding") == 0)
		h->chunked = true;
	if (strcasecmp(key, "Content-Length") == 0 && value) {
		if (h->content_length && strcmp(h->content_length, value) != 0)
			h->differ = true;
		h->content_length = value;
	}
	return MHD_YES;
}

/* The checks of the file comment; 0 or the status to refuse with. */
static int check_head(struct MHD_Connection *conn, const char *method, const char *version,
		      const char *uri, const char **why)
{
	struct head_scan h = { .bytes = strlen(method) + strlen(uri) + 12 };
	MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &h);
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	if (strncmp(version, "HTTP/1.", 7) != 0)
		return *why = "HTTP/1.0 or HTTP/1.1 only", version[0] ? 505 : 400;
	if (h.bytes > RC_HTTP_HEAD_MAX)
		return *why = "request head too large", 431;
	if (plen >= RC_HTTP_PATH_MAX || (q && strlen(q + 1) >= RC_HTTP_QUERY_MAX))
		return *why = "request target too long", 414;
	if (uri[0] != '/')
		return *why = "origin-form targets only", 400;
	if (h.chunked)
		return *why = "a body needs Content-Length", 411;
	if (h.differ)
		return *why = "differing Content-Length", 400;
	if (h.content_length) {
		char *end;
		unsigned long long n = strtoull(h.content_length, &end, 10);
		if (*end != '\0' || h.content_length[0] < '0' || h.content_length[0] > '9')
			return *why = "bad Content-Length", 400;
		if (n > RC_HTTP_BODY_MAX)
			return *why = "request body too large", 413;
	}
	return 0;
}

static enum MHD_Result dispatch(struct rc_control *c, struct MHD_Connection *conn,
				const char *method, struct ctl_req *cr)
{
	char *q = strchr(cr->uri, '?');
	if (q)
		*q++ = '\0';
	bool head = strcmp(method, "HEAD") == 0;
	struct rc_req rq = {
		.method = head ? "GET" : method, .path = cr->uri, .query = q ? q : "",
		.body = cr->body.p ? cr->body.p : "", .body_len = cr->body.len,
		.head_only = head, .env = &c->env, .conn = conn,
	};
	struct rc_resp *rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return MHD_NO;
	rs->body.max = RC_API_OUT_MAX;
	rc_route_dispatch(&rq, rs, c->token,
			  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct ctl_conn *cc = ci ? ci->socket_context : NULL;
	if (cc && ++cc->requests >= RC_CTL_REQUESTS_MAX)
		rs->close = true;
	if (atomic_load(&c->stop))
		rs->close = true;
	enum MHD_Result ok = answer(c, conn, rs);
	rc_buf_free(&rs->body);
	free(rs);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **req_cls)
{
	struct rc_control *c = cls;
	struct ctl_req *cr = *req_cls;
	(void)url;
	if (cr == NULL || cr->uri == NULL)
		return MHD_NO;
	if (!cr->started) {
		const char *why = "";
		cr->started = true;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		const struct ctl_conn *cc = ci ? ci->socket_context : NULL;
		int st = cc && cc->over ? (why = "too many control connections", 503)
					: check_head(conn, method, version, cr->uri, &why);
		if (st) {
			cr->refused = true;
			return refuse(c, conn, st, why);
		}
		cr->body.max = RC_HTTP_BODY_MAX + 1;
		return MHD_YES;
	}
	if (cr->refused) {
		*upload_size = 0;   /* answered already: the rest of the body is dropped */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		rc_buf_add(&cr->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (cr->body.oom) {
		cr->refused = true;
		return refuse(c, conn, 413, "request body too large");
	}
	return dispatch(c, conn, method, cr);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct ctl_req *cr = calloc(1, sizeof(*cr));
	if (cr)
		cr->uri = strdup(uri);
	return cr;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ctl_req *cr = *req_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (cr == NULL)
		return;
	free(cr->uri);
	rc_buf_free(&cr->body);
	free(cr);
	*req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct rc_control *c = cls;
	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct ctl_conn *cc = calloc(1, sizeof(*cc));
		unsigned n = atomic_fetch_add(&c->conns, 1);
		if (cc)
			cc->over = n >= RC_CTL_CONNS_MAX;
		*socket_context = cc;
	} else {
		atomic_fetch_sub(&c->conns, 1);
		free(*socket_context);
		*socket_context = NULL;
	}
}

const char *rc_req_header(const struct rc_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* ---- life ---- */

static void *tick_main(void *arg)
{
	struct rc_control *c = arg;
	while (!atomic_load(&c->stop)) {
		nanosleep(&(struct timespec){ .tv_nsec = RC_CTL_TICK_MS * 1000000L }, NULL);
		if (c->env.api)
			rc_api_tick(c->env.api);
	}
	return NULL;
}

static int listen_on(const struct rc_control_cfg *cfg, char *err, size_t err_len)
{
	int fd = socket(cfg->addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (const struct sockaddr *)cfg->addr, cfg->addr_len) < 0 ||
	    listen(fd, 64) < 0) {
		int rc = -errno;
		snprintf(err, err_len, "cannot listen on the control port: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

int rc_control_start(struct rc_control **out, const struct rc_control_cfg *cfg,
		     char *err, size_t err_len)
{
	struct rc_control *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	c->env.api = cfg->api;
	c->env.ca = cfg->ca;
	c->env.capture = cfg->capture;
	pthread_mutex_init(&c->mu, NULL);
	if (cfg->token)
		snprintf(c->token, sizeof(c->token), "%s", cfg->token);
	int rc;
	c->ui = malloc(sizeof(*c->ui));
	if (c->ui == NULL) {
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto out_free;
	}
	rc_ui_site_init(c->ui, cfg->proxy, cfg->ca ? cfg->ca->fingerprint : NULL, c->token[0]);
	c->env.ui = c->ui;
	rc = c->fd = listen_on(cfg, err, err_len);
	if (rc < 0)
		goto out_free;
	c->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0,
				  NULL, NULL, on_request, c,
				  MHD_OPTION_LISTEN_SOCKET, c->fd,
				  MHD_OPTION_THREAD_POOL_SIZE, (unsigned)RC_CTL_THREADS,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)(RC_CTL_CONNS_MAX + CONNS_SPARE),
				  MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned)((RC_HTTP_IO_TIMEOUT_MS + 999) / 1000),
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_POOL_BYTES,
				  MHD_OPTION_URI_LOG_CALLBACK, on_uri, c,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, c,
				  MHD_OPTION_END);
	if (c->mhd == NULL) {
		rc = -EIO;
		snprintf(err, err_len, "cannot start the control port's HTTP server (libmicrohttpd)");
		goto out_close;
	}
	rc = -pthread_create(&c->ticker, NULL, tick_main, c);
	if (rc < 0) {
		snprintf(err, err_len, "cannot start the control thread: %s", strerror(-rc));
		MHD_stop_daemon(c->mhd);
		goto out_close;
	}
	pthread_setname_np(c->ticker, "rc-ticker");   /* the control port's CPU, apart (bench/webui.py) */
	*out = c;
	return 0;
out_close:
	close(c->fd);
out_free:
	pthread_mutex_destroy(&c->mu);
	free(c->ui);
	free(c);
	return rc;
}

void rc_control_set_engine(struct rc_control *c, struct eng *e)
{
	atomic_store(&c->env.eng, e);
}

/* Wakes every stream; with stop set each ends at its next read. */
static unsigned wake_all(struct rc_control *c)
{
	pthread_mutex_lock(&c->mu);
	for (struct rc_stream *s = c->streams; s; s = s->next)
		rc_stream_wake(s);
	unsigned n = c->nstreams;
	pthread_mutex_unlock(&c->mu);
	return n;
}

void rc_control_stop(struct rc_control *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, true);
	pthread_join(c->ticker, NULL);
	/* MHD must not stop with a suspended connection: end the streams */
	uint64_t end = mono_ms() + RC_CTL_STOP_WAIT_MS;
	while (wake_all(c) > 0 && mono_ms() < end)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	if (wake_all(c) > 0) {
		fprintf(stderr, "ringcap: control streams still open at exit\n");
		return;   /* leak c rather than stop MHD under a suspended connection */
	}
	MHD_stop_daemon(c->mhd);
	close(c->fd);
	pthread_mutex_destroy(&c->mu);
	free(c->ui);
	free(c);
}

unsigned rc_control_streams(struct rc_control *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned n = c->nstreams;
	pthread_mutex_unlock(&c->mu);
	return n;
}
