/* bench/realistic.h: realistic exchanges written straight through
 * persist/, shared by bench/persist_bench.c (compression, 1M-row queries)
 * and bench/gen_session.c (synthetic sessions for bench/store.sh). Fields
 * come from tests/persist/gen.h; bodies are JSON records with varying
 * values, HTML, or already-compressed bytes; real_fields() adds varied
 * hosts, URL shapes, methods and content types. Header-only (static).
 */
#ifndef BENCH_REALISTIC_H
#define BENCH_REALISTIC_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "persist/seg.h"
#include "tests/persist/gen.h"

static uint64_t mono_ns(void);
static void real_fields(struct gen_x *g, uint64_t r, int *kind, uint8_t *type);

static const char *words[] = { "alpha", "order", "customer", "payment", "shipping", "status",
			       "created", "updated", "invoice", "product", "category", "review",
			       "delivery", "account", "session", "profile", "address", "city" };

/* A realistic body: JSON records with varying values, HTML, or bytes that
 * are already compressed (gzip/br on the wire, stored as received). */
static size_t real_body(uint64_t *rng, int kind, uint8_t *p, size_t cap)
{
	size_t n = 0;
	if (kind == 2) {
		size_t len = 500 + gen_mix(*rng) % 6000;
		for (size_t i = 0; i < len && i < cap; i++)
			p[n++] = (uint8_t)(*rng = gen_mix(*rng));
		return n;
	}
	size_t want = 200 + (*rng = gen_mix(*rng)) % 8000;
	if (kind == 0)
		n += (size_t)snprintf((char *)p, cap, "{\"data\":[");
	else
		n += (size_t)snprintf((char *)p, cap, "<!doctype html><html><head><title>Shop</title>"
				      "<link rel=stylesheet href=/s.css></head><body><ul>");
	while (n < want && n + 400 < cap) {
		uint64_t r = *rng = gen_mix(*rng);
		if (kind == 0)
			n += (size_t)snprintf((char *)p + n, cap - n,
				"{\"id\":%u,\"uuid\":\"%08x-%04x-4%03x\",\"name\":\"%s %s\",\"email\":"
				"\"%s.%u@example.com\",\"created\":\"2026-11-%02uT%02u:%02u:%02uZ\","
				"\"price\":%u.%02u,\"tags\":[\"%s\",\"%s\"],\"active\":%s},",
				(unsigned)(r % 1000000), (unsigned)r, (unsigned)(r >> 32) & 0xffff,
				(unsigned)(r >> 48) & 0xfff, words[r % 18], words[(r >> 5) % 18],
				words[(r >> 10) % 18], (unsigned)(r >> 20) % 1000,
				(unsigned)(r >> 3) % 28 + 1, (unsigned)(r >> 7) % 24,
				(unsigned)(r >> 11) % 60, (unsigned)(r >> 17) % 60,
				(unsigned)(r >> 23) % 500, (unsigned)(r >> 29) % 100,
				words[(r >> 33) % 18], words[(r >> 38) % 18], (r >> 43) & 1 ? "true" : "false");
		else
			n += (size_t)snprintf((char *)p + n, cap - n,
				"<li class=\"item\"><a href=\"/%s/%u\">%s %s</a><span class=price>%u.%02u"
				"</span><img src=\"/img/%08x.jpg\" alt=\"%s\"></li>\n",
				words[r % 18], (unsigned)(r >> 8) % 100000, words[(r >> 13) % 18],
				words[(r >> 18) % 18], (unsigned)(r >> 23) % 500, (unsigned)(r >> 29) % 100,
				(unsigned)(r >> 32), words[(r >> 40) % 18]);
	}
	return n < cap ? n : cap;
}

static uint64_t writer_ns; /* time spent inside persist calls only */

/* Writes one exchange k (fields from gen.h, bodies from real_body); with
 * varied, hosts, URLs, methods and types follow real_fields() instead. */
static void put_exchange(struct seg_writer *w, uint64_t seed, uint64_t k, bool small, bool varied)
{
	static uint8_t body[16384], rbody[16384];
	struct gen_x g;
	gen_exchange(seed, k, 0, &g);
	uint64_t rng = gen_mix(seed ^ (k * 2654435761u));
	int kind = (int)(rng % 20);
	kind = kind < 10 ? 0 : kind < 13 ? 1 : kind < 18 ? 2 : 3; /* 3: no body */
	uint8_t type = kind == 1 ? SEG_T_HTML : SEG_T_JSON;
	if (varied)
		real_fields(&g, gen_mix(rng), &kind, &type);
	struct seg_xch_begin b = {
		.start_ns = g.start_ns, .scheme = g.scheme, .http_version = 11, .port = g.port,
		.flags = g.flags, .method = g.method, .method_len = strlen(g.method), .host = g.host,
		.host_len = strlen(g.host), .url = g.url, .url_len = strlen(g.url),
		.req_head = g.req_head, .req_head_len = g.req_head_len, .client = g.client,
	};
	struct seg_xch *x;
	size_t rb = 0, sb = 0;
	if (g.method[0] == 'P')
		rb = real_body(&rng, 0, rbody, small ? 300 : sizeof(rbody));
	if (kind != 3)
		sb = real_body(&rng, kind, body, small ? 600 : sizeof(body));
	uint64_t t0 = mono_ns();
	CHECK_RC(seg_xch_begin(w, &b, &x, NULL));
	if (rb)
		CHECK_RC(seg_xch_body(w, x, SEG_DIR_REQ, rbody, rb));
	CHECK_RC(seg_xch_resp_head(w, x, g.status, g.reason, strlen(g.reason), g.resp_head,
				   g.resp_head_len, type));
	if (sb)
		CHECK_RC(seg_xch_body(w, x, SEG_DIR_RESP, body, sb));
	struct seg_xch_end e = { .status = g.status, .t = g.t,
				 .wire = { g.req_head_len, rb, g.resp_head_len, sb } };
	CHECK_RC(seg_xch_end(w, x, &e));
	writer_pump(w, false);
	writer_ns += mono_ns() - t0;
}

static const char *const real_hosts[] = {
	"api.example.com", "cdn.example.net", "www.shop.test", "auth.example.org",
	"img.example.net", "telemetry.app.io", "graph.social.test", "static.news.test",
	"m.video.test", "ws.chat.example", "pay.bank.test", "maps.geo.test",
	"ads.tracker.test", "fonts.cdn.test", "search.engine.test", "mail.example.org",
	"push.mobile.test", "config.app.io", "update.vendor.test", "metrics.ops.test",
	"login.sso.test", "files.share.test", "api.weather.test", "feed.social.test",
	"assets.game.test", "play.music.test", "api.shop.test", "checkout.shop.test",
	"cdn.images.test", "beacon.analytics.test",
};

/* Varied host, URL, method, content type (and body kind) for exchange g,
 * from the random value r: API calls (JSON, every method), pages, scripts,
 * styles, images (stored without body: media), fonts. Rebuilds the
 * request and response heads to match. */
static void real_fields(struct gen_x *g, uint64_t r, int *kind, uint8_t *type)
{
	static const char *const api_m[] = { "GET", "GET", "GET", "POST", "PUT", "DELETE",
					     "PATCH", "OPTIONS" };
	static const char *const mime[] = { "application/json", "text/html; charset=utf-8",
					     "application/javascript", "text/css", "image/jpeg",
					     "font/woff2" };
	static const uint8_t types[] = { SEG_T_JSON, SEG_T_HTML, SEG_T_JS, SEG_T_CSS, SEG_T_IMAGE,
					 SEG_T_FONT };
	unsigned shape = (unsigned)(r % 100);
	int s = shape < 45 ? 0 : shape < 55 ? 1 : shape < 68 ? 2 : shape < 76 ? 3 : shape < 96 ? 4 : 5;
	const char *host = real_hosts[(r >> 8) % (sizeof(real_hosts) / sizeof(real_hosts[0]))];
	snprintf(g->host, sizeof(g->host), "%s", host);
	snprintf(g->method, sizeof(g->method), "%s", s == 0 ? api_m[(r >> 16) % 8] : "GET");
	const char *w1 = words[(r >> 20) % 18], *w2 = words[(r >> 25) % 18];
	unsigned id = (unsigned)(r >> 30) % 1000000, h = (unsigned)(r >> 32);
	const char *sch = g->scheme == SEG_SCHEME_HTTPS ? "https" : "http";
	switch (s) {
	case 0:
		if ((r >> 40) & 1)
			snprintf(g->url, sizeof(g->url), "%s://%s/api/v%u/%s/%u/%s", sch, host,
				 (unsigned)(r >> 41) % 3 + 1, w1, id, w2);
		else
			snprintf(g->url, sizeof(g->url), "%s://%s/api/v%u/%s?%s=%u&limit=50", sch,
				 host, (unsigned)(r >> 41) % 3 + 1, w1, w2, id);
		break;
	case 1: snprintf(g->url, sizeof(g->url), "%s://%s/%s/%s-%u.html", sch, host, w1, w2, id); break;
	case 2: snprintf(g->url, sizeof(g->url), "%s://%s/static/js/%s.%08x.js", sch, host, w1, h); break;
	case 3: snprintf(g->url, sizeof(g->url), "%s://%s/static/css/%s.%08x.css", sch, host, w1, h); break;
	case 4: snprintf(g->url, sizeof(g->url), "%s://%s/img/%08x/%u.jpg", sch, host, h, id); break;
	default: snprintf(g->url, sizeof(g->url), "%s://%s/fonts/%s.woff2", sch, host, w1); break;
	}
	*type = types[s];
	*kind = s == 0 ? ((r >> 44) % 8 == 0 ? 3 : 0) : s <= 3 ? 1 : 2;
	if (s != 0 && g->status != 304 && g->status != 404)
		g->status = (r >> 48) % 9 == 0 ? 304 : 200;
	snprintf(g->reason, sizeof(g->reason), "%s", g->status < 400 ? "OK" : "Error");
	g->req_head_len = (size_t)snprintf(g->req_head, sizeof(g->req_head),
		"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (Linux; Android 14) "
		"AppleWebKit/537.36 Chrome/120.0 Mobile\r\nAccept: */*\r\n"
		"Accept-Encoding: gzip, deflate, br\r\nCookie: session=%llx\r\n\r\n",
		g->method, g->url, host, (unsigned long long)r);
	g->resp_head_len = (size_t)snprintf(g->resp_head, sizeof(g->resp_head),
		"HTTP/1.1 %u %s\r\nContent-Type: %s\r\nCache-Control: max-age=600\r\n"
		"Date: Sun, 29 Nov 2026 02:00:00 GMT\r\nServer: nginx/1.22.1\r\n\r\n",
		(unsigned)g->status, g->reason, mime[s]);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
