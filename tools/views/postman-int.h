/*
 * tools/views/postman-int.h - private to the Postman writer
 * (tools/views/export_postman.c, the collection; export_postman_req.c, the
 * request parts of an item): its records, maps and context.
 */
#ifndef RC_VIEWS_POSTMAN_INT_H
#define RC_VIEWS_POSTMAN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/lib/rc-limits.h"
#include "tools/views/export-int.h"
#include "tools/views/listing.h"

#define PM_SCHEMA "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

/* One selected row, through the sorts (export_sort.c orders by key, then
 * key2): first (item hash, 0); then, for an item seen more often than
 * PM_RUN_HOLD times, (method + URL + body hash, position); last (folder
 * rank << 32 | the item's first position, the first position of its
 * request body << 32 | position). */
struct pm_rec {
	uint64_t key, key2;
	uint64_t off;              /* its fragment in the spill */
	uint64_t hash;             /* of the method text and request body */
	uint32_t k;                /* position in the selection */
	uint32_t dom, ep;          /* folder numbers (first appearance) */
	uint32_t first;            /* position of its item's first row */
	uint32_t name_len;         /* the item name (URL as a JSON string) */
	uint32_t req_len;          /* the request object */
	uint32_t exh_len, ext_len; /* an example's parts before and after its
				    * originalRequest (the request again); 0: none */
	uint16_t status;
	uint8_t unreadable, pad;
	uint32_t pad2;
};

/* Rows of one method + URL whose request bodies are grouped in memory;
 * an item seen more often goes through one more external sort (by body
 * hash). Bounds the write pass too: it never holds an item. */
#define PM_RUN_HOLD 1024u

_Static_assert(sizeof(struct pm_rec) == 72, "the size the comments and README give");
/* The selection's positions fit the sort keys' 32-bit halves. */
_Static_assert(SEG_TABLE_ROWS_MAX <= UINT32_MAX, "positions fit 32 bits");

/* Open addressing map from a 64-bit hash to a first-appearance number. */
struct pm_map {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap, n;
};

/* A folder's or origin's name in the names buffer. */
struct pm_name {
	uint32_t off, len;
	uint32_t dom; /* endpoints: their domain's number */
};

struct pm_names {
	struct pm_name *v;
	size_t n, cap;
};

struct pm_ctx {
	const char *dir;
	struct rc_sel *sel;
	const struct rc_export_opts *opt;
	struct rc_xout *o;
	struct rc_export_stats *st;
	struct rc_caches *cache;
	struct rc_xsort *by_item, *by_body, *by_folder;
	struct pm_rec *held;    /* PM_RUN_HOLD records of the current item */
	size_t nheld;
	bool run_spilled;       /* the current item went to by_body */
	FILE *spill;            /* rendered names, requests and examples */
	char *spill_buf;        /* its stdio buffer */
	uint64_t spill_len;
	struct rc_buf scratch;  /* one row's rendering */
	char *frag;             /* one fragment read back */
	size_t frag_cap;
	struct pm_map doms, eps, origins;
	struct pm_names dom_names, ep_names, origin_names;
	struct rc_buf names;    /* folder and origin names */
	uint32_t *rank;         /* folder number -> place in folder order */
	size_t n;               /* rows rendered */
	/* the description: time span and clients */
	uint64_t t0, t1;
	char clients[RC_EXPORT_CLIENTS_MAX][RC_ADDR_TEXT_MAX];
	size_t nclients;
	bool more_clients;
};

/* export_postman.c: FNV-1a of p[0..n) continued from h. */
uint64_t pm_hash64(uint64_t h, const void *p, size_t n);
/* export_postman.c: the number of hash h in m (first appearance order; the
 * map has room: map_grow before each call); *fresh when it was new. */
uint32_t pm_map_get(struct pm_map *m, uint64_t h, bool *fresh);
/* export_postman_req.c: the "request" object of an item. */
void pm_request(struct pm_ctx *c, struct rc_buf *b, const struct seg_exchange *x);
/* export_postman_req.c: a saved response: its parts before and after the
 * originalRequest (the caller puts the request between); *head is where
 * the second part begins in b. */
void pm_example(struct rc_buf *b, const struct seg_exchange *x, size_t *head);

#endif
