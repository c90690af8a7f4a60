/*
 * tools/lib/fmt.c - JSON strings into a FILE, percent-decoding and ISO times
 * (tools/lib/fmt.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "persist/ses.h"
#include "tools/lib/fmt.h"
#include "tools/lib/json.h"

/* Through the one escaper of tools/ (rc_buf_jstr) and one small buffer. */
void rc_json_str(FILE *f, const char *s, size_t n)
{
	struct rc_buf b = {0};
	rc_buf_jstr(&b, s, n);
	if (!b.oom)
		fwrite(b.p, 1, b.len, f);
	rc_buf_free(&b);
}

int rc_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int rc_pct_decode(const char *s, size_t n, bool plus, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (plus && s[i] == '+') {
			ch = ' ';
		} else if (s[i] == '%') {
			int hi = n - i > 2 ? rc_hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? rc_hexval(s[i + 2]) : -1;
			if (lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (k + 1 >= cap)
			return -E2BIG;
		out[k++] = (char)ch;
	}
	if (cap == 0)
		return -E2BIG;
	out[k] = '\0';
	return (int)k;
}

void rc_iso_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
}

size_t rc_clean(char *dst, size_t cap, const char *s, size_t n, size_t width)
{
	size_t total = 0, k = 0, cols = 0;
	if (cap < 4)
		return 0;
	for (size_t i = 0; i < n; i++)
		total += ((unsigned char)s[i] & 0xc0) != 0x80; /* continuations take no column */
	size_t dots = total > width && width > 3 ? 3 : 0;
	size_t limit = total > width ? width - dots : width;
	for (size_t i = 0; i < n && k + 1 + dots < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		bool lead = (c & 0xc0) != 0x80;
		if (lead && cols == limit)
			break;
		dst[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		cols += lead;
	}
	for (size_t d = 0; d < dots; d++, cols++)
		dst[k++] = '.';
	dst[k] = '\0';
	return cols;
}

int rc_session_dir(const char *cmd, const char *data, const char *name, struct ses_meta *m,
		   char *dir, size_t cap)
{
	int rc = ses_find(data, name, m);
	if (rc < 0) {
		fprintf(stderr, "ringcap %s: no session '%s' in %s\n", cmd, name, data);
		return rc;
	}
	ses_dir(dir, cap, data, m->id);
	return 0;
}

void rc_human_bytes(uint64_t v, char *buf, size_t n)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (v < 1024) {
		snprintf(buf, n, "%llu B", (unsigned long long)v);
		return;
	}
	double x = (double)v / 1024.0;
	size_t u = 0;
	while (x >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		x /= 1024.0;
		u++;
	}
	snprintf(buf, n, "%.1f %s", x, unit[u]);
}
