/*
 * keylog.c - NSS key log file writer (the SSLKEYLOGFILE format Wireshark
 * reads: "CLIENT_RANDOM ..." for TLS 1.2, "CLIENT_HANDSHAKE_TRAFFIC_SECRET
 * ..." and friends for TLS 1.3), for client-facing and upstream contexts.
 *
 * The SSL_CTX's app data points at the tls_keylog; BoringSSL hands the
 * callback one complete line without its newline. Each line goes out in
 * one write(2) on an O_APPEND descriptor, so lines from several workers
 * never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/is_boringssl.h>
#include <openssl/ssl.h>

#include "tls/tls-int.h"


#define KEYLOG_LINE_MAX 512 /* longest line: label + 64 hex + 2 * 96 hex */

struct tls_keylog {
	int fd;
	atomic_uint_fast64_t written;
	atomic_uint_fast64_t failed;
};

int tls_keylog_open(const char *path, struct tls_keylog **out)
{
	struct tls_keylog *kl;

	*out = NULL;
	kl = calloc(1, sizeof(*kl));
	if (kl == NULL)
		return -ENOMEM;
	kl->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (kl->fd < 0) {
		int rc = -errno;

		free(kl);
		return rc;
	}
	*out = kl;
	return 0;
}

void tls_keylog_close(struct tls_keylog *kl)
{
	if (kl == NULL)
		return;
	close(kl->fd);
	free(kl);
}

void tls_keylog_counts(const struct tls_keylog *kl, uint64_t *written,
		       uint64_t *failed)
{
	*written = atomic_load(&kl->written);
	*failed = atomic_load(&kl->failed);
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	struct tls_keylog *kl = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	char buf[KEYLOG_LINE_MAX];
	size_t len = strlen(line);

	if (kl == NULL)
		return;
	if (len + 1 > sizeof(buf)) {
		atomic_fetch_add(&kl->failed, 1);
		return;
	}
	memcpy(buf, line, len);
	buf[len++] = '\n';
	if (write(kl->fd, buf, len) == (ssize_t)len)
		atomic_fetch_add(&kl->written, 1);
	else
		atomic_fetch_add(&kl->failed, 1);
}

void tls_keylog_attach(struct tls_keylog *kl, SSL_CTX *ctx)
{
	if (kl == NULL)
		return;
	SSL_CTX_set_app_data(ctx, kl);
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
}
