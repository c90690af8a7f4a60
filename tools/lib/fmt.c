/*
 * tools/lib/fmt.c - JSON strings and ISO times for the views (tools/fmt.h).
 */
#include <stdbool.h>
#include <time.h>

#include "persist/ses.h"
#include "tools/lib/fmt.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
	if (k == 0 || c > 0xf4 || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return k;
}

void rc_json_str(FILE *f, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, f);
		} else {
			size_t k = utf8_len(u + i, n - i);
			if (k == 0) {
				fprintf(f, "\\u%04x", c);
				continue;
			}
			fwrite(u + i, 1, k, f);
			i += k - 1;
		}
	}
	fputc('"', f);
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
