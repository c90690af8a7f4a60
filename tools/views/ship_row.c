/*
 * tools/views/ship_row.c - exchanges as ClickHouse rows (ship_row.h).
 *
 * A row is first gathered into one cell per column (pointers into the
 * exchange, numbers; nothing copied, nothing allocated), then one encoder
 * per format writes the cells straight into the batch buffer: no printf
 * (it was 40% of the shipper's CPU at 125k rows/s), integers and
 * milliseconds by hand, string escapes by runs.
 *
 * ClickHouse 18.16 (Debian 12) has no DateTime64 and fills an omitted
 * JSONEachRow field with its type's zero, not with the column's DEFAULT:
 * so every column is written on every row, `time` as whole seconds and
 * `start_ns` beside it for the sub-second part. Milliseconds carry three
 * decimals in every format (whole microseconds, rounded), so a value reads
 * back the same whichever format shipped it.
 *
 * RowBinary (18.16, the serializeBinary of DataTypes/): integers little-endian
 * in their width, Float64 as its 8 IEEE bytes, Date a UInt16 of days since
 * 1970-01-01, DateTime a UInt32 of seconds, String a LEB128 length then
 * the bytes, Array a LEB128 count then each element.
 * TabSeparated: \\ \t \n \r \0 \b \f and ' escaped by a backslash; an
 * array is its text form ['a','b'] with the same escapes inside quotes;
 * a DateTime may be given as Unix seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/views/listing.h"
#include "tools/views/ship_row.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "RowBinary is little-endian: the encoder copies integers as they lie");

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* How a column's value is held and written. */
enum col_type {
	T_STR,    /* bytes */
	T_U8, T_U16, T_U32, T_U64,
	T_MS,     /* Float64 milliseconds from v nanoseconds, three decimals */
	T_DATE,   /* Date from v seconds */
	T_TIME,   /* DateTime from v seconds */
	T_NAMES,  /* Array(String): the header names of the raw head s[0..n) */
	T_VALUES, /* Array(String): its header values */
	T_BODY,   /* String: bytes, as base64 when b64 */
};

enum col {
	K_BOX, K_SESSION, K_SESSION_NAME, K_ID, K_NUMBER, K_DATE, K_TIME, K_START_NS,
	K_DURATION, K_METHOD, K_SCHEME, K_HTTP_VERSION, K_HOST, K_PORT, K_URL, K_STATUS,
	K_TYPE, K_REQ_SIZE, K_RESP_SIZE, K_CLIENT, K_CLIENT_PORT, K_CLIENT_NAME, K_FLAGS,
	K_ERROR, K_ERROR_MSG, K_DNS, K_CONNECT, K_TLS, K_TTFB, K_REQ_NAMES, K_REQ_VALUES,
	K_RESP_NAMES, K_RESP_VALUES, K_REQ_BODY, K_REQ_B64, K_REQ_CUT, K_RESP_BODY,
	K_RESP_B64, K_RESP_CUT, K_VERSION, K_NCOLS
};

struct column {
	const char *name, *sql;
	enum col_type t;
};

/* Name, ClickHouse type, how it is written. Rows follow this order. */
static const struct column columns[K_NCOLS] = {
	[K_BOX] = { "box", "String", T_STR },
	[K_SESSION] = { "session", "String", T_STR },
	[K_SESSION_NAME] = { "session_name", "String", T_STR },
	[K_ID] = { "id", "UInt64", T_U64 },
	[K_NUMBER] = { "number", "UInt32", T_U32 },
	[K_DATE] = { "date", "Date", T_DATE },
	[K_TIME] = { "time", "DateTime", T_TIME },
	[K_START_NS] = { "start_ns", "UInt64", T_U64 },
	[K_DURATION] = { "duration_ms", "Float64", T_MS },
	[K_METHOD] = { "method", "String", T_STR },
	[K_SCHEME] = { "scheme", "String", T_STR },
	[K_HTTP_VERSION] = { "http_version", "UInt8", T_U8 },
	[K_HOST] = { "host", "String", T_STR },
	[K_PORT] = { "port", "UInt16", T_U16 },
	[K_URL] = { "url", "String", T_STR },
	[K_STATUS] = { "status", "UInt16", T_U16 },
	[K_TYPE] = { "type", "String", T_STR },
	[K_REQ_SIZE] = { "request_size", "UInt64", T_U64 },
	[K_RESP_SIZE] = { "response_size", "UInt64", T_U64 },
	[K_CLIENT] = { "client", "String", T_STR },
	[K_CLIENT_PORT] = { "client_port", "UInt16", T_U16 },
	[K_CLIENT_NAME] = { "client_name", "String", T_STR },
	[K_FLAGS] = { "flags", "UInt32", T_U32 },
	[K_ERROR] = { "error", "String", T_STR },
	[K_ERROR_MSG] = { "error_msg", "String", T_STR },
	[K_DNS] = { "dns_ms", "Float64", T_MS },
	[K_CONNECT] = { "connect_ms", "Float64", T_MS },
	[K_TLS] = { "tls_ms", "Float64", T_MS },
	[K_TTFB] = { "ttfb_ms", "Float64", T_MS },
	[K_REQ_NAMES] = { "req_header_names", "Array(String)", T_NAMES },
	[K_REQ_VALUES] = { "req_header_values", "Array(String)", T_VALUES },
	[K_RESP_NAMES] = { "resp_header_names", "Array(String)", T_NAMES },
	[K_RESP_VALUES] = { "resp_header_values", "Array(String)", T_VALUES },
	[K_REQ_BODY] = { "req_body", "String", T_BODY },
	[K_REQ_B64] = { "req_body_base64", "UInt8", T_U8 },
	[K_REQ_CUT] = { "req_body_cut", "UInt8", T_U8 },
	[K_RESP_BODY] = { "resp_body", "String", T_BODY },
	[K_RESP_B64] = { "resp_body_base64", "UInt8", T_U8 },
	[K_RESP_CUT] = { "resp_body_cut", "UInt8", T_U8 },
	[K_VERSION] = { "version", "UInt64", T_U64 },
};

/* One column's value: s/n for bytes and heads, v for numbers. */
struct cell {
	const char *s;
	size_t n;
	uint64_t v;
	bool b64;
};

/* ---- writing into the buffer ---- */

/* Appends n bytes: a plain copy while they fit, rc_buf's growth else. */
static inline void put(struct rc_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len > n && n > 0) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
		b->p[b->len] = '\0';
	} else if (n > 0) {
		rc_buf_add(b, p, n);
	}
}

static inline void put_c(struct rc_buf *b, char c)
{
	put(b, &c, 1);
}

static void put_u64(struct rc_buf *b, uint64_t v)
{
	char t[20];
	int i = 20;
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, t + i, (size_t)(20 - i));
}

/* Rounded whole microseconds of ns: the three decimals of milliseconds. */
static uint64_t us_of(uint64_t ns)
{
	return ns / 1000 + (ns % 1000 >= 500);
}

static void put_ms(struct rc_buf *b, uint64_t ns)
{
	uint64_t us = us_of(ns);
	char f[4] = { '.', (char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
		      (char)('0' + us % 10) };
	put_u64(b, us / 1000);
	put(b, f, 4);
}

/* "YYYY-MM-DD" of Unix seconds (days to civil date, H. Hinnant's method). */
static void put_date(struct rc_buf *b, uint64_t secs)
{
	int64_t z = (int64_t)(secs / 86400) + 719468;
	int64_t era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	char t[10] = { (char)('0' + y / 1000 % 10), (char)('0' + y / 100 % 10),
		       (char)('0' + y / 10 % 10), (char)('0' + y % 10), '-',
		       (char)('0' + m / 10), (char)('0' + m % 10), '-',
		       (char)('0' + d / 10), (char)('0' + d % 10) };
	put(b, t, sizeof(t));
}

static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

static void put_b64(struct rc_buf *b, const uint8_t *s, size_t n)
{
	char q[4];
	for (size_t i = 0; i < n && !b->oom; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		v |= i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0;
		v |= i + 2 < n ? s[i + 2] : 0;
		q[0] = b64_alphabet[v >> 18];
		q[1] = b64_alphabet[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64_alphabet[v & 63] : '=';
		put(b, q, 4);
	}
}

/* ---- heads: the header lines of a raw head block, after its first line ---- */

/* The next "Name: value" line from *pos on (the first call skips the
 * request or status line: *pos == 0). Lines without ':' are skipped.
 * true with the name and value (leading blanks of the value dropped). */
static bool next_header(const char *h, size_t n, size_t *pos, const char **name, size_t *nl,
			const char **val, size_t *vl)
{
	size_t i = *pos;
	if (i == 0) {
		const char *lf = h ? memchr(h, '\n', n) : NULL;
		i = lf ? (size_t)(lf - h) + 1 : n;
	}
	while (i < n) {
		const char *lf = memchr(h + i, '\n', n - i);
		size_t e = lf ? (size_t)(lf - h) : n;
		size_t end = e > i && h[e - 1] == '\r' ? e - 1 : e;
		const char *colon = memchr(h + i, ':', end - i);
		size_t line = i;
		i = e + 1;
		if (colon == NULL)
			continue;
		size_t v = (size_t)(colon - h) + 1;
		while (v < end && (h[v] == ' ' || h[v] == '\t'))
			v++;
		*name = h + line;
		*nl = (size_t)(colon - h) - line;
		*val = h + v;
		*vl = end - v;
		*pos = i;
		return true;
	}
	*pos = n + 1;
	return false;
}

static size_t header_count(const char *h, size_t n)
{
	size_t pos = 0, k = 0, nl, vl;
	const char *a, *v;
	while (k < n && next_header(h, n, &pos, &a, &nl, &v, &vl))
		k++;
	return k;
}

/* ---- gathering a row ---- */

static struct cell str(const char *s)
{
	return (struct cell){ .s = s ? s : "", .n = s ? strlen(s) : 0 };
}

static struct cell num(uint64_t v)
{
	return (struct cell){ .v = v };
}

static void body_cells(struct cell *out, const struct rc_ship_row_cfg *c,
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
	out[0] = (struct cell){ .s = p ? (const char *)p : "", .n = n, .b64 = !text };
	out[1] = num(!text);
	out[2] = num(cut);
}

static void gather(struct cell *k, const struct rc_ship_row_cfg *c, const struct ses_meta *m,
		   const struct seg_entry *e, const struct seg_exchange *x, const char *client)
{
	static const char *const schemes[] = { "http", "https", "tunnel" };
	static const struct seg_timings none;
	const struct seg_timings *t = x ? &x->t : &none;
	uint8_t sch = x && x->scheme < 3 ? x->scheme : (e->flags & SEG_F_TLS) ? 1 : 0;
	uint64_t sec = e->start_ns / 1000000000u;
	k[K_BOX] = str(c->box);
	k[K_SESSION] = str(m->id);
	k[K_SESSION_NAME] = str(m->name);
	k[K_ID] = num(e->id);
	k[K_NUMBER] = num(x ? x->number : 0);
	k[K_DATE] = num(sec);
	k[K_TIME] = num(sec);
	k[K_START_NS] = num(e->start_ns);
	k[K_DURATION] = num(e->duration_ns);
	k[K_METHOD] = str(x && x->method_text ? x->method_text : seg_method_name(e->method));
	k[K_SCHEME] = str(schemes[sch]);
	k[K_HTTP_VERSION] = num(x ? x->http_version : 0);
	k[K_HOST] = str(x ? x->host : NULL);
	k[K_PORT] = num(x ? x->port : 0);
	k[K_URL] = str(x ? x->url : NULL);
	k[K_STATUS] = num(e->status);
	k[K_TYPE] = str(seg_type_name(e->type));
	k[K_REQ_SIZE] = num(e->req_size);
	k[K_RESP_SIZE] = num(e->resp_size);
	k[K_CLIENT] = str(client);
	k[K_CLIENT_PORT] = num(e->client.port);
	k[K_CLIENT_NAME] = str(x ? x->client_name : NULL);
	k[K_FLAGS] = num(e->flags);
	k[K_ERROR] = str(seg_error_name(e->error));
	k[K_ERROR_MSG] = str(x ? x->err_msg : "frames damaged: index fields only");
	k[K_DNS] = num(t->dns_ns);
	k[K_CONNECT] = num(t->connect_ns);
	k[K_TLS] = num(t->tls_ns);
	k[K_TTFB] = num(t->ttfb_ns);
	k[K_REQ_NAMES] = k[K_REQ_VALUES] = (struct cell){
		.s = x ? (const char *)x->req_head : NULL, .n = x ? x->req_head_len : 0 };
	k[K_RESP_NAMES] = k[K_RESP_VALUES] = (struct cell){
		.s = x ? (const char *)x->resp_head : NULL, .n = x ? x->resp_head_len : 0 };
	body_cells(&k[K_REQ_BODY], c, x, SEG_DIR_REQ, SEG_F_REQ_TRUNC);
	body_cells(&k[K_RESP_BODY], c, x, SEG_DIR_RESP, SEG_F_RESP_TRUNC);
	k[K_VERSION] = num(c->version);
}

/* ---- JSONEachRow ---- */

static void json_heads(struct rc_buf *b, const struct cell *k, bool values)
{
	size_t pos = 0, nl, vl;
	const char *a, *v;
	put_c(b, '[');
	for (size_t i = 0; i < k->n && next_header(k->s, k->n, &pos, &a, &nl, &v, &vl); i++) {
		if (i)
			put_c(b, ',');
		rc_buf_jstr(b, values ? v : a, values ? vl : nl);
	}
	put_c(b, ']');
}

static void json_row(struct rc_buf *b, const struct cell *k)
{
	for (int i = 0; i < K_NCOLS; i++) {
		put(b, i ? ",\"" : "{\"", 2);
		put(b, columns[i].name, strlen(columns[i].name));
		put(b, "\":", 2);
		switch (columns[i].t) {
		case T_STR: rc_buf_jstr(b, k[i].s, k[i].n); break;
		case T_MS: put_ms(b, k[i].v); break;
		case T_DATE: put_c(b, '"'); put_date(b, k[i].v); put_c(b, '"'); break;
		case T_NAMES: json_heads(b, &k[i], false); break;
		case T_VALUES: json_heads(b, &k[i], true); break;
		case T_BODY:
			if (!k[i].b64) {
				rc_buf_jstr(b, k[i].s, k[i].n);
				break;
			}
			put_c(b, '"');
			put_b64(b, (const uint8_t *)k[i].s, k[i].n);
			put_c(b, '"');
			break;
		default: put_u64(b, k[i].v); break;
		}
	}
	put(b, "}\n", 2);
}

/* ---- TabSeparated ---- */

/* s[0..n) escaped for TabSeparated (the same escapes serve inside an
 * array's quotes). */
static void tsv_str(struct rc_buf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && s[run] != '\\' && s[run] != '\t' && s[run] != '\n' &&
		       s[run] != '\r' && s[run] != '\'' && s[run] != '\0' && s[run] != '\b' &&
		       s[run] != '\f')
			run++;
		put(b, s + i, run - i);
		if (run == n)
			break;
		char c = s[run];
		char esc[2] = { '\\', c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' :
				      c == '\0' ? '0' : c == '\b' ? 'b' : c == '\f' ? 'f' : c };
		put(b, esc, 2);
		i = run + 1;
	}
}

static void tsv_heads(struct rc_buf *b, const struct cell *k, bool values)
{
	size_t pos = 0, nl, vl;
	const char *a, *v;
	put_c(b, '[');
	for (size_t i = 0; i < k->n && next_header(k->s, k->n, &pos, &a, &nl, &v, &vl); i++) {
		put(b, i ? ",'" : "'", i ? 2 : 1);
		tsv_str(b, values ? v : a, values ? vl : nl);
		put_c(b, '\'');
	}
	put_c(b, ']');
}

static void tsv_row(struct rc_buf *b, const struct cell *k)
{
	for (int i = 0; i < K_NCOLS; i++) {
		if (i)
			put_c(b, '\t');
		switch (columns[i].t) {
		case T_STR: tsv_str(b, k[i].s, k[i].n); break;
		case T_MS: put_ms(b, k[i].v); break;
		case T_DATE: put_date(b, k[i].v); break;
		case T_NAMES: tsv_heads(b, &k[i], false); break;
		case T_VALUES: tsv_heads(b, &k[i], true); break;
		case T_BODY:
			if (k[i].b64)
				put_b64(b, (const uint8_t *)k[i].s, k[i].n);
			else
				tsv_str(b, k[i].s, k[i].n);
			break;
		default: put_u64(b, k[i].v); break;
		}
	}
	put_c(b, '\n');
}

/* ---- RowBinary ---- */

static void put_leb(struct rc_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		t[n++] |= v ? 0x80 : 0;
	} while (v);
	put(b, t, n);
}

static void bin_heads(struct rc_buf *b, const struct cell *k, bool values)
{
	size_t pos = 0, nl, vl, count = header_count(k->s, k->n);
	const char *a, *v;
	put_leb(b, count);
	for (size_t i = 0; i < count && next_header(k->s, k->n, &pos, &a, &nl, &v, &vl); i++) {
		put_leb(b, values ? vl : nl);
		put(b, values ? v : a, values ? vl : nl);
	}
}

static void bin_row(struct rc_buf *b, const struct cell *k)
{
	for (int i = 0; i < K_NCOLS; i++) {
		uint64_t v = k[i].v;
		switch (columns[i].t) {
		case T_STR: put_leb(b, k[i].n); put(b, k[i].s, k[i].n); break;
		case T_U8: put(b, &v, 1); break;
		case T_U16: put(b, &v, 2); break;
		case T_U32: put(b, &v, 4); break;
		case T_U64: put(b, &v, 8); break;
		case T_MS: {
			double d = (double)us_of(v) / 1000.0;
			put(b, &d, 8);
			break;
		}
		case T_DATE: v /= 86400; put(b, &v, 2); break;
		case T_TIME: put(b, &v, 4); break;
		case T_NAMES: bin_heads(b, &k[i], false); break;
		case T_VALUES: bin_heads(b, &k[i], true); break;
		case T_BODY:
			put_leb(b, k[i].b64 ? b64_len(k[i].n) : k[i].n);
			if (k[i].b64)
				put_b64(b, (const uint8_t *)k[i].s, k[i].n);
			else
				put(b, k[i].s, k[i].n);
			break;
		}
	}
}

/* The client's address as text: IPv4 by hand (snprintf and inet_ntop
 * were a tenth of the shipper's CPU), anything else as listings write it. */
static void addr_text(const struct seg_addr *a, char *buf, size_t cap)
{
	if (a->family != 4 || cap < 16) {
		rc_addr_text(a, buf, cap);
		return;
	}
	char *p = buf;
	for (int i = 0; i < 4; i++) {
		unsigned v = a->addr[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

/* ---- public ---- */

void rc_ship_row(struct rc_buf *b, const struct rc_ship_row_cfg *c, const struct ses_meta *m,
		 const struct seg_entry *e, const struct seg_exchange *x)
{
	char client[RC_ADDR_TEXT_MAX];
	struct cell k[K_NCOLS];
	/* an RCAPIDX2 entry has no room for an IPv6 client's address: the
	 * exchange, when opened, has it (persist/segment.c) */
	bool v6 = x && e->client.family == 6 && x->client.family == 6;
	addr_text(v6 ? &x->client : &e->client, client, sizeof(client));
	gather(k, c, m, e, x, client);
	switch (c->format) {
	case RC_SHIP_TSV: tsv_row(b, k); break;
	case RC_SHIP_ROWBINARY: bin_row(b, k); break;
	default: json_row(b, k); break;
	}
}

int rc_ship_format_parse(const char *s, enum rc_ship_format *out)
{
	static const char *const names[] = { "json", "tsv", "rowbinary" };
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum rc_ship_format)i;
			return 0;
		}
	return -EINVAL;
}

const char *rc_ship_format_name(enum rc_ship_format f)
{
	return f == RC_SHIP_TSV ? "TabSeparated" : f == RC_SHIP_ROWBINARY ? "RowBinary"
									  : "JSONEachRow";
}

void rc_ship_columns(struct rc_buf *b)
{
	for (int i = 0; i < K_NCOLS; i++) {
		if (i)
			put_c(b, ',');
		rc_buf_puts(b, columns[i].name);
	}
}

int rc_ship_columns_check(const char *listing, size_t len, char *err, size_t errlen)
{
	for (int i = 0; i < K_NCOLS; i++) {
		size_t nl = strlen(columns[i].name);
		const char *type = NULL;
		for (size_t p = 0; p < len && type == NULL;) {
			const char *lf = memchr(listing + p, '\n', len - p);
			size_t e = lf ? (size_t)(lf - listing) : len;
			if (e - p > nl && listing[p + nl] == '\t' &&
			    memcmp(listing + p, columns[i].name, nl) == 0)
				type = listing + p + nl + 1;
			else
				p = e + 1;
		}
		size_t tl = type ? strcspn(type, "\n") : 0;
		if (type == NULL) {
			snprintf(err, errlen, "the table has no column %s", columns[i].name);
			return -EINVAL;
		}
		if (tl != strlen(columns[i].sql) || memcmp(type, columns[i].sql, tl) != 0) {
			snprintf(err, errlen, "column %s is %.*s in the table, %s in ringcap's rows",
				 columns[i].name, (int)tl, type, columns[i].sql);
			return -EINVAL;
		}
	}
	return 0;
}

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
	for (int i = 0; i < K_NCOLS; i++)
		rc_buf_printf(b, "  %s %s%s\n", columns[i].name, columns[i].sql,
			      i + 1 < K_NCOLS ? "," : "");
	rc_buf_puts(b, ") ENGINE = ReplacingMergeTree(version)\n"
		       "PARTITION BY toYYYYMM(date)\nORDER BY (box, session, id);\n");
}
