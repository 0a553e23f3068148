/*
 * catalog.h - the serving snapshot written next to the models by `tunetrail train`:
 * the catalog (track ids, titles, artists, genres) and each user's history at training
 * time (what they heard, liked and disliked), in the same dense ids as the models.
 * Loaded read-only by `serve` and `recommend`; models trained with it carry its checksum.
 */
#ifndef TT_CATALOG_H
#define TT_CATALOG_H

#include <stdint.h>

#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/model.h"

typedef struct tt_catalog tt_catalog;

/* Writes @ds's catalog and @ts's per-user history to @path (atomically). */
int tt_catalog_save(const tt_dataset *ds, const tt_train_set *ts, const char *path, tt_err *err);

/* Maps and checks @path. Errors: TT_ENOTFOUND, TT_ECORRUPT. */
int tt_catalog_load(const char *path, tt_catalog **out, tt_err *err);
void tt_catalog_free(tt_catalog *c);

uint64_t tt_catalog_id(const tt_catalog *c); /* == tt_catalog_checksum of the dataset */
int64_t tt_catalog_created_at(const tt_catalog *c);
/* The last interaction (tt_interaction_rec.id) the snapshot includes. */
int64_t tt_catalog_watermark(const tt_catalog *c);
int32_t tt_catalog_n_tracks(const tt_catalog *c);
int32_t tt_catalog_n_users(const tt_catalog *c);
int32_t tt_catalog_n_genres(const tt_catalog *c);

/* Dense id of a platform id, or -1. */
int32_t tt_catalog_track_find(const tt_catalog *c, const char *id);
int32_t tt_catalog_user_find(const tt_catalog *c, const char *id);
int32_t tt_catalog_genre_find(const tt_catalog *c, const char *name);

/* Borrowed strings, valid while @c lives. */
const char *tt_catalog_track_id(const tt_catalog *c, int32_t t);
const char *tt_catalog_track_title(const tt_catalog *c, int32_t t);
const char *tt_catalog_track_artist(const tt_catalog *c, int32_t t);
int32_t tt_catalog_track_artist_id(const tt_catalog *c, int32_t t);
/* The platform's id of track @t's artist, or "" (snapshots written before ids were kept). */
const char *tt_catalog_track_artist_platform_id(const tt_catalog *c, int32_t t);
/* First genre name of track @t, or "" when it has none. */
const char *tt_catalog_track_genre(const tt_catalog *c, int32_t t);
/* Track @t's genre ids (borrowed), most important first. */
void tt_catalog_track_genres(const tt_catalog *c, int32_t t, const int32_t **g, int32_t *n);
/* The @j-th genre name of track @t (0-based), or NULL past the last. */
const char *tt_catalog_track_genre_at(const tt_catalog *c, int32_t t, int32_t j);
const char *tt_catalog_user_id(const tt_catalog *c, int32_t u);
const char *tt_catalog_genre_name(const tt_catalog *c, int32_t g);

/*
 * User @u's history at training time (borrowed): every track they interacted with,
 * sorted (*seen, *n_seen, with *seen_val 1 or -1 for disliked), and their positives with
 * raw preference values (*pos, *pos_val, *n_pos).
 */
void tt_catalog_user_seen(const tt_catalog *c, int32_t u, const int32_t **seen,
                          const float **seen_val, int32_t *n_seen);
void tt_catalog_user_positives(const tt_catalog *c, int32_t u, const int32_t **pos,
                               const float **pos_val, int32_t *n_pos);
/*
 * How recent user @u's liking of each positive is (borrowed, aligned with
 * tt_catalog_user_positives): days from their latest training event on the track to the
 * snapshot's newest event. NULL for an unknown user, or a catalog written before ages were
 * kept.
 */
const float *tt_catalog_user_positive_ages(const tt_catalog *c, int32_t u);
/* User @u's declared favourite genres (borrowed). */
void tt_catalog_user_genres(const tt_catalog *c, int32_t u, const int32_t **g, int32_t *n);

#endif
