/*
 * tools/ca.h - `ringcap ca`: show the install CA (creating it on first use,
 * exactly as `ringcap run` does) or export it for a device.
 *
 *   ringcap ca [--data DIR] [--json]
 *   ringcap ca [--data DIR] --export FILE [--format pem|der|p12]
 *              [--password PW] [--json]
 *
 * FILE "-" writes to stdout. Without --format the format comes from FILE's
 * extension (.pem, .crt/.cer/.der, .p12/.pfx), else PEM.
 */
#ifndef RINGCAP_TOOLS_CA_H
#define RINGCAP_TOOLS_CA_H

/* Runs the subcommand with ARGV[0] == "ca". Returns the exit code and never
 * calls exit(): 0 done, 1 failed (data directory or CA unusable, export
 * not written), 2 usage error. Errors are one line on stderr. */
int rc_cmd_ca(int argc, char **argv);

#endif
