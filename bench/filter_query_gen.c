/* bench/filter_query_gen.c: writes a synthetic session of N exchanges into
 * a data directory, for bench/filter_query.sh (`ringcap ls --url-regex`
 * over 1,000,000 indexed exchanges). Fields come from tests/persist/gen.h
 * (6 hosts, URLs "scheme://host/vV/users/U/orders?page=P&q=K", 10
 * methods, 11 statuses, 8 type classes, v4 and v6 clients); bodies are
 * left out (the query reads only the index and URL strings), so writing
 * 1M takes a few seconds. Two workers, as a 2-core daemon would write.
 * A stop-gap of this helper's own: another helper is building the shared
 * session generator in bench/.
 * usage: filter_query_gen DATA_DIR NAME N   (prints the session id)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "persist/seg.h"
#include "persist/ses.h"
#include "tests/persist/gen.h"

#define SEED 6

static void put(struct seg_writer *w, uint64_t k)
{
	struct gen_x g;
	gen_exchange(SEED, k, 0, &g);
	struct seg_xch_begin b = {
		.start_ns = g.start_ns, .scheme = g.scheme, .http_version = 11, .port = g.port,
		.flags = g.flags, .method = g.method, .method_len = strlen(g.method),
		.host = g.host, .host_len = strlen(g.host), .url = g.url, .url_len = strlen(g.url),
		.req_head = g.req_head, .req_head_len = g.req_head_len, .client = g.client,
	};
	struct seg_xch *x;
	REQUIRE_RC(seg_xch_begin(w, &b, &x, NULL));
	REQUIRE_RC(seg_xch_resp_head(w, x, g.status, g.reason, strlen(g.reason), g.resp_head,
				   g.resp_head_len, g.type));
	struct seg_xch_end e = { .status = g.status, .error = g.error, .t = g.t,
				 .wire = { g.req_head_len, g.body_len[0], g.resp_head_len,
					   g.body_len[1] } };
	REQUIRE_RC(seg_xch_end(w, x, &e));
}

/* Performs the writer's queued writes (as the engine's ring would). */
static void pump(struct seg_writer *w)
{
	writer_pump(w, false);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: filter_query_gen DATA_DIR NAME N\n");
		return 2;
	}
	uint64_t n = strtoull(argv[3], NULL, 10);
	struct ses_settings st = { .save_responses = true };
	struct ses_meta m;
	char dir[4096];
	mkdir(argv[1], 0700);
	REQUIRE_RC(ses_create(argv[1], argv[2], &st, now_wall_ns(), &m));
	ses_dir(dir, sizeof(dir), argv[1], m.id);
	struct seg_writer *w[2];
	for (int i = 0; i < 2; i++) {
		struct seg_writer_cfg c = { .session_dir = dir, .worker = (uint16_t)i,
					    .save_responses = true };
		REQUIRE_RC(seg_writer_open(&c, now_wall_ns(), &w[i]));
	}
	for (uint64_t k = 0; k < n; k++) {
		put(w[k & 1], k);
		if ((k & 63) == 63) {
			pump(w[0]);
			pump(w[1]);
		}
	}
	for (int i = 0; i < 2; i++) {
		REQUIRE_RC(seg_writer_flush_sync(w[i]));
		seg_writer_close(w[i]);
	}
	REQUIRE_RC(ses_set_state(argv[1], m.id, SES_STOPPED, now_wall_ns()));
	printf("%s\n", m.id);
	return 0;
}
