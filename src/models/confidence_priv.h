/*
 * confidence_priv.h - how ALS and EASE turn raw preferences r(u,t) (play counts, summed
 * action weights) into confidences: f(r) with f the identity, log(1 + r/eps) or BM25
 * weighting of the track x user matrix, divided by the mean f over the training pairs so
 * that one constant serves data of any scale. Internal to src/models/; confidence.c has
 * the code.
 */
#ifndef TT_MODELS_CONFIDENCE_PRIV_H
#define TT_MODELS_CONFIDENCE_PRIV_H

#include "tt/als.h"
#include "tt/csr.h"

/* The transform f and its constants. */
typedef struct tt__conf_scaling {
    enum tt_als_scaling scaling;
    float bm25_k1, bm25_b; /* BM25 saturation and length normalisation */
    float log_eps;         /* the eps of log(1 + r/eps) */
} tt__conf_scaling;

/*
 * @mult * f(r) / mean f for every stored pair of @conf (users x tracks), into a new array
 * parallel to conf->data (caller frees; the structure is shared, not copied: at 20M pairs a
 * copy costs 160 MB). @norm (conf->cols floats, caller-allocated) gets each track's BM25
 * length normalisation (1 for the other transforms), which fold-in needs later; *scale gets
 * the multiplier @mult / mean f that was applied.
 */
float *tt__conf_scale_all(const tt__conf_scaling *s, const tt_csr *conf, float mult,
                          float *norm, float *scale);

/*
 * The same value for one pair, as training computed it: raw preference @r of track @t
 * (length norm @norm_t) by a user with @n_pos positive tracks, in a catalog of @n_tracks,
 * times @scale (from tt__conf_scale_all). Never negative.
 */
float tt__conf_scale_one(const tt__conf_scaling *s, float r, float norm_t, int32_t n_pos,
                         int32_t n_tracks, float scale);

#endif
