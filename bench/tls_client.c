/*
 * bench/tls_client.c — closed-loop HTTPS load generator for bench/tls.sh.
 *
 * N threads, each with blocking sockets, for a fixed time:
 *   --mode new  one TCP connection, one full TLS handshake (no session reuse,
 *               tickets off) and one GET per iteration, then close;
 *   --mode ka   one TLS connection per thread, GETs back to back (reconnects
 *               only when the server closes);
 *   --mode resume  as new, but each thread offers the session (ticket) of its
 *               previous connection, as browsers and apps do: an abbreviated
 *               handshake whenever the server accepts it ("resumed" counts
 *               those).
 * With --proxy PORT every TCP connection first sends CONNECT HOST:PORT to the
 * proxy on 127.0.0.1. --sni NAME sets the SNI and the name the certificate is
 * verified against; a "%d" in NAME is replaced by a counter shared by all
 * threads, so each connection asks for a new name (cold leaf cache).
 * Certificates are always verified against --cafile.
 *
 * Prints one line: BENCHJSON {"ok":..,"errors":..,"bytes":..,"seconds":..,
 * "client_cpu_s":..,"resumed":..,"first_error":".."}. Built by bench/tls.sh into bench/out/
 * (cc -O2 tls_client.c -lssl -lcrypto -lpthread); OpenSSL, not BoringSSL,
 * so the client's TLS stack differs from ringcap's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 512
#define HEAD_MAX 16384

static struct {
	int port;          /* origin port (CONNECT target or direct) */
	int proxy;         /* proxy port, 0: direct */
	const char *host;  /* CONNECT host and Host header */
	const char *sni;   /* may hold one %d */
	const char *path;
	const char *cafile;
	int ka;
	int resume;
	int threads;
	double seconds;
} opt = { 0, 0, "127.0.0.1", "localhost", "/100b", NULL, 0, 0, 8, 5.0 };

static SSL_CTX *ctx;
static atomic_ullong ok_count, err_count, byte_count, name_counter, resumed_count;

/* --mode resume: the newest session a thread's connection received. */
struct thread_state {
	SSL_SESSION *sess;
};
static atomic_int stop;
static char first_error[200];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what)
{
	atomic_fetch_add(&err_count, 1);
	pthread_mutex_lock(&err_lock);
	if (first_error[0] == '\0') {
		unsigned long e = ERR_peek_error();
		snprintf(first_error, sizeof(first_error), "%s: %s / %s", what,
			 strerror(errno), e ? ERR_reason_error_string(e) : "-");
		for (char *p = first_error; *p; p++)
			if (*p == '"' || *p == '\\')
				*p = '\'';
	}
	pthread_mutex_unlock(&err_lock);
	ERR_clear_error();
}

/* TCP connect to 127.0.0.1:port; with a proxy, CONNECT through it. */
static int tcp_open(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	sa.sin_port = htons((uint16_t)(opt.proxy ? opt.proxy : opt.port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto bad;
	if (opt.proxy) {
		char buf[1024];
		int n = snprintf(buf, sizeof(buf),
				 "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
				 opt.host, opt.port, opt.host, opt.port);
		if (write(fd, buf, (size_t)n) != n)
			goto bad;
		/* read byte-wise up to the end of the head: nothing follows it */
		size_t got = 0;
		while (got < sizeof(buf) - 1) {
			ssize_t r = read(fd, buf + got, 1);
			if (r <= 0)
				goto bad;
			got++;
			if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
				break;
		}
		buf[got] = '\0';
		if (strncmp(buf, "HTTP/1.1 200", 12) != 0 &&
		    strncmp(buf, "HTTP/1.0 200", 12) != 0) {
			errno = EPROTO;
			goto bad;
		}
	}
	return fd;
bad:
	close(fd);
	return -1;
}

/* New session (TLS 1.2 ticket, or a TLS 1.3 ticket after the handshake):
 * kept for the thread's next connection. Returns 1: we own SESS now. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct thread_state *t = SSL_get_app_data(ssl);
	if (t == NULL)
		return 0;
	if (t->sess)
		SSL_SESSION_free(t->sess);
	t->sess = sess;
	return 1;
}

static SSL *tls_open(int fd, struct thread_state *t)
{
	char name[256];
	if (strstr(opt.sni, "%d"))
		snprintf(name, sizeof(name), opt.sni,
			 (int)atomic_fetch_add(&name_counter, 1));
	else
		snprintf(name, sizeof(name), "%s", opt.sni);
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_app_data(ssl, t);
	if (opt.resume && t->sess)
		SSL_set_session(ssl, t->sess);
	SSL_set_tlsext_host_name(ssl, name);
	SSL_set1_host(ssl, name);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	if (SSL_session_reused(ssl) && !atomic_load(&stop))
		atomic_fetch_add(&resumed_count, 1);
	return ssl;
}

/* One GET; returns body bytes read, -1 on error. Sets *closed on Connection: close. */
static long long get_once(SSL *ssl, int *closed)
{
	char req[512], head[HEAD_MAX + 1];
	char sink[65536];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n",
			 opt.path, opt.host, opt.port, opt.ka ? "" : "Connection: close\r\n");
	if (SSL_write(ssl, req, n) != n)
		return -1;
	size_t got = 0;
	char *end = NULL;
	while (!end) {
		if (got >= HEAD_MAX)
			return -1;
		int r = SSL_read(ssl, head + got, (int)(HEAD_MAX - got));
		if (r <= 0)
			return -1;
		got += (size_t)r;
		head[got] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (strncmp(head, "HTTP/1.1 200", 12) != 0)
		return -1;
	char *cl = strcasestr(head, "\r\ncontent-length:");
	if (!cl || cl > end)
		return -1;
	long long want = strtoll(cl + 17, NULL, 10);
	long long have = (long long)(got - (size_t)(end + 4 - head));
	while (have < want) {
		int r = SSL_read(ssl, sink, (int)sizeof(sink));
		if (r <= 0)
			return -1;
		have += r;
	}
	*closed = strcasestr(head, "\r\nconnection: close") != NULL &&
		  strcasestr(head, "\r\nconnection: close") < end;
	return have;
}

static void *worker(void *arg)
{
	struct thread_state t = { 0 };
	(void)arg;
	while (!atomic_load(&stop)) {
		int fd = tcp_open();
		if (fd < 0) {
			fail("connect");
			usleep(1000);
			continue;
		}
		SSL *ssl = tls_open(fd, &t);
		if (!ssl) {
			fail("handshake");
			close(fd);
			continue;
		}
		int closed = 0;
		do {
			long long b = get_once(ssl, &closed);
			if (b < 0) {
				if (!atomic_load(&stop))
					fail("request");
				break;
			}
			if (!atomic_load(&stop)) {
				atomic_fetch_add(&ok_count, 1);
				atomic_fetch_add(&byte_count, (unsigned long long)b);
			}
		} while (opt.ka && !closed && !atomic_load(&stop));
		SSL_free(ssl);  /* no close_notify: the connection is dropped */
		close(fd);
	}
	if (t.sess)
		SSL_SESSION_free(t.sess);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: tls_client --port P --cafile F [--proxy P] [--host H] "
		"[--sni NAME(%%d)] [--path /x] [--mode new|ka|resume] [--threads N] [--seconds S]\n");
	return 2;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port")) opt.port = atoi(v);
		else if (!strcmp(k, "--proxy")) opt.proxy = atoi(v);
		else if (!strcmp(k, "--host")) opt.host = v;
		else if (!strcmp(k, "--sni")) opt.sni = v;
		else if (!strcmp(k, "--path")) opt.path = v;
		else if (!strcmp(k, "--cafile")) opt.cafile = v;
		else if (!strcmp(k, "--mode")) {
			opt.ka = !strcmp(v, "ka");
			opt.resume = !strcmp(v, "resume");
		}
		else if (!strcmp(k, "--threads")) opt.threads = atoi(v);
		else if (!strcmp(k, "--seconds")) opt.seconds = atof(v);
		else return usage();
	}
	if (!opt.port || !opt.cafile || opt.threads < 1 || opt.threads > MAX_THREADS)
		return usage();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, opt.cafile, NULL) != 1) {
		fprintf(stderr, "tls_client: cannot load %s\n", opt.cafile);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (opt.resume) {
		/* sessions go to new_session, never to an internal cache */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
							SSL_SESS_CACHE_NO_INTERNAL);
		SSL_CTX_sess_set_new_cb(ctx, new_session);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}

	pthread_t th[MAX_THREADS];
	double t0 = now();
	for (int i = 0; i < opt.threads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	struct timespec ts = { (time_t)opt.seconds,
			       (long)((opt.seconds - (double)(time_t)opt.seconds) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	double t1 = now();
	for (int i = 0; i < opt.threads; i++)
		pthread_join(th[i], NULL);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("BENCHJSON {\"ok\":%llu,\"errors\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
	       "\"client_cpu_s\":%.2f,\"resumed\":%llu,\"first_error\":\"%s\"}\n",
	       (unsigned long long)atomic_load(&ok_count),
	       (unsigned long long)atomic_load(&err_count),
	       (unsigned long long)atomic_load(&byte_count), t1 - t0, cpu,
	       (unsigned long long)atomic_load(&resumed_count), first_error);
	return 0;
}
