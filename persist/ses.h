/* persist/ses.h: capture sessions: one directory per session under the data
 * directory, named by the session id, holding "session.meta" (written
 * atomically: temp file, fsync, rename, fsync of the directory) next to the
 * segment files. Ids are 12 characters of Crockford base32: 9 of
 * milliseconds since the epoch, then 3 random: short, unique (mkdir
 * O_EXCL-like retry) and sortable by creation time as plain strings.
 */
#ifndef SES_H
#define SES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SES_ID_LEN 12u
#define SES_NAME_MAX 64u     /* bytes; printable, no '/' */
#define SES_FILTER_MAX 4096u /* the filter spec as text (one line) */
#define SES_LIST_MAX 4096u   /* sessions in one data directory */
#define SES_META_FILE "session.meta"
#define SES_META_PREV_FILE "session.meta.prev" /* the copy the last save replaced */

/* SES_DAMAGED is never written: it names a session whose metadata (and its
 * previous copy) cannot be read, listed from what its segments say. */
enum ses_state {
	SES_ACTIVE = 0, SES_PAUSED, SES_STOPPED, SES_INTERRUPTED, SES_DAMAGED, SES_STATE_COUNT
};

/* Where a loaded ses_meta came from. */
enum ses_origin {
	SES_META_OK = 0, /* session.meta */
	SES_META_PREV,   /* session.meta unreadable: its previous copy, session.meta.prev */
	SES_META_LOST,   /* neither readable: id from the directory, times from the
			  * segments, name = id, state SES_DAMAGED, default settings */
};

struct ses_settings {
	bool save_responses;
	bool capture_cookies;
	uint64_t max_body;            /* per direction, bytes */
	char filter[SES_FILTER_MAX + 1]; /* opaque to persist: the filter spec text */
};

struct ses_meta {
	char id[SES_ID_LEN + 1];
	char name[SES_NAME_MAX + 1];
	uint8_t state; /* enum ses_state */
	uint64_t created_ns, start_ns, stop_ns; /* stop_ns 0 while active or paused */
	uint8_t origin; /* enum ses_origin (not stored) */
	struct ses_settings settings;
	/* The tombstone tally (persist/tomb.c): the valid records the
	 * tombstones file held after the last deletion, and the crc32c of
	 * their ids and times in file order (stored as tombstones_sum=). The file must begin with exactly these: fewer
	 * (deleted, cut) or others means deletions were lost and deleted
	 * exchanges would silently come back. Kept by ses_save (a copy that
	 * does not know it never lowers it); 0 = no deletion recorded. */
	uint64_t tombstones;
	uint32_t tombstones_crc;
};

/* Cheap figures from file sizes (no decompression). */
struct ses_stats {
	uint64_t exchanges; /* index entries minus tombstones */
	uint64_t bytes;     /* all files of the session */
	uint32_t segments;
};

/* Creates <data_dir>/<id>/ with metadata in state active. Fails -EEXIST
 * when another session has that name, -EINVAL for a bad name. */
int ses_create(const char *data_dir, const char *name, const struct ses_settings *st,
	       uint64_t now_ns, struct ses_meta *out);
/* Reads session.meta, or when it is unreadable session.meta.prev (origin
 * SES_META_PREV). -EBADMSG when neither is readable, -ENOENT when absent. */
int ses_load(const char *data_dir, const char *id, struct ses_meta *out);
/* Finds a session by id, else by name. A directory named like an id that
 * holds segments or metadata but no readable metadata is found by its id
 * (origin SES_META_LOST, see ses_recover_meta). -ENOENT when none matches. */
int ses_find(const char *data_dir, const char *id_or_name, struct ses_meta *out);
/* What can be known of a session whose metadata is lost: id from the
 * directory, times from its segments' index entries (frames when the index
 * is damaged). -ENOENT when the directory holds neither segments nor
 * metadata files (not a session, or one being created). */
int ses_recover_meta(const char *data_dir, const char *id, struct ses_meta *out);
/* Rewrites session.meta when it was read from its previous copy or lost
 * (a lost one becomes stopped at its last exchange). *fixed: whether it
 * was rewritten. Returns 0 or -errno. */
int ses_repair(const char *data_dir, const char *id, bool *fixed);
/* Atomically replaces the metadata file (temp file, fsync, rename, fsync of
 * the directory); a readable current file is kept as session.meta.prev
 * first (hard link, then rename), so damage to one copy loses nothing.
 * -EINVAL for SES_DAMAGED. */
int ses_save(const char *data_dir, const struct ses_meta *m);
/* The tombstone tally of the session in session_dir (DATA/ID): read, or
 * raised after a deletion (exact: set, as fsck --repair does after a
 * loss). -ENOENT / -EBADMSG: no readable metadata (nothing to check). */
int ses_tally_get(const char *session_dir, uint64_t *n, uint32_t *crc);
int ses_tally_set(const char *session_dir, uint64_t n, uint32_t crc, bool exact);
/* State change; stopping sets stop_ns. */
int ses_set_state(const char *data_dir, const char *id, enum ses_state s, uint64_t now_ns);
int ses_rename(const char *data_dir, const char *id, const char *new_name);
/* Removes the session: the directory is first renamed to ".deleted-<id>"
 * (one atomic step, the session vanishes from listings at once), then its
 * files are unlinked; a crash in between is finished by ses_list(). */
int ses_delete(const char *data_dir, const char *id);
/* Sessions sorted by id (creation time); at most cap. Sessions whose
 * metadata is lost are listed too (state SES_DAMAGED). */
int ses_list(const char *data_dir, struct ses_meta *out, size_t cap, size_t *n);
/* At daemon start: active or paused sessions become interrupted. Returns
 * how many changed, or -errno. */
int ses_mark_interrupted(const char *data_dir);
int ses_stats(const char *data_dir, const char *id, struct ses_stats *st);
/* "<data_dir>/<id>" into buf. */
int ses_dir(char *buf, size_t cap, const char *data_dir, const char *id);
const char *ses_state_name(uint8_t s);
/* Validates a name: 1..SES_NAME_MAX bytes, no control characters, no '/'. */
bool ses_name_valid(const char *name);

/* Retention across all sessions of a data directory: while the segment
 * files of the data directory exceed max_bytes, removes the oldest segment
 * (by creation time) of stopped or interrupted sessions. log gets one line
 * per removal and one when the limit cannot be met. Returns bytes freed
 * (>= 0) or -errno. */
int64_t seg_retention(const char *data_dir, uint64_t max_bytes,
		      void (*log)(void *ctx, const char *line), void *ctx);

#endif
