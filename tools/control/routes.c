/*
 * tools/control/routes.c - every route table of the control port, in one
 * list (router.h). A new resource adds its table here and its extern in
 * router.h: two lines, and its
 * routes are served, token-checked and (unless RC_ROUTE_HIDDEN) described
 * in the OpenAPI document.
 */
#include "tools/control/router.h"

const struct rc_route_table *const rc_route_tables[] = {
	&rc_port_routes,
	&rc_openapi_routes,
	&rc_sessions_routes,
	&rc_exchanges_routes,
	&rc_views_routes,
	&rc_events_routes,
	&rc_export_routes,
	&rc_ui_routes,
};
const size_t rc_route_tables_n = sizeof(rc_route_tables) / sizeof(rc_route_tables[0]);
