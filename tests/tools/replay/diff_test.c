/* tests/tools/replay/diff_test.c: the diff against the recording. Same
 * answer: nothing; another status, a size beyond the byte or percent
 * tolerance, a body hash (only with --diff-body and a body stored whole):
 * each flagged alone; no recorded answer: nothing compared; counts and the
 * first RP_DIFF_EXAMPLES examples per kind, long URLs cut; merging keeps
 * counts and fills examples in order. */
#include <string.h>

#include "tests/tools/replay/rp-test.h"
#include "tools/replay/diff.h"

int main(void)
{
	struct rp_diff_cfg c = { 0 };
	struct rp_expect w = { .status = 200, .body_known = true, .size = 100, .hash = 7 };
	struct rp_got g = { 200, 100, 7 };
	CHECK(rp_diff_check(&c, &w, &g) == 0);
	g.status = 500;
	CHECK(rp_diff_check(&c, &w, &g) == 1u << RP_DIFF_STATUS);
	g.status = 200;
	g.size = 101;
	CHECK(rp_diff_check(&c, &w, &g) == 1u << RP_DIFF_SIZE);
	c.size_tol = 1;
	CHECK(rp_diff_check(&c, &w, &g) == 0);
	g.size = 102;
	CHECK(rp_diff_check(&c, &w, &g) == 1u << RP_DIFF_SIZE);
	c.size_tol_pct = 5;   /* percent wins over bytes */
	CHECK(rp_diff_check(&c, &w, &g) == 0);
	g.size = 106;
	CHECK(rp_diff_check(&c, &w, &g) == 1u << RP_DIFF_SIZE);
	g.size = 94;
	CHECK(rp_diff_check(&c, &w, &g) == 1u << RP_DIFF_SIZE);
	c = (struct rp_diff_cfg){ 0 };
	g = (struct rp_got){ 200, 100, 8 };
	CHECK(rp_diff_check(&c, &w, &g) == 0);       /* hash ignored without --diff-body */
	c.body = true;
	CHECK(rp_diff_check(&c, &w, &g) == 1u << RP_DIFF_BODY);
	w.body_known = false;                        /* cut or media: no hash to compare */
	CHECK(rp_diff_check(&c, &w, &g) == 0);
	w.status = 0;                                /* nothing was recorded */
	g.status = 404;
	CHECK(rp_diff_check(&c, &w, &g) == 0);

	static struct rp_diff d, d2;
	w = (struct rp_expect){ .status = 200, .body_known = true, .size = 10, .hash = 1 };
	char url[400];
	memset(url, 'u', sizeof(url));
	for (uint64_t i = 0; i < 8; i++) {
		struct rp_got x = { (uint16_t)(i % 2 ? 503 : 200), 10, 1 };
		rp_diff_add(&d, &c, &w, &x, i, url, sizeof(url));
	}
	CHECK(d.compared == 8);
	CHECK(d.same == 4);
	CHECK(d.count[RP_DIFF_STATUS] == 4);
	CHECK(d.nex[RP_DIFF_STATUS] == 4);
	CHECK(d.ex[RP_DIFF_STATUS][0].id == 1);
	CHECK(d.ex[RP_DIFF_STATUS][0].want == 200);
	CHECK(d.ex[RP_DIFF_STATUS][0].got == 503);
	CHECK(strlen(d.ex[RP_DIFF_STATUS][0].url) == RP_DIFF_URL_MAX);
	struct rp_expect none = { 0 };
	CHECK(rp_diff_add(&d, &c, &none, &g, 99, "x", 1) == 0);
	CHECK(d.compared == 8);
	for (uint64_t i = 0; i < 3; i++) {
		struct rp_got x = { 404, 10, 2 };
		rp_diff_add(&d2, &c, &w, &x, 100 + i, "/b", 2);
	}
	CHECK(d2.count[RP_DIFF_STATUS] == 3);
	CHECK(d2.count[RP_DIFF_BODY] == 3);
	rp_diff_merge(&d, &d2);
	CHECK(d.compared == 11);
	CHECK(d.count[RP_DIFF_STATUS] == 7);
	CHECK(d.nex[RP_DIFF_STATUS] == RP_DIFF_EXAMPLES);
	CHECK(d.ex[RP_DIFF_STATUS][4].id == 100);
	CHECK(d.nex[RP_DIFF_BODY] == 3);
	CHECK(strcmp(rp_diff_kind_name(RP_DIFF_BODY), "body") == 0);
	return RP_TEST_END();
}
