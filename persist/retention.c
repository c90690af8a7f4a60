/* persist/retention.c: keeps the segment files of a data directory under a
 * byte limit by removing whole segments (seg + idx + str) of stopped or
 * interrupted sessions, oldest session first (ids sort by creation time),
 * lowest segment number first within one. Active and paused sessions are
 * never touched: capture in progress is worth more than the limit, which
 * is logged when it cannot be met.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/seg-int.h"
#include "persist/ses.h"

struct victim {
	uint32_t sess; /* index into the session array */
	uint32_t segno;
	uint16_t worker;
	uint64_t bytes;
};

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;
	if (x->sess != y->sess)
		return x->sess < y->sess ? -1 : 1;
	if (x->segno != y->segno)
		return x->segno < y->segno ? -1 : 1;
	return x->worker < y->worker ? -1 : x->worker > y->worker;
}

static uint64_t segment_bytes(const char *dir, uint16_t w, uint32_t s, bool unlink_them)
{
	uint64_t sum = 0;
	for (int k = 0; k < 3; k++) {
		char name[32], path[PATH_MAX + 40];
		struct stat sb;
		seg_file_name(name, sizeof(name), w, s, (enum seg_kind)k);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (stat(path, &sb) == 0)
			sum += (uint64_t)sb.st_size;
		if (unlink_them)
			unlink(path);
	}
	return sum;
}

static void logf_(void (*log)(void *, const char *), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(void (*log)(void *, const char *), void *ctx, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log)
		log(ctx, line);
}

/* Collects every segment; victims only from stopped/interrupted sessions. */
static int collect(const char *data_dir, const struct ses_meta *v, size_t n,
		   struct victim **out, size_t *nv, uint64_t *total)
{
	size_t cap = 256, cnt = 0;
	struct victim *vic = malloc(cap * sizeof(*vic));
	if (!vic)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char dir[PATH_MAX];
		struct seg_list_item *items;
		size_t m;
		if (ses_dir(dir, sizeof(dir), data_dir, v[i].id) < 0 ||
		    seg_list_segments(dir, &items, &m) < 0)
			continue;
		bool may = v[i].state == SES_STOPPED || v[i].state == SES_INTERRUPTED;
		for (size_t j = 0; j < m; j++) {
			uint64_t b = segment_bytes(dir, items[j].worker, items[j].segno, false);
			*total += b;
			if (!may)
				continue;
			if (cnt == cap) {
				struct victim *nvv = realloc(vic, 2 * cap * sizeof(*vic));
				if (!nvv) {
					rc = -ENOMEM;
					break;
				}
				vic = nvv;
				cap *= 2;
			}
			vic[cnt++] = (struct victim){ .sess = (uint32_t)i, .segno = items[j].segno,
						      .worker = items[j].worker, .bytes = b };
		}
		free(items);
	}
	if (rc < 0) {
		free(vic);
		return rc;
	}
	qsort(vic, cnt, sizeof(*vic), victim_cmp);
	*out = vic;
	*nv = cnt;
	return 0;
}

int64_t seg_retention(const char *data_dir, uint64_t max_bytes,
		      void (*log)(void *ctx, const char *line), void *ctx)
{
	struct ses_meta *v = malloc(SES_LIST_MAX * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n, nv = 0;
	uint64_t total = 0, freed = 0;
	struct victim *vic = NULL;
	int rc = ses_list(data_dir, v, SES_LIST_MAX, &n);
	if (rc == 0)
		rc = collect(data_dir, v, n, &vic, &nv, &total);
	for (size_t i = 0; rc == 0 && i < nv && total > max_bytes; i++) {
		char dir[PATH_MAX];
		if (ses_dir(dir, sizeof(dir), data_dir, v[vic[i].sess].id) < 0)
			continue;
		segment_bytes(dir, vic[i].worker, vic[i].segno, true);
		total -= vic[i].bytes;
		freed += vic[i].bytes;
		logf_(log, ctx,
		      "retention: removed segment w%03u-%08u of session %s (%s), %" PRIu64
		      " bytes; store now %" PRIu64 " of %" PRIu64 " bytes",
		      (unsigned)vic[i].worker, (unsigned)vic[i].segno, v[vic[i].sess].id,
		      v[vic[i].sess].name, vic[i].bytes, total, max_bytes);
	}
	if (rc == 0 && total > max_bytes)
		logf_(log, ctx,
		      "retention: store holds %" PRIu64 " bytes, limit %" PRIu64
		      ": only active or paused sessions left, not removing them",
		      total, max_bytes);
	free(vic);
	free(v);
	return rc < 0 ? rc : (int64_t)freed;
}
