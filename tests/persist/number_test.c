/* tests/persist/number_test.c: the .str extension (SEG_F_STR_EXT): each
 * exchange's session number and client name beside its host and URL.
 * Writes N exchanges on two workers (numbers 1..N in start order, every
 * third one without a client name, every fifth without a number; those
 * with neither keep the old layout), then checks: the table has every
 * number and name; opening an exchange gives its number; seg_find_number
 * finds each (and no other); a rebuild of every index from the segments
 * alone gives the same rows; a crash that loses the index tail recovers
 * them too; a flipped byte in a name makes that row's strings bad (the
 * checksum covers the extension) and nothing else.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"

#define SEED 17
#define N 6000 /* 3000 entries per index file: more than the search window */

static char dir[64];

static uint32_t number_of(uint64_t k) { return k % 5 == 4 ? 0 : (uint32_t)k + 1; }

static void name_of(uint64_t k, char *buf, size_t cap)
{
	if (k % 3 == 2 || k == 9)
		buf[0] = '\0';
	else
		snprintf(buf, cap, "dev-%llu", (unsigned long long)(k % 7));
}

static void write_all(void)
{
	struct seg_writer *w[2];
	for (uint16_t i = 0; i < 2; i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .worker = i, .frame_bytes = 4096 };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w[i]));
	}
	for (uint64_t k = 0; k < N; k++) {
		struct gen_x g;
		char name[32];
		gen_exchange(SEED, k, 0, &g);
		name_of(k, name, sizeof(name));
		struct seg_xch_begin b = {
			.start_ns = g.start_ns, .scheme = g.scheme, .http_version = 11,
			.port = g.port, .method = g.method, .method_len = strlen(g.method),
			.host = g.host, .host_len = strlen(g.host), .url = g.url,
			.url_len = strlen(g.url), .req_head = g.req_head,
			.req_head_len = g.req_head_len, .client = g.client, .client_name = name,
			.client_name_len = strlen(name), .number = k == 9 ? 0 : number_of(k), /* 9: neither, the old layout */
		};
		struct seg_xch *x;
		struct seg_writer *ww = w[k % 2];
		REQUIRE_RC(seg_xch_begin(ww, &b, &x, NULL));
		struct seg_xch_end e = { .status = g.status, .t = g.t };
		REQUIRE_RC(seg_xch_end(ww, x, &e));
		for (int i = 0; i < 2 && k % 64 == 63; i++)   /* frame buffers are few: drain */
			REQUIRE_RC(seg_writer_flush_sync(w[i]));
	}
	for (int i = 0; i < 2; i++) {
		REQUIRE_RC(seg_writer_flush_sync(w[i]));
		seg_writer_close(w[i]);
	}
}

/* Every row's number and name as written; returns rows with bad strings
 * (*healed, when given: rows whose text was read back from the frames). */
static uint64_t check_table_healed(size_t want_rows, uint64_t *healed)
{
	struct seg_table t = {0};
	struct seg_report rep = { .strict = true }; /* fresh files are not "live" here */
	REQUIRE_RC(seg_table_load(dir, &t, &rep));
	CHECK(t.n == want_rows);
	for (size_t i = 0; i < t.n; i++) {
		const struct seg_qrow *r = &t.rows[i];
		if (r->e.host_len == 0)
			continue; /* strings damaged: counted in rep */
		char url[600];
		snprintf(url, sizeof(url), "%.*s", (int)r->e.url_len, r->url);
		uint64_t k = strtoull(strrchr(url, '=') + 1, NULL, 16);
		char name[32];
		name_of(k, name, sizeof(name));
		REQUIRE(r->number == (k == 9 ? 0 : number_of(k)));
		CHECK(r->client_name_len == strlen(name));
		CHECK(memcmp(r->client_name, name, r->client_name_len) == 0);
		/* an IPv6 client's address rides in the extension (RCAPIDX2) */
		REQUIRE(((r->e.flags & SEG_F_STR_EXT) != 0) ==
			(r->number != 0 || name[0] != '\0' || r->e.client.family == 6));
		struct gen_x g;
		gen_exchange(SEED, k, 0, &g);
		CHECK(r->e.client.family == g.client.family && r->e.client.port == g.client.port);
		CHECK(memcmp(r->e.client.addr, g.client.addr, 16) == 0);
	}
	seg_table_free(&t);
	if (healed)
		*healed = rep.strings_recovered;
	return rep.strings_bad;
}

static uint64_t check_table(size_t want_rows)
{
	return check_table_healed(want_rows, NULL);
}

static void check_open(void)
{
	struct seg_table t = {0};
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	for (size_t i = 0; i < t.n; i++) {
		struct seg_open_opts o = { .body_max = { 0, 0 } };
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &t.rows[i].e, &o, &x));
		CHECK(x.number == t.rows[i].number);
		seg_exchange_free(&x);
	}
	seg_table_free(&t);
}

/* seg_find_number finds every number, and nothing for numbers not given. */
static void check_find(void)
{
	for (uint64_t k = 0; k < N; k++) {
		uint32_t no = k == 9 ? 0 : number_of(k);
		struct seg_entry e;
		if (no == 0)
			continue;
		REQUIRE_RC(seg_find_number(dir, no, &e));
		CHECK(e.worker == k % 2);
		struct seg_open_opts o = { .body_max = { 0, 0 } };
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &e, &o, &x));
		CHECK(x.number == no);
		seg_exchange_free(&x);
	}
	struct seg_entry e;
	CHECK(seg_find_number(dir, 5, &e) == -ENOENT); /* k = 4 has none */
	CHECK(seg_find_number(dir, N + 1, &e) == -ENOENT);
	CHECK(seg_find_number(dir, 0, &e) == -ENOENT);
}

static void rebuild_all(void)
{
	for (uint16_t i = 0; i < 2; i++) {
		struct seg_report rep = {0};
		REQUIRE_RC(seg_index_rebuild(dir, i, 0, &rep));
	}
}

/* Cuts worker 0's .str and .idx to their headers (a crash before any of
 * their writes landed): recovery rebuilds both from the frames. */
static void crash_and_recover(void)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/w000-00000001.idx", dir);
	CHECK(truncate(p, SEG_FILE_HDR_SIZE) == 0);
	snprintf(p, sizeof(p), "%s/w000-00000001.str", dir);
	CHECK(truncate(p, SEG_FILE_HDR_SIZE) == 0);
	struct seg_report rep = {0};
	REQUIRE_RC(seg_recover(dir, &rep));
}

/* Flips the last byte of the first client name in worker 1's .str. */
static void damage_one_name(void)
{
	struct seg_table t = {0};
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	const struct seg_qrow *r = NULL;
	for (size_t i = 0; i < t.n && r == NULL; i++)
		if (t.rows[i].e.worker == 1 && t.rows[i].client_name_len > 0)
			r = &t.rows[i];
	REQUIRE(r != NULL);
	const char *text = (r->e.flags & SEG_F_HOST_IN_URL) ? r->url : r->host; /* its first byte */
	off_t off = (off_t)r->e.str_off + (r->client_name - text) + r->client_name_len - 1;
	seg_table_free(&t);
	char p[128];
	snprintf(p, sizeof(p), "%s/w001-00000001.str", dir);
	int fd = open(p, O_RDWR);
	REQUIRE(fd >= 0);
	uint8_t c;
	CHECK(pread(fd, &c, 1, off) == 1);
	c ^= 0x20;
	CHECK(pwrite(fd, &c, 1, off) == 1);
	close(fd);
}

int main(void)
{
	make_tmpdir(dir, sizeof(dir), "number");
	write_all();
	CHECK(check_table(N) == 0);
	check_open();
	check_find();
	rebuild_all();
	CHECK(check_table(N) == 0);
	crash_and_recover();
	CHECK(check_table(N) == 0);
	/* a damaged name is read back from its BEGIN record: nothing is lost,
	 * and the load says it healed one row */
	damage_one_name();
	uint64_t healed = 0;
	CHECK(check_table_healed(N, &healed) == 0);
	CHECK(healed == 1);
	rm_rf(dir);
	printf("number: %d exchanges, numbers and names through table, open, rebuild, "
	       "recovery and damage\n", N);
	return check_done("persist_number");
}
