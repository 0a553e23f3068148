/*
 * recommend.h - one user's recommendations as the product defines them: the tier's main
 * model for users with history, a genre/popularity fallback for the rest, never a track
 * the user already heard (unless asked) nor one they disliked. Shared by the CLI and the
 * HTTP service.
 */
#ifndef TT_RECOMMEND_H
#define TT_RECOMMEND_H

#include <stdbool.h>

#include "tt/catalog.h"
#include "tt/model.h"

typedef struct tt_rec_ctx {
    const tt_catalog *cat;
    const tt_model *model;    /* the main model (ALS for the free tier) */
    const tt_model *fallback; /* genre or popularity; may be NULL */
    int32_t min_history;      /* positives a user needs for the main model (>= 1) */
    /*
     * Multiplier of the preference of fresh positive events (feedback newer than the
     * snapshot) when folding a user in: what a listener does now says more about what
     * they want next than the average of their history. <= 0 means 1.
     */
    float fresh_weight;
} tt_rec_ctx;

typedef struct tt_rec_request {
    const char *user_id;
    int k;
    bool include_heard;
    /* Interactions newer than the catalog (feedback): positives fold in, every track is
     * excluded like heard ones, dislikes always. Dense catalog ids. */
    const int32_t *fresh;
    const float *fresh_r; /* raw preference; <= 0: heard but not positive; NAN: disliked */
    int32_t n_fresh;
    /* Tracks the caller excludes (dense, any order). */
    const int32_t *exclude;
    int32_t n_exclude;
    /* Genre preferences for users without history (dense genre ids). */
    const int32_t *genres;
    int32_t n_genres;
    /* Only tracks whose byte is non-zero (n_tracks bytes); NULL = any track. */
    const uint8_t *allow;
} tt_rec_request;

typedef struct tt_rec_result {
    const tt_model *model; /* the model that answered */
    bool fallback;         /* true when the main model could not serve this user */
    int n;                 /* items in the output */
} tt_rec_result;

/* Fills @out (k entries) with the user's top tracks. Thread-safe. */
int tt_recommend_user(const tt_rec_ctx *ctx, const tt_rec_request *req, tt_scored *out,
                      tt_rec_result *res, tt_err *err);

#endif
