/*
 * tools/offline.h - commands that read a data directory without a daemon:
 * `ringcap sessions`, `ls`, `show`, `fsck`. Each returns the exit code
 * (0, 1 failure, 2 usage) and takes argv with argv[0] the command name.
 */
#ifndef RINGCAP_OFFLINE_H
#define RINGCAP_OFFLINE_H

int rc_cmd_sessions(int argc, char **argv);
int rc_cmd_ls(int argc, char **argv);
int rc_cmd_show(int argc, char **argv);
int rc_cmd_fsck(int argc, char **argv);

#endif
