/* tests/tools/capture/ws_capture_test.c: WebSocket message pieces through
 * the capture sink (rc_capture_ops.ws_msg), driven as the engine drives it
 * and read back from disk: a message in several pieces is stored whole
 * under the body cap and cut past it (its length kept); control messages
 * between pieces; "save responses" off keeps the server's messages without
 * payload; a message begun before a pause is finished, one begun during
 * it is left out, one after it is stored; an exchange a filter discards
 * at its 101 stores none.
 */
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

static void drive(void *ctx)
{
	struct eng_sink_io io;
	for (int i = 0; i < 10000 && ops->next_io(ctx, &io); i++) {
		int res;
		if (io.path) {
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

static void set(struct rc_capture *c, const char *dir, bool paused, bool save, uint64_t cap,
		struct flt_db *filter)
{
	char err[256] = "";
	struct rc_capture_policy p = { .session_dir = dir, .paused = paused,
				       .save_responses = save, .body_max = cap, .filter = filter };
	int rc = rc_capture_set(c, &p, 0, err, sizeof(err));
	CHECK_MSG(rc == 0 || rc == -EINPROGRESS, "rc_capture_set = %d (%s)", rc, err);
}

static struct eng_xchg xchg(const char *url)
{
	struct eng_xchg x = { .start_ns = 1700000000000000000ull, .method = "GET",
			      .method_len = 3, .url = url, .url_len = strlen(url),
			      .host = "example.test", .host_len = 12, .port = 80,
			      .http_minor = 1, .status = 101 };
	x.client.ss_family = AF_INET;
	return x;
}

static void *upgrade(void *w, struct eng_xchg *x)
{
	static const char req[] = "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
	void *h = ops->begin(w, x, req, sizeof(req) - 1);
	if (h)
		ops->response(w, h, x, resp, sizeof(resp) - 1);
	return h;
}

/* One piece; len counts the message's bytes up to its end. */
static void piece(void *w, void *h, enum eng_dir d, uint8_t op, uint8_t flags, uint64_t len,
		  const char *p, size_t n)
{
	struct eng_ws_msg m = { .dir = d, .opcode = op, .flags = flags, .start_ns = 5,
				.len = len, .wire_len = len };
	ops->ws_msg(w, h, &m, p, n);
}

#define F ENG_WS_FIRST
#define L ENG_WS_LAST
#define REQ ENG_DIR_REQUEST
#define RESP ENG_DIR_RESPONSE

struct want {
	uint8_t dir, op;
	bool cut;
	const char *data;
	uint64_t len;
};

static void check_msgs(const char *dir, uint64_t number, const struct want *w, size_t n)
{
	struct seg_entry e;
	int rc = seg_find_number(dir, (uint32_t)number, &e);
	CHECK_MSG(rc == 0 || n == 0, "exchange %llu: %d", (unsigned long long)number, rc);
	if (rc < 0)
		return;
	struct seg_exchange x;
	struct seg_open_opts o = { .body_max = { 1 << 20, 1 << 20 }, .msgs_max = 100 };
	REQUIRE_RC(seg_open_entry(dir, &e, &o, &x));
	CHECK_MSG(x.nmsgs == n, "exchange %llu: %zu messages, want %zu",
		  (unsigned long long)number, x.nmsgs, n);
	for (size_t i = 0; i < x.nmsgs && i < n; i++) {
		const struct seg_msg *m = &x.msgs[i];
		size_t dl = strlen(w[i].data);
		CHECK_MSG(m->dir == w[i].dir && m->opcode == w[i].op && m->cut == w[i].cut &&
			  m->len == w[i].len, "exchange %llu msg %zu: dir %u op %u cut %d len %llu",
			  (unsigned long long)number, i, m->dir, m->opcode, m->cut,
			  (unsigned long long)m->len);
		CHECK_MSG(m->data_len == dl && (dl == 0 || memcmp(m->data, w[i].data, dl) == 0),
			  "exchange %llu msg %zu: '%.*s'", (unsigned long long)number, i,
			  (int)m->data_len, (const char *)m->data);
	}
	seg_exchange_free(&x);
}

/* Long on purpose: one scenario whose steps share their state (files,
 * handles, counts), checked in the order they happen. */
int main(void)
{
	char data[] = "/tmp/rc-ws-capture-test-XXXXXX";
	REQUIRE(mkdtemp(data) != NULL);
	struct ses_meta sm;
	struct ses_settings st = { .save_responses = true };
	REQUIRE_RC(ses_create(data, "ws", &st, 1, &sm));
	char dir[4200];
	ses_dir(dir, sizeof(dir), data, sm.id);
	struct rc_capture *c;
	REQUIRE_RC(rc_capture_create(1, &c));
	void *w = ops->open(c, 0);
	REQUIRE(w != NULL);

	/* 1: cap 8 bytes per message */
	set(c, dir, false, true, 8, NULL);
	struct eng_xchg x1 = xchg("http://example.test/ws1");
	void *h = upgrade(w, &x1);
	REQUIRE(h != NULL);
	piece(w, h, REQ, 1, F, 3, "abc", 3);
	piece(w, h, REQ, 9, F | L, 2, "pi", 2);              /* a ping between pieces */
	piece(w, h, REQ, 1, L, 6, "def", 3);
	piece(w, h, RESP, 2, F, 5, "01234", 5);
	piece(w, h, RESP, 2, 0, 10, "56789", 5);             /* crosses the cap */
	piece(w, h, RESP, 2, 0, 15, "abcde", 5);             /* all past it */
	piece(w, h, RESP, 2, L, 15, NULL, 0);
	piece(w, h, RESP, 8, F | L, 4, "\x03\xe8ok", 4);
	piece(w, h, REQ, 1, F, 2, "zz", 2);                  /* the tunnel ends first */
	piece(w, h, REQ, 1, L | ENG_WS_CUT, 2, NULL, 0);
	ops->end(w, h, &x1);

	/* 2: save responses off */
	set(c, dir, false, false, 1 << 20, NULL);
	struct eng_xchg x2 = xchg("http://example.test/ws2");
	h = upgrade(w, &x2);
	REQUIRE(h != NULL);
	piece(w, h, REQ, 1, F | L, 2, "hi", 2);
	piece(w, h, RESP, 1, F | L, 2, "yo", 2);
	ops->end(w, h, &x2);

	/* 3: a pause while the connection is open */
	set(c, dir, false, true, 1 << 20, NULL);
	struct eng_xchg x3 = xchg("http://example.test/ws3");
	h = upgrade(w, &x3);
	REQUIRE(h != NULL);
	piece(w, h, REQ, 1, F, 3, "beg", 3);
	set(c, dir, true, true, 1 << 20, NULL);
	piece(w, h, REQ, 1, L, 6, "run", 3);                 /* begun before: finished */
	piece(w, h, RESP, 1, F | L, 6, "paused", 6);         /* begun during: left out */
	piece(w, h, RESP, 9, F | L, 1, "p", 1);
	set(c, dir, false, true, 1 << 20, NULL);
	piece(w, h, RESP, 1, F | L, 5, "after", 5);
	ops->end(w, h, &x3);

	/* 4: a filter that keeps only 200s discards the 101 and its messages */
	struct flt_spec spec;
	char err[256];
	flt_spec_init(&spec);
	REQUIRE_RC(flt_spec_add_flag(&spec, "status", "200", err, sizeof(err)));
	struct flt_db *db;
	REQUIRE_RC(flt_compile(&spec, &db, err, sizeof(err)));
	flt_spec_free(&spec);
	set(c, dir, false, true, 1 << 20, db);
	flt_db_unref(db);   /* the policy holds its own reference */
	struct eng_xchg x4 = xchg("http://example.test/ws4");
	h = upgrade(w, &x4);
	REQUIRE(h != NULL);
	piece(w, h, REQ, 1, F | L, 4, "gone", 4);
	ops->end(w, h, &x4);

	/* 5: a message bigger than the writer can take before its writes
	 * complete (no drive() in between): a prefix is stored, the rest is
	 * not, it is flagged cut; the next message, after the writes, is whole */
	for (int i = 0; i < 3; i++) {
		ops->tick(w, 1);
		drive(w);
	}
	set(c, dir, false, true, 64u << 20, NULL);
	struct eng_xchg x5 = xchg("http://example.test/ws5");
	h = upgrade(w, &x5);
	REQUIRE(h != NULL);
	static char chunk[16384];
	const unsigned pieces = 128;   /* 2 MiB: more than 4 frame slots of 128 KiB */
	for (unsigned i = 0; i < pieces; i++) {
		memset(chunk, 'a' + (int)(i % 26), sizeof(chunk));
		piece(w, h, RESP, 2, (uint8_t)((i == 0 ? F : 0) | (i == pieces - 1 ? L : 0)),
		      (uint64_t)(i + 1) * sizeof(chunk), chunk, sizeof(chunk));
	}
	drive(w);
	piece(w, h, REQ, 1, F | L, 5, "after", 5);
	ops->end(w, h, &x5);

	for (int i = 0; i < 3; i++) {
		ops->tick(w, 1);
		drive(w);
	}
	ops->close(w);
	rc_capture_destroy(c);

	const struct want w1[] = {
		{ SEG_DIR_REQ, 9, false, "pi", 2 },
		{ SEG_DIR_REQ, 1, false, "abcdef", 6 },
		{ SEG_DIR_RESP, 2, true, "01234567", 15 },
		{ SEG_DIR_RESP, 8, false, "\x03\xe8ok", 4 },
		{ SEG_DIR_REQ, 1, true, "zz", 2 },
	};
	/* the ping is listed before the text: messages in the order they began
	 * is the order of their first records, and the text's FIRST came first */
	const struct want w1_order[] = { w1[1], w1[0], w1[2], w1[3], w1[4] };
	check_msgs(dir, 1, w1_order, 5);
	const struct want w2[] = {
		{ SEG_DIR_REQ, 1, false, "hi", 2 },
		{ SEG_DIR_RESP, 1, true, "", 2 },
	};
	check_msgs(dir, 2, w2, 2);
	const struct want w3[] = {
		{ SEG_DIR_REQ, 1, false, "begrun", 6 },
		{ SEG_DIR_RESP, 1, false, "after", 5 },
	};
	check_msgs(dir, 3, w3, 2);
	struct seg_entry e;
	CHECK(seg_find_number(dir, 4, &e) == -ENOENT);   /* discarded, never listed */
	REQUIRE_RC(seg_find_number(dir, 5, &e));
	struct seg_exchange x;
	struct seg_open_opts o = { .body_max = { 64u << 20, 64u << 20 }, .msgs_max = 10 };
	REQUIRE_RC(seg_open_entry(dir, &e, &o, &x));
	REQUIRE(x.nmsgs == 2);
	CHECK(x.msgs[0].cut);
	CHECK_EQ(x.msgs[0].len, (uint64_t)pieces * sizeof(chunk));
	CHECK(x.msgs[0].data_len > 0);
	CHECK(x.msgs[0].data_len < (size_t)pieces * sizeof(chunk));
	bool prefix = x.msgs[0].data_len % sizeof(chunk) == 0;
	for (size_t i = 0; prefix && i < x.msgs[0].data_len; i++)
		prefix = x.msgs[0].data[i] == 'a' + (int)((i / sizeof(chunk)) % 26);
	CHECK_MSG(prefix, "the stored part is not a prefix of the message (%zu bytes)",
		  x.msgs[0].data_len);
	CHECK(!x.msgs[1].cut);
	CHECK(x.msgs[1].data_len == 5 && memcmp(x.msgs[1].data, "after", 5) == 0);
	seg_exchange_free(&x);
	rm_rf(data);
	return check_done("ws capture");
}
