/*
 * taste.h - taste profiles: what a listener plays, how it compares with everyone else, and
 * when they listen. Not a recommender: a summary of the population made by `tunetrail train`
 * for the pro tier (MODEL_DIR/pro/taste.ttm, kind "taste"), read by the service to place one
 * listener's figures among everyone's without scanning anyone else's events.
 *
 * The summary holds, per catalog track, its artist, first genre, audio features and
 * popularity percentile, and, per profile figure (enum tt_taste_stat), the population's
 * quantiles at 0, 1, ..., 100 %, over the listeners with at least TT_TASTE_SPARSE_PLAYS
 * plays. docs/models.md defines every figure.
 *
 * Plays are the events of action "play", each counting its weight (a play count; 1 when the
 * source has none; events of weight <= 0 count 1). Other actions are not listening and are
 * left out. The 30-day window ends at the listener's newest play (not the request's time), so
 * a profile depends on the history alone and a lapsed listener still has a "recent" taste.
 */
#ifndef TT_TASTE_H
#define TT_TASTE_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/store.h"
#include "tt/tz.h"

#define TT_TASTE_QUANTILES 101   /* quantiles per figure: 0 %, 1 %, ..., 100 % */
#define TT_TASTE_SPARSE_PLAYS 20 /* fewer plays: a sparse profile */
#define TT_TASTE_WINDOW_DAYS 30  /* "recent": the last 30 days up to the newest play */
#define TT_TASTE_TOP 10          /* genres and artists listed */
#define TT_TASTE_TREND 5         /* rising and falling genres listed */

/* The figures placed in the population. The order is stored in files: append only. */
enum tt_taste_stat {
    TT_TASTE_ENTROPY,         /* normalised genre entropy, 0..1 */
    TT_TASTE_ARTISTS_PER_100, /* distinct artists per 100 plays */
    TT_TASTE_MAINSTREAM,      /* mean popularity percentile of the tracks played, 0..100 */
    TT_TASTE_DISCOVERY,       /* share of recent plays of artists new in the window, 0..1 */
    TT_TASTE_FEATURE,         /* + enum tt_feature: the play-weighted mean of that feature */
    TT_TASTE_N_STATS = TT_TASTE_FEATURE + TT_N_FEATURES
};

/* "genre_entropy", "artists_per_100_plays", ..., then the feature names. */
const char *tt_taste_stat_name(int stat);

typedef struct tt_taste tt_taste;

/*
 * Builds the summary of @ds (every user's plays), for catalog @catalog (its checksum, kept
 * in the file). Errors: TT_EINVAL for a NULL dataset.
 */
int tt_taste_build(const tt_dataset *ds, uint64_t catalog, tt_taste **out, tt_err *err);
/* Writes @t to @path atomically (model file kind "taste"). */
int tt_taste_save(const tt_taste *t, const char *path, tt_err *err);
/*
 * Reads and checks @path. @catalog: the served catalog's checksum, or 0 to accept any.
 * Errors: TT_ENOTFOUND, TT_EIO, TT_ECORRUPT (damaged, another kind, another catalog,
 * inconsistent sections), each with a message naming the file.
 */
int tt_taste_load(const char *path, uint64_t catalog, tt_taste **out, tt_err *err);
void tt_taste_free(tt_taste *t);

int32_t tt_taste_n_tracks(const tt_taste *t);
int32_t tt_taste_n_genres(const tt_taste *t);
int64_t tt_taste_created_at(const tt_taste *t);
/* Listeners behind figure @stat's quantiles (0 when nobody had it). */
int64_t tt_taste_population(const tt_taste *t, int stat);
/* Borrowed names, valid while @t lives; "" for an id out of range. */
const char *tt_taste_genre_name(const tt_taste *t, int32_t g);
const char *tt_taste_artist_name(const tt_taste *t, int32_t a);
/* Track @track's artist and first genre (-1: none), or -1 for a track out of range. */
int32_t tt_taste_track_artist(const tt_taste *t, int32_t track);
int32_t tt_taste_track_genre(const tt_taste *t, int32_t track);
/* Track @track's popularity percentile in the catalog (0..100), NAN out of range. */
double tt_taste_track_popularity(const tt_taste *t, int32_t track);
/* The TT_TASTE_QUANTILES quantiles of figure @stat (borrowed; NAN when nobody had it). */
const float *tt_taste_quantiles(const tt_taste *t, int stat);

/*
 * The percentile (0..100) of value @v among the population's values of @stat, read from
 * the quantiles by linear interpolation; a value equal to a run of equal quantiles gets the
 * run's middle. NAN when @v is NAN or nobody had the figure.
 */
double tt_taste_percentile(const tt_taste *t, int stat, double v);

/* One event of a listener: a dense track id of the summary's catalog (or -1: unknown). */
typedef struct tt_taste_event {
    int32_t track;
    enum tt_action action;
    float weight;
    int64_t time; /* Unix seconds */
} tt_taste_event;

typedef struct tt_taste_share {
    int32_t id;   /* genre or artist */
    double plays; /* weighted plays */
    double share; /* of the plays the share is over (docs/models.md) */
} tt_taste_share;

typedef struct tt_taste_delta {
    int32_t genre;
    double recent, before; /* shares in and before the window */
    double delta;          /* recent - before */
} tt_taste_delta;

typedef struct tt_taste_profile {
    double plays, plays_recent, plays_before; /* weighted plays of catalog tracks */
    int64_t unknown_plays;                    /* play events of tracks the catalog lacks */
    int64_t first_play, last_play;            /* Unix seconds; 0 without plays */
    int64_t window_start;                     /* recent: time > window_start */
    bool sparse;                              /* plays < TT_TASTE_SPARSE_PLAYS */
    tt_taste_share genres[TT_TASTE_TOP], genres_recent[TT_TASTE_TOP];
    tt_taste_share artists[TT_TASTE_TOP], artists_recent[TT_TASTE_TOP];
    int n_genres, n_genres_recent, n_artists, n_artists_recent;
    int64_t distinct_artists, distinct_genres;
    /* Each figure's value (NAN: not computable) and its population percentile (NAN). */
    double value[TT_TASTE_N_STATS], percentile[TT_TASTE_N_STATS];
    double feature_recent[TT_N_FEATURES], feature_before[TT_N_FEATURES]; /* NAN: none */
    double hours[24];   /* weighted plays by local hour */
    double weekdays[7]; /* weighted plays by local ISO weekday, 0 Monday */
    tt_taste_delta rising[TT_TASTE_TREND], falling[TT_TASTE_TREND];
    int n_rising, n_falling; /* 0 unless there are plays both in and before the window */
} tt_taste_profile;

/*
 * The profile of the listener whose events are @ev[0..n) (any order) into @out, hours and
 * weekdays in zone @tz (NULL: UTC), percentiles from @t. Never fails for valid arguments.
 * Errors: TT_EINVAL for NULL arguments or n < 0.
 */
int tt_taste_profile_compute(const tt_taste *t, const tt_taste_event *ev, int64_t n,
                             const tt_tz *tz, tt_taste_profile *out, tt_err *err);

#endif
