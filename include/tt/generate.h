/*
 * generate.h - deterministic synthetic listening data: a catalog of artists and tracks with
 * genre-dependent audio features, users with genre tastes, and their interactions, written
 * into a store. The same parameters and seed always give byte-identical rows in the same
 * order, whatever the clock says: timestamps lie in a fixed window, not relative to now.
 * docs/synthetic-data.md describes the model.
 *
 * Rows are generated user by user and streamed into the store, so memory grows with users +
 * tracks, never with interactions.
 */
#ifndef TT_GENERATE_H
#define TT_GENERATE_H

#include <stdint.h>

#include "tt/err.h"
#include "tt/store.h"

/* Every interaction's occurred_at lies in [START, END): 2025-07-01 to 2026-01-01 UTC. */
#define TT_GENERATE_WINDOW_START INT64_C(1751328000)
#define TT_GENERATE_WINDOW_END INT64_C(1767225600)

/* Limits checked by tt_generate_check. */
#define TT_GENERATE_MAX_USERS INT64_C(10000000)
#define TT_GENERATE_MAX_TRACKS INT64_C(10000000)
#define TT_GENERATE_MAX_INTERACTIONS INT64_C(1000000000)
/* Most interactions one user may get, so strictly increasing timestamps fit in the window. */
#define TT_GENERATE_MAX_PER_USER INT64_C(100000)

/*
 * Called as generation advances: @phase is "artists", "tracks", "users" or "interactions",
 * @done rows of @total are written. Called at the start (@done 0) and the end of every
 * phase and every few thousand rows; the callback decides what to show.
 */
typedef void (*tt_generate_progress_fn)(void *ctx, const char *phase, int64_t done, int64_t total);

typedef struct tt_generate_params {
    int64_t users;                    /* 1..TT_GENERATE_MAX_USERS */
    int64_t tracks;                   /* 1..TT_GENERATE_MAX_TRACKS; artists are about tracks / 8 */
    int64_t interactions;             /* exactly this many are written; users..the limits above */
    uint64_t seed;                    /* same seed, same rows */
    int64_t batch_rows;               /* rows per transaction (all tables together), >= 1 */
    tt_generate_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} tt_generate_params;

/* What a run wrote. */
typedef struct tt_generate_stats {
    int64_t artists;
    int64_t tracks;
    int64_t users;
    int64_t interactions;
    double seconds; /* wall time of the whole run */
} tt_generate_stats;

/* Zero sizes (which tt_generate_check refuses), seed 42, 500,000 rows per transaction. */
tt_generate_params tt_generate_params_default(void);

/*
 * Checks @p against the limits above: users, tracks and interactions positive and capped,
 * interactions >= users (everyone listens) and <= users * TT_GENERATE_MAX_PER_USER.
 * Returns 0 or TT_EINVAL with err->field set to "users", "tracks", "interactions" or
 * "batch_rows" and a message naming the bound.
 */
int tt_generate_check(const tt_generate_params *p, tt_err *err);

/*
 * Writes p->tracks / 8 (rounded up) artists, p->tracks tracks, p->users users and exactly
 * p->interactions interactions into @s, in that order, committing every p->batch_rows rows.
 * Ids are "a0000000", "t0000000", "u0000000" (0-based, 7 digits), so a second run with the
 * same parameters updates the rows of the first instead of adding to them.
 * @s must not be inside a transaction. @stats (out, may be NULL) gets the counts on success.
 * Errors: those of tt_generate_check, and the store's (TT_EBACKEND, TT_EIO, ...), after
 * which the open transaction is rolled back; earlier batches stay committed.
 * Not thread-safe with respect to @s.
 */
int tt_generate_run(tt_store *s, const tt_generate_params *p, tt_generate_stats *stats,
                    tt_err *err);

/* Number of genres of the model (20). */
int tt_generate_genre_count(void);
/* Name of genre @g ("rock", "hip hop", ...), or NULL when out of range. Static storage. */
const char *tt_generate_genre_name(int g);

#endif
