/*
 * engine/resolve.c - name resolution off the data plane.
 *
 * Workers never call getaddrinfo: they queue a look-up slot here and get
 * the answer as a completion in their own ring (IORING_OP_MSG_RING from the
 * resolver's private ring, user_data OP_RESOLVED + slot). The resolver keeps
 * a TTL cache shared by all workers; each worker also keeps a small one of
 * its own (engine/px-connect.c) so a hit costs no thread hop.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eng-int.h"
#include "engine/sock.h"

#define RES_CACHE_SLOTS 4096u
#define RES_QUEUE (ENG_RESOLVE_SLOTS * 4u)

struct res_cache {
	uint64_t expires_ms;
	uint8_t host_len;
	char host[ENG_HOST_MAX + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int err;
};

struct eng_resolver {
	struct eng *e;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct { uint32_t worker, slot; } q[RES_QUEUE];
	unsigned q_head, q_n;
	struct io_uring ring;
	struct res_cache *cache;
};

static uint32_t host_hash(const char *h, size_t n)
{
	uint32_t x = 2166136261u;   /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		x = (x ^ (uint8_t)h[i]) * 16777619u;
	return x;
}

static uint64_t mono_ms(void)
{
	return eng_now_ns() / 1000000u;
}

static void lookup(struct eng_resolver *rs, struct eng_resolve *r)
{
	uint64_t now = mono_ms();
	struct res_cache *c = &rs->cache[host_hash(r->host, r->host_len) % RES_CACHE_SLOTS];
	if (c->expires_ms > now && c->host_len == r->host_len &&
	    memcmp(c->host, r->host, r->host_len) == 0) {
		r->addr = c->addr;
		r->addr_len = c->addr_len;
		r->err = c->err;
		return;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(r->host, NULL, &hints, &res);
	r->err = rc;
	if (rc == 0) {
		memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
		r->addr_len = res->ai_addrlen;
		freeaddrinfo(res);
	}
	c->expires_ms = now + (rc == 0 ? rs->e->cfg.dns_ttl_ms : ENG_DNS_NEG_TTL_MS);
	c->host_len = r->host_len;
	memcpy(c->host, r->host, r->host_len + 1u);
	c->addr = r->addr;
	c->addr_len = r->addr_len;
	c->err = rc;
}

static void post(struct eng_resolver *rs, uint32_t widx, uint32_t slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rs->ring);
	if (sqe == NULL) {
		io_uring_submit(&rs->ring);
		sqe = io_uring_get_sqe(&rs->ring);
	}
	io_uring_prep_msg_ring(sqe, rs->e->w[widx].ring.uring.ring_fd, 0,
			       udata(OP_RESOLVED, slot, 0), 0);
	io_uring_submit(&rs->ring);
	/* reap our own completions: nothing to do with them but count */
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&rs->ring, &cqe) == 0)
		io_uring_cqe_seen(&rs->ring, cqe);
}

static void *resolver_main(void *arg)
{
	struct eng_resolver *rs = arg;
	for (;;) {
		pthread_mutex_lock(&rs->mu);
		while (!rs->stop && rs->q_n == 0)
			pthread_cond_wait(&rs->cv, &rs->mu);
		if (rs->stop) {
			pthread_mutex_unlock(&rs->mu);
			return NULL;
		}
		uint32_t widx = rs->q[rs->q_head].worker, slot = rs->q[rs->q_head].slot;
		rs->q_head = (rs->q_head + 1) % RES_QUEUE;
		rs->q_n--;
		pthread_mutex_unlock(&rs->mu);
		lookup(rs, &rs->e->w[widx].resolves[slot]);
		post(rs, widx, slot);
	}
}

int eng_resolver_start(struct eng *e, char *err, size_t err_len)
{
	struct eng_resolver *rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	rs->cache = calloc(RES_CACHE_SLOTS, sizeof(*rs->cache));
	if (rs->cache == NULL) {
		free(rs);
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	}
	rs->e = e;
	pthread_mutex_init(&rs->mu, NULL);
	pthread_cond_init(&rs->cv, NULL);
	int rc = io_uring_queue_init(64, &rs->ring, 0);
	if (rc < 0) {
		snprintf(err, err_len, "resolver ring: %s", strerror(-rc));
		goto out_free;
	}
	rc = -pthread_create(&rs->thread, NULL, resolver_main, rs);
	if (rc < 0) {
		snprintf(err, err_len, "cannot start the resolver: %s", strerror(-rc));
		io_uring_queue_exit(&rs->ring);
		goto out_free;
	}
	e->resolver = rs;
	return 0;
out_free:
	free(rs->cache);
	free(rs);
	return rc;
}

void eng_resolver_stop(struct eng *e)
{
	struct eng_resolver *rs = e->resolver;
	if (rs == NULL)
		return;
	pthread_mutex_lock(&rs->mu);
	rs->stop = true;
	pthread_cond_signal(&rs->cv);
	pthread_mutex_unlock(&rs->mu);
	pthread_join(rs->thread, NULL);
	io_uring_queue_exit(&rs->ring);
	pthread_mutex_destroy(&rs->mu);
	pthread_cond_destroy(&rs->cv);
	free(rs->cache);
	free(rs);
	e->resolver = NULL;
}

/* Queues w->resolves[slot]. 0, or -EAGAIN when the queue is full. */
int eng_resolver_submit(struct eng_worker *w, uint32_t slot)
{
	struct eng_resolver *rs = w->e->resolver;
	int rc = 0;
	pthread_mutex_lock(&rs->mu);
	if (rs->q_n == RES_QUEUE) {
		rc = -EAGAIN;
	} else {
		unsigned i = (rs->q_head + rs->q_n) % RES_QUEUE;
		rs->q[i].worker = w->index;
		rs->q[i].slot = slot;
		rs->q_n++;
		pthread_cond_signal(&rs->cv);
	}
	pthread_mutex_unlock(&rs->mu);
	return rc;
}
