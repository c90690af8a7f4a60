/* tests/tools/views/ship_row_test.c: one exchange as a ClickHouse row
 * (tools/views/ship_row.c): heads split into name/value arrays in wire
 * order, a text body as a JSON string, a binary body as base64 and
 * flagged, bodies cut at body_max and flagged, an exchange whose frames
 * are damaged still gives its index fields, identifiers checked. The same
 * row as TabSeparated (escapes, arrays as ['a','b']) and as RowBinary,
 * decoded back here column by column with the types of the printed
 * schema; an existing table's column listing checked against ours. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/views/ship_row.h"
#include "tests/check.h"

#define HAS(b, s) CHECK(strstr((b).p, (s)) != NULL)

/* ---- a RowBinary reader for the check ---- */

struct rd {
	const uint8_t *p;
	size_t n, off;
	bool bad;
};

static uint64_t leb(struct rd *r)
{
	uint64_t v = 0;
	for (int sh = 0; sh < 64 && r->off < r->n; sh += 7) {
		uint8_t c = r->p[r->off++];
		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->n - r->off < n) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return r->p + r->off - n;
}

static uint64_t uint_le(struct rd *r, size_t w)
{
	uint64_t v = 0;
	const uint8_t *q = take(r, w);
	for (size_t i = 0; q && i < w; i++)
		v |= (uint64_t)q[i] << (8 * i);
	return v;
}

/* One decoded column: its name, the text of a string (or of an array's
 * elements joined by '|'), or its number. */
struct val {
	char name[40], text[256];
	uint64_t u;
	double d;
};

static void str_into(struct rd *r, char *out, size_t cap)
{
	size_t n = (size_t)leb(r), k = strlen(out);
	const uint8_t *q = take(r, n);
	if (q && k + n < cap) {
		memcpy(out + k, q, n);
		out[k + n] = '\0';
	}
}

/* Decodes one row in the column order and types of the schema text. */
static size_t decode(const struct rc_buf *schema, struct rd *r, struct val *v, size_t max)
{
	size_t k = 0;
	const char *line = strchr(schema->p, '\n') + 1;
	for (; k < max && strncmp(line, "  ", 2) == 0; line = strchr(line, '\n') + 1, k++) {
		char type[40];
		REQUIRE(sscanf(line, " %39s %39[A-Za-z0-9()]", v[k].name, type) == 2);
		v[k].text[0] = '\0';
		if (strcmp(type, "String") == 0) {
			str_into(r, v[k].text, sizeof(v[k].text));
		} else if (strcmp(type, "Array(String)") == 0) {
			for (uint64_t i = 0, n = leb(r); i < n && !r->bad; i++) {
				if (i)
					strcat(v[k].text, "|");
				str_into(r, v[k].text, sizeof(v[k].text));
			}
		} else if (strcmp(type, "Float64") == 0) {
			const uint8_t *q = take(r, 8);
			if (q)
				memcpy(&v[k].d, q, 8);
		} else {
			size_t w = strcmp(type, "UInt8") == 0 ? 1 : strcmp(type, "UInt16") == 0 ? 2
				 : strcmp(type, "Date") == 0 ? 2 : strcmp(type, "UInt64") == 0 ? 8 : 4;
			v[k].u = uint_le(r, w);
		}
	}
	return k;
}

static const struct val *col(const struct val *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	REQUIRE(!"column missing");
	return NULL;
}

static void check_rowbinary(const struct rc_ship_row_cfg *c0, const struct ses_meta *m,
			    const struct seg_entry *e, const struct seg_exchange *x)
{
	struct rc_ship_row_cfg c = *c0;
	c.format = RC_SHIP_ROWBINARY;
	struct rc_buf b = { 0 }, schema = { 0 };
	rc_ship_row(&b, &c, m, e, x);
	rc_ship_row(&b, &c, m, e, NULL); /* a second row right behind the first */
	rc_ship_schema(&schema, "d", "t", false);
	struct val v[64];
	struct rd r = { (const uint8_t *)b.p, b.len, 0, false };
	size_t n = decode(&schema, &r, v, 64);
	CHECK_EQ(n, 40);
	CHECK(!r.bad);
	CHECK_STR(col(v, n, "box")->text, "rack-1");
	CHECK_STR(col(v, n, "session_name")->text, "lab \"a\"");
	CHECK_EQ(col(v, n, "id")->u, 42);
	CHECK_EQ(col(v, n, "number")->u, 3);
	CHECK_EQ(col(v, n, "date")->u, 20426); /* 2025-12-04 */
	CHECK_EQ(col(v, n, "time")->u, 1764816000);
	CHECK_EQ(col(v, n, "start_ns")->u, 1764816000123456789ull);
	CHECK(col(v, n, "duration_ms")->d == 2.5);
	CHECK_STR(col(v, n, "method")->text, "POST");
	CHECK_EQ(col(v, n, "http_version")->u, 11);
	CHECK_EQ(col(v, n, "port")->u, 80);
	CHECK_EQ(col(v, n, "status")->u, 201);
	CHECK_STR(col(v, n, "client")->text, "10.0.0.7");
	CHECK_EQ(col(v, n, "client_port")->u, 5555);
	CHECK_STR(col(v, n, "req_header_names")->text, "Host|X-A");
	CHECK_STR(col(v, n, "req_header_values")->text, "api.example|b c");
	CHECK_STR(col(v, n, "resp_header_names")->text, "");
	CHECK_STR(col(v, n, "req_body")->text, "{\"k\":\"v\"}");
	CHECK_STR(col(v, n, "resp_body")->text, "/wAQ");
	CHECK_EQ(col(v, n, "resp_body_base64")->u, 1);
	CHECK_EQ(col(v, n, "version")->u, 7);
	/* the damaged exchange's row: index fields, the reason, nothing else */
	n = decode(&schema, &r, v, 64);
	CHECK_EQ(n, 40);
	CHECK(!r.bad);
	CHECK_EQ(r.off, b.len);
	CHECK_STR(col(v, n, "error_msg")->text, "frames damaged: index fields only");
	CHECK_STR(col(v, n, "host")->text, "");
	CHECK_EQ(col(v, n, "status")->u, 201);
	rc_buf_free(&b);
	rc_buf_free(&schema);
}

static void check_tsv(const struct rc_ship_row_cfg *c0, const struct ses_meta *m,
		      const struct seg_entry *e, const struct seg_exchange *x)
{
	struct rc_ship_row_cfg c = *c0;
	c.format = RC_SHIP_TSV;
	struct rc_buf b = { 0 };
	rc_ship_row(&b, &c, m, e, x);
	HAS(b, "rack-1\t1m8zfayfhbgw\tlab \"a\"\t42\t3\t2025-12-04\t1764816000\t"
	       "1764816000123456789\t2.500\tPOST\thttp\t11\tapi.example\t80\t");
	HAS(b, "\t['Host','X-A']\t['api.example','b c']\t[]\t[]\t{\"k\":\"v\"}\t0\t0\t/wAQ\t1\t0\t7\n");
	size_t tabs = 0;
	for (size_t i = 0; i < b.len; i++)
		tabs += b.p[i] == '\t';
	CHECK_EQ(tabs, 39);
	CHECK(memchr(b.p, '\n', b.len - 1) == NULL);
	/* escapes: the TSV ones outside quotes, the same inside an array's */
	char head[] = "GET / HTTP/1.1\r\nX-Q: it's\ta\\b\r\n\r\n";
	struct seg_exchange y = *x;
	char url[] = "http://h/a\tb\nc";
	y.url = url;
	y.req_head = (uint8_t *)head;
	y.req_head_len = strlen(head);
	b.len = 0;
	rc_ship_row(&b, &c, m, e, &y);
	HAS(b, "\thttp://h/a\\tb\\nc\t");
	HAS(b, "\t['X-Q']\t['it\\'s\\ta\\\\b']\t");
	rc_buf_free(&b);
}

/* ClickHouse's listing of a table made by our own schema, with column
 * `odd` (may be NULL) given type `as` instead. */
static void listing_of(struct rc_buf *out, const char *odd, const char *as)
{
	struct rc_buf s = { 0 };
	rc_ship_schema(&s, "d", "t", false);
	for (const char *line = strchr(s.p, '\n') + 1; strncmp(line, "  ", 2) == 0;
	     line = strchr(line, '\n') + 1) {
		char name[40], type[40];
		REQUIRE(sscanf(line, " %39s %39[A-Za-z0-9()]", name, type) == 2);
		bool swap = odd && strcmp(name, odd) == 0;
		rc_buf_printf(out, "%s\t%s\n", name, swap ? as : type);
	}
	rc_buf_free(&s);
}

static void check_columns(void)
{
	struct rc_buf listing = { 0 };
	char err[256];
	listing_of(&listing, NULL, NULL);
	CHECK_EQ(rc_ship_columns_check(listing.p, listing.len, err, sizeof(err)), 0);
	rc_buf_puts(&listing, "extra\tString\n"); /* a column of the operator's: fine */
	CHECK_EQ(rc_ship_columns_check(listing.p, listing.len, err, sizeof(err)), 0);
	listing.len = 0;
	listing_of(&listing, "status", "Int32");
	CHECK_EQ(rc_ship_columns_check(listing.p, listing.len, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "column status is Int32 in the table, UInt16 in ringcap's rows");
	CHECK_EQ(rc_ship_columns_check("box\tString\n", 11, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "the table has no column session");
	rc_buf_free(&listing);
	struct rc_buf names = { 0 };
	rc_ship_columns(&names);
	CHECK(strncmp(names.p, "box,session,session_name,id,", 28) == 0);
	CHECK(strcmp(names.p + names.len - 8, ",version") == 0);
	rc_buf_free(&names);
	enum rc_ship_format f = RC_SHIP_JSON;
	CHECK_EQ(rc_ship_format_parse("rowbinary", &f), 0);
	CHECK_EQ(f, RC_SHIP_ROWBINARY);
	CHECK_EQ(rc_ship_format_parse("tsv", &f), 0);
	CHECK_EQ(f, RC_SHIP_TSV);
	CHECK_EQ(rc_ship_format_parse("csv", &f), -EINVAL);
	CHECK_STR(rc_ship_format_name(RC_SHIP_ROWBINARY), "RowBinary");
	CHECK_STR(rc_ship_format_name(RC_SHIP_JSON), "JSONEachRow");
}

/* Long on purpose: a list of independent cases, read top to bottom. */
int main(void)
{
	struct ses_meta m = { .id = "1m8zfayfhbgw", .name = "lab \"a\"" };
	struct seg_entry e = { .id = 42, .start_ns = 1764816000123456789ull, .duration_ns = 2500000,
			       .status = 201, .method = SEG_M_POST, .type = SEG_T_JSON,
			       .req_size = 10, .resp_size = 20,
			       .client = { .family = 4, .port = 5555, .addr = { 10, 0, 0, 7 } } };
	char req[] = "POST /u?x=1 HTTP/1.1\r\nHost: api.example\r\nX-A:  b c\r\nbad line\r\n\r\n";
	uint8_t bin[] = { 0xff, 0x00, 0x10 };
	char text[] = "{\"k\":\"v\"}";
	struct seg_exchange x = { .id = 42, .number = 3, .method_text = "POST", .host = "api.example",
				  .url = "http://api.example/u?x=1", .client_name = "pixel7",
				  .port = 80, .http_version = 11,
				  .req_head = (uint8_t *)req, .req_head_len = strlen(req),
				  .body = { (uint8_t *)text, bin }, .body_len = { strlen(text), 3 } };
	struct rc_ship_row_cfg c = { .box = "rack-1", .bodies = true, .body_max = 1 << 20,
				     .version = 7 };
	struct rc_buf b = { 0 };
	rc_ship_row(&b, &c, &m, &e, &x);
	CHECK(!b.oom);
	HAS(b, "{\"box\":\"rack-1\",\"session\":\"1m8zfayfhbgw\",\"session_name\":\"lab \\\"a\\\"\"");
	HAS(b, "\"id\":42,\"number\":3,\"date\":\"2025-12-04\",\"time\":1764816000,\"start_ns\":1764816000123456789");
	HAS(b, "\"duration_ms\":2.500");
	HAS(b, "\"client\":\"10.0.0.7\",\"client_port\":5555,\"client_name\":\"pixel7\"");
	HAS(b, "\"req_header_names\":[\"Host\",\"X-A\"],\"req_header_values\":[\"api.example\",\"b c\"]");
	HAS(b, "\"resp_header_names\":[],\"resp_header_values\":[]");
	HAS(b, "\"req_body\":\"{\\\"k\\\":\\\"v\\\"}\",\"req_body_base64\":0,\"req_body_cut\":0");
	HAS(b, "\"resp_body\":\"/wAQ\",\"resp_body_base64\":1,\"resp_body_cut\":0");
	HAS(b, "\"version\":7}\n");
	CHECK(b.p[b.len - 1] == '\n' && memchr(b.p, '\n', b.len - 1) == NULL);

	b.len = 0;
	c.body_max = 4;
	rc_ship_row(&b, &c, &m, &e, &x);
	HAS(b, "\"req_body\":\"{\\\"k\\\"\",\"req_body_base64\":0,\"req_body_cut\":1");
	b.len = 0;
	c.bodies = false;
	rc_ship_row(&b, &c, &m, &e, &x);
	HAS(b, "\"req_body\":\"\",\"req_body_base64\":0,\"req_body_cut\":0");

	b.len = 0;
	rc_ship_row(&b, &c, &m, &e, NULL);
	HAS(b, "\"method\":\"POST\",\"scheme\":\"http\",\"http_version\":0,\"host\":\"\"");
	HAS(b, "\"error_msg\":\"frames damaged: index fields only\"");
	rc_buf_free(&b);

	/* the client's address: IPv4 written by hand, IPv6 as listings do */
	static const struct { struct seg_addr a; const char *text; } addrs[] = {
		{ { 4, 1, { 0, 0, 0, 0 } }, "\"client\":\"0.0.0.0\"" },
		{ { 4, 1, { 255, 255, 255, 9 } }, "\"client\":\"255.255.255.9\"" },
		{ { 4, 1, { 1, 20, 100, 99 } }, "\"client\":\"1.20.100.99\"" },
		{ { 6, 1, { [15] = 1 } }, "\"client\":\"::1\"" },
		{ { 0, 0, { 0 } }, "\"client\":\"\"" },
	};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct seg_entry e2 = e;
		e2.client = addrs[i].a;
		b.len = 0;
		rc_ship_row(&b, &c, &m, &e2, &x);
		CHECK_MSG(strstr(b.p, addrs[i].text) != NULL, "%s", addrs[i].text);
	}
	/* an RCAPIDX2 entry of an IPv6 client has no address: the exchange's */
	struct seg_entry e6 = e;
	struct seg_exchange x6 = x;
	e6.client = (struct seg_addr){ .family = 6, .port = 1 };
	x6.client = (struct seg_addr){ .family = 6, .port = 1, .addr = { 0x20, 1, [15] = 9 } };
	b.len = 0;
	rc_ship_row(&b, &c, &m, &e6, &x6);
	HAS(b, "\"client\":\"2001::9\"");
	rc_buf_free(&b);

	c.bodies = true;
	c.body_max = 1 << 20;
	check_rowbinary(&c, &m, &e, &x);
	check_tsv(&c, &m, &e, &x);
	check_columns();

	CHECK(rc_ship_ident_ok("exchanges_2"));
	CHECK(rc_ship_ident_ok("_x"));
	CHECK(!rc_ship_ident_ok("2x"));
	CHECK(!rc_ship_ident_ok("a.b"));
	CHECK(!rc_ship_ident_ok("a;drop"));
	CHECK(!rc_ship_ident_ok(""));
	struct rc_buf s = { 0 };
	rc_ship_schema(&s, "d", "t", true);
	CHECK(strstr(s.p, "CREATE DATABASE IF NOT EXISTS d;") == s.p);
	CHECK(strstr(s.p, "ENGINE = ReplacingMergeTree(version)") != NULL);
	rc_buf_free(&s);
	return check_done("ship_row_test");
}
