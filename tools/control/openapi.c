/*
 * tools/control/openapi.c - GET /api and /api/openapi.json: the OpenAPI 3.1
 * document of the API, generated from the route tables (router.h), so a
 * route cannot be served without being described: every row not marked
 * RC_ROUTE_HIDDEN becomes an operation with its path parameters (from the
 * pattern), query parameters, body, answer and error statuses. The shared
 * schemas are written out below; tests/node validates the document with a
 * real OpenAPI validator and calls every operation it lists.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/control/router.h"
#include "tools/lib/json.h"

#define OBJ(props) "{\"type\":\"object\",\"properties\":{" props "}}"
#define STR "{\"type\":\"string\"}"
#define INT "{\"type\":\"integer\"}"
#define NUM "{\"type\":\"number\"}"
#define BOOL "{\"type\":\"boolean\"}"
#define STRS "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"
#define NSTR "{\"type\":[\"string\",\"null\"]}"

/* The filter's JSON form: singular keys as the CLI flags, plural ones kept. */
#define FILTER_PROPS \
	"\"method\":" STRS ",\"status\":{\"type\":\"array\",\"items\":{\"type\":[\"string\"," \
	"\"integer\"]}},\"type\":" STRS ",\"client\":" STRS ",\"url_contains\":" STRS \
	",\"url_excludes\":" STRS ",\"url_regex\":" STRS ",\"methods\":" STRS ",\"types\":" \
	STRS ",\"clients\":" STRS

/* The shared schemas, one string each (a C string has a length limit). */
static const char *const schemas[] = {
	"\"Error\":{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{\"error\":"
	STR "}}",
	"\"Filter\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
	FILTER_PROPS "}}",
	"\"Settings\":" OBJ("\"save_responses\":" BOOL ",\"capture_cookies\":" BOOL
			    ",\"max_body\":" INT ",\"filter\":" STR),
	"\"Session\":{\"type\":\"object\",\"required\":[\"id\",\"name\",\"state\"],"
	"\"properties\":{\"id\":" STR ",\"name\":" STR ",\"state\":{\"type\":\"string\","
	"\"enum\":[\"active\",\"paused\",\"stopped\",\"interrupted\"]},\"start\":" NSTR
	",\"stop\":" NSTR ",\"duration_s\":" NUM ",\"exchanges\":" INT ",\"bytes\":" INT
	",\"settings\":{\"$ref\":\"#/components/schemas/Settings\"},\"clients\":" STRS
	",\"clients_more\":" BOOL "}}",
	"\"SessionList\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Session\"}}",
	"\"Status\":{\"type\":\"object\",\"properties\":{\"active\":{\"oneOf\":[{\"type\":\"null\"},"
	"{\"$ref\":\"#/components/schemas/Session\"}]}}}",
	"\"SessionChange\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
	"\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64},\"save_responses\":" BOOL
	",\"capture_cookies\":" BOOL ",\"max_body\":{\"type\":\"integer\",\"minimum\":1},"
	"\"filter\":{\"oneOf\":[{\"type\":\"null\"},{\"$ref\":\"#/components/schemas/Filter\"}]}}}",
	"\"DeletedSession\":" OBJ("\"deleted\":" STR),
	"\"Deleted\":" OBJ("\"deleted\":" INT),
	"\"Ids\":{\"type\":\"object\",\"required\":[\"ids\"],\"additionalProperties\":false,"
	"\"properties\":{\"ids\":{\"type\":\"array\",\"items\":{\"type\":\"integer\","
	"\"minimum\":0},\"maxItems\":10000}}}",
	"\"ExchangeRow\":" OBJ("\"id\":" INT ",\"time\":" STR ",\"method\":" STR ",\"url\":" STR
			       ",\"host\":" STR ",\"status\":" INT ",\"type\":" STR
			       ",\"request_size\":" INT ",\"response_size\":" INT
			       ",\"duration_ms\":" NUM ",\"client\":" STR ",\"error\":" STR
			       ",\"truncated\":" BOOL),
	"\"ExchangeList\":" OBJ("\"total\":" INT ",\"offset\":" INT ",\"limit\":" INT
				",\"damaged\":" INT ",\"exchanges\":{\"type\":\"array\",\"items\":"
				"{\"$ref\":\"#/components/schemas/ExchangeRow\"}}"),
	"\"Exchange\":" OBJ("\"id\":" INT ",\"time\":" STR ",\"method\":" STR ",\"url\":" STR
			    ",\"host\":" STR ",\"client\":" STR ",\"client_name\":" STR
			    ",\"server\":" STR ",\"status\":" INT ",\"type\":" STR ",\"error\":" STR
			    ",\"request_head\":" STR ",\"response_head\":" STR
			    ",\"request_body_bytes\":" INT ",\"response_body_bytes\":" INT
			    ",\"timings_ms\":{\"type\":\"object\"},\"messages\":"
			    "{\"type\":\"array\"},\"messages_more\":" BOOL
			    /* trailer sections, when it has some (tools/views/trailers.h) */
			    ",\"trailers\":{\"type\":\"object\"},\"trailers_cut\":" BOOL),
	/* WebSocket messages of an upgraded exchange (tools/views/messages.h) */
	"\"Messages\":" OBJ("\"more\":" BOOL ",\"messages\":{\"type\":\"array\",\"items\":"
			    OBJ("\"direction\":{\"type\":\"string\",\"enum\":[\"send\",\"receive\"]}"
				",\"time\":" STR ",\"time_ns\":" INT ",\"opcode\":" INT ",\"type\":" STR
				",\"length\":" INT ",\"wire_length\":" INT ",\"deflated\":" BOOL
				",\"cut\":" BOOL ",\"encoding\":{\"type\":\"string\",\"enum\":"
				"[\"text\",\"base64\"]},\"data\":" STR ",\"close_code\":" INT
				",\"close_reason\":" STR) "}"),
	"\"Overview\":" OBJ("\"by\":" STR ",\"total\":" INT ",\"groups\":{\"type\":\"array\","
			    "\"items\":" OBJ("\"key\":" STR ",\"count\":" INT ",\"request_bytes\":"
					     INT ",\"response_bytes\":" INT) "},\"series\":"
			    "{\"type\":\"object\"}"),
	"\"CookieList\":{\"type\":\"array\",\"items\":" OBJ("\"direction\":{\"type\":\"string\","
	"\"enum\":[\"request\",\"response\"]},\"name\":" STR ",\"value\":" STR ",\"domain\":" STR
	",\"path\":" STR) "}",
	"\"CookieDelete\":{\"oneOf\":[{\"type\":\"object\",\"required\":[\"all\"],"
	"\"additionalProperties\":false,\"properties\":{\"all\":{\"const\":true}}},"
	"{\"type\":\"object\",\"required\":[\"cookies\"],\"additionalProperties\":false,"
	"\"properties\":{\"cookies\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
	"\"required\":[\"name\",\"domain\",\"path\"],\"properties\":{\"name\":" STR ",\"domain\":"
	STR ",\"path\":" STR "}}}}}]}",
};

static const char head[] =
	"{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"ringcap control API\",\"version\":\"1\","
	"\"description\":\"The control port of a ringcap capture proxy. Off loopback every "
	"request needs Authorization: Bearer TOKEN (DATA/control.token). Errors are "
	"{\\\"error\\\": \\\"...\\\"}. ID is a session id, a name, or 'active'.\"},"
	"\"security\":[{},{\"bearer\":[]}],\"components\":{\"securitySchemes\":{\"bearer\":"
	"{\"type\":\"http\",\"scheme\":\"bearer\"}},\"responses\":{\"Error\":{\"description\":"
	"\"{\\\"error\\\": a sentence naming the problem}\",\"content\":{\"application/json\":"
	"{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}}},\"schemas\":{";

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad request: the error names the bad part";
	case 401: return "No or wrong bearer token";
	case 404: return "No such route, session or exchange";
	case 405: return "Method not allowed (see Allow)";
	case 409: return "Conflicts with the session's state";
	case 413: return "Request body too large";
	case 500: return "Server error";
	case 503: return "Busy (too many event streams) or starting";
	default: return "Answer";
	}
}

/* "/api/sessions/:id" -> "/api/sessions/{id}"; the :names into names. */
static void oa_path(const char *pattern, struct rc_buf *out)
{
	for (const char *p = pattern; *p;) {
		if (p[0] == ':' && p[-1] == '/') {
			size_t n = strcspn(p + 1, "/");
			rc_buf_printf(out, "{%.*s}", (int)n, p + 1);
			p += 1 + n;
		} else {
			rc_buf_add(out, p++, 1);
		}
	}
}

static void operation_id(const struct rc_route *r, struct rc_buf *out)
{
	rc_buf_puts(out, "\"operationId\":\"");
	for (const char *m = r->method; *m; m++)
		rc_buf_printf(out, "%c", *m | 0x20);
	for (const char *p = r->pattern; *p; p++)
		rc_buf_printf(out, "%c", (*p == '/' || *p == ':') ? '_' : *p);
	rc_buf_puts(out, "\",");
}

static void parameters(const struct rc_route *r, struct rc_buf *out)
{
	bool first = true;
	rc_buf_puts(out, "\"parameters\":[");
	for (const char *p = r->pattern; (p = strstr(p, "/:")) != NULL; p++) {
		size_t n = strcspn(p + 2, "/");
		rc_buf_printf(out, "%s{\"name\":\"%.*s\",\"in\":\"path\",\"required\":true,"
			      "\"schema\":{\"type\":\"string\"}}", first ? "" : ",", (int)n, p + 2);
		first = false;
	}
	for (const struct rc_route_param *q = r->query; q && q->name; q++) {
		rc_buf_printf(out, "%s{\"name\":\"%s\",\"in\":\"query\",\"required\":false,"
			      "\"schema\":%s,\"description\":", first ? "" : ",", q->name, q->schema);
		rc_buf_jstr(out, q->doc, strlen(q->doc));
		rc_buf_puts(out, "}");
		first = false;
	}
	rc_buf_puts(out, "],");
}

static void responses(const struct rc_route *r, struct rc_buf *out)
{
	int ok = r->ok_status ? r->ok_status : 200;
	const char *ctype = r->ok_ctype ? r->ok_ctype : "application/json";
	rc_buf_printf(out, "\"responses\":{\"%d\":{\"description\":\"%s\",\"content\":{\"%s\":"
		      "{\"schema\":%s}}}", ok, reason(ok), ctype,
		      r->ok_schema ? r->ok_schema : "{\"type\":\"string\"}");
	char errs[64];
	snprintf(errs, sizeof(errs), "%s%s", r->errors ? r->errors : "",
		 (r->flags & RC_ROUTE_PUBLIC) ? "" : " 401");
	for (char *save = NULL, *t = strtok_r(errs, " ", &save); t; t = strtok_r(NULL, " ", &save))
		rc_buf_printf(out, ",\"%s\":{\"$ref\":\"#/components/responses/Error\"}", t);
	rc_buf_puts(out, "}");
}

static void operation(const struct rc_route *r, struct rc_buf *out)
{
	char m[8];
	size_t k = 0;
	for (; r->method[k] && k < sizeof(m) - 1; k++)
		m[k] = (char)(r->method[k] | 0x20);
	m[k] = '\0';
	rc_buf_printf(out, "\"%s\":{", m);
	operation_id(r, out);
	rc_buf_puts(out, "\"summary\":");
	rc_buf_jstr(out, r->summary, strlen(r->summary));
	rc_buf_puts(out, ",");
	parameters(r, out);
	if (r->body_schema)
		rc_buf_printf(out, "\"requestBody\":{\"required\":true,\"content\":"
			      "{\"application/json\":{\"schema\":%s}}},", r->body_schema);
	responses(r, out);
	rc_buf_puts(out, "}");
}

/* Was this pattern written out already (an earlier row)? */
static bool seen_before(size_t t, size_t i, const char *pattern)
{
	for (size_t a = 0; a <= t; a++)
		for (size_t b = 0; b < (a == t ? i : rc_route_tables[a]->n); b++) {
			const struct rc_route *r = &rc_route_tables[a]->routes[b];
			if (!(r->flags & RC_ROUTE_HIDDEN) && strcmp(r->pattern, pattern) == 0)
				return true;
		}
	return false;
}

/* Every visible row of pattern, as one path item. */
static void path_item(const char *pattern, struct rc_buf *out)
{
	bool first = true;
	oa_path(pattern, out);
	rc_buf_puts(out, "\":{");
	for (size_t t = 0; t < rc_route_tables_n; t++)
		for (size_t i = 0; i < rc_route_tables[t]->n; i++) {
			const struct rc_route *r = &rc_route_tables[t]->routes[i];
			if ((r->flags & RC_ROUTE_HIDDEN) || strcmp(r->pattern, pattern) != 0)
				continue;
			rc_buf_puts(out, first ? "" : ",");
			operation(r, out);
			first = false;
		}
	rc_buf_puts(out, "}");
}

void rc_openapi_json(struct rc_buf *out)
{
	bool first = true;
	rc_buf_puts(out, head);
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
		rc_buf_puts(out, i ? "," : "");
		rc_buf_puts(out, schemas[i]);
	}
	rc_buf_puts(out, "}},\"paths\":{");
	for (size_t t = 0; t < rc_route_tables_n; t++)
		for (size_t i = 0; i < rc_route_tables[t]->n; i++) {
			const struct rc_route *r = &rc_route_tables[t]->routes[i];
			if ((r->flags & RC_ROUTE_HIDDEN) || seen_before(t, i, r->pattern))
				continue;
			rc_buf_puts(out, first ? "\"" : ",\"");
			path_item(r->pattern, out);
			first = false;
		}
	rc_buf_puts(out, "}}");
}

static int h_openapi(struct rc_req *rq, struct rc_resp *rs)
{
	(void)rq;
	rc_openapi_json(&rs->body);
	return 0;
}

static const struct rc_route routes[] = {
	{ "GET", "/api", h_openapi, 0, "This document (OpenAPI 3.1)", NULL, NULL, NULL,
	  "{\"type\":\"object\"}", 0, "" },
	{ "GET", "/api/openapi.json", h_openapi, 0, "This document (OpenAPI 3.1)", NULL, NULL,
	  NULL, "{\"type\":\"object\"}", 0, "" },
};

const struct rc_route_table rc_openapi_routes = { routes, sizeof(routes) / sizeof(routes[0]) };
