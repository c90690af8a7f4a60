/* tests/tools/control/clients_test.c: the per-session client lists of
 * tools/control/clients.h against the full scan (rc_session_clients):
 * the same clients on a finished session; a client that appears later is
 * listed by the next request (incremental); a client whose every exchange
 * was deleted leaves the list; more sessions than the cache holds still
 * answer right (eviction), and a poll when nothing changed is cheap.
 */
#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/persist/gen.h"
#include "persist/ses.h"
#include "tools/control/clients.h"
#include "tools/views/listing.h"

#define PER_CLIENT 400u

/* Writes n exchanges from 10.0.0.<host> (named when name is set). */
static void write_client(const char *dir, uint16_t worker, uint8_t host, const char *name,
			 unsigned n, uint64_t *ids)
{
	struct seg_writer_cfg c = { .session_dir = dir, .worker = worker, .save_responses = true };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	for (unsigned i = 0; i < n; i++) {
		struct seg_xch_begin b = { .start_ns = now_wall_ns(), .method = "GET", .method_len = 3,
					   .host = "a.example", .host_len = 9,
					   .url = "http://a.example/x", .url_len = 18,
					   .client = { .family = 4, .port = 40000,
						       .addr = { 10, 0, 0, host } },
					   .client_name = name, .client_name_len = name ? strlen(name) : 0,
					   .number = i + 1 };
		struct seg_xch *x;
		uint64_t id;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
		struct seg_xch_end e = { .status = 200 };
		REQUIRE_RC(seg_xch_end(w, x, &e));
		if (ids)
			ids[i] = id;
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The clients as one sorted, comma-joined line. */
static void joined(const struct rc_clients *cl, char *out, size_t cap)
{
	char (*v)[RC_CLIENT_TEXT_MAX] = malloc(RC_CLIENTS_MAX * RC_CLIENT_TEXT_MAX);
	REQUIRE(v);
	memcpy(v, cl->addr, cl->n * RC_CLIENT_TEXT_MAX);
	qsort(v, cl->n, RC_CLIENT_TEXT_MAX, str_cmp);
	out[0] = '\0';
	for (size_t i = 0; i < cl->n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", v[i]);
	free(v);
}

static void expect(struct rc_clients_cache *c, const char *dir, const char *want)
{
	struct rc_clients *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char ja[1024], jb[1024];
	REQUIRE(a && b);
	CHECK_RC(rc_clients_cache_get(c, dir, a));
	CHECK_RC(rc_session_clients(dir, b));
	joined(a, ja, sizeof(ja));
	joined(b, jb, sizeof(jb));
	CHECK_STR(ja, want);
	CHECK_STR(jb, want);   /* the full scan agrees */
	free(a);
	free(b);
}

/* One session grown step by step: each block checks the cache against the
 * state the blocks before it left (new clients, deletions, more
 * sessions than the cache holds, a session deleted under it), so the
 * steps stay in one function, in order. */
int main(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "clients");
	struct rc_clients_cache *c;
	REQUIRE_RC(rc_clients_cache_create(&c));
	uint64_t *gone = calloc(PER_CLIENT, sizeof(*gone));
	REQUIRE(gone);
	write_client(dir, 0, 1, NULL, PER_CLIENT, NULL);
	write_client(dir, 1, 2, NULL, PER_CLIENT, gone);
	write_client(dir, 0, 3, "pixel-7", PER_CLIENT, NULL);
	expect(c, dir, "10.0.0.1,10.0.0.2,pixel-7");

	/* a later client: the next request lists it */
	write_client(dir, 1, 9, NULL, 5, NULL);
	expect(c, dir, "10.0.0.1,10.0.0.2,10.0.0.9,pixel-7");

	/* every exchange of 10.0.0.2 deleted: it leaves the list */
	REQUIRE_RC(seg_tombstone(dir, gone, PER_CLIENT, now_wall_ns()));
	expect(c, dir, "10.0.0.1,10.0.0.9,pixel-7");
	/* one of them only: still listed (its other exchanges remain) */
	write_client(dir, 1, 2, NULL, 2, gone);
	REQUIRE_RC(seg_tombstone(dir, gone, 1, now_wall_ns()));
	expect(c, dir, "10.0.0.1,10.0.0.2,10.0.0.9,pixel-7");

	/* a cached session answers in well under a millisecond per call */
	struct timespec t0, t1;
	struct rc_clients *cl = calloc(1, sizeof(*cl));
	REQUIRE(cl);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100; i++)
		CHECK_RC(rc_clients_cache_get(c, dir, cl));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / 100;
	fprintf(stderr, "cached: %.3f ms per call\n", ms);
	CHECK(ms < 5.0);
	free(cl);
	cl = NULL;

	/* more sessions than the cache holds: each still right */
	char more[RC_CLIENTS_CACHED + 2][64];
	for (unsigned i = 0; i < RC_CLIENTS_CACHED + 2; i++) {
		make_tmpdir(more[i], sizeof(more[i]), "clientsn");
		write_client(more[i], 0, (uint8_t)(100 + i), NULL, 3, NULL);
	}
	for (int round = 0; round < 2; round++)
		for (unsigned i = 0; i < RC_CLIENTS_CACHED + 2; i++) {
			char want[32];
			snprintf(want, sizeof(want), "10.0.0.%u", 100 + i);
			expect(c, more[i], want);
		}
	expect(c, dir, "10.0.0.1,10.0.0.2,10.0.0.9,pixel-7");
	/* a deleted session's entry goes at the next request: its tail held
	 * the index open (the space of a deleted session must come back) */
	char idx[128];
	snprintf(idx, sizeof(idx), "%s/w000-00000001.idx", more[RC_CLIENTS_CACHED + 1]);
	struct stat sb;
	REQUIRE(stat(idx, &sb) == 0);
	char link[64], target[256];
	bool held = false;
	for (unsigned i = 0; i < RC_CLIENTS_CACHED + 2; i++)
		rm_rf(more[i]);
	cl = calloc(1, sizeof(*cl));
	REQUIRE(cl);
	REQUIRE_RC(rc_clients_cache_get(c, dir, cl));
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		held |= strstr(target, "clientsn") != NULL;
	}
	CHECK(!held);
	free(cl);
	/* the session deleted under the cache: an error or nothing, no crash */
	rm_rf(dir);
	struct rc_clients *after = calloc(1, sizeof(*after));
	REQUIRE(after);
	int rc = rc_clients_cache_get(c, dir, after);
	CHECK(rc < 0 || after->n <= 4);
	free(after);
	free(gone);
	rc_clients_cache_free(c);
	return check_done("clients");
}
