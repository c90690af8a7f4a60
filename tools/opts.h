/*
 * tools/opts.h - parsing of option values shared by every subcommand:
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

#endif
