/* persist/scan-int.h: private to the streaming selection (persist/scan.c,
 * the passes and text; persist/scan_keys.c, the sort keys): the state of a
 * scan and the key helpers scan.c calls. persist/scan.c's file comment has
 * the design (a row's place, the two passes).
 */
#ifndef SEG_SCAN_INT_H
#define SEG_SCAN_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "persist/reader-int.h"
#include "persist/scan.h"
#include "persist/spill.h"
#include "persist/tsort.h"

#define POS_EXTRA (1ull << 31)
#define POS_ENTRY_MASK 0x7fffffffull
/* A place uses bits 0..47; a raw timed key keeps its small value above. */
#define POS_MASK ((1ull << 48) - 1)
/* Distinct hosts a host sort ranks in 16 bits (query.c's threshold). */
#define HOSTS_RANKED_MAX 0xffffu
/* A window read after one that served fewer than WIN_HITS_FULL reads is
 * WIN_SMALL bytes (or the row's), not the whole window: rows in URL order
 * jump about the files, and a 350 KiB read per row cost 58 s of system
 * time for 1M rows (bench/README.md, export). */
#define WIN_HITS_FULL 4u
#define WIN_SMALL 4096u

_Static_assert(SEG_FILES_MAX <= (1u << 16), "segment index fits pos bits 32..47");

struct skey {
	uint64_t k, pos;
};

/* A window of bytes over one file, read with pread. */
struct win {
	int fd;
	uint16_t worker;
	uint32_t segno;
	uint64_t size;       /* of the file when opened */
	uint64_t off;        /* file offset of buf[0] */
	size_t len, cap;
	uint32_t hits;       /* reads the current window served */
	uint8_t *buf;
	uint8_t ver;         /* an index file's layout (SEG_IDX_V*, its header) */
};

/* A string file rebuilt from frames (damaged .str), kept for the scan. */
struct own_str {
	uint16_t worker;
	uint32_t segno;
	char *buf;
	uint64_t len;
};

/* One distinct host of a host sort: its text in the arena, its number
 * in order of first appearance; len == UINT32_MAX marks a free slot. */
struct hslot {
	uint32_t off, len, id;
};

struct seg_scan {
	char dir[PATH_MAX];
	struct seg_query q;
	bool need_text;       /* pass 1 resolves host/URL (search, match, host sort) */
	bool timed;           /* raw keys until finish_keys (file comment) */
	bool host_text;       /* a host sort ordered by text (too many hosts) */
	struct seg_tsort *ts; /* text sorts: the records instead of keys */
	uint64_t t_min;       /* earliest start of every row pass 1 saw */
	uint64_t nseen;       /* rows pass 1 saw */
	struct hslot *hs;     /* host sort: open addressing over distinct hosts */
	size_t hs_cap, hs_used;
	char *arena;          /* their text */
	size_t arena_len, arena_cap;
	struct seg_list_item *items;
	size_t nitems;
	uint64_t *tombs;      /* sorted ids */
	size_t ntombs;
	struct win idx[SEG_SCAN_SLOTS], str[SEG_SCAN_SLOTS];
	struct own_str *own;
	size_t nown, own_cap;
	FILE *extra;          /* struct seg_entry per slot */
	uint64_t nextra;
	uint64_t *extra_base; /* [nitems]: first extra slot of each segment */
	/* keys */
	struct skey *keys;
	size_t nkeys, keys_cap, chunk; /* keys held, allocated, in a full run */
	struct seg_spill sp;  /* spilled runs of keys (persist/spill.h) */
	size_t total, count, handed, skipped;
	uint64_t mem_pos;     /* next key of the in-memory run */
	/* pass 1 walk */
	size_t cur_item;
	uint64_t cur_j, cur_n;
	struct seg_report *rep;
	int err;
};

/* scan_keys.c: adds a key (spilling a full run); 0, -E2BIG past
 * SEG_TABLE_ROWS_MAX rows, -ENOMEM or -EIO. */
int scan_add_key(struct seg_scan *s, uint64_t k, uint64_t pos);
/* scan_keys.c: the key of a size, duration or time sort. */
uint64_t scan_sort_key(const struct seg_entry *e, uint8_t sort);
/* scan_keys.c: a sort whose keys stay raw until pass 1 ends. */
bool scan_is_timed(uint8_t sort);
/* scan_keys.c: the small value of a timed sort's raw key. */
uint64_t scan_small_key(const struct seg_entry *e, uint8_t sort);
/* scan_keys.c: the number of a distinct host (first appearance). */
int scan_host_id(struct seg_scan *s, const char *h, uint32_t n, uint32_t *id);
/* scan_keys.c: after pass 1, the keys made final and sorted, in memory
 * or spilled with the merge's buffers. 0 or -errno. */
int scan_finish_keys(struct seg_scan *s);

#endif
