/*
 * tools/control/token.c - control-port bearer token: file handling and checks
 * (see token.h). The file holds the 64 hex digits and a newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/control/token.h"

static int token_path(char *buf, size_t cap, const char *data_dir)
{
	int n = snprintf(buf, cap, "%s/%s", data_dir, RC_TOKEN_FILE);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static bool hex_valid(const char *s)
{
	for (size_t i = 0; i < RC_TOKEN_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Reads an open token file; -EBADMSG when it is not 64 hex digits. */
static int read_fd(int fd, char out[RC_TOKEN_HEX + 1])
{
	char buf[RC_TOKEN_HEX + 2];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (n < (ssize_t)RC_TOKEN_HEX || (n > (ssize_t)RC_TOKEN_HEX && buf[RC_TOKEN_HEX] != '\n') ||
	    !hex_valid(buf))
		return -EBADMSG;
	memcpy(out, buf, RC_TOKEN_HEX);
	out[RC_TOKEN_HEX] = '\0';
	return 0;
}

int rc_token_read(const char *data_dir, char out[RC_TOKEN_HEX + 1])
{
	char path[4096];
	int rc = token_path(path, sizeof(path), data_dir);
	if (rc < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = read_fd(fd, out);
	close(fd);
	return rc;
}

static int create(const char *path, char out[RC_TOKEN_HEX + 1])
{
	unsigned char raw[RC_TOKEN_BYTES];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < RC_TOKEN_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char line[RC_TOKEN_HEX + 1];
	memcpy(line, out, RC_TOKEN_HEX);
	line[RC_TOKEN_HEX] = '\n';
	int rc = 0;
	if (write(fd, line, sizeof(line)) != (ssize_t)sizeof(line) || fsync(fd) < 0)
		rc = -EIO;
	close(fd);
	if (rc < 0)
		unlink(path);
	return rc;
}

int rc_token_load_or_create(const char *data_dir, char out[RC_TOKEN_HEX + 1], bool *created,
			    char *err, size_t errlen)
{
	char path[4096];
	int rc = token_path(path, sizeof(path), data_dir);
	*created = false;
	if (rc < 0)
		return snprintf(err, errlen, "data directory path too long"), rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		rc = create(path, out);
		if (rc == 0) {
			*created = true;
			return 0;
		}
		if (rc != -EEXIST)
			return snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc)), rc;
		fd = open(path, O_RDONLY | O_CLOEXEC);   /* lost a race: read the winner's */
	}
	if (fd < 0)
		return rc = -errno, snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc)), rc;
	struct stat st;
	if (fstat(fd, &st) < 0 || (st.st_mode & 077) != 0) {
		close(fd);
		snprintf(err, errlen, "%s may be read by others (mode %03o): chmod 600 it", path,
			 (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	rc = read_fd(fd, out);
	close(fd);
	if (rc < 0)
		snprintf(err, errlen, "%s does not hold a token (64 hex digits): remove it to "
			 "make a new one", path);
	return rc;
}

bool rc_token_check(const char *authorization, const char *token)
{
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	const char *t = authorization + 7;
	while (*t == ' ')
		t++;
	if (strlen(t) != RC_TOKEN_HEX || strlen(token) != RC_TOKEN_HEX)
		return false;
	unsigned char diff = 0;
	for (size_t i = 0; i < RC_TOKEN_HEX; i++)
		diff |= (unsigned char)(t[i] ^ token[i]);
	return diff == 0;
}

bool rc_addr_is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return false;
}
