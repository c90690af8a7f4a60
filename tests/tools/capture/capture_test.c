/* tests/tools/capture/capture_test.c: the capture sink under a swapped policy,
 * driven like the engine drives it (begin/body/response/end, writes done
 * with pwrite where the engine would use its ring, ticks), then read back
 * from disk: pause captures nothing, toggles act per exchange, an exchange
 * finishes in the session it began in, a session switch hands the old
 * writers back, a failed write stops capture and counts drops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../persist/gen.h"
#include "filter/flt.h"
#include "persist/ses.h"
#include "tools/capture/sink.h"

static const struct eng_sink_ops *ops = &rc_capture_ops;
static int fail_next_io; /* -errno: the next write "fails" like a cqe would */

/* What the engine's sink_io does, with plain syscalls instead of the ring. */
static void drive(void *ctx)
{
	struct eng_sink_io io;
	for (int i = 0; i < 10000 && ops->next_io(ctx, &io); i++) {
		int res;
		if (fail_next_io) {
			res = fail_next_io;
			fail_next_io = 0;
		} else if (io.path) { /* a rotation's open (the ring's OPENAT) */
			int fd = open(io.path, io.open_flags, (mode_t)io.open_mode);
			res = fd < 0 ? -errno : fd;
		} else if (io.fsync) {
			res = fsync(io.fd) < 0 ? -errno : 0;
		} else {
			ssize_t n = pwrite(io.fd, io.buf, io.len, (off_t)io.off);
			res = n < 0 ? -errno : (int)n;
		}
		ops->io_done(ctx, res);
	}
}

static void settle(void *ctx0, void *ctx1)
{
	for (int i = 0; i < 3; i++) {
		ops->tick(ctx0, 1);
		ops->tick(ctx1, 1);
		drive(ctx0);
		drive(ctx1);
	}
}

struct ex {
	struct eng_xchg x;
	char head[256], resp[256];
	size_t head_len, resp_len;
};

static void ex_init(struct ex *e, const char *url, uint16_t status)
{
	memset(e, 0, sizeof(*e));
	struct sockaddr_in *in = (void *)&e->x.client;
	in->sin_family = AF_INET;
	in->sin_port = htons(40000);
	in->sin_addr.s_addr = htonl(0x7f000001);
	e->x.start_ns = 1700000000000000000ull;
	e->x.method = "POST";
	e->x.method_len = 4;
	e->x.url = url;
	e->x.url_len = strlen(url);
	e->x.host = "example.test";
	e->x.host_len = 12;
	e->x.port = 80;
	e->x.http_minor = 1;
	e->x.status = status;
	e->head_len = (size_t)snprintf(e->head, sizeof(e->head),
		"POST %s HTTP/1.1\r\nHost: example.test\r\nCookie: a=1\r\n\r\n", url);
	e->resp_len = (size_t)snprintf(e->resp, sizeof(e->resp),
		"HTTP/1.1 %u OK\r\nContent-Type: text/plain\r\nSet-Cookie: sid=42; Path=/; "
		"HttpOnly\r\nX-Other: 1\r\n\r\n", status);
}

static void *ex_begin(void *ctx, struct ex *e)
{
	return ops->begin(ctx, &e->x, e->head, e->head_len);
}

static void ex_finish(void *ctx, void *h, struct ex *e)
{
	ops->body(ctx, h, ENG_DIR_REQUEST, "request-body", 12);
	ops->response(ctx, h, &e->x, e->resp, e->resp_len);
	ops->body(ctx, h, ENG_DIR_RESPONSE, "response-body", 13);
	ops->end(ctx, h, &e->x);
}

/* One whole exchange; false when the sink skipped it. */
static bool ex_run(void *ctx, const char *url)
{
	struct ex e;
	ex_init(&e, url, 200);
	void *h = ex_begin(ctx, &e);
	if (h == NULL)
		return false;
	ex_finish(ctx, h, &e);
	return true;
}

struct urls {
	char url[64][128];
	uint32_t flags[64];
	uint64_t id[64];
	unsigned n;
};

static int collect(void *ctx, const struct seg_entry *en)
{
	struct urls *u = ctx;
	(void)en;
	REQUIRE(u->n < 64);
	u->flags[u->n] = en->flags;
	u->id[u->n] = en->id;
	u->n++;
	return 0;
}

static void listing(const char *dir, struct urls *u)
{
	memset(u, 0, sizeof(*u));
	struct seg_report rep = { 0 };
	REQUIRE_RC(seg_index_scan(dir, collect, u, &rep));
	for (unsigned i = 0; i < u->n; i++) {
		struct seg_exchange x;
		REQUIRE_RC(seg_open_id(dir, u->id[i], &(struct seg_open_opts){
			.body_max = { 1 << 20, 1 << 20 } }, &x));
		snprintf(u->url[i], sizeof(u->url[i]), "%s", x.url);
		seg_exchange_free(&x);
	}
}

static bool listed(const struct urls *u, const char *url)
{
	for (unsigned i = 0; i < u->n; i++)
		if (strcmp(u->url[i], url) == 0)
			return true;
	return false;
}

static void open_url(const char *dir, const struct urls *u, const char *url,
		     struct seg_exchange *x)
{
	for (unsigned i = 0; i < u->n; i++)
		if (strcmp(u->url[i], url) == 0) {
			REQUIRE_RC(seg_open_id(dir, u->id[i], &(struct seg_open_opts){
				.body_max = { 1 << 20, 1 << 20 } }, x));
			return;
		}
	CHECK(!"url not listed");
}

static struct flt_db *filter; /* the policy's filter in set() */

static struct flt_db *compile(const char *flag, const char *value)
{
	struct flt_spec spec;
	char err[256];
	flt_spec_init(&spec);
	REQUIRE_RC(flt_spec_add_flag(&spec, flag, value, err, sizeof(err)));
	struct flt_db *db;
	REQUIRE_RC(flt_compile(&spec, &db, err, sizeof(err)));
	flt_spec_free(&spec);
	return db;
}

static void set(struct rc_capture *c, const char *dir, bool paused, bool save, bool cookies,
		uint64_t body_max, int want)
{
	char err[256] = "";
	struct rc_capture_policy p = { .session_dir = dir, .paused = paused,
				       .save_responses = save, .cookies = cookies,
				       .body_max = body_max, .filter = filter };
	int rc = rc_capture_set(c, &p, 0, err, sizeof(err));
	if (rc != want)
		fprintf(stderr, "rc_capture_set = %d (%s), want %d\n", rc, err, want);
	CHECK(rc == want);
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	char data[] = "/tmp/rc-capture-test-XXXXXX";
	REQUIRE(mkdtemp(data) != NULL);
	struct ses_meta sa, sb;
	struct ses_settings st = { .save_responses = true };
	REQUIRE_RC(ses_create(data, "a", &st, 1, &sa));
	REQUIRE_RC(ses_create(data, "b", &st, 2, &sb));
	char da[4200], db[4200];
	ses_dir(da, sizeof(da), data, sa.id);
	ses_dir(db, sizeof(db), data, sb.id);

	struct rc_capture *c;
	REQUIRE_RC(rc_capture_create(2, &c));
	void *w0 = ops->open(c, 0), *w1 = ops->open(c, 1);
	REQUIRE(w0 && w1);

	/* no policy yet: traffic flows, nothing is captured */
	CHECK(!ex_run(w0, "http://example.test/none"));

	set(c, da, false, true, false, 1 << 20, 0);
	CHECK(ex_run(w0, "http://example.test/a1"));
	CHECK(ex_run(w1, "http://example.test/a2"));
	set(c, da, true, true, false, 1 << 20, 0);           /* pause */
	CHECK(!ex_run(w0, "http://example.test/paused"));
	set(c, da, false, false, true, 5, 0);                /* resume, toggles */
	CHECK(ex_run(w0, "http://example.test/a3-noresp-cookies"));
	set(c, da, false, false, false, 1 << 20, 0);
	CHECK(ex_run(w1, "http://example.test/a4-noresp"));
	set(c, da, false, true, false, 1 << 20, 0);

	/* an exchange in flight over a session switch stays in its session */
	struct ex inflight;
	ex_init(&inflight, "http://example.test/a5-inflight", 201);
	void *h = ex_begin(w0, &inflight);
	REQUIRE(h != NULL);
	set(c, db, false, true, false, 1 << 20, -EINPROGRESS);
	CHECK(ex_run(w0, "http://example.test/b1"));
	ex_finish(w0, h, &inflight);
	settle(w0, w1);
	set(c, db, false, true, false, 1 << 20, 0);   /* A closed by now */
	CHECK(ex_run(w1, "http://example.test/b2"));

	/* filters: a request-time reject is never written; a status filter
	 * decides at the response head, under the filter the exchange began
	 * with even when another has been swapped in since */
	filter = compile("--url-contains", "-KEEP");
	set(c, db, false, true, false, 1 << 20, 0);
	CHECK(!ex_run(w1, "http://example.test/b-drop"));
	CHECK(ex_run(w1, "http://example.test/b-keep1"));
	flt_db_unref(filter);
	filter = compile("--status", "201");
	set(c, db, false, true, false, 1 << 20, 0);
	struct ex pend;
	ex_init(&pend, "http://example.test/b-pending-201", 201);
	h = ex_begin(w1, &pend);
	REQUIRE(h != NULL);
	flt_db_unref(filter);
	filter = NULL;
	set(c, db, false, true, false, 1 << 20, 0);   /* the db lives on in h */
	CHECK(ex_run(w1, "http://example.test/b-nofilter"));
	ex_finish(w1, h, &pend);                      /* 201: kept */
	filter = compile("--status", "404");
	set(c, db, false, true, false, 1 << 20, 0);
	CHECK(ex_run(w1, "http://example.test/b-discarded"));   /* 200: discarded */
	flt_db_unref(filter);
	filter = NULL;
	set(c, db, false, true, false, 1 << 20, 0);
	struct rc_capture_stats sf;
	rc_capture_stats(c, &sf);
	CHECK(sf.filtered == 2);

	/* a failed write: capture stops loudly, what follows counts as dropped */
	struct rc_capture_stats s0;
	rc_capture_stats(c, &s0);
	fail_next_io = -EIO;
	CHECK(ex_run(w0, "http://example.test/b3-lost"));
	ops->tick(w0, UINT64_MAX / 2);   /* flush by age: the write that fails */
	drive(w0);
	CHECK(!ex_run(w0, "http://example.test/b4-dropped"));
	struct rc_capture_stats s1;
	rc_capture_stats(c, &s1);
	CHECK(s1.failed);
	CHECK(s1.dropped == s0.dropped + 1);
	CHECK(ex_run(w1, "http://example.test/b5"));   /* the other worker goes on */

	set(c, NULL, false, true, false, 0, -EINPROGRESS);
	settle(w0, w1);
	rc_capture_reap(c);
	CHECK(!ex_run(w1, "http://example.test/none2"));
	ops->close(w0);
	ops->close(w1);
	struct rc_capture_stats s2;
	rc_capture_stats(c, &s2);
	rc_capture_destroy(c);

	struct urls ua, ub;
	listing(da, &ua);
	listing(db, &ub);
	CHECK(ua.n == 5 && ub.n == 6);
	CHECK(listed(&ub, "http://example.test/b-keep1") && !listed(&ub, "http://example.test/b-drop"));
	CHECK(listed(&ub, "http://example.test/b-pending-201"));
	CHECK(listed(&ub, "http://example.test/b-nofilter"));
	CHECK(!listed(&ub, "http://example.test/b-discarded"));
	CHECK(listed(&ua, "http://example.test/a1") && listed(&ua, "http://example.test/a2"));
	CHECK(listed(&ua, "http://example.test/a5-inflight"));
	CHECK(!listed(&ua, "http://example.test/paused") && !listed(&ub, "http://example.test/b4-dropped"));
	CHECK(listed(&ub, "http://example.test/b1") && listed(&ub, "http://example.test/b5"));
	CHECK(s2.written == 8 + 3 + 1 && s2.dropped == s1.dropped);   /* b3 ended, its frame lost */

	struct seg_exchange x;
	open_url(da, &ua, "http://example.test/a3-noresp-cookies", &x);
	CHECK((x.flags & SEG_F_COOKIES) && (x.flags & SEG_F_NO_RESP));
	CHECK(x.body_len[SEG_DIR_REQ] == 5 && (x.flags & SEG_F_REQ_TRUNC));
	CHECK(x.body_len[SEG_DIR_RESP] == 0);
	CHECK(x.resp_head && memmem(x.resp_head, x.resp_head_len, "Set-Cookie: sid=42", 18));
	CHECK(!memmem(x.resp_head, x.resp_head_len, "X-Other", 7));
	seg_exchange_free(&x);
	open_url(da, &ua, "http://example.test/a4-noresp", &x);
	CHECK(!(x.flags & SEG_F_COOKIES) && (x.flags & SEG_F_NO_RESP));
	CHECK(x.resp_head_len == 0 && x.body_len[SEG_DIR_RESP] == 0 && x.status == 200);
	seg_exchange_free(&x);
	open_url(da, &ua, "http://example.test/a5-inflight", &x);
	CHECK(x.status == 201 && x.body_len[SEG_DIR_RESP] == 13);
	CHECK(memcmp(x.body[SEG_DIR_RESP], "response-body", 13) == 0);
	seg_exchange_free(&x);
	rm_rf(data);
	return check_done("capture policy");
}
