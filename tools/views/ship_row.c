/*
 * tools/views/ship_row.c - exchanges as ClickHouse rows (ship_row.h).
 *
 * ClickHouse 18.16 (Debian 12) has no DateTime64 and fills an omitted
 * JSONEachRow field with its type's zero, not with the column's DEFAULT:
 * so every column is written on every row, `time` as whole seconds and
 * `start_ns` beside it for the sub-second part.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tools/views/listing.h"
#include "tools/views/ship_row.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Column name, type. The order is the order rc_ship_row writes. */
static const char *const columns[][2] = {
	{ "box", "String" }, { "session", "String" }, { "session_name", "String" },
	{ "id", "UInt64" }, { "number", "UInt32" }, { "date", "Date" }, { "time", "DateTime" }, { "start_ns", "UInt64" },
	{ "duration_ms", "Float64" }, { "method", "String" }, { "scheme", "String" },
	{ "http_version", "UInt8" }, { "host", "String" }, { "port", "UInt16" },
	{ "url", "String" }, { "status", "UInt16" }, { "type", "String" },
	{ "request_size", "UInt64" }, { "response_size", "UInt64" }, { "client", "String" },
	{ "client_port", "UInt16" }, { "client_name", "String" }, { "flags", "UInt32" },
	{ "error", "String" }, { "error_msg", "String" }, { "dns_ms", "Float64" },
	{ "connect_ms", "Float64" }, { "tls_ms", "Float64" }, { "ttfb_ms", "Float64" },
	{ "req_header_names", "Array(String)" }, { "req_header_values", "Array(String)" },
	{ "resp_header_names", "Array(String)" }, { "resp_header_values", "Array(String)" },
	{ "req_body", "String" }, { "req_body_base64", "UInt8" }, { "req_body_cut", "UInt8" },
	{ "resp_body", "String" }, { "resp_body_base64", "UInt8" }, { "resp_body_cut", "UInt8" },
	{ "version", "UInt64" },
};

bool rc_ship_ident_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
		bool digit = *p >= '0' && *p <= '9';
		if (!alpha && !(digit && p != s))
			return false;
	}
	return true;
}

void rc_ship_schema(struct rc_buf *b, const char *db, const char *t, bool with_db)
{
	if (with_db)
		rc_buf_printf(b, "CREATE DATABASE IF NOT EXISTS %s;\n", db);
	rc_buf_printf(b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", db, t);
	size_t n = sizeof(columns) / sizeof(columns[0]);
	for (size_t i = 0; i < n; i++)
		rc_buf_printf(b, "  %s %s%s\n", columns[i][0], columns[i][1], i + 1 < n ? "," : "");
	rc_buf_puts(b, ") ENGINE = ReplacingMergeTree(version)\n"
		       "PARTITION BY toYYYYMM(date)\nORDER BY (box, session, id);\n");
}

static void b64(struct rc_buf *b, const uint8_t *s, size_t n)
{
	char q[4];
	rc_buf_puts(b, "\"");
	for (size_t i = 0; i < n && !b->oom; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		v |= i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0;
		v |= i + 2 < n ? s[i + 2] : 0;
		q[0] = b64_alphabet[v >> 18];
		q[1] = b64_alphabet[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64_alphabet[v & 63] : '=';
		rc_buf_add(b, q, 4);
	}
	rc_buf_puts(b, "\"");
}

/* The header lines of a raw head block (after its first line) as two
 * arrays: "names":[...],"values":[...]. Lines without ':' are skipped. */
static void heads(struct rc_buf *b, const char *names, const char *values, const uint8_t *h,
		  size_t n)
{
	for (int pass = 0; pass < 2; pass++) {
		rc_buf_printf(b, ",\"%s\":[", pass ? values : names);
		size_t i = 0, k = 0;
		while (i < n && h[i] != '\n')
			i++; /* the request or status line */
		for (i++; i < n;) {
			size_t e = i;
			while (e < n && h[e] != '\n')
				e++;
			size_t end = e > i && h[e - 1] == '\r' ? e - 1 : e;
			const uint8_t *colon = memchr(h + i, ':', end - i);
			if (colon != NULL) {
				size_t c = (size_t)(colon - h);
				size_t v = c + 1;
				while (v < end && (h[v] == ' ' || h[v] == '\t'))
					v++;
				rc_buf_puts(b, k++ ? "," : "");
				if (pass == 0)
					rc_buf_jstr(b, (const char *)h + i, c - i);
				else
					rc_buf_jstr(b, (const char *)h + v, end - v);
			}
			i = e + 1;
		}
		rc_buf_puts(b, "]");
	}
}

static void body(struct rc_buf *b, const char *key, const struct rc_ship_row_cfg *c,
		 const struct seg_exchange *x, int dir, uint32_t trunc_flag)
{
	const uint8_t *p = x && c->bodies ? x->body[dir] : NULL;
	size_t n = p ? x->body_len[dir] : 0;
	bool cut = x && ((x->flags & trunc_flag) || x->body_cut[dir]);
	if (n > c->body_max) {
		n = c->body_max;
		cut = true;
	}
	bool text = rc_utf8_valid(p, n);
	rc_buf_printf(b, ",\"%s\":", key);
	if (text)
		rc_buf_jstr(b, (const char *)p, n);
	else
		b64(b, p, n);
	rc_buf_printf(b, ",\"%s_base64\":%d,\"%s_cut\":%d", key, !text, key, cut);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

void rc_ship_row(struct rc_buf *b, const struct rc_ship_row_cfg *c, const struct ses_meta *m,
		 const struct seg_entry *e, const struct seg_exchange *x)
{
	char client[RC_ADDR_TEXT_MAX], date[16];
	time_t sec = (time_t)(e->start_ns / 1000000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	rc_addr_text(&e->client, client, sizeof(client));
	rc_buf_puts(b, "{\"box\":");
	rc_buf_jstr(b, c->box, strlen(c->box));
	rc_buf_puts(b, ",\"session\":");
	rc_buf_jstr(b, m->id, strlen(m->id));
	rc_buf_puts(b, ",\"session_name\":");
	rc_buf_jstr(b, m->name, strlen(m->name));
	rc_buf_printf(b, ",\"id\":%llu,\"number\":%u,\"date\":\"%s\",\"time\":%lld,"
		      "\"start_ns\":%llu,\"duration_ms\":%.3f,\"method\":",
		      (unsigned long long)e->id, x ? x->number : 0, date, (long long)sec,
		      (unsigned long long)e->start_ns, ms(e->duration_ns));
	const char *method = x && x->method_text ? x->method_text : seg_method_name(e->method);
	rc_buf_jstr(b, method, strlen(method));
	static const char *const schemes[] = { "http", "https", "tunnel" };
	uint8_t sch = x && x->scheme < 3 ? x->scheme : (e->flags & SEG_F_TLS) ? 1 : 0;
	rc_buf_printf(b, ",\"scheme\":\"%s\",\"http_version\":%u,\"host\":", schemes[sch],
		      x ? x->http_version : 0);
	if (x && x->host)
		rc_buf_jstr(b, x->host, strlen(x->host));
	else
		rc_buf_puts(b, "\"\"");
	rc_buf_printf(b, ",\"port\":%u,\"url\":", x ? x->port : 0);
	if (x && x->url)
		rc_buf_jstr(b, x->url, strlen(x->url));
	else
		rc_buf_puts(b, "\"\"");
	rc_buf_printf(b, ",\"status\":%u,\"type\":\"%s\",\"request_size\":%llu,"
		      "\"response_size\":%llu,\"client\":\"%s\",\"client_port\":%u,\"client_name\":",
		      e->status, seg_type_name(e->type), (unsigned long long)e->req_size,
		      (unsigned long long)e->resp_size, client, e->client.port);
	const char *cn = x && x->client_name ? x->client_name : "";
	rc_buf_jstr(b, cn, strlen(cn));
	rc_buf_printf(b, ",\"flags\":%u,\"error\":\"%s\",\"error_msg\":", e->flags,
		      seg_error_name(e->error));
	const char *em = x ? (x->err_msg ? x->err_msg : "") : "frames damaged: index fields only";
	rc_buf_jstr(b, em, strlen(em));
	const struct seg_timings *t = x ? &x->t : &(struct seg_timings){ 0 };
	rc_buf_printf(b, ",\"dns_ms\":%.3f,\"connect_ms\":%.3f,\"tls_ms\":%.3f,\"ttfb_ms\":%.3f",
		      ms(t->dns_ns), ms(t->connect_ns), ms(t->tls_ns), ms(t->ttfb_ns));
	heads(b, "req_header_names", "req_header_values", x ? x->req_head : NULL,
	      x ? x->req_head_len : 0);
	heads(b, "resp_header_names", "resp_header_values", x ? x->resp_head : NULL,
	      x ? x->resp_head_len : 0);
	body(b, "req_body", c, x, SEG_DIR_REQ, SEG_F_REQ_TRUNC);
	body(b, "resp_body", c, x, SEG_DIR_RESP, SEG_F_RESP_TRUNC);
	rc_buf_printf(b, ",\"version\":%llu}\n", (unsigned long long)c->version);
}
