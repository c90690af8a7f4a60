/*
 * tools/views/cookies.h - the cookies of a capture session: records built from
 * the Cookie and Set-Cookie lines of the exchanges captured with "capture
 * cookies" on (SEG_F_COOKIES), deduplicated by (name, domain, path,
 * direction) keeping the latest value; deletions from an append-only
 * "cookies.deleted" file in the session directory; output as JSON and as
 * a Netscape cookies.txt (curl -b, wget --load-cookies). Offline: reads
 * the session files, usable by `ringcap cookies` and the control API.
 */
#ifndef RINGCAP_COOKIES_H
#define RINGCAP_COOKIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RC_COOKIES_FILE "cookies.deleted"
/* Distinct records per session listing: bounds memory (a record holds at
 * most ~6 KiB of text); sightings past it are counted, not kept. */
#define RC_COOKIES_MAX 65536u
/* Keys per rc_cookies_delete call, and size of cookies.deleted read. */
#define RC_COOKIES_DELETE_MAX 4096u
#define RC_COOKIES_DELETED_BYTES_MAX (64u << 20)

enum rc_cookie_dir { RC_COOKIE_REQUEST = 0, RC_COOKIE_RESPONSE = 1 };

struct rc_cookie {
	char *name, *value;  /* NUL-terminated, owned by the list */
	char *domain;        /* lower case, no leading '.'; the request host by default */
	char *path;          /* Path, else the default-path; "/" for request cookies */
	bool host_only;      /* no Domain attribute: this host only, no subdomains */
	bool foreign;        /* Domain does not domain-match the request host: a
			      * browser rejects it (RFC 6265 5.3 step 6); listed,
			      * never put in a jar */
	bool has_expires, has_max_age;
	int64_t expires_s;   /* Expires, seconds since the epoch */
	int64_t max_age_s;   /* Max-Age as sent (<= 0: the server deletes it) */
	bool http_only, secure;
	uint8_t same_site;   /* enum rc_same_site (tools/cookie.h) */
	uint8_t dir;         /* enum rc_cookie_dir */
	uint64_t first_seen_ns, last_seen_ns; /* exchange start, wall clock */
	uint64_t count;      /* sightings (lines, not exchanges) */
	uint64_t xchg_id;    /* exchange of the latest sighting */
};

struct rc_cookie_list {
	struct rc_cookie *c; /* sorted by domain, path, name, direction */
	size_t n;
	uint64_t exchanges;  /* exchanges read (flagged SEG_F_COOKIES) */
	uint64_t unreadable; /* exchanges whose frames could not be read */
	uint64_t over_limit; /* sightings dropped past RC_COOKIES_MAX records */
	uint64_t deleted;    /* sightings hidden by cookies.deleted */
};

/* A record's identity for deletion: all three must match exactly. */
struct rc_cookie_key {
	const char *name, *domain, *path;
};

/* Builds the records of the session in session_dir. Returns 0 or -errno
 * (-ENOMEM, or what reading the index gave). Free with rc_cookies_free. */
int rc_cookies_load(const char *session_dir, struct rc_cookie_list *out);
void rc_cookies_free(struct rc_cookie_list *l);

/* Appends deletion keys to <session_dir>/cookies.deleted in one write,
 * then fsync. Later listings hide every sighting of these keys (both
 * directions) at or before now_ns; a cookie seen again afterwards comes
 * back. Returns 0, -EINVAL (n 0 or above RC_COOKIES_DELETE_MAX, a NULL
 * field) or -errno. */
int rc_cookies_delete(const char *session_dir, const struct rc_cookie_key *keys, size_t n,
		      uint64_t now_ns);

/* A JSON array of records: {name, value, domain, path, host_only, foreign, expires
 * (epoch s or null), max_age (s or null), http_only, secure, same_site
 * ("Strict", "Lax", "None" or null), direction ("request"|"response"),
 * first_seen, last_seen (ISO 8601 UTC), count}. */
void rc_cookies_json(const struct rc_cookie_list *l, FILE *out);

/* A Netscape cookies.txt: one line per record, latest sighting last (so
 * a loader keeps the latest value of a cookie seen both ways), expiry
 * from Max-Age (counted from its last sighting) else Expires else 0 (a
 * session cookie). Records already expired at now_s, foreign ones, and
 * any whose text holds a tab or line break (the format cannot carry it)
 * are left out.
 * Returns the number of lines written. */
size_t rc_cookies_jar(const struct rc_cookie_list *l, int64_t now_s, FILE *out);

/* `ringcap cookies SESSION [--data DIR] [--json] [--jar FILE]`; argv[0]
 * is the command name. Returns the exit code. */

#endif
