/*
 * dataset.h - an in-memory training snapshot: dense ids for users, tracks, artists and
 * genres, the catalog as flat arrays, and the interaction log as parallel arrays. Read from
 * a store in one streaming pass per table (tt_dataset_load), or built by hand in tests.
 *
 * Tracks are the catalog (the tracks table); interactions whose track is not in the catalog
 * are counted in n_unknown_track_events and left out. Users are the users table plus every
 * user seen in an interaction.
 */
#ifndef TT_DATASET_H
#define TT_DATASET_H

#include <stdint.h>

#include "tt/err.h"
#include "tt/ids.h"
#include "tt/store.h"

typedef struct tt_dataset {
    tt_ids *users, *tracks, *artists, *genres;

    /* Per track, indexed by dense track id. */
    int32_t *track_artist;     /* dense artist id */
    int64_t *track_genre_ptr;  /* n_tracks + 1 offsets into track_genre */
    int32_t *track_genre;      /* dense genre ids, the track's genres in order */
    float *features;           /* n_tracks x TT_N_FEATURES, NAN where unknown */
    int32_t *release_year;     /* -1 unknown */
    int32_t *duration_ms;      /* -1 unknown */
    const char **titles;       /* borrowed from the dataset's string pool */
    int32_t embedding_dim;     /* 0 when no track has one */
    float *embedding;          /* n_tracks x embedding_dim, zeros where none */
    uint8_t *has_embedding;

    /* Per artist. */
    const char **artist_names;

    /* Per user. */
    int64_t *user_genre_ptr; /* n_users + 1 offsets into user_genre (declared favourites) */
    int32_t *user_genre;
    uint8_t *user_tier;      /* 0 free, 1 starter, 2 pro, 3 enterprise */

    /*
     * Interactions, in store order: 17 bytes an event. Times are read with
     * tt_dataset_event_time: stored as 32-bit offsets from ev_time_base (the first event's
     * time; +-68 years around it), or as int64 in ev_time_wide once an event falls outside.
     */
    int64_t n_events;
    int32_t *ev_user, *ev_track;
    uint8_t *ev_action; /* enum tt_action */
    float *ev_weight;
    int32_t *ev_time_rel;  /* seconds after ev_time_base, or NULL when ev_time_wide is used */
    int64_t *ev_time_wide; /* Unix seconds, NULL while every offset fits */
    int64_t ev_time_base;
    int64_t n_unknown_track_events;
    int64_t max_event_id; /* highest tt_interaction_rec.id read: the snapshot's watermark */

    struct tt__dataset_build *build; /* growth state and the string pool (kept after finish) */
} tt_dataset;

/* The time (Unix seconds) of event @i. */
static inline int64_t tt_dataset_event_time(const tt_dataset *d, int64_t i)
{
    return d->ev_time_wide ? d->ev_time_wide[i] : d->ev_time_base + d->ev_time_rel[i];
}

/* Sets the time of event @i (an existing one: tests move events in time). */
void tt_dataset_set_event_time(tt_dataset *d, int64_t i, int64_t t);

static inline int32_t tt_dataset_n_users(const tt_dataset *d) { return tt_ids_count(d->users); }
static inline int32_t tt_dataset_n_tracks(const tt_dataset *d) { return tt_ids_count(d->tracks); }
static inline int32_t tt_dataset_n_genres(const tt_dataset *d) { return tt_ids_count(d->genres); }
static inline int32_t tt_dataset_n_artists(const tt_dataset *d) { return tt_ids_count(d->artists); }

/* Reads the whole store into a new dataset. Errors are the store's. */
int tt_dataset_load(tt_store *s, tt_dataset **out, tt_err *err);

/* An empty dataset to fill with the add functions below, then tt_dataset_finish. */
tt_dataset *tt_dataset_new(void);
/* Adds (or, for a known id, ignores) one catalog track; returns its dense id. */
int32_t tt_dataset_add_track(tt_dataset *d, const tt_track_rec *t);
/* Adds a user; returns its dense id. */
int32_t tt_dataset_add_user(tt_dataset *d, const tt_user_rec *u);
/* Records an artist's genres, used for its tracks that have none. */
void tt_dataset_add_artist(tt_dataset *d, const tt_artist_rec *a);
/* Appends one interaction; returns 0, or -1 when its track is not in the catalog. */
int tt_dataset_add_event(tt_dataset *d, const tt_interaction_rec *r);
/* Freezes the arrays (sizes final, per-user arrays sized to every user seen). */
void tt_dataset_finish(tt_dataset *d);

/*
 * Frees the interaction log (n_events becomes 0); ids, catalog and per-user arrays stay.
 * For a caller done with the events once its training matrices are built.
 */
void tt_dataset_drop_events(tt_dataset *d);

void tt_dataset_free(tt_dataset *d);

/* Plan tier name -> 0..3 (unknown -> 0). */
int tt_tier_parse(const char *s);
const char *tt_tier_name(int tier);

#endif
