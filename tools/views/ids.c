/*
 * tools/views/ids.c - id lists (see ids.h): one parser for export's and
 * replay's --ids and the API's ids parameter.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/views/ids.h"

static int range_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int ids_add(struct rc_ids *ids, size_t *cap, uint64_t a, uint64_t b)
{
	if (ids->n == RC_IDS_RANGES_MAX)
		return -E2BIG;
	if (ids->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *p = realloc(ids->r, nc * sizeof(*ids->r));
		if (p == NULL)
			return -ENOMEM;
		ids->r = p;
		*cap = nc;
	}
	ids->r[ids->n][0] = a;
	ids->r[ids->n][1] = b;
	ids->n++;
	return 0;
}

static int id_num(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int rc_ids_parse(const char *s, struct rc_ids *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	size_t cap = 0;
	const char *p = s;
	int rc = 0;
	for (size_t guard = 0; rc == 0 && guard <= RC_IDS_RANGES_MAX; guard++) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		const char *dash = memchr(p, '-', n);
		uint64_t a, b;
		if (dash ? id_num(p, (size_t)(dash - p), &a) < 0 ||
			   id_num(dash + 1, (size_t)(p + n - dash - 1), &b) < 0 :
			   id_num(p, n, &a) < 0) {
			snprintf(err, errlen, "--ids: '%.*s' is not an id or a range A-B", (int)n, p);
			rc = -EINVAL;
			break;
		}
		if (!dash)
			b = a;
		if (b < a) {
			snprintf(err, errlen, "--ids: '%.*s' ends before it starts", (int)n, p);
			rc = -EINVAL;
			break;
		}
		rc = ids_add(out, &cap, a, b);
		if (rc == -E2BIG)
			snprintf(err, errlen, "--ids: more than %u ranges", RC_IDS_RANGES_MAX);
		if (c == NULL)
			break;
		p = c + 1;
	}
	if (rc < 0) {
		rc_ids_free(out);
		return rc;
	}
	qsort(out->r, out->n, sizeof(*out->r), range_cmp);
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (k > 0 && out->r[i][0] <= out->r[k - 1][1] + 1) {
			if (out->r[i][1] > out->r[k - 1][1])
				out->r[k - 1][1] = out->r[i][1];
			continue;
		}
		out->r[k][0] = out->r[i][0];
		out->r[k++][1] = out->r[i][1];
	}
	out->n = k;
	return 0;
}

bool rc_ids_has(const struct rc_ids *ids, uint64_t id)
{
	size_t lo = 0, hi = ids->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (id < ids->r[mid][0])
			hi = mid;
		else if (id > ids->r[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

void rc_ids_free(struct rc_ids *ids)
{
	free(ids->r);
	ids->r = NULL;
	ids->n = 0;
}
