/*
 * engine/pool.c - a worker's idle upstream connections, by host, port and
 * TLS-ness: one hash table of doubly linked lists through the sockets'
 * pool_next/pool_prev (ENG_NONE ends a list), so putting, taking and
 * removing any member is O(1) and the table holds at most
 * --upstream-idle-max connections.
 */
#include <strings.h>

#include "engine/eng-int.h"
#include "engine/sock.h"

uint32_t eng_key_hash(const char *host, size_t n, uint16_t port)
{
	uint32_t x = 2166136261u ^ port;   /* FNV-1a, case-folded */
	for (size_t i = 0; i < n; i++)
		x = (x ^ (uint8_t)(host[i] | 0x20)) * 16777619u;
	return x;
}

static uint32_t *bucket(struct eng_worker *w, const char *host, size_t n, uint16_t port)
{
	return &w->pool[eng_key_hash(host, n, port) % ENG_POOL_BUCKETS];
}

void eng_pool_remove(struct eng_worker *w, struct eng_sock *u)
{
	if (u->pool_prev != ENG_NONE)
		w->socks[u->pool_prev].pool_next = u->pool_next;
	else
		*bucket(w, u->host, u->host_len, u->port) = u->pool_next;
	if (u->pool_next != ENG_NONE)
		w->socks[u->pool_next].pool_prev = u->pool_prev;
	u->pool_next = u->pool_prev = ENG_NONE;
	w->idle--;
}

static struct eng_sock *find(struct eng_worker *w, const char *host, size_t n, uint16_t port,
			     bool tls)
{
	uint32_t slot = *bucket(w, host, n, port);
	for (unsigned i = 0; slot != ENG_NONE && i < w->nsocks; i++) {
		struct eng_sock *u = &w->socks[slot];
		if (u->port == port && u->host_len == n && ((u->flags & ENG_SOCK_F_UP_TLS) != 0) == tls &&
		    strncasecmp(u->host, host, n) == 0)
			return u;
		slot = u->pool_next;
	}
	return NULL;
}

struct eng_sock *eng_pool_take(struct eng_worker *w, const char *host, size_t n,
			       uint16_t port, bool tls)
{
	struct eng_sock *u = find(w, host, n, port, tls);
	if (u) {
		eng_pool_remove(w, u);
		eng_timer_stop(w, u);
	}
	return u;
}

bool eng_pool_has(struct eng_worker *w, const char *host, size_t n, uint16_t port, bool tls)
{
	return find(w, host, n, port, tls) != NULL;
}

bool eng_pool_put(struct eng_worker *w, struct eng_sock *u)
{
	if (w->idle >= w->e->cfg.upstream_idle_max)
		return false;
	uint32_t *b = bucket(w, u->host, u->host_len, u->port);
	u->state = U_IDLE;
	u->xflags = 0;
	u->pool_prev = ENG_NONE;
	u->pool_next = *b;
	if (*b != ENG_NONE)
		w->socks[*b].pool_prev = eng_slot(w, u);
	*b = eng_slot(w, u);
	w->idle++;
	eng_timer_arm(w, u, T_UP_IDLE);
	eng_recv_arm(w, u);   /* notices the server closing it */
	return true;
}
