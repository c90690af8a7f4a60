/* tests/tools/views/export_test.c: the pure parts of export and import:
 *   - id lists ("3,7,10-20"): ranges merged, membership, errors named;
 *   - endpoint templating: numbers, UUIDs, long hex become ":id", the rest
 *     stays; group and format names; export file names;
 *   - multipart parts, UTF-8 validity, numbers without printf;
 *   - persist's open cache (seg_open_opts.cache) used by export: every
 *     exchange of an interleaved session (bodies across frames and
 *     segments) opened through the cache, in order and in random order,
 *     equals the same exchange opened without it;
 *   - the HAR reader: entries across read boundaries (fed through a pipe
 *     in 7-byte pieces and as one file of several MiB) come out whole and
 *     in order; malformed files name the JSON path that is wrong.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>

#include "tests/persist/gen.h"
#include "persist/query.h"
#include "tools/views/export-int.h"
#include "tools/views/export.h"
#include "tools/views/import.h"
#include "tools/views/listing.h"

static void test_ids(void)
{
	struct rc_ids ids;
	char err[256];
	REQUIRE_RC(rc_ids_parse("3,7,10-20", &ids, err, sizeof(err)));
	CHECK(ids.n == 3);
	CHECK(rc_ids_has(&ids, 3) && rc_ids_has(&ids, 7) && rc_ids_has(&ids, 10));
	CHECK(rc_ids_has(&ids, 20) && !rc_ids_has(&ids, 21) && !rc_ids_has(&ids, 4));
	rc_ids_free(&ids);
	REQUIRE_RC(rc_ids_parse("10,1-5,3-8,9", &ids, err, sizeof(err)));
	CHECK(ids.n == 1 && ids.r[0][0] == 1 && ids.r[0][1] == 10);
	rc_ids_free(&ids);
	const char *bad[] = { "7-3", "a", "", "1,,2", "-5", "1-", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(rc_ids_parse(bad[i], &ids, err, sizeof(err)) == -EINVAL);
		CHECK(strncmp(err, "--ids: '", 8) == 0);
	}
	CHECK(rc_ids_parse("7-3", &ids, err, sizeof(err)) == -EINVAL);
	REQUIRE(strstr(err, "'7-3' ends before it starts") != NULL);
}

static void tpl(const char *in, const char *want)
{
	char out[256];
	size_t n = rc_path_template(in, strlen(in), out, sizeof(out));
	if (strcmp(out, want) != 0 || n != strlen(want)) {
		fprintf(stderr, "template '%s' = '%s', want '%s'\n", in, out, want);
		exit(1);
	}
}

static void test_names(void)
{
	tpl("/users/17", "/users/:id");
	tpl("/users/17/orders/42", "/users/:id/orders/:id");
	tpl("/items/3f2b8c1e-9a4d-4c7b-8e21-0a1b2c3d4e5f", "/items/:id");
	tpl("/blobs/deadbeefcafebabe0123", "/blobs/:id");
	tpl("/blobs/deadbeefcafebabe", "/blobs/deadbeefcafebabe"); /* hex, no digit: a word */
	tpl("/v2/users", "/v2/users");
	tpl("/a/123/", "/a/:id/");
	tpl("/", "/");
	tpl("", "/");
	unsigned g;
	CHECK(rc_group_parse("domain,endpoint", &g) == 0 && g == (RC_GROUP_DOMAIN | RC_GROUP_ENDPOINT));
	CHECK(rc_group_parse("endpoint", &g) == 0 && g == RC_GROUP_ENDPOINT);
	CHECK(rc_group_parse("none", &g) == 0 && g == 0);
	CHECK(rc_group_parse("host", &g) == -EINVAL);
	CHECK(rc_format_parse("har") == RC_FMT_HAR && rc_format_parse("xml") == -EINVAL);
	char fn[128];
	rc_export_filename("my session/x", RC_FMT_HAR, fn, sizeof(fn));
	CHECK(strcmp(fn, "my_session_x.har") == 0);
	rc_export_filename("api", RC_FMT_POSTMAN, fn, sizeof(fn));
	CHECK(strcmp(fn, "api.postman_collection.json") == 0);
}

static void test_params(void)
{
	struct rc_export_opts o = {0};
	struct rc_ids ids = {0};
	struct seg_query q = {0};
	char err[256];
	CHECK(rc_export_param(&o, &ids, &q, "format", "har", err, sizeof(err)) == 0);
	CHECK(o.format == RC_FMT_HAR);
	CHECK(rc_export_param(&o, &ids, &q, "group", "endpoint", err, sizeof(err)) == 0);
	CHECK(o.group == RC_GROUP_ENDPOINT);
	CHECK(rc_export_param(&o, &ids, &q, "ids", "5,1-3", err, sizeof(err)) == 0);
	CHECK(ids.n == 2 && rc_ids_has(&ids, 2) && !rc_ids_has(&ids, 4));
	CHECK(rc_export_param(&o, &ids, &q, "with_tests", "", err, sizeof(err)) == 0 && o.with_tests);
	CHECK(rc_export_param(&o, &ids, &q, "base_url_variables", "false", err, sizeof(err)) == 0);
	CHECK(!o.base_url_variables);
	CHECK(rc_export_param(&o, &ids, &q, "sort", "status", err, sizeof(err)) == 0);
	CHECK(q.sort == SEG_SORT_STATUS);
	CHECK(rc_export_param(&o, &ids, &q, "search", "users", err, sizeof(err)) == 0);
	CHECK(strcmp(q.search, "users") == 0);
	CHECK(rc_export_param(&o, &ids, &q, "format", "xml", err, sizeof(err)) == -EINVAL);
	REQUIRE(strstr(err, "format 'xml'") != NULL);
	CHECK(rc_export_param(&o, &ids, &q, "with_tests", "maybe", err, sizeof(err)) == -EINVAL);
	CHECK(rc_export_param(&o, &ids, &q, "colour", "red", err, sizeof(err)) == -ENOENT);
	rc_ids_free(&ids);
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	CHECK(rc_sink_fd_write(&fds[1], "hello", 5) == 0);
	char got[8] = "";
	REQUIRE(read(fds[0], got, sizeof(got)) == 5 && memcmp(got, "hello", 5) == 0);
	close(fds[0]);
	CHECK(rc_sink_fd_write(&fds[1], "x", 1) == -EPIPE);
	close(fds[1]);
}

static void test_pieces(void)
{
	static const char ct[] = "multipart/form-data; boundary=XyZ";
	static const char body[] =
		"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
		"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
		"Content-Type: text/plain\r\n\r\nline\r\n--XyZ--\r\n";
	size_t pos = 0;
	struct rc_part p;
	CHECK(rc_multipart_next(ct, strlen(ct), (const uint8_t *)body, strlen(body), &pos, &p) == 1);
	CHECK(p.name_len == 5 && memcmp(p.name, "title", 5) == 0 && p.filename == NULL);
	CHECK(p.data_len == 7 && memcmp(p.data, "holiday", 7) == 0);
	CHECK(rc_multipart_next(ct, strlen(ct), (const uint8_t *)body, strlen(body), &pos, &p) == 1);
	CHECK(p.filename_len == 5 && memcmp(p.filename, "a.txt", 5) == 0);
	CHECK(p.ctype_len == 10 && p.data_len == 4);
	CHECK(rc_multipart_next(ct, strlen(ct), (const uint8_t *)body, strlen(body), &pos, &p) == 0);
	CHECK(rc_utf8_valid((const uint8_t *)"caf\xc3\xa9", 5));
	CHECK(!rc_utf8_valid((const uint8_t *)"caf\xc3", 4));
	CHECK(!rc_utf8_valid((const uint8_t *)"a\0b", 3));
	CHECK(!rc_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
	struct rc_buf b = {0};
	rc_buf_ms(&b, 12345);
	rc_buf_puts(&b, " ");
	rc_buf_ms(&b, -1000);
	rc_buf_puts(&b, " ");
	rc_buf_ms(&b, 7);
	rc_buf_puts(&b, " ");
	rc_buf_i64(&b, -42);
	rc_buf_puts(&b, " ");
	rc_buf_i64(&b, 0);
	CHECK(strcmp(b.p, "12.345 -1.000 0.007 -42 0") == 0);
	rc_buf_free(&b);
	struct rc_url u;
	const char *url = "https://[::1]:8443/a/b?x=1#f";
	rc_url_split(url, strlen(url), &u);
	CHECK(u.host_len == 5 && u.port_len == 4 && u.path_len == 4 && u.query_len == 3);
	CHECK(u.origin_len == strlen("https://[::1]:8443"));
}

/* ---- the open cache ---- */

static void same_exchange(const struct seg_exchange *a, const struct seg_exchange *b)
{
	CHECK(a->id == b->id && a->start_ns == b->start_ns && a->status == b->status);
	CHECK(strcmp(a->url, b->url) == 0 && a->req_head_len == b->req_head_len);
	CHECK(memcmp(a->req_head, b->req_head, a->req_head_len) == 0);
	CHECK(a->resp_head_len == b->resp_head_len);
	for (int d = 0; d < 2; d++) {
		CHECK(a->body_len[d] == b->body_len[d]);
		REQUIRE(a->body_len[d] == 0 || memcmp(a->body[d], b->body[d], a->body_len[d]) == 0);
	}
}

static void test_cache(void)
{
	char dir[256];
	make_tmpdir(dir, sizeof(dir), "export-cache");
	struct seg_writer_cfg cfg = { .session_dir = dir, .worker = 0, .frame_bytes = 4096,
				      .rotate_bytes = 64 * 1024, .save_responses = true };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&cfg, now_wall_ns(), &w));
	struct drive d;
	drive_init(&d, 11, 400, 37, 8, 3000);
	drive_run(&d, w, 400);
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	REQUIRE(t.n > 300);
	struct rc_caches cs = {0};
	uint64_t rng = 5;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < t.n; i++) {
			size_t k = pass == 0 ? i : (size_t)((rng = gen_mix(rng)) % t.n);
			struct seg_exchange a, b;
			struct seg_open_opts o = { .body_max = { 1u << 30, 1u << 30 } };
			REQUIRE_RC(seg_open_entry(dir, &t.rows[k].e, &o, &a));
			REQUIRE_RC(rc_export_open(dir, &t.rows[k], &cs, &b));
			same_exchange(&a, &b);
			seg_exchange_free(&a);
			seg_exchange_free(&b);
		}
	}
	rc_caches_free(&cs);
	seg_table_free(&t);
	drive_free(&d);
	rm_rf(dir);
}

/* ---- a collection's identical requests ---- */

#define DUP_N 3000u
static const char *const dup_urls[3] = { "http://a.test/poll", "http://a.test/put?q=1",
					  "http://b.test/users/7" };
static const char *const dup_bodies[4] = { "one", "two", "three", "" };

/* Row k: its URL (0: half the rows, more than PM_RUN_HOLD) and body. */
static void dup_row(uint64_t k, unsigned *u, unsigned *bd)
{
	uint64_t r = gen_mix(k + 99);
	*u = r % 4 < 2 ? 0 : r % 4 == 2 ? 1 : 2;
	*bd = *u == 2 ? 3 : (unsigned)(r >> 8) % (*u == 0 ? 3 : 2);
}

static void dup_write(const char *dir)
{
	struct seg_writer_cfg cfg = { .session_dir = dir, .worker = 0, .save_responses = true };
	struct seg_writer *w;
	REQUIRE_RC(seg_writer_open(&cfg, now_wall_ns(), &w));
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
	for (uint64_t k = 0; k < DUP_N; k++) {
		unsigned u, bd;
		dup_row(k, &u, &bd);
		char head[256];
		int hl = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\n"
				  "Content-Type: text/plain\r\n\r\n", u == 2 ? "GET" : "POST",
				  dup_urls[u]);
		const char *host = u == 2 ? "b.test" : "a.test";
		struct seg_xch_begin b = {
			.start_ns = 1700000000000000000ull + k * 1000000ull, .http_version = 11,
			.port = 80, .method = u == 2 ? "GET" : "POST", .method_len = u == 2 ? 3 : 4,
			.host = host, .host_len = 6, .url = dup_urls[u], .url_len = strlen(dup_urls[u]),
			.req_head = head, .req_head_len = (size_t)hl, .number = (uint32_t)k + 1,
		};
		struct seg_xch *x;
		uint64_t id;
		REQUIRE_RC(seg_xch_begin(w, &b, &x, &id));
		if (dup_bodies[bd][0])
			REQUIRE_RC(seg_xch_body(w, x, SEG_DIR_REQ, dup_bodies[bd], strlen(dup_bodies[bd])));
		REQUIRE_RC(seg_xch_resp_head(w, x, (uint16_t)(200 + k % 2), "OK", 2, resp,
					     sizeof(resp) - 1, SEG_T_JSON));
		REQUIRE_RC(seg_xch_end(w, x, &(struct seg_xch_end){ .status = (uint16_t)(200 + k % 2) }));
		writer_pump(w, false);
	}
	REQUIRE_RC(seg_writer_flush_sync(w));
	seg_writer_close(w);
}

static int buf_sink(void *ctx, const void *p, size_t n)
{
	rc_buf_add(ctx, p, n);
	return ((struct rc_buf *)ctx)->oom ? -ENOMEM : 0;
}

/* Items of a collection without folders: one per URL and body, URLs in
 * order of first appearance, bodies within a URL likewise, each with an
 * example per row (3,000 rows; the poll URL's 1,500 go through the
 * writer's body sort, the others are grouped in memory). */
static void test_collapse(void)
{
	char dir[256];
	make_tmpdir(dir, sizeof(dir), "export-dups");
	dup_write(dir);
	unsigned url_order[3], nurl = 0, body_order[3][4], nbody[3] = { 0 };
	size_t count[3][4] = { { 0 } };
	for (uint64_t k = 0; k < DUP_N; k++) {
		unsigned u, bd, i;
		dup_row(k, &u, &bd);
		for (i = 0; i < nurl && url_order[i] != u; i++)
			;
		if (i == nurl)
			url_order[nurl++] = u;
		for (i = 0; i < nbody[u] && body_order[u][i] != bd; i++)
			;
		if (i == nbody[u])
			body_order[u][nbody[u]++] = bd;
		count[u][bd]++;
	}
	REQUIRE(count[0][0] + count[0][1] + count[0][2] > 1024);
	struct ses_meta m = { .id = "dups", .name = "dups" };
	for (int sorted = 0; sorted < 2; sorted++) {
		struct rc_buf out = {0};
		struct rc_sink sink = { buf_sink, &out };
		struct rc_export_opts o = { .format = RC_FMT_POSTMAN, .with_tests = true };
		/* both stream (persist/scan.c); status is the radix-keyed kind */
		struct seg_query q = { .sort = sorted ? SEG_SORT_STATUS : SEG_SORT_TIME };
		struct rc_export_stats st;
		REQUIRE_RC(rc_export_session(dir, &m, &q, NULL, &o, &sink, &st));
		CHECK(st.exchanges == DUP_N);
		json_error_t e;
		json_t *root = json_loadb(out.p, out.len, 0, &e);
		REQUIRE(root != NULL);
		json_t *items = json_object_get(root, "item");
		size_t want_items = nbody[0] + nbody[1] + nbody[2], n = 0;
		CHECK(json_array_size(items) == want_items);
		CHECK(st.items == want_items);
		for (unsigned i = 0; i < nurl && !sorted; i++) {
			unsigned u = url_order[i];
			for (unsigned j = 0; j < nbody[u]; j++, n++) {
				json_t *it = json_array_get(items, n);
				const char *name = json_string_value(json_object_get(it, "name"));
				json_t *raw = json_object_get(json_object_get(json_object_get(it,
								"request"), "body"), "raw");
				const char *body = raw ? json_string_value(raw) : "";
				CHECK(name && strcmp(name, dup_urls[u]) == 0);
				CHECK(body && strcmp(body, dup_bodies[body_order[u][j]]) == 0);
				CHECK(json_array_size(json_object_get(it, "response")) ==
				      count[u][body_order[u][j]]);
			}
		}
		json_decref(root);
		rc_buf_free(&out);
	}
	rm_rf(dir);
}

/* HAR entries come in ls's order (seg_table_load + seg_query_run) for
 * every sort, both directions, with a page: the dup session has three
 * URLs, two hosts, methods and statuses, so nearly every key ties and the
 * tie-breaks (time, id) decide. */
static void test_har_order(void)
{
	char dir[256];
	make_tmpdir(dir, sizeof(dir), "export-order");
	dup_write(dir);
	struct seg_table t;
	REQUIRE_RC(seg_table_load(dir, &t, NULL));
	struct ses_meta m = { .id = "order", .name = "order" };
	size_t entries = 0;
	for (uint8_t sort = 0; sort < SEG_SORT_COUNT; sort++) {
		for (int v = 0; v < 3; v++) {
			struct seg_query q = { .sort = sort, .reverse = v == 1,
					       .offset = v == 2 ? 100 : 0, .limit = v == 2 ? 500 : 0 };
			struct seg_result res;
			REQUIRE_RC(seg_query_run(&t, &q, &res));
			struct rc_buf out = {0};
			struct rc_sink sink = { buf_sink, &out };
			struct rc_export_opts o = { .format = RC_FMT_HAR };
			struct rc_export_stats st;
			REQUIRE_RC(rc_export_session(dir, &m, &q, NULL, &o, &sink, &st));
			json_error_t e;
			json_t *root = json_loadb(out.p, out.len, 0, &e);
			REQUIRE(root != NULL);
			json_t *list = json_object_get(json_object_get(root, "log"), "entries");
			CHECK(json_array_size(list) == res.n);
			for (size_t i = 0; i < res.n && i < json_array_size(list); i++) {
				json_t *id = json_object_get(json_array_get(list, i), "_id");
				uint64_t want = rc_row_id(&t.rows[res.idx[i]]);
				if ((uint64_t)json_integer_value(id) != want) {
					fprintf(stderr, "sort %u v %d entry %zu: _id %lld, want %llu\n",
						sort, v, i, (long long)json_integer_value(id),
						(unsigned long long)want);
					CHECK(false);
					break;
				}
				entries++;
			}
			json_decref(root);
			rc_buf_free(&out);
			seg_result_free(&res);
		}
	}
	CHECK(entries == SEG_SORT_COUNT * (2 * DUP_N + 500));
	seg_table_free(&t);
	rm_rf(dir);
}

/* ---- the HAR reader ---- */

struct seen {
	size_t n;
	bool ok;
};

static int on_entry(void *ctx, const struct rc_har_xch *x)
{
	struct seen *s = ctx;
	char want[64];
	snprintf(want, sizeof(want), "http://h.test/item/%zu?q=%zu", s->n, s->n);
	s->ok &= x->index == s->n && strcmp(x->url, want) == 0 && x->status == 200 + s->n % 5;
	s->ok &= x->body_len[SEG_DIR_RESP] == 100 + s->n % 3000;
	s->ok &= x->start_ns == 1700000000000000000ull + (uint64_t)s->n * 1000000u;
	s->ok &= x->req_head_len > 20 && memcmp(x->req_head, "GET http://h.test/item/", 23) == 0;
	s->n++;
	return 0;
}

/* A HAR of n entries (response bodies of 100..3099 bytes, one with a
 * quote, a brace and a backslash in strings). */
static char *make_har(size_t n, size_t *len)
{
	struct rc_buf b = { .max = 256u << 20 };
	rc_buf_puts(&b, " {\"log\": {\"version\": \"1.2\", \"creator\": {\"name\": \"t}\\\"[\"},"
		    " \"pages\": [{\"x\": [[{}]]}], \"entries\": [\n");
	for (size_t i = 0; i < n; i++) {
		rc_buf_printf(&b, "%s{\"startedDateTime\": \"2023-11-14T22:13:%02zu.%03zuZ\", \"time\": 1.5,"
			      " \"request\": {\"method\": \"GET\", \"url\": \"http://h.test/item/%zu?q=%zu\","
			      " \"httpVersion\": \"HTTP/1.1\", \"headers\": [{\"name\": \"X-A\","
			      " \"value\": \"}]\\\\\"}], \"queryString\": []},"
			      " \"response\": {\"status\": %zu, \"statusText\": \"OK\", \"headers\": [],"
			      " \"content\": {\"size\": 1, \"mimeType\": \"text/plain\", \"text\": \"",
			      i ? ",\n" : "", 20 + i / 1000, i % 1000, i, i, 200 + i % 5);
		static const char letters[] = "abcdefghij";
		for (size_t k = 0; k < 100 + i % 3000; k++)
			rc_buf_add(&b, &letters[k % 10], 1);
		rc_buf_puts(&b, "\"}}, \"timings\": {\"send\": 0, \"wait\": 1, \"receive\": 0.5},"
			    " \"_unknown\": {\"deep\": [1, {\"a\": \"]\"}]}}");
	}
	rc_buf_puts(&b, "]}}\n");
	CHECK(!b.oom);
	*len = b.len;
	return b.p;
}

struct feeder {
	int fd;
	const char *p;
	size_t n;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	for (size_t off = 0; off < f->n;) {
		size_t k = f->n - off < 7 ? f->n - off : 7;
		ssize_t w = write(f->fd, f->p + off, k);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(f->fd);
	return NULL;
}

static long read_pipe(const char *p, size_t n, struct seen *s, char *err, size_t errlen)
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	struct feeder f = { fds[1], p, n };
	pthread_t th;
	CHECK(pthread_create(&th, NULL, feed, &f) == 0);
	long r = rc_har_read(fds[0], on_entry, s, err, errlen);
	close(fds[0]);
	pthread_join(th, NULL);
	return r;
}

static long read_file(const char *dir, const char *p, size_t n, struct seen *s, char *err,
		      size_t errlen)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/t.har", dir);
	FILE *f = fopen(path, "wb");
	REQUIRE(f && fwrite(p, 1, n, f) == n && fclose(f) == 0);
	int fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0);
	long r = rc_har_read(fd, s ? on_entry : NULL, s, err, errlen);
	close(fd);
	return r;
}

static void bad(const char *dir, const char *text, const char *want)
{
	char err[512];
	long r = read_file(dir, text, strlen(text), NULL, err, sizeof(err));
	if (r != -EBADMSG || strstr(err, want) == NULL) {
		fprintf(stderr, "HAR '%.80s': %ld '%s', want '%s'\n", text, r, err, want);
		exit(1);
	}
}

/* Every truncation of a valid HAR is refused (none reads as complete),
 * and byte flips never crash the reader nor make it report success with
 * an error text, or an error without one. */
static void test_har_hunt(const char *dir)
{
	size_t n;
	char *har = make_har(3, &n);
	char err[512];
	while (n > 0 && (har[n - 1] == '\n' || har[n - 1] == ' '))
		n--;
	for (size_t cut = 0; cut < n; cut += GEN_SANITIZED ? 7 : 1) {
		long r = read_file(dir, har, cut, NULL, err, sizeof(err));
		if (r != -EBADMSG || err[0] == '\0') {
			fprintf(stderr, "cut at %zu of %zu: %ld '%s'\n", cut, n, r, err);
			exit(1);
		}
	}
	uint64_t rng = 99;
	char *m = malloc(n);
	REQUIRE(m != NULL);
	for (int i = 0; i < (GEN_SANITIZED ? 300 : 3000); i++) {
		memcpy(m, har, n);
		for (int k = 0; k < 1 + i % 4; k++) {
			rng = gen_mix(rng);
			m[rng % n] = (char)(rng >> 32);
		}
		long r = read_file(dir, m, n, NULL, err, sizeof(err));
		REQUIRE(r == 3 || r == -EBADMSG || r == -E2BIG || (r >= 0 && r <= 4));
		REQUIRE((r < 0) == (err[0] != '\0'));
	}
	free(m);
	free(har);
}

static void test_har_reader(void)
{
	char dir[256], err[512];
	make_tmpdir(dir, sizeof(dir), "export-har");
	size_t n;
	char *har = make_har(300, &n);
	struct seen s = { 0, true };
	CHECK(read_pipe(har, n, &s, err, sizeof(err)) == 300);
	CHECK(s.ok && s.n == 300);
	free(har);
	har = make_har(4000, &n); /* several MiB: entries across 1 MiB reads */
	REQUIRE(n > 3 * RC_HAR_READ_CHUNK);
	s = (struct seen){ 0, true };
	CHECK(read_file(dir, har, n, &s, err, sizeof(err)) == 4000);
	CHECK(s.ok && s.n == 4000);
	free(har);
	test_har_hunt(dir);
	bad(dir, "[]", "$: expected an object");
	bad(dir, "{\"log\": 3}", "$.log: expected an object");
	bad(dir, "{\"log\": \"x\"}", "$.log: expected an object");
	bad(dir, "{\"log\": {}}", "$.log.entries: missing");
	bad(dir, "{}", "$.log: missing");
	bad(dir, "{\"log\": {\"entries\": 5}}", "$.log.entries: expected an array");
#define MIN "{\"request\": {\"method\": \"GET\", \"url\": \"http://a.test/\"}}"
	bad(dir, "{\"log\": {\"entries\": [" MIN ", 5]}}", "$.log.entries[1]: expected an object");
	bad(dir, "{\"log\": {\"entries\": [{}]}}", "$.log.entries[0].request: missing");
	bad(dir, "{\"log\": {\"entries\": [{\"request\": {\"url\": \"http://a/\"}}]}}",
	    "$.log.entries[0].request.method: missing or empty");
	bad(dir, "{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\"}}]}}",
	    "$.log.entries[0].request.url: missing or empty");
	bad(dir, "{\"log\": {\"entries\": [{\"request\": []}]}}",
	    "$.log.entries[0].request: expected an object");
#define RQ "\"request\": {\"method\": \"GET\", \"url\": \"http://a.test/\"}"
	bad(dir, "{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\", \"url\": \"http://a/\","
	    " \"headers\": [{\"name\": 1}]}}]}}",
	    "$.log.entries[0].request.headers[0].name: expected a string");
	bad(dir, "{\"log\": {\"entries\": [{" RQ ", \"response\": {\"status\": \"200\"}}]}}",
	    "$.log.entries[0].response.status: expected a number");
	bad(dir, "{\"log\": {\"entries\": [{\"startedDateTime\": \"yesterday\"}]}}",
	    "$.log.entries[0].startedDateTime: not an ISO 8601 date");
	bad(dir, "{\"log\": {\"entries\": [{" RQ ", \"response\": {\"content\": {\"text\": \"!!\","
	    " \"encoding\": \"base64\"}}}]}}", "$.log.entries[0].response.content.text: not base64");
	/* numbers past RC_HAR_NUM_MAX are an error, never a cast out of range;
	 * a port past 65535 is ignored (the fuzzer's _client_port 79992 was
	 * cast to uint16_t) */
	bad(dir, "{\"log\": {\"entries\": [{" RQ ", \"_client_port\": 1e300}]}}",
	    "$.log.entries[0]._client_port: out of range");
	bad(dir, "{\"log\": {\"entries\": [{" RQ ", \"response\": {\"status\": 200,"
	    " \"bodySize\": 1e20}}]}}", "$.log.entries[0].response.bodySize: out of range");
	bad(dir, "{\"log\": {\"entries\": [{" RQ ", \"timings\": {\"wait\": -1e300}}]}}",
	    "$.log.entries[0].timings.wait: out of range");
	const char *port = "{\"log\": {\"entries\": [{" RQ ", \"_client_port\": 70000,"
			   " \"_server_port\": -1, \"time\": 1e12}]}}";
	CHECK(read_file(dir, port, strlen(port), NULL, err, sizeof(err)) == 1); /* ports ignored */
	bad(dir, "{\"log\": {\"entries\": [{\"a\": 1,}]}}", "$.log.entries[0]: invalid JSON");
	bad(dir, "{\"log\": {\"entries\": [" MIN "]}} x", "$: bytes after the document");
	bad(dir, "{\"log\": {\"entries\": [" MIN "]]}", "unbalanced brackets");
	bad(dir, "{\"log\": {\"entries\": [" MIN, "unexpected end of file");
	/* unknown members ignored, missing ones empty */
	struct seen none = { 0, true };
	const char *ok = "{\"log\": {\"entries\": [], \"x\": {\"entries\": 5}}, \"y\": [\"log\"]}";
	CHECK(read_file(dir, ok, strlen(ok), &none, err, sizeof(err)) == 0);
	rm_rf(dir);
}

/* Issue 18: a CONNECT row's tunnel kind goes out as HAR's _tunnel and
 * comes back from it; an old session's row ("tunnel") keeps only its flag. */
static uint32_t tun_flags_seen;

static int on_tunnel_entry(void *ctx, const struct rc_har_xch *x)
{
	(void)ctx;
	tun_flags_seen = x->flags;
	return 0;
}

static uint32_t har_tunnel_round_trip(const char *dir, uint32_t flags, const char *want)
{
	struct seg_exchange x = {
		.id = 7, .start_ns = 1700000000000000000ull, .scheme = SEG_SCHEME_TUNNEL,
		.http_version = 11, .method = SEG_M_CONNECT, .port = 443, .status = 200,
		.flags = flags, .method_text = "CONNECT", .host = "b.example",
		.url = "b.example:443", .req_head = (uint8_t *)"CONNECT b.example:443 HTTP/1.1\r\n\r\n",
		.req_head_len = 34,
	};
	struct rc_xout o;
	rc_xout_init(&o, NULL);
	rc_buf_puts(&o.b, "{\"log\":{\"version\":\"1.2\",\"entries\":[");
	rc_har_entry(&o, &x, true);
	rc_buf_puts(&o.b, "]}}\n");
	REQUIRE(!o.b.oom);
	char needle[64];
	snprintf(needle, sizeof(needle), "\"_tunnel\":\"%s\"", want);
	CHECK(strstr(o.b.p, needle) != NULL);
	char path[512];
	snprintf(path, sizeof(path), "%s/tun.har", dir);
	FILE *f = fopen(path, "wb");
	REQUIRE(f != NULL);
	CHECK(fwrite(o.b.p, 1, o.b.len, f) == o.b.len);
	fclose(f);
	rc_buf_free(&o.b);
	int fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0);
	char err[256];
	tun_flags_seen = 0;
	CHECK(rc_har_read(fd, on_tunnel_entry, NULL, err, sizeof(err)) == 1);
	close(fd);
	return tun_flags_seen;
}

static void test_har_tunnel(void)
{
	char dir[64];
	make_tmpdir(dir, sizeof(dir), "xtun");
	uint32_t pass = (uint32_t)SEG_TUN_PASSTHROUGH << SEG_F_TUN_SHIFT;
	uint32_t got = har_tunnel_round_trip(dir, pass | SEG_F_TUNNEL, "passthrough");
	CHECK(seg_tunnel_of(got) == SEG_TUN_PASSTHROUGH);
	CHECK(got & SEG_F_TUNNEL);
	uint32_t ref = (uint32_t)SEG_TUN_REFUSED << SEG_F_TUN_SHIFT;
	got = har_tunnel_round_trip(dir, ref, "refused");
	CHECK(seg_tunnel_of(got) == SEG_TUN_REFUSED);
	CHECK(!(got & SEG_F_TUNNEL));
	got = har_tunnel_round_trip(dir, SEG_F_TUNNEL, "tunnel");   /* an old session's */
	CHECK(seg_tunnel_of(got) == SEG_TUN_UNKNOWN);
	CHECK(got & SEG_F_TUNNEL);
	rm_rf(dir);
}

int main(void)
{
	test_collapse();
	test_har_order();
	signal(SIGPIPE, SIG_IGN);
	test_ids();
	test_names();
	test_params();
	test_pieces();
	test_cache();
	test_har_reader();
	test_har_tunnel();
	return check_done("export");
}
