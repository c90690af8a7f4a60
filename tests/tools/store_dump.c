/*
 * tests/tools/store_dump.c - a test helper for the capture-store
 * integration tests: dumps every exchange of a session directory in one
 * process, so a test can compare 1,000 exchanges field by field without
 * 2,500 `ringcap show` process starts (each ~10 ms of CPU in the dynamic
 * loader alone). Reads through the same persist/ calls as `ringcap ls` and
 * `ringcap show` (seg_table_load, seg_open_entry); the tests still check a
 * sample through the real CLI.
 *
 *   rc_store_dump SESSION_DIR OUT_DIR
 *
 * stdout: one JSON object per listed exchange (index and record fields);
 * OUT_DIR/ID.q and OUT_DIR/ID.s: the stored request and response bodies.
 * Head bytes >= 0x7f are written as \u00XX (latin-1 code points).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist/query.h"
#include "persist/seg.h"

static void jstr(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int put_file(const char *dir, uint64_t id, const char *ext, const uint8_t *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%llu.%s", dir, (unsigned long long)id, ext);
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	size_t w = n ? fwrite(p, 1, n, f) : 0;
	return fclose(f) == 0 && w == n ? 0 : -1;
}

static void dump(const struct seg_qrow *r, const struct seg_exchange *x)
{
	char ip[INET6_ADDRSTRLEN] = "";
	if (x->client.family == 4 || x->client.family == 6)
		inet_ntop(x->client.family == 4 ? AF_INET : AF_INET6, x->client.addr, ip, sizeof(ip));
	printf("{\"id\":%llu,\"start_ns\":%llu,\"scheme\":%u,\"http_version\":%u,\"method\":\"%s\","
	       "\"method_text\":", (unsigned long long)(x->number ? x->number : x->id),
	       (unsigned long long)x->start_ns,
	       x->scheme, x->http_version, seg_method_name(x->method));
	jstr(x->method_text, strlen(x->method_text));
	printf(",\"host\":");
	jstr(x->host, strlen(x->host));
	printf(",\"url\":");
	jstr(x->url, strlen(x->url));
	printf(",\"index_url\":");
	jstr(r->url, r->e.url_len);
	printf(",\"port\":%u,\"status\":%u,\"index_status\":%u,\"reason\":", x->port, x->status,
	       r->e.status);
	jstr(x->reason ? x->reason : "", x->reason ? strlen(x->reason) : 0);
	printf(",\"type\":\"%s\",\"error\":\"%s\",\"flags\":%u,\"complete\":%s,"
	       "\"client\":\"%s\",\"client_family\":%u,", seg_type_name(x->type),
	       seg_error_name(x->error), x->flags, x->complete ? "true" : "false", ip,
	       x->client.family);
	printf("\"t\":[%llu,%llu,%llu,%llu,%llu],\"wire\":[%llu,%llu,%llu,%llu],",
	       (unsigned long long)x->t.dns_ns, (unsigned long long)x->t.connect_ns,
	       (unsigned long long)x->t.tls_ns, (unsigned long long)x->t.ttfb_ns,
	       (unsigned long long)x->t.total_ns, (unsigned long long)x->wire.req_head,
	       (unsigned long long)x->wire.req_body, (unsigned long long)x->wire.resp_head,
	       (unsigned long long)x->wire.resp_body);
	printf("\"req_size\":%llu,\"resp_size\":%llu,\"duration_ns\":%llu,\"body_len\":[%zu,%zu],"
	       "\"body_cut\":[%s,%s],\"req_head\":", (unsigned long long)r->e.req_size,
	       (unsigned long long)r->e.resp_size, (unsigned long long)r->e.duration_ns,
	       x->body_len[0], x->body_len[1], x->body_cut[0] ? "true" : "false",
	       x->body_cut[1] ? "true" : "false");
	jstr((const char *)x->req_head, x->req_head_len);
	printf(",\"resp_head\":");
	jstr(x->resp_head ? (const char *)x->resp_head : "", x->resp_head_len);
	printf("}\n");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: rc_store_dump SESSION_DIR OUT_DIR\n");
		return 2;
	}
	struct seg_table t = {0};
	struct seg_report rep = {0};
	if (seg_table_load(argv[1], &t, &rep) < 0) {
		fprintf(stderr, "rc_store_dump: cannot load %s\n", argv[1]);
		return 1;
	}
	int rc = 0;
	struct seg_open_opts o = { .body_max = { 64u << 20, 64u << 20 } };
	for (size_t i = 0; i < t.n && rc == 0; i++) {
		struct seg_exchange x;
		if (seg_open_entry(argv[1], &t.rows[i].e, &o, &x) < 0) {
			fprintf(stderr, "rc_store_dump: exchange %llu does not open\n",
				(unsigned long long)t.rows[i].e.id);
			rc = 1;
			break;
		}
		dump(&t.rows[i], &x);
		uint64_t shown = x.number ? x.number : x.id;   /* the id ls shows */
		if (put_file(argv[2], shown, "q", x.body[0], x.body_len[0]) < 0 ||
		    put_file(argv[2], shown, "s", x.body[1], x.body_len[1]) < 0) {
			fprintf(stderr, "rc_store_dump: cannot write into %s\n", argv[2]);
			rc = 1;
		}
		seg_exchange_free(&x);
	}
	seg_table_free(&t);
	return rc;
}
