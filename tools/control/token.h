/*
 * tools/control/token.h - the control port's bearer token. Required on every
 * request (but the CA files, which are public by nature) when the control
 * port is bound to an address that is not loopback: 32 random bytes as 64
 * hex digits in <data>/control.token (mode 0600), made on first need and
 * reused across restarts, so scripts and `ringcap session` keep working.
 */
#ifndef RINGCAP_TOKEN_H
#define RINGCAP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define RC_TOKEN_FILE "control.token"
#define RC_TOKEN_BYTES 32u
#define RC_TOKEN_HEX (RC_TOKEN_BYTES * 2u)

/* Reads the token file, or creates it (O_EXCL, 0600) when absent. Refuses
 * a file others may read. *created says which. 0 or -errno, err set. */
int rc_token_load_or_create(const char *data_dir, char out[RC_TOKEN_HEX + 1], bool *created,
			    char *err, size_t errlen);
/* Reads an existing token file: 0, -ENOENT, or -errno/-EBADMSG. */
int rc_token_read(const char *data_dir, char out[RC_TOKEN_HEX + 1]);
/* true when an Authorization value is "Bearer <token>" (constant-time). */
bool rc_token_check(const char *authorization, const char *token);
/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 are loopback. */
bool rc_addr_is_loopback(const struct sockaddr_storage *a);

#endif
