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

enum ses_state { SES_ACTIVE = 0, SES_PAUSED, SES_STOPPED, SES_INTERRUPTED, SES_STATE_COUNT };

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
	struct ses_settings settings;
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
int ses_load(const char *data_dir, const char *id, struct ses_meta *out);
/* Finds a session by id, else by name. -ENOENT when neither matches. */
int ses_find(const char *data_dir, const char *id_or_name, struct ses_meta *out);
/* Atomically replaces the metadata file. */
int ses_save(const char *data_dir, const struct ses_meta *m);
/* State change; stopping sets stop_ns. */
int ses_set_state(const char *data_dir, const char *id, enum ses_state s, uint64_t now_ns);
int ses_rename(const char *data_dir, const char *id, const char *new_name);
/* Removes the session: the directory is first renamed to ".deleted-<id>"
 * (one atomic step, the session vanishes from listings at once), then its
 * files are unlinked; a crash in between is finished by ses_list(). */
int ses_delete(const char *data_dir, const char *id);
/* Sessions sorted by id (creation time); at most cap. */
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
