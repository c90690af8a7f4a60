/* tests/tools/replay/source_test.c: the source over a real session written
 * with persist/'s writer by two workers, start times interleaved across
 * them, 6 client connections (address and port), one tunnel. Checked:
 * every replayable exchange comes out once per pass, each loop thread's
 * queue in start order; the exchanges of one recorded connection all go to
 * one slot (and so one thread), distinct connections to distinct slots;
 * --speed 1 due times are the recorded offsets, --speed 2 half of them;
 * the tunnel is skipped and counted; --ids selects; --loop 3 replays the
 * selection three times from the cache (same request objects), and with
 * the cache bound below the selection it scans the segments again for
 * each pass (fresh objects, every connection on its slot again); bodies
 * and the rewritten request lines are what was stored; destinations are
 * resolved (numeric hosts: no name service in a unit test). */
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/persist/gen.h"
#include "tools/replay/source.h"

#define N 60              /* exchanges, tunnel included */
#define CONNS 6           /* recorded client connections */
#define MS 1000000ull

static void write_session(const char *dir, uint64_t t0)
{
	struct seg_writer *w[2];
	for (int i = 0; i < 2; i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i,
					    .save_responses = true };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w[i]));
	}
	for (int k = 0; k < N; k++) {
		int conn = k % CONNS;
		struct seg_writer *wr = w[conn % 2];   /* a connection stays on its worker */
		char url[128], head[256], body[32], host[32];
		snprintf(host, sizeof(host), "127.0.0.%d", conn + 1);
		bool tunnel = k == 7;
		snprintf(url, sizeof(url), "http://127.0.0.%d:8080/k/%d", conn + 1, k);
		int hl = tunnel ? snprintf(head, sizeof(head), "CONNECT h.example:443 HTTP/1.1\r\n\r\n")
				: snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: 127.0.0.%d:8080\r\n"
					   "Content-Length: 9\r\nX-K: %d\r\n\r\n", url, conn + 1, k);
		struct seg_xch_begin b = {
			.start_ns = t0 + (uint64_t)k * 10u * MS, .scheme = tunnel ? SEG_SCHEME_TUNNEL : 0,
			.http_version = 11, .port = 8080, .flags = tunnel ? SEG_F_TUNNEL : 0,
			.method = tunnel ? "CONNECT" : "POST", .method_len = tunnel ? 7 : 4,
			.host = host, .host_len = strlen(host), .url = url, .url_len = strlen(url),
			.req_head = head, .req_head_len = (size_t)hl,
			.client = { .family = 4, .port = (uint16_t)(40000 + conn), .addr = { 10, 0, 0, 1 } },
		};
		struct seg_xch *x;
		REQUIRE_RC(seg_xch_begin(wr, &b, &x, NULL));
		snprintf(body, sizeof(body), "body-%04d", k);
		if (!tunnel)
			REQUIRE_RC(seg_xch_body(wr, x, SEG_DIR_REQ, body, 9));
		const char rh[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
		REQUIRE_RC(seg_xch_resp_head(wr, x, 200, "OK", 2, rh, sizeof(rh) - 1u, SEG_T_JSON));
		REQUIRE_RC(seg_xch_body(wr, x, SEG_DIR_RESP, "{}", 2));
		struct seg_xch_end e = { .status = 200 };
		REQUIRE_RC(seg_xch_end(wr, x, &e));
	}
	for (int i = 0; i < 2; i++) {
		REQUIRE_RC(seg_writer_flush_sync(w[i]));
		seg_writer_close(w[i]);
	}
}

/* Drains every queue until the source is done; returns items seen. */
static size_t drain(struct rp_source *s, unsigned threads, struct rp_item *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		bool done = rp_source_done(s);
		bool any = false;
		for (unsigned t = 0; t < threads; t++) {
			struct rp_item it;
			uint64_t last = 0;
			while (rp_queue_pop(rp_source_queue(s, t), &it)) {
				REQUIRE(n < cap);
				CHECK(it.slot % threads == t);     /* the slot's thread */
				REQUIRE(it.due_ns >= last || it.pass > out[n ? n - 1 : 0].pass);
				last = it.due_ns;
				out[n++] = it;
				any = true;
			}
		}
		if (done && !any)
			return n;
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
}

static uint64_t g_cache_max;   /* rp_source_cfg.cache_bytes_max of open_src */

static struct rp_source *open_src(const char *dir, struct rp_rewrite *rw, double speed,
				  uint64_t loops, const struct rc_ids *ids)
{
	struct rp_source_cfg c = { .session_dir = dir, .rw = rw, .threads = 2, .readers = 2,
				   .ids = ids, .cache_bytes_max = g_cache_max,
				   .sched = { .speed = speed, .loops = loops } };
	struct rp_source *s;
	REQUIRE_RC(rp_source_open(&c, &s));
	REQUIRE(c.sched.count == (ids ? 3u : N - 1u));
	REQUIRE_RC(rp_source_start(s));
	return s;
}

/* Sessions written, then read back through the source in each mode
 * (order, selection, loop past the cache, stop): the blocks share the
 * sessions the first ones write, so they stay in one function, in order. */
int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "rpsrc");
	uint64_t t0 = now_wall_ns();
	write_session(dir, t0);
	struct rp_rewrite rw = { 0 };
	static struct rp_item it[4 * N];

	struct rp_source *s = open_src(dir, &rw, 1, 1, NULL);
	size_t n = drain(s, 2, it, 4 * N);
	CHECK(n == N - 1);
	const struct rp_source_stats *st = rp_source_stats(s);
	CHECK(st->selected == N - 1);
	CHECK(st->groups == CONNS);
	CHECK(atomic_load(&st->skipped_tunnel) == 1);
	CHECK(rp_source_slots(s) == CONNS);
	CHECK(!rp_source_owns(s));
	uint32_t slot_of[CONNS];
	bool seen[CONNS] = { false };
	for (size_t i = 0; i < n; i++) {
		struct rp_req *r = it[i].req;
		int k = -1;
		CHECK(sscanf(r->url, "http://127.0.0.%*d:8080/k/%d", &k) == 1);
		CHECK(k != 7);
		int conn = k % CONNS;
		if (!seen[conn]) {
			slot_of[conn] = it[i].slot;
			seen[conn] = true;
		}
		CHECK(it[i].slot == slot_of[conn]);
		CHECK(r->rec_off_ns == (uint64_t)k * 10u * MS);
		CHECK(it[i].due_ns == r->rec_off_ns);
		char want[160];
		snprintf(want, sizeof(want), "POST /k/%d HTTP/1.1\r\nHost: 127.0.0.%d:8080\r\n", k, conn + 1);
		REQUIRE(r->len > strlen(want));
		CHECK(memcmp(r->data, want, strlen(want)) == 0);
		char body[16];
		snprintf(body, sizeof(body), "body-%04d", k);
		CHECK(memcmp(r->data + r->head_len, body, 9) == 0);
		CHECK(r->expect.status == 200);
		CHECK(r->expect.size == 2);
		CHECK(r->addr_len == sizeof(struct sockaddr_in));   /* resolved by the source */
		rp_source_release(s, r->len);
		rp_req_free(r);
	}
	for (int a = 0; a < CONNS; a++)
		for (int b = a + 1; b < CONNS; b++)
			CHECK(slot_of[a] != slot_of[b]);
	rp_source_close(s);

	/* --speed 2, --ids 3,10-11 */
	uint64_t range[1][2];
	struct rc_ids ids = { .r = range, .n = 1 };
	s = open_src(dir, &rw, 2, 1, NULL);
	n = drain(s, 2, it, 4 * N);
	for (size_t i = 0; i < n; i++) {
		CHECK(it[i].due_ns == it[i].req->rec_off_ns / 2u);
		rp_req_free(it[i].req);
	}
	rp_source_close(s);
	/* ids of three exchanges of the first worker, found by the table */
	s = open_src(dir, &rw, 1, 1, NULL);
	n = drain(s, 2, it, 4 * N);
	uint64_t pick[3];
	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		if (np < 3 && (np == 0 || it[i].req->id == pick[np - 1] + 1u))
			pick[np++] = it[i].req->id;
		rp_req_free(it[i].req);
	}
	rp_source_close(s);
	CHECK(np == 3);
	range[0][0] = pick[0];
	range[0][1] = pick[2];
	s = open_src(dir, &rw, 1, 1, &ids);
	n = drain(s, 2, it, 4 * N);
	CHECK(n == 3);
	for (size_t i = 0; i < n; i++) {
		REQUIRE(it[i].req->id >= pick[0] && it[i].req->id <= pick[2]);
		rp_req_free(it[i].req);
	}
	rp_source_close(s);

	/* --loop 3: the same request objects three times, passes 0..2 */
	s = open_src(dir, &rw, 0, 3, NULL);
	CHECK(rp_source_owns(s));
	n = drain(s, 2, it, 4 * N);
	CHECK(n == 3u * (N - 1u));
	size_t per_pass[3] = { 0 };
	for (size_t i = 0; i < n; i++) {
		REQUIRE(it[i].pass < 3);
		CHECK(it[i].due_ns == 0);   /* closed loop */
		per_pass[it[i].pass]++;
	}
	CHECK(per_pass[0] == N - 1 && per_pass[1] == N - 1 && per_pass[2] == N - 1);
	rp_source_close(s);   /* frees the cached requests */

	/* --loop 3 over a selection bigger than the cache: three scans */
	g_cache_max = 1;
	s = open_src(dir, &rw, 0, 3, NULL);
	CHECK(!rp_source_owns(s));
	n = drain(s, 2, it, 4 * N);
	CHECK(n == 3u * (N - 1u));
	memset(per_pass, 0, sizeof(per_pass));
	for (size_t i = 0; i < n; i++) {
		REQUIRE(it[i].pass < 3);
		per_pass[it[i].pass]++;
		int k = -1;
		CHECK(sscanf(it[i].req->url, "http://127.0.0.%*d:8080/k/%d", &k) == 1);
		REQUIRE(k >= 0);
		CHECK(it[i].slot == slot_of[k % CONNS]);   /* the slot of the first run */
		CHECK(it[i].req->rec_off_ns == (uint64_t)k * 10u * MS);
		rp_source_release(s, it[i].req->len);
		rp_req_free(it[i].req);
	}
	CHECK(per_pass[0] == N - 1 && per_pass[1] == N - 1 && per_pass[2] == N - 1);
	CHECK(atomic_load(&rp_source_stats(s)->skipped_tunnel) == 1);   /* counted once */
	rp_source_close(s);
	g_cache_max = 0;
	rm_rf(dir);
	return check_done("replay_source");
}
