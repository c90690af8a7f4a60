/* filter/flt.h: the capture/query filter of ringcap.
 *
 * A spec (struct flt_spec) says which exchanges a session captures or a query
 * lists. Kinds are ANDed; values within one kind are ORed, except URL
 * excludes, of which none may match:
 *   method        exact token, stored upper-case ("get" is read as GET)
 *   status        3-digit code 100..599 or a class "1xx".."5xx"
 *   type          a class name (json html xml js css text image audio video
 *                 font binary none; "media" = image+audio+video) or, when the
 *                 value holds '/' or '+', a case-insensitive substring of the
 *                 Content-Type value. Classes are exclusive: "text" is text/...
 *                 that is not html, css, js, xml or json.
 *   client        an IPv4/IPv6 address or CIDR (host bits are masked off),
 *                 or a client name (letters, digits, '.', '_', '-')
 *   url-contains  case-insensitive literal, any of
 *   url-excludes  case-insensitive literal, none of
 *   url-regex     Hyperscan (PCRE subset) regex, any of, case-sensitive
 *                 unless it says (?i)
 * URL patterns match the URL exactly as it was sent (request target, not
 * percent-decoded), byte-wise: "%2f" and "%2F" both match a contains "%2F"
 * because contains is caseless, but neither matches "/". An empty spec
 * accepts everything.
 *
 * Three parsers produce the same spec: CLI flags (flt_spec_add_flag), the
 * control API's JSON body (flt_spec_parse_json) and the compact text form
 * kept in session metadata (flt_spec_parse_text / flt_spec_format_text,
 * which round-trip exactly). Errors quote the bad part.
 *
 * flt_compile() turns a spec into an immutable struct flt_db (one Hyperscan
 * block-mode database for all URL patterns plus copies of the other
 * criteria). A db is shared by all workers, read-only, refcounted; each
 * worker owns one struct flt_scratch. Matching never allocates unless a
 * worker meets a db its scratch was not sized for (once per swap, see
 * flt_scratch_reserve).
 *
 * Thread safety: specs are plain data owned by one thread. A db may be used
 * from any number of threads at once, each with its own scratch. */
#ifndef FLT_H
#define FLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter/flt-limits.h"

struct sockaddr;

/* Content-type classes. Values are stable: the capture index stores them in
 * one byte. FLT_TYPE_NONE means "no Content-Type header". */
enum flt_type {
	FLT_TYPE_NONE = 0,
	FLT_TYPE_JSON,
	FLT_TYPE_HTML,
	FLT_TYPE_XML,
	FLT_TYPE_JS,
	FLT_TYPE_CSS,
	FLT_TYPE_TEXT,
	FLT_TYPE_IMAGE,
	FLT_TYPE_AUDIO,
	FLT_TYPE_VIDEO,
	FLT_TYPE_FONT,
	FLT_TYPE_BINARY,
	FLT_TYPE_COUNT
};

/* Roles of URL patterns. */
enum flt_url_role {
	FLT_URL_CONTAINS = 0, /* any of these must occur, caseless */
	FLT_URL_EXCLUDES = 1, /* none of these may occur, caseless */
	FLT_URL_REGEX = 2,    /* any of these must match */
	FLT_URL_ROLE_COUNT
};

/* What the request head decides. */
enum flt_verdict {
	FLT_REJECT = 0,  /* do not capture (forward only) */
	FLT_ACCEPT = 1,  /* capture; the response cannot change that */
	FLT_PENDING = 2, /* request passes; flt_match_response() decides */
};

struct flt_status_range {
	uint16_t lo, hi; /* inclusive; 404 is 404..404, 2xx is 200..299 */
};

struct flt_client {
	uint8_t is_name;   /* 1: name[] is set; 0: family/addr/prefix */
	uint8_t family;    /* 4 or 6 */
	uint8_t prefix;    /* 0..32 or 0..128 */
	uint8_t addr[16];  /* network bytes, host bits zero (v4 in addr[0..3]) */
	char name[FLT_CLIENT_NAME_LEN_MAX + 1];
};

struct flt_url_pattern {
	uint8_t role;  /* enum flt_url_role */
	uint16_t len;  /* bytes in text, without the NUL */
	char *text;    /* owned by the spec; NUL-terminated, no NUL inside */
};

/* The spec. Fixed-size parts are embedded; URL patterns live in a growable
 * array owned by the spec (bounded by FLT_URL_PATTERNS_MAX). Initialise with
 * flt_spec_init(), release with flt_spec_free(). Order of values is kept as
 * given (it shows in the text form), except type classes, which are kept as
 * a set and shown in enum order ("media" when image, audio and video are
 * all set); duplicates are dropped. */
struct flt_spec {
	uint32_t n_methods;
	char methods[FLT_METHODS_MAX][FLT_METHOD_LEN_MAX + 1];
	uint32_t n_status;
	struct flt_status_range status[FLT_STATUS_MAX];
	uint32_t type_mask; /* bit (1u << enum flt_type) per class */
	uint32_t n_mimes;
	char mimes[FLT_MIMES_MAX][FLT_MIME_LEN_MAX + 1]; /* lower-case */
	uint32_t n_clients;
	struct flt_client clients[FLT_CLIENTS_MAX];
	uint32_t n_urls, cap_urls;
	struct flt_url_pattern *urls;
};

/* Spec kinds, as named by the CLI flags (without "--") and the text form. */
enum flt_kind {
	FLT_KIND_METHOD = 0,
	FLT_KIND_STATUS,
	FLT_KIND_TYPE,
	FLT_KIND_CLIENT,
	FLT_KIND_URL_CONTAINS,
	FLT_KIND_URL_EXCLUDES,
	FLT_KIND_URL_REGEX,
	FLT_KIND_COUNT
};

/* ---- spec (filter/spec.c) ---- */
void flt_spec_init(struct flt_spec *spec);
/* Frees the URL patterns and re-initialises the spec (empty again). */
void flt_spec_free(struct flt_spec *spec);
bool flt_spec_is_empty(const struct flt_spec *spec);
/* Same criteria in the same order (what the text form shows: URL patterns
 * compare per role, their interleaving across roles is not kept). */
bool flt_spec_equal(const struct flt_spec *a, const struct flt_spec *b);
/* Deep copy into an initialised, empty dst. 0 or -ENOMEM. */
int flt_spec_copy(struct flt_spec *dst, const struct flt_spec *src);

/* Adds one value (len bytes, not NUL-terminated) of one kind. 0 on success;
 * -EINVAL with err set ("bad CIDR '10.0.0.0/33'") when the value is wrong;
 * -E2BIG when a limit of flt-limits.h is reached; -ENOMEM. */
int flt_spec_add(struct flt_spec *spec, enum flt_kind kind,
		 const char *value, size_t len, char *err, size_t errlen);

/* CLI form: flag is "--method" or "method" (any of the seven flags); value
 * as given on the command line. For method, status, type and client the
 * value may be a comma-separated list ("GET,POST"); URL patterns are taken
 * whole, because commas are legal in URLs and regexes ("a{1,3}").
 * Returns as flt_spec_add; an unknown flag is -ENOENT with err set. */
int flt_spec_add_flag(struct flt_spec *spec, const char *flag,
		      const char *value, char *err, size_t errlen);
/* Kind for a flag name ("--url-regex" or "url-regex"), or -1. */
int flt_kind_from_name(const char *name, size_t len);
const char *flt_kind_name(enum flt_kind kind); /* "url-regex" */

/* ---- content types (filter/spec.c) ---- */
/* Class of a Content-Type header value (ct_len bytes; parameters such as
 * "; charset=utf-8" ignored, case-insensitive). NULL or empty: NONE. */
enum flt_type flt_type_of(const char *ct, size_t ct_len);
const char *flt_type_name(enum flt_type type); /* "json" */
/* Image, audio or video: bodies forwarded but never stored. */
static inline bool flt_type_is_media(enum flt_type type)
{
	return type == FLT_TYPE_IMAGE || type == FLT_TYPE_AUDIO ||
	       type == FLT_TYPE_VIDEO;
}

/* ---- JSON form (filter/json.c, read with jansson) ---- */
/* Parses the control API body, e.g.
 *   {"method":["GET"],"status":["2xx",404],"type":["json"],
 *    "client":["10.0.0.0/8"],"url_contains":["/api"],
 *    "url_excludes":[".png"],"url_regex":["^/v[0-9]+/"]}
 * into an initialised, empty spec. The keys are the CLI flags' names
 * ("methods", "types", "clients" are read too). Keys are optional; each
 * value is an array of strings (status also takes integers). Unknown keys
 * (the error lists the valid ones), repeated keys, other value types and
 * trailing bytes are errors. On error the spec is left empty. 0,
 * -EINVAL/-E2BIG with err set, or -ENOMEM. */
int flt_spec_parse_json(struct flt_spec *spec, const char *json, size_t len,
			char *err, size_t errlen);
/* The same from an object jansson has parsed already (a member of a
 * larger body); obj is a json_t. */
struct json_t;
int flt_spec_from_json(struct flt_spec *spec, const struct json_t *obj, char *err,
		       size_t errlen);
/* Writes the JSON form (the singular keys, only non-empty kinds, "{}" when empty).
 * Exact for UTF-8 values; a byte that is not valid UTF-8 (possible in URL
 * patterns from the CLI or text form) is written as \u00XX, which reads back
 * as a different pattern: the text form is the lossless one.
 * Returns the length it needs without the NUL (like snprintf); the output
 * is complete when the return value < cap. */
size_t flt_spec_format_json(const struct flt_spec *spec, char *out, size_t cap);

/* ---- text form (filter/text.c) ---- */
/* Compact form: kinds in a fixed order, separated by one space, each as
 * name=value[,value...]; a value is bare when it holds only printable ASCII
 * other than space, '"', '\\' and ','; otherwise it is double-quoted with
 * \" \\ and \xHH escapes. Empty spec: "".
 *   method=GET,POST status=2xx,404 type=json url-contains="a b" url-regex=^/v1/
 * Returns the needed length without the NUL (snprintf-like). */
size_t flt_spec_format_text(const struct flt_spec *spec, char *out, size_t cap);
/* Parses the text form into an initialised, empty spec; accepts what
 * flt_spec_format_text writes (and kinds repeated or in any order). On error
 * the spec is left empty. 0, -EINVAL/-E2BIG with err set, or -ENOMEM. */
int flt_spec_parse_text(struct flt_spec *spec, const char *text, size_t len,
			char *err, size_t errlen);

/* ---- compiled filter and matching (filter/compile.c) ---- */
struct flt_db;      /* opaque, immutable after flt_compile, refcounted */
struct flt_scratch; /* opaque, one per worker thread */

/* Compiles spec into *out with refcount 1; the spec may be freed right
 * after. Runs off the data plane (1,000 mixed patterns take about 0.2 s,
 * see bench/FILTER.md). 0; -EINVAL with err "invalid regex '([': ..." naming
 * the pattern; -ENOMEM. */
int flt_compile(const struct flt_spec *spec, struct flt_db **out,
		char *err, size_t errlen);
/* Refcount: the engine's policy holds one reference; whoever must keep a db
 * alive past a swap (an in-flight exchange, a query) takes another. The db
 * is freed when the last reference is dropped. Both are thread-safe, but
 * taking a reference through a pointer that another thread may drop at the
 * same moment is not: a worker must ref a db it read from the shared policy
 * either under the publisher's lock or while the publisher is known not to
 * unref it yet (epoch / quiescent-state grace period). */
struct flt_db *flt_db_ref(struct flt_db *db);
void flt_db_unref(struct flt_db *db);
/* True when the db accepts everything (empty spec): callers may skip it. */
bool flt_db_accepts_all(const struct flt_db *db);
/* True when flt_match_request can return FLT_PENDING (the spec has status
 * or type criteria). */
bool flt_db_needs_response(const struct flt_db *db);

/* Makes *scratch (NULL: allocate one) big enough for db, keeping it fit for
 * every db it served before. Call it from the owning worker when it picks up
 * a new db, before matching. 0 or -ENOMEM. */
int flt_scratch_reserve(struct flt_scratch **scratch, const struct flt_db *db);
void flt_scratch_free(struct flt_scratch *scratch);

/* Request head decision: method (NUL-terminated token, e.g. "GET"), the URL
 * (url_len bytes, any bytes allowed), the client address (sockaddr_in or
 * sockaddr_in6, NULL when unknown) and the client's name (NULL when it has
 * none). Pass the same URL string the capture index stores (absolute form,
 * "https://host/path?q" also for intercepted origin-form requests), so that
 * capture-time and query-time filtering agree. One Hyperscan scan of the
 * URL at most. scratch comes from flt_scratch_reserve (NULL: rejected); if
 * it was not reserved for db, it is reserved here first (allocates: the one
 * exception to "no allocation on the hot path"); if that fails the exchange
 * is rejected (not captured) rather than captured unfiltered. */
enum flt_verdict flt_match_request(const struct flt_db *db,
				   struct flt_scratch *scratch,
				   const char *method, const char *url,
				   size_t url_len,
				   const struct sockaddr *client_addr,
				   const char *client_name);
/* Response head decision for an exchange that was FLT_PENDING: status code
 * and Content-Type value (ct_len bytes; NULL/0 when absent). */
bool flt_match_response(const struct flt_db *db, unsigned status,
			const char *content_type, size_t ct_len);
/* Same from a stored type class (the capture index keeps the class, not the
 * header). Mime-substring criteria cannot be decided from a class: when
 * flt_db_needs_content_type() is true the caller must load the header and
 * use flt_match_response(); this function then counts only the classes. */
bool flt_match_response_type(const struct flt_db *db, unsigned status,
			     enum flt_type type);
bool flt_db_needs_content_type(const struct flt_db *db);

#endif
