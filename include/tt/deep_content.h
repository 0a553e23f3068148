/*
 * deep_content.h - the pro tier's deep content model (van den Oord, Dieleman and Schrauwen,
 * NeurIPS 2013, "Deep content-based music recommendation"): a small MLP learns to map a
 * track's content (the content model's vector: audio features, genres, embedding) to its
 * ALS track factors, on the tracks with enough listeners. It then predicts factors for every
 * track, so a track nobody has played yet gets a place in ALS's space and reaches listeners
 * through ALS's own scoring, x_u . y^_t.
 *
 * Every track is scored with its predicted factors (not ALS's own for played tracks), so
 * played and new tracks are ranked on one scale. The model file holds the network and the
 * predicted factors; the listener side (x_u, fold-in of fresh history) is the ALS model it
 * was trained against, attached at load (tt_deep_content_attach), which must be that very
 * ALS model: the file records a fingerprint of its track factors.
 */
#ifndef TT_DEEP_CONTENT_H
#define TT_DEEP_CONTENT_H

#include "tt/model.h"
#include "tt/modelfile.h"

typedef struct tt_deep_content_params {
    int hidden;        /* units of the first hidden layer; the second has half (default 256) */
    int epochs;        /* passes over the training tracks (default 40) */
    int batch;         /* tracks per step (default 128) */
    float lr;          /* Adam step size (default 0.001) */
    float l2;          /* L2 weight decay (default 1e-5) */
    int min_listeners; /* tracks with fewer listeners are not learned from (default 3) */
    uint64_t seed;
    int threads;
} tt_deep_content_params;

tt_deep_content_params tt_deep_content_params_default(void);

/*
 * Trains on @ts with the ALS model @als and content model @content trained on the same
 * data (both borrowed; @als is attached to the result, so it must outlive it unless
 * @take_als, when the result frees it). Errors: TT_EINVAL (parameters, models of another
 * kind or catalog), TT_ESTATE (fewer than 20 tracks with enough listeners and content).
 */
int tt_deep_content_train(const tt_train_set *ts, const tt_deep_content_params *p,
                          tt_model *als, bool take_als, const tt_model *content, tt_model **out,
                          tt_err *err);

/*
 * Gives a loaded deep content model its ALS model (borrowed, must outlive @m). Errors:
 * TT_EINVAL when @m is not a deep content model, @als is not ALS, or its track factors are
 * not the ones @m was trained against (retrain both together).
 */
int tt_deep_content_attach(tt_model *m, const tt_model *als, tt_err *err);

/* The predicted factors (n_tracks x *k, borrowed), or NULL when @m is not one. */
const float *tt_deep_content_factors(const tt_model *m, int *k);

/*
 * Scores x_u . y^_t of each of the @n @tracks for the listener of @q (folded in from
 * q->hist when n_hist > 0) into @out. Errors: TT_ESTATE (no ALS attached), TT_ENOTFOUND
 * (the listener has no vector: unknown and no history).
 */
int tt_deep_content_score(const tt_model *m, const tt_query *q, const int32_t *tracks, int32_t n,
                          float *out, tt_err *err);

/* Validation figure of training: the mean cosine of predicted and ALS factors on held-out
 * training tracks (10 %), and how many tracks the network learned from. */
bool tt_deep_content_fit_of(const tt_model *m, double *cosine, int32_t *tracks);

/* Loader used by tt_model_load for kind "deep_content" (ALS not attached). */
int tt__deep_content_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
