/*
 * mix.h - daily mixes: a handful of playlists, each one facet of a listener's taste, made
 * fresh every UTC day and the same all day long.
 *
 * How a day's mixes are made (docs/models.md has the figures):
 *   1. The listener's history: positives of the training snapshot plus fresh events (the
 *      fresh ones weighted up: recent listening says more about today's taste), each
 *      liked track's weight log(1 + r) times 1 + 2^(-age / recency_half_life_days), age
 *      the days since the listener's latest event on it (0 for fresh events). Disliked
 *      tracks are out for good; an artist is "skipped away" when at least two of the
 *      listener's tracks by them ended skipped or disliked and those outnumber the liked
 *      ones. Neither ever appears in a mix.
 *   2. Facets: weighted spherical k-means (weights as above) of the positives in the mix
 *      space, where each track is [content vector | ALS factors], both parts of unit length
 *      scaled by the square roots of their weights, so the inner product of two rows is a
 *      weighted mean of the two cosines. k = min(mixes, positives / tracks_per_cluster);
 *      facets holding less than min_cluster_share of the weight are dropped.
 *   3. Each facet becomes a mix of tracks_per_mix tracks: about familiar_share of them are
 *      its own positives (heard and liked; a facet with too few borrows the listener's spare
 *      positives, those no facet needs for its own share, nearest its centre), the rest
 *      discoveries: the unheard tracks with the highest cosine to the facet's centre plus
 *      preference_weight times ALS's predicted preference, searched in the cells (a partition of the tracks made at load time)
 *      nearest the centre. A small jitter drawn from (user, day, track) varies the picks
 *      from day to day among near-equal candidates. No track is in two mixes of a day; a
 *      mix holds at most max_per_artist tracks of an artist and never one artist twice in
 *      a row.
 *   4. Listeners with fewer than min_history positives get genre mixes instead (fallback):
 *      their declared and played genres first, then the most popular genres, each mix the
 *      genre's most popular tracks they have not heard.
 * Artists are told apart by name, as the listener sees them. Everything is a function of
 * (history, day): the same inputs give the same mixes.
 */
#ifndef TT_MIX_H
#define TT_MIX_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/catalog.h"
#include "tt/model.h"

typedef struct tt_mix_params {
    float familiar_share;         /* share of each mix taken from the facet's positives (1/3) */
    float content_weight;         /* weight of the content cosine; ALS gets 1 - it (0.5) */
    int min_history;              /* positives needed for personal mixes (5) */
    int tracks_per_cluster;       /* positives per facet, at least (6) */
    float min_cluster_share;      /* smallest share of the weight a facet needs (0.05) */
    float fresh_weight;           /* multiplier of fresh positive events (3) */
    int max_per_artist;           /* tracks of one artist in one mix (2) */
    float jitter;                 /* day-to-day variation of candidate scores (0.05) */
    float preference_weight;      /* weight of ALS's predicted preference in discoveries (2) */
    float recency_half_life_days; /* liked tracks count 1 + 2^(-age / this) (30; 0: off) */
    int32_t sweep_tracks;         /* open tracks a facet's discoveries are picked from, at most
                                     a sixteenth of the catalog (2048; 0: no cap) */
} tt_mix_params;

tt_mix_params tt_mix_params_default(void);

/* The longest day and mix counts a request may ask for. */
#define TT_MIX_MAX_MIXES 10
#define TT_MIX_MAX_TRACKS 100

/*
 * The mix space of a snapshot, built once when its models are loaded: every track's row
 * [content | ALS] and the genres ordered by popularity. Read-only once built: thread-safe.
 */
typedef struct tt_mix_space tt_mix_space;

/*
 * Builds the space over @cat's tracks from @content and/or @als (either may be NULL, not
 * both) and @pop (a popularity model for the fallback; may be NULL: the fallback then has no
 * tracks). All models are borrowed and must outlive the space, and must have been trained
 * on @cat. Errors: TT_EINVAL when both @content and @als are NULL or a model's track count
 * differs from the catalog's.
 */
int tt_mix_space_new(const tt_catalog *cat, const tt_model *content, const tt_model *als,
                     const tt_model *pop, const tt_mix_params *p, tt_mix_space **out, tt_err *err);
void tt_mix_space_free(tt_mix_space *s);
/* "als+content", "content" or "als": which models the space was built from. */
const char *tt_mix_space_models(const tt_mix_space *s);

/* A request. @day: days since 1970-01-01 UTC (tt_unix_time() / 86400). */
typedef struct tt_mix_request {
    const char *user_id;
    int64_t day;
    int mixes;          /* 1..TT_MIX_MAX_MIXES */
    int tracks_per_mix; /* 1..TT_MIX_MAX_TRACKS */
    /* Events newer than the snapshot (tt_rec_request's convention): dense ids, raw
     * preference (> 0 positive, <= 0 heard but not liked, NAN disliked). */
    const int32_t *fresh;
    const float *fresh_r;
    int32_t n_fresh;
} tt_mix_request;

typedef struct tt_mix_track {
    int32_t track;
    bool familiar; /* one of the listener's positives */
} tt_mix_track;

typedef struct tt_mix {
    uint64_t id;           /* stable for (user, day, position) */
    char name[160];        /* "Indie Rock Mix", "Daft Punk, Justice and more" */
    const char *genres[3]; /* dominant genres, borrowed from the catalog */
    int n_genres;
    const char *seed_artists[3]; /* artists the facet is built on, borrowed */
    int n_seed_artists;
    tt_mix_track *tracks; /* malloc'd */
    int n;
} tt_mix;

typedef struct tt_mix_set {
    tt_mix mixes[TT_MIX_MAX_MIXES];
    int n;
    bool fallback; /* genre mixes: too little history for personal ones */
} tt_mix_set;

/*
 * The day's mixes of @r->user_id (an unknown user gets fallback mixes) into @out, which the
 * caller releases with tt_mix_set_release even on error. Strings in @out are borrowed from
 * the space's catalog. Errors: TT_EINVAL (field named) for counts out of range.
 */
int tt_mix_daily(const tt_mix_space *s, const tt_mix_request *r, tt_mix_set *out, tt_err *err);
void tt_mix_set_release(tt_mix_set *set);

/* One facet of a listener's taste: the cluster a personal daily mix is built on. */
typedef struct tt_mix_facet {
    char name[160];        /* named as a mix of the facet's own tracks would be */
    const char *genres[3]; /* dominant first genres of its tracks, borrowed from the catalog */
    int n_genres;
    const char *seed_artists[3]; /* its most present artists, borrowed */
    int n_seed_artists;
    int32_t n_tracks; /* the listener's positives in it */
    float share;      /* of the listener's weighted positives (step 1 above), 0..1 */
} tt_mix_facet;

/*
 * The facets of @r->user_id that tt_mix_daily would build its personal mixes on (step 2,
 * the same clustering, at most @r->mixes of them, heaviest first) into @out (caller-owned,
 * room for TT_MIX_MAX_MIXES); *n their count: 0 when the listener has fewer than
 * min_history positives (their mixes would be genre fallbacks). Strings are borrowed from
 * the space's catalog. Errors: TT_EINVAL (field named) for a count out of range.
 */
int tt_mix_facets(const tt_mix_space *s, const tt_mix_request *r, tt_mix_facet *out, int *n,
                  tt_err *err);

#endif
