/*
 * tools/cli/session.c - `ringcap session start|pause|resume|stop|set|rename|
 * delete|list|show` (its usage: `ringcap session --help`): each sub-command is one API request
 * (routes in tools/control/api.h); --json prints the daemon's JSON as it came, otherwise
 * a line per session. The HTTP client is the smallest that works with our
 * own server: one request per connection (Connection: close), the answer
 * read to EOF, bounded by CLIENT_ANSWER_MAX.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filter/flt.h"
#include "tools/cli/args.h"
#include "tools/cli/cmds.h"
#include "tools/lib/json.h"
#include "tools/lib/opts.h"
#include "tools/lib/rc-limits.h"
#include "tools/control/token.h"
#include "tools/views/filter.h"

#define CLIENT_ANSWER_MAX RC_CLIENT_ANSWER_MAX
#define CLIENT_TIMEOUT_MS RC_CLIENT_TIMEOUT_MS
#define CLIENT_FILTER_JSON_MAX RC_CLIENT_FILTER_JSON_MAX

struct client {
	const char *control, *data, *token_opt;
	char token[RC_TOKEN_HEX + 1];
	bool json;
	bool yes;                    /* delete without asking */
	const char *cmd;             /* sub-command, for messages */
};

struct answer {
	int status;
	struct rc_buf raw;
	const char *body;
	size_t body_len;
};

static const char usage_text[] =
	"usage: ringcap session COMMAND [options]   (through a running `ringcap run`)\n\n"
	"  start [--name N] [SETTINGS] [FILTER]   create a session and capture into it\n"
	"  pause [ID] | resume [ID] | stop [ID]   the active session by default\n"
	"  set [ID] SETTINGS [FILTER]             change the running session's settings\n"
	"  rename ID NEW_NAME\n"
	"  delete ID [--yes]                      a stopped session (stop it first); asks\n"
	"                                         first on a terminal unless --yes\n"
	"  list [--json]                          every session, newest last\n"
	"  show ID [--json]                       one session and the clients it has seen\n\n"
	"SETTINGS: --save-responses | --no-save-responses, --cookies | --no-cookies,\n"
	"          --max-body SIZE\n"
	"FILTER:   --method M, --status S, --type T, --client CIDR|DEVICE_NAME,\n"
	"          --url-contains TEXT, --url-excludes TEXT, --url-regex RE (repeatable);\n"
	"          --no-filter clears it (a device name: run --identify-by)\n"
	"common:   --control ADDR [$RINGCAP_CONTROL, else " RC_CONTROL_DEFAULT "],\n"
	"          --data DIR [$RINGCAP_DATA, else " RC_DATA_DIR_DEFAULT "] (for its\n"
	"          control.token), --token TOKEN, --json\n"
	"ID is a session id, a name, or 'active'.\n";

/* Connects to the control port; -1 with a message when nothing answers. */
static int dial(const struct client *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];
	if (rc_parse_addr(c->control, &ss, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap session: --control: %s\n", err);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	fprintf(stderr, "ringcap session %s: no ringcap daemon answers on %s (%s): start one "
		"with `ringcap run`, or name its control port with --control ADDR\n", c->cmd,
		c->control, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads to EOF and splits status and body. */
static int read_answer(int fd, struct answer *a)
{
	a->raw.max = CLIENT_ANSWER_MAX;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, CLIENT_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		char buf[65536];
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		rc_buf_add(&a->raw, buf, (size_t)k);
		if (a->raw.oom)
			return -E2BIG;
	}
	const char *end = a->raw.p ? strstr(a->raw.p, "\r\n\r\n") : NULL;
	if (end == NULL || sscanf(a->raw.p, "HTTP/1.%*c %d", &a->status) != 1)
		return -EBADMSG;
	a->body = end + 4;
	a->body_len = a->raw.len - (size_t)(a->body - a->raw.p);
	return 0;
}

/* The "error" string of an error answer, or the status reason. */
static void say_error(const struct client *c, const struct answer *a)
{
	char err[64];
	json_t *o = NULL;
	const char *msg = NULL;
	if (rc_json_parse_object(a->body, a->body_len, &o, err, sizeof(err)) == 0)
		msg = json_string_value(json_object_get(o, "error"));
	if (a->status == 401)
		fprintf(stderr, "ringcap session %s: %s (pass --token, or --data with the daemon's "
			"data directory)\n", c->cmd, msg ? msg : "the daemon wants a token");
	else
		fprintf(stderr, "ringcap session %s: %s (HTTP %d)\n", c->cmd,
			msg ? msg : "the daemon refused", a->status);
	json_decref(o);
}

/* One request; 0 with a 2xx answer in *a, 1 otherwise (message printed). */
static int call(const struct client *c, const char *method, const char *path, const char *body,
		struct answer *a)
{
	memset(a, 0, sizeof(*a));
	int fd = dial(c);
	if (fd < 0)
		return 1;
	struct rc_buf req = {0};
	rc_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path,
		      c->control);
	if (c->token[0])
		rc_buf_printf(&req, "Authorization: Bearer %s\r\n", c->token);
	if (body)
		rc_buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			      strlen(body));
	rc_buf_puts(&req, "\r\n");
	if (body)
		rc_buf_puts(&req, body);
	int rc = req.oom || send_all(fd, req.p, req.len) < 0 ? -EIO : read_answer(fd, a);
	rc_buf_free(&req);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "ringcap session %s: no usable answer from %s: %s\n", c->cmd,
			c->control, strerror(-rc));
		return 1;
	}
	if (a->status < 200 || a->status > 299) {
		say_error(c, a);
		return 1;
	}
	return 0;
}

/* A session object's fields for the one-line view. */
struct view {
	char id[32], name[80], state[16], start[40];
	double duration_s;
	unsigned long long exchanges, bytes;
	char settings[256];
};

static void view_settings(const json_t *o, struct view *w)
{
	const char *key;
	json_t *x;
	size_t n = 0;
	json_object_foreach((json_t *)o, key, x) {
		char text[160];
		if (n >= sizeof(w->settings))
			break;
		if (json_is_string(x)) {
			if (json_string_length(x) == 0)
				continue;
			snprintf(text, sizeof(text), "%s", json_string_value(x));
		} else {
			char *dump = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
			snprintf(text, sizeof(text), "%s", dump ? dump : "?");
			free(dump);
		}
		int k = snprintf(w->settings + n, sizeof(w->settings) - n, "%s%s=%s", n ? " " : "",
				 key, text);
		n += k > 0 ? (size_t)k : 0;
	}
}

static void copy_str(const json_t *o, const char *key, char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(o, key));
	snprintf(out, cap, "%s", v ? v : "");
}

static int view_parse(const json_t *o, struct view *w)
{
	memset(w, 0, sizeof(*w));
	if (!json_is_object(o))
		return -EINVAL;
	copy_str(o, "id", w->id, sizeof(w->id));
	copy_str(o, "name", w->name, sizeof(w->name));
	copy_str(o, "state", w->state, sizeof(w->state));
	copy_str(o, "start", w->start, sizeof(w->start));
	w->duration_s = json_number_value(json_object_get(o, "duration_s"));
	w->exchanges = (unsigned long long)json_integer_value(json_object_get(o, "exchanges"));
	w->bytes = (unsigned long long)json_integer_value(json_object_get(o, "bytes"));
	json_t *st = json_object_get(o, "settings");
	if (json_is_object(st))
		view_settings(st, w);
	return 0;
}

static void view_print(const struct view *w, bool header)
{
	if (header)
		printf("%-13s %-20s %-11s %-24s %10s %10s %12s  %s\n", "ID", "NAME", "STATE", "START",
		       "DURATION", "EXCHANGES", "BYTES", "SETTINGS");
	printf("%-13s %-20s %-11s %-24s %9.0fs %10llu %12llu  %s\n", w->id, w->name, w->state,
	       w->start, w->duration_s, w->exchanges, w->bytes, w->settings);
}

/* "clients  a, b, c" under a session that lists its clients (show): the
 * addresses and device names it has seen, so that a device lab sees its
 * phones by name; "..." when the server left some out. */
static void print_clients(const json_t *o)
{
	const json_t *list = json_object_get(o, "clients");
	const json_t *v;
	size_t i;
	if (!json_is_array(list))
		return;
	printf("clients ");
	json_array_foreach((json_t *)list, i, v)
		printf("%s%s", i ? ", " : " ", json_is_string(v) ? json_string_value(v) : "?");
	if (json_array_size(list) == 0)
		printf(" none yet");
	printf("%s\n", json_is_true(json_object_get(o, "clients_more")) ? ", ..." : "");
}

/* Prints an answer: as it came with --json, else one line per session. */
static int print_sessions(const struct client *c, const struct answer *a, bool array)
{
	if (c->json) {
		fwrite(a->body, 1, a->body_len, stdout);
		return 0;
	}
	struct view w;
	char err[160] = "";
	json_t *all = NULL, *v;
	size_t i;
	int rc = rc_json_parse(a->body, a->body_len, &all, err, sizeof(err));
	if (rc == 0 && !array) {
		rc = view_parse(all, &w);
		if (rc == 0)
			view_print(&w, true);
		if (rc == 0 && !strcmp(c->cmd, "show"))
			print_clients(all);
	} else if (rc == 0 && json_is_array(all)) {
		json_array_foreach(all, i, v) {
			if ((rc = view_parse(v, &w)) < 0)
				break;
			view_print(&w, i == 0);
		}
	} else if (rc == 0) {
		rc = -EINVAL;
	}
	json_decref(all);
	if (rc < 0)
		return fprintf(stderr, "ringcap session %s: unreadable answer%s%s\n", c->cmd,
			       err[0] ? ": " : "", err), 1;
	return 0;
}

/* What start/set send: settings, name, filter. */
struct change {
	const char *name;
	int save_responses, cookies;  /* -1 unset */
	long long max_body;           /* -1 unset */
	bool no_filter;
	struct rc_filter filter;      /* the filter flags (views/filter.h) */
	bool has_filter;
};

/* What the option setters write into. */
struct parsed {
	struct client *c;
	struct change *ch;
};

static int set_control(void *p, const char *v) { ((struct parsed *)p)->c->control = v; return 0; }
static int set_token(void *p, const char *v) { ((struct parsed *)p)->c->token_opt = v; return 0; }
static int set_name(void *p, const char *v) { ((struct parsed *)p)->ch->name = v; return 0; }

static int set_yes(void *p, const char *v)
{
	(void)v;
	((struct parsed *)p)->c->yes = true;
	return 0;
}

static int set_save(void *p, const char *v)
{
	(void)v;
	((struct parsed *)p)->ch->save_responses = 1;
	return 0;
}

static int set_no_save(void *p, const char *v)
{
	(void)v;
	((struct parsed *)p)->ch->save_responses = 0;
	return 0;
}

static int set_cookies(void *p, const char *v)
{
	(void)v;
	((struct parsed *)p)->ch->cookies = 1;
	return 0;
}

static int set_no_cookies(void *p, const char *v)
{
	(void)v;
	((struct parsed *)p)->ch->cookies = 0;
	return 0;
}

static int set_no_filter(void *p, const char *v)
{
	(void)v;
	((struct parsed *)p)->ch->no_filter = true;
	return 0;
}

static int set_max_body(void *p, const char *v)
{
	char err[256];
	uint64_t n = 0;
	if (rc_parse_size(v, &n, err, sizeof(err)) < 0 || n < 1 || n > (1u << 30)) {
		fprintf(stderr, "ringcap session: --max-body: %s\n",
			n < 1 || n > (1u << 30) ? "1 to 1G" : err);
		return -1;
	}
	((struct parsed *)p)->ch->max_body = (long long)n;
	return 0;
}

static const struct rc_opt session_opts[] = {
	{ "control", true, set_control },        { "token", true, set_token },
	{ "name", true, set_name },              { "save-responses", false, set_save },
	{ "no-save-responses", false, set_no_save }, { "cookies", false, set_cookies },
	{ "no-cookies", false, set_no_cookies }, { "max-body", true, set_max_body },
	{ "no-filter", false, set_no_filter },   { "yes", false, set_yes },
	{ NULL, false, NULL },
};

/* The filter flags first (rc_filter_args: they leave argv, *argc shrinks),
 * then the table. Returns the index of the first operand, -2 after --help,
 * -1 after an error. */
static int parse_args(int *argc, char **argv, struct client *c, struct change *ch)
{
	char err[FLT_ERR_LEN + 64];
	if (rc_filter_args(&ch->filter, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcap session %s: %s\n", c->cmd, err);
		return -1;
	}
	ch->has_filter = !flt_spec_is_empty(&ch->filter.spec);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "session %s", c->cmd);
	struct rc_cli_common common = { .cmd = cmd };
	struct parsed p = { c, ch };
	int i = rc_cli_opts(*argc, argv, &common, usage_text, session_opts, &p);
	c->data = common.data;
	c->json = common.json;
	return i;
}

/* The JSON body of start/set/rename. */
static char *change_json(const struct change *ch)
{
	struct rc_buf b = {0};
	rc_buf_puts(&b, "{");
	if (ch->name) {
		rc_buf_puts(&b, "\"name\":");
		rc_buf_jstr(&b, ch->name, strlen(ch->name));
	}
	if (ch->save_responses >= 0)
		rc_buf_printf(&b, "%s\"save_responses\":%s", b.len > 1 ? "," : "",
			      ch->save_responses ? "true" : "false");
	if (ch->cookies >= 0)
		rc_buf_printf(&b, "%s\"capture_cookies\":%s", b.len > 1 ? "," : "",
			      ch->cookies ? "true" : "false");
	if (ch->max_body >= 0)
		rc_buf_printf(&b, "%s\"max_body\":%lld", b.len > 1 ? "," : "", ch->max_body);
	if (ch->no_filter) {
		rc_buf_printf(&b, "%s\"filter\":null", b.len > 1 ? "," : "");
	} else if (ch->has_filter) {
		char *f = malloc(CLIENT_FILTER_JSON_MAX);
		size_t n = f ? flt_spec_format_json(&ch->filter.spec, f, CLIENT_FILTER_JSON_MAX) : 0;
		if (f && n < CLIENT_FILTER_JSON_MAX)
			rc_buf_printf(&b, "%s\"filter\":%s", b.len > 1 ? "," : "", f);
		else
			b.oom = true;
		free(f);
	}
	rc_buf_puts(&b, "}");
	if (b.oom) {
		rc_buf_free(&b);
		return NULL;
	}
	return b.p;
}

/* "/api/sessions/<id, percent-encoded><suffix>" */
static void session_path(char *out, size_t cap, const char *id, const char *suffix)
{
	size_t n = (size_t)snprintf(out, cap, "/api/sessions/");
	for (const unsigned char *p = (const unsigned char *)id; *p && n + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~')
			out[n++] = (char)*p;
		else
			n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
	}
	out[n] = '\0';
	snprintf(out + n, cap - n, "%s", suffix);
}

/* On a terminal (stdin and stdout both), asks before a delete; elsewhere
 * (scripts, pipes) the command is the decision. */
static bool confirmed(const char *id)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return true;
	printf("delete session '%s' and every exchange it holds? [y/N] ", id);
	fflush(stdout);
	char line[16];
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* start, set, rename: a JSON body of the change. */
static int sub_change(struct client *c, struct change *ch, char **pos, int npos)
{
	const char *cmd = c->cmd;
	struct answer a;
	char path[1024];
	if (!strcmp(cmd, "rename"))
		ch->name = pos[1];
	char *body = change_json(ch);
	if (body == NULL)
		return fprintf(stderr, "ringcap session %s: filter too large\n", cmd), 1;
	session_path(path, sizeof(path), npos > 0 ? pos[0] : "active", "");
	int rc = !strcmp(cmd, "start") ? call(c, "POST", "/api/sessions", body, &a)
				       : call(c, "PATCH", path, body, &a);
	free(body);
	rc = rc ? rc : print_sessions(c, &a, false);
	rc_buf_free(&a.raw);
	return rc;
}

/* pause, resume, stop: POST /api/sessions/ID/<cmd>. */
static int sub_action(struct client *c, struct change *ch, char **pos, int npos)
{
	(void)ch;
	char suffix[16], path[1024];
	struct answer a;
	snprintf(suffix, sizeof(suffix), "/%s", c->cmd);
	session_path(path, sizeof(path), npos > 0 ? pos[0] : "active", suffix);
	int rc = call(c, "POST", path, "", &a);
	rc = rc ? rc : print_sessions(c, &a, false);
	rc_buf_free(&a.raw);
	return rc;
}

static int sub_list(struct client *c, struct change *ch, char **pos, int npos)
{
	(void)ch;
	(void)pos;
	(void)npos;
	struct answer a;
	int rc = call(c, "GET", "/api/sessions", NULL, &a);
	rc = rc ? rc : print_sessions(c, &a, true);
	rc_buf_free(&a.raw);
	return rc;
}

static int sub_show(struct client *c, struct change *ch, char **pos, int npos)
{
	(void)ch;
	(void)npos;
	char path[1024];
	struct answer a;
	session_path(path, sizeof(path), pos[0], "");
	int rc = call(c, "GET", path, NULL, &a);
	rc = rc ? rc : print_sessions(c, &a, false);
	rc_buf_free(&a.raw);
	return rc;
}

static int sub_delete(struct client *c, struct change *ch, char **pos, int npos)
{
	(void)ch;
	(void)npos;
	char path[1024];
	struct answer a;
	if (!c->yes && !confirmed(pos[0])) {
		printf("not deleted\n");
		return 1;
	}
	session_path(path, sizeof(path), pos[0], "");
	int rc = call(c, "DELETE", path, NULL, &a);
	if (rc == 0)
		c->json ? (void)fwrite(a.body, 1, a.body_len, stdout)
			: (void)printf("deleted session %s\n", pos[0]);
	rc_buf_free(&a.raw);
	return rc;
}

/* The sub-commands: positional arguments (min..max), whether settings
 * and filter flags or --name apply, and the handler. */
static const struct sub {
	const char *name;
	int min, max;
	bool settings, name_opt;
	int (*fn)(struct client *c, struct change *ch, char **pos, int npos);
} subs[] = {
	{ "start", 0, 0, true, true, sub_change },   { "set", 0, 1, true, false, sub_change },
	{ "rename", 2, 2, false, false, sub_change }, { "pause", 0, 1, false, false, sub_action },
	{ "resume", 0, 1, false, false, sub_action }, { "stop", 0, 1, false, false, sub_action },
	{ "list", 0, 0, false, false, sub_list },     { "show", 1, 1, false, false, sub_show },
	{ "delete", 1, 1, false, false, sub_delete },
};

/* Runs the sub-command on its positional arguments pos[0..npos). */
static int run(struct client *c, struct change *ch, char **pos, int npos)
{
	const struct sub *s = NULL;
	for (size_t k = 0; k < sizeof(subs) / sizeof(subs[0]) && s == NULL; k++)
		if (strcmp(c->cmd, subs[k].name) == 0)
			s = &subs[k];
	if (s == NULL) {
		fprintf(stderr, "ringcap session: unknown command '%s'\n%s", c->cmd, usage_text);
		return 2;
	}
	bool setting = ch->save_responses >= 0 || ch->cookies >= 0 || ch->max_body >= 0 ||
		       ch->has_filter || ch->no_filter;
	if (npos < s->min || npos > s->max || (ch->name && !s->name_opt) ||
	    (setting && !s->settings)) {
		fprintf(stderr, "ringcap session %s: wrong arguments\n%s", c->cmd, usage_text);
		return 2;
	}
	return s->fn(c, ch, pos, npos);
}

int rc_cmd_session(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fprintf(argc < 2 ? stderr : stdout, "%s", usage_text);
		return argc < 2 ? 2 : 0;
	}
	struct client c = { .control = rc_env_control(), .data = rc_env_data(), .cmd = argv[1] };
	struct change ch = { .save_responses = -1, .cookies = -1, .max_body = -1 };
	rc_filter_init(&ch.filter);
	int n = argc - 1;
	int i = parse_args(&n, argv + 1, &c, &ch);
	int rc = i == -2 ? 0 : 2;
	if (i >= 0) {
		if (c.token_opt)
			snprintf(c.token, sizeof(c.token), "%s", c.token_opt);
		else if (rc_token_read(c.data, c.token) < 0)
			c.token[0] = '\0';   /* none: fine on loopback */
		rc = run(&c, &ch, argv + 1 + i, n - i);
	}
	rc_filter_free(&ch.filter);
	return rc;
}
