/*
 * conn.c - one TLS connection over memory: the caller moves ciphertext
 * between the socket (io_uring) and this object, BoringSSL turns it into
 * plaintext and back. Nothing here touches a file descriptor.
 *
 * Buffers: a small custom BIO over two tls_bufs, TLS_CONN_IN_BYTES of
 * ciphertext in and TLS_CONN_OUT_BYTES out, each allocated when the first
 * byte arrives and freed when drained (a BIO pair would hold both for the
 * connection's life: 48 KiB per side measured, even idle). BoringSSL's own
 * record buffers come on top (at most one record each way, also released
 * when idle), so memory is bounded whatever the peer sends or the
 * application writes, and an idle connection holds only its SSL object.
 *
 * Loans (tls_conn_lend_in/_out): a caller whose ciphertext already sits
 * in buffers of its own lends them around one call instead, and the BIO
 * copies between them and BoringSSL's record buffers directly (one copy
 * each way instead of two); anything fed or left in the
 * buffers above goes first, so the stream keeps its order either way.
 *
 * Write contract: tls_conn_write seals one record at a time only when the
 * outbound buffer has room for it, so a sealed record is never left half
 * written, and a record is as large as the input allows: it waits for
 * room for a full one rather than sealing what room is left (a 1 MiB body
 * went out as records of 16,384 and ~16,000 bytes in turn). Should
 * BoringSSL still report WANT_WRITE, the bytes it took are not reported
 * as consumed, and the caller's next write starts with the
 * same bytes, which is what SSL_write's retry rule requires.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/is_boringssl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>

#include "tls/tls-int.h"
#include "rc-assert.h"

static int conn_new(struct tls_pool *pool, SSL_CTX *ctx, bool server, struct tls_conn **out);
static int conn_fail(struct tls_conn *c, int ret);
static size_t buf_put(struct tls_conn *c, struct tls_buf *b, const void *src, size_t len);
static size_t buf_get(struct tls_conn *c, struct tls_buf *b, void *dst, size_t len);
static void buf_release(struct tls_conn *c, struct tls_buf *b);
static void bio_method_init(void);

/* One BIO method for the process (never freed: it lives as long as any
 * connection might). */
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *bio_method;

static int server_new(struct tls_pool *pool, struct tls_server *s,
		      struct tls_leaf_cache *cache, const char *fallback_name,
		      struct tls_conn **out)
{
	struct tls_conn *c;
	int rc = conn_new(pool, s->ctx, true, &c);

	*out = NULL;
	if (rc < 0)
		return rc;
	c->cache = cache;
	c->srv = s;
	if (fallback_name != NULL &&
	    tls_name_normalize(fallback_name, strlen(fallback_name), c->name) < 0)
		c->name[0] = '\0';
	SSL_set_accept_state(c->ssl);
	*out = c;
	return 0;
}

static int client_new(struct tls_pool *pool, struct tls_client *cl, const char *host,
		      uint16_t port, struct tls_conn **out)
{
	struct tls_conn *c;
	int rc;

	*out = NULL;
	rc = conn_new(pool, cl->ctx, false, &c);
	if (rc < 0)
		return rc;
	if (tls_name_normalize(host, strlen(host), c->name) < 0) {
		tls_conn_free(c);
		return -EINVAL;
	}
	c->cl = cl;
	c->port = port;
	rc = tls_client_setup(cl, c);
	if (rc < 0) {
		tls_conn_free(c);
		return rc;
	}
	SSL_set_connect_state(c->ssl);
	*out = c;
	return 0;
}

int tls_conn_new_server(struct tls_server *s, struct tls_leaf_cache *cache,
			const char *fallback_name, struct tls_conn **out)
{
	return server_new(NULL, s, cache, fallback_name, out);
}

int tls_pool_server_conn(struct tls_pool *pool, struct tls_server *s,
			 struct tls_leaf_cache *cache, const char *fallback_name,
			 struct tls_conn **out)
{
	ASSERT(pool != NULL);
	return server_new(pool, s, cache, fallback_name, out);
}

int tls_conn_new_client(struct tls_client *cl, const char *host,
			struct tls_conn **out)
{
	return client_new(NULL, cl, host, 0, out);
}

int tls_conn_new_client_at(struct tls_client *cl, const char *host, uint16_t port,
			   struct tls_conn **out)
{
	return client_new(NULL, cl, host, port, out);
}

int tls_pool_client_conn(struct tls_pool *pool, struct tls_client *cl, const char *host,
			 struct tls_conn **out)
{
	ASSERT(pool != NULL);
	return client_new(pool, cl, host, 0, out);
}

int tls_pool_client_conn_at(struct tls_pool *pool, struct tls_client *cl, const char *host,
			    uint16_t port, struct tls_conn **out)
{
	ASSERT(pool != NULL);
	return client_new(pool, cl, host, port, out);
}

void tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl); /* and its BIO */
	buf_release(c, &c->in);
	buf_release(c, &c->out);
	if (c->pool != NULL)
		tls_pool_conn_put(c->pool, c);
	else
		free(c);
}

size_t tls_conn_feed(struct tls_conn *c, const void *buf, size_t len)
{
	if (c->eof)
		return 0;
	return buf_put(c, &c->in, buf, len);
}

size_t tls_conn_feed_room(const struct tls_conn *c)
{
	return c->eof ? 0 : c->in.cap - (c->in.len - c->in.off);
}

void tls_conn_feed_eof(struct tls_conn *c)
{
	c->eof = true;
}

int tls_conn_handshake(struct tls_conn *c)
{
	int ret;

	if (c->hs_done)
		return 0;
	if (c->failed)
		return -EPROTO;
	ret = SSL_do_handshake(c->ssl);
	if (ret == 1) {
		c->hs_done = true;
		return 0;
	}
	return conn_fail(c, ret);
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	int ret;

	if (c->failed)
		return -EPROTO;
	if (len > INT32_MAX)
		len = INT32_MAX;
	ret = SSL_read(c->ssl, buf, (int)len);
	if (ret > 0) {
		c->hs_done = true;
		return ret;
	}
	if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN)
		return 0;
	return conn_fail(c, ret);
}

bool tls_conn_read_ready(const struct tls_conn *c)
{
	if (c->failed || c->eof || !c->hs_done)
		return true;   /* let tls_conn_read say what happened */
	if (c->in.len > c->in.off || c->lend_in_used < c->lend_in_len)
		return true;
	return SSL_has_pending(c->ssl) == 1;
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	if (c->failed)
		return -EPROTO;
	/* Bounded: each pass seals one record or stops. */
	while (done < len) {
		size_t room = c->out.cap - (c->out.len - c->out.off);
		size_t chunk = len - done;
		int ret;

		if (chunk > TLS_RECORD_PLAIN_MAX)
			chunk = TLS_RECORD_PLAIN_MAX;
		/* full records only: wait for the room (tls-limits.h makes
		 * sure one fits an empty buffer) */
		if (room < chunk + TLS_RECORD_OVERHEAD_MAX)
			break;
		ret = SSL_write(c->ssl, p + done, (int)chunk);
		if (ret <= 0) {
			int rc = conn_fail(c, ret);

			if (rc != -EAGAIN)
				return rc;
			break;
		}
		done += (size_t)ret;
	}
	return done > 0 ? (ssize_t)done : -EAGAIN;
}

int tls_conn_shutdown(struct tls_conn *c)
{
	if (c->failed || !c->hs_done)
		return -EPROTO;
	return SSL_shutdown(c->ssl) >= 0 ? 0 : -EPROTO;
}

void tls_conn_lend_in(struct tls_conn *c, const void *p, size_t len)
{
	ASSERT(c->lend_in == NULL);
	ASSERT(len <= UINT32_MAX);
	c->lend_in = p;
	c->lend_in_len = (uint32_t)len;
	c->lend_in_used = 0;
}

size_t tls_conn_return_in(struct tls_conn *c)
{
	size_t n = c->lend_in_used;

	ASSERT(c->lend_in_used <= c->lend_in_len);
	c->lend_in = NULL;
	c->lend_in_len = 0;
	c->lend_in_used = 0;
	return n;
}

void tls_conn_lend_out(struct tls_conn *c, void *p, size_t cap)
{
	ASSERT(c->lend_out == NULL);
	ASSERT(cap <= UINT32_MAX);
	c->lend_out = p;
	c->lend_out_cap = (uint32_t)cap;
	c->lend_out_used = 0;
}

size_t tls_conn_return_out(struct tls_conn *c)
{
	size_t n = c->lend_out_used;

	ASSERT(c->lend_out_used <= c->lend_out_cap);
	c->lend_out = NULL;
	c->lend_out_cap = 0;
	c->lend_out_used = 0;
	return n;
}

size_t tls_conn_pending_out(const struct tls_conn *c)
{
	return c->out.len - c->out.off;
}

size_t tls_conn_take(struct tls_conn *c, void *buf, size_t len)
{
	return buf_get(c, &c->out, buf, len);
}

bool tls_conn_handshake_done(const struct tls_conn *c) { return c->hs_done; }
bool tls_conn_resumed(const struct tls_conn *c) { return SSL_session_reused(c->ssl) == 1; }
const char *tls_conn_error(const struct tls_conn *c) { return c->err; }
bool tls_conn_verify_failed(const struct tls_conn *c) { return c->verify_failed; }
int tls_conn_peer_alert(const struct tls_conn *c) { return c->peer_alert; }
const char *tls_conn_name(const struct tls_conn *c) { return c->name; }

bool tls_conn_cert_rejected(const struct tls_conn *c)
{
	switch (c->peer_alert) {
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED: /* client clock far off */
		return c->server;
	default:
		return false;
	}
}

const char *tls_conn_alpn(const struct tls_conn *c)
{
	const uint8_t *p = NULL;
	unsigned len = 0;

	SSL_get0_alpn_selected(c->ssl, &p, &len);
	/* Only protocols we offer can be selected, and both are NUL-free
	 * literals; report the one it is rather than copying. */
	if (len == 8 && memcmp(p, "http/1.1", 8) == 0)
		return "http/1.1";
	if (len == 2 && memcmp(p, "h2", 2) == 0)
		return "h2";
	return "";
}

const char *tls_conn_version(const struct tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

void tls_conn_info_cb(const SSL *ssl, int type, int value)
{
	struct tls_conn *c = SSL_get_app_data(ssl);

	if (c != NULL && (type & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT)
		c->peer_alert = value & 0xff;
}

/* ---- helpers --------------------------------------------------------------- */

/* A state from POOL (-ENOBUFS when it has none left: shed) or, with no
 * pool, from the heap. */
static int conn_new(struct tls_pool *pool, SSL_CTX *ctx, bool server, struct tls_conn **out)
{
	struct tls_conn *c = pool != NULL ? tls_pool_conn_get(pool) : calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return pool != NULL ? -ENOBUFS : -ENOMEM;
	c->pool = pool;
	c->server = server;
	c->peer_alert = -1;
	if (tls_conn_init_ssl(c, ctx) < 0) {
		tls_conn_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

int tls_ctx_set_groups(SSL_CTX *ctx)
{
	static const int groups[] = {NID_X25519, NID_X9_62_prime256v1, NID_secp384r1};

	return SSL_CTX_set1_curves(ctx, groups, sizeof(groups) / sizeof(groups[0])) ? 0
										  : -ENOMEM;
}

int tls_conn_init_ssl(struct tls_conn *c, SSL_CTX *ctx)
{
	BIO *bio;

	pthread_once(&bio_once, bio_method_init);
	c->in.cap = TLS_CONN_IN_BYTES;
	c->out.cap = TLS_CONN_OUT_BYTES;
	c->ssl = SSL_new(ctx);
	bio = bio_method != NULL ? BIO_new(bio_method) : NULL;
	if (c->ssl == NULL || bio == NULL) {
		BIO_free(bio);
		return -ENOMEM;
	}
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_app_data(c->ssl, c);
	return 0;
}

/* Memory for B's first byte: from C's pool, or the heap. A pool with no
 * buffer left fails the connection (said in c->err): the burst cannot
 * wait for one without stalling the whole connection. */
static uint8_t *buf_alloc(struct tls_conn *c, struct tls_buf *b)
{
	uint8_t *p;

	if (c->pool == NULL)
		return malloc(b->cap);
	p = tls_pool_buf_get(c->pool, b == &c->out);
	if (p == NULL && !c->failed) {
		c->failed = true;
		tls_errf(c->err, sizeof(c->err), "out of TLS %s buffers (per-worker pool)",
			 b == &c->out ? "outbound" : "inbound");
	}
	return p;
}

/* Gives B's memory back (drained or connection freed). */
static void buf_release(struct tls_conn *c, struct tls_buf *b)
{
	if (b->p != NULL && c->pool != NULL)
		tls_pool_buf_put(c->pool, b == &c->out, b->p);
	else
		free(b->p);
	b->p = NULL;
	b->off = 0;
	b->len = 0;
}

/* Appends up to LEN bytes to B (allocating it, compacting when the tail is
 * full); returns the count. */
static size_t buf_put(struct tls_conn *c, struct tls_buf *b, const void *src, size_t len)
{
	size_t room;

	ASSERT(b->off <= b->len);
	ASSERT(b->len <= b->cap);
	if (b->off > 0 && b->len + len > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	room = b->cap - b->len;
	if (len > room)
		len = room;
	if (len == 0)
		return 0;
	if (b->p == NULL) {
		b->p = buf_alloc(c, b);
		if (b->p == NULL)
			return 0;
	}
	memcpy(b->p + b->len, src, len);
	b->len += (uint32_t)len;
	return len;
}

/* Takes up to LEN bytes from B; frees its memory once drained. */
static size_t buf_get(struct tls_conn *c, struct tls_buf *b, void *dst, size_t len)
{
	size_t have = b->len - b->off;

	if (len > have)
		len = have;
	if (len == 0)
		return 0;
	memcpy(dst, b->p + b->off, len);
	b->off += (uint32_t)len;
	if (b->off == b->len)
		buf_release(c, b);
	return len;
}

/* Into the lent room while nothing waits in the outbound buffer (order:
 * what is in the loan goes out first); returns bytes written there. */
static size_t lend_put(struct tls_conn *c, const char *src, size_t len)
{
	size_t room = c->lend_out_cap - c->lend_out_used;

	if (c->lend_out == NULL || c->out.len > c->out.off)
		return 0;
	if (len > room)
		len = room;
	memcpy(c->lend_out + c->lend_out_used, src, len);
	c->lend_out_used += (uint32_t)len;
	return len;
}

static int bio_write(BIO *bio, const char *src, int len)
{
	struct tls_conn *c = BIO_get_data(bio);
	size_t n = 0;

	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	n = lend_put(c, src, (size_t)len);
	n += buf_put(c, &c->out, src + n, (size_t)len - n);
	if (n == 0 && c->failed)
		return -1;   /* no buffer: a hard error, not a retry */
	if (n == 0) {
		BIO_set_retry_write(bio);
		return -1;
	}
	return (int)n;
}

static int bio_read(BIO *bio, char *dst, int len)
{
	struct tls_conn *c = BIO_get_data(bio);
	size_t n;

	BIO_clear_retry_flags(bio);
	n = len > 0 ? buf_get(c, &c->in, dst, (size_t)len) : 0;
	if (n == 0 && len > 0 && c->lend_in_used < c->lend_in_len) {
		n = c->lend_in_len - c->lend_in_used;
		if (n > (size_t)len)
			n = (size_t)len;
		memcpy(dst, c->lend_in + c->lend_in_used, n);
		c->lend_in_used += (uint32_t)n;
	}
	if (n > 0)
		return (int)n;
	if (c->eof)
		return 0;
	BIO_set_retry_read(bio);
	return -1;
}

static long bio_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
	struct tls_conn *c = BIO_get_data(bio);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)(c->in.len - c->in.off + c->lend_in_len - c->lend_in_used);
	case BIO_CTRL_WPENDING:
		return (long)(c->out.len - c->out.off);
	default:
		return 0;
	}
}

static void bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "ringcap tls_conn");

	if (m == NULL || !BIO_meth_set_write(m, bio_write) ||
	    !BIO_meth_set_read(m, bio_read) || !BIO_meth_set_ctrl(m, bio_ctrl))
		return; /* bio_method stays NULL: every tls_conn fails with -ENOMEM */
	bio_method = m;
}

/* Maps a failed SSL_* return to -EAGAIN (needs I/O), -EPIPE (TCP EOF
 * without close_notify) or -EPROTO with c->err set. Clears the thread's
 * error queue either way: it is shared by every connection of a worker. */
static int conn_fail(struct tls_conn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);
	uint32_t code = (uint32_t)ERR_peek_error();

	/* A retry pushed nothing onto the queue: clearing it again (16
	 * frees) would only cost, twice per exchange on a keep-alive
	 * connection. */
	if (e == SSL_ERROR_WANT_READ && !c->eof) {
		if (code != 0)
			ERR_clear_error();
		return -EAGAIN;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		if (code != 0)
			ERR_clear_error();
		return -EAGAIN;
	}
	ERR_clear_error();
	if ((e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ) && c->eof && c->hs_done)
		return -EPIPE;
	c->failed = true;
	if (c->err[0] != '\0')
		return -EPROTO; /* a callback already said why */
	if (c->peer_alert >= 0)
		tls_errf(c->err, sizeof(c->err), "peer sent alert: %s",
			 SSL_alert_desc_string_long(c->peer_alert));
	else if (code != 0)
		tls_errf(c->err, sizeof(c->err), "TLS error: %s",
			 ERR_reason_error_string(code));
	else
		tls_errf(c->err, sizeof(c->err), "connection closed during TLS handshake");
	return -EPROTO;
}
