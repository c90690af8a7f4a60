/*
 * tools/views/listing.c - JSON of sessions and exchanges for the offline commands
 * and the control API (see listing.h). Times are ISO 8601 UTC with
 * milliseconds; durations in ms (exchanges) or s (sessions).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/views/listing.h"
#include "tools/views/messages.h"
#include "tools/views/trailers.h"

void rc_addr_text(const struct seg_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "";
	if (a->family == 4)
		inet_ntop(AF_INET, a->addr, ip, sizeof(ip));
	else if (a->family == 6)
		inet_ntop(AF_INET6, a->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s", ip);
}

void rc_endpoint_text(const struct seg_addr *a, char *buf, size_t len)
{
	char ip[RC_ADDR_TEXT_MAX];
	rc_addr_text(a, ip, sizeof(ip));
	if (a->family != 4 && a->family != 6)
		snprintf(buf, len, "%s", "");
	else if (a->port == 0)
		snprintf(buf, len, "%s", ip);
	else if (a->family == 6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
}

uint64_t rc_row_id(const struct seg_qrow *r)
{
	return r->number ? r->number : r->e.id;
}

uint64_t rc_exchange_id(const struct seg_exchange *x)
{
	return x->number ? x->number : x->id;
}

const struct seg_qrow *rc_row_find(const struct seg_table *t, uint64_t id)
{
	const struct seg_qrow *old = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct seg_qrow *r = &t->rows[i];
		if (r->number == id && id != 0)
			return r;
		if (r->number == 0 && r->e.id == id)
			old = r;
	}
	return old;
}

int rc_exchange_find(const char *session_dir, uint64_t id, struct seg_entry *out)
{
	if (id > UINT32_MAX)
		return seg_find(session_dir, id, out);   /* only a store id is that large */
	int rc = seg_find_number(session_dir, (uint32_t)id, out);
	if (rc != -ENOENT)
		return rc;
	struct seg_entry e;
	rc = seg_find(session_dir, id, &e);   /* a session stored before numbers */
	if (rc == 0 && !(e.flags & SEG_F_STR_EXT)) {
		*out = e;
		return 0;
	}
	if (rc < 0 && rc != -ENOENT)
		return rc;
	/* Not where the index files say: a missing, short or damaged index
	 * or .str. The table load reads what they lack from the segments
	 * (persist/query.c), so whatever ls lists, show opens. */
	struct seg_table t;
	rc = seg_table_load(session_dir, &t, NULL);
	if (rc < 0)
		return rc;
	const struct seg_qrow *r = rc_row_find(&t, id);
	if (r)
		*out = r->e;
	seg_table_free(&t);
	return r ? 0 : -ENOENT;
}

void rc_row_json(struct rc_buf *b, const struct seg_qrow *r)
{
	const struct seg_entry *e = &r->e;
	char t[40], client[RC_ADDR_TEXT_MAX];
	rc_iso_time(e->start_ns, t, sizeof(t));
	rc_addr_text(&e->client, client, sizeof(client));
	rc_buf_printf(b, "{\"id\":%llu,\"time\":\"%s\",\"method\":\"%s\",\"url\":",
		      (unsigned long long)rc_row_id(r), t, seg_method_name(e->method));
	rc_buf_jstr(b, r->url, e->url_len);
	rc_buf_puts(b, ",\"host\":");
	rc_buf_jstr(b, r->host, e->host_len);
	rc_buf_puts(b, ",\"client_name\":");
	rc_buf_jstr(b, r->client_name, r->client_name_len);
	rc_buf_printf(b, ",\"status\":%u,\"type\":\"%s\",\"request_size\":%llu,"
		      "\"response_size\":%llu,\"duration_ms\":%.3f,\"client\":\"%s\","
		      "\"error\":\"%s\",\"truncated\":%s,\"tunnel\":\"%s\","
		      "\"http_version\":\"%s\"}",
		      e->status, seg_type_name(e->type), (unsigned long long)e->req_size,
		      (unsigned long long)e->resp_size, (double)e->duration_ns / 1e6, client,
		      seg_error_name(e->error),
		      (e->flags & (SEG_F_REQ_TRUNC | SEG_F_RESP_TRUNC)) ? "true" : "false",
		      seg_tunnel_name(e->flags), (e->flags & SEG_F_H2) ? "HTTP/2" : "HTTP/1.1");
}

void rc_rows_json(struct rc_buf *b, const struct seg_table *t, const struct seg_result *res)
{
	rc_buf_puts(b, "[");
	for (size_t k = 0; k < res->n && !b->oom; k++) {
		if (k)
			rc_buf_puts(b, ",");
		rc_row_json(b, &t->rows[res->idx[k]]);
	}
	rc_buf_puts(b, "]");
}

void rc_exchange_json(struct rc_buf *b, const struct seg_exchange *x)
{
	char t[40], client[RC_ADDR_TEXT_MAX], server[RC_ENDPOINT_TEXT_MAX];
	rc_iso_time(x->start_ns, t, sizeof(t));
	rc_addr_text(&x->client, client, sizeof(client));
	rc_endpoint_text(&x->server, server, sizeof(server));
	rc_buf_printf(b, "{\"id\":%llu,\"time\":\"%s\",\"method\":",
		      (unsigned long long)rc_exchange_id(x), t);
	rc_buf_jstr(b, x->method_text, strlen(x->method_text));
	rc_buf_puts(b, ",\"url\":");
	rc_buf_jstr(b, x->url, strlen(x->url));
	rc_buf_puts(b, ",\"host\":");
	rc_buf_jstr(b, x->host, strlen(x->host));
	rc_buf_puts(b, ",\"client_name\":");   /* --identify-by auth; "" when none */
	rc_buf_jstr(b, x->client_name ? x->client_name : "",
		    x->client_name ? strlen(x->client_name) : 0);
	/* tunnel: what a CONNECT was (seg_tunnel_name), "" for other requests */
	/* server: the upstream address connected to, "" when unknown */
	rc_buf_printf(b, ",\"status\":%u,\"type\":\"%s\",\"client\":\"%s\",\"server\":\"%s\","
		      "\"error\":\"%s\",\"tunnel\":\"%s\",\"http_version\":\"%s\",\"request_head\":",
		      x->status, seg_type_name(x->type), client, server, seg_error_name(x->error),
		      seg_tunnel_name(x->flags), x->http_version == 20 ? "HTTP/2"
		      : x->http_version == 10 ? "HTTP/1.0" : "HTTP/1.1");
	rc_buf_jstr(b, (const char *)x->req_head, x->req_head_len);
	rc_buf_puts(b, ",\"response_head\":");
	rc_buf_jstr(b, (const char *)x->resp_head, x->resp_head_len);
	rc_buf_printf(b, ",\"request_body_bytes\":%zu,\"response_body_bytes\":%zu,"
		      "\"responses_saved\":%s,\"cookies_saved\":%s,\"truncated\":%s,"
		      "\"timings_ms\":{\"dns\":%.3f,\"connect\":%.3f,\"first_byte\":%.3f,"
		      "\"total\":%.3f}",
		      x->body_len[0], x->body_len[1],
		      (x->flags & SEG_F_NO_RESP) ? "false" : "true",
		      (x->flags & SEG_F_COOKIES) ? "true" : "false",
		      (x->flags & (SEG_F_REQ_TRUNC | SEG_F_RESP_TRUNC)) ? "true" : "false",
		      (double)x->t.dns_ns / 1e6, (double)x->t.connect_ns / 1e6,
		      (double)x->t.ttfb_ns / 1e6, (double)x->t.total_ns / 1e6);
	rc_trailers_json(b, x);   /* only when it has some (views/trailers.h) */
	if (x->nmsgs || x->msgs_cut) {   /* WebSocket messages (views/messages.h) */
		rc_buf_puts(b, ",\"messages\":");
		rc_msgs_json(b, x);
		rc_buf_printf(b, ",\"messages_more\":%s", x->msgs_cut ? "true" : "false");
	}
	rc_buf_puts(b, "}");
}

double rc_session_duration_s(const struct ses_meta *m)
{
	uint64_t end = m->stop_ns;
	if (end == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		end = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	return end > m->start_ns ? (double)(end - m->start_ns) / 1e9 : 0.0;
}

void rc_session_json(struct rc_buf *b, const struct ses_meta *m, const struct ses_stats *st,
		     const struct rc_clients *c)
{
	char start[40], stop[40] = "";
	rc_iso_time(m->start_ns, start, sizeof(start));
	if (m->stop_ns)
		rc_iso_time(m->stop_ns, stop, sizeof(stop));
	rc_buf_printf(b, "{\"id\":\"%s\",\"name\":", m->id);
	rc_buf_jstr(b, m->name, strlen(m->name));
	rc_buf_printf(b, ",\"state\":\"%s\",\"start\":\"%s\",\"stop\":%s%s%s,"
		      "\"duration_s\":%.3f,\"exchanges\":%llu,\"bytes\":%llu,"
		      "\"settings\":{\"save_responses\":%s,\"capture_cookies\":%s,"
		      "\"max_body\":%llu,\"filter\":",
		      ses_state_name(m->state), start, stop[0] ? "\"" : "",
		      stop[0] ? stop : "null", stop[0] ? "\"" : "", rc_session_duration_s(m),
		      (unsigned long long)st->exchanges, (unsigned long long)st->bytes,
		      m->settings.save_responses ? "true" : "false",
		      m->settings.capture_cookies ? "true" : "false",
		      (unsigned long long)m->settings.max_body);
	rc_buf_jstr(b, m->settings.filter, strlen(m->settings.filter));
	rc_buf_puts(b, "}");
	if (c) {
		rc_buf_puts(b, ",\"clients\":[");
		for (size_t i = 0; i < c->n; i++) {
			rc_buf_puts(b, i ? "," : "");
			rc_buf_jstr(b, c->addr[i], strlen(c->addr[i]));
		}
		rc_buf_printf(b, "],\"clients_more\":%s", c->more ? "true" : "false");
	}
	rc_buf_puts(b, "}");
}

/* A client by its name (--identify-by auth) when it has one, else its
 * address: the value `--client` and the API's "clients" filter take. */
void rc_clients_add(struct rc_clients *c, const struct seg_qrow *r)
{
	char a[RC_CLIENT_TEXT_MAX];
	if (r->client_name_len && r->client_name_len < sizeof(a))
		snprintf(a, sizeof(a), "%.*s", (int)r->client_name_len, r->client_name);
	else
		rc_addr_text(&r->e.client, a, sizeof(a));
	if (a[0] == '\0')
		return;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->addr[i], a) == 0)
			return;
	if (c->n == RC_CLIENTS_MAX) {
		c->more = true;
		return;
	}
	memcpy(c->addr[c->n++], a, sizeof(a));
}

int rc_session_clients(const char *session_dir, struct rc_clients *out)
{
	out->n = 0;
	out->more = false;
	struct seg_table t = {0};
	int rc = seg_table_load(session_dir, &t, NULL);
	for (size_t i = 0; rc == 0 && i < t.n; i++)
		if (!(t.rows[i].e.flags & SEG_F_DELETED))
			rc_clients_add(out, &t.rows[i]);
	seg_table_free(&t);
	return rc;
}

int rc_query_param(struct seg_query *q, const char *key, const char *val, char *err,
		   size_t errlen)
{
	if (strcmp(key, "reverse") == 0) {
		if (val == NULL || !strcmp(val, "") || !strcmp(val, "1") || !strcmp(val, "true"))
			q->reverse = true;
		else if (!strcmp(val, "0") || !strcmp(val, "false"))
			q->reverse = false;
		else
			return snprintf(err, errlen, "reverse '%s': true or false", val), -EINVAL;
		return 0;
	}
	if (strcmp(key, "sort") == 0) {
		int s = seg_sort_parse(val ? val : "");
		if (s < 0)
			return snprintf(err, errlen, "sort '%s': one of time, status, method, url, "
					"host, type, size, duration", val ? val : ""), -EINVAL;
		q->sort = (uint8_t)s;
		return 0;
	}
	if (strcmp(key, "search") == 0) {
		q->search = val;
		return 0;
	}
	if (strcmp(key, "limit") != 0 && strcmp(key, "offset") != 0)
		return -ENOENT;
	char *end;
	errno = 0;
	unsigned long long n = val ? strtoull(val, &end, 10) : 0;
	if (val == NULL || *val == '\0' || *val == '-' || *end != '\0' || errno)
		return snprintf(err, errlen, "%s '%s' is not a number", key, val ? val : ""), -EINVAL;
	if (key[0] == 'l')
		q->limit = (size_t)n;
	else
		q->offset = (size_t)n;
	return 0;
}

int rc_list_session(const char *session_dir, const struct seg_query *q, struct rc_buf *b,
		    size_t *total, uint64_t *damaged)
{
	struct seg_table t = {0};
	struct seg_report rep = {0};
	struct seg_result res = {0};
	int rc = seg_table_load(session_dir, &t, &rep);
	if (rc == 0)
		rc = seg_query_run(&t, q, &res);
	if (rc == 0) {
		rc_rows_json(b, &t, &res);
		*total = res.total;
		uint64_t d = rep.entries_bad + rep.indexes_healed + rep.strings_bad +
			     rep.strings_recovered + rep.bad_regions + (rep.torn_bytes > 0);
		*damaged = seg_report_damaged(&rep) ? (d ? d : 1) : 0;
		rc = b->oom ? -ENOMEM : 0;
	}
	seg_result_free(&res);
	seg_table_free(&t);
	return rc;
}
