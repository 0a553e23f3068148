/*
 * hybrid_priv.h - what hybrid.c (serving, files) and hybrid_fit.c (learning the blend)
 * share. Internal to src/models/.
 */
#ifndef TT_MODELS_HYBRID_PRIV_H
#define TT_MODELS_HYBRID_PRIV_H

#include "tt/hybrid.h"

/*
 * The union of the top @n_each of ALS, content and trending for @q (each honours the
 * query's exclusions and allow mask), sorted ascending without duplicates, into *out
 * (malloc'd, free it even when 0 is returned). A part that cannot rank for the listener
 * (ALS for an unknown user without history, content for one who played nothing with
 * content) adds nothing. Returns the count, or a negative error of a part.
 */
int32_t tt__hybrid_candidates(tt_model *const part[TT_HYBRID_PARTS], const tt_query *q,
                              int n_each, int32_t **out, tt_err *err);

/*
 * The parts and what the blend derives from them once: for each artist, the mean ALS vector
 * and the mean log popularity and trending score of their played tracks, the priors of a
 * new release by that artist (a track nobody has played yet).
 */
typedef struct tt__hybrid_set {
    tt_model *part[TT_HYBRID_PARTS]; /* borrowed */
    const int32_t *track_artist;     /* n_tracks dense artist ids (-1 unknown), or NULL */
    int32_t n_artists;
    int k;                           /* ALS factors */
    float *artist_y;                 /* n_artists x k */
    float *artist_pop, *artist_trend;
    int32_t *artist_n;               /* played tracks of each artist */
} tt__hybrid_set;

/* Fills @s from @part (borrowed, as is @track_artist). Release with tt__hybrid_set_release. */
void tt__hybrid_set_init(tt__hybrid_set *s, tt_model *const part[TT_HYBRID_PARTS],
                         const int32_t *track_artist, int32_t n_artists);
void tt__hybrid_set_release(tt__hybrid_set *s);

/*
 * The z-scored score of every part for each of the @n candidates @c of @q into @z
 * (n x TT_HYBRID_COLS, caller-allocated: the z-scores, then the new-release flag). Errors: the ALS fold-in's.
 */
int tt__hybrid_features(const tt__hybrid_set *set, const tt_query *q,
                        const int32_t *c, int32_t n, float *z, tt_err *err);

/* A hybrid model with @fit and @p for the catalog of @ts, without parts. */
tt_model *tt__hybrid_new(const tt_train_set *ts, const tt_hybrid_params *p,
                         const tt_hybrid_fit *fit);

/* The validation split the blends learn on (hybrid_fit.c). */
typedef struct tt__validation {
    int32_t *users; /* ascending */
    int32_t n_users;
    uint8_t *gone;  /* n_tracks: 1 = held out whole, a new release to the parts */
    tt_csr held;    /* user x track, the held-out pairs (those on gone tracks included) */
    int64_t n_new;  /* held-out pairs on gone tracks */
    uint8_t *mask;  /* events kept for training the parts */
    tt_train_set sub;
} tt__validation;

/*
 * Holds out p->validation of the positives of up to p->max_users users (those with
 * p->min_positives) and every event of p->new_share of the played tracks (seeded by p->seed),
 * and builds the training set of the rest. Release with tt__validation_release.
 */
void tt__validation_build(const tt_train_set *ts, const tt_hybrid_params *p, tt__validation *v);
void tt__validation_release(tt__validation *v);
/*
 * The query of validation user @u (their training history excluded) and how many held-out
 * positives they have, *n_rel_new of them on tracks held out whole.
 */
tt_query tt__validation_query(const tt__validation *v, int32_t u, int32_t *n_rel,
                              int32_t *n_rel_new);
/* @rel[j] for each of the @n candidates @c of @u: 0, 1 a held-out pair, 2 one on a new release. */
void tt__validation_mark(const tt__validation *v, int32_t u, const int32_t *c, int32_t n,
                         uint8_t *rel);
/* True when pair (@u, @t) is in @held. */
bool tt__held_contains(const tt_csr *held, int32_t u, int32_t t);

struct tt_model_opts;
/* The four hybrid parts trained on @v's training side (content NULL without content). */
int tt__hybrid_train_parts(const tt__validation *v, const struct tt_model_opts *o,
                           tt_model *part[TT_HYBRID_PARTS], tt_err *err);

#endif
