/*
 * tests/tools/cli/args_test.c - rc_cli_opts, the option-table parser of the
 * offline commands: each row's setter runs once per occurrence with its
 * value ("--flag V" and "--flag=V"), the shared --data/--json, operands in
 * any order, RINGCAP_DATA as --data's default (--data wins), --help (-2,
 * usage on stdout), unknown and value-less options (-1, one line naming
 * it), a setter's refusal (-1), and a second parse in the same process
 * starting from a clean getopt state. stdout/stderr go to temp files so
 * the messages are checked as printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli/args.h"
#include "tools/lib/rc-limits.h"
#include "tests/check.h"


struct seen {
	const char *name;
	int flags, refusals;
};

static int set_name(void *ctx, const char *v)
{
	((struct seen *)ctx)->name = v;
	return 0;
}

static int set_flag(void *ctx, const char *v)
{
	(void)v;
	((struct seen *)ctx)->flags++;
	return 0;
}

static int set_refuse(void *ctx, const char *v)
{
	(void)v;
	((struct seen *)ctx)->refusals++;
	fprintf(stderr, "ringcap t: --no: refused\n");
	return -1;
}

static const struct rc_opt opts[] = {
	{ "name", true, set_name }, { "flag", false, set_flag }, { "no", false, set_refuse },
	{ NULL, false, NULL },
};

static char err_text[4096];
static char *argv[16];   /* the last parse's argv (getopt permutes operands to the end) */

static const char *next_cmd;   /* rc_cli_common.cmd of the next parse */

/* Parses args (argv[0] = "t") with stderr captured into err_text. */
static int parse(const char *const *args, struct rc_cli_common *c, struct seen *s)
{
	int argc = 0;
	argv[argc++] = (char *)"t";
	for (size_t i = 0; args[i] && argc < 15; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	memset(c, 0, sizeof(*c));
	memset(s, 0, sizeof(*s));
	c->cmd = next_cmd;
	next_cmd = NULL;
	fflush(stderr);
	FILE *tmp = tmpfile();
	int saved = dup(2);
	dup2(fileno(tmp), 2);
	int rc = rc_cli_opts(argc, argv, c, "usage: t\n", opts, s);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(err_text, 1, sizeof(err_text) - 1, tmp);
	err_text[n] = '\0';
	fclose(tmp);
	return rc;
}

int main(void)
{
	struct rc_cli_common c;
	struct seen s;
	unsetenv("RINGCAP_DATA");
	int rc = parse((const char *[]){ "SES", "--name", "a", "--flag", "--flag", "--json", NULL },
		       &c, &s);
	CHECK(rc == 6 && strcmp(argv[rc], "SES") == 0);
	CHECK(s.name && strcmp(s.name, "a") == 0 && s.flags == 2 && c.json);
	CHECK(strcmp(c.data, RC_DATA_DIR_DEFAULT) == 0);
	rc = parse((const char *[]){ "--name=b", "X", "Y", NULL }, &c, &s);
	CHECK(rc == 2 && strcmp(argv[2], "X") == 0 && strcmp(argv[3], "Y") == 0);
	CHECK(strcmp(s.name, "b") == 0 && !c.json);
	setenv("RINGCAP_DATA", "/env/data", 1);
	parse((const char *[]){ "S", NULL }, &c, &s);
	CHECK(strcmp(c.data, "/env/data") == 0);
	parse((const char *[]){ "S", "--data", "/flag", NULL }, &c, &s);
	CHECK(strcmp(c.data, "/flag") == 0);
	setenv("RINGCAP_DATA", "", 1);   /* empty: the default */
	parse((const char *[]){ "S", NULL }, &c, &s);
	CHECK(strcmp(c.data, RC_DATA_DIR_DEFAULT) == 0);
	rc = parse((const char *[]){ "--bogus", "S", NULL }, &c, &s);
	CHECK(rc == -1);
	CHECK(strcmp(err_text, "ringcap t: unknown option '--bogus' (see ringcap t --help)\n") == 0);
	rc = parse((const char *[]){ "S", "--name", NULL }, &c, &s);
	CHECK(rc == -1 && strstr(err_text, "missing value for option '--name'") != NULL);
	rc = parse((const char *[]){ "S", "--no", "--flag", NULL }, &c, &s);
	CHECK(rc == -1 && s.refusals == 1 && s.flags == 0);   /* stops at the refusal */
	next_cmd = "session pause";
	rc = parse((const char *[]){ "--bogus", NULL }, &c, &s);
	CHECK(rc == -1);
	CHECK(strcmp(err_text, "ringcap session pause: unknown option '--bogus' (see ringcap "
			       "session --help)\n") == 0);
	rc = parse((const char *[]){ "--help", "--bogus", NULL }, &c, &s);
	CHECK(rc == -2 && err_text[0] == '\0');
	/* a state left by the refusal above does not leak into this parse */
	rc = parse((const char *[]){ "--flag", "Z", NULL }, &c, &s);
	CHECK(rc == 2 && s.flags == 1);
	CHECK(strcmp(rc_env_control(), RC_CONTROL_DEFAULT) == 0 || getenv("RINGCAP_CONTROL"));
	setenv("RINGCAP_CONTROL", "10.0.0.1:1", 1);
	CHECK(strcmp(rc_env_control(), "10.0.0.1:1") == 0);
	return check_done("args_test");
}
