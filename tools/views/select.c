/*
 * tools/views/select.c - which rows a listing shows (see select.h): hidden
 * tunnel rows, the search over heads and bodies (gzip and deflate bodies
 * searched decoded, coding.h), the query-time filter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/lib/rc-limits.h"
#include "tools/views/coding.h"
#include "tools/views/filter.h"
#include "tools/views/select.h"

/* One client connection (address and port) and a start time. */
struct conn_key {
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
	uint64_t start_ns;
};

static int key_cmp(const struct conn_key *a, const struct conn_key *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	int c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->start_ns < b->start_ns ? -1 : a->start_ns > b->start_ns;
}

static int key_qcmp(const void *a, const void *b) { return key_cmp(a, b); }

static struct conn_key key_of(const struct seg_qrow *r)
{
	struct conn_key k = { .family = r->e.client.family, .port = r->e.client.port,
			      .start_ns = r->e.start_ns };
	memcpy(k.addr, r->e.client.addr, sizeof(k.addr));
	return k;
}

/* True when keys[0..n) (sorted) holds the connection of c at or after its
 * start: the first key not below c has the same connection. */
static bool carried_https(const struct conn_key *keys, size_t n, const struct conn_key *c)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(&keys[mid], c) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n)
		return false;
	const struct conn_key *k = &keys[lo];
	return k->family == c->family && k->port == c->port &&
	       memcmp(k->addr, c->addr, sizeof(k->addr)) == 0;
}

int rc_select_hide_tunnels(struct rc_select *s)
{
	const struct seg_table *t = s->t;
	size_t n = 0;
	struct conn_key *keys = malloc((t->n ? t->n : 1) * sizeof(*keys));
	s->hide = calloc(t->n ? t->n : 1, 1);
	if (keys == NULL || s->hide == NULL) {
		free(keys);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++)
		if ((t->rows[i].e.flags & SEG_F_TLS) && t->rows[i].e.method != SEG_M_CONNECT)
			keys[n++] = key_of(&t->rows[i]);
	qsort(keys, n, sizeof(*keys), key_qcmp);
	s->hidden = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->rows[i].e.method != SEG_M_CONNECT)
			continue;
		unsigned kind = seg_tunnel_of(t->rows[i].e.flags);
		if (kind != SEG_TUN_UNKNOWN) {   /* recorded: no need to infer */
			s->hide[i] = kind == SEG_TUN_INTERCEPTED;
			s->hidden += s->hide[i];
			continue;
		}
		struct conn_key c = key_of(&t->rows[i]);
		if (carried_https(keys, n, &c)) {
			s->hide[i] = 1;
			s->hidden++;
		}
	}
	free(keys);
	return 0;
}

void rc_select_query(struct rc_select *s, struct seg_query *q)
{
	if (s->bodies && q->search && q->search[0]) {
		s->search = q->search;
		q->search = NULL;
	}
	if (s->filter)
		s->filter->session_dir = s->session_dir;   /* heads it reads */
	q->match = rc_select_row;
	q->match_ctx = s;
}

/* Case-insensitive memmem (ASCII). */
static bool contains(const uint8_t *h, size_t hn, const char *needle, size_t nn)
{
	if (nn == 0)
		return true;
	for (size_t i = 0; i + nn <= hn; i++)
		if (strncasecmp((const char *)h + i, needle, nn) == 0)
			return true;
	return false;
}

/* One direction's body holds the needle: as stored, or once its
 * Content-Encoding (gzip, deflate) is undone, as `ringcap show` prints it. */
static bool body_contains(const struct seg_exchange *x, enum seg_dir d, const char *needle,
			  size_t nn)
{
	if (contains(x->body[d], x->body_len[d], needle, nn))
		return true;
	size_t cel;
	const char *ce = d == SEG_DIR_REQ ? rc_content_coding(x->req_head, x->req_head_len, &cel)
					  : rc_content_coding(x->resp_head, x->resp_head_len, &cel);
	uint8_t *dec;
	bool cut;
	if (ce == NULL || x->body_len[d] == 0)
		return false;
	long m = rc_body_decode(ce, cel, x->body[d], x->body_len[d], RC_SEARCH_BODY_MAX, &dec,
				&cut);
	bool hit = m > 0 && contains(dec, (size_t)m, needle, nn);
	free(dec);
	return hit;
}

bool rc_exchange_contains(const char *session_dir, const struct seg_qrow *r,
			  const char *needle)
{
	struct seg_open_opts o = { .body_max = { RC_SEARCH_BODY_MAX, RC_SEARCH_BODY_MAX } };
	struct seg_exchange x;
	if (seg_open_entry(session_dir, &r->e, &o, &x) < 0)
		return false;
	size_t nn = strlen(needle);
	bool hit = contains(x.req_head, x.req_head_len, needle, nn) ||
		   contains(x.resp_head, x.resp_head_len, needle, nn) ||
		   body_contains(&x, SEG_DIR_REQ, needle, nn) ||
		   body_contains(&x, SEG_DIR_RESP, needle, nn);
	seg_exchange_free(&x);
	return hit;
}

bool rc_select_row(void *ctx, const struct seg_qrow *r)
{
	struct rc_select *s = ctx;
	if (s->hide && s->hide[r - s->t->rows])
		return false;
	if (s->filter && rc_filter_active(s->filter) && !rc_filter_row(s->filter, r))
		return false;
	if (s->search == NULL)
		return true;
	struct seg_query idx = { .search = s->search, .include_deleted = true };
	if (seg_query_match(&idx, r))
		return true;
	s->frames_read++;
	return rc_exchange_contains(s->session_dir, r, s->search);
}

void rc_select_free(struct rc_select *s)
{
	free(s->hide);
	s->hide = NULL;
}
