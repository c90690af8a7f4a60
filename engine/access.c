/*
 * engine/access.c - who may use the proxy, and where it may connect.
 *
 * Four checks, each cheap enough for the hot path:
 *  - per-client connection cap (--max-conns-per-client): one count per
 *    client address across all workers, in a mutex-protected open hash
 *    table sized at start-up for every connection the workers can hold,
 *    so it never fills;
 *  - Basic proxy authentication (--auth) on every request outside an
 *    intercepted tunnel (requests inside one ride on their CONNECT's): the
 *    credentials are compared with every configured user in constant time
 *    (the same bytes are read whatever matches), and failures per address
 *    are counted in a direct-mapped table of relaxed atomics: past
 *    --auth-fail-max within --auth-fail-window, the address gets 429 until
 *    the window ends, right credentials or not, so guessing learns nothing;
 *  - CONNECT target ports (--connect-ports);
 *  - upstream addresses, decided on the RESOLVED address just before the
 *    connect, so that no name can sneak past: the proxy's own listener and
 *    its control port are always refused (a loop; the control API is never
 *    reachable through the proxy), link-local and cloud metadata addresses
 *    unless --allow-upstream names them.
 *
 * The failure table is approximate on purpose: two addresses that share a
 * slot reset each other's count, and racing workers may lose an increment.
 * Neither lets an address guess faster than the limit for long.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/eng-int.h"
#include "engine/sock.h"
#include "engine/onboard.h"

/* Bounds the per-client table: twice every client slot of every worker,
 * capped so that a huge --max-conns does not allocate beyond reason. */
#define ACC_CLIENT_SLOTS_MAX (1u << 22)

_Static_assert((ENG_AUTH_FAIL_SLOTS & (ENG_AUTH_FAIL_SLOTS - 1)) == 0, "power of two");

struct acc_client {
	uint8_t key[16];        /* address in IPv6 form (IPv4 mapped) */
	uint32_t n;             /* open connections; 0 = empty slot */
};

struct acc_fail {
	_Atomic uint64_t key;   /* address hash | 1; 0 = empty */
	_Atomic uint32_t count;
	_Atomic uint64_t until_ms;  /* monotonic: the window ends */
};

struct eng_access {
	pthread_mutex_t mu;
	struct acc_client *clients;
	uint32_t mask;          /* slots - 1 */
	struct acc_fail fails[ENG_AUTH_FAIL_SLOTS];
	uint8_t local[ENG_LOCAL_ADDRS_MAX][16];
	unsigned nlocal;
};

static void key_of(const struct sockaddr_storage *a, uint8_t key[16]);
static uint16_t port_of(const struct sockaddr_storage *a);
static void local_addrs(struct eng_access *acc, const struct eng_config *c);
static bool is_local(const struct eng_access *acc, const uint8_t key[16]);
static uint64_t hash16(const uint8_t key[16]);
static bool check_auth(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m,
		       char *head, bool exempt, struct eng_deny *d);
static long take_creds(const struct h1_msg *m, char *head, char *creds, unsigned *found);

/* Link-local (RFC 3927, 4291) and the cloud metadata addresses, also
 * through NAT64 (RFC 6052): refused as upstreams unless --allow-upstream. */
static const struct eng_cidr metadata[] = {
	{ AF_INET, 16, { 169, 254 } },
	{ AF_INET6, 10, { 0xfe, 0x80 } },
	{ AF_INET6, 128, { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 } },
	{ AF_INET6, 112, { 0x00, 0x64, 0xff, 0x9b, [12] = 169, [13] = 254 } },
};

/* ---- life cycle ---- */

int eng_access_start(struct eng *e, char *err, size_t err_len)
{
	struct eng_access *acc = calloc(1, sizeof(*acc));
	if (acc == NULL)
		return snprintf(err, err_len, "out of memory"), -ENOMEM;
	pthread_mutex_init(&acc->mu, NULL);
	if (e->cfg.max_conns_per_client) {
		uint64_t need = 2ull * e->nworkers * (e->cfg.max_conns + ENG_REJECT_SLOTS);
		uint32_t slots = 1024;
		while (slots < need && slots < ACC_CLIENT_SLOTS_MAX)
			slots *= 2;
		/* calloc: pages are touched only as addresses arrive */
		acc->clients = calloc(slots, sizeof(*acc->clients));
		if (acc->clients == NULL) {
			free(acc);
			return snprintf(err, err_len, "out of memory"), -ENOMEM;
		}
		acc->mask = slots - 1;
	}
	local_addrs(acc, &e->cfg);
	e->acc = acc;
	return 0;
}

void eng_access_stop(struct eng *e)
{
	struct eng_access *acc = e->acc;
	if (acc == NULL)
		return;
	pthread_mutex_destroy(&acc->mu);
	free(acc->clients);
	free(acc);
	e->acc = NULL;
}

/* ---- per-client connection cap ---- */

bool eng_access_conn_get(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_access *acc = w->e->acc;
	unsigned max = w->e->cfg.max_conns_per_client;
	if (max == 0 || acc->clients == NULL)
		return true;
	uint8_t key[16];
	key_of(&c->addr, key);
	bool ok = true;
	pthread_mutex_lock(&acc->mu);
	uint32_t i = (uint32_t)hash16(key) & acc->mask;
	for (uint32_t probe = 0; probe <= acc->mask; probe++, i = (i + 1) & acc->mask) {
		struct acc_client *s = &acc->clients[i];
		if (s->n != 0 && memcmp(s->key, key, 16) != 0)
			continue;
		if (s->n == 0)
			memcpy(s->key, key, 16);
		if (s->n >= max)
			ok = false;
		else
			s->n++;
		break;
	}
	pthread_mutex_unlock(&acc->mu);
	if (ok)
		c->flags |= ENG_SOCK_F_COUNTED;
	return ok;
}

/* Removes one count; an emptied slot is refilled by backward shifting
 * (linear probing without tombstones), so probe chains stay short. */
void eng_access_conn_put(struct eng_worker *w, struct eng_sock *c)
{
	struct eng_access *acc = w->e->acc;
	if (!(c->flags & ENG_SOCK_F_COUNTED) || acc->clients == NULL)
		return;
	c->flags &= ~ENG_SOCK_F_COUNTED;
	uint8_t key[16];
	key_of(&c->addr, key);
	pthread_mutex_lock(&acc->mu);
	uint32_t i = (uint32_t)hash16(key) & acc->mask;
	for (uint32_t probe = 0; probe <= acc->mask; probe++, i = (i + 1) & acc->mask) {
		struct acc_client *s = &acc->clients[i];
		if (s->n == 0)
			break;   /* not there: cannot happen, never trusted */
		if (memcmp(s->key, key, 16) != 0)
			continue;
		if (--s->n > 0)
			break;
		uint32_t hole = i, j = i;
		for (uint32_t k = 0; k < acc->mask; k++) {
			j = (j + 1) & acc->mask;
			if (acc->clients[j].n == 0)
				break;
			uint32_t home = (uint32_t)hash16(acc->clients[j].key) & acc->mask;
			/* j may move to the hole when its home is not in (hole, j] */
			if (((j - home) & acc->mask) >= ((j - hole) & acc->mask)) {
				acc->clients[hole] = acc->clients[j];
				acc->clients[j].n = 0;
				hole = j;
			}
		}
		break;
	}
	pthread_mutex_unlock(&acc->mu);
}

/* ---- credentials ---- */

int eng_user_parse(const char *s, size_t len, struct eng_user *u, char *err, size_t err_len)
{
	memset(u, 0, sizeof(*u));
	const char *colon = memchr(s, ':', len);
	size_t ul = colon ? (size_t)(colon - s) : len;
	if (colon == NULL) {
		snprintf(err, err_len, "'%.*s' is not USER:PASSWORD", (int)(len > 64 ? 64 : len), s);
		return -EINVAL;
	}
	if (ul == 0 || ul > ENG_AUTH_USER_MAX) {
		snprintf(err, err_len, "the user name must have 1 to %u characters",
			 ENG_AUTH_USER_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < ul; i++)
		if (s[i] <= ' ' || s[i] > '~') {
			snprintf(err, err_len, "user name '%.*s': only visible ASCII characters",
				 (int)ul, s);
			return -EINVAL;
		}
	if (len == ul + 1 || len > ENG_AUTH_CRED_MAX) {
		snprintf(err, err_len, "user '%.*s': the password must have 1 to %u characters",
			 (int)ul, s, (unsigned)(ENG_AUTH_CRED_MAX - ul - 1));
		return -EINVAL;
	}
	for (size_t i = ul + 1; i < len; i++)
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n') {
			snprintf(err, err_len, "user '%.*s': the password has a control character",
				 (int)ul, s);
			return -EINVAL;
		}
	memcpy(u->cred, s, len);
	u->cred_len = (uint16_t)len;
	u->user_len = (uint8_t)ul;
	return 0;
}

/* RFC 4648 base64, padding optional. Returns bytes written, or -1 for a
 * bad character, bad padding or an output over cap. */
static long b64_decode(const char *in, size_t n, char *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0, i = 0;
	for (; i < n && in[i] != '='; i++) {
		char ch = in[i];
		int v = ch >= 'A' && ch <= 'Z' ? ch - 'A' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
			: ch >= '0' && ch <= '9' ? ch - '0' + 52 : ch == '+' ? 62 : ch == '/' ? 63 : -1;
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xffu);
		}
	}
	size_t pad = n - i;
	for (; i < n; i++)
		if (in[i] != '=')
			return -1;
	if (pad > 2 || bits >= 6 || (pad && ((n % 4) != 0)))
		return -1;
	return (long)o;
}

/* True when given[0..len) equals one configured credential. Reads every
 * byte of every user whatever matches: the time depends on the number of
 * users only. */
static bool cred_match(const struct eng_config *cfg, const char *given, size_t len)
{
	char pad[ENG_AUTH_CRED_MAX] = {0};
	if (len > sizeof(pad))
		len = sizeof(pad) + 1;   /* matches nothing, same work */
	else
		memcpy(pad, given, len);
	uint64_t given_w[ENG_AUTH_CRED_MAX / 8];
	memcpy(given_w, pad, sizeof(given_w));
	uint64_t found = 0;
	for (unsigned i = 0; i < cfg->nusers; i++) {
		const struct eng_user *u = &cfg->users[i];
		uint64_t diff = (uint64_t)(u->cred_len ^ len);
		for (size_t k = 0; k < sizeof(given_w) / 8; k++) {
			uint64_t cw;
			memcpy(&cw, u->cred + k * 8, 8);
			diff |= given_w[k] ^ cw;
		}
		/* 1 when diff == 0, without a branch on the secret */
		found |= ((diff | (0 - diff)) >> 63) ^ 1u;
	}
	return found != 0;
}

/* "Basic <token68>" into creds; returns its length or -1. *tok_off gets
 * where the token starts in the value (for blanking). */
static long basic_creds(const char *v, size_t n, char *creds, size_t cap, size_t *tok_off)
{
	size_t i = 5;
	if (n < 7 || strncasecmp(v, "Basic", 5) != 0 || v[5] != ' ')
		return -1;
	while (i < n && v[i] == ' ')
		i++;
	*tok_off = i;
	return b64_decode(v + i, n - i, creds, cap);
}

/* A user name that may name a client without a password check (no
 * --auth): what eng_user_parse allows. */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > ENG_AUTH_USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/* ---- requests ---- */

static void deny_set(struct eng_deny *d, int status, enum eng_err err, bool close,
		     const char *extra, const char *msg)
{
	d->status = status;
	d->err = err;
	d->close = close;
	snprintf(d->extra, sizeof(d->extra), "%s", extra);
	snprintf(d->msg, sizeof(d->msg), "%s\n", msg);
}

bool eng_access_request(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m,
			char *head, const struct h1_target *t, struct eng_deny *d)
{
	const struct eng_config *cfg = &w->e->cfg;
	bool connect = m->method == HTTP_CONNECT;
	if (eng_sock_in_tls(c)) {
		/* inside an intercepted tunnel: the CONNECT was checked and
		 * named the client; inner credentials are only blanked */
		char creds[ENG_AUTH_CRED_MAX + 1];
		unsigned found;
		(void)take_creds(m, head, creds, &found);
	} else {
		bool exempt = !t->origin_form && !connect && cfg->onboard &&
			      eng_onboard_is_host(t->host, t->host_len);
		c->name_len = 0;
		if (!check_auth(w, c, m, head, exempt, d))
			return false;
	}
	if (c->name_len && c->x) {
		c->x->client_name = c->name;
		c->x->client_name_len = c->name_len;
	}
	if (connect && !c->tls && cfg->nconnect_ports) {
		bool ok = false;
		for (unsigned i = 0; i < cfg->nconnect_ports; i++)
			ok |= t->port >= cfg->connect_ports[i].lo && t->port <= cfg->connect_ports[i].hi;
		if (!ok) {
			char msg[160];
			snprintf(msg, sizeof(msg), "ringcap: CONNECT to port %u is not allowed "
				 "(allowed: --connect-ports)", t->port);
			deny_set(d, 403, ENG_ERR_FORBIDDEN, false, "", msg);
			char host[ENG_HOST_MAX + 1];
			size_t hl = t->host_len < sizeof(host) ? t->host_len : sizeof(host) - 1;
			memcpy(host, t->host, hl);
			host[hl] = '\0';
			eng_log_refused(w, c, host, t->port, "port not in --connect-ports");
			return false;
		}
	}
	return true;
}

void eng_log_refused(struct eng_worker *w, const struct eng_sock *c, const char *host,
		     uint16_t port, const char *rule)
{
	struct eng *e = w->e;
	/* the monotonic clock itself: workers' now_ms need not agree */
	uint64_t now_s = eng_now_ns() / 1000000000u + 1;   /* 0: never logged */
	uint64_t last = atomic_load_explicit(&e->refuse_log_s, memory_order_relaxed);
	/* one worker wins each second; the others count what they leave out */
	if (last == now_s || !atomic_compare_exchange_strong(&e->refuse_log_s, &last, now_s)) {
		atomic_fetch_add_explicit(&e->refuse_suppressed, 1, memory_order_relaxed);
		return;
	}
	uint64_t left_out = atomic_exchange_explicit(&e->refuse_suppressed, 0, memory_order_relaxed);
	char ip[INET6_ADDRSTRLEN] = "?";
	uint16_t cport = 0;
	if (c->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&c->addr;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		cport = ntohs(in->sin_port);
	} else if (c->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&c->addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		cport = ntohs(in6->sin6_port);
	}
	char more[64] = "";
	if (left_out)
		snprintf(more, sizeof(more), " (%llu more refused since the last line)",
			 (unsigned long long)left_out);
	/* a blocking write from a worker, but at most one a second */
	fprintf(stderr, "ringcap: refused CONNECT from %s:%u%s%.*s%s to %s:%u: %s%s\n", ip, cport,
		c->name_len ? " (" : "", (int)c->name_len, c->name, c->name_len ? ")" : "",
		host, port, rule, more);
}

/* Decodes the first Proxy-Authorization (Basic) into creds and blanks the
 * token of every one in the head, so that no capture keeps it. Returns the
 * credentials' length, or -1 when absent, malformed or given twice (which
 * one counts would be ambiguous). *found counts the headers. */
static long take_creds(const struct h1_msg *m, char *head, char *creds, unsigned *found)
{
	long clen = -1;
	*found = 0;
	for (unsigned i = 0; i < m->nhdr; i++) {
		const struct h1_hdr *h = &m->hdr[i];
		if (h->name_len != 19 || strncasecmp(head + h->name_off, "proxy-authorization", 19))
			continue;
		size_t tok = 0;
		long n = basic_creds(head + h->value_off, h->value_len, creds,
				     ENG_AUTH_CRED_MAX + 1, &tok);
		if ((*found)++ == 0)
			clen = n;
		memset(head + h->value_off + tok, '*', h->value_len - tok);
	}
	return *found > 1 ? -1 : clen;
}

static struct acc_fail *fail_slot(struct eng_worker *w, const struct eng_sock *c, uint64_t *k)
{
	uint8_t key[16];
	key_of(&c->addr, key);
	*k = hash16(key) | 1u;
	return &w->e->acc->fails[*k & (ENG_AUTH_FAIL_SLOTS - 1)];
}

/* True (and *d set to 429) when the address used up its failures. */
static bool fail_blocked(struct eng_worker *w, struct acc_fail *f, uint64_t k, struct eng_deny *d)
{
	const struct eng_config *cfg = &w->e->cfg;
	uint64_t now = w->now_ms;
	if (cfg->auth_fail_max == 0 || atomic_load_explicit(&f->key, memory_order_relaxed) != k ||
	    atomic_load_explicit(&f->count, memory_order_relaxed) < cfg->auth_fail_max)
		return false;
	uint64_t until = atomic_load_explicit(&f->until_ms, memory_order_relaxed);
	if (now >= until)
		return false;
	char extra[64], msg[200];
	snprintf(extra, sizeof(extra), "Retry-After: %llu\r\n",
		 (unsigned long long)((until - now + 999) / 1000));
	snprintf(msg, sizeof(msg), "ringcap: too many failed proxy logins from your address; "
		 "retry later (--auth-fail-max %u per --auth-fail-window)", cfg->auth_fail_max);
	deny_set(d, 429, ENG_ERR_AUTH_LIMITED, true, extra, msg);
	return true;
}

static void fail_note(struct eng_worker *w, struct acc_fail *f, uint64_t k)
{
	const struct eng_config *cfg = &w->e->cfg;
	uint64_t now = w->now_ms;
	if (cfg->auth_fail_max == 0)
		return;
	if (atomic_load_explicit(&f->key, memory_order_relaxed) != k ||
	    now >= atomic_load_explicit(&f->until_ms, memory_order_relaxed)) {
		atomic_store_explicit(&f->key, k, memory_order_relaxed);
		atomic_store_explicit(&f->count, 1, memory_order_relaxed);
		atomic_store_explicit(&f->until_ms, now + cfg->auth_fail_window_ms,
				      memory_order_relaxed);
	} else if (atomic_fetch_add_explicit(&f->count, 1, memory_order_relaxed) + 1 >=
		   cfg->auth_fail_max) {
		/* blocked for a whole window from the last failure */
		atomic_store_explicit(&f->until_ms, now + cfg->auth_fail_window_ms,
				      memory_order_relaxed);
	}
}

/* Checks the credentials when --auth is on and the request is not exempt;
 * with --identify-by auth the user name names the client (c->name),
 * password-checked under --auth, taken as given without. */
static bool check_auth(struct eng_worker *w, struct eng_sock *c, const struct h1_msg *m,
		       char *head, bool exempt, struct eng_deny *d)
{
	const struct eng_config *cfg = &w->e->cfg;
	char creds[ENG_AUTH_CRED_MAX + 1];
	unsigned found;
	long clen = take_creds(m, head, creds, &found);
	const char *colon = clen > 0 ? memchr(creds, ':', (size_t)clen) : NULL;
	size_t ulen = colon ? (size_t)(colon - creds) : 0;
	bool named = cfg->identify_by == ENG_ID_AUTH && name_ok(creds, ulen);
	if (cfg->nusers == 0 || exempt) {
		if (named) {
			memcpy(c->name, creds, ulen);
			c->name_len = (uint8_t)ulen;
		}
		return true;
	}
	uint64_t k;
	struct acc_fail *f = fail_slot(w, c, &k);
	if (fail_blocked(w, f, k, d))
		return false;
	if (clen <= 0 || colon == NULL || !cred_match(cfg, creds, (size_t)clen)) {
		if (found)   /* a missing header is a normal first try */
			fail_note(w, f, k);
		deny_set(d, 407, ENG_ERR_AUTH, false,
			 "Proxy-Authenticate: Basic realm=\"ringcap\", charset=\"UTF-8\"\r\n",
			 found ? "ringcap: wrong proxy credentials" :
				 "ringcap: proxy authentication required");
		return false;
	}
	if (named) {
		memcpy(c->name, creds, ulen);
		c->name_len = (uint8_t)ulen;
	}
	return true;
}

/* ---- upstream addresses ---- */

const char *eng_upstream_refused(struct eng_worker *w, const struct sockaddr_storage *a)
{
	const struct eng_config *cfg = &w->e->cfg;
	uint8_t key[16];
	key_of(a, key);
	uint16_t port = port_of(a);
	bool local = is_local(w->e->acc, key);
	if (local && port == port_of(&cfg->listen))
		return "it is this proxy (a request loop)";
	if (local && cfg->control.ss_family && port == port_of(&cfg->control))
		return "it is ringcap's control port, never reachable through the proxy";
	if (eng_cidr_match(metadata, sizeof(metadata) / sizeof(metadata[0]), a) &&
	    !(cfg->allow_upstream && eng_cidr_match(cfg->allow_upstream, cfg->nallow_upstream, a)))
		return "link-local and cloud metadata addresses are refused "
		       "(allow them with --allow-upstream)";
	return NULL;
}

/* ---- helpers ---- */

static void key_of(const struct sockaddr_storage *a, uint8_t key[16])
{
	memset(key, 0, 16);
	if (a->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)a)->sin_addr, 4);
	} else if (a->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
	}
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return 0;
}

static uint64_t hash16(const uint8_t key[16])
{
	uint64_t x = 14695981039346656037ull;   /* FNV-1a, then a final mix */
	for (int i = 0; i < 16; i++)
		x = (x ^ key[i]) * 1099511628211ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}

/* This host's addresses as of start-up (getifaddrs), plus the listen
 * address. Loopback and unspecified addresses are local by rule. */
static void local_addrs(struct eng_access *acc, const struct eng_config *c)
{
	key_of(&c->listen, acc->local[acc->nlocal++]);
	if (c->control.ss_family)
		key_of(&c->control, acc->local[acc->nlocal++]);
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *i = ifa; i && acc->nlocal < ENG_LOCAL_ADDRS_MAX; i = i->ifa_next) {
		if (i->ifa_addr == NULL ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, i->ifa_addr, i->ifa_addr->sa_family == AF_INET
		       ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		key_of(&ss, acc->local[acc->nlocal++]);
	}
	freeifaddrs(ifa);
}

static bool is_local(const struct eng_access *acc, const uint8_t key[16])
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t loop6[16] = { [15] = 1 };
	static const uint8_t any6[16] = { 0 };
	bool v4 = memcmp(key, v4mapped, 12) == 0;
	if (v4 && (key[12] == 127 || key[12] == 0))   /* 127/8, and 0/8 reaches us */
		return true;
	if (memcmp(key, loop6, 16) == 0 || memcmp(key, any6, 16) == 0)
		return true;
	for (unsigned i = 0; i < acc->nlocal; i++)
		if (memcmp(acc->local[i], key, 16) == 0)
			return true;
	return false;
}
