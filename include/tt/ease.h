/*
 * ease.h - EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019):
 * a closed-form item-item model. With X the users x tracks matrix of confidences,
 *   G = X'X + lambda I,  P = G^-1,  B = I - P diag(1 / diag(P)),
 * so B_ij = -P_ij / P_jj off the diagonal and diag(B) = 0; a user's scores are x_u B.
 * One constant, lambda, and no iterations: the cost is the n x n inverse, n the tracks kept.
 *
 * Tracks with fewer than min_listeners training listeners are left out of the item-item
 * matrix (they are neither scored nor recommended, and a play of one does not count toward
 * a user's scores); B takes n^2 floats, so a catalog with more than max_tracks kept tracks
 * is refused.
 */
#ifndef TT_EASE_H
#define TT_EASE_H

#include "tt/als.h"
#include "tt/model.h"
#include "tt/modelfile.h"

typedef struct tt_ease_params {
    /*
     * The L2 weight on B (the lambda added to the Gram matrix's diagonal). Confidences are
     * divided by their mean, so lambda reads in units of "listeners of a track": default
     * 100, docs/models.md has the measurements behind it.
     */
    float lambda;
    /*
     * Emphasised denoising (Steck, "Autoencoders that don't overfit towards the Identity",
     * NeurIPS 2020): the diagonal regularization of a dropout share p, lambda + p/(1-p) G_ii,
     * so a track heard by many is held back from explaining itself through its own
     * co-listeners more than a rare one. 0 = plain EASE; default 0.5.
     */
    float emphasis;
    /*
     * Each listener's row scaled to the same length in the Gram matrix (the rows keep their
     * values for scoring): co-listening is counted per listener, so a handful of listeners
     * with huge histories do not decide which tracks go together. Default on.
     */
    bool user_norm;
    enum tt_als_scaling scaling; /* confidence transform, as ALS's (default log) */
    float bm25_k1, bm25_b;       /* BM25 saturation and length normalisation */
    float log_eps;               /* the eps of log(1 + r/eps) */
    /* Most tracks B may have: n^2 floats, 30000 -> 3.6 GB (default 30000). */
    int max_tracks;
    int min_listeners; /* tracks with fewer training listeners are left out (default 2) */
    /* Each training user's best @precompute unheard tracks kept in the model (0 = off). */
    int precompute;
    int threads; /* 0 = one per core */
    uint64_t seed; /* unused: EASE is deterministic; kept for the common options */
} tt_ease_params;

tt_ease_params tt_ease_params_default(void);

typedef struct tt_ease_model tt_ease_model;

/*
 * Trains on @ts. The returned model is a tt_model (kind "ease"); free with tt_model_free.
 * Errors: TT_EINVAL (a parameter out of range, named in err->field); TT_ESTATE when no track
 * has min_listeners listeners, or when more than max_tracks tracks do (B would not fit:
 * the message says how many and how much memory it would take).
 */
int tt_ease_train(const tt_train_set *ts, const tt_ease_params *p, tt_model **out, tt_err *err);

/* Tracks in B (the kept tracks); 0 when @m is not an EASE model. */
int32_t tt_ease_tracks(const tt_model *m);

/* Where training time went, for the training log. */
typedef struct tt_ease_stats {
    double gram_seconds;    /* X'X over the listeners' rows */
    double inverse_seconds; /* its inverse (Cholesky), the n^3 of the fit */
    double rank_seconds;    /* the lists ranked ahead of time */
    int32_t ranked_users;   /* how many lists */
} tt_ease_stats;

/* The stats of EASE model @m as trained (zeros for one loaded from a file); TT_EINVAL else. */
int tt_ease_stats_of(const tt_model *m, tt_ease_stats *out);

/*
 * EASE's scores of the @n tracks @tracks for @q (its history when n_hist > 0, else the
 * user's training row) into @out (caller-allocated, n floats). A track outside B scores 0,
 * as it would in a ranking of all tracks. Exclusions and the allow mask of @q are ignored.
 * @moments, when non-NULL, gets the mean and standard deviation of the listener's scores
 * over every track of B (which no exclusion changes). Errors: TT_EINVAL (@m not EASE),
 * TT_ENOTFOUND (an unknown user without history). Thread-safe.
 */
int tt_ease_score_tracks(const tt_model *m, const tt_query *q, const int32_t *tracks, int32_t n,
                         float *out, double moments[2], tt_err *err);

/* Loader used by tt_model_load for kind "ease". */
int tt__ease_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
