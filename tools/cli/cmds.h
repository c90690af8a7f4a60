/*
 * tools/cli/cmds.h - the subcommands of the ringcap binary, one file each
 * under tools/cli/. Each takes argv with argv[0] the command's name and
 * returns the exit code: 0 done, 1 failed (one line on stderr), 2 usage.
 */
#ifndef RINGCAP_CLI_CMDS_H
#define RINGCAP_CLI_CMDS_H

int rc_cmd_run(int argc, char **argv);      /* cli/run.c: the daemon */
int rc_cmd_session(int argc, char **argv);  /* cli/session.c: through the control port */
int rc_cmd_ca(int argc, char **argv);       /* cli/ca.c */
int rc_cmd_sessions(int argc, char **argv); /* the offline commands, on a data directory */
int rc_cmd_ls(int argc, char **argv);
int rc_cmd_show(int argc, char **argv);
int rc_cmd_fsck(int argc, char **argv);
int rc_cmd_overview(int argc, char **argv);
int rc_cmd_cookies(int argc, char **argv);
int rc_cmd_ship(int argc, char **argv);     /* cli/ship.c: sessions into ClickHouse */
int rc_cmd_export(int argc, char **argv);  /* cli/export.c */
int rc_cmd_import(int argc, char **argv);  /* cli/import.c */
int rc_cmd_replay(int argc, char **argv);   /* cli/replay.c; the loop is tools/replay/ */

#endif
