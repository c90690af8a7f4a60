/* tests/persist/gen.h: deterministic synthetic HTTP exchanges for the
 * persist tests, the fuzz corpus and bench/persist_bench.c. Exchange k of
 * seed s always has the same fields and bodies, so a test can compare a
 * stored exchange against a regenerated one byte by byte without keeping
 * anything in memory. Header-only: every function is static.
 */
#ifndef TESTS_PERSIST_GEN_H
#define TESTS_PERSIST_GEN_H

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "persist/seg.h"

/* Set-up failures inside the generator and driver stop the program
 * (REQUIRE); the tests' own checks are tests/check.h's counting CHECKs. */
#include "tests/check.h"

/* Sanitizer builds run about ten times slower: loops that sweep every
 * byte offset take a stride there instead (still a few hundred cuts). */
#if defined(__SANITIZE_ADDRESS__)
#define GEN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GEN_SANITIZED 1
#endif
#endif
#ifndef GEN_SANITIZED
#define GEN_SANITIZED 0
#endif

struct gen_x {
	uint64_t k;
	char method[16], host[64], url[512], req_head[1024], resp_head[1024], reason[32];
	size_t req_head_len, resp_head_len;
	uint64_t body_len[2];
	uint16_t status, port;
	uint8_t type, scheme, error;
	uint32_t flags;
	uint64_t start_ns;
	struct seg_addr client;
	struct seg_timings t;
};

static inline uint64_t gen_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* Body byte i of exchange k, direction d: JSON-like text for most
 * exchanges, incompressible bytes for every 7th. */
static inline void gen_body(uint64_t seed, uint64_t k, int d, uint64_t off, uint8_t *p, size_t n)
{
	static const char text[] =
		"{\"id\":1234,\"name\":\"user-name\",\"email\":\"someone@example.com\","
		"\"tags\":[\"alpha\",\"beta\"],\"active\":true,\"score\":42.5,"
		"\"items\":[{\"sku\":\"A-100\",\"qty\":2},{\"sku\":\"B-7\",\"qty\":1}]},\n";
	bool binary = (gen_mix(seed ^ k) % 7) == 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t o = off + i;
		if (binary) {
			p[i] = (uint8_t)(gen_mix(seed * 31 + k * 1000003 + (uint64_t)d * 7 + o / 8) >> (8 * (o % 8)));
		} else {
			p[i] = (uint8_t)text[o % (sizeof(text) - 1)];
			if (o % 97 == 5)
				p[i] = (uint8_t)('0' + (gen_mix(k * 131 + o) % 10));
		}
	}
}

static inline void gen_exchange(uint64_t seed, uint64_t k, uint64_t big_every, struct gen_x *x)
{
	static const char *methods[] = { "GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH",
					 "HEAD", "OPTIONS", "PROPFIND" };
	static const char *hosts[] = { "api.example.com", "cdn.example.net", "www.shop.test",
				       "auth.example.org", "img.example.net", "telemetry.app.io" };
	static const uint16_t st[] = { 200, 200, 200, 201, 204, 301, 304, 400, 404, 500, 502 };
	static const uint8_t types[] = { SEG_T_JSON, SEG_T_HTML, SEG_T_JS, SEG_T_CSS, SEG_T_IMAGE,
					 SEG_T_TEXT, SEG_T_JSON, SEG_T_BINARY };
	uint64_t r = gen_mix(seed * 7919 + k);
	memset(x, 0, sizeof(*x));
	x->k = k;
	snprintf(x->method, sizeof(x->method), "%s", methods[r % 10]);
	snprintf(x->host, sizeof(x->host), "%s", hosts[(r >> 8) % 6]);
	x->scheme = (r >> 12) & 1 ? SEG_SCHEME_HTTPS : SEG_SCHEME_HTTP;
	x->flags = x->scheme == SEG_SCHEME_HTTPS ? SEG_F_TLS : 0;
	x->port = x->scheme == SEG_SCHEME_HTTPS ? 443 : 80;
	snprintf(x->url, sizeof(x->url), "%s://%s/v%u/users/%llu/orders?page=%u&q=%llx",
		 x->scheme ? "https" : "http", x->host, (unsigned)(r >> 16) % 3,
		 (unsigned long long)(r >> 20) % 100000, (unsigned)(r >> 40) % 50,
		 (unsigned long long)k);
	x->status = st[(r >> 24) % 11];
	x->type = types[(r >> 28) % 8];
	snprintf(x->reason, sizeof(x->reason), "%s", x->status < 400 ? "OK" : "Error");
	x->req_head_len = (size_t)snprintf(x->req_head, sizeof(x->req_head),
		"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (Linux; Android 14) "
		"AppleWebKit/537.36 Chrome/120.0 Mobile\r\nAccept: application/json, */*\r\n"
		"Accept-Encoding: gzip, deflate, br\r\nAuthorization: Bearer eyJhbGciOi%llx\r\n"
		"Cookie: session=%llx; theme=dark\r\n\r\n",
		x->method, x->url, x->host, (unsigned long long)r, (unsigned long long)(r * 3));
	x->resp_head_len = (size_t)snprintf(x->resp_head, sizeof(x->resp_head),
		"HTTP/1.1 %u %s\r\nContent-Type: application/json; charset=utf-8\r\n"
		"Cache-Control: no-store\r\nDate: Sun, 29 Nov 2026 02:00:00 GMT\r\n"
		"Server: nginx/1.22.1\r\nX-Request-Id: %llx\r\n\r\n",
		(unsigned)x->status, x->reason, (unsigned long long)r);
	bool has_req = x->method[0] == 'P';
	x->body_len[0] = has_req ? 50 + (r >> 32) % 3000 : 0;
	x->body_len[1] = (r >> 36) % 5 == 0 ? 0 : 100 + (r >> 44) % 20000;
	if (big_every && k % big_every == big_every - 1)
		x->body_len[1] = 300000 + (r % 200000); /* spans many frames */
	x->start_ns = 1700000000000000000ull + k * 1000000ull + (r % 1000);
	x->client.family = (k & 1) ? 4 : 6;
	for (int i = 0; i < 16; i++)
		x->client.addr[i] = (uint8_t)(x->client.family == 4 && i >= 4 ? 0 : gen_mix(k + (uint64_t)i));
	x->client.port = (uint16_t)(1024 + r % 60000);
	x->t = (struct seg_timings){ .dns_ns = r % 1000, .connect_ns = 2000 + r % 5000,
				     .tls_ns = x->scheme ? 9000 : 0, .ttfb_ns = 20000 + r % 100000,
				     .total_ns = 150000 + (r >> 3) % 10000000 };
	x->error = (r >> 50) % 23 == 0 ? SEG_E_TIMEOUT : SEG_E_NONE;
}

static inline uint64_t now_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

static inline void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

/* Makes a fresh temp directory; path into buf. */
static inline void make_tmpdir(char *buf, size_t cap, const char *tag)
{
	snprintf(buf, cap, "/tmp/rc-%s-XXXXXX", tag);
	REQUIRE(mkdtemp(buf) != NULL);
}


/* A whole file read into a malloc'd buffer (one spare byte: callers may
 * NUL-terminate it), *len its size; free() it. */
static inline uint8_t *gen_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	REQUIRE(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(*len + 1);
	REQUIRE(b && fread(b, 1, *len, f) == *len);
	fclose(f);
	return b;
}

/* Writes b as the whole file at path. */
static inline void gen_spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	REQUIRE(f && fwrite(b, 1, len, f) == len);
	fclose(f);
}

/* ---- interleaved driving of a writer ---- */

struct drive_open {
	struct gen_x g;
	struct seg_xch *x;
	uint64_t id;
	uint64_t off[2];
	int phase; /* 0 request body, 1 response body, 2 end */
};

struct drive {
	uint64_t seed, big_every, rng;
	uint32_t max_open, chunk_max;
	uint64_t next_k, ended, last_ended_k;
	uint64_t *ids; /* ids[k] = exchange id, 0 when refused */
	struct drive_open *open;
	uint32_t nopen;
	bool short_writes;
	/* Called after each END (e.g. flush and report progress). */
	void (*after_end)(struct drive *d, struct seg_writer *w);
	void *ctx;
};

static inline uint64_t drive_rand(struct drive *d) { return d->rng = gen_mix(d->rng); }

static inline void drive_init(struct drive *d, uint64_t seed, uint64_t n, uint64_t big_every,
			      uint32_t max_open, uint32_t chunk_max)
{
	memset(d, 0, sizeof(*d));
	d->seed = seed;
	d->rng = seed;
	d->big_every = big_every;
	d->max_open = max_open;
	d->chunk_max = chunk_max;
	d->ids = calloc(n + 1, sizeof(*d->ids));
	d->open = calloc(max_open, sizeof(*d->open));
	REQUIRE(d->ids && d->open);
}

static inline void drive_free(struct drive *d)
{
	free(d->ids);
	free(d->open);
}

static inline void drive_begin(struct drive *d, struct seg_writer *w)
{
	struct drive_open *o = &d->open[d->nopen];
	memset(o, 0, sizeof(*o));
	gen_exchange(d->seed, d->next_k, d->big_every, &o->g);
	struct gen_x *g = &o->g;
	struct seg_xch_begin b = {
		.start_ns = g->start_ns, .scheme = g->scheme, .http_version = 11, .port = g->port,
		.flags = g->flags, .method = g->method, .method_len = strlen(g->method),
		.host = g->host, .host_len = strlen(g->host), .url = g->url, .url_len = strlen(g->url),
		.req_head = g->req_head, .req_head_len = g->req_head_len, .client = g->client,
		.client_name = "pixel-7", .client_name_len = 7,
	};
	int rc = seg_xch_begin(w, &b, &o->x, &o->id);
	REQUIRE(rc == 0 || rc == -ENOBUFS);
	d->next_k++;
	if (rc == 0) {
		d->ids[g->k] = o->id;
		d->nopen++;
	}
}

/* Advances open exchange i by one event. */
static inline void drive_step(struct drive *d, struct seg_writer *w, uint32_t i)
{
	struct drive_open *o = &d->open[i];
	static uint8_t buf[1 << 17];
	if (o->phase < 2) {
		int dir = o->phase;
		uint64_t left = o->g.body_len[dir] - o->off[dir];
		if (left == 0) {
			if (dir == 0)
				REQUIRE_RC(seg_xch_resp_head(w, o->x, o->g.status, o->g.reason,
							   strlen(o->g.reason), o->g.resp_head,
							   o->g.resp_head_len, o->g.type));
			o->phase++;
			return;
		}
		size_t n = 1 + drive_rand(d) % d->chunk_max;
		n = n > left ? (size_t)left : n;
		n = n > sizeof(buf) ? sizeof(buf) : n;
		gen_body(d->seed, o->g.k, dir, o->off[dir], buf, n);
		REQUIRE_RC(seg_xch_body(w, o->x, (enum seg_dir)dir, buf, n));
		o->off[dir] += n;
		return;
	}
	struct seg_xch_end e = {
		.status = o->g.status, .error = o->g.error, .t = o->g.t,
		.wire = { .req_head = o->g.req_head_len, .req_body = o->g.body_len[0],
			  .resp_head = o->g.resp_head_len, .resp_body = o->g.body_len[1] },
		.err_msg = o->g.error ? "upstream timed out after 30 s" : NULL,
		.err_msg_len = o->g.error ? 29 : 0,
	};
	REQUIRE_RC(seg_xch_end(w, o->x, &e));
	d->ended++;
	d->last_ended_k = o->g.k;
	d->open[i] = d->open[--d->nopen];
	if (d->after_end)
		d->after_end(d, w);
}

/* Performs every queued write like the engine's ring would; with
 * short_writes, each write does only part of its bytes first. */
static inline void writer_pump(struct seg_writer *w, bool short_writes)
{
	const struct seg_io *io;
	while ((io = seg_writer_next_io(w)) != NULL) {
		long r;
		if (io->path) {
			r = seg_io_sync(io); /* a rotation's open */
		} else if (io->fsync) {
			r = fsync(io->fd) < 0 ? -errno : 0;
		} else {
			size_t len = io->len;
			if (short_writes && len > 1)
				len = len / 2;
			r = pwrite(io->fd, io->buf, len, (off_t)io->off);
			if (r < 0)
				r = -errno;
		}
		seg_writer_io_done(w, (int)r);
	}
}

/* Writes exchanges 0..n-1 with at most max_open interleaved. */
static inline void drive_run(struct drive *d, struct seg_writer *w, uint64_t n)
{
	for (uint64_t guard = 0; guard < 100000000ull; guard++) {
		if (d->next_k < n && d->nopen < d->max_open && (d->nopen == 0 || drive_rand(d) % 3 == 0)) {
			drive_begin(d, w);
			continue;
		}
		if (d->nopen == 0)
			break;
		drive_step(d, w, (uint32_t)(drive_rand(d) % d->nopen));
		writer_pump(w, d->short_writes);
	}
}

/* Compares a stored exchange with its regenerated original. */
static inline void verify_exchange(const char *dir, uint64_t id, uint64_t seed, uint64_t k,
				   uint64_t big_every, uint64_t body_max, bool save_resp)
{
	struct gen_x g;
	struct seg_exchange x;
	gen_exchange(seed, k, big_every, &g);
	struct seg_open_opts o = { .body_max = { 1u << 30, 1u << 30 } };
	int rc = seg_open_id(dir, id, &o, &x);
	if (rc < 0)
		fprintf(stderr, "open id %llu (k %llu): %d\n", (unsigned long long)id, (unsigned long long)k, rc);
	REQUIRE(rc == 0);
	REQUIRE(x.id == id && x.complete);
	REQUIRE(!strcmp(x.method_text, g.method) && !strcmp(x.host, g.host) && !strcmp(x.url, g.url));
	REQUIRE(!strcmp(x.client_name, "pixel-7"));
	REQUIRE(x.start_ns == g.start_ns && x.port == g.port && x.scheme == g.scheme);
	REQUIRE(x.http_version == 11 && x.method == seg_method_parse(g.method, strlen(g.method)));
	REQUIRE(!memcmp(&x.client.addr, g.client.addr, 16) && x.client.port == g.client.port);
	REQUIRE(x.client.family == g.client.family);
	REQUIRE(x.req_head_len == g.req_head_len && !memcmp(x.req_head, g.req_head, g.req_head_len));
	REQUIRE(x.status == g.status && x.error == g.error);
	REQUIRE(!memcmp(&x.t, &g.t, sizeof(g.t)));
	REQUIRE(x.wire.req_body == g.body_len[0] && x.wire.resp_body == g.body_len[1]);
	REQUIRE(!!(x.flags & SEG_F_ERROR) == (g.error != 0));
	REQUIRE(!g.error || !strcmp(x.err_msg, "upstream timed out after 30 s"));
	bool media = g.type == SEG_T_IMAGE || g.type == SEG_T_MEDIA;
	REQUIRE(!!(x.flags & SEG_F_MEDIA) == media);
	if (save_resp) {
		REQUIRE(x.resp_head_len == g.resp_head_len && !memcmp(x.resp_head, g.resp_head, g.resp_head_len));
		REQUIRE(!strcmp(x.reason, g.reason) && x.type == g.type);
	} else {
		REQUIRE(x.resp_head == NULL && (x.flags & SEG_F_NO_RESP));
	}
	for (int d = 0; d < 2; d++) {
		uint64_t want = g.body_len[d] < body_max ? g.body_len[d] : body_max;
		if (d == 1 && (!save_resp || media))
			want = 0;
		uint32_t tf = d ? SEG_F_RESP_TRUNC : SEG_F_REQ_TRUNC;
		REQUIRE(!!(x.flags & tf) == (g.body_len[d] > body_max && want != 0));
		REQUIRE(x.body_len[d] == want);
		uint8_t *exp = malloc(want + 1);
		REQUIRE(exp);
		gen_body(seed, k, d, 0, exp, want);
		REQUIRE(!memcmp(exp, x.body[d] ? x.body[d] : exp, want));
		free(exp);
	}
	seg_exchange_free(&x);
}

#endif
