/*
 * tools/views/ids.h - id lists ("3,7,10-20"): the --ids of export and
 * replay and the API's ids parameter, parsed once into sorted, merged
 * ranges and looked up by binary search. Pure: no printing, no argv.
 */
#ifndef RC_VIEWS_IDS_H
#define RC_VIEWS_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ranges in an id list: a hand-typed list or a UI selection of some
 * thousand rows (a selection of everything is no list at all). */
#define RC_IDS_RANGES_MAX 65536u

/* Sorted, merged id ranges (allocated by rc_ids_parse, freed by rc_ids_free;
 * a zeroed struct is an empty list). */
struct rc_ids {
	uint64_t (*r)[2]; /* [first, last] inclusive */
	size_t n;
};

/* Parses "3,7,10-20" into out (sorted, overlaps and neighbours merged).
 * Returns 0, or -EINVAL with err naming the bad part ("--ids: '7-3' ends
 * before it starts"), -E2BIG over RC_IDS_RANGES_MAX ranges, -ENOMEM. On
 * error out is empty (nothing to free). */
int rc_ids_parse(const char *s, struct rc_ids *out, char *err, size_t errlen);
/* True when id lies in one of the ranges. */
bool rc_ids_has(const struct rc_ids *ids, uint64_t id);
void rc_ids_free(struct rc_ids *ids);

#endif
