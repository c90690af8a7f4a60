/*
 * tools/lib/opts.c - option value parsers (see opts.h). Strict: no trailing
 * garbage, no overflow, no empty values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/eng.h"
#include "tools/lib/opts.h"

/* Leading decimal digits of s into *v; returns the count, or -1 on overflow. */
static int digits(const char *s, uint64_t *v)
{
	int n = 0;
	*v = 0;
	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (*v > (UINT64_MAX - 9) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(s[n] - '0');
	}
	return n;
}

int rc_parse_uint(const char *s, uint64_t *out, char *err, size_t err_len)
{
	int n = digits(s, out);
	if (n <= 0 || s[n] != '\0') {
		snprintf(err, err_len, "'%s' is not a whole number", s);
		return -EINVAL;
	}
	return 0;
}

int rc_parse_size(const char *s, uint64_t *out, char *err, size_t err_len)
{
	static const struct { const char *suffix; uint64_t mul; } units[] = {
		{ "", 1 }, { "b", 1 }, { "k", 1024 }, { "kb", 1024 }, { "kib", 1024 },
		{ "m", 1024 * 1024 }, { "mb", 1024 * 1024 }, { "mib", 1024 * 1024 },
		{ "g", 1024ull * 1024 * 1024 }, { "gb", 1024ull * 1024 * 1024 },
		{ "gib", 1024ull * 1024 * 1024 },
	};
	uint64_t v;
	int n = digits(s, &v);
	if (n > 0) {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcasecmp(s + n, units[i].suffix) != 0)
				continue;
			if (v > UINT64_MAX / units[i].mul)
				break;
			*out = v * units[i].mul;
			return 0;
		}
	}
	snprintf(err, err_len, "'%s' is not a size (like 4096, 32k, 16M, 1G)", s);
	return -EINVAL;
}

int rc_parse_duration_ms(const char *s, uint64_t *out, char *err, size_t err_len)
{
	static const struct { const char *suffix; uint64_t mul; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	uint64_t v;
	int n = digits(s, &v);
	if (n > 0) {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcmp(s + n, units[i].suffix) != 0)
				continue;
			if (v > UINT64_MAX / units[i].mul)
				break;
			*out = v * units[i].mul;
			return 0;
		}
	}
	snprintf(err, err_len, "'%s' is not a duration (like 500ms, 10s, 2m, 1h)", s);
	return -EINVAL;
}

int rc_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len,
		  char *err, size_t err_len)
{
	char host[64];
	const char *port_s;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		port_s = rb + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
			goto bad;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port_s = colon + 1;
	}
	uint64_t port;
	int n = digits(port_s, &port);
	if (n <= 0 || port_s[n] != '\0' || port == 0 || port > 65535)
		goto bad;
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else if (strcmp(host, "localhost") == 0 ||
		   inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		if (strcmp(host, "localhost") == 0)
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, err_len, "'%s' is not ADDR:PORT (like 0.0.0.0:5559, "
		 "127.0.0.1:5559, [::1]:5559, :5559)", s);
	return -EINVAL;
}

int rc_parse_cidr(const char *s, struct eng_cidr *out, char *err, size_t err_len)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		goto bad;
	}
	uint64_t bits = max;
	if (slash) {
		int n = digits(slash + 1, &bits);
		if (n <= 0 || slash[1 + n] != '\0' || bits > max)
			goto bad;
	}
	out->bits = (uint8_t)bits;
	for (unsigned i = (unsigned)bits; i < max; i++)
		if (out->addr[i / 8] & (0x80u >> (i % 8))) {
			snprintf(err, err_len, "'%s' has address bits set past /%u", s, (unsigned)bits);
			return -EINVAL;
		}
	return 0;
bad:
	snprintf(err, err_len, "'%s' is not an address block (like 10.0.0.0/8, 192.168.1.7, "
		 "fd00::/8)", s);
	return -EINVAL;
}

int rc_parse_ports(const char *s, struct eng_port_range *out, unsigned max, unsigned *n,
		   char *err, size_t err_len)
{
	*n = 0;
	if (strcmp(s, "*") == 0)
		return 0;
	const char *p = s;
	for (unsigned i = 0; i <= max; i++) {
		uint64_t lo, hi;
		int k = digits(p, &lo);
		if (k <= 0 || lo == 0 || lo > 65535)
			goto bad;
		p += k;
		hi = lo;
		if (*p == '-') {
			k = digits(p + 1, &hi);
			if (k <= 0 || hi < lo || hi > 65535)
				goto bad;
			p += 1 + k;
		}
		if (*n == max) {
			snprintf(err, err_len, "'%s' has more than %u ports or ranges", s, max);
			return -EINVAL;
		}
		out[*n].lo = (uint16_t)lo;
		out[*n].hi = (uint16_t)hi;
		(*n)++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			goto bad;
	}
bad:
	snprintf(err, err_len, "'%s' is not a list of ports (like 443,80 or 443,8000-8999, "
		 "or * for any)", s);
	return -EINVAL;
}

static int add_user(struct eng_user *users, unsigned max, unsigned *n, const char *line,
		    size_t len, char *err, size_t err_len)
{
	if (*n == max) {
		snprintf(err, err_len, "more than %u users", max);
		return -EINVAL;
	}
	int rc = eng_user_parse(line, len, &users[*n], err, err_len);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < *n; i++)
		if (users[i].user_len == users[*n].user_len &&
		    memcmp(users[i].cred, users[*n].cred, users[i].user_len) == 0) {
			snprintf(err, err_len, "user '%.*s' is given twice",
				 (int)users[i].user_len, users[i].cred);
			return -EINVAL;
		}
	(*n)++;
	return 0;
}

int rc_load_auth_file(const char *path, struct eng_user *users, unsigned max, unsigned *n,
		      char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, err_len, "cannot read '%s': %s", path, strerror(errno));
		return -errno;
	}
	char line[1024], why[256];
	unsigned lineno = 0, before = *n;
	int rc = 0;
	/* bounded: each line is one more user, and users are at most max */
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, err_len, "%s line %u: longer than %zu bytes", path, lineno,
				 sizeof(line) - 2);
			rc = -EINVAL;
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		rc = add_user(users, max, n, line, len, why, sizeof(why));
		if (rc < 0)
			snprintf(err, err_len, "%s line %u: %s", path, lineno, why);
	}
	fclose(f);
	if (rc == 0 && *n == before) {
		snprintf(err, err_len, "'%s' has no users (lines of user:password)", path);
		rc = -EINVAL;
	}
	return rc;
}

int rc_add_user(struct eng_user *users, unsigned max, unsigned *n, const char *s,
		char *err, size_t err_len)
{
	return add_user(users, max, n, s, strlen(s), err, err_len);
}
