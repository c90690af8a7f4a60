/*
 * tools/cli/welcome.h - the block `ringcap run` prints once it serves: where
 * to point a device (every non-loopback address of the box with the proxy
 * port), where devices get the CA, the control URL (the web UI is there),
 * the data directory, and the session being captured. Then run is quiet.
 */
#ifndef RINGCAP_CLI_WELCOME_H
#define RINGCAP_CLI_WELCOME_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#define RC_WELCOME_ADDRS_MAX 16u /* interface addresses listed; a box with more
				  * has them said as "and N more" */

struct rc_welcome {
	const struct sockaddr_storage *listen;  /* the proxy */
	const struct sockaddr_storage *control; /* the control port */
	const char *data_dir;
	const char *ca_fingerprint;  /* NULL: no interception */
	bool ca_created;
	const char *session_name, *session_id; /* NULL: no session yet */
	const char *token;           /* NULL or "": the control port is on loopback */
	bool token_created;
	unsigned workers;
};

/* Writes the block to f. */
void rc_welcome_print(FILE *f, const struct rc_welcome *w);

#endif
