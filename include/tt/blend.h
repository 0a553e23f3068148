/*
 * tt/blend.h - the free tier's blend of ALS and EASE.
 *
 * ALS (a low-rank model of the whole listening matrix) and EASE (an item-item model of
 * co-listening) make different errors; each listener's candidates (the union of both
 * parts' top lists) are scored by both, the two scores turned into z-scores over the
 * candidates and summed with one weight learned on a validation split cut from the training
 * data, plus a learned multiple of each track's popularity (the z-score of the log of its
 * listener count): both parts lean towards the catalog's most played tracks, which every
 * listener has heard of, and a listener's held-out tracks are no more popular than the rest
 * of their list. The blend's file holds the weights, the popularity of each track and the
 * validation figures: its parts are the ALS and EASE model files of the same tier, loaded
 * beside it and attached
 * (tt_blend_attach) before it can recommend. Fresh feedback folds in as in each part: ALS
 * solves the listener's vector from the history, EASE sums the rows of B of it.
 */
#ifndef TT_BLEND_H
#define TT_BLEND_H

#include "tt/model.h"
#include "tt/modelfile.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_blend_params {
    double validation;  /* share of each validation user's positives held out, (0, 1) */
    int min_positives;  /* users with fewer positives are not validated on, >= 2 */
    int max_users;      /* validation users at most (a seeded sample beyond), >= 1 */
    int candidates;     /* top tracks taken from each part per listener, >= 1 */
    int k;              /* the NDCG cut-off the weight maximises, >= 1 */
    double step;        /* grid step of the ALS weight in [0, 1], in [0.01, 0.5] */
    bool popularity;    /* learn the popularity weight too (false: it stays 0) */
    /*
     * Validation splits pooled (each its own seed and models), 1..8; past 8,000 tracks in
     * EASE only the first is used, as each more costs a whole EASE solve (O(n^3)).
     */
    int folds;
    uint64_t seed;
} tt_blend_params;

tt_blend_params tt_blend_params_default(void);

/* What the validation split said: the weights chosen and each candidate's NDCG@k. */
typedef struct tt_blend_fit {
    float w_als;        /* ALS's weight; EASE's is 1 - w_als */
    float w_pop;        /* the popularity z-score's weight, in [TT_BLEND_POP_MIN, MAX] */
    double ndcg;        /* the blend's mean NDCG@k on the validation split */
    double recall;      /* its recall@k */
    double als_ndcg;    /* ALS alone on the same users and candidates (w_als = 1, w_pop = 0) */
    double ease_ndcg;   /* EASE alone (w_als = 0, w_pop = 0) */
    double ndcg_no_pop; /* the best blend of the two parts without popularity (w_pop = 0) */
    double cv_ndcg;     /* cross-fitted: each third of the users at the weight learned on the
                           other two thirds; free of the optimism of choosing the weight on
                           the users it is judged on (NAN: not computed, an older file) */
    double cv_ndcg_no_pop; /* the same with the popularity weight held at 0: the term is kept
                              only when cv_ndcg beats it (NAN: an older file) */
    int folds;          /* validation splits pooled (fewer than asked for a large catalog) */
    int32_t users;      /* validation users, summed over the folds */
    int64_t pairs;      /* held-out pairs */
    int k;
} tt_blend_fit;

/* The popularity weight's grid: from MIN to MAX by STEP (0 included). */
#define TT_BLEND_POP_MIN (-2.0)
#define TT_BLEND_POP_MAX 0.5
#define TT_BLEND_POP_STEP 0.1

/*
 * Searches the weights on the validation users' candidates and writes the best mean
 * NDCG@@k into @fit: first the ALS weight over the grid of @step with no popularity (ties:
 * the weight nearer 0.5, then the smaller), then, when @pop, coordinate ascent between the
 * popularity weight over its grid (ties: the weight nearer 0) and the ALS weight, until
 * neither moves. Also the cross-fitted NDCG (fit->cv_ndcg: users i mod 3 == g scored at the
 * weights the same search chooses on the others, for each g, pooled); when @pop, the same
 * without the popularity term (fit->cv_ndcg_no_pop), and unless the search with the term
 * beats it there, the term is dropped: w_pop 0, and the ALS weight, figures and cv_ndcg are
 * those the search found without it. @z holds, per user,
 * n_cand pairs (z_als, z_ease); @pop each candidate's popularity z-score (NULL: none);
 * @rel marks held-out candidates; @n_rel counts each user's held-out pairs. Exposed for the
 * tests.
 */
typedef struct tt_blend_vuser {
    int32_t n_cand;
    float *z;       /* n_cand x 2 */
    float *pop;     /* n_cand, or NULL (popularity 0) */
    uint8_t *rel;   /* n_cand: 1 a held-out pair */
    int32_t n_rel;
} tt_blend_vuser;
void tt_blend_search(const tt_blend_vuser *users, int32_t n, int k, double step, bool pop,
                     tt_blend_fit *fit);

struct tt_model_opts;
struct tt_train_set;

/*
 * Learns the weight: p->folds times, holds out p->validation of the positives of up to
 * p->max_users users of @ts (seeded by p->seed and the fold) and trains ALS and EASE with
 * @o's options on the rest; then searches the weight over every fold's users pooled
 * (tt_blend_search): one split of a few thousand listeners is noisy enough to pick a weight
 * by chance. *@out has the weight but no parts: attach the parts trained
 * on all of @ts. Errors: TT_EINVAL (bad parameters), TT_ESTATE (no user to validate on, or
 * EASE cannot be trained on this catalog), the parts'.
 */
int tt_blend_learn(const struct tt_train_set *ts, const tt_blend_params *p,
                   const struct tt_model_opts *o, tt_model **out, tt_err *err);

/*
 * Gives the blend @m its ALS and EASE parts (trained on the blend's catalog; owned by @m
 * when @take, else borrowed and they must outlive it). On failure nothing is taken.
 * Errors: TT_EINVAL (not a blend, a part missing or of another kind or catalog).
 */
int tt_blend_attach(tt_model *m, tt_model *als, tt_model *ease, bool take, tt_err *err);

/* The weight and validation figures of blend @m into @fit; false when @m is not a blend. */
bool tt_blend_fit_of(const tt_model *m, tt_blend_fit *fit);

/* Loader used by tt_model_load for kind "blend" (parts not attached). */
int tt__blend_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
