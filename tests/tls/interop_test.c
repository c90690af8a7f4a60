/* interop_test.c - other TLS stacks accept what tls/ serves: curl
 * (OpenSSL 3) and Python's ssl module connect to a server-role tls_conn
 * over a real loopback socket, trusting only the exported CA, with SNI
 * names and an IP literal, at TLS 1.2 and 1.3, and get a response through
 * it. Skips (77) when curl is not installed. The test itself does blocking
 * socket I/O; the module never does. */
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "tests/tls/tls-test.h"

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
			       "Connection: close\r\n\r\nhello\n";

static int flush_out(struct tls_conn *c, int fd)
{
	uint8_t buf[8192];

	for (int i = 0; i < 1000 && tls_conn_pending_out(c) > 0; i++) {
		size_t n = tls_conn_take(c, buf, sizeof(buf));

		if (write(fd, buf, n) != (ssize_t)n)
			return -1;
	}
	return 0;
}

/* Serves one connection on FD: handshake, read a request head, answer.
 * Returns 0 when the response went out. */
static int serve(struct test_fixture *f, int fd, char *name, size_t name_len)
{
	struct tls_conn *c = NULL;
	char req[4096];
	size_t got = 0;
	int rc = -1;

	if (tls_conn_new_server(f->server, f->cache, "127.0.0.1", &c) < 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint8_t buf[4096];
		ssize_t n, r;

		if (poll(&p, 1, 10000) <= 0)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0 || tls_conn_feed(c, buf, (size_t)n) != (size_t)n)
			break;
		r = tls_conn_handshake(c);
		if (r == 0 && got < sizeof(req) - 1) {
			r = tls_conn_read(c, req + got, sizeof(req) - 1 - got);
			got += r > 0 ? (size_t)r : 0;
			req[got] = '\0';
		}
		if (r != 0 && r != -EAGAIN && r < 0) {
			fprintf(stderr, "serve: %s\n", tls_conn_error(c));
			break;
		}
		if (strstr(req, "\r\n\r\n") != NULL && got > 0) {
			CHECK_STR(tls_conn_alpn(c), "http/1.1");
			snprintf(name, name_len, "%s", tls_conn_name(c));
			rc = tls_conn_write(c, response, sizeof(response) - 1) ==
				     (ssize_t)sizeof(response) - 1 ? 0 : -1;
			tls_conn_shutdown(c);
			flush_out(c, fd);
			break;
		}
		if (flush_out(c, fd) < 0)
			break;
	}
	tls_conn_free(c);
	return rc;
}

/* Runs ARGV as a client while serving one connection on LFD. */
static void client_run(struct test_fixture *f, int lfd, char *const argv[], const char *want_name)
{
	char name[TLS_NAME_MAX + 1] = "";
	int status = 0, fd;
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	CHECK(pid > 0);
	if (poll(&p, 1, 10000) == 1 && (fd = accept(lfd, NULL, NULL)) >= 0) {
		CHECK_EQ(serve(f, fd, name, sizeof(name)), 0);
		close(fd);
	} else {
		CHECK(!"no connection from the client");
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "%s %s failed (status %d)\n", argv[0], argv[1], status);
	CHECK_STR(name, want_name);
}

int main(void)
{
	struct test_fixture f;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	char url_dns[128], url_ip[128], resolve[128], port[16], py[1024];
	int lfd;

	if (system("curl --version >/dev/null 2>&1") != 0)
		return 77;
	test_fixture_init(&f, NULL);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return 1;
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	snprintf(url_dns, sizeof(url_dns), "https://interop.test:%s/", port);
	snprintf(url_ip, sizeof(url_ip), "https://127.0.0.1:%s/", port);
	snprintf(resolve, sizeof(resolve), "interop.test:%s:127.0.0.1", port);
	{
		char *const tls13[] = {"curl", "-sS", "--max-time", "10", "-o", "/dev/null",
				       "--cacert", (char *)tls_ca_cert_path(f.ca), "--resolve",
				       resolve, "--tlsv1.3", url_dns, NULL};
		char *const tls12[] = {"curl", "-sS", "--max-time", "10", "-o", "/dev/null",
				       "--cacert", (char *)tls_ca_cert_path(f.ca), "--resolve",
				       resolve, "--tlsv1.2", "--tls-max", "1.2", url_dns, NULL};
		char *const ip[] = {"curl", "-sS", "--max-time", "10", "-o", "/dev/null",
				    "--cacert", (char *)tls_ca_cert_path(f.ca), url_ip, NULL};
		char *const python[] = {"python3", "-c", py, NULL};

		client_run(&f, lfd, tls13, "interop.test");
		client_run(&f, lfd, tls12, "interop.test");
		client_run(&f, lfd, ip, "127.0.0.1");
		/* Python's default context: hostname check, CERT_REQUIRED. */
		snprintf(py, sizeof(py),
			 "import ssl,socket\n"
			 "ctx=ssl.create_default_context(cafile='%s')\n"
			 "ctx.set_alpn_protocols(['http/1.1'])\n"
			 "s=ctx.wrap_socket(socket.create_connection(('127.0.0.1',%s)),"
			 "server_hostname='py.interop.test')\n"
			 "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
			 "assert s.recv(100).startswith(b'HTTP/1.1 200')\n",
			 tls_ca_cert_path(f.ca), port);
		if (system("python3 -c 'import ssl' 2>/dev/null") == 0)
			client_run(&f, lfd, python, "py.interop.test");
	}
	close(lfd);
	test_fixture_fini(&f);
	return check_done("interop");
}
