/*
 * tools/cli/welcome.c - the start-up block of `ringcap run` (see welcome.h).
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli/welcome.h"
#include "tools/control/token.h"

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
					      : ((const struct sockaddr_in *)a)->sin_port);
}

/* "10.0.0.2:5559" or "[fd00::2]:5559". */
static void addr_port(const struct sockaddr *a, uint16_t port, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (a->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof(ip));
		snprintf(buf, n, "[%s]:%u", ip, port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s:%u", ip, port);
	}
}

static bool is_any(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
}

static bool is_loopback(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET6) {
		const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(x) || IN6_IS_ADDR_LINKLOCAL(x);
	}
	return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
}

/* The addresses a device can use: the listener's own, or with a wildcard
 * listener every non-loopback address of the box (IPv6 only when it
 * listens on IPv6). */
static void device_addrs(FILE *f, const struct sockaddr_storage *l)
{
	uint16_t port = port_of(l);
	char buf[INET6_ADDRSTRLEN + 16];
	if (!is_any(l)) {
		addr_port((const struct sockaddr *)l, port, buf, sizeof(buf));
		fprintf(f, "    %s%s\n", buf, is_loopback((const struct sockaddr *)l) ?
			"   (loopback: only this box; --listen 0.0.0.0:PORT for devices)" : "");
		return;
	}
	struct ifaddrs *ifs = NULL, *i;
	unsigned shown = 0, more = 0;
	if (getifaddrs(&ifs) < 0)
		ifs = NULL;
	for (i = ifs; i; i = i->ifa_next) {
		const struct sockaddr *a = i->ifa_addr;
		if (a == NULL || !(i->ifa_flags & IFF_UP) || is_loopback(a))
			continue;
		if (a->sa_family != AF_INET && !(a->sa_family == AF_INET6 && l->ss_family == AF_INET6))
			continue;
		if (shown == RC_WELCOME_ADDRS_MAX) {
			more++;
			continue;
		}
		addr_port(a, port, buf, sizeof(buf));
		fprintf(f, "    %-30s (%s)\n", buf, i->ifa_name);
		shown++;
	}
	freeifaddrs(ifs);
	if (more)
		fprintf(f, "    and %u more addresses\n", more);
	if (shown == 0)
		fprintf(f, "    (no network address besides loopback: port %u)\n", port);
}

void rc_welcome_print(FILE *f, const struct rc_welcome *w)
{
	char ctl[INET6_ADDRSTRLEN + 16], dir[PATH_MAX];
	const char *data = realpath(w->data_dir, dir) ? dir : w->data_dir;
	fprintf(f, "ringcap (%u workers): set this as the HTTP and HTTPS proxy of a device:\n",
		w->workers);
	device_addrs(f, w->listen);
	if (w->ca_fingerprint)
		fprintf(f, "  then install the CA on it: browse to http://ringcap.cert/ through "
			"the proxy\n  (CA SHA-256 %s%s)\n", w->ca_fingerprint,
			w->ca_created ? ", created now" : "");
	else
		fprintf(f, "  HTTPS is tunnelled, not intercepted (--no-intercept)\n");
	addr_port((const struct sockaddr *)w->control, port_of(w->control), ctl, sizeof(ctl));
	if (is_any(w->control))
		fprintf(f, "  control API and web UI: port %u of the addresses above "
			"(http://ADDRESS:%u/)\n", port_of(w->control), port_of(w->control));
	else
		fprintf(f, "  control API and web UI: http://%s/\n", ctl);
	if (w->token && w->token[0])
		fprintf(f, "  (not on loopback: every request needs the bearer token, in %s/%s)\n",
			data, RC_TOKEN_FILE);
	fprintf(f, "  data: %s\n", data);
	if (w->session_name)
		fprintf(f, "  capturing into session '%s' (%s)\n", w->session_name, w->session_id);
	else
		fprintf(f, "  not capturing: ringcap session start --name NAME starts a session\n");
	fflush(f);
}
