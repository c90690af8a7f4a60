/*
 * tools/lib/opts.h - parsing of option values shared by every subcommand:
 * sizes ("32k", "16M"), durations ("500ms", "10s", "2m") and addresses
 * ("127.0.0.1:5559", "[::1]:5559", ":5559").
 */
#ifndef RINGCAP_OPTS_H
#define RINGCAP_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Each returns 0, or -EINVAL with a sentence naming the bad value in err. */
int rc_parse_size(const char *s, uint64_t *out, char *err, size_t err_len);
int rc_parse_duration_ms(const char *s, uint64_t *out, char *err, size_t err_len);
int rc_parse_uint(const char *s, uint64_t *out, char *err, size_t err_len);
int rc_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len,
		  char *err, size_t err_len);

/* "10.0.0.0/8", "192.168.1.7" (a /32), "fd00::/8", "::1". The address
 * must have no bits set past the prefix. */
struct eng_cidr;
int rc_parse_cidr(const char *s, struct eng_cidr *out, char *err, size_t err_len);

/* "443,80,8000-8999" or "*" (any port: *n = 0). Up to max ranges. */
struct eng_port_range;
int rc_parse_ports(const char *s, struct eng_port_range *out, unsigned max, unsigned *n,
		   char *err, size_t err_len);

/* Appends the users of an --auth-file (one "user:password" a line; blank
 * lines and lines starting with '#' skipped; CRLF taken) to users[*n..max).
 * Errors name the file and line, never quote a password. */
struct eng_user;
/* Appends one --auth "user:password" (duplicate user names refused). */
int rc_add_user(struct eng_user *users, unsigned max, unsigned *n, const char *s,
		char *err, size_t err_len);
int rc_load_auth_file(const char *path, struct eng_user *users, unsigned max, unsigned *n,
		      char *err, size_t err_len);

#endif
