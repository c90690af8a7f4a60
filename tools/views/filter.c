/*
 * tools/views/filter.c - filter flags for any subcommand and the query-time
 * predicate over the capture index (see tools/filterargs.h for what the
 * index can and cannot decide). The predicate makes the same two calls
 * the capture sink makes: flt_match_request on the stored absolute URL,
 * method and client, then, when that is PENDING, the response decision
 * from the stored status and type.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "persist/query.h"
#include "persist/seg.h"
#include "tools/views/filter.h"

const char rc_filter_usage[] =
	"filters (repeatable; kinds ANDed, values of one kind ORed):\n"
	"  --method M[,M]        GET, POST, ...\n"
	"  --status S[,S]        200, 404, 2xx, 5xx\n"
	"  --type T[,T]          json html xml js css text image audio video media font\n"
	"                        binary none, or a mime substring (application/pdf)\n"
	"  --client C[,C]        address, CIDR or device name (10.0.0.0/8, fd00::/8,\n"
	"                        pixel7: run --identify-by)\n"
	"  --url-contains TEXT   URL contains TEXT (any of; case-insensitive)\n"
	"  --url-excludes TEXT   URL does not contain TEXT (none of; case-insensitive)\n"
	"  --url-regex RE        URL matches RE (any of; Hyperscan/PCRE syntax)\n";

void rc_filter_init(struct rc_filter *f)
{
	memset(f, 0, sizeof(*f));
	flt_spec_init(&f->spec);
}

void rc_filter_free(struct rc_filter *f)
{
	if (f->db)
		flt_db_unref(f->db);
	f->db = NULL;
	flt_scratch_free(f->scratch);
	f->scratch = NULL;
	flt_spec_free(&f->spec);
}

/* Kind of argv word "--name" or "--name=value", or -1; *eq set to the
 * value after '=' or NULL. */
static int flag_kind(const char *a, const char **eq)
{
	*eq = NULL;
	if (a[0] != '-' || a[1] != '-')
		return -1;
	const char *name = a + 2, *e = strchr(name, '=');
	size_t n = e ? (size_t)(e - name) : strlen(name);
	int k = flt_kind_from_name(name, n);
	if (k >= 0 && e)
		*eq = e + 1;
	return k;
}

int rc_filter_args(struct rc_filter *f, int *argc, char **argv, char *err, size_t errlen)
{
	int out = 1, n = *argc;
	for (int i = 1; i < n; i++) {
		const char *val;
		if (strcmp(argv[i], "--") == 0) { /* the rest is not ours */
			for (; i < n; i++)
				argv[out++] = argv[i];
			break;
		}
		int k = flag_kind(argv[i], &val);
		if (k < 0) {
			argv[out++] = argv[i];
			continue;
		}
		if (val == NULL) {
			if (i + 1 >= n) {
				snprintf(err, errlen, "missing value for '%s'", argv[i]);
				return -EINVAL;
			}
			val = argv[++i];
		}
		char e[FLT_ERR_LEN] = "";
		const char *name = flt_kind_name((enum flt_kind)k);
		int rc = flt_spec_add_flag(&f->spec, name, val, e, sizeof(e));
		if (rc < 0) {
			snprintf(err, errlen, "--%s: %s", name, e[0] ? e : strerror(-rc));
			return rc;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* Whether the spec can be decided from the index alone (see the header). */
static void plan(struct rc_filter *f)
{
	f->need_type = f->spec.type_mask != 0 || f->spec.n_mimes != 0;
	f->need_method = false;
	f->need_name = false;
	for (uint32_t i = 0; i < f->spec.n_clients; i++)
		if (f->spec.clients[i].is_name)
			f->need_name = true;
	for (uint32_t i = 0; i < f->spec.n_methods; i++) {
		const char *m = f->spec.methods[i];
		if (seg_method_parse(m, strlen(m)) == SEG_M_OTHER)
			f->need_method = true;
	}
}

int rc_filter_compile(struct rc_filter *f, char *err, size_t errlen)
{
	if (f->db) {
		flt_db_unref(f->db);
		f->db = NULL;
	}
	plan(f);
	if (flt_spec_is_empty(&f->spec))
		return 0;
	int rc = flt_compile(&f->spec, &f->db, err, errlen);
	if (rc < 0)
		return rc;
	rc = flt_scratch_reserve(&f->scratch, f->db);
	if (rc < 0) {
		snprintf(err, errlen, "cannot allocate filter scratch space");
		flt_db_unref(f->db);
		f->db = NULL;
	}
	return rc;
}

bool rc_filter_active(const struct rc_filter *f)
{
	return f->db != NULL && !flt_db_accepts_all(f->db);
}

void rc_filter_query(struct rc_filter *f, const char *session_dir, struct seg_query *q)
{
	if (!rc_filter_active(f))
		return;
	f->session_dir = session_dir;
	q->match = rc_filter_row;
	q->match_ctx = f;
}

/* The stored client address as a sockaddr (NULL when none). */
static const struct sockaddr *client_sa(const struct seg_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
	} else if (a->family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->addr, 16);
	} else {
		return NULL;
	}
	return (const struct sockaddr *)ss;
}

/* Content-Type value of a raw response head (NULL when absent). */
static const char *head_ct(const uint8_t *head, size_t len, size_t *ct_len)
{
	const char *h = (const char *)head, *end = h + len;
	for (const char *p = memchr(h, '\n', len); p && p + 14 < end;
	     p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
		if (strncasecmp(p + 1, "content-type:", 13) != 0)
			continue;
		const char *v = p + 14;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		const char *e = memchr(v, '\r', (size_t)(end - v));
		*ct_len = e ? (size_t)(e - v) : 0;
		return v;
	}
	*ct_len = 0;
	return NULL;
}

/* Filter classes a stored class can stand for: one, or two when the
 * index merged them (media: audio|video; form: text|binary); *exact says
 * whether the index class is certain to equal what flt_type_of gives. */
static int classes_of(uint8_t seg_type, enum flt_type out[2], bool *exact)
{
	static const enum flt_type direct[SEG_T_COUNT] = {
		[SEG_T_NONE] = FLT_TYPE_NONE, [SEG_T_JSON] = FLT_TYPE_JSON,
		[SEG_T_HTML] = FLT_TYPE_HTML, [SEG_T_XML] = FLT_TYPE_XML,
		[SEG_T_JS] = FLT_TYPE_JS, [SEG_T_CSS] = FLT_TYPE_CSS,
		[SEG_T_TEXT] = FLT_TYPE_TEXT, [SEG_T_IMAGE] = FLT_TYPE_IMAGE,
		[SEG_T_FONT] = FLT_TYPE_FONT, [SEG_T_BINARY] = FLT_TYPE_BINARY,
		[SEG_T_OTHER] = FLT_TYPE_BINARY,
	};
	*exact = true;
	if (seg_type == SEG_T_MEDIA) {
		out[0] = FLT_TYPE_AUDIO;
		out[1] = FLT_TYPE_VIDEO;
		*exact = false;
		return 2;
	}
	if (seg_type == SEG_T_FORM) {
		out[0] = FLT_TYPE_TEXT;
		out[1] = FLT_TYPE_BINARY;
		*exact = false;
		return 2;
	}
	out[0] = seg_type < SEG_T_COUNT ? direct[seg_type] : FLT_TYPE_BINARY;
	*exact = seg_type != SEG_T_OTHER;
	return 1;
}

/* Response decision from what the frames hold: the stored Content-Type
 * when there is one, else the index class (any of its classes). */
static bool match_response(struct rc_filter *f, const struct seg_qrow *r,
			   const struct seg_exchange *x)
{
	if (x && x->resp_head) {
		size_t ctl;
		const char *ct = head_ct(x->resp_head, x->resp_head_len, &ctl);
		return flt_match_response(f->db, r->e.status, ct, ctl);
	}
	if (f->spec.n_mimes && !f->spec.type_mask)
		return false; /* a mime substring cannot match an unknown header */
	enum flt_type t[2];
	bool exact;
	int n = classes_of(r->e.type, t, &exact);
	for (int i = 0; i < n; i++)
		if (flt_match_response_type(f->db, r->e.status, t[i]))
			return true;
	return false;
}

/* Reads the exchange's heads (no bodies) when the index is not enough. */
static bool load(struct rc_filter *f, const struct seg_qrow *r, struct seg_exchange *x)
{
	struct seg_open_opts o = { .body_max = { 0, 0 } };
	if (f->session_dir == NULL || seg_open_entry(f->session_dir, &r->e, &o, x) < 0)
		return false;
	f->loads++;
	return true;
}

bool rc_filter_row(void *ctx, const struct seg_qrow *r)
{
	struct rc_filter *f = ctx;
	struct sockaddr_storage ss;
	struct seg_exchange x;
	bool loaded = false;
	const char *method = seg_method_name(r->e.method);
	if (r->e.method == SEG_M_OTHER && f->need_method && (loaded = load(f, r, &x)))
		method = x.method_text;
	char name[SEG_CLIENT_NAME_MAX + 1];
	const char *cn = NULL;
	if (r->client_name_len) {
		memcpy(name, r->client_name, r->client_name_len);
		name[r->client_name_len] = '\0';
		cn = name;
	} else if (f->need_name && !(r->e.flags & SEG_F_STR_EXT) &&
		   (loaded || (loaded = load(f, r, &x))) && x.client_name[0]) {
		cn = x.client_name;   /* written before names were indexed */
	}
	enum flt_verdict v = flt_match_request(f->db, f->scratch, method, r->url, r->e.url_len,
					       client_sa(&r->e.client, &ss), cn);
	bool ok = v == FLT_ACCEPT;
	if (v == FLT_PENDING) {
		enum flt_type t[2];
		bool exact;
		classes_of(r->e.type, t, &exact);
		if (!loaded && f->need_type && (!exact || f->spec.n_mimes))
			loaded = load(f, r, &x);
		ok = match_response(f, r, loaded ? &x : NULL);
	}
	if (loaded)
		seg_exchange_free(&x);
	return ok;
}

int rc_filter_cli(const char *cmd, struct rc_filter *f, int *argc, char **argv)
{
	char err[FLT_ERR_LEN + 64];
	rc_filter_init(f);
	int rc = rc_filter_args(f, argc, argv, err, sizeof(err));
	if (rc == 0)
		rc = rc_filter_compile(f, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "ringcap %s: %s\n", cmd, err);
	return rc;
}
