/* tests/persist/idx2_test.c: the two index layouts (segment.c): RCAPIDX2
 * (65-byte entries, what writers write) and RCAPIDX1 (96 bytes, sessions
 * before issue 16, written here by the writer's idx_version = 1: the old
 * encoder and the old .str layout, host stored beside the URL).
 *
 * The same exchanges go into one session of each layout, on one worker
 * with small segments so that some exchanges span a rotation: IPv4 and
 * IPv6 clients, URLs whose authority is the host and URLs where it is
 * not (relative, CONNECT host:port, another case), durations and sizes
 * past 48 bits, errors and flags. Checked on each: the file headers say
 * their layout; the table, the scan, the tail, seg_find and
 * seg_find_number give every entry field as written (RCAPIDX2: the
 * duration saturated at 2^48 - 1, sizes at 2^40 - 1, a status at 1023,
 * an IPv6 client's
 * address from the .str), opening gives the exact timings and sizes, fsck finds nothing;
 * recovery after a crash (the index cut mid-entry, the strings cut) and
 * fsck --repair of files removed write them back byte for byte, each in
 * its own layout.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "persist/reader-int.h"
#include "persist/scan.h"
#include "persist/tail.h"

#define SEED 29
#define N 700
#define OPEN_AT_ONCE 3  /* exchanges kept open while others begin */
#define SAT48 ((1ull << 48) - 1)
#define SAT40 ((1ull << 40) - 1)

static char dirs[2][64]; /* [0] RCAPIDX1, [1] RCAPIDX2 */

/* Exchange k as written: the generator's, made awkward by k. */
struct spec {
	struct gen_x g;
	char name[32];
	uint32_t number;
	struct seg_wire wire;
	uint32_t end_flags;
	uint8_t error;
};

static void spec_of(uint64_t k, struct spec *s)
{
	memset(s, 0, sizeof(*s));
	struct gen_x *g = &s->g;
	gen_exchange(SEED, k, 0, g);
	s->number = (uint32_t)k + 1;
	if (k % 3 == 0)
		snprintf(s->name, sizeof(s->name), "phone-%llu", (unsigned long long)(k % 11));
	s->wire = (struct seg_wire){ 300 + k, k % 5 ? 0 : 77, 200, 100 + k };
	s->error = g->error;
	switch (k % 7) {
	case 1: /* relative: no authority */
		snprintf(g->url, sizeof(g->url), "/rel/%llu?x=1", (unsigned long long)k);
		break;
	case 2: /* CONNECT host:port */
		snprintf(g->method, sizeof(g->method), "CONNECT");
		snprintf(g->host, sizeof(g->host), "tunnel%llu.test:443", (unsigned long long)k);
		snprintf(g->url, sizeof(g->url), "%s", g->host);
		s->end_flags = SEG_F_TUNNEL | (uint32_t)SEG_TUN_PASSTHROUGH << SEG_F_TUN_SHIFT;
		break;
	case 3: /* the authority in another case */
		snprintf(g->url, sizeof(g->url), "http://API.Example.com/%llu", (unsigned long long)k);
		snprintf(g->host, sizeof(g->host), "api.example.com");
		break;
	case 4: /* past 48 and 40 bits and a status past 10: saturated in RCAPIDX2 */
		g->status = (uint16_t)(1024 + k);
		g->t.total_ns = (1ull << 50) + k;
		s->wire.req_body = 1ull << 49;
		s->wire.resp_body = 3ull << 40;
		break;
	case 6: /* just below: kept */
		g->t.total_ns = SAT48 - 1;
		s->wire.req_body = SAT40 - 1 - s->wire.req_head;
		break;
	case 5:
		s->error = SEG_E_TLS;
		s->end_flags = SEG_F_H2 | SEG_F_RESP_TRUNC;
		break;
	default:
		break;
	}
}

static struct seg_xch_begin begin_of(const struct spec *s)
{
	const struct gen_x *g = &s->g;
	return (struct seg_xch_begin){
		.start_ns = g->start_ns, .scheme = g->scheme, .http_version = 11, .port = g->port,
		.flags = g->flags, .method = g->method, .method_len = strlen(g->method),
		.host = g->host, .host_len = strlen(g->host), .url = g->url,
		.url_len = strlen(g->url), .req_head = g->req_head, .req_head_len = g->req_head_len,
		.client = g->client, .client_name = s->name, .client_name_len = strlen(s->name),
		.number = s->number,
	};
}

static void write_session(const char *dir, uint8_t ver)
{
	struct seg_writer_cfg c = { .session_dir = dir, .frame_bytes = SEG_FRAME_BYTES_MIN,
				    .rotate_bytes = 16 * 1024, .idx_version = ver };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w));
	struct seg_xch *open[OPEN_AT_ONCE] = { 0 };
	for (uint64_t k = 0; k < N + OPEN_AT_ONCE; k++) {
		struct seg_xch **slot = &open[k % OPEN_AT_ONCE];
		if (*slot) { /* end exchange k - OPEN_AT_ONCE */
			struct spec s;
			spec_of(k - OPEN_AT_ONCE, &s);
			struct seg_xch_end e = { .status = s.g.status, .type = s.g.type,
						 .error = s.error, .flags = s.end_flags, .t = s.g.t,
						 .wire = s.wire };
			REQUIRE_RC(seg_xch_end(w, *slot, &e));
			*slot = NULL;
		}
		if (k < N) {
			struct spec s;
			spec_of(k, &s);
			struct seg_xch_begin b = begin_of(&s);
			REQUIRE_RC(seg_xch_begin(w, &b, slot, NULL));
		}
		if (k % 16 == 15)
			REQUIRE_RC(seg_writer_flush_sync(w)); /* frame buffers are few */
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
}

/* The exchange an id stands for (the writer numbers from 1 in begin order). */
static uint64_t k_of(uint64_t id) { return (id & ((1ull << SEG_ID_WORKER_SHIFT) - 1)) - 1; }

static uint64_t sat(uint64_t v, uint64_t max, bool v2) { return v2 && v > max ? max : v; }

/* Every field of a listed row against what was written. */
static void check_row(const struct seg_qrow *r, bool v2)
{
	uint64_t k = k_of(r->e.id);
	REQUIRE(k < N);
	struct spec s;
	spec_of(k, &s);
	const struct gen_x *g = &s.g;
	const struct seg_entry *e = &r->e;
	CHECK_EQ(e->start_ns, g->start_ns);
	CHECK_EQ(e->duration_ns, sat(g->t.total_ns, SAT48, v2));
	CHECK_EQ(e->req_size, sat(s.wire.req_head + s.wire.req_body, SAT40, v2));
	CHECK_EQ(e->resp_size, sat(s.wire.resp_head + s.wire.resp_body, SAT40, v2));
	CHECK_EQ(e->status, sat(g->status, 1023, v2));
	CHECK_EQ(e->type, g->type);
	CHECK_EQ(e->error, s.error);
	CHECK_EQ(e->method, seg_method_parse(g->method, strlen(g->method)));
	uint32_t want = g->flags | s.end_flags | (s.error ? SEG_F_ERROR : 0) | SEG_F_STR_EXT;
	CHECK_EQ(e->flags & ~SEG_F_HOST_IN_URL, want);
	size_t off, alen, hl = strlen(g->host);
	bool in_url = seg_url_authority(g->url, strlen(g->url), &off, &alen) && alen >= hl &&
		      (alen == hl || g->url[off + hl] == ':') && !memcmp(g->url + off, g->host, hl);
	CHECK_EQ(!!(e->flags & SEG_F_HOST_IN_URL), v2 && in_url);
	CHECK_EQ(e->client.family, g->client.family);
	CHECK_EQ(e->client.port, g->client.port);
	CHECK(memcmp(e->client.addr, g->client.addr, 16) == 0);
	CHECK_EQ(e->host_len, strlen(g->host));
	CHECK_EQ(e->url_len, strlen(g->url));
	CHECK(r->host && !memcmp(r->host, g->host, e->host_len));
	CHECK(r->url && !memcmp(r->url, g->url, e->url_len));
	CHECK_EQ(r->number, s.number);
	CHECK_EQ(r->client_name_len, strlen(s.name));
	CHECK(!memcmp(r->client_name, s.name, r->client_name_len));
}

struct seen {
	bool v2;
	size_t n, spans;
	uint64_t ids[N];
};

static int seen_row(void *ctx, const struct seg_qrow *r)
{
	struct seen *s = ctx;
	check_row(r, s->v2);
	s->spans += r->e.span > 0;
	if (s->n < N)
		s->ids[s->n] = r->e.id;
	s->n++;
	return 0;
}

static void check_headers(const char *dir, bool v2)
{
	char p[128];
	uint8_t h[SEG_FILE_HDR_SIZE];
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, 1, SEG_K_IDX));
	int fd = open(p, O_RDONLY);
	REQUIRE(fd >= 0 && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	CHECK(!memcmp(h, v2 ? "RCAPIDX2" : "RCAPIDX1", 8));
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, 1, SEG_K_SEG));
	fd = open(p, O_RDONLY);
	REQUIRE(fd >= 0 && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	CHECK_EQ(h[10], v2 ? 2 : 0); /* V1 writers left it zero */
	struct seg_idx ix;
	REQUIRE_RC(seg_idx_open(dir, 0, 1, &ix));
	CHECK_EQ(ix.stride, v2 ? 65u : 96u);
	CHECK_EQ((ix.size - SEG_FILE_HDR_SIZE) % ix.stride, 0);
	CHECK(!ix.bad_header);
	seg_idx_close(&ix);
}

static void check_readers(const char *dir, bool v2)
{
	check_headers(dir, v2);
	struct seg_table t;
	struct seg_report rep = { .strict = true };
	REQUIRE_RC(seg_table_load(dir, &t, &rep));
	CHECK(!seg_report_damaged(&rep));
	CHECK_EQ(t.n, N);
	struct seen s = { .v2 = v2 };
	for (size_t i = 0; i < t.n; i++)
		seen_row(&s, &t.rows[i]);
	CHECK(s.spans > 0); /* some exchanges span a rotation */
	/* opening: exact timings and sizes from the END record */
	for (size_t i = 0; i < t.n; i++) {
		uint64_t k = k_of(t.rows[i].e.id);
		if (k % 7 != 4 && k % 7 != 6 && k % 50 != 0)
			continue;
		struct spec sp;
		spec_of(k, &sp);
		struct seg_exchange x;
		REQUIRE_RC(seg_open_entry(dir, &t.rows[i].e, NULL, &x));
		CHECK_EQ(x.t.total_ns, sp.g.t.total_ns);
		CHECK_EQ(x.status, sp.g.status);
		CHECK_EQ(x.wire.req_body, sp.wire.req_body);
		CHECK_EQ(x.wire.resp_body, sp.wire.resp_body);
		CHECK_STR(x.host, sp.g.host);
		CHECK_STR(x.url, sp.g.url);
		CHECK(memcmp(x.client.addr, sp.g.client.addr, 16) == 0);
		seg_exchange_free(&x);
		struct seg_entry e;
		REQUIRE_RC(seg_find(dir, t.rows[i].e.id, &e));
		CHECK(e.segno == t.rows[i].e.segno && e.last_frame_off == t.rows[i].e.last_frame_off);
		CHECK_EQ(e.duration_ns, t.rows[i].e.duration_ns);
		REQUIRE_RC(seg_find_number(dir, sp.number, &e));
		CHECK_EQ(e.id, t.rows[i].e.id);
		CHECK(memcmp(e.client.addr, sp.g.client.addr, 16) == 0);
	}
	seg_table_free(&t);

	struct seg_scan *sc;
	struct seg_scan_cfg cfg = { 0 };
	REQUIRE_RC(seg_scan_open(dir, &cfg, &sc, NULL));
	struct seen s2 = { .v2 = v2 };
	struct seg_qrow r;
	int rc;
	while ((rc = seg_scan_next(sc, &r)) == 1)
		seen_row(&s2, &r);
	CHECK_EQ(rc, 0);
	CHECK_EQ(s2.n, N);
	seg_scan_close(sc);

	struct seg_tail *tl;
	REQUIRE_RC(seg_tail_open(dir, NULL, &tl));
	struct seen s3 = { .v2 = v2 };
	for (int i = 0; i < 100 && s3.n < N; i++)
		REQUIRE_RC(seg_tail_poll(tl, 0, seen_row, &s3, NULL));
	CHECK_EQ(s3.n, N);
	seg_tail_close(tl);

	struct seg_report fr = { .strict = true };
	REQUIRE_RC(seg_fsck(dir, false, &fr));
	CHECK(!seg_report_damaged(&fr));
	CHECK_EQ(fr.exchanges, N);
}


/* Last segment of the session (one worker). */
static uint32_t last_segno(const char *dir)
{
	struct seg_list_item *items;
	size_t n;
	REQUIRE_RC(seg_list_segments(dir, &items, &n));
	REQUIRE(n >= 3);
	uint32_t s = items[n - 1].segno;
	free(items);
	return s;
}

/* Every .idx and .str of segments 1..nseg equal what was kept. */
static void check_same(const char *dir, uint32_t nseg, uint8_t **kept, size_t *lens)
{
	for (uint32_t s = 1; s <= nseg; s++)
		for (int k = 0; k < 2; k++) {
			char p[128];
			size_t l, i = (s - 1) * 2 + (size_t)k;
			REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, s, k ? SEG_K_STR : SEG_K_IDX));
			uint8_t *b = gen_slurp(p, &l);
			CHECK_EQ(l, lens[i]);
			CHECK(l == lens[i] && !memcmp(b, kept[i], l));
			free(b);
		}
}

static void check_rebuilds(const char *dir, uint8_t ver)
{
	uint32_t nseg = last_segno(dir);
	uint8_t **kept = calloc(2 * nseg, sizeof(*kept));
	size_t *lens = calloc(2 * nseg, sizeof(*lens));
	REQUIRE(kept && lens);
	char p[128];
	for (uint32_t s = 1; s <= nseg; s++)
		for (int k = 0; k < 2; k++) {
			REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, s, k ? SEG_K_STR : SEG_K_IDX));
			kept[(s - 1) * 2 + (size_t)k] = gen_slurp(p, &lens[(s - 1) * 2 + (size_t)k]);
		}
	/* a crash: the last index lost its last entries and half of one, the
	 * strings their tail */
	size_t li = (nseg - 1) * 2;
	uint32_t st = seg_entry_size(ver);
	REQUIRE(lens[li] > SEG_FILE_HDR_SIZE + 4 * st);
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, nseg, SEG_K_IDX));
	REQUIRE(truncate(p, (off_t)(lens[li] - 3 * st - st / 2)) == 0);
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, nseg, SEG_K_STR));
	REQUIRE(truncate(p, (off_t)(lens[li + 1] - 20)) == 0);
	struct seg_report rr = { 0 };
	REQUIRE_RC(seg_recover(dir, &rr));
	check_same(dir, nseg, kept, lens);
	/* every index and string file gone: fsck --repair writes them again */
	for (uint32_t s = 1; s <= nseg; s++)
		for (int k = SEG_K_IDX; k <= SEG_K_STR; k++) {
			REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, s, (enum seg_kind)k));
			REQUIRE(unlink(p) == 0);
		}
	struct seg_report fr = { .strict = true };
	REQUIRE_RC(seg_fsck(dir, true, &fr));
	check_same(dir, nseg, kept, lens);
	/* a damaged index header: the layout is told from the first entry */
	REQUIRE_RC(seg_path(p, sizeof(p), dir, 0, 1, SEG_K_IDX));
	int fd = open(p, O_RDWR);
	REQUIRE(fd >= 0 && pwrite(fd, "X", 1, 3) == 1);
	close(fd);
	struct seg_idx ix;
	REQUIRE_RC(seg_idx_open(dir, 0, 1, &ix));
	CHECK(ix.bad_header);
	CHECK_EQ(ix.ver, ver);
	seg_idx_close(&ix);
	struct seg_report dr = { .strict = true };
	REQUIRE_RC(seg_fsck(dir, true, &dr));
	CHECK(seg_report_damaged(&dr));
	check_same(dir, nseg, kept, lens);
	for (size_t i = 0; i < 2 * nseg; i++)
		free(kept[i]);
	free(kept);
	free(lens);
}

int main(void)
{
	for (int v = 0; v < 2; v++) {
		make_tmpdir(dirs[v], sizeof(dirs[v]), v ? "idx2" : "idx1");
		write_session(dirs[v], v ? SEG_IDX_V2 : SEG_IDX_V1);
		check_readers(dirs[v], v == 1);
		check_rebuilds(dirs[v], v ? SEG_IDX_V2 : SEG_IDX_V1);
		check_readers(dirs[v], v == 1);
	}
	/* what the new layout saves: the index, and one host per absolute URL */
	struct stat a, b;
	char p[2][128];
	for (int v = 0; v < 2; v++)
		REQUIRE_RC(seg_path(p[v], sizeof(p[v]), dirs[v], 0, 1, SEG_K_STR));
	REQUIRE(stat(p[0], &a) == 0 && stat(p[1], &b) == 0);
	CHECK(b.st_size < a.st_size);
	for (int v = 0; v < 2; v++)
		rm_rf(dirs[v]);
	return check_done("persist_idx2");
}
