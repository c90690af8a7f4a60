/*
 * pool_test.c - per-worker TLS pools (tls/pool.c): connections and
 * ciphertext buffers come from a pool sized at creation; an exhausted pool
 * refuses a connection (-ENOBUFS) or fails the one whose burst found no
 * buffer, and counts both; buffers go back when drained and states when
 * freed, most recently freed first.
 */
#include <errno.h>
#include <string.h>

#include "tests/tls/tls-test.h"

static void stats(struct tls_pool *p, struct tls_pool_stats *s)
{
	memset(s, 0xff, sizeof(*s));
	tls_pool_stats(p, s);
}

/* States: two fit, the third is shed and counted; a freed one comes back. */
static void test_conn_exhaustion(struct test_fixture *f)
{
	struct tls_pool *p;
	struct tls_conn *a, *b, *c = NULL;
	struct tls_pool_stats s;

	CHECK_EQ(tls_pool_new(2, 4, 4, &p), 0);
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, "a.test", &a), 0);
	CHECK_EQ(tls_pool_client_conn(p, f->client, "b.test", &b), 0);
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, "c.test", &c), -ENOBUFS);
	CHECK(c == NULL);
	CHECK_EQ(tls_pool_client_conn(p, f->client, "c.test", &c), -ENOBUFS);
	stats(p, &s);
	CHECK_EQ(s.conns_max, 2);
	CHECK_EQ(s.conns_in_use, 2);
	CHECK_EQ(s.conns_shed, 2);
	CHECK_EQ(s.bufs_shed, 0);
	tls_conn_free(a);
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, "c.test", &c), 0);
	CHECK(c == a);   /* the state just freed, pages already resident */
	CHECK_STR(tls_conn_name(c), "c.test");   /* and cleared for its new life */
	stats(p, &s);
	CHECK_EQ(s.conns_in_use, 2);
	tls_conn_free(b);
	tls_conn_free(c);
	stats(p, &s);
	CHECK_EQ(s.conns_in_use, 0);
	tls_pool_free(p);
}

/* A whole exchange on pooled connections; every buffer back once drained. */
static void test_roundtrip(struct test_fixture *f)
{
	struct tls_pool *p;
	struct tls_conn *cl, *sv;
	struct tls_pool_stats s;
	char buf[64];

	CHECK_EQ(tls_pool_new(2, 2, 2, &p), 0);
	CHECK_EQ(tls_pool_client_conn(p, f->client, "pool.test", &cl), 0);
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, NULL, &sv), 0);
	CHECK_EQ(test_handshake(cl, sv), 0);
	CHECK_EQ(tls_conn_write(cl, "ping", 4), 4);
	test_pump(cl, sv);
	CHECK_EQ(tls_conn_read(sv, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	CHECK_EQ(tls_conn_write(sv, "pong", 4), 4);
	test_pump(cl, sv);
	CHECK_EQ(tls_conn_read(cl, buf, sizeof(buf)), 4);
	/* session tickets may still wait on the client: read them out */
	for (int i = 0; i < 4 && tls_conn_read(cl, buf, sizeof(buf)) != -EAGAIN; i++)
		;
	stats(p, &s);
	CHECK_EQ(s.in_bufs_in_use, 0);
	CHECK_EQ(s.out_bufs_in_use, 0);
	CHECK_EQ(s.bufs_shed, 0);
	tls_conn_free(cl);
	tls_conn_free(sv);
	tls_pool_free(p);
}

/* One buffer each way: a connection holding the outbound one makes the
 * next burst fail its connection (not stall it), counted; the same for an
 * inbound one; once the holder is gone, new connections work again. */
static void test_buf_exhaustion(struct test_fixture *f)
{
	struct tls_pool *p;
	struct tls_conn *a, *b, *c, *s1, *s2;
	struct tls_pool_stats s;
	uint8_t hello[4096];
	size_t n;

	CHECK_EQ(tls_pool_new(5, 1, 1, &p), 0);
	CHECK_EQ(tls_pool_client_conn(p, f->client, "a.test", &a), 0);
	CHECK_EQ(tls_pool_client_conn(p, f->client, "b.test", &b), 0);
	CHECK_EQ(tls_conn_handshake(a), -EAGAIN);   /* ClientHello waits in the out buffer */
	CHECK(tls_conn_pending_out(a) > 0);
	CHECK_EQ(tls_conn_handshake(b), -EPROTO);   /* no out buffer for its hello */
	CHECK(strstr(tls_conn_error(b), "out of TLS outbound buffers") != NULL);
	CHECK_EQ(tls_conn_handshake(b), -EPROTO);   /* and it stays failed */
	stats(p, &s);
	CHECK_EQ(s.bufs_shed, 1);
	CHECK_EQ(s.out_bufs_in_use, 1);

	/* inbound: s1 holds a partial record, s2 gets nothing in */
	n = tls_conn_take(a, hello, sizeof(hello));
	CHECK(n > 10);
	stats(p, &s);
	CHECK_EQ(s.out_bufs_in_use, 0);             /* drained: back in the pool */
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, NULL, &s1), 0);
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, NULL, &s2), 0);
	CHECK_EQ(tls_conn_feed(s1, hello, 5), 5);   /* a record header only */
	CHECK_EQ(tls_conn_feed(s2, hello, n), 0);
	CHECK_EQ(tls_conn_handshake(s2), -EPROTO);
	CHECK(strstr(tls_conn_error(s2), "out of TLS inbound buffers") != NULL);
	stats(p, &s);
	CHECK_EQ(s.bufs_shed, 2);
	CHECK_EQ(s.in_bufs_in_use, 1);

	/* the holders go: a new pair completes a handshake in the same pool */
	tls_conn_free(a);
	tls_conn_free(b);
	tls_conn_free(s1);
	tls_conn_free(s2);
	stats(p, &s);
	CHECK_EQ(s.conns_in_use, 0);
	CHECK_EQ(s.in_bufs_in_use, 0);
	CHECK_EQ(s.out_bufs_in_use, 0);
	CHECK_EQ(tls_pool_client_conn(p, f->client, "c.test", &c), 0);
	CHECK_EQ(tls_pool_server_conn(p, f->server, f->cache, NULL, &s1), 0);
	CHECK_EQ(test_handshake(c, s1), 0);
	tls_conn_free(c);
	tls_conn_free(s1);
	tls_pool_free(p);
}

int main(void)
{
	struct test_fixture f;
	struct tls_pool *p;

	test_fixture_init(&f, NULL);
	CHECK_EQ(tls_pool_new(0, 0, 0, &p), 0);   /* an empty pool sheds everything */
	CHECK_EQ(tls_pool_server_conn(p, f.server, f.cache, NULL, &(struct tls_conn *){0}),
		 -ENOBUFS);
	tls_pool_free(p);
	test_conn_exhaustion(&f);
	test_roundtrip(&f);
	test_buf_exhaustion(&f);
	test_fixture_fini(&f);
	return check_done("tls-pool");
}
