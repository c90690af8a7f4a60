/*
 * name.c - host name normalization shared by minting, caches, SNI and the
 * upstream side. A name that reaches a certificate or a cache key has been
 * through tls_name_normalize: lower case, no trailing dot, no brackets,
 * only host name characters, so peer-supplied SNI cannot smuggle anything
 * into a certificate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "tls/tls.h"

static bool name_char_ok(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		return true;
	if (ch >= '0' && ch <= '9')
		return true;
	return ch == '-' || ch == '_' || ch == '.';
}

/* Checks labels: none empty, none longer than 63, '*' only as a whole
 * leading label. */
static bool dns_labels_ok(const char *s, size_t len)
{
	size_t label = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '*') {
			if (i != 0 || len < 3 || s[1] != '.')
				return false;
			label++;
			continue;
		}
		if (!name_char_ok(s[i]))
			return false;
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (++label > 63)
			return false;
	}
	return label > 0;
}

int tls_name_normalize(const char *in, size_t len, char out[TLS_NAME_MAX + 1])
{
	unsigned char ip[16];

	if (len >= 2 && in[0] == '[' && in[len - 1] == ']') {
		in++;
		len -= 2;
	}
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > TLS_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char ch = in[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '\0')
			return -EINVAL;
		out[i] = ch;
	}
	out[len] = '\0';
	if (strchr(out, ':') != NULL)
		return inet_pton(AF_INET6, out, ip) == 1 ? (int)len : -EINVAL;
	if (!dns_labels_ok(out, len))
		return -EINVAL;
	return (int)len;
}

bool tls_name_is_ip(const char *name)
{
	unsigned char ip[16];

	if (inet_pton(AF_INET, name, ip) == 1)
		return true;
	return inet_pton(AF_INET6, name, ip) == 1;
}
