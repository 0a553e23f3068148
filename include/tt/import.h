/*
 * import.h - loading catalog and listening data into the store: the engine's own CSV files
 * (tracks, users, interactions) and three public datasets (Last.fm HetRec 2011, MusicOSet,
 * GTZAN features). docs/data-formats.md is the full description of every format.
 *
 * Every import is one store transaction: it commits only when the whole input was read, so a
 * failed import leaves the database exactly as it was. Tracks, users, artists and
 * interactions with an event_id are upserts (store.h): importing them twice updates rows
 * and never duplicates them. An interaction without an event_id is an event of its own, so
 * one imported twice is stored twice (docs/data-formats.md).
 *
 * Row errors are TT_EPARSE with the message "FILE:LINE: reason": FILE is the path as given
 * (for dataset directories, DIR/name), LINE the 1-based physical line on which the row
 * starts, the header being line 1. With TT_IMPORT_SKIP_BAD a bad row is reported through
 * the options' callback, counted and left out, and the import goes on; errors of the
 * database or of reading a file always stop the import.
 *
 * Input files are streamed: memory use does not grow with the number of interaction rows.
 * The dataset importers hold their (small) catalog tables in memory while joining them.
 */
#ifndef TT_IMPORT_H
#define TT_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/err.h"
#include "tt/progress.h"
#include "tt/store.h"

/* What a CSV file holds. */
enum tt_import_kind {
    TT_IMPORT_TRACKS,
    TT_IMPORT_USERS,
    TT_IMPORT_INTERACTIONS,
};

enum tt_import_flags {
    TT_IMPORT_SKIP_BAD = 1 << 0, /* report and skip malformed rows instead of stopping */
};

/* Receives the "FILE:LINE: reason" text of each skipped row. */
typedef void (*tt_import_report_fn)(void *ctx, const char *message);

typedef struct tt_import_opts {
    unsigned flags;             /* enum tt_import_flags */
    tt_import_report_fn report; /* NULL: skipped rows are only counted */
    void *report_ctx;
    /*
     * NULL, or told how far each input file has been read: the stage is the file's name
     * without its folder, done and total are bytes (total 0 for a pipe). Called every few
     * thousand rows and once the file has been read to its end.
     */
    tt_progress_fn progress;
    void *progress_ctx;
} tt_import_opts;

/* What an import did. Counts are records written (inserted or updated). */
typedef struct tt_import_stats {
    int64_t rows; /* all records written: the sum of the four below */
    int64_t artists;
    int64_t tracks;
    int64_t users;
    int64_t interactions;
    int64_t skipped; /* malformed input rows left out (TT_IMPORT_SKIP_BAD) */
    double seconds;  /* wall time of the whole import */
} tt_import_stats;

/* Options with every flag off and no callbacks. */
tt_import_opts tt_import_opts_default(void);

/* "tracks", "users", "interactions"; NULL for an unknown kind. */
const char *tt_import_kind_name(enum tt_import_kind kind);
/* The kind named @name, or -1. */
int tt_import_kind_parse(const char *name);

/*
 * Imports the CSV file at @path holding rows of @kind into @s, in one transaction. @s must
 * not be inside a transaction. @opts may be NULL (defaults); @stats (out, may be NULL) is
 * filled on success and on failure.
 * Errors: TT_EINVAL (bad argument), TT_EIO (cannot read @path), TT_EPARSE ("FILE:LINE: ..."
 * for a malformed header or row), or the store's codes (TT_EBACKEND, ...).
 */
int tt_import_csv(tt_store *s, enum tt_import_kind kind, const char *path,
                  const tt_import_opts *opts, tt_import_stats *stats, tt_err *err);

/*
 * Imports the HetRec 2011 Last.fm 2K dataset from directory @dir (artists.dat, tags.dat,
 * user_artists.dat, user_taggedartists.dat): artists become artists and catalog tracks
 * ("lastfm:artist:ID") with their users' top tags as genres, users become users
 * ("lastfm:user:ID") and each user-artist pair one play with the play count as weight.
 * Parameters, errors and transaction as tt_import_csv.
 */
int tt_import_lastfm_hetrec(tt_store *s, const char *dir, const tt_import_opts *opts,
                            tt_import_stats *stats, tt_err *err);

/*
 * Imports MusicOSet from directory @dir (musicoset_metadata/{artists,songs,tracks}.csv and
 * musicoset_songfeatures/acoustic_features.csv): artists with their genres, and songs as
 * tracks with audio features, release year and their first artist's genres, keyed by
 * Spotify ids. Parameters, errors and transaction as tt_import_csv.
 */
int tt_import_musicoset(tt_store *s, const char *dir, const tt_import_opts *opts,
                        tt_import_stats *stats, tt_err *err);

/*
 * Imports the GTZAN feature table at @path (features_30_sec.csv or features_3_sec.csv): one
 * track per row ("gtzan:FILENAME"), its genre label as genre, its numeric feature columns
 * as the embedding and its tempo as the tempo feature. Parameters, errors and transaction
 * as tt_import_csv.
 */
int tt_import_gtzan(tt_store *s, const char *path, const tt_import_opts *opts,
                    tt_import_stats *stats, tt_err *err);

/*
 * Parses a timestamp as the importers accept it into Unix seconds (*@out, set only on
 * success): ISO 8601 "2024-01-02T03:04:05Z", with optional fractional seconds (dropped), a
 * space instead of "T", an offset "+HH:MM" / "+HHMM" / "+HH" converted to UTC or no zone
 * (taken as UTC); a plain date "2024-01-02" (midnight UTC); or a non-negative integer of
 * Unix seconds. False when @s is none of these or names a day that does not exist.
 * Thread-safe.
 */
bool tt_import_parse_time(const char *s, int64_t *out);

#endif
