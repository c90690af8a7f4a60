/*
 * tools/client.h - `ringcap session ...`: the CLI side of the control API.
 * Talks HTTP/1.1 to a running daemon (--control ADDR, default
 * 127.0.0.1:5560) with the bearer token of --token or of the data
 * directory's control.token (--data, default ./ringcap-data), when there
 * is one. Exit codes: 0, 1 (the daemon refused, or is not running), 2 usage.
 */
#ifndef RINGCAP_CLIENT_H
#define RINGCAP_CLIENT_H

int rc_cmd_session(int argc, char **argv);

#endif
