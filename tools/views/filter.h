/*
 * tools/views/filter.h - the filter flags of every subcommand, and the
 * query-time filter over a session's index.
 *
 * One spec language (filter/flt.h) serves capture and query. This module
 * is where tools/ meets it:
 *   - rc_filter_args() takes the seven filter flags (--method --status
 *     --type --client --url-contains --url-excludes --url-regex, each
 *     repeatable, "--flag VALUE" or "--flag=VALUE") out of any argv, so
 *     `run`, `ls`, `overview` and `session start` share one parser;
 *   - rc_filter_compile() builds the flt_db the capture sink (capture.h,
 *     rc_capture_cfg.filter) and the query predicate use;
 *   - rc_filter_row() is a struct seg_query match callback: it scans each
 *     URL of the index with the same database, so `ls --url-regex X` lists
 *     what a capture with --url-regex X would have stored.
 * The control API builds the same struct rc_filter from its JSON body
 * (flt_spec_parse_json into f->spec, then rc_filter_compile).
 *
 * What the index cannot say, and how the predicate copes:
 *   - a method outside the nine the index names is stored as "other":
 *     when the spec names such a method, the exchange's request line is
 *     read from its frames (one decompression per "other" row);
 *   - the index keeps a type class, not the Content-Type: classes that
 *     map onto one filter class are decided from the index; "media"
 *     (audio or video), "form" and "other", and every row when the spec
 *     has a mime substring (--type application/pdf), read the stored
 *     response head. When none was stored (--no-save-responses), media
 *     matches audio or video, form matches text or binary, other matches
 *     binary, and a mime substring matches nothing.
 *   - client names (--identify-by auth) sit beside the URL in the index's
 *     text (SEG_F_STR_EXT); exchanges stored before that have them in
 *     their frames only, read when the spec names a client by name.
 *
 * Thread safety: a struct rc_filter belongs to one thread (its scratch).
 */
#ifndef RINGCAP_FILTERARGS_H
#define RINGCAP_FILTERARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "filter/flt.h"

struct seg_qrow;
struct seg_query;

struct rc_filter {
	struct flt_spec spec;        /* filled by rc_filter_args or a parser */
	struct flt_db *db;           /* rc_filter_compile; one reference owned */
	struct flt_scratch *scratch; /* for rc_filter_row (query thread) */
	const char *session_dir;     /* rc_filter_query: where heads are read */
	bool need_method;            /* spec names a method the index calls "other" */
	bool need_type;              /* spec has type or mime criteria */
	bool need_name;              /* spec names a client by name */
	size_t loads;                /* exchanges read from frames (diagnostics) */
};

/* Usage lines for the seven flags, for a command's --help. */
extern const char rc_filter_usage[];

void rc_filter_init(struct rc_filter *f);
void rc_filter_free(struct rc_filter *f);

/* Takes every filter flag out of argv[1..*argc-1] into f->spec and closes
 * the gap (argv[*argc] stays NULL), leaving the rest for getopt. Stops at
 * "--". Run it before getopt; a filter flag given as the value of another
 * option is read as a filter flag (write --search=--method to avoid it).
 * Returns 0; -EINVAL with err naming the flag and quoting the bad part
 * ("--client: bad CIDR '10.0.0.0/33'", "missing value for '--method'");
 * -E2BIG or -ENOMEM with err set. */
int rc_filter_args(struct rc_filter *f, int *argc, char **argv, char *err, size_t errlen);

/* Compiles f->spec into f->db and sizes f->scratch. An empty spec gives a
 * NULL db (nothing to filter). Returns 0, or -EINVAL/-ENOMEM with err
 * quoting the bad part ("invalid regex '([': ..."). */
int rc_filter_compile(struct rc_filter *f, char *err, size_t errlen);

/* rc_filter_init + rc_filter_args + rc_filter_compile for a command line:
 * on error "ringcap CMD: <err>" on stderr and -errno (exit code 2). The
 * caller frees f with rc_filter_free either way. */
int rc_filter_cli(const char *cmd, struct rc_filter *f, int *argc, char **argv);

/* True when f filters anything (compiled, non-empty spec). */
bool rc_filter_active(const struct rc_filter *f);

/* Points q's match callback at f for the session in session_dir (kept by
 * pointer), or leaves q alone when f is inactive. */
void rc_filter_query(struct rc_filter *f, const char *session_dir, struct seg_query *q);

/* struct seg_query match callback; ctx is a compiled struct rc_filter. */
bool rc_filter_row(void *ctx, const struct seg_qrow *r);

#endif
