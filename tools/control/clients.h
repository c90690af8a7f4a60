/*
 * tools/control/clients.h - the clients of a session for GET
 * /api/sessions/:id, without a scan of the whole index per request: a
 * small cache of sessions, each with a tail of its index (persist/tail.h)
 * read from its first entry and the distinct clients seen so far. A
 * request polls the tail (a few stat calls when nothing changed) and
 * copies the list; only the first request for a session reads its index
 * whole. The tombstone file's size is kept: when it changed (exchanges
 * deleted) the entry starts over with the tombstones applied, so a
 * client whose every exchange was deleted leaves the list.
 */
#ifndef RINGCAP_CLIENTS_H
#define RINGCAP_CLIENTS_H

#define RC_CLIENTS_CACHED 8u /* sessions kept: those a person has open, plus the
			      * history page's rows (a miss costs one read of the
			      * session's index, as before the cache existed);
			      * each holds a tail's buffers, about 450 KiB */

struct rc_clients;
struct rc_clients_cache;

int rc_clients_cache_create(struct rc_clients_cache **out);
void rc_clients_cache_free(struct rc_clients_cache *c);
/* The clients of the session in session_dir into *out (deleted exchanges
 * left out). Thread-safe. 0 or -errno. */
int rc_clients_cache_get(struct rc_clients_cache *c, const char *session_dir,
			 struct rc_clients *out);

#endif
