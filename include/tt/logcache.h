/*
 * logcache.h - the training snapshot read incrementally. A training run keeps the interaction
 * log it read in a cache file; the next run reads the catalog (artists, tracks, users: small)
 * from the store as always, takes the log from the cache, and reads from the store only the
 * interactions added since, the ones with an id above the cache's watermark. The dataset is
 * the one tt_dataset_load would give at that moment: same dense ids in the same order, same
 * events in the same order, same n_unknown_track_events and max_event_id.
 *
 * The cache is used only when it was read from the same store (tt_log_state.store_id) and no
 * interaction has been updated or deleted since (tt_log_state.rewrites); otherwise, and when
 * the file is missing, damaged, truncated or of another format, the whole log is read, and
 * the report says why. A cache problem is never an error, nor a wrong dataset.
 *
 * The file (format 1; all integers little-endian):
 *   header, 128 bytes: magic "TTLOGC\r\n", format version, header size, store id (40 bytes,
 *     NUL-padded), rewrite counter, watermark (the highest interaction id read, every lower
 *     one included), event count, user and track table sizes (entries, bytes), a CRC-32 of
 *     everything after the header, and a CRC-32 of the header itself (last 4 bytes).
 *   events, 21 bytes each, in store order: local user index (u32), local track index (u32),
 *     action (u8), weight (f32 bits), time (i64 Unix seconds). Events on tracks that are not
 *     in the catalog are kept: a later catalog import can make them known.
 *   user table, then track table: the id strings the local indices name, NUL-terminated, in
 *     index order. Local indices are the file's own: the dense ids of a dataset depend on the
 *     catalog of the day, so each run maps them afresh.
 */
#ifndef TT_LOGCACHE_H
#define TT_LOGCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/store.h"

/* Where a training run keeps its cache, under MODEL_DIR. */
#define TT_LOGCACHE_FILE "snapshot/interactions.tts"

enum tt_logcache_flags {
    /* Read the whole log whatever the cache holds (the cache is still rewritten). */
    TT_LOGCACHE_FULL = 1 << 0,
    /* Leave the cache file as it is. */
    TT_LOGCACHE_NO_WRITE = 1 << 1,
};

typedef struct tt_logcache_report {
    bool incremental;          /* the log came from the cache plus the new interactions */
    int64_t cached;            /* interactions taken from the cache */
    int64_t fresh;             /* interactions read from the store */
    char why_full[600];        /* when not incremental: "no cache", "store changed", ... */
    bool written;              /* the cache file now holds this snapshot */
    char why_not_written[512]; /* when not written, and not asked to: why */
    double seconds;            /* the whole load, writing the cache included */
} tt_logcache_report;

/*
 * Reads the store @s into a new dataset (*@out, freed with tt_dataset_free), through the
 * cache file at @path (its directory is made when missing): the whole log when the cache
 * cannot be used, only the new interactions when it can, and then, unless
 * TT_LOGCACHE_NO_WRITE, the cache is replaced by one holding this snapshot (a temporary
 * file, fsync'd and renamed; an unwritable directory or a full disk leaves the old one and
 * is reported in @rep, not returned). @flags: enum tt_logcache_flags. @rep may be NULL.
 *
 * Errors are the store's only; *@out is set only on success. Not thread-safe for one @s.
 */
int tt_logcache_load(tt_store *s, const char *path, unsigned flags, tt_dataset **out,
                     tt_logcache_report *rep, tt_err *err);

#endif
