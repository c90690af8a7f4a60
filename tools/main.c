/*
 * tools/main.c - the ringcap binary: the subcommand table, nothing else.
 * Each command lives in tools/cli/ (one file each, see cmds.h).
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli/cmds.h"
#include "tools/lib/rc-limits.h"

#define RINGCAP_VERSION "0.1.0"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct cmd cmds[] = {
	{ "run", rc_cmd_run },           { "ca", rc_cmd_ca },
	{ "session", rc_cmd_session },   { "sessions", rc_cmd_sessions },
	{ "ls", rc_cmd_ls },             { "show", rc_cmd_show },
	{ "fsck", rc_cmd_fsck },         { "overview", rc_cmd_overview },
	{ "cookies", rc_cmd_cookies },   { "export", rc_cmd_export },
	{ "import", rc_cmd_import },     { "replay", rc_cmd_replay },
	{ "ship", rc_cmd_ship },
};

static void usage(FILE *f)
{
	fprintf(f,
		"ringcap %s - capture proxy appliance\n\n"
		"usage: ringcap COMMAND [options]\n\n"
		"commands:\n"
		"  run         run the proxy (ringcap run --help for its options)\n"
		"  ca          show or export the HTTPS interception CA (ringcap ca --help)\n"
		"  session     start, pause, resume, stop, change, rename, delete sessions\n"
		"              of a running daemon (ringcap session --help)\n"
		"  sessions    list capture sessions (offline, on --data)\n"
		"  ls          list a session's exchanges: sort, search, page\n"
		"  show        one exchange: heads, bodies, timings\n"
		"  overview    counts and bytes by method, domain, type or status; traffic graph\n"
		"  cookies     a session's cookies; --jar writes a cookies.txt for curl -b\n"
		"  export      a session as a Postman collection, a HAR or curl commands\n"
		"  import      a HAR file as a new (stopped) session\n"
		"  ship        send sessions into ClickHouse (ringcap ship --help)\n"
		"  replay      send a session again as load, with a report and a diff\n"
		"              against the recording (ringcap replay --help)\n"
		"  fsck        check a session's files; --repair rebuilds indexes\n"
		"  version     print the version\n"
		"  help        this text\n\n"
		"environment (every command; its option wins):\n"
		"  RINGCAP_DATA=DIR       for --data DIR (default " RC_DATA_DIR_DEFAULT ")\n"
		"  RINGCAP_CONTROL=ADDR   for --control ADDR (default " RC_CONTROL_DEFAULT ")\n",
		RINGCAP_VERSION);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("ringcap %s\n", RINGCAP_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ringcap: unknown command '%s' (see ringcap --help)\n", cmd);
	return 2;
}
