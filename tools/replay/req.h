/*
 * tools/replay/req.h - one request as it will be sent again: rewritten from
 * a stored exchange (target, host map, headers), with what was recorded
 * for the diff. Pure: exchange in, bytes out; no socket, no clock.
 *
 * Rewriting: the request line is rebuilt as METHOD PATH HTTP/1.1 (absolute
 * form when it goes to an HTTP proxy in clear); the recorded header lines
 * follow in their order minus hop-by-hop ones (Connection and the names it
 * lists, Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, Trailer,
 * Transfer-Encoding, Upgrade), minus Content-Length (the body goes out
 * whole with a Content-Length of its own), minus every --drop-header and
 * every name a --header replaces; then the --header lines. Host is the
 * recorded one unless --target or --host-map sent the request elsewhere:
 * then it names the new authority.
 */
#ifndef RINGCAP_RP_REQ_H
#define RINGCAP_RP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tools/replay/diff.h"

#define RP_HOST_MAX 255u        /* DNS name limit (SEG_HOST_MAX) */
#define RP_HEADERS_MAX 32u      /* --header and --drop-header, each */
#define RP_HOST_MAPS_MAX 32u    /* --host-map */

struct seg_exchange;

/* Where a request goes: scheme, host (SNI, verification, Host), port. */
struct rp_dest {
	bool tls;
	uint16_t port;
	char host[RP_HOST_MAX + 1];
};

struct rp_host_map {
	char from[RP_HOST_MAX + 1];   /* recorded host */
	uint16_t from_port;           /* 0: any port */
	struct rp_dest to;            /* to.port 0: the recorded port */
	bool keep_scheme;             /* TO had no scheme: the recorded one */
};

struct rp_rewrite {
	bool has_target;
	struct rp_dest target;                 /* --target */
	struct rp_host_map maps[RP_HOST_MAPS_MAX];
	unsigned nmaps;
	const char *add[RP_HEADERS_MAX];        /* --header "Name: value" */
	unsigned nadd;
	const char *drop[RP_HEADERS_MAX];       /* --drop-header Name */
	unsigned ndrop;
	bool via_proxy;                         /* --proxy: absolute form for http */
	bool diff_body;                         /* hash the recorded body */
};

/* A prepared request. Owned by whoever holds it; rp_req_free(). */
struct rp_req {
	uint64_t id;               /* the recorded exchange id */
	uint64_t rec_off_ns;       /* recorded start minus the first selected one */
	uint32_t group;            /* recorded connection (source.h) */
	struct rp_dest dest;
	struct sockaddr_storage addr; /* dest resolved by the source thread */
	socklen_t addr_len;
	bool head;                 /* HEAD: the answer has no body */
	struct rp_expect expect;
	char *url;                 /* absolute URL as sent (NUL-terminated) */
	size_t url_len;
	char *method;
	uint8_t *data;             /* head + body on the wire */
	size_t len, head_len;      /* all bytes, and the head's part of them */
};

/* Parses --target "http://host:port" / "https://host" into d. Returns 0
 * or -EINVAL with err naming the bad part. */
int rp_dest_parse(const char *url, struct rp_dest *d, char *err, size_t errlen);
/* Parses one --host-map "A=B" (A "host[:port]", B "host[:port]" or a
 * "scheme://host[:port]" URL) into m. */
int rp_host_map_parse(const char *s, struct rp_host_map *m, char *err, size_t errlen);
/* A --header value must be "Name: value" with a token name. */
bool rp_header_valid(const char *s);

/* The bodies of an exchange as the source read them (the request body
 * whole, the response body only counted and hashed, never held). */
struct rp_bodies {
	const uint8_t *req;
	size_t req_len;
	uint64_t resp_len;
	uint32_t resp_hash;        /* crc32c of the response body */
};

/* Builds the request of x with bodies b (NULL: x->body[] as collected).
 * Returns 0, -EPROTONOSUPPORT (a tunnel: nothing
 * to replay), -EFBIG (the request body was not stored whole), -EBADMSG
 * (its head or URL cannot be read) or -ENOMEM. */
int rp_req_build(const struct rp_rewrite *rw, const struct seg_exchange *x,
		 const struct rp_bodies *b, struct rp_req **out);
void rp_req_free(struct rp_req *r);

#endif
