/* filter/compile.c: compiles a spec into an immutable, refcounted struct
 * flt_db and matches exchanges against it.
 *
 * All URL patterns of a spec go into ONE Hyperscan block-mode database:
 * pattern id i is spec->urls[i], and roles[i] maps it back to contains,
 * excludes or regex. Literals are escaped byte-wise so no character is
 * special; per-pattern flags come from flt_hs_flags(). A URL is scanned once;
 * the scan stops early as soon as an exclude matches, or (when there are no
 * excludes) as soon as every required role has matched.
 *
 * Invariants: a db never changes after flt_compile returns; roles has one
 * entry per Hyperscan id; hs is NULL exactly when the spec had no URL
 * patterns. A scratch is owned by one thread; its serial is the last db it
 * was reserved for, so a worker that meets a new db grows its scratch once
 * (Hyperscan keeps it valid for every db it was sized for). */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hs/hs.h>

#include "filter/flt.h"
#include "filter/flt-int.h"

/* Role bits in the per-scan "seen" mask. */
#define SEEN_CONTAINS (1u << FLT_URL_CONTAINS)
#define SEEN_EXCLUDES (1u << FLT_URL_EXCLUDES)
#define SEEN_REGEX (1u << FLT_URL_REGEX)

struct flt_db {
	atomic_uint refs;
	uint64_t serial;           /* unique per compiled db, never 0 */
	hs_database_t *hs;         /* NULL: no URL patterns */
	uint8_t *roles;            /* enum flt_url_role per Hyperscan id */
	unsigned need;             /* SEEN_* bits that must be seen */
	bool has_excludes;
	bool accepts_all;
	bool needs_response;       /* status or type criteria */
	struct flt_spec crit;      /* non-URL criteria; urls NULL, n_urls 0 */
};

struct flt_scratch {
	hs_scratch_t *hs;
	uint64_t serial; /* db this scratch was last reserved for; 0: none */
};

struct scan_ctx {
	const uint8_t *roles;
	unsigned seen;
	unsigned need;
	bool has_excludes;
};

static atomic_uint_fast64_t next_serial = 1;

static int compile_urls(struct flt_db *db, const struct flt_spec *spec,
			char *err, size_t errlen);
static char *escape_literal(const char *s, size_t len);
static int compile_error(const struct flt_spec *spec,
			 const hs_compile_error_t *cerr, char *err,
			 size_t errlen);

/* ---- compile and lifetime ---- */

int flt_compile(const struct flt_spec *spec, struct flt_db **out,
		char *err, size_t errlen)
{
	struct flt_db *db = flt_calloc(1, sizeof(*db));
	int rc;

	*out = NULL;
	if (!db)
		return -ENOMEM;
	atomic_init(&db->refs, 1);
	db->serial = atomic_fetch_add(&next_serial, 1);
	db->crit = *spec;
	db->crit.urls = NULL;
	db->crit.n_urls = 0;
	db->crit.cap_urls = 0;
	db->accepts_all = flt_spec_is_empty(spec);
	db->needs_response = spec->n_status || spec->type_mask ||
			     spec->n_mimes;
	if (spec->n_urls) {
		rc = compile_urls(db, spec, err, errlen);
		if (rc < 0) {
			free(db);
			return rc;
		}
	}
	*out = db;
	return 0;
}

/* Builds the Hyperscan database and the id -> role table. */
static int compile_urls(struct flt_db *db, const struct flt_spec *spec,
			char *err, size_t errlen)
{
	uint32_t n = spec->n_urls;
	char **exprs = flt_calloc(n, sizeof(*exprs));
	unsigned *flags = flt_calloc(n, sizeof(*flags));
	unsigned *ids = flt_calloc(n, sizeof(*ids));
	hs_compile_error_t *cerr = NULL;
	int rc = -ENOMEM;

	db->roles = flt_calloc(n, 1);
	if (!exprs || !flags || !ids || !db->roles)
		goto out_free;
	for (uint32_t i = 0; i < n; i++) {
		const struct flt_url_pattern *p = &spec->urls[i];
		db->roles[i] = p->role;
		db->need |= p->role == FLT_URL_EXCLUDES ? 0 : 1u << p->role;
		db->has_excludes |= p->role == FLT_URL_EXCLUDES;
		flags[i] = flt_hs_flags(p->role);
		ids[i] = i;
		exprs[i] = p->role == FLT_URL_REGEX ? flt_strdup(p->text) :
			   escape_literal(p->text, p->len);
		if (!exprs[i])
			goto out_free;
	}
	if (hs_compile_multi((const char *const *)exprs, flags, ids, n,
			     HS_MODE_BLOCK, NULL, &db->hs, &cerr) != HS_SUCCESS) {
		rc = compile_error(spec, cerr, err, errlen);
		hs_free_compile_error(cerr);
		db->hs = NULL;
		goto out_free;
	}
	rc = 0;
out_free:
	for (uint32_t i = 0; exprs && i < n; i++)
		free(exprs[i]);
	free(exprs);
	free(flags);
	free(ids);
	if (rc < 0) {
		free(db->roles);
		db->roles = NULL;
	}
	return rc;
}

/* Turns a Hyperscan compile error into -ENOMEM or -EINVAL and a message
 * that quotes the pattern Hyperscan blamed (when it names one). */
static int compile_error(const struct flt_spec *spec,
			 const hs_compile_error_t *cerr, char *err,
			 size_t errlen)
{
	int at = cerr ? cerr->expression : -1;
	char tail[160];

	if (flt_hs_nomem(cerr)) {
		flt_err_fmt(err, errlen, "out of memory compiling URL patterns");
		return -ENOMEM;
	}
	snprintf(tail, sizeof(tail), ": %s",
		 cerr && cerr->message ? cerr->message : "failed");
	if (at >= 0 && (uint32_t)at < spec->n_urls)
		flt_err_quote(err, errlen,
			      spec->urls[at].role == FLT_URL_REGEX ?
			      "invalid regex" : "cannot compile pattern",
			      spec->urls[at].text, spec->urls[at].len, tail);
	else
		flt_err_fmt(err, errlen, "cannot compile URL patterns%s", tail);
	return -EINVAL;
}

/* Hyperscan source for a literal: letters and digits as they are, every
 * other byte as \xHH (so '.', '(' or a NUL-free byte >= 0x80 are never
 * special). Caller frees. */
static char *escape_literal(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = flt_malloc(len * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9')) {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		*o++ = 'x';
		*o++ = hex[c >> 4];
		*o++ = hex[c & 15];
	}
	*o = '\0';
	return out;
}

struct flt_db *flt_db_ref(struct flt_db *db)
{
	/* relaxed: the caller already holds a reference, so the db cannot go
	 * away concurrently; only the final decrement needs ordering. */
	atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
	return db;
}

void flt_db_unref(struct flt_db *db)
{
	if (!db)
		return;
	/* acq_rel: every use of the db by the dropping thread happens before
	 * the free by whichever thread drops the last reference. */
	if (atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) != 1)
		return;
	hs_free_database(db->hs);
	free(db->roles);
	free(db);
}

bool flt_db_accepts_all(const struct flt_db *db)
{
	return db->accepts_all;
}

bool flt_db_needs_response(const struct flt_db *db)
{
	return db->needs_response;
}

int flt_scratch_reserve(struct flt_scratch **scratch, const struct flt_db *db)
{
	struct flt_scratch *s = *scratch;

	if (!s) {
		s = flt_calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		*scratch = s;
	}
	if (db->hs && s->serial != db->serial) {
		/* Grows s->hs only when this db needs more room; otherwise a
		 * size check. On failure Hyperscan leaves s->hs untouched. */
		if (hs_alloc_scratch(db->hs, &s->hs) != HS_SUCCESS)
			return -ENOMEM;
	}
	s->serial = db->serial;
	return 0;
}

void flt_scratch_free(struct flt_scratch *scratch)
{
	if (!scratch)
		return;
	hs_free_scratch(scratch->hs);
	free(scratch);
}

/* ---- matching ---- */

static int on_match(unsigned id, unsigned long long from,
		    unsigned long long to, unsigned flags, void *arg)
{
	struct scan_ctx *c = arg;
	unsigned bit = 1u << c->roles[id];

	(void)from;
	(void)to;
	(void)flags;
	c->seen |= bit;
	if (bit == SEEN_EXCLUDES)
		return 1; /* rejected: nothing more can change that */
	if (!c->has_excludes && (c->seen & c->need) == c->need)
		return 1; /* accepted: no exclude left that could reject */
	return 0;
}

static bool match_url(const struct flt_db *db, struct flt_scratch *scratch,
		      const char *url, size_t url_len)
{
	struct scan_ctx c = { .roles = db->roles, .need = db->need,
			      .has_excludes = db->has_excludes };
	hs_error_t e;

	if (!db->hs)
		return true;
	if (!scratch) /* caller bug, but not one worth a crash: no capture */
		return false;
	if (scratch->serial != db->serial &&
	    flt_scratch_reserve(&scratch, db) < 0)
		return false;
	if (url_len > UINT32_MAX)
		return false;
	e = hs_scan(db->hs, url ? url : "", (unsigned)url_len, 0,
		    scratch->hs, on_match, &c);
	if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)
		return false;
	return !(c.seen & SEEN_EXCLUDES) && (c.seen & c.need) == c.need;
}

static bool match_method(const struct flt_spec *s, const char *method)
{
	if (!s->n_methods)
		return true;
	if (!method)
		return false;
	for (uint32_t i = 0; i < s->n_methods; i++)
		if (!strcmp(s->methods[i], method))
			return true;
	return false;
}

/* Address of sa as family 4/6 and bytes; a v4-mapped v6 address is v4. */
static int addr_of(const struct sockaddr *sa, uint8_t out[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		memcpy(out, &in->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (!memcmp(in6->sin6_addr.s6_addr, mapped, 12)) {
			memcpy(out, in6->sin6_addr.s6_addr + 12, 4);
			return 4;
		}
		memcpy(out, in6->sin6_addr.s6_addr, 16);
		return 6;
	}
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, net, bytes))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return (a[bytes] & mask) == net[bytes];
}

static bool match_client(const struct flt_spec *s, const struct sockaddr *sa,
			 const char *name)
{
	uint8_t addr[16];
	int fam = sa ? addr_of(sa, addr) : 0;

	if (!s->n_clients)
		return true;
	for (uint32_t i = 0; i < s->n_clients; i++) {
		const struct flt_client *c = &s->clients[i];
		if (c->is_name) {
			if (name && flt_eq_nocase(name, strlen(name), c->name))
				return true;
		} else if (fam == c->family && prefix_eq(addr, c->addr,
							 c->prefix)) {
			return true;
		}
	}
	return false;
}

enum flt_verdict flt_match_request(const struct flt_db *db,
				   struct flt_scratch *scratch,
				   const char *method, const char *url,
				   size_t url_len,
				   const struct sockaddr *client_addr,
				   const char *client_name)
{
	if (db->accepts_all)
		return FLT_ACCEPT;
	if (!match_method(&db->crit, method))
		return FLT_REJECT;
	if (!match_client(&db->crit, client_addr, client_name))
		return FLT_REJECT;
	if (!match_url(db, scratch, url, url_len))
		return FLT_REJECT;
	return db->needs_response ? FLT_PENDING : FLT_ACCEPT;
}

static bool match_status(const struct flt_spec *s, unsigned status)
{
	if (!s->n_status)
		return true;
	for (uint32_t i = 0; i < s->n_status; i++)
		if (status >= s->status[i].lo && status <= s->status[i].hi)
			return true;
	return false;
}

bool flt_match_response(const struct flt_db *db, unsigned status,
			const char *content_type, size_t ct_len)
{
	const struct flt_spec *s = &db->crit;

	if (!match_status(s, status))
		return false;
	if (!s->type_mask && !s->n_mimes)
		return true;
	if ((s->type_mask >> flt_type_of(content_type, ct_len)) & 1u)
		return true;
	for (uint32_t i = 0; i < s->n_mimes && content_type; i++)
		if (flt_contains_nocase(content_type, ct_len, s->mimes[i],
					strlen(s->mimes[i])))
			return true;
	return false;
}

bool flt_match_response_type(const struct flt_db *db, unsigned status,
			     enum flt_type type)
{
	const struct flt_spec *s = &db->crit;

	if (!match_status(s, status))
		return false;
	if (!s->type_mask && !s->n_mimes)
		return true;
	return (unsigned)type < FLT_TYPE_COUNT && ((s->type_mask >> type) & 1u);
}

bool flt_db_needs_content_type(const struct flt_db *db)
{
	return db->crit.n_mimes > 0;
}
